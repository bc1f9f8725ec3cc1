#include "cxr_png.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
    cxr_png_result *result;
    int warned;
} reader_state;

static void copy_message(char *dst, size_t cap, const char *src) {
    if (!src) src = "unknown libpng error";
    size_t n = strlen(src);
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

static void on_error(png_structp png, png_const_charp message) {
    reader_state *s = (reader_state *)png_get_error_ptr(png);
    copy_message(s->result->message, sizeof s->result->message, message);
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp message) {
    reader_state *s = (reader_state *)png_get_error_ptr(png);
    if (!s->warned) {
        copy_message(s->result->message, sizeof s->result->message, message);
        s->warned = 1;
    }
}

static void on_read(png_structp png, png_bytep out, size_t length) {
    reader_state *s = (reader_state *)png_get_io_ptr(png);
    if (length > s->size - s->offset) {
        png_error(png, "unexpected end of file (the file is truncated)");
    }
    memcpy(out, s->data + s->offset, length);
    s->offset += length;
}

/// Largest ancillary chunk (text, ICC profile, decompressed zTXt) libpng may allocate.
#define CXR_PNG_MAX_CHUNK_BYTES (8u << 20)

static uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static int too_large(uint32_t w, uint32_t h, uint32_t max_dimension, uint64_t max_pixels) {
    return w > max_dimension || h > max_dimension || (uint64_t)w * (uint64_t)h > max_pixels;
}

int cxr_png_decode(
    const uint8_t *data, size_t size, uint32_t max_dimension, uint64_t max_pixels,
    cxr_png_result *result) {
    memset(result, 0, sizeof *result);

    // Look at IHDR before libpng does: a claimed size above our limits (or above libpng's own
    // user limits) is reported as too large, before any allocation.
    if (size >= 24 && memcmp(data + 12, "IHDR", 4) == 0) {
        uint32_t w = be32(data + 16), h = be32(data + 20);
        if (too_large(w, h, max_dimension, max_pixels)) {
            result->width = w;
            result->height = h;
            return CXR_PNG_TOO_LARGE;
        }
    }

    // Every ancillary chunk must fit in the bytes that remain: libpng allocates a text, ICC or unknown
    // chunk's declared length before reading it (2 GiB for a 56-byte file), whatever the chunk limits say.
    for (size_t offset = 8; offset + 8 <= size;) {
        uint32_t length = be32(data + offset);
        const uint8_t *type = data + offset + 4;
        uint64_t end = (uint64_t)offset + 12 + length;
        if (end > size || length > 0x7FFFFFFFu) {
            int ancillary = (type[0] & 0x20) != 0;
            int printable = 1;
            for (int i = 0; i < 4; i++) printable = printable && type[i] >= 0x41 && type[i] <= 0x7A;
            if (ancillary && printable) {
                snprintf(result->message, sizeof result->message,
                         "the %.4s chunk declares %u bytes, but only %zu remain in the file: it is truncated or damaged",
                         (const char *)type, length, size - offset - 8);
                return CXR_PNG_ERROR;
            }
            break;  // a critical chunk: libpng reads it as a stream and reports the truncation itself
        }
        if (memcmp(type, "IEND", 4) == 0) break;
        offset = (size_t)end;
    }

    reader_state state = {data, size, 0, result, 0};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &state, on_error, on_warning);
    if (!png) {
        copy_message(result->message, sizeof result->message, "cannot create the libpng reader");
        return CXR_PNG_NO_MEMORY;
    }
    png_infop info = png_create_info_struct(png);
    // Locals changed after setjmp and read on the error path are volatile.
    png_bytep *volatile rows = NULL;
    volatile int status = CXR_PNG_ERROR;

    if (setjmp(png_jmpbuf(png))) {
        free((void *)rows);
        cxr_png_free(result);
        png_destroy_read_struct(&png, &info, NULL);
        return status;
    }
    if (!info) png_error(png, "cannot create the libpng info structure");

    // Bounds on what libpng allocates for ancillary chunks: a tEXt/iCCP/zTXt chunk declaring gigabytes is
    // refused ("chunk data is too large") instead of allocated; likewise more than 128 such chunks.
    png_set_chunk_malloc_max(png, CXR_PNG_MAX_CHUNK_BYTES);
    png_set_chunk_cache_max(png, 128);
    png_set_user_limits(png, max_dimension, max_dimension);
    png_set_read_fn(png, &state, on_read);
    png_read_info(png, info);

    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    result->width = width;
    result->height = height;
    result->bit_depth = bit_depth;
    result->color_type = color_type;
    result->interlaced = interlace != PNG_INTERLACE_NONE;
    result->has_trns = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    if (too_large(width, height, max_dimension, max_pixels)) {
        status = CXR_PNG_TOO_LARGE;
        png_longjmp(png, 1);
    }

    int keep16 = bit_depth == 16 && color_type == PNG_COLOR_TYPE_GRAY;
    if (bit_depth == 16 && !keep16) {
        png_set_strip_16(png);  // keeps the high byte, as Pillow does for 16-bit RGB(A) and LA
    }
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int channels = png_get_channels(png, info);
    int bytes = keep16 ? 2 : 1;
    size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes != (size_t)width * (size_t)channels * (size_t)bytes) {
        png_error(png, "unexpected row layout after libpng transforms");
    }
    result->out_channels = channels;
    result->out_bytes_per_sample = bytes;

    result->pixels = (uint8_t *)malloc(rowbytes * height);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * height);
    if (!result->pixels || !rows) {
        status = CXR_PNG_NO_MEMORY;
        png_error(png, "out of memory for the pixel buffer");
    }
    for (png_uint_32 y = 0; y < height; y++) rows[y] = result->pixels + (size_t)y * rowbytes;
    png_read_image(png, rows);
    // No png_read_end: like Pillow, data after the last image row (IEND, trailing chunks) is not needed.

    free((void *)rows);
    png_destroy_read_struct(&png, &info, NULL);
    return CXR_PNG_OK;
}

void cxr_png_free(cxr_png_result *result) {
    free(result->pixels);
    result->pixels = NULL;
}
