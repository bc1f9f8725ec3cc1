import Benchmarks
import Audit
import DICOMDecoding
import Foundation
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// A watcher's folders in a fresh temporary directory, and the real `cxreview watch` process on them.
///
/// When the tests run as root, the watcher runs as `nobody` (through setpriv), as a deployment should:
/// then file permissions mean what they say, so an unreadable input or a read-only reports folder
/// can be made with chmod.
final class WatchFolder {
    let root: URL
    var inbox: URL { root.appendingPathComponent("inbox") }
    var reports: URL { root.appendingPathComponent("reports") }
    var archive: URL { inbox.appendingPathComponent("archive") }
    var failed: URL { inbox.appendingPathComponent("failed") }
    var auditLog: URL { inbox.appendingPathComponent(".cxreview/audit.jsonl") }

    static let runsAsRoot = geteuid() == 0
    static let nobody: uid_t = 65534

    /// The package root, found from this file's path.
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static var fixtureModel: URL { URL(fileURLWithPath: TestModel.e2ePath) }
    /// The test model, copied beside the folders so the watcher's user can read it whatever the checkout's permissions.
    var model: String { root.appendingPathComponent("model.safetensors").path }

    /// The `cxreview` executable beside the test bundle (SwiftPM builds it with the tests).
    static var executable: URL { BuiltExecutable.cxreview(packageRoot: packageRoot) }

    init(_ name: String) throws {
        root = URL(fileURLWithPath: "/tmp").appendingPathComponent("cxr-watch-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: inbox, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: reports, withIntermediateDirectories: true)
        giveToWatcher(root.path)
        giveToWatcher(inbox.path)
        giveToWatcher(reports.path)
        try FileManager.default.copyItem(at: Self.fixtureModel, to: URL(fileURLWithPath: model))
        chmod(model, 0o644)
    }

    /// Set CXR_KEEP_WATCH_FOLDERS=1 to keep the folders for inspection.
    deinit {
        if ProcessInfo.processInfo.environment["CXR_KEEP_WATCH_FOLDERS"] == nil {
            _ = try? FileManager.default.removeItem(at: root)
        }
    }

    /// Makes a path the watcher's user's (when that is not us).
    func giveToWatcher(_ path: String) {
        if Self.runsAsRoot { chown(path, Self.nobody, gid_t(Self.nobody)) }
    }

    /// Drops `data` into the inbox as `name` (optionally in a subfolder), written in one go.
    @discardableResult
    func drop(_ name: String, _ data: Data, mode: mode_t = 0o644) throws -> URL {
        let url = inbox.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        giveToWatcher(url.deletingLastPathComponent().path)
        try data.write(to: url)
        chmod(url.path, mode)
        return url
    }

    /// Regular files under `folder`, relative to it, skipping the watcher's own folders in the inbox.
    func files(in folder: URL, skipOwn: Bool = false) -> [String] {
        guard let e = FileManager.default.enumerator(atPath: folder.path) else { return [] }
        var out: [String] = []
        while let p = e.nextObject() as? String {
            if skipOwn, p == "archive" || p == "failed" || p == ".cxreview" { e.skipDescendants(); continue }
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: folder.appendingPathComponent(p).path, isDirectory: &isDir), !isDir.boolValue {
                out.append(p)
            }
        }
        return out.sorted()
    }

    /// Files still waiting in the inbox.
    var waiting: [String] { files(in: inbox, skipOwn: true) }

    func audit() throws -> AuditVerification { try AuditReader.verify(auditLog) }

    /// Starts `cxreview watch INBOX --out REPORTS` with the test model and `extra` flags.
    func start(_ extra: [String] = [], environment: [String: String] = [:]) throws -> WatchProcess {
        try WatchProcess(arguments: ["watch", inbox.path, "--out", reports.path, "--model", model, "--status-every", "5"] + extra,
                         log: root.appendingPathComponent("watch-\(UUID().uuidString.prefix(6)).log"), environment: environment)
    }

    /// Runs `cxreview` (as the test user) to completion.
    func cxreview(_ arguments: [String]) throws -> Tool.Output {
        try Tool.run(Self.executable, arguments)
    }

    /// Waits up to `seconds` for `condition`, checking every 0.2 s.
    @discardableResult
    func wait(upTo seconds: Double, _ condition: () throws -> Bool) rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            usleep(200_000)
        }
        return try condition()
    }
}

/// A running `cxreview watch`, its stderr going to a file.
final class WatchProcess {
    let process = Process()
    let log: URL

    init(arguments: [String], log: URL, environment: [String: String] = [:]) throws {
        self.log = log
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        if WatchFolder.runsAsRoot {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            process.arguments = ["--reuid=\(WatchFolder.nobody)", "--regid=\(WatchFolder.nobody)", "--clear-groups", "--",
                                 WatchFolder.executable.path] + arguments
        } else {
            process.executableURL = WatchFolder.executable
            process.arguments = arguments
        }
        var env = ProcessInfo.processInfo.environment
        env["CXREVIEW_MODEL"] = nil
        env.merge(environment) { $1 }
        process.environment = env
        let handle = try FileHandle(forWritingTo: log)
        process.standardError = handle
        process.standardOutput = handle
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// Peak resident memory so far (VmHWM), in MB.
    var peakMB: Double? {
        guard let s = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
              let line = s.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kb = Double(line.split(separator: " ").dropFirst().first ?? "") else { return nil }
        return kb / 1024
    }

    func signal(_ s: Int32) { kill(pid, s) }

    /// Waits for exit up to `seconds`; kills it and returns nil if it does not stop.
    func waitForExit(upTo seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning, Date() < deadline { usleep(100_000) }
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        return process.terminationStatus
    }

    var output: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

    /// Log lines at warning level or above.
    var warnings: [String] {
        output.split(separator: "\n").map(String.init).filter { line in
            ["warning", "error", "critical"].contains { line.contains(" \($0) ") }
        }
    }

    /// Waits until the watcher says it is watching (model loaded, initial scan done).
    @discardableResult
    func waitUntilWatching(upTo seconds: Double = 120) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline, process.isRunning {
            if output.contains(" watching ") { return true }
            usleep(100_000)
        }
        return output.contains(" watching ")
    }
}

/// Real inputs with unique content (so none is a duplicate of another), and broken ones.
enum Inputs {
    static func fixture(_ path: String) throws -> Data {
        try Data(contentsOf: WatchFolder.packageRoot.appendingPathComponent("Tests/Fixtures/" + path))
    }

    /// A 16-bit DICOM (DCMTK writes it) whose pixels and UIDs are unique to `seed`.
    static func dicom(_ seed: Int, size: Int = 256, patientName: String = "") throws -> Data {
        var pixels = [UInt16](repeating: 0, count: size * size)
        var state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 | 1
        for y in 0..<size {
            for x in 0..<size {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                let body = 2000.0 * exp(-pow(Double(x - size / 2) / Double(size / 3), 2) - pow(Double(y - size / 2) / Double(size / 2), 2))
                pixels[y * size + x] = UInt16(min(4095, body + Double(state >> 56)))
            }
        }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cxr-dicom-\(UUID().uuidString).dcm")
        defer { try? FileManager.default.removeItem(at: url) }
        try DICOMWriter.writeMonochrome16(width: size, height: size, pixels: pixels, bitsStored: 12,
                                          windowCenter: 1024, windowWidth: 2048, patientName: patientName, to: url)
        return try Data(contentsOf: url)
    }

    /// A real chest X-ray PNG with a tEXt chunk that makes its bytes unique.
    static func png(_ seed: Int) throws -> Data {
        var bytes = [UInt8](try fixture("images/covid_grey.jpg.L.png"))
        let iend = bytes.count - 12
        let payload = Array("Comment\u{0}cxreview test \(seed)".utf8)
        var chunk = withUnsafeBytes(of: UInt32(payload.count).bigEndian, Array.init)
        let typed = Array("tEXt".utf8) + payload
        chunk += typed
        chunk += withUnsafeBytes(of: crc32(typed).bigEndian, Array.init)
        bytes.insert(contentsOf: chunk, at: iend)
        return Data(bytes)
    }

    /// A real chest X-ray JPEG with a COM segment that makes its bytes unique.
    static func jpeg(_ seed: Int) throws -> Data {
        var bytes = [UInt8](try fixture("images/covid_grey.jpg"))
        let text = Array("cxreview test \(seed)".utf8)
        let length = UInt16(text.count + 2)
        bytes.insert(contentsOf: [0xFF, 0xFE, UInt8(length >> 8), UInt8(length & 0xFF)] + text, at: 2)
        return Data(bytes)
    }

    static func random(_ count: Int, seed: Int) -> Data {
        var state = UInt64(seed) &+ 0x1234_5678
        return Data((0..<count).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(state >> 56)
        })
    }

    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            crc ^= UInt32(b)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
