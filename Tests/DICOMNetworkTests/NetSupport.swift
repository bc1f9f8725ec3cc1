import DICOMNetwork
import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Fixtures, free loopback ports, a running listener, and DCMTK's command-line tools for the network tests.
enum Net {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func dicom(_ name: String) -> URL { fixtures.appendingPathComponent("dicom").appendingPathComponent(name) }

    /// The path of `tool` on PATH, or nil.
    static func which(_ tool: String) -> String? {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// DCMTK's network tools (apt: dcmtk, installed by scripts/setup.sh).
    static let hasDCMTKTools = ["echoscu", "storescu", "storescp", "dcmdump"].allSatisfy { which($0) != nil }
    static let missingTools = "DCMTK's echoscu/storescu/storescp/dcmdump are not on PATH (apt: dcmtk; scripts/setup.sh)"

    /// A fresh empty folder for one test.
    static func folder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("cxr-net-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Events collected from a listener's callback.
    final class EventLog: @unchecked Sendable {
        private let lock = NSLock()
        private var list: [ListenerEvent] = []
        func append(_ e: ListenerEvent) { lock.withLock { list.append(e) } }
        var events: [ListenerEvent] { lock.withLock { list } }
        var stored: [StoredInstance] {
            events.compactMap { if case let .instanceStored(s) = $0 { return s } else { return nil } }
        }
    }

    /// A listener running on its own thread until `finish()`.
    final class Running: @unchecked Sendable {
        let listener: StorageListener
        let log: EventLog
        let folder: URL
        private let done = DispatchSemaphore(value: 0)
        private let lock = NSLock()
        private var runError: DICOMNetworkError?

        init(aeTitle: String = "CXREVIEW", allowed: [String] = [], folder: URL) throws {
            let log = EventLog()
            self.log = log
            self.folder = folder
            listener = try StorageListener(
                configuration: ListenerConfiguration(port: UInt16(LoopbackPort.free()), aeTitle: aeTitle, allowedCallingAETitles: allowed,
                                                     folder: folder, timeout: .seconds(10)),
                onEvent: { log.append($0) })
            let thread = Thread { [self] in
                do throws(DICOMNetworkError) { try listener.run() } catch { lock.withLock { runError = error } }
                done.signal()
            }
            thread.start()
        }

        var port: String { String(listener.port) }

        /// Stops the listener and waits for `run()` to return; returns the seconds that took and run's error.
        @discardableResult
        func finish() -> (seconds: Double, error: DICOMNetworkError?) {
            let start = Date()
            listener.stop()
            _ = done.wait(timeout: .now() + 10)
            return (Date().timeIntervalSince(start), lock.withLock { runError })
        }
    }

    /// The data set of a DICOM file as dcmdump prints it, every value in full (`+L`), without the file meta
    /// information and without group lengths (which a sender may add or drop).
    static func dataSetDump(_ file: URL) throws -> String {
        let out = try Tool.run("dcmdump", ["+L", "-q", "-Un", file.path])
        guard out.status == 0 else { return "dcmdump failed: \(out.stderr)" }
        let lines = out.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        guard let start = lines.firstIndex(where: { $0.hasPrefix("# Dicom-Data-Set") }) else { return out.stdout }
        // Sequences and items may be re-encoded between explicit and undefined length by a sender (DCMTK does):
        // the same content, so their length notes and delimitation items are left out of the comparison.
        return lines[start...].compactMap { line -> String? in
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.count > 11 && t.hasPrefix("(") && t.dropFirst(5).hasPrefix(",0000)") { return nil }
            if t.contains("Delimitation") || t.hasPrefix("# Used TransferSyntax") { return nil }
            if t.contains("(Sequence with") || t.contains("(Item with") {
                return String(t.prefix { $0 != "(" || t.hasPrefix("(") }.split(separator: "#").first ?? "")
                    .replacingOccurrences(of: "explicit length", with: "length")
                    .replacingOccurrences(of: "undefined length", with: "length")
                    .trimmingCharacters(in: .whitespaces)
            }
            return String(line)
        }.joined(separator: "\n")
    }

    /// One attribute's value as dcmdump prints it (`+P tag`), or nil.
    static func value(_ file: URL, _ tag: String) throws -> String? {
        let out = try Tool.run("dcmdump", ["-q", "-Un", "+P", tag, file.path])
        guard let line = out.stdout.split(separator: "\n").first else { return nil }
        guard let open = line.firstIndex(of: "["), let close = line.firstIndex(of: "]") else {
            // Known UIDs print as =Name: take the word after '='.
            guard let eq = line.firstIndex(of: "=") else { return nil }
            return String(line[line.index(after: eq)...].split(separator: " ").first ?? "")
        }
        return String(line[line.index(after: open)..<close])
    }

    /// The Transfer Syntax UID in a file's meta information (nil if it has none: implicit little endian).
    static func transferSyntax(_ file: URL) throws -> String? {
        let out = try Tool.run("dcmdump", ["-q", "-Un", "+P", "0002,0010", file.path])
        guard let line = out.stdout.split(separator: "\n").first, let open = line.firstIndex(of: "["),
              let close = line.firstIndex(of: "]") else { return nil }
        return String(line[line.index(after: open)..<close]).trimmingCharacters(in: CharacterSet(charactersIn: "\0 "))
    }

    /// Waits until something accepts TCP connections on `port` (a started storescp), up to `seconds`.
    static func waitForListening(_ port: UInt16, seconds: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = port.bigEndian
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
            close(fd)
            if rc == 0 { return true }
            usleep(100_000)
        }
        return false
    }
}
