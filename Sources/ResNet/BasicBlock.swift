import Kernels
import XRayCore

/// torchvision's BasicBlock for inference: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)),
/// with every BatchNorm folded into the convolution before it (`ResidualBlock`, which also fuses
/// the residual add and final ReLU into conv2's output pass). shortcut is identity, or
/// downsample = bn(1×1 conv, stride s).
struct BasicBlock: Sendable {
    /// Which block of the architecture this is (its name, geometry and algorithm).
    let description: ResNet18Architecture.Block
    /// The folded convolutions, as the executor runs them.
    let layers: ResidualBlock

    var conv1: Conv2D { layers.conv1 }
    var conv2: Conv2D { layers.conv2 }
    var downsample: Conv2D? { layers.shortcut }

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
        layers = ResidualBlock(conv1: conv("conv1", "bn1", block.conv1), conv2: conv("conv2", "bn2", block.conv2),
                               shortcut: block.downsample.map { conv("downsample.0", "downsample.1", $0) })
    }
}
