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


# ---- issues 8 and 9: acting as the User, process credentials, store records ----
#
#   as_user(argv, ...)             -> CompletedProcess: argv run as the User
#                                     (setpriv: its uid, gid, groups)
#   as_user_python(code, data)     -> CompletedProcess: /usr/bin/python3 -c
#                                     code as the User, data as JSON on stdin
#   user_ids(user)                 -> (uid, gid) of a user name
#   proc_ids(pid)                  -> {"Uid": (r, e, s, fs), "Gid": (...),
#                                     "Groups": (sorted)} from /proc, or None
#   cert_id_hex(leaf)              -> hex SHA-1 of the leaf DER (store name)
#   record_ocsp(buf)               -> the OCSP response inside a store file
#                                     (cryptography OCSPResponse) or None

import pwd as _pwd  # noqa: E402
import sys as _sys  # noqa: E402

from httpd_env import RUN_USER as _RUN_USER  # noqa: E402


def as_user(argv, user=_RUN_USER, timeout=20, input=None, check=True):
    """Runs argv as user, with the user's uid, primary gid and supplementary
    groups (setpriv --init-groups), as httpd's children run. Raises on a
    non-zero exit when check."""
    cmd = ["setpriv", "--reuid=%s" % user, "--regid=%s" % user,
           "--init-groups", "--"] + list(argv)
    cp = subprocess.run(cmd, input=input, capture_output=True, text=True,
                        timeout=timeout)
    if check and cp.returncode != 0:
        raise AssertionError("as %s: %s exited %s: %s %s" % (
            user, argv[:3], cp.returncode, cp.stdout[-2000:], cp.stderr[-2000:]))
    return cp


def as_user_python(code, data=None, user=_RUN_USER, timeout=20, check=True):
    """/usr/bin/python3 -c code as user; data goes to its stdin as JSON."""
    return as_user([_sys.executable if os.path.exists(_sys.executable)
                    else "/usr/bin/python3", "-c", code], user=user,
                   timeout=timeout, input=json.dumps(data), check=check)


def user_ids(user=_RUN_USER):
    pw = _pwd.getpwnam(user)
    return pw.pw_uid, pw.pw_gid


def proc_ids(pid):
    """Credentials of a live process from /proc/PID/status: Uid and Gid
    (real, effective, saved, filesystem) and Groups (sorted); None when the
    process is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            text = f.read()
    except OSError:
        return None
    out = {}
    for line in text.splitlines():
        key, _, val = line.partition(":")
        if key in ("Uid", "Gid"):
            out[key] = tuple(int(x) for x in val.split())
        elif key == "Groups":
            out[key] = tuple(sorted(int(x) for x in val.split()))
        elif key == "State":
            out[key] = val.strip()
    return out


def cert_id_hex(leaf):
    """The certificate id of the store's file names: hex SHA-1 of the leaf."""
    return hashlib.sha1(leaf_der(leaf)).hexdigest()


def record_ocsp(buf):
    """The OCSP response a store file carries (whatever the record's
    framing): the first DER SEQUENCE inside buf that parses as an OCSP
    response; None when there is none."""
    from cryptography.x509 import ocsp as _ocsp
    i = buf.find(b"\x30\x82")
    while i >= 0:
        n = int.from_bytes(buf[i + 2:i + 4], "big")
        if i + 4 + n <= len(buf):
            try:
                return _ocsp.load_der_ocsp_response(buf[i:i + 4 + n])
            except Exception:
                pass
        i = buf.find(b"\x30\x82", i + 1)
    return None


def refresher_ticks(env):
    """Rounds the background refresher has run (server-status ?auto)."""
    for line in env.server_status(auto=True).splitlines():
        if line.startswith("OCSPStapleRefresherTicks:"):
            return int(line.split(":", 1)[1])
    raise AssertionError("no OCSPStapleRefresherTicks in server-status?auto")


def wait_refresher_ticks(env, n=2, timeout=15):
    """Waits until the refresher has run n more rounds: a test that checks
    that nothing happens waits for this, not for a guessed time."""
    start = refresher_ticks(env)
    assert poll(lambda: refresher_ticks(env) >= start + n, timeout), \
        "the refresher did not tick %d times in %ss" % (n, timeout)
