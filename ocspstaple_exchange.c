/* The exchange (ocspstaple_exchange.h). socache providers have no time
 * bound of their own that holds against a hung server (mod_socache_memcache
 * waits for as long as memcached keeps the connection open), so each call
 * runs on a worker thread of this process and the caller waits at most
 * OS_EXCHANGE_TIMEOUT. A call that overruns is abandoned to the thread;
 * until that call returns, the cache counts as hung and is not asked. */
#include "ocspstaple_exchange.h"
#include "ocspstaple_staple.h"

#include <stdlib.h>
#include <string.h>
#include <apr_atomic.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <apr_thread_cond.h>
#include <ap_provider.h>

/* The longest a worker waits for the cache in one call. */
#define OS_EXCHANGE_TIMEOUT apr_time_from_sec(2)
/* After a failure the cache is left alone this long, doubling up to
 * OS_EXCHANGE_RETRY_MAX, then asked again. */
#define OS_EXCHANGE_RETRY_FIRST 10
#define OS_EXCHANGE_RETRY_MAX 120
/* Entries outlive the response's servable time by this much, so a server
 * whose clock is a little behind still finds them. */
#define OS_EXCHANGE_EXPIRY_SLACK 600

typedef enum { OS_X_GET, OS_X_PUT } os_xop;

/* One call, shared by the caller and the thread: whoever finishes with it
 * last frees it (the caller, unless it gave up waiting). */
typedef struct {
    os_xop op;
    unsigned char *key;
    unsigned int key_len;
    unsigned char *data;               /* PUT: the record; GET: the buffer */
    unsigned int len;                  /* GET: in capacity, out length */
    apr_time_t expiry;
    apr_status_t rv;
    int done, abandoned;
} os_xcall;

/* This process's side: the thread and what it is doing. */
typedef struct {
    apr_pool_t *pool;                  /* never destroyed, see attach */
    apr_thread_mutex_t *mutex;
    apr_thread_cond_t *cond;
    os_xcall *pending;                 /* waiting for the thread */
    int busy;                          /* the thread is in the provider */
    int down;                          /* last call failed: left alone */
    int failures;
    long long retry_at;
    apr_time_t deadline;               /* no call past it; 0: none */
} os_xproc;

typedef struct os_exchange {
    const ap_socache_provider_t *provider;
    ap_socache_instance_t *instance;
    const char *name;                  /* "memcache:host:port", for logs */
    server_rec *quiet;                 /* for the provider: see create */
    apr_size_t max_record;
    os_xproc *proc;                    /* in a worker process, once attached */
} os_exchange;

static void os_xcall_free(os_xcall *c)
{
    free(c->key);
    free(c->data);
    free(c);
}

/* pconf cleanup, in the parent (children never run pconf's cleanups). */
static apr_status_t os_exchange_destroy(void *data)
{
    os_exchange *x = data;
    x->provider->destroy(x->instance, x->quiet);
    return APR_SUCCESS;
}

apr_status_t os_exchange_create(os_global *g, apr_pool_t *pconf,
                                apr_pool_t *ptemp, server_rec *s)
{
    struct ap_socache_hints hints;
    os_exchange *x;
    const char *err;
    apr_status_t rv;

    if (!strcmp(g->cache_provider_name, "shmcb")) {
        return APR_SUCCESS;
    }
    x = apr_pcalloc(pconf, sizeof(*x));
    x->provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP,
                                     g->cache_provider_name,
                                     AP_SOCACHE_PROVIDER_VERSION);
    x->name = apr_pstrcat(pconf, g->cache_provider_name,
                          g->cache_args ? ":" : "",
                          g->cache_args ? g->cache_args : "", NULL);
    x->max_record = g->max_response_size + STAPLE_RECORD_MAX_OVERHEAD;
    if (!x->provider) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, OSLOG(0001)
                     "OCSPStapleCache %s: socache provider '%s' is not "
                     "loaded", x->name, g->cache_provider_name);
        return APR_EGENERAL;
    }
    if ((err = x->provider->create(&x->instance, g->cache_args, ptemp,
                                   pconf))) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, OSLOG(0002)
                     "OCSPStapleCache %s: %s", x->name, err);
        return APR_EGENERAL;
    }
    memset(&hints, 0, sizeof(hints));
    hints.avg_id_len = 20;
    hints.avg_obj_size = 2048;
    hints.expiry_interval = apr_time_from_sec(3600);
    if ((rv = x->provider->init(x->instance, "ocspstaple", &hints, s, pconf))
        != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, OSLOG(0004)
                     "OCSPStapleCache %s: cannot initialise the cache",
                     x->name);
        return rv;
    }
    /* The providers log every failed call at error level; an outage would
     * write a line per certificate. They get a copy of the server whose
     * level lets only crit through, and the exchange logs each change of
     * state once (OCSPS0140, OCSPS0141). */
    x->quiet = apr_pmemdup(pconf, s, sizeof(*s));
    x->quiet->log.level = APLOG_CRIT;
    x->quiet->log.module_levels = NULL;
    apr_pool_cleanup_register(pconf, x, os_exchange_destroy,
                              apr_pool_cleanup_null);
    g->exchange = x;
    return APR_SUCCESS;
}

static void *APR_THREAD_FUNC os_exchange_thread(apr_thread_t *t, void *data)
{
    os_exchange *x = data;
    os_xproc *xp = x->proc;
    apr_pool_t *p;

    if (apr_pool_create_unmanaged_ex(&p, NULL, NULL) != APR_SUCCESS) {
        return NULL;
    }
    apr_thread_mutex_lock(xp->mutex);
    for (;;) {
        os_xcall *c;
        while (!xp->pending) {
            apr_thread_cond_wait(xp->cond, xp->mutex);
        }
        c = xp->pending;
        xp->pending = NULL;
        xp->busy = 1;
        apr_thread_mutex_unlock(xp->mutex);

        if (c->op == OS_X_GET) {
            c->rv = x->provider->retrieve(x->instance, x->quiet, c->key,
                                          c->key_len, c->data, &c->len, p);
        }
        else {
            c->rv = x->provider->store(x->instance, x->quiet, c->key,
                                       c->key_len, c->expiry, c->data,
                                       c->len, p);
        }
        apr_pool_clear(p);

        apr_thread_mutex_lock(xp->mutex);
        xp->busy = 0;
        c->done = 1;
        if (c->abandoned) {
            os_xcall_free(c);
        }
        apr_thread_cond_broadcast(xp->cond);
    }
    return NULL;
}

apr_status_t os_exchange_attach(os_global *g, apr_pool_t *unused)
{
    os_exchange *x = g->exchange;
    os_xproc *xp;
    apr_threadattr_t *attr;
    apr_thread_t *t;
    apr_pool_t *p;
    apr_status_t rv;

    if (!x || x->proc) {
        return APR_SUCCESS;
    }
    /* The thread may be stuck in a hung cache when this process exits, so
     * nothing it uses may be torn down before: its own pool, never
     * destroyed, gone with the process. */
    if ((rv = apr_pool_create_unmanaged_ex(&p, NULL, NULL)) != APR_SUCCESS) {
        return rv;
    }
    xp = apr_pcalloc(p, sizeof(*xp));
    xp->pool = p;
    if ((rv = apr_thread_mutex_create(&xp->mutex, APR_THREAD_MUTEX_DEFAULT, p))
        != APR_SUCCESS
        || (rv = apr_thread_cond_create(&xp->cond, p)) != APR_SUCCESS
        || (rv = apr_threadattr_create(&attr, p)) != APR_SUCCESS
        || (rv = apr_threadattr_detach_set(attr, 1)) != APR_SUCCESS) {
        return rv;
    }
    x->proc = xp;
    if ((rv = apr_thread_create(&t, attr, os_exchange_thread, x, p))
        != APR_SUCCESS) {
        x->proc = NULL;
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, g->s, OSLOG(0142)
                     "OCSPStapleCache %s: cannot start its thread; this "
                     "server fetches on its own", x->name);
    }
    return rv;
}

static long long os_exchange_now(void)
{
    return (long long)apr_time_sec(apr_time_now());
}

/* Runs c on the thread, waiting at most OS_EXCHANGE_TIMEOUT. On APR_EAGAIN
 * c is freed, on APR_TIMEUP the thread owns it; otherwise the caller does. */
static apr_status_t os_exchange_call(os_exchange *x, os_xcall *c,
                                     const char **why)
{
    os_xproc *xp = x->proc;
    apr_time_t deadline = apr_time_now() + OS_EXCHANGE_TIMEOUT;
    apr_status_t rv;

    if (xp->deadline && xp->deadline < deadline) {
        deadline = xp->deadline;
    }

    apr_thread_mutex_lock(xp->mutex);
    if (xp->busy || xp->pending) {
        apr_thread_mutex_unlock(xp->mutex);
        os_xcall_free(c);
        *why = "an earlier call has not returned";
        return APR_EAGAIN;
    }
    xp->pending = c;
    apr_thread_cond_broadcast(xp->cond);
    while (!c->done) {
        apr_time_t left = deadline - apr_time_now();
        if (left <= 0) {
            break;
        }
        apr_thread_cond_timedwait(xp->cond, xp->mutex, left);
    }
    if (c->done) {
        rv = c->rv;
        *why = NULL;
    }
    else {
        /* The thread frees it when (if) the provider returns. */
        c->abandoned = 1;
        c = NULL;
        rv = APR_TIMEUP;
        *why = apr_psprintf(xp->pool, "no answer within %d s",
                            (int)apr_time_sec(OS_EXCHANGE_TIMEOUT));
    }
    apr_thread_mutex_unlock(xp->mutex);
    return rv;
}

/* Whether the cache may be asked now. */
static int os_exchange_usable(os_exchange *x)
{
    return x && x->proc
           && (!x->proc->deadline || apr_time_now() < x->proc->deadline)
           && (!x->proc->down || os_exchange_now() >= x->proc->retry_at);
}

void os_exchange_deadline(os_global *g, apr_time_t deadline)
{
    if (g->exchange && g->exchange->proc) {
        g->exchange->proc->deadline = deadline;
    }
}

/* One line when the cache starts failing, one when it answers again
 * (a successful read or write), for the host. */
static void os_exchange_health(os_global *g, os_exchange *x, apr_status_t rv,
                               const char *why, const char *what)
{
    os_xproc *xp = x->proc;

    if (rv == APR_NOTFOUND) {
        /* Says nothing: mod_socache_memcache answers a read with "not
         * found" when no server is alive at all. */
        return;
    }
    if (rv != APR_SUCCESS) {
        long wait = OS_EXCHANGE_RETRY_FIRST;
        int k;
        for (k = 1; k < xp->failures + 1 && wait < OS_EXCHANGE_RETRY_MAX; ++k) {
            wait *= 2;
        }
        if (wait > OS_EXCHANGE_RETRY_MAX) {
            wait = OS_EXCHANGE_RETRY_MAX;
        }
        xp->failures++;
        xp->retry_at = os_exchange_now() + wait;
        apr_atomic_inc32(&g->stats->exchange_errors);
        xp->down = 1;
        /* The host's state, shared by the helper and the refresher: one
         * line when it changes, whichever process sees it. */
        if (apr_atomic_xchg32(&g->stats->exchange_down, 1) == 0) {
            char buf[120];
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, g->s, OSLOG(0140)
                         "shared cache %s: %s failed (%s); this server "
                         "serves and refreshes its responses on its own "
                         "until the cache answers again", x->name, what,
                         why ? why : apr_strerror(rv, buf, sizeof(buf)));
        }
    }
    else {
        xp->down = 0;
        xp->failures = 0;
        if (apr_atomic_xchg32(&g->stats->exchange_down, 0) == 0) {
            return;
        }
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, g->s, OSLOG(0141)
                     "shared cache %s answers again", x->name);
    }
}

static os_xcall *os_xcall_make(os_xop op, const os_cert *cert,
                               apr_size_t data_len)
{
    os_xcall *c = calloc(1, sizeof(*c));
    if (!c) {
        return NULL;
    }
    c->op = op;
    c->key = malloc(cert->id_len);
    c->data = malloc(data_len);
    if (!c->key || !c->data) {
        os_xcall_free(c);
        return NULL;
    }
    memcpy(c->key, cert->id, cert->id_len);
    c->key_len = (unsigned int)cert->id_len;
    c->len = (unsigned int)data_len;
    return c;
}

apr_status_t os_exchange_get(os_global *g, const os_cert *cert,
                             staple_record *rec, apr_pool_t *p)
{
    os_exchange *x = g->exchange;
    os_xcall *c;
    const char *why;
    unsigned char *copy;
    apr_status_t rv;

    if (!os_exchange_usable(x)) {
        return APR_EAGAIN;
    }
    if (!(c = os_xcall_make(OS_X_GET, cert, x->max_record))) {
        return APR_ENOMEM;
    }
    rv = os_exchange_call(x, c, &why);
    os_exchange_health(g, x, rv, why, "reading");
    if (rv == APR_TIMEUP || rv == APR_EAGAIN) {
        return rv;                       /* c belongs to the thread now */
    }
    if (rv == APR_SUCCESS) {
        copy = apr_pmemdup(p, c->data, c->len);
        if (staple_record_decode(rec, copy, c->len)
            || rec->id_len != cert->id_len
            || memcmp(rec->id, cert->id, cert->id_len)) {
            rv = APR_EINVAL;
        }
    }
    os_xcall_free(c);
    return rv;
}

void os_exchange_put(os_global *g, const os_cert *cert,
                     const staple_record *rec, apr_pool_t *p)
{
    os_exchange *x = g->exchange;
    unsigned char *buf;
    apr_size_t len;
    os_xcall *c;
    const char *why;
    apr_status_t rv;

    if (!os_exchange_usable(x)
        || staple_record_encode(rec, &buf, &len, p) != APR_SUCCESS
        || !(c = os_xcall_make(OS_X_PUT, cert, len))) {
        return;
    }
    memcpy(c->data, buf, len);
    c->expiry = apr_time_from_sec(staple_servable_until(rec->next_update,
                                                        g->serve_expired)
                                  + OS_EXCHANGE_EXPIRY_SLACK);
    rv = os_exchange_call(x, c, &why);
    if (rv != APR_TIMEUP && rv != APR_EAGAIN) {
        os_xcall_free(c);
    }
    os_exchange_health(g, x, rv, why, "publishing");
}
