// CDCMTK shim, writing: a simple uncompressed 16-bit MONOCHROME2 image (benchmarks and tests).
#include "shim_internal.hpp"

#include <cmath>
#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace {

bool isASCII(const char *s) {
    for (; *s != '\0'; ++s) {
        if (static_cast<unsigned char>(*s) >= 0x80) return false;
    }
    return true;
}

std::string decimal(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6g", v);  // DS values are at most 16 characters
    return buf;
}

void check(const OFCondition &cond, const char *what) {
    if (cond.bad()) throw std::runtime_error(std::string(what) + ": " + cond.text());
}

}  // namespace

extern "C" int32_t cdcmtk_write_mono16(const char *path, int32_t width, int32_t height, const uint16_t *pixels,
                                       int32_t bits_stored, double window_center, double window_width,
                                       const char *patient_name) {
    return cdcmtk::guarded([&]() -> int32_t {
        if (path == nullptr || pixels == nullptr) return cdcmtk::fail(CDCMTK_INVALID_ARGUMENT, "NULL argument");
        if (width <= 0 || height <= 0 || width > 65535 || height > 65535) {
            return cdcmtk::fail(CDCMTK_INVALID_ARGUMENT, "width and height must be 1...65535");
        }
        if (bits_stored < 1 || bits_stored > 16) {
            return cdcmtk::fail(CDCMTK_INVALID_ARGUMENT, "bits stored must be 1...16");
        }
        if (!(window_width >= 1) || !std::isfinite(window_center)) {
            return cdcmtk::fail(CDCMTK_INVALID_ARGUMENT, "window width must be at least 1 and the centre finite");
        }
        const unsigned long count = static_cast<unsigned long>(width) * static_cast<unsigned long>(height);
        const uint32_t maxValue = (uint32_t(1) << bits_stored) - 1;
        for (unsigned long i = 0; i < count; ++i) {
            if (pixels[i] > maxValue) {
                return cdcmtk::fail(CDCMTK_INVALID_ARGUMENT, "pixel " + std::to_string(i) + " is " +
                                                                 std::to_string(pixels[i]) + ", more than " +
                                                                 std::to_string(bits_stored) + " bits hold");
            }
        }
        cdcmtk::initializeOnce();
        cdcmtk::LogCapture log;

        char studyUID[100], seriesUID[100], instanceUID[100];
        dcmGenerateUniqueIdentifier(studyUID, SITE_STUDY_UID_ROOT);
        dcmGenerateUniqueIdentifier(seriesUID, SITE_SERIES_UID_ROOT);
        dcmGenerateUniqueIdentifier(instanceUID, SITE_INSTANCE_UID_ROOT);

        char date[16] = "", time[16] = "";
        const std::time_t now = std::time(nullptr);
        std::tm local{};
        if (localtime_r(&now, &local) != nullptr) {
            std::strftime(date, sizeof date, "%Y%m%d", &local);
            std::strftime(time, sizeof time, "%H%M%S", &local);
        }

        DcmFileFormat format;
        DcmDataset *ds = format.getDataset();
        const char *name = patient_name != nullptr ? patient_name : "";
        if (!isASCII(name)) check(ds->putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192"), "SpecificCharacterSet");
        check(ds->putAndInsertString(DCM_SOPClassUID, UID_SecondaryCaptureImageStorage), "SOPClassUID");
        check(ds->putAndInsertString(DCM_SOPInstanceUID, instanceUID), "SOPInstanceUID");
        check(ds->putAndInsertString(DCM_StudyInstanceUID, studyUID), "StudyInstanceUID");
        check(ds->putAndInsertString(DCM_SeriesInstanceUID, seriesUID), "SeriesInstanceUID");
        check(ds->putAndInsertString(DCM_StudyDate, date), "StudyDate");
        check(ds->putAndInsertString(DCM_StudyTime, time), "StudyTime");
        check(ds->putAndInsertString(DCM_Modality, "OT"), "Modality");
        check(ds->putAndInsertString(DCM_ConversionType, "SYN"), "ConversionType");  // synthetic image
        check(ds->putAndInsertString(DCM_PatientName, name), "PatientName");
        check(ds->putAndInsertString(DCM_PatientID, ""), "PatientID");
        check(ds->putAndInsertString(DCM_StudyDescription, "Synthetic test image"), "StudyDescription");
        check(ds->putAndInsertUint16(DCM_SamplesPerPixel, 1), "SamplesPerPixel");
        check(ds->putAndInsertString(DCM_PhotometricInterpretation, "MONOCHROME2"), "PhotometricInterpretation");
        check(ds->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(height)), "Rows");
        check(ds->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(width)), "Columns");
        check(ds->putAndInsertUint16(DCM_BitsAllocated, 16), "BitsAllocated");
        check(ds->putAndInsertUint16(DCM_BitsStored, static_cast<Uint16>(bits_stored)), "BitsStored");
        check(ds->putAndInsertUint16(DCM_HighBit, static_cast<Uint16>(bits_stored - 1)), "HighBit");
        check(ds->putAndInsertUint16(DCM_PixelRepresentation, 0), "PixelRepresentation");
        check(ds->putAndInsertString(DCM_WindowCenter, decimal(window_center).c_str()), "WindowCenter");
        check(ds->putAndInsertString(DCM_WindowWidth, decimal(window_width).c_str()), "WindowWidth");
        check(ds->putAndInsertUint16Array(DCM_PixelData, pixels, count), "PixelData");

        const OFCondition saved = format.saveFile(OFFilename(path), EXS_LittleEndianExplicit, EET_ExplicitLength,
                                                  EGL_recalcGL, EPD_noChange, 0, 0, EWM_createNewMeta);
        if (saved.bad()) {
            const std::string logged = log.joinedErrors();
            return cdcmtk::fail(CDCMTK_WRITE_FAILED, std::string(saved.text()) + (logged.empty() ? "" : " (" + logged + ")"));
        }
        return CDCMTK_OK;
    });
}
