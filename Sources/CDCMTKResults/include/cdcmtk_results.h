/*
 * cdcmtk_results.h: pure C interface to the DCMTK 3.6.7 writer of CXReview's results as DICOM objects
 * (results.cpp), used only by the Swift target DICOMResults.
 *
 * Three objects go back into the source image's study, each in a series of its own: an Encapsulated PDF of
 * the report, a Secondary Capture of the scan with the result burned in, and a Comprehensive 3D SR (TID 1500)
 * with the classification. Every object copies the source's Patient and General Study modules (and the
 * Patient Study module) element by element, bytes as stored, with the source's Specific Character Set; only
 * values invalid for their VR are left out (see cdcmtkr_source_note).
 *
 * Conventions (as in cdcmtk.h)
 * - Every function returning int32_t returns one of the CDCMTKR_* status codes; CDCMTKR_OK is 0.
 * - No C++ exception leaves these functions: each exported function has exactly one try/catch boundary.
 * - After a failing call, cdcmtkr_last_error() describes the cause (DCMTK's own message where there is one).
 * - Handles are opaque; the caller owns each handle it receives and frees it once with the matching *_free
 *   (NULL is safe there). Input strings are UTF-8 and NUL-terminated; NULL means "absent" where allowed.
 * - The writers create the file at `path` (the caller's temporary name; an existing file there is replaced):
 *   syncing it and moving it to its final name is the caller's job.
 *
 * Thread safety: different handles may be used from different threads at once; one handle from one thread at a
 * time. cdcmtkr_last_error() is thread-local.
 */
#ifndef CDCMTK_RESULTS_H
#define CDCMTK_RESULTS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum cdcmtkr_status {
    CDCMTKR_OK = 0,
    /** The source could not be opened or read (errno message in cdcmtkr_last_error()). */
    CDCMTKR_UNREADABLE = 1,
    /** The source is not a DICOM image DCMTK can parse, or lacks what the results must copy (Study/SOP UIDs). */
    CDCMTKR_INVALID_SOURCE = 2,
    /** A caller error: NULL pointer, empty or malformed UID, bad sizes. */
    CDCMTKR_INVALID_ARGUMENT = 3,
    /** DCMTK refused to build the object (e.g. the SR template's checks); the message says what. */
    CDCMTKR_BUILD_FAILED = 4,
    /** Writing the file failed (disk full, permissions); DCMTK's or the system's message is the cause. */
    CDCMTKR_WRITE_FAILED = 5,
    /** The source's text could not be converted to UTF-8 (needed only when our own text is not ASCII). */
    CDCMTKR_CHARSET = 6,
    CDCMTKR_OUT_OF_MEMORY = 7,
    /** An unexpected C++ exception or DCMTK state. */
    CDCMTKR_INTERNAL = 8
};

/** Description of the last failure on the calling thread; never NULL. Valid until the next call on this thread. */
const char *cdcmtkr_last_error(void);

/* ---------------------------------------------------------------- source */

/** The source image whose study the results return into (its data set is held in memory, pixel data excluded). */
typedef struct cdcmtkr_source cdcmtkr_source;

/** Loads the DICOM file at `path`. Refuses (INVALID_SOURCE) a file without Study Instance UID, SOP Class UID or
 *  SOP Instance UID. On OK, *out receives a handle to free with cdcmtkr_source_free; otherwise NULL. */
int32_t cdcmtkr_source_open(const char *path, cdcmtkr_source **out);

void cdcmtkr_source_free(cdcmtkr_source *source);

/** Attributes of the source's Patient and Study modules whose value is invalid for their VR (checked at open)
 *  are not copied into the results (Type 2 ones stay, empty); one sentence each, naming the attribute and its
 *  tag, never its value. Strings are owned by `source`; NULL if out of range. */
int32_t cdcmtkr_source_note_count(const cdcmtkr_source *source);
const char *cdcmtkr_source_note(const cdcmtkr_source *source, int32_t index);

/* ---------------------------------------------------------------- what every object carries */

/** The new series and instance, and the equipment that made it (IHE AI Results' Contributing Equipment).
 *  All strings UTF-8; every field is required unless marked optional. */
typedef struct cdcmtkr_instance {
    const char *series_instance_uid;
    const char *sop_instance_uid;
    int32_t series_number;
    /** Series Description, e.g. "CXReview report - RESEARCH USE ONLY". */
    const char *series_description;
    /** Content Date and Time (and Series, Instance Creation, Contribution Date Time): "YYYYMMDD", "HHMMSS", UTC. */
    const char *content_date;
    const char *content_time;
    const char *manufacturer;
    const char *model_name;
    const char *software_version;
    /** Contribution Description of the Contributing Equipment item. */
    const char *contribution_description;
} cdcmtkr_instance;

/* ---------------------------------------------------------------- the three objects */

/** Encapsulated PDF (1.2.840.10008.5.1.4.1.1.104.1) of `pdf` (`pdf_length` bytes, must start with "%PDF-").
 *  `document_title` is shown by viewers; BurnedInAnnotation is YES (the page shows the patient's details). */
int32_t cdcmtkr_write_encapsulated_pdf(const cdcmtkr_source *source, const cdcmtkr_instance *instance,
                                       const uint8_t *pdf, size_t pdf_length, const char *document_title,
                                       const char *path);

/** Secondary Capture (1.2.840.10008.5.1.4.1.1.7) of an 8-bit RGB image, `width * height * 3` bytes, R G B
 *  interleaved, top row first, with the annotation already burned in (BurnedInAnnotation YES).
 *  `derivation_description` says how it was made. */
int32_t cdcmtkr_write_secondary_capture(const cdcmtkr_source *source, const cdcmtkr_instance *instance,
                                        const uint8_t *rgb, int32_t width, int32_t height,
                                        const char *derivation_description, const char *path);

/** A coded concept: code value, coding scheme designator, code meaning (all required). */
typedef struct cdcmtkr_code {
    const char *value;
    const char *scheme;
    const char *meaning;
} cdcmtkr_code;

/** One class's calibrated probability (0...1) and the concept its measurement is named by. */
typedef struct cdcmtkr_probability {
    cdcmtkr_code concept;
    double value;
} cdcmtkr_probability;

/** The classification the SR records. */
typedef struct cdcmtkr_classification {
    cdcmtkr_code predicted_class;
    const cdcmtkr_probability *probabilities;
    int32_t probability_count;
    /** The concept of the out-of-distribution flag (a local code), and whether the scan was flagged. */
    cdcmtkr_code out_of_distribution_concept;
    int32_t out_of_distribution;
    /** The concept of the "predicted class" qualitative evaluation (a local code). */
    cdcmtkr_code predicted_class_concept;
    /** TID 4019: algorithm name and version; parameters (e.g. the model's SHA-256) are optional (NULL). */
    const char *algorithm_name;
    const char *algorithm_version;
    const char *const *algorithm_parameters;
    int32_t algorithm_parameter_count;
    /** TID 1501 tracking identifier and its UID. */
    const char *tracking_identifier;
    const char *tracking_uid;
    /** TID 1004 device observer UID (identifies CXReview as the observer). */
    const char *device_observer_uid;
    /** A comment shown with the qualitative evaluations (the "RESEARCH USE ONLY" notice). */
    const char *comment;
    /** Private coding scheme used by the local codes above (Coding Scheme Identification Sequence). */
    const char *local_scheme_designator;
    const char *local_scheme_name;
} cdcmtkr_classification;

/** Comprehensive 3D SR (1.2.840.10008.5.1.4.1.1.88.34), TID 1500 Imaging Measurement Report: the classification
 *  as one measurement group (finding, one probability measurement per class, TID 4019, the out-of-distribution
 *  flag), the source image in the image library and in Current Requested Procedure Evidence; Verification Flag
 *  UNVERIFIED, Completion Flag COMPLETE. */
int32_t cdcmtkr_write_sr(const cdcmtkr_source *source, const cdcmtkr_instance *instance,
                         const cdcmtkr_classification *classification, const char *path);

#ifdef __cplusplus
}
#endif

#endif /* CDCMTK_RESULTS_H */
