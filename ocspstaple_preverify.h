/* Early verification of the store (issue 14). Verifying 10,000 stored
 * responses is most of a warm start (an ECDSA P-256 signature check alone
 * is about 80 us), and the parent spends far longer before that in
 * mod_ssl, loading every certificate and key, on one core. So at the
 * first certificate mod_ssl primes, the parent forks a verifier that drops
 * to the User as the start-up helper does, and hands it each certificate
 * as it is primed; the verifier reads and verifies that certificate's
 * store file meanwhile, on the other core. At post_config the start-up
 * helper takes the verdicts (the record and what ocsp_verify_response found
 * in it) from the verifier, re-checks only the validity window against
 * its own clock (ocsp_verify_window) and installs; it does everything
 * itself for a certificate without a verdict.
 *
 * Trust: the verifier is a User process like the helper; the parent only
 * writes to it (never blocking: what does not fit is kept in the parent,
 * up to a cap, then left to the helper) and never reads what it says: the
 * verdicts go from one User process to the other over a socket the parent
 * holds but does not read. */
#ifndef OCSPSTAPLE_PREVERIFY_H
#define OCSPSTAPLE_PREVERIFY_H

#include "mod_ocspstaple.h"
#include "ocsp_verify.h"
#include "staple_record.h"

/* Verdicts older than this are not used (the helper verifies again): far
 * inside the clock skew every time comparison tolerates (300 s), so the
 * responder certificate's validity, checked at the verifier's time, still
 * holds within that tolerance. */
#define OS_PREVERIFY_MAX_AGE 60

/* Parent, prime hook (configuration pass only): hands cert and its PEM
 * (as mod_ssl gave it) to the verifier, starting it at the first call. */
void os_preverify_feed(os_global *g, server_rec *s, const os_cert *cert,
                       const char *pem);

/* Parent, post_config, before forking the start-up helper: no more
 * certificates; the verifier finishes what it has. */
void os_preverify_input_done(os_global *g);

/* Parent, post_config, after forking the helper: closes the parent's end
 * of the verdicts. */
void os_preverify_release(os_global *g);

/* Parent, while waiting for the helper: reaps the verifier if it is done
 * (it ends once the helper has its verdicts). */
void os_preverify_reap(os_global *g);

/* Parent, once the helper is done: stops and reaps the verifier (also a
 * cleanup of the configuration pool, for a start that fails earlier). */
void os_preverify_stop(os_global *g);

/* Start-up helper, which started at start: takes the verdicts, waiting
 * for them a bounded time. Returns how many arrived. */
int os_preverify_collect(os_global *g, apr_time_t start, apr_pool_t *p);

/* Start-up helper: cert's verdict, or NULL: the store record as the
 * verifier decoded it (os_store_read: its file, its certificate) and what
 * ocsp_verify_response found in it. */
typedef struct os_preverified {
    long long verified_at;          /* the verifier's clock, seconds */
    ocsp_verify_result res;         /* message not carried */
    staple_record rec;              /* id and der point into the helper */
} os_preverified;

const os_preverified *os_preverify_get(const os_global *g,
                                       const os_cert *cert);

#endif
