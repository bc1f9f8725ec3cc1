// The preview grid's layout: title and legend line, rows of letterboxed tiles with their labels, disclaimer.
extension PreviewGrid {
    static let margin = 24.0
    static let gap = 14.0

    /// The page size the grid needs, found by laying it out on a scratch canvas.
    static func measurePage(_ grid: PreviewGrid) throws(RenderError) -> Size {
        let scratch = try Canvas.scratch()
        return grid.draw(on: scratch, drawing: false).size
    }

    private var columnCount: Int { min(columns, tiles.count) }
    /// Label text: at least 10 points (pixels in the PNG) so it stays readable under small tiles.
    private var labelFont: Font { .sans(min(14, max(10, Double(tileSize) * 0.058))) }
    private var captionFont: Font { .sans(labelFont.size * 0.85) }

    /// The label lines under one tile, each with its colour.
    private func labelLines(_ tile: Tile) -> [(kind: LabelKind, text: String, color: Color)] {
        var lines: [(LabelKind, String, Color)] = []
        if let t = tile.trueLabel { lines.append((.trueLabel, "true: " + t, .black)) }
        if let p = tile.predicted {
            switch tile.isCorrect {
            case true?: lines.append((.predicted, "predicted: " + p + " ✓", Palette.correct))
            case false?: lines.append((.predicted, "predicted: " + p + " ✗", Palette.wrong))
            case nil: lines.append((.predicted, "predicted: " + p, .black))
            }
        }
        if let c = tile.caption, !c.isEmpty { lines.append((.caption, c, .secondaryText)) }
        return lines
    }

    private enum LabelKind { case trueLabel, predicted, caption }

    /// The line under the title explaining the colours, with the tally of right predictions.
    private var legend: [TextRun] {
        let judged = tiles.compactMap(\.isCorrect)
        if !judged.isEmpty {
            let right = judged.filter { $0 }.count
            return [
                TextRun(text: "Below each scan: the true label in black, the prediction in "),
                TextRun(text: "green ✓ when right", color: Palette.correct, bold: true),
                TextRun(text: " and "),
                TextRun(text: "red ✗ when wrong", color: Palette.wrong, bold: true),
                TextRun(text: ". \(right) of \(judged.count) predictions right."),
            ]
        }
        if tiles.contains(where: { $0.trueLabel != nil }) {
            return [TextRun(text: "Below each scan: its true label.")]
        }
        return []
    }

    /// Lays the grid out and, with `drawing`, draws it; returns the page size and where things went.
    func draw(on c: Canvas, drawing: Bool) -> (size: Size, geometry: Geometry) {
        let tile = Double(tileSize)
        let columns = columnCount
        let width = 2 * Self.margin + Double(columns) * tile + Double(columns - 1) * Self.gap
        let content = width - 2 * Self.margin
        var geometry = Geometry()

        var y = Self.margin
        let titleFont = Font.sans(18, bold: true)
        y += drawing ? c.text(title, at: Point(x: Self.margin, y: y), titleFont, width: content).height
            : c.measure(title, titleFont, width: content).height
        let legendRuns = legend
        if !legendRuns.isEmpty {
            y += 3
            let legendFont = Font.sans(12)
            y += drawing ? c.text(legendRuns, at: Point(x: Self.margin, y: y), legendFont, .black, width: content).height
                : c.measure(legendRuns, legendFont, width: content).height
        }
        y += 12

        let rows = stride(from: 0, to: tiles.count, by: columns).map { Array(tiles.indices[$0..<min($0 + columns, tiles.count)]) }
        for row in rows {
            // Every tile's label block in this row, measured, so the row is as tall as its tallest.
            var blocks: [[(line: (kind: LabelKind, text: String, color: Color), height: Double)]] = []
            var labelHeight = 0.0
            for i in row {
                var block: [(line: (kind: LabelKind, text: String, color: Color), height: Double)] = []
                var height = 0.0
                for line in labelLines(tiles[i]) {
                    let h = c.measure(line.text, line.kind == .caption ? captionFont : labelFont, width: tile).height
                    block.append((line, h))
                    height += h + 1
                }
                blocks.append(block)
                labelHeight = max(labelHeight, height)
            }
            for (column, i) in row.enumerated() {
                let x = Self.margin + Double(column) * (tile + Self.gap)
                let cell = Rect(x: x, y: y, width: tile, height: tile)
                var image = cell.fitting(aspect: Double(tiles[i].image.width) / Double(tiles[i].image.height))
                var trueRect: Rect?, predictedRect: Rect?
                if drawing {
                    image = c.image(tiles[i].image, fitting: cell, background: .black)
                    if let correct = tiles[i].isCorrect {
                        c.stroke(cell.inset(by: -1.5), correct ? Palette.correct : Palette.wrong, lineWidth: 3)
                    }
                }
                var ly = cell.maxY + 5
                for (line, height) in blocks[column] {
                    let font = line.kind == .caption ? captionFont : labelFont
                    if drawing {
                        c.text(line.text, at: Point(x: x, y: ly), font, line.color, width: tile, alignment: .center)
                    }
                    let band = Rect(x: x, y: ly, width: tile, height: height)
                    if line.kind == .trueLabel { trueRect = band }
                    if line.kind == .predicted { predictedRect = band }
                    ly += height + 1
                }
                geometry.images.append(image)
                geometry.trueLabels.append(trueRect)
                geometry.predictedLabels.append(predictedRect)
            }
            y += tile + 5 + labelHeight + Self.gap
        }

        // Disclaimer, bold, below a rule.
        y += 2
        let footerFont = Font.sans(12, bold: true)
        if drawing {
            c.line([Point(x: Self.margin, y: y), Point(x: width - Self.margin, y: y)], .gridLine, lineWidth: 0.6)
        }
        y += 6
        let footer = drawing
            ? c.text(disclaimer, at: Point(x: Self.margin, y: y), footerFont, .black, width: content, alignment: .center)
            : c.measure(disclaimer, footerFont, width: content)
        geometry.disclaimer = Rect(x: Self.margin, y: y, width: content, height: footer.height)
        y += footer.height + Self.margin
        return (Size(width: width, height: y.rounded(.up)), geometry)
    }
}
