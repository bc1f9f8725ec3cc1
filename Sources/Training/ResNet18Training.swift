// port of torchvision/models/resnet.py (resnet18, BasicBlock) in training mode
import Foundation
import Kernels
import ResNet
import XRayCore

/// torchvision's ResNet18 for training on the CPU: forward in training mode (BatchNorm with batch
/// statistics) caching what backward needs, backward through every layer, and an Adam update.
///
/// Parameters (conv weights, BN γ/β, fc weight/bias) live in one flat buffer in state_dict order,
/// with their gradients in a second one; BN running statistics and `num_batches_tracked` are kept
/// as buffers. Activation memory is allocated for one (batch, height, width) at a time and reused.
/// Work is split between `threads` by image (convolutions, pooling) or by channel (BatchNorm).
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
    var batchesTracked: [String: Int] = [:]

    let stem: (conv: ConvLayer, bn: NormLayer)
    let blocks: [Block]
    let fc: (weight: Int, bias: Int)
    var buffers: StepBuffers?

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
        for (name, slot) in slots {
            canonical[name]!.scalars.withUnsafeBufferPointer { (values.base + slot.offset).update(from: $0.baseAddress!, count: $0.count) }
        }

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
            canonical["\(bn).running_mean"]!.scalars.withUnsafeBufferPointer { (running.base + o).update(from: $0.baseAddress!, count: c) }
            canonical["\(bn).running_var"]!.scalars.withUnsafeBufferPointer { (running.base + o + c).update(from: $0.baseAddress!, count: c) }
            let tracked = WeightRemap.wrapperPrefixes.compactMap { source["\($0)\(bn).num_batches_tracked"] }.first
                ?? source["\(bn).num_batches_tracked"]
            batchesTracked[bn] = Int(tracked?.scalars.first ?? 0)
        }

        /// 3×3 stride-1 convolutions run their forward and input gradient on Winograd where inference
        /// does (the same tile), unless `winograd` is off.
        func conv(_ name: String, _ g: ConvGeometry, algorithm: Conv2D.Algorithm = .im2col) -> ConvLayer {
            let tile = winograd && WinogradWeights.supports(g) ? algorithm.winogradTileSize : nil
            return ConvLayer(name: name, weight: slots["\(name).weight"]!.offset, geometry: g,
                             winograd: tile.map { WinogradWeights(geometry: g, tileSize: $0) })
        }
        func norm(_ name: String) -> NormLayer {
            NormLayer(name: name, channels: slots["\(name).weight"]!.shape[0], gamma: slots["\(name).weight"]!.offset,
                      beta: slots["\(name).bias"]!.offset, running: runningOffsets[name]!)
        }
        stem = (conv("conv1", ResNet18Architecture.stem), norm("bn1"))
        let blocks = ResNet18Architecture.blocks.map { block in
            let p = block.name
            return Block(conv1: conv("\(p).conv1", block.conv1, algorithm: block.algorithm(for: block.conv1)), bn1: norm("\(p).bn1"),
                         conv2: conv("\(p).conv2", block.conv2, algorithm: block.algorithm(for: block.conv2)), bn2: norm("\(p).bn2"),
                         downsample: block.downsample.map { (conv("\(p).downsample.0", $0), norm("\(p).downsample.1")) })
        }
        self.blocks = blocks
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
        for n in [stem.bn] + blocks.flatMap({ [$0.bn1, $0.bn2] + ($0.downsample.map { [$0.bn] } ?? []) }) {
            let c = n.channels
            out["\(n.name).running_mean"] = Tensor(shape: [c], scalars: Array(UnsafeBufferPointer(start: running.base + n.running, count: c)))
            out["\(n.name).running_var"] = Tensor(shape: [c], scalars: Array(UnsafeBufferPointer(start: running.base + n.running + c, count: c)))
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
        return Tensor(shape: s.shape, scalars: Array(UnsafeBufferPointer(start: buffer.base + s.offset, count: s.shape.reduce(1, *))))
    }

    // MARK: Training

    /// Forward in training mode, backward, then one Adam update. Returns the loss before the update
    /// and the logits [N, classes] of this forward pass.
    @discardableResult
    public func trainStep(input: Tensor, labels: [Int], classWeights: [Float]? = nil) -> (loss: Float, logits: Tensor) {
        let result = computeGradients(input: input, labels: labels, classWeights: classWeights)
        optimizer.update(parameters: values.base, gradients: grads.base, threads: threads)
        return result
    }

    /// Forward in training mode (updating the BN running statistics) and backward: fills `gradients`
    /// without changing the parameters. Input [N, 3, H, W] with N ≥ 2 (BatchNorm needs more than one
    /// value per channel), H, W ≥ 32; `labels` in 0..<classes.
    @discardableResult
    public func computeGradients(input: Tensor, labels: [Int], classWeights: [Float]? = nil) -> (loss: Float, logits: Tensor) {
        precondition(input.shape.count == 4 && input.shape[1] == 3 && input.shape[2] >= 32 && input.shape[3] >= 32,
                     "ResNet18 training input must be [N, 3, H, W] with H, W ≥ 32, got \(input.shape)")
        let (n, h, w) = (input.shape[0], input.shape[2], input.shape[3])
        precondition(labels.count == n, "\(labels.count) labels for \(n) images")
        let b: StepBuffers
        if let existing = buffers, existing.images == n, existing.height == h, existing.width == w, existing.threads == threads {
            b = existing
        } else {
            buffers = nil  // free the old size first
            b = StepBuffers(model: self, images: n, height: h, width: w, threads: threads)
            buffers = b
        }
        input.scalars.withUnsafeBufferPointer { b.input.base.update(from: $0.baseAddress!, count: $0.count) }
        let features = forward(b)
        let logits = Linear.forward(features, weight: read(values, "fc.weight"), bias: read(values, "fc.bias"))
        let (loss, gradLogits) = CrossEntropy.forward(logits: logits, labels: labels, classWeights: classWeights)
        backward(b, features: features, gradLogits: gradLogits)
        return (loss, logits)
    }

    /// Stem, pool and blocks in training mode; returns the pooled features [N, 512].
    private func forward(_ b: StepBuffers) -> Tensor {
        let t = threads, p = values.base
        Conv2D.forwardBatch(b.input, weight: p + stem.conv.weight, geometry: stem.conv.geometry, into: b.stemOut,
                            scratch: b.scratch, threads: t)
        normalise(stem.bn, b.stemOut, into: b.stemActivation, relu: true, buffers: b)
        let pool = ResNet18Architecture.maxPool
        Parallel.run(parts: min(t, b.images)) { part in
            for i in part.range(of: b.images) {
                MaxPool2D.forward(b.stemActivation.image(i), into: b.pooled.image(i), argmax: b.argmax + i * b.pooled.imageSize,
                                  kernel: pool.kernel, stride: pool.stride, padding: pool.padding)
            }
        }
        var x = b.pooled
        for (block, a) in zip(blocks, b.blocks) {
            Conv2D.forwardBatch(x, weight: p + block.conv1.weight, geometry: block.conv1.geometry, into: a.z1, scratch: b.scratch, threads: t,
                                winograd: block.conv1.winograd)
            normalise(block.bn1, a.z1, into: a.a1, relu: true, buffers: b)
            Conv2D.forwardBatch(a.a1, weight: p + block.conv2.weight, geometry: block.conv2.geometry, into: a.z2, scratch: b.scratch, threads: t,
                                winograd: block.conv2.winograd)
            var identity = x
            if let (conv, bn) = block.downsample, let zd = a.zd {
                Conv2D.forwardBatch(x, weight: p + conv.weight, geometry: conv.geometry, into: zd, scratch: b.scratch, threads: t)
                normalise(bn, zd, into: a.identity!, relu: false, buffers: b)
                identity = a.identity!
            }
            normalise(block.bn2, a.z2, residual: identity, into: a.out, relu: true, buffers: b)
            x = a.out
        }
        let c = x.channels
        var pooled = [Float](repeating: 0, count: b.images * c)
        pooled.withUnsafeMutableBufferPointer { out in
            for i in 0..<b.images { GlobalAveragePool.forward(x.image(i), into: out.baseAddress! + i * c) }
        }
        return Tensor(shape: [b.images, c], scalars: pooled)
    }

    /// Batch statistics, running-statistics update and the normalisation of one BN layer.
    private func normalise(_ n: NormLayer, _ z: FeatureBatch, residual: FeatureBatch? = nil, into y: FeatureBatch, relu: Bool,
                           buffers b: StepBuffers) {
        let s = b.statistics(n)
        BatchNorm.batchStatistics(z, mean: s.mean, variance: s.variance, invStd: s.invStd, threads: threads)
        BatchNorm.updateRunningStatistics(runningMean: running.base + n.running, runningVar: running.base + n.running + n.channels,
                                          mean: s.mean, variance: s.variance, channels: n.channels,
                                          count: z.images * z.planeSize)
        batchesTracked[n.name, default: 0] += 1
        BatchNorm.trainingForward(z, mean: s.mean, invStd: s.invStd, gamma: values.base + n.gamma, beta: values.base + n.beta,
                                  residual: residual, relu: relu, into: y, threads: threads)
    }

    private func normBackward(_ n: NormLayer, gradOutput dy: FeatureBatch, input z: FeatureBatch, into dx: FeatureBatch, buffers b: StepBuffers) {
        let s = b.statistics(n)
        BatchNorm.trainingBackward(gradOutput: dy, input: z, mean: s.mean, invStd: s.invStd, gamma: values.base + n.gamma,
                                   gradInput: dx, gradGamma: grads.base + n.gamma, gradBeta: grads.base + n.beta, threads: threads)
    }

    private func backward(_ b: StepBuffers, features: Tensor, gradLogits: Tensor) {
        let t = threads, p = values.base, g = grads.base
        let head = Linear.backward(input: features, weight: read(values, "fc.weight"), gradOutput: gradLogits)
        head.gradWeight.scalars.withUnsafeBufferPointer { (g + fc.weight).update(from: $0.baseAddress!, count: $0.count) }
        head.gradBias.scalars.withUnsafeBufferPointer { (g + fc.bias).update(from: $0.baseAddress!, count: $0.count) }

        let last = b.blocks.last!.out
        var cur = 0
        var dOut = b.gradient(cur, like: last)
        head.gradInput.scalars.withUnsafeBufferPointer { d in
            for i in 0..<b.images { GlobalAveragePool.backward(gradOutput: d.baseAddress! + i * last.channels, into: dOut.image(i)) }
        }
        for (index, block) in blocks.enumerated().reversed() {
            let a = b.blocks[index]
            let x = index == 0 ? b.pooled : b.blocks[index - 1].out
            let others = (0..<4).filter { $0 != cur }
            ReLU.backward(gradient: dOut, output: a.out, threads: t)  // dOut is now the gradient at the sum
            let dz2 = b.gradient(others[0], like: a.z2)
            normBackward(block.bn2, gradOutput: dOut, input: a.z2, into: dz2, buffers: b)
            var dzd: FeatureBatch?
            if let (_, bn) = block.downsample, let zd = a.zd {
                dzd = b.gradient(others[1], like: zd)
                normBackward(bn, gradOutput: dOut, input: zd, into: dzd!, buffers: b)
            }
            let da1 = b.gradient(others[2], like: a.a1)
            Conv2D.backwardBatch(input: a.a1, gradOutput: dz2, weight: p + block.conv2.weight, geometry: block.conv2.geometry,
                                 gradWeight: g + block.conv2.weight, gradInput: da1, scratch: b.scratch, threads: t,
                                 winograd: block.conv2.winograd)
            ReLU.backward(gradient: da1, output: a.a1, threads: t)
            normBackward(block.bn1, gradOutput: da1, input: a.z1, into: da1, buffers: b)
            let dx = b.gradient(others[0], like: x)
            Conv2D.backwardBatch(input: x, gradOutput: da1, weight: p + block.conv1.weight, geometry: block.conv1.geometry,
                                 gradWeight: g + block.conv1.weight, gradInput: dx, scratch: b.scratch, threads: t,
                                 winograd: block.conv1.winograd)
            if let (conv, _) = block.downsample, let dzd {
                Conv2D.backwardBatch(input: x, gradOutput: dzd, weight: p + conv.weight, geometry: conv.geometry,
                                     gradWeight: g + conv.weight, gradInput: dx, accumulateInput: true, scratch: b.scratch, threads: t)
            } else {
                Add.backward(gradient: dOut, accumulateInto: dx, threads: t)
            }
            cur = others[0]
            dOut = dx
        }
        // Max pool after ReLU: the ReLU's mask at each argmax is (pooled value > 0).
        ReLU.backward(gradient: dOut, output: b.pooled, threads: t)
        let dStem = b.stemActivation  // the stem activation is no longer needed: reuse it for its gradient
        Parallel.run(parts: min(t, b.images)) { part in
            for i in part.range(of: b.images) {
                MaxPool2D.backward(gradOutput: dOut.image(i), argmax: b.argmax + i * b.pooled.imageSize, into: dStem.image(i))
            }
        }
        normBackward(stem.bn, gradOutput: dStem, input: b.stemOut, into: dStem, buffers: b)
        Conv2D.backwardBatch(input: b.input, gradOutput: dStem, weight: p + stem.conv.weight, geometry: stem.conv.geometry,
                             gradWeight: g + stem.conv.weight, gradInput: nil, scratch: b.scratch, threads: t)
    }
}

struct ConvLayer {
    let name: String
    /// Offset of the weight in the flat parameter buffer.
    let weight: Int
    let geometry: ConvGeometry
    /// The Winograd weights of a 3×3 stride-1 layer that runs on Winograd, reloaded by every forward.
    let winograd: WinogradWeights?
}

struct NormLayer {
    let name: String
    let channels: Int
    let gamma: Int
    let beta: Int
    /// Offset of [running_mean | running_var] in the running buffer.
    let running: Int
}

struct Block {
    let conv1: ConvLayer, bn1: NormLayer
    let conv2: ConvLayer, bn2: NormLayer
    let downsample: (conv: ConvLayer, bn: NormLayer)?
}

/// Activation, gradient and scratch memory of one step for one (batch, height, width).
final class StepBuffers {
    struct BlockActivations {
        let z1: FeatureBatch, a1: FeatureBatch, z2: FeatureBatch
        let zd: FeatureBatch?, identity: FeatureBatch?
        let out: FeatureBatch
    }

    let images: Int, height: Int, width: Int, threads: Int
    let memory: FloatBuffer
    let gradientMemory: FloatBuffer
    let gradientSize: Int
    let scratchMemory: FloatBuffer
    let argmaxMemory: UnsafeMutablePointer<Int32>
    let statisticsMemory: FloatBuffer
    let statisticsOffsets: [String: Int]

    let input: FeatureBatch
    let stemOut: FeatureBatch
    /// relu(bn1(conv1)) in the forward, its gradient in the backward.
    let stemActivation: FeatureBatch
    let pooled: FeatureBatch
    let blocks: [BlockActivations]
    var argmax: UnsafeMutablePointer<Int32> { argmaxMemory }
    var scratch: Scratch { scratchMemory.scratch(count: scratchMemory.count) }

    init(model: ResNet18Training, images n: Int, height h: Int, width w: Int, threads: Int) {
        self.images = n
        self.height = h
        self.width = w
        self.threads = threads
        // Sizes first, then one allocation.
        var shapes: [(Int, Int, Int)] = []  // (channels, height, width) in allocation order
        var scratch = 0, largestGradient = 0
        let sg = model.stem.conv.geometry
        let (sh, sw) = (sg.outputHeight(h), sg.outputWidth(w))
        let pool = ResNet18Architecture.maxPool
        let (ph, pw) = (MaxPool2D.outputSize(sh, kernel: pool.kernel, stride: pool.stride, padding: pool.padding),
                        MaxPool2D.outputSize(sw, kernel: pool.kernel, stride: pool.stride, padding: pool.padding))
        scratch = max(Conv2D.backwardScratchCount(sg, height: h, width: w, threads: threads),
                      Conv2D.forwardScratchCount(sg, height: h, width: w, threads: threads))
        shapes += [(3, h, w), (sg.outChannels, sh, sw), (sg.outChannels, sh, sw), (sg.outChannels, ph, pw)]
        largestGradient = sg.outChannels * ph * pw
        var (ch, hh, ww) = (sg.outChannels, ph, pw)
        for block in model.blocks {
            let g1 = block.conv1.geometry
            let (oh, ow) = (g1.outputHeight(hh), g1.outputWidth(ww))
            let c = g1.outChannels
            scratch = max(scratch, Conv2D.backwardScratchCount(g1, height: hh, width: ww, threads: threads, winograd: block.conv1.winograd),
                          Conv2D.forwardScratchCount(g1, height: hh, width: ww, threads: threads, winograd: block.conv1.winograd),
                          Conv2D.backwardScratchCount(block.conv2.geometry, height: oh, width: ow, threads: threads,
                                                      winograd: block.conv2.winograd),
                          Conv2D.forwardScratchCount(block.conv2.geometry, height: oh, width: ow, threads: threads,
                                                     winograd: block.conv2.winograd))
            if let ds = block.downsample {
                scratch = max(scratch, Conv2D.backwardScratchCount(ds.conv.geometry, height: hh, width: ww, threads: threads),
                              Conv2D.forwardScratchCount(ds.conv.geometry, height: hh, width: ww, threads: threads))
            }
            let count = block.downsample == nil ? 4 : 6
            shapes += Array(repeating: (c, oh, ow), count: count)
            largestGradient = max(largestGradient, ch * hh * ww, c * oh * ow)
            (ch, hh, ww) = (c, oh, ow)
        }
        let memory = FloatBuffer(count: n * shapes.reduce(0) { $0 + $1.0 * $1.1 * $1.2 })
        self.memory = memory
        var offset = 0
        func take(_ s: (Int, Int, Int)) -> FeatureBatch {
            let b = memory.batch(images: n, channels: s.0, height: s.1, width: s.2, offset: offset)
            offset += b.count
            return b
        }
        var queue = shapes[...]
        func next() -> FeatureBatch { take(queue.removeFirst()) }
        let input = next(), stemOut = next(), stemActivation = next(), pooled = next()
        self.input = input
        self.stemOut = stemOut
        self.stemActivation = stemActivation
        self.pooled = pooled
        blocks = model.blocks.map { block in
            let z1 = next(), a1 = next(), z2 = next()
            var zd: FeatureBatch?, identity: FeatureBatch?
            if block.downsample != nil { zd = next(); identity = next() }
            return BlockActivations(z1: z1, a1: a1, z2: z2, zd: zd, identity: identity, out: next())
        }
        gradientSize = n * largestGradient
        gradientMemory = FloatBuffer(count: 4 * gradientSize)
        scratchMemory = FloatBuffer(count: scratch)
        argmaxMemory = UnsafeMutablePointer<Int32>.allocate(capacity: max(1, pooled.count))
        var statOffsets: [String: Int] = [:], statCount = 0
        for norm in [model.stem.bn] + model.blocks.flatMap({ [$0.bn1, $0.bn2] + ($0.downsample.map { [$0.bn] } ?? []) }) {
            statOffsets[norm.name] = statCount
            statCount += 3 * norm.channels
        }
        statisticsOffsets = statOffsets
        statisticsMemory = FloatBuffer(count: statCount)
    }

    deinit { argmaxMemory.deallocate() }

    /// Gradient buffer `index` (of 4) shaped like `batch`.
    func gradient(_ index: Int, like batch: FeatureBatch) -> FeatureBatch {
        gradientMemory.batch(images: batch.images, channels: batch.channels, height: batch.height, width: batch.width,
                             offset: index * gradientSize)
    }

    /// This step's batch mean, biased variance and 1/√(var + ε) of one BN layer.
    func statistics(_ n: NormLayer) -> (mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>, invStd: UnsafeMutablePointer<Float>) {
        let base = statisticsMemory.base + statisticsOffsets[n.name]!
        return (base, base + n.channels, base + 2 * n.channels)
    }
}
