/// A seeded, stratified split of training entries into train and validation.
///
/// Entries are grouped first (by patient when a manifest names one, and identical files share a
/// group), so that films of one patient and copies of one image never sit on both sides; groups
/// are then shuffled per stratum, a class within one age group and source (`Entry.group`), with
/// the seed and dealt until each stratum has its share, so every group is validated on.
public enum StratifiedSplit {
    public static func split(
        _ entries: [DatasetIndex.Entry], validationFraction: Double, seed: UInt64,
        sameGroup: [String: String] = [:]
    ) -> (train: [DatasetIndex.Entry], validation: [DatasetIndex.Entry]) {
        precondition((0..<1).contains(validationFraction), "validation fraction must be in [0, 1)")
        // Group key: the patient if known, else the duplicate group's key, else the file itself.
        func key(_ e: DatasetIndex.Entry) -> String {
            if let p = e.patientID { return "patient:\(e.source ?? ""):\(p)" }
            return sameGroup[e.path].map { "copy:\($0)" } ?? "file:\(e.path)"
        }
        var train: [DatasetIndex.Entry] = [], validation: [DatasetIndex.Entry] = []
        var rng = SplitMix64(seed: seed)
        let strata = Set(entries.map { "\($0.label)|\($0.group)" }).sorted {
            ($0.split(separator: "|").first.flatMap { DatasetIndex.classes.firstIndex(of: String($0)) } ?? 0, $0)
                < ($1.split(separator: "|").first.flatMap { DatasetIndex.classes.firstIndex(of: String($0)) } ?? 0, $1)
        }
        for stratum in strata {
            let ofClass = entries.filter { "\($0.label)|\($0.group)" == stratum }
            var groups: [String: [DatasetIndex.Entry]] = [:]
            for e in ofClass { groups[key(e), default: []].append(e) }
            var keys = groups.keys.sorted()
            rng.shuffle(&keys)
            let want = Int((Double(ofClass.count) * validationFraction).rounded())
            var taken = 0
            for k in keys {
                let g = groups[k]!
                if taken < want && taken + g.count <= want + g.count / 2 {
                    validation += g
                    taken += g.count
                } else {
                    train += g
                }
            }
        }
        return (train.sorted { $0.path < $1.path }, validation.sorted { $0.path < $1.path })
    }
}

/// SplitMix64: a small, fast, seedable generator whose sequence is the same on every platform.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Fisher–Yates with this generator (the standard library's shuffle may change between releases).
    public mutating func shuffle<T>(_ a: inout [T]) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            let j = Int(next() % UInt64(i + 1))
            a.swapAt(i, j)
        }
    }
}
