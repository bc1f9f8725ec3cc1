import Testing
import TestSupport
import XRayCore
@testable import Kernels

/// The CKernels micro-kernels against a Double-precision naive product and against OpenBLAS, for
/// every variant this CPU supports, on shapes that are not multiples of any tile.
@Suite struct PackedMatrixTests {
    static let variants = GEMMVariant.allCases.filter(\.isSupported)

    /// (m, n, k): ones, panel and vector edges, K across the blocking size (256), the ResNet shapes.
    static let shapes: [(Int, Int, Int)] = [
        (1, 1, 1), (1, 1, 7), (1, 17, 1), (17, 1, 5), (3, 5, 0), (16, 16, 16), (15, 47, 33), (17, 49, 64),
        (31, 8, 300), (70, 31, 20), (33, 97, 257), (64, 196, 64), (40, 513, 19), (128, 49, 1152), (20, 400, 3),
    ]

    static func naive(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int) -> [Double] {
        var c = [Double](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { c[i * n + j] = (0..<k).reduce(0.0) { $0 + Double(a[i * k + $1]) * Double(b[$1 * n + j]) } } }
        return c
    }

    @Test(arguments: variants)
    func matchesNaiveProductOnAwkwardShapes(variant: GEMMVariant) {
        for (m, n, k) in Self.shapes {
            let a = hashUniform("packed.a.\(m).\(k)", [m * k], -1, 1).scalars
            let b = hashUniform("packed.b.\(k).\(n)", [k * n], -1, 1).scalars
            let packed = PackedMatrix(rows: m, columns: k, values: a)
            var c = [Float](repeating: .nan, count: m * n)
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    packed.multiply(n: n, b: pb.baseAddress!, ldb: n, c: pc.baseAddress!, ldc: n, variant: variant)
                }
            }
            let reference = Self.naive(a, b, m: m, n: n, k: k).map { Float($0) }
            expectClose(c, reference, rtol: 1e-5, atol: 1e-5 * Float(max(k, 1)).squareRoot(), "\(variant) \(m)x\(n)x\(k)")
            if k > 0 {
                expectClose(c, GEMM.multiply(a, b, m: m, n: n, k: k), rtol: 1e-5, atol: 1e-5 * Float(k).squareRoot(),
                            "\(variant) vs OpenBLAS \(m)x\(n)x\(k)")
            }
        }
    }

    /// Leading dimensions wider than n, a row range starting at a later panel, and the fused epilogue;
    /// everything outside the written block must stay as it was.
    @Test(arguments: variants)
    func rowRangesStridesAndEpilogue(variant: GEMMVariant) {
        let (m, n, k, ldb, ldc) = (37, 101, 300, 105, 103)
        let a = hashUniform("packed.epi.a", [m * k], -1, 1).scalars
        let b = hashUniform("packed.epi.b", [k * ldb], -1, 1).scalars
        let bias = hashUniform("packed.epi.bias", [m], -2, 2).scalars
        let residual = hashUniform("packed.epi.res", [m * ldc], -2, 2).scalars
        let packed = PackedMatrix(rows: m, columns: k, values: a)
        var dense = [Float](repeating: 0, count: k * n)
        for p in 0..<k { for j in 0..<n { dense[p * n + j] = b[p * ldb + j] } }
        let product = Self.naive(a, dense, m: m, n: n, k: k)
        let rows = PackedMatrix.panelRows..<m
        for (useBias, useResidual, relu) in [(false, false, false), (true, false, true), (true, true, false), (true, true, true), (false, true, true)] {
            let sentinel: Float = 12345
            var c = [Float](repeating: sentinel, count: m * ldc)
            b.withUnsafeBufferPointer { pb in
                bias.withUnsafeBufferPointer { pbias in
                    residual.withUnsafeBufferPointer { pres in
                        c.withUnsafeMutableBufferPointer { pc in
                            packed.multiply(rows: rows, n: n, b: pb.baseAddress!, ldb: ldb, c: pc.baseAddress!, ldc: ldc,
                                            bias: useBias ? pbias.baseAddress! : nil, residual: useResidual ? pres.baseAddress! : nil,
                                            relu: relu, variant: variant)
                        }
                    }
                }
            }
            var expected = [Float](repeating: sentinel, count: m * ldc)
            for i in rows {
                for j in 0..<n {
                    var x = product[i * n + j]
                    if useBias { x += Double(bias[i]) }
                    if useResidual { x += Double(residual[i * ldc + j]) }
                    expected[i * ldc + j] = Float(relu ? max(x, 0) : x)
                }
            }
            expectClose(c, expected, rtol: 1e-5, atol: 1e-5, "\(variant) bias \(useBias) residual \(useResidual) relu \(relu)")
        }
    }

    /// Splitting a product along K (`multiply(depth:)`, each slice of A's columns times the matching
    /// rows of B) and adding the slices gives the whole product, including empty and 1-column
    /// slices, slices across K blocks (256) and a B with a row stride.
    @Test(arguments: variants)
    func depthSlicesAddUpToTheProduct(variant: GEMMVariant) {
        let (m, n, k, ldb) = (35, 49, 600, 53)
        let a = hashUniform("packed.depth.a", [m * k], -1, 1).scalars
        let b = hashUniform("packed.depth.b", [k * ldb], -1, 1).scalars
        let packed = PackedMatrix(rows: m, columns: k, values: a)
        var dense = [Float](repeating: 0, count: k * n)
        for p in 0..<k { for j in 0..<n { dense[p * n + j] = b[p * ldb + j] } }
        let product = Self.naive(a, dense, m: m, n: n, k: k)
        for cuts in [[0, 300, 600], [0, 0, 1, 257, 600], [0, 599, 600]] {
            var sum = [Double](repeating: 0, count: m * n)
            for (lo, hi) in zip(cuts, cuts.dropFirst()) {
                var c = [Float](repeating: .nan, count: m * n)
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        packed.multiply(depth: lo..<hi, n: n, b: pb.baseAddress! + lo * ldb, ldb: ldb, c: pc.baseAddress!, ldc: n,
                                        variant: variant)
                    }
                }
                #expect(c.allSatisfy { $0.isFinite }, "\(variant) slice \(lo)..<\(hi) left values unwritten")
                for i in 0..<(m * n) { sum[i] += Double(c[i]) }
            }
            expectClose(sum.map { Float($0) }, product.map { Float($0) }, rtol: 1e-5, atol: 1e-4, "\(variant) cuts \(cuts)")
        }
    }

    @Test func rowRangesSplitAtPanels() {
        let packed = PackedMatrix(rows: 70, columns: 3, values: [Float](repeating: 1, count: 210))
        let parts = (0..<3).map { packed.rowRange(WorkPart(index: $0, count: 3)) }
        #expect(parts == [0..<32, 32..<64, 64..<70])
        #expect(PackedMatrix(rows: 5, columns: 1, values: [1, 2, 3, 4, 5]).rowRange(WorkPart(index: 1, count: 2)).isEmpty)
    }

    @Test func portableIsAlwaysSupportedAndBestIsSupported() {
        #expect(GEMMVariant.portable.isSupported)
        #expect(GEMMVariant.best.isSupported)
    }
}
