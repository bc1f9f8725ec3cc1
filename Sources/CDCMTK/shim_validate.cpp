// CDCMTK shim, validation of a loaded data set before DicomImage decodes it: the image attributes and the
// first compressed frame are checked against each other, so that damage DCMTK would crash on (RLE offsets)
// or silently render (short RLE segments, a JPEG smaller than Rows x Columns, impossible bit depths, a
// rescale that is not a number) is refused with a sentence naming the attribute.
#include "shim_internal.hpp"

#include "dcmtk/dcmdata/dcpixel.h"
#include "dcmtk/dcmdata/dcpixseq.h"
#include "dcmtk/dcmdata/dcpxitem.h"

#include <cmath>
#include <cstdio>

namespace {

constexpr double kMaxRescaleSlope = 1e6;
constexpr double kMaxRescaleIntercept = 1e9;

std::string number(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

std::string text(DcmDataset *ds, const DcmTagKey &key) {
    OFString value;
    ds->findAndGetOFString(key, value, 0);
    return value.c_str();
}

/// The first fragment of the first frame (item 1; item 0 is the Basic Offset Table), or false.
bool firstFragment(DcmDataset *ds, E_TransferSyntax xfer, Uint8 *&data, Uint32 &length) {
    DcmElement *element = nullptr;
    if (ds->findAndGetElement(DCM_PixelData, element).bad() || element == nullptr) return false;
    auto *pixelData = OFstatic_cast(DcmPixelData *, element);
    DcmPixelSequence *sequence = nullptr;
    if (pixelData->getEncapsulatedRepresentation(xfer, nullptr, sequence).bad() || sequence == nullptr) return false;
    if (sequence->card() < 2) return false;
    DcmPixelItem *item = nullptr;
    if (sequence->getItem(item, 1).bad() || item == nullptr) return false;
    length = item->getLength();
    data = nullptr;
    if (length == 0 || item->getUint8Array(data).bad() || data == nullptr) return false;
    return true;
}

uint32_t le32(const Uint8 *p) {
    return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
           (static_cast<uint32_t>(p[3]) << 24);
}

/// Bytes a PackBits (DICOM RLE) segment expands to, reading no further than `end`.
uint64_t packBitsOutput(const Uint8 *data, uint64_t begin, uint64_t end) {
    uint64_t produced = 0, i = begin;
    while (i < end) {
        const int n = static_cast<int8_t>(data[i++]);
        if (n >= 0) {
            const uint64_t count = static_cast<uint64_t>(n) + 1;
            produced += std::min<uint64_t>(count, end - i);
            i += count;
        } else if (n != -128) {
            if (i >= end) break;
            produced += static_cast<uint64_t>(1 - n);
            ++i;
        }
    }
    return produced;
}

int32_t checkRLE(DcmDataset *ds, Uint16 rows, Uint16 columns, Uint16 samples, Uint16 bitsAllocated) {
    Uint8 *data = nullptr;
    Uint32 length = 0;
    if (!firstFragment(ds, EXS_RLELossless, data, length)) return CDCMTK_OK;  // DCMTK reports what is missing
    if (length < 64) {
        return cdcmtk::fail(CDCMTK_CORRUPT, "the first RLE fragment has " + std::to_string(length) +
                                                " bytes, less than its 64-byte header; the pixel data is truncated");
    }
    const uint32_t segments = le32(data);
    const uint32_t expected = static_cast<uint32_t>(samples) * ((bitsAllocated + 7u) / 8u);
    if (segments == 0 || segments > 15 || segments != expected) {
        return cdcmtk::fail(CDCMTK_CORRUPT, "the RLE header lists " + std::to_string(segments) + " segments, but " +
                                                std::to_string(samples) + " sample(s) of " +
                                                std::to_string(bitsAllocated) + " bits need " +
                                                std::to_string(expected) + "; the pixel data is damaged");
    }
    uint32_t offsets[16];
    for (uint32_t s = 0; s < segments; ++s) offsets[s] = le32(data + 4 + 4 * s);
    offsets[segments] = length;
    const uint64_t needed = static_cast<uint64_t>(rows) * columns;
    for (uint32_t s = 0; s < segments; ++s) {
        if (offsets[s] < 64 || offsets[s] >= length || offsets[s + 1] <= offsets[s]) {
            return cdcmtk::fail(CDCMTK_CORRUPT,
                                "RLE segment " + std::to_string(s + 1) + " of " + std::to_string(segments) +
                                    " starts at byte " + std::to_string(offsets[s]) + " of a " +
                                    std::to_string(length) +
                                    "-byte fragment (segments must start after the 64-byte header, in order, "
                                    "inside the fragment); the pixel data is damaged");
        }
    }
    for (uint32_t s = 0; s < segments; ++s) {
        const uint64_t produced = packBitsOutput(data, offsets[s], offsets[s + 1]);
        if (produced < needed) {
            return cdcmtk::fail(CDCMTK_CORRUPT,
                                "RLE segment " + std::to_string(s + 1) + " of " + std::to_string(segments) +
                                    " decodes to " + std::to_string(produced) + " bytes, but " +
                                    std::to_string(columns) + "x" + std::to_string(rows) + " pixels need " +
                                    std::to_string(needed) + "; the pixel data is truncated or damaged");
        }
    }
    return CDCMTK_OK;
}

bool isJPEGFamily(E_TransferSyntax xfer) {
    switch (xfer) {
    case EXS_JPEGProcess1:
    case EXS_JPEGProcess2_4:
    case EXS_JPEGProcess14:
    case EXS_JPEGProcess14SV1:
    case EXS_JPEGLSLossless:
    case EXS_JPEGLSLossy:
        return true;
    default:
        return false;
    }
}

std::string hex(unsigned v) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02X", v);
    return buf;
}

/// The header of the first JPEG / JPEG-LS frame of the first fragment, from SOI to the frame header: a
/// sequence of marker segments, and the frame size in it must be Rows x Columns. DCMTK scans these markers
/// itself (to choose its 8-, 12- or 16-bit decoder) before libjpeg does, and stalls for minutes on some
/// malformed ones (a stray TEM marker followed by zeros, found by the mutation fuzz run), so what is not a
/// marker segment there is refused as damage rather than handed on.
int32_t checkJPEGFrameSize(DcmDataset *ds, E_TransferSyntax xfer, Uint16 rows, Uint16 columns) {
    Uint8 *d = nullptr;
    Uint32 n = 0;
    if (!firstFragment(ds, xfer, d, n)) return CDCMTK_OK;
    if (n < 4 || d[0] != 0xFF || d[1] != 0xD8) return CDCMTK_OK;  // the codec says what is wrong
    auto damaged = [](const std::string &what) {
        return cdcmtk::fail(CDCMTK_CORRUPT, "the compressed first frame's JPEG header is damaged: " + what);
    };
    size_t i = 2;
    for (int markers = 0; markers < 256 && i + 4 <= n; ++markers) {
        if (d[i] != 0xFF) {
            return damaged("byte " + hex(d[i]) + " at offset " + std::to_string(i) + " where a marker should start");
        }
        while (i + 1 < n && d[i + 1] == 0xFF) ++i;  // fill bytes
        if (i + 4 > n) return CDCMTK_OK;
        const Uint8 m = d[i + 1];
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7) || (m >= 0x02 && m <= 0xBF) || m == 0x00) {
            // TEM and RSTn belong in scan data, 0x02-0xBF are reserved, 0xFF00 is a stuffed byte.
            return damaged("marker " + hex(m) + " at offset " + std::to_string(i) + " before the frame header");
        }
        const size_t length = (static_cast<size_t>(d[i + 2]) << 8) | d[i + 3];
        if (length < 2) {
            return damaged("marker " + hex(m) + " at offset " + std::to_string(i) + " declares a length of " +
                           std::to_string(length));
        }
        const bool sof = (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) || m == 0xF7;
        if (sof) {
            if (i + 9 > n) return CDCMTK_OK;
            const unsigned height = (static_cast<unsigned>(d[i + 5]) << 8) | d[i + 6];
            const unsigned width = (static_cast<unsigned>(d[i + 7]) << 8) | d[i + 8];
            if (height == 0) return CDCMTK_OK;  // height given later by a DNL marker
            if (width != columns || height != rows) {
                return cdcmtk::fail(CDCMTK_CORRUPT,
                                    "the compressed first frame is " + std::to_string(width) + "x" +
                                        std::to_string(height) + " pixels, but Columns (0028,0011) and Rows "
                                        "(0028,0010) say " + std::to_string(columns) + "x" + std::to_string(rows) +
                                        "; the header and the pixel data do not belong together");
            }
            return CDCMTK_OK;
        }
        if (m == 0xDA || m == 0xD9) return CDCMTK_OK;  // scan data or end: no frame header found
        i += 2 + length;
    }
    return CDCMTK_OK;
}

}  // namespace

namespace cdcmtk {

int32_t validateImage(DcmDataset *ds, E_TransferSyntax xfer, Uint16 rows, Uint16 columns) {
    // Bit depths: anything else makes DCMTK read the pixel data with an impossible layout.
    Uint16 bitsAllocated = 0, bitsStored = 0, highBit = 0, samples = 1;
    if (ds->findAndGetUint16(DCM_BitsAllocated, bitsAllocated).good()) {
        if (bitsAllocated != 1 && bitsAllocated != 8 && bitsAllocated != 16 && bitsAllocated != 32) {
            return fail(CDCMTK_CORRUPT, "Bits Allocated (0028,0100) is " + std::to_string(bitsAllocated) +
                                            "; an image stores 1, 8, 16 or 32 bits per sample, so the header "
                                            "is damaged");
        }
        if (ds->findAndGetUint16(DCM_BitsStored, bitsStored).good() &&
            (bitsStored == 0 || bitsStored > bitsAllocated)) {
            return fail(CDCMTK_CORRUPT, "Bits Stored (0028,0101) is " + std::to_string(bitsStored) +
                                            " with Bits Allocated " + std::to_string(bitsAllocated) +
                                            "; the header is damaged");
        }
        if (ds->findAndGetUint16(DCM_HighBit, highBit).good() && highBit >= bitsAllocated) {
            return fail(CDCMTK_CORRUPT, "High Bit (0028,0102) is " + std::to_string(highBit) +
                                            " with Bits Allocated " + std::to_string(bitsAllocated) +
                                            "; the header is damaged");
        }
    }
    if (ds->findAndGetUint16(DCM_SamplesPerPixel, samples).good() && samples != 1 && samples != 3) {
        return fail(CDCMTK_CORRUPT, "Samples per Pixel (0028,0002) is " + std::to_string(samples) +
                                        "; only 1 (grey) or 3 (colour) are images; the header is damaged");
    }

    // Modality rescale: a slope or intercept that is not a finite number of sane size turns every pixel
    // into the same value (or NaN), which renders as a blank image.
    Float64 slope = 1, intercept = 0;
    const bool hasSlope = ds->findAndGetFloat64(DCM_RescaleSlope, slope).good();
    const bool hasIntercept = ds->findAndGetFloat64(DCM_RescaleIntercept, intercept).good();
    if (hasSlope && (!std::isfinite(slope) || slope == 0 || std::fabs(slope) > kMaxRescaleSlope)) {
        return fail(CDCMTK_CORRUPT, "Rescale Slope (0028,1053) is '" + text(ds, DCM_RescaleSlope) +
                                        "'; it must be a non-zero finite number up to " + number(kMaxRescaleSlope) +
                                        ", so the modality values cannot be computed");
    }
    if (hasIntercept && (!std::isfinite(intercept) || std::fabs(intercept) > kMaxRescaleIntercept)) {
        return fail(CDCMTK_CORRUPT, "Rescale Intercept (0028,1052) is '" + text(ds, DCM_RescaleIntercept) +
                                        "'; it must be a finite number up to " + number(kMaxRescaleIntercept) +
                                        ", so the modality values cannot be computed");
    }

    if (xfer == EXS_RLELossless) {
        const int32_t status = checkRLE(ds, rows, columns, samples, bitsAllocated);
        if (status != CDCMTK_OK) return status;
    }
    if (isJPEGFamily(xfer)) {
        const int32_t status = checkJPEGFrameSize(ds, xfer, rows, columns);
        if (status != CDCMTK_OK) return status;
    }
    return CDCMTK_OK;
}

}  // namespace cdcmtk
