import Foundation
@testable import Reporting
import Testing
import XRayCore

/// The preview grid, rendered for real with Cairo and read back.
@Suite struct PreviewGridTests {
    @Test func pngLabelsAreColouredByCorrectnessAndTilesAreGrey() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let url = folder.appendingPathComponent("preview.png")
        let grid = Support.grid()
        let geometry = try grid.render(to: url, format: .png, overwrite: false)
        let raster = try #require(readRGBPNG(url))
        #expect(raster.width == 24 * 2 + 3 * 160 + 2 * 14)

        func dominance(_ rect: Rect?) throws -> (green: Int, red: Int, grey: Int) {
            let inked = Support.inked(Support.pixels(raster, in: try #require(rect), scale: 1))
            return (inked.filter { $0.g > $0.r + 40 }.count, inked.filter { $0.r > $0.g + 40 }.count,
                    inked.filter { abs($0.r - $0.g) < 12 && abs($0.g - $0.b) < 12 }.count)
        }
        let right = try dominance(geometry.predictedLabels[0])
        #expect(right.green > 50 && right.green > 5 * right.red, "right prediction is green: \(right)")
        let wrong = try dominance(geometry.predictedLabels[1])
        #expect(wrong.red > 50 && wrong.red > 5 * wrong.green, "wrong prediction is red: \(wrong)")
        let truth = try dominance(geometry.trueLabels[1])
        #expect(truth.grey > 50 && truth.green + truth.red < truth.grey / 10, "true label is black: \(truth)")
        #expect(geometry.predictedLabels[3] == nil)

        for (i, image) in geometry.images.enumerated() {
            let pixels = Support.pixels(raster, in: image.inset(by: 3), scale: 1)
            #expect(pixels.count > 1000)
            #expect(pixels.allSatisfy { $0.r == $0.g && $0.g == $0.b }, "tile \(i) is grey")
            #expect(Set(pixels.map(\.r)).count > 20, "tile \(i) shows the image, not a flat fill")
        }
        // Letterboxing: the 300×200 scan fills the tile's width, the 150×300 one its height.
        #expect(abs(geometry.images[0].width - 160) < 0.01 && abs(geometry.images[0].height - 160 * 2 / 3) < 0.01)
        #expect(abs(geometry.images[1].height - 160) < 0.01 && abs(geometry.images[1].width - 80) < 0.01)

        let disclaimer = try #require(geometry.disclaimer)
        #expect(Support.inked(Support.pixels(raster, in: disclaimer, scale: 1)).count > 200)
        #expect(disclaimer.maxY < Double(raster.height))
    }

    @Test func pdfHasTheLabelsTheUTF8CaptionAndTheDisclaimer() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let url = folder.appendingPathComponent("preview.pdf")
        let grid = Support.grid()
        try grid.write(to: url, format: .pdf)
        let text = try Support.pdfText(url)
        #expect(text.contains(grid.title))
        #expect(text.contains("true: COVID-19") && text.contains("predicted: Viral Pneumonia ✗"))
        #expect(text.contains("predicted: Normal ✓"))
        #expect(text.contains("Zoë Müller"))
        #expect(text.contains("2 of 3 predictions right"))
        #expect(text.contains(grid.disclaimer))
        let info = try Support.pdfInfo(url)
        #expect(info["Title"] == grid.title && info["Creator"] == "CXReview" && info["Pages"] == "1")

        // The scans are embedded grey and no larger than the tile needs (2 pixels per point).
        let images = try Support.run("pdfimages", ["-list", url.path]).split(separator: "\n").dropFirst(2)
        #expect(images.count == 4)
        for line in images {
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            #expect(f[5] == "gray", "\(line)")
            #expect(Int(f[3])! <= 320 && Int(f[4])! <= 320, "\(line)")
        }
    }

    @Test func tutorialSizedBatchFillsSixColumnsOfDefaultTiles() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let names = Support.classNames
        let tiles = (0..<14).map { i in
            PreviewGrid.Tile(image: Support.scan(width: 299 + i * 20, height: 299, seed: i),
                             trueLabel: names[i % 3], predicted: names[(i * 7 / 5) % 3])
        }
        let grid = PreviewGrid(title: "Test batch 3 of 12 — ResNet-18 predictions on held-out scans", tiles: tiles)
        let url = folder.appendingPathComponent("batch.png")
        let geometry = try grid.render(to: url, format: .png, overwrite: false)
        let raster = try #require(readRGBPNG(url))
        #expect(raster.width == 24 * 2 + 6 * 224 + 5 * 14)
        #expect(geometry.images.count == 14)
        #expect(geometry.images.allSatisfy { abs($0.width - 224) < 0.01 }, "wide scans fill the tile width")
        #expect(Double(raster.height) > (geometry.disclaimer?.maxY ?? .infinity))
        try grid.write(to: folder.appendingPathComponent("batch.pdf"), format: .pdf)
        #expect(try Support.pdfInfo(folder.appendingPathComponent("batch.pdf"))["Pages"] == "1")
    }

    @Test func gridWithoutLabelsHasNoLegend() throws {
        let tiles = (0..<8).map { PreviewGrid.Tile(image: Support.scan(width: 100, height: 120, seed: $0)) }
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let url = folder.appendingPathComponent("plain.pdf")
        try PreviewGrid(title: "Unlabelled", tiles: tiles).write(to: url, format: .pdf)
        let text = try Support.pdfText(url)
        #expect(!text.contains("Below each scan"))
        #expect(text.contains("Research use only"))
    }

    @Test func correctnessNeedsBothLabels() {
        let image = Support.scan(width: 8, height: 8)
        #expect(PreviewGrid.Tile(image: image, trueLabel: "a", predicted: "a").isCorrect == true)
        #expect(PreviewGrid.Tile(image: image, trueLabel: "a", predicted: "b").isCorrect == false)
        #expect(PreviewGrid.Tile(image: image, predicted: "b").isCorrect == nil)
    }

    @Test func invalidGridsAreRefusedBeforeWriting() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let url = folder.appendingPathComponent("bad.png")
        let tile = PreviewGrid.Tile(image: Support.scan(width: 8, height: 8))
        #expect(throws: RenderError.invalidFigure(reason: "the preview grid has no tiles")) {
            try PreviewGrid(title: "x", tiles: []).write(to: url, format: .png)
        }
        #expect(throws: RenderError.invalidFigure(reason: "columns is 0; it must be at least 1")) {
            try PreviewGrid(title: "x", tiles: [tile], columns: 0).write(to: url, format: .png)
        }
        #expect(throws: RenderError.invalidFigure(reason: "tileSize is 8; it must be between 32 and 1024")) {
            try PreviewGrid(title: "x", tiles: [tile], tileSize: 8).write(to: url, format: .png)
        }
        #expect(try Support.contents(of: folder).isEmpty)
    }
}
