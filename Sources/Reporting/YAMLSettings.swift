import Foundation
internal import Yams

/// A flat YAML settings file (`key: value` lines), read with the same checks and line-numbered
/// errors as report templates: for configuration files of other commands (e.g. `cxreview watch`).
package enum YAMLSettings {
    package struct Value: Sendable {
        package let key: String
        package let value: String
        package let line: Int
    }

    /// The settings of `url`; every key must be one of `known`, none may repeat, and values are single scalars.
    package static func read(_ url: URL, known: [String]) throws(TemplateError) -> [Value] {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw TemplateError(path: url.path, line: nil, kind: .unreadable, problem: "cannot be read (\(error.localizedDescription))",
                                fix: "Check the path and that the file is UTF-8 text.")
        }
        let reader = YAMLReader(path: url.path)
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else { return [] }
            root = node
        } catch let error as YamlError {
            throw reader.syntaxError(error)
        } catch {
            throw TemplateError(path: url.path, line: nil, kind: .syntax, problem: "not valid YAML (\(error))",
                                fix: "Write one 'key: value' per line.")
        }
        var out: [Value] = []
        for (key, node) in try reader.mapping(root, block: "the settings", known: known) {
            out.append(Value(key: key.string, value: try reader.string(node, key: key.string, allowEmpty: true),
                             line: (node.mark?.line ?? 0)))
        }
        return out
    }

    /// A `TemplateError` for a value that has the right form but is not acceptable.
    package static func invalid(_ v: Value, path: String, _ problem: String, fix: String) -> TemplateError {
        TemplateError(path: path, line: v.line, kind: .invalidValue, problem: problem, fix: fix)
    }
}
