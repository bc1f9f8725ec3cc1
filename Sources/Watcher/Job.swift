import Foundation

/// One input file taken from the inbox.
struct Job: Sendable {
    let path: String
    let relative: String
    /// When the file arrived (its change time when first seen), for the drop-to-report latency.
    let seen: Date
}

/// What became of a job.
enum Outcome: Sendable {
    case reported(report: String, predicted: String)
    /// Moved to `movedTo` in failed/; `judged` is the file as it was judged, to notice a writer that was not done.
    case failed(reason: String, movedTo: String, judged: FileStamp?)
    case duplicate(of: String)
    /// Not done now, through no fault of the input (or the input may still be arriving): try again later.
    /// `reportWritten`: its report exists already; only archiving is left.
    case retry(after: Double, reason: String, environment: Bool, reportWritten: String? = nil)
    /// The file was gone when its turn came.
    case vanished
    /// Another watcher of the same inbox has claimed it.
    case claimedElsewhere
}
