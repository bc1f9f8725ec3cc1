import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// DICOM results waiting for the C-STORE sender (`--send-to`), and the record of what was sent.
///
/// One JSON entry per transaction in `STATE/outbox/`, written durably when the transaction completes; it
/// records each file once the PACS has acknowledged it, and moves to `STATE/outbox/sent/` when all are.
/// A restart sends only what is not recorded as sent. The one window left: a crash after the PACS
/// acknowledged a file and before the entry recorded it sends that file again, with the same SOP Instance
/// UID, which a PACS stores as the same instance.
final class Outbox: Sendable {
    struct Entry: Codable, Sendable, Equatable {
        var transaction: String
        /// The input, relative to the inbox, for messages.
        var relative: String
        var studyInstanceUID: String?
        var files: [String]
        var queued = Date()
        /// The files the PACS has acknowledged.
        var sent: [String] = []
        /// Attempts that failed, and the last reason.
        var failures: Int = 0
        var lastError: String?

        var unsent: [String] { files.filter { !sent.contains($0) } }
    }

    let folder: String
    var sentFolder: String { folder + "/sent" }

    init(folder: String) {
        self.folder = folder
    }

    private func path(_ transaction: String, in folder: String) -> String { folder + "/\(transaction).json" }

    /// Queues the entry, unless its transaction was queued or sent before (completing an action is repeatable).
    func enqueue(_ entry: Entry) throws(FileMove.Failure) {
        guard !FileMove.exists(path(entry.transaction, in: folder)), !FileMove.exists(path(entry.transaction, in: sentFolder)) else { return }
        try save(entry)
    }

    /// Records progress on an entry (files sent, a failure).
    func save(_ entry: Entry) throws(FileMove.Failure) {
        try FileMove.replace(path(entry.transaction, in: folder), with: try! JSONEncoder().encode(entry))  // strings and numbers only
    }

    /// All of the entry's files are sent (or given up): it moves to `sent/`.
    func finish(_ entry: Entry) throws(FileMove.Failure) {
        try FileMove.replace(path(entry.transaction, in: sentFolder), with: try! JSONEncoder().encode(entry))
        unlink(path(entry.transaction, in: folder))
        FileMove.syncFolder(folder)
    }

    /// The queued entries, oldest first; an unreadable one is renamed aside (`.json.unreadable`).
    func pending() -> [Entry] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        var out: [Entry] = []
        for name in names where name.hasSuffix(".json") {
            let p = folder + "/" + name
            guard let data = FileManager.default.contents(atPath: p), let entry = try? JSONDecoder().decode(Entry.self, from: data) else {
                rename(p, p + ".unreadable")
                continue
            }
            out.append(entry)
        }
        return out.sorted { $0.queued < $1.queued }
    }
}
