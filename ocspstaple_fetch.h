/* Getting responses, for the two workers (the start-up helper and the
 * background refresher), both running as the User: from the store, from
 * the shared cache, from the responders. Everything that arrives is
 * verified, handed to the staple unit, then written to the store and
 * offered to the shared cache: one way, never back (design section 2). */
#ifndef OCSPSTAPLE_FETCH_H
#define OCSPSTAPLE_FETCH_H

#include "mod_ocspstaple.h"
#include "ocsp_verify.h"

long long os_now(void);
double os_random(void);
const char *os_time_str(apr_pool_t *p, long long t);

/* What every answer is verified with: the defaults, now, the size cap and
 * the grace past nextUpdate (OCSPStapleServeExpired where it applies). */
void os_verify_params(const os_global *g, long long now, long grace,
                      ocsp_verify_params *params);

/* Runs fn(data, from, to, pool) over [0, n) split across up to one thread
 * per CPU (at most 8; one below 64 items), each range with a pool of its
 * own (pools are not thread-safe), a child of p that lives as long as p.
 * Returns when every range is done. The parent uses it only where no
 * other thread exists and none is left behind (post_config, before any
 * fork). */
typedef void (*os_range_fn)(void *data, int from, int to, apr_pool_t *p);
void os_parallel(int n, os_range_fn fn, void *data, apr_pool_t *p);

/* Loads cert's response from the store if it verifies and may be served.
 * quiet: a file that is missing or bad is not logged (already was). */
int os_load_from_store(os_global *g, os_cert *cert, long long now, int quiet,
                       apr_pool_t *p);

/* Reads cert's OCSPStapleFiles that changed since this process last
 * looked (all of them with force); installs what verifies (the fresher response wins), logs once
 * what does not. Returns how many were taken. */
int os_load_from_files(os_global *g, os_cert *cert, long long now,
                       int force, apr_pool_t *p);

/* Adopts a fresher verified response that another server put into the
 * shared cache. */
int os_adopt_from_exchange(os_global *g, os_cert *cert, long long now,
                           apr_pool_t *p);

/* Asks the responders for all of certs at once, until deadline_ms (epoch
 * milliseconds) or *cancel; installs what verifies. Returns how many. */
int os_fetch_batch(os_global *g, os_cert **certs, int n,
                   long exchange_timeout_ms, long long deadline_ms,
                   volatile apr_uint32_t *cancel, apr_pool_t *p);

/* The start-up work, in the helper: store, shared cache, then responders
 * in parallel for what is still missing, bounded by the start-up timeout;
 * then one summary line. */
void os_fetch_startup(os_global *g, server_rec *s, apr_pool_t *p);

#endif
