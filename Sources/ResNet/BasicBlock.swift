import Kernels
import XRayCore

/// torchvision's BasicBlock for inference: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)),
/// with every BatchNorm folded into the convolution before it and the residual add and final ReLU
/// fused into conv2's output pass. shortcut is identity, or downsample = bn(1×1 conv, stride s).
struct BasicBlock: Sendable {
    /// Which block of the architecture this is (its name, geometry and algorithm).
    let description: ResNet18Architecture.Block
    let conv1: Conv2D
    let conv2: Conv2D
    let downsample: Conv2D?

    /// The block `block` of `ResNet18Architecture` with its weights from `p` (torchvision names).
    init(parameters p: [String: Tensor], block: ResNet18Architecture.Block) {
        description = block
        let prefix = block.name
        func conv(_ name: String, _ bn: String, _ g: ConvGeometry) -> Conv2D {
            // BatchNorm folded into the convolution's stored weights and bias.
            Conv2D(weight: p["\(prefix).\(name).weight"]!, bias: nil,
                   batchNorm: BatchNorm.Parameters(gamma: p["\(prefix).\(bn).weight"]!, beta: p["\(prefix).\(bn).bias"]!,
                                                   runningMean: p["\(prefix).\(bn).running_mean"]!,
                                                   runningVar: p["\(prefix).\(bn).running_var"]!),
                   stride: g.stride, padding: g.padding, algorithm: block.algorithm(for: g))
        }
        conv1 = conv("conv1", "bn1", block.conv1)
        conv2 = conv("conv2", "bn2", block.conv2)
        downsample = block.downsample.map { conv("downsample.0", "downsample.1", $0) }
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
