import Foundation

/// Settings of a `StorageListener`.
public struct ListenerConfiguration: Sendable, Equatable {
    /// TCP port, 1-65535; below 1024 needs privileges.
    public var port: UInt16
    /// This listener's AE title; associations calling another title are refused.
    public var aeTitle: String
    /// Calling AE titles allowed to connect; empty allows every caller.
    public var allowedCallingAETitles: [String]
    /// Existing, writable folder that receives `<StudyInstanceUID>/<SOPInstanceUID>.dcm`.
    public var folder: URL
    /// How long a peer may stay silent during an association before it is aborted (whole seconds, at least 1).
    public var timeout: Duration

    public init(port: UInt16, aeTitle: String, allowedCallingAETitles: [String] = [], folder: URL,
                timeout: Duration = .seconds(30)) {
        self.port = port
        self.aeTitle = aeTitle
        self.allowedCallingAETitles = allowedCallingAETitles
        self.folder = folder
        self.timeout = timeout
    }
}

/// A DICOM C-STORE receiver with C-ECHO for CR, DX and Secondary Capture images, one association at a time.
///
/// `init` opens the port, so a taken port or a missing folder fails there. `run()` blocks, serving associations
/// and calling `onEvent` for each event, until `stop()` (from any thread) takes effect: within about a second
/// while idle, or when the current association ends. Each instance is written under a hidden name, synced,
/// moved to its final name without replacing anything, and the folder synced before it is acknowledged.
public final class StorageListener: @unchecked Sendable {
    // @unchecked: `handle` is used by `run()` (serialised by `runLock`) and by `stop()`, which only sets an
    // atomic flag in the shim; `deinit` runs when neither can be executing.
    private let handle: DCMTKListenerHandle
    private let runLock = NSLock()

    /// The port listened on.
    public var port: UInt16 { handle.port }
    public let configuration: ListenerConfiguration

    public init(configuration: ListenerConfiguration,
                onEvent: @escaping @Sendable (ListenerEvent) -> Void) throws(DICOMNetworkError) {
        self.configuration = configuration
        handle = try DCMTKListenerHandle(configuration: configuration, onEvent: onEvent)
    }

    /// Serves associations until `stop()`. Can be called once.
    public func run() throws(DICOMNetworkError) {
        guard runLock.try() else { throw .alreadyRunning }
        defer { runLock.unlock() }
        try handle.run()
    }

    /// Asks `run()` to return; safe from any thread, also before `run()` starts.
    public func stop() { handle.stop() }
}
