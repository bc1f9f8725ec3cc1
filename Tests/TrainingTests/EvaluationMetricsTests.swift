import Foundation
import Testing
import ResNet
@testable import Training

/// Metrics and temperature scaling against scikit-learn, torchmetrics and PyTorch
/// (Tests/Fixtures/make_training_fixtures.py).
@Suite struct EvaluationMetricsTests {
    struct Reference: Decodable {
        struct ROC: Decodable { let fpr: [Double]; let tpr: [Double]; let auc: Double }
        struct Temperature: Decodable { let logits: [[Float]]; let labels: [Int]; let fitted: Double; let nll: [String: Double] }
        let labels: [Int]
        let probabilities: [[Double]]
        let confusion: [[Int]]
        let precision: [Double]
        let recall: [Double]
        let f1: [Double]
        let specificity: [Double]
        let accuracy: Double
        let log_loss: Double
        let roc: [ROC]
        let ece: Double
        let ece_probabilities: [[Double]]
        let temperature: Temperature
    }

    static let reference: Reference = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/training/metrics.json")
        return try! JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }()

    static let metrics = EvaluationMetrics(labels: reference.labels, probabilities: reference.probabilities,
                                           classNames: ["normal", "viral", "covid"])

    @Test func confusionAccuracyAndPerClassRatesMatchScikitLearn() {
        let r = Self.reference, m = Self.metrics
        #expect(m.confusion == r.confusion)
        #expect(abs(m.accuracy - r.accuracy) < 1e-12)
        for c in 0..<3 {
            #expect(abs(m.perClass[c].precision - r.precision[c]) < 1e-12)
            #expect(abs(m.perClass[c].sensitivity - r.recall[c]) < 1e-12)
            #expect(abs(m.perClass[c].f1 - r.f1[c]) < 1e-12)
            #expect(abs(m.perClass[c].specificity - r.specificity[c]) < 1e-12)
        }
        // Log loss in double precision; scikit-learn clips at machine epsilon, we at 1e-15.
        #expect(abs(m.logLoss - r.log_loss) < 1e-9)
    }

    @Test func rocCurvesWithTiesAndAUCMatchScikitLearn() {
        let r = Self.reference
        for c in 0..<3 {
            let curve = EvaluationMetrics.rocCurve(scores: r.probabilities.map { $0[c] }, positives: r.labels.map { $0 == c })
            #expect(curve.map(\.fpr) == r.roc[c].fpr, "class \(c) fpr")
            #expect(curve.map(\.tpr) == r.roc[c].tpr, "class \(c) tpr")
            #expect(abs(Self.metrics.perClass[c].auc! - r.roc[c].auc) < 1e-12)
        }
    }

    @Test func expectedCalibrationErrorMatchesTorchmetrics() {
        // Unrounded probabilities, so no confidence sits on a bin edge where conventions differ.
        let r = Self.reference
        let m = EvaluationMetrics(labels: r.labels, probabilities: r.ece_probabilities, classNames: ["normal", "viral", "covid"])
        // torchmetrics accumulates the bins in float32 (measured difference 4e-8): tolerance 1e-6.
        #expect(abs(m.expectedCalibrationError - r.ece) < 1e-6)
        #expect(m.reliability.map(\.count).reduce(0, +) == r.labels.count)
    }

    @Test func aClassThatNeverOccursHasNoAUC() {
        let m = EvaluationMetrics(labels: [0, 0, 1], probabilities: [[0.9, 0.05, 0.05], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1]],
                                  classNames: ["a", "b", "c"])
        #expect(m.perClass[2].auc == nil)
        #expect(m.macroAUC == nil)
        #expect(m.perClass[2].support == 0)
        #expect(m.accuracy == 1)
    }

    @Test func temperatureMatchesPyTorchLBFGSAndLowersTheNLL() {
        let t = Self.reference.temperature
        for (tv, nll) in t.nll {
            let ours = TemperatureScaling.negativeLogLikelihood(logits: t.logits, labels: t.labels, temperature: Double(tv)!)
            #expect(abs(ours - nll) < 1e-9, "NLL at T=\(tv)")
        }
        let fitted = TemperatureScaling.fit(logits: t.logits, labels: t.labels)
        #expect(abs(fitted - t.fitted) < 1e-4 * t.fitted, "T \(fitted) vs PyTorch \(t.fitted)")
        let before = TemperatureScaling.negativeLogLikelihood(logits: t.logits, labels: t.labels, temperature: 1)
        let after = TemperatureScaling.negativeLogLikelihood(logits: t.logits, labels: t.labels, temperature: fitted)
        #expect(after < before)
    }
}
