/* The background refresher: a mod_watchdog singleton child (running as the
 * User) that ticks every second, refreshes each certificate at the policy's
 * time with backoff per certificate and per responder, sweeps the store,
 * and logs a staple's loss at expiry once. */
#ifndef OCSPSTAPLE_REFRESH_H
#define OCSPSTAPLE_REFRESH_H

#include "mod_ocspstaple.h"

/* Parent, post_config: registers the watchdog callback. */
apr_status_t os_refresh_start(os_global *g, apr_pool_t *pconf, server_rec *s);

/* Each child: lets the refresher's child stop cleanly. */
void os_refresh_child_init(os_global *g, apr_pool_t *pchild);

#endif
