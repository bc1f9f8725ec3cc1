import Foundation
import XRayCore

/// What a model needs to say "this scan does not look like the training data": the
/// Mahalanobis detector of Lee et al. (2018) on the global-average-pooled layer4 features.
///
/// Class-conditional Gaussians with one shared covariance are fitted to the training scans'
/// features; a scan's score is its smallest squared Mahalanobis distance to a class mean,
/// min_c (f − μ_c)ᵀ Σ⁻¹ (f − μ_c). A score above `threshold` (a high percentile of the scores
/// of in-distribution scans the statistics were not fitted on) flags the scan.
///
/// Stored in the model file's safetensors metadata under `cxreview.ood` (JSON; the arrays as
/// base64 little-endian float32), not as tensors, so loaders that refuse unknown tensors still
/// read the file. Fitted by `cxreview calibrate-ood` (`MahalanobisFit` in Training).
public struct OutOfDistributionStatistics: Sendable, Equatable {
    public static let metadataKey = "cxreview.ood"

    /// The feature the statistics describe; only this one exists today.
    public static let feature = "layer4.avgpool"

    /// The model's class names, in the order of `means`.
    public var classNames: [String]
    /// Feature dimension (512 for ResNet18).
    public var dimension: Int
    /// Class means, [classes × dimension], row-major.
    public var means: [Float]
    /// Inverse of the shared, shrunk covariance, [dimension × dimension], symmetric.
    public var precision: [Float]
    /// Scores above this are flagged.
    public var threshold: Double
    /// The percentile of in-distribution scores `threshold` was set at (e.g. 99).
    public var percentile: Double
    /// Ledoit–Wolf shrinkage towards a scaled identity used for the covariance (0…1).
    public var shrinkage: Double
    /// Scans the final statistics were fitted on.
    public var sampleCount: Int
    /// Free text: data, folds, date; shown by `calibrate-ood`.
    public var provenance: String

    public init(classNames: [String], dimension: Int, means: [Float], precision: [Float], threshold: Double,
                percentile: Double, shrinkage: Double, sampleCount: Int, provenance: String) {
        precondition(means.count == classNames.count * dimension && precision.count == dimension * dimension,
                     "means \(means.count) / precision \(precision.count) do not fit \(classNames.count) classes × \(dimension)")
        self.classNames = classNames
        self.dimension = dimension
        self.means = means
        self.precision = precision
        self.threshold = threshold
        self.percentile = percentile
        self.shrinkage = shrinkage
        self.sampleCount = sampleCount
        self.provenance = provenance
    }

    /// min over classes of (f − μ_c)ᵀ P (f − μ_c), in Float64; `feature` has `dimension` values.
    public func score(_ feature: [Float]) -> Double {
        precondition(feature.count == dimension, "feature has \(feature.count) values, the statistics \(dimension)")
        let d = dimension
        var best = Double.infinity
        var diff = [Double](repeating: 0, count: d)
        for c in 0..<classNames.count {
            for j in 0..<d { diff[j] = Double(feature[j]) - Double(means[c * d + j]) }
            var total = 0.0
            precision.withUnsafeBufferPointer { p in
                for i in 0..<d {
                    var row = 0.0
                    let base = i * d
                    for j in 0..<d { row += Double(p[base + j]) * diff[j] }
                    total += diff[i] * row
                }
            }
            best = min(best, total)
        }
        return best
    }

    /// Whether `score` is above the threshold.
    public func isOutOfDistribution(score: Double) -> Bool { !(score <= threshold) }

    // MARK: Metadata

    private struct Stored: Codable {
        var version: Int
        var feature: String
        var method: String
        var classNames: [String]
        var dimension: Int
        var means: String
        var precision: String
        var threshold: Double
        var percentile: Double
        var shrinkage: Double
        var sampleCount: Int
        var provenance: String
    }

    /// The metadata value: compact JSON, arrays as base64 little-endian float32.
    public func jsonString() -> String {
        let stored = Stored(
            version: 1, feature: Self.feature, method: "Mahalanobis, class means, shared Ledoit-Wolf covariance (Lee et al. 2018)",
            classNames: classNames, dimension: dimension, means: Self.base64(means), precision: Self.base64(precision),
            threshold: threshold, percentile: percentile, shrinkage: shrinkage, sampleCount: sampleCount, provenance: provenance)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try! encoder.encode(stored), as: UTF8.self)
    }

    /// Reads the metadata value, checking that it fits `classNames` and its own dimension.
    /// - Throws: `ModelError.invalidConfiguration` saying what is wrong and how to refit.
    public static func decode(json: String, classNames expected: [String]) throws(ModelError) -> OutOfDistributionStatistics {
        func bad(_ why: String) -> ModelError {
            .invalidConfiguration(reason: "\(metadataKey) in the model's metadata is unusable: \(why); refit it with `cxreview calibrate-ood DATA... --model MODEL`, or remove the key")
        }
        let stored: Stored
        do { stored = try JSONDecoder().decode(Stored.self, from: Data(json.utf8)) } catch { throw bad("not valid JSON (\(error))") }
        guard stored.version == 1, stored.feature == feature else {
            throw bad("version \(stored.version) of feature \(stored.feature) is not known to this cxreview (version 1 of \(feature) is)")
        }
        guard stored.classNames == expected else { throw bad("classes \(stored.classNames) differ from the model's \(expected)") }
        let d = stored.dimension
        guard d > 0, d <= 4096, let means = floats(stored.means), let precision = floats(stored.precision),
              means.count == expected.count * d, precision.count == d * d else {
            throw bad("the arrays do not hold \(expected.count)×\(d) means and a \(d)×\(d) precision matrix")
        }
        guard means.allSatisfy(\.isFinite), precision.allSatisfy(\.isFinite), stored.threshold.isFinite else {
            throw bad("it holds NaN or infinity")
        }
        return OutOfDistributionStatistics(
            classNames: stored.classNames, dimension: d, means: means, precision: precision, threshold: stored.threshold,
            percentile: stored.percentile, shrinkage: stored.shrinkage, sampleCount: stored.sampleCount, provenance: stored.provenance)
    }

    /// The class names a metadata value was fitted for, without checking the rest; nil when unreadable.
    public static func classNames(json: String) -> [String]? {
        struct Names: Decodable { let classNames: [String] }
        return try? JSONDecoder().decode(Names.self, from: Data(json.utf8)).classNames
    }

    private static func base64(_ values: [Float]) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes += $0 } }
        return Data(bytes).base64EncodedString()
    }

    private static func floats(_ text: String) -> [Float]? {
        guard let data = Data(base64Encoded: text), data.count % 4 == 0 else { return nil }
        return data.withUnsafeBytes { raw in
            (0..<(data.count / 4)).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }
}

extension ResNetOutput {
    /// The global-average-pooled layer4 features of image `row`: [512], what fc sees.
    public func pooledFeatures(row: Int) -> [Float] {
        let (k, plane) = (features.shape[1], features.shape[2] * features.shape[3])
        precondition(row >= 0 && row < features.shape[0], "row \(row) out of range for \(features.shape)")
        let base = row * k * plane
        return (0..<k).map { c in
            var sum: Float = 0
            for p in 0..<plane { sum += features.scalars[base + c * plane + p] }
            return sum / Float(plane)
        }
    }
}
