"""
test_pg_pool.py -- a node's bounded pool of PostgreSQL connections.

`tresor serve --store URL --store-connections N` (TRESOR_STORE_CONNECTIONS;
by default the worker threads + 2) keeps at most N connections to the
database, besides the one that listens for the other nodes' commits and
the one that runs the flush rounds of group commit (src/store/postgres.c,
"Connections").  Here:

  - a node with 8 worker threads and 2 connections answers 16 clients'
    reads and writes at once, every one correctly (the requests wait
    their turn for a connection), and the database never sees more than
    4 sessions of the node (sampled from pg_stat_activity throughout);
  - a bound that is not a number from 1 to 1024, or one given without
    --store, is refused before anything starts.

Runs only with TRESOR_E2E_STORE=postgres (make e2e-pg).
"""

import threading

import pytest
from botocore.exceptions import ClientError

from tresor_e2e import STORE, pg_sql, unique

pytestmark = pytest.mark.skipif(STORE != "postgres",
                                reason="needs a PostgreSQL cluster (make e2e-pg: TRESOR_E2E_STORE=postgres)")


def sessions(db):
    return int(pg_sql(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' "
                      "AND application_name = 'tresor'").strip())


def test_pool_bound_holds_under_load(pg_nodes):
    (a,) = pg_nodes(1, args=["--threads", "8", "--store-connections", "2"])
    db = pg_sql("SELECT current_database()", a.store_url).strip()
    assert "at most 2 connections" in a.stderr_text().decode() + a.stdout_text().decode()
    names = [unique(f"pool{i}") for i in range(16)]
    for i, name in enumerate(names):
        a.sm().create_secret(Name=name, SecretString=f"v{i}-init")
    clients = [a.sm() for _ in names]
    stop = threading.Event()
    seen = []
    wrong = []

    def sample():
        while not stop.is_set():
            seen.append(sessions(db))

    def client(i):
        sm = clients[i]
        try:
            for j in range(10):
                sm.put_secret_value(SecretId=names[i], SecretString=f"v{i}-{j}")
                got = sm.get_secret_value(SecretId=names[i])["SecretString"]
                if got != f"v{i}-{j}":
                    wrong.append((i, j, got))
        except ClientError as e:
            wrong.append((i, e.response["Error"]))

    sampler = threading.Thread(target=sample)
    sampler.start()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(len(names))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    stop.set()
    sampler.join(30)
    assert not wrong, wrong[:10]
    assert seen and max(seen) <= 4, seen           # 2 in the pool + the listener + the flush rounds'
    for i, name in enumerate(names):
        assert a.sm().get_secret_value(SecretId=name)["SecretString"] == f"v{i}-9"
    print(f"\n16 clients on 8 threads and 2 connections: sessions seen {min(seen)}..{max(seen)} "
          f"over {len(seen)} samples")


def test_pool_bound_refused_when_invalid(pg_nodes):
    (a,) = pg_nodes(1)
    for bad in ("0", "1025", "two", ""):
        p = a.run_tresor("serve", "--data-dir", a.data_dir, "--store", a.store_url,
                         "--store-connections", bad)
        assert p.returncode == 2, p.stderr
        assert f"--store-connections must be a number from 1 to 1024, not '{bad}'" in p.stderr, p.stderr
    p = a.run_tresor("serve", "--data-dir", a.data_dir, env_extra={"TRESOR_STORE_CONNECTIONS": "-3",
                                                                     "TRESOR_STORE": a.store_url})
    assert p.returncode == 2, p.stderr
    assert "TRESOR_STORE_CONNECTIONS must be a number from 1 to 1024, not '-3'" in p.stderr, p.stderr
    p = a.run_tresor("serve", "--data-dir", a.data_dir, "--store-connections", "4",
                     env_extra={"TRESOR_STORE": ""})
    assert p.returncode == 2, p.stderr
    assert "--store-connections is the bound of a PostgreSQL store's connections: it needs --store" \
        in p.stderr, p.stderr
