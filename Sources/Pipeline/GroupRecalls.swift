import Training

/// Recall of each class within each group (age group and source) of a validation split: what
/// training selects its model by, so that a model which learned the patient's age or the hospital
/// instead of the disease is not picked for its overall figure.
struct GroupRecalls {
    struct Cell {
        let cell: String
        let scans: Int
        let recall: Double
        /// Whether training drew from this cell (a cell it never saw is reported, not selected by).
        let trained: Bool
    }

    let cells: [Cell]
    /// The lowest recall among trained cells with at least `minimum` scans.
    let worst: Cell?

    /// "viral in child/kermany-paediatric".
    static func cell(_ e: DatasetIndex.Entry) -> String { "\(e.label) in \(e.group)" }

    init(entries: [DatasetIndex.Entry], predicted: [String], trained: Set<String>, minimum: Int) {
        var scans: [String: Int] = [:], hits: [String: Int] = [:]
        for (e, p) in zip(entries, predicted) {
            let c = Self.cell(e)
            scans[c, default: 0] += 1
            if p == e.label { hits[c, default: 0] += 1 }
        }
        cells = scans.keys.sorted().map { c in
            Cell(cell: c, scans: scans[c]!, recall: Double(hits[c] ?? 0) / Double(scans[c]!), trained: trained.contains(c))
        }
        worst = cells.filter { $0.trained && $0.scans >= minimum }.min { ($0.recall, $0.cell) < ($1.recall, $1.cell) }
    }

    /// One line: each cell's recall and size; cells never trained on are marked.
    var summary: String {
        cells.map { c in String(format: "%@ %.0f%% of %d%@", c.cell, c.recall * 100, c.scans, c.trained ? "" : " (not trained on)") }
            .joined(separator: "; ")
    }
}
