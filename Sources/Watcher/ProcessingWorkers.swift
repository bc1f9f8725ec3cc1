import Foundation
import ServiceLifecycle

/// The processing workers, a service: `count` threads, each taking a job from the queue, processing
/// it end to end (`ScanProcessor.process`) and handing the outcome on. Processing blocks (decoding, the
/// forward pass, file I/O), so each worker is a thread of its own, bridged to `run()`.
///
/// A graceful shutdown (or cancellation) closes the queue: each worker finishes the file in hand, the
/// files still queued are dropped (they stay in the inbox), and `run()` returns once every worker has.
final class ProcessingWorkers: Service, CustomStringConvertible {
    let count: Int
    let queue: WorkQueue<Job>
    let processor: ScanProcessor
    /// Called on the worker's thread with each outcome and when it was reached.
    let deliver: @Sendable (Job, Outcome, Date) -> Void

    var description: String { "ProcessingWorkers(\(count))" }

    init(count: Int, queue: WorkQueue<Job>, processor: ScanProcessor, deliver: @escaping @Sendable (Job, Outcome, Date) -> Void) {
        self.count = count
        self.queue = queue
        self.processor = processor
        self.deliver = deliver
    }

    func run() async {
        let (queue, processor, deliver) = (queue, processor, deliver)
        await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await withTaskGroup(of: Void.self) { group in
                    for i in 0..<count {
                        group.addTask {
                            await BlockingThread.run(name: "cxreview-worker-\(i + 1)") {
                                while let job = queue.take() {
                                    deliver(job, processor.process(job), Date())
                                }
                            }
                        }
                    }
                }
            } onGracefulShutdown: {
                queue.close()
            }
        } onCancel: {
            queue.close()
        }
    }
}
