"""OCSPStapleFile (issue 13): responses an operator supplies, for servers
that may not reach their CA's responder. Matched to certificates by CertID,
checked at start, re-read when they change, never followed through links."""

import os
import re
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509 import ocsp

import clients
from refresh_helpers import poll, wait_refresher_ticks

pytestmark = pytest.mark.module


def response_der(responder, pki, leaf, **kw):
    """A signed OCSP response for leaf, as `openssl ocsp -respout` would
    write it on a machine that reaches the responder."""
    with open(leaf.cert_path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    with open(pki.intermediate_path, "rb") as f:
        issuer = x509.load_pem_x509_certificate(f.read())
    req = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1()).build()
    return responder.build(req, **kw)


def write_file(path, data):
    """Atomically, as a cron job should (temporary file, rename)."""
    tmp = path + ".new"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


def file_vhost(new_httpd, pki, leaf, path, extra=()):
    env = new_httpd()
    env.add_vhost(leaf.hostname, leaf, extra=["OCSPStapleFile %s" % path] + list(extra))
    return env


def staple_this_update(env, leaf, pki):
    r = clients.s_client(env.port, leaf.hostname, pki.root_path)
    assert r.handshake_ok, r
    return r


def test_file_only_vhost_staples_from_the_first_handshake(pki, responder, new_httpd):
    leaf = pki.leaf("rsa")
    responder.set_mode("refuse")          # this server cannot reach the CA
    env = file_vhost(new_httpd, pki, leaf, "PLACEHOLDER")
    path = os.path.join(env.root, "rsa.ocsp.der")
    env.vhosts[0].extra = ["OCSPStapleFile %s" % path]
    der = response_der(responder, pki, leaf, validity=3600, signer="issuer")
    write_file(path, der)
    env.start()
    r = staple_this_update(env, leaf, pki)
    assert r.stapled and r.cert_status == "good", r
    assert clients.stapled_der(env.port, leaf.hostname) == der
    assert responder.count() == 0
    assert env.wait_for_log(r"OCSPS0071: .*1 from OCSPStapleFile", timeout=5)
    # nobody asks the responder later either
    wait_refresher_ticks(env, 2)
    assert responder.count() == 0


def test_no_aia_certificate_with_a_file(pki, responder, new_httpd):
    """A certificate without an OCSP URL can still be stapled from a file."""
    leaf = pki.leaf("noaia")
    assert not leaf.has_aia
    env = new_httpd()
    path = os.path.join(env.root, "noaia.der")
    write_file(path, response_der(responder, pki, leaf))
    env.add_vhost(leaf.hostname, leaf, extra=["OCSPStapleFile %s" % path])
    env.start()
    r = staple_this_update(env, leaf, pki)
    assert r.stapled and r.cert_status == "good", r
    status = env.server_status(auto=True)
    assert "OCSPStapleNoResponder: 0" in status, status
    assert re.search(r"OCSPStaple\[0\]Responder: file:%s" % re.escape(path), status), status


def test_replaced_file_is_picked_up_without_restart(pki, responder, new_httpd, expect_log):
    leaf = pki.leaf("rsa")
    responder.set_mode("refuse")
    env = new_httpd()
    path = os.path.join(env.root, "rsa.der")
    write_file(path, response_der(responder, pki, leaf, this_update_offset=-120))
    env.add_vhost(leaf.hostname, leaf, extra=["OCSPStapleFile %s" % path])
    env.start()
    first = staple_this_update(env, leaf, pki)
    assert first.cert_status == "good", first
    newer = response_der(responder, pki, leaf)
    write_file(path, newer)
    assert poll(lambda: clients.stapled_der(env.port, leaf.hostname) == newer, 10), \
        "the new file was not picked up"
    # a broken replacement is ignored with one line; the staple stays
    expect_log(r"OCSPS0163: .*OCSPStapleFile %s ignored" % re.escape(path), levels="warn")
    write_file(path, b"not an OCSP response")
    env.wait_for_log(r"OCSPS0163: ", timeout=10)
    wait_refresher_ticks(env, 3)
    assert len(re.findall(r"OCSPS0163: ", env.log_text())) == 1, env.log_text()
    assert clients.stapled_der(env.port, leaf.hostname) == newer
    # a link planted in its place is not followed
    os.unlink(path)
    os.symlink(os.path.join(env.root, "elsewhere.der"), path)
    write_file(os.path.join(env.root, "elsewhere.der"), response_der(responder, pki, leaf))
    wait_refresher_ticks(env, 3)
    assert clients.stapled_der(env.port, leaf.hostname) == newer


@pytest.mark.parametrize("bad", ["garbage", "foreign", "missing", "link"])
def test_bad_file_at_start_stops_httpd(pki, responder, new_httpd, expect_log, bad):
    leaf = pki.leaf("rsa")
    env = new_httpd()
    path = os.path.join(env.root, "rsa.der")
    if bad == "garbage":
        write_file(path, b"\x30\x03\x0a\x01\x00garbage")
    elif bad == "foreign":        # a valid response, for another certificate
        write_file(path, response_der(responder, pki, pki.leaf("ecdsa")))
    elif bad == "link":
        target = os.path.join(env.root, "real.der")
        write_file(target, response_der(responder, pki, leaf))
        os.symlink(target, path)
    env.add_vhost(leaf.hostname, leaf, extra=["OCSPStapleFile %s" % path])
    expect_log(r"OCSPS016[02]: OCSPStapleFile %s" % re.escape(path))
    expect_log(r"AH00016|Configuration Failed")
    res = env.start_expect_failure(timeout=15)
    assert res.rc not in (None, 0), res
    assert path in res.output, res


def test_file_and_responder_the_fresher_is_served(pki, responder, new_httpd):
    """With an explicit OCSPStaple on, the module also asks the responder;
    the fresher of the two responses is stapled."""
    leaf = pki.leaf("rsa")
    env = new_httpd()
    path = os.path.join(env.root, "rsa.der")
    old = response_der(responder, pki, leaf, this_update_offset=-600)
    write_file(path, old)
    env.add_vhost(leaf.hostname, leaf, extra=["OCSPStapleFile %s" % path, "OCSPStaple on"])
    env.start()
    assert responder.count(leaf.serial) == 1
    r = staple_this_update(env, leaf, pki)
    assert r.cert_status == "good", r
    assert clients.stapled_der(env.port, leaf.hostname) != old
    assert abs(r.this_update.timestamp() - time.time()) < 120, r
