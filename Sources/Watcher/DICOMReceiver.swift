import Audit
import DICOMNetwork
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// The DICOM listener (`--listen`), a service: a C-STORE SCP with C-ECHO whose instances land in
/// `INBOX/received/<study>/`, each synced and renamed into place before it is acknowledged. From there the
/// folder watcher takes them like any dropped file, once their study has been quiet for `--study-settle`
/// seconds, so the watcher's crash safety covers them unchanged.
///
/// Every association is audited (PS3.15): Begin Transferring DICOM Instances when it is accepted, DICOM
/// Instances Transferred when it ends (the studies and instances received, failures with their reasons),
/// a Security Alert when one is refused.
final class DICOMReceiver: Service, Sendable, CustomStringConvertible {
    let listener: StorageListener
    var description: String { "DICOMReceiver(port \(listener.port))" }

    /// What one accepted association has done so far, for its audit record.
    private struct Association {
        var callingAE: String
        var peerHost: String
        var instances: [String: [String]] = [:]  // study → SOP instance UIDs
        var failures: [String] = []
    }

    /// The associations in progress, by number.
    private final class Associations: Sendable {
        let open = Mutex<[UInt64: Association]>([:])
    }

    /// Opens the port (a taken port fails here, before the watcher starts).
    init(settings: WatchSettings, audit: AuditLog, logger: Logger) throws(WatchError) {
        let folder = settings.paths.received
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw WatchError("cannot create \(folder) for received scans: \(error.localizedDescription); make the inbox writable for this user")
        }
        let associations = Associations()
        let received = Atomic<Int>(0)
        let pauseAfter = ProcessInfo.processInfo.environment["CXR_TEST_PAUSE_AFTER_RECEIVED"].flatMap(Int.init)
        let configuration = ListenerConfiguration(
            port: UInt16(settings.listen ?? 0), aeTitle: settings.aeTitle, allowedCallingAETitles: settings.allowedCallingAEs ?? [],
            folder: URL(fileURLWithPath: folder))
        do throws(DICOMNetworkError) {
            listener = try StorageListener(configuration: configuration) { event in
                Self.handle(event, associations: associations, audit: audit, logger: logger)
                if case .instanceStored = event, let pauseAfter, received.add(1, ordering: .relaxed).newValue >= pauseAfter {
                    Self.testPause(logger)
                }
            }
        } catch {
            throw WatchError("cannot listen for DICOM on port \(settings.listen ?? 0): \(error.description)")
        }
        let callers = settings.allowedCallingAEs.map { "calling AE titles allowed: \($0.joined(separator: ", "))" } ?? "any calling AE title"
        logger.info("listening for DICOM on port \(listener.port) as \(settings.aeTitle) (\(callers)); received studies go to \(folder), processed once quiet for \(settings.studySettle) s")
    }

    func run() async throws {
        let listener = listener
        let ended = await withGracefulShutdownHandler {
            await BlockingThread.run(name: "cxreview-dicom-listener") {
                Result { () throws(DICOMNetworkError) in try listener.run() }
            }
        } onGracefulShutdown: {
            listener.stop()
        }
        if case let .failure(error) = ended { throw WatchError("the DICOM listener stopped: \(error.description)") }
    }

    private static func handle(_ event: ListenerEvent, associations: Associations, audit: AuditLog, logger: Logger) {
        var records: [AuditEvent] = []
        switch event {
        case let .associationAccepted(id, calling, called, host):
            associations.open.withLock { $0[id] = Association(callingAE: calling, peerHost: host) }
            logger.info("DICOM association \(id) from \(calling) at \(host) to \(called) accepted")
            records.append(AuditEvent(
                eventID: .beginTransferringDICOMInstances, action: .execute, outcome: .success,
                outcomeDescription: "association \(id) from \(calling) at \(host) accepted",
                peers: [.dicomPeer(aeTitle: calling, host: host, isRequestor: true)]))
        case let .associationRefused(calling, called, host, reason):
            logger.warning("DICOM association from \(calling) at \(host) to \(called) refused: \(reason)")
            records.append(AuditEvent(
                eventID: .securityAlert, eventTypeCode: [AuditCode("110126", "DCM", "Node Authentication")], action: .execute,
                outcome: .minorFailure, outcomeDescription: "DICOM association from \(calling) at \(host) to \(called) refused: \(reason)",
                peers: [.dicomPeer(aeTitle: calling, host: host, isRequestor: true)]))
        case let .instanceStored(instance):
            associations.open.withLock { $0[instance.association]?.instances[instance.studyInstanceUID, default: []].append(instance.sopInstanceUID) }
            logger.debug("received \(instance.sopInstanceUID) → \(instance.file.path)")
        case let .instanceFailed(id, sop, status, reason):
            associations.open.withLock { $0[id]?.failures.append("\(sop.isEmpty ? "an instance" : sop): 0x\(String(status, radix: 16, uppercase: true)) \(reason)") }
            logger.error("DICOM association \(id): an instance was not stored (\(reason)); the sender was told so and keeps it")
        case let .associationEnded(id, stored, failed, released, reason):
            guard let a = associations.open.withLock({ $0.removeValue(forKey: id) }) else { break }
            let how = released ? "released" : "aborted (\(reason))"
            logger.info("DICOM association \(id) from \(a.callingAE) \(how): \(stored) instances received, \(failed) failed")
            let studies = a.instances.sorted { $0.key < $1.key }.map { study, sops in
                AuditObject.study(uid: study.isEmpty ? "unknown" : study, sopInstanceUID: sops.joined(separator: " "))
            }
            records.append(AuditEvent(
                eventID: .dicomInstancesTransferred, action: .create,
                outcome: failed > 0 || !released ? .minorFailure : .success,
                outcomeDescription: "association \(id) from \(a.callingAE) at \(a.peerHost) \(how): \(stored) instances received"
                    + (a.failures.isEmpty ? "" : "; not stored: " + a.failures.joined(separator: "; ")),
                objects: studies, peers: [.dicomPeer(aeTitle: a.callingAE, host: a.peerHost, isRequestor: true)]))
        case .echo:
            break
        }
        guard !records.isEmpty else { return }
        do throws(AuditError) {
            try audit.append(records)
        } catch {
            logger.critical("the audit log cannot be written: \(error.description)")
        }
    }

    /// Test hook, not a user setting: with `CXR_TEST_PAUSE_AFTER_RECEIVED=N` in its environment the listener
    /// stops in the middle of the association once N instances are received, and says so in the log, so that
    /// a test can `kill -9` the watcher there and show that nothing acknowledged is lost. Only whoever starts
    /// the process can set it.
    private static func testPause(_ logger: Logger) {
        logger.notice("test hook: the listener pauses here (CXR_TEST_PAUSE_AFTER_RECEIVED)")
        while true { sleep(3600) }
    }
}
