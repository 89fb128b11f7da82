/* The background refresher (ocspstaple_refresh.h). */
#include "ocspstaple_refresh.h"
#include "ocspstaple_staple.h"
#include "ocspstaple_store.h"
#include "ocspstaple_fetch.h"
#include "ocspstaple_exchange.h"
#include "ocspstaple_notify.h"

#include <string.h>
#include <unistd.h>
#include <apr_strings.h>
#include <apr_atomic.h>
#include <apr_optional.h>
#include <mod_watchdog.h>
#include <openssl/crypto.h>

#define OS_WATCHDOG_NAME "ocspstaple"
/* The watchdog ticks every second: refresh times have second resolution. */
#define OS_TICK apr_time_from_sec(1)
/* How often files of certificates no longer configured are looked for
 * (at the refresher's start, then hourly). */
#define OS_SWEEP_SECONDS 3600

typedef struct {
    int failures;
    long long retry_at;
    int probing;                  /* a probe was chosen this tick */
} os_responder_state;

struct os_refresher {
    os_global *g;
    apr_pool_t *pool;             /* the watchdog thread's, for state */
    apr_hash_t *responders;       /* first URL -> os_responder_state */
    unsigned char *store_tried;   /* per certificate: looked at once (the
                                     store, files) */
    long long last_sweep;
    os_notifier *notifier;        /* OCSPStapleNotify's runs */
    volatile apr_uint32_t stop;   /* the child is exiting */
    volatile apr_uint32_t busy;   /* a tick is running */
    volatile apr_uint32_t thread; /* 1: started in this process, 2: done */
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

/* Logs, once, that a staple was lost at expiry. */
static void os_check_expiry(os_global *g, long long now, apr_pool_t *p)
{
    int i;
    for (i = 0; i < g->certs->nelts; ++i) {
        os_cert *cert = APR_ARRAY_IDX(g->certs, i, os_cert *);
        os_slot *slot = &g->slots[i];
        if (slot->cert_status >= 0 && !(slot->flags & OS_SLOT_EXPIRY_LOGGED)
            && staple_servable_until(slot->next_update, g->serve_expired)
               < now) {
            os_slot_begin(slot);
            slot->flags |= OS_SLOT_EXPIRY_LOGGED;
            os_slot_end(slot);
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, g->s, OSLOG(0081)
                         "%s (serial %s): the OCSP response expired at %s "
                         "and no new one could be fetched (%s); handshakes "
                         "get no staple until the responder answers",
                         cert->info->subject, cert->info->serial_hex,
                         os_time_str(p, staple_servable_until(
                                        slot->next_update, g->serve_expired)),
                         slot->last_result);
        }
    }
}

/* Whether cert needs a responder this tick. On the way, a certificate
 * without a servable response tries the store once (the start-up helper
 * may have been stopped before it got there), a failing responder gets one
 * probe at its own pace, and a fresher response in the shared cache is
 * adopted. */
static int os_refresh_wanted(os_refresher *r, os_cert *cert, long long now,
                             apr_pool_t *p)
{
    os_global *g = r->g;
    os_slot *slot = os_staple_slot(g, cert);
    int asked, first = !r->store_tried[cert->index];
    os_responder_state *rs;

    r->store_tried[cert->index] = 1;

    if (cert->files->nelts > 0) {
        /* The operator's files: re-read when they change. At the first
         * look without a servable response (the start-up helper did not
         * get to it), read them whatever. */
        os_slot cur;
        staple_state st;
        os_slot_read(slot, &cur);
        st = os_slot_state(&cur);
        os_load_from_files(g, cert, now,
                           first && !staple_servable(&st, now,
                                                     g->serve_expired), p);
    }
    asked = apr_atomic_xchg32(&slot->refresh_requested, 0) != 0;

    if (!cert->fetch || (!asked && slot->next_refresh > now)) {
        return 0;
    }
    if (first) {
        os_slot cur;
        staple_state st;
        os_slot_read(slot, &cur);
        st = os_slot_state(&cur);
        if (!staple_servable(&st, now, g->serve_expired)
            && os_load_from_store(g, cert, now, 1, p)) {
            return 0;
        }
    }
    if (asked) {
        return 1;
    }
    rs = os_responder(r, cert);
    if (rs->failures > 0) {
        /* This responder is failing: one probe certificate at the
         * responder's own backoff pace, not one request per certificate;
         * the others follow once it answers. */
        if (rs->retry_at > now || rs->probing) {
            return 0;
        }
        rs->probing = 1;
    }
    return !os_adopt_from_exchange(g, cert, now, p);
}

/* After a batch: a responder all of whose certificates failed is down and
 * backs off as a whole; one that answers again releases the certificates
 * waiting out their own backoff for it. */
static void os_refresh_responders(os_refresher *r, os_cert **due, int n,
                                  long long now, apr_pool_t *p)
{
    os_global *g = r->g;
    apr_hash_index_t *hi;
    int i;

    for (hi = apr_hash_first(p, r->responders); hi; hi = apr_hash_next(hi)) {
        os_responder_state *rs = apr_hash_this_val(hi);
        const char *url = apr_hash_this_key(hi);
        int tried = 0, failed = 0;
        for (i = 0; i < n; ++i) {
            if (!strcmp(APR_ARRAY_IDX(due[i]->urls, 0, const char *), url)) {
                ++tried;
                failed += os_staple_slot(g, due[i])->failures > 0;
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
            continue;
        }
        if (rs->failures == 0) {
            continue;
        }
        rs->failures = 0;
        rs->retry_at = 0;
        for (i = 0; i < g->certs->nelts; ++i) {
            os_cert *c = APR_ARRAY_IDX(g->certs, i, os_cert *);
            os_slot *slot = os_staple_slot(g, c);
            if (c->fetch && slot->failures > 0
                && !strcmp(APR_ARRAY_IDX(c->urls, 0, const char *), url)) {
                os_slot_begin(slot);
                slot->next_refresh = now;
                os_slot_end(slot);
            }
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
        if (os_refresh_wanted(r, cert, now, p)) {
            if (cert->urls->nelts > max_urls) {
                max_urls = cert->urls->nelts;
            }
            due[n++] = cert;
        }
    }
    if (n > 0) {
        /* Each URL may take the whole exchange timeout. */
        long long deadline = (now + g->responder_timeout * max_urls + 1) * 1000;
        os_fetch_batch(g, due, n, g->responder_timeout * 1000, deadline,
                       &r->stop, p);
        os_refresh_responders(r, due, n, now, p);
    }
    if (now - r->last_sweep >= OS_SWEEP_SECONDS) {
        r->last_sweep = now;
        os_store_sweep(g, p, now);
    }
    os_check_expiry(g, now, p);
    os_notify_tick(r->notifier, now, p);
    apr_atomic_inc32(&g->stats->refresher_ticks);
}

static apr_status_t os_watchdog(int state, void *data, apr_pool_t *p)
{
    os_refresher *r = (os_refresher *)data;
    switch (state) {
    case AP_WATCHDOG_STATE_STARTING:
        /* Its own pool, not pconf: pools are not thread-safe, and this
         * thread runs beside the child's others (an allocation from pconf
         * here corrupted it under the event MPM's own start). Unmanaged,
         * never destroyed: it goes with the process, so nothing at exit
         * races with a tick (as the exchange's thread, same reason). */
        if (apr_pool_create_unmanaged_ex(&r->pool, NULL, NULL)
            != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, APR_ENOMEM, r->g->s,
                         OSLOG(0094) "cannot start the background refresh "
                         "in process %ld (out of memory)", (long)getpid());
            apr_atomic_set32(&r->stop, 1);
            break;
        }
        r->responders = apr_hash_make(r->pool);
        r->store_tried = apr_pcalloc(r->pool, (apr_size_t)r->g->certs->nelts);
        os_exchange_attach(r->g, r->pool);
        r->notifier = os_notify_create(r->g, r->pool);
        r->last_sweep = 0;
        apr_atomic_set32(&r->thread, 1);
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
        /* Last call on this thread (see os_refresh_child_exit). */
        OPENSSL_thread_stop();
        apr_atomic_set32(&r->thread, 2);
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
    g->refresher = r;
    if ((rv = wd_get(&wd, OS_WATCHDOG_NAME, 0, 1, pconf)) != APR_SUCCESS
        || (rv = wd_register(wd, OS_TICK, r, os_watchdog)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, OSLOG(0093)
                     "cannot start the background refresh");
        return rv;
    }
    return APR_SUCCESS;
}

/* A child never destroys pconf, so mod_watchdog never joins its thread:
 * the thread ends on its own once it sees the MPM stopping (it looks every
 * AP_WD_TM_SLICE, 100 ms), after clearing its tick pool (whose cleanups
 * free OpenSSL objects) and calling STOPPING. Meanwhile the main thread
 * goes on to exit(), where OpenSSL's atexit handler frees OpenSSL's global
 * state. A thread that used OpenSSL and ends during that handler frees its
 * thread-local OpenSSL state at the same time: a double free (a child
 * aborted with "double free or corruption (fasttop)" at a graceful stop).
 * So when the child pool goes, before exit(): cancel the transfers, wait
 * for the tick to end (at most 3 s), then for the thread to pass STOPPING,
 * where it releases its OpenSSL thread state itself (1 s more at most). */
/* Waits while *v is still value, for ms at most; 1 when it changed. */
static int os_wait_change(volatile apr_uint32_t *v, apr_uint32_t value, int ms)
{
    int waited;
    for (waited = 0; apr_atomic_read32(v) == value && waited < ms;
         waited += 10) {
        apr_sleep(apr_time_from_msec(10));
    }
    return apr_atomic_read32(v) != value;
}

static apr_status_t os_refresh_child_exit(void *data)
{
    os_refresher *r = data;
    apr_atomic_set32(&r->stop, 1);
    if (os_wait_change(&r->busy, 1, 3000)) {
        os_notify_stop(r->notifier);
        os_wait_change(&r->thread, 1, 1000);
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
