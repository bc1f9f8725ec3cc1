import Audit
import Foundation
import Pipeline
import ServiceLifecycle
import Testing
@testable import Watcher

/// The watcher's services run in process by a `ServiceGroup`, as `cxreview watch` runs them.
@Suite(.serialized) struct WatchSessionTests {
    static func stopRecord(_ t: TemporaryInbox) throws -> AuditRecord? {
        try AuditReader.verify(URL(fileURLWithPath: t.paths.audit)).records.last { $0.eventTypeCode == [.applicationStop] }
    }

    /// `--once`: the group ends by itself when the inbox is done.
    @Test func withOnceTheGroupEndsWhenTheInboxIsDone() async throws {
        let t = try TemporaryInbox("session-once")
        t.settings.once = true
        for i in 0..<3 { try t.drop("scan-\(i).png", Inputs.png(7000 + i)) }
        try t.drop("broken.dcm", Data("not a scan".utf8))
        let session = try WatchService.prepare(t.settings, loader: ScanLoader(), logger: TemporaryInbox.quiet)

        let code = try await session.run(session.serviceGroup(stopOnSignals: false))
        #expect(code == 0)
        #expect(t.files(in: t.paths.inbox).isEmpty)
        #expect(t.files(in: t.paths.reports).count == 3)
        #expect(t.files(in: t.paths.archive).count == 3)
        #expect(t.files(in: t.paths.failed) == ["broken.dcm", "broken.dcm.error.txt"])
        let stop = try #require(try Self.stopRecord(t))
        #expect(stop.eventOutcomeDescription?.contains("(--once done): 3 reported, 1 failed, 0 duplicates, 0 left in the inbox") == true,
                "\(stop.eventOutcomeDescription ?? "")")
        #expect(try AuditReader.verify(URL(fileURLWithPath: t.paths.audit)).isValid)
    }

    /// A graceful shutdown mid-run: the file in hand is finished, queued files stay in the inbox, and
    /// the stop record counts them.
    @Test func aGracefulShutdownFinishesTheFileInHand() async throws {
        let t = try TemporaryInbox("session-stop")
        t.settings.workers = 1
        let count = 8
        for i in 0..<count { try t.drop("scan-\(i).png", Inputs.png(8000 + i)) }
        let session = try WatchService.prepare(t.settings, loader: ScanLoader(), logger: TemporaryInbox.quiet)
        let group = session.serviceGroup(stopOnSignals: false)
        let running = Task { try await session.run(group) }

        let deadline = Date().addingTimeInterval(120)
        while t.files(in: t.paths.reports).isEmpty, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
        await group.triggerGracefulShutdown()
        let code = try await running.value

        #expect(code == 0)
        let left = t.files(in: t.paths.inbox).count, reported = t.files(in: t.paths.reports).count
        #expect(left > 0, "all were done before the stop; the test needs files left")
        #expect(reported >= 1 && reported + left == count)
        #expect(t.files(in: t.paths.archive).count == reported)  // nothing half done
        #expect(Journal.load(in: session.processor.journal.folder).isEmpty)
        let stop = try #require(try Self.stopRecord(t))
        #expect(stop.eventOutcomeDescription?.contains("(signal): \(reported) reported, 0 failed, 0 duplicates, \(left) left in the inbox") == true,
                "\(stop.eventOutcomeDescription ?? "")")
    }
}
