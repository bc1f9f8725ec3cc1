import Foundation
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The crash journal: this watcher's pending folder (`INBOX/.cxreview/watchers/<id>/pending/`), where
/// each `PendingAction` is written before anything visible happens and removed once it is done; and
/// the actions of this run that could not be finished yet, by input path, to finish when their file
/// comes round again.
final class Journal: Sendable {
    /// This watcher's own folder, so that no other watcher finishes its actions while it lives.
    let folder: String
    private let unfinished = Mutex<[String: PendingAction]>([:])

    init(folder: String) {
        self.folder = folder
    }

    static func path(of action: PendingAction, in folder: String) -> String { folder + "/\(action.transaction).json" }

    /// Writes the action durably (temporary file, fsync, rename, folder fsync).
    func save(_ action: PendingAction) throws(FileMove.Failure) {
        try FileMove.replace(Self.path(of: action, in: folder), with: try! JSONEncoder().encode(action))  // strings and numbers only: cannot fail
    }

    /// The action is done (or dropped before anything visible happened): its entry goes.
    func remove(_ action: PendingAction) {
        Self.remove(action, in: folder)
        unfinished.withLock { pending in
            if pending[action.input]?.transaction == action.transaction { pending[action.input] = nil }
        }
    }

    private static func remove(_ action: PendingAction, in folder: String) {
        unlink(path(of: action, in: folder))
        FileMove.syncFolder(folder)
    }

    /// Removes the outputs an uncommitted action has written so far (report, DICOM results), so that
    /// processing the input again leaves one set; returns their paths.
    @discardableResult
    static func rollBack(_ action: PendingAction) -> [String] {
        var removed: [String] = []
        for path in action.outputs where unlink(path) == 0 { removed.append(path) }
        for folder in Set(removed.map { ($0 as NSString).deletingLastPathComponent }) { FileMove.syncFolder(folder) }
        return removed
    }

    /// Remembers an action that is written but could not be finished yet.
    func keep(_ action: PendingAction) {
        unfinished.withLock { $0[action.input] = action }
    }

    /// The unfinished action on this input, if any.
    func unfinished(for input: String) -> PendingAction? {
        unfinished.withLock { $0[input] }
    }

    /// The actions left in `folder` by an earlier run, oldest first; unreadable leftovers are renamed aside
    /// (`<transaction>.json.unreadable`), and temporaries never renamed into place (never acted on) go.
    static func load(in folder: String) -> [PendingAction] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        var out: [(Date, PendingAction)] = []
        for name in names {
            let path = folder + "/" + name
            if name.hasSuffix(".json.tmp") { unlink(path); continue }
            guard name.hasSuffix(".json") else { continue }
            guard let data = FileManager.default.contents(atPath: path),
                  let action = try? JSONDecoder().decode(PendingAction.self, from: data) else {
                rename(path, path + ".unreadable")
                continue
            }
            let date = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? Date()
            out.append((date, action))
        }
        return out.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// Finishes what a watcher that stopped (this one's earlier run, or another that died) left half done
    /// in `folder`, with `finish`. An action whose outputs (report, DICOM results) were not all written is
    /// not committed: the outputs it did write are removed (they carry its planned names and UIDs, nobody
    /// else's), it is dropped, and its input is taken again as a new transaction. Returns the actions that
    /// could not be finished yet (kept here, to retry; the caller moves their files to this watcher's folder).
    func recover(from folder: String, logger: Logger,
                 finish: (PendingAction) throws(ActionFailure) -> Void) -> [PendingAction] {
        var left: [PendingAction] = []
        for action in Self.load(in: folder) {
            let outputs = action.outputs
            if !outputs.allSatisfy(FileMove.exists), FileMove.exists(action.input) {
                let partial = Self.rollBack(action)
                Self.remove(action, in: folder)
                let removed = partial.isEmpty ? "" : " (removed the unfinished \(partial.map { ($0 as NSString).lastPathComponent }.joined(separator: ", ")))"
                logger.info("restart: \(action.relative) was interrupted before its outputs were written\(removed); it is processed again")
                continue
            }
            do throws(ActionFailure) {
                try finish(action)
                Self.remove(action, in: folder)
                logger.info("restart: finished the interrupted processing of \(action.relative)")
            } catch {
                logger.warning("restart: cannot yet finish \(action.relative): \(error.description)")
                keep(action)
                left.append(action)
            }
        }
        return left
    }
}
