/// What the file says about the patient, the study and the image.
///
/// DICOM fills these from the header (values as stored, trimmed, empty values as `nil`);
/// PNG and JPEG set only `rows`, `columns` and `bitsStored`. Patient fields may be shown in a
/// report but must never reach a log or an audit record.
public struct ScanMetadata: Sendable, Equatable, Codable {
    public var patientName: String?
    public var patientID: String?
    public var patientSex: String?
    public var patientBirthDate: String?
    public var patientAge: String?
    public var studyInstanceUID: String?
    public var seriesInstanceUID: String?
    public var sopInstanceUID: String?
    public var sopClassUID: String?
    public var studyDate: String?
    /// (0008,0021) and (0008,0022): where a report looks when StudyDate is absent.
    public var seriesDate: String?
    public var acquisitionDate: String?
    public var studyTime: String?
    public var studyDescription: String?
    public var accessionNumber: String?
    public var modality: String?
    public var bodyPartExamined: String?
    public var viewPosition: String?
    /// (0020,0020) PatientOrientation: the patient direction of the rows then of the columns,
    /// e.g. ["L", "F"] (the image's right edge is the patient's left); nil if absent.
    public var patientOrientation: [String]?
    public var institutionName: String?
    public var manufacturer: String?
    public var rows: Int?
    public var columns: Int?
    /// Row spacing then column spacing in millimetres, as (0028,0030) states it; `nil` if absent or not positive.
    public var pixelSpacing: [Double]?
    public var photometricInterpretation: String?
    public var bitsAllocated: Int?
    public var bitsStored: Int?
    public var transferSyntaxUID: String?
    /// A readable name for the transfer syntax, e.g. "JPEG Lossless, Non-Hierarchical, First-Order Prediction".
    public var transferSyntaxName: String?
    public var numberOfFrames: Int?

    public init() {}
}
