import Foundation
@testable import Reporting
import Testing

/// The evaluation figure, rendered for real with Cairo and read back.
@Suite struct EvaluationFigureTests {
    @Test func pngHasTheDarkestCellAtTheLargestCountAndIsNotBlank() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let url = folder.appendingPathComponent("evaluation.png")
        let figure = Support.evaluation()
        let geometry = try figure.render(to: url, format: .png, overwrite: false)
        let raster = try #require(readRGBPNG(url))
        #expect(raster.width == 1600)
        #expect(raster.height == Int((595 * EvaluationFigure.pngScale).rounded(.up)))

        // Each cell's colour, sampled in its top-left corner, away from the count text.
        var darkest: (t: Int, p: Int, luminance: Double)?
        for (t, row) in geometry.confusionCells.enumerated() {
            for (p, cell) in row.enumerated() {
                let corner = Rect(x: cell.x + 2, y: cell.y + 2, width: 5, height: 5)
                let samples = Support.pixels(raster, in: corner, scale: geometry.scale)
                #expect(!samples.isEmpty)
                let l = samples.map { 0.2126 * Double($0.r) + 0.7152 * Double($0.g) + 0.0722 * Double($0.b) }.reduce(0, +) / Double(samples.count)
                if darkest == nil || l < darkest!.luminance { darkest = (t, p, l) }
            }
        }
        #expect(darkest?.t == 0 && darkest?.p == 0, "largest count is Normal→Normal (412)")

        let all = Support.pixels(raster, in: Rect(x: 0, y: 0, width: 842, height: 595), scale: geometry.scale)
        #expect(Double(Support.inked(all).count) / Double(all.count) > 0.05, "page has drawing on it")
        let disclaimer = try #require(geometry.disclaimer)
        #expect(Support.inked(Support.pixels(raster, in: disclaimer, scale: geometry.scale)).count > 200, "disclaimer is drawn")
        #expect(disclaimer.maxY * geometry.scale < Double(raster.height), "disclaimer is on the page")
    }

    @Test func pdfIsOnePageWithTheTextAndMetadata() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let url = folder.appendingPathComponent("evaluation.pdf")
        let figure = Support.evaluation()
        try figure.write(to: url, format: .pdf)

        let text = try Support.pdfText(url)
        for name in Support.classNames { #expect(text.contains(name), "class name \(name)") }
        let layout = try Support.pdfText(url, layout: true)
        for line in figure.metricLines { #expect(layout.contains(Support.normalised(line)), "metric line \(line)") }
        for note in figure.notes { #expect(text.contains(Support.normalised(note)), "note \(note)") }
        #expect(text.contains("AUC 0.987") && text.contains("AUC 0.961") && text.contains("AUC 0.993"))
        #expect(text.contains("ECE 0.034"))
        #expect(text.contains("412") && text.contains("96.9%"), "count and row percentage of the top-left cell")
        #expect(text.contains(figure.disclaimer))
        #expect(text.contains("predicted") && text.contains("true"))

        let info = try Support.pdfInfo(url)
        #expect(info["Title"] == figure.title)
        #expect(info["Creator"] == "CXReview")
        #expect(info["Pages"] == "1")
        #expect(info["Page size"]?.hasPrefix("842 x 595") == true)
    }

    @Test func aucAndECEAreShownWithThreeDecimals() {
        #expect(EvaluationFigure.formatAUC(0.98654) == "0.987")
        #expect(EvaluationFigure.formatAUC(1) == "1.000")
        #expect(EvaluationFigure.formatECE(0.0342) == "0.034")
    }

    @Test func binCountsFitInFourCharacters() {
        let shown = [0, 999, 1000, 1234, 9949, 9950, 12_345, 999_499, 999_500, 1_234_567].map(NumberText.compact)
        #expect(shown == ["0", "999", "1.0k", "1.2k", "9.9k", "10k", "12k", "999k", "1.0M", "1.2M"])
    }

    @Test func emptyROCAndReliabilityStillRender() throws {
        var figure = Support.evaluation()
        figure.roc = []
        figure.reliability = []
        figure.metricLines = []
        figure.notes = []
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let url = folder.appendingPathComponent("sparse.pdf")
        try figure.write(to: url, format: .pdf)
        let text = try Support.pdfText(url)
        #expect(text.contains("no ROC data") && text.contains("no calibration data"))
        #expect(text.contains(figure.disclaimer))
    }

    @Test func manyClassesWithLongNamesRender() throws {
        var figure = Support.evaluation()
        let names = (1...8).map { "Class number \($0) with a long name" }
        figure.classNames = names
        figure.confusion = (0..<8).map { t in (0..<8).map { p in t == p ? 1000 + t : t + p } }
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let url = folder.appendingPathComponent("many.pdf")
        try figure.write(to: url, format: .pdf)
        #expect(try Support.pdfInfo(url)["Pages"] == "1")
    }

    // MARK: Invalid figures

    func invalid(_ change: (inout EvaluationFigure) -> Void) throws -> String? {
        var figure = Support.evaluation()
        change(&figure)
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        do {
            try figure.write(to: folder.appendingPathComponent("bad.png"), format: .png)
            return nil
        } catch {
            #expect(try Support.contents(of: folder).isEmpty, "nothing written for an invalid figure")
            guard case let .invalidFigure(reason) = error else {
                Issue.record("expected invalidFigure, got \(error)")
                return nil
            }
            return reason
        }
    }

    @Test func confusionNotMatchingTheClassNamesIsInvalid() throws {
        let reason = try invalid { $0.confusion = [[1, 2, 3], [4, 5, 6]] }
        #expect(reason?.contains("2 rows but there are 3 class names") == true, "\(reason ?? "")")
    }

    @Test func confusionThatIsNotSquareIsInvalid() throws {
        let reason = try invalid { $0.confusion[1] = [1, 2] }
        #expect(reason?.contains("row 1 (true Viral Pneumonia)") == true && reason?.contains("square") == true, "\(reason ?? "")")
    }

    @Test func otherInconsistentDataIsInvalid() throws {
        #expect(try invalid { $0.classNames = []; $0.confusion = [] }?.contains("classNames is empty") == true)
        #expect(try invalid { $0.confusion[0][1] = -1 }?.contains("negative") == true)
        #expect(try invalid { $0.roc[0].points = [(0, 0), (0.5, 0.9), (0.4, 1)] }?.contains("not sorted") == true)
        #expect(try invalid { $0.roc[1].points.append((1.2, 1)) }?.contains("outside [0, 1]") == true)
        #expect(try invalid { $0.reliability[0].upper = $0.reliability[0].lower }?.contains("lower < upper") == true)
        #expect(try invalid { $0.expectedCalibrationError = .nan }?.contains("calibration error") == true)
        #expect(try invalid { $0.metricLines = Array(repeating: "a metric line", count: 80) }?.contains("do not fit on one page") == true)
    }

    @Test func errorDescriptionsSayWhatToDo() {
        let e = RenderError.invalidFigure(reason: "classNames is empty")
        #expect(e.description == "the figure cannot be drawn: classNames is empty; fix the data passed to the figure.")
    }
}
