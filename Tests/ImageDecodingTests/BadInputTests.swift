import Foundation
import ImageDecoding
import Testing
import XRayCore

/// Every way a file can be bad gives its own clear error, made from real files.
@Suite struct BadInputTests {
    /// Runs `body` and returns the typed error it throws (nil if it does not throw).
    func error(_ body: () throws(ImageDecodingError) -> DecodedScan) -> ImageDecodingError? {
        do { _ = try body(); return nil } catch { return error }
    }

    func write(_ bytes: [UInt8], _ name: String) throws -> URL {
        let url = try Fixtures.temporaryDirectory().appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    @Test func zeroByteFilesAreEmpty() throws {
        let png = try write([], "empty.png")
        let jpg = try write([], "empty.jpg")
        #expect(error { () throws(ImageDecodingError) in try PNGDecoder().decode(contentsOf: png) } == .empty(file: "empty.png"))
        #expect(error { () throws(ImageDecodingError) in try JPEGDecoder().decode(contentsOf: jpg) } == .empty(file: "empty.jpg"))
    }

    @Test func missingFileIsUnreadableWithTheSystemReason() throws {
        let url = Fixtures.url("no-such-file.png")
        let e = error { () throws(ImageDecodingError) in try PNGDecoder().decode(contentsOf: url) }
        #expect(e == .unreadable(file: "no-such-file.png", reason: "No such file or directory"))
        let j = error { () throws(ImageDecodingError) in try JPEGDecoder().decode(contentsOf: url) }
        #expect(j == .unreadable(file: "no-such-file.png", reason: "No such file or directory"))
    }

    @Test func directoryIsUnreadable() throws {
        let dir = try Fixtures.temporaryDirectory()
        let e = error { () throws(ImageDecodingError) in try PNGDecoder().decode(contentsOf: dir) }
        #expect(e == .unreadable(file: dir.lastPathComponent, reason: "Is a directory"))
    }

    @Test func randomBytesAreTheWrongFormat() throws {
        var generator = SystemRandomNumberGenerator()
        var bytes = (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes[0] = 0x00  // neither signature
        let url = try write(bytes, "noise.png")
        #expect(error { () throws(ImageDecodingError) in try PNGDecoder().decode(contentsOf: url) } == .wrongFormat(file: "noise.png", expected: "PNG"))
        #expect(error { () throws(ImageDecodingError) in try JPEGDecoder().decode(contentsOf: url) } == .wrongFormat(file: "noise.png", expected: "JPEG"))
    }

    @Test func aJPEGGivenToThePNGDecoderIsTheWrongFormat() throws {
        let e = error { () throws(ImageDecodingError) in try PNGDecoder().decode(contentsOf: Fixtures.url("grey.jpg")) }
        #expect(e == .wrongFormat(file: "grey.jpg", expected: "PNG"))
        let j = error { () throws(ImageDecodingError) in try JPEGDecoder().decode(contentsOf: Fixtures.url("grey8.png")) }
        #expect(j == .wrongFormat(file: "grey8.png", expected: "JPEG"))
    }

    @Test func randomBytesAfterThePNGSignatureAreCorrupt() throws {
        var bytes: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        var generator = SystemRandomNumberGenerator()
        bytes += (0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) }
        guard case let .corrupt(file, reason)? = error({ () throws(ImageDecodingError) in try PNGDecoder().decode(data: bytes, name: "noise.png") }) else {
            Issue.record("expected .corrupt"); return
        }
        #expect(file == "noise.png")
        #expect(reason.hasPrefix("libpng: "))
    }

    @Test(arguments: ["grey8.png", "rgb8_interlaced.png", "palette8_trns.png", "grey16.png"])
    func truncatedPNGIsCorrupt(_ name: String) throws {
        let full = try Fixtures.bytes(name)
        for fraction in [0.05, 0.5, 0.9] {
            let url = try write(Array(full.prefix(Int(Double(full.count) * fraction))), "cut-" + name)
            let e = error { () throws(ImageDecodingError) in try PNGDecoder().decode(contentsOf: url) }
            guard case let .corrupt(file, reason)? = e else { Issue.record("\(fraction): expected .corrupt, got \(String(describing: e))"); continue }
            #expect(file == "cut-" + name)
            #expect(reason.contains("truncated"), "\(reason)")
        }
    }

    @Test(arguments: ["grey.jpg", "rgb420.jpg", "rgb_progressive.jpg", "covid_rgb.jpeg"])
    func truncatedJPEGIsCorrupt(_ name: String) throws {
        let full = try Fixtures.bytes(name)
        for fraction in [0.05, 0.5, 0.9] {
            let url = try write(Array(full.prefix(Int(Double(full.count) * fraction))), "cut-" + name)
            let e = error { () throws(ImageDecodingError) in try JPEGDecoder().decode(contentsOf: url) }
            guard case let .corrupt(file, reason)? = e else { Issue.record("\(fraction): expected .corrupt, got \(String(describing: e))"); continue }
            #expect(file == "cut-" + name)
            #expect(reason.hasPrefix("libjpeg: "), "\(reason)")
        }
    }

    @Test func garbageInsideAJPEGIsCorrupt() throws {
        var bytes = try Fixtures.bytes("grey.jpg")
        // Overwrite the quantisation tables and frame header area with junk.
        for i in 4..<200 { bytes[i] = UInt8(truncatingIfNeeded: i &* 37) }
        let e = error { () throws(ImageDecodingError) in try JPEGDecoder().decode(data: bytes, name: "junk.jpg") }
        guard case let .corrupt(file, reason)? = e else { Issue.record("expected .corrupt, got \(String(describing: e))"); return }
        #expect(file == "junk.jpg" && reason.hasPrefix("libjpeg: "))
    }

    @Test func cmykJPEGIsUnsupported() throws {
        let e = error { () throws(ImageDecodingError) in try JPEGDecoder().decode(contentsOf: Fixtures.url("cmyk.jpg")) }
        guard case let .unsupported(file, reason)? = e else { Issue.record("expected .unsupported, got \(String(describing: e))"); return }
        #expect(file == "cmyk.jpg")
        #expect(reason.contains("CMYK") || reason.contains("YCCK"))
    }

    /// Valid JPEG kinds libjpeg's 8-bit build cannot decode (made by patching the frame header).
    @Test func twelveBitAndLosslessJPEGsAreUnsupported() throws {
        let bytes = try Fixtures.bytes("grey.jpg")
        guard let sof = bytes.indices.dropLast().first(where: { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 }) else {
            Issue.record("no SOF0 in grey.jpg"); return
        }
        var twelveBit = bytes
        twelveBit[sof + 4] = 12  // sample precision
        var lossless = bytes
        lossless[sof + 1] = 0xC3  // SOF3, lossless
        for (data, name, phrase) in [(twelveBit, "12bit.jpg", "precision 12"), (lossless, "lossless.jpg", "SOF type 0xc3")] {
            let e = error { () throws(ImageDecodingError) in try JPEGDecoder().decode(data: data, name: name) }
            guard case let .unsupported(file, reason)? = e else { Issue.record("\(name): expected .unsupported, got \(String(describing: e))"); continue }
            #expect(file == name)
            #expect(reason.contains(phrase), "\(reason)")
        }
    }

    struct Bomb: Sendable, CustomTestStringConvertible {
        var file: String
        var width: Int
        var height: Int
        var testDescription: String { file }
    }

    @Test(arguments: [
        Bomb(file: "bomb_17000x4000.png", width: 17000, height: 4000),
        Bomb(file: "bomb_16000x10000.png", width: 16000, height: 10000),
        Bomb(file: "bomb_60000x60000.jpg", width: 60000, height: 60000),
        Bomb(file: "bomb_12000x12000.jpg", width: 12000, height: 12000),
    ])
    func decompressionBombsAreRefusedFast(_ bomb: Bomb) throws {
        let url = Fixtures.url(bomb.file)
        let clock = ContinuousClock()
        var e: ImageDecodingError?
        let elapsed = clock.measure {
            e = error { () throws(ImageDecodingError) in
                bomb.file.hasSuffix(".png")
                    ? try PNGDecoder().decode(contentsOf: url) : try JPEGDecoder().decode(contentsOf: url)
            }
        }
        #expect(e == .tooLarge(file: bomb.file, width: bomb.width, height: bomb.height))
        #expect(elapsed < .seconds(1))
    }

    @Test func descriptionsAreOneLineAndNameTheFile() {
        let errors: [ImageDecodingError] = [
            .unreadable(file: "a.png", reason: "Permission denied"), .empty(file: "a.png"),
            .wrongFormat(file: "a.png", expected: "PNG"), .corrupt(file: "a.png", reason: "libpng: bad"),
            .unsupported(file: "a.png", reason: "CMYK"), .tooLarge(file: "a.png", width: 1, height: 2),
            .outOfMemory(file: "a.png", width: 1, height: 2),
        ]
        for e in errors {
            #expect(e.description.hasPrefix("a.png: "))
            #expect(!e.description.contains("\n"))
            #expect(e.description.contains(";"), "says what to do: \(e.description)")
        }
        #expect(ImageDecodingError.tooLarge(file: "b.png", width: 50000, height: 50000).description.contains("50000x50000"))
    }
}
