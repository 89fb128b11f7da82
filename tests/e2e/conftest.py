"""Fixtures of the end-to-end tests.

  pki              session: the test PKI (pki.PKI), AIA URL -> responder
  responder        session: ocsp_responder.Responder on 127.0.0.1, reset to
                   the real (openssl) mode with zero counts before each test
  new_httpd(...)   factory: httpd_env.HttpdEnv(pki, ...); every instance is
                   stopped after the test
  expect_log(rx, levels=None)   declare an error-log line the test expects
  log_guard        autouse: after each test, stops every httpd the test
                   started and fails on any error-log line at warn or above
                   that was not declared (AH01882 is always allowed), on
                   crash traces, and on an httpd that had to be SIGKILLed.

Tests marked `module` need .libs/mod_ocspstaple.so and are skipped without
it. Set OCSPSTAPLE_E2E_KEEP=1 to keep every ServerRoot; those of failed tests
are always kept (their paths are printed).
"""

import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from httpd_env import HttpdEnv, LogGuard, MODULE_PATH, module_available  # noqa: E402
from ocsp_responder import Responder  # noqa: E402
from pki import PKI  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "module: needs the built mod_ocspstaple.so")
    config.addinivalue_line("markers", "slow: takes more than a few seconds")


def pytest_collection_modifyitems(config, items):
    if module_available():
        return
    skip = pytest.mark.skip(reason="%s not built (make -f Makefile.apxs)" % MODULE_PATH)
    for item in items:
        if "module" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture(scope="session")
def _session_dir():
    d = tempfile.mkdtemp(prefix="ocspstaple-e2e-pki-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    if not os.environ.get("OCSPSTAPLE_E2E_KEEP"):
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def _session_responder(_session_dir):
    r = Responder()
    r.bind()
    pki = PKI.generate(os.path.join(_session_dir, "pki"), r.url)
    r.set_pki(pki)
    r.start()
    yield r
    r.stop()


@pytest.fixture(scope="session")
def pki(_session_responder):
    return _session_responder.pki


@pytest.fixture
def responder(_session_responder):
    _session_responder.reset()
    yield _session_responder
    _session_responder.reset()


@pytest.fixture(autouse=True)
def log_guard(request):
    guard = LogGuard()
    first = len(HttpdEnv.instances)
    yield guard
    envs = HttpdEnv.instances[first:]
    del HttpdEnv.instances[first:]
    for env in envs:
        env.stop()
    problems = guard.problems(envs)
    failed = getattr(request.node, "rep_call", None)
    failed = failed is not None and failed.failed
    for env in envs:
        if failed or problems:
            sys.stderr.write("\n[e2e] kept ServerRoot of %s: %s\n" % (request.node.name, env.root))
        else:
            env.cleanup()
    if problems:
        pytest.fail("error-log guard: unexpected lines:\n  " + "\n  ".join(problems),
                    pytrace=False)


@pytest.fixture
def expect_log(log_guard):
    return log_guard.expect


@pytest.fixture
def new_httpd(pki, responder):
    def make(**kw):
        kw.setdefault("pki", pki)
        return HttpdEnv(**kw)
    return make
