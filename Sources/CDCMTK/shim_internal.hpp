// Internal to the CDCMTK shim (not part of the C interface): shared state and helpers.
#ifndef CDCMTK_SHIM_INTERNAL_HPP
#define CDCMTK_SHIM_INTERNAL_HPP

#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dctk.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cdcmtk.h"

struct cdcmtk_file {
    DcmFileFormat format;
    bool hasMetaHeader = false;
    std::string transferSyntaxUID;
    std::string transferSyntaxName;
    std::vector<std::string> messages;
    std::map<uint32_t, std::string> strings;  // cache for cdcmtk_file_string, keeps returned pointers alive
    std::string path;
};

struct cdcmtk_image {
    int32_t width = 0;
    int32_t height = 0;
    std::vector<uint8_t> pixels;
    int32_t windowKind = CDCMTK_WINDOW_NONE;
    double windowCenter = 0;
    double windowWidth = 0;
    std::string windowExplanation;
    bool inverted = false;
    bool convertedFromColour = false;
    int32_t frameCount = 1;
    std::vector<std::string> messages;
};

namespace cdcmtk {

/// Registers the RLE, JPEG and JPEG-LS decoders and routes DCMTK's log into LogCapture; once per process.
void initializeOnce();

/// Sets the calling thread's last error message and returns `status`.
int32_t fail(int32_t status, const std::string &message);
void clearError();

/// Walks the raw data set of `path` before DCMTK parses it and refuses what DCMTK cannot survive or would
/// spend unbounded time or memory on (shim_preflight.cpp). CDCMTK_OK if nothing to refuse; otherwise sets the
/// last error and returns CORRUPT or UNSUPPORTED_TRANSFER_SYNTAX.
int32_t preflight(const char *path, bool hasDICM);

/// Checks the image attributes (bit depths, samples, rescale) and the first compressed frame (RLE header
/// and segment lengths, JPEG frame size) of a loaded data set before DicomImage decodes it
/// (shim_validate.cpp). CDCMTK_OK, or sets the last error and returns CORRUPT.
int32_t validateImage(DcmDataset *ds, E_TransferSyntax xfer, Uint16 rows, Uint16 columns);

/// The name of a JPEG 2000 or High-Throughput JPEG 2000 transfer syntax UID (decoded by OpenJPEG in
/// shim_jpeg2000.cpp), or NULL for any other UID.
const char *jpeg2000SyntaxName(const std::string &uid);

/// Decodes the first frame of JPEG 2000 pixel data with OpenJPEG and replaces the data set's Pixel Data by it,
/// as native pixel data with the codestream's precision, sign and components (NumberOfFrames becomes 1). What
/// the codestream says against the header goes into `notes`. CDCMTK_OK, or sets the last error and returns
/// CORRUPT (or OUT_OF_MEMORY).
int32_t decodeJPEG2000FirstFrame(DcmDataset *ds, const std::string &uid, Uint16 rows, Uint16 columns,
                                 std::vector<std::string> &notes);

/// While alive, DCMTK log events (warnings and errors) raised on this thread are collected in `lines`
/// instead of going to stderr. Nested captures are not supported (the innermost wins). At most kMaxLines of
/// each kind are kept (a damaged file can make DCMTK log once per element); the rest are only counted.
class LogCapture {
public:
    LogCapture();
    ~LogCapture();
    LogCapture(const LogCapture &) = delete;
    LogCapture &operator=(const LogCapture &) = delete;
    static constexpr size_t kMaxLines = 32;
    std::vector<std::string> warnings;  // "W"-level events, in order
    std::vector<std::string> errors;    // "E"/"F"-level events, in order
    size_t droppedWarnings = 0;
    size_t droppedErrors = 0;
    /// The error lines joined with "; " (or "" if none).
    std::string joinedErrors() const;
private:
    LogCapture *previous_;
};

/// A status on exceptions escaping the body: the single try/catch boundary of an exported function.
template <typename Body>
int32_t guarded(Body &&body) noexcept {
    try {
        clearError();
        return body();
    } catch (const std::bad_alloc &) {
        return fail(CDCMTK_OUT_OF_MEMORY, "out of memory");
    } catch (const std::exception &e) {
        return fail(CDCMTK_INTERNAL, std::string("unexpected C++ exception: ") + e.what());
    } catch (...) {
        return fail(CDCMTK_INTERNAL, "unexpected C++ exception");
    }
}

/// "BasicTextSRStorage" -> "Basic Text SR"; unknown UIDs give "SOP class <uid>".
std::string readableSOPClass(const char *uid);

}  // namespace cdcmtk

#endif
