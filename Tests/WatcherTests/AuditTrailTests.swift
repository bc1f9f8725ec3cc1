import Audit
import Foundation
import Testing
@testable import Watcher

/// Each transaction's records are written exactly once, however often its completion is repeated.
@Suite struct AuditTrailTests {
    static func records(of action: PendingAction, in url: URL) throws -> [AuditRecord] {
        try AuditReader.verify(url).records.filter { $0.transaction == action.transaction }
    }

    @Test func repeatedCompletionWritesTheRecordsOnce() throws {
        let t = try TemporaryInbox("trail-repeat")
        let url = URL(fileURLWithPath: t.root + "/audit.jsonl")
        let action = reportAction(input: t.paths.inbox + "/a.dcm", relative: "a.dcm", destination: t.paths.archive + "/a.dcm",
                                  report: t.paths.reports + "/a.pdf")
        let trail = AuditTrail(log: try AuditLog(url: url), shared: nil)
        try trail.record(action)
        try trail.record(action)  // e.g. archiving failed after the records were written, and is retried
        let written = try Self.records(of: action, in: url)
        #expect(written.map(\.eventID.code) == action.auditEvents(sha256: [:]).map(\.eventID.code))
        #expect(written.count == 3)
        // The report is known from now on, so the same bytes are a duplicate.
        #expect(trail.earlierReport(sha256: "ab12") == t.paths.reports + "/a.pdf")
    }

    /// A crash cut the log after the first of the transaction's records: the restart (a new trail, which
    /// reads the log) writes the other two, and the log still verifies.
    @Test func aRestartWritesOnlyTheRecordsACrashCutOff() throws {
        let t = try TemporaryInbox("trail-crash")
        let url = URL(fileURLWithPath: t.root + "/audit.jsonl")
        let action = reportAction(input: t.paths.inbox + "/a.dcm", relative: "a.dcm", destination: t.paths.archive + "/a.dcm",
                                  report: t.paths.reports + "/a.pdf")
        do {
            let log = try AuditLog(url: url)
            try log.append([action.auditEvents(sha256: [:])[0]])
        }  // the log closes here, as the process dies
        let trail = AuditTrail(log: try AuditLog(url: url), shared: nil)
        try trail.record(action)
        let verification = try AuditReader.verify(url)
        #expect(verification.isValid, "\(String(describing: verification.problem))")
        let written = try Self.records(of: action, in: url)
        #expect(written.map(\.eventID.code) == action.auditEvents(sha256: [:]).map(\.eventID.code))
    }

    /// The reports of an earlier run are read from the log at start: their content is a duplicate now.
    @Test func reportsInTheLogAreKnownAtStart() throws {
        let t = try TemporaryInbox("trail-index")
        let url = URL(fileURLWithPath: t.root + "/audit.jsonl")
        let action = reportAction(input: t.paths.inbox + "/a.dcm", relative: "a.dcm", destination: t.paths.archive + "/a.dcm",
                                  report: t.paths.reports + "/a.pdf")
        do { try AuditTrail(log: try AuditLog(url: url), shared: nil).record(action) }
        let restarted = AuditTrail(log: try AuditLog(url: url), shared: nil)
        #expect(restarted.earlierReport(sha256: "ab12") == t.paths.reports + "/a.pdf")
        #expect(restarted.earlierReport(sha256: "cd34") == nil)
    }
}
