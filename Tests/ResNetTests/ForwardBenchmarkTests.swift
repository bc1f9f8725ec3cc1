import Foundation
import Testing
import Kernels
@testable import ResNet

@Suite struct ForwardBenchmarkTests {
    /// The handoff probe passes a counter between the caller and a pool worker and returns a time
    /// per handoff; a cache-line handoff takes tens to hundreds of nanoseconds, never milliseconds.
    /// (On one CPU the two threads take turns through the scheduler, so the test does not run there.)
    @Test(.enabled(if: ProcessInfo.processInfo.activeProcessorCount >= 2, "needs 2 CPUs"))
    func crossCoreHandoffTimesTheTwoThreads() {
        // Other suites use the pool too: a probe that finds it in use gives nil and is retried.
        let times = (0..<500).lazy.compactMap { _ -> Double? in
            if let t = ForwardBenchmark.crossCoreHandoff() { return t }
            usleep(1000)
            return nil
        }.prefix(3).map { $0 }
        #expect(!times.isEmpty, "the pool worker never joined the probe")
        for t in times { #expect(t > 1 && t < 100_000, "handoff of \(t) ns") }
    }

    /// The short probe a batch-1 pass takes before it runs (64 handoffs) gives a time in the same
    /// range. (While other suites hold the pool, the probe gives nil at once; it is retried.)
    @Test(.enabled(if: ProcessInfo.processInfo.activeProcessorCount >= 2, "needs 2 CPUs"))
    func shortProbeTimesTheTwoThreads() {
        let probe = (0..<500).lazy.compactMap { _ -> Double? in
            if let t = CrossCoreCost.refresh() { return t }
            usleep(1000)
            return nil
        }.first
        guard let t = probe else {
            Issue.record("the pool worker never joined the probe")
            return
        }
        #expect(t > 1 && t < 100_000, "handoff of \(t) ns")
        #expect(CrossCoreCost.farThreshold > 35 && CrossCoreCost.farThreshold < 150)
    }

    @Test func medianOfOddAndEvenCounts() {
        #expect(ForwardBenchmark.median([3, 1, 2]) == 2)
        #expect(ForwardBenchmark.median([4, 1, 3, 2]) == 2.5)
    }
}
