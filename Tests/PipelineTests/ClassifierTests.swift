import CAM
import Foundation
import Pipeline
import Reporting
import ResNet
import Testing
import TestSupport
import XRayCore

/// The pipeline's stages in this process: files in, values out (`Classifier`), and a report drawn
/// from a value (`ReportWriter`), checked against PyTorch's numbers for the same model and scans
/// (Tests/Fixtures/make_e2e_fixtures.py and make_cam_fixtures.py).
@Suite struct ClassifierTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let model: ResNet18 = {
        do { return try ResNet18.load(contentsOf: TestModel.e2e) }
        catch { fatalError("cannot load the e2e test model: \(error)") }
    }()

    /// PyTorch's logits for the samples (e2e) and maps for one of them (cam).
    struct E2E: Decodable {
        struct Sample: Decodable { let logits: [Float] }
        let samples: [String: Sample]
    }
    struct CAM: Decodable {
        let sample: String
        let predicted: Int
        let cam: [[Float]]
        let gradcamLayer3: [[Float]]
    }
    static func fixture<T: Decodable>(_ path: String) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: root.appendingPathComponent(path)))
    }
    static func sample(_ name: String) -> URL { root.appendingPathComponent("samples/\(name)") }

    @Test func valuesComeInInputOrderWithTheFailureInItsPlace() throws {
        let e2e: E2E = try Self.fixture("Tests/Fixtures/e2e/expected.json")
        let names = ["covid19-3way-test-viral-0101.jpeg", "missing.png", "cr-mono1-chest-no-meta.dcm"]
        let urls = names.map(Self.sample)
        let classifier = Classifier(model: Self.model)
        let values = classifier.classifyForReport(urls, saliency: .layer4)
        #expect(values.count == 3)
        guard case let .failure(error) = values[1] else { Issue.record("a missing file was classified"); return }
        #expect(error.stage == .read || error.stage == .decode)
        #expect(error.file.hasSuffix("missing.png"))

        // The same numbers as `classify`, which keeps no image, and as PyTorch.
        let plain = classifier.classify(urls, batchSize: 3)
        for i in [0, 2] {
            let value = try values[i].get()
            let c = value.classification
            #expect(c.file.hasSuffix(names[i]))
            expectClose(c.logits, try #require(e2e.samples[names[i]]).logits, atol: 1e-3, "\(names[i]) logits")
            #expect(c.probabilities.map(\.probability) == (try plain[i].get()).probabilities.map(\.probability))
            #expect(value.scan.image.width > 224, "the full scan is kept for the report")
            #expect(value.features.count == 512)
            #expect(value.saliency.className == c.predictedClass)
            #expect(value.saliencyMethod == .layer4)
        }
    }

    @Test(arguments: [Saliency.layer4, .layer3])
    func theSaliencyMapIsPyTorchsMapOfThePredictedClass(_ method: Saliency) throws {
        let cam: CAM = try Self.fixture("Tests/Fixtures/cam/expected.json")
        let value = try Classifier(model: Self.model)
            .classifyForReport([Self.root.appendingPathComponent(cam.sample)], saliency: method)[0].get()
        let expected = method == .layer4 ? cam.cam[cam.predicted] : cam.gradcamLayer3[cam.predicted]
        let side = method == .layer4 ? 7 : 14
        #expect(value.saliency.width == side && value.saliency.height == side)
        #expect(value.saliency.classIndex == cam.predicted)
        let scale = expected.map(abs).max()!
        // atol 1e-3 of the map's largest magnitude, as in CAMTests: float32 network, other summation order.
        expectClose(value.saliency.values.map { $0 / scale }, expected.map { $0 / scale }, atol: 1e-3, "\(method) map")
    }

    /// The report stage draws the map it is given: a value whose map is hot in one corner only gives an
    /// overlay that differs from the scan in that corner. `ReportWriter` holds no network to recompute it.
    @Test func theReportDrawsTheValuesOwnMap() throws {
        let classified = try Classifier(model: Self.model)
            .classifyForReport([Self.sample("covid19-3way-test-viral-0101.jpeg")], saliency: .layer4)[0].get()
        #expect(classified.classification.predictedClass != "normal", "a normal call gets no overlay")
        var values = [Float](repeating: 0, count: 49)
        values[6] = 1  // top right of 7x7
        let hot = ActivationMap(width: 7, height: 7, values: values, className: classified.classification.predictedClass,
                                classIndex: classified.saliency.classIndex)
        let value = ClassifiedScan(classification: classified.classification, scan: classified.scan, saliency: hot,
                                   saliencyMethod: .layer4, features: classified.features)
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("cxr-report-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let writer = try ReportWriter(directory: folder, template: .default, model: Self.model.configuration,
                                      modelURL: try TestModel.e2e)
        let written = try writer.writeReport(value)
        let pdf = try Data(contentsOf: written.url)
        #expect(pdf.starts(with: Data("%PDF-".utf8)))
        #expect(String(decoding: pdf.suffix(8), as: UTF8.self).contains("%%EOF"))

        let result = try #require(written.summaryEntry.result)
        let overlay = try #require(result.overlay)
        let scan = result.thumbnail
        #expect(overlay.width == scan.width && overlay.height == scan.height)
        // Mean colour change per quadrant: the top-right one must change most, the bottom-left least.
        func change(_ xs: Range<Int>, _ ys: Range<Int>) -> Double {
            var sum = 0.0
            for y in ys { for x in xs {
                let g = Double(scan[x, y]), i = (y * overlay.width + x) * 3
                sum += abs(Double(overlay.pixels[i]) - g) + abs(Double(overlay.pixels[i + 1]) - g) + abs(Double(overlay.pixels[i + 2]) - g)
            } }
            return sum / Double(xs.count * ys.count)
        }
        let w = scan.width, h = scan.height
        let topRight = change(w / 2..<w, 0..<h / 2), bottomLeft = change(0..<w / 2, h / 2..<h)
        #expect(topRight > 4 * bottomLeft, "top right \(topRight), bottom left \(bottomLeft)")
    }
}
