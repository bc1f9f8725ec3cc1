internal import CJPEG
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Baseline JPEG encoding through libjpeg-turbo, for display copies (the images embedded in PDF
/// reports), never for the scans themselves. Chroma is not subsampled.
public enum JPEGEncoder {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public let description: String
    }

    /// `pixels`: width × height × components (1 grey or 3 RGB) bytes, row-major.
    public static func encode(pixels: [UInt8], width: Int, height: Int, components: Int, quality: Int) throws(Failure) -> [UInt8] {
        guard components == 1 || components == 3, width > 0, height > 0, pixels.count == width * height * components else {
            throw Failure(description: "cannot encode \(pixels.count) bytes as \(width)x\(height)x\(components)")
        }
        var out: UnsafeMutablePointer<UInt8>?
        var size = 0
        var message = [CChar](repeating: 0, count: 200)
        let status = pixels.withUnsafeBufferPointer { p in
            cxr_jpeg_encode(p.baseAddress, UInt32(width), UInt32(height), Int32(components), Int32(quality), &out, &size, &message)
        }
        defer { free(out) }
        guard status == CXR_JPEG_OK, let out else {
            throw Failure(description: "libjpeg could not encode the image: " + String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return [UInt8](UnsafeBufferPointer(start: out, count: size))
    }
}
