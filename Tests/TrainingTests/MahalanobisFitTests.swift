import Foundation
import Kernels
import ResNet
import Testing
import TestSupport
@testable import Training

/// The out-of-distribution detector's statistics against scikit-learn and NumPy
/// (Tests/Fixtures/ood/expected.json, made by make_ood_fixtures.py).
@Suite struct MahalanobisFitTests {
    struct Fixture: Decodable {
        let n: Int, p: Int, classes: Int
        let x: [Float], labels: [Int]
        let means: [Double], covariance: [Double], shrinkage: Double, precision: [Double]
        let queries: [Float], scores: [Double], percentile90: Double
    }

    static let fixture: Fixture = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/ood/expected.json")
        do { return try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url)) }
        catch { fatalError("cannot read \(url.path): \(error); run Tests/Fixtures/make_ood_fixtures.py") }
    }()

    var features: [[Float]] { (0..<Self.fixture.n).map { Array(Self.fixture.x[($0 * Self.fixture.p)..<(($0 + 1) * Self.fixture.p)]) } }

    @Test func ledoitWolfMatchesScikitLearn() throws {
        let f = Self.fixture
        let centred = features.enumerated().map { i, row in
            row.enumerated().map { j, v in Double(v) - f.means[f.labels[i] * f.p + j] }
        }
        let (covariance, shrinkage) = MahalanobisFit.ledoitWolf(centred)
        // Float64 throughout: agreement to rounding (1e-12 relative).
        #expect(abs(shrinkage - f.shrinkage) <= 1e-12, "shrinkage \(shrinkage) vs sklearn \(f.shrinkage)")
        for (a, b) in zip(covariance, f.covariance) { #expect(abs(a - b) <= 1e-12 * max(1, abs(b)), "covariance \(a) vs \(b)") }
        let inverse = try LinearAlgebra.inverseOfPositiveDefinite(covariance, order: f.p)
        for (a, b) in zip(inverse, f.precision) { #expect(abs(a - b) <= 1e-9 * max(1, abs(b)), "precision \(a) vs numpy \(b)") }
    }

    @Test func scoresAndPercentileMatchNumPy() throws {
        let f = Self.fixture
        let stats = try MahalanobisFit.estimate(features: features, labels: f.labels, classNames: ["a", "b", "c"])
        for (a, b) in zip(stats.means, f.means) { #expect(abs(Double(a) - b) <= 1e-5 * max(1, abs(b))) }
        for q in 0..<f.scores.count {
            let s = stats.score(Array(f.queries[(q * f.p)..<((q + 1) * f.p)]))
            // Float32 storage of means and precision: 1e-5 relative.
            #expect(abs(s - f.scores[q]) <= 1e-5 * f.scores[q], "score \(s) vs numpy \(f.scores[q])")
        }
        #expect(abs(MahalanobisFit.percentile(f.scores, 90) - f.percentile90) <= 1e-12 * f.percentile90)
        #expect(MahalanobisFit.percentile([3, 1, 2], 0) == 1 && MahalanobisFit.percentile([3, 1, 2], 100) == 3)
    }

    @Test func thresholdComesFromOutOfFoldScoresAndFlagsFarPoints() throws {
        let f = Self.fixture
        let result = try MahalanobisFit.fit(features: features, labels: f.labels, classNames: ["a", "b", "c"], percentile: 95, folds: 5, seed: 1)
        let stats = result.statistics
        #expect(stats.sampleCount == f.n && stats.percentile == 95)
        #expect(stats.threshold == MahalanobisFit.percentile(result.outOfFoldScores, 95))
        // Scores of held-out points are larger than in-sample ones: the point of k-fold.
        let inSample = features.map(stats.score)
        #expect(result.outOfFoldScores.reduce(0, +) > inSample.reduce(0, +))
        // About 5% of the in-distribution points are above the threshold; far points all are.
        let flagged = result.outOfFoldScores.filter { stats.isOutOfDistribution(score: $0) }.count
        #expect(flagged <= 4)
        let far: [[Float]] = (0..<20).map { (i: Int) -> [Float] in
            (0..<f.p).map { (j: Int) -> Float in
                let wiggle: Int = (i * 7 + j * 13) % 17
                return Float(40 + wiggle)
            }
        }
        #expect(far.allSatisfy { stats.isOutOfDistribution(score: stats.score($0)) })
        // Stored in metadata and read back unchanged.
        let back = try OutOfDistributionStatistics.decode(json: stats.jsonString(), classNames: ["a", "b", "c"])
        #expect(back == stats)
        #expect(throws: ModelError.self) { try OutOfDistributionStatistics.decode(json: stats.jsonString(), classNames: ["x", "b", "c"]) }
        #expect(throws: ModelError.self) { try OutOfDistributionStatistics.decode(json: "{}", classNames: ["a", "b", "c"]) }
    }

    /// Scans whose features are all the same have a zero covariance (and no shrinkage target):
    /// the fit reports it instead of trapping.
    @Test func degenerateFeaturesGiveAnErrorNotATrap() {
        let same = [[Float]](repeating: [1, 2, 3, 4], count: 12)
        let labels = (0..<12).map { $0 % 3 }
        #expect(throws: MahalanobisFit.Failure.self) {
            try MahalanobisFit.fit(features: same, labels: labels, classNames: ["a", "b", "c"], folds: 3)
        }
        do {
            _ = try MahalanobisFit.fit(features: same, labels: labels, classNames: ["a", "b", "c"], folds: 3)
        } catch {
            #expect(error.cause == .notPositiveDefinite(order: 1) && error.fold == 0 && error.dimension == 4, "\(error)")
            #expect(error.description.contains("cannot be inverted"), "\(error)")
        }
    }
}
