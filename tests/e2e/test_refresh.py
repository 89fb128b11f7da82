"""Issue 3: background refresh, failing and lying responders, revocation,
restarts from the store, a corrupt store, Must-Staple, both MPMs, and
concurrent clients across refreshes and a graceful restart.

Responses come from the responder's "builder" mode with a short validity
(VALIDITY seconds), so that the default policy (OCSPStapleRefresh 50%,
jitter up to a tenth of that earlier, watchdog tick 1 s) refreshes every
VALIDITY/2 seconds or a little less. Timing bounds below are derived from
that policy, not from measurements, and keep a margin for a loaded 2-core
machine.
"""

import os
import re
import time

import pytest

import clients
from refresh_helpers import (wait_refresher_ticks, children, extra_responder, gaps, hit_times, poll,
                             read_bytes, staple, store_path, tlsload_binary,
                             tlsload_popen, tlsload_result, wait_staple)

pytestmark = pytest.mark.module

VALIDITY = 20                       # seconds, builder answers
# One refresh interval: due at thisUpdate + 50% minus up to 10% of that
# (jitter), thisUpdate truncated to the second, the watchdog ticks once a
# second, and a loaded machine adds a little.
REFRESH_MIN = VALIDITY * 0.45 - 1.5     # 7.5 s
REFRESH_MAX = VALIDITY * 0.5 + 2.0      # 12 s

# Log tags (see the module's log catalogue).
FIRST_FAILURE = r"\[ocspstaple:warn\].*OCSPS0040: "
REVOKED_LOG = r"\[ocspstaple:error\].*OCSPS0031: "
MUST_STAPLE_LOG = r"\[ocspstaple:error\].*OCSPS0070: "
SUMMARY_LOG = r"OCSPS0071: "
EXPIRED_LOG = r"\[ocspstaple:error\].*OCSPS0081: "
STORE_IGNORED_LOG = r"\[ocspstaple:warn\].*OCSPS006[01]: .*store file ignored"

# Several children and plenty of spare threads so that none is reaped.
SEVERAL_CHILDREN_EVENT = ["StartServers 3", "ServerLimit 4", "MinSpareThreads 5",
                          "MaxSpareThreads 100", "MaxRequestWorkers 100"]


def assert_good(r, leaf):
    assert r.handshake_ok, r
    assert r.stapled, "no staple: %r" % r
    assert r.response_status == "successful (0x0)", r
    assert r.cert_status == "good", r
    assert r.staple_serial == leaf.serial, r
    assert r.peer_serial == leaf.serial, r


def log_matches(env, regex):
    rx = re.compile(regex)
    return [l for l in env.log_text().splitlines() if rx.search(l)]


def start_builder(new_httpd, responder, leaf, names=None, server_lines=(), **kw):
    responder.set_mode("builder", validity=VALIDITY)
    env = new_httpd(**kw)
    env.server_lines += list(server_lines)
    for n in names or [leaf.hostname]:
        env.add_vhost(n, leaf)
    env.start()
    return env


# ---- 1. refresh without traffic, once per interval ----------------------------------

def test_refresh_without_traffic_once_per_interval(pki, responder, new_httpd):
    """Three children, the certificate in three vhosts, no client between
    the first handshake and the check: the responder sees one request per
    refresh interval (not one per child, not one per vhost), and a client
    then gets the newest response, which is also in the store."""
    leaf = pki.leaf("rsa")
    names = ["a.e2e.test", "b.e2e.test", "c.e2e.test"]
    env = start_builder(new_httpd, responder, leaf, names, SEVERAL_CHILDREN_EVENT)
    kids = poll(lambda: len(children(env)) >= 3 and children(env), 10)
    assert kids, "httpd runs %d children, the test wants 3" % len(children(env))

    firsts = [staple(env, n, pki) for n in names]
    for r in firsts:
        assert_good(r, leaf)
        assert r.this_update == firsts[0].this_update, firsts
    assert responder.count(leaf.serial) == 1, responder.hits(leaf.serial)

    # two refreshes, no client traffic meanwhile
    assert responder.wait_for_hits(3, 2 * REFRESH_MAX + 2, serial=leaf.serial), \
        "fewer than 2 refreshes in %ss: %s" % (2 * REFRESH_MAX + 2, responder.hits(leaf.serial))
    # duplicates (per child, per vhost) would arrive together with the refresh
    assert not responder.wait_for_hits(4, 2.0, serial=leaf.serial), \
        "more than one request per refresh: %s" % responder.hits(leaf.serial)
    times = hit_times(responder, leaf.serial)
    print("gaps between requests: %s" % gaps(times))
    for g in gaps(times):
        assert REFRESH_MIN <= g <= REFRESH_MAX, \
            "gaps between requests %s, policy wants %.1f..%.1f s" % (
                gaps(times), REFRESH_MIN, REFRESH_MAX)

    newest = int(times[-1])
    for n in names:
        r, ok = wait_staple(env, n, pki, lambda r: r.this_update is not None
                            and r.this_update.timestamp() >= newest, 3)
        assert ok, "%s: still the old staple (thisUpdate %s, newest fetch at %s): %r" % (
            n, r.this_update, time.ctime(newest), r)
        assert_good(r, leaf)
        assert r.this_update > firsts[0].this_update

    # the refreshed response is also the one in the store
    der = clients.stapled_der(env.port, names[0])
    assert der and der in read_bytes(store_path(env, leaf)), \
        "the store file does not hold the refreshed response"


# ---- 2. responder down past the refresh point -----------------------------------------

def _sample_until_stopped(envs, pki, leaf, stop_at, deadline):
    """Handshakes on every env until each gave no staple after its stop_at
    (wall clock) or the deadline; returns {env: [results]}."""
    samples = {e: [] for e in envs}
    done = set()
    while len(done) < len(envs) and time.time() < deadline:
        for e in envs:
            if e in done:
                continue
            r = staple(e, leaf.hostname, pki)
            samples[e].append(r)
            if not r.stapled and r.t0 > stop_at[e] + 0.2:
                done.add(e)
        time.sleep(0.2)
    return samples


@pytest.mark.slow
def test_responder_down_staples_until_next_update_then_grace(pki, responder, new_httpd,
                                                             expect_log):
    """The responder goes away right after a good start. Without
    OCSPStapleServeExpired the staple continues, unchanged, until
    nextUpdate and then stops; with OCSPStapleServeExpired 10 it continues
    10 s longer, then stops. Each server logs the expiry once."""
    expect_log(FIRST_FAILURE, levels=("warn",))
    expect_log(EXPIRED_LOG, levels=("error",))
    leaf = pki.leaf("rsa")
    responder.set_mode("builder", validity=VALIDITY)
    plain = new_httpd(name="plain")
    plain.add_vhost(leaf.hostname, leaf)
    grace = new_httpd(name="grace")
    grace.server_lines.append("OCSPStapleServeExpired 10")
    grace.add_vhost(leaf.hostname, leaf)
    plain.start()
    grace.start()
    first = {}
    for e in (plain, grace):
        first[e] = staple(e, leaf.hostname, pki)
        assert_good(first[e], leaf)
    responder.set_mode("refuse")

    # the module compares whole seconds: stapled while now <= nextUpdate (+ grace)
    stop_at = {plain: first[plain].next_update.timestamp() + 1,
               grace: first[grace].next_update.timestamp() + 10 + 1}
    samples = _sample_until_stopped((plain, grace), pki, leaf, stop_at,
                                    max(stop_at.values()) + 6)
    for e, label in ((plain, "no grace"), (grace, "ServeExpired 10")):
        s = samples[e]
        nu = first[e].next_update
        early = [r for r in s if r.t1 < stop_at[e] - 0.1]
        late = [r for r in s if r.t0 > stop_at[e] + 0.1]
        print("%s: nextUpdate %s, last staple %.2f s and first without %.2f s after it" % (
            label, nu, [r for r in s if r.stapled][-1].t1 - nu.timestamp(),
            late[0].t0 - nu.timestamp() if late else float("nan")))
        for r in early:
            assert r.stapled, "%s: no staple at %s, before nextUpdate %s%s: %r" % (
                label, time.ctime(r.t0), nu, " + 10 s" if e is grace else "", r)
            assert r.cert_status == "good" and r.this_update == first[e].this_update, r
        assert early and early[-1].t1 > stop_at[e] - 2.5, \
            "%s: no handshake in the last seconds before the stop" % label
        assert late, "%s: still stapled %.1f s after nextUpdate%s: %r" % (
            label, time.time() - nu.timestamp(), " + 10 s" if e is grace else "", s[-1])
        assert late[0].t0 < stop_at[e] + 3, "%s: sampling gap" % label
        for r in late:
            assert r.handshake_ok and r.no_response, \
                "%s: stapled after the end (%s): %r" % (label, time.ctime(r.t0), r)
        assert len(log_matches(e, FIRST_FAILURE)) == 1, e.log_text()
        lines = e.wait_for_log(EXPIRED_LOG, timeout=3)
        assert len(lines) == 1, lines


# ---- 3. bad answers after a good start ---------------------------------------------------

FAULTS = ("trylater", "http500", "garbage", "stranger", "unknown")


@pytest.fixture(scope="module")
def fault_bed(pki):
    """One leaf per fault, each naming a responder of its own, so that the
    five certificates fail in parallel without sharing the per-responder
    backoff (which would probe one certificate at a time)."""
    resp, leaves = {}, {}
    try:
        for m in FAULTS:
            resp[m] = extra_responder(pki, "builder", validity=VALIDITY)
            leaves[m] = pki.issue_leaf("refresh-" + m, key_type="ec",
                                       ocsp_urls=[resp[m].url])
        yield resp, leaves
    finally:
        for r in resp.values():
            r.stop()


@pytest.mark.slow
def test_bad_answers_keep_previous_staple_and_back_off(pki, responder, new_httpd,
                                                       expect_log, fault_bed):
    """After a good start each responder answers tryLater, HTTP 500,
    garbage, a response signed by a stranger, or unknown. Every handshake
    keeps getting the previous response (same thisUpdate), and the retries
    for each certificate come at growing intervals."""
    expect_log(FIRST_FAILURE, levels=("warn",))
    expect_log(EXPIRED_LOG, levels=("error",))  # the 3rd try may come after expiry
    resps, leaves = fault_bed
    for r in resps.values():
        r.reset()
        r.set_mode("builder", validity=VALIDITY)
    env = new_httpd()
    for m in FAULTS:
        env.add_vhost(leaves[m].hostname, leaves[m])
    env.start()
    first = {}
    for m in FAULTS:
        first[m] = staple(env, leaves[m].hostname, pki)
        assert_good(first[m], leaves[m])
        assert resps[m].count(leaves[m].serial) == 1, (m, resps[m].hits())
    prefetch = {m: resps[m].hits()[0].time for m in FAULTS}
    for m in FAULTS:
        resps[m].set_mode(m)

    # the refresh and the first retry fail
    for m in FAULTS:
        assert resps[m].wait_for_hits(3, REFRESH_MAX + 8, serial=leaves[m].serial), \
            "%s: fewer than 2 attempts: %s" % (m, resps[m].hits())
    for m in FAULTS:
        r = staple(env, leaves[m].hostname, pki)
        assert r.t1 < first[m].next_update.timestamp(), "too slow to check in time"
        assert_good(r, leaves[m])
        assert r.this_update == first[m].this_update, \
            "%s: the staple changed after bad answers: %r" % (m, r)
        assert clients.curl_status(env.port, leaves[m].hostname, pki.root_path).rc == 0

    # a third attempt each: the intervals grow
    for m in FAULTS:
        assert resps[m].wait_for_hits(4, 20, serial=leaves[m].serial), \
            "%s: no third attempt: %s" % (m, resps[m].hits())
    report = {}
    for m in FAULTS:
        t = hit_times(resps[m], leaves[m].serial, modes=(m,))
        report[m] = (round(t[0] - prefetch[m], 2), gaps(t))
        assert REFRESH_MIN <= t[0] - prefetch[m] <= REFRESH_MAX, \
            "%s: first bad answer %.1f s after the prefetch, not at the refresh point" % (
                m, t[0] - prefetch[m])
        g = gaps(t)
        # The first retry comes 2 to 5 s after the failure (base 5,
        # jittered between half and all), counted from the failure's whole
        # second: one at x.998 s may be retried at (x + 2).0 s. So each
        # first gap is at least 1 s; retrying at every tick would make every
        # gap about 1 s, while the policy makes each longer with odds of 2/3.
        assert g[0] >= 0.9, "%s: retried after %.2f s" % (m, g[0])
        # They grow, but near expiry the policy caps a retry at a third of
        # the life left (refresh_retry), so two may come out equal: never
        # shorter (a quarter second of tick and scheduling slack).
        assert all(b >= a - 0.25 for a, b in zip(g, g[1:])), \
            "%s: retry gaps shrink: %s" % (m, g)
    assert max(g for m in FAULTS for g in report[m][1]) >= 1.5, \
        "every retry came about a tick after the failure before: %s" % report
    print("first bad answer after the prefetch, then retry gaps: %s" % report)
    for m in FAULTS:
        lines = [l for l in log_matches(env, FIRST_FAILURE) if leaves[m].hostname in l]
        assert len(lines) == 1, "%s: want one warning: %s" % (m, lines)
        assert "keeping the response valid until" in lines[0], lines[0]


# ---- 4. good, then revoked, then never good again ------------------------------------

REVOKE_REFRESH = 6  # OCSPStapleRefresh 6: refresh once a response is 6 s old


@pytest.mark.slow
def test_revoked_from_next_refresh_and_never_good_again(pki, responder, new_httpd,
                                                        expect_log):
    """The responder switches to revoked for the certificate: the revoked
    response is stapled from the next refresh on, with one error line; when
    the responder says good again, the staple stays revoked across further
    refreshes. (revoke-all answers are valid 1 h, so the refresh is set to
    a duration to see refreshes at all.)"""
    expect_log(REVOKED_LOG, levels=("error",))
    # the later good answers are refused, which is a failed fetch
    expect_log(FIRST_FAILURE + r".*revoked", levels=("warn",))
    leaf = pki.leaf("rsa")
    env = start_builder(new_httpd, responder, leaf,
                        server_lines=["OCSPStapleRefresh %d" % REVOKE_REFRESH])
    first = staple(env, leaf.hostname, pki)
    assert_good(first, leaf)
    responder.set_mode("revoke-all", serial=leaf.serial)

    assert responder.wait_for_hits(2, REVOKE_REFRESH + 4, serial=leaf.serial), \
        responder.hits(leaf.serial)
    h = responder.hits(leaf.serial)
    assert h[1].mode == "revoke-all", h
    assert REVOKE_REFRESH - 2 <= h[1].time - h[0].time <= REVOKE_REFRESH + 2, h
    r, ok = wait_staple(env, leaf.hostname, pki, lambda r: r.cert_status == "revoked", 3)
    assert ok, "the revoked answer is not stapled after the refresh: %r" % r
    assert r.stapled and r.response_status == "successful (0x0)", r
    assert r.staple_serial == leaf.serial and r.this_update > first.this_update, r
    revoked = r
    lines = env.wait_for_log(REVOKED_LOG, timeout=3)
    assert leaf.serial_hex.lower() in lines[0].lower(), lines

    responder.set_mode(None, serial=leaf.serial)  # good answers again (builder)
    n = responder.count(leaf.serial)
    assert responder.wait_for_hits(n + 2, REVOKE_REFRESH + 12, serial=leaf.serial), \
        "no further refreshes: %s" % responder.hits(leaf.serial)
    assert [x.mode for x in responder.hits(leaf.serial)[n:]][:2] == ["builder"] * 2
    for _ in range(2):
        r = staple(env, leaf.hostname, pki)
        assert r.stapled and r.cert_status == "revoked", \
            "a good answer replaced the revoked one: %r" % r
        assert r.this_update == revoked.this_update, r
    c = clients.curl_status(env.port, leaf.hostname, pki.root_path)
    assert c.rc == 91, c
    assert len(log_matches(env, REVOKED_LOG)) == 1, log_matches(env, REVOKED_LOG)


# ---- 5. restarts staple from the store -------------------------------------------------

@pytest.mark.parametrize("down", ["refuse", "http500"])
@pytest.mark.parametrize("how", ["graceful", "stop-start"])
def test_restart_staples_from_store_without_asking(pki, responder, new_httpd, how, down):
    """A graceful restart (SIGUSR1) or a full stop and start while the
    responder is down: the first handshake after it is stapled with the
    stored response and the responder gets no request for it ("refuse"
    cannot count requests, so the module's own summary and the absence of
    a failure line speak there; "http500" counts every request)."""
    leaf = pki.leaf("rsa")
    env = new_httpd()
    env.add_vhost(leaf.hostname, leaf)
    env.start()  # openssl mode: valid 1 h, no refresh due during the test
    before = staple(env, leaf.hostname, pki)
    assert_good(before, leaf)
    assert os.path.exists(store_path(env, leaf))
    responder.set_mode(down)
    responder.reset_counts()
    summaries = len(log_matches(env, SUMMARY_LOG))

    if how == "graceful":
        env.graceful()
    else:
        env.stop()
        env.start()
    r = staple(env, leaf.hostname, pki)
    assert_good(r, leaf)
    assert r.this_update == before.this_update, r
    lines = env.wait_for_log(SUMMARY_LOG, count=summaries + 1, timeout=5)
    assert re.search(r"1 good, 0 revoked, 0 missing.*\(1 from the store, 0 fetched",
                     lines[-1]), lines[-1]
    # nor shortly after (the background refresh)
    assert not responder.wait_for_hits(1, 1.5, serial=leaf.serial), responder.hits()
    assert responder.count() == 0, responder.hits()
    assert not log_matches(env, FIRST_FAILURE), log_matches(env, FIRST_FAILURE)


# ---- 6. a corrupt store file -------------------------------------------------------------

@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_corrupt_store_file_ignored_logged_once_refetched(pki, responder, new_httpd,
                                                          expect_log, damage):
    expect_log(STORE_IGNORED_LOG, levels=("warn",))
    leaf = pki.leaf("rsa")
    env = new_httpd()
    env.add_vhost(leaf.hostname, leaf)
    env.start()
    path = store_path(env, leaf)
    good = read_bytes(path)
    env.stop()
    bad = os.urandom(len(good)) if damage == "garbage" else good[:len(good) // 2]
    with open(path, "wb") as f:  # in place: owner and mode stay
        f.write(bad)
    responder.reset_counts()

    env.start()
    assert responder.count(leaf.serial) == 1, "not refetched at start: %s" % responder.hits()
    r = staple(env, leaf.hostname, pki)
    assert_good(r, leaf)
    lines = env.wait_for_log(STORE_IGNORED_LOG, timeout=3)
    assert os.path.basename(path).split(".")[0] in lines[0] or leaf.hostname in lines[0], lines
    # once: not again from the background process
    wait_refresher_ticks(env, 2)
    assert len(log_matches(env, r"OCSPS006[01]")) == 1, log_matches(env, r"OCSPS006[01]")
    now = read_bytes(path)
    assert now != bad, "the store file was not rewritten"
    der = clients.stapled_der(env.port, leaf.hostname)
    assert der and der in now, "the store file does not hold the stapled response"

    # and it is valid: a start without responder staples from it
    env.stop()
    responder.set_mode("refuse")
    env.start()
    r2 = staple(env, leaf.hostname, pki)
    assert_good(r2, leaf)
    assert r2.this_update == r.this_update
    assert len(log_matches(env, r"OCSPS006[01]")) == 1, log_matches(env, r"OCSPS006[01]")


# ---- 7. Must-Staple without a response at a cold start ----------------------------------------

def test_must_staple_cold_start_responder_down_logs_error(pki, responder, new_httpd,
                                                          expect_log):
    expect_log(MUST_STAPLE_LOG, levels=("error",))
    expect_log(FIRST_FAILURE, levels=("warn",))
    leaf = pki.leaf("muststaple")
    assert leaf.must_staple
    responder.set_mode("refuse")
    env = new_httpd()
    env.add_vhost(leaf.hostname, leaf)
    assert not os.path.exists(env.store_dir) or not os.listdir(env.store_dir)
    env.start()
    lines = env.wait_for_log(MUST_STAPLE_LOG, timeout=5)
    assert len(lines) == 1, lines
    assert leaf.serial_hex.lower() in lines[0].lower(), lines[0]
    summary = env.wait_for_log(SUMMARY_LOG, timeout=3)[-1]
    assert "1 missing" in summary, summary
    r = staple(env, leaf.hostname, pki)
    assert r.handshake_ok and r.no_response, r
    # the responder comes back: the background retry staples
    responder.set_mode("builder", validity=60)
    r, ok = wait_staple(env, leaf.hostname, pki, lambda r: r.stapled, 12, interval=0.3)
    assert ok, "still no staple after the responder came back: %r" % r
    assert_good(r, leaf)
    # the module logs a first response after failures as OCSPS0032 (info),
    # a response after failures that replaced an older one as OCSPS0033
    env.wait_for_log(r"OCSPS003[23]: .*muststaple", timeout=3)


# ---- 8. first handshake and refresh under both MPMs ------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_first_handshake_and_refresh_under_mpm(pki, responder, new_httpd, mpm):
    leaf = pki.leaf("ecdsa")
    env = start_builder(new_httpd, responder, leaf, mpm=mpm)
    assert responder.count(leaf.serial) == 1, "no prefetch: %s" % responder.hits()
    first = staple(env, leaf.hostname, pki)
    assert_good(first, leaf)
    assert len(children(env)) >= 1
    assert responder.wait_for_hits(2, REFRESH_MAX + 1, serial=leaf.serial), \
        "no refresh under %s: %s" % (mpm, responder.hits())
    h = hit_times(responder, leaf.serial)
    assert REFRESH_MIN <= h[1] - h[0] <= REFRESH_MAX, gaps(h)
    r, ok = wait_staple(env, leaf.hostname, pki,
                        lambda r: r.this_update is not None and r.this_update > first.this_update, 3)
    assert ok, "a client does not see the refreshed response: %r" % r
    assert_good(r, leaf)
    assert not responder.wait_for_hits(3, 1.0, serial=leaf.serial), responder.hits()
    c = clients.curl_status(env.port, leaf.hostname, pki.root_path)
    assert c.rc == 0, c


# ---- 8b. a child exits only after its refresher thread is done -------------------------

STARTED_LOG = r"OCSPS0090: background refresh started in process (\d+)"
STOPPED_LOG = r"OCSPS0091: background refresh stopping in process (\d+)"


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_child_exits_after_its_refresher_thread(pki, responder, new_httpd, mpm):
    """mod_watchdog never joins its thread in a child: the thread ends on
    its own within 100 ms of seeing the MPM stop, while the main thread
    goes on to exit(), where OpenSSL's atexit cleanup runs. A thread that
    used OpenSSL and ended during that cleanup freed its thread state at
    the same time (one child aborted: "double free or corruption"). So a
    child whose refresher started must wait, before it exits, for that
    thread to reach STOPPING (which releases its OpenSSL state there).
    Three generations (two graceful restarts, then a graceful stop): every
    process that logged the refresher's start logs its stop. Before the
    fix, 14 of 151 did in a loop of graceful restarts; the rest exited
    with the thread still running."""
    leaf = pki.leaf("ecdsa")
    env = start_builder(new_httpd, responder, leaf, mpm=mpm)
    for generation in range(1, 4):
        env.wait_for_log(STARTED_LOG, timeout=15, count=generation)
        assert_good(staple(env, leaf.hostname, pki), leaf)
        time.sleep(1.2)  # a tick or more on the refresher's thread
        if generation < 3:
            env.graceful()
    env.stop()
    started = set(m.group(1) for l in log_matches(env, STARTED_LOG)
                  for m in [re.search(STARTED_LOG, l)])
    stopped = set(m.group(1) for l in log_matches(env, STOPPED_LOG)
                  for m in [re.search(STOPPED_LOG, l)])
    assert len(started) >= 3, started
    assert started <= stopped, \
        "processes %s exited with the refresher's thread still running" % sorted(started - stopped)


# ---- 9. concurrent clients across refreshes and a graceful restart ----------------------------

LOAD_THREADS = 20
LOAD_SECONDS = 30
# Sized for the load, as an operator would: 20 clients at ~1500 handshakes/s
# keep many workers busy (TLS close, lingering), and during the graceful
# restart the old generation still holds its scoreboard slots. The harness
# default (2 x 25 threads) once hit MaxRequestWorkers here, which httpd logs
# at error level.
LOAD_SERVER = ["StartServers 2", "ServerLimit 8", "ThreadsPerChild 25",
               "MinSpareThreads 25", "MaxSpareThreads 200", "MaxRequestWorkers 200"]


@pytest.mark.slow
def test_concurrent_handshakes_across_refreshes_and_graceful(pki, responder, new_httpd):
    """20 client threads doing full handshakes for 30 s (>= 2 refreshes at
    20 s validity) with a graceful restart in the middle: every handshake
    completes and carries a verified, current, good staple."""
    if tlsload_binary() is None:
        pytest.skip("bench/tlsload.c does not exist")
    leaf = pki.leaf("rsa")
    env = start_builder(new_httpd, responder, leaf, server_lines=LOAD_SERVER)
    assert_good(staple(env, leaf.hostname, pki), leaf)
    t0 = time.monotonic()
    p = tlsload_popen(env.port, leaf.hostname, pki.root_path, LOAD_THREADS, LOAD_SECONDS)
    try:
        # a graceful restart in the middle of the run (after the 1st refresh)
        assert responder.wait_for_hits(2, REFRESH_MAX + 2, serial=leaf.serial), \
            responder.hits()
        poll(lambda: time.monotonic() - t0 >= LOAD_SECONDS / 2 or p.poll() is not None,
             LOAD_SECONDS)
        assert p.poll() is None, "tlsload ended early: %s" % (p.communicate(timeout=5),)
        t_graceful = time.time()
        env.graceful()
        res, err = tlsload_result(p, LOAD_SECONDS + 60)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate(timeout=10)
    print(err.strip())
    n = res["handshakes"]
    assert n > 0, err
    assert res["errors"] == 0, "%d failed handshakes: %s" % (res["errors"], err)
    for k in ("stapled", "parsed", "verified", "matched", "in_validity", "good", "ok"):
        assert res[k] == n, "%s %d of %d handshakes: %s" % (k, res[k], n, err)
    assert res["revoked"] == 0, err
    hits = hit_times(responder, leaf.serial)
    assert len(hits) >= 3, "fewer than 2 refreshes during the run: %s" % gaps(hits)
    assert hits[-1] > t_graceful, "no refresh after the graceful restart: %s" % gaps(hits)
    # one request per interval: none for the graceful restart (the store
    # has a valid response), none doubled by the load
    for g in gaps(hits):
        assert REFRESH_MIN <= g <= REFRESH_MAX + 2, \
            "requests %s s apart under load, policy wants about %d" % (gaps(hits), VALIDITY / 2)
