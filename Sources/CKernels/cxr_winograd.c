// Winograd F(4x4, 3x3) transforms with AVX-512F: see include/cxr_winograd.h.
//
// Lane l of every vector is tile tx0 + l of a tile row, so both 2-D transforms are plain vector
// arithmetic: the input is loaded (masked where a tile reaches past the plane, which gives the
// zero padding) and permuted into lanes; the output is transposed in registers back to 4
// consecutive pixels per tile.
#include "cxr_winograd.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))
#define INLINE static inline __attribute__((always_inline))

int cxr_winograd_supported(void) { return __builtin_cpu_supports("avx512f"); }

/// Bᵀ·(a…f), as `inputRows` in Winograd.swift.
INLINE AVX512 void input_rows(__m512 a, __m512 b, __m512 c, __m512 d, __m512 e, __m512 f, __m512 r[6]) {
    const __m512 four = _mm512_set1_ps(4), five = _mm512_set1_ps(5), two = _mm512_set1_ps(2);
    __m512 ec = _mm512_sub_ps(e, c), db = _mm512_sub_ps(d, b);
    r[0] = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(four, a), _mm512_mul_ps(five, c)), e);
    r[1] = _mm512_sub_ps(_mm512_add_ps(d, e), _mm512_mul_ps(four, _mm512_add_ps(b, c)));
    r[2] = _mm512_add_ps(_mm512_sub_ps(e, d), _mm512_mul_ps(four, _mm512_sub_ps(b, c)));
    r[3] = _mm512_add_ps(ec, _mm512_mul_ps(two, db));
    r[4] = _mm512_sub_ps(ec, _mm512_mul_ps(two, db));
    r[5] = _mm512_add_ps(_mm512_sub_ps(_mm512_mul_ps(four, b), _mm512_mul_ps(five, d)), f);
}

/// Aᵀ·(m0…m5), as `outputRows` in Winograd.swift.
INLINE AVX512 void output_rows(__m512 m0, __m512 m1, __m512 m2, __m512 m3, __m512 m4, __m512 m5, __m512 r[4]) {
    __m512 s12 = _mm512_add_ps(m1, m2), d12 = _mm512_sub_ps(m1, m2);
    __m512 s34 = _mm512_add_ps(m3, m4), d34 = _mm512_sub_ps(m3, m4);
    r[0] = _mm512_add_ps(_mm512_add_ps(m0, s12), s34);
    r[1] = _mm512_add_ps(d12, _mm512_mul_ps(_mm512_set1_ps(2), d34));
    r[2] = _mm512_add_ps(s12, _mm512_mul_ps(_mm512_set1_ps(4), s34));
    r[3] = _mm512_add_ps(_mm512_add_ps(d12, _mm512_mul_ps(_mm512_set1_ps(8), d34)), m5);
}

/// The lanes of a vector read from column `first_column` that lie inside the row (0 ≤ x < w).
INLINE AVX512 __mmask16 columns_inside(int64_t first_column, int64_t w) {
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    __m512i x = _mm512_add_epi32(lane, _mm512_set1_epi32((int)first_column));
    return _mm512_cmpge_epi32_mask(x, _mm512_setzero_si512()) & _mm512_cmplt_epi32_mask(x, _mm512_set1_epi32((int)w));
}

/// Index vectors for `input_chunk`: lanes 0-7 of column k of 16 tiles come from float (4l + k) mod 32.
INLINE AVX512 void input_picks(__m512i pick[4]) {
    for (int k = 0; k < 4; k++) {
        int index[16];
        for (int l = 0; l < 16; l++) index[l] = (4 * l + k) & 31;
        pick[k] = _mm512_loadu_si512(index);
    }
}

/// V for `tiles` (1…16) consecutive tiles tx0… of tile row ty: tile tx0 + l goes to dst[ξ·ps + l].
INLINE AVX512 void input_chunk(const float *src, int64_t h, int64_t w, int64_t ty, int64_t tx0, int64_t tiles,
                               const __m512i pick[4], float *dst, int64_t ps) {
    // Column k of tile l is input column 4(tx0 + l) − 1 + k, i.e. float 4l + k of the row read from
    // column 4·tx0 − 1 on. Reading that row as vectors v0…v3 (64 floats), lanes 0-7 of column k
    // come from (v0, v1) and lanes 8-15 from (v2, v3), both with the index (4l + k) mod 32, so two
    // permutes and a blend replace a 16-lane gather. Columns 4 and 5 are columns 0 and 1 of the
    // same row read 4 floats further on. Masked loads give zeros outside the plane.
    __mmask16 valid = (__mmask16)(0xFFFFu >> (16 - tiles));
    int64_t x0 = 4 * tx0 - 1;
    // Vectors 0-3 read from x0, 4-7 from x0 + 4.
    __mmask16 inside[8];
    for (int v = 0; v < 8; v++) inside[v] = columns_inside(x0 + 16 * (v & 3) + 4 * (v >> 2), w);
    // d[j][k]: row j of every tile's 6×6 input, column k.
    __m512 d[6][6];
    for (int j = 0; j < 6; j++) {
        int64_t y = 4 * ty - 1 + j;
        if (y < 0 || y >= h) {
            for (int k = 0; k < 6; k++) d[j][k] = _mm512_setzero_ps();
            continue;
        }
        const float *row = src + y * w + x0;
        __m512 v[8];
        for (int i = 0; i < 8; i++) v[i] = _mm512_maskz_loadu_ps(inside[i], row + 16 * (i & 3) + 4 * (i >> 2));
        for (int k = 0; k < 6; k++) {
            const __m512 *r = k < 4 ? v : v + 4;
            __m512i index = pick[k & 3];
            __m512 lo = _mm512_permutex2var_ps(r[0], index, r[1]), hi = _mm512_permutex2var_ps(r[2], index, r[3]);
            d[j][k] = _mm512_mask_blend_ps(0xFF00, lo, hi);
        }
    }
    // t[i][k] = (Bᵀ d)[i][k]: down the six input rows first, for each column k.
    __m512 t[6][6];
    for (int k = 0; k < 6; k++) {
        __m512 r[6];
        input_rows(d[0][k], d[1][k], d[2][k], d[3][k], d[4][k], d[5][k], r);
        for (int i = 0; i < 6; i++) t[i][k] = r[i];
    }
    // Then along each row i: V[6i + k].
    for (int i = 0; i < 6; i++) {
        __m512 r[6];
        input_rows(t[i][0], t[i][1], t[i][2], t[i][3], t[i][4], t[i][5], r);
        for (int k = 0; k < 6; k++) _mm512_mask_storeu_ps(dst + (6 * i + k) * ps, valid, r[k]);
    }
}

AVX512 void cxr_winograd_input_4x4(const float *src, int64_t h, int64_t w, int64_t tiles_y, int64_t tiles_x,
                                   float *dst, int64_t ps) {
    cxr_winograd_input_4x4_tiles(src, h, w, tiles_x, 0, tiles_y * tiles_x, dst, ps);
}

AVX512 void cxr_winograd_input_4x4_tiles(const float *src, int64_t h, int64_t w, int64_t tiles_x, int64_t first,
                                         int64_t end, float *dst, int64_t ps) {
    __m512i pick[4];
    input_picks(pick);
    for (int64_t t = first; t < end;) {
        int64_t ty = t / tiles_x, tx0 = t - ty * tiles_x;
        int64_t row_end = (ty + 1) * tiles_x < end ? (ty + 1) * tiles_x : end;
        int64_t tiles = row_end - t < 16 ? row_end - t : 16;
        input_chunk(src, h, w, ty, tx0, tiles, pick, dst + (t - first), ps);
        t += tiles;
    }
}

/// Output pixels of `tiles` (1…16) consecutive tiles tx0… of tile row ty, tile tx0 + l read from m[ξ·ps + l].
INLINE AVX512 void output_chunk(const float *m, int64_t ps, int64_t ty, int64_t tx0, int64_t tiles, float *out,
                                int64_t h, int64_t w, __m512 b, const float *residual, int relu) {
    // Interleaves for the 4×16 → 16×4 transpose: floats of two vectors, then pairs of two vectors.
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    const __m512i pairs_lo = _mm512_setr_epi64(0, 8, 1, 9, 2, 10, 3, 11);
    const __m512i pairs_hi = _mm512_setr_epi64(4, 12, 5, 13, 6, 14, 7, 15);
    __mmask16 valid = (__mmask16)(0xFFFFu >> (16 - tiles));
    int64_t x0 = 4 * tx0, pixels = w - x0 < 4 * tiles ? w - x0 : 4 * tiles;
    __m512 r[6][4];
    for (int i = 0; i < 6; i++) {
        const float *p = m + 6 * i * ps;
        output_rows(_mm512_maskz_loadu_ps(valid, p), _mm512_maskz_loadu_ps(valid, p + ps),
                    _mm512_maskz_loadu_ps(valid, p + 2 * ps), _mm512_maskz_loadu_ps(valid, p + 3 * ps),
                    _mm512_maskz_loadu_ps(valid, p + 4 * ps), _mm512_maskz_loadu_ps(valid, p + 5 * ps), r[i]);
    }
    __m512 y[4][4];  // y[p][q]: output row p, column q of every tile
    for (int q = 0; q < 4; q++) {
        __m512 c[4];
        output_rows(r[0][q], r[1][q], r[2][q], r[3][q], r[4][q], r[5][q], c);
        for (int p = 0; p < 4; p++) y[p][q] = c[p];
    }
    for (int p = 0; p < 4; p++) {
        int64_t oy = 4 * ty + p;
        if (oy >= h) break;
        __m512 a01 = _mm512_permutex2var_ps(y[p][0], lo, y[p][1]), b01 = _mm512_permutex2var_ps(y[p][0], hi, y[p][1]);
        __m512 a23 = _mm512_permutex2var_ps(y[p][2], lo, y[p][3]), b23 = _mm512_permutex2var_ps(y[p][2], hi, y[p][3]);
        __m512 row[4];
        row[0] = _mm512_castpd_ps(_mm512_permutex2var_pd(_mm512_castps_pd(a01), pairs_lo, _mm512_castps_pd(a23)));
        row[1] = _mm512_castpd_ps(_mm512_permutex2var_pd(_mm512_castps_pd(a01), pairs_hi, _mm512_castps_pd(a23)));
        row[2] = _mm512_castpd_ps(_mm512_permutex2var_pd(_mm512_castps_pd(b01), pairs_lo, _mm512_castps_pd(b23)));
        row[3] = _mm512_castpd_ps(_mm512_permutex2var_pd(_mm512_castps_pd(b01), pairs_hi, _mm512_castps_pd(b23)));
        float *o = out + oy * w + x0;
        const float *res = residual ? residual + oy * w + x0 : 0;
        for (int v = 0; v < 4 && 16 * v < pixels; v++) {
            int64_t count = pixels - 16 * v < 16 ? pixels - 16 * v : 16;
            __mmask16 keep = (__mmask16)(0xFFFFu >> (16 - count));
            __m512 x = _mm512_add_ps(row[v], b);
            if (res) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(keep, res + 16 * v));
            if (relu) x = _mm512_max_ps(x, _mm512_setzero_ps());
            _mm512_mask_storeu_ps(o + 16 * v, keep, x);
        }
    }
}

AVX512 void cxr_winograd_output_4x4(const float *m, int64_t ps, int64_t tiles_y, int64_t tiles_x, float *out,
                                    int64_t h, int64_t w, float bias, const float *residual, int relu) {
    cxr_winograd_output_4x4_tiles(m, ps, tiles_x, 0, tiles_y * tiles_x, out, h, w, bias, residual, relu);
}

AVX512 void cxr_winograd_output_4x4_tiles(const float *m, int64_t ps, int64_t tiles_x, int64_t first, int64_t end,
                                          float *out, int64_t h, int64_t w, float bias, const float *residual, int relu) {
    const __m512 b = _mm512_set1_ps(bias);
    for (int64_t t = first; t < end;) {
        int64_t ty = t / tiles_x, tx0 = t - ty * tiles_x;
        int64_t row_end = (ty + 1) * tiles_x < end ? (ty + 1) * tiles_x : end;
        int64_t tiles = row_end - t < 16 ? row_end - t : 16;
        output_chunk(m + (t - first), ps, ty, tx0, tiles, out, h, w, b, residual, relu);
        t += tiles;
    }
}

#else

int cxr_winograd_supported(void) { return 0; }

void cxr_winograd_input_4x4(const float *src, int64_t h, int64_t w, int64_t tiles_y, int64_t tiles_x,
                            float *dst, int64_t ps) {
    (void)src; (void)h; (void)w; (void)tiles_y; (void)tiles_x; (void)dst; (void)ps;
}

void cxr_winograd_output_4x4(const float *m, int64_t ps, int64_t tiles_y, int64_t tiles_x, float *out,
                             int64_t h, int64_t w, float bias, const float *residual, int relu) {
    (void)m; (void)ps; (void)tiles_y; (void)tiles_x; (void)out; (void)h; (void)w; (void)bias; (void)residual; (void)relu;
}

void cxr_winograd_input_4x4_tiles(const float *src, int64_t h, int64_t w, int64_t tiles_x, int64_t first, int64_t end,
                                  float *dst, int64_t ps) {
    (void)src; (void)h; (void)w; (void)tiles_x; (void)first; (void)end; (void)dst; (void)ps;
}

void cxr_winograd_output_4x4_tiles(const float *m, int64_t ps, int64_t tiles_x, int64_t first, int64_t end, float *out,
                                   int64_t h, int64_t w, float bias, const float *residual, int relu) {
    (void)m; (void)ps; (void)tiles_x; (void)first; (void)end; (void)out; (void)h; (void)w; (void)bias; (void)residual;
    (void)relu;
}

#endif

// MARK: - Transformed weights for training (portable C)

void cxr_winograd_pack_weights(int tile, const float *w, int64_t cout, int64_t cin, int transpose,
                               float *const *packed) {
    static const float g4[6][3] = {
        {1.0f / 4, 0, 0},
        {-1.0f / 6, -1.0f / 6, -1.0f / 6},
        {-1.0f / 6, 1.0f / 6, -1.0f / 6},
        {1.0f / 24, 1.0f / 12, 1.0f / 6},
        {1.0f / 24, -1.0f / 12, 1.0f / 6},
        {0, 0, 1},
    };
    static const float g2[4][3] = {{1, 0, 0}, {0.5f, 0.5f, 0.5f}, {0.5f, -0.5f, 0.5f}, {0, 0, 1}};
    const int alpha = tile == 4 ? 6 : 4;
    const float(*G)[3] = tile == 4 ? g4 : g2;
    const int64_t rows = transpose ? cin : cout, columns = transpose ? cout : cin;
    enum { L = 16 };  // rows per packed panel (CXR_GEMM_MR), one lane each
    for (int64_t r0 = 0; r0 < rows; r0 += L) {
        for (int64_t j = 0; j < columns; j++) {
            float g[9][L], gg[6][3][L], u[36][L];
            for (int l = 0; l < L; l++) {
                int64_t r = r0 + l;
                if (r >= rows) {
                    for (int i = 0; i < 9; i++) g[i][l] = 0.0f;
                    continue;
                }
                int64_t o = transpose ? j : r, c = transpose ? r : j;
                const float *src = w + (o * cin + c) * 9;
                // The input gradient convolves with the kernel turned by 180°.
                for (int i = 0; i < 9; i++) g[i][l] = transpose ? src[8 - i] : src[i];
            }
            for (int i = 0; i < alpha; i++)
                for (int k = 0; k < 3; k++)
                    for (int l = 0; l < L; l++)
                        gg[i][k][l] = G[i][0] * g[k][l] + G[i][1] * g[3 + k][l] + G[i][2] * g[6 + k][l];
            for (int i = 0; i < alpha; i++)
                for (int k = 0; k < alpha; k++)
                    for (int l = 0; l < L; l++)
                        u[i * alpha + k][l] = gg[i][0][l] * G[k][0] + gg[i][1][l] * G[k][1] + gg[i][2][l] * G[k][2];
            // Panel r0 / 16 of position ξ: column j's 16 rows are consecutive.
            for (int xi = 0; xi < alpha * alpha; xi++) {
                float *dst = packed[xi] + r0 * columns + j * L;
                for (int l = 0; l < L; l++) dst[l] = u[xi][l];
            }
        }
    }
}
