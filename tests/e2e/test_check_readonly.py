"""
`tresor check` on a read-only copy of a data dir: it only reads, so it must
work there -- a snapshot, a restored backup, a read-only mount -- and say
what it says about the original.

What failed before: the store was opened for writing (the file created if
missing and chmod'ed, WAL mode set, migrations run in a write
transaction), so on a read-only copy `check` stopped at "Read-only file
system" / "Permission denied".

Making the copy really read-only: root ignores file modes, so as root the
copy is bind-mounted read-only in a private mount namespace (`unshare -m`);
as another user, files 0444 (root.key 0400) in a 0555 directory are
enough.  Where neither works the tests skip.  The copy's bytes are
compared before and after: nothing may change.
"""

import hashlib
import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tresor_e2e import sqlite_only, ROOT_ARN, assert_wrapper_clean, scaled, tresor_cmd

# Read-only copies of a data dir's SQLite file.
pytestmark = sqlite_only

VALUE = "read-only-copy-value"
UNSHARE = shutil.which("unshare")


def _can_mount_readonly():
    if os.geteuid() != 0 or not UNSHARE:
        return False
    d = Path(tempfile.mkdtemp(prefix="tresor-ro-probe-"))
    try:
        (d / "src").mkdir()
        (d / "mnt").mkdir()
        script = (f"mount --bind {d / 'src'} {d / 'mnt'} && "
                  f"mount -o remount,ro,bind {d / 'mnt'} && ! touch {d / 'mnt' / 'x'} 2>/dev/null")
        p = subprocess.run([UNSHARE, "-m", "sh", "-c", script], capture_output=True, timeout=30)
        return p.returncode == 0 and not (d / "src" / "x").exists()
    finally:
        shutil.rmtree(d, ignore_errors=True)


MODE = "mount" if _can_mount_readonly() else ("modes" if os.geteuid() != 0 else None)
pytestmark = [sqlite_only, pytest.mark.skipif(
    MODE is None, reason="no way to make a directory read-only for root here "
                         "(unshare -m and a read-only bind mount are refused)")]


def make_readonly_copy(src, parent):
    """A copy of data dir `src` under `parent`, files 0444 (root.key 0400),
    the directory 0555.  Returns its path."""
    dst = Path(parent) / "copy"
    shutil.copytree(src, dst)
    for f in dst.iterdir():
        f.chmod(0o400 if f.name == "root.key" else 0o444)
    dst.chmod(0o555)
    return dst


def snapshot(d):
    """{name: (mode, sha256)} of every file of d, and d's own mode."""
    out = {".": os.stat(d).st_mode}
    for f in sorted(Path(d).iterdir()):
        out[f.name] = (f.stat().st_mode, hashlib.sha256(f.read_bytes()).hexdigest())
    return out


def check_readonly(srv, copy, mnt):
    """`tresor check` on `copy`, made read-only by MODE: (rc, stdout with
    the data dir's path made "DIR", stderr)."""
    if MODE == "mount":
        argv, log = tresor_cmd(["check", "--data-dir", mnt], srv.log_dir)
        script = (f"mount --bind {shlex.quote(str(copy))} {shlex.quote(str(mnt))} && "
                  f"mount -o remount,ro,bind {shlex.quote(str(mnt))} && exec {shlex.join(argv)}")
        p = subprocess.run([UNSHARE, "-m", "sh", "-c", script], capture_output=True, text=True,
                           timeout=scaled(120))
        assert_wrapper_clean(log, "tresor check (read-only mount)")
        where = str(mnt)
    else:
        p = srv.run_tresor("check", "--data-dir", copy, timeout=120)
        where = str(copy)
    return p.returncode, p.stdout.replace(where, "DIR"), p.stderr


def check_original(srv):
    p = srv.run_tresor("check", "--data-dir", srv.data_dir, timeout=120)
    return p.returncode, p.stdout.replace(str(srv.data_dir), "DIR"), p.stderr


@pytest.fixture
def filled(tresor_factory):
    srv = tresor_factory("check-ro")
    kms, sm = srv.kms(), srv.sm()
    key = kms.create_key(Description="ro")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/ro", TargetKeyId=key)
    kms.create_grant(KeyId=key, GranteePrincipal=ROOT_ARN, Operations=["Decrypt"])
    sm.create_secret(Name="managed", SecretString=VALUE)
    sm.put_secret_value(SecretId="managed", SecretString=VALUE + "2")
    sm.create_secret(Name="custom", SecretString=VALUE, KmsKeyId=key)
    return srv


@pytest.fixture
def place():
    d = Path(tempfile.mkdtemp(prefix="tresor-ro-"))
    d.chmod(0o755)
    (d / "mnt").mkdir()
    yield d
    for root, dirs, _ in os.walk(d):
        for x in dirs:
            os.chmod(os.path.join(root, x), 0o755)
    shutil.rmtree(d, ignore_errors=True)


def test_readonly_copy_of_a_stopped_data_dir(filled, place):
    filled.stop_clean()
    rc0, out0, err0 = check_original(filled)
    assert rc0 == 0, out0 + err0
    assert "secrets 2, versions 3, values decrypted 3" in out0
    copy = make_readonly_copy(filled.data_dir, place)
    assert sorted(p.name for p in copy.iterdir()) == ["config", "credentials", "root.key",
                                                      "tresor.db", "tresor.db-gen"]
    before = snapshot(copy)
    rc, out, err = check_readonly(filled, copy, place / "mnt")
    assert (rc, out) == (rc0, out0), err
    assert err == ""
    assert VALUE not in out
    assert snapshot(copy) == before


def test_readonly_copy_after_a_crash(filled, place):
    """Killed with commits still in the WAL: the copy carries tresor.db-wal
    and -shm, and the check reads them -- the last secret is counted."""
    sm = filled.sm()
    for i in range(3):
        sm.create_secret(Name=f"late-{i}", SecretString=VALUE)
    filled.kill()
    copy = make_readonly_copy(filled.data_dir, place)
    names = sorted(p.name for p in copy.iterdir())
    assert "tresor.db-wal" in names and "tresor.db-shm" in names, names
    assert (copy / "tresor.db-wal").stat().st_size > 0
    before = snapshot(copy)
    rc, out, err = check_readonly(filled, copy, place / "mnt")
    assert rc == 0, out + err
    assert "secrets 5, versions 6, values decrypted 6" in out, out
    assert out.strip().endswith("clean")
    assert snapshot(copy) == before
    rc0, out0, _ = check_original(filled)
    assert (rc0, out0) == (rc, out)


def test_readonly_copy_without_the_shm_file_is_refused(filled, place):
    """The WAL without its -shm file, in a directory where SQLite cannot
    make one: the database file alone is out of date, so the check refuses
    and says why rather than report an old state."""
    filled.sm().create_secret(Name="in-the-wal", SecretString=VALUE)
    filled.kill()
    (place / "src").mkdir()
    for name in ("root.key", "tresor.db", "tresor.db-wal", "credentials", "config"):
        shutil.copy2(filled.data_dir / name, place / "src" / name)
    copy = make_readonly_copy(place / "src", place / "x")
    rc, out, err = check_readonly(filled, copy, place / "mnt")
    assert rc == 1, out + err
    assert ("its -wal file holds transactions that are not in the database file yet, and "
            "reading them needs the -shm file or a directory it can be created in") in err, err
    assert not (copy / "tresor.db-shm").exists()
