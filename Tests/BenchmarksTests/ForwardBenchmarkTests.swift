import Foundation
import Testing
import Kernels
@testable import Benchmarks

@Suite struct ForwardBenchmarkTests {
    @Test func medianOfOddAndEvenCounts() {
        #expect(Statistics.median([3, 1, 2]) == 2)
        #expect(Statistics.median([4, 1, 3, 2]) == 2.5)
    }
}
