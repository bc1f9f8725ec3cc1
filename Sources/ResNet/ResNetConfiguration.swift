import Foundation

/// What a set of ResNet18 weights classifies and how its input must be prepared. Stored as JSON in
/// the weights file's safetensors metadata under `"cxreview.config"`.
///
/// Decoding ignores keys it does not know and treats every optional field as possibly absent, so
/// files written by newer versions (with more fields) still load.
public struct ResNetConfiguration: Codable, Sendable, Equatable {
    /// Class names in logit order, e.g. ["normal", "viral", "covid"].
    public var classNames: [String]
    /// Side of the square network input in pixels (224 for torchvision's ImageNet weights).
    public var inputSize: Int
    /// Per-channel (RGB) normalisation mean, applied as (x − mean) / std to [0, 1] pixels.
    public var mean: [Float]
    /// Per-channel (RGB) normalisation standard deviation.
    public var std: [Float]
    public var name: String?
    public var version: String?
    public var description: String?
    /// True once the weights have been trained for `classNames` (false or absent: e.g. random head).
    public var trained: Bool?
    /// Softmax temperature fitted on held-out data (temperature scaling); reported probabilities
    /// are softmax(logits / temperature). Absent means 1 (uncalibrated).
    public var temperature: Double?
    /// Per age group ("child", "adult"), the classes the model was trained on in it (`cxreview train`
    /// writes it); absent when unknown. A prediction of a class the scan's age group never trained on
    /// carries a warning (`ScanWarning`).
    public var trainedClasses: [String: [String]]?

    public static let metadataKey = "cxreview.config"
    public static let imageNetMean: [Float] = [0.485, 0.456, 0.406]
    public static let imageNetStd: [Float] = [0.229, 0.224, 0.225]
    /// This project's classes in its logit order: what a 3-output head without a configuration is taken to be.
    public static let projectClassNames = ["normal", "viral", "covid"]

    public init(classNames: [String], inputSize: Int = 224, mean: [Float] = imageNetMean, std: [Float] = imageNetStd,
                name: String? = nil, version: String? = nil, description: String? = nil, trained: Bool? = nil,
                temperature: Double? = nil) {
        self.classNames = classNames
        self.inputSize = inputSize
        self.mean = mean
        self.std = std
        self.name = name
        self.version = version
        self.description = description
        self.trained = trained
        self.temperature = temperature
    }

    /// Checks the fields the network relies on.
    public func validate() throws(ModelError) {
        if classNames.isEmpty { throw .invalidConfiguration(reason: "classNames is empty; list one name per output class") }
        if Set(classNames).count != classNames.count { throw .invalidConfiguration(reason: "classNames \(classNames) contains duplicates") }
        if inputSize < 32 { throw .invalidConfiguration(reason: "inputSize \(inputSize) is below 32, the smallest input ResNet18 downsamples to 1×1") }
        if let t = temperature, !(t > 0 && t.isFinite) {
            throw .invalidConfiguration(reason: "temperature must be a positive number, got \(t)")
        }
        if mean.count != 3 || std.count != 3 { throw .invalidConfiguration(reason: "mean and std need 3 values (R, G, B), got \(mean.count) and \(std.count)") }
        if !std.allSatisfy({ $0 > 0 && $0.isFinite }) || !mean.allSatisfy(\.isFinite) {
            throw .invalidConfiguration(reason: "std must be positive and finite and mean finite, got mean \(mean) std \(std)")
        }
    }

    /// Decodes the JSON stored in the metadata.
    public static func decode(json: String) throws(ModelError) -> ResNetConfiguration {
        do {
            return try JSONDecoder().decode(ResNetConfiguration.self, from: Data(json.utf8))
        } catch {
            throw .invalidConfiguration(reason: "\(metadataKey) is not valid configuration JSON (\(error))")
        }
    }

    /// Compact JSON with sorted keys, for the metadata.
    public func jsonString() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Encoding plain strings, numbers and booleans cannot fail.
        return String(decoding: (try? encoder.encode(self)) ?? Data("{}".utf8), as: UTF8.self)
    }
}
