// The only file that calls OpenBLAS's double-precision BLAS and LAPACK.
internal import COpenBLAS

/// Double-precision dense linear algebra on row-major matrices in plain arrays, backed by
/// OpenBLAS's BLAS (dsyrk) and its bundled LAPACK (dpotrf, dpotri). Single-threaded, like `GEMM`.
public enum LinearAlgebra {
    /// scale · XᵀX [p × p] of a row-major X [n × p] (BLAS dsyrk), both triangles filled: the Gram or,
    /// with centred rows and scale 1/n, the covariance matrix.
    public static func gram(_ x: [Double], rows n: Int, columns p: Int, scale: Double = 1) -> [Double] {
        precondition(n >= 0 && p > 0 && x.count == n * p, "gram: \(x.count) values for \(n) × \(p)")
        precondition(n <= Int(Int32.max) && p * p <= Int(Int32.max), "gram: \(n) × \(p) is too large for 32-bit BLAS indices")
        _ = singleThreadedBLAS
        var c = [Double](repeating: 0, count: p * p)
        guard n > 0 else { return c }
        x.withUnsafeBufferPointer { a in
            c.withUnsafeMutableBufferPointer { out in
                // Row-major C = scale · Aᵀ·A with A [n × p]: the upper triangle (j ≥ i).
                cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, blasint(p), blasint(n), scale,
                            a.baseAddress!, blasint(p), 0, out.baseAddress!, blasint(p))
                for i in 0..<p { for j in (i + 1)..<max(i + 1, p) { out[j * p + i] = out[i * p + j] } }
            }
        }
        return c
    }

    /// The inverse of a symmetric positive definite [n × n] matrix, by Cholesky factorisation
    /// (LAPACK dpotrf) and inversion from the factor (dpotri). Only the upper triangle of `a` is
    /// read; the result is exactly symmetric.
    /// - Throws: `.notPositiveDefinite(order:)` when the factorisation breaks down (singular or
    ///   indefinite matrix), `.notFinite` for a NaN or infinite entry.
    public static func inverseOfPositiveDefinite(_ a: [Double], order n: Int) throws(LinearAlgebraError) -> [Double] {
        precondition(n > 0 && a.count == n * n, "inverseOfPositiveDefinite: \(a.count) values for \(n) × \(n)")
        precondition(n <= Int(Int32.max), "inverseOfPositiveDefinite: order \(n) is too large for 32-bit LAPACK indices")
        for i in 0..<n { for j in i..<n where !a[i * n + j].isFinite { throw .notFinite } }
        _ = singleThreadedBLAS
        var inverse = a
        var info: blasint = 0
        inverse.withUnsafeMutableBufferPointer { m in
            // Row-major upper triangle = column-major lower triangle ('L'), the same numbers.
            var order = blasint(n), lower = CChar(UInt8(ascii: "L"))
            dpotrf_(&lower, &order, m.baseAddress!, &order, &info, 1)
            guard info == 0 else { return }
            dpotri_(&lower, &order, m.baseAddress!, &order, &info, 1)
            guard info == 0 else { return }
            for i in 0..<n { for j in (i + 1)..<max(i + 1, n) { m[j * n + i] = m[i * n + j] } }
        }
        // info < 0 would be an invalid argument, which the preconditions rule out.
        precondition(info >= 0, "LAPACK rejected argument \(-info)")
        if info > 0 { throw .notPositiveDefinite(order: Int(info)) }
        return inverse
    }
}
