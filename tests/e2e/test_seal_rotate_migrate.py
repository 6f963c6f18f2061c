"""
test_seal_rotate_migrate.py -- tresor rotate-root-key and tresor seal
migrate together, and the pkcs11 seal under rotation
(docs/internals/SEAL.md, "Rotation and migration together").

rotate-root-key on a pkcs11 data dir wraps the new root key by the same
token key into root.p11.next and renames it in; the server (started with
the PIN, or sealed and unsealed) decrypts everything written before, and a
SIGKILL at each named phase leaves a data dir that every open settles.
seal migrate settles a rotation cut short before it moves any seal file;
rotate-root-key finishes or undoes a migration cut short before it writes
its .next.  Both find a running server the same way (the data dir's lock,
then the control socket), and hold the lock so that neither a server nor
the other command runs meanwhile.  Each order -- rotate then migrate,
migrate then rotate -- ends in a data dir that serves everything.
"""
import os
import re
import signal
import socket
import sqlite3
import subprocess

import pytest

from test_rotate_root_key import NEW_AFTER, PHASES, populate, verify, wait_paused
from test_seal_pkcs11 import KEY, MODULE, P11_ARGS, PASS, PIN, TOKEN, pin_file, root_key_of, seal_files
from test_seal_pkcs11 import token  # noqa: F401  (the fixture)
from test_seal_pkcs11 import assert_key_nowhere, pytestmark  # noqa: F401
from tresor_e2e import run_tresor_cmd, sqlite_only, tresor_cmd

# Every test here runs tresor rotate-root-key, which rotates a SQLite store
# only (with TRESOR_STORE set it refuses: test_postgres.py checks that).
pytestmark = sqlite_only

P11_ENV = {"TRESOR_PKCS11_PIN": PIN, "TRESOR_PKCS11_MODULE": MODULE}


def run(srv, *args, env=None, timeout=120):
    """`tresor ARGS` with no TRESOR_* of the test's environment but env."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("TRESOR_")}
    e.update(env or {})
    return run_tresor_cmd([str(a) for a in args], srv.log_dir, timeout=timeout, capture_output=True, text=True,
                          env=e)


def rotate(srv, env=None, *args):
    return run(srv, "rotate-root-key", "--data-dir", srv.data_dir, *args, env=env)


def migrate(srv, to, env=None, *args):
    return run(srv, "seal", "migrate", "--data-dir", srv.data_dir, "--to", to, *args, env=env)


def check(srv, env=None):
    return run(srv, "check", "--data-dir", srv.data_dir, env=env)


def spawn(srv, args, env):
    e = {k: v for k, v in os.environ.items() if not k.startswith("TRESOR_")}
    e.update(env)
    argv, _ = tresor_cmd([str(a) for a in args], srv.log_dir)
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)


def next_files(srv):
    return sorted(p.name for p in srv.data_dir.iterdir() if p.name.endswith(".next"))


def p11_dir(tresor_factory, name, tmp_path, **kw):
    """A stopped pkcs11 data dir, populated, with an audit log."""
    srv = tresor_factory(name, start=False)
    audit = tmp_path / f"{name}-audit.log"
    srv.start(args=[*P11_ARGS, "--audit-log", audit], env_extra={"TRESOR_PKCS11_PIN": PIN})
    st = populate(srv, **kw)
    assert srv.stop() == 0
    return srv, st, audit


def root_p11_header(srv):
    """root.p11's bytes before the IV: magic, version, mechanism, labels."""
    b = (srv.data_dir / "root.p11").read_bytes()
    return b[:len(b) - 12 - 32 - 16]


# ---- the pkcs11 seal under rotation ----------------------------------------------------------

def test_rotate_pkcs11_populated_then_everything_serves(tresor_factory, token, tmp_path):
    srv, st, audit = p11_dir(tresor_factory, "rot-p11", tmp_path)
    old_key = root_key_of(srv, tmp_path, P11_ENV)
    old_file = (srv.data_dir / "root.p11").read_bytes()
    header = root_p11_header(srv)

    r = rotate(srv, {"TRESOR_PKCS11_PIN": PIN}, "--pkcs11-module", MODULE)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"tresor rotate-root-key {srv.data_dir.resolve()}",
        "  re-wrapped under the new root key: kms key materials 10, access keys 4, audit keys 2",
        f"  the new root key is in {srv.data_dir.resolve()}/root.p11 (pkcs11 seal); the old one is gone",
    ], r.stdout
    assert seal_files(srv.data_dir) == ["root.p11"] and next_files(srv) == []
    new_file = (srv.data_dir / "root.p11").read_bytes()
    assert new_file != old_file and root_p11_header(srv) == header      # the same token key, a new wrap
    new_key = root_key_of(srv, tmp_path, P11_ENV)
    assert new_key != old_key
    assert_key_nowhere(srv, old_key)
    objs = token.objects()
    assert KEY in objs and objs.count("Secret Key Object") == 1, objs     # no other key was made

    c = check(srv, P11_ENV)
    assert c.returncode == 0 and "clean" in c.stdout, c.stdout + c.stderr
    srv.start(args=["--audit-log", audit], env_extra={"TRESOR_PKCS11_PIN": PIN, "TRESOR_PKCS11_MODULE": MODULE})
    verify(srv, st)
    assert srv.stop() == 0
    # Sealed (no PIN), then unsealed with the PIN: everything serves.
    srv.start(sealed=True, args=["--audit-log", audit], env_extra={"TRESOR_PKCS11_MODULE": MODULE})
    u = run(srv, "unseal", "--data-dir", srv.data_dir, "--pin-file", pin_file(tmp_path))
    assert (u.returncode, u.stdout.strip()) == (0, "tresor unseal: unsealed"), u.stderr
    verify(srv, st)
    assert srv.stop() == 0
    v = run(srv, "audit", "verify", audit, "--public-key", srv.data_dir / "audit.pub")
    assert v.returncode == 0, v.stdout + v.stderr


def test_rotate_pkcs11_refusals_change_nothing(tresor_factory, token, tmp_path):
    srv, st, _ = p11_dir(tresor_factory, "rot-p11-no", tmp_path, nkeys=1, rotations=0, nsecrets=1, nusers=0,
                         session=False)
    before = (srv.data_dir / "root.p11").read_bytes()
    r = rotate(srv, {"TRESOR_PKCS11_PIN": "0000", "TRESOR_PKCS11_MODULE": MODULE})
    assert r.returncode == 1
    assert "tresor rotate-root-key: root key: wrong PIN for PKCS#11 token 'tresor-test'" in r.stderr, r.stderr
    r = rotate(srv, {"TRESOR_PKCS11_PIN": PIN})
    assert r.returncode == 1
    assert ("tresor rotate-root-key: the pkcs11 seal needs the token's PIN (--pkcs11-pin-file or "
            "TRESOR_PKCS11_PIN) and its module (--pkcs11-module or TRESOR_PKCS11_MODULE)") in r.stderr, r.stderr
    r = rotate(srv, P11_ENV, "--passphrase-file", pin_file(tmp_path))
    assert r.returncode == 2
    assert (f"tresor rotate-root-key: {srv.data_dir.resolve()} has the pkcs11 seal: --passphrase-file is for the "
            "passphrase seal") in r.stderr, r.stderr
    assert (srv.data_dir / "root.p11").read_bytes() == before and next_files(srv) == []
    # The pkcs11 flags on a file data dir: a usage error.
    f = tresor_factory("rot-file-flags")
    assert f.stop() == 0
    r = rotate(f, None, "--pkcs11-pin-file", pin_file(tmp_path))
    assert r.returncode == 2
    assert (f"tresor rotate-root-key: {f.data_dir.resolve()} has the file seal: --pkcs11-pin-file is for the "
            "pkcs11 seal") in r.stderr, r.stderr


@pytest.mark.parametrize("phase", PHASES)
def test_rotate_pkcs11_killed_at_each_phase(tresor_factory, token, tmp_path, phase):
    srv, st, audit = p11_dir(tresor_factory, f"rot-p11-kill-{phase}", tmp_path, nkeys=2, rotations=1,
                             nsecrets=1, nusers=1)
    before = (srv.data_dir / "root.p11").read_bytes()
    p = spawn(srv, ["rotate-root-key", "--data-dir", srv.data_dir],
              {**P11_ENV, "TRESOR_TEST_ROTATE_PAUSE": phase})
    wait_paused(p, phase)
    # While it runs, it holds the data dir: no server starts, no migrate runs.
    m = migrate(srv, "file", P11_ENV)
    assert m.returncode == 1 and "a tresor server is running on" in m.stderr, m.stderr
    with pytest.raises(AssertionError, match="exited with 1 during start-up"):
        srv.start(env_extra=P11_ENV)
    assert (f"tresor seal migrate or tresor rotate-root-key is running on {srv.data_dir.resolve()}"
            in srv.stderr_text().decode())
    p.send_signal(signal.SIGKILL)
    p.wait()
    if phase == "committed":
        assert "root.p11.next" in next_files(srv)
    # tresor check reads it as the kill left it (with root.p11.next once committed).
    c = check(srv, P11_ENV)
    assert c.returncode == 0 and "clean" in c.stdout, c.stdout + c.stderr
    if phase == "committed":
        assert "read with it" in c.stderr and "root.p11.next" in c.stderr, c.stderr
    # A sealed start settles it without the PIN; unsealed, everything serves.
    srv.start(sealed=True, args=["--audit-log", audit], env_extra={"TRESOR_PKCS11_MODULE": MODULE})
    assert next_files(srv) == []
    u = run(srv, "unseal", "--data-dir", srv.data_dir, "--pin-file", pin_file(tmp_path))
    assert u.returncode == 0, u.stderr
    verify(srv, st)
    assert srv.stop() == 0
    assert ((srv.data_dir / "root.p11").read_bytes() != before) == NEW_AFTER[phase]
    # And a rotation then runs to its end.
    r = rotate(srv, P11_ENV)
    assert r.returncode == 0, r.stderr
    srv.start(args=["--audit-log", audit], env_extra=P11_ENV)
    verify(srv, st)
    assert srv.stop() == 0


def test_commands_open_a_pkcs11_dir_with_a_committed_rotation(tresor_factory, token, tmp_path):
    """Killed after the commit: root.p11.next holds the key the store is
    wrapped under; the commands that open a data dir use it."""
    srv, st, _ = p11_dir(tresor_factory, "rot-p11-cmds", tmp_path, nkeys=1, rotations=0, nsecrets=1, nusers=0,
                         session=False)
    p = spawn(srv, ["rotate-root-key", "--data-dir", srv.data_dir],
              {**P11_ENV, "TRESOR_TEST_ROTATE_PAUSE": "committed"})
    wait_paused(p, "committed")
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert next_files(srv) == ["audit.key.next", "root.p11.next"]
    w = run(srv, "who-can-decrypt", "app/secret-0", "--data-dir", srv.data_dir, env=P11_ENV)
    assert w.returncode == 0, w.stderr
    assert ":root" in w.stdout
    assert "it had committed, and is now finished" in w.stderr
    assert next_files(srv) == []
    h = run(srv, "audit", "hmac", "--data-dir", srv.data_dir, "x", env=P11_ENV)
    assert h.returncode == 0 and re.fullmatch(r"hmac-sha256:[0-9a-f]{64}\n", h.stdout), h.stdout + h.stderr
    a = run(srv, "account", "create", "--data-dir", srv.data_dir, env=P11_ENV)
    assert a.returncode == 0, a.stderr
    # Without the PIN: said so.
    n = run(srv, "check", "--data-dir", srv.data_dir, env={"TRESOR_PKCS11_MODULE": MODULE})
    assert n.returncode == 1 and "give its PIN in TRESOR_PKCS11_PIN" in n.stderr, n.stderr


# ---- rotation and migration, cut short and in either order -----------------------------------

@pytest.mark.parametrize("phase", ["next-written", "committed"])
def test_migrate_settles_a_rotation_cut_short_first(tresor_factory, token, tmp_path, phase):
    srv = tresor_factory(f"mig-after-kill-{phase}")
    st = populate(srv, nkeys=2, rotations=1, nsecrets=1, nusers=1)
    assert srv.stop() == 0
    old_key = (srv.data_dir / "root.key").read_bytes()
    p = spawn(srv, ["rotate-root-key", "--data-dir", srv.data_dir], {"TRESOR_TEST_ROTATE_PAUSE": phase})
    wait_paused(p, phase)
    p.send_signal(signal.SIGKILL)
    p.wait()
    assert "root.key.next" in next_files(srv)
    nxt = (srv.data_dir / "root.key.next").read_bytes()

    m = migrate(srv, "pkcs11", P11_ENV, "--pkcs11-token", TOKEN, "--pkcs11-key", KEY)
    assert m.returncode == 0, m.stderr
    if phase == "committed":
        assert "an earlier rotation cut short: 1 file renamed in, 0 leftovers removed" in m.stdout, m.stdout
    else:
        assert "an earlier rotation cut short: 0 files renamed in, 1 leftover removed" in m.stdout, m.stdout
    assert seal_files(srv.data_dir) == ["root.p11"] and next_files(srv) == []
    # The key moved is the one the store is wrapped under.
    moved = root_key_of(srv, tmp_path, P11_ENV)
    assert moved == (nxt if phase == "committed" else old_key)
    srv.start(env_extra=P11_ENV)
    verify(srv, st)
    assert srv.stop() == 0


@pytest.mark.parametrize("step,seal", [("record-written", "file"), ("new-written", "pkcs11"),
                                       ("old-removed", "pkcs11")])
def test_rotate_finishes_a_migration_cut_short_first(tresor_factory, token, tmp_path, step, seal):
    srv = tresor_factory(f"rot-after-mig-{step}")
    st = populate(srv, nkeys=2, rotations=1, nsecrets=1, nusers=1)
    assert srv.stop() == 0
    before = (srv.data_dir / "root.key").read_bytes()             # a migration keeps it
    m = migrate(srv, "pkcs11", {**P11_ENV, "TRESOR_TEST_MIGRATE_STOP": step}, "--pkcs11-token", TOKEN,
                "--pkcs11-key", KEY)
    assert m.returncode == 3, m.stderr
    assert "seal.migrating" in seal_files(srv.data_dir)

    r = rotate(srv, P11_ENV)
    assert r.returncode == 0, r.stderr
    if seal == "file":
        assert "undid a seal migrate that stopped before writing root.p11: still the file seal" in r.stderr
    else:
        assert "finished a seal migrate that stopped half way: pkcs11 seal (root.p11), root.key removed" in r.stderr
    assert seal_files(srv.data_dir) == ["root.key" if seal == "file" else "root.p11"]
    assert next_files(srv) == []
    assert f"(" + seal + " seal); the old one is gone" in r.stdout, r.stdout
    after = (srv.data_dir / "root.key").read_bytes() if seal == "file" else root_key_of(srv, tmp_path, P11_ENV)
    assert after != before
    srv.start(env_extra=P11_ENV if seal == "pkcs11" else {})
    verify(srv, st)
    assert srv.stop() == 0


def test_rotate_and_migrate_in_either_order(tresor_factory, token, tmp_path):
    """file -> rotate -> pkcs11 -> rotate -> passphrase -> rotate -> file:
    every step serves everything written before."""
    srv = tresor_factory("rot-mig-cycle")
    st = populate(srv, nkeys=2, rotations=1, nsecrets=1, nusers=1)
    assert srv.stop() == 0
    env = {**P11_ENV, "TRESOR_PASSPHRASE": PASS}
    keys = [(srv.data_dir / "root.key").read_bytes()]
    steps = [("rotate", None), ("migrate", "pkcs11"), ("rotate", None), ("migrate", "passphrase"),
             ("rotate", None), ("migrate", "file"), ("rotate", None)]
    for what, to in steps:
        if what == "rotate":
            p = rotate(srv, env)
        else:
            p = migrate(srv, to, env, "--pkcs11-token", TOKEN, "--pkcs11-key", KEY)
        assert p.returncode == 0, (what, to, p.stderr)
        assert next_files(srv) == [] and "seal.migrating" not in seal_files(srv.data_dir)
        keys.append(root_key_of(srv, tmp_path, env) if not (srv.data_dir / "root.key").exists()
                    else (srv.data_dir / "root.key").read_bytes())
        # A rotation changes the key; a migration keeps it.
        assert (keys[-1] != keys[-2]) == (what == "rotate"), (what, to)
        c = check(srv, env)
        assert c.returncode == 0 and "clean" in c.stdout, c.stdout + c.stderr
        srv.start(env_extra=env)
        verify(srv, st, sample=3)
        assert srv.stop() == 0
    assert len(set(keys)) == 5                  # four rotations, each a new key
    srv.start(env_extra=env)
    verify(srv, st)
    assert srv.stop() == 0


# ---- one "is a server running?" ----------------------------------------------------------------

def test_a_control_socket_that_answers_refuses_both(tresor_factory, token, tmp_path):
    """A server that holds no data-dir lock (an older one) is found by its
    control socket; the store's lock stays a second guard of rotate."""
    srv = tresor_factory("ctl-only")
    assert srv.stop() == 0
    path = srv.data_dir / "control.sock"
    if path.exists():
        path.unlink()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.listen(4)
    try:
        d = srv.data_dir.resolve()
        r = rotate(srv)
        assert r.returncode == 1
        assert (f"tresor rotate-root-key: data dir: a tresor server is running on {d} (its control socket "
                "answers): stop it first") in r.stderr, r.stderr
        m = migrate(srv, "passphrase", {"TRESOR_PASSPHRASE": PASS})
        assert m.returncode == 1
        assert (f"tresor: seal migrate: a tresor server is running on {d} (its control socket answers): stop it "
                "first") in m.stderr, m.stderr
    finally:
        s.close()
        path.unlink()
    assert seal_files(srv.data_dir) == ["root.key"] and next_files(srv) == []
    # Another process reading the store: rotate refuses (SQLite's lock).
    db = sqlite3.connect(str(srv.data_dir / "tresor.db"))
    db.execute("BEGIN")
    db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    try:
        r = rotate(srv)
        assert r.returncode == 1
        assert "is locked: a server is running on" in r.stderr and "stop it first" in r.stderr, r.stderr
    finally:
        db.close()
    assert rotate(srv).returncode == 0


def test_backup_after_a_pkcs11_rotation_restores_with_the_new_root_p11(tresor_factory, token, tmp_path):
    srv, st, _ = p11_dir(tresor_factory, "rot-p11-bak", tmp_path, nkeys=1, rotations=1, nsecrets=1, nusers=0,
                         session=False)
    assert rotate(srv, P11_ENV).returncode == 0
    srv.start(env_extra=P11_ENV)
    out = tmp_path / "store.bak"
    b = run(srv, "backup", "--data-dir", srv.data_dir, "--out", out)
    assert b.returncode == 0, b.stderr
    assert srv.stop() == 0
    kept = tmp_path / "root.p11.kept"
    kept.write_bytes((srv.data_dir / "root.p11").read_bytes())
    kept.chmod(0o600)
    new = tmp_path / "restored"
    r = run(srv, "restore", out, "--data-dir", new, "--root-key", kept, env=P11_ENV)
    assert r.returncode == 0 and "check clean" in r.stdout, r.stdout + r.stderr
    # A root.p11 from before the rotation is not the store's key: refused, nothing left.
    old = tmp_path / "old"
    srv2, _, _ = p11_dir(tresor_factory, "rot-p11-bak-old", tmp_path, nkeys=1, rotations=0, nsecrets=0, nusers=0,
                         session=False)
    stale = tmp_path / "root.p11.stale"
    stale.write_bytes((srv2.data_dir / "root.p11").read_bytes())
    stale.chmod(0o600)
    r = run(srv, "restore", out, "--data-dir", old, "--root-key", stale, env=P11_ENV)
    assert r.returncode == 1 and not old.exists(), r.stdout + r.stderr
