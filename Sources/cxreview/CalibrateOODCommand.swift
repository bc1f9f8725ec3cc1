import ArgumentParser
import Foundation
import ModelDevelopment
import Pipeline
import ResNet
import Training

struct CalibrateOODCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "calibrate-ood",
        abstract: "Fit the out-of-distribution check of a model to its training data; the weights stay as they are.",
        discussion: """
            Runs the labelled scans in DATA (train/test splits, Kaggle or class folders, as for \
            `train`; scans in a test/ split are left out) through the model, fits class means and a \
            shared, Ledoit-Wolf-shrunk covariance of the pooled layer4 features (Lee et al. 2018) and \
            sets the threshold at --percentile of out-of-fold scores. The statistics go into the \
            model file's metadata (cxreview.ood); the tensors are copied byte for byte. `classify` \
            then flags scans above the threshold: "the scan does not look like the training data".
            \(Terminal.disclaimer)
            """)

    @Argument(help: "Folders of labelled in-distribution scans (the model's training data).")
    var data: [String]

    @OptionGroup var modelOptions: ModelOptions

    @Option(name: .long, help: "Write the model with the statistics here instead of updating --model in place.")
    var out: String?

    @Option(name: .long, help: "Percentile of in-distribution scores at which to flag (0-100).")
    var percentile: Double = 99

    @Option(name: .long, help: "Folds for the out-of-fold scores that set the threshold.")
    var folds: Int = 5

    @Option(name: .long, help: "Seed of the fold assignment.")
    var seed: UInt64 = 0

    func validate() throws {
        guard !data.isEmpty else { throw ValidationError("name at least one DATA folder of labelled scans.") }
        guard percentile > 50, percentile < 100 else { throw ValidationError("--percentile must be above 50 and below 100, not \(percentile).") }
        guard (2...20).contains(folds) else { throw ValidationError("--folds must be between 2 and 20, not \(folds).") }
    }

    func run() throws {
        let (model, modelURL) = try modelOptions.load()
        let destination = out.map { URL(fileURLWithPath: $0) } ?? modelURL
        if out != nil, FileManager.default.fileExists(atPath: destination.path),
           destination.standardizedFileURL.path != modelURL.standardizedFileURL.path {
            throw CommandFailure(message: "\(destination.path) exists; choose another --out or leave it out to update \(modelURL.lastPathComponent) in place.")
        }
        var entries: [DatasetIndex.Entry] = []
        for root in data {
            let index: DatasetIndex
            do { index = try DatasetIndex.scan(URL(fileURLWithPath: root)) } catch { throw CommandFailure(message: error.description) }
            for notice in index.notices { Terminal.warn(notice) }
            entries += index.entries.filter { $0.split != .test }
        }
        var seen = Set<String>()
        entries = entries.filter { seen.insert($0.path).inserted }
        guard !entries.isEmpty else { throw CommandFailure(message: "no labelled scans outside a test/ split in \(data.joined(separator: ", ")).") }
        let classes = model.configuration.classNames
        guard entries.contains(where: { classes.contains($0.label) }) else {
            let labels = Set(entries.map(\.label)).sorted().joined(separator: ", ")
            throw CommandFailure(message: "none of the \(entries.count) labelled scans is of the model's classes (\(classes.joined(separator: ", "))); their labels are \(labels).")
        }

        let start = Date()
        let stamp = ISO8601DateFormatter().string(from: start)
        let provenance = "fitted \(stamp) by cxreview calibrate-ood on \(data.joined(separator: ", ")) (test splits left out), \(folds) folds, seed \(seed)"
        let outcome: OutOfDistributionCalibration.Outcome
        do {
            outcome = try OutOfDistributionCalibration.fit(
                model: model, entries: entries, percentile: percentile, folds: folds, seed: seed, threads: modelOptions.threads,
                provenance: provenance)
        } catch { throw CommandFailure(message: error.description) }
        for f in outcome.failures { Terminal.warn("left out: \(f.description)") }
        guard outcome.statistics.sampleCount > folds else { throw CommandFailure(message: "only \(outcome.statistics.sampleCount) scans decoded; need more than \(folds).") }
        let s = outcome.statistics
        let flagged = outcome.outOfFoldScores.filter { s.isOutOfDistribution(score: $0) }.count
        let identical: Bool
        do { identical = try OutOfDistributionCalibration.store(s, from: modelURL, to: destination) } catch {
            throw CommandFailure(message: "cannot write \(destination.path): \(error.description)")
        }
        let counts = model.configuration.classNames.map { "\($0) \(outcome.counts[$0] ?? 0)" }.joined(separator: ", ")
        print("""
            scans: \(s.sampleCount) (\(counts)); \(outcome.failures.count) could not be decoded
            feature: pooled layer4 (\(s.dimension)); Ledoit-Wolf shrinkage \(String(format: "%.4f", s.shrinkage))
            threshold: \(String(format: "%.1f", s.threshold)) (\(String(format: "%g", percentile))th percentile of \(folds)-fold out-of-fold scores; \(flagged) of \(s.sampleCount) = \(String(format: "%.1f", 100 * Double(flagged) / Double(s.sampleCount)))% above it)
            wrote \(destination.path) (\(model.outOfDistribution == nil ? "added" : "replaced") cxreview.ood; weights byte-identical: \(identical ? "yes" : "NO")) in \(String(format: "%.0f", Date().timeIntervalSince(start))) s
            \(Terminal.disclaimer)
            """)
        if !identical { throw CommandFailure(message: "the tensor bytes of \(destination.path) differ from \(modelURL.path); do not use it.") }
    }
}
