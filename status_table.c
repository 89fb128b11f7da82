/* status_table: states, totals and the four renderings of the status data
 * (see status_table.h). No httpd, no APR: plain C and jansson. */
#include "status_table.h"
#include "core_util.h"
#include "refresh_policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <jansson.h>
#include <apr_strings.h>

#define NOT_SET "-"
#define PLURAL(n) ((n) == 1 ? "" : "s")

/* ---- output buffer ------------------------------------------------------ */

void status_buf_init(status_buf *b, apr_pool_t *p)
{
    b->pool = p;
    b->pieces = apr_array_make(p, 256, sizeof(const char *));
    b->len = 0;
}

const char *status_buf_text(const status_buf *b)
{
    return apr_array_pstrcat(b->pool, b->pieces, '\0');
}

void status_buf_putn(status_buf *b, const char *s, size_t n)
{
    if (n > 0) {
        APR_ARRAY_PUSH(b->pieces, const char *) = apr_pstrmemdup(b->pool, s, n);
        b->len += n;
    }
}

void status_buf_puts(status_buf *b, const char *s)
{
    status_buf_putn(b, s, strlen(s));
}

/* C's own formatting (apr_pvsprintf knows no "%lld"), into the pool. */
void status_buf_printf(status_buf *b, const char *fmt, ...)
{
    va_list ap;
    char *s;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n <= 0) {
        return;
    }
    s = apr_palloc(b->pool, (apr_size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    APR_ARRAY_PUSH(b->pieces, const char *) = s;
    b->len += (apr_size_t)n;
}

void status_buf_html(status_buf *b, const char *s)
{
    const char *run = s;
    for (; *s; ++s) {
        const char *ent;
        switch (*s) {
        case '&':  ent = "&amp;";  break;
        case '<':  ent = "&lt;";   break;
        case '>':  ent = "&gt;";   break;
        case '"':  ent = "&quot;"; break;
        case '\'': ent = "&#39;";  break;
        default:   continue;
        }
        status_buf_putn(b, run, (size_t)(s - run));
        status_buf_puts(b, ent);
        run = s + 1;
    }
    status_buf_putn(b, run, (size_t)(s - run));
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when s does not
 * start one (stray continuation byte, overlong form, surrogate, truncated). */
static size_t utf8_len(const unsigned char *s)
{
    size_t n, i;
    unsigned long cp;

    if (s[0] < 0x80) {
        return 1;
    }
    if (s[0] >= 0xc2 && s[0] <= 0xdf) {
        n = 2;
        cp = s[0] & 0x1f;
    }
    else if ((s[0] & 0xf0) == 0xe0) {
        n = 3;
        cp = s[0] & 0x0f;
    }
    else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
        n = 4;
        cp = s[0] & 0x07;
    }
    else {
        return 0;
    }
    for (i = 1; i < n; ++i) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff)))
        || (n == 4 && (cp < 0x10000 || cp > 0x10ffff))) {
        return 0;
    }
    return n;
}

/* Prometheus and JSON want UTF-8: invalid bytes are shown as '?'. */
void status_buf_prom_label(status_buf *b, const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    while (*u) {
        size_t n = utf8_len(u);
        if (n == 0) {
            status_buf_putn(b, "?", 1);
            ++u;
        }
        else if (*u == '\\') {
            status_buf_puts(b, "\\\\");
            ++u;
        }
        else if (*u == '"') {
            status_buf_puts(b, "\\\"");
            ++u;
        }
        else if (*u == '\n') {
            status_buf_puts(b, "\\n");
            ++u;
        }
        else {
            status_buf_putn(b, (const char *)u, n);
            u += n;
        }
    }
}

void status_buf_line(status_buf *b, const char *s)
{
    const char *run = s;
    for (; *s; ++s) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f) {
            status_buf_putn(b, run, (size_t)(s - run));
            status_buf_putn(b, " ", 1);
            run = s + 1;
        }
    }
    status_buf_putn(b, run, (size_t)(s - run));
}

/* ---- names and states ---------------------------------------------------- */

#define STATUS_ERR_INDEX(e, n) STATUS_ERR_I_##e,

const char *status_err_class_name(int cls)
{
#define STATUS_ERR_NAME(e, n) #n,
    static const char *const names[STATUS_ERR_CLASSES] = {
        STATUS_ERR_CLASS_LIST(STATUS_ERR_NAME)
    };
    return cls >= 0 && cls < STATUS_ERR_CLASSES ? names[cls] : "other";
}

const char *status_state_name(status_state st)
{
    static const char *const names[STATUS_STATES] = {
        "good", "expiring", "failing", "revoked", "missing", "expired",
        "no_responder"
    };
    return (int)st >= 0 && st < STATUS_STATES ? names[st] : "missing";
}

static const char *cert_status_name(int cs)
{
    switch (cs) {
    case STATUS_CS_GOOD:    return "good";
    case STATUS_CS_REVOKED: return "revoked";
    case STATUS_CS_UNKNOWN: return "unknown";
    default:                return "none";
    }
}

status_state status_state_of(const status_cert *c, long long now,
                             long long grace)
{
    long long margin;

    if (!c->responders || !*c->responders) {
        return STATUS_NO_RESPONDER;
    }
    /* Only good and revoked responses are ever stapled (design 4.4). */
    if (c->cert_status != STATUS_CS_GOOD
        && c->cert_status != STATUS_CS_REVOKED) {
        return STATUS_MISSING;
    }
    if (now > c->next_update + grace) {
        return STATUS_EXPIRED;
    }
    if (c->cert_status == STATUS_CS_REVOKED) {
        return STATUS_REVOKED;
    }
    /* The refresh policy's safety margin (refresh_due): a refresh that
     * works never lets less than this remain. */
    margin = refresh_expiry_margin(c->this_update, c->next_update);
    if (c->next_update - now < margin) {
        return STATUS_EXPIRING;
    }
    if (c->failures > 0) {
        return STATUS_FAILING;
    }
    return STATUS_GOOD;
}

void status_report_finish(status_report *r)
{
    status_totals *t = &r->totals;
    int i, k;

    memset(t, 0, sizeof(*t));
    t->store_errors = r->host.store_errors;
    t->exchange_errors = r->host.exchange_errors;
    t->exchange_down = r->host.exchange_down;
    t->refresher_ticks = r->host.refresher_ticks;
    for (i = 0; i < r->ncerts; ++i) {
        status_cert *c = &r->certs[i];
        c->state = status_state_of(c, r->now, r->grace);
        t->certificates++;
        t->states[c->state]++;
        switch (c->state) {
        case STATUS_GOOD: case STATUS_EXPIRING: case STATUS_FAILING:
            t->good++;
            break;
        case STATUS_REVOKED:
            t->revoked++;
            break;
        case STATUS_MISSING: case STATUS_EXPIRED:
            t->missing++;
            break;
        default:
            t->no_responder++;
            break;
        }
        t->fetches += c->fetches;
        t->fetch_errors += c->fetch_errors;
        t->served += c->served;
        t->unserved += c->unserved;
        for (k = 0; k < STATUS_ERR_CLASSES; ++k) {
            t->errors[k] += c->errors[k];
        }
    }
}

/* ---- the filter -------------------------------------------------------- */

const char *status_filter_add(status_filter *f, const char *list,
                              apr_pool_t *p)
{
    const char *s = list ? list : "";

    f->active = 1;
    while (*s) {
        size_t n = strcspn(s, ", ");
        int st, found = n == 4 && !strncmp(s, "none", 4);
        for (st = 0; st < STATUS_STATES && !found && n; ++st) {
            const char *name = status_state_name((status_state)st);
            if (strlen(name) == n && !strncmp(s, name, n)) {
                f->states |= 1u << st;
                found = 1;
            }
        }
        if (!found && n) {
            f->error = apr_psprintf(p, "unknown state '%.*s' (state= takes "
                                    "good, expiring, failing, revoked, "
                                    "missing, expired, no_responder or "
                                    "none, separated by commas)",
                                    (int)(n > 40 ? 40 : n), s);
            return f->error;
        }
        s += n;
        s += strspn(s, ", ");
    }
    return NULL;
}

int status_filter_shows(const status_filter *f, const status_cert *c)
{
    return !f->active || (!f->error && (f->states >> c->state) & 1u);
}

int status_report_shown(const status_report *r)
{
    int i, n = 0;
    for (i = 0; i < r->ncerts; ++i) {
        n += status_filter_shows(&r->filter, &r->certs[i]);
    }
    return n;
}

/* The names of the states a filter lists, comma-separated ("none"). */
static const char *filter_names(const status_filter *f, char *buf,
                                size_t size)
{
    int st;
    size_t o = 0;

    buf[0] = '\0';
    for (st = 0; st < STATUS_STATES; ++st) {
        if ((f->states >> st) & 1u) {
            o += (size_t)snprintf(buf + o, o < size ? size - o : 0, "%s%s",
                                  o ? "," : "",
                                  status_state_name((status_state)st));
        }
    }
    if (!o) {
        snprintf(buf, size, "none");
    }
    return buf;
}

/* ---- the field table ------------------------------------------------------ */

/* Plain members: arg is the member's offset in status_cert. */
static void get_str(const status_cert *c, int off, status_value *v)
{
    const char *s;
    memcpy(&s, (const char *)c + off, sizeof(s));
    v->s = s ? s : "";
}

static void get_time(const status_cert *c, int off, status_value *v)
{
    memcpy(&v->t, (const char *)c + off, sizeof(v->t));
}

static void get_count(const status_cert *c, int off, status_value *v)
{
    memcpy(&v->n, (const char *)c + off, sizeof(v->n));
}

static void get_errors(const status_cert *c, int cls, status_value *v)
{
    v->n = c->errors[cls];
}

static void get_must_staple(const status_cert *c, int arg, status_value *v)
{
    (void)arg;
    v->s = c->must_staple ? "yes" : "no";
}

static void get_state(const status_cert *c, int arg, status_value *v)
{
    (void)arg;
    v->s = status_state_name(c->state);
}

static void get_cert_status(const status_cert *c, int arg, status_value *v)
{
    (void)arg;
    v->s = cert_status_name(c->cert_status);
}

#define OFF(m) ((int)offsetof(status_cert, m))
/* Designated initializers: each entry names only what it uses. */
#define FIELD(k, t, kd, a, g, h) \
    .key = (k), .title = (t), .kind = (kd), .arg = (a), .get = (g), .help = (h)
#define STR(k, t, m, h)   FIELD(k, t, STATUS_KIND_STRING, OFF(m), get_str, h)
#define TIME(k, t, m, h)  FIELD(k, t, STATUS_KIND_TIME, OFF(m), get_time, h)
#define COUNT(k, t, m, h) FIELD(k, t, STATUS_KIND_COUNT, OFF(m), get_count, h)
/* One field per error class, in the list's order. */
enum { STATUS_ERR_CLASS_LIST(STATUS_ERR_INDEX) STATUS_ERR_INDEX_END };
#define ERRORS(e, name) \
    { FIELD("errors_" #name, NULL, STATUS_KIND_COUNT, STATUS_ERR_I_##e, \
            get_errors, "failed fetches of class " #name) },

const status_field status_fields[] = {
    { STR("id", NULL, id_hex,
          "certificate id (SHA-1 of the certificate, hex); POST refresh=ID"),
      .label = "id" },
    { STR("vhosts", "Virtual hosts", vhosts,
          "virtual hosts using the certificate"),
      .label = "vhosts" },
    { STR("subject", "Subject", subject, "certificate subject"),
      .label = "subject" },
    /* long hex and URLs may break anywhere rather than widen the table */
    { STR("serial", "Serial", serial, "certificate serial number, hex"),
      .label = "serial", .css = "w" },
    { STR("responder", "Responder", responders, "OCSP responder URL(s)"),
      .label = "responder", .css = "w" },
    { FIELD("must_staple", "Must-Staple", STATUS_KIND_ENUM, 0,
            get_must_staple,
            "the certificate demands a staple (TLS Feature status_request)"),
      .label = "must_staple" },
    { FIELD("state", "State", STATUS_KIND_ENUM, 0, get_state,
            "good, expiring, failing, revoked, missing, expired or "
            "no_responder"),
      .label = "status" },
    { FIELD("cert_status", NULL, STATUS_KIND_ENUM, 0, get_cert_status,
            "certificate status in the response in use: good, revoked or "
            "none"),
      .label = "cert_status" },
    { TIME("this_update", "thisUpdate", this_update,
           "thisUpdate of the response in use") },
    { TIME("next_update", "nextUpdate", next_update,
           "nextUpdate of the response in use; as a metric: seconds until "
           "then (negative once expired)"),
      .prom = STATUS_PROM_UNTIL,
      .metric = "ocspstaple_seconds_until_next_update" },
    { TIME("next_refresh", "Next refresh", next_refresh,
           "next planned fetch; as a metric: seconds until then"),
      .prom = STATUS_PROM_UNTIL,
      .metric = "ocspstaple_seconds_until_next_refresh" },
    { TIME("last_fetch", "Last fetch", last_fetch,
           "last fetch, successful or not; as a metric: seconds since then"),
      .prom = STATUS_PROM_SINCE,
      .metric = "ocspstaple_seconds_since_last_fetch" },
    { TIME("last_success", NULL, last_success,
           "last successful fetch; as a metric: seconds since then"),
      .prom = STATUS_PROM_SINCE,
      .metric = "ocspstaple_seconds_since_last_success" },
    { STR("last_result", "Last result", last_result,
          "result of the last fetch") },
    { COUNT("failures", "Failures", failures, "consecutive failed fetches"),
      .prom = STATUS_PROM_GAUGE, .metric = "ocspstaple_consecutive_failures" },
    { COUNT("fetches", NULL, fetches, "responder exchanges"),
      .prom = STATUS_PROM_COUNTER,
      .metric = "ocspstaple_certificate_fetches_total" },
    { COUNT("fetch_errors", NULL, fetch_errors, "failed fetches"),
      .prom = STATUS_PROM_COUNTER,
      .metric = "ocspstaple_certificate_fetch_errors_total" },
    STATUS_ERR_CLASS_LIST(ERRORS)
    { COUNT("served", "Served", served, "handshakes given a staple"),
      .prom = STATUS_PROM_COUNTER,
      .metric = "ocspstaple_certificate_staples_served_total" },
    { COUNT("unserved", "Not stapled", unserved,
            "handshakes that asked for a staple and got none"),
      .prom = STATUS_PROM_COUNTER,
      .metric = "ocspstaple_certificate_handshakes_unstapled_total" },
};
const int status_nfields = (int)(sizeof(status_fields)
                                 / sizeof(status_fields[0]));

/* The server-wide numbers: ?auto key suffix, JSON key. */
typedef struct {
    const char *key;
    size_t off;                /* into status_totals */
} total_field;

static const total_field total_fields[] = {
    { "certificates", offsetof(status_totals, certificates) },
    { "good",         offsetof(status_totals, good) },
    { "revoked",      offsetof(status_totals, revoked) },
    { "missing",      offsetof(status_totals, missing) },
    { "no_responder", offsetof(status_totals, no_responder) },
    { "expiring",     offsetof(status_totals, states[STATUS_EXPIRING]) },
    { "failing",      offsetof(status_totals, states[STATUS_FAILING]) },
    { "fetches",      offsetof(status_totals, fetches) },
    { "fetch_errors", offsetof(status_totals, fetch_errors) },
    { "served",       offsetof(status_totals, served) },
    { "unserved",     offsetof(status_totals, unserved) },
    { "store_errors", offsetof(status_totals, store_errors) },
    { "shared_cache_errors", offsetof(status_totals, exchange_errors) },
    { "shared_cache_down", offsetof(status_totals, exchange_down) },
    { "refresher_ticks", offsetof(status_totals, refresher_ticks) },
};
#define NTOTALS ((int)(sizeof(total_fields) / sizeof(total_fields[0])))

static unsigned long total_of(const status_totals *t, const total_field *f)
{
    return *(const unsigned long *)((const char *)t + f->off);
}

const char *status_auto_key(const char *key, char *buf, size_t size)
{
    size_t o = 0;
    int up = 1;
    if (size == 0) {
        return buf;
    }
    for (; *key && o + 1 < size; ++key) {
        if (*key == '_') {
            up = 1;
            continue;
        }
        buf[o++] = up && *key >= 'a' && *key <= 'z'
                   ? (char)(*key - 'a' + 'A') : *key;
        up = 0;
    }
    buf[o] = '\0';
    return buf;
}

/* "3d 4h", "29m 10s", "45s": two units at most, enough to read at a
 * glance. */
static void put_duration(status_buf *b, long long d)
{
    if (d < 60) {
        status_buf_printf(b, "%llds", d);
    }
    else if (d < 3600) {
        status_buf_printf(b, "%lldm %llds", d / 60, d % 60);
    }
    else if (d < 86400) {
        status_buf_printf(b, "%lldh %lldm", d / 3600, d % 3600 / 60);
    }
    else {
        status_buf_printf(b, "%lldd %lldh", d / 86400, d % 86400 / 3600);
    }
}

/* ---- HTML -------------------------------------------------------------------- */

static const char HTML_STYLE[] =
    "<style>\n"
    "table.ocspstaple{border-collapse:collapse;font-size:85%}\n"
    "table.ocspstaple th,table.ocspstaple td{border:1px solid #bbb;"
    "padding:2px 5px;text-align:left;vertical-align:top}\n"
    "table.ocspstaple th{background:#e8e8e8}\n"
    "table.ocspstaple td.n{text-align:right}\n"
    "table.ocspstaple td.t{white-space:nowrap}\n"
    "table.ocspstaple td.w{word-break:break-all;min-width:7em}\n"
    "table.ocspstaple small{color:#555}\n"
    ".ocspstaple .st{font-weight:bold}\n"
    ".ocspstaple .st-good{background:#b9efb9}\n"
    ".ocspstaple .st-failing{background:#fff0a0}\n"
    ".ocspstaple .st-expiring{background:#ffc870}\n"
    ".ocspstaple .st-revoked{background:#e04040;color:#fff}\n"
    ".ocspstaple .st-missing,.ocspstaple .st-expired{background:#ffa8a8}\n"
    ".ocspstaple .st-no_responder{background:#ddd}\n"
    "</style>\n";

static void html_value(status_buf *b, const status_field *f,
                       const status_cert *c, long long now)
{
    status_value v;
    char iso[32];

    memset(&v, 0, sizeof(v));
    f->get(c, f->arg, &v);
    switch (f->kind) {
    case STATUS_KIND_TIME:
        if (v.t == 0 || strlen(core_time_iso(v.t, iso, sizeof(iso))) != 20) {
            status_buf_puts(b, NOT_SET);
            break;
        }
        /* date, time and how far from now on three short lines: the
         * table has four such columns and must fit a normal screen */
        iso[10] = '\0';
        iso[19] = '\0';
        status_buf_printf(b, "%s<br>%s<br><small>", iso, iso + 11);
        if (v.t > now) {
            status_buf_puts(b, "in ");
            put_duration(b, v.t - now);
        }
        else if (v.t < now) {
            put_duration(b, now - v.t);
            status_buf_puts(b, " ago");
        }
        else {
            status_buf_puts(b, "now");
        }
        status_buf_puts(b, "</small>");
        break;
    case STATUS_KIND_COUNT:
        status_buf_printf(b, "%lu", v.n);
        break;
    default:
        status_buf_html(b, *v.s ? v.s : NOT_SET);
        break;
    }
}

static int is_state(const status_field *f)
{
    return f->get == get_state;
}

static void html_summary(status_buf *b, const status_report *r)
{
    const status_totals *t = &r->totals;
    status_buf_printf(b, "<p>%lu certificate%s: %lu good, %lu revoked, %lu "
                      "missing, %lu without OCSP responder (%lu expiring, "
                      "%lu failing).<br>\n%lu fetch%s, %lu fetch error%s; "
                      "%lu staple%s served, %lu handshake%s without a "
                      "staple. Times are UTC.</p>\n",
                      t->certificates, PLURAL(t->certificates), t->good,
                      t->revoked, t->missing, t->no_responder,
                      t->states[STATUS_EXPIRING], t->states[STATUS_FAILING],
                      t->fetches, t->fetches == 1 ? "" : "es",
                      t->fetch_errors, PLURAL(t->fetch_errors),
                      t->served, PLURAL(t->served),
                      t->unserved, PLURAL(t->unserved));
}

/* The states needing an operator: all but good and no_responder. */
#define STATES_ATTENTION ((1u << STATUS_EXPIRING) | (1u << STATUS_FAILING) \
                          | (1u << STATUS_REVOKED) | (1u << STATUS_MISSING) \
                          | (1u << STATUS_EXPIRED))

/* One line of the state summary: a label linked to ?state=query when
 * there is something to see. */
static void html_state_line(status_buf *b, int tables, const char *label,
                            const char *css, const char *query,
                            unsigned long n)
{
    if (tables) {
        status_buf_printf(b, "<tr><td class=\"%s\">", css);
    }
    if (n && query) {
        status_buf_printf(b, "<a href=\"?state=%s\">%s</a>", query, label);
    }
    else if (n && !query) {
        status_buf_printf(b, "<a href=\"?\">%s</a>", label);
    }
    else {
        status_buf_puts(b, label);
    }
    status_buf_printf(b, tables ? "</td><td class=\"n\">%lu</td></tr>\n"
                                : ": %lu<br>\n", n);
}

/* At scale (or filtered): how many certificates are in each state, each
 * count a link to those certificates alone; then what is listed below. */
static void html_states(status_buf *b, const status_report *r, int tables)
{
    const status_totals *t = &r->totals;
    char names[160];
    unsigned long attention = 0;
    int st;

    if (tables) {
        status_buf_puts(b, "<table class=\"ocspstaple states\">\n<tr><th>"
                           "State</th><th>Certificates</th></tr>\n");
    }
    else {
        status_buf_puts(b, "<p>\n");
    }
    for (st = 0; st < STATUS_STATES; ++st) {
        const char *name = status_state_name((status_state)st);
        char css[48];
        snprintf(css, sizeof(css), "st st-%s", name);
        html_state_line(b, tables, name, css, name, t->states[st]);
        attention += (STATES_ATTENTION >> st) & 1u ? t->states[st] : 0;
    }
    html_state_line(b, tables, "needing attention", "s",
                    "expiring,failing,revoked,missing,expired", attention);
    html_state_line(b, tables, "all", "s", NULL, t->certificates);
    status_buf_puts(b, tables ? "</table>\n" : "</p>\n");
    if (r->filter.error) {
        status_buf_puts(b, "<p><strong>");
        status_buf_html(b, r->filter.error);
        status_buf_puts(b, "</strong></p>\n");
    }
    else if (r->filter.active) {
        status_buf_printf(b, "<p>Listed below: %d of %lu (state %s). "
                          "<a href=\"?\">List all</a></p>\n",
                          status_report_shown(r), t->certificates,
                          filter_names(&r->filter, names, sizeof(names)));
    }
}

/* ?notable: the same fields, one definition list per certificate. */
static void html_definition_lists(status_buf *b, const status_report *r)
{
    int i, k;

    for (i = 0; i < r->ncerts; ++i) {
        const status_cert *c = &r->certs[i];
        if (!status_filter_shows(&r->filter, c)) {
            continue;
        }
        status_buf_puts(b, "<dl class=\"ocspstaple\">\n");
        for (k = 0; k < status_nfields; ++k) {
            const status_field *f = &status_fields[k];
            if (!f->title) {
                continue;
            }
            status_buf_puts(b, "<dt>");
            status_buf_html(b, f->title);
            status_buf_puts(b, "</dt><dd>");
            html_value(b, f, c, r->now);
            status_buf_puts(b, "</dd>\n");
        }
        status_buf_puts(b, "</dl>\n");
    }
}

static void html_row(status_buf *b, const status_cert *c, long long now)
{
    const char *st = status_state_name(c->state);
    int k;

    status_buf_printf(b, "<tr class=\"row-%s\" title=\"id ", st);
    status_buf_html(b, c->id_hex ? c->id_hex : "");
    status_buf_puts(b, "\">");
    for (k = 0; k < status_nfields; ++k) {
        const status_field *f = &status_fields[k];
        if (!f->title) {
            continue;
        }
        if (is_state(f)) {
            status_buf_printf(b, "<td class=\"st st-%s\">", st);
        }
        else {
            /* numbers right-aligned, times never broken */
            status_buf_printf(b, "<td class=\"%s\">", f->css ? f->css
                              : f->kind == STATUS_KIND_COUNT ? "n"
                              : f->kind == STATUS_KIND_TIME ? "t" : "s");
        }
        html_value(b, f, c, now);
        status_buf_puts(b, "</td>");
    }
    status_buf_puts(b, "</tr>\n");
}

static void html_table(status_buf *b, const status_report *r)
{
    int i, k;

    status_buf_puts(b, "<table class=\"ocspstaple\">\n<tr>");
    for (k = 0; k < status_nfields; ++k) {
        const status_field *f = &status_fields[k];
        if (!f->title) {
            continue;
        }
        status_buf_puts(b, "<th title=\"");
        status_buf_html(b, f->help);
        status_buf_puts(b, "\">");
        status_buf_html(b, f->title);
        status_buf_puts(b, "</th>");
    }
    status_buf_puts(b, "</tr>\n");
    for (i = 0; i < r->ncerts; ++i) {
        if (status_filter_shows(&r->filter, &r->certs[i])) {
            html_row(b, &r->certs[i], r->now);
        }
    }
    status_buf_puts(b, "</table>\n");
}

void status_render_html(status_buf *b, const status_report *r, int tables)
{
    status_buf_puts(b, "<hr />\n<h2 id=\"ocspstaple\">OCSP Stapling "
                       "(mod_ocspstaple)</h2>\n");
    if (tables) {
        status_buf_puts(b, HTML_STYLE);
    }
    html_summary(b, r);
    if (r->filter.active || r->ncerts > STATUS_HTML_SUMMARY_MIN) {
        html_states(b, r, tables);
    }
    if (tables) {
        html_table(b, r);
    }
    else {
        html_definition_lists(b, r);
    }
}

/* ---- ?auto ------------------------------------------------------------------- */

void status_render_auto(status_buf *b, const status_report *r)
{
    char key[64], iso[32];
    int i, k;

    for (k = 0; k < NTOTALS; ++k) {
        status_buf_printf(b, "OCSPStaple%s: %lu\n",
                          status_auto_key(total_fields[k].key, key,
                                          sizeof(key)),
                          total_of(&r->totals, &total_fields[k]));
    }
    if (r->filter.error) {
        status_buf_puts(b, "OCSPStapleFilterError: ");
        status_buf_line(b, r->filter.error);
        status_buf_puts(b, "\n");
    }
    else if (r->filter.active) {
        status_buf_printf(b, "OCSPStapleListed: %d\n", status_report_shown(r));
    }
    for (i = 0; i < r->ncerts; ++i) {
        const status_cert *c = &r->certs[i];
        if (!status_filter_shows(&r->filter, c)) {
            continue;
        }
        for (k = 0; k < status_nfields; ++k) {
            const status_field *f = &status_fields[k];
            status_value v;
            memset(&v, 0, sizeof(v));
            f->get(c, f->arg, &v);
            status_buf_printf(b, "OCSPStaple[%d]%s: ", i,
                              status_auto_key(f->key, key, sizeof(key)));
            switch (f->kind) {
            case STATUS_KIND_TIME:
                status_buf_puts(b, v.t ? core_time_iso(v.t, iso,
                                                         sizeof(iso))
                                       : NOT_SET);
                break;
            case STATUS_KIND_COUNT:
                status_buf_printf(b, "%lu", v.n);
                break;
            default:
                status_buf_line(b, *v.s ? v.s : NOT_SET);
                break;
            }
            status_buf_puts(b, "\n");
        }
    }
}

/* ---- JSON -------------------------------------------------------------------- */

/* jansson refuses invalid UTF-8; such bytes become '?' instead of losing
 * the whole value. */
static json_t *json_str(const char *s)
{
    json_t *j = json_string(s);
    char *copy;
    size_t i;

    if (j || !(copy = strdup(s))) {
        return j;
    }
    for (i = 0; copy[i];) {
        size_t n = utf8_len((const unsigned char *)copy + i);
        if (n == 0) {
            copy[i] = '?';
            n = 1;
        }
        i += n;
    }
    j = json_string(copy);
    free(copy);
    return j;
}

static json_t *json_value(const status_field *f, const status_cert *c)
{
    status_value v;
    char iso[32];

    memset(&v, 0, sizeof(v));
    f->get(c, f->arg, &v);
    switch (f->kind) {
    case STATUS_KIND_TIME:
        return v.t ? json_string(core_time_iso(v.t, iso, sizeof(iso)))
                   : json_null();
    case STATUS_KIND_COUNT:
        return json_integer((json_int_t)v.n);
    default:
        return json_str(v.s);
    }
}

/* {"state": ["failing", ...], "listed": n[, "error": "..."]} */
static json_t *json_filter(const status_report *r)
{
    json_t *o = json_object(), *names = json_array();
    int st;

    for (st = 0; names && st < STATUS_STATES; ++st) {
        if ((r->filter.states >> st) & 1u) {
            json_array_append_new(names, json_string(
                status_state_name((status_state)st)));
        }
    }
    if (!o || !names
        || json_object_set_new(o, "state", names)
        || json_object_set_new(o, "listed",
                               json_integer(status_report_shown(r)))
        || (r->filter.error
            && json_object_set_new(o, "error", json_str(r->filter.error)))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int status_render_json(status_buf *b, const status_report *r)
{
    json_t *root = json_object(), *totals = json_object(),
           *errors = json_object(), *certs = json_array();
    char iso[32], *text = NULL;
    int i, k, rc = -1;

    if (!root || !totals || !errors || !certs) {
        goto out;
    }
    /* json_object_set_new takes the reference even when it fails */
    if (json_object_set_new(root, "time",
            json_string(core_time_iso(r->now, iso, sizeof(iso))))
        || json_object_set(root, "totals", totals)
        || (r->filter.active
            && json_object_set_new(root, "filter", json_filter(r)))
        || json_object_set(root, "certificates", certs)) {
        goto out;
    }
    for (k = 0; k < NTOTALS; ++k) {
        if (json_object_set_new(totals, total_fields[k].key, json_integer(
                (json_int_t)total_of(&r->totals, &total_fields[k])))) {
            goto out;
        }
    }
    for (k = 0; k < STATUS_ERR_CLASSES; ++k) {
        if (json_object_set_new(errors, status_err_class_name(k),
                json_integer((json_int_t)r->totals.errors[k]))) {
            goto out;
        }
    }
    if (json_object_set(totals, "fetch_errors_by_class", errors)) {
        goto out;
    }
    for (i = 0; i < r->ncerts; ++i) {
        json_t *o;
        if (!status_filter_shows(&r->filter, &r->certs[i])) {
            continue;
        }
        o = json_object();
        if (!o || json_array_append_new(certs, o)) {
            goto out;
        }
        for (k = 0; k < status_nfields; ++k) {
            const status_field *f = &status_fields[k];
            if (json_object_set_new(o, f->key, json_value(f, &r->certs[i]))) {
                goto out;
            }
        }
    }
    if (!(text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER))) {
        goto out;
    }
    status_buf_puts(b, text);
    status_buf_puts(b, "\n");
    rc = 0;
out:
    free(text);
    json_decref(root);
    json_decref(totals);
    json_decref(errors);
    json_decref(certs);
    return rc;
}

/* ---- Prometheus ------------------------------------------------------------ */

static void prom_head(status_buf *b, const char *name, const char *type,
                      const char *help)
{
    /* HELP text escapes only \ and newline; ours contain neither. */
    status_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                      type);
}

static void prom_id(status_buf *b, const char *name, const status_cert *c)
{
    status_buf_printf(b, "%s{id=\"", name);
    status_buf_prom_label(b, c->id_hex ? c->id_hex : "");
    status_buf_puts(b, "\"} ");
}

/* Host-wide samples without labels, after the per-certificate ones. */
typedef struct {
    const char *name, *type, *help;
    size_t off;                /* into status_totals */
} prom_scalar;

static const prom_scalar prom_scalars[] = {
    { "ocspstaple_staples_served_total", "counter",
      "Handshakes given a staple", offsetof(status_totals, served) },
    { "ocspstaple_handshakes_unstapled_total", "counter",
      "Handshakes that asked for a staple and got none",
      offsetof(status_totals, unserved) },
    { "ocspstaple_store_write_errors_total", "counter",
      "Failed writes of store files", offsetof(status_totals, store_errors) },
    { "ocspstaple_shared_cache_errors_total", "counter",
      "Failed or timed-out calls to the shared cache",
      offsetof(status_totals, exchange_errors) },
    { "ocspstaple_shared_cache_down", "gauge",
      "1 while the shared cache fails and this server works alone",
      offsetof(status_totals, exchange_down) },
    { "ocspstaple_refresher_ticks_total", "counter",
      "Rounds of the background refresher",
      offsetof(status_totals, refresher_ticks) },
};

void status_render_prometheus(status_buf *b, const status_report *r)
{
    const status_totals *t = &r->totals;
    int i, k, s;

    prom_head(b, "ocspstaple_certificate_info", "gauge",
              "Certificates stapled by mod_ocspstaple; status is the state "
              "(good, expiring, failing, revoked, missing, expired, "
              "no_responder)");
    for (i = 0; i < r->ncerts; ++i) {
        const char *sep = "";
        if (!status_filter_shows(&r->filter, &r->certs[i])) {
            continue;
        }
        status_buf_puts(b, "ocspstaple_certificate_info{");
        for (k = 0; k < status_nfields; ++k) {
            const status_field *f = &status_fields[k];
            status_value v;
            if (!f->label) {
                continue;
            }
            memset(&v, 0, sizeof(v));
            f->get(&r->certs[i], f->arg, &v);
            status_buf_printf(b, "%s%s=\"", sep, f->label);
            status_buf_prom_label(b, v.s);
            status_buf_puts(b, "\"");
            sep = ",";
        }
        status_buf_puts(b, "} 1\n");
    }
    for (k = 0; k < status_nfields; ++k) {
        const status_field *f = &status_fields[k];
        if (f->prom == STATUS_PROM_NONE) {
            continue;
        }
        prom_head(b, f->metric, f->prom == STATUS_PROM_COUNTER ? "counter"
                                                               : "gauge",
                  f->help);
        for (i = 0; i < r->ncerts; ++i) {
            const status_cert *c = &r->certs[i];
            status_value v;
            if (!status_filter_shows(&r->filter, c)) {
                continue;
            }
            memset(&v, 0, sizeof(v));
            f->get(c, f->arg, &v);
            if (f->kind == STATUS_KIND_TIME) {
                if (v.t == 0) {
                    continue;   /* never happened: no sample */
                }
                prom_id(b, f->metric, c);
                status_buf_printf(b, "%lld\n", f->prom == STATUS_PROM_UNTIL
                                  ? v.t - r->now : r->now - v.t);
            }
            else {
                prom_id(b, f->metric, c);
                status_buf_printf(b, "%lu\n", v.n);
            }
        }
    }
    prom_head(b, "ocspstaple_certificates", "gauge",
              "Certificates by state");
    for (s = 0; s < STATUS_STATES; ++s) {
        status_buf_printf(b, "ocspstaple_certificates{state=\"%s\"} %lu\n",
                          status_state_name((status_state)s), t->states[s]);
    }
    prom_head(b, "ocspstaple_fetches_total", "counter",
              "Responder exchanges of all certificates");
    status_buf_printf(b, "ocspstaple_fetches_total %lu\n", t->fetches);
    prom_head(b, "ocspstaple_fetch_errors_total", "counter",
              "Failed fetches by class");
    for (k = 0; k < STATUS_ERR_CLASSES; ++k) {
        status_buf_printf(b, "ocspstaple_fetch_errors_total{class=\"%s\"} "
                          "%lu\n", status_err_class_name(k), t->errors[k]);
    }
    for (k = 0; k < (int)(sizeof(prom_scalars) / sizeof(prom_scalars[0]));
         ++k) {
        const prom_scalar *m = &prom_scalars[k];
        prom_head(b, m->name, m->type, m->help);
        status_buf_printf(b, "%s %lu\n", m->name,
                          *(const unsigned long *)((const char *)t + m->off));
    }
}
