"""Issue 2, the foundation: prefetch before the first handshake, verified
responses only, one fetch per certificate, handshakes that never wait, and
the configuration surface. One test per bullet of the issue."""

import os
import re
import subprocess
import time

import pytest

import clients
from httpd_env import CONF_EXAMPLES
from ocsp_responder import BAD_ANSWER_MODES
from test_harness import assert_loopback_only

pytestmark = pytest.mark.module

# The line the module logs (at warn) when it refuses a responder's answer:
#   [ocspstaple:warn] ... OCSPS0040: <cert>: fetching the OCSP response failed
#   (<class>): <url>: <why>; no valid response to staple, retrying from ...
# A parameter, so that the guard allowance follows the module's tags.
REJECT_LOG = r"\[ocspstaple:warn\].*OCSPS0040: .*failed \((\w+)\)"
REJECT_LEVELS = ("warn",)
# Per fault: the failure class in parentheses, and words saying why.
REJECT_REASON = {
    "http500": ("http_status", r"HTTP 500"),
    "garbage": ("verification", r"not a DER OCSPResponse"),
    "truncated": ("verification", r"not a DER OCSPResponse"),
    "trailing": ("verification", r"trailing byte"),
    "trylater": ("responder_status", r"tryLater"),
    "internalerror": ("responder_status", r"internalError"),
    "unauthorized": ("responder_status", r"unauthorized"),
    "unknown": ("verification", r"unknown"),
    "stranger": ("verification", r"signer|signature"),
    "nokeyusage": ("verification", r"OCSPSigning"),
    "expired": ("verification", r"nextUpdate .* in the past"),
    "future": ("verification", r"thisUpdate .* in the future"),
    "wrongcert": ("verification", r"no SingleResponse for this certificate"),
    "oversize": ("too_large", r"larger than 16380"),
}


def module_lines(env, level=None):
    rx = re.compile(r"\[ocspstaple:(\w+)\]")
    out = []
    for line in env.log_text().splitlines():
        m = rx.search(line)
        if m and (level is None or m.group(1) == level):
            out.append(line)
    return out


def assert_good_staple(r, leaf):
    assert r.handshake_ok, r
    assert r.stapled, "no staple: %r" % r
    assert r.response_status == "successful (0x0)", r
    assert r.cert_status == "good", r
    assert r.next_update is not None, r
    assert r.staple_serial == leaf.serial, "staple for %s, cert %s" % (
        r.staple_serial, leaf.serial)
    assert r.peer_serial == leaf.serial, r


def start_one(new_httpd, leaf, name=None, **kw):
    env = new_httpd(**kw)
    env.add_vhost(name or leaf.hostname, leaf)
    env.start()
    return env


# ---- bullet 1: the first handshake is stapled -------------------------------------

@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_first_handshake_carries_good_staple(pki, responder, new_httpd, mpm):
    leaf = pki.leaf("rsa")
    env = start_one(new_httpd, leaf, mpm=mpm)
    # fetched before the first handshake
    assert responder.count(leaf.serial) >= 1, "no prefetch at start"
    assert_loopback_only(pids=[env.pid()], ports=[env.port, env.http_port])

    first = clients.s_client(env.port, "rsa.test", pki.root_path)
    assert_good_staple(first, leaf)
    assert first.verify == "0 (ok)", first

    c = clients.curl_status(env.port, "rsa.test", pki.root_path)
    assert c.rc == 0 and c.http_code == "200", c

    before = responder.count()
    g = clients.gnutls_ocsp(env.port, "rsa.test", pki.root_path)
    assert g.rc == 0 and g.handshake_ok and g.trusted, g
    assert responder.count() == before, "gnutls-cli had to ask the responder: no staple"

    # the operators' check, verbatim
    cp = subprocess.run("echo QUIT | openssl s_client -connect 127.0.0.1:%d -status" % env.port,
                        shell=True, capture_output=True, text=True, timeout=20)
    assert "OCSP Response Status: successful (0x0)" in cp.stdout, cp.stdout
    assert re.search(r"^\s*Cert Status: good\s*$", cp.stdout, re.M), cp.stdout
    assert re.search(r"^\s*Next Update: \w+", cp.stdout, re.M), cp.stdout


# ---- bullet 2: RSA and ECDSA on one vhost -------------------------------------------

@pytest.mark.parametrize("tls,sigalgs,key", [
    ("1.2", "RSA-PSS+SHA256:RSA+SHA256", "rsa"),
    ("1.2", "ECDSA+SHA256", "ec"),
    ("1.3", "rsa_pss_rsae_sha256", "rsa"),
    ("1.3", "ecdsa_secp256r1_sha256", "ec"),
])
def test_rsa_and_ecdsa_each_get_their_own_staple(pki, responder, new_httpd, tls, sigalgs, key):
    rsa, ec = pki.leaf("rsa"), pki.leaf("ecdsa")
    env = new_httpd()
    env.add_vhost("dual.e2e.test", [rsa, ec])
    env.start()
    assert responder.count(rsa.serial) >= 1 and responder.count(ec.serial) >= 1, \
        responder.hits()
    r = clients.s_client(env.port, "dual.e2e.test", pki.root_path, tls=tls, sigalgs=sigalgs)
    assert r.protocol == "TLSv" + tls, r
    assert r.peer_key_type == key, r
    assert_good_staple(r, rsa if key == "rsa" else ec)


# ---- bullet 3: one certificate, three vhosts, one fetch -----------------------------

def test_one_cert_in_three_vhosts_fetched_once(pki, responder, new_httpd):
    leaf = pki.leaf("rsa")
    env = new_httpd()
    names = ["a.e2e.test", "b.e2e.test", "c.e2e.test"]
    for n in names:
        env.add_vhost(n, leaf)
    env.start()
    assert responder.count(leaf.serial) == 1, responder.hits()
    for n in names:
        assert_good_staple(clients.s_client(env.port, n, pki.root_path), leaf)
    # nothing more comes in afterwards either (child start, watchdog)
    assert not responder.wait_for_hits(2, 1.5, serial=leaf.serial), responder.hits()


# ---- bullet 4: responder down after start ---------------------------------------------

def test_staples_continue_with_responder_stopped(pki, responder, new_httpd):
    leaf = pki.leaf("rsa")
    env = start_one(new_httpd, leaf)
    first = clients.s_client(env.port, "rsa.test", pki.root_path)
    assert_good_staple(first, leaf)
    responder.stop()
    for _ in range(3):
        r = clients.s_client(env.port, "rsa.test", pki.root_path)
        assert_good_staple(r, leaf)
        assert r.this_update == first.this_update
    assert clients.curl_status(env.port, "rsa.test", pki.root_path).rc == 0


# ---- bullet 5: hanging responder at start -----------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("stop", ["stop", "graceful-stop"])
def test_hanging_responder_bounded_by_startup_timeout(pki, responder, new_httpd, expect_log,
                                                      stop):
    expect_log(r"(?i)ocspstaple.*(time|reject|fail|missing)", levels=REJECT_LEVELS)
    leaf = pki.leaf("rsa")
    responder.set_mode("hang")
    env = new_httpd()
    env.server_lines.append("OCSPStapleStartupTimeout 3")
    env.add_vhost("rsa.test", leaf)
    env.start(timeout=30)
    assert responder.count(leaf.serial) >= 1, "the module did not even ask"
    assert env.startup_seconds <= 5.0, "httpd answered %.1fs after launch" % env.startup_seconds
    r = clients.s_client(env.port, "rsa.test", pki.root_path)
    assert r.handshake_ok and r.no_response, r
    assert r.elapsed < 1.0, "handshake took %.2fs" % r.elapsed
    assert clients.tls_handshake_seconds(env.port, "rsa.test") < 1.0
    # stopping (apachectl stop or graceful-stop) must not wait for the
    # hanging fetch to give up; graceful-stop ends within the harness's
    # GracefulShutdownTimeout 5, i.e. the children left by themselves
    t0 = time.monotonic()
    env.stop(graceful=(stop == "graceful-stop"))
    took = time.monotonic() - t0
    assert took < (4.5 if stop == "graceful-stop" else 12) and not env.killed, took


# ---- bullet 6: bad answers are never stapled ------------------------------------------

@pytest.mark.parametrize("mode", BAD_ANSWER_MODES)
def test_bad_answer_never_stapled(pki, responder, new_httpd, expect_log, mode):
    expect_log(REJECT_LOG, levels=REJECT_LEVELS)
    leaf = pki.leaf("rsa")
    responder.set_mode(mode)
    env = start_one(new_httpd, leaf)
    assert responder.count(leaf.serial) >= 1, "the module did not ask"
    r = clients.s_client(env.port, "rsa.test", pki.root_path)
    assert r.handshake_ok, r
    assert r.no_response and not r.stapled, "stapled a %s answer: %r" % (mode, r)
    assert clients.curl_status(env.port, "rsa.test", pki.root_path).rc == 91
    lines = env.wait_for_log(REJECT_LOG, timeout=5)
    cls, why = REJECT_REASON[mode]
    assert any(re.search(REJECT_LOG, l).group(1) == cls and re.search(why, l, re.I)
               for l in lines), \
        "no log line says why a %s answer was refused (want (%s) and /%s/):\n%s" % (
            mode, cls, why, "\n".join(module_lines(env)))
    assert not module_lines(env, "error"), "\n".join(module_lines(env, "error"))


# ---- the store the prefetch writes (design 4.8, 6) ----------------------------------

def test_store_written_and_owned_by_user(pki, responder, new_httpd):
    """The prefetch writes the verified response to OCSPStapleStore, and the
    directory belongs to the User the children run as, who must be able to
    list and write it (background refreshes run there)."""
    import pwd
    import stat
    from httpd_env import IS_ROOT, RUN_USER
    leaf = pki.leaf("rsa")
    env = start_one(new_httpd, leaf)
    st = os.stat(env.store_dir)
    user = pwd.getpwnam(RUN_USER).pw_uid if IS_ROOT else os.geteuid()
    assert st.st_uid == user, "store owned by uid %d, children run as %d" % (st.st_uid, user)
    mode = stat.S_IMODE(st.st_mode)
    assert mode & 0o700 == 0o700, "store directory mode %04o: its owner cannot " \
        "list/write it" % mode
    assert mode & 0o007 == 0, "store directory mode %04o is open to others" % mode
    files = [f for f in os.listdir(env.store_dir) if not f.startswith(".")]
    assert len(files) == 1, files


# ---- bullet 7: revoked ---------------------------------------------------------------

def test_revoked_leaf_gets_revoked_staple(pki, responder, new_httpd, expect_log):
    expect_log(r"(?i)ocspstaple.*revoked", levels=("error",))
    leaf = pki.leaf("revoked")
    env = start_one(new_httpd, leaf)
    r = clients.s_client(env.port, "revoked.test", pki.root_path)
    assert r.stapled and r.response_status == "successful (0x0)", r
    assert r.cert_status == "revoked", r
    assert r.staple_serial == leaf.serial
    c = clients.curl_status(env.port, "revoked.test", pki.root_path)
    assert c.rc == 91, c
    env.wait_for_log(r"(?i)\[ocspstaple:error\].*revoked", timeout=5)


# ---- bullet 8: OCSPStaple off leaves the vhost to mod_ssl ------------------------------

def test_ocspstaple_off_left_to_mod_ssl(pki, responder, new_httpd):
    leaf = pki.leaf("rsa")
    env = new_httpd()
    env.add_vhost("rsa.test", leaf, stapling=True, extra=["OCSPStaple off"])
    env.start()
    assert not responder.wait_for_hits(1, 1.0), "fetched at start: %s" % responder.hits()
    t0 = time.time()
    r = clients.s_client(env.port, "rsa.test", pki.root_path)
    assert_good_staple(r, leaf)
    hits = responder.hits(leaf.serial)
    assert len(hits) == 1 and hits[0].time >= t0, hits  # mod_ssl, in the handshake


# ---- enablement (design 2): OCSPStaple extends SSLUseStapling ---------------------------

@pytest.mark.parametrize("ssl_use,ocspstaple,served", [
    (True, None, True),
    (None, None, False),    # SSLUseStapling defaults to off
    (False, None, False),
    (False, "on", True),
    (None, "on", True),
])
def test_enablement_follows_ssl_use_stapling(pki, responder, new_httpd, ssl_use, ocspstaple,
                                             served):
    leaf = pki.leaf("rsa")
    env = new_httpd()
    env.add_vhost("rsa.test", leaf, stapling=ssl_use,
                  extra=["OCSPStaple %s" % ocspstaple] if ocspstaple else [])
    env.start()
    r = clients.s_client(env.port, "rsa.test", pki.root_path)
    if served:
        assert responder.count(leaf.serial) == 1, responder.hits()
        assert_good_staple(r, leaf)
    else:
        assert r.handshake_ok and r.no_response, r
        assert responder.count() == 0, responder.hits()


@pytest.mark.parametrize("ssl_use,served", [(True, True), (False, False)])
def test_ssl_use_stapling_observed_with_debian_load_order(pki, responder, new_httpd,
                                                          ssl_use, served):
    """Debian's a2enmod writes ocspstaple.load before ssl.load, so mod_ssl's
    SSLUseStapling handler comes first in httpd's list: ours still runs,
    since httpd calls every module's handler for a directive."""
    leaf = pki.leaf("rsa")
    env = new_httpd()
    env.module_before_ssl = True
    env.add_vhost("rsa.test", leaf, stapling=ssl_use)
    env.start()
    conf = open(env.conf_path).read()
    assert conf.index("ocspstaple_module") < conf.index("ssl_module"), conf
    r = clients.s_client(env.port, "rsa.test", pki.root_path)
    if served:
        assert_good_staple(r, leaf)
    else:
        assert r.handshake_ok and r.no_response, r


# ---- bullet 9: no OCSP URL --------------------------------------------------------------

def test_leaf_without_ocsp_url_quiet(pki, responder, new_httpd):
    leaf = pki.leaf("noaia")
    env = start_one(new_httpd, leaf)
    r = clients.s_client(env.port, "noaia.test", pki.root_path)
    assert r.handshake_ok and r.verify == "0 (ok)", r
    assert r.no_response, r
    assert responder.count() == 0
    env.stop()
    # the log guard fails the test on anything at warn or above (mod_ssl's
    # AH02218 "no OCSP URI" included)


# ---- bullet 10: invalid directive values ---------------------------------------------------

INVALID = [
    ("OCSPStaple", "maybe", "vhost"),
    ("OCSPStapleCache", "nosuchprovider", "server"),
    ("OCSPStapleResponderTimeout", "0", "server"),
    ("OCSPStapleResponderTimeout", "-1", "server"),
    ("OCSPStapleResponderTimeout", "abc", "server"),
    ("OCSPStapleResponderTimeout", "100000", "server"),
    ("OCSPStapleStartupTimeout", "abc", "server"),
    ("OCSPStapleResponderURL", "ftp://x", "vhost"),
    ("OCSPStapleResponderURL", "not-a-url", "vhost"),
    ("OCSPStapleMaxResponseSize", "0", "server"),
    ("OCSPStapleMaxResponseSize", "10x", "server"),
    ("OCSPStapleRefresh", "150%", "server"),
    ("OCSPStapleRefresh", "0%", "server"),
    ("OCSPStapleRefresh", "5q", "server"),
    ("OCSPStapleServeExpired", "maybe", "server"),
    ("OCSPStapleProxy", "ftp://p", "server"),
]

SERVER_WIDE = [
    ("OCSPStapleCache", "shmcb"),
    ("OCSPStapleStore", "/tmp/ocspstaple-e2e-never-used"),
    ("OCSPStapleRefresh", "50%"),
    ("OCSPStapleResponderTimeout", "10"),
    ("OCSPStapleStartupTimeout", "5"),
    ("OCSPStapleProxy", "http://127.0.0.1:9"),
    ("OCSPStapleMaxResponseSize", "16380"),
    ("OCSPStapleServeExpired", "off"),
]


def _refused(env, expect_log, directive):
    expect_log(re.escape(directive))
    expect_log(r"AH00016|Configuration Failed")
    res = env.start_expect_failure(timeout=15)
    assert res.rc is not None, "httpd started with the invalid line:\n%r" % res
    assert res.rc != 0, res
    return res


@pytest.mark.parametrize("directive,value,where", INVALID,
                         ids=["%s=%s" % (d, v) for d, v, _ in INVALID])
def test_invalid_directive_value_stops_httpd(pki, new_httpd, expect_log, directive, value, where):
    env = new_httpd()
    line = "%s %s" % (directive, value)
    if where == "vhost":
        env.add_vhost("rsa.test", pki.leaf("rsa"), extra=[line])
    else:
        env.add_vhost("rsa.test", pki.leaf("rsa"))
        env.server_lines.append(line)
    res = _refused(env, expect_log, directive)
    assert directive in res.output, res
    assert value in res.output, "the message does not quote the value: %r" % res


@pytest.mark.parametrize("directive,value", SERVER_WIDE, ids=[d for d, _ in SERVER_WIDE])
def test_server_wide_directive_refused_in_vhost(pki, new_httpd, expect_log, directive, value):
    env = new_httpd()
    env.add_vhost("rsa.test", pki.leaf("rsa"), extra=["%s %s" % (directive, value)])
    res = _refused(env, expect_log, directive)
    assert directive in res.output, res


def test_all_directives_valid_values_start(pki, responder, new_httpd):
    """The control for the two tests above: the same directives with valid
    values start and staple (so a refusal there is about the value)."""
    leaf = pki.leaf("rsa")
    env = new_httpd()
    env.server_lines += ["%s %s" % (d, v) for d, v in SERVER_WIDE
                         if d not in ("OCSPStapleStore", "OCSPStapleProxy")]
    env.add_vhost("rsa.test", leaf, extra=["OCSPStaple on",
                                           "OCSPStapleResponderURL %s" % responder.url])
    env.start()
    assert_good_staple(clients.s_client(env.port, "rsa.test", pki.root_path), leaf)


# ---- bullet 11: the example configuration ----------------------------------------------

def test_conf_examples_minimal_vhost_staples(pki, responder, new_httpd):
    leaf = pki.leaf("ecdsa")
    env = new_httpd()
    env.ssl_stapling_cache = False  # ocspstaple.conf brings it
    env.set_store = False
    env.listen_ports.append(env.port)
    env.pre_lines += [
        "Define APACHE_RUN_DIR %s/run" % env.root,
        "Define OCSPSTAPLE_EXAMPLE_PORT %d" % env.port,
        "Define OCSPSTAPLE_EXAMPLE_NAME example.e2e.test",
        "Define OCSPSTAPLE_EXAMPLE_CERT %s" % leaf.chain_path,
        "Define OCSPSTAPLE_EXAMPLE_KEY %s" % leaf.key_path,
    ]
    env.tail_lines += [
        "Include %s/ocspstaple.conf" % CONF_EXAMPLES,
        "OCSPStapleStore %s" % env.store_dir,  # not Debian's /var/lib path
        "Include %s/minimal-vhost.conf" % CONF_EXAMPLES,
    ]
    env.start()
    assert responder.count(leaf.serial) >= 1
    assert_good_staple(clients.s_client(env.port, "example.e2e.test", pki.root_path), leaf)
    load = open(os.path.join(CONF_EXAMPLES, "ocspstaple.load")).read()
    assert "# Depends: ssl" in load
    assert re.search(r"^LoadModule ocspstaple_module /usr/lib/apache2/modules/"
                     r"mod_ocspstaple.so$", load, re.M)


def test_demo_oneshot():
    """demo.py starts everything on loopback, shows a good staple, stops."""
    import sys
    demo = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo.py")
    cp = subprocess.run([sys.executable, demo, "--oneshot"], capture_output=True, text=True,
                        timeout=60, stdin=subprocess.DEVNULL)
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert "OCSP Response Status: successful (0x0)" in cp.stdout, cp.stdout
    assert "Cert Status: good" in cp.stdout, cp.stdout
