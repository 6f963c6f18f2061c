"""
test_nodes.py -- several tresor nodes serving one PostgreSQL database.

Two `tresor serve` processes on one database (the pg_nodes fixture: the
second with a copy of the first's root key, credentials and config), each
with its own caches:

  - both serve, and each sees what the other writes (secrets, keys,
    aliases) within the staleness bound;
  - the writes AWS makes atomic stay atomic when the two nodes race them,
    in many rounds started together (a barrier): the same secret name
    created on both (one wins, the other ResourceExistsException), two
    PutSecretValue calls (exactly one AWSCURRENT, the other AWSPREVIOUS, the
    first value unlabeled), the same alias name (one wins, the other
    AlreadyExistsException), the same-named grant with the same parameters
    (one grant, both answers its id);
  - an IAM policy change on one node is enforced on the other within the
    bound (a user's reads allowed, then denied, then allowed again);
  - the propagation delay: many writes on A, and how long until B serves
    each (p50/p99/max printed; asserted only against the staleness bound
    plus slack);
  - a node killed with SIGKILL under a write load spread over both: every
    acknowledged write is on the other, which kept answering;
  - maintenance due on both nodes at once (both started together with the
    clock moved on, the write lock held a moment so both have listed the
    work): each due rotation, key deletion and secret purge done once;
  - scheduled secret rotation due on both nodes at once, with the same
    rotation hooks: each secret rotated by one node, each hook step once.

The staleness bound (docs/internals/CACHES.md): a request that starts
250 ms after another node's commit returned never uses what was cached
before it; the notification normally makes it milliseconds.

Runs only with TRESOR_E2E_STORE=postgres (make e2e-pg).
"""

import os
import statistics
import subprocess
import threading
import time

import pytest
from botocore.exceptions import ClientError

from tresor_e2e import (ACCOUNT, REGION, STORE, allow, denied_msg, deny, make_role, make_user, policy_doc,
                        psql_bin, raises_aws, scaled, unique)

pytestmark = pytest.mark.skipif(STORE != "postgres",
                                reason="needs a PostgreSQL cluster (make e2e-pg: TRESOR_E2E_STORE=postgres)")

LOCK_WRITE = 0x747265736f720003     # postgres.c: the nodes' write transactions
BOUND = 0.250           # the staleness bound (postgres.c GEN_STALE_MS)
SLACK = 2.0             # scheduling on a loaded machine; a correctness bound, not a speed one
ROUNDS = 12


def race(*calls):
    """Run the calls at once (one thread each, released together); returns
    a list of (result, None) or (None, ClientError) in the calls' order."""
    barrier = threading.Barrier(len(calls))
    out = [None] * len(calls)

    def run(i, fn):
        barrier.wait()
        try:
            out[i] = (fn(), None)
        except ClientError as e:
            out[i] = (None, e)

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert all(o is not None for o in out), "a racing call did not finish"
    return out


def within_bound(fn, bound=BOUND + SLACK):
    """Retry fn until it stops raising AssertionError/ClientError (or a
    pytest.raises that saw nothing raised), for at
    most bound seconds; returns (its value, seconds it took)."""
    t0 = time.monotonic()
    while True:
        try:
            return fn(), time.monotonic() - t0
        except (AssertionError, ClientError, pytest.fail.Exception):
            if time.monotonic() - t0 > bound:
                raise
            time.sleep(0.002)


def err(e):
    return e.response["Error"]["Code"], e.response["Error"]["Message"]


def test_both_nodes_serve_and_see_each_other(pg_nodes):
    a, b = pg_nodes(2)
    sa, sb = a.sm(), b.sm()
    ka, kb = a.kms(), b.kms()
    name = unique("both")
    sa.create_secret(Name=name, SecretString="from-a")
    within_bound(lambda: sb.get_secret_value(SecretId=name)["SecretString"] == "from-a" or _fail())
    sb.put_secret_value(SecretId=name, SecretString="from-b")
    within_bound(lambda: sa.get_secret_value(SecretId=name)["SecretString"] == "from-b" or _fail())

    key = kb.create_key(Description="made on b")["KeyMetadata"]["KeyId"]
    kb.create_alias(AliasName="alias/" + name, TargetKeyId=key)
    blob = ka.encrypt(KeyId="alias/" + name, Plaintext=b"hello")["CiphertextBlob"]
    assert kb.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hello"
    # A key disabled on A is refused on B (B had it cached).
    ka.disable_key(KeyId=key)

    def refused():
        with raises_aws("DisabledException", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key} is disabled."):
            kb.encrypt(KeyId=key, Plaintext=b"x")
    within_bound(refused)
    # The other nodes' writes do not stop a node's own from being read at once.
    kb.enable_key(KeyId=key)
    assert kb.encrypt(KeyId=key, Plaintext=b"x")["KeyId"].endswith(key)
    assert b"several nodes" not in a.stderr_text() + b.stderr_text()


def _fail():
    raise AssertionError("not yet")


def test_same_secret_name_created_on_both(pg_nodes):
    a, b = pg_nodes(2)
    sa, sb = a.sm(), b.sm()
    for i in range(ROUNDS):
        name = unique(f"race{i}")
        (ra, ea), (rb, eb) = race(lambda: sa.create_secret(Name=name, SecretString="a"),
                                  lambda: sb.create_secret(Name=name, SecretString="b"))
        assert (ea is None) != (eb is None), (ea, eb)
        loser = ea or eb
        assert err(loser) == ("ResourceExistsException",
                              f"The operation failed because the secret {name} already exists."), err(loser)
        won = "a" if ea is None else "b"
        arn = (ra or rb)["ARN"]
        for sm in (sa, sb):
            got, _ = within_bound(lambda sm=sm: sm.get_secret_value(SecretId=name))
            assert got["SecretString"] == won and got["ARN"] == arn
        assert len(sa.list_secret_version_ids(SecretId=name)["Versions"]) == 1


def test_racing_put_secret_value(pg_nodes):
    a, b = pg_nodes(2)
    sa, sb = a.sm(), b.sm()
    name = unique("puts")
    first = sa.create_secret(Name=name, SecretString="v0")["VersionId"]
    prev_current = first
    for i in range(ROUNDS):
        ta, tb = f"a{i:02d}-" + "0" * 30, f"b{i:02d}-" + "0" * 30
        (ra, ea), (rb, eb) = race(
            lambda: sa.put_secret_value(SecretId=name, SecretString=f"a{i}", ClientRequestToken=ta),
            lambda: sb.put_secret_value(SecretId=name, SecretString=f"b{i}", ClientRequestToken=tb))
        assert ea is None and eb is None, (ea, eb)
        assert ra["VersionId"] == ta and rb["VersionId"] == tb
        vs = sa.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"]
        stages = {v["VersionId"]: sorted(v.get("VersionStages", [])) for v in vs}
        current = [v for v, s in stages.items() if "AWSCURRENT" in s]
        previous = [v for v, s in stages.items() if "AWSPREVIOUS" in s]
        assert len(current) == 1 and len(previous) == 1, stages
        # Serialized: the later commit is current, the earlier previous;
        # what was current before the round has no label left.
        assert {current[0], previous[0]} == {ta, tb}, stages
        assert stages[prev_current] == [], stages
        assert stages[current[0]] == ["AWSCURRENT"] and stages[previous[0]] == ["AWSPREVIOUS"]
        want = f"a{i}" if current[0] == ta else f"b{i}"
        for sm in (sa, sb):
            within_bound(lambda sm=sm: sm.get_secret_value(SecretId=name)["SecretString"] == want or _fail())
            prev = sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")
            assert prev["VersionId"] == previous[0]
        prev_current = current[0]


def test_same_alias_and_grant_on_both(pg_nodes):
    a, b = pg_nodes(2)
    ka, kb = a.kms(), b.kms()
    key1 = ka.create_key()["KeyMetadata"]["KeyId"]
    key2 = kb.create_key()["KeyMetadata"]["KeyId"]
    user = make_user(a.root_user, keys=False)
    for i in range(ROUNDS):
        alias = "alias/" + unique(f"race{i}")
        (ra, ea), (rb, eb) = race(lambda: ka.create_alias(AliasName=alias, TargetKeyId=key1),
                                  lambda: kb.create_alias(AliasName=alias, TargetKeyId=key2))
        assert (ea is None) != (eb is None), (ea, eb)
        loser = ea or eb
        assert err(loser) == ("AlreadyExistsException",
                              f"An alias with the name arn:aws:kms:{REGION}:{ACCOUNT}:{alias} already exists"), \
            err(loser)
        target = key1 if ea is None else key2
        for k in (ka, kb):
            got, _ = within_bound(lambda k=k: k.describe_key(KeyId=alias))
            assert got["KeyMetadata"]["KeyId"] == target

        # CreateGrant with a Name is idempotent: the same name and
        # parameters on both nodes at once make one grant.
        gname = unique(f"grant{i}")
        params = dict(KeyId=key1, GranteePrincipal=user.arn, Operations=["Decrypt"], Name=gname)
        (ga, e1), (gb, e2) = race(lambda: ka.create_grant(**params), lambda: kb.create_grant(**params))
        assert e1 is None and e2 is None, (e1, e2)
        assert ga["GrantId"] == gb["GrantId"]
        grants = [g for g in ka.list_grants(KeyId=key1)["Grants"] if g.get("Name") == gname]
        assert [g["GrantId"] for g in grants] == [ga["GrantId"]], grants


def test_policy_change_on_a_is_enforced_on_b(pg_nodes):
    a, b = pg_nodes(2)
    root_a = a.root_user
    name = unique("guarded")
    a.sm().create_secret(Name=name, SecretString="s")
    u = make_user(root_a, policy=allow(["secretsmanager:GetSecretValue", "kms:Decrypt"], "*"))
    usm_b = b.client("secretsmanager", u.access_key, u.secret_key)
    delays = []
    for i in range(6):
        # Allowed on B (B caches the identity).
        _, d = within_bound(lambda: usm_b.get_secret_value(SecretId=name))
        usm_b.get_secret_value(SecretId=name)
        root_a.iam.put_user_policy(UserName=u.name, PolicyName="inline",
                                   PolicyDocument=policy_doc(allow(["secretsmanager:GetSecretValue",
                                                                    "kms:Decrypt"], "*"),
                                                             deny(["secretsmanager:GetSecretValue"], "*")))

        def denied():
            with raises_aws("AccessDeniedException", contains="with an explicit deny"):
                usm_b.get_secret_value(SecretId=name)
        _, d = within_bound(denied)
        delays.append(d)
        root_a.iam.put_user_policy(UserName=u.name, PolicyName="inline",
                                   PolicyDocument=policy_doc(allow(["secretsmanager:GetSecretValue",
                                                                    "kms:Decrypt"], "*")))
    print(f"\npolicy change A -> enforced on B: max {max(delays) * 1000:.1f} ms over {len(delays)}")


def test_secret_writes_on_b_keep_a_policy_change_on_a_seen(pg_nodes):
    """A secret write moves only the secrets' domain of the generation
    (docs/internals/CACHES.md, "Domains"), on the node that wrote and in
    the notification the others get.  B caches a user's identity and a KMS
    key and keeps writing the secret; a change on A of the user's policy,
    then of the key policy, is still enforced on B within the bound, with
    B's own secret writes in between."""
    a, b = pg_nodes(2)
    root_a = a.root_user
    key = a.kms().create_key()["KeyMetadata"]
    opened = a.kms().get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
    acts = ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
            "kms:Decrypt", "kms:GenerateDataKey"]
    u = make_user(root_a, policy=allow(acts, "*"))
    keeper = make_user(root_a)
    closed = policy_doc({"Effect": "Allow", "Principal": {"AWS": keeper.arn}, "Action": "kms:*",
                         "Resource": "*"})
    arn = a.sm().create_secret(Name=unique("domains"), SecretString="v0", KmsKeyId=key["KeyId"])["ARN"]
    usm_b = b.client("secretsmanager", u.access_key, u.secret_key)
    denied_msg = (f"User: {u.arn} is not authorized to perform: secretsmanager:GetSecretValue "
                  f"on resource: {arn} with an explicit deny in an identity-based policy")
    for i in range(4):
        within_bound(lambda: usm_b.put_secret_value(SecretId=arn, SecretString=f"a{i}"))
        usm_b.get_secret_value(SecretId=arn)                     # B caches u and the key
        root_a.iam.put_user_policy(UserName=u.name, PolicyName="inline",
                                   PolicyDocument=policy_doc(allow(acts, "*"),
                                                             deny(["secretsmanager:GetSecretValue"], "*")))

        def denied():
            usm_b.put_secret_value(SecretId=arn, SecretString=f"b{i}")     # B's own secret write
            with raises_aws("AccessDeniedException", denied_msg):
                usm_b.get_secret_value(SecretId=arn)
        within_bound(denied)
        root_a.iam.put_user_policy(UserName=u.name, PolicyName="inline", PolicyDocument=policy_doc(allow(acts, "*")))
        within_bound(lambda: usm_b.get_secret_value(SecretId=arn))
        a.kms().put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=closed,
                               BypassPolicyLockoutSafetyCheck=True)

        def kms_closed():
            with raises_aws("AccessDeniedException", "Access to KMS is not allowed"):
                usm_b.get_secret_value(SecretId=arn)
        within_bound(kms_closed)
        a.client("kms", keeper.access_key, keeper.secret_key).put_key_policy(
            KeyId=key["KeyId"], PolicyName="default", Policy=opened, BypassPolicyLockoutSafetyCheck=True)


def test_tag_change_on_a_is_enforced_on_b_between_its_writes(pg_nodes):
    """A secret's tags are cached under their own domain (SECRET_TAGS,
    docs/internals/CACHES.md "Domains"), which a new version does not
    move, so that a PutSecretValue's authorization reads them from the
    cache.  A tag change must still move it: on the node that made it at
    once, and on the other within the bound.  A user may write the secret
    only while it is tagged env=dev; B keeps writing it (its tags cached
    across its own writes); A untags it: B's next write is denied (exact
    message) within the bound; A tags it again: allowed again.  Then the
    same on A alone, with no wait."""
    a, b = pg_nodes(2)
    root_a = a.root_user
    arn = a.sm().create_secret(Name=unique("tagged"), SecretString="v0",
                               Tags=[{"Key": "env", "Value": "dev"}])["ARN"]
    pol = {"Effect": "Allow", "Action": ["secretsmanager:PutSecretValue", "kms:GenerateDataKey",
                                         "kms:Decrypt"], "Resource": "*",
           "Condition": {"StringEquals": {"secretsmanager:ResourceTag/env": "dev"}}}
    kms_ok = {"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*"}
    u = make_user(root_a, policy=policy_doc(pol, kms_ok))
    usm_a = a.client("secretsmanager", u.access_key, u.secret_key)
    usm_b = b.client("secretsmanager", u.access_key, u.secret_key)
    msg = denied_msg(u.arn, "secretsmanager:PutSecretValue", arn)
    delays = []
    for i in range(4):
        within_bound(lambda: usm_b.put_secret_value(SecretId=arn, SecretString=f"a{i}"))
        usm_b.put_secret_value(SecretId=arn, SecretString=f"b{i}")       # tags cached on B
        a.sm().untag_resource(SecretId=arn, TagKeys=["env"])

        def denied():
            with raises_aws("AccessDeniedException", msg):
                usm_b.put_secret_value(SecretId=arn, SecretString=f"c{i}")
        _, d = within_bound(denied)
        delays.append(d)
        a.sm().tag_resource(SecretId=arn, Tags=[{"Key": "env", "Value": "dev"}])
    print(f"\ntag change A -> enforced on B: max {max(delays) * 1000:.1f} ms over {len(delays)}")

    # On the node that made the change: at once, between its own writes.
    for i in range(3):
        usm_a.put_secret_value(SecretId=arn, SecretString=f"d{i}")
        usm_a.put_secret_value(SecretId=arn, SecretString=f"e{i}")
        a.sm().tag_resource(SecretId=arn, Tags=[{"Key": "env", "Value": "prod"}])
        with raises_aws("AccessDeniedException", msg):
            usm_a.put_secret_value(SecretId=arn, SecretString=f"f{i}")
        a.sm().tag_resource(SecretId=arn, Tags=[{"Key": "env", "Value": "dev"}])
    cur = a.sm().get_secret_value(SecretId=arn)
    assert cur["SecretString"] == "e2"
    prev = a.sm().get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")
    assert prev["SecretString"] == "d2"


def test_propagation_delay(pg_nodes):
    """Many writes on A; after each, B is asked until it serves the new
    value.  B has the secret cached before each write (it just read it), so
    what is measured is how long B's cache keeps the old value."""
    a, b = pg_nodes(2)
    sa, sb = a.sm(), b.sm()
    name = unique("prop")
    sa.create_secret(Name=name, SecretString="v-init")
    within_bound(lambda: sb.get_secret_value(SecretId=name))
    n = 200
    delays = []
    stale_reads = 0
    for i in range(n):
        sb.get_secret_value(SecretId=name)          # cached on B
        sa.put_secret_value(SecretId=name, SecretString=f"v{i}")
        t0 = time.monotonic()
        while True:
            got = sb.get_secret_value(SecretId=name)["SecretString"]
            if got == f"v{i}":
                break
            stale_reads += 1
            assert time.monotonic() - t0 < BOUND + SLACK, f"B still serves {got!r}, not v{i}"
        delays.append(time.monotonic() - t0)
    delays.sort()
    p50 = statistics.median(delays)
    p99 = delays[int(len(delays) * 0.99) - 1]
    print(f"\npropagation A -> B over {n} writes (includes one GetSecretValue on B): "
          f"p50 {p50 * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms, max {delays[-1] * 1000:.2f} ms; "
          f"stale reads {stale_reads}")
    assert delays[-1] < BOUND + SLACK


def test_maintenance_on_both_nodes_at_once_runs_once(pg_nodes):
    """Keys due for rotation, keys and secrets due for deletion, and both
    nodes started at once with the clock moved past every date: each node
    runs the maintenance pass as it starts; every rotation and deletion is
    done exactly once between them (one rotation per key, one log line per
    item over both logs)."""
    a, b = pg_nodes(2)
    ka, sa = a.kms(), a.sm()
    rotating = []
    for _ in range(40):
        kid = ka.create_key()["KeyMetadata"]["KeyId"]
        a.call("EnableKeyRotation", KeyId=kid, RotationPeriodInDays=90)    # not in boto3 1.26
        rotating.append(kid)
    doomed = []
    for _ in range(5):
        kid = ka.create_key()["KeyMetadata"]["KeyId"]
        ka.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
        doomed.append(kid)
    secrets = []
    for i in range(5):
        name = unique(f"purge{i}")
        sa.create_secret(Name=name, SecretString="x")
        sa.delete_secret(SecretId=name, RecoveryWindowInDays=7)
        secrets.append(name)
    a.stop_clean()
    b.stop_clean()
    shifted = {"TRESOR_CLOCK_OFFSET": str(91 * 86400)}
    errors = []
    # The nodes' write lock (postgres.c LOCK_WRITE) held a moment by a
    # session of the test, so that both nodes have listed what is due and
    # wait on their first item together: a real race, every time.
    holder = subprocess.Popen([psql_bin(), "-X", "-q", "-d", a.store_url, "-c",
                               f"SELECT pg_advisory_lock({LOCK_WRITE}); SELECT pg_sleep(2)"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)

    def start(n):
        try:
            n.start(env_extra=shifted)
        except BaseException as e:      # reported below, not lost in the thread
            errors.append(e)
    threads = [threading.Thread(target=start, args=(n,)) for n in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    holder.wait(30)
    assert not errors, errors
    kb, sb = b.kms(), b.sm()
    for kid in rotating:
        for n in (a, b):
            rots = n.call("ListKeyRotations", KeyId=kid)["Rotations"]
            assert len(rots) == 1 and rots[0]["RotationType"] == "AUTOMATIC", rots
    for kid in doomed:
        with raises_aws("NotFoundException"):
            kb.describe_key(KeyId=kid)
    for name in secrets:
        with raises_aws("ResourceNotFoundException"):
            sb.describe_secret(SecretId=name)
    la, lb = a.stderr_text().decode(), b.stderr_text().decode()
    logs = la + lb
    done_a, done_b = la.count(" maintenance: "), lb.count(" maintenance: ")
    print(f"\nmaintenance items done: node a {done_a}, node b {done_b}")
    for kid in rotating:
        assert logs.count(f"kms maintenance: rotated key arn:aws:kms:{REGION}:{ACCOUNT}:key/{kid}\n") == 1
    for kid in doomed:
        assert logs.count(f"kms maintenance: deleted key arn:aws:kms:{REGION}:{ACCOUNT}:key/{kid}\n") == 1
    for name in secrets:
        assert logs.count(f":secret:{name}-") == 1, name
    assert "maintenance failed" not in logs and "maintenance: key" not in logs, logs[-3000:]


# A rotation function that appends each step it is run for to a log shared
# by both nodes (one write of one short line with O_APPEND: whole lines,
# whichever node ran it), then runs the template's step.
STEP_LOGGER = """#!/usr/bin/python3
import json, os, subprocess, sys
event = sys.stdin.buffer.read()
e = json.loads(event)
line = ("%s %s %s\\n" % (e["Step"], e["SecretId"], e["ClientRequestToken"])).encode()
fd = os.open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "steps.log"),
             os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
os.write(fd, line)
os.close(fd)
sys.exit(subprocess.run([TEMPLATE], input=event).returncode)
"""


def test_scheduled_rotation_on_both_nodes_at_once_runs_once(pg_nodes, tmp_path):
    """Secrets with a rotation schedule, and both nodes started at once
    with the same hooks directory and the clock moved past their next
    rotation (the write lock held a moment, as above, so that both have
    listed the due rotations before either takes one): each secret is
    rotated exactly once between the two nodes -- each of the four steps
    run once for it, with one token; one new AWSCURRENT, the old value
    AWSPREVIOUS, no other version; one "scheduled" line over both logs."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    args = ["--rotation-hooks", str(hooks), "--rotation-timeout", "30"]
    a, b = pg_nodes(2, args=args)
    sa = a.sm()
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    role = make_role(a.root_user, unique("rotator"), trust=trust,
                     policy=allow(["secretsmanager:*", "kms:Decrypt", "kms:GenerateDataKey"]))
    fn_name = unique("steps")
    template = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hooks", "template_rotation.py")
    (hooks / fn_name).write_text(STEP_LOGGER.replace("TEMPLATE", repr(template)))
    (hooks / fn_name).chmod(0o755)
    (hooks / f"{fn_name}.role").write_text(role["Arn"] + "\n")
    fn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{fn_name}"
    secrets = {}                # ARN -> (first version, first value)
    for i in range(6):
        s = sa.create_secret(Name=unique(f"sched{i}"), SecretString=f"first-{i}")
        sa.rotate_secret(SecretId=s["ARN"], RotationLambdaARN=fn, RotateImmediately=False,
                         RotationRules={"AutomaticallyAfterDays": 2})
        secrets[s["ARN"]] = (s["VersionId"], f"first-{i}")
    assert not (hooks / "steps.log").exists()          # nothing ran yet
    a.stop_clean()
    b.stop_clean()
    shifted = {"TRESOR_CLOCK_OFFSET": str(3 * 86400)}
    errors = []
    holder = subprocess.Popen([psql_bin(), "-X", "-q", "-d", a.store_url, "-c",
                               f"SELECT pg_advisory_lock({LOCK_WRITE}); SELECT pg_sleep(2)"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)

    def start(n):
        try:
            n.start(env_extra=shifted, args=args)
        except BaseException as e:      # reported below, not lost in the thread
            errors.append(e)
    threads = [threading.Thread(target=start, args=(n,)) for n in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    holder.wait(30)
    assert not errors, errors
    sb = b.sm()

    def all_rotated():
        for arn in secrets:
            if "LastRotatedDate" not in sb.describe_secret(SecretId=arn):
                raise AssertionError(f"{arn} not rotated yet")
    within_bound(all_rotated, bound=scaled(180))
    steps = (hooks / "steps.log").read_text().splitlines()
    for arn, (first, value) in secrets.items():
        mine = [line.split(" ") for line in steps if line.split(" ")[1] == arn]
        assert [m[0] for m in mine] == ["createSecret", "setSecret", "testSecret", "finishSecret"], mine
        token = mine[0][2]
        assert all(m[2] == token for m in mine), mine
        for sm in (a.sm(), sb):
            d = sm.describe_secret(SecretId=arn)
            assert d["VersionIdsToStages"] == {token: ["AWSCURRENT"], first: ["AWSPREVIOUS"]}, d
            got = sm.get_secret_value(SecretId=arn)
            assert got["VersionId"] == token and got["SecretString"] not in ("", value)
            assert sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")["SecretString"] == value
    assert len(steps) == 4 * len(secrets), steps
    la, lb = a.stderr_text().decode(), b.stderr_text().decode()
    logs = la + lb
    for arn in secrets:
        assert logs.count(f"rotation of {arn}: scheduled") == 1, arn
        assert logs.count(f"rotation of {arn} done") == 1, arn
    print(f"\nscheduled rotations started: node a {la.count(': scheduled, version ')}, "
          f"node b {lb.count(': scheduled, version ')}")


# The step logger, whose createSecret then waits for a file "gate" next to
# it: a rotation that stays running until the test opens the gate.
GATED = STEP_LOGGER.replace("sys.exit(", """gate = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gate")
while e["Step"] == "createSecret" and not os.path.exists(gate):
    __import__("time").sleep(0.05)
sys.exit(""")


def test_rotate_secret_on_b_while_a_rotates_starts_nothing_on_b(pg_nodes, tmp_path):
    """One rotation of a secret at a time across the nodes (the rotation
    lease in the store): a RotateSecret on node A starts a rotation whose
    createSecret waits; a RotateSecret on node B meanwhile answers
    InvalidRequestException "A previous rotation isn't complete" and
    starts nothing on B -- the step log has A's createSecret only, and B's
    log never names the token.  Once A's rotation is done, a RotateSecret
    on B rotates: each step of each rotation run once."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    args = ["--rotation-hooks", str(hooks), "--rotation-timeout", "30"]
    a, b = pg_nodes(2, args=args)
    sa, sb = a.sm(), b.sm()
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    role = make_role(a.root_user, unique("rotator"), trust=trust,
                     policy=allow(["secretsmanager:*", "kms:Decrypt", "kms:GenerateDataKey"]))
    fn_name = unique("gated")
    template = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hooks", "template_rotation.py")
    (hooks / fn_name).write_text(GATED.replace("TEMPLATE", repr(template)))
    (hooks / fn_name).chmod(0o755)
    (hooks / f"{fn_name}.role").write_text(role["Arn"] + "\n")
    fn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{fn_name}"
    s = sa.create_secret(Name=unique("leased"), SecretString="first")
    arn = s["ARN"]
    log = hooks / "steps.log"

    def steps():
        return [line.split(" ") for line in log.read_text().splitlines()] if log.exists() else []
    token = sa.rotate_secret(SecretId=arn, RotationLambdaARN=fn)["VersionId"]
    within_bound(lambda: steps() == [["createSecret", arn, token]] or _fail(), bound=scaled(60))
    # A runs it (held at createSecret): B answers as for one running there.
    with raises_aws("InvalidRequestException",
                    "A previous rotation isn't complete. That rotation will be reattempted."):
        sb.rotate_secret(SecretId=arn)
    assert sb.describe_secret(SecretId=arn)["VersionIdsToStages"][token] == ["AWSPENDING"]
    (hooks / "gate").write_text("")

    def done(sm, version):
        if sm.describe_secret(SecretId=arn)["VersionIdsToStages"].get(version) != ["AWSCURRENT"]:
            raise AssertionError(f"{version} not AWSCURRENT yet")
    within_bound(lambda: done(sb, token), bound=scaled(60))
    # Done on A: now B rotates.  B's rotations of the secret run one after
    # another in B's process, so when this one is done, any rotation B had
    # started before has run its createSecret too.
    token2 = sb.rotate_secret(SecretId=arn)["VersionId"]
    within_bound(lambda: done(sa, token2), bound=scaled(60))
    within_bound(lambda: f"rotation of {arn} done: version {token2}" in b.stderr_text().decode() or _fail(),
                 bound=scaled(30))
    names = ["createSecret", "setSecret", "testSecret", "finishSecret"]
    assert steps() == [[n, arn, token] for n in names] + [[n, arn, token2] for n in names], steps()
    la, lb = a.stderr_text().decode(), b.stderr_text().decode()
    assert la.count(f"rotation of {arn} done: version {token}") == 1
    assert token not in lb, lb[-3000:]
    d = sa.describe_secret(SecretId=arn)
    assert d["VersionIdsToStages"] == {token2: ["AWSCURRENT"], token: ["AWSPREVIOUS"]}, d


def test_sigkill_a_node_under_load_loses_no_acknowledged_write(pg_nodes):
    """Clients spread their writes over both nodes (each client alternates);
    node A is killed with SIGKILL in the middle.  Every write a client got
    an answer for is on node B afterwards, with its value; B answered every
    request sent to it, before and after; requests to A after the kill
    fail to connect (never a wrong answer)."""
    a, b = pg_nodes(2)
    clients = 4
    per_client = 60
    acked = {}                  # name -> value, for every CreateSecret answered
    lock = threading.Lock()
    b_errors = []
    killed = threading.Event()

    made = [[a.client("secretsmanager"), b.client("secretsmanager")] for _ in range(clients)]

    def client(c):
        nodes = made[c]             # made here: a boto3 session is not for threads
        for i in range(per_client):
            which = (c + i) % 2
            name = f"load-{c}-{i}"
            try:
                nodes[which].create_secret(Name=name, SecretString=f"value-{c}-{i}")
            except ClientError as e:
                if which == 1:
                    b_errors.append((name, err(e)))
                continue
            except Exception:       # A gone: the connection refused or cut
                if which == 1:
                    b_errors.append((name, "no answer from b"))
                continue
            with lock:
                acked[name] = f"value-{c}-{i}"
            if c == 0 and i == per_client // 3:
                killed.set()

    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    assert killed.wait(60)
    a.kill()                    # SIGKILL, mid-load
    for t in threads:
        t.join(120)
    assert not b_errors, b_errors
    sb = b.sm()
    for name, value in acked.items():
        assert sb.get_secret_value(SecretId=name)["SecretString"] == value, name
    # Whatever was written, acknowledged or not, is whole: one version, current.
    names = []
    for page in sb.get_paginator("list_secrets").paginate():
        names += [s["Name"] for s in page["SecretList"] if s["Name"].startswith("load-")]
    assert set(acked) <= set(names)
    for name in set(names) - set(acked):
        vs = sb.list_secret_version_ids(SecretId=name)["Versions"]
        assert [v["VersionStages"] for v in vs] == [["AWSCURRENT"]], (name, vs)
    print(f"\nSIGKILL under load: {len(acked)} writes acknowledged, all on B; "
          f"{len(set(names) - set(acked))} committed without an answer")
    # A restarts and serves the same data.
    a.start()
    assert a.sm().get_secret_value(SecretId=next(iter(acked)))["SecretString"] == acked[next(iter(acked))]


def test_account_credentials_from_the_store(pg_nodes, tmp_path):
    """`tresor account credentials` writes an account's root credentials,
    read from the store and unwrapped with the data dir's root key (how
    pg_nodes gives the second node its credentials file): the first
    account's as the profile tresor, another's as tresor-<ID>; the file is
    0600 and never overwritten; a root key that did not wrap the store, an
    unknown account and a missing --out are refused, and nothing is
    written."""
    a, b = pg_nodes(2)
    assert (b.data_dir / "credentials").stat().st_mode & 0o777 == 0o600
    assert (b.access_key, b.secret_key) == (a.access_key, a.secret_key)
    out = tmp_path / "creds"
    p = a.run_tresor("account", "credentials", "--data-dir", a.data_dir, "--out", out, "--region", "eu-west-1")
    assert p.returncode == 0, p.stderr
    assert p.stderr == f"root credentials of account {ACCOUNT} in {out} (profile tresor)\n"
    assert out.read_text() == (f"[tresor]\naws_access_key_id = {a.access_key}\n"
                               f"aws_secret_access_key = {a.secret_key}\nregion = eu-west-1\n")
    assert out.stat().st_mode & 0o777 == 0o600
    assert a.secret_key not in p.stdout + p.stderr

    again = a.run_tresor("account", "credentials", "--data-dir", a.data_dir, "--out", out)
    assert again.returncode == 1 and "(it is not overwritten)" in again.stderr, again.stderr
    assert "eu-west-1" in out.read_text()

    other = a.create_account("444455556666")
    out2 = tmp_path / "creds2"
    p = b.run_tresor("account", "credentials", "--data-dir", b.data_dir, "--out", out2,
                     "--account-id", "444455556666")
    assert p.returncode == 0, p.stderr
    assert out2.read_text().startswith(f"[tresor-444455556666]\naws_access_key_id = {other.access_key}\n")
    # The credentials work on the other node.
    assert b.client("sts", other.access_key, other.secret_key).get_caller_identity()["Account"] == "444455556666"

    out3 = tmp_path / "creds3"
    p = a.run_tresor("account", "credentials", "--data-dir", a.data_dir, "--out", out3,
                     "--account-id", "999988887777")
    assert p.returncode == 1 and "account 999988887777 has no active root access key" in p.stderr, p.stderr
    p = a.run_tresor("account", "credentials", "--data-dir", a.data_dir)
    assert p.returncode == 2 and "--out FILE is required" in p.stderr, p.stderr
    stranger = tmp_path / "stranger"
    stranger.mkdir(mode=0o700)
    (stranger / "root.key").write_bytes(os.urandom(32))
    (stranger / "root.key").chmod(0o600)
    p = a.run_tresor("account", "credentials", "--data-dir", stranger, "--out", out3)
    assert p.returncode != 0, p.stderr
    assert not out3.exists()
