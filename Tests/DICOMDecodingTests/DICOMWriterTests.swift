import Benchmarks
import DICOMDecoding
import Foundation
import Testing
import XRayCore

/// `DICOMWriter` (Benchmarks, plain Swift) read back through DCMTK.
@Suite("DICOM writing and text encoding")
struct DICOMWriterTests {
    /// DICOM PS3.3 C.11.2.1.2.1 linear window, output 0...255.
    private func linearWindow(_ x: Double, center c: Double, width w: Double) -> Double {
        if x <= c - 0.5 - (w - 1) / 2 { return 0 }
        if x > c - 0.5 + (w - 1) / 2 { return 255 }
        return ((x - (c - 0.5)) / (w - 1) + 0.5) * 255
    }

    /// The pixels of Fixtures/dicom/dcmtk-writer-64x48.dcm.
    static func fixturePixels() -> [UInt16] {
        var pixels = [UInt16](repeating: 0, count: 64 * 48)
        for y in 0..<48 { for x in 0..<64 { pixels[y * 64 + x] = UInt16((x * 67 + y * 131) % 4096) } }
        return pixels
    }

    @Test func writtenImageDecodesWithItsWindow() throws {
        let dir = try Support.temporaryDirectory()
        defer { Support.cleanUp(dir) }
        let url = dir.appendingPathComponent("synthetic.dcm")
        let (w, h) = (2000, 2000)
        var pixels = [UInt16](repeating: 0, count: w * h)
        for y in 0..<h { for x in 0..<w { pixels[y * w + x] = UInt16((x * 7 + y * 3) % 4096) } }
        try DICOMWriter.writeMonochrome16(width: w, height: h, pixels: pixels, bitsStored: 12,
                                          windowCenter: 2048, windowWidth: 4096, patientName: "Test^Synthetic", to: url)
        #expect(DICOMDecoder.isProbablyDICOM(url))
        let scan = try DICOMDecoder().decode(contentsOf: url)
        #expect(scan.image.width == w && scan.image.height == h)
        #expect(scan.notes.window == .file(center: 2048, width: 4096))
        #expect(!scan.notes.inverted)
        let m = scan.metadata
        #expect(m.rows == h && m.columns == w && m.bitsAllocated == 16 && m.bitsStored == 12)
        #expect(m.photometricInterpretation == "MONOCHROME2")
        #expect(m.transferSyntaxUID == "1.2.840.10008.1.2.1")
        #expect(m.patientName == "Test^Synthetic")
        #expect(m.sopClassUID == "1.2.840.10008.5.1.4.1.1.7")
        for uid in [m.studyInstanceUID, m.seriesInstanceUID, m.sopInstanceUID] {
            // PS3.5 B.2: a UUID as one decimal number under 2.25, at most 64 characters.
            let u = try #require(uid)
            #expect(u.hasPrefix("2.25.") && u.count <= 64 && u.dropFirst(5).allSatisfy(\.isNumber), "\(u)")
        }
        var worst = 0.0
        for i in stride(from: 0, to: w * h, by: 997) {
            let want = linearWindow(Double(pixels[i]), center: 2048, width: 4096)
            worst = max(worst, abs(Double(scan.image.pixels[i]) - want))
        }
        #expect(worst <= 1, "largest difference from the DICOM window formula: \(worst)")
    }

    /// The same pixels, window and name as the file DCMTK's `saveFile` wrote for the earlier C++
    /// writer (Fixtures/dicom/dcmtk-writer-64x48.dcm) decode to the same image and metadata.
    @Test func decodesLikeTheFileDCMTKWrote() throws {
        let dir = try Support.temporaryDirectory()
        defer { Support.cleanUp(dir) }
        let url = dir.appendingPathComponent("swift-writer.dcm")
        try DICOMWriter.writeMonochrome16(width: 64, height: 48, pixels: Self.fixturePixels(), bitsStored: 12,
                                          windowCenter: 2048, windowWidth: 4096, patientName: "Test^Synthetic", to: url)
        let ours = try DICOMDecoder().decode(contentsOf: url)
        let dcmtk = try DICOMDecoder().decode(contentsOf: Support.fixture("dcmtk-writer-64x48.dcm"))
        #expect(ours.image == dcmtk.image)
        #expect(ours.notes == dcmtk.notes)
        let (a, b) = (ours.metadata, dcmtk.metadata)
        #expect(a.rows == b.rows && a.columns == b.columns && a.bitsAllocated == b.bitsAllocated && a.bitsStored == b.bitsStored)
        #expect(a.photometricInterpretation == b.photometricInterpretation && a.transferSyntaxUID == b.transferSyntaxUID)
        #expect(a.sopClassUID == b.sopClassUID && a.patientName == b.patientName && a.modality == b.modality)
    }

    /// dcmdump parses every element without complaint, with the values written.
    @Test(.enabled(if: Support.toolExists("dcmdump"), "needs DCMTK's dcmdump"))
    func dcmdumpReadsEveryElement() throws {
        let dir = try Support.temporaryDirectory()
        defer { Support.cleanUp(dir) }
        let url = dir.appendingPathComponent("dump.dcm")
        try DICOMWriter.writeMonochrome16(width: 3, height: 2, pixels: [0, 1, 2, 3, 4, 4095], bitsStored: 12,
                                          windowCenter: 40.5, windowWidth: 400, patientName: "Müller^Zoë", to: url)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["dcmdump", url.path]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let dump = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let complaints = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        #expect(p.terminationStatus == 0 && complaints.isEmpty, "\(complaints)")
        for line in ["(0002,0010) UI =LittleEndianExplicit", "(0008,0005) CS [ISO_IR 192]", "(0008,0016) UI =SecondaryCaptureImageStorage",
                     "(0010,0010) PN [Müller^Zoë]", "(0028,0004) CS [MONOCHROME2]", "(0028,0010) US 2", "(0028,0011) US 3",
                     "(0028,0100) US 16", "(0028,0101) US 12", "(0028,0102) US 11", "(0028,0103) US 0",
                     "(0028,1050) DS [40.5]", "(0028,1051) DS [400]",
                     "(7fe0,0010) OW 0000\\0001\\0002\\0003\\0004\\0fff"] {
            #expect(dump.contains(line), "dcmdump lacks \(line):\n\(dump)")
        }
    }

    @Test func everyFileGetsNewUIDs() throws {
        let dir = try Support.temporaryDirectory()
        defer { Support.cleanUp(dir) }
        var uids: Set<String> = []
        for i in 0..<2 {
            let url = dir.appendingPathComponent("u\(i).dcm")
            try DICOMWriter.writeMonochrome16(width: 2, height: 2, pixels: [0, 1, 2, 3], bitsStored: 2,
                                              windowCenter: 2, windowWidth: 4, to: url)
            let m = try DICOMDecoder().decode(contentsOf: url).metadata
            uids.formUnion([m.studyInstanceUID, m.seriesInstanceUID, m.sopInstanceUID].compactMap { $0 })
            #expect(m.patientName == nil)
        }
        #expect(uids.count == 6)
    }

    @Test func invalidValuesAreRefused() throws {
        let dir = try Support.temporaryDirectory()
        defer { Support.cleanUp(dir) }
        let url = dir.appendingPathComponent("bad.dcm")
        #expect(throws: DICOMWriter.Failure.self) {
            try DICOMWriter.writeMonochrome16(width: 2, height: 2, pixels: [1, 2, 3], windowCenter: 1, windowWidth: 2, to: url)
        }
        do {
            try DICOMWriter.writeMonochrome16(width: 2, height: 1, pixels: [0, 4096], bitsStored: 12,
                                              windowCenter: 1, windowWidth: 2, to: url)
            Issue.record("a 13-bit value was accepted for 12 bits stored")
        } catch {
            #expect(error.file == "bad.dcm" && error.cause.contains("12 bits"))
        }
        do {
            try DICOMWriter.writeMonochrome16(width: 1, height: 1, pixels: [0], windowCenter: 1, windowWidth: 2,
                                              to: dir.appendingPathComponent("no/such/folder/x.dcm"))
            Issue.record("writing into a missing folder succeeded")
        } catch {
            #expect(error.file == "x.dcm")
        }
        #expect(FileManager.default.fileExists(atPath: url.path) == false)
    }

    @Test func utf8PatientNameRoundTripsThroughTheWriter() throws {
        let dir = try Support.temporaryDirectory()
        defer { Support.cleanUp(dir) }
        let url = dir.appendingPathComponent("name.dcm")
        try DICOMWriter.writeMonochrome16(width: 2, height: 2, pixels: [0, 1, 2, 3], bitsStored: 2,
                                          windowCenter: 2, windowWidth: 4, patientName: "Müller^Zoë", to: url)
        #expect(try DICOMDecoder().decode(contentsOf: url).metadata.patientName == "Müller^Zoë")
    }

    @Test func utf8PatientNameSetWithDcmodify() throws {
        let dir = try Support.temporaryDirectory()
        defer { Support.cleanUp(dir) }
        let url = dir.appendingPathComponent("copy.dcm")
        try FileManager.default.copyItem(at: Support.fixture("MR_small_RLE.dcm"), to: url)
        let result = try Support.run("dcmodify", ["-nb", "-i", "(0008,0005)=ISO_IR 192", "-i", "(0010,0010)=Müller^Zoë", url.path])
        try #require(result.status == 0, "dcmodify: \(result.stderr)")
        #expect(try DICOMDecoder().decode(contentsOf: url).metadata.patientName == "Müller^Zoë")
    }

    @Test func latin1PatientNameIsConvertedToUTF8() throws {
        let dir = try Support.temporaryDirectory()
        defer { Support.cleanUp(dir) }
        // Write an ASCII placeholder of the same length, then put ISO 8859-1 bytes in its place.
        let url = dir.appendingPathComponent("latin1.dcm")
        try DICOMWriter.writeMonochrome16(width: 2, height: 2, pixels: [0, 1, 2, 3], bitsStored: 2,
                                          windowCenter: 2, windowWidth: 4, patientName: "MXller^ZoX", to: url)
        var bytes = [UInt8](try Data(contentsOf: url))
        let placeholder = Array("MXller^ZoX".utf8)
        let latin1: [UInt8] = [0x4D, 0xFC, 0x6C, 0x6C, 0x65, 0x72, 0x5E, 0x5A, 0x6F, 0xEB]  // Müller^Zoë
        let at = try #require((0...(bytes.count - placeholder.count)).first { Array(bytes[$0..<($0 + placeholder.count)]) == placeholder })
        bytes.replaceSubrange(at..<(at + latin1.count), with: latin1)
        try Data(bytes).write(to: url)
        let result = try Support.run("dcmodify", ["-nb", "-i", "(0008,0005)=ISO_IR 100", url.path])
        try #require(result.status == 0, "dcmodify: \(result.stderr)")
        #expect(try DICOMDecoder().decode(contentsOf: url).metadata.patientName == "Müller^Zoë")
    }
}
