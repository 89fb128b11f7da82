#!/usr/bin/python3
"""mod_ocspstaple demo, on loopback only.

Generates a test PKI, starts an OCSP responder (the real `openssl ocsp`
behind a 127.0.0.1 HTTP front), starts httpd with the module and
conf-examples/minimal-vhost.conf, shows the staple of the first handshake,
prints commands to try, and runs until Ctrl-C. With --oneshot, or when stdin
is not a terminal, it stops at once. Everything it started is stopped on
exit.

    make -f Makefile.apxs demo          (or: /usr/bin/python3 tests/e2e/demo.py)
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import clients  # noqa: E402
from httpd_env import CONF_EXAMPLES, MODULE_PATH, HttpdEnv, module_available  # noqa: E402
from ocsp_responder import Responder  # noqa: E402
from pki import PKI  # noqa: E402

NAME = "www.e2e.test"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--oneshot", action="store_true", help="exit after the first check")
    ap.add_argument("--leaf", default="rsa", choices=("rsa", "ecdsa", "revoked", "muststaple"),
                    help="which test certificate the vhost serves")
    ap.add_argument("--keep", action="store_true", help="keep the generated files")
    a = ap.parse_args()

    if not module_available():
        sys.exit("demo: %s is missing; build it with: make -f Makefile.apxs" % MODULE_PATH)

    work = tempfile.mkdtemp(prefix="ocspstaple-demo-", dir="/tmp")
    os.chmod(work, 0o755)
    responder = Responder()
    env = None

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        responder.bind()
        print("Generating the test PKI in %s ..." % work, flush=True)
        pki = PKI.generate(os.path.join(work, "pki"), responder.url)
        responder.set_pki(pki)
        responder.start()
        cport = responder.start_control()  # stays up in mode refuse
        leaf = pki.leaf(a.leaf)

        env = HttpdEnv(pki, name="demo", loglevel="warn ocspstaple:info")
        env.ssl_stapling_cache = False  # conf-examples/ocspstaple.conf has it
        env.set_store = False
        env.listen_ports.append(env.port)
        env.pre_lines += [
            "Define APACHE_RUN_DIR %s/run" % env.root,
            "Define OCSPSTAPLE_EXAMPLE_PORT %d" % env.port,
            "Define OCSPSTAPLE_EXAMPLE_NAME %s" % NAME,
            "Define OCSPSTAPLE_EXAMPLE_CERT %s" % leaf.chain_path,
            "Define OCSPSTAPLE_EXAMPLE_KEY %s" % leaf.key_path,
        ]
        env.tail_lines += [
            "Include %s/ocspstaple.conf" % CONF_EXAMPLES,
            "OCSPStapleStore %s" % env.store_dir,
            "Include %s/minimal-vhost.conf" % CONF_EXAMPLES,
            "Include %s/status.conf" % CONF_EXAMPLES,
        ]
        env.start()
        print("OCSP responder  %s (requests so far: %d)" % (responder.url, responder.count()))
        print("httpd           https://%s:%d/  (127.0.0.1, started in %.2f s)"
              % (NAME, env.port, env.startup_seconds))
        print()

        cmd = ("echo QUIT | openssl s_client -connect 127.0.0.1:%d -servername %s -status"
               % (env.port, NAME))
        print("$ " + cmd)
        r = clients.s_client(env.port, NAME, pki.root_path)
        print(r.ocsp_section() or "(no OCSP section in the output)")
        print()
        if r.stapled:
            print("The first handshake after start was stapled: %s, valid until %s."
                  % (r.cert_status, r.next_update_text))
        else:
            print("NOT STAPLED -- see %s" % env.error_log)
        print()
        print("Try:")
        print("  " + cmd)
        print("  curl --cert-status --cacert %s --resolve %s:%d:127.0.0.1 https://%s:%d/index.html"
              % (pki.root_path, NAME, env.port, NAME, env.port))
        print("  gnutls-cli --ocsp --x509cafile %s -p %d --sni-hostname %s 127.0.0.1 </dev/null"
              % (pki.root_path, env.port, NAME))
        print("  curl http://127.0.0.1:%d/server-status?auto" % env.http_port)
        print("  curl http://127.0.0.1:%d/ocspstaple-status         (JSON)" % env.http_port)
        print("  curl -d refresh=all http://127.0.0.1:%d/ocspstaple-status  (refresh now)"
              % env.http_port)
        print("  curl http://127.0.0.1:%d/ocspstaple-metrics        (Prometheus)"
              % env.http_port)
        print("  curl http://127.0.0.1:%d/_control            (responder counts)" % cport)
        print("  curl 'http://127.0.0.1:%d/_control?mode=refuse'  (responder down; "
              "?mode=openssl brings it back; other modes: ocsp_responder.py)" % cport)
        print("  less %s" % env.error_log)
        print("  config: %s" % env.conf_path)
        sys.stdout.flush()

        if a.oneshot or not sys.stdin.isatty():
            return 0 if r.stapled else 1
        print("\nRunning; Ctrl-C stops httpd and the responder.", flush=True)
        while env.running():
            time.sleep(0.5)
        print("httpd exited:\n" + env.read_output())
        return 1
    except KeyboardInterrupt:
        print("\nStopping.")
        return 0
    finally:
        if env is not None:
            env.stop()
        responder.stop()
        responder.stop_control()
        if a.keep:
            print("kept: %s %s" % (work, env.root if env else ""))
        else:
            if env is not None:
                shutil.rmtree(env.root, ignore_errors=True)
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
