import CAM
import Foundation
@testable import Reporting
import Testing
import XRayCore

/// The batch summary PDF: order, pages, thumbnails, links, failures, names that never clash.
@Suite struct SummaryRendererTests {
    static let classes = ["normal", "viral", "covid"]

    /// `count` scans with seeded probabilities (some ties in COVID-19 probability), every third a
    /// DICOM with a UTF-8 patient name, then two failed files.
    static func entries(count: Int) -> [SummaryEntry] {
        var state: UInt64 = 42
        func next() -> Double {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Double(state >> 11) / Double(1 << 53)
        }
        var out: [SummaryEntry] = []
        for i in 0..<count {
            // Every fifth scan repeats the previous one's probabilities: ties keep input order.
            var p: [Double]
            if i % 5 == 4, case let .classified(r)? = out.last?.outcome {
                p = r.probabilities.map(\.probability)
            } else {
                let raw = [next(), next() * 0.5, next() * 2]
                p = raw.map { $0 / raw.reduce(0, +) }
            }
            let best = p.indices.max { p[$0] < p[$1] }!
            let scan = SummaryEntry.thumbnail(of: Support.scan(width: 400 + 10 * i, height: 400, seed: i))
            var metadata: ScanMetadata?
            if i % 3 == 0 {
                var m = ScanMetadata()
                m.patientName = "Ünal^Zoë^\(i)"
                m.patientID = "PID-\(1000 + i)"
                m.studyDate = "202403\(String(format: "%02d", 1 + i % 28))"
                if i == 3 { m.viewPosition = "LL" }
                metadata = m
            }
            out.append(SummaryEntry(
                file: "/data/run/scan-\(String(format: "%02d", i)).\(metadata == nil ? "png" : "dcm")", metadata: metadata,
                outcome: .classified(.init(
                    predictedClass: classes[best],
                    probabilities: zip(classes, p).map { .init(className: $0, probability: $1) },
                    thumbnail: scan, overlay: SummaryEntry.thumbnail(of: ReportRendererTests.overlay(for: scan)),
                    warnings: i == 7 ? ["The scan does not look like the training data."] : [],
                    reportFileName: "scan-\(String(format: "%02d", i)).pdf"))))
        }
        out.insert(SummaryEntry(file: "/data/run/broken.dcm", outcome: .failed(
            reason: "broken.dcm is not a DICOM, PNG or JPEG file; check that it was copied completely.")), at: min(2, out.count))
        out.append(SummaryEntry(file: "/data/run/j2k.dcm", outcome: .failed(
            reason: "j2k.dcm uses JPEG 2000 (1.2.840.10008.1.2.4.90), which DCMTK cannot decode; convert it with gdcmconv --raw.")))
        return out
    }

    /// Ordered by COVID-19 probability, as a template with `triage_order: covid` asks.
    static func summary(count: Int) -> SummaryReport {
        SummaryReport(entries: entries(count: count), order: .probability(of: "covid"), model: .init(name: "cxreview-resnet18", version: "1", sha256: String(repeating: "ab", count: 32)),
                      softwareVersion: "0.1.0", createdAt: Date(timeIntervalSince1970: 1_710_494_813))
    }

    @Test func rowsAreInCovidProbabilityOrderWithNamesAndProbabilities() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let summary = Self.summary(count: 12)
        let url = folder.appendingPathComponent("s.pdf")
        try SummaryRenderer(template: try ReportRendererTests.committedTemplate).write(summary, to: url)
        // Layout mode keeps each row's columns on its lines.
        let text = try Support.pdfText(url, layout: true)

        // Expected order: COVID-19 probability descending, ties by input order.
        let classified = summary.entries.enumerated().compactMap { i, e in e.result.map { (i, e, $0.probability(of: "covid")!) } }
        let expected = classified.sorted { $0.2 != $1.2 ? $0.2 > $1.2 : $0.0 < $1.0 }.map(\.1)
        #expect(summary.ranked.map(\.file) == expected.map(\.file))
        var cursor = text.startIndex
        for (rank, e) in expected.enumerated() {
            let r = try #require(e.result)
            let name = e.metadata == nil ? e.fileName : try #require(e.metadata?.patientName.map(ReportLayout.personName))
            let found = try #require(text.range(of: name, range: cursor..<text.endIndex), "row \(rank + 1) (\(name)) out of order")
            // The three probabilities as printed (3 decimals), after the name and before the next row.
            var at = found.upperBound
            for p in r.probabilities {
                let printed = ScanReport.probabilityText(p.probability)
                let hit = try #require(text.range(of: printed, range: at..<text.endIndex), "\(name): \(printed) missing")
                at = hit.upperBound
            }
            #expect(text.range(of: "report: " + r.reportFileName!, range: found.upperBound..<text.endIndex) != nil)
            cursor = found.upperBound
        }
        // Failed files follow the rows, with their reasons.
        let failed = try #require(text.range(of: "Not classified (2)", range: cursor..<text.endIndex))
        #expect(text[failed.upperBound...].contains("broken.dcm is not a DICOM, PNG or JPEG file"))
        #expect(text.contains("gdcmconv --raw"))
        let warned = summary.ranked.filter { e in
            let r = e.result!
            return r.probabilities.map(\.probability).max()! < 0.6 || e.metadata?.viewPosition == "LL" || !r.warnings.isEmpty
        }.count
        #expect(Support.normalised(text).contains("14 scans: 12 classified (\(warned) with warnings), 2 not classified"))
        #expect(text.contains("ID PID-1000") && text.contains("2024-03-01"))
        #expect(text.contains("The scan does not look like the training data."))
        #expect(text.contains("Not a frontal chest view"))
        #expect(text.contains("Research use only. Not for diagnostic use."))

        let info = try Support.pdfInfo(url)
        #expect(info["Title"] == "Batch summary: triage worklist")
        #expect(info["Subject"]?.contains("Research use only") == true)
        #expect(info["Creator"] == "CXReview 0.1.0")
        #expect(info["CreationDate"] != nil)
    }

    @Test func aLongRunHasSeveralPagesEachWithFooter() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let url = folder.appendingPathComponent("long.pdf")
        let clock = ContinuousClock()
        var geometry = SummaryRenderer.Geometry()
        let elapsed = try clock.measure { geometry = try SummaryRenderer().render(Self.summary(count: 30), to: url) }
        let info = try Support.pdfInfo(url)
        let pages = try #require(Int(info["Pages"] ?? ""))
        let bytes = try #require(try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? Int)
        print("summary of 30 scans: \(pages) pages, \(elapsed) (\(elapsed / pages) per page), \(bytes) bytes")
        #expect(pages > 1 && pages == geometry.pages)
        #expect(geometry.rows.count == 30)
        #expect(bytes < 2_000_000)
        for page in 1...pages {
            let text = Support.normalised(try Support.run("pdftotext", ["-f", "\(page)", "-l", "\(page)", url.path, "-"]))
            #expect(text.contains("page \(page) of \(pages)"), "page \(page) footer")
            #expect(text.contains("Research use only. Not for diagnostic use."), "page \(page) disclaimer")
            if page > 1 { #expect(text.contains("Batch summary: triage worklist (continued)")) }
        }
        // Rows are on increasing pages and never run into the footer.
        #expect(geometry.rows.map(\.page) == geometry.rows.map(\.page).sorted())
        for row in geometry.rows { #expect(try #require(row.scan).maxY < geometry.footerTop) }
    }

    @Test func renderedThumbnailsAreGreyAndOverlaysColoured() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let url = folder.appendingPathComponent("s.pdf")
        let geometry = try SummaryRenderer().render(Self.summary(count: 4), to: url)
        _ = try Support.run("pdftoppm", ["-r", "100", "-png", "-singlefile", url.path, folder.appendingPathComponent("page").path])
        let raster = try #require(readRGBPNG(folder.appendingPathComponent("page.png")))
        let scale = 100.0 / 72
        #expect(geometry.rows.count == 4)
        for row in geometry.rows {
            let scan = Support.pixels(raster, in: try #require(row.scan).inset(by: 2), scale: scale)
            #expect(scan.count > 200)
            #expect(scan.allSatisfy { $0.r == $0.g && $0.g == $0.b }, "\(row.file): the thumbnail is grey")
            let overlay = Support.pixels(raster, in: try #require(row.overlay).inset(by: 2), scale: scale)
            let coloured = overlay.filter { abs($0.r - $0.g) > 20 }
            #expect(coloured.count > overlay.count / 20, "\(row.file): the overlay has colour (\(coloured.count) of \(overlay.count))")
        }
    }

    @Test func eachRowLinksItsReportFile() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let url = folder.appendingPathComponent("s.pdf")
        let summary = Self.summary(count: 3)
        let geometry = try SummaryRenderer().render(summary, to: url)
        #expect(geometry.rows.allSatisfy { $0.link != nil })
        // Link annotations (URI actions with the relative file name), listed by poppler.
        let links = try Support.run("pdfinfo", ["-url", url.path])
        for e in summary.entries {
            guard let name = e.result?.reportFileName else { continue }
            let hits = links.split(separator: "\n").filter { $0.hasSuffix(" " + name) }
            #expect(hits.count == 2, "the report text and the thumbnails link \(name): \(links)")
        }
    }

    @Test func aNameClashGetsASuffixAndNothingIsOverwritten() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let summary = Self.summary(count: 2)
        let renderer = SummaryRenderer()
        let first = try renderer.writeNew(summary, in: folder)
        #expect(first.lastPathComponent == "summary-20240315T092653Z.pdf")
        let before = try Data(contentsOf: first)
        let second = try renderer.writeNew(summary, in: folder)
        #expect(second.lastPathComponent == "summary-20240315T092653Z-2.pdf")
        try "not a pdf".write(to: folder.appendingPathComponent("summary-20240315T092653Z-3.pdf"), atomically: true, encoding: .utf8)
        let fourth = try renderer.writeNew(summary, in: folder)
        #expect(fourth.lastPathComponent == "summary-20240315T092653Z-4.pdf")
        #expect(try Data(contentsOf: first) == before)
        #expect(try String(contentsOf: folder.appendingPathComponent("summary-20240315T092653Z-3.pdf"), encoding: .utf8) == "not a pdf")
        #expect(try Support.contents(of: folder).filter { $0.hasPrefix(".") }.isEmpty, "no temporary files left")
    }

    @Test func germanLabelsAndAnEmptyRun() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        var template = try ReportRendererTests.committedTemplate
        template.language = "de"
        let url = folder.appendingPathComponent("de.pdf")
        try SummaryRenderer(template: template).write(Self.summary(count: 2), to: url)
        let text = try Support.pdfText(url)
        #expect(text.contains("Sammelübersicht") && text.contains("Seite 1 von 1") && text.contains("Virale"))

        let empty = folder.appendingPathComponent("empty.pdf")
        try SummaryRenderer.write(entries: [], to: empty)
        #expect(try Support.pdfText(empty).contains("No scans in this run."))
        #expect(try Support.pdfInfo(empty)["Pages"] == "1")
    }

    @Test func thumbnailsAreSmallAndKeepTheAspectRatio() {
        let big = Support.scan(width: 2000, height: 1000)
        let t = SummaryEntry.thumbnail(of: big)
        #expect(t.width == SummaryEntry.thumbnailSide && t.height == SummaryEntry.thumbnailSide / 2)
        let small = Support.scan(width: 100, height: 80)
        #expect(SummaryEntry.thumbnail(of: small) == small)
        // A flat image stays flat (the box average is exact).
        let flat = GrayImage(width: 300, height: 300, pixels: [UInt8](repeating: 77, count: 90_000))
        #expect(SummaryEntry.thumbnail(of: flat).pixels.allSatisfy { $0 == 77 })
    }
}
