// CDCMTKResults shim, common part: errors, the source handle, what every result carries, saving.
#include "results_internal.hpp"

#include "dcmtk/dcmdata/dcspchrs.h"
#include "dcmtk/oflog/consap.h"
#include "dcmtk/oflog/nullap.h"
#include "dcmtk/oflog/oflog.h"

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <sys/stat.h>

namespace cdcmtkr {

namespace {

thread_local std::string tlsLastError;
std::once_flag initOnce;

/// The Patient Study and General Study attributes copied besides groups 0010 and 0012 (PS3.3 C.7.2.1, C.7.2.2).
const DcmTagKey kStudyTags[] = {
    DCM_StudyInstanceUID, DCM_StudyDate, DCM_StudyTime, DCM_ReferringPhysicianName,
    DCM_ReferringPhysicianIdentificationSequence, DcmTagKey(0x0008, 0x009C), DcmTagKey(0x0008, 0x009D),
    DCM_StudyID, DCM_AccessionNumber, DCM_IssuerOfAccessionNumberSequence, DCM_StudyDescription,
    DCM_PhysiciansOfRecord, DCM_PhysiciansOfRecordIdentificationSequence, DCM_NameOfPhysiciansReadingStudy,
    DCM_PhysiciansReadingStudyIdentificationSequence, DCM_RequestingServiceCodeSequence,
    DCM_ReferencedStudySequence, DCM_ProcedureCodeSequence, DCM_ReasonForPerformedProcedureCodeSequence,
    DcmTagKey(0x0032, 0x1066), DcmTagKey(0x0032, 0x1067),
    // Patient Study
    DCM_AdmittingDiagnosesDescription, DCM_AdmittingDiagnosesCodeSequence, DCM_AdmissionID,
    DCM_IssuerOfAdmissionIDSequence, DCM_ServiceEpisodeID, DCM_ServiceEpisodeDescription,
    DCM_IssuerOfServiceEpisodeIDSequence, DCM_PatientState,
    // Patient
    DCM_ReferencedPatientSequence,
};

}  // namespace

/// Whether a top-level source element belongs to the Patient, Patient Study, Clinical Trial Subject/Study or
/// General Study modules (the series-level Clinical Trial Series attributes of group 0012 are left out).
bool isPatientOrStudy(const DcmTagKey &key) {
    if (key.getElement() == 0x0000) return false;  // group lengths are recomputed
    if (key.getGroup() == 0x0010) return true;
    if (key.getGroup() == 0x0012) {
        const Uint16 e = key.getElement();
        return e < 0x0060 || e == 0x0062 || e == 0x0063 || e == 0x0064 || e == 0x0081 || e == 0x0082;
    }
    for (const DcmTagKey &t : kStudyTags) {
        if (t == key) return true;
    }
    return false;
}

namespace {

bool isValidUID(const std::string &uid) {
    if (uid.empty() || uid.size() > 64) return false;
    size_t start = 0;
    while (true) {
        const size_t dot = uid.find('.', start);
        const std::string part = uid.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
        if (part.empty()) return false;
        if (part.size() > 1 && part[0] == '0') return false;
        for (char c : part) {
            if (c < '0' || c > '9') return false;
        }
        if (dot == std::string::npos) return true;
        start = dot + 1;
    }
}

}  // namespace

int32_t fail(int32_t status, const std::string &message) {
    tlsLastError = message;
    return status;
}

void clearError() { tlsLastError.clear(); }

void initializeOnce() {
    std::call_once(initOnce, [] {
        // Nothing from DCMTK goes to stderr, as in the CDCMTK shim (which, if it runs, replaces the root's
        // appenders by its own capture): DCMTK's default console appender is removed; failures reach the
        // caller as statuses with DCMTK's message.
        dcmtk::log4cplus::Logger root = dcmtk::log4cplus::Logger::getRoot();
        dcmtk::log4cplus::SharedAppenderPtrList appenders = root.getAllAppenders();
        for (size_t n = 0; n < appenders.size(); ++n) {
            if (dynamic_cast<dcmtk::log4cplus::ConsoleAppender *>(appenders[n].get()) != nullptr) {
                root.removeAppender(appenders[n]);
                // log4cplus complains on stderr about a logger without appenders: give it one that drops.
                root.addAppender(dcmtk::log4cplus::SharedAppenderPtr(new dcmtk::log4cplus::NullAppender()));
            }
        }
        // dcmsr logs template checks as warnings; our own checks and DCMTK's return codes say what failed.
        dcmtk::log4cplus::Logger::getInstance("dcmtk.dcmsr").setLogLevel(dcmtk::log4cplus::OFF_LOG_LEVEL);
        dcmtk::log4cplus::Logger::getInstance("dcmtk.dcmsr.cmr").setLogLevel(dcmtk::log4cplus::OFF_LOG_LEVEL);
    });
}

void check(const OFCondition &cond, const std::string &what) {
    if (cond.bad()) throw Failure{CDCMTKR_BUILD_FAILED, what + ": " + cond.text()};
}

std::string required(const char *s, const char *what) {
    if (s == nullptr || *s == '\0') throw Failure{CDCMTKR_INVALID_ARGUMENT, std::string(what) + " is missing"};
    return s;
}

void validate(const cdcmtkr_instance *i) {
    if (i == nullptr) throw Failure{CDCMTKR_INVALID_ARGUMENT, "NULL instance"};
    for (const auto &[uid, what] : {std::pair<const char *, const char *>{i->series_instance_uid, "Series Instance UID"},
                                    {i->sop_instance_uid, "SOP Instance UID"}}) {
        const std::string value = required(uid, what);
        if (!isValidUID(value)) {
            throw Failure{CDCMTKR_INVALID_ARGUMENT, std::string(what) + " '" + value +
                                                        "' is not a valid UID (digits and dots, at most 64 characters)"};
        }
    }
    required(i->series_description, "Series Description");
    const std::string date = required(i->content_date, "Content Date");
    const std::string time = required(i->content_time, "Content Time");
    if (date.size() != 8 || time.size() != 6) {
        throw Failure{CDCMTKR_INVALID_ARGUMENT, "Content Date/Time must be YYYYMMDD and HHMMSS"};
    }
    required(i->manufacturer, "Manufacturer");
    required(i->model_name, "Manufacturer's Model Name");
    required(i->software_version, "Software Versions");
    required(i->contribution_description, "Contribution Description");
}

bool allASCII(const std::vector<std::string> &strings) {
    for (const auto &s : strings) {
        for (unsigned char c : s) {
            if (c >= 0x80) return false;
        }
    }
    return true;
}

std::vector<std::string> strings(const cdcmtkr_instance *i) {
    return {i->series_description, i->manufacturer, i->model_name, i->software_version, i->contribution_description};
}

void put(DcmItem &item, const DcmTagKey &tag, const std::string &value) {
    const OFCondition cond = item.putAndInsertString(tag, value.c_str());
    if (cond.bad()) {
        throw Failure{CDCMTKR_BUILD_FAILED, std::string("cannot set ") + DcmTag(tag).getTagName() + ": " + cond.text()};
    }
}

void putCommon(DcmDataset &ds, const cdcmtkr_instance *i, const char *sopClassUID, const char *modality) {
    const std::string date = i->content_date, time = i->content_time;
    put(ds, DCM_SOPClassUID, sopClassUID);
    put(ds, DCM_SOPInstanceUID, i->sop_instance_uid);
    put(ds, DCM_InstanceCreationDate, date);
    put(ds, DCM_InstanceCreationTime, time);
    put(ds, DCM_TimezoneOffsetFromUTC, "+0000");
    put(ds, DCM_Modality, modality);
    put(ds, DCM_SeriesInstanceUID, i->series_instance_uid);
    put(ds, DCM_SeriesNumber, std::to_string(i->series_number));
    put(ds, DCM_SeriesDescription, i->series_description);
    put(ds, DCM_SeriesDate, date);
    put(ds, DCM_SeriesTime, time);
    put(ds, DCM_InstanceNumber, "1");
    put(ds, DCM_ContentDate, date);
    put(ds, DCM_ContentTime, time);
    put(ds, DCM_Manufacturer, i->manufacturer);
    put(ds, DCM_ManufacturerModelName, i->model_name);
    put(ds, DCM_SoftwareVersions, i->software_version);

    // IHE AI Results (RAD TF-3 6.5.3.1): the AI system as Contributing Equipment, purpose "Processing Equipment".
    DcmItem *equipment = nullptr;
    check(ds.findOrCreateSequenceItem(DCM_ContributingEquipmentSequence, equipment, 0), "Contributing Equipment Sequence");
    put(*equipment, DCM_Manufacturer, i->manufacturer);
    put(*equipment, DCM_ManufacturerModelName, i->model_name);
    put(*equipment, DCM_SoftwareVersions, i->software_version);
    put(*equipment, DCM_ContributionDateTime, date + time + "+0000");
    put(*equipment, DCM_ContributionDescription, i->contribution_description);
    DcmItem *purpose = nullptr;
    check(equipment->findOrCreateSequenceItem(DCM_PurposeOfReferenceCodeSequence, purpose, 0), "Purpose of Reference");
    put(*purpose, DCM_CodeValue, "109102");
    put(*purpose, DCM_CodingSchemeDesignator, "DCM");
    put(*purpose, DCM_CodeMeaning, "Processing Equipment");
}

/// Whether the element's value is valid for its VR, judged on the value without its padding. DCMTK's
/// checkValue judges the value as stored, which keeps its padding (a UID's trailing NUL) when the process-wide
/// dcmEnableAutomaticInputDataCorrection is off, as DCMTK's network code (the DICOM listener) leaves it; the
/// same file must not lose a valid Study Instance UID because a listener runs in the process.
bool valueIsValid(const DcmElement &element) {
    OFString normalized;
    DcmElement &e = const_cast<DcmElement &>(element);
    if (e.getOFStringArray(normalized, OFTrue).bad()) return e.checkValue("1-n").good();
    std::unique_ptr<DcmElement> copy(OFstatic_cast(DcmElement *, e.clone()));
    if (!copy || copy->putOFStringArray(normalized).bad()) return false;
    return copy->checkValue("1-n").good();
}

void copyPatientAndStudy(DcmDataset &ds, const cdcmtkr_source *source, bool ownTextIsASCII) {
    // Whatever the writer put for these (DSRDocument writes its own, empty) gives way to the source's.
    for (unsigned long n = ds.card(); n > 0; --n) {
        DcmElement *e = ds.getElement(n - 1);
        if (e != nullptr && isPatientOrStudy(e->getTag())) delete ds.remove(n - 1);
    }
    DcmDataset *src = const_cast<DcmFileFormat &>(source->format).getDataset();
    OFString sourceCharset;
    const bool hasCharset = src->findAndGetOFStringArray(DCM_SpecificCharacterSet, sourceCharset).good();
    const bool sourceIsUTF8 = sourceCharset == "ISO_IR 192";

    DcmDataset copied;
    for (unsigned long n = 0; n < src->card(); ++n) {
        DcmElement *e = src->getElement(n);
        if (e == nullptr || !isPatientOrStudy(e->getTag())) continue;
        bool invalid = false;
        for (const DcmTagKey &t : source->invalid) invalid = invalid || t == e->getTag();
        if (invalid) continue;
        check(copied.insert(OFstatic_cast(DcmElement *, e->clone()), OFTrue), "copying the patient and study");
    }
    ds.findAndDeleteElement(DCM_SpecificCharacterSet);
    if (ownTextIsASCII || sourceIsUTF8) {
        // Bytes as stored, under the source's own declaration (none: the default repertoire).
        if (hasCharset && !sourceCharset.empty()) put(ds, DCM_SpecificCharacterSet, sourceCharset.c_str());
    } else {
        // Our text needs UTF-8, so the source's text is converted to it: one data set, one character set.
        if (!DcmSpecificCharacterSet::isConversionAvailable()) {
            throw Failure{CDCMTKR_CHARSET, "this DCMTK cannot convert character sets, and the source is declared '" +
                                               std::string(sourceCharset.c_str()) + "' while the results need UTF-8"};
        }
        const OFCondition cond = copied.convertCharacterSet(sourceCharset, "ISO_IR 192", 0, OFFalse);
        if (cond.bad()) {
            throw Failure{CDCMTKR_CHARSET, "the source's patient and study text (declared '" +
                                               std::string(sourceCharset.c_str()) +
                                               "') could not be converted to UTF-8: " + cond.text()};
        }
        put(ds, DCM_SpecificCharacterSet, "ISO_IR 192");
    }
    while (copied.card() > 0) {
        DcmElement *e = copied.remove(static_cast<unsigned long>(0));
        check(ds.insert(e, OFTrue), "copying the patient and study");
    }
    // Type 2 attributes of the Patient and General Study modules the source lacks are present, empty.
    for (const DcmTagKey &t : {DCM_PatientName, DCM_PatientID, DCM_PatientBirthDate, DCM_PatientSex, DCM_StudyDate,
                               DCM_StudyTime, DCM_ReferringPhysicianName, DCM_StudyID, DCM_AccessionNumber}) {
        if (!ds.tagExists(t)) check(ds.insertEmptyElement(t), "an empty Type 2 attribute");
    }
}

DcmItem *sourceReference(const cdcmtkr_source *source) {
    DcmDataset *src = const_cast<DcmFileFormat &>(source->format).getDataset();
    OFString sopClass, sopInstance;
    src->findAndGetOFString(DCM_SOPClassUID, sopClass);
    src->findAndGetOFString(DCM_SOPInstanceUID, sopInstance);
    auto *item = new DcmItem();
    put(*item, DCM_ReferencedSOPClassUID, sopClass.c_str());
    put(*item, DCM_ReferencedSOPInstanceUID, sopInstance.c_str());
    return item;
}

void save(DcmFileFormat &format, const char *path) {
    const OFCondition cond =
        format.saveFile(path, EXS_LittleEndianExplicit, EET_ExplicitLength, EGL_recalcGL, EPD_withoutPadding);
    if (cond.bad()) throw Failure{CDCMTKR_WRITE_FAILED, std::string(path) + ": " + cond.text()};
}

}  // namespace cdcmtkr

extern "C" const char *cdcmtkr_last_error(void) { return cdcmtkr::tlsLastError.c_str(); }

extern "C" int32_t cdcmtkr_source_open(const char *path, cdcmtkr_source **out) {
    if (out != nullptr) *out = nullptr;
    return cdcmtkr::guarded([&]() -> int32_t {
        if (path == nullptr || out == nullptr) return cdcmtkr::fail(CDCMTKR_INVALID_ARGUMENT, "NULL argument");
        struct stat st;
        if (::stat(path, &st) != 0) return cdcmtkr::fail(CDCMTKR_UNREADABLE, std::strerror(errno));
        if (!S_ISREG(st.st_mode)) return cdcmtkr::fail(CDCMTKR_UNREADABLE, "not a regular file");
        auto source = std::make_unique<cdcmtkr_source>();
        source->path = path;
        // Parsing stops at Pixel Data: the results copy header attributes only (and DCMTK has nothing to
        // warn about in pixels it never reads).
        const OFCondition cond = source->format.loadFileUntilTag(path, EXS_Unknown, EGL_noChange, 4096, ERM_autoDetect,
                                                                 DCM_PixelData);
        if (cond.bad()) return cdcmtkr::fail(CDCMTKR_INVALID_SOURCE, std::string("DCMTK cannot read it: ") + cond.text());
        DcmDataset *ds = source->format.getDataset();
        for (const auto &[tag, name] : {std::pair<DcmTagKey, const char *>{DCM_StudyInstanceUID, "Study Instance UID"},
                                        {DCM_SOPClassUID, "SOP Class UID"},
                                        {DCM_SOPInstanceUID, "SOP Instance UID"}}) {
            OFString value;
            if (ds->findAndGetOFString(tag, value).bad() || value.empty()) {
                return cdcmtkr::fail(CDCMTKR_INVALID_SOURCE, std::string("it has no ") + name +
                                                                 ", so there is no study to return the results into");
            }
        }
        // A value invalid for its VR (e.g. Patient's Age "62" for AS) would make every result invalid too: such
        // attributes are left out (Type 2 ones stay, empty) and noted. Sequences are copied as they are.
        for (unsigned long n = 0; n < ds->card(); ++n) {
            DcmElement *e = ds->getElement(n);
            if (e == nullptr || !cdcmtkr::isPatientOrStudy(e->getTag()) || e->ident() == EVR_SQ) continue;
            if (!cdcmtkr::valueIsValid(*e)) {
                DcmTag tag(e->getTag());
                source->invalid.push_back(e->getTag());
                source->notes.push_back(std::string("left out the source's ") + tag.getTagName() + " " +
                                        e->getTag().toString().c_str() + ": its value is not valid " + tag.getVRName());
            }
        }
        *out = source.release();
        return CDCMTKR_OK;
    });
}

extern "C" void cdcmtkr_source_free(cdcmtkr_source *source) { delete source; }

extern "C" int32_t cdcmtkr_source_note_count(const cdcmtkr_source *source) {
    return source == nullptr ? 0 : static_cast<int32_t>(source->notes.size());
}

extern "C" const char *cdcmtkr_source_note(const cdcmtkr_source *source, int32_t index) {
    if (source == nullptr || index < 0 || static_cast<size_t>(index) >= source->notes.size()) return nullptr;
    return source->notes[static_cast<size_t>(index)].c_str();
}
