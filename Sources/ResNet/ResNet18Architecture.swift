// port of torchvision/models/resnet.py (resnet18: BasicBlock, [2, 2, 2, 2])
import Kernels

/// The one description of ResNet18: stem, max pool, four stages of two BasicBlocks, and the
/// convolution algorithm of each stage. Inference (`ResNet18`), Grad-CAM and training
/// (`ResNet18Training`) all build their layers from it, and `WeightRemap` derives the parameter
/// names and shapes from it.
public enum ResNet18Architecture {
    /// One stage (torchvision's `layerN`): two BasicBlocks, the first with `stride`.
    public struct Stage: Sendable {
        public let name: String
        public let channels: Int
        public let stride: Int
        /// Algorithm for the stage's 3×3 stride-1 convolutions.
        public let algorithm: Conv2D.Algorithm
    }

    /// One BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), where the shortcut is
    /// identity or `downsample` = bn(1×1 conv, stride s).
    public struct Block: Sendable {
        /// torchvision's name, e.g. "layer2.0"; its layers are "\(name).conv1", "\(name).bn1", ….
        public let name: String
        /// Index of the stage in `ResNet18Architecture.stages`.
        public let stage: Int
        public let conv1: ConvGeometry
        public let conv2: ConvGeometry
        /// The 1×1 projection of the shortcut (`downsample.0`, with BatchNorm `downsample.1`), if any.
        public let downsample: ConvGeometry?
        /// Algorithm for the block's 3×3 stride-1 convolutions (conv1 when stride 1, and conv2).
        public let algorithm: Conv2D.Algorithm

        public var inChannels: Int { conv1.inChannels }
        public var outChannels: Int { conv2.outChannels }
        public var stride: Int { conv1.stride }

        /// The algorithm `conv` (one of this block's convolutions) runs on: the stage's for 3×3
        /// stride-1 convolutions, im2col for the rest.
        public func algorithm(for conv: ConvGeometry) -> Conv2D.Algorithm {
            conv.kernelHeight == 3 && conv.stride == 1 && conv.padding == 1 ? algorithm : .im2col
        }
    }

    /// conv1 (7×7, stride 2, padding 3) followed by bn1 and ReLU.
    public static let stem = ConvGeometry(inChannels: 3, outChannels: 64, kernel: 7, stride: 2, padding: 3)
    /// The max pool after the stem.
    public static let maxPool = (kernel: 3, stride: 2, padding: 1)

    /// Algorithm for each stage's 3×3 stride-1 convolutions, chosen by measurement (2 cores, 224 input):
    /// F(4×4) where maps are large; F(2×2) on layer3's 14×14 (F(4×4) would pad it to 16×16 and cost 4×
    /// the weights); im2col on layer4, where 7×7 maps give too few tiles and Winograd weights would
    /// take 16/9–4× the 28 MB of its 3×3 weights.
    public static let stages: [Stage] = [
        Stage(name: "layer1", channels: 64, stride: 1, algorithm: .winograd4x4),
        Stage(name: "layer2", channels: 128, stride: 2, algorithm: .winograd4x4),
        Stage(name: "layer3", channels: 256, stride: 2, algorithm: .winograd2x2),
        Stage(name: "layer4", channels: 512, stride: 2, algorithm: .im2col),
    ]
    public static let blocksPerStage = 2

    /// The eight blocks in order, with their input and output channels.
    public static let blocks: [Block] = {
        var blocks: [Block] = []
        var inChannels = stem.outChannels
        for (s, stage) in stages.enumerated() {
            for b in 0..<blocksPerStage {
                let c = stage.channels, stride = b == 0 ? stage.stride : 1
                let blockIn = b == 0 ? inChannels : c
                let projects = stride != 1 || blockIn != c
                blocks.append(Block(
                    name: "\(stage.name).\(b)", stage: s,
                    conv1: ConvGeometry(inChannels: blockIn, outChannels: c, kernel: 3, stride: stride, padding: 1),
                    conv2: ConvGeometry(inChannels: c, outChannels: c, kernel: 3, stride: 1, padding: 1),
                    downsample: projects ? ConvGeometry(inChannels: blockIn, outChannels: c, kernel: 1, stride: stride, padding: 0) : nil,
                    algorithm: stage.algorithm))
            }
            inChannels = stage.channels
        }
        return blocks
    }()

    /// Channels of layer4's output, the features the average pool and fc read.
    public static var featureChannels: Int { stages.last!.channels }

    /// The size of the max pool's output (layer1's input) for an input of height × width.
    public static func pooledSize(height: Int, width: Int) -> (height: Int, width: Int) {
        let (h, w) = (stem.outputHeight(height), stem.outputWidth(width))
        return (MaxPool2D.outputSize(h, kernel: maxPool.kernel, stride: maxPool.stride, padding: maxPool.padding),
                MaxPool2D.outputSize(w, kernel: maxPool.kernel, stride: maxPool.stride, padding: maxPool.padding))
    }
}
