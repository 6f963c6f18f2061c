"""
test_pg_rotate_root_key.py -- tresor rotate-root-key on a PostgreSQL store
(docs/internals/SEAL.md, "Rotating a PostgreSQL store's root key").

Every node must be stopped: each serving node holds a session lock shared
(postgres.c, "Live nodes") that the rotation takes exclusively for its
whole run.  Asserted: with a node serving, the rotation is refused, saying
so, and changes nothing; with every node stopped it re-wraps the store and
replaces the store's sealed form in the same transaction, and both nodes
(the other one's data dir holds the old root.seal) start again with the
same passphrase and serve everything written before, under a new root key;
a node started while a rotation runs is refused, and a rotation killed
there leaves the old key in force; under the file seal the other node's
old root.key is refused until the new one is copied to it.

Runs only with TRESOR_E2E_STORE=postgres (make e2e-pg).
"""

import os
import shutil
import subprocess

import pytest

from test_seal import PASS, _unwrap_root_seal
from tresor_e2e import STORE, TresorServer, pg_sql, run_tresor_cmd, tresor_cmd

pytestmark = pytest.mark.skipif(STORE != "postgres",
                                reason="needs a PostgreSQL cluster (make e2e-pg: TRESOR_E2E_STORE=postgres)")

SEALED_ROW = "SELECT doc FROM relations WHERE kind = 'root-key' AND src = 'tresor' AND dst = 'sealed'"
SERVED = ("tresor rotate-root-key: store: a tresor server serves this PostgreSQL store (or a tresor "
          "rotate-root-key runs on it): stop every node first\n")


def rotate_env(srv, extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRESOR_")}
    env["TRESOR_STORE"] = srv.store_url
    env.update(extra or {})
    return env


def rotate(srv, extra=None):
    return run_tresor_cmd(["rotate-root-key", "--data-dir", srv.data_dir], srv.log_dir, timeout=120,
                          capture_output=True, text=True, env=rotate_env(srv, extra))


@pytest.fixture
def pass_nodes(tmp_path_factory):
    """pass_nodes(name): two nodes on one database under the passphrase
    seal, serving (the second from an empty data dir); closed after."""
    made = []

    def make(name):
        a = TresorServer(f"{name}-a", tmp_path_factory.mktemp(f"tresor-{name}-a"))
        made.append(a)
        a.start(args=["--seal", "passphrase"], env_extra={"TRESOR_PASSPHRASE": PASS})
        b = TresorServer(f"{name}-b", tmp_path_factory.mktemp(f"tresor-{name}-b"))
        b.pg_db, b.pg_db_shared = a.pg_db, True
        made.append(b)
        shutil.copy2(a.data_dir / "credentials", b.data_dir / "credentials")
        b.start(env_extra={"TRESOR_PASSPHRASE": PASS})
        return a, b
    yield make
    for n in reversed(made):    # the first node's database is dropped last
        n.close()


def fill(srv):
    arn = srv.sm().create_secret(Name="rot/pg", SecretString="kept across the rotation")["ARN"]
    key_id = srv.kms().create_key()["KeyMetadata"]["KeyId"]
    blob = srv.kms().encrypt(KeyId=key_id, Plaintext=b"attack at dawn")["CiphertextBlob"]
    return arn, blob


def readable(arn, blob, *nodes):
    for srv in nodes:
        assert srv.sm().get_secret_value(SecretId=arn)["SecretString"] == "kept across the rotation"
        assert srv.kms().decrypt(CiphertextBlob=blob)["Plaintext"] == b"attack at dawn"


def test_rotate_passphrase_store_with_every_node_stopped(pass_nodes):
    a, b = pass_nodes("pgrot")
    arn, blob = fill(a)
    old_form = (a.data_dir / "root.seal").read_bytes()
    old_key = _unwrap_root_seal(old_form)

    # A node serves (b; a is stopped): refused, nothing changed.
    assert a.stop() == 0
    p = rotate(a, {"TRESOR_PASSPHRASE": PASS})
    assert p.returncode == 1, p.stderr
    assert p.stderr == SERVED
    assert (a.data_dir / "root.seal").read_bytes() == old_form
    assert pg_sql(SEALED_ROW, a.store_url).strip() == '{"form":"%s","seal":"passphrase"}' % old_form.hex()

    assert b.stop() == 0
    p = rotate(a, {"TRESOR_PASSPHRASE": PASS})
    assert p.returncode == 0, p.stderr
    assert "the PostgreSQL store keeps its sealed form: each node takes it at its next start" in p.stdout
    new_form = (a.data_dir / "root.seal").read_bytes()
    new_key = _unwrap_root_seal(new_form)
    assert new_key != old_key
    assert pg_sql(SEALED_ROW, a.store_url).strip() == '{"form":"%s","seal":"passphrase"}' % new_form.hex()
    assert (b.data_dir / "root.seal").read_bytes() == old_form      # b's copy, stale until it starts

    b.start(env_extra={"TRESOR_PASSPHRASE": PASS})
    assert (b.data_dir / "root.seal").read_bytes() == new_form
    assert "root.seal: replaced by the root key's sealed form kept in the store" in b.stderr_text().decode()
    a.start(env_extra={"TRESOR_PASSPHRASE": PASS})
    readable(arn, blob, a, b)


def test_node_start_refused_while_a_rotation_runs(pass_nodes):
    a, b = pass_nodes("pgrot-run")
    arn, blob = fill(a)
    old_form = (a.data_dir / "root.seal").read_bytes()
    assert a.stop() == 0 and b.stop() == 0
    argv, _ = tresor_cmd(["rotate-root-key", "--data-dir", a.data_dir], a.log_dir)
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=rotate_env(a, {"TRESOR_PASSPHRASE": PASS,
                                            "TRESOR_TEST_ROTATE_PAUSE": "rewrapping"}))
    try:
        line = p.stderr.readline().decode()
        assert "rotate-root-key: paused at rewrapping" in line, line
        with pytest.raises(AssertionError, match="tresor exited with 2 during start-up"):
            b.start(env_extra={"TRESOR_PASSPHRASE": PASS}, timeout=15)
        assert ("a tresor rotate-root-key is running on the PostgreSQL store"
                in b.stderr_text().decode())
    finally:
        p.kill()
        p.wait()
    # Killed before its commit: the old key is still the store's.
    assert pg_sql(SEALED_ROW, a.store_url).strip() == '{"form":"%s","seal":"passphrase"}' % old_form.hex()
    b.start(env_extra={"TRESOR_PASSPHRASE": PASS})
    a.start(env_extra={"TRESOR_PASSPHRASE": PASS})
    assert not (a.data_dir / "root.seal.next").exists()
    assert (a.data_dir / "root.seal").read_bytes() == old_form
    readable(arn, blob, a, b)


def test_rotate_file_seal_store_other_node_needs_the_new_root_key(pg_nodes):
    a, b = pg_nodes(2, name="pgrot-file")
    arn, blob = fill(a)
    old = (a.data_dir / "root.key").read_bytes()
    assert a.stop() == 0 and b.stop() == 0
    p = rotate(a)
    assert p.returncode == 0, p.stderr
    assert f"copy {a.data_dir.resolve()}/root.key to every other node's data dir before it starts" in p.stdout
    assert (a.data_dir / "root.key").read_bytes() != old
    assert pg_sql(SEALED_ROW, a.store_url).strip() == ""               # the file seal's key is never stored
    with pytest.raises(AssertionError, match="the root key is not the one the store is wrapped under"):
        b.start(timeout=15)
    shutil.copy2(a.data_dir / "root.key", b.data_dir / "root.key")
    b.start()
    a.start()
    readable(arn, blob, a, b)
