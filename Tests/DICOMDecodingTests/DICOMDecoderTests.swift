import DICOMDecoding
import Foundation
import Testing
import XRayCore

/// What a fixture must decode to; the expected pixels are `expected/<stem>.pgm` (made by dcmj2pnm/dcml2pnm,
/// see Tests/Fixtures/make_dicom_fixtures.py).
struct RenderingCase: Sendable, CustomTestStringConvertible {
    enum Window: Sendable { case file(Double, Double), voiLUT, automatic, none }
    let file: String
    let window: Window
    var inverted = false
    var colour = false
    var frames = 1
    var testDescription: String { file }
}

@Suite("DICOM decoding: fixtures in the repository")
struct DICOMDecoderTests {
    static let renderings: [RenderingCase] = [
        RenderingCase(file: "CR-MONO1-10-chest.dcm", window: .file(550, 1024), inverted: true),
        RenderingCase(file: Support.siim, window: .none),
        RenderingCase(file: "torchxrayvision_Fake_MONOHR1.dcm", window: .none, inverted: true),
        RenderingCase(file: "MR_small_jpeg_ls_lossless.dcm", window: .file(600, 1600)),
        RenderingCase(file: "MR_small_RLE.dcm", window: .file(600, 1600)),
        RenderingCase(file: "highdicom_dx_image.dcm", window: .file(128, 256), inverted: true),
        RenderingCase(file: "jpeg_lossless_with_inverse_presentation_lut_shape.dcm", window: .file(60, 360), inverted: true),
        RenderingCase(file: "vlut_04.dcm", window: .voiLUT),
        RenderingCase(file: "CT_small.dcm", window: .automatic),
        RenderingCase(file: "JPEG-LL.dcm", window: .automatic),
        RenderingCase(file: "emri_small.dcm", window: .automatic, frames: 10),
        RenderingCase(file: "SC_rgb_small_odd.dcm", window: .none, colour: true),
        RenderingCase(file: "SC_rgb_jpeg_dcmtk.dcm", window: .none, colour: true),
        // JPEG 2000 (OpenJPEG), against GDCM's decoder (gdcmconv --raw) then dcmj2pnm.
        RenderingCase(file: "MR_small_jp2klossless.dcm", window: .file(600, 1600)),
        RenderingCase(file: "JPEG2000.dcm", window: .automatic),
        // High-Throughput JPEG 2000, made by OpenJPH (ojph_compress), against OpenJPH's decoder then dcmj2pnm.
        RenderingCase(file: "CR-MONO1-10-chest_htj2k.dcm", window: .file(550, 1024), inverted: true),
        RenderingCase(file: "SC_rgb_htj2k_rct.dcm", window: .none, colour: true),
    ]

    /// Where the codestream and the header disagree, the codestream is trusted and the notes say so; a
    /// codestream's colour transform is undone once (by OpenJPEG), not again for the header's YBR_RCT.
    @Test func jpeg2000TrustsTheCodestreamAndSaysSo() throws {
        let chest = try DICOMDecoder().decode(contentsOf: Support.fixture("CR-MONO1-10-chest_htj2k.dcm"))
        #expect(chest.metadata.transferSyntaxUID == "1.2.840.10008.1.2.4.201")
        #expect(chest.notes.messages.contains {
            $0.contains("codestream holds 10-bit unsigned samples, the header says 12-bit signed: the codestream was trusted")
        }, "\(chest.notes.messages)")
        #expect(chest.notes.messages.contains { $0.contains("decoded by OpenJPEG") })
        let colour = try DICOMDecoder().decode(contentsOf: Support.fixture("SC_rgb_htj2k_rct.dcm"))
        #expect(colour.notes.convertedFromColour)
        #expect(colour.notes.messages.contains { $0.contains("YBR_RCT: OpenJPEG undid the codestream's colour transform") })
        // The same pixels as the JPEG original they were made from (lossless), so the same rendering.
        let original = try DICOMDecoder().decode(contentsOf: Support.fixture("SC_rgb_jpeg_dcmtk.dcm"))
        #expect(colour.image.pixels == original.image.pixels)
    }

    @Test("renders exactly like DCMTK's own tool with the same VOI choice", arguments: renderings)
    func rendering(_ c: RenderingCase) throws {
        let scan = try DICOMDecoder().decode(contentsOf: Support.fixture(c.file))
        let stem = (c.file as NSString).deletingPathExtension
        let expected = try Support.readPGM(Support.expected.appendingPathComponent(stem + ".pgm"))
        let diff = try #require(Support.difference(scan.image, expected), "size \(scan.image.width)x\(scan.image.height) vs \(expected.width)x\(expected.height)")
        #expect(diff.max == 0, "\(diff.count) pixels differ, by up to \(diff.max)")

        #expect(scan.notes.format == .dicom)
        #expect(scan.notes.inverted == c.inverted)
        #expect(scan.notes.convertedFromColour == c.colour)
        #expect(scan.notes.frameCount == c.frames)
        switch (c.window, scan.notes.window) {
        case let (.file(ec, ew), .file(center, width)):
            #expect(center == ec && width == ew)
        case (.voiLUT, .voiLUT), (.none, .none):
            break
        case let (.automatic, .automatic(method, center, width)):
            // Centre/width computed independently by the fixture script (NumPy percentiles of pydicom's
            // modality-LUT output) must be what the decoder chose.
            let text = try String(contentsOf: Support.expected.appendingPathComponent(stem + ".window.txt"), encoding: .utf8)
            let numbers = text.split(whereSeparator: \.isWhitespace).compactMap { Double($0) }
            #expect(numbers == [center, width], "decoder chose \(center)/\(width), NumPy \(numbers)")
            #expect(method.contains("percentile"))
            // And a rendering made with NumPy alone agrees within one grey level (rounding differs:
            // DCMTK evaluates the linear VOI function through its own LUT arithmetic).
            let numpy = try Support.readPGM(Support.expected.appendingPathComponent(stem + ".numpy.pgm"))
            let independent = try #require(Support.difference(scan.image, numpy))
            #expect(independent.max <= 1, "\(independent.count) pixels differ from NumPy by up to \(independent.max)")
        default:
            Issue.record("window \(scan.notes.window), expected \(c.window)")
        }
    }

    @Test func multiFrameUsesTheFirstFrameAndSaysSo() throws {
        let scan = try DICOMDecoder().decode(contentsOf: Support.fixture("emri_small.dcm"))
        #expect(scan.notes.frameCount == 10)
        #expect(scan.metadata.numberOfFrames == 10)
        #expect(scan.notes.summary.contains("first of 10 frames used"))
    }

    @Test func crMono1ChestHeader() throws {
        let scan = try DICOMDecoder().decode(contentsOf: Support.fixture("CR-MONO1-10-chest.dcm"))
        let m = scan.metadata
        #expect(m.rows == 440 && m.columns == 440)
        #expect(scan.image.width == 440 && scan.image.height == 440)
        #expect(m.photometricInterpretation == "MONOCHROME1")
        #expect(m.bitsAllocated == 16 && m.bitsStored == 10)
        #expect(m.patientName == "Anonymized")
        #expect(m.patientID == nil && m.patientBirthDate == nil)
        #expect(m.modality == "CR")
        #expect(m.bodyPartExamined == "CHEST")
        #expect(m.viewPosition == "PA")
        #expect(m.manufacturer == "FUJI PHOTO FILM CO. LTD.")
        #expect(m.institutionName == "FUJI PHOTO FILM CO.,")
        #expect(m.accessionNumber == "FUJI95714")
        #expect(m.sopClassUID == "1.2.840.10008.5.1.4.1.1.1")
        #expect(m.sopInstanceUID == "1.2.392.200036.9125.0.19950720112207")
        #expect(m.studyInstanceUID == "1.2.392.200036.9125.0.199302241758.16")
        #expect(m.seriesInstanceUID == "1.2.392.200036.9125.0.199302241758.16")
        #expect(m.studyDate == nil)
        #expect(m.pixelSpacing == nil)
        #expect(m.numberOfFrames == 1)
        // No meta header: DCMTK detected implicit VR little endian.
        #expect(m.transferSyntaxUID == "1.2.840.10008.1.2")
        #expect(m.transferSyntaxName == "Little Endian Implicit")
        #expect(scan.notes.messages.contains { $0.contains("no DICOM file meta header") })
    }

    @Test func siimChestHeader() throws {
        let scan = try DICOMDecoder().decode(contentsOf: Support.fixture(Support.siim))
        let m = scan.metadata
        #expect(m.rows == 1024 && m.columns == 1024)
        #expect(m.patientName == "16d7f894-55d7-4d95-8957-d18987f0e981")
        #expect(m.patientID == "16d7f894-55d7-4d95-8957-d18987f0e981")
        #expect(m.patientSex == "M")
        #expect(m.patientAge == "62")
        #expect(m.patientBirthDate == nil)
        #expect(m.studyDate == "19010101")
        #expect(m.studyTime == "000000.00")
        #expect(m.studyDescription == nil)
        #expect(m.accessionNumber == nil)
        #expect(m.modality == "CR")
        #expect(m.bodyPartExamined == "CHEST")
        #expect(m.viewPosition == "PA")
        #expect(m.sopClassUID == "1.2.840.10008.5.1.4.1.1.7")
        #expect(m.sopInstanceUID == "1.2.276.0.7230010.3.1.4.8323329.6904.1517875201.850819")
        #expect(m.studyInstanceUID == "1.2.276.0.7230010.3.1.2.8323329.6904.1517875201.850818")
        #expect(m.seriesInstanceUID == "1.2.276.0.7230010.3.1.3.8323329.6904.1517875201.850817")
        #expect(m.pixelSpacing == [0.168, 0.168])
        #expect(m.photometricInterpretation == "MONOCHROME2")
        #expect(m.bitsAllocated == 8 && m.bitsStored == 8)
        #expect(m.transferSyntaxUID == "1.2.840.10008.1.2.4.50")
        #expect(m.transferSyntaxName?.hasPrefix("JPEG Baseline") == true)
        #expect(m.numberOfFrames == 1)
        #expect(scan.notes.window == .none)
    }

    @Test func sniffing() throws {
        let dir = try Support.temporaryDirectory()
        defer { Support.cleanUp(dir) }
        #expect(DICOMDecoder.isProbablyDICOM(Support.fixture(Support.siim)))
        #expect(DICOMDecoder.isProbablyDICOM(Support.fixture("CR-MONO1-10-chest.dcm")))  // no preamble, no meta
        #expect(DICOMDecoder.isProbablyDICOM(Support.fixture("reportsi.dcm")))
        // A damaged bare data set is still DICOM: its decoding error then says it is damaged, instead of the
        // loader calling it "not a DICOM, PNG or JPEG file" (issue 14, 5c).
        #expect(DICOMDecoder.isProbablyDICOM(Support.fixture("no_meta.dcm")))
        let random = dir.appendingPathComponent("random.dcm")
        try Data(seededBytes: 4096).write(to: random)
        #expect(!DICOMDecoder.isProbablyDICOM(random))
        let empty = dir.appendingPathComponent("empty.dcm")
        try Data().write(to: empty)
        #expect(!DICOMDecoder.isProbablyDICOM(empty))
        #expect(!DICOMDecoder.isProbablyDICOM(dir.appendingPathComponent("missing.dcm")))
        #expect(!DICOMDecoder.isProbablyDICOM(dir))
    }

    @Test func decodesConcurrently() async throws {
        let files = ["CR-MONO1-10-chest.dcm", "MR_small_RLE.dcm", "MR_small_jpeg_ls_lossless.dcm", Support.siim,
                     "CT_small.dcm", "SC_rgb_jpeg_dcmtk.dcm", "JPEG2000.dcm", "reportsi.dcm"]
        /// The decoded pixels, or the error text: what one decode produced.
        @Sendable func outcome(_ name: String) -> String {
            do {
                let pixels = try DICOMDecoder().decode(contentsOf: Support.fixture(name)).image.pixels
                return "\(pixels.count) pixels, FNV-1a \(pixels.reduce(UInt64(0xcbf2_9ce4_8422_2325)) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 })"
            } catch {
                return error.description
            }
        }
        let serial = files.map(outcome)
        let parallel = await withTaskGroup(of: (Int, String).self) { group in
            for _ in 0..<4 {
                for (i, name) in files.enumerated() { group.addTask { (i, outcome(name)) } }
            }
            var results: [(Int, String)] = []
            for await r in group { results.append(r) }
            return results
        }
        #expect(parallel.count == files.count * 4)
        for (i, result) in parallel { #expect(result == serial[i], "\(files[i])") }
    }
}

extension Data {
    /// Deterministic pseudo-random bytes (xorshift), so the "random file" test never flakes.
    init(seededBytes count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) {
        var state = seed
        var bytes = [UInt8](repeating: 0, count: count)
        for i in 0..<count {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            bytes[i] = UInt8(truncatingIfNeeded: state >> 24)
        }
        self.init(bytes)
    }
}
