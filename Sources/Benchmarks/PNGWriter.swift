import Foundation
import XRayCore
#if canImport(Glibc)
import Glibc
#endif

/// Writes a grey image as an 8-bit RGB PNG (the grey in each channel, as the earlier Cairo writer
/// did): real PNG inputs for the benchmarks. Plain Swift, with the image data in stored
/// (uncompressed) deflate blocks: the product only reads PNG.
public enum PNGWriter {
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public let path: String
        public let reason: String
        public var description: String { "cannot write \(path): \(reason)" }
    }

    /// Complete or absent, and never over an existing file.
    public static func write(_ image: GrayImage, to url: URL) throws(Failure) {
        let bytes = encode(image)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        do { try Data(bytes).write(to: temporary, options: .withoutOverwriting) } catch {
            throw Failure(path: url.path, reason: error.localizedDescription)
        }
        defer { unlink(temporary.path) }
        guard link(temporary.path, url.path) == 0 else {
            throw Failure(path: url.path, reason: String(cString: strerror(errno)))
        }
    }

    /// The PNG file's bytes: signature, IHDR, one IDAT, IEND.
    static func encode(_ image: GrayImage) -> [UInt8] {
        let w = image.width, h = image.height
        var raw = [UInt8](repeating: 0, count: h * (1 + 3 * w))  // filter type 0 (None) per row
        for y in 0..<h {
            let row = y * (1 + 3 * w)
            for x in 0..<w {
                let g = image.pixels[y * w + x]
                raw[row + 1 + 3 * x] = g
                raw[row + 2 + 3 * x] = g
                raw[row + 3 + 3 * x] = g
            }
        }
        var out: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        chunk("IHDR", be32(UInt32(w)) + be32(UInt32(h)) + [8, 2, 0, 0, 0], into: &out)  // 8-bit RGB
        chunk("IDAT", zlibStored(raw), into: &out)
        chunk("IEND", [], into: &out)
        return out
    }

    static func chunk(_ type: String, _ data: [UInt8], into out: inout [UInt8]) {
        let typed = Array(type.utf8) + data
        out += be32(UInt32(data.count)) + typed + be32(crc32(typed))
    }

    /// A zlib stream (RFC 1950) of stored deflate blocks (RFC 1951 3.2.4).
    static func zlibStored(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var offset = 0
        repeat {
            let n = min(65_535, data.count - offset)
            let final: UInt8 = offset + n == data.count ? 1 : 0
            out += [final, UInt8(n & 0xFF), UInt8(n >> 8), UInt8(~n & 0xFF), UInt8((~n >> 8) & 0xFF)]
            out += data[offset..<(offset + n)]
            offset += n
        } while offset < data.count
        return out + be32(adler32(data))
    }

    static let crcTable: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 == 1 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes { c = crcTable[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        return c ^ 0xFFFF_FFFF
    }

    static func adler32(_ bytes: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        var i = 0
        while i < bytes.count {
            let end = min(bytes.count, i + 5552)  // the largest run before the sums can overflow
            for k in i..<end { a += UInt32(bytes[k]); b += a }
            a %= 65_521
            b %= 65_521
            i = end
        }
        return b << 16 | a
    }

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }
}
