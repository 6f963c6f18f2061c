"""
test_postgres.py -- the PostgreSQL store, end to end (make e2e-pg).

One tresor node serving from PostgreSQL (`tresor serve --store URL`):

  - the commands that only read (check, who-can-decrypt) and `account
    create` work beside the node (several nodes: test_nodes.py);
  - a database migrated by a newer tresor is refused with both versions;
  - a data dir without the root key that wrapped the database's store is
    refused; so is a data dir whose SQLite store holds data, given an
    empty database (a new account would replace its credentials);
  - every session of the node ended by PostgreSQL (pg_terminate_backend,
    as a restart would): the next requests succeed, reads and writes, and
    the generation listener is connected again;
  - the connection string's password is in no log line, banner or answer;
  - what was written survives a restart of the node.

Runs only with TRESOR_E2E_STORE=postgres (the servers' stores are then
databases of TRESOR_E2E_PG's cluster).
"""

import os
import subprocess
import time

import pytest
from botocore.exceptions import ClientError

import tresor_e2e
from tresor_e2e import (ACCOUNT, REGION, REPO, STORE, TresorServer, free_port, pg_create_database,
                        pg_database_url, pg_drop_database, pg_sql, run_tresor_cmd)

pytestmark = pytest.mark.skipif(STORE != "postgres",
                                reason="needs a PostgreSQL cluster (make e2e-pg: TRESOR_E2E_STORE=postgres)")


def serve_argv(data_dir, port):
    return ["serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data_dir), "--region", REGION,
            "--account-id", ACCOUNT]


def run_serve(srv, data_dir, store, timeout=30):
    """Start `tresor serve` with TRESOR_STORE=store, expecting it to exit;
    returns the CompletedProcess."""
    env = srv._base_env()
    env["TRESOR_STORE"] = store
    return run_tresor_cmd(serve_argv(data_dir, free_port()), srv.log_dir, timeout=timeout, env=env,
                          capture_output=True, text=True, cwd=str(srv.root))


def test_commands_beside_the_node(tresor_factory):
    srv = tresor_factory("pg-one")
    sm = srv.sm()
    sm.create_secret(Name="one-node", SecretString="v1")

    # Commands that only read, and account create, beside the server.
    c = srv.run_tresor("check", "--data-dir", srv.data_dir, "--store", srv.store_url)
    assert c.returncode == 0, c.stdout + c.stderr
    assert "store: PostgreSQL, schema version" in c.stdout and c.stdout.rstrip().endswith("clean"), c.stdout
    assert "secrets 1, versions 1, values decrypted 1" in c.stdout, c.stdout
    w = srv.run_tresor("who-can-decrypt", "one-node", "--data-dir", srv.data_dir, "--format", "json")
    assert w.returncode == 0, w.stderr           # TRESOR_STORE from the environment
    assert f"arn:aws:iam::{ACCOUNT}:root" in w.stdout
    b = srv.create_account("444455556666")
    assert b.kms.list_aliases()["Aliases"] is not None
    assert sm.get_secret_value(SecretId="one-node")["SecretString"] == "v1"


def test_restart_keeps_everything(tresor_factory):
    srv = tresor_factory("pg-restart")
    kms = srv.kms()
    key = kms.create_key(Description="kept")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/kept", TargetKeyId=key)
    blob = kms.encrypt(KeyId="alias/kept", Plaintext=b"hello")["CiphertextBlob"]
    srv.sm().create_secret(Name="kept", SecretString="s")
    srv.restart()
    kms = srv.kms()
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hello"
    assert kms.describe_key(KeyId="alias/kept")["KeyMetadata"]["Description"] == "kept"
    assert srv.sm().get_secret_value(SecretId="kept")["SecretString"] == "s"
    # No SQLite file was made: the store is the database.
    assert not (srv.data_dir / "tresor.db").exists()


def test_schema_newer_than_the_build_is_refused(tresor_factory):
    srv = tresor_factory("pg-newer")
    srv.stop_clean()
    pg_sql("UPDATE tresor_schema SET version = 99", srv.store_url)
    p = run_serve(srv, srv.data_dir, srv.store_url)
    assert p.returncode == 1, p.stderr
    latest = len(list((REPO / "src/store/schema_pg").glob("[0-9][0-9][0-9]_*.sql")))
    assert f"the database's schema is version 99; this tresor knows up to {latest}" in p.stderr, p.stderr
    assert pg_sql("SELECT version FROM tresor_schema", srv.store_url).strip() == "99"
    c = srv.run_tresor("check", "--data-dir", srv.data_dir)
    assert c.returncode == 1 and "schema is version 99" in c.stderr, c.stderr


def test_data_dir_without_the_root_key_is_refused(tresor_factory, tmp_path):
    srv = tresor_factory("pg-key")
    srv.sm().create_secret(Name="wrapped", SecretString="s")
    other = tmp_path / "other"
    srv.stop_clean()
    p = run_serve(srv, other, srv.store_url)
    assert p.returncode == 1, p.stderr
    assert "holds a store, but" in p.stderr and "has no root key" in p.stderr, p.stderr
    assert not (other / "root.key").exists()
    srv.start()
    assert srv.sm().get_secret_value(SecretId="wrapped")["SecretString"] == "s"


def test_sqlite_data_dir_beside_an_empty_database_is_refused(tresor_factory, monkeypatch):
    """A data dir whose SQLite store holds an account, started with --store
    naming an empty database: refused (exit 1, the reason), no account
    written to the database, the data dir's credentials untouched; the data
    dir still serves from its own store without --store."""
    sq = tresor_factory("pg-sqlite-dir", start=False)
    with monkeypatch.context() as m:
        m.setattr(tresor_e2e, "STORE", "sqlite")
        sq.start()
        sq.sm().create_secret(Name="in-sqlite", SecretString="kept")
        sq.stop_clean()
    assert sq.pg_db is None and (sq.data_dir / "tresor.db").is_file()
    creds = (sq.data_dir / "credentials").read_bytes()
    name, url = pg_create_database()
    try:
        p = run_serve(sq, sq.data_dir, url)
        assert p.returncode == 1, p.stderr
        assert (f"tresor serve: {sq.data_dir}/tresor.db holds a SQLite store, and the PostgreSQL database "
                f"(host=") in p.stderr, p.stderr
        assert ("has none: refusing to start a new, empty store beside it (its root credentials would "
                f"replace {sq.data_dir}/credentials); give the data dir that goes with this database, or "
                "start without --store") in p.stderr, p.stderr
        assert pg_sql("SELECT count(*) FROM accounts", url).strip() == "0"
    finally:
        pg_drop_database(name)
    assert (sq.data_dir / "credentials").read_bytes() == creds
    with monkeypatch.context() as m:
        m.setattr(tresor_e2e, "STORE", "sqlite")
        sq.start()
        assert sq.sm().get_secret_value(SecretId="in-sqlite")["SecretString"] == "kept"
        sq.stop_clean()


def test_reconnects_after_its_sessions_end(tresor_factory, tmp_path):
    srv = tresor_factory("pg-reconnect", args=["--threads", "2"])
    sm = srv.sm()
    sm.create_secret(Name="before", SecretString="b")
    db = srv.pg_db[0]
    ended = pg_sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                   f"WHERE datname = '{db}'").strip()
    assert int(ended) >= 2, ended       # the generation listener and a worker's
    # The next requests succeed: a read, a write, a read of the write.
    for _ in range(4):
        assert sm.get_secret_value(SecretId="before")["SecretString"] == "b"
    sm.put_secret_value(SecretId="before", SecretString="after")
    sm.create_secret(Name="new", SecretString="n")
    assert sm.get_secret_value(SecretId="before")["SecretString"] == "after"
    assert sm.get_secret_value(SecretId="new")["SecretString"] == "n"
    # The generation listener lost its session too, and has a new one.
    for _ in range(200):
        if "the generation listener is connected again" in srv.stderr_text().decode():
            break
        time.sleep(0.01)
    log = srv.stderr_text().decode()
    assert "the generation listener is connected again" in log, log[-2000:]


def test_password_never_logged(tresor_factory):
    srv = tresor_factory("pg-secret", start=False)
    srv.pg_db = None
    name, url = pg_create_database()
    # trust authentication ignores the password; it is there to be hidden.
    base, _, query = url.partition("?")
    secret_url = base.replace("postgresql:///", "postgresql://tresor:Pw-s3cret-9x@/") + "?" + query
    srv.pg_db = (name, secret_url)
    srv.start()
    srv.sm().create_secret(Name="x", SecretString="y")
    c = srv.run_tresor("check", "--data-dir", srv.data_dir)
    assert c.returncode == 0, c.stderr
    srv.stop_clean()
    text = srv.stdout_text() + srv.stderr_text()
    assert b"Pw-s3cret-9x" not in text
    assert b"dbname=" + name.encode() in text       # what is logged: host, port, db, user
    assert "Pw-s3cret-9x" not in c.stdout + c.stderr


def test_store_flag_refuses_what_is_not_postgres(tresor_factory, tmp_path):
    srv = tresor_factory("pg-flag", start=False)
    for cmd in (serve_argv(tmp_path / "d", free_port()) + ["--store", "/var/lib/tresor"],
                ["check", "--data-dir", str(tmp_path), "--store", "mysql://x"]):
        p = run_tresor_cmd(cmd, srv.log_dir, env={k: v for k, v in os.environ.items()
                                                   if not k.startswith("TRESOR_")},
                           capture_output=True, text=True)
        assert p.returncode == 2, p.stderr
        assert "--store must be a PostgreSQL connection string" in p.stderr, p.stderr
    p = run_tresor_cmd(serve_argv(tmp_path / "d", free_port()) + ["--dev", "--store", pg_database_url("x")],
                       srv.log_dir, env={k: v for k, v in os.environ.items() if not k.startswith("TRESOR_")},
                       capture_output=True, text=True)
    assert p.returncode == 2 and "--dev keeps its state in memory" in p.stderr, p.stderr


def test_database_down_is_an_internal_error_not_a_crash(tresor_factory):
    """Connections refused (the database renamed away, as if gone): the
    node answers with the service's internal error and keeps running; once
    it is back, requests succeed without a restart."""
    srv = tresor_factory("pg-down")
    sm = srv.sm()
    sm.create_secret(Name="d", SecretString="v")
    db = srv.pg_db[0]
    pg_sql(f"ALTER DATABASE {db} ALLOW_CONNECTIONS false")
    pg_sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{db}'")
    try:
        with pytest.raises(ClientError) as e:
            sm.get_secret_value(SecretId="d")
        assert e.value.response["Error"]["Code"] == "InternalServiceError", e.value.response
        assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
        assert srv.proc.poll() is None
    finally:
        pg_sql(f"ALTER DATABASE {db} ALLOW_CONNECTIONS true")
    assert sm.get_secret_value(SecretId="d")["SecretString"] == "v"
    sm.put_secret_value(SecretId="d", SecretString="w")
    assert sm.get_secret_value(SecretId="d")["SecretString"] == "w"
