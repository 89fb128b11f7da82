#!/usr/bin/python3
"""Checks that `make e2e-asan` really tests the sanitizer build, and that a
report fails a test: run with OCSPSTAPLE_E2E_MODULE and OCSPSTAPLE_E2E_PRELOAD
set (the e2e-asan target does), before the end-to-end tests.

  1. httpd started by the harness has the ASan runtime and the ASan build of
     the module mapped, in the parent and in a child (which runs as the User);
  2. a staple is served (the module works under ASan at all);
  3. a SIGSEGV sent to a child produces an AddressSanitizer report in
     ROOT/sanitizer/ (written by the User), and the harness's LogGuard
     reports it: a sanitizer finding cannot go unnoticed.

Exit status 0 when all three hold. A few seconds.
"""

import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Bed, log  # noqa: E402
import httpd_env  # noqa: E402
from httpd_env import HttpdEnv, LogGuard, child_pids  # noqa: E402
import refresh_helpers  # noqa: E402


def mapped(pid, needle):
    try:
        with open("/proc/%d/maps" % pid) as f:
            return needle in f.read()
    except OSError:
        return False


def main():
    fails = []
    if not httpd_env.SAN_PRELOAD or not os.environ.get("OCSPSTAPLE_E2E_MODULE"):
        sys.exit("asan_canary: set OCSPSTAPLE_E2E_MODULE and OCSPSTAPLE_E2E_PRELOAD "
                 "(make -f Makefile.apxs e2e-asan does)")
    runtime = os.path.realpath(httpd_env.SAN_PRELOAD)
    module = os.path.realpath(httpd_env.MODULE_PATH)
    bed = Bed(n_certs=0, validity=3600)
    env = HttpdEnv(bed.pki, name="asan-canary")
    leaf = bed.pki.leaf("rsa")
    env.add_vhost(leaf.hostname, leaf)
    try:
        env.start(timeout=30)
        parent = env.pid()
        kids = refresh_helpers.poll(lambda: child_pids(parent), 10)
        for what, pid in (("parent", parent), ("child", kids[0] if kids else None)):
            if pid is None:
                fails.append("no child process")
                continue
            for needle in (os.path.basename(runtime).split(".so")[0], module):
                if not mapped(pid, needle):
                    fails.append("%s %d: %s not mapped" % (what, pid, needle))
        r = refresh_helpers.staple(env, leaf.hostname, bed.pki)
        if not (r.stapled and r.cert_status == "good"):
            fails.append("no good staple from the ASan build: %r" % r)
        if kids:
            os.kill(kids[0], signal.SIGSEGV)
            refresh_helpers.poll(lambda: env.sanitizer_reports(), 10)
        env.stop()
        reports = env.sanitizer_reports()
        if not any("ERROR: AddressSanitizer: SEGV" in t for t in reports.values()):
            fails.append("no AddressSanitizer report in %s after SIGSEGV to a child: %s"
                         % (env.san_dir, list(reports)))
        problems = LogGuard().problems([env])
        if not any(p.startswith("sanitizer report ") for p in problems):
            fails.append("LogGuard does not report the sanitizer file: %s" % problems)
    finally:
        env.stop()
        if fails:
            log("asan_canary: ServerRoot kept: %s" % env.root)
        else:
            env.cleanup()
        bed.close()
    if fails:
        print("asan_canary: FAILED\n  " + "\n  ".join(fails))
        sys.exit(1)
    print("asan_canary: ok (%s and %s mapped in parent and child; a crash in a child "
          "gives an ASan report that fails the log guard)" % (
              os.path.basename(runtime), os.path.relpath(module, httpd_env.REPO)))


if __name__ == "__main__":
    main()
