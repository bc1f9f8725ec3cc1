import Foundation
import ModelDevelopment
import Pipeline
import Reporting
import Training

/// The one-page figure of `evaluate --figure`: confusion matrix, one-vs-rest ROC curves and the
/// reliability diagram, of the scans that do not copy training scans when copies were looked for.
enum EvaluationFigureWriter {
    static func write(_ report: EvaluationReport, evaluation: Evaluation, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        guard let format = FigureFormat(pathExtension: url.pathExtension) else {
            throw CommandFailure(message: "--figure \(path): name a .pdf or .png file.")
        }
        let clean = report.withoutCopies != nil
        let include: (Evaluation.Item) -> Bool = { !clean || $0.copyOf == nil }
        guard let m = evaluation.metrics(include) else { throw CommandFailure(message: "no scans to draw.") }
        let kept = evaluation.items.filter(include)
        let roc = evaluation.classNames.enumerated().map { c, name in
            EvaluationFigure.ROCCurve(
                className: name,
                points: EvaluationMetrics.rocCurve(scores: kept.map { $0.probabilities[c] }, positives: kept.map { $0.entry.label == name }),
                auc: m.perClass[c].auc)
        }
        var notes: [String] = []
        if clean {
            notes.append("\(report.copies.count) scans that copy training scans (identical, or rank-thumbnail correlation ≥ 0.98) are left out; with them: accuracy "
                + String(format: "%.1f%%", (report.all?.accuracy ?? 0) * 100) + " of \(report.all?.count ?? 0).")
        }
        if let g = clean ? report.groupsWithoutCopies : report.groups {
            func pct(_ v: Double) -> String { String(format: "%.1f%%", v * 100) }
            func rate(_ r: GroupBreakdown.Rate?) -> String { r.map { "\(pct($0.fraction)) (\($0.count)/\($0.of))" } ?? "n/a" }
            notes.append("balanced accuracy \(g.balancedAccuracy.map(pct) ?? "n/a"); healthy children called viral \(rate(g.healthyChildrenCalledViral)); "
                + "healthy adults called COVID-19 \(rate(g.healthyAdultsCalledCovid)); worst group recall "
                + (g.worstGroupRecall.map { "\($0.className) in \($0.group), \(pct($0.recall)) (\($0.correct)/\($0.support))" }
                    ?? "n/a (no class with \(g.minGroupSize) scans in a cell)"))
            for (title, groups) in [("per source", g.bySource), ("per age group × source", g.byAgeGroupAndSource)] where groups.count > 1 {
                notes.append("accuracy \(title): " + groups.map { "\($0.name) \(pct($0.accuracy)) of \($0.count)" }.joined(separator: ", "))
            }
        }
        let figure = EvaluationFigure(
            title: "Evaluation of \(URL(fileURLWithPath: report.model).lastPathComponent)",
            subtitle: ["data: \(report.data.isEmpty ? "listed scans" : report.data.joined(separator: ", ")) (split evaluated: \(report.evaluatedSplit)); \(m.count) scans; temperature \(String(format: "%.3f", report.temperature))"],
            classNames: m.classNames, confusion: m.confusion, roc: roc,
            reliability: m.reliability.map { .init(lower: $0.lower, upper: $0.upper, meanConfidence: $0.meanConfidence, accuracy: $0.accuracy, count: $0.count) },
            expectedCalibrationError: m.expectedCalibrationError, metricLines: m.textLines(), notes: notes,
            disclaimer: Terminal.disclaimer)
        do {
            try figure.write(to: url, format: format)
        } catch {
            throw CommandFailure(message: error.description)
        }
        FileHandle.standardError.write(Data("figure: \(url.path)\n".utf8))
    }
}
