import CAM
import Testing

@Suite("Normalisation never yields NaN")
struct NormalisationTests {
    func map(_ values: [Float], width: Int = 3) -> ActivationMap {
        ActivationMap(width: width, height: values.count / width, values: values, className: "covid", classIndex: 2)
    }

    @Test func reluThenDivideByTheMax() {
        let n = ClassActivationMap.normalised(map([-2, 0, 1, 4, 2, -1]))
        #expect(n.values == [0, 0, 0.25, 1, 0.5, 0])
        #expect(!n.isEmpty && n.className == "covid" && n.classIndex == 2)
    }

    @Test(arguments: [
        [Float](repeating: -1, count: 6),     // all negative
        [-3, -1, 0, 0, -2, -5],               // nothing positive
        [Float](repeating: 0, count: 6),      // zero
        [Float](repeating: 0.7, count: 6),    // flat, positive: no region stands out
        [1e-30, 1e-30, 1e-30, 1e-30, 1e-30, 1e-30],
        [1, 2, .nan, 3, 4, 5],                // corrupt input
        [1, 2, .infinity, 3, 4, 5],
    ])
    func emptyMapsGiveZerosAndTheFlag(values: [Float]) {
        let n = ClassActivationMap.normalised(map(values))
        #expect(n.isEmpty)
        #expect(n.values == [Float](repeating: 0, count: 6))
        #expect(n.width == 3 && n.height == 2)
    }

    @Test func tinyButRealContrastIsKept() {
        let n = ClassActivationMap.normalised(map([1e-30, 2e-30, 0, -1e-30, 4e-30, 0]))
        #expect(!n.isEmpty)
        #expect(n.values == [0.25, 0.5, 0, 0, 1, 0])
        #expect(n.values.allSatisfy { $0.isFinite })
    }

    @Test func emptyStaysEmptyWhenUpsampled() {
        let up = ClassActivationMap.heatmap(map([-1, -1, -1, -1, -1, -1]), width: 10, height: 7)
        #expect(up.isEmpty && up.values.allSatisfy { $0 == 0 } && up.values.count == 70)
    }
}
