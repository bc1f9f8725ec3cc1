import ResNet
import XRayCore

/// What the training loop needs from a network being trained: one optimiser step on a batch,
/// its parameters in torchvision names (to build the inference model, and to save), and its
/// optimiser state (to resume).
public protocol TrainableNetwork: AnyObject {
    /// Forward in training mode, backward, one optimiser step. Returns the mean loss of the batch
    /// (before the update) and the batch's logits.
    func trainStep(input: Tensor, labels: [Int], classWeights: [Float]?) -> (loss: Float, logits: Tensor)
    /// Every parameter and BatchNorm buffer in torchvision names.
    func exportParameters() -> [String: Tensor]
    /// Optimiser state (moments, step count) as named tensors.
    func optimizerState() -> [String: Tensor]
    func restoreOptimizerState(_ state: [String: Tensor]) throws
    /// The optimiser's learning rate, for schedules.
    var learningRate: Double { get set }
}

extension ResNet18Training: TrainableNetwork {
    public func optimizerState() -> [String: Tensor] { optimizer.state() }

    public func restoreOptimizerState(_ state: [String: Tensor]) throws {
        try optimizer.restore(state)
    }

    public var learningRate: Double {
        get { Double(optimizer.configuration.learningRate) }
        set { optimizer.configuration.learningRate = Float(newValue) }
    }
}
