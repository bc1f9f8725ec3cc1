import Audit
import Foundation
import Logging
import Pipeline
import Reporting
import ResNet
import Synchronization
import XRayCore
#if canImport(Glibc)
import Glibc
#endif

/// One input file taken from the inbox.
struct Job: Sendable {
    let path: String
    let relative: String
    /// When the file arrived (its change time when first seen), for the drop-to-report latency.
    let seen: Date
}

/// A file's size, modification time and inode when it was judged, to notice a later change.
struct FileStamp: Sendable, Equatable {
    let size: Int64
    let mtimeSeconds: Int
    let mtimeNanoseconds: Int
    let inode: UInt64

    init(size: Int64, mtimeSeconds: Int, mtimeNanoseconds: Int, inode: UInt64) {
        self.size = size
        self.mtimeSeconds = mtimeSeconds
        self.mtimeNanoseconds = mtimeNanoseconds
        self.inode = inode
    }

    init(_ st: stat) {
        size = Int64(st.st_size)
        mtimeSeconds = st.st_mtim.tv_sec
        mtimeNanoseconds = st.st_mtim.tv_nsec
        inode = UInt64(st.st_ino)
    }

    init?(path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        self.init(st)
    }
}

/// What became of a job.
enum Outcome: Sendable {
    case reported(report: String, predicted: String)
    /// Moved to `movedTo` in failed/; `judged` is the file as it was judged, to notice a writer that was not done.
    case failed(reason: String, movedTo: String, judged: FileStamp?)
    case duplicate(of: String)
    /// Not done now, through no fault of the input (or the input may still be arriving): try again later.
    /// `reportWritten`: its report exists already; only archiving is left.
    case retry(after: Double, reason: String, environment: Bool, reportWritten: String? = nil)
    /// The file was gone when its turn came.
    case vanished
    /// Another watcher of the same inbox has claimed it.
    case claimedElsewhere
}

/// Processes one input end to end: hash, classify, report, archive (or fail), audit. Thread-safe:
/// several workers share one processor.
final class ScanProcessor: Sendable {
    let classifier: Classifier
    let writer: ReportWriter
    let audit: AuditLog
    let hasher: PatientIDHasher
    let paths: WatchSettings.Paths
    let settings: WatchSettings
    let modelName: String
    let modelSHA256: String
    let logger: Logger
    /// Claims on inbox files, shared with other watchers of the inbox; also the crash journal.
    let claims: InboxClaims
    /// This watcher's unfinished actions (its own folder, so no other watcher finishes them while it lives).
    var pendingFolder: String { claims.pending }

    private struct Index {
        /// Input SHA-256 → the report made for it.
        var reportByHash: [String: String] = [:]
        /// The events of each transaction already in the audit log (event ID codes).
        var audited: [String: Set<String>] = [:]
        /// Names other workers are about to write.
        var claimed: Set<String> = []
        /// Unfinished actions by inbox path.
        var pending: [String: PendingAction] = [:]
        /// Failures streaks per path, for the back-off.
        var retries: [String: Int] = [:]
    }

    private let index = Mutex(Index())

    /// Rows for the next batch summary (`--summary-every`): classified and failed inputs since the last one.
    private let summaryRows = Mutex<[SummaryEntry]>([])

    /// Takes the rows collected since the last call.
    func takeSummaryRows() -> [SummaryEntry] {
        summaryRows.withLock { rows in
            defer { rows.removeAll() }
            return rows
        }
    }

    init(classifier: Classifier, writer: ReportWriter, audit: AuditLog, hasher: PatientIDHasher, settings: WatchSettings,
         modelName: String, modelSHA256: String, logger: Logger, claims: InboxClaims) {
        self.classifier = classifier
        self.writer = writer
        self.audit = audit
        self.hasher = hasher
        self.settings = settings
        self.paths = settings.paths
        self.modelName = modelName
        self.modelSHA256 = modelSHA256
        self.logger = logger
        self.claims = claims
        let records = audit.opened.records + audit.opened.recordsAfterProblem
        index.withLock { ix in
            for r in records {
                if let t = r.transaction { ix.audited[t, default: []].insert(r.eventID.code) }
                guard r.eventID == .export, r.eventOutcomeIndicator == .success,
                      let report = r.participantObject.first(where: { $0.typeCodeRole == 3 }),
                      let sha = r.participantObject.first(where: { $0.typeCodeRole == 4 })?.detail["sha256"] else { continue }
                ix.reportByHash[sha] = report.id
            }
        }
    }

    // MARK: Recovery

    /// Finishes what a watcher that stopped (this one's earlier run, or another that died) left half
    /// done in `folder`; returns the actions still pending (to retry; the caller moves them to this
    /// watcher's pending folder).
    func recover(from folder: String) -> [PendingAction] {
        var left: [PendingAction] = []
        for action in PendingAction.load(in: folder) {
            if let report = action.report, !FileMove.exists(report), FileMove.exists(action.input) {
                // Stopped before the report was complete: nothing visible happened; the input is taken again.
                action.remove(in: folder)
                logger.info("restart: \(action.relative) was interrupted before its report was written; it is processed again")
                continue
            }
            index.withLock { ix in
                ix.claimed.formUnion(action.names)
            }
            do throws(Failure) {
                try complete(action)
                action.remove(in: folder)
                logger.info("restart: finished the interrupted processing of \(action.relative)")
            } catch {
                logger.warning("restart: cannot yet finish \(action.relative): \(error.description)")
                index.withLock { $0.pending[action.input] = action }
                left.append(action)
            }
        }
        return left
    }

    /// Retries an action left pending.
    func retryPending(_ action: PendingAction) -> Bool {
        do throws(Failure) {
            try complete(action)
            return true
        } catch {
            return false
        }
    }

    /// Hidden temporary files (`.<name>.<random>.tmp`) that a killed run left in the reports,
    /// archive and failed folders: never complete, so they go. Only call it when no other watcher of
    /// the inbox is running (the temporaries could be theirs, being written).
    func removeStaleTemporaries() {
        for folder in [paths.reports, paths.archive, paths.failed] {
            guard let e = FileManager.default.enumerator(atPath: folder) else { continue }
            while let relative = e.nextObject() as? String {
                let name = (relative as NSString).lastPathComponent
                guard name.hasPrefix("."), name.hasSuffix(".tmp") else { continue }
                let path = folder + "/" + relative
                if unlink(path) == 0 { logger.info("removed \(path), a temporary file left by an interrupted run") }
            }
        }
    }

    // MARK: Processing

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Claims the file (another watcher of the inbox may have it), processes it, then gives the claim up
    /// unless work on it is still pending here.
    func process(_ job: Job) -> Outcome {
        var st = stat()
        guard lstat(job.path, &st) == 0 else { return .vanished }
        guard let claim = claims.claim(relative: job.relative, inode: UInt64(st.st_ino), size: Int64(st.st_size)) else {
            return .claimedElsewhere
        }
        let outcome = claim.crashes >= InboxClaims.crashesBeforeSetAside
            ? fail(job, st: st, sha: try? ContentHash.sha256(of: URL(fileURLWithPath: job.path)), stage: "decode",
                   reason: "it stopped the decoder: the watcher stopped \(claim.crashes) times while this file was in hand (it may crash the decoder, or make it run out of memory), so it was set aside; check the file, re-export it if it is damaged, and drop it into the inbox again")
            : processClaimed(job)
        switch outcome {
        case .reported, .failed, .duplicate, .vanished:
            claims.release(relative: job.relative, fileLeftInbox: true, keep: false)
            index.withLock { $0.retries[job.path] = nil }
        case .retry:
            claims.release(relative: job.relative, fileLeftInbox: false, keep: index.withLock { $0.pending[job.path] != nil })
        case .claimedElsewhere:
            break
        }
        return outcome
    }

    private func processClaimed(_ job: Job) -> Outcome {
        let start = Date()
        if let action = index.withLock({ $0.pending[job.path] }) {
            do throws(Failure) {
                try complete(action)
                return outcome(of: action)
            } catch {
                return environmentFailure(job, error.description, audited: false, reportWritten: action.report)
            }
        }
        var st = stat()
        guard lstat(job.path, &st) == 0 else { return .vanished }
        Self.testCrashHook(job.relative)
        let url = URL(fileURLWithPath: job.path)
        let sha: String
        do {
            sha = try ContentHash.sha256(of: url)
        } catch {
            if access(job.path, R_OK) != 0, errno == EACCES {
                return fail(job, st: st, sha: nil, stage: "read",
                            reason: "the file cannot be read by user \(audit.participant.userID) (permission denied); make it readable (e.g. chmod a+r) and drop it into the inbox again")
            }
            if lstat(job.path, &st) != 0 { return .vanished }
            return environmentFailure(job, "cannot read it (\(error.localizedDescription))", audited: true)
        }
        if let earlier = index.withLock({ $0.reportByHash[sha] }) ?? claims.reportedBefore(sha256: sha) {
            return duplicate(job, st: st, sha: sha, earlierReport: earlier)
        }

        let value: ClassifiedScan
        switch classifier.classifyForReport([url], saliency: writer.saliency)[0] {
        case let .success(v):
            value = v
        case let .failure(error):
            if error.stage == .classify { return environmentFailure(job, error.description, audited: true) }
            let age = Date().timeIntervalSince1970 - Double(st.st_mtim.tv_sec)
            if age < settings.grace {
                logger.debug("\(job.relative) does not decode yet (\(error.description)); it may still be arriving, retrying")
                return .retry(after: max(settings.settle, 1), reason: error.description, environment: false)
            }
            return fail(job, st: st, sha: sha, stage: error.stage.rawValue, reason: error.description)
        }
        let planned = plan(value, job: job, st: st, sha: sha)
        let action = PendingAction.report(planned)
        // The plan is on disk before anything visible happens: a crash from here on is finished by a restart.
        let summaryRow: SummaryEntry
        do throws(PipelineError) {
            do throws(FileMove.Failure) {
                try action.save(in: pendingFolder)
            } catch {
                throw PipelineError(stage: .report, file: job.path, underlying: InputError.unreadable(file: pendingFolder, reason: error.description))
            }
            summaryRow = try writer.writeReport(value, to: URL(fileURLWithPath: planned.report), inputSHA256: sha,
                                                displayPath: job.relative).summaryEntry
        } catch {
            action.remove(in: pendingFolder)
            release(action)
            return environmentFailure(job, error.description, audited: true)
        }
        do throws(Failure) {
            try complete(action)
        } catch {
            index.withLock { $0.pending[job.path] = action }
            return environmentFailure(job, error.description + " (the report is written; archiving is retried)", audited: true,
                                      reportWritten: planned.report)
        }
        let seconds = Date().timeIntervalSince(start)
        if settings.summaryEvery != nil { summaryRows.withLock { $0.append(summaryRow) } }
        logger.info("reported \(job.relative) → \(planned.report): \(planned.result.probabilities.joined(separator: " ")) (\(String(format: "%.2f", seconds)) s)",
                    metadata: ["event": "reported", "file": "\(job.relative)", "report": "\(planned.report)", "sha256": "\(sha)",
                               "class": "\(planned.result.predictedClass)", "seconds": "\(String(format: "%.3f", seconds))"])
        return outcome(of: action)
    }

    /// The report action for a classified scan: a free report name and archive destination (claimed
    /// until released) and what the audit records will say.
    private func plan(_ value: ClassifiedScan, job: Job, st: stat, sha: String) -> ReportAction {
        let c = value.classification, metadata = value.scan.metadata
        let reportURL = index.withLock { ix in
            let u = writer.freeName(for: c, scan: value.scan, claimed: ix.claimed, displayPath: job.relative)
            ix.claimed.insert(u.path)
            return u
        }
        let destination = claimDestination(job, folder: archiveFolder(), suffix: "")
        let probabilities = c.probabilities.map { String(format: "%@=%.4f", $0.className, $0.probability) }
        let patient = metadata.patientID.flatMap { $0.isEmpty ? nil : hasher.token(for: $0) }
        return ReportAction(
            fields: fields(job, st: st, sha: sha, destination: destination), report: reportURL.path,
            result: .init(predictedClass: c.predictedClass, probabilities: probabilities,
                          studyInstanceUID: metadata.studyInstanceUID, sopInstanceUID: metadata.sopInstanceUID,
                          modality: metadata.modality, patientToken: patient,
                          saliency: value.saliencyMethod.auditName + " of \(c.predictedClass)",
                          // Every warning the report shows (scope, distribution, view, confidence).
                          warnings: c.warnings.map { "\($0.code.rawValue): \($0.message)" }))
    }

    /// The fields of a new transaction on the input as judged (`st`).
    private func fields(_ job: Job, st: stat, sha: String, destination: String) -> ActionFields {
        ActionFields(transaction: UUID().uuidString.lowercased(), input: job.path, relative: job.relative, sha256: sha,
                     size: Int(st.st_size), device: UInt64(st.st_dev), inode: UInt64(st.st_ino), destination: destination,
                     model: modelName, modelSHA256: modelSHA256)
    }

    private func outcome(of action: PendingAction) -> Outcome {
        switch action {
        case let .report(a): .reported(report: a.report, predicted: a.result.predictedClass)
        case let .failed(a): .failed(reason: a.reason, movedTo: a.fields.destination, judged: a.judged)
        case let .duplicate(a): .duplicate(of: a.earlierReport)
        }
    }

    /// The input goes to failed/ with `<name>.error.txt`, unless it changed since it was judged (then a
    /// writer was not done with it: it is retried).
    private func fail(_ job: Job, st: stat, sha: String?, stage: String, reason: String) -> Outcome {
        let judged = FileStamp(st)
        let now = FileStamp(path: job.path)
        if now == nil { return .vanished }
        if now != judged || (sha != nil && sha != (try? ContentHash.sha256(of: URL(fileURLWithPath: job.path)))) {
            logger.info("\(job.relative) changed while it was being judged (\(reason)); it is still being written, retrying")
            return .retry(after: max(settings.settle, 1), reason: reason, environment: false)
        }
        let destination = claimDestination(job, folder: paths.failed, suffix: ".error.txt")
        let note = """
            CXReview could not process this file. Research use only. Not for diagnostic use.

            File:      \(job.relative)
            SHA-256:   \(sha ?? "(unreadable)")
            Size:      \(st.st_size) bytes
            Failed at: \(AuditLog.timestamp(Date())), stage: \(stage)

            What is wrong: \(reason)

            The file is kept here unchanged. Fix or re-export it, then drop it into the inbox again
            (a copy, or move it back); it is then processed as a new file.

            """
        let action = PendingAction.failed(FailedAction(
            fields: fields(job, st: st, sha: sha ?? "", destination: destination), notePath: destination + ".error.txt",
            note: note, reason: reason, judged: judged))
        if settings.summaryEvery != nil {
            summaryRows.withLock { $0.append(SummaryEntry(file: job.relative, outcome: .failed(reason: reason))) }
        }
        return finish(job, action) {
            logger.warning("failed \(job.relative) → \(destination): \(reason)",
                           metadata: ["event": "failed", "file": "\(job.relative)", "moved_to": "\(destination)", "stage": "\(stage)"])
        }
    }

    private func duplicate(_ job: Job, st: stat, sha: String, earlierReport: String) -> Outcome {
        let destination = claimDestination(job, folder: archiveFolder(), suffix: ".duplicate.txt")
        let note = """
            This file has the same content (SHA-256 \(sha)) as a file CXReview has already reported.
            No new report was made; the earlier report is:
            \(earlierReport)

            Research use only. Not for diagnostic use.

            """
        let action = PendingAction.duplicate(DuplicateAction(
            fields: fields(job, st: st, sha: sha, destination: destination), notePath: destination + ".duplicate.txt",
            note: note, earlierReport: earlierReport))
        return finish(job, action) {
            logger.info("duplicate \(job.relative) → \(destination): same content as the input of \(earlierReport)",
                        metadata: ["event": "duplicate", "file": "\(job.relative)", "moved_to": "\(destination)", "report": "\(earlierReport)", "sha256": "\(sha)"])
        }
    }

    private func finish(_ job: Job, _ action: PendingAction, log: () -> Void) -> Outcome {
        do throws(Failure) {
            do throws(FileMove.Failure) {
                try action.save(in: pendingFolder)
            } catch {
                release(action)
                throw Failure(description: error.description)
            }
            try complete(action)
        } catch {
            index.withLock { $0.pending[job.path] = action }
            return environmentFailure(job, error.description, audited: true)
        }
        log()
        return outcome(of: action)
    }

    /// Does the visible part of an action, each step repeatable: move the input, write the note,
    /// audit (once per transaction), then forget the action.
    func complete(_ action: PendingAction) throws(Failure) {
        if let id = FileMove.identity(action.input), id == (action.fields.device, action.fields.inode) {
            do throws(FileMove.Failure) {
                try FileMove.move(action.input, to: action.destination)
            } catch {
                throw Failure(description: error.description)
            }
        } else if !FileMove.exists(action.destination) {
            // Neither in the inbox nor moved: it was taken away by someone else before it was archived.
            logger.warning("\(action.relative) disappeared from the inbox before it was archived")
        }
        if let note = action.note {
            do throws(FileMove.Failure) {
                try FileMove.writeNew(note.path, note.text)
            } catch {
                throw Failure(description: error.description)
            }
        }
        // Only the records not yet written: a crash may have cut the log after some of them.
        let written = index.withLock { $0.audited[action.transaction] ?? [] }
        let reportSHA = action.report.flatMap { try? ContentHash.sha256(of: URL(fileURLWithPath: $0)) }
        let missing = action.auditEvents(reportSHA256: reportSHA).filter { !written.contains($0.eventID.code) }
        if !missing.isEmpty {
            do throws(AuditError) {
                try audit.append(missing)
            } catch {
                throw Failure(description: error.description)
            }
        }
        index.withLock { ix in
            ix.audited[action.transaction, default: []].formUnion(missing.map(\.eventID.code))
        }
        // Recorded on disk for every watcher of the inbox; kept in memory only if that fails, so memory
        // does not grow with every scan reported.
        if let report = action.report, !claims.recordReport(sha256: action.fields.sha256, report: report) {
            index.withLock { $0.reportByHash[action.fields.sha256] = report }
        }
        index.withLock { ix in
            ix.pending[action.input] = nil
            ix.retries[action.input] = nil
            ix.audited[action.transaction] = nil  // done: never completed again, so its events need not be remembered
        }
        action.remove(in: pendingFolder)
        release(action)
    }

    private func release(_ action: PendingAction) {
        index.withLock { ix in
            ix.claimed.subtract(action.names)
        }
    }

    /// A failure of the surroundings (reports folder, archive, disk): the input stays in the inbox,
    /// the failure is audited, and it is retried after a wait that doubles up to five minutes.
    private func environmentFailure(_ job: Job, _ reason: String, audited: Bool, reportWritten: String? = nil) -> Outcome {
        let streak = index.withLock { ix in
            ix.retries[job.path, default: 0] += 1
            return ix.retries[job.path]!
        }
        let wait = min(settings.retry * pow(2, Double(min(streak - 1, 10))), 300)
        let message = "\(job.relative) was not processed: \(reason). It stays in the inbox and is tried again in \(Int(wait.rounded())) s."
        logger.error("\(message)")
        if audited {
            do throws(AuditError) {
                try audit.append([AuditEvent(
                    eventID: .import, action: .create, outcome: .majorFailure, outcomeDescription: message,
                    objects: [.file(path: job.path, sha256: nil, role: 4)])])
            } catch {
                logger.critical("the audit log cannot be written: \(error.description)")
            }
        }
        return .retry(after: wait, reason: reason, environment: true, reportWritten: reportWritten)
    }

    /// `archive/<UTC date>`.
    private func archiveFolder() -> String {
        paths.archive + "/" + String(AuditLog.timestamp(Date()).prefix(10))
    }

    /// A free path for the input under `folder`, keeping its subfolders in the inbox; claimed until released.
    private func claimDestination(_ job: Job, folder: String, suffix: String) -> String {
        let sub = (job.relative as NSString).deletingLastPathComponent
        let dir = sub.isEmpty ? folder : folder + "/" + sub
        return index.withLock { ix in
            let p = FileMove.freeName((job.relative as NSString).lastPathComponent, in: dir, claimed: ix.claimed, suffix: suffix)
            ix.claimed.insert(p)
            return p
        }
    }

    /// Test hook, not a user setting: when the environment variable `CXR_TEST_CRASH_ON` is set and the
    /// file's inbox path contains its value, the process aborts here, with the file claimed and in hand,
    /// as a decoder crash would. The tests of the crash journal need a file that stops the process, and no
    /// input can do that on purpose; an environment variable is set only by whoever starts the process,
    /// never by a file dropped into the inbox.
    static func testCrashHook(_ relative: String) {
        guard let value = getenv("CXR_TEST_CRASH_ON") else { return }
        let needle = String(cString: value)
        guard !needle.isEmpty, relative.contains(needle) else { return }
        abort()
    }
}
