import Audit
import CAM
import Foundation
import Reporting
import ResNet
import XRayCore

/// Writes one PDF report per classified scan: the scan, the class activation map of the
/// predicted class over it, the calibrated probabilities, the header fields and provenance
/// (model and input SHA-256). Reports are named after the SOP Instance UID, else the input's whole
/// path as the user knows it (`ward3/bed12/0101.jpeg` → `ward3_bed12_0101.jpeg.pdf`), and never
/// overwrite an existing file: a clash gets a numbered suffix.
public struct ReportWriter: Sendable {
    public static let softwareVersion = "0.9.0"

    public let directory: URL
    public let renderer: ReportRenderer
    /// The saliency map the reports overlay (the classifier computes it: see `Classifier.classifyForReport`).
    public let saliency: Saliency
    let model: ScanReport.Model
    let classNames: [String]

    /// - Throws: when the folder cannot be made or the model file cannot be read for its hash.
    /// `model` is the configuration of the network that classifies (its name, version, temperature
    /// and classes); the file at `modelURL` is hashed for the reports' provenance.
    public init(directory: URL, template: ReportTemplate, model c: ResNetConfiguration, modelURL: URL,
                saliency: Saliency = .layer4) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.directory = directory
        renderer = ReportRenderer(template: template)
        self.saliency = saliency
        self.model = ScanReport.Model(name: c.name ?? modelURL.lastPathComponent, version: c.version,
                                      sha256: try ContentHash.sha256(of: modelURL), temperature: c.temperature,
                                      trainedClasses: c.trainedClasses)
        classNames = c.classNames
    }

    /// A written per-scan report and the scan's row for the batch summary.
    public struct Written: Sendable {
        public let url: URL
        /// Thumbnails, probabilities, warnings and the report's file name, for `SummaryRenderer`.
        public let summaryEntry: SummaryEntry
        /// Milliseconds spent drawing and writing the page (Cairo, Pango, the PDF file), without
        /// the saliency map, overlay and input hash that came before.
        public let pageMs: Double
        /// The scan as the page shows it, and the overlay drawn over it (nil for a normal call).
        let shown: GrayImage
        let overlay: RGBImage?

        /// The scan as the page shows it: with the saliency overlay, or plain grey where the report
        /// draws none (a normal call), for results that show it elsewhere (the DICOM Secondary Capture).
        public var picture: RGBImage {
            if let overlay { return overlay }
            var rgb = [UInt8](repeating: 0, count: shown.pixels.count * 3)
            for (i, g) in shown.pixels.enumerated() { rgb[3 * i] = g; rgb[3 * i + 1] = g; rgb[3 * i + 2] = g }
            return RGBImage(width: shown.width, height: shown.height, pixels: rgb)
        }
    }

    /// The model as the reports show it (name, version, SHA-256, temperature).
    public var modelInfo: ScanReport.Model { model }

    /// Renders the report of one classified scan (from `Classifier.classifyForReport`) into `url` (a
    /// name from `freeName`; by default the next free name), and returns it with the scan's summary row.
    /// `inputSHA256` is the input's hash when the caller has it already (else the file is hashed).
    /// `displayPath` is the input as the reader knows it (the watcher's inbox-relative path); by
    /// default the path the classification has (as given on the command line). Draws only: the
    /// saliency map comes with the value.
    public func writeReport(_ value: ClassifiedScan, to url: URL? = nil, inputSHA256: String? = nil,
                            displayPath: String? = nil) throws(PipelineError) -> Written {
        let c = value.classification, scan = value.scan, raw = value.saliency
        let input = URL(fileURLWithPath: c.file)
        // The page embeds at most ReportRenderer.maxEmbeddedSide pixels a side and maxEmbeddedPixels in
        // all, so the map is upsampled and blended at that size (same geometry: the whole scan maps
        // onto the network's input).
        let long = Double(max(scan.image.width, scan.image.height)), short = Double(max(1, min(scan.image.width, scan.image.height)))
        let side = min(Double(ReportRenderer.maxEmbeddedSide), (Double(ReportRenderer.maxEmbeddedPixels) * long / short).squareRoot())
        let shown = SummaryEntry.thumbnail(of: scan.image, maxSide: Int(side))
        let heat = ClassActivationMap.heatmap(raw, width: shown.width, height: shown.height)
        let sha: String
        do { sha = try inputSHA256 ?? ContentHash.sha256(of: input) } catch {
            throw PipelineError(stage: .report, file: c.file, underlying: InputError.unreadable(file: c.file, reason: "\(error)"))
        }
        // A normal call's map is scaled to its own range like any other, so its maximum would look
        // like a finding: no overlay is drawn for it, and the report says why.
        let normalCall = c.predictedClass == normalClass
        let overlay = normalCall ? nil : Overlay.blend(scan: shown, map: heat)
        let shownPath = displayPath ?? c.file
        var report = ScanReport(
            fileName: shownPath, metadata: scan.metadata, decoding: scan.notes,
            predictedClass: c.predictedClass,
            probabilities: c.probabilities.map { .init(className: $0.className, probability: $0.probability) },
            scan: shown, overlay: overlay, overlayClass: raw.className,
            saliencyMethod: value.saliencyMethod.caption(width: raw.width, height: raw.height),
            saliencyIsEmpty: !normalCall && heat.isEmpty, model: model, inputSHA256: sha, softwareVersion: Self.softwareVersion,
            classifiedAt: Date())
        report.outOfDistribution = c.outOfDistribution.flagged
        report.outOfDistributionWarning = c.outOfDistribution.warning(renderer.template)
        if normalCall {
            report.overlayOmittedNote = renderer.template.labels[.noOverlayNormal]
                .replacingOccurrences(of: "{class}", with: renderer.template.labels.className(c.predictedClass))
        }
        if shown.width != scan.image.width { report.originalSize = (scan.image.width, scan.image.height) }
        let url = url ?? freeName(for: c, scan: scan, displayPath: shownPath)
        let pageStart = DispatchTime.now()
        do {
            try renderer.write(report, to: url)
        } catch {
            throw PipelineError(stage: .report, file: c.file, underlying: error)
        }
        let entry = SummaryEntry(
            file: shownPath, metadata: scan.notes.format == .dicom ? scan.metadata : nil,
            outcome: .classified(.init(
                predictedClass: c.predictedClass, probabilities: report.probabilities,
                thumbnail: SummaryEntry.thumbnail(of: shown), overlay: overlay.map { SummaryEntry.thumbnail(of: $0) },
                warnings: report.warnings, reportFileName: url.lastPathComponent,
                outOfDistributionWarning: report.outOfDistributionWarning, scanSize: (scan.image.width, scan.image.height))))
        return Written(url: url, summaryEntry: entry,
                       pageMs: Double(DispatchTime.now().uptimeNanoseconds - pageStart.uptimeNanoseconds) / 1e6,
                       shown: shown, overlay: overlay)
    }

    /// Writes the batch summary of `entries` into the reports' folder as `summary-<UTC time>.pdf`
    /// (`-2`, `-3`, … when taken); atomic and never overwriting, like the reports.
    public func writeSummary(_ entries: [SummaryEntry], createdAt: Date = Date()) throws(RenderError) -> URL {
        try SummaryRenderer(template: renderer.template).writeNew(
            SummaryReport(entries: entries, order: triageOrder, model: model, softwareVersion: Self.softwareVersion, createdAt: createdAt),
            in: directory)
    }

    /// The class whose "not" orders the summary and whose calls get no overlay ("normal"), if the model has it.
    var normalClass: String? {
        if case let .notClass(c) = renderer.template.triageOrder, classNames.contains(c) { return c }
        return classNames.contains("normal") ? "normal" : nil
    }

    /// The template's triage order when the model has its class; else p(covid), or p(last class).
    var triageOrder: ReportTemplate.TriageOrder {
        switch renderer.template.triageOrder {
        case let .notClass(c) where classNames.contains(c), let .probability(of: c) where classNames.contains(c):
            return renderer.template.triageOrder
        default:
            return .probability(of: classNames.contains("covid") ? "covid" : classNames.last ?? "covid")
        }
    }

    /// `<SOP Instance UID>.pdf`, else `<input path>.pdf` (`reportStem`), with `-2`, `-3`, … when
    /// taken (on disk or in `claimed`, the names other workers are about to write). `displayPath`
    /// is the input as the reader knows it (by default `c.file`).
    public func freeName(for c: Classification, scan: DecodedScan, claimed: Set<String> = [], displayPath: String? = nil) -> URL {
        let stem = scan.metadata.sopInstanceUID.map(Self.safe) ?? Self.reportStem(displayPath ?? c.file)
        var url = directory.appendingPathComponent("\(stem).pdf")
        var n = 2
        while FileManager.default.fileExists(atPath: url.path) || claimed.contains(url.path) {
            url = directory.appendingPathComponent("\(stem)-\(n).pdf")
            n += 1
        }
        return url
    }

    /// A report name from an input path: its folders and file name (with the extension, so 0105.png
    /// and 0105.jpeg differ) joined by '_', without the root, '.' and '..'
    /// (`ward3/bed12/0101.jpeg` → `ward3_bed12_0101.jpeg`); at most 150 characters, keeping the end.
    public static func reportStem(_ path: String) -> String {
        let parts = path.split(separator: "/").filter { $0 != "." && $0 != ".." }.map { safe(String($0)) }
        var stem = parts.last ?? "scan"
        for part in parts.dropLast().reversed() {
            guard stem.count + part.count + 1 <= 150 else { break }
            stem = part + "_" + stem
        }
        return stem
    }

    /// Letters, digits, '.', '-' and '_' kept; anything else becomes '_'.
    public static func safe(_ s: String) -> String {
        let kept = s.unicodeScalars.map { ch -> Character in
            CharacterSet.alphanumerics.contains(ch) && ch.isASCII || ch == "." || ch == "-" || ch == "_" ? Character(ch) : "_"
        }
        let name = String(kept)
        return name.isEmpty ? "scan" : name
    }
}
