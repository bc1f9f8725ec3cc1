import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes a file so that it is either complete or absent: the bytes go to a hidden temporary file
/// in the destination folder, which is synced and then moved into place in one step.
enum AtomicFile {
    /// Creates `url` from what `body` writes to the file descriptor it is given.
    ///
    /// Without `overwrite`, an existing file is never replaced, even one created by another process
    /// while `body` runs (the temporary file is hard-linked into place, which fails if the name is taken).
    /// The temporary file is removed whatever happens.
    static func write(
        to url: URL, overwrite: Bool, _ body: (Int32) throws(RenderError) -> Void
    ) throws(RenderError) {
        let path = url.standardizedFileURL.path
        var info = stat()
        if !overwrite, lstat(path, &info) == 0 { throw .exists(path: path) }

        let folder = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let suffix = String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let temporary = (folder.isEmpty ? "." : folder) + "/.\(name).\(suffix).tmp"

        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .cannotWrite(path: path, reason: Self.reason(errno)) }
        var closed = false
        defer {
            if !closed { close(fd) }
            unlink(temporary)  // after a successful link or rename this name is already gone or a second link
        }

        try body(fd)
        guard fsync(fd) == 0 else { throw .cannotWrite(path: path, reason: Self.reason(errno)) }
        closed = true
        guard close(fd) == 0 else { throw .cannotWrite(path: path, reason: Self.reason(errno)) }

        if overwrite {
            guard rename(temporary, path) == 0 else { throw .cannotWrite(path: path, reason: Self.reason(errno)) }
            return
        }
        if link(temporary, path) == 0 { return }
        let linkError = errno
        switch linkError {
        case EEXIST:
            throw .exists(path: path)
        case EPERM, ENOTSUP, EXDEV, EMLINK:
            // File systems without hard links: check, then rename (a small race, reported honestly).
            if lstat(path, &info) == 0 { throw .exists(path: path) }
            guard rename(temporary, path) == 0 else { throw .cannotWrite(path: path, reason: Self.reason(errno)) }
        default:
            throw .cannotWrite(path: path, reason: Self.reason(linkError))
        }
    }

    /// The system's message for an errno value, e.g. "No such file or directory".
    static func reason(_ code: Int32) -> String {
        String(cString: strerror(code))
    }
}
