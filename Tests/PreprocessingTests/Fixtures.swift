import Foundation
import TestSupport
import XRayCore

/// Test fixtures in Tests/Fixtures/images (reading is shared: TestSupport.ImageFixtures).
enum Fixtures {
    static func url(_ name: String) -> URL { ImageFixtures.url(name) }
    static func bytes(_ name: String) throws -> [UInt8] { try ImageFixtures.bytes(name) }
    static func pgm(_ name: String) throws -> GrayImage { try ImageFixtures.pgm(name) }

    /// Little-endian float32 values.
    static func float32(_ name: String) throws -> [Float] {
        let data = try bytes(name)
        return stride(from: 0, to: data.count, by: 4).map { i in
            Float(bitPattern: UInt32(data[i]) | UInt32(data[i + 1]) << 8 | UInt32(data[i + 2]) << 16 | UInt32(data[i + 3]) << 24)
        }
    }
}

/// The deterministic test pattern of make_image_fixtures.py (`pattern(w, h)`): blocks of hash
/// noise, smooth ramps and hard 0/255 edges.
func pattern(width: Int, height: Int) -> GrayImage {
    var pixels = [UInt8](repeating: 0, count: width * height)
    let mask: UInt64 = 0xFFFF_FFFF
    for y in 0..<height {
        for x in 0..<width {
            let ux = UInt64(x), uy = UInt64(y)
            var h = ((ux &* 2_654_435_761) & mask) ^ ((uy &* 40503 &+ 12345) & mask)
            h = ((h ^ (h >> 13)) &* 1_274_126_177) & mask
            let noise = h >> 24
            let smooth = (ux * 3 + uy * 5) % 256
            let edge: UInt64 = ((ux / 9) + (uy / 7)) % 2 == 0 ? 0 : 255
            let select = ((ux / 17) + (uy / 23)) % 3
            pixels[y * width + x] = UInt8(select == 0 ? noise : select == 1 ? smooth : edge)
        }
    }
    return GrayImage(width: width, height: height, pixels: pixels)
}

/// Largest absolute difference between two images of the same size (Int.max if sizes differ).
func maxAbsDiff(_ a: GrayImage, _ b: GrayImage) -> Int {
    guard a.width == b.width, a.height == b.height else { return .max }
    var m = 0
    for i in 0..<a.pixels.count { m = max(m, abs(Int(a.pixels[i]) - Int(b.pixels[i]))) }
    return m
}
