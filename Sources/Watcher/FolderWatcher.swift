import Audit
import Foundation
import Logging
import Pipeline
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The drop-folder watcher, a service: finds complete files in the inbox (inotify, an initial scan,
/// rescans, or polling), queues them (bounded) for the workers (`ProcessingWorkers`), takes their
/// outcomes, and retries what could not be done yet.
///
/// Its loop is blocking (poll(2) on inotify and a wake pipe), so it runs on a thread of its own,
/// bridged to `run()`. A graceful shutdown (or cancellation) sets `stopRequested` and writes to the
/// wake pipe; the loop then returns. With `once` it returns by itself when the files present are done.
/// After the service group has ended, `finish()` takes the last outcomes and audits the stop.
///
/// The inbox state (candidates, counts, …) is touched only by the loop's thread, and by `finish()` once
/// `run()` has returned: other threads reach the watcher only through `stop()` and `deliver(_:_:at:)`,
/// which are safe from any thread.
final class FolderWatcher: Service, @unchecked Sendable, CustomStringConvertible {
    let settings: WatchSettings
    let paths: WatchSettings.Paths
    let processor: ScanProcessor
    let audit: AuditLog
    let logger: Logger
    let scanner: InboxScanner
    /// The workers' queue: the workers' service closes it when it stops.
    let queue: WorkQueue<Job>
    /// Set by a graceful shutdown or cancellation; the loop then returns.
    private let stopRequested = Atomic<Bool>(false)
    /// Written to wake the loop at once: by the workers (an outcome is ready) and by the shutdown handler.
    private let wakePipe: WakePipe

    /// A file seen in the inbox, waiting to be complete (stable) and for its turn.
    private struct Candidate {
        var size: Int64
        var mtime: timespec
        var stableSince: Date
        var notBefore: Date
        /// When the file arrived: its change time when first seen (a rename into the inbox or the last
        /// write sets it), so latency counts from the drop, not from when the watcher noticed it.
        let arrived: Date
    }

    /// A file set aside in failed/, watched for a writer that was not done with it.
    private struct SetAside {
        let relative: String
        let judged: FileStamp
        let since: Date
    }

    private var candidates: [String: Candidate] = [:]
    private var inFlight: Set<String> = []
    private var reportedSkips: Set<String> = []
    /// Files whose last attempt failed through no fault of their own (with `once`, they are left).
    private var blocked: Set<String> = []
    private var pendingOrphans: [PendingAction] = []
    /// Outcomes handed from the workers to the loop's thread.
    private let finished = Mutex<[(Job, Outcome, Date)]>([])
    private var counts = (reported: 0, failed: 0, duplicate: 0, retried: 0)
    private var latencies = LatencyHistogram()
    /// Inputs whose report is written but which could not be archived yet (counted as reported once).
    private var reportedNotArchived: Set<String> = []
    /// Failed inputs watched for later changes, by their path in failed/.
    private var setAside: [String: SetAside] = [:]
    /// Inbox subfolders a file was taken from, removed once empty and idle.
    private var emptied: [String: Date] = [:]
    private var claims: InboxClaims { processor.claims }

    var description: String { "FolderWatcher(\(paths.inbox))" }

    init(settings: WatchSettings, processor: ScanProcessor, audit: AuditLog, queue: WorkQueue<Job>, logger: Logger) throws(WatchError) {
        do throws(WakePipe.Failure) {
            wakePipe = try WakePipe()
        } catch {
            throw WatchError(error.description)
        }
        self.settings = settings
        self.queue = queue
        self.paths = settings.paths
        self.processor = processor
        self.audit = audit
        self.logger = logger
        let p = settings.paths
        let excluded = [p.archive, p.failed, p.state, p.reports]
        scanner = InboxScanner(inbox: p.inbox, excluded: excluded.filter { $0 != p.inbox }, excludedFiles: [p.audit])
    }

    /// Runs until a graceful shutdown (or cancellation), or with `once` until the files present at
    /// the start are done.
    func run() async {
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await BlockingThread.run(name: "cxreview-watcher") { self.loop() }
            } onGracefulShutdown: {
                self.stop()
            }
        } onCancel: {
            self.stop()
        }
    }

    /// Stops the loop (from any thread).
    func stop() {
        stopRequested.store(true, ordering: .relaxed)
        wakePipe.wake()
    }

    /// A worker's outcome, handed to the loop (from any thread).
    func deliver(_ job: Job, _ outcome: Outcome, at date: Date) {
        finished.withLock { $0.append((job, outcome, date)) }
        wakePipe.wake()
    }

    private func loop() {
        takeOverDeadWatchers(atStart: true)
        let inotify = settings.poll == nil ? Inotify() : nil
        if settings.poll == nil, inotify == nil {
            logger.warning("inotify is not available; polling the inbox every 5 s instead (set --poll to choose)")
        }
        let rescanEvery = settings.poll ?? (inotify == nil ? 5 : WatchSettings.safetyRescan)
        rescan(inotify)
        var lastRescan = Date()
        var lastTakeOver = Date()
        var lastHousekeeping = Date()
        var lastStatus = Date()
        var lastSummary = Date()

        logger.info("watching \(paths.inbox) (\(inotify != nil ? "inotify" : "polling every \(rescanEvery) s"), settle \(settings.settle) s); reports to \(paths.reports); audit log \(paths.audit)")
        while !stopRequested.load(ordering: .relaxed) {
            var fds = [pollfd(fd: wakePipe.readFD, events: Int16(POLLIN), revents: 0)]
            if let inotify { fds.append(pollfd(fd: inotify.fd, events: Int16(POLLIN), revents: 0)) }
            _ = poll(&fds, nfds_t(fds.count), 250)
            wakePipe.drain()
            if let inotify {
                let events = inotify.drain()
                for folder in events.newFolders where !scanner.isExcluded(folder) {
                    let found = scanner.scan(folder)
                    for f in found.folders { inotify.watch(f) }
                    for f in found.files { notice(f) }
                }
                for f in events.files where !scanner.isExcluded(f) && !InboxScanner.isIgnored(name: (f as NSString).lastPathComponent) {
                    notice(f)
                }
                if events.overflow {
                    logger.warning("inotify queue overflowed; rescanning the inbox")
                    rescan(inotify)
                    lastRescan = Date()
                }
            }
            if Date().timeIntervalSince(lastRescan) >= rescanEvery {
                rescan(inotify)
                lastRescan = Date()
                pendingOrphans = pendingOrphans.filter { !processor.retryPending($0) }
            }
            if Date().timeIntervalSince(lastTakeOver) >= Self.takeOverEvery {
                takeOverDeadWatchers(atStart: false)
                lastTakeOver = Date()
            }
            if Date().timeIntervalSince(lastHousekeeping) >= 1 {
                claims.heartbeat()
                checkSetAside()
                removeEmptiedFolders()
                lastHousekeeping = Date()
            }
            collectFinished()
            offerReady()
            if let every = settings.summaryEvery, Date().timeIntervalSince(lastSummary) >= every {
                writeSummary()
                lastSummary = Date()
            }
            if Date().timeIntervalSince(lastStatus) >= settings.statusEvery {
                logger.info("\(statusLine())")
                lastStatus = Date()
            }
            // Done with --once; but once the workers are stopping, the group is shutting down: wait for our turn.
            if settings.once, inFlight.isEmpty, !queue.isClosed, candidates.keys.allSatisfy({ blocked.contains($0) }) {
                break
            }
        }
    }

    /// After the service group has ended (the workers are done): takes their last outcomes, writes the
    /// last summary, gives up this watcher's registration, logs and audits the stop. Returns the number
    /// of files left in the inbox.
    func finish() -> Int {
        for job in queue.close() { inFlight.remove(job.path) }  // dropped from the queue: still in the inbox, not in progress
        collectFinished()
        claims.unregister()
        if settings.summaryEvery != nil { writeSummary() }
        let left = candidates.count
        logger.info("\(stopRequested.load(ordering: .relaxed) ? "stopping on signal" : "done"): \(statusLine())")
        auditStop(left: left)
        return left
    }

    /// Writes the start record; call before `run`.
    func auditStart(details: [String: String]) throws(AuditError) {
        try audit.append([AuditEvent(
            eventID: .applicationActivity, eventTypeCode: [.applicationStart], action: .execute, outcome: .success,
            outcomeDescription: "cxreview watch started on \(paths.inbox)",
            objects: [AuditObject(typeCode: 2, typeCodeRole: 4, idTypeCode: .uri, id: paths.inbox, detail: details)])])
    }

    private func auditStop(left: Int) {
        do throws(AuditError) {
            try audit.append([AuditEvent(
                eventID: .applicationActivity, eventTypeCode: [.applicationStop], action: .execute, outcome: .success,
                outcomeDescription: "cxreview watch stopped (\(stopRequested.load(ordering: .relaxed) ? "signal" : "--once done")): \(counts.reported) reported, \(counts.failed) failed, \(counts.duplicate) duplicates, \(left) left in the inbox",
                objects: [AuditObject(typeCode: 2, typeCodeRole: 4, idTypeCode: .uri, id: paths.inbox)])])
        } catch {
            logger.critical("cannot write the stop record: \(error.description)")
        }
    }

    /// The batch summary of the files done since the last one (nothing when there were none).
    private func writeSummary() {
        let rows = processor.takeSummaryRows()
        guard !rows.isEmpty else { return }
        do {
            let url = try processor.writer.writeSummary(rows)
            let sha = try? ContentHash.sha256(of: url)
            logger.info("summary of \(rows.count) scans → \(url.path)", metadata: ["event": "summary", "report": "\(url.path)"])
            _ = try? audit.append([AuditEvent(
                eventID: .export, action: .read, outcome: .success,
                outcomeDescription: "batch summary of \(rows.count) scans written",
                objects: [.file(path: url.path, sha256: sha, role: 3, detail: ["rows": "\(rows.count)"])])])
        } catch {
            logger.error("the batch summary of \(rows.count) scans could not be written: \(error)")
        }
    }

    // MARK: Finding files

    /// How often to look for watchers of this inbox that died (on this host or another), to take over their work.
    static let takeOverEvery: Double = 30

    private func takeOverDeadWatchers(atStart: Bool) {
        var left: [PendingAction] = []
        let adopted = claims.takeOverDead(inbox: scanner.root, recover: { folder in
            left += self.processor.recover(from: folder)
        }, whenAlone: atStart ? { self.processor.removeStaleTemporaries() } : {})
        pendingOrphans += left
        for relative in adopted {
            logger.info("taking over \(relative), claimed by a watcher that stopped")
            notice(scanner.root + "/" + relative)
        }
    }

    private func rescan(_ inotify: Inotify?) {
        let found = scanner.scan()
        if let inotify { for f in found.folders { inotify.watch(f) } }
        let present = Set(found.files)
        for f in found.files { notice(f) }
        for path in candidates.keys where !present.contains(path) && !inFlight.contains(path) {
            candidates[path] = nil
        }
        reportedSkips.formIntersection(found.skipped.map(\.path))  // forget what has gone, so the set stays small
        for (path, why) in found.skipped where !reportedSkips.contains(path) {
            reportedSkips.insert(path)
            switch why {
            case let .linkOutOfInbox(target):
                logger.warning("not following \(path): a symbolic link to \(target), outside the inbox")
                _ = try? audit.append([AuditEvent(
                    eventID: .securityAlert, action: .read, outcome: .minorFailure,
                    outcomeDescription: "symbolic link in the inbox points outside it; not followed",
                    objects: [.file(path: path, sha256: nil, role: 13, detail: ["target": target])])])
            case .link:
                logger.notice("not following \(path): a symbolic link (its target in the inbox is processed where it lies)")
            case .notRegular:
                logger.notice("ignoring \(path): not a regular file")
            }
        }
    }

    private func notice(_ path: String) {
        guard candidates[path] == nil, !inFlight.contains(path) else { return }
        var st = stat()
        guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { return }
        let now = Date()
        let changed = Date(timeIntervalSince1970: Double(st.st_ctim.tv_sec) + Double(st.st_ctim.tv_nsec) / 1e9)
        candidates[path] = Candidate(size: Int64(st.st_size), mtime: st.st_mtim, stableSince: now, notBefore: now,
                                     arrived: min(changed, now))
    }

    /// Offers files whose size and modification time held still for the settle interval; a study the DICOM
    /// listener received (`INBOX/received/<study>/`) once none of its instances arrived for `--study-settle`.
    private func offerReady() {
        let now = Date()
        let received = settings.paths.received + "/"
        var lastArrival: [Substring: Date] = [:]
        for (path, c) in candidates where path.hasPrefix(received) {
            let study = Self.studyFolder(path, under: received)
            lastArrival[study] = max(lastArrival[study] ?? .distantPast, c.arrived)
        }
        for path in candidates.keys.sorted(by: { candidates[$0]!.arrived < candidates[$1]!.arrived }) {
            guard !inFlight.contains(path), var c = candidates[path], c.notBefore <= now else { continue }
            if path.hasPrefix(received), let last = lastArrival[Self.studyFolder(path, under: received)],
               now.timeIntervalSince(last) < settings.studySettle { continue }
            var st = stat()
            guard lstat(path, &st) == 0 else { candidates[path] = nil; continue }
            if Int64(st.st_size) != c.size || st.st_mtim.tv_sec != c.mtime.tv_sec || st.st_mtim.tv_nsec != c.mtime.tv_nsec {
                c.size = Int64(st.st_size)
                c.mtime = st.st_mtim
                c.stableSince = now
                candidates[path] = c
                continue
            }
            guard now.timeIntervalSince(c.stableSince) >= settings.settle else { continue }
            let relative = String(path.dropFirst(scanner.root.count + 1))
            guard queue.offer(Job(path: path, relative: relative, seen: c.arrived)) else { return }
            inFlight.insert(path)
        }
    }

    /// The study folder of a received instance: its first folder under `received`.
    static func studyFolder(_ path: String, under received: String) -> Substring {
        path.dropFirst(received.count).prefix { $0 != "/" }
    }

    private func collectFinished() {
        let done = finished.withLock { list in
            defer { list.removeAll() }
            return list
        }
        for (job, outcome, at) in done {
            inFlight.remove(job.path)
            switch outcome {
            case .reported:
                blocked.remove(job.path)
                if reportedNotArchived.remove(job.path) == nil {
                    counts.reported += 1
                    latencies.add(at.timeIntervalSince(job.seen))
                }
                candidates[job.path] = nil
                noteEmptied(job.path)
            case let .failed(_, movedTo, judged):
                forget(job.path)
                counts.failed += 1
                candidates[job.path] = nil
                noteEmptied(job.path)
                if let judged { watchSetAside(movedTo, relative: job.relative, judged: judged) }
            case .duplicate:
                forget(job.path)
                counts.duplicate += 1
                candidates[job.path] = nil
                noteEmptied(job.path)
            case .vanished, .claimedElsewhere:
                forget(job.path)
                candidates[job.path] = nil
            case let .retry(after, _, environment, reportWritten):
                counts.retried += 1
                if reportWritten != nil, reportedNotArchived.insert(job.path).inserted {
                    counts.reported += 1  // the report exists: say so, even while the input cannot be archived
                    latencies.add(at.timeIntervalSince(job.seen))
                }
                candidates[job.path]?.notBefore = Date().addingTimeInterval(after)
                if environment { blocked.insert(job.path) } else { blocked.remove(job.path) }
            }
        }
    }

    /// A file that left the inbox (or is another watcher's): nothing about it is kept.
    private func forget(_ path: String) {
        blocked.remove(path)
        reportedNotArchived.remove(path)
    }

    /// "In progress" is what the workers hold; queued files are still in the inbox, so they are waiting.
    private func statusLine() -> String {
        let inProgress = max(0, inFlight.count - queue.count)
        let waiting = candidates.count - inProgress
        let unarchived = reportedNotArchived.isEmpty ? "" : " (\(reportedNotArchived.count) not yet archived)"
        let median = latencies.median.map { String(format: "%.1f s", $0) } ?? "-"
        return "status: \(counts.reported) reported\(unarchived), \(counts.failed) failed, \(counts.duplicate) duplicates, \(inProgress) in progress, \(waiting) waiting, \(counts.retried) retries; median drop-to-report \(median)"
    }

    // MARK: Housekeeping

    private func watchSetAside(_ path: String, relative: String, judged: FileStamp) {
        if setAside.count >= Self.setAsideLimit, let oldest = setAside.min(by: { $0.value.since < $1.value.since })?.key {
            setAside[oldest] = nil
        }
        setAside[path] = SetAside(relative: relative, judged: judged, since: Date())
    }

    static let setAsideLimit = 10_000
    static let setAsideWatch: Double = 24 * 3600

    /// A file in failed/ that changes after it was judged was still being written (e.g. a writer that
    /// paused longer than --grace): it goes back into the inbox, loudly, and is processed again.
    private func checkSetAside() {
        let now = Date()
        for (path, entry) in setAside {
            guard now.timeIntervalSince(entry.since) < Self.setAsideWatch, let current = FileStamp(path: path) else {
                setAside[path] = nil
                continue
            }
            guard current != entry.judged else { continue }
            setAside[path] = nil
            let sub = (entry.relative as NSString).deletingLastPathComponent
            let folder = sub.isEmpty ? scanner.root : scanner.root + "/" + sub
            let back = FileMove.freeName((entry.relative as NSString).lastPathComponent, in: folder, claimed: [])
            let what = "\(path) changed after it was set aside (\(entry.judged.size) → \(current.size) bytes): its writer was not done"
            do throws(FileMove.Failure) {
                try FileMove.move(path, to: back)
            } catch {
                logger.error("\(what), and it cannot be moved back into the inbox: \(error.description); move it back by hand")
                _ = try? audit.append([AuditEvent(
                    eventID: .import, action: .update, outcome: .seriousFailure,
                    outcomeDescription: "\(what); it could not be moved back into the inbox (\(error.description))",
                    objects: [.file(path: path, sha256: nil, role: 4, detail: ["bytes": "\(current.size)"])])])
                continue
            }
            let note = path + ".error.txt"
            if FileMove.exists(note) {
                let dir = (note as NSString).deletingLastPathComponent
                try? FileMove.move(note, to: FileMove.freeName((note as NSString).lastPathComponent + ".taken-back", in: dir, claimed: []))
            }
            logger.warning("\(what); moved back into the inbox as \(back) and processed again",
                           metadata: ["event": "taken-back", "file": "\(entry.relative)", "moved_to": "\(back)"])
            _ = try? audit.append([AuditEvent(
                eventID: .import, action: .update, outcome: .minorFailure,
                outcomeDescription: "\(what); moved back into the inbox as \(back), to be processed again",
                objects: [.file(path: back, sha256: nil, role: 4, detail: ["bytes": "\(current.size)", "failedPath": path])])])
            notice(back)
        }
    }

    /// Remembers the inbox subfolder a file left, to remove it once it is empty.
    private func noteEmptied(_ path: String) {
        let folder = (path as NSString).deletingLastPathComponent
        if folder.hasPrefix(scanner.root + "/") { emptied[folder] = Date() }
    }

    /// Seconds an emptied subfolder must stay untouched before it goes, so that a writer that has just
    /// made it (or is between two files) does not lose it.
    static let emptyFolderIdle: Double = 10

    private func removeEmptiedFolders() {
        let now = Date()
        for (folder, since) in emptied where now.timeIntervalSince(since) >= 1 {
            var st = stat()
            // The listener's folder stays (its study folders come and go).
            guard folder != settings.paths.received, lstat(folder, &st) == 0, st.st_mode & S_IFMT == S_IFDIR, !scanner.isExcluded(folder) else {
                emptied[folder] = nil
                continue
            }
            let modified = Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec))
            guard now.timeIntervalSince(modified) >= Self.emptyFolderIdle else { continue }
            emptied[folder] = nil
            if rmdir(folder) == 0 {
                logger.info("removed the empty inbox folder \(folder)")
                let parent = (folder as NSString).deletingLastPathComponent
                if parent.hasPrefix(scanner.root + "/") { emptied[parent] = now.addingTimeInterval(-1) }
            }
        }
    }
}
