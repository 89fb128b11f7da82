/* notify_event: see notify_event.h. */
#include "notify_event.h"

/* States whose arrival was told (so leaving them for good is news). */
static int notify_told(int st, int must_staple)
{
    return st == STATUS_FAILING || st == STATUS_EXPIRING
           || st == STATUS_EXPIRED || (st == STATUS_MISSING && must_staple);
}

notify_event notify_event_of(int prev, status_state cur, int must_staple)
{
    if (prev == (int)cur || cur == STATUS_NO_RESPONDER) {
        return NOTIFY_NONE;
    }
    switch (cur) {
    case STATUS_REVOKED:
        return NOTIFY_REVOKED;
    case STATUS_EXPIRING:
        return NOTIFY_EXPIRING;
    case STATUS_EXPIRED:
        return NOTIFY_EXPIRED;
    case STATUS_MISSING:
        /* Not yet fetched is no news, but for a certificate that clients
         * refuse without a staple. */
        return must_staple && !notify_told(prev, must_staple)
               ? NOTIFY_MUST_STAPLE_MISSING : NOTIFY_NONE;
    case STATUS_FAILING:
        /* Only the first failure of a run: from good, or at first sight. */
        return prev == STATUS_GOOD || prev == NOTIFY_STATE_NONE
               ? NOTIFY_FAILING : NOTIFY_NONE;
    case STATUS_GOOD:
        return notify_told(prev, must_staple) ? NOTIFY_RECOVERED : NOTIFY_NONE;
    default:
        return NOTIFY_NONE;
    }
}

const char *notify_event_name(notify_event e)
{
    switch (e) {
    case NOTIFY_REVOKED:             return "revoked";
    case NOTIFY_EXPIRING:            return "expiring";
    case NOTIFY_EXPIRED:             return "expired";
    case NOTIFY_FAILING:             return "failing";
    case NOTIFY_RECOVERED:           return "recovered";
    case NOTIFY_MUST_STAPLE_MISSING: return "must-staple-missing";
    default:                         return "none";
    }
}
