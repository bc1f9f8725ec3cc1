#include "cxr_jpeg.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    cxr_jpeg_result *result;
} error_manager;

static void on_error_exit(j_common_ptr cinfo) {
    error_manager *e = (error_manager *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->result->message);
    // Valid files libjpeg's 8-bit build does not decode (12-bit, lossless, hierarchical...).
    int code = cinfo->err->msg_code;
    int unsupported = code == JERR_BAD_PRECISION || code == JERR_SOF_UNSUPPORTED ||
                      code == JERR_NOT_COMPILED;
    longjmp(e->jump, unsupported ? 2 : 1);
}

static void on_emit_message(j_common_ptr cinfo, int level) {
    error_manager *e = (error_manager *)cinfo->err;
    if (level >= 0) return;  // trace messages
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
        // libjpeg would pad the missing data with grey; a truncated scan is an error for us.
        (*cinfo->err->format_message)(cinfo, e->result->message);
        longjmp(e->jump, 1);
    }
    if (e->result->warning_count == 0) {
        (*cinfo->err->format_message)(cinfo, e->result->warning);
    }
    e->result->warning_count++;
    cinfo->err->num_warnings++;
}

static void on_output_message(j_common_ptr cinfo) { (void)cinfo; }

int cxr_jpeg_decode(
    const uint8_t *data, size_t size, uint32_t max_dimension, uint64_t max_pixels,
    cxr_jpeg_result *result) {
    memset(result, 0, sizeof *result);

    struct jpeg_decompress_struct cinfo;
    error_manager err;
    volatile int status = CXR_JPEG_ERROR;

    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = on_error_exit;
    err.pub.emit_message = on_emit_message;
    err.pub.output_message = on_output_message;
    err.result = result;

    // setjmp only in a switch controlling expression, one of the forms C allows.
    switch (setjmp(err.jump)) {
    case 0:
        break;
    case 2:
        status = CXR_JPEG_UNSUPPORTED;
        /* fall through */
    default:
        jpeg_destroy_decompress(&cinfo);
        cxr_jpeg_free(result);
        return status;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);

    result->width = cinfo.image_width;
    result->height = cinfo.image_height;
    result->num_components = cinfo.num_components;
    result->jpeg_color_space = cinfo.jpeg_color_space;
    result->progressive = cinfo.progressive_mode ? 1 : 0;
    if (cinfo.image_width > max_dimension || cinfo.image_height > max_dimension ||
        (uint64_t)cinfo.image_width * cinfo.image_height > max_pixels) {
        jpeg_destroy_decompress(&cinfo);
        return CXR_JPEG_TOO_LARGE;
    }

    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
        cinfo.out_color_space = JCS_GRAYSCALE;
        break;
    case JCS_YCbCr:
    case JCS_RGB:
        cinfo.out_color_space = JCS_RGB;
        break;
    default:
        snprintf(result->message, sizeof result->message,
                 "%d-component JPEG in colour space %s",
                 cinfo.num_components,
                 cinfo.jpeg_color_space == JCS_CMYK ? "CMYK"
                 : cinfo.jpeg_color_space == JCS_YCCK ? "YCCK" : "unknown");
        jpeg_destroy_decompress(&cinfo);
        return CXR_JPEG_UNSUPPORTED;
    }
    // libjpeg's defaults, stated: what Pillow decodes with.
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;

    jpeg_start_decompress(&cinfo);
    size_t stride = (size_t)cinfo.output_width * (size_t)cinfo.output_components;
    result->out_components = cinfo.output_components;
    result->pixels = (uint8_t *)malloc(stride * cinfo.output_height);
    if (!result->pixels) {
        status = CXR_JPEG_NO_MEMORY;
        snprintf(result->message, sizeof result->message, "out of memory for the pixel buffer");
        longjmp(err.jump, 1);
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = result->pixels + (size_t)cinfo.output_scanline * stride;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    // No jpeg_finish_decompress: like Pillow, nothing after the last scanline is needed.
    jpeg_destroy_decompress(&cinfo);
    return CXR_JPEG_OK;
}

void cxr_jpeg_free(cxr_jpeg_result *result) {
    free(result->pixels);
    result->pixels = NULL;
}

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char *message;
} encode_error_manager;

static void on_encode_error_exit(j_common_ptr cinfo) {
    encode_error_manager *e = (encode_error_manager *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, e->message);
    longjmp(e->jump, 1);
}

int cxr_jpeg_encode(
    const uint8_t *pixels, uint32_t width, uint32_t height, int components, int quality,
    uint8_t **out, size_t *out_size, char *message) {
    *out = NULL;
    *out_size = 0;
    message[0] = 0;
    if ((components != 1 && components != 3) || width == 0 || height == 0) {
        snprintf(message, 200, "cannot encode %u x %u pixels of %d components", width, height, components);
        return CXR_JPEG_ERROR;
    }
    struct jpeg_compress_struct cinfo;
    encode_error_manager err;
    unsigned long size = 0;
    cinfo.err = jpeg_std_error(&err.pub);
    err.pub.error_exit = on_encode_error_exit;
    err.pub.output_message = on_output_message;
    err.message = message;
    switch (setjmp(err.jump)) {
    case 0:
        break;
    default:
        // (libjpeg's memory destination may own a buffer here; errors cannot happen with the
        // parameters checked above, so it is not chased.)
        jpeg_destroy_compress(&cinfo);
        return CXR_JPEG_ERROR;
    }
    jpeg_create_compress(&cinfo);
    unsigned char *dest = NULL;
    jpeg_mem_dest(&cinfo, &dest, &size);
    cinfo.image_width = width;
    cinfo.image_height = height;
    cinfo.input_components = components;
    cinfo.in_color_space = components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality < 1 ? 1 : quality > 100 ? 100 : quality, TRUE);
    for (int i = 0; i < cinfo.num_components; i++) {  // no chroma subsampling: colour edges stay sharp
        cinfo.comp_info[i].h_samp_factor = 1;
        cinfo.comp_info[i].v_samp_factor = 1;
    }
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)cinfo.next_scanline * width * (size_t)components);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    *out = dest;
    *out_size = size;
    return CXR_JPEG_OK;
}
