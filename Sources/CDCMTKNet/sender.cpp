// CDCMTKNet shim, sender: DcmStorageSCU sending files in their own SOP class and transfer syntax.
//
// What DcmStorageSCU negotiates (DCMTK 3.6.7): for an uncompressed file, one presentation context with all three
// uncompressed transfer syntaxes (it converts between them if the peer picks another); for a compressed file,
// only the file's own transfer syntax, because decompression is switched off here (DM_never: no codecs are
// registered in this target, and results must reach the PACS unchanged). A peer that refuses that syntax
// leaves the file with outcome NO_PRESENTATION_CONTEXT; there is no fallback to little endian.
#include "net_internal.hpp"

#include "dcmtk/dcmdata/dctk.h"
#include "dcmtk/dcmnet/diutil.h"
#include "dcmtk/dcmnet/dstorscu.h"

#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace {

using cdcmtkn::Failure;

// Private "pending" codes DcmStorageSCU puts into a transfer entry it could not send (dstorscu.cc, 3.6.7).
constexpr Uint16 kNoPresentationContext = 0xFFFF;
constexpr Uint16 kInvalidDatasetPointer = 0xFFFE;

struct FileState {
    int32_t index;           // position in the caller's arrays
    std::string path;
    std::string sopClass;
    std::string transferSyntax;
    bool resolved = false;
};

class Sender : public DcmStorageSCU {
  public:
    std::vector<FileState> files;
    cdcmtkn_send_result *results = nullptr;
    std::string lastSOPClass, lastTransferSyntax;

    FileState *unresolved(const std::string &path) {
        for (auto &f : files) {
            if (!f.resolved && f.path == path) return &f;
        }
        return nullptr;
    }

  protected:
    OFCondition checkSOPInstance(const OFString &sopClassUID, const OFString &sopInstanceUID,
                                 const OFString &transferSyntaxUID, const OFBool checkValues) override {
        lastSOPClass = sopClassUID.c_str();
        lastTransferSyntax = transferSyntaxUID.c_str();
        return DcmStorageSCU::checkSOPInstance(sopClassUID, sopInstanceUID, transferSyntaxUID, checkValues);
    }

    void notifySOPInstanceSent(const TransferEntry &entry) override {
        FileState *f = unresolved(entry.Filename.getCharPointer() != nullptr ? entry.Filename.getCharPointer() : "");
        if (f == nullptr) return;
        cdcmtkn_send_result &r = results[f->index];
        const Uint16 status = entry.ResponseStatusCode;
        if (!entry.RequestSent) {
            return;  // the association broke: cdcmtkn_send marks what is left
        }
        f->resolved = true;
        r.status = status;
        if (status == kNoPresentationContext) {
            r.outcome = CDCMTKN_SEND_NO_PRESENTATION_CONTEXT;
            cdcmtkn::copyString(r.reason, sizeof r.reason, noContextReason(*f));
        } else if (status == kInvalidDatasetPointer) {
            r.outcome = CDCMTKN_SEND_UNREADABLE;
            cdcmtkn::copyString(r.reason, sizeof r.reason, "the file could not be loaded for sending");
        } else if (status == STATUS_Success) {
            r.outcome = CDCMTKN_SEND_STORED;
            r.reason[0] = '\0';
        } else if (status == 0x0001 || (status & 0xF000) == 0xB000) {
            r.outcome = CDCMTKN_SEND_WARNING;
            cdcmtkn::copyString(r.reason, sizeof r.reason, DU_cstoreStatusString(status));
        } else {
            r.outcome = CDCMTKN_SEND_FAILED_STATUS;
            char text[64];
            std::snprintf(text, sizeof text, "0x%04X ", status);
            cdcmtkn::copyString(r.reason, sizeof r.reason,
                                std::string("the peer answered ") + text + DU_cstoreStatusString(status));
        }
    }

  public:
    static std::string noContextReason(const FileState &f) {
        return "the peer accepted no presentation context for " + name(f.sopClass) + " in " + name(f.transferSyntax) +
               " (files are sent in their own transfer syntax, never decompressed)";
    }

    static std::string name(const std::string &uid) {
        const char *n = dcmFindNameOfUID(uid.c_str(), nullptr);
        return n != nullptr ? std::string(n) + " (" + uid + ")" : uid;
    }
};

/// The failure of a whole association, for the files it left unsent.
struct AssociationFailure {
    int32_t status;
    std::string reason;
};

AssociationFailure classify(const OFCondition &cond, const cdcmtkn::LogCapture &capture, const cdcmtkn_send_request &r) {
    const std::string where = std::string(r.host) + ":" + std::to_string(r.port);
    const std::string text = cond.text();
    if (cond == DUL_ASSOCIATIONREJECTED) {
        std::string detail = capture.find("Reason");
        if (detail.empty()) detail = capture.find("eject");
        for (char &c : detail) {
            if (c == '\n' || c == '\r') c = ' ';
        }
        return {CDCMTKN_ASSOCIATION_REJECTED, where + " (called AE '" + r.called_ae + "', calling AE '" + r.calling_ae +
                                                  "') rejected the association" + (detail.empty() ? "" : ": " + detail)};
    }
    if (text.find("onnection refused") != std::string::npos) {
        return {CDCMTKN_CONNECTION_REFUSED, "connection refused by " + where + ": nothing listens there"};
    }
    std::string detail = text;
    if (!capture.lines.empty() && capture.lines.back() != text) detail += " (" + capture.lines.back() + ")";
    return {CDCMTKN_NETWORK, "network failure with " + where + ": " + detail};
}

}  // namespace

extern "C" int32_t cdcmtkn_send(const cdcmtkn_send_request *request, const char *const *paths, int32_t count,
                                cdcmtkn_send_result *results) {
    return cdcmtkn::guarded([&]() -> int32_t {
        if (request == nullptr || (count > 0 && (paths == nullptr || results == nullptr)) || count < 0) {
            throw Failure{CDCMTKN_INVALID_ARGUMENT, "NULL argument"};
        }
        if (request->host == nullptr || *request->host == '\0') throw Failure{CDCMTKN_INVALID_ARGUMENT, "no host"};
        if (request->port == 0) throw Failure{CDCMTKN_INVALID_ARGUMENT, "port 0"};
        for (const char *ae : {request->called_ae, request->calling_ae}) {
            if (ae == nullptr || !cdcmtkn::isValidAETitle(ae)) {
                throw Failure{CDCMTKN_INVALID_ARGUMENT, "AE title '" + std::string(ae ? ae : "") +
                                                            "' is not 1 to 16 characters without backslash"};
            }
        }
        if (request->timeout_seconds < 1) throw Failure{CDCMTKN_INVALID_ARGUMENT, "the timeout must be at least 1 s"};
        for (int32_t i = 0; i < count; ++i) {
            results[i].outcome = CDCMTKN_SEND_NOT_SENT;
            results[i].status = 0;
            results[i].reason[0] = '\0';
        }

        cdcmtkn::LogCapture capture;
        Sender scu;
        scu.results = results;
        scu.setAETitle(request->calling_ae);
        scu.setPeerHostName(request->host);
        scu.setPeerPort(request->port);
        scu.setPeerAETitle(request->called_ae);
        scu.setConnectionTimeout(request->timeout_seconds);
        scu.setACSETimeout(static_cast<Uint32>(request->timeout_seconds));
        scu.setDIMSEBlockingMode(DIMSE_NONBLOCKING);
        scu.setDIMSETimeout(static_cast<Uint32>(request->timeout_seconds));
        scu.setDecompressionMode(DcmStorageSCU::DM_never);
        scu.setHaltOnInvalidFileMode(OFFalse);
        scu.setHaltOnUnsuccessfulStoreMode(OFFalse);

        for (int32_t i = 0; i < count; ++i) {
            const char *path = paths[i];
            if (path == nullptr || ::access(path, R_OK) != 0) {
                results[i].outcome = CDCMTKN_SEND_UNREADABLE;
                cdcmtkn::copyString(results[i].reason, sizeof results[i].reason,
                                    std::string("cannot read the file: ") + std::strerror(path ? errno : EINVAL));
                continue;
            }
            scu.lastSOPClass.clear();
            scu.lastTransferSyntax.clear();
            const OFCondition cond = scu.addDicomFile(path, ERM_autoDetect, OFTrue);
            if (cond.bad()) {
                results[i].outcome = CDCMTKN_SEND_UNREADABLE;
                std::string reason = std::string("not a DICOM file that can be sent: ") + cond.text();
                if (cond == NET_EC_UnknownTransferSyntax) {
                    reason = "its transfer syntax " + scu.lastTransferSyntax + " is unknown to DCMTK 3.6.7, which cannot send it";
                }
                cdcmtkn::copyString(results[i].reason, sizeof results[i].reason, reason);
                continue;
            }
            scu.files.push_back(FileState{i, path, scu.lastSOPClass, scu.lastTransferSyntax});
        }
        if (scu.files.empty()) return CDCMTKN_OK;

        AssociationFailure failure{CDCMTKN_OK, ""};
        while (failure.status == CDCMTKN_OK) {
            // Each round proposes the contexts of the files not yet sent (at most 128) on a new association.
            OFCondition cond = scu.addPresentationContexts();
            if (cond == NET_EC_NoPresentationContextsDefined || cond == NET_EC_NoSOPInstancesToSend) break;
            if (cond.bad()) {
                failure = {CDCMTKN_INTERNAL, std::string("cannot prepare the presentation contexts: ") + cond.text()};
                break;
            }
            cond = scu.initNetwork();
            if (cond.bad()) {
                failure = {CDCMTKN_NETWORK, std::string("cannot initialise the network: ") + cond.text()};
                break;
            }
            cond = scu.negotiateAssociation();
            if (cond == NET_EC_NoAcceptablePresentationContexts) {
                scu.releaseAssociation();
                continue;  // these files are marked; the next round proposes the rest
            }
            if (cond.bad()) {
                failure = classify(cond, capture, *request);
                break;
            }
            cond = scu.sendSOPInstances();
            scu.releaseAssociation();
            if (cond.bad()) failure = classify(cond, capture, *request);
        }

        // Files with no notification: rejected in negotiation (no context), or left by a failed association.
        for (FileState &f : scu.files) {
            if (f.resolved) continue;
            cdcmtkn_send_result &r = results[f.index];
            if (failure.status == CDCMTKN_OK) {
                r.outcome = CDCMTKN_SEND_NO_PRESENTATION_CONTEXT;
                cdcmtkn::copyString(r.reason, sizeof r.reason, Sender::noContextReason(f));
            } else {
                r.outcome = CDCMTKN_SEND_NOT_SENT;
                cdcmtkn::copyString(r.reason, sizeof r.reason, failure.reason);
            }
        }
        if (failure.status != CDCMTKN_OK) throw Failure{failure.status, failure.reason};
        return CDCMTKN_OK;
    });
}
