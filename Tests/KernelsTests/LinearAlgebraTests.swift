import Testing
import TestSupport
import XRayCore
@testable import Kernels

/// OpenBLAS's double-precision dsyrk, dpotrf and dpotri behind `LinearAlgebra`, against plain
/// Swift loops (the OOD fit's use is also checked against scikit-learn and NumPy in TrainingTests).
@Suite struct LinearAlgebraTests {
    /// Row-major [rows × columns] in [-1, 1) from the fixtures' hash generator, as Double.
    static func matrix(_ name: String, _ rows: Int, _ columns: Int) -> [Double] {
        hashUniform(name, [rows, columns], -1, 1).scalars.map(Double.init)
    }

    /// Naive scale·XᵀX, both triangles.
    static func naiveGram(_ x: [Double], _ n: Int, _ p: Int, scale: Double) -> [Double] {
        var c = [Double](repeating: 0, count: p * p)
        for r in 0..<n { for i in 0..<p { for j in 0..<p { c[i * p + j] += x[r * p + i] * x[r * p + j] } } }
        return c.map { $0 * scale }
    }

    /// max |A·B − I| for [n × n] row-major A, B, in plain Swift (no BLAS).
    static func distanceFromIdentity(_ a: [Double], _ b: [Double], _ n: Int) -> Double {
        var product = [Double](repeating: 0, count: n * n)
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                product.withUnsafeMutableBufferPointer { c in
                    for i in 0..<n {
                        for k in 0..<n {
                            let aik = a[i * n + k]
                            for j in 0..<n { c[i * n + j] += aik * b[k * n + j] }
                        }
                    }
                }
            }
        }
        var worst = 0.0
        for i in 0..<n { for j in 0..<n { worst = max(worst, abs(product[i * n + j] - (i == j ? 1 : 0))) } }
        return worst
    }

    @Test func gramMatchesNaiveProduct() {
        for (n, p) in [(1, 1), (7, 5), (3, 9), (40, 33)] {
            let x = Self.matrix("gram.\(n)x\(p)", n, p)
            let ours = LinearAlgebra.gram(x, rows: n, columns: p, scale: 1 / Double(n))
            let naive = Self.naiveGram(x, n, p, scale: 1 / Double(n))
            for (a, b) in zip(ours, naive) { #expect(abs(a - b) <= 1e-14 * max(1, abs(b)), "\(n)x\(p): \(a) vs \(b)") }
            for i in 0..<p { for j in 0..<p { #expect(ours[i * p + j] == ours[j * p + i]) } }
        }
        #expect(LinearAlgebra.gram([], rows: 0, columns: 3) == [Double](repeating: 0, count: 9))
    }

    /// A covariance of the OOD fit's size: 600 samples of 512 features, shrunk a little towards
    /// its mean variance (as Ledoit–Wolf does), condition number ~1e2. A·A⁻¹ = I to 1e-11.
    @Test func inverseOfA512CovarianceTimesItselfIsIdentity() throws {
        let (n, p) = (600, 512)
        let x = Self.matrix("spd.samples", n, p)
        var a = LinearAlgebra.gram(x, rows: n, columns: p, scale: 1 / Double(n))
        let mu = (0..<p).reduce(0.0) { $0 + a[$1 * p + $1] } / Double(p)
        a = a.map { 0.9 * $0 }
        for i in 0..<p { a[i * p + i] += 0.1 * mu }
        let inverse = try LinearAlgebra.inverseOfPositiveDefinite(a, order: p)
        for i in 0..<p { for j in (i + 1)..<p where inverse[i * p + j] != inverse[j * p + i] {
            Issue.record("inverse not symmetric at (\(i), \(j))")
        } }
        let left = Self.distanceFromIdentity(a, inverse, p), right = Self.distanceFromIdentity(inverse, a, p)
        #expect(left <= 1e-11 && right <= 1e-11, "max |A·A⁻¹ − I| = \(left), max |A⁻¹·A − I| = \(right)")
        // Only the upper triangle is read: garbage below the diagonal changes nothing.
        var upper = a
        for i in 0..<p { for j in 0..<i { upper[i * p + j] = .nan } }
        #expect(try LinearAlgebra.inverseOfPositiveDefinite(upper, order: p) == inverse)
    }

    @Test func matricesThatAreNotPositiveDefiniteGiveAnError() {
        // Indefinite 2×2 (eigenvalues 3 and −1): the second pivot fails.
        #expect(throws: LinearAlgebraError.notPositiveDefinite(order: 2)) {
            try LinearAlgebra.inverseOfPositiveDefinite([1, 2, 2, 1], order: 2)
        }
        #expect(throws: LinearAlgebraError.notPositiveDefinite(order: 1)) {
            try LinearAlgebra.inverseOfPositiveDefinite([0, 0, 0, 0], order: 2)
        }
        // A 512×512 covariance with one diagonal entry made negative: the leading minors up to
        // order 300 are untouched and the 301st pivot is below that entry, so below 0. (A merely
        // rank-deficient covariance is singular only in exact arithmetic: rounding may leave its
        // pivots positive, so whether LAPACK reports it depends on the summation order.)
        let (n, p) = (600, 512)
        var indefinite = LinearAlgebra.gram(Self.matrix("spd.samples", n, p), rows: n, columns: p, scale: 1 / Double(n))
        indefinite[300 * p + 300] = -1
        do {
            _ = try LinearAlgebra.inverseOfPositiveDefinite(indefinite, order: p)
            Issue.record("an indefinite matrix was inverted")
        } catch {
            #expect(error == .notPositiveDefinite(order: 301))
            #expect(error.description.contains("not positive definite"))
        }
        #expect(throws: LinearAlgebraError.notFinite) {
            try LinearAlgebra.inverseOfPositiveDefinite([1, .nan, .nan, 1], order: 2)
        }
    }
}
