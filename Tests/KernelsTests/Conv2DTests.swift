import Testing
import TestSupport
import XRayCore
@testable import Kernels

/// The convolution cases of make_resnet_fixtures.py: input shape, weight shape, stride, padding.
let convCases: [(name: String, input: [Int], weight: [Int], stride: Int, padding: Int)] = [
    ("conv_3x3_s1", [2, 4, 13, 10], [6, 4, 3, 3], 1, 1),
    ("conv_3x3_s2", [2, 4, 13, 10], [6, 4, 3, 3], 2, 1),
    ("conv_7x7_s2", [2, 3, 23, 20], [5, 3, 7, 7], 2, 3),
    ("conv_1x1_s2", [2, 8, 13, 10], [6, 8, 1, 1], 2, 0),
    ("conv_3x3_s1_14", [1, 16, 14, 14], [8, 16, 3, 3], 1, 1),
]

func convInputs(_ c: (name: String, input: [Int], weight: [Int], stride: Int, padding: Int)) -> (x: Tensor, w: Tensor, b: Tensor) {
    (hashUniform("\(c.name).input", c.input, -1, 1), hashUniform("\(c.name).weight", c.weight, -0.5, 0.5),
     hashUniform("\(c.name).bias", [c.weight[0]], -0.1, 0.1))
}

@Suite struct Conv2DTests {
    let fixtures: [String: Tensor]
    init() throws { fixtures = try Fixture.load("kernels.safetensors") }

    @Test func im2colMatchesTorchUnfoldExactly() {
        for c in convCases {
            let (x, w, _) = convInputs(c)
            let g = ConvGeometry(inChannels: c.input[1], outChannels: c.weight[0], kernel: c.weight[2], stride: c.stride, padding: c.padding)
            let image = Array(x.scalars[0..<(c.input[1] * c.input[2] * c.input[3])])
            let col = Im2Col.matrix(image, channels: c.input[1], height: c.input[2], width: c.input[3], geometry: g)
            let expected = fixtures["im2col_\(c.name)"]!
            #expect(expected.shape == [g.patchSize, g.outputHeight(c.input[2]) * g.outputWidth(c.input[3])], "\(c.name)")
            #expect(col == expected.scalars, "im2col \(c.name) differs from torch unfold")
            _ = w
        }
    }

    @Test func im2colColumnAndChannelSlicesMatchTheWholeMatrix() {
        let c = convCases[2]
        let (x, _, _) = convInputs(c)
        let g = ConvGeometry(inChannels: 3, outChannels: 5, kernel: 7, stride: 2, padding: 3)
        let (h, w) = (c.input[2], c.input[3])
        let image = Array(x.scalars[0..<(3 * h * w)])
        let whole = Im2Col.matrix(image, channels: 3, height: h, width: w, geometry: g)
        let n = g.outputHeight(h) * g.outputWidth(w)
        var source = image
        var part = [Float](repeating: .nan, count: 49 * 17)
        source.withUnsafeMutableBufferPointer { src in
            part.withUnsafeMutableBufferPointer { dst in
                let map = FeatureMap(base: src.baseAddress!, channels: 3, height: h, width: w)
                Im2Col.forward(map, geometry: g, channels: 1..<2, columns: 23..<40, into: dst.baseAddress!, ldcol: 17)
            }
        }
        for r in 0..<49 { for j in 0..<17 { #expect(part[r * 17 + j] == whole[(49 + r) * n + 23 + j]) } }
    }

    @Test(arguments: [1, 2])
    func im2colConvolutionMatchesTorch(parts: Int) {
        for c in convCases {
            let (x, w, b) = convInputs(c)
            let y = Conv2D(weight: w, bias: b, stride: c.stride, padding: c.padding)(x, parts: parts)
            let expected = fixtures[c.name]!
            #expect(y.shape == expected.shape)
            expectClose(y.scalars, expected.scalars, rtol: 1e-4, atol: 1e-5, "\(c.name) parts \(parts)")
        }
    }

    @Test(arguments: [(Conv2D.Algorithm.winograd4x4, 1), (.winograd4x4, 2), (.winograd2x2, 1), (.winograd2x2, 2)])
    func winogradConvolutionMatchesTorch(algorithm: Conv2D.Algorithm, parts: Int) {
        for c in convCases where c.weight[2] == 3 && c.stride == 1 {
            let (x, w, b) = convInputs(c)
            let y = Conv2D(weight: w, bias: b, stride: 1, padding: 1, algorithm: algorithm)(x, parts: parts)
            expectClose(y.scalars, fixtures[c.name]!.scalars, rtol: 1e-4, atol: 1e-5, "\(algorithm) \(c.name) parts \(parts)")
        }
    }

    /// Split between three threads: the K-split im2col path (partial sums of 3 input-channel slices)
    /// and both Winograd tiles still match PyTorch.
    @Test func splitConvolutionsMatchTorch() {
        for c in convCases {
            let (x, w, b) = convInputs(c)
            let y = Conv2D(weight: w, bias: b, stride: c.stride, padding: c.padding)(x, parts: 3)
            expectClose(y.scalars, fixtures[c.name]!.scalars, rtol: 1e-4, atol: 1e-5, "im2col \(c.name)")
            guard c.weight[2] == 3 && c.stride == 1 else { continue }
            for algorithm in [Conv2D.Algorithm.winograd4x4, .winograd2x2] {
                let y = Conv2D(weight: w, bias: b, stride: 1, padding: 1, algorithm: algorithm)(x, parts: 3)
                expectClose(y.scalars, fixtures[c.name]!.scalars, rtol: 1e-4, atol: 1e-5, "\(algorithm) \(c.name)")
            }
        }
    }

    /// Winograd against im2col on ResNet-like shapes (BN-folded scale weights, ReLU inputs),
    /// including sizes that are not multiples of the 4×4 tile, with the fused residual + ReLU.
    /// Tolerance atol 1e-4 (outputs of order 1): F(4×4, 3×3)'s transforms (coefficients up to 8)
    /// amplify float32 rounding about tenfold over a direct sum; measured max error 2.4e-5 at 64 channels
    /// for F(4×4), well below that for F(2×2). Split passes cover both F(4×4) splits: each part a
    /// stretch of the tiles (weights up to 1 MB, with 3 parts ending mid-row or holding no tile) and
    /// channel slices (160 channels: 3.7 MB of transformed weights).
    @Test(arguments: [Conv2D.Algorithm.winograd4x4, .winograd2x2],
          [(64, 56, 56), (32, 28, 28), (16, 14, 14), (8, 7, 7), (4, 5, 9), (3, 1, 1), (5, 6, 2), (6, 3, 11), (160, 9, 10)])
    func winogradMatchesIm2col(algorithm: Conv2D.Algorithm, shape: (channels: Int, height: Int, width: Int)) {
        let (c, h, w) = shape
        let std = (2.0 / Double(9 * c)).squareRoot() * 1.7
        let weight = hashUniform("wino.weight.\(c)", [c, c, 3, 3], -std, std)
        let bias = hashUniform("wino.bias.\(c)", [c], -0.1, 0.1)
        let x = ReLU.forward(hashUniform("wino.input.\(c).\(h).\(w)", [1, c, h, w], -1, 2))
        let residual = hashUniform("wino.residual.\(c).\(h).\(w)", [1, c, h, w], -1, 1)
        let direct = Conv2D(weight: weight, bias: bias, stride: 1, padding: 1)
        let wino = Conv2D(weight: weight, bias: bias, stride: 1, padding: 1, algorithm: algorithm)
        let reference = ReLU.forward(Add.forward(direct(x), residual))
        for parts in [1, 2, 3] {
            let space = Workspace(capacity: 3 * c * h * w + wino.scratchCount(height: h, width: w, parts: parts))
            let input = space.featureMap(at: 0, channels: c, height: h, width: w)
            let res = space.featureMap(at: c * h * w, channels: c, height: h, width: w)
            let out = space.featureMap(at: 2 * c * h * w, channels: c, height: h, width: w)
            input.load(from: x, image: 0)
            res.load(from: residual, image: 0)
            wino.forward(input, into: out, residual: res, relu: true,
                         scratch: space.scratch(at: 3 * c * h * w, count: wino.scratchCount(height: h, width: w, parts: parts)), parts: parts)
            expectClose(out.toTensor().scalars, reference.scalars, atol: 1e-4, "\(algorithm) vs im2col \(shape) parts \(parts)")
        }
    }

    /// A group of images in [C, G, H, W] gives each image's own result, for every algorithm, with
    /// Winograd passes of one image, of 2 + 1 (F(4×4); 20 kB holds 2 images' V and M) and of the whole group.
    @Test(arguments: [Conv2D.Algorithm.im2col, .winograd4x4, .winograd2x2], [1, 2])
    func groupedImagesMatchOneAtATime(algorithm: Conv2D.Algorithm, parts: Int) {
        for budget in [1, 20_000, Winograd.transformBudget] {
            groupedImagesMatchOneAtATime(algorithm: algorithm, parts: parts, budget: budget)
        }
    }

    private func groupedImagesMatchOneAtATime(algorithm: Conv2D.Algorithm, parts: Int, budget: Int) {
        let (c, h, w, g) = (6, 9, 7, 3)
        let weight = hashUniform("group.weight", [5, c, 3, 3], -0.3, 0.3), bias = hashUniform("group.bias", [5], -0.1, 0.1)
        let x = hashUniform("group.input", [g, c, h, w], -1, 1), residual = hashUniform("group.residual", [g, 5, h, w], -1, 1)
        let conv = Conv2D(weight: weight, bias: bias, batchNorm: nil, stride: 1, padding: 1, algorithm: algorithm,
                          transforms: .best, winogradBudget: budget)
        if let tile = algorithm.winogradTile {
            let expected = budget == 1 ? 1 : budget == 20_000 ? (tile == .f4x4 ? 2 : 1) : g
            #expect(Winograd.imagesPerPass(conv.geometry, tile: tile, height: h, width: w, images: g, budget: budget) == expected)
        }
        let reference = ReLU.forward(Add.forward(Conv2D(weight: weight, bias: bias, stride: 1, padding: 1)(x), residual))
        let scratch = conv.scratchCount(height: h, width: w, images: g, parts: parts)
        let space = Workspace(capacity: g * (c + 10) * h * w + scratch)
        let input = space.featureMap(at: 0, channels: c, images: g, height: h, width: w)
        let res = space.featureMap(at: g * c * h * w, channels: 5, images: g, height: h, width: w)
        let out = space.featureMap(at: g * (c + 5) * h * w, channels: 5, images: g, height: h, width: w)
        for i in 0..<g { input.load(from: x, image: i, into: i); res.load(from: residual, image: i, into: i) }
        conv.forward(input, into: out, residual: res, relu: true, scratch: space.scratch(at: g * (c + 10) * h * w, count: scratch), parts: parts)
        var got = [Float](repeating: 0, count: g * 5 * h * w)
        for i in 0..<g { out.store(i, into: &got, image: i) }
        expectClose(got, reference.scalars, atol: 1e-5, "\(algorithm) group of \(g), parts \(parts), budget \(budget)")
        withExtendedLifetime(space) {}
    }

    @Test func epilogueAddsBiasResidualAndReLU() {
        let c = convCases[1]
        let (x, w, b) = convInputs(c)
        let conv = Conv2D(weight: w, bias: b, stride: c.stride, padding: c.padding)
        let plain = Conv2D.forward(x, weight: w, bias: nil, stride: c.stride, padding: c.padding)
        let (oh, ow) = conv.outputSize(height: 13, width: 10)
        let residual = hashUniform("epilogue.residual", [1, 6, oh, ow], -1, 1)
        let space = Workspace(capacity: 4 * 13 * 10 + 2 * 6 * oh * ow + conv.scratchCount(height: 13, width: 10, parts: 1))
        let input = space.featureMap(at: 0, channels: 4, height: 13, width: 10)
        let res = space.featureMap(at: 520, channels: 6, height: oh, width: ow)
        let out = space.featureMap(at: 520 + 6 * oh * ow, channels: 6, height: oh, width: ow)
        input.load(from: x, image: 0)
        res.load(from: residual, image: 0)
        conv.forward(input, into: out, residual: res, relu: true,
                     scratch: space.scratch(at: 520 + 12 * oh * ow, count: conv.scratchCount(height: 13, width: 10, parts: 1)))
        let got = out.toTensor().scalars
        for i in 0..<(6 * oh * ow) {
            let expected = max(plain.scalars[i] + b.scalars[i / (oh * ow)] + residual.scalars[i], 0)
            #expect(abs(got[i] - expected) <= 1e-6, "epilogue at \(i): \(got[i]) vs \(expected)")
        }
    }

    @Test func largeOutputUsesColumnChunksAndMatchesWholeMatrix() {
        // 7x7 stride 2 on 100x100 → 2500 output columns: the per-thread column-chunk path.
        let w = hashUniform("chunk.weight", [8, 3, 7, 7], -0.2, 0.2)
        let b = hashUniform("chunk.bias", [8], -0.1, 0.1)
        let x = hashUniform("chunk.input", [1, 3, 100, 100], -1, 1)
        let conv = Conv2D(weight: w, bias: b, stride: 2, padding: 3)
        #expect(50 * 50 >= Conv2D.columnSplitThreshold)
        let y1 = conv(x, parts: 1), y2 = conv(x, parts: 2)
        let g = conv.geometry
        let col = Im2Col.matrix(x.scalars, channels: 3, height: 100, width: 100, geometry: g)
        var reference = GEMM.multiply(w.scalars, col, m: 8, n: 2500, k: g.patchSize)
        for i in reference.indices { reference[i] += b.scalars[i / 2500] }
        expectClose(y1.scalars, reference, rtol: 1e-5, atol: 1e-6, "column chunks, 1 part")
        expectClose(y2.scalars, reference, rtol: 1e-5, atol: 1e-6, "column chunks, 2 parts")
    }
}
