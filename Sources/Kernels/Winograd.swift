/// Winograd convolution (Lavin & Gray 2015) for 3×3, stride 1, padding 1: F(4×4, 3×3) or F(2×2, 3×3).
///
/// Each α×α input tile d (α = m + 2, stride m) becomes V = Bᵀ d B, each 3×3 kernel g becomes
/// U = G g Gᵀ, and the m×m output tile is Aᵀ (Σ_c U ⊙ V) A. The sum over input channels for each of
/// the α² transform-domain positions ξ is one sgemm: M_ξ [Cout × T] = U_ξ [Cout × Cin] · V_ξ [Cin × T],
/// T = number of tiles. F(4×4) needs 4× fewer multiplies than direct convolution, F(2×2) 2.25×;
/// F(2×2) has cheaper transforms, tighter rounding, less padding on small maps, and 16/9 (not 4×)
/// the weight memory.
///
/// This file holds the schedule: tile grid, scratch sizes, how a pass is split between threads and
/// how V and M move through memory. The transforms themselves (G, Bᵀ, Aᵀ and their vector code)
/// are in Winograd+Transforms.swift; the AVX-512 ones in Winograd+CKernels.swift.
enum Winograd {
    enum Tile: Sendable, Equatable {
        case f2x2, f4x4
        /// Output tile side m.
        var size: Int { self == .f2x2 ? 2 : 4 }
        /// Input tile side α = m + 2.
        var alpha: Int { size + 2 }
        var positions: Int { alpha * alpha }
    }

    static func supports(_ g: ConvGeometry) -> Bool {
        g.kernelHeight == 3 && g.kernelWidth == 3 && g.stride == 1 && g.padding == 1
    }

    /// Tile grid for an H×W image: tilesY × tilesX tiles of m×m outputs.
    static func tiles(_ tile: Tile, height: Int, width: Int) -> (y: Int, x: Int) {
        ((height + tile.size - 1) / tile.size, (width + tile.size - 1) / tile.size)
    }

    static func scratchCount(_ g: ConvGeometry, tile: Tile, height: Int, width: Int, images: Int, parts: Int) -> Int {
        let (ty, tx) = tiles(tile, height: height, width: width)
        let shared = tile.positions * (g.inChannels + g.outChannels) * images * ty * tx + parts * tempCount(tile, width: width) + 4
        guard images == 1 && parts > 1 && tile == .f4x4 else { return shared }
        return max(shared, parts * spatialPartCount(g, tiles: ty * tx, parts: parts))
    }

    /// Whether a pass over one image split into `parts` gives each part a stretch of the image's tiles
    /// (all channels) instead of a slice of the channels. Each thread then transforms, multiplies
    /// and writes back only its own tiles, in its own V and M; the threads share only the weights
    /// (read-only) and the rows of feature maps at the edges of their stretches. That suits layer1,
    /// whose maps are the largest and whose transformed weights (36·64·64 floats, 0.6 MB) fit each
    /// core's L2; with bigger weights, each thread streaming all of them costs more than it saves.
    static func splitsSpatially(_ g: ConvGeometry, tile: Tile, transforms: Transforms, images: Int, parts: Int) -> Bool {
        images == 1 && parts > 1 && tile == .f4x4 && transforms == .avx512
            && tile.positions * g.inChannels * g.outChannels * MemoryLayout<Float>.size <= 1 << 20
    }

    /// Floats of one part's V and M in a spatial split.
    private static func spatialPartCount(_ g: ConvGeometry, tiles: Int, parts: Int) -> Int {
        Tile.f4x4.positions * (g.inChannels + g.outChannels) * ((tiles + parts - 1) / parts) + 16
    }

    /// Bytes of transform-domain data (V and M) one pass over a group may use. The group's images
    /// go through the three steps (input transform, GEMMs, output transform) a few at a time, so
    /// that V and M stay in the shared 32 MB L3 while both threads run: a whole group of 4 on
    /// layer1 needs 14 MB per thread and streams through memory, one image needs 3.6 MB. Passes
    /// of one image still give layer1's GEMMs 196 columns; layer2 and layer3 get 2 images (98).
    static let transformBudget = 4 << 20

    /// Images per pass for a group: as many as fit `transformBudget`, at least one.
    static func imagesPerPass(_ g: ConvGeometry, tile: Tile, height: Int, width: Int, images: Int, budget: Int) -> Int {
        let (ty, tx) = tiles(tile, height: height, width: width)
        let perImage = tile.positions * (g.inChannels + g.outChannels) * ty * tx * 4
        return max(1, min(images, budget / perImage))
    }

    static func forward(_ input: FeatureMap, weights u: [PackedMatrix], geometry g: ConvGeometry, tile: Tile, transforms: Transforms,
                        budget: Int, into output: FeatureMap, epilogue: Epilogue, scratch: Scratch, parts: Int) {
        if splitsSpatially(g, tile: tile, transforms: transforms, images: input.images, parts: parts) {
            forwardSpatially(input, weights: u, geometry: g, into: output, epilogue: epilogue, scratch: scratch, parts: parts)
            return
        }
        let step = imagesPerPass(g, tile: tile, height: input.height, width: input.width, images: input.images, budget: budget)
        for first in stride(from: 0, to: input.images, by: step) {
            forward(input, images: first..<min(input.images, first + step), weights: u, geometry: g, tile: tile,
                    transforms: transforms, into: output, epilogue: epilogue, scratch: scratch, parts: parts)
        }
    }

    /// The images `imageRange` of the group, through V and M at the start of the scratch.
    private static func forward(_ input: FeatureMap, images imageRange: Range<Int>, weights u: [PackedMatrix], geometry g: ConvGeometry,
                                tile: Tile, transforms: Transforms, into output: FeatureMap, epilogue: Epilogue, scratch: Scratch,
                                parts: Int) {
        let h = input.height, w = input.width
        let positions = tile.positions
        let (tilesY, tilesX) = tiles(tile, height: h, width: w)
        // Tiles of image i of the pass are columns i·perImage ..< (i+1)·perImage of every V_ξ and M_ξ.
        let perImage = tilesY * tilesX, images = imageRange.count, firstImage = imageRange.lowerBound
        let t = images * perImage
        let cin = g.inChannels, cout = g.outChannels
        let v = scratch.base
        let m = v + positions * cin * t
        // M is read 4 tiles at a time; a last partial group may read up to 3 floats past M, into the temps.
        let temps = m + positions * cout * t + 4
        let perPart = tempCount(tile, width: w)

        // `parts` is the thread count here; each step is cut finer and its pieces claimed as threads free up.
        let threads = parts
        Parallel.run(parts: Parallel.parts(units: cin, threads: threads), threads: threads) { part in
            let temp = temps + part.thread * perPart
            for c in part.range(of: cin) {
                for i in 0..<images {
                    let src = input.plane(channel: c, image: firstImage + i), dst = v + c * t + i * perImage
                    if tile == .f4x4 && transforms == .avx512 {
                        transformInputAVX512(src, height: h, width: w, tilesY: tilesY, tilesX: tilesX, into: dst, positionStride: cin * t)
                    } else if tile == .f4x4 {
                        transformInput(src, height: h, width: w, tilesY: tilesY, tilesX: tilesX,
                                       into: dst, positionStride: cin * t, temp: temp)
                    } else {
                        transformInput2(src, height: h, width: w, tilesY: tilesY, tilesX: tilesX,
                                        into: dst, positionStride: cin * t, temp: temp)
                    }
                }
            }
        }
        // With several threads, every step's data crosses between them: V is written by channel and
        // read by position, M written by position and read by channel.
        Parallel.run(parts: threads > 1 ? positions : 1, threads: threads) { part in
            for xi in part.range(of: positions) {
                u[xi].multiply(n: t, b: v + xi * cin * t, ldb: t, c: m + xi * cout * t, ldc: t)
            }
        }
        Parallel.run(parts: Parallel.parts(units: cout, threads: threads), threads: threads) { part in
            for o in part.range(of: cout) {
                for i in 0..<images {
                    let src = m + o * t + i * perImage, dst = output.plane(channel: o, image: firstImage + i)
                    let residual = epilogue.residual.map { $0 + (dst - output.base) }
                    let bias = epilogue.bias[o]
                    if tile == .f4x4 && transforms == .avx512 {
                        transformOutputAVX512(src, positionStride: cout * t, tilesY: tilesY, tilesX: tilesX, into: dst,
                                              height: h, width: w, bias: bias, residual: residual, relu: epilogue.relu)
                    } else if tile == .f4x4 {
                        transformOutput(src, positionStride: cout * t, tilesY: tilesY, tilesX: tilesX, into: dst,
                                        height: h, width: w, bias: bias, residual: residual, relu: epilogue.relu)
                    } else {
                        transformOutput2(src, positionStride: cout * t, tilesY: tilesY, tilesX: tilesX, into: dst,
                                         height: h, width: w, bias: bias, residual: residual, relu: epilogue.relu)
                    }
                }
            }
        }
    }

    /// One image, F(4×4) with the AVX-512 transforms, part i taking the i-th stretch of the tiles
    /// (row by row): its own V and M, all channels (see `splitsSpatially`).
    private static func forwardSpatially(_ input: FeatureMap, weights u: [PackedMatrix], geometry g: ConvGeometry,
                                         into output: FeatureMap, epilogue: Epilogue, scratch: Scratch, parts: Int) {
        let h = input.height, w = input.width, positions = Tile.f4x4.positions
        let (tilesY, tilesX) = tiles(.f4x4, height: h, width: w)
        let total = tilesY * tilesX, cin = g.inChannels, cout = g.outChannels
        let perPart = spatialPartCount(g, tiles: total, parts: parts)
        Parallel.run(parts: parts, threads: parts) { part in
            let stretch = part.range(of: total), n = stretch.count
            guard n > 0 else { return }
            let v = scratch.base + part.index * perPart, m = v + positions * cin * n
            for c in 0..<cin {
                transformInputTilesAVX512(input.plane(channel: c, image: 0), height: h, width: w, tilesX: tilesX, tiles: stretch,
                                          into: v + c * n, positionStride: cin * n)
            }
            for xi in 0..<positions {
                u[xi].multiply(n: n, b: v + xi * cin * n, ldb: n, c: m + xi * cout * n, ldc: n)
            }
            for o in 0..<cout {
                let dst = output.plane(channel: o, image: 0)
                transformOutputTilesAVX512(m + o * n, positionStride: cout * n, tilesX: tilesX, tiles: stretch, into: dst,
                                           height: h, width: w, bias: epilogue.bias[o],
                                           residual: epilogue.residual.map { $0 + (dst - output.base) }, relu: epilogue.relu)
            }
        }
    }
}
