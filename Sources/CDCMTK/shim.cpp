// CDCMTK shim, common part: one-time initialisation (codecs, logging), thread-local errors, log capture.
#include "shim_internal.hpp"

#include "dcmtk/dcmdata/dcrledrg.h"
#include "dcmtk/dcmjpeg/djdecode.h"
#include "dcmtk/dcmjpls/djdecode.h"
#include "dcmtk/oflog/oflog.h"
#include "dcmtk/oflog/appender.h"
#include "dcmtk/oflog/spi/logevent.h"

#include <cctype>
#include <mutex>

namespace cdcmtk {

namespace {

thread_local std::string tlsLastError;
thread_local LogCapture *tlsCapture = nullptr;

/// Appender installed on DCMTK's root logger: hands events to the calling thread's LogCapture, drops the rest.
/// log4cplus calls append() on the thread that logged, under the appender's own lock.
class CaptureAppender : public dcmtk::log4cplus::Appender {
public:
    CaptureAppender() = default;
    ~CaptureAppender() override { destructorImpl(); }
    void close() override {}

protected:
    void append(const dcmtk::log4cplus::spi::InternalLoggingEvent &event) override {
        LogCapture *capture = tlsCapture;
        if (capture == nullptr) return;
        const auto level = event.getLogLevel();
        const bool error = level >= dcmtk::log4cplus::ERROR_LOG_LEVEL;
        if (!error && level < dcmtk::log4cplus::WARN_LOG_LEVEL) return;
        std::vector<std::string> &lines = error ? capture->errors : capture->warnings;
        if (lines.size() >= LogCapture::kMaxLines) {
            ++(error ? capture->droppedErrors : capture->droppedWarnings);
            return;
        }
        std::string message(event.getMessage().c_str());
        while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back()))) message.pop_back();
        lines.push_back(std::move(message));
    }
};

std::once_flag initOnce;

}  // namespace

void initializeOnce() {
    std::call_once(initOnce, [] {
        // Nothing from DCMTK goes to stderr: warnings and errors reach the active LogCapture (and from
        // there notes.messages or an error's cause); events outside a capture are dropped.
        dcmtk::log4cplus::Logger root = dcmtk::log4cplus::Logger::getRoot();
        root.removeAllAppenders();
        root.addAppender(dcmtk::log4cplus::SharedAppenderPtr(new CaptureAppender()));
        root.setLogLevel(dcmtk::log4cplus::WARN_LOG_LEVEL);

        DcmRLEDecoderRegistration::registerCodecs();
        DJDecoderRegistration::registerCodecs();
        DJLSDecoderRegistration::registerCodecs();
    });
}

int32_t fail(int32_t status, const std::string &message) {
    tlsLastError = message;
    return status;
}

void clearError() { tlsLastError.clear(); }

LogCapture::LogCapture() : previous_(tlsCapture) { tlsCapture = this; }
LogCapture::~LogCapture() { tlsCapture = previous_; }

std::string LogCapture::joinedErrors() const {
    std::string out;
    for (const auto &line : errors) {
        if (!out.empty()) out += "; ";
        out += line;
    }
    if (droppedErrors > 0) out += "; and " + std::to_string(droppedErrors) + " more errors";
    return out;
}

std::string readableSOPClass(const char *uid) {
    if (uid == nullptr || *uid == '\0') return "no SOP Class UID";
    const char *name = dcmFindNameOfUID(uid, nullptr);
    if (name == nullptr) return std::string("SOP class ") + uid;
    std::string camel(name);
    const std::string suffix = "Storage";
    if (camel.size() > suffix.size() && camel.compare(camel.size() - suffix.size(), suffix.size(), suffix) == 0) {
        camel.erase(camel.size() - suffix.size());
    }
    // Split CamelCase into words: before an upper-case letter that follows a lower-case letter or digit,
    // and before the last capital of an acronym that is followed by a lower-case letter ("SRDocument").
    std::string out;
    for (size_t i = 0; i < camel.size(); ++i) {
        const unsigned char c = static_cast<unsigned char>(camel[i]);
        if (i > 0 && std::isupper(c)) {
            const unsigned char prev = static_cast<unsigned char>(camel[i - 1]);
            const bool nextLower = i + 1 < camel.size() && std::islower(static_cast<unsigned char>(camel[i + 1]));
            if (std::islower(prev) || std::isdigit(prev) || (std::isupper(prev) && nextLower)) out += ' ';
        }
        out += static_cast<char>(c);
    }
    return out;
}

}  // namespace cdcmtk

extern "C" const char *cdcmtk_last_error(void) {
    return cdcmtk::tlsLastError.c_str();
}
