// Winograd F(4x4, 3x3) input and output transforms vectorised across 16 tiles with AVX-512F.
//
// Same layouts and arithmetic (operation for operation) as the Swift transforms in
// Sources/Kernels/Winograd.swift, which remain the path on CPUs without AVX-512F. Reentrant; the
// caller gives each thread its own channels.
#ifndef CXR_WINOGRAD_H
#define CXR_WINOGRAD_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// 1 when the functions below can run on this CPU (AVX-512F).
int cxr_winograd_supported(void);

/// V for one channel plane src [h × w]: the 36 values of tile (ty, tx) (input rows 4ty−1…4ty+4,
/// columns 4tx−1…4tx+4, zero outside the plane) go to dst[ξ · position_stride + ty · tiles_x + tx],
/// ξ = 6i + k.
void cxr_winograd_input_4x4(const float *src, int64_t h, int64_t w, int64_t tiles_y, int64_t tiles_x,
                            float *dst, int64_t position_stride);

/// One channel plane out [h × w] from M (tile t of position ξ at m[ξ · position_stride + t]):
/// out = relu?(Aᵀ M A + bias + residual?), residual (NULL for none) laid out like out.
void cxr_winograd_output_4x4(const float *m, int64_t position_stride, int64_t tiles_y, int64_t tiles_x,
                             float *out, int64_t h, int64_t w, float bias, const float *residual, int relu);

/// The same for the tiles first ..< end of the plane, numbered row by row (t = ty · tiles_x + tx):
/// tile t goes to dst[ξ · position_stride + t − first]. Lets a thread transform its own stretch of
/// the image's tiles.
void cxr_winograd_input_4x4_tiles(const float *src, int64_t h, int64_t w, int64_t tiles_x, int64_t first, int64_t end,
                                  float *dst, int64_t position_stride);

/// The output pixels of tiles first ..< end only, tile t read from m[ξ · position_stride + t − first].
void cxr_winograd_output_4x4_tiles(const float *m, int64_t position_stride, int64_t tiles_x, int64_t first, int64_t end,
                                   float *out, int64_t h, int64_t w, float bias, const float *residual, int relu);

/// The Winograd-domain weights of a 3×3 convolution w [cout, cin, 3, 3] for F(tile×tile, 3×3)
/// (tile 2 or 4, α = tile + 2), packed for the GEMM (cxr_gemm_pack_a's layout) into packed[ξ] for
/// each of the α² positions ξ = 6i + k (4i + k for tile 2): U_ξ = (G g Gᵀ)[i][k], computed in float.
/// transpose = 0: the forward weights, [cout × cin] with g = w[o][c]. transpose = 1: the input
/// gradient's weights, [cin × cout] with g = w[o][c] turned by 180°. Each packed[ξ] holds
/// cxr_gemm_packed_count(rows, columns) floats. Portable C, any CPU.
void cxr_winograd_pack_weights(int tile, const float *w, int64_t cout, int64_t cin, int transpose,
                               float *const *packed);

#ifdef __cplusplus
}
#endif

#endif
