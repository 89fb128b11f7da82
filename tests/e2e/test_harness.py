"""Tests of the test bed itself (no mod_ocspstaple needed): the responder,
the PKI, the httpd controller and the error-log guard, validated against
mod_ssl's own stapling."""

import base64
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import pytest
from cryptography.x509 import ocsp

import clients
from httpd_env import HttpdEnv, LogGuard
from ocsp_responder import BAD_ANSWER_MODES

HERE = os.path.dirname(os.path.abspath(__file__))


def listening_sockets():
    """[(local address, port, pids)] of every TCP listener (ss -ltnp)."""
    out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True,
                         timeout=10).stdout
    res = []
    for line in out.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        addr, _, port = parts[3].rpartition(":")
        pids = {int(p) for p in re.findall(r"pid=(\d+)", line)}
        res.append((addr.strip("[]"), int(port), pids))
    return res


def assert_loopback_only(pids=(), ports=()):
    pids, ports = set(pids), set(ports)
    mine = [s for s in listening_sockets() if s[2] & pids or s[1] in ports]
    assert mine, "ss shows none of the expected listeners (pids %s, ports %s)" % (pids, ports)
    wide = [s for s in mine if s[0] not in ("127.0.0.1",)]
    assert not wide, "listening beyond 127.0.0.1: %s" % wide


def ocsp_client(pki, leaf, url, extra=()):
    cmd = ["openssl", "ocsp", "-url", url, "-issuer", pki.intermediate_path,
           "-cert", leaf.cert_path, "-CAfile", pki.root_path] + list(extra)
    cp = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    return cp.returncode, cp.stdout + cp.stderr


def ocsp_request_der(pki, leaf):
    with tempfile.TemporaryDirectory() as td:
        p = os.path.join(td, "req.der")
        subprocess.run(["openssl", "ocsp", "-issuer", pki.intermediate_path, "-cert",
                        leaf.cert_path, "-no_nonce", "-reqout", p],
                       capture_output=True, timeout=20, check=True)
        with open(p, "rb") as f:
            return f.read()


def http_post(url, body, timeout=10):
    req = urllib.request.Request(url, data=body,
                                 headers={"Content-Type": "application/ocsp-request"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


# ---- PKI ---------------------------------------------------------------------

def test_pki_files_and_extensions(pki):
    from cryptography import x509
    for name in ("rsa", "ecdsa", "noaia", "revoked", "muststaple"):
        leaf = pki.leaf(name)
        for p in (leaf.cert_path, leaf.key_path, leaf.chain_path):
            assert os.path.exists(p)
        assert os.stat(leaf.key_path).st_mode & 0o077 == 0
        assert leaf.cert.issuer == pki.cert("intermediate").subject
        try:
            aia = leaf.cert.extensions.get_extension_for_class(
                x509.AuthorityInformationAccess).value
            urls = [d.access_location.value for d in aia]
        except x509.ExtensionNotFound:
            urls = []
        assert urls == ([] if name == "noaia" else [pki.ocsp_url])
    tlsf = pki.leaf("muststaple").cert.extensions.get_extension_for_class(x509.TLSFeature)
    assert x509.TLSFeatureType.status_request in tlsf.value
    eku = pki.cert("ocsp-signer").extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert x509.oid.ExtendedKeyUsageOID.OCSP_SIGNING in eku.value
    index = open(pki.index_path).read()
    assert re.search(r"^R\t.*\t%s\t" % pki.leaf("revoked").serial_hex, index, re.M)
    assert re.search(r"^V\t.*\t%s\t" % pki.leaf("rsa").serial_hex, index, re.M)
    cp = subprocess.run(["openssl", "verify", "-CAfile", pki.root_path, "-untrusted",
                         pki.intermediate_path, pki.leaf("ecdsa").cert_path],
                        capture_output=True, text=True, timeout=10)
    assert cp.returncode == 0, cp.stdout + cp.stderr


# ---- responder -------------------------------------------------------------------

def test_responder_listens_on_loopback_only(responder):
    assert_loopback_only(pids=[os.getpid()], ports=[responder.port])


def test_responder_real_openssl_answers_verify(pki, responder):
    rc, out = ocsp_client(pki, pki.leaf("rsa"), responder.url)
    assert rc == 0 and "Response verify OK" in out and ": good" in out, out
    rc, out = ocsp_client(pki, pki.leaf("revoked"), responder.url)
    assert "Response verify OK" in out and ": revoked" in out, out
    assert responder.count(pki.leaf("rsa").serial) == 1
    assert responder.count(pki.leaf("revoked").serial) == 1
    assert all(h.mode == "openssl" for h in responder.hits())


def test_responder_get_and_post(pki, responder):
    leaf = pki.leaf("ecdsa")
    der = ocsp_request_der(pki, leaf)
    enc = urllib.parse.quote(base64.b64encode(der).decode(), safe="")
    with urllib.request.urlopen(responder.url + "/" + enc, timeout=10) as r:
        get_body = r.read()
        assert r.headers["Content-Type"] == "application/ocsp-response"
    status, post_body = http_post(responder.url, der)
    for body in (get_body, post_body):
        resp = ocsp.load_der_ocsp_response(body)
        assert resp.response_status == ocsp.OCSPResponseStatus.SUCCESSFUL
        assert resp.serial_number == leaf.serial
        assert resp.certificate_status == ocsp.OCSPCertStatus.GOOD
    assert [h.method for h in responder.hits(leaf.serial)] == ["GET", "POST"]


def test_responder_builder_validity_and_signer(pki, responder):
    leaf = pki.leaf("rsa")
    responder.set_mode("builder", validity=20, signer="issuer")
    _, body = http_post(responder.url, ocsp_request_der(pki, leaf))
    resp = ocsp.load_der_ocsp_response(body)
    assert (resp.next_update - resp.this_update).total_seconds() == 20
    assert resp.certificates == []
    assert resp.responder_name is None and resp.responder_key_hash is not None
    rc, out = ocsp_client(pki, leaf, responder.url)
    assert "Response verify OK" in out, out


@pytest.mark.parametrize("mode", BAD_ANSWER_MODES)
def test_responder_bad_modes_are_bad(pki, responder, mode):
    """Each fault mode is something a strict client refuses (openssl ocsp as
    the reference), so the module's tests of them mean something."""
    leaf = pki.leaf("rsa")
    responder.set_mode(mode)
    rc, out = ocsp_client(pki, leaf, responder.url)
    ok = rc == 0 and "Response verify OK" in out and re.search(r": good\s*\n\s*This Update", out) \
        and "WARNING" not in out
    if mode == "oversize":
        # valid and verifiable: only its size is wrong
        assert ok, out
        _, body = http_post(responder.url, ocsp_request_der(pki, leaf))
        assert 64 * 1024 < len(body) < 100 * 1024  # openssl ocsp caps at 100 KiB
    else:
        assert not ok, out
    assert responder.count(leaf.serial) >= 1


def test_responder_per_serial_mode(pki, responder):
    a, b = pki.leaf("rsa"), pki.leaf("ecdsa")
    responder.set_mode("revoke-all", serial=a.serial)
    _, ra = http_post(responder.url, ocsp_request_der(pki, a))
    _, rb = http_post(responder.url, ocsp_request_der(pki, b))
    assert ocsp.load_der_ocsp_response(ra).certificate_status == ocsp.OCSPCertStatus.REVOKED
    assert ocsp.load_der_ocsp_response(rb).certificate_status == ocsp.OCSPCertStatus.GOOD
    responder.set_mode(None, serial=a.serial)
    _, ra = http_post(responder.url, ocsp_request_der(pki, a))
    assert ocsp.load_der_ocsp_response(ra).certificate_status == ocsp.OCSPCertStatus.GOOD


def test_responder_refuse_then_back_on_same_port(pki, responder):
    port = responder.port
    responder.set_mode("refuse")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    responder.set_mode("openssl")
    assert responder.port == port
    status, _ = http_post(responder.url, ocsp_request_der(pki, pki.leaf("rsa")))
    assert status == 200


def test_responder_hang_is_released_by_stop(pki, responder):
    responder.set_mode("hang")
    der = ocsp_request_der(pki, pki.leaf("rsa"))
    t0 = time.monotonic()
    with pytest.raises(OSError):  # socket.timeout is an OSError
        http_post(responder.url, der, timeout=1)
    assert time.monotonic() - t0 < 3
    assert responder.wait_for_hits(1, 1)
    responder.stop()
    responder.start()
    responder.set_mode("openssl")
    assert http_post(responder.url, der)[0] == 200


def test_responder_wait_for_hits_times_out(responder):
    t0 = time.monotonic()
    assert responder.wait_for_hits(1, 0.3) is False
    assert 0.25 < time.monotonic() - t0 < 2


def test_responder_cli_and_control(tmp_path):
    d = tempfile.mkdtemp(prefix="ocspstaple-e2e-cli-", dir="/tmp")
    os.chmod(d, 0o755)
    pf = os.path.join(d, "port")
    p = subprocess.Popen([sys.executable, os.path.join(HERE, "ocsp_responder.py"),
                          "--dir", os.path.join(d, "pki"), "--generate", "--port", "0",
                          "--port-file", pf], stdout=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        line1 = p.stdout.readline()
        line2 = p.stdout.readline()
        port = int(re.search(r"LISTENING 127.0.0.1:(\d+)", line1).group(1))
        cport = int(re.search(r"CONTROL 127.0.0.1:(\d+)", line2).group(1))
        assert int(open(pf).read()) == port
        assert_loopback_only(pids=[p.pid], ports=[port, cport])
        from pki import PKI
        cpki = PKI(os.path.join(d, "pki"))
        assert cpki.ocsp_url == "http://127.0.0.1:%d/ocsp" % port
        rc, out = ocsp_client(cpki, cpki.leaf("rsa"), cpki.ocsp_url)
        assert ": good" in out, out
        ctl = "http://127.0.0.1:%d/_control" % cport
        st = json.load(urllib.request.urlopen(ctl, timeout=5))
        assert st["counts"] == {"%X" % cpki.leaf("rsa").serial: 1}
        st = json.load(urllib.request.urlopen(ctl + "?mode=refuse", timeout=5))
        assert st["mode"] == "refuse"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2)
        req = urllib.request.Request(ctl, data=json.dumps(
            {"mode": "revoke-all", "reset": True}).encode())
        st = json.load(urllib.request.urlopen(req, timeout=5))
        assert st["mode"] == "revoke-all" and st["total"] == 0
        rc, out = ocsp_client(cpki, cpki.leaf("rsa"), cpki.ocsp_url)
        assert ": revoked" in out, out
    finally:
        p.send_signal(signal.SIGINT)
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
        p.stdout.close()
        import shutil
        shutil.rmtree(d, ignore_errors=True)


# ---- httpd controller and log guard, against mod_ssl's own stapling ------------

def test_modssl_native_stapling_validates_harness(pki, responder, new_httpd):
    """Without the module, mod_ssl staples on its own: fetched in the first
    handshake that asks for it (not at start)."""
    env = new_httpd(with_module=False)
    leaf = pki.leaf("rsa")
    env.add_vhost("rsa.test", leaf)
    env.start()
    assert env.startup_seconds < 5
    assert_loopback_only(pids=[env.pid()], ports=[env.port, env.http_port])
    assert responder.count() == 0
    r = clients.s_client(env.port, "rsa.test", pki.root_path)
    assert r.stapled and r.cert_status == "good", r
    assert r.response_status == "successful (0x0)" and r.next_update_text, r
    assert r.staple_serial == leaf.serial == r.peer_serial
    assert r.verify == "0 (ok)", r
    assert responder.count(leaf.serial) == 1
    c = clients.curl_status(env.port, "rsa.test", pki.root_path)
    assert c.rc == 0 and c.http_code == "200", c
    g = clients.gnutls_ocsp(env.port, "rsa.test", pki.root_path)
    assert g.rc == 0 and g.handshake_ok and g.trusted, g
    der = clients.stapled_der(env.port, "rsa.test")
    assert clients.parse_staple(der).serial_number == leaf.serial
    assert responder.count() == 1  # mod_ssl cached it; gnutls had a staple
    assert clients.tls_handshake_seconds(env.port, "rsa.test") < 1


def test_modssl_no_staple_is_detected_by_clients(pki, responder, new_httpd):
    """The clients' 'no staple' signals, as the module tests use them."""
    env = new_httpd(with_module=False)
    env.add_vhost("rsa.test", pki.leaf("rsa"), stapling=False)
    env.start()
    r = clients.s_client(env.port, "rsa.test", pki.root_path)
    assert r.handshake_ok and r.no_response and not r.stapled, r
    c = clients.curl_status(env.port, "rsa.test", pki.root_path)
    assert c.rc == 91, c
    assert clients.stapled_der(env.port, "rsa.test") is None
    before = responder.count()
    g = clients.gnutls_ocsp(env.port, "rsa.test", pki.root_path)
    assert g.handshake_ok, g
    # gnutls-cli --ocsp asks the responder itself when nothing was stapled
    assert responder.count() == before + 1


def test_httpd_graceful_restart_and_prefork(pki, responder, new_httpd):
    env = new_httpd(with_module=False, mpm="prefork")
    env.add_vhost("rsa.test", pki.leaf("rsa"))
    env.start()
    assert env.graceful() < 10
    assert clients.s_client(env.port, "rsa.test", pki.root_path).handshake_ok
    assert env.restart() < 10
    assert clients.s_client(env.port, "rsa.test", pki.root_path).handshake_ok
    env.stop()
    assert not env.killed


def test_log_guard_catches_warnings(pki, responder, new_httpd):
    env = new_httpd(with_module=False, loglevel="warn")
    # ServerName not in the certificate: mod_ssl warns (AH01909)
    env.add_vhost("not-in-cert.example", pki.leaf("rsa"))
    env.start()
    env.stop()
    g = LogGuard()
    problems = g.problems([env])
    assert any("AH01909" in p for p in problems), env.log_text()
    g.expect(r"AH01909", levels="warn")
    assert g.problems([env]) == []
    assert not any("AH01882" in p for p in LogGuard().problems([env]))
    os.truncate(env.error_log, 0)  # keep this test's own guard quiet


def test_start_expect_failure_reports(pki, new_httpd):
    env = new_httpd(with_module=False)
    env.server_lines.append("NoSuchDirective on")
    res = env.start_expect_failure(timeout=10)
    assert res.rc not in (0, None), res
    assert "NoSuchDirective" in res.output, res
