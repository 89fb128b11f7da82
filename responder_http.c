/* responder_http: see responder_http.h and design section 4.9.
 *
 * One thread drives one curl multi handle. Every job walks its URL list;
 * at most cfg->max_parallel exchanges run at once (and at most
 * cfg->max_per_host to one host), so a slow responder cannot take every
 * slot and transfers never sit in curl's own pending queue where their
 * timeout would already be running. Connections stay in the multi handle's
 * cache and are reused across jobs. */
#include <apr_atomic.h>

#include "responder_http.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <apr_strings.h>
#include <apr_tables.h>
#include <apr_lib.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define DEFAULT_TIMEOUT_MS  10000L  /* section 3: OCSPStapleResponderTimeout */
#define DEFAULT_MAX_SIZE    16380   /* when max_size is 0: staple_policy.h */
#define DEFAULT_PARALLEL    16
#define MAX_REDIRS          3L
#define POLL_MAX_MS         100     /* upper bound of one wait in the loop:
                                       how soon a cancel is seen */

/* The only static: curl_global_init must run once per process. */
static int curl_initialised;

apr_status_t responder_http_global_init(void)
{
    if (!curl_initialised) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return APR_EGENERAL;
        curl_initialised = 1;
    }
    return APR_SUCCESS;
}

const char *responder_http_error_name(responder_http_error e)
{
    switch (e) {
    case RESPONDER_HTTP_OK:        return "ok";
    case RESPONDER_HTTP_NETWORK:   return "network";
    case RESPONDER_HTTP_TIMEOUT:   return "timeout";
    case RESPONDER_HTTP_STATUS:    return "http_status";
    case RESPONDER_HTTP_TOO_LARGE: return "too_large";
    case RESPONDER_HTTP_REJECTED:  return "rejected";
    case RESPONDER_HTTP_BAD_URL:   return "bad_url";
    case RESPONDER_HTTP_INTERNAL:  break;
    }
    return "internal";
}

/* ---- GET URL (RFC 5019 section 5, RFC 6960 appendix A.1) -------------- */

const char *responder_http_get_url(const char *base,
                                   const unsigned char *request,
                                   apr_size_t len, apr_pool_t *p)
{
    unsigned char b64[4 * ((RESPONDER_HTTP_GET_LIMIT + 2) / 3) + 1];
    char *escaped;
    const char *out = NULL;
    apr_size_t baselen;
    int b64len;

    /* base64 never shrinks its input, so a request this long can never be
     * under the limit; the check also bounds b64[]. */
    if (!base || !request || len == 0 || len >= RESPONDER_HTTP_GET_LIMIT)
        return NULL;
    /* Plain base64 with padding (RFC 4648 section 4), no line breaks. */
    b64len = EVP_EncodeBlock(b64, request, (int)len);
    /* '+', '/' and '=' mean something in a URL path: percent-encoded. */
    escaped = curl_easy_escape(NULL, (const char *)b64, b64len);
    if (!escaped)
        return NULL;
    if (strlen(escaped) < RESPONDER_HTTP_GET_LIMIT) {
        baselen = strlen(base);
        out = apr_pstrcat(p, base, baselen > 0 && base[baselen - 1] == '/'
                          ? "" : "/", escaped, NULL);
    }
    curl_free(escaped);
    return out;
}

/* ---- the run ----------------------------------------------------------- */

typedef enum { JOB_WAITING, JOB_RUNNING, JOB_DONE } job_state;

typedef struct {
    job_state state;
    int next;        /* index of the next URL to try */
    int host;        /* host index of urls[next], -1 when not looked up */
} job_track;

typedef struct {
    const char *key; /* "host:port", lower case */
    int active;
} host_count;

typedef struct {
    CURL *easy;                  /* NULL when the slot is free */
    struct curl_slist *headers;
    int jobi;
    int host;
    const char *url;
    long timeout_ms;             /* what CURLOPT_TIMEOUT_MS got */
    apr_size_t max;
    unsigned char *buf;          /* malloc'd, grows with the body */
    apr_size_t len, cap;
    int too_large;               /* write callback refused: over max */
    int bad_status;              /* write callback refused: status != 200 */
    int no_memory;
    char errbuf[CURL_ERROR_SIZE];
} xfer;

typedef struct {
    responder_http_job *jobs;
    int njobs;
    const responder_http_config *cfg;
    apr_pool_t *p;               /* caller's: results */
    apr_pool_t *scratch;         /* bookkeeping, destroyed with the run */
    CURLM *multi;
    job_track *track;
    xfer *slots;
    int nslots, active;
    apr_array_header_t *hosts;   /* of host_count */
    long timeout_ms;
    apr_size_t max_size;
    int per_host;
    int deadline_reached;        /* an exchange cut to it timed out */
} run_state;

/* Wall clock in ms since the epoch: cfg->deadline_ms is on that scale. */
static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The caller may cancel a run from another thread (a child shutting
 * down must not leave a transfer running into exit()). */
static int cancelled(const run_state *r)
{
    return r->cfg->cancel && apr_atomic_read32(r->cfg->cancel) != 0;
}

/* curl's timer may fire a millisecond before our clock reaches the
 * deadline: once an exchange cut to the deadline timed out, the deadline
 * has come, whatever now_ms() says, and nothing more is started. */
static long long deadline_left(const run_state *r)
{
    if (cancelled(r) || r->deadline_reached)
        return 0;
    return r->cfg->deadline_ms - now_ms();
}

static int deadline_passed(const run_state *r)
{
    return cancelled(r) || (r->cfg->deadline_ms > 0 && deadline_left(r) <= 0);
}

/* An exchange got less than the exchange timeout only when the deadline
 * left less. */
static int cut_to_deadline(const run_state *r, const xfer *x)
{
    return x->timeout_ms < r->timeout_ms;
}

static int is_http_url(const char *url)
{
    return url && (strncasecmp(url, "http://", 7) == 0
                   || strncasecmp(url, "https://", 8) == 0);
}

/* Index in r->hosts of the URL's host:port, or -1 when curl cannot parse
 * the URL. */
static int host_index(run_state *r, const char *url)
{
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    int idx = -1, i;

    if (!u)
        return -1;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK
        && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK
        && curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT)
           == CURLUE_OK) {
        char *key = apr_pstrcat(r->scratch, host, ":", port, NULL);
        char *c;
        host_count *hc;

        for (c = key; *c; c++)
            *c = (char)apr_tolower(*c);
        for (i = 0; i < r->hosts->nelts; i++) {
            if (strcmp(APR_ARRAY_IDX(r->hosts, i, host_count).key, key) == 0)
                break;
        }
        if (i == r->hosts->nelts) {
            hc = apr_array_push(r->hosts);
            hc->key = key;
            hc->active = 0;
        }
        idx = i;
    }
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return idx;
}

static void job_fail(run_state *r, responder_http_job *job,
                     responder_http_error e, const char *url,
                     const char *cause)
{
    job->error = e;
    job->message = apr_psprintf(r->p, "%s: %s", url ? url : "(none)", cause);
}

/* libcurl write callback: keeps the body of a 200 answer, up to x->max. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    xfer *x = userdata;
    size_t n = size * nmemb;
    long code = 0;

    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 300 && code < 400)
        return n;           /* body of a redirect: not ours, drop it */
    if (code != 200) {
        /* No point in reading an error page; the status says it all. */
        x->bad_status = 1;
        return 0;
    }
    /* Chunked answers have no Content-Length, so MAXFILESIZE cannot stop
     * them: count here. x->len <= x->max always holds. */
    if (n > x->max - x->len) {
        x->too_large = 1;
        return 0;
    }
    if (x->len + n > x->cap) {
        apr_size_t cap = x->cap ? x->cap * 2 : 4096;
        unsigned char *nb;

        if (cap < x->len + n)
            cap = x->len + n;
        if (cap > x->max)
            cap = x->max;
        nb = realloc(x->buf, cap);
        if (!nb) {
            x->no_memory = 1;
            return 0;
        }
        x->buf = nb;
        x->cap = cap;
    }
    memcpy(x->buf + x->len, data, n);
    x->len += n;
    return n;
}

/* Frees everything a slot holds and makes it free again. */
static void slot_release(run_state *r, xfer *x)
{
    if (x->easy) {
        curl_multi_remove_handle(r->multi, x->easy);
        curl_easy_cleanup(x->easy);
        r->active--;
        if (x->host >= 0)
            APR_ARRAY_IDX(r->hosts, x->host, host_count).active--;
    }
    curl_slist_free_all(x->headers);
    free(x->buf);
    memset(x, 0, sizeof(*x));
}

/* Sets up and adds one exchange. Returns NULL on success, else a cause (and
 * the slot is free again). */
static const char *slot_start(run_state *r, xfer *x, int jobi,
                              const char *url, int host, long timeout_ms)
{
    responder_http_job *job = &r->jobs[jobi];
    const responder_http_config *cfg = r->cfg;
    const char *get_url, *why = "out of memory";
    struct curl_slist *h;
    CURLcode rc = CURLE_OK;

    memset(x, 0, sizeof(*x));
    x->jobi = jobi;
    x->host = -1;
    x->url = url;
    x->timeout_ms = timeout_ms;
    x->max = r->max_size;

    x->easy = curl_easy_init();
    if (!x->easy)
        goto fail;
    get_url = responder_http_get_url(url, job->request, job->request_len,
                                     r->scratch);

    /* curl_slist_append returns NULL on failure and leaves the list as it
     * was, so x->headers always holds what must be freed. */
    if (!(h = curl_slist_append(NULL, "Accept: application/ocsp-response")))
        goto fail;
    x->headers = h;
    if (!get_url) {
        if (!(h = curl_slist_append(x->headers,
                                    "Content-Type: application/ocsp-request")))
            goto fail;
        /* Responders like `openssl ocsp` do not answer 100-continue; never
         * wait for it. */
        if (!(h = curl_slist_append(x->headers, "Expect:")))
            goto fail;
    }

#define SET(opt, val) \
    do { if (rc == CURLE_OK) rc = curl_easy_setopt(x->easy, opt, val); } \
    while (0)
    SET(CURLOPT_URL, get_url ? get_url : url);
    SET(CURLOPT_PRIVATE, (void *)x);
    SET(CURLOPT_ERRORBUFFER, x->errbuf);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_FOLLOWLOCATION, 1L);
    SET(CURLOPT_MAXREDIRS, MAX_REDIRS);
    /* "" stops curl from picking up http_proxy & co from the environment;
     * a configured proxy is used for every host (NOPROXY ""), whatever
     * no_proxy says. */
    SET(CURLOPT_PROXY, cfg->proxy ? cfg->proxy : "");
    if (cfg->proxy)
        SET(CURLOPT_NOPROXY, "");
    SET(CURLOPT_TIMEOUT_MS, timeout_ms);
    SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)r->max_size);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, (void *)x);
    SET(CURLOPT_HTTPHEADER, x->headers);
    if (cfg->user_agent)
        SET(CURLOPT_USERAGENT, cfg->user_agent);
    if (!get_url) {
        SET(CURLOPT_POST, 1L);
        /* not copied: job->request outlives the run */
        SET(CURLOPT_POSTFIELDS, job->request ? (const char *)job->request
                                             : "");
        SET(CURLOPT_POSTFIELDSIZE_LARGE,
            (curl_off_t)(job->request ? job->request_len : 0));
    }
#undef SET
    if (rc != CURLE_OK) {
        why = apr_pstrdup(r->p, curl_easy_strerror(rc));
        goto fail;
    }
    if (curl_multi_add_handle(r->multi, x->easy) != CURLM_OK) {
        why = "cannot add a curl handle";
        goto fail;
    }

    r->active++;
    x->host = host;
    if (host >= 0)
        APR_ARRAY_IDX(r->hosts, host, host_count).active++;
    job->attempts++;
    job->url = url;
    job->http_status = 0;
    job->used_post = !get_url;
    r->track[jobi].state = JOB_RUNNING;
    return NULL;

fail:
    if (x->easy)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    memset(x, 0, sizeof(*x));
    return why;
}

static xfer *free_slot(run_state *r)
{
    int i;
    for (i = 0; i < r->nslots; i++)
        if (!r->slots[i].easy)
            return &r->slots[i];
    return NULL;
}

/* Moves a waiting job on: starts its next URL, or finishes it, or leaves it
 * waiting when its host is at the per-host limit. */
static void job_advance(run_state *r, int jobi)
{
    responder_http_job *job = &r->jobs[jobi];
    job_track *t = &r->track[jobi];

    while (t->state == JOB_WAITING) {
        const char *url, *why;
        xfer *x;
        long tmo = r->timeout_ms;

        if (!job->urls || t->next >= job->nurls) {
            if (job->attempts == 0 && job->error == RESPONDER_HTTP_OK) {
                job_fail(r, job, RESPONDER_HTTP_BAD_URL, NULL,
                         "no responder URL");
            }
            t->state = JOB_DONE;
            return;
        }
        url = job->urls[t->next];
        if (!is_http_url(url)) {
            job_fail(r, job, RESPONDER_HTTP_BAD_URL, url,
                     "not an http:// or https:// URL");
            job->url = url;
            job->http_status = 0;
            t->next++;
            t->host = -1;
            continue;
        }
        if (r->cfg->deadline_ms > 0 || cancelled(r)) {
            long long left = deadline_left(r);

            if (left <= 0) {
                /* Keep the message of an exchange the deadline cut short. */
                if (job->error != RESPONDER_HTTP_TIMEOUT)
                    job_fail(r, job, RESPONDER_HTTP_TIMEOUT, url,
                             "not asked, the deadline had passed");
                t->state = JOB_DONE;
                return;
            }
            if (left < tmo)
                tmo = (long)left;
        }
        if (t->host < 0) {
            t->host = host_index(r, url);
            if (t->host < 0) {
                job_fail(r, job, RESPONDER_HTTP_BAD_URL, url,
                         "malformed URL");
                job->url = url;
                job->http_status = 0;
                t->next++;
                continue;
            }
        }
        if (r->per_host > 0
            && APR_ARRAY_IDX(r->hosts, t->host, host_count).active
               >= r->per_host)
            return;          /* stays waiting for a slot on that host */
        x = free_slot(r);
        if (!x)
            return;
        why = slot_start(r, x, jobi, url, t->host, tmo);
        t->next++;
        t->host = -1;
        if (why) {
            job_fail(r, job, RESPONDER_HTTP_INTERNAL, url, why);
            job->url = url;
        }
    }
}

static void fill_slots(run_state *r)
{
    int i;
    for (i = 0; i < r->njobs && r->active < r->nslots; i++)
        if (r->track[i].state == JOB_WAITING)
            job_advance(r, i);
}

/* Judges one finished exchange and frees its slot. */
static void slot_finish(run_state *r, xfer *x, CURLcode rc)
{
    responder_http_job *job = &r->jobs[x->jobi];
    job_track *t = &r->track[x->jobi];
    const char *url = x->url;
    const char *err = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
    long code = 0;

    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    job->http_status = code;
    t->state = JOB_WAITING;

    switch (rc) {
    case CURLE_OK:
        if (code != 200) {
            job_fail(r, job, RESPONDER_HTTP_STATUS, url,
                     apr_psprintf(r->p, "HTTP %ld", code));
        }
        else {
            const unsigned char *body = x->buf ? x->buf
                                               : (const unsigned char *)"";
            const char *why = NULL;

            if (!job->check || job->check(job, body, x->len, &why)) {
                /* NUL-terminated for the convenience of log lines */
                job->body = apr_palloc(r->p, x->len + 1);
                memcpy(job->body, body, x->len);
                job->body[x->len] = '\0';
                job->body_len = x->len;
                job->error = RESPONDER_HTTP_OK;
                job->message = NULL;
                t->state = JOB_DONE;
            }
            else {
                job_fail(r, job, RESPONDER_HTTP_REJECTED, url,
                         why ? why : "answer rejected");
            }
        }
        break;
    case CURLE_OPERATION_TIMEDOUT:
        job_fail(r, job, RESPONDER_HTTP_TIMEOUT, url,
                 apr_psprintf(r->p, "timed out after %ld ms%s", x->timeout_ms,
                              cut_to_deadline(r, x) ? " (deadline)" : ""));
        if (cut_to_deadline(r, x))
            r->deadline_reached = 1;
        break;
    case CURLE_FILESIZE_EXCEEDED:
    case CURLE_WRITE_ERROR:
        if (x->bad_status
            || (rc == CURLE_FILESIZE_EXCEEDED && code != 200 && code != 0))
            job_fail(r, job, RESPONDER_HTTP_STATUS, url,
                     apr_psprintf(r->p, "HTTP %ld", code));
        else if (x->too_large || rc == CURLE_FILESIZE_EXCEEDED)
            job_fail(r, job, RESPONDER_HTTP_TOO_LARGE, url,
                     apr_psprintf(r->p, "answer larger than %" APR_SIZE_T_FMT
                                  " bytes", x->max));
        else
            job_fail(r, job, RESPONDER_HTTP_INTERNAL, url,
                     x->no_memory ? "out of memory" : err);
        break;
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
        /* also a redirect to file://, ftp://, ... which curl refused */
        job_fail(r, job, RESPONDER_HTTP_BAD_URL, url, err);
        break;
    case CURLE_OUT_OF_MEMORY:
        job_fail(r, job, RESPONDER_HTTP_INTERNAL, url, err);
        break;
    default:
        job_fail(r, job, RESPONDER_HTTP_NETWORK, url, err);
        break;
    }
    slot_release(r, x);
}

/* Collects finished transfers; returns how many. */
static int harvest(run_state *r)
{
    CURLMsg *m;
    int left, n = 0;

    while ((m = curl_multi_info_read(r->multi, &left)) != NULL) {
        char *priv = NULL;
        xfer *x;

        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
        x = (xfer *)priv;
        if (x && x->easy == m->easy_handle) {
            slot_finish(r, x, m->data.result);
            n++;
        }
    }
    return n;
}

/* The overall deadline: whatever still runs is a timeout. */
static void abort_running(run_state *r)
{
    int i;
    for (i = 0; i < r->nslots; i++) {
        xfer *x = &r->slots[i];
        if (x->easy) {
            job_fail(r, &r->jobs[x->jobi], RESPONDER_HTTP_TIMEOUT, x->url,
                     apr_psprintf(r->p, "timed out after %ld ms (deadline)",
                                  x->timeout_ms));
            r->track[x->jobi].state = JOB_WAITING;
            slot_release(r, x);
        }
    }
}

apr_status_t responder_http_run(responder_http_job *jobs, int njobs,
                                const responder_http_config *cfg,
                                apr_pool_t *p)
{
    run_state r;
    apr_status_t rv = APR_SUCCESS;
    int i;

    if (njobs <= 0)
        return APR_SUCCESS;
    if (!jobs || !cfg || !p)
        return APR_EINVAL;

    memset(&r, 0, sizeof(r));
    r.jobs = jobs;
    r.njobs = njobs;
    r.cfg = cfg;
    r.p = p;
    r.timeout_ms = cfg->exchange_timeout_ms > 0 ? cfg->exchange_timeout_ms
                                                : DEFAULT_TIMEOUT_MS;
    r.max_size = cfg->max_size > 0 ? cfg->max_size : DEFAULT_MAX_SIZE;
    r.per_host = cfg->max_per_host > 0 ? cfg->max_per_host : 0;
    r.nslots = cfg->max_parallel > 0 ? cfg->max_parallel : DEFAULT_PARALLEL;
    if (r.nslots > njobs)
        r.nslots = njobs;

    for (i = 0; i < njobs; i++) {
        responder_http_job *j = &jobs[i];
        j->error = RESPONDER_HTTP_OK;
        j->message = NULL;
        j->url = NULL;
        j->http_status = 0;
        j->used_post = 0;
        j->body = NULL;
        j->body_len = 0;
        j->attempts = 0;
    }

    if (apr_pool_create(&r.scratch, p) != APR_SUCCESS) {
        r.scratch = NULL;
        rv = APR_ENOMEM;
        goto cleanup;
    }
    r.track = apr_pcalloc(r.scratch, sizeof(*r.track) * njobs);
    r.slots = apr_pcalloc(r.scratch, sizeof(*r.slots) * r.nslots);
    r.hosts = apr_array_make(r.scratch, 8, sizeof(host_count));
    for (i = 0; i < njobs; i++)
        r.track[i].host = -1;

    r.multi = curl_multi_init();
    if (!r.multi) {
        rv = APR_ENOMEM;
        goto cleanup;
    }
    curl_multi_setopt(r.multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)r.nslots);
    if (r.per_host > 0)
        curl_multi_setopt(r.multi, CURLMOPT_MAX_HOST_CONNECTIONS,
                          (long)r.per_host);
    curl_multi_setopt(r.multi, CURLMOPT_MAXCONNECTS, (long)r.nslots);

    for (;;) {
        int running = 0;
        CURLMcode mc;
        long wait = POLL_MAX_MS;

        fill_slots(&r);
        if (r.active == 0)
            break;           /* every job is done */
        mc = curl_multi_perform(r.multi, &running);
        if (mc != CURLM_OK) {
            rv = APR_EGENERAL;
            goto cleanup;
        }
        if (harvest(&r) > 0)
            continue;        /* refill the freed slots before waiting */
        if (deadline_passed(&r)) {
            abort_running(&r);
            continue;        /* fill_slots ends the waiting jobs */
        }
        if (cfg->deadline_ms > 0) {
            long long left = deadline_left(&r);
            if (left < wait)
                wait = (long)(left > 0 ? left : 0) + 1;
        }
        mc = curl_multi_poll(r.multi, NULL, 0, (int)wait, NULL);
        if (mc != CURLM_OK) {
            rv = APR_EGENERAL;
            goto cleanup;
        }
    }

cleanup:
    /* The one exit: whatever is still held goes, whatever the path. */
    if (r.slots) {
        for (i = 0; i < r.nslots; i++)
            slot_release(&r, &r.slots[i]);
    }
    if (r.multi)
        curl_multi_cleanup(r.multi);
    for (i = 0; i < njobs; i++) {
        if (!r.track || r.track[i].state != JOB_DONE) {
            jobs[i].error = RESPONDER_HTTP_INTERNAL;
            jobs[i].message = "responder_http: the transfer loop failed";
        }
    }
    if (r.scratch)
        apr_pool_destroy(r.scratch);
    return rv;
}
