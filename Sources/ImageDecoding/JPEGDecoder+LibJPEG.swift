internal import CJPEG
import XRayCore

extension JPEGDecoder {
    /// Runs the C entry point (which catches libjpeg's errors) and copies out the samples.
    func decodeWithLibJPEG(_ data: [UInt8], name: String) throws(ImageDecodingError) -> RawJPEG {
        var result = cxr_jpeg_result()
        let status = data.withUnsafeBufferPointer { buffer in
            cxr_jpeg_decode(
                buffer.baseAddress, buffer.count, UInt32(ImageLimits.maxDimension),
                UInt64(ImageLimits.maxPixels), &result)
        }
        defer { cxr_jpeg_free(&result) }
        let width = Int(result.width), height = Int(result.height)

        switch Int(status) {
        case Int(CXR_JPEG_OK):
            break
        case Int(CXR_JPEG_TOO_LARGE):
            throw .tooLarge(file: name, width: width, height: height)
        case Int(CXR_JPEG_UNSUPPORTED):
            throw .unsupported(file: name, reason: Self.text(&result.message))
        case Int(CXR_JPEG_NO_MEMORY):
            throw .outOfMemory(file: name, width: width, height: height)
        default:
            throw .corrupt(file: name, reason: "libjpeg: " + Self.text(&result.message))
        }

        let channels = Int(result.out_components)
        let samples = [UInt8](UnsafeBufferPointer(start: result.pixels, count: width * height * channels))
        var warning: String?
        if result.warning_count > 0 {
            warning = Self.text(&result.warning)
            if result.warning_count > 1 { warning! += " (and \(result.warning_count - 1) more)" }
        }
        return RawJPEG(width: width, height: height, channels: channels, samples: samples, warning: warning)
    }

    private static func text<T>(_ tuple: inout T) -> String {
        withUnsafeBytes(of: &tuple) { raw in
            let bytes = raw.prefix { $0 != 0 }
            let text = String(decoding: bytes, as: UTF8.self)
            return text.isEmpty ? "unknown error" : text
        }
    }
}
