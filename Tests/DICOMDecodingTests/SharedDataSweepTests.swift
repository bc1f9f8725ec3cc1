import DICOMDecoding
import Foundation
import Testing
import XRayCore

/// Every file of the shared DICOM test data ($CXR_SHARED_DATA/dicom/{chest,conformance}) either decodes to
/// exactly what DCMTK's own tool renders with the same VOI choice, or fails with the expected specific error.
/// Run with CXR_SHARED_DATA=/work/shared/data.
@Suite("DICOM decoding: sweep over the shared test data",
       .enabled(if: ProcessInfo.processInfo.environment["CXR_SHARED_DATA"] != nil, "set CXR_SHARED_DATA to run"))
struct SharedDataSweepTests {
    enum Expected: Equatable { case decodes, unsupportedSyntax, noPixelData, damaged }

    /// Files that must fail, and how; every other file must decode.
    static let failures: [String: Expected] = [
        // JPEG 2000 decodes (OpenJPEG; checked against GDCM's decoder), except this one: 4 codestream
        // bytes replaced by a Sequence Delimiter.
        "JPEG2000-embedded-sequence-delimiter.dcm": .damaged,
        "reportsi.dcm": .noPixelData,
        "MR_truncated.dcm": .damaged,
        "emri_small_jpeg_2k_lossless_too_short.dcm": .damaged,
        "no_meta.dcm": .damaged,
        "SC_rgb_jpeg.dcm": .damaged,
    ]

    static func sharedFiles() -> [URL] {
        guard let root = ProcessInfo.processInfo.environment["CXR_SHARED_DATA"] else { return [] }
        let base = URL(fileURLWithPath: root).appendingPathComponent("dicom", isDirectory: true)
        return ["chest", "conformance"].flatMap { sub -> [URL] in
            let dir = base.appendingPathComponent(sub, isDirectory: true)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
            return names.filter { $0.hasSuffix(".dcm") }.sorted().map { dir.appendingPathComponent($0) }
        }
    }

    @Test func everySharedFileDecodesLikeDCMTKOrFailsAsExpected() throws {
        let files = Self.sharedFiles()
        #expect(files.count == 48, "expected the 48 files listed in INVENTORY.md, found \(files.count)")
        let tmp = try Support.temporaryDirectory()
        defer { Support.cleanUp(tmp) }
        var table: [String] = []
        for url in files {
            let name = url.lastPathComponent
            let expected = Self.failures[name] ?? .decodes
            let line: String
            do {
                let scan = try DICOMDecoder().decode(contentsOf: url)
                var outcome = "decoded \(scan.image.width)x\(scan.image.height), \(scan.notes.window)"
                if scan.notes.inverted { outcome += ", inverted" }
                if scan.notes.frameCount > 1 { outcome += ", frame 1 of \(scan.notes.frameCount)" }
                if scan.notes.convertedFromColour { outcome += ", colour to grey" }
                #expect(expected == .decodes, "\(name) decoded but should fail as \(expected)")
                do {
                    let reference = try Support.renderWithTool(url, like: scan, into: tmp)
                    if let diff = Support.difference(scan.image, reference) {
                        #expect(diff.max == 0, "\(name): \(diff.count) pixels differ from the tool, by up to \(diff.max)")
                        outcome += diff.max == 0 ? "; = \(Support.renderTool(forTransferSyntax: scan.metadata.transferSyntaxUID)) \(Support.toolOptions(for: scan.notes).joined(separator: " "))"
                                                 : "; DIFFERS from tool by up to \(diff.max)"
                    } else {
                        Issue.record("\(name): size \(scan.image.width)x\(scan.image.height) differs from the tool's \(reference.width)x\(reference.height)")
                        outcome += "; SIZE DIFFERS from tool"
                    }
                } catch {
                    Issue.record("\(name): reference rendering failed: \(error)")
                    outcome += "; tool failed"
                }
                line = outcome
            } catch {
                let got: Expected
                switch error {
                case .unsupportedTransferSyntax: got = .unsupportedSyntax
                case .noPixelData: got = .noPixelData
                case .corrupt, .unreadable: got = .damaged
                default: got = .decodes  // anything else is wrong for every file here
                }
                #expect(got == expected && got != .decodes, "\(name): \(error.description)")
                #expect(error.description.contains(name))
                line = "refused: \(error.description)"
            }
            table.append("\(name.padding(toLength: 52, withPad: " ", startingAt: 0)) \(line)")
        }
        print("DICOM sweep (\(files.count) files):\n" + table.joined(separator: "\n"))
    }
}
