import Foundation
import TestSupport

/// Runs the built `cxreview` binary, as a user would, and captures what it prints.
struct CLIRun {
    let status: Int32
    let stdout: String
    let stderr: String
}

enum CLI {
    /// The package root, found from this file's path.
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A path below the package root; an absolute one (such as `testModel`) as it is.
    static func path(_ relative: String) -> String { relative.hasPrefix("/") ? relative : root.appendingPathComponent(relative).path }

    /// The `cxreview` executable beside the test bundle (SwiftPM builds it with the tests).
    static var executable: URL { BuiltExecutable.cxreview(packageRoot: root) }

    static func run(_ arguments: [String], environment: [String: String] = [:]) throws -> CLIRun {
        var env = ProcessInfo.processInfo.environment
        env["CXREVIEW_MODEL"] = nil
        for (k, v) in environment { env[k] = v }
        let r = try Tool.run(executable, arguments, environment: env, directory: root)
        return CLIRun(status: r.status, stdout: r.stdout, stderr: r.stderr)
    }

    static var testModel: String { TestModel.e2ePath }
}
