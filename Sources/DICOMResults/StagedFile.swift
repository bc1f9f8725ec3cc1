import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file written under a hidden temporary name in its destination folder and synced, waiting to be moved to
/// its final name. `publish` hard-links a set of them into place, all or none, never over an existing file.
struct StagedFile {
    let temporary: String
    let final: URL

    /// Runs `write` with the temporary path, then syncs what it wrote.
    init(directory: URL, name: String, _ write: (String) throws(DICOMResultsError) -> Void) throws(DICOMResultsError) {
        final = directory.appendingPathComponent(name)
        temporary = directory.appendingPathComponent(".\(name).\(String(UInt64.random(in: 0...UInt64.max), radix: 36)).tmp").path
        if Self.exists(final.path) { throw .exists(path: final.path) }
        do throws(DICOMResultsError) {
            try write(temporary)
            let fd = open(temporary, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else { throw DICOMResultsError.writeFailed(path: final.path, cause: Self.reason(errno)) }
            defer { close(fd) }
            guard fsync(fd) == 0 else { throw DICOMResultsError.writeFailed(path: final.path, cause: Self.reason(errno)) }
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Removes the temporary file (after a publish, only the extra name goes).
    func discard() { unlink(temporary) }

    /// Links every staged file to its final name; if one fails, the names already made are removed again.
    /// Then syncs the folder, so the names survive a crash.
    static func publish(_ files: [StagedFile], in directory: URL) throws(DICOMResultsError) {
        var linked: [StagedFile] = []
        for f in files {
            if link(f.temporary, f.final.path) == 0 {
                linked.append(f)
                continue
            }
            var code = errno
            // File systems without hard links: check, then rename (a small race, as in Reporting's AtomicFile).
            if [EPERM, ENOTSUP, EXDEV, EMLINK].contains(code), !exists(f.final.path) {
                if rename(f.temporary, f.final.path) == 0 {
                    linked.append(f)
                    continue
                }
                code = errno
            }
            linked.forEach { unlink($0.final.path) }
            if code == EEXIST { throw .exists(path: f.final.path) }
            throw .writeFailed(path: f.final.path, cause: reason(code))
        }
        let fd = open(directory.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    private static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    static func reason(_ code: Int32) -> String { String(cString: strerror(code)) }
}
