/// Shape of a 2-D convolution (no dilation, no groups).
public struct ConvGeometry: Sendable, Hashable {
    public var inChannels: Int
    public var outChannels: Int
    public var kernelHeight: Int
    public var kernelWidth: Int
    public var stride: Int
    public var padding: Int

    public init(inChannels: Int, outChannels: Int, kernel: Int, stride: Int = 1, padding: Int = 0) {
        precondition(inChannels > 0 && outChannels > 0 && kernel > 0 && stride > 0 && padding >= 0)
        self.inChannels = inChannels
        self.outChannels = outChannels
        self.kernelHeight = kernel
        self.kernelWidth = kernel
        self.stride = stride
        self.padding = padding
    }

    /// Rows of the im2col matrix: Cin · kh · kw.
    public var patchSize: Int { inChannels * kernelHeight * kernelWidth }

    public func outputHeight(_ height: Int) -> Int { (height + 2 * padding - kernelHeight) / stride + 1 }
    public func outputWidth(_ width: Int) -> Int { (width + 2 * padding - kernelWidth) / stride + 1 }

    /// True when the im2col matrix would equal the input itself (1x1, stride 1, no padding).
    public var isPointwise: Bool { kernelHeight == 1 && kernelWidth == 1 && stride == 1 && padding == 0 }
}

/// im2col: unfolds convolution patches into a matrix so the convolution becomes one GEMM.
///
/// Row `(c · kh + ky) · kw + kx`, column `oy · outW + ox` holds input[c, oy·s − p + ky, ox·s − p + kx]
/// (zero outside the image): the layout of PyTorch's `unfold` and of a [Cout, Cin, kh, kw] weight.
/// For a group of G images the columns of image g follow those of image g − 1 (G · outH · outW in all).
package enum Im2Col {
    /// Writes rows `channels` (as whole channel blocks) and columns `columns` of the matrix into
    /// `col`, whose rows are `ldcol` floats apart; column `columns.lowerBound` lands at `col[row · ldcol]`.
    package static func forward(
        _ input: FeatureMap, geometry g: ConvGeometry, channels: Range<Int>, columns: Range<Int>,
        into col: UnsafeMutablePointer<Float>, ldcol: Int
    ) {
        let h = input.height, w = input.width
        let outW = g.outputWidth(w), outH = g.outputHeight(h)
        let perImage = outH * outW
        precondition(columns.lowerBound >= 0 && columns.upperBound <= input.images * perImage && ldcol >= columns.count)
        let s = g.stride, p = g.padding, kh = g.kernelHeight, kw = g.kernelWidth
        let firstRow = channels.lowerBound * kh * kw
        for c in channels {
            for ky in 0..<kh {
                for kx in 0..<kw {
                    let dst = col + ((c * kh + ky) * kw + kx - firstRow) * ldcol
                    // Output columns whose input x is inside the image: ox·s − p + kx in [0, w).
                    let oxLo = min(outW, max(0, (p - kx + s - 1) / s))
                    let last = w - 1 + p - kx
                    let oxHi = last < 0 ? oxLo : max(oxLo, min(outW, last / s + 1))
                    var j = columns.lowerBound
                    while j < columns.upperBound {
                        let g = j / perImage, local = j - g * perImage
                        let plane = input.plane(channel: c, image: g)
                        let oy = local / outW, ox0 = local - oy * outW
                        let ox1 = min(outW, ox0 + (columns.upperBound - j))
                        let out = dst + (j - columns.lowerBound) - ox0
                        let iy = oy * s - p + ky
                        if iy < 0 || iy >= h {
                            for ox in ox0..<ox1 { out[ox] = 0 }
                        } else {
                            let row = plane + iy * w - p + kx
                            let lo = max(ox0, oxLo), hi = min(ox1, oxHi)
                            if lo >= hi {
                                for ox in ox0..<ox1 { out[ox] = 0 }
                            } else {
                                for ox in ox0..<lo { out[ox] = 0 }
                                if s == 1 {
                                    (out + lo).update(from: row + lo, count: hi - lo)
                                } else if s == 2 {
                                    // Even lanes of 8-float loads; a load may not reach past the row's last pixel.
                                    var ox = lo
                                    let lastInRow = w - 1 + p - kx  // row[lastInRow] is the row's last pixel
                                    while ox + 4 <= hi && 2 * ox + 7 <= lastInRow {
                                        let v = UnsafeRawPointer(row + 2 * ox).loadUnaligned(as: SIMD8<Float>.self)
                                        UnsafeMutableRawPointer(out + ox).storeBytes(of: v.evenHalf, as: SIMD4<Float>.self)
                                        ox += 4
                                    }
                                    while ox < hi { out[ox] = row[2 * ox]; ox += 1 }
                                } else {
                                    for ox in lo..<hi { out[ox] = row[ox * s] }
                                }
                                for ox in hi..<ox1 { out[ox] = 0 }
                            }
                        }
                        j += ox1 - ox0
                    }
                }
            }
        }
    }

    /// Whole-matrix convenience: [Cin·kh·kw, outH·outW] for one image [Cin, H, W].
    package static func matrix(_ image: [Float], channels: Int, height: Int, width: Int, geometry g: ConvGeometry) -> [Float] {
        precondition(image.count == channels * height * width && channels == g.inChannels)
        let n = g.outputHeight(height) * g.outputWidth(width)
        var source = image
        var col = [Float](repeating: .nan, count: g.patchSize * n)
        source.withUnsafeMutableBufferPointer { src in
            col.withUnsafeMutableBufferPointer { dst in
                let map = FeatureMap(base: src.baseAddress!, channels: channels, height: height, width: width)
                forward(map, geometry: g, channels: 0..<channels, columns: 0..<n, into: dst.baseAddress!, ldcol: n)
            }
        }
        return col
    }
}
