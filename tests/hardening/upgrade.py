#!/usr/bin/python3
"""A module upgrade under a running httpd, as a Debian package upgrade does
it (dpkg renames the new file into place, the postinst reloads apache2 = a
graceful restart), and the downgrade back. Not part of CI.

  /usr/bin/python3 tests/hardening/upgrade.py --old REF_OR_SO [--new SO]
  make -f Makefile.apxs hardening-upgrade HARDENING_ARGS="--old 52e763f"

--old: a built mod_ocspstaple.so, or a git revision, which is built in a
temporary worktree (removed afterwards). --new: default .libs/mod_ocspstaple.so.
Both are copied first; httpd loads the copy at the one path.

Three certificates, 30 handshakes on the old build, then the new build
renamed into place and a graceful restart, then 30 handshakes, then the old
build back and a graceful restart. After each restart:

  * every handshake carried a valid good staple
  * the counters carried across the restart are the ones before it
    (OCSPStapleServed, Unserved, Fetches, FetchErrors, and per certificate),
    plus only what happened since: no garbage from a snapshot that the
    other build wrote with another layout
  * no crash, no warn+ line in the error log

Exit status 0 when every check held, 1 otherwise.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import REPO, Bed, auto_status, git_commit, guard_problems, log, tlsload_sweep  # noqa: E402
import httpd_env  # noqa: E402
from httpd_env import HttpdEnv  # noqa: E402

HANDSHAKES = 30


def build_ref(ref, work):
    """Builds mod_ocspstaple.so at git revision ref in a temporary worktree;
    returns a copy of it in work (the worktree is removed)."""
    wt = tempfile.mkdtemp(prefix="ocspstaple-upgrade-wt-", dir="/tmp")
    os.rmdir(wt)
    subprocess.run(["git", "-C", REPO, "worktree", "add", "--detach", wt, ref],
                   check=True, capture_output=True, timeout=120)
    try:
        cp = subprocess.run(["make", "-f", "Makefile.apxs"], cwd=wt, capture_output=True,
                            text=True, timeout=600)
        if cp.returncode != 0:
            raise RuntimeError("building %s failed:\n%s" % (ref, cp.stderr[-3000:]))
        out = os.path.join(work, "old-%s.so" % ref.replace("/", "_"))
        shutil.copyfile(os.path.join(wt, ".libs", "mod_ocspstaple.so"), out)
        return out, subprocess.run(["git", "-C", wt, "rev-parse", "--short=12", "HEAD"],
                                   capture_output=True, text=True).stdout.strip()
    finally:
        subprocess.run(["git", "-C", REPO, "worktree", "remove", "--force", wt],
                       capture_output=True, timeout=120)


def install(src, dst):
    """As dpkg does: write beside, rename over."""
    tmp = dst + ".dpkg-new"
    shutil.copyfile(src, tmp)
    os.chmod(tmp, 0o755)
    os.rename(tmp, dst)


def per_cert(env):
    out = {}
    for line in env.server_status(auto=True).splitlines():
        k, _, v = line.partition(": ")
        if k.startswith("OCSPStaple[") and k.split("]")[1] in (
                "Id", "Served", "Unserved", "Fetches", "FetchErrors", "Failures"):
            i = k[len("OCSPStaple["):k.index("]")]
            out.setdefault(i, {})[k.split("]")[1]] = v.strip()
    return {c["Id"]: c for c in out.values()}


TOTALS = ("OCSPStapleServed", "OCSPStapleUnserved", "OCSPStapleFetches",
          "OCSPStapleFetchErrors")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--old", required=True, help="mod_ocspstaple.so or a git revision")
    ap.add_argument("--new", default=httpd_env.MODULE_PATH)
    a = ap.parse_args()
    problems = []
    bed = Bed(n_certs=3, validity=3600)
    try:
        if os.path.isfile(a.old):
            old, old_id = a.old, git_commit(a.old)
        else:
            log("building %s" % a.old)
            old, old_id = build_ref(a.old, bed.work)
        new, new_id = os.path.abspath(a.new), git_commit(a.new)
        d = os.path.join(bed.work, "module")
        os.makedirs(d)
        os.chmod(d, 0o755)
        path = os.path.join(d, "mod_ocspstaple.so")
        install(old, path)
        httpd_env.MODULE_PATH = path
        env = HttpdEnv(bed.pki, name="upgrade", loglevel="warn ocspstaple:info")
        bed.add_vhosts(env)
        env.start()
        try:
            steps = [("old %s" % old_id, None), ("upgrade to %s" % new_id, new),
                     ("downgrade to %s" % old_id, old)]
            prev_tot = prev_cert = None
            for what, module in steps:
                if module:
                    install(module, path)
                    env.graceful()
                tot, certs = auto_status(env), per_cert(env)
                if prev_tot is not None:
                    for k in TOTALS:
                        if tot.get(k) != prev_tot.get(k):
                            problems.append("%s: %s %s after the restart, %s before" % (
                                what, k, tot.get(k), prev_tot.get(k)))
                    for cid, c in certs.items():
                        p = prev_cert.get(cid, {})
                        for k in ("Served", "Unserved", "Fetches", "FetchErrors", "Failures"):
                            if c.get(k) != p.get(k):
                                problems.append("%s: certificate %s...: %s %s, %s before" % (
                                    what, cid[:12], k, c.get(k), p.get(k)))
                res = tlsload_sweep(env, bed, count=HANDSHAKES, threads=2)
                if res["ok"] != HANDSHAKES or res["errors"]:
                    problems.append("%s: %d of %d handshakes ok, %d failed" % (
                        what, res["ok"], HANDSHAKES, res["errors"]))
                prev_tot, prev_cert = auto_status(env), per_cert(env)
                log("%s: %s" % (what, ", ".join("%s %s" % (k[10:], prev_tot.get(k))
                                                for k in TOTALS)))
        finally:
            env.stop()
        problems += ["error log: " + p for p in guard_problems(env)]
        if problems:
            log("ServerRoot kept: %s" % env.root)
        else:
            env.cleanup()
    finally:
        bed.close()
    if problems:
        print("upgrade: FAILED\n  " + "\n  ".join(problems[:40]))
        sys.exit(1)
    print("upgrade: ok (%s -> %s -> %s; counters carried unchanged, every staple valid)"
          % (old_id, new_id, old_id))


if __name__ == "__main__":
    main()
