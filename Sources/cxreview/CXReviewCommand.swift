import ArgumentParser
import Foundation

@main
struct CXReviewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cxreview",
        abstract: "Chest X-ray review: normal, viral pneumonia or COVID-19. Research use only. Not for diagnostic use.",
        version: CXReviewVersion.description,
        subcommands: [ClassifyCommand.self, TrainCommand.self, EvaluateCommand.self, PreviewCommand.self, BenchmarkCommand.self,
                      CalibrateOODCommand.self, WatchCommand.self, AuditCommand.self, DecodeWorkerCommand.self])

    /// Runs the command (`watch` is asynchronous: its services run in a service group); a
    /// `CommandFailure` becomes one line on stderr and exit code 2.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asynchronous = command as? AsyncParsableCommand {
                try await asynchronous.run()
            } else {
                try command.run()
            }
        } catch let failure as CommandFailure {
            Terminal.error(failure.message)
            Foundation.exit(2)
        } catch {
            exit(withError: error)
        }
    }
}
