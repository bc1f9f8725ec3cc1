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
        func weight(_ conv: String) -> Tensor { p["\(prefix).\(conv).weight"]! }
        func batchNorm(_ bn: String) -> BatchNorm.Parameters {
            BatchNorm.Parameters(gamma: p["\(prefix).\(bn).weight"]!, beta: p["\(prefix).\(bn).bias"]!,
                                 runningMean: p["\(prefix).\(bn).running_mean"]!, runningVar: p["\(prefix).\(bn).running_var"]!)
        }
        // BatchNorm folded into each convolution's stored weights and bias.
        conv1 = Conv2D(weight: weight("conv1"), bias: nil, batchNorm: batchNorm("bn1"), stride: stride, padding: 1,
                       algorithm: stride == 1 ? winograd : .im2col)
        conv2 = Conv2D(weight: weight("conv2"), bias: nil, batchNorm: batchNorm("bn2"), stride: 1, padding: 1, algorithm: winograd)
        if p["\(prefix).downsample.0.weight"] != nil {
            downsample = Conv2D(weight: weight("downsample.0"), bias: nil, batchNorm: batchNorm("downsample.1"), stride: stride, padding: 0)
        } else {
            downsample = nil
        }
    }

    var outChannels: Int { conv2.geometry.outChannels }

    func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        conv1.outputSize(height: height, width: width)
    }

    /// The block's convolutions, each with the input size it sees for a block input of height × width.
    func convolutions(height: Int, width: Int) -> [(conv: Conv2D, height: Int, width: Int)] {
        let (oh, ow) = outputSize(height: height, width: width)
        return [(conv1, height, width), (conv2, oh, ow)] + (downsample.map { [($0, height, width)] } ?? [])
    }

    /// Runs the block on `x` (one image or a group); `mid`, `shortcut` and `out` are free buffers of the output size.
    /// Each convolution takes its scratch from `scratch` (ForwardLayout decides which memory each kind uses).
    func forward(_ x: FeatureMap, mid: UnsafeMutablePointer<Float>, shortcut: UnsafeMutablePointer<Float>,
                 out: UnsafeMutablePointer<Float>, scratch: (Conv2D) -> Scratch, parts: Int) -> FeatureMap {
        let (oh, ow) = outputSize(height: x.height, width: x.width)
        let c = outChannels
        let g = x.images
        let y = FeatureMap(base: mid, channels: c, images: g, height: oh, width: ow)
        conv1.forward(x, into: y, relu: true, scratch: scratch(conv1), parts: parts)
        var identity = x
        if let downsample {
            identity = FeatureMap(base: shortcut, channels: c, images: g, height: oh, width: ow)
            downsample.forward(x, into: identity, scratch: scratch(downsample), parts: parts)
        }
        let result = FeatureMap(base: out, channels: c, images: g, height: oh, width: ow)
        conv2.forward(y, into: result, residual: identity, relu: true, scratch: scratch(conv2), parts: parts)
        return result
    }
}
