import Foundation

/// Makes new DICOM UIDs: `<root>.<digits of a random UUID>` under the organisation's root, else `2.25.<the
/// UUID as a decimal number>` (PS3.5 B.2). Every call gives a new UID.
public struct UIDGenerator: Sendable {
    /// The root, or nil for 2.25.
    public let root: String?

    /// The longest root: it leaves 20 digits (about 66 random bits) in a 64-character UID.
    public static let maxRootLength = 43

    /// - Throws: `.invalidUIDRoot` if `root` is not digits and dots (no empty component, no leading zero) or
    ///   longer than `maxRootLength`.
    public init(root: String?) throws(DICOMResultsError) {
        if let root {
            let parts = root.split(separator: ".", omittingEmptySubsequences: false)
            guard !root.isEmpty, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }) else {
                throw .invalidUIDRoot(root: root, reason: "only digits separated by single dots are allowed")
            }
            guard parts.allSatisfy({ $0 == "0" || $0.first != "0" }) else {
                throw .invalidUIDRoot(root: root, reason: "a component starts with 0")
            }
            guard root.count <= Self.maxRootLength else {
                throw .invalidUIDRoot(root: root, reason: "\(root.count) characters, more than \(Self.maxRootLength)")
            }
        }
        self.root = root
    }

    /// A new UID.
    public func make() -> String {
        let digits = Self.decimal(UUID())
        guard let root else { return "2.25." + digits }
        var suffix = Substring(digits.suffix(64 - root.count - 1))
        while suffix.count > 1 && suffix.first == "0" { suffix = suffix.dropFirst() }
        return root + "." + suffix
    }

    /// A fixed UID derived from `uuid` under this root (for identifiers that must stay the same, such as the
    /// device observer's).
    public func fixed(_ uuid: UUID, component: Int) -> String {
        guard let root else { return "2.25." + Self.decimal(uuid) }
        return root + ".\(component)"
    }

    /// The UUID's 128 bits as an unsigned decimal number.
    static func decimal(_ uuid: UUID) -> String {
        var value: UInt128 = 0
        withUnsafeBytes(of: uuid.uuid) { bytes in
            for b in bytes { value = value << 8 | UInt128(b) }
        }
        return String(value)
    }
}
