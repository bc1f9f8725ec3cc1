import Foundation
import Testing

/// The README is the user's manual: every option it names must exist in the command it is named
/// for, and every option `--help` shows must say what it does. Both sides are read from the built
/// binary (ArgumentParser's `--experimental-dump-help`) and from README.md as shipped.
@Suite struct HelpAgreementTests {
    /// One command of the dump: its path ("audit show"), options and subcommands.
    struct Command {
        var path: String
        var options: Set<String>
        var undescribed: [String]
    }

    /// Options the README names for other programs (pip, swift, apt), allowed only on a line that
    /// names that program.
    static let foreign: [String: String] = ["--no-deps": "pip", "--filter": "swift test"]

    static func commands() throws -> [Command] {
        let run = try CLI.run(["--experimental-dump-help"])
        #expect(run.status == 0, "\(run.stderr)")
        let root = try #require(try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any])
        var found: [Command] = []
        func walk(_ command: [String: Any], prefix: [String]) {
            let name = command["commandName"] as? String ?? ""
            let path = prefix + [name]
            var options: Set<String> = [], undescribed: [String] = []
            for argument in command["arguments"] as? [[String: Any]] ?? [] {
                let names = (argument["names"] as? [[String: Any]] ?? []).compactMap { n -> String? in
                    (n["kind"] as? String) == "long" ? "--" + (n["name"] as? String ?? "") : nil
                }
                options.formUnion(names)
                let shown = (argument["shouldDisplay"] as? Bool) ?? true
                let abstract = (argument["abstract"] as? String) ?? ""
                if shown, abstract.trimmingCharacters(in: .whitespaces).isEmpty {
                    undescribed.append(names.first ?? (argument["valueName"] as? String ?? "?"))
                }
            }
            found.append(Command(path: path.dropFirst().joined(separator: " "), options: options, undescribed: undescribed))
            for sub in command["subcommands"] as? [[String: Any]] ?? [] where (sub["commandName"] as? String) != "help" {
                walk(sub, prefix: path)
            }
        }
        walk(try #require(root["command"] as? [String: Any]), prefix: [])
        return found
    }

    @Test func everyShownOptionHasADescription() throws {
        for command in try Self.commands() {
            #expect(command.undescribed.isEmpty, "cxreview \(command.path): no help text for \(command.undescribed)")
        }
    }

    @Test func versionIsPrintedAndSaysResearchUseOnly() throws {
        let run = try CLI.run(["--version"])
        #expect(run.status == 0)
        #expect(run.stdout.hasPrefix("cxreview "))
        #expect(run.stdout.contains("not for diagnostic use"))
    }

    /// Each `--option` in README.md belongs to the command its code span or code line starts with
    /// (`cxreview evaluate …`, "`classify --summary`"), else to the command of the section it is in
    /// (`### \`cxreview X …\``); outside any command's section, to some command.
    @Test func everyOptionTheReadmeNamesExists() throws {
        let readme = try String(contentsOfFile: CLI.path("README.md"), encoding: .utf8)
        let (problems, checked) = try Self.problems(in: readme, commands: try Self.commands())
        #expect(checked > 50, "the README should name the options it documents (found \(checked))")
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    static func problems(in readme: String, commands: [Command]) throws -> (problems: [String], checked: Int) {
        let byPath = Dictionary(uniqueKeysWithValues: commands.map { ($0.path, $0.options) })
        let all = commands.reduce(into: Set<String>()) { $0.formUnion($1.options) }
        // Longest paths first, so "audit show" wins over "audit".
        let names = byPath.keys.filter { !$0.isEmpty }.sorted { $0.count > $1.count }
        // ICU regular expressions: Swift's Regex has no lookbehind yet.
        let option = try NSRegularExpression(pattern: #"(?<![A-Za-z0-9_-])--[a-z][a-z0-9-]*"#)
        func options(in text: String) -> [String] {
            option.matches(in: text, range: NSRange(text.startIndex..., in: text)).compactMap { Range($0.range, in: text).map { String(text[$0]) } }
        }
        /// The command a code span or code line is a call of, if it is one.
        func command(startingWith code: String) -> String? {
            var text = Substring(code.trimmingCharacters(in: .whitespaces))
            if text.hasPrefix("$ ") { text = text.dropFirst(2) }
            if text.hasPrefix("cxreview ") { text = text.dropFirst("cxreview ".count) }
            return names.first { text == $0 || text.hasPrefix($0 + " ") }
        }

        var section: String? = nil
        var inFence = false
        var problems: [String] = []
        var checked = 0
        for (number, part) in readme.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = String(part)
            if line.hasPrefix("```") {
                inFence.toggle()
                continue
            }
            if !inFence, line.hasPrefix("#") {
                let heading = line.drop { $0 == "#" || $0 == " " }
                section = line.hasPrefix("### `cxreview ") ? command(startingWith: String(heading.dropFirst())) : nil
            }
            // (text, the command it is a call of): a code line is one piece; prose alternates
            // between text and backtick spans.
            var pieces: [(String, String?)] = []
            if inFence {
                pieces = [(line, command(startingWith: line))]
            } else {
                for (i, piece) in line.split(separator: "`", omittingEmptySubsequences: false).enumerated() {
                    pieces.append((String(piece), i % 2 == 1 ? command(startingWith: String(piece)) : nil))
                }
            }
            for (text, call) in pieces {
                for name in options(in: text) {
                    checked += 1
                    if let tool = foreign[name] {
                        if !line.contains(tool) { problems.append("line \(number + 1): \(name) outside a \(tool) command") }
                        continue
                    }
                    if let owner = call ?? section, let known = byPath[owner] {
                        if !known.contains(name) { problems.append("line \(number + 1): `cxreview \(owner)` has no \(name)") }
                    } else if !all.contains(name) {
                        problems.append("line \(number + 1): no command has \(name)")
                    }
                }
            }
        }
        return (problems, checked)
    }

    /// The check above finds what the issue reported: `train --init` named for `--init-weights`, and
    /// an option of one command named in another's section.
    @Test func aMisspeltOrMisplacedOptionIsCaught() throws {
        let text = """
            ### `cxreview train DATA... --out MODEL`
            - `--init WEIGHTS` starts from torchvision-named weights.
            - `--init-weights WEIGHTS` is the real name; `evaluate --files-from` belongs to evaluate.
            ### `cxreview watch INBOX --out DIR`
            - `--percentile 99` is calibrate-ood's, not watch's.
            """
        let (problems, checked) = try Self.problems(in: text, commands: try Self.commands())
        #expect(checked == 6)
        #expect(problems.count == 2, "\(problems)")
        #expect(problems.contains { $0.contains("--init") && $0.contains("train") })
        #expect(problems.contains { $0.contains("--percentile") && $0.contains("watch") })
    }
}
