internal import CLibPNG
import XRayCore

extension PNGDecoder {
    /// Runs the C entry point (which catches libpng's longjmp errors) and copies out the samples.
    func decodeWithLibPNG(_ data: [UInt8], name: String) throws(ImageDecodingError) -> RawPNG {
        var result = cxr_png_result()
        let status = data.withUnsafeBufferPointer { buffer in
            cxr_png_decode(
                buffer.baseAddress, buffer.count, UInt32(ImageLimits.maxDimension),
                UInt64(ImageLimits.maxPixels), &result)
        }
        defer { cxr_png_free(&result) }
        let width = Int(result.width), height = Int(result.height)

        switch Int(status) {
        case Int(CXR_PNG_OK):
            break
        case Int(CXR_PNG_TOO_LARGE):
            throw .tooLarge(file: name, width: width, height: height)
        case Int(CXR_PNG_NO_MEMORY):
            throw .outOfMemory(file: name, width: width, height: height)
        default:
            throw .corrupt(file: name, reason: "libpng: " + Self.message(&result))
        }

        let channels = Int(result.out_channels)
        let bytesPerSample = Int(result.out_bytes_per_sample)
        let count = width * height * channels * bytesPerSample
        let samples = [UInt8](UnsafeBufferPointer(start: result.pixels, count: count))
        let colourType = result.color_type
        return RawPNG(
            width: width, height: height, bitDepth: Int(result.bit_depth),
            isColour: colourType == PNG_COLOR_TYPE_RGB || colourType == PNG_COLOR_TYPE_RGB_ALPHA
                || colourType == PNG_COLOR_TYPE_PALETTE,
            hasTransparency: result.has_trns != 0 || (colourType & PNG_COLOR_MASK_ALPHA) != 0,
            channels: channels, bytesPerSample: bytesPerSample, samples: samples)
    }

    private static func message(_ result: inout cxr_png_result) -> String {
        withUnsafeBytes(of: &result.message) { raw in
            let bytes = raw.prefix { $0 != 0 }
            let text = String(decoding: bytes, as: UTF8.self)
            return text.isEmpty ? "unknown error" : text
        }
    }
}
