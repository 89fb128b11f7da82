"""A real httpd from a generated ServerRoot, for the end-to-end tests.

    env = HttpdEnv(pki)                      # ServerRoot in /tmp, 0755
    env.add_vhost("rsa.test", pki.leaf("rsa"))
    env.server_lines.append("OCSPStapleStartupTimeout 3")
    env.start()                              # waits until it answers HTTP
    env.port                                 # the SSL port (127.0.0.1)
    env.graceful(); env.stop()

Every instance registers itself in HttpdEnv.instances; the tests' conftest
stops them all and checks their error logs after each test (see
LogGuard). Nothing here listens beyond 127.0.0.1.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
# OCSPSTAPLE_E2E_MODULE=PATH loads that build of the module instead (e.g. the
# ASan+UBSan one: make -f Makefile.apxs e2e-asan).
MODULE_PATH = (os.environ.get("OCSPSTAPLE_E2E_MODULE")
               or os.path.join(REPO, ".libs", "mod_ocspstaple.so"))
# OCSPSTAPLE_E2E_PRELOAD=PATH (the ASan runtime, `gcc -print-file-name=libasan.so`):
# httpd runs with LD_PRELOAD=PATH, sanitizer reports go to ROOT/sanitizer/
# (asan.PID, ubsan.PID), and LogGuard fails a test on any file there.
SAN_PRELOAD = os.environ.get("OCSPSTAPLE_E2E_PRELOAD") or None
CONF_EXAMPLES = os.path.join(REPO, "conf-examples")


def _apxs(var, default):
    try:
        out = subprocess.run(["apxs", "-q", var], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        return out or default
    except (OSError, subprocess.SubprocessError):
        return default


SBINDIR = _apxs("SBINDIR", "/usr/sbin")
HTTPD = os.path.join(SBINDIR, "apache2")
if not os.path.exists(HTTPD):
    HTTPD = os.path.join(SBINDIR, "httpd")
MODDIR = _apxs("LIBEXECDIR", "/usr/lib/apache2/modules")
IS_ROOT = os.geteuid() == 0
RUN_USER = "www-data"


def child_pids(ppid):
    """Pids of the live direct children of process ppid (from /proc);
    zombies (exited, not yet reaped) are not counted."""
    out = []
    if ppid is None:
        return out
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may contain spaces
        fields = st.rsplit(")", 1)[1].split()
        if int(fields[1]) == ppid and fields[0] != "Z":
            out.append(int(d))
    return sorted(out)


_ports_handed_out = set()


def free_port():
    """A port the OS hands out on 127.0.0.1 (bound and released), never
    one this process handed out before: the OS may give a released port
    again at once, and two servers of one test then collide (seen in CI:
    the second httpd could not bind, and the first one answered for it)."""
    while True:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        p = s.getsockname()[1]
        s.close()
        if p not in _ports_handed_out:
            _ports_handed_out.add(p)
            return p


def _allow_cores():
    import resource
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def module_available():
    return os.path.exists(MODULE_PATH)


LEVELS = ("emerg", "alert", "crit", "error", "warn", "notice", "info", "debug",
          "trace1", "trace2", "trace3", "trace4", "trace5", "trace6", "trace7",
          "trace8")
SERIOUS = ("emerg", "alert", "crit", "error", "warn")
LOG_RE = re.compile(r"^\[[^\]]+\] \[(?P<mod>[\w.-]*):(?P<lvl>\w+)\] (?P<rest>.*)$")
CRASH_RE = re.compile(r"Segmentation fault|exit signal|AddressSanitizer|"
                      r"runtime error:|LeakSanitizer")
ALWAYS_ALLOWED = [re.compile(r"AH01882")]  # Debian: built against newer OpenSSL


class LogLine:
    def __init__(self, source, text):
        self.source, self.text = source, text
        m = LOG_RE.match(text)
        self.module = m.group("mod") if m else None
        self.level = m.group("lvl") if m else None
        self.rest = m.group("rest") if m else text

    def __str__(self):
        return "%s: %s" % (os.path.basename(self.source), self.text)


class StartResult:
    def __init__(self, rc, stderr, log, elapsed):
        self.rc, self.stderr, self.log, self.elapsed = rc, stderr, log, elapsed

    @property
    def output(self):
        return self.stderr + "\n" + self.log

    def __repr__(self):
        return "<StartResult rc=%r %.1fs\n--- stderr:\n%s\n--- error log:\n%s>" % (
            self.rc, self.elapsed, self.stderr, self.log)


class Vhost:
    def __init__(self, name, certs, port, stapling=True, extra=(), aliases=(),
                 chain_file=None, ca_file=None):
        self.name, self.certs, self.port = name, certs, port
        self.stapling, self.extra, self.aliases = stapling, list(extra), list(aliases)
        self.chain_file, self.ca_file = chain_file, ca_file


class HttpdEnv:
    instances = []

    def __init__(self, pki=None, mpm="event", loglevel="warn ocspstaple:debug",
                 with_module=True, name="httpd"):
        self.pki = pki
        self.mpm = mpm
        self.loglevel = loglevel
        self.with_module = with_module
        self.root = tempfile.mkdtemp(prefix="ocspstaple-e2e-%s-" % name, dir="/tmp")
        os.chmod(self.root, 0o755)
        for d in ("conf", "logs", "run", "htdocs", "mutex"):
            os.makedirs(os.path.join(self.root, d))
            os.chmod(os.path.join(self.root, d), 0o755)
        # The page names this ServerRoot: answers() knows it reached this
        # httpd and not another one on a reused port.
        with open(os.path.join(self.root, "htdocs", "index.html"), "w") as f:
            f.write("<html><body>mod_ocspstaple e2e %s</body></html>\n" % self.root)
        os.chmod(os.path.join(self.root, "htdocs", "index.html"), 0o644)
        self.conf_path = os.path.join(self.root, "conf", "httpd.conf")
        self.error_log = os.path.join(self.root, "logs", "error.log")
        self.stderr_path = os.path.join(self.root, "logs", "stderr.log")
        self.pid_file = os.path.join(self.root, "run", "httpd.pid")
        self.store_dir = os.path.join(self.root, "ocsp-store")
        self.port = free_port()        # SSL
        self.http_port = free_port()   # plain HTTP: readiness, server-status
        self.vhosts = []
        self.server_lines = []         # server-wide extra lines (main config)
        self.pre_lines = []            # lines before everything else (Define ...)
        self.tail_lines = []           # lines at the very end (Include ...)
        self.set_store = True          # write OCSPStapleStore ROOT/ocsp-store
        self.ssl_stapling_cache = True # write SSLStaplingCache (mod_ssl needs one)
        self.module_before_ssl = False # LoadModule ocspstaple before ssl (Debian)
        self.listen_ports = []         # extra SSL ports (e.g. for included vhosts)
        self.proc = None
        self.killed = False
        self.started_at = None
        self.ready_at = None
        self.log_sources = [self.error_log, self.stderr_path]
        # OCSPSTAPLE_E2E_CORES=1: children dump core into ROOT/cores (for gdb)
        self.core_dir = (os.path.join(self.root, "cores")
                         if os.environ.get("OCSPSTAPLE_E2E_CORES") else None)
        if self.core_dir:
            os.makedirs(self.core_dir)
            os.chmod(self.core_dir, 0o777)
        self.san_dir = None
        if SAN_PRELOAD:
            # the children and the start-up helper write there as the User
            self.san_dir = os.path.join(self.root, "sanitizer")
            os.makedirs(self.san_dir)
            os.chmod(self.san_dir, 0o777)
        HttpdEnv.instances.append(self)

    # ---- configuration -------------------------------------------------------
    def add_vhost(self, name, leaves, port=None, stapling=True, extra=(),
                  aliases=(), chain=True, ca_file=None):
        """An SSL vhost for ServerName name. leaves: one pki.Leaf or a list
        (one SSLCertificateFile/KeyFile pair each). chain=True uses the
        leaf+intermediate file as SSLCertificateFile; chain=False uses the
        leaf alone (then give ca_file, e.g. the intermediate, so that mod_ssl
        finds the issuer). stapling: SSLUseStapling on/off/None (no line)."""
        if not isinstance(leaves, (list, tuple)):
            leaves = [leaves]
        certs = [((l.chain_path if chain else l.cert_path), l.key_path) for l in leaves]
        v = Vhost(name, certs, port or self.port, stapling, extra, aliases,
                  ca_file=ca_file)
        self.vhosts.append(v)
        return v

    def module_lines(self):
        if not self.with_module:
            return []
        lines = ["LoadModule ocspstaple_module %s" % MODULE_PATH]
        if self.set_store:
            lines.append("OCSPStapleStore %s" % self.store_dir)
        return lines

    def _loglevel(self):
        if self.with_module:
            return self.loglevel
        # "ocspstaple:debug" is a syntax error without the module
        return " ".join(t for t in self.loglevel.split()
                        if not t.startswith("ocspstaple:")) or "warn"

    def render(self):
        r = self.root
        L = list(self.pre_lines)
        L += [
            "ServerRoot %s" % r,
            "ServerName localhost",
            "PidFile %s" % self.pid_file,
            "ErrorLog %s" % self.error_log,
            "LogLevel %s" % self._loglevel(),
            "DefaultRuntimeDir %s/run" % r,
            "Mutex file:%s/mutex default" % r,
            "LoadModule mpm_%s_module %s/mod_mpm_%s.so" % (self.mpm, MODDIR, self.mpm),
            "LoadModule authz_core_module %s/mod_authz_core.so" % MODDIR,
            "LoadModule authz_host_module %s/mod_authz_host.so" % MODDIR,
            "LoadModule mime_module %s/mod_mime.so" % MODDIR,
            "LoadModule socache_shmcb_module %s/mod_socache_shmcb.so" % MODDIR,
        ]
        # Debian's a2enmod order (ocspstaple.load sorts before ssl.load)
        # when module_before_ssl, else after mod_ssl.
        if self.module_before_ssl:
            L += self.module_lines()
        L += [
            "LoadModule ssl_module %s/mod_ssl.so" % MODDIR,
            "LoadModule status_module %s/mod_status.so" % MODDIR,
        ]
        if not self.module_before_ssl:
            L += self.module_lines()
        if IS_ROOT:
            L += ["User %s" % RUN_USER, "Group %s" % RUN_USER]
        if self.core_dir:
            L.append("CoreDumpDirectory %s" % self.core_dir)
        if self.mpm == "prefork":
            L += ["StartServers 2", "MinSpareServers 1", "MaxSpareServers 4"]
        else:
            L += ["StartServers 1", "ServerLimit 2", "ThreadsPerChild 25",
                  "MinSpareThreads 5", "MaxSpareThreads 50", "MaxRequestWorkers 50"]
        L += [
            "TypesConfig /etc/mime.types",
            "DocumentRoot %s/htdocs" % r,
            "<Directory />",
            "  Require all granted",
            "</Directory>",
            "KeepAliveTimeout 2",
            "GracefulShutdownTimeout 5",
        ]
        if self.ssl_stapling_cache:
            L.append("SSLStaplingCache shmcb:%s/run/ssl_stapling(32768)" % r)
        L += [
            "SSLSessionCache shmcb:%s/run/ssl_scache(512000)" % r,
            "SSLRandomSeed startup builtin",
            "Listen 127.0.0.1:%d" % self.http_port,
        ]
        ports = {v.port for v in self.vhosts} | set(self.listen_ports)
        if self.vhosts:
            ports.add(self.port)
        for p in sorted(ports):
            L.append("Listen 127.0.0.1:%d https" % p)
        L += self.server_lines
        L += [
            "<VirtualHost 127.0.0.1:%d>" % self.http_port,
            "  ServerName localhost",
            "  <Location /server-status>",
            "    SetHandler server-status",
            "    Require ip 127.0.0.1",
            "  </Location>",
            "</VirtualHost>",
        ]
        for v in self.vhosts:
            L.append("<VirtualHost 127.0.0.1:%d>" % v.port)
            L.append("  ServerName %s" % v.name)
            for a in v.aliases:
                L.append("  ServerAlias %s" % a)
            L.append("  SSLEngine on")
            for cert, key in v.certs:
                L.append("  SSLCertificateFile %s" % cert)
                L.append("  SSLCertificateKeyFile %s" % key)
            if v.ca_file:
                L.append("  SSLCACertificateFile %s" % v.ca_file)
            if v.stapling is not None:
                L.append("  SSLUseStapling %s" % ("on" if v.stapling else "off"))
            L += ["  " + x for x in v.extra]
            L.append("</VirtualHost>")
        L += self.tail_lines
        return "\n".join(L) + "\n"

    def write_config(self):
        with open(self.conf_path, "w") as f:
            f.write(self.render())
        os.chmod(self.conf_path, 0o644)
        return self.conf_path

    # ---- process control -------------------------------------------------------
    def _cmd(self, *extra):
        return [HTTPD, "-d", self.root, "-f", self.conf_path] + list(extra)

    def process_env(self):
        """The environment httpd runs with: None (ours) or, with
        OCSPSTAPLE_E2E_PRELOAD, ours plus the sanitizer runtime and its
        options: reports go to ROOT/sanitizer/, the process that hit one
        exits (halt_on_error), no leak check at exit (httpd frees its pools
        by destroying them, not in a way LeakSanitizer can follow, and the
        modules are unloaded by then; tests/hardening/restarts.py checks
        leaks with valgrind instead)."""
        if not SAN_PRELOAD:
            return None
        env = dict(os.environ)
        pre = env.get("LD_PRELOAD")
        env["LD_PRELOAD"] = SAN_PRELOAD + (" " + pre if pre else "")
        env["ASAN_OPTIONS"] = ":".join([
            "detect_leaks=0", "abort_on_error=0", "halt_on_error=1",
            "log_path=%s/asan" % self.san_dir,
            # keep ASan's SIGSEGV/SIGBUS handler over httpd's: a crash
            # report with the stack instead of "exit signal"
            "allow_user_segv_handler=0"])
        env["UBSAN_OPTIONS"] = ":".join([
            "print_stacktrace=1", "halt_on_error=1",
            "log_path=%s/ubsan" % self.san_dir])
        return env

    def sanitizer_reports(self):
        """{file name: text} of the sanitizer reports in ROOT/sanitizer."""
        out = {}
        if self.san_dir and os.path.isdir(self.san_dir):
            for n in sorted(os.listdir(self.san_dir)):
                out[n] = self._read(os.path.join(self.san_dir, n))
        return out

    def configtest(self, timeout=30):
        """httpd -t: (exit code, stdout+stderr)."""
        self.write_config()
        cp = subprocess.run(self._cmd("-t"), capture_output=True, text=True,
                            timeout=timeout, env=self.process_env())
        return cp.returncode, cp.stdout + cp.stderr

    def _launch(self):
        self.write_config()
        self.killed = False
        self._stderr_f = open(self.stderr_path, "ab")
        self.started_at = time.monotonic()
        self.ready_at = None
        self.proc = subprocess.Popen(self._cmd("-DFOREGROUND"), stdin=subprocess.DEVNULL,
                                     stdout=self._stderr_f, stderr=self._stderr_f,
                                     start_new_session=True, env=self.process_env(),
                                     preexec_fn=_allow_cores if self.core_dir else None)

    def answers(self, timeout=1.0):
        """True when this httpd answers on its plain HTTP port (its page
        names its ServerRoot; an error status counts, for configurations
        that refuse "/")."""
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/" % self.http_port,
                                        timeout=timeout) as resp:
                return self.root.encode() in resp.read()
        except urllib.error.HTTPError:
            return True
        except (OSError, ValueError):
            return False

    def start(self, timeout=20):
        """Starts httpd and waits until it answers. Raises on failure (with
        stderr and error log)."""
        self._launch()
        deadline = self.started_at + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("httpd exited with %s at start:\n%s" % (
                    self.proc.returncode, self.read_output()))
            if self.answers(timeout=0.5):
                self.ready_at = time.monotonic()
                return self
            time.sleep(0.02)
        out = self.read_output()
        self.stop()
        raise RuntimeError("httpd did not answer within %ss:\n%s" % (timeout, out))

    @property
    def startup_seconds(self):
        return None if self.ready_at is None else self.ready_at - self.started_at

    def start_expect_failure(self, timeout=20):
        """Starts httpd expecting it to refuse to start. Returns StartResult
        (rc None if it was still running at the timeout; it is then
        stopped)."""
        self._launch()
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            rc = None
        elapsed = time.monotonic() - self.started_at
        if rc is None:
            self.stop()
        else:
            self._close_stderr()
            self.proc = None
        return StartResult(rc, self._read(self.stderr_path), self._read(self.error_log),
                           elapsed)

    def _close_stderr(self):
        f = getattr(self, "_stderr_f", None)
        if f is not None:
            f.close()
            self._stderr_f = None

    def pid(self):
        return self.proc.pid if self.proc else None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout=15, graceful=True):
        """Stops httpd; SIGKILL to the process group is the last resort
        (then self.killed is True).

        graceful (the default) is Debian's `apachectl graceful-stop`, what
        systemd does: SIGWINCH, wait for the children to finish their
        connections and exit, then SIGTERM so the parent does not sleep out
        its one-second polls. A plain SIGTERM (`apachectl stop`,
        graceful=False) makes mpm_event close the sockets of connections
        still being torn down by workers; on 2.4.71 that rarely crashes a
        child in close_worker_sockets() (core dump: main thread in
        apr_os_sock_get, a worker destroying its pool), whatever the
        modules. Tests that are about a hard stop ask for it."""
        p = self.proc
        if p is None:
            return
        try:
            if p.poll() is None and not graceful:
                self._wait_connections_gone()
            if p.poll() is None and graceful:
                p.send_signal(signal.SIGWINCH)
                deadline = time.monotonic() + timeout
                while (child_pids(p.pid) and p.poll() is None
                       and time.monotonic() < deadline):
                    time.sleep(0.02)
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.killed = True
                    try:
                        os.killpg(p.pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                    p.wait(10)
            # children left behind by a dead parent (same process group)
            self._reap_group(p.pid)
        finally:
            self.proc = None
            self._close_stderr()

    def _wait_connections_gone(self, timeout=2.0):
        """Before a hard stop: waits (bounded) until httpd holds no
        connection on its TLS port but the listener, so that the SIGTERM
        does not meet a worker still tearing one down (the httpd 2.4.71
        crash in close_worker_sockets described in stop())."""
        port = ":%04X" % self.port
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            busy = False
            for table in ("/proc/net/tcp", "/proc/net/tcp6"):
                try:
                    with open(table) as f:
                        rows = f.read().splitlines()[1:]
                except OSError:
                    continue
                # local address ends with the port; states 0A LISTEN and
                # 06 TIME_WAIT (the kernel's, no process holds it) aside
                busy = busy or any(r.split()[1].endswith(port)
                                   and r.split()[3] not in ("0A", "06") for r in rows)
            if not busy:
                return
            time.sleep(0.05)

    def _reap_group(self, pgid, timeout=5):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            except PermissionError:
                return
            time.sleep(0.05)
        try:
            os.killpg(pgid, signal.SIGKILL)
            self.killed = True
        except ProcessLookupError:
            pass

    def _count_generation_marks(self):
        return len(re.findall(r"AH00489|AH00094|resuming normal operations",
                              self._read(self.error_log)))

    def graceful(self, timeout=20):
        """SIGUSR1 and wait until httpd says it resumed and answers again."""
        return self._restart_signal(signal.SIGUSR1, timeout)

    def restart(self, timeout=20):
        """SIGHUP (hard restart) and wait likewise."""
        return self._restart_signal(signal.SIGHUP, timeout)

    def _restart_signal(self, sig, timeout):
        self.write_config()
        before = self._count_generation_marks()
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        deadline = t0 + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("httpd exited at restart:\n" + self.read_output())
            if self._count_generation_marks() > before and self.answers(0.5):
                return time.monotonic() - t0
            time.sleep(0.05)
        raise RuntimeError("httpd did not come back from restart in %ss:\n%s"
                           % (timeout, self.read_output()))

    # ---- logs ------------------------------------------------------------------
    @staticmethod
    def _read(path):
        try:
            with open(path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def read_output(self):
        return "--- stderr:\n%s--- error log:\n%s" % (self._read(self.stderr_path),
                                                      self._read(self.error_log))

    def log_text(self):
        return self._read(self.error_log)

    def log_lines(self):
        out = []
        for src in self.log_sources:
            for line in self._read(src).splitlines():
                out.append(LogLine(src, line))
        return out

    def wait_for_log(self, regex, timeout=10, count=1):
        """Polls the error log until regex matched count times. Returns the
        matching lines (raises AssertionError on timeout)."""
        rx = re.compile(regex)
        deadline = time.monotonic() + timeout
        while True:
            hits = [l for l in self._read(self.error_log).splitlines() if rx.search(l)]
            if len(hits) >= count:
                return hits
            if time.monotonic() >= deadline:
                raise AssertionError("no log line matching %r (x%d) within %ss:\n%s"
                                     % (regex, count, timeout, self.log_text()))
            time.sleep(0.05)

    def cleanup(self):
        self.stop()
        if os.environ.get("OCSPSTAPLE_E2E_KEEP"):
            return
        shutil.rmtree(self.root, ignore_errors=True)

    def server_status(self, auto=True, timeout=5):
        url = "http://127.0.0.1:%d/server-status%s" % (self.http_port, "?auto" if auto else "")
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.read().decode(errors="replace")


class LogGuard:
    """Checks the error logs of httpd instances after a test: any line at
    warn or above fails, except AH01882 and what the test declared with
    expect(regex[, levels]); any crash trace fails always, and so does
    any sanitizer report file (OCSPSTAPLE_E2E_PRELOAD)."""

    def __init__(self):
        self.expected = []  # (compiled regex, set of levels or None)

    def expect(self, regex, levels=None):
        if isinstance(levels, str):
            levels = [levels]
        self.expected.append((re.compile(regex), set(levels) if levels else None))

    def allowed(self, line):
        if any(rx.search(line.text) for rx in ALWAYS_ALLOWED):
            return True
        for rx, levels in self.expected:
            if rx.search(line.text) and (levels is None or line.level in levels):
                return True
        return False

    def problems(self, envs):
        bad = []
        for env in envs:
            if env.killed:
                bad.append("httpd in %s had to be killed with SIGKILL" % env.root)
            if env.core_dir and os.listdir(env.core_dir):
                bad.append("core dumps in %s: %s" % (env.core_dir, os.listdir(env.core_dir)))
            for name, text in env.sanitizer_reports().items():
                bad.append("sanitizer report %s/%s:\n%s" % (env.san_dir, name, text[:6000]))
            for line in env.log_lines():
                if CRASH_RE.search(line.text):
                    bad.append(str(line))
                elif line.level in SERIOUS and not self.allowed(line):
                    bad.append(str(line))
        return bad
