import Audit
import Foundation

/// Files whose bytes are identical, found by SHA-256.
public struct DuplicateReport: Sendable {
    public struct Group: Sendable, Equatable {
        public let sha256: String
        public let entries: [DatasetIndex.Entry]
        /// True when the copies sit in different splits (a train image also in test leaks the answer).
        public var crossesSplits: Bool { Set(entries.map(\.split)).count > 1 }
        /// True when the copies carry different labels.
        public var conflictingLabels: Bool { Set(entries.map(\.label)).count > 1 }
    }

    public let groups: [Group]
    /// Files that could not be read, with the reason.
    public let unreadable: [(path: String, reason: String)]

    public var crossSplit: [Group] { groups.filter(\.crossesSplits) }

    /// Hashes every entry and groups identical contents.
    public init(_ index: DatasetIndex) {
        var byHash: [String: [DatasetIndex.Entry]] = [:]
        var unreadable: [(String, String)] = []
        for e in index.entries {
            do {
                byHash[try ContentHash.sha256(of: URL(fileURLWithPath: e.path)), default: []].append(e)
            } catch {
                unreadable.append((e.path, "\(error)"))
            }
        }
        groups = byHash.filter { $0.value.count > 1 }.map { Group(sha256: $0.key, entries: $0.value) }
            .sorted { $0.entries[0].path < $1.entries[0].path }
        self.unreadable = unreadable
    }

    /// One line per group, for a terminal or a training log.
    public func lines(relativeTo root: URL) -> [String] {
        let prefix = root.standardizedFileURL.path + "/"
        return groups.map { g in
            let names = g.entries.map { $0.path.hasPrefix(prefix) ? String($0.path.dropFirst(prefix.count)) : $0.path }
            let tags = [g.crossesSplits ? "across splits" : nil, g.conflictingLabels ? "different labels" : nil].compactMap { $0 }
            return "identical files\(tags.isEmpty ? "" : " (" + tags.joined(separator: ", ") + ")"): " + names.joined(separator: " = ")
        }
    }
}
