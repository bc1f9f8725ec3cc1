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

/// The acquisition-style changes: gamma, resolution, blur and noise.
@Suite struct AcquisitionAugmentationTests {
    static let flat = GrayImage(width: 32, height: 32, pixels: [UInt8](repeating: 100, count: 32 * 32))
    static let ramp = GrayImage(width: 32, height: 32, pixels: (0..<(32 * 32)).map { UInt8(($0 % 32) * 8) })

    @Test func gammaFollowsItsFormula() {
        var d = Augmentation.Draw.identity
        d.gamma = 2
        let img = GrayImage(width: 4, height: 1, pixels: [0, 64, 128, 255])
        // 255 · (v/255)²: 0, 16.06, 64.25, 255
        #expect(Augmentation.apply(d, to: img).pixels == [0, 16, 64, 255])
    }

    @Test func resolutionAndBlurKeepAFlatImageFlatAndSoftenEdges() {
        for (resolution, sigma) in [(0.4, 0.0), (1.0, 1.2), (0.5, 0.8)] {
            var d = Augmentation.Draw.identity
            d.resolution = resolution
            d.blurSigma = sigma
            #expect(Augmentation.apply(d, to: Self.flat).pixels.allSatisfy { $0 == 100 }, "resolution \(resolution) σ \(sigma)")
            // A ramp stays a ramp on average but loses its steps' sharpness somewhere.
            let out = Augmentation.apply(d, to: Self.ramp).pixels
            let meanIn = Self.ramp.pixels.reduce(0) { $0 + Int($1) }, meanOut = out.reduce(0) { $0 + Int($1) }
            #expect(abs(meanIn - meanOut) < 32 * 32 * 6, "mean moved: \(meanIn) → \(meanOut)")
            #expect(out != Self.ramp.pixels)
        }
    }

    @Test func noiseHasItsSigmaAndItsSeedFixesIt() {
        var d = Augmentation.Draw.identity
        d.noiseSigma = 5
        d.noiseSeed = 42
        let a = Augmentation.apply(d, to: Self.flat).pixels, b = Augmentation.apply(d, to: Self.flat).pixels
        #expect(a == b)
        let values = a.map { Double($0) - 100 }
        let mean = values.reduce(0, +) / Double(values.count)
        let sd = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(values.count)).squareRoot()
        #expect(abs(mean) < 0.6 && abs(sd - 5) < 0.5, "mean \(mean), sd \(sd)")
        d.noiseSeed = 43
        #expect(Augmentation.apply(d, to: Self.flat).pixels != a)
    }

    @Test func defaultDrawsUseEveryChangeAndNoneUsesNone() {
        var rng = SplitMix64(seed: 9)
        let draws = (0..<400).map { _ in Augmentation().draw(side: 224, using: &rng) }
        #expect(draws.contains { $0.blurSigma > 0 } && draws.contains { $0.resolution < 1 } && draws.contains { $0.noiseSigma > 0 })
        #expect(draws.allSatisfy { (0.7...1.4).contains($0.gamma) })
        #expect((0..<50).allSatisfy { _ in Augmentation.none.draw(side: 224, using: &rng) == .identity })
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

    /// (age group, class, source): ages equal, classes equal within an age, sources equal within a
    /// class; a leaf below the minimum is never drawn and is reported.
    @Test func groupsAreBalancedLevelByLevelAndSmallLeavesAreLeftOut() {
        var paths: [[String]] = []
        func add(_ n: Int, _ path: [String]) { paths += Array(repeating: path, count: n) }
        add(1000, ["child", "normal", "kermany"])
        add(100, ["child", "viral", "kermany"])
        add(2000, ["adult", "normal", "rsna"])
        add(300, ["adult", "covid", "bimcv"])
        add(100, ["adult", "covid", "ieee"])
        add(10, ["adult", "viral", "ieee"])
        add(5, ["child", "covid", "c3w"])  // covid's only child leaf: too small, and covid has larger leaves
        add(8, ["adult", "bacterial", "x"])  // a class with no leaf at the minimum is still drawn
        let s = BalancedSampler(paths: paths, seed: 3, minimumLeaf: 20, classLevel: 1)
        #expect(s.excluded.count == 15 && s.excluded.allSatisfy { ["adult/viral", "child/covid"].contains(paths[$0][0] + "/" + paths[$0][1]) })
        let p = Dictionary(uniqueKeysWithValues: zip(s.leaves.map { $0.path.joined(separator: "/") }, s.leafProbabilities))
        #expect(p["child/normal/kermany"] == 0.25 && p["child/viral/kermany"] == 0.25)
        #expect(p["adult/normal/rsna"] == 0.5 / 3 && p["adult/covid/bimcv"] == 0.5 / 6 && p["adult/covid/ieee"] == 0.5 / 6)
        #expect(p["adult/bacterial/x"] == 0.5 / 3)
        let e = s.epoch(0)
        #expect(e.count == paths.count - 15)
        let drawn = Dictionary(grouping: e, by: { paths[$0].joined(separator: "/") }).mapValues(\.count)
        for (leaf, probability) in p {
            let expected = probability * Double(e.count)
            #expect(abs(Double(drawn[leaf] ?? 0) - expected) < 5 * expected.squareRoot(), "\(leaf): \(drawn[leaf] ?? 0) vs \(expected)")
        }
        #expect(e == s.epoch(0) && e != s.epoch(1))
    }
}
