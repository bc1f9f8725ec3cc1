import Foundation
import Synchronization
import XRayCore
#if canImport(Glibc)
import Glibc
#endif

/// Decodes each file in a decoder child process (`cxreview decode-worker`), so that a file that
/// crashes or stalls a C library (DCMTK, libpng, libjpeg) costs that one file, not the caller.
///
/// Children are started on first use and reused across files, one per concurrent caller. A child
/// that dies while decoding a file is reaped and that file fails with "stopped the decoder"; one
/// that does not answer within `timeout` seconds is killed and the file fails as stalled. The
/// next file gets a new child. Children limit their own address space and write no core files
/// (`DecodeWorker.Limits`).
public final class IsolatedScanLoader: ScanLoading, Sendable {
    /// The program and arguments that run `DecodeWorker.serve()`.
    public let command: [String]
    /// Seconds one file may take to decode before its child is killed.
    public let timeout: Double

    private struct Child: Sendable {
        let pid: pid_t
        /// Requests go in here (the child's stdin).
        let requests: Int32
        /// Replies come out here (the child's stdout).
        let replies: Int32
    }

    private let idle = Mutex<[Child]>([])
    private let started = Atomic<Int>(0)

    private let peak = Atomic<Int>(0)

    /// How many decoder children have been started (a crash or a stall costs one more).
    public var childrenStarted: Int { started.load(ordering: .relaxed) }

    /// The largest peak resident memory any child reported, in bytes (0 before the first answer).
    public var largestChildPeakBytes: Int { peak.load(ordering: .relaxed) }

    /// `command[0]` is an executable path; `command` as a whole must run the decode worker.
    public init(command: [String], timeout: Double = 20) {
        precondition(!command.isEmpty && timeout > 0)
        self.command = command
        self.timeout = timeout
        // A child that dies leaves a broken pipe: writing to it must fail with EPIPE, not kill us.
        signal(SIGPIPE, SIG_IGN)
    }

    deinit {
        for child in idle.withLock({ $0 }) {
            close(child.requests)
            close(child.replies)
            var status: Int32 = 0
            _ = waitpid(child.pid, &status, 0)
        }
    }

    public func load(_ url: URL) throws(PipelineError) -> DecodedScan {
        let name = url.relativePath
        let child = try take(for: name)
        let reply: DecodeWorker.Reply, pixels: [UInt8]
        do throws(DecodeWorker.ReadFailure) {
            (reply, pixels) = try exchange(name, with: child)
        } catch {
            // The child died, stalled or broke the protocol: it is ended, and this file fails.
            if case .timedOut = error { throw failure(of: child, file: name, timedOut: true) }
            throw failure(of: child, file: name, timedOut: false)
        }
        give(back: child)
        guard reply.ok, let width = reply.width, let height = reply.height, let metadata = reply.metadata,
              let notes = reply.notes else {
            throw PipelineError(stage: reply.stage ?? .decode, file: name,
                                underlying: IsolatedDecodeError.reported(reply.message ?? "\(name) could not be decoded."))
        }
        return DecodedScan(image: GrayImage(width: width, height: height, pixels: pixels), metadata: metadata, notes: notes)
    }

    /// Sends one path and reads the reply and, for a decoded image, its pixels, all within `timeout`.
    private func exchange(_ name: String, with child: Child) throws(DecodeWorker.ReadFailure) -> (DecodeWorker.Reply, [UInt8]) {
        guard DecodeWorker.writeAll(child.requests, DecodeWorker.frame(Data(name.utf8))) else { throw .closed(got: 0) }
        let deadline = DispatchTime.now() + timeout
        let header = try DecodeWorker.readFrame(child.replies, deadline: deadline)
        guard let reply = try? JSONDecoder().decode(DecodeWorker.Reply.self, from: header) else { throw .malformed }
        if let bytes = reply.peakResidentBytes { peak.max(bytes, ordering: .relaxed) }
        guard reply.ok else { return (reply, []) }
        guard let width = reply.width, let height = reply.height, width > 0, height > 0,
              reply.metadata != nil, reply.notes != nil else { throw .malformed }
        return (reply, try DecodeWorker.readExactly(child.replies, width * height, deadline: deadline))
    }

    // MARK: children

    private func take(for file: String) throws(PipelineError) -> Child {
        if let child = idle.withLock({ $0.popLast() }) { return child }
        do throws(IsolatedDecodeError) {
            return try spawn()
        } catch {
            throw PipelineError(stage: .decode, file: file, underlying: error)
        }
    }

    private func give(back child: Child) {
        idle.withLock { $0.append(child) }
    }

    private func spawn() throws(IsolatedDecodeError) -> Child {
        var toChild: [Int32] = [0, 0], fromChild: [Int32] = [0, 0]
        // Glibc's pipe2 is not visible to Swift; close-on-exec is set right after, so other
        // children started meanwhile do not keep these pipes open.
        guard pipe(&toChild) == 0 else { throw .cannotStart(command[0], String(cString: strerror(errno))) }
        guard pipe(&fromChild) == 0 else {
            close(toChild[0]); close(toChild[1])
            throw .cannotStart(command[0], String(cString: strerror(errno)))
        }
        for fd in toChild + fromChild { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = command.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        // The Swift runtime's crash backtrace would fill the log for each hostile file and take
        // seconds; the parent says what happened in one line instead.
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        let rc = posix_spawn(&pid, command[0], &actions, nil, argv, envp)
        close(toChild[0])
        close(fromChild[1])
        guard rc == 0 else {
            close(toChild[1]); close(fromChild[0])
            throw .cannotStart(command[0], String(cString: strerror(rc)))
        }
        started.add(1, ordering: .relaxed)
        return Child(pid: pid, requests: toChild[1], replies: fromChild[0])
    }

    /// Ends a child that failed mid-file and says what became of it.
    private func failure(of child: Child, file: String, timedOut: Bool) -> PipelineError {
        if timedOut { kill(child.pid, SIGKILL) }
        close(child.requests)
        close(child.replies)
        var status: Int32 = 0
        var reaped = waitpid(child.pid, &status, 0)
        while reaped < 0 && errno == EINTR { reaped = waitpid(child.pid, &status, 0) }
        let error: IsolatedDecodeError
        if timedOut {
            error = .stalled(file: file, seconds: timeout)
        } else if reaped == child.pid, status & 0x7F != 0 {
            let signal = status & 0x7F
            error = .crashed(file: file, how: "signal \(signal), \(String(cString: strsignal(signal)))")
        } else if reaped == child.pid {
            error = .crashed(file: file, how: "exit status \((status >> 8) & 0xFF)")
        } else {
            error = .crashed(file: file, how: "it could not be waited for")
        }
        return PipelineError(stage: .decode, file: file, underlying: error)
    }
}

/// How a file failed in a decoder child process.
public enum IsolatedDecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The child decoded the file and said why it failed (the decoders' own message).
    case reported(String)
    /// The child died while decoding this file.
    case crashed(file: String, how: String)
    /// The child did not answer in time and was killed.
    case stalled(file: String, seconds: Double)
    /// No child could be started: a problem of the installation, not of the file.
    case cannotStart(String, String)

    public var description: String {
        switch self {
        case let .reported(message):
            return message
        case let .crashed(file, how):
            return "\(file) stopped the decoder (\(how)): the file is damaged in a way that crashes the decoding library. "
                + "It was not classified; other scans are not affected. Export it again from the modality or PACS."
        case let .stalled(file, seconds):
            return "\(file) stopped the decoder: decoding did not finish within \(Self.format(seconds)) s, so it was ended. "
                + "It was not classified; other scans are not affected. The file is damaged or built to stall a decoder: "
                + "export it again from the modality or PACS."
        case let .cannotStart(program, reason):
            return "the decoder process (\(program) decode-worker) cannot be started (\(reason)); check the installation of cxreview."
        }
    }

    private static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(format: "%.1f", seconds)
    }
}
