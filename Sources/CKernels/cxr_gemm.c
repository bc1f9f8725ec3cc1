// Packed-A sgemm micro-kernels: see include/cxr_gemm.h.
//
// C is computed in blocks of R rows × V vectors of columns, vectorised along the columns (the
// contiguous dimension of B and C): for each k, V vectors of B's row k are loaded once and each of
// the R packed A values is broadcast against them. Column remainders use masked loads and stores,
// so B and C are never read or written past column n. K is cut into blocks of KC (partial sums go
// through C) and the columns into chunks of NC, so a chunk of B stays in the L2 cache while every
// panel of A passes over it. The ISA-specific code is compiled with per-function target attributes
// only, so the package builds for any x86-64 (or other) CPU and picks the variant at run time.
#include "cxr_gemm.h"

#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define CXR_X86 1
#include <immintrin.h>
#endif

#define MR CXR_GEMM_MR
enum { KC = 256, NC = 384 };

typedef struct {
    const float *bias;      // at the block's first row, or NULL
    const float *residual;  // at the block's first element, or NULL
    int64_t ldr;
    int relu;
} epilogue;

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/// The epilogue of the block that starts `rows` rows and `columns` columns further on.
static inline epilogue offset(epilogue ep, int64_t rows, int64_t columns) {
    if (ep.bias) ep.bias += rows;
    if (ep.residual) ep.residual += rows * ep.ldr + columns;
    return ep;
}

// MARK: - Portable

static void block_portable(int rows, int64_t n, int64_t kc, const float *a, const float *b, int64_t ldb,
                           float *c, int64_t ldc, int first, int last, epilogue ep) {
    float acc[MR];
    for (int64_t j = 0; j < n; j++) {
        for (int r = 0; r < rows; r++) acc[r] = first ? 0.0f : c[r * ldc + j];
        for (int64_t p = 0; p < kc; p++) {
            float bv = b[p * ldb + j];
            const float *ap = a + p * MR;
            for (int r = 0; r < rows; r++) acc[r] += ap[r] * bv;
        }
        for (int r = 0; r < rows; r++) {
            float v = acc[r];
            if (last) {
                if (ep.bias) v += ep.bias[r];
                if (ep.residual) v += ep.residual[r * ep.ldr + j];
                if (ep.relu && v < 0) v = 0;
            }
            c[r * ldc + j] = v;
        }
    }
}

#ifdef CXR_X86

// MARK: - AVX-512F

#define AVX512 __attribute__((target("avx512f,fma")))
#define INLINE static inline __attribute__((always_inline))

/// C[R rows × V·16 columns] (the last vector masked by `mask`) from A rows r0… of a panel. One
/// function per (R, V), so the accumulators are fixed-size arrays the compiler keeps in registers.
#define KERNEL512(R, V)                                                                                    \
    static AVX512 void kernel512_##R##x##V(int r0, int rows, int64_t kc, const float *a, const float *b,   \
                                           int64_t ldb, float *c, int64_t ldc, __mmask16 mask, int first,   \
                                           int last, epilogue ep) {                                         \
        __m512 acc[R][V];                                                                                  \
        for (int r = 0; r < R; r++)                                                                        \
            for (int v = 0; v < V; v++) {                                                                  \
                __mmask16 mv = v == V - 1 ? mask : 0xFFFF;                                                 \
                acc[r][v] = (first || r >= rows) ? _mm512_setzero_ps()                                     \
                                                 : _mm512_maskz_loadu_ps(mv, c + r * ldc + 16 * v);        \
            }                                                                                              \
        a += r0;                                                                                           \
        for (int64_t p = 0; p < kc; p++) {                                                                 \
            __m512 bv[V];                                                                                  \
            for (int v = 0; v < V; v++)                                                                    \
                bv[v] = v == V - 1 ? _mm512_maskz_loadu_ps(mask, b + 16 * v) : _mm512_loadu_ps(b + 16 * v); \
            for (int r = 0; r < R; r++) {                                                                  \
                __m512 av = _mm512_set1_ps(a[r]);                                                          \
                for (int v = 0; v < V; v++) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);             \
            }                                                                                              \
            a += MR;                                                                                       \
            b += ldb;                                                                                      \
        }                                                                                                  \
        for (int r = 0; r < R && r < rows; r++) {                                                          \
            __m512 bias = (last && ep.bias) ? _mm512_set1_ps(ep.bias[r]) : _mm512_setzero_ps();            \
            for (int v = 0; v < V; v++) {                                                                  \
                __mmask16 mv = v == V - 1 ? mask : 0xFFFF;                                                 \
                __m512 x = acc[r][v];                                                                      \
                if (last) {                                                                                \
                    x = _mm512_add_ps(x, bias);                                                            \
                    if (ep.residual)                                                                       \
                        x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mv, ep.residual + r * ep.ldr + 16 * v)); \
                    if (ep.relu) x = _mm512_max_ps(x, _mm512_setzero_ps());                                \
                }                                                                                          \
                _mm512_mask_storeu_ps(c + r * ldc + 16 * v, mv, x);                                        \
            }                                                                                              \
        }                                                                                                  \
    }

KERNEL512(8, 1)
KERNEL512(8, 2)
KERNEL512(8, 3)

/// Rows r0 … r0+R−1 of one panel (rows counts valid rows from r0), all n columns.
/// The columns left after the whole vectors, vectorised along M instead: C[H·16 rows × J columns]
/// from H panels (`ps` floats apart), one accumulator per (panel, column), each FMA doing 16 rows
/// of one column, so a 49-column product costs 49 columns of work, not 64. The accumulators are
/// transposed through a small buffer into C's rows, where the epilogue is applied.
#define KERNELM(H, J)                                                                                      \
    static AVX512 void kernelm_##H##x##J(int64_t rows, int64_t kc, const float *a, int64_t ps,            \
                                         const float *b, int64_t ldb, float *c, int64_t ldc, int first,    \
                                         int last, epilogue ep) {                                          \
        __m512 acc[H][J];                                                                                  \
        for (int h = 0; h < H; h++)                                                                        \
            for (int j = 0; j < J; j++) acc[h][j] = _mm512_setzero_ps();                                   \
        for (int64_t p = 0; p < kc; p++) {                                                                 \
            __m512 av[H];                                                                                  \
            for (int h = 0; h < H; h++) av[h] = _mm512_loadu_ps(a + h * ps + p * MR);                      \
            for (int j = 0; j < J; j++) {                                                                  \
                __m512 bj = _mm512_set1_ps(b[j]);                                                          \
                for (int h = 0; h < H; h++) acc[h][j] = _mm512_fmadd_ps(av[h], bj, acc[h][j]);             \
            }                                                                                              \
            b += ldb;                                                                                      \
        }                                                                                                  \
        float tmp[H][J][16] __attribute__((aligned(64)));                                                  \
        for (int h = 0; h < H; h++)                                                                        \
            for (int j = 0; j < J; j++) _mm512_store_ps(tmp[h][j], acc[h][j]);                             \
        store_columns(&tmp[0][0][0], H, J, rows, c, ldc, first, last, ep);                                \
    }

/// Writes C[row, j] (row < rows, j < columns) from buf[(row / 16)·columns·16 + j·16 + row % 16].
static void store_columns(const float *buf, int panels, int columns, int64_t rows, float *c, int64_t ldc,
                          int first, int last, epilogue ep) {
    for (int64_t row = 0; row < rows && row < 16 * panels; row++) {
        const float *src = buf + (row / 16) * columns * 16 + row % 16;
        float *dst = c + row * ldc;
        float bias = (last && ep.bias) ? ep.bias[row] : 0.0f;
        const float *res = (last && ep.residual) ? ep.residual + row * ep.ldr : NULL;
        for (int j = 0; j < columns; j++) {
            float x = src[16 * j];
            if (!first) x += dst[j];
            if (last) {
                x += bias;
                if (res) x += res[j];
                if (ep.relu && x < 0) x = 0;
            }
            dst[j] = x;
        }
    }
}

#define KERNELM_H(H) KERNELM(H, 1) KERNELM(H, 2) KERNELM(H, 3) KERNELM(H, 4) KERNELM(H, 5) KERNELM(H, 6)
KERNELM_H(1)
KERNELM_H(2)
KERNELM_H(3)
KERNELM_H(4)

typedef void (*kernelm_fn)(int64_t, int64_t, const float *, int64_t, const float *, int64_t, float *, int64_t, int, int,
                           epilogue);
#define KERNELM_ROW(H) {kernelm_##H##x1, kernelm_##H##x2, kernelm_##H##x3, kernelm_##H##x4, kernelm_##H##x5, kernelm_##H##x6}
static const kernelm_fn kernelm[4][6] = {KERNELM_ROW(1), KERNELM_ROW(2), KERNELM_ROW(3), KERNELM_ROW(4)};

/// Rows 0…m−1 (panels `ps` floats apart in `a`): whole 16-column vectors by the row kernels
/// (48 columns at a time, two halves of 8 rows per panel: 24 accumulators, 3 loads of B and 8
/// broadcasts of A per 24 FMAs), the last n mod 16 columns by the column kernels, 4 panels at a time.
static AVX512 void rows_avx512(int64_t m, int64_t n, int64_t kc, const float *a, int64_t ps, const float *b,
                               int64_t ldb, float *c, int64_t ldc, int first, int last, epilogue ep) {
    int64_t whole = n & ~(int64_t)15;
    for (int64_t p0 = 0; p0 < m; p0 += MR) {
        const float *ap = a + (p0 / MR) * ps;
        for (int r0 = 0; r0 < MR && p0 + r0 < m; r0 += 8) {
            int valid = (int)min64(8, m - p0 - r0);
            float *cr = c + (p0 + r0) * ldc;
            epilogue er = offset(ep, p0 + r0, 0);
            int64_t j = 0;
            for (; j + 48 <= whole; j += 48)
                kernel512_8x3(r0, valid, kc, ap, b + j, ldb, cr + j, ldc, 0xFFFF, first, last, offset(er, 0, j));
            if (whole - j == 32) kernel512_8x2(r0, valid, kc, ap, b + j, ldb, cr + j, ldc, 0xFFFF, first, last, offset(er, 0, j));
            if (whole - j == 16) kernel512_8x1(r0, valid, kc, ap, b + j, ldb, cr + j, ldc, 0xFFFF, first, last, offset(er, 0, j));
        }
    }
    if (whole == n) return;
    int64_t panels = (m + MR - 1) / MR;
    for (int64_t g = 0; g < panels; g += 4) {
        int h = (int)min64(4, panels - g);
        for (int64_t j = whole; j < n; j += 6) {
            int columns = (int)min64(6, n - j);
            kernelm[h - 1][columns - 1](m - g * MR, kc, a + g * ps, ps, b + j, ldb, c + g * MR * ldc + j, ldc, first, last,
                                        offset(ep, g * MR, j));
        }
    }
}

// MARK: - AVX2 + FMA

#define AVX2 __attribute__((target("avx2,fma")))

INLINE AVX2 __m256i mask256(int count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/// C[R rows × V·8 columns]; the last vector keeps `last_count` (1…8) lanes.
INLINE AVX2 void kernel256(const int R, const int V, int r0, int rows, int64_t kc, const float *a,
                           const float *b, int64_t ldb, float *c, int64_t ldc, int last_count,
                           int first, int last, epilogue ep) {
    __m256i mask = mask256(last_count);
    int full = last_count == 8;
    __m256 acc[R][V];
    for (int r = 0; r < R; r++)
        for (int v = 0; v < V; v++) {
            const float *src = c + r * ldc + 8 * v;
            acc[r][v] = (first || r >= rows) ? _mm256_setzero_ps()
                      : (v == V - 1 && !full) ? _mm256_maskload_ps(src, mask) : _mm256_loadu_ps(src);
        }
    a += r0;
    for (int64_t p = 0; p < kc; p++) {
        __m256 bv[V];
        for (int v = 0; v < V; v++)
            bv[v] = (v == V - 1 && !full) ? _mm256_maskload_ps(b + 8 * v, mask) : _mm256_loadu_ps(b + 8 * v);
        for (int r = 0; r < R; r++) {
            __m256 av = _mm256_broadcast_ss(a + r);
            for (int v = 0; v < V; v++) acc[r][v] = _mm256_fmadd_ps(av, bv[v], acc[r][v]);
        }
        a += MR;
        b += ldb;
    }
    for (int r = 0; r < R; r++) {
        if (r >= rows) break;
        __m256 bias = (last && ep.bias) ? _mm256_set1_ps(ep.bias[r]) : _mm256_setzero_ps();
        for (int v = 0; v < V; v++) {
            int partial = v == V - 1 && !full;
            __m256 x = acc[r][v];
            if (last) {
                x = _mm256_add_ps(x, bias);
                if (ep.residual) {
                    const float *res = ep.residual + r * ep.ldr + 8 * v;
                    x = _mm256_add_ps(x, partial ? _mm256_maskload_ps(res, mask) : _mm256_loadu_ps(res));
                }
                if (ep.relu) x = _mm256_max_ps(x, _mm256_setzero_ps());
            }
            if (partial) _mm256_maskstore_ps(c + r * ldc + 8 * v, mask, x);
            else _mm256_storeu_ps(c + r * ldc + 8 * v, x);
        }
    }
}

static AVX2 void block_avx2(int rows, int64_t n, int64_t kc, const float *a, const float *b, int64_t ldb,
                            float *c, int64_t ldc, int first, int last, epilogue ep) {
    // Four rows × 24 columns: 12 accumulators, 3 loads of B and 4 broadcasts per 12 FMAs.
    for (int r0 = 0; r0 < rows; r0 += 4) {
        int valid = rows - r0;
        float *cr = c + r0 * ldc;
        int64_t j = 0;
        for (; j + 24 <= n; j += 24)
            kernel256(4, 3, r0, valid, kc, a, b + j, ldb, cr + j, ldc, 8, first, last, offset(ep, r0, j));
        int64_t rest = n - j;
        if (rest == 0) continue;
        int vectors = (int)((rest + 7) / 8), count = (int)(rest - 8 * (vectors - 1));
        epilogue part = offset(ep, r0, j);
        switch (vectors) {
        case 1: kernel256(4, 1, r0, valid, kc, a, b + j, ldb, cr + j, ldc, count, first, last, part); break;
        case 2: kernel256(4, 2, r0, valid, kc, a, b + j, ldb, cr + j, ldc, count, first, last, part); break;
        default: kernel256(4, 3, r0, valid, kc, a, b + j, ldb, cr + j, ldc, count, first, last, part); break;
        }
    }
}

#endif  // CXR_X86

// MARK: - Dispatch and driver

int cxr_gemm_variant_supported(cxr_gemm_variant variant) {
    switch (variant) {
    case CXR_GEMM_PORTABLE: return 1;
#ifdef CXR_X86
    case CXR_GEMM_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case CXR_GEMM_AVX512: return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("fma");
#endif
    default: return 0;
    }
}

cxr_gemm_variant cxr_gemm_best_variant(void) {
    if (cxr_gemm_variant_supported(CXR_GEMM_AVX512)) return CXR_GEMM_AVX512;
    if (cxr_gemm_variant_supported(CXR_GEMM_AVX2)) return CXR_GEMM_AVX2;
    return CXR_GEMM_PORTABLE;
}

size_t cxr_gemm_packed_count(int64_t m, int64_t k) {
    return (size_t)((m + MR - 1) / MR) * MR * (size_t)k;
}

void cxr_gemm_pack_a(int64_t m, int64_t k, const float *a, int64_t lda, float *packed) {
    for (int64_t p0 = 0; p0 < m; p0 += MR) {
        float *panel = packed + p0 * k;
        for (int64_t p = 0; p < k; p++)
            for (int r = 0; r < MR; r++) panel[p * MR + r] = p0 + r < m ? a[(p0 + r) * lda + p] : 0.0f;
    }
}

/// Rows 0…m−1 of C over one K block: panel p of A at a + p·ps.
typedef void (*rows_fn)(int64_t m, int64_t n, int64_t kc, const float *a, int64_t ps, const float *b, int64_t ldb,
                        float *c, int64_t ldc, int first, int last, epilogue ep);

static void rows_portable(int64_t m, int64_t n, int64_t kc, const float *a, int64_t ps, const float *b, int64_t ldb,
                          float *c, int64_t ldc, int first, int last, epilogue ep) {
    for (int64_t p0 = 0; p0 < m; p0 += MR)
        block_portable((int)min64(MR, m - p0), n, kc, a + (p0 / MR) * ps, b, ldb, c + p0 * ldc, ldc, first, last,
                       offset(ep, p0, 0));
}

#ifdef CXR_X86
static AVX2 void rows_avx2(int64_t m, int64_t n, int64_t kc, const float *a, int64_t ps, const float *b, int64_t ldb,
                           float *c, int64_t ldc, int first, int last, epilogue ep) {
    for (int64_t p0 = 0; p0 < m; p0 += MR)
        block_avx2((int)min64(MR, m - p0), n, kc, a + (p0 / MR) * ps, b, ldb, c + p0 * ldc, ldc, first, last,
                   offset(ep, p0, 0));
}
#endif

void cxr_gemm_pack_a_transposed(int64_t m, int64_t k, const float *at, int64_t ldat, float *packed) {
    for (int64_t p0 = 0; p0 < m; p0 += MR) {
        float *panel = packed + p0 * k;
        int rows = (int)min64(MR, m - p0);
        for (int64_t p = 0; p < k; p++) {
            const float *src = at + p * ldat + p0;
            float *dst = panel + p * MR;
            int r = 0;
            for (; r < rows; r++) dst[r] = src[r];
            for (; r < MR; r++) dst[r] = 0.0f;
        }
    }
}

/// The driver of every multiply: C (+)= epilogue(A[:, k_first ..< k_first+k] · B) in blocks of
/// NC columns and KC depths. With `accumulate` the first depth block adds to C instead of
/// overwriting it.
static void drive(cxr_gemm_variant variant, int64_t m, int64_t n, int64_t k_total, int64_t k_first, int64_t k,
                  const float *packed_a, const float *b, int64_t ldb, float *c, int64_t ldc, epilogue ep, int accumulate) {
    rows_fn rows = rows_portable;
#ifdef CXR_X86
    if (variant == CXR_GEMM_AVX512) rows = rows_avx512;
    else if (variant == CXR_GEMM_AVX2) rows = rows_avx2;
#endif
    if (m <= 0 || n <= 0) return;
    const float *a = packed_a + k_first * MR;  // panels stay MR·k_total floats apart
    for (int64_t j0 = 0; j0 < n; j0 += NC) {
        int64_t nc = min64(NC, n - j0);
        int64_t k0 = 0;
        do {
            int64_t kc = min64(KC, k - k0);
            rows(m, nc, kc, a + k0 * MR, MR * k_total, b + k0 * ldb + j0, ldb, c + j0, ldc, k0 == 0 && !accumulate,
                 k0 + kc >= k, offset(ep, 0, j0));
            k0 += kc;
        } while (k0 < k);
    }
}

void cxr_gemm_packed(cxr_gemm_variant variant, int64_t m, int64_t n, int64_t k,
                     const float *packed_a, const float *b, int64_t ldb, float *c, int64_t ldc,
                     const float *bias, const float *residual, int64_t ldr, int relu) {
    epilogue ep = {bias, residual, ldr, relu};
    drive(variant, m, n, k, 0, k, packed_a, b, ldb, c, ldc, ep, 0);
}

void cxr_gemm_packed_columns(cxr_gemm_variant variant, int64_t m, int64_t n, int64_t k_total, int64_t k_first, int64_t k,
                             const float *packed_a, const float *b, int64_t ldb, float *c, int64_t ldc,
                             const float *bias, const float *residual, int64_t ldr, int relu) {
    epilogue ep = {bias, residual, ldr, relu};
    drive(variant, m, n, k_total, k_first, k, packed_a, b, ldb, c, ldc, ep, 0);
}

void cxr_gemm_packed_add(cxr_gemm_variant variant, int64_t m, int64_t n, int64_t k, const float *packed_a,
                         const float *b, int64_t ldb, float *c, int64_t ldc) {
    epilogue ep = {NULL, NULL, 0, 0};
    drive(variant, m, n, k, 0, k, packed_a, b, ldb, c, ldc, ep, 1);
}

// MARK: - im2row

void cxr_im2row(const float *x, int64_t channels, int64_t h, int64_t w, int64_t kernel, int64_t stride,
                int64_t padding, float *out) {
    const int64_t oh = (h + 2 * padding - kernel) / stride + 1, ow = (w + 2 * padding - kernel) / stride + 1;
    const int64_t depth = channels * kernel * kernel, plane = h * w;
    // Output row by output row, so the writes are sequential; a patch that lies inside the image is
    // copied without bounds checks (unrolled for 3x3), one at the border checks each tap.
    for (int64_t oy = 0; oy < oh; oy++) {
        const int64_t iy0 = oy * stride - padding;
        for (int64_t ox = 0; ox < ow; ox++) {
            const int64_t ix0 = ox * stride - padding;
            float *d = out + (oy * ow + ox) * depth;
            const int inside_x = ix0 >= 0 && ix0 + kernel <= w;
            const int inside_y = iy0 >= 0 && iy0 + kernel <= h;
            if (inside_x && inside_y) {
                const float *src = x + iy0 * w + ix0;
                if (kernel == 3) {
                    for (int64_t c = 0; c < channels; c++, src += plane, d += 9) {
                        d[0] = src[0]; d[1] = src[1]; d[2] = src[2];
                        d[3] = src[w]; d[4] = src[w + 1]; d[5] = src[w + 2];
                        d[6] = src[2 * w]; d[7] = src[2 * w + 1]; d[8] = src[2 * w + 2];
                    }
                } else if (kernel == 1) {
                    for (int64_t c = 0; c < channels; c++) d[c] = src[c * plane];
                } else {
                    for (int64_t c = 0; c < channels; c++, src += plane)
                        for (int64_t ky = 0; ky < kernel; ky++, d += kernel)
                            for (int64_t kx = 0; kx < kernel; kx++) d[kx] = src[ky * w + kx];
                }
                continue;
            }
            for (int64_t c = 0; c < channels; c++) {
                const float *p = x + c * plane;
                for (int64_t ky = 0; ky < kernel; ky++, d += kernel) {
                    const int64_t iy = iy0 + ky;
                    if (iy < 0 || iy >= h) { for (int64_t kx = 0; kx < kernel; kx++) d[kx] = 0.0f; continue; }
                    for (int64_t kx = 0; kx < kernel; kx++) {
                        const int64_t ix = ix0 + kx;
                        d[kx] = (ix >= 0 && ix < w) ? p[iy * w + ix] : 0.0f;
                    }
                }
            }
        }
    }
}
