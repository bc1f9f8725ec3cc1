import ArgumentParser
import Foundation
import ModelDevelopment
import Pipeline
import Reporting
import Training

struct PreviewCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preview",
        abstract: "Draw a grid of scans with their true labels (and, with --model, the predictions: green right, red wrong), as the tutorial showed.",
        discussion: Terminal.disclaimer)

    @Argument(help: "A folder of labelled scans.")
    var data: String

    @Option(name: .long, help: "The image to write: .png or .pdf.")
    var out: String

    @Option(name: .long, help: "Predict with this model and show the predictions.")
    var model: String?

    @Option(name: .long, help: "How many scans.") var count: Int = 6
    @Option(name: .long, help: "Scans per row.") var columns: Int = 6
    @Option(name: .long, help: "Which split: test, train, validation, all or auto.") var split: String = "auto"
    @Option(name: .long, help: "Seed of the random choice of scans.") var seed: UInt64 = 0
    @Option(name: .long, help: "Threads for decoding and, with --model, classification.") var threads: Int = 2

    func validate() throws {
        guard (1...120).contains(count) else { throw ValidationError("--count must be between 1 and 120.") }
        guard FigureFormat(pathExtension: URL(fileURLWithPath: out).pathExtension) != nil else { throw ValidationError("--out must end in .png or .pdf.") }
    }

    func run() throws {
        let index: DatasetIndex
        do { index = try DatasetIndex.scan(URL(fileURLWithPath: data)) } catch { throw CommandFailure(message: error.description) }
        var entries = EvaluateCommand.select(index.entries, split: split)
        var rng = SplitMix64(seed: seed)
        rng.shuffle(&entries)
        let scans = LabelledScans.load(Array(entries.prefix(count)), inputSize: 224, threads: threads)
        scans.failures.forEach { Terminal.warn("left out: \($0.description)") }
        var predictions: [String]?
        if let model {
            let options = try ModelOptions.parse(["--model", model, "--threads", String(threads)])
            let (net, _) = try options.load()
            let evaluation = Evaluation(classifier: Classifier(model: net, threads: threads), scans: scans)
            predictions = evaluation.items.map { item in
                let p = item.probabilities
                return net.configuration.classNames[p.indices.max { p[$0] < p[$1] }!]
            }
        }
        let tiles = scans.entries.enumerated().map { i, e in
            PreviewGrid.Tile(image: scans.images[i], trueLabel: e.label, predicted: predictions?[i],
                             caption: URL(fileURLWithPath: e.path).lastPathComponent)
        }
        let title = "\(URL(fileURLWithPath: data).lastPathComponent): \(tiles.count) scans" + (model.map { ", predictions of \(URL(fileURLWithPath: $0).lastPathComponent)" } ?? "")
        do {
            try PreviewGrid(title: title, tiles: tiles, columns: min(columns, tiles.count), disclaimer: Terminal.disclaimer)
                .write(to: URL(fileURLWithPath: out), format: FigureFormat(pathExtension: URL(fileURLWithPath: out).pathExtension)!)
        } catch {
            throw CommandFailure(message: error.description)
        }
        print("wrote \(out)")
    }
}
