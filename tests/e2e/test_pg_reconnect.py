"""
test_pg_reconnect.py -- the first requests after PostgreSQL restarted.

A node's pool keeps its connections open between requests; a restart of
PostgreSQL -- a fast shutdown or a crash (an immediate shutdown), then a
start on the same data dir and socket (scripts/pg-test-cluster pause or
crash, then resume) -- ends every session, and the pool learns it only
from the connections themselves: conn_borrow drops an idle connection
whose session ended (its socket readable), and a single read or a write
transaction's BEGIN that meets a lost connection is sent again, once, on
a new one (run_read, tx_open in postgres.c).  Asserted: after the
restart every one of the first requests (twice as many as the pool
holds, of each kind: a list, a read, a write, KMS) succeeds with the
client's retries off, and reads what was written before.

Runs only with TRESOR_E2E_STORE=postgres (make e2e-pg).
"""

import os
import subprocess
import threading
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from tresor_e2e import PG_ADMIN, STORE, unique

pytestmark = pytest.mark.skipif(STORE != "postgres",
                                reason="needs a PostgreSQL cluster (make e2e-pg: TRESOR_E2E_STORE=postgres)")

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pg-test-cluster"
POOL = 4                # --store-connections


def cluster(cmd):
    host = parse_qs(urlparse(PG_ADMIN).query)["host"][0]
    p = subprocess.run([str(SCRIPT), cmd, host], capture_output=True, text=True, timeout=90,
                       env=dict(os.environ))
    assert p.returncode == 0, f"pg-test-cluster {cmd}: {p.stderr}"


@pytest.mark.parametrize("stop", ["pause", "crash"])
def test_first_requests_after_a_restart_succeed(pg_nodes, stop):
    (a,) = pg_nodes(1, name="reconnect", args=["--threads", "2", "--store-connections", str(POOL)])
    sm, kms = a.sm(), a.kms()
    name = unique("reconnect")
    arn = sm.create_secret(Name=name, SecretString="before")["ARN"]
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"before")["CiphertextBlob"]

    # Every connection of the pool opened: requests at once from more
    # clients than it holds.
    errors = []

    def load():
        try:
            c = a.sm()
            for _ in range(10):
                c.list_secrets(MaxResults=5)
                c.get_secret_value(SecretId=arn)
        except Exception as e:         # reported below
            errors.append(e)
    threads = [threading.Thread(target=load) for _ in range(2 * POOL)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]

    cluster(stop)
    cluster("resume")

    # With the client's retries off, each of the first requests succeeds.
    for i in range(2 * POOL):
        assert sm.list_secrets(Filters=[{"Key": "name", "Values": [name]}])["SecretList"][0]["ARN"] == arn
        assert sm.get_secret_value(SecretId=arn)["SecretString"] == ("before" if i == 0 else f"v{i - 1}")
        sm.put_secret_value(SecretId=arn, SecretString=f"v{i}")
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before"
        assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Enabled"] is True
