import Audit
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `cxreview watch --listen` and `--send-to` as real processes on loopback (ports above 10000): DCMTK's
/// `echoscu` and `storescu` send to the listener, and a real PACS (Orthanc) receives the results.
@Suite(.serialized, .enabled(if: DICOMTools.available, "needs DCMTK's echoscu, storescu and dcmodify (apt: dcmtk)"))
struct DICOMNetworkWatchTests {
    /// `count` copies of the sample CR scan in a new study of their own, each with a new SOP Instance UID
    /// (dcmodify), so each has its own bytes; in sending order.
    static func instances(_ count: Int, in folder: URL) throws -> [URL] {
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let sample = WatchFolder.packageRoot.appendingPathComponent("samples/cr-mono1-chest-no-meta.dcm")
        var uuid = UUID().uuid
        let study = "2.25." + String(withUnsafeBytes(of: &uuid) { $0.reduce(UInt128(0)) { $0 << 8 | UInt128($1) } })
        return try (0..<count).map { i in
            let url = folder.appendingPathComponent(String(format: "scan-%03d.dcm", i))
            try FileManager.default.copyItem(at: sample, to: url)
            let run = try Tool.run("dcmodify", ["-gin", "-nb", "-m", "(0020,000D)=\(study)", url.path])
            #expect(run.status == 0, "\(run.stderr)")
            return url
        }
    }

    static func sopInstanceUID(_ url: URL) throws -> String { try tag("0008,0018", url) }

    /// The first value of `tag` (e.g. "0020,000D") in the file's top-level data set, as dcmdump prints it.
    static func tag(_ tag: String, _ url: URL) throws -> String {
        let out = try Tool.run("dcmdump", ["-q", "-s", "+P", tag, url.path]).stdout
        guard let open = out.firstIndex(of: "["), let close = out[open...].firstIndex(of: "]") else { return "" }
        return String(out[out.index(after: open)..<close])
    }

    /// The reports written so far: finished PDFs, not the hidden temporaries of one being written.
    static func reports(_ w: WatchFolder) -> [String] {
        w.files(in: w.reports).filter { !($0 as NSString).lastPathComponent.hasPrefix(".") && $0.hasSuffix(".pdf") }
    }

    /// storescu's verbose log: how many C-STORE responses said Success.
    static func acknowledged(_ log: String) -> Int {
        log.components(separatedBy: "\n").filter { $0.contains("Received Store Response") && $0.contains("Success") }.count
    }

    @Test func scansSentOverDICOMAreReportedAndEveryAssociationIsAudited() throws {
        let w = try WatchFolder("listen")
        let port = LoopbackPort.free()
        let watcher = try w.start(["--listen", "\(port)", "--ae-title", "CXREVIEW", "--study-settle", "1", "--settle", "0",
                                   "--dicom-out", w.root.appendingPathComponent("dicom").path])
        defer { watcher.signal(SIGTERM); _ = watcher.waitForExit(upTo: 60) }
        #expect(watcher.waitUntilWatching())
        let echo = try Tool.run("echoscu", ["-aec", "CXREVIEW", "127.0.0.1", "\(port)"])
        #expect(echo.status == 0, "\(echo.stderr)")

        let files = try Self.instances(3, in: w.root.appendingPathComponent("send"))
        let store = try Tool.run("storescu", ["-v", "-aet", "MODALITY", "-aec", "CXREVIEW", "127.0.0.1", "\(port)"] + files.map(\.path))
        #expect(store.status == 0, "\(store.stderr)")
        #expect(Self.acknowledged(store.stdout + store.stderr) == 3)
        let reported = w.wait(upTo: 120) { Self.reports(w).count == 3 }
        #expect(reported, "\(watcher.output.suffix(3000))")
        for file in files {
            let uid = try Self.sopInstanceUID(file)
            #expect(Self.reports(w).contains("\(uid).pdf"), "no report for \(uid)")
        }
        let results = w.files(in: w.root.appendingPathComponent("dicom"))
        #expect(results.count == 9)
        // Each result is in the source's study: its Study Instance UID survives a listener in the process
        // (DCMTK's network code turns its input data correction off process-wide).
        let study = try Self.tag("0020,000D", files[0])
        #expect(!study.isEmpty)
        for name in results {
            let url = w.root.appendingPathComponent("dicom/" + name)
            #expect(try Self.tag("0020,000D", url) == study, "\(name) left its study")
            // dicom3tools' IOD checker, independent of DCMTK (apt: dicom3tools, installed by scripts/setup.sh).
            let check = try Tool.run("dciodvfy", [url.path])
            let errors = (check.stdout + check.stderr).split(separator: "\n").filter { $0.hasPrefix("Error") }
            #expect(errors.isEmpty, "\(name): \(errors.joined(separator: "; "))")
        }
        #expect(w.files(in: w.inbox.appendingPathComponent("received")).isEmpty, "every received instance is archived")

        // A caller not on the allow-list (a second watcher with allowed_calling_aes) is refused, and audited.
        let audit = try w.audit()
        #expect(audit.isValid)
        #expect(audit.records.contains { $0.eventID == .beginTransferringDICOMInstances && $0.activeParticipant.contains { $0.userID == "MODALITY" } })
        let transferred = try #require(audit.records.first {
            $0.eventID == .dicomInstancesTransferred && $0.activeParticipant.contains { $0.userID == "MODALITY" }
        })
        #expect(transferred.eventOutcomeIndicator == .success)
        #expect(transferred.eventOutcomeDescription?.contains("3 instances received") == true, "\(transferred.eventOutcomeDescription ?? "")")
        #expect(transferred.participantObject.contains { $0.idTypeCode == .studyInstanceUID })
    }

    @Test func aCallerNotAllowedIsRefusedAndAnUnsupportedClassIsRejectedCleanly() throws {
        let w = try WatchFolder("listen-refuse")
        let port = LoopbackPort.free()
        let config = w.root.appendingPathComponent("watch.yaml")
        try "allowed_calling_aes: SCANNER1, SCANNER2\nstudy_settle: 0\n".write(to: config, atomically: true, encoding: .utf8)
        let watcher = try w.start(["--config", config.path, "--listen", "\(port)", "--settle", "0"])
        defer { watcher.signal(SIGTERM); _ = watcher.waitForExit(upTo: 60) }
        #expect(watcher.waitUntilWatching())
        let sample = WatchFolder.packageRoot.appendingPathComponent("samples/cr-mono1-chest-no-meta.dcm").path

        let intruder = try Tool.run("storescu", ["-aet", "INTRUDER", "-aec", "CXREVIEW", "127.0.0.1", "\(port)", sample])
        #expect(intruder.status != 0)
        // A CT image: not a class the listener takes. Its presentation context is rejected; the association
        // itself is accepted, and the listener goes on serving the next one.
        let ct = WatchFolder.packageRoot.appendingPathComponent("Tests/Fixtures/dicom/CT_small.dcm").path
        let refused = try Tool.run("storescu", ["-v", "-aet", "SCANNER1", "-aec", "CXREVIEW", "127.0.0.1", "\(port)", ct])
        let log = refused.stdout + refused.stderr
        // The association is accepted, only the CT context is rejected (storescu then aborts on its own).
        #expect(log.contains("Association Accepted") && log.contains("No presentation context for: (CT)"), "\(log)")
        let allowed = try Tool.run("storescu", ["-aet", "SCANNER2", "-aec", "CXREVIEW", "127.0.0.1", "\(port)", sample])
        #expect(allowed.status == 0, "\(allowed.stderr)")
        #expect(w.wait(upTo: 120) { Self.reports(w).count == 1 }, "\(watcher.output.suffix(3000))")

        let audit = try w.audit()
        let alert = try #require(audit.records.first { $0.eventID == .securityAlert })
        #expect(alert.eventOutcomeDescription?.contains("INTRUDER") == true)
        #expect(alert.activeParticipant.contains { $0.userID == "INTRUDER" && $0.userIsRequestor })
    }

    /// Every chest file of the shared DICOM data sent in one association, each in its own transfer syntax
    /// (`--required`, `--no-halt`): each is acknowledged, and
    /// each acknowledged one is then reported or failed with its reason. Runs when CXR_SHARED_DATA is set.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["CXR_SHARED_DATA"] != nil, "set CXR_SHARED_DATA to sweep the shared DICOM files"))
    func everySharedChestFileSentIsReportedOrFailedWithItsReason() throws {
        let folder = URL(fileURLWithPath: ProcessInfo.processInfo.environment["CXR_SHARED_DATA"]!).appendingPathComponent("dicom/chest")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".dcm") }.sorted()
            .map { folder.appendingPathComponent($0) }
        #expect(files.count >= 6)
        let w = try WatchFolder("listen-sweep")
        let port = LoopbackPort.free()
        let watcher = try w.start(["--listen", "\(port)", "--study-settle", "1", "--settle", "0", "--grace", "0"])
        defer { watcher.signal(SIGTERM); _ = watcher.waitForExit(upTo: 60) }
        #expect(watcher.waitUntilWatching())
        // storescu proposes one compressed transfer syntax per run (else it converts, which it cannot for
        // JPEG 2000): one run per transfer syntax, each file sent as it is.
        let proposal = ["1.2.840.10008.1.2.4.90": "-xv", "1.2.840.10008.1.2.4.91": "-xw", "1.2.840.10008.1.2.4.80": "-xt",
                        "1.2.840.10008.1.2.4.81": "-xu", "1.2.840.10008.1.2.4.50": "-xy", "1.2.840.10008.1.2.4.51": "-xx",
                        "1.2.840.10008.1.2.4.57": "-xs", "1.2.840.10008.1.2.4.70": "-xs", "1.2.840.10008.1.2.5": "-xr",
                        "1.2.840.10008.1.2.1.99": "-xd"]
        var groups: [String: [URL]] = [:]
        for f in files {
            let ts = try Tool.run("dcmdump", ["-q", "+P", "0002,0010", "-Un", f.path]).stdout
            let uid = ts.split(separator: "[").dropFirst().first?.split(separator: "]").first.map(String.init) ?? ""
            groups[proposal[uid] ?? "", default: []].append(f)
        }
        var acked = 0, log = ""
        for (flag, group) in groups.sorted(by: { $0.key < $1.key }) {
            let store = try Tool.run("storescu", ["-v", "--no-halt", "--required"] + (flag.isEmpty ? [] : [flag])
                                     + ["-aec", "CXREVIEW", "127.0.0.1", "\(port)"] + group.map(\.path))
            acked += Self.acknowledged(store.stdout + store.stderr)
            log += store.stdout + store.stderr
        }
        #expect(acked == files.count, "\(log)")
        let failedFolder = w.inbox.appendingPathComponent("failed")
        let done = w.wait(upTo: 300) {
            Self.reports(w).count + w.files(in: failedFolder).filter { !$0.hasSuffix(".error.txt") && !$0.hasPrefix(".") }.count == acked
        }
        #expect(done, "\(watcher.output.suffix(3000))")
        for note in w.files(in: failedFolder).filter({ $0.hasSuffix(".error.txt") }) {
            let text = try String(contentsOf: failedFolder.appendingPathComponent(note), encoding: .utf8)
            #expect(text.contains("What is wrong:"), "\(note) gives no reason")
        }
        #expect(try w.audit().isValid)
    }

    /// `kill -9` while an association is in the middle of a study: every instance the listener acknowledged is
    /// on disk, and after a restart every one of them is reported.
    @Test func killMinusNineMidAssociationLosesNothingAcknowledged() throws {
        let w = try WatchFolder("listen-kill")
        let port = LoopbackPort.free()
        let files = try Self.instances(12, in: w.root.appendingPathComponent("send"))
        let first = try w.start(["--listen", "\(port)", "--study-settle", "3600", "--settle", "0"],
                                environment: ["CXR_TEST_PAUSE_AFTER_RECEIVED": "7"])
        #expect(first.waitUntilWatching())
        let storeLog = w.root.appendingPathComponent("storescu.log")
        _ = FileManager.default.createFile(atPath: storeLog.path, contents: nil)
        let store = Process()
        store.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        store.arguments = ["storescu", "-v", "-aec", "CXREVIEW", "-to", "60", "127.0.0.1", "\(port)"] + files.map(\.path)
        let handle = try FileHandle(forWritingTo: storeLog)
        store.standardOutput = handle
        store.standardError = handle
        try store.run()
        #expect(w.wait(upTo: 60) { first.output.contains("test hook: the listener pauses here") }, "\(first.output.suffix(2000))")
        // --study-settle 3600: the study is still arriving, so none of its instances has been taken yet.
        #expect(Self.reports(w).isEmpty && w.files(in: w.archive).isEmpty, "a study is held until it has been quiet")
        #expect(w.files(in: w.inbox.appendingPathComponent("received")).filter { $0.hasSuffix(".dcm") && !$0.hasPrefix(".") }.count >= 6)
        first.signal(SIGKILL)
        _ = first.waitForExit(upTo: 10)
        store.waitUntilExit()
        let acked = Self.acknowledged((try? String(contentsOf: storeLog, encoding: .utf8)) ?? "")
        #expect(acked == 6, "the listener paused in the 7th instance, after acknowledging 6")

        let second = try w.start(["--listen", "\(port)", "--study-settle", "1", "--settle", "0"])
        defer { second.signal(SIGTERM); _ = second.waitForExit(upTo: 60) }
        #expect(w.wait(upTo: 180) { Self.reports(w).count >= acked }, "\(second.output.suffix(3000))")
        let reports = Set(Self.reports(w))
        for file in files.prefix(acked) {
            let uid = try Self.sopInstanceUID(file)
            #expect(reports.contains("\(uid).pdf"), "acknowledged instance \(uid) was not reported")
        }
        #expect(try w.audit().isValid)
    }

    /// The whole path through a real PACS: Orthanc holds a study, sends it to the listener (C-STORE), and gets
    /// the three results back into the same study as three new series, read back through its REST API. Also
    /// the time from the last instance received to the results stored, for one scan and for 50.
    @Test(.enabled(if: OrthancServer.isInstalled, "Orthanc is not installed (apt: orthanc); the PACS round trip is skipped"))
    func resultsGoBackIntoTheSourceStudyInOrthanc() throws {
        let w = try WatchFolder("orthanc")
        let listenPort = LoopbackPort.free()
        let orthanc = try OrthancServer(modalities: ["cxreview": (aeTitle: "CXREVIEW", port: listenPort)])
        let watcher = try w.start(["--listen", "\(listenPort)", "--study-settle", "1", "--settle", "0",
                                   "--dicom-out", w.root.appendingPathComponent("dicom").path, "--uid-root", "1.2.826.0.1.3680043.10.1234",
                                   "--send-to", "127.0.0.1:\(orthanc.dicomPort)", "--called-ae", OrthancServer.aeTitle, "--retry", "1"])
        defer { watcher.signal(SIGTERM); _ = watcher.waitForExit(upTo: 60) }
        #expect(watcher.waitUntilWatching())

        /// Uploads the files to Orthanc (one new study), has Orthanc send the study to the listener, and waits
        /// until Orthanc holds the results: three new series per scan, beside the source's series.
        func roundTrip(_ files: [URL]) throws -> (study: String, seconds: Double) {
            var study = ""
            for f in files {
                let answer = try orthanc.post("/instances", data: try Data(contentsOf: f)) as? [String: Any]
                study = answer?["ParentStudy"] as? String ?? study
            }
            _ = try orthanc.post("/modalities/cxreview/store", json: ["Resources": [study], "Synchronous": true])
            let sent = Date()  // the synchronous store returns once the listener acknowledged the last instance
            let done = w.wait(upTo: 300) {
                ((try? orthanc.get("/studies/\(study)")) as? [String: Any])?["Series"].map { ($0 as? [String])?.count ?? 0 } == 1 + 3 * files.count
            }
            #expect(done, "\(watcher.output.suffix(3000))")
            return (study, Date().timeIntervalSince(sent))
        }

        let one = try roundTrip(try Self.instances(1, in: w.root.appendingPathComponent("one")))
        let series = try orthanc.series(ofStudy: one.study)
        #expect(Set(series.map(\.sopClass)) == ["1.2.840.10008.5.1.4.1.1.1", "1.2.840.10008.5.1.4.1.1.104.1",
                                                "1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.88.34"], "\(series)")
        let burst = try roundTrip(try Self.instances(50, in: w.root.appendingPathComponent("burst")))
        print("orthanc round trip (study-settle 1 s): last instance received → results stored in Orthanc: 1 scan \(String(format: "%.1f", one.seconds)) s, burst of 50 \(String(format: "%.1f", burst.seconds)) s")
        // The sender audits an attempt once its association is over, just after Orthanc has the files.
        func sends() throws -> [AuditRecord] {
            try w.audit().records.filter { $0.eventID == .dicomInstancesTransferred && $0.eventActionCode == .read }
        }
        w.wait(upTo: 30) { ((try? sends())?.count ?? 0) >= 51 }
        #expect(try w.audit().isValid)
        let audited = try sends()
        #expect(audited.count == 51 && audited.allSatisfy { $0.eventOutcomeIndicator == .success }, "\(audited.count) sends audited")
    }
}

/// DCMTK's network tools, which the tests drive the listener with.
enum DICOMTools {
    static let available = ["echoscu", "storescu", "dcmodify", "dcmdump"].allSatisfy { tool in
        (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":").contains { access("\($0)/\(tool)", X_OK) == 0 }
    }
}
