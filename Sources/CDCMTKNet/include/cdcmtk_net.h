/*
 * cdcmtk_net.h: pure C interface to DCMTK 3.6.7's dcmnet for CXReview's DICOM network services, used only by
 * the Swift target DICOMNetwork.
 *
 * - A Storage SCP with Verification (listener.cpp): receives CR, DX, Secondary Capture images over C-STORE and
 *   writes each into a folder atomically, exactly as received (no decompression), before acknowledging it.
 * - A Storage SCU (sender.cpp): sends DICOM files in their own transfer syntax and reports a result per file.
 *
 * Conventions (as in cdcmtk.h and cdcmtk_results.h)
 * - Every function returning int32_t returns one of the CDCMTKN_* status codes; CDCMTKN_OK is 0.
 * - No C++ exception leaves these functions: each exported function has exactly one try/catch boundary.
 * - After a failing call, cdcmtkn_last_error() describes the cause (DCMTK's own message where there is one).
 * - Handles are opaque; the caller owns each handle it receives and frees it once with the matching *_free
 *   (NULL is safe there). Strings are UTF-8 and NUL-terminated.
 * - DCMTK's log never reaches stderr: the dcmnet logger's errors are captured for the messages returned here.
 *
 * Thread safety: cdcmtkn_listener_stop may be called from any thread at any time while the listener exists;
 * every other call on one listener must come from one thread at a time. cdcmtkn_send is reentrant.
 * cdcmtkn_last_error() is thread-local.
 */
#ifndef CDCMTK_NET_H
#define CDCMTK_NET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum cdcmtkn_status {
    CDCMTKN_OK = 0,
    /** A caller error: NULL pointer, empty or too long AE title, folder missing. */
    CDCMTKN_INVALID_ARGUMENT = 1,
    /** The listening port is taken by another process. */
    CDCMTKN_PORT_IN_USE = 2,
    /** The port needs privileges this process lacks (ports below 1024). */
    CDCMTKN_PERMISSION_DENIED = 3,
    /** The destination folder cannot be written. */
    CDCMTKN_FOLDER_UNWRITABLE = 4,
    /** Nothing listens at the peer's host and port (TCP connection refused): retry later. */
    CDCMTKN_CONNECTION_REFUSED = 5,
    /** The peer rejected the association (A-ASSOCIATE-RJ); the message gives its result, source and reason. */
    CDCMTKN_ASSOCIATION_REJECTED = 6,
    /** Any other network failure (host unknown, timeout, peer aborted). */
    CDCMTKN_NETWORK = 7,
    /** run() was called twice, or after a failure. */
    CDCMTKN_ILLEGAL_STATE = 8,
    CDCMTKN_OUT_OF_MEMORY = 9,
    /** An unexpected C++ exception or DCMTK state. */
    CDCMTKN_INTERNAL = 10
};

/** Description of the last failure on the calling thread; never NULL. Valid until the next call on this thread. */
const char *cdcmtkn_last_error(void);

/** 1 when `ae` can be a DICOM AE title (1 to 16 characters of printable ASCII, no backslash, not only spaces),
 *  else 0: the rule the listener and the sender apply to every title they are given. */
int32_t cdcmtkn_is_valid_ae_title(const char *ae);

/* ---------------------------------------------------------------- listener (Storage SCP + Verification) */

enum cdcmtkn_event_kind {
    /** An association was accepted: calling_ae, called_ae, peer_host, association_id. */
    CDCMTKN_EVENT_ASSOCIATION_ACCEPTED = 1,
    /** An association was refused (A-ASSOCIATE-RJ sent): calling_ae, called_ae, peer_host, reason. */
    CDCMTKN_EVENT_ASSOCIATION_REFUSED = 2,
    /** An instance was written, synced and renamed, and is about to be acknowledged: association_id, path,
     *  sop_class_uid, sop_instance_uid, study_instance_uid, transfer_syntax_uid, bytes. */
    CDCMTKN_EVENT_INSTANCE_STORED = 3,
    /** An instance could not be stored: association_id, sop_instance_uid (as the request gave it), status
     *  (the DIMSE status answered, 0 if the association broke first), reason. */
    CDCMTKN_EVENT_INSTANCE_FAILED = 4,
    /** An accepted association ended: association_id, stored, failed, released (1) or aborted (0), reason. */
    CDCMTKN_EVENT_ASSOCIATION_ENDED = 5,
    /** A C-ECHO was answered: association_id. */
    CDCMTKN_EVENT_ECHO = 6
};

/** One event. Strings are never NULL (empty when not applicable) and are valid only during the callback. */
typedef struct cdcmtkn_event {
    int32_t kind;
    uint64_t association_id;
    const char *calling_ae;
    const char *called_ae;
    const char *peer_host;
    const char *reason;
    const char *path;
    const char *sop_class_uid;
    const char *sop_instance_uid;
    const char *study_instance_uid;
    const char *transfer_syntax_uid;
    uint64_t bytes;
    uint16_t status;
    int32_t stored;
    int32_t failed;
    int32_t released;
} cdcmtkn_event;

/** Called on the thread inside cdcmtkn_listener_run, synchronously: an INSTANCE_STORED event comes before the
 *  C-STORE response is sent. It must not call back into the listener except cdcmtkn_listener_stop. */
typedef void (*cdcmtkn_event_callback)(const cdcmtkn_event *event, void *context);

typedef struct cdcmtkn_listener_config {
    /** TCP port, 1-65535 (DCMTK 3.6.7 cannot report the port the system picks for 0). */
    uint16_t port;
    /** Our AE title (1-16 characters, no backslash); associations calling another title are refused. */
    const char *ae_title;
    /** Calling AE titles allowed to connect; NULL (or count 0) allows every caller. */
    const char *const *allowed_calling_ae_titles;
    int32_t allowed_calling_ae_count;
    /** Existing, writable folder; instances go to <folder>/<StudyInstanceUID>/<SOPInstanceUID>.dcm (-2, -3...
     *  if taken; "unknown-study" and hashed names for missing or unsafe UIDs). Data sets are staged in
     *  <folder>/.incoming; staged files left by a crash were never acknowledged and are removed at open. */
    const char *folder;
    /** Seconds a peer may stay silent (ACSE and DIMSE) before the association is aborted; at least 1. */
    int32_t timeout_seconds;
    cdcmtkn_event_callback callback;
    /** Passed to `callback` unchanged; may be NULL. */
    void *context;
} cdcmtkn_listener_config;

typedef struct cdcmtkn_listener cdcmtkn_listener;

/** Checks the configuration and opens the listening port (so "in use" and "permission denied" show here).
 *  Incoming connections wait in the TCP backlog until cdcmtkn_listener_run. Strings are copied.
 *  On OK, *out receives a handle to free with cdcmtkn_listener_free; otherwise NULL. */
int32_t cdcmtkn_listener_open(const cdcmtkn_listener_config *config, cdcmtkn_listener **out);

/** The port actually listened on. */
uint16_t cdcmtkn_listener_port(const cdcmtkn_listener *listener);

/** Serves associations, one at a time, until cdcmtkn_listener_stop; returns OK then. Can run once per handle.
 *  A stop takes effect within about a second while idle, or when the current association ends. */
int32_t cdcmtkn_listener_run(cdcmtkn_listener *listener);

/** Asks a running (or not yet running) listener to stop. Safe from any thread and from the callback. */
void cdcmtkn_listener_stop(cdcmtkn_listener *listener);

/** Closes the port and frees the listener. Must not be called while cdcmtkn_listener_run is executing. */
void cdcmtkn_listener_free(cdcmtkn_listener *listener);

/* ---------------------------------------------------------------- sender (Storage SCU) */

enum cdcmtkn_send_outcome {
    /** Acknowledged with status Success (0x0000). */
    CDCMTKN_SEND_STORED = 0,
    /** Acknowledged with a warning status (0x0001, 0xB000-0xBFFF): stored, possibly changed. */
    CDCMTKN_SEND_WARNING = 1,
    /** The peer answered with a failure status (in `status`). */
    CDCMTKN_SEND_FAILED_STATUS = 2,
    /** The peer accepted no presentation context for the file's SOP class in its transfer syntax. */
    CDCMTKN_SEND_NO_PRESENTATION_CONTEXT = 3,
    /** The file could not be read as DICOM (reason says why); nothing was sent for it. */
    CDCMTKN_SEND_UNREADABLE = 4,
    /** Not sent because the association failed (connection refused, rejected, broken): see the return status. */
    CDCMTKN_SEND_NOT_SENT = 5
};

typedef struct cdcmtkn_send_result {
    int32_t outcome;
    uint16_t status;
    /** A sentence for failures (empty otherwise), NUL-terminated, truncated to fit. */
    char reason[512];
} cdcmtkn_send_result;

typedef struct cdcmtkn_send_request {
    const char *host;
    uint16_t port;
    const char *called_ae;
    const char *calling_ae;
    /** Seconds for the TCP connect, association negotiation and each response; at least 1. */
    int32_t timeout_seconds;
} cdcmtkn_send_request;

/** Sends `count` files on one or more associations, each in its own SOP class and transfer syntax (compressed
 *  files are never decompressed; uncompressed ones may be converted between the three uncompressed syntaxes).
 *  Fills `results[i]` for `paths[i]`. Returns OK when every file got an answer or a per-file failure, or
 *  CONNECTION_REFUSED / ASSOCIATION_REJECTED / NETWORK when an association failed (the files not sent then
 *  have outcome NOT_SENT and that reason). */
int32_t cdcmtkn_send(const cdcmtkn_send_request *request, const char *const *paths, int32_t count,
                     cdcmtkn_send_result *results);

#ifdef __cplusplus
}
#endif

#endif
