import Foundation
import ImageDecoding
import Testing
import XRayCore

/// Every synthetic PNG decodes to exactly Pillow's `Image.open(f).convert("L")` (0 grey levels),
/// except 16-bit grey, which is compared with this project's documented rule (v >> 8).
@Suite struct PNGDecoderTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var file: String
        var colour: Bool
        var bits: Int
        var testDescription: String { file }
    }

    static let cases: [Case] = [
        Case(file: "grey8.png", colour: false, bits: 8),
        Case(file: "grey8_trns.png", colour: false, bits: 8),
        Case(file: "grey_alpha8.png", colour: false, bits: 8),
        Case(file: "grey1.png", colour: false, bits: 1),
        Case(file: "grey2.png", colour: false, bits: 2),
        Case(file: "grey16.png", colour: false, bits: 16),
        Case(file: "grey_alpha16.png", colour: false, bits: 16),
        Case(file: "rgb8.png", colour: true, bits: 8),
        Case(file: "rgba8.png", colour: true, bits: 8),
        Case(file: "rgb16.png", colour: true, bits: 16),
        Case(file: "palette8_trns.png", colour: true, bits: 8),
        Case(file: "palette4.png", colour: true, bits: 4),
        Case(file: "rgb8_interlaced.png", colour: true, bits: 8),
        Case(file: "grey8_interlaced.png", colour: false, bits: 8),
    ]

    @Test(arguments: cases)
    func matchesPillowGrey(_ c: Case) throws {
        let scan = try PNGDecoder().decode(contentsOf: Fixtures.url(c.file))
        let expected = try Fixtures.pgm(c.file + ".L.pgm")
        #expect(scan.image.width == expected.width && scan.image.height == expected.height)
        #expect(maxAbsDiff(scan.image, expected) == 0)
        #expect(scan.image == expected)
        #expect(scan.notes.format == .png)
        #expect(scan.notes.window == .none)
        #expect(scan.notes.convertedFromColour == c.colour)
        #expect(scan.metadata.rows == expected.height)
        #expect(scan.metadata.columns == expected.width)
        #expect(scan.metadata.bitsStored == c.bits)
        #expect(scan.metadata.patientName == nil && scan.metadata.modality == nil)
    }

    @Test func sixteenBitGreyIsScaledAndSaysSo() throws {
        let scan = try PNGDecoder().decode(contentsOf: Fixtures.url("grey16.png"))
        #expect(scan.notes.messages.contains("16-bit grey scaled to 8 bits (high byte)"))
        // Not clipped as Pillow's convert("L") would: the image spans the whole 8-bit range.
        #expect(scan.image.pixels.min() == 0 && scan.image.pixels.max() == 255)
        #expect(Set(scan.image.pixels).count > 200)
    }

    @Test func transparencyIsNoted() throws {
        let scan = try PNGDecoder().decode(contentsOf: Fixtures.url("rgba8.png"))
        #expect(scan.notes.messages.contains("transparency ignored"))
        let plain = try PNGDecoder().decode(contentsOf: Fixtures.url("rgb8.png"))
        #expect(plain.notes.messages.isEmpty)
    }

    @Test func decodingBytesEqualsDecodingTheFile() throws {
        let bytes = try Fixtures.bytes("rgb8.png")
        let fromData = try PNGDecoder().decode(data: bytes, name: "rgb8.png")
        let fromFile = try PNGDecoder().decode(contentsOf: Fixtures.url("rgb8.png"))
        #expect(fromData == fromFile)
    }

    @Test func colourWithEqualChannelsIsNoted() throws {
        let scan = try PNGDecoder().decode(contentsOf: Fixtures.url("rgb8_equal.png"))
        #expect(scan.notes.convertedFromColour)
        #expect(scan.notes.messages.contains("colour image with equal channels"))
        #expect(scan.image == (try Fixtures.pgm("rgb8_equal.png.L.pgm")))
        let colour = try PNGDecoder().decode(contentsOf: Fixtures.url("rgb8.png"))
        #expect(!colour.notes.messages.contains("colour image with equal channels"))
    }
}
