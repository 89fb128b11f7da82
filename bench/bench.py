#!/usr/bin/python3
"""mod_ocspstaple benchmark: four httpd configurations serving the same
certificate on loopback, measured interleaved (a b c d a b c d ...):

  (a) TLS without stapling
  (b) mod_ssl native stapling   (SSLUseStapling on, SSLStaplingCache shmcb)
  (c) mod_md stapling           (MDStapling on, MDStapleOthers on, MDStoreDir)
  (d) mod_ocspstaple            (OCSPStaple on, OCSPStapleStore)

all against the end-to-end responder (tests/e2e/ocsp_responder.py) in its
`openssl ocsp`-backed mode. Scenarios (see BENCHMARKS.md):

  S1 steady-state throughput and server CPU per handshake
  S2 first handshake after a cold start and after a graceful restart
  S3 responder hanging while the staple needs refreshing (timers shortened)
  S4 responder down for longer than each server's cache/refresh period
  S5 1000 and 10,000 certificates in as many vhosts: start time (empty /
     warm store), all stapled, memory, responder requests and load, status
     pages
  S6 (only with --scenarios S6) the refresher at the largest --certs: CPU
     idle and per refresh, largest batch, what the responder saw at once

Usage:
  /usr/bin/python3 bench/bench.py --full     # 30 minutes or more (S5 at 10,000), tables for BENCHMARKS.md
  /usr/bin/python3 bench/bench.py --smoke    # a few seconds of each, for CI

Results go to build/bench/ (results.json, tables.md) unless --out says
otherwise. Exit status: 0 when every scenario ran, 1 on a real breakage (a
server that does not start or crashes, a load client that fails, no
handshake at all, the stapling controls (b) and (d) never stapling in
steady state), 2 on usage errors, 130 when interrupted (every process it
started is stopped first). Performance numbers never fail a run.

Needs: build/tlsload (make -f Makefile.apxs build/tlsload) and, for (d),
.libs/mod_ocspstaple.so. Run as root (httpd switches to www-data) or as a
user that may run httpd on unprivileged ports.
"""

import argparse
import collections
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
E2E = os.path.join(REPO, "tests", "e2e")
sys.path.insert(0, E2E)

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.x509 import ocsp  # noqa: E402

import httpd_env  # noqa: E402
from httpd_env import HttpdEnv, MODDIR  # noqa: E402
import ocsp_responder  # noqa: E402
from ocsp_responder import Responder  # noqa: E402
from pki import PKI, Leaf  # noqa: E402

TLSLOAD = os.path.join(REPO, "build", "tlsload")
KINDS = ("a", "b", "c", "d")
KIND_NAMES = {
    "a": "(a) no stapling",
    "b": "(b) mod_ssl stapling",
    "c": "(c) mod_md stapling",
    "d": "(d) mod_ocspstaple",
}
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

# Shortened timers for S3/S4 (seconds): every server is asked to refresh a
# response once it is REFRESH_S old, and to give up on the responder after
# TIMEOUT_S. 5 s is mod_ocspstaple's minimum refresh interval.
REFRESH_S = 5
TIMEOUT_S = 3


class Breakage(Exception):
    """Something that makes the benchmark meaningless (not a slow number)."""


def log(msg):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


# ---- processes ------------------------------------------------------------

children_of = httpd_env.child_pids


def _stat_fields(pid):
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    return st[st.rfind(")") + 2:].split()   # fields[0] is the state (field 3)


def tree_cpu(ppid):
    """CPU seconds (user+system) of the parent, its live children and the
    children it already reaped (cutime/cstime)."""
    total = 0
    try:
        f = _stat_fields(ppid)
        total += sum(int(x) for x in f[11:15])   # utime stime cutime cstime
    except OSError:
        return None
    for c in children_of(ppid):
        try:
            f = _stat_fields(c)
            total += int(f[11]) + int(f[12])
        except OSError:
            pass
    return total / CLK_TCK


def system_busy():
    """CPU seconds all CPUs spent busy (not idle, not iowait) since boot."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return (v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / CLK_TCK


def own_cpu():
    t = os.times()
    return t.user + t.system


def proc_mem(pid):
    """(VmRSS kB, Pss kB) of one process."""
    rss = pss = None
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def tree_mem(ppid):
    par = proc_mem(ppid)
    kids = [proc_mem(c) for c in children_of(ppid)]
    kids = [k for k in kids if k[0] is not None]
    return {
        "parent_rss_kb": par[0], "parent_pss_kb": par[1],
        "children": len(kids),
        "child_rss_kb": [k[0] for k in kids],
        "child_pss_kb": [k[1] for k in kids],
        "child_rss_kb_max": max([k[0] for k in kids] or [0]),
        "total_rss_kb": (par[0] or 0) + sum(k[0] for k in kids),
        "total_pss_kb": (par[1] or 0) + sum(k[1] or 0 for k in kids),
    }


def tlsload(port, count=None, duration=None, threads=1, sni=None, sni_file=None,
            cafile=None, timeout=30.0, retry_connect=None, label="", extra=(),
            allow_fail=False):
    """Runs build/tlsload; returns its JSON (dict)."""
    cmd = [TLSLOAD, "--port", str(port), "--threads", str(threads),
           "--timeout", "%g" % timeout]
    if count:
        cmd += ["--count", str(count)]
    else:
        cmd += ["--duration", "%g" % duration]
    if sni:
        cmd += ["--sni", sni]
    if sni_file:
        cmd += ["--sni-file", sni_file]
    if cafile:
        cmd += ["--cafile", cafile]
    if retry_connect:
        cmd += ["--retry-connect", "%g" % retry_connect]
    if label:
        cmd += ["--label", label]
    cmd += list(extra)
    # generous bound: the run itself, every connection timing out, slack
    if count:
        limit = timeout * max(1, count // max(1, threads)) + 30
        limit = min(limit, 600)
    else:
        limit = duration + 2 * timeout + 30
    limit += retry_connect or 0
    try:
        cp = subprocess.run(cmd, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        raise Breakage("tlsload did not finish within %ds: %s" % (limit, " ".join(cmd)))
    line = cp.stdout.strip().splitlines()[-1] if cp.stdout.strip() else ""
    try:
        res = json.loads(line)
    except ValueError:
        raise Breakage("tlsload exited %d without JSON: %s\n%s" % (
            cp.returncode, " ".join(cmd), cp.stderr))
    if cp.returncode not in (0, 1) or (cp.returncode == 1 and not allow_fail):
        raise Breakage("tlsload exited %d (%s): %s" % (
            cp.returncode, res.get("first_error"), " ".join(cmd)))
    res["human"] = cp.stderr.strip()
    return res


# ---- PKI, responder ---------------------------------------------------------

class BenchPKI(PKI):
    """PKI whose leaves can be issued in bulk: pki.py rewrites index.txt and
    pki.json after every leaf, which is quadratic for 1000 leaves. Inside
    `with pki.batch():` that happens once at the end."""

    _batching = False

    def _save(self):
        if self._batching:
            # only what issue_leaf() needs to return the new Leaf
            for name, meta in self.meta["leaves"].items():
                if name not in self.leaves:
                    self.leaves[name] = Leaf(self, name, meta)
            return
        super()._save()

    def batch(self):
        pki = self

        class _B:
            def __enter__(self):
                pki._batching = True

            def __exit__(self, *a):
                pki._batching = False
                pki._save()
        return _B()


class BenchResponder(Responder):
    """The e2e responder plus a per-certificate cache of pre-signed answers
    (the way CDN-fronted CA responders answer: the same bytes for everyone,
    no nonce). Used only for the 1000-certificate scenario, where one
    `openssl ocsp` process per request would make the responder, not the
    servers, the bottleneck. Enabled with .cached = True; a miss signs with
    cryptography and is kept."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.cached = False
        self.cache_validity = 4 * 3600
        self._presigned = {}
        self._plock = threading.Lock()
        self._stats_lock = threading.Lock()
        self.reset_load()

    # ---- what the responder saw, cheaply (counting hits() at 10,000
    # certificates every 50 ms would take the GIL from the responder) ----
    def reset_load(self):
        with self._stats_lock:
            self.distinct = set()
            self.open_conns = 0
            self.max_conns = 0
            self.per_second = {}

    def load_stats(self):
        with self._stats_lock:
            return {"distinct": len(self.distinct), "max_connections": self.max_conns,
                    "max_requests_per_s": max(self.per_second.values() or [0])}

    def _record(self, hit):
        with self._stats_lock:
            self.distinct.add(hit.serial)
            sec = int(hit.time)
            self.per_second[sec] = self.per_second.get(sec, 0) + 1
        super()._record(hit)

    def _track(self, conn, add):
        with self._stats_lock:
            self.open_conns += 1 if add else -1
            self.max_conns = max(self.max_conns, self.open_conns)
        super()._track(conn, add)

    def presign(self, leaves):
        issuer = self.pki.cert("intermediate")
        for leaf in leaves:
            req = ocsp.OCSPRequestBuilder().add_certificate(
                leaf.cert, issuer, hashes.SHA1()).build()
            der = self.build(req, validity=self.cache_validity)
            self._presigned[(leaf.serial, "sha1")] = der

    def _answer(self, mode, opts, der, req):
        if self.cached and req is not None and mode in ("openssl", "builder"):
            key = (req.serial_number, req.hash_algorithm.name)
            with self._plock:
                body = self._presigned.get(key)
            if body is None:
                body = self.build(req, validity=self.cache_validity)
                try:
                    # a nonce answer cannot be shared
                    req.extensions.get_extension_for_class(x509.OCSPNonce)
                except x509.ExtensionNotFound:
                    with self._plock:
                        self._presigned[key] = body
            return body
        return super()._answer(mode, opts, der, req)


# ---- httpd ------------------------------------------------------------------

class BenchHttpd(HttpdEnv):
    """HttpdEnv for one of the four configurations. Only adds lines; the
    base class writes the common part (same MPM settings for all)."""

    def __init__(self, pki, kind, tag, timers=False, stapling_cache_kb=None,
                 loglevel="warn"):
        super().__init__(pki, loglevel=loglevel, with_module=(kind == "d"),
                         name="bench-%s-%s" % (kind, tag))
        self.kind = kind
        self.timers = timers
        self.stapling_cache_kb = stapling_cache_kb
        self.md_store = os.path.join(self.root, "md")
        if kind == "c":
            self.server_lines += [
                "LoadModule md_module %s/mod_md.so" % MODDIR,
                "MDStoreDir %s" % self.md_store,
                "MDStapling on",
                "MDStapleOthers on",
            ]
            if timers:
                # renewal due all the time: longer than the answers' validity
                self.server_lines.append("MDStaplingRenewWindow 2h")
        if kind == "d":
            self.server_lines += ["OCSPStapleStartupTimeout 5"]
            # the status pages as operators enable them (IfModule-guarded)
            self.tail_lines.append("Include %s" % os.path.join(
                httpd_env.CONF_EXAMPLES, "status.conf"))
            if timers:
                self.server_lines += ["OCSPStapleRefresh %d" % REFRESH_S,
                                      "OCSPStapleResponderTimeout %d" % TIMEOUT_S]

    def add_leaf(self, leaf):
        extra = []
        if self.kind == "b" and self.timers:
            extra = ["SSLStaplingStandardCacheTimeout %d" % REFRESH_S,
                     "SSLStaplingErrorCacheTimeout %d" % REFRESH_S,
                     "SSLStaplingResponderTimeout %d" % TIMEOUT_S]
        if self.kind == "d":
            extra = ["OCSPStaple on"]
        return self.add_vhost(leaf.hostname, leaf,
                              stapling=True if self.kind == "b" else None,
                              extra=extra)

    def render(self):
        text = super().render()
        if self.stapling_cache_kb:
            text = re.sub(r"SSLStaplingCache shmcb:(\S+)\(\d+\)",
                          lambda m: "SSLStaplingCache shmcb:%s(%d)" % (
                              m.group(1), self.stapling_cache_kb * 1024), text)
        return text

    def launch(self):
        """Starts httpd without waiting (cold-start measurements)."""
        self._launch()
        return self.proc.pid

    def parent_pid(self):
        return self.proc.pid if self.proc else None

    def crashed(self):
        text = self.log_text() + self._read(self.stderr_path)
        return [l for l in text.splitlines() if httpd_env.CRASH_RE.search(l)]

    def new_problems(self):
        """error-log lines at error level and above written since the last
        call (for the report)."""
        out = []
        off = getattr(self, "_err_offset", 0)
        try:
            with open(self.error_log, errors="replace") as f:
                f.seek(off)
                text = f.read()
                self._err_offset = f.tell()
        except FileNotFoundError:
            return out
        for raw in text.splitlines():
            line = httpd_env.LogLine(self.error_log, raw)
            if line.level in ("emerg", "alert", "crit", "error") and \
                    not any(rx.search(line.text) for rx in httpd_env.ALWAYS_ALLOWED):
                out.append(line.text)
        return out


class Bench:
    def __init__(self, args):
        self.args = args
        self.smoke = args.smoke
        self.out = os.path.abspath(args.out)
        os.makedirs(self.out, exist_ok=True)
        self.work = tempfile.mkdtemp(prefix="ocspstaple-bench-", dir="/tmp")
        os.chmod(self.work, 0o755)
        self.envs = []
        self.responder = None
        self.results = {"meta": {}, "scenarios": {}}
        self.breakages = []
        self.notes = []
        self.noisy_repeats = 0
        self.module_ok = os.path.exists(httpd_env.MODULE_PATH)
        self.kinds = [k for k in KINDS if k in args.kinds]
        if "d" in self.kinds and not self.module_ok:
            raise Breakage("%s is missing: build the module first" % httpd_env.MODULE_PATH)

    # ---- set-up and tear-down ---------------------------------------------
    def setup(self):
        r = BenchResponder(port=0, nmin=60)
        r.bind()
        self.responder = r
        pkidir = os.path.join(self.work, "pki")
        t0 = time.monotonic()
        self.pki = BenchPKI.generate(pkidir, r.url)
        r.set_pki(self.pki)
        r.start()
        self.leaf = self.pki.leaf("rsa")
        self.cafile = self.pki.root_path
        log("PKI and responder ready (%.1fs), responder %s" % (time.monotonic() - t0, r.url))
        self.check_loopback()

    def check_loopback(self):
        """Every socket this benchmark listens on (responder, httpd) must be
        bound to 127.0.0.1."""
        try:
            out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True,
                                 timeout=10).stdout
        except (OSError, subprocess.SubprocessError):
            return
        mine = {os.getpid()}
        for e in self.envs:
            if e.proc is not None:
                mine.add(e.proc.pid)
                mine.update(children_of(e.proc.pid))
        for line in out.splitlines():
            parts = line.split()
            if len(parts) < 4:
                continue
            pids = {int(x) for x in re.findall(r"pid=(\d+)", line)}
            host = parts[3].rpartition(":")[0]
            if pids & mine and host not in ("127.0.0.1", "[::ffff:127.0.0.1]"):
                raise Breakage("a benchmark socket listens beyond loopback: %s" % line)

    def new_env(self, kind, tag, leaves, **kw):
        env = BenchHttpd(self.pki, kind, tag, **kw)
        for leaf in leaves:
            env.add_leaf(leaf)
        self.envs.append(env)
        return env

    def drop_env(self, env):
        self.stop_env(env)
        if env in self.envs:
            self.envs.remove(env)
        if not self.args.keep:
            shutil.rmtree(env.root, ignore_errors=True)

    def stop_env(self, env):
        if env.proc is not None:
            env.stop()
        # error-level log lines, kept (normalised, counted) for the report
        errs = self.results.setdefault("log_errors", {}).setdefault(env.kind, {})
        for line in env.new_problems():
            key = re.sub(r"^\[[^\]]*\] ", "", line)
            key = re.sub(r"\[pid \d+:tid \d+\] |\[client [\d.:]+\] ", "", key)
            key = re.sub(r"\d+", "N", key)[:200]
            errs[key] = errs.get(key, 0) + 1
        crash = env.crashed()
        if crash:
            self.breakages.append("%s crashed: %s" % (KIND_NAMES[env.kind], crash[:3]))
        if env.killed:
            self.breakages.append("%s had to be killed (SIGKILL) at stop" % KIND_NAMES[env.kind])

    def start_env(self, env, timeout=60):
        try:
            env.start(timeout=timeout)
        except RuntimeError as e:
            raise Breakage("%s did not start: %s" % (KIND_NAMES[env.kind], str(e)[-3000:]))
        self.check_loopback()
        return env

    def teardown(self):
        for env in list(self.envs):
            try:
                self.stop_env(env)
            except Exception as e:  # keep stopping the others
                log("stopping %s: %r" % (env.root, e))
            if not self.args.keep:
                shutil.rmtree(env.root, ignore_errors=True)
        self.envs = []
        if self.responder is not None:
            try:
                self.responder.stop()
                self.responder.stop_control()
            except Exception as e:
                log("stopping responder: %r" % e)
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)
        else:
            log("kept %s" % self.work)

    # ---- helpers ---------------------------------------------------------------
    def warm(self, env, sni, want_staple, timeout=20):
        """Handshakes until one carries a valid staple (or, for (a), one
        completes). Returns seconds waited."""
        t0 = time.monotonic()
        while True:
            res = tlsload(env.port, count=1, sni=sni, cafile=self.cafile, timeout=10,
                          allow_fail=True)
            if res["handshakes"] and (not want_staple or res["ok"]):
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout:
                return None
            time.sleep(0.1)

    def load(self, env, duration, threads, sni, label, timeout=30, retries=None):
        """One measured run. The machine may be shared: CPU used during the
        run by processes other than this server, the client and this script
        ("foreign" CPU, from /proc/stat) is recorded, and a run with more
        than --max-foreign cores of it is repeated (up to `retries` times;
        the last attempt is kept whatever it shows)."""
        if retries is None:
            retries = self.args.noisy_retries
        for attempt in range(retries + 1):
            cpu0, busy0, own0 = tree_cpu(env.parent_pid()), system_busy(), own_cpu()
            res = tlsload(env.port, duration=duration, threads=threads, sni=sni,
                          cafile=self.cafile, timeout=timeout, label=label)
            cpu1, busy1, own1 = tree_cpu(env.parent_pid()), system_busy(), own_cpu()
            if cpu0 is not None and cpu1 is not None and res["handshakes"]:
                res["server_cpu_s"] = cpu1 - cpu0
                res["server_cpu_ms_per_hs"] = 1000.0 * (cpu1 - cpu0) / res["handshakes"]
                res["client_cpu_ms_per_hs"] = 1000.0 * res["client_cpu_s"] / res["handshakes"]
                foreign = (busy1 - busy0) - (cpu1 - cpu0) - res["client_cpu_s"] - (own1 - own0)
                res["foreign_cores"] = max(0.0, foreign) / max(res["elapsed_s"], 1e-3)
            res["attempt"] = attempt
            if res.get("foreign_cores", 0.0) <= self.args.max_foreign or attempt == retries:
                break
            log("  (repeating %s: %.2f cores used by other processes)" % (
                label, res["foreign_cores"]))
            self.noisy_repeats += 1
            time.sleep(1.0)
        return res

    # ---- S1: steady state -------------------------------------------------------
    def s1(self):
        a = self.args
        for key in a.s1_keys:
            if key == "rsa":
                self.s1_key("S1", self.leaf, a.s1_rounds, a.s1_duration)
            elif key == "ecdsa":
                self.s1_key("S1-ecdsa", self.pki.leaf("ecdsa"), a.s1_ecdsa_rounds,
                            a.s1_duration)

    def s1_key(self, name, leaf, rounds, dur):
        threads = 2
        log("%s steady state, %s leaf: %d rounds x %gs, %d client threads" % (
            name, leaf.key_type, rounds, dur, threads))
        envs = {}
        for k in self.kinds:
            envs[k] = self.start_env(self.new_env(k, "s1", [leaf]))
        sni = leaf.hostname
        for k in self.kinds:
            w = self.warm(envs[k], sni, want_staple=(k != "a"))
            if w is None and k != "a":
                self.notes.append("S1: %s had no valid staple after 20 s of warming" % KIND_NAMES[k])
            if not self.smoke:   # warm-up load, not measured
                tlsload(envs[k].port, duration=1.0, threads=threads, sni=sni,
                        cafile=self.cafile)
        runs = {k: [] for k in self.kinds}
        for r in range(rounds):
            for k in self.kinds:
                res = self.load(envs[k], dur, threads, sni, "%s-%s-%d" % (name, k, r))
                runs[k].append(res)
                log("  " + res["human"])
        for k in self.kinds:
            self.drop_env(envs[k])
        out = {"rounds": rounds, "duration_s": dur, "threads": threads, "runs": runs,
               "leaf": leaf.name, "peer_key": next((x["peer_key"] for x in runs[self.kinds[0]]), "")}
        for k in self.kinds:
            if sum(x["handshakes"] for x in runs[k]) == 0:
                self.breakages.append("%s: no handshake completed on %s" % (name, KIND_NAMES[k]))
            if k in ("b", "d") and sum(x["stapled"] for x in runs[k]) == 0:
                self.breakages.append("%s: %s never stapled in steady state" % (name, KIND_NAMES[k]))
        self.results["scenarios"][name] = out
        self.save()

    # ---- S2: cold start, graceful restart -------------------------------------------
    def s2(self):
        """Per round and configuration, a fresh ServerRoot (empty store):
        cold: the client retries connect() every 2 ms from the launch and
              handshakes as soon as the listener exists;
        graceful: SIGUSR1 on the running server, a handshake 50 ms later
              (what a client sees, including httpd's own restart time);
        settled: a second SIGUSR1, then the first handshake once the new
              generation is serving (httpd logged the restart and 1.5 s
              passed): the stapling part of a restart alone.
        Each followed by 20 more handshakes; responder requests counted."""
        rounds = self.args.s2_rounds
        log("S2 first handshake after cold start / graceful restart: %d rounds" % rounds)
        sni = self.leaf.hostname
        runs = {k: [] for k in self.kinds}
        r_ = self.responder
        for r in range(rounds):
            for k in self.kinds:
                env = self.new_env(k, "s2", [self.leaf])
                rec = {}
                r_.reset_counts()
                t_launch = time.time()
                env.launch()
                res = tlsload(env.port, count=1, sni=sni, cafile=self.cafile,
                              timeout=30, retry_connect=30, allow_fail=True)
                rec["cold"] = self._first(res, t_launch, r_.count())
                self._next20(env, sni, rec, "cold")
                # wait until the start is complete before the restart
                deadline = time.monotonic() + 30
                while not env.answers(0.5) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if env.proc is None or env.proc.poll() is not None:
                    raise Breakage("S2: %s exited after start:\n%s" % (
                        KIND_NAMES[k], env.read_output()[-3000:]))
                time.sleep(0.3)
                r_.reset_counts()
                t_sig = time.time()
                env.proc.send_signal(signal.SIGUSR1)
                time.sleep(0.05)   # let the old generation stop accepting
                res = tlsload(env.port, count=1, sni=sni, cafile=self.cafile,
                              timeout=30, retry_connect=30, allow_fail=True)
                rec["graceful"] = self._first(res, t_sig, r_.count())
                self._next20(env, sni, rec, "graceful")
                time.sleep(1.5 if not self.smoke else 0.2)
                marks = env._count_generation_marks()
                r_.reset_counts()
                t_sig = time.time()
                env.proc.send_signal(signal.SIGUSR1)
                deadline = time.monotonic() + 30
                while env._count_generation_marks() <= marks and time.monotonic() < deadline:
                    time.sleep(0.02)
                time.sleep(1.5 if not self.smoke else 0.2)
                res = tlsload(env.port, count=1, sni=sni, cafile=self.cafile,
                              timeout=30, retry_connect=30, allow_fail=True)
                rec["settled"] = self._first(res, t_sig, r_.count())
                self._next20(env, sni, rec, "settled")
                runs[k].append(rec)
                log("  %s round %d: cold %s, graceful %s, settled %s" % (
                    KIND_NAMES[k], r, rec["cold"], rec["graceful"], rec["settled"]))
                for ev in ("cold", "graceful", "settled"):
                    if not rec[ev]["handshake"]:
                        self.breakages.append("S2: %s: no handshake (%s): %s" % (
                            KIND_NAMES[k], ev, rec[ev].get("error")))
                self.drop_env(env)
        self.results["scenarios"]["S2"] = {"rounds": rounds, "runs": runs}
        self.save()

    def _next20(self, env, sni, rec, ev):
        nxt = tlsload(env.port, count=20, sni=sni, cafile=self.cafile,
                      timeout=30, allow_fail=True)
        rec[ev + "_next20_stapled"] = nxt["stapled"]
        rec[ev + "_next20_ok"] = nxt["ok"]

    @staticmethod
    def _first(res, t_ref, requests=None):
        f = res.get("first")
        if not f:
            return {"handshake": False, "error": res.get("first_error")}
        return {"handshake": True, "stapled": f["stapled"], "ok": f["ok"],
                "handshake_ms": f["ms"], "since_event_ms": 1000.0 * (f["done_unix"] - t_ref),
                "responder_requests": requests}

    # ---- S3 + S4: responder hanging, responder down -----------------------------------
    def s3s4(self):
        a = self.args
        rounds, dur3, dur4, threads = a.s3_rounds, a.s3_duration, a.s4_duration, a.s3_threads
        log("S3/S4 responder hanging / down: %d rounds, %gs / %gs, %d threads" % (
            rounds, dur3, dur4, threads))
        sni = self.leaf.hostname
        envs = {}
        for k in self.kinds:
            envs[k] = self.start_env(self.new_env(k, "s3", [self.leaf], timers=True))
        warm = {}
        for k in self.kinds:
            warm[k] = self.warm(envs[k], sni, want_staple=(k != "a"))
        self.responder.reset_counts()
        self.responder.set_mode("hang")
        t_hang = time.monotonic()
        # every server's response is now older than its refresh point
        settle = REFRESH_S + TIMEOUT_S + 1 if not self.smoke else 0.5
        time.sleep(settle)
        runs3 = {k: [] for k in self.kinds}
        for r in range(rounds):
            for k in self.kinds:
                res = self.load(envs[k], dur3, threads, sni, "S3-%s-%d" % (k, r),
                                timeout=120)
                runs3[k].append(res)
                log("  " + res["human"])
        hang_requests = self.responder.count()
        self.responder.set_mode("refuse")
        t_down = time.monotonic()
        wait = (REFRESH_S + TIMEOUT_S + 2) if not self.smoke else 0.5
        time.sleep(wait)
        runs4 = {k: [] for k in self.kinds}
        for r in range(a.s4_rounds):
            for k in self.kinds:
                res = self.load(envs[k], dur4, 2, sni, "S4-%s-%d" % (k, r))
                runs4[k].append(res)
                log("  " + res["human"])
        down_s = time.monotonic() - t_down
        unavailable_s = time.monotonic() - t_hang
        self.responder.reset()
        for k in self.kinds:
            if sum(x["handshakes"] for x in runs3[k] + runs4[k]) == 0:
                self.breakages.append("S3/S4: no handshake completed on %s" % KIND_NAMES[k])
            self.drop_env(envs[k])
        self.results["scenarios"]["S3"] = {
            "rounds": rounds, "duration_s": dur3, "threads": threads, "runs": runs3,
            "warm_s": warm, "settle_s": settle, "responder_requests_while_hanging": hang_requests}
        self.results["scenarios"]["S4"] = {
            "rounds": a.s4_rounds, "duration_s": dur4, "threads": 2, "runs": runs4,
            "refused_for_s_at_end": down_s, "responder_unavailable_s_at_end": unavailable_s}
        self.save()

    # ---- S5: scale ------------------------------------------------------------------------
    SUMMARY_RE = re.compile(r"OCSPS\d+: (\d+) certificates?: (\d+) good, (\d+) revoked, "
                            r"(\d+) missing, .*\((\d+) from the store, (\d+) fetched in "
                            r"([\d.]+) s(?:; before that the parent received the "
                            r"certificates in ([\d.]+) s and prepared in ([\d.]+) s)?\)")
    # What (d) shows at scale: each page and its size and time to render.
    STATUS_PAGES = ("server-status", "server-status?auto", "ocspstaple-status",
                    "ocspstaple-metrics",
                    "server-status?state=expiring,failing,revoked,missing,expired",
                    "server-status?auto&state=none", "ocspstaple-status?state=failing",
                    "ocspstaple-metrics?state=expiring,failing,revoked,missing,expired")

    def _module_summary(self, env):
        text = env.log_text()
        hits = self.SUMMARY_RE.findall(text)
        if not hits:
            # the helper overran OCSPStapleStartupTimeout (+1 s) and was
            # stopped: what it installed is served, the refresher loads the
            # rest
            return {"stopped": True} if "OCSPS0151" in text else None
        c, good, rev, missing, stored, fetched, secs, prime, prep = hits[-1]
        return {"certs": int(c), "good": int(good), "missing": int(missing),
                "from_store": int(stored), "fetched": int(fetched),
                "prefetch_s": float(secs),
                # the parent's own part of the start, before the helper
                "prime_s": float(prime) if prime else None,
                "prepare_s": float(prep) if prep else None}

    def _missing(self, env):
        """(d): certificates with a responder but no valid staple (the
        filter keeps the page small at scale; an older module ignores it)."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/server-status?auto&state=none"
                                        % env.http_port, timeout=20) as resp:
                for line in resp.read().decode(errors="replace").splitlines():
                    if line.startswith("OCSPStapleMissing:"):
                        return int(line.split(":", 1)[1])
        except (OSError, ValueError):
            pass
        return None

    def _status_pages(self, env):
        out = {}
        for page in self.STATUS_PAGES:
            times, size = [], None
            for _ in range(3):
                t = time.monotonic()
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d/%s" % (env.http_port, page),
                                                timeout=60) as resp:
                        size = len(resp.read())
                except (OSError, ValueError):
                    size = None
                    break
                times.append(time.monotonic() - t)
            out[page] = {"bytes": size, "s": med(times)}
        return out

    def _s5_start(self, env, n, sni_file, sweep=True, wait_all=False, status=False):
        r = self.responder
        r.reset_counts()
        r.reset_load()
        t_launch = time.monotonic()
        self.start_env(env, timeout=60 + 0.03 * n)
        cpu0 = tree_cpu(env.parent_pid())
        load0 = r.load_stats()
        rec = {"start_s": env.startup_seconds,
               # CPU of the whole start (parent, children, the module's
               # reaped helpers): steadier than the wall time on a shared
               # machine
               "start_cpu_s": cpu0,
               "responder_requests_at_ready": r.count(),
               "responder_distinct_at_ready": load0["distinct"],
               "loadavg_at_ready": os.getloadavg()[0]}
        if env.kind == "d":
            rec["module_summary"] = self._module_summary(env)
            # every certificate with a valid staple: at once when the
            # helper finished, later when it was stopped at its deadline
            rec["all_stapled_after_s"] = None
            deadline = time.monotonic() + (90 if not self.smoke else 10)
            while time.monotonic() < deadline:
                if self._missing(env) == 0:
                    rec["all_stapled_after_s"] = time.monotonic() - t_launch
                    break
                time.sleep(0.1)
        if wait_all:
            # (c) and (d) fetch in the background after the start (mod_md
            # always, the module what its helper did not get to): wait
            # (bounded) and record when every certificate had been asked for
            rec["all_fetched_after_s"] = None
            deadline = time.monotonic() + (90 if not self.smoke else 10)
            while time.monotonic() < deadline:
                if r.load_stats()["distinct"] >= n:
                    rec["all_fetched_after_s"] = time.monotonic() - t_launch
                    break
                time.sleep(0.05)
            time.sleep(0.5)   # let the last answers land in the stores
        if sweep:
            sw = tlsload(env.port, count=n, threads=2, sni_file=sni_file,
                         cafile=self.cafile, timeout=30, allow_fail=True)
            rec.update({
                "sweep_ok_names": sw.get("sni_ok_names"),
                "sweep_stapled_names": sw.get("sni_stapled_names"),
                "sweep_handshakes": sw["handshakes"], "sweep_errors": sw["errors"],
                "sweep_p50_ms": sw["lat_ms"]["p50"], "sweep_p99_ms": sw["lat_ms"]["p99"],
            })
            if sw["handshakes"] == 0:
                self.breakages.append("S5: no handshake on %s (%s)" % (
                    KIND_NAMES[env.kind], sw.get("first_error")))
            rec["mem"] = tree_mem(env.parent_pid())
        if status and env.kind == "d":
            rec["status_pages"] = self._status_pages(env)
        rec["responder_requests_total"] = r.count()
        rec["responder_load"] = r.load_stats()
        self.stop_env(env)
        rec["store_bytes"] = self._du(env.store_dir if env.kind == "d" else
                                      env.md_store if env.kind == "c" else None)
        return rec

    def s5(self):
        sizes = self.args.certs
        biggest = max(sizes)
        t0 = time.monotonic()
        leaves = []
        with self.pki.batch():
            for i in range(biggest):
                leaves.append(self.pki.issue_leaf("bulk%04d" % i, key_type="ec",
                                                  dns=["bulk%04d.test" % i]))
        leaves = [self.pki.leaf(l.name) for l in leaves]
        t_pki = time.monotonic() - t0
        r = self.responder
        r.cached = True
        t0 = time.monotonic()
        r.presign(leaves)
        t_presign = time.monotonic() - t0
        log("S5 scale: %d leaves in %.1fs, pre-signed answers in %.1fs; runs at %s "
            "certificates" % (biggest, t_pki, t_presign, ", ".join(map(str, sizes))))
        for n in sizes:
            self.s5_at(n, leaves[:n], t_pki, t_presign)
        r.cached = False

    def s5_at(self, n, leaves, t_pki, t_presign):
        n_small = min(10, n // 2)
        warm_rounds = self.args.s5_warm_rounds
        r = self.responder
        log("S5 scale: %d certificates in %d vhosts" % (n, n))
        sni_files = {}
        for m in (n, n_small):
            sni_files[m] = os.path.join(self.work, "snis-%d.txt" % m)
            with open(sni_files[m], "w") as f:
                f.write("\n".join(l.hostname for l in leaves[:m]) + "\n")
        resp_sizes = [len(r._presigned[(l.serial, "sha1")]) for l in leaves
                      if (l.serial, "sha1") in r._presigned]
        out = {"certs": n, "certs_small": n_small, "warm_rounds": warm_rounds,
               "pki_s": t_pki, "presign_s": t_presign,
               "response_der_bytes_mean": statistics.mean(resp_sizes) if resp_sizes else None,
               "mod_ssl_stapling_cache_kb": None, "per_kind": {}}
        # mod_ssl: shmcb for n responses with room to spare (its default,
        # 32 KiB in HttpdEnv, holds about 25)
        cache_kb = max(512, (n * 4096) // 1024)
        out["mod_ssl_stapling_cache_kb"] = cache_kb
        envs = {}
        for k in self.kinds:
            rec = {}
            small = self.new_env(k, "s5small", leaves[:n_small],
                                 stapling_cache_kb=cache_kb if k == "b" else None)
            rec["small"] = self._s5_start(small, n_small, sni_files[n_small],
                                          wait_all=(k == "c"))
            self.drop_env(small)
            env = envs[k] = self.new_env(k, "s5", leaves,
                                         stapling_cache_kb=cache_kb if k == "b" else None)
            rec["empty"] = self._s5_start(env, n, sni_files[n], wait_all=(k in ("c", "d")))
            rec["warm"] = []
            out["per_kind"][k] = rec
            p = rec["empty"]
            log("  %s empty store: start %.2fs, responder %d at ready / %d total (at most "
                "%d connections at once), valid staples %s/%d, parent RSS %s kB, children "
                "%s kB" % (
                    KIND_NAMES[k], p["start_s"] or -1, p["responder_requests_at_ready"],
                    p["responder_requests_total"], p["responder_load"]["max_connections"],
                    p.get("sweep_ok_names"), n, p["mem"]["parent_rss_kb"],
                    p["mem"]["child_rss_kb"]))
        for i in range(warm_rounds):
            for k in self.kinds:
                last = i == warm_rounds - 1
                p = self._s5_start(envs[k], n, sni_files[n], sweep=last, status=last)
                out["per_kind"][k]["warm"].append(p)
                log("  %s warm store #%d: start %.2fs, responder %d at ready%s%s" % (
                    KIND_NAMES[k], i, p["start_s"] or -1, p["responder_requests_at_ready"],
                    ", valid staples %s/%d" % (p.get("sweep_ok_names"), n) if last else "",
                    ", helper %s" % p.get("module_summary") if k == "d" else ""))
        for k in self.kinds:
            self.drop_env(envs[k])
        self.results["scenarios"]["S5-%d" % n] = out
        self.save()

    # ---- S6: the refresher at scale (opt-in) --------------------------------------------
    REFRESHED_RE = re.compile(r"^\[[A-Za-z]{3} ([A-Za-z]{3} +\d+ [\d:]+)\.\d+ \d{4}\] "
                              r"\[ocspstaple:debug\].* OCSPS0034: ")

    def _bulk_leaves(self, n):
        have = getattr(self, "_bulk", [])
        if len(have) < n:
            with self.pki.batch():
                for i in range(len(have), n):
                    self.pki.issue_leaf("bulk%04d" % i, key_type="ec",
                                        dns=["bulk%04d.test" % i])
            have = [self.pki.leaf("bulk%04d" % i) for i in range(n)]
            self._bulk = have
        return have[:n]

    def s6(self):
        """n certificates whose answers are valid V seconds, the responder
        signing new ones every V/4 (as CAs pre-sign): the refresher renews
        each at half its validity (up to 10% earlier at random), so after
        the cold start all n come due within V/20 s, then again, spread a
        little wider each time. Measured over --s6-duration: the child's
        CPU while nothing is due (the per-second scan of every
        certificate) and per refresh, the largest batch (the module's
        "refreshed" lines per second) and what the responder saw at once."""
        n = max(self.args.certs)
        validity = self.args.s6_validity
        duration = self.args.s6_duration
        leaves = self._bulk_leaves(n)
        r = self.responder
        r.cached = True
        r.cache_validity = validity
        stop = threading.Event()
        presigns = []

        def presigner():
            while not stop.wait(validity / 4.0):
                t = time.monotonic()
                r.presign(leaves)
                presigns.append(time.monotonic() - t)
        t0 = time.monotonic()
        r.presign(leaves)
        log("S6 refresher: %d certificates, answers valid %d s, pre-signed in %.1fs; "
            "watching %d s" % (n, validity, time.monotonic() - t0, duration))
        th = threading.Thread(target=presigner, daemon=True)
        th.start()
        env = self.new_env("d", "s6", leaves, loglevel="warn ocspstaple:debug")
        r.reset_counts()
        r.reset_load()
        self.start_env(env, timeout=60 + 0.03 * n)
        t_start = time.monotonic()
        epoch_start = time.time()
        start_hits = r.count()
        samples = []      # (seconds since start, children CPU s, responder requests)
        while time.monotonic() - t_start < duration:
            kids = children_of(env.parent_pid())
            cpu = 0.0
            for c in kids:
                try:
                    f = _stat_fields(c)
                    cpu += (int(f[11]) + int(f[12])) / CLK_TCK
                except OSError:
                    pass
            samples.append((time.monotonic() - t_start, cpu, r.count()))
            time.sleep(5 if not self.smoke else 0.5)
        stop.set()
        load = r.load_stats()
        # the refresher's seconds only (the start-up helper fetched before)
        per_second = {t: c for t, c in r.per_second.items() if t > epoch_start + 2}
        total = r.count() - start_hits
        self.stop_env(env)
        th.join(timeout=60)
        # the module's own account of each refresh: one debug line each
        stamps = collections.Counter()
        for line in env.log_text().splitlines():
            m = self.REFRESHED_RE.match(line)
            if m:
                stamps[m.group(1)] += 1
        # idle: 5-s windows in which the responder saw nothing
        idle = [(b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(samples, samples[1:])
                if b[2] == a[2] and b[0] > a[0]]
        cpu_total = samples[-1][1] - samples[0][1] if len(samples) > 1 else None
        span = samples[-1][0] - samples[0][0] if len(samples) > 1 else None
        idle_rate = med(idle)
        per_refresh = ((cpu_total - (idle_rate or 0) * span) / total
                       if total and cpu_total is not None else None)
        out = {"certs": n, "validity_s": validity, "duration_s": duration,
               "refreshes": total, "responder_load": load,
               "largest_batch": max(stamps.values() or [0]),
               "refreshed_lines": sum(stamps.values()),
               "busiest_second_at_responder": max(per_second.values() or [0]),
               "children_cpu_s": cpu_total, "watched_s": span,
               "idle_cpu_per_s": idle_rate, "idle_windows": len(idle),
               "cpu_per_refresh_s": per_refresh, "presign_s": presigns,
               "samples": samples}
        log("  %d refreshes, largest batch %d, responder: at most %d connections, %d "
            "requests in one second; children CPU %.1f s over %.0f s, idle %.4f s/s, "
            "%.2f ms per refresh" % (
                total, out["largest_batch"], load["max_connections"],
                out["busiest_second_at_responder"], cpu_total or -1, span or -1,
                idle_rate or -1, 1000 * (per_refresh or -0.001)))
        r.cached = False
        r.cache_validity = 4 * 3600
        self.drop_env(env)
        self.results["scenarios"]["S6"] = out
        self.save()

    @staticmethod
    def _du(path):
        if not path or not os.path.isdir(path):
            return None
        total = 0
        for dp, dn, fn in os.walk(path):
            for f in fn:
                try:
                    total += os.path.getsize(os.path.join(dp, f))
                except OSError:
                    pass
        return total

    # ---- output -------------------------------------------------------------------------
    def machine(self):
        def cmd(c):
            try:
                return subprocess.run(c, capture_output=True, text=True,
                                      timeout=10).stdout.strip()
            except (OSError, subprocess.SubprocessError):
                return "?"
        model = "?"
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        model = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        mem = "?"
        try:
            with open("/proc/meminfo") as f:
                mem = f.readline().split(":", 1)[1].strip()
        except OSError:
            pass
        osr = "?"
        try:
            with open("/etc/os-release") as f:
                for line in f:
                    if line.startswith("PRETTY_NAME="):
                        osr = line.split("=", 1)[1].strip().strip('"')
        except OSError:
            pass
        return {
            "nproc": os.cpu_count(), "cpu": model, "memory": mem,
            "kernel": platform.release(), "os": osr,
            "httpd": cmd([httpd_env.HTTPD, "-v"]).splitlines()[0] if cmd([httpd_env.HTTPD, "-v"]) else "?",
            "openssl": cmd(["openssl", "version"]),
            "python": sys.version.split()[0],
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "git": cmd(["git", "-C", REPO, "rev-parse", "--short", "HEAD"]) or "uncommitted",
        }

    def save(self):
        self.results["breakages"] = self.breakages
        self.results["notes"] = self.notes
        with open(os.path.join(self.out, "results.json"), "w") as f:
            json.dump(self.results, f, indent=1, default=str)

    def run(self):
        self.results["meta"] = {"machine": self.machine(), "args": vars(self.args),
                                "refresh_s": REFRESH_S, "timeout_s": TIMEOUT_S}
        t0 = time.monotonic()
        self.setup()
        todo = self.args.scenarios
        timing = self.results["meta"]["scenario_s"] = {}
        for name, fn in (("S1", self.s1), ("S2", self.s2), ("S3+S4", self.s3s4),
                         ("S5", self.s5), ("S6", self.s6)):
            if any(x in todo for x in name.split("+")):
                t = time.monotonic()
                fn()
                timing[name] = round(time.monotonic() - t, 1)
        self.results["meta"]["elapsed_s"] = time.monotonic() - t0
        self.results["meta"]["noisy_repeats"] = self.noisy_repeats
        self.save()
        tables = render_tables(self.results)
        with open(os.path.join(self.out, "tables.md"), "w") as f:
            f.write(tables)
        print(tables)


# ---- tables -------------------------------------------------------------------------------

def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec="%.1f", none="-"):
    return none if x is None else spec % x


def pct(x):
    return fmt(None if x is None else 100.0 * x, "%.1f%%")


def table(head, rows):
    out = ["| " + " | ".join(head) + " |",
           "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def share_of(runs, key):
    hs = sum(r["handshakes"] for r in runs)
    return sum(r[key] for r in runs) / hs if hs else None


def render_s5(s, kinds):
    out = []
    n, ns = s["certs"], s["certs_small"]
    pk = s["per_kind"]
    out.append("\n### S5 %d certificates in %d vhosts: start and responder requests\n\n"
               "Responder answers from a per-certificate cache of pre-signed responses "
               "(mean %s bytes). Start = launch until httpd answers HTTP; warm = median of "
               "%d restarts with the store left by the previous run (stop + start). All "
               "stapled = launch until (d) has a valid response for every certificate "
               "(server-status, polled every 0.1 s). Responder load: the most connections "
               "open at once and requests in one second, over the whole run.\n\n" % (
                   n, n, fmt(s["response_der_bytes_mean"], "%.0f"), s["warm_rounds"]))
    base = pk.get("a")

    def wmed(rec, key):
        return med(w.get(key) for w in rec["warm"])

    def helper(ms):
        if not ms:
            return "-"
        if ms.get("stopped"):
            return "stopped at its deadline"
        extra = ""
        if ms.get("prime_s") is not None:
            extra = "; parent before it: %.2f s receiving certificates, %.2f s preparing" % (
                ms["prime_s"], ms["prepare_s"])
        return "%d from store, %d fetched in %.2f s, %d missing%s" % (
            ms["from_store"], ms["fetched"], ms["prefetch_s"], ms["missing"], extra)
    rows = []
    for k in kinds:
        if k not in pk:
            continue
        rec = pk[k]
        e = rec["empty"]
        wl = rec["warm"][-1] if rec["warm"] else {}
        es, ws = e["start_s"], wmed(rec, "start_s")
        ld = e.get("responder_load") or {}
        rows.append([
            KIND_NAMES[k], fmt(es, "%.2f"),
            fmt(es - base["empty"]["start_s"] if base else None, "%+.2f"),
            e["responder_requests_at_ready"],
            helper(e.get("module_summary")),
            fmt(e.get("all_fetched_after_s"), "%.2f"),
            fmt(e.get("all_stapled_after_s"), "%.2f"),
            "%s/%d" % (e.get("sweep_ok_names"), n),
            "%s / %s" % (ld.get("max_connections", "-"), ld.get("max_requests_per_s", "-")),
            fmt(ws, "%.2f"),
            fmt(ws - wmed(base, "start_s") if base and ws is not None else None, "%+.2f"),
            fmt(wmed(rec, "all_stapled_after_s"), "%.2f"),
            helper(wl.get("module_summary")),
            sum(w["responder_requests_at_ready"] for w in rec["warm"]),
            "%s/%d" % (wl.get("sweep_ok_names"), n),
            "%s / %s" % (e["responder_requests_total"], wl.get("responder_requests_total")),
        ])
    out.append(table(["config", "start, empty store s", "vs (a)",
                      "responder requests by ready", "start-up helper (its log)",
                      "all fetched after s", "all stapled after s",
                      "valid staples after start (sweep)",
                      "responder load: connections / requests per s",
                      "start, warm store s", "vs (a)", "warm: all stapled after s",
                      "warm: start-up helper (last run)", "responder requests at warm starts",
                      "valid staples after warm start",
                      "responder requests: empty run / last warm run"], rows))
    if base and base["warm"]:
        # Warm starts are interleaved (a, d, a, d ...): each round's pair
        # ran seconds apart; the median of their differences is steadier
        # than the difference of medians.
        rows = []
        for k in kinds:
            if k not in pk or k == "a" or not pk[k]["warm"]:
                continue
            pairs = list(zip(base["warm"], pk[k]["warm"]))

            def diffs(key):
                return [d[key] - a[key] for a, d in pairs
                        if a.get(key) is not None and d.get(key) is not None]
            dw, dc = diffs("start_s"), diffs("start_cpu_s")
            rows.append([KIND_NAMES[k], len(pairs),
                         fmt(med(dw), "%+.2f"), ", ".join("%+.2f" % x for x in dw),
                         fmt(med(w.get("start_cpu_s") for w in base["warm"]), "%.2f"),
                         fmt(med(w.get("start_cpu_s") for w in pk[k]["warm"]), "%.2f"),
                         fmt(med(dc), "%+.2f"), ", ".join("%+.2f" % x for x in dc)])
        out.append("\n### S5 %d certificates, warm starts paired with (a)\n\n"
                   "Each warm start of a configuration against the (a) start just before "
                   "it. CPU: the parent, its children and the helpers it reaped, from "
                   "launch until httpd answered.\n\n" % n)
        out.append(table(["config", "pairs", "start vs (a), median s", "each pair s",
                          "CPU of the start (a) s", "CPU of the start s",
                          "CPU vs (a), median s", "each pair s"], rows))
    loads = ["%.1f" % w["loadavg_at_ready"] for k in kinds if k in pk
             for w in [pk[k]["empty"]] + pk[k]["warm"] if w.get("loadavg_at_ready") is not None]
    if loads:
        out.append("\nLoad average (1 min) when each server answered, in run order: %s.\n"
                   % ", ".join(loads))
    out.append("\n### S5 memory per process at %d certificates (VmRSS after a sweep over all "
               "vhosts, warm store; per-certificate cost = slope between %d and %d "
               "certificates, minus the same slope of (a))\n\n" % (n, ns, n))
    rows = []

    def mem_of(rec, which):
        m = rec["small"]["mem"] if which == "small" else rec["warm"][-1]["mem"]
        return m["parent_rss_kb"], m["child_rss_kb_max"], m["children"], m["total_pss_kb"]
    for k in kinds:
        if k not in pk or not pk[k]["warm"]:
            continue
        rec = pk[k]
        p1, c1, nc, pss = mem_of(rec, "big")
        p0, c0, _, _ = mem_of(rec, "small")
        sp, sc_ = (p1 - p0) / (n - ns) if n > ns else None, (c1 - c0) / (n - ns) if n > ns else None
        if base and base["warm"] and n > ns:
            bp1, bc1, _, _ = mem_of(base, "big")
            bp0, bc0, _, _ = mem_of(base, "small")
            xp, xc = sp - (bp1 - bp0) / (n - ns), sc_ - (bc1 - bc0) / (n - ns)
        else:
            xp = xc = None
        store = rec["warm"][-1].get("store_bytes")
        rows.append([KIND_NAMES[k], p0, p1, c0, c1, nc, pss,
                     fmt(sp, "%.1f"), fmt(sc_, "%.1f"), fmt(xp, "%.1f"), fmt(xc, "%.1f"),
                     fmt(None if store is None else store / 1024.0, "%.0f")])
    out.append(table(["config", "parent RSS kB (%d certs)" % ns, "parent RSS kB (%d)" % n,
                      "child RSS kB (%d)" % ns, "child RSS kB (%d)" % n, "children",
                      "total PSS kB (%d)" % n, "parent kB/cert", "child kB/cert",
                      "parent kB/extra cert vs (a)", "child kB/extra cert vs (a)",
                      "store on disk kB"], rows))
    out.append("\nStapling cache: (b) SSLStaplingCache shmcb %d KiB (set by the benchmark; "
               "mod_ssl needs about %s bytes of responses plus shmcb's index); (d) its own "
               "shared memory, OCSPStapleMaxResponseSize per certificate (a page costs memory "
               "once a response is written into it).\n" % (
                   s["mod_ssl_stapling_cache_kb"],
                   fmt((s["response_der_bytes_mean"] or 0) * n, "%.0f")))
    pages = ((pk.get("d") or {}).get("warm") or [{}])[-1].get("status_pages")
    if pages:
        out.append("\n### S5 status pages of (d) at %d certificates (after the warm sweep; "
                   "median of 3)\n\n" % n)
        out.append(table(["page", "bytes", "time to answer s"],
                         [["`/%s`" % pg, v["bytes"], fmt(v["s"], "%.3f")]
                          for pg, v in pages.items()]))
    return "".join(out)


def render_tables(res):
    sc = res["scenarios"]
    m = res["meta"]["machine"]
    out = []
    out.append("Machine: %s cores, %s, %s, kernel %s; %s; %s; %s\n" % (
        m["nproc"], m["cpu"], m["memory"], m["kernel"], m["os"], m["httpd"], m["openssl"]))
    kinds = [k for k in KINDS if any(k in s.get("runs", s.get("per_kind", {}))
                                     for s in sc.values())]
    for name in ("S1", "S1-ecdsa"):
        if name not in sc:
            continue
        s = sc[name]
        runs = s["runs"]
        out.append("\n### %s steady state (%d rounds x %gs, %d client threads, full TLS 1.3 "
                   "handshakes, %s leaf)\n\n" % (name, s["rounds"], s["duration_s"], s["threads"],
                                                  s.get("peer_key") or s.get("leaf")))
        rows = []
        base = runs.get("a")
        for k in kinds:
            rs = runs[k]
            foreign = med(x.get("foreign_cores") for x in rs)
            ratios = [x["hs_per_s"] / b["hs_per_s"] for x, b in zip(rs, base)] if base else []
            cpu_ratio = [x["server_cpu_ms_per_hs"] / b["server_cpu_ms_per_hs"]
                         for x, b in zip(rs, base)
                         if x.get("server_cpu_ms_per_hs") and b.get("server_cpu_ms_per_hs")] if base else []
            rows.append([KIND_NAMES[k], fmt(med(x["hs_per_s"] for x in rs), "%.0f"),
                         fmt(med(ratios), "%.3f"),
                         "%s-%s" % (fmt(min(x["hs_per_s"] for x in rs), "%.0f"),
                                    fmt(max(x["hs_per_s"] for x in rs), "%.0f")),
                         fmt(med(x.get("server_cpu_ms_per_hs") for x in rs), "%.3f"),
                         fmt(med(cpu_ratio), "%.3f"),
                         fmt(med(x.get("client_cpu_ms_per_hs") for x in rs), "%.3f"),
                         fmt(med(x["lat_ms"]["p50"] for x in rs), "%.2f"),
                         fmt(med(x["lat_ms"]["p99"] for x in rs), "%.2f"),
                         pct(share_of(rs, "stapled")), pct(share_of(rs, "ok")),
                         sum(x["errors"] for x in rs), fmt(foreign, "%.2f")])
        out.append(table(["config", "handshakes/s (median)", "ratio to (a) (median of rounds)",
                          "range", "server CPU ms/handshake", "CPU ratio to (a)",
                          "client CPU ms/hs", "p50 ms", "p99 ms", "stapled", "valid staple",
                          "errors", "other load (cores)"], rows))
    if "S2" in sc:
        s = sc["S2"]
        out.append("\n### S2 first handshake after a cold start (empty store) and after a "
                   "graceful restart (%d rounds)\n\n"
                   "cold: client connecting from the launch on; graceful: handshake 50 ms after "
                   "SIGUSR1 (includes httpd's own restart time); settled: first handshake once "
                   "the new generation serves (1.5 s after httpd logged the restart). Responder "
                   "requests: from the launch/signal until that handshake, median.\n\n" % s["rounds"])
        rows = []
        for k in kinds:
            rs = s["runs"].get(k, [])
            for ev in ("cold", "graceful", "settled"):
                fs = [r[ev] for r in rs if ev in r]
                if not fs:
                    continue
                done = [f for f in fs if f.get("handshake")]
                rows.append([KIND_NAMES[k], ev,
                             "%d/%d" % (sum(1 for f in done if f["stapled"]), len(fs)),
                             "%d/%d" % (sum(1 for f in done if f["ok"]), len(fs)),
                             fmt(med(f["handshake_ms"] for f in done), "%.1f"),
                             fmt(max([f["handshake_ms"] for f in done] or [None]) if done else None, "%.1f"),
                             fmt(med(f["since_event_ms"] for f in done), "%.0f") if ev != "settled" else "-",
                             fmt(med(f.get("responder_requests") for f in done), "%g"),
                             "%d/%d" % (sum(r[ev + "_next20_ok"] for r in rs if ev in r), 20 * len(fs))])
        out.append(table(["config", "event", "first stapled", "first valid staple",
                          "first handshake ms (median)", "max", "event to first handshake done ms",
                          "responder requests", "next 20: valid staples"], rows))
    if "S3" in sc:
        s = sc["S3"]
        out.append("\n### S3 responder hanging while the staple needs refreshing (%d rounds x "
                   "%gs, %d client threads)\n\n" % (s["rounds"], s["duration_s"], s["threads"]))
        rows = []
        base = s["runs"].get("a")
        for k in kinds:
            rs = s["runs"][k]
            p99 = med(x["lat_ms"]["p99"] for x in rs)
            ratios = [x["lat_ms"]["p99"] / b["lat_ms"]["p99"] for x, b in zip(rs, base)
                      if b["lat_ms"]["p99"]] if base else []
            rows.append([KIND_NAMES[k], fmt(med(x["hs_per_s"] for x in rs), "%.0f"),
                         fmt(med(x["lat_ms"]["p50"] for x in rs), "%.2f"),
                         fmt(p99, "%.2f"), fmt(med(ratios), "%.2f"),
                         fmt(med(x["lat_ms"].get("p999") for x in rs), "%.1f"),
                         fmt(max(x["lat_ms"]["max"] for x in rs), "%.0f"),
                         "%d/%d" % (sum(x.get("over_1s", 0) for x in rs),
                                    sum(x["handshakes"] for x in rs)),
                         pct(share_of(rs, "stapled")), pct(share_of(rs, "ok")),
                         sum(x["errors"] for x in rs)])
        out.append(table(["config", "handshakes/s", "p50 ms", "p99 ms (median)",
                          "p99 / p99(a) (median of rounds)", "p99.9 ms", "max ms",
                          "handshakes > 1 s", "stapled", "valid staple", "errors"], rows))
    if "S4" in sc:
        s = sc["S4"]
        out.append("\n### S4 responder down (connection refused) for longer than every "
                   "cache/refresh period (responder unavailable %.0fs by the end; %d rounds x %gs)\n\n"
                   % (s["responder_unavailable_s_at_end"], s["rounds"], s["duration_s"]))
        rows = []
        for k in kinds:
            rs = s["runs"][k]
            rows.append([KIND_NAMES[k], fmt(med(x["hs_per_s"] for x in rs), "%.0f"),
                         fmt(med(x["lat_ms"]["p99"] for x in rs), "%.2f"),
                         pct(share_of(rs, "stapled")), pct(share_of(rs, "ok")),
                         sum(x["errors"] for x in rs)])
        out.append(table(["config", "handshakes/s", "p99 ms", "stapled", "valid staple",
                          "errors"], rows))
    for key in sorted((k for k in sc if k.startswith("S5-")), key=lambda k: int(k[3:])):
        out.append(render_s5(sc[key], kinds))
    if "S6" in sc:
        s = sc["S6"]
        hour = lambda v: None if s["idle_cpu_per_s"] is None or s["cpu_per_refresh_s"] is None \
            else 3600 * s["idle_cpu_per_s"] + s["certs"] * 3600.0 / (v / 2) * s["cpu_per_refresh_s"]
        out.append("\n### S6 the refresher at %d certificates (answers valid %d s, watched %.0f s)"
                   "\n\n" % (s["certs"], s["validity_s"], s["watched_s"] or 0))
        out.append(table(["refreshes", "largest batch (refreshes in one second, module's log)",
                          "responder: connections at once (whole run)",
                          "responder: busiest second (refresher)", "children CPU s",
                          "idle CPU s per s",
                          "CPU ms per refresh",
                          "CPU s per hour at 4 h / 24 h / 7 d validity"],
                         [[s["refreshes"], s["largest_batch"],
                           s["responder_load"]["max_connections"],
                           s["busiest_second_at_responder"], fmt(s["children_cpu_s"], "%.1f"),
                           fmt(s["idle_cpu_per_s"], "%.4f"),
                           fmt(None if s["cpu_per_refresh_s"] is None
                               else 1000 * s["cpu_per_refresh_s"], "%.2f"),
                           " / ".join(fmt(hour(v), "%.1f") for v in (4 * 3600, 86400,
                                                                      7 * 86400))]]))
    le = res.get("log_errors") or {}
    if any(le.values()):
        out.append("\nError-level lines in the servers' error logs over the whole run "
                   "(normalised, with counts):\n\n")
        for k in KINDS:
            for msg, cnt in sorted((le.get(k) or {}).items(), key=lambda x: -x[1])[:8]:
                out.append("- %s x%d: `%s`\n" % (KIND_NAMES[k], cnt, msg.replace("`", "'")))
    if res.get("breakages"):
        out.append("\nBREAKAGES:\n" + "\n".join("- " + b for b in res["breakages"]) + "\n")
    if res.get("notes"):
        out.append("\nNotes:\n" + "\n".join("- " + b for b in res["notes"]) + "\n")
    out.append("\nTotal run time %.0f s.\n" % res["meta"].get("elapsed_s", 0))
    return "".join(out)


# ---- main ------------------------------------------------------------------------------------

# name, --full default, --smoke default
DEFAULTS = (
    ("s1_rounds", 7, 1), ("s1_ecdsa_rounds", 5, 1), ("s1_duration", 6.0, 0.5),
    ("s1_keys", "rsa,ecdsa", "rsa"),
    ("s2_rounds", 5, 1),
    ("s3_rounds", 5, 1), ("s3_duration", 5.0, 0.5), ("s3_threads", 4, 4),
    ("s4_rounds", 2, 1), ("s4_duration", 3.0, 0.3),
    ("certs", "1000,10000", "10"), ("s5_warm_rounds", 3, 1),
    ("s6_validity", 600, 40), ("s6_duration", 660.0, 45.0),
    ("noisy_retries", 2, 0),
)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--full", action="store_true", help="the full benchmark (30 min or more)")
    g.add_argument("--smoke", action="store_true", help="seconds of each scenario (CI)")
    ap.add_argument("--out", default=os.path.join(REPO, "build", "bench"))
    ap.add_argument("--keep", action="store_true", help="keep ServerRoots and PKI in /tmp")
    ap.add_argument("--kinds", default="abcd", help="configurations to run (default abcd)")
    ap.add_argument("--scenarios", default="S1,S2,S3,S4,S5")
    ap.add_argument("--max-foreign", type=float, default=0.3,
                    help="repeat a load run when other processes used more than this "
                         "many cores meanwhile (default 0.3)")
    for name, full, smoke in DEFAULTS:
        ap.add_argument("--" + name.replace("_", "-"), type=type(full), default=None,
                        help="default %s (--full) / %s (--smoke)" % (full, smoke))
    a = ap.parse_args(argv)
    for name, full, smoke in DEFAULTS:
        if getattr(a, name) is None:
            setattr(a, name, full if a.full else smoke)
    a.scenarios = [s.strip().upper() for s in a.scenarios.split(",") if s.strip()]
    a.s1_keys = [x.strip().lower() for x in a.s1_keys.split(",") if x.strip()]
    for x in a.s1_keys:
        if x not in ("rsa", "ecdsa"):
            ap.error("--s1-keys: rsa and/or ecdsa, not %r" % x)
    a.kinds = [k for k in a.kinds if k in KINDS]
    try:
        a.certs = sorted({int(x) for x in str(a.certs).split(",") if x.strip()})
    except ValueError:
        ap.error("--certs: numbers separated by commas, not %r" % a.certs)
    if not a.certs or min(a.certs) < 2:
        ap.error("--certs: at least 2 certificates per run")
    return a


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if not os.access(TLSLOAD, os.X_OK):
        sys.stderr.write("bench: %s missing: make -f Makefile.apxs build/tlsload\n" % TLSLOAD)
        return 1

    def on_term(sig, frame):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    # Ctrl-C, also when started from a shell that ignores SIGINT for
    # background jobs
    signal.signal(signal.SIGINT, signal.default_int_handler)

    bench = None
    rc = 0
    try:
        bench = Bench(a)
        bench.run()
        if bench.breakages:
            sys.stderr.write("bench: BREAKAGE:\n  " + "\n  ".join(bench.breakages) + "\n")
            rc = 1
        # A closing line CI reads: scenario groups run, and breakages.
        ran = len(bench.results["meta"].get("scenario_s", {}))
        print("bench: %d passed, %d failed" % (max(ran - len(bench.breakages), 0),
                                              len(bench.breakages)), flush=True)
    except Breakage as e:
        sys.stderr.write("bench: BREAKAGE: %s\n" % e)
        rc = 1
    except KeyboardInterrupt:
        sys.stderr.write("bench: interrupted\n")
        rc = 130
    finally:
        if bench is not None:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            bench.teardown()
    return rc


if __name__ == "__main__":
    sys.exit(main())
