import XRayCore

/// Training-mode convolution (no bias, weights that change every step) on whole batches:
/// forward Y_i = W · im2col(X_i); backward dW = Σ_i dY_i · im2col(X_i)ᵀ and dX_i = col2im(Wᵀ · dY_i).
///
/// Every product runs on the CKernels micro-kernels (`PackedGEMM`, chosen from the CPU at run time):
/// W (or Wᵀ) is packed once per call, since Adam changes it every step; the weight gradient reads
/// im2col's transpose (`Im2Col.rows`) in place and packs dY_i. Images are split between `threads`
/// in fixed parts (one part per thread), each with its own slice of the scratch, and each part sums
/// its images' weight gradients in image order before the parts are added in part order: the result
/// does not depend on which thread ran which part.
///
/// Given `WinogradWeights` (3×3 stride-1 layers), the forward and the input gradient run as
/// Winograd convolutions instead, each image on its thread; the weight gradient stays on im2row.
extension Conv2D {
    /// Floats of scratch `forwardBatch` needs: the packed weights, and per thread a column matrix
    /// (or Winograd's transform-domain data).
    package static func forwardScratchCount(_ g: ConvGeometry, height: Int, width: Int, threads: Int,
                                           winograd: WinogradWeights? = nil) -> Int {
        let n = g.outputHeight(height) * g.outputWidth(width)
        if let winograd { return max(1, threads) * winograd.scratchCount(height: height, width: width) }
        return PackedGEMM.packedCount(rows: g.outChannels, depth: g.patchSize)
            + (g.isPointwise ? 0 : max(1, threads) * g.patchSize * n)
    }

    /// Floats of scratch `backwardBatch` needs: the packed Wᵀ; per thread a [patch × pixels] matrix
    /// (im2col's transpose, then the column gradient) and the packed output gradient of one image;
    /// and a partial weight gradient for every thread but the first.
    package static func backwardScratchCount(_ g: ConvGeometry, height: Int, width: Int, threads: Int,
                                            winograd: WinogradWeights? = nil) -> Int {
        let t = max(1, threads), n = g.outputHeight(height) * g.outputWidth(width), k = g.patchSize
        return PackedGEMM.packedCount(rows: k, depth: g.outChannels)
            + t * (matrixCount(g, height: height, width: width, winograd: winograd) + PackedGEMM.packedCount(rows: g.outChannels, depth: n))
            + (t - 1) * g.outChannels * k
    }

    /// Per-thread floats of backward's matrix: im2row's [pixels × patch], which then holds the column
    /// gradient or, with Winograd, the input gradient's transform-domain data.
    private static func matrixCount(_ g: ConvGeometry, height: Int, width: Int, winograd: WinogradWeights?) -> Int {
        let kn = g.patchSize * g.outputHeight(height) * g.outputWidth(width)
        return max(kn, winograd?.scratchCount(height: height, width: width) ?? 0)
    }

    /// y = conv(x, weight) for every image; weight [Cout, Cin, kh, kw]. With `winograd` (built for
    /// this geometry), its weights are loaded from `weight` first, for this call and the backward.
    package static func forwardBatch(_ x: FeatureBatch, weight: UnsafePointer<Float>, geometry g: ConvGeometry,
                                    into y: FeatureBatch, scratch: Scratch, threads: Int, winograd: WinogradWeights? = nil) {
        let (oh, ow) = (g.outputHeight(x.height), g.outputWidth(x.width))
        precondition(x.channels == g.inChannels && y.shape == [x.images, g.outChannels, oh, ow],
                     "conv: input \(x.shape) / output \(y.shape) do not match \(g)")
        let n = oh * ow, k = g.patchSize, parts = max(1, min(threads, x.images))
        precondition(scratch.count >= forwardScratchCount(g, height: x.height, width: x.width, threads: parts, winograd: winograd),
                     "conv scratch too small")
        if let winograd {
            precondition(winograd.geometry == g, "Winograd weights for \(winograd.geometry), conv \(g)")
            winograd.load(weight: weight)
            let per = winograd.scratchCount(height: x.height, width: x.width)
            Parallel.run(parts: parts) { part in
                let mine = Scratch(base: scratch.base + part.index * per, count: per)
                for i in part.range(of: x.images) { winograd.forward(x.image(i), into: y.image(i), scratch: mine) }
            }
            return
        }
        let packed = scratch.base, columns = packed + PackedGEMM.packedCount(rows: g.outChannels, depth: k)
        PackedGEMM.pack(rows: g.outChannels, depth: k, a: weight, lda: k, transposed: false, into: packed)
        Parallel.run(parts: parts) { part in
            let col = columns + part.index * k * n
            for i in part.range(of: x.images) {
                let xi = x.image(i)
                let b: UnsafeMutablePointer<Float>
                if g.isPointwise {
                    b = xi.base
                } else {
                    Im2Col.forward(xi, geometry: g, channels: 0..<g.inChannels, columns: 0..<n, into: col, ldcol: n)
                    b = col
                }
                PackedGEMM.multiply(rows: g.outChannels, n: n, depth: k, packed: packed, b: b, ldb: n, c: y.image(i).base, ldc: n)
            }
        }
    }

    /// Writes the weight gradient Σ_i dY_i · im2col(X_i)ᵀ into `gradWeight` [Cout, Cin·kh·kw] when it is
    /// given (nil: a frozen layer, as in Grad-CAM's backward) and, when `gradInput` is given,
    /// col2im(Wᵀ · dY_i) into it (added to what is there if `accumulateInput`).
    /// `winograd` must hold `weight` (the forward loaded it).
    package static func backwardBatch(input x: FeatureBatch, gradOutput dy: FeatureBatch, weight: UnsafePointer<Float>,
                                     geometry g: ConvGeometry, gradWeight: UnsafeMutablePointer<Float>?,
                                     gradInput dx: FeatureBatch?, accumulateInput: Bool = false,
                                     scratch: Scratch, threads: Int, winograd: WinogradWeights? = nil) {
        let (oh, ow) = (g.outputHeight(x.height), g.outputWidth(x.width))
        precondition(x.channels == g.inChannels && dy.shape == [x.images, g.outChannels, oh, ow],
                     "conv backward: input \(x.shape) / gradient \(dy.shape) do not match \(g)")
        if let dx { precondition(dx.shape == x.shape, "conv backward: input gradient \(dx.shape) != input \(x.shape)") }
        let n = oh * ow, k = g.patchSize, cout = g.outChannels, parts = max(1, min(threads, x.images))
        precondition(scratch.count >= backwardScratchCount(g, height: x.height, width: x.width, threads: parts, winograd: winograd),
                     "conv scratch too small")
        if let winograd { precondition(winograd.geometry == g, "Winograd weights for \(winograd.geometry), conv \(g)") }
        let packedWT = scratch.base, packedDYCount = PackedGEMM.packedCount(rows: cout, depth: n)
        let matrixCount = matrixCount(g, height: x.height, width: x.width, winograd: winograd)
        let perThread = packedWT + PackedGEMM.packedCount(rows: k, depth: cout)
        let partials = perThread + parts * (matrixCount + packedDYCount)
        if dx != nil && winograd == nil { PackedGEMM.pack(rows: k, depth: cout, a: weight, lda: k, transposed: true, into: packedWT) }
        Parallel.run(parts: parts) { part in
            let matrix = perThread + part.index * (matrixCount + packedDYCount), packedDY = matrix + matrixCount
            let dw = gradWeight.map { part.index == 0 ? $0 : partials + (part.index - 1) * cout * k }
            var first = true
            for i in part.range(of: x.images) {
                let dyi = dy.image(i).base
                if let dw {
                    // dW (+)= dY_i [cout × n] · im2col(X_i)ᵀ [n × k]
                    Im2Col.rows(x.image(i), geometry: g, into: matrix)
                    PackedGEMM.pack(rows: cout, depth: n, a: dyi, lda: n, transposed: false, into: packedDY)
                    PackedGEMM.multiply(rows: cout, n: k, depth: n, packed: packedDY, b: matrix, ldb: k, c: dw, ldc: k, accumulate: !first)
                    first = false
                }
                guard let dx else { continue }
                // dX_i = col2im(Wᵀ [k × cout] · dY_i [cout × n])
                let dxi = dx.image(i)
                if let winograd {
                    winograd.backwardInput(dy.image(i), into: dxi, accumulate: accumulateInput,
                                           scratch: Scratch(base: matrix, count: matrixCount))
                } else if g.isPointwise {
                    PackedGEMM.multiply(rows: k, n: n, depth: cout, packed: packedWT, b: dyi, ldb: n, c: dxi.base, ldc: n,
                                        accumulate: accumulateInput)
                } else {
                    PackedGEMM.multiply(rows: k, n: n, depth: cout, packed: packedWT, b: dyi, ldb: n, c: matrix, ldc: n)
                    if !accumulateInput { dxi.base.update(repeating: 0, count: dxi.count) }
                    Im2Col.backward(matrix, ldcol: n, geometry: g, into: dxi)
                }
            }
            if first { dw?.update(repeating: 0, count: cout * k) }
        }
        if parts > 1, let gradWeight {
            Parallel.run(parts: parts) { part in
                let r = part.range(of: cout * k)
                for t in 1..<parts {
                    let src = partials + (t - 1) * cout * k
                    for j in r { gradWeight[j] += src[j] }
                }
            }
        }
    }

    /// Tensor convenience: gradients of conv(x, weight) (no bias) for output gradient dY.
    /// Returns dX [N, Cin, H, W] and dW [Cout, Cin, kh, kw].
    public static func backward(input: Tensor, weight: Tensor, gradOutput: Tensor, stride: Int = 1, padding: Int = 0,
                                threads: Int = 1) -> (gradInput: Tensor, gradWeight: Tensor) {
        precondition(weight.shape.count == 4 && weight.shape[2] == weight.shape[3] && input.shape.count == 4)
        let g = ConvGeometry(inChannels: weight.shape[1], outChannels: weight.shape[0], kernel: weight.shape[2],
                             stride: stride, padding: padding)
        let dw = FloatBuffer(count: weight.count), dx = FloatBuffer(count: input.count)
        let scratch = FloatBuffer(count: backwardScratchCount(g, height: input.shape[2], width: input.shape[3], threads: threads))
        _ = input.withBatch { x in
            gradOutput.withBatch { dy in
                weight.scalars.withUnsafeBufferPointer { w in
                    backwardBatch(input: x, gradOutput: dy, weight: w.baseAddress!, geometry: g, gradWeight: dw.base,
                                  gradInput: dx.batch(images: x.images, channels: x.channels, height: x.height, width: x.width),
                                  scratch: scratch.scratch(count: scratch.count), threads: threads)
                }
            }
        }
        return (Tensor(shape: input.shape, scalars: dx.array), Tensor(shape: weight.shape, scalars: dw.array))
    }

    /// Tensor convenience: the input gradient alone of conv(x, weight) (no bias) for output gradient
    /// dY, through a layer whose weights stay fixed: [N, Cin, H, W]. The same backward as training's,
    /// without the weight gradient.
    public static func backwardInput(input: Tensor, weight: Tensor, gradOutput: Tensor, geometry g: ConvGeometry,
                                     threads: Int = 1) -> Tensor {
        precondition(weight.shape == [g.outChannels, g.inChannels, g.kernelHeight, g.kernelWidth] && input.shape.count == 4,
                     "conv backward: weight \(weight.shape) / input \(input.shape) do not match \(g)")
        let dx = FloatBuffer(count: input.count)
        let scratch = FloatBuffer(count: backwardScratchCount(g, height: input.shape[2], width: input.shape[3], threads: threads))
        _ = input.withBatch { x in
            gradOutput.withBatch { dy in
                weight.scalars.withUnsafeBufferPointer { w in
                    backwardBatch(input: x, gradOutput: dy, weight: w.baseAddress!, geometry: g, gradWeight: nil,
                                  gradInput: dx.batch(images: x.images, channels: x.channels, height: x.height, width: x.width),
                                  scratch: scratch.scratch(count: scratch.count), threads: threads)
                }
            }
        }
        return Tensor(shape: input.shape, scalars: dx.array)
    }

    /// Tensor convenience for the training forward (no bias).
    public static func forwardTraining(_ input: Tensor, weight: Tensor, stride: Int = 1, padding: Int = 0, threads: Int = 1) -> Tensor {
        let g = ConvGeometry(inChannels: weight.shape[1], outChannels: weight.shape[0], kernel: weight.shape[2],
                             stride: stride, padding: padding)
        let (n, h, w) = (input.shape[0], input.shape[2], input.shape[3])
        let out = FloatBuffer(count: n * g.outChannels * g.outputHeight(h) * g.outputWidth(w))
        let scratch = FloatBuffer(count: forwardScratchCount(g, height: h, width: w, threads: threads))
        _ = input.withBatch { x in
            weight.scalars.withUnsafeBufferPointer { wp in
                forwardBatch(x, weight: wp.baseAddress!, geometry: g,
                             into: out.batch(images: n, channels: g.outChannels, height: g.outputHeight(h), width: g.outputWidth(w)),
                             scratch: scratch.scratch(count: scratch.count), threads: threads)
            }
        }
        return Tensor(shape: [n, g.outChannels, g.outputHeight(h), g.outputWidth(w)], scalars: out.array)
    }
}
