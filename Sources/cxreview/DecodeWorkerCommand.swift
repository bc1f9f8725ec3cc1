import ArgumentParser
import Foundation
import Pipeline

/// The decoder child process that `classify` and `watch` start (`IsolatedScanLoader`): not for
/// users, so hidden from the help.
struct DecodeWorkerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode-worker",
        abstract: "Internal: decode the files named on stdin for classify and watch (a crash costs one file).",
        shouldDisplay: false)

    func run() throws {
        DecodeWorker.serve()
    }

    /// How this program runs the worker: its own executable, so the worker is always the same build.
    static var command: [String] {
        let me = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        return [me, "decode-worker"]
    }
}
