import XRayCore

/// Finds near-copies of images (re-encoded, rescaled, contrast-changed) the way the data set's
/// own audit did: 32x32 grey thumbnails, each pixel replaced by its rank within the thumbnail,
/// and two images called copies when their rank thumbnails correlate at 0.98 or more. On the
/// covid19-3way set true copies scored at least 0.99 and different radiographs at most 0.972.
public struct RankThumbnail: Sendable, Equatable {
    public static let side = 32
    /// Ranks centred to mean 0 and scaled to unit norm, so a dot product is the Pearson correlation.
    public let values: [Float]

    /// - Parameter thumbnail: the image already resized to 32x32 (e.g. with Pillow's bilinear filter).
    public init(thumbnail: GrayImage) {
        precondition(thumbnail.width == Self.side && thumbnail.height == Self.side, "thumbnail must be 32x32")
        let n = Self.side * Self.side
        // Average ranks for ties, as scipy.stats.rankdata does.
        let order = (0..<n).sorted { thumbnail.pixels[$0] < thumbnail.pixels[$1] }
        var ranks = [Double](repeating: 0, count: n)
        var i = 0
        while i < n {
            var j = i
            while j + 1 < n && thumbnail.pixels[order[j + 1]] == thumbnail.pixels[order[i]] { j += 1 }
            let r = Double(i + j) / 2 + 1
            for k in i...j { ranks[order[k]] = r }
            i = j + 1
        }
        let mean = ranks.reduce(0, +) / Double(n)
        let centred = ranks.map { $0 - mean }
        let norm = centred.reduce(0) { $0 + $1 * $1 }.squareRoot()
        values = centred.map { norm > 0 ? Float($0 / norm) : 0 }
    }

    /// Pearson correlation of the two rank thumbnails (0 when either is flat).
    public func correlation(_ other: RankThumbnail) -> Float {
        var s: Float = 0
        for i in values.indices { s += values[i] * other.values[i] }
        return s
    }
}

public enum NearDuplicates {
    public static let threshold: Float = 0.98

    /// For each query, the best-matching reference and its correlation, when at or above `threshold`.
    public static func matches(queries: [RankThumbnail], references: [RankThumbnail], threshold: Float = threshold)
        -> [(reference: Int, correlation: Float)?]
    {
        queries.map { q in
            var best = -1, bestC: Float = -2
            for (j, r) in references.enumerated() {
                let c = q.correlation(r)
                if c > bestC { bestC = c; best = j }
            }
            return best >= 0 && bestC >= threshold ? (best, bestC) : nil
        }
    }
}
