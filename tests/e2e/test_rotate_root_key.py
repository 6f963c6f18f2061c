"""
test_rotate_root_key.py -- `tresor rotate-root-key` (docs/internals/SEAL.md,
"Rotating the root key").

A populated data dir -- KMS keys with several materials, secrets with
versions, IAM users' access keys, an STS session, the audit log's keys --
gets a new root key with either seal; then the server decrypts every old
ciphertext, reads every secret version and accepts a request signed with
every access key, the audit log verifies across the rotation, and the old
root key's bytes are in no file of the data dir.  A rotation is refused
beside a running server, with a wrong passphrase, and a root key that is
not the store's is refused at every open.

The SIGKILL test kills the rotation at each of its phases (the test-only
TRESOR_TEST_ROTATE_PAUSE stops it there) and after random delays: after
every kill `tresor check` passes on the data dir as the kill left it, and a
restarted server serves everything written before, under the old key or
the new one; then a rotation runs to its end.
"""
import base64
import os
import random
import re
import signal
import subprocess
import time

import pytest

from test_seal import PASS, _unwrap_root_seal
from tresor_e2e import ACCOUNT, STORE, raises_aws, run_tresor_cmd, scaled, tresor_cmd

# A data dir's SQLite store; a PostgreSQL store's rotation (every node
# stopped, TRESOR_STORE set) is test_pg_rotate_root_key.py's.
pytestmark = pytest.mark.skipif(STORE == "postgres",
                                reason="a SQLite store's rotation (test_pg_rotate_root_key.py: PostgreSQL)")

POLICY_NONE = None


# ---- a populated store ---------------------------------------------------------

class Store:
    """What a test wrote, to be read back after the rotation."""

    def __init__(self):
        self.blobs = []         # (CiphertextBlob, plaintext)
        self.versions = []      # (secret name, VersionId, SecretString)
        self.keys = []          # (access key id, secret, session token or None, expected ARN suffix)


def populate(srv, *, nkeys=3, rotations=2, nsecrets=2, nusers=2, session=True):
    st = Store()
    kms, sm, iam = srv.kms(), srv.sm(), srv.iam()
    for i in range(nkeys):
        kid = kms.create_key(Description=f"k{i}")["KeyMetadata"]["KeyId"]
        for r in range(rotations + 1):
            pt = f"key {i} material {r}".encode()
            st.blobs.append((kms.encrypt(KeyId=kid, Plaintext=pt)["CiphertextBlob"], pt))
            if r < rotations:
                srv.call("RotateKeyOnDemand", KeyId=kid)
    for i in range(nsecrets):
        name = f"app/secret-{i}"
        v = sm.create_secret(Name=name, SecretString=f"{name} v0")
        st.versions.append((name, v["VersionId"], f"{name} v0"))
        for j in (1, 2):
            v = sm.put_secret_value(SecretId=name, SecretString=f"{name} v{j}")
            st.versions.append((name, v["VersionId"], f"{name} v{j}"))
    st.keys.append((srv.access_key, srv.secret_key, None, ":root"))
    for i in range(nusers):
        iam.create_user(UserName=f"user{i}")
        k = iam.create_access_key(UserName=f"user{i}")["AccessKey"]
        st.keys.append((k["AccessKeyId"], k["SecretAccessKey"], None, f":user/user{i}"))
    if session:
        trust = ('{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":'
                 f'{{"AWS":"arn:aws:iam::{ACCOUNT}:root"}},"Action":"sts:AssumeRole"}}]}}')
        iam.create_role(RoleName="ops", AssumeRolePolicyDocument=trust)
        iam.put_user_policy(UserName="user0", PolicyName="assume", PolicyDocument=(
            '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole",'
            f'"Resource":"arn:aws:iam::{ACCOUNT}:role/ops"}}]}}'))
        akid, secret = st.keys[1][:2]
        sts = srv.client("sts", access_key=akid, secret_key=secret)
        c = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNT}:role/ops", RoleSessionName="rot")["Credentials"]
        st.keys.append((c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"],
                        ":assumed-role/ops/rot"))
    return st


def verify(srv, st, sample=None):
    """Every ciphertext decrypts, every secret version reads, every access
    key signs (sample: at most that many of each)."""
    kms, sm = srv.kms(), srv.sm()
    pick = (lambda xs: xs) if sample is None else (lambda xs: random.sample(xs, min(sample, len(xs))))
    for blob, pt in pick(st.blobs):
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == pt
    for name, vid, value in pick(st.versions):
        assert sm.get_secret_value(SecretId=name, VersionId=vid)["SecretString"] == value
    for akid, secret, token, arn in st.keys:
        sts = srv.client("sts", access_key=akid, secret_key=secret, session_token=token)
        assert sts.get_caller_identity()["Arn"].endswith(arn)


def rotate(srv, env=None, *args, timeout=60):
    e = {k: v for k, v in os.environ.items() if not k.startswith("TRESOR_")}
    e.update(env or {})
    return run_tresor_cmd(["rotate-root-key", "--data-dir", srv.data_dir, *args], srv.log_dir,
                          timeout=timeout, capture_output=True, text=True, env=e)


def check(srv, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith("TRESOR_")}
    e.update(env or {})
    return run_tresor_cmd(["check", "--data-dir", srv.data_dir], srv.log_dir, capture_output=True,
                          text=True, env=e)


def counts(check_out):
    m = re.search(r"accounts \d+, access keys (\d+),", check_out)
    k = re.search(r"key materials (\d+),", check_out)
    return int(k.group(1)), int(m.group(1))


def key_forms(key):
    return [key, key.hex().encode(), key.hex().upper().encode(), base64.b64encode(key),
            base64.urlsafe_b64encode(key).rstrip(b"=")]


def assert_key_nowhere(srv, key, extra=()):
    files = [p for p in srv.data_dir.rglob("*") if p.is_file()] + list(extra)
    assert any(p.name == "tresor.db" for p in files)
    for path in files:
        body = path.read_bytes()
        for f in key_forms(key):
            assert f not in body, f"{path} holds the old root key"


def next_files(srv):
    return sorted(p.name for p in srv.data_dir.iterdir() if p.name.endswith(".next"))


# ---- rotation, both seals ----------------------------------------------------------

def test_rotate_file_seal_then_everything_serves(tresor_factory, tmp_path):
    audit = tmp_path / "audit.log"
    srv = tresor_factory("rot-file", start=False)
    srv.start(args=["--audit-log", audit])
    st = populate(srv)
    assert srv.stop() == 0
    old = (srv.data_dir / "root.key").read_bytes()
    before = check(srv)
    assert before.returncode == 0, before.stdout + before.stderr
    materials, access_keys = counts(before.stdout)

    r = rotate(srv)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (f"re-wrapped under the new root key: kms key materials {materials}, "
            f"access keys {access_keys}, audit keys 2") in r.stdout
    assert f"the new root key is in {srv.data_dir.resolve()}/root.key (file seal)" in r.stdout
    new = (srv.data_dir / "root.key").read_bytes()
    assert len(new) == 32 and new != old
    assert (srv.data_dir / "root.key").stat().st_mode & 0o777 == 0o600
    assert next_files(srv) == []
    for f in key_forms(old) + key_forms(new):
        assert f.decode(errors="replace") not in r.stdout + r.stderr
    assert_key_nowhere(srv, old, extra=[audit])

    after = check(srv)
    assert after.returncode == 0 and "clean" in after.stdout, after.stdout + after.stderr
    srv.start(args=["--audit-log", audit])
    verify(srv, st)
    assert srv.stop() == 0
    assert_key_nowhere(srv, old, extra=[audit])
    # The audit keys are the same keys, wrapped anew: the log verifies
    # across the rotation, with the same public key.
    v = run_tresor_cmd(["audit", "verify", audit, "--public-key", srv.data_dir / "audit.pub"], srv.log_dir,
                       capture_output=True, text=True)
    assert v.returncode == 0, v.stdout + v.stderr

    # A second rotation, and the store still serves.
    r2 = rotate(srv)
    assert r2.returncode == 0, r2.stdout + r2.stderr
    assert (srv.data_dir / "root.key").read_bytes() not in (old, new)
    srv.start(args=["--audit-log", audit])
    verify(srv, st)


def test_rotate_passphrase_seal(tresor_factory, tmp_path):
    srv = tresor_factory("rot-pass", start=False)
    srv.start(args=["--seal", "passphrase"], env_extra={"TRESOR_PASSPHRASE": PASS})
    st = populate(srv, nkeys=2, nusers=1)
    assert srv.stop() == 0
    sealed_before = (srv.data_dir / "root.seal").read_bytes()
    old = _unwrap_root_seal(sealed_before)

    # No passphrase, a wrong one: refused, nothing changed.
    r = rotate(srv)
    assert r.returncode == 1
    assert ("tresor rotate-root-key: the passphrase seal needs its passphrase: give --passphrase-file FILE or "
            "TRESOR_PASSPHRASE") in r.stderr
    r = rotate(srv, {"TRESOR_PASSPHRASE": "not it"})
    assert r.returncode == 1 and "wrong passphrase" in r.stderr, r.stderr
    assert (srv.data_dir / "root.seal").read_bytes() == sealed_before and next_files(srv) == []

    pf = tmp_path / "pass"
    pf.write_text(PASS + "\n")
    pf.chmod(0o600)
    r = rotate(srv, None, "--passphrase-file", pf)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "(passphrase seal)" in r.stdout
    sealed_after = (srv.data_dir / "root.seal").read_bytes()
    assert sealed_after[22:38] != sealed_before[22:38]          # a fresh salt
    new = _unwrap_root_seal(sealed_after)                         # the same passphrase
    assert new != old and not (srv.data_dir / "root.key").exists()
    assert_key_nowhere(srv, old)
    assert_key_nowhere(srv, new)
    c = check(srv, {"TRESOR_PASSPHRASE": PASS})
    assert c.returncode == 0 and "clean" in c.stdout, c.stdout + c.stderr

    srv.start(sealed=True)                                        # sealed, then unsealed
    u = run_tresor_cmd(["unseal", "--data-dir", srv.data_dir], srv.log_dir, input=PASS + "\n",
                       capture_output=True, text=True)
    assert u.returncode == 0, u.stderr
    verify(srv, st)
    assert srv.stop() == 0


RUNNING = ("tresor rotate-root-key: data dir: a tresor server is running on {} (it holds the data dir's lock, "
           "or a tresor seal migrate or rotate-root-key does): stop it first")


def test_refused_beside_a_running_server(tresor_factory):
    srv = tresor_factory("rot-running")
    key = (srv.data_dir / "root.key").read_bytes()
    r = rotate(srv)
    assert r.returncode == 1
    assert RUNNING.format(srv.data_dir.resolve()) in r.stderr, r.stderr
    assert (srv.data_dir / "root.key").read_bytes() == key and next_files(srv) == []
    srv.kms().list_keys()                                         # the server did not notice

    ps = tresor_factory("rot-running-pass", start=False)
    ps.start(args=["--seal", "passphrase"], env_extra={"TRESOR_PASSPHRASE": PASS})
    r = rotate(ps, {"TRESOR_PASSPHRASE": PASS})
    assert r.returncode == 1
    assert RUNNING.format(ps.data_dir.resolve()) in r.stderr, r.stderr


def test_a_root_key_that_is_not_the_stores_is_refused(tresor_factory):
    srv = tresor_factory("rot-wrong")
    blob = srv.kms().encrypt(KeyId=srv.kms().create_key()["KeyMetadata"]["KeyId"],
                             Plaintext=b"x")["CiphertextBlob"]
    assert srv.stop() == 0
    old = (srv.data_dir / "root.key").read_bytes()
    assert rotate(srv).returncode == 0
    new = (srv.data_dir / "root.key").read_bytes()
    (srv.data_dir / "root.key").write_bytes(old)                  # a stale copy put back
    msg = "the root key is not the one the store is wrapped under"
    c = check(srv)
    assert c.returncode == 1 and msg in c.stderr, c.stderr
    r = rotate(srv)
    assert r.returncode == 1 and msg in r.stderr, r.stderr
    with pytest.raises(AssertionError, match="exited with 1 during start-up"):
        srv.start()
    assert msg in srv.stderr_text().decode()
    (srv.data_dir / "root.key").write_bytes(new)
    srv.start()
    assert srv.kms().decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


def test_a_never_rotated_store_refuses_another_stores_root_key(tresor_factory):
    """The first start records the root key's check value, so a store never
    rotated refuses a root.key from another data dir at start (and tresor
    check says why), instead of starting and failing every request."""
    a = tresor_factory("rot-first-a")
    b = tresor_factory("rot-first-b")
    blob = b.kms().encrypt(KeyId=b.kms().create_key()["KeyMetadata"]["KeyId"],
                           Plaintext=b"z")["CiphertextBlob"]
    assert a.stop() == 0 and b.stop() == 0
    own = (b.data_dir / "root.key").read_bytes()
    (b.data_dir / "root.key").write_bytes((a.data_dir / "root.key").read_bytes())
    msg = "the root key is not the one the store is wrapped under"
    c = check(b)
    assert c.returncode == 1 and msg in c.stderr, c.stderr
    with pytest.raises(AssertionError, match="exited with 1 during start-up"):
        b.start()
    assert msg in b.stderr_text().decode()
    (b.data_dir / "root.key").write_bytes(own)
    b.start()
    assert b.kms().decrypt(CiphertextBlob=blob)["Plaintext"] == b"z"


def test_a_wrong_next_file_is_removed(tresor_factory):
    """A root.key.next the store does not name (tampered, or from a
    rotation that did not commit) is removed at open, never used."""
    srv = tresor_factory("rot-tamper")
    blob = srv.kms().encrypt(KeyId=srv.kms().create_key()["KeyMetadata"]["KeyId"],
                             Plaintext=b"y")["CiphertextBlob"]
    assert srv.stop() == 0
    assert rotate(srv).returncode == 0                            # the store has a root record
    cur = (srv.data_dir / "root.key").read_bytes()
    nx = srv.data_dir / "root.key.next"
    nx.write_bytes(os.urandom(32))
    nx.chmod(0o600)
    c = check(srv)
    assert c.returncode == 0 and "clean" in c.stdout, c.stdout + c.stderr
    assert nx.exists()                                            # check changes nothing
    srv.start()
    assert not nx.exists() and (srv.data_dir / "root.key").read_bytes() == cur
    assert "it had not committed, and is undone" in srv.stderr_text().decode()
    assert srv.kms().decrypt(CiphertextBlob=blob)["Plaintext"] == b"y"


# ---- SIGKILL at every phase and at random -------------------------------------------

PHASES = ["next-written", "rewrapping", "committed", "renamed"]
NEW_AFTER = {"next-written": False, "rewrapping": False, "committed": True, "renamed": True}


def spawn_rotate(srv, env_extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRESOR_")}
    env.update(env_extra)
    argv, _ = tresor_cmd(["rotate-root-key", "--data-dir", srv.data_dir], srv.log_dir)
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


def wait_paused(p, phase):
    want = f"rotate-root-key: paused at {phase}"
    line = p.stderr.readline().decode()
    assert want in line, f"expected '{want}', got {line!r} (exit {p.poll()})"


def after_kill(srv, audit, st, sample):
    """check passes as the kill left the data dir; a server starts on it,
    settles it (no .next left) and serves what was written before."""
    c = check(srv)
    assert c.returncode == 0 and "clean" in c.stdout, c.stdout + c.stderr
    srv.start(args=["--audit-log", audit])
    assert next_files(srv) == []
    verify(srv, st, sample=sample)
    assert srv.stop() == 0


def test_sigkill_at_every_phase_and_at_random(tresor_factory, tmp_path):
    audit = tmp_path / "audit.log"
    srv = tresor_factory("rot-kill", start=False)
    srv.start(args=["--audit-log", audit])
    st = populate(srv, nkeys=int(os.environ.get("TRESOR_ROTATE_KEYS", "60")), rotations=2,
                  nsecrets=3, nusers=3)
    assert srv.stop() == 0
    outcomes = {}

    # Each phase for certain: stopped there, killed.
    for phase in PHASES:
        before = (srv.data_dir / "root.key").read_bytes()
        p = spawn_rotate(srv, {"TRESOR_TEST_ROTATE_PAUSE": phase})
        wait_paused(p, phase)
        p.send_signal(signal.SIGKILL)
        p.wait()
        if phase in ("committed", "renamed"):
            c = check(srv)
            assert c.returncode == 0 and "clean" in c.stdout, c.stdout + c.stderr
            if phase == "committed":
                assert "root.key.next" in c.stderr        # read with the key not yet renamed in
        after_kill(srv, audit, st, sample=None)
        now = (srv.data_dir / "root.key").read_bytes()
        assert (now != before) == NEW_AFTER[phase], phase
        outcomes[phase] = "new" if now != before else "old"

    # Random delays over the span of a whole rotation.
    t0 = time.monotonic()
    r = rotate(srv)
    span = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    rounds = int(os.environ.get("TRESOR_ROTATE_ROUNDS", "20"))
    old_new = {"old": 0, "new": 0, "done": 0}
    for i in range(rounds):
        before = (srv.data_dir / "root.key").read_bytes()
        p = spawn_rotate(srv, {})
        time.sleep(random.uniform(0, span * 1.1))
        p.send_signal(signal.SIGKILL)
        rc = p.wait()
        after_kill(srv, audit, st, sample=5)
        changed = (srv.data_dir / "root.key").read_bytes() != before
        old_new["done" if rc == 0 else "new" if changed else "old"] += 1
    print(f"\nrotate-root-key SIGKILL: phases {outcomes}; {rounds} random kills over "
          f"{span * 1000:.0f} ms: {old_new}")

    # Then a rotation to its end, and everything serves.
    r = rotate(srv)
    assert r.returncode == 0, r.stderr
    c = check(srv)
    assert c.returncode == 0 and "clean" in c.stdout, c.stdout + c.stderr
    srv.start(args=["--audit-log", audit])
    verify(srv, st)
    assert srv.stop() == 0
    v = run_tresor_cmd(["audit", "verify", audit, "--public-key", srv.data_dir / "audit.pub"], srv.log_dir,
                       capture_output=True, text=True)
    assert v.returncode == 0, v.stdout + v.stderr
