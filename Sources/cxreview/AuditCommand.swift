import ArgumentParser
import Audit
import Foundation

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check or read the watcher's audit log.",
        subcommands: [Verify.self, Show.self])

    /// A log file, or a folder holding one (an inbox: INBOX/.cxreview/audit.jsonl; or the state folder).
    static func locate(_ given: String?) -> URL {
        let path = given ?? ProcessInfo.processInfo.environment["CXREVIEW_AUDIT"] ?? "audit.jsonl"
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isFolder), isFolder.boolValue {
            for candidate in [".cxreview/audit.jsonl", "audit.jsonl"] {
                let url = URL(fileURLWithPath: path).appendingPathComponent(candidate)
                if FileManager.default.fileExists(atPath: url.path) { return url }
            }
        }
        return URL(fileURLWithPath: path)
    }

    static func read(_ url: URL) throws -> AuditVerification {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CommandFailure(message: "no audit log at \(url.path); give the log file or the inbox folder (cxreview audit verify INBOX/.cxreview/audit.jsonl)")
        }
        do { return try AuditReader.verify(url) } catch { throw CommandFailure(message: error.description) }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the hash chain: every record intact, in order, none missing. Exit code 1 at the first problem.")

        @Argument(help: "The audit log, or the inbox folder. Default: $CXREVIEW_AUDIT, then ./audit.jsonl.")
        var log: String?

        @Option(name: .long, help: "A record hash noted earlier (e.g. the last hash this command printed, kept elsewhere): the log must still hold that record, so it was not rewritten up to there.")
        var anchor: [String] = []

        func run() throws {
            let url = AuditCommand.locate(log)
            let v = try AuditCommand.read(url)
            if let problem = v.problem {
                Terminal.line("audit log \(url.path): FAILED at \(problem)")
                Terminal.line("\(v.records.count) records before it are intact (1…\(v.records.last?.seq ?? 0)).")
                throw ExitCode(1)
            }
            for hash in anchor {
                guard let record = v.records.first(where: { $0.hash == hash.lowercased() }) else {
                    Terminal.line("audit log \(url.path): FAILED: no record has the anchored hash \(hash.prefix(16))…; the chain verifies on its own, so the log was rewritten (or the anchor belongs to another log)")
                    throw ExitCode(1)
                }
                Terminal.line("anchor \(hash.prefix(16))… found: record \(record.seq) of \(record.eventDateTime)")
            }
            let last = v.records.last
            Terminal.line("audit log \(url.path): OK, \(v.records.count) records (1…\(last?.seq ?? 0)), chain intact"
                + (last.map { ", last hash \($0.hash ?? "")" } ?? ""))
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the audit log as a readable table, filtered.")

        @Argument(help: "The audit log, or the inbox folder. Default: $CXREVIEW_AUDIT, then ./audit.jsonl.")
        var log: String?

        @Option(name: .long, help: "Only this event: start, stop, import, accessed, export, alert, begin-transfer, transferred.")
        var event: String?
        @Flag(name: .long, help: "Only failures (outcome 4, 8 or 12).")
        var failures = false
        @Option(name: .long, help: "Only records at or after this UTC time (e.g. 2026-11-22 or 2026-11-22T08:00).")
        var since: String?
        @Option(name: .long, help: "Only records whose objects (file paths, UIDs, hashes) contain this text.")
        var match: String?
        @Flag(name: .long, help: "Print the matching records as JSON lines, as stored.")
        var json = false

        func validate() throws {
            if let event, !["start", "stop", "import", "accessed", "export", "alert", "begin-transfer", "transferred"].contains(event) {
                throw ValidationError("--event must be start, stop, import, accessed, export, alert, begin-transfer or transferred, not \(event).")
            }
        }

        func run() throws {
            let url = AuditCommand.locate(log)
            let v = try AuditCommand.read(url)
            let records = (v.records + v.recordsAfterProblem).filter(keep)
            if json {
                let e = JSONEncoder()
                e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                for r in records { Terminal.line(String(decoding: try e.encode(r), as: UTF8.self)) }
            } else {
                Terminal.line("seq    time (UTC)               event          outcome           what")
                for r in records {
                    let kind = Self.kind(r).padding(toLength: 14, withPad: " ", startingAt: 0)
                    let outcome = "\(r.eventOutcomeIndicator.rawValue) \(r.eventOutcomeIndicator.name)".padding(toLength: 17, withPad: " ", startingAt: 0)
                    let seq = String(r.seq).padding(toLength: 6, withPad: " ", startingAt: 0)
                    Terminal.line("\(seq) \(r.eventDateTime.padding(toLength: 24, withPad: " ", startingAt: 0)) \(kind) \(outcome) \(r.eventOutcomeDescription ?? "")")
                }
            }
            if let problem = v.problem {
                Terminal.warn("the log failed verification at \(problem)")
            }
        }

        static func kind(_ r: AuditRecord) -> String {
            switch r.eventID {
            case .applicationActivity: r.eventTypeCode.contains(.applicationStop) ? "stop" : "start"
            case .import: "import"
            case .dicomInstancesAccessed: "accessed"
            case .export: "export"
            case .securityAlert: "alert"
            case .beginTransferringDICOMInstances: "begin-transfer"
            case .dicomInstancesTransferred: "transferred"
            default: r.eventID.displayName
            }
        }

        func keep(_ r: AuditRecord) -> Bool {
            if let event, Self.kind(r) != event { return false }
            if failures, r.eventOutcomeIndicator == .success { return false }
            if let since, r.eventDateTime < since { return false }
            if let match {
                let texts = r.participantObject.flatMap { [$0.id] + Array($0.detail.values) } + [r.eventOutcomeDescription ?? "", r.transaction ?? ""]
                if !texts.contains(where: { $0.contains(match) }) { return false }
            }
            return true
        }
    }
}
