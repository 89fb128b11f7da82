/* What a restart keeps of the shared slots: counters and an ongoing outage,
 * carried by the parent across graceful and hard restarts. */
#ifndef OCSPSTAPLE_CARRY_H
#define OCSPSTAPLE_CARRY_H

#include "mod_ocspstaple.h"

/* Parent, post_config: saves the slots when this generation's pconf goes. */
void os_carry_register(os_global *g, apr_pool_t *pconf, server_rec *s);

/* Parent, post_config after the start-up helper: takes back the previous
 * generation's counters and outage state. */
void os_carry_restore(os_global *g, server_rec *s);

#endif
