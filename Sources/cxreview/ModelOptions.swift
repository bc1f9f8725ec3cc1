import ArgumentParser
import Foundation
import Pipeline
import ResNet

/// `--model` and `--threads`, shared by every command that runs the network.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: "Model file (safetensors, torchvision ResNet18 names). Default: $CXREVIEW_MODEL, then models/\(ModelLocator.shippedFileName).")
    var model: String?

    @Option(name: .long, help: "Threads for the forward pass.")
    var threads: Int = 2

    func validate() throws {
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be between 1 and 64, not \(threads).") }
    }

    /// Loads the model or exits with one line that says what is wrong and what to do.
    func load() throws -> (model: ResNet18, url: URL) {
        let url: URL
        do {
            url = try ModelLocator.locate(explicit: model)
        } catch {
            throw CommandFailure(message: error.description)
        }
        do {
            let net = try ResNet18.load(contentsOf: url)
            if net.configuration.trained != true {
                Terminal.warn("model \(url.lastPathComponent) is not a trained model"
                    + (net.configuration.description.map { " (\($0))" } ?? "")
                    + ": its probabilities show the pipeline working, not anything about the scans.")
            }
            return (net, url)
        } catch {
            throw CommandFailure(message: "cannot load model \(url.path): \(error.description)")
        }
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

    static func warn(_ line: String) {
        FileHandle.standardError.write(Data("warning: \(line)\n".utf8))
    }

    static func error(_ line: String) {
        FileHandle.standardError.write(Data("error: \(line)\n".utf8))
    }
}
