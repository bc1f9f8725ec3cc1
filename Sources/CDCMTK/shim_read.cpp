// CDCMTK shim, reading: sniffing, loading a data set, header values as UTF-8.
#include "shim_internal.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sys/stat.h>

namespace {

constexpr size_t kSniffBytes = 512;

struct Sniff {
    int32_t status = CDCMTK_OK;  // OK, UNREADABLE or NOT_DICOM
    std::string error;
    bool hasDICM = false;
    bool looksLikeDataSet = false;
    uint64_t size = 0;
};

bool isVR(unsigned char a, unsigned char b) {
    static const char *const vrs[] = {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT",
                                      "OB", "OD", "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST",
                                      "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV"};
    for (const char *vr : vrs) {
        if (vr[0] == a && vr[1] == b) return true;
    }
    return false;
}

/// Heuristic for files without 'DICM': an ACR-NEMA style / bare data set starts with an element of a low
/// group (implicit VR, offset 0), or has an explicit-VR element of group 0002/0008 near the start (which
/// also catches damaged data sets shifted by a few bytes). Random bytes and text almost never match.
bool looksLikeDataSet(const unsigned char *b, size_t n, uint64_t fileSize) {
    if (n >= 8) {
        const uint16_t groupLE = static_cast<uint16_t>(b[0] | (b[1] << 8));
        const uint16_t elementLE = static_cast<uint16_t>(b[2] | (b[3] << 8));
        const uint32_t lengthLE = static_cast<uint32_t>(b[4]) | (static_cast<uint32_t>(b[5]) << 8) |
                                  (static_cast<uint32_t>(b[6]) << 16) | (static_cast<uint32_t>(b[7]) << 24);
        const bool lowGroup = groupLE == 0x0002 || groupLE == 0x0008 || groupLE == 0x0010 ||
                              groupLE == 0x0018 || groupLE == 0x0020 || groupLE == 0x0028;
        if (lowGroup && elementLE < 0x1000 && lengthLE <= fileSize) return true;
    }
    const size_t limit = n < 256 ? n : 256;
    for (size_t o = 0; o + 6 <= limit; ++o) {
        const bool le = (b[o] == 0x08 || b[o] == 0x02) && b[o + 1] == 0x00;
        const bool be = b[o] == 0x00 && (b[o + 1] == 0x08 || b[o + 1] == 0x02);
        if ((le || be) && isVR(b[o + 4], b[o + 5])) return true;
    }
    return false;
}

Sniff sniff(const char *path) {
    Sniff s;
    struct stat st;
    if (::stat(path, &st) != 0) {
        s.status = CDCMTK_UNREADABLE;
        s.error = std::strerror(errno);
        return s;
    }
    if (S_ISDIR(st.st_mode)) {
        s.status = CDCMTK_UNREADABLE;
        s.error = "it is a directory";
        return s;
    }
    if (!S_ISREG(st.st_mode)) {
        // Opening a FIFO blocks until a writer appears; a device or socket is no scan either.
        s.status = CDCMTK_UNREADABLE;
        s.error = S_ISFIFO(st.st_mode) ? "it is a named pipe (FIFO), not a regular file"
                  : S_ISSOCK(st.st_mode) ? "it is a socket, not a regular file"
                                         : "it is a device, not a regular file";
        return s;
    }
    s.size = static_cast<uint64_t>(st.st_size);
    FILE *f = std::fopen(path, "rb");
    if (f == nullptr) {
        s.status = CDCMTK_UNREADABLE;
        s.error = std::strerror(errno);
        return s;
    }
    unsigned char buf[kSniffBytes];
    const size_t n = std::fread(buf, 1, sizeof buf, f);
    const bool readError = std::ferror(f) != 0;
    const int readErrno = errno;
    std::fclose(f);
    if (readError) {
        s.status = CDCMTK_UNREADABLE;
        s.error = std::strerror(readErrno);
        return s;
    }
    if (n == 0) {
        s.status = CDCMTK_NOT_DICOM;
        s.error = "the file is empty (0 bytes)";
        return s;
    }
    s.hasDICM = n >= 132 && std::memcmp(buf + 128, "DICM", 4) == 0;
    s.looksLikeDataSet = !s.hasDICM && looksLikeDataSet(buf, n, s.size);
    if (!s.hasDICM && !s.looksLikeDataSet) {
        s.status = CDCMTK_NOT_DICOM;
        s.error = "no 'DICM' marker at byte 128 and no DICOM data set at the start of the file";
    }
    return s;
}

void appendWarnings(std::vector<std::string> &messages, const std::vector<std::string> &warnings) {
    for (const auto &w : warnings) messages.push_back("DCMTK warning: " + w);
}

}  // namespace

extern "C" int32_t cdcmtk_file_open(const char *path, cdcmtk_file **out_file) {
    if (out_file != nullptr) *out_file = nullptr;
    return cdcmtk::guarded([&]() -> int32_t {
        if (path == nullptr || out_file == nullptr) return cdcmtk::fail(CDCMTK_INVALID_ARGUMENT, "NULL argument");
        cdcmtk::initializeOnce();
        const Sniff s = sniff(path);
        if (s.status != CDCMTK_OK) return cdcmtk::fail(s.status, s.error);
        const int32_t refused = cdcmtk::preflight(path, s.hasDICM);
        if (refused != CDCMTK_OK) return refused;

        auto file = std::make_unique<cdcmtk_file>();
        file->path = path;
        cdcmtk::LogCapture log;
        // Auto-detect: file format with meta header, or a bare data set with a guessed transfer syntax.
        // Values longer than DCM_MaxReadLength (Pixel Data) stay on disk until a frame is decoded.
        const OFCondition cond = file->format.loadFile(OFFilename(path), EXS_Unknown, EGL_noChange,
                                                       DCM_MaxReadLength, ERM_autoDetect);
        if (cond.bad()) {
            std::string cause = cond.text();
            const std::string logged = log.joinedErrors();
            if (!logged.empty() && logged.find(cause) == std::string::npos) cause = logged + "; " + cause;
            // An unknown transfer syntax in the meta header is a syntax problem, not damage.
            OFString metaTS;
            DcmMetaInfo *meta = file->format.getMetaInfo();
            if (meta != nullptr && meta->findAndGetOFString(DCM_TransferSyntaxUID, metaTS).good() &&
                !metaTS.empty() && DcmXfer(metaTS.c_str()).getXfer() == EXS_Unknown) {
                return cdcmtk::fail(CDCMTK_UNSUPPORTED_TRANSFER_SYNTAX,
                                    std::string("unknown transfer syntax (") + metaTS.c_str() + "): " + cause);
            }
            // Files without 'DICM' that DCMTK cannot parse are reported as damaged only if they looked
            // like a data set; the sniffing step has already rejected everything else.
            return cdcmtk::fail(CDCMTK_CORRUPT, cause);
        }
        DcmDataset *ds = file->format.getDataset();
        if (ds == nullptr || ds->card() == 0) {
            return cdcmtk::fail(s.hasDICM ? CDCMTK_CORRUPT : CDCMTK_NOT_DICOM, "no data set elements found");
        }
        file->hasMetaHeader = s.hasDICM;
        const E_TransferSyntax xfer = ds->getOriginalXfer();
        const DcmXfer x(xfer);
        OFString metaTS;
        DcmMetaInfo *meta = file->format.getMetaInfo();
        if (s.hasDICM && meta != nullptr && meta->findAndGetOFString(DCM_TransferSyntaxUID, metaTS).good() &&
            DcmXfer(metaTS.c_str()).getXfer() == EXS_Unknown && cdcmtk::jpeg2000SyntaxName(metaTS.c_str()) != nullptr) {
            // Newer than DCMTK 3.6.7, which read the data set as little endian, but decoded here: High-Throughput
            // JPEG 2000 (the preflight let only these unknown syntaxes through).
            file->transferSyntaxUID = metaTS.c_str();
            file->transferSyntaxName = cdcmtk::jpeg2000SyntaxName(metaTS.c_str());
        } else if (xfer != EXS_Unknown) {
            file->transferSyntaxUID = x.getXferID();
            file->transferSyntaxName = x.getXferName();
        }
        appendWarnings(file->messages, log.warnings);
        if (!s.hasDICM) {
            file->messages.push_back("no DICOM file meta header (ACR-NEMA style data set), read as " +
                                     (file->transferSyntaxName.empty() ? std::string("an unknown transfer syntax")
                                                                       : file->transferSyntaxName));
        }

        // Text to UTF-8 according to Specific Character Set. On failure keep the bytes as stored; the Swift
        // side falls back to ISO 8859-1 for values that are not valid UTF-8.
        {
            cdcmtk::LogCapture charsetLog;
            const OFCondition conv = ds->convertToUTF8();
            if (conv.bad()) {
                OFString scs;
                ds->findAndGetOFStringArray(DCM_SpecificCharacterSet, scs);
                std::string msg = "text could not be converted to UTF-8 from Specific Character Set '" +
                                  std::string(scs.c_str()) + "' (" + conv.text() + ")";
                const std::string logged = charsetLog.joinedErrors();
                if (!logged.empty()) msg += ": " + logged;
                file->messages.push_back(msg + "; values are shown as stored");
            }
            appendWarnings(file->messages, charsetLog.warnings);
        }
        *out_file = file.release();
        return CDCMTK_OK;
    });
}

extern "C" void cdcmtk_file_free(cdcmtk_file *file) {
    try {
        delete file;
    } catch (...) {
        // Destructors of DCMTK objects do not throw; nothing sensible to do if one did.
    }
}

extern "C" const char *cdcmtk_file_string(cdcmtk_file *file, uint16_t group, uint16_t element) {
    if (file == nullptr) return nullptr;
    try {  // the single boundary; failures give NULL and leave cdcmtk_last_error() alone
        const uint32_t key = (static_cast<uint32_t>(group) << 16) | element;
        auto cached = file->strings.find(key);
        if (cached == file->strings.end()) {
            OFString value;
            DcmItem *item = group == 0x0002 ? static_cast<DcmItem *>(file->format.getMetaInfo())
                                            : static_cast<DcmItem *>(file->format.getDataset());
            cdcmtk::LogCapture log;  // keep DCMTK quiet about absent or odd values
            if (item == nullptr || item->findAndGetOFStringArray(DcmTagKey(group, element), value).bad()) {
                value.clear();
            }
            cached = file->strings.emplace(key, std::string(value.c_str(), value.length())).first;
        }
        return cached->second.empty() ? nullptr : cached->second.c_str();
    } catch (...) {
        return nullptr;
    }
}

extern "C" const char *cdcmtk_file_transfer_syntax_uid(const cdcmtk_file *file) {
    return (file == nullptr || file->transferSyntaxUID.empty()) ? nullptr : file->transferSyntaxUID.c_str();
}

extern "C" const char *cdcmtk_file_transfer_syntax_name(const cdcmtk_file *file) {
    return (file == nullptr || file->transferSyntaxName.empty()) ? nullptr : file->transferSyntaxName.c_str();
}

extern "C" int32_t cdcmtk_file_has_meta_header(const cdcmtk_file *file) {
    return (file != nullptr && file->hasMetaHeader) ? 1 : 0;
}

extern "C" int32_t cdcmtk_file_message_count(const cdcmtk_file *file) {
    return file == nullptr ? 0 : static_cast<int32_t>(file->messages.size());
}

extern "C" const char *cdcmtk_file_message(const cdcmtk_file *file, int32_t index) {
    if (file == nullptr || index < 0 || static_cast<size_t>(index) >= file->messages.size()) return nullptr;
    return file->messages[static_cast<size_t>(index)].c_str();
}

extern "C" int32_t cdcmtk_is_probably_dicom(const char *path) {
    int32_t answer = 0;
    cdcmtk::guarded([&]() -> int32_t {
        if (path == nullptr) return CDCMTK_INVALID_ARGUMENT;
        const Sniff s = sniff(path);
        if (s.status != CDCMTK_OK) return s.status;
        // 'DICM', or the start of a bare (ACR-NEMA style) data set. DCMTK is not asked to parse it here: a
        // truncated data set is still DICOM (and its decoding error says it is damaged), and parsing
        // happens once, after the preflight checks of cdcmtk_file_open.
        answer = (s.hasDICM || s.looksLikeDataSet) ? 1 : 0;
        return CDCMTK_OK;
    });
    return answer;
}
