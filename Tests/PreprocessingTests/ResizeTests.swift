import Foundation
import ImageDecoding
import Preprocessing
import Testing
import XRayCore

/// `PillowResize.bilinear` is bit-identical (0 grey levels) to Pillow 13's
/// `Image.resize((w, h), Image.BILINEAR)` on 'L' images.
@Suite struct ResizeTests {
    struct Size: Sendable, CustomTestStringConvertible {
        var inWidth: Int, inHeight: Int, outWidth: Int, outHeight: Int
        var file: String { "resize_\(inWidth)x\(inHeight)_to_\(outWidth)x\(outHeight).pgm" }
        var testDescription: String { "\(inWidth)x\(inHeight) -> \(outWidth)x\(outHeight)" }
    }

    static let sizes: [Size] = [
        Size(inWidth: 640, inHeight: 640, outWidth: 224, outHeight: 224),
        Size(inWidth: 1024, inHeight: 1024, outWidth: 224, outHeight: 224),
        Size(inWidth: 1955, inHeight: 1841, outWidth: 224, outHeight: 224),
        Size(inWidth: 157, inHeight: 300, outWidth: 224, outHeight: 224),  // up in x, down in y
        Size(inWidth: 100, inHeight: 80, outWidth: 224, outHeight: 224),  // upscale
        Size(inWidth: 224, inHeight: 500, outWidth: 224, outHeight: 150),  // vertical pass only
        Size(inWidth: 500, inHeight: 224, outWidth: 150, outHeight: 224),  // horizontal pass only
        Size(inWidth: 300, inHeight: 200, outWidth: 111, outHeight: 67),
        Size(inWidth: 1, inHeight: 1, outWidth: 5, outHeight: 3),
        Size(inWidth: 7, inHeight: 3000, outWidth: 50, outHeight: 100),
        // Pass order: horizontal first at the boundary (height shrinks by exactly twice the
        // width's pixels), vertical first past it (Pillow 13).
        Size(inWidth: 100, inHeight: 100, outWidth: 80, outHeight: 60),
        Size(inWidth: 100, inHeight: 100, outWidth: 80, outHeight: 59),
        Size(inWidth: 22, inHeight: 94, outWidth: 11, outHeight: 58),
    ]

    @Test(arguments: sizes)
    func matchesPillowExactly(_ size: Size) throws {
        let input = pattern(width: size.inWidth, height: size.inHeight)
        let resized = PillowResize.bilinear(input, width: size.outWidth, height: size.outHeight)
        let expected = try Fixtures.pgm(size.file)
        #expect(resized.width == size.outWidth && resized.height == size.outHeight)
        #expect(maxAbsDiff(resized, expected) == 0)
    }

    @Test func sameSizeIsACopy() {
        let input = pattern(width: 224, height: 224)
        #expect(PillowResize.bilinear(input, width: 224, height: 224) == input)
    }

    @Test func realXRayResizedTo224MatchesPillow() throws {
        let scan = try JPEGDecoder().decode(contentsOf: Fixtures.url("covid_rgb.jpeg"))
        let resized = PillowResize.bilinear(scan.image, width: 224, height: 224)
        #expect(maxAbsDiff(resized, try Fixtures.pgm("covid_rgb.jpeg.L224.pgm")) == 0)
    }

    @Test func constantImagesStayConstant() {
        for value: UInt8 in [0, 1, 128, 254, 255] {
            let input = GrayImage(width: 333, height: 97, pixels: [UInt8](repeating: value, count: 333 * 97))
            let out = PillowResize.bilinear(input, width: 224, height: 224)
            #expect(out.pixels.allSatisfy { $0 == value })
        }
    }
}
