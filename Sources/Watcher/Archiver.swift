import Audit
import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Where inputs, notes and reports go, and the moves that take them there. A name is claimed from
/// when it is planned until the action is done or dropped, so two workers never pick the same one;
/// a name on disk or claimed gets a numbered one (`name-2`, …): nothing is ever overwritten.
final class Archiver: Sendable {
    let paths: WatchSettings.Paths
    let logger: Logger
    private let claimed = Mutex<Set<String>>([])

    init(paths: WatchSettings.Paths, logger: Logger) {
        self.paths = paths
        self.logger = logger
    }

    /// `archive/<UTC date>`.
    var archiveFolder: String {
        paths.archive + "/" + String(AuditLog.timestamp(Date()).prefix(10))
    }

    /// A free path for the input `relative` (to the inbox) under `folder`, keeping its subfolders; also
    /// free with `suffix` appended (for its note). Claimed until released.
    func claimDestination(for relative: String, in folder: String, suffix: String) -> String {
        let sub = (relative as NSString).deletingLastPathComponent
        let dir = sub.isEmpty ? folder : folder + "/" + sub
        return claimed.withLock { names in
            let p = FileMove.freeName((relative as NSString).lastPathComponent, in: dir, claimed: names, suffix: suffix)
            names.insert(p)
            return p
        }
    }

    /// A name picked by `choose` (given the names claimed now), claimed until released.
    func claim(_ choose: (Set<String>) -> String) -> String {
        claimed.withLock { names in
            let p = choose(names)
            names.insert(p)
            return p
        }
    }

    /// Claims the names of an action found in a crash journal, before finishing it.
    func reclaim(_ action: PendingAction) {
        claimed.withLock { $0.formUnion(action.names) }
    }

    /// The action is done or dropped: its names are no longer held.
    func release(_ action: PendingAction) {
        claimed.withLock { $0.subtract(action.names) }
    }

    func isClaimed(_ name: String) -> Bool {
        claimed.withLock { $0.contains(name) }
    }

    /// Moves the input to the action's destination and writes its note; safe to repeat.
    func archive(_ action: PendingAction) throws(ActionFailure) {
        let f = action.fields
        if let id = FileMove.identity(f.input), id == (f.device, f.inode) {
            do throws(FileMove.Failure) {
                try FileMove.move(f.input, to: f.destination)
            } catch {
                throw ActionFailure(description: error.description)
            }
        } else if !FileMove.exists(f.destination) {
            // Neither in the inbox nor moved: it was taken away by someone else before it was archived.
            logger.warning("\(f.relative) disappeared from the inbox before it was archived")
        }
        if let note = action.note {
            do throws(FileMove.Failure) {
                try FileMove.writeNew(note.path, note.text)
            } catch {
                throw ActionFailure(description: error.description)
            }
        }
    }

    /// Hidden temporary files (`.<name>.<random>.tmp`) that a killed run left in the reports, archive
    /// and failed folders: never complete, so they go. Only call it when no other watcher of the inbox
    /// is running (the temporaries could be theirs, being written).
    func removeStaleTemporaries() {
        for folder in [paths.reports, paths.archive, paths.failed] {
            guard let e = FileManager.default.enumerator(atPath: folder) else { continue }
            while let relative = e.nextObject() as? String {
                let name = (relative as NSString).lastPathComponent
                guard name.hasPrefix("."), name.hasSuffix(".tmp") else { continue }
                let path = folder + "/" + relative
                if unlink(path) == 0 { logger.info("removed \(path), a temporary file left by an interrupted run") }
            }
        }
    }
}
