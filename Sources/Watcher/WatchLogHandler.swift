import Foundation
import Logging

/// swift-log output on stderr: one readable line per message, or one JSON object per line
/// (`--json-logs`) for log collectors. Never carries patient names: callers log paths, UIDs and hashes.
public struct WatchLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    let label: String
    let json: Bool

    public init(label: String, json: Bool) {
        self.label = label
        self.json = json
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let time = Date().formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt))
        var all = metadata
        if let extra = event.metadata { all.merge(extra) { $1 } }
        let line: String
        if json {
            var object: [String: String] = ["time": time, "level": event.level.rawValue, "message": "\(event.message)", "logger": label]
            for (k, v) in all { object[k] = "\(v)" }
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
            line = String(decoding: data, as: UTF8.self)
        } else {
            let level = event.level.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
            // The message already says in words what the metadata holds for machines (--json-logs).
            line = "\(time) \(level) \(event.message)"
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
