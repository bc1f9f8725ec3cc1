import DICOMNetwork
import Foundation
import TestSupport
import Testing

/// The listener against DCMTK's own echoscu and storescu processes, over loopback.
@Suite("StorageListener: C-STORE SCP and C-ECHO against echoscu/storescu", .serialized)
struct StorageListenerTests {
    /// Each file with the storescu option that makes it propose the transfer syntax to send it in, and that
    /// syntax: CR without meta header as implicit VR LE, DX as explicit LE and deflated (storescu converts
    /// that), and Secondary Capture in JPEG lossless SV1, JPEG baseline and JPEG 2000 as stored.
    /// (HTJ2K is accepted too, but DCMTK 3.6.7's storescu cannot send a syntax it does not know.)
    static let sends: [(file: String, option: [String], syntax: String)] = [
        ("CR-MONO1-10-chest.dcm", ["-xi"], "1.2.840.10008.1.2"),
        ("highdicom_dx_image.dcm", [], "1.2.840.10008.1.2.1"),
        ("dx_latin1_patient.dcm", ["-xd"], "1.2.840.10008.1.2.1.99"),
        ("JPEG-LL.dcm", ["-xs"], "1.2.840.10008.1.2.4.70"),
        ("siim_1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm", ["-xy"], "1.2.840.10008.1.2.4.50"),
        ("JPEG2000.dcm", ["-xw"], "1.2.840.10008.1.2.4.91"),
    ]

    @Test(.enabled(if: Net.hasDCMTKTools, Comment(rawValue: Net.missingTools)))
    func echoAndStoreKeepEveryDataSetInTheSyntaxItArrivedIn() throws {
        let folder = try Net.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let running = try Net.Running(allowed: ["SCANNER"], folder: folder)

        let echo = try Tool.run("echoscu", ["-aet", "SCANNER", "-aec", "CXREVIEW", "127.0.0.1", running.port])
        #expect(echo.status == 0, "\(echo.stderr)")
        for send in Self.sends {
            let store = try Tool.run("storescu", ["-aet", "SCANNER", "-aec", "CXREVIEW"] + send.option
                                     + ["127.0.0.1", running.port, Net.dicom(send.file).path])
            #expect(store.status == 0, "\(send.file): \(store.stdout)\(store.stderr)")
        }
        let (stopSeconds, runError) = running.finish()
        #expect(runError == nil)
        #expect(stopSeconds < 2)

        let events = running.log.events
        #expect(events.contains(.echo(association: 1)), "\(events)")
        let stored = running.log.stored
        #expect(stored.count == Self.sends.count, "\(events)")
        for (send, instance) in zip(Self.sends, stored) {
            let source = Net.dicom(send.file)
            // In <folder>/<study>/<sop>.dcm, under the UIDs the data set carries.
            let study = try #require(try Net.value(source, "0020,000d"))
            let sop = try #require(try Net.value(source, "0008,0018"))
            #expect(instance.file.path == folder.appendingPathComponent(study).appendingPathComponent("\(sop).dcm").path)
            #expect(instance.studyInstanceUID == study && instance.sopInstanceUID == sop)
            // The transfer syntax it arrived in, in the event and in the file's meta information; the data set
            // unchanged, value by value.
            #expect(instance.transferSyntaxUID == send.syntax, "\(send.file)")
            #expect(try Net.transferSyntax(instance.file) == send.syntax, "\(send.file)")
            #expect(try Net.dataSetDump(instance.file) == Net.dataSetDump(source), "\(send.file)")
            let attributes = try FileManager.default.attributesOfItem(atPath: instance.file.path)
            #expect((attributes[.size] as? NSNumber)?.uint64Value == instance.bytes)
        }
        // Nothing left under a temporary name.
        let staging = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent(".incoming").path)
        #expect(staging.isEmpty, "\(staging)")
        let ended = events.compactMap { e -> (Int, Int, Bool)? in
            if case let .associationEnded(_, s, f, r, _) = e { return (s, f, r) } else { return nil }
        }
        #expect(ended.count == 1 + Self.sends.count)
        #expect(ended.dropFirst().allSatisfy { $0 == (1, 0, true) }, "\(ended)")
    }

    /// A CT image is refused by its presentation context; the DX image beside it is stored and the association
    /// ends in a normal release.
    @Test(.enabled(if: Net.hasDCMTKTools, Comment(rawValue: Net.missingTools)))
    func otherSOPClassesAreRefusedCleanly() throws {
        let folder = try Net.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let running = try Net.Running(folder: folder)
        // --no-halt: storescu itself aborts the association after a file it cannot send unless told not to.
        let store = try Tool.run("storescu", ["-aec", "CXREVIEW", "-R", "--no-halt", "127.0.0.1", running.port,
                                              Net.dicom("CT_small.dcm").path, Net.dicom("highdicom_dx_image.dcm").path])
        running.finish()
        let output = store.stdout + store.stderr
        #expect(output.contains("No presentation context") || output.contains("no presentation context"), "\(output)")
        #expect(!output.contains("Abort"), "\(output)")
        let events = running.log.events
        #expect(running.log.stored.map(\.sopClassUID) == ["1.2.840.10008.5.1.4.1.1.1.1"], "\(events)")
        #expect(events.contains { if case .associationEnded(_, 1, 0, true, _) = $0 { return true } else { return false } },
                "\(events)")
    }

    /// Only an association proposing nothing acceptable is refused as a whole, and said so.
    @Test(.enabled(if: Net.hasDCMTKTools, Comment(rawValue: Net.missingTools)))
    func anAssociationWithOnlyRefusedClassesIsRejectedWithAReason() throws {
        let folder = try Net.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let running = try Net.Running(folder: folder)
        let store = try Tool.run("storescu", ["-aec", "CXREVIEW", "-R", "127.0.0.1", running.port,
                                              Net.dicom("CT_small.dcm").path])
        running.finish()
        #expect(store.status != 0)
        #expect(running.log.events.contains {
            if case let .associationRefused(_, _, _, reason) = $0 { return reason.contains("no acceptable presentation context") }
            return false
        }, "\(running.log.events)")
        #expect(running.log.stored.isEmpty)
    }

    @Test(.enabled(if: Net.hasDCMTKTools, Comment(rawValue: Net.missingTools)))
    func callersOffTheAllowListAreRejected() throws {
        let folder = try Net.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let running = try Net.Running(allowed: ["SCANNER"], folder: folder)
        let echo = try Tool.run("echoscu", ["-aet", "INTRUDER", "-aec", "CXREVIEW", "127.0.0.1", running.port])
        let wrongCalled = try Tool.run("echoscu", ["-aet", "SCANNER", "-aec", "OTHER", "127.0.0.1", running.port])
        running.finish()
        #expect(echo.status != 0)
        #expect((echo.stdout + echo.stderr).contains("Calling AE Title Not Recognized"), "\(echo.stdout)\(echo.stderr)")
        #expect(wrongCalled.status != 0)
        let refusals = running.log.events.compactMap { e -> (String, String)? in
            if case let .associationRefused(calling, _, host, reason) = e { return (calling + "@" + host, reason) }
            return nil
        }
        #expect(refusals.count == 2, "\(running.log.events)")
        #expect(refusals.first?.0 == "INTRUDER@127.0.0.1")
        #expect(refusals.first?.1 == "calling AE title 'INTRUDER' is not on the allow-list")
        #expect(refusals.last?.1.contains("called AE title 'OTHER'") == true)
        #expect(!running.log.events.contains { if case .associationAccepted = $0 { return true } else { return false } })
    }

    @Test func stopEndsAnIdleRunWithinTwoSeconds() throws {
        let folder = try Net.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let running = try Net.Running(folder: folder)
        Thread.sleep(forTimeInterval: 1.5)
        let (seconds, error) = running.finish()
        #expect(error == nil)
        #expect(seconds < 2, "run() returned \(seconds) s after stop()")
    }

    /// The same instance twice: the second copy gets `-2`, the first is untouched.
    @Test(.enabled(if: Net.hasDCMTKTools, Comment(rawValue: Net.missingTools)))
    func aRepeatedInstanceNeverOverwrites() throws {
        let folder = try Net.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let running = try Net.Running(folder: folder)
        let source = Net.dicom("highdicom_dx_image.dcm")
        let first = try Tool.run("storescu", ["-aec", "CXREVIEW", "127.0.0.1", running.port, source.path])
        let stored = try #require(running.log.stored.first)
        let before = try Data(contentsOf: stored.file)
        let attributesBefore = try FileManager.default.attributesOfItem(atPath: stored.file.path)
        Thread.sleep(forTimeInterval: 0.05)
        let second = try Tool.run("storescu", ["-aec", "CXREVIEW", "127.0.0.1", running.port, source.path])
        running.finish()
        #expect(first.status == 0 && second.status == 0)
        let files = running.log.stored.map(\.file.lastPathComponent)
        let sop = try #require(try Net.value(source, "0008,0018"))
        #expect(files == ["\(sop).dcm", "\(sop)-2.dcm"])
        #expect(try Data(contentsOf: stored.file) == before)
        let attributesAfter = try FileManager.default.attributesOfItem(atPath: stored.file.path)
        #expect(attributesAfter[.modificationDate] as? Date == attributesBefore[.modificationDate] as? Date)
    }

    /// A write that fails (here the study's folder name is taken by a file) is answered with 0xA700 and reported
    /// with its reason; the association goes on and nothing is left behind.
    @Test(.enabled(if: Net.hasDCMTKTools, Comment(rawValue: Net.missingTools)))
    func aFailedWriteIsAnsweredOutOfResources() throws {
        let folder = try Net.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let source = Net.dicom("highdicom_dx_image.dcm")
        let study = try #require(try Net.value(source, "0020,000d"))
        try Data("not a folder".utf8).write(to: folder.appendingPathComponent(study))
        let running = try Net.Running(folder: folder)
        let store = try Tool.run("storescu", ["-v", "-aec", "CXREVIEW", "127.0.0.1", running.port, source.path])
        running.finish()
        #expect((store.stdout + store.stderr).contains("Refused: OutOfResources"), "\(store.stdout)\(store.stderr)")
        let failures = running.log.events.compactMap { e -> (UInt16, String)? in
            if case let .instanceFailed(_, _, status, reason) = e { return (status, reason) } else { return nil }
        }
        #expect(failures.count == 1 && failures.first?.0 == 0xA700, "\(running.log.events)")
        #expect(failures.first?.1.contains("Not a directory") == true, "\(failures)")
        #expect(running.log.events.contains { if case .associationEnded(_, 0, 1, true, _) = $0 { return true } else { return false } })
        #expect(try String(contentsOf: folder.appendingPathComponent(study), encoding: .utf8) == "not a folder")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent(".incoming").path).isEmpty)
    }

    /// UIDs from the wire are untrusted: an instance UID that is not digits and dots is named by its hash, an
    /// invalid study UID files the instance under `unknown-study`; nothing is written outside the folder.
    @Test(.enabled(if: Net.hasDCMTKTools && Net.which("dcmodify") != nil, Comment(rawValue: Net.missingTools)))
    func untrustedUIDsNeverBecomePaths() throws {
        let folder = try Net.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let inbox = folder.appendingPathComponent("inbox")
        try FileManager.default.createDirectory(at: inbox, withIntermediateDirectories: true)
        let hostile = folder.appendingPathComponent("hostile.dcm")
        try FileManager.default.copyItem(at: Net.dicom("highdicom_dx_image.dcm"), to: hostile)
        let modify = try Tool.run("dcmodify", ["-nb", "-m", "(0008,0018)=../../evil/x", "-m", "(0020,000d)=1.2..3", hostile.path])
        #expect(modify.status == 0, "\(modify.stderr)")
        let running = try Net.Running(folder: inbox)
        let store = try Tool.run("storescu", ["-aec", "CXREVIEW", "127.0.0.1", running.port, hostile.path])
        running.finish()
        #expect(store.status == 0, "\(store.stdout)\(store.stderr)")
        let stored = try #require(running.log.stored.first, "\(running.log.events)")
        #expect(stored.file.deletingLastPathComponent().path == inbox.appendingPathComponent("unknown-study").path)
        #expect(stored.file.lastPathComponent.hasPrefix("uid-") && stored.file.pathExtension == "dcm", "\(stored.file)")
        #expect(stored.sopInstanceUID == "../../evil/x")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted() == ["hostile.dcm", "inbox"])
    }

    @Test func aTakenPortIsAClearErrorAtStart() throws {
        let folder = try Net.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let running = try Net.Running(folder: folder)
        defer { running.finish() }
        let port = running.listener.port
        #expect(throws: DICOMNetworkError.self) {
            _ = try StorageListener(configuration: ListenerConfiguration(port: port, aeTitle: "B", folder: folder),
                                    onEvent: { _ in })
        }
        do {
            _ = try StorageListener(configuration: ListenerConfiguration(port: port, aeTitle: "B", folder: folder),
                                    onEvent: { _ in })
        } catch {
            guard case .portInUse(let p, _) = error else {
                Issue.record("expected portInUse, got \(error)")
                return
            }
            #expect(p == port)
            #expect(error.description.contains("choose another port"))
        }
    }

    @Test func badSettingsAreRefusedAtStart() throws {
        let missing = FileManager.default.temporaryDirectory.appendingPathComponent("cxr-net-missing-\(UUID().uuidString)")
        #expect {
            _ = try StorageListener(configuration: ListenerConfiguration(port: UInt16(LoopbackPort.free()), aeTitle: "X", folder: missing), onEvent: { _ in })
        } throws: { error in
            if case .folderUnwritable = error as? DICOMNetworkError { return true } else { return false }
        }
        #expect {
            _ = try StorageListener(configuration: ListenerConfiguration(port: UInt16(LoopbackPort.free()), aeTitle: "A-TITLE-FAR-TOO-LONG",
                                                                         folder: FileManager.default.temporaryDirectory),
                                    onEvent: { _ in })
        } throws: { error in
            if case .invalidConfiguration = error as? DICOMNetworkError { return true } else { return false }
        }
    }
}
