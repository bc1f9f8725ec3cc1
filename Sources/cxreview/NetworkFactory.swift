import Foundation
import ModelDevelopment
import ResNet
import Training
import XRayCore

/// The two ways `train` starts a new network: from scratch, or from pretrained weights (e.g.
/// torchvision's ImageNet resnet18, fc re-initialised). A resumed run's network comes from its
/// checkpoint (`TrainingRun.init(resuming:…)`).
enum NetworkFactory {
    static func adam(_ learningRate: Double, _ weightDecay: Double) -> Adam.Configuration {
        Adam.Configuration(learningRate: Float(learningRate), weightDecay: Float(weightDecay))
    }

    static func fromScratch(classes: Int, seed: UInt64, learningRate: Double, weightDecay: Double, threads: Int) -> TrainableNetwork {
        ResNet18Training(classes: classes, seed: seed, optimizer: adam(learningRate, weightDecay), threads: threads)
    }

    static func fineTune(from weights: [String: Tensor], classes: Int, seed: UInt64, learningRate: Double, weightDecay: Double,
                         threads: Int, log: (String) -> Void) throws -> TrainableNetwork {
        do {
            return try ResNet18Training(pretrained: weights, classes: classes, seed: seed, optimizer: adam(learningRate, weightDecay),
                                        threads: threads, log: log)
        } catch {
            throw CommandFailure(message: "--init weights: \(error.description)")
        }
    }
}
