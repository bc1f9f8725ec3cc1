// libpng 1.6 (Debian libpng-dev) behind one small C entry point.
//
// libpng reports errors with longjmp, which Swift cannot survive, so the whole read (header,
// transforms, rows) happens here under setjmp and comes back as a status plus libpng's message.
#ifndef CXR_PNG_H
#define CXR_PNG_H

#include <stddef.h>
#include <stdint.h>
#include <png.h>

enum {
    CXR_PNG_OK = 0,
    /// Width or height or pixel count above the caller's limits; nothing was allocated for pixels.
    CXR_PNG_TOO_LARGE = 1,
    /// libpng reported an error; `message` says what.
    CXR_PNG_ERROR = 2,
    /// Out of memory for the pixel buffer.
    CXR_PNG_NO_MEMORY = 3,
};

typedef struct {
    /// From IHDR (also set when the status is CXR_PNG_TOO_LARGE).
    uint32_t width;
    uint32_t height;
    /// Bit depth and colour type as stored in the file (PNG_COLOR_TYPE_*).
    int bit_depth;
    int color_type;
    int interlaced;
    /// 1 when the file has a tRNS chunk (ignored, like Pillow's convert('L')).
    int has_trns;
    /// Layout of `pixels`: channels 1 (G), 2 (GA), 3 (RGB) or 4 (RGBA); bytes per sample 1,
    /// or 2 (big-endian) only for plain 16-bit grey, whose values are kept raw.
    int out_channels;
    int out_bytes_per_sample;
    /// width * height * out_channels * out_bytes_per_sample bytes, row-major; free with cxr_png_free.
    uint8_t *pixels;
    /// libpng's error text, or the first warning when the status is OK.
    char message[256];
} cxr_png_result;

/// Decodes a whole PNG held in memory. Never longjmps into the caller.
int cxr_png_decode(
    const uint8_t *data, size_t size, uint32_t max_dimension, uint64_t max_pixels,
    cxr_png_result *result);

/// Frees `result->pixels` (safe to call more than once).
void cxr_png_free(cxr_png_result *result);

#endif
