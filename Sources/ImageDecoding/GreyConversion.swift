/// Colour to grey exactly as Pillow's `Image.convert("L")` does it (ITU-R 601-2 luma in 16-bit
/// fixed point: L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16). Alpha is ignored, as Pillow does.
enum GreyConversion {
    /// Interleaved samples with `channels` per pixel (2 grey+alpha, 3 RGB, 4 RGBA) to grey.
    /// `equalChannels` is true when every pixel had R == G == B (or, for 2 channels, always).
    static func grey(
        fromInterleaved samples: UnsafeBufferPointer<UInt8>, channels: Int, pixelCount: Int
    ) -> (pixels: [UInt8], equalChannels: Bool) {
        precondition(samples.count >= pixelCount * channels)
        var allEqual = true
        let out = [UInt8](unsafeUninitializedCapacity: pixelCount) { buffer, initialized in
            switch channels {
            case 1, 2:
                for i in 0..<pixelCount { buffer[i] = samples[i * channels] }
            default:
                var equal = true
                for i in 0..<pixelCount {
                    let base = i * channels
                    let r = samples[base], g = samples[base + 1], b = samples[base + 2]
                    equal = equal && r == g && g == b
                    buffer[i] = luma(r, g, b)
                }
                allEqual = equal
            }
            initialized = pixelCount
        }
        return (out, allEqual)
    }

    @inline(__always)
    static func luma(_ r: UInt8, _ g: UInt8, _ b: UInt8) -> UInt8 {
        let sum = UInt32(r) &* 19595 &+ UInt32(g) &* 38470 &+ UInt32(b) &* 7471 &+ 0x8000
        return UInt8(truncatingIfNeeded: sum >> 16)
    }

    /// Big-endian 16-bit grey to 8 bits: the high byte (v >> 8).
    ///
    /// That is what libpng's strip_16 and Pillow do for every other 16-bit PNG (RGB, RGBA, grey
    /// with alpha), and a PNG with sBIT below 16 already has its samples scaled up to 16 bits.
    /// Pillow's convert("L") of 16-bit grey ("I;16") instead clips every value above 255 to 255,
    /// which would turn an X-ray white; this decoder deliberately scales.
    static func grey(fromBigEndian16 samples: UnsafeBufferPointer<UInt8>, pixelCount: Int) -> [UInt8] {
        precondition(samples.count >= pixelCount * 2)
        return [UInt8](unsafeUninitializedCapacity: pixelCount) { buffer, initialized in
            for i in 0..<pixelCount { buffer[i] = samples[2 * i] }
            initialized = pixelCount
        }
    }
}
