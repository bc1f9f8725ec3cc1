import XRayCore

/// What the training loop needs from a network being trained: one optimiser step on a batch,
/// its parameters in torchvision names (to build the inference model, and to save), and its
/// optimiser state (to resume).
public protocol TrainableNetwork: AnyObject {
    /// Forward in training mode, backward, one optimiser step. Returns the mean loss of the batch.
    func trainStep(input: Tensor, labels: [Int], classWeights: [Float]?) -> Float
    /// Every parameter and BatchNorm buffer in torchvision names.
    func exportParameters() -> [String: Tensor]
    /// Optimiser state (moments, step count) as named tensors.
    func optimizerState() -> [String: Tensor]
    func restoreOptimizerState(_ state: [String: Tensor]) throws
}
