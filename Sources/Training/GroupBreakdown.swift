import Foundation

/// Metrics per group of scans, for data whose class goes with the scan's source and the patient's
/// age group: by source, by age group and by (age group × source) cell, e.g. "child/covid19-3way".
///
/// Each group has its scans per class, the confusion matrix, per-class sensitivity and specificity
/// and the expected calibration error (the definition of `EvaluationMetrics`). Beside them: the
/// worst recall of any class in any cell that has at least `minGroupSize` scans of that class, and
/// the figures that show the age shortcut: balanced accuracy, healthy children called viral and
/// healthy adults called COVID-19.
public struct GroupBreakdown: Sendable, Codable, Equatable {
    /// The metrics of one group.
    public struct Group: Sendable, Codable, Equatable {
        public struct PerClass: Sendable, Codable, Equatable {
            public let className: String
            /// Scans of this class in the group.
            public let support: Int
            /// Scans of this class predicted as it.
            public let correct: Int
            /// Recall: correct / support; nil when the group has no scans of the class.
            public let sensitivity: Double?
            /// Scans of the other classes not predicted as this one, over the scans of the other
            /// classes; nil when the group has none.
            public let specificity: Double?

            /// Writes nil rates as null, so a reader sees they could not be measured.
            public func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(className, forKey: .className)
                try c.encode(support, forKey: .support)
                try c.encode(correct, forKey: .correct)
                try c.encode(sensitivity, forKey: .sensitivity)
                try c.encode(specificity, forKey: .specificity)
            }
        }

        /// "covid19-3way", "child" or "child/covid19-3way"; "unknown" where the source or age group is.
        public let name: String
        public let count: Int
        public let accuracy: Double
        /// `confusion[true][predicted]`, in `classNames` order.
        public let confusion: [[Int]]
        public let perClass: [PerClass]
        public let expectedCalibrationError: Double
        /// Fewer than `minGroupSize` scans in all.
        public let small: Bool

        init(name: String, metrics m: EvaluationMetrics, minGroupSize: Int) {
            self.name = name
            count = m.count
            accuracy = m.accuracy
            confusion = m.confusion
            perClass = m.perClass.enumerated().map { c, p in
                let negatives = m.count - p.support
                return PerClass(className: p.className, support: p.support, correct: m.confusion[c][c],
                                sensitivity: p.support > 0 ? p.sensitivity : nil,
                                specificity: negatives > 0 ? p.specificity : nil)
            }
            expectedCalibrationError = m.expectedCalibrationError
            small = m.count < minGroupSize
        }
    }

    /// `count` of `of` scans, and the fraction.
    public struct Rate: Sendable, Codable, Equatable {
        public let count: Int
        public let of: Int
        public let fraction: Double
    }

    /// The (class, cell) with the lowest recall among those with enough scans of the class.
    public struct WorstRecall: Sendable, Codable, Equatable {
        public let className: String
        /// The (age group × source) cell.
        public let group: String
        public let correct: Int
        public let support: Int
        public let recall: Double
    }

    /// Groups and classes with fewer scans than this are marked, and do not count for the worst recall.
    public let minGroupSize: Int
    public let bySource: [Group]
    public let byAgeGroup: [Group]
    /// By "<age group>/<source>", the groups training balances and validates by.
    public let byAgeGroupAndSource: [Group]
    /// Nil when no (class, cell) has `minGroupSize` scans.
    public let worstGroupRecall: WorstRecall?
    /// Mean recall of the classes; nil when a class has no scans.
    public let balancedAccuracy: Double?
    /// Children's normal scans predicted viral; nil without child normals (or without those classes).
    public let healthyChildrenCalledViral: Rate?
    /// Adults' normal scans predicted covid; nil without adult normals (or without those classes).
    public let healthyAdultsCalledCovid: Rate?

    /// Writes the figures the data do not allow as null rather than leaving them out.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(minGroupSize, forKey: .minGroupSize)
        try c.encode(bySource, forKey: .bySource)
        try c.encode(byAgeGroup, forKey: .byAgeGroup)
        try c.encode(byAgeGroupAndSource, forKey: .byAgeGroupAndSource)
        try c.encode(worstGroupRecall, forKey: .worstGroupRecall)
        try c.encode(balancedAccuracy, forKey: .balancedAccuracy)
        try c.encode(healthyChildrenCalledViral, forKey: .healthyChildrenCalledViral)
        try c.encode(healthyAdultsCalledCovid, forKey: .healthyAdultsCalledCovid)
    }

    /// - Parameters:
    ///   - labels: the true class index of each scan.
    ///   - probabilities: one row per scan, in `classNames` order.
    ///   - sources, ageGroups: each scan's source and age group (`child`, `adult`), nil when unknown.
    ///   - minGroupSize: the fewest scans of a class in a cell for its recall to count as the worst.
    ///   - counts: which (class name, cell) may be the worst besides that; training passes the cells
    ///     it drew from, so a cell it never saw is reported but does not pick the model.
    public init(labels: [Int], probabilities: [[Double]], sources: [String?], ageGroups: [String?],
                classNames: [String], minGroupSize: Int = 10, counts: (String, String) -> Bool = { _, _ in true }) {
        precondition(labels.count == probabilities.count && labels.count == sources.count && labels.count == ageGroups.count,
                     "one probability row, source and age group per label")
        precondition(!labels.isEmpty, "nothing to evaluate")
        self.minGroupSize = minGroupSize
        func groups(_ key: (Int) -> String) -> [Group] {
            let byKey = Dictionary(grouping: labels.indices, by: key)
            return byKey.keys.sorted().map { k in
                let i = byKey[k]!
                let m = EvaluationMetrics(labels: i.map { labels[$0] }, probabilities: i.map { probabilities[$0] }, classNames: classNames)
                return Group(name: k, metrics: m, minGroupSize: minGroupSize)
            }
        }
        let source = { (i: Int) in sources[i] ?? "unknown" }, age = { (i: Int) in ageGroups[i] ?? "unknown" }
        let byAge = groups(age)
        bySource = groups(source)
        byAgeGroup = byAge
        byAgeGroupAndSource = groups { "\(age($0))/\(source($0))" }

        var worst: WorstRecall?
        for g in byAgeGroupAndSource {
            for p in g.perClass where p.support >= minGroupSize && counts(p.className, g.name) {
                let recall = Double(p.correct) / Double(p.support)
                if worst == nil || recall < worst!.recall {
                    worst = WorstRecall(className: p.className, group: g.name, correct: p.correct, support: p.support, recall: recall)
                }
            }
        }
        worstGroupRecall = worst

        let overall = EvaluationMetrics(labels: labels, probabilities: probabilities, classNames: classNames)
        balancedAccuracy = overall.perClass.allSatisfy { $0.support > 0 }
            ? overall.perClass.map(\.sensitivity).reduce(0, +) / Double(classNames.count) : nil

        func called(_ predicted: String, in ageGroup: String) -> Rate? {
            guard let n = classNames.firstIndex(of: "normal"), let p = classNames.firstIndex(of: predicted),
                  let g = byAge.first(where: { $0.name == ageGroup }) else { return nil }
            let of = g.confusion[n].reduce(0, +)
            guard of > 0 else { return nil }
            return Rate(count: g.confusion[n][p], of: of, fraction: Double(g.confusion[n][p]) / Double(of))
        }
        healthyChildrenCalledViral = called("viral", in: "child")
        healthyAdultsCalledCovid = called("covid", in: "adult")
    }
}
