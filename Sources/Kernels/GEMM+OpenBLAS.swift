// One of the two files that call into OpenBLAS (single precision; LinearAlgebra+OpenBLAS.swift: double).
internal import COpenBLAS

/// Single-precision matrix multiply on row-major matrices, backed by OpenBLAS.
///
/// OpenBLAS is put into single-threaded mode on first use: the kernels split work between threads
/// themselves (whole images per thread for batches, halves of a layer for one image), which beats
/// OpenBLAS's own threading on the small matrices of a ResNet at batch 1 and lets two threads call
/// `sgemm` at the same time.
package enum GEMM {
    /// C[m×n] = alpha · op(A) · op(B) + beta · C, all row-major with leading dimensions lda/ldb/ldc.
    /// op(A) is [m×k] (A is [k×m] when `transA`); op(B) is [k×n] (B is [n×k] when `transB`).
    package static func sgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        precondition(k >= 0 && lda >= 1 && ldb >= 1 && ldc >= n, "sgemm: bad dimensions m=\(m) n=\(n) k=\(k)")
        _ = singleThreadedBLAS
        cblas_sgemm(
            CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }

    /// The kernel family OpenBLAS chose when it loaded (e.g. "SkylakeX", "Haswell"; "Prescott", its
    /// SSE3 kernels, when `OPENBLAS_CORETYPE=Prescott` forces them), for test and benchmark logs.
    package static var openBLASCore: String { String(cString: openblas_get_corename()) }

    /// Array convenience for tests and small problems: returns op(A)·op(B) as [m×n].
    package static func multiply(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int,
                                transA: Bool = false, transB: Bool = false) -> [Float] {
        precondition(a.count == m * k && b.count == k * n, "multiply: sizes do not match m=\(m) n=\(n) k=\(k)")
        var c = [Float](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    sgemm(transA: transA, transB: transB, m: m, n: n, k: k,
                          a: pa.baseAddress!, lda: transA ? m : k, b: pb.baseAddress!, ldb: transB ? k : n,
                          c: pc.baseAddress!, ldc: n)
                }
            }
        }
        return c
    }
}

/// Runs once, before the first multiply or `LinearAlgebra` call: OpenBLAS keeps to the calling thread.
let singleThreadedBLAS: Void = openblas_set_num_threads(1)
