import Foundation

/// Classification metrics for one evaluation: accuracy, the confusion matrix, per-class
/// sensitivity, specificity, precision, F1 and one-vs-rest ROC AUC, and calibration (expected
/// calibration error over equal-width confidence bins, and the reliability diagram's bins).
public struct EvaluationMetrics: Sendable, Codable, Equatable {
    public struct PerClass: Sendable, Codable, Equatable {
        public let className: String
        /// Images whose true label is this class.
        public let support: Int
        /// Recall of this class: true positives / support.
        public let sensitivity: Double
        /// True negatives / images of the other classes.
        public let specificity: Double
        /// True positives / images predicted as this class (0 when none were).
        public let precision: Double
        public let f1: Double
        /// One-vs-rest ROC AUC of this class's probability; nil when the class or its complement is absent.
        public let auc: Double?
    }

    public struct ReliabilityBin: Sendable, Codable, Equatable {
        public let lower: Double
        public let upper: Double
        public let count: Int
        public let meanConfidence: Double
        public let accuracy: Double
    }

    public let classNames: [String]
    public let count: Int
    public let accuracy: Double
    /// `confusion[true][predicted]`.
    public let confusion: [[Int]]
    public let perClass: [PerClass]
    public let macroAUC: Double?
    /// Mean negative log-likelihood of the true class (cross-entropy), natural log.
    public let logLoss: Double
    public let expectedCalibrationError: Double
    public let reliability: [ReliabilityBin]

    /// - Parameters:
    ///   - labels: the true class index of each image.
    ///   - probabilities: one row per image, in `classNames` order, each summing to 1.
    ///   - bins: equal-width confidence bins for the calibration error.
    public init(labels: [Int], probabilities: [[Double]], classNames: [String], bins: Int = 10) {
        precondition(labels.count == probabilities.count, "one probability row per label")
        precondition(!labels.isEmpty, "nothing to evaluate")
        precondition(bins > 0)
        let k = classNames.count
        precondition(probabilities.allSatisfy { $0.count == k } && labels.allSatisfy { (0..<k).contains($0) })
        self.classNames = classNames
        count = labels.count
        let predicted = probabilities.map { row in row.indices.max { row[$0] < row[$1] }! }

        var confusion = [[Int]](repeating: [Int](repeating: 0, count: k), count: k)
        for (t, p) in zip(labels, predicted) { confusion[t][p] += 1 }
        self.confusion = confusion
        accuracy = Double(zip(labels, predicted).filter { $0 == $1 }.count) / Double(count)

        perClass = (0..<k).map { c in
            let tp = confusion[c][c]
            let support = confusion[c].reduce(0, +)
            let predictedC = (0..<k).map { confusion[$0][c] }.reduce(0, +)
            let fp = predictedC - tp
            let negatives = labels.count - support
            let tn = negatives - fp
            let sensitivity = support > 0 ? Double(tp) / Double(support) : 0
            let precision = predictedC > 0 ? Double(tp) / Double(predictedC) : 0
            let f1 = precision + sensitivity > 0 ? 2 * precision * sensitivity / (precision + sensitivity) : 0
            let auc = Self.rocAUC(scores: probabilities.map { $0[c] }, positives: labels.map { $0 == c })
            return PerClass(
                className: classNames[c], support: support, sensitivity: sensitivity,
                specificity: negatives > 0 ? Double(tn) / Double(negatives) : 0,
                precision: precision, f1: f1, auc: auc)
        }
        let aucs = perClass.compactMap(\.auc)
        macroAUC = aucs.count == k ? aucs.reduce(0, +) / Double(k) : nil
        logLoss = zip(labels, probabilities).map { -Foundation.log(max($1[$0], 1e-15)) }.reduce(0, +) / Double(count)

        var binCount = [Int](repeating: 0, count: bins)
        var binConfidence = [Double](repeating: 0, count: bins)
        var binCorrect = [Int](repeating: 0, count: bins)
        for (i, row) in probabilities.enumerated() {
            let confidence = row[predicted[i]]
            // Bins are (lower, upper], as torchmetrics' and Guo et al.'s: confidence 1 falls in the last.
            let b = min(bins - 1, max(0, Int((confidence * Double(bins)).rounded(.up)) - 1))
            binCount[b] += 1
            binConfidence[b] += confidence
            if predicted[i] == labels[i] { binCorrect[b] += 1 }
        }
        reliability = (0..<bins).map { b in
            ReliabilityBin(
                lower: Double(b) / Double(bins), upper: Double(b + 1) / Double(bins), count: binCount[b],
                meanConfidence: binCount[b] > 0 ? binConfidence[b] / Double(binCount[b]) : 0,
                accuracy: binCount[b] > 0 ? Double(binCorrect[b]) / Double(binCount[b]) : 0)
        }
        expectedCalibrationError = reliability.reduce(0) { $0 + Double($1.count) / Double(labels.count) * abs($1.accuracy - $1.meanConfidence) }
    }

    /// One-vs-rest ROC curve: (false positive rate, true positive rate) at every distinct
    /// threshold, from (0, 0) to (1, 1); tied scores form one step, as scikit-learn's `roc_curve`.
    public static func rocCurve(scores: [Double], positives: [Bool]) -> [(fpr: Double, tpr: Double)] {
        let p = positives.filter { $0 }.count, n = positives.count - p
        guard p > 0, n > 0 else { return [] }
        let order = scores.indices.sorted { scores[$0] > scores[$1] }
        var points: [(fpr: Double, tpr: Double)] = [(0, 0)]
        var tp = 0, fp = 0, i = 0
        while i < order.count {
            let s = scores[order[i]]
            while i < order.count && scores[order[i]] == s {
                if positives[order[i]] { tp += 1 } else { fp += 1 }
                i += 1
            }
            points.append((Double(fp) / Double(n), Double(tp) / Double(p)))
        }
        return points
    }

    /// Area under the ROC curve by the trapezoid rule (ties count one half); nil without both classes.
    public static func rocAUC(scores: [Double], positives: [Bool]) -> Double? {
        let curve = rocCurve(scores: scores, positives: positives)
        guard curve.count > 1 else { return nil }
        var area = 0.0
        for j in 1..<curve.count {
            area += (curve[j].fpr - curve[j - 1].fpr) * (curve[j].tpr + curve[j - 1].tpr) / 2
        }
        return area
    }

    /// Lines for a terminal or the evaluation figure.
    public func textLines() -> [String] {
        func pct(_ v: Double) -> String { String(format: "%.1f%%", v * 100) }
        func f3(_ v: Double?) -> String { v.map { String(format: "%.3f", $0) } ?? "n/a" }
        var lines = ["accuracy \(pct(accuracy)) (\(zip(0..., confusion).map { $1[$0] }.reduce(0, +))/\(count)), "
            + "macro ROC AUC \(f3(macroAUC)), log loss \(String(format: "%.3f", logLoss)), "
            + "expected calibration error \(String(format: "%.3f", expectedCalibrationError))"]
        for c in perClass {
            lines.append("\(c.className): n=\(c.support), sensitivity \(pct(c.sensitivity)), specificity \(pct(c.specificity)), "
                + "precision \(pct(c.precision)), F1 \(String(format: "%.3f", c.f1)), AUC \(f3(c.auc))")
        }
        return lines
    }
}
