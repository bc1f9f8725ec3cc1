import Audit
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Who may process which inbox file, shared by every watcher of one inbox, on one host or on several
/// hosts sharing the folder (NFS, SMB). It is also the crash journal: which file each watcher has in hand.
///
/// Layout, under the state folder:
/// - `inbox.lock`: an advisory lock held briefly while a watcher registers or takes over a dead one's work;
/// - `watchers/<id>/lock`: held (flock) for the life of watcher `<id>`; its `pending/` holds that watcher's
///   unfinished actions (`PendingAction`), so no other watcher finishes them while it lives;
/// - `claims/<sha256 of the inbox-relative path>.json`: made with O_CREAT|O_EXCL before any work on the
///   file, so exactly one watcher wins it (exclusive create is atomic on local file systems, NFSv3+ and SMB);
///   removed when the file has left the inbox;
/// - `reported/<xx>/<sha256 of an input>`: the report made for those bytes, so that a duplicate is known
///   to every watcher (one small file per scan reported; it grows with the reports, as the audit logs do).
///
/// A claim whose owner no longer holds its lock was left by a crash (or `kill -9`, or a power cut). The
/// watcher that notices takes it over; if the file was in hand then, that counts as one crash on it. A
/// file is retried once after a crash; after a second it is set aside (`crashes` ≥ 2), so a file that
/// stops the process cannot keep stopping it.
final class InboxClaims: @unchecked Sendable {
    struct Claim: Codable, Sendable, Equatable {
        var owner: String
        var relative: String
        var inode: UInt64
        var size: Int64
        /// Crashes so far with this file in hand.
        var crashes: Int
        /// True while a worker has the file (set when processing starts); a claim taken over from a dead
        /// watcher is not in hand until its new owner starts on it.
        var inHand: Bool
        var since: String
    }

    /// Crashes with a file in hand after which it is set aside: the first may be someone else's doing
    /// (kill -9, the OOM killer picking the process, a power cut), so the file is retried once.
    static let crashesBeforeSetAside = 2

    let state: String
    let id: String
    /// `watchers/<id>`: this watcher's own folder.
    let home: String
    var pending: String { home + "/pending" }
    private var claimsFolder: String { state + "/claims" }
    private var watchersFolder: String { state + "/watchers" }
    private let lockFD: Int32

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Registers this watcher (under the inbox lock).
    init(state: String) throws(Failure) {
        self.state = state
        var buffer = [CChar](repeating: 0, count: 256)
        gethostname(&buffer, buffer.count)
        let hostName = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        id = "\(InboxClaims.safe(hostName))-\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        home = state + "/watchers/" + id
        do throws(FileMove.Failure) { try FileMove.makeFolder(state) } catch { throw Failure(description: error.description) }
        // Registered under the inbox lock, so a watcher looking for dead ones never sees this one half made.
        let inboxLock = Self.lockInbox(state)
        defer { Self.unlockInbox(inboxLock) }
        for folder in [state + "/claims", home + "/pending"] {
            do throws(FileMove.Failure) { try FileMove.makeFolder(folder) } catch { throw Failure(description: error.description) }
        }
        let fd = open(home + "/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0, flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            throw Failure(description: "cannot lock \(home)/lock (\(String(cString: strerror(errno)))); check that the state folder is writable")
        }
        lockFD = fd
        self.host = InboxClaims.safe(hostName)
    }

    /// This host's part of watcher IDs: a watcher of this host is dead exactly when its lock is free.
    private let host: String
    private var lastHeartbeat = Date.distantPast

    /// The host part of a watcher ID (`<host>-<pid>-<random>`).
    private static func host(of id: String) -> String {
        id.split(separator: "-", omittingEmptySubsequences: false).dropLast(2).joined(separator: "-")
    }

    /// How long a watcher of another host may go without a heartbeat before its free lock is believed:
    /// on a share mounted with local-only locks (e.g. NFS `local_lock=flock`) a lock held on another
    /// host looks free here, and taking over a live watcher's files would report them twice.
    static let otherHostSilence: Double = 120

    /// Marks this watcher alive for watchers on other hosts (the lock file's modification time).
    func heartbeat() {
        guard Date().timeIntervalSince(lastHeartbeat) >= 10 else { return }
        lastHeartbeat = Date()
        _ = futimens(lockFD, nil)
    }

    private static func lockInbox(_ state: String) -> Int32 {
        let fd = open(state + "/inbox.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd >= 0 { while flock(fd, LOCK_EX) != 0, errno == EINTR {} }
        return fd
    }

    private static func unlockInbox(_ fd: Int32) {
        if fd >= 0 { close(fd) }
    }

    deinit { close(lockFD) }

    /// Runs `body` holding the inbox lock (blocking: others hold it only briefly).
    func withInboxLock<T, E: Error>(_ body: () throws(E) -> T) throws(E) -> T {
        let fd = Self.lockInbox(state)
        defer { Self.unlockInbox(fd) }
        return try body()
    }

    private func path(for relative: String) -> String {
        claimsFolder + "/" + AuditChain.sha256(Data(relative.utf8)) + ".json"
    }

    /// Claims the file for this watcher, before any work on it, and marks it in hand. Returns the claim
    /// (with the crashes it has seen), or nil when another watcher has it.
    func claim(relative: String, inode: UInt64, size: Int64) -> Claim? {
        let file = path(for: relative)
        if let existing = read(file) {
            guard existing.owner == id else { return nil }
            var c = existing
            if c.inode != inode { c.crashes = 0 }  // another file under the same name
            c.inode = inode
            c.size = size
            c.inHand = true
            write(c, to: file, exclusive: false)
            return c
        }
        let c = Claim(owner: id, relative: relative, inode: inode, size: size, crashes: 0, inHand: true,
                      since: AuditLog.timestamp(Date()))
        return write(c, to: file, exclusive: true) ? c : nil
    }

    /// Gives the claim up once the file has left the inbox. Otherwise the claim is kept (not in hand) when
    /// `keep` (work on it is pending here) or the file has crashed a watcher (so the count survives).
    func release(relative: String, fileLeftInbox: Bool, keep: Bool) {
        let file = path(for: relative)
        guard var c = read(file), c.owner == id else { return }
        if fileLeftInbox || (c.crashes == 0 && !keep) {
            unlink(file)
        } else {
            c.inHand = false
            write(c, to: file, exclusive: false)
        }
    }

    /// Finds watchers that died (their lock is free), and takes over their work: their pending actions
    /// (handed to `recover`, which returns those it could not finish yet; they move to this watcher's
    /// pending folder) and their claims. Returns the inbox-relative paths of the files now claimed by this
    /// watcher, to be processed.
    /// `whenAlone` runs, still under the inbox lock, when no other watcher is alive.
    func takeOverDead(inbox: String, recover: (String) -> Void, whenAlone: () -> Void) -> [String] {
        withInboxLock {
            // STATE/pending: an earlier version's single watcher's unfinished actions.
            let legacy = state + "/pending"
            if FileManager.default.fileExists(atPath: legacy) {
                recover(legacy)
                moveLeftovers(from: legacy)
            }
            var live: Set<String> = [id]
            let names = (try? FileManager.default.contentsOfDirectory(atPath: watchersFolder)) ?? []
            for name in names where name != id {
                let folder = watchersFolder + "/" + name
                let fd = open(folder + "/lock", O_RDWR | O_CLOEXEC)
                if fd < 0 {
                    // No lock file: a watcher that stopped cleanly half-way through removing its folder.
                    recover(folder + "/pending")
                    moveLeftovers(from: folder + "/pending")
                    removeFolder(folder)
                    continue
                }
                var st = stat()
                let silent = fstat(fd, &st) == 0 ? Date().timeIntervalSince1970 - Double(st.st_mtim.tv_sec) : .infinity
                if flock(fd, LOCK_EX | LOCK_NB) != 0 || (Self.host(of: name) != host && silent < Self.otherHostSilence) {
                    close(fd)
                    live.insert(name)
                    continue
                }
                recover(folder + "/pending")
                moveLeftovers(from: folder + "/pending")
                unlink(folder + "/lock")
                close(fd)
                removeFolder(folder)
            }
            // Claims whose owner is gone.
            var adopted: [String] = []
            let claims = (try? FileManager.default.contentsOfDirectory(atPath: claimsFolder)) ?? []
            for name in claims where name.hasSuffix(".tmp") {
                // `<claim>.json.<owner>.tmp`: a rewrite its owner died in the middle of.
                let owner = name.dropLast(4).components(separatedBy: ".json.").last ?? ""
                if !live.contains(owner) { unlink(claimsFolder + "/" + name) }
            }
            for name in claims where name.hasSuffix(".json") {
                let file = claimsFolder + "/" + name
                guard var c = read(file) else {
                    // Empty or cut short: its writer died between creating and filling it.
                    var st = stat()
                    if lstat(file, &st) == 0, Date().timeIntervalSince1970 - Double(st.st_mtim.tv_sec) > 60 { unlink(file) }
                    continue
                }
                guard !live.contains(c.owner) else { continue }
                var st = stat()
                let input = inbox + "/" + c.relative
                guard lstat(input, &st) == 0, UInt64(st.st_ino) == c.inode else {
                    unlink(file)  // the file left the inbox (or another one has its name now): nothing to carry
                    continue
                }
                if c.inHand { c.crashes += 1 }
                c.owner = id
                c.inHand = false
                write(c, to: file, exclusive: false)
                adopted.append(c.relative)
            }
            if live.count == 1 { whenAlone() }
            return adopted
        }
    }

    // MARK: Content seen by any watcher of the inbox

    private func reportedPath(_ sha256: String) -> String {
        state + "/reported/" + String(sha256.prefix(2)) + "/" + sha256
    }

    /// The report another watcher of this inbox (or an earlier run) made for these bytes, if any: so a
    /// duplicate is recognised whichever watcher it reaches (each audit log only knows its own reports).
    func reportedBefore(sha256: String) -> String? {
        guard let data = FileManager.default.contents(atPath: reportedPath(sha256)), !data.isEmpty else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    /// Records the report made for these bytes (complete or absent; the first report made is kept).
    /// Returns false when it could not be written.
    @discardableResult
    func recordReport(sha256: String, report: String) -> Bool {
        do throws(FileMove.Failure) {
            try FileMove.writeNew(reportedPath(sha256), report)
            return true
        } catch {
            return false
        }
    }

    /// True when some watcher of the inbox (alive or not) has unfinished actions.
    func hasPendingWork() -> Bool {
        let folders = [state + "/pending"] + ((try? FileManager.default.contentsOfDirectory(atPath: watchersFolder)) ?? [])
            .map { watchersFolder + "/" + $0 + "/pending" }
        return folders.contains { folder in
            ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []).contains { $0.hasSuffix(".json") }
        }
    }

    /// On a clean stop: this watcher's folder goes, unless actions are still pending there (the next
    /// watcher takes them over).
    func unregister() {
        withInboxLock {
            let left = (try? FileManager.default.contentsOfDirectory(atPath: pending)) ?? []
            guard left.isEmpty else { return }
            // Claims kept for their crash count stay; their owner is gone, so they are taken over.
            rmdir(pending)
            unlink(home + "/lock")
            rmdir(home)
        }
    }

    /// Pending actions `recover` left behind become this watcher's.
    private func moveLeftovers(from folder: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        for name in names where name.hasSuffix(".json") {
            rename(folder + "/" + name, pending + "/" + name)  // transaction IDs are unique: no name is taken
        }
    }

    private func removeFolder(_ folder: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder + "/pending")) ?? []
        if names.isEmpty { rmdir(folder + "/pending") }
        rmdir(folder)
    }

    private func read(_ file: String) -> Claim? {
        guard let data = FileManager.default.contents(atPath: file) else { return nil }
        return try? JSONDecoder().decode(Claim.self, from: data)
    }

    /// Writes durably; `exclusive`: fails if the claim exists (the atomic step of claiming).
    @discardableResult
    private func write(_ c: Claim, to file: String, exclusive: Bool) -> Bool {
        let data = (try? JSONEncoder().encode(c)) ?? Data()
        let target = exclusive ? file : file + ".\(id).tmp"
        let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return false }
        let ok = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress!, $0.count) == $0.count } && fsync(fd) == 0
        close(fd)
        if exclusive {
            if !ok { unlink(file) }
            return ok
        }
        guard ok, rename(target, file) == 0 else { unlink(target); return false }
        return true
    }

    private static func safe(_ s: String) -> String {
        String(s.unicodeScalars.map { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "-") ? Character($0) : "_" })
    }
}
