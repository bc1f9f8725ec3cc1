import Audit
import Foundation
import Pipeline
import Testing
@testable import Watcher
#if canImport(Glibc)
import Glibc
#endif

/// The processor in process, end to end, with the real classifier (the test model) and decoders.
@Suite(.serialized) struct ScanProcessorTests {
    static func sample(_ name: String) throws -> Data {
        try Data(contentsOf: WatchFolder.packageRoot.appendingPathComponent("samples/" + name))
    }

    static func prepare(_ t: TemporaryInbox) throws -> WatchSession {
        try WatchService.prepare(t.settings, loader: ScanLoader(), logger: TemporaryInbox.quiet)
    }

    static func sha256(_ path: String) throws -> String {
        try ContentHash.sha256(of: URL(fileURLWithPath: path))
    }

    @Test func aScanIsReportedArchivedAndAudited() throws {
        let t = try TemporaryInbox("processor")
        let session = try Self.prepare(t)
        let bytes = try Self.sample("cr-mono1-chest-no-meta.dcm")
        let job = try t.drop("ward/chest.dcm", bytes)

        guard case let .reported(report, predicted) = session.processor.process(job) else {
            Issue.record("not reported")
            return
        }
        #expect(["normal", "viral", "covid"].contains(predicted))
        #expect(report.hasPrefix(t.paths.reports + "/"))
        #expect(FileManager.default.contents(atPath: report)?.prefix(5) == Data("%PDF-".utf8))
        #expect(t.files(in: t.paths.inbox).isEmpty)
        let archived = t.files(in: t.paths.archive)
        #expect(archived.count == 1 && archived[0].hasSuffix("/ward/chest.dcm"), "\(archived)")
        #expect(FileManager.default.contents(atPath: t.paths.archive + "/" + archived[0]) == bytes)
        #expect(Journal.load(in: session.processor.journal.folder).isEmpty)

        let audit = try AuditReader.verify(URL(fileURLWithPath: t.paths.audit))
        #expect(audit.isValid, "\(String(describing: audit.problem))")
        let export = try #require(audit.records.last { $0.eventID == .export })
        let transaction = try #require(export.transaction)
        #expect(audit.records.filter { $0.transaction == transaction }.map(\.eventID) == [.import, .dicomInstancesAccessed, .export])
        let reportObject = try #require(export.participantObject.first { $0.typeCodeRole == 3 })
        #expect(reportObject.id == report)
        #expect(reportObject.detail["sha256"] == (try Self.sha256(report)))
        let inputObject = try #require(export.participantObject.first { $0.typeCodeRole == 4 })
        #expect(inputObject.detail["sha256"] == AuditChain.sha256(bytes))

        // The same bytes again: archived as a duplicate of that report, with a note; no second report.
        guard case let .duplicate(of) = session.processor.process(try t.drop("copy.dcm", bytes)) else {
            Issue.record("not a duplicate")
            return
        }
        #expect(of == report)
        #expect(t.files(in: t.paths.reports).count == 1)
        #expect(t.files(in: t.paths.archive).contains { $0.hasSuffix("/copy.dcm.duplicate.txt") })

        // Not an image: to failed/ with a note saying what is wrong.
        guard case .failed = session.processor.process(try t.drop("notes.dcm", Data("not a scan at all".utf8))) else {
            Issue.record("not failed")
            return
        }
        let note = try String(contentsOfFile: t.paths.failed + "/notes.dcm.error.txt", encoding: .utf8)
        #expect(note.contains("not a DICOM, PNG or JPEG"), "\(note)")
        #expect(try AuditReader.verify(URL(fileURLWithPath: t.paths.audit)).isValid)
    }

    /// A crash journal written by the version before `PendingAction` became an enum is finished by the
    /// new one: a report action (report written, input not yet archived) and a failed one.
    @Test func anOldFormatJournalIsFinished() throws {
        let t = try TemporaryInbox("processor-old-journal")
        let session = try Self.prepare(t)
        let input = try t.drop("old.png", Inputs.png(4242)).path
        let bad = try t.drop("bad.dcm", Data("garbage".utf8)).path
        let report = t.paths.reports + "/old.png.pdf"
        try Data("%PDF-1.4 written before the crash".utf8).write(to: URL(fileURLWithPath: report))
        let sha = try Self.sha256(input)
        func identity(_ path: String) -> (size: Int, device: UInt64, inode: UInt64) {
            var st = stat()
            lstat(path, &st)
            return (Int(st.st_size), UInt64(st.st_dev), UInt64(st.st_ino))
        }
        let (size, device, inode) = identity(input)
        let (badSize, badDevice, badInode) = identity(bad)
        let archived = t.paths.archive + "/2026-12-01/old.png", failed = t.paths.failed + "/bad.dcm"
        // Escaped slashes, as the earlier JSONEncoder wrote them.
        func json(_ s: String) -> String { s.replacingOccurrences(of: "/", with: "\\/") }
        let oldReport = """
            {"transaction":"11111111-2222-4333-8444-555555555555","kind":"report","input":"\(json(input))","relative":"old.png","sha256":"\(sha)","size":\(size),"device":\(device),"inode":\(inode),"destination":"\(json(archived))","report":"\(json(report))","result":{"predictedClass":"covid","probabilities":["normal=0.1000","viral=0.1000","covid=0.8000"],"saliency":"class activation map (layer4) of covid","warnings":[]},"model":"test model","modelSHA256":"00ff"}
            """
        let oldFailed = """
            {"transaction":"11111111-2222-4333-8444-666666666666","kind":"failed","input":"\(json(bad))","relative":"bad.dcm","sha256":"","size":\(badSize),"device":\(badDevice),"inode":\(badInode),"destination":"\(json(failed))","notePath":"\(json(failed)).error.txt","note":"CXReview could not process this file.\\n","reason":"it is not a DICOM, PNG or JPEG file","model":"test model","modelSHA256":"00ff"}
            """
        let dead = t.root + "/dead-watcher/pending"
        try FileManager.default.createDirectory(atPath: dead, withIntermediateDirectories: true)
        try Data(oldReport.utf8).write(to: URL(fileURLWithPath: dead + "/11111111-2222-4333-8444-555555555555.json"))
        try Data(oldFailed.utf8).write(to: URL(fileURLWithPath: dead + "/11111111-2222-4333-8444-666666666666.json"))

        #expect(session.processor.recover(from: dead).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: dead).isEmpty)
        #expect(t.files(in: t.paths.inbox).isEmpty)
        #expect(try Self.sha256(archived) == sha)
        #expect(FileManager.default.contents(atPath: failed) == Data("garbage".utf8))
        #expect(FileManager.default.contents(atPath: failed + ".error.txt") == Data("CXReview could not process this file.\n".utf8))
        let audit = try AuditReader.verify(URL(fileURLWithPath: t.paths.audit))
        #expect(audit.isValid)
        #expect(audit.records.filter { $0.transaction == "11111111-2222-4333-8444-555555555555" }.map(\.eventID)
            == [.import, .dicomInstancesAccessed, .export])
        #expect(audit.records.filter { $0.transaction == "11111111-2222-4333-8444-666666666666" }.map(\.eventOutcomeIndicator)
            == [.seriousFailure])
        // The recovered report is known: the same bytes dropped again are a duplicate of it.
        guard case let .duplicate(of) = session.processor.process(try t.drop("again.png", Inputs.png(4242))) else {
            Issue.record("not a duplicate")
            return
        }
        #expect(of == report)
    }
}
