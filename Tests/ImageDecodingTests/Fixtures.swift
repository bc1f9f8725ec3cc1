import Foundation
import XRayCore

/// Test fixtures in Tests/Fixtures/images, found relative to this file.
enum Fixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/images")

    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    static func bytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: url(name))) }

    /// A binary PGM (P5, maxval 255) as written by make_image_fixtures.py.
    static func pgm(_ name: String) throws -> GrayImage {
        let data = try bytes(name)
        var fields: [Int] = []
        var i = 2
        precondition(data.starts(with: [0x50, 0x35]), "\(name) is not a P5 PGM")
        while fields.count < 3 {
            while data[i] == 0x20 || data[i] == 0x0A { i += 1 }
            var v = 0
            while data[i] >= 0x30 && data[i] <= 0x39 { v = v * 10 + Int(data[i] - 0x30); i += 1 }
            fields.append(v)
        }
        i += 1  // the single whitespace after maxval
        precondition(fields[2] == 255)
        return GrayImage(width: fields[0], height: fields[1], pixels: Array(data[i...]))
    }

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
