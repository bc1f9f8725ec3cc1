import Foundation

/// The answer for one file sent by `StorageSender`.
public struct SendResult: Sendable, Equatable {
    public let file: URL
    public let outcome: SendOutcome

    /// True when the peer took the file (success or warning status).
    public var isStored: Bool {
        switch outcome {
        case .stored, .warning: return true
        case .failed: return false
        }
    }
}

public enum SendOutcome: Sendable, Equatable {
    /// Status Success (0x0000).
    case stored
    /// A warning status (0x0001, 0xBxxx): stored, possibly coerced.
    case warning(status: UInt16, meaning: String)
    case failed(SendFailure)
}

/// Why a file was not stored. `connectionRefused` is its own case so a caller can retry with back-off.
public enum SendFailure: Sendable, Equatable, CustomStringConvertible {
    /// Nothing listens at host:port (TCP connection refused); returned at once, without waiting for the timeout.
    case connectionRefused(host: String, port: UInt16)
    /// The peer rejected the association (e.g. unknown called or calling AE title).
    case associationRejected(reason: String)
    /// Another network failure: unknown host, timeout, association aborted.
    case network(reason: String)
    /// The peer does not accept this SOP class in this file's transfer syntax.
    case noPresentationContext(reason: String)
    /// The peer answered with a failure status.
    case failureStatus(status: UInt16, reason: String)
    /// The file is missing, unreadable, or not DICOM with SOP Class/Instance UIDs.
    case unreadable(reason: String)

    public var description: String {
        switch self {
        case let .connectionRefused(host, port):
            return "connection refused by \(host):\(port): the PACS is not listening; it will be retried."
        case let .associationRejected(reason):
            return "\(reason); check the called AE title and that the PACS knows this AE title, host and port."
        case let .network(reason):
            return "\(reason); check the host, port and network."
        case let .noPresentationContext(reason):
            return "\(reason); configure the PACS to accept it."
        case let .failureStatus(status, reason):
            return "the PACS refused the file with status 0x\(String(status, radix: 16, uppercase: true)) (\(reason)); see the PACS log."
        case let .unreadable(reason):
            return "\(reason); the file cannot be sent."
        }
    }
}

/// A DICOM C-STORE sender. Files go in their own SOP class and transfer syntax: uncompressed ones may be
/// converted among the three uncompressed syntaxes if the peer prefers another; compressed ones are never
/// decompressed, so a peer that does not accept their syntax gets `noPresentationContext` for them.
public struct StorageSender: Sendable {
    public init() {}

    /// Sends `files` to `host:port` on one association (or more, beyond 128 presentation contexts) and returns a
    /// result per file, in order.
    /// - Throws: only for invalid arguments (empty host, port 0, AE titles not 1-16 characters, timeout < 1 s).
    public func send(files: [URL], host: String, port: UInt16, calledAE: String, callingAE: String,
                     timeout: Duration = .seconds(30)) throws(DICOMNetworkError) -> [SendResult] {
        try DCMTKSender.send(files: files, host: host, port: port, calledAE: calledAE, callingAE: callingAE,
                             timeout: timeout)
    }
}
