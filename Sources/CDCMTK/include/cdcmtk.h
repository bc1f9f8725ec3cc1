/*
 * cdcmtk.h: pure C interface to the DCMTK 3.6.7 shim (shim.cpp) used by the Swift target DICOMDecoding.
 *
 * Conventions
 * - Every function returning int32_t returns one of the CDCMTK_* status codes below; CDCMTK_OK is 0.
 * - No C++ exception ever leaves these functions: each exported function has exactly one try/catch
 *   boundary that turns any exception into CDCMTK_INTERNAL (or CDCMTK_OUT_OF_MEMORY).
 * - After a failing call, cdcmtk_last_error() describes the cause (DCMTK's own message where there is one).
 * - Handles are opaque. The caller owns every handle it receives through an out-parameter and must release
 *   it with the matching cdcmtk_*_free function exactly once. Passing NULL to a *_free function is safe.
 * - Strings returned by accessor functions are UTF-8, NUL-terminated and owned by the handle they came
 *   from: they stay valid until that handle is freed. Do not free them.
 * - Passing a NULL handle to an accessor is safe: it returns NULL / 0. Accessors (the getters of a handle)
 *   never fail loudly and leave cdcmtk_last_error() unchanged.
 *
 * Thread safety
 * - Codec registration and log configuration happen once per process inside the shim (std::call_once),
 *   so any function may be called first, from any thread.
 * - Different handles may be used concurrently from different threads. One handle must not be used from
 *   two threads at the same time (the Swift wrapper owns each handle from a single call).
 * - cdcmtk_last_error() is thread-local: it reports the last failure on the calling thread.
 */
#ifndef CDCMTK_H
#define CDCMTK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Status codes returned as int32_t. */
enum cdcmtk_status {
    CDCMTK_OK = 0,
    /** The file is not DICOM (no 'DICM' marker and no recognisable data set), or it is empty. */
    CDCMTK_NOT_DICOM = 1,
    /** The file could not be opened or read (errno message in cdcmtk_last_error()). */
    CDCMTK_UNREADABLE = 2,
    /** DICOM, but DCMTK could not parse or decode it (truncated, malformed); DCMTK's message is the cause. */
    CDCMTK_CORRUPT = 3,
    /** The data set has no Pixel Data (e.g. a structured report). */
    CDCMTK_NO_PIXEL_DATA = 4,
    /** The pixel data uses a transfer syntax no registered DCMTK decoder handles (e.g. JPEG 2000). */
    CDCMTK_UNSUPPORTED_TRANSFER_SYNTAX = 5,
    /** Rows/Columns exceed the limits passed in; checked before any pixel memory is allocated. */
    CDCMTK_TOO_LARGE = 6,
    /** A caller error: NULL path, inconsistent sizes, values out of range. */
    CDCMTK_INVALID_ARGUMENT = 7,
    /* 8 was CDCMTK_WRITE_FAILED, of a writer that is gone (the tests write DICOM in Swift). */
    CDCMTK_OUT_OF_MEMORY = 9,
    /** An unexpected C++ exception or DCMTK state; the message says what. */
    CDCMTK_INTERNAL = 10
};

/** Which VOI transform produced the 8-bit output (cdcmtk_image_window_kind). */
enum cdcmtk_window_kind {
    /** No VOI transform: the full value range is mapped to 0..255 (8-bit data, colour converted to grey). */
    CDCMTK_WINDOW_NONE = 0,
    /** The file's first Window Center/Width. */
    CDCMTK_WINDOW_FILE = 1,
    /** The file's first VOI LUT. */
    CDCMTK_WINDOW_VOI_LUT = 2,
    /** Automatic: 0.5th..99.5th percentile of the modality-transformed values of the decoded frame. */
    CDCMTK_WINDOW_AUTOMATIC = 3
};

/** Description of the last failure on the calling thread; never NULL (empty string if none).
 *  Owned by the shim; valid until the next cdcmtk_* call on the same thread. */
const char *cdcmtk_last_error(void);

/* ---------------------------------------------------------------- reading */

/** A loaded DICOM data set (header parsed; large values such as Pixel Data stay on disk until needed).
 *  Text values have been converted to UTF-8 according to Specific Character Set where possible. */
typedef struct cdcmtk_file cdcmtk_file;

/** Loads `path` with DCMTK's auto-detect read mode (file format with meta header, or a bare data set).
 *  Only regular files are opened (a FIFO would block). Before DCMTK parses anything, a bounded walk over the
 *  raw data set refuses what DCMTK cannot survive: transfer syntax UIDs it does not know (UNSUPPORTED, with
 *  a name for the newer ones), sequences nested more than 64 deep, runs of empty (0000,0000) elements, and
 *  Pixel Data declaring far more bytes than the image needs (all CORRUPT). On CDCMTK_OK, *out_file receives a handle the caller frees with cdcmtk_file_free; otherwise *out_file is
 *  set to NULL. Status: OK, NOT_DICOM, UNREADABLE, CORRUPT, UNSUPPORTED_TRANSFER_SYNTAX (unknown syntax
 *  UID in the meta header), INVALID_ARGUMENT, OUT_OF_MEMORY, INTERNAL. */
int32_t cdcmtk_file_open(const char *path, cdcmtk_file **out_file);

/** Releases a file handle and every string obtained from it. NULL is safe. */
void cdcmtk_file_free(cdcmtk_file *file);

/** Value of the top-level attribute (group,element) as UTF-8 text, all values joined with '\\' (numbers
 *  such as US values are formatted as decimal text). NULL if absent or empty. Owned by `file`. */
const char *cdcmtk_file_string(cdcmtk_file *file, uint16_t group, uint16_t element);

/** Transfer syntax UID the data set was read with (meta header, or the one DCMTK detected). Owned by `file`;
 *  NULL if unknown. */
const char *cdcmtk_file_transfer_syntax_uid(const cdcmtk_file *file);

/** DCMTK's readable name for the transfer syntax (DcmXfer::getXferName()). Owned by `file`; NULL if unknown. */
const char *cdcmtk_file_transfer_syntax_name(const cdcmtk_file *file);

/** 1 if the file starts with the 128-byte preamble and 'DICM', 0 if it is a bare data set. */
int32_t cdcmtk_file_has_meta_header(const cdcmtk_file *file);

/** Messages collected while loading (DCMTK warnings, character set problems), one sentence each. */
int32_t cdcmtk_file_message_count(const cdcmtk_file *file);
/** Message `index` (0-based), owned by `file`; NULL if out of range. */
const char *cdcmtk_file_message(const cdcmtk_file *file, int32_t index);

/** Cheap sniffing without parsing: 1 if `path` is a regular file with 'DICM' at offset 128, or whose first
 *  bytes look like a bare (ACR-NEMA style) data set, even a truncated one; 0 otherwise (including unreadable
 *  files, folders, FIFOs and devices). Never fails and never blocks. */
int32_t cdcmtk_is_probably_dicom(const char *path);

/* ---------------------------------------------------------------- decoding */

/** A rendered 8-bit grey frame plus a description of how it was made. */
typedef struct cdcmtk_image cdcmtk_image;

/** Decodes the first frame of `file` to 8-bit grey, bones white:
 *  modality LUT/rescale, then VOI (first window, else first VOI LUT, else automatic percentile window;
 *  8-bit data without either is shown as stored), MONOCHROME1 and Presentation LUT Shape INVERSE handled
 *  by DCMTK, colour converted to grey with ITU-R 601 luma.
 *  Rows/Columns are checked against max_dimension and max_pixels BEFORE pixel memory is allocated.
 *  On CDCMTK_OK, *out_image receives a handle the caller frees with cdcmtk_image_free; otherwise NULL.
 *  `file` stays owned by the caller and may be freed after this call returns.
 *  Status: OK, NO_PIXEL_DATA, UNSUPPORTED_TRANSFER_SYNTAX, TOO_LARGE, CORRUPT, INVALID_ARGUMENT,
 *  OUT_OF_MEMORY, INTERNAL. */
int32_t cdcmtk_decode_first_frame(cdcmtk_file *file, int64_t max_dimension, int64_t max_pixels,
                                  cdcmtk_image **out_image);

/** Releases an image handle and its pixels and strings. NULL is safe. */
void cdcmtk_image_free(cdcmtk_image *image);

int32_t cdcmtk_image_width(const cdcmtk_image *image);
int32_t cdcmtk_image_height(const cdcmtk_image *image);
/** width*height bytes, row-major, top row first, 0 black .. 255 white. Owned by `image`. */
const uint8_t *cdcmtk_image_pixels(const cdcmtk_image *image);
/** One of enum cdcmtk_window_kind. */
int32_t cdcmtk_image_window_kind(const cdcmtk_image *image);
/** Centre and width of the window used (kinds FILE and AUTOMATIC; 0 otherwise). */
double cdcmtk_image_window_center(const cdcmtk_image *image);
double cdcmtk_image_window_width(const cdcmtk_image *image);
/** VOI LUT explanation (kind VOI_LUT) or the automatic method's description; owned by `image`; may be "". */
const char *cdcmtk_image_window_explanation(const cdcmtk_image *image);
/** 1 if the display is inverted relative to the stored values (MONOCHROME1 or Presentation LUT Shape INVERSE). */
int32_t cdcmtk_image_inverted(const cdcmtk_image *image);
/** 1 if a colour image was converted to grey. */
int32_t cdcmtk_image_converted_from_colour(const cdcmtk_image *image);
/** Number of frames in the file (only the first was decoded). */
int32_t cdcmtk_image_frame_count(const cdcmtk_image *image);
/** Messages collected while decoding (DCMTK warnings, overlays drawn, ...). */
int32_t cdcmtk_image_message_count(const cdcmtk_image *image);
const char *cdcmtk_image_message(const cdcmtk_image *image, int32_t index);

#ifdef __cplusplus
}
#endif

#endif /* CDCMTK_H */
