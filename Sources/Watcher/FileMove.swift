import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Moving an input out of the inbox without ever deleting or overwriting a file.
enum FileMove {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// `name`, `name-2`, `name-3`, … (before the extension) in `folder`: the first not on disk
    /// and not in `claimed`.
    static func freeName(_ name: String, in folder: String, claimed: Set<String>, suffix: String = "") -> String {
        let ext = (name as NSString).pathExtension
        let stem = (name as NSString).deletingPathExtension
        var n = 1
        while true {
            let candidate = folder + "/" + (n == 1 ? name : ext.isEmpty ? "\(stem)-\(n)" : "\(stem)-\(n).\(ext)")
            if !exists(candidate), !exists(candidate + suffix), !claimed.contains(candidate) { return candidate }
            n += 1
        }
    }

    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    static func identity(_ path: String) -> (device: UInt64, inode: UInt64)? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        return (UInt64(st.st_dev), UInt64(st.st_ino))
    }

    /// Moves `source` to `destination`, which must not exist. Safe to repeat after a crash:
    /// if `destination` is already the same file (a hard link made before the crash), only the
    /// inbox name is removed. Across file systems the bytes are copied, synced, then the source removed.
    static func move(_ source: String, to destination: String) throws(Failure) {
        try makeFolder((destination as NSString).deletingLastPathComponent)
        if let s = identity(source), let d = identity(destination) {
            guard s == d else { throw Failure(description: "\(destination) already exists") }
            guard unlink(source) == 0 else { throw system("removing \(source) after archiving", errno) }
            return
        }
        if link(source, destination) == 0 {
            syncFolder((destination as NSString).deletingLastPathComponent)
            guard unlink(source) == 0 else { throw system("removing \(source) after archiving", errno) }
            syncFolder((source as NSString).deletingLastPathComponent)
            return
        }
        let e = errno
        if e == EPERM || e == ENOTSUP || e == EMLINK {
            // No hard link allowed (e.g. fs.protected_hardlinks on a file owned by someone else, or a
            // file system without links): rename, after checking the name is free (names in these
            // folders are claimed by this process, so only an outside writer could race it).
            guard !exists(destination) else { throw Failure(description: "\(destination) already exists") }
            guard rename(source, destination) == 0 else { throw system("moving \(source) to \(destination)", errno) }
            syncFolder((destination as NSString).deletingLastPathComponent)
            syncFolder((source as NSString).deletingLastPathComponent)
            return
        }
        guard e == EXDEV else { throw system("moving \(source) to \(destination)", e) }
        try copy(source, to: destination)
        guard unlink(source) == 0 else { throw system("removing \(source) after copying it", errno) }
    }

    /// Copies through a hidden temporary name, synced, then linked into place (never overwriting).
    private static func copy(_ source: String, to destination: String) throws(Failure) {
        let folder = (destination as NSString).deletingLastPathComponent
        let temp = folder + "/.\((destination as NSString).lastPathComponent).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let input = open(source, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw system("reading \(source)", errno) }
        defer { close(input) }
        let output = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw system("writing \(temp)", errno) }
        defer { unlink(temp) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress!, $0.count) }
            if n < 0 { if errno == EINTR { continue }; close(output); throw system("reading \(source)", errno) }
            if n == 0 { break }
            var done = 0
            while done < n {
                let w = buffer.withUnsafeBytes { write(output, $0.baseAddress! + done, n - done) }
                if w < 0 { if errno == EINTR { continue }; close(output); throw system("writing \(temp)", errno) }
                done += w
            }
        }
        guard fsync(output) == 0 else { let e = errno; close(output); throw system("syncing \(temp)", e) }
        close(output)
        if link(temp, destination) != 0 {
            let e = errno
            guard e != EEXIST else { throw Failure(description: "\(destination) already exists") }
            if exists(destination) { throw Failure(description: "\(destination) already exists") }
            guard rename(temp, destination) == 0 else { throw system("moving \(temp) to \(destination)", errno) }
        }
        syncFolder(folder)
    }

    /// Writes a small text file that must not exist yet (complete or absent).
    static func writeNew(_ path: String, _ text: String) throws(Failure) {
        if exists(path) { return }  // written before a crash: its name was claimed for this input
        let folder = (path as NSString).deletingLastPathComponent
        try makeFolder(folder)
        let temp = folder + "/.\((path as NSString).lastPathComponent).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw system("writing \(path)", errno) }
        defer { unlink(temp) }
        let bytes = Array(text.utf8)
        let ok = bytes.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) == $0.count } && fsync(fd) == 0
        close(fd)
        guard ok else { throw system("writing \(path)", errno) }
        guard link(temp, path) == 0 || errno == EEXIST else { throw system("writing \(path)", errno) }
        syncFolder(folder)
    }

    /// Writes `data` to `path` durably, replacing what is there in one step (temporary file, fsync, rename,
    /// folder fsync): for the watcher's own state files, never for inputs or reports.
    static func replace(_ path: String, with data: Data) throws(Failure) {
        let folder = (path as NSString).deletingLastPathComponent
        try makeFolder(folder)
        let temp = path + ".tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw system("writing \(temp)", errno) }
        let ok = data.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) == $0.count } && fsync(fd) == 0
        close(fd)
        guard ok, rename(temp, path) == 0 else { unlink(temp); throw system("writing \(path)", errno) }
        syncFolder(folder)
    }

    static func makeFolder(_ folder: String) throws(Failure) {
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw Failure(description: "cannot create folder \(folder) (\((error as NSError).localizedDescription))")
        }
    }

    /// fsync on a folder, so a rename or link in it survives a power cut.
    static func syncFolder(_ folder: String) {
        let fd = open(folder, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); close(fd) }
    }

    static func system(_ what: String, _ code: Int32) -> Failure {
        Failure(description: "\(what) failed: \(String(cString: strerror(code)))")
    }
}
