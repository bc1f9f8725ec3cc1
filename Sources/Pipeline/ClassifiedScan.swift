import CAM
import XRayCore

/// A scan classified, with everything its report needs, so that writing the report never runs the
/// network: the classification, the decoded scan, and the saliency map of the predicted class.
public struct ClassifiedScan: Sendable {
    public let classification: Classification
    public let scan: DecodedScan
    /// The predicted class's map at the feature resolution (7×7 or 14×14 for a 224 input), raw.
    public let saliency: ActivationMap
    public let saliencyMethod: Saliency
    /// The pooled layer4 features [512] the out-of-distribution check scored.
    public let features: [Float]

    public init(classification: Classification, scan: DecodedScan, saliency: ActivationMap, saliencyMethod: Saliency,
                features: [Float]) {
        self.classification = classification
        self.scan = scan
        self.saliency = saliency
        self.saliencyMethod = saliencyMethod
        self.features = features
    }
}
