import CAM
import Foundation
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

    public let directory: URL
    public let renderer: ReportRenderer
    let model: ScanReport.Model
    let fcWeight: Tensor
    let classNames: [String]

    /// - Throws: when the folder cannot be made or the model file cannot be read for its hash.
    public init(directory: URL, template: ReportTemplate, model: ResNet18, modelURL: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        self.directory = directory
        renderer = ReportRenderer(template: template)
        let c = model.configuration
        self.model = ScanReport.Model(name: c.name ?? modelURL.lastPathComponent, version: c.version,
                                      sha256: try ContentHash.sha256(of: modelURL), temperature: c.temperature)
        fcWeight = model.fcWeight
        classNames = c.classNames
    }

    /// Renders the report of one classified scan; `row` is the scan's row in the batch `output`.
    /// `url` is where it goes (a name from `freeName`); by default the next free name.
    @discardableResult
    public func write(_ c: Classification, scan: DecodedScan, output: ResNetOutput, row: Int, to url: URL? = nil) throws(PipelineError) -> URL {
        let input = URL(fileURLWithPath: c.file)
        let raw = ClassActivationMap.computePredicted(features: output.features, logits: output.logits, image: row,
                                                      fcWeight: fcWeight, classNames: classNames)
        let heat = ClassActivationMap.heatmap(raw, width: scan.image.width, height: scan.image.height)
        let sha: String
        do { sha = try ContentHash.sha256(of: input) } catch {
            throw PipelineError(stage: .report, file: c.file, underlying: InputError.unreadable(file: c.file, reason: "\(error)"))
        }
        let report = ScanReport(
            fileName: input.lastPathComponent, metadata: scan.metadata, decoding: scan.notes,
            predictedClass: c.predictedClass,
            probabilities: c.probabilities.map { .init(className: $0.className, probability: $0.probability) },
            scan: scan.image, overlay: Overlay.blend(scan: scan.image, map: heat), overlayClass: raw.className,
            saliencyIsEmpty: heat.isEmpty, model: model, inputSHA256: sha, softwareVersion: Self.softwareVersion,
            classifiedAt: Date())
        let url = url ?? freeName(for: c, scan: scan)
        do {
            try renderer.write(report, to: url)
        } catch {
            throw PipelineError(stage: .report, file: c.file, underlying: error)
        }
        return url
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
