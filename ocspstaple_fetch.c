/* Getting responses for the workers (ocspstaple_fetch.h). Runs only in
 * processes that have dropped to the User. */
#include "ocspstaple_fetch.h"
#include "ocspstaple_staple.h"
#include "ocspstaple_store.h"
#include "ocspstaple_exchange.h"
#include "ocspstaple_preverify.h"
#include "core_util.h"

#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <apr_atomic.h>
#include <http_main.h>

/* Parallel responder connections in one batch, in all and per host. */
#define OS_FETCH_PARALLEL 32
#define OS_FETCH_PER_HOST 8

/* Where a response came from decides where it goes next: a fetched one to
 * the store and the shared cache, an adopted one to the store, a stored one
 * or an operator's file nowhere. */
typedef enum {
    OS_FROM_RESPONDER, OS_FROM_EXCHANGE, OS_FROM_STORE, OS_FROM_FILE
} os_source;

typedef struct {
    os_global *g;
    os_cert *cert;
    apr_pool_t *p;
    ocsp_verify_result res;
    int have_res;
    os_err_class refused;       /* why the last body was not taken */
} os_job_baton;

double os_random(void)
{
    apr_uint32_t r;
    ap_random_insecure_bytes(&r, sizeof(r));
    return (double)r / 4294967296.0;
}

long long os_now(void)
{
    return (long long)apr_time_sec(apr_time_now());
}

const char *os_time_str(apr_pool_t *p, long long t)
{
    char buf[32];
    return apr_pstrdup(p, core_time_iso(t, buf, sizeof(buf)));
}

void os_verify_params(const os_global *g, long long now, long grace,
                      ocsp_verify_params *params)
{
    ocsp_verify_params_default(params);
    params->now = now;
    params->expired_grace = grace;
    params->max_size = g->max_response_size;
}

/* Why the staple unit would refuse res for cert now (NULL: it would not). */
static const char *os_policy_refuses(os_global *g, const os_cert *cert,
                                     const ocsp_verify_result *res,
                                     apr_size_t der_len, apr_pool_t *p)
{
    os_slot cur;
    staple_state now_st, cand;
    os_slot_read(os_staple_slot(g, cert), &cur);
    now_st = os_slot_state(&cur);
    cand.cert_status = res->cert_status;
    cand.flags = res->cert_status == V_OCSP_CERTSTATUS_REVOKED
                 ? STAPLE_FLAG_REVOKED_SEEN : 0;
    cand.this_update = res->this_update;
    cand.next_update = res->next_update;
    return staple_policy_refuses(&now_st, &cand, der_len, os_now(),
                                 g->serve_expired, p);
}

static void os_log_installed(os_global *g, const os_cert *cert,
                             const os_slot *before, const os_slot *after,
                             const ocsp_verify_result *res,
                             const char *source, apr_pool_t *p)
{
    int revoked = res->cert_status == V_OCSP_CERTSTATUS_REVOKED;
    if (revoked && before->cert_status != V_OCSP_CERTSTATUS_REVOKED) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, g->s, OSLOG(0031)
                     "%s (serial %s): the responder says the certificate is "
                     "REVOKED (since %s); stapling the revoked response (%s)",
                     cert->info->subject, cert->info->serial_hex,
                     os_time_str(p, res->revoked_at), source);
    }
    else if (before->failures > 0 || (before->cert_status >= 0
             && staple_servable_until(before->next_update, g->serve_expired)
                < after->last_fetch)) {
        /* Worth a line at the default LogLevel: the failure was one. */
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, g->s, OSLOG(0033)
                     "%s (serial %s): recovered after %u failed attempt%s; "
                     "%s response from %s, valid until %s",
                     cert->info->subject, cert->info->serial_hex,
                     before->failures, before->failures == 1 ? "" : "s",
                     revoked ? "revoked" : "good", source,
                     os_time_str(p, res->next_update));
    }
    else if (before->cert_status < 0) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, g->s, OSLOG(0032)
                     "%s (serial %s): %s response from %s, valid until "
                     "%s, next refresh %s", cert->info->subject,
                     cert->info->serial_hex, revoked ? "revoked" : "good",
                     source, os_time_str(p, res->next_update),
                     os_time_str(p, after->next_refresh));
    }
    else {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, g->s, OSLOG(0034)
                     "%s: refreshed from %s, thisUpdate %s, valid until %s, "
                     "next refresh %s", cert->info->subject, source,
                     os_time_str(p, res->this_update),
                     os_time_str(p, res->next_update),
                     os_time_str(p, after->next_refresh));
    }
}

/* Puts a verified response into service here first, then into the store
 * and the shared cache as its source says. Neither of those failing makes
 * a refresh due sooner: the policy's next refresh is set here. NULL, or
 * why the staple unit refused it. */
static const char *os_accept_to(os_global *g, os_cert *cert,
                                const unsigned char *der, apr_size_t len,
                                const ocsp_verify_result *res, unsigned flags,
                                os_source source, const char *source_name,
                                long long fetched_at, staple_record *later,
                                apr_pool_t *p)
{
    os_slot *slot = os_staple_slot(g, cert);
    os_slot before, after;
    staple_record rec;
    const char *why;

    memset(&rec, 0, sizeof(rec));
    rec.cert_status = res->cert_status;
    rec.flags = (flags & STAPLE_FLAG_REVOKED_SEEN)
                | (res->cert_status == V_OCSP_CERTSTATUS_REVOKED
                   ? STAPLE_FLAG_REVOKED_SEEN : 0);
    rec.this_update = res->this_update;
    rec.next_update = res->next_update;
    rec.fetched_at = fetched_at;
    rec.id = cert->id;
    rec.id_len = cert->id_len;
    rec.der = der;
    rec.der_len = len;
    if (os_staple_install(g, cert, &rec, os_now(), &before, &why, p)
        != APR_SUCCESS) {
        return why;
    }
    rec.flags |= before.flags & STAPLE_FLAG_REVOKED_SEEN;

    os_slot_begin(slot);
    if (source == OS_FROM_RESPONDER || source == OS_FROM_EXCHANGE) {
        slot->last_success = fetched_at;
        slot->last_fetch = fetched_at;
    }
    else if (!slot->last_success) {
        slot->last_success = fetched_at;
    }
    slot->failures = 0;
    slot->flags &= ~(unsigned)OS_SLOT_EXPIRY_LOGGED;
    slot->next_refresh = refresh_due(&g->policy, res->this_update,
                                     res->next_update, fetched_at, os_random());
    apr_cpystrn(slot->last_result, "ok", sizeof(slot->last_result));
    os_slot_end(slot);
    os_slot_read(slot, &after);
    os_log_installed(g, cert, &before, &after, res, source_name, p);

    if (later) {
        /* the caller writes the store and publishes, for many at once */
        *later = rec;
        return NULL;
    }
    if (source == OS_FROM_RESPONDER || source == OS_FROM_EXCHANGE) {
        os_store_write(g, cert, &rec, p);
    }
    if (source == OS_FROM_RESPONDER && g->exchange) {
        os_exchange_put(g, cert, &rec, p);
    }
    return NULL;
}

static const char *os_accept(os_global *g, os_cert *cert,
                             const unsigned char *der, apr_size_t len,
                             const ocsp_verify_result *res, unsigned flags,
                             os_source source, const char *source_name,
                             long long fetched_at, apr_pool_t *p)
{
    return os_accept_to(g, cert, der, len, res, flags, source, source_name,
                        fetched_at, NULL, p);
}

static void os_fail(os_global *g, os_cert *cert, os_err_class cls,
                    const char *why, long long now, apr_pool_t *p)
{
    os_slot *slot = os_staple_slot(g, cert);
    long long valid_until;
    int has_valid;

    os_slot_begin(slot);
    slot->last_fetch = now;
    slot->failures++;
    slot->errors_by_class[cls]++;
    apr_cpystrn(slot->last_result, why, sizeof(slot->last_result));
    valid_until = slot->cert_status >= 0
                  ? staple_servable_until(slot->next_update, g->serve_expired)
                  : 0;
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

static os_err_class os_verify_class(ocsp_verify_error e)
{
    switch (e) {
    case OCSP_VERIFY_TOO_LARGE:         return OS_ERR_TOO_LARGE;
    case OCSP_VERIFY_RESPONDER_STATUS:  return OS_ERR_RESPONDER_STATUS;
    default:                            return OS_ERR_VERIFY;
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
        b->refused = os_verify_class(b->res.error);
        *why = b->res.message;
        return 0;
    }
    if ((refusal = os_policy_refuses(b->g, b->cert, &b->res, len, b->p))) {
        b->refused = OS_ERR_POLICY;
        *why = refusal;
        return 0;
    }
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
    case RESPONDER_HTTP_REJECTED:  return b->refused;
    default:                       return OS_ERR_OTHER;
    }
}

int os_fetch_batch(os_global *g, os_cert **certs, int n,
                   long exchange_timeout_ms, long long deadline_ms,
                   volatile apr_uint32_t *cancel, apr_pool_t *p)
{
    responder_http_job *jobs = apr_pcalloc(p, sizeof(*jobs) * (apr_size_t)n);
    os_job_baton *batons = apr_pcalloc(p, sizeof(*batons) * (apr_size_t)n);
    responder_http_config cfg;
    /* accepted answers: all installed first, then the store written for
     * all of them at once, then published (issue 14) */
    os_cert **took = apr_pcalloc(p, sizeof(*took) * (apr_size_t)n);
    staple_record *recs = apr_pcalloc(p, sizeof(*recs) * (apr_size_t)n);
    int i, ok = 0;
    apr_status_t rv;

    for (i = 0; i < n; ++i) {
        batons[i].g = g;
        batons[i].cert = certs[i];
        batons[i].p = p;
        batons[i].refused = OS_ERR_VERIFY;
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
    cfg.max_parallel = OS_FETCH_PARALLEL;
    cfg.max_per_host = OS_FETCH_PER_HOST;
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
        os_slot *slot = os_staple_slot(g, cert);
        const char *why = NULL;
        if (jobs[i].attempts > 0) {
            apr_atomic_add32(&slot->fetches, (apr_uint32_t)jobs[i].attempts);
        }
        if (rv == APR_SUCCESS && jobs[i].error == RESPONDER_HTTP_OK
            && jobs[i].body) {
            if (!(why = os_accept_to(g, cert, jobs[i].body,
                                     jobs[i].body_len, &batons[i].res, 0,
                                     OS_FROM_RESPONDER, jobs[i].url, now,
                                     &recs[ok], p))) {
                took[ok++] = cert;
                continue;
            }
            os_fail(g, cert, OS_ERR_POLICY, why, now, p);
        }
        else {
            os_fail(g, cert, os_job_class(&jobs[i], &batons[i]),
                    jobs[i].message ? jobs[i].message : "no answer", now, p);
        }
    }
    os_store_write_many(g, took, recs, ok, p);
    for (i = 0; g->exchange && i < ok; ++i) {
        os_exchange_put(g, took[i], &recs[i], p);
    }
    return ok;
}

/* ---- work split across threads (issue 14) ------------------------------ */

/* At most this many threads. */
#define OS_PARALLEL_MAX 8
/* Fewer items than this are not worth a thread. */
#define OS_PARALLEL_MIN 64

typedef struct {
    os_range_fn fn;
    void *data;
    int from, to;
    apr_pool_t *pool;           /* this range's, with its own allocator */
} os_range;

static void *APR_THREAD_FUNC os_range_thread(apr_thread_t *t, void *data)
{
    os_range *r = data;
    r->fn(r->data, r->from, r->to, r->pool);
    return NULL;
}

void os_parallel(int n, os_range_fn fn, void *data, apr_pool_t *p)
{
    os_range ranges[OS_PARALLEL_MAX];
    apr_thread_t *threads[OS_PARALLEL_MAX];
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    int k, nt = cpus > 1 ? (int)cpus : 1, started = 0;

    if (nt > OS_PARALLEL_MAX) {
        nt = OS_PARALLEL_MAX;
    }
    if (n < OS_PARALLEL_MIN) {
        nt = 1;
    }
    for (k = 0; k < nt; ++k) {
        apr_allocator_t *a = NULL;
        ranges[k].fn = fn;
        ranges[k].data = data;
        ranges[k].from = (int)((long long)n * k / nt);
        ranges[k].to = (int)((long long)n * (k + 1) / nt);
        ranges[k].pool = NULL;
        /* Pools are not thread-safe, nor is an allocator they share. */
        if (nt > 1 && apr_allocator_create(&a) == APR_SUCCESS
            && apr_pool_create_ex(&ranges[k].pool, p, NULL, a)
               == APR_SUCCESS) {
            apr_allocator_owner_set(a, ranges[k].pool);
        }
        else if (a) {
            apr_allocator_destroy(a);
        }
    }
    for (k = 1; k < nt; ++k) {
        if (ranges[k].pool
            && apr_thread_create(&threads[k], NULL, os_range_thread,
                                 &ranges[k], p) == APR_SUCCESS) {
            started |= 1 << k;
        }
    }
    /* This thread takes the first range, and any whose thread did not
     * start. */
    for (k = 0; k < nt; ++k) {
        if (!(started & (1 << k))) {
            if (!ranges[k].pool) {
                ranges[k].pool = p;
            }
            os_range_thread(NULL, &ranges[k]);
        }
    }
    for (k = 1; k < nt; ++k) {
        if (started & (1 << k)) {
            apr_status_t trv;
            apr_thread_join(&trv, threads[k]);
        }
    }
}

/* ---- the store at start, verified in parallel (issue 14) -------------- */

/* A store record, read and verified, not yet taken. */
typedef struct {
    os_cert *cert;
    apr_status_t rv;            /* of reading the file */
    const char *why;            /* what is wrong with the file, or NULL */
    staple_record rec;
    ocsp_verify_result res;
    int verified;
    int early;                  /* by the early verifier */
} os_stored;

typedef struct {
    os_global *g;
    os_stored *items;
    long long now;
} os_stored_all;

static void os_stored_read(os_global *g, os_stored *st, long long now,
                           apr_pool_t *p)
{
    ocsp_verify_params params;
    const os_preverified *v = os_preverify_get(g, st->cert);

    /* Verified a moment ago by the early verifier: only the validity
     * window is checked again, against this clock; anything else is
     * read and verified here. */
    if (v && v->verified_at <= now + 1
        && now - v->verified_at <= OS_PREVERIFY_MAX_AGE) {
        os_verify_params(g, now, g->serve_expired, &params);
        st->res = v->res;
        if (ocsp_verify_window(&st->res, &params, p) == OCSP_VERIFY_OK) {
            st->rec = v->rec;
            st->rv = APR_SUCCESS;
            st->why = NULL;
            st->verified = st->early = 1;
            return;
        }
    }
    st->rv = os_store_read(g, st->cert, &st->rec, p, &st->why);
    if (st->rv == APR_SUCCESS) {
        os_verify_params(g, now, g->serve_expired, &params);
        st->verified = ocsp_verify_response(st->cert->info, st->rec.der,
                                            st->rec.der_len, &params,
                                            &st->res, p) == OCSP_VERIFY_OK;
    }
}

static void os_stored_range(void *data, int from, int to, apr_pool_t *p)
{
    os_stored_all *all = data;
    int i;
    for (i = from; i < to; ++i) {
        os_stored_read(all->g, &all->items[i], all->now, p);
    }
}

/* Reads and verifies the store records of certs[0..n), in parallel: each
 * is independent of the others (file, parse, signature), and at thousands
 * of certificates this is most of a warm start. Nothing is installed or
 * logged here. */
static os_stored *os_stored_read_all(os_global *g, os_cert **certs, int n,
                                     long long now, apr_pool_t *p)
{
    os_stored_all all;
    int i;

    all.g = g;
    all.now = now;
    all.items = apr_pcalloc(p, sizeof(*all.items) * (apr_size_t)(n + 1));
    for (i = 0; i < n; ++i) {
        all.items[i].cert = certs[i];
    }
    os_parallel(n, os_stored_range, &all, p);
    return all.items;
}

/* Installs a record read by os_stored_read, or logs why not. */
static int os_stored_take(os_global *g, os_stored *st, int quiet,
                          apr_pool_t *p)
{
    os_cert *cert = st->cert;
    const char *why;

    if (st->rv != APR_SUCCESS) {
        if (st->why && !quiet) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, st->rv, g->s, OSLOG(0060)
                         "%s: store file ignored: %s", cert->info->subject,
                         st->why);
        }
        return 0;
    }
    if (!st->verified) {
        /* An expired file is the normal fate of a long stop, not worth a
         * warning; anything else is. */
        if (!quiet) {
            ap_log_error(APLOG_MARK, st->res.error == OCSP_VERIFY_EXPIRED
                         ? APLOG_INFO : APLOG_WARNING, 0, g->s, OSLOG(0061)
                         "%s: store file ignored: %s", cert->info->subject,
                         st->res.message);
        }
        return 0;
    }
    if ((why = os_accept(g, cert, st->rec.der, st->rec.der_len, &st->res,
                         st->rec.flags, OS_FROM_STORE, "store",
                         st->rec.fetched_at, p))) {
        ap_log_error(APLOG_MARK, quiet ? APLOG_DEBUG : APLOG_INFO, 0, g->s,
                     OSLOG(0062) "%s: store file not used: %s",
                     cert->info->subject, why);
        return 0;
    }
    return 1;
}

int os_load_from_store(os_global *g, os_cert *cert, long long now, int quiet,
                       apr_pool_t *p)
{
    os_stored st;

    memset(&st, 0, sizeof(st));
    st.cert = cert;
    os_stored_read(g, &st, now, p);
    return os_stored_take(g, &st, quiet, p);
}

int os_load_from_files(os_global *g, os_cert *cert, long long now,
                       int force, apr_pool_t *p)
{
    int i, taken = 0;

    for (i = 0; i < cert->files->nelts; ++i) {
        os_staple_file *f = APR_ARRAY_IDX(cert->files, i, os_staple_file *);
        ocsp_verify_params params;
        ocsp_verify_result res;
        unsigned char *der;
        apr_size_t len;
        struct stat st;
        const char *why = NULL, *source;
        long long mtime_ns;

        /* Unchanged since the last look: nothing to do (a cheap lstat
         * every tick; the file is read only when it changed). */
        if (lstat(f->path, &st) == 0) {
            mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL
                       + st.st_mtim.tv_nsec;
            if (!force && mtime_ns == f->mtime_ns
                && (long long)st.st_size == f->size
                && (long long)st.st_ino == f->ino) {
                continue;
            }
            f->mtime_ns = mtime_ns;
            f->size = (long long)st.st_size;
            f->ino = (long long)st.st_ino;
        }
        else if (!force && f->ino == -1) {
            continue;                   /* still missing: said so */
        }
        else {
            f->ino = -1;
            f->mtime_ns = f->size = 0;
        }
        if (os_file_read_safe(f->path, g->max_response_size, &der, &len,
                              &st, &why, p) != APR_SUCCESS) {
            why = why ? why : "the file is missing";
        }
        else {
            os_verify_params(g, now, g->serve_expired, &params);
            source = apr_pstrcat(p, "file ", f->path, NULL);
            if (ocsp_verify_response(cert->info, der, len, &params, &res, p)
                != OCSP_VERIFY_OK) {
                why = res.message;
            }
            else if ((why = os_accept(g, cert, der, len, &res, 0,
                                      OS_FROM_FILE, source, now, p))) {
                /* an older answer than the one in use: normal when the
                 * responder is asked too */
                ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, g->s, OSLOG(0164)
                             "%s: %s not used: %s", cert->info->subject,
                             source, why);
                continue;
            }
            else {
                ++taken;
                continue;
            }
        }
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, g->s, OSLOG(0163)
                     "%s: OCSPStapleFile %s ignored: %s; keeping the "
                     "response in use", cert->info->subject, f->path, why);
    }
    return taken;
}

int os_adopt_from_exchange(os_global *g, os_cert *cert, long long now,
                           apr_pool_t *p)
{
    staple_record rec;
    ocsp_verify_params params;
    ocsp_verify_result res;
    os_slot cur;
    const char *why = NULL;
    apr_status_t rv;

    if (!g->exchange) {
        return 0;
    }
    os_slot_read(os_staple_slot(g, cert), &cur);
    rv = os_exchange_get(g, cert, &rec, p);
    if (rv == APR_NOTFOUND
        && os_staple_current(g, cert, &rec, p) == APR_SUCCESS
        && staple_servable_until(rec.next_update, g->serve_expired) >= now) {
        /* The cache lost it (restarted, flushed, evicted): offer ours, so
         * a server joining now need not ask the responder. */
        os_exchange_put(g, cert, &rec, p);
        return 0;
    }
    if (rv != APR_SUCCESS || rec.this_update <= cur.this_update) {
        ap_log_error(APLOG_MARK, APLOG_TRACE1, rv, g->s, OSLOG(0051)
                     "%s: nothing newer in the shared cache",
                     cert->info->subject);
        return 0;
    }
    /* Any server of the fleet can write there: verified like an answer. */
    os_verify_params(g, now, 0, &params);
    if (ocsp_verify_response(cert->info, rec.der, rec.der_len, &params, &res, p)
        != OCSP_VERIFY_OK
        || (why = os_accept(g, cert, rec.der, rec.der_len, &res, 0,
                            OS_FROM_EXCHANGE, "shared cache", now, p))) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, g->s, OSLOG(0052)
                     "%s: response found in the shared cache not taken: %s",
                     cert->info->subject, why ? why : res.message);
        return 0;
    }
    return 1;
}

static void os_summary(os_global *g, server_rec *s, double took,
                       int fetched, int stored, int shared, int files,
                       apr_pool_t *p)
{
    int i, good = 0, revoked = 0, missing = 0;
    long long now = os_now();
    for (i = 0; i < g->certs->nelts; ++i) {
        os_cert *cert = APR_ARRAY_IDX(g->certs, i, os_cert *);
        os_slot cur;
        staple_state st;
        if (!os_cert_has_source(cert)) {
            continue;
        }
        os_slot_read(os_staple_slot(g, cert), &cur);
        st = os_slot_state(&cur);
        if (staple_servable(&st, now, g->serve_expired)) {
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
                 "without OCSP URL (%d from the store,%s%s %d fetched in "
                 "%.2f s; before that the parent received the certificates "
                 "in %.2f s and prepared in %.2f s)", g->certs->nelts,
                 g->certs->nelts == 1 ? "" : "s",
                 good, revoked, missing, g->no_url_count, stored,
                 shared ? apr_psprintf(p, " %d from the "
                                       "shared cache,", shared) : "",
                 files ? apr_psprintf(p, " %d from OCSPStapleFile,", files)
                       : "",
                 fetched, took, (double)g->prime_time / APR_USEC_PER_SEC,
                 (double)g->prepare_time / APR_USEC_PER_SEC);
}

void os_fetch_startup(os_global *g, server_rec *s, apr_pool_t *p)
{
    apr_time_t start = apr_time_now();
    long long now = os_now();
    long long deadline = apr_time_as_msec(start) + g->startup_timeout * 1000;
    os_cert **todo = apr_pcalloc(p, sizeof(os_cert *)
                                    * (apr_size_t)g->certs->nelts);
    int i, n = 0, stored = 0, shared = 0, fetched = 0, files = 0, ns = 0;
    int early;
    os_stored *from_store;

    os_exchange_attach(g, p);
    os_exchange_deadline(g, start + apr_time_from_sec(g->startup_timeout));
    /* The store first, all of it read and verified in parallel; installed
     * below, in order, one by one (issue 14). */
    for (i = 0; i < g->certs->nelts; ++i) {
        os_cert *cert = APR_ARRAY_IDX(g->certs, i, os_cert *);
        if (cert->fetch) {
            todo[ns++] = cert;
        }
    }
    /* What the early verifier found meanwhile. */
    early = os_preverify_collect(g, start, p);
    from_store = os_stored_read_all(g, todo, ns, now, p);
    if (early) {
        int used = 0;
        for (i = 0; i < ns; ++i) {
            used += from_store[i].early;
        }
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, OSLOG(0184)
                     "%d of %d store records taken as the early verifier "
                     "verified them (%d verdicts), the rest verified here",
                     used, ns, early);
    }
    ns = 0;
    for (i = 0; i < g->certs->nelts; ++i) {
        os_cert *cert = APR_ARRAY_IDX(g->certs, i, os_cert *);
        if (cert->files->nelts > 0 && os_load_from_files(g, cert, now, 1, p)) {
            ++files;
        }
        if (!cert->fetch) {
            continue;
        }
        if (os_stored_take(g, &from_store[ns++], 0, p)) {
            /* Even when due, the refresh is the watchdog's: a (re)start
             * with a valid stored response asks no responder. */
            ++stored;
            continue;
        }
        if (os_adopt_from_exchange(g, cert, now, p)) {
            /* A server joining others on a shared cache. */
            ++shared;
            continue;
        }
        todo[n++] = cert;
    }
    if (n > 0 && g->startup_timeout > 0) {
        long timeout = (g->responder_timeout < g->startup_timeout
                        ? g->responder_timeout : g->startup_timeout) * 1000;
        fetched = os_fetch_batch(g, todo, n, timeout, deadline, NULL, p);
    }
    os_summary(g, s, (double)(apr_time_now() - start) / APR_USEC_PER_SEC,
               fetched, stored, shared, files, p);
}
