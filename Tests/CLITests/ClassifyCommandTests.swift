import Foundation
import Testing
import TestSupport

/// `cxreview classify` end to end, on the bundled samples, against the torchvision + Pillow reference.
@Suite(.serialized) struct ClassifyCommandTests {
    struct Expected: Decodable {
        struct Sample: Decodable { let logits: [Double]; let probabilities: [Double] }
        let classes: [String]
        let samples: [String: Sample]
    }

    struct Output: Decodable {
        struct Result: Decodable {
            struct P: Decodable { let className: String; let probability: Double }
            let file: String
            let predictedClass: String
            let probabilities: [P]
            let logits: [Float]
            let decodingSummary: String
        }
        struct Failure: Decodable { let file: String; let stage: String; let error: String }
        let disclaimer: String
        let results: [Result]
        let failures: [Failure]
    }

    static func samples() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: CLI.path("samples"))
            .filter { !$0.hasSuffix(".md") }.sorted().map { "samples/\($0)" }
    }

    @Test func probabilitiesMatchTorchvisionAndPillowWithin1e3() throws {
        let expected = try JSONDecoder().decode(
            Expected.self, from: Data(contentsOf: URL(fileURLWithPath: CLI.path("Tests/Fixtures/e2e/expected.json"))))
        let files = try Self.samples()
        #expect(files.count == expected.samples.count)
        let run = try CLI.run(["classify", "--json", "--model", CLI.testModel] + files)
        #expect(run.status == 0, "stderr: \(run.stderr)")
        let out = try JSONDecoder().decode(Output.self, from: Data(run.stdout.utf8))
        #expect(out.failures.isEmpty)
        #expect(out.results.count == files.count)
        #expect(out.disclaimer == "Research use only. Not for diagnostic use.")
        var worst = 0.0
        for r in out.results {
            let name = URL(fileURLWithPath: r.file).lastPathComponent
            let ref = try #require(expected.samples[name], "no reference for \(name)")
            #expect(r.probabilities.map(\.className) == expected.classes)
            for (i, p) in r.probabilities.enumerated() {
                worst = max(worst, abs(p.probability - ref.probabilities[i]))
                // Tolerance 1e-3: the end-to-end requirement (decode + resize + network).
                #expect(abs(p.probability - ref.probabilities[i]) <= 1e-3,
                        "\(name) \(p.className): \(p.probability) vs torchvision \(ref.probabilities[i])")
            }
            let best = ref.probabilities.indices.max { ref.probabilities[$0] < ref.probabilities[$1] }!
            #expect(r.predictedClass == expected.classes[best])
        }
        print("end to end: largest |probability − torchvision + Pillow| over \(out.results.count) samples = \(worst)")
    }

    @Test func aBadFileIsReportedOnOneLineAndTheOthersStillGoThrough() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cxr-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let junk = dir.appendingPathComponent("random.dcm")
        var g = SystemRandomNumberGenerator()
        try Data((0..<4096).map { _ in UInt8.random(in: 0...255, using: &g) }).write(to: junk)
        let empty = dir.appendingPathComponent("empty.png")
        try Data().write(to: empty)
        let good = "samples/covid19-3way-test-normal-0121.jpeg"

        let run = try CLI.run(["classify", "--json", "--model", CLI.testModel, junk.path, good, empty.path])
        #expect(run.status == 1)
        let out = try JSONDecoder().decode(Output.self, from: Data(run.stdout.utf8))
        #expect(out.results.map(\.file) == [good])
        #expect(Set(out.failures.map(\.file)) == [junk.path, empty.path])
        let lines = run.stderr.split(separator: "\n").filter { $0.hasPrefix("error:") }
        #expect(lines.count == 2, "stderr: \(run.stderr)")
        #expect(lines.contains { $0.contains("random.dcm") && $0.contains("not a DICOM, PNG or JPEG") })
        #expect(lines.contains { $0.contains("empty.png") && $0.contains("empty (0 bytes)") })
        // The inputs are untouched.
        #expect(FileManager.default.fileExists(atPath: junk.path))
        #expect(FileManager.default.fileExists(atPath: empty.path))
    }

    @Test func textOutputShowsClassProbabilitiesDecodingAndDisclaimer() throws {
        let run = try CLI.run(["classify", "--model", CLI.testModel, "samples/cr-mono1-chest-no-meta.dcm"])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        #expect(run.stdout.contains("probabilities: "))
        #expect(run.stdout.contains("decoding: DICOM; window from file (center 550, width 1024); inverted for display"))
        #expect(run.stdout.contains("time: decode "))
        #expect(run.stdout.contains("1 classified, 0 failed. Research use only. Not for diagnostic use."))
        #expect(run.stderr.contains("is not a trained model"))
    }

    @Test func withoutModelOptionTheShippedModelIsUsed() throws {
        let run = try CLI.run(["classify", "--json", "samples/covid19-3way-test-covid-0105.png"])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        struct Doc: Decodable { struct Model: Decodable { let path: String; let trained: Bool }; let model: Model }
        let doc = try JSONDecoder().decode(Doc.self, from: Data(run.stdout.utf8))
        #expect(doc.model.path.hasSuffix("models/cxreview-resnet18.safetensors"))
        #expect(doc.model.trained)
    }

    @Test func aModelPathThatDoesNotExistIsRefused() throws {
        let run = try CLI.run(["classify", "samples/covid19-3way-test-covid-0105.png"],
                              environment: ["CXREVIEW_MODEL": "/nonexistent/model.safetensors"])
        #expect(run.status == 2)
        #expect(run.stderr.contains("model file /nonexistent/model.safetensors does not exist"))
    }

    @Test func aFileThatIsNotAModelIsRefusedClearly() throws {
        let run = try CLI.run(["classify", "--model", "samples/covid19-3way-test-covid-0105.png",
                               "samples/covid19-3way-test-covid-0105.png"])
        #expect(run.status == 2)
        #expect(run.stderr.hasPrefix("error: cannot load model"))
    }
}

/// `classify --report DIR`: one PDF per scan, named after the SOP Instance UID, never overwritten.
@Suite(.serialized) struct ClassifyReportTests {
    @Test func reportsHoldTheProbabilitiesOfTheJSONAndAreNeverOverwritten() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cxr-reports-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let dicom = "samples/cr-mono1-chest-no-meta.dcm"
        let run = try CLI.run(["classify", "--json", "--model", CLI.testModel, dicom, "--report", dir.path])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        struct Doc: Decodable {
            struct R: Decodable { struct P: Decodable { let className: String; let probability: Double }; let probabilities: [P] }
            let results: [R]
        }
        let doc = try JSONDecoder().decode(Doc.self, from: Data(run.stdout.utf8))
        let pdf = dir.appendingPathComponent("1.2.392.200036.9125.0.19950720112207.pdf")
        #expect(FileManager.default.fileExists(atPath: pdf.path))

        let body = try Tool.run("pdftotext", [pdf.path, "-"]).stdout
        #expect(body.contains("Research use only. Not for diagnostic use."))
        #expect(body.contains("Anonymized"))
        for p in doc.results[0].probabilities {
            #expect(body.contains(String(format: "%.3f", p.probability)), "\(p.className) \(p.probability) not in the report")
        }

        let again = try CLI.run(["classify", "--model", CLI.testModel, dicom, "--report", dir.path])
        #expect(again.status == 0)
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("1.2.392.200036.9125.0.19950720112207-2.pdf").path))
    }

    @Test func theReportSaysWhichSaliencyLayerWasUsed() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cxr-saliency-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let png = "samples/covid19-3way-test-covid-0105.png"
        for (option, expected) in [("layer4", "CAM at layer4, 7 × 7"), ("layer3", "Grad-CAM at layer3, 14 × 14")] {
            let out = dir.appendingPathComponent(option)
            let run = try CLI.run(["classify", "--model", CLI.testModel, png, "--report", out.path, "--saliency", option])
            #expect(run.status == 0, "stderr: \(run.stderr)")
            let pdf = out.appendingPathComponent("covid19-3way-test-covid-0105.pdf")
            let text = try Tool.run("pdftotext", [pdf.path, "-"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
            #expect(text.contains(expected), "\(option): \(text)")
        }
        let bad = try CLI.run(["classify", "--model", CLI.testModel, png, "--saliency", "layer3"])
        #expect(bad.status != 0 && bad.stderr.contains("--saliency goes with --report DIR"))
    }

    @Test func aMalformedTemplateFailsWithItsLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cxr-template-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let template = dir.appendingPathComponent("t.yaml")
        try Data("institution: Test\npage_size: A5\n".utf8).write(to: template)
        let run = try CLI.run(["classify", "--model", CLI.testModel, "samples/covid19-3way-test-covid-0105.png",
                               "--report", dir.path, "--template", template.path])
        #expect(run.status == 2)
        #expect(run.stderr.contains("line 2"), "stderr: \(run.stderr)")
    }
}

/// `classify --report DIR --summary`: one summary PDF for the run, rows in COVID-19 order.
@Suite(.serialized) struct ClassifySummaryTests {
    @Test func summaryRowsFollowTheJSONsCovidProbabilitiesAndListFailures() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cxr-summary-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let junk = dir.appendingPathComponent("junk.png")
        try Data("not an image".utf8).write(to: junk)
        let files = try ClassifyCommandTests.samples() + [junk.path]
        let reports = dir.appendingPathComponent("reports")
        let run = try CLI.run(["classify", "--json", "--model", CLI.testModel, "--report", reports.path, "--summary"] + files)
        #expect(run.status == 1, "one file fails: \(run.stderr)")
        struct Doc: Decodable {
            struct R: Decodable {
                struct P: Decodable { let className: String; let probability: Double }
                let file: String
                let probabilities: [P]
            }
            let results: [R]
            let summary: String?
        }
        let doc = try JSONDecoder().decode(Doc.self, from: Data(run.stdout.utf8))
        let summary = try #require(doc.summary)
        #expect(URL(fileURLWithPath: summary).lastPathComponent.hasPrefix("summary-"))
        #expect(URL(fileURLWithPath: summary).deletingLastPathComponent().standardizedFileURL.path == reports.standardizedFileURL.path)

        // Rows in descending COVID-19 probability (stable), each with its three probabilities as printed.
        let text = try Tool.run("pdftotext", ["-layout", summary, "-"]).stdout
        let ordered = doc.results.enumerated().sorted { a, b in
            let pa = a.element.probabilities[2].probability, pb = b.element.probabilities[2].probability
            return pa != pb ? pa > pb : a.offset < b.offset
        }.map(\.element)
        var cursor = text.startIndex
        for r in ordered {
            #expect(r.probabilities[2].className == "covid")
            let printed = r.probabilities.map { String(format: "%.3f", $0.probability) }.joined(separator: " +")
            let row = try #require(text.range(of: printed, options: .regularExpression, range: cursor..<text.endIndex),
                                   "\(r.file): \(printed) not found in order")
            cursor = row.upperBound
        }
        #expect(text.contains("junk.png"))
        #expect(text.contains("Not classified (1)"))
        #expect(text.contains("Research use only. Not for diagnostic use."))
        // Every per-scan report is linked from the summary.
        let links = try Tool.run("pdfinfo", ["-url", summary]).stdout
        let pdfs = try FileManager.default.contentsOfDirectory(atPath: reports.path).filter { $0.hasSuffix(".pdf") && !$0.hasPrefix("summary-") }
        #expect(pdfs.count == doc.results.count)
        for name in pdfs { #expect(links.contains(" " + name), "\(name) is not linked") }
    }

    @Test func summaryNeedsReport() throws {
        let run = try CLI.run(["classify", "--model", CLI.testModel, "--summary", "samples/covid19-3way-test-covid-0105.png"])
        #expect(run.status != 0)
        #expect(run.stderr.contains("--summary goes with --report DIR"))
    }
}
