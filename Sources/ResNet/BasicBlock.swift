import Kernels
import XRayCore

/// torchvision's BasicBlock for inference: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)),
/// with every BatchNorm folded into the convolution before it and the residual add and final ReLU
/// fused into conv2's output pass. shortcut is identity, or downsample = bn(1×1 conv, stride s).
struct BasicBlock: Sendable {
    let conv1: Conv2D
    let conv2: Conv2D
    let downsample: Conv2D?

    /// - Parameters:
    ///   - prefix: torchvision name of the block, e.g. "layer2.0".
    ///   - winograd: the algorithm for the block's 3×3 stride-1 convolutions (im2col for the others).
    init(parameters p: [String: Tensor], prefix: String, stride: Int, winograd: Conv2D.Algorithm) {
        func folded(_ conv: String, _ bn: String) -> (weight: Tensor, bias: Tensor) {
            BatchNorm.fold(convWeight: p["\(prefix).\(conv).weight"]!, gamma: p["\(prefix).\(bn).weight"]!,
                           beta: p["\(prefix).\(bn).bias"]!, runningMean: p["\(prefix).\(bn).running_mean"]!,
                           runningVar: p["\(prefix).\(bn).running_var"]!)
        }
        let c1 = folded("conv1", "bn1"), c2 = folded("conv2", "bn2")
        conv1 = Conv2D(weight: c1.weight, bias: c1.bias, stride: stride, padding: 1, algorithm: stride == 1 ? winograd : .im2col)
        conv2 = Conv2D(weight: c2.weight, bias: c2.bias, stride: 1, padding: 1, algorithm: winograd)
        if p["\(prefix).downsample.0.weight"] != nil {
            let d = folded("downsample.0", "downsample.1")
            downsample = Conv2D(weight: d.weight, bias: d.bias, stride: stride, padding: 0)
        } else {
            downsample = nil
        }
    }

    var outChannels: Int { conv2.geometry.outChannels }

    func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        conv1.outputSize(height: height, width: width)
    }

    func scratchCount(height: Int, width: Int, parts: Int) -> Int {
        let (oh, ow) = outputSize(height: height, width: width)
        return max(conv1.scratchCount(height: height, width: width, parts: parts),
                   conv2.scratchCount(height: oh, width: ow, parts: parts),
                   downsample?.scratchCount(height: height, width: width, parts: parts) ?? 0)
    }

    /// Runs the block on `x`; `mid`, `shortcut` and `out` are free buffers of the output size.
    func forward(_ x: FeatureMap, mid: UnsafeMutablePointer<Float>, shortcut: UnsafeMutablePointer<Float>,
                 out: UnsafeMutablePointer<Float>, scratch: Scratch, parts: Int) -> FeatureMap {
        let (oh, ow) = outputSize(height: x.height, width: x.width)
        let c = outChannels
        let y = FeatureMap(base: mid, channels: c, height: oh, width: ow)
        conv1.forward(x, into: y, relu: true, scratch: scratch, parts: parts)
        var identity = x
        if let downsample {
            identity = FeatureMap(base: shortcut, channels: c, height: oh, width: ow)
            downsample.forward(x, into: identity, scratch: scratch, parts: parts)
        }
        let result = FeatureMap(base: out, channels: c, height: oh, width: ow)
        conv2.forward(y, into: result, residual: identity, relu: true, scratch: scratch, parts: parts)
        return result
    }
}
