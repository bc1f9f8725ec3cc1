import XRayCore

/// Runs the network part of a training step, and owns everything about how: forward in training
/// mode (BatchNorm on batch statistics, updating the running ones) caching what backward needs,
/// then backward through every layer, for a stem (convolution, BatchNorm, ReLU), a max pool,
/// residual blocks of convolution + BatchNorm with an identity or projection shortcut, and a
/// global average pool.
///
/// The model describes the layers: their geometries and where their parameters sit in the flat
/// parameter buffer (the gradient buffer has the same layout) and the running-statistics buffer,
/// all three owned by the model and shared with this executor. The executor plans the step's memory
/// (`TrainingPlan`: activations, four rotating gradient buffers, scratch, max-pool argmax, batch
/// statistics), kept for one (batch, height, width, threads) at a time, and splits the work between
/// threads by image (convolutions, pooling) or by channel (BatchNorm).
///
/// Not thread-safe: one step at a time.
package final class TrainingExecutor {
    /// A convolution without bias, its weight [Cout, Cin, kh, kw] at `weight` in the parameter buffer.
    package struct Convolution {
        package let geometry: ConvGeometry
        package let weight: Int
        /// The Winograd weights of a 3×3 stride-1 layer that runs on Winograd, reloaded by every forward.
        let winograd: WinogradWeights?

        /// With a Winograd `algorithm`, a 3×3 stride-1 convolution runs its forward and input
        /// gradient on that tile (the weight gradient stays on im2row); everything else on im2col.
        package init(geometry: ConvGeometry, weight: Int, algorithm: Conv2D.Algorithm = .im2col) {
            self.geometry = geometry
            self.weight = weight
            let tile = WinogradWeights.supports(geometry) ? algorithm.winogradTileSize : nil
            winograd = tile.map { WinogradWeights(geometry: geometry, tileSize: $0) }
        }

        var weightCount: Int { geometry.outChannels * geometry.patchSize }
    }

    /// A training-mode BatchNorm: γ at `gamma` and β at `beta` in the parameter buffer, and
    /// [running_mean | running_var] at `running` in the running-statistics buffer.
    package struct Normalisation {
        package let channels: Int
        package let gamma: Int
        package let beta: Int
        package let running: Int
        /// Offset of this layer's [mean | variance | 1/√(var + ε)] in the plan's statistics memory.
        var statistics = 0

        package init(channels: Int, gamma: Int, beta: Int, running: Int) {
            self.channels = channels
            self.gamma = gamma
            self.beta = beta
            self.running = running
        }
    }

    /// relu(norm2(conv2(relu(norm1(conv1(x))))) + shortcut(x)), the shortcut identity or
    /// norm(1×1 projection).
    package struct Block {
        package let conv1: Convolution, norm1: Normalisation
        package let conv2: Convolution, norm2: Normalisation
        package let shortcut: (conv: Convolution, norm: Normalisation)?

        package init(conv1: Convolution, norm1: Normalisation, conv2: Convolution, norm2: Normalisation,
                     shortcut: (conv: Convolution, norm: Normalisation)?) {
            self.conv1 = conv1
            self.norm1 = norm1
            self.conv2 = conv2
            self.norm2 = norm2
            self.shortcut = shortcut
        }

        var norms: [Normalisation] { [norm1, norm2] + (shortcut.map { [$0.norm] } ?? []) }
    }

    let stem: Convolution
    let stemNorm: Normalisation
    let maxPool: (kernel: Int, stride: Int, padding: Int)
    let blocks: [Block]
    let parameters: FloatBuffer
    let gradients: FloatBuffer
    let running: FloatBuffer
    /// Floats of batch statistics: 3 per channel of every BatchNorm.
    let statisticsCount: Int
    /// The memory of the last step's size, with the activations and statistics of its forward.
    private var plan: TrainingPlan?

    /// - Parameters:
    ///   - parameters: every layer's weights, γ and β at the offsets the layers name.
    ///   - gradients: written by `backward`, laid out like `parameters`.
    ///   - running: each BatchNorm's running mean and variance, updated by `forward`.
    package init(stem: Convolution, stemNorm: Normalisation, maxPool: (kernel: Int, stride: Int, padding: Int),
                 blocks: [Block], parameters: FloatBuffer, gradients: FloatBuffer, running: FloatBuffer) {
        precondition(!blocks.isEmpty, "a residual network needs at least one block")
        precondition(gradients.count == parameters.count, "gradients (\(gradients.count)) must be laid out like parameters (\(parameters.count))")
        func check(_ c: Convolution) {
            precondition(c.weight >= 0 && c.weight + c.weightCount <= parameters.count, "weight of \(c.geometry) outside the parameters")
        }
        func check(_ n: Normalisation, follows c: Convolution) {
            precondition(n.channels == c.geometry.outChannels, "BatchNorm of \(n.channels) channels after \(c.geometry)")
            precondition([n.gamma, n.beta].allSatisfy { $0 >= 0 && $0 + n.channels <= parameters.count }, "γ/β outside the parameters")
            precondition(n.running >= 0 && n.running + 2 * n.channels <= running.count, "running statistics outside their buffer")
        }
        check(stem)
        check(stemNorm, follows: stem)
        var channels = stem.geometry.outChannels
        for block in blocks {
            precondition(block.conv1.geometry.inChannels == channels && block.conv2.geometry.inChannels == block.conv1.geometry.outChannels
                         && block.conv2.geometry.stride == 1, "block \(block.conv1.geometry) → \(block.conv2.geometry) after \(channels) channels")
            if let s = block.shortcut {
                precondition(s.conv.geometry.inChannels == channels && s.conv.geometry.outChannels == block.conv2.geometry.outChannels,
                             "shortcut \(s.conv.geometry) in a block \(block.conv1.geometry) → \(block.conv2.geometry)")
            } else {
                precondition(block.conv1.geometry.stride == 1 && block.conv2.geometry.outChannels == channels,
                             "an identity shortcut needs conv1 \(block.conv1.geometry) to keep the shape")
            }
            for (c, n) in [(block.conv1, block.norm1), (block.conv2, block.norm2)] + (block.shortcut.map { [$0] } ?? []) {
                check(c)
                check(n, follows: c)
            }
            channels = block.conv2.geometry.outChannels
        }
        // Statistics memory in layer order: the stem's BatchNorm, then each block's norm1, norm2, shortcut norm.
        var count = 0
        func place(_ n: Normalisation) -> Normalisation {
            var n = n
            n.statistics = count
            count += 3 * n.channels
            return n
        }
        self.stem = stem
        self.stemNorm = place(stemNorm)
        self.maxPool = maxPool
        self.blocks = blocks.map { b in
            let (n1, n2) = (place(b.norm1), place(b.norm2))
            return Block(conv1: b.conv1, norm1: n1, conv2: b.conv2, norm2: n2, shortcut: b.shortcut.map { ($0.conv, place($0.norm)) })
        }
        statisticsCount = count
        self.parameters = parameters
        self.gradients = gradients
        self.running = running
    }

    /// Channels of the last block's output: the pooled features' width.
    package var featureChannels: Int { blocks.last!.conv2.geometry.outChannels }

    /// Forward in training mode over input [N, Cin, H, W]: updates every BatchNorm's running
    /// statistics and returns the last block's output, globally average-pooled [N, C]. Keeps what
    /// `backward` needs.
    @discardableResult
    package func forward(_ input: Tensor, threads: Int) -> Tensor {
        precondition(input.shape.count == 4 && input.shape[1] == stem.geometry.inChannels,
                     "training input must be [N, \(stem.geometry.inChannels), H, W], got \(input.shape)")
        let (n, h, w) = (input.shape[0], input.shape[2], input.shape[3])
        let threads = max(1, threads)
        let b: TrainingPlan
        if let existing = plan, existing.images == n, existing.height == h, existing.width == w, existing.threads == threads {
            b = existing
        } else {
            plan = nil  // free the old size first
            b = TrainingPlan(self, images: n, height: h, width: w, threads: threads)
            plan = b
        }
        b.forwardDone = false
        input.scalars.withUnsafeBufferPointer { b.input.base.update(from: $0.baseAddress!, count: $0.count) }
        let t = threads, p = parameters.base
        Conv2D.forwardBatch(b.input, weight: p + stem.weight, geometry: stem.geometry, into: b.stemOut, scratch: b.scratch, threads: t,
                            winograd: stem.winograd)
        normalise(stemNorm, b.stemOut, into: b.stemActivation, relu: true, plan: b)
        let pool = maxPool
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
            normalise(block.norm1, a.z1, into: a.a1, relu: true, plan: b)
            Conv2D.forwardBatch(a.a1, weight: p + block.conv2.weight, geometry: block.conv2.geometry, into: a.z2, scratch: b.scratch, threads: t,
                                winograd: block.conv2.winograd)
            var identity = x
            if let (conv, norm) = block.shortcut, let zd = a.zd, let projected = a.identity {
                Conv2D.forwardBatch(x, weight: p + conv.weight, geometry: conv.geometry, into: zd, scratch: b.scratch, threads: t,
                                    winograd: conv.winograd)
                normalise(norm, zd, into: projected, relu: false, plan: b)
                identity = projected
            }
            normalise(block.norm2, a.z2, residual: identity, into: a.out, relu: true, plan: b)
            x = a.out
        }
        let c = x.channels
        var pooled = [Float](repeating: 0, count: b.images * c)
        pooled.withUnsafeMutableBufferPointer { out in
            for i in 0..<b.images { GlobalAveragePool.forward(x.image(i), into: out.baseAddress! + i * c) }
        }
        b.forwardDone = true
        return Tensor(shape: [b.images, c], scalars: pooled)
    }

    /// Backward from dL/d(pooled features) [N, C] through the last `forward`: writes the gradient of
    /// every convolution weight and BatchNorm γ and β into the gradient buffer (overwriting it there).
    package func backward(gradPooled: Tensor) {
        guard let b = plan, b.forwardDone else { preconditionFailure("backward needs a forward first") }
        let last = b.blocks.last!.out
        precondition(gradPooled.shape == [b.images, last.channels], "pooled gradient must be [\(b.images), \(last.channels)], got \(gradPooled.shape)")
        b.forwardDone = false  // the backward overwrites the stem activation
        let t = b.threads, p = parameters.base, g = gradients.base
        var cur = 0
        var dOut = b.gradient(cur, like: last)
        gradPooled.scalars.withUnsafeBufferPointer { d in
            for i in 0..<b.images { GlobalAveragePool.backward(gradOutput: d.baseAddress! + i * last.channels, into: dOut.image(i)) }
        }
        for (index, block) in blocks.enumerated().reversed() {
            let a = b.blocks[index]
            let x = index == 0 ? b.pooled : b.blocks[index - 1].out
            let others = (0..<4).filter { $0 != cur }
            ReLU.backward(gradient: dOut, output: a.out, threads: t)  // dOut is now the gradient at the sum
            let dz2 = b.gradient(others[0], like: a.z2)
            normBackward(block.norm2, gradOutput: dOut, input: a.z2, into: dz2, plan: b)
            var dzd: FeatureBatch?
            if let (_, norm) = block.shortcut, let zd = a.zd {
                let d = b.gradient(others[1], like: zd)
                normBackward(norm, gradOutput: dOut, input: zd, into: d, plan: b)
                dzd = d
            }
            let da1 = b.gradient(others[2], like: a.a1)
            Conv2D.backwardBatch(input: a.a1, gradOutput: dz2, weight: p + block.conv2.weight, geometry: block.conv2.geometry,
                                 gradWeight: g + block.conv2.weight, gradInput: da1, scratch: b.scratch, threads: t,
                                 winograd: block.conv2.winograd)
            ReLU.backward(gradient: da1, output: a.a1, threads: t)
            normBackward(block.norm1, gradOutput: da1, input: a.z1, into: da1, plan: b)
            let dx = b.gradient(others[0], like: x)
            Conv2D.backwardBatch(input: x, gradOutput: da1, weight: p + block.conv1.weight, geometry: block.conv1.geometry,
                                 gradWeight: g + block.conv1.weight, gradInput: dx, scratch: b.scratch, threads: t,
                                 winograd: block.conv1.winograd)
            if let (conv, _) = block.shortcut, let dzd {
                Conv2D.backwardBatch(input: x, gradOutput: dzd, weight: p + conv.weight, geometry: conv.geometry,
                                     gradWeight: g + conv.weight, gradInput: dx, accumulateInput: true, scratch: b.scratch, threads: t,
                                     winograd: conv.winograd)
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
        normBackward(stemNorm, gradOutput: dStem, input: b.stemOut, into: dStem, plan: b)
        Conv2D.backwardBatch(input: b.input, gradOutput: dStem, weight: p + stem.weight, geometry: stem.geometry,
                             gradWeight: g + stem.weight, gradInput: nil, scratch: b.scratch, threads: t, winograd: stem.winograd)
    }

    /// Batch statistics, running-statistics update and the normalisation of one BatchNorm.
    private func normalise(_ n: Normalisation, _ z: FeatureBatch, residual: FeatureBatch? = nil, into y: FeatureBatch, relu: Bool,
                           plan b: TrainingPlan) {
        let s = b.statistics(n)
        BatchNorm.batchStatistics(z, mean: s.mean, variance: s.variance, invStd: s.invStd, threads: b.threads)
        BatchNorm.updateRunningStatistics(runningMean: running.base + n.running, runningVar: running.base + n.running + n.channels,
                                          mean: s.mean, variance: s.variance, channels: n.channels,
                                          count: z.images * z.planeSize)
        BatchNorm.trainingForward(z, mean: s.mean, invStd: s.invStd, gamma: parameters.base + n.gamma, beta: parameters.base + n.beta,
                                  residual: residual, relu: relu, into: y, threads: b.threads)
    }

    private func normBackward(_ n: Normalisation, gradOutput dy: FeatureBatch, input z: FeatureBatch, into dx: FeatureBatch,
                              plan b: TrainingPlan) {
        let s = b.statistics(n)
        BatchNorm.trainingBackward(gradOutput: dy, input: z, mean: s.mean, invStd: s.invStd, gamma: parameters.base + n.gamma,
                                   gradInput: dx, gradGamma: gradients.base + n.gamma, gradBeta: gradients.base + n.beta,
                                   threads: b.threads)
    }
}

/// The memory of one training step for one (batch, height, width, threads): every activation the
/// backward reads, four gradient buffers the backward rotates through, one scratch shared by all
/// convolutions (sized for the largest forward or backward), the max pool's argmax and each
/// BatchNorm's batch statistics.
final class TrainingPlan {
    struct BlockActivations {
        let z1: FeatureBatch, a1: FeatureBatch, z2: FeatureBatch
        /// The shortcut's projection before and after its BatchNorm, for a projecting block.
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
    /// Whether the activations hold a forward that no backward has consumed yet.
    var forwardDone = false

    let input: FeatureBatch
    let stemOut: FeatureBatch
    /// relu(norm(stem)) in the forward, its gradient in the backward.
    let stemActivation: FeatureBatch
    let pooled: FeatureBatch
    let blocks: [BlockActivations]
    var argmax: UnsafeMutablePointer<Int32> { argmaxMemory }
    var scratch: Scratch { scratchMemory.scratch(count: scratchMemory.count) }

    init(_ network: TrainingExecutor, images n: Int, height h: Int, width w: Int, threads: Int) {
        self.images = n
        self.height = h
        self.width = w
        self.threads = threads
        // Sizes first, then one allocation.
        var shapes: [(Int, Int, Int)] = []  // (channels, height, width) in allocation order
        var scratch = 0, largestGradient = 0
        let stem = network.stem, sg = stem.geometry
        let (sh, sw) = (sg.outputHeight(h), sg.outputWidth(w))
        let pool = network.maxPool
        let (ph, pw) = (MaxPool2D.outputSize(sh, kernel: pool.kernel, stride: pool.stride, padding: pool.padding),
                        MaxPool2D.outputSize(sw, kernel: pool.kernel, stride: pool.stride, padding: pool.padding))
        precondition(ph > 0 && pw > 0, "a \(h)×\(w) input is too small for the stem and max pool")
        func scratchCount(_ c: TrainingExecutor.Convolution, height: Int, width: Int) -> Int {
            max(Conv2D.backwardScratchCount(c.geometry, height: height, width: width, threads: threads, winograd: c.winograd),
                Conv2D.forwardScratchCount(c.geometry, height: height, width: width, threads: threads, winograd: c.winograd))
        }
        scratch = scratchCount(stem, height: h, width: w)
        shapes += [(sg.inChannels, h, w), (sg.outChannels, sh, sw), (sg.outChannels, sh, sw), (sg.outChannels, ph, pw)]
        largestGradient = sg.outChannels * ph * pw
        var (ch, hh, ww) = (sg.outChannels, ph, pw)
        for block in network.blocks {
            let g1 = block.conv1.geometry
            let (oh, ow) = (g1.outputHeight(hh), g1.outputWidth(ww))
            precondition(oh > 0 && ow > 0, "a \(h)×\(w) input is too small for every block")
            let c = g1.outChannels
            scratch = max(scratch, scratchCount(block.conv1, height: hh, width: ww), scratchCount(block.conv2, height: oh, width: ow))
            if let s = block.shortcut {
                precondition((s.conv.geometry.outputHeight(hh), s.conv.geometry.outputWidth(ww)) == (oh, ow),
                             "shortcut \(s.conv.geometry) does not match conv1 \(g1) on a \(hh)×\(ww) map")
                scratch = max(scratch, scratchCount(s.conv, height: hh, width: ww))
            }
            shapes += Array(repeating: (c, oh, ow), count: block.shortcut == nil ? 4 : 6)
            largestGradient = max(largestGradient, ch * hh * ww, c * oh * ow)
            (ch, hh, ww) = (c, oh, ow)
        }
        let memory = FloatBuffer(count: n * shapes.reduce(0) { $0 + $1.0 * $1.1 * $1.2 })
        self.memory = memory
        var offset = 0
        var queue = shapes[...]
        func next() -> FeatureBatch {
            let s = queue.removeFirst()
            let b = memory.batch(images: n, channels: s.0, height: s.1, width: s.2, offset: offset)
            offset += b.count
            return b
        }
        let input = next(), stemOut = next(), stemActivation = next(), pooled = next()
        self.input = input
        self.stemOut = stemOut
        self.stemActivation = stemActivation
        self.pooled = pooled
        blocks = network.blocks.map { block in
            let z1 = next(), a1 = next(), z2 = next()
            var zd: FeatureBatch?, identity: FeatureBatch?
            if block.shortcut != nil { zd = next(); identity = next() }
            return BlockActivations(z1: z1, a1: a1, z2: z2, zd: zd, identity: identity, out: next())
        }
        gradientSize = n * largestGradient
        gradientMemory = FloatBuffer(count: 4 * gradientSize)
        scratchMemory = FloatBuffer(count: scratch)
        argmaxMemory = UnsafeMutablePointer<Int32>.allocate(capacity: max(1, pooled.count))
        statisticsMemory = FloatBuffer(count: network.statisticsCount)
    }

    deinit { argmaxMemory.deallocate() }

    /// Gradient buffer `index` (of 4) shaped like `batch`.
    func gradient(_ index: Int, like batch: FeatureBatch) -> FeatureBatch {
        gradientMemory.batch(images: batch.images, channels: batch.channels, height: batch.height, width: batch.width,
                             offset: index * gradientSize)
    }

    /// This step's batch mean, biased variance and 1/√(var + ε) of one BatchNorm.
    func statistics(_ n: TrainingExecutor.Normalisation)
        -> (mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>, invStd: UnsafeMutablePointer<Float>) {
        let base = statisticsMemory.base + n.statistics
        return (base, base + n.channels, base + 2 * n.channels)
    }
}
