import Audit
import DICOMResults
import Foundation

/// What the watcher is about to do with one input, written to the crash journal (`Journal`) before
/// anything visible happens, and removed once all of it is done and audited.
///
/// Every step it names is safe to repeat, so after a crash (even `kill -9`) a restart finishes each
/// pending action: the input is in the inbox or in its destination, the report under its claimed
/// name is complete or absent, and the audit records of the transaction are written exactly once.
///
/// On disk it is one flat JSON object with a `kind` key (`report`, `failed`, `duplicate`), the keys
/// of `ActionFields`, and the kind's own keys: the format of the earlier `PendingAction` struct, so
/// that a journal left by a watcher killed before an upgrade is still finished after it.
enum PendingAction: Sendable, Equatable {
    /// Classified: a report, then the input to the archive.
    case report(ReportAction)
    /// Could not be processed: the input to failed/ with an error note.
    case failed(FailedAction)
    /// The same bytes were reported before: the input to the archive with a note, no new report.
    case duplicate(DuplicateAction)

    var fields: ActionFields {
        switch self {
        case let .report(a): a.fields
        case let .failed(a): a.fields
        case let .duplicate(a): a.fields
        }
    }

    var transaction: String { fields.transaction }
    var input: String { fields.input }
    var relative: String { fields.relative }
    var destination: String { fields.destination }

    /// The report this action writes, if it writes one.
    var report: String? {
        if case let .report(a) = self { a.report } else { nil }
    }

    /// The note written beside the moved input (`.error.txt`, `.duplicate.txt`), with its text.
    var note: (path: String, text: String)? {
        switch self {
        case .report: nil
        case let .failed(a): (a.notePath, a.note)
        case let .duplicate(a): (a.notePath, a.note)
        }
    }

    /// Every name the action writes: claimed from when it is planned until it is done or dropped. (DICOM
    /// results are named by their new UIDs: nobody else can pick them.)
    var names: [String] { [destination] + [report, note?.path].compactMap { $0 } }

    /// The files the action makes before it completes: the report and the DICOM results. Until all exist
    /// the transaction is not committed, and a restart removes those that do and processes the input again.
    var outputs: [String] {
        guard case let .report(a) = self else { return [] }
        return [a.report] + (a.dicom?.files ?? [])
    }
}

/// What every action has: the transaction, the input as it was judged, where it goes, and the model.
struct ActionFields: Codable, Sendable, Equatable {
    var transaction: String
    var input: String
    /// Path relative to the inbox, for messages.
    var relative: String
    /// Of the input's content; empty when it could not be read.
    var sha256: String
    var size: Int
    var device: UInt64
    var inode: UInt64
    var destination: String
    var model: String
    var modelSHA256: String
}

struct ReportAction: Sendable, Equatable {
    /// What the classification found, for the audit records (never a patient name).
    struct Result: Codable, Sendable, Equatable {
        var predictedClass: String
        var probabilities: [String]  // "class=0.1234"
        var studyInstanceUID: String?
        var sopInstanceUID: String?
        var modality: String?
        var patientToken: String?
        var saliency: String
        var warnings: [String]
    }

    var fields: ActionFields
    var report: String
    var result: Result
    /// The DICOM results planned for a DICOM input (`--dicom-out`): their UIDs are in the journal before any
    /// is written.
    var dicom: DICOMOutputs?
    /// Why a DICOM input got no DICOM results after all (its header cannot carry them); its report stands.
    var dicomSkipped: String?
}

/// The three DICOM objects of one report action: where, with which UIDs, and whether they go to a PACS.
struct DICOMOutputs: Codable, Sendable, Equatable {
    var folder: String
    var plan: DICOMResultWriter.Plan
    /// Queued for the C-STORE sender once the action completes (`--send-to`).
    var send: Bool

    var files: [String] { plan.files(in: URL(fileURLWithPath: folder)).map(\.path) }
}

struct FailedAction: Sendable, Equatable {
    var fields: ActionFields
    var notePath: String
    var note: String
    var reason: String
    /// The input as it was judged, to notice a writer that goes on writing into it in failed/.
    var judged: FileStamp?
}

struct DuplicateAction: Sendable, Equatable {
    var fields: ActionFields
    var notePath: String
    var note: String
    /// The report made for the same bytes before.
    var earlierReport: String
}

extension PendingAction: Codable {
    private enum Kind: String, Codable {
        case report, failed, duplicate
    }

    /// The keys besides `ActionFields`'.
    private enum Key: String, CodingKey {
        case kind, report, result, notePath, note, reason, earlierReport, judgedMtime, dicom, dicomSkipped
    }

    init(from decoder: any Decoder) throws {
        let fields = try ActionFields(from: decoder)
        let c = try decoder.container(keyedBy: Key.self)
        switch try c.decode(Kind.self, forKey: .kind) {
        case .report:
            // DICOM results came later: a journal from before has none.
            self = .report(ReportAction(fields: fields, report: try c.decode(String.self, forKey: .report),
                                        result: try c.decode(ReportAction.Result.self, forKey: .result),
                                        dicom: try c.decodeIfPresent(DICOMOutputs.self, forKey: .dicom),
                                        dicomSkipped: try c.decodeIfPresent(String.self, forKey: .dicomSkipped)))
        case .failed:
            // The judged modification time came with the earlier version's last changes: it may be absent.
            let mtime = try c.decodeIfPresent([Int].self, forKey: .judgedMtime)
            let judged = mtime.flatMap { m in
                m.count == 2 ? FileStamp(size: Int64(fields.size), mtimeSeconds: m[0], mtimeNanoseconds: m[1], inode: fields.inode) : nil
            }
            self = .failed(FailedAction(fields: fields, notePath: try c.decode(String.self, forKey: .notePath),
                                        note: try c.decode(String.self, forKey: .note),
                                        reason: try c.decodeIfPresent(String.self, forKey: .reason) ?? "unknown", judged: judged))
        case .duplicate:
            self = .duplicate(DuplicateAction(fields: fields, notePath: try c.decode(String.self, forKey: .notePath),
                                              note: try c.decode(String.self, forKey: .note),
                                              earlierReport: try c.decodeIfPresent(String.self, forKey: .earlierReport) ?? "?"))
        }
    }

    func encode(to encoder: any Encoder) throws {
        try fields.encode(to: encoder)
        var c = encoder.container(keyedBy: Key.self)
        switch self {
        case let .report(a):
            try c.encode(Kind.report, forKey: .kind)
            try c.encode(a.report, forKey: .report)
            try c.encode(a.result, forKey: .result)
            try c.encodeIfPresent(a.dicom, forKey: .dicom)
            try c.encodeIfPresent(a.dicomSkipped, forKey: .dicomSkipped)
        case let .failed(a):
            try c.encode(Kind.failed, forKey: .kind)
            try c.encode(a.notePath, forKey: .notePath)
            try c.encode(a.note, forKey: .note)
            try c.encode(a.reason, forKey: .reason)
            if let j = a.judged { try c.encode([j.mtimeSeconds, j.mtimeNanoseconds], forKey: .judgedMtime) }
        case let .duplicate(a):
            try c.encode(Kind.duplicate, forKey: .kind)
            try c.encode(a.notePath, forKey: .notePath)
            try c.encode(a.note, forKey: .note)
            try c.encode(a.earlierReport, forKey: .earlierReport)
        }
    }
}

extension PendingAction {
    /// The audit records of this action, once done (`sha256` of each written output, by path).
    func auditEvents(sha256: [String: String]) -> [AuditEvent] {
        let f = fields
        let modelObject = AuditObject(typeCode: 2, typeCodeRole: 4, idTypeCode: AuditCode("CXR-MODEL", "99CXREVIEW", "Model"),
                                      id: f.model, detail: ["sha256": f.modelSHA256])
        var inputDetail = ["inboxPath": f.input, "bytes": "\(f.size)"]
        var subjects: [AuditObject] = []
        if case let .report(a) = self {
            let r = a.result
            if let study = r.studyInstanceUID { subjects.append(.study(uid: study, sopInstanceUID: r.sopInstanceUID)) }
            if let token = r.patientToken { subjects.append(.patient(hashedID: token)) }
            if let m = r.modality { inputDetail["modality"] = m }
        }
        let inputObject = AuditObject.file(path: f.destination, sha256: f.sha256, role: 4, detail: inputDetail)
        switch self {
        case let .report(a):
            let r = a.result
            return [
                AuditEvent(eventID: .import, action: .create, outcome: .success,
                           outcomeDescription: "received \(f.relative); archived as \(f.destination)",
                           objects: [inputObject] + subjects, transaction: f.transaction),
                AuditEvent(eventID: .dicomInstancesAccessed, action: .read, outcome: .success,
                           outcomeDescription: "classified as \(r.predictedClass) (\(r.probabilities.joined(separator: ", "))); \(r.saliency)"
                               + (r.warnings.isEmpty ? "" : "; warnings: " + r.warnings.joined(separator: "; ")),
                           objects: [inputObject, modelObject] + subjects, transaction: f.transaction),
                AuditEvent(eventID: .export, action: .read, outcome: .success,
                           outcomeDescription: "report written" + Self.dicomDescription(a),
                           objects: [.file(path: a.report, sha256: sha256[a.report], role: 3), inputObject] + subjects
                               + Self.dicomObjects(a, sha256: sha256),
                           transaction: f.transaction),
            ]
        case let .failed(a):
            return [AuditEvent(eventID: .import, action: .create, outcome: .seriousFailure,
                               outcomeDescription: "\(f.relative) could not be processed: \(a.reason); moved to \(f.destination)",
                               objects: [inputObject], transaction: f.transaction)]
        case let .duplicate(a):
            return [AuditEvent(eventID: .import, action: .create, outcome: .minorFailure,
                               outcomeDescription: "\(f.relative) has the same content as an input already reported (\(a.earlierReport)); archived as \(f.destination), no new report",
                               objects: [inputObject, .file(path: a.earlierReport, sha256: nil, role: 3)] + subjects,
                               transaction: f.transaction)]
        }
    }

    /// What the export record says of the DICOM results.
    private static func dicomDescription(_ a: ReportAction) -> String {
        if let reason = a.dicomSkipped { return "; no DICOM results: \(reason)" }
        guard let d = a.dicom else { return "" }
        return "; DICOM results written (Encapsulated PDF, Secondary Capture, Comprehensive 3D SR) in \(d.folder), each in a new series of the source's study"
            + (d.send ? ", queued for sending" : "")
    }

    /// The DICOM results as audit objects (role 3, report), with their UIDs.
    private static func dicomObjects(_ a: ReportAction, sha256: [String: String]) -> [AuditObject] {
        guard let d = a.dicom else { return [] }
        let kinds = [("Encapsulated PDF", d.plan.encapsulatedPDF), ("Secondary Capture", d.plan.secondaryCapture),
                     ("Comprehensive 3D SR", d.plan.structuredReport)]
        return zip(d.files, kinds).map { path, kind in
            .file(path: path, sha256: sha256[path], role: 3,
                  detail: ["object": kind.0, "sopInstanceUID": kind.1.sopInstanceUID, "seriesInstanceUID": kind.1.seriesInstanceUID])
        }
    }
}

/// Why an action could not be completed yet (a move, a note or the audit log failed); it stays pending.
struct ActionFailure: Error, CustomStringConvertible {
    let description: String
}
