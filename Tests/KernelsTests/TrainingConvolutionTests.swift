import Testing
import TestSupport
import XRayCore
@testable import Kernels

/// The training convolution's Winograd path (forward and input gradient) against its im2col path,
/// on the 3×3 stride-1 shapes training runs it on, with odd sizes that leave partial tiles.
@Suite struct TrainingConvolutionTests {
    struct Case: Sendable, CustomStringConvertible {
        let cin: Int, cout: Int, side: Int, tile: Int
        var description: String { "\(cin)->\(cout) \(side)x\(side) F(\(tile)x\(tile))" }
    }

    static let cases = [
        Case(cin: 16, cout: 32, side: 13, tile: 4), Case(cin: 32, cout: 16, side: 10, tile: 4),
        Case(cin: 20, cout: 24, side: 7, tile: 2), Case(cin: 64, cout: 64, side: 14, tile: 2),
    ]

    /// Runs forward and backward on both paths; returns (output, weight gradient, input gradient) of each.
    static func run(_ c: Case, winograd: WinogradWeights?, accumulate: Bool, threads: Int) -> ([Float], [Float], [Float]) {
        let g = ConvGeometry(inChannels: c.cin, outChannels: c.cout, kernel: 3, stride: 1, padding: 1)
        let images = 3, s = c.side
        let x = FloatBuffer(hashUniform("tconv.x.\(c)", [images * c.cin * s * s], -1, 1).scalars)
        let w = FloatBuffer(hashUniform("tconv.w.\(c)", [c.cout * c.cin * 9], -0.2, 0.2).scalars)
        let dy = FloatBuffer(hashUniform("tconv.dy.\(c)", [images * c.cout * s * s], -1, 1).scalars)
        let y = FloatBuffer(count: images * c.cout * s * s)
        let dx = FloatBuffer(hashUniform("tconv.dx0.\(c)", [images * c.cin * s * s], -1, 1).scalars)
        let dw = FloatBuffer(count: c.cout * c.cin * 9)
        let scratch = FloatBuffer(count: max(Conv2D.forwardScratchCount(g, height: s, width: s, threads: threads, winograd: winograd),
                                             Conv2D.backwardScratchCount(g, height: s, width: s, threads: threads, winograd: winograd)))
        let xb = x.batch(images: images, channels: c.cin, height: s, width: s)
        Conv2D.forwardBatch(xb, weight: w.base, geometry: g, into: y.batch(images: images, channels: c.cout, height: s, width: s),
                            scratch: scratch.scratch(count: scratch.count), threads: threads, winograd: winograd)
        if !accumulate { dx.base.update(repeating: .nan, count: dx.count) }
        Conv2D.backwardBatch(input: xb, gradOutput: dy.batch(images: images, channels: c.cout, height: s, width: s), weight: w.base,
                             geometry: g, gradWeight: dw.base, gradInput: dx.batch(images: images, channels: c.cin, height: s, width: s),
                             accumulateInput: accumulate, scratch: scratch.scratch(count: scratch.count), threads: threads,
                             winograd: winograd)
        return (y.array, dw.array, dx.array)
    }

    @Test(arguments: cases)
    func winogradMatchesIm2col(_ c: Case) {
        let g = ConvGeometry(inChannels: c.cin, outChannels: c.cout, kernel: 3, stride: 1, padding: 1)
        for (accumulate, threads) in [(false, 1), (true, 2)] {
            let reference = Self.run(c, winograd: nil, accumulate: accumulate, threads: threads)
            let winograd = Self.run(c, winograd: WinogradWeights(geometry: g, tileSize: c.tile), accumulate: accumulate, threads: threads)
            let label = "\(c) accumulate \(accumulate) threads \(threads)"
            expectClose(winograd.0, reference.0, rtol: 1e-4, atol: 2e-5 * Float(c.cin * 9).squareRoot(), "forward \(label)")
            #expect(winograd.1 == reference.1, "weight gradient \(label): both run on im2row")
            expectClose(winograd.2, reference.2, rtol: 1e-4, atol: 2e-5 * Float(c.cout * 9).squareRoot(), "input gradient \(label)")
        }
    }

    /// A frozen layer's backward (Grad-CAM's): no weight gradient, the same input gradient bit for bit.
    @Test func inputGradientAloneMatchesTheFullBackward() {
        for (kernel, stride, padding, threads) in [(3, 1, 1, 1), (3, 2, 1, 2), (1, 2, 0, 2), (3, 1, 1, 2)] {
            let g = ConvGeometry(inChannels: 12, outChannels: 20, kernel: kernel, stride: stride, padding: padding)
            let (images, s) = (2, 9), (oh, ow) = (g.outputHeight(9), g.outputWidth(9))
            let x = hashUniform("frozen.x.\(kernel).\(stride)", [images, 12, s, s], -1, 1)
            let w = hashUniform("frozen.w.\(kernel).\(stride)", [20, 12, kernel, kernel], -0.3, 0.3)
            let dy = hashUniform("frozen.dy.\(kernel).\(stride)", [images, 20, oh, ow], -1, 1)
            let full = Conv2D.backward(input: x, weight: w, gradOutput: dy, stride: stride, padding: padding, threads: threads)
            let alone = Conv2D.backwardInput(input: x, weight: w, gradOutput: dy, geometry: g, threads: threads)
            #expect(alone.shape == x.shape)
            #expect(alone.scalars == full.gradInput.scalars, "\(g) threads \(threads)")
        }
    }
}
