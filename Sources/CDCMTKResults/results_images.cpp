// CDCMTKResults shim: the Encapsulated PDF of the report and the Secondary Capture with the result burned in.
#include "results_internal.hpp"

#include <cstring>

namespace {

/// SC Equipment module (PS3.3 C.8.6.1): a workstation made it.
void putSCEquipment(DcmDataset &ds, const cdcmtkr_instance *i) {
    cdcmtkr::put(ds, DCM_ConversionType, "WSD");
    cdcmtkr::put(ds, DCM_SecondaryCaptureDeviceManufacturer, i->manufacturer);
    cdcmtkr::put(ds, DCM_SecondaryCaptureDeviceManufacturerModelName, i->model_name);
    cdcmtkr::put(ds, DCM_SecondaryCaptureDeviceSoftwareVersions, i->software_version);
}

/// Lossy Image Compression "01" stays "01" in anything derived from the pixels (PS3.3 C.7.6.1.1.5).
void putLossyFromSource(DcmDataset &ds, const cdcmtkr_source *source) {
    DcmDataset *src = const_cast<DcmFileFormat &>(source->format).getDataset();
    OFString lossy;
    if (src->findAndGetOFString(DCM_LossyImageCompression, lossy).good() && lossy == "01") {
        cdcmtkr::put(ds, DCM_LossyImageCompression, "01");
        OFString value;
        if (src->findAndGetOFStringArray(DCM_LossyImageCompressionRatio, value).good() && !value.empty())
            cdcmtkr::put(ds, DCM_LossyImageCompressionRatio, value.c_str());
        if (src->findAndGetOFStringArray(DCM_LossyImageCompressionMethod, value).good() && !value.empty())
            cdcmtkr::put(ds, DCM_LossyImageCompressionMethod, value.c_str());
    } else {
        cdcmtkr::put(ds, DCM_LossyImageCompression, "00");
    }
}

}  // namespace

extern "C" int32_t cdcmtkr_write_encapsulated_pdf(const cdcmtkr_source *source, const cdcmtkr_instance *instance,
                                                  const uint8_t *pdf, size_t pdf_length, const char *document_title,
                                                  const char *path) {
    return cdcmtkr::guarded([&]() -> int32_t {
        if (source == nullptr || pdf == nullptr || path == nullptr) {
            return cdcmtkr::fail(CDCMTKR_INVALID_ARGUMENT, "NULL argument");
        }
        cdcmtkr::validate(instance);
        const std::string title = cdcmtkr::required(document_title, "Document Title");
        if (pdf_length < 5 || std::memcmp(pdf, "%PDF-", 5) != 0) {
            return cdcmtkr::fail(CDCMTKR_INVALID_ARGUMENT, "the report bytes are not a PDF (no '%PDF-' header)");
        }
        if (pdf_length > 0xFFFFFFF0u) return cdcmtkr::fail(CDCMTKR_INVALID_ARGUMENT, "the PDF is larger than 4 GiB");

        DcmFileFormat format;
        DcmDataset &ds = *format.getDataset();
        cdcmtkr::putCommon(ds, instance, UID_EncapsulatedPDFStorage, "DOC");
        putSCEquipment(ds, instance);
        // Encapsulated Document module (PS3.3 C.24.2).
        cdcmtkr::put(ds, DCM_AcquisitionDateTime, std::string(instance->content_date) + instance->content_time + "+0000");
        cdcmtkr::put(ds, DCM_BurnedInAnnotation, "YES");
        cdcmtkr::put(ds, DCM_DocumentTitle, title);
        cdcmtkr::check(ds.insertEmptyElement(DCM_ConceptNameCodeSequence), "Concept Name Code Sequence");
        cdcmtkr::put(ds, DCM_MIMETypeOfEncapsulatedDocument, "application/pdf");
        cdcmtkr::check(ds.insertSequenceItem(DCM_SourceInstanceSequence, cdcmtkr::sourceReference(source)),
                       "Source Instance Sequence");
        // An odd length is padded with one NUL by DCMTK; the length attribute keeps the real size.
        cdcmtkr::check(ds.putAndInsertUint8Array(DCM_EncapsulatedDocument, pdf, static_cast<unsigned long>(pdf_length)),
                       "Encapsulated Document");
        cdcmtkr::check(ds.putAndInsertUint32(DCM_EncapsulatedDocumentLength, static_cast<Uint32>(pdf_length)),
                       "Encapsulated Document Length");

        std::vector<std::string> own = cdcmtkr::strings(instance);
        own.push_back(title);
        cdcmtkr::copyPatientAndStudy(ds, source, cdcmtkr::allASCII(own));
        cdcmtkr::save(format, path);
        return CDCMTKR_OK;
    });
}

extern "C" int32_t cdcmtkr_write_secondary_capture(const cdcmtkr_source *source, const cdcmtkr_instance *instance,
                                                   const uint8_t *rgb, int32_t width, int32_t height,
                                                   const char *derivation_description, const char *path) {
    return cdcmtkr::guarded([&]() -> int32_t {
        if (source == nullptr || rgb == nullptr || path == nullptr) {
            return cdcmtkr::fail(CDCMTKR_INVALID_ARGUMENT, "NULL argument");
        }
        cdcmtkr::validate(instance);
        const std::string derivation = cdcmtkr::required(derivation_description, "Derivation Description");
        if (width <= 0 || height <= 0 || width > 65535 || height > 65535) {
            return cdcmtkr::fail(CDCMTKR_INVALID_ARGUMENT, "image size " + std::to_string(width) + "x" +
                                                               std::to_string(height) + " is outside 1...65535");
        }
        const unsigned long bytes = 3ul * static_cast<unsigned long>(width) * static_cast<unsigned long>(height);

        DcmFileFormat format;
        DcmDataset &ds = *format.getDataset();
        cdcmtkr::putCommon(ds, instance, UID_SecondaryCaptureImageStorage, "OT");
        putSCEquipment(ds, instance);
        // General Image (PS3.3 C.7.6.1): derived, with its source, the result burned in.
        cdcmtkr::put(ds, DCM_ImageType, "DERIVED\\SECONDARY");
        cdcmtkr::put(ds, DCM_DerivationDescription, derivation);
        cdcmtkr::check(ds.insertSequenceItem(DCM_SourceImageSequence, cdcmtkr::sourceReference(source)),
                       "Source Image Sequence");
        cdcmtkr::put(ds, DCM_BurnedInAnnotation, "YES");
        putLossyFromSource(ds, source);
        OFString orientation;
        DcmDataset *src = const_cast<DcmFileFormat &>(source->format).getDataset();
        if (src->findAndGetOFStringArray(DCM_PatientOrientation, orientation).good() && !orientation.empty()) {
            cdcmtkr::put(ds, DCM_PatientOrientation, orientation.c_str());
        } else {
            cdcmtkr::check(ds.insertEmptyElement(DCM_PatientOrientation), "Patient Orientation");
        }
        // General Series: Laterality (Type 2C) as the source has it; empty for a chest, an unpaired body part.
        // Body Part Examined is left out: validators then take the empty Laterality as required.
        OFString value;
        if (src->findAndGetOFString(DCM_Laterality, value).good() && !value.empty()) {
            cdcmtkr::put(ds, DCM_Laterality, value.c_str());
        } else {
            cdcmtkr::check(ds.insertEmptyElement(DCM_Laterality), "Laterality");
        }
        // SC Image module (PS3.3 C.8.6.2).
        cdcmtkr::put(ds, DCM_DateOfSecondaryCapture, instance->content_date);
        cdcmtkr::put(ds, DCM_TimeOfSecondaryCapture, instance->content_time);
        // Image Pixel module: 8-bit RGB, interleaved.
        cdcmtkr::check(ds.putAndInsertUint16(DCM_SamplesPerPixel, 3), "Samples per Pixel");
        cdcmtkr::put(ds, DCM_PhotometricInterpretation, "RGB");
        cdcmtkr::check(ds.putAndInsertUint16(DCM_PlanarConfiguration, 0), "Planar Configuration");
        cdcmtkr::check(ds.putAndInsertUint16(DCM_Rows, static_cast<Uint16>(height)), "Rows");
        cdcmtkr::check(ds.putAndInsertUint16(DCM_Columns, static_cast<Uint16>(width)), "Columns");
        cdcmtkr::check(ds.putAndInsertUint16(DCM_BitsAllocated, 8), "Bits Allocated");
        cdcmtkr::check(ds.putAndInsertUint16(DCM_BitsStored, 8), "Bits Stored");
        cdcmtkr::check(ds.putAndInsertUint16(DCM_HighBit, 7), "High Bit");
        cdcmtkr::check(ds.putAndInsertUint16(DCM_PixelRepresentation, 0), "Pixel Representation");
        cdcmtkr::check(ds.putAndInsertUint8Array(DCM_PixelData, rgb, bytes), "Pixel Data");

        std::vector<std::string> own = cdcmtkr::strings(instance);
        own.push_back(derivation);
        cdcmtkr::copyPatientAndStudy(ds, source, cdcmtkr::allASCII(own));
        cdcmtkr::save(format, path);
        return CDCMTKR_OK;
    });
}
