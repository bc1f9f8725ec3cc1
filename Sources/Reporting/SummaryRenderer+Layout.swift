import Foundation
import XRayCore

// The summary's pages: a header (full on page 1, one line after), the column titles, rows of
// scans sorted for triage, the failed files, and on every page the footer with the disclaimer
// and "page i of n". Rows are measured first, so the page count is known before drawing.

/// Layout of a batch summary: `paginate` measures and splits the rows into pages, `draw` draws them.
struct SummaryLayout {
    let summary: SummaryReport
    let template: ReportTemplate
    let page: Size

    static let margin = 36.0
    static let thumbnail = 56.0
    /// Pixels per point of the embedded thumbnails (144 dpi): sharp at 200% zoom, and a row's two
    /// images cost about 43 kB of PDF for a real radiograph (at 2.8 they took 77 kB).
    static let thumbnailDensity = 2.0
    static let rowPadding = 5.0

    private static let titleFont = Font.sans(12)
    private static let headingFont = Font.sans(10.5, bold: true)
    private static let labelFont = Font.sans(8)
    private static let valueFont = Font.sans(9.5)
    private static let nameFont = Font.sans(9.5, bold: true)
    private static let smallFont = Font.sans(8)

    private var labels: ReportTemplate.Labels { template.labels }
    private var content: Double { page.width - 2 * Self.margin }
    private var accent: Color { Color(template.accentColor) }
    private static let warningColor = Color(hex: 0x8A2D00)

    /// One thing on a page, with its height.
    enum Item {
        case row(rank: Int, entry: SummaryEntry, warnings: [String])
        case failedHeading(count: Int)
        /// The heading of the scans set aside (out of scope or of distribution), which are not ranked.
        case setAsideHeading(count: Int)
        case failed(entry: SummaryEntry)
        case empty
    }

    /// Items per page, after `paginate`.
    private(set) var pages: [[(item: Item, height: Double)]] = []

    /// The model's classes in order, from the first classified entry (the columns of the table).
    var classNames: [String] {
        summary.entries.lazy.compactMap(\.result).first?.probabilities.map(\.className) ?? []
    }

    var warnedCount: Int {
        summary.entries.filter { !warnings(of: $0).isEmpty }.count
    }

    func warnings(of entry: SummaryEntry) -> [String] {
        guard let r = entry.result else { return [] }
        return ScanWarning.assess(probabilities: r.probabilities.map(\.probability), metadata: entry.metadata,
                                  size: r.scanSize, outOfDistribution: r.outOfDistributionWarning,
                                  predictedClass: r.predictedClass, trainedClasses: summary.model?.trainedClasses, extra: r.warnings,
                                  template: template).map(\.message)
    }

    // MARK: Columns (x positions in points)

    private var rankX: Double { Self.margin }
    private var scanX: Double { Self.margin + 20 }
    private var overlayX: Double { scanX + Self.thumbnail + 3 }
    private var identityX: Double { overlayX + Self.thumbnail + 8 }
    private var flagWidth: Double { 32 }
    private var probabilityWidth: Double { 46 }
    private var classWidth: Double { 62 }
    private var flagX: Double { Self.margin + content - flagWidth }
    private var probabilityX: Double { flagX - 4 - probabilityWidth * Double(max(classNames.count, 1)) }
    private var classX: Double { probabilityX - 4 - classWidth }
    private var identityWidth: Double { classX - 6 - identityX }

    // MARK: Measuring and pages

    /// Splits the items into pages, measuring text on `c`.
    mutating func paginate(measuringOn c: Canvas) {
        var items: [Item] = summary.ranked.enumerated().map { .row(rank: $0 + 1, entry: $1, warnings: warnings(of: $1)) }
        let aside = summary.setAside
        if !aside.isEmpty {
            // Rank 0: drawn as "–", the class in grey; never among the ranked positives.
            items.append(.setAsideHeading(count: aside.count))
            items += aside.map { .row(rank: 0, entry: $0, warnings: warnings(of: $0)) }
        }
        let failed = summary.failed
        if !failed.isEmpty {
            items.append(.failedHeading(count: failed.count))
            items += failed.map { .failed(entry: $0) }
        }
        if summary.entries.isEmpty { items = [.empty] }

        pages = [[]]
        var y = headerHeight(on: c, first: true)
        var limit = bodyLimit(c)
        var tableHeaderShown = false
        for item in items {
            var h = height(of: item, on: c)
            let needsTableHeader: Bool
            if case .row = item { needsTableHeader = !tableHeaderShown } else { needsTableHeader = false }
            if needsTableHeader { h += tableHeaderHeight(c) }
            // A failed-files heading stays with its first file.
            var keep = h
            if case let .failedHeading(count) = item, count > 0, case let .failed(entry)? = items.dropFirst().first(where: {
                if case .failed = $0 { return true } else { return false }
            }) {
                keep += height(of: .failed(entry: entry), on: c)
            }
            if case let .setAsideHeading(count) = item, count > 0, let first = aside.first {
                keep += height(of: .row(rank: 0, entry: first, warnings: warnings(of: first)), on: c) + tableHeaderHeight(c)
            }
            if y + keep > limit, !pages[pages.count - 1].isEmpty {
                pages.append([])
                y = headerHeight(on: c, first: false)
                tableHeaderShown = false
                if case .row = item { h = height(of: item, on: c) + tableHeaderHeight(c) }
            }
            if case .row = item { tableHeaderShown = true }
            if case .setAsideHeading = item { tableHeaderShown = false }
            pages[pages.count - 1].append((item, h))
            y += h
            limit = bodyLimit(c)
        }
    }

    private func bodyLimit(_ c: Canvas) -> Double {
        footerTop(c) - 8
    }

    private func footerTop(_ c: Canvas) -> Double {
        let disclaimerHeight = c.measure(template.disclaimer, Font.sans(9.5, bold: true), width: content - 140, maxLines: 2).height
        return page.height - Self.margin + 8 - disclaimerHeight - 6
    }

    private func headerHeight(on c: Canvas, first: Bool) -> Double {
        drawHeader(on: c, first: first, pageIndex: 0, drawing: false) - Self.margin
    }

    private func tableHeaderHeight(_ c: Canvas) -> Double {
        drawTableHeader(on: c, y: 0, drawing: false)
    }

    private func height(of item: Item, on c: Canvas) -> Double {
        switch item {
        case let .row(_, entry, warnings):
            return drawRow(on: c, entry: entry, rank: 0, warnings: warnings, y: 0, drawing: false).height
        case let .failedHeading(count):
            return 8 + c.measure(failedHeading(count), Self.headingFont, width: content, maxLines: 2).height + 5
        case let .setAsideHeading(count):
            return 8 + c.measure(setAsideHeading(count), Self.headingFont, width: content, maxLines: 2).height + 5
        case let .failed(entry):
            return drawFailed(on: c, entry: entry, y: 0, drawing: false)
        case .empty:
            return c.measure(labels[.summaryNone], Self.valueFont, width: content).height + 8
        }
    }

    private func setAsideHeading(_ count: Int) -> String {
        labels[.summarySetAside].replacingOccurrences(of: "{count}", with: String(count))
    }

    private func failedHeading(_ count: Int) -> String {
        labels[.summaryFailed].replacingOccurrences(of: "{count}", with: String(count))
    }

    // MARK: Drawing

    func draw(on c: Canvas) -> SummaryRenderer.Geometry {
        var g = SummaryRenderer.Geometry()
        g.pages = pages.count
        g.footerTop = footerTop(c)
        for (index, items) in pages.enumerated() {
            if index > 0 { c.newPage() }
            var y = drawHeader(on: c, first: index == 0, pageIndex: index, drawing: true)
            var tableHeaderShown = false
            for (item, _) in items {
                switch item {
                case let .row(rank, entry, warnings):
                    if !tableHeaderShown {
                        y += drawTableHeader(on: c, y: y, drawing: true)
                        tableHeaderShown = true
                    }
                    let drawn = drawRow(on: c, entry: entry, rank: rank, warnings: warnings, y: y, drawing: true)
                    g.rows.append(.init(page: index + 1, file: entry.file, scan: drawn.scan, overlay: drawn.overlay, link: drawn.link))
                    y += drawn.height
                case let .setAsideHeading(count):
                    y += 8
                    let h = c.text(setAsideHeading(count), at: Point(x: Self.margin, y: y), Self.headingFont, Self.warningColor,
                                   width: content, maxLines: 2).height
                    c.line([Point(x: Self.margin, y: y + h + 1.5), Point(x: Self.margin + content, y: y + h + 1.5)],
                           Self.warningColor.withAlpha(0.35), lineWidth: 0.6)
                    y += h + 5
                    tableHeaderShown = false
                case let .failedHeading(count):
                    y += 8
                    let h = c.text(failedHeading(count), at: Point(x: Self.margin, y: y), Self.headingFont, accent,
                                   width: content, maxLines: 2).height
                    c.line([Point(x: Self.margin, y: y + h + 1.5), Point(x: Self.margin + content, y: y + h + 1.5)],
                           accent.withAlpha(0.35), lineWidth: 0.6)
                    y += h + 5
                case let .failed(entry):
                    y += drawFailed(on: c, entry: entry, y: y, drawing: true)
                case .empty:
                    y += c.text(labels[.summaryNone], at: Point(x: Self.margin, y: y + 4), Self.valueFont, .secondaryText,
                                width: content).height + 8
                }
            }
            drawFooter(on: c, pageNumber: index + 1, pageCount: pages.count)
        }
        return g
    }

    /// The page header; returns the y below it.
    private func drawHeader(on c: Canvas, first: Bool, pageIndex: Int, drawing: Bool) -> Double {
        let x0 = Self.margin
        var y = Self.margin
        func put(_ text: String, _ font: Font, _ color: Color = .black, maxLines: Int = 2) -> Double {
            drawing ? c.text(text, at: Point(x: x0, y: y), font, color, width: content, maxLines: maxLines).height
                : c.measure(text, font, width: content, maxLines: maxLines).height
        }
        if first {
            if !template.institution.isEmpty { y += put(template.institution, .sans(14, bold: true)) }
            y += put(labels[.summaryTitle], Self.titleFont, accent)
        } else {
            y += put(labels[.summaryTitle] + " (" + labels[.summaryContinued] + ")", Self.titleFont, accent, maxLines: 1)
        }
        y += 3
        if drawing { c.line([Point(x: x0, y: y), Point(x: x0 + content, y: y)], accent, lineWidth: 1.5) }
        y += 6
        if first {
            let counts = labels[.summaryCounts]
                .replacingOccurrences(of: "{total}", with: String(summary.entries.count))
                .replacingOccurrences(of: "{classified}", with: String(summary.classifiedCount))
                .replacingOccurrences(of: "{warned}", with: String(warnedCount))
                .replacingOccurrences(of: "{failed}", with: String(summary.failed.count))
            y += put(counts, Self.valueFont) + 1
            var provenance = [labels[.reportCreatedAt] + " " + ScanReport.timestampText(summary.createdAt)]
            if let m = summary.model {
                var model = "\(labels[.model]) \(m.name)"
                if let v = m.version { model += v.hasPrefix("v") ? " " + v : " v" + v }
                model += " (SHA-256 \(m.sha256.prefix(12))…)"
                provenance.append(model)
            }
            if !summary.softwareVersion.isEmpty { provenance.append("CXReview " + summary.softwareVersion) }
            y += put(provenance.joined(separator: " · "), Self.smallFont, .secondaryText) + 1
            let sorted: String
            switch summary.order {
            case let .notClass(c): sorted = labels[.summarySortedNotNormal].replacingOccurrences(of: "{class}", with: labels.className(c))
            case let .probability(of: c): sorted = labels[.summarySorted].replacingOccurrences(of: "{class}", with: labels.className(c))
            }
            y += put(sorted, Self.smallFont, .secondaryText) + 6
        }
        return y
    }

    /// Column titles with a rule below; returns their height.
    private func drawTableHeader(on c: Canvas, y: Double, drawing: Bool) -> Double {
        var cells: [(String, Double, Double, TextAlignment, Bool)] = [
            (labels[.summaryRank], rankX, 18, .left, false),
            (labels[.summaryImages], scanX, 2 * Self.thumbnail + 3, .left, false),
            (labels[.summaryScan], identityX, identityWidth, .left, false),
            (labels[.predictedClass], classX, classWidth, .left, false),
        ]
        for (i, name) in classNames.enumerated() {
            cells.append((labels.className(name), probabilityX + Double(i) * probabilityWidth + 2, probabilityWidth - 2, .right,
                          name == summary.sortClass))
        }
        cells.append((labels[.summaryWarningsFlag], flagX, flagWidth, .right, false))
        var h = 0.0
        for (text, x, w, alignment, bold) in cells {
            let font = Font.sans(7.5, bold: bold)
            h = max(h, drawing ? c.text(text, at: Point(x: x, y: y), font, .secondaryText, width: w, alignment: alignment, maxLines: 3).height
                        : c.measure(text, font, width: w, maxLines: 3).height)
        }
        if drawing {
            c.line([Point(x: Self.margin, y: y + h + 2), Point(x: Self.margin + content, y: y + h + 2)], Color(hex: 0x999999), lineWidth: 0.6)
        }
        return h + 4
    }

    /// The identity column's lines of a row: for DICOM the patient's name, ID and study date (the
    /// ID and the date each on a line of its own, so a long ID is cut with "…" and never pushes the
    /// date out), then the input's path; for PNG/JPEG the path alone.
    func identityLines(of entry: SummaryEntry, on c: Canvas) -> [(text: String, font: Font, color: Color, maxLines: Int)] {
        guard let m = entry.metadata else { return [(c.displayable(entry.file, Self.nameFont), Self.nameFont, .black, 3)] }
        var lines = [(text: m.patientName.map(ReportLayout.personName) ?? "—", font: Self.nameFont, color: Color.black, maxLines: 2)]
        if let id = m.patientID { lines.append(("\(labels[.patientID]) \(id)", Self.smallFont, .black, 1)) }
        if let date = ScanReport.studyDateText(m, labels: labels) { lines.append(("\(labels[.studyDate]) \(date)", Self.smallFont, .black, 1)) }
        lines.append((c.displayable(entry.file, Self.smallFont), Self.smallFont, .secondaryText, 3))
        return lines
    }

    /// Width of the patient / file column, in points.
    var identityColumnWidth: Double { identityWidth }

    /// One classified scan; returns its height and, when drawn, where the thumbnails and link went.
    private func drawRow(on c: Canvas, entry: SummaryEntry, rank: Int, warnings: [String], y: Double,
                         drawing: Bool) -> (height: Double, scan: Rect?, overlay: Rect?, link: Rect?) {
        guard let r = entry.result else { return (0, nil, nil, nil) }
        let top = y + Self.rowPadding
        func put(_ text: String, _ x: Double, _ y: Double, _ font: Font, _ color: Color = .black, width: Double,
                 alignment: TextAlignment = .left, maxLines: Int? = 1) -> Double {
            drawing ? c.text(text, at: Point(x: x, y: y), font, color, width: width, alignment: alignment, maxLines: maxLines).height
                : c.measure(text, font, width: width, maxLines: maxLines).height
        }

        // Patient (DICOM) or file (PNG/JPEG), then the link to the per-scan report.
        var iy = top
        for line in identityLines(of: entry, on: c) {
            iy += put(line.text, identityX, iy, line.font, line.color, width: identityWidth, maxLines: line.maxLines)
        }
        var link: Rect?
        if let report = r.reportFileName {
            let text = labels[.summaryReport].replacingOccurrences(of: "{file}", with: report)
            // Up to three lines, so a long SOP Instance UID name is shown whole.
            let size = c.measure(text, Self.smallFont, width: identityWidth, maxLines: 3)
            if drawing {
                let rect = Rect(x: identityX, y: iy + 1, width: min(identityWidth, size.width), height: size.height)
                c.link(to: report, rect: rect) {
                    c.text(text, at: Point(x: rect.x, y: rect.y), Self.smallFont, accent, width: identityWidth, maxLines: 3)
                }
                link = rect
            }
            iy += size.height + 1
        } else {
            iy += put(labels[.summaryNoReport], identityX, iy + 1, Self.smallFont, .secondaryText, width: identityWidth) + 1
        }

        // Predicted class, probabilities (with small bars), warnings flag.
        let classColor = rank == 0 ? Color.secondaryText : ReportLayout.readable(color(ofClass: r.predictedClass, in: r))
        let cy = top + put(labels.className(r.predictedClass), classX, top, Self.nameFont, classColor, width: classWidth, maxLines: 2)
        var py = top
        for (i, p) in r.probabilities.enumerated() {
            let x = probabilityX + Double(i) * probabilityWidth
            let emphasised = p.className == summary.sortClass
            let h = put(ScanReport.probabilityText(p.probability), x, top, Font.sans(9.5, bold: emphasised),
                        p.className == r.predictedClass ? .black : .secondaryText, width: probabilityWidth - 2, alignment: .right)
            let track = Rect(x: x + 6, y: top + h + 2, width: probabilityWidth - 8, height: 4)
            if drawing {
                c.fill(track, Color(hex: 0xEEEEEE))
                c.fill(Rect(x: track.x, y: track.y, width: track.width * min(max(p.probability, 0), 1), height: track.height),
                       color(ofClass: p.className, in: r))
            }
            py = max(py, track.maxY)
        }
        let flag = warnings.isEmpty ? "—" : "⚠ \(warnings.count)"
        let fy = top + put(flag, flagX, top, warnings.isEmpty ? Self.valueFont : Font.sans(9.5, bold: true),
                           warnings.isEmpty ? .secondaryText : Self.warningColor, width: flagWidth - 2, alignment: .right)

        // Rank and thumbnails.
        _ = put(rank == 0 ? "–" : String(rank), rankX, top, Self.valueFont, .secondaryText, width: 18)
        var scanRect: Rect?, overlayRect: Rect?
        if drawing {
            func thumbnails() {
                let box = Rect(x: scanX, y: top, width: Self.thumbnail, height: Self.thumbnail)
                scanRect = c.image(r.thumbnail, fitting: box, background: .black, pdfDensity: Self.thumbnailDensity)
                if let o = r.overlay {
                    overlayRect = c.image(o, fitting: Rect(x: overlayX, y: top, width: Self.thumbnail, height: Self.thumbnail),
                                          background: .black, pdfDensity: Self.thumbnailDensity)
                }
            }
            // The thumbnails open the report too.
            if let report = r.reportFileName {
                c.link(to: report, rect: Rect(x: scanX, y: top, width: 2 * Self.thumbnail + 3, height: Self.thumbnail), thumbnails)
            } else {
                thumbnails()
            }
        }
        var bottom = max(top + Self.thumbnail, iy, cy, py, fy)

        // Warnings in full under the row, from the identity column to the right edge.
        let wx = identityX, ww = Self.margin + content - identityX
        for w in warnings.prefix(3) {
            bottom += 1
            _ = put("⚠", wx, bottom, Self.smallFont, Self.warningColor, width: 12)
            bottom += put(w, wx + 12, bottom, Self.smallFont, Self.warningColor, width: ww - 12, maxLines: 3)
        }
        if warnings.count > 3 {
            bottom += put("+\(warnings.count - 3) …", wx + 12, bottom, Self.smallFont, Self.warningColor, width: ww - 12)
        }
        bottom += Self.rowPadding
        if drawing {
            c.line([Point(x: Self.margin, y: bottom), Point(x: Self.margin + content, y: bottom)], .gridLine, lineWidth: 0.5)
        }
        return (bottom - y, scanRect, overlayRect, link)
    }

    /// A file that failed: its name and the reason; returns the height.
    private func drawFailed(on c: Canvas, entry: SummaryEntry, y: Double, drawing: Bool) -> Double {
        guard case let .failed(reason) = entry.outcome else { return 0 }
        let nameWidth = 150.0
        let top = y + 3
        let runs = [TextRun(text: entry.fileName, bold: true)]
        let nh = drawing ? c.text(runs, at: Point(x: Self.margin, y: top), Self.smallFont, width: nameWidth).height
            : c.measure(runs, Self.smallFont, width: nameWidth).height
        let rx = Self.margin + nameWidth + 8, rw = content - nameWidth - 8
        let rh = drawing ? c.text(reason, at: Point(x: rx, y: top), Self.smallFont, .black, width: rw, maxLines: 3).height
            : c.measure(reason, Self.smallFont, width: rw, maxLines: 3).height
        let bottom = top + max(nh, rh) + 3
        if drawing {
            c.line([Point(x: Self.margin, y: bottom), Point(x: Self.margin + content, y: bottom)], .gridLine, lineWidth: 0.5)
        }
        return bottom - y
    }

    /// Rule, disclaimer (bold, centred) and "page i of n", at the page bottom.
    private func drawFooter(on c: Canvas, pageNumber: Int, pageCount: Int) {
        let x0 = Self.margin
        let fy = footerTop(c) + 6
        let footerFont = Font.sans(9.5, bold: true)
        c.line([Point(x: x0, y: fy - 6), Point(x: x0 + content, y: fy - 6)], accent, lineWidth: 0.8)
        c.text(template.disclaimer, at: Point(x: x0 + 70, y: fy), footerFont, .black, width: content - 140, alignment: .center, maxLines: 2)
        let pageText = labels[.page].replacingOccurrences(of: "{page}", with: String(pageNumber))
            .replacingOccurrences(of: "{pages}", with: String(pageCount))
        c.text(pageText, at: Point(x: x0 + content - 70, y: fy + 1), Self.smallFont, .secondaryText, width: 70, alignment: .right)
    }

    /// The class's bar colour: the template's, else the per-scan report's palette in model order.
    private func color(ofClass name: String, in r: SummaryEntry.Result) -> Color {
        if let c = template.classColors[name] { return Color(c) }
        let i = r.probabilities.firstIndex(where: { $0.className == name }) ?? 0
        return [Palette.bluishGreen, Palette.orange, Palette.vermillion, Palette.blue, Palette.reddishPurple, Palette.skyBlue][i % 6]
    }
}
