// Calls into CKernels' AVX-512 Winograd transforms.
internal import CKernels

extension Winograd {
    /// Which code runs the F(4×4) input and output transforms: the Swift SIMD4 code in Winograd.swift,
    /// or CKernels' AVX-512F version (16 tiles per vector), which gives the same results.
    enum Transforms: Sendable, Equatable, CaseIterable {
        case swift, avx512

        /// AVX-512F where the CPU has it, unless `CXR_KERNEL` forces a narrower GEMM family.
        static let best: Transforms = cxr_winograd_supported() != 0 && GEMMVariant.best == .avx512 ? .avx512 : .swift

        var isSupported: Bool { self == .swift || cxr_winograd_supported() != 0 }
    }

    static func transformInputAVX512(_ src: UnsafeMutablePointer<Float>, height h: Int, width w: Int, tilesY: Int, tilesX: Int,
                                     into dst: UnsafeMutablePointer<Float>, positionStride: Int) {
        cxr_winograd_input_4x4(src, Int64(h), Int64(w), Int64(tilesY), Int64(tilesX), dst, Int64(positionStride))
    }

    static func transformOutputAVX512(_ m: UnsafeMutablePointer<Float>, positionStride: Int, tilesY: Int, tilesX: Int,
                                      into out: UnsafeMutablePointer<Float>, height h: Int, width w: Int,
                                      bias: Float, residual: UnsafePointer<Float>?, relu: Bool) {
        cxr_winograd_output_4x4(m, Int64(positionStride), Int64(tilesY), Int64(tilesX), out, Int64(h), Int64(w),
                                bias, residual, relu ? 1 : 0)
    }

    /// `transformInputAVX512` for the tiles `tiles` only (numbered row by row), tile t at column t − tiles.lowerBound.
    static func transformInputTilesAVX512(_ src: UnsafeMutablePointer<Float>, height h: Int, width w: Int, tilesX: Int, tiles: Range<Int>,
                                          into dst: UnsafeMutablePointer<Float>, positionStride: Int) {
        cxr_winograd_input_4x4_tiles(src, Int64(h), Int64(w), Int64(tilesX), Int64(tiles.lowerBound), Int64(tiles.upperBound), dst,
                                     Int64(positionStride))
    }

    /// `transformOutputAVX512` for the tiles `tiles` only, tile t read from column t − tiles.lowerBound of M.
    static func transformOutputTilesAVX512(_ m: UnsafeMutablePointer<Float>, positionStride: Int, tilesX: Int, tiles: Range<Int>,
                                           into out: UnsafeMutablePointer<Float>, height h: Int, width w: Int,
                                           bias: Float, residual: UnsafePointer<Float>?, relu: Bool) {
        cxr_winograd_output_4x4_tiles(m, Int64(positionStride), Int64(tilesX), Int64(tiles.lowerBound), Int64(tiles.upperBound), out,
                                      Int64(h), Int64(w), bias, residual, relu ? 1 : 0)
    }
}
