import Foundation

/// Why the audit log could not be opened or written. Processing stops rather than go unaudited.
public struct AuditError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let problem: String
    public let fix: String

    public init(path: String, problem: String, fix: String) {
        self.path = path
        self.problem = problem
        self.fix = fix
    }

    public var description: String { "audit log \(path): \(problem). \(fix)" }

    static func system(_ path: String, _ what: String, _ code: Int32) -> AuditError {
        AuditError(path: path, problem: "\(what) failed: \(String(cString: strerror(code)))",
                   fix: "Check that the folder exists, is writable by this user and the disk is not full.")
    }
}
