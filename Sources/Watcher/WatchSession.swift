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
    }

    /// The services in start order; a graceful shutdown stops them one at a time in reverse order.
    ///
    /// The workers come last, so they stop first: each finishes the file in hand, queued files stay in
    /// the inbox, and the folder watcher still takes their outcomes. The folder watcher ending by itself
    /// (`--once`, the inbox done) shuts the group down gracefully. A further service (a DICOM listener
    /// that drops into the inbox, a sender of the reports) goes into this list.
    var services: [ServiceGroupConfiguration.ServiceConfiguration] {
        [
            .init(service: watcher, successTerminationBehavior: .gracefullyShutdownGroup,
                  failureTerminationBehavior: .gracefullyShutdownGroup),
            .init(service: workers),
        ]
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
