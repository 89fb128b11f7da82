/* staple_policy: which response may be stapled, and which may replace the
 * one in use (design section 4.3, 4.4, 4.6). Pure rules on a few numbers;
 * no httpd here. */
#ifndef STAPLE_POLICY_H
#define STAPLE_POLICY_H

#include <apr_pools.h>

/* The largest response every client takes. OpenSSL's TLS 1.2 client refuses
 * a CertificateStatus message over 16384 bytes (SSL3_RT_MAX_PLAIN_LENGTH),
 * and that message carries a status type (1 byte) and a length (3 bytes)
 * before the response. TLS 1.3 carries the response in a certificate
 * extension whose length field allows 65535 bytes, so the TLS 1.2 limit is
 * the one that binds. A response's certificate list is not signed: anyone
 * on the path to a plain-HTTP responder can pad a genuine answer past it. */
#define STAPLE_MAX_DER 16380

/* What the policy needs to know of a response. cert_status < 0: none. */
typedef struct {
    int cert_status;            /* V_OCSP_CERTSTATUS_GOOD / _REVOKED, or -1 */
    unsigned flags;             /* STAPLE_FLAG_* (staple_record.h) */
    long long this_update;
    long long next_update;
} staple_state;

/* The last second a response valid until next_update may be stapled:
 * nextUpdate itself, or later by OCSPStapleServeExpired's grace. */
long long staple_servable_until(long long next_update, long serve_expired);

/* Whether s holds a response that may be stapled at now. */
int staple_servable(const staple_state *s, long long now, long serve_expired);

/* Why cand (der_len bytes) must not replace cur, or NULL when it may:
 * too large for some clients; not servable now (the clock-skew allowance
 * is for accepting answers, not for displacing a servable staple);
 * good after a revocation was seen; older than a servable current one. */
const char *staple_policy_refuses(const staple_state *cur,
                                  const staple_state *cand,
                                  apr_size_t der_len, long long now,
                                  long serve_expired, apr_pool_t *p);

#endif
