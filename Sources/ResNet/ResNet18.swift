// port of torchvision/models/resnet.py
import Foundation
import Kernels
import Synchronization
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
/// Winograd F(4×4, 3×3), layer3's F(2×2, 3×3), the rest im2col + sgemm. The raw parameters are kept
/// (`parameters`).
public final class ResNet18: Sendable {
    public let configuration: ResNetConfiguration
    /// The parameters as loaded (torchvision names, BatchNorm unfolded, no num_batches_tracked).
    package let parameters: [String: Tensor]

    let stem: Conv2D
    let blocks: [BasicBlock]
    private let workspaces = Mutex<[ForwardLayout: [Workspace]]>([:])

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

        let stem = ResNet18Architecture.stem
        self.stem = Conv2D(weight: p["conv1.weight"]!, bias: nil,
                           batchNorm: BatchNorm.Parameters(gamma: p["bn1.weight"]!, beta: p["bn1.bias"]!,
                                                           runningMean: p["bn1.running_mean"]!, runningVar: p["bn1.running_var"]!),
                           stride: stem.stride, padding: stem.padding)
        let blocks = ResNet18Architecture.blocks.map { BasicBlock(parameters: p, block: $0) }
        self.blocks = blocks
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

    /// Largest group of images run through the network together on one thread. Groups make the
    /// GEMMs wider (the weights are packed once per group); 4 captures most of the gain while a
    /// thread's workspace stays near 30 MB.
    static let maxGroup = 4

    /// Returns logits [N, classes] and layer4 features [N, 512, 7, 7]. Input [N, 3, H, W].
    ///
    /// With `threads` > 1 and N ≥ `threads`, each thread runs whole groups of up to 4 images; images
    /// left over (N not a multiple of `threads`, or batch 1) are split across the threads layer by
    /// layer: layer1 by stretches of the image, the rest by channels (or along K), part i of each
    /// step on the same thread, and with cache flushes when sharing data between the threads is
    /// costly (`CrossCoreCost`, measured before such passes).
    public func forward(_ input: Tensor, threads: Int = 2) -> ResNetOutput {
        precondition(input.shape.count == 4 && input.shape[1] == 3 && input.shape[2] > 0 && input.shape[3] > 0,
                     "ResNet18 input must be [N, 3, H, W], got \(input.shape)")
        let (n, h, w) = (input.shape[0], input.shape[2], input.shape[3])
        let threads = max(1, threads)
        let shape = ForwardLayout(model: self, height: h, width: w, images: 1, parts: 1)
        let fc = shape.featureChannels, fh = shape.featureHeight, fw = shape.featureWidth
        let featureCount = fc * fh * fw
        var features = [Float](repeating: 0, count: n * featureCount)
        var pooled = [Float](repeating: 0, count: n * fc)

        // Whole groups: as many images as divide evenly between the threads, in groups of at most
        // maxGroup, the group count a multiple of the thread count and sizes differing by at most one.
        let grouped = threads > 1 ? n - n % threads : n
        var groupCount = (grouped + Self.maxGroup - 1) / Self.maxGroup
        groupCount = (groupCount + threads - 1) / threads * threads
        let groups: [Range<Int>] = grouped == 0 ? [] : (0..<groupCount).map { k in
            WorkPart(index: k, count: groupCount).range(of: grouped).clamped(to: 0..<grouped)
        }.filter { !$0.isEmpty }

        features.withUnsafeMutableBufferPointer { featureBuffer in
            pooled.withUnsafeMutableBufferPointer { pooledBuffer in
                let featureOut = featureBuffer.baseAddress!, pooledOut = pooledBuffer.baseAddress!
                func run(images: Range<Int>, parts: Int) {
                    let layout = ForwardLayout(model: self, height: h, width: w, images: images.count, parts: parts)
                    let space = takeWorkspace(layout)
                    let x = space.featureMap(at: layout.inputOffset, channels: 3, images: images.count, height: h, width: w)
                    for (g, i) in images.enumerated() { x.load(from: input, image: i, into: g) }
                    let y = forwardGroup(x, space: space, layout: layout, parts: parts)
                    for (g, i) in images.enumerated() { y.store(g, into: featureOut, image: i) }
                    GlobalAveragePool.forward(y, into: pooledOut + images.lowerBound * fc)
                    returnWorkspace(space, layout)
                }
                Parallel.run(parts: groups.count, threads: threads) { part in run(images: groups[part.index], parts: 1) }
                if grouped < n && threads > 1 {
                    // Split passes share every layer's data between the threads: measure what that costs now.
                    CrossCoreCost.refresh()
                }
                for i in grouped..<n { run(images: i..<(i + 1), parts: threads) }
            }
        }

        let logits = Linear.forward(Tensor(shape: [n, fc], scalars: pooled), weight: fcWeight, bias: fcBias)
        return ResNetOutput(logits: logits, features: Tensor(shape: [n, fc, fh, fw], scalars: features))
    }

    /// Stem, max pool and the eight blocks for a group of images already in the workspace; returns layer4's output.
    private func forwardGroup(_ x: FeatureMap, space: Workspace, layout: ForwardLayout, parts: Int) -> FeatureMap {
        let g = x.images
        let scratch = layout.scratch(for: stem, in: space)
        let stemOut = space.featureMap(at: layout.stemOffset, channels: stem.geometry.outChannels, images: g,
                                       height: layout.stemHeight, width: layout.stemWidth)
        stem.forward(x, into: stemOut, relu: true, scratch: scratch, parts: parts)
        let pool = ResNet18Architecture.maxPool
        var y = space.featureMap(at: layout.slotOffsets[0], channels: stemOut.channels, images: g,
                                 height: layout.poolHeight, width: layout.poolWidth)
        Parallel.run(parts: Parallel.parts(units: stemOut.channels, threads: parts), threads: parts) { part in
            MaxPool2D.forward(stemOut, into: y, kernel: pool.kernel, stride: pool.stride, padding: pool.padding,
                              channels: part.range(of: stemOut.channels))
        }
        // Four rotating buffers: the block's input, conv1's output, the shortcut, the block's output.
        var slots = layout.slotOffsets.map { space.scratch(at: $0, count: 0).base }
        for block in blocks {
            y = block.forward(y, mid: slots[1], shortcut: slots[2], out: slots[3], scratch: { layout.scratch(for: $0, in: space) },
                                parts: parts)
            slots = [slots[3], slots[0], slots[1], slots[2]]
        }
        return y
    }

    private func takeWorkspace(_ layout: ForwardLayout) -> Workspace {
        workspaces.withLock { $0[layout]?.popLast() } ?? Workspace(capacity: layout.capacity)
    }

    private func returnWorkspace(_ space: Workspace, _ layout: ForwardLayout) {
        workspaces.withLock { pool in
            // Keep workspaces for one input size only: another size frees the old ones.
            if let other = pool.keys.first, other.height != layout.height || other.width != layout.width { pool.removeAll() }
            pool[layout, default: []].append(space)
        }
    }
}

/// Where each buffer of a forward pass over a group of images lives in a workspace, for one input
/// size, group size and thread split.
struct ForwardLayout: Hashable {
    let height: Int, width: Int, images: Int, parts: Int
    let stemHeight: Int, stemWidth: Int, poolHeight: Int, poolWidth: Int
    let featureChannels: Int, featureHeight: Int, featureWidth: Int
    let inputOffset: Int, stemOffset: Int
    let slotOffsets: [Int]
    let scratchOffset: Int, scratchCount: Int
    /// Where each kind of convolution keeps its scratch, and how much it needs.
    let scratchOffsets: [ScratchKind: Int], scratchCounts: [ScratchKind: Int]
    let capacity: Int

    enum ScratchKind: Hashable { case im2col, winograd, spatial }

    static func kind(_ conv: Conv2D, images: Int, parts: Int) -> ScratchKind {
        if conv.algorithm == .im2col { return .im2col }
        return conv.splitsSpatially(images: images, parts: parts) ? .spatial : .winograd
    }

    func scratch(for conv: Conv2D, in space: Workspace) -> Scratch {
        let kind = Self.kind(conv, images: images, parts: parts)
        return space.scratch(at: scratchOffsets[kind]!, count: scratchCounts[kind]!)
    }

    init(model: ResNet18, height: Int, width: Int, images g: Int, parts: Int) {
        self.height = height
        self.width = width
        self.images = g
        self.parts = parts
        (stemHeight, stemWidth) = model.stem.outputSize(height: height, width: width)
        let pool = ResNet18Architecture.maxPool
        poolHeight = MaxPool2D.outputSize(stemHeight, kernel: pool.kernel, stride: pool.stride, padding: pool.padding)
        poolWidth = MaxPool2D.outputSize(stemWidth, kernel: pool.kernel, stride: pool.stride, padding: pool.padding)
        var scratch = model.stem.scratchCount(height: height, width: width, images: g, parts: parts)
        var winograd = 0, spatial = 0
        var largest = g * model.stem.geometry.outChannels * poolHeight * poolWidth
        var (h, w) = (poolHeight, poolWidth)
        for block in model.blocks {
            for (conv, ch, cw) in block.convolutions(height: h, width: w) {
                let count = conv.scratchCount(height: ch, width: cw, images: g, parts: parts)
                switch ForwardLayout.kind(conv, images: g, parts: parts) {
                case .im2col: scratch = max(scratch, count)
                case .winograd: winograd = max(winograd, count)
                case .spatial: spatial = max(spatial, count)
                }
            }
            (h, w) = block.outputSize(height: h, width: w)
            largest = max(largest, g * block.outChannels * h * w)
        }
        featureChannels = model.blocks.last!.outChannels
        (featureHeight, featureWidth) = (h, w)
        // Slot 0 holds the pooled stem output; slots 1-3 reuse the stem output's memory once it is pooled.
        let stemCount = g * model.stem.geometry.outChannels * stemHeight * stemWidth
        inputOffset = 0
        let slot0 = g * 3 * height * width
        stemOffset = slot0 + largest
        slotOffsets = [slot0, stemOffset, stemOffset + largest, stemOffset + 2 * largest]
        scratchOffset = stemOffset + max(stemCount, 3 * largest)
        // The Winograd convolutions reuse the others' scratch, except when the pass is split between
        // threads: then each kind splits its data between the threads differently (the unfolded
        // matrices by channel or by column, V by channel and M by position, or a stretch of the
        // image per thread), and reusing memory across kinds would mean writing lines the other
        // thread holds, each at the cost of invalidating its copy (cxr_cache.h).
        let split = parts > 1
        scratchCounts = [.im2col: scratch, .winograd: winograd, .spatial: spatial]
        scratchOffsets = [.im2col: scratchOffset, .winograd: split ? scratchOffset + scratch : scratchOffset,
                          .spatial: split ? scratchOffset + scratch + winograd : scratchOffset]
        scratchCount = split ? scratch + winograd + spatial : max(scratch, winograd, spatial)
        capacity = scratchOffset + scratchCount
    }
}
