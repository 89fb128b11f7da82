/* ocsp_verify: decides whether a responder's answer may be stapled for a
 * certificate (design section 4.3). Everything a responder can get wrong maps
 * to one ocsp_verify_error with a sentence for the log. No httpd here. */
#ifndef OCSP_VERIFY_H
#define OCSP_VERIFY_H

#include "ocsp_cert.h"

typedef enum {
    OCSP_VERIFY_OK = 0,
    OCSP_VERIFY_TOO_LARGE,       /* over the configured size cap */
    OCSP_VERIFY_PARSE,           /* not DER of an OCSPResponse (or truncated) */
    OCSP_VERIFY_TRAILING,        /* bytes after the OCSPResponse */
    OCSP_VERIFY_RESPONDER_STATUS,/* tryLater, internalError, unauthorized, ... */
    OCSP_VERIFY_NOT_BASIC,       /* no basic response inside */
    OCSP_VERIFY_SIGNATURE,       /* bad signature, unknown or unauthorised signer */
    OCSP_VERIFY_NO_MATCH,        /* no SingleResponse for this certificate */
    OCSP_VERIFY_NOT_YET_VALID,   /* thisUpdate in the future (beyond skew) */
    OCSP_VERIFY_EXPIRED,         /* nextUpdate in the past (beyond skew+grace) */
    OCSP_VERIFY_TOO_OLD,         /* no nextUpdate and older than max_age */
    OCSP_VERIFY_UNKNOWN_STATUS,  /* the responder does not know the cert */
    OCSP_VERIFY_INTERNAL         /* out of memory or similar */
} ocsp_verify_error;

typedef struct {
    long long now;            /* seconds since the epoch */
    long skew;                /* tolerated clock difference, seconds (300) */
    long expired_grace;       /* accept up to this long past nextUpdate (0) */
    long no_next_update_max_age; /* lifetime given to answers without
                                    nextUpdate, from thisUpdate (3600) */
    apr_size_t max_size;      /* larger answers are rejected; 0 = no cap */
} ocsp_verify_params;

typedef struct {
    ocsp_verify_error error;
    const char *message;      /* why, for the log; "ok" on success */
    int responder_status;     /* OCSP_RESPONSE_STATUS_* as received, or -1 */
    int cert_status;          /* V_OCSP_CERTSTATUS_GOOD or _REVOKED on success */
    int revocation_reason;    /* OCSP_REVOKED_STATUS_* or -1 */
    long long revoked_at;     /* 0 unless revoked */
    long long this_update;
    long long next_update;    /* synthesised from max_age when absent */
    int has_next_update;
    long long produced_at;
    int expired;              /* accepted only because of expired_grace */
} ocsp_verify_result;

/* Sets params to the defaults named above, with now = time(NULL). */
void ocsp_verify_params_default(ocsp_verify_params *params);

/* Checks der/len against cert. Fills *res in every case; returns
 * res->error. */
ocsp_verify_error ocsp_verify_response(const ocsp_cert *cert,
                                       const unsigned char *der,
                                       apr_size_t len,
                                       const ocsp_verify_params *params,
                                       ocsp_verify_result *res,
                                       apr_pool_t *p);

/* Step 7 of ocsp_verify_response alone: whether the validity window of an
 * answer that passed every other check (res->this_update, next_update,
 * has_next_update as that function set them) holds at params->now. Sets
 * res->expired, and res->error and res->message when it does not; returns
 * res->error. For a verdict handed over from another process, whose clock
 * reading was a moment earlier. */
ocsp_verify_error ocsp_verify_window(ocsp_verify_result *res,
                                     const ocsp_verify_params *params,
                                     apr_pool_t *p);


#endif
