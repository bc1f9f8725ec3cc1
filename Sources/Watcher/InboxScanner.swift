import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Finds the files in the inbox worth looking at, and says why the others are left alone.
struct InboxScanner {
    /// The inbox as the kernel sees it (symbolic links resolved).
    let root: String
    /// Folders that are the watcher's own (archive, failed, state, reports): exactly these folders and
    /// what is in them, wherever they are (inside the inbox or not).
    let excluded: Set<String>
    /// Files that are the watcher's own wherever they lie (the audit log): each name, and names that
    /// begin with it and a dot (its head file, repaired tails).
    let excludedFiles: [String]

    init(inbox: String, excluded: [String], excludedFiles: [String] = []) {
        root = Self.realPath(inbox) ?? inbox
        self.excluded = Set(excluded.map { Self.realPath($0) ?? $0 })
        self.excludedFiles = excludedFiles.map { file in
            let folder = (file as NSString).deletingLastPathComponent
            return (Self.realPath(folder) ?? folder) + "/" + (file as NSString).lastPathComponent
        }
    }

    enum Skip: Equatable {
        /// A symbolic link whose target is outside the inbox: never followed (a security alert).
        case linkOutOfInbox(target: String)
        /// A symbolic link inside the inbox: not followed (its target is taken where it lies).
        case link
        /// A FIFO, socket or device.
        case notRegular
    }

    /// Temporary, partial and hidden names, and DICOMDIR (a media index, not an image).
    static func isIgnored(name: String) -> Bool {
        let lower = name.lowercased()
        if name.hasPrefix(".") || name.hasSuffix("~") || lower == "dicomdir" || lower == "thumbs.db" { return true }
        return [".part", ".tmp", ".partial", ".crdownload", ".download", ".swp"].contains { lower.hasSuffix($0) }
    }

    /// Every regular file under `folder` (default: the inbox), and what was skipped.
    func scan(_ folder: String? = nil) -> (files: [String], skipped: [(path: String, why: Skip)], folders: [String]) {
        var files: [String] = [], skipped: [(String, Skip)] = [], folders: [String] = []
        var stack = [folder ?? root]
        while let dir = stack.popLast() {
            guard !excluded.contains(dir), let d = opendir(dir) else { continue }
            folders.append(dir)
            defer { closedir(d) }
            while let entry = readdir(d) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                if name == "." || name == ".." || Self.isIgnored(name: name) { continue }
                let path = dir + "/" + name
                var st = stat()
                guard lstat(path, &st) == 0 else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFDIR:
                    if !excluded.contains(path) { stack.append(path) }
                case S_IFREG:
                    if !isExcludedFile(path) { files.append(path) }
                case S_IFLNK:
                    let target = Self.realPath(path) ?? "(dangling)"
                    skipped.append((path, contains(target) ? .link : .linkOutOfInbox(target: target)))
                default:
                    skipped.append((path, .notRegular))
                }
            }
        }
        return (files.sorted(), skipped, folders)
    }

    /// True when `path` is the inbox or inside it.
    func contains(_ path: String) -> Bool {
        path == root || path.hasPrefix(root + "/")
    }

    /// True when `path` is one of the watcher's own files, or is or lies in one of its own folders.
    ///
    /// The folders are matched exactly, one ancestor at a time up to the inbox: a folder that merely
    /// contains the inbox (e.g. the audit log's, or the reports' parent) must not hide the inbox itself.
    func isExcluded(_ path: String) -> Bool {
        if isExcludedFile(path) { return true }
        var folder = path
        while folder.count > root.count, folder.hasPrefix(root + "/") {
            if excluded.contains(folder) { return true }
            folder = (folder as NSString).deletingLastPathComponent
        }
        return false
    }

    func isExcludedFile(_ path: String) -> Bool {
        excludedFiles.contains { path == $0 || path.hasPrefix($0 + ".") }
    }

    static func realPath(_ path: String) -> String? {
        guard let p = realpath(path, nil) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }
}
