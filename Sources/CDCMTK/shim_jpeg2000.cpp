// CDCMTK shim, JPEG 2000: Debian's DCMTK 3.6.7 has no JPEG 2000 codec, so the first frame of JPEG 2000
// (1.2.840.10008.1.2.4.90, .91) and High-Throughput JPEG 2000 (.4.201-.203) pixel data is decoded here with
// OpenJPEG and put back into the data set as native pixel data; DicomImage then applies the modality LUT, VOI
// and presentation transforms as for any other file.
//
// Where the codestream and the header disagree (precision, sign, colour transform), the codestream is what the
// pixels are: it is trusted, and the decoding notes say so.
#include "shim_internal.hpp"

#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"

#include <openjpeg.h>

#include <algorithm>
#include <cstring>

namespace {

/// A codestream in memory, read by OpenJPEG through the stream callbacks below.
struct MemoryStream {
    const uint8_t *data = nullptr;
    size_t size = 0;
    size_t offset = 0;
};

OPJ_SIZE_T readStream(void *buffer, OPJ_SIZE_T bytes, void *user) {
    auto *s = static_cast<MemoryStream *>(user);
    if (s->offset >= s->size) return static_cast<OPJ_SIZE_T>(-1);
    const size_t n = std::min(static_cast<size_t>(bytes), s->size - s->offset);
    std::memcpy(buffer, s->data + s->offset, n);
    s->offset += n;
    return n;
}

OPJ_OFF_T skipStream(OPJ_OFF_T bytes, void *user) {
    auto *s = static_cast<MemoryStream *>(user);
    if (bytes < 0) {
        const size_t back = std::min(static_cast<size_t>(-bytes), s->offset);
        s->offset -= back;
        return -static_cast<OPJ_OFF_T>(back);
    }
    const size_t n = std::min(static_cast<size_t>(bytes), s->size - s->offset);
    s->offset += n;
    return static_cast<OPJ_OFF_T>(n);
}

OPJ_BOOL seekStream(OPJ_OFF_T to, void *user) {
    auto *s = static_cast<MemoryStream *>(user);
    if (to < 0 || static_cast<size_t>(to) > s->size) return OPJ_FALSE;
    s->offset = static_cast<size_t>(to);
    return OPJ_TRUE;
}

/// OpenJPEG's messages of one decode.
struct Messages {
    std::vector<std::string> errors;
    std::vector<std::string> warnings;
};

void collect(std::vector<std::string> &into, const char *message) {
    if (message == nullptr || into.size() >= 8) return;
    std::string line(message);
    while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
    if (!line.empty()) into.push_back(line);
}

void onError(const char *message, void *user) { collect(static_cast<Messages *>(user)->errors, message); }
void onWarning(const char *message, void *user) { collect(static_cast<Messages *>(user)->warnings, message); }
void onInfo(const char *, void *) {}

std::string joined(const std::vector<std::string> &lines) {
    std::string out;
    for (const auto &l : lines) out += (out.empty() ? "" : "; ") + l;
    return out;
}

struct Decoded {
    int32_t status = CDCMTK_OK;
    std::string message;
};

/// The fragments of frame 0, joined: all fragments for a single frame; otherwise by the Basic Offset Table,
/// or, without one, the first fragment (one fragment per frame, the common case), extended by the following
/// fragments that do not start a codestream (SOC marker FF 4F).
bool firstFrameCodestream(DcmPixelSequence *seq, long frames, std::vector<uint8_t> &out, std::string &why) {
    const unsigned long items = seq->card();
    if (items < 2) {
        why = "the encapsulated pixel data holds no fragment";
        return false;
    }
    DcmPixelItem *table = nullptr;
    std::vector<Uint32> offsets;
    if (seq->getItem(table, 0).good() && table != nullptr && table->getLength() >= 4) {
        Uint8 *bytes = nullptr;
        if (table->getUint8Array(bytes).good() && bytes != nullptr) {
            for (Uint32 i = 0; i + 4 <= table->getLength(); i += 4) {
                offsets.push_back(Uint32(bytes[i]) | Uint32(bytes[i + 1]) << 8 | Uint32(bytes[i + 2]) << 16 |
                                  Uint32(bytes[i + 3]) << 24);
            }
        }
    }
    // Frame 0 ends where frame 1 starts: its offset is counted in item bytes (8-byte item header + value).
    const uint64_t end = (frames > 1 && offsets.size() > 1) ? offsets[1] : UINT64_MAX;
    uint64_t position = 0;
    for (unsigned long i = 1; i < items; ++i) {
        DcmPixelItem *item = nullptr;
        if (seq->getItem(item, i).bad() || item == nullptr) break;
        const Uint32 length = item->getLength();
        Uint8 *bytes = nullptr;
        if (length > 0 && (item->getUint8Array(bytes).bad() || bytes == nullptr)) {
            why = "a fragment of the pixel data cannot be read";
            return false;
        }
        if (frames > 1) {
            if (position >= end) break;
            const bool startsCodestream = length >= 2 && bytes[0] == 0xFF && bytes[1] == 0x4F;
            if (end == UINT64_MAX && i > 1 && startsCodestream) break;
        }
        if (length > 0) out.insert(out.end(), bytes, bytes + length);
        position += 8 + uint64_t(length);
    }
    // A fragment has an even length, so a codestream of odd length carries one pad byte after its EOC (FF D9).
    if (out.size() >= 3 && out[out.size() - 1] == 0x00 && out[out.size() - 3] == 0xFF && out[out.size() - 2] == 0xD9) {
        out.pop_back();
    }
    if (out.empty()) {
        why = "the first frame's fragments are empty";
        return false;
    }
    return true;
}

}  // namespace

namespace cdcmtk {

const char *jpeg2000SyntaxName(const std::string &uid) {
    if (uid == "1.2.840.10008.1.2.4.90") return "JPEG 2000 Image Compression (Lossless Only)";
    if (uid == "1.2.840.10008.1.2.4.91") return "JPEG 2000 Image Compression";
    if (uid == "1.2.840.10008.1.2.4.201") return "High-Throughput JPEG 2000 Image Compression (Lossless Only)";
    if (uid == "1.2.840.10008.1.2.4.202") return "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)";
    if (uid == "1.2.840.10008.1.2.4.203") return "High-Throughput JPEG 2000 Image Compression";
    return nullptr;
}

int32_t decodeJPEG2000FirstFrame(DcmDataset *ds, const std::string &uid, Uint16 rows, Uint16 columns,
                                 std::vector<std::string> &notes) {
    const std::string name = jpeg2000SyntaxName(uid) != nullptr ? jpeg2000SyntaxName(uid) : uid;
    DcmElement *element = nullptr;
    if (ds->findAndGetElement(DCM_PixelData, element).bad() || element == nullptr) {
        return fail(CDCMTK_CORRUPT, "no Pixel Data");
    }
    auto *pixels = OFstatic_cast(DcmPixelData *, element);
    // The fragments as read: under the syntax DCMTK read the file with (for HTJ2K, which DCMTK 3.6.7 does not
    // know, the little endian syntax it fell back to; the pixel sequence is parsed all the same).
    DcmPixelSequence *seq = nullptr;
    E_TransferSyntax original = EXS_Unknown;
    const DcmRepresentationParameter *parameter = nullptr;
    pixels->getOriginalRepresentationKey(original, parameter);
    if (pixels->getEncapsulatedRepresentation(original, parameter, seq).bad() || seq == nullptr) {
        return fail(CDCMTK_CORRUPT, "the " + name + " pixel data is not encapsulated in fragments");
    }
    long frames = 1;
    {
        Sint32 n = 1;
        if (ds->findAndGetSint32(DCM_NumberOfFrames, n).good() && n > 1) frames = n;
    }
    std::vector<uint8_t> codestream;
    std::string why;
    if (!firstFrameCodestream(seq, frames, codestream, why)) return fail(CDCMTK_CORRUPT, why);

    // A JP2 file (signature box) instead of a raw codestream: some writers wrap it; OpenJPEG reads both.
    const bool jp2 = codestream.size() >= 12 && std::memcmp(codestream.data(), "\x00\x00\x00\x0CjP  ", 8) == 0;
    if (!jp2 && !(codestream.size() >= 2 && codestream[0] == 0xFF && codestream[1] == 0x4F)) {
        return fail(CDCMTK_CORRUPT, "the first frame is not a JPEG 2000 codestream (no SOC marker FF 4F)");
    }
    if (jp2) notes.push_back("the JPEG 2000 frame is a JP2 file, not a bare codestream as DICOM requires; read anyway");

    MemoryStream memory{codestream.data(), codestream.size(), 0};
    Messages messages;
    opj_stream_t *stream = opj_stream_create(64 * 1024, OPJ_TRUE);
    opj_codec_t *codec = opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K);
    opj_image_t *image = nullptr;
    struct Cleanup {
        opj_stream_t *&s; opj_codec_t *&c; opj_image_t *&i;
        ~Cleanup() {
            if (i) opj_image_destroy(i);
            if (c) opj_destroy_codec(c);
            if (s) opj_stream_destroy(s);
        }
    } cleanup{stream, codec, image};
    if (stream == nullptr || codec == nullptr) return fail(CDCMTK_OUT_OF_MEMORY, "OpenJPEG could not be set up");
    opj_stream_set_user_data(stream, &memory, nullptr);
    opj_stream_set_user_data_length(stream, codestream.size());
    opj_stream_set_read_function(stream, readStream);
    opj_stream_set_skip_function(stream, skipStream);
    opj_stream_set_seek_function(stream, seekStream);
    opj_set_error_handler(codec, onError, &messages);
    opj_set_warning_handler(codec, onWarning, &messages);
    opj_set_info_handler(codec, onInfo, nullptr);
    opj_dparameters_t parameters;
    opj_set_default_decoder_parameters(&parameters);
    if (!opj_setup_decoder(codec, &parameters)) return fail(CDCMTK_INTERNAL, "OpenJPEG rejected its parameters");
    opj_codec_set_threads(codec, 1);

    if (!opj_read_header(stream, codec, &image) || image == nullptr) {
        return fail(CDCMTK_CORRUPT, "the " + name + " codestream header cannot be read (OpenJPEG: " +
                                        joined(messages.errors) + ")");
    }
    // The image size and components, checked before OpenJPEG allocates the decoded planes.
    const uint64_t width = image->x1 - image->x0, height = image->y1 - image->y0;
    if (width != columns || height != rows) {
        return fail(CDCMTK_CORRUPT, "the " + name + " codestream is " + std::to_string(width) + "x" +
                                        std::to_string(height) + " but Rows/Columns say " + std::to_string(columns) +
                                        "x" + std::to_string(rows));
    }
    if (image->numcomps != 1 && image->numcomps != 3) {
        return fail(CDCMTK_CORRUPT, "the " + name + " codestream has " + std::to_string(image->numcomps) +
                                        " components; 1 (grey) or 3 (colour) are decoded");
    }
    if (!opj_decode(codec, stream, image) || !opj_end_decompress(codec, stream)) {
        return fail(CDCMTK_CORRUPT, "the " + name + " codestream could not be decoded (OpenJPEG: " +
                                        joined(messages.errors) + ")");
    }
    const opj_image_comp_t &c0 = image->comps[0];
    for (OPJ_UINT32 k = 0; k < image->numcomps; ++k) {
        const opj_image_comp_t &c = image->comps[k];
        if (c.data == nullptr || c.w != width || c.h != height || c.dx != 1 || c.dy != 1 || c.prec != c0.prec ||
            c.sgnd != c0.sgnd) {
            return fail(CDCMTK_CORRUPT, "the " + name + " codestream's components differ in size, sampling or "
                                            "precision; such images are not decoded");
        }
    }
    const unsigned precision = c0.prec;
    const bool isSigned = c0.sgnd != 0;
    if (precision < 1 || precision > 16) {
        return fail(CDCMTK_CORRUPT, "the " + name + " codestream has " + std::to_string(precision) +
                                        "-bit samples; 1 to 16 bits are decoded");
    }
    for (const auto &w : messages.warnings) notes.push_back("OpenJPEG warning: " + w);

    // What the header says, against the codestream.
    Uint16 bitsStored = 0, representation = 0, samples = 1;
    ds->findAndGetUint16(DCM_BitsStored, bitsStored);
    ds->findAndGetUint16(DCM_PixelRepresentation, representation);
    ds->findAndGetUint16(DCM_SamplesPerPixel, samples);
    if (bitsStored != precision || (representation != 0) != isSigned) {
        notes.push_back("the " + name + " codestream holds " + std::to_string(precision) + "-bit " +
                        (isSigned ? "signed" : "unsigned") + " samples, the header says " +
                        std::to_string(bitsStored) + "-bit " + (representation != 0 ? "signed" : "unsigned") +
                        ": the codestream was trusted");
    }
    if (samples != image->numcomps) {
        notes.push_back("the header says " + std::to_string(samples) + " samples per pixel, the codestream has " +
                        std::to_string(image->numcomps) + ": the codestream was trusted");
    }

    // Native pixel data: 8 bits allocated up to 8-bit samples, else 16; colour interleaved (planar 0).
    const size_t count = static_cast<size_t>(width) * static_cast<size_t>(height);
    const unsigned allocated = precision <= 8 ? 8 : 16;
    const int32_t lo = isSigned ? -(1 << (precision - 1)) : 0;
    const int32_t hi = isSigned ? (1 << (precision - 1)) - 1 : (1 << precision) - 1;
    const size_t values = count * image->numcomps;
    OFCondition put;
    if (allocated == 8) {
        std::vector<Uint8> native(values + (values & 1));
        for (size_t i = 0; i < count; ++i) {
            for (OPJ_UINT32 k = 0; k < image->numcomps; ++k) {
                const int32_t v = std::clamp<int32_t>(image->comps[k].data[i], lo, hi);
                native[i * image->numcomps + k] = static_cast<Uint8>(v & 0xFF);
            }
        }
        put = ds->putAndInsertUint8Array(DCM_PixelData, native.data(), static_cast<unsigned long>(native.size()));
    } else {
        std::vector<Uint16> native(values);
        for (size_t i = 0; i < count; ++i) {
            for (OPJ_UINT32 k = 0; k < image->numcomps; ++k) {
                const int32_t v = std::clamp<int32_t>(image->comps[k].data[i], lo, hi);
                native[i * image->numcomps + k] = static_cast<Uint16>(v & 0xFFFF);
            }
        }
        put = ds->putAndInsertUint16Array(DCM_PixelData, native.data(), static_cast<unsigned long>(native.size()));
    }
    if (put.bad()) return fail(CDCMTK_OUT_OF_MEMORY, std::string("storing the decoded frame failed: ") + put.text());
    ds->putAndInsertUint16(DCM_BitsAllocated, static_cast<Uint16>(allocated));
    ds->putAndInsertUint16(DCM_BitsStored, static_cast<Uint16>(precision));
    ds->putAndInsertUint16(DCM_HighBit, static_cast<Uint16>(precision - 1));
    ds->putAndInsertUint16(DCM_PixelRepresentation, isSigned ? 1 : 0);
    ds->putAndInsertUint16(DCM_SamplesPerPixel, static_cast<Uint16>(image->numcomps));
    ds->putAndInsertString(DCM_NumberOfFrames, "1");
    if (image->numcomps == 3) {
        // OpenJPEG undoes the codestream's reversible or irreversible colour transform (RCT/ICT) itself, so the
        // planes are RGB: YBR_RCT / YBR_ICT in the header must not be converted a second time.
        OFString photometric;
        ds->findAndGetOFString(DCM_PhotometricInterpretation, photometric);
        if (photometric != "RGB") {
            notes.push_back("PhotometricInterpretation " + std::string(photometric.c_str()) +
                            ": OpenJPEG undid the codestream's colour transform, so the pixels are RGB");
        }
        ds->putAndInsertString(DCM_PhotometricInterpretation, "RGB");
        ds->putAndInsertUint16(DCM_PlanarConfiguration, 0);
    }
    notes.push_back(name + " decoded by OpenJPEG " + std::string(opj_version()) + " (first frame, " +
                    std::to_string(precision) + "-bit " + (isSigned ? "signed" : "unsigned") + ")");
    return CDCMTK_OK;
}

}  // namespace cdcmtk
