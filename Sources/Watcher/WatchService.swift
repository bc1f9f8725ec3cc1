import Audit
import DICOMResults
import Foundation
import Logging
import Pipeline
import Reporting
import ResNet
#if canImport(Glibc)
import Glibc
#endif

/// Why the watcher could not start: one line that says what is wrong and what to do.
public struct WatchError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Sets up and runs `cxreview watch`: folders, audit log, model, report writer, then the services.
public enum WatchService {
    /// Runs until SIGINT/SIGTERM (exit code 0) or, with `once`, until the files present are done
    /// (exit code 0, or 1 when some had to stay in the inbox). `loader` decodes the inputs: give
    /// an `IsolatedScanLoader`, so that a file that crashes a decoding library costs that file only.
    public static func run(_ settings: WatchSettings, loader: any ScanLoading = ScanLoader(), logger: Logger) async throws(WatchError) -> Int32 {
        let session = try prepare(settings, loader: loader, logger: logger)
        return try await session.run(session.serviceGroup(stopOnSignals: true))
    }

    /// Checks the folders, opens the audit log, loads the model, and audits the start.
    static func prepare(_ settings: WatchSettings, loader: any ScanLoading, logger: Logger) throws(WatchError) -> WatchSession {
        let paths = settings.paths
        if let problem = settings.dicomProblem { throw WatchError(problem) }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: paths.inbox, isDirectory: &isFolder), isFolder.boolValue else {
            throw WatchError("the inbox \(paths.inbox) is not a folder; create it or name the right one")
        }
        for (name, folder) in [("--out", paths.reports), ("--archive", paths.archive), ("--failed", paths.failed)]
        where InboxScanner.realPath(folder) ?? folder == InboxScanner.realPath(paths.inbox) ?? paths.inbox {
            throw WatchError("\(name) is the inbox itself (\(folder)); its files would be taken as new scans. Choose a folder beside the inbox or inside it")
        }
        for folder in [paths.state, paths.reports] {
            do {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            } catch {
                if folder == paths.state || !FileManager.default.fileExists(atPath: folder) {
                    throw WatchError("cannot create \(folder): \(error.localizedDescription); create it or choose another folder")
                }
            }
        }

        if geteuid() == 0 {
            logger.warning("running as root: run `cxreview watch` as an ordinary user (see the README). As root, every input reaches the decoders with every privilege, and the reports, archive and audit log become root's files")
        }
        if access(paths.inbox, W_OK) != 0 {
            logger.warning("the inbox \(paths.inbox) is not writable by this user: reports are written, but inputs cannot be moved to the archive or failed/; they stay in the inbox and archiving is retried. Make the inbox writable for this user")
        }
        // The claims live with the inbox, not in --state: every watcher of this inbox must see the same ones,
        // whatever state folder it was given. Only a read-only inbox falls back to the state folder.
        let claims: InboxClaims
        do throws(InboxClaims.Failure) {
            claims = try InboxClaims(state: paths.inbox + "/.cxreview")
        } catch {
            do throws(InboxClaims.Failure) {
                claims = try InboxClaims(state: paths.state)
                logger.warning("cannot keep claims in \(paths.inbox)/.cxreview (\(error.description)); keeping them in \(paths.state): other watchers of this inbox must use the same --state")
            } catch {
                throw WatchError("cannot register this watcher: \(error.description)")
            }
        }

        var rotated: AuditRotation.Rotated?
        if let megabytes = settings.auditRotateMB {
            if claims.hasPendingWork() {
                logger.notice("the audit log is not rotated at this start: interrupted work is pending, and its records may be in the current log")
            } else {
                switch AuditRotation.rotateIfLarger(paths.audit, than: megabytes * 1_000_000) {
                case let .success(r):
                    rotated = r
                    if let r { logger.info("audit log rotated: \(paths.audit) → \(r.path) (last record \(r.lastSeq)); the new log starts by naming it") }
                case let .failure(error):
                    logger.warning("\(error.description)")
                }
            }
        }

        let audit: AuditLog
        let hasher: PatientIDHasher
        do throws(AuditError) {
            audit = try AuditLog(url: URL(fileURLWithPath: paths.audit))
            if let rotated { try audit.append([AuditRotation.continuation(rotated)]) }
            hasher = try claims.withInboxLock { () throws(AuditError) -> PatientIDHasher in
                try PatientIDHasher(saltFile: URL(fileURLWithPath: paths.salt))
            }
        } catch {
            if error.problem.contains("locked") {
                var host = [CChar](repeating: 0, count: 256)
                gethostname(&host, host.count)
                let name = String(decoding: host.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                throw WatchError("""
                    the audit log \(paths.audit) is in use by another running `cxreview watch`. Several watchers can share one \
                    inbox, on this host or on others: each file is claimed by exactly one of them, so every scan gets one report. \
                    But each watcher writes its own audit log: start this one with its own --audit (e.g. --audit \
                    \((paths.audit as NSString).deletingLastPathComponent)/audit-\(name)-2.jsonl), and check each log with `cxreview audit verify`.
                    """)
            }
            throw WatchError(error.description)
        }
        if let problem = audit.opened.problem, problem.kind != .tornLastLine {
            logger.critical("the audit log failed verification: \(problem); a security alert was recorded")
        }
        if audit.opened.tornTail != nil { logger.warning("the audit log's last line was cut off by a crash; it was repaired and the repair audited") }

        let modelURL: URL
        let loaded: LoadedModel
        do {
            modelURL = try ModelLocator.locate(explicit: settings.model)
            loaded = try LoadedModel.load(modelURL, classNames: settings.classes)
        } catch {
            throw WatchError("cannot load the model: \(error)")
        }
        let model = loaded.network
        for line in loaded.warnings { logger.warning("\(line)") }
        var template = ReportTemplate.default
        if let path = settings.template {
            do { template = try ReportTemplate.load(contentsOf: URL(fileURLWithPath: path)) } catch {
                throw WatchError(error.description)
            }
        }
        let writer: ReportWriter
        do {
            writer = try ReportWriter(directory: URL(fileURLWithPath: paths.reports), template: template, model: model.configuration,
                                      modelURL: modelURL, saliency: Saliency(rawValue: settings.saliency) ?? .layer4)
        } catch {
            throw WatchError("cannot prepare reports in \(paths.reports): \(error)")
        }
        var dicom: DICOMOutput?
        if let folder = settings.dicomOut {
            do throws(DICOMResultsError) {
                dicom = DICOMOutput(writer: try DICOMResultWriter(directory: URL(fileURLWithPath: folder), uidRoot: settings.uidRoot),
                                    send: settings.sendTo != nil)
            } catch {
                throw WatchError("cannot write DICOM results into \(folder): \(error.description)")
            }
        }
        let modelSHA = writer.modelInfo.sha256  // hashed once, by the report writer
        let modelName = "\(model.configuration.name ?? modelURL.lastPathComponent)" + (model.configuration.version.map { " v\($0)" } ?? "")
        let processor = ScanProcessor(
            classifier: Classifier(model: model, threads: settings.threads, loader: loader), writer: writer, audit: audit, hasher: hasher,
            settings: settings, modelName: modelName, modelSHA256: modelSHA, logger: logger, claims: claims, dicom: dicom,
            outbox: settings.sendTo == nil ? nil : Outbox(folder: paths.outbox))
        if model.outOfDistribution == nil, loaded.configuration == .stored {  // else a warning said so
            logger.notice("model \(modelURL.lastPathComponent) has no out-of-distribution statistics: reports will not warn about unusual scans (cxreview calibrate-ood adds them)")
        }
        let session = try WatchSession(settings: settings, processor: processor, audit: audit, logger: logger)
        do throws(AuditError) {
            try session.watcher.auditStart(details: ["reports": paths.reports, "archive": paths.archive, "failed": paths.failed,
                                             "model": modelURL.path, "modelSHA256": modelSHA,
                                             "modelConfiguration": loaded.configuration.name]
                                             .merging(dicomDetails(settings, session)) { a, _ in a })
        } catch {
            throw WatchError(error.description)
        }
        return session
    }

    /// The DICOM settings, for the start record.
    private static func dicomDetails(_ settings: WatchSettings, _ session: WatchSession) -> [String: String] {
        var d: [String: String] = [:]
        if let folder = settings.dicomOut { d["dicomOut"] = folder; d["uidRoot"] = settings.uidRoot ?? "2.25" }
        if let receiver = session.receiver {
            d["listen"] = "\(receiver.listener.port) as \(settings.aeTitle)"
            d["allowedCallingAEs"] = settings.allowedCallingAEs?.joined(separator: ",") ?? "any"
        }
        if let to = settings.sendTo { d["sendTo"] = "\(settings.calledAE ?? "")@\(to.host):\(to.port)" }
        return d
    }
}
