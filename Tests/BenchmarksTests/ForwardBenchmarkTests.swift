import Foundation
import Testing
import Kernels
@testable import Benchmarks

@Suite struct ForwardBenchmarkTests {
    /// Up to `count` results of `probe`, which gives nil while other suites hold the pool: retried
    /// every millisecond, for half a second at most.
    static func probes(_ count: Int, _ probe: () -> Double?) -> [Double] {
        var times: [Double] = []
        for _ in 0..<500 where times.count < count {
            if let t = probe() { times.append(t) } else { usleep(1000) }
        }
        return times
    }

    /// The handoff probes pass a counter between the caller and a pool worker and return a time per
    /// handoff; a cache-line handoff takes tens to hundreds of nanoseconds, never milliseconds: the
    /// benchmark's (2,000 handoffs) and the short one a batch-1 pass takes before it runs (64).
    /// (On one CPU the two threads take turns through the scheduler, so the test does not run there.)
    @Test(.enabled(if: ProcessInfo.processInfo.activeProcessorCount >= 2, "needs 2 CPUs"))
    func crossCoreHandoffTimesTheTwoThreads() {
        for (name, times) in [("benchmark", Self.probes(3) { ForwardBenchmark.crossCoreHandoff() }),
                              ("per-pass", Self.probes(3) { CrossCoreCost.handoffTime(handoffs: 64, timeout: 2_000_000) })] {
            #expect(!times.isEmpty, "\(name) probe: the pool worker never joined")
            for t in times { #expect(t > 1 && t < 100_000, "\(name) probe: handoff of \(t) ns") }
        }
        #expect(CrossCoreCost.farThreshold > 35 && CrossCoreCost.farThreshold < 150)
    }

    @Test func medianOfOddAndEvenCounts() {
        #expect(Statistics.median([3, 1, 2]) == 2)
        #expect(Statistics.median([4, 1, 3, 2]) == 2.5)
    }
}
