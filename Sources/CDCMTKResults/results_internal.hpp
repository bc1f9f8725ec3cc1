// Internal to the CDCMTKResults shim (not part of the C interface): the source handle and shared helpers.
#ifndef CDCMTK_RESULTS_INTERNAL_HPP
#define CDCMTK_RESULTS_INTERNAL_HPP

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dctk.h"

#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "cdcmtk_results.h"

struct cdcmtkr_source {
    DcmFileFormat format;  // the source's data set up to (not including) Pixel Data
    std::string path;
    std::vector<DcmTagKey> invalid;   // patient/study attributes whose value is invalid for their VR: not copied
    std::vector<std::string> notes;   // one sentence per left-out attribute (names and tags, never values)
};

namespace cdcmtkr {

/// Sets the calling thread's last error message and returns `status`.
int32_t fail(int32_t status, const std::string &message);
void clearError();

/// Keeps DCMTK's log off stderr, once per process: removes the root logger's default console appender (the
/// CDCMTK shim's capture appender, if installed, stays) and quiets the SR loggers.
void initializeOnce();

/// A failure inside a writer: the status and message `guarded` turns into the return value.
struct Failure {
    int32_t status;
    std::string message;
};

/// Throws Failure(BUILD_FAILED) with `what` and DCMTK's text if `cond` is bad.
void check(const OFCondition &cond, const std::string &what);

/// A status on exceptions escaping the body: the single try/catch boundary of an exported function.
template <typename Body>
int32_t guarded(Body &&body) noexcept {
    try {
        clearError();
        initializeOnce();
        return body();
    } catch (const Failure &f) {
        return fail(f.status, f.message);
    } catch (const std::bad_alloc &) {
        return fail(CDCMTKR_OUT_OF_MEMORY, "out of memory");
    } catch (const std::exception &e) {
        return fail(CDCMTKR_INTERNAL, std::string("unexpected C++ exception: ") + e.what());
    } catch (...) {
        return fail(CDCMTKR_INTERNAL, "unexpected C++ exception");
    }
}

/// Whether a top-level element belongs to the Patient, Patient Study, Clinical Trial Subject/Study or General
/// Study modules, the attributes the results copy.
bool isPatientOrStudy(const DcmTagKey &key);

/// The instance's strings checked (present, UIDs well formed); throws Failure(INVALID_ARGUMENT).
void validate(const cdcmtkr_instance *instance);
/// A required UTF-8 string argument; throws Failure(INVALID_ARGUMENT) naming `what` if NULL or empty.
std::string required(const char *s, const char *what);
/// True if every byte of every string is 7-bit ASCII.
bool allASCII(const std::vector<std::string> &strings);
/// The strings of `instance` (for the ASCII check).
std::vector<std::string> strings(const cdcmtkr_instance *instance);

/// Puts the attributes every result carries: SOP Common (class, instance, creation date/time, time zone),
/// the series (UID, number, description, modality, date/time), General Equipment and the Contributing
/// Equipment Sequence (IHE AI Results), Content Date/Time and Instance Number 1.
void putCommon(DcmDataset &ds, const cdcmtkr_instance *instance, const char *sopClassUID, const char *modality);

/// Copies the source's Patient, Patient Study and General Study modules element by element (bytes as
/// stored), replacing what `ds` had for them, leaves the Type 2 ones the source lacks empty, and sets Specific Character Set: the source's own when `ownTextIsASCII` or the source is already
/// UTF-8; otherwise the copied text is converted to UTF-8 and ISO_IR 192 declared (throws CHARSET if it
/// cannot be). Call last, after every other attribute is in place.
/// Whether an element's value is valid for its VR, whatever dcmEnableAutomaticInputDataCorrection says.
bool valueIsValid(const DcmElement &element);
void copyPatientAndStudy(DcmDataset &ds, const cdcmtkr_source *source, bool ownTextIsASCII);

/// A reference item (SOP class, instance) to the source image, for Source Image/Instance Sequences.
DcmItem *sourceReference(const cdcmtkr_source *source);

/// Saves `format` to `path` as Explicit VR Little Endian with a fresh meta header; throws WRITE_FAILED.
void save(DcmFileFormat &format, const char *path);

/// Puts a UTF-8 string; throws BUILD_FAILED naming the tag on DCMTK's refusal.
void put(DcmItem &item, const DcmTagKey &tag, const std::string &value);

}  // namespace cdcmtkr

#endif
