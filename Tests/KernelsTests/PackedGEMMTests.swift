import Testing
import TestSupport
import XRayCore
@testable import Kernels

/// The training products on the CKernels micro-kernels (`PackedGEMM`): every transpose combination
/// and the accumulating multiply, for every variant this CPU supports, against a Double-precision
/// naive product and against OpenBLAS; and im2col's transpose against im2col.
@Suite struct PackedGEMMTests {
    static let variants = GEMMVariant.allCases.filter(\.isSupported)

    /// (m, n, k) around panel (16), vector (8/16) and blocking (256, 384) edges, and ResNet-like shapes.
    static let shapes: [(Int, Int, Int)] = [
        (1, 1, 1), (3, 17, 5), (17, 1, 33), (16, 48, 16), (33, 97, 257), (64, 147, 300), (5, 400, 49), (70, 390, 20),
    ]

    /// op(A)·op(B) in Double from the stored (possibly transposed) arrays.
    static func naive(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int, transA: Bool, transB: Bool) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    s += Double(transA ? a[p * m + i] : a[i * k + p]) * Double(transB ? b[j * k + p] : b[p * n + j])
                }
                c[i * n + j] = Float(s)
            }
        }
        return c
    }

    @Test(arguments: variants)
    func everyTransposeMatchesReferences(variant: GEMMVariant) {
        for (m, n, k) in Self.shapes {
            for (transA, transB) in [(false, false), (true, false), (false, true), (true, true)] {
                let a = hashUniform("pgemm.a.\(m).\(k)", [m * k], -1, 1).scalars
                let b = hashUniform("pgemm.b.\(k).\(n)", [k * n], -1, 1).scalars
                let c = PackedGEMM.multiply(a, b, m: m, n: n, k: k, transA: transA, transB: transB, variant: variant)
                let tol = 1e-5 * Float(k).squareRoot()
                let label = "\(variant) \(m)x\(n)x\(k) transA \(transA) transB \(transB)"
                expectClose(c, Self.naive(a, b, m: m, n: n, k: k, transA: transA, transB: transB), rtol: 1e-5, atol: tol, label)
                expectClose(c, GEMM.multiply(a, b, m: m, n: n, k: k, transA: transA, transB: transB), rtol: 1e-5, atol: tol,
                            "\(label) vs OpenBLAS")
            }
        }
    }

    /// `accumulate` adds the product to C, across K blocks, and leaves C's padding columns alone.
    @Test(arguments: variants)
    func accumulateAddsToC(variant: GEMMVariant) {
        let (m, n, k, ldc) = (37, 101, 600, 105)
        let a = hashUniform("pgemm.acc.a", [m * k], -1, 1).scalars
        let b = hashUniform("pgemm.acc.b", [k * n], -1, 1).scalars
        let start = hashUniform("pgemm.acc.c", [m * ldc], -3, 3).scalars
        let product = Self.naive(a, b, m: m, n: n, k: k, transA: false, transB: false)
        var packed = [Float](repeating: 0, count: PackedGEMM.packedCount(rows: m, depth: k))
        var c = start
        a.withUnsafeBufferPointer { pa in
            packed.withUnsafeMutableBufferPointer { pp in
                PackedGEMM.pack(rows: m, depth: k, a: pa.baseAddress!, lda: k, transposed: false, into: pp.baseAddress!)
            }
        }
        packed.withUnsafeBufferPointer { pp in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    PackedGEMM.multiply(rows: m, n: n, depth: k, packed: pp.baseAddress!, b: pb.baseAddress!, ldb: n,
                                        c: pc.baseAddress!, ldc: ldc, accumulate: true, variant: variant)
                }
            }
        }
        for i in 0..<m {
            for j in 0..<ldc {
                let expected = j < n ? start[i * ldc + j] + product[i * n + j] : start[i * ldc + j]
                #expect(abs(c[i * ldc + j] - expected) <= 1e-4 * max(1, abs(expected)), "\(variant) C[\(i), \(j)]")
            }
        }
    }

    /// Row r of im2row is column r of im2col, for the stem, 3x3 and strided 1x1 geometries.
    @Test func im2rowIsTheTransposeOfIm2col() {
        let cases: [(ConvGeometry, Int, Int)] = [
            (ConvGeometry(inChannels: 3, outChannels: 8, kernel: 7, stride: 2, padding: 3), 23, 19),
            (ConvGeometry(inChannels: 5, outChannels: 4, kernel: 3, stride: 1, padding: 1), 9, 11),
            (ConvGeometry(inChannels: 6, outChannels: 4, kernel: 3, stride: 2, padding: 1), 10, 7),
            (ConvGeometry(inChannels: 4, outChannels: 8, kernel: 1, stride: 2, padding: 0), 9, 8),
            (ConvGeometry(inChannels: 2, outChannels: 2, kernel: 1, stride: 1, padding: 0), 3, 5),
        ]
        for (g, h, w) in cases {
            var image = hashUniform("im2row.\(g.kernelHeight).\(g.stride).\(h)", [g.inChannels * h * w], -1, 1).scalars
            let col = Im2Col.matrix(image, channels: g.inChannels, height: h, width: w, geometry: g)
            let n = g.outputHeight(h) * g.outputWidth(w), k = g.patchSize
            var rows = [Float](repeating: .nan, count: n * k)
            image.withUnsafeMutableBufferPointer { src in
                rows.withUnsafeMutableBufferPointer { dst in
                    Im2Col.rows(FeatureMap(base: src.baseAddress!, channels: g.inChannels, height: h, width: w), geometry: g,
                                into: dst.baseAddress!)
                }
            }
            var transposed = [Float](repeating: 0, count: n * k)
            for r in 0..<k { for j in 0..<n { transposed[j * k + r] = col[r * n + j] } }
            #expect(rows == transposed, "im2row \(g) on \(h)x\(w)")
        }
    }
}
