import Foundation
import ImageDecoding
import Preprocessing
import Testing
import XRayCore
@testable import Training

func rankThumbnail(_ image: GrayImage) -> RankThumbnail {
    RankThumbnail(thumbnail: PillowResize.bilinear(image, width: RankThumbnail.side, height: RankThumbnail.side))
}

func decodeImage(_ path: String) throws -> GrayImage {
    let url = URL(fileURLWithPath: path)
    let ext = url.pathExtension.lowercased()
    return ext == "png" ? try PNGDecoder().decode(contentsOf: url).image : try JPEGDecoder().decode(contentsOf: url).image
}

@Suite struct NearDuplicatesTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/images")

    @Test func aRescaledBrighterCopyMatchesAndADifferentChestDoesNot() throws {
        let covid = try decodeImage(Self.fixtures.appendingPathComponent("covid_rgb.jpeg").path)
        let normal = try decodeImage(Self.fixtures.appendingPathComponent("normal_rgb.jpeg").path)
        // A re-export: downscaled to 500 px, brighter and flatter.
        var copy = PillowResize.bilinear(covid, width: 500, height: 500)
        copy.pixels = copy.pixels.map { UInt8(min(255, Double($0) * 0.8 + 30)) }
        let a = rankThumbnail(covid), b = rankThumbnail(copy), c = rankThumbnail(normal)
        #expect(a.correlation(b) >= 0.98, "copy scored \(a.correlation(b))")
        #expect(a.correlation(c) < 0.98, "different chest scored \(a.correlation(c))")
        #expect(abs(a.correlation(a) - 1) < 1e-5)
        let m = NearDuplicates.matches(queries: [b, c], references: [a])
        #expect(m[0]?.reference == 0)
        #expect(m[1] == nil)
    }

    @Test func aFlatImageCorrelatesWithNothing() {
        let flat = RankThumbnail(thumbnail: GrayImage(width: 32, height: 32, pixels: [UInt8](repeating: 9, count: 1024)))
        #expect(flat.values.allSatisfy { $0 == 0 })
    }
}

/// The leaks data/README.md lists in covid19-3way, found again by this code.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["CXR_SHARED_DATA"] != nil))
struct SharedDataDuplicatesTests {
    static let root = URL(fileURLWithPath: ProcessInfo.processInfo.environment["CXR_SHARED_DATA"] ?? "/nonexistent")
        .appendingPathComponent("covid19-3way")

    @Test func theListedTestCovidImagesHaveNearCopiesInTrain() throws {
        let index = try DatasetIndex.scan(Self.root)
        #expect(index.counts()[.train] == ["covid": 111, "normal": 70, "viral": 70])
        #expect(index.counts()[.test] == ["covid": 26, "normal": 20, "viral": 20])
        let train = index.entries(in: .train), test = index.entries(in: .test)
        let trainThumbs = try train.map { rankThumbnail(try decodeImage($0.path)) }
        let testThumbs = try test.map { rankThumbnail(try decodeImage($0.path)) }
        let matches = NearDuplicates.matches(queries: testThumbs, references: trainThumbs)
        var leaked: [String] = []
        for (e, m) in zip(test, matches) {
            guard let m else { continue }
            let name = URL(fileURLWithPath: e.path).lastPathComponent
            leaked.append("\(e.label)/\(name)")
            print("near copy: test/\(e.label)/\(name) ~ train/\(train[m.reference].label)/"
                + "\(URL(fileURLWithPath: train[m.reference].path).lastPathComponent) (\(m.correlation))")
        }
        let listed = ["0100.jpeg", "0112.jpg", "auntminnie-2020_01_31_20_24_2322_2020_01_31_x-ray_coronavirus_US.jpg",
                      "COVID-00003b.jpg", "COVID-00012.jpg", "COVID-00022.jpg", "COVID-00033.jpg", "COVID-00037.jpg",
                      "radiopaedia-2019-novel-coronavirus-infected-pneumonia.jpg"]
        for name in listed { #expect(leaked.contains("covid/\(name)"), "data/README.md lists test/covid/\(name) as a copy") }
        #expect(leaked.count == listed.count, "found \(leaked)")
        // Exact copies by content among them, and the train split's own identical pairs.
        let report = DuplicateReport(index)
        #expect(report.groups.contains { g in g.entries.map { URL(fileURLWithPath: $0.path).lastPathComponent }.sorted() == ["019.jpeg", "020.jpeg"] && g.entries[0].label == "normal" })
    }
}
