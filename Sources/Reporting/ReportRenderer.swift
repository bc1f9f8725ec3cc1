public import Foundation

/// Lays out a `ScanReport` on one PDF page as its `ReportTemplate` says: header, patient and
/// study block, predicted class with probability bars, scan and saliency overlay, decoding notes,
/// warnings, provenance, and the disclaimer with the page number in the footer.
public struct ReportRenderer: Sendable {
    public var template: ReportTemplate

    public init(template: ReportTemplate = .default) {
        self.template = template
    }

    /// Most pixels an embedded image may have (the scan and the overlay each): with at most
    /// 4 bytes per pixel for both together, the PDF stays under 2 MB whatever the scan's content.
    public static let maxEmbeddedPixels = 400_000
    /// Longest side of an embedded image, in pixels.
    public static let maxEmbeddedSide = 1000

    /// Writes the report to `url` as a one-page PDF.
    ///
    /// Atomic: the PDF is complete or absent; an existing file is never replaced.
    /// - Throws: `RenderError.exists` if `url` exists, `.cannotWrite` for the file, `.invalidFigure`
    ///   for inconsistent data (no probabilities, an overlay of another size than the scan).
    public func write(_ report: ScanReport, to url: URL) throws(RenderError) {
        _ = try render(report, to: url)
    }

    /// Where the parts of the page went, in points; for tests.
    struct Geometry {
        var scan: Rect?
        var overlay: Rect?
        var legend: Rect?
        /// The out-of-scope / out-of-distribution headline above the class, when there is one.
        var headline: Rect?
        var bars: [Rect] = []
        var footer: Rect?
        /// Lowest point reached by the body (must stay above the footer).
        var bodyBottom = 0.0
        var imageHeight = 0.0
    }

    func validate(_ r: ScanReport) throws(RenderError) {
        guard !r.probabilities.isEmpty else { throw .invalidFigure(reason: "the report has no class probabilities") }
        guard r.probabilities.allSatisfy({ $0.probability.isFinite && (0...1).contains($0.probability) }) else {
            throw .invalidFigure(reason: "a probability is outside 0...1: \(r.probabilities.map(\.probability))")
        }
        if let o = r.overlay, o.width != r.scan.width || o.height != r.scan.height {
            throw .invalidFigure(reason: "the overlay is \(o.width)×\(o.height) but the scan \(r.scan.width)×\(r.scan.height); blend the map at the scan's size")
        }
    }

    func render(_ report: ScanReport, to url: URL) throws(RenderError) -> Geometry {
        try validate(report)
        let labels = template.labels
        let info = DocumentInfo(
            title: "\(labels[.title]): \(report.fileName)",
            subject: "\(labels[.predictedClass]): \(labels.className(report.predictedClass)). \(template.disclaimer)",
            creator: "CXReview " + report.softwareVersion, created: report.createdAt)
        let page = template.pageSize.points
        let size = Size(width: page.width, height: page.height)
        // Text heights decide how much room the images get: lay out once without them, then draw.
        let scratch = try Canvas.scratch()
        let fixed = ReportLayout(report: report, template: template, page: size, imageHeight: 0)
            .draw(on: scratch, drawing: false)
        let room = (fixed.footer?.y ?? size.height) - 10 - fixed.bodyBottom
        let imageHeight = min(ReportLayout.maxImageHeight, max(ReportLayout.minImageHeight, room))
        var geometry = Geometry()
        try Canvas.render(to: url, format: .pdf, overwrite: false, size: size, pngScale: 1, info: info) {
            (canvas) throws(RenderError) in
            canvas.embedJPEGQuality = template.jpegQuality
            geometry = ReportLayout(report: report, template: template, page: size, imageHeight: imageHeight)
                .draw(on: canvas, drawing: true)
        }
        return geometry
    }
}
