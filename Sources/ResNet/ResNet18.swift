// port of torchvision/models/resnet.py
import Foundation
import Kernels
import XRayCore

/// Output of `ResNet18.forward`.
public struct ResNetOutput: Sendable {
    /// [N, classes]
    public let logits: Tensor
    /// layer4 activations after its last ReLU: [N, 512, H/32, W/32] ([N, 512, 7, 7] for 224 input).
    public let features: Tensor

    /// Softmax of each row of the logits.
    public func probabilities() -> [[Float]] {
        let p = Softmax.forward(logits)
        let classes = logits.shape[1]
        return (0..<logits.shape[0]).map { Array(p.scalars[($0 * classes)..<(($0 + 1) * classes)]) }
    }
}

/// torchvision's resnet18 (BasicBlock, [2, 2, 2, 2]) for inference on the CPU.
///
/// Weights use torchvision's state_dict names. At construction every BatchNorm (eval mode, ε = 1e-5)
/// is folded into the convolution before it; the 3×3 stride-1 convolutions of layer1–layer2 use
/// Winograd F(4×4, 3×3), layer3's F(2×2, 3×3), the rest im2col + sgemm (`ResNet18Architecture`).
/// The raw parameters are kept (`parameters`).
public final class ResNet18: Sendable {
    public let configuration: ResNetConfiguration
    /// The parameters as loaded (torchvision names, BatchNorm unfolded, no num_batches_tracked).
    package let parameters: [String: Tensor]

    /// The blocks with their place in `ResNet18Architecture` (Grad-CAM walks them by stage).
    let blocks: [BasicBlock]
    /// Runs the folded layers: memory, groups and threads are its business.
    let executor: ForwardExecutor
    var stem: Conv2D { executor.stem }

    /// Out-of-distribution statistics fitted for these weights (metadata `cxreview.ood`), if any.
    public let outOfDistribution: OutOfDistributionStatistics?

    /// Loads weights and the configuration stored under `"cxreview.config"` in the metadata, and
    /// the out-of-distribution statistics under `"cxreview.ood"` when present.
    public static func load(contentsOf url: URL) throws(ModelError) -> ResNet18 {
        let (tensors, metadata) = try SafeTensors.read(contentsOf: url)
        guard let json = metadata[ResNetConfiguration.metadataKey] else { throw .missingConfiguration(path: url.path) }
        let configuration = try ResNetConfiguration.decode(json: json)
        let ood = try metadata[OutOfDistributionStatistics.metadataKey].map { (text) throws(ModelError) in
            try OutOfDistributionStatistics.decode(json: text, classNames: configuration.classNames)
        }
        return try ResNet18(parameters: tensors, configuration: configuration, outOfDistribution: ood)
    }

    /// Loads weights (e.g. converted from torchvision) with a configuration given here.
    public static func load(contentsOf url: URL, configuration: ResNetConfiguration) throws(ModelError) -> ResNet18 {
        try ResNet18(parameters: SafeTensors.read(contentsOf: url).tensors, configuration: configuration)
    }

    /// - Parameter parameters: torchvision names; `num_batches_tracked` entries and a `module.` prefix are accepted.
    /// - Throws: the missing, unexpected or mis-shaped tensors (all of them), a class-count mismatch, or a bad configuration.
    public init(parameters: [String: Tensor], configuration: ResNetConfiguration,
                outOfDistribution: OutOfDistributionStatistics? = nil) throws(ModelError) {
        try configuration.validate()
        self.outOfDistribution = outOfDistribution
        let p = WeightRemap.canonical(parameters)
        let problems = WeightRemap.problems(p, classes: configuration.classNames.count)
        if problems.count == 1 { throw problems[0] }
        if !problems.isEmpty { throw .parameterProblems(problems) }
        for (name, t) in p where !t.scalars.allSatisfy(\.isFinite) {
            throw .invalidConfiguration(reason: "tensor \"\(name)\" holds NaN or infinity; the weights are corrupt")
        }
        self.configuration = configuration
        self.parameters = p

        let stemGeometry = ResNet18Architecture.stem
        let stem = Conv2D(weight: p["conv1.weight"]!, bias: nil,
                          batchNorm: BatchNorm.Parameters(gamma: p["bn1.weight"]!, beta: p["bn1.bias"]!,
                                                          runningMean: p["bn1.running_mean"]!, runningVar: p["bn1.running_var"]!),
                          stride: stemGeometry.stride, padding: stemGeometry.padding)
        let blocks = ResNet18Architecture.blocks.map { BasicBlock(parameters: p, block: $0) }
        self.blocks = blocks
        executor = ForwardExecutor(stem: stem, maxPool: ResNet18Architecture.maxPool, blocks: blocks.map(\.layers))
    }

    /// [classes, 512], for class activation maps.
    public var fcWeight: Tensor { parameters["fc.weight"]! }
    /// [classes]
    public var fcBias: Tensor { parameters["fc.bias"]! }

    /// Saves the raw parameters and the configuration (in the metadata) as safetensors.
    public func write(to url: URL, dtype: SafeTensors.DType = .f32) throws(ModelError) {
        var metadata = [ResNetConfiguration.metadataKey: configuration.jsonString()]
        if let outOfDistribution { metadata[OutOfDistributionStatistics.metadataKey] = outOfDistribution.jsonString() }
        try SafeTensors.write(parameters, metadata: metadata, to: url, dtype: dtype)
    }

    /// Returns logits [N, classes] and layer4 features [N, 512, 7, 7]. Input [N, 3, H, W].
    ///
    /// `ForwardExecutor` runs the stem, pool and blocks (groups of images per thread, or one image
    /// split between the threads); the average pool's output then goes through fc.
    public func forward(_ input: Tensor, threads: Int = 2) -> ResNetOutput {
        precondition(input.shape.count == 4 && input.shape[1] == 3 && input.shape[2] > 0 && input.shape[3] > 0,
                     "ResNet18 input must be [N, 3, H, W], got \(input.shape)")
        let (features, pooled) = executor.run(input, threads: threads)
        let logits = Linear.forward(pooled, weight: fcWeight, bias: fcBias)
        return ResNetOutput(logits: logits, features: features)
    }
}
