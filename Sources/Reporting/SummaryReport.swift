public import CAM
public import Foundation
public import XRayCore

/// One scan of a batch summary, as plain values: a classified scan with its thumbnails,
/// probabilities and per-scan report, or a file that failed with its one-line reason.
public struct SummaryEntry: Sendable {
    /// What the pipeline found for a classified scan.
    public struct Result: Sendable {
        public var predictedClass: String
        /// Calibrated, in the model's class order.
        public var probabilities: [ScanReport.ClassProbability]
        /// The windowed scan, small (`SummaryEntry.thumbnail(of:)`); the renderer fits it into its cell.
        public var thumbnail: GrayImage
        /// The saliency overlay at the thumbnail's aspect ratio; nil shows none.
        public var overlay: RGBImage?
        /// The caller's further warnings; scope, out of distribution, a lateral view and low
        /// confidence are added as the per-scan report adds them (`ScanWarning.assess`).
        public var warnings: [String]
        /// The per-scan report's file name in the summary's folder (linked); nil if there is none.
        public var reportFileName: String?
        /// The full out-of-distribution warning when the scan was flagged: the row is set aside.
        public var outOfDistributionWarning: String?
        /// The decoded scan's size (the thumbnail is smaller), for the scope check; nil skips it.
        public var scanSize: (width: Int, height: Int)?

        public init(predictedClass: String, probabilities: [ScanReport.ClassProbability], thumbnail: GrayImage,
                    overlay: RGBImage? = nil, warnings: [String] = [], reportFileName: String? = nil,
                    outOfDistributionWarning: String? = nil, scanSize: (width: Int, height: Int)? = nil) {
            self.predictedClass = predictedClass
            self.probabilities = probabilities
            self.thumbnail = thumbnail
            self.overlay = overlay
            self.warnings = warnings
            self.reportFileName = reportFileName
            self.outOfDistributionWarning = outOfDistributionWarning
            self.scanSize = scanSize
        }

        /// The probability of class `name`, or nil if the model has no such class.
        public func probability(of name: String) -> Double? {
            probabilities.first(where: { $0.className == name })?.probability
        }
    }

    public enum Outcome: Sendable {
        case classified(Result)
        /// The file could not be classified; `reason` is one line (e.g. a `PipelineError`'s description).
        case failed(reason: String)
    }

    /// The input as given on the command line, or its path inside the watched inbox; shown whole,
    /// so same-named files of different folders stay apart.
    public var file: String
    /// The DICOM header (patient name, ID and study date are shown as the per-scan report shows
    /// them); nil for PNG/JPEG, which are identified by their file name.
    public var metadata: ScanMetadata?
    public var outcome: Outcome

    public init(file: String, metadata: ScanMetadata? = nil, outcome: Outcome) {
        self.file = file
        self.metadata = metadata
        self.outcome = outcome
    }

    /// The file name without folders.
    public var fileName: String { (file as NSString).lastPathComponent }

    public var result: Result? {
        if case let .classified(r) = outcome { return r }
        return nil
    }

    /// Longest side of the thumbnails `thumbnail(of:)` makes: a little more than the summary
    /// embeds (112 pixels in its 56-point cells), so a long run keeps only small copies in memory.
    public static let thumbnailSide = 128

    /// `image` reduced so its longer side is at most `maxSide` (box average; smaller images unchanged).
    public static func thumbnail(of image: GrayImage, maxSide: Int = thumbnailSide) -> GrayImage {
        let (w, h) = thumbnailSize(image.width, image.height, maxSide)
        guard w < image.width || h < image.height else { return image }
        return GrayImage(width: w, height: h, pixels: boxAverage(image.pixels, channels: 1, image.width, image.height, w, h))
    }

    /// `image` reduced like the grey `thumbnail(of:)`.
    public static func thumbnail(of image: RGBImage, maxSide: Int = thumbnailSide) -> RGBImage {
        let (w, h) = thumbnailSize(image.width, image.height, maxSide)
        guard w < image.width || h < image.height else { return image }
        return RGBImage(width: w, height: h, pixels: boxAverage(image.pixels, channels: 3, image.width, image.height, w, h))
    }

    static func thumbnailSize(_ width: Int, _ height: Int, _ maxSide: Int) -> (Int, Int) {
        let scale = min(1, Double(max(1, maxSide)) / Double(max(width, height)))
        return (max(1, Int((Double(width) * scale).rounded())), max(1, Int((Double(height) * scale).rounded())))
    }

    /// Each output pixel is the mean of the input pixels whose centres fall in its area.
    /// Separable: the rows of an output row's band are summed first, then the columns of each box.
    static func boxAverage(_ pixels: [UInt8], channels: Int, _ w: Int, _ h: Int, _ ow: Int, _ oh: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: ow * oh * channels)
        var band = [UInt32](repeating: 0, count: w * channels)
        let rowLength = w * channels
        pixels.withUnsafeBufferPointer { src in
            band.withUnsafeMutableBufferPointer { acc in
                out.withUnsafeMutableBufferPointer { dst in
                    for oy in 0..<oh {
                        let y0 = oy * h / oh, y1 = max(y0 + 1, (oy + 1) * h / oh)
                        for i in 0..<rowLength { acc[i] = 0 }
                        for y in y0..<y1 {
                            let row = y * rowLength
                            for i in 0..<rowLength { acc[i] &+= UInt32(src[row + i]) }
                        }
                        for ox in 0..<ow {
                            let x0 = ox * w / ow, x1 = max(x0 + 1, (ox + 1) * w / ow)
                            let n = UInt32((y1 - y0) * (x1 - x0))
                            for c in 0..<channels {
                                var sum: UInt32 = 0
                                for x in x0..<x1 { sum &+= acc[x * channels + c] }
                                dst[(oy * ow + ox) * channels + c] = UInt8((sum + n / 2) / n)
                            }
                        }
                    }
                }
            }
        }
        return out
    }
}

/// A batch summary: every scan of one run, as `SummaryRenderer` draws it.
public struct SummaryReport: Sendable {
    public var entries: [SummaryEntry]
    /// How the ranked rows are ordered (highest first).
    public var order: ReportTemplate.TriageOrder
    /// The model that classified the scans; nil leaves the line out.
    public var model: ScanReport.Model?
    /// e.g. "0.1.0".
    public var softwareVersion: String
    public var createdAt: Date

    public init(entries: [SummaryEntry], order: ReportTemplate.TriageOrder = .notClass("normal"), model: ScanReport.Model? = nil,
                softwareVersion: String = "", createdAt: Date = Date()) {
        self.entries = entries
        self.order = order
        self.model = model
        self.softwareVersion = softwareVersion
        self.createdAt = createdAt
    }

    /// The class the order is about (its probability column is emphasised).
    public var sortClass: String {
        switch order {
        case let .notClass(c), let .probability(of: c): return c
        }
    }

    /// The key of a classified row: 1 − p(class) or p(class); a scan without that class sorts last.
    public func triageKey(_ r: SummaryEntry.Result) -> Double {
        switch order {
        case let .notClass(c): return r.probability(of: c).map { 1 - $0 } ?? -1
        case let .probability(of: c): return r.probability(of: c) ?? -1
        }
    }

    /// Whether a classified entry is set aside rather than ranked: out of scope or out of
    /// distribution, so its class is no answer.
    public func isSetAside(_ e: SummaryEntry) -> Bool {
        guard let r = e.result else { return false }
        return r.outOfDistributionWarning != nil
            || !ScanScope.problems(metadata: e.metadata, size: r.scanSize).isEmpty
    }

    /// The classified, in-scope entries by `triageKey`, highest first; equal keys keep their input order.
    public var ranked: [SummaryEntry] {
        let classified = entries.enumerated().compactMap { i, e in
            isSetAside(e) ? nil : e.result.map { (i, e, triageKey($0)) }
        }
        return classified.sorted { a, b in a.2 != b.2 ? a.2 > b.2 : a.0 < b.0 }.map(\.1)
    }

    /// The classified entries set aside (`isSetAside`), in input order.
    public var setAside: [SummaryEntry] {
        entries.filter(isSetAside)
    }

    /// The classified entries, ranked and set aside.
    public var classifiedCount: Int { entries.count - failed.count }

    /// The entries that failed, in input order.
    public var failed: [SummaryEntry] {
        entries.filter { $0.result == nil }
    }
}
