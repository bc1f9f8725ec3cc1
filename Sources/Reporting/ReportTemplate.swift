public import CAM
public import Foundation

/// The parts of the per-scan report a user edits: institution, logo, page size, colours, label
/// language, disclaimer, confidence threshold and which sections show.
///
/// Load one from YAML with `load(contentsOf:)` (format: `templates/report.yaml`), or use `.default`.
public struct ReportTemplate: Sendable, Equatable {
    public enum PageSize: String, Sendable, CaseIterable {
        case a4 = "A4"
        case letter = "Letter"

        /// Width and height in points (1/72 inch), portrait.
        public var points: (width: Double, height: Double) {
            switch self {
            case .a4: return (595.276, 841.89)
            case .letter: return (612, 792)
            }
        }
    }

    /// Which blocks of the report are drawn. The header, the predicted class and the footer
    /// (disclaimer, page number) always are.
    public struct Sections: Sendable, Equatable {
        public var patient = true
        public var study = true
        public var probabilities = true
        public var images = true
        public var decodingNotes = true
        public var warnings = true
        public var provenance = true

        public init() {}
    }

    /// The text of every fixed label, in one language. Keys are the YAML keys.
    public enum LabelKey: String, Sendable, CaseIterable {
        case title, patient, study, name, patientID = "patient_id", sex, birthDate = "birth_date", age
        case studyDate = "study_date", studyTime = "study_time", description, accession, modality
        case bodyPart = "body_part", viewPosition = "view_position", institution, manufacturer
        case file, noDICOMHeader = "no_dicom_header", result, predictedClass = "predicted_class"
        case probabilities, images, scan, overlay, legendLow = "legend_low", legendHigh = "legend_high"
        case noSalientRegion = "no_salient_region", decodingNotes = "decoding_notes", warnings
        case noWarnings = "no_warnings", lowConfidence = "low_confidence", notFrontal = "not_frontal"
        case provenance, model, modelSHA256 = "model_sha256", inputSHA256 = "input_sha256", software
        case classifiedAt = "classified_at", reportCreatedAt = "report_created", reportID = "report_id", page
        // The batch summary (triage worklist).
        case summaryTitle = "summary_title", summaryCounts = "summary_counts", summarySorted = "summary_sorted"
        case summaryContinued = "summary_continued", summaryRank = "summary_rank", summaryImages = "summary_images"
        case summaryScan = "summary_scan", summaryReport = "summary_report", summaryNoReport = "summary_no_report"
        case summaryWarningsFlag = "summary_warnings_flag", summaryFailed = "summary_failed"
        case summaryNone = "summary_none"
        case outOfDistribution = "out_of_distribution", outOfDistributionShort = "out_of_distribution_short"
        // Scope, headline and what the model does not assess.
        case outOfScope = "out_of_scope", outOfScopeHeadline = "out_of_scope_headline"
        case outOfDistributionHeadline = "out_of_distribution_headline", modelOutput = "model_output"
        case notAssessed = "not_assessed", legendScale = "legend_scale", noOverlayNormal = "no_overlay_normal"
        case ageComputed = "age_computed", seriesDate = "series_date", acquisitionDate = "acquisition_date"
        case summarySortedNotNormal = "summary_sorted_not_normal", summarySetAside = "summary_set_aside"
        case orientationNote = "orientation_note"
        case untrainedGroup = "untrained_group", groupChild = "group_child", groupAdult = "group_adult"

        /// The English text. `{name}` marks a value filled in when the report is drawn; a
        /// translation must keep every placeholder of its English label.
        public var english: String {
            switch self {
            case .title: return "Chest X-ray classification report"
            case .patient: return "Patient"
            case .study: return "Study"
            case .name: return "Name"
            case .patientID: return "Patient ID"
            case .sex: return "Sex"
            case .birthDate: return "Birth date"
            case .age: return "Age"
            case .studyDate: return "Study date"
            case .studyTime: return "Study time"
            case .description: return "Description"
            case .accession: return "Accession"
            case .modality: return "Modality"
            case .bodyPart: return "Body part"
            case .viewPosition: return "View position"
            case .institution: return "Institution"
            case .manufacturer: return "Manufacturer"
            case .file: return "File"
            case .noDICOMHeader: return "no DICOM header (PNG/JPEG input): no patient or study data"
            case .result: return "Result"
            case .predictedClass: return "Predicted class"
            case .probabilities: return "Calibrated probability per class"
            case .images: return "Images"
            case .scan: return "Scan"
            case .overlay: return "Saliency (class activation map) for {class}"
            case .legendLow: return "low"
            case .legendHigh: return "high"
            case .noSalientRegion: return "No salient region: the map for {class} is empty, so the overlay shows the plain scan."
            case .decodingNotes: return "Decoding notes"
            case .warnings: return "Warnings"
            case .noWarnings: return "None."
            case .lowConfidence: return "Low confidence: the highest probability ({probability}) is below {threshold}."
            case .notFrontal: return "Not a frontal chest view according to the header ({detail}); the model was trained on frontal chest radiographs."
            case .provenance: return "Provenance"
            case .model: return "Model"
            case .modelSHA256: return "Model SHA-256"
            case .inputSHA256: return "Input SHA-256"
            case .software: return "Software"
            case .classifiedAt: return "Classified (UTC)"
            case .reportCreatedAt: return "Report created (UTC)"
            case .reportID: return "Report ID"
            case .page: return "page {page} of {pages}"
            case .summaryTitle: return "Batch summary: triage worklist"
            case .summaryCounts: return "{total} scans: {classified} classified ({warned} with warnings), {failed} not classified"
            case .summarySorted: return "Sorted by the probability of {class}, highest first; a row's report is linked under its name."
            case .summaryContinued: return "continued"
            case .summaryRank: return "#"
            case .summaryImages: return "Scan | saliency"
            case .summaryScan: return "Patient / file"
            case .summaryReport: return "report: {file}"
            case .summaryNoReport: return "no per-scan report"
            case .summaryWarningsFlag: return "Warn."
            case .summaryFailed: return "Not classified ({count}): no result, the reason per file"
            case .summaryNone: return "No scans in this run."
            case .outOfDistributionShort: return "Out of distribution: the scan does not look like the training data (see Warnings)."
            case .outOfScope: return "Out of scope ({detail}): the model was trained on frontal chest radiographs (CR/DX) only."
            case .outOfScopeHeadline: return "Out of scope: this is not a scan the model can assess. The class below is no finding."
            case .outOfDistributionHeadline: return "Out of distribution: the scan does not look like the training data. The class below is no finding."
            case .modelOutput: return "Model output (not a finding)"
            case .notAssessed: return "Not assessed by this model: pleural effusion, pneumothorax, nodules and masses, lines and tubes, fractures, or any finding other than its classes."
            case .legendScale: return "Colours are scaled to this map's own range: \"high\" is its maximum, not comparable between scans."
            case .noOverlayNormal: return "No overlay: the predicted class is {class}, and its map marks no finding, so none is drawn."
            case .ageComputed: return "{age} (computed from the birth date and the {date})"
            case .untrainedGroup: return "Outside what the model learned: it was never trained on \"{class}\" in {group} (age {age} by the header), so this call is no evidence of it; see the model card."
            case .groupChild: return "children (under 18)"
            case .groupAdult: return "adults (18 or older)"
            case .seriesDate: return "series date"
            case .acquisitionDate: return "acquisition date"
            case .summarySortedNotNormal: return "Sorted by the probability of not {class} (1 − p), highest first, the predicted class shown; a row's report is linked under its name."
            case .summarySetAside: return "Set aside ({count}): out of scope or out of distribution, not ranked; the class is no finding"
            case .orientationNote: return "R/L: patient right/left from the header's PatientOrientation."
            case .outOfDistribution: return "Out of distribution: the scan does not look like the training data (score {score} above {threshold}, the {percentile}th percentile of in-distribution scans); the probabilities may be meaningless."
            }
        }

        /// The `{…}` placeholders of the English text.
        var placeholders: [String] { Self.placeholders(in: english) }

        static func placeholders(in text: String) -> [String] {
            var found: [String] = []
            var rest = Substring(text)
            while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
                found.append(String(rest[open...close]))
                rest = rest[rest.index(after: close)...]
            }
            return found
        }
    }

    /// Labels in one language: any label not given is English.
    public struct Labels: Sendable, Equatable {
        public var text: [LabelKey: String] = [:]
        /// Display names of the model's classes, keyed by the model's class name (e.g. "covid" → "COVID-19").
        public var classNames: [String: String] = [:]

        public init(text: [LabelKey: String] = [:], classNames: [String: String] = [:]) {
            self.text = text
            self.classNames = classNames
        }

        public subscript(key: LabelKey) -> String { text[key] ?? key.english }

        /// The display name of a model class: the translation if given, else the name itself.
        public func className(_ name: String) -> String { classNames[name] ?? name }
    }

    /// Shown in the header; empty for none.
    public var institution = ""
    /// A PNG shown left of the institution name (absolute, or relative to the template file when loaded).
    public var logoPath: String?
    public var pageSize = PageSize.a4
    /// The key of `languages` whose labels are used.
    public var language = "en"
    /// Headings, rules and the predicted-class panel.
    public var accentColor = RGBColor(red: 0x00, green: 0x72, blue: 0xB2)
    /// Bar colours per model class name; classes not listed get the Okabe–Ito palette in model order.
    public var classColors: [String: RGBColor] = [:]
    /// Below this top probability the report warns "low confidence".
    public var lowConfidenceThreshold = 0.6
    /// On every page, bold, in the footer.
    public var disclaimer = "Research use only. Not for diagnostic use."
    /// Images in the PDF as JPEG of this quality (display copies: fast to write, small files);
    /// nil embeds them losslessly (deflate), several times slower and larger.
    public var jpegQuality: Int? = 92
    public var sections = Sections()
    /// How the batch summary orders the scans it ranks.
    public enum TriageOrder: Sendable, Equatable {
        /// By 1 − p(class), highest first: the scans most likely not normal come first (default: "normal").
        case notClass(String)
        /// By p(class), highest first.
        case probability(of: String)
    }
    /// `triage_order:` in YAML: `not_normal` (default), `not_<class>`, or a class name.
    public var triageOrder = TriageOrder.notClass("normal")
    /// Label sets by language code; "en" is always present.
    public var languages: [String: Labels] = ["en": Labels()]

    public init() {}

    /// The built-in template: A4, English, no institution or logo, every section shown.
    public static let `default` = ReportTemplate()

    /// The labels of `language`.
    public var labels: Labels { languages[language] ?? Labels() }

    /// Reads and checks a YAML template (see `templates/report.yaml`).
    ///
    /// Unknown keys are errors, so a typo cannot pass silently; a relative `logo` is resolved
    /// against the template's folder and must exist.
    /// - Throws: `TemplateError` with the line and the problem, e.g.
    ///   "report.yaml line 3: page size must be A4 or Letter, not A5. …".
    public static func load(contentsOf url: URL) throws(TemplateError) -> ReportTemplate {
        let path = url.path
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw TemplateError(
                path: path, line: nil, kind: .unreadable,
                problem: "cannot read the template (\((error as NSError).localizedDescription))",
                fix: "Check the path, or leave the template out to use the built-in one.")
        }
        return try parse(yaml: text, path: path, folder: url.deletingLastPathComponent())
    }
}
