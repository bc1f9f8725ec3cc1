import Audit
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What the watcher is about to do with one input, written to `STATE/pending/<transaction>.json`
/// before anything visible happens, and removed once all of it is done and audited.
///
/// Every step it names is safe to repeat, so after a crash (even `kill -9`) a restart finishes each
/// pending action: the input is in the inbox or in its destination, the report under its claimed
/// name is complete or absent, and the audit records of the transaction are written exactly once.
struct PendingAction: Codable, Sendable {
    enum Kind: String, Codable, Sendable {
        /// Classified: a report, then the input to the archive.
        case report
        /// Could not be processed: the input to failed/ with an error note.
        case failed
        /// The same bytes were reported before: the input to the archive with a note, no new report.
        case duplicate
    }

    /// What the classification found, for the audit records (never a patient name).
    struct Result: Codable, Sendable {
        var predictedClass: String
        var probabilities: [String]  // "class=0.1234"
        var studyInstanceUID: String?
        var sopInstanceUID: String?
        var modality: String?
        var patientToken: String?
        var saliency: String
        var warnings: [String]
    }

    var transaction: String
    var kind: Kind
    var input: String
    /// Path relative to the inbox, for messages.
    var relative: String
    var sha256: String
    var size: Int
    var device: UInt64
    var inode: UInt64
    var destination: String
    var report: String?
    var notePath: String?
    var note: String?
    var reason: String?
    var earlierReport: String?
    var result: Result?
    var model: String
    var modelSHA256: String
    /// For a failure: the input's modification time (seconds, nanoseconds) when it was judged.
    var judgedMtime: [Int]? = nil

    /// A failed input as it was judged, to notice a writer that goes on writing into it in failed/.
    var judged: FileStamp? {
        guard kind == .failed, let m = judgedMtime, m.count == 2 else { return nil }
        return FileStamp(size: Int64(size), mtimeSeconds: m[0], mtimeNanoseconds: m[1], inode: inode)
    }

    func url(in pending: String) -> String { pending + "/\(transaction).json" }

    /// Writes the action durably (temporary file, fsync, rename, folder fsync).
    func save(in pending: String) throws(FileMove.Failure) {
        try FileMove.makeFolder(pending)
        let path = url(in: pending)
        let temp = path + ".tmp"
        let data = try! JSONEncoder().encode(self)
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FileMove.system("writing \(temp)", errno) }
        let ok = data.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) == $0.count } && fsync(fd) == 0
        close(fd)
        guard ok, rename(temp, path) == 0 else { unlink(temp); throw FileMove.system("writing \(path)", errno) }
        FileMove.syncFolder(pending)
    }

    func remove(in pending: String) {
        unlink(url(in: pending))
        FileMove.syncFolder(pending)
    }

    /// The actions left by an earlier run, oldest first; unreadable leftovers are renamed aside.
    static func load(in pending: String) -> [PendingAction] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: pending) else { return [] }
        var out: [(Date, PendingAction)] = []
        for name in names {
            let path = pending + "/" + name
            if name.hasSuffix(".json.tmp") { unlink(path); continue }  // never renamed into place: never acted on
            guard name.hasSuffix(".json") else { continue }
            guard let data = FileManager.default.contents(atPath: path),
                  let action = try? JSONDecoder().decode(PendingAction.self, from: data) else {
                rename(path, path + ".unreadable")
                continue
            }
            let date = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? Date()
            out.append((date, action))
        }
        return out.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// The audit records of this action, once done (`reportSHA256` of the written report).
    func auditEvents(reportSHA256: String?) -> [AuditEvent] {
        let modelObject = AuditObject(typeCode: 2, typeCodeRole: 4, idTypeCode: AuditCode("CXR-MODEL", "99CXREVIEW", "Model"),
                                      id: model, detail: ["sha256": modelSHA256])
        var inputDetail = ["inboxPath": input, "bytes": "\(size)"]
        var subjects: [AuditObject] = []
        if let r = result {
            if let study = r.studyInstanceUID { subjects.append(.study(uid: study, sopInstanceUID: r.sopInstanceUID)) }
            if let token = r.patientToken { subjects.append(.patient(hashedID: token)) }
            if let m = r.modality { inputDetail["modality"] = m }
        }
        let inputObject = AuditObject.file(path: destination, sha256: sha256, role: 4, detail: inputDetail)
        switch kind {
        case .report:
            let r = result!
            return [
                AuditEvent(eventID: .import, action: .create, outcome: .success,
                           outcomeDescription: "received \(relative); archived as \(destination)",
                           objects: [inputObject] + subjects, transaction: transaction),
                AuditEvent(eventID: .dicomInstancesAccessed, action: .read, outcome: .success,
                           outcomeDescription: "classified as \(r.predictedClass) (\(r.probabilities.joined(separator: ", "))); \(r.saliency)"
                               + (r.warnings.isEmpty ? "" : "; warnings: " + r.warnings.joined(separator: "; ")),
                           objects: [inputObject, modelObject] + subjects, transaction: transaction),
                AuditEvent(eventID: .export, action: .read, outcome: .success,
                           outcomeDescription: "report written",
                           objects: [.file(path: report!, sha256: reportSHA256, role: 3), inputObject] + subjects,
                           transaction: transaction),
            ]
        case .failed:
            return [AuditEvent(eventID: .import, action: .create, outcome: .seriousFailure,
                               outcomeDescription: "\(relative) could not be processed: \(reason ?? "unknown"); moved to \(destination)",
                               objects: [inputObject], transaction: transaction)]
        case .duplicate:
            return [AuditEvent(eventID: .import, action: .create, outcome: .minorFailure,
                               outcomeDescription: "\(relative) has the same content as an input already reported (\(earlierReport ?? "?")); archived as \(destination), no new report",
                               objects: [inputObject, .file(path: earlierReport ?? "", sha256: nil, role: 3)] + subjects,
                               transaction: transaction)]
        }
    }
}
