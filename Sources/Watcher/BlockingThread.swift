import Foundation

/// Blocking work (a poll loop, a forward pass, a decoder child process, a DICOM association) on a thread of
/// its own, so that it never holds one of the few threads of Swift's cooperative pool.
enum BlockingThread {
    /// Runs `body` on a new thread named `name`; returns what it returns, once it has.
    static func run<T: Sendable>(name: String, _ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (done: CheckedContinuation<T, Never>) in
            let thread = Thread {
                done.resume(returning: body())
            }
            thread.name = name
            thread.start()
        }
    }
}
