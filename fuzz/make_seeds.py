#!/usr/bin/python3
"""Seed inputs for the libFuzzer targets in fuzz/ (see fuzz/README in the
main README's "Fuzzing" section).

  /usr/bin/python3 fuzz/make_seeds.py            # seeds from the committed PKI
  /usr/bin/python3 fuzz/make_seeds.py --new-pki  # new keys and certificates too

Writes:
  fuzz/pki/*.pem         a small fixed test PKI (only with --new-pki, or when
                         missing); the keys are test keys, committed on purpose
  fuzz/pki/fixed_pki.h   the fuzzed leaf + issuer PEM as a C string
  fuzz/seeds/ocsp_verify/    OCSPResponse DER, named after what they test
  fuzz/seeds/staple_record/  staple_record_encode() of some of those
  fuzz/seeds/config_values/  first byte selects the parser, then the value

The fixed "now" of the ocsp_verify target is FUZZ_NOW below (also in
fixed_pki.h). Responses are built with a small DER writer rather than with
`openssl ocsp` so that thisUpdate/nextUpdate can be pinned to FUZZ_NOW and so
that responses OpenSSL's tools would never write (two SingleResponses,
unsupported CertID hashes, ...) can be made. Certificates are valid
2020..2099: OpenSSL checks a delegated signer against the real clock.
"""
import argparse
import datetime
import hashlib
import os
import shutil
import subprocess
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
PKI = os.path.join(HERE, "pki")
SEEDS = os.path.join(HERE, "seeds")

FUZZ_NOW = 1767225600          # 2026-01-01T00:00:00Z, the target's "now"
NOT_BEFORE = datetime.datetime(2020, 1, 1)
NOT_AFTER = datetime.datetime(2099, 12, 31)
LEAF_SERIAL = 0x1A2B3C4D5E6F
OTHER_SERIAL = 0x0BADC0DE01
OCSP_URL = "http://127.0.0.1:9/ocsp"

# ---------------------------------------------------------------- PKI ----

NAMES = ["root", "issuer", "leaf", "other_leaf", "delegated",
         "delegated_no_eku", "delegated_expired", "other_ca",
         "other_ca_delegated", "stranger", "impostor"]


def name(cn):
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME,
                                         "mod_ocspstaple fuzz"),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def new_key(kind):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def build_cert(subject, key, issuer_name, issuer_key, serial, ca=False,
               eku=None, aia=None, not_before=NOT_BEFORE,
               not_after=NOT_AFTER):
    b = (x509.CertificateBuilder().subject_name(subject)
         .issuer_name(issuer_name).public_key(key.public_key())
         .serial_number(serial).not_valid_before(not_before)
         .not_valid_after(not_after)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                        critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(
            digital_signature=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=True, crl_sign=True,
            encipher_only=False, decipher_only=False), critical=True)
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    if aia:
        b = b.add_extension(x509.AuthorityInformationAccess(
            [x509.AccessDescription(x509.oid.AuthorityInformationAccessOID.OCSP,
                                    x509.UniformResourceIdentifier(aia))]),
            critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def make_pki():
    os.makedirs(PKI, exist_ok=True)
    k = {n: new_key("rsa" if n in ("delegated", "other_ca") else "ec")
         for n in NAMES}
    c = {}
    c["root"] = build_cert(name("fuzz root"), k["root"], name("fuzz root"),
                           k["root"], 1, ca=True)
    c["issuer"] = build_cert(name("fuzz issuer"), k["issuer"],
                             c["root"].subject, k["root"], 2, ca=True)
    c["leaf"] = build_cert(name("leaf.example.test"), k["leaf"],
                           c["issuer"].subject, k["issuer"], LEAF_SERIAL,
                           aia=OCSP_URL)
    c["other_leaf"] = build_cert(name("other.example.test"), k["other_leaf"],
                                 c["issuer"].subject, k["issuer"],
                                 OTHER_SERIAL, aia=OCSP_URL)
    ocsp = [ExtendedKeyUsageOID.OCSP_SIGNING]
    c["delegated"] = build_cert(name("fuzz ocsp signer"), k["delegated"],
                                c["issuer"].subject, k["issuer"], 3, eku=ocsp)
    c["delegated_no_eku"] = build_cert(name("fuzz signer without eku"),
                                       k["delegated_no_eku"],
                                       c["issuer"].subject, k["issuer"], 4)
    c["delegated_expired"] = build_cert(
        name("fuzz expired signer"), k["delegated_expired"],
        c["issuer"].subject, k["issuer"], 5, eku=ocsp,
        not_after=datetime.datetime(2021, 1, 1))
    c["other_ca"] = build_cert(name("fuzz other ca"), k["other_ca"],
                               name("fuzz other ca"), k["other_ca"], 6,
                               ca=True)
    c["other_ca_delegated"] = build_cert(name("fuzz ocsp signer"),
                                         k["other_ca_delegated"],
                                         c["other_ca"].subject, k["other_ca"],
                                         7, eku=ocsp)
    c["stranger"] = build_cert(name("fuzz stranger"), k["stranger"],
                               name("fuzz stranger"), k["stranger"], 8)
    c["impostor"] = build_cert(c["issuer"].subject, k["impostor"],
                               c["issuer"].subject, k["impostor"], 9, ca=True)
    for n in NAMES:
        with open(os.path.join(PKI, n + ".pem"), "wb") as f:
            f.write(c[n].public_bytes(serialization.Encoding.PEM))
        with open(os.path.join(PKI, n + ".key"), "wb") as f:
            f.write(k[n].private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


def load_pki():
    c, k = {}, {}
    for n in NAMES:
        with open(os.path.join(PKI, n + ".pem"), "rb") as f:
            c[n] = x509.load_pem_x509_certificate(f.read())
        with open(os.path.join(PKI, n + ".key"), "rb") as f:
            k[n] = serialization.load_pem_private_key(f.read(), None)
    return c, k


def c_string(pem):
    return "".join('    "%s\\n"\n' % l for l in pem.splitlines()).rstrip("\n")


def write_header(c):
    pem = (c["leaf"].public_bytes(serialization.Encoding.PEM)
           + c["issuer"].public_bytes(serialization.Encoding.PEM)).decode()
    with open(os.path.join(PKI, "issuer.key")) as f:
        key = f.read()
    with open(os.path.join(PKI, "fixed_pki.h"), "w") as f:
        f.write("/* Generated by fuzz/make_seeds.py from fuzz/pki/: the certificate\n"
                " * and issuer the ocsp_verify fuzz target checks responses against,\n"
                " * and the issuer's (test) key, with which it re-signs mutated\n"
                " * responses. */\n"
                "#ifndef FUZZ_FIXED_PKI_H\n#define FUZZ_FIXED_PKI_H\n\n"
                "#define FUZZ_NOW %dLL /* %s */\n\n"
                "static const char fuzz_leaf_and_issuer_pem[] =\n%s;\n\n"
                "static const char fuzz_issuer_key_pem[] =\n%s;\n\n"
                "#endif\n" % (FUZZ_NOW, datetime.datetime.utcfromtimestamp(
                    FUZZ_NOW).isoformat() + "Z", c_string(pem),
                    c_string(key)))

# ---------------------------------------------------------------- DER ----


def tlv(tag, body):
    n = len(body)
    if n < 0x80:
        ln = bytes([n])
    else:
        b = n.to_bytes((n.bit_length() + 7) // 8, "big")
        ln = bytes([0x80 | len(b)]) + b
    return bytes([tag]) + ln + body


def seq(*parts):
    return tlv(0x30, b"".join(parts))


def integer(v):
    b = v.to_bytes((v.bit_length() + 8) // 8 or 1, "big", signed=True)
    return tlv(0x02, b)


def oid(dotted):
    arcs = [int(a) for a in dotted.split(".")]
    out = bytes([40 * arcs[0] + arcs[1]])
    for a in arcs[2:]:
        chunk = [a & 0x7F]
        a >>= 7
        while a:
            chunk.append(0x80 | (a & 0x7F))
            a >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, out)


def octets(b):
    return tlv(0x04, b)


def bitstring(b):
    return tlv(0x03, b"\x00" + b)


def gentime(t):
    s = datetime.datetime.utcfromtimestamp(t).strftime("%Y%m%d%H%M%SZ")
    return tlv(0x18, s.encode())


def explicit(n, body):
    return tlv(0xA0 | n, body)


def enumerated(v):
    return tlv(0x0A, bytes([v]))


NULL = b"\x05\x00"
HASH_OIDS = {"sha1": "1.3.14.3.2.26", "sha256": "2.16.840.1.101.3.4.2.1",
             "sha384": "2.16.840.1.101.3.4.2.2",
             "sha512": "2.16.840.1.101.3.4.2.3",
             "sha224": "2.16.840.1.101.3.4.2.4",
             "sha3_256": "2.16.840.1.101.3.4.2.8",
             "md5": "1.2.840.113549.2.5"}
OCSP_BASIC = "1.3.6.1.5.5.7.48.1.1"
OCSP_NONCE = "1.3.6.1.5.5.7.48.1.2"


def key_bits(cert):
    """Contents of the subjectPublicKey BIT STRING (without unused bits)."""
    pub = cert.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        return pub.public_bytes(serialization.Encoding.DER,
                                serialization.PublicFormat.PKCS1)
    return pub.public_bytes(serialization.Encoding.X962,
                            serialization.PublicFormat.UncompressedPoint)


def certid(cert, issuer, alg="sha1", alg_oid=None, params=True):
    h = hashlib.new(alg if alg in hashlib.algorithms_available else "sha1")
    nh = h.copy()
    nh.update(issuer.subject.public_bytes())
    kh = h.copy()
    kh.update(key_bits(issuer))
    algid = seq(oid(alg_oid or HASH_OIDS[alg]), NULL if params else b"")
    return seq(algid, octets(nh.digest()), octets(kh.digest()),
               integer(cert.serial_number))


def single(cid, status="good", this=FUZZ_NOW - 60, next_=FUZZ_NOW + 3600,
           revoked_at=FUZZ_NOW - 86400, reason=1, exts=b""):
    if status == "good":
        st = b"\x80\x00"
    elif status == "unknown":
        st = b"\x82\x00"
    else:
        body = gentime(revoked_at)
        if reason is not None:
            body += explicit(0, enumerated(reason))
        st = tlv(0xA1, body)
    out = cid + st + gentime(this)
    if next_ is not None:
        out += explicit(0, gentime(next_))
    if exts:
        out += explicit(1, exts)
    return seq(out)


def response_data(singles, responder, by_key=False, produced=FUZZ_NOW - 30,
                  exts=b"", version=False):
    if by_key:
        rid = tlv(0xA2, octets(hashlib.sha1(key_bits(responder)).digest()))
    else:
        rid = tlv(0xA1, responder.subject.public_bytes())
    out = (explicit(0, integer(0)) if version else b"") + rid
    out += gentime(produced) + seq(*singles)
    if exts:
        out += explicit(1, exts)
    return seq(out)


def sign(tbs, key):
    if isinstance(key, rsa.RSAPrivateKey):
        alg = seq(oid("1.2.840.113549.1.1.11"), NULL)
        sig = key.sign(tbs, padding.PKCS1v15(), hashes.SHA256())
    else:
        alg = seq(oid("1.2.840.10045.4.3.2"))
        sig = key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return alg, sig


def basic(tbs, key, certs=()):
    alg, sig = sign(tbs, key)
    out = tbs + alg + bitstring(sig)
    if certs:
        out += explicit(0, seq(*[c.public_bytes(serialization.Encoding.DER)
                                 for c in certs]))
    return seq(out)


def ocsp_response(basic_der, status=0, rtype=OCSP_BASIC):
    if basic_der is None:
        return seq(enumerated(status))
    return seq(enumerated(status),
               explicit(0, seq(oid(rtype), octets(basic_der))))

# -------------------------------------------------------------- seeds ----


def verify_seeds(c, k):
    leaf, iss = c["leaf"], c["issuer"]
    cid = certid(leaf, iss)
    out = {}

    def by(signer, singles, certs=(), **kw):
        tbs = response_data(singles, c[signer], **kw)
        return ocsp_response(basic(tbs, k[signer], certs))

    out["good-issuer"] = by("issuer", [single(cid)])
    out["good-issuer-with-cert"] = by("issuer", [single(cid)], [iss])
    out["good-issuer-bykey-v1-nonce"] = by(
        "issuer", [single(cid)], by_key=True, version=True,
        exts=seq(seq(oid(OCSP_NONCE), octets(octets(b"\x01" * 16)))))
    out["good-single-extension"] = by(
        "issuer", [single(cid, exts=seq(seq(oid("1.3.6.1.5.5.7.48.1.6"),
                                             octets(NULL))))])
    out["revoked-keycompromise"] = by("issuer", [single(cid, "revoked")])
    out["revoked-no-reason"] = by("issuer",
                                  [single(cid, "revoked", reason=None)])
    out["revoked-superseded"] = by("issuer",
                                   [single(cid, "revoked", reason=4)])
    out["unknown"] = by("issuer", [single(cid, "unknown")])
    out["good-delegated"] = by("delegated", [single(cid)], [c["delegated"]])
    out["good-delegated-bykey"] = by("delegated", [single(cid)],
                                     [c["delegated"]], by_key=True)
    out["revoked-delegated"] = by("delegated", [single(cid, "revoked")],
                                  [c["delegated"]])
    out["bad-delegated-no-eku"] = by("delegated_no_eku", [single(cid)],
                                     [c["delegated_no_eku"]])
    out["bad-delegated-expired"] = by("delegated_expired", [single(cid)],
                                      [c["delegated_expired"]])
    out["bad-delegated-other-ca"] = by("other_ca_delegated", [single(cid)],
                                       [c["other_ca_delegated"], c["other_ca"]])
    out["bad-delegated-not-included"] = by("delegated", [single(cid)])
    out["bad-stranger"] = by("stranger", [single(cid)], [c["stranger"]])
    out["bad-impostor"] = by("impostor", [single(cid)], [c["impostor"]])
    out["bad-root-signed"] = by("root", [single(cid)], [c["root"]])
    for alg in ("sha224", "sha256", "sha384", "sha512", "sha3_256"):
        out["good-certid-" + alg] = by("issuer", [single(certid(leaf, iss,
                                                                alg))])
    out["good-certid-sha1-no-params"] = by(
        "issuer", [single(certid(leaf, iss, params=False))])
    out["good-certid-md5"] = by("issuer", [single(certid(leaf, iss, "md5"))])
    out["bad-certid-unsupported-hash"] = by(
        "issuer", [single(certid(leaf, iss, alg_oid="1.2.3.4.5"))])
    other = certid(c["other_leaf"], iss)
    out["good-second-of-two"] = by("issuer", [single(other), single(cid)])
    out["good-two-hashes"] = by(
        "issuer", [single(certid(c["other_leaf"], iss, "sha256")),
                   single(certid(c["other_leaf"], iss, "sha384")),
                   single(certid(leaf, iss, "sha1"))])
    out["good-sha256-second-of-two"] = by(
        "issuer", [single(certid(c["other_leaf"], iss, "sha256")),
                   single(certid(leaf, iss, "sha256"))])
    out["good-sha512-after-sha256"] = by(
        "issuer", [single(certid(c["other_leaf"], iss, "sha256")),
                   single(certid(leaf, iss, "sha512"))])
    # OpenSSL refuses these at the signature step: every CertID of a
    # response must name the signer's issuer with a hash it knows.
    out["bad-unsupported-hash-among-others"] = by(
        "issuer", [single(certid(leaf, iss, alg_oid="1.2.3.4.5")),
                   single(certid(c["other_leaf"], iss, "sha256")),
                   single(certid(leaf, iss, "sha256"))])
    out["bad-other-certificate"] = by("issuer", [single(other)])
    out["bad-no-single"] = by("issuer", [])
    out["bad-expired"] = by("issuer", [single(cid, this=FUZZ_NOW - 7200,
                                              next_=FUZZ_NOW - 3600)])
    out["good-expired-within-skew"] = by(
        "issuer", [single(cid, this=FUZZ_NOW - 7200, next_=FUZZ_NOW - 100)])
    out["bad-not-yet-valid"] = by("issuer", [single(cid,
                                                    this=FUZZ_NOW + 3600)])
    out["good-no-next-update"] = by("issuer", [single(cid, next_=None)])
    out["bad-no-next-update-too-old"] = by(
        "issuer", [single(cid, this=FUZZ_NOW - 86400, next_=None)])
    out["bad-next-before-this"] = by(
        "issuer", [single(cid, this=FUZZ_NOW - 60, next_=FUZZ_NOW - 120)])
    out["good-far-future-next"] = by(
        "issuer", [single(cid, next_=253402300799)])       # 9999-12-31
    good = out["good-issuer"]
    bad_sig = bytearray(good)
    bad_sig[-10] ^= 0x01
    out["bad-signature-bit"] = bytes(bad_sig)
    out["bad-trailing-bytes"] = good + b"\x00\x00"
    out["bad-truncated"] = good[:len(good) // 2]
    out["bad-empty-sequence"] = seq()
    for st, nm in ((1, "malformedRequest"), (2, "internalError"),
                   (3, "tryLater"), (5, "sigRequired"), (6, "unauthorized"),
                   (4, "unused-4"), (0, "successful-no-body")):
        out["status-" + nm] = ocsp_response(None, st)
    out["bad-not-basic-type"] = ocsp_response(
        response_data([single(cid)], iss), 0, rtype="1.3.6.1.5.5.7.48.1.99")
    out["good-padded-certs"] = by("issuer", [single(cid)],
                                 [iss, c["root"]] + [c["stranger"]] * 8)
    # Over OCSPStapleMaxResponseSize's default (65536 bytes), otherwise good.
    n = (65536 - len(out["good-issuer"])) // len(
        c["stranger"].public_bytes(serialization.Encoding.DER)) + 1
    out["bad-too-large"] = by("issuer", [single(cid)], [c["stranger"]] * n)
    assert len(out["bad-too-large"]) > 65536, len(out["bad-too-large"])
    return out


def record_seeds(verify):
    """Runs staple_record_encode() (the real encoder) over some responses."""
    tool = os.path.join(TOP, "build", "fuzz", "make_record_seeds")
    os.makedirs(os.path.dirname(tool), exist_ok=True)
    apr = subprocess.run(["apr-1-config", "--cflags", "--cppflags",
                          "--includes", "--link-ld", "--libs"],
                         capture_output=True, text=True, check=True,
                         timeout=30).stdout.split()
    subprocess.run(["cc", "-std=gnu99", "-I" + TOP, "-o", tool,
                    os.path.join(HERE, "make_record_seeds.c"),
                    os.path.join(TOP, "staple_record.c")] + apr,
                   check=True, timeout=120)
    outdir = os.path.join(SEEDS, "staple_record")
    # (name, response, cert_status, flags, thisUpdate, nextUpdate, id len)
    jobs = [("good", "good-issuer", 0, 0, FUZZ_NOW - 60, FUZZ_NOW + 3600, 20),
            ("revoked-seen", "revoked-keycompromise", 1, 1, FUZZ_NOW - 60,
             FUZZ_NOW + 3600, 20),
            ("delegated-id64", "good-delegated", 0, 0, FUZZ_NOW - 60,
             FUZZ_NOW + 3600, 64),
            ("sha256-id1", "good-certid-sha256", 0, 0, FUZZ_NOW - 60,
             FUZZ_NOW + 3600, 1),
            ("tiny", None, 0, 0xffff, -1, 0, 20)]
    for nm, resp, st, flags, this, nxt, idlen in jobs:
        der = verify[resp] if resp else b"\x30\x00"
        src = os.path.join(TOP, "build", "fuzz", "rec-in.der")
        with open(src, "wb") as f:
            f.write(der)
        subprocess.run([tool, src, os.path.join(outdir, nm), str(st),
                        str(flags), str(this), str(nxt), str(FUZZ_NOW),
                        str(idlen)], check=True, timeout=30)
    with open(os.path.join(outdir, "good"), "rb") as f:
        rec = f.read()
    extra = {"bad-magic": b"OSR2" + rec[4:],
             "bad-truncated": rec[:-1],
             "bad-padded": rec + b"\x00",
             "bad-header-only": rec[:33],
             "bad-id-zero": rec[:32] + b"\x00" + rec[33:],
             "bad-next-before-this": rec[:8] + rec[16:24] + rec[8:16]
             + rec[24:]}
    for nm, b in extra.items():
        with open(os.path.join(outdir, nm), "wb") as f:
            f.write(b)


# Selector bytes of the config_values target (fuzz/fuzz_config_values.c):
# first byte % 7 picks the parser, second byte % 4 the range (where the
# parser takes one); the rest is the value.
CONFIG = [
    (0, 0, ["90", "90s", "30m", "6h", "2d", "0", "301", "5m", "-1", " 1",
            "1.5", "10x", "99999999999999999999", "9223372036854775807d",
            "", "1hh"]),
    (1, 0, ["on", "OFF", "maybe", "1", "", "onn"]),
    (2, 0, ["off", "30", "1h", "0", "maybe", "2d", "31d"]),
    (3, 0, ["65536", "64k", "1M", "0", "10x", "17m", "-5", "1g", "16384k"]),
    (4, 0, ["50%", "6h", "90", "1%", "99%", "0%", "100%", "%", "5 %",
            "1234567%", "50%%", "367d", "-1%"]),
    (5, 0, ["http://ocsp.example.org", "https://ocsp.example.org:8443/x",
            "http://127.0.0.1:4711/ocsp", "http://[::1]:4711/", "ftp://x",
            "not-a-url", "http://", "/ocsp", "file:///etc/passwd",
            "http://a b/", "", "http://user:pw@h:99999/p?q#f", "HTTP://X"]),
    (6, 0, ["shmcb", "shmcb:/run/x(1048576)", "memcache:127.0.0.1:11211",
            "redis:h:1", "", ":x", "x:", "dbm:/tmp/x"]),
]


def config_seeds():
    outdir = os.path.join(SEEDS, "config_values")
    for sel, rng, values in CONFIG:
        for i, v in enumerate(values):
            ranges = (rng,) if sel in (1, 4, 5, 6) else (0, 1, 2, 3)
            for r in ranges[:2] if i else ranges:
                with open(os.path.join(outdir, "p%d-r%d-%02d" % (sel, r, i)),
                          "wb") as f:
                    f.write(bytes([sel, r]) + v.encode())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--new-pki", action="store_true",
                    help="generate new keys and certificates first")
    a = ap.parse_args()
    if a.new_pki or not os.path.exists(os.path.join(PKI, "issuer.key")):
        make_pki()
    c, k = load_pki()
    write_header(c)
    for t in ("ocsp_verify", "staple_record", "config_values"):
        shutil.rmtree(os.path.join(SEEDS, t), ignore_errors=True)
        os.makedirs(os.path.join(SEEDS, t))
    verify = verify_seeds(c, k)
    for nm, der in verify.items():
        with open(os.path.join(SEEDS, "ocsp_verify", nm), "wb") as f:
            f.write(der)
    record_seeds(verify)
    config_seeds()
    for t in ("ocsp_verify", "staple_record", "config_values"):
        d = os.path.join(SEEDS, t)
        print("%-14s %3d seeds, %6d bytes" % (
            t, len(os.listdir(d)),
            sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))))


if __name__ == "__main__":
    sys.exit(main())
