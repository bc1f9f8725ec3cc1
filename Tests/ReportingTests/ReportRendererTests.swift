import CAM
import Foundation
@testable import Reporting
import Testing
import XRayCore

/// Per-scan PDF reports, rendered for real with Cairo and read back with poppler's tools.
@Suite struct ReportRendererTests {
    static let modelHash = String(repeating: "3f9a", count: 16)
    static let inputHash = String(repeating: "b7c2", count: 16)

    /// A saliency blob over the right lower lung of a scan, blended with inferno.
    static func overlay(for scan: GrayImage) -> RGBImage {
        var values = [Float](repeating: 0, count: scan.width * scan.height)
        for y in 0..<scan.height {
            for x in 0..<scan.width {
                let dx = Double(x) / Double(scan.width) - 0.65, dy = Double(y) / Double(scan.height) - 0.6
                values[y * scan.width + x] = Float(exp(-(dx * dx + dy * dy) / 0.03))
            }
        }
        let map = ActivationMap(width: scan.width, height: scan.height, values: values, className: "covid", classIndex: 2)
        return Overlay.blend(scan: scan, map: map)
    }

    /// A DICOM CR with a UTF-8 patient name, classified COVID-19 at 0.873.
    static func dicomReport(scan: GrayImage = Support.scan(width: 600, height: 640)) -> ScanReport {
        var m = ScanMetadata()
        m.patientName = "Müller-Łukasiewicz^Zoë"
        m.patientID = "PID-00423"
        m.patientSex = "F"
        m.patientBirthDate = "19710204"
        m.patientAge = "053Y"
        m.studyDate = "20240315"
        m.studyTime = "092653.120"
        m.studyDescription = "Thorax p.a. – Verlaufskontrolle nach Pneumonie, stationär"
        m.accessionNumber = "ACC-7781"
        m.modality = "CR"
        m.bodyPartExamined = "CHEST"
        m.viewPosition = "PA"
        m.institutionName = "Universitätsklinikum Köln"
        m.manufacturer = "AGFA"
        m.bitsStored = 12
        m.photometricInterpretation = "MONOCHROME1"
        m.rows = scan.height
        m.columns = scan.width
        m.transferSyntaxName = "Explicit VR Little Endian"
        return ScanReport(
            fileName: "1.2.826.0.1.3680043.8.498.1.dcm", metadata: m,
            decoding: DecodingNotes(format: .dicom, window: .file(center: 2048, width: 4096), inverted: true),
            predictedClass: "covid",
            probabilities: [.init(className: "normal", probability: 0.10249), .init(className: "viral", probability: 0.0245),
                            .init(className: "covid", probability: 0.87301)],
            scan: scan, overlay: overlay(for: scan), overlayClass: "covid",
            model: .init(name: "resnet18-cxr", version: "1.2.0", sha256: modelHash, temperature: 1.42),
            inputSHA256: inputHash, softwareVersion: "0.4.0",
            classifiedAt: Date(timeIntervalSince1970: 1_710_494_813), createdAt: Date(timeIntervalSince1970: 1_710_494_814),
            reportID: UUID(uuidString: "0B3E8C1A-3C7D-4D55-9B6A-2F4E61C0A9D2")!)
    }

    /// A PNG without header, uncertain between normal and viral.
    static func pngReport() -> ScanReport {
        let scan = Support.scan(width: 299, height: 299, seed: 4)
        var m = ScanMetadata()
        m.rows = 299
        m.columns = 299
        m.bitsStored = 8
        return ScanReport(
            fileName: "Viral Pneumonia-1042.png", metadata: m, decoding: DecodingNotes(format: .png),
            predictedClass: "viral",
            probabilities: [.init(className: "normal", probability: 0.41), .init(className: "viral", probability: 0.52),
                            .init(className: "covid", probability: 0.07)],
            scan: scan, overlay: overlay(for: scan), overlayClass: "viral",
            warnings: ["The scan looks unlike the training data (feature distance 3.1 above the 99th percentile)."],
            model: .init(name: "resnet18-cxr", version: "1.2.0", sha256: modelHash),
            inputSHA256: inputHash, softwareVersion: "0.4.0", classifiedAt: Date(timeIntervalSince1970: 1_710_494_813))
    }

    static var committedTemplate: ReportTemplate {
        get throws { try ReportTemplate.load(contentsOf: ReportTemplateTests.committed) }
    }

    /// The `pdfimages -list` rows: (width, height, colour space, encoding).
    static func images(_ url: URL) throws -> [(width: Int, height: Int, color: String, encoding: String)] {
        try Support.run("pdfimages", ["-list", url.path]).split(separator: "\n").dropFirst(2).map { line in
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            return (Int(f[3])!, Int(f[4])!, String(f[5]), String(f[8]))
        }
    }

    /// Images go in as JPEG display copies by default (fast, small); `image_quality: lossless` keeps
    /// them deflated, and both render the same page apart from JPEG's small errors.
    @Test func imagesAreJPEGUnlessTheTemplateAsksForLossless() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let jpeg = folder.appendingPathComponent("jpeg.pdf"), lossless = folder.appendingPathComponent("lossless.pdf")
        var template = try Self.committedTemplate
        #expect(template.jpegQuality == 92)
        _ = try ReportRenderer(template: template).render(Self.dicomReport(), to: jpeg)
        template.jpegQuality = nil
        _ = try ReportRenderer(template: template).render(Self.dicomReport(), to: lossless)
        #expect(try Self.images(jpeg).map(\.encoding) == ["jpeg", "jpeg"])
        #expect(try Self.images(lossless).map(\.encoding) == ["image", "image"])
        let a = try FileManager.default.attributesOfItem(atPath: jpeg.path)[.size] as! Int
        let b = try FileManager.default.attributesOfItem(atPath: lossless.path)[.size] as! Int
        #expect(a < b)
    }

    @Test func dicomReportHasPatientStudyProbabilitiesAndDisclaimer() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let url = folder.appendingPathComponent("dicom.pdf")
        let report = Self.dicomReport()
        let template = try Self.committedTemplate
        let geometry = try ReportRenderer(template: template).render(report, to: url)

        let text = try Support.pdfText(url)
        for expected in [
            "Müller-Łukasiewicz, Zoë", "PID-00423", "1971-02-04", "2024-03-15", "09:26:53", "Universitätsklinikum Köln",
            "ACC-7781", "Normal", "Viral pneumonia", "COVID-19", "0.873", "0.102", "0.025",
            "Research use only. Not for diagnostic use.", "page 1 of 1", Self.modelHash, Self.inputHash,
            "2024-03-15T09:26:53Z", "0b3e8c1a-3c7d-4d55-9b6a-2f4e61c0a9d2", "resnet18-cxr v1.2.0", "inverted for display",
            "None.",
        ] {
            #expect(text.contains(expected), "pdftotext lacks \(expected)")
        }
        #expect(!text.contains("no DICOM header"))

        let info = try Support.pdfInfo(url)
        #expect(info["Title"] == "Chest X-ray classification report: 1.2.826.0.1.3680043.8.498.1.dcm")
        #expect(info["Creator"] == "CXReview 0.4.0" && info["Pages"] == "1")
        #expect(info["Subject"]?.contains("COVID-19") == true)
        #expect(info["CreationDate"] != nil)

        let images = try Self.images(url)
        #expect(images.count == 2, "scan and overlay: \(images)")
        #expect(images.first?.color == "gray" && images.last?.color == "rgb", "\(images)")

        let footer = try #require(geometry.footer)
        #expect(geometry.bodyBottom < footer.y, "the body ends above the footer")
        // Bars are proportional to the probabilities.
        #expect(abs(geometry.bars[2].width / geometry.bars[0].width - 0.87301 / 0.10249) < 0.01)
    }

    @Test func renderedPageHasAColouredOverlayAndAGreyScan() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let url = folder.appendingPathComponent("dicom.pdf")
        let geometry = try ReportRenderer().render(Self.dicomReport(), to: url)
        _ = try Support.run("pdftoppm", ["-r", "50", "-png", "-singlefile", url.path, folder.appendingPathComponent("page").path])
        let raster = try #require(readRGBPNG(folder.appendingPathComponent("page.png")))
        let scale = 50.0 / 72
        let scan = Support.pixels(raster, in: try #require(geometry.scan).inset(by: 3), scale: scale)
        #expect(scan.count > 500)
        #expect(scan.allSatisfy { $0.r == $0.g && $0.g == $0.b }, "the scan is grey")
        let overlay = Support.pixels(raster, in: try #require(geometry.overlay).inset(by: 3), scale: scale)
        let coloured = overlay.filter { abs($0.r - $0.g) > 20 }
        #expect(coloured.count > overlay.count / 20, "the overlay has colour: \(coloured.count) of \(overlay.count)")
        let legend = Support.pixels(raster, in: try #require(geometry.legend).inset(by: 1), scale: scale)
        #expect(legend.contains { $0.r > $0.b + 60 }, "the legend shows the colour map")
    }

    @Test func pngReportSaysNoHeaderAndShowsWarnings() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let url = folder.appendingPathComponent("png.pdf")
        try ReportRenderer(template: try Self.committedTemplate).write(Self.pngReport(), to: url)
        let text = try Support.pdfText(url)
        #expect(text.contains("Viral Pneumonia-1042.png"))
        #expect(text.contains("no DICOM header"))
        #expect(!text.contains("Patient ID") && !text.contains("Study date"))
        #expect(text.contains("0.410") && text.contains("0.520") && text.contains("0.070"))
        #expect(text.contains("Low confidence: the highest probability (0.520) is below 0.600."))
        #expect(text.contains("unlike the training data"))
        #expect(text.contains("Research use only. Not for diagnostic use."))
        #expect(try Self.images(url).count == 2)
    }

    @Test func lateralViewIsWarned() throws {
        var report = Self.dicomReport()
        report.metadata.viewPosition = "LL"
        report.metadata.bodyPartExamined = "ABDOMEN"
        let warnings = report.allWarnings(template: .default)
        #expect(warnings == ["Out of scope (BodyPartExamined ABDOMEN, not the chest): the model was trained on frontal chest radiographs (CR/DX) only.",
                             "Not a frontal chest view according to the header (ViewPosition LL); the model was trained on frontal chest radiographs."])
        report.metadata.viewPosition = "AP"
        report.metadata.bodyPartExamined = nil
        #expect(report.allWarnings(template: .default).isEmpty)
    }

    @Test func switchedOffSectionsAreNotDrawn() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        var template = ReportTemplate.default
        template.sections.patient = false
        template.sections.provenance = false
        template.sections.images = false
        template.sections.probabilities = false
        let url = folder.appendingPathComponent("sparse.pdf")
        try ReportRenderer(template: template).write(Self.dicomReport(), to: url)
        let text = try Support.pdfText(url)
        #expect(!text.contains("Müller") && !text.contains("PID-00423"))
        #expect(!text.contains(Self.modelHash) && !text.contains("Provenance"))
        #expect(!text.contains("0.102"), "no bars without the probabilities section")
        #expect(text.contains("2024-03-15") && text.contains("covid"), "study block and predicted class stay")
        #expect(text.contains("Research use only. Not for diagnostic use."))
        #expect(try Self.images(url).isEmpty)
    }

    @Test func germanLabelsAndLetterPages() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        var template = try Self.committedTemplate
        template.language = "de"
        template.pageSize = .letter
        let url = folder.appendingPathComponent("de.pdf")
        try ReportRenderer(template: template).write(Self.dicomReport(), to: url)
        let text = try Support.pdfText(url)
        #expect(text.contains("Untersuchung") && text.contains("Seite 1 von 1") && text.contains("Virale Pneumonie"))
        #expect(try Support.pdfInfo(url)["Page size"]?.hasPrefix("612 x 792") == true)
    }

    @Test func neverOverwritesAndRejectsBadData() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let url = folder.appendingPathComponent("r.pdf")
        try "keep".write(to: url, atomically: true, encoding: .utf8)
        #expect(throws: RenderError.exists(path: url.path)) { try ReportRenderer().write(Self.pngReport(), to: url) }
        #expect(try String(contentsOf: url, encoding: .utf8) == "keep")

        var bad = Self.pngReport()
        bad.overlay = RGBImage(width: 2, height: 2, pixels: [UInt8](repeating: 0, count: 12))
        let other = folder.appendingPathComponent("bad.pdf")
        #expect(throws: RenderError.self) { try ReportRenderer().write(bad, to: other) }
        #expect(try Support.contents(of: folder) == ["r.pdf"])
    }

    @Test func largeScanStaysUnderTwoMegabytes() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        // 2000×2000 with noise, which compresses about as badly as a real radiograph.
        var scan = Support.scan(width: 2000, height: 2000)
        var state: UInt32 = 12345
        for i in scan.pixels.indices {
            state = state &* 1_664_525 &+ 1_013_904_223
            scan.pixels[i] = UInt8(clamping: Int(scan.pixels[i]) + Int(state >> 28) - 8)
        }
        let report = Self.dicomReport(scan: scan)
        let url = folder.appendingPathComponent("large.pdf")
        let clock = ContinuousClock()
        let elapsed = try clock.measure { try ReportRenderer().write(report, to: url) }
        let bytes = try #require(try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int)
        print("report for a 2000x2000 scan: \(elapsed) to render, \(bytes) bytes")
        #expect(bytes < 2_000_000)
        for image in try Self.images(url) {
            #expect(max(image.width, image.height) <= ReportRenderer.maxEmbeddedSide)
            #expect(image.width * image.height <= ReportRenderer.maxEmbeddedPixels)
            #expect(image.width >= 500, "embedded large enough to zoom into: \(image)")
        }
    }
}
