import Foundation
import Testing
import TestSupport
import XRayCore
@testable import ResNet

/// `ResNet18.load(contentsOf:classNames:)`: a file without `cxreview.config` (a plain torchvision
/// state_dict) gets ImageNet preprocessing at 224 px, temperature 1 and class names from the caller,
/// its out-of-distribution statistics or, for 3 outputs, the project's order.
@Suite struct PlainWeightsTests {
    /// Writes `tensors` (and `metadata`) to a temporary file, runs `body` on it, removes it.
    @discardableResult
    func withFile<T>(_ tensors: [String: Tensor], metadata: [String: String] = [:],
                     _ body: (URL) throws -> T) throws -> T {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("plain-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try SafeTensors.write(tensors, metadata: metadata, to: url)
        return try body(url)
    }

    /// The reference parameters as DataParallel saves them: `module.` prefix, num_batches_tracked.
    static let dataParallel = Dictionary(uniqueKeysWithValues: Reference.parameters(numBatchesTracked: true).map { ("module." + $0.key, $0.value) })

    static func withHead(_ rows: Int) -> [String: Tensor] {
        var p = Reference.parameters()
        p["fc.weight"] = hashUniform("fc5", [rows, 512], -0.1, 0.1)
        p["fc.bias"] = Tensor(zeros: [rows])
        return p
    }

    @Test func aPlainStateDictGetsImageNetPreprocessingAndTheProjectsClassOrder() throws {
        let (model, source) = try withFile(Self.dataParallel) { try ResNet18.load(contentsOf: $0, classNames: nil) }
        #expect(source == .assumed(classNames: .projectOrder))
        #expect(model.configuration == ResNetConfiguration(classNames: ["normal", "viral", "covid"], inputSize: 224,
                                                           mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]))
        #expect(model.configuration.temperature == nil)
        #expect(model.outOfDistribution == nil)
        let x = hashUniform("small", [1, 3, 64, 64], -2, 2)
        #expect(model.forward(x).logits == Reference.model.forward(x).logits)
    }

    @Test func namesGivenAreUsedAndMustMatchTheHead() throws {
        let (model, source) = try withFile(Reference.parameters()) { try ResNet18.load(contentsOf: $0, classNames: ["a", "b", "c"]) }
        #expect(source == .assumed(classNames: .given))
        #expect(model.configuration.classNames == ["a", "b", "c"])
        let error = try withFile(Reference.parameters()) { url in
            #expect(throws: ModelError.self) { try ResNet18.load(contentsOf: url, classNames: ["a", "b"]) }
        }
        #expect(error?.description.contains("2 class names were given (--classes a,b) but fc.weight has shape [3, 512]") == true, "\(String(describing: error))")
    }

    @Test func anotherHeadSizeNeedsNames() throws {
        try withFile(Self.withHead(5)) { url in
            #expect(throws: ModelError.unnamedClasses(path: url.path, outputs: 5)) { try ResNet18.load(contentsOf: url, classNames: nil) }
            let (model, _) = try ResNet18.load(contentsOf: url, classNames: ["a", "b", "c", "d", "e"])
            #expect(model.fcWeight.shape == [5, 512])
        }
        #expect(ModelError.unnamedClasses(path: "w.safetensors", outputs: 5).description.contains("name the 5 classes in logit order with --classes"))
    }

    @Test func outOfDistributionStatisticsNameTheClassesOfAPlainFile() throws {
        let names = ["a", "b", "c"]
        var identity = [Float](repeating: 0, count: 512 * 512)
        for i in 0..<512 { identity[i * 512 + i] = 1 }
        let stats = OutOfDistributionStatistics(classNames: names, dimension: 512, means: .init(repeating: 0, count: 3 * 512),
                                                precision: identity, threshold: 10, percentile: 99, shrinkage: 0, sampleCount: 6,
                                                provenance: "test")
        try withFile(Reference.parameters(), metadata: [OutOfDistributionStatistics.metadataKey: stats.jsonString()]) { url in
            let (model, source) = try ResNet18.load(contentsOf: url, classNames: nil)
            #expect(source == .assumed(classNames: .outOfDistributionStatistics))
            #expect(model.configuration.classNames == names)
            #expect(model.outOfDistribution == stats)
            // Other names given: the statistics no longer fit, and the error says how to refit.
            #expect(throws: ModelError.self) { try ResNet18.load(contentsOf: url, classNames: ["x", "y", "z"]) }
        }
    }

    @Test func aStoredConfigurationWinsAndNamesGivenMustEqualIt() throws {
        let metadata = [ResNetConfiguration.metadataKey: Reference.configuration.jsonString()]
        try withFile(Reference.parameters(), metadata: metadata) { url in
            let (model, source) = try ResNet18.load(contentsOf: url, classNames: nil)
            #expect(source == .stored)
            #expect(model.configuration == Reference.configuration)
            #expect(try ResNet18.load(contentsOf: url, classNames: Reference.classNames).configuration == .stored)
            let error = #expect(throws: ModelError.self) { try ResNet18.load(contentsOf: url, classNames: ["a", "b", "c"]) }
            #expect(error?.description.contains("names its classes normal,viral,covid") == true, "\(String(describing: error))")
        }
    }

    @Test func aMissingOrMisshapedTensorIsNamed() throws {
        var p = Self.dataParallel
        p["module.layer2.0.bn1.running_var"] = nil
        try withFile(p) { url in
            #expect(throws: ModelError.missingTensor(name: "layer2.0.bn1.running_var")) { try ResNet18.load(contentsOf: url, classNames: nil) }
        }
        var q = Reference.parameters()
        q["layer3.1.conv2.weight"] = Tensor(zeros: [256, 128, 3, 3])
        try withFile(q) { url in
            #expect(throws: ModelError.shapeMismatch(name: "layer3.1.conv2.weight", expected: [256, 256, 3, 3], found: [256, 128, 3, 3])) {
                try ResNet18.load(contentsOf: url, classNames: nil)
            }
        }
    }
}
