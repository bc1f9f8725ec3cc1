import Audit
import DICOMDecoding
import DICOMResults
import Foundation
import Pipeline
import Testing
@testable import Watcher
#if canImport(Glibc)
import Glibc
#endif

/// The watcher's DICOM results (`--dicom-out`): planned in the crash journal, written with the report,
/// rolled back when a crash cuts them short, and queued for the sender.
@Suite(.serialized) struct DICOMOutputTests {
    static let root = "1.2.826.0.1.3680043.10.1234"

    static func inbox(_ name: String, send: Bool = false) throws -> TemporaryInbox {
        let t = try TemporaryInbox(name)
        t.settings.dicomOut = t.root + "/dicom"
        t.settings.uidRoot = root
        if send {
            t.settings.sendTo = WatchSettings.HostPort(host: "127.0.0.1", port: 11112)
            t.settings.calledAE = "PACS"
        }
        return t
    }

    @Test func aDICOMScanGetsThreeObjectsInItsStudyAndTheAuditNamesThem() throws {
        let t = try Self.inbox("dicom-out")
        let session = try ScanProcessorTests.prepare(t)
        let bytes = try ScanProcessorTests.sample("cr-mono1-chest-no-meta.dcm")
        let job = try t.drop("chest.dcm", bytes)
        let study = try #require(try DICOMDecoder().decode(contentsOf: URL(fileURLWithPath: job.path)).metadata.studyInstanceUID)
        guard case .reported = session.processor.process(job) else {
            Issue.record("not reported")
            return
        }
        let files = t.files(in: t.root + "/dicom")
        #expect(files.count == 3, "\(files)")
        for name in files {
            #expect(name.hasPrefix(Self.root + ".") && name.hasSuffix(".dcm"))
            let data = try Data(contentsOf: URL(fileURLWithPath: t.root + "/dicom/" + name))
            #expect(data.count > 132 && data[128..<132] == Data("DICM".utf8))
            #expect(data.range(of: Data(study.utf8)) != nil, "\(name) is not in the source's study")
        }
        let audit = try AuditReader.verify(URL(fileURLWithPath: t.paths.audit))
        #expect(audit.isValid)
        let export = try #require(audit.records.last { $0.eventID == .export })
        let objects = export.participantObject.filter { $0.detail["sopInstanceUID"] != nil && $0.typeCodeRole == 3 && $0.detail["object"] != nil }
        #expect(Set(objects.map { $0.detail["sopInstanceUID"]! + ".dcm" }) == Set(files))
        for o in objects { #expect(o.detail["sha256"] == (try ScanProcessorTests.sha256(o.id))) }
        #expect(export.eventOutcomeDescription?.contains("DICOM results written") == true)
        #expect(Journal.load(in: session.processor.journal.folder).isEmpty)

        // A PNG belongs to no study: a report, no DICOM results.
        guard case .reported = session.processor.process(try t.drop("export.png", try Inputs.png(77))) else {
            Issue.record("PNG not reported")
            return
        }
        #expect(t.files(in: t.root + "/dicom").count == 3)
    }

    /// A crash after the report and one DICOM object: the restart removes both (they carry the journal's
    /// planned names), and the scan is processed again as a new transaction with new UIDs: one set in the end.
    @Test func anInterruptedTransactionIsRolledBackAndRedone() throws {
        let t = try Self.inbox("dicom-rollback")
        let session = try ScanProcessorTests.prepare(t)
        let job = try t.drop("chest.dcm", try ScanProcessorTests.sample("cr-mono1-chest-no-meta.dcm"))
        let writer = try DICOMResultWriter(directory: URL(fileURLWithPath: t.root + "/dicom"), uidRoot: Self.root)
        guard case var .report(a) = reportAction(input: job.path, relative: job.relative, destination: t.paths.archive + "/chest.dcm",
                                                 report: t.paths.reports + "/chest.pdf") else { return }
        a.dicom = DICOMOutputs(folder: writer.directory.path, plan: writer.plan(), send: false)
        let action = PendingAction.report(a)
        try Data("%PDF-1.5 cut short".utf8).write(to: URL(fileURLWithPath: a.report))
        try Data("DICOM cut short".utf8).write(to: URL(fileURLWithPath: a.dicom!.files[0]))
        let folder = t.paths.state + "/watchers/dead/pending"
        try Journal(folder: folder).save(action)

        let left = session.processor.recover(from: folder)
        #expect(left.isEmpty)
        #expect(!FileMove.exists(a.report) && !FileMove.exists(a.dicom!.files[0]))
        #expect(Journal.load(in: folder).isEmpty)
        #expect(FileMove.exists(job.path), "the input must stay in the inbox")

        guard case .reported = session.processor.process(job) else {
            Issue.record("not reported")
            return
        }
        let files = t.files(in: t.root + "/dicom")
        #expect(files.count == 3)
        #expect(Set(files).isDisjoint(with: a.dicom!.files.map { ($0 as NSString).lastPathComponent }), "new UIDs, not the rolled-back ones")
    }

    /// With --send-to, completing the action queues its three files once, however often it is completed.
    @Test func completedResultsAreQueuedForSendingOnce() throws {
        let t = try Self.inbox("dicom-outbox", send: true)
        let session = try ScanProcessorTests.prepare(t)
        guard case .reported = session.processor.process(try t.drop("chest.dcm", try ScanProcessorTests.sample("cr-mono1-chest-no-meta.dcm"))) else {
            Issue.record("not reported")
            return
        }
        let outbox = try #require(session.processor.outbox)
        let queued = outbox.pending()
        #expect(queued.count == 1)
        let entry = try #require(queued.first)
        #expect(Set(entry.files.map { ($0 as NSString).lastPathComponent }) == Set(t.files(in: t.root + "/dicom")))
        #expect(entry.sent.isEmpty && entry.relative == "chest.dcm")
        try outbox.enqueue(entry)
        #expect(outbox.pending().count == 1)
        var done = entry
        done.sent = entry.files
        try outbox.finish(done)
        #expect(outbox.pending().isEmpty)
        try outbox.enqueue(entry)
        #expect(outbox.pending().isEmpty, "a transaction sent before is not queued again")
    }

    @Test func settingsThatDoNotFitAreRefusedWithWhatToDo() throws {
        var s = WatchSettings()
        s.sendTo = WatchSettings.HostPort(host: "pacs", port: 104)
        #expect(s.dicomProblem?.contains("--dicom-out") == true)
        s.dicomOut = "/tmp/x"
        #expect(s.dicomProblem?.contains("--called-ae") == true)
        s.calledAE = "A-TITLE-LONGER-THAN-16"
        #expect(s.dicomProblem?.contains("1 to 16") == true)
        s.calledAE = "PACS"
        #expect(s.dicomProblem == nil)
        #expect(WatchSettings.hostPort("pacs.example.org:104") == .init(host: "pacs.example.org", port: 104))
        #expect(WatchSettings.hostPort("[::1]:11112") == .init(host: "::1", port: 11112))
        #expect(WatchSettings.hostPort("pacs") == nil && WatchSettings.hostPort("pacs:0") == nil)
    }
}
