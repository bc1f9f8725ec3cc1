import Testing
import XRayCore
@testable import Training

@Suite struct WeightAverageTests {
    static func t(_ x: Float) -> Tensor { Tensor(shape: [1], scalars: [x]) }

    /// By hand: the first update copies; then decay min(0.5, (1+n)/(10+n)) = 2/11, 3/12, 4/13, …, 0.5 from n = 8.
    @Test func warmsUpThenAveragesWithTheDecay() {
        var a = WeightAverage(decay: 0.5)
        a.update(with: ["w": Self.t(10), "bn.num_batches_tracked": Self.t(1)])
        #expect(a.tensors["w"] == Self.t(10))
        #expect(a.currentDecay == Float(2.0 / 11.0))
        a.update(with: ["w": Self.t(21), "bn.num_batches_tracked": Self.t(2)])
        let d1 = Float(2.0 / 11.0)
        #expect(a.tensors["w"] == Self.t(d1 * 10 + (1 - d1) * 21))
        #expect(a.tensors["bn.num_batches_tracked"] == Self.t(2), "the counter is carried, not averaged")
        let before = a.tensors["w"]!.scalars[0]
        let d2 = Float(3.0 / 12.0)
        a.update(with: ["w": Self.t(0), "bn.num_batches_tracked": Self.t(3)])
        #expect(a.tensors["w"] == Self.t(d2 * before))
        #expect(a.updates == 3)
        #expect(a.currentDecay == Float(4.0 / 13.0))
        for _ in 0..<5 { a.update(with: ["w": Self.t(0), "bn.num_batches_tracked": Self.t(4)]) }
        #expect(a.currentDecay == 0.5 as Float, "the warm-up ends where (1+n)/(10+n) reaches the decay: n = 8")
    }

    @Test func aConstantWeightStaysPut() {
        var a = WeightAverage(decay: 0.999)
        for _ in 0..<50 { a.update(with: ["w": Tensor(shape: [2, 2], scalars: [1, -2, 0.5, 3])]) }
        #expect(a.tensors["w"] == Tensor(shape: [2, 2], scalars: [1, -2, 0.5, 3]))
    }
}
