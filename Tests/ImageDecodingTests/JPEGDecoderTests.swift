import Foundation
import ImageDecoding
import Testing
import XRayCore

/// JPEGs decode (libjpeg-turbo 2.1, integer IDCT, fancy upsampling, then Pillow's luma formula)
/// to exactly Pillow's `Image.open(f).convert("L")` (Pillow bundles libjpeg-turbo 3.x).
@Suite struct JPEGDecoderTests {
    static let synthetic = ["grey.jpg", "rgb420.jpg", "rgb422.jpg", "rgb444.jpg", "rgb_progressive.jpg"]

    @Test(arguments: synthetic)
    func syntheticMatchesPillowGrey(_ file: String) throws {
        let scan = try JPEGDecoder().decode(contentsOf: Fixtures.url(file))
        let expected = try Fixtures.pgm(file + ".L.pgm")
        #expect(maxAbsDiff(scan.image, expected) == 0)
        #expect(scan.notes.format == .jpeg)
        #expect(scan.notes.window == .none)
        #expect(scan.notes.convertedFromColour == (file != "grey.jpg"))
        #expect(scan.metadata.rows == 77 && scan.metadata.columns == 121 && scan.metadata.bitsStored == 8)
    }

    static let real = ["covid_rgb.jpeg", "covid_grey.jpg", "normal_rgb.jpeg"]

    /// The expected grey of the 640x640 X-rays is stored as an 8-bit grey PNG (space); that PNG
    /// path is checked against PGM files in PNGDecoderTests.
    @Test(arguments: real)
    func realXRaysMatchPillowGrey(_ file: String) throws {
        let scan = try JPEGDecoder().decode(contentsOf: Fixtures.url(file))
        let expected = try PNGDecoder().decode(contentsOf: Fixtures.url(file + ".L.png")).image
        #expect(scan.image.width == 640 && scan.image.height == 640)
        #expect(maxAbsDiff(scan.image, expected) == 0)
        #expect(scan.notes.convertedFromColour == file.contains("rgb"))
    }

    @Test func decodingBytesEqualsDecodingTheFile() throws {
        let bytes = try Fixtures.bytes("rgb420.jpg")
        let fromData = try JPEGDecoder().decode(data: bytes, name: "rgb420.jpg")
        #expect(fromData == (try JPEGDecoder().decode(contentsOf: Fixtures.url("rgb420.jpg"))))
    }
}

/// The encoder for report display copies: what it writes decodes back to nearly the same pixels.
@Suite struct JPEGEncoderTests {
    @Test(arguments: [1, 3])
    func roundTripStaysClose(_ components: Int) throws {
        let (w, h) = (97, 64)  // not multiples of the 8x8 blocks
        var pixels = [UInt8](repeating: 0, count: w * h * components)
        for y in 0..<h {
            for x in 0..<w {
                for c in 0..<components {
                    pixels[(y * w + x) * components + c] = UInt8((x * 2 + y * 3 + c * 40) % 256 / 2 + 64)
                }
            }
        }
        let jpeg = try JPEGEncoder.encode(pixels: pixels, width: w, height: h, components: components, quality: 92)
        #expect(jpeg.starts(with: [0xFF, 0xD8]))
        let decoded = try JPEGDecoder().decode(data: jpeg, name: "roundtrip.jpg")
        #expect(decoded.image.width == w && decoded.image.height == h)
        // Compare in grey, as the decoder returns it: the mean error of a quality-92 JPEG is a level or two.
        var grey = [Double](repeating: 0, count: w * h)
        for i in 0..<(w * h) {
            if components == 1 {
                grey[i] = Double(pixels[i])
            } else {
                let r = Double(pixels[3 * i]) * 299, g = Double(pixels[3 * i + 1]) * 587, b = Double(pixels[3 * i + 2]) * 114
                grey[i] = (r + g + b) / 1000
            }
        }
        let error = zip(grey, decoded.image.pixels).map { abs($0 - Double($1)) }.reduce(0, +) / Double(w * h)
        #expect(error < 2.0, "mean error \(error)")
    }

    @Test func badDimensionsAreRefused() {
        #expect(throws: JPEGEncoder.Failure.self) { _ = try JPEGEncoder.encode(pixels: [1, 2, 3], width: 2, height: 2, components: 1, quality: 90) }
    }
}
