import Foundation

/// What the listener did, delivered in order on the thread running `StorageListener.run()`. Carries AE titles,
/// hosts and UIDs, never a patient's name.
public enum ListenerEvent: Sendable, Equatable {
    /// An association was accepted; `association` numbers it within this listener (from 1).
    case associationAccepted(association: UInt64, callingAE: String, calledAE: String, peerHost: String)
    /// An association was refused (calling AE not allowed, wrong called AE, nothing acceptable proposed).
    case associationRefused(callingAE: String, calledAE: String, peerHost: String, reason: String)
    /// An instance is in its final place, synced; its success response is sent right after this event.
    case instanceStored(StoredInstance)
    /// An instance was not stored; `status` is the DIMSE status answered (0 if the association broke first).
    case instanceFailed(association: UInt64, sopInstanceUID: String, status: UInt16, reason: String)
    /// An accepted association ended, by release or abort (`reason` says why when aborted).
    case associationEnded(association: UInt64, stored: Int, failed: Int, released: Bool, reason: String)
    /// A C-ECHO was answered.
    case echo(association: UInt64)
}

/// One received instance as written: `<folder>/<StudyInstanceUID>/<SOPInstanceUID>[-n].dcm`, with file meta
/// information and the transfer syntax it arrived in.
public struct StoredInstance: Sendable, Equatable {
    public let association: UInt64
    public let file: URL
    public let sopClassUID: String
    public let sopInstanceUID: String
    /// As received; empty if the data set had none (the file is then in `unknown-study`).
    public let studyInstanceUID: String
    public let transferSyntaxUID: String
    /// Size of the written file.
    public let bytes: UInt64
}
