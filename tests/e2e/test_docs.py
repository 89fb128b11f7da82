"""The operator's documentation is true (issue 10 item 4).

docs/directives.md
  * documents exactly the directives of the module's command table, each
    with Description, Syntax, Default, Context and Module;
  * every directive line of its examples, and the documented default, is
    accepted by `httpd -t` where the page puts it; a directive documented
    for "server config" only is refused inside <VirtualHost>;
  * "OCSPStaple on" without SSLUseStapling needs no SSLStaplingCache.

docs/migration.md
  * covers every stapling directive that the installed mod_ssl and mod_md
    know (read from their .so files);
  * the mod_ocspstaple lines of its "After" configurations pass `httpd -t`.

docs/design.md
  * has a section for every "design section N.M" that the sources cite.

docs/prometheus-alerts.yml and docs/prometheus-alerts.test.yml
  * parse strictly (no duplicate keys, no YAML 1.1 booleans or numbers where
    Prometheus wants strings) and have the shape Prometheus expects; every
    alert has a unit test where it fires and one where it does not;
  * every metric, label and label value they use exists in a real scrape
    of /ocspstaple-metrics, and the test series have the real label sets;
  * with promtool (Debian: prometheus): `promtool check rules` and
    `promtool test rules` pass, and the expressions evaluated on two real
    scrapes select exactly the certificates of the test bed that should
    alert (missing, revoked, an unstapled handshake), and nothing for a
    certificate without an OCSP URL.

Needs python3-yaml for the YAML checks (skipped without it).
"""

import os
import re
import shutil
import subprocess
import time

import pytest

import clients
from httpd_env import MODDIR, REPO
from refresh_helpers import poll
from test_status import STATES, STATUS_CONF, get, make_env, parse_prometheus, prom_value

try:
    import yaml
except ImportError:  # python3-yaml
    yaml = None

DOCS = os.path.join(REPO, "docs")
DIRECTIVES_MD = os.path.join(DOCS, "directives.md")
MIGRATION_MD = os.path.join(DOCS, "migration.md")
DESIGN_MD = os.path.join(DOCS, "design.md")
RULES = os.path.join(DOCS, "prometheus-alerts.yml")
RULE_TESTS = os.path.join(DOCS, "prometheus-alerts.test.yml")
# dev.sh unpacks Debian's promtool into build/tools (installing the
# prometheus package would also start a Prometheus server).
PROMTOOL = shutil.which("promtool") or next(
    (p for p in [os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                              "build", "tools", "usr", "bin", "promtool")]
     if os.access(p, os.X_OK)), None)
PROMTOOL_TIMEOUT = 120
TARGET_LABELS = {"instance", "job"}   # added by Prometheus, not the module
SEVERITIES = ("warning", "critical")
DURATION_RX = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")
METRIC_RX = re.compile(r"\b(ocspstaple_[a-z0-9_]+)\b")

needs_yaml = pytest.mark.skipif(yaml is None, reason="python3-yaml is not installed")
needs_promtool = pytest.mark.skipif(PROMTOOL is None,
                                    reason="promtool is not installed (Debian: prometheus)")


# ---- strict YAML --------------------------------------------------------------------

if yaml is not None:
    class StrictLoader(yaml.SafeLoader):
        """SafeLoader that refuses a key given twice in one mapping."""

    def _strict_mapping(loader, node, deep=False):
        loader.flatten_mapping(node)
        seen = set()
        for key_node, _ in node.value:
            key = loader.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, "duplicate key %r" % (key,), key_node.start_mark)
            seen.add(key)
        return loader.construct_mapping(node, deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                 _strict_mapping)


def load_yaml(path):
    with open(path) as f:
        text = f.read()
    assert "\t" not in text, "%s: tab characters" % path
    return yaml.load(text, Loader=StrictLoader)


def alert_rules():
    doc = load_yaml(RULES)
    return [r for g in doc["groups"] for r in g["rules"]]


# ---- the rules and their unit tests -----------------------------------------------------

def _all_strings(d, where):
    assert isinstance(d, dict), where
    for k, v in d.items():
        assert isinstance(k, str) and isinstance(v, str), \
            "%s: %r: %r is not a string (quote it: YAML reads yes/no/0A as bool/number)" % (
                where, k, v)


@needs_yaml
def test_alert_rules_parse_strictly():
    doc = load_yaml(RULES)
    assert set(doc) == {"groups"}, doc.keys()
    names = set()
    for g in doc["groups"]:
        assert set(g) <= {"name", "interval", "rules"} and g["rules"], g.get("name")
        for r in g["rules"]:
            where = r.get("alert", r)
            assert set(r) <= {"alert", "expr", "for", "labels", "annotations"}, where
            assert re.fullmatch(r"OCSPStaple[A-Z][A-Za-z]+", r["alert"]), where
            assert r["alert"] not in names, "alert %s twice" % r["alert"]
            names.add(r["alert"])
            assert isinstance(r["expr"], str) and r["expr"].strip(), where
            assert METRIC_RX.search(r["expr"]), "%s uses no module metric" % where
            if "for" in r:
                assert DURATION_RX.match(str(r["for"])), where
            _all_strings(r["labels"], "%s labels" % where)
            assert r["labels"].get("severity") in SEVERITIES, where
            _all_strings(r["annotations"], "%s annotations" % where)
            assert set(r["annotations"]) == {"summary", "description"}, where
            for text in r["annotations"].values():
                assert text.count("{{") == text.count("}}"), where
    # what issue 10 asks for, under these names
    assert names >= {"OCSPStapleExpiringSoon", "OCSPStapleMissing", "OCSPStapleRevoked",
                     "OCSPStapleRefreshOverdue", "OCSPStapleHandshakesUnstapled",
                     "OCSPStapleSharedCacheDown", "OCSPStapleStoreWriteErrors"}, names


@needs_yaml
def test_every_alert_has_a_firing_and_a_quiet_unit_test():
    doc = load_yaml(RULE_TESTS)
    assert doc["rule_files"] == [os.path.basename(RULES)], doc["rule_files"]
    fires, quiet = set(), set()
    for t in doc["tests"]:
        for s in t["input_series"]:
            assert isinstance(s["series"], str) and isinstance(s["values"], str), s
        for a in t.get("alert_rule_test", []):
            (fires if a["exp_alerts"] else quiet).add(a["alertname"])
            for e in a["exp_alerts"]:
                _all_strings(e["exp_labels"], "%s exp_labels" % a["alertname"])
                _all_strings(e["exp_annotations"], "%s exp_annotations" % a["alertname"])
    names = {r["alert"] for r in alert_rules()}
    assert fires == names, "alerts never shown firing: %s" % (names - fires)
    assert quiet == names, "alerts never shown quiet: %s" % (names - quiet)


@needs_yaml
@needs_promtool
def test_promtool_checks_and_unit_tests_pass():
    for args in (["check", "rules", RULES], ["test", "rules", RULE_TESTS]):
        cp = subprocess.run([PROMTOOL] + args, capture_output=True, text=True,
                            timeout=PROMTOOL_TIMEOUT, cwd=DOCS)
        out = cp.stdout + cp.stderr
        print("promtool %s: %s" % (" ".join(args[:2]), out.strip()))
        assert cp.returncode == 0 and "SUCCESS" in out, out


# ---- the rules against a real scrape ------------------------------------------------------

SELECTOR_RX = re.compile(r"\b(ocspstaple_[a-z0-9_]+)\s*(\{[^}]*\})?")
MATCHER_RX = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')
CLAUSE_RX = re.compile(r"\b(on|ignoring|by|without|group_left|group_right)\s*\(([^)]*)\)")
TEMPLATE_LABEL_RX = re.compile(r"\$labels\.(\w+)")


def scrape_labels(samples):
    """{family: set of label names}, {label name: set of values}."""
    names, values = {}, {}
    for s in samples:
        names.setdefault(s.name, set()).update(s.labels)
        for k, v in s.labels.items():
            values.setdefault(k, set()).add(v)
    return names, values


def check_expr_against_scrape(where, expr, families, label_names, label_values):
    """Every metric of expr is in the scrape; every label it matches, joins or
    groups on exists; every literal value it matches occurs. Returns the
    metrics used, first one first."""
    used = []
    for m in SELECTOR_RX.finditer(expr):
        name, matchers = m.group(1), m.group(2) or ""
        assert name in families, "%s: %s is not in /ocspstaple-metrics (%s)" % (
            where, name, sorted(families))
        used.append(name)
        for label, op, value in MATCHER_RX.findall(matchers):
            assert label in label_names.get(name, set()), \
                "%s: %s has no label %s (it has %s)" % (where, name, label,
                                                       sorted(label_names.get(name, ())))
            if op in ("=", "=~"):
                known = label_values.get(label, set())
                if label == "status":
                    known = known | set(STATES)
                for alt in value.split("|"):
                    assert alt in known, "%s: %s=%r never occurs (seen: %s)" % (
                        where, label, alt, sorted(known))
    all_labels = set().union(*label_names.values()) | TARGET_LABELS
    for _, labels in CLAUSE_RX.findall(expr):
        for label in [x.strip() for x in labels.split(",") if x.strip()]:
            assert label in all_labels, "%s: label %s is in no metric" % (where, label)
    return used


def series_name_labels(series):
    m = re.fullmatch(r"(\w+)(?:\{(.*)\})?", series)
    assert m, series
    labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
    return m.group(1), labels


def prom_series(sample, extra):
    labels = dict(sample.labels, **extra)
    body = ",".join('%s="%s"' % (k, labels[k].replace("\\", "\\\\").replace('"', '\\"'))
                    for k in sorted(labels))
    return "%s{%s}" % (sample.name, body)


def fmt_value(v):
    return repr(float(v)) if v != int(v) else str(int(v))


# What the alert expressions select on the test bed of test_status.make_env
# (rsa good, revoked revoked, ecdsa missing, noaia without OCSP URL), after one
# handshake to ecdsa and one to noaia between the two scrapes.
EXPECTED_ON_TEST_BED = {
    "OCSPStapleMissing": 1,               # ecdsa
    "OCSPStapleRevoked": 1,               # revoked
    "OCSPStapleHandshakesUnstapled": 1,   # the handshake to ecdsa; noaia never counts
    "OCSPStapleRefreshOverdue": 0,
    "OCSPStapleExpiringSoon": 0,          # rsa has under a day left, but is not failing
    "OCSPStapleSharedCacheDown": 0,
    "OCSPStapleStoreWriteErrors": 0,
    "OCSPStapleRefresherStalled": 0,
}


@needs_yaml
@pytest.mark.module
def test_alert_rules_match_a_real_scrape(pki, responder, new_httpd, expect_log, tmp_path):
    env = make_env(pki, new_httpd, expect_log)
    first = get(env, "/ocspstaple-metrics").text
    _, samples1 = parse_prometheus(first)
    ticks1 = prom_value(samples1, "ocspstaple_refresher_ticks_total")
    # a handshake asking for a staple of a certificate without an OCSP URL
    # (not a miss) and one of a certificate without a response (a miss)
    for name in ("noaia.test", "ecdsa.test", "rsa.test"):
        r = clients.s_client(env.port, name, pki.root_path)
        assert r.handshake_ok, r
        assert r.no_response == (name != "rsa.test"), r

    def second_scrape():
        text = get(env, "/ocspstaple-metrics").text
        _, s = parse_prometheus(text)
        return (text, s) if prom_value(s, "ocspstaple_refresher_ticks_total") > ticks1 else None

    got = poll(second_scrape, 10)
    assert got, "the refresher did not tick within 10 s"
    second, samples2 = got
    types, _ = parse_prometheus(second)
    families = set(types)
    label_names, label_values = scrape_labels(samples2)

    # unstapled means "should have had a staple": the certificate without an
    # OCSP URL does not count (issue 11 item 2), the missing one does
    assert prom_value(samples2, "ocspstaple_handshakes_unstapled_total") == 1
    ids = {s.labels["serial"]: s.labels["id"] for s in samples2
           if s.name == "ocspstaple_certificate_info"}
    assert prom_value(samples2, "ocspstaple_certificate_handshakes_unstapled_total",
                      id=ids[pki.leaf("noaia").serial_hex]) == 0
    assert prom_value(samples2, "ocspstaple_certificate_handshakes_unstapled_total",
                      id=ids[pki.leaf("ecdsa").serial_hex]) == 1

    # the rules: metrics, labels, values, and what their templates use
    rules = alert_rules()
    for r in rules:
        used = check_expr_against_scrape(r["alert"], r["expr"], families, label_names,
                                         label_values)
        available = set(label_names.get(used[0], ())) | TARGET_LABELS
        for _, labels in CLAUSE_RX.findall(r["expr"]):
            available |= {x.strip() for x in labels.split(",")}
        for text in r["annotations"].values():
            for label in TEMPLATE_LABEL_RX.findall(text):
                assert label in available, "%s: template uses $labels.%s, the alert has %s" % (
                    r["alert"], label, sorted(available))

    # the unit tests: only real metrics, with the real label sets
    for t in load_yaml(RULE_TESTS)["tests"]:
        for s in t["input_series"]:
            name, labels = series_name_labels(s["series"])
            assert name in families, "test series of unknown metric %s" % name
            own = set(labels) - TARGET_LABELS
            assert own == label_names.get(name, set()), \
                "test series %s has labels %s, the module exports %s" % (
                    name, sorted(own), sorted(label_names.get(name, set())))

    evaluate_on_scrapes(tmp_path, rules, (samples1, samples2), EXPECTED_ON_TEST_BED)


def evaluate_on_scrapes(tmp_path, rules, scrapes, expected, eval_minute=12):
    """Evaluates every alert's expression (without its `for`) on real
    scrapes with promtool: scrape i gives the samples of minutes 10*i to
    10*i+9 (the last one up to 10*i+20); asserts how many series each one
    selects at eval_minute. Without promtool only says so."""
    if PROMTOOL is None:
        print("promtool not installed: the expressions were not evaluated on the scrapes")
        return
    target = {"instance": "web1:80", "job": "httpd"}
    series = {}
    for i, samples in enumerate(scrapes):
        for s in samples:
            series.setdefault(prom_series(s, target), [None] * len(scrapes))[i] = s.value
    input_series = []
    for key in sorted(series):
        vals = []
        for i, v in enumerate(series[key]):
            n = 11 if i == len(scrapes) - 1 else 10
            if v is not None:
                vals += [fmt_value(v)] * n
            elif i > 0 and series[key][i - 1] is not None:
                # gone from this scrape: Prometheus marks the series stale
                vals += ["stale"] + ["_"] * (n - 1)
            else:
                vals += ["_"] * n
        input_series.append({"series": key, "values": " ".join(vals)})
    tests = [{
        "interval": "1m",
        "input_series": input_series,
        "promql_expr_test": [
            {"expr": "count(%s) or vector(0)" % r["expr"].strip(),
             "eval_time": "%dm" % eval_minute,
             "exp_samples": [{"labels": "{}", "value": expected[r["alert"]]}]}
            for r in rules],
    }]
    path = tmp_path / "real-scrape.test.yml"
    path.write_text(yaml.safe_dump({"rule_files": [RULES], "evaluation_interval": "1m",
                                    "tests": tests}, sort_keys=False))
    cp = subprocess.run([PROMTOOL, "test", "rules", str(path)], capture_output=True,
                        text=True, timeout=PROMTOOL_TIMEOUT)
    out = cp.stdout + cp.stderr
    assert cp.returncode == 0 and "SUCCESS" in out, \
        "alert expressions on the real scrapes (want %s):\n%s" % (expected, out)


# A certificate whose responses are valid for VALIDITY seconds: refreshed
# at half of it while the responder answers, then the responder goes away.
VALIDITY = 12
HEALTHY_SECONDS = 15        # at least two refreshes
EXPECTED_WHEN_OVERDUE = dict(
    {k: 0 for k in EXPECTED_ON_TEST_BED},
    OCSPStapleRefreshOverdue=1, OCSPStapleExpiringSoon=1)


def since_until(samples, cid):
    return (prom_value(samples, "ocspstaple_seconds_since_last_success", id=cid),
            prom_value(samples, "ocspstaple_seconds_until_next_update", id=cid))


@needs_yaml
@pytest.mark.module
@pytest.mark.slow
def test_refresh_overdue_rule_premise_on_the_real_module(pki, responder, new_httpd,
                                                        expect_log, tmp_path):
    """OCSPStapleRefreshOverdue fires when the time since the last success
    exceeds the time the response has left. Its premise, on the real module
    with OCSPStapleRefresh 50%: while the responder answers that never
    happens (sampled every second across several refreshes); once the
    responder is gone it happens within half a validity, and then the
    overdue and the expiring rule select the certificate and nothing else
    does."""
    expect_log(r"OCSPS0040: ", levels=("warn",))
    expect_log(r"OCSPS0081: ", levels=("error",))   # if the stop comes after nextUpdate
    responder.set_mode("builder", validity=VALIDITY)
    leaf = pki.leaf("rsa")
    env = new_httpd(name="overdue")
    env.add_vhost("rsa.test", leaf)
    env.tail_lines.append("Include %s" % STATUS_CONF)
    env.start()

    def scrape():
        return parse_prometheus(get(env, "/ocspstaple-metrics").text)[1]

    cid = [s.labels["id"] for s in scrape() if s.name == "ocspstaple_certificate_info"][0]
    t_end = time.monotonic() + HEALTHY_SECONDS
    worst = None
    while time.monotonic() < t_end:
        since, until = since_until(scrape(), cid)
        # whole seconds, and the refresher ticks once a second
        assert since <= until + 2, \
            "healthy, yet %d s since the last success and %d s left" % (since, until)
        worst = since - until if worst is None else max(worst, since - until)
        time.sleep(1)
    hits = responder.count(leaf.serial)
    assert hits >= 3, "fewer than two refreshes in %d s: %s" % (HEALTHY_SECONDS,
                                                              responder.hits())
    healthy = scrape()
    print("healthy: %d fetches; since - until at most %d s" % (hits, worst))

    responder.set_mode("refuse")

    def overdue():
        s = scrape()
        since, until = since_until(s, cid)
        failing = prom_value(s, "ocspstaple_consecutive_failures", id=cid) > 0
        return s if failing and since > until and until > 0 else None

    failing = poll(overdue, VALIDITY / 2 + 3, interval=0.5)
    assert failing, "not overdue within half a validity of the responder going away: %s" % (
        since_until(scrape(), cid),)
    evaluate_on_scrapes(tmp_path, alert_rules(), (healthy, failing), EXPECTED_WHEN_OVERDUE)


# ---- the directive reference -----------------------------------------------------------------

DIRECTIVE_HEADING_RX = re.compile(r"^## (OCSPStaple\w*|SSLUseStapling)\s*$", re.M)
FIELDS = ("Description", "Syntax", "Default", "Context", "Module")


def directive_sections():
    """{name: (fields {label: value}, section text)} from docs/directives.md."""
    with open(DIRECTIVES_MD) as f:
        text = f.read()
    heads = list(DIRECTIVE_HEADING_RX.finditer(text))
    out = {}
    for i, m in enumerate(heads):
        body = text[m.end():heads[i + 1].start() if i + 1 < len(heads) else len(text)]
        fields = dict((k.strip(), v.strip()) for k, v in
                      re.findall(r"^\| ([A-Za-z ]+): \| (.*) \|\s*$", body, re.M))
        assert m.group(1) not in out, "%s documented twice" % m.group(1)
        out[m.group(1)] = (fields, body)
    return out


def command_table():
    """Directive names of every AP_INIT_* entry in the module's C files."""
    names = set()
    for fn in os.listdir(REPO):
        if fn.endswith(".c"):
            with open(os.path.join(REPO, fn), errors="replace") as f:
                names.update(re.findall(r'AP_INIT_[A-Z0-9_]+\(\s*"(\w+)"', f.read()))
    return names


def test_every_directive_is_documented():
    docs = directive_sections()
    code = command_table()
    assert "OCSPStaple" in code, "no command table found"
    assert set(docs) == code, "documented only: %s; in the code only: %s" % (
        sorted(set(docs) - code), sorted(code - set(docs)))
    for name, (fields, _) in docs.items():
        for f in FIELDS:
            assert fields.get(f), "%s: no %s" % (name, f)
        assert fields["Context"] in ("server config", "server config, virtual host"), name
        assert fields["Module"].startswith("mod_ssl" if name == "SSLUseStapling"
                                           else "mod_ocspstaple"), name
        assert fields["Syntax"].startswith("`%s " % name), name


def example_lines(name, body):
    """(line, in_vhost) for every line of the section's apache examples that
    sets this directive; "#Name value" (commented out, no space) counts."""
    out = []
    for block in re.findall(r"```apache\n(.*?)```", body, re.S):
        out += apache_lines(block, re.escape(name))
    return out


def apache_lines(block, names_rx):
    """(line, in_vhost) for every line of an apache example that sets a
    directive matching names_rx; "#Name value" (commented out, no space)
    counts."""
    out = []
    in_vhost = False
    for raw in block.splitlines():
        line = raw.strip()
        if re.match(r"<VirtualHost\b", line):
            in_vhost = True
        elif line.startswith("</VirtualHost"):
            in_vhost = False
        m = re.match(r"#?(%s)\s+(\S.*)$" % names_rx, line)
        if m:
            out.append(("%s %s" % (m.group(1), m.group(2)), in_vhost))
    return out


def default_line(name, fields):
    m = re.match(r"`(%s [^`]+)`" % re.escape(name), fields["Default"])
    return m.group(1) if m else None


def _configtest(env, main, vhost):
    env.server_lines = [
        "LoadModule socache_memcache_module %s/mod_socache_memcache.so" % MODDIR,
        "LoadModule socache_redis_module %s/mod_socache_redis.so" % MODDIR,
    ] + main
    env.vhosts[0].extra = tuple(vhost)
    return env.configtest()


@pytest.mark.module
def test_directive_reference_examples_defaults_and_contexts(pki, new_httpd):
    """Every example line and documented default is accepted by httpd -t where
    the reference puts it; "server config" directives are refused inside
    <VirtualHost>."""
    env = new_httpd(name="docs")
    env.add_vhost("rsa.test", pki.leaf("rsa"), stapling=None)
    checked = 0
    for name, (fields, body) in sorted(directive_sections().items()):
        server_only = fields["Context"] == "server config"
        lines = example_lines(name, body)
        assert lines, "%s: no example" % name
        default = default_line(name, fields)
        main = [l for l, in_vhost in lines if not in_vhost]
        vhost = [l for l, in_vhost in lines if in_vhost]
        if default:
            main.append(default)
        rc, out = _configtest(env, main, vhost)
        assert rc == 0, "%s: the documented lines %s are refused:\n%s" % (name, main + vhost, out)
        checked += len(main) + len(vhost)
        if server_only:
            assert not vhost, "%s: example in <VirtualHost>, context is server config" % name
            line = default or main[0]
            rc, out = _configtest(env, [], [line])
            assert rc != 0 and "cannot occur within" in out, \
                "%s: accepted inside <VirtualHost>:\n%s" % (name, out)
        else:
            # documented for both: accepted in either place
            line = (vhost or main)[0]
            for m, v in (([line], []), ([], [line])):
                rc, out = _configtest(env, m, v)
                assert rc == 0, "%s: %r refused (main %s, vhost %s):\n%s" % (
                    name, line, m, v, out)
    print("%d documented directive lines accepted by httpd -t" % checked)


@pytest.mark.module
def test_ocspstaple_on_needs_no_ssl_stapling_cache(pki, responder, new_httpd):
    """directives.md, OCSPStaple: a server that uses only "OCSPStaple on"
    needs no SSLStaplingCache, and mod_ssl installs its status callback for
    the vhost without SSLUseStapling."""
    leaf = pki.leaf("rsa")
    env = new_httpd(name="nocache")
    env.ssl_stapling_cache = False
    env.add_vhost("rsa.test", leaf, stapling=None, extra=["OCSPStaple on"])
    env.start()
    assert "SSLStaplingCache" not in env.render()
    r = clients.s_client(env.port, "rsa.test", pki.root_path)
    assert r.response_status == "successful (0x0)" and r.cert_status == "good", r
    assert r.staple_serial == leaf.serial, r


# ---- the migration guide ---------------------------------------------------------------------

def module_directives(so, rx):
    """Directive-like names in an httpd module's binary (its command table
    holds them as strings)."""
    path = os.path.join(MODDIR, so)
    if not os.path.exists(path):
        pytest.skip("%s is not installed" % path)
    with open(path, "rb") as f:
        data = f.read()
    return {m.decode() for m in re.findall(rx, data)}


def migration_rows():
    """Names in the first column of the migration guide's tables."""
    with open(MIGRATION_MD) as f:
        text = f.read()
    return set(re.findall(r"^\| `(\w+)", text, re.M)), text


def test_migration_guide_covers_every_stapling_directive():
    ssl = module_directives("mod_ssl.so",
                            rb"(?<![A-Za-z])(SSLStapling[A-Za-z]+|SSLUseStapling)(?![A-Za-z])")
    md = module_directives("mod_md.so",
                           rb"(?<![A-Za-z])(MDStapl[A-Za-z]+|MDStoreDir)(?![A-Za-z])")
    assert {"SSLUseStapling", "SSLStaplingCache", "SSLStaplingForceURL"} <= ssl, ssl
    assert {"MDStapling", "MDStapleOthers", "MDStoreDir"} <= md, md
    rows, _ = migration_rows()
    missing = sorted((ssl | md) - rows)
    assert not missing, "not in docs/migration.md's tables: %s" % missing


@pytest.mark.module
def test_migration_after_configurations_pass_configtest(pki, new_httpd):
    _, text = migration_rows()
    afters = re.findall(r"^After:\s*\n\s*```apache\n(.*?)```", text, re.S | re.M)
    assert len(afters) == 2, "want an After: configuration for mod_ssl and for mod_md"
    env = new_httpd(name="migration")
    env.add_vhost("rsa.test", pki.leaf("rsa"), stapling=None)
    for block in afters:
        lines = apache_lines(block, r"OCSPStaple\w*|SSLUseStapling")
        assert lines, block
        rc, out = _configtest(env, [l for l, v in lines if not v], [l for l, v in lines if v])
        assert rc == 0, "%s\n%s" % (lines, out)


# ---- the design document ---------------------------------------------------------------------

def test_design_sections_cited_in_the_sources_exist():
    with open(DESIGN_MD) as f:
        headings = set(re.findall(r"^#{2,3} (\d+(?:\.\d+)?)\.? ", f.read(), re.M))
    cited = {}
    for top, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in ("build", "debian")]
        for fn in files:
            if not fn.endswith((".c", ".h", ".py")):
                continue
            path = os.path.join(top, fn)
            with open(path, errors="replace") as f:
                for m in re.finditer(r"\b[Dd]esign(?: section)? (\d+(?:\.\d+)?"
                                     r"(?:\s*[,/]\s*\d+(?:\.\d+)?)*)", f.read()):
                    for num in re.split(r"\s*[,/]\s*", m.group(1)):
                        cited.setdefault(num, set()).add(os.path.relpath(path, REPO))
    assert {"4.0", "4.3", "4.5", "4.9", "5"} <= set(cited), cited
    missing = {n: sorted(p) for n, p in cited.items() if n not in headings}
    assert not missing, "cited but not in docs/design.md: %s" % missing


# ---- the shared-cache alert's metric -------------------------------------------------------

@pytest.mark.module
def test_shared_cache_down_clears_after_a_start_during_an_outage(pki, responder, new_httpd,
                                                                  expect_log):
    """OCSPStapleSharedCacheDown fires on ocspstaple_shared_cache_down == 1:
    that must go back to 0 once the cache answers, also when the outage
    began before the start (the start-up helper met it)."""
    from cache_servers import CacheServer
    expect_log(r"OCSPS0140: ", levels=("warn",))
    responder.set_mode("builder", validity=12)
    cache = CacheServer("memcache")
    try:
        cache.stop()                      # nothing listens on its port at start
        env = new_httpd(name="cachedown")
        env.server_lines += cache.lines()
        env.add_vhost("rsa.test", pki.leaf("rsa"))
        env.tail_lines.append("Include %s" % STATUS_CONF)
        env.start()

        def down():
            _, s = parse_prometheus(get(env, "/ocspstaple-metrics").text)
            return prom_value(s, "ocspstaple_shared_cache_down")

        assert down() == 1
        cache.start()
        # the refresher uses the cache again at its next refresh (12 s
        # validity: within 6 s) and publishes what it fetched
        assert poll(lambda: cache.items() >= 1, 20, interval=0.5), "nothing published"
        assert poll(lambda: down() == 0, 5, interval=0.5), \
            "ocspstaple_shared_cache_down still 1 with the cache working"
    finally:
        cache.stop()
