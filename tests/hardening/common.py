"""Shared pieces of the hardening runs (restarts.py, load.py, asan_canary.py).

Everything reuses the end-to-end harness in tests/e2e (HttpdEnv, the
responder, the test PKI, tlsload); nothing here changes it.

  Bed(workdir, n_certs)      responder (builder mode) + PKI with n extra leaves
  proc_sample(pid)           RSS, fds, threads of one process (from /proc)
  shm_sample(parent)         SysV segments created by the parent, shared
                             mappings in the parent, /dev/shm entries
  guard_problems(env, expected)   the e2e LogGuard verdict for one httpd
  git_commit()               commit hash of the working tree (+ "-dirty")
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
E2E = os.path.join(REPO, "tests", "e2e")
sys.path.insert(0, E2E)

import httpd_env  # noqa: E402,F401
from httpd_env import HttpdEnv, LogGuard, child_pids  # noqa: E402,F401
from ocsp_responder import Responder  # noqa: E402
from pki import PKI  # noqa: E402
import refresh_helpers  # noqa: E402

PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


def log(msg):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def git_commit(path=REPO):
    """HEAD of the checkout that holds path (e.g. a module built in a
    worktree), with "+uncommitted C changes" when its C files differ."""
    d = path if os.path.isdir(path) else os.path.dirname(path)
    try:
        top = subprocess.run(["git", "-C", d, "rev-parse", "--show-toplevel"],
                             capture_output=True, text=True, timeout=10).stdout.strip() or REPO
        h = subprocess.run(["git", "-C", top, "rev-parse", "--short=12", "HEAD"],
                           capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", top, "status", "--porcelain", "-uno",
                                "--", "*.c", "*.h"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return h + ("+uncommitted C changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def snapshot_module(work, path=None):
    """Copies the module (httpd_env.MODULE_PATH unless path) into work/ and
    makes the harness load the copy: httpd loads the module again at every
    restart, and a rebuild of .libs/ during a long run (or a half-written
    file) must not change the code under test. Returns {"source", "path",
    "sha256", "commit"}."""
    src = os.path.abspath(path or httpd_env.MODULE_PATH)
    d = os.path.join(work, "module")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    dst = os.path.join(d, "mod_ocspstaple.so")
    shutil.copyfile(src, dst)
    os.chmod(dst, 0o755)
    with open(dst, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    httpd_env.MODULE_PATH = dst
    return {"source": src, "path": dst, "sha256": digest, "commit": git_commit(src)}


class Bed:
    """A responder on 127.0.0.1 and a test PKI with n_certs extra ECDSA
    leaves h00.test ... (one vhost each), in workdir."""

    def __init__(self, workdir=None, n_certs=50, validity=20):
        self.work = workdir or tempfile.mkdtemp(prefix="ocspstaple-hardening-", dir="/tmp")
        os.chmod(self.work, 0o755)
        self.responder = Responder()
        self.responder.bind()
        self.pki = PKI.generate(os.path.join(self.work, "pki"), self.responder.url)
        self.responder.set_pki(self.pki)
        self.responder.start()
        self.validity = validity
        self.responder.set_mode("builder", validity=validity)
        self.leaves = [self.pki.issue_leaf("h%02d" % i, key_type="ec",
                                           dns=["h%02d.test" % i])
                       for i in range(n_certs)]
        self.sni_file = os.path.join(self.work, "snis.txt")
        with open(self.sni_file, "w") as f:
            f.write("\n".join(l.hostname for l in self.leaves) + "\n")

    def add_vhosts(self, env, leaves=None):
        for leaf in leaves or self.leaves:
            env.add_vhost(leaf.hostname, leaf)

    def close(self, keep=False):
        self.responder.stop()
        if not keep:
            shutil.rmtree(self.work, ignore_errors=True)


# ---- measurements -------------------------------------------------------------

def _status_fields(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def proc_sample(pid):
    """{"rss_kb", "fds", "sockets", "threads", "vsz_kb"} of a live process,
    or None. sockets: the fds that are sockets (a child's client and
    responder connections come and go; the rest should not)."""
    try:
        st = _status_fields(pid)
        d = "/proc/%d/fd" % pid
        links = []
        for n in os.listdir(d):
            try:
                links.append(os.readlink(os.path.join(d, n)))
            except OSError:
                pass
    except OSError:
        return None
    return {"rss_kb": int(st.get("VmRSS", "0 kB").split()[0]),
            "vsz_kb": int(st.get("VmSize", "0 kB").split()[0]),
            "threads": int(st.get("Threads", "0")),
            "fds": len(links),
            "sockets": sum(1 for l in links if l.startswith("socket:"))}


def shm_sample(parent):
    """SysV shared memory segments whose creator is the parent (ipcs -m -p),
    shared mappings in the parent (/proc/PID/maps, flags "s": SysV, POSIX,
    anonymous shared, shared files), and /dev/shm entries system-wide (other
    processes on the machine change that one: reported, not bounded)."""
    sysv = 0
    try:
        out = subprocess.run(["ipcs", "-m", "-p"], capture_output=True, text=True,
                             timeout=10).stdout
        for line in out.splitlines():
            f = line.split()
            if len(f) >= 4 and f[0].isdigit() and f[2] == str(parent):
                sysv += 1
    except (OSError, subprocess.SubprocessError):
        sysv = None
    maps = 0
    try:
        with open("/proc/%d/maps" % parent) as f:
            for line in f:
                parts = line.split()
                # shared mappings only: the permission flags end with 's'
                if len(parts) >= 2 and parts[1].endswith("s"):
                    maps += 1
    except OSError:
        maps = None
    try:
        devshm = len(os.listdir("/dev/shm"))
    except OSError:
        devshm = None
    return {"sysv_segments": sysv, "shared_mappings": maps, "dev_shm_entries": devshm}


def generation_children(env, before, timeout=10.0):
    """Waits until none of the children in `before` is alive any more (the
    previous generation finished), then returns the live children."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = child_pids(env.pid())
        if not set(kids) & set(before):
            return kids
        time.sleep(0.1)
    return child_pids(env.pid())


def sample(env, before=()):
    """One measurement of an httpd: parent, children of the current
    generation, shared memory."""
    parent = env.pid()
    kids = generation_children(env, before)
    ks = [s for s in (proc_sample(k) for k in kids) if s]
    p = proc_sample(parent)
    out = {"t": time.time(), "parent": p, "children": len(ks),
           "child_rss_kb_max": max((s["rss_kb"] for s in ks), default=0),
           "child_rss_kb_sum": sum(s["rss_kb"] for s in ks),
           "child_fds_max": max((s["fds"] for s in ks), default=0),
           "child_nonsocket_fds_max": max((s["fds"] - s["sockets"] for s in ks), default=0),
           "child_pids": kids}
    out.update(shm_sample(parent))
    return out


def auto_status(env):
    """server-status?auto as {key: value} (OCSPStaple lines)."""
    out = {}
    for line in env.server_status(auto=True).splitlines():
        k, _, v = line.partition(": ")
        if k.startswith("OCSPStaple") and "[" not in k:
            out[k] = v.strip()
    return out


def guard_problems(env, expected=()):
    g = LogGuard()
    for rx in expected:
        g.expect(rx)
    return g.problems([env])


def write_json(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, default=str)
    os.replace(tmp, path)


def tlsload_sweep(env, bed, count=None, threads=4, timeout=30):
    """Handshakes over every vhost (round robin over bed.sni_file): the
    tlsload JSON."""
    count = count or 2 * len(bed.leaves)
    p = refresh_helpers.tlsload_popen(env.port, bed.leaves[0].hostname, bed.pki.root_path,
                                      threads, 1, timeout=10,
                                      extra=["--sni-file", bed.sni_file,
                                             "--count", str(count)])
    res, err = refresh_helpers.tlsload_result(p, timeout)
    res["human"] = err.strip()
    return res
