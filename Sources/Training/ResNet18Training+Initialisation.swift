import Foundation
import Kernels
import ResNet
import XRayCore

/// Starting weights: torchvision's resnet18 initialisation (from scratch), or ImageNet weights with
/// a new head. Distributions match torchvision's; values come from SplitMix64, not torch's RNG.
extension ResNet18Training {
    /// torchvision's init: convs kaiming_normal_(mode="fan_out", nonlinearity="relu") = N(0, 2/(Cout·kh·kw));
    /// BN γ = 1, β = 0, running mean 0, var 1; fc as nn.Linear's default
    /// (kaiming_uniform_(a=√5)) = U(−1/√512, 1/√512) for weight and bias.
    public static func initialParameters(classes: Int, seed: UInt64) -> [String: Tensor] {
        var rng = SplitMix64(seed: seed)
        var out: [String: Tensor] = [:]
        for (name, shape) in WeightRemap.resnet18Parameters(classes: classes) {
            let n = shape.reduce(1, *)
            if shape.count == 4 {
                let std = (2.0 / Double(shape[0] * shape[2] * shape[3])).squareRoot()
                out[name] = Tensor(shape: shape, scalars: normal(count: n, std: std, using: &rng))
            } else if name.hasPrefix("fc.") {
                continue  // below, after every other tensor, so the head draws the same values either way
            } else if name.hasSuffix(".weight") || name.hasSuffix("running_var") {
                out[name] = Tensor(shape: shape, scalars: [Float](repeating: 1, count: n))
            } else {
                out[name] = Tensor(zeros: shape)
            }
        }
        for (name, tensor) in head(classes: classes, seed: seed) { out[name] = tensor }
        return out
    }

    /// A fresh fc layer: U(−1/√fan_in, 1/√fan_in) for weight [classes, 512] and bias, as nn.Linear.
    public static func head(classes: Int, seed: UInt64) -> [String: Tensor] {
        var rng = SplitMix64(seed: seed ^ 0x6663_2E68_6561_64)  // "fc.head"
        let fanIn = ResNet18Architecture.featureChannels, bound = 1 / Double(fanIn).squareRoot()
        func uniform(_ n: Int) -> [Float] {
            (0..<n).map { _ in Float((Double(rng.next() >> 11) * 0x1p-53 * 2 - 1) * bound) }
        }
        return ["fc.weight": Tensor(shape: [classes, fanIn], scalars: uniform(classes * fanIn)),
                "fc.bias": Tensor(shape: [classes], scalars: uniform(classes))]
    }

    /// ImageNet (or any) torchvision weights with the head replaced for `classes`: every `fc.*`
    /// tensor is skipped explicitly and logged, and a fresh fc is drawn.
    public static func replacingHead(of pretrained: [String: Tensor], classes: Int, seed: UInt64,
                                     log: (String) -> Void = { _ in }) -> [String: Tensor] {
        var kept = pretrained  // not `canonical`, which would drop num_batches_tracked
        if let prefix = WeightRemap.wrapperPrefixes.first(where: { p in !kept.isEmpty && kept.keys.allSatisfy { $0.hasPrefix(p) } }) {
            kept = Dictionary(uniqueKeysWithValues: kept.map { (String($0.key.dropFirst(prefix.count)), $0.value) })
        }
        for name in kept.keys.filter({ $0.hasPrefix("fc.") }).sorted() {
            log("skipping \(name) \(kept[name]!.shape): the head is re-initialised for \(classes) classes")
            kept[name] = nil
        }
        for (name, tensor) in head(classes: classes, seed: seed) { kept[name] = tensor }
        return kept
    }

    /// A trainer with torchvision's from-scratch initialisation.
    public convenience init(classes: Int, seed: UInt64, optimizer configuration: Adam.Configuration = .init(), threads: Int = 2) {
        // The generated tensors have exactly the expected names and shapes.
        try! self.init(parameters: Self.initialParameters(classes: classes, seed: seed), classes: classes,
                       optimizer: configuration, threads: threads)
    }

    /// A trainer that fine-tunes pretrained weights (e.g. torchvision's 1000-class ImageNet resnet18)
    /// for `classes` outputs; `fc.*` is skipped and re-initialised (and logged).
    public convenience init(pretrained: [String: Tensor], classes: Int, seed: UInt64, optimizer configuration: Adam.Configuration = .init(),
                            threads: Int = 2, log: (String) -> Void = { _ in }) throws(ModelError) {
        try self.init(parameters: Self.replacingHead(of: pretrained, classes: classes, seed: seed, log: log), classes: classes,
                      optimizer: configuration, threads: threads)
    }

    /// N(0, std²) by Box–Muller.
    static func normal(count: Int, std: Double, using rng: inout SplitMix64) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        var i = 0
        while i < count {
            let u1 = (Double(rng.next() >> 11) + 0.5) * 0x1p-53, u2 = Double(rng.next() >> 11) * 0x1p-53
            let r = (-2 * Foundation.log(u1)).squareRoot() * std
            out[i] = Float(r * cos(2 * Double.pi * u2))
            if i + 1 < count { out[i + 1] = Float(r * sin(2 * Double.pi * u2)) }
            i += 2
        }
        return out
    }
}
