#include "cxr_jpeg.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

/// More scans than any real progressive JPEG has (about 10 per component); each scan is a full pass over
/// the image, so thousands of empty ones take minutes. libjpeg-turbo's documented defence is a progress
/// monitor that stops the decoder (libjpeg.txt, "Progress monitoring"; djpeg -maxscans).
#define CXR_JPEG_MAX_SCANS 100

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
    if (code == JERR_UNKNOWN_MARKER && cinfo->is_decompressor &&
        (((j_decompress_ptr)cinfo)->unread_marker == 0xF7 || ((j_decompress_ptr)cinfo)->unread_marker == 0xF8)) {
        // SOF55 / LSE: a JPEG-LS stream (ISO 14495), a different codec that merely shares JPEG's markers.
        snprintf(e->result->message, sizeof e->result->message,
                 "a JPEG-LS stream (marker 0x%02X), which libjpeg does not decode",
                 ((j_decompress_ptr)cinfo)->unread_marker);
        unsupported = 1;
    }
    longjmp(e->jump, unsupported ? 2 : 1);
}

static void on_emit_message(j_common_ptr cinfo, int level) {
    error_manager *e = (error_manager *)cinfo->err;
    if (level >= 0) return;  // trace messages
    int code = cinfo->err->msg_code;
    if (code == JWRN_JPEG_EOF || code == JWRN_HIT_MARKER || code == JWRN_HUFF_BAD_CODE ||
        code == JWRN_ARITH_BAD_CODE) {
        // libjpeg would fill the missing or undecodable rest of the image with grey and carry on: a
        // truncated scan, a frame header claiming more pixels than the data holds, or entropy-coded data
        // that does not match its coding (Huffman data under an arithmetic-coding marker) is an error for us.
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

static void on_progress(j_common_ptr cinfo) {
    if (!cinfo->is_decompressor) return;
    j_decompress_ptr d = (j_decompress_ptr)cinfo;
    if (d->input_scan_number > CXR_JPEG_MAX_SCANS) {
        error_manager *e = (error_manager *)cinfo->err;
        snprintf(e->result->message, sizeof e->result->message,
                 "more than %d progressive scans (a real image has about 10); the file is damaged or crafted",
                 CXR_JPEG_MAX_SCANS);
        longjmp(e->jump, 1);
    }
}

/// Looks at the markers before the first scan for what libjpeg would decode without complaint but
/// wrongly: Huffman tables in an arithmetic-coded frame (the entropy-coded data is Huffman data under an
/// arithmetic frame marker; libjpeg-turbo decodes it as arithmetic and returns noise without a warning).
/// Returns 0, or CXR_JPEG_ERROR with `message` set.
static int check_markers(const uint8_t *d, size_t n, cxr_jpeg_result *result) {
    int has_dht = 0, arithmetic_sof = 0;
    size_t i = 2;
    for (int markers = 0; markers < 1024 && i + 4 <= n; markers++) {
        if (d[i] != 0xFF) return 0;  // libjpeg reports what is wrong
        while (i + 1 < n && d[i + 1] == 0xFF) i++;
        if (i + 4 > n) return 0;
        uint8_t m = d[i + 1];
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7)) {
            i += 2;
            continue;
        }
        if (m == 0xC4) has_dht = 1;
        if (m == 0xC9 || m == 0xCA || m == 0xCB || m == 0xCD || m == 0xCE || m == 0xCF) arithmetic_sof = m;
        if (m == 0xDA || m == 0xD9) break;
        i += 2 + (((size_t)d[i + 2] << 8) | d[i + 3]);
    }
    if (arithmetic_sof && has_dht) {
        snprintf(result->message, sizeof result->message,
                 "an arithmetic-coded frame (SOF%d) that carries Huffman tables: its data is Huffman-coded "
                 "under the wrong frame marker",
                 arithmetic_sof - 0xC0);
        return CXR_JPEG_ERROR;
    }
    return 0;
}

int cxr_jpeg_decode(
    const uint8_t *data, size_t size, uint32_t max_dimension, uint64_t max_pixels,
    cxr_jpeg_result *result) {
    memset(result, 0, sizeof *result);
    if (size >= 4 && check_markers(data, size, result) != 0) return CXR_JPEG_ERROR;

    struct jpeg_decompress_struct cinfo;
    error_manager err;
    struct jpeg_progress_mgr progress;
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
    progress.progress_monitor = on_progress;
    cinfo.progress = &progress;
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
