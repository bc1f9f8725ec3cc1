import ArgumentParser
import Foundation
import Pipeline
import Training

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Measure a model on labelled scans: accuracy, per-class sensitivity, specificity, precision, F1, ROC AUC, calibration.",
        discussion: """
            DATA is a folder of class folders (covid, normal, viral; case and spacing do not matter), \
            optionally split into train/ and test/; the test split is used when there is one. With \
            --exclude-copies-of, scans identical to or near copies of training scans are found (SHA-256, \
            and rank thumbnails correlating at 0.98 or more) and the metrics are given with and without them.
            \(Terminal.disclaimer)
            """)

    @Argument(help: "Folders of labelled scans.")
    var data: [String] = []

    @Option(name: .long, help: "A list of scans to evaluate, one per line: label, source and path separated by tabs (as `train --holdout-fraction` writes).")
    var filesFrom: String?

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Which split to evaluate: test, validation, train, all, or auto (test if there is one, else all).")
    var split: String = "auto"

    @Option(name: .long, parsing: .upToNextOption, help: "Training folders: evaluated scans that copy one of their scans are reported and left out of the second set of metrics.")
    var excludeCopiesOf: [String] = []

    @Flag(name: .long, help: "Print one JSON document instead of text.")
    var json = false

    @Option(name: .long, help: "Also write the confusion matrix, ROC curves and reliability diagram to this .pdf or .png file.")
    var figure: String?

    func validate() throws {
        guard !data.isEmpty || filesFrom != nil else { throw ValidationError("name a folder of labelled scans, or --files-from LIST.") }
        guard ["auto", "test", "validation", "train", "all"].contains(split) else {
            throw ValidationError("--split must be auto, test, validation, train or all, not \(split).")
        }
    }

    func run() throws {
        let (model, modelURL) = try modelOptions.load()
        let threads = modelOptions.threads
        var entries: [DatasetIndex.Entry] = []
        for root in data {
            let index: DatasetIndex
            do { index = try DatasetIndex.scan(URL(fileURLWithPath: root)) } catch { throw CommandFailure(message: error.description) }
            index.notices.forEach { Terminal.warn($0) }
            entries += index.entries
        }
        if let filesFrom { entries += try Self.readList(filesFrom) }
        let chosen = filesFrom != nil && data.isEmpty ? entries : Self.select(entries, split: split)
        guard !chosen.isEmpty else { throw CommandFailure(message: "no scans in split '\(split)' under \(data.joined(separator: ", ")).") }
        let scans = LabelledScans.load(chosen, inputSize: model.configuration.inputSize, threads: threads)
        scans.failures.forEach { Terminal.error("left out: \($0.description)") }
        var evaluation = Evaluation(classifier: Classifier(model: model, threads: threads), scans: scans)

        var trainingRoot: URL?
        if !excludeCopiesOf.isEmpty {
            var trainEntries: [DatasetIndex.Entry] = []
            for root in excludeCopiesOf {
                do { trainEntries += try DatasetIndex.scan(URL(fileURLWithPath: root)).entries } catch { throw CommandFailure(message: error.description) }
            }
            trainingRoot = excludeCopiesOf.count == 1 ? URL(fileURLWithPath: excludeCopiesOf[0]) : nil
            let training = LabelledScans.load(trainEntries, inputSize: 32, threads: threads)
            evaluation.markCopies(of: training, evaluated: scans, trainingRoot: trainingRoot)
        }
        let report = EvaluationReport(evaluation: evaluation, model: modelURL.path, data: data, split: split,
                                      copiesChecked: !excludeCopiesOf.isEmpty, failures: scans.failures.map(\.description))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            FileHandle.standardOutput.write(try encoder.encode(report))
            print()
        } else {
            print(report.text())
        }
        if let figure {
            try EvaluationFigureWriter.write(report, evaluation: evaluation, to: figure)
        }
    }

    /// `label<TAB>source<TAB>path` lines; the label must be one of the classes. Relative paths are
    /// relative to the list's own folder.
    static func readList(_ path: String) throws -> [DatasetIndex.Entry] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CommandFailure(message: "cannot read the list \(path); check the path.")
        }
        return try text.split(separator: "\n").enumerated().map { n, line in
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 3, DatasetIndex.classes.contains(f[0]) else {
                throw CommandFailure(message: "\(path) line \(n + 1): expected label<TAB>source<TAB>path with label one of \(DatasetIndex.classes.joined(separator: ", ")).")
            }
            let file = f[2].hasPrefix("/") ? f[2] : URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(f[2]).standardizedFileURL.path
            return DatasetIndex.Entry(path: file, label: f[0], split: nil, source: f[1].isEmpty ? nil : f[1], patientID: nil)
        }
    }

    static func select(_ entries: [DatasetIndex.Entry], split: String) -> [DatasetIndex.Entry] {
        switch split {
        case "all": return entries
        case "test": return entries.filter { $0.split == .test }
        case "validation": return entries.filter { $0.split == .validation }
        case "train": return entries.filter { $0.split == .train }
        default: return entries.contains { $0.split == .test } ? entries.filter { $0.split == .test } : entries
        }
    }
}

/// What `evaluate` prints, as text or JSON.
struct EvaluationReport: Encodable {
    struct Copy: Encodable { let file: String; let label: String; let copyOf: String }
    let disclaimer = Terminal.disclaimer
    let model: String
    let data: [String]
    let split: String
    let temperature: Double
    let all: EvaluationMetrics?
    /// Present when copies of training scans were looked for.
    let withoutCopies: EvaluationMetrics?
    let copies: [Copy]
    let perSource: [String: EvaluationMetrics]
    let failures: [String]

    init(evaluation e: Evaluation, model: String, data: [String], split: String, copiesChecked: Bool, failures: [String]) {
        self.model = model
        self.data = data
        self.split = split
        temperature = e.temperature
        all = e.metrics()
        withoutCopies = copiesChecked ? e.metrics { $0.copyOf == nil } : nil
        copies = e.copies.map { Copy(file: $0.entry.path, label: $0.entry.label, copyOf: $0.copyOf!) }
        var per: [String: EvaluationMetrics] = [:]
        for s in e.sources { per[s] = e.metrics { $0.entry.source == s } }
        perSource = per
        self.failures = failures
    }

    func text() -> String {
        var lines = ["Evaluation of \(model) on \(data.isEmpty ? "the listed scans" : data.joined(separator: ", ")) (split: \(split)); probabilities calibrated with temperature \(String(format: "%.3f", temperature))"]
        if let all {
            lines.append("\nAll \(all.count) scans:")
            lines += all.textLines().map { "  " + $0 }
            lines += Self.confusionLines(all).map { "  " + $0 }
        }
        if let w = withoutCopies {
            lines.append("\nWithout the \(copies.count) scans that copy training scans (\(w.count) scans):")
            lines += w.textLines().map { "  " + $0 }
            lines += Self.confusionLines(w).map { "  " + $0 }
        }
        if perSource.count > 1 {
            lines.append("\nPer source:")
            for (s, m) in perSource.sorted(by: { $0.key < $1.key }) {
                lines.append("  \(s): accuracy \(String(format: "%.1f%%", m.accuracy * 100)) of \(m.count)")
            }
        }
        if !copies.isEmpty {
            lines.append("\nCopies of training scans (left out of the second set of metrics):")
            lines += copies.map { "  \($0.file): \($0.copyOf)" }
        }
        if !failures.isEmpty { lines.append("\n\(failures.count) files could not be decoded and were left out (listed on stderr).") }
        lines.append("\n\(disclaimer)")
        return lines.joined(separator: "\n")
    }

    static func confusionLines(_ m: EvaluationMetrics) -> [String] {
        let w = max(8, (m.classNames.map(\.count).max() ?? 0) + 1)
        func pad(_ s: String) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
        var lines = ["confusion (rows true, columns predicted):", pad("") + m.classNames.map(pad).joined()]
        for (i, row) in m.confusion.enumerated() { lines.append(pad(m.classNames[i]) + row.map { pad(String($0)) }.joined()) }
        return lines
    }
}
