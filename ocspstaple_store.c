/* The store (ocspstaple_store.h). The directory belongs to the User: every
 * name in it may be a link, a FIFO or a directory that a process running
 * as the User put there. So the parent, as root, does nothing inside it,
 * and the workers open files with O_NOFOLLOW | O_NONBLOCK, check with
 * fstat that they are regular and small, and create temporary files with
 * unpredictable names, exclusively. */
#include "ocspstaple_store.h"
#include "ocspstaple_staple.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <apr_atomic.h>
#include <apr_strings.h>
#include <apr_file_io.h>
#include <apr_file_info.h>
#include <unixd.h>

#define OS_STORE_SUFFIX ".ocsp"
#define OS_STORE_TMP OS_STORE_SUFFIX ".tmp"
/* Temporary files older than this are a crash's leftovers. */
#define OS_STORE_TMP_MAX_AGE 3600
#define OS_STORE_DIR_MODE 0750

static const char *os_store_path(os_global *g, const os_cert *cert,
                                 apr_pool_t *p)
{
    return apr_pstrcat(p, g->store_dir, "/", cert->id_hex, OS_STORE_SUFFIX,
                       NULL);
}

/* ---- the directory (parent, root) ------------------------------------- */

static int os_dir_is_empty(int fd)
{
    int dup_fd = dup(fd), empty = 1;
    DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    struct dirent *e;
    if (!d) {
        if (dup_fd >= 0) {
            close(dup_fd);
        }
        return 0;
    }
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            empty = 0;
            break;
        }
    }
    closedir(d);
    return empty;
}

/* Takes an open directory for the store: the User's already, or handed to
 * it when this start created it or it is root's and empty (mkdir by an
 * operator). Anything else is not ours to give away: a typo such as
 * "OCSPStapleStore /etc" must not chown /etc. NULL or why not. */
static const char *os_store_adopt_dir(int fd, int created, apr_pool_t *p)
{
    struct stat st;
    uid_t uid = ap_unixd_config.user_id;
    gid_t gid = ap_unixd_config.group_id;

    if (fstat(fd, &st) != 0) {
        return apr_psprintf(p, "cannot stat it (%s)", strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        return "it is not a directory";
    }
    if (geteuid() != 0 || uid == 0 || st.st_uid == uid) {
        return NULL;
    }
    if (!created && !(st.st_uid == 0 && os_dir_is_empty(fd))) {
        return apr_psprintf(p, "it belongs to uid %ld and is not empty; "
                            "the module hands only a new or empty "
                            "directory to the User (chown it to %s)",
                            (long)st.st_uid, ap_unixd_config.user_name);
    }
    if (fchown(fd, uid, gid) != 0 || fchmod(fd, OS_STORE_DIR_MODE) != 0) {
        return apr_psprintf(p, "cannot hand it to the User (%s)",
                            strerror(errno));
    }
    return NULL;
}

/* One level above the store: a directory (or a link to one, itself
 * root's) that is root's and writable by root only, or by anyone only with
 * the sticky bit, as /tmp (then no one else can move root's entries). */
static const char *os_store_check_level(const char *path, apr_pool_t *p)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        return apr_psprintf(p, "cannot stat %s (%s)", path, strerror(errno));
    }
    if (S_ISLNK(st.st_mode) && st.st_uid == 0 && stat(path, &st) != 0) {
        return apr_psprintf(p, "cannot stat %s (%s)", path, strerror(errno));
    }
    if (st.st_uid != 0) {
        return apr_psprintf(p, "%s belongs to uid %ld", path, (long)st.st_uid);
    }
    if (!S_ISDIR(st.st_mode)) {
        return apr_psprintf(p, "%s is not a directory", path);
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
        return apr_psprintf(p, "%s is writable by its group or others", path);
    }
    return NULL;
}

/* Every level of path, from "/" down (path is absolute; changed and
 * restored). */
static const char *os_store_check_path(char *path, apr_pool_t *p)
{
    const char *why = os_store_check_level("/", p);
    char *sep;
    for (sep = path; !why && (sep = strchr(sep + 1, '/')); ) {
        *sep = '\0';
        why = os_store_check_level(path, p);
        *sep = '/';
    }
    if (!why && strcmp(path, "/") != 0) {
        why = os_store_check_level(path, p);
    }
    return why;
}

/* Root creates the store's last level and hands it to the User; the levels
 * above decide where that happens. Whoever can change one of them (its
 * owner, or anyone with write permission) can point the store at a
 * directory of root's, to be created or chowned there. So every existing
 * level above the store, as written and as resolved (the directories a
 * link leads through), must be root's and writable by root only, as
 * OpenSSH's StrictModes wants of the directories above authorized_keys.
 * Then no one else can change them between this check and their use.
 * NULL or why not. */
static const char *os_store_check_levels(const char *dir, apr_pool_t *p)
{
    char *path = apr_pstrdup(p, dir), *real, *sep;
    const char *why;

    if (*path != '/') {
        return apr_psprintf(p, "%s is not an absolute path", path);
    }
    while (!(real = realpath(path, NULL))) {
        if (errno != ENOENT || !(sep = strrchr(path, '/'))
            || strcmp(path, "/") == 0) {
            return apr_psprintf(p, "cannot resolve %s (%s)", path,
                                strerror(errno));
        }
        /* not there yet: check what it will be made in */
        sep[sep == path ? 1 : 0] = '\0';
    }
    why = os_store_check_path(path, p);
    if (!why) {
        why = os_store_check_path(real, p);
    }
    free(real);
    return why ? apr_pstrcat(p, why, " (each level above the store must be "
                             "root's and writable by root only, or its "
                             "owner could move the store elsewhere)", NULL)
               : NULL;
}

const char *os_store_configured_dir(const os_global *g, apr_pool_t *p)
{
    /* httpd 2.4 has no state directory of its own; this mirrors the
     * DefaultStateDir of later versions. Debian's ocspstaple.conf names
     * /var/lib/apache2/ocspstaple instead. */
    return g->store_set ? g->store_dir
                        : ap_server_root_relative(p, "state/ocspstaple");
}

void os_store_prepare(os_global *g, apr_pool_t *p, server_rec *s)
{
    const char *parent, *why = NULL;
    int fd, created, as_root = geteuid() == 0 && ap_unixd_config.user_id != 0;
    apr_status_t rv;

    g->store_dir = os_store_configured_dir(g, p);
    if (!g->store_dir) {
        return;
    }
    /* The levels above are root's and must let the User through. */
    parent = apr_pstrndup(p, g->store_dir, (apr_size_t)(strrchr(g->store_dir,
                          '/') - g->store_dir));
    if (as_root) {
        why = os_store_check_levels(*parent ? parent : "/", p);
    }
    if (!why && *parent) {
        rv = apr_dir_make_recursive(parent, APR_FPROT_UREAD | APR_FPROT_UWRITE
                                    | APR_FPROT_UEXECUTE | APR_FPROT_GREAD
                                    | APR_FPROT_GEXECUTE | APR_FPROT_WREAD
                                    | APR_FPROT_WEXECUTE, p);
        if (rv != APR_SUCCESS && !APR_STATUS_IS_EEXIST(rv)) {
            why = apr_psprintf(p, "cannot create %s", parent);
        }
        else if (as_root) {
            /* Again, now that every level exists: in a sticky level (as
             * /tmp) another user may have made a missing one first, as a
             * link or a directory of its own. */
            why = os_store_check_levels(parent, p);
        }
    }
    created = !why && mkdir(g->store_dir, OS_STORE_DIR_MODE) == 0;
    if (!why && !created && errno != EEXIST) {
        why = apr_psprintf(p, "cannot create it (%s)", strerror(errno));
    }
    if (!why) {
        fd = open(g->store_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW
                  | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
            struct stat st;
            int err = errno;
            /* Linux says ENOTDIR, not ELOOP, for a link with O_DIRECTORY */
            why = (err == ELOOP || err == ENOTDIR)
                  && lstat(g->store_dir, &st) == 0 && S_ISLNK(st.st_mode)
                  ? "it is a symbolic link"
                  : apr_psprintf(p, "cannot open it (%s)", strerror(err));
        }
        else {
            why = os_store_adopt_dir(fd, created, p);
            close(fd);
        }
    }
    if (why) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, OSLOG(0020)
                     "OCSPStapleStore %s: %s; responses will not survive a "
                     "restart", g->store_dir, why);
        g->store_dir = NULL;
    }
}

/* ---- files (workers, as the User) ---------------------------------------- */

static void os_store_health(os_global *g, const os_cert *cert, const char *path,
                            apr_status_t rv)
{
    if (rv != APR_SUCCESS) {
        apr_atomic_inc32(&g->stats->store_errors);
        if (!g->store_failing) {
            g->store_failing = 1;
            ap_log_error(APLOG_MARK, APLOG_WARNING, rv, g->s, OSLOG(0021)
                         "%s: cannot write the store file %s; the response "
                         "is served but will not survive a restart (logged "
                         "once until a write succeeds)", cert->info->subject,
                         path);
        }
    }
    else if (g->store_failing) {
        g->store_failing = 0;
        ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, g->s, OSLOG(0023)
                     "store %s: writing works again", g->store_dir);
    }
}

/* Writes rec into a new temporary file next to its final name (synced to
 * disk when sync is set): *tmp gets its name, *path the final one. */
static apr_status_t os_store_stage(os_global *g, const os_cert *cert,
                                   const staple_record *rec, int sync,
                                   char **tmp, const char **path,
                                   apr_pool_t *p)
{
    unsigned char *buf;
    apr_size_t len;
    apr_file_t *f = NULL;
    apr_status_t rv;

    *path = os_store_path(g, cert, p);
    *tmp = apr_pstrcat(p, *path, ".tmpXXXXXX", NULL);
    if ((rv = staple_record_encode(rec, &buf, &len, p)) != APR_SUCCESS) {
        *tmp = NULL;
        return rv;
    }
    /* mkstemp: O_EXCL, mode 0600, a name nobody can plant a link at. */
    rv = apr_file_mktemp(&f, *tmp, APR_FOPEN_CREATE | APR_FOPEN_READ
                         | APR_FOPEN_WRITE | APR_FOPEN_EXCL
                         | APR_FOPEN_BINARY, p);
    if (rv != APR_SUCCESS) {
        *tmp = NULL;
        return rv;
    }
    if ((rv = apr_file_write_full(f, buf, len, NULL)) != APR_SUCCESS
        || (sync && (rv = apr_file_sync(f)) != APR_SUCCESS)) {
        apr_file_close(f);
        apr_file_remove(*tmp, p);
        *tmp = NULL;
        return rv;
    }
    if ((rv = apr_file_close(f)) != APR_SUCCESS) {
        apr_file_remove(*tmp, p);
        *tmp = NULL;
    }
    return rv;
}

/* Replaces whatever the name is (a link is replaced, not followed). */
static apr_status_t os_store_commit(os_global *g, const os_cert *cert,
                                    const char *tmp, const char *path,
                                    apr_status_t rv, apr_pool_t *p)
{
    if (rv == APR_SUCCESS) {
        rv = apr_file_rename(tmp, path, p);
    }
    if (rv != APR_SUCCESS && tmp) {
        apr_file_remove(tmp, p);
    }
    os_store_health(g, cert, path, rv);
    return rv;
}

apr_status_t os_store_write(os_global *g, const os_cert *cert,
                            const staple_record *rec, apr_pool_t *p)
{
    const char *path;
    char *tmp;
    apr_status_t rv;

    if (!g->store_dir) {
        return APR_SUCCESS;
    }
    rv = os_store_stage(g, cert, rec, 1, &tmp, &path, p);
    return os_store_commit(g, cert, tmp, path, rv, p);
}

void os_store_write_many(os_global *g, os_cert **certs,
                         const staple_record *recs, int n, apr_pool_t *p)
{
    char **tmp;
    const char **path;
    apr_status_t *rv;
    int i, synced = 0;

    if (!g->store_dir || n <= 0) {
        return;
    }
    if (n == 1) {
        os_store_write(g, certs[0], &recs[0], p);
        return;
    }
    tmp = apr_pcalloc(p, sizeof(*tmp) * (apr_size_t)n);
    path = apr_pcalloc(p, sizeof(*path) * (apr_size_t)n);
    rv = apr_pcalloc(p, sizeof(*rv) * (apr_size_t)n);
    for (i = 0; i < n; ++i) {
        rv[i] = os_store_stage(g, certs[i], &recs[i], 0, &tmp[i], &path[i],
                               p);
    }
#ifdef __linux__
    {
        /* One sync of the store's file system for all of them instead of
         * one per file (2 ms each on a journalled disk): the files are on
         * disk before any rename makes them visible, as with one write. */
        int fd = open(g->store_dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW
                      | O_CLOEXEC);
        if (fd >= 0) {
            synced = syncfs(fd) == 0;
            close(fd);
        }
    }
#endif
    for (i = 0; i < n; ++i) {
        if (!synced && rv[i] == APR_SUCCESS) {
            int fd = open(tmp[i], O_RDONLY | O_NOFOLLOW | O_NONBLOCK
                          | O_CLOEXEC);
            rv[i] = fd >= 0 && fsync(fd) == 0 ? APR_SUCCESS
                                               : APR_FROM_OS_ERROR(errno);
            if (fd >= 0) {
                close(fd);
            }
        }
        os_store_commit(g, certs[i], tmp[i], path[i], rv[i], p);
    }
}

apr_status_t os_file_read_safe(const char *path, apr_size_t cap,
                               unsigned char **buf, apr_size_t *len,
                               struct stat *st, const char **why,
                               apr_pool_t *p)
{
    apr_size_t got = 0;
    apr_status_t rv = APR_SUCCESS;
    int fd;

    *why = NULL;
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        rv = APR_FROM_OS_ERROR(errno);
        if (errno == ELOOP) {
            *why = apr_psprintf(p, "%s is a symbolic link", path);
        }
        else if (errno != ENOENT) {
            *why = apr_psprintf(p, "cannot open %s (%s)", path,
                                strerror(errno));
        }
        return rv;
    }
    if (fstat(fd, st) != 0) {
        rv = APR_FROM_OS_ERROR(errno);
        *why = apr_psprintf(p, "cannot stat %s", path);
    }
    else if (!S_ISREG(st->st_mode)) {
        rv = APR_EINVAL;
        *why = apr_psprintf(p, "%s is not a regular file (%s)", path,
                            S_ISDIR(st->st_mode) ? "a directory"
                            : S_ISFIFO(st->st_mode) ? "a FIFO"
                            : S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)
                            ? "a device" : "a socket or other");
    }
    else if (st->st_size <= 0 || (apr_size_t)st->st_size > cap) {
        rv = APR_EINVAL;
        *why = apr_psprintf(p, "%s has an implausible size (%ld bytes)", path,
                            (long)st->st_size);
    }
    else {
        *buf = apr_palloc(p, (apr_size_t)st->st_size);
        while (got < (apr_size_t)st->st_size) {
            ssize_t n = read(fd, *buf + got, (apr_size_t)st->st_size - got);
            if (n <= 0) {
                if (n < 0 && errno == EINTR) {
                    continue;
                }
                break;
            }
            got += (apr_size_t)n;
        }
        *len = got;
        if (got != (apr_size_t)st->st_size) {
            rv = APR_EINVAL;
            *why = apr_psprintf(p, "cannot read %s", path);
        }
    }
    close(fd);
    return rv;
}

/* Reads and decodes one store file; *why names the problem. */
static apr_status_t os_store_read_path(os_global *g, const char *path,
                                       staple_record *rec, apr_pool_t *p,
                                       const char **why)
{
    unsigned char *buf;
    apr_size_t len;
    struct stat st;
    apr_status_t rv = os_file_read_safe(path, g->max_response_size
                                        + STAPLE_RECORD_MAX_OVERHEAD, &buf,
                                        &len, &st, why, p);
    if (rv == APR_SUCCESS && (*why = staple_record_decode(rec, buf, len))) {
        *why = apr_psprintf(p, "%s: %s", path, *why);
        rv = APR_EINVAL;
    }
    return rv;
}

/* Whether rec, decoded from path, is cert's. */
static apr_status_t os_store_owned(const os_cert *cert, const char *path,
                                   const staple_record *rec, apr_pool_t *p,
                                   const char **why)
{
    if (rec->id_len != cert->id_len
        || memcmp(rec->id, cert->id, cert->id_len)) {
        *why = apr_psprintf(p, "%s belongs to another certificate", path);
        return APR_EINVAL;
    }
    return APR_SUCCESS;
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
    return rv == APR_SUCCESS ? os_store_owned(cert, path, rec, p, why) : rv;
}

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
    /* APR_FINFO_TYPE from the directory entry (or lstat): a link is a link. */
    for (;;) {
        const char *path, *dot;
        struct stat st;
        apr_status_t rv = apr_dir_read(&fi, APR_FINFO_NAME | APR_FINFO_TYPE
                                       | APR_FINFO_LINK, dir);
        if (rv != APR_SUCCESS && rv != APR_INCOMPLETE) {
            break;
        }
        if (!(fi.valid & APR_FINFO_TYPE) || fi.filetype != APR_REG
            || !fi.name) {
            continue;
        }
        apr_pool_clear(fp);
        path = apr_pstrcat(fp, g->store_dir, "/", fi.name, NULL);
        if (strstr(fi.name, OS_STORE_TMP)) {
            if (lstat(path, &st) == 0 && S_ISREG(st.st_mode)
                && (long long)st.st_mtime + OS_STORE_TMP_MAX_AGE < now) {
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
                && staple_servable_until(rec.next_update, g->serve_expired)
                   < now
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
