/* The shared side of serving: the socache that carries records from the
 * process that fetched them to every child, the shared per-certificate
 * slots, and the per-process copy that handshakes read. */
#include "mod_ocspstaple.h"

#include <stdlib.h>
#include <string.h>
#include <apr_atomic.h>
#include <apr_strings.h>
#include <ap_provider.h>
#include <util_mutex.h>

#define OS_CACHE_MUTEX "ocspstaple-cache"
/* Default shmcb size: room for 2000 typical responses (about 2 KiB with
 * the record header) twice over, since shmcb spreads entries over
 * sub-caches unevenly; grows with the number of certificates. */
#define OS_SHMCB_MIN_SIZE (8L * 1024 * 1024)
#define OS_SHMCB_PER_CERT (8L * 1024)

static apr_status_t os_cache_destroy(void *data)
{
    os_global *g = data;
    if (g->cache) {
        g->cache_provider->destroy(g->cache, g->s);
        g->cache = NULL;
    }
    return APR_SUCCESS;
}

apr_status_t os_cache_post_config(os_global *g, apr_pool_t *pconf,
                                  apr_pool_t *ptemp, server_rec *s)
{
    struct ap_socache_hints hints;
    const char *args = g->cache_args, *err;
    apr_size_t n = (apr_size_t)g->certs->nelts, i;
    apr_status_t rv;

    g->cache_provider = ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP,
                                           g->cache_provider_name,
                                           AP_SOCACHE_PROVIDER_VERSION);
    if (!g->cache_provider) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, OSLOG(0001)
                     "OCSPStapleCache: socache provider '%s' is not loaded; "
                     "add LoadModule socache_%s_module", g->cache_provider_name,
                     g->cache_provider_name);
        return APR_EGENERAL;
    }
    if (!args && !strcmp(g->cache_provider_name, "shmcb")) {
        long size = (long)n * OS_SHMCB_PER_CERT;
        if (size < OS_SHMCB_MIN_SIZE) {
            size = OS_SHMCB_MIN_SIZE;
        }
        args = apr_psprintf(ptemp, "%s(%ld)",
                            ap_runtime_dir_relative(ptemp, "ocspstaple-cache"),
                            size);
    }
    err = g->cache_provider->create(&g->cache, args, ptemp, pconf);
    if (err) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, OSLOG(0002)
                     "OCSPStapleCache %s%s%s: %s", g->cache_provider_name,
                     args ? ":" : "", args ? args : "", err);
        return APR_EGENERAL;
    }
    if (g->cache_provider->flags & AP_SOCACHE_FLAG_NOTMPSAFE) {
        rv = ap_global_mutex_create(&g->cache_mutex, NULL, OS_CACHE_MUTEX,
                                    NULL, s, pconf, 0);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, OSLOG(0003)
                         "cannot create the cache mutex");
            return rv;
        }
    }
    memset(&hints, 0, sizeof(hints));
    hints.avg_id_len = 20;
    hints.avg_obj_size = 2048;
    hints.expiry_interval = apr_time_from_sec(3600);
    rv = g->cache_provider->init(g->cache, "ocspstaple", &hints, s, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, OSLOG(0004)
                     "OCSPStapleCache %s: cannot initialise the cache",
                     g->cache_provider_name);
        return rv;
    }
    apr_pool_cleanup_register(pconf, g, os_cache_destroy,
                              apr_pool_cleanup_null);

    rv = apr_shm_create(&g->shm, sizeof(os_slot) * n, NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, OSLOG(0005)
                     "cannot create shared memory for %lu certificates",
                     (unsigned long)n);
        return rv;
    }
    g->slots = apr_shm_baseaddr_get(g->shm);
    memset(g->slots, 0, sizeof(os_slot) * n);
    for (i = 0; i < n; ++i) {
        g->slots[i].cert_status = -1;
        apr_cpystrn(g->slots[i].last_result, "not fetched yet",
                    sizeof(g->slots[i].last_result));
    }
    return APR_SUCCESS;
}

static apr_status_t os_locals_free(void *data)
{
    os_global *g = data;
    int i;
    for (i = 0; g->locals && i < g->certs->nelts; ++i) {
        free(g->locals[i].der);
        g->locals[i].der = NULL;
    }
    return APR_SUCCESS;
}

void os_cache_child_init(os_global *g, apr_pool_t *p, server_rec *s)
{
    apr_status_t rv;
    if (g->cache_mutex) {
        rv = apr_global_mutex_child_init(&g->cache_mutex,
                 apr_global_mutex_lockfile(g->cache_mutex), p);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, OSLOG(0006)
                         "cannot attach to the cache mutex in this child");
        }
    }
    rv = apr_thread_mutex_create(&g->locals_mutex, APR_THREAD_MUTEX_DEFAULT, p);
    if (rv != APR_SUCCESS) {
        /* os_get_resp declines without them: no staples from this child. */
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s, OSLOG(0007)
                     "cannot create this child's staple lock");
        return;
    }
    g->locals = apr_pcalloc(p, sizeof(os_local) * (apr_size_t)g->certs->nelts);
    apr_pool_cleanup_register(p, g, os_locals_free, apr_pool_cleanup_null);
}

/* ---- shared slots ------------------------------------------------------ */

void os_slot_begin(os_slot *slot)
{
    apr_atomic_inc32(&slot->seq);
}

void os_slot_end(os_slot *slot)
{
    apr_atomic_inc32(&slot->seq);
}

void os_slot_read(const os_slot *slot, os_slot *copy)
{
    os_slot *sl = (os_slot *)slot;
    int tries;
    for (tries = 0; tries < 1000; ++tries) {
        apr_uint32_t s1 = apr_atomic_read32(&sl->seq);
        if (s1 & 1) {
            continue;
        }
        memcpy(copy, (const void *)slot, sizeof(*copy));
        if (apr_atomic_read32(&sl->seq) == s1) {
            return;
        }
    }
    memcpy(copy, (const void *)slot, sizeof(*copy));
}

const char *os_err_class_name(os_err_class c)
{
    static const char *const names[OS_ERR_CLASSES] = {
        "network", "timeout", "http_status", "too_large", "verification",
        "responder_status", "policy", "other"
    };
    return c < OS_ERR_CLASSES ? names[c] : "other";
}

/* ---- socache ------------------------------------------------------------ */

apr_status_t os_cache_put(os_global *g, const os_cert *cert,
                          const staple_record *rec, apr_pool_t *p)
{
    unsigned char *buf;
    apr_size_t len;
    apr_status_t rv;
    apr_time_t expiry;
    os_slot *slot = &g->slots[cert->index];

    if ((rv = staple_record_encode(rec, &buf, &len, p)) != APR_SUCCESS) {
        return rv;
    }
    /* Kept as long as it may be served, a little longer for clock skew. */
    expiry = apr_time_from_sec(rec->next_update + g->serve_expired + 600);
    if (g->cache_mutex && (rv = apr_global_mutex_lock(g->cache_mutex))
        != APR_SUCCESS) {
        return rv;
    }
    rv = g->cache_provider->store(g->cache, g->s, cert->id,
                                  (unsigned int)cert->id_len, expiry, buf,
                                  (unsigned int)len, p);
    if (g->cache_mutex) {
        apr_global_mutex_unlock(g->cache_mutex);
    }
    if (rv == APR_SUCCESS) {
        apr_atomic_inc32(&slot->gen);
    }
    return rv;
}

/* Reads the record into malloc'd memory (caller frees *mem): the handshake
 * path must not grow a connection pool by the size of a response. The
 * buffer always fits the largest record: socache providers answer a short
 * buffer with an error (memcache even logs it), and another server sharing
 * the cache may have stored a larger record than ours. */
static apr_status_t os_cache_read(os_global *g, const os_cert *cert,
                                  staple_record *rec, unsigned char **mem)
{
    apr_pool_t *p = NULL;
    unsigned int len = (unsigned int)(g->max_response_size + 256);
    apr_status_t rv;

    if (!(*mem = malloc(len))) {
        return APR_ENOMEM;
    }
    if ((rv = apr_pool_create(&p, NULL)) != APR_SUCCESS) {
        goto done;
    }
    if (g->cache_mutex && (rv = apr_global_mutex_lock(g->cache_mutex))
        != APR_SUCCESS) {
        goto done;
    }
    rv = g->cache_provider->retrieve(g->cache, g->s, cert->id,
                                     (unsigned int)cert->id_len, *mem, &len, p);
    if (g->cache_mutex) {
        apr_global_mutex_unlock(g->cache_mutex);
    }
    if (rv == APR_SUCCESS && (staple_record_decode(rec, *mem, len)
                              || rec->id_len != cert->id_len
                              || memcmp(rec->id, cert->id, cert->id_len))) {
        rv = APR_EINVAL;
    }
done:
    if (p) {
        apr_pool_destroy(p);
    }
    if (rv != APR_SUCCESS) {
        free(*mem);
        *mem = NULL;
    }
    return rv;
}

apr_status_t os_cache_get(os_global *g, const os_cert *cert,
                          staple_record *rec, apr_pool_t *p)
{
    unsigned char *mem;
    apr_status_t rv = os_cache_read(g, cert, rec, &mem);
    if (rv == APR_SUCCESS) {
        /* Move into the caller's pool and re-point the record at it. */
        apr_size_t id_off = (apr_size_t)(rec->id - mem);
        apr_size_t der_off = (apr_size_t)(rec->der - mem);
        unsigned char *copy = apr_pmemdup(p, mem, der_off + rec->der_len);
        rec->id = copy + id_off;
        rec->der = copy + der_off;
        free(mem);
    }
    return rv;
}

/* Brings this process's copy up to the cache's generation gen. A failed
 * read keeps the copy we have (it may well still be valid) and waits a
 * second before the next try, so a cache outage costs no more than one
 * lookup per second per certificate. */
static void os_local_reload(os_global *g, const os_cert *cert, os_local *loc,
                            apr_uint32_t gen, long long now)
{
    staple_record rec;
    unsigned char *mem, *der = NULL, *old = NULL;
    apr_status_t rv = os_cache_read(g, cert, &rec, &mem);

    if (rv == APR_SUCCESS && (der = malloc(rec.der_len))) {
        memcpy(der, rec.der, rec.der_len);
    }
    apr_thread_mutex_lock(g->locals_mutex);
    loc->reloading = 0;
    if (der) {
        old = loc->der;
        loc->der = der;
        loc->der_len = rec.der_len;
        loc->next_update = rec.next_update;
        loc->gen = gen;
        loc->retry_at = 0;
    }
    else {
        loc->retry_at = now + 1;
    }
    apr_thread_mutex_unlock(g->locals_mutex);
    free(old);
    free(mem);
}

int os_cache_serve(os_global *g, const os_cert *cert, conn_rec *c,
                   ap_ssl_ocsp_copy_resp *cb, void *userdata)
{
    os_slot *slot = &g->slots[cert->index];
    os_local *loc = &g->locals[cert->index];
    apr_uint32_t gen = apr_atomic_read32(&slot->gen);
    long long now = (long long)apr_time_sec(apr_time_now());
    int served = 0;

    apr_thread_mutex_lock(g->locals_mutex);
    if (loc->gen != gen && now >= loc->retry_at
        && !(loc->reloading && loc->der)) {
        /* A newer record was announced: one thread reads it, with the
         * lock released so no handshake waits on the cache; the others
         * meanwhile staple the copy they have (still valid: a refresh
         * comes well before nextUpdate). Without a copy yet, each reads. */
        loc->reloading = 1;
        apr_thread_mutex_unlock(g->locals_mutex);
        os_local_reload(g, cert, loc, gen, now);
        apr_thread_mutex_lock(g->locals_mutex);
    }
    if (loc->der && now <= loc->next_update + g->serve_expired) {
        cb(loc->der, loc->der_len, userdata);
        served = 1;
    }
    apr_thread_mutex_unlock(g->locals_mutex);
    if (!served) {
        cb(NULL, 0, userdata);
        apr_atomic_inc32(&slot->unserved);
    }
    else {
        apr_atomic_inc32(&slot->served);
    }
    ap_log_cerror(APLOG_MARK, APLOG_TRACE2, 0, c, OSLOG(0010)
                  "%s: %s", cert->info->subject,
                  served ? "stapled" : "nothing to staple");
    return served;
}
