/* OCSPStapleNotify: the refresher runs the operator's program on each state
 * change of a certificate (notify_event.h), as the User, never on the
 * handshake path, without waiting for it: each tick collects what finished,
 * and a program that overruns OS_NOTIFY_TIMEOUT is killed. Its exit status
 * and output are logged. */
#ifndef OCSPSTAPLE_NOTIFY_H
#define OCSPSTAPLE_NOTIFY_H

#include "mod_ocspstaple.h"

typedef struct os_notifier os_notifier;

/* In the refresher's process, at its start. */
os_notifier *os_notify_create(os_global *g, apr_pool_t *p);

/* Each tick: tells what changed since the last, collects what finished. */
void os_notify_tick(os_notifier *n, long long now, apr_pool_t *ptemp);

/* When the refresher's process goes: programs still running are killed. */
void os_notify_stop(os_notifier *n);

#endif
