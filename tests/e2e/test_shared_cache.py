"""Design 4.11: servers sharing OCSPStapleCache on memcached or redis. A
server that finds a verified response in the shared cache adopts it instead
of asking the responder; a cache that lost its entries changes nothing that
clients see and is refilled by the next server whose certificate is due.
Faults (stopped, hung, restarted) are in test_fleet.py."""

import os

import pytest

import clients
from cache_servers import KINDS, CacheServer

pytestmark = pytest.mark.module


@pytest.fixture(params=KINDS)
def cache_server(request):
    srv = CacheServer(request.param)
    yield srv
    srv.stop()


def shared_httpd(new_httpd, pki, cache, name):
    env = new_httpd(name=name)
    env.server_lines += cache.lines()
    env.add_vhost("rsa.test", pki.leaf("rsa"))
    return env


def test_second_server_adopts_response_from_shared_cache(new_httpd, pki, responder,
                                                         cache_server, expect_log):
    leaf = pki.leaf("rsa")
    a = shared_httpd(new_httpd, pki, cache_server, "a")
    a.start()
    assert responder.count(leaf.serial) == 1
    first = clients.s_client(a.port, "rsa.test")
    assert first.cert_status == "good", first

    # The responder goes away; a second server with an empty store joins.
    responder.set_mode("refuse")
    before = responder.count()
    b = shared_httpd(new_httpd, pki, cache_server, "b")
    b.start()
    r = clients.s_client(b.port, "rsa.test")
    assert r.cert_status == "good", r
    assert r.this_update == first.this_update, "B staples A's response"
    assert responder.count() == before, "B asked the responder"
    assert b.wait_for_log(r"OCSPS0071: .*1 from the shared cache", timeout=5)
    # B keeps its own persistent copy of what it adopted
    assert os.listdir(b.store_dir), "adopted response not written to B's store"


def test_flushed_cache_changes_nothing_and_is_refilled(new_httpd, pki, responder,
                                                       cache_server, expect_log):
    """A cache that lost its entries (flushed, restarted empty) is not on
    the handshake path: A keeps stapling from its own memory, asks nobody,
    and offers its response again when the certificate is next due, so a
    server joining while the responder is down still adopts it."""
    leaf = pki.leaf("rsa")
    responder.set_mode("builder", validity=20)
    a = shared_httpd(new_httpd, pki, cache_server, "a")
    a.server_lines.append("OCSPStapleRefresh 50%")
    a.start()
    first = clients.s_client(a.port, "rsa.test")
    assert first.cert_status == "good", first
    expect_log(r"OCSPS0040: .*fetching the OCSP response failed", levels="warn")
    responder.set_mode("refuse")
    cache_server.flush()
    for _ in range(5):
        r = clients.s_client(a.port, "rsa.test")
        assert r.cert_status == "good" and r.this_update == first.this_update, r
    # due at half the validity: the refresh finds the cache empty, offers
    # A's response, then fails to reach the responder
    a.wait_for_log(r"OCSPS0040: ", timeout=20)
    b = shared_httpd(new_httpd, pki, cache_server, "b")
    b.start()
    r = clients.s_client(b.port, "rsa.test")
    assert r.cert_status == "good" and r.this_update == first.this_update, r
    assert b.wait_for_log(r"OCSPS0071: .*1 from the shared cache", timeout=5)
