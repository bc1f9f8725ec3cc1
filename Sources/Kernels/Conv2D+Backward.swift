import XRayCore

/// Training-mode convolution (no bias, weights that change every step) on whole batches:
/// forward Y_i = W · im2col(X_i); backward dW = Σ_i dY_i · im2col(X_i)ᵀ and dX_i = col2im(Wᵀ · dY_i).
///
/// Images are split between `threads` (one sgemm per image per thread), which keeps both cores
/// busy on the small matrices of a ResNet; each thread owns a slice of the scratch.
extension Conv2D {
    /// Floats of scratch `forwardBatch` needs.
    public static func forwardScratchCount(_ g: ConvGeometry, height: Int, width: Int, threads: Int) -> Int {
        g.isPointwise ? 0 : max(1, threads) * g.patchSize * g.outputHeight(height) * g.outputWidth(width)
    }

    /// Floats of scratch `backwardBatch` needs: per thread a column matrix and its gradient, and a
    /// partial weight gradient for every thread but the first.
    public static func backwardScratchCount(_ g: ConvGeometry, height: Int, width: Int, threads: Int) -> Int {
        let t = max(1, threads), kn = g.patchSize * g.outputHeight(height) * g.outputWidth(width)
        return t * 2 * kn + (t - 1) * g.outChannels * g.patchSize
    }

    /// y = conv(x, weight) for every image; weight [Cout, Cin, kh, kw].
    public static func forwardBatch(_ x: FeatureBatch, weight: UnsafePointer<Float>, geometry g: ConvGeometry,
                                    into y: FeatureBatch, scratch: Scratch, threads: Int) {
        let (oh, ow) = (g.outputHeight(x.height), g.outputWidth(x.width))
        precondition(x.channels == g.inChannels && y.shape == [x.images, g.outChannels, oh, ow],
                     "conv: input \(x.shape) / output \(y.shape) do not match \(g)")
        let n = oh * ow, k = g.patchSize, parts = max(1, min(threads, x.images))
        precondition(scratch.count >= forwardScratchCount(g, height: x.height, width: x.width, threads: parts), "conv scratch too small")
        Parallel.run(parts: parts) { part in
            let col = scratch.base + part.index * k * n
            for i in part.range(of: x.images) {
                let xi = x.image(i)
                let b: UnsafeMutablePointer<Float>
                if g.isPointwise {
                    b = xi.base
                } else {
                    Im2Col.forward(xi, geometry: g, channels: 0..<g.inChannels, columns: 0..<n, into: col, ldcol: n)
                    b = col
                }
                GEMM.sgemm(m: g.outChannels, n: n, k: k, a: weight, lda: k, b: b, ldb: n, c: y.image(i).base, ldc: n)
            }
        }
    }

    /// Writes the weight gradient Σ_i dY_i · im2col(X_i)ᵀ into `gradWeight` [Cout, Cin·kh·kw] and,
    /// when `gradInput` is given, col2im(Wᵀ · dY_i) into it (added to what is there if `accumulateInput`).
    public static func backwardBatch(input x: FeatureBatch, gradOutput dy: FeatureBatch, weight: UnsafePointer<Float>,
                                     geometry g: ConvGeometry, gradWeight: UnsafeMutablePointer<Float>,
                                     gradInput dx: FeatureBatch?, accumulateInput: Bool = false,
                                     scratch: Scratch, threads: Int) {
        let (oh, ow) = (g.outputHeight(x.height), g.outputWidth(x.width))
        precondition(x.channels == g.inChannels && dy.shape == [x.images, g.outChannels, oh, ow],
                     "conv backward: input \(x.shape) / gradient \(dy.shape) do not match \(g)")
        if let dx { precondition(dx.shape == x.shape, "conv backward: input gradient \(dx.shape) != input \(x.shape)") }
        let n = oh * ow, k = g.patchSize, cout = g.outChannels, parts = max(1, min(threads, x.images))
        precondition(scratch.count >= backwardScratchCount(g, height: x.height, width: x.width, threads: parts), "conv scratch too small")
        let partials = scratch.base + parts * 2 * k * n
        Parallel.run(parts: parts) { part in
            let col = scratch.base + part.index * 2 * k * n, dcol = col + k * n
            let dw = part.index == 0 ? gradWeight : partials + (part.index - 1) * cout * k
            var first = true
            for i in part.range(of: x.images) {
                let xi = x.image(i), dyi = dy.image(i).base
                let b: UnsafeMutablePointer<Float>
                if g.isPointwise {
                    b = xi.base
                } else {
                    Im2Col.forward(xi, geometry: g, channels: 0..<g.inChannels, columns: 0..<n, into: col, ldcol: n)
                    b = col
                }
                GEMM.sgemm(transB: true, m: cout, n: k, k: n, a: dyi, lda: n, b: b, ldb: n,
                           beta: first ? 0 : 1, c: dw, ldc: k)
                first = false
                guard let dx else { continue }
                let dxi = dx.image(i)
                if g.isPointwise {
                    GEMM.sgemm(transA: true, m: k, n: n, k: cout, a: weight, lda: k, b: dyi, ldb: n,
                               beta: accumulateInput ? 1 : 0, c: dxi.base, ldc: n)
                } else {
                    GEMM.sgemm(transA: true, m: k, n: n, k: cout, a: weight, lda: k, b: dyi, ldb: n, c: dcol, ldc: n)
                    if !accumulateInput { dxi.base.update(repeating: 0, count: dxi.count) }
                    Im2Col.backward(dcol, ldcol: n, geometry: g, into: dxi)
                }
            }
            if first { dw.update(repeating: 0, count: cout * k) }
        }
        if parts > 1 {
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
