/* The store: the persistent copy of every verified response, one file per
 * certificate in OCSPStapleStore. The parent (root) only creates the
 * directory and hands it to the User; every file inside is read and
 * written by processes running as the User, without following links,
 * without blocking, regular files only, size-capped. */
#ifndef OCSPSTAPLE_STORE_H
#define OCSPSTAPLE_STORE_H

#include "mod_ocspstaple.h"

#include <sys/stat.h>

/* Reads a whole file safely: without following a link, without blocking
 * (a FIFO is refused, not waited on), a regular file of at most cap bytes.
 * *st receives its fstat. APR_ENOENT without a file (*why NULL); otherwise
 * *why names what is wrong. */
apr_status_t os_file_read_safe(const char *path, apr_size_t cap,
                               unsigned char **buf, apr_size_t *len,
                               struct stat *st, const char **why,
                               apr_pool_t *p);

/* Parent, post_config, as root: the directory, created without following
 * a link and handed to the User on its open descriptor. Never fails the
 * start: without a usable directory the store is off (logged). */
void os_store_prepare(os_global *g, apr_pool_t *p, server_rec *s);

/* The directory OCSPStapleStore names (or the default), NULL when off; no
 * check made (os_store_prepare does them, and may turn the store off). */
const char *os_store_configured_dir(const os_global *g, apr_pool_t *p);

/* Workers: atomic replace (exclusive temporary file, fsync, rename). */
apr_status_t os_store_write(os_global *g, const os_cert *cert,
                            const staple_record *rec, apr_pool_t *p);

/* Workers: the same for many certificates at once, with one sync of the
 * store's file system instead of one per file (issue 14: 10,000 fsyncs
 * took 7 to 22 s). */
void os_store_write_many(os_global *g, os_cert **certs,
                         const staple_record *recs, int n, apr_pool_t *p);

/* Workers: the certificate's record. APR_ENOENT without a file (*why NULL);
 * otherwise *why names what is wrong with the file. */
apr_status_t os_store_read(os_global *g, const os_cert *cert,
                           staple_record *rec, apr_pool_t *p,
                           const char **why);

/* Refresher: removes files of certificates no longer configured once their
 * responses can no longer be served, and temporary files left by a crash. */
void os_store_sweep(os_global *g, apr_pool_t *p, long long now);

#endif
