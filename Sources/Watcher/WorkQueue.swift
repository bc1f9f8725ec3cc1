import Foundation

/// A bounded first-in first-out queue between the watching thread and the workers.
///
/// `offer` never blocks (a full queue leaves the file in the inbox, to be offered again);
/// `take` waits for work; `close` wakes every waiting worker and drops what was not taken.
final class WorkQueue<Element: Sendable>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Element] = []
    private var closed = false
    private var dropped: [Element] = []
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

    var isClosed: Bool {
        condition.lock()
        defer { condition.unlock() }
        return closed
    }

    /// Stops the queue: workers finish the item in hand and get nil; queued items are dropped (they stay in the inbox).
    /// Returns the items dropped when it was closed, on every call: whoever closes it first, the one
    /// that keeps count of the items learns which were dropped.
    @discardableResult
    func close() -> [Element] {
        condition.lock()
        defer { condition.unlock() }
        if !closed {
            closed = true
            dropped = items
            items.removeAll()
            condition.broadcast()
        }
        return dropped
    }
}

/// Drop-to-report times in 0.1 s bins up to 10 minutes (longer ones in the last bin): the median over
/// any number of files in constant memory.
struct LatencyHistogram {
    static let binWidth = 0.1
    private var bins = [Int](repeating: 0, count: 6001)
    private(set) var count = 0

    mutating func add(_ seconds: Double) {
        bins[min(bins.count - 1, max(0, Int(seconds / Self.binWidth)))] += 1
        count += 1
    }

    /// The middle of the median's bin, nil when empty.
    var median: Double? {
        guard count > 0 else { return nil }
        var seen = 0
        for (i, n) in bins.enumerated() {
            seen += n
            if seen > count / 2 { return (Double(i) + 0.5) * Self.binWidth }
        }
        return nil
    }
}
