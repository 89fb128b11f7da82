"""OCSPStapleNotify (issue 13): the operator's program runs on each state
change of a certificate, once per change (not per retry), as the User,
from the background refresher, bounded in time."""

import os
import pwd
import re
import time

import pytest

import clients
from httpd_env import IS_ROOT, RUN_USER
from refresh_helpers import poll, wait_refresher_ticks

pytestmark = pytest.mark.module

SCRIPT = """#!/bin/sh
printf '%%s|%%s|%%s|%%s|%%s|%%s\\n' "$(id -u)" "$1" "$2" "$3" "$4" "$5" >> %(log)s
echo "told $1"
%(extra)s
"""


def notify_env(new_httpd, pki, leaf, extra_script="", lines=()):
    env = new_httpd()
    log = os.path.join(env.root, "notify.log")
    script = os.path.join(env.root, "notify.sh")
    with open(script, "w") as f:
        f.write(SCRIPT % {"log": log, "extra": extra_script})
    os.chmod(script, 0o755)
    open(log, "w").close()
    os.chmod(log, 0o666)
    env.server_lines += ["OCSPStapleNotify %s" % script] + list(lines)
    env.add_vhost(leaf.hostname, leaf)
    env.notify_log = log
    return env


def events(env):
    with open(env.notify_log) as f:
        return [line.rstrip("\n").split("|") for line in f if line.strip()]


def names(env):
    return [e[1] for e in events(env)]


def wait_events(env, want, timeout):
    got = poll(lambda: names(env) if len(names(env)) >= len(want) else None, timeout)
    assert got == want, (names(env), env.log_text())


def test_outage_recovery_and_revocation_told_once_each(pki, responder, new_httpd,
                                                       expect_log):
    """good -> failing -> recovered -> revoked: exactly these events, in
    order, with the certificate's id, subject and serial."""
    expect_log(r"OCSPS0040: .*fetching the OCSP response failed", levels="warn")
    expect_log(r"OCSPS0031: .*REVOKED", levels="error")
    leaf = pki.leaf("rsa")
    responder.set_mode("builder", validity=60)
    env = notify_env(new_httpd, pki, leaf, lines=["OCSPStapleRefresh 2"])
    env.start()
    assert clients.s_client(env.port, leaf.hostname).cert_status == "good"
    wait_refresher_ticks(env, 2)
    assert names(env) == [], "nothing to tell while all is well"

    responder.set_mode("refuse")
    wait_events(env, ["failing"], 20)
    # more failed retries tell nothing more
    env.wait_for_log(r"OCSPS0041: .*attempt 2 failed", timeout=30)
    assert names(env) == ["failing"]

    responder.set_mode("builder", validity=60)
    wait_events(env, ["failing", "recovered"], 40)

    responder.set_mode("revoke-all", serial=leaf.serial)
    wait_events(env, ["failing", "recovered", "revoked"], 20)
    wait_refresher_ticks(env, 3)
    assert names(env) == ["failing", "recovered", "revoked"]

    ev = events(env)
    serial = "%X" % leaf.serial
    for uid, name, cert_id, subject, ser, reason in ev:
        if IS_ROOT:
            assert int(uid) == pwd.getpwnam(RUN_USER).pw_uid, ev
        assert re.fullmatch(r"[0-9a-f]{40}", cert_id), ev
        assert "CN=%s" % leaf.hostname in subject, ev
        assert ser.lstrip("0") == serial.lstrip("0"), ev
        assert reason, ev
    assert "revoked" in ev[2][5]
    # exit status and output logged
    env.wait_for_log(r"OCSPS0171: .*revoked for .*exit status 0; output: told revoked",
                     timeout=10)
    # a graceful restart tells nothing again (what was told is carried)
    env.graceful()
    wait_refresher_ticks(env, 3)
    assert names(env) == ["failing", "recovered", "revoked"]


@pytest.mark.slow
def test_expiry_told_in_order(pki, responder, new_httpd, expect_log):
    """A responder that stays away: failing, then expiring inside the
    safety margin, then expired."""
    expect_log(r"OCSPS0040: .*fetching the OCSP response failed", levels="warn")
    expect_log(r"OCSPS0081: .*expired", levels="error")
    leaf = pki.leaf("rsa")
    responder.set_mode("builder", validity=30)
    env = notify_env(new_httpd, pki, leaf)
    env.start()
    assert clients.s_client(env.port, leaf.hostname).cert_status == "good"
    responder.set_mode("refuse")
    wait_events(env, ["failing", "expiring", "expired"], 45)
    r = clients.s_client(env.port, leaf.hostname)
    assert r.handshake_ok and r.no_response, r


def test_hanging_program_is_killed_and_handshakes_go_on(pki, responder, new_httpd,
                                                        expect_log):
    expect_log(r"OCSPS0031: .*REVOKED", levels="error")
    expect_log(r"OCSPS0171: .*killed after", levels="warn")
    leaf = pki.leaf("rsa")
    responder.set_mode("revoke-all", serial=leaf.serial)
    env = notify_env(new_httpd, pki, leaf, extra_script="exec sleep 120")
    env.start()
    wait_events(env, ["revoked"], 10)
    t0 = time.monotonic()
    for _ in range(3):
        r = clients.s_client(env.port, leaf.hostname)
        assert r.cert_status == "revoked", r
    lines = env.wait_for_log(r"OCSPS0171: .*revoked for .*killed after 1\d s", timeout=20)
    assert "told revoked" in lines[0], lines
    assert time.monotonic() - t0 < 20
    assert names(env) == ["revoked"]
