import Foundation
import XRayCore
#if canImport(Glibc)
import Glibc
#endif

/// The child side of `IsolatedScanLoader`: reads file paths from a pipe, decodes each with
/// `ScanLoader` and answers with the image, its header fields and notes, or the error.
///
/// Wire format, all integers little-endian:
/// - request: UInt32 byte count, then the path in UTF-8;
/// - reply: UInt32 byte count, then a JSON `DecodeWorker.Reply`; when it says `ok`, then the
///   image's `width × height` grey bytes.
public enum DecodeWorker {
    /// The limits the child sets on itself before it reads its first file.
    public struct Limits: Sendable, Equatable {
        /// Address space (RLIMIT_AS), so a file that makes a decoder allocate without bound fails
        /// with "out of memory" in the child instead of growing until the machine swaps.
        public var addressSpaceBytes: UInt64
        /// No core files: a crash on a hostile file must not fill the disk.
        public var coreDumps: Bool

        public static let standard = Limits(addressSpaceBytes: 1 << 30, coreDumps: false)

        public init(addressSpaceBytes: UInt64, coreDumps: Bool) {
            self.addressSpaceBytes = addressSpaceBytes
            self.coreDumps = coreDumps
        }
    }

    struct Reply: Codable {
        var ok: Bool
        var width: Int?
        var height: Int?
        var metadata: ScanMetadata?
        var notes: DecodingNotes?
        var stage: PipelineError.Stage?
        var message: String?
        /// The child's peak resident memory so far (getrusage), in bytes.
        var peakResidentBytes: Int?
    }

    /// The peak resident memory of this process's own address space (VmHWM). Not getrusage's
    /// ru_maxrss: that survives execve, so a child started by vfork/posix_spawn would report the
    /// parent's peak.
    static func peakResidentBytes() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
              let kB = Int(line.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first ?? "") else { return nil }
        return kB * 1024
    }

    /// Serves requests on `input` until it is closed; returns the number of files answered.
    @discardableResult
    public static func serve(input: Int32 = 0, output: Int32 = 1, limits: Limits = .standard) -> Int {
        apply(limits)
        let loader = ScanLoader()
        let encoder = JSONEncoder()
        var answered = 0
        while let request = try? readFrame(input, deadline: nil), let path = String(data: request, encoding: .utf8) {
            var reply: Reply
            var pixels: [UInt8] = []
            do {
                let scan = try loader.load(URL(fileURLWithPath: path))
                reply = Reply(ok: true, width: scan.image.width, height: scan.image.height, metadata: scan.metadata,
                              notes: scan.notes)
                pixels = scan.image.pixels
            } catch {
                reply = Reply(ok: false, stage: error.stage, message: error.description)
            }
            reply.peakResidentBytes = peakResidentBytes()
            guard let header = try? encoder.encode(reply),
                  writeAll(output, frame(header)), writeAll(output, pixels) else { break }
            answered += 1
        }
        return answered
    }

    static func apply(_ limits: Limits) {
        var address = rlimit(rlim_cur: rlim_t(limits.addressSpaceBytes), rlim_max: rlim_t(limits.addressSpaceBytes))
        _ = setrlimit(Int32(RLIMIT_AS.rawValue), &address)
        if !limits.coreDumps {
            var core = rlimit(rlim_cur: 0, rlim_max: 0)
            _ = setrlimit(Int32(RLIMIT_CORE.rawValue), &core)
        }
    }

    // MARK: framing

    static func frame(_ payload: Data) -> [UInt8] {
        let n = UInt32(payload.count)
        return [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 24)] + [UInt8](payload)
    }

    enum ReadFailure: Error {
        /// The other end closed the pipe (after `got` bytes of this read).
        case closed(got: Int)
        case timedOut
        case failed(errno: Int32)
        /// The reply is not what the protocol says.
        case malformed
    }

    /// Reads a UInt32-prefixed frame.
    static func readFrame(_ fd: Int32, deadline: DispatchTime?) throws(ReadFailure) -> Data {
        let head = try readExactly(fd, 4, deadline: deadline)
        let n = Int(head[0]) | Int(head[1]) << 8 | Int(head[2]) << 16 | Int(head[3]) << 24
        return Data(try readExactly(fd, n, deadline: deadline))
    }

    /// Reads `count` bytes, waiting at most until `deadline` (nil: for ever).
    static func readExactly(_ fd: Int32, _ count: Int, deadline: DispatchTime?) throws(ReadFailure) -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            if let deadline {
                let now = DispatchTime.now().uptimeNanoseconds
                guard deadline.uptimeNanoseconds > now else { throw .timedOut }
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let waitMs = Int32(min((deadline.uptimeNanoseconds - now) / 1_000_000 + 1, UInt64(Int32.max)))
                let ready = poll(&p, 1, waitMs)
                if ready < 0 {
                    if errno == EINTR { continue }
                    throw .failed(errno: errno)
                }
                if ready == 0 { continue }
            }
            let r = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, count - got) }
            if r < 0 {
                if errno == EINTR { continue }
                throw .failed(errno: errno)
            }
            if r == 0 { throw .closed(got: got) }
            got += r
        }
        return buffer
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var done = 0
        while done < bytes.count {
            let w = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
            if w < 0 {
                if errno == EINTR { continue }
                return false
            }
            done += w
        }
        return true
    }
}
