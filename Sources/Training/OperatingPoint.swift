import Foundation

/// Where a 3-class model draws the lines between normal, viral and COVID-19: one offset per
/// class added to its logit (normal's stays 0), chosen on validation scans and folded into
/// `fc.bias`, so the model file keeps its format and PyTorch gives the same answers.
///
/// Training balances its batches, so the network's own lines sit where the sampler put them, not
/// where the targets ask. The offsets maximise balanced accuracy (mean recall of the classes) on
/// the validation split, subject to the two false alarms that the data's shortcuts produce staying
/// at most `maximumFalseAlarm`: healthy children called viral and healthy adults called COVID-19.
/// A grid over [-`range`, `range`] in steps of `step` for the viral and covid offsets. Each unit of
/// offset must buy `penalty` of balanced accuracy (default one point), so that a handful of
/// validation scans cannot drag a line far for a gain that is noise; among equally good offsets the
/// smallest (sum of absolute values) wins, so without a gain the model is unchanged.
public struct OperatingPoint: Sendable, Equatable, Codable {
    /// Added to the logits, in the model's class order (the first is 0).
    public let offsets: [Double]
    /// The figures on the data it was fitted on, with the offsets and without them.
    public let fitted: Figures
    public let unchanged: Figures
    /// Whether both false alarms are at most the cap with these offsets (else they are the least over it).
    public let meetsCap: Bool

    public struct Figures: Sendable, Equatable, Codable {
        public let balancedAccuracy: Double
        /// Healthy children called viral / healthy adults called COVID-19, over their scans (nil: none).
        public let childrenCalledViral: Double?
        public let adultsCalledCovid: Double?
    }

    /// The project's class order, which the fit needs: offsets for viral and covid against normal.
    public static let classNames = ["normal", "viral", "covid"]

    public var isZero: Bool { offsets.allSatisfy { $0 == 0 } }

    /// - Parameters:
    ///   - logits: one row per scan, in `classNames` order (before temperature: argmax is the same).
    ///   - labels: each scan's true class index.
    ///   - ageGroups: "child", "adult" or nil per scan.
    public static func fit(logits: [[Float]], labels: [Int], ageGroups: [String?], maximumFalseAlarm cap: Double,
                           penalty: Double = 0.01, range: Double = 3, step: Double = 0.05) -> OperatingPoint {
        precondition(logits.count == labels.count && labels.count == ageGroups.count && !labels.isEmpty)
        precondition(logits.allSatisfy { $0.count == 3 }, "three classes: normal, viral, covid")
        let rows = logits.map { $0.map(Double.init) }
        let n = Int((range / step).rounded())
        let grid = (-n...n).map { Double($0) * step }
        var best: (key: (Double, Double, Double), offsets: [Double], figures: Figures, meets: Bool)?
        for v in grid {
            for c in grid {
                let f = figures(rows, labels: labels, ageGroups: ageGroups, offsets: [0, v, c])
                let excess = max(0, (f.childrenCalledViral ?? 0) - cap, (f.adultsCalledCovid ?? 0) - cap)
                // Lexicographic: least excess over the cap, then best balanced accuracy less the offsets'
                // penalty, then smallest offsets.
                let size = abs(v) + abs(c)
                let key = (excess, -(f.balancedAccuracy - penalty * size), size)
                if best == nil || key < best!.key {
                    best = (key, [0, v, c], f, excess == 0)
                }
            }
        }
        return OperatingPoint(offsets: best!.offsets, fitted: best!.figures,
                              unchanged: figures(rows, labels: labels, ageGroups: ageGroups, offsets: [0, 0, 0]), meetsCap: best!.meets)
    }

    /// The figures of the logits shifted by `offsets`.
    static func figures(_ rows: [[Double]], labels: [Int], ageGroups: [String?], offsets: [Double]) -> Figures {
        var support = [0, 0, 0], correct = [0, 0, 0]
        var child = (n: 0, viral: 0), adult = (n: 0, covid: 0)
        for (i, r) in rows.enumerated() {
            let z = (r[0] + offsets[0], r[1] + offsets[1], r[2] + offsets[2])
            let p = z.0 >= z.1 ? (z.0 >= z.2 ? 0 : 2) : (z.1 >= z.2 ? 1 : 2)
            let y = labels[i]
            support[y] += 1
            if p == y { correct[y] += 1 }
            guard y == 0 else { continue }
            switch ageGroups[i] {
            case "child": child.n += 1; if p == 1 { child.viral += 1 }
            case "adult": adult.n += 1; if p == 2 { adult.covid += 1 }
            default: break
            }
        }
        let present = (0..<3).filter { support[$0] > 0 }
        let balanced = present.map { Double(correct[$0]) / Double(support[$0]) }.reduce(0, +) / Double(max(1, present.count))
        return Figures(balancedAccuracy: balanced,
                       childrenCalledViral: child.n > 0 ? Double(child.viral) / Double(child.n) : nil,
                       adultsCalledCovid: adult.n > 0 ? Double(adult.covid) / Double(adult.n) : nil)
    }

    /// `bias` (fc.bias, one per class) with the offsets added.
    public func apply(toBias bias: [Float]) -> [Float] {
        precondition(bias.count == offsets.count)
        return zip(bias, offsets).map { $0 + Float($1) }
    }

    /// One line for the training log.
    public var summary: String {
        func pct(_ x: Double?) -> String { x.map { String(format: "%.1f%%", $0 * 100) } ?? "–" }
        func show(_ f: Figures) -> String {
            "balanced accuracy \(pct(f.balancedAccuracy)), healthy children called viral \(pct(f.childrenCalledViral)), healthy adults called COVID-19 \(pct(f.adultsCalledCovid))"
        }
        return String(format: "logit offsets viral %+.2f, covid %+.2f: ", offsets[1], offsets[2]) + show(fitted)
            + " (without: " + show(unchanged) + ")" + (meetsCap ? "" : "; no offset keeps both false alarms under the cap: these come closest")
    }
}
