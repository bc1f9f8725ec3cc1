import Kernels
import Testing
@testable import ResNet

/// The one description of ResNet18 that inference, Grad-CAM and training build from.
@Suite struct ResNet18ArchitectureTests {
    @Test func blocksFollowTorchvisionResNet18() {
        let blocks = ResNet18Architecture.blocks
        #expect(blocks.map(\.name) == ["layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1", "layer4.0", "layer4.1"])
        #expect(blocks.map(\.inChannels) == [64, 64, 64, 128, 128, 256, 256, 512])
        #expect(blocks.map(\.outChannels) == [64, 64, 128, 128, 256, 256, 512, 512])
        #expect(blocks.map(\.stride) == [1, 1, 2, 1, 2, 1, 2, 1])
        #expect(blocks.map { $0.downsample != nil } == [false, false, true, false, true, false, true, false])
        #expect(ResNet18Architecture.featureChannels == 512)
    }

    @Test func onlyThreeByThreeStrideOneConvolutionsRunOnWinograd() {
        for block in ResNet18Architecture.blocks {
            #expect(block.algorithm(for: block.conv2) == block.algorithm)
            #expect(block.algorithm(for: block.conv1) == (block.stride == 1 ? block.algorithm : .im2col), "\(block.name).conv1")
            if let ds = block.downsample { #expect(block.algorithm(for: ds) == .im2col, "\(block.name).downsample") }
        }
        #expect(ResNet18Architecture.stages.map(\.algorithm) == [.winograd4x4, .winograd4x4, .winograd2x2, .im2col])
    }

    @Test func inferenceModelIsBuiltFromTheDescription() {
        let model = Reference.model
        #expect(model.stem.geometry == ResNet18Architecture.stem)
        for (block, description) in zip(model.blocks, ResNet18Architecture.blocks) {
            #expect(block.conv1.geometry == description.conv1 && block.conv2.geometry == description.conv2)
            #expect(block.downsample?.geometry == description.downsample)
            #expect(block.conv1.algorithm == description.algorithm(for: description.conv1))
        }
        let pooled = ResNet18Architecture.pooledSize(height: 224, width: 224)
        #expect(pooled.height == 56 && pooled.width == 56)
    }
}
