// The only file that calls into CKernels.
internal import CKernels

/// The micro-kernel family a `PackedMatrix` multiply runs on; `best` is picked from the CPU at run time.
public enum GEMMVariant: Sendable, CaseIterable, CustomStringConvertible {
    case portable, avx2, avx512

    /// The fastest variant this CPU supports.
    public static let best: GEMMVariant = GEMMVariant(cxr_gemm_best_variant())

    public var isSupported: Bool { cxr_gemm_variant_supported(raw) != 0 }

    public var description: String {
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
public final class PackedMatrix: @unchecked Sendable {
    public let rows: Int
    public let columns: Int
    /// Rows per panel: row ranges given to `multiply` start at a multiple of this.
    public static let panelRows = Int(CXR_GEMM_MR)
    private let base: UnsafeMutablePointer<Float>

    /// Packs A, whose row i starts at `a + i · lda`.
    public init(rows: Int, columns: Int, a: UnsafePointer<Float>, lda: Int) {
        precondition(rows > 0 && columns >= 0 && lda >= columns, "PackedMatrix: bad shape \(rows)x\(columns), lda \(lda)")
        self.rows = rows
        self.columns = columns
        let count = max(cxr_gemm_packed_count(Int64(rows), Int64(columns)), 16)
        base = UnsafeMutableRawPointer.allocate(byteCount: count * 4, alignment: 64).bindMemory(to: Float.self, capacity: count)
        base.initialize(repeating: 0, count: count)
        cxr_gemm_pack_a(Int64(rows), Int64(columns), a, Int64(lda), base)
    }

    /// Packs row-major `values` [rows × columns].
    public convenience init(rows: Int, columns: Int, values: [Float]) {
        precondition(values.count == rows * columns, "PackedMatrix: \(values.count) values for \(rows)x\(columns)")
        self.init(rows: rows, columns: columns, a: values, lda: columns)
    }

    deinit { UnsafeMutableRawPointer(base).deallocate() }

    /// The rows of part `part` of a row split in whole panels (balanced to within one panel).
    public func rowRange(_ part: WorkPart) -> Range<Int> {
        let panels = part.range(of: (rows + Self.panelRows - 1) / Self.panelRows)
        return min(rows, panels.lowerBound * Self.panelRows)..<min(rows, panels.upperBound * Self.panelRows)
    }

    /// C[r, j] = relu?(Σ_k A[r, k] · B[k, j] + bias[r]? + residual[r · ldc + j]?) for r in `rows`,
    /// j in 0..<n; B is row-major [columns × n], and C and the residual are given at row 0.
    public func multiply(rows r: Range<Int>? = nil, n: Int, b: UnsafePointer<Float>, ldb: Int,
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
    public func multiply(depth: Range<Int>, n: Int, b: UnsafePointer<Float>, ldb: Int, c: UnsafeMutablePointer<Float>, ldc: Int,
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
