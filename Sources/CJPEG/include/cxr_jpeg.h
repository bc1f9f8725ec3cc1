// libjpeg-turbo 2.1 (Debian libjpeg62-turbo-dev) behind one small C entry point.
//
// libjpeg's default error handler calls exit(), and the usual replacement longjmps, which Swift
// cannot survive; so the whole decode happens here under setjmp and comes back as a status plus
// libjpeg's message.
#ifndef CXR_JPEG_H
#define CXR_JPEG_H

#include <stddef.h>
#include <stdint.h>

enum {
    CXR_JPEG_OK = 0,
    /// Width or height or pixel count above the caller's limits; nothing was allocated for pixels.
    CXR_JPEG_TOO_LARGE = 1,
    /// libjpeg reported an error (or the data ended early); `message` says what.
    CXR_JPEG_ERROR = 2,
    /// A valid JPEG this decoder does not handle: CMYK/YCCK/unknown colour space, 12-bit or
    /// lossless/hierarchical coding; `message` says which.
    CXR_JPEG_UNSUPPORTED = 3,
    CXR_JPEG_NO_MEMORY = 4,
};

typedef struct {
    /// From the frame header (also set when the status is CXR_JPEG_TOO_LARGE).
    uint32_t width;
    uint32_t height;
    /// Components and colour space (J_COLOR_SPACE) of the file.
    int num_components;
    int jpeg_color_space;
    int progressive;
    /// 1 (grey) or 3 (RGB) samples per pixel in `pixels`.
    int out_components;
    /// width * height * out_components bytes, row-major; free with cxr_jpeg_free.
    uint8_t *pixels;
    /// Number of libjpeg warnings (e.g. corrupt data libjpeg could skip) and the first one.
    int warning_count;
    char warning[200];
    /// libjpeg's error text.
    char message[200];
} cxr_jpeg_result;

/// Decodes a whole baseline/progressive JPEG held in memory (slow-but-accurate integer IDCT,
/// fancy upsampling: libjpeg's defaults, which Pillow uses too). Never longjmps into the caller.
/// "Premature end of JPEG file", a warning for libjpeg, is an error here.
int cxr_jpeg_decode(
    const uint8_t *data, size_t size, uint32_t max_dimension, uint64_t max_pixels,
    cxr_jpeg_result *result);

/// Frees `result->pixels` (safe to call more than once).
void cxr_jpeg_free(cxr_jpeg_result *result);

/// Encodes width × height pixels of `components` (1 grey, 3 RGB) samples, row-major, as a baseline
/// JPEG of `quality` (1–100; chroma not subsampled). On CXR_JPEG_OK `*out` holds `*out_size` bytes
/// to free with free(); on CXR_JPEG_ERROR `message` (200 bytes) says why. Never longjmps out.
int cxr_jpeg_encode(
    const uint8_t *pixels, uint32_t width, uint32_t height, int components, int quality,
    uint8_t **out, size_t *out_size, char *message);

#endif
