/* The persistent copy of every verified response: one file per certificate
 * in OCSPStapleStore, written atomically (temporary file, fsync, rename)
 * and owned by the User the refreshing child runs as. */
#include "mod_ocspstaple.h"

#include <unistd.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_file_info.h>
#include <mod_unixd.h>
#include <unixd.h>

#define OS_STORE_SUFFIX ".ocsp"

static const char *os_store_path(os_global *g, const os_cert *cert,
                                 apr_pool_t *p)
{
    return apr_pstrcat(p, g->store_dir, "/", cert->id_hex, OS_STORE_SUFFIX,
                       NULL);
}

/* As root (the parent at start), hand files to the User so the refreshing
 * child can replace them later. */
static void os_store_chown(const char *path)
{
    if (geteuid() == 0 && ap_unixd_config.user_id != 0) {
        if (chown(path, ap_unixd_config.user_id, ap_unixd_config.group_id)) {
            /* reported by the write that follows, if it matters */
        }
    }
}

apr_status_t os_store_prepare(os_global *g, apr_pool_t *p, server_rec *s)
{
    apr_status_t rv;
    if (!g->store_set) {
        /* httpd 2.4 has no state directory of its own; this mirrors the
         * DefaultStateDir of later versions. Debian's ocspstaple.conf names
         * /var/lib/apache2/ocspstaple instead. */
        g->store_dir = ap_server_root_relative(p, "state/ocspstaple");
    }
    if (!g->store_dir) {
        return APR_SUCCESS;
    }
    rv = apr_dir_make_recursive(g->store_dir, APR_FPROT_UREAD | APR_FPROT_UWRITE
                                | APR_FPROT_UEXECUTE | APR_FPROT_GREAD
                                | APR_FPROT_GEXECUTE, p);
    if (rv != APR_SUCCESS && !APR_STATUS_IS_EEXIST(rv)) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, OSLOG(0020)
                     "OCSPStapleStore %s: cannot create the directory; "
                     "responses will not survive a restart", g->store_dir);
        g->store_dir = NULL;
        return APR_SUCCESS;
    }
    os_store_chown(g->store_dir);
    return APR_SUCCESS;
}

apr_status_t os_store_write(os_global *g, const os_cert *cert,
                            const staple_record *rec, apr_pool_t *p)
{
    const char *path, *tmp;
    unsigned char *buf;
    apr_size_t len;
    apr_file_t *f = NULL;
    apr_status_t rv;

    if (!g->store_dir) {
        return APR_SUCCESS;
    }
    path = os_store_path(g, cert, p);
    tmp = apr_psprintf(p, "%s.tmp%ld", path, (long)getpid());
    if ((rv = staple_record_encode(rec, &buf, &len, p)) != APR_SUCCESS) {
        goto done;
    }
    rv = apr_file_open(&f, tmp, APR_FOPEN_WRITE | APR_FOPEN_CREATE
                       | APR_FOPEN_TRUNCATE | APR_FOPEN_BINARY,
                       APR_FPROT_UREAD | APR_FPROT_UWRITE | APR_FPROT_GREAD, p);
    if (rv != APR_SUCCESS) {
        goto done;
    }
    if ((rv = apr_file_write_full(f, buf, len, NULL)) != APR_SUCCESS
        || (rv = apr_file_sync(f)) != APR_SUCCESS) {
        goto done;
    }
    rv = apr_file_close(f);
    f = NULL;
    if (rv != APR_SUCCESS) {
        goto done;
    }
    os_store_chown(tmp);
    rv = apr_file_rename(tmp, path, p);
done:
    if (f) {
        apr_file_close(f);
    }
    if (rv != APR_SUCCESS) {
        apr_file_remove(tmp, p);
        ap_log_error(APLOG_MARK, APLOG_WARNING, rv, g->s, OSLOG(0021)
                     "%s: cannot write the store file %s", cert->info->subject,
                     path);
    }
    return rv;
}

/* Reads and decodes one store file; *why names the problem. */
static apr_status_t os_store_read_path(os_global *g, const char *path,
                                       staple_record *rec, apr_pool_t *p,
                                       const char **why)
{
    apr_file_t *f = NULL;
    apr_finfo_t fi;
    unsigned char *buf;
    apr_size_t len;
    apr_status_t rv;

    *why = NULL;
    rv = apr_file_open(&f, path, APR_FOPEN_READ | APR_FOPEN_BINARY, 0, p);
    if (rv != APR_SUCCESS) {
        if (!APR_STATUS_IS_ENOENT(rv)) {
            *why = apr_psprintf(p, "cannot open %s", path);
        }
        return rv;
    }
    if ((rv = apr_file_info_get(&fi, APR_FINFO_SIZE, f)) != APR_SUCCESS) {
        *why = apr_psprintf(p, "cannot stat %s", path);
        goto done;
    }
    if (fi.size <= 0 || (apr_size_t)fi.size > g->max_response_size + 256) {
        *why = apr_psprintf(p, "%s has an implausible size (%ld bytes)", path,
                            (long)fi.size);
        rv = APR_EINVAL;
        goto done;
    }
    len = (apr_size_t)fi.size;
    buf = apr_palloc(p, len);
    if ((rv = apr_file_read_full(f, buf, len, NULL)) != APR_SUCCESS) {
        *why = apr_psprintf(p, "cannot read %s", path);
        goto done;
    }
    if ((*why = staple_record_decode(rec, buf, len))) {
        *why = apr_psprintf(p, "%s: %s", path, *why);
        rv = APR_EINVAL;
    }
done:
    apr_file_close(f);
    return rv;
}

apr_status_t os_store_read(os_global *g, const os_cert *cert,
                           staple_record *rec, apr_pool_t *p,
                           const char **why)
{
    const char *path;
    apr_status_t rv;

    *why = NULL;
    if (!g->store_dir) {
        return APR_ENOENT;
    }
    path = os_store_path(g, cert, p);
    rv = os_store_read_path(g, path, rec, p, why);
    if (rv == APR_SUCCESS && (rec->id_len != cert->id_len
                              || memcmp(rec->id, cert->id, cert->id_len))) {
        *why = apr_psprintf(p, "%s belongs to another certificate", path);
        rv = APR_EINVAL;
    }
    return rv;
}

/* Removes files of certificates no longer configured once their responses
 * can no longer be served, and temporary files left by a crash. */
void os_store_sweep(os_global *g, apr_pool_t *p, long long now)
{
    apr_dir_t *dir;
    apr_finfo_t fi;
    int removed = 0;
    apr_pool_t *fp;                /* per file, cleared for the next one */

    if (!g->store_dir || apr_dir_open(&dir, g->store_dir, p) != APR_SUCCESS) {
        return;
    }
    apr_pool_create(&fp, p);
    while (apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_MTIME | APR_FINFO_TYPE,
                        dir) == APR_SUCCESS) {
        const char *path, *dot;
        if (fi.filetype != APR_REG || !fi.name) {
            continue;
        }
        apr_pool_clear(fp);
        path = apr_pstrcat(fp, g->store_dir, "/", fi.name, NULL);
        if (strstr(fi.name, OS_STORE_SUFFIX ".tmp")) {
            if (apr_time_sec(fi.mtime) + 3600 < now) {
                removed += apr_file_remove(path, fp) == APR_SUCCESS;
            }
            continue;
        }
        dot = strrchr(fi.name, '.');
        if (!dot || strcmp(dot, OS_STORE_SUFFIX)) {
            continue;
        }
        {
            /* Known by the id inside the record, not by the file name. */
            staple_record rec;
            const char *why;
            if (os_store_read_path(g, path, &rec, fp, &why) == APR_SUCCESS
                && !apr_hash_get(g->certs_by_id, rec.id,
                                 (apr_ssize_t)rec.id_len)
                && rec.next_update + g->serve_expired < now
                && apr_file_remove(path, fp) == APR_SUCCESS) {
                ++removed;
            }
        }
    }
    apr_dir_close(dir);
    apr_pool_destroy(fp);
    if (removed) {
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, g->s, OSLOG(0022)
                     "store %s: removed %d file%s of certificates no longer "
                     "configured", g->store_dir, removed, removed == 1 ? "" : "s");
    }
}
