import Foundation

extension GroupBreakdown {
    /// The shortcut figures and one table per grouping (by source, by age group, by age group ×
    /// source), groups sorted by name, for a terminal.
    public func textLines() -> [String] {
        func pct(_ v: Double) -> String { String(format: "%.1f%%", v * 100) }
        func rate(_ r: Rate?, _ whom: String) -> String {
            guard let r else { return "n/a (no \(whom))" }
            return "\(pct(r.fraction)) (\(r.count) of \(r.of) \(whom))"
        }
        let classes = (bySource.first?.perClass ?? []).map(\.className)
        var lines = [
            "balanced accuracy (mean recall of \(classes.joined(separator: ", "))): "
                + (balancedAccuracy.map(pct) ?? "n/a (not every class has scans)"),
            "healthy children called viral: " + rate(healthyChildrenCalledViral, "normal scans of children"),
            "healthy adults called COVID-19: " + rate(healthyAdultsCalledCovid, "normal scans of adults"),
            "worst group recall (a class with at least \(minGroupSize) scans in an age group × source cell): "
                + (worstGroupRecall.map { "\($0.className) in \($0.group), \(pct($0.recall)) (\($0.correct)/\($0.support))" }
                    ?? "n/a (no class has \(minGroupSize) scans in one cell)"),
        ]
        for (title, groups) in [("By source", bySource), ("By age group", byAgeGroup), ("By age group × source", byAgeGroupAndSource)] {
            lines.append("\(title):")
            lines += Self.table(groups, classes: classes, minGroupSize: minGroupSize).map { "  " + $0 }
        }
        lines.append("* fewer than \(minGroupSize) scans: too few to judge by; such a class does not count for the worst group recall.")
        return lines
    }

    /// A compact table of `groups`, then each group's confusion matrix on one line.
    static func table(_ groups: [Group], classes: [String], minGroupSize: Int) -> [String] {
        func pct(_ v: Double?) -> String { v.map { String(format: "%.1f%%", $0 * 100) } ?? "–" }
        let nameWidth = max(5, groups.map(\.name.count).max() ?? 0) + 1
        let cw = max(8, (classes.map(\.count).max() ?? 0) + 2)
        func left(_ s: String, _ w: Int) -> String { s + String(repeating: " ", count: max(0, w - s.count)) }
        // Right-aligned in the column, with a star after it for too few scans (a space otherwise),
        // so marked and unmarked numbers stay aligned.
        func cell(_ s: String, star: Bool = false, width: Int? = nil) -> String {
            String(repeating: " ", count: max(0, (width ?? cw) - 1 - s.count)) + s + (star ? "*" : " ")
        }
        let k = classes.count
        var lines = [
            left("", nameWidth) + left(" scans", (k + 1) * cw) + left(" sensitivity (recall)", k * cw) + left(" specificity", k * cw),
            left("group", nameWidth) + cell("all") + (classes + classes + classes).map { cell($0) }.joined()
                + cell("accuracy", width: 10) + cell("ECE"),
        ]
        for g in groups {
            var row = left(g.name, nameWidth) + cell(String(g.count), star: g.small)
            row += g.perClass.map { cell(String($0.support)) }.joined()
            row += g.perClass.map { cell(pct($0.sensitivity), star: $0.support > 0 && $0.support < minGroupSize) }.joined()
            row += g.perClass.map { cell(pct($0.specificity)) }.joined()
            row += cell(pct(g.accuracy), width: 10) + cell(String(format: "%.3f", g.expectedCalibrationError))
            lines.append(row)
        }
        lines.append("confusion, true class: predicted \(classes.joined(separator: ", ")):")
        for g in groups {
            let rows = g.confusion.enumerated().filter { $0.element.reduce(0, +) > 0 }
                .map { "\(classes[$0.offset]) \($0.element.map(String.init).joined(separator: " "))" }
            lines.append("  " + left(g.name, nameWidth) + rows.joined(separator: " | "))
        }
        return lines.map { String($0.reversed().drop { $0 == " " }.reversed()) }
    }
}
