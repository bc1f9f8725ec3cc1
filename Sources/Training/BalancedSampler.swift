/// Draws training batches balanced over the cells that confound the label, not just over classes.
///
/// Each image has a path of keys, coarsest first: (age group, class, source) for group-balanced
/// training, or just (class) for the tutorial's class balance. A draw walks the tree from the root,
/// taking every child of a node with equal probability, and then cycles through the images of the
/// chosen leaf in a seeded shuffled order. With (age group, class, source):
/// - children and adults are drawn equally often, so the network cannot score by telling them apart;
/// - within an age group, each class it has is drawn equally often: a child's film is normal or
///   viral half the time each, an adult's normal or COVID-19, so age alone predicts neither;
/// - within a class and age group, each source (hospital or collection) is drawn equally often, so
///   the largest source does not define the class.
///
/// A leaf with fewer than `minimumLeaf` images cannot be balanced on without showing the same few
/// films over and over (adult viral pneumonia has 10): it is left out of the draws and listed in
/// `excluded`, and the caller validates on those images instead; unless its class (the key at
/// `classLevel`) has no leaf that large, so that a small data set still trains on every class.
///
/// The order depends only on the seed and the epoch, so a resumed run draws the same batches.
public struct BalancedSampler: Sendable {
    public let paths: [[String]]
    public let seed: UInt64
    public let minimumLeaf: Int
    /// Indices of images in leaves below `minimumLeaf`: never drawn.
    public let excluded: [Int]
    /// The drawable leaves: the path of each and the indices of its images.
    public let leaves: [(path: [String], members: [Int])]

    /// Class balance only, as the tutorial: `labels[i]` is image i's class.
    public init(labels: [Int], classCount: Int, seed: UInt64) {
        self.init(paths: labels.map { [String($0)] }, seed: seed, minimumLeaf: 1)
    }

    /// - Parameters:
    ///   - paths: per image, its keys coarsest first; every path has the same length.
    ///   - minimumLeaf: the fewest images a leaf needs to be drawn from.
    ///   - classLevel: which key of a path is the class.
    public init(paths: [[String]], seed: UInt64, minimumLeaf: Int, classLevel: Int = 0) {
        precondition(Set(paths.map(\.count)).count <= 1, "every image needs a path of the same length")
        self.paths = paths
        self.seed = seed
        let minimum = max(1, minimumLeaf)
        self.minimumLeaf = minimum
        let grouped = Dictionary(grouping: paths.indices, by: { paths[$0] })
        let sorted = grouped.sorted { $0.key.lexicographicallyPrecedes($1.key) }
        let largeClasses = Set(sorted.filter { $0.value.count >= minimum }.map { $0.key[classLevel] })
        func drawn(_ leaf: (key: [String], value: [Int])) -> Bool {
            leaf.value.count >= minimum || !largeClasses.contains(leaf.key[classLevel])
        }
        leaves = sorted.filter(drawn).map { (path: $0.key, members: $0.value) }
        excluded = sorted.filter { !drawn($0) }.flatMap(\.value).sorted()
    }

    /// The probability that one draw lands in each leaf (same order as `leaves`).
    public var leafProbabilities: [Double] {
        var p = [Double](repeating: 0, count: leaves.count)
        func walk(_ indices: [Int], depth: Int, weight: Double) {
            guard let first = indices.first, depth < leaves[first].path.count else {
                for i in indices { p[i] = weight }
                return
            }
            let children = Dictionary(grouping: indices, by: { leaves[$0].path[depth] })
            for (_, child) in children { walk(child, depth: depth + 1, weight: weight / Double(children.count)) }
        }
        if !leaves.isEmpty { walk(Array(leaves.indices), depth: 0, weight: 1) }
        return p
    }

    /// Indices of one epoch: as many draws as there are drawable images, in batch order.
    public func epoch(_ epoch: Int) -> [Int] {
        precondition(!leaves.isEmpty, "no training images")
        var rng = SplitMix64(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
        var pools = leaves.map(\.members)
        for l in pools.indices { rng.shuffle(&pools[l]) }
        // Cumulative leaf probabilities; one uniform draw picks a leaf.
        var cumulative: [Double] = []
        var total = 0.0
        for p in leafProbabilities { total += p; cumulative.append(total) }
        var cursor = [Int](repeating: 0, count: leaves.count)
        let count = paths.count - excluded.count
        var order: [Int] = []
        order.reserveCapacity(count)
        for _ in 0..<count {
            let u = Double(rng.next() >> 11) * 0x1p-53 * total
            let l = min(cumulative.partitioningIndex { $0 > u }, leaves.count - 1)
            if cursor[l] == pools[l].count {
                rng.shuffle(&pools[l])
                cursor[l] = 0
            }
            order.append(pools[l][cursor[l]])
            cursor[l] += 1
        }
        return order
    }
}

extension Array {
    /// The first index whose element satisfies `predicate`, for a predicate that is false then true
    /// along the array (binary search); `count` when none does.
    func partitioningIndex(where predicate: (Element) -> Bool) -> Int {
        var low = 0, high = count
        while low < high {
            let mid = (low + high) / 2
            if predicate(self[mid]) { high = mid } else { low = mid + 1 }
        }
        return low
    }
}
