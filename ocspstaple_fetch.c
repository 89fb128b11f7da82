/* Getting responses: at start from the store or the responders, bounded by
 * OCSPStapleStartupTimeout; afterwards in a mod_watchdog singleton child,
 * at the refresh policy's times, with backoff per certificate and per
 * responder. Every accepted response goes to the store, then the cache,
 * then the shared slot, in that order (design section 4.8). */
#include "mod_ocspstaple.h"

#include <string.h>
#include <time.h>
#include <apr_strings.h>
#include <apr_atomic.h>
#include <apr_optional.h>
#include <http_main.h>
#include <mod_watchdog.h>

#define OS_WATCHDOG_NAME "ocspstaple"
/* The watchdog ticks every second: refresh times have second resolution. */
#define OS_TICK apr_time_from_sec(1)
/* How often the refresher checks that the cache still holds every staple
 * (a shared cache may have been flushed or restarted). */
#define OS_CACHE_CHECK_SECONDS 10
/* How often files of certificates no longer configured are looked for
 * (at the refresher's start, then hourly). */
#define OS_SWEEP_SECONDS 3600

typedef struct {
    os_global *g;
    os_cert *cert;
    apr_pool_t *p;
    ocsp_verify_result res;
    int have_res;
    int rejected_by_verify;
} os_job_baton;

static double os_random(void)
{
    apr_uint32_t r;
    ap_random_insecure_bytes(&r, sizeof(r));
    return (double)r / 4294967296.0;
}

static long long os_now(void)
{
    return (long long)apr_time_sec(apr_time_now());
}

static const char *os_time_str(apr_pool_t *p, long long t)
{
    char buf[APR_RFC822_DATE_LEN];
    apr_rfc822_date(buf, apr_time_from_sec(t));
    return apr_pstrdup(p, buf);
}

static void os_verify_params(const os_global *g, long long now, long grace,
                             ocsp_verify_params *params)
{
    ocsp_verify_params_default(params);
    params->now = now;
    params->expired_grace = grace;
    params->max_size = g->max_response_size;
}

/* Design 4.4: revoked is never replaced by good, and a response is never
 * replaced by an older one while that one is still valid. NULL when ok. */
static const char *os_policy_refuses(os_global *g, const os_cert *cert,
                                     const ocsp_verify_result *res,
                                     apr_pool_t *p)
{
    os_slot cur;
    os_slot_read(&g->slots[cert->index], &cur);
    if ((cur.flags & STAPLE_FLAG_REVOKED_SEEN)
        && res->cert_status != V_OCSP_CERTSTATUS_REVOKED) {
        return "the responder says good, but it said revoked before; "
               "a revocation is never undone, keeping the revoked response";
    }
    if (cur.cert_status >= 0 && res->this_update < cur.this_update
        && cur.next_update + g->serve_expired >= os_now()) {
        return apr_psprintf(p, "the answer (thisUpdate %s) is older than the "
                            "response in use", os_time_str(p, res->this_update));
    }
    return NULL;
}

/* Puts a verified response into service. source names where it came from
 * for the log ("fetched", "store", "shared cache"). */
static apr_status_t os_install(os_global *g, os_cert *cert,
                               const unsigned char *der, apr_size_t len,
                               const ocsp_verify_result *res,
                               const char *source, int write_store,
                               long long fetched_at, apr_pool_t *p)
{
    os_slot *slot = &g->slots[cert->index];
    os_slot before;
    staple_record rec;
    apr_status_t rv;
    int revoked = res->cert_status == V_OCSP_CERTSTATUS_REVOKED;

    os_slot_read(slot, &before);
    memset(&rec, 0, sizeof(rec));
    rec.cert_status = res->cert_status;
    rec.flags = (before.flags & STAPLE_FLAG_REVOKED_SEEN)
                | (revoked ? STAPLE_FLAG_REVOKED_SEEN : 0);
    rec.this_update = res->this_update;
    rec.next_update = res->next_update;
    rec.fetched_at = fetched_at;
    rec.id = cert->id;
    rec.id_len = cert->id_len;
    rec.der = der;
    rec.der_len = len;

    if (write_store) {
        os_store_write(g, cert, &rec, p);
    }
    if ((rv = os_cache_put(g, cert, &rec, p)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, g->s, OSLOG(0030)
                     "%s: cannot put the response into the cache (%s); is "
                     "OCSPStapleCache large enough?", cert->info->subject,
                     g->cache_provider_name);
        return rv;
    }
    os_slot_begin(slot);
    slot->cert_status = res->cert_status;
    slot->flags = rec.flags;
    slot->this_update = res->this_update;
    slot->next_update = res->next_update;
    slot->revoked_at = res->revoked_at;
    if (write_store) {
        slot->last_success = fetched_at;
        slot->last_fetch = fetched_at;
    }
    else if (!slot->last_success) {
        slot->last_success = fetched_at;
    }
    slot->failures = 0;
    slot->next_refresh = refresh_due(&g->policy, res->this_update,
                                     res->next_update, fetched_at, os_random());
    apr_cpystrn(slot->last_result, "ok", sizeof(slot->last_result));
    os_slot_end(slot);

    if (revoked && before.cert_status != V_OCSP_CERTSTATUS_REVOKED) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, g->s, OSLOG(0031)
                     "%s (serial %s): the responder says the certificate is "
                     "REVOKED (since %s); stapling the revoked response (%s)",
                     cert->info->subject, cert->info->serial_hex,
                     os_time_str(p, res->revoked_at), source);
    }
    else if (before.failures > 0 || (before.cert_status >= 0
             && before.next_update + g->serve_expired < fetched_at)) {
        /* Worth a line at the default LogLevel: the failure was one. */
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, g->s, OSLOG(0033)
                     "%s (serial %s): recovered after %u failed attempt%s; "
                     "%s response from %s, valid until %s",
                     cert->info->subject, cert->info->serial_hex,
                     before.failures, before.failures == 1 ? "" : "s",
                     revoked ? "revoked" : "good", source,
                     os_time_str(p, res->next_update));
    }
    else if (before.cert_status < 0) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, g->s, OSLOG(0032)
                     "%s (serial %s): %s response from %s, valid until "
                     "%s, next refresh %s", cert->info->subject,
                     cert->info->serial_hex, revoked ? "revoked" : "good",
                     source, os_time_str(p, res->next_update),
                     os_time_str(p, slot->next_refresh));
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, g->s, OSLOG(0034)
                     "%s: refreshed from %s, thisUpdate %s, valid until %s, "
                     "next refresh %s", cert->info->subject, source,
                     os_time_str(p, res->this_update),
                     os_time_str(p, res->next_update),
                     os_time_str(p, slot->next_refresh));
    }
    return APR_SUCCESS;
}

static void os_fail(os_global *g, os_cert *cert, os_err_class cls,
                    const char *why, long long now, apr_pool_t *p)
{
    os_slot *slot = &g->slots[cert->index];
    long long valid_until;
    int has_valid;

    os_slot_begin(slot);
    slot->last_fetch = now;
    slot->failures++;
    slot->errors_by_class[cls]++;
    apr_cpystrn(slot->last_result, why, sizeof(slot->last_result));
    valid_until = slot->cert_status >= 0
                  ? slot->next_update + g->serve_expired : 0;
    has_valid = valid_until >= now;
    slot->next_refresh = refresh_retry(&g->policy, now, (int)slot->failures,
                                       valid_until, os_random());
    os_slot_end(slot);
    apr_atomic_inc32(&slot->fetch_errors);

    if (slot->failures == 1) {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, g->s, OSLOG(0040)
                     "%s (serial %s): fetching the OCSP response failed "
                     "(%s): %s; %s, retrying from %s", cert->info->subject,
                     cert->info->serial_hex, os_err_class_name(cls), why,
                     has_valid ? apr_psprintf(p, "keeping the response "
                                 "valid until %s",
                                 os_time_str(p, valid_until))
                               : "no valid response to staple",
                     os_time_str(p, slot->next_refresh));
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, g->s, OSLOG(0041)
                     "%s: attempt %u failed (%s): %s; next try %s",
                     cert->info->subject, slot->failures,
                     os_err_class_name(cls), why,
                     os_time_str(p, slot->next_refresh));
    }
}

/* Called by responder_http for each HTTP 200 body. */
static int os_check_body(responder_http_job *job, const unsigned char *body,
                         apr_size_t len, const char **why)
{
    os_job_baton *b = job->baton;
    ocsp_verify_params params;
    const char *refusal;

    os_verify_params(b->g, os_now(), 0, &params);
    b->have_res = 1;
    if (ocsp_verify_response(b->cert->info, body, len, &params, &b->res, b->p)
        != OCSP_VERIFY_OK) {
        b->rejected_by_verify = 1;
        *why = b->res.message;
        return 0;
    }
    if ((refusal = os_policy_refuses(b->g, b->cert, &b->res, b->p))) {
        b->rejected_by_verify = 2;
        *why = refusal;
        return 0;
    }
    b->rejected_by_verify = 0;
    return 1;
}

static os_err_class os_job_class(const responder_http_job *job,
                                 const os_job_baton *b)
{
    switch (job->error) {
    case RESPONDER_HTTP_NETWORK:   return OS_ERR_NETWORK;
    case RESPONDER_HTTP_TIMEOUT:   return OS_ERR_TIMEOUT;
    case RESPONDER_HTTP_STATUS:    return OS_ERR_HTTP_STATUS;
    case RESPONDER_HTTP_TOO_LARGE: return OS_ERR_TOO_LARGE;
    case RESPONDER_HTTP_REJECTED:
        if (b->rejected_by_verify == 2) {
            return OS_ERR_POLICY;
        }
        if (b->have_res && b->res.error == OCSP_VERIFY_TOO_LARGE) {
            return OS_ERR_TOO_LARGE;
        }
        return b->have_res && b->res.error == OCSP_VERIFY_RESPONDER_STATUS
               ? OS_ERR_RESPONDER_STATUS : OS_ERR_VERIFY;
    default:                       return OS_ERR_OTHER;
    }
}

/* Asks the responders for all of certs at once; installs what verifies.
 * Returns the number accepted. */
static int os_fetch_batch(os_global *g, os_cert **certs, int n,
                          long exchange_timeout_ms, long long deadline_ms,
                          volatile apr_uint32_t *cancel, apr_pool_t *p)
{
    responder_http_job *jobs = apr_pcalloc(p, sizeof(*jobs) * (apr_size_t)n);
    os_job_baton *batons = apr_pcalloc(p, sizeof(*batons) * (apr_size_t)n);
    responder_http_config cfg;
    int i, ok = 0;
    apr_status_t rv;

    for (i = 0; i < n; ++i) {
        batons[i].g = g;
        batons[i].cert = certs[i];
        batons[i].p = p;
        jobs[i].urls = (const char * const *)certs[i]->urls->elts;
        jobs[i].nurls = certs[i]->urls->nelts;
        jobs[i].request = certs[i]->request;
        jobs[i].request_len = certs[i]->request_len;
        jobs[i].check = os_check_body;
        jobs[i].baton = &batons[i];
    }
    memset(&cfg, 0, sizeof(cfg));
    cfg.exchange_timeout_ms = exchange_timeout_ms;
    cfg.deadline_ms = deadline_ms;
    cfg.proxy = g->proxy;
    cfg.max_size = g->max_response_size;
    cfg.max_parallel = 32;
    cfg.max_per_host = 8;
    cfg.user_agent = "mod_ocspstaple";
    cfg.cancel = cancel;
    rv = responder_http_run(jobs, n, &cfg, p);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, g->s, OSLOG(0050)
                     "cannot run the responder requests");
    }
    for (i = 0; i < n; ++i) {
        os_cert *cert = certs[i];
        long long now = os_now();
        os_slot *slot = &g->slots[cert->index];
        if (jobs[i].attempts > 0) {
            apr_atomic_add32(&slot->fetches, (apr_uint32_t)jobs[i].attempts);
        }
        if (rv == APR_SUCCESS && jobs[i].error == RESPONDER_HTTP_OK
            && jobs[i].body) {
            if (os_install(g, cert, jobs[i].body, jobs[i].body_len,
                           &batons[i].res, jobs[i].url, 1, now, p)
                == APR_SUCCESS) {
                ++ok;
            }
        }
        else {
            os_fail(g, cert, os_job_class(&jobs[i], &batons[i]),
                    jobs[i].message ? jobs[i].message : "no answer", now, p);
        }
    }
    return ok;
}

/* Loads a certificate's response from the store if it still verifies. */
static int os_load_from_store(os_global *g, os_cert *cert, long long now,
                              apr_pool_t *p)
{
    staple_record rec;
    ocsp_verify_params params;
    ocsp_verify_result res;
    const char *why;
    apr_status_t rv = os_store_read(g, cert, &rec, p, &why);

    if (rv != APR_SUCCESS) {
        if (why) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, g->s, OSLOG(0060)
                         "%s: store file ignored: %s", cert->info->subject,
                         why);
        }
        return 0;
    }
    os_verify_params(g, now, g->serve_expired, &params);
    if (ocsp_verify_response(cert->info, rec.der, rec.der_len, &params, &res, p)
        != OCSP_VERIFY_OK) {
        /* An expired file is the normal fate of a long stop, not worth a
         * warning; anything else is. */
        ap_log_error(APLOG_MARK, res.error == OCSP_VERIFY_EXPIRED
                     ? APLOG_INFO : APLOG_WARNING, 0, g->s, OSLOG(0061)
                     "%s: store file ignored: %s", cert->info->subject,
                     res.message);
        return 0;
    }
    if (rec.flags & STAPLE_FLAG_REVOKED_SEEN) {
        g->slots[cert->index].flags |= STAPLE_FLAG_REVOKED_SEEN;
    }
    return os_install(g, cert, rec.der, rec.der_len, &res, "store", 0,
                      rec.fetched_at, p) == APR_SUCCESS;
}

/* A fresher verified response in a shared cache (another server fetched
 * it) is adopted instead of asking the responder again. */
static int os_adopt_from_cache(os_global *g, os_cert *cert, long long now,
                               apr_pool_t *p)
{
    staple_record rec;
    ocsp_verify_params params;
    ocsp_verify_result res;
    os_slot cur;
    const char *why = NULL;
    apr_status_t rv;

    os_slot_read(&g->slots[cert->index], &cur);
    rv = os_cache_get(g, cert, &rec, p);
    if (rv != APR_SUCCESS || rec.this_update <= cur.this_update) {
        ap_log_error(APLOG_MARK, APLOG_TRACE1, rv, g->s, OSLOG(0051)
                     "%s: nothing newer in the cache", cert->info->subject);
        return 0;
    }
    os_verify_params(g, now, 0, &params);
    if (ocsp_verify_response(cert->info, rec.der, rec.der_len, &params, &res, p)
        != OCSP_VERIFY_OK || (why = os_policy_refuses(g, cert, &res, p))) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, g->s, OSLOG(0052)
                     "%s: response found in the cache not taken: %s",
                     cert->info->subject, why ? why : res.message);
        return 0;
    }
    return os_install(g, cert, rec.der, rec.der_len, &res, "shared cache", 1,
                      now, p) == APR_SUCCESS;
}

static void os_summary(os_global *g, server_rec *s, double took,
                       int fetched, int stored, int shared,
                       apr_pool_t *p)
{
    int i, good = 0, revoked = 0, missing = 0;
    long long now = os_now();
    for (i = 0; i < g->certs->nelts; ++i) {
        os_cert *cert = APR_ARRAY_IDX(g->certs, i, os_cert *);
        os_slot cur;
        if (cert->urls->nelts == 0) {
            continue;
        }
        os_slot_read(&g->slots[i], &cur);
        if (cur.cert_status >= 0 && cur.next_update + g->serve_expired >= now) {
            if (cur.cert_status == V_OCSP_CERTSTATUS_REVOKED) {
                ++revoked;
            }
            else {
                ++good;
            }
        }
        else {
            ++missing;
            if (cert->info->must_staple) {
                ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, OSLOG(0070)
                             "%s (serial %s) is Must-Staple but has no valid "
                             "OCSP response to staple: clients will refuse "
                             "it until the responder answers (%s)",
                             cert->info->subject, cert->info->serial_hex,
                             cur.last_result);
            }
        }
    }
    ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s, OSLOG(0071)
                 "%d certificate%s: %d good, %d revoked, %d missing, %d "
                 "without OCSP URL (%d from the store,%s %d fetched in %.2f s)",
                 g->certs->nelts, g->certs->nelts == 1 ? "" : "s", good,
                 revoked, missing, g->no_url_count, stored,
                 shared ? apr_psprintf(p, " %d from the "
                                       "shared cache,", shared) : "",
                 fetched, took);
}

apr_status_t os_prefetch(os_global *g, apr_pool_t *ptemp, server_rec *s)
{
    apr_time_t start = apr_time_now();
    long long now = os_now();
    os_cert **todo = apr_pcalloc(ptemp, sizeof(os_cert *)
                                        * (apr_size_t)g->certs->nelts);
    int i, n = 0, stored = 0, shared = 0, fetched = 0;

    g->no_url_count = 0;
    for (i = 0; i < g->certs->nelts; ++i) {
        os_cert *cert = APR_ARRAY_IDX(g->certs, i, os_cert *);
        os_slot *slot = &g->slots[i];
        if (cert->urls->nelts == 0) {
            ++g->no_url_count;
            apr_cpystrn(slot->last_result, "no OCSP responder URL in the "
                        "certificate", sizeof(slot->last_result));
            continue;
        }
        if (os_load_from_store(g, cert, now, ptemp)) {
            /* Even when due, the refresh is the watchdog's: a (re)start
             * with a valid stored response asks no responder. */
            ++stored;
            continue;
        }
        if (os_adopt_from_cache(g, cert, now, ptemp)) {
            /* A server joining others on a shared cache. */
            ++shared;
            continue;
        }
        todo[n++] = cert;
    }
    if (n > 0 && g->startup_timeout > 0) {
        long long deadline = (long long)(apr_time_as_msec(start))
                             + g->startup_timeout * 1000;
        long timeout = (g->responder_timeout < g->startup_timeout
                        ? g->responder_timeout : g->startup_timeout) * 1000;
        fetched = os_fetch_batch(g, todo, n, timeout, deadline, NULL, ptemp);
    }
    os_summary(g, s, (double)(apr_time_now() - start) / APR_USEC_PER_SEC,
               fetched, stored, shared, ptemp);
    return APR_SUCCESS;
}

/* ---- background refresh --------------------------------------------- */

typedef struct {
    int failures;
    long long retry_at;
    int probing;                  /* a probe was chosen this tick */
} os_responder_state;

struct os_refresher {
    os_global *g;
    apr_pool_t *pool;             /* the watchdog child's, for state */
    apr_hash_t *responders;       /* first URL -> os_responder_state */
    long long last_cache_check;
    long long last_sweep;
    volatile apr_uint32_t stop;   /* the child is exiting */
    volatile apr_uint32_t busy;   /* a tick is running */
};
typedef struct os_refresher os_refresher;

static os_responder_state *os_responder(os_refresher *r, const os_cert *cert)
{
    const char *url = APR_ARRAY_IDX(cert->urls, 0, const char *);
    os_responder_state *st = apr_hash_get(r->responders, url,
                                          APR_HASH_KEY_STRING);
    if (!st) {
        st = apr_pcalloc(r->pool, sizeof(*st));
        apr_hash_set(r->responders, apr_pstrdup(r->pool, url),
                     APR_HASH_KEY_STRING, st);
    }
    return st;
}

/* Puts back staples a cache lost (flushed memcached, restarted redis,
 * eviction), from the store, so handshakes never miss a valid response. */
static void os_check_cache(os_global *g, long long now, apr_pool_t *p)
{
    int i;
    for (i = 0; i < g->certs->nelts; ++i) {
        os_cert *cert = APR_ARRAY_IDX(g->certs, i, os_cert *);
        staple_record rec;
        os_slot cur;
        os_slot_read(&g->slots[i], &cur);
        if (cur.cert_status < 0 || cur.next_update + g->serve_expired < now) {
            continue;
        }
        if (os_cache_get(g, cert, &rec, p) == APR_SUCCESS) {
            continue;
        }
        if (os_load_from_store(g, cert, now, p)) {
            ap_log_error(APLOG_MARK, APLOG_INFO, 0, g->s, OSLOG(0080)
                         "%s: the cache had lost the response; restored it "
                         "from the store", cert->info->subject);
        }
        else {
            g->slots[i].next_refresh = now;
        }
    }
}

/* Logs, once, that a staple was lost at expiry. */
static void os_check_expiry(os_global *g, long long now, apr_pool_t *p)
{
    int i;
    for (i = 0; i < g->certs->nelts; ++i) {
        os_cert *cert = APR_ARRAY_IDX(g->certs, i, os_cert *);
        os_slot *slot = &g->slots[i];
        if (slot->cert_status >= 0 && !(slot->flags & OS_SLOT_EXPIRY_LOGGED)
            && slot->next_update + g->serve_expired < now) {
            os_slot_begin(slot);
            slot->flags |= OS_SLOT_EXPIRY_LOGGED;
            os_slot_end(slot);
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, g->s, OSLOG(0081)
                         "%s (serial %s): the OCSP response expired at %s "
                         "and no new one could be fetched (%s); handshakes "
                         "get no staple until the responder answers",
                         cert->info->subject, cert->info->serial_hex,
                         os_time_str(p, slot->next_update + g->serve_expired),
                         slot->last_result);
        }
    }
}

static void os_refresh_tick(os_refresher *r, apr_pool_t *p)
{
    os_global *g = r->g;
    long long now = os_now();
    os_cert **due = apr_pcalloc(p, sizeof(os_cert *)
                                   * (apr_size_t)g->certs->nelts);
    int i, n = 0, max_urls = 1;

    for (i = 0; i < g->certs->nelts; ++i) {
        os_cert *cert = APR_ARRAY_IDX(g->certs, i, os_cert *);
        os_slot *slot = &g->slots[i];
        int asked = apr_atomic_xchg32(&slot->refresh_requested, 0) != 0;
        os_responder_state *rs;
        if (cert->urls->nelts == 0) {
            continue;
        }
        if (!asked && slot->next_refresh > now) {
            continue;
        }
        rs = os_responder(r, cert);
        if (!asked && rs->failures > 0) {
            /* This responder is failing: one probe certificate at the
             * responder's own backoff pace, not one request per
             * certificate; the others follow once it answers. */
            if (rs->retry_at > now || rs->probing) {
                continue;
            }
            rs->probing = 1;
        }
        if (!asked && os_adopt_from_cache(g, cert, now, p)) {
            continue;
        }
        if (cert->urls->nelts > max_urls) {
            max_urls = cert->urls->nelts;
        }
        due[n++] = cert;
    }
    if (n > 0) {
        long long deadline = (now + g->responder_timeout * max_urls + 1) * 1000;
        apr_hash_index_t *hi;
        os_fetch_batch(g, due, n, g->responder_timeout * 1000, deadline,
                       &r->stop, p);
        /* Per responder: all its certificates failed this round means the
         * responder is down; back off for all of them together. */
        for (hi = apr_hash_first(p, r->responders); hi; hi = apr_hash_next(hi)) {
            os_responder_state *rs = apr_hash_this_val(hi);
            const char *url = apr_hash_this_key(hi);
            int tried = 0, failed = 0;
            for (i = 0; i < n; ++i) {
                if (!strcmp(APR_ARRAY_IDX(due[i]->urls, 0, const char *), url)) {
                    ++tried;
                    failed += g->slots[due[i]->index].failures > 0;
                }
            }
            rs->probing = 0;
            if (!tried) {
                continue;
            }
            if (failed == tried) {
                rs->failures++;
                rs->retry_at = refresh_retry(&g->policy, now, rs->failures, 0,
                                             os_random());
            }
            else if (rs->failures > 0) {
                /* It answers again: certificates waiting out their own
                 * backoff for it need not wait any longer. */
                int j;
                rs->failures = 0;
                rs->retry_at = 0;
                for (j = 0; j < g->certs->nelts; ++j) {
                    os_cert *c = APR_ARRAY_IDX(g->certs, j, os_cert *);
                    if (c->urls->nelts > 0 && g->slots[j].failures > 0
                        && !strcmp(APR_ARRAY_IDX(c->urls, 0, const char *),
                                   url)) {
                        g->slots[j].next_refresh = now;
                    }
                }
            }
        }
    }
    if (now - r->last_cache_check >= OS_CACHE_CHECK_SECONDS) {
        r->last_cache_check = now;
        os_check_cache(g, now, p);
    }
    if (now - r->last_sweep >= OS_SWEEP_SECONDS) {
        r->last_sweep = now;
        os_store_sweep(g, p, now);
    }
    os_check_expiry(g, now, p);
}

static apr_status_t os_watchdog(int state, void *data, apr_pool_t *p)
{
    os_refresher *r = (os_refresher *)data;
    switch (state) {
    case AP_WATCHDOG_STATE_STARTING:
        r->responders = apr_hash_make(r->pool);
        r->last_cache_check = os_now();
        r->last_sweep = 0;
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, r->g->s, OSLOG(0090)
                     "background refresh started in process %ld for %d "
                     "certificate%s", (long)getpid(), r->g->certs->nelts,
                     r->g->certs->nelts == 1 ? "" : "s");
        break;
    case AP_WATCHDOG_STATE_RUNNING:
        apr_atomic_set32(&r->busy, 1);
        if (!apr_atomic_read32(&r->stop)) {
            os_refresh_tick(r, p);
        }
        apr_atomic_set32(&r->busy, 0);
        break;
    case AP_WATCHDOG_STATE_STOPPING:
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, r->g->s, OSLOG(0091)
                     "background refresh stopping in process %ld",
                     (long)getpid());
        break;
    }
    return APR_SUCCESS;
}

apr_status_t os_refresh_start(os_global *g, apr_pool_t *pconf, server_rec *s)
{
    APR_OPTIONAL_FN_TYPE(ap_watchdog_get_instance) *wd_get;
    APR_OPTIONAL_FN_TYPE(ap_watchdog_register_callback) *wd_register;
    ap_watchdog_t *wd;
    os_refresher *r;
    apr_status_t rv;

    wd_get = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_get_instance);
    wd_register = APR_RETRIEVE_OPTIONAL_FN(ap_watchdog_register_callback);
    if (!wd_get || !wd_register) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, OSLOG(0092)
                     "mod_watchdog is not loaded: responses will not be "
                     "refreshed and expire (load mod_watchdog)");
        return APR_SUCCESS;
    }
    r = apr_pcalloc(pconf, sizeof(*r));
    r->g = g;
    r->pool = pconf;
    g->refresher = r;
    if ((rv = wd_get(&wd, OS_WATCHDOG_NAME, 0, 1, pconf)) != APR_SUCCESS
        || (rv = wd_register(wd, OS_TICK, r, os_watchdog)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, OSLOG(0093)
                     "cannot start the background refresh");
        return rv;
    }
    return APR_SUCCESS;
}

/* mod_watchdog joins its thread only when pconf goes, at exit(), after
 * OpenSSL's own atexit cleanup: a refresh still running then would use a
 * torn-down OpenSSL. So when the child pool goes (before exit), cancel the
 * transfers and wait for the tick to end. */
static apr_status_t os_refresh_child_exit(void *data)
{
    os_refresher *r = data;
    int waited;
    apr_atomic_set32(&r->stop, 1);
    for (waited = 0; apr_atomic_read32(&r->busy) && waited < 300; ++waited) {
        apr_sleep(apr_time_from_msec(10));
    }
    return APR_SUCCESS;
}

void os_refresh_child_init(os_global *g, apr_pool_t *pchild)
{
    if (g->refresher) {
        apr_pool_cleanup_register(pchild, g->refresher, os_refresh_child_exit,
                                  apr_pool_cleanup_null);
    }
}
