import Kernels
import XRayCore

/// A stage's output for one image and the gradient of one logit with respect to it: what
/// Grad-CAM needs (`ClassActivationMap.gradCAM(activations:gradient:…)`).
public struct StageGradient: Sendable {
    /// The stage's output after its last ReLU, [1, C, h, w] (layer3: [1, 256, 14, 14] for 224 input).
    public let activations: Tensor
    /// ∂logit[classIndex] / ∂activations, same shape.
    public let gradient: Tensor
    /// The image's logits [classes] from the same forward pass.
    public let logits: [Float]
    /// The class whose logit was differentiated.
    public let classIndex: Int
}

extension ResNet18 {
    /// layer3's output for image `image` of `input` [N, 3, H, W] and the gradient of logit
    /// `classIndex` (nil: the largest logit, first of equals) with respect to it, by the backward
    /// pass through layer4, the average pool and fc in eval mode (BatchNorm folded, as in the
    /// forward pass).
    ///
    /// Backward through a folded block: ReLU masks from the saved outputs; each convolution's
    /// input gradient is its transposed convolution with the folded weight W·γ/√(var+ε)
    /// (`Conv2D.backwardInput`: training's backward kernel, without the weight gradient); the
    /// shortcut adds its own gradient (identity, or the folded 1×1 downsample's). Runs on one
    /// thread, one image: about one forward pass of extra work.
    public func layer3Gradient(_ input: Tensor, image: Int = 0, classIndex: Int? = nil) -> StageGradient {
        precondition(input.shape.count == 4 && input.shape[1] == 3 && image >= 0 && image < input.shape[0],
                     "input must be [N, 3, H, W] with image \(image) in it, got \(input.shape)")
        let plane = 3 * input.shape[2] * input.shape[3]
        let x0 = Tensor(shape: [1, 3, input.shape[2], input.shape[3]],
                        scalars: Array(input.scalars[(image * plane)..<((image + 1) * plane)]))

        // Forward to layer3's output: the inference pass, stopped before layer4 (one image, one thread).
        let lastStage = ResNet18Architecture.stages.count - 1
        let layer4 = blocks.filter { $0.description.stage == lastStage }
        let a3 = executor.run(x0, threads: 1, blocks: blocks.count - layer4.count).features
        var x = a3

        // layer4, keeping what its backward needs: each block's input, conv1's output, its output.
        var saved: [(input: Tensor, mid: Tensor, output: Tensor)] = []
        for block in layer4 {
            let mid = block.conv1(x, relu: true)
            let identity = block.downsample.map { $0(x) } ?? x
            let out = ReLU.forward(Add.forward(block.conv2(mid), identity))
            saved.append((x, mid, out))
            x = out
        }
        let pooled = GlobalAveragePool.forward(x)
        let logits = Linear.forward(pooled, weight: fcWeight, bias: fcBias).scalars
        var c = 0
        if let classIndex {
            precondition(classIndex >= 0 && classIndex < logits.count, "class \(classIndex) out of range for \(logits.count) logits")
            c = classIndex
        } else {
            for k in logits.indices where logits[k] > logits[c] { c = k }
        }

        // d logit_c / d layer4 output: back through fc and the average pool, as training does.
        let oneHot = Tensor(shape: [1, logits.count], scalars: logits.indices.map { $0 == c ? 1 : 0 })
        let dPooled = Linear.backward(input: pooled, weight: fcWeight, gradOutput: oneHot).gradInput
        var gradient = GlobalAveragePool.backward(gradOutput: dPooled, height: x.shape[2], width: x.shape[3])
        // Back through layer4's blocks with training's convolution backward, input gradient only.
        for (block, s) in zip(layer4, saved).reversed() {
            let d = block.description, prefix = d.name
            let pre = ReLU.backward(gradOutput: gradient, output: s.output)
            var dMid = Conv2D.backwardInput(input: s.mid, weight: folded("\(prefix).conv2", "\(prefix).bn2"), gradOutput: pre,
                                            geometry: d.conv2)
            dMid = ReLU.backward(gradOutput: dMid, output: s.mid)
            let dInput = Conv2D.backwardInput(input: s.input, weight: folded("\(prefix).conv1", "\(prefix).bn1"), gradOutput: dMid,
                                              geometry: d.conv1)
            let dShortcut = d.downsample.map { g in
                Conv2D.backwardInput(input: s.input, weight: folded("\(prefix).downsample.0", "\(prefix).downsample.1"),
                                     gradOutput: pre, geometry: g)
            } ?? pre
            gradient = Add.forward(dInput, dShortcut)
        }
        return StageGradient(activations: a3, gradient: gradient, logits: logits, classIndex: c)
    }

    /// The convolution weight `conv` with the batch norm `bn` folded in (the forward pass's weight).
    private func folded(_ conv: String, _ bn: String) -> Tensor {
        let p = parameters
        return BatchNorm.fold(convWeight: p["\(conv).weight"]!, gamma: p["\(bn).weight"]!, beta: p["\(bn).bias"]!,
                              runningMean: p["\(bn).running_mean"]!, runningVar: p["\(bn).running_var"]!).weight
    }
}
