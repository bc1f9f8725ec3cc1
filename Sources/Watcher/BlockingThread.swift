import Foundation

/// Blocking work (a poll loop, a forward pass, a decoder child process) on a thread of its own, so that
/// it never holds one of the few threads of Swift's cooperative pool.
enum BlockingThread {
    /// Runs `body` on a new thread named `name`; returns once `body` has returned.
    static func run(name: String, _ body: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { (done: CheckedContinuation<Void, Never>) in
            let thread = Thread {
                body()
                done.resume()
            }
            thread.name = name
            thread.start()
        }
    }
}
