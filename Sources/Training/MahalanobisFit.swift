import Foundation
import ResNet

/// Fits `OutOfDistributionStatistics` (Lee et al. 2018) to features of in-distribution scans:
/// class means, one covariance shared by the classes and shrunk towards a scaled identity with
/// the Ledoit–Wolf (2004) estimate, its inverse, and a threshold at a percentile of scores the
/// statistics were not fitted on (k-fold: each scan is scored by statistics fitted on the other
/// folds), so the threshold is not biased low by scoring the fitting data itself.
public enum MahalanobisFit {
    public struct Result: Sendable {
        public let statistics: OutOfDistributionStatistics
        /// Each scan's score from the statistics of the folds it was not in, in input order.
        public let outOfFoldScores: [Double]
    }

    /// - Parameters:
    ///   - features: one feature vector per scan, all of one dimension.
    ///   - labels: class index per scan into `classNames`; every class needs at least one scan.
    ///   - percentile: where the threshold sits among the out-of-fold scores (NumPy's linear interpolation).
    ///   - folds: at least 2; scans are assigned to folds by a seeded shuffle.
    public static func fit(features: [[Float]], labels: [Int], classNames: [String], percentile: Double = 99,
                           folds: Int = 5, seed: UInt64 = 0, provenance: String = "") -> Result {
        precondition(features.count == labels.count && !features.isEmpty, "\(features.count) features for \(labels.count) labels")
        precondition(folds >= 2 && features.count >= folds, "need at least \(folds) scans for \(folds) folds")
        precondition((0...100).contains(percentile), "percentile \(percentile) outside 0...100")
        let d = features[0].count
        precondition(features.allSatisfy { $0.count == d }, "features differ in dimension")

        var order = Array(features.indices)
        var rng = SplitMix64(seed: seed)
        order.shuffle(using: &rng)
        var fold = [Int](repeating: 0, count: features.count)
        for (position, i) in order.enumerated() { fold[i] = position % folds }

        var scores = [Double](repeating: 0, count: features.count)
        for f in 0..<folds {
            let train = features.indices.filter { fold[$0] != f }
            let stats = estimate(features: train.map { features[$0] }, labels: train.map { labels[$0] }, classNames: classNames)
            for i in features.indices where fold[i] == f { scores[i] = stats.score(features[i]) }
        }
        var fitted = estimate(features: features, labels: labels, classNames: classNames)
        fitted.threshold = Self.percentile(scores, percentile)
        fitted.percentile = percentile
        fitted.provenance = provenance
        return Result(statistics: fitted, outOfFoldScores: scores)
    }

    /// Means, shrunk shared covariance and its inverse; threshold left at +∞.
    static func estimate(features: [[Float]], labels: [Int], classNames: [String]) -> OutOfDistributionStatistics {
        let d = features[0].count, k = classNames.count
        var means = [Double](repeating: 0, count: k * d)
        var counts = [Int](repeating: 0, count: k)
        for (x, c) in zip(features, labels) {
            precondition(c >= 0 && c < k, "label \(c) out of range for \(k) classes")
            counts[c] += 1
            for j in 0..<d { means[c * d + j] += Double(x[j]) }
        }
        for c in 0..<k where counts[c] > 0 { for j in 0..<d { means[c * d + j] /= Double(counts[c]) } }
        // Rows centred on their class mean.
        let centred: [[Double]] = zip(features, labels).map { x, c in (0..<d).map { Double(x[$0]) - means[c * d + $0] } }
        let (covariance, shrinkage) = ledoitWolf(centred)
        let precision = symmetricInverse(covariance, d)
        return OutOfDistributionStatistics(
            classNames: classNames, dimension: d, means: means.map { Float($0) }, precision: precision.map { Float($0) },
            threshold: .infinity, percentile: 100, shrinkage: shrinkage, sampleCount: features.count, provenance: "")
    }

    /// scikit-learn's `LedoitWolf(assume_centered=True)`: (1 − s)·S + s·μ·I with S = XᵀX/n,
    /// μ = tr(S)/p and the shrinkage s of Ledoit & Wolf (2004). Returns [p × p] and s.
    public static func ledoitWolf(_ x: [[Double]]) -> (covariance: [Double], shrinkage: Double) {
        let n = x.count, p = x[0].count
        var s = [Double](repeating: 0, count: p * p)
        s.withUnsafeMutableBufferPointer { out in
            for row in x {
                row.withUnsafeBufferPointer { r in
                    for i in 0..<p where r[i] != 0 {
                        let ri = r[i], base = i * p
                        for j in i..<p { out[base + j] += ri * r[j] }
                    }
                }
            }
            for i in 0..<p { for j in i..<p { out[i * p + j] /= Double(n); out[j * p + i] = out[i * p + j] } }
        }
        let trace = (0..<p).reduce(0.0) { $0 + s[$1 * p + $1] }
        let mu = trace / Double(p)
        // β_ = Σ_ij (X²ᵀX²)_ij = Σ_k (Σ_i x_ki²)²;  δ_ = Σ_ij (XᵀX)_ij² / n² = Σ_ij S_ij².
        let betaSum = x.reduce(0.0) { acc, row in let q = row.reduce(0.0) { $0 + $1 * $1 }; return acc + q * q }
        let deltaSum = s.reduce(0.0) { $0 + $1 * $1 }
        var beta = (betaSum / Double(n) - deltaSum) / (Double(p) * Double(n))
        let delta = (deltaSum - 2 * mu * trace + Double(p) * mu * mu) / Double(p)
        beta = min(beta, delta)
        let shrinkage = beta == 0 ? 0 : beta / delta
        var shrunk = s.map { $0 * (1 - shrinkage) }
        for i in 0..<p { shrunk[i * p + i] += shrinkage * mu }
        return (shrunk, shrinkage)
    }

    /// The inverse of a symmetric positive definite [n × n] matrix, by Cholesky (A = LLᵀ) in Float64.
    public static func symmetricInverse(_ a: [Double], _ n: Int) -> [Double] {
        var l = [Double](repeating: 0, count: n * n)
        for j in 0..<n {
            var diagonal = a[j * n + j]
            for k in 0..<j { diagonal -= l[j * n + k] * l[j * n + k] }
            precondition(diagonal > 0, "covariance is not positive definite (pivot \(j): \(diagonal))")
            let ljj = diagonal.squareRoot()
            l[j * n + j] = ljj
            for i in (j + 1)..<max(j + 1, n) {
                var v = a[i * n + j]
                for k in 0..<j { v -= l[i * n + k] * l[j * n + k] }
                l[i * n + j] = v / ljj
            }
        }
        // L⁻¹ by forward substitution, then A⁻¹ = L⁻ᵀ L⁻¹.
        var inv = [Double](repeating: 0, count: n * n)
        for c in 0..<n {
            inv[c * n + c] = 1 / l[c * n + c]
            for i in (c + 1)..<max(c + 1, n) {
                var v = 0.0
                for k in c..<i { v -= l[i * n + k] * inv[k * n + c] }
                inv[i * n + c] = v / l[i * n + i]
            }
        }
        var out = [Double](repeating: 0, count: n * n)
        for i in 0..<n {
            for j in i..<n {
                var v = 0.0
                for k in j..<n { v += inv[k * n + i] * inv[k * n + j] }
                out[i * n + j] = v
                out[j * n + i] = v
            }
        }
        return out
    }

    /// NumPy's `np.percentile(values, q)` (linear interpolation between closest ranks).
    public static func percentile(_ values: [Double], _ q: Double) -> Double {
        precondition(!values.isEmpty)
        let sorted = values.sorted()
        let position = Double(sorted.count - 1) * q / 100
        let lower = Int(position.rounded(.down)), upper = min(lower + 1, sorted.count - 1)
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - Double(lower))
    }
}
