"""Test PKI for the end-to-end tests, generated at test time.

Layout written into a directory (all certificates PEM, keys PKCS#8 PEM 0600):

  root.pem / root.key                 self-signed root CA (the clients' CA file)
  intermediate.pem / .key             intermediate CA, issuer of every leaf
  ocsp-signer.pem / .key              delegated OCSP signer (EKU OCSPSigning,
                                      id-pkix-ocsp-nocheck), issued by the
                                      intermediate
  ocsp-nokeyusage.pem / .key          issued by the intermediate WITHOUT
                                      id-kp-OCSPSigning (must not be accepted)
  stranger.pem / .key                 self-signed, unrelated to the PKI
  <leaf>.pem / <leaf>.key             leaf certificate only / its key
  <leaf>.chain.pem                    leaf + intermediate (SSLCertificateFile)
  index.txt (+ .attr)                 openssl-ocsp style index (V / R lines)
  pki.json                            metadata, read back by PKI.load()

Leaves made by generate(): rsa, ecdsa, noaia, revoked, muststaple, each valid
for NAME.test, e2e.test, *.e2e.test, localhost and IP 127.0.0.1. More can be
added later with issue_leaf(); the index and pki.json are rewritten.

The AIA OCSP URL of the leaves is given by the caller, so the responder's
socket must be bound (port known) before generate() is called.

CLI:  /usr/bin/python3 pki.py --dir DIR --ocsp-url http://127.0.0.1:PORT/ocsp
"""

import argparse
import datetime
import ipaddress
import json
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import (AuthorityInformationAccessOID,
                                   ExtendedKeyUsageOID, NameOID)

UTC = datetime.timezone.utc
# Every leaf is valid for this name and any name below it (a.e2e.test, ...).
SHARED_DOMAIN = "e2e.test"
# id-pe-tlsfeature value for status_request (RFC 7633): TLSFeatureType 5.
STATUS_REQUEST = x509.TLSFeatureType.status_request


def _now():
    return datetime.datetime.now(UTC).replace(microsecond=0)


def _name(cn):
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mod_ocspstaple tests"),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def _rsa_key(bits=2048):
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _ec_key():
    return ec.generate_private_key(ec.SECP256R1())


def _write(path, data, mode=0o644):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM,
                             serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _ca_cert(cn, key, issuer_name, issuer_key, not_before, not_after, path_length):
    """A CA certificate; self-signed when issuer_name is None."""
    b = (x509.CertificateBuilder()
         .subject_name(_name(cn))
         .issuer_name(issuer_name or _name(cn))
         .public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(not_before)
         .not_valid_after(not_after)
         .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), True)
         .add_extension(x509.KeyUsage(False, False, False, False, False,
                                      True, True, False, False), True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False))
    if issuer_name is not None:
        b = b.add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
            issuer_key.public_key()), False)
    return b.sign(issuer_key, hashes.SHA256())


def load_cert(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def load_key(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


class Leaf:
    """One leaf certificate and its files."""

    def __init__(self, pki, name, meta):
        self.pki = pki
        self.name = name
        self.serial = int(meta["serial"])
        self.key_type = meta["key_type"]
        self.dns = meta["dns"]
        self.has_aia = meta["has_aia"]
        self.must_staple = meta["must_staple"]
        self.revoked = meta["revoked"]
        d = pki.dir
        self.cert_path = os.path.join(d, name + ".pem")
        self.key_path = os.path.join(d, name + ".key")
        self.chain_path = os.path.join(d, name + ".chain.pem")
        self._cert = None

    @property
    def cert(self):
        if self._cert is None:
            self._cert = load_cert(self.cert_path)
        return self._cert

    @property
    def hostname(self):
        """The leaf's own DNS name (first SAN), e.g. 'rsa.test'."""
        return self.dns[0]

    @property
    def serial_hex(self):
        h = "%X" % self.serial
        return h if len(h) % 2 == 0 else "0" + h

    def __repr__(self):
        return "<Leaf %s serial=%s>" % (self.name, self.serial_hex)


class PKI:
    """A generated test PKI in a directory. Use PKI.generate() or PKI.load()."""

    def __init__(self, directory):
        self.dir = os.path.abspath(directory)
        with open(os.path.join(self.dir, "pki.json")) as f:
            self.meta = json.load(f)
        self.ocsp_url = self.meta["ocsp_url"]
        self.leaves = {n: Leaf(self, n, m) for n, m in self.meta["leaves"].items()}
        self._cache = {}

    # ---- paths ------------------------------------------------------------
    def path(self, name):
        return os.path.join(self.dir, name)

    @property
    def root_path(self):
        return self.path("root.pem")

    @property
    def intermediate_path(self):
        return self.path("intermediate.pem")

    @property
    def index_path(self):
        return self.path("index.txt")

    # ---- loaded objects -----------------------------------------------------
    def _load(self, fn, loader):
        if fn not in self._cache:
            self._cache[fn] = loader(self.path(fn))
        return self._cache[fn]

    def cert(self, stem):
        """'root', 'intermediate', 'ocsp-signer', 'ocsp-nokeyusage', 'stranger'"""
        return self._load(stem + ".pem", load_cert)

    def key(self, stem):
        return self._load(stem + ".key", load_key)

    def leaf(self, name):
        return self.leaves[name]

    def leaf_by_serial(self, serial):
        for leaf in self.leaves.values():
            if leaf.serial == serial:
                return leaf
        return None

    def reload(self):
        """Re-read pki.json (another process may have added leaves)."""
        self.__init__(self.dir)

    # ---- generation -----------------------------------------------------------
    @classmethod
    def generate(cls, directory, ocsp_url):
        os.makedirs(directory, exist_ok=True)
        os.chmod(directory, 0o755)
        now = _now()
        nb = now - datetime.timedelta(hours=1)

        root_key = _rsa_key()
        root = _ca_cert("Test Root CA", root_key, None, root_key, nb,
                        now + datetime.timedelta(days=3650), None)
        int_key = _rsa_key()
        inter = _ca_cert("Test Intermediate CA", int_key, root.subject, root_key, nb,
                         now + datetime.timedelta(days=3000), 0)

        _write(os.path.join(directory, "root.pem"), _pem(root))
        _write(os.path.join(directory, "root.key"), _key_pem(root_key), 0o600)
        _write(os.path.join(directory, "intermediate.pem"), _pem(inter))
        _write(os.path.join(directory, "intermediate.key"), _key_pem(int_key), 0o600)

        def signer(stem, cn, ocsp_eku):
            k = _ec_key()
            b = (x509.CertificateBuilder()
                 .subject_name(_name(cn))
                 .issuer_name(inter.subject)
                 .public_key(k.public_key())
                 .serial_number(x509.random_serial_number())
                 .not_valid_before(nb)
                 .not_valid_after(now + datetime.timedelta(days=365))
                 .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                 .add_extension(x509.KeyUsage(True, False, False, False, False,
                                              False, False, False, False), True)
                 .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                     int_key.public_key()), False))
            if ocsp_eku:
                b = (b.add_extension(x509.ExtendedKeyUsage(
                        [ExtendedKeyUsageOID.OCSP_SIGNING]), False)
                     .add_extension(x509.OCSPNoCheck(), False))
            else:
                b = b.add_extension(x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH]), False)
            c = b.sign(int_key, hashes.SHA256())
            _write(os.path.join(directory, stem + ".pem"), _pem(c))
            _write(os.path.join(directory, stem + ".key"), _key_pem(k), 0o600)

        signer("ocsp-signer", "Test OCSP Signer", True)
        signer("ocsp-nokeyusage", "Test Signer Without OCSPSigning", False)

        sk = _ec_key()
        stranger = (x509.CertificateBuilder()
                    .subject_name(_name("Test Intermediate CA"))  # same name, other key
                    .issuer_name(_name("Test Intermediate CA"))
                    .public_key(sk.public_key())
                    .serial_number(x509.random_serial_number())
                    .not_valid_before(nb)
                    .not_valid_after(now + datetime.timedelta(days=365))
                    .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                    .add_extension(x509.ExtendedKeyUsage(
                        [ExtendedKeyUsageOID.OCSP_SIGNING]), False)
                    .sign(sk, hashes.SHA256()))
        _write(os.path.join(directory, "stranger.pem"), _pem(stranger))
        _write(os.path.join(directory, "stranger.key"), _key_pem(sk), 0o600)

        meta = {"ocsp_url": ocsp_url, "leaves": {}}
        with open(os.path.join(directory, "pki.json"), "w") as f:
            json.dump(meta, f)
        os.chmod(os.path.join(directory, "pki.json"), 0o644)

        pki = cls(directory)
        pki.issue_leaf("rsa")
        pki.issue_leaf("ecdsa", key_type="ec")
        pki.issue_leaf("noaia", aia=False)
        pki.issue_leaf("revoked", revoked=True)
        pki.issue_leaf("muststaple", must_staple=True)
        return pki

    def issue_leaf(self, name, key_type="rsa", aia=True, revoked=False,
                   must_staple=False, dns=None, ocsp_urls=None, days=365):
        """Issues a new leaf from the intermediate, writes its files, adds it to
        index.txt and pki.json. dns: SAN names (default NAME.test, e2e.test,
        *.e2e.test, localhost: every leaf is valid for any name under
        e2e.test; OpenSSL refuses a bare "*.test" wildcard). ocsp_urls: AIA OCSP URLs (default [pki.ocsp_url])."""
        inter, int_key = self.cert("intermediate"), self.key("intermediate")
        key = _ec_key() if key_type == "ec" else _rsa_key()
        dns = list(dns or [name + ".test", SHARED_DOMAIN, "*." + SHARED_DOMAIN,
                           "localhost"])
        now = _now()
        serial = x509.random_serial_number()
        b = (x509.CertificateBuilder()
             .subject_name(_name(dns[0]))
             .issuer_name(inter.subject)
             .public_key(key.public_key())
             .serial_number(serial)
             .not_valid_before(now - datetime.timedelta(hours=1))
             .not_valid_after(now + datetime.timedelta(days=days))
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
             .add_extension(x509.KeyUsage(True, key_type != "ec", False, False,
                                          key_type == "ec", False, False, False,
                                          False), True)
             .add_extension(x509.ExtendedKeyUsage(
                 [ExtendedKeyUsageOID.SERVER_AUTH]), False)
             .add_extension(x509.SubjectAlternativeName(
                 [x509.DNSName(d) for d in dns] +
                 [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
             .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                 int_key.public_key()), False)
             .add_extension(x509.SubjectKeyIdentifier.from_public_key(
                 key.public_key()), False))
        if aia:
            urls = ocsp_urls if ocsp_urls is not None else [self.ocsp_url]
            b = b.add_extension(x509.AuthorityInformationAccess(
                [x509.AccessDescription(AuthorityInformationAccessOID.OCSP,
                                        x509.UniformResourceIdentifier(u))
                 for u in urls]), False)
        if must_staple:
            b = b.add_extension(x509.TLSFeature([STATUS_REQUEST]), False)
        cert = b.sign(int_key, hashes.SHA256())

        d = self.dir
        _write(os.path.join(d, name + ".pem"), _pem(cert))
        _write(os.path.join(d, name + ".key"), _key_pem(key), 0o600)
        _write(os.path.join(d, name + ".chain.pem"), _pem(cert) + _pem(inter))
        self.meta["leaves"][name] = {
            "serial": str(serial), "key_type": key_type, "dns": dns,
            "has_aia": aia, "must_staple": must_staple, "revoked": revoked,
            "not_after": cert.not_valid_after.strftime("%y%m%d%H%M%SZ"),
            "revoked_at": now.strftime("%y%m%d%H%M%SZ") if revoked else None,
            "subject": "/O=mod_ocspstaple tests/CN=" + dns[0],
        }
        self._save()
        return self.leaves[name]

    def set_revoked(self, name, revoked=True):
        """Marks a leaf revoked (or valid again) in index.txt and pki.json."""
        m = self.meta["leaves"][name]
        m["revoked"] = revoked
        m["revoked_at"] = _now().strftime("%y%m%d%H%M%SZ") if revoked else None
        self._save()

    def _save(self):
        p = os.path.join(self.dir, "pki.json")
        _write(p, json.dumps(self.meta, indent=1).encode())
        lines = []
        for n, m in self.meta["leaves"].items():
            h = "%X" % int(m["serial"])
            h = h if len(h) % 2 == 0 else "0" + h
            if m["revoked"]:
                lines.append("R\t%s\t%s,keyCompromise\t%s\tunknown\t%s"
                             % (m["not_after"], m["revoked_at"], h, m["subject"]))
            else:
                lines.append("V\t%s\t\t%s\tunknown\t%s"
                             % (m["not_after"], h, m["subject"]))
        _write(os.path.join(self.dir, "index.txt"), ("\n".join(lines) + "\n").encode())
        _write(os.path.join(self.dir, "index.txt.attr"), b"unique_subject = no\n")
        self.leaves = {k: Leaf(self, k, v) for k, v in self.meta["leaves"].items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--ocsp-url", required=True)
    a = ap.parse_args()
    pki = PKI.generate(a.dir, a.ocsp_url)
    for leaf in pki.leaves.values():
        print(leaf.name, leaf.serial_hex, leaf.chain_path)


if __name__ == "__main__":
    main()
