"""
test_pg_restart.py -- PostgreSQL restarted under load, two nodes on it.

Two `tresor serve` nodes on one database (the pg_nodes fixture); client
threads spread reads and writes over both (each client alternates nodes
request by request): PutSecretValue on a secret of its own, with a
ClientRequestToken per write, then GetSecretValue and a KMS Decrypt of a
ciphertext made before the load.  In the middle, PostgreSQL is stopped
with a fast shutdown, left down a moment, and started again on the same
data dir and socket (scripts/pg-test-cluster pause / resume).  Asserted:

  - every answer is either correct or the service's internal error
    (InternalServiceError for Secrets Manager, KMSInternalException for
    KMS, HTTP 500): never a wrong value, never another error, never a
    connection cut (a crash), never a hang past the client's timeout;
  - a read is correct when it serves the client's last write acknowledged
    before the staleness bound (docs/internals/CACHES.md) or one written
    since (acknowledged or not: a write whose answer was lost may have
    committed), never anything else;
  - while PostgreSQL is down the nodes answer with the internal error (at
    least one seen on each node), and after it is back both nodes serve
    again by themselves within seconds, without a restart: every
    connection of every worker, the listener and the caches;
  - no acknowledged write is lost: each acknowledged version is there,
    and each secret's AWSCURRENT is its client's last acknowledged write
    or a later one.

The ordinary client timeouts are kept: connect 5 s, read 30 s.

Runs only with TRESOR_E2E_STORE=postgres (make e2e-pg).
"""

import os
import re
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from botocore.exceptions import ClientError

from tresor_e2e import PG_ADMIN, STORE, unique

pytestmark = pytest.mark.skipif(STORE != "postgres",
                                reason="needs a PostgreSQL cluster (make e2e-pg: TRESOR_E2E_STORE=postgres)")

BOUND = 0.250           # the staleness bound across nodes (postgres.c GEN_STALE_MS)
SLACK = 2.0             # scheduling on a loaded machine: a correctness bound, not a speed one
DOWN = 1.5              # seconds PostgreSQL stays stopped
RECOVER = 15.0          # seconds the nodes get to serve again after it is back
CLIENTS = 4
MAX_WRITES = 90         # per client: every version kept (Secrets Manager prunes beyond 100)
INTERNAL = {"secretsmanager": "InternalServiceError", "kms": "KMSInternalException"}
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "pg-test-cluster"


def cache_hits(node, cache="secrets"):
    """tresor_cache_hits_total of one cache on node (--metrics)."""
    r = node.raw(method="GET", path="/metrics", target=None, sign=False)
    assert r.status == 200, r
    text = r.body.decode()
    m = re.search(r'^tresor_cache_hits_total\{cache="%s"\} (\S+)$' % cache, text, re.M)
    assert m, text[:2000]
    return float(m.group(1))


def cluster(cmd):
    """scripts/pg-test-cluster cmd on the cluster of TRESOR_E2E_PG (its
    socket directory is the cluster's directory)."""
    host = parse_qs(urlparse(PG_ADMIN).query)["host"][0]
    p = subprocess.run([str(SCRIPT), cmd, host], capture_output=True, text=True, timeout=90,
                       env=dict(os.environ))
    assert p.returncode == 0, f"pg-test-cluster {cmd}: {p.stderr}"


class Client:
    """One client: a secret of its own, written and read alternately on
    the two nodes; every outcome recorded."""

    def __init__(self, idx, nodes, name, blob):
        self.idx = idx
        self.sm = [n.sm() for n in nodes]
        self.kms = [n.kms() for n in nodes]
        self.name = name
        self.blob = blob
        self.writes = []        # (value, token, acked_at or None): every write sent, in order
        self.wrong = []         # answers that are neither correct nor the internal error
        self.internal = [0, 0]  # internal errors per node
        self.ok = [0, 0]        # correct answers per node
        self.n = 0

    def _node(self):
        self.n += 1
        return self.n % 2

    def _call(self, service, node, fn):
        """fn() or None when it failed with the service's internal error;
        anything else is recorded as wrong."""
        t0 = time.monotonic()
        try:
            out = fn()
        except ClientError as e:
            code = e.response["Error"]["Code"]
            status = e.response["ResponseMetadata"]["HTTPStatusCode"]
            if code == INTERNAL[service] and status == 500:
                self.internal[node] += 1
                return None
            self.wrong.append((service, node, code, status, e.response["Error"].get("Message")))
            return None
        except Exception as e:          # no answer: a crash, a cut, a timeout
            self.wrong.append((service, node, "no answer", type(e).__name__, str(e),
                               round(time.monotonic() - t0, 3)))
            return None
        self.ok[node] += 1
        return out

    def readable(self, started):
        """The values a read started at `started` may serve: the last
        write acknowledged before started - the bound, and every write
        sent after it."""
        cut = started - (BOUND + SLACK)
        first = 0
        for i, (_, _, acked) in enumerate(self.writes):
            if acked is not None and acked < cut:
                first = i
        return {v for v, _, _ in self.writes[first:]}

    def step(self, i):
        time.sleep(0.01)
        if len(self.writes) < MAX_WRITES:
            self.write(i)
        self.read()

    def write(self, i):
        node = self._node()
        value = f"c{self.idx}-v{i}"
        token = f"c{self.idx}-{i:04d}-" + "0" * 28
        self.writes.append([value, token, None])
        sm = self.sm[node]
        out = self._call("secretsmanager", node,
                         lambda: sm.put_secret_value(SecretId=self.name, SecretString=value,
                                                     ClientRequestToken=token))
        if out is not None:
            if out["VersionId"] != token:
                self.wrong.append(("put", node, out["VersionId"], token))
            self.writes[-1][2] = time.monotonic()

    def read(self):
        node = self._node()
        started = time.monotonic()
        sm = self.sm[node]
        got = self._call("secretsmanager", node, lambda: sm.get_secret_value(SecretId=self.name))
        if got is not None and got["SecretString"] not in self.readable(started):
            self.wrong.append(("get", node, got["SecretString"], sorted(self.readable(started))))
        node = self._node()
        kms = self.kms[node]
        plain = self._call("kms", node, lambda: kms.decrypt(CiphertextBlob=self.blob))
        if plain is not None and plain["Plaintext"] != b"restart-me":
            self.wrong.append(("decrypt", node, plain["Plaintext"]))


def test_postgres_restart_under_load(pg_nodes):
    a, b = pg_nodes(2, args=["--metrics"])
    nodes = (a, b)
    key = a.kms().create_key()["KeyMetadata"]["KeyId"]
    blob = a.kms().encrypt(KeyId=key, Plaintext=b"restart-me")["CiphertextBlob"]
    clients = []
    for c in range(CLIENTS):
        name = unique(f"restart{c}")
        first = a.sm().create_secret(Name=name, SecretString=f"c{c}-init")["VersionId"]
        cl = Client(c, nodes, name, blob)
        cl.writes.append([f"c{c}-init", first, time.monotonic()])
        clients.append(cl)

    stop = threading.Event()
    errors = []

    def run(cl):
        try:
            i = 0
            while not stop.is_set():
                cl.step(i)
                i += 1
        except BaseException as e:      # reported below, not lost in the thread
            errors.append(e)

    threads = [threading.Thread(target=run, args=(cl,)) for cl in clients]
    for t in threads:
        t.start()
    time.sleep(1.0)                     # load on both nodes, PostgreSQL up
    before = [sum(cl.ok[n] for cl in clients) for n in (0, 1)]
    internal_before = [sum(cl.internal[n] for cl in clients) for n in (0, 1)]
    cluster("pause")
    down_at = time.monotonic()
    time.sleep(DOWN)
    internal_down = [sum(cl.internal[n] for cl in clients) - internal_before[n] for n in (0, 1)]
    cluster("resume")
    up_at = time.monotonic()

    # Both nodes serve again by themselves: a correct answer from each
    # node, to reads and writes, after PostgreSQL is back.
    def served_since(n):
        return sum(cl.ok[n] for cl in clients)
    mark = [served_since(0), served_since(1)]
    while time.monotonic() - up_at < RECOVER and not all(served_since(n) > mark[n] + 3 * CLIENTS for n in (0, 1)):
        time.sleep(0.05)
    recovered = time.monotonic() - up_at
    time.sleep(1.0)                     # and keep serving under load
    stop.set()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert all(not t.is_alive() for t in threads), "a client hung"

    wrong = [w for cl in clients for w in cl.wrong]
    assert not wrong, wrong[:20]
    assert all(before[n] > 0 for n in (0, 1)), before
    assert all(internal_down[n] > 0 for n in (0, 1)), \
        f"no internal error from a node while PostgreSQL was down: {internal_down}"
    assert recovered < RECOVER, f"the nodes did not serve again within {RECOVER}s of PostgreSQL's start"

    # Both nodes, after: every client's writes as they were acknowledged;
    # the listener connected again (the caches are used again, and another
    # node's write is seen within the bound).
    for n in nodes:
        log = n.stderr_text().decode()
        assert "the generation listener has no connection" in log, log[-3000:]
        assert "the generation listener is connected again" in log, log[-3000:]
    name = clients[0].name
    for n in nodes:
        sm = n.sm()
        h0 = cache_hits(n)
        for _ in range(5):
            sm.get_secret_value(SecretId=name)
        assert cache_hits(n) > h0, f"{n.name}: the secrets cache is not used again"
    a.sm().put_secret_value(SecretId=name, SecretString="after-restart")
    t0 = time.monotonic()
    while b.sm().get_secret_value(SecretId=name)["SecretString"] != "after-restart":
        assert time.monotonic() - t0 < BOUND + SLACK, "b does not see a's write after the restart"
    for n in nodes:
        sm, kms = n.sm(), n.kms()
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"restart-me"
        for cl in clients:
            vs = sm.list_secret_version_ids(SecretId=cl.name, IncludeDeprecated=True)["Versions"]
            have = {v["VersionId"]: v.get("VersionStages", []) for v in vs}
            acked = [(v, tok) for v, tok, at in cl.writes if at is not None]
            for _, tok in acked:
                assert tok in have, f"acknowledged write {tok} lost on {n.name}"
            last = max(i for i, w in enumerate(cl.writes) if w[2] is not None)
            current = [tok for tok, st in have.items() if "AWSCURRENT" in st]
            assert len(current) == 1, have
            if cl is not clients[0]:
                assert current[0] in {tok for _, tok, _ in cl.writes[last:]}, \
                    (cl.name, current, cl.writes[last:])
                value = sm.get_secret_value(SecretId=cl.name)["SecretString"]
                assert value == next(v for v, tok, _ in cl.writes if tok == current[0])

    total_ok = sum(sum(cl.ok) for cl in clients)
    total_internal = sum(sum(cl.internal) for cl in clients)
    acked = sum(1 for cl in clients for w in cl.writes if w[2] is not None)
    print(f"\nPostgreSQL restart under load: {total_ok} correct answers, {total_internal} internal errors "
          f"(down {DOWN:.1f} s: a {internal_down[0]}, b {internal_down[1]}), {acked} writes acknowledged, "
          f"none lost; both nodes serving again {recovered:.2f} s after PostgreSQL's start "
          f"({up_at - down_at:.2f} s after the stop began)")
