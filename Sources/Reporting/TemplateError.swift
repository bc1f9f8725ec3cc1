/// Why a report template could not be used: where (file and line) and what to do about it.
///
/// `description` reads e.g. "templates/report.yaml line 7: unknown key 'colour' in colors; known keys:
/// accent, classes. Fix the spelling or delete the line."
public struct TemplateError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The file could not be read (missing, unreadable, not UTF-8).
        case unreadable
        /// Not valid YAML: bad indentation, an unclosed quote, a tab, ...
        case syntax
        /// A key the template does not know (usually a typo).
        case unknownKey
        /// A key given twice in the same block.
        case duplicateKey
        /// A known key with a value of the wrong kind or out of range.
        case invalidValue
    }

    /// The template file as the caller named it.
    public var path: String
    /// 1-based line of the problem; nil when it concerns the whole file.
    public var line: Int?
    public var kind: Kind
    /// What is wrong, e.g. "page size must be A4 or Letter, not A5".
    public var problem: String
    /// What to do about it.
    public var fix: String

    public init(path: String, line: Int?, kind: Kind, problem: String, fix: String) {
        self.path = path
        self.line = line
        self.kind = kind
        self.problem = problem
        self.fix = fix
    }

    public var description: String {
        let place = line.map { "\(path) line \($0)" } ?? path
        return "\(place): \(problem). \(fix)"
    }
}
