import Foundation
@testable import Reporting
import Testing

/// Loading report templates: the default, the committed file, and malformed ones failing at the right line.
@Suite struct ReportTemplateTests {
    static let committed = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("templates/report.yaml")

    /// Writes `yaml` to a temporary report.yaml and loads it.
    static func load(_ yaml: String) throws -> Result<ReportTemplate, TemplateError> {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let url = folder.appendingPathComponent("report.yaml")
        try yaml.write(to: url, atomically: true, encoding: .utf8)
        do throws(TemplateError) {
            return .success(try ReportTemplate.load(contentsOf: url))
        } catch {
            return .failure(error)
        }
    }

    static func failure(_ yaml: String) throws -> TemplateError {
        guard case let .failure(error) = try load(yaml) else {
            Issue.record("the template loaded but should have failed:\n\(yaml)")
            throw CancellationError()
        }
        return error
    }

    @Test func defaultTemplate() {
        let t = ReportTemplate.default
        #expect(t.pageSize == .a4 && t.language == "en" && t.lowConfidenceThreshold == 0.6)
        #expect(t.disclaimer == "Research use only. Not for diagnostic use.")
        #expect(t.sections == ReportTemplate.Sections())
        #expect(t.labels[.patient] == "Patient")
    }

    @Test func committedTemplateLoadsAndMatchesTheBuiltInEnglish() throws {
        let t = try ReportTemplate.load(contentsOf: Self.committed)
        #expect(t.institution == "CXReview research group")
        #expect(t.pageSize == .a4 && t.logoPath == nil)
        #expect(t.classColors["covid"] == .init(red: 0xD5, green: 0x5E, blue: 0x00))
        // The file lists every English label, each equal to the built-in text.
        let en = try #require(t.languages["en"])
        for key in ReportTemplate.LabelKey.allCases {
            #expect(en.text[key] == key.english, "\(key.rawValue)")
        }
        let de = try #require(t.languages["de"])
        #expect(de[.study] == "Untersuchung")
        #expect(de[.modelSHA256] == "Model SHA-256", "missing translations fall back to English")
        #expect(de.className("viral") == "Virale Pneumonie")
    }

    @Test func germanIsChosenWithLanguage() throws {
        let t = try Self.load("""
            language: de
            labels:
              de:
                study: "Untersuchung"
            """).get()
        #expect(t.labels[.study] == "Untersuchung" && t.labels[.patient] == "Patient")
    }

    @Test func unknownKeyNamesLineAndKnownKeys() throws {
        let e = try Self.failure("""
            institution: "X"
            page_size: A4
            colors:
              accent: "#000000"
              colour: "#FFFFFF"
            """)
        #expect(e.line == 5 && e.kind == .unknownKey)
        #expect(e.description.contains("line 5: unknown key 'colour' in colors; known keys: accent, classes"), "\(e)")
        let top = try Self.failure("institution: X\npagesize: A4\n")
        #expect(top.line == 2 && top.description.contains("page_size"), "\(top)")
    }

    @Test func badPageSize() throws {
        let e = try Self.failure("# comment\ninstitution: X\npage_size: A5\n")
        #expect(e.line == 3 && e.kind == .invalidValue)
        #expect(e.description.contains("line 3: page size must be A4 or Letter, not A5"), "\(e)")
        #expect(try Self.load("page_size: letter").get().pageSize == .letter)
    }

    @Test func imageQuality() throws {
        #expect(try Self.load("image_quality: lossless").get().jpegQuality == nil)
        #expect(try Self.load("image_quality: 80").get().jpegQuality == 80)
        let e = try Self.failure("institution: X\nimage_quality: 30\n")
        #expect(e.line == 2 && e.kind == .invalidValue)
        #expect(e.description.contains("image_quality must be lossless or a JPEG quality from 50 to 100, not 30"), "\(e)")
    }

    @Test func badColours() throws {
        let notHex = try Self.failure("colors:\n  accent: \"#12345G\"\n")
        #expect(notHex.line == 2 && notHex.description.contains("#RRGGBB"), "\(notHex)")
        // Unquoted, "#0072B2" is a comment: the value is empty and the message says to quote it.
        let unquoted = try Self.failure("colors:\n  classes:\n    covid: #0072B2\n")
        #expect(unquoted.line == 3 && unquoted.description.contains("Quote it"), "\(unquoted)")
    }

    @Test func badIndentationAndSyntax() throws {
        let indent = try Self.failure("institution: X\n  page_size: A4\n")
        #expect(indent.kind == .syntax && indent.line == 2, "\(indent)")
        let tab = try Self.failure("sections:\n\tpatient: true\n")
        #expect(tab.kind == .syntax && tab.line == 2, "\(tab)")
        let quote = try Self.failure("institution: X\ndisclaimer: \"unclosed\nlanguage: en\n")
        #expect(quote.kind == .syntax && quote.line != nil, "\(quote)")
        let notBlock = try Self.failure("institution: X\nsections: true\n")
        #expect(notBlock.line == 2 && notBlock.kind == .invalidValue, "\(notBlock)")
    }

    @Test func otherValueErrors() throws {
        let dup = try Self.failure("institution: A\ninstitution: B\n")
        #expect(dup.line == 2 && dup.kind == .duplicateKey && dup.description.contains("first on line 1"), "\(dup)")
        let flag = try Self.failure("sections:\n  images: maybe\n")
        #expect(flag.line == 2 && flag.description.contains("true or false"), "\(flag)")
        let threshold = try Self.failure("low_confidence_threshold: 60\n")
        #expect(threshold.line == 1, "\(threshold)")
        let language = try Self.failure("language: fr\n")
        #expect(language.line == 1 && language.description.contains("labels"), "\(language)")
        let placeholder = try Self.failure("labels:\n  en:\n    page: \"Seite 1\"\n")
        #expect(placeholder.line == 3 && placeholder.description.contains("{page}"), "\(placeholder)")
        let logo = try Self.failure("logo: missing-logo.png\n")
        #expect(logo.line == 1 && logo.description.contains("missing-logo.png"), "\(logo)")
        let label = try Self.failure("labels:\n  en:\n    pateint: \"P\"\n")
        #expect(label.line == 3 && label.kind == .unknownKey, "\(label)")
    }

    @Test func missingFileIsUnreadable() {
        do throws(TemplateError) {
            _ = try ReportTemplate.load(contentsOf: URL(fileURLWithPath: "/nonexistent/report.yaml"))
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.kind == .unreadable && error.line == nil)
        }
    }
}
