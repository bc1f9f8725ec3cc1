import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Linux inotify on a folder tree: which paths were closed after writing or moved in, and which
/// new folders appeared (they are watched too). The caller still checks every path; an event is
/// only a hint to look now rather than at the next rescan.
final class Inotify {
    let fd: Int32
    private var folders: [Int32: String] = [:]
    private var watched: Set<String> = []

    struct Events {
        var files: [String] = []
        var newFolders: [String] = []
        /// The kernel's queue overflowed: events were lost, so the caller must rescan.
        var overflow = false
    }

    /// nil when inotify is not available (then the caller polls).
    init?() {
        fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        if fd < 0 { return nil }
    }

    deinit { close(fd) }

    /// Watches `folder`; returns false when it cannot (e.g. the per-user watch limit is reached).
    @discardableResult
    func watch(_ folder: String) -> Bool {
        if watched.contains(folder) { return true }
        let mask = UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO) | UInt32(IN_CREATE) | UInt32(IN_ONLYDIR)
            | UInt32(IN_DELETE_SELF) | UInt32(IN_MOVE_SELF)
        let wd = inotify_add_watch(fd, folder, mask)
        guard wd >= 0 else { return false }
        folders[wd] = folder
        watched.insert(folder)
        return true
    }

    /// Reads every event queued now (does not wait).
    func drain() -> Events {
        var out = Events()
        let size = 64 * 1024
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 8)
        defer { buffer.deallocate() }
        while true {
            let n = read(fd, buffer, size)
            if n <= 0 { break }
            var offset = 0
            while offset + 16 <= n {
                let wd = buffer.load(fromByteOffset: offset, as: Int32.self)
                let mask = buffer.load(fromByteOffset: offset + 4, as: UInt32.self)
                let length = Int(buffer.load(fromByteOffset: offset + 12, as: UInt32.self))
                let nameBytes = UnsafeRawBufferPointer(start: buffer + offset + 16, count: length)
                let name = String(decoding: nameBytes.prefix { $0 != 0 }, as: UTF8.self)
                offset += 16 + length
                if mask & UInt32(IN_Q_OVERFLOW) != 0 { out.overflow = true; continue }
                if mask & UInt32(IN_IGNORED) != 0, let folder = folders.removeValue(forKey: wd) {
                    watched.remove(folder)
                    continue
                }
                guard let folder = folders[wd], !name.isEmpty else { continue }
                let path = folder + "/" + name
                if mask & UInt32(IN_ISDIR) != 0 {
                    if mask & (UInt32(IN_CREATE) | UInt32(IN_MOVED_TO)) != 0 { out.newFolders.append(path) }
                } else if mask & (UInt32(IN_CLOSE_WRITE) | UInt32(IN_MOVED_TO) | UInt32(IN_CREATE)) != 0 {
                    out.files.append(path)
                }
            }
        }
        return out
    }
}
