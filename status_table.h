/* status_table: what admins see (design section 5), apart from httpd.
 *
 * The glue (ocspstaple_status.c) copies the shared slots into plain
 * status_cert structs; everything else happens here: the state of each
 * certificate, the totals, and four renderings of the same data (mod_status
 * HTML, mod_status ?auto lines, JSON, Prometheus text). All four are driven
 * by ONE table of fields (status_fields), so a field added there shows up
 * everywhere. Output goes into a growing malloc'd buffer (status_buf) so the
 * unit tests check it byte for byte without httpd, pools or buckets. */
#ifndef STATUS_TABLE_H
#define STATUS_TABLE_H

#include <stddef.h>
#include <apr_pools.h>
#include <apr_tables.h>

/* ---- output buffer ------------------------------------------------------ */

/* Pieces in a pool, joined once at the end (apr_array_pstrcat). */
typedef struct {
    apr_pool_t *pool;
    apr_array_header_t *pieces;  /* const char * */
    apr_size_t len;              /* bytes so far */
} status_buf;

void status_buf_init(status_buf *b, apr_pool_t *p);
/* Everything written so far, NUL-terminated, in the buffer's pool. */
const char *status_buf_text(const status_buf *b);
void status_buf_puts(status_buf *b, const char *s);
void status_buf_putn(status_buf *b, const char *s, size_t n);
void status_buf_printf(status_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Escapers: the value is appended escaped for the target syntax.
 * html: & < > " ' as entities (safe in text and in quoted attributes).
 * prom: a Prometheus label value: \ " and newline as \\ \" \n.
 * line: a ?auto value: control characters (CR, LF, ...) become spaces, so
 *       one value stays on one line. */
void status_buf_html(status_buf *b, const char *s);
void status_buf_prom_label(status_buf *b, const char *s);
void status_buf_line(status_buf *b, const char *s);

/* ---- input -------------------------------------------------------------- */

/* Classes of failed fetches, the one list of them: the glue's os_err_class
 * (mod_ocspstaple.h), these names and the status fields all derive from
 * it. X(ENUM_SUFFIX, name). */
#define STATUS_ERR_CLASS_LIST(X) \
    X(NETWORK, network) X(TIMEOUT, timeout) X(HTTP_STATUS, http_status) \
    X(TOO_LARGE, too_large) X(VERIFY, verification) \
    X(RESPONDER_STATUS, responder_status) X(POLICY, policy) X(OTHER, other)
#define STATUS_ERR_COUNT_ONE(e, n) + 1
#define STATUS_ERR_CLASSES (0 STATUS_ERR_CLASS_LIST(STATUS_ERR_COUNT_ONE))
const char *status_err_class_name(int cls);

/* cert_status values: those of OpenSSL's V_OCSP_CERTSTATUS_*, and none. */
#define STATUS_CS_NONE    (-1)
#define STATUS_CS_GOOD    0
#define STATUS_CS_REVOKED 1
#define STATUS_CS_UNKNOWN 2

/* State of one certificate, as admins see it. status_state_of() decides,
 * first match wins:
 *   no_responder  no OCSP URL (AIA or OCSPStapleResponderURL): nothing to do
 *   missing       no response was ever accepted
 *   expired       the response is past nextUpdate (+ OCSPStapleServeExpired):
 *                 nothing is stapled
 *   revoked       a valid response says revoked: the headline, whatever else
 *   expiring      valid, but less than the refresh policy's safety margin is
 *                 left: min(10% of the validity, 1 h) before nextUpdate, or
 *                 inside the OCSPStapleServeExpired grace. A healthy refresh
 *                 happens before that margin, so this means refreshes have
 *                 been failing for a while; it outranks "failing" because
 *                 time is running out.
 *   failing       valid, but the last refresh(es) failed
 *   good          valid good response, refreshes fine
 * "missing" and "expired" both mean "nothing to staple". */
typedef enum {
    STATUS_GOOD = 0, STATUS_EXPIRING, STATUS_FAILING, STATUS_REVOKED,
    STATUS_MISSING, STATUS_EXPIRED, STATUS_NO_RESPONDER, STATUS_STATES
} status_state;
const char *status_state_name(status_state st);

typedef struct {
    /* strings: any bytes; every renderer escapes them */
    const char *id_hex;        /* mod_ssl's certificate id, hex */
    const char *vhosts;        /* "a.example:443, b.example:443" */
    const char *subject;
    const char *serial;
    const char *responders;    /* responder URL(s), space separated; "" none */
    const char *last_result;   /* "ok" or why the last fetch failed */
    int must_staple;
    int cert_status;           /* STATUS_CS_* of the response in use */
    /* seconds since the epoch, 0 = never / unknown */
    long long this_update, next_update, next_refresh;
    long long last_fetch, last_success;
    unsigned long failures;    /* consecutive failed refreshes */
    unsigned long fetches;     /* responder exchanges */
    unsigned long fetch_errors;
    unsigned long errors[STATUS_ERR_CLASSES];
    unsigned long served;      /* handshakes given a staple */
    unsigned long unserved;    /* handshakes that asked and got none */
    status_state state;        /* set by status_report_finish() */
} status_cert;

typedef struct {
    unsigned long certificates;
    unsigned long states[STATUS_STATES];
    /* certificates with a valid response to staple, by its status; good
     * counts the states good, expiring and failing */
    unsigned long good, revoked;
    unsigned long missing;     /* with a responder, nothing to staple */
    unsigned long no_responder;
    unsigned long fetches, fetch_errors, served, unserved;
    unsigned long errors[STATUS_ERR_CLASSES];
    /* the workers' dependencies, host-wide (copied from status_report) */
    unsigned long store_errors, exchange_errors, exchange_down;
    unsigned long refresher_ticks;
} status_totals;

/* Host-wide numbers that belong to no certificate. */
typedef struct {
    unsigned long store_errors;    /* failed store writes */
    unsigned long exchange_errors; /* failed or timed-out shared cache calls */
    unsigned long exchange_down;   /* 1 while the shared cache fails */
    unsigned long refresher_ticks; /* background refresh rounds so far */
} status_host;

/* Which certificates a rendering lists (issue 14: 10,000 certificates
 * make 6 to 10 MB of any rendering). The totals always count them all.
 * Zeroed: no filter, every certificate, the output as it always was. */
typedef struct {
    int active;                /* a filter was given */
    unsigned states;           /* bit (1 << status_state) per state listed */
    const char *error;         /* an unusable filter: said instead of rows */
} status_filter;

typedef struct {
    long long now;             /* seconds since the epoch */
    long long grace;           /* OCSPStapleServeExpired, seconds */
    status_cert *certs;
    int ncerts;
    status_host host;
    status_totals totals;      /* set by status_report_finish() */
    status_filter filter;      /* which certificates are listed */
} status_report;

/* Adds the states named in list (comma-separated; "none" lists no
 * certificate, only the totals) to f. Returns NULL, or a sentence naming
 * the first unknown name and the accepted ones (also kept in f->error). */
const char *status_filter_add(status_filter *f, const char *list,
                              apr_pool_t *p);
/* Whether the rendering lists c (state set by status_report_finish). */
int status_filter_shows(const status_filter *f, const status_cert *c);
/* How many certificates of r are listed. */
int status_report_shown(const status_report *r);

/* Above this many certificates, and whenever a filter is given, the HTML
 * starts with the number of certificates in each state, each a link to
 * them alone. */
#define STATUS_HTML_SUMMARY_MIN 50

status_state status_state_of(const status_cert *c, long long now,
                             long long grace);
/* Sets every certificate's state and the totals. */
void status_report_finish(status_report *r);

/* ---- the field table ---------------------------------------------------- */

typedef enum {
    STATUS_KIND_STRING, STATUS_KIND_TIME, STATUS_KIND_COUNT, STATUS_KIND_ENUM
} status_kind;

typedef struct {
    const char *s;             /* STRING, ENUM */
    long long t;               /* TIME (0 = none) */
    unsigned long n;           /* COUNT */
} status_value;

/* How a field shows in Prometheus: a label of ocspstaple_certificate_info,
 * and/or a per-certificate metric whose value is the field (COUNT), or
 * seconds until / since the field's time (TIME; no sample when the time
 * is 0). */
typedef enum {
    STATUS_PROM_NONE = 0, STATUS_PROM_GAUGE, STATUS_PROM_COUNTER,
    STATUS_PROM_UNTIL, STATUS_PROM_SINCE
} status_prom;

typedef struct {
    const char *key;           /* JSON key; the ?auto key is its CamelCase */
    const char *title;         /* HTML column title; NULL: no column */
    status_kind kind;
    int arg;                   /* passed to get (error class) */
    void (*get)(const status_cert *c, int arg, status_value *v);
    const char *help;          /* HTML column tooltip, Prometheus HELP */
    const char *label;         /* label name on ocspstaple_certificate_info */
    status_prom prom;
    const char *metric;        /* per-certificate metric name */
    const char *css;           /* HTML cell class; NULL: by kind (n, t, s) */
} status_field;

extern const status_field status_fields[];
extern const int status_nfields;

/* ?auto key of a field: "this_update" -> "ThisUpdate" (into buf). */
const char *status_auto_key(const char *key, char *buf, size_t size);

/* ---- renderers ---------------------------------------------------------- */

/* mod_status HTML: the section heading, a summary line and one table row
 * per certificate (tables = 0 for ?notable: a definition list instead).
 * With a filter or more than STATUS_HTML_SUMMARY_MIN certificates, a table
 * of the states (each a link to "?state=NAME") after the summary line. */
void status_render_html(status_buf *b, const status_report *r, int tables);
/* mod_status ?auto: "OCSPStapleCertificates: 3" ... then
 * "OCSPStaple[i]Key: value" per certificate (i its place in the full list,
 * whatever the filter; with a filter, "OCSPStapleListed: n" after the
 * totals). */
void status_render_auto(status_buf *b, const status_report *r);
/* JSON document {"time", "totals", "certificates": [...]} (with a filter,
 * "filter": {"state": [...], "listed": n} before "certificates"); returns
 * 0, or -1 when jansson failed (nothing appended). */
int status_render_json(status_buf *b, const status_report *r);
/* Prometheus text exposition format 0.0.4. A filter limits the
 * per-certificate series; the server-wide ones are always complete. */
void status_render_prometheus(status_buf *b, const status_report *r);

#endif
