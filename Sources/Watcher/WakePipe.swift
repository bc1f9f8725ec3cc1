import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A pipe that wakes a thread blocked in poll(2): `wake()` from any thread, `readFD` in the poll set,
/// `drain()` once woken. Owned by one loop; closed with it.
final class WakePipe: Sendable {
    let readFD: Int32
    private let writeFD: Int32

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    init() throws(Failure) {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else {
            throw Failure(description: "cannot create a pipe (\(String(cString: strerror(errno)))); the process may have too many open files")
        }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        readFD = fds[0]
        writeFD = fds[1]
    }

    deinit {
        close(readFD)
        close(writeFD)
    }

    /// Makes `readFD` readable; a full pipe is already readable, so a failed write loses nothing.
    func wake() {
        var byte: UInt8 = 1
        _ = write(writeFD, &byte, 1)
    }

    func drain() {
        var buffer = [UInt8](repeating: 0, count: 64)
        while read(readFD, &buffer, buffer.count) > 0 {}
    }
}
