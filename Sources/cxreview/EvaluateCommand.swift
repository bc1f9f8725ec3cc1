import ArgumentParser
import Foundation
import ModelDevelopment
import Pipeline
import Training

struct EvaluateCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Measure a model on labelled scans: accuracy, per-class sensitivity, specificity, precision, F1, ROC AUC, calibration; per source and age group.",
        discussion: """
            DATA is a folder of class folders (covid, normal, viral; case and spacing do not matter), \
            optionally split into train/ and test/; the test split is used when there is one, and the \
            output says which split was evaluated. With --exclude-copies-of, scans identical to or near \
            copies of training scans are found (SHA-256, and rank thumbnails correlating at 0.98 or more) \
            and the metrics are given with and without them; without it, a train split beside the \
            evaluated one is still checked for identical files, with a warning.

            Every figure is also given per source, per age group (child or adult) and per (age group × \
            source) cell: scans per class, confusion matrix, sensitivity, specificity and calibration \
            error; with the worst recall of any class in any cell, balanced accuracy, and the fractions of \
            healthy children called viral and of healthy adults called COVID-19. A scan's age group comes \
            from the age_group column of a manifest.csv beside its class folders, else from the \
            --age-groups table.
            \(Terminal.disclaimer)
            """)

    @Argument(help: "Folders of labelled scans.")
    var data: [String] = []

    @Option(name: .long, help: "A list of scans to evaluate, one per line: label, source and path separated by tabs (as `train --holdout-fraction` writes); their age groups come from the --age-groups table, and they are evaluated whatever --split says.")
    var filesFrom: String?

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Which split to evaluate: test, validation, train, all, or auto (test if there is one, else all).")
    var split: String = "auto"

    @Option(name: .long, parsing: .upToNextOption, help: "Training folders: evaluated scans that copy one of their scans are reported and left out of the second set of metrics.")
    var excludeCopiesOf: [String] = []

    @Option(name: .long, help: "Age group (child or adult) per source and class, for scans whose manifest.csv gives none: a CSV with the columns source, class, age_group. Default: age-groups.csv beside the model, else models/age-groups.csv in the current folder, if either exists.")
    var ageGroups: String?

    @Option(name: .long, help: "Fewest scans of a class in an (age group × source) cell for its recall to count as the worst group recall; smaller groups are marked.")
    var minGroupSize: Int = 10

    @Flag(name: .long, help: "Print one JSON document instead of text.")
    var json = false

    @Option(name: .long, help: "Also write the confusion matrix, ROC curves and reliability diagram to this .pdf or .png file.")
    var figure: String?

    func validate() throws {
        guard !data.isEmpty || filesFrom != nil else { throw ValidationError("name a folder of labelled scans, or --files-from LIST.") }
        guard ["auto", "test", "validation", "train", "all"].contains(split) else {
            throw ValidationError("--split must be auto, test, validation, train or all, not \(split).")
        }
        guard minGroupSize >= 1 else { throw ValidationError("--min-group-size must be 1 or more, not \(minGroupSize).") }
    }

    func run() throws {
        let (model, modelURL) = try modelOptions.load()
        var warnings: [String] = []
        func warn(_ w: String) { Terminal.warn(w); warnings.append(w) }
        if let w = Evaluation.temperatureWarning(model.configuration.temperature, classCount: model.configuration.classNames.count) { warn(w) }

        let threads = modelOptions.threads
        let tableURL = Self.ageGroupsTable(explicit: ageGroups, model: modelURL)
        var table: [String: String] = [:]
        if let tableURL {
            do { table = try DatasetIndex.loadAgeGroups(tableURL) } catch { throw CommandFailure(message: error.description) }
        }
        var indexes: [(root: String, index: DatasetIndex)] = []
        for root in data {
            let index: DatasetIndex
            do { index = try DatasetIndex.scan(URL(fileURLWithPath: root), ageGroups: table) } catch { throw CommandFailure(message: error.description) }
            index.notices.forEach { Terminal.warn($0) }
            indexes.append((root, index))
        }
        let listed = try filesFrom.map { try Self.readList($0, ageGroups: table) } ?? []
        let fromFolders = Self.select(indexes.flatMap(\.index.entries), split: split)
        let chosen = fromFolders + listed
        guard !chosen.isEmpty else { throw CommandFailure(message: "no scans in split '\(split)' under \(data.joined(separator: ", ")).") }
        if excludeCopiesOf.isEmpty, !fromFolders.contains(where: { $0.split == .train }) {
            for (root, index) in indexes {
                if let w = Self.identicalCopiesWarning(root: root, index: index, evaluated: Set(fromFolders.map(\.path))) { warn(w) }
            }
        }
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
        let report = EvaluationReport(
            evaluation: evaluation, model: modelURL.path, data: data, filesFrom: filesFrom, split: split,
            evaluatedSplits: Self.splitCounts(scans.entries, listed: Set(listed.map(\.path))),
            ageGroupsTable: tableURL?.path, minGroupSize: minGroupSize, copiesChecked: !excludeCopiesOf.isEmpty,
            failures: scans.failures.map(\.description), warnings: warnings)
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

    /// The age-groups table: the one given, else `age-groups.csv` beside the model, else
    /// `models/age-groups.csv` in the current folder; nil when none exists.
    static func ageGroupsTable(explicit: String?, model: URL) -> URL? {
        if let explicit { return URL(fileURLWithPath: explicit) }
        return [model.deletingLastPathComponent().appendingPathComponent("age-groups.csv"),
                URL(fileURLWithPath: "models/age-groups.csv")]
            .first { FileManager.default.fileExists(atPath: $0.path) }
    }

    /// Evaluated scans per split ("test", "validation", "train", "none" for folders without
    /// split folders, "listed" for `--files-from`).
    static func splitCounts(_ entries: [DatasetIndex.Entry], listed: Set<String>) -> [String: Int] {
        var counts: [String: Int] = [:]
        for e in entries { counts[listed.contains(e.path) ? "listed" : e.split?.rawValue ?? "none", default: 0] += 1 }
        return counts
    }

    /// A warning when scans evaluated from `root` are byte-identical to scans of its train split,
    /// naming the folder to pass to `--exclude-copies-of`; nil when there are none (or no train split).
    static func identicalCopiesWarning(root: String, index: DatasetIndex, evaluated: Set<String>) -> String? {
        let train = index.entries.filter { $0.split == .train }
        let mine = index.entries.filter { evaluated.contains($0.path) }
        guard !train.isEmpty, !mine.isEmpty else { return nil }
        let copies = Evaluation.identicalCopies(mine, of: train)
        guard !copies.isEmpty else { return nil }
        let prefix = index.root.path.hasSuffix("/") ? index.root.path : index.root.path + "/"
        func name(_ e: DatasetIndex.Entry) -> String { e.path.hasPrefix(prefix) ? String(e.path.dropFirst(prefix.count)) : e.path }
        let examples = copies.prefix(3).map { "\(name($0.evaluated)) = \(name($0.training))" }.joined(separator: ", ")
        let trainFolder = commonFolder(train.map(\.path))
        let shown = trainFolder.hasPrefix(prefix) ? (root.hasSuffix("/") ? root : root + "/") + trainFolder.dropFirst(prefix.count) : trainFolder
        return "\(copies.count) of the \(mine.count) evaluated scans under \(root) are byte-identical copies of scans in its train split "
            + "(\(examples)\(copies.count > 3 ? ", …" : "")), so the metrics are optimistic; near copies were not looked for. "
            + "Run again with --exclude-copies-of \(shown) to find near copies too and get the metrics without them."
    }

    /// The deepest folder holding every path, above any class folders.
    static func commonFolder(_ paths: [String]) -> String {
        var common = URL(fileURLWithPath: paths[0]).deletingLastPathComponent().pathComponents
        for p in paths.dropFirst() {
            let c = URL(fileURLWithPath: p).deletingLastPathComponent().pathComponents
            common = zip(common, c).prefix { $0 == $1 }.map(\.0)
        }
        while let last = common.last, common.count > 1,
              DatasetIndex.canonicalClass(last) != nil || last.lowercased() == "images" { common.removeLast() }
        return common.count <= 1 ? "/" : "/" + common.dropFirst().joined(separator: "/")
    }

    /// `label<TAB>source<TAB>path` lines; the label must be one of the classes. Relative paths are
    /// relative to the list's own folder. Age groups come from `ageGroups` ("source/class" → group).
    static func readList(_ path: String, ageGroups: [String: String] = [:]) throws -> [DatasetIndex.Entry] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw CommandFailure(message: "cannot read the list \(path); check the path.")
        }
        var manifests: [String: [String: (String?, String?)]] = [:]
        return try text.split(separator: "\n").enumerated().map { n, line in
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard f.count == 3, DatasetIndex.classes.contains(f[0]) else {
                throw CommandFailure(message: "\(path) line \(n + 1): expected label<TAB>source<TAB>path with label one of \(DatasetIndex.classes.joined(separator: ", ")).")
            }
            let file = f[2].hasPrefix("/") ? f[2] : URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(f[2]).standardizedFileURL.path
            let source = f[1].isEmpty ? nil : f[1]
            // As a folder scan would: the manifest beside the class folder first, then the table.
            let facts = DatasetIndex.manifestFacts(forFile: file, cache: &manifests)
            return DatasetIndex.Entry(path: file, label: f[0], split: nil, source: source, patientID: facts.patientID,
                                      ageGroup: facts.ageGroup ?? source.flatMap { ageGroups["\($0)/\(f[0])"] })
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
    let filesFrom: String?
    /// The `--split` asked for.
    let split: String
    /// The split(s) evaluated: "test", "validation", "train", "none" (no split folders) or "listed"
    /// (`--files-from`), joined by "+" when several.
    let evaluatedSplit: String
    /// Evaluated scans per split, keyed as in `evaluatedSplit`.
    let evaluatedScansPerSplit: [String: Int]
    /// The table that gave age groups where no manifest did; nil when none was used.
    let ageGroupsTable: String?
    let temperature: Double
    let all: EvaluationMetrics?
    /// Present when copies of training scans were looked for.
    let withoutCopies: EvaluationMetrics?
    let copies: [Copy]
    let perSource: [String: EvaluationMetrics]
    /// Per source, age group and (age group × source) cell, of all scans.
    let groups: GroupBreakdown?
    /// The same without the copies of training scans; present when they were looked for.
    let groupsWithoutCopies: GroupBreakdown?
    /// What was also written to stderr as a warning.
    let warnings: [String]
    let failures: [String]

    init(evaluation e: Evaluation, model: String, data: [String], filesFrom: String?, split: String,
         evaluatedSplits: [String: Int], ageGroupsTable: String?, minGroupSize: Int, copiesChecked: Bool,
         failures: [String], warnings: [String]) {
        self.model = model
        self.data = data
        self.filesFrom = filesFrom
        self.split = split
        let order = ["train", "validation", "test", "none", "listed"]
        evaluatedSplit = evaluatedSplits.keys.sorted { order.firstIndex(of: $0)! < order.firstIndex(of: $1)! }.joined(separator: "+")
        evaluatedScansPerSplit = evaluatedSplits
        self.ageGroupsTable = ageGroupsTable
        temperature = e.temperature
        all = e.metrics()
        withoutCopies = copiesChecked ? e.metrics { $0.copyOf == nil } : nil
        copies = e.copies.map { Copy(file: $0.entry.path, label: $0.entry.label, copyOf: $0.copyOf!) }
        var per: [String: EvaluationMetrics] = [:]
        for s in e.sources { per[s] = e.metrics { $0.entry.source == s } }
        perSource = per
        groups = e.groups(minGroupSize: minGroupSize)
        groupsWithoutCopies = copiesChecked ? e.groups(minGroupSize: minGroupSize) { $0.copyOf == nil } : nil
        self.warnings = warnings
        self.failures = failures
    }

    /// "split evaluated: the test split (66 scans); --split auto takes the test split when there is one"
    /// and the like.
    var splitStatement: String {
        let total = evaluatedScansPerSplit.values.reduce(0, +)
        let parts = evaluatedSplit.split(separator: "+").map(String.init)
        func describe(_ s: String) -> String {
            let n = evaluatedScansPerSplit[s] ?? 0
            switch s {
            case "none": return "\(n) scans not in a train, validation or test folder below the data folder"
            case "listed": return "\(n) scans listed in \(filesFrom ?? "the list")"
            default: return "the \(s) split (\(n) scans)"
            }
        }
        let what = parts.count == 1 ? describe(parts[0]) : "\(total) scans: " + parts.map(describe).joined(separator: ", ")
        let why: String
        switch split {
        case "auto" where parts.contains("test"): why = "--split auto takes the test split when there is one"
        case "auto" where !data.isEmpty: why = "--split auto takes every scan when there is no test split"
        case "auto": why = ""
        default: why = "--split \(split)"
        }
        return "split evaluated: " + what + (why.isEmpty ? "" : "; " + why)
    }

    func text() -> String {
        var lines = ["Evaluation of \(Self.display(model)) on \(data.isEmpty ? "the listed scans" : data.joined(separator: ", ")); "
            + "probabilities calibrated with temperature \(String(format: "%.3f", temperature))",
            splitStatement]
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
        // One breakdown, of the scans the figure shows: without the copies when they were looked for.
        if let g = groupsWithoutCopies ?? groups {
            let scans = groupsWithoutCopies != nil
                ? "the \(withoutCopies?.count ?? 0) scans without copies of training scans (--json gives all \(all?.count ?? 0) too)"
                : "all \(all?.count ?? 0) scans"
            let source = ageGroupsTable.map { "the manifests' age_group, else \(Self.display($0))" } ?? "the manifests' age_group (no age-groups table)"
            lines.append("\nBy group, \(scans); age groups from \(source):")
            lines += g.textLines().map { "  " + $0 }
        }
        if !copies.isEmpty {
            lines.append("\nCopies of training scans (left out of the second set of metrics):")
            lines += copies.map { "  \($0.file): \($0.copyOf)" }
        }
        if !failures.isEmpty { lines.append("\n\(failures.count) files could not be decoded and were left out (listed on stderr).") }
        lines.append("\n\(disclaimer)")
        return lines.joined(separator: "\n")
    }

    /// `path` relative to the current folder when it is inside it, for the text.
    static func display(_ path: String) -> String {
        let cwd = FileManager.default.currentDirectoryPath
        let prefix = cwd.hasSuffix("/") ? cwd : cwd + "/"
        return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
    }

    static func confusionLines(_ m: EvaluationMetrics) -> [String] {
        let w = max(8, (m.classNames.map(\.count).max() ?? 0) + 1)
        func pad(_ s: String) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
        var lines = ["confusion (rows true, columns predicted):", pad("") + m.classNames.map(pad).joined()]
        for (i, row) in m.confusion.enumerated() { lines.append(pad(m.classNames[i]) + row.map { pad(String($0)) }.joined()) }
        return lines
    }
}
