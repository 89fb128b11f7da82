#!/usr/bin/python3
"""Restarts without leaks (issue 12, item 3). Not part of CI.

  /usr/bin/python3 tests/hardening/restarts.py           (make -f Makefile.apxs hardening-restarts)
      [--certs 50] [--graceful 100] [--hard 20] [--valgrind-restarts 10]
      [--skip-loop] [--skip-valgrind] [--module PATH] [--mpm event|prefork]

Phase 1, the restart loop: one httpd (event MPM unless --mpm), 50
certificates in 50 vhosts, responses from the test responder's builder
mode valid 20 s (so the refresher fetches every ~10 s per certificate, about
five fetches a second over all, before, between and after restarts).
120 restarts, one hard one (SIGHUP via `apache2 -k restart`, what `apachectl
restart` runs) after every five graceful ones (SIGUSR1): 100 graceful, 20
hard. After each: every certificate refreshed (POST refresh=all to
ocspstaple-status, wait until the fetch counter grew by 50), one sweep of
100 handshakes over the 50 vhosts (every one must be stapled, good and
verified), wait until the old generation's children are gone, then measure:

  parent  VmRSS, open fds (/proc/PID/fd)
  children  (the new generation) largest VmRSS, largest fd count
  shm     SysV segments created by the parent (ipcs -m -p), shared
          mappings in the parent (/proc/PID/maps), /dev/shm entries (system
          wide, reported only: other processes on the machine change it)

Bounds come from restarts 1..10: RSS (parent; largest child) may reach the
largest of those plus max(5 %, 1 MiB); the parent's fds, a child's fds
other than sockets and the shm counts may not exceed the largest of those at
all; a child's fds including sockets (client and responder connections
still closing) may exceed it by 8. Every later restart is checked against them;
the least-squares slope of parent RSS over restarts 11..120 is reported.

Phase 2, valgrind on the parent: a fresh httpd (same 50 vhosts, the module
built by apxs, -g) run under valgrind --leak-check=full
--keep-debuginfo=yes (frames of a module unloaded at a restart stay
readable), 10 restarts (8 graceful, 2 hard) with refreshes and handshakes in
between, then a graceful stop (valgrind makes the children slow too: responses valid
10 min there, OCSPStapleResponderTimeout 60). The parent's report must show no
"definitely lost" record with a frame in the module's sources; every
definite record is listed with its stack (httpd's, OpenSSL's and the
module's, whichever), and so are valgrind's memory errors.

The module is copied to a private file first (--module, default
.libs/mod_ocspstaple.so): httpd loads it again at every restart, and a
rebuild during the run must not change the code under test. Exit status 0
when every check held, 1 otherwise. Results: build/hardening/
restarts.json, and a Markdown summary on stdout (for docs/hardening.md).
"""

import argparse
import glob
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import (REPO, Bed, HttpdEnv, auto_status, guard_problems,  # noqa: E402
                    log, sample, snapshot_module, tlsload_sweep, write_json)
import httpd_env  # noqa: E402
from httpd_env import child_pids  # noqa: E402

OUT = os.path.join(REPO, "build", "hardening", "restarts.json")
# The module's sources: a frame "(file.c:N)" in one of them is the module's.
MODULE_SOURCES = sorted(os.path.basename(p) for p in glob.glob(os.path.join(REPO, "*.c")))
# Lines that these runs may log at warn+ (besides AH01882):
EXPECTED = [
    # a graceful restart while the previous generation still has a
    # connection open (GracefulShutdownTimeout): none expected, listed for
    # clarity if it shows
]


STATUS_LINES = ["<Location /ocspstaple-status>", "  SetHandler ocspstaple-status",
                "  Require ip 127.0.0.1", "</Location>"]


def make_env(bed, mpm, name, cls=HttpdEnv):
    env = cls(bed.pki, mpm=mpm, name=name, loglevel="warn ocspstaple:info")
    bed.add_vhosts(env)
    env.server_lines += ["OCSPStapleStartupTimeout 20"] + STATUS_LINES
    return env


def refresh_all(env, n, timeout=30):
    """POST refresh=all (every certificate fetched again within a second or
    so) and wait until the fetch counter grew by n. Returns the fetches
    seen, or raises."""
    before = int(auto_status(env).get("OCSPStapleFetches", "0"))
    req = urllib.request.Request("http://127.0.0.1:%d/ocspstaple-status" % env.http_port,
                                 data=b"refresh=all", method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        if r.status != 202:
            raise RuntimeError("refresh=all answered %d" % r.status)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = int(auto_status(env).get("OCSPStapleFetches", "0"))
        if now >= before + n:
            return now - before
        time.sleep(0.1)
    raise RuntimeError("refresh=all: %d of %d fetches in %ss" % (now - before, n, timeout))


def wait_generation(env, before_marks, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if env.proc.poll() is not None:
            raise RuntimeError("httpd exited at restart (status %s):\n%s" % (
                env.proc.returncode, env.read_output()[-4000:]))
        if env._count_generation_marks() > before_marks and env.answers(0.5):
            return
        time.sleep(0.05)
    raise RuntimeError("httpd did not come back from restart in %ss:\n%s"
                       % (timeout, env.read_output()[-4000:]))


def hard_restart(env, timeout=60):
    """`apachectl restart`: apache2 -k restart reads the configuration and
    sends SIGHUP to the pid in PidFile."""
    before = env._count_generation_marks()
    t0 = time.monotonic()
    cp = subprocess.run(env._cmd("-k", "restart"), capture_output=True, text=True,
                        timeout=60, env=env.process_env())
    if cp.returncode != 0:
        raise RuntimeError("apache2 -k restart: %s %s" % (cp.stdout, cp.stderr))
    wait_generation(env, before, timeout)
    return time.monotonic() - t0


def graceful_restart(env, timeout=60):
    before = env._count_generation_marks()
    t0 = time.monotonic()
    env.proc.send_signal(signal.SIGUSR1)
    wait_generation(env, before, timeout)
    return time.monotonic() - t0


def check_sweep(res, n, what):
    bad = []
    if res["errors"] or res["handshakes"] == 0:
        bad.append("%s: %d failed handshakes of %d (%s)" % (
            what, res["errors"], res["handshakes"], res.get("first_error")))
    if res["ok"] != res["handshakes"]:
        bad.append("%s: %d of %d handshakes without a valid good staple" % (
            what, res["handshakes"] - res["ok"], res["handshakes"]))
    if res.get("sni_ok_names") != n:
        bad.append("%s: %s of %d vhosts stapled" % (what, res.get("sni_ok_names"), n))
    return bad


def slope(xs, ys):
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else 0.0


METRICS = [
    # key, getter, kind ("rss" or "count")
    ("parent_rss_kb", lambda s: s["parent"]["rss_kb"], "rss"),
    ("parent_fds", lambda s: s["parent"]["fds"], "count"),
    ("child_rss_kb_max", lambda s: s["child_rss_kb_max"], "rss"),
    ("child_nonsocket_fds_max", lambda s: s["child_nonsocket_fds_max"], "count"),
    ("child_fds_max", lambda s: s["child_fds_max"], "sockets"),
    ("sysv_segments", lambda s: s["sysv_segments"], "count"),
    ("shared_mappings", lambda s: s["shared_mappings"], "count"),
]


def restart_loop(a, bed, results):
    n = len(bed.leaves)
    env = make_env(bed, a.mpm, "restarts")
    problems = []
    env.start(timeout=60)
    try:
        res = tlsload_sweep(env, bed)
        problems += check_sweep(res, n, "start")
        st0 = auto_status(env)
        base = sample(env)
        log("start: parent rss %d kB fds %d, children %d (max rss %d kB), sysv %s, "
            "shared maps %s, /dev/shm %s" % (
                base["parent"]["rss_kb"], base["parent"]["fds"], base["children"],
                base["child_rss_kb_max"], base["sysv_segments"], base["shared_mappings"],
                base["dev_shm_entries"]))
        samples = []
        total = a.graceful + a.hard
        every = max(1, total // a.hard) if a.hard else 0
        n_hard = 0
        t_start = time.monotonic()
        for i in range(1, total + 1):
            before = child_pids(env.pid())
            hard = every and i % every == 0 and n_hard < a.hard
            if hard:
                n_hard += 1
                dt = hard_restart(env)
            else:
                dt = graceful_restart(env)
            refresh_all(env, n)
            res = tlsload_sweep(env, bed)
            problems += check_sweep(res, n, "restart %d" % i)
            s = sample(env, before)
            s.update({"i": i, "kind": "hard" if hard else "graceful",
                      "restart_s": round(dt, 3), "sweep_ok": res["ok"],
                      "sweep_handshakes": res["handshakes"],
                      "fetches": int(auto_status(env).get("OCSPStapleFetches", "0"))})
            samples.append(s)
            if i <= 10 or i % 10 == 0:
                log("restart %3d (%s, %.2fs): parent rss %d kB fds %d | children %d "
                    "max rss %d kB max fds %d (%d non-socket) | sysv %s maps %s /dev/shm %s | "
                    "fetches %d" % (
                        i, s["kind"], dt, s["parent"]["rss_kb"], s["parent"]["fds"],
                        s["children"], s["child_rss_kb_max"], s["child_fds_max"],
                        s["child_nonsocket_fds_max"],
                        s["sysv_segments"], s["shared_mappings"], s["dev_shm_entries"],
                        s["fetches"]))
            if problems and a.stop_on_failure:
                break
        elapsed = time.monotonic() - t_start
        st1 = auto_status(env)
        final = tlsload_sweep(env, bed, count=4 * n)
        problems += check_sweep(final, n, "end")
    finally:
        env.stop(timeout=30)
    problems += ["error log: " + p for p in guard_problems(env, EXPECTED)]
    if problems:
        log("restart loop: ServerRoot kept: %s" % env.root)
    else:
        env.cleanup()

    # bounds from restarts 1..10, checked on the rest
    first = samples[:10]
    bounds, series = {}, {}
    for key, get, kind in METRICS:
        vals = [get(s) for s in samples]
        series[key] = vals
        if any(v is None for v in vals) or not first:
            continue
        top = max(get(s) for s in first)
        bound = (top + max(int(top * 0.05), 1024) if kind == "rss"
                 else top + 8 if kind == "sockets" else top)
        bounds[key] = bound
        over = [(s["i"], get(s)) for s in samples[10:] if get(s) > bound]
        if over:
            problems.append("%s past its bound %d (from restarts 1-10) at restarts %s" % (
                key, bound, over[:10]))
    xs = [s["i"] for s in samples[10:]]
    fetches = int(st1.get("OCSPStapleFetches", 0)) - int(st0.get("OCSPStapleFetches", 0))
    fetch_errors = (int(st1.get("OCSPStapleFetchErrors", 0))
                    - int(st0.get("OCSPStapleFetchErrors", 0)))
    out = {
        "certs": n, "mpm": a.mpm, "restarts": len(samples),
        "graceful": sum(1 for s in samples if s["kind"] == "graceful"),
        "hard": sum(1 for s in samples if s["kind"] == "hard"),
        "elapsed_s": round(elapsed, 1),
        "fetches_during_loop": fetches, "fetch_errors_during_loop": fetch_errors,
        "handshakes_checked": sum(s["sweep_handshakes"] for s in samples),
        "start": base, "bounds": bounds,
        "first10_max": {k: max(series[k][:10]) for k in bounds},
        "last10_max": {k: max(series[k][-10:]) for k in bounds},
        "after10_max": {k: max(series[k][10:], default=None) for k in bounds},
        "parent_rss_slope_kb_per_restart": round(slope(xs, series["parent_rss_kb"][10:]), 3),
        "child_rss_slope_kb_per_restart": round(slope(xs, series["child_rss_kb_max"][10:]), 3),
        "dev_shm_entries": {"start": base["dev_shm_entries"],
                            "min": min(s["dev_shm_entries"] for s in samples),
                            "max": max(s["dev_shm_entries"] for s in samples),
                            "end": samples[-1]["dev_shm_entries"]},
        "restart_s": {"graceful_max": max((s["restart_s"] for s in samples
                                           if s["kind"] == "graceful"), default=None),
                      "hard_max": max((s["restart_s"] for s in samples
                                       if s["kind"] == "hard"), default=None)},
        "samples": samples, "problems": problems,
    }
    if fetches < len(samples):
        problems.append("only %d fetches during %d restarts: no refreshes in between?"
                        % (fetches, len(samples)))
    results["loop"] = out
    return problems


# ---- phase 2: valgrind ------------------------------------------------------------

VALGRIND = "valgrind"


class ValgrindEnv(HttpdEnv):
    """httpd whose parent runs under valgrind (the children it forks too,
    silently: --child-silent-after-fork)."""

    def _cmd(self, *extra):
        cmd = super()._cmd(*extra)
        if "-DFOREGROUND" not in extra:
            return cmd
        self.vg_dir = os.path.join(self.root, "valgrind")
        os.makedirs(self.vg_dir, exist_ok=True)
        os.chmod(self.vg_dir, 0o777)
        return [VALGRIND, "--leak-check=full", "--show-leak-kinds=definite,possible",
                "--errors-for-leak-kinds=definite", "--keep-debuginfo=yes",
                "--child-silent-after-fork=yes", "--num-callers=40",
                "--track-fds=yes", "--log-file=%s/vg.%%p.log" % self.vg_dir] + cmd


LOSS_RE = re.compile(r"^==(\d+)== ([\d,]+) (?:\(([\d,]+) direct, ([\d,]+) indirect\) )?"
                     r"bytes in ([\d,]+) blocks are (definitely|possibly|indirectly) lost "
                     r"in loss record")
FRAME_RE = re.compile(r"^==\d+==    (?:at|by) 0x[0-9A-F]+: (.*)$")


def parse_valgrind(text):
    """Loss records and errors of one valgrind log: [{kind, bytes, blocks,
    stack: [frames]}], [{what, stack}], summary lines."""
    lines = text.splitlines()
    losses, errors = [], []
    i = 0
    while i < len(lines):
        m = LOSS_RE.match(lines[i])
        if m:
            stack = []
            j = i + 1
            while j < len(lines) and FRAME_RE.match(lines[j]):
                stack.append(FRAME_RE.match(lines[j]).group(1))
                j += 1
            losses.append({"kind": m.group(6), "bytes": int(m.group(2).replace(",", "")),
                           "blocks": int(m.group(5).replace(",", "")), "stack": stack})
            i = j
            continue
        e = re.match(r"^==\d+== (Invalid (?:read|write|free).*|Conditional jump.*|"
                     r"Use of uninitialised.*|Syscall param.*|Mismatched free.*|"
                     r"Source and destination overlap.*)$", lines[i])
        if e:
            stack = []
            j = i + 1
            while j < len(lines) and FRAME_RE.match(lines[j]):
                stack.append(FRAME_RE.match(lines[j]).group(1))
                j += 1
            errors.append({"what": e.group(1), "stack": stack})
            i = j
            continue
        i += 1
    summary = [l.split("== ", 1)[1] for l in lines
               if re.search(r"definitely lost:|indirectly lost:|possibly lost:|"
                            r"still reachable:|ERROR SUMMARY:|FILE DESCRIPTORS:", l)]
    return losses, errors, summary


def module_frames(stack):
    return [f for f in stack
            if "mod_ocspstaple" in f
            or any("(%s:" % src in f for src in MODULE_SOURCES)]


def valgrind_phase(a, bed, results):
    problems = []
    env = make_env(bed, a.mpm, "valgrind", cls=ValgrindEnv)
    # everything is slower under valgrind (children too): room for the
    # start-up helper's 50 fetches, and for workers finishing at a restart
    env.server_lines += ["OCSPStapleStartupTimeout 60", "GracefulShutdownTimeout 30",
                         "OCSPStapleResponderTimeout 60"]
    # no refresh of its own while valgrind slows everything down: the
    # fetches come from refresh=all after each restart
    bed.responder.set_mode("builder", validity=600)
    t0 = time.monotonic()
    kinds = []
    env.start(timeout=240)
    log("valgrind: httpd up in %.1f s" % (time.monotonic() - t0))
    parent = env.pid()
    try:
        for i in range(1, a.valgrind_restarts + 1):
            hard = i in (4, 8)
            before = env._count_generation_marks()
            if hard:
                cp = subprocess.run(env._cmd("-k", "restart"), capture_output=True,
                                    text=True, timeout=60)
                if cp.returncode != 0:
                    raise RuntimeError("apache2 -k restart: %s" % cp.stderr)
            else:
                env.proc.send_signal(signal.SIGUSR1)
            wait_generation(env, before, timeout=240)
            kinds.append("hard" if hard else "graceful")
            refresh_all(env, len(bed.leaves), timeout=240)
            res = tlsload_sweep(env, bed, count=len(bed.leaves), threads=2, timeout=240)
            problems += check_sweep(res, len(bed.leaves), "valgrind restart %d" % i)
            log("valgrind: restart %d (%s) done, %d/%d handshakes ok" % (
                i, kinds[-1], res["ok"], res["handshakes"]))
        fetches = int(auto_status(env).get("OCSPStapleFetches", "0"))
    finally:
        env.stop(timeout=240)
        bed.responder.set_mode("builder", validity=bed.validity)
    elapsed = time.monotonic() - t0
    problems += ["error log: " + p for p in guard_problems(env, EXPECTED)]
    path = os.path.join(env.vg_dir, "vg.%d.log" % parent)
    text = env._read(path)
    if not text:
        problems.append("no valgrind log for the parent (%s)" % path)
    losses, errors, summary = parse_valgrind(text)
    definite = [l for l in losses if l["kind"] == "definitely"]
    mod_definite = [l for l in definite if module_frames(l["stack"])]
    mod_errors = [e for e in errors if module_frames(e["stack"])]
    if mod_definite:
        problems.append("%d definite leak records with module frames" % len(mod_definite))
    if mod_errors:
        problems.append("%d valgrind errors with module frames" % len(mod_errors))
    results["valgrind"] = {
        "restarts": kinds, "elapsed_s": round(elapsed, 1), "fetches": fetches,
        "log": path, "summary": summary,
        "definite": definite, "definite_module": mod_definite,
        "possible_module": [l for l in losses if l["kind"] == "possibly"
                            and module_frames(l["stack"])],
        "errors": errors, "errors_module": mod_errors, "problems": problems,
    }
    log("valgrind: %s" % "; ".join(summary))
    # keep the log next to the results: the ServerRoot goes away
    keep = os.path.join(os.path.dirname(OUT), "valgrind-parent.log")
    os.makedirs(os.path.dirname(keep), exist_ok=True)
    with open(keep, "w") as f:
        f.write(text)
    results["valgrind"]["log"] = keep
    if not problems:
        env.cleanup()
    else:
        log("valgrind: ServerRoot kept: %s" % env.root)
    return problems


def markdown(results):
    L = []
    lp = results.get("loop")
    if lp:
        b = lp["bounds"]
        L.append("Restart loop: %d certificates in %d vhosts, %s MPM, %d restarts (%d graceful, "
                 "%d hard via `apache2 -k restart`) in %.0f s; %d responder fetches (%d failed) "
                 "during the loop; %d handshakes checked after the restarts, all stapled, "
                 "verified and good." % (
                     lp["certs"], lp["certs"], lp["mpm"], lp["restarts"], lp["graceful"],
                     lp["hard"], lp["elapsed_s"], lp["fetches_during_loop"],
                     lp["fetch_errors_during_loop"], lp["handshakes_checked"]))
        L.append("")
        L.append("| measure | start | max of restarts 1-10 | bound | max of 11-%d | max of last 10 |"
                 % lp["restarts"])
        L.append("|---|---|---|---|---|---|")
        st = lp["start"]
        start_vals = {"parent_rss_kb": st["parent"]["rss_kb"], "parent_fds": st["parent"]["fds"],
                      "child_rss_kb_max": st["child_rss_kb_max"],
                      "child_fds_max": st["child_fds_max"],
                      "child_nonsocket_fds_max": st["child_nonsocket_fds_max"],
                      "sysv_segments": st["sysv_segments"],
                      "shared_mappings": st["shared_mappings"]}
        rest = lp["after10_max"]
        for k in b:
            L.append("| %s | %s | %s | %s | %s | %s |" % (
                k, start_vals.get(k), lp["first10_max"][k], b[k], rest[k],
                lp["last10_max"][k]))
        L.append("")
        L.append("Parent RSS slope over restarts 11-%d: %.2f kB/restart; largest child: "
                 "%.2f kB/restart. /dev/shm entries (system-wide, other processes "
                 "included): %s." % (lp["restarts"], lp["parent_rss_slope_kb_per_restart"],
                                     lp["child_rss_slope_kb_per_restart"],
                                     lp["dev_shm_entries"]))
        L.append("Slowest graceful restart %.2f s, slowest hard restart %.2f s "
                 "(until it answered again)." % (lp["restart_s"]["graceful_max"] or 0,
                                                 lp["restart_s"]["hard_max"] or 0))
    vg = results.get("valgrind")
    if vg:
        L.append("")
        L.append("valgrind on the parent, %d restarts (%s), %.0f s: %s." % (
            len(vg["restarts"]), ", ".join(vg["restarts"]), vg["elapsed_s"],
            "; ".join(vg["summary"])))
        L.append("Definite leak records: %d, with a module frame: %d. Valgrind errors: "
                 "%d, with a module frame: %d." % (
                     len(vg["definite"]), len(vg["definite_module"]), len(vg["errors"]),
                     len(vg["errors_module"])))
        for l in vg["definite"]:
            L.append("- %d bytes in %d blocks: %s" % (
                l["bytes"], l["blocks"], " <- ".join(l["stack"][:8])))
    if results.get("problems"):
        L.append("")
        L.append("Problems:")
        L += ["- " + p for p in results["problems"]]
    return "\n".join(L)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--certs", type=int, default=50)
    ap.add_argument("--graceful", type=int, default=100)
    ap.add_argument("--hard", type=int, default=20)
    ap.add_argument("--valgrind-restarts", type=int, default=10)
    ap.add_argument("--mpm", default="event", choices=("event", "prefork", "worker"))
    ap.add_argument("--module", help="module to load (default .libs/mod_ocspstaple.so)")
    ap.add_argument("--skip-loop", action="store_true")
    ap.add_argument("--skip-valgrind", action="store_true")
    ap.add_argument("--stop-on-failure", action="store_true")
    ap.add_argument("--out", default=OUT)
    a = ap.parse_args()
    module = os.path.abspath(a.module or httpd_env.MODULE_PATH)
    if not os.path.exists(module):
        sys.exit("%s missing: make -f Makefile.apxs" % module)
    problems = []
    bed = Bed(n_certs=a.certs)
    snap = snapshot_module(bed.work, module)
    results = {"commit": snap["commit"], "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
               "module": snap, "machine": {
                   "cpus": os.cpu_count(), "load_at_start": os.getloadavg()}}
    log("module %s (%s, sha256 %s...)" % (module, snap["commit"], snap["sha256"][:16]))
    try:
        if not a.skip_loop:
            problems += restart_loop(a, bed, results)
            write_json(a.out, results)
        if not a.skip_valgrind:
            problems += valgrind_phase(a, bed, results)
    except Exception as e:  # noqa: BLE001 - reported, then exit 1
        problems.append("aborted: %r" % (e,))
        raise
    finally:
        results["problems"] = problems
        results["machine"]["load_at_end"] = os.getloadavg()
        write_json(a.out, results)
        bed.close()
        for env in list(HttpdEnv.instances):
            env.stop()
    print(markdown(results))
    log("results: %s" % a.out)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
