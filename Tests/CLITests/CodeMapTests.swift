import Foundation
import Testing

/// The code map (docs/DEVELOPMENT.md) must stay true to `Package.swift`: every target that is not a test
/// target has one line there, and the map names no target the package does not declare.
/// Both sides are read from the files as shipped.
@Suite struct CodeMapTests {
    /// Target names declared in a package manifest, by kind (`target`, `executableTarget`,
    /// `systemLibrary`, `testTarget`).
    static func targets(inManifest manifest: String) throws -> [(kind: String, name: String)] {
        let declaration = try NSRegularExpression(
            pattern: #"\.(target|executableTarget|systemLibrary|testTarget)\(\s*name:\s*"([^"]+)""#)
        let range = NSRange(manifest.startIndex..., in: manifest)
        return declaration.matches(in: manifest, range: range).compactMap { match in
            guard let kind = Range(match.range(at: 1), in: manifest),
                  let name = Range(match.range(at: 2), in: manifest) else { return nil }
            return (String(manifest[kind]), String(manifest[name]))
        }
    }

    /// The targets the code map lists: the first backtick span of each `- ` line of the document's
    /// `## Code map` section (up to the next `## ` heading).
    static func codeMapEntries(inDocument readme: String) -> [String]? {
        var inSection = false, found = false
        var entries: [String] = []
        for line in readme.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("## ") {
                inSection = line.trimmingCharacters(in: .whitespaces) == "## Code map"
                found = found || inSection
                continue
            }
            guard inSection, line.hasPrefix("- `") else { continue }
            let name = line.dropFirst(3).prefix { $0 != "`" }
            entries.append(String(name))
        }
        return found ? entries : nil
    }

    /// What is wrong with the code map, one line per problem (empty when it is true to the manifest).
    static func problems(readme: String, manifest: String) throws -> [String] {
        let declared = try targets(inManifest: manifest).filter { $0.kind != "testTarget" }.map(\.name)
        guard let entries = codeMapEntries(inDocument: readme) else {
            return ["docs/DEVELOPMENT.md has no `## Code map` section"]
        }
        var problems: [String] = []
        for name in declared where !entries.contains(name) {
            problems.append("target \(name) of Package.swift is missing from the code map")
        }
        for name in entries where !declared.contains(name) {
            problems.append("the code map names \(name), which Package.swift does not declare")
        }
        for name in Set(entries) where entries.filter({ $0 == name }).count > 1 {
            problems.append("the code map lists \(name) more than once")
        }
        return problems.sorted()
    }

    @Test func codeMapMatchesPackageSwift() throws {
        let readme = try String(contentsOfFile: CLI.path("docs/DEVELOPMENT.md"), encoding: .utf8)
        let manifest = try String(contentsOfFile: CLI.path("Package.swift"), encoding: .utf8)
        let declared = try Self.targets(inManifest: manifest)
        // The manifest is read at all: it declares more than a dozen library targets.
        #expect(declared.filter { $0.kind != "testTarget" }.count > 12, "\(declared)")
        let problems = try Self.problems(readme: readme, manifest: manifest)
        #expect(problems.isEmpty, "\(problems.joined(separator: "\n"))")
    }

    /// The check catches a target added to the manifest but not to the map, a map line for a
    /// target that is gone, and a document without the section.
    @Test func aMissingOrStaleEntryIsCaught() throws {
        let manifest = """
            targets: [
                .systemLibrary(
                    name: "CZlib", pkgConfig: "zlib"),
                .target(name: "Core"),
                .target(name: "Reader", dependencies: ["Core", "CZlib"]),
                .executableTarget(
                    name: "tool",
                    dependencies: ["Reader"]),
                .testTarget(name: "CoreTests", dependencies: ["Core"]),
            ]
            """
        let readme = """
            # Tool
            - `Core` is not in the code map here: this list is outside it.
            ## Code map
            - `CZlib`: zlib.
            - `Core`: values.
            - `tool`: the command line.
            - `Writer`: a target that was removed.
            ## Links
            - `Reader`: not in the code map either.
            """
        let problems = try Self.problems(readme: readme, manifest: manifest)
        #expect(problems == [
            "target Reader of Package.swift is missing from the code map",
            "the code map names Writer, which Package.swift does not declare",
        ], "\(problems)")

        let complete = readme.replacingOccurrences(of: "- `Writer`: a target that was removed.", with: "- `Reader`: reads.")
        #expect(try Self.problems(readme: complete, manifest: manifest).isEmpty)
        #expect(try Self.problems(readme: "# Tool\n", manifest: manifest) == ["docs/DEVELOPMENT.md has no `## Code map` section"])
    }
}
