// The sender's call into CDCMTKNet: one cdcmtkn_send per call; results are copied out of a C array.
internal import CDCMTKNet
import Foundation

enum DCMTKSender {
    static func send(files: [URL], host: String, port: UInt16, calledAE: String, callingAE: String,
                     timeout: Duration) throws(DICOMNetworkError) -> [SendResult] {
        let seconds = timeout.components.seconds + (timeout.components.attoseconds > 0 ? 1 : 0)
        guard seconds >= 1, seconds <= Int64(Int32.max) else {
            throw .invalidConfiguration(reason: "the timeout must be at least 1 second")
        }
        if files.isEmpty { return [] }
        let paths = files.map { strdup($0.path) }
        defer { paths.forEach { free($0) } }
        var results = [cdcmtkn_send_result](repeating: cdcmtkn_send_result(), count: files.count)
        let status: Int32 = host.withCString { h in
            calledAE.withCString { called in
                callingAE.withCString { calling in
                    var request = cdcmtkn_send_request()
                    request.host = h
                    request.port = port
                    request.called_ae = called
                    request.calling_ae = calling
                    request.timeout_seconds = Int32(seconds)
                    return paths.map { UnsafePointer($0) }.withUnsafeBufferPointer { p in
                        results.withUnsafeMutableBufferPointer { r in
                            cdcmtkn_send(&request, p.baseAddress, Int32(files.count), r.baseAddress)
                        }
                    }
                }
            }
        }
        let cause = String(cString: cdcmtkn_last_error())
        switch UInt32(bitPattern: status) {
        case CDCMTKN_INVALID_ARGUMENT.rawValue:
            throw .invalidConfiguration(reason: cause)
        case CDCMTKN_OK.rawValue, CDCMTKN_CONNECTION_REFUSED.rawValue, CDCMTKN_ASSOCIATION_REJECTED.rawValue,
             CDCMTKN_NETWORK.rawValue:
            break
        default:
            throw .internalError(cause: cause)
        }
        return zip(files, results).map { file, r in
            var copy = r
            let reason = withUnsafeBytes(of: &copy.reason) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            return SendResult(file: file, outcome: outcome(r, reason: reason, association: status, host: host, port: port))
        }
    }

    private static func outcome(_ r: cdcmtkn_send_result, reason: String, association: Int32, host: String,
                                port: UInt16) -> SendOutcome {
        switch UInt32(bitPattern: r.outcome) {
        case CDCMTKN_SEND_STORED.rawValue: return .stored
        case CDCMTKN_SEND_WARNING.rawValue: return .warning(status: r.status, meaning: reason)
        case CDCMTKN_SEND_FAILED_STATUS.rawValue: return .failed(.failureStatus(status: r.status, reason: reason))
        case CDCMTKN_SEND_NO_PRESENTATION_CONTEXT.rawValue: return .failed(.noPresentationContext(reason: reason))
        case CDCMTKN_SEND_UNREADABLE.rawValue: return .failed(.unreadable(reason: reason))
        default:
            switch UInt32(bitPattern: association) {
            case CDCMTKN_CONNECTION_REFUSED.rawValue: return .failed(.connectionRefused(host: host, port: port))
            case CDCMTKN_ASSOCIATION_REJECTED.rawValue: return .failed(.associationRejected(reason: reason))
            default: return .failed(.network(reason: reason.isEmpty ? "the association ended before this file was sent" : reason))
            }
        }
    }
}
