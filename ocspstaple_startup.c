/* The start-up helper (ocspstaple_startup.h). Modelled on how mod_cgid's
 * daemon and httpd's own children leave root: ap_run_drop_privileges, the
 * hook mod_unixd implements with setgid, initgroups and setuid (and
 * chroot when configured), so the helper has the children's uid, gid and
 * supplementary groups and no way back. */
#include "ocspstaple_startup.h"
#include "ocspstaple_staple.h"
#include "ocspstaple_fetch.h"
#include "ocspstaple_preverify.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/types.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <mpm_common.h>
#include <apr_signal.h>
#include <unixd.h>

/* The parent waits this much past OCSPStapleStartupTimeout: the helper's
 * own deadline covers its fetches; this covers installing what arrived. */
#define OS_STARTUP_GRACE apr_time_from_sec(1)
#define OS_STARTUP_POLL apr_time_from_msec(5)

int os_startup_become_user(apr_pool_t *p, server_rec *s, const char *what)
{
    int rc;

    /* The parent's handlers are for the parent: a signal to the process
     * group (apachectl stop) just ends this process. */
    apr_signal(SIGTERM, SIG_DFL);
    apr_signal(SIGINT, SIG_DFL);
    apr_signal(SIGHUP, SIG_IGN);
    apr_signal(SIGUSR1, SIG_IGN);
    apr_signal(SIGWINCH, SIG_IGN);
    apr_signal(SIGPIPE, SIG_IGN);
    if ((rc = ap_run_drop_privileges(p, s)) != OK) {
        ap_log_error(APLOG_MARK, APLOG_ALERT, rc, s, OSLOG(0152)
                     "%s: cannot drop privileges; it ends without doing "
                     "its work (at start, the background refresh fetches "
                     "what is missing)", what);
        return -1;
    }
    if (ap_unixd_config.user_id != 0
        && (getuid() == 0 || geteuid() == 0 || setuid(0) == 0)) {
        ap_log_error(APLOG_MARK, APLOG_ALERT, 0, s, OSLOG(0153)
                     "%s: still root after dropping privileges; giving up",
                     what);
        return -1;
    }
#ifdef __linux__
    /* Set after the uid change, which clears it: a helper whose parent
     * dies goes with it. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() == 1) {
        return -1;
    }
#endif
    return 0;
}

static void os_helper_main(os_global *g, apr_pool_t *p, server_rec *s)
{
    if (os_startup_become_user(p, s, "start-up helper") != 0) {
        _exit(1);
    }
    ap_log_error(APLOG_MARK, APLOG_DEBUG, 0, s, OSLOG(0150)
                 "start-up helper (pid %ld) running as uid %ld, gid %ld",
                 (long)getpid(), (long)getuid(), (long)getgid());
    os_fetch_startup(g, s, p);
    /* No pool cleanups, no atexit handlers: those are the parent's. */
    _exit(0);
}

apr_status_t os_startup_run(os_global *g, apr_pool_t *ptemp, server_rec *s)
{
    apr_time_t deadline = apr_time_now()
                          + apr_time_from_sec(g->startup_timeout)
                          + OS_STARTUP_GRACE;
    int status = 0;
    pid_t pid, got = 0;

    os_preverify_input_done(g);
    pid = fork();
    if (pid < 0) {
        apr_status_t rv = APR_FROM_OS_ERROR(errno);
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, s, OSLOG(0154)
                     "cannot fork the start-up helper; responses are "
                     "fetched in the background");
        os_preverify_stop(g);
        return rv;
    }
    if (pid == 0) {
        os_helper_main(g, ptemp, s);
    }
    os_preverify_release(g);
    while ((got = waitpid(pid, &status, WNOHANG)) == 0
           && apr_time_now() < deadline) {
        os_preverify_reap(g);
        apr_sleep(OS_STARTUP_POLL);
    }
    if (got == 0) {
        kill(pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, OSLOG(0151)
                     "the start-up helper overran OCSPStapleStartupTimeout "
                     "(%ld s) and was stopped; what it had fetched is "
                     "served, the rest comes from the background refresh",
                     g->startup_timeout);
    }
    else if (got < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, OSLOG(0155)
                     "the start-up helper ended abnormally (status %d); the "
                     "background refresh fetches what is missing", status);
    }
    os_preverify_stop(g);
    os_staple_repair(g, s);
    return APR_SUCCESS;
}
