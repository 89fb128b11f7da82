"""Issue 8: the root parent never touches what the User can write, and
never talks to a responder.

At every start and graceful or full restart the root parent forks a
start-up helper that drops to User/Group like httpd's children and does the
work (store, responders, verification, shared memory); the background
refresher is a watchdog child, also the User. So:

  1. links planted by the User in the store, at the final name and at every
     temporary name the parent could use, change no file outside the store
     across a graceful restart, a full restart and a stop + start;
  2. a FIFO, a directory and a link to /dev/zero in place of store files
     do not slow the start, are each logged once, and their certificates
     are fetched and stapled;
  3. the responder sees every request come from the User (the uid owning
     the client socket, from /proc/net/tcp), at start, at a graceful
     restart and on a refresh;
  4. the start-up helper runs with the credentials of httpd's workers, and
     is gone once httpd answers;
  5. the early store verifier (issue 14) runs as the User too, its
     verdicts are taken by the helper, a misplaced store file is refused
     by both, and it is gone once httpd answers;
  6. the parent hands a store directory to the User only where no one but
     root could have chosen it: not through a level above it that the
     User owns (a link there pointing at root's directories) or that its
     group or others may write, not a link, not a non-empty directory of
     someone else's; a sticky level as /tmp is fine.

These need root (httpd then runs as User www-data); they skip otherwise.
"""

import http.client
import json
import os
import re
import shutil
import signal
import stat
import tempfile
import time

import pytest

from httpd_env import CONF_EXAMPLES, IS_ROOT, RUN_USER, child_pids
from refresh_helpers import (as_user_python, cert_id_hex, poll, proc_ids,
                             staple, store_path, user_ids, wait_staple)

pytestmark = [pytest.mark.module,
              pytest.mark.skipif(not IS_ROOT, reason="needs root: httpd must "
                                 "switch to User %s" % RUN_USER)]

LEAVES = ("rsa", "ecdsa", "muststaple")
STATUS_CONF = os.path.join(CONF_EXAMPLES, "status.conf")
STORE_IGNORED = r"OCSPS0060: "
HELPER_KILLED = r"OCSPS0151: "
FIRST_FAILURE = r"OCSPS0040: "

# Runs as the User: removes, then creates links, FIFOs and directories.
PLANT = r"""
import json, os, sys
d = json.load(sys.stdin)
for p in d.get("remove", []):
    if os.path.isdir(p) and not os.path.islink(p):
        os.rmdir(p)
    elif os.path.lexists(p):
        os.unlink(p)
for target, link in d.get("links", []):
    if os.path.lexists(link):
        os.unlink(link)
    os.symlink(target, link)
for p in d.get("fifos", []):
    os.mkfifo(p, 0o644)
for p in d.get("dirs", []):
    os.mkdir(p, 0o755)
"""


def leaves_of(pki):
    return [pki.leaf(n) for n in LEAVES]


def env_with(new_httpd, pki, mpm="event", server_lines=(), tail_lines=()):
    env = new_httpd(mpm=mpm)
    for leaf in leaves_of(pki):
        env.add_vhost(leaf.hostname, leaf)
    env.server_lines += list(server_lines)
    env.tail_lines += list(tail_lines)
    return env


def assert_all_stapled(env, pki, what):
    for leaf in leaves_of(pki):
        r, ok = wait_staple(env, leaf.hostname, pki,
                            lambda r: r.stapled and r.cert_status == "good", 8)
        assert ok, "%s: %s not stapled good: %r" % (what, leaf.hostname, r)
        assert r.staple_serial == leaf.serial, r


def last_pid():
    with open("/proc/sys/kernel/ns_last_pid") as f:
        return int(f.read())


# ---- victims -----------------------------------------------------------------------

class Victims:
    """Root-owned files (0644, known content) in a directory the User cannot
    write, outside the store."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="ocspstaple-victims-", dir="/tmp")
        os.chmod(self.dir, 0o755)
        self.files = {}

    def make(self, name):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write("victim %s: root's file, not the module's\n" % name)
        os.chown(path, 0, 0)
        os.chmod(path, 0o644)
        self.files[path] = self.snap(path)
        return path

    @staticmethod
    def snap(path):
        st = os.lstat(path)
        with open(path, "rb") as f:
            content = f.read()
        return {"uid": st.st_uid, "gid": st.st_gid, "mode": oct(st.st_mode),
                "ino": st.st_ino, "mtime_ns": st.st_mtime_ns, "content": content}

    def changed(self):
        out = []
        for path, before in self.files.items():
            try:
                now = self.snap(path)
            except OSError as e:
                out.append("%s: %s" % (path, e))
                continue
            diff = {k: (before[k], now[k]) for k in before if before[k] != now[k]}
            if "content" in diff:
                diff["content"] = "%d bytes %r... -> %d bytes %r..." % (
                    len(before["content"]), before["content"][:24],
                    len(now["content"]), now["content"][:24])
            if diff:
                out.append("%s: %s" % (path, diff))
        return out

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def plant_links(env, pki, victims, pids, tag):
    """As the User: for every certificate, removes its store file and plants
    links at the final name and at <id>.ocsp.tmp<pid> for every pid, to
    victims of its own (one for the final name, one for the temporary
    names). Returns the number of links."""
    links = []
    remove = []
    for leaf in leaves_of(pki):
        final = store_path(env, leaf)
        remove.append(final)
        v_final = victims.make("%s-%s-final" % (tag, leaf.hostname))
        v_tmp = victims.make("%s-%s-tmp" % (tag, leaf.hostname))
        links.append((v_final, final))
        for pid in sorted(pids):
            links.append((v_tmp, "%s.tmp%d" % (final, pid)))
    as_user_python(PLANT, {"remove": remove, "links": links}, timeout=30)
    for target, link in links[:3]:
        assert os.path.islink(link) and os.lstat(link).st_uid == user_ids()[0], link
    return len(links)


def assert_store_regular(env, pki, what):
    uid, gid = user_ids()

    def regular():
        bad = []
        for leaf in leaves_of(pki):
            p = store_path(env, leaf)
            try:
                st = os.lstat(p)
            except OSError as e:
                bad.append("%s: %s" % (p, e))
                continue
            if not stat.S_ISREG(st.st_mode) or st.st_uid != uid or st.st_gid != gid:
                bad.append("%s: mode %o owner %d:%d" % (p, st.st_mode, st.st_uid,
                                                        st.st_gid))
        return bad

    assert poll(lambda: not regular(), 10), \
        "%s: store files not regular files of %s: %s" % (what, RUN_USER, regular())


# ---- 1. links planted by the User ---------------------------------------------------

def test_links_planted_by_the_user_change_nothing_outside_the_store(
        pki, responder, new_httpd, expect_log):
    """Links at the final and every temporary name, for every certificate,
    then a graceful restart, a full restart and a stop + start: no victim
    changes owner, group, mode, inode or content; every certificate is
    stapled; the store files are regular files of the User again.
    (prefork: a hard restart of mpm_event has httpd's own
    close_worker_sockets race, see httpd_env.stop.)"""
    expect_log(STORE_IGNORED, levels="warn")
    victims = Victims()
    try:
        env = env_with(new_httpd, pki, mpm="prefork")
        env.start()
        assert_all_stapled(env, pki, "first start")
        assert_store_regular(env, pki, "first start")
        parent = env.pid()

        for step in ("graceful", "restart", "stop+start"):
            if step == "stop+start":
                env.stop()
                base = last_pid()
                pids = set(range(base - 20, base + 400))
            else:
                base = last_pid()
                pids = ({parent} | set(child_pids(parent))
                        | set(range(parent - 20, parent + 50))
                        | set(range(base - 20, base + 300)))
            n = plant_links(env, pki, victims, pids, step)
            print("%s: %d links planted (pids %d..%d and %s)" % (
                step, n, min(pids), max(pids), sorted(child_pids(parent))))
            if step == "graceful":
                env.graceful()
            elif step == "restart":
                env.restart()
            else:
                env.start()
                parent = env.pid()
                if parent not in pids:
                    print("note: the new parent's pid %d is outside the planted "
                          "range" % parent)
            changed = victims.changed()
            assert not changed, "after %s, files outside the store changed:\n  %s" % (
                step, "\n  ".join(changed))
            assert_all_stapled(env, pki, step)
            assert_store_regular(env, pki, step)
            changed = victims.changed()
            assert not changed, "after %s, files outside the store changed:\n  %s" % (
                step, "\n  ".join(changed))
    finally:
        victims.remove()


# ---- 2. FIFO, directory, link to /dev/zero ------------------------------------------

def test_fifo_directory_and_dev_zero_do_not_slow_the_start(pki, responder, new_httpd,
                                                          expect_log):
    leaves = leaves_of(pki)
    fifo_leaf, dir_leaf, zero_leaf = leaves
    expect_log(STORE_IGNORED, levels="warn")
    # a directory cannot be replaced by a file: its certificate's store
    # writes may fail (once per run)
    expect_log(r"OCSPS0021: .*%s" % cert_id_hex(dir_leaf), levels="warn")

    env = env_with(new_httpd, pki)
    env.start()
    t_empty = env.startup_seconds
    assert_all_stapled(env, pki, "start with an empty store")
    env.stop()

    fifo, dirp, zero = (store_path(env, l) for l in leaves)
    as_user_python(PLANT, {"remove": [fifo, dirp, zero], "fifos": [fifo],
                           "dirs": [dirp], "links": [["/dev/zero", zero]]})
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert stat.S_ISDIR(os.lstat(dirp).st_mode)
    assert os.path.islink(zero)

    responder.reset_counts()
    log_at = len(env.log_text())
    try:
        env.start(timeout=t_empty + 6)
    except RuntimeError as e:
        raise AssertionError("httpd did not answer within %.1f s with a FIFO, a "
                             "directory and a link to /dev/zero in the store "
                             "(empty store: %.2f s); its log ends:\n%s" % (
                                 t_empty + 6, t_empty, str(e)[-2500:])) from None
    t_bad = env.startup_seconds
    print("start: empty store %.2f s, with FIFO/dir/dev-zero %.2f s" % (t_empty, t_bad))
    assert t_bad - t_empty < 1.5, (t_empty, t_bad)

    log = env.log_text()[log_at:].splitlines()
    for leaf, path in zip(leaves, (fifo, dirp, zero)):
        name = os.path.basename(path)
        lines = [l for l in log if re.search(STORE_IGNORED, l) and name in l]
        assert len(lines) == 1, "%s: %d OCSPS0060 lines naming %s in this start:\n%s" % (
            leaf.hostname, len(lines), name, "\n".join(log))
        assert responder.count(leaf.serial) >= 1, \
            "%s not fetched: %s" % (leaf.hostname, responder.hits())
    assert_all_stapled(env, pki, "start with bad store files")


# ---- 3. every responder request comes from the User ----------------------------------

def _status_json(env):
    conn = http.client.HTTPConnection("127.0.0.1", env.http_port, timeout=10)
    try:
        conn.request("GET", "/ocspstaple-status")
        r = conn.getresponse()
        assert r.status == 200, r.status
        return json.loads(r.read())
    finally:
        conn.close()


def _fetches(env):
    return {c["id"]: int(c["fetches"]) for c in _status_json(env)["certificates"]}


def _post_refresh_all(env):
    conn = http.client.HTTPConnection("127.0.0.1", env.http_port, timeout=10)
    try:
        conn.request("POST", "/ocspstaple-status", body="refresh=all",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def test_responder_sees_only_the_user(pki, responder, new_httpd):
    """The uid owning the client socket of every responder request (from
    /proc/net/tcp, recorded by the test responder) is the User's: at the
    first start (empty store), at a graceful restart with the store removed
    (the start-up helper must fetch) and on a refresh in the background."""
    uid = user_ids()[0]
    leaves = leaves_of(pki)
    env = env_with(new_httpd, pki, tail_lines=["Include %s" % STATUS_CONF])
    seen = {}

    def collect(phase):
        for leaf in leaves:
            assert responder.wait_for_hits(1, 10, serial=leaf.serial), \
                "%s: no request for %s: %s" % (phase, leaf.hostname, responder.hits())
        seen[phase] = [(h.serial, h.uid) for h in responder.hits()]

    env.start()
    collect("first start")
    assert_all_stapled(env, pki, "first start")

    for leaf in leaves:
        os.unlink(store_path(env, leaf))
    responder.reset_counts()
    env.graceful()
    collect("graceful restart, store removed")
    assert_all_stapled(env, pki, "graceful restart")

    responder.reset_counts()
    before = _fetches(env)
    status, body = _post_refresh_all(env)
    assert status == 202, (status, body)
    collect("refresh in the background")
    # let the refresh finish before httpd is stopped (a stop cuts it short)
    assert poll(lambda: all(n > before.get(i, 0) for i, n in _fetches(env).items()),
                10), "refresh did not finish: %s -> %s" % (before, _fetches(env))

    print("uids per phase: %s" % {k: sorted({u for _, u in v}, key=str)
                                  for k, v in seen.items()})
    bad = {k: sorted({u for _, u in v}, key=str) for k, v in seen.items()
           if any(u != uid for _, u in v)}
    assert not bad, "responder requests not from %s (uid %d): %s" % (RUN_USER, uid, bad)


# ---- 4. the start-up helper is unprivileged -----------------------------------------

def test_startup_helper_runs_as_the_user_and_goes_away(pki, responder, new_httpd,
                                                        expect_log):
    """Responder hanging, OCSPStapleStartupTimeout 3: while httpd starts, the
    process that asks the responder is a child of the parent with the uid,
    gid and groups of httpd's workers (not root); httpd answers within the
    timeout plus 2 s, and the helper is gone by then."""
    expect_log(HELPER_KILLED, levels="warn")
    expect_log(FIRST_FAILURE, levels="warn")
    uid, gid = user_ids()
    leaf = pki.leaf("rsa")
    responder.set_mode("hang")
    env = new_httpd()
    env.add_vhost(leaf.hostname, leaf)
    env.server_lines.append("OCSPStapleStartupTimeout 3")
    env._launch()
    parent = env.pid()

    assert responder.wait_for_hits(1, 5, serial=leaf.serial), \
        "no request at start: %s\n%s" % (responder.hits(), env.read_output())
    # the request hangs: post_config has not returned, no worker exists yet
    helpers = {p: proc_ids(p) for p in child_pids(parent)}
    helpers = {p: ids for p, ids in helpers.items() if ids}
    assert not env.answers(0.3), "httpd answers while its start-up fetch hangs"
    print("children of the parent while the fetch hangs: %s" % helpers)
    print("the hanging request came from uid %s" % responder.hits(leaf.serial)[0].uid)
    assert helpers, ("no start-up helper: the parent (pid %d) has no child while "
                     "the start-up fetch hangs; the request came from uid %s"
                     % (parent, responder.hits(leaf.serial)[0].uid))
    assert len(helpers) == 1, helpers
    (helper, hids), = helpers.items()
    assert hids["Uid"] == (uid,) * 4, hids
    assert hids["Gid"] == (gid,) * 4, hids

    ok = poll(lambda: env.answers(0.3), 3 + 2 - (time.monotonic() - env.started_at))
    took = time.monotonic() - env.started_at
    assert ok, "httpd did not answer within StartupTimeout + 2 s (%.1f s)" % took
    env.ready_at = time.monotonic()
    print("answered %.2f s after launch" % took)

    def helper_gone():
        ids = proc_ids(helper)   # a zombie (not reaped) is not gone
        return ids is None or (helper not in child_pids(parent)
                               and not ids.get("State", "").startswith("Z"))
    assert poll(helper_gone, 2), "start-up helper %d still there: %s" % (
        helper, proc_ids(helper))

    workers = poll(lambda: [p for p in child_pids(parent) if p != helper], 5)
    assert workers, "no worker children"
    wids = proc_ids(workers[0])
    print("helper %s, worker %s" % (hids, wids))
    for k in ("Uid", "Gid", "Groups"):
        assert hids[k] == wids[k], "helper %s %s, worker %s" % (k, hids[k], wids[k])
    assert 0 not in hids["Uid"] + hids["Gid"] + hids["Groups"], hids


EARLY_STARTED = r"OCSPS0180: early store verifier \(pid (\d+)\) running as uid (\d+), gid (\d+)"
EARLY_DONE = r"OCSPS0181: early store verifier: (\d+) of (\d+) store files verified"
EARLY_TAKEN = r"OCSPS0184: (\d+) of (\d+) store records taken as the early verifier"


def test_store_verified_early_by_the_user(pki, responder, new_httpd, expect_log):
    """Issue 14: with a warm store, each store file is verified while
    mod_ssl is still loading certificates, by a process running as the User
    (the parent only hands it each certificate's PEM); the start-up helper
    takes those verdicts. A file holding another certificate's response is
    refused by the verifier, then by the helper (logged once), and fetched;
    the others are stapled from the store, with no responder request, from
    the first handshake on. The verifier is gone once httpd answers."""
    expect_log(STORE_IGNORED, levels="warn")
    uid, gid = user_ids()
    leaves = [pki.leaf(n) for n in LEAVES]
    env = new_httpd()
    for leaf in leaves:
        env.add_vhost(leaf.hostname, leaf)
    env.start()
    for leaf in leaves:
        r, ok = wait_staple(env, leaf.hostname, pki,
                            lambda r: r.cert_status == "good", 10)
        assert ok, r
    for leaf in leaves:
        assert poll(lambda: os.path.exists(store_path(env, leaf)), 5)
    env.stop()
    # the ecdsa certificate's file now holds the rsa certificate's record
    shutil.copyfile(store_path(env, leaves[0]), store_path(env, leaves[1]))
    shutil.chown(store_path(env, leaves[1]), RUN_USER, RUN_USER)
    responder.reset_counts()
    env.start()
    for leaf in leaves:
        r = staple(env, leaf.hostname, pki)
        assert r.cert_status == "good", (leaf.name, r)
    text = env.log_text()
    started = re.findall(EARLY_STARTED, text)
    assert len(started) == 2, "one early verifier per start: %r" % started
    pid, vuid, vgid = (int(x) for x in started[-1])
    assert (vuid, vgid) == (uid, gid), started
    assert re.findall(EARLY_DONE, text)[-1] == ("2", "3"), re.findall(EARLY_DONE, text)
    assert re.findall(EARLY_TAKEN, text)[-1] == ("2", "3"), re.findall(EARLY_TAKEN, text)
    assert responder.count(leaves[0].serial) == 0
    assert responder.count(leaves[2].serial) == 0
    assert responder.count(leaves[1].serial) == 1, responder.hits()
    ids = proc_ids(pid)
    assert ids is None or pid not in child_pids(env.pid()), (pid, ids)



def test_early_verifier_stopped_costs_only_its_wait(pki, responder, new_httpd):
    """The early verifier stopped (SIGSTOP) as soon as it starts, with a
    warm store for 200 certificates: the parent never waits on it (it only
    writes to it, without blocking), the helper waits for verdicts at most
    2 s, then reads and verifies every store file itself; every certificate
    is stapled from the store with no responder request, and the stopped
    verifier is killed and reaped before httpd answers."""
    names = ["pv%03d" % i for i in range(200)]
    leaves = [pki.leaves.get(n) or pki.issue_leaf(n, key_type="ec") for n in names]
    env = new_httpd()
    for leaf in leaves:
        env.add_vhost(leaf.hostname, leaf)
    env.start(timeout=60)
    assert env.wait_for_log(r"OCSPS0071: 200 certificates: 200 good", timeout=10)
    assert poll(lambda: all(os.path.exists(store_path(env, l)) for l in leaves), 10)
    env.stop()
    responder.reset_counts()
    before = len(re.findall(EARLY_STARTED, env.log_text()))
    env._launch()
    pid = None
    deadline = time.monotonic() + 30
    while pid is None and time.monotonic() < deadline:
        started = re.findall(EARLY_STARTED, env.log_text())
        if len(started) > before:
            pid = int(started[before][0])
            os.kill(pid, signal.SIGSTOP)
        else:
            time.sleep(0.002)
    assert pid, "no early verifier started:\n%s" % env.read_output()
    assert poll(lambda: env.answers(0.3), 30), env.read_output()
    took = time.monotonic() - env.started_at
    print("answered %.2f s after launch, verifier %d stopped" % (took, pid))
    text = env.log_text()
    summary = re.findall(r"OCSPS0071: (.*)", text)[-1]
    assert "200 good" in summary and "200 from the store" in summary, summary
    taken = re.findall(EARLY_TAKEN, text)
    assert len(taken) == 0 or taken[-1][0] == "0", taken
    assert responder.count() == 0, responder.hits()
    ids = proc_ids(pid)
    assert ids is None, "stopped verifier %d still there: %s" % (pid, ids)
    r = staple(env, leaves[-1].hostname, pki)
    assert r.cert_status == "good", r


# ---- 6. which store directory the parent hands to the User -----------------------------

STORE_REFUSED = r"OCSPS0020: "
# Runs as the User: makes a link in its own directory.
LINK_AS_USER = r"""
import json, os, sys
d = json.load(sys.stdin)
os.symlink(d["target"], d["link"])
"""


def owner(path):
    st = os.lstat(path)
    return st.st_uid, st.st_gid


@pytest.mark.parametrize("case", ["user_level_link_existing", "user_level_link_new",
                                  "group_writable_level", "store_not_empty",
                                  "store_is_link", "sticky_level", "new_levels"])
def test_store_directory_handed_over_only_where_root_chose_it(pki, responder, new_httpd,
                                                              expect_log, case):
    """The store's last level is created (or, empty and root's, adopted) by
    the root parent and chowned to the User. A level above it that the User
    owns lets the User point the store anywhere: with a link at that level
    to a root directory, the parent chowned root's empty directory of the
    same name there, or created a new one owned by the User in it. Each
    refused case logs OCSPS0020 naming the cause, changes no owner, and
    every certificate is still stapled (from the responder)."""
    uid, gid = user_ids()
    base = tempfile.mkdtemp(prefix="ocspstaple-levels-", dir="/tmp")
    os.chmod(base, 0o755)
    victim = os.path.join(base, "victim")     # root's, outside any store
    os.mkdir(victim, 0o755)
    try:
        refused, must_not_change = True, []
        if case.startswith("user_level_link"):
            mine = os.path.join(base, "mine")
            os.mkdir(mine, 0o755)
            os.chown(mine, uid, gid)
            if case.endswith("existing"):
                os.mkdir(os.path.join(victim, "store"), 0o755)
                must_not_change.append(os.path.join(victim, "store"))
            as_user_python(LINK_AS_USER, {"target": victim,
                                          "link": os.path.join(mine, "a")})
            store = os.path.join(mine, "a", "store")
            cause = "%s belongs to uid %d" % (mine, uid)
        elif case == "group_writable_level":
            shared = os.path.join(base, "shared")
            os.mkdir(shared)
            os.chmod(shared, 0o775)
            store = os.path.join(shared, "store")
            cause = "%s is writable by its group or others" % shared
        elif case == "store_not_empty":
            store = os.path.join(victim, "store")
            os.mkdir(store, 0o755)
            with open(os.path.join(store, "root-file"), "w") as f:
                f.write("root's\n")
            must_not_change.append(store)
            cause = "it belongs to uid 0 and is not empty"
        elif case == "store_is_link":
            os.mkdir(os.path.join(victim, "empty"), 0o755)
            store = os.path.join(base, "store")
            os.symlink(os.path.join(victim, "empty"), store)
            must_not_change.append(os.path.join(victim, "empty"))
            cause = "it is a symbolic link"
        elif case == "sticky_level":  # as /tmp, root's entries stay root's
            sticky = os.path.join(base, "sticky")
            os.mkdir(sticky)
            os.chmod(sticky, 0o1777)
            store = os.path.join(sticky, "store")
            refused = False
        else:  # new_levels: checked where they will be made, then made
            store = os.path.join(base, "new", "levels", "store")
            refused = False
        before = {p: owner(p) for p in must_not_change}
        env = env_with(new_httpd, pki)
        env.store_dir = store
        if refused:
            expect_log(STORE_REFUSED)
        env.start()
        assert_all_stapled(env, pki, case)
        lines = [l for l in env.log_text().splitlines() if re.search(STORE_REFUSED, l)]
        if refused:
            assert {p: owner(p) for p in must_not_change} == before
            assert not os.path.exists(os.path.join(victim, "store")) or \
                owner(os.path.join(victim, "store")) == (0, 0), \
                "the User got a directory among root's: %s" % (owner(os.path.join(victim, "store")),)
            assert lines and cause in lines[0], (cause, lines)
        else:
            assert not lines, lines
            assert owner(store) == (uid, gid)
            poll(lambda: any(n.endswith(".ocsp") for n in os.listdir(store)), 10)
        env.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)
