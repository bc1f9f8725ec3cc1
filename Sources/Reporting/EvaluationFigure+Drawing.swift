// The evaluation figure's layout: header, three panels, the text block, and the disclaimer footer.
extension EvaluationFigure {
    static let margin = 30.0
    /// Panels shorter than this would make the plots hard to read; text that needs more room is refused.
    static let minimumPanelHeight = 185.0

    func draw(on c: Canvas) throws(RenderError) -> Geometry {
        var geometry = Geometry(scale: 1)
        let page = Self.pageSize
        let content = Rect(x: Self.margin, y: 24, width: page.width - 2 * Self.margin, height: page.height - 24 - 14)

        // Header.
        var y = content.y
        y += c.text(title, at: Point(x: content.x, y: y), .sans(15, bold: true), width: content.width).height
        if !subtitle.isEmpty {
            y += 2
            y += c.text(subtitle.joined(separator: "  ·  "), at: Point(x: content.x, y: y), .sans(8.5), .secondaryText,
                        width: content.width).height
        }
        y += 10

        // Footer: the disclaimer, bold, above the bottom margin.
        let footerFont = Font.sans(9, bold: true)
        let footerHeight = c.measure(disclaimer, footerFont, width: content.width).height
        let footerTop = content.maxY - footerHeight
        c.line([Point(x: content.x, y: footerTop - 5), Point(x: content.maxX, y: footerTop - 5)], .gridLine, lineWidth: 0.6)
        c.text(disclaimer, at: Point(x: content.x, y: footerTop), footerFont, .black, width: content.width, alignment: .center)
        geometry.disclaimer = Rect(x: content.x, y: footerTop, width: content.width, height: footerHeight)

        // Three panels side by side, as tall as their square plots need (their width limits them)
        // or as the text below leaves, whichever is less.
        let gap = 24.0
        let panelWidth = (content.width - 2 * gap) / 3
        let naturalPanelHeight = 14 + 6 + 11 + (panelWidth - PlotAxes.leftSpace - 4) + PlotAxes.bottomSpace + 2

        // Text block: the largest size that leaves the panels readable.
        let textBottom = footerTop - 14
        let panelGap = 16.0
        var chosen: (size: Double, height: Double)?
        for size in [9.0, 8.5, 8.0, 7.5, 7.0, 6.5, 6.0] {
            let h = textBlock(on: c, size: size, top: 0, width: content.width, x: content.x, drawing: false)
            if textBottom - (h > 0 ? h + panelGap : 0) - y >= Self.minimumPanelHeight {
                chosen = (size, h)
                break
            }
        }
        guard let chosen else {
            throw .invalidFigure(reason: "the \(metricLines.count) metric lines and \(notes.count) notes do not fit on one page with the plots; shorten them or put the detail in a separate file")
        }
        let panelsBottom = min(y + naturalPanelHeight, textBottom - (chosen.height > 0 ? chosen.height + panelGap : 0))
        _ = textBlock(on: c, size: chosen.size, top: panelsBottom + panelGap, width: content.width, x: content.x, drawing: true)

        func panel(_ i: Int) -> Rect {
            Rect(x: content.x + Double(i) * (panelWidth + gap), y: y, width: panelWidth, height: panelsBottom - y)
        }
        geometry.confusionCells = drawConfusion(on: c, in: panel(0))
        geometry.rocPlot = drawROC(on: c, in: panel(1))
        geometry.reliabilityPlot = drawReliability(on: c, in: panel(2))
        return geometry
    }

    /// Lays out (and with `drawing`, draws) the metric lines and notes; returns their height.
    private func textBlock(on c: Canvas, size: Double, top: Double, width: Double, x: Double, drawing: Bool) -> Double {
        let headingFont = Font.sans(size + 1, bold: true)
        let columnGap = 22.0
        var columns: [(heading: String, draw: (Double, Double, Double) -> Double)] = []
        if !metricLines.isEmpty {
            columns.append(("Metrics", { x, y, w in
                let font = Font.mono(size)
                let text = metricLines.joined(separator: "\n")
                return drawing ? c.text(text, at: Point(x: x, y: y), font, .black, width: w).height
                    : c.measure(text, font, width: w).height
            }))
        }
        if !notes.isEmpty {
            columns.append(("Notes", { x, y, w in
                let font = Font.sans(size)
                var h = 0.0
                for note in notes {
                    if drawing { c.text("•", at: Point(x: x, y: y + h), font) }
                    let s = drawing ? c.text(note, at: Point(x: x + size, y: y + h), font, .black, width: w - size)
                        : c.measure(note, font, width: w - size)
                    h += s.height + 2
                }
                return h
            }))
        }
        guard !columns.isEmpty else { return 0 }
        // Metrics take the wider share when both are present: their lines are preformatted.
        let widths = columns.count == 2
            ? [(width - columnGap) * 0.58, (width - columnGap) * 0.42] : [width]
        var height = 0.0
        var cx = x
        for (column, w) in zip(columns, widths) {
            let headingHeight = drawing ? c.text(column.heading, at: Point(x: cx, y: top), headingFont).height
                : c.measure(column.heading, headingFont).height
            height = max(height, headingHeight + 3 + column.draw(cx, top + headingHeight + 3, w))
            cx += w + columnGap
        }
        return height
    }

    private static let panelTitleFont = Font.sans(10, bold: true)

    /// The confusion matrix as a heat map by count: count in each cell, row-normalised % below it.
    ///
    /// Class names label the rows (wrapped, at most as many lines as fit a cell) and the columns
    /// (wrapped under the cells, or turned upright and ellipsized when a word is wider than a cell).
    private func drawConfusion(on c: Canvas, in panel: Rect) -> [[Rect]] {
        let n = classNames.count
        let total = confusion.joined().reduce(0, +)
        let titleHeight = c.text("Confusion matrix (n = \(total))", at: Point(x: panel.x, y: panel.y), Self.panelTitleFont).height
        let top = panel.y + titleHeight + 8

        let axisFont = Font.sans(8, bold: true)
        let maxLabel = 80.0
        func labelFont(_ cell: Double) -> Font { .sans(min(7.5, max(5, cell * 0.4))) }
        let rowLabelWidth = min(maxLabel, classNames.map { c.measure($0, labelFont(100)).width }.max() ?? 0) + 1
        let left = 14 + rowLabelWidth + 5
        let available = panel.width - left

        // Column labels depend on the cell size, which depends on the room they leave: settle it in a few passes.
        var side = min(available, panel.maxY - top - 30)
        var upright = false
        for _ in 0..<3 {
            let cell = side / Double(n)
            let font = labelFont(cell)
            let widestWord = classNames.flatMap { $0.split(separator: " ") }.map { c.measure(String($0), font).width }.max() ?? 0
            upright = widestWord > cell - 2
            let labelHeight = upright
                ? min(maxLabel, classNames.map { c.measure($0, font).width }.max() ?? 0) + 2
                : classNames.map { c.measure($0, font, width: cell - 2).height }.max() ?? 0
            side = min(available, panel.maxY - top - labelHeight - 20)
        }
        let cell = side / Double(n)
        let x0 = panel.x + left + (available - side) / 2
        let grid = Rect(x: x0, y: top, width: side, height: side)

        // Counts as large as the widest fits in a cell; percentages when there is room.
        let maxCount = max(1, confusion.joined().max() ?? 1)
        let widestCount = c.measure(String(maxCount), .sans(10, bold: true)).width
        let countFont = Font.sans(min(12, cell * 0.24, 10 * cell * 0.8 / max(widestCount, 1)), bold: true)
        let percentFont = Font.sans(min(8, cell * 0.15))
        let showPercent = cell >= 34
        var cells: [[Rect]] = []
        for t in 0..<n {
            let rowTotal = confusion[t].reduce(0, +)
            var row: [Rect] = []
            for p in 0..<n {
                let r = Rect(x: grid.x + Double(p) * cell, y: grid.y + Double(t) * cell, width: cell, height: cell)
                row.append(r)
                let colour = Colormap.blues(Double(confusion[t][p]) / Double(maxCount))
                c.fill(r, colour)
                let ink: Color = colour.luminance < 0.3 ? .white : .black
                let count = String(confusion[t][p])
                let cs = c.measure(count, countFont)
                let percent = rowTotal > 0
                    ? NumberText.fixed(100 * Double(confusion[t][p]) / Double(rowTotal), digits: 1) + "%" : "–"
                let ps = showPercent ? c.measure(percent, percentFont) : Size(width: 0, height: 0)
                var ty = r.midY - (cs.height + ps.height) / 2
                c.text(count, at: Point(x: r.midX - cs.width / 2, y: ty), countFont, ink)
                ty += cs.height
                if showPercent { c.text(percent, at: Point(x: r.midX - ps.width / 2, y: ty), percentFont, ink) }
            }
            cells.append(row)
        }
        // White separators between cells, then the frame.
        for i in 1..<max(n, 1) {
            let d = Double(i) * cell
            c.line([Point(x: grid.x + d, y: grid.y), Point(x: grid.x + d, y: grid.maxY)], .white, lineWidth: 1)
            c.line([Point(x: grid.x, y: grid.y + d), Point(x: grid.maxX, y: grid.y + d)], .white, lineWidth: 1)
        }
        c.stroke(grid, .axis, lineWidth: 0.6)

        // Class names: rows right-aligned left of the grid, columns below it.
        let font = labelFont(cell)
        let lineHeight = c.measure("Ag", font).height
        let rowLines = max(1, Int(cell / lineHeight))
        for (i, name) in classNames.enumerated() {
            let rs = c.measure(name, font, width: rowLabelWidth, maxLines: rowLines)
            c.text(name, at: Point(x: grid.x - 4 - rowLabelWidth, y: grid.y + (Double(i) + 0.5) * cell - rs.height / 2),
                   font, .black, width: rowLabelWidth, alignment: .right, maxLines: rowLines)
        }
        var columnLabelHeight = 0.0
        if upright {
            // As many lines as fit across a cell, each up to `maxLabel` long.
            columnLabelHeight = min(maxLabel, classNames.map { c.measure($0, font).width }.max() ?? 0) + 2
            let columnLines = max(1, Int((cell - 1) / lineHeight))
            for (i, name) in classNames.enumerated() {
                c.verticalText(name, centeredAt: Point(x: grid.x + (Double(i) + 0.5) * cell, y: grid.maxY + 3 + columnLabelHeight / 2),
                               font, .black, length: columnLabelHeight, alignment: .right, maxLines: columnLines)
            }
        } else {
            for (i, name) in classNames.enumerated() {
                let h = c.text(name, at: Point(x: grid.x + Double(i) * cell + 1, y: grid.maxY + 3), font, .black,
                               width: cell - 2, alignment: .center).height
                columnLabelHeight = max(columnLabelHeight, h)
            }
        }
        let predicted = "predicted"
        let ps = c.measure(predicted, axisFont)
        c.text(predicted, at: Point(x: grid.midX - ps.width / 2, y: grid.maxY + 5 + columnLabelHeight), axisFont, .axis)
        c.verticalText("true", centeredAt: Point(x: grid.x - 4 - rowLabelWidth - 9, y: grid.midY), axisFont, .axis)
        return cells
    }

    /// A square data area below the panel title, centred, leaving room for ticks and axis labels.
    private func plotArea(in panel: Rect, below top: Double, extraTop: Double = 0) -> PlotAxes {
        let available = panel.width - PlotAxes.leftSpace - 4
        let side = min(available, panel.maxY - top - extraTop - PlotAxes.bottomSpace)
        let x = panel.x + PlotAxes.leftSpace + (available - side) / 2
        return PlotAxes(rect: Rect(x: x, y: top + extraTop, width: side, height: side))
    }

    /// One-vs-rest ROC curves, one Okabe–Ito colour per class, AUC in the legend, chance diagonal dashed.
    private func drawROC(on c: Canvas, in panel: Rect) -> Rect {
        let titleHeight = c.text("ROC curves, one vs rest", at: Point(x: panel.x, y: panel.y), Self.panelTitleFont).height
        let axes = plotArea(in: panel, below: panel.y + titleHeight + 8)
        axes.drawFrame(on: c, xLabel: "false positive rate (1 − specificity)", yLabel: "true positive rate (sensitivity)")
        c.line([axes.point(0, 0), axes.point(1, 1)], Color(hex: 0x999999), lineWidth: 0.8, dash: [3, 2])
        if roc.isEmpty {
            axes.placeholder("no ROC data", on: c)
            return axes.rect
        }
        c.clipped(to: axes.rect.inset(by: -1.5)) {
            for (i, curve) in roc.enumerated() {
                c.line(curve.points.map { axes.point($0.fpr, $0.tpr) }, Palette.line(i), lineWidth: 1.5)
            }
        }
        var entries: [(PlotAxes.Swatch, String)] = roc.enumerated().map { i, curve in
            (.line(Palette.line(i), dash: nil),
             curve.className + (curve.auc.map { " (AUC " + Self.formatAUC($0) + ")" } ?? ""))
        }
        entries.append((.line(Color(hex: 0x999999), dash: [3, 2]), "chance"))
        axes.drawLegend(on: c, entries, corner: .bottomRight)
        return axes.rect
    }

    /// AUC as shown in the legend: three decimals.
    static func formatAUC(_ auc: Double) -> String { NumberText.fixed(auc, digits: 3) }

    /// ECE as shown in the reliability title: three decimals.
    static func formatECE(_ ece: Double) -> String { NumberText.fixed(ece, digits: 3) }

    /// Accuracy per confidence bin as bars against the diagonal, mean confidence as dots, counts above.
    private func drawReliability(on c: Canvas, in panel: Rect) -> Rect {
        let title = "Reliability (ECE " + Self.formatECE(expectedCalibrationError) + ")"
        let titleHeight = c.text(title, at: Point(x: panel.x, y: panel.y), Self.panelTitleFont).height
        let countStrip = 11.0
        let axes = plotArea(in: panel, below: panel.y + titleHeight + 6, extraTop: countStrip)
        axes.drawFrame(on: c, xLabel: "confidence (top probability)", yLabel: "accuracy")

        let barColour = Palette.blue
        for b in reliability where b.count > 0 {
            let r = Rect(x: axes.point(b.lower, 0).x + 0.6, y: axes.point(0, b.accuracy).y,
                         width: (b.upper - b.lower) * axes.rect.width - 1.2, height: b.accuracy * axes.rect.height)
            c.fill(r, barColour.withAlpha(0.7))
            c.stroke(r, barColour, lineWidth: 0.5)
        }
        c.line([axes.point(0, 0), axes.point(1, 1)], Color(hex: 0x555555), lineWidth: 0.9, dash: [3, 2])
        for b in reliability where b.count > 0 {
            c.circle(center: axes.point(b.meanConfidence, b.accuracy), radius: 2, fill: Palette.vermillion, outline: .white)
        }

        if reliability.isEmpty {
            axes.placeholder("no calibration data", on: c)
            return axes.rect
        }

        // Bin counts in a strip above the plot, each centred over its bin.
        let narrowest = reliability.map { ($0.upper - $0.lower) * axes.rect.width }.min() ?? axes.rect.width
        let countFont = Font.sans(min(6.5, max(4.5, narrowest * 0.32)))
        let stripY = axes.rect.y - countStrip + 1
        let nLabel = c.measure("n", countFont)
        c.text("n", at: Point(x: axes.rect.x - 3 - nLabel.width, y: stripY), countFont, .secondaryText)
        for b in reliability {
            let label = NumberText.compact(b.count)
            let s = c.measure(label, countFont)
            let mid = axes.point((b.lower + b.upper) / 2, 0).x
            c.text(label, at: Point(x: mid - s.width / 2, y: stripY), countFont, .secondaryText)
        }
        axes.drawLegend(on: c, [
            (.bar(barColour.withAlpha(0.7)), "accuracy per bin"),
            (.dot(Palette.vermillion), "mean confidence"),
            (.line(Color(hex: 0x555555), dash: [3, 2]), "perfect calibration"),
        ], corner: .topLeft)
        return axes.rect
    }
}
