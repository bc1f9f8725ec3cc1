import XRayCore

/// A residual block of folded (inference) convolutions: relu(conv2(relu(conv1(x))) + shortcut(x)),
/// with the residual add and final ReLU fused into conv2's output pass. The shortcut is identity,
/// or a projection convolution.
package struct ResidualBlock: Sendable {
    package let conv1: Conv2D
    package let conv2: Conv2D
    /// The projection on the shortcut, or nil for identity.
    package let shortcut: Conv2D?

    package init(conv1: Conv2D, conv2: Conv2D, shortcut: Conv2D?) {
        precondition(conv1.geometry.outChannels == conv2.geometry.inChannels && conv2.geometry.stride == 1,
                     "residual block: conv1 \(conv1.geometry) does not feed conv2 \(conv2.geometry)")
        if let shortcut {
            precondition(shortcut.geometry.outChannels == conv2.geometry.outChannels, "residual block: shortcut \(shortcut.geometry)")
        } else {
            precondition(conv1.geometry.stride == 1 && conv1.geometry.inChannels == conv2.geometry.outChannels,
                         "residual block: an identity shortcut needs conv1 \(conv1.geometry) to keep the shape")
        }
        self.conv1 = conv1
        self.conv2 = conv2
        self.shortcut = shortcut
    }

    package var outChannels: Int { conv2.geometry.outChannels }

    package func outputSize(height: Int, width: Int) -> (height: Int, width: Int) {
        conv1.outputSize(height: height, width: width)
    }

    /// The block's convolutions, each with the input size it sees for a block input of height × width.
    func convolutions(height: Int, width: Int) -> [(conv: Conv2D, height: Int, width: Int)] {
        let (oh, ow) = outputSize(height: height, width: width)
        return [(conv1, height, width), (conv2, oh, ow)] + (shortcut.map { [($0, height, width)] } ?? [])
    }

    /// Runs the block on `x` (one image or a group); `mid`, `shortcut` and `out` are free buffers of the output size.
    /// Each convolution takes its scratch from `scratch` (the `ForwardPlan` decides which memory each kind uses).
    func forward(_ x: FeatureMap, mid: UnsafeMutablePointer<Float>, shortcut shortcutBuffer: UnsafeMutablePointer<Float>,
                 out: UnsafeMutablePointer<Float>, scratch: (Conv2D) -> Scratch, parts: Int) -> FeatureMap {
        let (oh, ow) = outputSize(height: x.height, width: x.width)
        let c = outChannels
        let g = x.images
        let y = FeatureMap(base: mid, channels: c, images: g, height: oh, width: ow)
        conv1.forward(x, into: y, relu: true, scratch: scratch(conv1), parts: parts)
        var identity = x
        if let shortcut {
            identity = FeatureMap(base: shortcutBuffer, channels: c, images: g, height: oh, width: ow)
            shortcut.forward(x, into: identity, scratch: scratch(shortcut), parts: parts)
        }
        let result = FeatureMap(base: out, channels: c, images: g, height: oh, width: ow)
        conv2.forward(y, into: result, residual: identity, relu: true, scratch: scratch(conv2), parts: parts)
        return result
    }

    /// The block on a tensor [N, C, H, W] (one image at a time): relu(conv2(relu(conv1(x))) + shortcut(x)).
    package func callAsFunction(_ x: Tensor) -> Tensor {
        let mid = conv1(x, relu: true)
        let identity = shortcut.map { $0(x) } ?? x
        return ReLU.forward(Add.forward(conv2(mid), identity))
    }
}
