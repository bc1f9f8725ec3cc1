import CAM
import ResNet
import XRayCore

/// Which saliency map explains a classification: computed by `Classifier` from the network's own
/// activations, drawn by `ReportWriter`.
public enum Saliency: String, Sendable, CaseIterable {
    /// Class activation map from layer4 (7×7 for 224 input) and the fc weights; no backward pass.
    case layer4
    /// Grad-CAM at layer3 (14×14): finer, one backward pass through layer4 per scan.
    case layer3

    /// How a report names the method, with the map's size, e.g. "Grad-CAM at layer3, 14 × 14".
    public func caption(width: Int, height: Int) -> String {
        switch self {
        case .layer4: return "CAM at layer4, \(width) × \(height)"
        case .layer3: return "Grad-CAM at layer3, \(width) × \(height)"
        }
    }

    /// How the audit log names the method, e.g. "class activation map (layer4, 7x7)".
    public var auditName: String {
        switch self {
        case .layer4: return "class activation map (layer4, 7x7)"
        case .layer3: return "Grad-CAM (layer3, 14x14)"
        }
    }

    /// The map of class `classIndex` (the predicted one) for image `row` of a batch: from the batch's
    /// layer4 features (`layer4`), or by a single-image pass with a backward pass through layer4 from
    /// `input`, the image's preprocessed tensor [1, 3, size, size] (`layer3`).
    func map(network: ResNet18, output: ResNetOutput, row: Int, input: Tensor, classIndex: Int) -> ActivationMap {
        let className = network.configuration.classNames[classIndex]
        switch self {
        case .layer4:
            return ClassActivationMap.compute(features: output.features, image: row, fcWeight: network.fcWeight,
                                              classIndex: classIndex, className: className)
        case .layer3:
            let g = network.layer3Gradient(input, classIndex: classIndex)
            return ClassActivationMap.gradCAM(activations: g.activations, gradient: g.gradient, image: 0,
                                              classIndex: classIndex, className: className)
        }
    }
}
