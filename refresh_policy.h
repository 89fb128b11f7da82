/* refresh_policy: when to ask the responder next (design section 4.5).
 * Pure arithmetic on seconds; the caller supplies the randomness so that
 * tests are exact. No httpd here. */
#ifndef REFRESH_POLICY_H
#define REFRESH_POLICY_H

typedef struct {
    int pct;             /* refresh after this share of the validity, or 0 */
    long age;            /* ... or once the response is this old (seconds) */
    long min_interval;   /* never sooner than this after the last fetch */
    long max_interval;   /* never later than this after the last fetch */
    long jitter_pct;     /* spread: up to this share of the wait, earlier */
    long backoff_base;   /* first retry delay after a failure */
    long backoff_cap;    /* longest retry delay */
} refresh_policy;

/* Defaults: 50%, min 5 s, max 4 days (CAs must update OCSP answers at
 * least that often, so a revocation shows within one interval), jitter 10%,
 * backoff 5 s .. 1 h. */
void refresh_policy_default(refresh_policy *pol);

/* When to refresh a response valid this_update..next_update that was
 * fetched at fetched_at. rnd in [0, 1) spreads refreshes of many
 * certificates (and servers). Never after next_update minus a margin of a
 * tenth of the validity (at most an hour), so a failing responder still
 * leaves time to retry while the response is valid. */
long long refresh_due(const refresh_policy *pol, long long this_update,
                      long long next_update, long long fetched_at,
                      double rnd);

/* The safety margin before nextUpdate: a tenth of the validity, at most an
 * hour. A refresh that works never lets less than this remain, so status
 * calls a response "expiring" inside it. */
long long refresh_expiry_margin(long long this_update, long long next_update);

/* When to retry after the given number of consecutive failures (>= 1):
 * exponential from backoff_base, capped, with jitter (rnd in [0, 1)), and,
 * while a valid response exists (valid_until > now), at least twice more
 * before it expires. */
long long refresh_retry(const refresh_policy *pol, long long now,
                        int failures, long long valid_until, double rnd);

#endif
