import Foundation
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

    public var copies: [Item] { items.filter { $0.copyOf != nil } }
    public var sources: [String] { Array(Set(items.compactMap(\.entry.source))).sorted() }
}
