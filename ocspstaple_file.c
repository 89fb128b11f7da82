/* OCSPStapleFile at start (ocspstaple_file.h). */
#include "ocspstaple_file.h"
#include "ocspstaple_store.h"

#include <apr_strings.h>
#include <apr_hash.h>

/* Verifies der for cert as at start; NULL when it matches cert (valid, or
 * only out of its time: a cron job may be late, and the file is re-read
 * when it changes), else why not. *mismatch: it is for another
 * certificate. */
static const char *os_file_check(os_global *g, const os_cert *cert,
                                 const unsigned char *der, apr_size_t len,
                                 int *mismatch, apr_pool_t *p)
{
    ocsp_verify_params params;
    ocsp_verify_result res;

    ocsp_verify_params_default(&params);
    params.max_size = g->max_response_size;
    params.expired_grace = g->serve_expired;
    ocsp_verify_response(cert->info, der, len, &params, &res, p);
    *mismatch = res.error == OCSP_VERIFY_NO_MATCH;
    switch (res.error) {
    case OCSP_VERIFY_OK:
        return NULL;
    case OCSP_VERIFY_EXPIRED:
    case OCSP_VERIFY_NOT_YET_VALID:
    case OCSP_VERIFY_TOO_OLD:
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, g->s, OSLOG(0161)
                     "%s: the response in the OCSPStapleFile is not valid "
                     "now (%s); it is used once it is replaced",
                     cert->info->subject, res.message);
        return NULL;
    default:
        return res.message;
    }
}

/* Whether a vhost of cert asks to fetch as well as read a file: an
 * OCSPStapleResponderURL, or an explicit "OCSPStaple on". */
static int os_also_fetch(const os_cert *cert)
{
    int i;
    for (i = 0; i < cert->servers->nelts; ++i) {
        const os_srv_conf *sc = os_conf(APR_ARRAY_IDX(cert->servers, i,
                                                      server_rec *));
        if (sc->responder_url || sc->enabled == 1) {
            return 1;
        }
    }
    return 0;
}

/* Matches the file at path to the certificates of vs; *why says why none
 * matched. A file that cannot be read is an error at once. */
static apr_status_t os_file_match_one(os_global *g, server_rec *vs,
                                      const char *path, int *matched_out,
                                      const char **why_out, apr_pool_t *ptemp)
{
    unsigned char *der;
    apr_size_t len;
    struct stat st;
    const char *why = NULL, *last = "no certificate of this virtual host";
    int i, k, matched = 0, mismatch;
    apr_status_t rv = os_file_read_safe(path, g->max_response_size, &der,
                                        &len, &st, &why, ptemp);

    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, vs, OSLOG(0160)
                     "OCSPStapleFile %s: %s", path,
                     why ? why : "no such file");
        return APR_EGENERAL;
    }
    for (i = 0; i < g->certs->nelts; ++i) {
        os_cert *cert = APR_ARRAY_IDX(g->certs, i, os_cert *);
        int ours = 0;
        for (k = 0; k < cert->servers->nelts && !ours; ++k) {
            ours = APR_ARRAY_IDX(cert->servers, k, server_rec *) == vs;
        }
        if (!ours) {
            continue;
        }
        if ((why = os_file_check(g, cert, der, len, &mismatch, ptemp))) {
            if (!mismatch || !strcmp(last, "no certificate of this virtual "
                                     "host")) {
                last = why;
            }
            continue;
        }
        for (k = 0; k < cert->files->nelts; ++k) {
            if (!strcmp(APR_ARRAY_IDX(cert->files, k, os_staple_file *)->path,
                        path)) {
                break;
            }
        }
        if (k == cert->files->nelts) {
            os_staple_file *f = apr_pcalloc(g->pool, sizeof(*f));
            f->path = apr_pstrdup(g->pool, path);
            /* What the workers compare with: the start-up helper reads
             * every file anyway, the refresher only what changes later. */
            f->mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL
                          + st.st_mtim.tv_nsec;
            f->size = (long long)st.st_size;
            f->ino = (long long)st.st_ino;
            APR_ARRAY_PUSH(cert->files, os_staple_file *) = f;
        }
        matched = 1;
    }
    *matched_out = matched;
    *why_out = last;
    return APR_SUCCESS;
}

apr_status_t os_files_match(os_global *g, apr_pool_t *ptemp, server_rec *s)
{
    /* path -> why it matched no certificate yet ("" once one matched): a
     * file set in the main server is inherited by every vhost and needs to
     * match a certificate of one of them only. */
    apr_hash_t *unmatched = apr_hash_make(ptemp);
    apr_hash_index_t *hi;
    server_rec *vs;
    int i;

    for (vs = s; vs; vs = vs->next) {
        const os_srv_conf *sc = os_conf(vs);
        if (!sc->files || !os_vhost_enabled(sc)) {
            continue;
        }
        for (i = 0; i < sc->files->nelts; ++i) {
            const char *path = APR_ARRAY_IDX(sc->files, i, const char *);
            const char *why, *before;
            int matched;
            if (os_file_match_one(g, vs, path, &matched, &why, ptemp)
                != APR_SUCCESS) {
                return APR_EGENERAL;
            }
            before = apr_hash_get(unmatched, path, APR_HASH_KEY_STRING);
            if (matched || (before && !*before)) {
                apr_hash_set(unmatched, path, APR_HASH_KEY_STRING, "");
            }
            else {
                apr_hash_set(unmatched, path, APR_HASH_KEY_STRING,
                             apr_psprintf(ptemp, "%s (%s)", why,
                                          vs->server_hostname
                                          ? vs->server_hostname : "?"));
            }
        }
    }
    for (hi = apr_hash_first(ptemp, unmatched); hi; hi = apr_hash_next(hi)) {
        const char *why = apr_hash_this_val(hi);
        if (*why) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, OSLOG(0162)
                         "OCSPStapleFile %s is not a valid OCSP response for "
                         "a certificate of its virtual host: %s",
                         (const char *)apr_hash_this_key(hi), why);
            return APR_EGENERAL;
        }
    }
    for (i = 0; i < g->certs->nelts; ++i) {
        os_cert *cert = APR_ARRAY_IDX(g->certs, i, os_cert *);
        cert->fetch = cert->urls->nelts > 0
                      && (cert->files->nelts == 0 || os_also_fetch(cert));
    }
    return APR_SUCCESS;
}
