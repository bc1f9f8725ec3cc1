// CDCMTKNet shim, listener: a DcmSCP accepting Verification and the CR, DX and Secondary Capture storage classes.
//
// Each C-STORE dataset is streamed to a hidden temporary file exactly as it arrives (DcmSCP writes the file meta
// information with the accepted transfer syntax; nothing is parsed or decompressed on the way, so transfer
// syntaxes DCMTK 3.6.7 does not know, such as HTJ2K, pass through too). The file is then read up to the pixel
// data for its Study Instance UID, synced, renamed without replacing into <folder>/<study>/<instance>.dcm, and
// the folder synced; only then is the success response sent.
#include "net_internal.hpp"

#include "dcmtk/dcmdata/dctk.h"
#include "dcmtk/dcmnet/diutil.h"
#include "dcmtk/dcmnet/scp.h"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <iterator>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

namespace {

using cdcmtkn::Failure;

/// The storage classes accepted: CR, DX for presentation and for processing, Secondary Capture and the
/// multi-frame grayscale byte and word Secondary Capture classes.
const char *const kStorageClasses[] = {
    UID_ComputedRadiographyImageStorage,
    UID_DigitalXRayImageStorageForPresentation,
    UID_DigitalXRayImageStorageForProcessing,
    UID_SecondaryCaptureImageStorage,
    UID_MultiframeGrayscaleByteSecondaryCaptureImageStorage,
    UID_MultiframeGrayscaleWordSecondaryCaptureImageStorage,
};

/// The transfer syntaxes CXReview's decoder reads. Of those a context proposes, the first in the proposer's order
/// is accepted (see negotiateAssociation), so a sender is never asked to convert what it sends.
const char *const kTransferSyntaxes[] = {
    UID_LittleEndianExplicitTransferSyntax,
    UID_LittleEndianImplicitTransferSyntax,
    UID_BigEndianExplicitTransferSyntax,
    UID_DeflatedExplicitVRLittleEndianTransferSyntax,
    UID_JPEGProcess1TransferSyntax,            // .4.50 baseline
    UID_JPEGProcess2_4TransferSyntax,          // .4.51 extended
    UID_JPEGProcess14TransferSyntax,           // .4.57 lossless
    UID_JPEGProcess14SV1TransferSyntax,        // .4.70 lossless SV1
    UID_JPEGLSLosslessTransferSyntax,          // .4.80
    UID_JPEGLSLossyTransferSyntax,             // .4.81
    UID_RLELosslessTransferSyntax,             // .5
    UID_JPEG2000LosslessOnlyTransferSyntax,    // .4.90
    UID_JPEG2000TransferSyntax,                // .4.91
    "1.2.840.10008.1.2.4.201",                 // HTJ2K lossless
    "1.2.840.10008.1.2.4.202",                 // HTJ2K lossless RPCL
    "1.2.840.10008.1.2.4.203",                 // HTJ2K
};

bool listed(const char *uid, const char *const *list, size_t count) {
    for (size_t i = 0; i < count; ++i) {
        if (std::strcmp(uid, list[i]) == 0) return true;
    }
    return false;
}

/// A UID from the wire is untrusted: usable as a file name only if it is digits and dots, 1-64 characters, with
/// no empty component (so never "." or "..").
bool isSafeUID(const std::string &uid) {
    if (uid.empty() || uid.size() > 64 || uid.front() == '.' || uid.back() == '.') return false;
    char previous = 0;
    for (char c : uid) {
        if (c == '.') {
            if (previous == '.') return false;
        } else if (c < '0' || c > '9') {
            return false;
        }
        previous = c;
    }
    return true;
}

/// 64-bit FNV-1a, for names of untrusted UIDs (stable across runs, unlike std::hash).
std::string hashName(const std::string &value) {
    uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : value) {
        h ^= c;
        h *= 1099511628211ULL;
    }
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "uid-%016llx", static_cast<unsigned long long>(h));
    return buffer;
}

std::string errnoText(int code) { return std::strerror(code); }

/// fsync on a path (file or folder); returns errno or 0.
int syncPath(const std::string &path, bool directory) {
    const int fd = ::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0) return errno;
    const int rc = ::fsync(fd);
    const int code = rc == 0 ? 0 : errno;
    ::close(fd);
    return code;
}

/// Moves `from` to `to` only if `to` does not exist: a hard link then unlink, so an existing file is never
/// replaced (rename() would). Returns 0, EEXIST, or another errno.
int moveNoReplace(const std::string &from, const std::string &to) {
    if (::link(from.c_str(), to.c_str()) == 0) {
        ::unlink(from.c_str());
        return 0;
    }
    const int code = errno;
    if (code == EEXIST) return EEXIST;
    if (code == EPERM || code == ENOTSUP || code == EMLINK) {
        // File systems without hard links: check, then rename (a small race; one association at a time).
        struct stat info;
        if (::lstat(to.c_str(), &info) == 0) return EEXIST;
        return ::rename(from.c_str(), to.c_str()) == 0 ? 0 : errno;
    }
    return code;
}

class StorageSCP : public DcmSCP {
  public:
    StorageSCP(const cdcmtkn_listener_config &config)
        : folder_(config.folder), ownAETitle_(config.ae_title), callback_(config.callback),
          context_(config.context) {
        for (int32_t i = 0; i < config.allowed_calling_ae_count && config.allowed_calling_ae_titles != nullptr; ++i) {
            if (config.allowed_calling_ae_titles[i] != nullptr) allowed_.push_back(trim(config.allowed_calling_ae_titles[i]));
        }
        incoming_ = folder_ + "/.incoming";
    }

    std::atomic<bool> stopRequested{false};

    void configure(const cdcmtkn_listener_config &config) {
        setPort(config.port);
        setAETitle(config.ae_title);
        setRespondWithCalledAETitle(OFFalse);
        // Non-blocking accept with a 1 s timeout, so a stop takes effect within about a second while idle.
        setConnectionBlockingMode(DUL_NOBLOCK);
        setConnectionTimeout(1);
        setACSETimeout(static_cast<Uint32>(config.timeout_seconds));
        setDIMSEBlockingMode(DIMSE_NONBLOCKING);
        setDIMSETimeout(static_cast<Uint32>(config.timeout_seconds));
        setHostLookupEnabled(OFFalse);
        setVerbosePCMode(OFFalse);
        setProgressNotificationMode(OFFalse);
        OFList<OFString> verification;
        verification.push_back(UID_LittleEndianExplicitTransferSyntax);
        verification.push_back(UID_BigEndianExplicitTransferSyntax);
        verification.push_back(UID_LittleEndianImplicitTransferSyntax);
        check(addPresentationContext(UID_VerificationSOPClass, verification), "Verification");
        OFList<OFString> syntaxes;
        for (const char *ts : kTransferSyntaxes) syntaxes.push_back(ts);
        for (const char *sopClass : kStorageClasses) check(addPresentationContext(sopClass, syntaxes), sopClass);
    }

    /// Creates the hidden staging folder and removes what a crash left there: those files were never
    /// acknowledged, so the sender still holds them.
    void prepareStaging() {
        if (::mkdir(incoming_.c_str(), 0700) != 0 && errno != EEXIST) {
            throw Failure{CDCMTKN_FOLDER_UNWRITABLE, "cannot create " + incoming_ + ": " + errnoText(errno)};
        }
        if (DIR *dir = ::opendir(incoming_.c_str())) {
            while (const dirent *entry = ::readdir(dir)) {
                const std::string name = entry->d_name;
                if (name.size() > 5 && name.compare(name.size() - 5, 5, ".part") == 0) {
                    ::unlink((incoming_ + "/" + name).c_str());
                }
            }
            ::closedir(dir);
        }
        const std::string probe = incoming_ + "/.probe";
        const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) throw Failure{CDCMTKN_FOLDER_UNWRITABLE, "cannot write in " + folder_ + ": " + errnoText(errno)};
        ::close(fd);
        ::unlink(probe.c_str());
    }

  protected:
    OFBool stopAfterConnectionTimeout() override { return stopRequested.load(); }
    OFBool stopAfterCurrentAssociation() override { return stopRequested.load(); }

    /// Accepts, per proposed context of a supported class, the first proposed transfer syntax we read, in the
    /// proposer's order (DcmSCP's own negotiation takes the acceptor's order, which would make a sender that
    /// offers [JPEG lossless, explicit little endian] for a JPEG file decompress it, or fail without codecs).
    /// Every other context is refused individually, so the association itself stays.
    OFCondition negotiateAssociation() override {
        if (negotiating_ == nullptr) return DIMSE_ILLEGALASSOCIATION;
        static const char *const uncompressed[] = {UID_LittleEndianExplicitTransferSyntax,
                                                   UID_LittleEndianImplicitTransferSyntax,
                                                   UID_BigEndianExplicitTransferSyntax};
        const int count = ASC_countPresentationContexts(negotiating_);
        for (int i = 0; i < count; ++i) {
            T_ASC_PresentationContext pc;
            OFCondition cond = ASC_getPresentationContext(negotiating_, i, &pc);
            if (cond.bad()) return cond;
            const bool verification = std::strcmp(pc.abstractSyntax, UID_VerificationSOPClass) == 0;
            if (!verification && !listed(pc.abstractSyntax, kStorageClasses, std::size(kStorageClasses))) {
                cond = ASC_refusePresentationContext(negotiating_, pc.presentationContextID,
                                                     ASC_P_ABSTRACTSYNTAXNOTSUPPORTED);
                if (cond.bad()) return cond;
                continue;
            }
            const char *chosen = nullptr;
            for (int t = 0; t < pc.transferSyntaxCount && chosen == nullptr; ++t) {
                const char *ts = pc.proposedTransferSyntaxes[t];
                const bool ok = verification ? listed(ts, uncompressed, std::size(uncompressed))
                                             : listed(ts, kTransferSyntaxes, std::size(kTransferSyntaxes));
                if (ok) chosen = ts;
            }
            cond = chosen != nullptr
                       ? ASC_acceptPresentationContext(negotiating_, pc.presentationContextID, chosen)
                       : ASC_refusePresentationContext(negotiating_, pc.presentationContextID,
                                                       ASC_P_TRANSFERSYNTAXESNOTSUPPORTED);
            if (cond.bad()) return cond;
        }
        return EC_Normal;
    }

    void notifyAssociationRequest(const T_ASC_Parameters &params, DcmSCPActionType &desiredAction) override {
        // DcmSCP keeps its association private; these are its parameters, alive until the association is
        // dropped, and negotiateAssociation (called after this for the same request) decides on them.
        negotiating_ = const_cast<T_ASC_Parameters *>(&params);
        callingAE_ = trim(params.DULparams.callingAPTitle);
        calledAE_ = trim(params.DULparams.calledAPTitle);
        peerHost_ = params.DULparams.callingPresentationAddress;
        refusedReason_.clear();
        active_ = false;
        (void)desiredAction;
    }

    OFBool checkCalledAETitleAccepted(const OFString &calledAE) override {
        if (trim(calledAE.c_str()) == trim(ownAETitle_.c_str())) return OFTrue;
        refusedReason_ = "called AE title '" + trim(calledAE.c_str()) + "' is not this listener's ('" +
                         trim(ownAETitle_.c_str()) + "')";
        return OFFalse;
    }

    OFBool checkCallingAETitleAccepted(const OFString &callingAE) override {
        if (allowed_.empty()) return OFTrue;
        const std::string ae = trim(callingAE.c_str());
        for (const auto &a : allowed_) {
            if (a == ae) return OFTrue;
        }
        refusedReason_ = "calling AE title '" + ae + "' is not on the allow-list";
        return OFFalse;
    }

    void refuseAssociation(const DcmRefuseReasonType reason) override {
        if (refusedReason_.empty()) {
            switch (reason) {
                case DCMSCP_NO_PRESENTATION_CONTEXTS:
                    refusedReason_ = "no acceptable presentation context (only Verification and CR, DX and Secondary "
                                     "Capture images are accepted)";
                    break;
                case DCMSCP_BAD_APPLICATION_CONTEXT_NAME: refusedReason_ = "unsupported application context"; break;
                default: refusedReason_ = "refused by the listener"; break;
            }
        }
        DcmSCP::refuseAssociation(reason);
        cdcmtkn_event e = blank(CDCMTKN_EVENT_ASSOCIATION_REFUSED);
        e.reason = refusedReason_.c_str();
        emit(e);
    }

    void notifyAssociationAcknowledge() override {
        ++associationCounter_;
        active_ = true;
        stored_ = failed_ = 0;
        released_ = false;
        endReason_.clear();
        cdcmtkn_event e = blank(CDCMTKN_EVENT_ASSOCIATION_ACCEPTED);
        emit(e);
    }

    void notifyReleaseRequest() override { released_ = true; }
    void notifyAbortRequest() override { endReason_ = "the peer aborted the association"; }
    void notifyDIMSEError(const OFCondition &cond) override {
        endReason_ = std::string("network error: ") + cond.text();
    }

    void notifyAssociationTermination() override {
        // DcmSCP calls this twice per association (and for refused ones): report each accepted one once.
        if (!active_) return;
        active_ = false;
        cdcmtkn_event e = blank(CDCMTKN_EVENT_ASSOCIATION_ENDED);
        e.stored = stored_;
        e.failed = failed_;
        e.released = released_ ? 1 : 0;
        e.reason = endReason_.c_str();
        emit(e);
    }

    OFCondition handleIncomingCommand(T_DIMSE_Message *msg, const DcmPresentationContextInfo &info) override {
        if (msg->CommandField == DIMSE_C_STORE_RQ) return handleStore(msg->msg.CStoreRQ, info);
        OFCondition cond = DcmSCP::handleIncomingCommand(msg, info);
        if (cond.good() && msg->CommandField == DIMSE_C_ECHO_RQ) {
            cdcmtkn_event e = blank(CDCMTKN_EVENT_ECHO);
            emit(e);
        }
        return cond;
    }

  private:
    std::string folder_, incoming_, ownAETitle_;
    std::vector<std::string> allowed_;
    cdcmtkn_event_callback callback_;
    void *context_;
    std::string callingAE_, calledAE_, peerHost_, refusedReason_, endReason_;
    uint64_t associationCounter_ = 0;
    uint64_t instanceCounter_ = 0;
    bool active_ = false, released_ = false;
    T_ASC_Parameters *negotiating_ = nullptr;
    int32_t stored_ = 0, failed_ = 0;

    static std::string trim(const char *s) {
        std::string r = s == nullptr ? "" : s;
        while (!r.empty() && r.back() == ' ') r.pop_back();
        while (!r.empty() && r.front() == ' ') r.erase(r.begin());
        return r;
    }

    /// Why a file cannot be created in the staging folder (errno of a fresh attempt), for the event.
    std::string probeWrite() const {
        const std::string probe = incoming_ + "/.probe";
        const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0) return errnoText(errno);
        ::close(fd);
        ::unlink(probe.c_str());
        return "the file could not be created";
    }

    static void check(const OFCondition &cond, const char *what) {
        if (cond.bad()) throw Failure{CDCMTKN_INTERNAL, std::string("cannot configure ") + what + ": " + cond.text()};
    }

    cdcmtkn_event blank(int32_t kind) const {
        cdcmtkn_event e;
        std::memset(&e, 0, sizeof e);
        e.kind = kind;
        e.association_id = associationCounter_;
        e.calling_ae = callingAE_.c_str();
        e.called_ae = calledAE_.c_str();
        e.peer_host = peerHost_.c_str();
        e.reason = e.path = e.sop_class_uid = e.sop_instance_uid = e.study_instance_uid = e.transfer_syntax_uid = "";
        return e;
    }

    void emit(const cdcmtkn_event &e) {
        if (callback_ != nullptr) callback_(&e, context_);
    }

    void reportFailure(const std::string &sopInstance, Uint16 status, const std::string &reason) {
        ++failed_;
        cdcmtkn_event e = blank(CDCMTKN_EVENT_INSTANCE_FAILED);
        e.sop_instance_uid = sopInstance.c_str();
        e.status = status;
        e.reason = reason.c_str();
        emit(e);
    }

    OFCondition handleStore(T_DIMSE_C_StoreRQ &req, const DcmPresentationContextInfo &info) {
        const std::string requestInstance = req.AffectedSOPInstanceUID;
        const std::string part = incoming_ + "/" + std::to_string(associationCounter_) + "-" +
                                 std::to_string(++instanceCounter_) + ".dcm.part";
        cdcmtkn::LogCapture capture;
        OFCondition cond = receiveSTORERequest(req, info.presentationContextID, OFString(part.c_str()));
        if (cond.bad()) {
            ::unlink(part.c_str());
            if (cond.code() == DIMSEC_OUTOFRESOURCES) {
                // DcmSCP could not create the file and has read past the dataset: answer, keep the association.
                const std::string reason = "cannot create a file in " + incoming_ + ": " + probeWrite();
                reportFailure(requestInstance, STATUS_STORE_Refused_OutOfResources, reason);
                return sendSTOREResponse(info.presentationContextID, req, STATUS_STORE_Refused_OutOfResources);
            }
            reportFailure(requestInstance, 0, std::string("receiving the data set failed: ") + cond.text());
            return cond;  // the association is broken; DcmSCP aborts it
        }
        Uint16 status = STATUS_Success;
        std::string reason, finalPath, study, sopClass = req.AffectedSOPClassUID, instance = requestInstance;
        uint64_t bytes = 0;
        try {
            publish(part, info, study, sopClass, instance, finalPath, bytes);
        } catch (const Failure &f) {
            status = static_cast<Uint16>(f.status);
            reason = f.message;
        } catch (const std::exception &e) {
            status = STATUS_STORE_Refused_OutOfResources;
            reason = std::string("unexpected error: ") + e.what();
        }
        if (status != STATUS_Success) {
            ::unlink(part.c_str());
            reportFailure(instance, status, reason);
        } else {
            ++stored_;
            cdcmtkn_event e = blank(CDCMTKN_EVENT_INSTANCE_STORED);
            e.path = finalPath.c_str();
            e.sop_class_uid = sopClass.c_str();
            e.sop_instance_uid = instance.c_str();
            e.study_instance_uid = study.c_str();
            e.transfer_syntax_uid = info.acceptedTransferSyntax.c_str();
            e.bytes = bytes;
            emit(e);
        }
        return sendSTOREResponse(info.presentationContextID, req, status);
    }

    /// Reads the staged file's UIDs, syncs it and moves it to its final name; throws Failure(DIMSE status).
    void publish(const std::string &part, const DcmPresentationContextInfo &info, std::string &study,
                 std::string &sopClass, std::string &instance, std::string &finalPath, uint64_t &bytes) {
        DcmFileFormat file;
        // Values longer than 4 KiB (pixel data) stay on disk: only the UIDs are needed here.
        OFCondition cond = file.loadFile(part.c_str(), EXS_Unknown, EGL_noChange, 4096, ERM_fileOnly);
        if (cond.bad()) {
            throw Failure{STATUS_STORE_Error_CannotUnderstand,
                          std::string("the received data set cannot be parsed: ") + cond.text()};
        }
        DcmDataset *ds = file.getDataset();
        OFString value;
        if (ds->findAndGetOFStringArray(DCM_StudyInstanceUID, value).good()) study = value.c_str();
        if (ds->findAndGetOFStringArray(DCM_SOPInstanceUID, value).good() && !value.empty()) instance = value.c_str();
        if (ds->findAndGetOFStringArray(DCM_SOPClassUID, value).good() && !value.empty()) sopClass = value.c_str();
        (void)info;

        const std::string studyName = isSafeUID(study) ? study : "unknown-study";
        const std::string instanceName = instance.empty() ? "unknown-instance"
                                                          : (isSafeUID(instance) ? instance : hashName(instance));
        const std::string studyDir = folder_ + "/" + studyName;
        if (::mkdir(studyDir.c_str(), 0755) == 0) {
            if (const int code = syncPath(folder_, true)) {
                throw Failure{STATUS_STORE_Refused_OutOfResources, "cannot sync " + folder_ + ": " + errnoText(code)};
            }
        } else if (errno != EEXIST) {
            throw Failure{STATUS_STORE_Refused_OutOfResources, "cannot create " + studyDir + ": " + errnoText(errno)};
        }
        struct stat info2;
        if (::stat(part.c_str(), &info2) == 0) bytes = static_cast<uint64_t>(info2.st_size);
        if (const int code = syncPath(part, false)) {
            throw Failure{STATUS_STORE_Refused_OutOfResources, "cannot sync the received file: " + errnoText(code)};
        }
        for (int n = 1; n < 10000; ++n) {
            const std::string candidate =
                studyDir + "/" + instanceName + (n == 1 ? "" : "-" + std::to_string(n)) + ".dcm";
            int code = moveNoReplace(part, candidate);
            if (code == ENOENT && ::mkdir(studyDir.c_str(), 0755) == 0) {
                // The watcher removes a study folder it has emptied once it has been idle; it may have done so
                // between the mkdir above and this move: make it again, once.
                code = moveNoReplace(part, candidate);
            }
            if (code == EEXIST) continue;
            if (code != 0) {
                throw Failure{STATUS_STORE_Refused_OutOfResources, "cannot move the received file to " + candidate +
                                                                       ": " + errnoText(code)};
            }
            finalPath = candidate;
            if (const int sync = syncPath(studyDir, true)) {
                throw Failure{STATUS_STORE_Refused_OutOfResources, "cannot sync " + studyDir + ": " + errnoText(sync)};
            }
            return;
        }
        throw Failure{STATUS_STORE_Refused_OutOfResources, "too many copies of " + instanceName + " in " + studyDir};
    }
};

}  // namespace

struct cdcmtkn_listener {
    StorageSCP scp;
    bool ran = false;
    explicit cdcmtkn_listener(const cdcmtkn_listener_config &config) : scp(config) {}
};

extern "C" int32_t cdcmtkn_listener_open(const cdcmtkn_listener_config *config, cdcmtkn_listener **out) {
    if (out != nullptr) *out = nullptr;
    return cdcmtkn::guarded([&]() -> int32_t {
        if (config == nullptr || out == nullptr) throw Failure{CDCMTKN_INVALID_ARGUMENT, "NULL argument"};
        if (config->ae_title == nullptr || !cdcmtkn::isValidAETitle(config->ae_title)) {
            throw Failure{CDCMTKN_INVALID_ARGUMENT, "the AE title must be 1 to 16 characters, without backslash"};
        }
        if (config->folder == nullptr || *config->folder == '\0') {
            throw Failure{CDCMTKN_INVALID_ARGUMENT, "no destination folder"};
        }
        for (int32_t i = 0; i < config->allowed_calling_ae_count; ++i) {
            const char *ae = config->allowed_calling_ae_titles != nullptr ? config->allowed_calling_ae_titles[i] : nullptr;
            if (ae == nullptr || !cdcmtkn::isValidAETitle(ae)) {
                throw Failure{CDCMTKN_INVALID_ARGUMENT, "allowed calling AE title '" + std::string(ae ? ae : "") +
                                                            "' is not 1 to 16 characters without backslash"};
            }
        }
        if (config->port == 0) throw Failure{CDCMTKN_INVALID_ARGUMENT, "no port (0)"};
        if (config->timeout_seconds < 1) throw Failure{CDCMTKN_INVALID_ARGUMENT, "the timeout must be at least 1 s"};
        struct stat info;
        if (::stat(config->folder, &info) != 0 || !S_ISDIR(info.st_mode)) {
            throw Failure{CDCMTKN_FOLDER_UNWRITABLE, std::string(config->folder) + " is not a folder"};
        }
        auto listener = std::make_unique<cdcmtkn_listener>(*config);
        listener->scp.configure(*config);
        listener->scp.prepareStaging();
        cdcmtkn::LogCapture capture;
        const OFCondition cond = listener->scp.openListenPort();
        if (cond.bad()) {
            const std::string text = cond.text();
            if (cond == NET_EC_InsufficientPortPrivileges || text.find("ermission denied") != std::string::npos) {
                throw Failure{CDCMTKN_PERMISSION_DENIED, "no permission to listen on port " +
                                                             std::to_string(config->port) + ": " + text};
            }
            if (text.find("in use") != std::string::npos) {
                throw Failure{CDCMTKN_PORT_IN_USE, "port " + std::to_string(config->port) + " is in use: " + text};
            }
            throw Failure{CDCMTKN_NETWORK, "cannot listen on port " + std::to_string(config->port) + ": " + text};
        }
        *out = listener.release();
        return CDCMTKN_OK;
    });
}

extern "C" uint16_t cdcmtkn_listener_port(const cdcmtkn_listener *listener) {
    return listener == nullptr ? 0 : listener->scp.getPort();
}

extern "C" int32_t cdcmtkn_listener_run(cdcmtkn_listener *listener) {
    return cdcmtkn::guarded([&]() -> int32_t {
        if (listener == nullptr) throw Failure{CDCMTKN_INVALID_ARGUMENT, "NULL listener"};
        if (listener->ran) throw Failure{CDCMTKN_ILLEGAL_STATE, "the listener has run already; open a new one"};
        listener->ran = true;
        const OFCondition cond = listener->scp.acceptAssociations();
        if (cond == NET_EC_StopAfterConnectionTimeout || cond == NET_EC_StopAfterAssociation) return CDCMTKN_OK;
        throw Failure{CDCMTKN_NETWORK, std::string("the listener stopped: ") + cond.text()};
    });
}

extern "C" void cdcmtkn_listener_stop(cdcmtkn_listener *listener) {
    if (listener != nullptr) listener->scp.stopRequested.store(true);
}

extern "C" void cdcmtkn_listener_free(cdcmtkn_listener *listener) {
    try {
        delete listener;
    } catch (...) {
    }
}
