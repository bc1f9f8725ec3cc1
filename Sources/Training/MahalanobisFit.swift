import Foundation
import Kernels
import ResNet

/// Fits `OutOfDistributionStatistics` (Lee et al. 2018) to features of in-distribution scans:
/// class means, one covariance shared by the classes and shrunk towards a scaled identity with
/// the Ledoit–Wolf (2004) estimate, its inverse, and a threshold at a percentile of scores the
/// statistics were not fitted on (k-fold: each scan is scored by statistics fitted on the other
/// folds), so the threshold is not biased low by scoring the fitting data itself.
///
/// The covariance (BLAS dsyrk) and its inverse (LAPACK Cholesky) are OpenBLAS's, in Float64
/// (`LinearAlgebra` in Kernels).
public enum MahalanobisFit {
    /// The shared covariance of the features could not be inverted.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// Scans and feature dimension of the fit that failed.
        public let scans: Int, dimension: Int
        /// The fold whose other folds were being fitted, or nil for the fit on all scans.
        public let fold: Int?
        public let cause: LinearAlgebraError

        public var description: String {
            let which = fold.map { "the statistics without fold \($0 + 1)" } ?? "the statistics"
            return "cannot fit \(which) to \(scans) scans: the shared covariance of their \(dimension) features cannot be "
                + "inverted (\(cause)). The features are degenerate, e.g. every scan the same image; use more, varied scans."
        }
    }

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
                           folds: Int = 5, seed: UInt64 = 0, provenance: String = "") throws(Failure) -> Result {
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
            let stats: OutOfDistributionStatistics
            do { stats = try estimate(features: train.map { features[$0] }, labels: train.map { labels[$0] }, classNames: classNames) }
            catch { throw Failure(scans: train.count, dimension: d, fold: f, cause: error) }
            for i in features.indices where fold[i] == f { scores[i] = stats.score(features[i]) }
        }
        var fitted: OutOfDistributionStatistics
        do { fitted = try estimate(features: features, labels: labels, classNames: classNames) }
        catch { throw Failure(scans: features.count, dimension: d, fold: nil, cause: error) }
        fitted.threshold = Self.percentile(scores, percentile)
        fitted.percentile = percentile
        fitted.provenance = provenance
        return Result(statistics: fitted, outOfFoldScores: scores)
    }

    /// Means, shrunk shared covariance and its inverse; threshold left at +∞.
    static func estimate(features: [[Float]], labels: [Int], classNames: [String]) throws(LinearAlgebraError) -> OutOfDistributionStatistics {
        let d = features[0].count, k = classNames.count
        var means = [Double](repeating: 0, count: k * d)
        var counts = [Int](repeating: 0, count: k)
        for (x, c) in zip(features, labels) {
            precondition(c >= 0 && c < k, "label \(c) out of range for \(k) classes")
            counts[c] += 1
            for j in 0..<d { means[c * d + j] += Double(x[j]) }
        }
        for c in 0..<k where counts[c] > 0 { for j in 0..<d { means[c * d + j] /= Double(counts[c]) } }
        // Rows centred on their class mean, row-major [n × d].
        var centred = [Double](repeating: 0, count: features.count * d)
        for (r, (x, c)) in zip(features, labels).enumerated() { for j in 0..<d { centred[r * d + j] = Double(x[j]) - means[c * d + j] } }
        let (covariance, shrinkage) = ledoitWolf(centred, rows: features.count, columns: d)
        let precision = try LinearAlgebra.inverseOfPositiveDefinite(covariance, order: d)
        return OutOfDistributionStatistics(
            classNames: classNames, dimension: d, means: means.map { Float($0) }, precision: precision.map { Float($0) },
            threshold: .infinity, percentile: 100, shrinkage: shrinkage, sampleCount: features.count, provenance: "")
    }

    /// scikit-learn's `LedoitWolf(assume_centered=True)`: (1 − s)·S + s·μ·I with S = XᵀX/n,
    /// μ = tr(S)/p and the shrinkage s of Ledoit & Wolf (2004). Returns [p × p] and s.
    public static func ledoitWolf(_ x: [[Double]]) -> (covariance: [Double], shrinkage: Double) {
        ledoitWolf(x.flatMap { $0 }, rows: x.count, columns: x[0].count)
    }

    /// `ledoitWolf(_:)` of a row-major X [n × p].
    public static func ledoitWolf(_ x: [Double], rows n: Int, columns p: Int) -> (covariance: [Double], shrinkage: Double) {
        let s = LinearAlgebra.gram(x, rows: n, columns: p, scale: 1 / Double(n))
        let trace = (0..<p).reduce(0.0) { $0 + s[$1 * p + $1] }
        let mu = trace / Double(p)
        // β_ = Σ_ij (X²ᵀX²)_ij = Σ_k (Σ_i x_ki²)²;  δ_ = Σ_ij (XᵀX)_ij² / n² = Σ_ij S_ij².
        var betaSum = 0.0
        for r in 0..<n {
            var q = 0.0
            for j in 0..<p { q += x[r * p + j] * x[r * p + j] }
            betaSum += q * q
        }
        let deltaSum = s.reduce(0.0) { $0 + $1 * $1 }
        var beta = (betaSum / Double(n) - deltaSum) / (Double(p) * Double(n))
        let delta = (deltaSum - 2 * mu * trace + Double(p) * mu * mu) / Double(p)
        beta = min(beta, delta)
        let shrinkage = beta == 0 ? 0 : beta / delta
        var shrunk = s.map { $0 * (1 - shrinkage) }
        for i in 0..<p { shrunk[i * p + i] += shrinkage * mu }
        return (shrunk, shrinkage)
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
