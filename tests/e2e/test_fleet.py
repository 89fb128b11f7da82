"""Issue 9: a fleet of httpd servers sharing OCSPStapleCache on a real
memcached or redis-server, and what happens when that cache breaks.

Each server has its own ServerRoot and store; they share one cache and the
session's responder. The shared cache is only an exchange between the
servers' background work (adopt a fresher verified response before a
fetch, publish after it): handshakes read host-local memory only, so the
cache stopped, hung (SIGSTOP of the cache process itself) or restarted
empty changes nothing clients see, and each server then refreshes on its
own at its normal times. Going down is logged once per server (OCSPS0140,
warn), coming back once (OCSPS0141, notice).

Responses come from the responder's builder mode with a short validity, so
that the default policy (OCSPStapleRefresh 50%, up to a tenth of that
earlier, watchdog tick 1 s) refreshes every VALIDITY/2 s or a little less.
Bounds are derived from that policy and from the module's cache rules
(each operation bounded by CACHE_OP_BOUND, backoff BACKOFF_FIRST s then
doubling), with margins for a loaded 2-core machine.

Latency: every load test runs, during the same seconds, a control server
on the default shmcb cache (same certificates, its own responder through
OCSPStapleResponderURL so that the counts stay apart) with a load client
of its own, and prints p50/p99/max of both. Asserted: max <
MAX_LATENCY_MS, and the fleet's worst p99 no worse than P99_FACTOR x the
control's p99 plus P99_SLACK_MS (scheduling noise of a 2-core machine
shared with other work; a handshake that waited on a hung cache would
take CACHE_OP_BOUND = 2000 ms). A baseline measured once per session
was tried first: its p99 ranged from 11 to 28 ms between runs on this
shared machine, more than the factor, so it is measured alongside.
"""

import datetime
import os
import re
import signal
import time

import pytest

from cache_servers import KINDS, CacheServer
from refresh_helpers import (extra_responder, poll, staple, tlsload_binary, tlsload_popen,
                             tlsload_result)

pytestmark = pytest.mark.module

VALIDITY = 12                      # s, builder answers in the load tests
STEADY_VALIDITY = 20               # s, builder answers in the steady-state test
LEAVES = ("rsa", "ecdsa")
SERVERS = 3

CACHE_OP_BOUND = 2.0               # s, one cache operation at most
BACKOFF_FIRST = 10.0               # s, first backoff after a cache failure


def refresh_gap_min(validity):
    """The earliest one server refreshes a certificate again: 50% minus
    up to a tenth of that (jitter), minus a watchdog tick."""
    return validity * 0.45 - 1.0


def refresh_max(validity):
    """The latest one server's refresh comes after the previous one."""
    return validity * 0.5 + 2.0


# Recovery is noticed at the first probe after the backoff: the backoff
# doubled at most once in these outages (20 s), plus one refresh window
# when the probe waits for the next use, plus a margin.
RECOVERY_TIMEOUT = 2 * BACKOFF_FIRST + refresh_max(VALIDITY) + 5

LOAD_THREADS = 1                   # per server: 3 clients + 3 servers on 2 cores
LOAD_WARMUP = 2.0                  # s of load with the cache up before a fault
MAX_LATENCY_MS = 1000.0
P99_FACTOR = 2.0
P99_SLACK_MS = 10.0
STARTUP_TIMEOUT = 3                # OCSPStapleStartupTimeout in the restart tests

CACHE_DOWN = r"\[ocspstaple:warn\].*OCSPS0140: "
CACHE_BACK = r"\[ocspstaple:notice\].*OCSPS0141: "



# ---- helpers ------------------------------------------------------------------------

def log_lines(env, regex):
    rx = re.compile(regex)
    return [l for l in env.log_text().splitlines() if rx.search(l)]


def log_time(line):
    """Wall clock (time.time()) of an httpd error-log line."""
    m = re.match(r"^\[(\w{3} \w{3} +\d+ [\d:.]+ \d{4})\]", line)
    if not m:
        return None
    dt = datetime.datetime.strptime(m.group(1), "%a %b %d %H:%M:%S.%f %Y")
    return time.mktime(dt.timetuple()) + dt.microsecond / 1e6


def assert_good(r, leaf):
    assert r.handshake_ok, r
    assert r.stapled, "no staple: %r" % r
    assert r.response_status == "successful (0x0)", r
    assert r.cert_status == "good", r
    assert r.staple_serial == leaf.serial, r
    assert r.peer_serial == leaf.serial, r


def start_fleet(new_httpd, pki, cache, label, n=SERVERS, leaves=None, extra=(), mpm="event",
                tick_spread=False):
    """n servers, each with its own ServerRoot and store, all certificates
    of leaves in vhosts of one port; cache None: the default shmcb.
    tick_spread: launch server i at i x (1 + 1/n) s after the first, so
    that the servers' refreshers (mod_watchdog, one tick a second from
    the child's start) tick at different points of the second."""
    leaves = leaves or [pki.leaf(x) for x in LEAVES]
    envs = []
    t_first = None
    for i in range(n):
        env = new_httpd(name="%s%d" % (label, i), mpm=mpm)
        if cache is not None:
            env.server_lines += cache.lines()
        env.server_lines += list(extra)
        for leaf in leaves:
            env.add_vhost(leaf.hostname, leaf)
        if tick_spread and t_first is not None:
            delay = t_first + i * (1.0 + 1.0 / n) - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        if t_first is None:
            t_first = time.monotonic()
        env.start()
        envs.append(env)
    return envs


def sni_file(tmp_path, pki):
    path = os.path.join(str(tmp_path), "sni.txt")
    with open(path, "w") as f:
        f.write("".join(pki.leaf(x).hostname + "\n" for x in LEAVES))
    os.chmod(path, 0o644)
    return path


class FleetLoad:
    """One tlsload per server (full handshakes asking for a staple, every
    certificate's name in turn, each staple verified), running until
    finish() sends SIGTERM."""

    def __init__(self, envs, pki, sni_path, threads=LOAD_THREADS):
        if tlsload_binary() is None:
            pytest.skip("bench/tlsload.c does not exist")
        self.envs = envs
        self.procs = [tlsload_popen(e.port, pki.leaf(LEAVES[0]).hostname, pki.root_path,
                                    threads, 900,
                                    extra=["--sni-file", sni_path,
                                           "--label", os.path.basename(e.root)])
                      for e in envs]

    def finish(self, timeout=40):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        out = []
        for e, p in zip(self.envs, self.procs):
            res, err = tlsload_result(p, timeout)
            out.append((e, res, err.strip()))
        return out

    def kill(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.communicate(timeout=10)


def check_load(results):
    """Every handshake completed and carried a verified, current, good
    staple for the certificate it was made for; both names seen."""
    for env, res, err in results:
        n = res["handshakes"]
        assert n > 0, err
        assert res["errors"] == 0 and res["timeouts"] == 0, \
            "%d failed handshakes (%d timeouts): %s" % (res["errors"], res["timeouts"], err)
        for k in ("stapled", "parsed", "verified", "matched", "in_validity", "good", "ok"):
            assert res[k] == n, "%s: %s %d of %d handshakes: %s" % (
                os.path.basename(env.root), k, res[k], n, err)
        assert res["revoked"] == 0, err
        assert res.get("sni_ok_names") == len(LEAVES), err


def latency(results):
    """Fleet figures: the worst server's p50, p99 and max (ms)."""
    return {k: max(r["lat_ms"][k] for _, r, _ in results) for k in ("p50", "p99", "max")} | {
        "handshakes": sum(r["handshakes"] for _, r, _ in results)}


def fmt_latency(lat):
    return "%d handshakes, ms p50 %.1f p99 %.1f max %.1f" % (
        lat["handshakes"], lat["p50"], lat["p99"], lat["max"])


def start_control(new_httpd, pki, control_responder):
    """The shmcb control: one server like those of the fleet, without
    OCSPStapleCache, asking a responder of its own."""
    env = new_httpd(name="control")
    for x in LEAVES:
        leaf = pki.leaf(x)
        env.add_vhost(leaf.hostname, leaf,
                      extra=["OCSPStapleResponderURL %s" % control_responder.url])
    return env.start()


def check_latency(label, lat, base):
    print("%s: %s; shmcb control, same seconds: %s" % (label, fmt_latency(lat),
                                                      fmt_latency(base)))
    assert base["max"] < MAX_LATENCY_MS, "shmcb control: a handshake took %.0f ms" % base["max"]
    assert lat["max"] < MAX_LATENCY_MS, "%s: a handshake took %.0f ms" % (label, lat["max"])
    limit = P99_FACTOR * base["p99"] + P99_SLACK_MS
    assert lat["p99"] <= limit, "%s: p99 %.1f ms, shmcb control %.1f ms (limit %.1f)" % (
        label, lat["p99"], base["p99"], limit)


def hits_between(responder, serial, t0, t1):
    return [h.time for h in responder.hits(serial) if t0 <= h.time <= t1]


def windows(times, gap):
    """Groups request times into refresh windows: a new window starts when
    the previous request is more than gap seconds before."""
    out = []
    for t in sorted(times):
        if out and t - out[-1][-1] <= gap:
            out[-1].append(t)
        else:
            out.append([t])
    return out


@pytest.fixture(params=KINDS)
def cache_server(request):
    srv = CacheServer(request.param)
    yield srv
    srv.stop()


@pytest.fixture
def control_responder(pki):
    r = extra_responder(pki, "builder", validity=VALIDITY)
    yield r
    r.stop()


# ---- 1. steady state: one fetch per certificate per window, fleet-wide ----------------

STEADY_SECONDS = 40


@pytest.mark.slow
def test_fleet_steady_state_one_fetch_per_window(pki, responder, new_httpd):
    """Two fleets at once, one on memcached and one on redis-server, three
    servers each, two certificates each (their own, so that the
    responder's counts tell the fleets apart). Without traffic, over
    STEADY_SECONDS, the whole fleet asks about once per certificate per
    refresh window: at most windows + servers requests (a server whose
    refresh comes before another server's answer reached the cache fetches
    too), where every server on its own would make servers x windows.

    The servers are launched so that their refreshers tick a third of a
    second apart (tick_spread). With 20 s responses the policy's jitter
    (up to a tenth of the 10 s wait, in whole seconds) is always 0, so
    every server of the fleet is due in the same second and only the tick
    phase orders them; two servers ticking within one fetch time of each
    other both fetch, in every window (seen once with random phases on a
    loaded machine: windows of 3, 2 and 1 requests). With production
    lifetimes (hours) the jitter spreads the servers by minutes."""
    responder.set_mode("builder", validity=STEADY_VALIDITY)
    caches, fleets, leaves = {}, {}, {}
    try:
        for kind in KINDS:
            caches[kind] = CacheServer(kind)
        leaves["memcache"] = [pki.leaf(x) for x in LEAVES]
        leaves["redis"] = [pki.leaves.get("fleet-redis-%d" % i)
                           or pki.issue_leaf("fleet-redis-%d" % i, key_type=kt)
                           for i, kt in enumerate(("rsa", "ec"))]
        for kind in KINDS:
            fleets[kind] = start_fleet(new_httpd, pki, caches[kind], "steady-" + kind,
                                       leaves=leaves[kind], tick_spread=True)
        for kind in KINDS:
            for leaf in leaves[kind]:
                assert responder.count(leaf.serial) == 1, \
                    "%s fleet start: the servers that joined asked the responder: %s" % (
                        kind, responder.hits(leaf.serial))
        t0 = time.time()
        time.sleep(STEADY_SECONDS)
        t1 = time.time()

        gap = refresh_gap_min(STEADY_VALIDITY) - 1.0
        max_windows = int(STEADY_SECONDS / refresh_gap_min(STEADY_VALIDITY)) + 1
        min_windows = int(STEADY_SECONDS / refresh_max(STEADY_VALIDITY))
        report, problems = [], []
        for kind in KINDS:
            for leaf in leaves[kind]:
                h = hits_between(responder, leaf.serial, t0, t1)
                w = windows(h, gap)
                report.append("%s %s: %d requests in %d windows %s (every server alone: %d)"
                              % (kind, leaf.hostname, len(h), len(w),
                                 ["+%.1f s: %s" % (x[0] - t0, [round(y - x[0], 2) for y in x])
                                  for x in w], SERVERS * len(w)))
                if not min_windows <= len(w) <= max_windows:
                    problems.append("%s %s: %d refresh windows in %d s, policy: %d..%d"
                                    % (kind, leaf.hostname, len(w), STEADY_SECONDS,
                                       min_windows, max_windows))
                if len(h) > len(w) + SERVERS:
                    problems.append("%s %s: %d requests in %d windows (bound %d)"
                                    % (kind, leaf.hostname, len(h), len(w), len(w) + SERVERS))
        print("\n".join(report))
        assert not problems, "\n".join(problems + report)
        for kind in KINDS:
            for env in fleets[kind]:
                for leaf in leaves[kind]:
                    assert_good(staple(env, leaf.hostname, pki), leaf)
    finally:
        for c in caches.values():
            c.stop()


# ---- 2. the cache stopped, hung, restarted empty, under load --------------------------

FAULTS = ("stopped", "hung", "restarted")


@pytest.mark.slow
@pytest.mark.parametrize("fault", FAULTS)
def test_cache_fault_under_load(pki, responder, new_httpd, expect_log, cache_server,
                                control_responder, fault, tmp_path):
    """Three servers share the cache, a load client runs against each.
    The cache is then
      stopped:   terminated; once every server noticed it, started again
                 (empty, same port);
      hung:      SIGSTOP of the cache process; once every server noticed
                 it, SIGCONT;
      restarted: terminated and started again empty at once.
    Throughout, every handshake completes with a verified, current, good
    staple, the latency stays that of shmcb, each server logs one
    OCSPS0140 per outage and one OCSPS0141 when it uses the cache again,
    the responder sees no more requests than each server refreshing on its
    own at its normal times, and the cache is filled again afterwards."""
    expect_log(CACHE_DOWN, levels=("warn",))
    cache = cache_server
    responder.set_mode("builder", validity=VALIDITY)
    sni = sni_file(tmp_path, pki)

    control = start_control(new_httpd, pki, control_responder)
    envs = start_fleet(new_httpd, pki, cache, cache.kind)
    names = {e: os.path.basename(e.root) for e in envs}
    notice_timeout = refresh_max(VALIDITY) + CACHE_OP_BOUND + 4
    load = FleetLoad(envs + [control], pki, sni)
    try:
        time.sleep(LOAD_WARMUP)
        t_down = time.time()
        if fault == "hung":
            cache.hang()
        else:
            cache.stop()
            if fault == "restarted":
                cache.start()
        if fault != "restarted":
            # every server meets the dead cache at its next refresh (asserted below)
            poll(lambda: all(log_lines(e, CACHE_DOWN) for e in envs), notice_timeout)
            # a little longer: serving and refreshing with the cache down
            time.sleep(2)
            t_up = time.time()
            if fault == "hung":
                cache.resume()
            else:
                cache.start()
        else:
            t_up = time.time()
            # every server has used the cache again after a refresh window
            time.sleep(refresh_max(VALIDITY) + CACHE_OP_BOUND)
        down = {e: len(log_lines(e, CACHE_DOWN)) for e in envs}
        # one OCSPS0141 for every OCSPS0140, at the next probe (asserted below)
        poll(lambda: all(len(log_lines(e, CACHE_BACK)) >= down[e] for e in envs),
             RECOVERY_TIMEOUT)
        t_back = time.time()
        # the fleet fills the cache again (stopped/restarted: it came back empty)
        filled = poll(lambda: cache.items() >= len(LEAVES),
                      refresh_max(VALIDITY) + CACHE_OP_BOUND + 2, interval=0.5)
        time.sleep(1)
        results = load.finish()
    finally:
        load.kill()
    span = t_back - t_down

    # what clients see: every handshake stapled, as fast as with shmcb
    check_load(results)
    check_latency("%s %s" % (cache.kind, fault), latency(results[:-1]), latency(results[-1:]))

    # the responder: no more than every server refreshing on its own
    per_server = int(span / refresh_gap_min(VALIDITY)) + 1
    counts = {x: len(hits_between(responder, pki.leaf(x).serial, t_down, t_back))
              for x in LEAVES}
    print("responder requests over %.1f s: %s; bound %d per certificate "
          "(%d servers x %d windows)" % (span, counts, SERVERS * per_server, SERVERS,
                                          per_server))
    for x, n in counts.items():
        assert n <= SERVERS * per_server, \
            "%s: %d responder requests in %.1f s; %d servers refreshing on their own " \
            "make at most %d" % (x, n, span, SERVERS, SERVERS * per_server)
        if fault != "restarted":
            # every server met the dead cache at a refresh and fetched for itself
            assert n >= SERVERS, "%s: %d responder requests in %.1f s with the cache %s: " \
                "not every server refreshed on its own" % (x, n, span, fault)

    # one line per state change
    timeline = {}
    for e in envs:
        d, b = log_lines(e, CACHE_DOWN), log_lines(e, CACHE_BACK)
        timeline[names[e]] = (
            "down +%.1f s" % (log_time(d[0]) - t_down) if d else "no outage seen",
            "back +%.1f s after the cache" % (log_time(b[0]) - t_up) if b else "")
    print("%s %s: t_down..t_back %.1f s; per server: %s" % (
        cache.kind, fault, span, timeline))
    for e in envs:
        d, b = log_lines(e, CACHE_DOWN), log_lines(e, CACHE_BACK)
        if fault != "restarted":
            assert len(d) == 1, "%s: want one OCSPS0140 within %.0f s of the %s cache, " \
                "got %d:\n%s" % (names[e], notice_timeout, fault, len(d), "\n".join(d))
        assert len(d) <= 1 and len(b) == len(d), \
            "%s: %d OCSPS0140, %d OCSPS0141 (recovery waited %.0f s):\n%s" % (
                names[e], len(d), len(b), RECOVERY_TIMEOUT, "\n".join(d + b))
        if d:
            assert e.log_text().index(d[0]) < e.log_text().index(b[0]), (d, b)
    assert filled, "%s holds %d entries %.0f s after the fleet got it back" % (
        cache.kind, cache.items(), time.time() - t_back)


# ---- 3. graceful and full restart while the cache hangs -------------------------------

@pytest.mark.parametrize("added", [False, True], ids=["same-certs", "new-cert"])
@pytest.mark.parametrize("how,mpm", [("graceful", "event"), ("restart", "prefork")])
def test_restart_while_cache_hung(pki, responder, new_httpd, expect_log, cache_server,
                                  how, mpm, added, tmp_path):
    """The cache hangs (SIGSTOP), then httpd gets a graceful (SIGUSR1) or
    full (SIGHUP) restart: it answers within OCSPStapleStartupTimeout + 2 s,
    the first handshakes after it are stapled from the store (no responder
    request), and handshakes right after never wait on the cache.
    new-cert: the restart also adds a vhost with a certificate this server
    has never fetched, so the start-up work wants a response for it (and
    may look in the hung cache first, bounded): it is fetched and stapled
    from the first handshake, the restart still within the bound. (The
    hard restart runs on prefork: see test_status's carry test for
    mpm_event's SIGHUP race.)"""
    expect_log(CACHE_DOWN, levels=("warn",))  # start-up or refresher may meet the hung cache
    cache = cache_server
    env = new_httpd(name="hung-" + how, mpm=mpm)
    env.server_lines += cache.lines() + ["OCSPStapleStartupTimeout %d" % STARTUP_TIMEOUT]
    leaves = [pki.leaf(x) for x in LEAVES]
    for leaf in leaves:
        env.add_vhost(leaf.hostname, leaf)
    env.start()
    before = {}
    for leaf in leaves:
        before[leaf.serial] = staple(env, leaf.hostname, pki)
        assert_good(before[leaf.serial], leaf)
    n_before = responder.count()
    new = None
    if added:
        new = pki.leaves.get("fleet-added") or pki.issue_leaf("fleet-added", key_type="ec")
        env.add_vhost(new.hostname, new)

    cache.hang()
    limit = STARTUP_TIMEOUT + 2
    try:
        elapsed = getattr(env, how)(timeout=limit + 8)
    except RuntimeError as e:
        raise AssertionError("%s with the cache hung: httpd did not answer within %d s:\n%s"
                             % (how, limit + 8, str(e)[-3000:]))
    print("%s %s with %s hung%s: answering after %.2f s" % (
        how, mpm, cache.kind, " and a new certificate" if added else "", elapsed))
    assert elapsed <= limit, \
        "%s took %.1f s with the cache hung (OCSPStapleStartupTimeout %d)" % (
            how, elapsed, STARTUP_TIMEOUT)
    for leaf in leaves:
        r = staple(env, leaf.hostname, pki)
        assert_good(r, leaf)
        assert r.this_update == before[leaf.serial].this_update, r
    if added:
        assert_good(staple(env, new.hostname, pki), new)
        assert responder.count(new.serial) == 1, responder.hits(new.serial)
    assert responder.count() == n_before + (1 if added else 0), \
        "asked the responder: %s" % responder.hits()

    # handshakes right after, on whatever children there are now
    if tlsload_binary() is not None:
        p = tlsload_popen(env.port, leaves[0].hostname, pki.root_path, 2, 60,
                          extra=["--count", "60", "--sni-file", sni_file(tmp_path, pki)])
        res, err = tlsload_result(p, 60)
        print(err.strip())
        check_load([(env, res, err)])
        assert res["lat_ms"]["max"] < 500, \
            "a handshake right after the %s took %.0f ms: %s" % (how, res["lat_ms"]["max"], err)
    cache.resume()


# ---- 4. a server joining a fleet adopts from the cache: test_shared_cache.py ----------
# (test_second_server_adopts_response_from_shared_cache)
