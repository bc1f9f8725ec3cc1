import Foundation
import Testing
import TestSupport
import XRayCore
@testable import ResNet

// Test support for ResNetTests; the hash generator and expectClose are in TestSupport.

enum Fixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/resnet")
    static func url(_ file: String) -> URL { directory.appendingPathComponent(file) }
}

/// The reference network of make_resnet_fixtures.py: hash-generated weights, calibrated BN statistics.
enum Reference {
    static let classNames = ["normal", "viral", "covid"]
    static let configuration = ResNetConfiguration(classNames: classNames, name: "fixture", trained: false)
    static let fixtures: [String: Tensor] = try! SafeTensors.read(contentsOf: Fixture.url("resnet18.safetensors")).tensors
    static let input = hashUniform("input", [2, 3, 224, 224], -2, 2)

    /// torchvision-named parameters, optionally with num_batches_tracked (as PyTorch saves them).
    static func parameters(numBatchesTracked: Bool = false) -> [String: Tensor] {
        var p: [String: Tensor] = [:]
        for (name, shape) in WeightRemap.resnet18Parameters(classes: classNames.count) {
            if name.hasSuffix("running_mean") || name.hasSuffix("running_var") {
                p[name] = fixtures["stats.\(name)"]!
            } else if shape.count == 4 {
                let a = (6.0 / Double(shape[1] * shape[2] * shape[3])).squareRoot()
                p[name] = hashUniform(name, shape, -a, a)
            } else if name == "fc.weight" {
                let a = (192.0 / Double(shape[1])).squareRoot()
                p[name] = hashUniform(name, shape, -a, a)
            } else if name.hasSuffix(".bias") {
                p[name] = hashUniform(name, shape, -0.1, 0.1)
            } else {
                p[name] = hashUniform(name, shape, 0.8, 1.2)
            }
            if numBatchesTracked, name.hasSuffix("running_var") {
                p[name.replacingOccurrences(of: "running_var", with: "num_batches_tracked")] = Tensor(shape: [], scalars: [100])
            }
        }
        return p
    }

    /// Built once and shared by the tests (folding and the Winograd transforms take a moment in debug).
    static let model: ResNet18 = try! ResNet18(parameters: parameters(), configuration: configuration)
    static let output: ResNetOutput = model.forward(input, threads: 2)
}
