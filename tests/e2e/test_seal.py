"""
test_seal.py -- the passphrase seal of the root key (docs/internals/SEAL.md).

A data dir created with --seal passphrase keeps its root key only wrapped
(DIR/root.seal, AES-256-GCM under an Argon2id key).  Restarted without a
passphrase the server is sealed: /health 503 {"sealed": true}, every API
request 503 ServiceUnavailable "tresor is sealed" in its service's shape,
until `tresor unseal`; a wrong passphrase is refused and counted; `tresor
seal` seals it again.  The seal a data dir was created with cannot be
changed by a later start.  No file of the data dir holds the root key in
the clear: the test unwraps root.seal itself, from the documented format
(libargon2 through ctypes, AES-GCM from cryptography), and greps every
file for the key.
"""
import base64
import ctypes
import ctypes.util
import json
import os
import stat
import struct
import subprocess

import pytest

from tresor_e2e import pg_store_files, raises_aws, run_tresor_cmd

PASS = "tr0ub4dor & 3 horses"
SEALED = "tresor is sealed"


def start_sealed_dir(tresor_factory, name):
    """A server whose data dir was created with the passphrase seal, with a
    KMS key, a ciphertext and a secret in it; stopped."""
    srv = tresor_factory(name, start=False)
    srv.start(args=["--seal", "passphrase"], env_extra={"TRESOR_PASSPHRASE": PASS})
    kms = srv.kms()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"attack at dawn")["CiphertextBlob"]
    srv.sm().create_secret(Name="db/password", SecretString="hunter2")
    assert srv.stop() == 0
    return srv, key_id, blob


def health(srv):
    conn = srv.http_connection()
    conn.request("GET", "/health")
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, json.loads(body)


def unseal(srv, passphrase=None, *, file=None):
    args = ["unseal", "--data-dir", srv.data_dir]
    if file:
        args += ["--passphrase-file", file]
    return run_tresor_cmd(args, srv.log_dir, input=None if file else passphrase + "\n",
                          capture_output=True, text=True)


def assert_all_sealed(srv, key_id, blob):
    kms, sm, iam, sts = srv.kms(), srv.sm(), srv.iam(), srv.sts()
    with raises_aws("ServiceUnavailable", SEALED, status=503):
        kms.list_keys()
    with raises_aws("ServiceUnavailable", SEALED, status=503):
        kms.decrypt(CiphertextBlob=blob)
    with raises_aws("ServiceUnavailable", SEALED, status=503):
        kms.describe_key(KeyId=key_id)
    with raises_aws("ServiceUnavailable", SEALED, status=503):
        sm.get_secret_value(SecretId="db/password")
    with raises_aws("ServiceUnavailable", SEALED, status=503):
        iam.list_users()
    with raises_aws("ServiceUnavailable", SEALED, status=503):
        sts.get_caller_identity()


def test_sealed_until_unseal_then_seal_again(tresor_factory, tmp_path):
    srv, key_id, blob = start_sealed_dir(tresor_factory, "seal")
    srv.start(sealed=True)                          # no passphrase: sealed
    assert health(srv) == (503, {"sealed": True})
    assert_all_sealed(srv, key_id, blob)
    # The raw shapes: JSON with each service's message member, XML for the
    # query protocol with Type Receiver.
    r = srv.raw("TrentService.ListKeys", sign=False)
    assert r.status == 503
    assert json.loads(r.body) == {"__type": "ServiceUnavailable", "message": SEALED}
    r = srv.raw("secretsmanager.ListSecrets", sign=False)
    assert r.status == 503
    assert json.loads(r.body) == {"__type": "ServiceUnavailable", "Message": SEALED}
    sock = srv.data_dir / "control.sock"
    assert stat.S_ISSOCK(sock.stat().st_mode) and stat.S_IMODE(sock.stat().st_mode) == 0o600

    # Wrong passphrases: refused, counted, still sealed.
    p = unseal(srv, "not it")
    assert p.returncode == 1
    assert "wrong passphrase (1 refused since start); tresor stays sealed" in p.stderr
    p = unseal(srv, PASS + " ")
    assert p.returncode == 1
    assert "wrong passphrase (2 refused since start)" in p.stderr
    assert health(srv) == (503, {"sealed": True})
    with raises_aws("ServiceUnavailable", SEALED, status=503):
        srv.kms().decrypt(CiphertextBlob=blob)

    # The right one: serving, the old data decrypts.
    p = unseal(srv, PASS)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == "tresor unseal: unsealed"
    assert health(srv) == (200, {"status": "ok"})
    assert srv.kms().decrypt(CiphertextBlob=blob)["Plaintext"] == b"attack at dawn"
    assert srv.sm().get_secret_value(SecretId="db/password")["SecretString"] == "hunter2"
    assert srv.sts().get_caller_identity()["Account"] == srv.root_user.account
    p = unseal(srv, PASS)
    assert (p.returncode, p.stdout.strip()) == (0, "tresor unseal: already unsealed")

    # Seal again: everything refused until the next unseal.
    p = run_tresor_cmd(["seal", "--data-dir", srv.data_dir], srv.log_dir, capture_output=True, text=True)
    assert (p.returncode, p.stdout.strip()) == (0, "tresor seal: sealed"), p.stderr
    assert health(srv) == (503, {"sealed": True})
    assert_all_sealed(srv, key_id, blob)
    pf = tmp_path / "pass"
    pf.write_text(PASS + "\n")
    pf.chmod(0o600)
    p = unseal(srv, file=pf)
    assert p.returncode == 0, p.stderr
    assert srv.kms().decrypt(CiphertextBlob=blob)["Plaintext"] == b"attack at dawn"
    assert srv.stop() == 0
    assert not sock.exists()


def test_aws_cli_sees_the_sealed_error(tresor_factory):
    srv, _, _ = start_sealed_dir(tresor_factory, "seal-cli")
    srv.start(sealed=True)
    env = {**srv.cli_env(), "AWS_MAX_ATTEMPTS": "1"}     # the CLI retries a 503 otherwise
    for args in (["kms", "list-keys"], ["secretsmanager", "list-secrets"], ["sts", "get-caller-identity"]):
        p = subprocess.run(["/usr/bin/aws", "--endpoint-url", srv.endpoint, "--profile", "tresor", *args],
                           env=env, capture_output=True, text=True, timeout=60)
        assert p.returncode == 254, p.stderr
        assert "(ServiceUnavailable)" in p.stderr and f": {SEALED}" in p.stderr, p.stderr


def test_start_with_passphrase_file_and_wrong_passphrase(tresor_factory, tmp_path):
    srv, _, blob = start_sealed_dir(tresor_factory, "seal-file")
    pf = tmp_path / "pass"
    pf.write_text(PASS + "\n")
    pf.chmod(0o600)
    srv.start(args=["--passphrase-file", pf])
    assert srv.kms().decrypt(CiphertextBlob=blob)["Plaintext"] == b"attack at dawn"
    assert srv.stop() == 0
    # A wrong passphrase at start: the start fails, saying why.
    with pytest.raises(AssertionError, match="wrong passphrase"):
        srv.start(env_extra={"TRESOR_PASSPHRASE": "nope"})
    # A passphrase file others may read: refused.
    pf.chmod(0o644)
    with pytest.raises(AssertionError, match="group and other must have no access"):
        srv.start(args=["--passphrase-file", pf])


def test_seal_type_is_kept(tresor_factory):
    srv, _, _ = start_sealed_dir(tresor_factory, "seal-kept")
    p = run_tresor_cmd(["serve", "--data-dir", srv.data_dir, "--listen", "127.0.0.1:1", "--seal", "file"],
                       srv.log_dir, capture_output=True, text=True)
    assert p.returncode == 2
    assert (f"tresor serve: {srv.data_dir.resolve()} has the passphrase seal (root.seal); --seal file was given: "
            "a data dir keeps the seal it was created with") in p.stderr
    fsrv = tresor_factory("file-kept")                  # file seal, the default
    assert (fsrv.data_dir / "root.key").exists()
    assert fsrv.stop() == 0
    p = run_tresor_cmd(["serve", "--data-dir", fsrv.data_dir, "--listen", "127.0.0.1:1"], fsrv.log_dir,
                       capture_output=True, text=True, env={**os.environ, "TRESOR_SEAL": "passphrase",
                                                           "TRESOR_PASSPHRASE": PASS})
    assert p.returncode == 2
    assert "has the file seal (root.key); TRESOR_SEAL passphrase was given" in p.stderr
    assert not (fsrv.data_dir / "root.seal").exists()


def test_first_start_needs_the_passphrase(tresor_factory):
    srv = tresor_factory("seal-first", start=False)
    with pytest.raises(AssertionError, match="the passphrase seal needs a passphrase on the first start"):
        srv.start(args=["--seal", "passphrase"])
    assert not (srv.data_dir / "root.seal").exists()
    assert not (srv.data_dir / "tresor.db").exists()


def _unwrap_root_seal(data):
    """The root key of root.seal, from the format in docs/internals/SEAL.md,
    with nothing of tresor's code."""
    aead = pytest.importorskip("cryptography.hazmat.primitives.ciphers.aead")
    lib = ctypes.CDLL(ctypes.util.find_library("argon2") or "libargon2.so.1")
    assert len(data) == 98 and data[:8] == b"tresorRK" and data[8] == 1 and data[9] == 1
    m, t, p = struct.unpack(">III", data[10:22])
    assert (m, t, p) == (65536, 3, 1)                   # the defaults: 64 MiB, t=3, p=1
    salt, iv, ct = data[22:38], data[38:50], data[50:]
    kek = ctypes.create_string_buffer(32)
    pw = PASS.encode()
    rc = lib.argon2id_hash_raw(ctypes.c_uint32(t), ctypes.c_uint32(m), ctypes.c_uint32(p), pw,
                               ctypes.c_size_t(len(pw)), salt, ctypes.c_size_t(16), kek, ctypes.c_size_t(32))
    assert rc == 0
    return aead.AESGCM(kek.raw).decrypt(iv, ct, data[:38])


def test_no_file_holds_the_root_key_in_the_clear(tresor_factory, tmp_path):
    srv, _, blob = start_sealed_dir(tresor_factory, "seal-grep")
    audit = tmp_path / "audit.log"
    srv.start(env_extra={"TRESOR_PASSPHRASE": PASS}, args=["--audit-log", audit])
    assert srv.kms().decrypt(CiphertextBlob=blob)["Plaintext"] == b"attack at dawn"
    seal = (srv.data_dir / "root.seal").read_bytes()
    assert stat.S_IMODE((srv.data_dir / "root.seal").stat().st_mode) == 0o600
    root = _unwrap_root_seal(seal)
    assert len(root) == 32
    assert not (srv.data_dir / "root.key").exists()
    forms = [root, root.hex().encode(), root.hex().upper().encode(), base64.b64encode(root),
             base64.urlsafe_b64encode(root).rstrip(b"=")]
    files = [p for p in srv.data_dir.rglob("*") if p.is_file()] + [audit]
    if srv.store_url:               # the store's bytes are the cluster's files of its database
        files += pg_store_files(srv.pg_db[0])
    else:
        assert any(p.name == "tresor.db" for p in files)
    for path in files + list(srv.log_dir.glob("*.log")):
        body = path.read_bytes()
        for f in forms:
            assert f not in body, f"{path} holds the root key"
    assert srv.stop() == 0
    # And after the stop (the store's log checkpointed), the same.
    after = [p for p in srv.data_dir.rglob("*") if p.is_file()]
    if srv.store_url:
        after += pg_store_files(srv.pg_db[0])
    for path in after:
        for f in forms:
            assert f not in path.read_bytes(), f"{path} holds the root key"


def test_metrics_show_the_seal(tresor_factory):
    """--metrics answers while sealed, and tresor_sealed follows unseal and seal."""
    srv, _, _ = start_sealed_dir(tresor_factory, "seal-metrics")
    srv.start(sealed=True, args=["--metrics"])

    def sealed_gauge():
        r = srv.raw(method="GET", path="/metrics", target=None, sign=False)
        assert r.status == 200, r.body
        line = [l for l in r.body.decode().splitlines() if l.startswith("tresor_sealed ")]
        return int(line[0].split()[1])

    assert sealed_gauge() == 1
    assert unseal(srv, PASS).returncode == 0
    assert sealed_gauge() == 0
    p = run_tresor_cmd(["seal", "--data-dir", srv.data_dir], srv.log_dir, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert sealed_gauge() == 1
    assert srv.stop() == 0
