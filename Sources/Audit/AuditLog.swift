import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The append-only audit log (`audit.jsonl`): one JSON record per line, each flushed to disk
/// (fsync) before `append` returns, each carrying the hash of the one before.
///
/// Opening the log checks it. A last line cut off by a crash is moved aside (to
/// `audit.jsonl.torn-<time>`, never deleted) and the repair is itself the first new record. A log that
/// fails verification elsewhere is left exactly as it is, and a security alert is recorded; the chain
/// continues from the last record. Only one process may write a log at a time (an exclusive lock).
public final class AuditLog: Sendable {
    public let url: URL
    public let participant: AuditParticipant
    public let source: String

    private struct State {
        var fd: Int32
        var seq: Int
        var prev: String
        var length: Int
    }

    private let state: Mutex<State>

    /// What opening found: the records already there, and any problem (already audited).
    public let opened: AuditVerification

    public init(url: URL, participant: AuditParticipant = .current(), source: String? = nil) throws(AuditError) {
        self.url = url
        self.participant = participant
        self.source = source ?? participant.networkAccessPointID
        let path = url.path
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw AuditError(path: path, problem: "its folder cannot be made (\(error.localizedDescription))",
                             fix: "Create the folder or choose another audit log path (--audit).")
        }
        let fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o640)
        guard fd >= 0 else { throw .system(path, "open", errno) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw AuditError(path: path, problem: "another process is writing it (it is locked)",
                             fix: "Stop the other `cxreview watch` using this log, or give this one its own --audit path.")
        }

        var found: AuditVerification
        do throws(AuditError) {
            found = try AuditReader.verify(url)
        } catch {
            close(fd)
            throw error
        }
        var alerts: [AuditEvent] = []
        if let torn = found.tornTail {
            // Keep the cut-off bytes for inspection, then cut the log back to its last complete line.
            let stamp = AuditLog.timestamp(Date()).replacingOccurrences(of: ":", with: "")
            let aside = URL(fileURLWithPath: path + ".torn-\(stamp)")
            do {
                try torn.write(to: aside, options: [.withoutOverwriting])
            } catch {
                close(fd)
                throw AuditError(path: path, problem: "its last line is incomplete and could not be saved aside (\(error.localizedDescription))",
                                 fix: "Free disk space or fix the folder's permissions, then start again.")
            }
            guard ftruncate(fd, off_t(found.completeLength)) == 0, fsync(fd) == 0 else {
                let e = errno
                close(fd)
                throw .system(path, "truncating the incomplete last line", e)
            }
            alerts.append(AuditEvent(
                eventID: .securityAlert, eventTypeCode: [.auditRecordingStarted], action: .update, outcome: .minorFailure,
                outcomeDescription: "audit log repaired: its last line was incomplete (\(torn.count) bytes, cut off by a crash); the bytes were moved to \(aside.lastPathComponent)",
                objects: [.file(path: aside.path, sha256: AuditChain.sha256(torn), role: 13, detail: ["bytes": "\(torn.count)"])]))
            if found.problem?.kind == .tornLastLine { found.problem = nil }
        }
        if let problem = found.problem {
            alerts.append(AuditEvent(
                eventID: .securityAlert, eventTypeCode: [.objectSecurityAttributesChanged], action: .read, outcome: .majorFailure,
                outcomeDescription: "audit log failed verification at start: \(problem); the log is left as it is and the chain continues from its last record",
                objects: [.file(path: path, sha256: nil, role: 13)]))
        }
        opened = found
        let last = found.last
        state = Mutex(State(fd: fd, seq: last?.seq ?? 0, prev: last?.hash ?? AuditChain.genesis, length: found.completeLength))
        if !alerts.isEmpty { _ = try append(alerts) }
    }

    deinit {
        _ = state.withLock { close($0.fd) }
    }

    /// Appends `events` as consecutive records and syncs them to disk; returns them as written.
    ///
    /// On a failed write the log is cut back to where it was, so it never keeps half a record.
    @discardableResult
    public func append(_ events: [AuditEvent], at date: Date = Date()) throws(AuditError) -> [AuditRecord] {
        let time = Self.timestamp(date)
        return try state.withLock { s throws(AuditError) -> [AuditRecord] in
            var records: [AuditRecord] = []
            var bytes = Data()
            var seq = s.seq
            var prev = s.prev
            for e in events {
                seq += 1
                var r = AuditRecord(
                    seq: seq, prev: prev, eventDateTime: time, eventID: e.eventID, eventTypeCode: e.eventTypeCode,
                    eventActionCode: e.action, eventOutcomeIndicator: e.outcome, eventOutcomeDescription: e.outcomeDescription,
                    activeParticipant: [participant] + e.peers, auditSourceID: source, participantObject: e.objects,
                    transaction: e.transaction, hash: nil)
                bytes.append(AuditChain.line(for: &r))
                bytes.append(UInt8(ascii: "\n"))
                prev = r.hash!
                records.append(r)
            }
            let failure: Int32? = bytes.withUnsafeBytes { raw in
                var offset = 0
                while offset < raw.count {
                    let n = write(s.fd, raw.baseAddress! + offset, raw.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        return errno
                    }
                    offset += n
                }
                return fsync(s.fd) == 0 ? nil : errno
            }
            if let failure {
                _ = ftruncate(s.fd, off_t(s.length))
                throw .system(url.path, "writing a record", failure)
            }
            s.seq = seq
            s.prev = prev
            s.length += bytes.count
            writeHead(AuditHead(seq: seq, hash: prev))
            return records
        }
    }

    /// The head file, replaced atomically; it only ever trails the log, so losing an update is harmless.
    private func writeHead(_ head: AuditHead) {
        let target = AuditHead.url(for: url)
        let temp = target.path + ".tmp"
        guard let data = try? JSONEncoder().encode(head) else { return }
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o640)
        guard fd >= 0 else { return }
        let ok = data.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) == $0.count } && fsync(fd) == 0
        close(fd)
        if ok { rename(temp, target.path) } else { unlink(temp) }
    }

    /// UTC, ISO 8601 with milliseconds: 2026-11-22T01:02:03.456Z.
    public static func timestamp(_ date: Date) -> String {
        let f = Date.ISO8601FormatStyle(includingFractionalSeconds: true, timeZone: .gmt)
        return date.formatted(f)
    }
}
