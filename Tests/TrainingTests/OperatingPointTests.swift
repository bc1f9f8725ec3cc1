import Foundation
import Testing
@testable import Training

/// The operating point on logits small enough to check by hand (class order normal, viral, covid).
@Suite struct OperatingPointTests {
    /// Healthy adults lean towards COVID-19 by 0.5 (two of four are called it); the COVID-19 scans
    /// stand clear by 1 or more, so a covid offset of about -0.55 moves both false alarms back
    /// without losing a COVID-19 scan. Children are told apart by the network already.
    static let rows: [(label: Int, age: String?, logits: [Float])] = [
        (0, "adult", [0, -5, 0.5]),    // called covid
        (0, "adult", [0, -5, 0.3]),    // called covid
        (0, "adult", [0, -5, -0.2]),
        (0, "adult", [0, -5, -1]),
        (2, "adult", [0, -5, 1.0]),
        (2, "adult", [0, -5, 2.0]),
        (2, "adult", [0, -5, 1.5]),
        (0, "child", [1, 0, -5]),
        (0, "child", [1, 0.5, -5]),
        (1, "child", [0, 1, -5]),
        (1, "child", [0, 2, -5]),
    ]

    static func fit(_ rows: [(label: Int, age: String?, logits: [Float])] = rows, cap: Double) -> OperatingPoint {
        OperatingPoint.fit(logits: rows.map(\.logits), labels: rows.map(\.label), ageGroups: rows.map(\.age), maximumFalseAlarm: cap)
    }

    @Test func shiftsTheCovidLineUntilHealthyAdultsAreNoLongerCalledIt() throws {
        let p = Self.fit(cap: 0.1)
        #expect(p.meetsCap)
        #expect(p.unchanged.adultsCalledCovid == 0.5)
        #expect(p.fitted.adultsCalledCovid == 0)
        #expect(p.fitted.childrenCalledViral == 0)
        #expect(p.fitted.balancedAccuracy == 1)
        // The smallest offset that does it: the healthy adult at +0.5 must fall below normal (ties go to
        // normal), the COVID-19 scan at +1.0 must stay above it.
        #expect(p.offsets[0] == 0 && p.offsets[1] == 0)
        #expect(abs(p.offsets[2] - -0.5) < 1e-9)
        #expect(p.unchanged.balancedAccuracy < p.fitted.balancedAccuracy)
    }

    @Test func leavesAModelThatIsRightAlreadyAsItIs() {
        let right = Self.rows.filter { !($0.label == 0 && $0.age == "adult" && $0.logits[2] > 0) }
        let p = Self.fit(right, cap: 0.05)
        #expect(p.isZero)
        #expect(p.fitted == p.unchanged)
    }

    @Test func aCapNoOffsetMeetsGivesTheClosestAndSaysSo() {
        // A healthy adult that looks more like COVID-19 than a COVID-19 scan: no line keeps both the
        // COVID-19 scans and a cap of 0; the fit drops the cap's excess to 0 at the cost of recall,
        // so a cap of 0 is met, by calling every adult normal.
        var rows = Self.rows
        rows.append((0, "adult", [0, -5, 3]))
        let p = Self.fit(rows, cap: 0)
        #expect(p.meetsCap)
        #expect(p.fitted.adultsCalledCovid == 0)
        #expect(p.fitted.balancedAccuracy < 1)

        // A healthy adult the grid (±3) cannot move: the cap is not met, and the log says so.
        rows[rows.count - 1] = (0, "adult", [0, -5, 10])
        let q = Self.fit(rows, cap: 0)
        #expect(!q.meetsCap)
        #expect(q.fitted.adultsCalledCovid == 0.2, "one of five: the least any offset reaches")
        #expect(q.summary.hasSuffix("no offset keeps both false alarms under the cap: these come closest"))
    }

    @Test func offsetsAddToTheBiasAndNameThemselvesInTheLog() {
        let p = Self.fit(cap: 0.1)
        #expect(p.apply(toBias: [0.25, -0.5, 1]) == [0.25, -0.5, 0.5])
        #expect(p.summary.hasPrefix("logit offsets viral +0.00, covid -0.50: balanced accuracy 100.0%"))
        #expect(p.summary.contains("(without: balanced accuracy 88.9%, healthy children called viral 0.0%, healthy adults called COVID-19 50.0%)"))
    }
}
