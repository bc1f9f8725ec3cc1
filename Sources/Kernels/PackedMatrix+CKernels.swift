// The only file that calls into CKernels' GEMM.
internal import CKernels
import Foundation

/// The micro-kernel family a `PackedMatrix` multiply runs on; `best` is picked from the CPU at run time.
package enum GEMMVariant: Sendable, CaseIterable, CustomStringConvertible {
    case portable, avx2, avx512

    /// The variant every multiply uses unless told otherwise: the fastest this CPU supports, or the
    /// one the environment variable `CXR_KERNEL` (`portable`, `avx2` or `avx512`) forces, so that
    /// the numerical tests can run on the slowest portable kernels as well as the fastest. A forced
    /// variant this CPU cannot run stops the process with a message saying so.
    package static let best: GEMMVariant = {
        let detected = GEMMVariant(cxr_gemm_best_variant())
        guard let name = ProcessInfo.processInfo.environment["CXR_KERNEL"], !name.isEmpty else { return detected }
        guard let forced = allCases.first(where: { $0.environmentName == name }) else {
            fatalError("CXR_KERNEL=\(name) is not a kernel family; use portable, avx2 or avx512, or unset it.")
        }
        guard forced.isSupported else {
            fatalError("CXR_KERNEL=\(name): this CPU cannot run the \(forced) kernels (best here: \(detected.environmentName)).")
        }
        return forced
    }()

    /// The name `CXR_KERNEL` takes for this variant.
    package var environmentName: String {
        switch self {
        case .portable: return "portable"
        case .avx2: return "avx2"
        case .avx512: return "avx512"
        }
    }

    package var isSupported: Bool { cxr_gemm_variant_supported(raw) != 0 }

    package var description: String {
        switch self {
        case .portable: return "portable C"
        case .avx2: return "AVX2+FMA"
        case .avx512: return "AVX-512F"
        }
    }

    var raw: cxr_gemm_variant {
        switch self {
        case .portable: return CXR_GEMM_PORTABLE
        case .avx2: return CXR_GEMM_AVX2
        case .avx512: return CXR_GEMM_AVX512
        }
    }

    init(_ raw: cxr_gemm_variant) {
        switch raw {
        case CXR_GEMM_AVX512: self = .avx512
        case CXR_GEMM_AVX2: self = .avx2
        default: self = .portable
        }
    }
}

/// A constant row-major matrix A [rows × columns] (an inference convolution's weights), packed once
/// into the panel layout of the CKernels micro-kernels so that every multiply reads it as it is.
///
/// Immutable after `init`; any number of threads may multiply with it at once, writing disjoint
/// parts of their outputs.
package final class PackedMatrix: @unchecked Sendable {
    package let rows: Int
    package let columns: Int
    /// Rows per panel: row ranges given to `multiply` start at a multiple of this.
    package static let panelRows = Int(CXR_GEMM_MR)
    /// The packed panels; written only by `init` and, between steps of a training run, by `WinogradWeights.load`.
    let base: UnsafeMutablePointer<Float>

    /// Packs A, whose row i starts at `a + i · lda`.
    package init(rows: Int, columns: Int, a: UnsafePointer<Float>, lda: Int) {
        precondition(rows > 0 && columns >= 0 && lda >= columns, "PackedMatrix: bad shape \(rows)x\(columns), lda \(lda)")
        self.rows = rows
        self.columns = columns
        let count = max(cxr_gemm_packed_count(Int64(rows), Int64(columns)), 16)
        base = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64).bindMemory(to: Float.self, capacity: count)
        base.initialize(repeating: 0, count: count)
        cxr_gemm_pack_a(Int64(rows), Int64(columns), a, Int64(lda), base)
    }

    /// Zeroed storage of a rows × columns packed matrix, for a caller that packs into `base` itself.
    init(rows: Int, columns: Int) {
        precondition(rows > 0 && columns >= 0, "PackedMatrix: bad shape \(rows)x\(columns)")
        self.rows = rows
        self.columns = columns
        let count = max(cxr_gemm_packed_count(Int64(rows), Int64(columns)), 16)
        base = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64).bindMemory(to: Float.self, capacity: count)
        base.initialize(repeating: 0, count: count)
    }

    /// Packs row-major `values` [rows × columns].
    package convenience init(rows: Int, columns: Int, values: [Float]) {
        precondition(values.count == rows * columns, "PackedMatrix: \(values.count) values for \(rows)x\(columns)")
        self.init(rows: rows, columns: columns, a: values, lda: columns)
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }

    /// The rows of part `part` of a row split in whole panels (balanced to within one panel).
    package func rowRange(_ part: WorkPart) -> Range<Int> {
        let panels = part.range(of: (rows + Self.panelRows - 1) / Self.panelRows)
        return min(rows, panels.lowerBound * Self.panelRows)..<min(rows, panels.upperBound * Self.panelRows)
    }

    /// C[r, j] = relu?(Σ_k A[r, k] · B[k, j] + bias[r]? + residual[r · ldc + j]?) for r in `rows`,
    /// j in 0..<n; B is row-major [columns × n], and C and the residual are given at row 0.
    package func multiply(rows r: Range<Int>? = nil, n: Int, b: UnsafePointer<Float>, ldb: Int,
                         c: UnsafeMutablePointer<Float>, ldc: Int,
                         bias: UnsafePointer<Float>? = nil, residual: UnsafePointer<Float>? = nil, relu: Bool = false,
                         variant: GEMMVariant = .best) {
        let r = r ?? 0..<rows
        precondition(r.isEmpty || (r.lowerBound % Self.panelRows == 0 && r.lowerBound >= 0 && r.upperBound <= rows),
                     "PackedMatrix: rows \(r) must start at a panel and lie in 0..<\(rows)")
        checkOperands(n: n, ldb: ldb, ldc: ldc, variant: variant)
        guard !r.isEmpty, n > 0 else { return }
        let first = r.lowerBound
        cxr_gemm_packed(variant.raw, Int64(r.count), Int64(n), Int64(columns), base + first * columns, b, Int64(ldb),
                        c + first * ldc, Int64(ldc), bias.map { $0 + first }, residual.map { $0 + first * ldc },
                        Int64(ldc), relu ? 1 : 0)
    }

    /// C[r, j] = Σ_{k ∈ depth} A[r, k] · B[k − depth.lowerBound, j] for every row r: the product of
    /// columns `depth` of A with the matching rows of B (row-major [depth.count × n], rows `ldb`
    /// apart), for splitting one product along K between threads. Any epilogue is left to the
    /// caller, which adds the partial products.
    package func multiply(depth: Range<Int>, n: Int, b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                         variant: GEMMVariant = .best) {
        precondition(depth.lowerBound >= 0 && depth.upperBound <= columns, "PackedMatrix: depth \(depth) outside 0..<\(columns)")
        checkOperands(n: n, ldb: ldb, ldc: ldc, variant: variant)
        guard n > 0 else { return }
        cxr_gemm_packed_columns(variant.raw, Int64(rows), Int64(n), Int64(columns), Int64(depth.lowerBound), Int64(depth.count),
                                base, b, Int64(ldb), c, Int64(ldc), nil, nil, Int64(ldc), 0)
    }

    /// The checks both multiplies make on B, C and the kernel variant.
    private func checkOperands(n: Int, ldb: Int, ldc: Int, variant: GEMMVariant) {
        precondition(n >= 0 && ldb >= n && ldc >= n, "PackedMatrix: bad n \(n), ldb \(ldb), ldc \(ldc)")
        precondition(variant.isSupported, "PackedMatrix: this CPU cannot run the \(variant) kernels")
    }
}

/// Products whose left matrix changes every call (a training convolution's weights, which Adam
/// updates each step, or an output gradient): packed into caller-owned memory, then multiplied on
/// the same micro-kernels as `PackedMatrix`.
package enum PackedGEMM {
    /// Floats `pack` writes for an op(A) of `rows` × `depth`.
    package static func packedCount(rows: Int, depth: Int) -> Int {
        max(cxr_gemm_packed_count(Int64(rows), Int64(depth)), 16)
    }

    /// Packs op(A) [rows × depth] into `packed` (`packedCount` floats): A row-major with rows `lda`
    /// apart, or, when `transposed`, A stored as [depth × rows] (so op(A) = Aᵀ).
    package static func pack(rows m: Int, depth k: Int, a: UnsafePointer<Float>, lda: Int, transposed: Bool,
                            into packed: UnsafeMutablePointer<Float>) {
        precondition(m > 0 && k >= 0 && lda >= (transposed ? m : k), "PackedGEMM.pack: bad shape \(m)x\(k), lda \(lda)")
        if transposed {
            cxr_gemm_pack_a_transposed(Int64(m), Int64(k), a, Int64(lda), packed)
        } else {
            cxr_gemm_pack_a(Int64(m), Int64(k), a, Int64(lda), packed)
        }
    }

    /// C[m×n] = A·B, or C += A·B when `accumulate`, for A packed by `pack` and B row-major [k×n].
    package static func multiply(rows m: Int, n: Int, depth k: Int, packed: UnsafePointer<Float>,
                                b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
                                accumulate: Bool = false, variant: GEMMVariant = .best) {
        precondition(m >= 0 && n >= 0 && k >= 0 && ldb >= n && ldc >= n, "PackedGEMM: bad m \(m) n \(n) k \(k) ldb \(ldb) ldc \(ldc)")
        precondition(variant.isSupported, "PackedGEMM: this CPU cannot run the \(variant) kernels")
        guard m > 0, n > 0 else { return }
        if accumulate {
            cxr_gemm_packed_add(variant.raw, Int64(m), Int64(n), Int64(k), packed, b, Int64(ldb), c, Int64(ldc))
        } else {
            cxr_gemm_packed(variant.raw, Int64(m), Int64(n), Int64(k), packed, b, Int64(ldb), c, Int64(ldc), nil, nil, Int64(ldc), 0)
        }
    }

    /// op(A)·op(B) [m×n] for row-major arrays: A is [m×k] ([k×m] when `transA`), B is [k×n]
    /// ([n×k] when `transB`). For small products (the classifier head); allocates its packing.
    package static func multiply(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int,
                                transA: Bool = false, transB: Bool = false, variant: GEMMVariant = .best) -> [Float] {
        precondition(a.count == m * k && b.count == k * n, "multiply: sizes do not match m=\(m) n=\(n) k=\(k)")
        var c = [Float](repeating: 0, count: m * n)
        guard m > 0, n > 0 else { return c }
        // B row-major [k×n] as the kernels read it.
        let rowMajorB: [Float]
        if transB {
            var t = [Float](repeating: 0, count: k * n)
            for j in 0..<n { for p in 0..<k { t[p * n + j] = b[j * k + p] } }
            rowMajorB = t
        } else {
            rowMajorB = b
        }
        var packed = [Float](repeating: 0, count: packedCount(rows: m, depth: k))
        a.withUnsafeBufferPointer { pa in
            packed.withUnsafeMutableBufferPointer { pp in
                pack(rows: m, depth: k, a: pa.baseAddress!, lda: transA ? m : k, transposed: transA, into: pp.baseAddress!)
            }
        }
        packed.withUnsafeBufferPointer { pp in
            rowMajorB.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    multiply(rows: m, n: n, depth: k, packed: pp.baseAddress!, b: pb.baseAddress!, ldb: n,
                             c: pc.baseAddress!, ldc: n, variant: variant)
                }
            }
        }
        return c
    }
}

extension Im2Col {
    /// im2col's transpose for one image: [outH·outW × Cin·kh·kw], row oy·outW + ox holding the
    /// patch of output pixel (oy, ox) in im2col's row order (square kernels only).
    package static func rows(_ image: FeatureMap, geometry g: ConvGeometry, into out: UnsafeMutablePointer<Float>) {
        precondition(g.kernelHeight == g.kernelWidth && image.channels == g.inChannels && image.images == 1,
                     "im2row: \(image.channels) channels for \(g)")
        cxr_im2row(image.base, Int64(image.channels), Int64(image.height), Int64(image.width), Int64(g.kernelHeight),
                   Int64(g.stride), Int64(g.padding), out)
    }
}
