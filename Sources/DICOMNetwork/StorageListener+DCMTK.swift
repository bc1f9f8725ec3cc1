// The listener's calls into CDCMTKNet. The handle is owned by a final class that frees it in deinit; the event
// closure lives in a box the C side points to for the handle's lifetime.
internal import CDCMTKNet
import Foundation

/// Holds the Swift closure that the C callback reaches through its context pointer.
private final class EventSink {
    let onEvent: @Sendable (ListenerEvent) -> Void
    init(_ onEvent: @escaping @Sendable (ListenerEvent) -> Void) { self.onEvent = onEvent }
}

private func string(_ p: UnsafePointer<CChar>?) -> String { p.map { String(cString: $0) } ?? "" }

/// Turns one C event into a `ListenerEvent`.
private func event(_ e: cdcmtkn_event) -> ListenerEvent? {
    switch e.kind {
    case Int32(CDCMTKN_EVENT_ASSOCIATION_ACCEPTED.rawValue):
        return .associationAccepted(association: e.association_id, callingAE: string(e.calling_ae),
                                    calledAE: string(e.called_ae), peerHost: string(e.peer_host))
    case Int32(CDCMTKN_EVENT_ASSOCIATION_REFUSED.rawValue):
        return .associationRefused(callingAE: string(e.calling_ae), calledAE: string(e.called_ae),
                                   peerHost: string(e.peer_host), reason: string(e.reason))
    case Int32(CDCMTKN_EVENT_INSTANCE_STORED.rawValue):
        return .instanceStored(StoredInstance(
            association: e.association_id, file: URL(fileURLWithPath: string(e.path)),
            sopClassUID: string(e.sop_class_uid), sopInstanceUID: string(e.sop_instance_uid),
            studyInstanceUID: string(e.study_instance_uid), transferSyntaxUID: string(e.transfer_syntax_uid),
            bytes: e.bytes))
    case Int32(CDCMTKN_EVENT_INSTANCE_FAILED.rawValue):
        return .instanceFailed(association: e.association_id, sopInstanceUID: string(e.sop_instance_uid),
                               status: e.status, reason: string(e.reason))
    case Int32(CDCMTKN_EVENT_ASSOCIATION_ENDED.rawValue):
        return .associationEnded(association: e.association_id, stored: Int(e.stored), failed: Int(e.failed),
                                 released: e.released != 0, reason: string(e.reason))
    case Int32(CDCMTKN_EVENT_ECHO.rawValue):
        return .echo(association: e.association_id)
    default:
        return nil
    }
}

/// Owns a `cdcmtkn_listener`.
final class DCMTKListenerHandle {
    private let raw: OpaquePointer
    private let sink: EventSink

    init(configuration c: ListenerConfiguration,
         onEvent: @escaping @Sendable (ListenerEvent) -> Void) throws(DICOMNetworkError) {
        let seconds = c.timeout.components.seconds + (c.timeout.components.attoseconds > 0 ? 1 : 0)
        guard seconds >= 1, seconds <= Int64(Int32.max) else {
            throw .invalidConfiguration(reason: "the timeout must be at least 1 second")
        }
        let sink = EventSink(onEvent)
        self.sink = sink
        let allowed = c.allowedCallingAETitles.map { strdup($0) }
        defer { allowed.forEach { free($0) } }
        var out: OpaquePointer?
        let status: Int32 = c.aeTitle.withCString { ae in
            c.folder.withUnsafeFileSystemRepresentation { folder in
                allowed.map { UnsafePointer($0) }.withUnsafeBufferPointer { titles in
                    var config = cdcmtkn_listener_config()
                    config.port = c.port
                    config.ae_title = ae
                    config.allowed_calling_ae_titles = titles.isEmpty ? nil : titles.baseAddress
                    config.allowed_calling_ae_count = Int32(titles.count)
                    config.folder = folder
                    config.timeout_seconds = Int32(seconds)
                    config.callback = { e, context in
                        guard let e, let context else { return }
                        let sink = Unmanaged<EventSink>.fromOpaque(context).takeUnretainedValue()
                        if let converted = event(e.pointee) { sink.onEvent(converted) }
                    }
                    config.context = Unmanaged.passUnretained(sink).toOpaque()
                    return cdcmtkn_listener_open(&config, &out)
                }
            }
        }
        guard status == Int32(CDCMTKN_OK.rawValue), let out else {
            throw Self.error(status, port: c.port, folder: c.folder.path)
        }
        raw = out
    }

    deinit { cdcmtkn_listener_free(raw) }

    var port: UInt16 { cdcmtkn_listener_port(raw) }

    func run() throws(DICOMNetworkError) {
        let status = cdcmtkn_listener_run(raw)
        guard status == Int32(CDCMTKN_OK.rawValue) else { throw Self.error(status, port: port, folder: "") }
    }

    func stop() { cdcmtkn_listener_stop(raw) }

    private static func error(_ status: Int32, port: UInt16, folder: String) -> DICOMNetworkError {
        let cause = String(cString: cdcmtkn_last_error())
        switch UInt32(bitPattern: status) {
        case CDCMTKN_INVALID_ARGUMENT.rawValue: return .invalidConfiguration(reason: cause)
        case CDCMTKN_PORT_IN_USE.rawValue: return .portInUse(port: port, cause: cause)
        case CDCMTKN_PERMISSION_DENIED.rawValue: return .permissionDenied(port: port, cause: cause)
        case CDCMTKN_FOLDER_UNWRITABLE.rawValue: return .folderUnwritable(path: folder, cause: cause)
        case CDCMTKN_ILLEGAL_STATE.rawValue: return .alreadyRunning
        case CDCMTKN_NETWORK.rawValue: return .listenerFailed(cause: cause)
        default: return .internalError(cause: cause)
        }
    }
}
