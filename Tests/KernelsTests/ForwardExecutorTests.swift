import Testing
import TestSupport
import XRayCore
@testable import Kernels

/// The executor (workspace plan, groups of images per thread, one image split between threads)
/// against the same layers composed tensor by tensor, one image at a time.
@Suite struct ForwardExecutorTests {
    static func conv(_ name: String, _ cin: Int, _ cout: Int, kernel: Int, stride: Int, algorithm: Conv2D.Algorithm = .im2col) -> Conv2D {
        Conv2D(weight: hashUniform("exec.\(name)", [cout, cin, kernel, kernel], -0.4, 0.4),
               bias: hashUniform("exec.\(name).b", [cout], -0.1, 0.1), stride: stride, padding: kernel / 2, algorithm: algorithm)
    }

    static let executor = ForwardExecutor(
        stem: conv("stem", 3, 8, kernel: 5, stride: 2), maxPool: (kernel: 3, stride: 2, padding: 1),
        blocks: [
            ResidualBlock(conv1: conv("b0.1", 8, 8, kernel: 3, stride: 1, algorithm: .winograd4x4),
                          conv2: conv("b0.2", 8, 8, kernel: 3, stride: 1, algorithm: .winograd4x4), shortcut: nil),
            ResidualBlock(conv1: conv("b1.1", 8, 16, kernel: 3, stride: 2),
                          conv2: conv("b1.2", 16, 16, kernel: 3, stride: 1, algorithm: .winograd2x2),
                          shortcut: conv("b1.d", 8, 16, kernel: 1, stride: 2)),
        ])

    /// A batch-1 pass split between two threads equals the one-thread pass.
    @Test func aSplitPassGivesTheOneThreadNumbers() {
        let e = Self.executor
        let input = hashUniform("exec.policy", [1, 3, 37, 30], -2, 2)
        let split = e.run(input, threads: 2), single = e.run(input, threads: 1)
        expectClose(split.features.scalars, single.features.scalars, rtol: 1e-5, atol: 1e-5, "features")
        expectClose(split.pooled.scalars, single.pooled.scalars, rtol: 1e-5, atol: 1e-5, "pooled")
    }

    @Test(arguments: [(1, 1), (1, 2), (3, 2), (5, 2), (4, 1)])
    func matchesTheLayersComposedOneImageAtATime(_ images: Int, _ threads: Int) {
        let e = Self.executor
        let input = hashUniform("exec.input.\(images)", [images, 3, 37, 30], -2, 2)
        let (features, pooled) = e.run(input, threads: threads)
        var expected: [Float] = [], expectedPooled: [Float] = []
        let plane = 3 * 37 * 30
        for i in 0..<images {
            var x = Tensor(shape: [1, 3, 37, 30], scalars: Array(input.scalars[(i * plane)..<((i + 1) * plane)]))
            x = MaxPool2D.forward(e.stem(x, relu: true), kernel: 3, stride: 2, padding: 1)
            for block in e.blocks { x = block(x) }
            expected += x.scalars
            expectedPooled += GlobalAveragePool.forward(x).scalars
        }
        #expect(features.shape == [images, 16, 5, 4] && pooled.shape == [images, 16])
        expectClose(features.scalars, expected, rtol: 1e-5, atol: 1e-5, "features, \(images) images, \(threads) threads")
        expectClose(pooled.scalars, expectedPooled, rtol: 1e-5, atol: 1e-5, "pooled, \(images) images, \(threads) threads")
    }
}
