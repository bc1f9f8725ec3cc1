import Benchmarks
import DICOMDecoding
import Foundation
import Testing
import XRayCore

@Suite("DICOM decoding: every failure is specific and says what to do")
struct DICOMErrorTests {
    private func decodeError(_ url: URL) -> DICOMError? {
        do {
            _ = try DICOMDecoder().decode(contentsOf: url)
            return nil
        } catch {
            return error
        }
    }

    @Test func aSyntaxNoDecoderHandlesIsNamedWithWhatToDo() throws {
        // JPEG XL (newer than DCMTK 3.6.7, and no decoder here): hostile-input fixture, see its README.
        let hostile = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/hostile/ts_jpegxl.dcm")
        let error = try #require(decodeError(hostile))
        guard case let .unsupportedTransferSyntax(file, syntax, uid) = error else {
            Issue.record("got \(error)"); return
        }
        #expect(file == "ts_jpegxl.dcm")
        #expect(uid == "1.2.840.10008.1.2.4.110")
        #expect(syntax == "JPEG XL Lossless")
        #expect(error.description.hasPrefix("ts_jpegxl.dcm uses JPEG XL Lossless (1.2.840.10008.1.2.4.110)"))
        #expect(error.description.contains("gdcmconv --raw"))
    }

    /// A stray TEM marker (0xFF01) followed by zeros in place of the JFIF header made DCMTK's JPEG lossless
    /// decoder spin for minutes (found by the mutation fuzz run, seed 1, mutant 1366); it is refused at once.
    @Test func aStrayMarkerBeforeTheJPEGFrameHeaderIsRefusedAtOnce() throws {
        var data = try Data(contentsOf: Support.fixture("jpeg_lossless_with_inverse_presentation_lut_shape.dcm"))
        guard let soi = data.firstRange(of: Data([0xFF, 0xD8, 0xFF, 0xE0])) else { Issue.record("no JFIF header"); return }
        data.replaceSubrange(soi.lowerBound + 3..<soi.lowerBound + 6, with: [0x01, 0x00, 0x00])
        let dir = try Support.temporaryDirectory()
        defer { Support.cleanUp(dir) }
        let url = dir.appendingPathComponent("tem.dcm")
        try data.write(to: url)
        let start = Date()
        let error = try #require(decodeError(url))
        #expect(Date().timeIntervalSince(start) < 5)
        guard case let .corrupt(_, reason) = error else { Issue.record("got \(error)"); return }
        #expect(reason.contains("JPEG header is damaged: marker 0x01 at offset 2 before the frame header"), "\(reason)")
    }

    @Test func damagedJPEG2000IsCorruptAndNamesOpenJPEGsReason() throws {
        // A JPEG 2000 codestream cut short: the first fragment only, half of it.
        let source = try Data(contentsOf: Support.fixture("MR_small_jp2klossless.dcm"))
        let dir = try Support.temporaryDirectory()
        defer { Support.cleanUp(dir) }
        let cut = dir.appendingPathComponent("cut.dcm")
        guard let soc = source.firstRange(of: Data([0xFF, 0x4F, 0xFF, 0x51])) else { Issue.record("no SOC"); return }
        // Zero the fragment after the codestream's first 40 bytes (same length, so the DICOM structure holds).
        let length = source[soc.lowerBound - 4..<soc.lowerBound].reversed().reduce(0) { $0 << 8 | Int($1) }
        var damaged = source
        damaged.replaceSubrange(soc.lowerBound + 40..<soc.lowerBound + length, with: Data(count: length - 40))
        try damaged.write(to: cut)
        let error = try #require(decodeError(cut))
        guard case let .corrupt(file, reason) = error else { Issue.record("got \(error)"); return }
        #expect(file == "cut.dcm")
        #expect(reason.contains("JPEG 2000") && reason.contains("OpenJPEG"), "\(reason)")
    }

    @Test func structuredReportHasNoPixelData() throws {
        let error = try #require(decodeError(Support.fixture("reportsi.dcm")))
        #expect(error == .noPixelData(file: "reportsi.dcm", sopClass: "Basic Text SR"))
        #expect(error.description == "reportsi.dcm is a DICOM object without image pixels (Basic Text SR); only radiographs can be classified.")
    }

    @Test func truncatedFileIsCorruptWithDCMTKsMessage() throws {
        let error = try #require(decodeError(Support.fixture("MR_truncated.dcm")))
        guard case let .corrupt(file, cause) = error else { Issue.record("got \(error)"); return }
        #expect(file == "MR_truncated.dcm")
        #expect(cause.contains("premature end of stream") || cause.contains("larger"), "cause: \(cause)")
        #expect(error.description.hasPrefix("MR_truncated.dcm is a damaged or truncated DICOM file ("))
    }

    @Test func damagedBareDataSetIsCorruptNotNonDICOM() throws {
        let error = try #require(decodeError(Support.fixture("no_meta.dcm")))
        guard case let .corrupt(file, cause) = error else { Issue.record("got \(error)"); return }
        #expect(file == "no_meta.dcm")
        #expect(!cause.isEmpty)
    }

    @Test func randomBytesAreNotDICOM() throws {
        let dir = try Support.temporaryDirectory()
        defer { Support.cleanUp(dir) }
        let url = dir.appendingPathComponent("scan.dcm")
        try Data(seededBytes: 64 * 1024).write(to: url)
        let error = try #require(decodeError(url))
        guard case let .notDICOM(file, cause) = error else { Issue.record("got \(error)"); return }
        #expect(file == "scan.dcm")
        #expect(cause.contains("DICM"))
        #expect(error.description.hasPrefix("scan.dcm is not a DICOM file"))
    }

    @Test func textIsNotDICOM() throws {
        let dir = try Support.temporaryDirectory()
        defer { Support.cleanUp(dir) }
        let url = dir.appendingPathComponent("notes.dcm")
        try Data(String(repeating: "hello world, this is not an image\n", count: 20).utf8).write(to: url)
        guard case .notDICOM(file: "notes.dcm", _) = try #require(decodeError(url)) else {
            Issue.record("expected notDICOM"); return
        }
    }

    @Test func emptyFileIsNotDICOM() throws {
        let dir = try Support.temporaryDirectory()
        defer { Support.cleanUp(dir) }
        let url = dir.appendingPathComponent("empty.dcm")
        try Data().write(to: url)
        let error = try #require(decodeError(url))
        #expect(error == .notDICOM(file: "empty.dcm", cause: "the file is empty (0 bytes)"))
        #expect(error.description.contains("empty.dcm is not a DICOM file (the file is empty (0 bytes))"))
    }

    @Test func missingFileAndDirectoryAreUnreadable() throws {
        let dir = try Support.temporaryDirectory()
        defer { Support.cleanUp(dir) }
        let missing = try #require(decodeError(dir.appendingPathComponent("gone.dcm")))
        #expect(missing == .unreadable(file: "gone.dcm", cause: "No such file or directory"))
        #expect(missing.description.hasPrefix("gone.dcm could not be read (No such file or directory)"))
        let folder = dir.appendingPathComponent("study.dcm", isDirectory: true)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        #expect(decodeError(folder) == .unreadable(file: "study.dcm", cause: "it is a directory"))
    }

    @Test(.enabled(if: getuid() != 0, "root reads files whatever their permissions"))
    func permissionDeniedIsUnreadable() throws {
        let dir = try Support.temporaryDirectory()
        defer { Support.cleanUp(dir) }
        let url = dir.appendingPathComponent("locked.dcm")
        try FileManager.default.copyItem(at: Support.fixture("MR_small_RLE.dcm"), to: url)
        try FileManager.default.setAttributes([.posixPermissions: 0], ofItemAtPath: url.path)
        #expect(decodeError(url) == .unreadable(file: "locked.dcm", cause: "Permission denied"))
    }

    @Test func tooLargeIsRefusedBeforeDecoding() throws {
        let dir = try Support.temporaryDirectory()
        defer { Support.cleanUp(dir) }
        // A valid small file whose header then claims 60000 x 60000 pixels (3.6 gigapixels).
        let url = dir.appendingPathComponent("huge.dcm")
        try DICOMWriter.writeMonochrome16(width: 4, height: 4, pixels: [UInt16](repeating: 100, count: 16),
                                          bitsStored: 12, windowCenter: 100, windowWidth: 200, to: url)
        let result = try Support.run("dcmodify", ["-nb", "-m", "(0028,0010)=60000", "-m", "(0028,0011)=60000", url.path])
        try #require(result.status == 0, "dcmodify: \(result.stderr)")
        let clock = ContinuousClock()
        var error: DICOMError?
        let elapsed = clock.measure { error = decodeError(url) }
        #expect(error == .tooLarge(file: "huge.dcm", columns: 60000, rows: 60000))
        #expect(error?.description.hasPrefix("huge.dcm is 60000x60000 pixels, more than the limit of 16384 pixels a side") == true)
        #expect(elapsed < .seconds(1), "took \(elapsed)")
    }

    @Test func everyDescriptionIsOneLineAndNamesTheFile() {
        let errors: [DICOMError] = [
            .unreadable(file: "a.dcm", cause: "Permission denied"),
            .notDICOM(file: "a.dcm", cause: "x"),
            .corrupt(file: "a.dcm", cause: "I/O suspension or premature end of stream"),
            .noPixelData(file: "a.dcm", sopClass: "Basic Text SR"),
            .unsupportedTransferSyntax(file: "a.dcm", syntax: "JPEG 2000", uid: "1.2.840.10008.1.2.4.90"),
            .tooLarge(file: "a.dcm", columns: 60000, rows: 60000),
            .internalError(file: "a.dcm", cause: "x"),
        ]
        for error in errors {
            #expect(error.description.contains("a.dcm"))
            #expect(!error.description.contains("\n"))
            #expect(error.file == "a.dcm")
        }
    }
}
