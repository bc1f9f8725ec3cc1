import ArgumentParser
import Foundation
import Pipeline
import ResNet

/// `--model`, `--classes` and `--threads`, shared by every command that runs the network.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Model file (safetensors, torchvision ResNet18 names; a plain PyTorch state_dict works too). Default: $CXREVIEW_MODEL, then models/\(ModelLocator.shippedFileName).")
    var model: String?

    @Option(name: .long, help: ArgumentHelp(
        "Class names, comma-separated in logit order, for a model file without a cxreview config (a plain PyTorch state_dict, run with ImageNet preprocessing at 224 px, uncalibrated). Default for 3 outputs: normal,viral,covid.",
        valueName: "names"))
    var classes: String?

    @Option(name: .long, help: "Threads for the forward pass.")
    var threads: Int = 2

    func validate() throws {
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be between 1 and 64, not \(threads).") }
        if let classes { _ = try Self.classNames(classes) }
    }

    /// `--classes` split at commas; empty and repeated names are refused.
    static func classNames(_ list: String) throws -> [String] {
        guard let names = LoadedModel.classNames(list) else {
            throw ValidationError("--classes needs distinct names separated by commas (e.g. normal,viral,covid), not '\(list)'.")
        }
        return names
    }

    /// Loads the model or exits with one line that says what is wrong and what to do; prints
    /// the model's warnings (untrained, or a configuration assumed for a plain state_dict).
    func loadModel() throws -> LoadedModel {
        let url: URL
        do {
            url = try ModelLocator.locate(explicit: model)
        } catch {
            throw CommandFailure(message: error.description)
        }
        do {
            let loaded = try LoadedModel.load(url, classNames: classes.map(Self.classNames))
            loaded.warnings.forEach(Terminal.warn)
            return loaded
        } catch let error as ModelError {
            throw CommandFailure(message: "cannot load model \(url.path): \(error.description)")
        }
    }

    /// `loadModel()`'s network and file.
    func load() throws -> (model: ResNet18, url: URL) {
        let loaded = try loadModel()
        return (loaded.network, loaded.url)
    }
}

/// A failure that ends the command with one line on stderr and exit code 2.
struct CommandFailure: Error, CustomStringConvertible {
    let message: String
    var description: String { message }
}

enum Terminal {
    static let disclaimer = "Research use only. Not for diagnostic use."

    /// Prints a line to stdout and flushes it, so a long run's log file shows it as it happens.
    static func line(_ text: String) {
        print(text)
        fflush(nil)
    }

    /// A line on stderr without prefix (progress beside the results on stdout).
    static func note(_ line: String) {
        FileHandle.standardError.write(Data("\(line)\n".utf8))
    }

    static func warn(_ line: String) {
        FileHandle.standardError.write(Data("warning: \(line)\n".utf8))
    }

    static func error(_ line: String) {
        FileHandle.standardError.write(Data("error: \(line)\n".utf8))
    }
}
