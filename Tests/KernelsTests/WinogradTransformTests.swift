import Testing
import TestSupport
import XRayCore
@testable import Kernels

/// CKernels' AVX-512 F(4×4) transforms against the Swift ones: same arithmetic, so the same
/// results to rounding, on maps whose sides are not multiples of the tile or of 16 tiles.
@Suite struct WinogradTransformTests {
    @Test(arguments: [(1, 4, 4), (3, 5, 7), (2, 13, 9), (4, 9, 70), (2, 67, 3), (3, 28, 28)])
    func avx512TransformsMatchSwift(channels c: Int, height h: Int, width w: Int) throws {
        try #require(Winograd.Transforms.avx512.isSupported, "no AVX-512F on this CPU")
        let g = 2
        let weight = hashUniform("wt.weight.\(c)", [5, c, 3, 3], -0.3, 0.3), bias = hashUniform("wt.bias", [5], -0.2, 0.2)
        let x = hashUniform("wt.input.\(h).\(w)", [g, c, h, w], -1, 1), residual = hashUniform("wt.res.\(h).\(w)", [g, 5, h, w], -1, 1)
        func run(_ transforms: Winograd.Transforms, relu: Bool, withResidual: Bool) -> [Float] {
            let conv = Conv2D(weight: weight, bias: bias, batchNorm: nil, stride: 1, padding: 1, algorithm: .winograd4x4,
                              transforms: transforms)
            let scratch = conv.scratchCount(height: h, width: w, images: g, parts: 2)
            let space = Workspace(capacity: g * (c + 10) * h * w + scratch)
            let input = space.featureMap(at: 0, channels: c, images: g, height: h, width: w)
            let res = space.featureMap(at: g * c * h * w, channels: 5, images: g, height: h, width: w)
            let out = space.featureMap(at: g * (c + 5) * h * w, channels: 5, images: g, height: h, width: w)
            for i in 0..<g { input.load(from: x, image: i, into: i); res.load(from: residual, image: i, into: i) }
            conv.forward(input, into: out, residual: withResidual ? res : nil, relu: relu,
                         scratch: space.scratch(at: g * (c + 10) * h * w, count: scratch), parts: 2)
            var got = [Float](repeating: 0, count: g * 5 * h * w)
            for i in 0..<g { out.store(i, into: &got, image: i) }
            return withExtendedLifetime(space) { got }
        }
        for (relu, withResidual) in [(false, false), (true, true), (true, false)] {
            expectClose(run(.avx512, relu: relu, withResidual: withResidual), run(.swift, relu: relu, withResidual: withResidual),
                        atol: 1e-6, "\(c)x\(h)x\(w) relu \(relu) residual \(withResidual)")
        }
    }
}
