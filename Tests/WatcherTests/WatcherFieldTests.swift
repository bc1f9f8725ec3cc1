import Audit
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// The field trial's findings (issue 14), each on the real `cxreview watch` process.
@Suite(.serialized) struct WatcherFieldTests {
    /// Three watchers on one inbox, each with its own audit log: every file is claimed by exactly one of
    /// them, so each scan gets exactly one report, and no watcher warns about another's work.
    @Test func threeWatchersOnOneInboxReportEachScanOnce() throws {
        let w = try WatchFolder("three")
        let count = 60
        let staging = w.root.appendingPathComponent("staging")
        try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
        for i in 0..<count {
            let url = staging.appendingPathComponent(String(format: "scan-%03d.dcm", i))
            try Inputs.dicom(2000 + i).write(to: url)
            w.giveToWatcher(url.path)
        }
        let audits = (1...3).map { w.root.appendingPathComponent("audit-\($0).jsonl") }
        let watchers = try audits.map { try w.start(["--settle", "0.3", "--audit", $0.path]) }
        defer { for watch in watchers { _ = watch.waitForExit(upTo: 0) } }
        for watch in watchers { #expect(watch.waitUntilWatching(), "\(watch.output)") }

        // Moved in, as the field trial did (a rename into the inbox).
        for i in 0..<count {
            let name = String(format: "scan-%03d.dcm", i)
            #expect(rename(staging.appendingPathComponent(name).path, w.inbox.appendingPathComponent(name).path) == 0)
        }
        let done = w.wait(upTo: 900) { w.waiting.isEmpty && w.files(in: w.archive).count == count }
        for watch in watchers { watch.signal(SIGTERM) }
        for watch in watchers { #expect(watch.waitForExit(upTo: 60) == 0, "\(watch.output.suffix(1500))") }
        #expect(done, "left: \(w.waiting.prefix(5)); archived \(w.files(in: w.archive).count)")

        #expect(w.files(in: w.reports).count == count, "\(w.files(in: w.reports).count) reports for \(count) scans")
        var seen: [String: Int] = [:]
        var perWatcher: [Int] = []
        for log in audits {
            let v = try AuditReader.verify(log)
            #expect(v.isValid, "\(log.lastPathComponent): \(String(describing: v.problem))")
            let exports = v.records.filter { $0.eventID == .export }
            perWatcher.append(exports.count)
            for e in exports {
                if let sha = e.participantObject.first(where: { $0.typeCodeRole == 4 })?.detail["sha256"] { seen[sha, default: 0] += 1 }
            }
        }
        #expect(seen.count == count && seen.values.allSatisfy { $0 == 1 }, "reports per scan: \(seen.values.sorted().suffix(3))")
        print("3 watchers, \(count) files: reports per watcher \(perWatcher)")
        for (i, watch) in watchers.enumerated() {
            // The test model's own warning (it is untrained) is not about the watchers.
            let warnings = watch.warnings.filter { !$0.contains("is not a trained model") && !$0.contains("running as root") }
            #expect(warnings.isEmpty, "watcher \(i + 1) warned:\n\(warnings.prefix(5).joined(separator: "\n"))")
        }
        // The second watcher on the default audit log is refused with the set-up that works.
        let second = try w.start(["--settle", "0.3"])
        let first = try w.start(["--settle", "0.3"])
        defer { second.signal(SIGTERM); first.signal(SIGTERM); _ = second.waitForExit(upTo: 30); _ = first.waitForExit(upTo: 30) }
        _ = w.wait(upTo: 120) { !second.process.isRunning || !first.process.isRunning }
        let refused = second.process.isRunning ? first : second
        #expect(refused.output.contains("each file is claimed by exactly one of them"), "\(refused.output)")
        #expect(refused.output.contains("its own --audit"))
    }

    /// The same bytes reaching another watcher of the inbox (with its own audit log) are still a duplicate.
    @Test func aDuplicateIsRecognisedByAnotherWatcher() throws {
        let w = try WatchFolder("dup")
        let data = try Inputs.dicom(2900)
        try w.drop("first.dcm", data)
        let a = try w.start(["--settle", "0", "--once", "--audit", w.root.appendingPathComponent("audit-a.jsonl").path])
        #expect(a.waitForExit(upTo: 120) == 0, "\(a.output)")
        try w.drop("again/copy.dcm", data)
        let b = try w.start(["--settle", "0", "--once", "--audit", w.root.appendingPathComponent("audit-b.jsonl").path])
        #expect(b.waitForExit(upTo: 120) == 0, "\(b.output)")
        #expect(w.files(in: w.reports).count == 1, "\(w.files(in: w.reports))")
        #expect(w.files(in: w.archive).contains { $0.hasSuffix("again/copy.dcm.duplicate.txt") }, "\(w.files(in: w.archive))")
        #expect(b.output.contains("duplicate again/copy.dcm"))
    }

    /// An audit log in the inbox's parent folder (as templates/watch.yaml suggests) and reports in a
    /// sibling folder: files are still found at once by inotify, not by the 60 s rescan.
    @Test func anAuditLogBesideTheInboxKeepsTheLatency() throws {
        let w = try WatchFolder("beside")
        let watch = try w.start(["--settle", "0.3", "--audit", w.root.appendingPathComponent("audit.jsonl").path])
        defer { _ = watch.waitForExit(upTo: 0) }
        #expect(watch.waitUntilWatching(), "\(watch.output)")
        let dropped = Date()
        try w.drop("scan.dcm", Inputs.dicom(2100))
        try w.drop("sub/scan.png", Inputs.png(2100))
        let found = w.wait(upTo: 25) { w.files(in: w.reports).count == 2 }
        let seconds = Date().timeIntervalSince(dropped)
        watch.signal(SIGTERM)
        #expect(watch.waitForExit(upTo: 30) == 0)
        #expect(found, "not reported within 25 s (the 60 s rescan would have found them):\n\(watch.output)")
        print("audit log beside the inbox: 2 files reported \(String(format: "%.1f", seconds)) s after the drop")

        // Reports into the inbox itself would be taken as new scans: refused.
        let same = try Tool.run(WatchFolder.executable, ["watch", w.inbox.path, "--out", w.inbox.path, "--model", w.model, "--once"])
        #expect(same.status != 0)
        #expect(same.stderr.contains("--out is the inbox itself"), "\(same.stderr)")
    }

    /// The latency counts from the file's arrival: files that waited before the watcher started show it.
    @Test func dropToReportCountsFromArrival() throws {
        let w = try WatchFolder("arrival")
        for i in 0..<3 { try w.drop("scan-\(i).dcm", Inputs.dicom(2200 + i)) }
        // By the clock: sleep(5) returns early when a signal (another test's child exiting) arrives.
        let until = Date().addingTimeInterval(5)
        while Date() < until { usleep(50_000) }
        let run = try w.start(["--settle", "0", "--once"])
        #expect(run.waitForExit(upTo: 180) == 0, "\(run.output)")
        let line = try #require(run.output.split(separator: "\n").last { $0.contains("median drop-to-report") })
        let value = line.split(separator: " ").last { Double($0) != nil }.flatMap { Double($0) } ?? -1
        #expect(value >= 5, "the files waited 5 s before the watcher started, yet: \(line)")
    }

    /// A writer that pauses longer than --grace: the half file goes to failed/; once the writer goes on
    /// writing into it there, it is moved back into the inbox and reported.
    @Test func aFileInFailedThatChangesIsTakenBack() throws {
        let w = try WatchFolder("pause")
        let watch = try w.start(["--settle", "0.3", "--grace", "1"])
        defer { _ = watch.waitForExit(upTo: 0) }
        #expect(watch.waitUntilWatching(), "\(watch.output)")
        let data = try Inputs.dicom(2300)
        let url = w.inbox.appendingPathComponent("stalled.dcm")
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        w.giveToWatcher(url.path)
        let handle = try FileHandle(forWritingTo: url)
        try handle.write(contentsOf: data.prefix(data.count / 2))
        try handle.synchronize()
        let failedCopy = w.failed.appendingPathComponent("stalled.dcm")
        #expect(w.wait(upTo: 60) { FileManager.default.fileExists(atPath: failedCopy.path) }, "\(watch.output)")
        // The writer resumes: its descriptor now writes into the file in failed/.
        try handle.write(contentsOf: data.suffix(from: data.count / 2))
        try handle.close()
        let reported = w.wait(upTo: 60) { w.files(in: w.reports).count == 1 }
        watch.signal(SIGTERM)
        #expect(watch.waitForExit(upTo: 30) == 0)
        #expect(reported, "the completed scan was never reported:\n\(watch.output.suffix(2000))")
        #expect(!FileManager.default.fileExists(atPath: failedCopy.path))
        let archived = w.files(in: w.archive)
        #expect(archived.count == 1)
        if let a = archived.first { #expect(try Data(contentsOf: w.archive.appendingPathComponent(a)) == data) }
        #expect(watch.output.contains("changed after it was set aside"))
        let audit = try w.audit()
        #expect(audit.isValid)
        #expect(audit.records.contains { $0.eventOutcomeDescription?.contains("changed after it was set aside") == true })
    }

    /// Stopped with files queued: the status says they are waiting (in the inbox), as the audit does.
    @Test func aStopWithFilesQueuedSaysWhatTheAuditSays() throws {
        let w = try WatchFolder("queued")
        for i in 0..<14 { try w.drop("scan-\(i).dcm", Inputs.dicom(2400 + i)) }
        let watch = try w.start(["--settle", "0", "--workers", "1"])
        defer { _ = watch.waitForExit(upTo: 0) }
        #expect(w.wait(upTo: 120) { !w.files(in: w.archive).isEmpty }, "\(watch.output)")
        watch.signal(SIGINT)
        #expect(watch.waitForExit(upTo: 60) == 0)
        let line = try #require(watch.output.split(separator: "\n").last { $0.contains("stopping on signal") }.map(String.init))
        let stop = try #require(try w.audit().records.last { $0.eventTypeCode == [.applicationStop] })
        let left = w.waiting.count
        #expect(left > 0, "all were done before the stop; the test needs files left")
        #expect(line.contains("0 in progress, \(left) waiting"), "\(line)")
        #expect(stop.eventOutcomeDescription?.contains("\(left) left in the inbox") == true, "\(stop.eventOutcomeDescription ?? "")")
    }

    /// A read-only inbox: the report is written, the status counts it (and says it is not archived),
    /// and the watcher warns at start.
    @Test func aReadOnlyInboxCountsTheReportItWrote() throws {
        try #require(WatchFolder.runsAsRoot, "needs root to make the inbox read-only for the watcher's user")
        let w = try WatchFolder("readonly-inbox")
        try w.drop("scan.dcm", Inputs.dicom(2500))
        let state = w.inbox.appendingPathComponent(".cxreview")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        w.giveToWatcher(state.path)
        chmod(w.inbox.path, 0o555)
        defer { chmod(w.inbox.path, 0o755) }
        let watch = try w.start(["--settle", "0", "--status-every", "1", "--retry", "30"])
        defer { _ = watch.waitForExit(upTo: 0) }
        #expect(w.wait(upTo: 120) { w.files(in: w.reports).count == 1 }, "\(watch.output)")
        let counted = w.wait(upTo: 10) { watch.output.contains("status: 1 reported (1 not yet archived)") }
        watch.signal(SIGTERM)
        #expect(watch.waitForExit(upTo: 30) == 0)
        #expect(counted, "\(watch.output.suffix(1500))")
        #expect(watch.output.contains("is not writable by this user"))
        #expect(w.waiting == ["scan.dcm"])
    }

    /// Run as root, the watcher says it should not be.
    @Test func runningAsRootIsWarned() throws {
        let w = try WatchFolder("root")
        let run = try Tool.run(WatchFolder.executable, ["watch", w.inbox.path, "--out", w.reports.path, "--model", w.model, "--once"])
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("running as root") == (geteuid() == 0), "\(run.stderr)")
    }

    /// The audit record of a report carries every warning the report shows: a CT slice is out of
    /// scope, and the audit says so (it said only "out of distribution", when that was flagged).
    @Test func theAuditRecordCarriesTheReportsWarnings() throws {
        let w = try WatchFolder("warnings")
        try w.drop("ct/CT_small.dcm", try Inputs.fixture("dicom/CT_small.dcm"))
        let watch = try w.start(["--settle", "0", "--once"])
        #expect(watch.waitForExit(upTo: 180) == 0, "\(watch.output)")
        #expect(w.files(in: w.reports).count == 1)
        let audit = try w.audit()
        #expect(audit.isValid)
        let described = audit.records.compactMap(\.eventOutcomeDescription)
        #expect(described.contains { $0.contains("out_of_scope") && $0.contains("Modality CT") }, "\(described)")
    }

    /// Subfolders emptied by archiving are removed once idle; the inbox and the watcher's folders stay.
    @Test func emptiedSubfoldersAreRemoved() throws {
        let w = try WatchFolder("empty")
        let watch = try w.start(["--settle", "0.3"])
        defer { _ = watch.waitForExit(upTo: 0) }
        #expect(watch.waitUntilWatching(), "\(watch.output)")
        try w.drop("study/series/scan.dcm", Inputs.dicom(2600))
        w.giveToWatcher(w.inbox.appendingPathComponent("study").path)  // as a user's folder would be: the watcher may remove it
        try w.drop("keep/scan.png", Inputs.png(2600))
        try w.drop("keep/upload.dcm.part", Data([1, 2, 3]))
        #expect(w.wait(upTo: 60) { w.files(in: w.archive).count == 2 }, "\(watch.output)")
        let removed = w.wait(upTo: 40) { !FileManager.default.fileExists(atPath: w.inbox.appendingPathComponent("study").path) }
        watch.signal(SIGTERM)
        #expect(watch.waitForExit(upTo: 30) == 0)
        #expect(removed, "\((try? FileManager.default.contentsOfDirectory(atPath: w.inbox.path)) ?? [])")
        #expect(FileManager.default.fileExists(atPath: w.inbox.appendingPathComponent("keep/upload.dcm.part").path))
        #expect(FileManager.default.fileExists(atPath: w.archive.path))
    }

    /// The crash journal: a file that stops the process (the test hook aborts on it, as a decoder crash
    /// would) is retried once after a restart, then set aside in failed/ with an audit record; the
    /// watcher then runs on.
    @Test func aFileThatCrashesTheWatcherIsRetriedOnceThenSetAside() throws {
        let w = try WatchFolder("crash")
        try w.drop("crash-me.dcm", Inputs.dicom(2700))
        try w.drop("zz-fine.dcm", Inputs.dicom(2701))
        let hook = ["CXR_TEST_CRASH_ON": "crash-me"]
        for run in 1...2 {
            let watch = try w.start(["--settle", "0", "--once"], environment: hook)
            let status = watch.waitForExit(upTo: 180)
            #expect(status != nil && status != 0, "run \(run) should have been stopped by the file: \(watch.output)")
            #expect(w.files(in: w.failed).isEmpty, "run \(run): set aside too early")
        }
        let last = try w.start(["--settle", "0", "--once"], environment: hook)
        #expect(last.waitForExit(upTo: 180) == 0, "\(last.output)")
        #expect(w.waiting.isEmpty)
        #expect(w.files(in: w.failed) == ["crash-me.dcm", "crash-me.dcm.error.txt"])
        let note = (try? String(contentsOf: w.failed.appendingPathComponent("crash-me.dcm.error.txt"), encoding: .utf8)) ?? ""
        #expect(note.contains("stopped the decoder"), "\(note)")
        #expect(w.files(in: w.reports).count == 1)
        let audit = try w.audit()
        #expect(audit.isValid)
        #expect(audit.records.contains { $0.eventOutcomeIndicator == .seriousFailure && $0.eventOutcomeDescription?.contains("stopped the decoder") == true })
        let claims = (try? FileManager.default.contentsOfDirectory(atPath: w.inbox.appendingPathComponent(".cxreview/claims").path)) ?? []
        #expect(claims.isEmpty, "claims left: \(claims)")
    }

    /// A watcher on another host whose lock looks free here (a share mounted with local-only locks) is
    /// left alone while its heartbeat is fresh; once it has been silent for minutes its file is taken over.
    @Test func aWatcherOnAnotherHostIsTakenOverOnlyOnceSilent() throws {
        let w = try WatchFolder("otherhost")
        let input = try w.drop("scan.dcm", Inputs.dicom(2800))
        var st = stat()
        try #require(lstat(input.path, &st) == 0)
        let state = w.inbox.appendingPathComponent(".cxreview")
        let other = state.appendingPathComponent("watchers/far-away-host-4242-beef")
        try FileManager.default.createDirectory(at: other.appendingPathComponent("pending"), withIntermediateDirectories: true)
        let lock = other.appendingPathComponent("lock")
        _ = FileManager.default.createFile(atPath: lock.path, contents: nil)
        let claims = state.appendingPathComponent("claims")
        try FileManager.default.createDirectory(at: claims, withIntermediateDirectories: true)
        let claim = #"{"owner":"far-away-host-4242-beef","relative":"scan.dcm","inode":\#(st.st_ino),"size":\#(st.st_size),"crashes":0,"inHand":true,"since":"2026-12-05T00:00:00.000Z"}"#
        try Data(claim.utf8).write(to: claims.appendingPathComponent(AuditChain.sha256(Data("scan.dcm".utf8)) + ".json"))
        _ = try Tool.run("chown", ["-R", WatchFolder.runsAsRoot ? "65534:65534" : "\(geteuid())", state.path])

        let watch = try w.start(["--settle", "0"])
        defer { _ = watch.waitForExit(upTo: 0) }
        #expect(watch.waitUntilWatching(), "\(watch.output)")
        sleep(5)
        #expect(w.files(in: w.reports).isEmpty, "a live watcher's file was taken over:\n\(watch.output)")
        #expect(w.waiting == ["scan.dcm"])

        var old = [timespec(tv_sec: time(nil) - 600, tv_nsec: 0), timespec(tv_sec: time(nil) - 600, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, lock.path, &old, 0) == 0)
        let taken = w.wait(upTo: 60) { w.files(in: w.reports).count == 1 }
        watch.signal(SIGTERM)
        #expect(watch.waitForExit(upTo: 30) == 0)
        #expect(taken, "\(watch.output)")
        #expect(watch.output.contains("taking over scan.dcm"))
        #expect(!FileManager.default.fileExists(atPath: other.path))
        #expect(try w.audit().isValid)
    }

    /// A rotated audit log stays verifiable across files: the old file verifies alone (with its head),
    /// and the new log's first record names it, its SHA-256 and its last hash.
    @Test func aRotatedAuditLogIsVerifiableAcrossFiles() throws {
        let w = try WatchFolder("rotate")
        try w.drop("scan-1.dcm", Inputs.dicom(3000))
        let first = try w.start(["--settle", "0", "--once"])
        #expect(first.waitForExit(upTo: 120) == 0, "\(first.output)")
        let before = try w.cxreview(["audit", "verify", w.auditLog.path])
        let lastHash = try #require(before.stdout.components(separatedBy: "last hash ").last?.trimmingCharacters(in: .whitespacesAndNewlines))
        let oldBytes = try Data(contentsOf: w.auditLog)

        try w.drop("scan-2.dcm", Inputs.dicom(3001))
        let second = try w.start(["--settle", "0", "--once", "--audit-rotate-mb", "0.000001"])
        #expect(second.waitForExit(upTo: 120) == 0, "\(second.output)")
        let folder = w.auditLog.deletingLastPathComponent()
        let rotated = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix("audit-") && $0.hasSuffix(".jsonl") }
        try #require(rotated.count == 1, "\((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? [])")
        let old = folder.appendingPathComponent(rotated[0])
        #expect(try Data(contentsOf: old) == oldBytes)
        #expect(FileManager.default.fileExists(atPath: old.path + ".head"))
        #expect(try w.cxreview(["audit", "verify", old.path]).stdout.contains("last hash \(lastHash)"))

        let new = try w.audit()
        #expect(new.isValid, "\(String(describing: new.problem))")
        let link = try #require(new.records.first)
        #expect(link.eventTypeCode == [.auditRecordingStarted])
        let object = try #require(link.participantObject.first)
        #expect(object.id == old.path)
        #expect(object.detail["lastHash"] == lastHash)
        #expect(object.detail["sha256"] == AuditChain.sha256(oldBytes))
        #expect(new.records.filter { $0.eventID == .export }.count == 1)
        #expect(try w.cxreview(["audit", "verify", w.auditLog.path]).status == 0)
    }

    /// `--queue` is accepted, and the help says that the inbox and --out are required (or in --config).
    @Test func theHelpTellsTheTruth() throws {
        let w = try WatchFolder("help")
        let help = try w.cxreview(["watch", "--help"])
        let text = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(text.contains("USAGE: cxreview watch <inbox> --out <out> [<options>]"), "\(help.stdout)")
        #expect(text.contains("The drop folder (subfolders included). Required: here, or as inbox: in --config."))
        #expect(text.contains("Folder for the reports. Required: here, or as out: in --config."))
        #expect(text.contains("--queue <queue>"))
        let run = try Tool.run(WatchFolder.executable, ["watch", w.inbox.path, "--out", w.reports.path, "--model", w.model, "--once", "--queue", "4"])
        #expect(run.status == 0, "\(run.stderr)")
    }
}
