// CDCMTKResults shim: the classification as a Comprehensive 3D SR, TID 1500 Imaging Measurement Report (dcmsr/cmr).
#include "results_internal.hpp"

#include "dcmtk/dcmsr/dsrdoc.h"
#include "dcmtk/dcmsr/codes/dcm.h"
#include "dcmtk/dcmsr/cmr/tid1500.h"

#include <cmath>
#include <cstdio>

namespace {

DSRCodedEntryValue coded(const cdcmtkr_code &c, const char *what) {
    const std::string value = cdcmtkr::required(c.value, what);
    const std::string scheme = cdcmtkr::required(c.scheme, what);
    const std::string meaning = cdcmtkr::required(c.meaning, what);
    DSRCodedEntryValue code(value.c_str(), scheme.c_str(), meaning.c_str());
    if (!code.isValid()) {
        throw cdcmtkr::Failure{CDCMTKR_INVALID_ARGUMENT, std::string(what) + " (" + value + ", " + scheme + ", \"" +
                                                             meaning + "\") is not a valid code"};
    }
    return code;
}

/// A probability as a Decimal String: at most 16 characters, enough digits to tell calibrated values apart.
std::string decimal(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.6f", v);
    return buf;
}

}  // namespace

extern "C" int32_t cdcmtkr_write_sr(const cdcmtkr_source *source, const cdcmtkr_instance *instance,
                                    const cdcmtkr_classification *c, const char *path) {
    return cdcmtkr::guarded([&]() -> int32_t {
        if (source == nullptr || c == nullptr || path == nullptr) {
            return cdcmtkr::fail(CDCMTKR_INVALID_ARGUMENT, "NULL argument");
        }
        cdcmtkr::validate(instance);
        if (c->probability_count <= 0 || c->probabilities == nullptr) {
            return cdcmtkr::fail(CDCMTKR_INVALID_ARGUMENT, "no probabilities");
        }
        const std::string algorithmName = cdcmtkr::required(c->algorithm_name, "Algorithm Name");
        const std::string algorithmVersion = cdcmtkr::required(c->algorithm_version, "Algorithm Version");
        const std::string trackingID = cdcmtkr::required(c->tracking_identifier, "Tracking Identifier");
        const std::string trackingUID = cdcmtkr::required(c->tracking_uid, "Tracking UID");
        const std::string deviceUID = cdcmtkr::required(c->device_observer_uid, "Device Observer UID");
        const std::string comment = cdcmtkr::required(c->comment, "Comment");
        const std::string localScheme = cdcmtkr::required(c->local_scheme_designator, "local coding scheme designator");
        const std::string localSchemeName = cdcmtkr::required(c->local_scheme_name, "local coding scheme name");
        const DSRCodedEntryValue predicted = coded(c->predicted_class, "predicted class code");
        const DSRCodedEntryValue oodConcept = coded(c->out_of_distribution_concept, "out-of-distribution concept");
        const DSRCodedEntryValue predictedConcept = coded(c->predicted_class_concept, "predicted-class concept");
        std::vector<std::string> own = cdcmtkr::strings(instance);
        own.insert(own.end(), {algorithmName, algorithmVersion, trackingID, comment, localSchemeName,
                               c->predicted_class.meaning, c->out_of_distribution_concept.meaning,
                               c->predicted_class_concept.meaning});

        DcmDataset *src = const_cast<DcmFileFormat &>(source->format).getDataset();
        OFString studyUID, seriesUID, sopClass, sopInstance;
        src->findAndGetOFString(DCM_StudyInstanceUID, studyUID);
        src->findAndGetOFString(DCM_SeriesInstanceUID, seriesUID);
        src->findAndGetOFString(DCM_SOPClassUID, sopClass);
        src->findAndGetOFString(DCM_SOPInstanceUID, sopInstance);
        if (seriesUID.empty()) return cdcmtkr::fail(CDCMTKR_INVALID_SOURCE, "the source has no Series Instance UID");

        // TID 1500: language, device observer (TID 1004), procedure, image library (TID 1600) with the source.
        CMR_TID1500 report(CID7021_MeasurementReportDocumentTitles::ImagingMeasurementReport);
        cdcmtkr::check(report.setLanguage(CID5000_Languages::English), "TID 1204 language");
        cdcmtkr::check(report.getObservationContext().addDeviceObserver(
                           deviceUID.c_str(), instance->model_name, instance->manufacturer, instance->model_name),
                       "TID 1004 device observer");
        cdcmtkr::check(report.addProcedureReported(DSRCodedEntryValue("363679005", "SCT", "Imaging procedure")),
                       "TID 1500 procedure reported");
        cdcmtkr::check(report.getImageLibrary().createNewImageLibrary(), "TID 1600 image library");
        cdcmtkr::check(report.getImageLibrary().addImageGroup(), "TID 1600 image group");
        // The entry's descriptors are copied from the source's header; an old header whose values DCMTK finds
        // invalid (e.g. ACR-NEMA dates "1995.07.20") gets the image reference without them.
        OFCondition entry = report.getImageLibrary().addImageEntry(*src, TID1600_ImageLibrary::withAllDescriptors);
        if (entry.bad() && entry != CMR_EC_NoImageLibraryEntryDescriptorsToBeAdded) {
            entry = report.getImageLibrary().addImageEntry(*src, TID1600_ImageLibrary::withoutDescriptors);
            cdcmtkr::check(entry, "TID 1601 image library entry of the source");
        }

        // TID 1501: one measurement group, the finding (the predicted class) and one probability per class.
        cdcmtkr::check(report.addIndividualMeasurements(), "TID 1501 measurement group");
        CMR_TID1501_in_TID1500 &group = report.getIndividualMeasurements();
        cdcmtkr::check(group.setTrackingIdentifier(trackingID.c_str()), "Tracking Identifier");
        cdcmtkr::check(group.setTrackingUniqueIdentifier(trackingUID.c_str()), "Tracking Unique Identifier");
        cdcmtkr::check(group.setFinding(predicted), "Finding");
        const DSRCodedEntryValue noUnits("1", "UCUM", "no units");
        for (int32_t n = 0; n < c->probability_count; ++n) {
            const cdcmtkr_probability &p = c->probabilities[n];
            if (!std::isfinite(p.value) || p.value < 0 || p.value > 1) {
                return cdcmtkr::fail(CDCMTKR_INVALID_ARGUMENT, "probability " + std::to_string(p.value) + " is outside 0...1");
            }
            const DSRCodedEntryValue concept = coded(p.concept, "probability concept");
            own.push_back(p.concept.meaning);
            CMR_TID1501_in_TID1500::MeasurementValue value(decimal(p.value).c_str(), noUnits);
            cdcmtkr::check(group.addMeasurement(concept, value), "TID 300 measurement of " + std::string(p.concept.meaning));
        }
        // TID 1500 row 12: the predicted class, the out-of-distribution flag and the research-use notice, where a
        // viewer lists the findings (TID 1501 as validators know it has no row for a coded evaluation).
        cdcmtkr::check(report.addQualitativeEvaluation(predictedConcept, predicted), "predicted-class evaluation");
        cdcmtkr::check(report.addQualitativeEvaluation(
                           oodConcept, c->out_of_distribution != 0 ? DSRCodedEntryValue("373066001", "SCT", "Yes")
                                                                   : DSRCodedEntryValue("373067005", "SCT", "No")),
                       "out-of-distribution evaluation");
        cdcmtkr::check(report.addQualitativeEvaluation(CODE_DCM_Comment, comment.c_str()), "comment");
        if (!report.isValid()) return cdcmtkr::fail(CDCMTKR_BUILD_FAILED, "DCMTK finds the TID 1500 report incomplete");

        DSRDocument doc(DSRTypes::DT_Comprehensive3DSR);
        cdcmtkr::check(doc.setTreeFromRootTemplate(report, OFTrue), "setting the SR tree");
        // TID 1501's "HAS CONCEPT MOD INCLUDE TID 4019": dcmsr 3.6.7's TID 1501 class has no call for it, so the
        // algorithm identification is added to the measurement group's content items here.
        DSRDocumentTree &tree = doc.getTree();
        tree.gotoRoot();
        if (tree.gotoNamedNode(CODE_DCM_MeasurementGroup) == 0) {
            return cdcmtkr::fail(CDCMTKR_BUILD_FAILED, "the measurement group is missing from the SR tree");
        }
        cdcmtkr::check(tree.addChildContentItem(DSRTypes::RT_hasConceptMod, DSRTypes::VT_Text, CODE_DCM_AlgorithmName),
                       "Algorithm Name");
        cdcmtkr::check(tree.getCurrentContentItem().setStringValue(algorithmName.c_str()), "Algorithm Name");
        cdcmtkr::check(tree.addContentItem(DSRTypes::RT_hasConceptMod, DSRTypes::VT_Text, CODE_DCM_AlgorithmVersion),
                       "Algorithm Version");
        cdcmtkr::check(tree.getCurrentContentItem().setStringValue(algorithmVersion.c_str()), "Algorithm Version");
        for (int32_t n = 0; n < c->algorithm_parameter_count; ++n) {
            const std::string parameter = cdcmtkr::required(c->algorithm_parameters[n], "Algorithm Parameter");
            own.push_back(parameter);
            cdcmtkr::check(tree.addContentItem(DSRTypes::RT_hasConceptMod, DSRTypes::VT_Text, CODE_DCM_AlgorithmParameters),
                           "Algorithm Parameters");
            cdcmtkr::check(tree.getCurrentContentItem().setStringValue(parameter.c_str()), "Algorithm Parameters");
        }

        const bool ascii = cdcmtkr::allASCII(own);
        if (!ascii) cdcmtkr::check(doc.setSpecificCharacterSetType(DSRTypes::CS_UTF8), "Specific Character Set");
        cdcmtkr::check(doc.getCodingSchemeIdentification().addItem(localScheme.c_str()), "Coding Scheme Identification");
        cdcmtkr::check(doc.getCodingSchemeIdentification().setCodingSchemeName(localSchemeName.c_str()),
                       "Coding Scheme Name");
        cdcmtkr::check(doc.getCodingSchemeIdentification().setCodingSchemeResponsibleOrganization(instance->manufacturer),
                       "Coding Scheme Responsible Organization");
        cdcmtkr::check(doc.getCurrentRequestedProcedureEvidence().addItem(studyUID, seriesUID, sopClass, sopInstance),
                       "Current Requested Procedure Evidence");
        cdcmtkr::check(doc.completeDocument(), "Completion Flag");

        DcmFileFormat format;
        DcmDataset &ds = *format.getDataset();
        cdcmtkr::check(doc.write(ds), "writing the SR document");
        cdcmtkr::putCommon(ds, instance, UID_Comprehensive3DSRStorage, "SR");
        cdcmtkr::put(ds, DCM_VerificationFlag, "UNVERIFIED");
        cdcmtkr::copyPatientAndStudy(ds, source, ascii);
        cdcmtkr::save(format, path);
        return CDCMTKR_OK;
    });
}
