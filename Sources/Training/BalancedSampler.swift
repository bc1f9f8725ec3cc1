/// Draws training batches with every class equally likely, cycling through each class's images
/// in a seeded shuffled order, so that a class with 80 images is seen as often as one with 2,000.
/// The order depends only on the seed and the epoch, so a resumed run draws the same batches.
public struct BalancedSampler: Sendable {
    public let labels: [Int]
    public let classCount: Int
    public let seed: UInt64

    public init(labels: [Int], classCount: Int, seed: UInt64) {
        self.labels = labels
        self.classCount = classCount
        self.seed = seed
    }

    /// Indices of one epoch: `labels.count` draws (the data set's size), in batch order.
    public func epoch(_ epoch: Int) -> [Int] {
        var rng = SplitMix64(seed: seed &+ UInt64(epoch) &* 0x9E37_79B9_7F4A_7C15)
        var pools: [[Int]] = (0..<classCount).map { c in labels.indices.filter { labels[$0] == c } }
        for c in pools.indices { rng.shuffle(&pools[c]) }
        let present = pools.indices.filter { !pools[$0].isEmpty }
        precondition(!present.isEmpty, "no training images")
        var cursor = [Int](repeating: 0, count: classCount)
        var order: [Int] = []
        order.reserveCapacity(labels.count)
        for _ in 0..<labels.count {
            let c = present[Int(rng.next() % UInt64(present.count))]
            if cursor[c] == pools[c].count {
                rng.shuffle(&pools[c])
                cursor[c] = 0
            }
            order.append(pools[c][cursor[c]])
            cursor[c] += 1
        }
        return order
    }
}
