import Dispatch
internal import CKernels
import Synchronization

/// One participant's share of a parallel stage: part `index` of `count`, run on thread `thread`.
package struct WorkPart: Sendable, Equatable {
    package let index: Int
    package let count: Int
    /// Which of the stage's threads runs this part (0 ..< threads). A thread runs one part at a time,
    /// so per-thread scratch memory may be indexed by it.
    package let thread: Int

    package init(index: Int, count: Int, thread: Int = 0) {
        precondition(count >= 1 && index >= 0 && index < count && thread >= 0, "part \(index) of \(count) on thread \(thread)")
        self.index = index
        self.count = count
        self.thread = thread
    }

    package static let whole = WorkPart(index: 0, count: 1)

    /// This part's contiguous slice of `0..<n`, balanced to within one element.
    package func range(of n: Int) -> Range<Int> {
        let base = n / count, extra = n % count
        let lower = index * base + min(index, extra)
        return lower..<(lower + base + (index < extra ? 1 : 0))
    }
}

/// Fork-join helper: runs `body` once per part on up to `threads` threads and returns when all
/// parts are done.
///
/// Parts run on CKernels' spin-then-park pool (cxr_pool.h): the calling thread and `threads` − 1
/// workers claim parts from one counter, and a worker that has just finished polls for the next
/// step of the pass instead of going to sleep, so the ~50 steps of a batch-1 forward pass do not
/// each pay a thread wake-up. Because parts are claimed as threads become free, cutting a step
/// into a few parts per thread lets a thread that is late or slowed down (by another process or
/// the hypervisor) leave more of the parts to the others. When the pool is in use (another
/// thread's job, or a nested call from inside a part) the parts run on Dispatch's
/// `concurrentPerform` instead, claimed the same way.
///
/// The kernels' bodies capture raw pointers into weights (read-only) and into workspace memory in
/// which each part writes only its own channels, rows, columns or images. That discipline, not the
/// type system, is what makes them safe to run concurrently, so `body` is not required to be
/// `@Sendable`; `UncheckedBody` below is the one place that vouches for it.
package enum Parallel {
    /// - Parameters:
    ///   - parts: how many pieces the work is cut into (none runs when it is 0).
    ///   - threads: the most threads that run them (default: one per part).
    package static func run(parts: Int, threads: Int? = nil, _ body: (WorkPart) -> Void) {
        let threads = max(1, min(parts, threads ?? parts))
        if parts <= 0 { return }
        if threads == 1 {
            for i in 0..<parts { body(WorkPart(index: i, count: parts)) }
            return
        }
        if runOnPool(parts: parts, threads: threads, body) { return }
        withoutActuallyEscaping(body) { body in
            let shared = UncheckedBody(call: body)
            let next = Atomic<Int>(0)
            DispatchQueue.concurrentPerform(iterations: threads) { thread in
                while true {
                    let i = next.add(1, ordering: .relaxed).oldValue
                    if i >= parts { break }
                    shared.call(WorkPart(index: i, count: parts, thread: thread))
                }
            }
        }
    }

    /// Parts to cut `units` independent pieces of work into for `threads` threads: a few per thread
    /// (so that a slowed thread leaves work to the others), never more than there are units.
    package static func parts(units: Int, threads: Int) -> Int {
        threads <= 1 ? 1 : max(1, min(units, threads * partsPerThread))
    }

    static let partsPerThread = 4

    /// Runs the parts on the pool and returns true, or runs nothing and returns false when the pool
    /// is in use or the counts exceed its limits.
    static func runOnPool(parts: Int, threads: Int? = nil, _ body: (WorkPart) -> Void) -> Bool {
        let threads = threads ?? parts
        guard parts >= 1 && parts <= Int(CXR_POOL_MAX_PARTS) && threads >= 1 && threads <= Int(CXR_POOL_MAX_THREADS) else {
            return false
        }
        return withoutActuallyEscaping(body) { body in
            let shared = UncheckedBody(call: body)
            let status = withUnsafePointer(to: shared) { pointer in
                cxr_pool_run(Int64(parts), Int64(threads), { context, part, count, thread in
                    context!.assumingMemoryBound(to: UncheckedBody.self).pointee
                        .call(WorkPart(index: Int(part), count: Int(count), thread: Int(thread)))
                }, UnsafeMutableRawPointer(mutating: pointer))
            }
            return status != Int32(CXR_POOL_BUSY)
        }
    }

    /// How long an idle pool worker keeps polling for the next job before it parks (default 1 ms;
    /// 0 parks at once).
    package static func setSpin(microseconds: Int) {
        cxr_pool_set_spin(Int64(microseconds))
    }

    /// Worker threads the pool has created so far.
    static var poolWorkers: Int { Int(cxr_pool_workers()) }

    /// Lets the pool's and concurrentPerform's callbacks call the body; lives only for one `run`.
    private struct UncheckedBody: @unchecked Sendable {
        let call: (WorkPart) -> Void
    }
}
