"""
test_pg_crash.py -- PostgreSQL crashes right after acknowledged writes.

Writes on PostgreSQL are grouped (docs/internals/STORE.md, "Group
commit"): a write transaction commits without waiting for PostgreSQL's
log flush, so that the cross-node write lock is free for the next writer
at once, and its reply waits for a flush round that covers it.  What this
test holds that design to:

  - two nodes (the pg_nodes fixture) take PutSecretValue calls from client
    threads that alternate nodes request by request, on a secret all of
    them write and on one secret per client; PostgreSQL is then crashed
    under that load (scripts/pg-test-cluster crash: an immediate shutdown,
    every process killed, nothing flushed -- the WAL still in PostgreSQL's
    buffers is gone) and started again on the same data dir;
  - every write acknowledged (HTTP 200) before the crash is there after
    it, on both nodes, with its value: none was acknowledged before the
    flush that made it durable;
  - the answers are a success or the service's internal error, nothing
    else (a write whose answer was lost may or may not have committed);
  - the version stages keep their invariants with two nodes writing one
    secret at once: exactly one AWSCURRENT, at most one AWSPREVIOUS and
    not the same version, and each client's own secret has as AWSCURRENT
    its last acknowledged write or one issued after it;
  - both nodes serve again by themselves once PostgreSQL is back (a
    request in flight across the crash may get the internal error: its
    outcome is unknown).

The test cluster runs with fsync off (pg-test-cluster), so an immediate
shutdown loses exactly what PostgreSQL had not yet written to the kernel:
a write acknowledged before its flush round would be lost here.

Runs only with TRESOR_E2E_STORE=postgres (make e2e-pg).
"""

import os
import subprocess
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from botocore.exceptions import ClientError

from tresor_e2e import PG_ADMIN, STORE, unique

pytestmark = pytest.mark.skipif(STORE != "postgres",
                                reason="needs a PostgreSQL cluster (make e2e-pg: TRESOR_E2E_STORE=postgres)")

CLIENTS = 6
SHARED_EVERY = 3        # every third write of a client goes to the shared secret
MAX_WRITES = 45         # per client: at most 90 versions on any secret (100 are kept)
RECOVER = 15.0          # seconds the nodes get to serve again after PostgreSQL is back
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pg-test-cluster"


def cluster(cmd):
    """scripts/pg-test-cluster cmd on the cluster of TRESOR_E2E_PG."""
    host = parse_qs(urlparse(PG_ADMIN).query)["host"][0]
    p = subprocess.run([str(SCRIPT), cmd, host], capture_output=True, text=True, timeout=90,
                       env=dict(os.environ))
    assert p.returncode == 0, f"pg-test-cluster {cmd}: {p.stderr}"


class Client:
    def __init__(self, idx, nodes, shared, own):
        self.idx, self.shared, self.own = idx, shared, own
        self.sm = [n.sm() for n in nodes]
        self.acked = []         # (secret, token, value, monotonic time of the answer)
        self.issued = []        # (secret, token, value): every write sent
        self.internal = 0
        self.other = []         # anything else: a failure of the test

    def run(self, stop):
        for i in range(MAX_WRITES):
            if stop.is_set():
                return
            secret = self.shared if i % SHARED_EVERY == 0 else self.own
            tok, value = str(uuid.uuid4()), f"c{self.idx}-w{i}"
            self.issued.append((secret, tok, value))
            try:
                self.sm[i % 2].put_secret_value(SecretId=secret, SecretString=value, ClientRequestToken=tok)
            except ClientError as e:
                code = e.response["Error"]["Code"]
                if code == "InternalServiceError" and e.response["ResponseMetadata"]["HTTPStatusCode"] == 500:
                    self.internal += 1
                    time.sleep(0.02)
                    continue
                self.other.append((secret, value, code, str(e)))
                return
            except Exception as e:      # a cut connection, a timeout: a crash of a node
                self.other.append((secret, value, type(e).__name__, str(e)))
                return
            self.acked.append((secret, tok, value, time.monotonic()))


def serving(node, secret):
    """A write and a read answered by node.  The first flush round of a
    node after the crash finds its session gone and fails what it would
    have vouched for (outcome unknown: an internal error), so a node
    serves again once a round has run on a new session."""
    try:
        node.sm().put_secret_value(SecretId=secret, SecretString=f"probe-{node.name}")
        node.sm().get_secret_value(SecretId=secret)
        return True
    except ClientError:
        return False


def again(fn, **kw):
    """fn(**kw), asked again (a few times) while it answers the internal
    error: after the crash a node's first flush round on a session that
    died with PostgreSQL fails what it would vouch for (outcome unknown),
    and a client retries that as it retries any 500."""
    for _ in range(10):
        try:
            return fn(**kw)
        except ClientError as e:
            if e.response["Error"]["Code"] != "InternalServiceError":
                raise
            time.sleep(0.05)
    return fn(**kw)


@pytest.fixture
def shared_server_recovers(tresor):
    """The session's shared server outlives this module: the crash ends its
    PostgreSQL sessions too, and the first request on each of its pooled
    connections meets the cut (the internal error, as any client would).
    Afterwards, call it until a run of answers in a row has gone through
    every connection it keeps, so the files after this one start on a
    healthy server."""
    yield
    sm, streak, deadline = tresor.sm(), 0, time.monotonic() + RECOVER
    while streak < 16 and time.monotonic() < deadline:
        try:
            sm.list_secrets(MaxResults=1)
            streak += 1
        except ClientError as e:
            if e.response["Error"]["Code"] != "InternalServiceError":
                raise
            streak = 0
            time.sleep(0.05)
    assert streak >= 16, "the shared server did not serve again after the crash"


def test_postgres_crash_keeps_acknowledged_writes(pg_nodes, shared_server_recovers):
    a, b = pg_nodes(2)
    nodes = (a, b)
    shared, probe = unique("crash-shared"), unique("crash-probe")
    a.sm().create_secret(Name=shared, SecretString="init")
    a.sm().create_secret(Name=probe, SecretString="probe")
    clients = []
    for c in range(CLIENTS):
        own = unique(f"crash-own{c}")
        a.sm().create_secret(Name=own, SecretString=f"c{c}-init")
        clients.append(Client(c, nodes, shared, own))

    stop = threading.Event()
    threads = [threading.Thread(target=cl.run, args=(stop,)) for cl in clients]
    for t in threads:
        t.start()
    # Crash in the middle of the load: once a third of the writes are
    # acknowledged, so that writes are in flight on both nodes.
    t0 = time.monotonic()
    while sum(len(cl.acked) for cl in clients) < CLIENTS * MAX_WRITES // 3 and time.monotonic() - t0 < 60:
        time.sleep(0.005)
    cluster("crash")
    crashed_at = time.monotonic()
    time.sleep(0.3)
    stop.set()
    for t in threads:
        t.join(60)
    assert all(not t.is_alive() for t in threads), "a client hung"
    other = [o for cl in clients for o in cl.other]
    assert not other, other[:10]
    acked = [w for cl in clients for w in cl.acked]
    assert acked, "nothing was acknowledged before the crash"
    # The writes acknowledged just before the crash are the ones at stake.
    assert any(crashed_at - w[3] < 0.5 for w in acked), "no write acknowledged within 0.5 s of the crash"

    cluster("resume")
    up_at = time.monotonic()
    back = set()
    while time.monotonic() - up_at < RECOVER and len(back) < len(nodes):
        back |= {n.name for n in nodes if serving(n, probe)}
        time.sleep(0.05)
    assert len(back) == len(nodes), f"the nodes did not serve again within {RECOVER}s: {back}"

    secrets = [shared] + [cl.own for cl in clients]
    issued = {tok: (secret, value) for cl in clients for secret, tok, value in cl.issued}
    for n in nodes:
        sm = n.sm()
        for secret in secrets:
            vs = again(sm.list_secret_version_ids, SecretId=secret, IncludeDeprecated=True)["Versions"]
            have = {v["VersionId"]: v.get("VersionStages", []) for v in vs}
            for s, tok, value, _ in acked:
                if s != secret:
                    continue
                assert tok in have, f"acknowledged write {value} to {secret} lost ({n.name})"
                got = again(sm.get_secret_value, SecretId=secret, VersionId=tok)["SecretString"]
                assert got == value, (secret, tok, got, value)
            current = [tok for tok, st in have.items() if "AWSCURRENT" in st]
            previous = [tok for tok, st in have.items() if "AWSPREVIOUS" in st]
            assert len(current) == 1, (secret, have)
            assert len(previous) <= 1, (secret, have)
            assert not previous or previous[0] != current[0], (secret, have)
            value = again(sm.get_secret_value, SecretId=secret)["SecretString"]
            if current[0] in issued:
                assert value == issued[current[0]][1], (secret, value)
        for cl in clients:
            mine = [w for w in cl.acked if w[0] == cl.own]
            if not mine:
                continue
            last = max(i for i, w in enumerate(cl.issued) if w[1] == mine[-1][1])
            later = {tok for s, tok, _ in cl.issued[last:] if s == cl.own}
            vs = again(sm.list_secret_version_ids, SecretId=cl.own)["Versions"]
            current = [v["VersionId"] for v in vs if "AWSCURRENT" in v.get("VersionStages", [])]
            assert current and current[0] in later, (cl.own, current, mine[-1])
