import CAM
import Foundation
import Preprocessing
import Reporting
import ResNet
import Training
import XRayCore

/// Writes one PDF report per classified scan: the scan, the class activation map of the
/// predicted class over it, the calibrated probabilities, the header fields and provenance
/// (model and input SHA-256). Reports are named after the SOP Instance UID, else the input file's
/// name, and never overwrite an existing file: a clash gets a numbered suffix.
public struct ReportWriter: Sendable {
    public static let softwareVersion = "0.1.0"

    /// Which saliency map the reports overlay.
    public enum Saliency: String, Sendable, CaseIterable {
        /// Class activation map from layer4 (7×7 for 224 input) and the fc weights; no backward pass.
        case layer4
        /// Grad-CAM at layer3 (14×14): finer, one backward pass through layer4 per scan.
        case layer3

        /// How the report names the method, with the map's size, e.g. "Grad-CAM at layer3, 14 × 14".
        func caption(width: Int, height: Int) -> String {
            switch self {
            case .layer4: return "CAM at layer4, \(width) × \(height)"
            case .layer3: return "Grad-CAM at layer3, \(width) × \(height)"
            }
        }
    }

    public let directory: URL
    public let renderer: ReportRenderer
    public let saliency: Saliency
    let model: ScanReport.Model
    let network: ResNet18
    let preprocessor: Preprocessor
    let fcWeight: Tensor
    let classNames: [String]

    /// - Throws: when the folder cannot be made or the model file cannot be read for its hash.
    public init(directory: URL, template: ReportTemplate, model: ResNet18, modelURL: URL,
                saliency: Saliency = .layer4) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.directory = directory
        renderer = ReportRenderer(template: template)
        self.saliency = saliency
        network = model
        preprocessor = Preprocessor(inputSize: model.configuration.inputSize, mean: model.configuration.mean,
                                    std: model.configuration.std)
        let c = model.configuration
        self.model = ScanReport.Model(name: c.name ?? modelURL.lastPathComponent, version: c.version,
                                      sha256: try ContentHash.sha256(of: modelURL), temperature: c.temperature)
        fcWeight = model.fcWeight
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
    }

    /// The model as the reports show it (name, version, SHA-256, temperature).
    public var modelInfo: ScanReport.Model { model }

    /// Renders the report of one classified scan; `row` is the scan's row in the batch `output`.
    /// `url` is where it goes (a name from `freeName`); by default the next free name.
    @discardableResult
    public func write(_ c: Classification, scan: DecodedScan, output: ResNetOutput, row: Int, to url: URL? = nil) throws(PipelineError) -> URL {
        try writeReport(c, scan: scan, output: output, row: row, to: url).url
    }


    /// `write`, also returning the scan's summary row (thumbnails of the scan and overlay).
    /// `inputSHA256` is the input's hash when the caller has it already (else the file is hashed).
    public func writeReport(_ c: Classification, scan: DecodedScan, output: ResNetOutput, row: Int, to url: URL? = nil,
                            inputSHA256: String? = nil) throws(PipelineError) -> Written {
        let input = URL(fileURLWithPath: c.file)
        let raw: ActivationMap
        switch saliency {
        case .layer4:
            raw = ClassActivationMap.computePredicted(features: output.features, logits: output.logits, image: row,
                                                      fcWeight: fcWeight, classNames: classNames)
        case .layer3:
            // The predicted class of the batch's logits, differentiated in a single-image pass.
            let k = classNames.count
            let logits = output.logits.scalars[(row * k)..<((row + 1) * k)]
            var best = logits.startIndex
            for i in logits.indices where logits[i] > logits[best] { best = i }
            let g = network.layer3Gradient(preprocessor.tensor(from: [scan.image]), classIndex: best - row * k)
            raw = ClassActivationMap.gradCAM(activations: g.activations, gradient: g.gradient, image: 0,
                                             classIndex: g.classIndex, className: classNames[g.classIndex])
        }
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
        let overlay = Overlay.blend(scan: shown, map: heat)
        var report = ScanReport(
            fileName: input.lastPathComponent, metadata: scan.metadata, decoding: scan.notes,
            predictedClass: c.predictedClass,
            probabilities: c.probabilities.map { .init(className: $0.className, probability: $0.probability) },
            scan: shown, overlay: overlay, overlayClass: raw.className,
            saliencyMethod: saliency.caption(width: raw.width, height: raw.height),
            saliencyIsEmpty: heat.isEmpty, warnings: outOfDistributionWarning(c.outOfDistribution).map { [$0] } ?? [], model: model, inputSHA256: sha, softwareVersion: Self.softwareVersion,
            classifiedAt: Date())
        report.outOfDistribution = c.outOfDistribution.flagged
        if shown.width != scan.image.width { report.originalSize = (scan.image.width, scan.image.height) }
        let url = url ?? freeName(for: c, scan: scan)
        let pageStart = DispatchTime.now()
        do {
            try renderer.write(report, to: url)
        } catch {
            throw PipelineError(stage: .report, file: c.file, underlying: error)
        }
        let entry = SummaryEntry(
            file: c.file, metadata: scan.notes.format == .dicom ? scan.metadata : nil,
            outcome: .classified(.init(
                predictedClass: c.predictedClass, probabilities: report.probabilities,
                thumbnail: SummaryEntry.thumbnail(of: shown), overlay: SummaryEntry.thumbnail(of: overlay),
                warnings: report.warnings, reportFileName: url.lastPathComponent)))
        return Written(url: url, summaryEntry: entry,
                       pageMs: Double(DispatchTime.now().uptimeNanoseconds - pageStart.uptimeNanoseconds) / 1e6)
    }

    /// Writes the batch summary of `entries` into the reports' folder as `summary-<UTC time>.pdf`
    /// (`-2`, `-3`, … when taken); atomic and never overwriting, like the reports.
    public func writeSummary(_ entries: [SummaryEntry], createdAt: Date = Date()) throws(RenderError) -> URL {
        try SummaryRenderer(template: renderer.template).writeNew(
            SummaryReport(entries: entries, sortClass: classNames.contains("covid") ? "covid" : classNames.last ?? "covid",
                          model: model, softwareVersion: Self.softwareVersion, createdAt: createdAt),
            in: directory)
    }

    /// The report's warning for a flagged scan, in the template's language; nil if not flagged.
    func outOfDistributionWarning(_ check: Classification.OutOfDistributionCheck) -> String? {
        guard check.flagged, let score = check.score, let threshold = check.threshold else { return nil }
        return renderer.template.labels[.outOfDistribution]
            .replacingOccurrences(of: "{score}", with: String(format: "%.1f", locale: nil, score))
            .replacingOccurrences(of: "{threshold}", with: String(format: "%.1f", locale: nil, threshold))
            .replacingOccurrences(of: "{percentile}", with: String(format: "%g", locale: nil, check.percentile ?? 99))
    }

    /// `<SOP Instance UID>.pdf` or `<input name>.pdf`, with `-2`, `-3`, … when taken (on disk or
    /// in `claimed`, the names other workers are about to write).
    public func freeName(for c: Classification, scan: DecodedScan, claimed: Set<String> = []) -> URL {
        let stem = scan.metadata.sopInstanceUID.map(Self.safe)
            ?? Self.safe(URL(fileURLWithPath: c.file).deletingPathExtension().lastPathComponent)
        var url = directory.appendingPathComponent("\(stem).pdf")
        var n = 2
        while FileManager.default.fileExists(atPath: url.path) || claimed.contains(url.path) {
            url = directory.appendingPathComponent("\(stem)-\(n).pdf")
            n += 1
        }
        return url
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
