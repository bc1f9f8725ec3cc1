import ArgumentParser
import DICOMResults
import Foundation
import Pipeline
import Reporting
import ResNet
import XRayCore

struct ClassifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "classify",
        abstract: "Classify chest X-rays (DICOM, PNG or JPEG) as normal, viral pneumonia or COVID-19.",
        discussion: """
            Prints the class, the probability of each class, how the file was decoded (window, \
            inversion, frames), the time taken and the scan's warnings (out of scope, out of \
            distribution, not frontal, low confidence; `warnings` in --json). A scan out of scope or \
            out of distribution is marked so first: its class is no finding. A file that cannot be read gets one line on \
            stderr saying why; the others still go through, and the exit code is then 1.
            \(Terminal.disclaimer)
            """)

    @Argument(help: "Scan files: DICOM (any name), .png, .jpg/.jpeg.")
    var files: [String]

    @OptionGroup var modelOptions: ModelOptions

    @Flag(name: .long, help: "Print one JSON document for scripts instead of text.")
    var json = false

    @Option(name: .long, help: "Files per forward pass.")
    var batchSize: Int = 8

    @Option(name: .long, help: "Write a one-page PDF report per scan into this folder (made if missing; existing reports are never overwritten).")
    var report: String?

    @Option(name: .long, help: "Report template (YAML; see templates/report.yaml). Default: the built-in one.")
    var template: String?

    @Flag(name: .long, help: "With --report: also write one summary PDF of the run (summary-<UTC time>.pdf), ordered for triage by 1 - p(normal) (the template's triage_order), out-of-scope scans set apart, linking each report.")
    var summary = false

    @Option(name: .long, help: "With --report: also return each DICOM scan's results into its study as DICOM files in this folder: an Encapsulated PDF of the report, a Secondary Capture with the result burned in and a TID 1500 SR, each in a new series (PNG and JPEG scans get none).")
    var dicomOut: String?

    @Option(name: .long, help: "With --dicom-out: your organisation's DICOM UID root (digits and dots, at most 43 characters) for the new series and instances. Default: UUID-derived 2.25 UIDs.")
    var uidRoot: String?

    @Option(name: .long, help: "With --report: the saliency map, layer4 (class activation map, 7x7) or layer3 (Grad-CAM, 14x14).")
    var saliency: Saliency = .layer4

    func validate() throws {
        guard !files.isEmpty else { throw ValidationError("name at least one scan file.") }
        guard (1...256).contains(batchSize) else { throw ValidationError("--batch-size must be between 1 and 256.") }
    }

    func run() throws {
        let loaded = try modelOptions.loadModel()
        let (model, modelURL) = (loaded.network, loaded.url)
        var classifier = Classifier(model: model, threads: modelOptions.threads,
                                    loader: IsolatedScanLoader(command: DecodeWorkerCommand.command))
        var writer: ReportWriter?
        if let report {
            var layout = ReportTemplate.default
            if let template {
                do { layout = try ReportTemplate.load(contentsOf: URL(fileURLWithPath: template)) } catch {
                    throw CommandFailure(message: error.description)
                }
            }
            classifier.template = layout
            do {
                writer = try ReportWriter(directory: URL(fileURLWithPath: report), template: layout, model: model.configuration, modelURL: modelURL,
                                          saliency: saliency)
            } catch {
                throw CommandFailure(message: "cannot write reports into \(report): \(error)")
            }
        } else if template != nil || summary || saliency != .layer4 || dicomOut != nil {
            throw ValidationError("\(summary ? "--summary" : template != nil ? "--template" : dicomOut != nil ? "--dicom-out" : "--saliency") goes with --report DIR.")
        }
        if uidRoot != nil && dicomOut == nil { throw ValidationError("--uid-root goes with --dicom-out DIR.") }
        var dicomWriter: DICOMResultWriter?
        if let dicomOut {
            do { dicomWriter = try DICOMResultWriter(directory: URL(fileURLWithPath: dicomOut), uidRoot: uidRoot) } catch {
                throw CommandFailure(message: "cannot write DICOM results into \(dicomOut): \(error.description)")
            }
        }
        let urls = files.map { URL(fileURLWithPath: $0) }
        let results: [Result<Classification, PipelineError>]
        var summaryURL: URL?
        if let writer {
            // Classify a batch, then write its reports: the stages hand values on, a batch at a time,
            // so no more than one batch of full-size scans is held.
            var classified: [Result<Classification, PipelineError>] = []
            var entries: [SummaryEntry] = []  // every input, in input order
            var start = 0
            while start < urls.count {
                let chunk = Array(urls[start..<min(start + batchSize, urls.count)])
                start += chunk.count
                for value in classifier.classifyForReport(chunk, saliency: saliency) {
                    let result = value.flatMap { v -> Result<ClassifiedScan, PipelineError> in
                        let began = DispatchTime.now()
                        do throws(PipelineError) {
                            let report = try writer.writeReport(v)
                            if !json {
                                let ms = Double(DispatchTime.now().uptimeNanoseconds - began.uptimeNanoseconds) / 1e6
                                Terminal.note("report: \(report.url.path) (\(String(format: "%.0f", ms)) ms, \(String(format: "%.0f", report.pageMs)) ms of it drawing the page)")
                            }
                            // Before the summary row: a scan whose DICOM results fail is listed as failed.
                            if let dicomWriter { try Self.writeDICOM(v, report: report, writer: writer, to: dicomWriter, quiet: json) }
                            entries.append(report.summaryEntry)
                            return .success(v)
                        } catch {
                            return .failure(error)
                        }
                    }
                    if case let .failure(e) = result { entries.append(SummaryEntry(file: e.file, outcome: .failed(reason: e.description))) }
                    classified.append(result.map(\.classification))
                }
            }
            results = classified
            if summary {
                let began = DispatchTime.now()
                do { summaryURL = try writer.writeSummary(entries) } catch {
                    throw CommandFailure(message: "cannot write the summary: \(error.description)")
                }
                if !json {
                    let ms = Double(DispatchTime.now().uptimeNanoseconds - began.uptimeNanoseconds) / 1e6
                    Terminal.note("summary: \(summaryURL!.path) (\(entries.count) scans, \(String(format: "%.0f", ms)) ms)")
                }
            }
        } else {
            results = classifier.classify(urls, batchSize: batchSize)
        }
        let failures = results.compactMap { r -> PipelineError? in
            if case let .failure(e) = r { return e } else { return nil }
        }
        for f in failures { Terminal.error(f.description) }

        if json {
            let doc = ClassifyReport(
                disclaimer: Terminal.disclaimer,
                model: .init(path: modelURL.path, name: model.configuration.name, version: model.configuration.version,
                             trained: model.configuration.trained ?? false, classes: model.configuration.classNames,
                             configuration: loaded.configuration.name, temperature: model.configuration.temperature ?? 1,
                             trainedClasses: model.configuration.trainedClasses),
                warnings: loaded.warnings,
                results: results.compactMap { try? $0.get() },
                failures: failures.map { .init(file: $0.file, stage: $0.stage.rawValue, error: $0.description) },
                summary: summaryURL?.path)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            FileHandle.standardOutput.write(try encoder.encode(doc))
            print()
        } else {
            for case let .success(c) in results { print(Self.text(c)) }
            print("\(results.count - failures.count) classified, \(failures.count) failed. \(Terminal.disclaimer)")
        }
        if !failures.isEmpty { throw ExitCode(1) }
    }

    /// Writes the DICOM results of one classified scan beside its report, or says why a scan gets none.
    /// A failure fails the file: its PDF report stays, and the message says so.
    static func writeDICOM(_ v: ClassifiedScan, report: ReportWriter.Written, writer: ReportWriter, to dicom: DICOMResultWriter,
                           quiet: Bool) throws(PipelineError) {
        let c = v.classification
        guard v.scan.notes.format == .dicom else {
            if !quiet { Terminal.note("DICOM results: none for \(c.file), a \(v.scan.notes.format.rawValue.uppercased()) image that belongs to no study") }
            return
        }
        let began = DispatchTime.now()
        do {
            let result = try DICOMResult(v, report: report, model: writer.modelInfo)
            let written = try dicom.write(source: URL(fileURLWithPath: c.file), result: result)
            if !quiet {
                let ms = Double(DispatchTime.now().uptimeNanoseconds - began.uptimeNanoseconds) / 1e6
                Terminal.note("DICOM results: \(written.all.map(\.lastPathComponent).joined(separator: ", ")) in \(dicom.directory.path) (\(String(format: "%.0f", ms)) ms)")
                for note in written.notes { Terminal.note("  \(note)") }
            }
        } catch {
            throw PipelineError(stage: .report, file: c.file, underlying: DICOMOutputFailure(file: c.file, report: report.url.path, cause: "\(error)"))
        }
    }

    static func text(_ c: Classification) -> String {
        let probs = c.probabilities.map { "\($0.className) \(String(format: "%.3f", $0.probability))" }
        let warning = c.warnings.map { "\n  warning (\($0.code.rawValue)): \($0.message)" }.joined()
        // Out of scope or of distribution: say so before the class, which is no finding then.
        let result = c.isSetAside
            ? "\(c.warnings.contains { $0.code == .outOfScope } ? "OUT OF SCOPE" : "OUT OF DISTRIBUTION"), no finding (model output: \(c.predictedClass) \(String(format: "%.3f", c.confidence)))"
            : "\(c.predictedClass) (\(String(format: "%.3f", c.confidence)))"
        return """
            \(c.file): \(result)
              probabilities: \(probs.joined(separator: ", "))
              decoding: \(c.decodingSummary)
              time: decode \(String(format: "%.1f", c.timing.decodeMs)) ms, preprocess \(String(format: "%.1f", c.timing.preprocessMs)) ms, forward \(String(format: "%.1f", c.timing.forwardMs)) ms\(warning)
            """
    }
}

/// The `--json` document.
struct ClassifyReport: Encodable {
    struct Model: Encodable {
        let path: String
        let name: String?
        let version: String?
        let trained: Bool
        let classes: [String]
        /// "stored": the file's cxreview.config; "assumed": it has none (a plain PyTorch state_dict),
        /// so ImageNet preprocessing at 224 px and the classes named in `warnings` were assumed.
        let configuration: String
        /// The softmax temperature the probabilities were computed with (1: uncalibrated).
        let temperature: Double
        /// Per age group, the classes the model was trained on (absent when the file does not say); a
        /// result outside them carries the warning `untrained_group`.
        let trainedClasses: [String: [String]]?
    }
    struct Failure: Encodable {
        let file: String
        let stage: String
        let error: String
    }
    let disclaimer: String
    let model: Model
    /// What the user should know about the model (also printed on stderr): untrained, or configuration assumed.
    let warnings: [String]
    let results: [Classification]
    let failures: [Failure]
    /// The batch summary PDF, with --summary.
    let summary: String?
}

extension Saliency: ExpressibleByArgument {}

/// The DICOM results of a scan could not be written; its PDF report was.
struct DICOMOutputFailure: Error, Sendable, CustomStringConvertible {
    let file: String
    let report: String
    let cause: String

    var description: String {
        "\(file.escapingControlCharacters): no DICOM results were written (its PDF report \(report) was): \(cause)"
    }
}
