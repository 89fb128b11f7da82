"""Design 4.11: servers sharing OCSPStapleCache on memcached or redis. A
server that finds a verified response in the shared cache adopts it instead
of asking the responder, and a cache that lost its entries is refilled from
the store."""

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

import clients
from httpd_env import MODDIR, free_port

pytestmark = pytest.mark.module

RUN_AS = ["-u", "nobody"] if os.geteuid() == 0 else []


def _wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class CacheServer:
    """memcached or redis-server on 127.0.0.1 only, stopped by pid."""

    def __init__(self, kind):
        self.kind, self.port = kind, free_port()
        if kind == "memcache":
            cmd = [shutil.which("memcached") or "/usr/bin/memcached",
                   "-l", "127.0.0.1", "-p", str(self.port), "-U", "0"] + RUN_AS
        else:
            cmd = [shutil.which("redis-server") or "/usr/bin/redis-server",
                   "--bind", "127.0.0.1", "--port", str(self.port),
                   "--save", "", "--appendonly", "no"]
        if not os.path.exists(cmd[0]):
            pytest.skip("%s is not installed" % cmd[0])
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        assert _wait_port(self.port), "%s did not start" % kind

    def flush(self):
        s = socket.create_connection(("127.0.0.1", self.port), 5)
        try:
            s.sendall(b"flush_all\r\n" if self.kind == "memcache"
                      else b"FLUSHALL\r\n")
            assert s.recv(64).strip() in (b"OK", b"+OK")
        finally:
            s.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture(params=["memcache", "redis"])
def cache_server(request):
    srv = CacheServer(request.param)
    yield srv
    srv.stop()


def shared_httpd(new_httpd, pki, cache, name):
    env = new_httpd(name=name)
    env.server_lines += [
        "LoadModule socache_%s_module %s/mod_socache_%s.so" % (cache.kind, MODDIR,
                                                               cache.kind),
        "OCSPStapleCache %s:127.0.0.1:%d" % (cache.kind, cache.port),
    ]
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
