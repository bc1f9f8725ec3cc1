import Foundation

/// The `cxreview` executable SwiftPM builds beside the test bundle, for tests that run it as a
/// user would (or as its own decoder child).
public enum BuiltExecutable {
    /// Found from the test binary's folder upwards; else `.build/debug/cxreview` of `packageRoot`.
    public static func cxreview(packageRoot: URL) -> URL {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("cxreview")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return packageRoot.appendingPathComponent(".build/debug/cxreview")
    }
}
