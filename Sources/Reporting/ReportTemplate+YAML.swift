import CAM
import Foundation
internal import Yams

// Reading a template from YAML with Yams: the only file that imports Yams. Every value is checked
// against the node it came from, so each error names its line.

extension ReportTemplate {
    static let topLevelKeys = [
        "institution", "logo", "page_size", "language", "low_confidence_threshold", "disclaimer", "image_quality",
        "colors", "sections", "labels", "triage_order",
    ]
    static let colorKeys = ["accent", "classes"]
    static let sectionKeys = ["patient", "study", "probabilities", "images", "decoding_notes", "warnings", "provenance"]

    /// Parses template YAML; `path` names the file in errors, `folder` resolves a relative logo path.
    static func parse(yaml: String, path: String, folder: URL?) throws(TemplateError) -> ReportTemplate {
        let reader = YAMLReader(path: path)
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: yaml) else { return ReportTemplate() }
            root = node
        } catch let error as YamlError {
            throw reader.syntaxError(error)
        } catch {
            throw TemplateError(path: path, line: nil, kind: .syntax, problem: "not valid YAML (\(error))",
                                fix: "Compare the file with templates/report.yaml.")
        }

        var t = ReportTemplate()
        for (key, value) in try reader.mapping(root, block: "the template", known: topLevelKeys) {
            switch key.string {
            case "institution": t.institution = try reader.string(value, key: key.string, allowEmpty: true)
            case "logo":
                let logo = try reader.string(value, key: key.string, allowEmpty: true)
                guard !logo.isEmpty else { t.logoPath = nil; continue }
                let resolved = logo.hasPrefix("/") || folder == nil ? logo : folder!.appendingPathComponent(logo).path
                guard logo.lowercased().hasSuffix(".png") else {
                    throw reader.invalid(value, "logo must be a PNG file, not '\(logo)'", fix: "Convert the logo to PNG, or leave logo empty.")
                }
                guard FileManager.default.isReadableFile(atPath: resolved) else {
                    throw reader.invalid(value, "logo file \(resolved) does not exist or cannot be read",
                                         fix: "Give a path relative to the template's folder or an absolute one, or leave logo empty.")
                }
                t.logoPath = resolved
            case "page_size":
                let v = try reader.string(value, key: key.string)
                guard let size = PageSize.allCases.first(where: { $0.rawValue.lowercased() == v.lowercased() }) else {
                    throw reader.invalid(value, "page size must be A4 or Letter, not \(v)", fix: "Write page_size: A4 or page_size: Letter.")
                }
                t.pageSize = size
            case "language": t.language = try reader.string(value, key: key.string)
            case "low_confidence_threshold":
                let v = try reader.string(value, key: key.string)
                guard let d = Double(v), d >= 0, d <= 1 else {
                    throw reader.invalid(value, "low_confidence_threshold must be a number from 0 to 1, not \(v)",
                                         fix: "Write e.g. low_confidence_threshold: 0.6 (0 never warns).")
                }
                t.lowConfidenceThreshold = d
            case "disclaimer": t.disclaimer = try reader.string(value, key: key.string)
            case "triage_order":
                let v = try reader.string(value, key: key.string)
                guard !v.isEmpty, v.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else {
                    throw reader.invalid(value, "triage_order must be not_normal, not_<class> or a class name, not '\(v)'",
                                         fix: "Write triage_order: not_normal (1 − p(normal), the default) or e.g. triage_order: covid.")
                }
                t.triageOrder = v.hasPrefix("not_") ? .notClass(String(v.dropFirst(4))) : .probability(of: v)
            case "image_quality":
                let v = try reader.string(value, key: key.string)
                if v.lowercased() == "lossless" {
                    t.jpegQuality = nil
                } else if let q = Int(v), (50...100).contains(q) {
                    t.jpegQuality = q
                } else {
                    throw reader.invalid(value, "image_quality must be lossless or a JPEG quality from 50 to 100, not \(v)",
                                         fix: "Write image_quality: 92 (JPEG display copies) or image_quality: lossless.")
                }
            case "colors":
                for (ck, cv) in try reader.mapping(value, block: "colors", known: colorKeys) {
                    if ck.string == "accent" {
                        t.accentColor = try reader.color(cv, key: "accent")
                    } else {
                        for (name, colour) in try reader.mapping(cv, block: "colors.classes", known: nil) {
                            t.classColors[name.string] = try reader.color(colour, key: name.string)
                        }
                    }
                }
            case "sections":
                for (sk, sv) in try reader.mapping(value, block: "sections", known: sectionKeys) {
                    let on = try reader.bool(sv, key: sk.string)
                    switch sk.string {
                    case "patient": t.sections.patient = on
                    case "study": t.sections.study = on
                    case "probabilities": t.sections.probabilities = on
                    case "images": t.sections.images = on
                    case "decoding_notes": t.sections.decodingNotes = on
                    case "warnings": t.sections.warnings = on
                    default: t.sections.provenance = on
                    }
                }
            default:  // labels
                for (code, block) in try reader.mapping(value, block: "labels", known: nil) {
                    t.languages[code.string] = try reader.labels(block, language: code.string)
                }
            }
        }
        if t.languages[t.language] == nil {
            let line = root.mapping?.first(where: { $0.key.string == "language" })?.value.mark?.line
            throw TemplateError(
                path: path, line: line, kind: .invalidValue,
                problem: "language '\(t.language)' has no labels block; defined: \(t.languages.keys.sorted().joined(separator: ", "))",
                fix: "Add a block under labels: \(t.language): … (missing labels fall back to English), or choose a defined language.")
        }
        return t
    }
}

/// Checks nodes one by one, turning each problem into a `TemplateError` at the node's line.
struct YAMLReader {
    let path: String

    func error(_ node: Node?, _ kind: TemplateError.Kind, _ problem: String, fix: String) -> TemplateError {
        TemplateError(path: path, line: node?.mark?.line, kind: kind, problem: problem, fix: fix)
    }

    func invalid(_ node: Node, _ problem: String, fix: String) -> TemplateError {
        error(node, .invalidValue, problem, fix: fix)
    }

    func syntaxError(_ e: YamlError) -> TemplateError {
        let fix = "Indent with spaces (not tabs), two per level, and put a space after each colon; quote values that contain ': ' or start with '#'."
        switch e {
        case let .scanner(_, problem, mark, _), let .parser(_, problem, mark, _), let .composer(_, problem, mark, _):
            return TemplateError(path: path, line: mark.line, kind: .syntax, problem: "YAML syntax error, \(problem) (column \(mark.column))", fix: fix)
        case let .reader(problem, _, _, _):
            return TemplateError(path: path, line: nil, kind: .syntax, problem: "the file cannot be read as YAML text (\(problem))",
                                 fix: "Save the template as UTF-8 text.")
        default:
            return TemplateError(path: path, line: nil, kind: .syntax, problem: "not valid YAML (\(e))", fix: fix)
        }
    }

    /// The pairs of a block; with `known`, every key must be one of them. Keys may not repeat.
    func mapping(_ node: Node, block: String, known: [String]?) throws(TemplateError) -> [(key: (string: String, node: Node), value: Node)] {
        guard let map = node.mapping else {
            throw invalid(node, "\(block) must be a block of 'key: value' lines, not '\(node.scalar?.string ?? "a list")'",
                          fix: "Put each entry of \(block) on its own line, indented under it.")
        }
        var seen: [String: Int] = [:]
        var pairs: [(key: (string: String, node: Node), value: Node)] = []
        for (k, v) in map {
            guard let key = k.scalar?.string else {
                throw invalid(k, "a key in \(block) is not plain text", fix: "Write keys as plain words followed by ':'.")
            }
            if let known, !known.contains(key) {
                throw error(k, .unknownKey, "unknown key '\(key)' in \(block); known keys: \(known.joined(separator: ", "))",
                            fix: "Fix the spelling or delete the line.")
            }
            if let first = seen[key] {
                throw error(k, .duplicateKey, "'\(key)' appears twice in \(block) (first on line \(first))", fix: "Keep one of them.")
            }
            seen[key] = k.mark?.line ?? 0
            pairs.append(((key, k), v))
        }
        return pairs
    }

    func string(_ node: Node, key: String, allowEmpty: Bool = false) throws(TemplateError) -> String {
        if node.mapping != nil || node.sequence != nil {
            throw invalid(node, "\(key) must be a single value, not a block or list", fix: "Write \(key): VALUE on one line.")
        }
        let s = (node.scalar?.string ?? "").trimmingCharacters(in: .whitespaces)
        let isNull = node.scalar.map { $0.style == .plain && ["~", "null", "Null", "NULL", ""].contains($0.string) } ?? true
        if !allowEmpty, isNull || s.isEmpty {
            throw invalid(node, "\(key) is empty", fix: "Give \(key) a value, or delete the line to keep the default.")
        }
        return isNull ? "" : s
    }

    func bool(_ node: Node, key: String) throws(TemplateError) -> Bool {
        switch try string(node, key: key).lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        case let other: throw invalid(node, "\(key) must be true or false, not \(other)", fix: "Write \(key): true or \(key): false.")
        }
    }

    func color(_ node: Node, key: String) throws(TemplateError) -> RGBColor {
        let raw: String
        do {
            raw = try string(node, key: key)
        } catch {
            // An unquoted #RRGGBB is a YAML comment, so the value arrives empty.
            throw invalid(node, "the colour for \(key) is empty", fix: "Quote it: \(key): \"#0072B2\" (an unquoted # starts a comment).")
        }
        let hex = raw.hasPrefix("#") ? String(raw.dropFirst()) : ""
        guard hex.count == 6, let v = UInt32(hex, radix: 16) else {
            throw invalid(node, "the colour for \(key) must be \"#RRGGBB\" (six hex digits), not \(raw)", fix: "Write e.g. \(key): \"#D55E00\".")
        }
        return RGBColor(red: UInt8(v >> 16), green: UInt8((v >> 8) & 0xFF), blue: UInt8(v & 0xFF))
    }

    func labels(_ node: Node, language: String) throws(TemplateError) -> ReportTemplate.Labels {
        let known = ReportTemplate.LabelKey.allCases.map(\.rawValue) + ["classes"]
        var labels = ReportTemplate.Labels()
        for (k, v) in try mapping(node, block: "labels.\(language)", known: known) {
            if k.string == "classes" {
                for (name, display) in try mapping(v, block: "labels.\(language).classes", known: nil) {
                    labels.classNames[name.string] = try string(display, key: name.string)
                }
                continue
            }
            let key = ReportTemplate.LabelKey(rawValue: k.string)!
            let text = try string(v, key: k.string)
            let missing = key.placeholders.filter { !text.contains($0) }
            if !missing.isEmpty {
                throw invalid(v, "the label \(k.string) lacks \(missing.joined(separator: ", ")), which the report fills in",
                              fix: "Keep every {…} of the English text: \"\(key.english)\".")
            }
            labels.text[key] = text
        }
        return labels
    }
}
