/* mod_ocspstaple: types shared by the httpd glue files. The logic that needs
 * no httpd lives in ocsp_cert, ocsp_verify, responder_http, refresh_policy,
 * staple_record, config_values and status_table. */
#ifndef MOD_OCSPSTAPLE_H
#define MOD_OCSPSTAPLE_H

#include <httpd.h>
#include <http_config.h>
#include <http_log.h>
#include <ap_socache.h>
#include <http_ssl.h>
#include <apr_global_mutex.h>
#include <apr_thread_mutex.h>
#include <apr_shm.h>
#include <apr_hash.h>

#include "ocsp_cert.h"
#include "ocsp_verify.h"
#include "refresh_policy.h"
#include "responder_http.h"
#include "staple_record.h"

/* The module's own log tag: "OCSPS" and a number unique in the sources. */
#define OSLOG(n) "OCSPS" #n ": "

#define OS_UNSET (-1)

extern module AP_MODULE_DECLARE_DATA ocspstaple_module;

/* mod_ocspstaple.c declares the module itself (AP_DECLARE_MODULE). */
#if defined(APLOG_USE_MODULE) && !defined(OS_MODULE_FILE)
APLOG_USE_MODULE(ocspstaple);
#endif

/* Classes of failed fetches, for status and metrics. */
typedef enum {
    OS_ERR_NETWORK = 0, OS_ERR_TIMEOUT, OS_ERR_HTTP_STATUS, OS_ERR_TOO_LARGE,
    OS_ERR_VERIFY, OS_ERR_RESPONDER_STATUS, OS_ERR_POLICY, OS_ERR_OTHER,
    OS_ERR_CLASSES
} os_err_class;
const char *os_err_class_name(os_err_class c);

/* Slot-only flag: the loss of the staple at expiry has been logged. */
#define OS_SLOT_EXPIRY_LOGGED 0x0100

/* Per-certificate state shared by all processes (anonymous shared memory
 * created by the parent before the children fork). Written by one process
 * at a time (the parent during start, then the refreshing watchdog child),
 * read by all; `seq` is a sequence lock for readers of the non-atomic
 * fields, `gen` tells children that the cache holds a newer record. */
typedef struct {
    volatile apr_uint32_t gen;          /* bumped after every cache store */
    volatile apr_uint32_t seq;          /* odd while being written */
    volatile apr_uint32_t served;       /* handshakes given a staple */
    volatile apr_uint32_t unserved;     /* handshakes that got none */
    volatile apr_uint32_t fetches;      /* responder exchanges finished */
    volatile apr_uint32_t fetch_errors; /* ... of those that failed */
    volatile apr_uint32_t refresh_requested;
    apr_uint32_t failures;              /* consecutive failed refreshes */
    apr_uint32_t errors_by_class[OS_ERR_CLASSES];
    int cert_status;                    /* -1 none, else V_OCSP_CERTSTATUS_* */
    unsigned flags;                     /* STAPLE_FLAG_* */
    long long this_update, next_update, revoked_at;
    long long next_refresh, last_fetch, last_success;
    char last_result[192];              /* "ok" or why the last fetch failed */
} os_slot;

/* One distinct certificate, however many vhosts use it. Built by the prime
 * hook in the parent; read-only once the children fork. */
typedef struct os_cert {
    int index;                          /* into the slot array */
    const unsigned char *id;            /* mod_ssl's id (SHA-1 of the DER) */
    apr_size_t id_len;
    const char *id_hex;
    ocsp_cert *info;
    apr_array_header_t *urls;           /* const char *, override or AIA */
    apr_array_header_t *vhosts;         /* const char *, ServerName:port */
    unsigned char *request;             /* DER of the OCSP request */
    apr_size_t request_len;
} os_cert;

/* Per-process copy of the current staple of one certificate, so that a
 * handshake reads local memory and touches the shared cache only after a
 * refresh (gen changed). */
typedef struct {
    apr_uint32_t gen;
    unsigned char *der;                 /* malloc'd, swapped under the mutex */
    apr_size_t der_len;
    long long next_update;
    long long retry_at;                 /* after a failed cache read */
    int reloading;                      /* a thread is reading the cache */
} os_local;

/* Server-wide configuration and the runtime of one configuration cycle. */
typedef struct os_global {
    apr_pool_t *pool;                   /* pconf of this cycle */
    server_rec *s;                      /* the main server */

    /* configuration (OCSPStaple* server-wide directives) */
    const char *cache_provider_name;
    const char *cache_args;
    const char *store_dir;              /* NULL when off */
    int store_set;
    refresh_policy policy;
    long responder_timeout;             /* seconds */
    long startup_timeout;               /* seconds */
    const char *proxy;
    apr_size_t max_response_size;
    long serve_expired;                 /* grace in seconds, 0 = off */

    /* runtime */
    int dry_run;                        /* first config pass: no work */
    apr_hash_t *certs_by_id;
    apr_hash_t *issuers;                /* parsed issuers, shared */
    apr_array_header_t *certs;          /* os_cert * */
    int no_url_count;

    const ap_socache_provider_t *cache_provider;
    ap_socache_instance_t *cache;
    apr_global_mutex_t *cache_mutex;    /* when the provider needs one */
    apr_shm_t *shm;
    os_slot *slots;

    struct os_refresher *refresher;     /* background refresh, if started */

    /* per child process */
    os_local *locals;
    apr_thread_mutex_t *locals_mutex;
} os_global;

typedef struct {
    os_global *g;
    int enabled;                        /* OCSPStaple, OS_UNSET when not set */
    int ssl_use_stapling;               /* seen SSLUseStapling, or OS_UNSET */
    const char *responder_url;          /* OCSPStapleResponderURL */
    const char *name;                   /* for status: ServerName:port */
} os_srv_conf;

os_srv_conf *os_conf(server_rec *s);
int os_vhost_enabled(const os_srv_conf *sc);

/* ocspstaple_cache.c: socache, shared slots, per-process copies */
apr_status_t os_cache_post_config(os_global *g, apr_pool_t *pconf,
                                  apr_pool_t *ptemp, server_rec *s);
void os_cache_child_init(os_global *g, apr_pool_t *p, server_rec *s);
apr_status_t os_cache_put(os_global *g, const os_cert *cert,
                          const staple_record *rec, apr_pool_t *p);
apr_status_t os_cache_get(os_global *g, const os_cert *cert,
                          staple_record *rec, apr_pool_t *p);
int os_cache_serve(os_global *g, const os_cert *cert, conn_rec *c,
                   ap_ssl_ocsp_copy_resp *cb, void *userdata);
void os_slot_begin(os_slot *slot);
void os_slot_end(os_slot *slot);
void os_slot_read(const os_slot *slot, os_slot *copy);

/* ocspstaple_carry.c: counters and outage state kept across restarts */
void os_carry_register(os_global *g, apr_pool_t *pconf, server_rec *s);
void os_carry_restore(os_global *g, server_rec *s);

/* ocspstaple_store.c: persistent copy on disk */
apr_status_t os_store_prepare(os_global *g, apr_pool_t *p, server_rec *s);
apr_status_t os_store_write(os_global *g, const os_cert *cert,
                            const staple_record *rec, apr_pool_t *p);
apr_status_t os_store_read(os_global *g, const os_cert *cert,
                           staple_record *rec, apr_pool_t *p,
                           const char **why);
void os_store_sweep(os_global *g, apr_pool_t *p, long long now);

/* ocspstaple_fetch.c: start-up prefetch and background refresh */
apr_status_t os_prefetch(os_global *g, apr_pool_t *ptemp, server_rec *s);
apr_status_t os_refresh_start(os_global *g, apr_pool_t *pconf, server_rec *s);
void os_refresh_child_init(os_global *g, apr_pool_t *pchild);

/* ocspstaple_status.c: server-status section, JSON and metrics handlers */
void os_status_register_hooks(void);

#endif
