import Foundation
@testable import Reporting
import Testing
import XRayCore

/// Issue 14, items 7, 9 and 10: what the scope check flags, the triage order, the patient and
/// study block's dates and age, the L/R letters, CJK names.
@Suite struct ScanWarningTests {
    /// The header fields of the conformance files, as dcmdump shows them.
    static func header(modality: String?, sop: String?, bodyPart: String? = nil, view: String? = nil,
                       rows: Int, columns: Int, spacing: [Double]? = nil) -> ScanMetadata {
        var m = ScanMetadata()
        m.modality = modality
        m.sopClassUID = sop
        m.bodyPartExamined = bodyPart
        m.viewPosition = view
        m.rows = rows
        m.columns = columns
        m.pixelSpacing = spacing
        return m
    }

    static let cr = "1.2.840.10008.5.1.4.1.1.1", dx = "1.2.840.10008.5.1.4.1.1.1.1", sc = "1.2.840.10008.5.1.4.1.1.7"
    static let ct = "1.2.840.10008.5.1.4.1.1.2", mr = "1.2.840.10008.5.1.4.1.1.4"

    func codes(_ m: ScanMetadata?, _ w: Int, _ h: Int, probabilities: [Double] = [0.9, 0.05, 0.05]) -> [ScanWarning.Code] {
        ScanWarning.assess(probabilities: probabilities, metadata: m, size: (w, h), template: .default).map(\.code)
    }

    @Test func ctAndMRSlicesAndAChestRelabelledCTAreOutOfScope() {
        let ctSlice = Self.header(modality: "CT", sop: Self.ct, rows: 128, columns: 128, spacing: [0.661468, 0.661468])
        let problems = ScanScope.problems(metadata: ctSlice, size: (128, 128))
        #expect(problems.contains { $0.hasPrefix("Modality CT") })
        #expect(problems.contains { $0.contains("SOP class \(Self.ct)") })
        #expect(problems.contains { $0.contains("128 × 128 px") })
        #expect(problems.contains { $0.contains("85 mm") })
        #expect(codes(ctSlice, 128, 128) == [.outOfScope])
        #expect(codes(Self.header(modality: "MR", sop: Self.mr, rows: 64, columns: 64), 64, 64) == [.outOfScope])
        // A real chest CR whose Modality was changed to CT.
        let relabelled = Self.header(modality: "CT", sop: Self.cr, bodyPart: "CHEST", view: "PA", rows: 2048, columns: 2048)
        #expect(ScanScope.problems(metadata: relabelled, size: (2048, 2048)) == ["Modality CT, not CR or DX"])
    }

    @Test func theDogThoraxIsOutOfScopeByItsSize() {
        let dog = Self.header(modality: "DX", sop: Self.dx, bodyPart: "THORAX", rows: 169, columns: 211, spacing: [1.2, 1.2012])
        #expect(codes(dog, 211, 169) == [.outOfScope])
    }

    @Test func frontalChestsInTheVendorsSpellingsAreInScope() {
        for part in ["CHEST", "THORAX", "Thorax", "CHEST PA", "THORAX_AP", "TÓRAX", "TORACE", "LUNG", "PECHO", "BRUST", "cxr"] {
            let m = Self.header(modality: "DX", sop: Self.dx, bodyPart: part, view: "PA", rows: 2500, columns: 2048, spacing: [0.15, 0.15])
            #expect(codes(m, 2048, 2500).isEmpty, "\(part)")
        }
        #expect(ScanScope.isChest("ABDOMEN") == false && ScanScope.isChest(nil) == nil && ScanScope.isChest("  ") == nil)
        // The SIIM set: Secondary Capture, Modality CR, 1024 px at the original 0.168 mm (172 mm).
        #expect(codes(Self.header(modality: "CR", sop: Self.sc, bodyPart: "CHEST", view: "PA", rows: 1024, columns: 1024,
                                  spacing: [0.168, 0.168]), 1024, 1024).isEmpty)
        // DX-like Secondary Capture (Modality OT) only with a chest body part.
        #expect(codes(Self.header(modality: "OT", sop: Self.sc, bodyPart: "CHEST", rows: 1024, columns: 1024), 1024, 1024).isEmpty)
        #expect(codes(Self.header(modality: "OT", sop: Self.sc, rows: 1024, columns: 1024), 1024, 1024) == [.outOfScope])
        // PNG/JPEG: the size only; a public set's 299 px is fine.
        #expect(codes(nil, 299, 299).isEmpty)
        #expect(codes(nil, 1200, 300) == [.outOfScope])
    }

    @Test func warningsComeInTheReportsOrder() {
        let lateral = Self.header(modality: "CR", sop: Self.cr, bodyPart: "ABDOMEN", view: "LL", rows: 2000, columns: 2000)
        let all = ScanWarning.assess(probabilities: [0.4, 0.35, 0.25], metadata: lateral, size: (2000, 2000),
                                     outOfDistribution: "Out of distribution.", extra: ["other"], template: .default)
        #expect(all.map(\.code) == [.outOfScope, .outOfDistribution, .notFrontal, .lowConfidence, .other])
        #expect(all.filter(\.setsAside).count == 2)
        #expect(all[0].message == "Out of scope (BodyPartExamined ABDOMEN, not the chest): the model was trained on frontal chest radiographs (CR/DX) only.")
    }

    // MARK: A class the patient's age group was never trained on (issue 13)

    /// The shipped model's training: children normal and viral, adults normal and COVID-19.
    static let trained = ["child": ["normal", "viral"], "adult": ["normal", "covid"]]

    static func patient(age: String? = nil, birth: String? = nil, study: String? = nil) -> ScanMetadata {
        var m = header(modality: "CR", sop: cr, bodyPart: "CHEST", rows: 2000, columns: 2000)
        m.patientAge = age
        m.patientBirthDate = birth
        m.studyDate = study
        return m
    }

    func untrained(_ m: ScanMetadata, _ predicted: String, trained: [String: [String]]? = trained) -> [ScanWarning] {
        ScanWarning.assess(probabilities: [0.1, 0.8, 0.1], metadata: m, size: (2000, 2000), predictedClass: predicted,
                           trainedClasses: trained, template: .default).filter { $0.code == .untrainedGroup }
    }

    @Test func viralOnAnAdultAndCovidOnAChildAreFlagged() throws {
        let w = try #require(untrained(Self.patient(age: "045Y"), "viral").first)
        #expect(w.message == "Outside what the model learned: it was never trained on \"viral\" in adults (18 or older) (age 45 by the header), so this call is no evidence of it; see the model card.")
        #expect(!w.setsAside)
        #expect(untrained(Self.patient(age: "004Y"), "covid").count == 1)
        // The age from the birth date and the study date: 17 the day before the 18th birthday.
        #expect(untrained(Self.patient(birth: "20030306", study: "20210305"), "covid").count == 1)
        #expect(untrained(Self.patient(birth: "20030306", study: "20210306"), "covid").isEmpty)
        // Headers in the wild: "62" and "62Y" are years (the SIIM sample says "62"); a malformed age is no age.
        #expect(untrained(Self.patient(age: "62"), "viral").count == 1)
        #expect(untrained(Self.patient(age: "62Y"), "viral").count == 1)
        #expect(untrained(Self.patient(age: "sixty"), "viral").isEmpty)
        // Months, weeks and days are children.
        #expect(untrained(Self.patient(age: "018M"), "covid").count == 1)
        #expect(untrained(Self.patient(age: "020D"), "viral").isEmpty)
    }

    @Test func trainedCombinationsUnknownAgesAndUnknownModelsAreNot() {
        #expect(untrained(Self.patient(age: "045Y"), "covid").isEmpty)
        #expect(untrained(Self.patient(age: "045Y"), "normal").isEmpty)
        #expect(untrained(Self.patient(age: "003Y"), "viral").isEmpty)
        #expect(untrained(Self.patient(), "viral").isEmpty, "no age in the header: nothing to judge by")
        #expect(untrained(Self.patient(age: "045Y"), "viral", trained: nil).isEmpty, "a model that does not say what it trained on")
        // An age group the model never trained on at all: every class is outside it.
        #expect(untrained(Self.patient(age: "045Y"), "normal", trained: ["child": ["normal", "viral"]]).count == 1)
        // Out of scope already says the class is no finding: no second warning.
        var ct = Self.patient(age: "045Y")
        ct.modality = "CT"
        #expect(untrained(ct, "viral").isEmpty)
    }

    @Test func theWarningStandsAfterNotFrontalAndBeforeLowConfidence() {
        var m = Self.patient(age: "060Y")
        m.viewPosition = "LL"
        let all = ScanWarning.assess(probabilities: [0.3, 0.4, 0.3], metadata: m, size: (2000, 2000), predictedClass: "viral",
                                     trainedClasses: Self.trained, template: .default)
        #expect(all.map(\.code) == [.notFrontal, .untrainedGroup, .lowConfidence])
    }

    // MARK: Triage order (item 9)

    static func entry(_ file: String, _ p: [Double], metadata: ScanMetadata? = nil, ood: String? = nil) -> SummaryEntry {
        let classes = ["normal", "viral", "covid"]
        let best = p.indices.max { p[$0] < p[$1] }!
        return SummaryEntry(file: file, metadata: metadata, outcome: .classified(.init(
            predictedClass: classes[best], probabilities: zip(classes, p).map { .init(className: $0, probability: $1) },
            thumbnail: Support.scan(width: 64, height: 64), outOfDistributionWarning: ood, scanSize: (1024, 1024))))
    }

    @Test func theWorklistIsOrderedByNotNormalAndSetsAsideOutOfScopeScans() throws {
        let ct = Self.header(modality: "CT", sop: Self.ct, rows: 128, columns: 128)
        let entries = [
            Self.entry("covid-0.50.png", [0.30, 0.20, 0.50]),
            Self.entry("viral-0.94.png", [0.03, 0.94, 0.03]),
            Self.entry("ct.dcm", [0.05, 0.05, 0.90], metadata: ct),
            Self.entry("normal-0.80.png", [0.80, 0.10, 0.10]),
            Self.entry("dog-ood.dcm", [0.10, 0.10, 0.80], ood: "Out of distribution."),
        ]
        let summary = SummaryReport(entries: entries)
        #expect(summary.ranked.map(\.file) == ["viral-0.94.png", "covid-0.50.png", "normal-0.80.png"])
        #expect(summary.setAside.map(\.file) == ["ct.dcm", "dog-ood.dcm"])
        #expect(SummaryReport(entries: entries, order: .probability(of: "covid")).ranked.map(\.file)
                == ["covid-0.50.png", "normal-0.80.png", "viral-0.94.png"], "by p(covid) the viral 0.94 comes last")

        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let url = folder.appendingPathComponent("s.pdf")
        try SummaryRenderer().write(summary, to: url)
        let text = try Support.pdfText(url, layout: true)
        let order = ["viral-0.94.png", "covid-0.50.png", "normal-0.80.png", "Set aside (2)", "ct.dcm", "dog-ood.dcm"]
        let at = try order.map { try #require(text.range(of: $0), "\($0) missing").lowerBound }
        #expect(at == at.sorted(), "rows out of order")
        #expect(Support.normalised(text).contains("Sorted by the probability of not normal (1 − p)"))
        #expect(Support.normalised(text).contains("5 scans: 5 classified"))
    }

    @Test func theTemplateChoosesTheOrder() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let yaml = folder.appendingPathComponent("t.yaml")
        try "triage_order: covid\n".write(to: yaml, atomically: true, encoding: .utf8)
        #expect(try ReportTemplate.load(contentsOf: yaml).triageOrder == .probability(of: "covid"))
        try "triage_order: not_normal\n".write(to: yaml, atomically: true, encoding: .utf8)
        #expect(try ReportTemplate.load(contentsOf: yaml).triageOrder == .notClass("normal"))
        #expect(ReportTemplate.default.triageOrder == .notClass("normal"))
        try "triage_order: \"1 - covid\"\n".write(to: yaml, atomically: true, encoding: .utf8)
        #expect(throws: TemplateError.self) { try ReportTemplate.load(contentsOf: yaml) }
    }

    // MARK: Patient and study block (item 10)

    @Test func ageIsComputedAndTheDateFallsBackSayingWhichWasUsed() {
        let labels = ReportTemplate.default.labels
        var m = ScanMetadata()
        m.patientBirthDate = "19710316"
        m.studyDate = "20240315"
        #expect(ScanReport.ageText(m, labels: labels) == "52 Y (computed from the birth date and the study date)")
        m.studyDate = "20240316"
        #expect(ScanReport.ageText(m, labels: labels)?.hasPrefix("53 Y") == true)
        m.patientAge = "053Y"
        #expect(ScanReport.ageText(m, labels: labels) == "53 Y")
        var baby = ScanMetadata()
        baby.patientBirthDate = "20230610"
        baby.acquisitionDate = "2024.02.01"
        #expect(ScanReport.ageText(baby, labels: labels) == "7 M (computed from the birth date and the acquisition date)")
        #expect(ScanReport.studyDateText(baby, labels: labels) == "2024.02.01 (acquisition date)")
        baby.seriesDate = "20240131"
        #expect(ScanReport.studyDateText(baby, labels: labels) == "2024-01-31 (series date)")
        baby.studyDate = "20240130"
        #expect(ScanReport.studyDateText(baby, labels: labels) == "2024-01-30")
        #expect(ScanReport.ageText(ScanMetadata(), labels: labels) == nil)
    }

    @Test func theReportShowsTheFallbackDateComputedAgePathAndOrientation() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        var report = ReportRendererTests.dicomReport()
        report.fileName = "ward3/bed12/0101.dcm"
        report.metadata.patientAge = nil
        report.metadata.studyDate = nil
        report.metadata.seriesDate = "20240315"
        report.metadata.patientOrientation = ["L", "F"]
        let url = folder.appendingPathComponent("r.pdf")
        _ = try ReportRenderer().render(report, to: url)
        let text = Support.normalised(try Support.pdfText(url))
        for expected in ["ward3/bed12/0101.dcm", "2024-03-15 (series date)", "53 Y (computed from the birth date and the series date)",
                         "R/L: patient right/left", "Not assessed by this model"] {
            #expect(text.contains(expected), "\(expected) missing")
        }
        let layout = ReportLayout(report: report, template: .default, page: Size(width: 595, height: 842), imageHeight: 200)
        #expect(layout.orientation?.left == "R" && layout.orientation?.right == "L")
        report.metadata.patientOrientation = ["P", "F"]
        let back = ReportLayout(report: report, template: .default, page: Size(width: 595, height: 842), imageHeight: 200).orientation
        #expect(back?.left == "A" && back?.right == "P")
        report.metadata.patientOrientation = nil
        #expect(ReportLayout(report: report, template: .default, page: Size(width: 595, height: 842), imageHeight: 200).orientation == nil)
    }

    /// Item 6: two files of one name in different inbox folders are two rows that can be told apart.
    @Test func summaryRowsShowTheWholePath() throws {
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let url = folder.appendingPathComponent("s.pdf")
        try SummaryRenderer().write(SummaryReport(entries: [Self.entry("ward3/bed12/0105.png", [0.2, 0.7, 0.1]),
                                                            Self.entry("ward4/bed02/0105.png", [0.2, 0.1, 0.7])]), to: url)
        let text = try Support.pdfText(url, layout: true)
        #expect(text.contains("ward3/bed12/0105.png") && text.contains("ward4/bed02/0105.png"), "\(text)")
    }

    /// The MR slice's page: every scope reason, out of distribution and low confidence, and the
    /// body still ends above the footer (the images get smaller, nothing runs into it).
    @Test func aReportWithEveryWarningStillFitsItsPage() throws {
        var report = ReportRendererTests.dicomReport()
        report.metadata.modality = "MR"
        report.metadata.sopClassUID = Self.mr
        report.metadata.bodyPartExamined = nil
        report.metadata.pixelSpacing = [0.3125, 0.3125]
        report.originalSize = (64, 64)
        report.probabilities = [.init(className: "normal", probability: 0.436), .init(className: "viral", probability: 0.121),
                                .init(className: "covid", probability: 0.443)]
        report.outOfDistribution = true
        report.outOfDistributionWarning = "Out of distribution: the scan does not look like the training data (score 1900.5 above 1131.7, the 99th percentile of in-distribution scans); the probabilities may be meaningless."
        #expect(report.assessedWarnings(template: .default).map(\.code) == [.outOfScope, .outOfDistribution, .lowConfidence])
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let g = try ReportRenderer().render(report, to: folder.appendingPathComponent("mr.pdf"))
        #expect(g.bodyBottom < (try #require(g.footer)).y, "the body runs into the footer")
        #expect(g.headline != nil)
    }

    @Test func aLongPatientIDDoesNotHideTheStudyDateInTheSummary() throws {
        var m = ScanMetadata()
        m.patientName = "Doe^Jane"
        m.patientID = String(repeating: "1234567890-", count: 12)
        m.studyDate = "20240315"
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let url = folder.appendingPathComponent("s.pdf")
        let summary = SummaryReport(entries: [Self.entry("/in/a.dcm", [0.2, 0.7, 0.1], metadata: m)])
        try SummaryRenderer().write(summary, to: url)
        // pdftotext reads text that Pango cut off ("…") too, so check the lines themselves: the
        // date's line must fit the column unwrapped, or its end (the date) is not drawn.
        let layout = SummaryLayout(summary: summary, template: .default, page: Size(width: 595.276, height: 841.89))
        let canvas = try Canvas.scratch()
        let lines = layout.identityLines(of: summary.entries[0], on: canvas)
        let dateLine = try #require(lines.first { $0.text.contains("2024-03-15") })
        #expect(canvas.measure(dateLine.text, dateLine.font).width <= layout.identityColumnWidth,
                "the study date shares its line with the patient ID: \(dateLine.text)")
    }

    @Test func cjkFileNamesAreDrawnWithGlyphsNotBoxes() throws {
        let name = "病房三/胸部 0105.png"
        let canvas = try Canvas.scratch()
        let shown = canvas.displayable(name, .sans(9.5))
        #expect(canvas.unknownGlyphs(shown, .sans(9.5)) == 0, "\(shown) has characters without a glyph")
        if shown != name { print("no CJK font installed (fonts-noto-cjk): the name is drawn as \(shown)") }
        var report = ReportRendererTests.pngReport()
        report.fileName = name
        let folder = try Support.temporaryDirectory()
        defer { Support.cleanUp(folder) }
        let url = folder.appendingPathComponent("cjk.pdf")
        _ = try ReportRenderer().render(report, to: url)
        // The column wraps the name: compare without whitespace.
        #expect(try Support.pdfText(url).filter { !$0.isWhitespace }.contains(shown.filter { !$0.isWhitespace }))
    }
}
