import Foundation
import Pipeline
import ResNet
import Training
import XRayCore

/// Fits the out-of-distribution statistics of a model to labelled in-distribution scans and
/// stores them in the model file's metadata, leaving the weights byte-identical.
public enum OutOfDistributionCalibration {
    public struct Outcome: Sendable {
        public let statistics: OutOfDistributionStatistics
        /// Scans used per class name.
        public let counts: [String: Int]
        /// Out-of-fold scores of the scans used (their fraction above the threshold is about 1 − percentile).
        public let outOfFoldScores: [Double]
        /// Files that could not be decoded, with reasons (left out).
        public let failures: [PipelineError]
    }

    /// Features of `entries` (test-split scans are the caller's to leave out) through `model`,
    /// then `MahalanobisFit.fit`. Entries whose label is not one of the model's classes are skipped.
    /// - Throws: when the features' covariance cannot be inverted (degenerate scans).
    public static func fit(model: ResNet18, entries: [DatasetIndex.Entry], percentile: Double, folds: Int, seed: UInt64,
                           threads: Int, provenance: String,
                           progress: (@Sendable (Int, Int) -> Void)? = nil) throws(MahalanobisFit.Failure) -> Outcome {
        let classes = model.configuration.classNames
        let usable = entries.filter { classes.contains($0.label) }
        let scans = LabelledScans.load(usable, inputSize: model.configuration.inputSize, threads: threads, progress: progress)
        let features = Classifier(model: model, threads: threads).pooledFeatures(for: scans.images)
        let labels = scans.labels(classNames: classes)
        let result = try MahalanobisFit.fit(features: features, labels: labels, classNames: classes, percentile: percentile,
                                        folds: folds, seed: seed, provenance: provenance)
        let counts = Dictionary(grouping: scans.entries, by: \.label).mapValues(\.count)
        return Outcome(statistics: result.statistics, counts: counts, outOfFoldScores: result.outOfFoldScores,
                       failures: scans.failures)
    }

    /// Writes `source` with `statistics` in its metadata to `destination` (which may be `source`):
    /// atomically (a temporary file renamed into place), tensors and their bytes unchanged.
    /// Returns whether the data section of the written file equals the source's, byte for byte.
    @discardableResult
    public static func store(_ statistics: OutOfDistributionStatistics, from source: URL, to destination: URL) throws(ModelError) -> Bool {
        let original: Data
        do { original = try Data(contentsOf: source) } catch {
            throw .unreadable(path: source.path, reason: error.localizedDescription)
        }
        let updated = try SafeTensors.replacingMetadata(in: original, path: source.path) {
            $0[OutOfDistributionStatistics.metadataKey] = statistics.jsonString()
        }
        do { try updated.write(to: destination, options: .atomic) } catch {
            throw .unwritable(path: destination.path, reason: error.localizedDescription)
        }
        let written: Data
        do { written = try Data(contentsOf: destination) } catch {
            throw .unreadable(path: destination.path, reason: error.localizedDescription)
        }
        return dataSection(written) == dataSection(original)
    }

    /// The tensor bytes after a safetensors header.
    static func dataSection(_ d: Data) -> Data {
        let n = d.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        return d.subdata(in: (8 + n)..<d.count)
    }
}
