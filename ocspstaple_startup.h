/* The start-up helper: at every start and restart the parent, which runs
 * as root, forks a process that drops to User/Group exactly as httpd's
 * children do and does the start-up work there (ocspstaple_fetch.h). The
 * parent only waits for it, bounded, and reads nothing it wrote but the
 * shared slots' numbers. */
#ifndef OCSPSTAPLE_STARTUP_H
#define OCSPSTAPLE_STARTUP_H

#include "mod_ocspstaple.h"

/* Parent, post_config: runs the helper and waits for it at most
 * OCSPStapleStartupTimeout plus a second; a helper that overruns is
 * killed, and the responses it had installed stay. */
apr_status_t os_startup_run(os_global *g, apr_pool_t *ptemp, server_rec *s);

/* In a process just forked from the parent: the parent's signal handlers
 * off, User/Group as httpd's children get them (ap_run_drop_privileges),
 * a check that root cannot come back, and death with the parent. what
 * names the process in the log. Returns 0, or -1 (logged): _exit then. */
int os_startup_become_user(apr_pool_t *p, server_rec *s, const char *what);

#endif
