import Foundation
import XRayCore
#if canImport(Glibc)
import Glibc
#endif

/// `cxreview benchmark --watch`: the watcher end to end, as a child process of this one, on
/// generated scans with unique content. Two figures per kind of input:
/// - latency: files dropped one at a time (each renamed into the inbox, as a PACS export does);
///   the time from the drop to its report appearing, which includes the settle interval;
/// - throughput: a batch dropped at once; scans per minute from the drop to the last report.
///
/// `executable` is the `cxreview` binary whose `watch` command is timed.
public struct WatchBenchmark {
    let executable: URL
    let model: URL
    let files: Int
    let threads: Int
    let settle = 2.0
    let singles = 5

    public init(executable: URL, model: URL, files: Int, threads: Int) {
        self.executable = executable
        self.model = model
        self.files = files
        self.threads = threads
    }

    /// Why the benchmark stopped.
    public struct Failure: Error, CustomStringConvertible {
        public let message: String
        public var description: String { message }
    }

    struct Figures {
        var singleLatencies: [Double] = []
        var batchLatencies: [Double] = []
        var batchSeconds = 0.0
        var peakMB: Double?
    }

    /// Prints the table; the caller prints anything after it.
    public func run() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("cxreview-watch-bench-\(getpid())")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: root) }
        print("cxreview benchmark --watch: \(ProcessInfo.processInfo.activeProcessorCount) cores, 1 worker, \(threads) threads per forward pass, settle \(settle) s, model \(model.lastPathComponent)")
        print("  latency: \(singles) files dropped one at a time; throughput: \(files) files dropped at once\n")
        print("  input              one at a time: median drop→report  |  batch: scans/min  median drop→report  |  watcher peak memory")
        for kind in ["PNG 1024x1024", "DICOM 2000x2000"] {
            let dir = root.appendingPathComponent(kind.replacingOccurrences(of: " ", with: "-"))
            let staging = dir.appendingPathComponent("staging")
            try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: true)
            var inputs: [URL] = []
            for i in 0..<(files + singles) {
                let url = staging.appendingPathComponent(kind.hasPrefix("PNG") ? "scan-\(i).png" : "scan-\(i).dcm")
                if kind.hasPrefix("PNG") {
                    try PNGWriter.write(SyntheticScans.image(size: 1024, seed: UInt32(i + 1)), to: url)
                } else {
                    try SyntheticScans.writeDICOM(to: url, seed: UInt32(1000 + i))
                }
                inputs.append(url)
            }
            let f = try measure(inputs, in: dir)
            let batchRate = Double(files) / f.batchSeconds * 60
            print("  \(kind.padding(17))  \(String(format: "%.2f s", Self.median(f.singleLatencies)).padding(32))  |  \(String(format: "%.0f", batchRate).padding(15))  \(String(format: "%.1f s", Self.median(f.batchLatencies)).padding(18))  |  \(f.peakMB.map { String(format: "%.0f MB", $0) } ?? "?")")
        }
    }

    private func measure(_ inputs: [URL], in dir: URL) throws -> Figures {
        let inbox = dir.appendingPathComponent("inbox"), reports = dir.appendingPathComponent("reports")
        try FileManager.default.createDirectory(at: inbox, withIntermediateDirectories: true)
        let child = Process()
        child.executableURL = executable
        child.arguments = ["watch", inbox.path, "--out", reports.path, "--model", model.path, "--settle", "\(settle)",
                           "--threads", "\(threads)", "--status-every", "3600"]
        let log = dir.appendingPathComponent("watch.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        child.standardError = try FileHandle(forWritingTo: log)
        try child.run()
        defer {
            if child.isRunning { kill(child.processIdentifier, SIGKILL) }
        }
        usleep(1_500_000)  // model loaded, initial scan done

        var f = Figures()
        func reportCount() -> Int {
            ((try? FileManager.default.contentsOfDirectory(atPath: reports.path)) ?? []).filter { $0.hasSuffix(".pdf") && !$0.hasPrefix(".") }.count
        }
        func drop(_ url: URL) throws {
            guard rename(url.path, inbox.appendingPathComponent(url.lastPathComponent).path) == 0 else {
                throw Failure(message: "cannot move \(url.path) into the inbox: \(String(cString: strerror(errno)))")
            }
        }
        func waitFor(_ n: Int, timeout: Double) throws -> Date {
            let deadline = Date().addingTimeInterval(timeout)
            while reportCount() < n {
                guard Date() < deadline, child.isRunning else {
                    throw Failure(message: "the watcher did not write \(n) reports in time; its log: \(log.path)")
                }
                usleep(5_000)
            }
            return Date()
        }
        for (i, url) in inputs.prefix(singles).enumerated() {
            let t0 = Date()
            try drop(url)
            f.singleLatencies.append(try waitFor(i + 1, timeout: 120).timeIntervalSince(t0))
        }
        let batch = Array(inputs.dropFirst(singles))
        let t0 = Date()
        for url in batch { try drop(url) }
        var seen = singles
        while seen < inputs.count {
            let t = try waitFor(seen + 1, timeout: 600)
            let now = reportCount()
            for _ in seen..<now { f.batchLatencies.append(t.timeIntervalSince(t0)) }
            seen = now
        }
        f.batchSeconds = Date().timeIntervalSince(t0)
        if let s = try? String(contentsOfFile: "/proc/\(child.processIdentifier)/status", encoding: .utf8),
           let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
           let kb = Double(line.split(separator: " ").dropFirst().first ?? "") {
            f.peakMB = kb / 1024
        }
        kill(child.processIdentifier, SIGTERM)
        child.waitUntilExit()
        return f
    }

    static func median(_ v: [Double]) -> Double {
        v.isEmpty ? .nan : Statistics.median(v)
    }
}

extension String {
    fileprivate func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
