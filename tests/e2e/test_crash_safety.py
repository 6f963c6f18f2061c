"""
test_crash_safety.py -- what a client saw acknowledged survives a crash and a
full disk.

test_sigkill_under_write_load: several client threads write (CreateSecret,
PutSecretValue, CreateKey + Encrypt of a marker, PutKeyPolicy, CreateGrant)
while a killer SIGKILLs the server 20-300 ms into each round; then
`tresor check` runs on the data dir of the killed server, the server restarts
on it, and everything the round touched is verified:

  - an acknowledged write is there: the secret exists, each acknowledged
    version reads back by VersionId with its exact value, the key exists, is
    Enabled and decrypts its marker, each acknowledged grant is listed;
  - a write in flight when the server died (the client got no reply) either
    landed whole or not at all: a CreateSecret is absent or complete with its
    value, a PutSecretValue version is absent or has its value;
  - AWSCURRENT and the key policy are the last acknowledged write or the one
    in flight after it.  Each object is written by one thread only (the one
    that created it), so "last" is well defined.

At the end every acknowledged write of every round is verified again, every
key encrypts and decrypts, and `tresor check` passes.

test_sigkill_under_write_load_commit_each: fewer of the same rounds with
one sync per commit (TRESOR_COMMIT=each) instead of group commit.

test_sigkill_on_a_filling_disk: the same rounds on a small tmpfs whose free
space a filler file takes away and gives back: a write may also be refused
with the service's 500, and then it must have left nothing.

test_sigkill_during_first_start, test_kill_at_each_file_call_of_first_start:
kills anywhere in the first start -- at random moments, and (with strace's
fault injection) on entry to every file-changing system call in turn -- leave
a data dir the next start completes: a whole root key, root credentials on
disk for the account in the store, a store that checks clean.

TRESOR_CRASH_ROUNDS sets the rounds (default 25, well under a minute),
TRESOR_CRASH_FULL_ROUNDS those on the filling disk (default 12),
TRESOR_CRASH_INIT_ROUNDS the random first-start kills (default 15), TRESOR_CRASH_SEED
the random seed (printed, so a failure can be replayed).  Retries are off
(total_max_attempts=1: botocore's `max_attempts` counts retries, so
max_attempts=1 would still retry once).

test_disk_full: the data dir is a small tmpfs, all but 64 KiB..1 MiB of it
taken by a filler file; the write load runs until the store is full.  Writes
then fail with the service's 500 error (KMSInternalException,
InternalServiceError; an IAM CreateUser ServiceFailure), reads keep working, nothing half-written is left; the
server is SIGKILLed while the disk is full, `tresor check` passes on the full
disk, the server restarts on it and serves reads, the filler is deleted,
writes work again, and after a restart every acknowledged write is intact and
`tresor check` passes.  Needs mount(2) (root);
skipped with the reason when the mount fails.
"""

import json
import os
import random
import signal
import socket
import string
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tresor_e2e import (sqlite_only, ACCOUNT, REGION, ROOT_ARN, TresorServer, _boto3_session, free_port,
                        scaled, tresor_bin)

# What a kill or a full disk leaves in the SQLite file and its WAL.
pytestmark = sqlite_only

ROUNDS = int(os.environ.get("TRESOR_CRASH_ROUNDS", "25"))
SEED = int(os.environ.get("TRESOR_CRASH_SEED", "0")) or random.SystemRandom().randrange(1, 2**31)
THREADS = int(os.environ.get("TRESOR_CRASH_THREADS", "4"))

# A write refused for a full disk: the service's own 500 error.
FULL_CODES = ("KMSInternalException", "InternalServiceError")

OPS = (("create_secret", 2), ("put_secret_value", 5), ("create_key", 1),
       ("put_key_policy", 2), ("create_grant", 2))


def config():
    return Config(retries={"total_max_attempts": 1, "mode": "standard"},
                  parameter_validation=False, connect_timeout=2, read_timeout=10)


def clients(srv):
    """(kms, secretsmanager) clients for srv's current port.  Made in the
    calling thread: boto3 sessions are not thread-safe."""
    s = _boto3_session()
    kw = dict(region_name=REGION, endpoint_url=srv.endpoint, config=config(),
              aws_access_key_id=srv.access_key, aws_secret_access_key=srv.secret_key)
    return s.client("kms", **kw), s.client("secretsmanager", **kw)


def key_policy(sid):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Sid": sid, "Effect": "Allow", "Principal": {"AWS": ROOT_ARN},
        "Action": "kms:*", "Resource": "*"}]})


def policy_sid(text):
    return json.loads(text)["Statement"][0].get("Sid")


def code_of(e):
    return e.response.get("Error", {}).get("Code")


def status_of(e):
    return e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")


def run_check(srv):
    return srv.run_tresor("check", "--data-dir", srv.data_dir, timeout=120)


class Secret:
    def __init__(self, owner, name, arn, vid, value):
        self.owner = owner
        self.name = name
        self.arn = arn
        self.versions = {vid: value}      # acknowledged (or seen landed) versions
        self.current = vid                # the last of them
        self.pending = None               # (vid, value) in flight when the server died
        self.failed = []                  # version ids whose write failed (500): must be absent


class Key:
    def __init__(self, owner, key_id):
        self.owner = owner
        self.key_id = key_id
        self.marker = None                # (ciphertext blob, plaintext)
        self.policy = None                # Sid of the last acknowledged policy; None: default
        self.pending_policy = None        # Sid in flight
        self.grants = set()               # acknowledged grant ids
        self.pending_grant = None         # grant name in flight
        self.failed_policies = set()      # Sids whose PutKeyPolicy failed (500)
        self.failed_grants = set()        # names whose CreateGrant failed (500)


class Ledger:
    """What the clients saw acknowledged, and what was in flight."""

    def __init__(self):
        self.lock = threading.Lock()
        self.secrets = {}                 # name -> Secret
        self.keys = {}                    # key id -> Key
        self.pending_creates = []         # (owner, name, vid, value): CreateSecret in flight
        self.failed_creates = []          # names whose CreateSecret failed (500): must be absent
        self.refused = 0                  # writes refused with the service's 500 (full disk)
        self.acked = {op: 0 for op, _ in OPS}
        self.acked["encrypt_marker"] = 0
        self.inflight = 0
        self.landed = 0                   # in-flight writes found applied after the restart
        self.checks = 0                   # assertions on stored state
        self.failures = []                # unexpected errors seen by the clients
        self.touched_secrets = set()
        self.touched_keys = set()

    def owned(self, table, owner):
        with self.lock:
            return [o for o in table.values() if o.owner == owner]


class Worker(threading.Thread):
    """One client: random writes on its own objects until told to stop or
    until the server goes away."""

    def __init__(self, idx, ledger, kms, sm, rng, stop, full_ok=False):
        super().__init__(daemon=True)
        self.idx, self.ledger, self.kms, self.sm = idx, ledger, kms, sm
        self.rng, self.stop, self.full_ok = rng, stop, full_ok
        self.ops = [op for op, w in OPS for _ in range(w)]
        self.current = None               # the object of the write under way

    def run(self):
        while not self.stop.is_set():
            op = self.rng.choice(self.ops)
            self.current = None
            try:
                getattr(self, op)()
            except BotoCoreError:
                return                    # the server died mid-request: in flight
            except ClientError as e:
                if (self.full_ok and self.current != "read" and status_of(e) == 500
                        and code_of(e) in FULL_CODES):
                    self.refused(op)      # the disk is full: the write must leave nothing
                    continue
                with self.ledger.lock:
                    self.ledger.failures.append(f"{op}: {e!r}")
                return
            except Exception as e:        # a wrong reply
                with self.ledger.lock:
                    self.ledger.failures.append(f"{op}: {e!r}")
                return

    def refused(self, op):
        """A write answered with the service's 500: not in flight any more,
        failed -- verify() checks it left nothing."""
        L, o = self.ledger, self.current
        with L.lock:
            L.refused += 1
            L.inflight -= 1
            if op == "create_secret" or op == "put_secret_value" and isinstance(o, tuple):
                L.pending_creates.remove(o)
                L.failed_creates.append(o[1])
            elif op == "put_secret_value":
                o.failed.append(o.pending[0])
                o.pending = None
            elif op == "put_key_policy" and o is not None:
                o.failed_policies.add(o.pending_policy)
                o.pending_policy = None
            elif op == "create_grant" and o is not None:
                o.failed_grants.add(o.pending_grant)
                o.pending_grant = None

    def value(self):
        n = self.rng.choice((1, 16, 200, 3000))
        return "".join(self.rng.choice(string.ascii_letters + string.digits) for _ in range(n))

    def create_secret(self):
        L = self.ledger
        name = f"crash/{uuid.uuid4().hex[:12]}"
        vid, value = str(uuid.UUID(int=self.rng.getrandbits(128))), self.value()
        entry = self.current = (self.idx, name, vid, value)
        with L.lock:
            L.pending_creates.append(entry)
            L.inflight += 1
        r = self.sm.create_secret(Name=name, SecretString=value, ClientRequestToken=vid)
        with L.lock:
            L.pending_creates.remove(entry)
            L.inflight -= 1
            L.secrets[name] = Secret(self.idx, name, r["ARN"], vid, value)
            L.touched_secrets.add(name)
            L.acked["create_secret"] += 1
        assert r["VersionId"] == vid

    def put_secret_value(self):
        L = self.ledger
        mine = L.owned(L.secrets, self.idx)
        if not mine:
            return self.create_secret()
        s = self.current = self.rng.choice(mine)
        vid, value = str(uuid.UUID(int=self.rng.getrandbits(128))), self.value()
        with L.lock:
            s.pending = (vid, value)
            L.touched_secrets.add(s.name)
            L.inflight += 1
        self.sm.put_secret_value(SecretId=s.arn, SecretString=value, ClientRequestToken=vid)
        with L.lock:
            s.versions[vid] = value
            s.current = vid
            s.pending = None
            L.inflight -= 1
            L.acked["put_secret_value"] += 1

    def create_key(self):
        L = self.ledger
        with L.lock:
            L.inflight += 1
        r = self.kms.create_key(Description=f"crash test key of worker {self.idx}")
        k = Key(self.idx, r["KeyMetadata"]["KeyId"])
        with L.lock:
            L.inflight -= 1
            L.keys[k.key_id] = k
            L.touched_keys.add(k.key_id)
            L.acked["create_key"] += 1
        pt = self.rng.getrandbits(256).to_bytes(32, "big")
        self.current = "read"             # Encrypt is a read: a 500 here is a failure
        blob = self.kms.encrypt(KeyId=k.key_id, Plaintext=pt)["CiphertextBlob"]
        with L.lock:
            k.marker = (blob, pt)
            L.acked["encrypt_marker"] += 1

    def put_key_policy(self):
        L = self.ledger
        mine = L.owned(L.keys, self.idx)
        if not mine:
            return self.create_key()
        k = self.current = self.rng.choice(mine)
        sid = f"crash{self.rng.getrandbits(48):x}"
        with L.lock:
            k.pending_policy = sid
            L.touched_keys.add(k.key_id)
            L.inflight += 1
        self.kms.put_key_policy(KeyId=k.key_id, PolicyName="default", Policy=key_policy(sid))
        with L.lock:
            k.policy = sid
            k.pending_policy = None
            L.inflight -= 1
            L.acked["put_key_policy"] += 1

    def create_grant(self):
        L = self.ledger
        mine = L.owned(L.keys, self.idx)
        if not mine:
            return self.create_key()
        k = self.current = self.rng.choice(mine)
        name = f"g{self.rng.getrandbits(48):x}"
        with L.lock:
            k.pending_grant = name
            L.touched_keys.add(k.key_id)
            L.inflight += 1
        r = self.kms.create_grant(KeyId=k.key_id, GranteePrincipal=ROOT_ARN, Name=name,
                                  Operations=["Decrypt", "Encrypt", "DescribeKey"])
        with L.lock:
            k.grants.add(r["GrantId"])
            k.pending_grant = None
            L.inflight -= 1
            L.acked["create_grant"] += 1


# ---- verification -----------------------------------------------------------

def get_value(sm, secret_id, **kw):
    try:
        return sm.get_secret_value(SecretId=secret_id, **kw)
    except ClientError as e:
        if code_of(e) == "ResourceNotFoundException":
            return None
        raise


def verify_secret(L, sm, s, full):
    """s's acknowledged versions, and its in-flight one if it landed."""
    if s.pending:
        vid, value = s.pending
        r = get_value(sm, s.arn, VersionId=vid)
        L.checks += 1
        if r is not None:
            assert r["SecretString"] == value, f"{s.name} in-flight version {vid}: wrong value"
            s.versions[vid] = value
            s.current = vid
            L.landed += 1
        s.pending = None
    for vid in s.failed:
        L.checks += 1
        assert get_value(sm, s.arn, VersionId=vid) is None, (
            f"{s.name}: PutSecretValue {vid} failed (500) but its version exists")
    s.failed = []
    cur = sm.get_secret_value(SecretId=s.arn)
    L.checks += 1
    assert cur["VersionId"] == s.current, (
        f"{s.name}: AWSCURRENT is {cur['VersionId']}, the last acknowledged is {s.current}")
    assert cur["SecretString"] == s.versions[s.current]
    vids = s.versions if full else [s.current] + list(s.versions)[-3:]
    for vid in vids:
        r = get_value(sm, s.arn, VersionId=vid)
        L.checks += 1
        assert r is not None, f"{s.name}: acknowledged version {vid} is gone"
        assert r["SecretString"] == s.versions[vid], f"{s.name} version {vid}: wrong value"


def verify_pending_creates(L, sm):
    """A CreateSecret in flight: absent, or there whole with its value."""
    for owner, name, vid, value in L.pending_creates:
        r = get_value(sm, name)
        L.checks += 1
        if r is None:
            continue
        assert r["VersionId"] == vid and r["SecretString"] == value, (
            f"in-flight CreateSecret {name} landed without its value")
        L.secrets[name] = Secret(owner, name, r["ARN"], vid, value)
        L.landed += 1
    L.pending_creates = []
    for name in L.failed_creates:
        L.checks += 1
        assert get_value(sm, name) is None, f"CreateSecret {name} failed (500) but the secret exists"
    L.failed_creates = []


def verify_key(L, kms, k, full):
    md = kms.describe_key(KeyId=k.key_id)["KeyMetadata"]
    L.checks += 1
    assert md["KeyState"] == "Enabled", f"key {k.key_id}: {md['KeyState']}"
    if k.marker:
        blob, pt = k.marker
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == pt, f"key {k.key_id}: marker"
        L.checks += 1
    sid = policy_sid(kms.get_key_policy(KeyId=k.key_id, PolicyName="default")["Policy"])
    L.checks += 1
    allowed = {k.policy if k.policy else "Enable IAM User Permissions"}
    if k.pending_policy:
        allowed.add(k.pending_policy)
    assert sid in allowed, f"key {k.key_id}: policy {sid}, expected one of {allowed}"
    assert sid not in k.failed_policies, f"key {k.key_id}: a failed (500) PutKeyPolicy landed"
    k.failed_policies.clear()
    if sid != (k.policy or "Enable IAM User Permissions"):
        k.policy = sid
        L.landed += 1
    k.pending_policy = None
    grants = kms.list_grants(KeyId=k.key_id, Limit=1000)["Grants"]
    L.checks += 1
    ids = {g["GrantId"] for g in grants}
    missing = k.grants - ids
    assert not missing, f"key {k.key_id}: acknowledged grants {missing} are gone"
    if k.pending_grant:
        landed = [g["GrantId"] for g in grants if g.get("Name") == k.pending_grant]
        if landed:
            k.grants.update(landed)
            L.landed += 1
        k.pending_grant = None
    assert len(ids) == len(k.grants), f"key {k.key_id}: grants nobody asked for"
    assert not {g.get("Name") for g in grants} & k.failed_grants, (
        f"key {k.key_id}: a failed (500) CreateGrant landed")
    k.failed_grants.clear()
    if full:
        pt = os.urandom(24)
        blob = kms.encrypt(KeyId=k.key_id, Plaintext=pt)["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == pt
        L.checks += 1


def verify(L, srv, full=False):
    kms, sm = clients(srv)
    verify_pending_creates(L, sm)
    names = list(L.secrets) if full else list(L.touched_secrets)
    for name in names:
        verify_secret(L, sm, L.secrets[name], full)
    ids = list(L.keys) if full else list(L.touched_keys)
    for kid in ids:
        verify_key(L, kms, L.keys[kid], full)
    L.touched_secrets.clear()
    L.touched_keys.clear()


def assert_check_passes(srv, L, when):
    p = run_check(srv)
    L.checks += 1
    assert p.returncode == 0, f"tresor check {when} failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
    return p.stdout


def new_server(tmp_path_factory, name):
    return TresorServer(name, tmp_path_factory.mktemp(f"tresor-{name}"))


def crash_rounds(srv, L, rng, rounds, full_ok=False, before_round=None, env=None):
    """`rounds` rounds of: the write load from THREADS clients, SIGKILL
    20-300 ms in, `tresor check` on the killed server's data dir, restart,
    verify what the round touched.  Then verify everything and check once
    more after a clean stop.  `env`: more of the server's environment.
    Returns the number of kills and the last check's report."""
    kills = 0
    env = {"TRESOR_LOG": "quiet", **(env or {})}
    srv.start(env_extra=env)
    for rnd in range(rounds):
        if before_round:
            before_round(rnd)
        stop = threading.Event()
        workers = []
        for i in range(THREADS):
            kms, sm = clients(srv)
            workers.append(Worker(i, L, kms, sm, random.Random(rng.getrandbits(64)), stop,
                                  full_ok))
        for w in workers:
            w.start()
        # Longer under a wrapper (valgrind), where requests are ~10x slower:
        # a round that kills before any write is acknowledged proves nothing.
        time.sleep(scaled(rng.uniform(0.020, 0.300)))
        srv.kill()                        # SIGKILL, then reap
        kills += 1
        stop.set()
        for w in workers:
            w.join(30)
            assert not w.is_alive(), "a client thread hangs after the kill"
        assert not L.failures, f"round {rnd}: unexpected errors: {L.failures[:5]}"
        assert_check_passes(srv, L, f"after kill {kills}")
        srv.start(env_extra=env)
        verify(L, srv)
    if before_round:
        before_round(None)                # room again for the last checks
    verify(L, srv, full=True)
    srv.stop_clean()
    return kills, assert_check_passes(srv, L, "at the end")


def report(title, L, rounds, kills, t0, out):
    acked = sum(L.acked.values())
    versions = sum(len(s.versions) for s in L.secrets.values())
    print(f"\n{title}: seed {SEED}, {rounds} rounds, {THREADS} threads, {kills} SIGKILLs, "
          f"{acked} writes acknowledged {L.acked}, {L.landed} in-flight writes found landed, "
          f"{L.refused} refused with a 500, {len(L.secrets)} secrets with {versions} versions, "
          f"{len(L.keys)} keys, {L.checks} checks, 0 failures, "
          f"{time.monotonic() - t0:.1f}s\n{out.strip()}")
    assert acked > 0


def test_sigkill_under_write_load(tmp_path_factory):
    """On the default path, group commit (docs/internals/CRASH_SAFETY.md)."""
    srv = new_server(tmp_path_factory, "crash")
    L, t0 = Ledger(), time.monotonic()
    try:
        kills, out = crash_rounds(srv, L, random.Random(SEED), ROUNDS)
    finally:
        srv.close()
    report("crash safety", L, ROUNDS, kills, t0, out)


def test_sigkill_under_write_load_commit_each(tmp_path_factory):
    """The fallback, one sync per commit (TRESOR_COMMIT=each): fewer rounds."""
    srv = new_server(tmp_path_factory, "crash-each")
    L, t0 = Ledger(), time.monotonic()
    rounds = max(1, ROUNDS // 3)
    try:
        kills, out = crash_rounds(srv, L, random.Random(SEED + 1), rounds,
                                  env={"TRESOR_COMMIT": "each"})
    finally:
        srv.close()
    report("crash safety (TRESOR_COMMIT=each)", L, rounds, kills, t0, out)


# ---- first start -----------------------------------------------------------------

INIT_ROUNDS = int(os.environ.get("TRESOR_CRASH_INIT_ROUNDS", "15"))


def test_sigkill_during_first_start(tmp_path_factory):
    """A kill at any moment of the first start (root key, store, account,
    credentials file) leaves a data dir the next start completes: a whole
    root key, and root credentials on disk for the account in the store.
    (Before: a short root.key refused for good, or an account whose
    credentials were never written.)"""
    rng = random.Random(SEED)
    outcomes = {}
    # How long a first start takes here, up to its credentials file: the
    # kills fall anywhere in 0..1.5 times that.
    ref = new_server(tmp_path_factory, "init-ref")
    ref.port = free_port()
    t0 = time.monotonic()
    p = subprocess.Popen([str(tresor_bin()), "serve", "--listen", f"127.0.0.1:{ref.port}",
                          "--data-dir", str(ref.data_dir)], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env={**ref._base_env(), "TRESOR_LOG": "quiet"})
    while not (ref.data_dir / "config").exists() and time.monotonic() - t0 < 10:
        time.sleep(0.001)
    span = time.monotonic() - t0
    p.kill()
    p.wait()
    for i in range(INIT_ROUNDS):
        srv = new_server(tmp_path_factory, f"init{i}")
        srv.port = free_port()
        p = subprocess.Popen([str(tresor_bin()), "serve", "--listen", f"127.0.0.1:{srv.port}",
                              "--data-dir", str(srv.data_dir), "--region", REGION,
                              "--account-id", ACCOUNT], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env={**srv._base_env(), "TRESOR_LOG": "quiet"})
        time.sleep(rng.uniform(0, 1.5 * span))
        p.kill()
        p.wait()
        left = sorted(f.name for f in srv.data_dir.iterdir())
        outcomes[tuple(left)] = outcomes.get(tuple(left), 0) + 1
        try:
            srv.start(env_extra={"TRESOR_LOG": "quiet"})
            ident = srv.sts().get_caller_identity()
            assert ident["Account"] == ACCOUNT, ident
            srv.kms().list_keys()
            srv.stop_clean()
            assert_check_passes(srv, Ledger(), f"after a kill during first start ({left})")
        finally:
            srv.close()
    print(f"\nfirst start: {INIT_ROUNDS} kills within {1.5 * span * 1000:.0f} ms of the start, "
          f"files left -> count: {outcomes}")


# Every file-changing system call of the first start, by kind: the first
# start is killed (strace's fault injection) on entry to the N-th call of a
# kind, for every N until the start gets through.
STRACE = "/usr/bin/strace"
FILE_CALLS = ("openat", "write", "pwrite64", "fsync", "fdatasync", "rename", "link", "linkat",
              "unlink", "ftruncate")


def first_start_under_strace(srv, call, nth, timeout=5.0):
    """Start srv's first `tresor serve` under strace, killed on entry to the
    nth `call`.  True when the kill happened; False when the start got
    through (then the server is stopped)."""
    srv.port = free_port()
    p = subprocess.Popen([STRACE, "-f", "-qq", "-o", "/dev/null", "-e", f"trace={call}",
                          "-e", f"inject={call}:signal=KILL:when={nth}", str(tresor_bin()),
                          "serve", "--listen", f"127.0.0.1:{srv.port}", "--data-dir",
                          str(srv.data_dir), "--region", REGION, "--account-id", ACCOUNT],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env={**srv._base_env(), "TRESOR_LOG": "quiet"})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if p.poll() is not None:
            return True                   # killed (strace exits with the tracee)
        if (srv.data_dir / "config").exists():
            try:
                socket.create_connection(("127.0.0.1", srv.port), 0.2).close()
                break                     # serving: the nth call never came
            except OSError:
                pass
        time.sleep(0.01)
    # Through (or stuck): stop the tracee itself -- strace would detach it.
    children = Path(f"/proc/{p.pid}/task/{p.pid}/children")
    try:
        pids = children.read_text().split()
    except OSError:                       # strace has exited meanwhile
        pids = []
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGTERM)
        except ProcessLookupError:        # the tracee exited between the read and the kill
            pass
    p.wait(timeout=15)
    return False


def test_kill_at_each_file_call_of_first_start(tmp_path_factory):
    """Deterministic kill points for the first start: on entry to the N-th
    openat, write, pwrite64, fsync, fdatasync, rename, link(at), unlink and
    ftruncate, for every N.  After each, a normal start must come up with the
    account's root credentials on disk and working, and `tresor check` must
    pass.  (Killed at its first write, the first start used to leave a
    0-byte root.key; killed after the account's commit, no credentials.)"""
    if not os.access(STRACE, os.X_OK):
        pytest.skip("strace is not installed")
    probe = subprocess.run([STRACE, "-qq", "-o", "/dev/null", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip(f"strace cannot trace here: {probe.stderr.decode().strip()}")
    kills, t0 = {}, time.monotonic()
    for call in FILE_CALLS:
        nth = 0
        while True:
            nth += 1
            assert nth < 400, f"the first start makes more than 400 {call} calls?"
            srv = new_server(tmp_path_factory, f"kill-{call}-{nth}")
            try:
                killed = first_start_under_strace(srv, call, nth)
                if killed:
                    srv.start(env_extra={"TRESOR_LOG": "quiet"})
                    assert srv.sts().get_caller_identity()["Account"] == ACCOUNT
                    srv.stop_clean()
                    assert_check_passes(srv, Ledger(), f"after a kill at {call} #{nth}")
            finally:
                srv.close()
            if not killed:
                break
            kills[call] = nth
    print(f"\nfirst start killed at every file call: {kills} "
          f"({sum(kills.values())} kills, {time.monotonic() - t0:.1f}s)")


# ---- disk full -----------------------------------------------------------------

FULL_SIZE = "16m"                 # the tmpfs
FULL_FREE_KB = (64, 1024)         # bytes left free by the filler: a random KiB count
INTERNAL = {"kms": ("KMSInternalException", 500),
            "secretsmanager": ("InternalServiceError", 500)}


def mount_tmpfs(path, size=FULL_SIZE):
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs",
                        str(path)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs for the disk-full test (needs root): "
                    f"{p.stderr.strip() or p.returncode}")


def umount(path):
    subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(path, leave):
    """A filler file taking all but `leave` bytes of path's file system."""
    st = os.statvfs(path)
    size = st.f_bavail * st.f_frsize - leave
    with open(path / "filler", "wb") as f:
        chunk = b"\0" * (1 << 20)
        while size > 0:
            n = min(size, len(chunk))
            f.write(chunk[:n])
            size -= n
    return path / "filler"


class FullLoad:
    """Writes, one at a time, recording what was acknowledged and what
    failed; every failure must be the service's 500 error."""

    def __init__(self, srv, rng):
        self.srv, self.rng = srv, rng
        self.kms, self.sm = clients(srv)
        self.secrets = {}         # name -> Secret (acknowledged)
        self.keys = {}            # key id -> Key (acknowledged)
        self.failed_creates = []  # names whose CreateSecret failed
        self.failed_puts = []     # (name, vid) whose PutSecretValue failed
        self.failed_keys = 0
        self.failed_policies = {}  # key id -> sid that failed
        self.failed_grants = {}   # key id -> grant names that failed
        self.acked = 0
        self.failures = 0
        self.codes = set()

    def refresh(self):
        self.kms, self.sm = clients(self.srv)

    def expect_internal(self, e, service):
        code, status = INTERNAL[service]
        assert code_of(e) == code and status_of(e) == status, (
            f"a write on a full disk failed with {code_of(e)} {status_of(e)}, "
            f"expected {code} {status}: {e}")
        self.failures += 1
        self.codes.add(code)

    def one(self):
        """One random write; True when acknowledged."""
        rng = self.rng
        value = "".join(rng.choice(string.ascii_letters) for _ in range(rng.choice((100, 3000))))
        op = rng.choice(("create_secret", "put", "put", "put", "create_key", "policy", "grant"))
        if op == "put" and not self.secrets or op in ("policy", "grant") and not self.keys:
            op = "create_secret" if op == "put" else "create_key"
        vid = str(uuid.UUID(int=rng.getrandbits(128)))
        try:
            if op == "create_secret":
                name = f"full/{uuid.uuid4().hex[:12]}"
                try:
                    r = self.sm.create_secret(Name=name, SecretString=value, ClientRequestToken=vid)
                except ClientError as e:
                    self.expect_internal(e, "secretsmanager")
                    self.failed_creates.append(name)
                    return False
                self.secrets[name] = Secret(0, name, r["ARN"], vid, value)
            elif op == "put":
                s = self.secrets[rng.choice(sorted(self.secrets))]
                try:
                    self.sm.put_secret_value(SecretId=s.arn, SecretString=value,
                                             ClientRequestToken=vid)
                except ClientError as e:
                    self.expect_internal(e, "secretsmanager")
                    self.failed_puts.append((s.name, vid))
                    return False
                s.versions[vid] = value
                s.current = vid
            elif op == "create_key":
                try:
                    kid = self.kms.create_key(Description="full")["KeyMetadata"]["KeyId"]
                except ClientError as e:
                    self.expect_internal(e, "kms")
                    self.failed_keys += 1
                    return False
                k = self.keys[kid] = Key(0, kid)
                pt = os.urandom(32)
                k.marker = (self.kms.encrypt(KeyId=kid, Plaintext=pt)["CiphertextBlob"], pt)
            elif op == "policy":
                k = self.keys[rng.choice(sorted(self.keys))]
                sid = f"full{rng.getrandbits(40):x}"
                try:
                    self.kms.put_key_policy(KeyId=k.key_id, PolicyName="default",
                                            Policy=key_policy(sid))
                except ClientError as e:
                    self.expect_internal(e, "kms")
                    self.failed_policies[k.key_id] = sid
                    return False
                k.policy = sid
                self.failed_policies.pop(k.key_id, None)
            else:
                k = self.keys[rng.choice(sorted(self.keys))]
                name = f"g{rng.getrandbits(40):x}"
                try:
                    g = self.kms.create_grant(KeyId=k.key_id, GranteePrincipal=ROOT_ARN,
                                              Name=name, Operations=["Decrypt"])
                except ClientError as e:
                    self.expect_internal(e, "kms")
                    self.failed_grants.setdefault(k.key_id, []).append(name)
                    return False
                k.grants.add(g["GrantId"])
        except ClientError as e:
            # The marker's Encrypt is a read: it must work on a full disk.
            raise AssertionError(f"{op}: a read failed on a full disk: {e}")
        self.acked += 1
        return True

    def run_until_full(self, max_ops=4000):
        streak = 0
        for _ in range(max_ops):
            streak = 0 if self.one() else streak + 1
            if streak >= 12:
                return
        raise AssertionError(f"the store never filled up ({self.acked} writes acknowledged)")


def verify_full_load(load, partial=True):
    """Every acknowledged write is there; every failed one left nothing."""
    kms, sm = load.kms, load.sm
    checks = 0
    for s in load.secrets.values():
        cur = sm.get_secret_value(SecretId=s.arn)
        assert cur["VersionId"] == s.current and cur["SecretString"] == s.versions[s.current]
        for vid, value in s.versions.items():
            assert sm.get_secret_value(SecretId=s.arn, VersionId=vid)["SecretString"] == value
            checks += 1
    for k in load.keys.values():
        blob, pt = k.marker
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == pt
        sid = policy_sid(kms.get_key_policy(KeyId=k.key_id, PolicyName="default")["Policy"])
        assert sid == (k.policy or "Enable IAM User Permissions"), f"key {k.key_id}: policy {sid}"
        grants = kms.list_grants(KeyId=k.key_id)["Grants"]
        assert {g["GrantId"] for g in grants} == k.grants, f"key {k.key_id}: grants differ"
        checks += 3
    if partial:
        for name in load.failed_creates:
            with pytest.raises(ClientError) as ei:
                sm.describe_secret(SecretId=name)
            assert code_of(ei.value) == "ResourceNotFoundException", f"failed CreateSecret {name}"
            checks += 1
        for name, vid in load.failed_puts:
            assert get_value(sm, load.secrets[name].arn, VersionId=vid) is None, (
                f"failed PutSecretValue {name} {vid} left a version")
            checks += 1
        keys = kms.list_keys(Limit=1000)["Keys"]
        customer = [k for k in keys if kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]
                    ["KeyManager"] == "CUSTOMER"]
        assert len(customer) == len(load.keys), "a failed CreateKey left a key"
        checks += 1
    return checks


def test_disk_full(tmp_path_factory):
    srv = new_server(tmp_path_factory, "full")
    mount_tmpfs(srv.data_dir)
    rng = random.Random(SEED)
    t0 = time.monotonic()
    try:
        srv.start(env_extra={"TRESOR_LOG": "quiet"})
        load = FullLoad(srv, rng)
        for _ in range(5):        # a few writes with room to spare
            assert load.one()
        free_kb = rng.randrange(*FULL_FREE_KB)
        filler = fill(srv.data_dir, free_kb * 1024)
        load.run_until_full()
        assert load.failures > 0
        full_acked, full_failed = load.acked, load.failures

        # Full: reads work, failed writes left nothing, acknowledged ones are there.
        checks = verify_full_load(load)
        iam = srv.iam()
        try:
            iam.create_user(UserName="full-disk-user")     # IAM: the query protocol's 500
        except ClientError as e:
            assert code_of(e) == "ServiceFailure" and status_of(e) == 500, e.response
            with pytest.raises(ClientError) as ei:
                iam.get_user(UserName="full-disk-user")
            assert code_of(ei.value) == "NoSuchEntity"
            load.codes.add("ServiceFailure")
        assert sm_list_names(load.sm) >= set(load.secrets)

        # SIGKILL while full; the store checks clean on the full disk, and
        # the server starts again on it and serves what was acknowledged.
        srv.kill()
        p = run_check(srv)
        assert p.returncode == 0, f"tresor check on the full disk:\n{p.stdout}\n{p.stderr}"
        srv.start(env_extra={"TRESOR_LOG": "quiet"})
        load.refresh()
        checks += verify_full_load(load)
        load.one()      # still full, or a checkpoint made room: either way no other error

        # Room again: writes work without a restart, then restart and check all.
        filler.unlink()
        for _ in range(20):
            assert load.one(), "writes still fail after space was freed"
        srv.stop_clean()
        p = run_check(srv)
        assert p.returncode == 0, f"tresor check after the full disk:\n{p.stdout}\n{p.stderr}"
        srv.start(env_extra={"TRESOR_LOG": "quiet"})
        load.refresh()
        checks += verify_full_load(load)
        srv.stop_clean()
    finally:
        srv.kill()
        umount(srv.data_dir)
        srv.close()
    print(f"\ndisk full ({free_kb} KiB left free): {full_acked} writes acknowledged before "
          f"the disk filled, "
          f"{full_failed} failed with {sorted(load.codes)} (HTTP 500), reads kept working, "
          f"no partial state, SIGKILL on the full disk and restart, {load.acked} acknowledged "
          f"in all, {checks} checks, {time.monotonic() - t0:.1f}s\n{p.stdout.strip()}")


def sm_list_names(sm):
    names, token = set(), None
    while True:
        r = sm.list_secrets(MaxResults=100, **({"NextToken": token} if token else {}))
        names.update(s["Name"] for s in r["SecretList"])
        token = r.get("NextToken")
        if not token:
            return names


FULL_ROUNDS = int(os.environ.get("TRESOR_CRASH_FULL_ROUNDS", "12"))


def test_sigkill_on_a_filling_disk(tmp_path_factory):
    """The SIGKILL rounds on a small tmpfs whose free space a filler file
    takes away (down to 16..256 KiB) every other pair of rounds and gives
    back in between: writes are acknowledged, refused with the service's
    500 (those must have left nothing), or in flight at the kill; the server
    is killed on a full disk, `tresor check` runs there, and it restarts
    there."""
    srv = new_server(tmp_path_factory, "crash-full")
    mount_tmpfs(srv.data_dir, "64m")
    rng = random.Random(SEED ^ 0x5eed)
    L, t0 = Ledger(), time.monotonic()
    filler = srv.data_dir / "filler"

    def before_round(rnd):
        if filler.exists():
            filler.unlink()
        if rnd is not None and rnd % 4 in (1, 2):
            fill(srv.data_dir, rng.randrange(16, 256) * 1024)

    try:
        kills, out = crash_rounds(srv, L, rng, FULL_ROUNDS, full_ok=True,
                                  before_round=before_round)
    finally:
        srv.kill()
        umount(srv.data_dir)
        srv.close()
    report("crash safety on a filling disk", L, FULL_ROUNDS, kills, t0, out)
    assert L.refused > 0, "the disk never filled"
