"""Issue 9, item 3: a response is stapled (and replaces the one in use) only
if every client can take it.

OpenSSL's TLS 1.2 clients refuse a CertificateStatus message over 16384
bytes (status_type 1 + length 3 + the response: at most 16380 bytes of
response); TLS 1.3 carries the response in a certificate extension of at
most 65535 bytes. The certificate list inside an OCSP response is not
signed, so anyone on the path to a plain-HTTP responder can pad a genuine
answer. So OCSPStapleMaxResponseSize defaults to 16380 and larger values
are refused, and a padded genuine answer changes nothing that clients see:
the previous staple stays, the failure is logged once as too_large.

The responder's "padded" mode signs a genuine answer (builder mode) and
pads its certificate list to an exact size (pad_to=BYTES).
"""

import os
import re
import subprocess
import time

import pytest

import clients
from httpd_env import IS_ROOT
from refresh_helpers import staple

pytestmark = pytest.mark.module

TLS12_MAX_RESPONSE = 16384 - 4
TOO_LARGE_LOG = r"\[ocspstaple:warn\].*OCSPS0040: .*\(too_large\)"
VALIDITY = 60            # builder answers: the first staple stays valid throughout


# ---- clients with a TLS version ------------------------------------------------------

def curl_cert_status(port, name, cafile, tls=None, timeout=20):
    """curl --cert-status (rc 0: a staple that verifies); tls "1.2" pins
    TLS 1.2, "1.3" requires 1.3."""
    cmd = ["curl", "-sS", "--cert-status", "--max-time", str(timeout - 2),
           "--cacert", cafile, "--resolve", "%s:%d:127.0.0.1" % (name, port),
           "-o", "/dev/null", "-w", "%{http_code}"]
    if tls == "1.2":
        cmd += ["--tlsv1.2", "--tls-max", "1.2"]
    elif tls == "1.3":
        cmd += ["--tlsv1.3"]
    cmd.append("https://%s:%d/index.html" % (name, port))
    cp = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    return cp.returncode, cp.stdout + cp.stderr


def gnutls_ocsp(port, name, cafile, tls=None, timeout=20):
    """gnutls-cli --ocsp (verifies the staple; without one it asks the
    responder itself)."""
    cmd = ["gnutls-cli", "--x509cafile", cafile, "-p", str(port),
           "--sni-hostname", name, "--verify-hostname", name, "--ocsp"]
    if tls:
        cmd += ["--priority", "NORMAL:-VERS-ALL:+VERS-TLS%s" % tls]
    cmd.append("127.0.0.1")
    cp = subprocess.run(cmd, input="", capture_output=True, text=True, timeout=timeout)
    return cp.returncode, cp.stdout + cp.stderr


def own_client_hits(responder, since):
    """Responder requests made by this test's own clients (its uid) since
    a time; only meaningful when httpd runs as another user (root)."""
    return [h for h in responder.hits() if h.time >= since and h.uid == os.getuid()]


def check_handshakes(env, name, pki, leaf, this_update, what):
    """TLS 1.2 and 1.3 handshakes with status_request: both complete and
    staple the response with the given thisUpdate, status good. Both are
    tried before failing, so that the message says how each went."""
    out, bad = [], []
    for tls in ("1.2", "1.3"):
        r = staple(env, name, pki, tls=tls)
        out.append(r)
        if not (r.handshake_ok and r.rc == 0 and "Cipher is (NONE)" not in r.out):
            bad.append("TLS %s handshake failed: rc %s: %s" % (tls, r.rc, "; ".join(
                l for l in (r.err + r.out).splitlines() if "error" in l or "NONE)" in l)))
        elif r.protocol != "TLSv" + tls:
            bad.append("TLS %s asked, %s negotiated" % (tls, r.protocol))
        elif not (r.stapled and r.cert_status == "good" and r.staple_serial == leaf.serial):
            bad.append("TLS %s: no good staple for the leaf: %s" % (tls, r.ocsp_section()))
        elif this_update is not None and r.this_update != this_update:
            bad.append("TLS %s: staple thisUpdate %s, expected the first one %s" % (
                tls, r.this_update, this_update))
    assert not bad, "%s:\n  %s" % (what, "\n  ".join(bad))
    return out


def check_verifying_clients(env, name, pki, responder, what, versions=(None,)):
    since = time.time()
    for tls in versions:
        rc, out = curl_cert_status(env.port, name, pki.root_path, tls=tls)
        assert rc == 0, "%s: curl --cert-status (TLS %s) rc %d: %s" % (what, tls, rc, out)
        rc, out = gnutls_ocsp(env.port, name, pki.root_path, tls=tls)
        assert rc == 0 and "Handshake was completed" in out, \
            "%s: gnutls-cli --ocsp (TLS %s) rc %d: %s" % (what, tls, rc, out[-3000:])
    if IS_ROOT:
        assert not own_client_hits(responder, since), \
            "%s: a client had to ask the responder itself (no staple)" % what


# ---- 1. configuration ------------------------------------------------------------------

@pytest.mark.parametrize("value,ok", [("65536", False), ("16381", False),
                                      ("16k", False), ("16380", True), ("4096", True)])
def test_max_response_size_beyond_tls12_limit_is_refused(new_httpd, pki, value, ok):
    env = new_httpd()
    env.add_vhost("rsa.test", pki.leaf("rsa"))
    env.server_lines.append("OCSPStapleMaxResponseSize %s" % value)
    rc, out = env.configtest()
    if ok:
        assert rc == 0, "OCSPStapleMaxResponseSize %s refused: %s" % (value, out)
    else:
        assert rc != 0, ("OCSPStapleMaxResponseSize %s accepted: a staple that "
                         "large breaks TLS 1.2 clients: %s" % (value, out))
        assert "OCSPStapleMaxResponseSize" in out and value in out, out


# ---- 2. a padded genuine answer changes nothing clients see ---------------------------------

@pytest.mark.parametrize("size", [16381, 20000, 65532, 70000])
def test_padded_genuine_answer_keeps_the_previous_staple(pki, responder, new_httpd,
                                                        expect_log, size):
    """A good staple is in use; the responder then pads its genuine answers
    to size bytes (16381: one past the TLS 1.2 limit; 20000: TLS 1.2 clients
    fail; 65532: also past what a TLS 1.3 extension holds, yet under the old
    64 KiB cap; 70000: past the old cap). While the module refreshes (twice)
    and after: every TLS 1.2 and 1.3 handshake completes with the previous
    staple, verifying clients accept it, and one too_large line is logged."""
    expect_log(TOO_LARGE_LOG, levels="warn")
    leaf = pki.leaf("rsa")
    name = leaf.hostname
    responder.set_mode("builder", validity=VALIDITY)
    env = new_httpd()
    env.add_vhost(name, leaf)
    # due 1 s after thisUpdate: the module's floor (5 s after a fetch) and
    # its failure backoff then set the pace
    env.server_lines.append("OCSPStapleRefresh 1")
    env.start()
    first = check_handshakes(env, name, pki, leaf, None, "before padding")
    t0 = first[0].this_update
    assert first[1].this_update == t0, first

    responder.set_mode("padded", pad_to=size, validity=VALIDITY)
    t_switch = time.time()

    def padded_answers():
        return [h for h in responder.hits(leaf.serial)
                if h.mode == "padded" and h.resp_size is not None]

    n = 0
    deadline = time.monotonic() + 25
    while len(padded_answers()) < 2 and time.monotonic() < deadline:
        check_handshakes(env, name, pki, leaf, t0, "while padded (%d bytes)" % size)
        n += 1
        time.sleep(0.3)
    sent = padded_answers()
    print("padded answers sent: %s after %.1f s; %d handshake pairs meanwhile" % (
        [h.resp_size for h in sent], time.time() - t_switch, n))
    assert len(sent) >= 2, "the module did not try twice in 25 s: %s" % (
        responder.hits(leaf.serial))
    assert all(h.resp_size == size for h in sent), [h.resp_size for h in sent]
    assert sent[0].resp_size > TLS12_MAX_RESPONSE

    # after the second try has been answered and handled
    time.sleep(0.5)
    check_handshakes(env, name, pki, leaf, t0, "after padded answers (%d bytes)" % size)
    check_verifying_clients(env, name, pki, responder,
                            "after padded answers (%d bytes)" % size)

    lines = [l for l in env.log_text().splitlines() if re.search(TOO_LARGE_LOG, l)]
    assert len(lines) == 1, "expected one too_large warning, got %d:\n%s" % (
        len(lines), "\n".join(lines) or env.log_text()[-3000:])


# ---- 3. a padded answer that every client can take is stapled -----------------------------

@pytest.mark.parametrize("size", [10000, TLS12_MAX_RESPONSE])
def test_padded_answer_within_limit_is_stapled(pki, responder, new_httpd, size):
    """A genuine answer padded to 10000 bytes, or to exactly the TLS 1.2
    limit (16380), is accepted and stapled; TLS 1.2 and 1.3 clients get it
    and verify it."""
    leaf = pki.leaf("rsa")
    name = leaf.hostname
    responder.set_mode("padded", pad_to=size, validity=3600)
    env = new_httpd()
    env.add_vhost(name, leaf)
    env.start()
    sent = [h.resp_size for h in responder.hits(leaf.serial) if h.resp_size]
    assert sent and all(s == size for s in sent), sent

    rs = check_handshakes(env, name, pki, leaf, None, "padded to %d bytes" % size)
    assert rs[0].this_update == rs[1].this_update, rs
    der = clients.stapled_der(env.port, name)
    assert der is not None and len(der) == sent[-1], \
        "stapled %s bytes, the responder sent %s" % (der and len(der), sent)
    check_verifying_clients(env, name, pki, responder, "padded to %d bytes" % size,
                            versions=("1.2", "1.3"))
