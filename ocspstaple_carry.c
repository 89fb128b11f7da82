/* What a restart keeps of the shared slots. The slots live in pconf and go
 * with it at every graceful or hard restart; the responses survive in the
 * store and the socache, but the counters and an ongoing outage would not.
 * Like mod_status's counters, ours carry over: when pconf goes, the parent
 * copies every slot into process-lifetime memory, and the next generation
 * takes them back by certificate id after its start-up work. A full stop
 * ends the process and with it the copy. Every child can write the slots:
 * the parent copies their numbers (os_slot_read ends the one string) and
 * never the response bytes. */
#include "ocspstaple_carry.h"
#include "ocspstaple_staple.h"
#include "carry_merge.h"

#include <string.h>
#include <apr_atomic.h>
#include <apr_strings.h>

/* The snapshot outlives the module's code: a package upgrade reloads httpd
 * gracefully. So it holds carry_state (carry_merge.h), not the slots, whose
 * layout changes with the code, and its key names carry_state's layout
 * (bump OS_CARRY_LAYOUT when a field changes meaning): new code never
 * reads a snapshot it does not understand, it starts afresh instead. */
#define OS_CARRY_LAYOUT 3
#define OS_CARRY_KEY_FMT "mod_ocspstaple-carry-v%d-%lu"

static const char *os_carry_key(apr_pool_t *p)
{
    return apr_psprintf(p, OS_CARRY_KEY_FMT, OS_CARRY_LAYOUT,
                        (unsigned long)sizeof(carry_state));
}

/* Process-lifetime (ap_retained_data_create): one snapshot at a time. */
typedef struct {
    apr_pool_t *pool;           /* the snapshot's, child of the process pool */
    apr_hash_t *by_id;          /* certificate id -> carry_state */
} os_carry;

typedef struct {
    os_global *g;
    os_carry *carry;
    apr_pool_t *process_pool;
} os_carry_ctx;

static os_carry *os_carry_get(apr_pool_t *p)
{
    const char *key = os_carry_key(p);
    os_carry *carry = ap_retained_data_get(key);
    if (!carry) {
        carry = ap_retained_data_create(key, sizeof(*carry));
    }
    return carry;
}

typedef char os_carry_result_fits[
    sizeof(((os_slot *)0)->last_result) == CARRY_RESULT_LEN ? 1 : -1];

static void os_carry_to(const os_slot *slot, carry_state *c)
{
    int k;
    memset(c, 0, sizeof(*c));
    c->served = slot->hs.served;
    c->unserved = slot->hs.unserved;
    c->fetches = slot->fetches;
    c->fetch_errors = slot->fetch_errors;
    for (k = 0; k < OS_ERR_CLASSES; ++k) {
        c->errors[k] = slot->errors_by_class[k];
    }
    c->failures = slot->failures;
    c->cert_status = slot->cert_status;
    c->this_update = slot->this_update;
    c->last_fetch = slot->last_fetch;
    c->next_refresh = slot->next_refresh;
    c->notified = slot->notified;
    memcpy(c->last_result, slot->last_result, sizeof(c->last_result));
}

/* pconf cleanup, registered after the slots were created so it runs
 * before they go (cleanups run last-registered first). */
static apr_status_t os_carry_save(void *data)
{
    os_carry_ctx *ctx = data;
    os_global *g = ctx->g;
    os_carry *carry = ctx->carry;
    int i;

    if (carry->pool) {
        apr_pool_destroy(carry->pool);
        carry->pool = NULL;
        carry->by_id = NULL;
    }
    if (!g->slots
        || apr_pool_create(&carry->pool, ctx->process_pool) != APR_SUCCESS) {
        carry->pool = NULL;
        return APR_SUCCESS;
    }
    apr_pool_tag(carry->pool, "ocspstaple_carry");
    carry->by_id = apr_hash_make(carry->pool);
    for (i = 0; i < g->certs->nelts; ++i) {
        const os_cert *cert = APR_ARRAY_IDX(g->certs, i, const os_cert *);
        carry_state *copy = apr_palloc(carry->pool, sizeof(*copy));
        os_slot cur;
        os_slot_read(&g->slots[cert->index], &cur);
        os_carry_to(&cur, copy);
        apr_hash_set(carry->by_id,
                     apr_pmemdup(carry->pool, cert->id, cert->id_len),
                     (apr_ssize_t)cert->id_len, copy);
    }
    return APR_SUCCESS;
}

/* Takes back what the previous generation left (carry_merge.h); nothing
 * else writes this generation's slots yet: the helper is done, the
 * children are not forked. */
static void os_carry_restore_one(os_slot *slot, const carry_state *old)
{
    carry_state cur;
    int k;

    os_carry_to(slot, &cur);
    carry_merge(&cur, old);
    os_slot_begin(slot);
    slot->hs.served = (apr_uint32_t)cur.served;
    slot->hs.unserved = (apr_uint32_t)cur.unserved;
    slot->fetches = (apr_uint32_t)cur.fetches;
    slot->fetch_errors = (apr_uint32_t)cur.fetch_errors;
    for (k = 0; k < OS_ERR_CLASSES; ++k) {
        slot->errors_by_class[k] = (apr_uint32_t)cur.errors[k];
    }
    slot->failures = (apr_uint32_t)cur.failures;
    slot->last_fetch = cur.last_fetch;
    slot->next_refresh = cur.next_refresh;
    slot->notified = cur.notified;
    memcpy(slot->last_result, cur.last_result, sizeof(slot->last_result));
    slot->last_result[sizeof(slot->last_result) - 1] = '\0';
    os_slot_end(slot);
}

void os_carry_restore(os_global *g, server_rec *s)
{
    os_carry *carry = ap_retained_data_get(os_carry_key(g->pool));
    int i, n = 0;

    if (!carry || !carry->by_id) {
        return;
    }
    for (i = 0; i < g->certs->nelts; ++i) {
        const os_cert *cert = APR_ARRAY_IDX(g->certs, i, const os_cert *);
        const carry_state *old = apr_hash_get(carry->by_id, cert->id,
                                          (apr_ssize_t)cert->id_len);
        if (old) {
            os_carry_restore_one(&g->slots[cert->index], old);
            ++n;
        }
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, OSLOG(0120)
                 "counters and outage state of %d of %d certificate%s "
                 "carried over from before the restart", n, g->certs->nelts,
                 g->certs->nelts == 1 ? "" : "s");
    /* What was not taken (certificates no longer configured) is gone. */
    apr_pool_destroy(carry->pool);
    carry->pool = NULL;
    carry->by_id = NULL;
}

void os_carry_register(os_global *g, apr_pool_t *pconf, server_rec *s)
{
    os_carry_ctx *ctx = apr_pcalloc(pconf, sizeof(*ctx));
    ctx->g = g;
    ctx->carry = os_carry_get(pconf);
    ctx->process_pool = s->process->pool;
    /* Parent only: a child never runs pconf's cleanups at exit, and a
     * forked-and-exec'd program must not either. */
    apr_pool_cleanup_register(pconf, ctx, os_carry_save,
                              apr_pool_cleanup_null);
}
