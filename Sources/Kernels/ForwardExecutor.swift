import Synchronization
import XRayCore

/// Runs the inference forward pass of a residual network (a stem convolution with ReLU, a max pool,
/// then residual blocks) over a batch, and owns everything about how: workspace memory and its
/// layout (`ForwardPlan`), grouping images and splitting work between threads.
///
/// The model describes the layers; this runs them. Workspaces are pooled for reuse between calls.
package final class ForwardExecutor: Sendable {
    package let stem: Conv2D
    package let maxPool: (kernel: Int, stride: Int, padding: Int)
    package let blocks: [ResidualBlock]
    private let workspaces = Mutex<[ForwardPlan: [Workspace]]>([:])

    package init(stem: Conv2D, maxPool: (kernel: Int, stride: Int, padding: Int), blocks: [ResidualBlock]) {
        precondition(!blocks.isEmpty, "a residual network needs at least one block")
        self.stem = stem
        self.maxPool = maxPool
        self.blocks = blocks
    }

    /// Largest group of images run through the network together on one thread. Groups make the
    /// GEMMs wider (the weights are packed once per group); 4 captures most of the gain while a
    /// thread's workspace stays near 30 MB.
    static let maxGroup = 4

    /// Returns the last block's output [N, C, h, w] and its global average [N, C]. Input [N, Cin, H, W].
    /// With `blocks` = k, the pass stops after the first k blocks and returns their output instead
    /// (e.g. an intermediate stage's activations, for Grad-CAM).
    ///
    /// With `threads` > 1 and N ≥ `threads`, each thread runs whole groups of up to 4 images; images
    /// left over (N not a multiple of `threads`, or batch 1) are split across the threads layer by
    /// layer: layer1 by stretches of the image, the rest by channels (or along K), part i of each
    /// step on the same thread, so that a thread mostly reads back what it wrote itself.
    package func run(_ input: Tensor, threads: Int, blocks count: Int? = nil) -> (features: Tensor, pooled: Tensor) {
        let count = count ?? blocks.count
        precondition(count >= 1 && count <= blocks.count, "\(count) blocks asked of \(blocks.count)")
        precondition(input.shape.count == 4 && input.shape[1] == stem.geometry.inChannels && input.shape[2] > 0 && input.shape[3] > 0,
                     "network input must be [N, \(stem.geometry.inChannels), H, W], got \(input.shape)")
        let (n, h, w) = (input.shape[0], input.shape[2], input.shape[3])
        let cin = input.shape[1]
        let threads = max(1, threads)
        let shape = ForwardPlan(self, blocks: count, height: h, width: w, images: 1, parts: 1)
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
                    let plan = ForwardPlan(self, blocks: count, height: h, width: w, images: images.count, parts: parts)
                    let space = takeWorkspace(plan)
                    let x = space.featureMap(at: plan.inputOffset, channels: cin, images: images.count, height: h, width: w)
                    for (g, i) in images.enumerated() { x.load(from: input, image: i, into: g) }
                    let y = forwardGroup(x, space: space, plan: plan, parts: parts)
                    for (g, i) in images.enumerated() { y.store(g, into: featureOut, image: i) }
                    GlobalAveragePool.forward(y, into: pooledOut + images.lowerBound * fc)
                    returnWorkspace(space, plan)
                }
                Parallel.run(parts: groups.count, threads: threads) { part in run(images: groups[part.index], parts: 1) }
                for i in grouped..<n { run(images: i..<(i + 1), parts: threads) }
            }
        }
        return (Tensor(shape: [n, fc, fh, fw], scalars: features), Tensor(shape: [n, fc], scalars: pooled))
    }

    /// Stem, max pool and the blocks for a group of images already in the workspace; returns the last block's output.
    private func forwardGroup(_ x: FeatureMap, space: Workspace, plan: ForwardPlan, parts: Int) -> FeatureMap {
        let g = x.images
        let scratch = plan.scratch(for: stem, in: space)
        let stemOut = space.featureMap(at: plan.stemOffset, channels: stem.geometry.outChannels, images: g,
                                       height: plan.stemHeight, width: plan.stemWidth)
        stem.forward(x, into: stemOut, relu: true, scratch: scratch, parts: parts)
        let pool = maxPool
        var y = space.featureMap(at: plan.slotOffsets[0], channels: stemOut.channels, images: g,
                                 height: plan.poolHeight, width: plan.poolWidth)
        Parallel.run(parts: Parallel.parts(units: stemOut.channels, threads: parts), threads: parts) { part in
            MaxPool2D.forward(stemOut, into: y, kernel: pool.kernel, stride: pool.stride, padding: pool.padding,
                              channels: part.range(of: stemOut.channels))
        }
        // Four rotating buffers: the block's input, conv1's output, the shortcut, the block's output.
        var slots = plan.slotOffsets.map { space.scratch(at: $0, count: 0).base }
        for block in blocks[..<plan.blocks] {
            y = block.forward(y, mid: slots[1], shortcut: slots[2], out: slots[3], scratch: { plan.scratch(for: $0, in: space) },
                              parts: parts)
            slots = [slots[3], slots[0], slots[1], slots[2]]
        }
        return y
    }

    private func takeWorkspace(_ plan: ForwardPlan) -> Workspace {
        workspaces.withLock { $0[plan]?.popLast() } ?? Workspace(capacity: plan.capacity)
    }

    private func returnWorkspace(_ space: Workspace, _ plan: ForwardPlan) {
        workspaces.withLock { pool in
            // Keep workspaces for one input size only: another size frees the old ones.
            if let other = pool.keys.first, other.height != plan.height || other.width != plan.width { pool.removeAll() }
            pool[plan, default: []].append(space)
        }
    }
}

/// Where each buffer of a forward pass over a group of images lives in a workspace, for one input
/// size, group size and thread split.
struct ForwardPlan: Hashable {
    /// The plan covers the stem, the pool and the first `blocks` blocks.
    let blocks: Int
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

    init(_ network: ForwardExecutor, blocks: Int, height: Int, width: Int, images g: Int, parts: Int) {
        self.blocks = blocks
        self.height = height
        self.width = width
        self.images = g
        self.parts = parts
        let stem = network.stem
        (stemHeight, stemWidth) = stem.outputSize(height: height, width: width)
        let pool = network.maxPool
        poolHeight = MaxPool2D.outputSize(stemHeight, kernel: pool.kernel, stride: pool.stride, padding: pool.padding)
        poolWidth = MaxPool2D.outputSize(stemWidth, kernel: pool.kernel, stride: pool.stride, padding: pool.padding)
        var scratch = stem.scratchCount(height: height, width: width, images: g, parts: parts)
        var winograd = 0, spatial = 0
        var largest = g * stem.geometry.outChannels * poolHeight * poolWidth
        var (h, w) = (poolHeight, poolWidth)
        for block in network.blocks[..<blocks] {
            for (conv, ch, cw) in block.convolutions(height: h, width: w) {
                let count = conv.scratchCount(height: ch, width: cw, images: g, parts: parts)
                switch ForwardPlan.kind(conv, images: g, parts: parts) {
                case .im2col: scratch = max(scratch, count)
                case .winograd: winograd = max(winograd, count)
                case .spatial: spatial = max(spatial, count)
                }
            }
            (h, w) = block.outputSize(height: h, width: w)
            largest = max(largest, g * block.outChannels * h * w)
        }
        featureChannels = network.blocks[blocks - 1].outChannels
        (featureHeight, featureWidth) = (h, w)
        // Slot 0 holds the pooled stem output; slots 1-3 reuse the stem output's memory once it is pooled.
        let stemCount = g * stem.geometry.outChannels * stemHeight * stemWidth
        inputOffset = 0
        let slot0 = g * stem.geometry.inChannels * height * width
        stemOffset = slot0 + largest
        slotOffsets = [slot0, stemOffset, stemOffset + largest, stemOffset + 2 * largest]
        scratchOffset = stemOffset + max(stemCount, 3 * largest)
        // The Winograd convolutions reuse the others' scratch, except when the pass is split between
        // threads: then each kind splits its data between the threads differently (the unfolded
        // matrices by channel or by column, V by channel and M by position, or a stretch of the
        // image per thread), and reusing memory across kinds would mean writing lines the other
        // thread holds, each at the cost of invalidating its copy.
        let split = parts > 1
        scratchCounts = [.im2col: scratch, .winograd: winograd, .spatial: spatial]
        scratchOffsets = [.im2col: scratchOffset, .winograd: split ? scratchOffset + scratch : scratchOffset,
                          .spatial: split ? scratchOffset + scratch + winograd : scratchOffset]
        scratchCount = split ? scratch + winograd + spatial : max(scratch, winograd, spatial)
        capacity = scratchOffset + scratchCount
    }
}
