import Testing
import XRayCore
@testable import Training

@Suite struct AugmentationTests {
    static func ramp(_ w: Int, _ h: Int) -> GrayImage {
        GrayImage(width: w, height: h, pixels: (0..<(w * h)).map { UInt8(truncatingIfNeeded: ($0 % w) * 7 + ($0 / w) * 3) })
    }

    @Test func noneDrawsTheIdentityAndLeavesTheImageUntouched() {
        var rng = SplitMix64(seed: 3)
        let img = Self.ramp(31, 17)
        let d = Augmentation.none.draw(side: 31, using: &rng)
        #expect(d == .identity)
        #expect(Augmentation.apply(d, to: img) == img)
    }

    @Test func flipMirrorsExactlyAndTwiceIsIdentity() {
        let img = Self.ramp(9, 4)
        var d = Augmentation.Draw.identity
        d.flip = true
        let once = Augmentation.apply(d, to: img)
        #expect(once[0, 0] == img[8, 0])
        #expect(once[8, 3] == img[0, 3])
        #expect(Augmentation.apply(d, to: once) == img)
    }

    @Test func drawsAreFixedByTheSeedAndStayInRange() {
        let a = Augmentation()
        var r1 = SplitMix64(seed: 42), r2 = SplitMix64(seed: 42)
        for _ in 0..<100 {
            let d1 = a.draw(side: 224, using: &r1), d2 = a.draw(side: 224, using: &r2)
            #expect(d1 == d2)
            #expect(abs(d1.rotation) <= 7 * .pi / 180 + 1e-12)
            #expect(a.scaleRange.contains(d1.scale))
            #expect(abs(d1.shiftX) <= 0.04 * 224 + 1e-9)
        }
    }

    @Test func rotationKeepsTheCentreAndMovesTheCorners() {
        var img = GrayImage(width: 21, height: 21, pixels: [UInt8](repeating: 0, count: 441))
        img.pixels[10 * 21 + 10] = 200
        img.pixels[0] = 255
        var d = Augmentation.Draw.identity
        d.rotation = 5 * .pi / 180
        let out = Augmentation.apply(d, to: img)
        #expect(out[10, 10] == 200)
        #expect(out[0, 0] < 255)
    }

    @Test func contrastAndBrightnessClampTo8Bits() {
        let img = GrayImage(width: 3, height: 1, pixels: [0, 128, 255])
        var d = Augmentation.Draw.identity
        d.contrast = 2
        d.brightness = 10
        #expect(Augmentation.apply(d, to: img).pixels == [0, 139, 255])
    }
}

@Suite struct BalancedSamplerTests {
    @Test func classesAreDrawnAboutEquallyAndTheEpochIsReproducible() {
        let labels = [Int](repeating: 0, count: 900) + [Int](repeating: 1, count: 80) + [Int](repeating: 2, count: 20)
        let s = BalancedSampler(labels: labels, classCount: 3, seed: 5)
        let e1 = s.epoch(1)
        #expect(e1 == s.epoch(1))
        #expect(e1 != s.epoch(2))
        #expect(e1.count == labels.count)
        let perClass = Dictionary(grouping: e1, by: { labels[$0] }).mapValues(\.count)
        for c in 0..<3 { #expect(abs(perClass[c]! - 333) < 60, "class \(c) drawn \(perClass[c]!) times") }
        // The small class cycles through all its images before repeating one.
        let rare = e1.filter { labels[$0] == 2 }
        #expect(Set(rare.prefix(20)).count == 20)
    }
}
