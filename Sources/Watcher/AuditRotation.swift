import Audit
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Starts a new audit log when the current one has grown past a size, at the watcher's start, so that
/// the logs stay verifiable across files: the old log keeps its name's date and its head file
/// (`audit verify` checks it alone), and the first record of the new one names the old file, its
/// SHA-256, and its last record's number and hash.
///
/// Rotation happens only at start, with the log's lock held, when the log verifies and no watcher of
/// the inbox has work pending (pending work may still need records in the old log).
enum AuditRotation {
    struct Rotated: Sendable {
        let path: String
        let sha256: String
        let lastSeq: Int
        let lastHash: String
    }

    /// Moves `audit` (and its head file) to `<name>-<UTC time>.jsonl` when it is at least `bytes` long.
    /// Returns what was moved, nil when nothing was, or a reason it was not rotated.
    static func rotateIfLarger(_ audit: String, than bytes: Double) -> Result<Rotated?, AuditError> {
        var st = stat()
        guard lstat(audit, &st) == 0, Double(st.st_size) >= bytes, st.st_size > 0 else { return .success(nil) }
        let fd = open(audit, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return .failure(.init(path: audit, problem: "cannot be opened to rotate it", fix: "Check its permissions.")) }
        defer { close(fd) }  // the lock goes with it; AuditLog then takes its own on the new file
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { return .success(nil) }  // in use: the watcher's own start reports it
        let verification: AuditVerification
        do {
            verification = try AuditReader.verify(URL(fileURLWithPath: audit))
        } catch {
            return .failure(error)
        }
        guard verification.problem == nil, let last = verification.records.last, let hash = last.hash else {
            return .failure(.init(path: audit, problem: "does not verify, so it was not rotated (it is left as evidence)",
                                  fix: "Check it with `cxreview audit verify`."))
        }
        guard let data = FileManager.default.contents(atPath: audit) else {
            return .failure(.init(path: audit, problem: "cannot be read to rotate it", fix: "Check its permissions."))
        }
        let folder = (audit as NSString).deletingLastPathComponent
        let name = (audit as NSString).lastPathComponent
        let stem = (name as NSString).deletingPathExtension
        let stamp = AuditLog.timestamp(Date()).replacingOccurrences(of: ":", with: "").replacingOccurrences(of: ".", with: "")
        let target = FileMove.freeName("\(stem)-\(stamp).jsonl", in: folder, claimed: [], suffix: ".head")
        let head = AuditHead.url(for: URL(fileURLWithPath: audit)).path
        let targetHead = AuditHead.url(for: URL(fileURLWithPath: target)).path
        // Links first (never over an existing file), then the old names go: a crash in between leaves
        // both names, never neither.
        guard link(audit, target) == 0 else { return .failure(failed(audit, "linking it to \(target)", errno)) }
        if FileMove.exists(head) {
            guard link(head, targetHead) == 0 else {
                let e = errno
                unlink(target)
                return .failure(failed(head, "linking it to \(targetHead)", e))
            }
        }
        FileMove.syncFolder(folder)
        unlink(head)
        unlink(audit)
        FileMove.syncFolder(folder)
        return .success(Rotated(path: target, sha256: AuditChain.sha256(data), lastSeq: last.seq, lastHash: hash))
    }

    private static func failed(_ path: String, _ what: String, _ code: Int32) -> AuditError {
        AuditError(path: path, problem: "\(what) failed: \(String(cString: strerror(code)))",
                   fix: "Check that the folder is writable by this user and the disk is not full.")
    }

    /// The first record of the new log: where the chain continues from.
    static func continuation(_ r: Rotated) -> AuditEvent {
        AuditEvent(
            eventID: .applicationActivity, eventTypeCode: [.auditRecordingStarted], action: .execute, outcome: .success,
            outcomeDescription: "audit log continued from \(r.path): its last record is \(r.lastSeq), hash \(r.lastHash)",
            objects: [.file(path: r.path, sha256: r.sha256, role: 13, detail: ["lastSeq": "\(r.lastSeq)", "lastHash": r.lastHash])])
    }
}
