"""Issue 9, item 4: the default store works.

With no OCSPStapleStore line the store is ServerRoot/state/ocspstaple. As
root httpd runs its children as User www-data: the file of each
certificate must belong to the User, and a refresh in the background (the
User) must replace it, with no warning.
"""

import os
import re
import stat

import pytest

from httpd_env import IS_ROOT, RUN_USER
from refresh_helpers import poll, read_bytes, record_ocsp, staple, store_path, user_ids

pytestmark = [pytest.mark.module,
              pytest.mark.skipif(not IS_ROOT, reason="needs root: httpd must "
                                 "switch to User %s" % RUN_USER)]

VALIDITY = 60   # builder answers; OCSPStapleRefresh 1 makes the refresh due at once
STORE_WRITE_FAILED = r"OCSPS0021: "


def test_default_store_is_written_by_the_refresher(pki, responder, new_httpd):
    uid, gid = user_ids()
    leaf = pki.leaf("rsa")
    responder.set_mode("builder", validity=VALIDITY)
    env = new_httpd()
    env.set_store = False                     # no OCSPStapleStore line at all
    env.store_dir = os.path.join(env.root, "state", "ocspstaple")
    env.add_vhost(leaf.hostname, leaf)
    # due 1 s after thisUpdate: the module's floor (5 s after a fetch) sets
    # the pace
    env.server_lines.append("OCSPStapleRefresh 1")
    assert "OCSPStapleStore" not in env.render()
    env.start()
    path = store_path(env, leaf)

    r = staple(env, leaf.hostname, pki)
    assert r.stapled and r.cert_status == "good", r
    assert poll(lambda: os.path.exists(path), 5), \
        "no store file %s after start: %s" % (path, os.listdir(os.path.dirname(path))
                                              if os.path.isdir(os.path.dirname(path))
                                              else "no directory")
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode), oct(st.st_mode)
    assert (st.st_uid, st.st_gid) == (uid, gid), \
        "store file owned by %d:%d, not %s" % (st.st_uid, st.st_gid, RUN_USER)
    first = read_bytes(path)
    first_resp = record_ocsp(first)
    assert first_resp is not None, "no OCSP response in the store file"
    assert first_resp.this_update == r.this_update.replace(tzinfo=None), \
        (first_resp.this_update, r.this_update)
    n0 = responder.count(leaf.serial)

    # the background refresh (the User) replaces the file
    assert responder.wait_for_hits(n0 + 1, 20, serial=leaf.serial), \
        "no refresh in 20 s: %s" % responder.hits(leaf.serial)

    def replaced():
        try:
            b = read_bytes(path)
        except OSError:
            return None
        resp = record_ocsp(b)
        return b != first and resp is not None \
            and resp.this_update > first_resp.this_update and resp
    resp = poll(replaced, 10)
    warned = [l for l in env.log_text().splitlines() if re.search(STORE_WRITE_FAILED, l)]
    assert resp, "the refresh did not replace %s (thisUpdate still %s)%s" % (
        path, first_resp.this_update,
        ": the refresher could not write it:\n" + "\n".join(warned) if warned else "")
    st = os.lstat(path)
    assert stat.S_ISREG(st.st_mode) and (st.st_uid, st.st_gid) == (uid, gid), \
        "refreshed store file: mode %o owner %d:%d" % (st.st_mode, st.st_uid, st.st_gid)
    assert not warned, warned
    print("store file %s: thisUpdate %s -> %s" % (path, first_resp.this_update,
                                                  resp.this_update))
    env.stop()   # now, seconds before the next refresh (a stop cuts a fetch short)
