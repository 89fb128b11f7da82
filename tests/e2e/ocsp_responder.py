"""OCSP responder for the tests, bound to 127.0.0.1 only.

In-process use (tests):

    r = Responder(port=0); r.bind()          # port known before the PKI exists
    pki = PKI.generate(dir, r.url)
    r.set_pki(pki); r.start()
    r.set_mode("hang")                       # global
    r.set_mode("revoke-all", serial=leaf.serial)   # one certificate only
    r.wait_for_hits(1, timeout=5, serial=leaf.serial)
    r.stop(); r.start()                      # same port again

CLI (demo, benchmark):

    /usr/bin/python3 ocsp_responder.py --dir PKIDIR --port N [--mode MODE]
        [--generate] [--port-file F]

    --generate makes a fresh PKI in PKIDIR whose AIA URL names this
    responder's port (use it with --port 0). The line "LISTENING 127.0.0.1:N"
    is printed once the socket is bound.

    /_control is served on the OCSP port and on a second port ("CONTROL
    127.0.0.1:N" on stdout, --control-port) that stays open in mode refuse.
    GET  /_control                  -> JSON: modes, counts per serial (hex)
    GET  /_control?mode=M[&serial=HEX][&validity=S][&signer=issuer][&reset=1]
    POST /_control  {"mode": M, "serial": HEX, "opts": {...}, "reset": true}

OCSP requests: GET /ocsp/<url-encoded base64 DER> or POST
application/ocsp-request (any path except /_control).

Modes:
  openssl      (default) the real thing: `openssl ocsp -index -CA -rsigner
               -rkey -reqin -respout -nmin` run per request (OpenSSL's own
               listener binds every interface and must not be used)
  builder      cryptography's OCSPResponseBuilder; options validity (s),
               signer ("delegated" | "issuer"), this_update_offset (s)
  hang         read the request, never answer until stop() / mode change
  refuse       listening socket closed (connection refused)
  http500, garbage, truncated, trailing, trylater, internalerror,
  unauthorized, unknown, stranger, nokeyusage, expired, future, wrongcert,
  oversize, revoke-all   faulty answers (see _answer); oversize is a valid,
               verifiable answer of about 84 KB (past any allowed size cap)
  padded       a genuine answer (builder's, correctly signed, options as
               builder) padded in its certs list, which the signature does
               not cover (anyone on the path can do that): pad_certs=N
               copies of the intermediate, and/or pad_to=BYTES: the answer
               is made that long with a filler certificate (exactly; where
               a DER length boundary makes that size unreachable, the
               largest below it; at least the unpadded size plus a few
               hundred bytes)
Every option may also carry delay=S (seconds slept before answering).

Each Hit records the uid that owns the client's socket (Hit.uid; the uid
column of /proc/net/tcp or tcp6 for the connection seen from the client
side, looked up when the connection is accepted; None when not found) and,
once answered, the size of the answer sent (Hit.resp_size). status() lists
both per serial ("uids", "resp_sizes").
"""

import argparse
import base64
import datetime
import json
import os
import socket
import subprocess
import struct
import sys
import tempfile
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pki import PKI  # noqa: E402

UTC = datetime.timezone.utc
OPENSSL = "openssl"

FAULT_MODES = ("hang", "refuse", "http500", "garbage", "truncated", "trailing",
               "trylater", "internalerror", "unauthorized", "unknown",
               "stranger", "nokeyusage", "expired", "future", "wrongcert",
               "oversize", "revoke-all")
MODES = ("openssl", "builder", "padded") + FAULT_MODES
# Modes whose answer must never be stapled.
BAD_ANSWER_MODES = ("http500", "garbage", "truncated", "trailing", "trylater",
                    "internalerror", "unauthorized", "unknown", "stranger",
                    "nokeyusage", "expired", "future", "wrongcert", "oversize")


class Hit:
    __slots__ = ("time", "serial", "method", "path", "mode", "size", "uid",
                 "resp_size")

    def __init__(self, t, serial, method, path, mode, size, uid=None):
        self.time, self.serial, self.method = t, serial, method
        self.path, self.mode, self.size = path, mode, size
        self.uid = uid            # owner of the client's socket (see peer_uid)
        self.resp_size = None     # bytes of the answer body, once sent

    def __repr__(self):
        return "<Hit %s %s serial=%s mode=%s uid=%s>" % (
            self.method, time.strftime("%H:%M:%S", time.localtime(self.time)),
            None if self.serial is None else "%X" % self.serial, self.mode,
            self.uid)


def _proc_net_fields(ip, port):
    """How /proc/net/tcp and /proc/net/tcp6 print the address ip:port (each
    32-bit word of the address in host byte order, upper-case hex): the
    forms a socket with that address may show, IPv4-mapped included."""
    def words(raw):
        return "".join("%08X" % struct.unpack("=I", raw[i:i + 4])[0]
                       for i in range(0, len(raw), 4))
    out = []
    try:
        v4 = socket.inet_pton(socket.AF_INET, ip)
        out += [words(v4), words(b"\0" * 10 + b"\xff\xff" + v4)]
    except OSError:
        out.append(words(socket.inet_pton(socket.AF_INET6, ip)))
    return ["%s:%04X" % (a, int(port)) for a in out]


def peer_uid(client, server, tries=3):
    """The uid owning the socket of a local TCP client: the line of
    /proc/net/tcp or /proc/net/tcp6 whose local address is the client's
    (ip, port) and whose remote address is the server's (ip, port) (the
    connection seen from the client's side), uid column. None when no such
    line is found (not a local client). One substring search per table,
    so that a responder answering thousands of connections stays fast."""
    needles = [" %s %s " % (c, s) for c in _proc_net_fields(*client[:2])
               for s in _proc_net_fields(*server[:2])]
    for attempt in range(tries):
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as f:
                    text = f.read()
            except OSError:
                continue
            for needle in needles:
                i = text.find(needle)
                if i < 0:
                    continue
                line = text[text.rfind("\n", 0, i) + 1:text.find("\n", i)]
                cols = line.split()
                try:
                    return int(cols[7])
                except (IndexError, ValueError):
                    continue
        time.sleep(0.01)
    return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    track = True  # connections shut down by Responder.stop()
    # socketserver's default listen backlog is 5: a server fetching many
    # answers in parallel would see dropped SYNs (1 s retransmits) and
    # measure this responder rather than itself.
    request_queue_size = 1024

    def handle_error(self, request, client_address):
        # a client that stops reading (an answer cut off at its size cap)
        # is not an error of the responder
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)

    def get_request(self):
        # http.server writes headers and body separately: without
        # TCP_NODELAY a client keeping the connection alive waits for its
        # delayed ACK (~40 ms) on every answer. Real responders do not.
        sock, addr = super().get_request()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock, addr


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "TestOCSP/1.0"
    timeout = 60

    def log_message(self, fmt, *args):  # quiet
        pass

    def setup(self):
        super().setup()
        try:
            self.peer_uid = peer_uid(self.client_address,
                                     self.connection.getsockname())
        except OSError:
            self.peer_uid = None
        if self.server.track:
            self.server.responder._track(self.connection, True)

    def finish(self):
        try:
            super().finish()
        finally:
            if self.server.track:
                self.server.responder._track(self.connection, False)

    def do_GET(self):
        path = self.path
        if path.startswith("/_control"):
            return self._control_get()
        # /ocsp/<b64> or /<b64>: take what follows the first path segment
        # when that segment is not base64 of a request itself.
        raw = path.split("?", 1)[0]
        parts = raw.lstrip("/").split("/", 1)
        enc = parts[1] if len(parts) == 2 and parts[0] == "ocsp" else raw.lstrip("/")
        try:
            der = base64.b64decode(urllib.parse.unquote(enc), validate=False)
        except Exception:
            der = b""
        self._ocsp(der, "GET")

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.path.startswith("/_control"):
            return self._control_post(body)
        self._ocsp(body, "POST")

    # ---- control -----------------------------------------------------------
    def _reply(self, code, body, ctype="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _control_get(self):
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        if q:
            args = {k: v[-1] for k, v in q.items()}
            self._control_apply(args)
        self._reply(200, json.dumps(self.server.responder.status()).encode())

    def _control_post(self, body):
        try:
            args = json.loads(body or b"{}")
            self._control_apply(args)
        except Exception as e:  # report, do not die
            return self._reply(400, json.dumps({"error": str(e)}).encode())
        self._reply(200, json.dumps(self.server.responder.status()).encode())

    def _control_apply(self, args):
        r = self.server.responder
        if str(args.get("reset", "")).lower() in ("1", "true", "yes"):
            r.reset_counts()
        if "mode" in args:
            serial = args.get("serial")
            if isinstance(serial, str):
                serial = int(serial, 16)
            opts = dict(args.get("opts") or {})
            for k in ("validity", "signer", "delay", "this_update_offset", "nmin",
                      "pad_certs", "pad_to"):
                if k in args:
                    opts[k] = args[k]
            r.set_mode(args["mode"], serial=serial, **opts)

    # ---- OCSP ----------------------------------------------------------------
    def _ocsp(self, der, method):
        r = self.server.responder
        serial, req = None, None
        try:
            req = ocsp.load_der_ocsp_request(der)
            serial = req.serial_number
        except Exception:
            pass
        mode, opts = r.mode_for(serial)
        hit = Hit(time.time(), serial, method, self.path, mode, len(der),
                  uid=getattr(self, "peer_uid", None))
        r._record(hit)
        delay = float(opts.get("delay") or 0)
        if delay:
            r._release.wait(delay)
        if mode == "refuse":  # a keep-alive connection from before the close
            self.close_connection = True
            return
        if mode == "hang":
            r._release.wait(600)
            self.close_connection = True
            return
        if mode == "http500":
            return self._reply(500, b"internal server error\n", "text/plain")
        try:
            body = r._answer(mode, opts, der, req)
        except Exception as e:  # a test bug: say so loudly, answer 500
            sys.stderr.write("ocsp_responder: %s: %r\n" % (mode, e))
            return self._reply(500, repr(e).encode(), "text/plain")
        hit.resp_size = len(body)
        self._reply(200, body, "application/ocsp-response")


class Responder:
    def __init__(self, port=0, pki=None, mode="openssl", nmin=60):
        self.port = port
        self.pki = pki
        self.nmin = nmin
        self._lock = threading.Lock()
        self._global = (mode, {})
        self._per_serial = {}
        self._hits = []
        self._cond = threading.Condition(self._lock)
        self._conns = set()
        self._server = None
        self._thread = None
        self._release = threading.Event()
        self._sock_bound = None

    # ---- lifecycle ------------------------------------------------------------
    @property
    def url(self):
        return "http://127.0.0.1:%d/ocsp" % self.port

    def bind(self):
        """Binds the listening socket (to learn the port) without serving."""
        if self._server is None:
            self._server = _Server(("127.0.0.1", self.port), _Handler)
            self._server.responder = self
            self.port = self._server.server_address[1]
        return self.port

    def set_pki(self, pki):
        self.pki = pki

    def start(self):
        if self._thread is not None:
            return self
        self._release.clear()
        self.bind()
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        daemon=True, name="ocsp-responder")
        self._thread.start()
        return self

    @property
    def running(self):
        return self._thread is not None

    def stop(self):
        """Stops serving and closes the listening socket and every open
        connection; hanging requests are released (and closed unanswered)."""
        self._release.set()
        srv, th = self._server, self._thread
        self._server = self._thread = None
        if srv is not None:
            if th is not None:
                srv.shutdown()
            srv.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if th is not None:
            th.join(5)

    def restart(self):
        self.stop()
        return self.start()

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()
        self.stop_control()

    def start_control(self, port=0):
        """A second listener that stays up whatever the mode (even 'refuse'):
        for the CLI's /_control. Returns its port."""
        self._control = _Server(("127.0.0.1", port), _Handler)
        self._control.responder = self
        self._control.track = False
        threading.Thread(target=self._control.serve_forever,
                         kwargs={"poll_interval": 0.1}, daemon=True).start()
        return self._control.server_address[1]

    def stop_control(self):
        c = getattr(self, "_control", None)
        if c is not None:
            c.shutdown()
            c.server_close()
            self._control = None

    def _track(self, conn, add):
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    # ---- modes -----------------------------------------------------------------
    def set_mode(self, mode, serial=None, **opts):
        """Global mode (serial=None) or a mode for one certificate serial.
        set_mode(None, serial=S) removes a per-serial override. 'refuse' as
        global mode closes the listening socket; leaving it reopens it on the
        same port."""
        if mode is not None and mode not in MODES:
            raise ValueError("unknown mode %r (one of %s)" % (mode, ", ".join(MODES)))
        if serial is None and mode == "refuse":
            with self._lock:
                self._global = (mode, opts)
            self.stop()
            return
        with self._lock:
            old = self._global[0]
            if serial is None:
                self._global = (mode or "openssl", opts)
            elif mode is None:
                self._per_serial.pop(serial, None)
            else:
                self._per_serial[serial] = (mode, opts)
        # release requests hanging in a mode that is no longer wanted
        self._release.set()
        if self._thread is not None:
            self._release = threading.Event()
        if serial is None and old == "refuse" and self._thread is None:
            self.start()

    def reset(self):
        """Back to the default: openssl mode everywhere, counts cleared,
        serving."""
        with self._lock:
            self._per_serial.clear()
        self.set_mode("openssl")
        if self._thread is None:
            self.start()
        self.reset_counts()

    def mode_for(self, serial):
        with self._lock:
            if serial is not None and serial in self._per_serial:
                return self._per_serial[serial]
            return self._global

    # ---- counts ------------------------------------------------------------
    def _record(self, hit):
        with self._cond:
            self._hits.append(hit)
            self._cond.notify_all()

    def hits(self, serial=None):
        with self._lock:
            return [h for h in self._hits if serial is None or h.serial == serial]

    def count(self, serial=None):
        return len(self.hits(serial))

    def reset_counts(self):
        with self._lock:
            self._hits = []

    def wait_for_hits(self, n, timeout, serial=None):
        """Waits until at least n requests (for serial, or in all) were seen.
        Returns True when reached, False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = sum(1 for h in self._hits if serial is None or h.serial == serial)
                if got >= n:
                    return True
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)

    def status(self):
        with self._lock:
            per, uids, sizes = {}, {}, {}
            for h in self._hits:
                k = "none" if h.serial is None else "%X" % h.serial
                per.setdefault(k, []).append(h.time)
                uids.setdefault(k, []).append(h.uid)
                sizes.setdefault(k, []).append(h.resp_size)
            return {
                "port": self.port,
                "mode": self._global[0], "opts": self._global[1],
                "per_serial": {"%X" % s: m[0] for s, m in self._per_serial.items()},
                "total": len(self._hits),
                "counts": {k: len(v) for k, v in per.items()},
                "times": per,
                "uids": uids,
                "resp_sizes": sizes,
            }

    # ---- answers -----------------------------------------------------------
    def _answer(self, mode, opts, der, req):
        if req is None:
            return ocsp.OCSPResponseBuilder.build_unsuccessful(
                ocsp.OCSPResponseStatus.MALFORMED_REQUEST).public_bytes(
                    serialization.Encoding.DER)
        if mode == "openssl":
            return self._openssl(der, int(opts.get("nmin") or self.nmin))
        if mode == "garbage":
            return os.urandom(700)
        if mode in ("trylater", "internalerror", "unauthorized"):
            st = {"trylater": ocsp.OCSPResponseStatus.TRY_LATER,
                  "internalerror": ocsp.OCSPResponseStatus.INTERNAL_ERROR,
                  "unauthorized": ocsp.OCSPResponseStatus.UNAUTHORIZED}[mode]
            return ocsp.OCSPResponseBuilder.build_unsuccessful(st).public_bytes(
                serialization.Encoding.DER)
        good = self.build(req, **{k: v for k, v in opts.items() if k in (
            "validity", "signer", "this_update_offset")})
        if mode == "builder":
            return good
        if mode == "padded":
            return self.padded(req, opts)
        if mode == "truncated":
            return good[:len(good) // 2]
        if mode == "trailing":
            return good + b"\x00JUNK-AFTER-THE-RESPONSE"
        if mode == "unknown":
            return self.build(req, status="unknown")
        if mode == "revoke-all":
            return self.build(req, status="revoked")
        if mode == "stranger":
            return self.build(req, signer="stranger")
        if mode == "nokeyusage":
            return self.build(req, signer="nokeyusage")
        if mode == "expired":
            return self.build(req, this_update_offset=-2 * 86400, validity=86400)
        if mode == "future":
            return self.build(req, this_update_offset=3600, validity=3600)
        if mode == "wrongcert":
            return self.build(req, answer_for="other")
        if mode == "oversize":
            return self.build(req, pad_certs=95)  # valid, signed, ~84 KB > 64 KiB
        raise ValueError("no answer for mode %r" % mode)

    def _openssl(self, der, nmin):
        p = self.pki
        with tempfile.TemporaryDirectory(prefix="ocsp-req-") as td:
            reqf, respf = os.path.join(td, "req.der"), os.path.join(td, "resp.der")
            with open(reqf, "wb") as f:
                f.write(der)
            cmd = [OPENSSL, "ocsp", "-index", p.index_path,
                   "-CA", p.intermediate_path,
                   "-rsigner", p.path("ocsp-signer.pem"),
                   "-rkey", p.path("ocsp-signer.key"),
                   "-reqin", reqf, "-respout", respf, "-nmin", str(nmin)]
            cp = subprocess.run(cmd, capture_output=True, timeout=20)
            if cp.returncode != 0 or not os.path.exists(respf):
                raise RuntimeError("openssl ocsp failed: %s" % cp.stderr.decode(errors="replace"))
            with open(respf, "rb") as f:
                return f.read()

    def padded(self, req, opts):
        """Mode padded: the builder's genuine answer, its unsigned certs
        list padded with pad_certs copies of the intermediate and, with
        pad_to, one filler certificate sized so that the answer is exactly
        pad_to bytes long."""
        kw = {k: v for k, v in opts.items()
              if k in ("validity", "signer", "this_update_offset")}
        pad_certs = int(opts.get("pad_certs") or 0)
        pad_to = int(opts.get("pad_to") or 0)
        if not pad_to:
            return self.build(req, pad_certs=pad_certs, **kw)
        # The filler's size grows with its extension's length, by one byte
        # per byte except where a DER length grows a byte; each signature
        # (ECDSA: 70 to 72 bytes) changes the total by a byte or two, so
        # aim again until it comes out exact. Where a DER length boundary
        # makes the size unreachable, the largest answer below it is taken.
        fill, best, der = 1, None, b""
        for _ in range(80):
            der = self.build(req, pad_certs=pad_certs,
                             extra_certs=[self._filler_cert(fill)], **kw)
            if len(der) == pad_to:
                return der
            if len(der) < pad_to and (best is None or len(der) > len(best)):
                best = der
            if fill == 1 and len(der) > pad_to:
                raise ValueError("pad_to=%d is less than the answer without "
                                 "filler (%d bytes)" % (pad_to, len(der)))
            fill = max(1, fill + pad_to - len(der))
        return best or der

    _fillers = {}

    def _filler_cert(self, n):
        """A self-signed certificate carrying a non-critical private
        extension of n bytes (cached by n)."""
        c = Responder._fillers.get(n)
        if c is None:
            from cryptography.hazmat.primitives.asymmetric import ec
            k = ec.generate_private_key(ec.SECP256R1())
            name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME,
                                                 "padding")])
            now = datetime.datetime.now(UTC)
            c = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                 .public_key(k.public_key()).serial_number(x509.random_serial_number())
                 .not_valid_before(now - datetime.timedelta(days=1))
                 .not_valid_after(now + datetime.timedelta(days=30))
                 .add_extension(x509.UnrecognizedExtension(
                     x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"),
                     b"\x04" + _der_len(n) + b"P" * n), False)
                 .sign(k, hashes.SHA256()))
            Responder._fillers[n] = c
        return c

    def build(self, req, status=None, validity=3600, signer="delegated",
              this_update_offset=0, answer_for=None, pad_certs=0, extra_certs=()):
        """Signs an answer for the request with cryptography. status: None
        (from the index), 'good', 'revoked', 'unknown'. signer: 'delegated',
        'issuer', 'stranger', 'nokeyusage'. answer_for='other': the
        SingleResponse names another leaf's serial."""
        p = self.pki
        serial = req.serial_number
        leaf = p.leaf_by_serial(serial)
        if leaf is None:
            p.reload()
            leaf = p.leaf_by_serial(serial)
        if answer_for == "other" or leaf is None:
            others = [l for l in p.leaves.values() if l.serial != serial and not l.revoked]
            target = others[0]
            if leaf is None and answer_for != "other":
                return ocsp.OCSPResponseBuilder.build_unsuccessful(
                    ocsp.OCSPResponseStatus.UNAUTHORIZED).public_bytes(
                        serialization.Encoding.DER)
        else:
            target = leaf
        if status is None:
            status = "revoked" if target.revoked else "good"
        now = datetime.datetime.now(UTC).replace(microsecond=0)
        this_update = now + datetime.timedelta(seconds=float(this_update_offset))
        next_update = this_update + datetime.timedelta(seconds=float(validity))
        cs = {"good": ocsp.OCSPCertStatus.GOOD, "revoked": ocsp.OCSPCertStatus.REVOKED,
              "unknown": ocsp.OCSPCertStatus.UNKNOWN}[status]
        rev_time = (now - datetime.timedelta(hours=1)) if status == "revoked" else None
        rev_reason = x509.ReasonFlags.key_compromise if status == "revoked" else None
        algo = req.hash_algorithm if isinstance(req.hash_algorithm, (
            hashes.SHA1, hashes.SHA256, hashes.SHA384, hashes.SHA512)) else hashes.SHA1()
        b = ocsp.OCSPResponseBuilder().add_response(
            cert=target.cert, issuer=p.cert("intermediate"), algorithm=algo,
            cert_status=cs, this_update=this_update, next_update=next_update,
            revocation_time=rev_time, revocation_reason=rev_reason)
        stem = {"delegated": "ocsp-signer", "issuer": "intermediate",
                "stranger": "stranger", "nokeyusage": "ocsp-nokeyusage"}[signer]
        scert, skey = p.cert(stem), p.key(stem)
        b = b.responder_id(ocsp.OCSPResponderEncoding.HASH, scert)
        certs = [] if signer == "issuer" else [scert]
        if pad_certs:
            certs = certs + [p.cert("intermediate")] * int(pad_certs)
        certs = certs + list(extra_certs)
        if certs:
            b = b.certificates(certs)
        try:
            nonce = req.extensions.get_extension_for_class(x509.OCSPNonce)
            b = b.add_extension(nonce.value, False)
        except x509.ExtensionNotFound:
            pass
        return b.sign(skey, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


def _der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def main():
    ap = argparse.ArgumentParser(description="loopback OCSP responder for tests")
    ap.add_argument("--dir", required=True, help="PKI directory (see pki.py)")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mode", default="openssl", choices=MODES)
    ap.add_argument("--nmin", type=int, default=60,
                    help="validity of openssl-mode answers in minutes")
    ap.add_argument("--generate", action="store_true",
                    help="generate a fresh PKI in --dir naming this responder")
    ap.add_argument("--port-file", help="write the bound port here")
    ap.add_argument("--control-port", type=int, default=0,
                    help="port of the extra /_control listener (stays up in "
                         "mode refuse)")
    a = ap.parse_args()
    r = Responder(port=a.port, nmin=a.nmin)
    r.bind()
    if a.generate:
        pki = PKI.generate(a.dir, r.url)
    else:
        pki = PKI(a.dir)
    r.set_pki(pki)
    if a.mode != "openssl":
        r.set_mode(a.mode)
    if a.mode != "refuse":
        r.start()
    if a.port_file:
        with open(a.port_file + ".tmp", "w") as f:
            f.write("%d\n" % r.port)
        os.replace(a.port_file + ".tmp", a.port_file)
    cport = r.start_control(a.control_port)
    print("LISTENING 127.0.0.1:%d" % r.port, flush=True)
    print("CONTROL 127.0.0.1:%d" % cport, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        r.stop()
        r.stop_control()


if __name__ == "__main__":
    main()
