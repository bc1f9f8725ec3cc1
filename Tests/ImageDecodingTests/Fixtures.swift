import Foundation
import TestSupport
import XRayCore

/// Test fixtures in Tests/Fixtures/images (reading is shared: TestSupport.ImageFixtures).
enum Fixtures {
    static func url(_ name: String) -> URL { ImageFixtures.url(name) }
    static func bytes(_ name: String) throws -> [UInt8] { try ImageFixtures.bytes(name) }
    static func pgm(_ name: String) throws -> GrayImage { try ImageFixtures.pgm(name) }

    /// A scratch directory for files made during a test.
    static func temporaryDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("cxr-imagedecoding-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }
}

/// Largest absolute difference between two images of the same size (Int.max if sizes differ).
func maxAbsDiff(_ a: GrayImage, _ b: GrayImage) -> Int {
    guard a.width == b.width, a.height == b.height else { return .max }
    var m = 0
    for i in 0..<a.pixels.count { m = max(m, abs(Int(a.pixels[i]) - Int(b.pixels[i]))) }
    return m
}
