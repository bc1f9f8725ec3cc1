import Dispatch
internal import CKernels

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
/// Parts run on CKernels' spin-then-park pool (cxr_pool.h): the calling thread and `parts` − 1
/// workers claim parts from one counter, and a worker that has just finished polls for the next
/// step of the pass instead of going to sleep, so the ~50 steps of a batch-1 forward pass do not
/// each pay a thread wake-up. When the pool is in use (another thread's job, or a nested call from
/// inside a part) the parts run on Dispatch's `concurrentPerform` instead.
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
        if runOnPool(parts: parts, body) { return }
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedBody(call: body)
            DispatchQueue.concurrentPerform(iterations: parts) { shared.call(WorkPart(index: $0, count: parts)) }
        }
    }

    /// Runs the parts on the pool and returns true, or runs nothing and returns false when the pool
    /// is in use or `parts` exceeds its limit (64).
    static func runOnPool(parts: Int, _ body: (WorkPart) -> Void) -> Bool {
        guard parts >= 1 && parts <= Int(CXR_POOL_MAX_PARTS) else { return false }
        return withoutActuallyEscaping(body) { body in
            let shared = UncheckedBody(call: body)
            let status = withUnsafePointer(to: shared) { pointer in
                cxr_pool_run(Int64(parts), { context, part, count in
                    context!.assumingMemoryBound(to: UncheckedBody.self).pointee.call(WorkPart(index: Int(part), count: Int(count)))
                }, UnsafeMutableRawPointer(mutating: pointer))
            }
            return status != Int32(CXR_POOL_BUSY)
        }
    }

    /// How long an idle pool worker keeps polling for the next job before it parks (default 1 ms;
    /// 0 parks at once).
    public static func setSpin(microseconds: Int) {
        cxr_pool_set_spin(Int64(microseconds))
    }

    /// Worker threads the pool has created so far.
    static var poolWorkers: Int { Int(cxr_pool_workers()) }

    /// Lets the pool's and concurrentPerform's callbacks call the body; lives only for one `run`.
    private struct UncheckedBody: @unchecked Sendable {
        let call: (WorkPart) -> Void
    }
}
