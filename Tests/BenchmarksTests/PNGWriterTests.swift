import Foundation
import ImageDecoding
import Testing
import XRayCore
@testable import Benchmarks

@Suite struct PNGWriterTests {
    static func directory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("pngwriter-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// libpng reads the file back to the same grey values: 1x1, and 200x200 (whose 120,200 bytes of
    /// rows take two stored deflate blocks).
    @Test(arguments: [1, 200])
    func libpngDecodesTheSameImage(_ side: Int) throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let image = SyntheticScans.image(size: side, seed: 7)
        let url = dir.appendingPathComponent("scan.png")
        try PNGWriter.write(image, to: url)
        let decoded = try PNGDecoder().decode(contentsOf: url).image
        #expect(decoded.width == side && decoded.height == side)
        #expect(decoded.pixels == image.pixels)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["scan.png"], "a temporary file was left")
    }

    /// The checksums against known values: CRC-32 of "IEND" (every PNG ends with it) and Adler-32 of
    /// "Wikipedia" (RFC 1950's example in the Wikipedia article), and over 5,552 bytes where the sums wrap.
    @Test func checksumsMatchKnownValues() {
        #expect(PNGWriter.crc32(Array("IEND".utf8)) == 0xAE42_6082)
        #expect(PNGWriter.adler32(Array("Wikipedia".utf8)) == 0x11E6_0398)
        let long = [UInt8](repeating: 0xFF, count: 20_000)
        var a: UInt64 = 1, b: UInt64 = 0
        for x in long { a = (a + UInt64(x)) % 65_521; b = (b + a) % 65_521 }
        #expect(PNGWriter.adler32(long) == UInt32(b << 16 | a))
    }

    @Test func anExistingFileIsNeverOverwritten() throws {
        let dir = try Self.directory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("taken.png")
        try Data("keep".utf8).write(to: url)
        #expect(throws: PNGWriter.Failure.self) { try PNGWriter.write(SyntheticScans.image(size: 4, seed: 1), to: url) }
        #expect(try Data(contentsOf: url) == Data("keep".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["taken.png"])
    }
}
