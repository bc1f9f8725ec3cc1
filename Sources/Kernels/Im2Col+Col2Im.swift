/// col2im, the adjoint of im2col: used by the convolution's input gradient.
extension Im2Col {
    /// Adds every entry of the column matrix (rows `Cin·kh·kw`, columns `outH·outW`, rows `ldcol`
    /// floats apart) back onto the image position it was copied from: x[c, iy, ix] += col[row, j].
    /// Entries that came from the zero padding are dropped. `image` is not cleared first.
    package static func backward(_ col: UnsafePointer<Float>, ldcol: Int, geometry g: ConvGeometry, into image: FeatureMap) {
        let h = image.height, w = image.width
        let outW = g.outputWidth(w), outH = g.outputHeight(h)
        precondition(image.channels == g.inChannels && ldcol >= outH * outW)
        let s = g.stride, p = g.padding, kh = g.kernelHeight, kw = g.kernelWidth
        for c in 0..<g.inChannels {
            let plane = image.base + c * h * w
            for ky in 0..<kh {
                for kx in 0..<kw {
                    let src = col + ((c * kh + ky) * kw + kx) * ldcol
                    let oxLo = min(outW, max(0, (p - kx + s - 1) / s))
                    let last = w - 1 + p - kx
                    let oxHi = last < 0 ? oxLo : max(oxLo, min(outW, last / s + 1))
                    if oxLo >= oxHi { continue }
                    for oy in 0..<outH {
                        let iy = oy * s - p + ky
                        if iy < 0 || iy >= h { continue }
                        let row = plane + iy * w - p + kx, from = src + oy * outW
                        if s == 1 {
                            for ox in oxLo..<oxHi { row[ox] += from[ox] }
                        } else {
                            for ox in oxLo..<oxHi { row[ox * s] += from[ox] }
                        }
                    }
                }
            }
        }
    }

    /// Whole-matrix convenience: folds [Cin·kh·kw, outH·outW] back into a [Cin, H, W] image.
    package static func image(fromMatrix col: [Float], channels: Int, height: Int, width: Int, geometry g: ConvGeometry) -> [Float] {
        let n = g.outputHeight(height) * g.outputWidth(width)
        precondition(col.count == g.patchSize * n && channels == g.inChannels)
        let out = FloatBuffer(count: channels * height * width)
        col.withUnsafeBufferPointer { src in
            backward(src.baseAddress!, ldcol: n, geometry: g,
                     into: FeatureMap(base: out.base, channels: channels, height: height, width: width))
        }
        return out.array
    }
}
