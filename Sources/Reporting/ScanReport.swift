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
        /// Per age group, the classes the model was trained on in it; nil when unknown.
        public var trainedClasses: [String: [String]]?

        public init(name: String, version: String? = nil, sha256: String, temperature: Double? = nil,
                    trainedClasses: [String: [String]]? = nil) {
            self.name = name
            self.version = version
            self.sha256 = sha256
            self.temperature = temperature
            self.trainedClasses = trainedClasses
        }
    }

    /// The input as the user knows it: the path given on the command line, or the path inside
    /// the watched inbox (`ward3/bed12/0101.jpeg`), so two scans of one name cannot look alike.
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
    /// The full out-of-distribution warning (score and threshold), when flagged.
    public var outOfDistributionWarning: String?
    /// Said in place of the overlay when the caller left it out on purpose (a normal call).
    public var overlayOmittedNote: String?
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

    /// The warnings the report shows (`ScanWarning.assess`): out of scope, out of distribution,
    /// not frontal, low confidence, then the caller's `warnings`.
    public func assessedWarnings(template: ReportTemplate) -> [ScanWarning] {
        let size = originalSize ?? (scan.width, scan.height)
        return ScanWarning.assess(
            probabilities: probabilities.map(\.probability), metadata: decoding.format == .dicom ? metadata : nil,
            size: size,
            outOfDistribution: outOfDistributionWarning ?? (outOfDistribution ? template.labels[.outOfDistributionShort] : nil),
            predictedClass: predictedClass, trainedClasses: model.trainedClasses, extra: warnings, template: template)
    }

    /// The messages of `assessedWarnings`.
    public func allWarnings(template: ReportTemplate) -> [String] {
        assessedWarnings(template: template).map(\.message)
    }

    /// The study date as shown: StudyDate, else SeriesDate or AcquisitionDate with the one used
    /// named ("2020-01-25 (series date)"); nil if none is set.
    public static func studyDateText(_ m: ScanMetadata, labels: ReportTemplate.Labels) -> String? {
        if let d = m.studyDate { return ReportLayout.date(d) }
        if let d = m.seriesDate { return "\(ReportLayout.date(d)) (\(labels[.seriesDate]))" }
        if let d = m.acquisitionDate { return "\(ReportLayout.date(d)) (\(labels[.acquisitionDate]))" }
        return nil
    }

    /// PatientAge as shown ("45 Y"); when absent, the age computed from PatientBirthDate and the
    /// first of StudyDate, SeriesDate and AcquisitionDate, saying so; nil if neither can be had.
    public static func ageText(_ m: ScanMetadata, labels: ReportTemplate.Labels) -> String? {
        if let a = m.patientAge { return ReportLayout.age(a) }
        guard let age = ageFromBirthDate(m) else { return nil }
        let dateNames = [labels[.studyDate].lowercased(), labels[.seriesDate], labels[.acquisitionDate]]
        return labels[.ageComputed].replacingOccurrences(of: "{age}", with: age.years >= 2 ? "\(age.years) Y" : "\(age.months) M")
            .replacingOccurrences(of: "{date}", with: dateNames[age.date])
    }

    /// The patient's age from PatientBirthDate on the first valid one of StudyDate, SeriesDate and
    /// AcquisitionDate: in whole years and in whole months, and which of the three dates it is (0, 1,
    /// 2); nil without both dates or when the birth date comes later.
    static func ageFromBirthDate(_ m: ScanMetadata) -> (years: Int, months: Int, date: Int)? {
        guard let birth = m.patientBirthDate.flatMap(ymd),
              let (then, date) = [m.studyDate, m.seriesDate, m.acquisitionDate].enumerated().lazy
                  .compactMap({ i, d in d.flatMap(ymd).map { ($0, i) } }).first
        else { return nil }
        var months = (then.y - birth.y) * 12 + then.m - birth.m
        if then.d < birth.d { months -= 1 }
        guard months >= 0 else { return nil }
        return (months / 12, months, date)
    }

    /// DICOM DA "YYYYMMDD" (or the old "YYYY.MM.DD") as numbers; nil if not a valid date.
    static func ymd(_ da: String) -> (y: Int, m: Int, d: Int)? {
        let digits = da.filter(\.isNumber)
        guard digits.count == 8, da.count == 8 || da.count == 10,
              let y = Int(digits.prefix(4)), let m = Int(digits.dropFirst(4).prefix(2)), let d = Int(digits.suffix(2)),
              (1...12).contains(m), (1...31).contains(d) else { return nil }
        return (y, m, d)
    }
}
