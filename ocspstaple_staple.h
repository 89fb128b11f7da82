/* The staple unit: the current response of each certificate on this host,
 * and the handshake path. Shared memory that the parent creates before the
 * children fork holds, per certificate, a slot (state and counters) and the
 * response's bytes; each child keeps a copy that handshakes read. The only
 * code that installs or serves a response. Nothing here touches the
 * network, a file or a lock held during a fetch. */
#ifndef OCSPSTAPLE_STAPLE_H
#define OCSPSTAPLE_STAPLE_H

#include "mod_ocspstaple.h"
#include "staple_policy.h"

/* Slot-only flag: the loss of the staple at expiry has been logged. */
#define OS_SLOT_EXPIRY_LOGGED 0x0100

/* Per-certificate state shared by all processes. Written by one process at
 * a time (the start-up helper, then the refreshing watchdog child), read by
 * all; `seq` is a sequence lock for readers of the non-atomic fields and of
 * the response bytes, `gen` tells children that the bytes changed. */
/* The size of a cache line, for keeping fields apart that different
 * cores write. */
#define OS_CACHE_LINE 64

typedef struct os_slot {
    volatile apr_uint32_t gen;          /* bumped when the response changes */
    volatile apr_uint32_t seq;          /* odd while being written */
    volatile apr_uint32_t fetches;      /* responder exchanges finished */
    volatile apr_uint32_t fetch_errors; /* ... of those that failed */
    volatile apr_uint32_t refresh_requested;
    apr_uint32_t failures;              /* consecutive failed refreshes */
    apr_uint32_t errors_by_class[OS_ERR_CLASSES];
    int cert_status;                    /* -1 none, else V_OCSP_CERTSTATUS_* */
    unsigned flags;                     /* STAPLE_FLAG_*, OS_SLOT_* */
    long long this_update, next_update;
    long long next_refresh, last_fetch, last_success;
    apr_size_t der_len;                 /* bytes in the slot's response area */
    int notified;                       /* state last told (OCSPStapleNotify)
                                           + 1; 0: none yet */
    char last_result[192];              /* "ok" or why the last fetch failed */
    /* Written by every handshake: padded to a cache line of their own, so
     * counting does not make the other cores reload what every handshake
     * reads (gen, seq) or what the refresher writes. */
    char pad_before[OS_CACHE_LINE];
    struct {
        volatile apr_uint32_t served;   /* handshakes given a staple */
        volatile apr_uint32_t unserved; /* ... that should have had one */
    } hs;
    char pad_after[OS_CACHE_LINE - 2 * sizeof(apr_uint32_t)];
} os_slot;

/* Host-wide counters of the workers' dependencies, for status. */
typedef struct os_host_stats {
    volatile apr_uint32_t store_errors;     /* failed store writes */
    volatile apr_uint32_t exchange_errors;  /* failed or timed-out cache calls */
    volatile apr_uint32_t exchange_down;    /* 1 while the shared cache fails */
    volatile apr_uint32_t refresher_ticks;  /* background refresh rounds */
} os_host_stats;

/* Parent, post_config: the shared memory for every primed certificate. */
apr_status_t os_staple_post_config(os_global *g, apr_pool_t *pconf,
                                   server_rec *s);
/* Each child: its own copy of the responses and the lock around it. */
void os_staple_child_init(os_global *g, apr_pool_t *p, server_rec *s);

/* The handshake path: hands the current response (or nothing) to mod_ssl's
 * callback; returns whether something was stapled. */
int os_staple_serve(os_global *g, const os_cert *cert, conn_rec *c,
                    ap_ssl_ocsp_copy_resp *cb, void *userdata);

/* Puts a verified response into service if the replacement policy allows
 * it; *why says why not. *before receives the slot as it was. */
apr_status_t os_staple_install(os_global *g, const os_cert *cert,
                               const staple_record *rec, long long now,
                               os_slot *before, const char **why,
                               apr_pool_t *p);

/* Workers: a copy of the response in use into p (APR_ENOENT: none). */
apr_status_t os_staple_current(os_global *g, const os_cert *cert,
                               staple_record *rec, apr_pool_t *p);

/* Parent, after the start-up helper: a slot the helper was writing when it
 * was stopped is dropped (its response is fetched again in the background). */
void os_staple_repair(os_global *g, server_rec *s);

os_slot *os_staple_slot(os_global *g, const os_cert *cert);
staple_state os_slot_state(const os_slot *slot);
void os_slot_begin(os_slot *slot);
void os_slot_end(os_slot *slot);
void os_slot_read(const os_slot *slot, os_slot *copy);

#endif
