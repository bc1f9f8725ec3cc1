import Audit
import Foundation
import Synchronization

/// The audit records of each transaction, written exactly once, and which content was reported.
///
/// At start it reads the audit log: the events each transaction already has (a crash may have cut
/// the log after some of them, and a restart completes the rest), and the report made for each input
/// hash, to recognise duplicates. Every watcher of the inbox also records its reports in the claims'
/// `reported/` folder, so a duplicate is recognised whichever watcher it reaches.
final class AuditTrail: Sendable {
    let log: AuditLog
    /// The reports of every watcher of the inbox; nil for none.
    let shared: InboxClaims?

    private struct Index {
        /// Input SHA-256 → the report made for it (from this log, or when `shared` could not record it).
        var reportByHash: [String: String] = [:]
        /// The event ID codes already in the log, by transaction not yet finished.
        var audited: [String: Set<String>] = [:]
    }

    private let index: Mutex<Index>

    init(log: AuditLog, shared: InboxClaims?) {
        self.log = log
        self.shared = shared
        var ix = Index()
        for r in log.opened.records + log.opened.recordsAfterProblem {
            if let t = r.transaction { ix.audited[t, default: []].insert(r.eventID.code) }
            guard r.eventID == .export, r.eventOutcomeIndicator == .success,
                  let report = r.participantObject.first(where: { $0.typeCodeRole == 3 }),
                  let sha = r.participantObject.first(where: { $0.typeCodeRole == 4 })?.detail["sha256"] else { continue }
            ix.reportByHash[sha] = report.id
        }
        index = Mutex(ix)
    }

    /// The report made before for these bytes, by this watcher or another of the inbox.
    func earlierReport(sha256: String) -> String? {
        index.withLock { $0.reportByHash[sha256] } ?? shared?.reportedBefore(sha256: sha256)
    }

    /// Writes the records of `action` that are not in the log yet (repeatable: each is written once),
    /// and, for a report, remembers the content as reported.
    func record(_ action: PendingAction) throws(ActionFailure) {
        let written = index.withLock { $0.audited[action.transaction] ?? [] }
        var hashes: [String: String] = [:]
        for path in action.outputs { hashes[path] = try? ContentHash.sha256(of: URL(fileURLWithPath: path)) }
        let missing = action.auditEvents(sha256: hashes).filter { !written.contains($0.eventID.code) }
        if !missing.isEmpty {
            do throws(AuditError) {
                try log.append(missing)
            } catch {
                throw ActionFailure(description: error.description)
            }
        }
        index.withLock { $0.audited[action.transaction, default: []].formUnion(missing.map(\.eventID.code)) }
        // Recorded on disk for every watcher of the inbox; kept in memory only if that fails, so memory
        // does not grow with every scan reported.
        let sha = action.fields.sha256
        if let report = action.report, shared?.recordReport(sha256: sha, report: report) != true {
            index.withLock { $0.reportByHash[sha] = report }
        }
    }

    /// The transaction is over (its action left the journal): it is never recorded again, so its
    /// events need not be remembered.
    func finished(_ action: PendingAction) {
        index.withLock { $0.audited[action.transaction] = nil }
    }

    /// A failure of the surroundings: the input stays in the inbox (outcome 12).
    func recordNotProcessed(_ path: String, message: String) throws(AuditError) {
        try log.append([AuditEvent(
            eventID: .import, action: .create, outcome: .majorFailure, outcomeDescription: message,
            objects: [.file(path: path, sha256: nil, role: 4)])])
    }
}
