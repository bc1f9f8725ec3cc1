import Foundation
import Testing
@testable import Watcher
#if canImport(Glibc)
import Glibc
#endif

/// The crash journal: what is written is read back, leftovers of a cut write are handled, and recovery
/// finishes, drops or keeps each action as the crash left it.
@Suite struct JournalTests {
    @Test func actionsOfEveryKindAreReadBackAsWritten() throws {
        let t = try TemporaryInbox("journal")
        let input = try t.drop("a.dcm", Data("scan".utf8)).path
        let journal = Journal(folder: t.root + "/pending")
        let failed = failedAction(input: input, relative: "a.dcm", destination: t.paths.failed + "/a.dcm")
        let report = reportAction(input: input, relative: "a.dcm", destination: t.paths.archive + "/a.dcm", report: t.paths.reports + "/a.pdf")
        let duplicate = PendingAction.duplicate(DuplicateAction(
            fields: report.fields.with(transaction: "d-1"), notePath: t.paths.archive + "/a.dcm.duplicate.txt", note: "same\n",
            earlierReport: t.paths.reports + "/first.pdf"))
        for action in [failed, report, duplicate] { try journal.save(action) }

        let loaded = Journal.load(in: journal.folder)
        #expect(loaded.count == 3)
        for action in [failed, report, duplicate] {
            let back = try #require(loaded.first { $0.transaction == action.transaction })
            #expect(back == action)
        }
        journal.remove(report)
        #expect(Set(Journal.load(in: journal.folder).map(\.transaction)) == [failed.transaction, duplicate.transaction])
    }

    /// A write cut before its rename was never acted on: it goes. A file that does not decode is set
    /// aside, not acted on and not lost.
    @Test func leftoversOfACutWriteAreHandled() throws {
        let t = try TemporaryInbox("journal-leftovers")
        let folder = t.root + "/pending"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data("{\"transaction\":".utf8).write(to: URL(fileURLWithPath: folder + "/cut.json.tmp"))
        try Data("{\"kind\":\"report\"}".utf8).write(to: URL(fileURLWithPath: folder + "/bad.json"))
        #expect(Journal.load(in: folder).isEmpty)
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted() == ["bad.json.unreadable"])
    }

    /// A journal left by the version before the enum (a watcher killed just before an upgrade) is loaded.
    @Test func anOldFormatFileIsLoaded() throws {
        let t = try TemporaryInbox("journal-old")
        let folder = t.root + "/pending"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try Data(PendingActionTests.oldFailed.utf8).write(to: URL(fileURLWithPath: folder + "/7a1d2e3f-0000-4000-8000-000000000001.json"))
        let loaded = Journal.load(in: folder)
        guard case let .failed(a)? = loaded.first else { Issue.record("not loaded: \(loaded)"); return }
        #expect(a.reason == "it is not a DICOM, PNG or JPEG file")
    }

    @Test func recoveryFinishesDropsOrKeepsEachAction() throws {
        let t = try TemporaryInbox("journal-recover")
        let journal = Journal(folder: t.root + "/mine")
        let dead = t.root + "/dead"
        // Cut before its report was written: nothing visible happened, so it is dropped and the input taken again.
        let unwritten = reportAction(input: try t.drop("a.dcm", Data("a".utf8)).path, relative: "a.dcm",
                                     destination: t.paths.archive + "/a.dcm", report: t.paths.reports + "/a.pdf")
        // Its report is written: it is finished.
        let written = reportAction(input: try t.drop("b.dcm", Data("b".utf8)).path, relative: "b.dcm",
                                   destination: t.paths.archive + "/b.dcm", report: t.paths.reports + "/b.pdf")
        try FileManager.default.createDirectory(atPath: t.paths.reports, withIntermediateDirectories: true)
        try Data("%PDF".utf8).write(to: URL(fileURLWithPath: t.paths.reports + "/b.pdf"))
        // Cannot be finished now: kept, to retry.
        let stuck = failedAction(input: try t.drop("c.dcm", Data("c".utf8)).path, relative: "c.dcm", destination: t.paths.failed + "/c.dcm")
        let deadJournal = Journal(folder: dead)
        for action in [unwritten, written, stuck] { try deadJournal.save(action) }

        var finished: [String] = []
        let left = journal.recover(from: dead, logger: TemporaryInbox.quiet) { (action) throws(ActionFailure) in
            if action.transaction == stuck.transaction { throw ActionFailure(description: "the disk is full") }
            finished.append(action.transaction)
        }
        #expect(finished == [written.transaction])
        #expect(left.map(\.transaction) == [stuck.transaction])
        #expect(journal.unfinished(for: stuck.input)?.transaction == stuck.transaction)
        #expect(journal.unfinished(for: written.input) == nil)
        // The stuck action stays on disk (the caller moves it to its own folder); the others are gone.
        #expect(Journal.load(in: dead).map(\.transaction) == [stuck.transaction])
    }
}

extension ActionFields {
    func with(transaction: String) -> ActionFields {
        var f = self
        f.transaction = transaction
        return f
    }
}

