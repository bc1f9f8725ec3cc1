// Calls into CKernels' Winograd weight packing.
internal import CKernels

/// The Winograd-domain weights of one 3×3 stride-1 training convolution, rebuilt from its raw
/// weights at every step (Adam changes them): the forward's U_ξ [Cout × Cin] and the input
/// gradient's [Cin × Cout] (the kernel turned by 180°), α² packed matrices each.
///
/// With them `Conv2D.forwardBatch` and `backwardBatch` run the forward and the input gradient as
/// Winograd convolutions, the same code as inference; the weight gradient stays on im2row.
/// Not thread-safe: `load` between steps, never while a convolution uses the weights.
package final class WinogradWeights: @unchecked Sendable {
    package let geometry: ConvGeometry
    let tile: Winograd.Tile
    let forward: [PackedMatrix]
    let backward: [PackedMatrix]
    /// Zero bias for the epilogue (max(Cin, Cout) floats).
    let zeros: FloatStorage

    /// - Parameter tileSize: 4 for F(4×4, 3×3), 2 for F(2×2, 3×3), in both directions.
    package init(geometry g: ConvGeometry, tileSize: Int) {
        precondition(Winograd.supports(g), "Winograd needs a 3x3 stride-1 padding-1 convolution, got \(g)")
        precondition(tileSize == 2 || tileSize == 4, "Winograd tile must be 2 or 4, got \(tileSize)")
        geometry = g
        tile = tileSize == 4 ? .f4x4 : .f2x2
        forward = (0..<tile.positions).map { _ in PackedMatrix(rows: g.outChannels, columns: g.inChannels) }
        backward = (0..<tile.positions).map { _ in PackedMatrix(rows: g.inChannels, columns: g.outChannels) }
        zeros = FloatStorage(count: max(g.inChannels, g.outChannels)) { $0.update(repeating: 0) }
    }

    /// Whether a convolution can run on Winograd: 3×3, stride 1, padding 1.
    package static func supports(_ g: ConvGeometry) -> Bool { Winograd.supports(g) }

    /// The input gradient's geometry: a convolution from Cout channels back to Cin.
    var backwardGeometry: ConvGeometry {
        ConvGeometry(inChannels: geometry.outChannels, outChannels: geometry.inChannels, kernel: 3, stride: 1, padding: 1)
    }

    /// Transforms and packs `weight` [Cout, Cin, 3, 3] for both directions.
    package func load(weight: UnsafePointer<Float>) {
        let g = geometry, size = Int32(tile.size)
        let forwardBases: [UnsafeMutablePointer<Float>?] = forward.map { $0.base }
        let backwardBases: [UnsafeMutablePointer<Float>?] = backward.map { $0.base }
        Parallel.run(parts: 2) { part in
            let bases = part.index == 0 ? forwardBases : backwardBases
            bases.withUnsafeBufferPointer {
                cxr_winograd_pack_weights(size, weight, Int64(g.outChannels), Int64(g.inChannels), Int32(part.index), $0.baseAddress!)
            }
        }
    }

    /// Scratch floats one image's forward or input gradient needs on one thread.
    func scratchCount(height: Int, width: Int) -> Int {
        max(Winograd.scratchCount(geometry, tile: tile, height: height, width: width, images: 1, parts: 1),
            Winograd.scratchCount(backwardGeometry, tile: tile, height: height, width: width, images: 1, parts: 1))
    }

    /// y = conv(x, W) for one image.
    func forward(_ x: FeatureMap, into y: FeatureMap, scratch: Scratch) {
        Winograd.forward(x, weights: forward, geometry: geometry, tile: tile, transforms: .best, budget: Winograd.transformBudget,
                         into: y, epilogue: Epilogue(bias: zeros.base, residual: nil, relu: false), scratch: scratch, parts: 1)
    }

    /// dx = conv(dy, W turned by 180°, channels swapped), added to dx when `accumulate`, for one image.
    func backwardInput(_ dy: FeatureMap, into dx: FeatureMap, accumulate: Bool, scratch: Scratch) {
        Winograd.forward(dy, weights: backward, geometry: backwardGeometry, tile: tile, transforms: .best,
                         budget: Winograd.transformBudget, into: dx,
                         epilogue: Epilogue(bias: zeros.base, residual: accumulate ? dx.base : nil, relu: false),
                         scratch: scratch, parts: 1)
    }
}
