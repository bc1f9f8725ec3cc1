import Foundation
import Testing
import TestSupport

/// Weights cross between PyTorch and cxreview both ways, against make_interop_fixtures.py:
/// a plain torchvision state_dict (no cxreview config) classifies as PyTorch does, with a notice
/// of what was assumed; the shipped model, loaded by torchvision with strict=True, gives PyTorch
/// the probabilities `classify --json` reports.
@Suite(.serialized) struct PyTorchInteropTests {
    struct Reference: Decodable {
        struct Model: Decodable {
            let model: String
            let sha256: String
            let classes: [String]
            let temperature: Double
            let samples: [String: ClassifyCommandTests.Expected.Sample]
        }
        let plain: Model
        let shipped: Model
    }

    struct Document: Decodable {
        struct Model: Decodable { let path: String; let classes: [String]; let configuration: String; let temperature: Double }
        let model: Model
        let warnings: [String]
        let results: [ClassifyCommandTests.Output.Result]
        let failures: [ClassifyCommandTests.Output.Failure]
    }

    static let fixture = "Tests/Fixtures/interop/expected.json"
    static let regenerate = "python Tests/Fixtures/make_interop_fixtures.py"
    static let plainModel = "Tests/Fixtures/interop/resnet18-plain-f16.safetensors"

    static func reference() throws -> Reference {
        try JSONDecoder().decode(Reference.self, from: Data(contentsOf: URL(fileURLWithPath: CLI.path(fixture))))
    }

    static func sha256(_ relative: String) throws -> String {
        let out = try Tool.run("sha256sum", [CLI.path(relative)])
        return String(out.stdout.prefix { !$0.isWhitespace })
    }

    /// Records an issue unless `model` is the file the fixture was made from; returns whether it is.
    static func isFixtureSource(_ model: Reference.Model) throws -> Bool {
        let found = try sha256(model.model)
        guard found == model.sha256 else {
            Issue.record("""
                \(model.model) is not the file \(fixture) was made from (its SHA-256 is \(found), the fixture's \(model.sha256)); \
                the PyTorch reference numbers are stale: regenerate them with `\(regenerate)` and commit the result.
                """)
            return false
        }
        return true
    }

    /// `classify --json` on the fixture's samples: every probability within `tolerance` of PyTorch's.
    /// Returns the document and the largest difference.
    static func classify(_ model: Reference.Model, extra: [String] = [], tolerance: Double) throws -> (Document, Double) {
        let files = model.samples.keys.sorted().map { "samples/\($0)" }
        let run = try CLI.run(["classify", "--json", "--model", model.model] + extra + files)
        #expect(run.status == 0, "stderr: \(run.stderr)")
        let doc = try JSONDecoder().decode(Document.self, from: Data(run.stdout.utf8))
        #expect(doc.failures.isEmpty)
        #expect(doc.results.count == files.count)
        var worst = 0.0
        for r in doc.results {
            let name = URL(fileURLWithPath: r.file).lastPathComponent
            let ref = try #require(model.samples[name], "no reference for \(name)")
            #expect(r.probabilities.map(\.className) == model.classes)
            for (p, q) in zip(r.probabilities, ref.probabilities) {
                worst = max(worst, abs(p.probability - q))
                #expect(abs(p.probability - q) <= tolerance, "\(name) \(p.className): \(p.probability) vs PyTorch \(q)")
            }
        }
        return (doc, worst)
    }

    static let plainNotice = [
        "model resnet18-plain-f16.safetensors has no cxreview config: assuming ImageNet preprocessing at 224 px and classes "
            + "normal, viral, covid (the project's order); pass --classes to name them",
        "its probabilities are uncalibrated (temperature 1) and out-of-distribution checks are off (it has no cxreview.ood).",
    ]

    @Test func aPlainStateDictClassifiesAsPyTorchDoesAndSaysWhatWasAssumed() throws {
        let reference = try Self.reference()
        try #require(try Self.isFixtureSource(reference.plain))
        // Tolerance 1e-4: the same decoded pixels and resize as PyTorch's reference; only the
        // network's summation order differs (typically a few 1e-6).
        let (doc, worst) = try Self.classify(reference.plain, tolerance: 1e-4)
        #expect(doc.model.configuration == "assumed")
        #expect(doc.model.temperature == 1)
        #expect(doc.model.classes == ["normal", "viral", "covid"])
        #expect(doc.warnings == Self.plainNotice)
        print("plain torchvision state_dict: largest |probability − PyTorch| over \(doc.results.count) samples = \(worst)")

        let text = try CLI.run(["classify", "--model", Self.plainModel, "samples/covid19-3way-test-covid-0105.png"])
        #expect(text.status == 0, "stderr: \(text.stderr)")
        #expect(text.stderr == Self.plainNotice.map { "warning: \($0)\n" }.joined())
    }

    @Test func classesNameThePlainFilesOutputsAndMustFitIt() throws {
        let named = try CLI.run(["classify", "--model", Self.plainModel, "--classes", "clear,pneumonia,covid-19",
                                 "samples/covid19-3way-test-covid-0105.png"])
        #expect(named.status == 0, "stderr: \(named.stderr)")
        #expect(named.stdout.contains("probabilities: clear 0.610, pneumonia 0.369, covid-19 0.020"), "\(named.stdout)")
        #expect(named.stderr.contains("assuming ImageNet preprocessing at 224 px and classes clear, pneumonia, covid-19 (as --classes names them)\n"))

        let two = try CLI.run(["classify", "--model", Self.plainModel, "--classes", "a,b", "samples/covid19-3way-test-covid-0105.png"])
        #expect(two.status == 2)
        #expect(two.stderr.contains("2 class names were given (--classes a,b) but fc.weight has shape [3, 512]"), "\(two.stderr)")

        let shipped = try CLI.run(["classify", "--classes", "a,b,c", "samples/covid19-3way-test-covid-0105.png"])
        #expect(shipped.status == 2)
        #expect(shipped.stderr.contains("cxreview.config names its classes normal,viral,covid"), "\(shipped.stderr)")
    }

    /// The shipped model (also what `cxreview train` writes) loads into torchvision's resnet18 with
    /// strict=True, BatchNorm unfolded, and PyTorch then gives the probabilities cxreview reports.
    /// When the model is replaced, regenerate the fixture (the failure says how).
    @Test func theShippedModelGivesPyTorchTheSameProbabilities() throws {
        let reference = try Self.reference()
        try #require(try Self.isFixtureSource(reference.shipped))
        let (doc, worst) = try Self.classify(reference.shipped, tolerance: 1e-4)
        #expect(doc.model.configuration == "stored")
        #expect(doc.model.temperature == reference.shipped.temperature)
        #expect(doc.warnings.isEmpty)
        print("shipped model: largest |probability − PyTorch (strict load)| over \(doc.results.count) samples = \(worst)")
    }
}
