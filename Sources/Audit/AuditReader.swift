import Foundation

/// Reads an audit log and checks its chain: each line's own hash, the sequence numbers, each
/// record's link to the one before, and the head file's record of how far the log reached.
public struct AuditVerification: Sendable {
    /// The first thing wrong, with the 1-based line where it was found.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        public enum Kind: Sendable, Equatable {
            /// The last line has no newline: a write was cut off (a crash); `cxreview watch` repairs it.
            case tornLastLine
            /// The line is not a valid record or its content does not match its hash (edited).
            case invalidLine(AuditChain.LineProblem)
            /// The record's number is not the one expected (records removed, inserted or moved).
            case unexpectedSequence(expected: Int, found: Int)
            /// The record does not link to the one before it (records removed or moved).
            case brokenLink(expectedPrev: String, found: String)
            /// The head file says the log reached a record that is not there (records removed at the end).
            case missingAtEnd(headSeq: Int, lastSeq: Int)
            /// The head file names the right record number but another hash (the end was rewritten).
            case headMismatch(seq: Int)
        }

        public let line: Int
        public let kind: Kind

        public init(line: Int, kind: Kind) {
            self.line = line
            self.kind = kind
        }

        public var description: String {
            switch kind {
            case .tornLastLine:
                "line \(line): the last line is incomplete (cut off by a crash); the next start of `cxreview watch` repairs it and audits the repair"
            case let .invalidLine(p):
                "line \(line): record \(p)"
            case let .unexpectedSequence(expected, found):
                "line \(line): expected record \(expected), found record \(found): records were removed, inserted or reordered here"
            case let .brokenLink(expected, found):
                "line \(line): the record does not follow the one before it (it names \(found.prefix(12))…, the previous record is \(expected.prefix(12))…): a record before it was removed, changed or moved"
            case let .missingAtEnd(headSeq, lastSeq):
                "after line \(line): the log ends at record \(lastSeq), but it had reached record \(headSeq) (audit.jsonl.head): records were removed from the end"
            case let .headMismatch(seq):
                "line \(line): record \(seq) is not the record the head file recorded: the end of the log was rewritten"
            }
        }
    }

    /// Valid records read before the first problem (all of them when there is none).
    public var records: [AuditRecord]
    public var problem: Problem?
    /// Byte length of the file up to the end of its last complete line.
    public var completeLength: Int
    /// Bytes after the last newline (a torn record), if any.
    public var tornTail: Data?
    /// Records after the first problem that are themselves valid lines (kept for the watcher's index).
    public var recordsAfterProblem: [AuditRecord]

    public var isValid: Bool { problem == nil }
    public var last: AuditRecord? { recordsAfterProblem.last ?? records.last }
}

public enum AuditReader {
    /// Reads and checks `url`; a missing file is an empty, valid log.
    public static func verify(_ url: URL) throws(AuditError) -> AuditVerification {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch let e as CocoaError where e.code == .fileReadNoSuchFile {
            data = Data()
        } catch {
            throw AuditError(path: url.path, problem: "cannot be read (\(error.localizedDescription))",
                             fix: "Check the path and that this user may read it.")
        }
        var head: AuditHead?
        if let h = try? Data(contentsOf: AuditHead.url(for: url)) { head = try? JSONDecoder().decode(AuditHead.self, from: h) }
        return verify(data: data, head: head)
    }

    /// Checks log bytes against the rules of `AuditChain` and an optional head record.
    public static func verify(data: Data, head: AuditHead?) -> AuditVerification {
        var result = AuditVerification(records: [], problem: nil, completeLength: 0, tornTail: nil,
                                       recordsAfterProblem: [])
        let bytes = [UInt8](data)
        var start = 0
        var lineNo = 0
        var expectedSeq = 1
        var prev = AuditChain.genesis
        while start < bytes.count {
            lineNo += 1
            guard let nl = bytes[start...].firstIndex(of: UInt8(ascii: "\n")) else {
                result.tornTail = Data(bytes[start...])
                if result.problem == nil { result.problem = .init(line: lineNo, kind: .tornLastLine) }
                break
            }
            let line = Data(bytes[start..<nl])
            start = nl + 1
            result.completeLength = start
            switch AuditChain.check(line: line) {
            case let .failure(p):
                if result.problem == nil { result.problem = .init(line: lineNo, kind: .invalidLine(p)) }
            case let .success(record):
                if result.problem != nil {
                    result.recordsAfterProblem.append(record)
                    continue
                }
                if record.seq != expectedSeq {
                    result.problem = .init(line: lineNo, kind: .unexpectedSequence(expected: expectedSeq, found: record.seq))
                    result.recordsAfterProblem.append(record)
                } else if record.prev != prev {
                    result.problem = .init(line: lineNo, kind: .brokenLink(expectedPrev: prev, found: record.prev))
                    result.recordsAfterProblem.append(record)
                } else {
                    result.records.append(record)
                    expectedSeq += 1
                    prev = record.hash ?? ""
                }
            }
        }
        if result.problem == nil, let head {
            let lastSeq = result.records.last?.seq ?? 0
            if head.seq > lastSeq {
                result.problem = .init(line: lineNo, kind: .missingAtEnd(headSeq: head.seq, lastSeq: lastSeq))
            } else if head.seq > 0, result.records[head.seq - 1].hash != head.hash {
                result.problem = .init(line: head.seq, kind: .headMismatch(seq: head.seq))
            }
        }
        return result
    }
}
