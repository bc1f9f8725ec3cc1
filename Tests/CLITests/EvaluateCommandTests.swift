import Foundation
import Testing
import TestSupport

/// `cxreview evaluate`'s per-group figures, the split it names, and its warnings, with the real
/// binary on real chest X-rays laid out as `extra/` is.
@Suite(.serialized) struct EvaluateCommandTests {
    struct Report: Decodable {
        struct Group: Decodable {
            struct PerClass: Decodable { let className: String; let support: Int; let correct: Int; let sensitivity: Double? }
            let name: String
            let count: Int
            let confusion: [[Int]]
            let perClass: [PerClass]
            let expectedCalibrationError: Double
        }
        struct Rate: Decodable { let count: Int; let of: Int }
        struct Worst: Decodable { let className: String; let group: String; let correct: Int; let support: Int }
        struct Groups: Decodable {
            let minGroupSize: Int
            let bySource: [Group]
            let byAgeGroup: [Group]
            let byAgeGroupAndSource: [Group]
            let worstGroupRecall: Worst?
            let healthyChildrenCalledViral: Rate?
            let healthyAdultsCalledCovid: Rate?
        }
        let split: String
        let evaluatedSplit: String
        let evaluatedScansPerSplit: [String: Int]
        let groups: Groups
        let warnings: [String]
    }

    static let classes = ["normal", "viral", "covid"]

    /// Copies `files` (class, package-relative file, name) into `root/<class>/<name>`.
    static func place(_ files: [(String, String, String)], under root: URL) throws {
        for (label, file, name) in files {
            let dir = root.appendingPathComponent(label)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: URL(fileURLWithPath: CLI.path(file)), to: dir.appendingPathComponent(name))
        }
    }

    static func temporaryFolder(_ tag: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("cxr-\(tag)-\(UUID().uuidString)")
    }

    /// The test model's predicted class of each file, from `classify`, to check evaluate's counts by.
    static func predictions(_ files: [String]) throws -> [String: String] {
        struct Doc: Decodable { struct R: Decodable { let file: String; let predictedClass: String }; let results: [R] }
        let run = try CLI.run(["classify", "--json", "--model", CLI.testModel] + files)
        #expect(run.status == 0, "stderr: \(run.stderr)")
        return Dictionary(uniqueKeysWithValues: try JSONDecoder().decode(Doc.self, from: Data(run.stdout.utf8)).results.map { ($0.file, $0.predictedClass) })
    }

    /// hospA has a manifest with age_group (its covid scan's is "unknown"); hospB has none. The
    /// table gives hospA covid and hospB covid as adult, hospB normal as child. So:
    /// adult/hospA: normal 1, covid 1; child/hospA: normal 1, viral 1; adult/hospB: covid 2;
    /// child/hospB: normal 1.
    @Test func groupsCountAndConfuseEachScanInItsCell() throws {
        let dir = Self.temporaryFolder("groups")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data")
        let a = data.appendingPathComponent("hospA")
        let layout: [(String, String, String, String, String?)] = [  // source, class, file, name, manifest's age group
            ("hospA", "normal", "samples/covid19-3way-test-normal-0121.jpeg", "n1.jpeg", "child"),
            ("hospA", "normal", "Tests/Fixtures/images/normal_rgb.jpeg", "n2.jpeg", "adult"),
            ("hospA", "viral", "samples/covid19-3way-test-viral-0101.jpeg", "v1.jpeg", "child"),
            ("hospA", "covid", "samples/covid19-3way-test-covid-0105.png", "c1.png", "unknown"),
            ("hospB", "covid", "Tests/Fixtures/images/covid_rgb.jpeg", "c2.jpeg", nil),
            ("hospB", "covid", "Tests/Fixtures/images/covid_grey.jpg", "c3.jpg", nil),
            ("hospB", "normal", "Tests/Fixtures/images/normal_rgb.jpeg", "n3.jpeg", nil),
        ]
        for (source, label, file, name, _) in layout {
            try Self.place([(label, file, name)], under: data.appendingPathComponent(source))
        }
        let manifest = "file,patient_id,age_group\n" + layout.filter { $0.0 == "hospA" }.map { "\($0.1)/\($0.3),p-\($0.3),\($0.4!)" }.joined(separator: "\n") + "\n"
        try Data(manifest.utf8).write(to: a.appendingPathComponent("manifest.csv"))
        let table = dir.appendingPathComponent("ages.csv")
        try Data("source,class,age_group\nhospA,covid,adult\nhospB,covid,adult\nhospB,normal,child\n".utf8).write(to: table)

        let run = try CLI.run(["evaluate", data.path, "--model", CLI.testModel, "--age-groups", table.path, "--min-group-size", "2", "--json"])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        let report = try JSONDecoder().decode(Report.self, from: Data(run.stdout.utf8))
        #expect(report.evaluatedSplit == "none" && report.evaluatedScansPerSplit == ["none": 7])
        #expect(report.warnings.isEmpty, "\(report.warnings)")

        // The expected confusion of each group, from classify's prediction of each file.
        let paths = layout.map { data.appendingPathComponent("\($0.0)/\($0.1)/\($0.3)").path }
        let predicted = try Self.predictions(paths)
        let age = ["child", "adult", "child", "adult", "adult", "adult", "child"]
        func expected(_ member: (Int) -> Bool) -> [[Int]] {
            var m = [[Int]](repeating: [0, 0, 0], count: 3)
            for (i, (_, label, _, _, _)) in layout.enumerated() where member(i) {
                m[Self.classes.firstIndex(of: label)!][Self.classes.firstIndex(of: predicted[paths[i]]!)!] += 1
            }
            return m
        }
        let g = report.groups
        #expect(g.byAgeGroupAndSource.map(\.name) == ["adult/hospA", "adult/hospB", "child/hospA", "child/hospB"])
        #expect(g.byAgeGroupAndSource.map { $0.perClass.map(\.support) } == [[1, 0, 1], [0, 0, 2], [1, 1, 0], [1, 0, 0]])
        for cell in g.byAgeGroupAndSource {
            #expect(cell.confusion == expected { "\(age[$0])/\(layout[$0].0)" == cell.name }, "\(cell.name)")
        }
        #expect(g.bySource.map(\.name) == ["hospA", "hospB"] && g.bySource.map(\.count) == [4, 3])
        for s in g.bySource { #expect(s.confusion == expected { layout[$0].0 == s.name }, "\(s.name)") }
        #expect(g.byAgeGroup.map(\.name) == ["adult", "child"] && g.byAgeGroup.map(\.count) == [4, 3])
        for s in g.byAgeGroup { #expect(s.confusion == expected { age[$0] == s.name }, "\(s.name)") }

        // Child normals are n1 (hospA) and n3 (hospB); the adult normal is n2.
        let children = expected { age[$0] == "child" }, adults = expected { age[$0] == "adult" }
        #expect(g.healthyChildrenCalledViral.map { [$0.count, $0.of] } == [children[0][1], 2])
        #expect(g.healthyAdultsCalledCovid.map { [$0.count, $0.of] } == [adults[0][2], 1])
        // With --min-group-size 2 only adult/hospB's 2 covid scans count.
        let worst = try #require(g.worstGroupRecall)
        #expect(worst.className == "covid" && worst.group == "adult/hospB" && worst.support == 2)
        #expect(worst.correct == expected { age[$0] == "adult" && layout[$0].0 == "hospB" }[2][2])

        // The text: one table per grouping, classes with too few scans starred.
        let text = try CLI.run(["evaluate", data.path, "--model", CLI.testModel, "--age-groups", table.path])
        #expect(text.status == 0, "stderr: \(text.stderr)")
        #expect(text.stdout.contains("split evaluated: 7 scans not in a train, validation or test folder below the data folder; --split auto takes every scan when there is no test split"))
        #expect(text.stdout.contains("age groups from the manifests' age_group, else \(table.path):"))
        for heading in ["By source:", "By age group:", "By age group × source:"] { #expect(text.stdout.contains("\n  \(heading)\n")) }
        let row = text.stdout.split(separator: "\n").first { $0.hasPrefix("    adult/hospB ") }
        #expect(row?.hasPrefix("    adult/hospB       2*      0       0       2 ") == true, "row: \(row ?? "none")")
        #expect(text.stdout.contains("worst group recall (a class with at least 10 scans in an age group × source cell): n/a"))

        // A list (label, source, path) takes its age groups as a folder scan does: from the manifest
        // beside the class folder (hospA's says child), else from the table.
        let list = dir.appendingPathComponent("held.tsv")
        try Data("covid\thospB\tdata/hospB/covid/c2.jpeg\nnormal\thospB\tdata/hospB/normal/n3.jpeg\nnormal\thospA\tdata/hospA/normal/n1.jpeg\n".utf8).write(to: list)
        let listed = try CLI.run(["evaluate", "--files-from", list.path, "--model", CLI.testModel, "--age-groups", table.path, "--json"])
        #expect(listed.status == 0, "stderr: \(listed.stderr)")
        let l = try JSONDecoder().decode(Report.self, from: Data(listed.stdout.utf8))
        #expect(l.evaluatedSplit == "listed")
        #expect(l.groups.byAgeGroupAndSource.map(\.name) == ["adult/hospB", "child/hospA", "child/hospB"])
    }

    /// covid19-3way-like: train/ and test/, one test scan a byte copy of a training scan.
    static func makeSplitData(_ root: URL) throws {
        try place([("covid", "samples/covid19-3way-test-covid-0105.png", "c1.png"), ("covid", "Tests/Fixtures/images/covid_rgb.jpeg", "c2.jpeg"),
                   ("normal", "Tests/Fixtures/images/normal_rgb.jpeg", "n1.jpeg"), ("viral", "samples/covid19-3way-test-viral-0101.jpeg", "v1.jpeg")],
                  under: root.appendingPathComponent("train"))
        try place([("covid", "Tests/Fixtures/images/covid_rgb.jpeg", "copy-of-c2.jpeg"), ("covid", "Tests/Fixtures/images/covid_grey.jpg", "c3.jpg"),
                   ("normal", "samples/covid19-3way-test-normal-0121.jpeg", "n2.jpeg")],
                  under: root.appendingPathComponent("test"))
    }

    @Test func namesTheSplitAndWarnsOfCopiesOfTrainingScans() throws {
        let data = Self.temporaryFolder("split")
        defer { try? FileManager.default.removeItem(at: data) }
        try Self.makeSplitData(data)

        let run = try CLI.run(["evaluate", data.path, "--model", CLI.testModel])
        #expect(run.status == 0, "stderr: \(run.stderr)")
        #expect(run.stdout.contains("\nsplit evaluated: the test split (3 scans); --split auto takes the test split when there is one\n"))
        #expect(run.stderr.contains("warning: 1 of the 3 evaluated scans under \(data.path) are byte-identical copies of scans in its train split "
            + "(test/covid/copy-of-c2.jpeg = train/covid/c2.jpeg)"), "stderr: \(run.stderr)")
        #expect(run.stderr.contains("Run again with --exclude-copies-of \(data.path)/train "))

        let json = try CLI.run(["evaluate", data.path, "--model", CLI.testModel, "--json"])
        let report = try JSONDecoder().decode(Report.self, from: Data(json.stdout.utf8))
        #expect(report.split == "auto" && report.evaluatedSplit == "test" && report.evaluatedScansPerSplit == ["test": 3])
        #expect(report.warnings.count == 1 && report.warnings[0].contains("byte-identical"))

        // Asked for, the copies are found and left out, and there is nothing to warn of.
        let excluded = try CLI.run(["evaluate", data.path, "--model", CLI.testModel, "--exclude-copies-of", data.appendingPathComponent("train").path])
        #expect(excluded.status == 0, "stderr: \(excluded.stderr)")
        #expect(!excluded.stderr.contains("byte-identical"), "stderr: \(excluded.stderr)")
        #expect(excluded.stdout.contains("Without the 1 scans that copy training scans (2 scans):"))
        #expect(excluded.stdout.contains("By group, the 2 scans without copies of training scans (--json gives all 3 too)"))

        // Both splits: the statement says so; the copy check has no held-out split to check.
        let all = try CLI.run(["evaluate", data.path, "--model", CLI.testModel, "--split", "all"])
        #expect(all.stdout.contains("\nsplit evaluated: 7 scans: the train split (4 scans), the test split (3 scans); --split all\n"))
        #expect(!all.stderr.contains("byte-identical"))
    }

    /// A copy of the test model whose configuration says `temperature`; safetensors keeps it as
    /// JSON in the header's `__metadata__`, and the tensor bytes after the header stay as they are.
    static func model(temperature: Double, in dir: URL) throws -> URL {
        let source = try Data(contentsOf: URL(fileURLWithPath: CLI.path(CLI.testModel)))
        let n = source.withUnsafeBytes { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self))) }
        struct NotAModel: Error {}
        guard var header = try JSONSerialization.jsonObject(with: source.subdata(in: 8..<(8 + n))) as? [String: Any],
              var metadata = header["__metadata__"] as? [String: String], let json = metadata["cxreview.config"],
              var config = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        else { throw NotAModel() }
        config["temperature"] = temperature
        metadata["cxreview.config"] = String(decoding: try JSONSerialization.data(withJSONObject: config), as: UTF8.self)
        header["__metadata__"] = metadata
        var bytes = [UInt8](try JSONSerialization.data(withJSONObject: header))
        while bytes.count % 8 != 0 { bytes.append(0x20) }
        var out = Data()
        withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: bytes)
        out.append(source.subdata(in: (8 + n)..<source.count))
        let url = dir.appendingPathComponent("t\(temperature).safetensors")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try out.write(to: url)
        return url
    }

    @Test func warnsOfAnImplausibleTemperature() throws {
        let dir = Self.temporaryFolder("temperature")
        defer { try? FileManager.default.removeItem(at: dir) }
        let data = dir.appendingPathComponent("data")
        try Self.place([("covid", "Tests/Fixtures/images/covid_grey.jpg", "c.jpg"), ("normal", "Tests/Fixtures/images/normal_rgb.jpeg", "n.jpeg")], under: data)

        let hot = try CLI.run(["evaluate", data.path, "--model", Self.model(temperature: 59.991, in: dir).path, "--json"])
        #expect(hot.status == 0, "stderr: \(hot.stderr)")
        #expect(hot.stderr.contains("warning: the model's fitted temperature T = 59.991 is outside 0.05–10: it flattens every probability towards 1/3"), "stderr: \(hot.stderr)")
        let report = try JSONDecoder().decode(Report.self, from: Data(hot.stdout.utf8))
        #expect(report.warnings.contains { $0.contains("T = 59.991") })

        let cold = try CLI.run(["evaluate", data.path, "--model", Self.model(temperature: 0.01, in: dir).path])
        #expect(cold.stderr.contains("T = 0.010 is outside 0.05–10: it pushes every probability to 0 or 1"), "stderr: \(cold.stderr)")

        let fine = try CLI.run(["evaluate", data.path, "--model", Self.model(temperature: 0.864, in: dir).path])
        #expect(fine.status == 0 && !fine.stderr.contains("temperature"), "stderr: \(fine.stderr)")
    }
}
