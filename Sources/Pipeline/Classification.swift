import Reporting
import XRayCore

/// The outcome for one classified file: what a terminal, a script or a report needs.
///
/// It carries UIDs and technical header fields but no patient name, ID or birth date, so it can
/// be printed or logged; a report that shows the patient reads them from the `DecodedScan`.
public struct Classification: Sendable, Codable {
    public struct ClassProbability: Sendable, Codable, Equatable {
        public let className: String
        public let probability: Double
    }

    /// Header fields safe to print: identifiers and acquisition facts, nothing about the patient.
    public struct Study: Sendable, Codable, Equatable {
        public var studyInstanceUID: String?
        public var seriesInstanceUID: String?
        public var sopInstanceUID: String?
        public var modality: String?
        public var bodyPartExamined: String?
        public var viewPosition: String?
        public var rows: Int?
        public var columns: Int?
        public var transferSyntaxUID: String?
        public var photometricInterpretation: String?
        public var bitsStored: Int?

        public init(_ m: ScanMetadata) {
            studyInstanceUID = m.studyInstanceUID
            seriesInstanceUID = m.seriesInstanceUID
            sopInstanceUID = m.sopInstanceUID
            modality = m.modality
            bodyPartExamined = m.bodyPartExamined
            viewPosition = m.viewPosition
            rows = m.rows
            columns = m.columns
            transferSyntaxUID = m.transferSyntaxUID
            photometricInterpretation = m.photometricInterpretation
            bitsStored = m.bitsStored
        }
    }

    /// Milliseconds spent on this file in each stage; `forward` is the file's share of its batch.
    public struct Timing: Sendable, Codable, Equatable {
        public var decodeMs: Double
        public var preprocessMs: Double
        public var forwardMs: Double
        public var totalMs: Double { decodeMs + preprocessMs + forwardMs }
    }

    /// Whether the scan looks like the training data (`OutOfDistributionStatistics` of the model).
    public struct OutOfDistributionCheck: Sendable, Codable, Equatable {
        /// False when the model carries no statistics: nothing was checked, and nothing is flagged.
        public var checked: Bool
        /// Smallest squared Mahalanobis distance of the pooled layer4 features to a class mean.
        public var score: Double?
        public var threshold: Double?
        /// The percentile of in-distribution scores the threshold sits at.
        public var percentile: Double?
        /// score > threshold: the scan does not look like the training data.
        public var flagged: Bool
        public var note: String?

        public static let notAvailable = OutOfDistributionCheck(
            checked: false, flagged: false,
            note: "the model has no out-of-distribution statistics (cxreview.ood); fit them with `cxreview calibrate-ood DATA... --model MODEL`")
    }

    public let file: String
    public let predictedClass: String
    /// In the model's class order.
    public let probabilities: [ClassProbability]
    public let logits: [Float]
    public let decoding: DecodingNotes
    public let decodingSummary: String
    public let study: Study
    public let timing: Timing
    public let outOfDistribution: OutOfDistributionCheck
    /// What a reader must know before trusting the class, in the report's order: out of scope,
    /// out of distribution, not frontal, low confidence (`ScanWarning.assess`). In `--json` each is
    /// `{"code": "out_of_scope", "message": "…"}`; an out-of-scope or out-of-distribution scan's
    /// class is no finding.
    public let warnings: [ScanWarning]

    public var confidence: Double { probabilities.map(\.probability).max() ?? 0 }

    /// True when a warning makes the class no answer (out of scope or out of distribution).
    public var isSetAside: Bool { warnings.contains(where: \.setsAside) }
}

extension Classification.OutOfDistributionCheck {
    /// The warning for a flagged scan in `template`'s language; nil if not flagged.
    public func warning(_ template: ReportTemplate) -> String? {
        guard flagged, let score, let threshold else { return nil }
        return template.labels[.outOfDistribution]
            .replacingOccurrences(of: "{score}", with: String(format: "%.1f", locale: nil, score))
            .replacingOccurrences(of: "{threshold}", with: String(format: "%.1f", locale: nil, threshold))
            .replacingOccurrences(of: "{percentile}", with: String(format: "%g", locale: nil, percentile ?? 99))
    }
}
