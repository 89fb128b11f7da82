/* The exchange: a shared cache (OCSPStapleCache memcache:... or redis:...)
 * through which the servers of a fleet pass verified responses to each
 * other. Used only by the workers (start-up helper, refresher), never by
 * the parent or a handshake. Every call is bounded in time; a cache that
 * fails or hangs is left alone for a growing while, with one log line when
 * it goes and one when it comes back. What it returns is unverified: the
 * caller verifies it like a responder's answer. */
#ifndef OCSPSTAPLE_EXCHANGE_H
#define OCSPSTAPLE_EXCHANGE_H

#include "mod_ocspstaple.h"

/* Parent, post_config: the socache provider's instance (creating it opens
 * no connection). g->exchange stays NULL for shmcb, the host-local
 * default. */
apr_status_t os_exchange_create(os_global *g, apr_pool_t *pconf,
                                apr_pool_t *ptemp, server_rec *s);

/* In the worker process that uses it, before the first call. */
apr_status_t os_exchange_attach(os_global *g, apr_pool_t *p);

/* No call of this process waits past deadline (the start-up helper's
 * OCSPStapleStartupTimeout), nor starts after it. */
void os_exchange_deadline(os_global *g, apr_time_t deadline);

/* The record the cache holds for cert: APR_SUCCESS, APR_NOTFOUND, or
 * another status when the cache failed, hung or is being left alone. */
apr_status_t os_exchange_get(os_global *g, const os_cert *cert,
                             staple_record *rec, apr_pool_t *p);

/* Offers rec to the other servers; failures are the exchange's to log. */
void os_exchange_put(os_global *g, const os_cert *cert,
                     const staple_record *rec, apr_pool_t *p);

#endif
