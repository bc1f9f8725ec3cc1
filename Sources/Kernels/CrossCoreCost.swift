import Dispatch
import Synchronization

/// Whether the two threads of a split forward pass flush the cache lines they share, chosen where
/// the model is built and passed to its `ForwardExecutor`.
///
/// A virtual machine's host may run its two CPUs sometimes in one core complex and sometimes in
/// two, switching every few seconds to minutes. In the second placement, handing a cache line from
/// one CPU to the other takes several times as long, and so does writing a line the other CPU has
/// read (cxr_cache.h); a batch-1 pass, whose two threads exchange data at every layer, is then
/// markedly slower. Flushing the lines a thread has finished reading wins back part of that in the
/// far placement but costs about as much in the near one (docs/PERFORMANCE.md). Whether that pays
/// was measured on one machine only, hence a policy rather than a fixed choice. Flushes move data
/// out of the caches and never change it: every policy gives the same numbers.
public enum CrossCorePolicy: Sendable, Hashable {
    /// Never flush.
    case never
    /// Flush in every split pass.
    case always
    /// Time the handoff between the two threads before each split pass (`CrossCoreCost`) and flush
    /// when it is above `CrossCoreCost.farThreshold`. The default.
    case measured
}

/// The cost of handing data between the two threads of a split pass, measured.
package enum CrossCoreCost {
    /// Mean one-way handoff time above which the CPUs count as far apart, in nanoseconds: between
    /// the times measured in the two placements (docs/PERFORMANCE.md).
    package static let farThreshold = 90.0

    /// Mean one-way time, in nanoseconds, for a value written by the caller or a pool worker to be
    /// seen by the other, over `handoffs` handoffs of one counter after a few untimed ones. Nil
    /// when the pool is in use (by another thread's job) or its worker did not join within
    /// `timeout` nanoseconds: there is then no second thread to time.
    package static func handoffTime(handoffs: Int, timeout: UInt64 = 50_000_000) -> Double? {
        precondition(handoffs >= 2)
        let counter = Atomic<Int>(0), gaveUp = Atomic<Bool>(false), elapsed = Atomic<Int>(0)
        let warm = 16, total = warm + handoffs
        let ran = Parallel.runOnPool(parts: 2, threads: 2) { part in
            let me = part.index
            let deadline = DispatchTime.now().uptimeNanoseconds + timeout
            var value = 0, start: UInt64 = 0, spins = 0
            while value < total && !gaveUp.load(ordering: .relaxed) {
                value = counter.load(ordering: .acquiring)
                if value % 2 == me {
                    if value == warm && me == 0 { start = DispatchTime.now().uptimeNanoseconds }
                    counter.store(value + 1, ordering: .releasing)
                    value += 1
                } else {
                    spins += 1
                    if spins & 1023 == 0 && DispatchTime.now().uptimeNanoseconds > deadline { gaveUp.store(true, ordering: .relaxed) }
                }
            }
            if me == 0 && !gaveUp.load(ordering: .relaxed) {
                elapsed.store(Int(DispatchTime.now().uptimeNanoseconds - start), ordering: .relaxed)
            }
        }
        if !ran || gaveUp.load(ordering: .relaxed) { return nil }
        return Double(elapsed.load(ordering: .relaxed)) / Double(handoffs)
    }
}
