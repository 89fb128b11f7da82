"""Design 4.11: servers sharing OCSPStapleCache on memcached or redis. A
server that finds a verified response in the shared cache adopts it instead
of asking the responder, and a cache that lost its entries is refilled from
the store."""

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


def test_lost_cache_entries_restored_from_store(new_httpd, pki, responder,
                                                cache_server):
    a = shared_httpd(new_httpd, pki, cache_server, "a")
    a.start()
    assert clients.s_client(a.port, "rsa.test").cert_status == "good"
    responder.set_mode("refuse")
    cache_server.flush()
    # the refresher checks the cache every 10 s and puts back what is missing
    assert a.wait_for_log(r"OCSPS0080: .*restored it from the store", timeout=25)
    # a server started now finds it in the cache again
    b = shared_httpd(new_httpd, pki, cache_server, "b")
    b.start()
    assert clients.s_client(b.port, "rsa.test").cert_status == "good"
