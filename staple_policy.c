/* staple_policy: see staple_policy.h. */
#include "staple_policy.h"
#include "staple_record.h"

#include <apr_strings.h>
#include <openssl/ocsp.h>

long long staple_servable_until(long long next_update, long serve_expired)
{
    return next_update + serve_expired;
}

int staple_servable(const staple_state *s, long long now, long serve_expired)
{
    return s->cert_status >= 0
           && now <= staple_servable_until(s->next_update, serve_expired);
}

const char *staple_policy_refuses(const staple_state *cur,
                                  const staple_state *cand,
                                  apr_size_t der_len, long long now,
                                  long serve_expired, apr_pool_t *p)
{
    if (der_len > STAPLE_MAX_DER) {
        return apr_psprintf(p, "the response has %lu bytes; TLS 1.2 clients "
                            "take at most %d", (unsigned long)der_len,
                            STAPLE_MAX_DER);
    }
    if (!staple_servable(cand, now, serve_expired)) {
        return "the response is past its nextUpdate and cannot be stapled";
    }
    if ((cur->flags & STAPLE_FLAG_REVOKED_SEEN)
        && cand->cert_status != V_OCSP_CERTSTATUS_REVOKED) {
        return "the responder says good, but it said revoked before; "
               "a revocation is never undone, keeping the revoked response";
    }
    if (staple_servable(cur, now, serve_expired)
        && cand->this_update < cur->this_update) {
        return "the answer is older than the response in use";
    }
    return NULL;
}
