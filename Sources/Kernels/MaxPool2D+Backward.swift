import XRayCore

/// Max pooling for training: the forward records where each maximum came from, and the backward
/// routes each output gradient to that input position (PyTorch's rule: the first maximum in the
/// window's row-major scan order wins ties).
extension MaxPool2D {
    /// Pools one image and writes, per output, the flat index (y·W + x) of its maximum within the input plane.
    package static func forward(_ input: FeatureMap, into output: FeatureMap, argmax: UnsafeMutablePointer<Int32>,
                               kernel: Int, stride: Int, padding: Int) {
        let h = input.height, w = input.width
        let oh = outputSize(h, kernel: kernel, stride: stride, padding: padding)
        let ow = outputSize(w, kernel: kernel, stride: stride, padding: padding)
        precondition(padding * 2 <= kernel, "padding must be at most half the window")
        precondition(output.shape == [input.channels, oh, ow], "max pool output must be \([input.channels, oh, ow]), got \(output.shape)")
        for c in 0..<input.channels {
            let plane = input.base + c * h * w, out = output.base + c * oh * ow, arg = argmax + c * oh * ow
            for oy in 0..<oh {
                let y0 = max(0, oy * stride - padding), y1 = min(h, oy * stride - padding + kernel)
                for ox in 0..<ow {
                    let x0 = max(0, ox * stride - padding), x1 = min(w, ox * stride - padding + kernel)
                    var best = y0 * w + x0, m = -Float.infinity
                    for y in y0..<y1 {
                        for x in x0..<x1 {
                            let v = plane[y * w + x]
                            if v > m || v.isNaN { m = v; best = y * w + x }
                        }
                    }
                    out[oy * ow + ox] = m
                    arg[oy * ow + ox] = Int32(best)
                }
            }
        }
    }

    /// gradInput = 0, then gradInput[argmax[j]] += gradOutput[j] in every channel.
    package static func backward(gradOutput: FeatureMap, argmax: UnsafePointer<Int32>, into gradInput: FeatureMap) {
        precondition(gradOutput.channels == gradInput.channels)
        let n = gradOutput.planeSize, m = gradInput.planeSize
        gradInput.base.update(repeating: 0, count: gradInput.count)
        for c in 0..<gradOutput.channels {
            let g = gradOutput.base + c * n, arg = argmax + c * n, dst = gradInput.base + c * m
            for j in 0..<n { dst[Int(arg[j])] += g[j] }
        }
    }

    /// Tensor convenience: input gradient of max pooling [N, C, H, W] for output gradient dY.
    public static func backward(input: Tensor, gradOutput: Tensor, kernel: Int, stride: Int, padding: Int) -> Tensor {
        let (n, c, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
        let oh = outputSize(h, kernel: kernel, stride: stride, padding: padding)
        let ow = outputSize(w, kernel: kernel, stride: stride, padding: padding)
        precondition(gradOutput.shape == [n, c, oh, ow], "max pool gradient must be \([n, c, oh, ow]), got \(gradOutput.shape)")
        let pooled = FloatBuffer(count: c * oh * ow), dx = FloatBuffer(count: input.count)
        let argmax = UnsafeMutablePointer<Int32>.allocate(capacity: max(1, c * oh * ow))
        defer { argmax.deallocate() }
        _ = input.withBatch { x in
            gradOutput.withBatch { dy in
                for i in 0..<n {
                    forward(x.image(i), into: FeatureMap(base: pooled.base, channels: c, height: oh, width: ow), argmax: argmax,
                            kernel: kernel, stride: stride, padding: padding)
                    backward(gradOutput: dy.image(i), argmax: argmax,
                             into: FeatureMap(base: dx.base + i * c * h * w, channels: c, height: h, width: w))
                }
            }
        }
        return Tensor(shape: input.shape, scalars: dx.array)
    }
}
