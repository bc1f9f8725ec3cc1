import DICOMNetwork
import Foundation
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The sender against DCMTK's storescp process (and against our own listener for a called-AE mismatch).
@Suite("StorageSender: C-STORE SCU against storescp", .serialized)
struct StorageSenderTests {
    /// Starts `storescp` on a free port with `arguments`; the caller terminates it.
    static func storescp(_ arguments: [String], output: URL) throws -> (Process, UInt16) {
        let port = UInt16(LoopbackPort.free())
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["storescp", "-od", output.path] + arguments + [String(port)]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        guard Net.waitForListening(port) else {
            stop(p)
            throw POSIXError(.ETIMEDOUT)
        }
        return (p, port)
    }

    /// storescp does not end on SIGTERM while it waits for an association, so it gets SIGKILL (it is ours).
    static func stop(_ p: Process) {
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
    }

    @Test(.enabled(if: Net.hasDCMTKTools, Comment(rawValue: Net.missingTools)))
    func filesArriveInTheirOwnTransferSyntax() throws {
        let out = try Net.folder()
        defer { try? FileManager.default.removeItem(at: out) }
        // +xa: storescp accepts every transfer syntax it knows; +B: it writes the data sets exactly as received.
        let (storescp, port) = try Self.storescp(["-aet", "PACS", "+xa", "+B"], output: out)
        defer { Self.stop(storescp) }
        let files = ["highdicom_dx_image.dcm", "JPEG-LL.dcm", "JPEG2000.dcm", "SC_rgb_htj2k_rct.dcm"].map(Net.dicom)
        let missing = out.appendingPathComponent("missing.dcm")
        let results = try StorageSender().send(files: files + [missing], host: "127.0.0.1", port: port,
                                               calledAE: "PACS", callingAE: "CXREVIEW", timeout: .seconds(10))
        #expect(results.map(\.file) == files + [missing])
        #expect(results[0..<3].allSatisfy { $0.outcome == .stored }, "\(results)")
        // DCMTK 3.6.7 does not know HTJ2K, so it cannot send it; the file is refused with that reason.
        guard case .failed(.unreadable(let reason)) = results[3].outcome else {
            Issue.record("HTJ2K: \(results[3])")
            return
        }
        #expect(reason.contains("1.2.840.10008.1.2.4.201"), "\(reason)")
        guard case .failed(.unreadable) = results[4].outcome else {
            Issue.record("a missing file: \(results[4])")
            return
        }
        // What storescp wrote: the same data sets, in the same transfer syntaxes.
        let received = try FileManager.default.contentsOfDirectory(at: out, includingPropertiesForKeys: nil)
            .filter { $0.lastPathComponent != "missing.dcm" }
        #expect(received.count == 3, "\(received)")
        for source in files.prefix(3) {
            let sop = try #require(try Net.value(source, "0008,0018"))
            let match = try received.first { try Net.value($0, "0008,0018") == sop }
            let copy = try #require(match, "\(source.lastPathComponent) did not arrive")
            #expect(try Net.transferSyntax(copy) == Net.transferSyntax(source))
            #expect(try Net.dataSetDump(copy) == Net.dataSetDump(source), "\(source.lastPathComponent)")
        }
    }

    @Test(.enabled(if: Net.hasDCMTKTools, Comment(rawValue: Net.missingTools)))
    func connectionRefusedIsDistinctAndFast() throws {
        let port = UInt16(LoopbackPort.free())  // nothing listens there
        let start = Date()
        let results = try StorageSender().send(files: [Net.dicom("highdicom_dx_image.dcm")], host: "127.0.0.1",
                                               port: port, calledAE: "PACS", callingAE: "CXREVIEW", timeout: .seconds(20))
        let seconds = Date().timeIntervalSince(start)
        #expect(results.map(\.outcome) == [.failed(.connectionRefused(host: "127.0.0.1", port: port))])
        #expect(seconds < 2, "took \(seconds) s")
    }

    @Test(.enabled(if: Net.hasDCMTKTools, Comment(rawValue: Net.missingTools)))
    func aRefusingPeerIsARejection() throws {
        let out = try Net.folder()
        defer { try? FileManager.default.removeItem(at: out) }
        let (storescp, port) = try Self.storescp(["-aet", "PACS", "--refuse"], output: out)
        defer { Self.stop(storescp) }
        let results = try StorageSender().send(files: [Net.dicom("highdicom_dx_image.dcm")], host: "127.0.0.1",
                                               port: port, calledAE: "PACS", callingAE: "CXREVIEW", timeout: .seconds(10))
        guard case .failed(.associationRejected(let reason)) = results.first?.outcome else {
            Issue.record("\(results)")
            return
        }
        #expect(reason.contains("rejected the association"), "\(reason)")
    }

    /// Our listener rejects a called AE title that is not its own; the sender says so.
    @Test(.enabled(if: Net.hasDCMTKTools, Comment(rawValue: Net.missingTools)))
    func aWrongCalledAETitleIsARejectionWithItsReason() throws {
        let folder = try Net.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let running = try Net.Running(aeTitle: "CXREVIEW", folder: folder)
        let results = try StorageSender().send(files: [Net.dicom("highdicom_dx_image.dcm")], host: "127.0.0.1",
                                               port: running.listener.port, calledAE: "NOTUS", callingAE: "SENDER",
                                               timeout: .seconds(10))
        running.finish()
        guard case .failed(.associationRejected(let reason)) = results.first?.outcome else {
            Issue.record("\(results)")
            return
        }
        #expect(reason.contains("rejected the association") && reason.contains("called AE 'NOTUS'"), "\(reason)")
        #expect(running.log.stored.isEmpty)
        #expect(running.log.events.contains {
            if case let .associationRefused(_, _, _, why) = $0 { return why.contains("called AE title 'NOTUS'") }
            return false
        })
    }

    /// Sender to listener: both halves of this library together.
    @Test func senderToListenerRoundTrip() throws {
        let folder = try Net.folder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let running = try Net.Running(aeTitle: "CXREVIEW", allowed: ["SENDER"], folder: folder)
        let files = ["highdicom_dx_image.dcm", "dx_no_study.dcm", "JPEG2000.dcm", "CT_small.dcm"].map(Net.dicom)
        let results = try StorageSender().send(files: files, host: "127.0.0.1", port: running.listener.port,
                                               calledAE: "CXREVIEW", callingAE: "SENDER", timeout: .seconds(10))
        running.finish()
        #expect(results.prefix(3).allSatisfy { $0.outcome == .stored }, "\(results)")
        guard case .failed(.noPresentationContext) = results[3].outcome else {
            Issue.record("CT is not accepted by the listener: \(results[3])")
            return
        }
        let stored = running.log.stored
        #expect(stored.map(\.transferSyntaxUID) == ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.4.91"])
        #expect(stored[1].file.deletingLastPathComponent().lastPathComponent == "unknown-study")
        #expect(stored[1].studyInstanceUID.isEmpty)
    }
}
