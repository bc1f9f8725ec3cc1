public import Foundation

/// A one-page evaluation figure: confusion matrix, one-vs-rest ROC curves, reliability diagram,
/// metric lines and notes, with the disclaimer at the bottom. A4 landscape as PDF; 1600 pixels wide as PNG.
public struct EvaluationFigure: Sendable {
    /// One class's one-vs-rest ROC curve.
    public struct ROCCurve: Sendable {
        public var className: String
        /// (false positive rate, true positive rate) pairs, sorted by fpr, from (0, 0) to (1, 1).
        public var points: [(fpr: Double, tpr: Double)]
        /// The area under the curve, shown in the legend with three decimals; nil to leave it out.
        public var auc: Double?

        public init(className: String, points: [(fpr: Double, tpr: Double)], auc: Double? = nil) {
            self.className = className
            self.points = points
            self.auc = auc
        }
    }

    /// One confidence bin of the reliability diagram: the predictions whose top probability is in [lower, upper).
    public struct ReliabilityBin: Sendable {
        public var lower: Double
        public var upper: Double
        /// Mean top probability of the bin's predictions.
        public var meanConfidence: Double
        /// Fraction of the bin's predictions that were right.
        public var accuracy: Double
        public var count: Int

        public init(lower: Double, upper: Double, meanConfidence: Double, accuracy: Double, count: Int) {
            self.lower = lower
            self.upper = upper
            self.meanConfidence = meanConfidence
            self.accuracy = accuracy
            self.count = count
        }
    }

    public var title: String
    /// Context shown under the title, joined on one wrapped line: model name, data folder, image count, date.
    public var subtitle: [String]
    public var classNames: [String]
    /// Counts, `[true class][predicted class]`, in the order of `classNames`.
    public var confusion: [[Int]]
    public var roc: [ROCCurve]
    public var reliability: [ReliabilityBin]
    public var expectedCalibrationError: Double
    /// Preformatted lines (accuracy, per-class sensitivity and specificity, ...), shown monospaced.
    public var metricLines: [String]
    /// Caveats a reader must see, e.g. "9 test images duplicate training images and were removed".
    public var notes: [String]
    public var disclaimer: String = "Research use only. Not for diagnostic use."

    public init(
        title: String, subtitle: [String] = [], classNames: [String], confusion: [[Int]],
        roc: [ROCCurve] = [], reliability: [ReliabilityBin] = [], expectedCalibrationError: Double,
        metricLines: [String] = [], notes: [String] = [],
        disclaimer: String = "Research use only. Not for diagnostic use."
    ) {
        self.title = title
        self.subtitle = subtitle
        self.classNames = classNames
        self.confusion = confusion
        self.roc = roc
        self.reliability = reliability
        self.expectedCalibrationError = expectedCalibrationError
        self.metricLines = metricLines
        self.notes = notes
        self.disclaimer = disclaimer
    }

    /// Renders the figure to `url` as a single page.
    ///
    /// Writes atomically: to a temporary file in the same folder, then renamed, so the figure is
    /// complete or absent; never overwrites an existing file unless `overwrite` is true.
    /// - Throws: `RenderError.invalidFigure` if the data is inconsistent (checked before anything
    ///   is written), `.exists` or `.cannotWrite` for the file.
    public func write(to url: URL, format: FigureFormat, overwrite: Bool = false) throws(RenderError) {
        _ = try render(to: url, format: format, overwrite: overwrite)
    }

    /// Page size in points (A4 landscape) and PNG pixels per point (1600 pixels wide).
    static let pageSize = Size(width: 842, height: 595)
    static let pngScale = 1600 / 842.0

    /// Checks that the data can be drawn, saying what is wrong if not.
    func validate() throws(RenderError) {
        let n = classNames.count
        guard n > 0 else { throw .invalidFigure(reason: "classNames is empty") }
        guard confusion.count == n else {
            throw .invalidFigure(reason: "the confusion matrix has \(confusion.count) rows but there are \(n) class names (\(classNames.joined(separator: ", ")))")
        }
        for (i, row) in confusion.enumerated() where row.count != n {
            throw .invalidFigure(reason: "row \(i) (true \(classNames[i])) of the confusion matrix has \(row.count) columns, expected \(n): the matrix must be square, [true class][predicted class]")
        }
        if let bad = confusion.joined().first(where: { $0 < 0 }) {
            throw .invalidFigure(reason: "the confusion matrix has a negative count (\(bad))")
        }
        for curve in roc {
            guard !curve.points.isEmpty else { throw .invalidFigure(reason: "the ROC curve for \(curve.className) has no points") }
            for p in curve.points where !(0...1).contains(p.fpr) || !(0...1).contains(p.tpr) {
                throw .invalidFigure(reason: "the ROC curve for \(curve.className) has a point outside [0, 1] (fpr \(p.fpr), tpr \(p.tpr))")
            }
            for (a, b) in zip(curve.points, curve.points.dropFirst()) where b.fpr < a.fpr {
                throw .invalidFigure(reason: "the ROC curve for \(curve.className) is not sorted by false positive rate (\(a.fpr) then \(b.fpr))")
            }
            if let auc = curve.auc, !(0...1).contains(auc) {
                throw .invalidFigure(reason: "the AUC for \(curve.className) is \(auc), outside [0, 1]")
            }
        }
        for b in reliability {
            guard (0...1).contains(b.lower), (0...1).contains(b.upper), b.lower < b.upper else {
                throw .invalidFigure(reason: "a reliability bin has bounds [\(b.lower), \(b.upper)); bins must lie within [0, 1] with lower < upper")
            }
            guard (0...1).contains(b.accuracy), (0...1).contains(b.meanConfidence), b.count >= 0 else {
                throw .invalidFigure(reason: "the reliability bin [\(b.lower), \(b.upper)) has accuracy \(b.accuracy), mean confidence \(b.meanConfidence) and count \(b.count); the first two must be in [0, 1] and the count not negative")
            }
        }
        guard (0...1).contains(expectedCalibrationError) else {
            throw .invalidFigure(reason: "the expected calibration error is \(expectedCalibrationError), outside [0, 1]")
        }
    }

    /// Validates, draws and writes the figure; returns where things were drawn (for tests).
    func render(to url: URL, format: FigureFormat, overwrite: Bool) throws(RenderError) -> Geometry {
        try validate()
        var geometry = Geometry(scale: format == .png ? Self.pngScale : 1)
        let info = DocumentInfo(
            title: title, subject: "Model evaluation: confusion matrix, ROC curves, reliability. \(disclaimer)")
        try Canvas.render(
            to: url, format: format, overwrite: overwrite, size: Self.pageSize, pngScale: Self.pngScale, info: info
        ) { (canvas) throws(RenderError) in
            geometry = try draw(on: canvas)
            geometry.scale = format == .png ? Self.pngScale : 1
        }
        return geometry
    }

    /// Where the parts of the figure were drawn, in points; `scale` converts to PNG pixels.
    struct Geometry {
        var scale: Double
        /// The heat-map cells, `[true class][predicted class]`.
        var confusionCells: [[Rect]] = []
        var rocPlot: Rect?
        var reliabilityPlot: Rect?
        var disclaimer: Rect?
    }
}
