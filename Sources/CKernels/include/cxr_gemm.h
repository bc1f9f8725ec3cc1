// Single-precision GEMM with a pre-packed left matrix, for inference convolutions.
//
// The weights of an inference convolution never change, so they are packed once (at model load)
// into panels of CXR_GEMM_MR rows; each multiply then reads the right-hand matrix B in place
// (row-major, no packing) and fuses the convolution epilogue (bias per row, residual add, ReLU)
// into its stores. Micro-kernels exist for AVX-512F, AVX2+FMA and plain C; the best one the CPU
// supports is picked at run time, and tests can ask for a specific one.
//
// Thread-safety: every function is reentrant. Several threads may multiply with the same packed
// matrix at once as long as they write disjoint parts of C.
#ifndef CXR_GEMM_H
#define CXR_GEMM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Rows per packed panel. Callers that split M between threads split it at multiples of this.
#define CXR_GEMM_MR 16

typedef enum {
    CXR_GEMM_PORTABLE = 0,
    CXR_GEMM_AVX2 = 1,
    CXR_GEMM_AVX512 = 2,
} cxr_gemm_variant;

/// 1 when this CPU (and this build) can run `variant`, else 0. CXR_GEMM_PORTABLE is always 1.
int cxr_gemm_variant_supported(cxr_gemm_variant variant);

/// The fastest supported variant.
cxr_gemm_variant cxr_gemm_best_variant(void);

/// Floats needed to pack an m×k matrix: ceil(m / CXR_GEMM_MR) panels of k·CXR_GEMM_MR floats.
size_t cxr_gemm_packed_count(int64_t m, int64_t k);

/// Packs row-major A [m×k] (leading dimension lda) into `packed` (cxr_gemm_packed_count floats,
/// caller-owned): panel p holds rows 16p…16p+15 as k groups of 16 consecutive floats (rows past m
/// are zero). Panel p starts at packed + p·16·k, so rows 16p… of the product use that pointer.
void cxr_gemm_pack_a(int64_t m, int64_t k, const float *a, int64_t lda, float *packed);

/// C[m×n] = epilogue(Apacked[m×k] · B[k×n]), row-major B and C (leading dimensions ldb, ldc):
/// c = relu?(Σ a·b + bias[row]? + residual[row·ldr + col]?). `bias` and `residual` may be NULL;
/// `relu` is 0 or 1. k = 0 gives the epilogue of zero. `packed_a` comes from cxr_gemm_pack_a
/// (possibly advanced by whole panels). `variant` must be supported.
void cxr_gemm_packed(cxr_gemm_variant variant, int64_t m, int64_t n, int64_t k,
                     const float *packed_a, const float *b, int64_t ldb, float *c, int64_t ldc,
                     const float *bias, const float *residual, int64_t ldr, int relu);

/// The same over columns k0 ..< k0 + k of a packed A that has `k_total` columns: C[m×n] =
/// epilogue(A[:, k0 ..< k0+k] · B[k×n]), B holding rows k0… of the full B. Lets threads split a
/// product along K, each multiplying only the rows of B it produced.
void cxr_gemm_packed_columns(cxr_gemm_variant variant, int64_t m, int64_t n, int64_t k_total, int64_t k0, int64_t k,
                             const float *packed_a, const float *b, int64_t ldb, float *c, int64_t ldc,
                             const float *bias, const float *residual, int64_t ldr, int relu);

/// Packs op(A) = Aᵀ [m×k], for A stored row-major as [k×m] (leading dimension ldat), into the
/// layout of cxr_gemm_pack_a.
void cxr_gemm_pack_a_transposed(int64_t m, int64_t k, const float *at, int64_t ldat, float *packed);

/// C[m×n] += Apacked[m×k] · B[k×n] (row-major B and C): a product added to what C holds, for
/// gradients summed over the images of a batch.
void cxr_gemm_packed_add(cxr_gemm_variant variant, int64_t m, int64_t n, int64_t k, const float *packed_a,
                         const float *b, int64_t ldb, float *c, int64_t ldc);

/// The transpose of im2col for one image x [channels × h × w]: out [oh·ow × channels·kernel²],
/// row oy·ow + ox holding x[c, oy·stride − padding + ky, ox·stride − padding + kx] at column
/// (c·kernel + ky)·kernel + kx (zero outside the image). It is the right-hand matrix of a weight
/// gradient dW = dY · im2col(x)ᵀ, read in place by the multiply.
void cxr_im2row(const float *x, int64_t channels, int64_t h, int64_t w, int64_t kernel, int64_t stride,
                int64_t padding, float *out);

#ifdef __cplusplus
}
#endif

#endif
