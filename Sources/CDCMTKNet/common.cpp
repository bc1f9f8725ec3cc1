// CDCMTKNet shim, common part: thread-local errors, DCMTK's log kept off stderr and captured per thread.
#include "net_internal.hpp"

#include "dcmtk/oflog/appender.h"
#include "dcmtk/oflog/consap.h"
#include "dcmtk/oflog/nullap.h"
#include "dcmtk/oflog/oflog.h"
#include "dcmtk/oflog/spi/logevent.h"

#include <cstring>
#include <mutex>

namespace cdcmtkn {

namespace {

thread_local std::string tlsLastError;
thread_local LogCapture *tlsCapture = nullptr;
std::once_flag initOnce;

/// Installed on the "dcmtk.dcmnet" logger (not additive): hands its errors to the logging thread's LogCapture and
/// drops everything else. log4cplus calls append() on the thread that logged.
class CaptureAppender : public dcmtk::log4cplus::Appender {
  public:
    CaptureAppender() = default;
    ~CaptureAppender() override { destructorImpl(); }
    void close() override {}

  protected:
    void append(const dcmtk::log4cplus::spi::InternalLoggingEvent &event) override {
        LogCapture *capture = tlsCapture;
        if (capture == nullptr || capture->lines.size() >= 64) return;
        capture->lines.emplace_back(event.getMessage().c_str());
    }
};

}  // namespace

int32_t fail(int32_t status, const std::string &message) {
    tlsLastError = message;
    return status;
}

void clearError() { tlsLastError.clear(); }

const char *lastError() { return tlsLastError.c_str(); }

void initializeOnce() {
    std::call_once(initOnce, [] {
        dcmtk::log4cplus::Logger root = dcmtk::log4cplus::Logger::getRoot();
        dcmtk::log4cplus::SharedAppenderPtrList appenders = root.getAllAppenders();
        for (size_t n = 0; n < appenders.size(); ++n) {
            if (dynamic_cast<dcmtk::log4cplus::ConsoleAppender *>(appenders[n].get()) != nullptr) {
                root.removeAppender(appenders[n]);
                // log4cplus complains on stderr about a logger without appenders: give it one that drops.
                root.addAppender(dcmtk::log4cplus::SharedAppenderPtr(new dcmtk::log4cplus::NullAppender()));
            }
        }
        dcmtk::log4cplus::Logger net = dcmtk::log4cplus::Logger::getInstance("dcmtk.dcmnet");
        net.setAdditivity(false);
        net.removeAllAppenders();
        net.addAppender(dcmtk::log4cplus::SharedAppenderPtr(new CaptureAppender()));
        net.setLogLevel(dcmtk::log4cplus::ERROR_LOG_LEVEL);
    });
}

LogCapture::LogCapture() : previous_(tlsCapture) { tlsCapture = this; }
LogCapture::~LogCapture() { tlsCapture = previous_; }

std::string LogCapture::find(const char *needle) const {
    for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
        if (it->find(needle) != std::string::npos) return *it;
    }
    return {};
}

bool isValidAETitle(const std::string &ae) {
    if (ae.empty() || ae.size() > 16) return false;
    bool nonSpace = false;
    for (unsigned char c : ae) {
        if (c < 0x20 || c >= 0x7F || c == '\\') return false;
        if (c != ' ') nonSpace = true;
    }
    return nonSpace;
}

void copyString(char *buffer, size_t size, const std::string &text) {
    if (buffer == nullptr || size == 0) return;
    const size_t n = text.size() < size - 1 ? text.size() : size - 1;
    std::memcpy(buffer, text.data(), n);
    buffer[n] = '\0';
}

}  // namespace cdcmtkn

extern "C" const char *cdcmtkn_last_error(void) { return cdcmtkn::lastError(); }

extern "C" int32_t cdcmtkn_is_valid_ae_title(const char *ae) { return ae != nullptr && cdcmtkn::isValidAETitle(ae) ? 1 : 0; }
