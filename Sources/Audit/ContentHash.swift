import Crypto
import Foundation

/// SHA-256 of a file's bytes, read in 1 MiB chunks, as lower-case hex: how the audit log, the
/// reports and the training records name a scan, a model or a report without its contents.
public enum ContentHash {
    public static func sha256(of url: URL) throws -> String {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
        }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// SHA-256 of byte arrays taken in order, as lower-case hex (e.g. the decoded images a run
    /// trains on, to recognise them again).
    public static func sha256(of chunks: some Sequence<[UInt8]>) -> String {
        var hasher = SHA256()
        for chunk in chunks { chunk.withUnsafeBytes { hasher.update(bufferPointer: $0) } }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
