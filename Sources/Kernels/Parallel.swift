import Dispatch

/// One participant's share of a parallel stage: part `index` of `count`.
public struct WorkPart: Sendable, Equatable {
    public let index: Int
    public let count: Int

    public init(index: Int, count: Int) {
        precondition(count >= 1 && index >= 0 && index < count, "part \(index) of \(count)")
        self.index = index
        self.count = count
    }

    public static let whole = WorkPart(index: 0, count: 1)

    /// This part's contiguous slice of `0..<n`, balanced to within one element.
    public func range(of n: Int) -> Range<Int> {
        let base = n / count, extra = n % count
        let lower = index * base + min(index, extra)
        return lower..<(lower + base + (index < extra ? 1 : 0))
    }
}

/// Fork-join helper: runs `body` once per part and returns when all parts are done.
///
/// The kernels' bodies capture raw pointers into weights (read-only) and into workspace memory in
/// which each part writes only its own channels, rows, columns or images. That discipline, not the
/// type system, is what makes them safe to run concurrently, so `body` is not required to be
/// `@Sendable`; `UncheckedBody` below is the one place that vouches for it.
public enum Parallel {
    public static func run(parts: Int, _ body: (WorkPart) -> Void) {
        if parts <= 1 {
            body(.whole)
            return
        }
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedBody(call: body)
            DispatchQueue.concurrentPerform(iterations: parts) { shared.call(WorkPart(index: $0, count: parts)) }
        }
    }

    /// Lets concurrentPerform's `@Sendable` closure call the body; lives only for one `run`.
    private struct UncheckedBody: @unchecked Sendable {
        let call: (WorkPart) -> Void
    }
}
