import Foundation

/// A bounded first-in first-out queue between the watching thread and the workers.
///
/// `offer` never blocks (a full queue leaves the file in the inbox, to be offered again);
/// `take` waits for work; `close` wakes every waiting worker and drops what was not taken.
final class WorkQueue<Element: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Element] = []
    private var closed = false
    let capacity: Int

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Adds `item` unless the queue is full or closed.
    func offer(_ item: Element) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed, items.count < capacity else { return false }
        items.append(item)
        condition.signal()
        return true
    }

    /// The next item, waiting for one; nil once the queue is closed.
    func take() -> Element? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty, !closed { condition.wait() }
        guard !closed else { return nil }
        return items.removeFirst()
    }

    var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return items.count
    }

    /// Stops the queue: workers finish the item in hand and get nil; queued items are dropped (they stay in the inbox).
    func close() {
        condition.lock()
        closed = true
        items.removeAll()
        condition.broadcast()
        condition.unlock()
    }
}
