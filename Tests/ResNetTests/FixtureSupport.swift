import Foundation
import Testing
import XRayCore
@testable import ResNet

// Test support for ResNetTests. The hash generator mirrors `hash_uniform` in
// Tests/Fixtures/make_resnet_fixtures.py bit for bit (KernelsTests holds the same copy).

/// FNV-1a (32-bit) of the UTF-8 name: the generator's seed.
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

/// Checks |a − b| ≤ atol + rtol·|b| elementwise; on failure records the worst index and error.
func expectClose(_ a: [Float], _ b: [Float], rtol: Float = 0, atol: Float, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(a.count == b.count, "\(what): \(a.count) values vs \(b.count)", sourceLocation: sourceLocation)
    guard a.count == b.count else { return }
    var worst = -1, worstExcess: Float = 0, maxError: Float = 0
    for i in a.indices {
        let err = abs(a[i] - b[i])
        maxError = max(maxError, err.isNaN ? .infinity : err)
        let excess = err - (atol + rtol * abs(b[i]))
        if excess > worstExcess || err.isNaN { worst = i; worstExcess = err.isNaN ? .infinity : excess }
    }
    #expect(worst < 0, "\(what): worst at index \(worst): \(worst >= 0 ? a[worst] : 0) vs \(worst >= 0 ? b[worst] : 0) (|err| \(worst >= 0 ? abs(a[worst] - b[worst]) : 0), atol \(atol), rtol \(rtol))", sourceLocation: sourceLocation)
}

func maxAbsDifference(_ a: [Float], _ b: [Float]) -> Float {
    zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

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
