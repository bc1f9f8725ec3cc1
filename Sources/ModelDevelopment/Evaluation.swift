import Audit
import Foundation
import Pipeline
import ResNet
import Training
import XRayCore

/// A model's predictions on labelled scans, with each scan's relation to the training data, so
/// metrics can be reported with and without the scans that leak training images.
public struct Evaluation: Sendable {
    public struct Item: Sendable {
        public let entry: DatasetIndex.Entry
        public let logits: [Float]
        /// Calibrated: softmax(logits / temperature).
        public let probabilities: [Double]
        /// Why this scan is a copy of a training scan ("identical file: train/covid/x.jpg" or
        /// "near copy (r = 0.997): …"), or nil.
        public var copyOf: String?
    }

    public let classNames: [String]
    public let temperature: Double
    public private(set) var items: [Item]

    public init(classifier: Classifier, scans: LabelledScans) {
        let config = classifier.model.configuration
        classNames = config.classNames
        temperature = config.temperature ?? 1
        let logits = classifier.logits(for: scans.images)
        let t = temperature
        items = zip(scans.entries, logits).map { e, l in
            Item(entry: e, logits: l, probabilities: TemperatureScaling.probabilities(l, temperature: t), copyOf: nil)
        }
    }

    /// Marks scans that are identical (SHA-256) or near copies (rank thumbnails ≥ 0.98) of a training scan.
    public mutating func markCopies(of training: LabelledScans, evaluated: LabelledScans, trainingRoot: URL? = nil) {
        precondition(evaluated.count == items.count)
        func name(_ e: DatasetIndex.Entry) -> String {
            guard let root = trainingRoot?.standardizedFileURL.path, e.path.hasPrefix(root + "/") else { return e.path }
            return String(e.path.dropFirst(root.count + 1))
        }
        var trainHashes: [String: DatasetIndex.Entry] = [:]
        for e in training.entries {
            if let h = try? ContentHash.sha256(of: URL(fileURLWithPath: e.path)) { trainHashes[h] = e }
        }
        let near = NearDuplicates.matches(queries: evaluated.thumbnails, references: training.thumbnails)
        for i in items.indices {
            if let h = try? ContentHash.sha256(of: URL(fileURLWithPath: items[i].entry.path)), let t = trainHashes[h] {
                items[i].copyOf = "identical file: \(name(t))"
            } else if let m = near[i] {
                items[i].copyOf = "near copy (r = \(String(format: "%.3f", m.correlation))): \(name(training.entries[m.reference]))"
            }
        }
    }

    /// Metrics over the items `include` keeps; nil when it keeps none.
    public func metrics(_ include: (Item) -> Bool = { _ in true }) -> EvaluationMetrics? {
        let kept = items.filter(include)
        guard !kept.isEmpty else { return nil }
        return EvaluationMetrics(
            labels: kept.map { classNames.firstIndex(of: $0.entry.label)! },
            probabilities: kept.map(\.probabilities), classNames: classNames)
    }

    /// Metrics by source, age group and (age group × source) cell of the items `include` keeps; nil
    /// when it keeps none.
    public func groups(minGroupSize: Int, _ include: (Item) -> Bool = { _ in true }) -> GroupBreakdown? {
        let kept = items.filter(include)
        guard !kept.isEmpty else { return nil }
        return GroupBreakdown(
            labels: kept.map { classNames.firstIndex(of: $0.entry.label)! }, probabilities: kept.map(\.probabilities),
            sources: kept.map(\.entry.source), ageGroups: kept.map(\.entry.ageGroup), classNames: classNames,
            minGroupSize: minGroupSize)
    }

    /// Temperatures a fit on a reasonable validation split gives; outside them the fit went wrong
    /// (a tiny run's handful of validation scans gave T = 59.991).
    public static let plausibleTemperatures: ClosedRange<Double> = 0.05...10

    /// What is wrong with a model's temperature (absent means 1), or nil when it is plausible.
    public static func temperatureWarning(_ temperature: Double?, classCount: Int) -> String? {
        let t = temperature ?? 1
        guard !plausibleTemperatures.contains(t) else { return nil }
        let effect = t > 1
            ? "it flattens every probability towards 1/\(classCount), so the confidences and the calibration figures mean little"
            : "it pushes every probability to 0 or 1, so the confidences and the calibration figures mean little"
        return "the model's fitted temperature T = \(String(format: "%.3f", t)) is outside "
            + "\(String(format: "%g", plausibleTemperatures.lowerBound))–\(String(format: "%g", plausibleTemperatures.upperBound)): \(effect) (the predicted classes are unchanged). "
            + "Such a fit comes from a tiny or one-sided validation split; retrain with more validation scans (--validation-fraction)."
    }

    /// The evaluated scans whose bytes are those of a training scan (SHA-256), each with the first
    /// such training scan. Reads every file once; near copies need `markCopies`.
    public static func identicalCopies(_ evaluated: [DatasetIndex.Entry], of training: [DatasetIndex.Entry])
        -> [(evaluated: DatasetIndex.Entry, training: DatasetIndex.Entry)]
    {
        var trainHashes: [String: DatasetIndex.Entry] = [:]
        for e in training {
            if let h = try? ContentHash.sha256(of: URL(fileURLWithPath: e.path)), trainHashes[h] == nil { trainHashes[h] = e }
        }
        return evaluated.compactMap { e in
            guard let h = try? ContentHash.sha256(of: URL(fileURLWithPath: e.path)), let t = trainHashes[h] else { return nil }
            return (e, t)
        }
    }

    public var copies: [Item] { items.filter { $0.copyOf != nil } }
    public var sources: [String] { Array(Set(items.compactMap(\.entry.source))).sorted() }
}
