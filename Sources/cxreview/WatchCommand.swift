import ArgumentParser
import Foundation
import Logging
import Pipeline
import Reporting
import Watcher

struct WatchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "watch",
        abstract: "Watch a drop folder: classify each scan that arrives, write its report, archive it, audit every step.",
        usage: """
            cxreview watch <inbox> --out <out> [<options>]
                   cxreview watch --config <config> [<inbox>] [--out <out>] [<options>]  (inbox: and out: in the file)
            """,
        discussion: """
            Files are taken once complete (size and time unchanged for --settle seconds, and decodable). \
            Each becomes a PDF report in --out; the input then moves to INBOX/archive/<date>/, or to \
            INBOX/failed/ with <name>.error.txt saying what was wrong. Nothing is deleted or overwritten. \
            The same content dropped twice is archived as a duplicate pointing to the earlier report. \
            Every step is recorded in the audit log (INBOX/.cxreview/audit.jsonl by default; check it with \
            `cxreview audit verify`). After a crash or kill, a restart finishes what was interrupted. \
            SIGINT/SIGTERM finish the file in hand and exit 0. Run it as an ordinary user, not root. \
            Several watchers (on this host or on others sharing the folder) may watch one inbox: each file is \
            claimed by one of them, so every scan gets one report; give each its own --audit. \
            On a slow network share, raise --grace above the longest pause of a writer.
            \(Terminal.disclaimer)
            """)

    @Argument(help: "The drop folder (subfolders included). Required: here, or as inbox: in --config.")
    var inbox: String?

    @Option(name: .long, help: "Folder for the reports. Required: here, or as out: in --config.")
    var out: String?

    @Option(name: .long, help: "YAML file with any of these settings (keys: inbox, out, archive, failed, state, audit, audit_rotate_mb, model, classes, template, saliency, poll, settle, grace, retry, workers, queue, threads, summary_every, json_logs, once, status_every, dicom_out, uid_root, listen, ae_title, allowed_calling_aes, study_settle, send_to, called_ae); flags override it.")
    var config: String?

    @Option(name: .long, help: "Archive folder. Default: INBOX/archive.")
    var archive: String?
    @Option(name: .long, help: "Folder for inputs that failed. Default: INBOX/failed.")
    var failed: String?
    @Option(name: .long, help: "Folder for the watcher's own state. Default: INBOX/.cxreview.")
    var state: String?
    @Option(name: .long, help: "Audit log. Default: STATE/audit.jsonl.")
    var audit: String?
    @Option(name: .long, help: ArgumentHelp("At start, move an audit log of at least MB megabytes aside (to <name>-<UTC time>.jsonl, with its head file) and start a new one whose first record names it, its SHA-256 and its last hash.", valueName: "MB"))
    var auditRotateMb: Double?
    @Option(name: .long, help: "Model file. Default: $CXREVIEW_MODEL, then models/cxreview-resnet18.safetensors.")
    var model: String?
    @Option(name: .long, help: ArgumentHelp("Class names, comma-separated in logit order, for a model file without a cxreview config (a plain PyTorch state_dict). Default for 3 outputs: normal,viral,covid.", valueName: "names"))
    var classes: String?
    @Option(name: .long, help: "Report template (YAML).")
    var template: String?
    @Option(name: .long, help: "Rescan every SECONDS instead of using inotify (for network shares that send no events).")
    var poll: Double?
    @Option(name: .long, help: "Seconds a file's size and time must hold still before it is taken. (default: 2)")
    var settle: Double?
    @Option(name: .long, help: "A file that does not decode is retried until it is this many seconds old; on a slow network share, or with a writer that pauses, set it above the longest pause. A file in failed/ that changes later is moved back into the inbox. (default: 30)")
    var grace: Double?
    @Option(name: .long, help: "First wait in seconds after a failure of the surroundings (doubles, up to 300). (default: 10)")
    var retry: Double?
    @Option(name: .long, help: "Worker threads. (default: 1)")
    var workers: Int?
    @Option(name: .long, help: "Files queued for the workers at most; more wait in the inbox. (default: 16)")
    var queue: Int?
    @Option(name: .long, help: "Threads per forward pass. (default: 2)")
    var threads: Int?
    @Option(name: .long, help: "Write a batch summary PDF (triage worklist) of the scans done, every SECONDS.")
    var summaryEvery: Double?
    @Option(name: .long, help: "Saliency map in the reports: layer4 (class activation map) or layer3 (Grad-CAM). (default: layer4)")
    var saliency: String?
    @Option(name: .long, help: "Seconds between status lines. (default: 30)")
    var statusEvery: Double?
    @Option(name: .long, help: "Also write each DICOM input's results as DICOM (Encapsulated PDF, Secondary Capture, TID 1500 SR) into this folder, in the input's study.")
    var dicomOut: String?
    @Option(name: .long, help: "With --dicom-out: your organisation's DICOM UID root (digits and dots, at most 43 characters). Default: 2.25 UUID-derived UIDs.")
    var uidRoot: String?
    @Option(name: .long, help: ArgumentHelp("Receive scans over DICOM (C-STORE, C-ECHO) on this port, into INBOX/received/<study>/.", valueName: "port"))
    var listen: Int?
    @Option(name: .long, help: "This application's AE title: the listener's, and the calling title when sending. (default: CXREVIEW)")
    var aeTitle: String?
    @Option(name: .long, help: "A received study is processed once no instance of it arrived for this many seconds. (default: 10)")
    var studySettle: Double?
    @Option(name: .long, help: ArgumentHelp("Send the DICOM results to this PACS (C-STORE), retried with back-off while it is down.", valueName: "host:port"))
    var sendTo: String?
    @Option(name: .long, help: "The PACS's AE title, with --send-to.")
    var calledAe: String?
    @Flag(name: .long, help: "Log JSON lines on stderr instead of text.")
    var jsonLogs = false
    @Flag(name: .long, help: "Process the files present, then exit (exit code 1 when some had to stay in the inbox).")
    var once = false

    func run() async throws {
        var s = WatchSettings()
        if let config {
            do { s = try WatchSettings.load(URL(fileURLWithPath: config)) } catch {
                throw CommandFailure(message: error.description)
            }
        }
        if let inbox { s.inbox = inbox }
        if let out { s.reports = out }
        if let archive { s.archive = archive }
        if let failed { s.failed = failed }
        if let state { s.state = state }
        if let audit { s.audit = audit }
        if let auditRotateMb { s.auditRotateMB = auditRotateMb }
        if let model { s.model = model }
        if let classes {
            guard let names = LoadedModel.classNames(classes) else {
                throw ValidationError("--classes needs distinct names separated by commas (e.g. normal,viral,covid), not '\(classes)'.")
            }
            s.classes = names
        }
        if let template { s.template = template }
        if let poll { s.poll = poll }
        if let settle { s.settle = settle }
        if let grace { s.grace = grace }
        if let retry { s.retry = retry }
        if let workers { s.workers = workers }
        if let queue { s.queue = queue }
        if let threads { s.threads = threads }
        if let statusEvery { s.statusEvery = statusEvery }
        if let summaryEvery { s.summaryEvery = summaryEvery }
        if let saliency { s.saliency = saliency }
        if let dicomOut { s.dicomOut = dicomOut }
        if let uidRoot { s.uidRoot = uidRoot }
        if let listen { s.listen = listen }
        if let aeTitle { s.aeTitle = aeTitle }
        if let studySettle { s.studySettle = studySettle }
        if let sendTo {
            guard let hp = WatchSettings.hostPort(sendTo) else { throw ValidationError("--send-to must be HOST:PORT (e.g. pacs.example.org:104), not '\(sendTo)'.") }
            s.sendTo = hp
        }
        if let calledAe { s.calledAE = calledAe }
        if jsonLogs { s.jsonLogs = true }
        if once { s.once = true }
        guard !s.inbox.isEmpty else { throw ValidationError("name the inbox folder (cxreview watch INBOX --out REPORTS), or set inbox: in --config.") }
        guard !s.reports.isEmpty else { throw ValidationError("name the reports folder with --out, or set out: in --config.") }
        guard ["layer4", "layer3"].contains(s.saliency) else { throw ValidationError("--saliency must be layer4 or layer3.") }
        guard (s.summaryEvery ?? 1) > 0 else { throw ValidationError("--summary-every must be more than 0 seconds.") }
        guard (1...16).contains(s.workers) else { throw ValidationError("--workers must be between 1 and 16.") }
        guard (s.auditRotateMB ?? 0) >= 0 else { throw ValidationError("--audit-rotate-mb must be 0 or more.") }
        guard (1...10000).contains(s.queue) else { throw ValidationError("--queue must be between 1 and 10000.") }
        if let problem = s.dicomProblem { throw ValidationError(problem + ".") }
        guard s.settle >= 0, s.grace >= 0, (s.poll ?? 1) > 0, s.retry > 0 else {
            throw ValidationError("--settle and --grace must be 0 or more; --poll and --retry more than 0.")
        }

        let json = s.jsonLogs
        LoggingSystem.bootstrap { WatchLogHandler(label: $0, json: json) }
        let logger = Logger(label: "cxreview.watch")
        logger.info("\(Terminal.disclaimer)")
        do {
            let code = try await WatchService.run(s, loader: IsolatedScanLoader(command: DecodeWorkerCommand.command), logger: logger)
            if code != 0 { throw ExitCode(code) }
        } catch let error as WatchError {
            throw CommandFailure(message: error.description)
        }
    }
}
