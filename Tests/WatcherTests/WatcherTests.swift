import Audit
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `cxreview watch` as a real process on real files: what the issue asks it to survive.
@Suite(.serialized) struct WatcherTests {
    /// 300 files at once, good and bad: every good one reported and archived, every bad one in failed/
    /// with its reason, counts adding up, the audit log intact, memory bounded.
    @Test func threeHundredMixedFilesDroppedAtOnce() throws {
        let w = try WatchFolder("mixed")
        let watch = try w.start(["--settle", "0.5", "--grace", "0"])
        defer { _ = watch.waitForExit(upTo: 0) }
        usleep(500_000)

        var good: [String] = [], bad: [String: String] = [:]  // name → what its error note must say
        for i in 0..<130 {
            let name = "dicom/scan-\(i).dcm"
            try w.drop(name, Inputs.dicom(i, patientName: "Doe^Jane-\(i)"))
            good.append(name)
        }
        for i in 0..<60 { try w.drop("png/scan-\(i).png", Inputs.png(i)); good.append("png/scan-\(i).png") }
        for i in 0..<50 { try w.drop("jpeg/scan-\(i).jpg", Inputs.jpeg(i)); good.append("jpeg/scan-\(i).jpg") }
        let whole = try Inputs.dicom(9999)
        for i in 0..<12 {
            try w.drop("bad/truncated-\(i).dcm", whole.prefix(whole.count / 2 + i * 100))
            bad["bad/truncated-\(i).dcm"] = "truncated"
        }
        for i in 0..<12 { try w.drop("bad/empty-\(i).dcm", Data()); bad["bad/empty-\(i).dcm"] = "empty" }
        for i in 0..<12 {
            try w.drop("bad/random-\(i).dcm", Inputs.random(5000 + i, seed: i))
            bad["bad/random-\(i).dcm"] = "not a DICOM, PNG or JPEG"
        }
        let jxl = try Inputs.fixture("hostile/ts_jpegxl.dcm")
        for i in 0..<8 { try w.drop("bad/jpegxl-\(i).dcm", jxl); bad["bad/jpegxl-\(i).dcm"] = "JPEG XL" }
        let bomb = try Inputs.fixture("images/bomb_16000x10000.png")
        for i in 0..<8 { try w.drop("bad/bomb-\(i).png", bomb); bad["bad/bomb-\(i).png"] = "decompression bomb" }
        let unreadable = WatchFolder.runsAsRoot || geteuid() != 0
        if unreadable {
            for i in 0..<8 {
                try w.drop("bad/unreadable-\(i).dcm", Inputs.dicom(5000 + i), mode: 0o000)
                bad["bad/unreadable-\(i).dcm"] = "permission denied"
            }
        }
        #expect(good.count + bad.count == 300)

        let finished = w.wait(upTo: 900) { w.waiting.isEmpty }
        let peak = watch.peakMB
        watch.signal(SIGTERM)
        let status = watch.waitForExit(upTo: 60)
        #expect(finished, "files left in the inbox: \(w.waiting.prefix(5))\n\(watch.output.suffix(2000))")
        #expect(status == 0, "the watcher did not stop cleanly on SIGTERM\n\(watch.output.suffix(2000))")
        if let peak { #expect(peak < 1024, "peak memory \(peak) MB") }
        print("300 files: peak memory \(peak ?? -1) MB")

        let reports = w.files(in: w.reports)
        #expect(reports.count == good.count)
        #expect(reports.allSatisfy { $0.hasSuffix(".pdf") && !$0.hasPrefix(".") })
        let archived = w.files(in: w.archive)
        for name in good { #expect(archived.contains { $0.hasSuffix("/" + name) }, "\(name) not archived") }
        let failed = Set(w.files(in: w.failed))
        for (name, reason) in bad {
            #expect(failed.contains(name), "\(name) not in failed/")
            let note = (try? String(contentsOf: w.failed.appendingPathComponent(name + ".error.txt"), encoding: .utf8)) ?? ""
            #expect(note.localizedCaseInsensitiveContains(reason), "\(name).error.txt does not say '\(reason)': \(note)")
        }
        #expect(failed.count == bad.count * 2)

        let audit = try w.audit()
        #expect(audit.isValid, "\(String(describing: audit.problem))")
        let imports = audit.records.filter { $0.eventID == .import }
        #expect(imports.filter { $0.eventOutcomeIndicator == .success }.count == good.count)
        #expect(imports.filter { $0.eventOutcomeIndicator == .seriousFailure }.count == bad.count)
        #expect(audit.records.filter { $0.eventID == .export }.count == good.count)
        #expect(audit.records.last?.eventTypeCode == [.applicationStop])
        // Patient names stay in the reports: never in the audit log or the logs.
        let logText = try String(contentsOf: w.auditLog, encoding: .utf8) + watch.output
        #expect(!logText.contains("Doe^Jane"))
        let verify = try w.cxreview(["audit", "verify", w.inbox.path])
        #expect(verify.status == 0, "\(verify.stdout)")
    }

    /// A file written in chunks, with pauses longer than the settle interval: taken only once it is
    /// complete (until then it does not decode and is young), processed once.
    @Test func aFileWrittenSlowlyIsProcessedOnceComplete() throws {
        let w = try WatchFolder("slow")
        let watch = try w.start(["--settle", "0.5", "--grace", "20"])
        defer { _ = watch.waitForExit(upTo: 0) }
        let data = try Inputs.fixture("dicom/CR-MONO1-10-chest.dcm")
        let url = w.inbox.appendingPathComponent("slow.dcm")
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        w.giveToWatcher(url.path)
        let handle = try FileHandle(forWritingTo: url)
        let chunks = 6
        for i in 0..<chunks {
            let part = data[(data.count * i / chunks)..<(data.count * (i + 1) / chunks)]
            try handle.write(contentsOf: part)
            try handle.synchronize()
            usleep(900_000)  // longer than --settle: the watcher sees a stable, incomplete file
        }
        try handle.close()
        #expect(w.wait(upTo: 60) { w.waiting.isEmpty })
        watch.signal(SIGTERM)
        #expect(watch.waitForExit(upTo: 30) == 0)

        #expect(w.files(in: w.reports).count == 1)
        #expect(w.files(in: w.failed).isEmpty, "\(watch.output)")
        let archived = w.files(in: w.archive)
        #expect(archived.count == 1)
        if let a = archived.first { #expect(try Data(contentsOf: w.archive.appendingPathComponent(a)) == data) }
        let audit = try w.audit()
        #expect(audit.isValid)
        #expect(audit.records.filter { $0.eventID == .import }.count == 1)
    }

    /// kill -9 in the middle of a batch, ten times, restarting each time: nothing lost, nothing
    /// reported twice, no partial report, and the audit log verifies.
    @Test func killNineTenTimesLosesNothing() throws {
        let w = try WatchFolder("kill")
        var inputs: [String: Data] = [:]
        for i in 0..<60 {
            let name = i % 4 == 3 ? "png-\(i).png" : "scan-\(i).dcm"
            let data = i % 4 == 3 ? try Inputs.png(i) : try Inputs.dicom(100 + i)
            try w.drop(name, data)
            inputs[name] = data
        }
        var rng = SystemRandomNumberGenerator()
        for round in 0..<10 {
            // Each run is killed once it has finished a file, at a random moment up to 0.15 s later:
            // mid-batch however fast the machine is (fixed delays let a fast one finish all 60).
            let before = w.files(in: w.archive).count
            let watch = try w.start(["--settle", "0.2", "--grace", "0"])
            _ = w.wait(upTo: 60) { w.files(in: w.archive).count > before }
            usleep(UInt32.random(in: 0...150_000, using: &rng))
            watch.signal(SIGKILL)
            _ = watch.waitForExit(upTo: 10)
            // Never a partial report: only complete PDFs under their final names (hidden temporaries are not reports).
            for r in w.files(in: w.reports) where !r.hasPrefix(".") {
                let bytes = try Data(contentsOf: w.reports.appendingPathComponent(r))
                #expect(bytes.starts(with: Array("%PDF".utf8)) && String(decoding: bytes.suffix(32), as: UTF8.self).contains("%%EOF"),
                        "round \(round): \(r) is not a complete PDF")
            }
        }
        // The kills came in the middle of the work: some files were done, some not.
        let doneBeforeLastRun = w.files(in: w.archive).count
        print("kill -9 ×10: \(doneBeforeLastRun) of \(inputs.count) files archived before the final run")
        #expect(doneBeforeLastRun > 0 && doneBeforeLastRun < inputs.count)
        let last = try w.start(["--settle", "0.2", "--grace", "0", "--once"])
        #expect(last.waitForExit(upTo: 300) == 0, "\(last.output.suffix(2000))")

        #expect(w.waiting.isEmpty)
        // The crash journal cannot tell a kill from a crash: a file that was in hand when the watcher died
        // twice is set aside in failed/ with a note that says so (InboxClaims.crashesBeforeSetAside). That
        // is the only way a good file may end there here, and it is rare: it takes two kills with the same
        // file in hand. Every other file is archived once, with one report.
        let failed = w.files(in: w.failed)
        let setAside = Set(failed.filter { !$0.hasSuffix(".error.txt") })
        for name in setAside {
            let note = try String(contentsOf: w.failed.appendingPathComponent(name + ".error.txt"), encoding: .utf8)
            #expect(note.contains("it stopped the decoder: the watcher stopped 2 times while this file was in hand"), "\(name): \(note)")
            #expect(try Data(contentsOf: w.failed.appendingPathComponent(name)) == inputs[name], "\(name) changed in failed/")
        }
        #expect(setAside.count <= 2, "more set aside than two kills can explain: \(failed)")
        if !setAside.isEmpty { print("kill -9 ×10: set aside after two deaths in hand: \(setAside.sorted())") }
        let archived = w.files(in: w.archive)
        #expect(archived.count + setAside.count == inputs.count, "\(archived)")
        for (name, data) in inputs where !setAside.contains(name) {
            let match = archived.filter { ($0 as NSString).lastPathComponent == name }
            #expect(match.count == 1, "\(name): \(match)")
            if let m = match.first { #expect(try Data(contentsOf: w.archive.appendingPathComponent(m)) == data) }
        }
        let reports = w.files(in: w.reports)
        #expect(reports.filter { !$0.hasPrefix(".") }.count + setAside.count == inputs.count, "\(reports)")
        #expect(reports.allSatisfy { !$0.hasPrefix(".") }, "temporary files left: \(reports)")
        #expect(w.files(in: w.inbox.appendingPathComponent(".cxreview/pending")).isEmpty)
        // Every killed run's unfinished work was taken over, and no claim or watcher folder is left.
        #expect(w.files(in: w.inbox.appendingPathComponent(".cxreview/watchers")).isEmpty)
        #expect(w.files(in: w.inbox.appendingPathComponent(".cxreview/claims")).isEmpty)

        let audit = try w.audit()
        #expect(audit.isValid, "\(String(describing: audit.problem))")
        let exports = audit.records.filter { $0.eventID == .export }
        #expect(exports.count + setAside.count == inputs.count)
        let hashes = exports.compactMap { $0.participantObject.first { $0.typeCodeRole == 4 }?.detail["sha256"] }
        #expect(Set(hashes).count + setAside.count == inputs.count)
        #expect(try w.cxreview(["audit", "verify", w.auditLog.path]).status == 0)
    }

    /// Editing, deleting or reordering one record of a real log makes `cxreview audit verify` fail at it.
    @Test func tamperingWithTheAuditLogIsCaughtAtThatRecord() throws {
        let w = try WatchFolder("tamper")
        for i in 0..<3 { try w.drop("scan-\(i).dcm", Inputs.dicom(300 + i)) }
        let run = try w.start(["--settle", "0", "--once"])
        #expect(run.waitForExit(upTo: 120) == 0)
        let original = try String(contentsOf: w.auditLog, encoding: .utf8)
        var lines = original.split(separator: "\n").map(String.init)
        #expect(lines.count >= 8)
        #expect(try w.cxreview(["audit", "verify", w.auditLog.path]).status == 0)

        func verify(_ l: [String]) throws -> Tool.Output {
            let copy = w.root.appendingPathComponent("tampered-\(UUID().uuidString.prefix(6)).jsonl")
            try (l.joined(separator: "\n") + "\n").write(to: copy, atomically: true, encoding: .utf8)
            return try w.cxreview(["audit", "verify", copy.path])
        }
        var edited = lines
        // Record 5 is the second file's import: claim it failed.
        #expect(edited[4].contains(#""eventOutcomeIndicator":0"#))
        edited[4] = edited[4].replacingOccurrences(of: #""eventOutcomeIndicator":0"#, with: #""eventOutcomeIndicator":8"#)
        let e = try verify(edited)
        #expect(e.status == 1)
        #expect(e.stdout.contains("line 5:"), "\(e.stdout)")

        var deleted = lines
        deleted.remove(at: 3)
        let d = try verify(deleted)
        #expect(d.status == 1)
        #expect(d.stdout.contains("line 4:"), "\(d.stdout)")

        lines.swapAt(5, 6)
        let r = try verify(lines)
        #expect(r.status == 1)
        #expect(r.stdout.contains("line 6:"), "\(r.stdout)")

        // An anchor (a hash noted earlier) catches a log rewritten consistently from the start.
        let firstHash = try #require(try w.audit().records.first?.hash)
        #expect(try w.cxreview(["audit", "verify", w.auditLog.path, "--anchor", firstHash]).status == 0)
        let forged = w.root.appendingPathComponent("forged")
        try FileManager.default.createDirectory(at: forged, withIntermediateDirectories: true)
        do {
            let log = try AuditLog(url: forged.appendingPathComponent("audit.jsonl"))
            try log.append([AuditEvent(eventID: .applicationActivity, eventTypeCode: [.applicationStart], action: .execute, outcome: .success)])
        }
        let rewritten = try w.cxreview(["audit", "verify", forged.appendingPathComponent("audit.jsonl").path, "--anchor", firstHash])
        #expect(rewritten.status == 1)
        #expect(rewritten.stdout.contains("no record has the anchored hash"), "\(rewritten.stdout)")

        let show = try w.cxreview(["audit", "show", w.auditLog.path, "--event", "export"])
        #expect(show.status == 0)
        #expect(show.stdout.split(separator: "\n").count == 4)
    }

    /// The reports folder not writable: inputs stay, the failure is audited, and processing resumes
    /// by itself once it is writable again.
    @Test func anUnwritableReportsFolderKeepsInputsAndRecovers() throws {
        let w = try WatchFolder("readonly")
        if WatchFolder.runsAsRoot {
            _ = try Tool.run("chmod", ["555", w.reports.path])
        } else {
            chmod(w.reports.path, 0o555)
        }
        // The precondition, checked as the watcher's user: the folder must really refuse writes.
        let probe = WatchFolder.runsAsRoot
            ? try Tool.run("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--", "touch", w.reports.appendingPathComponent("probe").path])
            : try Tool.run("touch", [w.reports.appendingPathComponent("probe").path])
        try #require(probe.status != 0, "could not make the reports folder read-only for the watcher's user")

        let watch = try w.start(["--settle", "0.2", "--retry", "1"])
        defer { _ = watch.waitForExit(upTo: 0) }
        for i in 0..<2 { try w.drop("scan-\(i).dcm", Inputs.dicom(400 + i)) }
        let audited = w.wait(upTo: 60) {
            ((try? w.audit().records) ?? []).contains { $0.eventOutcomeIndicator == .majorFailure }
        }
        #expect(audited, "\(watch.output)")
        #expect(w.waiting.count == 2)
        #expect(w.files(in: w.reports).isEmpty)

        chmod(w.reports.path, 0o755)
        #expect(w.wait(upTo: 120) { w.waiting.isEmpty }, "\(watch.output.suffix(1500))")
        watch.signal(SIGTERM)
        #expect(watch.waitForExit(upTo: 30) == 0)
        #expect(w.files(in: w.reports).count == 2)
        let audit = try w.audit()
        #expect(audit.isValid)
        #expect(audit.records.filter { $0.eventID == .export }.count == 2)
        let failure = audit.records.first { $0.eventOutcomeIndicator == .majorFailure }
        #expect(failure?.eventOutcomeDescription?.contains("stays in the inbox") == true)
    }

    /// Temporary and hidden names, DICOMDIR, and links out of the inbox are left alone.
    @Test func ignoredNamesAndOutsideLinksAreLeftAlone() throws {
        let w = try WatchFolder("ignore")
        let dicom = try Inputs.dicom(500)
        for name in ["upload.dcm.part", "upload.tmp", ".hidden.dcm", "backup.dcm~", "DICOMDIR"] { try w.drop(name, dicom) }
        let outside = w.root.appendingPathComponent("outside.dcm")
        let outsideData = try Inputs.dicom(501)
        try outsideData.write(to: outside)
        try FileManager.default.createSymbolicLink(atPath: w.inbox.appendingPathComponent("link.dcm").path, withDestinationPath: outside.path)
        try w.drop("real.dcm", try Inputs.dicom(502))

        let run = try w.start(["--settle", "0", "--once"])
        #expect(run.waitForExit(upTo: 120) == 0, "\(run.output)")
        #expect(w.files(in: w.reports).count == 1)
        #expect(Set(w.waiting) == ["upload.dcm.part", "upload.tmp", ".hidden.dcm", "backup.dcm~", "DICOMDIR", "link.dcm"])
        #expect(try Data(contentsOf: outside) == outsideData)
        let alerts = try w.audit().records.filter { $0.eventID == .securityAlert }
        #expect(alerts.count == 1)
        #expect(alerts.first?.participantObject.first?.detail["target"] == outside.path)
    }

    /// With --poll (network shares send no inotify events) new files, in new subfolders too, are found by rescanning.
    @Test func pollingFindsFilesWithoutInotify() throws {
        let w = try WatchFolder("poll")
        let watch = try w.start(["--poll", "0.5", "--settle", "0.3"])
        defer { _ = watch.waitForExit(upTo: 0) }
        usleep(800_000)
        try w.drop("a/b/scan.dcm", try Inputs.dicom(700))
        try w.drop("scan.png", try Inputs.png(700))
        #expect(w.wait(upTo: 60) { w.files(in: w.reports).count == 2 }, "\(watch.output)")
        watch.signal(SIGINT)
        #expect(watch.waitForExit(upTo: 30) == 0)
        #expect(watch.output.contains("polling every 0.5 s"))
        #expect(w.waiting.isEmpty)
    }

    /// --summary-every: a triage summary of the scans done, also written at the end, and audited.
    @Test func aBatchSummaryListsTheScansDone() throws {
        let w = try WatchFolder("summary")
        for i in 0..<3 { try w.drop("scan-\(i).dcm", try Inputs.dicom(800 + i)) }
        try w.drop("broken.dcm", Inputs.random(3000, seed: 8))
        let run = try w.start(["--settle", "0", "--grace", "0", "--once", "--summary-every", "3600", "--saliency", "layer3"])
        #expect(run.waitForExit(upTo: 180) == 0, "\(run.output)")
        let summaries = w.files(in: w.reports).filter { $0.hasPrefix("summary-") }
        try #require(summaries.count == 1, "\(w.files(in: w.reports))")
        let text = try Tool.run("pdftotext", ["-layout", w.reports.appendingPathComponent(summaries[0]).path, "-"]).stdout
        for i in 0..<3 { #expect(text.contains("scan-\(i)"), "\(text)") }
        #expect(text.contains("broken.dcm"))
        #expect(text.contains("Research use only. Not for diagnostic use."))
        let exports = try w.audit().records.filter { $0.eventID == .export }
        #expect(exports.count == 4)
        #expect(exports.last?.participantObject.first?.id.hasSuffix(summaries[0]) == true)
        let accessed = try w.audit().records.filter { $0.eventID == .dicomInstancesAccessed }
        #expect(accessed.allSatisfy { $0.eventOutcomeDescription?.contains("Grad-CAM (layer3") == true })
    }

    /// A plain PyTorch state_dict (no cxreview config) is watched with the classes `classes:` names,
    /// and the log and the audit log say that its configuration was assumed.
    @Test func aPlainStateDictIsWatchedAndWhatWasAssumedIsLogged() throws {
        let w = try WatchFolder("plain")
        let plain = w.root.appendingPathComponent("plain.safetensors")
        try FileManager.default.copyItem(
            at: WatchFolder.packageRoot.appendingPathComponent("Tests/Fixtures/interop/resnet18-plain-f16.safetensors"), to: plain)
        chmod(plain.path, 0o644)
        try w.drop("scan.dcm", try Inputs.dicom(900))
        let config = w.root.appendingPathComponent("watch.yaml")
        try "inbox: inbox\nout: reports\nmodel: plain.safetensors\nclasses: clear, pneumonia, covid-19\nsettle: 0\nonce: true\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let run = try WatchProcess(arguments: ["watch", "--config", config.path], log: w.root.appendingPathComponent("p.log"))
        #expect(run.waitForExit(upTo: 120) == 0, "\(run.output)")
        #expect(w.files(in: w.reports).count == 1)
        #expect(run.output.contains("model plain.safetensors has no cxreview config: assuming ImageNet preprocessing at 224 px and classes clear, pneumonia, covid-19 (as --classes names them)"), "\(run.output)")
        #expect(run.output.contains("its probabilities are uncalibrated (temperature 1) and out-of-distribution checks are off"))
        let start = try w.audit().records.first { $0.eventTypeCode.contains(.applicationStart) }
        #expect(start?.participantObject.first?.detail["modelConfiguration"] == "assumed")

        try "inbox: inbox\nout: reports\nclasses: a,,b\n".write(to: config, atomically: true, encoding: .utf8)
        let bad = try w.cxreview(["watch", "--config", config.path])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("line 3") && bad.stderr.contains("classes must be distinct names separated by commas"), "\(bad.stderr)")
    }

    /// A configuration file sets what the flags set; a mistake names its line.
    @Test func aConfigurationFileIsReadAndCheckedByLine() throws {
        let w = try WatchFolder("config")
        try w.drop("scan.dcm", try Inputs.dicom(600))
        let config = w.root.appendingPathComponent("watch.yaml")
        try """
            # cxreview watch settings
            inbox: inbox
            out: reports
            model: \(w.model)
            settle: 0
            once: true
            """.write(to: config, atomically: true, encoding: .utf8)
        let run = try WatchProcess(arguments: ["watch", "--config", config.path], log: w.root.appendingPathComponent("c.log"))
        #expect(run.waitForExit(upTo: 120) == 0, "\(run.output)")
        #expect(w.files(in: w.reports).count == 1)

        try "inbox: inbox\nout: reports\nsetle: 3\n".write(to: config, atomically: true, encoding: .utf8)
        let bad = try w.cxreview(["watch", "--config", config.path])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("line 3") && bad.stderr.contains("setle"), "\(bad.stderr)")

        // The shipped example parses: it gets as far as its (absent) inbox.
        let example = try w.cxreview(["watch", "--config", WatchFolder.packageRoot.appendingPathComponent("templates/watch.yaml").path])
        #expect(example.status == 2)
        #expect(example.stderr.contains("the inbox /srv/cxreview/inbox is not a folder"), "\(example.stderr)")
    }
}
