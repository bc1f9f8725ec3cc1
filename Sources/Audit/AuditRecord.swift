import Foundation

// One audit record, modelled on the DICOM audit message (PS3.15 Annex A.5, after RFC 3881):
// event identification, the active participant, the audit source and the participant objects.
// Field names follow the DICOM schema (EventID, EventActionCode, ...) in lower camel case.

/// A coded value: code, coding scheme and meaning, as in DICOM's coded entries.
public struct AuditCode: Codable, Sendable, Equatable, Hashable {
    public var code: String
    public var codeSystemName: String
    public var displayName: String

    public init(_ code: String, _ codeSystemName: String, _ displayName: String) {
        self.code = code
        self.codeSystemName = codeSystemName
        self.displayName = displayName
    }

    // Event IDs (DICOM Context Group 400).
    public static let applicationActivity = AuditCode("110100", "DCM", "Application Activity")
    public static let beginTransferringDICOMInstances = AuditCode("110102", "DCM", "Begin Transferring DICOM Instances")
    public static let dicomInstancesAccessed = AuditCode("110103", "DCM", "DICOM Instances Accessed")
    public static let dicomInstancesTransferred = AuditCode("110104", "DCM", "DICOM Instances Transferred")
    public static let export = AuditCode("110106", "DCM", "Export")
    public static let `import` = AuditCode("110107", "DCM", "Import")
    public static let securityAlert = AuditCode("110113", "DCM", "Security Alert")

    // Event type codes (DICOM Context Groups 401 and 403).
    public static let applicationStart = AuditCode("110120", "DCM", "Application Start")
    public static let applicationStop = AuditCode("110121", "DCM", "Application Stop")
    public static let auditRecordingStarted = AuditCode("110134", "DCM", "Audit Recording Started")
    public static let objectSecurityAttributesChanged = AuditCode("110135", "DCM", "Object Security Attributes Changed")

    // Participant object ID types (RFC 3881 and DICOM Context Group 404).
    public static let patientNumber = AuditCode("2", "RFC-3881", "Patient Number")
    public static let uri = AuditCode("12", "RFC-3881", "URI")
    public static let studyInstanceUID = AuditCode("110180", "DCM", "Study Instance UID")
}

/// EventActionCode: what was done to the objects.
public enum AuditAction: String, Codable, Sendable {
    case create = "C", read = "R", update = "U", delete = "D", execute = "E"
}

/// EventOutcomeIndicator: 0 success, 4 minor failure, 8 serious failure, 12 major failure.
public enum AuditOutcome: Int, Codable, Sendable, Comparable {
    case success = 0
    case minorFailure = 4
    case seriousFailure = 8
    case majorFailure = 12

    public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    public var name: String {
        switch self {
        case .success: "success"
        case .minorFailure: "minor failure"
        case .seriousFailure: "serious failure"
        case .majorFailure: "major failure"
        }
    }
}

/// ActiveParticipant: who did it (this process, as a user on a host).
public struct AuditParticipant: Codable, Sendable, Equatable {
    /// The operating-system user running the program.
    public var userID: String
    /// The process: "cxreview[pid]".
    public var alternativeUserID: String
    public var userIsRequestor: Bool
    /// The host name.
    public var networkAccessPointID: String
    /// 1: machine name (RFC 3881 NetworkAccessPointTypeCode).
    public var networkAccessPointTypeCode: Int

    public init(userID: String, alternativeUserID: String, userIsRequestor: Bool, networkAccessPointID: String) {
        self.userID = userID
        self.alternativeUserID = alternativeUserID
        self.userIsRequestor = userIsRequestor
        self.networkAccessPointID = networkAccessPointID
        networkAccessPointTypeCode = 1
    }

    /// A DICOM peer (a scanner or PACS): its AE title, and its host name or IP address.
    public static func dicomPeer(aeTitle: String, host: String, isRequestor: Bool) -> AuditParticipant {
        var p = AuditParticipant(userID: aeTitle, alternativeUserID: "AETITLES=\(aeTitle)", userIsRequestor: isRequestor,
                                 networkAccessPointID: host)
        if host.allSatisfy({ $0.isNumber || $0 == "." || $0 == ":" }) { p.networkAccessPointTypeCode = 2 }  // an IP address
        return p
    }

    /// This process: the effective user's name, "cxreview[pid]", the host name.
    public static func current(process: String = "cxreview") -> AuditParticipant {
        let uid = geteuid()
        var user = "uid \(uid)"
        if let pw = getpwuid(uid), let name = pw.pointee.pw_name { user = String(cString: name) }
        return AuditParticipant(
            userID: user, alternativeUserID: "\(process)[\(getpid())]", userIsRequestor: true,
            networkAccessPointID: ProcessInfo.processInfo.hostName)
    }
}

/// ParticipantObjectIdentification: a thing the event concerned (file, study, patient, model, report).
///
/// A patient is only ever identified by a salted hash of the patient ID, never by name.
public struct AuditObject: Codable, Sendable, Equatable {
    /// ParticipantObjectTypeCode: 1 person, 2 system object, 3 organisation, 4 other.
    public var typeCode: Int
    /// ParticipantObjectTypeCodeRole: 1 patient, 3 report, 4 resource, 13 security resource, ...
    public var typeCodeRole: Int
    public var idTypeCode: AuditCode
    public var id: String
    /// ParticipantObjectDetail as name–value pairs (sorted by name in the JSON).
    public var detail: [String: String]

    public init(typeCode: Int, typeCodeRole: Int, idTypeCode: AuditCode, id: String, detail: [String: String] = [:]) {
        self.typeCode = typeCode
        self.typeCodeRole = typeCodeRole
        self.idTypeCode = idTypeCode
        self.id = id
        self.detail = detail
    }

    /// A file, by path, with its SHA-256 and further details; `role` 3 for a report, 4 for an input.
    public static func file(path: String, sha256: String?, role: Int, detail: [String: String] = [:]) -> AuditObject {
        var d = detail
        if let sha256 { d["sha256"] = sha256 }
        return AuditObject(typeCode: 2, typeCodeRole: role, idTypeCode: .uri, id: path, detail: d)
    }

    /// The patient, by salted hash of the patient ID.
    public static func patient(hashedID: String) -> AuditObject {
        AuditObject(typeCode: 1, typeCodeRole: 1, idTypeCode: .patientNumber, id: hashedID,
                    detail: ["idHash": "HMAC-SHA256 with the site salt"])
    }

    /// A DICOM study, with its SOP instance(s) in the detail.
    public static func study(uid: String, sopInstanceUID: String?) -> AuditObject {
        var d: [String: String] = [:]
        if let sopInstanceUID { d["sopInstanceUID"] = sopInstanceUID }
        return AuditObject(typeCode: 2, typeCodeRole: 3, idTypeCode: .studyInstanceUID, id: uid, detail: d)
    }
}

/// What a caller records; `AuditLog.append` adds the sequence number, time, participant and chain hash.
public struct AuditEvent: Sendable, Equatable {
    public var eventID: AuditCode
    public var eventTypeCode: [AuditCode]
    public var action: AuditAction
    public var outcome: AuditOutcome
    /// EventOutcomeDescription: what happened, in words (never a patient name).
    public var outcomeDescription: String?
    public var objects: [AuditObject]
    /// Groups the records of one unit of work (e.g. one input file), so a restart can tell which exist.
    public var transaction: String?
    /// Other active participants beside this process (the DICOM peer of a transfer).
    public var peers: [AuditParticipant]

    public init(eventID: AuditCode, eventTypeCode: [AuditCode] = [], action: AuditAction, outcome: AuditOutcome,
                outcomeDescription: String? = nil, objects: [AuditObject] = [], transaction: String? = nil,
                peers: [AuditParticipant] = []) {
        self.peers = peers
        self.eventID = eventID
        self.eventTypeCode = eventTypeCode
        self.action = action
        self.outcome = outcome
        self.outcomeDescription = outcomeDescription
        self.objects = objects
        self.transaction = transaction
    }
}

/// One line of `audit.jsonl`: the event, who and where, its place in the chain.
///
/// `hash` is the SHA-256 of the line's bytes without the `"hash"` member (the record as written, keys
/// sorted); `prev` is the previous record's `hash` (64 zeros for the first record).
public struct AuditRecord: Codable, Sendable, Equatable {
    public var seq: Int
    public var prev: String
    public var eventDateTime: String
    public var eventID: AuditCode
    public var eventTypeCode: [AuditCode]
    public var eventActionCode: AuditAction
    public var eventOutcomeIndicator: AuditOutcome
    public var eventOutcomeDescription: String?
    public var activeParticipant: [AuditParticipant]
    /// AuditSourceIdentification: the site and host that wrote the log.
    public var auditSourceID: String
    public var participantObject: [AuditObject]
    public var transaction: String?
    /// Filled in when read back from the log.
    public var hash: String?
}
