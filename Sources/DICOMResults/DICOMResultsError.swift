/// Why CXReview's results could not be written as DICOM. Every case says what happened and what to do; file
/// names are the last path component, and no case carries a patient's name.
public enum DICOMResultsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A PNG or JPEG input: it belongs to no DICOM study, so there is nowhere to return results into.
    case notDICOM(file: String, format: String)
    /// The source could not be read (missing, permission, not a regular file).
    case unreadable(file: String, cause: String)
    /// The source is not DICOM DCMTK can read, or lacks the UIDs the results must refer to.
    case invalidSource(file: String, cause: String)
    /// The configured UID root cannot prefix UIDs.
    case invalidUIDRoot(root: String, reason: String)
    /// The values to write are invalid (an empty model name, a probability outside 0...1, ...).
    case invalidResult(reason: String)
    /// DCMTK refused to build one object (`object` names it: "Encapsulated PDF", "Secondary Capture", "SR").
    case buildFailed(object: String, cause: String)
    /// The source's patient and study text could not be carried over in one character set.
    case characterSet(file: String, cause: String)
    /// Drawing the burned-in text failed (Cairo).
    case burnInFailed(cause: String)
    /// The object's file could not be written; nothing was left under its name.
    case writeFailed(path: String, cause: String)
    /// A file of that name exists already; it was left untouched.
    case exists(path: String)
    /// Something that should not happen (an unexpected DCMTK state, out of memory).
    case internalError(cause: String)

    public var description: String {
        switch self {
        case let .notDICOM(file, format):
            return "\(file) is a \(format) image, not DICOM: it belongs to no study to return results into, so no DICOM results are written for it (its PDF report stands)."
        case let .unreadable(file, cause):
            return "\(file) could not be read for the DICOM results (\(cause)); check that it still exists and is readable."
        case let .invalidSource(file, cause):
            return "\(file) cannot be the source of DICOM results (\(cause)); only DICOM images with their study, series and SOP instance UIDs can."
        case let .invalidUIDRoot(root, reason):
            return "the UID root '\(root)' cannot be used (\(reason)); give your organisation's registered root of digits and dots, at most 43 characters, or none for 2.25 UUID-derived UIDs."
        case let .invalidResult(reason):
            return "the result cannot be written as DICOM (\(reason)); this is a bug, please report it."
        case let .buildFailed(object, cause):
            return "the \(object) could not be built (\(cause)); please report this together with the source file's header (dcmdump)."
        case let .characterSet(file, cause):
            return "\(file)'s patient and study text cannot be carried into the results (\(cause)); check its Specific Character Set (0008,0005)."
        case let .burnInFailed(cause):
            return "the result could not be burned into the Secondary Capture (\(cause)); free memory and try again."
        case let .writeFailed(path, cause):
            return "cannot write \(path) (\(cause)); check that the folder is writable and has free space."
        case let .exists(path):
            return "\(path) already exists and was left untouched; results are never overwritten."
        case let .internalError(cause):
            return "an internal error stopped the DICOM results (\(cause)); please report this."
        }
    }
}
