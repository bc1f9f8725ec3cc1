import XRayCore

/// Why a DICOM file could not be turned into a picture (or written). Every case names the file (its last
/// path component, never the folder) and keeps the cause DCMTK or the system gave; `description` is one line
/// saying what happened and what to do.
public enum DICOMError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file could not be opened or read (missing, permission, a directory, I/O error).
    case unreadable(file: String, cause: String)
    /// Not DICOM: empty, or neither 'DICM' at byte 128 nor a recognisable data set.
    case notDICOM(file: String, cause: String)
    /// DICOM, but damaged or truncated: DCMTK could not parse it or decode its pixels, or a check before DCMTK
    /// found damage it would crash on or render wrongly. `cause` is DCMTK's message or the check's sentence.
    case corrupt(file: String, cause: String)
    /// A DICOM object without Pixel Data (e.g. a structured report); `sopClass` is its readable SOP class.
    case noPixelData(file: String, sopClass: String)
    /// Pixel data in a transfer syntax no decoder in this build handles (JPEG 2000 in Debian's DCMTK), or one
    /// DCMTK 3.6.7 does not know (HTJ2K, JPEG XL, Deflated Image Frame, unknown or garbled UIDs).
    case unsupportedTransferSyntax(file: String, syntax: String, uid: String)
    /// Rows/Columns beyond `ImageLimits`; refused before any pixel memory was allocated.
    case tooLarge(file: String, columns: Int, rows: Int)
    /// Writing a DICOM file failed, or the values to write were invalid.
    /// Something that should not happen (an unexpected DCMTK state, out of memory).
    case internalError(file: String, cause: String)

    /// The file name the error is about.
    public var file: String {
        switch self {
        case let .unreadable(f, _), let .notDICOM(f, _), let .corrupt(f, _), let .noPixelData(f, _),
             let .unsupportedTransferSyntax(f, _, _), let .tooLarge(f, _, _),
             let .internalError(f, _):
            return f
        }
    }

    public var description: String {
        switch self {
        case let .unreadable(file, cause):
            return "\(file.escapingControlCharacters) could not be read (\(cause)); check that the file exists and that this user may read it, then drop it again."
        case let .notDICOM(file, cause):
            return "\(file.escapingControlCharacters) is not a DICOM file (\(cause)); drop a DICOM, PNG or JPEG chest radiograph instead."
        case let .corrupt(file, cause):
            return "\(file.escapingControlCharacters) is a damaged or truncated DICOM file (\(cause)); export the study again from the PACS or modality and drop the new copy."
        case let .noPixelData(file, sopClass):
            return "\(file.escapingControlCharacters) is a DICOM object without image pixels (\(sopClass)); only radiographs can be classified."
        case let .unsupportedTransferSyntax(file, syntax, uid):
            return "\(file.escapingControlCharacters) uses \(syntax) (\(uid)), which this build of DCMTK cannot decode; export the study uncompressed (or convert it with `gdcmconv --raw`) and drop it again."
        case let .tooLarge(file, columns, rows):
            return "\(file.escapingControlCharacters) is \(columns)x\(rows) pixels, more than the limit of \(ImageLimits.maxDimension) pixels a side and \(ImageLimits.maxPixels / 1_000_000) megapixels; downsample it before classifying."
        case let .internalError(file, cause):
            return "\(file.escapingControlCharacters) could not be decoded because of an internal error (\(cause)); please report this together with the file."
        }
    }
}
