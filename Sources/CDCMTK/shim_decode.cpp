// CDCMTK shim, decoding: first frame to an 8-bit grey image through DicomImage (modality LUT, VOI,
// MONOCHROME1 / Presentation LUT Shape, colour to grey).
#include "shim_internal.hpp"

#include "dcmtk/dcmdata/dccodec.h"
#include "dcmtk/dcmimgle/dcmimage.h"
#include "dcmtk/dcmimage/diregist.h"  // registers DiColorImage support, so colour images load

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace {

constexpr double kLowPercentile = 0.5;
constexpr double kHighPercentile = 99.5;
/// Largest usable window centre or width: beyond any stored value after a sane rescale.
constexpr double kMaxWindowValue = 1e9;

struct Range {
    double lo = 0;
    double hi = 0;
    bool ok = false;
};

/// The kLowPercentile-th and kHighPercentile-th values of `count` samples (NumPy's 'lower' and 'higher'
/// methods: the sorted values at floor(p*(n-1)) and ceil(q*(n-1))). Uses a histogram when the value range
/// is small (always for 8-16 bit data), otherwise a copy and nth_element.
template <typename T>
Range percentileRange(const T *data, size_t count) {
    Range r;
    if (data == nullptr || count == 0) return r;
    const size_t loIndex = static_cast<size_t>(std::floor(kLowPercentile / 100.0 * static_cast<double>(count - 1)));
    const size_t hiIndex = static_cast<size_t>(std::ceil(kHighPercentile / 100.0 * static_cast<double>(count - 1)));
    T mn = data[0], mx = data[0];
    for (size_t i = 1; i < count; ++i) {
        if (data[i] < mn) mn = data[i];
        if (data[i] > mx) mx = data[i];
    }
    const int64_t span = static_cast<int64_t>(mx) - static_cast<int64_t>(mn) + 1;
    if (span <= (int64_t(1) << 20)) {
        std::vector<uint32_t> hist(static_cast<size_t>(span), 0);
        for (size_t i = 0; i < count; ++i) ++hist[static_cast<size_t>(static_cast<int64_t>(data[i]) - mn)];
        size_t seen = 0;
        bool haveLo = false;
        for (size_t v = 0; v < hist.size(); ++v) {
            seen += hist[v];
            if (!haveLo && seen > loIndex) {
                r.lo = static_cast<double>(static_cast<int64_t>(mn) + static_cast<int64_t>(v));
                haveLo = true;
            }
            if (seen > hiIndex) {
                r.hi = static_cast<double>(static_cast<int64_t>(mn) + static_cast<int64_t>(v));
                break;
            }
        }
    } else {
        std::vector<T> copy(data, data + count);
        std::nth_element(copy.begin(), copy.begin() + static_cast<std::ptrdiff_t>(loIndex), copy.end());
        r.lo = static_cast<double>(copy[loIndex]);
        std::nth_element(copy.begin(), copy.begin() + static_cast<std::ptrdiff_t>(hiIndex), copy.end());
        r.hi = static_cast<double>(copy[hiIndex]);
    }
    if (r.hi <= r.lo) {  // (nearly) flat image: fall back to the full range
        r.lo = static_cast<double>(mn);
        r.hi = static_cast<double>(mx);
    }
    r.ok = true;
    return r;
}

Range percentileRange(const DiPixel *pixel) {
    if (pixel == nullptr) return Range();
    const void *data = pixel->getData();
    const size_t count = pixel->getCount();
    switch (pixel->getRepresentation()) {
    case EPR_Uint8: return percentileRange(static_cast<const Uint8 *>(data), count);
    case EPR_Sint8: return percentileRange(static_cast<const Sint8 *>(data), count);
    case EPR_Uint16: return percentileRange(static_cast<const Uint16 *>(data), count);
    case EPR_Sint16: return percentileRange(static_cast<const Sint16 *>(data), count);
    case EPR_Uint32: return percentileRange(static_cast<const Uint32 *>(data), count);
    case EPR_Sint32: return percentileRange(static_cast<const Sint32 *>(data), count);
    }
    return Range();
}

std::string formatNumber(double v) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

void appendWarnings(std::vector<std::string> &messages, const std::vector<std::string> &warnings) {
    for (const auto &w : warnings) {
        const std::string line = "DCMTK warning: " + w;
        if (std::find(messages.begin(), messages.end(), line) == messages.end()) messages.push_back(line);
    }
}

std::string decodeFailure(const std::string &what, const cdcmtk::LogCapture &log) {
    const std::string logged = log.joinedErrors();
    return logged.empty() ? what : what + " (" + logged + ")";
}

}  // namespace

extern "C" int32_t cdcmtk_decode_first_frame(cdcmtk_file *file, int64_t max_dimension, int64_t max_pixels,
                                             cdcmtk_image **out_image) {
    if (out_image != nullptr) *out_image = nullptr;
    return cdcmtk::guarded([&]() -> int32_t {
        if (file == nullptr || out_image == nullptr) return cdcmtk::fail(CDCMTK_INVALID_ARGUMENT, "NULL argument");
        cdcmtk::initializeOnce();
        DcmDataset *ds = file->format.getDataset();
        if (ds == nullptr) return cdcmtk::fail(CDCMTK_CORRUPT, "no data set");
        cdcmtk::LogCapture log;

        // 1. Is there an image at all?
        if (!ds->tagExistsWithValue(DCM_PixelData)) {
            OFString sopClass;
            ds->findAndGetOFString(DCM_SOPClassUID, sopClass);
            if (sopClass.empty() && file->format.getMetaInfo() != nullptr) {
                file->format.getMetaInfo()->findAndGetOFString(DCM_MediaStorageSOPClassUID, sopClass);
            }
            const bool otherPixels = ds->tagExists(DCM_FloatPixelData) || ds->tagExists(DCM_DoubleFloatPixelData);
            std::string what = cdcmtk::readableSOPClass(sopClass.c_str());
            if (otherPixels) what += ", float pixel data only";
            return cdcmtk::fail(CDCMTK_NO_PIXEL_DATA, what);
        }

        // 2. Can a registered decoder turn the pixel data into native form? JPEG 2000 is decoded here
        //    (OpenJPEG), into native pixel data, before DicomImage sees it.
        const bool jpeg2000 = cdcmtk::jpeg2000SyntaxName(file->transferSyntaxUID) != nullptr;
        E_TransferSyntax xfer = ds->getOriginalXfer();
        if (xfer == EXS_Unknown && !jpeg2000) return cdcmtk::fail(CDCMTK_CORRUPT, "transfer syntax could not be determined");
        const DcmXfer x(xfer);
        if (!jpeg2000 && x.isEncapsulated() && !DcmCodecList::canChangeCoding(xfer, EXS_LittleEndianExplicit)) {
            return cdcmtk::fail(CDCMTK_UNSUPPORTED_TRANSFER_SYNTAX, std::string(x.getXferName()) + " (" +
                                                                        x.getXferID() + ")");
        }

        // 3. Size limits, before any pixel memory is allocated.
        Uint16 rows = 0, columns = 0;
        if (ds->findAndGetUint16(DCM_Rows, rows).bad() || ds->findAndGetUint16(DCM_Columns, columns).bad() ||
            rows == 0 || columns == 0) {
            return cdcmtk::fail(CDCMTK_CORRUPT, "Rows (0028,0010) or Columns (0028,0011) missing or zero");
        }
        if (static_cast<int64_t>(rows) > max_dimension || static_cast<int64_t>(columns) > max_dimension ||
            static_cast<int64_t>(rows) * static_cast<int64_t>(columns) > max_pixels) {
            return cdcmtk::fail(CDCMTK_TOO_LARGE, std::to_string(columns) + "x" + std::to_string(rows));
        }
        if (!jpeg2000 && cdcmtk::validateImage(ds, xfer, rows, columns) != CDCMTK_OK) return CDCMTK_CORRUPT;
        auto image = std::make_unique<cdcmtk_image>();
        if (jpeg2000) {
            const int32_t status = cdcmtk::decodeJPEG2000FirstFrame(ds, file->transferSyntaxUID, rows, columns, image->messages);
            if (status != CDCMTK_OK) return status;
            if (cdcmtk::validateImage(ds, EXS_LittleEndianExplicit, rows, columns) != CDCMTK_OK) return CDCMTK_CORRUPT;
            xfer = EXS_LittleEndianExplicit;  // the first frame is native now
        }

        // 4. Decode the first frame only; partial access decodes just that frame (also for compressed data).
        auto source = std::make_unique<DicomImage>(ds, xfer, CIF_UsePartialAccessToPixelData, 0UL, 1UL);
        if (source->getStatus() != EIS_Normal) {
            if (x.isEncapsulated() && !jpeg2000) {
                // DCMTK reports a codec failure as a missing PhotometricInterpretation of the decompressed
                // image; what actually failed is the decompression.
                std::string what = std::string("the ") + x.getXferName() + " pixel data could not be decompressed";
                std::string detail;
                for (const auto &line : log.warnings) detail += (detail.empty() ? "" : "; ") + line;
                for (const auto &line : log.errors) {
                    if (line.find("PhotometricInterpretation") != std::string::npos) continue;
                    detail += (detail.empty() ? "" : "; ") + line;
                }
                return cdcmtk::fail(CDCMTK_CORRUPT, detail.empty() ? what : what + " (" + detail + ")");
            }
            return cdcmtk::fail(CDCMTK_CORRUPT,
                                decodeFailure(DicomImage::getString(source->getStatus()), log));
        }
        image->frameCount = static_cast<int32_t>(std::max(1UL, source->getNumberOfFrames()));
        const EP_Interpretation photometric = source->getPhotometricInterpretation();

        // 5. Colour to grey (ITU-R 601 luma weights, DCMTK's defaults).
        std::unique_ptr<DicomImage> grey;
        DicomImage *mono = source.get();
        if (!source->isMonochrome()) {
            grey.reset(source->createMonochromeImage(0.299, 0.587, 0.114));
            if (!grey || grey->getStatus() != EIS_Normal) {
                return cdcmtk::fail(CDCMTK_CORRUPT, decodeFailure("conversion of the colour image to grey failed", log));
            }
            source.reset();  // the colour planes are no longer needed
            mono = grey.get();
            image->convertedFromColour = true;
        }

        // 6. VOI: first window, else first VOI LUT, else as stored for <= 8 bits, else a percentile window.
        bool chosen = false;
        if (mono->getWindowCount() > 0) {
            double center = 0, width = 0;
            const bool set = mono->setWindow(0) != 0 && mono->getWindow(center, width) != 0;
            if (set && std::isfinite(center) && std::isfinite(width) && std::fabs(center) <= kMaxWindowValue &&
                width <= kMaxWindowValue) {
                image->windowKind = CDCMTK_WINDOW_FILE;
                image->windowCenter = center;
                image->windowWidth = width;
                chosen = true;
            } else {
                // NaN, infinite or absurd values (DCMTK accepts them) would render garbage.
                OFString c, w;
                ds->findAndGetOFString(DCM_WindowCenter, c, 0);
                ds->findAndGetOFString(DCM_WindowWidth, w, 0);
                mono->setNoVoiTransformation();
                image->messages.push_back("warning: the file's first window (Window Center '" + std::string(c.c_str()) +
                                          "', Window Width '" + std::string(w.c_str()) +
                                          "') is not usable and was ignored");
            }
        }
        if (!chosen && mono->getVoiLutCount() > 0) {
            if (mono->setVoiLut(0) != 0) {
                image->windowKind = CDCMTK_WINDOW_VOI_LUT;
                const char *explanation = mono->getVoiTransformationExplanation();
                image->windowExplanation = explanation != nullptr ? explanation : "";
                chosen = true;
            } else {
                image->messages.push_back("the file's first VOI LUT could not be used");
            }
        }
        if (!chosen && mono->getDepth() > 8) {
            const Range r = percentileRange(mono->getInterData());
            if (!r.ok) return cdcmtk::fail(CDCMTK_CORRUPT, decodeFailure("no pixel values to window", log));
            // DICOM linear window with lo -> black and hi -> white: lower edge c-0.5-(w-1)/2 = lo,
            // upper edge c-0.5+(w-1)/2 = hi.
            const double center = (r.lo + r.hi) / 2.0 + 0.5;
            const double width = r.hi - r.lo + 1.0;
            if (mono->setWindow(center, width) == 0) {
                return cdcmtk::fail(CDCMTK_INTERNAL, "setting the automatic window failed");
            }
            image->windowKind = CDCMTK_WINDOW_AUTOMATIC;
            image->windowCenter = center;
            image->windowWidth = width;
            image->windowExplanation = formatNumber(kLowPercentile) + "-" + formatNumber(kHighPercentile) +
                                       " percentile of modality values (" + formatNumber(r.lo) + ".." +
                                       formatNumber(r.hi) + ")";
            chosen = true;
        }
        if (!chosen) image->windowKind = CDCMTK_WINDOW_NONE;

        // 7. Polarity: DCMTK renders MONOCHROME1 and Presentation LUT Shape INVERSE itself (bones white).
        image->inverted = photometric == EPI_Monochrome1 || mono->getPresentationLutShape() == ESP_Inverse;

        if (mono->getOverlayCount() > 0) {
            image->messages.push_back(std::to_string(mono->getOverlayCount()) +
                                      " overlay plane(s) drawn into the image, as DCMTK does by default");
        }

        // 8. Render 8 bits straight into our buffer.
        image->width = static_cast<int32_t>(mono->getWidth());
        image->height = static_cast<int32_t>(mono->getHeight());
        const unsigned long size = mono->getOutputDataSize(8);
        if (image->width <= 0 || image->height <= 0 ||
            size != static_cast<unsigned long>(image->width) * static_cast<unsigned long>(image->height)) {
            return cdcmtk::fail(CDCMTK_CORRUPT, decodeFailure("unexpected rendered size", log));
        }
        image->pixels.resize(size);
        if (mono->getOutputData(image->pixels.data(), size, 8, 0) == 0) {
            return cdcmtk::fail(CDCMTK_CORRUPT, decodeFailure("rendering the first frame failed", log));
        }
        // One grey level everywhere: a modality LUT, rescale or pixel data that maps everything to one value.
        // Nothing in such a picture can be classified.
        if (std::all_of(image->pixels.begin(), image->pixels.end(),
                        [&](uint8_t v) { return v == image->pixels.front(); })) {
            return cdcmtk::fail(CDCMTK_CORRUPT,
                                decodeFailure("the first frame renders as a single grey level (" +
                                                  std::to_string(image->pixels.front()) +
                                                  " everywhere): the pixel data, its rescale or its LUT is "
                                                  "damaged",
                                              log));
        }
        appendWarnings(image->messages, log.warnings);
        for (const auto &e : log.errors) image->messages.push_back("DCMTK error (image still rendered): " + e);
        *out_image = image.release();
        return CDCMTK_OK;
    });
}

extern "C" void cdcmtk_image_free(cdcmtk_image *image) {
    try {
        delete image;
    } catch (...) {
        // Destroying vectors and strings does not throw; nothing sensible to do if it did.
    }
}

extern "C" int32_t cdcmtk_image_width(const cdcmtk_image *image) { return image ? image->width : 0; }
extern "C" int32_t cdcmtk_image_height(const cdcmtk_image *image) { return image ? image->height : 0; }
extern "C" const uint8_t *cdcmtk_image_pixels(const cdcmtk_image *image) {
    return image ? image->pixels.data() : nullptr;
}
extern "C" int32_t cdcmtk_image_window_kind(const cdcmtk_image *image) {
    return image ? image->windowKind : CDCMTK_WINDOW_NONE;
}
extern "C" double cdcmtk_image_window_center(const cdcmtk_image *image) { return image ? image->windowCenter : 0; }
extern "C" double cdcmtk_image_window_width(const cdcmtk_image *image) { return image ? image->windowWidth : 0; }
extern "C" const char *cdcmtk_image_window_explanation(const cdcmtk_image *image) {
    return image ? image->windowExplanation.c_str() : nullptr;
}
extern "C" int32_t cdcmtk_image_inverted(const cdcmtk_image *image) { return (image && image->inverted) ? 1 : 0; }
extern "C" int32_t cdcmtk_image_converted_from_colour(const cdcmtk_image *image) {
    return (image && image->convertedFromColour) ? 1 : 0;
}
extern "C" int32_t cdcmtk_image_frame_count(const cdcmtk_image *image) { return image ? image->frameCount : 0; }
extern "C" int32_t cdcmtk_image_message_count(const cdcmtk_image *image) {
    return image ? static_cast<int32_t>(image->messages.size()) : 0;
}
extern "C" const char *cdcmtk_image_message(const cdcmtk_image *image, int32_t index) {
    if (image == nullptr || index < 0 || static_cast<size_t>(index) >= image->messages.size()) return nullptr;
    return image->messages[static_cast<size_t>(index)].c_str();
}
