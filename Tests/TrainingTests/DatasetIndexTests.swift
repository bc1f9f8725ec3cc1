import Foundation
import Testing
@testable import Training

/// Builds a folder tree of small files in a temporary directory.
struct TempTree {
    let root: URL
    init(_ files: [String: String]) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("cxr-ds-\(UUID().uuidString)")
        for (path, content) in files {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(content.utf8).write(to: url)
        }
    }
    func remove() { try? FileManager.default.removeItem(at: root) }
    func rel(_ e: DatasetIndex.Entry) -> String { String(e.path.dropFirst(root.standardizedFileURL.path.count + 1)) }
}

@Suite struct DatasetIndexTests {
    @Test func kaggleRadiographyDatabaseLayoutWithImagesFoldersAndOtherClasses() throws {
        let t = try TempTree([
            "COVID/images/COVID-1.png": "a", "COVID/masks/COVID-1.png": "m1",
            "Normal/images/Normal-1.png": "b", "Viral Pneumonia/images/Viral Pneumonia-1.png": "c",
            "Lung_Opacity/images/Lung_Opacity-1.png": "d", "COVID.metadata.xlsx": "x", "README.md.txt": "r",
        ])
        defer { t.remove() }
        let index = try DatasetIndex.scan(t.root)
        #expect(index.entries.map { "\($0.label):\(t.rel($0))" } == [
            "covid:COVID/images/COVID-1.png", "normal:Normal/images/Normal-1.png",
            "viral:Viral Pneumonia/images/Viral Pneumonia-1.png",
        ])
        #expect(index.entries.allSatisfy { $0.split == nil && $0.source == t.root.lastPathComponent })
        #expect(index.notices.contains { $0.contains("Lung_Opacity") })
        #expect(index.notices.contains { $0.contains("COVID/masks") })
    }

    @Test func splitsAndSourcesWhateverTheCaseAndSpacing() throws {
        let t = try TempTree([
            "Train/Covid/1.jpeg": "1", "train/NORMAL/2.JPG": "2", "Test/viral/3.png": "3",
            "extra/ieee/covid-19/4.dcm": "4", "Validation/Normal/5": "5",
        ])
        defer { t.remove() }
        let index = try DatasetIndex.scan(t.root)
        let got = Dictionary(uniqueKeysWithValues: index.entries.map { (t.rel($0), $0) })
        #expect(got["Train/Covid/1.jpeg"]?.split == .train)
        #expect(got["train/NORMAL/2.JPG"]?.label == "normal")
        #expect(got["Test/viral/3.png"]?.split == .test)
        #expect(got["extra/ieee/covid-19/4.dcm"]?.source == "extra")
        #expect(got["extra/ieee/covid-19/4.dcm"]?.label == "covid")
        #expect(got["Validation/Normal/5"]?.split == .validation)
        #expect(index.counts()[.train] == ["covid": 1, "normal": 1])
        #expect(got["Train/Covid/1.jpeg"]?.source == t.root.lastPathComponent)
    }

    @Test func manifestGivesPatientIDs() throws {
        let t = try TempTree([
            "src/covid/a.png": "a", "src/covid/b.png": "b",
            "src/manifest.csv": "file,class,patient_id,license\ncovid/a.png,covid,17,\"CC BY, 4.0\"\ncovid/b.png,covid,,x\n",
        ])
        defer { t.remove() }
        let index = try DatasetIndex.scan(t.root)
        #expect(index.entries.map(\.patientID) == ["17", nil])
    }

    /// age_group from the manifest (unknown counts as not given), else the table by source and
    /// class; a file named on its own finds its manifest the same way.
    @Test func ageGroupsComeFromTheManifestThenTheTable() throws {
        let t = try TempTree([
            "kids/normal/a.png": "a", "kids/viral/b.png": "b", "kids/covid/c.png": "c",
            "kids/manifest.csv": "file,class,patient_id,age_group\nnormal/a.png,normal,1,child\nviral/b.png,viral,2,unknown\n",
            "ages.csv": "source,class,age_group\nkids,viral,child\nkids,covid,adult\n",
        ])
        defer { t.remove() }
        let table = try DatasetIndex.loadAgeGroups(t.root.appendingPathComponent("ages.csv"))
        let index = try DatasetIndex.scan(t.root.appendingPathComponent("kids"), ageGroups: table)
        #expect(index.entries.map(\.ageGroup) == ["adult", "child", "child"])  // covid, normal, viral by path
        #expect(index.entries.map(\.group) == ["adult/kids", "child/kids", "child/kids"])
        var cache: [String: [String: (String?, String?)]] = [:]
        let facts = DatasetIndex.manifestFacts(forFile: t.root.appendingPathComponent("kids/normal/a.png").path, cache: &cache)
        #expect(facts.patientID == "1" && facts.ageGroup == "child")
        #expect(DatasetIndex.manifestFacts(forFile: t.root.appendingPathComponent("kids/viral/b.png").path, cache: &cache).ageGroup == nil)
        #expect(throws: DatasetIndex.Failure.self) {
            try DatasetIndex.loadAgeGroups(t.root.appendingPathComponent("kids/manifest.csv"))
        }
    }

    @Test func aFolderWithoutClassFoldersSaysHowToArrangeIt() throws {
        let t = try TempTree(["scans/1.png": "1", "Lung Opacity/2.png": "2"])
        defer { t.remove() }
        #expect {
            try DatasetIndex.scan(t.root)
        } throws: { error in
            let text = "\(error)"
            return text.contains("no scans in folders named covid, normal or viral") && text.contains("<split>/<class>/<file>")
        }
    }

    @Test func identicalFilesAcrossSplitsAreReported() throws {
        let t = try TempTree([
            "train/covid/a.png": "same", "test/covid/a-copy.png": "same",
            "train/normal/b.png": "other", "train/normal/c.png": "other", "train/viral/d.png": "x",
        ])
        defer { t.remove() }
        let report = DuplicateReport(try DatasetIndex.scan(t.root))
        #expect(report.groups.count == 2)
        #expect(report.crossSplit.count == 1)
        #expect(report.crossSplit[0].entries.map(\.split) == [.test, .train])
        let lines = report.lines(relativeTo: t.root)
        #expect(lines.contains("identical files (across splits): test/covid/a-copy.png = train/covid/a.png"))
    }
}

@Suite struct StratifiedSplitTests {
    static func entries(_ counts: [String: Int], patients: Int? = nil) -> [DatasetIndex.Entry] {
        counts.sorted { $0.key < $1.key }.flatMap { label, n in
            (0..<n).map { i in
                DatasetIndex.Entry(path: "/d/\(label)/\(i).png", label: label, split: nil, source: "s",
                                   patientID: patients.map { String(i % $0) })
            }
        }
    }

    @Test func eachClassGetsItsShareAndTheSeedFixesTheSplit() {
        let all = Self.entries(["covid": 100, "normal": 50, "viral": 30])
        let a = StratifiedSplit.split(all, validationFraction: 0.2, seed: 7)
        let b = StratifiedSplit.split(all, validationFraction: 0.2, seed: 7)
        let c = StratifiedSplit.split(all, validationFraction: 0.2, seed: 8)
        #expect(a.validation == b.validation)
        #expect(a.validation != c.validation)
        let perClass = Dictionary(grouping: a.validation, by: \.label).mapValues(\.count)
        #expect(perClass == ["covid": 20, "normal": 10, "viral": 6])
        #expect(Set(a.train).isDisjoint(with: Set(a.validation)))
        #expect(a.train.count + a.validation.count == all.count)
    }

    @Test func aPatientsFilmsStayOnOneSide() {
        let all = Self.entries(["covid": 60], patients: 12)  // 12 patients, 5 films each
        let s = StratifiedSplit.split(all, validationFraction: 0.25, seed: 1)
        let valPatients = Set(s.validation.compactMap(\.patientID))
        let trainPatients = Set(s.train.compactMap(\.patientID))
        #expect(valPatients.isDisjoint(with: trainPatients))
        #expect(s.validation.count == 15)
    }

    @Test func splitMix64MatchesItsPublishedSequence() {
        // First outputs for seed 0 from the reference implementation (Vigna, splitmix64.c).
        var g = SplitMix64(seed: 0)
        #expect(g.next() == 0xE220_A839_7B1D_CDAF)
        #expect(g.next() == 0x6E78_9E6A_A1B9_65F4)
    }
}
