"""What admins see (design section 5): the server-status section (HTML and
?auto), the ocspstaple-status JSON handler with refresh on demand, and the
ocspstaple-metrics Prometheus handler, all loaded from
conf-examples/status.conf.

The test bed arranges one certificate per state:
  rsa      good        (the test responder answers)
  revoked  revoked     (the responder's index says so)
  ecdsa    missing     (OCSPStapleResponderURL names a port nobody listens on)
  noaia    no_responder (no AIA OCSP URL)

The screenshot test renders server-status with headless Chromium (skipped
when /usr/bin/chromium is missing). It writes into its temporary directory;
to refresh the README's picture run

  OCSPSTAPLE_SCREENSHOT_OUT=$PWD/docs/server-status.png \\
      /usr/bin/python3 -m pytest -q -p no:cacheprovider \\
      tests/e2e/test_status.py -k screenshot
"""

import calendar
import hashlib
import html.parser
import http.client
import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import time
import urllib.parse

import pytest
from cryptography.hazmat.primitives import serialization

import clients
from httpd_env import CONF_EXAMPLES, free_port
from refresh_helpers import wait_refresher_ticks

pytestmark = pytest.mark.module

STATUS_CONF = os.path.join(CONF_EXAMPLES, "status.conf")
CHROMIUM = "/usr/bin/chromium"
STATES = ("good", "expiring", "failing", "revoked", "missing", "expired",
          "no_responder")
ERROR_CLASSES = ("network", "timeout", "http_status", "too_large",
                 "verification", "responder_status", "policy", "other")
# Responses of the test responder are valid for an hour (nmin 60).
VALIDITY = 3600


# ---- HTTP ----------------------------------------------------------------------

class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<HTTP %s %s: %s>" % (self.status, self.headers.get("Content-Type"),
                                     self.body[:500])


def request(port, method, path, body=None, host="127.0.0.1", source="127.0.0.1",
            headers=None):
    """One request on a fresh connection from the given source address (all
    of 127/8 is local on Linux)."""
    conn = http.client.HTTPConnection(host, port, timeout=10,
                                      source_address=(source, 0))
    try:
        hdrs = dict(headers or {})
        if body is not None and "Content-Type" not in hdrs:
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        return Reply(r.status, {k: v for k, v in r.getheaders()}, r.read())
    finally:
        conn.close()


def get(env, path):
    r = request(env.http_port, "GET", path)
    assert r.status == 200, r
    return r


def status_json(env):
    r = get(env, "/ocspstaple-status")
    assert r.headers["Content-Type"] == "application/json", r
    return r.json()


def post_refresh(env, value, port=None, source="127.0.0.1", host="127.0.0.1"):
    return request(port or env.http_port, "POST", "/ocspstaple-status",
                   body=urllib.parse.urlencode([("refresh", value)]),
                   host=host, source=source)


# ---- parsers -----------------------------------------------------------------

def parse_auto(text, listed=None):
    """server-status?auto: (totals {Key: value}, [per certificate {Key: value}]).
    Every OCSPStaple line must be "Key: value". With listed (a dict), a
    filtered listing: the indexes (each certificate's place in the full
    list) go into it, index -> {Key: value}."""
    totals, certs = {}, {}
    for line in text.split("\n"):
        if not line.startswith("OCSPStaple"):
            continue
        m = re.match(r"^OCSPStaple(?:\[(\d+)\])?([A-Za-z]+): (.*)$", line)
        assert m, "malformed ?auto line %r" % line
        idx, key, value = m.groups()
        if idx is None:
            assert key not in totals, "duplicate %s" % key
            totals[key] = value
        else:
            d = certs.setdefault(int(idx), {})
            assert key not in d, "duplicate %s[%s]" % (key, idx)
            d[key] = value
    if listed is not None:
        listed.update(certs)
    else:
        assert sorted(certs) == list(range(len(certs))), "indexes not 0..n-1"
    return totals, [certs[i] for i in sorted(certs)]


NAME_RX = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_RX = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
PROM_TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class PromSample:
    def __init__(self, name, labels, value):
        self.name, self.labels, self.value = name, labels, value

    def __repr__(self):
        return "%s%r %s" % (self.name, self.labels, self.value)


def parse_prometheus(text):
    """A strict parser of the text exposition format 0.0.4. Every non-comment
    line is `name{label="value",...} value [timestamp]`; every family has
    exactly one HELP and one TYPE, both before its first sample; a family's
    samples are contiguous; no series appears twice; label values use only
    the escapes \\\\ \\" \\n. Returns ({family: type}, [PromSample])."""
    assert text.endswith("\n"), "last line not terminated"
    helps, types, samples = {}, {}, []
    seen_series, closed, current = set(), set(), None
    for no, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d: %r" % (no, line)
        if line == "":
            continue
        if line.startswith("#"):
            m = re.match(r"^# (HELP|TYPE) (\S+) (.*)$", line)
            if not m:
                continue  # a plain comment
            kind, name, rest = m.groups()
            assert NAME_RX.fullmatch(name), where
            assert name not in closed and name != current, \
                "%s after the family's samples: %s" % (kind, where)
            table = helps if kind == "HELP" else types
            assert name not in table, "second %s: %s" % (kind, where)
            if kind == "TYPE":
                assert rest in PROM_TYPES, where
            else:
                assert not re.search(r"\\[^\\n]", rest), "bad escape in HELP: " + where
            table[name] = rest
            continue
        m = NAME_RX.match(line)
        assert m, "bad metric name: " + where
        name, i = m.group(0), m.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            i += 1
            while line[i] != "}":
                lm = LABEL_RX.match(line, i)
                assert lm and line[lm.end():lm.end() + 2] == '="', "bad label: " + where
                lname, i = lm.group(0), lm.end() + 2
                value = []
                while True:
                    assert i < len(line), "unterminated label value: " + where
                    c = line[i]
                    if c == '"':
                        i += 1
                        break
                    if c == "\\":
                        nxt = line[i + 1:i + 2]
                        assert nxt in ("\\", '"', "n"), "bad escape: " + where
                        value.append("\n" if nxt == "n" else nxt)
                        i += 2
                        continue
                    value.append(c)
                    i += 1
                assert lname not in labels, "label twice: " + where
                labels[lname] = "".join(value)
                if line[i] == ",":
                    i += 1
                else:
                    assert line[i] == "}", "expected , or }: " + where
            i += 1
        assert line[i:i + 1] == " ", "no space before the value: " + where
        parts = line[i + 1:].split(" ")
        assert 1 <= len(parts) <= 2 and parts[0], "bad value: " + where
        if parts[0] in ("NaN", "+Inf", "-Inf"):
            value = float(parts[0].replace("Inf", "inf").replace("NaN", "nan"))
        else:
            assert re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", parts[0]), \
                "value is not a number: " + where
            value = float(parts[0])
        if len(parts) == 2:
            assert re.fullmatch(r"-?\d+", parts[1]), "bad timestamp: " + where
        assert name in helps and name in types, "sample without HELP and TYPE: " + where
        assert name not in closed, "family samples not contiguous: " + where
        if current is not None and current != name:
            closed.add(current)
        current = name
        series = (name, tuple(sorted(labels.items())))
        assert series not in seen_series, "series twice: " + where
        seen_series.add(series)
        samples.append(PromSample(name, labels, value))
    return types, samples


def prom_value(samples, name, **labels):
    hits = [s.value for s in samples if s.name == name and
            all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(hits) == 1, "%s%r: %d samples" % (name, labels, len(hits))
    return hits[0]


class StatusTable(html.parser.HTMLParser):
    """Rows of <table class="ocspstaple">: [(row attrs, [cell text])]."""

    def __init__(self):
        super().__init__()
        self.heading = []
        self.rows = []
        self.headers = []
        self._in_table = self._in_h2 = False
        self._cell = None
        self._row = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "h2":
            self._in_h2 = True
        if tag == "table" and (a.get("class") or "").split() == ["ocspstaple"]:
            self._in_table = True
        if not self._in_table:
            return
        if tag == "tr":
            self._row = (a, [])
        elif tag in ("td", "th"):
            self._cell = (tag, a, [])
        elif tag == "br" and self._cell:
            self._cell[2].append(" ")

    def handle_endtag(self, tag):
        if tag == "h2":
            self._in_h2 = False
        if not self._in_table:
            return
        if tag in ("td", "th") and self._cell:
            kind, a, text = self._cell
            if kind == "th":
                self.headers.append("".join(text))
            else:
                self._row[1].append(("".join(text), a))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row[1]:
                self.rows.append(self._row)
            self._row = None
        elif tag == "table":
            self._in_table = False

    def handle_data(self, data):
        if self._in_h2:
            self.heading.append(data)
        if self._cell:
            self._cell[2].append(data)


# ---- the test bed ------------------------------------------------------------

def cert_id(leaf):
    """mod_ssl's certificate id: SHA-1 of the leaf's DER, hex."""
    return hashlib.sha1(leaf.cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def make_env(pki, new_httpd, expect_log, mpm="event", extra_leaves=(),
             server_lines=()):
    # Revocation is logged at error on purpose; the dead responder's first
    # failure at warn (both design 4.4 / 5).
    expect_log(r"OCSPS0031: .*revoked", levels="error")
    expect_log(r"OCSPS0040: CN=ecdsa\.test", levels="warn")
    env = new_httpd(mpm=mpm)
    env.dead_port = free_port()
    env.add_vhost("rsa.test", pki.leaf("rsa"))
    env.add_vhost("revoked.test", pki.leaf("revoked"))
    env.add_vhost("ecdsa.test", pki.leaf("ecdsa"), extra=[
        "OCSPStapleResponderURL http://127.0.0.1:%d/ocsp" % env.dead_port])
    env.add_vhost("noaia.test", pki.leaf("noaia"))
    for name in extra_leaves:
        env.add_vhost(name + ".test", pki.leaf(name))
    env.server_lines.extend(server_lines)
    env.tail_lines.append("Include %s" % STATUS_CONF)
    env.start()
    return env


@pytest.fixture
def env(pki, responder, new_httpd, expect_log):
    return make_env(pki, new_httpd, expect_log)


def by_serial(certs, key, leaf):
    hits = [c for c in certs if c[key] == leaf.serial_hex]
    assert len(hits) == 1, (leaf, certs)
    return hits[0]


def iso(t):
    return calendar.timegm(time.strptime(t, "%Y-%m-%dT%H:%M:%SZ"))


def wait_json(env, pred, timeout=15, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        doc = status_json(env)
        if pred(doc):
            return doc
        assert time.monotonic() < deadline, "%s not reached in %ss: %s" % (
            what, timeout, json.dumps(doc, indent=1))
        time.sleep(0.2)


def json_cert(doc, leaf):
    hits = [c for c in doc["certificates"] if c["serial"] == leaf.serial_hex]
    assert len(hits) == 1
    return hits[0]


# ---- tests -----------------------------------------------------------------------

def test_auto_lines_match_the_arrangement(pki, env):
    text = env.server_status(auto=True)
    totals, certs = parse_auto(text)
    assert totals["Certificates"] == "4"
    assert totals["Good"] == "1"
    assert totals["Revoked"] == "1"
    assert totals["Missing"] == "1"
    assert totals["NoResponder"] == "1"
    assert totals["Expiring"] == "0" and totals["Failing"] == "0"
    assert totals["Served"] == "0" and totals["Unserved"] == "0"
    assert len(certs) == 4
    # the totals are the sums of one consistent snapshot
    for key in ("Fetches", "FetchErrors", "Served", "Unserved"):
        assert int(totals[key]) == sum(int(c[key]) for c in certs), key
    assert int(totals["FetchErrors"]) >= 1
    assert int(totals["Fetches"]) >= 3

    rsa = by_serial(certs, "Serial", pki.leaf("rsa"))
    assert rsa["State"] == "good" and rsa["CertStatus"] == "good"
    assert rsa["Id"] == cert_id(pki.leaf("rsa"))
    assert rsa["Subject"] == "CN=rsa.test,O=mod_ocspstaple tests"
    assert rsa["Vhosts"] == "rsa.test:%d" % env.port
    assert rsa["Responder"] == pki.ocsp_url
    assert rsa["MustStaple"] == "no"
    assert rsa["LastResult"] == "ok" and rsa["Failures"] == "0"
    assert rsa["Fetches"] == "1" and rsa["FetchErrors"] == "0"
    assert iso(rsa["NextUpdate"]) - iso(rsa["ThisUpdate"]) == VALIDITY
    assert abs(iso(rsa["LastSuccess"]) - time.time()) < 60
    assert iso(rsa["ThisUpdate"]) < iso(rsa["NextRefresh"]) < iso(rsa["NextUpdate"])

    rev = by_serial(certs, "Serial", pki.leaf("revoked"))
    assert rev["State"] == "revoked" and rev["CertStatus"] == "revoked"

    missing = by_serial(certs, "Serial", pki.leaf("ecdsa"))
    assert missing["State"] == "missing" and missing["CertStatus"] == "none"
    assert missing["Responder"] == "http://127.0.0.1:%d/ocsp" % env.dead_port
    assert missing["ThisUpdate"] == "-" and missing["LastSuccess"] == "-"
    assert int(missing["Failures"]) >= 1
    assert int(missing["ErrorsNetwork"]) >= 1
    assert int(missing["FetchErrors"]) == sum(
        int(missing["Errors" + k]) for k in ("Network", "Timeout", "HttpStatus",
                                             "TooLarge", "Verification",
                                             "ResponderStatus", "Policy", "Other"))

    noaia = by_serial(certs, "Serial", pki.leaf("noaia"))
    assert noaia["State"] == "no_responder" and noaia["Responder"] == "-"
    assert noaia["Fetches"] == "0" and noaia["NextRefresh"] == "-"


def test_html_one_row_per_certificate(pki, env):
    page = env.server_status(auto=False)
    t = StatusTable()
    t.feed(page)
    assert "OCSP Stapling (mod_ocspstaple)" in "".join(t.heading)
    assert len(t.rows) == 4, t.rows
    for col in ("Virtual hosts", "Subject", "Serial", "Responder", "Must-Staple",
                "State", "thisUpdate", "nextUpdate", "Next refresh", "Last fetch",
                "Last result", "Failures", "Served"):
        assert col in t.headers, col
    state_col = t.headers.index("State")
    serial_col = t.headers.index("Serial")
    states = {}
    for attrs, cells in t.rows:
        assert len(cells) == len(t.headers)
        text, cell_attrs = cells[state_col]
        # the state is visible at a glance: a class per state on its cell
        assert cell_attrs["class"] == "st st-" + text
        assert attrs["class"] == "row-" + text
        states[cells[serial_col][0]] = text
    assert states == {pki.leaf("rsa").serial_hex: "good",
                      pki.leaf("revoked").serial_hex: "revoked",
                      pki.leaf("ecdsa").serial_hex: "missing",
                      pki.leaf("noaia").serial_hex: "no_responder"}
    assert ".ocspstaple .st-revoked{" in page
    # mod_status's own page is still complete after our section
    assert page.rstrip().endswith("</html>")


def test_json_document(pki, env):
    r = get(env, "/ocspstaple-status")
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers.get("Cache-Control") == "no-store"
    doc = r.json()
    assert abs(iso(doc["time"]) - time.time()) < 60
    t = doc["totals"]
    assert (t["certificates"], t["good"], t["revoked"], t["missing"],
            t["no_responder"]) == (4, 1, 1, 1, 1)
    assert t["fetch_errors"] == sum(t["fetch_errors_by_class"].values())
    assert t["fetch_errors_by_class"]["network"] >= 1
    assert list(t["fetch_errors_by_class"]) == list(ERROR_CLASSES)
    certs = doc["certificates"]
    assert len(certs) == 4
    for c in certs:
        assert re.fullmatch(r"[0-9a-f]{40}", c["id"])
        assert c["state"] in STATES
    rsa = json_cert(doc, pki.leaf("rsa"))
    assert rsa["id"] == cert_id(pki.leaf("rsa"))
    assert rsa["state"] == "good" and rsa["cert_status"] == "good"
    assert rsa["must_staple"] == "no" and rsa["failures"] == 0
    assert iso(rsa["next_update"]) - iso(rsa["this_update"]) == VALIDITY
    assert json_cert(doc, pki.leaf("revoked"))["state"] == "revoked"
    miss = json_cert(doc, pki.leaf("ecdsa"))
    assert miss["state"] == "missing" and miss["this_update"] is None
    assert miss["errors_network"] >= 1
    noaia = json_cert(doc, pki.leaf("noaia"))
    assert noaia["state"] == "no_responder" and noaia["responder"] == ""
    # the same numbers as ?auto (both read the shared slots)
    totals, _ = parse_auto(env.server_status(auto=True))
    assert int(totals["Good"]) == t["good"]


def test_metrics_parse_strictly(pki, env):
    r = get(env, "/ocspstaple-metrics")
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    types, samples = parse_prometheus(r.text)
    assert all(name.startswith("ocspstaple_") for name in types)
    info = [s for s in samples if s.name == "ocspstaple_certificate_info"]
    assert len(info) == 4 and all(s.value == 1 for s in info)
    status = {s.labels["serial"]: s.labels["status"] for s in info}
    assert status == {pki.leaf("rsa").serial_hex: "good",
                      pki.leaf("revoked").serial_hex: "revoked",
                      pki.leaf("ecdsa").serial_hex: "missing",
                      pki.leaf("noaia").serial_hex: "no_responder"}
    rsa, miss = cert_id(pki.leaf("rsa")), cert_id(pki.leaf("ecdsa"))
    until = prom_value(samples, "ocspstaple_seconds_until_next_update", id=rsa)
    assert VALIDITY - 60 < until <= VALIDITY
    assert 0 <= prom_value(samples, "ocspstaple_seconds_since_last_success", id=rsa) < 60
    assert prom_value(samples, "ocspstaple_consecutive_failures", id=rsa) == 0
    assert prom_value(samples, "ocspstaple_consecutive_failures", id=miss) >= 1
    # nothing to count down for a certificate without a response
    assert not [s for s in samples if s.name == "ocspstaple_seconds_until_next_update"
                and s.labels["id"] == miss]
    assert types["ocspstaple_fetch_errors_total"] == "counter"
    assert types["ocspstaple_seconds_until_next_update"] == "gauge"
    for cls in ERROR_CLASSES:
        prom_value(samples, "ocspstaple_fetch_errors_total", **{"class": cls})
    assert prom_value(samples, "ocspstaple_fetch_errors_total", **{"class": "network"}) >= 1
    for st in STATES:
        want = 1 if st in ("good", "revoked", "missing", "no_responder") else 0
        assert prom_value(samples, "ocspstaple_certificates", state=st) == want
    assert prom_value(samples, "ocspstaple_staples_served_total") == 0
    assert prom_value(samples, "ocspstaple_handshakes_unstapled_total") == 0
    fetches = prom_value(samples, "ocspstaple_fetches_total")
    assert fetches == sum(s.value for s in samples
                          if s.name == "ocspstaple_certificate_fetches_total")


def test_prometheus_parser_is_strict():
    """The parser the tests rely on refuses what the format forbids."""
    ok = ('# HELP m_total x\n# TYPE m_total counter\n'
          'm_total{a="x\\\\y\\"z\\n",b=""} 1.5e3 1700000000000\n\n'
          '# just a comment\n# HELP g y\n# TYPE g gauge\ng -Inf\n')
    types, samples = parse_prometheus(ok)
    assert samples[0].labels["a"] == 'x\\y"z\n' and samples[0].value == 1500
    bad = ["m 1\n",
           "# HELP m x\nm 1\n",
           "# HELP m x\n# TYPE m gauge\nm{a=\"b\\q\"} 1\n",
           "# HELP m x\n# TYPE m gauge\nm{a=\"b\"c\"} 1\n",
           "# HELP m x\n# TYPE m gauge\nm{a=b} 1\n",
           "# HELP m x\n# TYPE m gauge\nm{a=\"1\",a=\"2\"} 1\n",
           "# HELP m x\n# TYPE m gauge\nm one\n",
           "# HELP m x\n# TYPE m gauge\nm 1",
           "# HELP m x\n# TYPE m gauge\nm 1\nm 2\n",
           "# HELP m x\n# TYPE m thing\nm 1\n",
           "# HELP m x\n# TYPE m gauge\nm 1\n# HELP m y\n",
           "# HELP m x\n# TYPE m gauge\n# HELP n x\n# TYPE n gauge\n"
           "m{a=\"1\"} 1\nn 1\nm{a=\"2\"} 1\n"]
    for text in bad:
        with pytest.raises(AssertionError):
            parse_prometheus(text)


def test_counters_move_with_handshakes(pki, responder, new_httpd, expect_log):
    """Handshakes that ask for a staple count as served (or unstapled), in
    whichever child they land (prefork: several processes); those that do
    not ask count nowhere."""
    env = make_env(pki, new_httpd, expect_log, mpm="prefork")
    _, before = parse_prometheus(get(env, "/ocspstaple-metrics").text)
    rsa, noaia = cert_id(pki.leaf("rsa")), cert_id(pki.leaf("noaia"))
    for _ in range(5):
        r = clients.s_client(env.port, "rsa.test", pki.root_path)
        assert r.stapled and r.cert_status == "good", r
    for _ in range(3):
        r = clients.s_client(env.port, "noaia.test", pki.root_path)
        assert r.handshake_ok and r.no_response, r
    for _ in range(2):
        r = clients.s_client(env.port, "rsa.test", pki.root_path, status=False)
        assert r.handshake_ok, r
    r = clients.s_client(env.port, "revoked.test", pki.root_path)
    assert r.cert_status == "revoked", r
    # the same numbers whichever child answers (a fresh connection each time)
    answers = set()
    for _ in range(8):
        _, after = parse_prometheus(get(env, "/ocspstaple-metrics").text)
        # (not the fetch counters: the dead responder is retried meanwhile)
        answers.add(tuple(s.value for s in after
                          if "served" in s.name or "unstapled" in s.name))
    assert len(answers) == 1, answers

    def delta(name, **labels):
        return prom_value(after, name, **labels) - prom_value(before, name, **labels)

    assert delta("ocspstaple_certificate_staples_served_total", id=rsa) == 5
    # Unstapled means "should have had a staple and did not": a certificate
    # without an OCSP URL never counts (issue 11: the README's alert on
    # this counter must not fire for such a vhost).
    assert delta("ocspstaple_certificate_handshakes_unstapled_total", id=noaia) == 0
    assert delta("ocspstaple_certificate_handshakes_unstapled_total", id=rsa) == 0
    assert delta("ocspstaple_staples_served_total") == 6       # 5 rsa + 1 revoked
    assert delta("ocspstaple_handshakes_unstapled_total") == 0
    totals, certs = parse_auto(env.server_status(auto=True))
    assert totals["Served"] == "6" and totals["Unserved"] == "0"
    assert by_serial(certs, "Serial", pki.leaf("rsa"))["Served"] == "5"
    assert by_serial(certs, "Serial", pki.leaf("noaia"))["Unserved"] == "0"
    doc = status_json(env)
    assert (doc["totals"]["served"], doc["totals"]["unserved"]) == (6, 0)


def test_failed_fetch_counts_as_fetch_error(pki, responder, env, expect_log):
    expect_log(r"OCSPS0040: CN=rsa\.test", levels="warn")
    rsa = pki.leaf("rsa")
    _, before = parse_prometheus(get(env, "/ocspstaple-metrics").text)
    b = json_cert(status_json(env), rsa)
    responder.set_mode("http500", serial=rsa.serial)
    r = post_refresh(env, cert_id(rsa))
    assert r.status == 202, r
    doc = wait_json(env, lambda d: json_cert(d, rsa)["fetch_errors"] > b["fetch_errors"],
                    what="a fetch error for rsa")
    _, after = parse_prometheus(get(env, "/ocspstaple-metrics").text)
    responder.set_mode(None, serial=rsa.serial)
    a = json_cert(doc, rsa)
    assert a["errors_http_status"] - b["errors_http_status"] == \
        a["fetch_errors"] - b["fetch_errors"] >= 1
    assert a["failures"] >= 1 and "500" in a["last_result"]
    # still valid: the old response stays in use, the state says failing
    assert a["state"] == "failing" and a["this_update"] == b["this_update"]
    assert a["fetches"] > b["fetches"]
    rid = cert_id(rsa)

    def delta(name, **labels):
        return prom_value(after, name, **labels) - prom_value(before, name, **labels)

    assert delta("ocspstaple_certificate_fetch_errors_total", id=rid) >= 1
    assert delta("ocspstaple_fetch_errors_total", **{"class": "http_status"}) == \
        delta("ocspstaple_certificate_fetch_errors_total", id=rid)
    assert prom_value(after, "ocspstaple_consecutive_failures", id=rid) >= 1
    assert prom_value(after, "ocspstaple_certificates", state="failing") == 1
    assert delta("ocspstaple_fetches_total") >= 1


def test_refresh_on_demand(pki, responder, env):
    rsa, rev, ecdsa = pki.leaf("rsa"), pki.leaf("revoked"), pki.leaf("ecdsa")
    first = status_json(env)
    t0 = json_cert(first, rsa)["this_update"]
    time.sleep(1.1)  # thisUpdate has second resolution
    hits = responder.count(rsa.serial)
    r = post_refresh(env, "all")
    assert r.status == 202 and r.headers["Content-Type"] == "application/json", r
    assert sorted(r.json()["scheduled"]) == sorted(cert_id(l) for l in (rsa, rev, ecdsa))
    doc = wait_json(env, lambda d: json_cert(d, rsa)["this_update"] > t0,
                    what="a newer thisUpdate")
    assert json_cert(doc, rsa)["state"] == "good"
    assert responder.count(rsa.serial) == hits + 1
    # one certificate by its id
    t1 = json_cert(doc, rsa)["this_update"]
    time.sleep(1.1)
    r = post_refresh(env, cert_id(rsa).upper())  # ids are case-insensitive
    assert r.status == 202 and r.json() == {"scheduled": [cert_id(rsa)]}, r
    wait_json(env, lambda d: json_cert(d, rsa)["this_update"] > t1,
              what="a newer thisUpdate after refresh=<id>")


@pytest.mark.parametrize("mpm", ["event", "prefork"])
def test_counters_and_outage_carried_across_restarts(pki, responder, new_httpd, expect_log,
                                                     mpm):
    """Like mod_status's own counters, ours survive graceful and hard
    restarts (the slots are per generation; the parent carries them over),
    and so does an ongoing outage: its failure count and last result. A
    full stop and start begins again from zero.

    The hard restart runs on prefork only: on mpm_event it closes the
    sockets of connections workers are still tearing down, the httpd race
    that HttpdEnv.stop() explains, and the status request just before it
    would be such a connection."""
    env = make_env(pki, new_httpd, expect_log, mpm=mpm)
    rsa, ecdsa = pki.leaf("rsa"), pki.leaf("ecdsa")
    for _ in range(3):
        r = clients.s_client(env.port, "rsa.test", pki.root_path)
        assert r.stapled and r.cert_status == "good", r
    before = status_json(env)
    good0, miss0 = json_cert(before, rsa), json_cert(before, ecdsa)
    assert good0["served"] == 3 and good0["fetches"] == 1, good0
    assert miss0["failures"] >= 1 and miss0["fetch_errors"] >= 1, miss0
    hits = responder.count(rsa.serial)

    for how in ("graceful", "restart") if mpm == "prefork" else ("graceful",):
        getattr(env, how)()
        doc = status_json(env)
        good, miss = json_cert(doc, rsa), json_cert(doc, ecdsa)
        # rsa: from the store, no fetch at the restart; counts kept
        assert good["served"] == good0["served"], (how, good)
        assert good["fetches"] == good0["fetches"], (how, good)
        assert good["state"] == "good" and good["failures"] == 0, (how, good)
        # ecdsa: the start asked its dead responder again and failed again
        assert miss["failures"] >= miss0["failures"] + 1, (how, miss0, miss)
        assert miss["fetch_errors"] >= miss0["fetch_errors"] + 1, (how, miss0, miss)
        assert miss["errors_network"] >= miss0["errors_network"] + 1, (how, miss)
        # the same failure (its timing, "after N ms", may differ)
        assert (re.sub(r"after \d+ ms", "", miss["last_result"])
                == re.sub(r"after \d+ ms", "", miss0["last_result"])
                != "ok"), (how, miss)
        assert doc["totals"]["served"] == before["totals"]["served"], how
        miss0 = miss
    assert responder.count(rsa.serial) == hits

    env.stop()
    env.start()
    good = json_cert(status_json(env), rsa)
    assert good["served"] == 0 and good["fetches"] == 0, good


def test_outage_backoff_carried_across_graceful_restart(pki, responder, env, expect_log):
    """A restart during an outage keeps the failure count, the last result
    and the backoff of a certificate whose valid response came from the
    store, instead of showing "ok" and planning the next fetch from the
    policy as if nothing had failed."""
    expect_log(r"OCSPS0040: CN=rsa\.test", levels="warn")
    rsa = pki.leaf("rsa")
    responder.set_mode("trylater")
    assert post_refresh(env, cert_id(rsa)).status == 202
    doc = wait_json(env, lambda d: json_cert(d, rsa)["failures"] >= 1,
                    what="a failed refresh")
    before = json_cert(doc, rsa)
    assert before["state"] == "failing" and "tryLater" in before["last_result"], before
    # the backoff is seconds away; the policy's refresh would be ~30 min
    assert iso(before["next_refresh"]) - time.time() < 120, before

    env.graceful()
    after = json_cert(status_json(env), rsa)
    assert after["state"] == "failing", after
    assert after["failures"] >= before["failures"], (before, after)
    assert after["last_result"] == before["last_result"], (before, after)
    assert after["this_update"] == before["this_update"], (before, after)
    # the same backoff (or a later one, if it retried meanwhile), not the
    # policy's next refresh half an hour away
    assert iso(after["next_refresh"]) - iso(before["next_refresh"]) < 60, (before, after)


def test_refresh_errors_change_nothing(pki, responder, env):
    before = responder.count()
    r = post_refresh(env, "ab" * 20)
    assert r.status == 404 and r.json()["error"] == "unknown certificate id", r
    assert r.json()["id"] == "ab" * 20
    # one unknown id among known ones: nothing scheduled at all
    r = request(env.http_port, "POST", "/ocspstaple-status",
                body="refresh=%s&refresh=nope" % cert_id(pki.leaf("rsa")))
    assert r.status == 404, r
    r = post_refresh(env, cert_id(pki.leaf("noaia")))
    assert r.status == 409 and "no OCSP responder" in r.json()["error"], r
    r = request(env.http_port, "POST", "/ocspstaple-status", body="")
    assert r.status == 400 and "error" in r.json(), r
    r = request(env.http_port, "POST", "/ocspstaple-status", body="refresh=all",
                headers={"Content-Type": "text/plain"})
    assert r.status == 400, r
    r = request(env.http_port, "PUT", "/ocspstaple-status", body="refresh=all")
    assert r.status == 405 and r.headers["Allow"] == "GET, HEAD, POST", r
    assert r.json()["error"] == "method not allowed"
    r = request(env.http_port, "DELETE", "/ocspstaple-status")
    assert r.status == 405, r
    r = request(env.http_port, "POST", "/ocspstaple-metrics", body="refresh=all")
    assert r.status == 405 and r.headers["Allow"] == "GET, HEAD", r
    r = request(env.http_port, "HEAD", "/ocspstaple-metrics")
    assert r.status == 200 and r.body == b"", r
    wait_refresher_ticks(env, 2)
    assert responder.count() == before


def test_get_with_refresh_changes_nothing(pki, responder, env):
    rsa = pki.leaf("rsa")
    first = status_json(env)
    time.sleep(1.1)
    hits = responder.count()
    for q in ("?refresh=all", "?refresh=" + cert_id(rsa)):
        r = get(env, "/ocspstaple-status" + q)
        doc = r.json()
        assert "scheduled" not in doc and len(doc["certificates"]) == 4
        get(env, "/ocspstaple-metrics" + q)
        get(env, "/server-status" + q)
    wait_refresher_ticks(env, 2)
    assert responder.count() == hits
    assert json_cert(status_json(env), rsa)["this_update"] == \
        json_cert(first, rsa)["this_update"]


def test_status_only_for_localhost(pki, responder, new_httpd, expect_log):
    """status.conf admits 127.0.0.1 only: a client from 127.0.0.2 gets 403
    on every surface and cannot schedule a refresh."""
    expect_log(r"\[client 127\.0\.0\.2:\d+\] AH01630: client denied", levels="error")
    port = free_port()
    env = make_env(pki, new_httpd, expect_log,
                   server_lines=["Listen 127.0.0.2:%d" % port])
    for path in ("/server-status", "/server-status?auto", "/ocspstaple-status",
                 "/ocspstaple-metrics"):
        r = request(port, "GET", path, host="127.0.0.2", source="127.0.0.2")
        assert r.status == 403, (path, r)
        r = request(port, "GET", path, host="127.0.0.2", source="127.0.0.1")
        assert r.status == 200, (path, r)
    before = responder.count()
    r = post_refresh(env, "all", port=port, host="127.0.0.2", source="127.0.0.2")
    assert r.status == 403, r
    wait_refresher_ticks(env, 2)
    assert responder.count() == before


def test_no_certificates_renders_empty(pki, responder, new_httpd):
    env = new_httpd()
    env.tail_lines.append("Include %s" % STATUS_CONF)
    env.start()
    totals, certs = parse_auto(env.server_status(auto=True))
    assert certs == [] and totals["Certificates"] == "0" and totals["Good"] == "0"
    t = StatusTable()
    t.feed(env.server_status(auto=False))
    assert "OCSP Stapling (mod_ocspstaple)" in "".join(t.heading) and t.rows == []
    doc = status_json(env)
    assert doc["certificates"] == [] and doc["totals"]["certificates"] == 0
    _, samples = parse_prometheus(get(env, "/ocspstaple-metrics").text)
    assert prom_value(samples, "ocspstaple_fetches_total") == 0
    assert not [s for s in samples if s.name == "ocspstaple_certificate_info"]
    r = post_refresh(env, "all")
    assert r.status == 202 and r.json() == {"scheduled": []}, r
    assert post_refresh(env, "ab" * 20).status == 404



# ---- at scale: filtering by state (issue 14) ---------------------------------

def test_filter_by_state(pki, env):
    """?state= lists the certificates in the states named (commas, or state=
    repeated; "none": totals only); the totals always count all of them, a
    certificate keeps its ?auto index, and an unknown state is refused."""
    full_totals, full = parse_auto(env.server_status(auto=True))
    index = {c["Serial"]: i for i, c in enumerate(full)}
    rev = pki.leaf("revoked").serial_hex

    def auto(query):
        text = get(env, "/server-status?auto&" + query).text
        listed = {}
        totals, _ = parse_auto(text, listed)
        return text, totals, listed

    text, totals, listed = auto("state=revoked")
    assert {k: v for k, v in totals.items() if k != "Listed"} == full_totals
    assert totals["Listed"] == "1"
    assert list(listed) == [index[rev]]
    assert listed[index[rev]] == full[index[rev]]
    for q in ("state=missing,no_responder", "state=missing&state=no_responder",
              "state=missing%2Cno_responder", "state=missing+no_responder"):
        _, totals, listed = auto(q)
        assert totals["Listed"] == "2", q
        assert sorted(c["State"] for c in listed.values()) == [
            "missing", "no_responder"], q
    _, totals, listed = auto("state=none")
    assert totals["Listed"] == "0" and listed == {}
    assert totals["Certificates"] == "4"
    text, totals, listed = auto("state=bogus")
    assert listed == {} and "Listed" not in totals
    assert totals["FilterError"].startswith("unknown state 'bogus' (state= takes")

    # JSON: the totals, what the filter lists, then those certificates
    doc = status_json(env)
    r = get(env, "/ocspstaple-status?state=revoked,good")
    f = r.json()
    assert f["totals"] == doc["totals"]
    assert f["filter"] == {"state": ["good", "revoked"], "listed": 2}
    assert sorted(c["state"] for c in f["certificates"]) == ["good", "revoked"]
    assert json_cert(f, pki.leaf("revoked")) == json_cert(doc, pki.leaf("revoked"))
    assert list(f) == ["time", "totals", "filter", "certificates"]
    assert "filter" not in doc
    bad = request(env.http_port, "GET", "/ocspstaple-status?state=Good")
    assert bad.status == 400, bad
    assert "unknown state 'Good'" in bad.json()["error"]

    # metrics: the per-certificate series of the states asked for; the
    # server-wide ones complete
    r = get(env, "/ocspstaple-metrics?state=good")
    _, samples = parse_prometheus(r.text)
    info = [x for x in samples if x.name == "ocspstaple_certificate_info"]
    assert [x.labels["serial"] for x in info] == [pki.leaf("rsa").serial_hex]
    assert {x.labels.get("id") for x in samples if "id" in x.labels} == {
        cert_id(pki.leaf("rsa"))}
    by_state = {x.labels["state"]: x.value for x in samples
                if x.name == "ocspstaple_certificates"}
    assert by_state == {"good": 1, "expiring": 0, "failing": 0, "revoked": 1,
                        "missing": 1, "expired": 0, "no_responder": 1}
    bad = request(env.http_port, "GET", "/ocspstaple-metrics?state=x")
    assert bad.status == 400 and b"unknown state 'x'" in bad.body, bad

    # HTML: the states first, each a link when it has certificates, then
    # the rows asked for
    page = get(env, "/server-status?state=revoked").text
    t = StatusTable()
    t.feed(page)
    assert len(t.rows) == 1
    assert t.rows[0][0]["class"] == "row-revoked"
    assert '<table class="ocspstaple states">' in page
    assert '<a href="?state=revoked">revoked</a>' in page
    assert '<a href="?state=expiring,failing,revoked,missing,expired">needing attention</a></td><td class="n">2<' in page
    assert "<p>Listed below: 1 of 4 (state revoked)." in page
    assert page.rstrip().endswith("</html>")
    # ?notable too
    page = get(env, "/server-status?notable&state=missing").text
    assert page.count('<dl class="ocspstaple">') == 1
    # and the unfiltered page has no state table at this size
    page = env.server_status(auto=False)
    assert 'class="ocspstaple states"' not in page and "Listed below" not in page

# ---- screenshot --------------------------------------------------------------------

def png_size(path):
    with open(path, "rb") as f:
        head = f.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", head[16:24])


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="%s not installed" % CHROMIUM)
def test_server_status_screenshot(pki, responder, new_httpd, expect_log, tmp_path):
    expect_log(r"OCSPS0040: CN=muststaple\.test", levels="warn")
    # prefork and ExtendedStatus Off keep mod_status's part of the page
    # short, so the table is in the picture
    env = make_env(pki, new_httpd, expect_log, mpm="prefork",
                   extra_leaves=["muststaple"], server_lines=["ExtendedStatus Off"])
    for name, n in (("rsa.test", 4), ("muststaple.test", 2), ("noaia.test", 1),
                    ("revoked.test", 1)):
        for _ in range(n):
            clients.s_client(env.port, name, pki.root_path)
    # one certificate whose last refresh failed, to show "failing"
    ms = pki.leaf("muststaple")
    responder.set_mode("http500", serial=ms.serial)
    assert post_refresh(env, cert_id(ms)).status == 202
    wait_json(env, lambda d: json_cert(d, ms)["state"] == "failing", what="failing")
    responder.set_mode(None, serial=ms.serial)
    out = os.environ.get("OCSPSTAPLE_SCREENSHOT_OUT") or str(tmp_path / "server-status.png")
    profile = tempfile.mkdtemp(prefix="ocspstaple-chromium-")
    try:
        # No "#ocspstaple" fragment: headless Chromium 156 then paints a
        # blank page. 1400x700 would show only mod_status's header.
        url = "http://127.0.0.1:%d/server-status" % env.http_port
        cp = subprocess.run(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", "--hide-scrollbars",
             "--user-data-dir=" + profile, "--screenshot=" + out,
             "--window-size=1400,1100", url],
            capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        assert cp.returncode == 0 and os.path.exists(out), cp.stderr[-3000:]
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert png_size(out) == (1400, 1100)
    assert os.path.getsize(out) > 20000  # a page with content, not a blank one
