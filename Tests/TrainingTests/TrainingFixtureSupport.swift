import Foundation
import XRayCore
import ResNet

// Test support for the ResNet18 training tests. The hash generator and `parameter` mirror
// `hash_uniform` / `parameter` in Tests/Fixtures/make_resnet_fixtures.py bit for bit
// (ResNetTests and KernelsTests hold the same generator).

func fnv1a(_ name: String) -> UInt32 {
    var h: UInt32 = 0x811C_9DC5
    for b in name.utf8 { h = (h ^ UInt32(b)) &* 0x0100_0193 }
    return h
}

/// float32 in [lo, hi): lowbias32(seed·0x9E3779B9 + i) >> 8, scaled exactly as in the Python script.
func hashUniform(_ name: String, _ shape: [Int], _ lo: Double, _ hi: Double) -> Tensor {
    let seed = fnv1a(name) &* 0x9E37_79B9
    let span = Float(hi - lo), low = Float(lo)
    let n = shape.reduce(1, *)
    let scalars = (0..<n).map { i -> Float in
        var x = seed &+ UInt32(truncatingIfNeeded: i)
        x ^= x >> 16
        x = x &* 0x7FEB_352D
        x ^= x >> 15
        x = x &* 0x846C_A68B
        x ^= x >> 16
        let u = Float(x >> 8) * 0x1p-24
        return u * span + low
    }
    return Tensor(shape: shape, scalars: scalars)
}

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
