import Foundation
import TestSupport
@testable import Reporting
import Testing
import XRayCore

/// Shared fixtures and helpers: temporary folders, sample figures, and the poppler tools.
enum Support {
    /// A fresh empty folder under the system's temporary directory.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("ReportingTests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Removes a test's folder, unless REPORTING_KEEP_RENDERINGS is set (to look at the figures).
    static func cleanUp(_ folder: URL) {
        if let keep = ProcessInfo.processInfo.environment["REPORTING_KEEP_RENDERINGS"], !keep.isEmpty {
            print("renderings kept in \(folder.path)")
            return
        }
        try? FileManager.default.removeItem(at: folder)
    }

    /// The names in `folder`, hidden ones included (temporary files are hidden).
    static func contents(of folder: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
    }

    static let classNames = ["Normal", "Viral Pneumonia", "COVID-19"]

    /// An evaluation with a clear largest cell (Normal → Normal, 412).
    static func evaluation() -> EvaluationFigure {
        func curve(_ name: String, _ bend: Double, auc: Double) -> EvaluationFigure.ROCCurve {
            let points = (0...50).map { i -> (fpr: Double, tpr: Double) in
                let f = Double(i) / 50
                return (f, pow(f, bend))
            }
            return .init(className: name, points: points, auc: auc)
        }
        let bins = (0..<10).map { i -> EvaluationFigure.ReliabilityBin in
            let lower = Double(i) / 10
            let mean = lower + 0.05
            return .init(lower: lower, upper: lower + 0.1, meanConfidence: mean,
                         accuracy: max(0, mean - 0.04 * Double(i % 3)), count: i < 3 ? 0 : i * 37)
        }
        return EvaluationFigure(
            title: "CXReview evaluation: ResNet-18 on the held-out test split",
            subtitle: ["model resnet18-covid-v3.safetensors", "data /data/covid19-radiography/test", "1,131 images", "2025-03-14"],
            classNames: classNames,
            confusion: [[412, 9, 4], [17, 301, 12], [3, 8, 365]],
            roc: [curve("Normal", 0.08, auc: 0.98654), curve("Viral Pneumonia", 0.15, auc: 0.9612), curve("COVID-19", 0.05, auc: 0.99271)],
            reliability: bins, expectedCalibrationError: 0.0342,
            metricLines: [
                "accuracy            0.953  (1078 of 1131)",
                "class               sensitivity  specificity  precision",
                "Normal              0.969        0.971        0.953",
                "Viral Pneumonia     0.912        0.978        0.947",
                "COVID-19            0.971        0.979        0.958",
            ],
            notes: [
                "9 test images duplicate training images and were removed.",
                "Sensitivity and specificity are one-vs-rest at the arg-max decision; no threshold was tuned on the test split.",
            ])
    }

    /// A grey test pattern (a gradient with a bright disc) of the given size.
    static func scan(width: Int, height: Int, seed: Int = 0) -> GrayImage {
        var pixels = [UInt8](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                let dx = Double(x - width / 2), dy = Double(y - height / 2)
                let disc = dx * dx + dy * dy < Double(min(width, height) * min(width, height)) / 16 ? 80 : 0
                pixels[y * width + x] = UInt8(min(255, 40 + (x * 120 / width) + (y + seed) % 30 + disc))
            }
        }
        return GrayImage(width: width, height: height, pixels: pixels)
    }

    /// Tiles: right, wrong, unlabelled prediction, and one with a UTF-8 caption.
    static func grid() -> PreviewGrid {
        PreviewGrid(
            title: "Training batch preview (seed 42)",
            tiles: [
                .init(image: scan(width: 300, height: 200), trueLabel: "Normal", predicted: "Normal", caption: "normal-0001.png"),
                .init(image: scan(width: 150, height: 300, seed: 7), trueLabel: "COVID-19", predicted: "Viral Pneumonia"),
                .init(image: scan(width: 512, height: 512, seed: 3), trueLabel: "Viral Pneumonia", predicted: "Viral Pneumonia"),
                .init(image: scan(width: 64, height: 64, seed: 5), trueLabel: "COVID-19", caption: "Zoë Müller, a caption long enough that it has to wrap onto a second line"),
            ],
            columns: 3, tileSize: 160)
    }

    /// Runs a command-line tool (from PATH) and returns its standard output.
    static func run(_ tool: String, _ arguments: [String]) throws -> String {
        let r = try Tool.run(tool, arguments)
        #expect(r.status == 0, "\(tool) \(arguments.joined(separator: " ")) failed")
        return r.stdout
    }

    /// The text of a PDF with all runs of whitespace made single spaces: in reading order, or with
    /// `layout` in its physical layout (so the columns of preformatted lines stay on their line).
    static func pdfText(_ url: URL, layout: Bool = false) throws -> String {
        normalised(try run("pdftotext", (layout ? ["-layout"] : []) + [url.path, "-"]))
    }

    static func normalised(_ s: String) -> String {
        s.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    /// `pdfinfo`'s fields, e.g. ["Title": "…", "Pages": "1"].
    static func pdfInfo(_ url: URL) throws -> [String: String] {
        var fields: [String: String] = [:]
        for line in try run("pdfinfo", [url.path]).split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            fields[String(line[..<colon])] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }

    /// Pixels of `raster` inside `rect` (points, multiplied by `scale`).
    static func pixels(_ raster: RGBRaster, in rect: Rect, scale: Double) -> [(r: Int, g: Int, b: Int)] {
        let x0 = max(0, Int((rect.x * scale).rounded(.up))), x1 = min(raster.width, Int((rect.maxX * scale).rounded(.down)))
        let y0 = max(0, Int((rect.y * scale).rounded(.up))), y1 = min(raster.height, Int((rect.maxY * scale).rounded(.down)))
        var out: [(r: Int, g: Int, b: Int)] = []
        for y in y0..<max(y0, y1) { for x in x0..<max(x0, x1) { out.append(raster[x, y]) } }
        return out
    }

    /// Pixels visibly darker than the white page.
    static func inked(_ pixels: [(r: Int, g: Int, b: Int)]) -> [(r: Int, g: Int, b: Int)] {
        pixels.filter { min($0.r, $0.g, $0.b) < 200 }
    }
}
