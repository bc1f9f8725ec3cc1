public import CAM
public import Foundation

/// What CXReview found for one DICOM scan, as its DICOM results record it.
public struct DICOMResult: Sendable {
    /// One class's calibrated probability (0...1).
    public struct Probability: Sendable, Equatable {
        public let className: String
        public let probability: Double

        public init(className: String, probability: Double) {
            self.className = className
            self.probability = probability
        }
    }

    public var predictedClass: String
    /// Every class of the model, in its order.
    public var probabilities: [Probability]
    public var modelName: String
    public var modelVersion: String?
    public var modelSHA256: String
    public var softwareVersion: String
    public var outOfDistribution: Bool
    /// The PDF report's bytes (the Encapsulated PDF's document).
    public var reportPDF: Data
    /// The scan as the report shows it, with the saliency overlay where the report has one (RGB, any size).
    public var overlay: RGBImage
    /// When the results were made (their Content Date/Time, UTC).
    public var createdAt: Date

    public init(predictedClass: String, probabilities: [Probability], modelName: String, modelVersion: String?,
                modelSHA256: String, softwareVersion: String, outOfDistribution: Bool, reportPDF: Data,
                overlay: RGBImage, createdAt: Date = Date()) {
        self.predictedClass = predictedClass
        self.probabilities = probabilities
        self.modelName = modelName
        self.modelVersion = modelVersion
        self.modelSHA256 = modelSHA256
        self.softwareVersion = softwareVersion
        self.outOfDistribution = outOfDistribution
        self.reportPDF = reportPDF
        self.overlay = overlay
        self.createdAt = createdAt
    }
}
