"""TLS clients for the end-to-end tests, each with a timeout.

  s_client(port, name, cafile, ...)  -> SClientResult  (openssl s_client -status)
  curl_status(port, name, cafile)    -> CurlResult     (curl --cert-status)
  gnutls_ocsp(port, name, cafile)    -> GnutlsResult   (gnutls-cli --ocsp)
  stapled_der(port, name)            -> bytes | None   (raw staple, gnutls-cli
                                                        --save-ocsp, no --ocsp)
  parse_staple(der)                  -> cryptography OCSPResponse
  tls_handshake_seconds(port, name)  -> float          (python ssl, no staple asked)
"""

import datetime
import os
import re
import socket
import ssl
import subprocess
import tempfile
import time

from cryptography import x509
from cryptography.x509 import ocsp

TIMEOUT = 20
UTC = datetime.timezone.utc


def _run(cmd, input_text="", timeout=TIMEOUT):
    t0 = time.monotonic()
    cp = subprocess.run(cmd, input=input_text, capture_output=True, text=True,
                        timeout=timeout)
    return cp, time.monotonic() - t0


def _ocsp_time(s):
    if s is None:
        return None
    return datetime.datetime.strptime(s.strip(), "%b %d %H:%M:%S %Y GMT").replace(tzinfo=UTC)


class SClientResult:
    def __init__(self, cmd, rc, out, err, elapsed):
        self.cmd, self.rc, self.out, self.err, self.elapsed = cmd, rc, out, err, elapsed

        def find(rx, flags=re.M):
            m = re.search(rx, out, flags)
            return m.group(1).strip() if m else None

        self.no_response = "OCSP response: no response sent" in out
        self.response_status = find(r"^\s*OCSP Response Status: (.*)$")
        self.cert_status = find(r"^\s*Cert Status: (\S+)")
        self.this_update_text = find(r"^\s*This Update: (.*)$")
        self.next_update_text = find(r"^\s*Next Update: (.*)$")
        self.this_update = _ocsp_time(self.this_update_text)
        self.next_update = _ocsp_time(self.next_update_text)
        self.revocation_reason = find(r"^\s*Revocation Reason: (.*)$")
        s = find(r"^\s*Serial Number: ([0-9A-Fa-f]+)\s*$")
        self.staple_serial = int(s, 16) if s else None
        self.protocol = find(r"^\s*Protocol\s*: (\S+)") or find(r"^New, (TLSv[\d.]+)")
        self.cipher = find(r"^\s*Cipher\s*: (\S+)")
        self.verify = find(r"^\s*Verify return code: (.*)$")
        self.peer_sigtype = find(r"^Peer signature type: (\S+)")
        self.peer_cert = None
        m = re.search(r"Server certificate\n(-----BEGIN CERTIFICATE-----.*?"
                      r"-----END CERTIFICATE-----)", out, re.S)
        if m:
            self.peer_cert = x509.load_pem_x509_certificate(m.group(1).encode())
        self.handshake_ok = self.peer_cert is not None

    @property
    def stapled(self):
        return self.response_status is not None and not self.no_response

    @property
    def peer_serial(self):
        return self.peer_cert.serial_number if self.peer_cert else None

    @property
    def peer_key_type(self):
        if self.peer_cert is None:
            return None
        from cryptography.hazmat.primitives.asymmetric import ec, rsa
        k = self.peer_cert.public_key()
        return "ec" if isinstance(k, ec.EllipticCurvePublicKey) else (
            "rsa" if isinstance(k, rsa.RSAPublicKey) else type(k).__name__)

    def ocsp_section(self):
        """The OCSP part of s_client's output, as operators see it."""
        lines, on = [], False
        for line in self.out.splitlines():
            if line.startswith("OCSP response:"):
                on = True
            elif on and (line.startswith("---") or line.startswith("Certificate:")
                         or line.startswith("    Signature Algorithm")
                         or line.startswith("CONNECTED")):
                break
            if on:
                lines.append(line)
        return "\n".join(lines)

    def __repr__(self):
        return "<s_client rc=%s stapled=%s status=%s cert=%s %.2fs\n%s\n%s>" % (
            self.rc, self.stapled, self.response_status, self.cert_status,
            self.elapsed, self.out[-3000:], self.err[-2000:])


def s_client(port, name, cafile=None, tls=None, sigalgs=None, cipher=None,
             ciphersuites=None, extra=(), timeout=TIMEOUT, status=True):
    """`echo QUIT | openssl s_client -connect 127.0.0.1:PORT -servername NAME
    -status`. tls: None, "1.2" or "1.3"."""
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port,
           "-servername", name]
    if status:
        cmd.append("-status")
    if cafile:
        cmd += ["-CAfile", cafile, "-verify_hostname", name]
    if tls:
        cmd.append("-tls" + tls.replace(".", "_"))
    if sigalgs:
        cmd += ["-sigalgs", sigalgs]
    if cipher:
        cmd += ["-cipher", cipher]
    if ciphersuites:
        cmd += ["-ciphersuites", ciphersuites]
    cmd += list(extra)
    cp, el = _run(cmd, "QUIT\n", timeout)
    return SClientResult(cmd, cp.returncode, cp.stdout, cp.stderr, el)


class CurlResult:
    def __init__(self, cmd, rc, out, err, elapsed):
        self.cmd, self.rc, self.out, self.err, self.elapsed = cmd, rc, out, err, elapsed
        self.http_code = out.strip()[-3:] if out.strip() else None

    def __repr__(self):
        return "<curl rc=%s http=%s %.2fs: %s>" % (self.rc, self.http_code,
                                                   self.elapsed, self.err.strip())


def curl_status(port, name, cafile, path="/index.html", timeout=TIMEOUT, cert_status=True):
    """curl --cert-status: rc 0 with a good staple; 91 when the staple is
    missing, revoked or does not verify."""
    cmd = ["curl", "-sS", "--max-time", str(timeout - 2), "--cacert", cafile,
           "--resolve", "%s:%d:127.0.0.1" % (name, port),
           "-o", "/dev/null", "-w", "%{http_code}",
           "https://%s:%d%s" % (name, port, path)]
    if cert_status:
        cmd.insert(1, "--cert-status")
    cp, el = _run(cmd, "", timeout)
    return CurlResult(cmd, cp.returncode, cp.stdout, cp.stderr, el)


class GnutlsResult:
    def __init__(self, cmd, rc, out, err, elapsed):
        self.cmd, self.rc, self.out, self.err, self.elapsed = cmd, rc, out, err, elapsed
        text = out + err
        self.handshake_ok = "Handshake was completed" in text
        self.trusted = "The certificate is trusted" in text
        self.ocsp_lines = [l for l in text.splitlines() if "OCSP" in l]

    def __repr__(self):
        return "<gnutls-cli rc=%s %.2fs\n%s\n%s>" % (self.rc, self.elapsed,
                                                     self.out[-3000:], self.err[-2000:])


def gnutls_ocsp(port, name, cafile, save_ocsp=None, ocsp_check=True, timeout=TIMEOUT):
    """gnutls-cli --ocsp: with no staple it asks the responder itself, so
    count responder requests around it."""
    cmd = ["gnutls-cli", "--x509cafile", cafile, "-p", str(port),
           "--sni-hostname", name, "--verify-hostname", name]
    if ocsp_check:
        cmd.append("--ocsp")
    if save_ocsp:
        cmd += ["--save-ocsp", save_ocsp]
    cmd.append("127.0.0.1")
    cp, el = _run(cmd, "", timeout)
    return GnutlsResult(cmd, cp.returncode, cp.stdout, cp.stderr, el)


def stapled_der(port, name, timeout=TIMEOUT):
    """The raw stapled OCSP response (DER) of one handshake, or None when
    nothing was stapled. Uses gnutls-cli --save-ocsp without --ocsp (it
    does not contact the responder)."""
    fd, path = tempfile.mkstemp(prefix="staple-", suffix=".der")
    os.close(fd)
    os.unlink(path)
    try:
        cmd = ["gnutls-cli", "--insecure", "-p", str(port), "--sni-hostname", name,
               "--save-ocsp", path, "127.0.0.1"]
        cp, _ = _run(cmd, "", timeout)
        if "Handshake was completed" not in cp.stdout + cp.stderr:
            raise AssertionError("gnutls-cli handshake failed: %s %s" % (cp.stdout, cp.stderr))
        if not os.path.exists(path) or os.path.getsize(path) == 0:
            return None
        with open(path, "rb") as f:
            return f.read()
    finally:
        if os.path.exists(path):
            os.unlink(path)


def parse_staple(der):
    return ocsp.load_der_ocsp_response(der)


def tls_handshake_seconds(port, name, timeout=10):
    """Time of one full TLS handshake with python's ssl (no status request,
    no verification)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    t0 = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        with ctx.wrap_socket(s, server_hostname=name) as t:
            t.version()
    return time.monotonic() - t0
