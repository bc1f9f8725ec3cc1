import XRayCore

/// torchvision's ResNet18 parameter names and shapes, and the rules that map a saved state_dict
/// onto them, kept as data.
///
/// The network uses torchvision's names directly (`conv1.weight`, `layer2.0.downsample.1.running_var`,
/// `fc.bias`, …), so the remap only strips a wrapper prefix and drops bookkeeping tensors.
public enum WeightRemap {
    /// (stage name, output channels, stride of the first block); two BasicBlocks each.
    public static let stages: [(name: String, channels: Int, stride: Int)] = [
        ("layer1", 64, 1), ("layer2", 128, 2), ("layer3", 256, 2), ("layer4", 512, 2),
    ]
    public static let blocksPerStage = 2
    public static let stemChannels = 64
    public static let featureChannels = 512
    /// The four tensors of every BatchNorm2d (besides num_batches_tracked).
    public static let batchNormParameters = ["weight", "bias", "running_mean", "running_var"]
    /// Tensors that are accepted and ignored.
    public static let ignoredSuffixes = [".num_batches_tracked"]
    /// Prefixes removed when every name carries them (DataParallel / Lightning wrappers).
    public static let wrapperPrefixes = ["module.", "model."]

    /// Every parameter of torchvision's resnet18 with `classes` outputs, in state_dict order.
    public static func resnet18Parameters(classes: Int) -> [(name: String, shape: [Int])] {
        var list: [(String, [Int])] = [("conv1.weight", [stemChannels, 3, 7, 7])]
        list += batchNormParameters.map { ("bn1.\($0)", [stemChannels]) }
        var inChannels = stemChannels
        for stage in stages {
            for b in 0..<blocksPerStage {
                let p = "\(stage.name).\(b)", c = stage.channels
                let blockIn = b == 0 ? inChannels : c
                list.append(("\(p).conv1.weight", [c, blockIn, 3, 3]))
                list += batchNormParameters.map { ("\(p).bn1.\($0)", [c]) }
                list.append(("\(p).conv2.weight", [c, c, 3, 3]))
                list += batchNormParameters.map { ("\(p).bn2.\($0)", [c]) }
                if b == 0 && (stage.stride != 1 || blockIn != c) {
                    list.append(("\(p).downsample.0.weight", [c, blockIn, 1, 1]))
                    list += batchNormParameters.map { ("\(p).downsample.1.\($0)", [c]) }
                }
            }
            inChannels = stage.channels
        }
        list.append(("fc.weight", [classes, featureChannels]))
        list.append(("fc.bias", [classes]))
        return list
    }

    /// Drops ignored tensors and a wrapper prefix shared by all names.
    public static func canonical(_ tensors: [String: Tensor]) -> [String: Tensor] {
        var kept = tensors.filter { name, _ in !ignoredSuffixes.contains { name.hasSuffix($0) } }
        if let prefix = wrapperPrefixes.first(where: { p in !kept.isEmpty && kept.keys.allSatisfy { $0.hasPrefix(p) } }) {
            kept = Dictionary(uniqueKeysWithValues: kept.map { (String($0.key.dropFirst(prefix.count)), $0.value) })
        }
        return kept
    }

    /// Every missing, unexpected or mis-shaped tensor, in state_dict order (missing and mis-shaped
    /// first, then unexpected, sorted). fc.weight rows that disagree with `classes` count as
    /// `.classCountMismatch`.
    public static func problems(_ tensors: [String: Tensor], classes: Int) -> [ModelError] {
        let expected = resnet18Parameters(classes: classes)
        var problems: [ModelError] = []
        for (name, shape) in expected {
            guard let t = tensors[name] else { problems.append(.missingTensor(name: name)); continue }
            if t.shape != shape {
                if name == "fc.weight", t.shape.count == 2, t.shape[1] == featureChannels {
                    problems.append(.classCountMismatch(classNames: classes, fcRows: t.shape[0]))
                } else if name == "fc.bias", t.shape.count == 1, let w = tensors["fc.weight"], w.shape.count == 2, w.shape[0] == t.shape[0] {
                    continue  // already reported through fc.weight
                } else {
                    problems.append(.shapeMismatch(name: name, expected: shape, found: t.shape))
                }
            }
        }
        let known = Set(expected.map(\.name))
        problems += tensors.keys.filter { !known.contains($0) }.sorted().map { ModelError.unexpectedTensor(name: $0) }
        return problems
    }
}
