/* staple_record: the bytes kept for one certificate's current response, in
 * the socache and in the store file alike: a small fixed header with what
 * the handshake path needs (status, validity) and the DER as received.
 * No httpd here. */
#ifndef STAPLE_RECORD_H
#define STAPLE_RECORD_H

#include <apr_pools.h>

#define STAPLE_RECORD_MAX_ID 64
/* The most a record adds to its response: the fixed header, the longest
 * id and the response's length field. */
#define STAPLE_RECORD_MAX_OVERHEAD (33 + STAPLE_RECORD_MAX_ID + 4)

/* A revoked answer was seen for this certificate: good is never taken again. */
#define STAPLE_FLAG_REVOKED_SEEN 0x0001

typedef struct {
    int cert_status;             /* V_OCSP_CERTSTATUS_GOOD / _REVOKED */
    unsigned flags;              /* STAPLE_FLAG_* */
    long long this_update;       /* seconds since the epoch */
    long long next_update;
    long long fetched_at;
    const unsigned char *id;     /* the certificate id given by mod_ssl */
    apr_size_t id_len;           /* 1..STAPLE_RECORD_MAX_ID */
    const unsigned char *der;    /* OCSPResponse as received */
    apr_size_t der_len;
} staple_record;

/* Encodes r into pool memory. */
apr_status_t staple_record_encode(const staple_record *r, unsigned char **buf,
                                  apr_size_t *len, apr_pool_t *p);

/* Decodes buf; on success r's id and der point into buf. Returns NULL or
 * the reason the bytes are not a record ("bad magic", "truncated", ...). */
const char *staple_record_decode(staple_record *r, const unsigned char *buf,
                                 apr_size_t len);

#endif
