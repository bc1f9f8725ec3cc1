import Foundation
import TestSupport
import XRayCore
import ResNet

// Test support for the ResNet18 training tests. The hash generator and `parameter` mirror
// `hash_uniform` / `parameter` in Tests/Fixtures/make_resnet_fixtures.py bit for bit
// (the generator itself is in TestSupport).

/// `parameter(name, shape)` of make_resnet_fixtures.py: the generated value of one resnet18 tensor.
func generatedParameter(_ name: String, _ shape: [Int]) -> Tensor {
    if name.hasSuffix("num_batches_tracked") { return Tensor(shape: [], scalars: [100]) }
    if shape.count == 4 {
        let a = (6.0 / Double(shape[1] * shape[2] * shape[3])).squareRoot()
        return hashUniform(name, shape, -a, a)
    }
    if name == "fc.weight" {
        let a = (192.0 / Double(shape[1])).squareRoot()
        return hashUniform(name, shape, -a, a)
    }
    if name.hasSuffix("running_var") { return hashUniform(name, shape, 0.5, 1.5) }
    if name.hasSuffix("running_mean") { return hashUniform(name, shape, -0.2, 0.2) }
    if name.hasSuffix(".bias") { return hashUniform(name, shape, -0.1, 0.1) }
    return hashUniform(name, shape, 0.8, 1.2)
}

/// The generated state_dict of torchvision's resnet18 with `classes` outputs (num_batches_tracked = 100).
func generatedStateDict(classes: Int = 3) -> [String: Tensor] {
    var out: [String: Tensor] = [:]
    for (name, shape) in WeightRemap.resnet18Parameters(classes: classes) {
        out[name] = generatedParameter(name, shape)
        if name.hasSuffix("running_var") {
            let tracked = name.replacingOccurrences(of: "running_var", with: "num_batches_tracked")
            out[tracked] = generatedParameter(tracked, [])
        }
    }
    return out
}

enum TrainingFixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures/training")
    static let step: [String: Tensor] = try! SafeTensors.read(contentsOf: directory.appendingPathComponent("step.safetensors")).tensors
}
