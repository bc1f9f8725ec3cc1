import Audit
import Foundation
import Pipeline
import ServiceLifecycle
import Synchronization
import Testing
import XRayCore
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

    /// A graceful shutdown with a file in hand and others queued: the file in hand is finished, the
    /// queued ones stay in the inbox, and the stop record counts them.
    @Test func aGracefulShutdownFinishesTheFileInHand() async throws {
        let t = try TemporaryInbox("session-stop")
        t.settings.workers = 1
        let count = 8
        for i in 0..<count { try t.drop("scan-\(i).png", Inputs.png(8000 + i)) }
        let loader = HeldScanLoader()
        let session = try WatchService.prepare(t.settings, loader: loader, logger: TemporaryInbox.quiet)
        let group = session.serviceGroup(stopOnSignals: false)
        let running = Task { try await session.run(group) }

        try await Self.waitUpTo(120) { loader.isHolding }
        await group.triggerGracefulShutdown()
        try await Self.waitUpTo(120) { session.watcher.queue.isClosed }  // the workers are stopping
        loader.release()
        let code = try await running.value

        #expect(code == 0)
        #expect(t.files(in: t.paths.reports).count == 1)
        #expect(t.files(in: t.paths.archive).count == 1)  // the file in hand, finished
        #expect(t.files(in: t.paths.inbox).count == count - 1)
        #expect(Journal.load(in: session.processor.journal.folder).isEmpty)
        let stop = try #require(try Self.stopRecord(t))
        #expect(stop.eventOutcomeDescription?.contains("(signal): 1 reported, 0 failed, 0 duplicates, \(count - 1) left in the inbox") == true,
                "\(stop.eventOutcomeDescription ?? "")")
    }

    /// Waits (without holding a thread of the cooperative pool) until `condition` holds.
    static func waitUpTo(_ seconds: Double, _ condition: () -> Bool) async throws {
        let deadline = Date().addingTimeInterval(seconds)
        while !condition() {
            try #require(Date() < deadline, "timed out")
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

/// The real `ScanLoader`, holding the first file it is given until `release()`. The test then knows
/// a file is in hand when it stops the group, however busy the machine is (other suites' blocking
/// waits can hold the cooperative pool, and with it the group, for seconds).
final class HeldScanLoader: ScanLoading {
    private let loader = ScanLoader()
    private let first = Atomic<Bool>(true)
    private let holding = Atomic<Bool>(false)
    private let gate = DispatchSemaphore(value: 0)

    var isHolding: Bool { holding.load(ordering: .relaxed) }

    func release() { gate.signal() }

    func load(_ url: URL) throws(PipelineError) -> DecodedScan {
        if first.exchange(false, ordering: .relaxed) {
            holding.store(true, ordering: .relaxed)
            gate.wait()  // on a worker's own thread, not the cooperative pool
        }
        return try loader.load(url)
    }
}
