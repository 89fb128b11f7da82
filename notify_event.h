/* notify_event: which event a change of a certificate's state is worth
 * telling an operator about (OCSPStapleNotify). The states are status
 * table's; an event is derived from the state last told and the state now,
 * so each is told once per change, never per retry. No httpd here. */
#ifndef NOTIFY_EVENT_H
#define NOTIFY_EVENT_H

#include "status_table.h"

typedef enum {
    NOTIFY_NONE = 0,
    NOTIFY_REVOKED,             /* the responder says revoked */
    NOTIFY_EXPIRING,            /* less than the safety margin left */
    NOTIFY_EXPIRED,             /* the staple is gone */
    NOTIFY_FAILING,             /* the first failure of a run */
    NOTIFY_RECOVERED,           /* good again after any of the above */
    NOTIFY_MUST_STAPLE_MISSING  /* a Must-Staple certificate has nothing */
} notify_event;

/* No state told yet (a new certificate, a first start). */
#define NOTIFY_STATE_NONE (-1)

/* The event for a change from prev (a status_state or NOTIFY_STATE_NONE)
 * to cur; NOTIFY_NONE when there is nothing to tell. */
notify_event notify_event_of(int prev, status_state cur, int must_staple);

/* "revoked", "expiring", ... as passed to the command. */
const char *notify_event_name(notify_event e);

#endif
