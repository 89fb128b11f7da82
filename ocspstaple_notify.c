/* OCSPStapleNotify (ocspstaple_notify.h). */
#include "ocspstaple_notify.h"
#include "ocspstaple_staple.h"
#include "notify_event.h"
#include "core_util.h"

#include <signal.h>
#include <string.h>
#include <apr_strings.h>
#include <apr_thread_proc.h>

/* How long a notification program may run before it is killed. */
#define OS_NOTIFY_TIMEOUT apr_time_from_sec(10)
/* How much of its output is logged. */
#define OS_NOTIFY_OUTPUT_MAX 512

typedef struct {
    apr_pool_t *pool;                  /* the run's, destroyed when reaped */
    apr_proc_t proc;
    apr_time_t started;
    const char *what;                  /* "revoked for CN=..." */
    char out[OS_NOTIFY_OUTPUT_MAX + 1];
    apr_size_t out_len;
} os_notify_run;

struct os_notifier {
    os_global *g;
    apr_pool_t *pool;
    apr_array_header_t *runs;          /* os_notify_run * */
};

os_notifier *os_notify_create(os_global *g, apr_pool_t *p)
{
    os_notifier *n = apr_pcalloc(p, sizeof(*n));
    n->g = g;
    n->pool = p;
    n->runs = apr_array_make(p, 4, sizeof(os_notify_run *));
    return n;
}

/* The state a certificate shows in status (status_table's rules). */
static status_state os_notify_state(os_global *g, const os_cert *cert,
                                    const os_slot *s, long long now)
{
    status_cert c;
    memset(&c, 0, sizeof(c));
    c.responders = os_cert_has_source(cert) ? "yes" : "";
    c.cert_status = s->cert_status < 0 ? STATUS_CS_NONE : s->cert_status;
    c.this_update = s->this_update;
    c.next_update = s->next_update;
    c.failures = s->failures;
    return status_state_of(&c, now, g->serve_expired);
}

/* Why, in a few words, for the program's last argument. */
static const char *os_notify_reason(notify_event e, const os_slot *s,
                                    apr_pool_t *p)
{
    char iso[32];
    switch (e) {
    case NOTIFY_REVOKED:
        return "the responder says the certificate is revoked";
    case NOTIFY_EXPIRING:
    case NOTIFY_EXPIRED:
        return apr_psprintf(p, "nextUpdate %s; last fetch: %s",
                            core_time_iso(s->next_update, iso, sizeof(iso)),
                            s->last_result);
    default:
        return s->last_result;
    }
}

static void os_notify_run_start(os_notifier *n, const os_cert *cert,
                                notify_event e, const char *reason)
{
    os_global *g = n->g;
    const char *argv[7];
    apr_procattr_t *attr;
    apr_pool_t *p;
    os_notify_run *run;
    apr_status_t rv;

    apr_pool_create(&p, n->pool);
    run = apr_pcalloc(p, sizeof(*run));
    run->pool = p;
    run->what = apr_psprintf(p, "%s for %s", notify_event_name(e),
                             cert->info->subject);
    argv[0] = g->notify_cmd;
    argv[1] = notify_event_name(e);
    argv[2] = cert->id_hex;
    argv[3] = cert->info->subject;
    argv[4] = cert->info->serial_hex;
    argv[5] = reason;
    argv[6] = NULL;
    /* No shell: the arguments (a responder's words among them) are data. */
    if ((rv = apr_procattr_create(&attr, p)) != APR_SUCCESS
        || (rv = apr_procattr_io_set(attr, APR_NO_FILE, APR_CHILD_BLOCK,
                                     APR_CHILD_BLOCK)) != APR_SUCCESS
        || (rv = apr_procattr_cmdtype_set(attr, APR_PROGRAM_ENV))
           != APR_SUCCESS
        || (rv = apr_proc_create(&run->proc, g->notify_cmd, argv, NULL, attr,
                                 p)) != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, g->s, OSLOG(0173)
                     "OCSPStapleNotify %s: cannot run it (%s)",
                     g->notify_cmd, run->what);
        apr_pool_destroy(p);
        return;
    }
    run->started = apr_time_now();
    APR_ARRAY_PUSH(n->runs, os_notify_run *) = run;
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, g->s, OSLOG(0170)
                 "OCSPStapleNotify: %s (serial %s): %s; running %s (pid %ld)",
                 cert->info->subject, cert->info->serial_hex,
                 notify_event_name(e), g->notify_cmd, (long)run->proc.pid);
}

/* Keeps the first OS_NOTIFY_OUTPUT_MAX bytes, drains the rest. */
static void os_notify_drain(os_notify_run *run, apr_file_t *f)
{
    char buf[256];
    apr_size_t len;
    while (f) {
        len = sizeof(buf);
        if (apr_file_read(f, buf, &len) != APR_SUCCESS || len == 0) {
            break;
        }
        if (run->out_len < OS_NOTIFY_OUTPUT_MAX) {
            apr_size_t take = OS_NOTIFY_OUTPUT_MAX - run->out_len;
            take = take < len ? take : len;
            memcpy(run->out + run->out_len, buf, take);
            run->out_len += take;
        }
    }
}

/* Whether the run has ended (then it was logged). */
static int os_notify_reap(os_notifier *n, os_notify_run *run, int kill_now)
{
    int code = 0;
    apr_exit_why_e why;
    apr_status_t rv;
    const char *verdict;
    char *s;

    os_notify_drain(run, run->proc.out);
    os_notify_drain(run, run->proc.err);
    rv = apr_proc_wait(&run->proc, &code, &why, APR_NOWAIT);
    if (rv != APR_CHILD_DONE) {
        if (!kill_now && apr_time_now() - run->started < OS_NOTIFY_TIMEOUT) {
            return 0;
        }
        apr_proc_kill(&run->proc, SIGKILL);
        apr_proc_wait(&run->proc, &code, &why, APR_WAIT);
        verdict = apr_psprintf(run->pool, "killed after %d s",
                               (int)apr_time_sec(apr_time_now()
                                                 - run->started));
        code = -1;
    }
    else {
        verdict = why == APR_PROC_EXIT
                  ? apr_psprintf(run->pool, "exit status %d", code)
                  : apr_psprintf(run->pool, "ended by signal %d", code);
        code = why == APR_PROC_EXIT ? code : -1;
    }
    run->out[run->out_len] = '\0';
    for (s = run->out; *s; ++s) {
        if ((unsigned char)*s < 0x20) {
            *s = ' ';                   /* one log line */
        }
    }
    ap_log_error(APLOG_MARK, code == 0 ? APLOG_INFO : APLOG_WARNING, 0,
                 n->g->s, OSLOG(0171) "OCSPStapleNotify %s (%s): %s%s%s",
                 n->g->notify_cmd, run->what, verdict,
                 run->out_len ? "; output: " : "", run->out);
    apr_pool_destroy(run->pool);
    return 1;
}

static void os_notify_collect(os_notifier *n, int kill_now)
{
    int i, kept = 0;
    for (i = 0; i < n->runs->nelts; ++i) {
        os_notify_run *run = APR_ARRAY_IDX(n->runs, i, os_notify_run *);
        if (!os_notify_reap(n, run, kill_now)) {
            APR_ARRAY_IDX(n->runs, kept++, os_notify_run *) = run;
        }
    }
    n->runs->nelts = kept;
}

void os_notify_tick(os_notifier *n, long long now, apr_pool_t *ptemp)
{
    os_global *g = n->g;
    int i;

    for (i = 0; i < g->certs->nelts; ++i) {
        const os_cert *cert = APR_ARRAY_IDX(g->certs, i, const os_cert *);
        os_slot *slot = os_staple_slot(g, cert);
        os_slot cur;
        status_state st;
        notify_event e;

        os_slot_read(slot, &cur);
        st = os_notify_state(g, cert, &cur, now);
        if (cur.notified == (int)st + 1) {
            continue;
        }
        e = notify_event_of(cur.notified - 1, st, cert->info->must_staple);
        /* Only this process writes it; a start-up helper never does. */
        slot->notified = (int)st + 1;
        if (e != NOTIFY_NONE && g->notify_cmd) {
            os_notify_run_start(n, cert, e, os_notify_reason(e, &cur, ptemp));
        }
    }
    os_notify_collect(n, 0);
}

void os_notify_stop(os_notifier *n)
{
    if (n) {
        os_notify_collect(n, 1);
    }
}
