import Foundation
import Testing
@testable import Training

/// Per-group metrics on eight scans small enough to check by hand. No confidence sits on a bin
/// edge of the calibration error (bins of 0.1).
@Suite struct GroupBreakdownTests {
    static let classes = ["normal", "viral", "covid"]
    /// (label, source, age group, probabilities); the comment gives the prediction.
    static let scans: [(Int, String?, String?, [Double])] = [
        (0, "A", "child", [0.75, 0.25, 0]),    // normal, right
        (0, "A", "child", [0.35, 0.65, 0]),    // viral, wrong: a healthy child called viral
        (1, "A", "child", [0.15, 0.85, 0]),    // viral, right
        (0, "A", "child", [0.95, 0.05, 0]),    // normal, right
        (0, "B", "adult", [0.55, 0, 0.45]),    // normal, right
        (2, "B", "adult", [0.15, 0, 0.85]),    // covid, right
        (0, "B", "adult", [0.45, 0, 0.55]),    // covid, wrong: a healthy adult called COVID-19
        (2, "C", nil, [0, 0, 1]),              // covid, right; age unknown
    ]

    static func breakdown(minGroupSize: Int = 2, _ rows: [(Int, String?, String?, [Double])] = scans) -> GroupBreakdown {
        GroupBreakdown(labels: rows.map(\.0), probabilities: rows.map(\.3), sources: rows.map(\.1),
                       ageGroups: rows.map(\.2), classNames: classes, minGroupSize: minGroupSize)
    }

    @Test func groupsAreSortedAndNamedAsTrainingNamesThem() {
        let b = Self.breakdown()
        #expect(b.bySource.map(\.name) == ["A", "B", "C"])
        #expect(b.byAgeGroup.map(\.name) == ["adult", "child", "unknown"])
        #expect(b.byAgeGroupAndSource.map(\.name) == ["adult/B", "child/A", "unknown/C"])
        #expect(b.byAgeGroupAndSource.map(\.count) == [3, 4, 1])
        #expect(b.byAgeGroupAndSource.map(\.small) == [false, false, true])
    }

    @Test func confusionSensitivitySpecificityAndCalibrationPerGroup() throws {
        let b = Self.breakdown()
        let a = try #require(b.byAgeGroupAndSource.first { $0.name == "child/A" })
        #expect(a.confusion == [[2, 1, 0], [0, 1, 0], [0, 0, 0]])
        #expect(a.perClass.map(\.support) == [3, 1, 0])
        #expect(a.perClass.map(\.correct) == [2, 1, 0])
        #expect(a.perClass[0].sensitivity == 2.0 / 3 && a.perClass[1].sensitivity == 1)
        #expect(a.perClass[2].sensitivity == nil, "no covid scans in the group: no recall, not 0")
        // normal: the 1 viral scan is not called normal; viral: 1 of the 3 normals is called viral.
        #expect(a.perClass.map(\.specificity) == [1, 2.0 / 3, 1])
        #expect(a.accuracy == 0.75)
        // Four bins of one scan each: |1 − .75| + |0 − .65| + |1 − .85| + |1 − .95| over 4.
        #expect(abs(a.expectedCalibrationError - 1.1 / 4) < 1e-12)

        let adult = try #require(b.byAgeGroup.first { $0.name == "adult" })
        #expect(adult.confusion == [[1, 0, 1], [0, 0, 0], [0, 0, 1]])
        #expect(adult.perClass[1].sensitivity == nil)
        #expect(adult.perClass.map(\.specificity) == [1, 1, 0.5])
        // (0.5, 0.6] holds two scans, one right, mean confidence .55; (0.8, 0.9] one right at .85.
        #expect(abs(adult.expectedCalibrationError - (2 * 0.05 + 0.15) / 3) < 1e-12)

        let c = try #require(b.bySource.first { $0.name == "C" })
        #expect(c.perClass.map(\.specificity) == [1, 1, nil], "no scan of another class: no specificity")
        #expect(c.expectedCalibrationError == 0)
    }

    @Test func worstGroupRecallCountsOnlyClassesWithEnoughScansInTheCell() {
        // Size 2: normal in adult/B (1 of 2) beats normal in child/A (2 of 3); the single viral
        // and covid scans do not count.
        let w2 = Self.breakdown(minGroupSize: 2).worstGroupRecall
        #expect(w2 == .init(className: "normal", group: "adult/B", correct: 1, support: 2, recall: 0.5))
        let w3 = Self.breakdown(minGroupSize: 3).worstGroupRecall
        #expect(w3 == .init(className: "normal", group: "child/A", correct: 2, support: 3, recall: 2.0 / 3))
        #expect(Self.breakdown(minGroupSize: 4).worstGroupRecall == nil)
    }

    @Test func shortcutFigures() throws {
        let b = Self.breakdown()
        // Recall: normal 3 of 5, viral 1 of 1, covid 2 of 2.
        let balanced = try #require(b.balancedAccuracy)
        let expected: Double = (0.6 + 1 + 1) / 3
        #expect(abs(balanced - expected) < 1e-12)
        #expect(b.healthyChildrenCalledViral == .init(count: 1, of: 3, fraction: 1.0 / 3))
        #expect(b.healthyAdultsCalledCovid == .init(count: 1, of: 2, fraction: 0.5))

        // Without viral scans there is no balanced accuracy over the three classes; without
        // adults no "healthy adults called COVID-19".
        let children = Self.breakdown(Self.scans.filter { $0.0 != 1 && $0.2 == "child" })
        #expect(children.balancedAccuracy == nil)
        #expect(children.healthyAdultsCalledCovid == nil)
        #expect(children.healthyChildrenCalledViral == .init(count: 1, of: 3, fraction: 1.0 / 3))
    }

    @Test func jsonWritesWhatCannotBeMeasuredAsNull() throws {
        let children = Self.breakdown(Self.scans.filter { $0.2 == "child" })
        let json = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(children)) as? [String: Any])
        #expect(json["healthyAdultsCalledCovid"] is NSNull)
        let cells = try #require(json["byAgeGroupAndSource"] as? [[String: Any]])
        let covid = try #require((cells.first?["perClass"] as? [[String: Any]])?.last)
        #expect(covid["sensitivity"] is NSNull && covid["support"] as? Int == 0)
        #expect(try JSONDecoder().decode(GroupBreakdown.self, from: JSONEncoder().encode(children)) == children)
    }

    @Test func textTableMarksClassesWithTooFewScans() {
        let lines = Self.breakdown().textLines()
        #expect(lines.contains("worst group recall (a class with at least 2 scans in an age group × source cell): normal in adult/B, 50.0% (1/2)"))
        #expect(lines.contains("healthy children called viral: 33.3% (1 of 3 normal scans of children)"))
        let row = lines.first { $0.hasPrefix("  child/A ") }
        #expect(row?.contains("100.0%*") == true, "the one viral scan's recall is starred: \(row ?? "none")")
        #expect(lines.contains("    unknown/C covid 0 0 1"))
    }
}
