import Foundation
public import XRayCore

/// One thing a reader must know before trusting a result, with a stable code for scripts.
///
/// The report, the batch summary, the terminal and `--json` all list the same warnings, made by
/// `assess`, in the same order: out of scope, out of distribution, not frontal, a class the age
/// group was never trained on, low confidence, then any other the caller adds.
public struct ScanWarning: Sendable, Codable, Equatable {
    public enum Code: String, Sendable, Codable {
        /// The header or the image says this is not a chest radiograph the model can assess.
        case outOfScope = "out_of_scope"
        /// The scan's features are unlike the training data (`OutOfDistributionStatistics`).
        case outOfDistribution = "out_of_distribution"
        /// A lateral view.
        case notFrontal = "not_frontal"
        /// The predicted class was never trained on in the patient's age group (adult viral pneumonia).
        case untrainedGroup = "untrained_group"
        /// The top probability is below the template's threshold.
        case lowConfidence = "low_confidence"
        case other
    }

    public var code: Code
    public var message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    /// True for the warnings that make the class no answer at all (out of scope or of distribution):
    /// the report's headline says so first and the triage list sets the scan apart.
    public var setsAside: Bool { code == .outOfScope || code == .outOfDistribution }

    /// Every warning of one scan, in the order the report lists them.
    /// - Parameters:
    ///   - metadata: the DICOM header, or nil (PNG/JPEG): then only the image size is checked.
    ///   - size: the decoded image's size in pixels; nil skips the size checks.
    ///   - outOfDistribution: the out-of-distribution message when the scan was flagged.
    ///   - predictedClass, trainedClasses: the prediction, and per age group the classes the model was
    ///     trained on (`ResNetConfiguration.trainedClasses`); when the header gives the patient's age and
    ///     the class is not among its group's, a warning says so. Nil for either: no such check.
    ///   - extra: further caller warnings, listed last.
    public static func assess(probabilities: [Double], metadata: ScanMetadata?, size: (width: Int, height: Int)?,
                              outOfDistribution: String? = nil, predictedClass: String? = nil,
                              trainedClasses: [String: [String]]? = nil, extra: [String] = [],
                              template: ReportTemplate) -> [ScanWarning] {
        let labels = template.labels
        var out: [ScanWarning] = []
        let scope = ScanScope.problems(metadata: metadata, size: size)
        if !scope.isEmpty {
            out.append(.init(code: .outOfScope, message: labels[.outOfScope].replacingOccurrences(of: "{detail}", with: scope.joined(separator: "; "))))
        }
        if let outOfDistribution { out.append(.init(code: .outOfDistribution, message: outOfDistribution)) }
        if let view = ScanScope.lateralView(metadata) {
            out.append(.init(code: .notFrontal, message: labels[.notFrontal].replacingOccurrences(of: "{detail}", with: "ViewPosition \(view)")))
        }
        if scope.isEmpty, let predictedClass, let trainedClasses, let m = metadata, let years = ScanScope.ageInYears(m) {
            let group = years < ScanScope.adultAge ? "child" : "adult"
            if !(trainedClasses[group] ?? []).contains(predictedClass) {
                out.append(.init(code: .untrainedGroup, message: labels[.untrainedGroup]
                    .replacingOccurrences(of: "{class}", with: labels.className(predictedClass))
                    .replacingOccurrences(of: "{group}", with: labels[group == "child" ? .groupChild : .groupAdult])
                    .replacingOccurrences(of: "{age}", with: "\(years)")))
            }
        }
        let top = probabilities.max() ?? 0
        if top < template.lowConfidenceThreshold {
            out.append(.init(code: .lowConfidence, message: labels[.lowConfidence]
                .replacingOccurrences(of: "{probability}", with: ScanReport.probabilityText(top))
                .replacingOccurrences(of: "{threshold}", with: ScanReport.probabilityText(template.lowConfidenceThreshold))))
        }
        return out + extra.map { .init(code: .other, message: $0) }
    }
}

/// Whether a scan is what the model was made for: a frontal chest radiograph (CR or DX, or a
/// Secondary Capture of one), judged from the header where there is one and from the image size.
public enum ScanScope {
    /// Modalities of projection radiographs.
    public static let modalities: Set<String> = ["CR", "DX"]
    /// Modalities a Secondary Capture of a radiograph is often stored under; accepted only with a
    /// Secondary Capture SOP class and a chest body part ("DX-like").
    static let secondaryCaptureModalities: Set<String> = ["OT", "SC"]
    /// CR, DX (for presentation and for processing) and Secondary Capture (single-frame and the
    /// grey multi-frame ones) Image Storage.
    public static let sopClasses: Set<String> = [
        "1.2.840.10008.5.1.4.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1.1",
        "1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.7.2", "1.2.840.10008.5.1.4.1.1.7.3",
    ]
    static let secondaryCapture: Set<String> = ["1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.7.2", "1.2.840.10008.5.1.4.1.1.7.3"]
    /// Words in BodyPartExamined that mean the chest: the DICOM terms (CHEST, THORAX) and the
    /// spellings vendors write ("CHEST PA", "THORAX_AP", "LUNG", "TORAX", "TÓRAX", "TORACE", "PECHO",
    /// "BRUST", "CXR"). Compared after upper-casing and removing accents, word by word.
    public static let chestWords: Set<String> = ["CHEST", "THORAX", "THORACIC", "TORAX", "TORACE", "LUNG", "LUNGS",
                                                 "PECHO", "BRUST", "CXR", "POUMON", "POITRINE"]
    /// A chest radiograph as acquired is at least this many pixels on its shorter side; the public
    /// PNG sets are 256 or 299 pixels. Smaller images are thumbnails, or CT/MR slices.
    public static let minimumSide = 200
    /// Width over height outside this range is no chest radiograph (detectors are 35 × 43 cm or square).
    public static let aspectRange = 0.5...2.0
    /// The longer side of the imaged area, in millimetres, when PixelSpacing gives it. An adult
    /// chest radiograph covers about 350 to 430 mm, but downscaled public sets keep the original
    /// spacing (SIIM: 1024 px at 0.168 mm, 172 mm), so only areas far off are flagged (a CT slice
    /// of 128 px at 0.66 mm covers 85 mm).
    public static let fieldOfViewRange = 120.0...650.0

    /// The reasons the scan is out of scope, each naming the header field or size; empty if none.
    public static func problems(metadata m: ScanMetadata?, size: (width: Int, height: Int)?) -> [String] {
        var out: [String] = []
        let modality = m?.modality?.trimmingCharacters(in: .whitespaces).uppercased()
        let sop = m?.sopClassUID?.trimmingCharacters(in: CharacterSet(charactersIn: " \0"))
        let chest = m.flatMap { isChest($0.bodyPartExamined) }
        if let modality, !modality.isEmpty, !modalities.contains(modality) {
            let dxLikeSC = secondaryCaptureModalities.contains(modality) && sop.map(secondaryCapture.contains) == true && chest == true
            if !dxLikeSC { out.append("Modality \(modality), not CR or DX") }
        }
        if let sop, !sop.isEmpty, !sopClasses.contains(sop) {
            out.append("SOP class \(sop), not CR, DX or Secondary Capture")
        }
        if chest == false, let part = m?.bodyPartExamined?.trimmingCharacters(in: .whitespaces) {
            out.append("BodyPartExamined \(part), not the chest")
        }
        if let (width, height) = size, min(width, height) < minimumSide {
            out.append("image \(width) × \(height) px, under the \(minimumSide) px a side of a chest radiograph")
        } else if let (width, height) = size, height > 0, !aspectRange.contains(Double(width) / Double(height)) {
            out.append("image \(width) × \(height) px, too elongated for a chest radiograph")
        }
        if let s = m?.pixelSpacing, s.count == 2, let (width, height) = size {
            let long = max(Double(height) * s[0], Double(width) * s[1])
            if !fieldOfViewRange.contains(long) {
                out.append("imaged area \(Int(long.rounded())) mm across by PixelSpacing, a chest radiograph's about 350-430 mm")
            }
        }
        return out
    }

    /// True if BodyPartExamined names the chest, false if it names something else, nil if absent.
    public static func isChest(_ bodyPart: String?) -> Bool? {
        guard let raw = bodyPart?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
        let folded = raw.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: nil).uppercased()
        let words = folded.split(whereSeparator: { !$0.isLetter })
        return words.contains { chestWords.contains(String($0)) }
    }

    /// From this age in years a patient counts as an adult (the training data's age groups).
    public static let adultAge = 18

    /// The patient's age in whole years: PatientAge ("045Y", or months, weeks or days; also the
    /// non-conforming "62" and "62Y"), else
    /// PatientBirthDate against the first of StudyDate, SeriesDate and AcquisitionDate; nil when the
    /// header gives neither.
    public static func ageInYears(_ m: ScanMetadata) -> Int? {
        // AS is "nnnU"; headers in the wild also carry "62" or "62Y", read as years.
        if let a = m.patientAge?.trimmingCharacters(in: CharacterSet(charactersIn: " \0")).uppercased(), !a.isEmpty {
            let unit = a.last!.isLetter ? a.last! : "Y"
            if let n = Int(a.last!.isLetter ? String(a.dropLast()) : a), n >= 0, a.count <= 4 {
                switch unit {
                case "Y": return n
                case "M": return n / 12
                case "W": return n / 52
                case "D": return n / 365
                default: break
                }
            }
        }
        return ScanReport.ageFromBirthDate(m)?.years
    }

    /// The ViewPosition when it says lateral (LL, RL, LATERAL, LAT), else nil.
    public static func lateralView(_ m: ScanMetadata?) -> String? {
        guard let view = m?.viewPosition?.trimmingCharacters(in: .whitespaces).uppercased(),
              ["LL", "RL", "LATERAL", "LAT"].contains(view) else { return nil }
        return view
    }
}
