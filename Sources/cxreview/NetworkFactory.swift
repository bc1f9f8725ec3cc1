import Foundation
import ResNet
import Training
import XRayCore

/// The three ways `train` starts a network: from scratch, from pretrained weights (e.g.
/// torchvision's ImageNet resnet18, fc re-initialised), or from a resume checkpoint.
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

    static func resume(parameters: [String: Tensor], classes: Int, learningRate: Double, weightDecay: Double, threads: Int) throws -> TrainableNetwork {
        do {
            return try ResNet18Training(parameters: parameters, classes: classes, optimizer: adam(learningRate, weightDecay), threads: threads)
        } catch {
            throw CommandFailure(message: "the resume checkpoint does not hold a ResNet18: \(error.description)")
        }
    }
}
