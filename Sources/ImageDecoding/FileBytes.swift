import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a whole file with POSIX calls, so that a failure carries the system's own reason.
enum FileBytes {
    static func read(_ url: URL) throws(ImageDecodingError) -> [UInt8] {
        let name = url.lastPathComponent
        // O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever (no effect on regular files).
        let fd = open(url.path, O_RDONLY | O_NONBLOCK)
        guard fd >= 0 else { throw .unreadable(file: name, reason: lastErrorText()) }
        defer { close(fd) }

        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .unreadable(file: name, reason: lastErrorText()) }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw .unreadable(file: name, reason: "Is a directory")
        case S_IFIFO: throw .unreadable(file: name, reason: "it is a named pipe (FIFO), not a regular file")
        case S_IFSOCK: throw .unreadable(file: name, reason: "it is a socket, not a regular file")
        default: throw .unreadable(file: name, reason: "it is a device, not a regular file")
        }

        var bytes: [UInt8] = []
        bytes.reserveCapacity(max(Int(info.st_size), 0))
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .unreadable(file: name, reason: lastErrorText())
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }

    private static func lastErrorText() -> String {
        String(cString: strerror(errno))
    }
}
