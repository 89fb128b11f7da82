/* The staple unit (ocspstaple_staple.h): shared slots with each
 * certificate's response bytes, the per-process copy, the handshake path. */
#include "ocspstaple_staple.h"

#include <stdlib.h>
#include <string.h>
#include <apr_atomic.h>
#include <apr_strings.h>

/* A reader gives up on a slot that stays odd this long (its writer was
 * killed mid-write) and keeps the copy it has. */
#define OS_SEQ_TRIES 1000

/* Per-process copy of the current staple of one certificate: a handshake
 * reads local memory; the shared bytes are copied only after a change. */
typedef struct os_local {
    apr_uint32_t gen;
    unsigned char *der;                 /* malloc'd */
    apr_size_t der_len;
    long long next_update;
} os_local;

os_slot *os_staple_slot(os_global *g, const os_cert *cert)
{
    return &g->slots[cert->index];
}

static unsigned char *os_slot_der(os_global *g, int index)
{
    return g->ders + (apr_size_t)index * g->der_max;
}

apr_status_t os_staple_post_config(os_global *g, apr_pool_t *pconf,
                                   server_rec *s)
{
    apr_size_t n = (apr_size_t)g->certs->nelts, i;
    apr_size_t stats_len = APR_ALIGN(sizeof(os_host_stats), OS_CACHE_LINE);
    apr_size_t head = stats_len + APR_ALIGN(sizeof(os_slot) * n, OS_CACHE_LINE);
    apr_status_t rv;
    char *base;

    g->der_max = g->max_response_size;
    /* Anonymous shared memory, zero-filled: a response area costs memory
     * only once a response is written into it. */
    rv = apr_shm_create(&g->shm, head + g->der_max * n, NULL, pconf);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, OSLOG(0005)
                     "cannot create shared memory for %lu certificates",
                     (unsigned long)n);
        return rv;
    }
    base = apr_shm_baseaddr_get(g->shm);
    g->stats = (os_host_stats *)base;
    g->slots = (os_slot *)(base + stats_len);
    g->ders = (unsigned char *)base + head;
    g->no_url_count = 0;
    for (i = 0; i < n; ++i) {
        const os_cert *cert = APR_ARRAY_IDX(g->certs, i, const os_cert *);
        g->slots[i].cert_status = -1;
        if (!os_cert_has_source(cert)) {
            ++g->no_url_count;
        }
        apr_cpystrn(g->slots[i].last_result, os_cert_has_source(cert)
                    ? "not fetched yet"
                    : "no OCSP responder URL in the certificate",
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

void os_staple_child_init(os_global *g, apr_pool_t *p, server_rec *s)
{
    apr_status_t rv;
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

/* ---- slots: one writer at a time, readers retry ------------------------ */

void os_slot_begin(os_slot *slot)
{
    apr_uint32_t s = apr_atomic_read32(&slot->seq);
    /* Odd here means the previous writer died mid-write: stay odd. */
    apr_atomic_set32(&slot->seq, (s | 1) + 2);
}

void os_slot_end(os_slot *slot)
{
    apr_atomic_inc32(&slot->seq);
}

void os_slot_read(const os_slot *slot, os_slot *copy)
{
    os_slot *sl = (os_slot *)slot;
    int tries;
    for (tries = 0; tries < OS_SEQ_TRIES; ++tries) {
        apr_uint32_t s1 = apr_atomic_read32(&sl->seq);
        if (s1 & 1) {
            continue;
        }
        memcpy(copy, (const void *)slot, sizeof(*copy));
        if (apr_atomic_read32(&sl->seq) == s1) {
            break;
        }
    }
    if (tries == OS_SEQ_TRIES) {
        memcpy(copy, (const void *)slot, sizeof(*copy));
    }
    /* The slot is writable by every child: never trust its string. */
    copy->last_result[sizeof(copy->last_result) - 1] = '\0';
}

staple_state os_slot_state(const os_slot *slot)
{
    staple_state st;
    st.cert_status = slot->cert_status;
    st.flags = slot->flags;
    st.this_update = slot->this_update;
    st.next_update = slot->next_update;
    return st;
}

/* ---- install ------------------------------------------------------------ */

apr_status_t os_staple_install(os_global *g, const os_cert *cert,
                               const staple_record *rec, long long now,
                               os_slot *before, const char **why,
                               apr_pool_t *p)
{
    os_slot *slot = os_staple_slot(g, cert);
    staple_state cur, cand;

    os_slot_read(slot, before);
    cur = os_slot_state(before);
    cand.cert_status = rec->cert_status;
    cand.flags = rec->flags;
    cand.this_update = rec->this_update;
    cand.next_update = rec->next_update;
    *why = staple_policy_refuses(&cur, &cand, rec->der_len, now,
                                 g->serve_expired, p);
    if (!*why && rec->der_len > g->der_max) {
        *why = apr_psprintf(p, "the response has %lu bytes, more than "
                            "OCSPStapleMaxResponseSize (%lu)",
                            (unsigned long)rec->der_len,
                            (unsigned long)g->der_max);
    }
    if (*why) {
        return APR_EINVAL;
    }
    os_slot_begin(slot);
    memcpy(os_slot_der(g, cert->index), rec->der, rec->der_len);
    slot->der_len = rec->der_len;
    slot->cert_status = rec->cert_status;
    slot->flags = (before->flags & STAPLE_FLAG_REVOKED_SEEN)
                  | (rec->flags & STAPLE_FLAG_REVOKED_SEEN);
    slot->this_update = rec->this_update;
    slot->next_update = rec->next_update;
    apr_atomic_inc32(&slot->gen);
    os_slot_end(slot);
    return APR_SUCCESS;
}

apr_status_t os_staple_current(os_global *g, const os_cert *cert,
                               staple_record *rec, apr_pool_t *p)
{
    os_slot *slot = os_staple_slot(g, cert);
    const unsigned char *src = os_slot_der(g, cert->index);
    unsigned char *der = apr_palloc(p, g->der_max);
    int tries;

    for (tries = 0; tries < OS_SEQ_TRIES; ++tries) {
        apr_uint32_t s1 = apr_atomic_read32(&slot->seq);
        if (s1 & 1) {
            continue;
        }
        memset(rec, 0, sizeof(*rec));
        rec->cert_status = slot->cert_status;
        rec->flags = slot->flags & STAPLE_FLAG_REVOKED_SEEN;
        rec->this_update = slot->this_update;
        rec->next_update = slot->next_update;
        rec->fetched_at = slot->last_success;
        rec->der_len = slot->der_len;
        if (rec->cert_status < 0 || rec->der_len == 0
            || rec->der_len > g->der_max) {
            return APR_ENOENT;
        }
        memcpy(der, src, rec->der_len);
        if (apr_atomic_read32(&slot->seq) == s1) {
            rec->der = der;
            rec->id = cert->id;
            rec->id_len = cert->id_len;
            return APR_SUCCESS;
        }
    }
    return APR_EAGAIN;
}

void os_staple_repair(os_global *g, server_rec *s)
{
    int i;
    for (i = 0; i < g->certs->nelts; ++i) {
        os_slot *slot = &g->slots[i];
        if (!(apr_atomic_read32(&slot->seq) & 1)) {
            continue;
        }
        /* Numbers only: the parent never reads the response bytes. */
        slot->cert_status = -1;
        slot->der_len = 0;
        slot->flags &= ~(unsigned)OS_SLOT_EXPIRY_LOGGED;
        slot->last_result[0] = '\0';
        apr_atomic_inc32(&slot->gen);
        apr_atomic_inc32(&slot->seq);
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, OSLOG(0008)
                     "%s: the start-up helper was stopped while installing "
                     "its response; it is fetched again in the background",
                     APR_ARRAY_IDX(g->certs, i, os_cert *)->info->subject);
    }
}

/* ---- the handshake path -------------------------------------------------- */

/* Copies the slot's response into this process's copy (lock held). A
 * slot that stays torn (its writer died mid-write) leaves the copy as it
 * was; the next handshake tries again. */
static void os_local_reload(os_global *g, const os_cert *cert, os_local *loc)
{
    os_slot *slot = &g->slots[cert->index];
    const unsigned char *src = os_slot_der(g, cert->index);
    unsigned char *der = NULL;
    apr_size_t cap = 0;
    int tries;

    for (tries = 0; tries < OS_SEQ_TRIES; ++tries) {
        apr_uint32_t s1 = apr_atomic_read32(&slot->seq), gen;
        apr_size_t len;
        long long next_update;
        if (s1 & 1) {
            continue;
        }
        gen = apr_atomic_read32(&slot->gen);
        len = slot->cert_status >= 0 ? slot->der_len : 0;
        next_update = slot->next_update;
        if (len > g->der_max) {
            len = 0;
        }
        if (len > cap) {
            unsigned char *bigger = realloc(der, len);
            if (!bigger) {
                break;
            }
            der = bigger;
            cap = len;
        }
        if (len) {
            memcpy(der, src, len);
        }
        if (apr_atomic_read32(&slot->seq) == s1) {
            free(loc->der);
            loc->der = der;
            loc->der_len = len;
            loc->next_update = next_update;
            loc->gen = gen;
            return;
        }
    }
    free(der);
}

int os_staple_serve(os_global *g, const os_cert *cert, conn_rec *c,
                    ap_ssl_ocsp_copy_resp *cb, void *userdata)
{
    os_slot *slot = &g->slots[cert->index];
    os_local *loc = &g->locals[cert->index];
    long long now = (long long)apr_time_sec(apr_time_now());
    int served = 0;

    apr_thread_mutex_lock(g->locals_mutex);
    if (loc->gen != apr_atomic_read32(&slot->gen)) {
        os_local_reload(g, cert, loc);
    }
    if (loc->der_len
        && now <= staple_servable_until(loc->next_update, g->serve_expired)) {
        cb(loc->der, loc->der_len, userdata);
        served = 1;
    }
    apr_thread_mutex_unlock(g->locals_mutex);
    if (!served) {
        cb(NULL, 0, userdata);
        if (os_cert_has_source(cert)) {
            /* Without a responder there was nothing to staple: not a miss. */
            apr_atomic_inc32(&slot->hs.unserved);
        }
    }
    else {
        apr_atomic_inc32(&slot->hs.served);
    }
    ap_log_cerror(APLOG_MARK, APLOG_TRACE2, 0, c, OSLOG(0010)
                  "%s: %s", cert->info->subject,
                  served ? "stapled" : "nothing to staple");
    return served;
}
