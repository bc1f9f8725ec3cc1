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
        struct Doc: Decodable {
            struct Model: Decodable { let path: String; let trained: Bool; let trainedClasses: [String: [String]]? }
            let model: Model
        }
        let doc = try JSONDecoder().decode(Doc.self, from: Data(run.stdout.utf8))
        #expect(doc.model.path.hasSuffix("models/cxreview-resnet18.safetensors"))
        #expect(doc.model.trained)
        // What the untrained_group warning goes by: adult viral pneumonia was never trained on.
        #expect(doc.model.trainedClasses == ["child": ["normal", "viral"], "adult": ["normal", "covid"]])
    }

    /// The SIIM sample's header says PatientAge "62": with a model that says it trained on children
    /// only, every class it gives is outside what it learned, in the text and in --json.
    @Test func aClassTheAgeGroupNeverTrainedOnIsFlagged() throws {
        let model = try TestModel.e2e { $0["trainedClasses"] = ["child": ["normal", "viral", "covid"]] }
        let run = try CLI.run(["classify", "--json", "--model", model.path, "samples/siim-chest-jpeg-baseline.dcm"])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        struct Doc: Decodable {
            struct Model: Decodable { let trainedClasses: [String: [String]]? }
            struct Result: Decodable { struct Warning: Decodable { let code: String; let message: String }; let warnings: [Warning] }
            let model: Model
            let results: [Result]
        }
        let doc = try JSONDecoder().decode(Doc.self, from: Data(run.stdout.utf8))
        #expect(doc.model.trainedClasses == ["child": ["normal", "viral", "covid"]])
        let warning = try #require(doc.results.first?.warnings.first { $0.code == "untrained_group" })
        #expect(warning.message.contains(" in adults (18 or older) (age 62 by the header)"), "\(warning.message)")

        let text = try CLI.run(["classify", "--model", model.path, "samples/siim-chest-jpeg-baseline.dcm"])
        #expect(text.stdout.contains("warning (untrained_group): Outside what the model learned"), "\(text.stdout)")
        // The test model itself does not say what it trained on: no such warning.
        let plain = try CLI.run(["classify", "--json", "--model", CLI.testModel, "samples/siim-chest-jpeg-baseline.dcm"])
        #expect(!plain.stdout.contains("untrained_group"))
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
        // A scan the test model does not call normal: a normal call gets no overlay, so no caption.
        let png = "samples/covid19-3way-test-viral-0101.jpeg"
        for (option, expected) in [("layer4", "CAM at layer4, 7 × 7"), ("layer3", "Grad-CAM at layer3, 14 × 14")] {
            let out = dir.appendingPathComponent(option)
            let run = try CLI.run(["classify", "--model", CLI.testModel, png, "--report", out.path, "--saliency", option])
            #expect(run.status == 0, "stderr: \(run.stderr)")
            let pdf = out.appendingPathComponent("samples_covid19-3way-test-viral-0101.jpeg.pdf")
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

/// `classify --report DIR --summary`: one summary PDF for the run, rows in triage order (1 − p(normal)).
@Suite(.serialized) struct ClassifySummaryTests {
    @Test func summaryRowsFollowTheJSONsNotNormalProbabilitiesAndListFailures() throws {
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

        // Rows in descending 1 − p(normal) (stable), each with its three probabilities as printed
        // (every sample is a chest in scope, so none is set aside).
        let text = try Tool.run("pdftotext", ["-layout", summary, "-"]).stdout
        #expect(!text.contains("Set aside"))
        let ordered = doc.results.enumerated().sorted { a, b in
            let pa = 1 - a.element.probabilities[0].probability, pb = 1 - b.element.probabilities[0].probability
            return pa != pb ? pa > pb : a.offset < b.offset
        }.map(\.element)
        var cursor = text.startIndex
        for r in ordered {
            #expect(r.probabilities[0].className == "normal")
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

/// Issue 14: where a scan came from, scope, warnings in every output, triage order.
@Suite(.serialized) struct ClassifyScopeAndProvenanceTests {
    struct Doc: Decodable {
        struct W: Decodable { let code: String; let message: String }
        struct R: Decodable {
            struct P: Decodable { let className: String; let probability: Double }
            let file: String
            let predictedClass: String
            let probabilities: [P]
            let warnings: [W]
        }
        let results: [R]
        let summary: String?
    }

    static func folder(_ name: String) throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cxr-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func words(_ pdf: String) throws -> String {
        try Tool.run("pdftotext", [pdf, "-"]).stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    /// Item 6: two files named 0105.png in different folders get reports named after their paths,
    /// each showing its path, and two summary rows that can be told apart.
    @Test func sameNamedFilesInDifferentFoldersGetReportsThatShowTheirPaths() throws {
        // A short folder without hyphens, so pdftotext neither splits nor de-hyphenates the paths.
        let dir = URL(fileURLWithPath: "/tmp/cxr" + UUID().uuidString.prefix(8))
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var files: [String] = []
        for ward in ["ward3/bed12", "ward4/bed02"] {
            let sub = dir.appendingPathComponent("in/\(ward)")
            try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: CLI.path("samples/covid19-3way-test-covid-0105.png"),
                                             toPath: sub.appendingPathComponent("0105.png").path)
            files.append(sub.appendingPathComponent("0105.png").path)
        }
        let reports = dir.appendingPathComponent("reports")
        let run = try CLI.run(["classify", "--json", "--model", CLI.testModel, "--report", reports.path, "--summary"] + files)
        #expect(run.status == 0, "stderr: \(run.stderr)")
        let names = try FileManager.default.contentsOfDirectory(atPath: reports.path).filter { !$0.hasPrefix("summary-") }.sorted()
        #expect(names.count == 2)
        #expect(names.allSatisfy { !$0.hasPrefix("0105") }, "\(names)")
        #expect(names[0].hasSuffix("in_ward3_bed12_0105.png.pdf") && names[1].hasSuffix("in_ward4_bed02_0105.png.pdf"), "\(names)")
        for (name, file) in zip(names, files) {
            let text = try Self.words(reports.appendingPathComponent(name).path).filter { !$0.isWhitespace }
            #expect(text.contains(file), "\(name) does not show \(file)")
        }
        // The summary links both reports (its rows' paths are checked in ScanWarningTests).
        let doc = try JSONDecoder().decode(Doc.self, from: Data(run.stdout.utf8))
        let links = try Tool.run("pdfinfo", ["-url", try #require(doc.summary)]).stdout
        for name in names { #expect(links.contains(" " + name), "\(name) is not linked") }
    }

    /// Items 7 and 8: a CT slice and the dog thorax are out of scope in the text, the JSON, the
    /// report's headline and the summary (set apart, after the ranked chest); the chest CR is not.
    @Test func ctSliceAndDogThoraxAreOutOfScopeEverywhere() throws {
        let dir = try Self.folder("scope")
        defer { try? FileManager.default.removeItem(at: dir) }
        let ct = "Tests/Fixtures/dicom/CT_small.dcm", dog = "Tests/Fixtures/dicom/highdicom_dx_image.dcm"
        let chest = "samples/cr-mono1-chest-no-meta.dcm"
        let reports = dir.appendingPathComponent("reports")
        let run = try CLI.run(["classify", "--json", "--model", CLI.testModel, "--report", reports.path, "--summary", ct, dog, chest])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        let doc = try JSONDecoder().decode(Doc.self, from: Data(run.stdout.utf8))
        let byFile = Dictionary(uniqueKeysWithValues: doc.results.map { ($0.file, $0) })
        let ctWarnings = try #require(byFile[ct]).warnings
        #expect(ctWarnings.first?.code == "out_of_scope")
        #expect(ctWarnings.first?.message.contains("Modality CT") == true)
        #expect(ctWarnings.first?.message.contains("SOP class 1.2.840.10008.5.1.4.1.1.2") == true)
        let dogWarnings = try #require(byFile[dog]).warnings
        #expect(dogWarnings.first?.code == "out_of_scope")
        #expect(dogWarnings.first?.message.contains("169") == true, "\(dogWarnings)")
        #expect(try #require(byFile[chest]).warnings.allSatisfy { $0.code != "out_of_scope" })
        // The random test model is unsure: low confidence is a warning of its own.
        #expect(doc.results.contains { $0.warnings.contains { $0.code == "low_confidence" } })

        let text = try CLI.run(["classify", "--model", CLI.testModel, ct, chest])
        #expect(text.stdout.contains("\(ct): OUT OF SCOPE, no finding (model output:"), "\(text.stdout)")
        #expect(text.stdout.contains("warning (out_of_scope): Out of scope (Modality CT"))
        #expect(!text.stdout.contains("\(chest): OUT OF SCOPE"))

        let ctReport = try FileManager.default.contentsOfDirectory(atPath: reports.path).first { $0.hasPrefix("1.3.6.1.4.1.5962") }
        let body = try Self.words(reports.appendingPathComponent(try #require(ctReport)).path)
        let headline = try #require(body.range(of: "Out of scope: this is not a scan the model can assess"))
        let output = try #require(body.range(of: "Model output (not a finding)"))
        #expect(headline.upperBound < output.lowerBound)
        #expect(!body.contains("Predicted class"))
        #expect(body.contains("Research use only. Not for diagnostic use."))
        // The dog's header has PatientOrientation L\F: the report marks the image's R and L edges.
        let dogReport = try FileManager.default.contentsOfDirectory(atPath: reports.path).first { $0.hasPrefix("1.2.826.0.1.3680043.8.498.4245") }
        let dogBody = try Self.words(reports.appendingPathComponent(try #require(dogReport)).path)
        #expect(dogBody.contains("R/L: patient right/left from the header's PatientOrientation"))
        #expect(dogBody.contains("Out of scope: this is not a scan the model can assess"))

        let summary = try Tool.run("pdftotext", ["-layout", try #require(doc.summary), "-"]).stdout
        let aside = try #require(summary.range(of: "Set aside (2)"))
        // (The summary's column wraps paths: look for their ends.)
        let chestRow = try #require(summary.range(of: "meta.dcm"))
        #expect(chestRow.upperBound < aside.lowerBound, "the chest is ranked before the set-aside group")
        for name in ["CT_small.dcm", "highdicom_dx_image.dcm"] {
            let row = try #require(summary.range(of: name))
            #expect(row.lowerBound > aside.upperBound, "\(name) is not in the set-aside group")
        }
    }

    /// Item 9: the shipped model's confident normal call gets no overlay (one image on the page,
    /// and a line saying why); a viral call gets its overlay with the legend's scale note.
    @Test func aNormalCallHasNoOverlayAndOthersSayHowTheMapIsScaled() throws {
        let dir = try Self.folder("overlay")
        defer { try? FileManager.default.removeItem(at: dir) }
        let normal = "samples/covid19-3way-test-normal-0121.jpeg", viral = "samples/covid19-3way-test-viral-0101.jpeg"
        let run = try CLI.run(["classify", "--json", "--report", dir.path, normal, viral])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        let doc = try JSONDecoder().decode(Doc.self, from: Data(run.stdout.utf8))
        #expect(doc.results.map(\.predictedClass) == ["normal", "viral"])
        let normalPDF = dir.appendingPathComponent("samples_covid19-3way-test-normal-0121.jpeg.pdf").path
        let viralPDF = dir.appendingPathComponent("samples_covid19-3way-test-viral-0101.jpeg.pdf").path
        func images(_ pdf: String) throws -> Int { try Tool.run("pdfimages", ["-list", pdf]).stdout.split(separator: "\n").count - 2 }
        #expect(try images(normalPDF) == 1)
        #expect(try images(viralPDF) == 2)
        let n = try Self.words(normalPDF), v = try Self.words(viralPDF)
        #expect(n.contains("No overlay: the predicted class is normal"))
        #expect(v.contains("Colours are scaled to this map's own range"))
        for body in [n, v] { #expect(body.contains("Not assessed by this model: pleural effusion, pneumothorax")) }
    }
}
