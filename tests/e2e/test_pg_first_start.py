"""
test_pg_first_start.py -- two nodes first started at once on an empty
PostgreSQL database.

Each node has a data dir of its own holding a copy of one root key (how
nodes share a store: docs/internals/STORE.md, "Several nodes"), no
--account-id (each would make a random one), and both are started
together while a session of the test holds the nodes' write lock a
moment, so that both have found the store empty and wait to create the
account together: a real race, every time.  Asserted: both come up; the
store has one account with one root access key; exactly one node says it
initialized the store and wrote its credentials, the other that another
node had; `tresor account credentials` writes the other's credentials
file from the store, the same as the first's; and both nodes serve those
credentials and each other's writes.

Runs only with TRESOR_E2E_STORE=postgres (make e2e-pg).
"""

import os
import shutil
import subprocess
import threading
import time

import pytest

from test_seal import PASS
from tresor_e2e import REGION, STORE, TresorServer, free_port, pg_sql, psql_bin

pytestmark = pytest.mark.skipif(STORE != "postgres",
                                reason="needs a PostgreSQL cluster (make e2e-pg: TRESOR_E2E_STORE=postgres)")

LOCK_WRITE = 0x747265736f720003     # postgres.h STORE_PG_LOCK_WRITE


def spawn(n, args=(), env=None):
    """Start `tresor serve` for n without waiting (no --account-id)."""
    n.tls = False
    n.port = free_port()
    n.starts += 1
    n.stdout_path = n.log_dir / f"stdout.{n.starts}.log"
    n.stderr_path = n.log_dir / f"stderr.{n.starts}.log"
    n._spawn(["serve", "--listen", f"127.0.0.1:{n.port}", "--data-dir", str(n.data_dir), "--region", REGION,
              *args], {**n._base_env(), **(env or {})})


def test_two_nodes_first_start_make_one_account(tmp_path_factory):
    a = TresorServer("first-a", tmp_path_factory.mktemp("tresor-first-a"))
    b = TresorServer("first-b", tmp_path_factory.mktemp("tresor-first-b"))
    a.ensure_pg_db()
    b.pg_db, b.pg_db_shared = a.pg_db, True
    key = os.urandom(32)
    for n in (a, b):
        (n.data_dir / "root.key").write_bytes(key)
        (n.data_dir / "root.key").chmod(0o600)
    try:
        holder = subprocess.Popen([psql_bin(), "-X", "-q", "-d", a.store_url, "-c",
                                   f"SELECT pg_advisory_lock({LOCK_WRITE}); SELECT pg_sleep(1.5)"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        for n in (a, b):
            spawn(n)
        errors = []

        def healthy(n):
            try:
                n._wait_healthy(30)
            except BaseException as e:      # reported below
                errors.append(e)
        threads = [threading.Thread(target=healthy, args=(n,)) for n in (a, b)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        holder.wait(30)
        assert not errors, errors

        assert pg_sql("SELECT count(*) FROM accounts", a.store_url).strip() == "1"
        account = pg_sql("SELECT id FROM accounts", a.store_url).strip()
        assert pg_sql("SELECT count(*) FROM access_keys", a.store_url).strip() == "1"
        logs = {n.name: n.stderr_text().decode() for n in (a, b)}
        made = [n for n in (a, b) if f"initialized {n.data_dir.resolve()}: account {account}" in logs[n.name]]
        assert len(made) == 1, logs
        first = made[0]
        other = b if first is a else a
        assert "the store was initialized by another node a moment ago (account " + account + ")" \
            in logs[other.name], logs[other.name]
        assert (first.data_dir / "credentials").exists()
        assert not (other.data_dir / "credentials").exists()

        # The other's credentials file, from the store: the same.
        p = other.run_tresor("account", "credentials", "--data-dir", other.data_dir,
                             "--out", other.data_dir / "credentials")
        assert p.returncode == 0, p.stderr
        first._load_credentials()
        other._load_credentials()
        assert (other.access_key, other.secret_key) == (first.access_key, first.secret_key)

        # Both serve them, and each other's writes.
        for n in (a, b):
            ident = n.client("sts").get_caller_identity()
            assert ident["Account"] == account and ident["Arn"] == f"arn:aws:iam::{account}:root"
        a.sm().create_secret(Name="first-start", SecretString="from a")
        deadline = time.monotonic() + 3
        while True:
            try:
                assert b.sm().get_secret_value(SecretId="first-start")["SecretString"] == "from a"
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
    finally:
        b.close()
        a.close()


def test_two_passphrase_nodes_first_start_one_root_key(tmp_path_factory):
    """The passphrase seal, empty data dirs: each start makes a root key of
    its own before the race; the node that loses it finds its key is not
    the store's, puts the store's sealed form in its place and exits
    (exit 1, saying to start it again); started again with the same
    passphrase it serves the store (docs/internals/SEAL.md, "The sealed
    form in PostgreSQL")."""
    a = TresorServer("first-pa", tmp_path_factory.mktemp("tresor-first-pa"))
    b = TresorServer("first-pb", tmp_path_factory.mktemp("tresor-first-pb"))
    a.ensure_pg_db()
    b.pg_db, b.pg_db_shared = a.pg_db, True
    env = {"TRESOR_PASSPHRASE": PASS}
    try:
        holder = subprocess.Popen([psql_bin(), "-X", "-q", "-d", a.store_url, "-c",
                                   f"SELECT pg_advisory_lock({LOCK_WRITE}); SELECT pg_sleep(1.5)"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)
        for n in (a, b):
            spawn(n, ["--seal", "passphrase"], env)
        rcs = {n.name: n.proc.wait(60) if n.proc.poll() is not None or _exits(n) else None for n in (a, b)}
        holder.wait(30)
        lost = [n for n in (a, b) if rcs[n.name] is not None]
        won = [n for n in (a, b) if rcs[n.name] is None]
        assert len(lost) == 1 and len(won) == 1, rcs
        loser, winner = lost[0], won[0]
        assert rcs[loser.name] == 1
        assert ("another node initialized the store a moment ago under another root key; the one this start "
                "made is removed, and the store's sealed root key written in its place: start this node again"
                in loser.stderr_text().decode())
        assert (loser.data_dir / "root.seal").read_bytes() == (winner.data_dir / "root.seal").read_bytes()
        winner._wait_healthy(30)
        winner._load_credentials()
        shutil.copy2(winner.data_dir / "credentials", loser.data_dir / "credentials")
        loser.proc = None
        loser.start(env_extra=env)
        arn = winner.sm().create_secret(Name="first-sealed", SecretString="one key")["ARN"]
        assert loser.sm().get_secret_value(SecretId=arn)["SecretString"] == "one key"
    finally:
        b.close()
        a.close()


def _exits(n, timeout=30):
    """True when n's process exits within timeout (it lost the race), False
    when it serves instead."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if n.proc.poll() is not None:
            return True
        try:
            conn = n.http_connection(timeout=1, verify=False)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return False
        except OSError:
            pass
        time.sleep(0.05)
    return False
