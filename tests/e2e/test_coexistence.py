"""Coexistence with mod_md's stapling (design 2): both register the OCSP
provider hooks; mod_ocspstaple runs first and takes the vhosts it is enabled
on, mod_md keeps the others."""

import os

import pytest

import clients
from httpd_env import MODDIR

pytestmark = pytest.mark.module


def md_httpd(new_httpd, pki):
    env = new_httpd(loglevel="warn ocspstaple:debug")
    store = os.path.join(env.root, "md")
    env.server_lines += [
        "LoadModule md_module %s/mod_md.so" % MODDIR,
        "MDStoreDir %s" % store,
        "MDStapling on",
        "MDStapleOthers on",
    ]
    return env


def test_module_staples_its_vhosts_mod_md_the_others(new_httpd, pki, responder):
    ours, theirs = pki.leaf("rsa"), pki.leaf("ecdsa")
    env = md_httpd(new_httpd, pki)
    env.add_vhost("rsa.test", ours)                                  # follows SSLUseStapling
    env.add_vhost("ecdsa.test", theirs, extra=["OCSPStaple off"])    # left to mod_md
    env.start()
    # ours was fetched before the first handshake, by us
    assert env.wait_for_log(r"OCSPS0071: 1 certificate: 1 good", timeout=5)
    r = clients.s_client(env.port, "rsa.test")
    assert r.cert_status == "good" and r.staple_serial == ours.serial, r
    # mod_md staples the other vhost's certificate (it fetches in the
    # background, so poll)
    got = None
    for _ in range(50):
        got = clients.s_client(env.port, "ecdsa.test")
        if got.stapled:
            break
        responder.wait_for_hits(responder.count() + 1, 0.2)
    assert got.stapled and got.cert_status == "good", got
    assert got.staple_serial == theirs.serial, got
    # and our module never asked for it
    assert "ecdsa.test" not in "\n".join(
        l for l in env.log_text().splitlines() if "OCSPS0105" in l)
