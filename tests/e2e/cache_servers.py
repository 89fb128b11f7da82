"""Real memcached and redis-server for the shared-cache tests, on
127.0.0.1 only, each started and signalled by its own pid.

    srv = CacheServer("memcache")          # or "redis"; skips when not installed
    srv.lines()                            # LoadModule + OCSPStapleCache lines
    srv.items()                            # entries it holds now
    srv.hang(); srv.resume()               # SIGSTOP / SIGCONT the server itself
    srv.stop(); srv.start()                # terminate; start again (same port, empty)
    srv.restart_empty()                    # both
    srv.flush()                            # drop every entry, keep running

A hung server accepts connections (the kernel completes them into the
listen backlog) and never answers: what a client of a stuck memcached or
redis sees.
"""

import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from httpd_env import MODDIR, free_port

KINDS = ("memcache", "redis")
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

    def __init__(self, kind, port=None):
        assert kind in KINDS, kind
        self.kind, self.port = kind, port or free_port()
        self.proc = None
        self.hung = False
        self.start()

    def _cmd(self):
        if self.kind == "memcache":
            return [shutil.which("memcached") or "/usr/bin/memcached",
                    "-l", "127.0.0.1", "-p", str(self.port), "-U", "0"] + RUN_AS
        return [shutil.which("redis-server") or "/usr/bin/redis-server",
                "--bind", "127.0.0.1", "--port", str(self.port),
                "--save", "", "--appendonly", "no"]

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def start(self):
        """Starts the server (empty) on self.port and waits until it answers."""
        assert not self.running(), "%s already running" % self.kind
        cmd = self._cmd()
        if not os.path.exists(cmd[0]):
            pytest.skip("%s is not installed" % cmd[0])
        self.hung = False
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        assert _wait_port(self.port), "%s did not start on %d" % (self.kind, self.port)
        assert self.running(), "%s exited at start" % self.kind
        return self

    def lines(self):
        """httpd server lines: load the socache provider, point the module at
        this server."""
        return ["LoadModule socache_%s_module %s/mod_socache_%s.so"
                % (self.kind, MODDIR, self.kind),
                "OCSPStapleCache %s:127.0.0.1:%d" % (self.kind, self.port)]

    def _command(self, cmd, end=b"\r\n", timeout=5):
        """Sends one command, returns the answer up to and including end."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout)
        try:
            s.sendall(cmd)
            data = b""
            while not data.endswith(end):
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            return data
        finally:
            s.close()

    def flush(self):
        out = self._command(b"flush_all\r\n" if self.kind == "memcache"
                            else b"FLUSHALL\r\n")
        assert out.strip() in (b"OK", b"+OK"), out

    def items(self):
        """Number of entries the server holds (memcached curr_items, redis
        DBSIZE)."""
        if self.kind == "memcache":
            out = self._command(b"stats\r\n", end=b"END\r\n")
            for line in out.decode().splitlines():
                f = line.split()
                if len(f) == 3 and f[1] == "curr_items":
                    return int(f[2])
            raise AssertionError("no curr_items in memcached stats: %r" % out)
        out = self._command(b"DBSIZE\r\n")
        assert out.startswith(b":"), out
        return int(out[1:].strip())

    def hang(self):
        """SIGSTOP the server process itself: connections are still accepted
        by the kernel, nothing is answered."""
        assert self.running()
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.hung = True

    def resume(self):
        if self.running() and self.hung:
            os.kill(self.proc.pid, signal.SIGCONT)
        self.hung = False

    def stop(self):
        """Terminates the server (SIGTERM, SIGKILL after 10 s); its entries
        are gone."""
        if self.proc is None:
            return
        self.resume()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def restart_empty(self):
        """Stop, then start again on the same port with nothing in it."""
        self.stop()
        return self.start()
