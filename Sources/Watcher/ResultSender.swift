import Audit
import DICOMNetwork
import Foundation
import Logging
import ServiceLifecycle

/// Sends the DICOM results to the PACS (`--send-to HOST:PORT --called-ae TITLE`), a service.
///
/// It works through the outbox (`Outbox`) oldest first, one entry (a scan's three objects) per association.
/// Each file the PACS acknowledges is recorded in the entry at once, so a file is sent once. While the PACS
/// cannot be reached (connection refused, association rejected, network failure) it waits and tries again,
/// the wait doubling from `--retry` up to 5 minutes; a file the PACS refuses (a failure status, a transfer
/// syntax it does not take) is tried `maxRefusals` times, then given up with an error in the log and the
/// audit. Every attempt is audited (DICOM Instances Transferred, with the PACS as a participant).
final class ResultSender: Service, Sendable, CustomStringConvertible {
    let outbox: Outbox
    let destination: WatchSettings.HostPort
    let calledAE: String
    let callingAE: String
    let audit: AuditLog
    let logger: Logger
    let firstWait: Double
    static let maxRefusals = 5
    static let idlePoll: Duration = .milliseconds(250)

    var description: String { "ResultSender(\(calledAE)@\(destination.host):\(destination.port))" }

    init(outbox: Outbox, settings: WatchSettings, audit: AuditLog, logger: Logger) {
        self.outbox = outbox
        destination = settings.sendTo!
        calledAE = settings.calledAE ?? ""
        callingAE = settings.aeTitle
        self.audit = audit
        self.logger = logger
        firstWait = settings.retry
    }

    func run() async {
        await cancelWhenGracefulShutdown {
            var streak = 0
            while !Task.isCancelled {
                var unreachable = false
                for entry in self.outbox.pending() where !Task.isCancelled {
                    let sent = await self.send(entry)
                    if !sent { unreachable = true; break }
                }
                if unreachable {
                    streak += 1
                    let wait = min(self.firstWait * pow(2, Double(min(streak - 1, 10))), 300)
                    self.logger.warning("the PACS \(self.calledAE) at \(self.destination.host):\(self.destination.port) cannot be reached; the DICOM results wait in \(self.outbox.folder) and are sent again in \(Int(wait.rounded())) s")
                    try? await Task.sleep(for: .milliseconds(Int(wait * 1000)))
                } else {
                    streak = 0
                    try? await Task.sleep(for: Self.idlePoll)
                }
            }
        }
    }

    /// Sends what is left of `entry`; false when the PACS could not be reached (the caller backs off).
    private func send(_ entry: Outbox.Entry) async -> Bool {
        var entry = entry
        let files = entry.unsent.map { URL(fileURLWithPath: $0) }
        let (host, port, called, calling) = (destination.host, UInt16(destination.port), calledAE, callingAE)
        let sent = await BlockingThread.run(name: "cxreview-dicom-sender") {
            Result { () throws(DICOMNetworkError) in
                try StorageSender().send(files: files, host: host, port: port, calledAE: called, callingAE: calling)
            }
        }
        let results: [SendResult]
        switch sent {
        case let .success(r): results = r
        case let .failure(error):
            logger.critical("cannot send DICOM results: \(error.description)")
            return false
        }
        let stored = results.filter(\.isStored)
        let failures = results.compactMap { r -> (URL, SendFailure)? in
            if case let .failed(f) = r.outcome { (r.file, f) } else { nil }
        }
        let unreachable = failures.contains { _, f in
            switch f {
            case .connectionRefused, .associationRejected, .network: true
            default: false
            }
        }
        entry.sent += stored.map(\.file.path)
        if !failures.isEmpty && !unreachable { entry.failures += 1 }
        entry.lastError = failures.first.map { "\($0.0.lastPathComponent): \($0.1.description)" }
        let givingUp = !unreachable && entry.failures >= Self.maxRefusals
        do throws(FileMove.Failure) {
            if entry.unsent.isEmpty || givingUp { try outbox.finish(entry) } else { try outbox.save(entry) }
        } catch {
            logger.error("cannot record what was sent in \(outbox.folder) (\(error.description)); those files may be sent again")
        }
        auditAttempt(entry, stored: stored, failures: failures, givingUp: givingUp)
        if !stored.isEmpty {
            logger.info("sent the DICOM results of \(entry.relative) to \(calledAE): \(stored.map(\.file.lastPathComponent).joined(separator: ", "))",
                        metadata: ["event": "sent", "file": "\(entry.relative)", "count": "\(stored.count)"])
        }
        if givingUp {
            logger.error("gave up sending \(failures.map(\.0.lastPathComponent).joined(separator: ", ")) of \(entry.relative) after \(entry.failures) refusals: \(entry.lastError ?? "")")
        } else if !failures.isEmpty && !unreachable {
            logger.warning("the PACS refused \(failures.map(\.0.lastPathComponent).joined(separator: ", ")) of \(entry.relative): \(entry.lastError ?? ""); retried")
        }
        return !unreachable
    }

    private func auditAttempt(_ entry: Outbox.Entry, stored: [SendResult], failures: [(URL, SendFailure)], givingUp: Bool) {
        let peer = AuditParticipant.dicomPeer(aeTitle: calledAE, host: destination.host, isRequestor: false)
        var objects = (stored.map(\.file) + failures.map(\.0)).map { AuditObject.file(path: $0.path, sha256: nil, role: 3) }
        if let study = entry.studyInstanceUID { objects.append(.study(uid: study, sopInstanceUID: nil)) }
        let outcome: AuditOutcome = failures.isEmpty ? .success : givingUp ? .seriousFailure : .minorFailure
        var text = "sent \(stored.count) of \(stored.count + failures.count) DICOM results of \(entry.relative) to \(calledAE) at \(destination.host):\(destination.port)"
        if let first = failures.first { text += "; not stored: \(first.0.lastPathComponent): \(first.1.description)" + (givingUp ? " (given up)" : " (retried)") }
        do throws(AuditError) {
            try audit.append([AuditEvent(eventID: .dicomInstancesTransferred, action: .read, outcome: outcome, outcomeDescription: text,
                                         objects: objects, transaction: entry.transaction, peers: [peer])])
        } catch {
            logger.critical("the audit log cannot be written: \(error.description)")
        }
    }
}
