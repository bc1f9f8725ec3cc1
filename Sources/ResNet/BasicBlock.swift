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

    func scratchCount(height: Int, width: Int, images: Int, parts: Int) -> Int {
        let (oh, ow) = outputSize(height: height, width: width)
        return max(conv1.scratchCount(height: height, width: width, images: images, parts: parts),
                   conv2.scratchCount(height: oh, width: ow, images: images, parts: parts),
                   downsample?.scratchCount(height: height, width: width, images: images, parts: parts) ?? 0)
    }

    /// Runs the block on `x` (one image or a group); `mid`, `shortcut` and `out` are free buffers of the output size.
    func forward(_ x: FeatureMap, mid: UnsafeMutablePointer<Float>, shortcut: UnsafeMutablePointer<Float>,
                 out: UnsafeMutablePointer<Float>, scratch: Scratch, parts: Int) -> FeatureMap {
        let (oh, ow) = outputSize(height: x.height, width: x.width)
        let c = outChannels
        let g = x.images
        let y = FeatureMap(base: mid, channels: c, images: g, height: oh, width: ow)
        conv1.forward(x, into: y, relu: true, scratch: scratch, parts: parts)
        var identity = x
        if let downsample {
            identity = FeatureMap(base: shortcut, channels: c, images: g, height: oh, width: ow)
            downsample.forward(x, into: identity, scratch: scratch, parts: parts)
        }
        let result = FeatureMap(base: out, channels: c, images: g, height: oh, width: ow)
        conv2.forward(y, into: result, residual: identity, relu: true, scratch: scratch, parts: parts)
        return result
    }
}
