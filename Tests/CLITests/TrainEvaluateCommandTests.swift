import Foundation
import Testing
import TestSupport

/// `cxreview train`, `evaluate` and `preview` end to end, on six real chest X-rays
/// (the samples and the image fixtures), with the real binary.
@Suite(.serialized) struct TrainEvaluateCommandTests {
    /// covid ×3, normal ×2, viral ×1, in class folders under a temporary root.
    static func makeData() throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cxr-train-\(UUID().uuidString)")
        let files = [
            ("covid", "samples/covid19-3way-test-covid-0105.png"), ("covid", "Tests/Fixtures/images/covid_rgb.jpeg"),
            ("covid", "Tests/Fixtures/images/covid_grey.jpg"), ("normal", "samples/covid19-3way-test-normal-0121.jpeg"),
            ("normal", "Tests/Fixtures/images/normal_rgb.jpeg"), ("viral", "samples/covid19-3way-test-viral-0101.jpeg"),
        ]
        for (label, file) in files {
            let dir = root.appendingPathComponent(label)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: URL(fileURLWithPath: CLI.path(file)),
                                             to: dir.appendingPathComponent(URL(fileURLWithPath: file).lastPathComponent))
        }
        return root
    }

    @Test func trainWritesACalibratedModelThatClassifyUsesAndResumeContinues() throws {
        let data = try Self.makeData()
        defer { try? FileManager.default.removeItem(at: data) }
        let model = data.appendingPathComponent("model.safetensors")
        let common = ["train", data.path, "--out", model.path, "--batch-size", "2", "--eval-every", "2",
                      "--validation-fraction", "0.34", "--lr", "1e-3", "--seed", "3"]
        let first = try CLI.run(common + ["--epochs", "1"])
        #expect(first.status == 0, "stderr: \(first.stderr)")
        #expect(first.stdout.contains("training on 4 scans (normal 1, viral 1, covid 2); validating on 2 scans (normal 1, viral 0, covid 1)"))
        #expect(first.stdout.contains("step 2 (epoch 1): train loss"))
        #expect(first.stdout.contains("per epoch; step 2 of 2, 0 s left"))
        #expect(first.stdout.contains("trained 4 images in "))
        #expect(first.stdout.contains("temperature scaling on the validation split: T = "))
        #expect(FileManager.default.fileExists(atPath: model.path))

        // Without --resume an existing model is never overwritten.
        let again = try CLI.run(common + ["--epochs", "1"])
        #expect(again.status == 2)
        #expect(again.stderr.contains("exists"))

        // A resume with other settings is refused, naming them.
        let other = try CLI.run(common.map { $0 == "3" ? "4" : $0 } + ["--epochs", "2", "--resume"])
        #expect(other.status == 2)
        #expect(other.stderr.contains("--seed 3 (this command: 4)"), "stderr: \(other.stderr)")

        let resumed = try CLI.run(common + ["--epochs", "2", "--resume"])
        #expect(resumed.status == 0, "stderr: \(resumed.stderr)")
        #expect(resumed.stdout.contains("resuming at step 2 (epoch 1, image 4 of the epoch)"))
        #expect(resumed.stdout.contains("step 4 (epoch 2)"))
        #expect(resumed.stdout.contains("trained 8 images in ") && resumed.stdout.contains("; this sitting 4 images in "))

        // A finished run refits only its final step: an operating point, and the same again.
        let withPoint = try CLI.run(common + ["--epochs", "2", "--resume", "--max-false-alarm", "0.5"])
        #expect(withPoint.status == 0, "stderr: \(withPoint.stderr)")
        #expect(withPoint.stdout.contains("all 2 epochs are trained already"))
        let line = try #require(withPoint.stdout.split(separator: "\n").first { $0.hasPrefix("operating point on the validation split's ") && $0.contains(" scans of trained groups (false alarms at most 50%): logit offsets viral ") })
        let again2 = try CLI.run(common + ["--epochs", "2", "--resume", "--max-false-alarm", "0.5"])
        #expect(again2.stdout.split(separator: "\n").contains(line), "the offsets already in the file are taken out before the fit")
        // The file's training summary keeps the first sitting's command; the resuming one is beside it.
        let training = try Self.trainingSummary(model)
        #expect(training["command"]?.hasSuffix(" --epochs 1") == true, "\(training["command"] ?? "none")")
        #expect(training["resumed_by"]?.contains("--resume --max-false-alarm 0.5") == true)
        #expect(training["operating_point_offsets"] != nil)

        let classify = try CLI.run(["classify", "--json", "--model", model.path, "samples/covid19-3way-test-covid-0105.png"])
        #expect(classify.status == 0, "stderr: \(classify.stderr)")
        #expect(!classify.stderr.contains("not a trained model"))
        #expect(classify.stdout.contains("\"trained\" : true"))
    }

    /// The `cxreview.training` metadata of a model file (read from the safetensors header).
    static func trainingSummary(_ model: URL) throws -> [String: String] {
        let header = try TestModel.safetensorsHeader(try Data(contentsOf: model)).object
        let metadata = try #require(header["__metadata__"] as? [String: String])
        let json = try #require(metadata["cxreview.training"])
        return try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String])
    }

    @Test func evaluateReportsMetricsAFigureAndListedScans() throws {
        let data = try Self.makeData()
        defer { try? FileManager.default.removeItem(at: data) }
        let figure = data.appendingPathComponent("evaluation.pdf")
        let run = try CLI.run(["evaluate", data.path, "--model", CLI.testModel, "--json", "--figure", figure.path])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        struct Report: Decodable {
            struct Metrics: Decodable { let count: Int; let accuracy: Double; let confusion: [[Int]]; let classNames: [String] }
            let all: Metrics
            let disclaimer: String
        }
        let report = try JSONDecoder().decode(Report.self, from: Data(run.stdout.utf8))
        #expect(report.all.count == 6)
        #expect(report.all.classNames == ["normal", "viral", "covid"])
        #expect(report.all.confusion.map { $0.reduce(0, +) } == [2, 1, 3])
        #expect(report.disclaimer == "Research use only. Not for diagnostic use.")
        #expect(FileManager.default.fileExists(atPath: figure.path))

        // A list as `train --holdout-fraction` writes it, with paths relative to the list.
        let list = data.appendingPathComponent("held.tsv")
        try Data("covid\tx\tcovid/covid_grey.jpg\nnormal\t\tnormal/normal_rgb.jpeg\n".utf8).write(to: list)
        let listed = try CLI.run(["evaluate", "--files-from", list.path, "--model", CLI.testModel])
        #expect(listed.status == 0, "stderr: \(listed.stderr)")
        #expect(listed.stdout.contains("All 2 scans:"))
    }

    @Test func previewWritesTheGrid() throws {
        let data = try Self.makeData()
        defer { try? FileManager.default.removeItem(at: data) }
        let out = data.appendingPathComponent("grid.png")
        let run = try CLI.run(["preview", data.path, "--out", out.path, "--count", "6", "--columns", "3"])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        #expect(FileManager.default.fileExists(atPath: out.path))
        let again = try CLI.run(["preview", data.path, "--out", out.path])
        #expect(again.status == 2, "an existing file is not overwritten")
    }
}

/// `cxreview calibrate-ood` and the out-of-distribution check of `classify`.
@Suite(.serialized) struct OutOfDistributionCommandTests {
    struct Doc: Decodable {
        struct R: Decodable {
            struct OOD: Decodable { let checked: Bool; let score: Double?; let threshold: Double?; let flagged: Bool; let note: String? }
            let file: String
            let outOfDistribution: OOD
        }
        let results: [R]
    }

    /// The bytes after the safetensors header.
    static func dataSection(_ url: URL) throws -> Data {
        let d = try Data(contentsOf: url)
        let n = d.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        return d.subdata(in: (8 + n)..<d.count)
    }

    @Test func calibrateAddsStatisticsWithoutTouchingTheWeights() throws {
        let data = try TrainEvaluateCommandTests.makeData()
        defer { try? FileManager.default.removeItem(at: data) }
        let out = data.appendingPathComponent("with-ood.safetensors")
        let run = try CLI.run(["calibrate-ood", data.path, "--model", CLI.testModel, "--out", out.path, "--folds", "3"])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        #expect(run.stdout.contains("scans: 6 (normal 2, viral 1, covid 3)"))
        #expect(run.stdout.contains("weights byte-identical: yes"))
        #expect(try Self.dataSection(out) == Self.dataSection(URL(fileURLWithPath: CLI.path(CLI.testModel))))

        // An existing --out is never overwritten.
        let again = try CLI.run(["calibrate-ood", data.path, "--model", CLI.testModel, "--out", out.path, "--folds", "3"])
        #expect(again.status == 2 && again.stderr.contains("exists"))

        let png = "samples/covid19-3way-test-covid-0105.png"
        let with = try JSONDecoder().decode(Doc.self, from: Data(try CLI.run(["classify", "--json", "--model", out.path, png]).stdout.utf8))
        let check = try #require(with.results.first?.outOfDistribution)
        #expect(check.checked && check.score != nil && check.threshold != nil)
        #expect(check.flagged == (check.score! > check.threshold!))

        // A model without statistics checks nothing and says so.
        let without = try JSONDecoder().decode(Doc.self, from: Data(try CLI.run(["classify", "--json", "--model", CLI.testModel, png]).stdout.utf8))
        let none = try #require(without.results.first?.outOfDistribution)
        #expect(!none.checked && !none.flagged && none.score == nil)
        #expect(none.note?.contains("calibrate-ood") == true)
    }

    /// The shipped model's statistics: an MR and a CT slice are flagged, the bundled chest X-rays
    /// are not, and the flag reaches the per-scan report and the summary. (Not every non-chest
    /// file is flagged: models/MODEL_CARD.md lists the misses, which the scope check sets aside.)
    @Test func shippedModelFlagsNonChestScansInJSONReportAndSummary() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("cxr-ood-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let outside = ["Tests/Fixtures/dicom/MR_small_RLE.dcm", "Tests/Fixtures/dicom/CT_small.dcm"]
        let inside = ["samples/covid19-3way-test-covid-0105.png", "samples/covid19-3way-test-normal-0121.jpeg",
                      "samples/covid19-3way-test-viral-0101.jpeg", "samples/siim-chest-jpeg-baseline.dcm"]
        let run = try CLI.run(["classify", "--json", "--report", dir.path, "--summary", "--template", "templates/report.yaml"] + outside + inside)
        #expect(run.status == 0, "stderr: \(run.stderr)")
        let doc = try JSONDecoder().decode(Doc.self, from: Data(run.stdout.utf8))
        for r in doc.results {
            #expect(r.outOfDistribution.checked, "the shipped model carries statistics")
            #expect(r.outOfDistribution.flagged == outside.contains(r.file), "\(r.file): \(r.outOfDistribution)")
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
        let summary = try #require(names.first { $0.hasPrefix("summary-") })
        let summaryText = try Tool.run("pdftotext", [dir.appendingPathComponent(summary).path, "-"]).stdout
        #expect(summaryText.components(separatedBy: "Out of distribution").count - 1 == outside.count)
        let reports = names.filter { $0.hasSuffix(".pdf") && !$0.hasPrefix("summary-") }
        #expect(reports.count == outside.count + inside.count)
        let warned = try reports.filter { try Tool.run("pdftotext", [dir.appendingPathComponent($0).path, "-"]).stdout.contains("Out of distribution") }
        #expect(warned.count == outside.count, "reports with the warning: \(warned)")
    }
}
