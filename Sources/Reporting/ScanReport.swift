public import CAM
public import Foundation
public import XRayCore

/// Everything one per-scan report shows, as plain values: the caller (the pipeline) fills it in;
/// `ReportRenderer` only lays it out. Hashes arrive as hex strings, computed by the caller.
public struct ScanReport: Sendable {
    /// One class and its calibrated probability, in the model's class order.
    public struct ClassProbability: Sendable, Equatable {
        /// The model's class name (template labels may give it a display name).
        public var className: String
        public var probability: Double

        public init(className: String, probability: Double) {
            self.className = className
            self.probability = probability
        }
    }

    /// The model that classified the scan.
    public struct Model: Sendable, Equatable {
        public var name: String
        public var version: String?
        /// SHA-256 of the weights file, hex.
        public var sha256: String
        /// Softmax temperature of the calibration, if any (shown beside the version).
        public var temperature: Double?

        public init(name: String, version: String? = nil, sha256: String, temperature: Double? = nil) {
            self.name = name
            self.version = version
            self.sha256 = sha256
            self.temperature = temperature
        }
    }

    /// The input file's name as shown (no folders needed).
    public var fileName: String
    /// Header fields; for PNG/JPEG only the image size is set.
    public var metadata: ScanMetadata
    /// How the file became the grey image; `format` decides whether the report has a DICOM header block.
    public var decoding: DecodingNotes
    public var predictedClass: String
    public var probabilities: [ClassProbability]
    /// The displayed (windowed) grey scan.
    public var scan: GrayImage
    /// The scan's size as decoded, when `scan` is a reduced copy (the caption shows this size).
    public var originalSize: (width: Int, height: Int)?
    /// The saliency overlay at the scan's size (`Overlay.blend`); nil hides the overlay.
    public var overlay: RGBImage?
    /// The class the overlay explains (usually the predicted one).
    public var overlayClass: String?
    /// How the map was made, e.g. "Grad-CAM at layer3, 14 × 14"; shown under the overlay.
    public var saliencyMethod: String?
    /// True when the activation map was empty (`ActivationMap.isEmpty`): the report says so.
    public var saliencyIsEmpty: Bool
    /// Warnings the caller found, e.g. out of distribution; shown after the report's own.
    public var warnings: [String]
    /// The scan failed the out-of-distribution check: a short note goes under the predicted class
    /// (the full text is one of `warnings`).
    public var outOfDistribution = false
    public var model: Model
    /// SHA-256 of the input file, hex.
    public var inputSHA256: String
    /// e.g. "cxreview 0.4.0 (git abc1234)".
    public var softwareVersion: String
    public var classifiedAt: Date
    public var createdAt: Date
    public var reportID: UUID

    public init(
        fileName: String, metadata: ScanMetadata, decoding: DecodingNotes, predictedClass: String,
        probabilities: [ClassProbability], scan: GrayImage, overlay: RGBImage? = nil, overlayClass: String? = nil,
        saliencyMethod: String? = nil, saliencyIsEmpty: Bool = false, warnings: [String] = [], model: Model, inputSHA256: String,
        softwareVersion: String, classifiedAt: Date, createdAt: Date = Date(), reportID: UUID = UUID()
    ) {
        self.fileName = fileName
        self.metadata = metadata
        self.decoding = decoding
        self.predictedClass = predictedClass
        self.probabilities = probabilities
        self.scan = scan
        self.overlay = overlay
        self.overlayClass = overlayClass
        self.saliencyMethod = saliencyMethod
        self.saliencyIsEmpty = saliencyIsEmpty
        self.warnings = warnings
        self.model = model
        self.inputSHA256 = inputSHA256
        self.softwareVersion = softwareVersion
        self.classifiedAt = classifiedAt
        self.createdAt = createdAt
        self.reportID = reportID
    }

    /// A probability as the report prints it: three decimals, "." as separator, no locale
    /// (0.8734 → "0.873", 1 → "1.000"). A CLI printing the same values should use this.
    public static func probabilityText(_ p: Double) -> String {
        NumberText.fixed(p, digits: 3)
    }

    /// A time as the report prints it: ISO 8601 in UTC, to the second ("2025-03-14T09:26:53Z").
    public static func timestampText(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }

    /// The warnings the report shows, in order: low confidence (top probability below the
    /// template's threshold), not a frontal chest view (BodyPartExamined present and not CHEST, or
    /// ViewPosition LL, RL or LATERAL), then the caller's `warnings`.
    public func allWarnings(template: ReportTemplate) -> [String] {
        Self.warnings(probabilities: probabilities.map(\.probability), metadata: metadata, extra: warnings, template: template)
    }

    /// The warnings of `allWarnings` from plain values, so the batch summary flags the same ones.
    public static func warnings(probabilities: [Double], metadata: ScanMetadata?, extra: [String],
                                template: ReportTemplate) -> [String] {
        let labels = template.labels
        var out: [String] = []
        let top = probabilities.max() ?? 0
        if top < template.lowConfidenceThreshold {
            out.append(labels[.lowConfidence]
                .replacingOccurrences(of: "{probability}", with: Self.probabilityText(top))
                .replacingOccurrences(of: "{threshold}", with: Self.probabilityText(template.lowConfidenceThreshold)))
        }
        var details: [String] = []
        if let part = metadata?.bodyPartExamined?.trimmingCharacters(in: .whitespaces), !part.isEmpty,
           part.uppercased() != "CHEST" {
            details.append("BodyPartExamined \(part)")
        }
        if let view = metadata?.viewPosition?.trimmingCharacters(in: .whitespaces).uppercased(),
           ["LL", "RL", "LATERAL"].contains(view) {
            details.append("ViewPosition \(view)")
        }
        if !details.isEmpty {
            out.append(labels[.notFrontal].replacingOccurrences(of: "{detail}", with: details.joined(separator: ", ")))
        }
        return out + extra
    }
}
