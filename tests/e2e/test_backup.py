"""
test_backup.py -- `tresor backup` and `tresor restore` end to end.

A server takes writes from several boto3 clients at once (new secrets under
the managed key and under a customer key, KMS Encrypt); `tresor backup`
copies its store while they run.  The backup is restored into a new data
dir with the original root key: `tresor check` passes on it, and a server
started on it returns every secret, and decrypts every ciphertext, whose
write was acknowledged before the backup started.  The backup never holds
the root key; restore refuses a directory that is not empty, a wrong or
badly protected root key and a file that is not a backup, and leaves
nothing behind when it refuses.
"""

import os
import shutil
import stat
import threading
import time

import pytest

from tresor_e2e import sqlite_only

# tresor backup copies the data dir's SQLite file: a PostgreSQL store is
# backed up with PostgreSQL's own tools (docs/internals/STORE.md).
pytestmark = sqlite_only

WRITERS = 4


def backup(srv, out):
    return srv.run_tresor("backup", "--data-dir", srv.data_dir, "--out", out, timeout=60)


def restore(srv, src, newdir, key):
    return srv.run_tresor("restore", src, "--data-dir", newdir, "--root-key", key, timeout=60)


def key_copy(srv, tmp_path):
    """The operator's copy of root.key, kept apart from the data dir."""
    k = tmp_path / "kept" / "root.key"
    k.parent.mkdir(mode=0o700)
    shutil.copy(srv.data_dir / "root.key", k)
    os.chmod(k, 0o600)
    return k


class Load:
    """WRITERS threads writing until stopped; every acknowledged write is
    recorded with the number of the phase it was acknowledged in."""

    def __init__(self, srv, key_id):
        self.srv, self.key_id = srv, key_id
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.acked = []          # (kind, name-or-ciphertext, value, phase)
        self.phase = 0
        self.errors = []
        self.threads = [threading.Thread(target=self.run, args=(i,)) for i in range(WRITERS)]

    def run(self, w):
        sm, kms = self.srv.sm(), self.srv.kms()
        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                value = f"value-{w}-{n}"
                if n % 3 == 0:
                    ct = kms.encrypt(KeyId=self.key_id, Plaintext=value.encode())["CiphertextBlob"]
                    rec = ("ct", ct, value)
                else:
                    name = f"load/{w}/{n}"
                    extra = {"KmsKeyId": self.key_id} if n % 3 == 1 else {}
                    sm.create_secret(Name=name, SecretString=value, **extra)
                    rec = ("secret", name, value)
                with self.lock:
                    self.acked.append(rec + (self.phase,))
        except Exception as e:  # reported by the test
            self.errors.append(repr(e))

    def start(self):
        for t in self.threads:
            t.start()

    def wait_for(self, count):
        while len(self.acked) < count and not self.errors:
            time.sleep(0.05)

    def next_phase(self):
        """Everything acknowledged so far is in phases before the new one."""
        with self.lock:
            self.phase += 1
            return list(self.acked)

    def finish(self):
        self.stop.set()
        for t in self.threads:
            t.join(60)
        assert not self.errors, self.errors


def test_backup_under_write_load_restores_everything_acknowledged(tresor_factory, tmp_path):
    srv = tresor_factory("backup-src")
    key_id = srv.kms().create_key(Description="backup")["KeyMetadata"]["KeyId"]
    srv.sm().create_secret(Name="before", SecretString="before-value")
    load = Load(srv, key_id)
    load.start()
    try:
        load.wait_for(30)
        before = load.next_phase()        # acknowledged before the backup starts
        out = tmp_path / "snap.tresor-backup"
        p = backup(srv, out)
        after = load.next_phase()
        load.wait_for(len(after) + 8)     # the server goes on taking writes
    finally:
        load.finish()
    assert p.returncode == 0, p.stdout + p.stderr
    assert f"written to {out}" in p.stdout
    assert "The root key is not in it" in p.stdout
    assert len(before) >= 30 and len(load.acked) > len(after)

    # the file: 0600, a SQLite database, and never the root key's bytes
    st = os.stat(out)
    assert stat.S_IMODE(st.st_mode) == 0o600
    data = out.read_bytes()
    assert data.startswith(b"SQLite format 3\x00")
    root_key = (srv.data_dir / "root.key").read_bytes()
    assert len(root_key) == 32 and root_key not in data
    assert not (tmp_path / "snap.tresor-backup-wal").exists()
    for _, _, value, _ in load.acked:
        assert value.encode() not in data      # secrets are wrapped, never in the clear

    # restore into an empty, existing directory with the kept root key
    key = key_copy(srv, tmp_path)
    new = tresor_factory("backup-dst", start=False)
    assert list(new.data_dir.iterdir()) == []
    p = restore(new, out, new.data_dir, key)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "check clean" in p.stdout
    assert sorted(x.name for x in new.data_dir.iterdir()) == ["root.key", "tresor.db"]
    assert stat.S_IMODE(os.stat(new.data_dir / "root.key").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(new.data_dir / "tresor.db").st_mode) == 0o600
    p = new.run_tresor("check", "--data-dir", new.data_dir)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip().endswith("clean")

    # a server on it: the access keys are in the store; the client keeps its
    # own copy of the credentials file, which no backup holds
    shutil.copy(srv.data_dir / "credentials", new.data_dir / "credentials")
    new.start()
    sm, kms = new.sm(), new.kms()
    assert sm.get_secret_value(SecretId="before")["SecretString"] == "before-value"
    for kind, what, value, phase in before:
        assert phase == 0
        if kind == "secret":
            assert sm.get_secret_value(SecretId=what)["SecretString"] == value, what
        else:
            r = kms.decrypt(CiphertextBlob=what)
            assert r["Plaintext"] == value.encode()
            assert r["KeyId"].endswith(key_id)
    # and it takes writes
    sm.create_secret(Name="after-restore", SecretString="x")
    assert sm.get_secret_value(SecretId="after-restore")["SecretString"] == "x"


@pytest.fixture
def snap(tresor_factory, tmp_path):
    srv = tresor_factory("backup-neg")
    srv.sm().create_secret(Name="s", SecretString="v")
    out = tmp_path / "snap.db"
    p = backup(srv, out)
    assert p.returncode == 0, p.stdout + p.stderr
    srv.out, srv.key = out, key_copy(srv, tmp_path)
    return srv


def test_backup_never_overwrites(snap):
    before = snap.out.read_bytes()
    p = backup(snap, snap.out)
    assert p.returncode == 1
    assert f"tresor: backup: cannot create {snap.out}: File exists" in p.stderr
    assert snap.out.read_bytes() == before


def test_backup_usage_and_missing_store(snap, tmp_path):
    p = snap.run_tresor("backup", "--data-dir", snap.data_dir)
    assert p.returncode == 2 and "--out FILE is required" in p.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    p = snap.run_tresor("backup", "--data-dir", empty, "--out", tmp_path / "x")
    assert p.returncode == 1 and "not an initialized data dir" in p.stderr
    assert not (tmp_path / "x").exists()


def test_restore_refuses_non_empty_dir(snap, tmp_path):
    d = tmp_path / "busy"
    d.mkdir()
    (d / "keep.txt").write_text("mine")
    p = restore(snap, snap.out, d, snap.key)
    assert p.returncode == 1
    assert f"tresor restore: {d} is not empty (keep.txt)" in p.stderr
    assert sorted(x.name for x in d.iterdir()) == ["keep.txt"]
    # nor over a live data dir
    p = restore(snap, snap.out, snap.data_dir, snap.key)
    assert p.returncode == 1 and "is not empty" in p.stderr


def test_restore_refuses_wrong_root_key(snap, tmp_path):
    wrong = tmp_path / "wrong.key"
    wrong.write_bytes(os.urandom(32))
    os.chmod(wrong, 0o600)
    d = tmp_path / "new"
    p = restore(snap, snap.out, d, wrong)
    assert p.returncode == 1
    assert "is not the root key this backup was made under" in p.stderr
    # The store's key-check value, written at its first start, refuses it
    # before any record is read (a store never started with it: PROBLEM lines).
    assert "the root key is not the one the store is wrapped under" in p.stderr
    assert not d.exists()                  # made by restore, so removed again


def test_restore_refuses_bad_key_files(snap, tmp_path):
    d = tmp_path / "new"
    loose = tmp_path / "loose.key"
    shutil.copy(snap.key, loose)
    os.chmod(loose, 0o644)
    p = restore(snap, snap.out, d, loose)
    assert p.returncode == 1
    assert f"has mode 0644: group and other must have no access" in p.stderr
    short = tmp_path / "short.key"
    short.write_bytes(b"k" * 16)
    os.chmod(short, 0o600)
    p = restore(snap, snap.out, d, short)
    assert p.returncode == 1 and "is 16 bytes; a root key is exactly 32 bytes" in p.stderr
    p = snap.run_tresor("restore", snap.out, "--data-dir", d)
    assert p.returncode == 2 and "--root-key KEYFILE is required" in p.stderr
    assert not d.exists()


def test_restore_refuses_what_is_not_a_backup(snap, tmp_path):
    junk = tmp_path / "junk"
    junk.write_bytes(b"not a database at all" * 100)
    d = tmp_path / "new"
    d.mkdir()
    p = restore(snap, junk, d, snap.key)
    assert p.returncode == 1
    assert "tresor: restore:" in p.stderr
    assert list(d.iterdir()) == []         # existing dir kept, emptied of what restore wrote
    p = restore(snap, tmp_path / "absent", d, snap.key)
    assert p.returncode == 1 and "No such file or directory" in p.stderr


def test_restore_with_a_kept_root_seal(tresor_factory, tmp_path):
    """A data dir with the passphrase seal: its kept root.seal is the root
    key to restore with; the check after the restore takes the passphrase
    from TRESOR_PASSPHRASE, and a wrong one leaves nothing behind."""
    passphrase = "a backup's passphrase, kept apart"
    srv = tresor_factory("backup-sealed", start=False)
    srv.start(args=["--seal", "passphrase"], env_extra={"TRESOR_PASSPHRASE": passphrase})
    srv.sm().create_secret(Name="sealed-db", SecretString="sealed-value")
    out = tmp_path / "sealed.db"
    p = backup(srv, out)
    assert p.returncode == 0, p.stdout + p.stderr
    kept = tmp_path / "kept" / "root.seal"
    kept.parent.mkdir(mode=0o700)
    shutil.copy(srv.data_dir / "root.seal", kept)
    os.chmod(kept, 0o600)
    assert srv.stop() == 0

    new = tresor_factory("backup-sealed-dst", start=False)
    p = new.run_tresor("restore", out, "--data-dir", new.data_dir, "--root-key", kept, timeout=60,
                       env_extra={"TRESOR_PASSPHRASE": "not the passphrase"})
    assert p.returncode == 1, p.stdout + p.stderr
    assert list(new.data_dir.iterdir()) == []
    p = new.run_tresor("restore", out, "--data-dir", new.data_dir, "--root-key", kept, timeout=60,
                       env_extra={"TRESOR_PASSPHRASE": passphrase})
    assert p.returncode == 0, p.stdout + p.stderr
    assert "check clean" in p.stdout
    assert sorted(x.name for x in new.data_dir.iterdir()) == ["root.seal", "tresor.db"]
    shutil.copy(srv.data_dir / "credentials", new.data_dir / "credentials")
    new.start(env_extra={"TRESOR_PASSPHRASE": passphrase})
    assert new.sm().get_secret_value(SecretId="sealed-db")["SecretString"] == "sealed-value"
