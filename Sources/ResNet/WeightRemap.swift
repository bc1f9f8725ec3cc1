import Kernels
import XRayCore

/// torchvision's ResNet18 parameter names and shapes, and the rules that map a saved state_dict
/// onto them, kept as data.
///
/// The network uses torchvision's names directly (`conv1.weight`, `layer2.0.downsample.1.running_var`,
/// `fc.bias`, …), so the remap only strips a wrapper prefix and drops bookkeeping tensors.
public enum WeightRemap {
    /// The four tensors of every BatchNorm2d (besides num_batches_tracked).
    public static let batchNormParameters = ["weight", "bias", "running_mean", "running_var"]
    /// Tensors that are accepted and ignored.
    public static let ignoredSuffixes = [".num_batches_tracked"]
    /// Prefixes removed when every name carries them (DataParallel / Lightning wrappers).
    public static let wrapperPrefixes = ["module.", "model."]

    /// Every parameter of torchvision's resnet18 with `classes` outputs, in state_dict order
    /// (from `ResNet18Architecture`).
    public static func resnet18Parameters(classes: Int) -> [(name: String, shape: [Int])] {
        func conv(_ name: String, _ g: ConvGeometry) -> (String, [Int]) {
            ("\(name).weight", [g.outChannels, g.inChannels, g.kernelHeight, g.kernelWidth])
        }
        func norm(_ name: String, _ channels: Int) -> [(String, [Int])] {
            batchNormParameters.map { ("\(name).\($0)", [channels]) }
        }
        let stem = ResNet18Architecture.stem
        var list: [(String, [Int])] = [conv("conv1", stem)] + norm("bn1", stem.outChannels)
        for block in ResNet18Architecture.blocks {
            let p = block.name
            list += [conv("\(p).conv1", block.conv1)] + norm("\(p).bn1", block.outChannels)
            list += [conv("\(p).conv2", block.conv2)] + norm("\(p).bn2", block.outChannels)
            if let ds = block.downsample {
                list += [conv("\(p).downsample.0", ds)] + norm("\(p).downsample.1", block.outChannels)
            }
        }
        let features = ResNet18Architecture.featureChannels
        list.append(("fc.weight", [classes, features]))
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
                if name == "fc.weight", t.shape.count == 2, t.shape[1] == ResNet18Architecture.featureChannels {
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
