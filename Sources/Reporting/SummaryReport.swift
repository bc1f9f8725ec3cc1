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
        /// The caller's warnings (e.g. out of distribution); low confidence and a non-frontal
        /// view are added as the per-scan report adds them.
        public var warnings: [String]
        /// The per-scan report's file name in the summary's folder (linked); nil if there is none.
        public var reportFileName: String?

        public init(predictedClass: String, probabilities: [ScanReport.ClassProbability], thumbnail: GrayImage,
                    overlay: RGBImage? = nil, warnings: [String] = [], reportFileName: String? = nil) {
            self.predictedClass = predictedClass
            self.probabilities = probabilities
            self.thumbnail = thumbnail
            self.overlay = overlay
            self.warnings = warnings
            self.reportFileName = reportFileName
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

    /// The input file as given on the command line (its last path component is shown).
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
    /// The model's class whose probability orders the rows (highest first).
    public var sortClass: String
    /// The model that classified the scans; nil leaves the line out.
    public var model: ScanReport.Model?
    /// e.g. "0.1.0".
    public var softwareVersion: String
    public var createdAt: Date

    public init(entries: [SummaryEntry], sortClass: String = "covid", model: ScanReport.Model? = nil,
                softwareVersion: String = "", createdAt: Date = Date()) {
        self.entries = entries
        self.sortClass = sortClass
        self.model = model
        self.softwareVersion = softwareVersion
        self.createdAt = createdAt
    }

    /// The classified entries by the probability of `sortClass`, highest first; equal
    /// probabilities keep their input order (a scan without that class sorts last).
    public var ranked: [SummaryEntry] {
        let classified = entries.enumerated().compactMap { i, e in e.result.map { (i, e, $0.probability(of: sortClass) ?? -1) } }
        return classified.sorted { a, b in a.2 != b.2 ? a.2 > b.2 : a.0 < b.0 }.map(\.1)
    }

    /// The entries that failed, in input order.
    public var failed: [SummaryEntry] {
        entries.filter { $0.result == nil }
    }
}
