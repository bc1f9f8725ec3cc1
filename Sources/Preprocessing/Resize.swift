import XRayCore

/// Pillow's `Image.resize(size, Image.BILINEAR)` for 8-bit grey ('L') images, reproduced exactly.
///
/// Pillow's resampler (libImaging/Resample.c) is a separable convolution: a horizontal and a
/// vertical pass (in an order that depends on the sizes, see below), each skipped when that
/// dimension does not change. Per output pixel it precomputes
/// normalised triangle-filter weights whose support widens with the downscale factor (so
/// downscaling averages, "antialias"), turns them into 22-bit fixed point, and accumulates
/// `UInt8 * Int32` sums that start at one half and are shifted back and clipped to 0...255.
/// Everything here follows the same arithmetic, in the same precision, so results are bit-identical.
public enum PillowResize {
    /// Fixed-point fraction bits of the 8-bit path: 32 - 8 - 2.
    static let precisionBits = 22

    public static func bilinear(_ image: GrayImage, width: Int, height: Int) -> GrayImage {
        precondition(width > 0 && height > 0, "resize target must be positive, got \(width)x\(height)")
        let needHorizontal = width != image.width
        let needVertical = height != image.height
        if !needHorizontal && !needVertical { return image }

        let vertical = Coefficients(inSize: image.height, outSize: height)
        let horizontal = Coefficients(inSize: image.width, outSize: width)

        // Each pass rounds to 8 bits, so the order of the passes shows in the result. Pillow 13
        // resamples vertically first when the height shrinks by more than twice as many pixels
        // as the width does (python-pillow/Pillow#9549), horizontally first otherwise; this rule
        // was confirmed against Pillow 13.0 on hundreds of random sizes, boundary cases included.
        let verticalFirst = needHorizontal && needVertical
            && height < image.height && image.height - height > 2 * (image.width - width)

        if verticalFirst {
            let columns = resampleColumns(
                image.pixels, width: image.width, rowOffset: 0, outHeight: height, coefficients: vertical)
            let pixels = resampleRows(
                columns, inWidth: image.width, rows: 0..<height, coefficients: horizontal)
            return GrayImage(width: width, height: height, pixels: pixels)
        }

        var source = image.pixels
        var sourceWidth = image.width
        var rowOffset = 0
        if needHorizontal {
            // Only the rows the vertical pass will read (Pillow's "ybox").
            let firstRow = needVertical ? vertical.start[0] : 0
            let lastRow = needVertical
                ? vertical.start[height - 1] + vertical.count[height - 1] : image.height
            source = resampleRows(
                image.pixels, inWidth: image.width, rows: firstRow..<lastRow, coefficients: horizontal)
            sourceWidth = width
            rowOffset = firstRow
        }
        if needVertical {
            source = resampleColumns(
                source, width: sourceWidth, rowOffset: rowOffset, outHeight: height,
                coefficients: vertical)
        }
        return GrayImage(width: width, height: height, pixels: source)
    }

    /// Per output position: first input index, number of taps, and `taps` fixed-point weights
    /// (zero-padded to `taps` each).
    struct Coefficients {
        var start: [Int]
        var count: [Int]
        var weights: [Int32]
        var taps: Int

        init(inSize: Int, outSize: Int) {
            // Pillow computes `(double)(in1 - in0) / outSize` with a float box (0, inSize).
            let scale = Double(Float(inSize)) / Double(outSize)
            let filterScale = max(scale, 1.0)
            let support = 1.0 * filterScale  // bilinear (triangle) filter support is 1
            taps = Int(support.rounded(.up)) * 2 + 1
            start = [Int](repeating: 0, count: outSize)
            count = [Int](repeating: 0, count: outSize)
            weights = [Int32](repeating: 0, count: outSize * taps)
            let invFilterScale = 1.0 / filterScale
            let one = Double(1 << PillowResize.precisionBits)
            var w = [Double](repeating: 0, count: taps)

            for xx in 0..<outSize {
                let center = (Double(xx) + 0.5) * scale
                // C `(int)` truncates toward zero.
                let xmin = max(Int(center - support + 0.5), 0)
                let xmax = min(Int(center + support + 0.5), inSize) - xmin
                var total = 0.0
                for x in 0..<xmax {
                    let value = Self.triangle((Double(x + xmin) - center + 0.5) * invFilterScale)
                    w[x] = value
                    total += value
                }
                for x in 0..<xmax {
                    let k = total != 0 ? w[x] / total : w[x]
                    weights[xx * taps + x] = k < 0 ? Int32(-0.5 + k * one) : Int32(0.5 + k * one)
                }
                start[xx] = xmin
                count[xx] = xmax
            }
        }

        @inline(__always)
        static func triangle(_ x: Double) -> Double {
            let a = abs(x)
            return a < 1.0 ? 1.0 - a : 0.0
        }
    }

    /// Pillow's `clip8`: the accumulator shifted back to 8 bits and clamped.
    @inline(__always)
    static func clip8(_ sum: Int32) -> UInt8 {
        let v = sum >> Int32(precisionBits)
        return v < 0 ? 0 : v > 255 ? 255 : UInt8(truncatingIfNeeded: v)
    }

    /// Horizontal pass over `rows` of the input; the result has `rows.count` rows of `coefficients.start.count`.
    static func resampleRows(
        _ input: [UInt8], inWidth: Int, rows: Range<Int>, coefficients c: Coefficients
    ) -> [UInt8] {
        let outWidth = c.start.count
        let half = Int32(1 << (precisionBits - 1))
        return [UInt8](unsafeUninitializedCapacity: outWidth * rows.count) { out, initialized in
            input.withUnsafeBufferPointer { src in
                c.weights.withUnsafeBufferPointer { weights in
                    c.start.withUnsafeBufferPointer { starts in
                        c.count.withUnsafeBufferPointer { counts in
                            for (outRow, y) in rows.enumerated() {
                                let rowBase = y * inWidth
                                let outBase = outRow * outWidth
                                for xx in 0..<outWidth {
                                    let first = rowBase + starts[xx]
                                    let k = xx * c.taps
                                    var sum = half
                                    for x in 0..<counts[xx] {
                                        sum &+= Int32(src[first + x]) &* weights[k + x]
                                    }
                                    out[outBase + xx] = clip8(sum)
                                }
                            }
                        }
                    }
                }
            }
            initialized = outWidth * rows.count
        }
    }

    /// Vertical pass. Input rows are numbered from `rowOffset` (the first row the horizontal pass kept).
    /// Sums are accumulated row by row; integer addition makes the order irrelevant to the result.
    static func resampleColumns(
        _ input: [UInt8], width: Int, rowOffset: Int, outHeight: Int, coefficients c: Coefficients
    ) -> [UInt8] {
        let half = Int32(1 << (precisionBits - 1))
        var sums = [Int32](repeating: 0, count: width)
        return [UInt8](unsafeUninitializedCapacity: width * outHeight) { out, initialized in
            input.withUnsafeBufferPointer { src in
                sums.withUnsafeMutableBufferPointer { acc in
                    for yy in 0..<outHeight {
                        for x in 0..<width { acc[x] = half }
                        let firstRow = c.start[yy] - rowOffset
                        for t in 0..<c.count[yy] {
                            let w = c.weights[yy * c.taps + t]
                            let rowBase = (firstRow + t) * width
                            for x in 0..<width {
                                acc[x] &+= Int32(src[rowBase + x]) &* w
                            }
                        }
                        let outBase = yy * width
                        for x in 0..<width { out[outBase + x] = clip8(acc[x]) }
                    }
                }
            }
            initialized = width * outHeight
        }
    }
}
