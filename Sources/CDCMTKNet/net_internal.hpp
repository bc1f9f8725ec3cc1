// Internal to the CDCMTKNet shim (not part of the C interface): errors, logging, the try/catch boundary.
#ifndef CDCMTK_NET_INTERNAL_HPP
#define CDCMTK_NET_INTERNAL_HPP

#include "dcmtk/config/osconfig.h"
#include "dcmtk/ofstd/ofcond.h"

#include <cstdint>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "cdcmtk_net.h"

namespace cdcmtkn {

/// Sets the calling thread's last error message and returns `status`.
int32_t fail(int32_t status, const std::string &message);
void clearError();
/// The calling thread's last error message.
const char *lastError();

/// Once per process: keeps DCMTK's log off stderr (the root's console appender goes, as in CDCMTKResults) and
/// routes the dcmnet logger's errors to the calling thread's LogCapture, if any.
void initializeOnce();

/// Collects dcmnet's error messages on this thread while alive (nested captures restore the outer one).
class LogCapture {
  public:
    LogCapture();
    ~LogCapture();
    LogCapture(const LogCapture &) = delete;
    LogCapture &operator=(const LogCapture &) = delete;
    std::vector<std::string> lines;
    /// The last captured line containing `needle`, or empty.
    std::string find(const char *needle) const;

  private:
    LogCapture *previous_;
};

/// A failure inside an exported function: the status and message `guarded` turns into the return value.
struct Failure {
    int32_t status;
    std::string message;
};

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
        return fail(CDCMTKN_OUT_OF_MEMORY, "out of memory");
    } catch (const std::exception &e) {
        return fail(CDCMTKN_INTERNAL, std::string("unexpected C++ exception: ") + e.what());
    } catch (...) {
        return fail(CDCMTKN_INTERNAL, "unexpected C++ exception");
    }
}

/// An AE title as DICOM allows it: 1-16 characters of the default repertoire, no backslash or control character,
/// not only spaces.
bool isValidAETitle(const std::string &ae);

/// Copies `text` into `buffer` (NUL-terminated, truncated to fit).
void copyString(char *buffer, size_t size, const std::string &text);

}  // namespace cdcmtkn

#endif
