"""
test_pg_seal.py -- the root key's sealed form kept in a PostgreSQL store
(docs/internals/SEAL.md, "The sealed form in PostgreSQL").

With the passphrase seal, the first node's root.seal goes into the
database with the store's first account; a node started later with an
empty data dir of its own and the same passphrase writes that sealed form
into its data dir and unseals it: a secret written on one node is read on
the other.  Asserted besides: the database holds the sealed form only
(never the root key, which the test unwraps from root.seal itself); a
wrong passphrase fails the start, saying so, and writes nothing the next
start would trip on; a node started without a passphrase comes up sealed
and `tresor unseal` opens it; a node given another seal is refused; a
store made before the sealed form was kept in it (its relation removed
here) gets it from the first node that starts with its root.seal, and
then serves a node with an empty data dir.

Runs only with TRESOR_E2E_STORE=postgres (make e2e-pg).
"""

import base64
import os
import shutil

import pytest

from test_seal import PASS as SEAL_PASS, _unwrap_root_seal
from tresor_e2e import STORE, TresorServer, pg_sql, run_tresor_cmd

pytestmark = pytest.mark.skipif(STORE != "postgres",
                                reason="needs a PostgreSQL cluster (make e2e-pg: TRESOR_E2E_STORE=postgres)")

PASS = SEAL_PASS       # _unwrap_root_seal's
SEALED_ROW = "SELECT doc FROM relations WHERE kind = 'root-key' AND src = 'tresor' AND dst = 'sealed'"


def first_node(tmp_path_factory, name):
    """A node that made the store under the passphrase seal, serving."""
    a = TresorServer(f"{name}-a", tmp_path_factory.mktemp(f"tresor-{name}-a"))
    a.start(args=["--seal", "passphrase"], env_extra={"TRESOR_PASSPHRASE": PASS})
    return a


def empty_node(a, tmp_path_factory, label):
    """Another node on a's database: an empty data dir but for the account's
    credentials file (clients need them; the server does not)."""
    n = TresorServer(label, tmp_path_factory.mktemp(f"tresor-{label}"))
    n.pg_db, n.pg_db_shared = a.pg_db, True
    shutil.copy2(a.data_dir / "credentials", n.data_dir / "credentials")
    return n


def close_all(*nodes):
    for n in reversed(nodes):
        n.close()


def test_second_node_unseals_the_stores_sealed_form(tmp_path_factory):
    a = first_node(tmp_path_factory, "pgseal")
    b = empty_node(a, tmp_path_factory, "pgseal-b")
    try:
        seal_a = (a.data_dir / "root.seal").read_bytes()
        doc = pg_sql(SEALED_ROW, a.store_url).strip()
        assert doc == '{"form":"%s","seal":"passphrase"}' % seal_a.hex()
        assert not (b.data_dir / "root.seal").exists()

        b.start(env_extra={"TRESOR_PASSPHRASE": PASS})
        assert (b.data_dir / "root.seal").read_bytes() == seal_a
        assert (b.data_dir / "root.seal").stat().st_mode & 0o777 == 0o600
        assert not (b.data_dir / "root.key").exists()
        assert "root.seal: written from the root key's sealed form kept in the store" in b.stderr_text().decode()

        arn = a.sm().create_secret(Name="pg-seal/one", SecretString="written on a")["ARN"]
        assert b.sm().get_secret_value(SecretId=arn)["SecretString"] == "written on a"
        key_id = b.kms().create_key()["KeyMetadata"]["KeyId"]
        blob = b.kms().encrypt(KeyId=key_id, Plaintext=b"from b")["CiphertextBlob"]
        assert a.kms().decrypt(CiphertextBlob=blob)["Plaintext"] == b"from b"

        # The root key (unwrapped by the test from root.seal) is nowhere in
        # the database's rows, in any encoding.
        root = _unwrap_root_seal(seal_a)
        dump = pg_sql("SELECT string_agg(doc, '') FROM relations", a.store_url)
        for enc in (root.hex(), base64.b64encode(root).decode()):
            assert enc not in dump
    finally:
        close_all(a, b)


def test_wrong_passphrase_is_refused(tmp_path_factory):
    a = first_node(tmp_path_factory, "pgseal-wrong")
    c = empty_node(a, tmp_path_factory, "pgseal-wrong-c")
    try:
        with pytest.raises(AssertionError, match=r"wrong passphrase \(or root.seal was altered\)"):
            c.start(env_extra={"TRESOR_PASSPHRASE": "not the passphrase"}, timeout=10)
        # The right one then works: what the failed start wrote is the
        # store's sealed form, nothing else.
        assert (c.data_dir / "root.seal").read_bytes() == (a.data_dir / "root.seal").read_bytes()
        c.start(env_extra={"TRESOR_PASSPHRASE": PASS})
        arn = a.sm().create_secret(Name="pg-seal/two", SecretString="s2")["ARN"]
        assert c.sm().get_secret_value(SecretId=arn)["SecretString"] == "s2"
    finally:
        close_all(a, c)


def test_sealed_start_then_unseal_and_other_seal_refused(tmp_path_factory):
    a = first_node(tmp_path_factory, "pgseal-unseal")
    d = empty_node(a, tmp_path_factory, "pgseal-unseal-d")
    e = empty_node(a, tmp_path_factory, "pgseal-unseal-e")
    try:
        d.start(sealed=True)
        p = run_tresor_cmd(["unseal", "--data-dir", d.data_dir], d.log_dir, input=PASS + "\n",
                           capture_output=True, text=True)
        assert p.returncode == 0, p.stderr
        arn = a.sm().create_secret(Name="pg-seal/three", SecretString="s3")["ARN"]
        assert d.sm().get_secret_value(SecretId=arn)["SecretString"] == "s3"

        with pytest.raises(AssertionError, match="tresor exited with 2 during start-up"):
            e.start(args=["--seal", "file"], timeout=10)
        assert ("has the passphrase seal (root.seal); --seal file was given: a data dir keeps the seal "
                "it was created with") in e.stderr_text().decode()
    finally:
        close_all(a, d, e)


def test_store_without_sealed_form_gets_it_from_a_node(tmp_path_factory):
    a = first_node(tmp_path_factory, "pgseal-old")
    f = empty_node(a, tmp_path_factory, "pgseal-old-f")
    try:
        arn = a.sm().create_secret(Name="pg-seal/old", SecretString="before")["ARN"]
        assert a.stop() == 0
        pg_sql("DELETE FROM relations WHERE kind = 'root-key' AND dst = 'sealed'", a.store_url)
        assert pg_sql(SEALED_ROW, a.store_url).strip() == ""

        # No sealed form, no root key file: refused as before.
        with pytest.raises(AssertionError, match="tresor exited with 1 during start-up"):
            f.start(env_extra={"TRESOR_PASSPHRASE": PASS}, timeout=10)
        assert "has no root key (root.key, root.seal or root.p11)" in f.stderr_text().decode()

        a.start(env_extra={"TRESOR_PASSPHRASE": PASS})
        assert "the store's sealed root key is now" in a.stderr_text().decode()
        assert pg_sql(SEALED_ROW, a.store_url).strip() != ""
        f.start(env_extra={"TRESOR_PASSPHRASE": PASS})
        assert f.sm().get_secret_value(SecretId=arn)["SecretString"] == "before"
    finally:
        close_all(a, f)


def test_file_seal_nodes_still_share_root_key_copies(pg_nodes):
    a, b = pg_nodes(2, name="pgseal-file")
    assert pg_sql(SEALED_ROW, a.store_url).strip() == ""
    arn = a.sm().create_secret(Name="pg-seal/file", SecretString="f")["ARN"]
    assert b.sm().get_secret_value(SecretId=arn)["SecretString"] == "f"
    assert os.path.exists(b.data_dir / "root.key")


def test_pkcs11_second_node_unseals_with_the_token(tmp_path_factory, tmp_path, monkeypatch):
    """The pkcs11 seal the same way: root.p11 kept in the store; the second
    node (an empty data dir, the same token, module and PIN) unwraps it in
    the token; a wrong PIN is refused."""
    p11 = pytest.importorskip("test_seal_pkcs11")
    if not (os.path.exists(p11.MODULE) and shutil.which("softhsm2-util")):
        pytest.skip("SoftHSM2 is not installed")
    p11.Token(tmp_path / "hsm", monkeypatch)    # SOFTHSM2_CONF: a token store of this test's own
    a = TresorServer("pgseal-p11-a", tmp_path_factory.mktemp("tresor-pgseal-p11-a"))
    a.start(args=p11.P11_ARGS, env_extra={"TRESOR_PKCS11_PIN": p11.PIN})
    b = empty_node(a, tmp_path_factory, "pgseal-p11-b")
    c = empty_node(a, tmp_path_factory, "pgseal-p11-c")
    try:
        form = (a.data_dir / "root.p11").read_bytes()
        assert pg_sql(SEALED_ROW, a.store_url).strip() == '{"form":"%s","seal":"pkcs11"}' % form.hex()
        env = {"TRESOR_PKCS11_PIN": p11.PIN, "TRESOR_PKCS11_MODULE": p11.MODULE}
        b.start(env_extra=env)
        assert (b.data_dir / "root.p11").read_bytes() == form
        arn = a.sm().create_secret(Name="pg-seal/p11", SecretString="in the token")["ARN"]
        assert b.sm().get_secret_value(SecretId=arn)["SecretString"] == "in the token"
        with pytest.raises(AssertionError, match=r"wrong PIN for PKCS#11 token 'tresor-test' \(CKR_PIN_INCORRECT\)"):
            c.start(env_extra={**env, "TRESOR_PKCS11_PIN": "0000"}, timeout=10)
    finally:
        close_all(a, b, c)
