import ArgumentParser
import Foundation
import ModelDevelopment
import Pipeline
import ResNet
import Training
import XRayCore

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train ResNet18 on folders of labelled chest X-rays (covid, normal, viral).",
        discussion: """
            As the PyTorch tutorial: Adam, validation loss and accuracy every --eval-every steps, stop \
            when validation accuracy reaches --target-accuracy or the epochs run out; the best model \
            is kept (judged by --select-by, by default the worst group's recall). Batches are balanced \
            over age group, class and source (--balance) and augmented (flip, small rotation, zoom, \
            shift, brightness, contrast, gamma, resolution, blur and noise). Scans in a test/ split are never trained \
            on; identical files are reported, and training copies of test scans are left out. Without \
            a validation/ split, a seeded, stratified part of the training scans is held back (a \
            patient's films stay together when a manifest.csv names patients). The final model carries \
            a temperature fitted on the validation split, so its probabilities are calibrated; with \
            --max-false-alarm, the lines between the classes are first moved to an operating point \
            fitted on that split. \
            After each validation a line gives the speed (images/s), the time per epoch and the time \
            left. Every validation writes <out>.resume.safetensors, from which --resume continues a \
            stopped run (--max-minutes, --max-steps or killed) to the same weights, bit for bit, as a \
            run that never stopped, given the same settings and --threads.
            \(Terminal.disclaimer)
            """)

    @Argument(help: "Folders of labelled scans.")
    var data: [String]

    @Option(name: .long, help: "The model file to write (safetensors).")
    var out: String

    @Option(name: .long, help: "Start from these weights (safetensors, torchvision names, e.g. ImageNet): all but fc, which is re-initialised for 3 classes.")
    var initWeights: String?

    @Option(name: .long, help: "Passes over the training scans (the tutorial's: 30).") var epochs: Int = 30
    @Option(name: .long, help: "Images per training step (the tutorial's: 6); at least 2, for BatchNorm.") var batchSize: Int = 6
    @Option(name: .customLong("lr"), help: "Adam's learning rate (the tutorial's: 3e-5).") var learningRate: Double = 3e-5
    @Option(name: .long, help: "L2 weight decay (Adam's, as PyTorch).") var weightDecay: Double = 0
    @Option(name: .long, help: "Stop when the --select-by figure on the validation split reaches this (the tutorial's: 0.95).") var targetAccuracy: Double = 0.95
    @Option(name: .long, help: "Validate every this many steps (the tutorial's: 20); each validation writes the resume file.") var evalEvery: Int = 20
    @Option(name: .long, help: "Seed for initialisation, the validation and hold-out split, batches and augmentation.") var seed: UInt64 = 0
    @Option(name: .long, help: "Part of the training scans held back for validation when DATA has no validation split.")
    var validationFraction: Double = 0.1
    @Option(name: .long, help: "Part of the training scans held out entirely (never trained or validated on); listed in <out>.holdout.tsv for `evaluate --files-from`.")
    var holdoutFraction: Double = 0
    @Option(name: .long, help: "Threads.") var threads: Int = 2
    @Flag(name: .long, help: "Continue from <out>.resume.safetensors (written at each validation), with the run's own settings: only --epochs (not with --lr-schedule cosine), --target-accuracy, --threads, --max-minutes, --max-steps and --max-false-alarm may change; a finished run refits only its final step.")
    var resume = false
    @Flag(name: .long, help: "No augmentation (the tutorial's setting, apart from its flip).") var noAugmentation = false
    @Option(name: .long, help: "Model name stored in the file.") var name: String = "cxreview-resnet18"
    @Option(name: .long, help: "Learning rate schedule: constant (the tutorial's) or cosine (decay to 1% over the epochs).")
    var lrSchedule: String = "constant"
    @Option(name: .long, help: "Which validation figure picks the best model and meets --target-accuracy: worst-group-recall (the lowest recall of a class within one age group and source that training draws from), balanced-accuracy (mean per-class recall) or accuracy (the tutorial's).")
    var selectBy: String = "worst-group-recall"
    @Option(name: .long, help: "What batches are balanced over: groups (age group, then class within it, then source within that) or classes (the tutorial's).")
    var balance: String = "groups"
    @Option(name: .long, help: "With --balance groups: the fewest scans an (age group, class, source) cell needs to be trained on; smaller cells are validated on instead, unless their class has no larger cell.")
    var minCell: Int = 20
    @Option(name: .long, help: "Age groups (child, adult) by source and class for scans whose manifest.csv does not give age_group: a CSV with columns source, class, age_group. Default: models/age-groups.csv when it exists.")
    var ageGroups: String?
    @Option(name: .long, help: "Leave this source (the folder below DATA, e.g. ieee8023-covid-chestxray) out of training and validation, to measure the model on a hospital it never saw; its scans are listed in <out>.holdout.tsv for `evaluate --files-from`. Repeatable.")
    var holdOutSource: [String] = []
    @Option(name: .long, help: "Stop after this many minutes of this sitting (checked at each validation); the best model so far is kept, and --resume continues.")
    var maxMinutes: Double?
    @Option(name: .long, help: "Stop at the first validation at or after this step, counted over all sittings; the best model so far is kept, and --resume continues.")
    var maxSteps: Int?

    @Option(name: .long, help: "Validate and keep an exponential moving average of the weights (and BatchNorm statistics) over the steps, with this decay per step, e.g. 0.995 (about the last 200 steps), instead of the last step's weights. Default: off.")
    var averageWeights: Double?
    @Option(name: .long, help: "At the end, move the lines between the classes (one logit offset each, folded into fc.bias) to maximise balanced accuracy on the validation split with at most this fraction of healthy children called viral and of healthy adults called COVID-19 there, e.g. 0.05; then fit the temperature. Default: the network's own lines.")
    var maxFalseAlarm: Double?

    func validate() throws {
        if let averageWeights, !(averageWeights > 0 && averageWeights < 1) { throw ValidationError("--average-weights must be between 0 and 1, e.g. 0.995.") }
        if let maxFalseAlarm, !(0...1).contains(maxFalseAlarm) { throw ValidationError("--max-false-alarm must be between 0 and 1, e.g. 0.05.") }
        guard epochs >= 1, evalEvery >= 1 else { throw ValidationError("--epochs and --eval-every must be at least 1.") }
        if let maxSteps, maxSteps < 1 { throw ValidationError("--max-steps must be at least 1.") }
        if let maxMinutes, !(maxMinutes > 0) { throw ValidationError("--max-minutes must be positive.") }
        guard batchSize >= 2 else { throw ValidationError("--batch-size must be at least 2: BatchNorm needs two images or more per batch in training.") }
        guard learningRate > 0 else { throw ValidationError("--lr must be positive.") }
        guard (0..<0.9).contains(validationFraction), (0..<0.9).contains(holdoutFraction) else {
            throw ValidationError("--validation-fraction and --holdout-fraction must be between 0 and 0.9.")
        }
        guard TrainingRun.Selection(rawValue: selectBy) != nil else {
            throw ValidationError("--select-by must be worst-group-recall, balanced-accuracy or accuracy.")
        }
        guard TrainingRun.Balance(rawValue: balance) != nil else { throw ValidationError("--balance must be groups or classes.") }
        guard minCell >= 1 else { throw ValidationError("--min-cell must be at least 1.") }
        guard ["constant", "cosine"].contains(lrSchedule) else { throw ValidationError("--lr-schedule must be constant or cosine.") }
        guard out.hasSuffix(".safetensors") else { throw ValidationError("--out must end in .safetensors.") }
    }

    func run() throws {
        let classes = DatasetIndex.classes
        let outURL = URL(fileURLWithPath: out)
        if FileManager.default.fileExists(atPath: out) && !resume {
            throw CommandFailure(message: "\(out) exists; choose another --out, or pass --resume to continue its run.")
        }

        // 1. The scans, their splits and their copies.
        var ageTable: [String: String] = [:]
        if let path = ageGroups ?? (FileManager.default.fileExists(atPath: Self.defaultAgeGroups) ? Self.defaultAgeGroups : nil) {
            do { ageTable = try DatasetIndex.loadAgeGroups(URL(fileURLWithPath: path)) } catch { throw CommandFailure(message: error.description) }
            Terminal.line("age groups not given by a manifest come from \(path)")
        }
        var indexes: [DatasetIndex] = []
        for root in data {
            do { indexes.append(try DatasetIndex.scan(URL(fileURLWithPath: root), ageGroups: ageTable)) } catch {
                throw CommandFailure(message: error.description)
            }
        }
        for i in indexes { i.notices.forEach { Terminal.warn($0) } }
        let all = indexes.flatMap(\.entries)
        let test = all.filter { $0.split == .test }
        var pool = all.filter { $0.split == nil || $0.split == .train }
        var validation = all.filter { $0.split == .validation }
        if !test.isEmpty { Terminal.line("\(test.count) scans in test splits are set aside (never trained on); measure them with `cxreview evaluate`.") }

        var duplicateLines: [String] = []
        var leaveOut = Set<String>()
        let testPaths = Set(test.map(\.path))
        for index in indexes {
            let report = DuplicateReport(index)
            duplicateLines += report.lines(relativeTo: index.root)
            for g in report.groups {
                // Keep one copy of a file for training; drop copies of test scans entirely.
                let inTest = g.entries.contains { testPaths.contains($0.path) }
                let trainable = g.entries.filter { !testPaths.contains($0.path) }
                for e in trainable.dropFirst(inTest ? 0 : 1) { leaveOut.insert(e.path) }
            }
        }
        duplicateLines.forEach { Terminal.warn($0) }
        pool.removeAll { leaveOut.contains($0.path) }
        if !leaveOut.isEmpty { Terminal.line("\(leaveOut.count) identical copies left out of training (one copy kept; none of a test scan).") }

        var holdout: [DatasetIndex.Entry] = []
        if !holdOutSource.isEmpty {
            let known = Set(all.compactMap(\.source))
            for name in holdOutSource where !known.contains(name) {
                throw CommandFailure(message: "--hold-out-source \(name): no such source; the sources are \(known.sorted().joined(separator: ", ")).")
            }
            let left = Set(holdOutSource)
            holdout = (pool + validation).filter { $0.source.map(left.contains) ?? false }
            pool.removeAll { $0.source.map(left.contains) ?? false }
            validation.removeAll { $0.source.map(left.contains) ?? false }
            Terminal.line("left out of training and validation (sources \(holdOutSource.joined(separator: ", "))): \(Self.describe(holdout))")
        }
        if holdoutFraction > 0 {
            let part: [DatasetIndex.Entry]
            (pool, part) = StratifiedSplit.split(pool, validationFraction: holdoutFraction, seed: seed &+ 1)
            holdout += part
        }
        if !holdout.isEmpty {
            let list = outURL.deletingPathExtension().appendingPathExtension("holdout.tsv")
            let base = list.deletingLastPathComponent()
            let text = holdout.map { "\($0.label)\t\($0.source ?? "")\t\(Self.relativePath($0.path, from: base))" }.joined(separator: "\n") + "\n"
            try Data(text.utf8).write(to: list, options: .atomic)
            Terminal.line("\(holdout.count) scans held out (never trained or validated on): \(list.path)")
        }
        // Cells too small to balance on are validated on instead (and never trained on).
        var untrainable: [DatasetIndex.Entry] = []
        if balance == TrainingRun.Balance.groups.rawValue {
            // The run's own sampler decides which cells it would never draw from.
            var groups = TrainingRun.Options()
            groups.balance = .groups
            groups.minimumCell = minCell
            let small = Set(TrainingRun.sampler(pool, options: groups).excluded)
            untrainable = small.sorted().map { pool[$0] }
            pool = pool.indices.filter { !small.contains($0) }.map { pool[$0] }
            for (cell, n) in Dictionary(grouping: untrainable, by: { TrainingRun.cellPath($0).joined(separator: "/") }).mapValues(\.count).sorted(by: { $0.key < $1.key }) {
                Terminal.line("\(n) scans of \(cell) are too few to train on (--min-cell \(minCell)): validated on only")
            }
        }
        if validation.isEmpty {
            (pool, validation) = StratifiedSplit.split(pool, validationFraction: validationFraction, seed: seed)
        }
        validation += untrainable
        Terminal.line("training on \(Self.describe(pool)); validating on \(Self.describe(validation))")

        // 2. Decode once, at input size.
        let inputSize = 224
        let trainScans = LabelledScans.load(pool, inputSize: inputSize, threads: threads) { done, total in
            if done % 250 == 0 || done == total { FileHandle.standardError.write(Data("\rdecoding training scans \(done)/\(total)".utf8)) }
        }
        FileHandle.standardError.write(Data("\n".utf8))
        let valScans = LabelledScans.load(validation, inputSize: inputSize, threads: threads)
        (trainScans.failures + valScans.failures).forEach { Terminal.warn("left out: \($0.description)") }

        // 3. The network.
        let config = ResNetConfiguration(classNames: classes, inputSize: inputSize, name: name, version: "1",
                                         description: "ResNet18 trained by cxreview train", trained: true)
        var options = TrainingRun.Options()
        options.epochs = epochs
        options.batchSize = batchSize
        options.learningRate = learningRate
        options.weightDecay = weightDecay
        options.targetAccuracy = targetAccuracy
        options.evalEvery = evalEvery
        options.seed = seed
        options.threads = threads
        options.cosineSchedule = lrSchedule == "cosine"
        options.maxMinutes = maxMinutes
        options.maxSteps = maxSteps
        options.selectBy = TrainingRun.Selection(rawValue: selectBy)!
        options.balance = TrainingRun.Balance(rawValue: balance)!
        options.minimumCell = minCell
        options.maximumFalseAlarm = maxFalseAlarm
        options.averageDecay = averageWeights
        if noAugmentation { options.augmentation = .none; options.augmentation.flipProbability = 0.5 }

        let summary: [String: String] = [
            "command": CommandLine.arguments.joined(separator: " "),
            "data": data.joined(separator: ", "),
            "train_counts": Self.describe(trainScans.entries),
            "validation_counts": Self.describe(valScans.entries),
            "holdout_counts": Self.describe(holdout),
            "identical_copies_left_out": String(leaveOut.count),
            "init": initWeights ?? "from scratch (torchvision's initialisation, seed \(seed))",
            "options": String(decoding: try JSONEncoder().encode(options), as: UTF8.self),
        ]
        let run: TrainingRun
        if resume, let checkpoint = try Self.resumable(TrainingRun.Checkpoint.read(besideModel: outURL)) {
            run = try Self.resumable(TrainingRun(resuming: checkpoint, options: options, configuration: config, train: trainScans,
                                                 validation: valScans, modelURL: outURL, summary: summary, log: { Terminal.line($0) }))
        } else {
            let network: TrainableNetwork
            if let initWeights {
                let (tensors, _) = try SafeTensors.read(contentsOf: URL(fileURLWithPath: initWeights))
                network = try NetworkFactory.fineTune(from: tensors, classes: classes.count, seed: seed, learningRate: learningRate,
                                                      weightDecay: weightDecay, threads: threads, log: { Terminal.line($0) })
            } else {
                network = NetworkFactory.fromScratch(classes: classes.count, seed: seed, learningRate: learningRate,
                                                     weightDecay: weightDecay, threads: threads)
            }
            run = TrainingRun(options: options, configuration: config, network: network, train: trainScans,
                              validation: valScans, modelURL: outURL, summary: summary, log: { Terminal.line($0) })
        }
        let outcome = try run.run()
        Terminal.line(String(format: "done: %d steps in %.1f min; best validation accuracy %.1f%% at step %d; temperature %.3f; model: %@",
                     outcome.steps, outcome.seconds / 60, (outcome.best?.validationAccuracy ?? 0) * 100, outcome.best?.step ?? 0,
                     outcome.temperature, out))
        Terminal.line(Terminal.disclaimer)
    }

    static let defaultAgeGroups = "models/age-groups.csv"

    /// A resume that cannot go ahead ends the command with the reason and what to do.
    static func resumable<T>(_ value: @autoclosure () throws(ResumeError) -> T) throws(CommandFailure) -> T {
        do { return try value() } catch { throw CommandFailure(message: error.description) }
    }

    /// `path` relative to the folder `base` (with `..` where needed), so a list travels with the repository.
    static func relativePath(_ path: String, from base: URL) -> String {
        let p = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().pathComponents
        let b = base.standardizedFileURL.resolvingSymlinksInPath().pathComponents
        var i = 0
        while i < min(p.count, b.count) && p[i] == b[i] { i += 1 }
        return (Array(repeating: "..", count: b.count - i) + p[i...]).joined(separator: "/")
    }

    static func describe(_ entries: [DatasetIndex.Entry]) -> String {
        let c = Dictionary(grouping: entries, by: \.label).mapValues(\.count)
        return "\(entries.count) scans (" + DatasetIndex.classes.map { "\($0) \(c[$0] ?? 0)" }.joined(separator: ", ") + ")"
    }
}
