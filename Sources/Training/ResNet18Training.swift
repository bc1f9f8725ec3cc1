// port of torchvision/models/resnet.py (resnet18, BasicBlock) in training mode
import Foundation
import Kernels
import ResNet
import XRayCore

/// torchvision's ResNet18 for training on the CPU: forward in training mode (BatchNorm with batch
/// statistics), backward through every layer, and an Adam update.
///
/// Parameters (conv weights, BN γ/β, fc weight/bias) live in one flat buffer in state_dict order,
/// with their gradients in a second one; BN running statistics and `num_batches_tracked` are kept
/// as buffers. The layers come from `ResNet18Architecture`; `Kernels`' `TrainingExecutor` runs
/// them and owns the step's memory and its split between `threads`. This class adds the fc head,
/// the loss and the optimiser.
///
/// Not thread-safe: one step at a time.
public final class ResNet18Training {
    public let classes: Int
    /// Threads used by a step (images or channels split between them).
    public var threads: Int
    public let optimizer: Adam
    /// (name, shape) of each trainable tensor, in state_dict order.
    public let parameterLayout: [(name: String, shape: [Int])]

    let slots: [String: (offset: Int, shape: [Int])]
    let values: FloatBuffer
    let grads: FloatBuffer
    /// running_mean, running_var of every BN, flat.
    let running: FloatBuffer
    /// Each BN's name, channels and the offset of its [running_mean | running_var] in `running`.
    let norms: [(name: String, channels: Int, running: Int)]
    var batchesTracked: [String: Int] = [:]

    let network: TrainingExecutor
    let fc: (weight: Int, bias: Int)

    /// Builds a trainer from torchvision-named tensors (`num_batches_tracked` and a `module.` prefix accepted).
    /// - Throws: the missing, unexpected or mis-shaped tensors.
    /// `winograd: false` runs every convolution on im2col/im2row: slower, but summed like a direct
    /// convolution, for tests that compare gradients with PyTorch at float32 rounding (Winograd's
    /// F(4×4) forward moves pre-activations by ~1e-5 relative, enough to flip ReLUs that sit at zero).
    public init(parameters source: [String: Tensor], classes: Int, optimizer configuration: Adam.Configuration = .init(),
                threads: Int = 2, winograd: Bool = true) throws(ModelError) {
        let canonical = WeightRemap.canonical(source)
        let problems = WeightRemap.problems(canonical, classes: classes)
        if problems.count == 1 { throw problems[0] }
        if !problems.isEmpty { throw .parameterProblems(problems) }
        self.classes = classes
        self.threads = max(1, threads)
        let all = WeightRemap.resnet18Parameters(classes: classes)
        let trainable = all.filter { !$0.name.hasSuffix("running_mean") && !$0.name.hasSuffix("running_var") }
        parameterLayout = trainable
        var slots: [String: (offset: Int, shape: [Int])] = [:]
        var offset = 0
        for (name, shape) in trainable {
            slots[name] = (offset, shape)
            offset += shape.reduce(1, *)
        }
        self.slots = slots
        let values = FloatBuffer(count: offset)
        self.values = values
        grads = FloatBuffer(count: offset)
        for (name, slot) in slots { values.write(canonical[name]!.scalars, at: slot.offset) }

        // BatchNorm buffers: [running_mean | running_var] per layer.
        var runningOffsets: [String: Int] = [:]
        var runningCount = 0
        for (name, shape) in all where name.hasSuffix(".running_mean") {
            let bn = String(name.dropLast(".running_mean".count))
            runningOffsets[bn] = runningCount
            runningCount += 2 * shape[0]
        }
        let running = FloatBuffer(count: runningCount)
        self.running = running
        for (bn, o) in runningOffsets {
            let c = canonical["\(bn).running_mean"]!.count
            running.write(canonical["\(bn).running_mean"]!.scalars, at: o)
            running.write(canonical["\(bn).running_var"]!.scalars, at: o + c)
            let tracked = WeightRemap.wrapperPrefixes.compactMap { source["\($0)\(bn).num_batches_tracked"] }.first
                ?? source["\(bn).num_batches_tracked"]
            batchesTracked[bn] = Int(tracked?.scalars.first ?? 0)
        }

        // The layers, from the one description of the network. 3×3 stride-1 convolutions run their
        // forward and input gradient on Winograd where inference does (the same tile), unless
        // `winograd` is off.
        func conv(_ name: String, _ g: ConvGeometry, algorithm: Conv2D.Algorithm = .im2col) -> TrainingExecutor.Convolution {
            TrainingExecutor.Convolution(geometry: g, weight: slots["\(name).weight"]!.offset, algorithm: winograd ? algorithm : .im2col)
        }
        var norms: [(name: String, channels: Int, running: Int)] = []
        func norm(_ name: String) -> TrainingExecutor.Normalisation {
            let channels = slots["\(name).weight"]!.shape[0]
            norms.append((name, channels, runningOffsets[name]!))
            return TrainingExecutor.Normalisation(channels: channels, gamma: slots["\(name).weight"]!.offset,
                                                  beta: slots["\(name).bias"]!.offset, running: runningOffsets[name]!)
        }
        let stem = conv("conv1", ResNet18Architecture.stem), stemNorm = norm("bn1")
        let blocks = ResNet18Architecture.blocks.map { block in
            let p = block.name
            return TrainingExecutor.Block(
                conv1: conv("\(p).conv1", block.conv1, algorithm: block.algorithm(for: block.conv1)), norm1: norm("\(p).bn1"),
                conv2: conv("\(p).conv2", block.conv2, algorithm: block.algorithm(for: block.conv2)), norm2: norm("\(p).bn2"),
                shortcut: block.downsample.map { (conv("\(p).downsample.0", $0), norm("\(p).downsample.1")) })
        }
        self.norms = norms
        network = TrainingExecutor(stem: stem, stemNorm: stemNorm, maxPool: ResNet18Architecture.maxPool, blocks: blocks,
                                   parameters: values, gradients: grads, running: running)
        fc = (slots["fc.weight"]!.offset, slots["fc.bias"]!.offset)
        optimizer = Adam(parameters: trainable, configuration: configuration)
    }

    /// Builds a trainer from an inference model's raw parameters (its running statistics included).
    public convenience init(model: ResNet18, optimizer configuration: Adam.Configuration = .init(), threads: Int = 2,
                            winograd: Bool = true) throws(ModelError) {
        try self.init(parameters: model.parameters, classes: model.configuration.classNames.count,
                      optimizer: configuration, threads: threads, winograd: winograd)
    }

    // MARK: Parameters in and out

    /// The current value of one trainable tensor or BN buffer (torchvision name).
    public func tensor(named name: String) -> Tensor? {
        exportParameters()[name]
    }

    /// Gradients from the last `computeGradients` / `trainStep`, by parameter name.
    public var gradients: [String: Tensor] {
        Dictionary(uniqueKeysWithValues: parameterLayout.map { ($0.name, read(grads, $0.name)) })
    }

    /// All tensors under torchvision's names: parameters, running statistics and
    /// `num_batches_tracked` (a scalar), ready for `ResNet18(parameters:configuration:)` or a state_dict.
    public func exportParameters() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (name, _) in parameterLayout { out[name] = read(values, name) }
        for n in norms {
            out["\(n.name).running_mean"] = running.tensor(at: n.running, shape: [n.channels])
            out["\(n.name).running_var"] = running.tensor(at: n.running + n.channels, shape: [n.channels])
            out["\(n.name).num_batches_tracked"] = Tensor(shape: [], scalars: [Float(batchesTracked[n.name] ?? 0)])
        }
        return out
    }

    /// The folded inference network for the current weights.
    public func inferenceModel(configuration: ResNetConfiguration) throws(ModelError) -> ResNet18 {
        try ResNet18(parameters: exportParameters(), configuration: configuration)
    }

    private func read(_ buffer: FloatBuffer, _ name: String) -> Tensor {
        let s = slots[name]!
        return buffer.tensor(at: s.offset, shape: s.shape)
    }

    // MARK: Training

    /// Forward in training mode, backward, then one Adam update. Returns the loss before the update
    /// and the logits [N, classes] of this forward pass.
    @discardableResult
    public func trainStep(input: Tensor, labels: [Int], classWeights: [Float]? = nil) -> (loss: Float, logits: Tensor) {
        let result = computeGradients(input: input, labels: labels, classWeights: classWeights)
        optimizer.update(parameters: values, gradients: grads, threads: threads)
        return result
    }

    /// Forward in training mode (updating the BN running statistics) and backward: fills `gradients`
    /// without changing the parameters. Input [N, 3, H, W] with N ≥ 2 (BatchNorm needs more than one
    /// value per channel), H, W ≥ 32; `labels` in 0..<classes.
    @discardableResult
    public func computeGradients(input: Tensor, labels: [Int], classWeights: [Float]? = nil) -> (loss: Float, logits: Tensor) {
        precondition(input.shape.count == 4 && input.shape[1] == 3 && input.shape[2] >= 32 && input.shape[3] >= 32,
                     "ResNet18 training input must be [N, 3, H, W] with H, W ≥ 32, got \(input.shape)")
        precondition(labels.count == input.shape[0], "\(labels.count) labels for \(input.shape[0]) images")
        let features = network.forward(input, threads: threads)
        for n in norms { batchesTracked[n.name, default: 0] += 1 }
        let weight = read(values, "fc.weight")
        let logits = Linear.forward(features, weight: weight, bias: read(values, "fc.bias"))
        let (loss, gradLogits) = CrossEntropy.forward(logits: logits, labels: labels, classWeights: classWeights)
        let head = Linear.backward(input: features, weight: weight, gradOutput: gradLogits)
        grads.write(head.gradWeight.scalars, at: fc.weight)
        grads.write(head.gradBias.scalars, at: fc.bias)
        network.backward(gradPooled: head.gradInput)
        return (loss, logits)
    }
}
