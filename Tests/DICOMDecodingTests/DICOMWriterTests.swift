import DICOMDecoding
import Foundation
import Testing
import XRayCore

@Suite("DICOM writing and text encoding")
struct DICOMWriterTests {
    /// DICOM PS3.3 C.11.2.1.2.1 linear window, output 0...255.
    private func linearWindow(_ x: Double, center c: Double, width w: Double) -> Double {
        if x <= c - 0.5 - (w - 1) / 2 { return 0 }
        if x > c - 0.5 + (w - 1) / 2 { return 255 }
        return ((x - (c - 0.5)) / (w - 1) + 0.5) * 255
    }

    @Test func writtenImageDecodesWithItsWindow() throws {
        let dir = try Support.temporaryDirectory()
        defer { Support.cleanUp(dir) }
        let url = dir.appendingPathComponent("synthetic.dcm")
        let (w, h) = (2000, 2000)
        var pixels = [UInt16](repeating: 0, count: w * h)
        for y in 0..<h { for x in 0..<w { pixels[y * w + x] = UInt16((x * 7 + y * 3) % 4096) } }
        try DICOMDecoder.writeMonochrome16(width: w, height: h, pixels: pixels, bitsStored: 12,
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
            #expect(uid?.hasPrefix("1.2.276.0.7230010.3.") == true, "\(uid ?? "nil")")  // DCMTK's UID root
        }
        var worst = 0.0
        for i in stride(from: 0, to: w * h, by: 997) {
            let want = linearWindow(Double(pixels[i]), center: 2048, width: 4096)
            worst = max(worst, abs(Double(scan.image.pixels[i]) - want))
        }
        #expect(worst <= 1, "largest difference from the DICOM window formula: \(worst)")
    }

    @Test func everyFileGetsNewUIDs() throws {
        let dir = try Support.temporaryDirectory()
        defer { Support.cleanUp(dir) }
        var uids: Set<String> = []
        for i in 0..<2 {
            let url = dir.appendingPathComponent("u\(i).dcm")
            try DICOMDecoder.writeMonochrome16(width: 2, height: 2, pixels: [0, 1, 2, 3], bitsStored: 2,
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
        #expect(throws: DICOMError.self) {
            try DICOMDecoder.writeMonochrome16(width: 2, height: 2, pixels: [1, 2, 3], windowCenter: 1, windowWidth: 2, to: url)
        }
        do {
            try DICOMDecoder.writeMonochrome16(width: 2, height: 1, pixels: [0, 4096], bitsStored: 12,
                                               windowCenter: 1, windowWidth: 2, to: url)
            Issue.record("a 13-bit value was accepted for 12 bits stored")
        } catch {
            guard case let .writeFailed(file, cause) = error else { Issue.record("got \(error)"); return }
            #expect(file == "bad.dcm" && cause.contains("12 bits"))
        }
        do {
            try DICOMDecoder.writeMonochrome16(width: 1, height: 1, pixels: [0], windowCenter: 1, windowWidth: 2,
                                               to: dir.appendingPathComponent("no/such/folder/x.dcm"))
            Issue.record("writing into a missing folder succeeded")
        } catch {
            guard case .writeFailed(file: "x.dcm", _) = error else { Issue.record("got \(error)"); return }
        }
        #expect(FileManager.default.fileExists(atPath: url.path) == false)
    }

    @Test func utf8PatientNameRoundTripsThroughTheWriter() throws {
        let dir = try Support.temporaryDirectory()
        defer { Support.cleanUp(dir) }
        let url = dir.appendingPathComponent("name.dcm")
        try DICOMDecoder.writeMonochrome16(width: 2, height: 2, pixels: [0, 1, 2, 3], bitsStored: 2,
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
        try DICOMDecoder.writeMonochrome16(width: 2, height: 2, pixels: [0, 1, 2, 3], bitsStored: 2,
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
