import XRayCore

/// A failure of one file at one stage, with the stage's own error kept as the cause.
///
/// The description is one line that names the file, says what is wrong and what to do; the
/// decoders' errors already say that, so it is passed through.
public struct PipelineError: Error, Sendable, CustomStringConvertible {
    public enum Stage: String, Sendable, Codable {
        case read, decode, preprocess, classify, report
    }

    public let stage: Stage
    public let file: String
    public let underlying: any Error & Sendable

    public init(stage: Stage, file: String, underlying: any Error & Sendable) {
        self.stage = stage
        self.file = file
        self.underlying = underlying
    }

    public var description: String { String(describing: underlying) }
}

/// Failures that belong to the pipeline itself rather than to one decoder.
public enum InputError: Error, Sendable, Equatable, CustomStringConvertible {
    case notFound(file: String)
    case isDirectory(file: String)
    case unreadable(file: String, reason: String)
    case empty(file: String)
    case unrecognisedFormat(file: String, firstBytes: String)
    /// A FIFO, socket or device: opening it could block forever, and it holds no scan.
    case notRegularFile(file: String, kind: String)
    /// A symbolic link that points (through other links) back to itself.
    case symbolicLinkLoop(file: String)

    public var description: String {
        switch self {
        case let .notFound(f):
            return "\(f.escapingControlCharacters): no such file; check the path."
        case let .isDirectory(f):
            return "\(f.escapingControlCharacters) is a folder; name the scan files in it (e.g. \(f.escapingControlCharacters)/*.dcm)."
        case let .unreadable(f, reason):
            return "\(f.escapingControlCharacters) cannot be read (\(reason)); check its permissions and those of the folders above it."
        case let .empty(f):
            return "\(f.escapingControlCharacters) is empty (0 bytes); it may still be being copied, or the export failed: export it again."
        case let .unrecognisedFormat(f, bytes):
            return "\(f.escapingControlCharacters) is not a DICOM, PNG or JPEG file (it starts with \(bytes)); export the scan as DICOM, PNG or JPEG."
        case let .notRegularFile(f, kind):
            return "\(f.escapingControlCharacters) is \(kind), not a regular file; copy the scan file itself there instead."
        case let .symbolicLinkLoop(f):
            return "\(f.escapingControlCharacters) is a symbolic link that loops back on itself; point it at the scan file, or copy the scan instead."
        }
    }
}
