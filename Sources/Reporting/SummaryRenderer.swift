public import Foundation

/// Draws a `SummaryReport` as a multi-page PDF triage worklist: one row per classified scan,
/// sorted by the probability of one class (COVID-19 by default), with the scan and its saliency
/// overlay as thumbnails, the patient or file, the predicted class, every probability, a
/// warnings flag and a link to the per-scan report; then the files that failed, with reasons.
/// Colours, labels, language, page size and disclaimer come from the `ReportTemplate`.
public struct SummaryRenderer: Sendable {
    public var template: ReportTemplate

    public init(template: ReportTemplate = .default) {
        self.template = template
    }

    /// Writes the summary to `url`, atomically and never over an existing file.
    /// - Throws: `RenderError.exists` if `url` exists, `.cannotWrite`, or `.invalidFigure` for a
    ///   probability outside 0...1.
    public func write(_ summary: SummaryReport, to url: URL) throws(RenderError) {
        _ = try render(summary, to: url)
    }

    /// The plain-values entry point: `entries` sorted by COVID-19 probability, written to `url`.
    public static func write(entries: [SummaryEntry], to url: URL, template: ReportTemplate = .default,
                             model: ScanReport.Model? = nil, softwareVersion: String = "") throws(RenderError) {
        try SummaryRenderer(template: template)
            .write(SummaryReport(entries: entries, model: model, softwareVersion: softwareVersion), to: url)
    }

    /// Writes the summary into `directory` as `summary-<UTC timestamp>.pdf` (e.g.
    /// summary-20250314T092653Z.pdf), or with `-2`, `-3`, … when that name is taken, even by a
    /// file that appears while this one is drawn. Returns the file written.
    @discardableResult
    public func writeNew(_ summary: SummaryReport, in directory: URL) throws(RenderError) -> URL {
        let stem = "summary-" + Self.fileTimestamp(summary.createdAt)
        var n = 1
        while true {
            let url = directory.appendingPathComponent(n == 1 ? "\(stem).pdf" : "\(stem)-\(n).pdf")
            do {
                try write(summary, to: url)
                return url
            } catch {
                guard case .exists = error, n < 10_000 else { throw error }
                n += 1
            }
        }
    }

    /// "20250314T092653Z": ISO 8601 basic format in UTC, safe in file names.
    static func fileTimestamp(_ date: Date) -> String {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "UTC")
        f.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return f.string(from: date)
    }

    /// Where things went, in points per page; for tests.
    struct Geometry {
        struct Row {
            var page: Int
            var file: String
            var scan: Rect?
            var overlay: Rect?
            var link: Rect?
        }
        var pages = 0
        var rows: [Row] = []
        /// The footer's rule; every row ends above it.
        var footerTop = 0.0
    }

    func render(_ summary: SummaryReport, to url: URL) throws(RenderError) -> Geometry {
        for e in summary.entries {
            if let r = e.result, !r.probabilities.allSatisfy({ $0.probability.isFinite && (0...1).contains($0.probability) }) {
                throw .invalidFigure(reason: "\(e.fileName) has a probability outside 0...1: \(r.probabilities.map(\.probability))")
            }
        }
        let labels = template.labels
        let page = template.pageSize.points
        let size = Size(width: page.width, height: page.height)
        let info = DocumentInfo(
            title: labels[.summaryTitle],
            subject: labels[.summaryCounts].replacingOccurrences(of: "{total}", with: String(summary.entries.count))
                .replacingOccurrences(of: "{classified}", with: String(summary.classifiedCount))
                .replacingOccurrences(of: "{warned}", with: String(SummaryLayout(summary: summary, template: template, page: size).warnedCount))
                .replacingOccurrences(of: "{failed}", with: String(summary.failed.count)) + ". " + template.disclaimer,
            creator: "CXReview " + summary.softwareVersion, created: summary.createdAt)
        var layout = SummaryLayout(summary: summary, template: template, page: size)
        try layout.paginate(measuringOn: Canvas.scratch())
        var geometry = Geometry()
        try Canvas.render(to: url, format: .pdf, overwrite: false, size: size, pngScale: 1, info: info) {
            (canvas) throws(RenderError) in
            canvas.embedJPEGQuality = template.jpegQuality
            geometry = layout.draw(on: canvas)
        }
        return geometry
    }
}
