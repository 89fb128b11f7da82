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
#include <apr_thread_mutex.h>
#include <apr_shm.h>
#include <apr_hash.h>

#include "ocsp_cert.h"
#include "ocsp_verify.h"
#include "refresh_policy.h"
#include "responder_http.h"
#include "staple_record.h"
#include "status_table.h"

/* The module's own log tag: "OCSPS" and a number unique in the sources. */
#define OSLOG(n) "OCSPS" #n ": "

#define OS_UNSET (-1)

extern module AP_MODULE_DECLARE_DATA ocspstaple_module;

/* mod_ocspstaple.c declares the module itself (AP_DECLARE_MODULE). */
#if defined(APLOG_USE_MODULE) && !defined(OS_MODULE_FILE)
APLOG_USE_MODULE(ocspstaple);
#endif

/* Classes of failed fetches, for status and metrics (the list and the
 * names are status_table.h's). */
#define OS_ERR_ENUM(e, n) OS_ERR_##e,
typedef enum {
    STATUS_ERR_CLASS_LIST(OS_ERR_ENUM)
    OS_ERR_CLASSES
} os_err_class;
#define os_err_class_name(c) status_err_class_name((int)(c))

/* One distinct certificate, however many vhosts use it. Built by the prime
 * hook in the parent; read-only once the children fork. */
typedef struct os_cert {
    int index;                          /* into the slot array */
    const unsigned char *id;            /* mod_ssl's id (SHA-1 of the DER) */
    apr_size_t id_len;
    const char *id_hex;
    ocsp_cert *info;                    /* parsed in post_config */
    const char *pem;                    /* as mod_ssl primed it, until
                                           post_config has parsed it */
    apr_array_header_t *urls;           /* const char *, override or AIA */
    apr_array_header_t *vhosts;         /* const char *, ServerName:port */
    unsigned char *request;             /* DER of the OCSP request */
    apr_size_t request_len;
    apr_array_header_t *servers;        /* server_rec *, the vhosts' */
    apr_array_header_t *files;          /* os_staple_file *, OCSPStapleFile */
    int fetch;                          /* ask responders (urls, and no file
                                           unless asked for both) */
} os_cert;

/* A response file an operator supplies (OCSPStapleFile), matched to its
 * certificate at start; each worker process keeps what it last read. */
typedef struct os_staple_file {
    const char *path;
    long long mtime_ns;                 /* of what was last read, or tried */
    long long size, ino;
} os_staple_file;

struct os_slot;
struct os_local;
struct os_exchange;
struct os_refresher;
struct os_preverify;
struct os_host_stats;

/* Server-wide configuration and the runtime of one configuration cycle. */
typedef struct os_global {
    apr_pool_t *pool;                   /* pconf of this cycle */
    server_rec *s;                      /* the main server */

    /* configuration (OCSPStaple* server-wide directives) */
    const char *cache_provider_name;    /* "shmcb": this host only */
    const char *cache_args;
    const char *store_dir;              /* NULL when off */
    int store_set;
    refresh_policy policy;
    long responder_timeout;             /* seconds */
    long startup_timeout;               /* seconds */
    const char *proxy;
    apr_size_t max_response_size;
    long serve_expired;                 /* grace in seconds, 0 = off */
    const char *notify_cmd;             /* OCSPStapleNotify, or NULL */

    /* runtime */
    apr_hash_t *certs_by_id;
    apr_array_header_t *certs;          /* os_cert * */
    int no_url_count;
    int store_failing;                  /* this process: store writes fail */
    apr_pool_t *prime_pool;             /* primed PEM texts, until parsed */
    apr_time_t prime_time;              /* the parent's time in the prime
                                           hook, this pass (start summary) */
    apr_time_t prepare_time;            /* its post_config until the helper */

    /* shared memory (ocspstaple_staple.c) */
    apr_shm_t *shm;
    struct os_slot *slots;
    unsigned char *ders;                /* each slot's response area */
    apr_size_t der_max;                 /* its size: max_response_size */
    struct os_host_stats *stats;        /* host-wide counters */

    struct os_exchange *exchange;       /* shared cache, NULL when local */
    struct os_refresher *refresher;     /* background refresh, if started */
    struct os_preverify *preverify;     /* early store verifier, if started */

    /* per child process */
    struct os_local *locals;
    apr_thread_mutex_t *locals_mutex;
} os_global;

typedef struct {
    os_global *g;
    int enabled;                        /* OCSPStaple, OS_UNSET when not set */
    int ssl_use_stapling;               /* seen SSLUseStapling, or OS_UNSET */
    const char *responder_url;          /* OCSPStapleResponderURL */
    apr_array_header_t *files;          /* OCSPStapleFile paths, or NULL */
    const char *name;                   /* for status: ServerName:port */
} os_srv_conf;

os_srv_conf *os_conf(server_rec *s);
int os_vhost_enabled(const os_srv_conf *sc);

/* Whether a certificate has anything to staple from: a responder or a
 * file. Without, handshakes that get nothing are no miss. */
#define os_cert_has_source(cert) \
    ((cert)->urls->nelts > 0 || (cert)->files->nelts > 0)

#endif
