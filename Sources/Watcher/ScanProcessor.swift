import Audit
import DICOMResults
import Foundation
import Logging
import Pipeline
import Reporting
import Synchronization
import XRayCore
#if canImport(Glibc)
import Glibc
#endif

/// Processes one input end to end: hash → duplicate check → classify → plan → journal → report →
/// archive and audit → outcome. Thread-safe: several workers share one processor.
///
/// It composes the claims on inbox files (shared with other watchers of the inbox), the crash journal,
/// the archiver and the audit trail; the order of the steps is what makes a crash at any point
/// finishable by a restart.
final class ScanProcessor: Sendable {
    let classifier: Classifier
    let writer: ReportWriter
    let hasher: PatientIDHasher
    let settings: WatchSettings
    let modelName: String
    let modelSHA256: String
    let logger: Logger
    /// Claims on inbox files, shared with other watchers of the inbox: which file each has in hand.
    let claims: InboxClaims
    let journal: Journal
    let archiver: Archiver
    let trail: AuditTrail
    /// The DICOM results (`--dicom-out`); nil for none.
    let dicom: DICOMOutput?
    /// Where completed actions queue their DICOM results for the sender (`--send-to`); nil for none.
    let outbox: Outbox?

    /// Failure streaks per inbox path, for the back-off.
    private let retries = Mutex<[String: Int]>([:])
    /// Rows for the next batch summary (`--summary-every`): classified and failed inputs since the last one.
    private let summaryRows = Mutex<[SummaryEntry]>([])

    init(classifier: Classifier, writer: ReportWriter, audit: AuditLog, hasher: PatientIDHasher, settings: WatchSettings,
         modelName: String, modelSHA256: String, logger: Logger, claims: InboxClaims, dicom: DICOMOutput? = nil,
         outbox: Outbox? = nil) {
        self.classifier = classifier
        self.writer = writer
        self.hasher = hasher
        self.settings = settings
        self.modelName = modelName
        self.modelSHA256 = modelSHA256
        self.logger = logger
        self.claims = claims
        journal = Journal(folder: claims.pending)
        archiver = Archiver(paths: settings.paths, logger: logger)
        trail = AuditTrail(log: audit, shared: claims)
        self.dicom = dicom
        self.outbox = outbox
    }

    /// Takes the rows collected since the last call.
    func takeSummaryRows() -> [SummaryEntry] {
        summaryRows.withLock { rows in
            defer { rows.removeAll() }
            return rows
        }
    }

    // MARK: Recovery

    /// Finishes what a watcher that stopped left half done in `folder` (its pending folder); returns the
    /// actions still pending (to retry; the caller moves them to this watcher's pending folder).
    func recover(from folder: String) -> [PendingAction] {
        journal.recover(from: folder, logger: logger) { (action) throws(ActionFailure) in
            archiver.reclaim(action)
            try complete(action)
        }
    }

    /// Retries an action left pending; true once it is done.
    func retryPending(_ action: PendingAction) -> Bool {
        do throws(ActionFailure) {
            try complete(action)
            return true
        } catch {
            return false
        }
    }

    /// See `Archiver.removeStaleTemporaries`.
    func removeStaleTemporaries() { archiver.removeStaleTemporaries() }

    // MARK: Processing

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
            retries.withLock { $0[job.path] = nil }
        case .retry:
            claims.release(relative: job.relative, fileLeftInbox: false, keep: journal.unfinished(for: job.path) != nil)
        case .claimedElsewhere:
            break
        }
        return outcome
    }

    private func processClaimed(_ job: Job) -> Outcome {
        let start = Date()
        if let action = journal.unfinished(for: job.path) {
            do throws(ActionFailure) {
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
                            reason: "the file cannot be read by user \(trail.log.participant.userID) (permission denied); make it readable (e.g. chmod a+r) and drop it into the inbox again")
            }
            if lstat(job.path, &st) != 0 { return .vanished }
            return environmentFailure(job, "cannot read it (\(error.localizedDescription))", audited: true)
        }
        if let earlier = trail.earlierReport(sha256: sha) {
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
        var planned = plan(value, job: job, st: st, sha: sha)
        var action = PendingAction.report(planned)
        // The plan is on disk before anything visible happens: a crash from here on is finished by a restart.
        do throws(FileMove.Failure) {
            try journal.save(action)
        } catch {
            archiver.release(action)
            return environmentFailure(job, "its plan cannot be written to the crash journal (\(error.description))", audited: true)
        }
        let written: ReportWriter.Written
        do throws(PipelineError) {
            written = try writer.writeReport(value, to: URL(fileURLWithPath: planned.report), inputSHA256: sha,
                                             displayPath: job.relative)
        } catch {
            rollBack(action)
            return environmentFailure(job, error.description, audited: true)
        }
        if let dicom, let outputs = planned.dicom {
            do throws(DICOMResultsError) {
                let objects = try dicom.write(value, report: written, reportWriter: writer, planned: outputs)
                for note in objects.notes { logger.notice("\(job.relative): DICOM results: \(note)") }
            } catch {
                if DICOMOutput.isEnvironmental(error) {
                    rollBack(action)
                    return environmentFailure(job, "its DICOM results cannot be written: \(error.description)", audited: true)
                }
                // The header cannot carry the results: the report stands without them, and the journal says so.
                var skipped = planned
                skipped.dicom = nil
                skipped.dicomSkipped = error.description
                action = .report(skipped)
                planned = skipped
                logger.warning("\(job.relative): no DICOM results: \(error.description)")
                do throws(FileMove.Failure) {
                    try journal.save(action)
                } catch {
                    rollBack(action)
                    return environmentFailure(job, "its plan cannot be written to the crash journal (\(error.description))", audited: true)
                }
            }
        }
        let summaryRow = written.summaryEntry
        do throws(ActionFailure) {
            try complete(action)
        } catch {
            journal.keep(action)
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
        let report = archiver.claim { claimed in
            writer.freeName(for: c, scan: value.scan, claimed: claimed, displayPath: job.relative).path
        }
        let destination = archiver.claimDestination(for: job.relative, in: archiver.archiveFolder, suffix: "")
        let probabilities = c.probabilities.map { String(format: "%@=%.4f", $0.className, $0.probability) }
        let patient = metadata.patientID.flatMap { $0.isEmpty ? nil : hasher.token(for: $0) }
        return ReportAction(
            fields: fields(job, st: st, sha: sha, destination: destination), report: report,
            result: .init(predictedClass: c.predictedClass, probabilities: probabilities,
                          studyInstanceUID: metadata.studyInstanceUID, sopInstanceUID: metadata.sopInstanceUID,
                          modality: metadata.modality, patientToken: patient,
                          saliency: value.saliencyMethod.auditName + " of \(c.predictedClass)",
                          // Every warning the report shows (scope, distribution, view, confidence).
                          warnings: c.warnings.map { "\($0.code.rawValue): \($0.message)" }),
            dicom: dicom?.plan(for: value))
    }

    /// Undoes an action that did not commit: the outputs it wrote go, its journal entry and names too.
    private func rollBack(_ action: PendingAction) {
        Journal.rollBack(action)
        journal.remove(action)
        archiver.release(action)
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
        let destination = archiver.claimDestination(for: job.relative, in: settings.paths.failed, suffix: ".error.txt")
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
        let destination = archiver.claimDestination(for: job.relative, in: archiver.archiveFolder, suffix: ".duplicate.txt")
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

    /// Journals an action that writes no report, then completes it.
    private func finish(_ job: Job, _ action: PendingAction, log: () -> Void) -> Outcome {
        do throws(ActionFailure) {
            do throws(FileMove.Failure) {
                try journal.save(action)
            } catch {
                archiver.release(action)
                throw ActionFailure(description: error.description)
            }
            try complete(action)
        } catch {
            journal.keep(action)
            return environmentFailure(job, error.description, audited: true)
        }
        log()
        return outcome(of: action)
    }

    /// Does the visible part of a journalled action, each step repeatable: move the input and write its
    /// note, audit (once per transaction), then take it out of the journal and release its names.
    func complete(_ action: PendingAction) throws(ActionFailure) {
        try archiver.archive(action)
        if let outbox, case let .report(a) = action, let d = a.dicom, d.send {
            do throws(FileMove.Failure) {
                try outbox.enqueue(Outbox.Entry(transaction: action.transaction, relative: action.relative,
                                                studyInstanceUID: a.result.studyInstanceUID, files: d.files))
            } catch {
                throw ActionFailure(description: "its DICOM results cannot be queued for sending (\(error.description))")
            }
        }
        try trail.record(action)
        retries.withLock { $0[action.input] = nil }
        journal.remove(action)
        trail.finished(action)
        archiver.release(action)
    }

    /// A failure of the surroundings (reports folder, archive, disk): the input stays in the inbox,
    /// the failure is audited, and it is retried after a wait that doubles up to five minutes.
    private func environmentFailure(_ job: Job, _ reason: String, audited: Bool, reportWritten: String? = nil) -> Outcome {
        let streak = retries.withLock { r in
            r[job.path, default: 0] += 1
            return r[job.path]!
        }
        let wait = min(settings.retry * pow(2, Double(min(streak - 1, 10))), 300)
        let message = "\(job.relative) was not processed: \(reason). It stays in the inbox and is tried again in \(Int(wait.rounded())) s."
        logger.error("\(message)")
        if audited {
            do throws(AuditError) {
                try trail.recordNotProcessed(job.path, message: message)
            } catch {
                logger.critical("the audit log cannot be written: \(error.description)")
            }
        }
        return .retry(after: wait, reason: reason, environment: true, reportWritten: reportWritten)
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
