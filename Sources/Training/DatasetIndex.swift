import Foundation

/// The labelled scans under a folder, in the layouts users actually have.
///
/// A file's class is its nearest ancestor folder whose name is a class (case, spaces, `_` and `-`
/// do not matter: `COVID`, `Viral Pneumonia`, `covid-19`, `normal`); its split is the nearest
/// ancestor named like `train`, `val`/`validation` or `test`; its source is the first folder
/// below the root that is neither. So the Kaggle COVID-19 Radiography Database (`COVID/images/`,
/// `Normal/`, `Viral Pneumonia/`), `train/` + `test/` splits, plain `covid/normal/viral` folders
/// and `extra/<source>/<class>/` all load. Folders of other classes (e.g. `Lung_Opacity`) and
/// mask folders are skipped with a notice.
public struct DatasetIndex: Sendable {
    public enum Split: String, Sendable, Codable, CaseIterable, Comparable {
        case train, validation, test
        public static func < (a: Split, b: Split) -> Bool { allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)! }
    }

    public struct Entry: Sendable, Hashable, Codable {
        public let path: String
        /// One of `DatasetIndex.classes`.
        public let label: String
        public let split: Split?
        /// The first folder below the root that is neither a split nor a class; else the root's own
        /// name (its parent's when the root is a split or class folder).
        public let source: String?
        /// Patient ID from a `manifest.csv` beside the class folders, when one names this file.
        public let patientID: String?
        /// `child` or `adult`: the manifest's `age_group` column, else the age-groups table given to
        /// `scan` for this source and class; nil when neither knows.
        public let ageGroup: String?

        public init(path: String, label: String, split: Split?, source: String?, patientID: String?, ageGroup: String? = nil) {
            self.path = path
            self.label = label
            self.split = split
            self.source = source
            self.patientID = patientID
            self.ageGroup = ageGroup
        }

        /// The group whose recall training validates by and whose balance it keeps:
        /// "<age group>/<source>", with "unknown" for a missing age group or source.
        public var group: String { "\(ageGroup ?? "unknown")/\(source ?? "unknown")" }
    }

    /// Canonical class names, in the order the tutorial's model outputs them.
    public static let classes = ["normal", "viral", "covid"]

    public let root: URL
    public private(set) var entries: [Entry]
    /// What was skipped and why, one sentence each.
    public private(set) var notices: [String]

    /// Maps a folder name to a class, or nil.
    public static func canonicalClass(_ folder: String) -> String? {
        switch squash(folder) {
        case "normal", "normals", "healthy", "nofinding": return "normal"
        case "viral", "viralpneumonia", "pneumoniaviral", "virus", "virals": return "viral"
        case "covid", "covid19", "covid2019", "sarscov2", "coronavirus": return "covid"
        default: return nil
        }
    }

    static func canonicalSplit(_ folder: String) -> Split? {
        switch squash(folder) {
        case "train", "training": return .train
        case "val", "valid", "validation", "dev": return .validation
        case "test", "testing", "holdout": return .test
        default: return nil
        }
    }

    /// Folder names that hold classes the model does not have, or non-image material.
    static func isKnownOtherFolder(_ folder: String) -> Bool {
        let k = squash(folder)
        return ["lungopacity", "bacterial", "bacteria", "pneumoniabacterial", "masks", "mask", "tuberculosis"].contains(k)
    }

    static func squash(_ s: String) -> String { s.lowercased().filter { $0.isLetter || $0.isNumber } }

    static let imageExtensions: Set<String> = ["png", "jpg", "jpeg", "dcm", "dicom", "dic", ""]

    public enum Failure: Error, Sendable, CustomStringConvertible, Equatable {
        case notAFolder(String)
        case noLabelledScans(String, skipped: [String])
        case badAgeGroups(String, String)

        public var description: String {
            switch self {
            case let .notAFolder(p):
                return "\(p) is not a folder; point at a folder with covid/, normal/ and viral/ (or train/ and test/ holding them)."
            case let .noLabelledScans(p, skipped):
                return "\(p) holds no scans in folders named covid, normal or viral (case and spacing do not matter)"
                    + (skipped.isEmpty ? "" : "; skipped: " + skipped.joined(separator: "; "))
                    + ". Arrange the scans as <class>/<file> or <split>/<class>/<file>."
            case let .badAgeGroups(p, why):
                return "age-groups table \(p): \(why). Give one row per source and class, e.g. covid19-3way,normal,child."
            }
        }
    }

    /// Age groups by (source, class) for sources whose manifests do not say (or say `unknown`):
    /// a CSV with the columns `source`, `class` and `age_group` (`child` or `adult`). Returns the
    /// table keyed "source/class"; throws a message naming the line that is wrong.
    public static func loadAgeGroups(_ url: URL) throws(Failure) -> [String: String] {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { throw .badAgeGroups(url.path, "cannot be read") }
        let rows = CSV.parse(text)
        guard let header = rows.first, let si = header.firstIndex(of: "source"), let ci = header.firstIndex(of: "class"),
              let ai = header.firstIndex(of: "age_group")
        else { throw .badAgeGroups(url.path, "needs the columns source, class and age_group") }
        var table: [String: String] = [:]
        for (n, row) in rows.dropFirst().enumerated() where row.count > max(si, ci, ai) {
            guard let label = canonicalClass(row[ci]) else { throw .badAgeGroups(url.path, "line \(n + 2): \(row[ci]) is not a class") }
            guard ["child", "adult"].contains(row[ai]) else { throw .badAgeGroups(url.path, "line \(n + 2): age_group must be child or adult") }
            table["\(row[si])/\(label)"] = row[ai]
        }
        return table
    }

    /// Walks `root`, not following symbolic links, skipping hidden files and folders. `ageGroups`
    /// (from `loadAgeGroups`) fills in age groups that no manifest gives.
    public static func scan(_ root: URL, ageGroups: [String: String] = [:]) throws(Failure) -> DatasetIndex {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isDir), isDir.boolValue else {
            throw .notAFolder(root.path)
        }
        let rootComponents = root.standardizedFileURL.pathComponents
        // Scans with no source folder below the root take the root's name (its parent's when the
        // root is itself a split, as in covid19-3way/train), so per-source reports can name them.
        let rootSource: String? = {
            let c = rootComponents.filter { $0 != "/" }
            guard let last = c.last else { return nil }
            if canonicalSplit(last) != nil || canonicalClass(last) != nil { return c.dropLast().last }
            return last
        }()
        var entries: [Entry] = []
        var skipped: [String: Int] = [:]
        var manifests: [String: [String: ManifestRow]] = [:]  // folder path → file (relative) → row
        let keys: [URLResourceKey] = [.isRegularFileKey, .isDirectoryKey, .isSymbolicLinkKey]
        guard let walker = FileManager.default.enumerator(
            at: root, includingPropertiesForKeys: keys, options: [.skipsHiddenFiles])
        else { throw .notAFolder(root.path) }

        for case let url as URL in walker {
            guard let values = try? url.resourceValues(forKeys: Set(keys)) else { continue }
            if values.isSymbolicLink == true { continue }
            let rel = Array(url.standardizedFileURL.pathComponents.dropFirst(rootComponents.count))
            if values.isDirectory == true {
                if isKnownOtherFolder(url.lastPathComponent) {
                    let n = (FileManager.default.enumerator(atPath: url.path)?.allObjects.count) ?? 0
                    skipped[rel.joined(separator: "/"), default: 0] += n
                    walker.skipDescendants()
                }
                continue
            }
            guard values.isRegularFile == true else { continue }
            let ext = url.pathExtension.lowercased()
            if url.lastPathComponent.lowercased() == "manifest.csv" { continue }
            guard imageExtensions.contains(ext) else { continue }
            let folders = rel.dropLast()
            guard let classIndex = folders.lastIndex(where: { canonicalClass($0) != nil }) else {
                if let top = folders.first { skipped[top, default: 0] += 1 } else { skipped[".", default: 0] += 1 }
                continue
            }
            // Kaggle's class folders hold images/ and masks/: only images/ (or files directly) count.
            let below = folders[(classIndex + 1)...]
            if let first = below.first, squash(first) != "images" { skipped[rel.dropLast().joined(separator: "/"), default: 0] += 1; continue }
            let label = canonicalClass(folders[classIndex])!
            let split = folders[..<classIndex].last(where: { canonicalSplit($0) != nil }).flatMap(canonicalSplit)
            let sourceFolders = folders[..<classIndex].filter { canonicalSplit($0) == nil }
            let source = sourceFolders.first ?? rootSource
            // A manifest.csv in the folder that holds the class folders may give patient IDs.
            let parent = root.appendingPathComponent(folders[..<classIndex].joined(separator: "/"))
            let manifest = manifests[parent.path] ?? loadManifest(parent.appendingPathComponent("manifest.csv"))
            manifests[parent.path] = manifest
            let relToParent = rel[classIndex...].joined(separator: "/")
            let row = manifest[relToParent]
            let age = row?.ageGroup ?? source.flatMap { ageGroups["\($0)/\(label)"] }
            entries.append(Entry(path: url.path, label: label, split: split, source: source,
                                 patientID: row?.patientID, ageGroup: age))
        }
        let notices = skipped.sorted { $0.key < $1.key }.map { "skipped \($0.key)/ (\($0.value) files): not a covid, normal or viral folder" }
        guard !entries.isEmpty else { throw .noLabelledScans(root.path, skipped: notices) }
        entries.sort { $0.path < $1.path }
        return DatasetIndex(root: root, entries: entries, notices: notices)
    }

    /// What the `manifest.csv` beside a file's class folder says of it (`<source>/manifest.csv`
    /// naming `<class>/<file>`): its patient ID and age group, each nil when not given. For scans
    /// named one by one (`evaluate --files-from`), which no folder scan has read. `cache` keeps each
    /// manifest read once.
    public static func manifestFacts(forFile path: String, cache: inout [String: [String: (String?, String?)]])
        -> (patientID: String?, ageGroup: String?) {
        let url = URL(fileURLWithPath: path)
        let classFolder = url.deletingLastPathComponent()
        let manifest = classFolder.deletingLastPathComponent().appendingPathComponent("manifest.csv").path
        if cache[manifest] == nil {
            cache[manifest] = loadManifest(URL(fileURLWithPath: manifest)).mapValues { ($0.patientID, $0.ageGroup) }
        }
        let row = cache[manifest]?["\(classFolder.lastPathComponent)/\(url.lastPathComponent)"]
        return (row?.0, row?.1)
    }

    /// What a manifest says of one file: a patient ID and an age group (`child` or `adult`), each nil
    /// when empty or `unknown`.
    struct ManifestRow {
        var patientID: String?
        var ageGroup: String?
    }

    /// `file` → its row, from a manifest with a `file` column and `patient_id` and/or `age_group`;
    /// empty when there is none.
    static func loadManifest(_ url: URL) -> [String: ManifestRow] {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [:] }
        let rows = CSV.parse(text)
        guard let header = rows.first, let fi = header.firstIndex(of: "file") else { return [:] }
        let pi = header.firstIndex(of: "patient_id"), ai = header.firstIndex(of: "age_group")
        func value(_ row: [String], _ i: Int?) -> String? {
            guard let i, i < row.count, !row[i].isEmpty, row[i] != "unknown" else { return nil }
            return row[i]
        }
        var map: [String: ManifestRow] = [:]
        for row in rows.dropFirst() where row.count > fi {
            map[row[fi]] = ManifestRow(patientID: value(row, pi), ageGroup: value(row, ai))
        }
        return map
    }

    /// Number of scans per split and class.
    public func counts() -> [Split?: [String: Int]] {
        var c: [Split?: [String: Int]] = [:]
        for e in entries { c[e.split, default: [:]][e.label, default: 0] += 1 }
        return c
    }

    public func entries(in split: Split?) -> [Entry] { entries.filter { $0.split == split } }
}

/// RFC 4180 CSV: quoted fields, doubled quotes, CR LF or LF line ends.
enum CSV {
    static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = [], row: [String] = [], field = ""
        var quoted = false, afterQuote = false
        for ch in text {
            if quoted {
                if ch == "\"" { quoted = false; afterQuote = true } else { field.append(ch) }
                continue
            }
            switch ch {
            case "\"": if afterQuote { field.append("\"") }; quoted = true
            case ",": row.append(field); field = ""
            case "\n", "\r\n":
                row.append(field); field = ""
                if !(row.count == 1 && row[0].isEmpty) { rows.append(row) }
                row = []
            case "\r": break
            default: field.append(ch)
            }
            afterQuote = false
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }
}
