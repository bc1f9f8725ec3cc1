// CDCMTK shim, preflight: a bounded walk over the raw data set BEFORE DCMTK parses it, refusing the
// structures DCMTK 3.6.7 handles by crashing, hanging or allocating without bound:
// (Little and big endian, explicit and implicit VR, and deflated data sets through DCMTK's own inflater.)
// - transfer syntax UIDs DCMTK does not know (named instead of being read as damage),
// - sequences nested deeper than kMaxSequenceDepth (DcmItem::read recurses once per level and
//   overflows the stack at a few thousand),
// - long runs of empty (0000,0000) elements, e.g. 'DICM' followed by zeros (DCMTK logs each one),
// - Pixel Data declaring far more bytes than Rows x Columns x Samples x Bits Allocated (x Frames) need,
//   which a deflated data set would otherwise inflate into memory.
// The walk gives up silently (and lets DCMTK decide) on anything it does not understand: it only
// refuses on the clear signals above, never a file DCMTK would read correctly.
#include "shim_internal.hpp"

#include "dcmtk/dcmdata/dcistrmf.h"

#include <cstdio>
#include <cstring>
#include <vector>

namespace {

constexpr size_t kMaxSequenceDepth = 64;
constexpr uint64_t kMaxEmptyElements = 256;
constexpr uint64_t kMaxElements = 4'000'000;
/// Pixel Data may be a little longer than needed (padding, trailing bytes some writers leave).
constexpr uint64_t kPixelSlackBytes = 1 << 20;

/// Readable names for transfer syntaxes newer than DCMTK 3.6.7's dictionary.
const char *newerSyntaxName(const std::string &uid) {
    struct Entry { const char *uid; const char *name; };
    static const Entry entries[] = {
        {"1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 (Lossless Only)"},
        {"1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 with RPCL Options (Lossless Only)"},
        {"1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000"},
        {"1.2.840.10008.1.2.4.204", "JPIP HTJ2K Referenced"},
        {"1.2.840.10008.1.2.4.205", "JPIP HTJ2K Referenced Deflate"},
        {"1.2.840.10008.1.2.4.110", "JPEG XL Lossless"},
        {"1.2.840.10008.1.2.4.111", "JPEG XL JPEG Recompression"},
        {"1.2.840.10008.1.2.4.112", "JPEG XL"},
        {"1.2.840.10008.1.2.8.1", "Deflated Image Frame Compression"},
        {"1.2.840.10008.1.2.1.98", "Encapsulated Uncompressed Explicit VR Little Endian"},
    };
    for (const auto &e : entries) {
        if (uid == e.uid) return e.name;
    }
    return nullptr;
}

bool isValidUID(const std::string &uid) {
    if (uid.empty() || uid.size() > 64 || uid.front() == '.' || uid.back() == '.') return false;
    for (char c : uid) {
        if (!(c == '.' || (c >= '0' && c <= '9'))) return false;
    }
    return true;
}

/// The text with control and non-ASCII bytes shown as \xNN, at most 64 characters.
std::string printable(const std::string &raw) {
    std::string out;
    for (unsigned char c : raw.substr(0, 64)) {
        if (c >= 0x20 && c < 0x7F) {
            out += static_cast<char>(c);
        } else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
        }
    }
    return out;
}

bool isLongVR(const char vr[2]) {
    static const char *const longs[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "UC", "UN", "UR", "UT", "SV", "UV"};
    for (const char *l : longs) {
        if (vr[0] == l[0] && vr[1] == l[1]) return true;
    }
    return false;
}

bool isKnownVR(const char vr[2]) {
    static const char *const vrs[] = {"AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT",
                                      "OB", "OD", "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST",
                                      "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV"};
    for (const char *v : vrs) {
        if (vr[0] == v[0] && vr[1] == v[1]) return true;
    }
    return false;
}

uint16_t le16(const unsigned char *p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t le32(const unsigned char *p) {
    return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
           (static_cast<uint32_t>(p[3]) << 24);
}

/// Sequential reads (through DCMTK's own inflater for deflated data sets) with the position counted.
class Reader {
public:
    Reader(const char *path, offile_off_t offset) : stream_(OFFilename(path), offset) {}
    bool ok() { return stream_.status().good(); }
    bool deflate() { return stream_.installCompressionFilter(ESC_zlib).good(); }
    uint64_t position() const { return position_; }

    bool read(void *out, size_t n) {
        auto *p = static_cast<unsigned char *>(out);
        size_t got = 0;
        while (got < n) {
            if (stream_.eos() || !stream_.status().good()) return false;
            const offile_off_t r = stream_.read(p + got, static_cast<offile_off_t>(n - got));
            if (r <= 0 && stream_.eos()) return false;
            got += static_cast<size_t>(r);
        }
        position_ += n;
        return true;
    }

    bool skip(uint64_t n) {
        uint64_t left = n;
        while (left > 0) {
            if (stream_.eos() || !stream_.status().good()) return false;
            const offile_off_t r = stream_.skip(static_cast<offile_off_t>(left));
            if (r <= 0 && stream_.eos()) return false;
            left -= static_cast<uint64_t>(r);
        }
        position_ += n;
        return true;
    }

private:
    DcmInputFileStream stream_;
    uint64_t position_ = 0;
};

struct Encoding {
    bool explicitVR;
    bool bigEndian;
};

struct Frame {
    bool sequence;     // a sequence (its children are items) or an item (its children are elements)
    bool undefined;    // undefined length: ends with a delimiter
    uint64_t end;      // position after the last byte, for defined lengths
    Encoding encoding; // of its contents: a UN sequence of undefined length holds implicit VR little endian
};

/// What the top level says about the image, for the Pixel Data length check.
struct ImageHeader {
    uint32_t rows = 0, columns = 0, samples = 1, bitsAllocated = 0, frames = 1;
};

struct Verdict {
    int32_t status = CDCMTK_OK;
    std::string message;
};

Verdict refuse(int32_t status, std::string message) { return Verdict{status, std::move(message)}; }

Verdict walk(Reader &in, const Encoding root) {
    std::vector<Frame> stack;
    bool bigEndian = root.bigEndian;
    const auto u16 = [&bigEndian](const unsigned char *p) {
        return bigEndian ? static_cast<uint16_t>((p[0] << 8) | p[1]) : le16(p);
    };
    const auto u32 = [&bigEndian](const unsigned char *p) {
        return bigEndian ? (static_cast<uint32_t>(p[0]) << 24) | (static_cast<uint32_t>(p[1]) << 16) |
                               (static_cast<uint32_t>(p[2]) << 8) | p[3]
                         : le32(p);
    };
    size_t sequenceDepth = 0;
    uint64_t elements = 0, emptyRun = 0, emptyRunStart = 0;
    ImageHeader image;
    unsigned char h[8];
    while (++elements < kMaxElements) {
        while (!stack.empty() && !stack.back().undefined && in.position() >= stack.back().end) {
            if (in.position() > stack.back().end) return {};  // lengths disagree: DCMTK decides
            if (stack.back().sequence) --sequenceDepth;
            stack.pop_back();
        }
        const Encoding encoding = stack.empty() ? root : stack.back().encoding;
        bigEndian = encoding.bigEndian;
        const bool explicitVR = encoding.explicitVR;
        if (!in.read(h, 8)) return {};  // end of data (or of what can be read): nothing to refuse
        const uint16_t group = u16(h), element = u16(h + 2);
        if (group == 0xFFFE) {
            const uint32_t length = u32(h + 4);
            if (element == 0xE000) {  // item
                if (stack.empty() || !stack.back().sequence) return {};
                stack.push_back(Frame{false, length == 0xFFFFFFFF, in.position() + length, encoding});
            } else if (element == 0xE00D) {  // item delimitation
                if (stack.empty() || stack.back().sequence || !stack.back().undefined) return {};
                stack.pop_back();
            } else if (element == 0xE0DD) {  // sequence delimitation
                if (stack.empty() || !stack.back().sequence || !stack.back().undefined) return {};
                stack.pop_back();
                --sequenceDepth;
            } else {
                return {};
            }
            continue;
        }
        if (!stack.empty() && stack.back().sequence) return {};  // a sequence holds items only

        // Empty elements with tag (0000,0000): zeros where a data set should be.
        if (group == 0 && element == 0 && u32(h + 4) == 0) {
            if (emptyRun == 0) emptyRunStart = in.position() - 8;
            if (++emptyRun > kMaxEmptyElements) {
                return refuse(CDCMTK_CORRUPT,
                              "from byte " + std::to_string(emptyRunStart) +
                                  " of the data set on, it holds only zero bytes (more than " +
                                  std::to_string(kMaxEmptyElements) +
                                  " empty elements with tag (0000,0000)), as a damaged or zero-filled file does");
            }
            continue;
        }
        emptyRun = 0;

        uint64_t length = 0;
        bool isSequence = false, undefinedLength = false;
        Encoding contents = encoding;
        if (explicitVR) {
            const char vr[2] = {static_cast<char>(h[4]), static_cast<char>(h[5])};
            if (!isKnownVR(vr)) return {};
            if (isLongVR(vr)) {
                unsigned char l[4];
                if (!in.read(l, 4)) return {};
                length = u32(l);
            } else {
                length = u16(h + 6);
            }
            isSequence = vr[0] == 'S' && vr[1] == 'Q';
            undefinedLength = length == 0xFFFFFFFF;
            if (undefinedLength && vr[0] == 'U' && vr[1] == 'N') {
                // DCMTK reads a UN value of undefined length as a sequence in implicit VR little endian.
                isSequence = true;
                contents = Encoding{false, false};
            }
            if (undefinedLength && !isSequence) {
                // Only encapsulated Pixel Data (OB/OW) may have an undefined length outside SQ.
                if (!(group == 0x7FE0 && element == 0x0010)) return {};
            }
        } else {
            length = u32(h + 4);
            undefinedLength = length == 0xFFFFFFFF;
            isSequence = undefinedLength || DcmTag(group, element).getEVR() == EVR_SQ;
            if (undefinedLength && group == 0x7FE0 && element == 0x0010) return {};
        }

        if (isSequence) {
            if (++sequenceDepth > kMaxSequenceDepth) {
                char tag[16];
                std::snprintf(tag, sizeof tag, "(%04X,%04X)", group, element);
                return refuse(CDCMTK_CORRUPT, "sequences are nested more than " + std::to_string(kMaxSequenceDepth) +
                                                  " deep (at " + tag +
                                                  "); no real image header nests that deep, so the file is "
                                                  "damaged or crafted");
            }
            stack.push_back(Frame{true, undefinedLength, in.position() + (undefinedLength ? 0 : length), contents});
            continue;
        }

        const bool topLevel = stack.empty();
        if (group == 0x7FE0 && element == 0x0010 && topLevel) {
            if (undefinedLength) return {};  // encapsulated: fragments are checked after loading
            if (image.rows > 0 && image.columns > 0 && image.bitsAllocated > 0) {
                const uint64_t bitsPerFrame = static_cast<uint64_t>(image.rows) * image.columns * image.samples *
                                              image.bitsAllocated;
                const uint64_t needed = (bitsPerFrame + 7) / 8 * image.frames;
                if (length > 2 * needed + kPixelSlackBytes) {
                    return refuse(CDCMTK_CORRUPT,
                                  "Pixel Data (7FE0,0010) declares " + std::to_string(length) + " bytes, but " +
                                      std::to_string(image.columns) + "x" + std::to_string(image.rows) + " pixels x " +
                                      std::to_string(image.samples) + " sample(s) x " +
                                      std::to_string(image.bitsAllocated) + " bits x " +
                                      std::to_string(image.frames) + " frame(s) need only " + std::to_string(needed) +
                                      "; the header or the pixel data is damaged");
                }
            }
        }
        if (topLevel && group == 0x0028 && length <= 16 && !undefinedLength) {
            unsigned char v[16] = {0};
            if (!in.read(v, static_cast<size_t>(length))) return {};
            const uint32_t us = length >= 2 ? u16(v) : 0;
            switch (element) {
            case 0x0010: image.rows = us; break;
            case 0x0011: image.columns = us; break;
            case 0x0002: image.samples = us == 0 ? 1 : us; break;
            case 0x0100: image.bitsAllocated = us; break;
            case 0x0008: {  // Number of Frames, IS text
                const long n = std::strtol(std::string(reinterpret_cast<char *>(v), static_cast<size_t>(length)).c_str(),
                                           nullptr, 10);
                image.frames = n > 0 && n < 1'000'000 ? static_cast<uint32_t>(n) : 1;
                break;
            }
            default: break;
            }
            continue;
        }
        if (undefinedLength) {
            // Encapsulated Pixel Data: a sequence of fragments; skip each one.
            while (true) {
                unsigned char f[8];
                if (!in.read(f, 8)) return {};
                if (u16(f) != 0xFFFE) return {};
                if (u16(f + 2) == 0xE0DD) break;
                if (u16(f + 2) != 0xE000 || u32(f + 4) == 0xFFFFFFFF) return {};
                if (!in.skip(u32(f + 4))) return {};
            }
            continue;
        }
        if (!in.skip(length)) return {};
    }
    return {};
}

}  // namespace

namespace cdcmtk {

int32_t preflight(const char *path, bool hasDICM) {
    std::FILE *f = std::fopen(path, "rb");
    if (f == nullptr) return CDCMTK_OK;  // the loader reports the error
    std::vector<unsigned char> head(65536);
    const size_t n = std::fread(head.data(), 1, head.size(), f);
    std::fclose(f);
    head.resize(n);

    std::string ts;
    size_t datasetStart = 0;
    if (hasDICM) {
        // File meta information: explicit VR little endian elements of group 0002 after 'DICM'.
        size_t i = 132;
        while (i + 8 <= head.size() && le16(&head[i]) == 0x0002) {
            const char vr[2] = {static_cast<char>(head[i + 4]), static_cast<char>(head[i + 5])};
            size_t headerSize = 8, length = 0;
            if (!isKnownVR(vr)) return CDCMTK_OK;
            if (isLongVR(vr)) {
                if (i + 12 > head.size()) return CDCMTK_OK;
                length = le32(&head[i + 8]);
                headerSize = 12;
            } else {
                length = le16(&head[i + 6]);
            }
            if (length == 0xFFFFFFFF || i + headerSize + length > head.size()) return CDCMTK_OK;
            if (le16(&head[i + 2]) == 0x0010) {
                ts.assign(reinterpret_cast<const char *>(&head[i + headerSize]), length);
                while (!ts.empty() && (ts.back() == '\0' || ts.back() == ' ')) ts.pop_back();
            }
            i += headerSize + length;
        }
        datasetStart = i;
    }

    E_TransferSyntax xfer = EXS_Unknown;
    if (!ts.empty()) {
        if (!isValidUID(ts)) {
            return fail(CDCMTK_UNSUPPORTED_TRANSFER_SYNTAX,
                        "a garbled transfer syntax UID, not a valid UID (" + printable(ts) + ")");
        }
        xfer = DcmXfer(ts.c_str()).getXfer();
        // High-Throughput JPEG 2000 is newer than DCMTK 3.6.7 but encoded like JPEG 2000 (explicit VR little
        // endian, encapsulated): walked as that, decoded by OpenJPEG (shim_jpeg2000.cpp).
        if (xfer == EXS_Unknown && jpeg2000SyntaxName(ts) != nullptr) xfer = EXS_JPEG2000LosslessOnly;
        if (xfer == EXS_Unknown) {
            const char *name = newerSyntaxName(ts);
            return fail(CDCMTK_UNSUPPORTED_TRANSFER_SYNTAX,
                        std::string(name != nullptr ? name : "an unknown transfer syntax") + " (" + ts + ")");
        }
    }

    bool explicitVR = true, bigEndian = false;
    if (xfer != EXS_Unknown) {
        const DcmXfer x(xfer);
        explicitVR = x.isExplicitVR();
        bigEndian = x.getByteOrder() == EBO_BigEndian;
    } else {
        // No meta header (or no syntax in it): explicit VR if the first element carries a known VR.
        if (datasetStart + 8 > head.size()) return CDCMTK_OK;
        const char vr[2] = {static_cast<char>(head[datasetStart + 4]), static_cast<char>(head[datasetStart + 5])};
        explicitVR = isKnownVR(vr);
        // 'DICM' followed by zeros has no syntax to go by; zeros read the same either way.
    }

    Reader in(path, static_cast<offile_off_t>(datasetStart));
    if (!in.ok()) return CDCMTK_OK;
    if (xfer == EXS_DeflatedLittleEndianExplicit && !in.deflate()) return CDCMTK_OK;
    const Verdict v = walk(in, Encoding{explicitVR, bigEndian});
    if (v.status != CDCMTK_OK) return fail(v.status, v.message);
    return CDCMTK_OK;
}

}  // namespace cdcmtk
