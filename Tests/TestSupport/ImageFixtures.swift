import Foundation
import XRayCore

/// Test fixtures in Tests/Fixtures/images, found relative to this file.
public enum ImageFixtures {
    public static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/images")

    public static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    public static func bytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: url(name))) }

    /// A binary PGM (P5, maxval 255) as written by make_image_fixtures.py.
    public static func pgm(_ name: String) throws -> GrayImage {
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
}
