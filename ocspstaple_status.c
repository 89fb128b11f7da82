/* What admins see (design section 5), the httpd side: a section in
 * mod_status's server-status, the ocspstaple-status handler (JSON, and
 * refresh on demand by POST) and the ocspstaple-metrics handler
 * (Prometheus). Every number comes from the shared slots, so whichever
 * child answers, the answer is the same. Rendering is in status_table.c. */
#include "ocspstaple_status.h"
#include "ocspstaple_staple.h"
#include "status_table.h"

#include <string.h>
#include <apr_atomic.h>
#include <apr_optional.h>
#include <apr_optional_hooks.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include <http_request.h>
#include <util_script.h>
#include <jansson.h>
#include <mod_status.h>

#define OS_STATUS_HANDLER  "ocspstaple-status"
#define OS_METRICS_HANDLER "ocspstaple-metrics"
#define OS_JSON_TYPE       "application/json"
#define OS_PROM_TYPE       "text/plain; version=0.0.4; charset=utf-8"
/* A refresh form names a few ids; anything much larger is not one. */
#define OS_FORM_MAX_BYTES  8192
#define OS_FORM_MAX_PAIRS  256

static const char *os_join(apr_pool_t *p, const apr_array_header_t *a,
                           const char *sep)
{
    const char *s = "";
    int i;
    for (i = 0; a && i < a->nelts; ++i) {
        s = apr_pstrcat(p, s, i ? sep : "", APR_ARRAY_IDX(a, i, const char *),
                        NULL);
    }
    return s;
}

/* Where responses come from: the responder URLs it asks (if it does),
 * then "file:" and each OCSPStapleFile. */
static const char *os_sources(apr_pool_t *p, const os_cert *cert)
{
    const char *s = cert->fetch ? os_join(p, cert->urls, " ") : "";
    int i;
    for (i = 0; i < cert->files->nelts; ++i) {
        s = apr_pstrcat(p, s, *s ? " " : "", "file:",
                        APR_ARRAY_IDX(cert->files, i, os_staple_file *)->path,
                        NULL);
    }
    return s;
}

static int os_cs(int cert_status)
{
    switch (cert_status) {
    case V_OCSP_CERTSTATUS_GOOD:    return STATUS_CS_GOOD;
    case V_OCSP_CERTSTATUS_REVOKED: return STATUS_CS_REVOKED;
    case V_OCSP_CERTSTATUS_UNKNOWN: return STATUS_CS_UNKNOWN;
    default:                        return STATUS_CS_NONE;
    }
}

/* Copies every certificate's slot (consistently, through the seqlock)
 * into rep. With no certificates (or none yet), rep is empty but valid. */
static void os_status_snapshot(const os_global *g, apr_pool_t *p,
                               status_report *rep)
{
    int i, k, n;

    memset(rep, 0, sizeof(*rep));
    rep->now = (long long)apr_time_sec(apr_time_now());
    n = g && g->slots && g->certs ? g->certs->nelts : 0;
    if (n > 0) {
        rep->grace = g->serve_expired;
        rep->certs = apr_pcalloc(p, sizeof(status_cert) * (apr_size_t)n);
    }
    for (i = 0; i < n; ++i) {
        const os_cert *cert = APR_ARRAY_IDX(g->certs, i, const os_cert *);
        status_cert *c = &rep->certs[i];
        os_slot s;

        os_slot_read(&g->slots[cert->index], &s);
        c->id_hex = cert->id_hex;
        c->vhosts = os_join(p, cert->vhosts, ", ");
        c->subject = cert->info->subject;
        c->serial = cert->info->serial_hex;
        c->responders = os_sources(p, cert);
        c->last_result = apr_pstrndup(p, s.last_result,
                                      sizeof(s.last_result));
        c->must_staple = cert->info->must_staple;
        c->cert_status = os_cs(s.cert_status);
        c->this_update = s.this_update;
        c->next_update = s.next_update;
        c->next_refresh = s.next_refresh;
        c->last_fetch = s.last_fetch;
        c->last_success = s.last_success;
        c->failures = s.failures;
        c->fetches = s.fetches;
        c->fetch_errors = s.fetch_errors;
        for (k = 0; k < STATUS_ERR_CLASSES; ++k) {
            c->errors[k] = s.errors_by_class[k];
        }
        c->served = s.hs.served;
        c->unserved = s.hs.unserved;
    }
    rep->ncerts = n;
    if (n > 0) {
        rep->host.store_errors = apr_atomic_read32(&g->stats->store_errors);
        rep->host.exchange_errors =
            apr_atomic_read32(&g->stats->exchange_errors);
        rep->host.exchange_down = apr_atomic_read32(&g->stats->exchange_down);
        rep->host.refresher_ticks =
            apr_atomic_read32(&g->stats->refresher_ticks);
    }
    status_report_finish(rep);
}

/* ?state=failing,expiring (or state= repeated): which certificates the
 * rendering lists (status_filter). Other arguments are mod_status's. */
static void os_status_filter(request_rec *r, status_filter *f)
{
    const char *args = r->args;

    memset(f, 0, sizeof(*f));
    while (args && *args) {
        char *pair = ap_getword(r->pool, &args, '&');
        char *key = ap_getword(r->pool, (const char **)&pair, '=');
        if (!strcmp(key, "state")
            && ap_unescape_urlencoded(pair) == OK) {
            if (status_filter_add(f, pair, r->pool)) {
                return;
            }
        }
        else if (!strcmp(key, "state")) {
            f->active = 1;
            f->error = "state= is not correctly URL-encoded";
            return;
        }
    }
}

static os_global *os_status_global(request_rec *r)
{
    os_srv_conf *sc = os_conf(r->server);
    return sc ? sc->g : NULL;
}

/* ---- mod_status ----------------------------------------------------------- */

static int os_status_hook(request_rec *r, int flags)
{
    status_report rep;
    status_buf b;

    os_status_snapshot(os_status_global(r), r->pool, &rep);
    os_status_filter(r, &rep.filter);
    status_buf_init(&b, r->pool);
    if (flags & AP_STATUS_SHORT) {
        status_render_auto(&b, &rep);
    }
    else {
        status_render_html(&b, &rep, !(flags & AP_STATUS_NOTABLE));
    }
    if (b.len) {
        ap_rwrite(status_buf_text(&b), (int)b.len, r);
    }
    return OK;
}

/* ---- handlers ---------------------------------------------------------------- */

/* Sends text (may be NULL: out of memory) with the given status. */
static int os_send(request_rec *r, int status, const char *type,
                   const char *text, apr_size_t len)
{
    if (!text) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, APR_ENOMEM, r, OSLOG(0401)
                      "out of memory rendering %s", r->handler);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    r->status = status;
    ap_set_content_type(r, type);
    /* Status is live data: never let a cache answer for us. */
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    ap_set_content_length(r, (apr_off_t)len);
    ap_rwrite(text, (int)len, r);
    return OK;
}

/* Sends a JSON document; takes the reference to doc. */
static int os_send_json(request_rec *r, int status, json_t *doc)
{
    char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER)
                     : NULL;
    const char *body = text ? apr_pstrcat(r->pool, text, "\n", NULL) : NULL;
    int rv = os_send(r, status, OS_JSON_TYPE, body, body ? strlen(body) : 0);
    free(text);
    json_decref(doc);
    return rv;
}

static int os_json_error(request_rec *r, int status, const char *msg,
                         const char *id)
{
    json_t *doc = id ? json_pack("{s:s, s:s}", "error", msg, "id", id)
                     : json_pack("{s:s}", "error", msg);
    if (!doc && id) {
        /* the id was not UTF-8: do not echo it */
        doc = json_pack("{s:s}", "error", msg);
    }
    return os_send_json(r, status, doc);
}

static const os_cert *os_find_cert(const os_global *g, const char *hex)
{
    int i;
    for (i = 0; g && g->slots && i < g->certs->nelts; ++i) {
        const os_cert *cert = APR_ARRAY_IDX(g->certs, i, const os_cert *);
        if (!strcasecmp(cert->id_hex, hex)) {
            return cert;
        }
    }
    return NULL;
}

/* POST refresh=<id>|all (repeatable): marks the certificates for the
 * watchdog, which fetches them on its next tick (within a second). We
 * answer at once; the new response shows in the status when it came. */
static int os_refresh(request_rec *r, os_global *g)
{
    apr_array_header_t *pairs = NULL;
    char *flag = NULL;
    json_t *scheduled = NULL, *doc = NULL;
    int i, n = g && g->slots ? g->certs->nelts : 0, asked = 0, rv;

    rv = ap_parse_form_data(r, NULL, &pairs, OS_FORM_MAX_PAIRS,
                            OS_FORM_MAX_BYTES);
    if (rv != OK) {
        return os_json_error(r, rv == HTTP_REQUEST_ENTITY_TOO_LARGE
                             ? rv : HTTP_BAD_REQUEST,
                             "cannot read the form", NULL);
    }
    /* First check every value, then schedule: an unknown id changes
     * nothing. */
    flag = apr_pcalloc(r->pool, (apr_size_t)n + 1);
    for (i = 0; pairs && i < pairs->nelts; ++i) {
        ap_form_pair_t *pair = &APR_ARRAY_IDX(pairs, i, ap_form_pair_t);
        char value[130];
        apr_size_t len = sizeof(value) - 1;
        const os_cert *cert;

        if (strcmp(pair->name, "refresh")) {
            continue;
        }
        ++asked;
        if (apr_brigade_flatten(pair->value, value, &len) != APR_SUCCESS) {
            return os_json_error(r, HTTP_BAD_REQUEST, "cannot read the form",
                                 NULL);
        }
        value[len] = '\0';
        if (!strcmp(value, "all")) {
            int k;
            for (k = 0; k < n; ++k) {
                const os_cert *c = APR_ARRAY_IDX(g->certs, k, const os_cert *);
                flag[c->index] |= c->urls->nelts > 0;
            }
            continue;
        }
        if (!(cert = os_find_cert(g, value))) {
            ap_log_rerror(APLOG_MARK, APLOG_DEBUG, 0, r, OSLOG(0402)
                          "refresh: unknown certificate id");
            return os_json_error(r, HTTP_NOT_FOUND, "unknown certificate id",
                                 value);
        }
        if (cert->urls->nelts == 0) {
            return os_json_error(r, HTTP_CONFLICT, "the certificate has no "
                                 "OCSP responder URL", value);
        }
        flag[cert->index] = 1;
    }
    if (!asked) {
        return os_json_error(r, HTTP_BAD_REQUEST, "expected a form "
                             "(application/x-www-form-urlencoded) with "
                             "refresh=<certificate id> or refresh=all", NULL);
    }
    if (!(scheduled = json_array())
        || !(doc = json_pack("{s:O}", "scheduled", scheduled))) {
        json_decref(scheduled);
        return os_send_json(r, HTTP_ACCEPTED, NULL);
    }
    for (i = 0; i < n; ++i) {
        const os_cert *cert = APR_ARRAY_IDX(g->certs, i, const os_cert *);
        if (flag[cert->index]) {
            apr_atomic_set32(&g->slots[cert->index].refresh_requested, 1);
            json_array_append_new(scheduled, json_string(cert->id_hex));
        }
    }
    ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, OSLOG(0403)
                  "refresh of %d certificate%s requested",
                  (int)json_array_size(scheduled),
                  json_array_size(scheduled) == 1 ? "" : "s");
    json_decref(scheduled);
    return os_send_json(r, HTTP_ACCEPTED, doc);
}

static int os_status_handler(request_rec *r)
{
    int metrics;
    os_global *g;
    status_report rep;
    status_buf b;
    int rv, ok;

    if (!r->handler) {
        return DECLINED;
    }
    if (!strcmp(r->handler, OS_STATUS_HANDLER)) {
        metrics = 0;
    }
    else if (!strcmp(r->handler, OS_METRICS_HANDLER)) {
        metrics = 1;
    }
    else {
        return DECLINED;
    }
    g = os_status_global(r);
    r->allowed = (AP_METHOD_BIT << M_GET)
                 | (metrics ? 0 : (AP_METHOD_BIT << M_POST));
    if (!metrics && r->method_number == M_POST) {
        return os_refresh(r, g);
    }
    if (r->method_number != M_GET) {
        /* GET (and HEAD) only read; POST is the one way to change
         * anything, so a crawler or a prefetching browser never does. */
        apr_table_setn(r->headers_out, "Allow",
                       metrics ? "GET, HEAD" : "GET, HEAD, POST");
        if (metrics) {
            static const char msg[] = "method not allowed\n";
            return os_send(r, HTTP_METHOD_NOT_ALLOWED, "text/plain", msg,
                           sizeof(msg) - 1);
        }
        return os_json_error(r, HTTP_METHOD_NOT_ALLOWED,
                             "method not allowed", NULL);
    }
    if ((rv = ap_discard_request_body(r)) != OK) {
        return rv;
    }
    os_status_snapshot(g, r->pool, &rep);
    os_status_filter(r, &rep.filter);
    if (rep.filter.error) {
        if (metrics) {
            const char *msg = apr_pstrcat(r->pool, rep.filter.error, "\n",
                                          NULL);
            return os_send(r, HTTP_BAD_REQUEST, "text/plain", msg,
                           strlen(msg));
        }
        return os_json_error(r, HTTP_BAD_REQUEST, rep.filter.error, NULL);
    }
    status_buf_init(&b, r->pool);
    if (metrics) {
        status_render_prometheus(&b, &rep);
        ok = 1;
    }
    else {
        ok = status_render_json(&b, &rep) == 0;
    }
    return os_send(r, HTTP_OK, metrics ? OS_PROM_TYPE : OS_JSON_TYPE,
                   ok ? status_buf_text(&b) : NULL, b.len);
}

void os_status_register_hooks(void)
{
    /* Optional: without mod_status loaded the hook is simply never run. */
    APR_OPTIONAL_HOOK(ap, status_hook, os_status_hook, NULL, NULL,
                      APR_HOOK_MIDDLE);
    ap_hook_handler(os_status_handler, NULL, NULL, APR_HOOK_MIDDLE);
}
