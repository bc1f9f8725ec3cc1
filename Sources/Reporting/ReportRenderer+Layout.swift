import CAM
import Foundation
import XRayCore

// The per-scan report's page, top to bottom: header, patient | study, result with bars, scan |
// overlay | legend, decoding notes, warnings, provenance; the footer sits at the page bottom.

/// One layout pass over the page; with `drawing` false it only measures.
struct ReportLayout {
    let report: ScanReport
    let template: ReportTemplate
    let page: Size
    /// Height of the scan and overlay panels, chosen by `ReportRenderer` from the room left.
    let imageHeight: Double

    static let margin = 36.0
    /// Low enough that the longest warnings (out of scope with every reason, out of distribution,
    /// low confidence) still leave the provenance above the footer.
    static let minImageHeight = 100.0
    static let maxImageHeight = 290.0

    private var labels: ReportTemplate.Labels { template.labels }
    private var content: Double { page.width - 2 * Self.margin }
    private var accent: Color { Color(template.accentColor) }

    // Fonts: body text 9.5 pt, small print 8 pt, never below 7.5 pt.
    private static let headingFont = Font.sans(10.5, bold: true)
    private static let labelFont = Font.sans(8.5)
    private static let valueFont = Font.sans(9.5)
    private static let smallFont = Font.sans(8)
    private static let hashFont = Font.mono(7.5)

    /// The bar colour of a class: the template's, else the Okabe–Ito palette in model order.
    func color(ofClass name: String) -> Color {
        if let c = template.classColors[name] { return Color(c) }
        let i = report.probabilities.firstIndex(where: { $0.className == name }) ?? 0
        return [Palette.bluishGreen, Palette.orange, Palette.vermillion, Palette.blue, Palette.reddishPurple, Palette.skyBlue][i % 6]
    }

    func draw(on c: Canvas, drawing: Bool) -> ReportRenderer.Geometry {
        var g = ReportRenderer.Geometry()
        let x0 = Self.margin
        var y = Self.margin

        /// Text at (x, y) wrapped at `width`; returns its height. Measures only when not drawing.
        func put(_ text: String, _ x: Double, _ y: Double, _ font: Font, _ color: Color = .black,
                 width: Double, alignment: TextAlignment = .left, maxLines: Int? = nil) -> Double {
            drawing ? c.text(text, at: Point(x: x, y: y), font, color, width: width, alignment: alignment, maxLines: maxLines).height
                : c.measure(text, font, width: width, maxLines: maxLines).height
        }
        func heading(_ text: String, _ x: Double, _ y: Double, width: Double) -> Double {
            let h = put(text, x, y, Self.headingFont, accent, width: width, maxLines: 1)
            if drawing { c.line([Point(x: x, y: y + h + 1.5), Point(x: x + width, y: y + h + 1.5)], accent.withAlpha(0.35), lineWidth: 0.6) }
            return h + 5
        }

        // Header: logo, institution, title; an accent rule below.
        var textX = x0
        var headerHeight = 0.0
        if let logo = template.logoPath {
            let box = Rect(x: x0, y: y, width: 90, height: 40)
            if drawing, let drawn = c.pngImage(atPath: logo, fitting: box) {
                textX = drawn.maxX + 10
            } else {
                textX = box.maxX + 10
            }
            headerHeight = 40
        }
        var hy = y
        if !template.institution.isEmpty {
            hy += put(template.institution, textX, hy, .sans(14, bold: true), width: page.width - Self.margin - textX, maxLines: 2)
        }
        hy += put(labels[.title], textX, hy, .sans(12), accent, width: page.width - Self.margin - textX, maxLines: 2)
        y = max(y + headerHeight, hy) + 4
        if drawing { c.line([Point(x: x0, y: y), Point(x: x0 + content, y: y)], accent, lineWidth: 1.5) }
        y += 10

        // Patient | study.
        let isDICOM = report.decoding.format == .dicom
        let gap = 18.0
        let column = (content - gap) / 2
        let m = report.metadata
        var blockBottom = y
        if template.sections.patient {
            var py = y + heading(labels[.patient], x0, y, width: column)
            if isDICOM {
                for (key, value) in [(ReportTemplate.LabelKey.name, m.patientName.map(Self.personName)), (.patientID, m.patientID),
                                     (.sex, m.patientSex), (.birthDate, m.patientBirthDate.map(Self.date)),
                                     (.age, ScanReport.ageText(m, labels: labels))] {
                    py += row(labels[key], value, x0, py, width: column, on: c, drawing: drawing)
                }
            } else {
                py += put(labels[.noDICOMHeader], x0, py, Self.valueFont, .secondaryText, width: column) + 2
            }
            blockBottom = max(blockBottom, py)
        }
        if template.sections.study {
            let sx = template.sections.patient ? x0 + column + gap : x0
            var sy = y + heading(labels[.study], sx, y, width: column)
            var rows: [(ReportTemplate.LabelKey, String?)] = [(.file, c.displayable(report.fileName, Self.valueFont))]
            if isDICOM {
                rows += [(.studyDate, ScanReport.studyDateText(m, labels: labels)), (.studyTime, m.studyTime.map(Self.time)),
                         (.description, m.studyDescription), (.accession, m.accessionNumber), (.modality, m.modality),
                         (.bodyPart, m.bodyPartExamined), (.viewPosition, m.viewPosition), (.institution, m.institutionName),
                         (.manufacturer, m.manufacturer)]
            }
            for (key, value) in rows {
                // The input's path is shown whole (it tells same-named files apart).
                sy += row(labels[key], value, sx, sy, width: column, on: c, drawing: drawing, maxLines: key == .file ? 4 : 2)
            }
            if !isDICOM, !template.sections.patient {
                sy += put(labels[.noDICOMHeader], sx, sy, Self.valueFont, .secondaryText, width: column) + 2
            }
            blockBottom = max(blockBottom, sy)
        }
        y = blockBottom + 8

        // Result: the predicted class, then one bar per class with its probability. A scan out of
        // scope or of distribution gets a headline saying so first, and its class is shown small
        // and grey as the model's output, not as an answer.
        y += heading(labels[.result], x0, y, width: content)
        let assessed = report.assessedWarnings(template: template)
        let setAside = assessed.contains(where: \.setsAside)
        if setAside {
            let headline = assessed.contains(where: { $0.code == .outOfScope }) ? labels[.outOfScopeHeadline] : labels[.outOfDistributionHeadline]
            let h = put("⚠ " + headline, x0 + 6, y + 4, .sans(12.5, bold: true), Color(hex: 0x8A2D00), width: content - 12, maxLines: 3)
            if drawing {
                c.fill(Rect(x: x0, y: y, width: content, height: h + 8), Color(hex: 0xFCE8DC))
                c.fill(Rect(x: x0, y: y, width: 3, height: h + 8), Color(hex: 0xB03A00))
                _ = put("⚠ " + headline, x0 + 6, y + 4, .sans(12.5, bold: true), Color(hex: 0x8A2D00), width: content - 12, maxLines: 3)
            }
            g.headline = Rect(x: x0, y: y, width: content, height: h + 8)
            y += h + 14
        }
        let predictedColor = setAside ? Color.secondaryText : color(ofClass: report.predictedClass)
        let panelWidth = 150.0
        var ly = y
        ly += put(setAside ? labels[.modelOutput] : labels[.predictedClass], x0, ly, Self.labelFont, .secondaryText, width: panelWidth)
        ly += put(labels.className(report.predictedClass), x0, ly, setAside ? .sans(11) : .sans(17, bold: true),
                  setAside ? .secondaryText : Self.readable(predictedColor), width: panelWidth, maxLines: 2)
        // The uncertainty belongs next to the answer, not only in the warnings further down.
        let top = report.probabilities.map(\.probability).max() ?? 0
        if top < template.lowConfidenceThreshold, !setAside {
            ly += put("⚠ " + labels[.lowConfidence].replacingOccurrences(of: "{probability}", with: ScanReport.probabilityText(top))
                        .replacingOccurrences(of: "{threshold}", with: ScanReport.probabilityText(template.lowConfidenceThreshold)),
                      x0, ly + 2, Self.smallFont, Color(hex: 0x8A2D00), width: panelWidth, maxLines: 3) + 2
        }
        var ry = y
        if template.sections.probabilities {
            let bx = x0 + panelWidth + 12
            ry += put(labels[.probabilities], bx, ry, Self.labelFont, .secondaryText, width: content - panelWidth - 12)
            ry += 2
            let nameWidth = 105.0, numberWidth = 44.0
            let trackX = bx + nameWidth + 6
            let trackWidth = x0 + content - numberWidth - 6 - trackX
            for p in report.probabilities {
                let predicted = p.className == report.predictedClass
                let font = Font.sans(9.5, bold: predicted)
                let h = max(15, put(labels.className(p.className), bx, ry, font, width: nameWidth, maxLines: 1))
                let track = Rect(x: trackX, y: ry + 2, width: trackWidth, height: 10)
                let bar = Rect(x: track.x, y: track.y, width: track.width * min(max(p.probability, 0), 1), height: track.height)
                if drawing {
                    c.fill(track, Color(hex: 0xEEEEEE))
                    c.fill(bar, setAside ? Color(hex: 0xAAAAAA) : color(ofClass: p.className))
                    c.stroke(track, Color(hex: 0xBBBBBB), lineWidth: 0.4)
                    // Ticks at 0.25, 0.5, 0.75 so bar lengths can be read.
                    for t in [0.25, 0.5, 0.75] {
                        let tx = track.x + track.width * t
                        c.line([Point(x: tx, y: track.maxY - 2.5), Point(x: tx, y: track.maxY)], Color(hex: 0x777777), lineWidth: 0.4)
                    }
                }
                _ = put(ScanReport.probabilityText(p.probability), track.maxX + 6, ry, font, width: numberWidth, alignment: .right)
                g.bars.append(bar)
                ry += h + 1
            }
        }
        y = max(ly, ry) + 3
        // What the model does not look at, as commercial chest X-ray AI reports say.
        y += put(labels[.notAssessed], x0, y, Self.smallFont, .secondaryText, width: content, maxLines: 3) + 8

        // Scan | overlay | colour legend.
        if template.sections.images {
            y += heading(labels[.images], x0, y, width: content)
            let legendWidth = report.overlay == nil ? 0.0 : 34.0
            let panel = report.overlay == nil ? content : (content - legendWidth - 12) / 2
            let overlayName = labels.className(report.overlayClass ?? report.predictedClass)
            let size = report.originalSize ?? (report.scan.width, report.scan.height)
            let scanCaption = "\(labels[.scan]) (\(size.width) × \(size.height) px)"
            let overlayCaption = labels[.overlay].replacingOccurrences(of: "{class}", with: overlayName)
                + (report.saliencyMethod.map { " (\($0))" } ?? "")
            let captionHeight = max(c.measure(scanCaption, Self.labelFont, width: panel, maxLines: 2).height,
                                    report.overlay == nil ? 0 : c.measure(overlayCaption, Self.labelFont, width: panel, maxLines: 2).height)
            _ = put(scanCaption, x0, y, Self.labelFont, .secondaryText, width: panel, maxLines: 2)
            if report.overlay != nil {
                _ = put(overlayCaption, x0 + panel + 6, y, Self.labelFont, .secondaryText, width: panel, maxLines: 2)
            }
            y += captionHeight + 3
            let scanBox = Rect(x: x0, y: y, width: panel, height: imageHeight)
            let embedDensity = Double(ReportRenderer.maxEmbeddedSide) / max(panel, imageHeight)
            if drawing {
                g.scan = c.image(report.scan, fitting: scanBox, background: .black, pdfDensity: embedDensity,
                                 maxEmbeddedPixels: ReportRenderer.maxEmbeddedPixels)
                if let drawn = g.scan { drawOrientation(on: c, in: drawn) }
            }
            if let overlay = report.overlay {
                let overlayBox = Rect(x: x0 + panel + 6, y: y, width: panel, height: imageHeight)
                if drawing {
                    g.overlay = c.image(overlay, fitting: overlayBox, background: .black, pdfDensity: embedDensity,
                                        maxEmbeddedPixels: ReportRenderer.maxEmbeddedPixels)
                    if let drawn = g.overlay { drawOrientation(on: c, in: drawn) }
                    g.legend = drawLegend(on: c, x: overlayBox.maxX + 8, y: y, height: imageHeight)
                }
            }
            y += imageHeight + 4
            if let note = report.overlayOmittedNote {
                y += put(note, x0, y, Self.smallFont, .secondaryText, width: content, maxLines: 2)
            } else if report.overlay != nil {
                y += put(labels[.legendScale], x0, y, Self.smallFont, .secondaryText, width: content, maxLines: 2)
            }
            if orientation != nil {
                y += put(labels[.orientationNote], x0, y, Self.smallFont, .secondaryText, width: content, maxLines: 1)
            }
            if report.saliencyIsEmpty {
                y += put(labels[.noSalientRegion].replacingOccurrences(of: "{class}", with: overlayName),
                         x0, y, Self.smallFont, .secondaryText, width: content)
            }
            y += 6
        }

        // Decoding notes.
        if template.sections.decodingNotes {
            y += heading(labels[.decodingNotes], x0, y, width: content)
            y += put(decodingText, x0, y, Self.smallFont, width: content, maxLines: 4) + 8
        }

        // Warnings.
        if template.sections.warnings {
            y += heading(labels[.warnings], x0, y, width: content)
            let warnings = report.allWarnings(template: template)
            if warnings.isEmpty {
                y += put(labels[.noWarnings], x0, y, Self.valueFont, .secondaryText, width: content)
            }
            for w in warnings.prefix(6) {
                _ = put("⚠", x0, y, Self.valueFont, Color(hex: 0xB03A00), width: 14)
                y += put(w, x0 + 14, y, Self.valueFont, Color(hex: 0x8A2D00), width: content - 14, maxLines: 5) + 2
            }
            y += 8
        }

        // Provenance: model, hashes, software, times, report ID.
        if template.sections.provenance {
            y += heading(labels[.provenance], x0, y, width: content)
            var model = report.model.name
            if let v = report.model.version { model += v.hasPrefix("v") ? " " + v : " v" + v }
            if let t = report.model.temperature { model += " (temperature \(NumberText.fixed(t, digits: 3)))" }
            let rows: [(ReportTemplate.LabelKey, String, Font)] = [
                (.model, model, Self.smallFont), (.modelSHA256, report.model.sha256, Self.hashFont),
                (.inputSHA256, report.inputSHA256, Self.hashFont), (.software, report.softwareVersion, Self.smallFont),
                (.classifiedAt, ScanReport.timestampText(report.classifiedAt), Self.smallFont),
                (.reportCreatedAt, ScanReport.timestampText(report.createdAt), Self.smallFont),
                (.reportID, report.reportID.uuidString.lowercased(), Self.hashFont),
            ]
            let keyWidth = 120.0
            for (key, value, font) in rows {
                _ = put(labels[key], x0, y, Self.smallFont, .secondaryText, width: keyWidth, maxLines: 1)
                y += max(11, put(value, x0 + keyWidth, y, font, width: content - keyWidth, maxLines: 2)) + 0.5
            }
        }
        g.bodyBottom = y

        // Footer on the page bottom: rule, disclaimer, page number.
        let pageText = labels[.page].replacingOccurrences(of: "{page}", with: "1").replacingOccurrences(of: "{pages}", with: "1")
        let footerFont = Font.sans(9.5, bold: true)
        let disclaimerHeight = c.measure(template.disclaimer, footerFont, width: content - 140, maxLines: 2).height
        let fy = page.height - Self.margin + 8 - disclaimerHeight
        g.footer = Rect(x: x0, y: fy - 6, width: content, height: page.height - (fy - 6))
        if drawing {
            c.line([Point(x: x0, y: fy - 6), Point(x: x0 + content, y: fy - 6)], accent, lineWidth: 0.8)
            c.text(template.disclaimer, at: Point(x: x0 + 70, y: fy), footerFont, .black, width: content - 140, alignment: .center, maxLines: 2)
            c.text(pageText, at: Point(x: x0 + content - 70, y: fy + 1), Self.smallFont, .secondaryText, width: 70, alignment: .right)
        }
        g.imageHeight = imageHeight
        return g
    }

    /// One "label  value" line in a block; a missing value shows as "—". Returns its height.
    private func row(_ label: String, _ value: String?, _ x: Double, _ y: Double, width: Double,
                     on c: Canvas, drawing: Bool, maxLines: Int = 2) -> Double {
        let keyWidth = 82.0
        let text = value.flatMap { $0.isEmpty ? nil : $0 } ?? "—"
        let color: Color = value == nil ? .secondaryText : .black
        if drawing {
            c.text(label, at: Point(x: x, y: y + 1), Self.labelFont, .secondaryText, width: keyWidth, maxLines: 1)
            return max(13, c.text(text, at: Point(x: x + keyWidth, y: y), Self.valueFont, color, width: width - keyWidth, maxLines: maxLines).height) + 1
        }
        return max(13, c.measure(text, Self.valueFont, width: width - keyWidth, maxLines: maxLines).height) + 1
    }

    /// The patient directions at the image's left and right edges from PatientOrientation
    /// (its first value is the direction of the rows, towards the right edge), e.g. ("R", "L").
    var orientation: (left: String, right: String)? {
        guard report.decoding.format == .dicom, let rowDirection = report.metadata.patientOrientation?.first else { return nil }
        let opposite: [Character: Character] = ["L": "R", "R": "L", "A": "P", "P": "A", "H": "F", "F": "H"]
        let letters = rowDirection.uppercased()
        guard !letters.isEmpty, letters.allSatisfy({ opposite[$0] != nil }) else { return nil }
        return (String(letters.map { opposite[$0]! }), letters)
    }

    /// The orientation letters at the middle of the left and right edges of a drawn image.
    private func drawOrientation(on c: Canvas, in rect: Rect) {
        guard let o = orientation else { return }
        let font = Font.sans(9, bold: true)
        for (text, right) in [(o.left, false), (o.right, true)] {
            let size = c.measure(text, font)
            let box = Rect(x: right ? rect.maxX - size.width - 6 : rect.x + 2, y: rect.y + rect.height / 2 - size.height / 2 - 1,
                           width: size.width + 4, height: size.height + 2)
            c.fill(box, Color(red: 0, green: 0, blue: 0, alpha: 0.6))
            c.text(text, at: Point(x: box.x + 2, y: box.y + 1), font, Color(red: 1, green: 1, blue: 1))
        }
    }

    /// A vertical colour bar of the overlay's colour map, high at the top, with its end labels.
    private func drawLegend(on c: Canvas, x: Double, y: Double, height: Double) -> Rect {
        let legend = CAM.Colormap.inferno.legend
        let bar = Rect(x: x, y: y, width: 10, height: height)
        let n = legend.colors.count
        let step = height / Double(n)
        for (i, col) in legend.colors.enumerated() {
            // Index 0 (low) at the bottom; each strip overlaps the next a little so no seams show.
            let top = bar.maxY - Double(i + 1) * step
            c.fill(Rect(x: bar.x, y: top, width: bar.width, height: step + 0.3), Color(col))
        }
        c.stroke(bar, Color(hex: 0x777777), lineWidth: 0.4)
        c.text(labels[.legendHigh], at: Point(x: bar.maxX + 3, y: bar.y - 1), Self.smallFont, .secondaryText, width: 40)
        let lowHeight = c.measure(labels[.legendLow], Self.smallFont).height
        c.text(labels[.legendLow], at: Point(x: bar.maxX + 3, y: bar.maxY - lowHeight + 1), Self.smallFont, .secondaryText, width: 40)
        return bar
    }

    /// Decoding summary plus the image facts from the header.
    private var decodingText: String {
        let m = report.metadata
        var facts: [String] = []
        if let bits = m.bitsStored { facts.append("\(bits) bits stored") }
        if let p = m.photometricInterpretation { facts.append(p) }
        if let t = m.transferSyntaxName ?? m.transferSyntaxUID { facts.append(t) }
        let summary = report.decoding.summary
        return facts.isEmpty ? summary : summary + ". " + facts.joined(separator: ", ")
    }

    /// A colour dark enough for large text on white (class colours like orange are too light).
    static func readable(_ c: Color) -> Color {
        c.luminance > 0.3 ? Color(red: c.red * 0.7, green: c.green * 0.7, blue: c.blue * 0.7) : c
    }

    /// DICOM PN "Family^Given^Middle^Prefix^Suffix" as "Family, Given Middle"; other text unchanged.
    static func personName(_ pn: String) -> String {
        let alphabetic = pn.split(separator: "=", omittingEmptySubsequences: false).first.map(String.init) ?? pn
        let parts = alphabetic.split(separator: "^", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard parts.count > 1 else { return alphabetic }
        let given = ([parts.count > 3 ? parts[3] : ""] + parts[1..<min(parts.count, 3)]).filter { !$0.isEmpty }.joined(separator: " ")
        let family = parts[0] + (parts.count > 4 && !parts[4].isEmpty ? " " + parts[4] : "")
        return given.isEmpty ? family : "\(family), \(given)"
    }

    /// DICOM DA "YYYYMMDD" as "YYYY-MM-DD"; anything else as stored.
    static func date(_ da: String) -> String {
        let d = Array(da)
        guard d.count == 8, d.allSatisfy(\.isNumber) else { return da }
        return "\(String(d[0..<4]))-\(String(d[4..<6]))-\(String(d[6..<8]))"
    }

    /// DICOM TM "HHMMSS.FFFFFF" as "HH:MM:SS"; anything else as stored.
    static func time(_ tm: String) -> String {
        let d = Array(tm.split(separator: ".").first ?? "")
        guard d.count >= 4, d.count <= 6, d.allSatisfy(\.isNumber) else { return tm }
        return stride(from: 0, to: d.count, by: 2).map { String(d[$0..<min($0 + 2, d.count)]) }.joined(separator: ":")
    }

    /// DICOM AS "045Y" as "45 Y"; anything else as stored.
    static func age(_ a: String) -> String {
        guard a.count == 4, let n = Int(a.prefix(3)), let unit = a.last, "DWMY".contains(unit) else { return a }
        return "\(n) \(unit)"
    }
}

extension Color {
    init(_ c: RGBColor) {
        self.init(red: Double(c.red) / 255, green: Double(c.green) / 255, blue: Double(c.blue) / 255)
    }
}
