/// Why the DICOM listener could not start or run, or why a send could not begin. Every case says what happened
/// and what to do; none carries patient data.
public enum DICOMNetworkError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A setting is invalid (AE title, timeout, host); `reason` names it.
    case invalidConfiguration(reason: String)
    /// Another process listens on the port.
    case portInUse(port: UInt16, cause: String)
    /// The port needs privileges (below 1024 on Linux).
    case permissionDenied(port: UInt16, cause: String)
    /// The destination folder is missing or cannot be written.
    case folderUnwritable(path: String, cause: String)
    /// `run()` was called on a listener that has run already.
    case alreadyRunning
    /// The listener stopped on a network failure other than a requested stop.
    case listenerFailed(cause: String)
    /// Something that should not happen (an unexpected DCMTK state, out of memory).
    case internalError(cause: String)

    public var description: String {
        switch self {
        case let .invalidConfiguration(reason):
            return "the DICOM network settings are invalid (\(reason)); correct them in the configuration."
        case let .portInUse(port, cause):
            return "port \(port) is already in use (\(cause)); stop the other DICOM receiver or choose another port with --listen."
        case let .permissionDenied(port, cause):
            return "no permission to listen on port \(port) (\(cause)); use a port of 1024 or above, e.g. 11112."
        case let .folderUnwritable(path, cause):
            return "cannot store received images in \(path) (\(cause)); create the folder and make it writable by this user."
        case .alreadyRunning:
            return "this listener has run already; create a new StorageListener to listen again."
        case let .listenerFailed(cause):
            return "the DICOM listener stopped (\(cause)); check the network and restart it."
        case let .internalError(cause):
            return "an internal error stopped DICOM networking (\(cause)); please report this."
        }
    }
}
