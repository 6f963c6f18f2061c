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
import subprocess
import threading
import time

import pytest

from tresor_e2e import REGION, STORE, TresorServer, free_port, pg_sql, psql_bin

pytestmark = pytest.mark.skipif(STORE != "postgres",
                                reason="needs a PostgreSQL cluster (make e2e-pg: TRESOR_E2E_STORE=postgres)")

LOCK_WRITE = 0x747265736f720003     # postgres.h STORE_PG_LOCK_WRITE


def spawn(n):
    """Start `tresor serve` for n without waiting (no --account-id)."""
    n.tls = False
    n.port = free_port()
    n.starts += 1
    n.stdout_path = n.log_dir / f"stdout.{n.starts}.log"
    n.stderr_path = n.log_dir / f"stderr.{n.starts}.log"
    n._spawn(["serve", "--listen", f"127.0.0.1:{n.port}", "--data-dir", str(n.data_dir), "--region", REGION],
             n._base_env())


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
