"""
test_seal_pkcs11.py -- the pkcs11 seal and `tresor seal migrate`
(docs/internals/SEAL.md).

Each test makes its own SoftHSM2 token in a temporary directory
(SOFTHSM2_CONF naming a conf whose directories.tokendir is a temp dir;
softhsm2-util --init-token).  With --seal pkcs11 the root key is wrapped
(AES-256-GCM, by the token) by an AES-256 key made in the token on the
first start, and kept in DIR/root.p11.  Restarted without the PIN the
server is sealed until `tresor unseal` sends it; a wrong PIN is refused
and counted; a token whose key is gone refuses the start and never gets
a new key.  `tresor seal migrate` moves a stopped data dir between the
file, passphrase and pkcs11 seals keeping the root key, refuses while a
server runs, and a migration stopped at any step leaves a data dir that
opens with exactly one seal.  No data-dir file holds the root key in the
clear once it is sealed: the tests learn the key by migrating a copy of
the data dir to the file seal, and grep for it.
"""
import base64
import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from test_seal import health
from tresor_e2e import WRAPPER, pg_sql, pg_store_files, raises_aws, run_tresor_cmd, sqlite_only

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
TOKEN = "tresor-test"
KEY = "tresor-root-wrap"
PIN = "5678-pin"
SO_PIN = "1234-so"
SEALED = "tresor is sealed"
PASS = "a passphrase for the migration"

pytestmark = pytest.mark.skipif(
    not (os.path.exists(MODULE) and shutil.which("softhsm2-util")),
    reason=f"SoftHSM2 is not installed ({MODULE}, softhsm2-util): scripts/install-deps installs it")


class Token:
    """A SoftHSM2 token store of its own, in a temp dir."""

    def __init__(self, root, monkeypatch):
        self.root = root
        self.dir = root / "tokens"
        self.dir.mkdir(parents=True)
        self.conf = root / "softhsm2.conf"
        self.conf.write_text(f"directories.tokendir = {self.dir}\nobjectstore.backend = file\nlog.level = ERROR\n")
        monkeypatch.setenv("SOFTHSM2_CONF", str(self.conf))     # the servers and the commands inherit it
        self.init(TOKEN)

    def init(self, label):
        subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--so-pin", SO_PIN,
                        "--pin", PIN], check=True, capture_output=True, timeout=60)

    def wipe(self):
        """Every token gone, and a fresh one of the same label made."""
        shutil.rmtree(self.dir)
        self.dir.mkdir()
        self.init(TOKEN)

    def objects(self):
        """pkcs11-tool's listing of the token's objects (logged in)."""
        p = subprocess.run(["pkcs11-tool", "--module", MODULE, "--token-label", TOKEN, "--login", "--pin", PIN,
                            "--list-objects"], capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        return p.stdout


@pytest.fixture
def token(tmp_path, monkeypatch):
    return Token(tmp_path / "hsm", monkeypatch)


P11_ARGS = ["--seal", "pkcs11", "--pkcs11-module", MODULE, "--pkcs11-token", TOKEN, "--pkcs11-key", KEY]


def pin_file(tmp_path, text=PIN):
    f = tmp_path / "pin"
    f.write_text(text + "\n")
    f.chmod(0o600)
    return f


def fill(srv):
    """A KMS key, a ciphertext and a secret; (key id, ciphertext)."""
    kms = srv.kms()
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"attack at dawn")["CiphertextBlob"]
    srv.sm().create_secret(Name="db/password", SecretString="hunter2")
    return key_id, blob


def readable(srv, blob):
    assert srv.kms().decrypt(CiphertextBlob=blob)["Plaintext"] == b"attack at dawn"
    assert srv.sm().get_secret_value(SecretId="db/password")["SecretString"] == "hunter2"
    assert srv.sts().get_caller_identity()["Account"] == srv.root_user.account


def start_p11_dir(tresor_factory, name):
    """A stopped server whose data dir was made with the pkcs11 seal, with data."""
    srv = tresor_factory(name, start=False)
    srv.start(args=P11_ARGS, env_extra={"TRESOR_PKCS11_PIN": PIN})
    key_id, blob = fill(srv)
    assert srv.stop() == 0
    return srv, key_id, blob


def tresor(srv, *args, env=None, input=None):
    # Under TRESOR_E2E_STORE=postgres the commands name the server's database.
    store = {"TRESOR_STORE": srv.store_url} if srv.store_url else {}
    return run_tresor_cmd([str(a) for a in args], srv.log_dir, capture_output=True, text=True, input=input,
                          env={**os.environ, **store, **(env or {})})


def seal_files(d):
    return sorted(p.name for p in d.iterdir() if p.name in ("root.key", "root.seal", "root.p11", "seal.migrating"))


def root_key_of(srv, tmp_path, env):
    """The root key of srv's (stopped) data dir: a copy moved to the file seal."""
    copy = tmp_path / f"copy-{srv.data_dir.name}"
    shutil.copytree(srv.data_dir, copy)
    p = tresor(srv, "seal", "migrate", "--data-dir", copy, "--to", "file", env=env)
    assert p.returncode == 0, p.stderr
    key = (copy / "root.key").read_bytes()
    shutil.rmtree(copy)
    assert len(key) == 32
    return key


def assert_key_nowhere(srv, key, extra=()):
    forms = [key, key.hex().encode(), key.hex().upper().encode(), base64.b64encode(key),
             base64.urlsafe_b64encode(key).rstrip(b"=")]
    files = [p for p in srv.data_dir.rglob("*") if p.is_file()] + list(srv.log_dir.glob("*.log")) + list(extra)
    if srv.store_url:               # the store's bytes are the cluster's files of its database
        files += pg_store_files(srv.pg_db[0])
    else:
        assert any(p.name == "tresor.db" for p in files)
    for path in files:
        body = path.read_bytes()
        for f in forms:
            assert f not in body, f"{path} holds the root key"


# ---- the pkcs11 seal -----------------------------------------------------------------------------

def test_first_start_makes_the_key_and_a_restart_decrypts(tresor_factory, token, tmp_path):
    srv, key_id, blob = start_p11_dir(tresor_factory, "p11-first")
    log = srv.stderr_path.read_text()
    assert f"made the AES-256 key '{KEY}' in PKCS#11 token '{TOKEN}'" in log
    # The key in the token: AES-256, sensitive, never extractable, encrypt/decrypt only.
    if shutil.which("pkcs11-tool"):
        objs = token.objects()
        assert "Secret Key Object; AES length 32" in objs, objs
        assert f"label:      {KEY}" in objs
        assert "sensitive" in objs and "never extractable" in objs
        assert "Usage:      encrypt, decrypt\n" in objs
    # root.p11 as documented: magic, version, CKM_AES_GCM, the labels, then IV | ct | tag.
    p11 = srv.data_dir / "root.p11"
    data = p11.read_bytes()
    assert stat.S_IMODE(p11.stat().st_mode) == 0o600
    head = b"tresorTK\x01\x00\x00\x10\x87" + bytes([len(TOKEN)]) + TOKEN.encode() + bytes([len(KEY)]) + KEY.encode()
    assert data.startswith(head) and len(data) == len(head) + 12 + 32 + 16
    assert seal_files(srv.data_dir) == ["root.p11"]
    # A restart with the PIN from a file, the module from the environment and
    # the labels from root.p11: serving, the old data decrypts; the key was not made again.
    srv.start(args=["--pkcs11-pin-file", pin_file(tmp_path)], env_extra={"TRESOR_PKCS11_MODULE": MODULE})
    assert "made the AES-256 key" not in srv.stderr_path.read_text()
    readable(srv, blob)
    assert srv.stop() == 0
    # TRESOR_PKCS11_PIN is wiped in the process's environment once read.
    srv.start(env_extra={"TRESOR_PKCS11_MODULE": MODULE, "TRESOR_PKCS11_PIN": PIN})
    try:
        environ = (Path("/proc") / str(srv.proc.pid) / "environ").read_bytes()
    except OSError:
        environ = None                                          # not readable here: nothing to look at
    if WRAPPER:     # under valgrind, /proc shows the wrapper's copy, which the server cannot wipe
        environ = None
    if environ is not None and b"TRESOR_PKCS11_MODULE=" in environ:     # the server's own, not a wrapper's
        assert PIN.encode() not in environ
    readable(srv, blob)
    assert srv.kms().describe_key(KeyId=key_id)["KeyMetadata"]["KeyId"] == key_id
    assert srv.stop() == 0
    # The commands that open a data dir themselves take the PIN from the environment.
    env = {"TRESOR_PKCS11_PIN": PIN, "TRESOR_PKCS11_MODULE": MODULE}
    p = tresor(srv, "check", "--data-dir", srv.data_dir, env=env)
    assert p.returncode == 0, p.stderr
    p = tresor(srv, "who-can-decrypt", "db/password", "--data-dir", srv.data_dir, env=env)
    assert p.returncode == 0, p.stderr
    p = tresor(srv, "check", "--data-dir", srv.data_dir, env={"TRESOR_PKCS11_MODULE": MODULE})
    assert p.returncode == 1
    assert "is sealed by a PKCS#11 token: give its PIN in TRESOR_PKCS11_PIN" in p.stderr


def test_sealed_without_pin_until_unseal(tresor_factory, token, tmp_path):
    srv, key_id, blob = start_p11_dir(tresor_factory, "p11-sealed")
    srv.start(sealed=True, env_extra={"TRESOR_PKCS11_MODULE": MODULE})
    assert health(srv) == (503, {"sealed": True})
    kms, sm, iam, sts = srv.kms(), srv.sm(), srv.iam(), srv.sts()
    for call in (kms.list_keys, lambda: kms.decrypt(CiphertextBlob=blob),
                 lambda: sm.get_secret_value(SecretId="db/password"), iam.list_users, sts.get_caller_identity):
        with raises_aws("ServiceUnavailable", SEALED, status=503):
            call()
    r = srv.raw("TrentService.ListKeys", sign=False)
    assert r.status == 503 and json.loads(r.body) == {"__type": "ServiceUnavailable", "message": SEALED}
    # Wrong PINs: refused, counted, still sealed.
    for n, wrong in ((1, "0000"), (2, PIN + "x")):
        p = tresor(srv, "unseal", "--data-dir", srv.data_dir, input=wrong + "\n")
        assert p.returncode == 1
        assert f"tresor unseal: wrong PIN ({n} refused since start); tresor stays sealed" in p.stderr, p.stderr
    assert health(srv) == (503, {"sealed": True})
    with raises_aws("ServiceUnavailable", SEALED, status=503):
        srv.kms().decrypt(CiphertextBlob=blob)
    # The PIN on standard input: unsealed, the old data decrypts.
    p = tresor(srv, "unseal", "--data-dir", srv.data_dir, input=PIN + "\n")
    assert (p.returncode, p.stdout.strip()) == (0, "tresor unseal: unsealed"), p.stderr
    assert health(srv) == (200, {"status": "ok"})
    readable(srv, blob)
    # Sealed again, then unsealed with --pin-file.
    p = tresor(srv, "seal", "--data-dir", srv.data_dir)
    assert (p.returncode, p.stdout.strip()) == (0, "tresor seal: sealed"), p.stderr
    with raises_aws("ServiceUnavailable", SEALED, status=503):
        srv.sm().get_secret_value(SecretId="db/password")
    p = tresor(srv, "unseal", "--data-dir", srv.data_dir, "--pin-file", pin_file(tmp_path))
    assert p.returncode == 0, p.stderr
    readable(srv, blob)
    assert srv.stop() == 0


def test_wrong_pin_and_missing_token_refuse_the_start(tresor_factory, token):
    srv, _, _ = start_p11_dir(tresor_factory, "p11-wrong")
    with pytest.raises(AssertionError, match=r"wrong PIN for PKCS#11 token 'tresor-test' \(CKR_PIN_INCORRECT\)"):
        srv.start(env_extra={"TRESOR_PKCS11_PIN": "0000", "TRESOR_PKCS11_MODULE": MODULE})
    with pytest.raises(AssertionError, match=r"root.p11 was sealed under key 'tresor-root-wrap' of PKCS#11 token "
                                             r"'tresor-test'; token 'other' and key 'tresor-root-wrap' were given"):
        srv.start(args=["--pkcs11-token", "other"],
                  env_extra={"TRESOR_PKCS11_PIN": PIN, "TRESOR_PKCS11_MODULE": MODULE})
    # A first start naming a token that is not there: refused, nothing written.
    new = tresor_factory("p11-notoken", start=False)
    with pytest.raises(AssertionError, match=f"PKCS#11 module {MODULE} has no token labelled 'nope' "
                                             r"\(tokens present: 'tresor-test'\)"):
        new.start(args=["--seal", "pkcs11", "--pkcs11-module", MODULE, "--pkcs11-token", "nope",
                        "--pkcs11-key", KEY], env_extra={"TRESOR_PKCS11_PIN": PIN})
    assert not (new.data_dir / "root.p11").exists() and not (new.data_dir / "tresor.db").exists()
    # A first start without the PIN: refused.
    with pytest.raises(AssertionError, match="the pkcs11 seal needs the token's PIN on the first start"):
        new.start(args=P11_ARGS)


def test_key_gone_refuses_the_start_and_makes_no_new_key(tresor_factory, token):
    srv, _, _ = start_p11_dir(tresor_factory, "p11-gone")
    before = (srv.data_dir / "root.p11").read_bytes()
    env = {"TRESOR_PKCS11_PIN": PIN, "TRESOR_PKCS11_MODULE": MODULE}
    msg = (f"PKCS#11 token '{TOKEN}' has no AES key labelled '{KEY}', which {srv.data_dir.resolve()}/root.p11 "
           "was sealed under: it was deleted, or this is another token of the same label; tresor never makes "
           "a new key for an existing root.p11")
    if shutil.which("pkcs11-tool"):
        p = subprocess.run(["pkcs11-tool", "--module", MODULE, "--token-label", TOKEN, "--login", "--pin", PIN,
                            "--delete-object", "--type", "secrkey", "--label", KEY],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        with pytest.raises(AssertionError) as ei:
            srv.start(env_extra=env)
        assert msg in str(ei.value)
        assert "Secret Key Object" not in token.objects()          # none made in its place
    # A fresh token of the same label: the same refusal.
    token.wipe()
    with pytest.raises(AssertionError) as ei:
        srv.start(env_extra=env)
    assert msg in str(ei.value)
    assert (srv.data_dir / "root.p11").read_bytes() == before
    # The unseal of a sealed server says the same, and the server stays sealed.
    srv.start(sealed=True, env_extra={"TRESOR_PKCS11_MODULE": MODULE})
    p = tresor(srv, "unseal", "--data-dir", srv.data_dir, input=PIN + "\n")
    assert p.returncode == 1 and msg in p.stderr and "tresor stays sealed" in p.stderr, p.stderr
    assert health(srv) == (503, {"sealed": True})
    assert srv.stop() == 0


def test_tampered_root_p11_is_refused(tresor_factory, token):
    srv, _, _ = start_p11_dir(tresor_factory, "p11-tamper")
    f = srv.data_dir / "root.p11"
    data = bytearray(f.read_bytes())
    env = {"TRESOR_PKCS11_PIN": PIN, "TRESOR_PKCS11_MODULE": MODULE}
    for off, what in ((len(data) - 60, "does not authenticate"), (len(data) - 1, "does not authenticate"),
                      (8, "not a PKCS#11-sealed root key")):
        bad = bytearray(data)
        bad[off] ^= 1
        f.write_bytes(bytes(bad))
        if srv.store_url:       # the data dir's copy is the store's sealed form's: that one changed too
            set_store_form(srv, bytes(bad))
        with pytest.raises(AssertionError, match=what):
            srv.start(env_extra=env)
    f.write_bytes(bytes(data))
    if srv.store_url:
        set_store_form(srv, bytes(data))
    srv.start(env_extra=env)
    assert srv.stop() == 0


def set_store_form(srv, form):
    """The sealed form a PostgreSQL store keeps (SEAL.md, "The sealed form
    in PostgreSQL"), replaced by form."""
    doc = '{"form":"%s","seal":"pkcs11"}' % form.hex()
    pg_sql(f"UPDATE relations SET doc = '{doc}' WHERE kind = 'root-key' AND src = 'tresor' AND dst = 'sealed'",
           srv.store_url)


def test_no_file_holds_the_root_key(tresor_factory, token, tmp_path):
    srv, _, blob = start_p11_dir(tresor_factory, "p11-grep")
    env = {"TRESOR_PKCS11_PIN": PIN, "TRESOR_PKCS11_MODULE": MODULE}
    key = root_key_of(srv, tmp_path, env)
    audit = tmp_path / "audit.log"
    srv.start(env_extra=env, args=["--audit-log", audit])
    readable(srv, blob)
    assert not (srv.data_dir / "root.key").exists()
    assert_key_nowhere(srv, key, [audit])
    assert srv.stop() == 0
    assert_key_nowhere(srv, key, [audit])
    # The token's own files do not hold it either (the key never left it).
    for p in token.dir.rglob("*"):
        if p.is_file():
            assert key not in p.read_bytes()


# ---- tresor seal migrate -------------------------------------------------------------------------

def test_migrate_file_passphrase_pkcs11_file(tresor_factory, token, tmp_path):
    srv = tresor_factory("migrate")                            # the file seal, the default
    _, blob = fill(srv)
    assert srv.stop() == 0
    key = (srv.data_dir / "root.key").read_bytes()
    env = {"TRESOR_PASSPHRASE": PASS}

    p = tresor(srv, "seal", "migrate", "--data-dir", srv.data_dir, "--to", "passphrase", env=env)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == (f"tresor seal migrate: {srv.data_dir.resolve()} moved from the file seal (root.key) "
                                "to the passphrase seal (root.seal); the root key is the same")
    assert seal_files(srv.data_dir) == ["root.seal"]
    assert_key_nowhere(srv, key)
    srv.start(env_extra=env)
    readable(srv, blob)
    assert srv.stop() == 0

    env = {"TRESOR_PASSPHRASE": PASS, "TRESOR_PKCS11_PIN": PIN}
    p = tresor(srv, "seal", "migrate", "--data-dir", srv.data_dir, "--to", "pkcs11", "--pkcs11-module", MODULE,
               "--pkcs11-token", TOKEN, "--pkcs11-key", KEY, env=env)
    assert p.returncode == 0, p.stderr
    assert seal_files(srv.data_dir) == ["root.p11"]
    assert_key_nowhere(srv, key)
    srv.start(env_extra={"TRESOR_PKCS11_PIN": PIN, "TRESOR_PKCS11_MODULE": MODULE})
    readable(srv, blob)
    assert srv.stop() == 0

    p = tresor(srv, "seal", "migrate", "--data-dir", srv.data_dir, "--to", "file",
               env={"TRESOR_PKCS11_PIN": PIN, "TRESOR_PKCS11_MODULE": MODULE})
    assert p.returncode == 0, p.stderr
    assert seal_files(srv.data_dir) == ["root.key"]
    assert (srv.data_dir / "root.key").read_bytes() == key       # the same root key all along
    srv.start()
    readable(srv, blob)
    assert srv.stop() == 0


def test_migrate_refusals(tresor_factory, token, tmp_path):
    srv = tresor_factory("migrate-running")
    _, blob = fill(srv)
    # A running server holds the data dir's lock: refused, nothing changed.
    p = tresor(srv, "seal", "migrate", "--data-dir", srv.data_dir, "--to", "passphrase",
               env={"TRESOR_PASSPHRASE": PASS})
    assert p.returncode == 1
    assert (f"tresor: seal migrate: a tresor server is running on {srv.data_dir.resolve()} (it holds the data "
            "dir's lock, or a tresor seal migrate or rotate-root-key does): stop it first") in p.stderr, p.stderr
    assert seal_files(srv.data_dir) == ["root.key"]
    readable(srv, blob)
    assert srv.stop() == 0
    # Already that seal; no secret for the target; a wrong PIN: refused, nothing changed.
    p = tresor(srv, "seal", "migrate", "--data-dir", srv.data_dir, "--to", "file")
    assert p.returncode == 1 and "already has the file seal (root.key)" in p.stderr
    p = tresor(srv, "seal", "migrate", "--data-dir", srv.data_dir, "--to", "passphrase")
    assert p.returncode == 1 and "the passphrase seal needs its passphrase" in p.stderr
    p = tresor(srv, "seal", "migrate", "--data-dir", srv.data_dir, "--to", "pkcs11", "--pkcs11-module", MODULE,
               "--pkcs11-token", TOKEN, "--pkcs11-key", KEY, env={"TRESOR_PKCS11_PIN": "0000"})
    assert p.returncode == 1 and "wrong PIN for PKCS#11 token 'tresor-test'" in p.stderr, p.stderr
    p = tresor(srv, "seal", "migrate", "--data-dir", srv.data_dir, "--to", "rot13")
    assert p.returncode == 2 and "--to must be file, passphrase or pkcs11, not 'rot13'" in p.stderr
    assert seal_files(srv.data_dir) == ["root.key"]
    # A sealed passphrase server (its control socket answers): refused as well.
    p = tresor(srv, "seal", "migrate", "--data-dir", srv.data_dir, "--to", "passphrase",
               env={"TRESOR_PASSPHRASE": PASS})
    assert p.returncode == 0, p.stderr
    srv.start(sealed=True)
    p = tresor(srv, "seal", "migrate", "--data-dir", srv.data_dir, "--to", "file", env={"TRESOR_PASSPHRASE": PASS})
    assert p.returncode == 1 and "a tresor server is running on" in p.stderr, p.stderr
    assert seal_files(srv.data_dir) == ["root.seal"]
    assert srv.stop() == 0


@pytest.mark.parametrize("step,left,opens_as", [
    ("record-written", ["root.key", "seal.migrating"], "file"),   # the record written, not the new file
    ("new-written", ["root.key", "root.seal", "seal.migrating"], "passphrase"),   # both seal files
    ("old-removed", ["root.seal", "seal.migrating"], "passphrase"),   # the old one removed, the record not yet
])
def test_migrate_stopped_at_each_step_opens_with_one_seal(tresor_factory, token, step, left, opens_as):
    srv = tresor_factory(f"migrate-crash-{step}")
    _, blob = fill(srv)
    assert srv.stop() == 0
    key = (srv.data_dir / "root.key").read_bytes()
    p = tresor(srv, "seal", "migrate", "--data-dir", srv.data_dir, "--to", "passphrase",
               env={"TRESOR_PASSPHRASE": PASS, "TRESOR_TEST_MIGRATE_STOP": step})
    assert p.returncode == 3, p.stderr                          # stopped there, as a crash would
    assert seal_files(srv.data_dir) == left
    srv.start(env_extra={"TRESOR_PASSPHRASE": PASS} if opens_as == "passphrase" else {})
    log = srv.stderr_path.read_text()
    if step == "record-written":
        assert "undid a seal migrate that stopped before writing root.seal: still the file seal" in log
        assert seal_files(srv.data_dir) == ["root.key"]
    else:
        assert "finished a seal migrate that stopped half way: passphrase seal (root.seal), root.key removed" in log
        assert seal_files(srv.data_dir) == ["root.seal"]
        assert_key_nowhere(srv, key)
    readable(srv, blob)
    assert srv.stop() == 0


def test_two_seal_files_without_a_record_are_refused(tresor_factory, token):
    srv = tresor_factory("two-seals")
    assert srv.stop() == 0
    p = tresor(srv, "seal", "migrate", "--data-dir", srv.data_dir, "--to", "passphrase",
               env={"TRESOR_PASSPHRASE": PASS, "TRESOR_TEST_MIGRATE_STOP": "new-written"})
    assert p.returncode == 3
    (srv.data_dir / "seal.migrating").unlink()                  # a careless copy, not a migration
    with pytest.raises(AssertionError, match="holds both root.key and root.seal: which one the store is wrapped "
                                             "under cannot be told"):
        srv.start(env_extra={"TRESOR_PASSPHRASE": PASS})


@sqlite_only                        # tresor backup copies a SQLite store
def test_backup_and_restore_with_root_p11(tresor_factory, token, tmp_path):
    srv, _, blob = start_p11_dir(tresor_factory, "p11-backup")
    env = {"TRESOR_PKCS11_PIN": PIN, "TRESOR_PKCS11_MODULE": MODULE}
    srv.start(env_extra=env)
    out = tmp_path / "store.bak"
    p = tresor(srv, "backup", "--data-dir", srv.data_dir, "--out", out)
    assert p.returncode == 0, p.stderr
    assert srv.stop() == 0
    kept = tmp_path / "root.p11.kept"
    shutil.copy(srv.data_dir / "root.p11", kept)
    kept.chmod(0o600)
    new = tresor_factory("p11-restored", start=False)
    shutil.rmtree(new.data_dir)
    p = tresor(new, "restore", out, "--data-dir", new.data_dir, "--root-key", kept, env=env)
    assert p.returncode == 0, p.stderr
    assert "check clean" in p.stdout
    assert seal_files(new.data_dir) == ["root.p11"]
    shutil.copy(srv.data_dir / "credentials", new.data_dir / "credentials")
    shutil.copy(srv.data_dir / "config", new.data_dir / "config")
    new.start(env_extra=env)
    readable(new, blob)
    assert new.stop() == 0
    # Without the PIN the check cannot open it: nothing is left behind.
    other = tmp_path / "other"
    p = tresor(new, "restore", out, "--data-dir", other, "--root-key", kept, env={"TRESOR_PKCS11_MODULE": MODULE})
    assert p.returncode == 1 and "give its PIN in TRESOR_PKCS11_PIN" in p.stderr, p.stderr
    assert not other.exists()
