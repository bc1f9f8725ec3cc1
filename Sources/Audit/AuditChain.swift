import Crypto
import Foundation

/// How a record becomes one line of the log and how a line is checked: the chain's rules, in one place.
///
/// A line is the record's JSON with keys sorted and no `hash` member, with `,"hash":"<hex>"` inserted
/// before the closing brace; the hash is the SHA-256 of the line without that member. So a line is
/// checked on its own bytes, without re-encoding anything.
public enum AuditChain {
    /// `prev` of the first record.
    public static let genesis = String(repeating: "0", count: 64)

    static let hashSuffixLength = #","hash":""#.utf8.count + 64 + #""}"#.utf8.count

    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    /// The line (without the newline) for `record`, whose `hash` is ignored and set.
    static func line(for record: inout AuditRecord) -> Data {
        record.hash = nil
        // Encoding a struct of strings, numbers and arrays of them cannot fail.
        var body = try! encoder().encode(record)
        let hash = hex(SHA256.hash(data: body))
        record.hash = hash
        body.removeLast()  // "}"
        body.append(contentsOf: Array(#","hash":"\#(hash)"}"#.utf8))
        return body
    }

    /// Why a line is not a valid record.
    public enum LineProblem: Error, Sendable, Equatable, CustomStringConvertible {
        case notJSON
        case noHash
        case hashMismatch(stored: String, computed: String)

        public var description: String {
            switch self {
            case .notJSON: "not a JSON audit record"
            case .noHash: "has no \"hash\" member at its end"
            case let .hashMismatch(stored, computed):
                "its content was changed: stored hash \(stored.prefix(12))…, content hashes to \(computed.prefix(12))…"
            }
        }
    }

    /// Parses one line and checks its own hash (not its place in the chain).
    public static func check(line: Data) -> Result<AuditRecord, LineProblem> {
        let bytes = [UInt8](line)
        let marker = Array(#","hash":""#.utf8)
        guard bytes.count > hashSuffixLength, bytes.last == UInt8(ascii: "}"),
              bytes[bytes.count - 2] == UInt8(ascii: "\""),
              Array(bytes[(bytes.count - hashSuffixLength)..<(bytes.count - hashSuffixLength + marker.count)]) == marker
        else {
            return (try? JSONDecoder().decode(AuditRecord.self, from: line)) == nil ? .failure(.notJSON) : .failure(.noHash)
        }
        let stored = String(decoding: bytes[(bytes.count - 66)..<(bytes.count - 2)], as: UTF8.self)
        var body = Array(bytes[0..<(bytes.count - hashSuffixLength)])
        body.append(UInt8(ascii: "}"))
        guard var record = try? JSONDecoder().decode(AuditRecord.self, from: Data(body)) else { return .failure(.notJSON) }
        let computed = hex(SHA256.hash(data: body))
        guard computed == stored else { return .failure(.hashMismatch(stored: stored, computed: computed)) }
        record.hash = stored
        return .success(record)
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }

    /// SHA-256 of bytes as lower-case hex.
    public static func sha256(_ data: Data) -> String { hex(SHA256.hash(data: data)) }
}

/// The log's head: the last record's number and hash, kept beside the log (`audit.jsonl.head`) so that
/// deleting records from the end is noticed too.
public struct AuditHead: Codable, Sendable, Equatable {
    public var seq: Int
    public var hash: String

    public static func url(for log: URL) -> URL { log.appendingPathExtension("head") }
}
