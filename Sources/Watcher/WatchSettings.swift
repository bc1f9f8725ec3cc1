import DICOMNetwork
import Foundation
import Pipeline
import Reporting

/// Everything `cxreview watch` can be told, from flags or a YAML file (`--config`); flags win.
public struct WatchSettings: Sendable, Equatable {
    /// The drop folder, watched with its subfolders.
    public var inbox: String = ""
    /// Where reports go.
    public var reports: String = ""
    /// Processed inputs, in a folder per day. Default: INBOX/archive (same file system: moves are renames).
    public var archive: String?
    /// Inputs that could not be processed, each with `<name>.error.txt`. Default: INBOX/failed.
    public var failed: String?
    /// The watcher's own files: pending work, the patient-ID salt. Default: INBOX/.cxreview.
    public var state: String?
    /// The audit log. Default: STATE/audit.jsonl.
    public var audit: String?
    /// At start, an audit log of at least this many megabytes is moved aside and a new one continues its chain.
    public var auditRotateMB: Double?
    public var model: String?
    /// Class names in logit order for a model file without a cxreview config (a plain PyTorch state_dict).
    public var classes: [String]?
    public var template: String?
    /// The saliency map the reports overlay: "layer4" (CAM) or "layer3" (Grad-CAM).
    public var saliency: String = "layer4"
    /// Seconds between full rescans; nil: inotify, with a rescan every `safetyRescan` seconds.
    public var poll: Double?
    /// A file is taken once its size and modification time have not changed for this many seconds.
    public var settle: Double = 2
    /// A file that does not decode is retried until it is this many seconds old (it may still be arriving).
    public var grace: Double = 30
    /// First wait after a failure that is not the input's fault (e.g. reports folder not writable); doubles up to 5 minutes.
    public var retry: Double = 10
    public var workers: Int = 1
    public var queue: Int = 16
    /// Threads per forward pass.
    public var threads: Int = 2
    /// Seconds between batch summaries; nil for none.
    public var summaryEvery: Double?
    public var jsonLogs = false
    public var once = false
    /// Seconds between status lines.
    public var statusEvery: Double = 30

    /// DICOM results of DICOM inputs (Encapsulated PDF, Secondary Capture, TID 1500 SR) into this folder; nil for none.
    public var dicomOut: String?
    /// The organisation's UID root for the results' new UIDs; nil: 2.25 UUID-derived UIDs.
    public var uidRoot: String?
    /// Port of the C-STORE listener (SCP), whose instances go to INBOX/received/<study>/; nil for none.
    public var listen: Int?
    /// This application's AE title: the listener's, and the calling AE title when sending.
    public var aeTitle: String = "CXREVIEW"
    /// Calling AE titles the listener accepts; nil: any.
    public var allowedCallingAEs: [String]?
    /// A received study is processed once no instance of it has arrived for this many seconds.
    public var studySettle: Double = 10
    /// The PACS that receives the DICOM results (C-STORE), as host and port; nil: none are sent.
    public var sendTo: HostPort?
    /// The PACS's AE title.
    public var calledAE: String?

    public static let safetyRescan: Double = 60

    /// A DICOM peer's address.
    public struct HostPort: Sendable, Equatable {
        public var host: String
        public var port: Int
    }

    /// HOST:PORT (a host name, an IPv4 address, or [IPv6]:PORT); nil when it is not that.
    public static func hostPort(_ text: String) -> HostPort? {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else { return nil }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty, !host.contains(where: { $0.isWhitespace }) else { return nil }
        return HostPort(host: host, port: port)
    }

    /// The DICOM settings' consistency: what is wrong and what to do, or nil.
    public var dicomProblem: String? {
        if uidRoot != nil && dicomOut == nil { return "uid root goes with DICOM results: add --dicom-out DIR (or dicom_out:)" }
        if sendTo != nil && dicomOut == nil { return "--send-to sends the DICOM results: add --dicom-out DIR (or dicom_out:)" }
        if sendTo != nil && calledAE == nil { return "--send-to needs the PACS's AE title: add --called-ae TITLE (or called_ae:)" }
        if calledAE != nil && sendTo == nil { return "--called-ae goes with --send-to HOST:PORT" }
        if allowedCallingAEs != nil && listen == nil { return "allowed_calling_aes goes with --listen PORT" }
        for title in [aeTitle] + [calledAE].compactMap({ $0 }) + (allowedCallingAEs ?? []) {
            if let problem = AETitle.problem(title) { return problem }
        }
        if let listen, !(1...65535).contains(listen) { return "--listen needs a port from 1 to 65535, not \(listen)" }
        if studySettle < 0 { return "--study-settle must be 0 or more seconds" }
        return nil
    }

    public init() {}

    static let keys = [
        "inbox", "out", "archive", "failed", "state", "audit", "model", "template", "poll", "settle", "grace", "retry",
        "workers", "queue", "threads", "summary_every", "json_logs", "once", "status_every", "saliency", "classes", "audit_rotate_mb",
        "dicom_out", "uid_root", "listen", "ae_title", "allowed_calling_aes", "study_settle", "send_to", "called_ae",
    ]

    /// Settings from a YAML file; relative paths are taken relative to the file's folder.
    public static func load(_ url: URL) throws(TemplateError) -> WatchSettings {
        let folder = url.deletingLastPathComponent()
        var s = WatchSettings()
        func path(_ v: String) -> String { v.hasPrefix("/") ? v : folder.appendingPathComponent(v).standardized.path }
        for v in try YAMLSettings.read(url, known: keys) {
            func number(min: Double, max: Double) throws(TemplateError) -> Double {
                guard let d = Double(v.value), d >= min, d <= max else {
                    throw YAMLSettings.invalid(v, path: url.path, "\(v.key) must be a number from \(min) to \(max), not '\(v.value)'",
                                               fix: "Write e.g. \(v.key): \(Int(min + 1)).")
                }
                return d
            }
            func flag() throws(TemplateError) -> Bool {
                switch v.value.lowercased() {
                case "true", "yes", "on": return true
                case "false", "no", "off": return false
                default: throw YAMLSettings.invalid(v, path: url.path, "\(v.key) must be true or false, not '\(v.value)'",
                                                    fix: "Write \(v.key): true or \(v.key): false.")
                }
            }
            switch v.key {
            case "inbox": s.inbox = path(v.value)
            case "out": s.reports = path(v.value)
            case "archive": s.archive = path(v.value)
            case "failed": s.failed = path(v.value)
            case "state": s.state = path(v.value)
            case "audit": s.audit = path(v.value)
            case "audit_rotate_mb": s.auditRotateMB = try number(min: 0, max: 1_000_000)
            case "model": s.model = path(v.value)
            case "template": s.template = path(v.value)
            case "classes":
                guard let names = LoadedModel.classNames(v.value) else {
                    throw YAMLSettings.invalid(v, path: url.path, "classes must be distinct names separated by commas, not '\(v.value)'",
                                               fix: "Write e.g. classes: normal,viral,covid (in the model's logit order).")
                }
                s.classes = names
            case "poll": s.poll = try number(min: 0.1, max: 86400)
            case "settle": s.settle = try number(min: 0, max: 3600)
            case "grace": s.grace = try number(min: 0, max: 86400)
            case "retry": s.retry = try number(min: 0.1, max: 3600)
            case "workers": s.workers = Int(try number(min: 1, max: 16))
            case "queue": s.queue = Int(try number(min: 1, max: 10000))
            case "threads": s.threads = Int(try number(min: 1, max: 64))
            case "summary_every": s.summaryEvery = try number(min: 1, max: 86400 * 7)
            case "json_logs": s.jsonLogs = try flag()
            case "once": s.once = try flag()
            case "status_every": s.statusEvery = try number(min: 1, max: 86400)
            case "dicom_out": s.dicomOut = path(v.value)
            case "uid_root": s.uidRoot = v.value
            case "listen": s.listen = Int(try number(min: 1, max: 65535))
            case "ae_title": s.aeTitle = v.value
            case "allowed_calling_aes":
                s.allowedCallingAEs = v.value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            case "study_settle": s.studySettle = try number(min: 0, max: 86400)
            case "send_to":
                guard let hp = hostPort(v.value) else {
                    throw YAMLSettings.invalid(v, path: url.path, "send_to must be HOST:PORT, not '\(v.value)'", fix: "Write e.g. send_to: pacs.example.org:104.")
                }
                s.sendTo = hp
            case "called_ae": s.calledAE = v.value
            case "saliency":
                guard ["layer4", "layer3"].contains(v.value) else {
                    throw YAMLSettings.invalid(v, path: url.path, "saliency must be layer4 or layer3, not '\(v.value)'",
                                               fix: "Write saliency: layer4 (class activation map) or saliency: layer3 (Grad-CAM).")
                }
                s.saliency = v.value
            default: break
            }
        }
        return s
    }

    /// The folders and files, defaults filled in, as absolute paths.
    public struct Paths: Sendable {
        public let inbox: String, reports: String, archive: String, failed: String, state: String, audit: String
        public var pending: String { state + "/pending" }
        /// DICOM results waiting for the sender, and the record of those sent.
        public var outbox: String { state + "/outbox" }
        /// Where the listener writes received instances: a folder per study, inside the inbox.
        public var received: String { inbox + "/received" }
        public var salt: String { state + "/patient-id.salt" }
    }

    public var paths: Paths {
        func absolute(_ p: String) -> String {
            URL(fileURLWithPath: p, relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath)).standardized.path
        }
        let inbox = absolute(inbox)
        let state = absolute(state ?? inbox + "/.cxreview")
        return Paths(inbox: inbox, reports: absolute(reports), archive: absolute(archive ?? inbox + "/archive"),
                     failed: absolute(failed ?? inbox + "/failed"), state: state, audit: absolute(audit ?? state + "/audit.jsonl"))
    }
}
