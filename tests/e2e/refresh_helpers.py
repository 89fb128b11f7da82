"""Helpers for test_refresh.py (issue 3: background refresh, failures,
restarts, the store). Everything here uses the shared harness (clients,
httpd_env, ocsp_responder, pki) without changing it.

  poll(fn, timeout, interval)      -> first truthy value of fn() or None
  staple(env, leaf_or_name, pki)   -> clients.SClientResult (timed: .t0/.t1)
  wait_staple(env, name, pki, pred, timeout)
  children(env)                    -> pids of httpd's children
  store_path(env, leaf)            -> OCSPStapleStore file of a leaf
  hit_times(responder, serial, modes=None)
  gaps(times)
  extra_responder(pki)             -> a started Responder of its own (own
                                      port, own counts), for certificates
                                      that must not share a responder
  tlsload(...)                     -> the C load client (built on demand)
"""

import hashlib
import json
import os
import subprocess
import time

from cryptography.hazmat.primitives import serialization

import clients
from httpd_env import REPO, child_pids
from ocsp_responder import Responder

TLSLOAD_SRC = os.path.join(REPO, "bench", "tlsload.c")
TLSLOAD = os.path.join(REPO, "build", "tlsload")


def poll(fn, timeout, interval=0.1):
    """Calls fn() until it returns something truthy (returned) or timeout
    seconds passed (returns the last falsy value)."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def staple(env, name, pki, **kw):
    """One s_client -status handshake; the result carries t0/t1, the wall
    clock (time.time()) before and after it."""
    t0 = time.time()
    r = clients.s_client(env.port, name, pki.root_path, **kw)
    r.t0, r.t1 = t0, time.time()
    return r


def wait_staple(env, name, pki, pred, timeout, interval=0.2):
    """Polls s_client until pred(result) holds; returns the last result and
    whether pred held."""
    last = [None]

    def once():
        last[0] = staple(env, name, pki)
        return pred(last[0])

    ok = poll(once, timeout, interval)
    return last[0], bool(ok)


def children(env):
    """Pids of the direct children of httpd's parent process."""
    return child_pids(env.pid())


def leaf_der(leaf):
    return leaf.cert.public_bytes(serialization.Encoding.DER)


def store_path(env, leaf):
    """DIR/<hex SHA-1 of the leaf DER>.ocsp (lower case hex)."""
    return os.path.join(env.store_dir,
                        hashlib.sha1(leaf_der(leaf)).hexdigest() + ".ocsp")


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def hit_times(responder, serial, modes=None):
    return [h.time for h in responder.hits(serial)
            if modes is None or h.mode in modes]


def gaps(times):
    return [round(b - a, 2) for a, b in zip(times, times[1:])]


def extra_responder(pki, mode="builder", **opts):
    """A responder of its own on another loopback port (same PKI): its URL
    is another responder for the module (own backoff state). Stop it."""
    r = Responder()
    r.bind()
    r.set_pki(pki)
    r.start()
    r.set_mode(mode, **opts)
    return r


def tlsload_binary():
    """build/tlsload, built with make when missing or older than its source;
    None when the source does not exist (raises when make fails)."""
    if not os.path.exists(TLSLOAD_SRC):
        return None
    if (not os.path.exists(TLSLOAD)
            or os.path.getmtime(TLSLOAD) < os.path.getmtime(TLSLOAD_SRC)):
        cp = subprocess.run(["make", "-f", "Makefile.apxs", "build/tlsload"],
                            cwd=REPO, capture_output=True, text=True, timeout=180)
        if cp.returncode != 0 or not os.path.exists(TLSLOAD):
            raise RuntimeError("make build/tlsload failed:\n%s\n%s"
                               % (cp.stdout, cp.stderr))
    return TLSLOAD


def tlsload_popen(port, sni, cafile, threads, duration, timeout=10, extra=()):
    binary = tlsload_binary()
    cmd = [binary, "--host", "127.0.0.1", "--port", str(port), "--sni", sni,
           "--cafile", cafile, "--threads", str(threads),
           "--duration", str(duration), "--timeout", str(timeout)] + list(extra)
    return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def tlsload_result(proc, timeout):
    """Waits for a tlsload_popen() process; returns (json dict, stderr)."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=10)
        raise AssertionError("tlsload did not finish in %ss: %s" % (timeout, err))
    lines = [l for l in out.splitlines() if l.startswith("{")]
    if not lines:
        raise AssertionError("tlsload printed no JSON (rc %s): %s %s"
                             % (proc.returncode, out, err))
    return json.loads(lines[-1]), err
