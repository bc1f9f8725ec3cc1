import Testing
import TestSupport
import XRayCore
@testable import Kernels

@Suite struct KernelTests {
    @Test func maxPoolMatchesTorchExactly() throws {
        let fixtures = try Fixture.load("kernels.safetensors")
        let x = hashUniform("maxpool.input", [2, 3, 13, 12], -1, 1)
        let y = MaxPool2D.forward(x, kernel: 3, stride: 2, padding: 1)
        #expect(y.shape == fixtures["maxpool_3x3_s2"]!.shape)
        #expect(y.scalars == fixtures["maxpool_3x3_s2"]!.scalars)
    }

    /// The vectorised 3×3 stride-2 pool against a naive window loop, on sizes with every vector
    /// remainder (odd, even, narrower than one vector, the stem's 112).
    @Test func maxPool3x3Stride2MatchesNaiveWindowsExactly() {
        for (h, w) in [(1, 1), (2, 3), (7, 5), (9, 8), (17, 33), (24, 9), (15, 16), (31, 47), (112, 112)] {
            let x = hashUniform("maxpool.fast.\(h)x\(w)", [2, 3, h, w], -1, 1)
            let y = MaxPool2D.forward(x, kernel: 3, stride: 2, padding: 1)
            let (oh, ow) = ((h - 1) / 2 + 1, (w - 1) / 2 + 1)
            var naive = [Float](repeating: 0, count: 2 * 3 * oh * ow)
            for p in 0..<6 {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        var m = -Float.infinity
                        for y in max(0, 2 * oy - 1)..<min(h, 2 * oy + 2) {
                            for xx in max(0, 2 * ox - 1)..<min(w, 2 * ox + 2) { m = max(m, x.scalars[(p * h + y) * w + xx]) }
                        }
                        naive[(p * oh + oy) * ow + ox] = m
                    }
                }
            }
            #expect(y.shape == [2, 3, oh, ow], "\(h)x\(w)")
            #expect(y.scalars == naive, "\(h)x\(w)")
        }
    }

    @Test func sgemmMatchesNaiveProductForAllTransposes() {
        let (m, n, k) = (5, 7, 9)
        let a = hashUniform("gemm.a", [m * k], -1, 1).scalars, b = hashUniform("gemm.b", [k * n], -1, 1).scalars
        var naive = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { naive[i * n + j] = (0..<k).reduce(0) { $0 + a[i * k + $1] * b[$1 * n + j] } } }
        expectClose(GEMM.multiply(a, b, m: m, n: n, k: k), naive, atol: 1e-5, "A·B")
        let at = (0..<(k * m)).map { a[($0 % m) * k + $0 / m] }  // [k×m]
        let bt = (0..<(n * k)).map { b[($0 % k) * n + $0 / k] }  // [n×k]
        expectClose(GEMM.multiply(at, bt, m: m, n: n, k: k, transA: true, transB: true), naive, atol: 1e-5, "Aᵀ·Bᵀ")
    }

    @Test func batchNormFoldEqualsConvThenBatchNorm() {
        let w = hashUniform("fold.weight", [6, 4, 3, 3], -0.5, 0.5)
        let x = hashUniform("fold.input", [1, 4, 9, 8], -1, 1)
        let gamma = hashUniform("fold.gamma", [6], 0.8, 1.2), beta = hashUniform("fold.beta", [6], -0.1, 0.1)
        let mean = hashUniform("fold.mean", [6], -0.2, 0.2), variance = hashUniform("fold.var", [6], 0.5, 1.5)
        let reference = BatchNorm.forward(Conv2D.forward(x, weight: w, bias: nil, padding: 1),
                                          gamma: gamma, beta: beta, runningMean: mean, runningVar: variance)
        let f = BatchNorm.fold(convWeight: w, gamma: gamma, beta: beta, runningMean: mean, runningVar: variance)
        expectClose(Conv2D.forward(x, weight: f.weight, bias: f.bias, padding: 1).scalars, reference.scalars,
                    rtol: 1e-5, atol: 1e-6, "folded conv")
        let bn = BatchNorm.Parameters(gamma: gamma, beta: beta, runningMean: mean, runningVar: variance)
        for algorithm in [Conv2D.Algorithm.im2col, .winograd4x4, .winograd2x2] {
            let conv = Conv2D(weight: w, bias: nil, batchNorm: bn, stride: 1, padding: 1, algorithm: algorithm)
            expectClose(conv(x).scalars, reference.scalars, rtol: 1e-5, atol: 1e-5, "conv folding its batch norm, \(algorithm)")
        }
    }

    @Test func globalAveragePoolLinearSoftmaxReLUAndAdd() {
        let x = Tensor(shape: [2, 2, 1, 2], scalars: [1, 3, -2, 2, 0, 4, 5, 7])
        #expect(GlobalAveragePool.forward(x).scalars == [2, 0, 2, 6])
        let y = Linear.forward(Tensor(shape: [1, 3], scalars: [1, 2, 3]),
                               weight: Tensor(shape: [2, 3], scalars: [1, 0, -1, 0.5, 0.5, 0.5]),
                               bias: Tensor(shape: [2], scalars: [10, 20]))
        #expect(y.scalars == [8, 23])
        let p = Softmax.forward(Tensor(shape: [2, 3], scalars: [1, 2, 3, 1000, 1000, -1000]))
        expectClose(p.scalars, [0.09003057, 0.24472847, 0.66524096, 0.5, 0.5, 0], atol: 1e-7, "softmax")
        #expect(ReLU.forward(Tensor(shape: [3], scalars: [-1, 0, 2])).scalars == [0, 0, 2])
        #expect(Add.forward(Tensor(shape: [2], scalars: [1, 2]), Tensor(shape: [2], scalars: [3, -2])).scalars == [4, 0])
    }

    @Test func workPartsCoverTheRangeOnceAndBalanced() {
        for n in [0, 1, 5, 36, 64] {
            for count in 1...4 {
                let ranges = (0..<count).map { WorkPart(index: $0, count: count).range(of: n) }
                #expect(ranges.map(\.count).reduce(0, +) == n)
                #expect(zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
                #expect((ranges.map(\.count).max() ?? 0) - (ranges.map(\.count).min() ?? 0) <= 1)
            }
        }
    }
}
