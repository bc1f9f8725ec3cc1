import DICOMNetwork
import Foundation
import TestSupport
import Testing

/// The listener against DCMTK's own echoscu and storescu processes, over loopback.
@Suite("StorageListener: C-STORE SCP and C-ECHO against echoscu/storescu", .serialized)
struct StorageListenerTests {
    /// CR without meta header (implicit VR LE), DX explicit LE, Secondary Capture in JPEG lossless, JPEG baseline,
    /// JPEG 2000 and HTJ2K (a transfer syntax DCMTK 3.6.7 itself does not know).
    static let images = ["CR-MONO1-10-chest.dcm", "highdicom_dx_image.dcm", "JPEG-LL.dcm",
                         "siim_1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819.dcm", "JPEG2000.dcm",
                         "SC_rgb_htj2k_rct.dcm"]

    @Test(.enabled(if: Net.hasDCMTKTools, Comment(rawValue: Net.missingTools)))
    func echoAndStoreKeepEveryDataSetAndItsTransferSyntax() throws {
        let folder = try Net.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let running = try Net.Running(allowed: ["SCANNER"], folder: folder)

        let echo = try Tool.run("echoscu", ["-aet", "SCANNER", "-aec", "CXREVIEW", "127.0.0.1", running.port])
        #expect(echo.status == 0, "\(echo.stderr)")

        let files = Self.images.map(Net.dicom)
        // -R: propose only the SOP classes of the files, each in the file's own transfer syntax (+ uncompressed).
        let store = try Tool.run("storescu", ["-aet", "SCANNER", "-aec", "CXREVIEW", "-R", "127.0.0.1", running.port]
                                 + files.map(\.path))
        let (stopSeconds, runError) = running.finish()
        #expect(runError == nil)
        #expect(stopSeconds < 2)
        #expect(store.status == 0, "\(store.stdout)\(store.stderr)")

        let events = running.log.events
        #expect(events.contains(.echo(association: 1)), "\(events)")
        let stored = running.log.stored
        #expect(stored.count == files.count, "\(events)")
        for (source, instance) in zip(files, stored) {
            // In <folder>/<study>/<sop>.dcm, under the UIDs the data set carries.
            let study = try #require(try Net.value(source, "0020,000d"))
            let sop = try #require(try Net.value(source, "0008,0018"))
            #expect(instance.file.path == folder.appendingPathComponent(study).appendingPathComponent("\(sop).dcm").path)
            #expect(instance.studyInstanceUID == study && instance.sopInstanceUID == sop)
            // The transfer syntax it arrived in (the source's own), and the data set unchanged, value by value.
            let sourceSyntax = try Net.transferSyntax(source) ?? "1.2.840.10008.1.2"
            #expect(instance.transferSyntaxUID == sourceSyntax, "\(source.lastPathComponent)")
            #expect(try Net.transferSyntax(instance.file) == sourceSyntax, "\(source.lastPathComponent)")
            #expect(try Net.dataSetDump(instance.file) == Net.dataSetDump(source), "\(source.lastPathComponent)")
            let attributes = try FileManager.default.attributesOfItem(atPath: instance.file.path)
            #expect((attributes[.size] as? NSNumber)?.uint64Value == instance.bytes)
        }
        // Nothing left under a temporary name.
        let staging = try FileManager.default.contentsOfDirectory(atPath: folder.appendingPathComponent(".incoming").path)
        #expect(staging.isEmpty, "\(staging)")
        let ended = events.compactMap { e -> (Int, Int, Bool)? in
            if case let .associationEnded(_, s, f, r, _) = e { return (s, f, r) } else { return nil }
        }
        #expect(ended.count == 2 && ended[1] == (files.count, 0, true), "\(events)")
    }

    /// A CT image is refused by its presentation context; the DX image beside it is stored and the association
    /// ends in a normal release.
    @Test(.enabled(if: Net.hasDCMTKTools, Comment(rawValue: Net.missingTools)))
    func otherSOPClassesAreRefusedCleanly() throws {
        let folder = try Net.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let running = try Net.Running(folder: folder)
        let store = try Tool.run("storescu", ["-aec", "CXREVIEW", "-R", "127.0.0.1", running.port,
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
            _ = try StorageListener(configuration: ListenerConfiguration(port: 0, aeTitle: "X", folder: missing), onEvent: { _ in })
        } throws: { error in
            if case .folderUnwritable = error as? DICOMNetworkError { return true } else { return false }
        }
        #expect {
            _ = try StorageListener(configuration: ListenerConfiguration(port: 0, aeTitle: "A-TITLE-FAR-TOO-LONG",
                                                                         folder: FileManager.default.temporaryDirectory),
                                    onEvent: { _ in })
        } throws: { error in
            if case .invalidConfiguration = error as? DICOMNetworkError { return true } else { return false }
        }
    }
}
