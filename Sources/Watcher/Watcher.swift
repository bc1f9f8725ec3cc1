import Audit
import Foundation
import Logging
import Pipeline
import Synchronization
import Training
#if canImport(Glibc)
import Glibc
#endif

/// Set by SIGINT/SIGTERM; the loop then stops taking files, lets the workers finish the file in hand,
/// audits the stop and returns.
private let stopRequested = Atomic<Bool>(false)
/// The write end of a pipe the signal handler writes to, to wake the loop at once.
private let wakeWriteFD = Atomic<Int32>(-1)

/// The drop-folder watcher: finds complete files in the inbox (inotify, an initial scan, rescans,
/// or polling), queues them (bounded) for the workers, and retries what could not be done yet.
public final class Watcher {
    let settings: WatchSettings
    let paths: WatchSettings.Paths
    let processor: ScanProcessor
    let audit: AuditLog
    let logger: Logger
    let scanner: InboxScanner

    /// A file seen in the inbox, waiting to be complete (stable) and for its turn.
    private struct Candidate {
        var size: Int64
        var mtime: timespec
        var stableSince: Date
        var notBefore: Date
        let seen: Date
    }

    private var candidates: [String: Candidate] = [:]
    private var inFlight: Set<String> = []
    private var reportedSkips: Set<String> = []
    /// Files whose last attempt failed through no fault of their own (with `once`, they are left).
    private var blocked: Set<String> = []
    private var pendingOrphans: [PendingAction] = []
    /// Results handed from the workers to the watching thread.
    private final class Finished: Sendable {
        let list = Mutex<[(Job, Outcome, Date)]>([])
    }

    private let finished = Finished()
    private var counts = (reported: 0, failed: 0, duplicate: 0, retried: 0)
    private var latencies: [Double] = []

    init(settings: WatchSettings, processor: ScanProcessor, audit: AuditLog, logger: Logger) {
        self.settings = settings
        self.paths = settings.paths
        self.processor = processor
        self.audit = audit
        self.logger = logger
        let p = settings.paths
        let excluded = [p.archive, p.failed, p.state, p.reports, URL(fileURLWithPath: p.audit).deletingLastPathComponent().path]
        scanner = InboxScanner(inbox: p.inbox, excluded: excluded.filter { $0 != p.inbox })
    }

    /// Runs until stopped (or, with `once`, until the files present at the start are done).
    /// Returns the number of files left in the inbox because of failures of the surroundings.
    public func run() -> Int {
        installSignalHandlers()
        pendingOrphans = processor.recover()
        let queue = WorkQueue<Job>(capacity: settings.queue)
        var workers: [Thread] = []
        let workerDone = DispatchGroup()
        for i in 0..<settings.workers {
            workerDone.enter()
            let t = Thread { [processor, finished] in
                while let job = queue.take() {
                    let outcome = processor.process(job)
                    finished.list.withLock { $0.append((job, outcome, Date())) }
                    Watcher.wake()
                }
                workerDone.leave()
            }
            t.name = "cxreview-worker-\(i + 1)"
            t.start()
            workers.append(t)
        }

        let inotify = settings.poll == nil ? Inotify() : nil
        if settings.poll == nil, inotify == nil {
            logger.warning("inotify is not available; polling the inbox every 5 s instead (set --poll to choose)")
        }
        let rescanEvery = settings.poll ?? (inotify == nil ? 5 : WatchSettings.safetyRescan)
        rescan(inotify)
        var lastRescan = Date()
        var lastStatus = Date()
        var lastSummary = Date()
        let wakeRead = makeWakePipe()

        logger.info("watching \(paths.inbox) (\(inotify != nil ? "inotify" : "polling every \(rescanEvery) s"), settle \(settings.settle) s); reports to \(paths.reports); audit log \(paths.audit)")
        while !stopRequested.load(ordering: .relaxed) {
            var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
            if let inotify { fds.append(pollfd(fd: inotify.fd, events: Int16(POLLIN), revents: 0)) }
            _ = poll(&fds, nfds_t(fds.count), 250)
            drainWakePipe(wakeRead)
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
            collectFinished()
            offerReady(queue)
            if let every = settings.summaryEvery, Date().timeIntervalSince(lastSummary) >= every {
                writeSummary()
                lastSummary = Date()
            }
            if Date().timeIntervalSince(lastStatus) >= settings.statusEvery {
                logger.info("\(statusLine(queue))")
                lastStatus = Date()
            }
            if settings.once, inFlight.isEmpty, candidates.keys.allSatisfy({ blocked.contains($0) }) {
                break
            }
        }
        queue.close()
        workerDone.wait()
        collectFinished()
        if settings.summaryEvery != nil { writeSummary() }
        let left = candidates.count
        logger.info("\(stopRequested.load(ordering: .relaxed) ? "stopping on signal" : "done"): \(statusLine(queue))")
        return left
    }

    /// Writes the start record; call before `run`.
    func auditStart(details: [String: String]) throws(AuditError) {
        try audit.append([AuditEvent(
            eventID: .applicationActivity, eventTypeCode: [.applicationStart], action: .execute, outcome: .success,
            outcomeDescription: "cxreview watch started on \(paths.inbox)",
            objects: [AuditObject(typeCode: 2, typeCodeRole: 4, idTypeCode: .uri, id: paths.inbox, detail: details)])])
    }

    func auditStop(left: Int) {
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

    private func rescan(_ inotify: Inotify?) {
        let found = scanner.scan()
        if let inotify { for f in found.folders { inotify.watch(f) } }
        let present = Set(found.files)
        for f in found.files { notice(f) }
        for path in candidates.keys where !present.contains(path) && !inFlight.contains(path) {
            candidates[path] = nil
        }
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
        candidates[path] = Candidate(size: Int64(st.st_size), mtime: st.st_mtim, stableSince: now, notBefore: now, seen: now)
    }

    /// Offers files whose size and modification time held still for the settle interval.
    private func offerReady(_ queue: WorkQueue<Job>) {
        let now = Date()
        for path in candidates.keys.sorted(by: { candidates[$0]!.seen < candidates[$1]!.seen }) {
            guard !inFlight.contains(path), var c = candidates[path], c.notBefore <= now else { continue }
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
            guard queue.offer(Job(path: path, relative: relative, seen: c.seen)) else { return }
            inFlight.insert(path)
        }
    }

    private func collectFinished() {
        let done = finished.list.withLock { list in
            defer { list.removeAll() }
            return list
        }
        for (job, outcome, at) in done {
            inFlight.remove(job.path)
            switch outcome {
            case .reported:
                blocked.remove(job.path)
                counts.reported += 1
                latencies.append(at.timeIntervalSince(job.seen))
                candidates[job.path] = nil
            case .failed:
                counts.failed += 1
                candidates[job.path] = nil
            case .duplicate:
                counts.duplicate += 1
                candidates[job.path] = nil
            case .vanished:
                candidates[job.path] = nil
            case let .retry(after, _, environment):
                counts.retried += 1
                candidates[job.path]?.notBefore = Date().addingTimeInterval(after)
                if environment { blocked.insert(job.path) } else { blocked.remove(job.path) }
            }
        }
    }

    private func statusLine(_ queue: WorkQueue<Job>) -> String {
        let waiting = candidates.count - inFlight.count
        let sorted = latencies.sorted()
        let median = sorted.isEmpty ? "-" : String(format: "%.1f s", sorted[sorted.count / 2])
        return "status: \(counts.reported) reported, \(counts.failed) failed, \(counts.duplicate) duplicates, \(inFlight.count) in progress, \(waiting) waiting, \(counts.retried) retries; median drop-to-report \(median)"
    }

    // MARK: Signals

    private func installSignalHandlers() {
        // A parent may start us with these blocked (the mask is inherited across exec): unblock them.
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGINT)
        sigaddset(&set, SIGTERM)
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
        for s in [SIGINT, SIGTERM] {
            signal(s) { _ in
                stopRequested.store(true, ordering: .relaxed)
                var byte: UInt8 = 1
                _ = write(wakeWriteFD.load(ordering: .relaxed), &byte, 1)
            }
        }
    }

    private func makeWakePipe() -> Int32 {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { return -1 }
        for fd in fds { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        wakeWriteFD.store(fds[1], ordering: .relaxed)
        return fds[0]
    }

    private func drainWakePipe(_ fd: Int32) {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(fd, &buffer, buffer.count) > 0 {}
    }

    static func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWriteFD.load(ordering: .relaxed), &byte, 1)
    }
}
