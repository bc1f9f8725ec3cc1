import Audit
import Foundation
import Logging
import ServiceLifecycle

/// One run of `cxreview watch`, set up (`WatchService.prepare`): its services, run by a `ServiceGroup`,
/// and what is done once they have all ended.
final class WatchSession: Sendable {
    let settings: WatchSettings
    let logger: Logger
    let processor: ScanProcessor
    let watcher: FolderWatcher
    let workers: ProcessingWorkers
    /// The DICOM listener (`--listen`) and the sender of DICOM results (`--send-to`), when configured.
    let receiver: DICOMReceiver?
    let sender: ResultSender?

    init(settings: WatchSettings, processor: ScanProcessor, audit: AuditLog, logger: Logger) throws(WatchError) {
        self.settings = settings
        self.logger = logger
        self.processor = processor
        let queue = WorkQueue<Job>(capacity: settings.queue)
        let watcher = try FolderWatcher(settings: settings, processor: processor, audit: audit, queue: queue, logger: logger)
        self.watcher = watcher
        workers = ProcessingWorkers(count: settings.workers, queue: queue, processor: processor) { job, outcome, date in
            watcher.deliver(job, outcome, at: date)
        }
        sender = processor.outbox.map { ResultSender(outbox: $0, settings: settings, audit: audit, logger: logger) }
        receiver = settings.listen == nil ? nil : try DICOMReceiver(settings: settings, audit: audit, logger: logger)
    }

    /// The services in start order; a graceful shutdown stops them one at a time in reverse order.
    ///
    /// The DICOM listener comes last, so it stops first: no new instance is accepted while the rest winds
    /// down (what it acknowledged is on disk already). Then the sender (what it has not sent waits in the
    /// outbox for the next start), then the workers: each finishes the file in hand, queued files stay in
    /// the inbox, and the folder watcher still takes their outcomes. The folder watcher ending by itself
    /// (`--once`, the inbox done) shuts the group down gracefully.
    var services: [ServiceGroupConfiguration.ServiceConfiguration] {
        var list: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: watcher, successTerminationBehavior: .gracefullyShutdownGroup,
                  failureTerminationBehavior: .gracefullyShutdownGroup),
            .init(service: workers),
        ]
        if let sender { list.append(.init(service: sender)) }
        if let receiver {
            list.append(.init(service: receiver, successTerminationBehavior: .gracefullyShutdownGroup,
                              failureTerminationBehavior: .gracefullyShutdownGroup))
        }
        return list
    }

    /// The group of `services`; with `stopOnSignals`, SIGTERM and SIGINT shut it down gracefully.
    func serviceGroup(stopOnSignals: Bool) -> ServiceGroup {
        ServiceGroup(configuration: ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: stopOnSignals ? [.sigterm, .sigint] : [], logger: logger))
    }

    /// Runs `group` (made by `serviceGroup`) to its end, then audits the stop. Returns the exit code: 0,
    /// or with `once` 1 when some files had to stay in the inbox.
    func run(_ group: ServiceGroup) async throws(WatchError) -> Int32 {
        var failure: (any Error)?
        do {
            try await group.run()
        } catch {
            failure = error
        }
        let left = watcher.finish()
        if let failure {
            throw WatchError("the watcher stopped unexpectedly (\(failure)); start it again: work it left half done is finished at start")
        }
        return settings.once && left > 0 ? 1 : 0
    }
}
