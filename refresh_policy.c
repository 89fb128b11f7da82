#include "refresh_policy.h"

/* The longest safety margin before nextUpdate. */
#define REFRESH_MARGIN_MAX 3600

void refresh_policy_default(refresh_policy *pol)
{
    pol->pct = 50;
    pol->age = 0;
    pol->min_interval = 5;
    pol->max_interval = 4 * 86400;
    pol->jitter_pct = 10;
    pol->backoff_base = 5;
    pol->backoff_cap = 3600;
}

long long refresh_expiry_margin(long long this_update, long long next_update)
{
    long long margin = (next_update - this_update) / 10;
    if (margin < 0) {
        margin = 0;
    }
    return margin > REFRESH_MARGIN_MAX ? REFRESH_MARGIN_MAX : margin;
}

long long refresh_due(const refresh_policy *pol, long long this_update,
                      long long next_update, long long fetched_at,
                      double rnd)
{
    long long validity = next_update - this_update;
    long long start = this_update > fetched_at ? fetched_at : this_update;
    long long due, margin, latest, wait;

    if (validity < 0) {
        validity = 0;
    }
    due = pol->pct > 0 ? this_update + validity * pol->pct / 100
                       : this_update + pol->age;
    /* Jitter only ever moves the refresh earlier: the policy is a promise
     * about the latest point. */
    wait = due - start;
    if (wait > 0 && pol->jitter_pct > 0) {
        due -= (long long)((double)wait * (double)pol->jitter_pct / 100.0 * rnd);
    }
    margin = refresh_expiry_margin(this_update, next_update);
    latest = next_update - margin;
    if (due > latest) {
        due = latest;
    }
    if (due > fetched_at + pol->max_interval) {
        due = fetched_at + pol->max_interval;
    }
    if (due < fetched_at + pol->min_interval) {
        due = fetched_at + pol->min_interval;
    }
    return due;
}

long long refresh_retry(const refresh_policy *pol, long long now,
                        int failures, long long valid_until, double rnd)
{
    long long delay = pol->backoff_base > 0 ? pol->backoff_base : 1;
    int i;

    for (i = 1; i < failures && delay < pol->backoff_cap; ++i) {
        delay *= 2;
    }
    if (delay > pol->backoff_cap) {
        delay = pol->backoff_cap;
    }
    if (valid_until > now) {
        /* Keep trying while the response still holds. */
        long long third = (valid_until - now) / 3;
        if (delay > third) {
            delay = third > pol->backoff_base ? third : pol->backoff_base;
        }
    }
    /* Jitter between half and all of the delay: failing servers do not
     * retry in step. */
    delay = delay / 2 + (long long)((delay - delay / 2) * rnd);
    if (delay < 1) {
        delay = 1;
    }
    return now + delay;
}
