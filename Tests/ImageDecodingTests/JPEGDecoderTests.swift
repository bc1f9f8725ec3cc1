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
