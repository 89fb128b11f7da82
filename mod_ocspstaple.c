/* mod_ocspstaple: OCSP stapling for mod_ssl through httpd's OCSP provider
 * hooks. This file holds the module's shape: directives, configuration
 * merging, hook registration and the two provider hooks. */
#define OS_MODULE_FILE
#include "mod_ocspstaple.h"
#include "ocspstaple_staple.h"
#include "ocspstaple_exchange.h"
#include "ocspstaple_store.h"
#include "ocspstaple_startup.h"
#include "ocspstaple_preverify.h"
#include "ocspstaple_fetch.h"
#include "ocspstaple_file.h"
#include "ocspstaple_carry.h"
#include "ocspstaple_refresh.h"
#include "ocspstaple_status.h"

#include <http_main.h>
#include <http_protocol.h>
#include <ap_mpm.h>
#include <mpm_common.h>
#include <http_core.h>
#include <apr_strings.h>

#include "config_values.h"

static void *os_create_server_config(apr_pool_t *p, server_rec *s)
{
    os_srv_conf *sc = apr_pcalloc(p, sizeof(*sc));
    sc->enabled = OS_UNSET;
    sc->ssl_use_stapling = OS_UNSET;
    if (!s->is_virtual) {
        /* The main server's config carries the server-wide settings and the
         * runtime of this configuration cycle; vhosts point at it. */
        os_global *g = apr_pcalloc(p, sizeof(*g));
        g->pool = p;
        g->s = s;
        g->cache_provider_name = "shmcb";
        refresh_policy_default(&g->policy);
        g->responder_timeout = 10;
        g->startup_timeout = 5;
        g->max_response_size = STAPLE_MAX_DER;
        g->certs_by_id = apr_hash_make(p);
        g->certs = apr_array_make(p, 16, sizeof(os_cert *));
        sc->g = g;
    }
    return sc;
}

static void *os_merge_server_config(apr_pool_t *p, void *basev, void *addv)
{
    os_srv_conf *base = basev, *add = addv;
    os_srv_conf *sc = apr_pcalloc(p, sizeof(*sc));
    sc->g = add->g ? add->g : base->g;
    sc->enabled = add->enabled != OS_UNSET ? add->enabled : base->enabled;
    sc->ssl_use_stapling = add->ssl_use_stapling != OS_UNSET
                           ? add->ssl_use_stapling : base->ssl_use_stapling;
    sc->responder_url = add->responder_url ? add->responder_url
                                           : base->responder_url;
    sc->files = add->files ? add->files : base->files;
    return sc;
}

os_srv_conf *os_conf(server_rec *s)
{
    return ap_get_module_config(s->module_config, &ocspstaple_module);
}

/* "extending SSLUseStapling": OCSPStaple decides when given, otherwise
 * SSLUseStapling does. */
int os_vhost_enabled(const os_srv_conf *sc)
{
    if (sc->enabled != OS_UNSET) {
        return sc->enabled;
    }
    return sc->ssl_use_stapling == 1;
}

/* ---- directives ------------------------------------------------------ */

static const char *bad_value(cmd_parms *cmd, const char *value,
                             const char *why)
{
    return apr_psprintf(cmd->pool, "%s: invalid value '%s': %s",
                        cmd->cmd->name, value, why);
}

/* "off" (NULL) or a path, relative to ServerRoot. */
static const char *path_or_off(cmd_parms *cmd, const char *v,
                               const char **out, const char *what)
{
    if (!strcasecmp(v, "off")) {
        *out = NULL;
        return NULL;
    }
    if (!*v || !(*out = ap_server_root_relative(cmd->pool, v))) {
        return bad_value(cmd, v, apr_psprintf(cmd->pool, "expects the path "
                         "of %s, or \"off\"", what));
    }
    return NULL;
}

static os_global *global_of(cmd_parms *cmd, const char **err)
{
    *err = ap_check_cmd_context(cmd, GLOBAL_ONLY);
    return *err ? NULL : os_conf(cmd->server)->g;
}

static const char *cmd_staple(cmd_parms *cmd, void *dc, const char *v)
{
    os_srv_conf *sc = os_conf(cmd->server);
    const char *why = cv_parse_on_off(v, &sc->enabled);
    return why ? bad_value(cmd, v, why) : NULL;
}

/* mod_ssl keeps its configuration private; we observe SSLUseStapling by
 * declaring it too and declining. httpd calls every module's handler for a
 * directive until one returns an error, in any LoadModule order, so
 * mod_ssl's handler runs as well (design section 2). */
static const char *cmd_ssl_use_stapling(cmd_parms *cmd, void *dc, int flag)
{
    os_conf(cmd->server)->ssl_use_stapling = flag ? 1 : 0;
    return DECLINE_CMD;
}

static const char *cmd_responder_url(cmd_parms *cmd, void *dc, const char *v)
{
    const char *why = cv_parse_http_url(v, cmd->pool);
    if (why) {
        return bad_value(cmd, v, why);
    }
    os_conf(cmd->server)->responder_url = v;
    return NULL;
}

/* OCSPStapleFile path...: each file is matched to its certificate by the
 * CertID inside, so the order does not matter. */
static const char *cmd_file(cmd_parms *cmd, void *dc, const char *v)
{
    os_srv_conf *sc = os_conf(cmd->server);
    const char *path = *v ? ap_server_root_relative(cmd->pool, v) : NULL;
    if (!path) {
        return bad_value(cmd, v, "expects the path of a DER OCSP response");
    }
    if (!sc->files) {
        sc->files = apr_array_make(cmd->pool, 2, sizeof(const char *));
    }
    APR_ARRAY_PUSH(sc->files, const char *) = path;
    return NULL;
}

/* OCSPStapleNotify program: run on each state change of a certificate. */
static const char *cmd_notify(cmd_parms *cmd, void *dc, const char *v)
{
    const char *err;
    os_global *g = global_of(cmd, &err);
    if (!g) {
        return err;
    }
    return path_or_off(cmd, v, &g->notify_cmd, "a program");
}

static const char *cmd_cache(cmd_parms *cmd, void *dc, const char *v)
{
    const char *err, *why, *name, *args;
    os_global *g = global_of(cmd, &err);
    if (!g) {
        return err;
    }
    if ((why = cv_parse_cache_spec(v, &name, &args, cmd->pool))) {
        return bad_value(cmd, v, why);
    }
    if (!ap_lookup_provider(AP_SOCACHE_PROVIDER_GROUP, name,
                            AP_SOCACHE_PROVIDER_VERSION)) {
        apr_array_header_t *names = ap_list_provider_names(cmd->pool,
            AP_SOCACHE_PROVIDER_GROUP, AP_SOCACHE_PROVIDER_VERSION);
        const char *all = names && names->nelts
                          ? apr_array_pstrcat(cmd->pool, names, ',') : "";
        return bad_value(cmd, v, apr_psprintf(cmd->pool,
            "no socache provider '%s' is loaded (LoadModule "
            "mod_socache_%s before this line; loaded: %s)", name, name,
            *all ? all : "none"));
    }
    if (strcmp(name, "shmcb")
        && (((const ap_socache_provider_t *)ap_lookup_provider(
                AP_SOCACHE_PROVIDER_GROUP, name, AP_SOCACHE_PROVIDER_VERSION))
            ->flags & AP_SOCACHE_FLAG_NOTMPSAFE)) {
        return bad_value(cmd, v, apr_psprintf(cmd->pool, "'%s' is a cache "
            "of this host only, and responses already live in this host's "
            "shared memory; use shmcb (the default, nothing shared), or "
            "memcache:host:port or redis:host:port to share responses "
            "between servers", name));
    }
    g->cache_provider_name = name;
    g->cache_args = args;
    return NULL;
}

static const char *cmd_store(cmd_parms *cmd, void *dc, const char *v)
{
    const char *err;
    os_global *g = global_of(cmd, &err);
    if (!g) {
        return err;
    }
    g->store_set = 1;
    return path_or_off(cmd, v, &g->store_dir, "a directory");
}

static const char *cmd_refresh(cmd_parms *cmd, void *dc, const char *v)
{
    const char *err, *why;
    os_global *g = global_of(cmd, &err);
    if (!g) {
        return err;
    }
    if ((why = cv_parse_refresh(v, &g->policy.pct, &g->policy.age))) {
        return bad_value(cmd, v, why);
    }
    return NULL;
}

/* Server-wide durations; field is an offset into os_global. */
static const char *cmd_seconds(cmd_parms *cmd, const char *v, long min,
                               long max, apr_size_t field)
{
    const char *err, *why;
    os_global *g = global_of(cmd, &err);
    if (!g) {
        return err;
    }
    if ((why = cv_parse_seconds(v, min, max, (long *)((char *)g + field)))) {
        return bad_value(cmd, v, apr_psprintf(cmd->pool,
                         "%s; from %ld to %ld seconds", why, min, max));
    }
    return NULL;
}

static const char *cmd_responder_timeout(cmd_parms *cmd, void *dc,
                                         const char *v)
{
    return cmd_seconds(cmd, v, 1, 300,
                       APR_OFFSETOF(os_global, responder_timeout));
}

static const char *cmd_startup_timeout(cmd_parms *cmd, void *dc,
                                       const char *v)
{
    return cmd_seconds(cmd, v, 0, 300,
                       APR_OFFSETOF(os_global, startup_timeout));
}

static const char *cmd_proxy(cmd_parms *cmd, void *dc, const char *v)
{
    const char *err, *why;
    os_global *g = global_of(cmd, &err);
    if (!g) {
        return err;
    }
    if (strncasecmp(v, "http://", 7)
        || (why = cv_parse_http_url(v, cmd->pool))) {
        return bad_value(cmd, v, "expects an http:// proxy URL "
                         "(\"http://proxy.example:3128\")");
    }
    g->proxy = v;
    return NULL;
}

static const char *cmd_max_size(cmd_parms *cmd, void *dc, const char *v)
{
    const char *err, *why;
    long n;
    os_global *g = global_of(cmd, &err);
    if (!g) {
        return err;
    }
    if ((why = cv_parse_bytes(v, 1024, STAPLE_MAX_DER, &n))) {
        return bad_value(cmd, v, apr_psprintf(cmd->pool,
                         "%s; from 1024 to %d bytes: a larger staple breaks "
                         "TLS 1.2 handshakes with OpenSSL clients, which "
                         "take a CertificateStatus message of at most 16384 "
                         "bytes", why, STAPLE_MAX_DER));
    }
    g->max_response_size = (apr_size_t)n;
    return NULL;
}

static const char *cmd_serve_expired(cmd_parms *cmd, void *dc, const char *v)
{
    const char *err, *why;
    os_global *g = global_of(cmd, &err);
    if (!g) {
        return err;
    }
    if ((why = cv_parse_off_or_seconds(v, 30L * 86400, &g->serve_expired))) {
        return bad_value(cmd, v, apr_psprintf(cmd->pool,
                         "%s, at most 30 days", why));
    }
    return NULL;
}

static const command_rec os_cmds[] = {
    AP_INIT_TAKE1("OCSPStaple", cmd_staple, NULL, RSRC_CONF,
        "on|off: whether mod_ocspstaple staples this vhost's certificates "
        "(default: as SSLUseStapling)"),
    AP_INIT_TAKE1("OCSPStapleResponderURL", cmd_responder_url, NULL, RSRC_CONF,
        "URL of the OCSP responder, overriding the certificates' AIA"),
    AP_INIT_ITERATE("OCSPStapleFile", cmd_file, NULL, RSRC_CONF,
        "DER OCSP response file(s) supplied by the operator, matched to "
        "their certificates by CertID"),
    AP_INIT_TAKE1("OCSPStapleNotify", cmd_notify, NULL, RSRC_CONF,
        "program run on each state change of a certificate (event, id, "
        "subject, serial, reason), or off"),
    AP_INIT_TAKE1("OCSPStapleCache", cmd_cache, NULL, RSRC_CONF,
        "socache provider[:args] holding the current responses"),
    AP_INIT_TAKE1("OCSPStapleStore", cmd_store, NULL, RSRC_CONF,
        "directory for the persistent copy of the responses, or off"),
    AP_INIT_TAKE1("OCSPStapleRefresh", cmd_refresh, NULL, RSRC_CONF,
        "when to refresh: a share of the validity (50%) or an age (6h)"),
    AP_INIT_TAKE1("OCSPStapleResponderTimeout", cmd_responder_timeout, NULL,
        RSRC_CONF, "seconds for one responder exchange"),
    AP_INIT_TAKE1("OCSPStapleStartupTimeout", cmd_startup_timeout, NULL,
        RSRC_CONF, "seconds a (re)start may wait for the prefetch"),
    AP_INIT_TAKE1("OCSPStapleProxy", cmd_proxy, NULL, RSRC_CONF,
        "HTTP proxy for responder requests"),
    AP_INIT_TAKE1("OCSPStapleMaxResponseSize", cmd_max_size, NULL, RSRC_CONF,
        "largest responder answer accepted, in bytes"),
    AP_INIT_TAKE1("OCSPStapleServeExpired", cmd_serve_expired, NULL, RSRC_CONF,
        "off, or how long an expired response may still be stapled"),
    AP_INIT_FLAG("SSLUseStapling", cmd_ssl_use_stapling, NULL, RSRC_CONF,
        "observed by mod_ocspstaple, handled by mod_ssl"),
    { NULL }
};

/* ---- hooks ------------------------------------------------------------ */

/* One certificate mod_ssl primes: registered, handed to the early store
 * verifier. Parsing waits for post_config (os_certs_parse), where it is
 * split across the CPUs: at 10,000 certificates it is most of what the
 * parent adds to a start. */
static int os_prime_cert(server_rec *s, os_srv_conf *sc, os_global *g,
                         const char *id, apr_size_t id_len, const char *pem)
{
    os_cert *cert;
    const char *name;

    name = apr_psprintf(g->pool, "%s:%u", s->server_hostname ?
                        s->server_hostname : "(unnamed)",
                        s->addrs ? s->addrs->host_port : s->port);
    cert = apr_hash_get(g->certs_by_id, id, (apr_ssize_t)id_len);
    if (cert) {
        APR_ARRAY_PUSH(cert->vhosts, const char *) = name;
        APR_ARRAY_PUSH(cert->servers, server_rec *) = s;
        ap_log_error(APLOG_MARK, APLOG_TRACE1, 0, s,
                     OSLOG(0102) "certificate %s also used by %s",
                     cert->id_hex, name);
        return OK;
    }
    cert = apr_pcalloc(g->pool, sizeof(*cert));
    cert->id = apr_pmemdup(g->pool, id, id_len);
    cert->id_len = id_len;
    {
        char *h = apr_palloc(g->pool, id_len * 2 + 1);
        ap_bin2hex(id, id_len, h);
        cert->id_hex = h;
    }
    if (!g->prime_pool) {
        /* The PEM texts are needed until post_config has parsed them. */
        apr_pool_create(&g->prime_pool, g->pool);
    }
    cert->pem = apr_pstrdup(g->prime_pool, pem);
    cert->vhosts = apr_array_make(g->pool, 2, sizeof(const char *));
    APR_ARRAY_PUSH(cert->vhosts, const char *) = name;
    cert->servers = apr_array_make(g->pool, 2, sizeof(server_rec *));
    APR_ARRAY_PUSH(cert->servers, server_rec *) = s;
    cert->files = apr_array_make(g->pool, 0, sizeof(os_staple_file *));
    if (sc->responder_url) {
        cert->urls = apr_array_make(g->pool, 1, sizeof(const char *));
        APR_ARRAY_PUSH(cert->urls, const char *) = sc->responder_url;
    }
    cert->index = g->certs->nelts;
    APR_ARRAY_PUSH(g->certs, os_cert *) = cert;
    apr_hash_set(g->certs_by_id, cert->id, (apr_ssize_t)id_len, cert);
    os_preverify_feed(g, s, cert, cert->pem);
    return OK;
}

/* What os_certs_parse found for one certificate. */
typedef struct {
    os_global *g;
    const char **errs;          /* by index: why it was dropped, or NULL */
} os_parse_all;

static void os_certs_parse_range(void *data, int from, int to, apr_pool_t *p)
{
    os_parse_all *all = data;
    /* Certificates of one CA share its parsed issuer, per range. */
    apr_hash_t *issuers = apr_hash_make(p);
    int i;

    for (i = from; i < to; ++i) {
        os_cert *cert = APR_ARRAY_IDX(all->g->certs, i, os_cert *);
        const char *err;
        if (ocsp_cert_from_pem_shared(&cert->info, cert->pem, issuers, p,
                                      &err) != APR_SUCCESS) {
            all->errs[i] = apr_psprintf(p, "cannot read the certificate "
                                        "mod_ssl gave us (%s)", err);
            continue;
        }
        if (!cert->urls) {
            cert->urls = cert->info->ocsp_urls;
        }
        if (cert->urls->nelts > 0
            && ocsp_cert_request_der(cert->info, &cert->request,
                                     &cert->request_len, p) != APR_SUCCESS) {
            all->errs[i] = apr_psprintf(p, "cannot build an OCSP request "
                                        "for %s", cert->info->subject);
        }
    }
}

/* post_config: every primed certificate parsed (in parallel, on pools of
 * the configuration pool's), its request built; one that cannot be is
 * dropped (logged) and the rest renumbered. Returns how many are left. */
static int os_certs_parse(os_global *g, server_rec *s)
{
    os_parse_all all;
    int i, n = g->certs->nelts, kept = 0;

    all.g = g;
    all.errs = apr_pcalloc(g->pool, sizeof(*all.errs) * (apr_size_t)(n + 1));
    os_parallel(n, os_certs_parse_range, &all, g->pool);
    for (i = 0; i < n; ++i) {
        os_cert *cert = APR_ARRAY_IDX(g->certs, i, os_cert *);
        server_rec *vs = APR_ARRAY_IDX(cert->servers, 0, server_rec *);
        const char *name = APR_ARRAY_IDX(cert->vhosts, 0, const char *);
        if (all.errs[i]) {
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, vs, OSLOG(0103)
                         "%s: %s; not stapled", name, all.errs[i]);
            apr_hash_set(g->certs_by_id, cert->id, (apr_ssize_t)cert->id_len,
                         NULL);
            continue;
        }
        cert->index = kept;
        APR_ARRAY_IDX(g->certs, kept++, os_cert *) = cert;
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, vs, OSLOG(0105)
                     "%s: stapling %s (serial %s, %d responder URL%s)%s",
                     name, cert->info->subject, cert->info->serial_hex,
                     cert->urls->nelts, cert->urls->nelts == 1 ? "" : "s",
                     cert->info->must_staple ? ", Must-Staple" : "");
    }
    g->certs->nelts = kept;
    if (g->prime_pool) {
        apr_pool_destroy(g->prime_pool);
        g->prime_pool = NULL;
        for (i = 0; i < kept; ++i) {
            APR_ARRAY_IDX(g->certs, i, os_cert *)->pem = NULL;
        }
    }
    return kept;
}

/* The prime hook; its time is told in the start summary (OCSPS0071). */
static int os_prime(server_rec *s, apr_pool_t *p, const char *id,
                    apr_size_t id_len, const char *pem)
{
    os_srv_conf *sc = os_conf(s);
    os_global *g = sc->g;
    apr_time_t t0;
    int rc;

    if (!g || !os_vhost_enabled(sc)) {
        return DECLINED;
    }
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) {
        /* mod_ssl's dry run: its result is thrown away, do no work. */
        return OK;
    }
    t0 = apr_time_now();
    rc = os_prime_cert(s, sc, g, id, id_len, pem);
    g->prime_time += apr_time_now() - t0;
    return rc;
}

static int os_get_resp(server_rec *s, conn_rec *c, const char *id,
                       apr_size_t id_len, ap_ssl_ocsp_copy_resp *cb,
                       void *userdata)
{
    os_srv_conf *sc = os_conf(s);
    os_global *g = sc->g;
    os_cert *cert;

    if (!g || !g->locals || !os_vhost_enabled(sc)) {
        return DECLINED;
    }
    cert = apr_hash_get(g->certs_by_id, id, (apr_ssize_t)id_len);
    if (!cert) {
        return DECLINED;
    }
    os_staple_serve(g, cert, c, cb, userdata);
    return OK;
}

static int os_post_config(apr_pool_t *pconf, apr_pool_t *plog,
                          apr_pool_t *ptemp, server_rec *s)
{
    os_global *g = os_conf(s)->g;
    apr_time_t t0 = apr_time_now();

    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG
        || ap_state_query(AP_SQ_RUN_MODE) != AP_SQ_RM_NORMAL) {
        return OK;
    }
    if (g->certs->nelts == 0 || os_certs_parse(g, s) == 0) {
        ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, OSLOG(0110)
                     "no certificates to staple");
        os_preverify_stop(g);
        return OK;
    }
    /* As root: the operator's OCSPStapleFiles checked (configuration, like
     * mod_ssl's certificates), shared memory, the cache provider's instance
     * (no connection yet) and the store directory. Everything that reads a file in the
     * store, a responder's or a cache's bytes runs in the helper, as the
     * User (design section 4.0). */
    if (responder_http_global_init() != APR_SUCCESS
        || os_files_match(g, ptemp, s) != APR_SUCCESS
        || os_staple_post_config(g, pconf, s) != APR_SUCCESS
        || os_exchange_create(g, pconf, ptemp, s) != APR_SUCCESS) {
        return !OK;
    }
    os_store_prepare(g, pconf, s);
    g->prepare_time = apr_time_now() - t0;
    os_startup_run(g, ptemp, s);
    os_carry_restore(g, s);
    os_carry_register(g, pconf, s);
    if (os_refresh_start(g, pconf, s) != APR_SUCCESS) {
        return !OK;
    }
    return OK;
}

static void os_child_init(apr_pool_t *p, server_rec *s)
{
    os_global *g = os_conf(s)->g;
    if (g && g->slots) {
        os_staple_child_init(g, p, s);
        os_refresh_child_init(g, p);
    }
}

static void os_register_hooks(apr_pool_t *p)
{
    static const char *const after_ssl[] = { "mod_ssl.c", NULL };

    ap_hook_post_config(os_post_config, after_ssl, NULL, APR_HOOK_MIDDLE);
    ap_hook_child_init(os_child_init, NULL, NULL, APR_HOOK_MIDDLE);
    /* Before mod_md (APR_HOOK_MIDDLE): where both could serve a
     * certificate, the first provider to say OK wins, and that is us for
     * the vhosts we are enabled on. */
    ap_hook_ssl_ocsp_prime_hook(os_prime, NULL, NULL, APR_HOOK_FIRST);
    ap_hook_ssl_ocsp_get_resp_hook(os_get_resp, NULL, NULL, APR_HOOK_FIRST);
    os_status_register_hooks();
}

AP_DECLARE_MODULE(ocspstaple) = {
    STANDARD20_MODULE_STUFF,
    NULL,                       /* per-directory config */
    NULL,
    os_create_server_config,
    os_merge_server_config,
    os_cmds,
    os_register_hooks,
    AP_MODULE_FLAG_NONE
};
