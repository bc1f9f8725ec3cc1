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
        let fd = open(url.path, O_RDONLY)
        guard fd >= 0 else { throw .unreadable(file: name, reason: lastErrorText()) }
        defer { close(fd) }

        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .unreadable(file: name, reason: lastErrorText()) }
        if (info.st_mode & S_IFMT) == S_IFDIR {
            throw .unreadable(file: name, reason: "Is a directory")
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
