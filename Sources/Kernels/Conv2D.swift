import XRayCore

/// A 2-D convolution layer with fixed (inference) weights: im2col + sgemm, or Winograd F(4×4, 3×3)
/// or F(2×2, 3×3) for 3×3 stride-1 padding-1 convolutions.
///
/// The forward pass works on one image at a time, writes into caller-owned memory and fuses the
/// epilogue (bias, optional residual add, optional ReLU) into the pass over the GEMM output.
/// `parts` > 1 splits the image's work between that many threads.
public final class Conv2D: Sendable {
    public enum Algorithm: Sendable, Equatable {
        /// Patches unfolded into a matrix, then one sgemm.
        case im2col
        /// Winograd F(4×4, 3×3): 36 sgemms in the transform domain, 4× fewer multiplies. 3×3, stride 1, padding 1 only.
        case winograd4x4
        /// Winograd F(2×2, 3×3): 16 sgemms, 2.25× fewer multiplies; better on small maps. 3×3, stride 1, padding 1 only.
        case winograd2x2

        /// The Winograd output tile side (4 or 2), or nil for im2col.
        public var winogradTileSize: Int? { winogradTile?.size }

        var winogradTile: Winograd.Tile? {
            switch self {
            case .im2col: return nil
            case .winograd4x4: return .f4x4
            case .winograd2x2: return .f2x2
            }
        }
    }

    public let geometry: ConvGeometry
    public let algorithm: Algorithm
    let transforms: Winograd.Transforms
    /// Bytes of Winograd transform-domain data per pass over a group (tests make it small).
    let winogradBudget: Int
    /// im2col: one [Cout × Cin·kh·kw] matrix; Winograd: α² transformed [Cout × Cin] matrices, one per position.
    let weights: [PackedMatrix]
    let bias: FloatStorage

    /// - Parameters:
    ///   - weight: [Cout, Cin, kh, kw] with kh == kw.
    ///   - bias: [Cout], or nil for none.
    ///   - batchNorm: an eval-mode batch norm that follows the convolution, folded into the stored
    ///     weights and bias (W′ = W · γ/√(var+ε), b′ = (b − mean) · γ/√(var+ε) + β, in Double).
    public convenience init(weight: Tensor, bias: Tensor?, batchNorm: BatchNorm.Parameters? = nil, stride: Int = 1,
                            padding: Int = 0, algorithm: Algorithm = .im2col) {
        self.init(weight: weight, bias: bias, batchNorm: batchNorm, stride: stride, padding: padding, algorithm: algorithm,
                  transforms: .best, winogradBudget: Winograd.transformBudget)
    }

    /// `transforms` picks the Winograd transform code (tests compare the two).
    init(weight: Tensor, bias: Tensor?, batchNorm: BatchNorm.Parameters?, stride: Int, padding: Int,
         algorithm: Algorithm, transforms: Winograd.Transforms, winogradBudget: Int = Winograd.transformBudget) {
        self.transforms = transforms
        self.winogradBudget = winogradBudget
        precondition(weight.shape.count == 4 && weight.shape[2] == weight.shape[3], "conv weight must be [Cout, Cin, k, k], got \(weight.shape)")
        let g = ConvGeometry(inChannels: weight.shape[1], outChannels: weight.shape[0], kernel: weight.shape[2],
                             stride: stride, padding: padding)
        if let bias { precondition(bias.shape == [g.outChannels], "conv bias must be [\(g.outChannels)], got \(bias.shape)") }
        geometry = g
        self.algorithm = algorithm
        let scale: [Double], shift: [Double]
        if let batchNorm {
            precondition(batchNorm.gamma.count == g.outChannels, "batch norm has \(batchNorm.gamma.count) channels, conv has \(g.outChannels)")
            (scale, shift) = BatchNorm.scaleAndShift(batchNorm)
        } else {
            (scale, shift) = ([Double](repeating: 1, count: g.outChannels), [Double](repeating: 0, count: g.outChannels))
        }
        if let tile = algorithm.winogradTile {
            precondition(Winograd.supports(g), "Winograd needs a 3x3 stride-1 padding-1 convolution, got \(g)")
            let plane = g.outChannels * g.inChannels
            let transformed = FloatStorage(count: tile.positions * plane) { out in
                Winograd.transformWeights(weight.scalars, scale: scale, outChannels: g.outChannels, inChannels: g.inChannels,
                                          tile: tile, into: out)
            }
            weights = (0..<tile.positions).map { xi in
                PackedMatrix(rows: g.outChannels, columns: g.inChannels, a: transformed.base + xi * plane, lda: g.inChannels)
            }
        } else {
            let per = g.patchSize
            let scaled = FloatStorage(count: weight.count) { out in
                weight.scalars.withUnsafeBufferPointer { w in
                    for o in 0..<g.outChannels {
                        for i in (o * per)..<((o + 1) * per) { out[i] = Float(Double(w[i]) * scale[o]) }
                    }
                }
            }
            weights = [PackedMatrix(rows: g.outChannels, columns: per, a: scaled.base, lda: per)]
        }
        self.bias = FloatStorage(count: g.outChannels) { out in
            for o in 0..<g.outChannels { out[o] = Float(Double(bias?.scalars[o] ?? 0) * scale[o] + shift[o]) }
        }
    }

    /// Whether a pass over `images` images split into `parts` gives each part its own stretch of the
    /// image (Winograd on layer1-sized weights) rather than a slice of the channels: such passes
    /// use their scratch differently, and a caller may want to give them memory of their own.
    func splitsSpatially(images: Int, parts: Int) -> Bool {
        guard let tile = algorithm.winogradTile else { return false }
        return Winograd.splitsSpatially(geometry, tile: tile, transforms: transforms, images: images, parts: parts)
    }

    public func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        (geometry.outputHeight(height), geometry.outputWidth(width))
    }

    /// Floats of scratch `forward` needs for a group of `images` of this size split into `parts`.
    func scratchCount(height: Int, width: Int, images: Int = 1, parts: Int) -> Int {
        if let tile = algorithm.winogradTile {
            return Winograd.scratchCount(geometry, tile: tile, height: height, width: width, images: images, parts: parts)
        } else {
            let (oh, ow) = outputSize(height: height, width: width)
            let n = images * oh * ow, k = geometry.patchSize
            if geometry.isPointwise { return 0 }
            if n >= Self.columnSplitThreshold { return parts * k * chunkColumns }
            if usesDepthSplit(parts: parts) { return k * n + parts * geometry.outChannels * n }
            return k * n
        }
    }

    /// Output columns at which the im2col path switches from "whole matrix, split output channels"
    /// to "each thread unfolds and multiplies its own column chunks".
    static let columnSplitThreshold = 2048

    /// Whether the im2col path below the column-split threshold splits the product along K: each
    /// thread unfolds and multiplies only its own input channels, into its own partial sum for all
    /// output channels, and the partial sums are then added up by output channel. Splitting by
    /// output channels instead would make every thread read the whole unfolded matrix, half of it
    /// written by the other thread, and the next pass would then write lines the other thread
    /// still holds in its cache. When the host puts the two CPUs in different core complexes, such
    /// writes are costly (see cxr_pool.c); the K split shares only the partial sums, Cout·n floats
    /// per thread.
    func usesDepthSplit(parts: Int) -> Bool { parts > 1 && geometry.inChannels >= 2 * parts }
    var chunkColumns: Int { max(64, (1 << 18) / geometry.patchSize) }

    /// output = relu?(conv(input) + bias + residual?) for one image or a group ([C, G, H, W]).
    package func forward(_ input: FeatureMap, into output: FeatureMap, residual: FeatureMap? = nil, relu: Bool = false,
                        scratch: Scratch, parts: Int = 1) {
        let g = geometry
        let (oh, ow) = outputSize(height: input.height, width: input.width)
        precondition(input.channels == g.inChannels, "conv expects \(g.inChannels) input channels, got \(input.channels)")
        precondition(output.channels == g.outChannels && output.images == input.images && output.height == oh && output.width == ow,
                     "conv output must be \([g.outChannels, input.images, oh, ow]), got \(output.shape)")
        if let residual { precondition(residual.shape == output.shape, "residual \(residual.shape) != output \(output.shape)") }
        precondition(scratch.count >= scratchCount(height: input.height, width: input.width, images: input.images, parts: parts),
                     "conv scratch too small")
        let epilogue = Epilogue(bias: bias.base, residual: residual?.base, relu: relu)
        if let tile = algorithm.winogradTile {
            Winograd.forward(input, weights: weights, geometry: g, tile: tile, transforms: transforms, budget: winogradBudget,
                             into: output, epilogue: epilogue,
                             scratch: scratch, parts: parts)
        } else {
            forwardIm2col(input, into: output, epilogue: epilogue, scratch: scratch, parts: parts)
        }
    }

    private func forwardIm2col(_ input: FeatureMap, into output: FeatureMap, epilogue: Epilogue, scratch: Scratch, parts threads: Int) {
        let g = geometry, w = weights[0]
        let n = output.images * output.planeSize, k = g.patchSize
        // Output rows in whole panels, a few parts per thread.
        let panels = (g.outChannels + PackedMatrix.panelRows - 1) / PackedMatrix.panelRows
        let rowParts = Parallel.parts(units: panels, threads: threads)
        if g.isPointwise {
            Parallel.run(parts: rowParts, threads: threads) { part in
                w.multiply(rows: w.rowRange(part), n: n, b: input.base, ldb: n, c: output.base, ldc: n,
                           bias: epilogue.bias, residual: epilogue.residual, relu: epilogue.relu)
            }
        } else if n >= Self.columnSplitThreshold {
            // Column chunks that fit the L2 cache, each unfolded and multiplied by the thread that
            // claims it, in its own slice of the scratch; at least a few chunks per thread.
            let chunks = max((n + chunkColumns - 1) / chunkColumns, Parallel.parts(units: n / 64, threads: threads))
            let chunk = (n + chunks - 1) / chunks
            Parallel.run(parts: (n + chunk - 1) / chunk, threads: threads) { part in
                let col = scratch.base + part.thread * k * chunkColumns
                let cols = (part.index * chunk)..<min(n, (part.index + 1) * chunk)
                Im2Col.forward(input, geometry: g, channels: 0..<g.inChannels, columns: cols, into: col, ldcol: cols.count)
                w.multiply(n: cols.count, b: col, ldb: cols.count, c: output.base + cols.lowerBound, ldc: n,
                           bias: epilogue.bias, residual: epilogue.residual.map { $0 + cols.lowerBound }, relu: epilogue.relu)
            }
        } else if usesDepthSplit(parts: threads) {
            let col = scratch.base, taps = g.kernelHeight * g.kernelWidth, cout = g.outChannels
            let partials = col + k * n
            // Part i takes the i-th slice of the input channels (and, below, of the output channels),
            // which the pool gives to the same thread step after step (cxr_pool.c).
            Parallel.run(parts: threads, threads: threads) { part in
                let channels = part.range(of: g.inChannels)
                let rows = (channels.lowerBound * taps)..<(channels.upperBound * taps)
                Im2Col.forward(input, geometry: g, channels: channels, columns: 0..<n, into: col + rows.lowerBound * n, ldcol: n)
                w.multiply(depth: rows, n: n, b: col + rows.lowerBound * n, ldb: n, c: partials + part.index * cout * n, ldc: n)
            }
            Parallel.run(parts: threads, threads: threads) { part in
                Self.addPartials(partials, count: threads, stride: cout * n, channels: part.range(of: cout), n: n, into: output.base,
                                 epilogue: epilogue)
            }
        } else {
            let col = scratch.base, taps = g.kernelHeight * g.kernelWidth
            Parallel.run(parts: Parallel.parts(units: g.inChannels, threads: threads), threads: threads) { part in
                let channels = part.range(of: g.inChannels)
                Im2Col.forward(input, geometry: g, channels: channels, columns: 0..<n,
                               into: col + channels.lowerBound * taps * n, ldcol: n)
            }
            Parallel.run(parts: rowParts, threads: threads) { part in
                w.multiply(rows: w.rowRange(part), n: n, b: col, ldb: n, c: output.base, ldc: n,
                           bias: epilogue.bias, residual: epilogue.residual, relu: epilogue.relu)
            }
        }
    }

    /// out[o·n + j] = epilogue(Σ_t partials[t·stride + o·n + j]) for the output channels `channels`.
    private static func addPartials(_ partials: UnsafeMutablePointer<Float>, count: Int, stride: Int, channels: Range<Int>, n: Int,
                                    into out: UnsafeMutablePointer<Float>, epilogue: Epilogue) {
        typealias V = SIMD16<Float>
        func load(_ p: UnsafePointer<Float>) -> V { UnsafeRawPointer(p).loadUnaligned(as: V.self) }
        for o in channels {
            let row = o * n, bias = epilogue.bias[o]
            var j = 0
            while j + 16 <= n {
                var x = load(partials + row + j) + V(repeating: bias)
                for t in 1..<count { x += load(partials + t * stride + row + j) }
                if let residual = epilogue.residual { x += load(residual + row + j) }
                if epilogue.relu { x = x.replacing(with: 0, where: x .< 0) }
                UnsafeMutableRawPointer(out + row + j).storeBytes(of: x, as: V.self)
                j += 16
            }
            while j < n {
                var x = partials[row + j] + bias
                for t in 1..<count { x += partials[t * stride + row + j] }
                if let residual = epilogue.residual { x += residual[row + j] }
                out[row + j] = epilogue.relu ? max(x, 0) : x
                j += 1
            }
        }
    }

    /// Tensor convenience: [N, Cin, H, W] → [N, Cout, oh, ow], images one after another.
    public func callAsFunction(_ input: Tensor, relu: Bool = false, parts: Int = 1) -> Tensor {
        precondition(input.shape.count == 4, "conv input must be [N, C, H, W], got \(input.shape)")
        let (batch, h, w) = (input.shape[0], input.shape[2], input.shape[3])
        let (oh, ow) = outputSize(height: h, width: w)
        let inCount = geometry.inChannels * h * w, outCount = geometry.outChannels * oh * ow
        let scratchCount = scratchCount(height: h, width: w, parts: parts)
        let space = Workspace(capacity: inCount + outCount + scratchCount)
        let x = space.featureMap(at: 0, channels: geometry.inChannels, height: h, width: w)
        let y = space.featureMap(at: inCount, channels: geometry.outChannels, height: oh, width: ow)
        var out = [Float](repeating: 0, count: batch * outCount)
        withExtendedLifetime(space) {  // x and y point into it
            for i in 0..<batch {
                x.load(from: input, image: i)
                forward(x, into: y, relu: relu, scratch: space.scratch(at: inCount + outCount, count: scratchCount), parts: parts)
                y.store(into: &out, image: i)
            }
        }
        return Tensor(shape: [batch, geometry.outChannels, oh, ow], scalars: out)
    }

    /// Reference forward on tensors (im2col + sgemm per image), no preparation: [N, Cin, H, W] → [N, Cout, oh, ow].
    public static func forward(_ input: Tensor, weight: Tensor, bias: Tensor?, stride: Int = 1, padding: Int = 0) -> Tensor {
        Conv2D(weight: weight, bias: bias, stride: stride, padding: padding)(input)
    }
}

/// What a convolution adds to its raw output, fused into the GEMM's stores or the Winograd output
/// transform: + bias[channel], + residual, then ReLU.
struct Epilogue: @unchecked Sendable {
    let bias: UnsafePointer<Float>
    let residual: UnsafePointer<Float>?
    let relu: Bool

    init(bias: UnsafeMutablePointer<Float>, residual: UnsafeMutablePointer<Float>?, relu: Bool) {
        self.bias = UnsafePointer(bias)
        self.residual = residual.map { UnsafePointer($0) }
        self.relu = relu
    }

    /// Applies to one output row given separately computed values: out[j] = f(values(j)).
    @inline(__always)
    func value(_ v: Float, channel: Int, index: Int) -> Float {
        var x = v + bias[channel]
        if let residual { x += residual[index] }
        return relu ? max(x, 0) : x
    }
}
