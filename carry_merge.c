/* carry_merge: see carry_merge.h. */
#include "carry_merge.h"

#include <string.h>

void carry_merge(carry_state *cur, const carry_state *old)
{
    int k;

    cur->served += old->served;
    cur->unserved += old->unserved;
    cur->fetches += old->fetches;
    cur->fetch_errors += old->fetch_errors;
    for (k = 0; k < STATUS_ERR_CLASSES; ++k) {
        cur->errors[k] += old->errors[k];
    }
    /* What the operator was told stays told: a restart repeats nothing. */
    if (!cur->notified) {
        cur->notified = old->notified;
    }
    if (old->failures == 0 || cur->this_update != old->this_update
        || cur->cert_status != old->cert_status) {
        return;                         /* no outage, or it ended */
    }
    if (cur->failures > 0) {
        /* this start asked again and failed again */
        cur->failures += old->failures;
        if (old->next_refresh > cur->next_refresh) {
            cur->next_refresh = old->next_refresh;
        }
    }
    else {
        /* this start did not ask (the response came from the store) */
        cur->failures = old->failures;
        cur->last_fetch = old->last_fetch;
        cur->next_refresh = old->next_refresh;
        memcpy(cur->last_result, old->last_result, sizeof(cur->last_result));
    }
}
