"""The store's housekeeping (design 4.8, issue 3): files of certificates no
longer configured are removed once their responses have expired; anything
else in the directory is left alone."""

import os
import shutil
import struct
import time

import pytest

import clients
from httpd_env import IS_ROOT, RUN_USER

pytestmark = pytest.mark.module


def record(cert_id, this_update, next_update, der=b"\x30\x03\x0a\x01\x00"):
    """A store record as staple_record.c writes it."""
    return (b"OSR1" + struct.pack(">BBH", 0, 0, 0)
            + struct.pack(">qqq", this_update, next_update, this_update)
            + struct.pack(">B", len(cert_id)) + cert_id
            + struct.pack(">I", len(der)) + der)


def test_sweep_removes_only_expired_files_of_unconfigured_certs(new_httpd, pki,
                                                                responder):
    env = new_httpd()
    env.add_vhost("rsa.test", pki.leaf("rsa"))
    os.makedirs(env.store_dir)
    now = int(time.time())
    gone_id, kept_id = b"\x01" * 20, b"\x02" * 20
    gone = os.path.join(env.store_dir, gone_id.hex() + ".ocsp")
    kept = os.path.join(env.store_dir, kept_id.hex() + ".ocsp")
    other = os.path.join(env.store_dir, "notes.txt")
    with open(gone, "wb") as f:
        f.write(record(gone_id, now - 7200, now - 3600))
    with open(kept, "wb") as f:
        f.write(record(kept_id, now - 60, now + 3600))
    with open(other, "w") as f:
        f.write("an operator's note\n")
    if IS_ROOT:
        # as a previous run leaves it: the store is the User's
        for path in (env.store_dir, gone, kept, other):
            shutil.chown(path, RUN_USER, RUN_USER)
    env.start()
    assert clients.s_client(env.port, "rsa.test").cert_status == "good"
    assert env.wait_for_log(r"OCSPS0022: store .*removed 1 file", timeout=10)
    assert not os.path.exists(gone), "expired file of an unknown cert kept"
    assert os.path.exists(kept), "valid file of an unknown cert removed"
    assert os.path.exists(other), "foreign file removed"
    # the configured certificate's own file is there
    assert len([n for n in os.listdir(env.store_dir) if n.endswith(".ocsp")]) == 2
