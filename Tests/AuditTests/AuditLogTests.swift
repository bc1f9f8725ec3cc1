import Audit
import Foundation
import Testing

/// The audit log's chain on real files: what verification accepts, and each kind of tampering it must catch.
@Suite struct AuditLogTests {
    let folder: URL
    var log: URL { folder.appendingPathComponent("audit.jsonl") }

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("cxr-audit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    }

    func event(_ i: Int) -> AuditEvent {
        AuditEvent(eventID: .import, action: .create, outcome: i % 3 == 0 ? .seriousFailure : .success,
                   outcomeDescription: "record \(i) with \"quotes\", ünïcode and a/slash",
                   objects: [.file(path: "/inbox/scan-\(i).dcm", sha256: String(repeating: "ab", count: 32), role: 4)],
                   transaction: "t\(i)")
    }

    /// Writes `n` records through a log that is then closed.
    func write(_ n: Int) throws {
        let audit = try AuditLog(url: log)
        for i in 1...n { try audit.append([event(i)]) }
    }

    func lines() throws -> [String] {
        try String(contentsOf: log, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    func rewrite(_ lines: [String]) throws {
        try (lines.joined(separator: "\n") + "\n").write(to: log, atomically: false, encoding: .utf8)
    }

    @Test func anUntouchedLogVerifiesAndReadsBack() throws {
        try write(6)
        let v = try AuditReader.verify(log)
        #expect(v.isValid)
        #expect(v.records.map(\.seq) == Array(1...6))
        #expect(v.records.first?.prev == AuditChain.genesis)
        for (a, b) in zip(v.records, v.records.dropFirst()) { #expect(b.prev == a.hash) }
        #expect(v.records[2].eventOutcomeIndicator == .seriousFailure)
        #expect(v.records[1].eventOutcomeDescription == "record 2 with \"quotes\", ünïcode and a/slash")
        #expect(v.records[0].activeParticipant.first?.alternativeUserID.contains("[\(getpid())]") == true)
    }

    @Test func reopeningContinuesTheChain() throws {
        try write(3)
        try write(2)
        let v = try AuditReader.verify(log)
        #expect(v.isValid)
        #expect(v.records.map(\.seq) == [1, 2, 3, 4, 5])
    }

    @Test func anEditedRecordFailsAtThatLine() throws {
        try write(5)
        var l = try lines()
        l[2] = l[2].replacingOccurrences(of: "record 3", with: "record 9")
        try rewrite(l)
        let v = try AuditReader.verify(log)
        #expect(v.problem?.line == 3)
        guard case .invalidLine(.hashMismatch) = v.problem?.kind else { Issue.record("\(String(describing: v.problem))"); return }
        #expect(v.records.count == 2)
    }

    @Test func anEditedRecordWithARecomputedHashBreaksTheNextLink() throws {
        try write(5)
        // A forger who edits record 3 and fixes its own hash still breaks record 4's link.
        var l = try lines()
        var r = try JSONDecoder().decode(AuditRecord.self, from: Data(l[2].utf8))
        r.eventOutcomeDescription = "forged"
        r.hash = nil
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var body = try e.encode(r)
        let hash = AuditChain.sha256(body)
        body.removeLast()
        l[2] = String(decoding: body, as: UTF8.self) + #","hash":"\#(hash)"}"#
        try rewrite(l)
        let v = try AuditReader.verify(log)
        #expect(v.problem?.line == 4)
        guard case .brokenLink = v.problem?.kind else { Issue.record("\(String(describing: v.problem))"); return }
    }

    @Test func aDeletedRecordFailsWhereItWas() throws {
        try write(5)
        var l = try lines()
        l.remove(at: 2)
        try rewrite(l)
        let v = try AuditReader.verify(log)
        #expect(v.problem == .init(line: 3, kind: .unexpectedSequence(expected: 3, found: 4)))
    }

    @Test func swappedRecordsFailAtTheFirstOfThem() throws {
        try write(5)
        var l = try lines()
        l.swapAt(1, 2)
        try rewrite(l)
        let v = try AuditReader.verify(log)
        #expect(v.problem == .init(line: 2, kind: .unexpectedSequence(expected: 2, found: 3)))
    }

    @Test func recordsRemovedFromTheEndAreNoticedThroughTheHead() throws {
        try write(5)
        var l = try lines()
        l.removeLast()
        try rewrite(l)
        let v = try AuditReader.verify(log)
        #expect(v.problem?.kind == .missingAtEnd(headSeq: 5, lastSeq: 4))
    }

    @Test func aTornLastLineIsRepairedAndTheRepairAudited() throws {
        try write(4)
        let handle = try FileHandle(forWritingTo: log)
        try handle.seekToEnd()
        let torn = Data(#"{"activeParticipant":[{"alternativeUserID":"cxrev"#.utf8)
        try handle.write(contentsOf: torn)
        try handle.close()
        #expect(try AuditReader.verify(log).problem?.kind == .tornLastLine)

        let audit = try AuditLog(url: log)
        #expect(audit.opened.tornTail == torn)
        try audit.append([event(5)])
        let v = try AuditReader.verify(log)
        #expect(v.isValid)
        #expect(v.records.count == 6)
        let repair = v.records[4]
        #expect(repair.eventID == .securityAlert)
        #expect(repair.eventOutcomeDescription?.contains("\(torn.count) bytes") == true)
        // The cut-off bytes are kept beside the log, not deleted.
        let aside = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix("audit.jsonl.torn-") }
        #expect(aside.count == 1)
        #expect(try Data(contentsOf: folder.appendingPathComponent(aside[0])) == torn)
    }

    @Test func aBrokenLogIsLeftAsEvidenceAndAlerted() throws {
        try write(4)
        var l = try lines()
        l[1] = l[1].replacingOccurrences(of: "record 2", with: "record X")
        try rewrite(l)
        let before = try Data(contentsOf: log)
        let audit = try AuditLog(url: log)
        let after = try Data(contentsOf: log)
        #expect(after.prefix(before.count) == before)
        let records = (try AuditReader.verify(log)).recordsAfterProblem
        #expect(records.last?.eventID == .securityAlert)
        #expect(records.last?.prev == records.dropLast().last?.hash)
        _ = audit
    }

    @Test func onlyOneWriterAtATime() throws {
        let first = try AuditLog(url: log)
        #expect(throws: AuditError.self) { _ = try AuditLog(url: log) }
        _ = first
    }

    @Test func patientIDsArePseudonymisedWithTheSiteSalt() throws {
        let salt = folder.appendingPathComponent("salt")
        let a = try PatientIDHasher(saltFile: salt)
        let again = try PatientIDHasher(saltFile: salt)
        let other = PatientIDHasher(salt: Data(repeating: 7, count: 32))
        let token = a.token(for: "PAT-00123")
        #expect(token == again.token(for: "PAT-00123"))
        #expect(token != other.token(for: "PAT-00123"))
        #expect(token != a.token(for: "PAT-00124"))
        #expect(!token.contains("00123"))
        let attributes = try FileManager.default.attributesOfItem(atPath: salt.path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }
}
