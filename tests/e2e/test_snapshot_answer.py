"""
test_snapshot_answer.py -- answering from snapshots (docs/SNAPSHOTS.md,
"Answering from a snapshot"): who-can-decrypt, what-can-decrypt with
--snapshot FILE.  The round trip: an account built in tresor through the
API, collected with `tresor snapshot collect` against the running server,
answered from the snapshot -- the JSON answers equal the store's for every
secret and every principal.  And the hand-made AWS CLI-shape fixtures
(tests/data/snapshots, with paging and a cross-account pair) load and
answer.
"""
import concurrent.futures
import json
import os

from tresor_e2e import TresorServer, run_tresor_cmd
from test_snapshot import build, collect, ACCOUNT, REGION
from test_who_can_random import Scenario, THREADS

# The generated scenarios of the agreement test (test_who_can_random.py)
# the round trip builds, collects and answers: TRESOR_SNAPSHOT_SEEDS.
SEEDS = int(os.environ.get("TRESOR_SNAPSHOT_SEEDS", "12"))

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "data", "snapshots")
APP_DB_ARN = "arn:aws:secretsmanager:us-west-2:111111111111:secret:app/db-AbCdEf"


def answer(srv, *args):
    p = srv.run_tresor(*args, timeout=120)
    assert p.returncode == 0, f"{args}:\n{p.stdout[-2000:]}\n{p.stderr}"
    return p.stdout


def by_secret(text):
    doc = json.loads(text)
    return {x["secret"]["arn"]: x for x in doc["secrets"]}


def test_round_trip_equals_the_store(tresor_factory, tmp_path):
    """Every secret's answer, and every principal's what-can-decrypt,
    from the snapshot equals the one from the store (the snapshot's
    answers add "gaps": none here)."""
    srv = tresor_factory("snap-answer")
    made = build(srv)
    out = tmp_path / "snap.json"
    assert collect(srv, out).returncode == 0
    store = by_secret(answer(srv, "who-can-decrypt", "--all", "--account", ACCOUNT, "--region", REGION,
                             "--data-dir", srv.data_dir, "--format", "json"))
    snap = by_secret(answer(srv, "who-can-decrypt", "--all", "--account", ACCOUNT, "--region", REGION,
                            "--snapshot", str(out), "--format", "json"))
    assert set(store) == set(snap) and {made["s1"], made["s2"]} <= set(store)
    for arn in store:
        assert snap[arn].pop("gaps") == []
        assert snap[arn] == store[arn], arn
    readers = {p["principal"] for x in store.values() for p in x["principals"]}
    assert made["role"] in readers and made["user"].arn in readers
    # One secret by name and by ARN, with escalations: the same.
    for sid in (made["s1"], made["s1"].split(":")[-1][:-7]):
        a = json.loads(answer(srv, "who-can-decrypt", sid, "--account", ACCOUNT, "--region", REGION,
                              "--data-dir", srv.data_dir, "--format", "json"))
        b = json.loads(answer(srv, "who-can-decrypt", sid, "--account", ACCOUNT, "--region", REGION,
                              "--snapshot", str(out), "--format", "json"))
        assert b.pop("gaps") == []
        assert a == b
    # what-can-decrypt, for every principal of the account.
    principals = readers | {f"arn:aws:iam::{ACCOUNT}:root"}
    for who in sorted(principals):
        a = answer(srv, "what-can-decrypt", who, "--data-dir", srv.data_dir, "--format", "json")
        b = json.loads(answer(srv, "what-can-decrypt", who, "--snapshot", str(out), "--format", "json"))
        assert b.pop("gaps") == [], who
        assert json.loads(a) == b, who
    # Text: the same table.
    a = answer(srv, "who-can-decrypt", made["s1"], "--data-dir", srv.data_dir)
    b = answer(srv, "who-can-decrypt", made["s1"], "--snapshot", str(out))
    assert a == b


def same_answers(srv, snaps, account):
    """who-can-decrypt --all of account from the store and from the
    snapshots: equal, secret by secret (the snapshots' own "gaps": [])."""
    args = [x for f in snaps for x in ("--snapshot", str(f))]
    store = by_secret(answer(srv, "who-can-decrypt", "--all", "--account", account, "--region", REGION,
                             "--data-dir", srv.data_dir, "--format", "json"))
    snap = by_secret(answer(srv, "who-can-decrypt", "--all", "--account", account, "--region", REGION,
                            *args, "--format", "json"))
    assert set(store) == set(snap), account
    readers = 0
    for arn in store:
        assert snap[arn].pop("gaps") == [], arn
        assert snap[arn] == store[arn], f"{arn}:\nstore {json.dumps(store[arn])[:3000]}\n" \
                                        f"snapshot {json.dumps(snap[arn])[:3000]}"
        readers += len(store[arn]["principals"])
    return len(store), readers


def test_generated_scenarios_round_trip(tmp_path_factory):
    """The agreement test's generated scenarios (users, groups, managed
    and inline policies, boundaries, tags, roles with cross-account trust,
    customer keys with conditions and Deny, grants, the managed key,
    secrets with resource policies), built in tresor through the API in
    accounts A (one per seed) and B, every account collected with `tresor
    snapshot collect`, then answered from all the snapshots together:
    every secret's answer and every principal's what-can-decrypt equal
    the store's."""
    seeds = list(range(1, SEEDS + 1))
    tmp = tmp_path_factory.mktemp("tresor-snap-round")
    srv = TresorServer("snap-round", tmp)
    srv.start(env_extra={"TRESOR_LOG": "quiet"})
    try:
        b = srv.create_account("730000000001")
        made = [(seed, srv.create_account(f"74{seed:010d}")) for seed in seeds]
        scs = [Scenario(seed, a, b) for seed, a in made]
        with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(lambda sc: sc.build(), scs))
        snaps = [tmp / "default.json"]
        p = collect(srv, snaps[0])
        assert p.returncode == 0, p.stderr
        for caller in [b] + [a for _, a in made]:
            snaps.append(tmp / f"{caller.account}.json")
            p = collect(srv, snaps[-1], creds=caller)
            assert p.returncode == 0, p.stderr
        secrets = readers = principals = 0
        args = [x for f in snaps for x in ("--snapshot", str(f))]
        for sc in scs:
            n, r = same_answers(srv, snaps, sc.A)
            assert n == len(sc.secrets)
            secrets += n
            readers += r
            for who in sorted(set(sc.callers) | set(sc.roles)):
                a = answer(srv, "what-can-decrypt", who, "--data-dir", srv.data_dir, "--format", "json")
                s = json.loads(answer(srv, "what-can-decrypt", who, *args, "--format", "json"))
                assert s.pop("gaps") == [], who
                assert json.loads(a) == s, who
                principals += 1
        print(f"\nsnapshot round trip: {len(seeds)} generated scenarios, {secrets} secrets "
              f"({readers} readers listed), {principals} principals' what-can-decrypt: all equal")
        assert secrets >= len(seeds) and readers > 0
    finally:
        srv.close()


def run(tmp_path, *args):
    return run_tresor_cmd([str(a) for a in args], str(tmp_path), capture_output=True, text=True)


def test_hand_made_fixtures_answer(tmp_path):
    """The AWS CLI-shape fixtures: paged responses, a cross-account pair.
    Together, carol of 222222222222 reads app/db through ci-deploy's
    trust; from 111111111111's snapshot alone, her account is "not
    collected" and answers as "anyone that account allows"."""
    a = os.path.join(FIXTURES, "aws-cli-111111111111.json")
    b = os.path.join(FIXTURES, "aws-cli-222222222222.json")
    where = ["--account", "111111111111", "--region", "us-west-2"]
    p = run(tmp_path, "who-can-decrypt", "app/db", *where, "--snapshot", a, "--snapshot", b,
            "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["secret"]["arn"] == "arn:aws:secretsmanager:us-west-2:111111111111:secret:app/db-AbCdEf"
    got = {(x["principal"], x["access"], x["conditional"]) for x in doc["principals"]}
    assert got == {("arn:aws:iam::111111111111:root", "direct", False),
                   ("arn:aws:iam::111111111111:role/ci-deploy", "direct", False),
                   ("arn:aws:iam::222222222222:user/carol", "via-role", False)}
    assert doc["gaps"] == []
    # One account alone: the other is not collected, never guessed.
    p = run(tmp_path, "who-can-decrypt", "app/db", *where, "--snapshot", a, "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    foreign = [x for x in doc["principals"] if x["account"] == "222222222222"]
    assert len(foreign) == 1 and foreign[0]["type"] == "account" and foreign[0]["collected"] is False
    p = run(tmp_path, "who-can-decrypt", "app/db", *where, "--snapshot", a)
    assert "account 222222222222 (not collected): anyone that account allows" in p.stdout
    # what-can-decrypt across the pair.
    p = run(tmp_path, "what-can-decrypt", "arn:aws:iam::222222222222:user/carol", "--snapshot", a,
            "--snapshot", b, "--format", "json")
    assert p.returncode == 0, p.stderr
    assert [s["secret"]["arn"] for s in json.loads(p.stdout)["secrets"]] == [
        "arn:aws:secretsmanager:us-west-2:111111111111:secret:app/db-AbCdEf"]


def test_a_key_no_snapshot_holds_is_named_as_not_collected(tmp_path):
    """shared/api-key is sealed under aws/secretsmanager, whose key the
    fixture does not hold: the answer says the key was not collected, not
    that it no longer exists."""
    a = os.path.join(FIXTURES, "aws-cli-111111111111.json")
    p = run(tmp_path, "who-can-decrypt", "shared/api-key", "--snapshot", a)
    assert p.returncode == 0, p.stderr
    assert "nobody can read it now: its key was not collected (in no snapshot given)" in p.stdout
    assert "no longer exists" not in p.stdout


def test_gaps_are_reported(tmp_path):
    """A key policy the manifest says could not be read: the answer for a
    secret under that key lists the gap (text and JSON), not silence."""
    a = json.load(open(os.path.join(FIXTURES, "aws-cli-111111111111.json")))
    gap_key = "0987dcba-09fe-87dc-65ba-ab0987654321"
    region = a["Regions"]["us-west-2"]
    pages = region["ListSecrets"] if isinstance(region["ListSecrets"], list) else [region["ListSecrets"]]
    entry = next(s for p in pages for s in p["SecretList"] if s["Name"] == "app/db")
    entry["KmsKeyId"] = f"arn:aws:kms:us-west-2:111111111111:key/{gap_key}"
    f = tmp_path / "gap.json"
    f.write_text(json.dumps(a))
    where = ["--account", "111111111111", "--region", "us-west-2", "--snapshot", f]
    p = run(tmp_path, "who-can-decrypt", "app/db", *where, "--format", "json")
    assert p.returncode == 0, p.stderr
    gaps = json.loads(p.stdout)["gaps"]
    assert len(gaps) == 1 and gap_key in gaps[0] and "GetKeyPolicy" in gaps[0], gaps
    p = run(tmp_path, "who-can-decrypt", "app/db", *where)
    assert "GAPS: the snapshot lacks what this answer may depend on" in p.stdout
    assert gap_key in p.stdout.split("GAPS:")[1]
    # what-can-decrypt lists the gaps of the secrets it decided, once.
    who = "arn:aws:iam::111111111111:role/ci-deploy"
    p = run(tmp_path, "what-can-decrypt", who, "--snapshot", f, "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert [s["secret"]["name"] for s in doc["secrets"]] == []
    assert len(doc["gaps"]) == 1 and gap_key in doc["gaps"][0], doc["gaps"]
    p = run(tmp_path, "what-can-decrypt", who, "--snapshot", f)
    assert p.returncode == 0, p.stderr
    assert gap_key in p.stdout.split("GAPS: the snapshot lacks what this answer may depend on")[1]
    # None: an empty list, as who-can-decrypt has.
    p = run(tmp_path, "what-can-decrypt", who, "--snapshot", os.path.join(FIXTURES, "aws-cli-111111111111.json"),
            "--format", "json")
    doc = json.loads(p.stdout)
    assert doc["gaps"] == [] and [s["secret"]["name"] for s in doc["secrets"]] == ["app/db"]


def test_snapshot_usage_errors(tmp_path):
    a = os.path.join(FIXTURES, "aws-cli-111111111111.json")
    p = run(tmp_path, "who-can-decrypt", "app/db", "--snapshot", tmp_path / "none.json")
    assert p.returncode == 2 and "cannot open" in p.stderr
    p = run(tmp_path, "who-can-decrypt", "app/db", "--snapshot", a, "--snapshot", a)
    assert p.returncode == 2
    assert p.stderr.endswith("account 111111111111 is in two snapshots\n"), p.stderr
    p = run(tmp_path, "who-can-decrypt", "nope", "--account", "111111111111", "--region", "us-west-2",
            "--snapshot", a)
    assert p.returncode == 1 and p.stderr == "tresor: nope: no secret nope\n", p.stderr


def test_policy_simulate_from_snapshots(tmp_path):
    """policy simulate --snapshot decides over the snapshots: carol of
    222222222222 may assume ci-deploy of 111111111111 (cross-account trust
    and her own policy), ci-deploy reads app/db; a key whose policy the
    snapshot lacks decides as an implicit deny with the gap in the
    assumptions, never as an allow."""
    a = os.path.join(FIXTURES, "aws-cli-111111111111.json")
    b = os.path.join(FIXTURES, "aws-cli-222222222222.json")
    snaps = ["--snapshot", a, "--snapshot", b, "--region", "us-west-2", "--format", "json"]
    p = run(tmp_path, "policy", "simulate", "--principal", "arn:aws:iam::222222222222:user/carol",
            "--action", "sts:AssumeRole", "--resource", "arn:aws:iam::111111111111:role/ci-deploy", *snaps)
    assert p.returncode == 0, p.stdout + p.stderr
    assert json.loads(p.stdout)["decision"] == "allowed"
    p = run(tmp_path, "policy", "simulate", "--principal", "arn:aws:iam::111111111111:role/ci-deploy",
            "--action", "secretsmanager:GetSecretValue",
            "--resource", "arn:aws:secretsmanager:us-west-2:111111111111:secret:app/db-AbCdEf", *snaps)
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads(p.stdout)
    assert doc["decision"] == "allowed"
    assert doc["evidence"] == "Allow identity arn:aws:iam::111111111111:policy/AppSecretsRead #0"
    gap_key = "arn:aws:kms:us-west-2:111111111111:key/0987dcba-09fe-87dc-65ba-ab0987654321"
    p = run(tmp_path, "policy", "simulate", "--principal", "arn:aws:iam::111111111111:role/ci-deploy",
            "--action", "kms:Decrypt", "--resource", gap_key, *snaps)
    assert p.returncode == 1, p.stdout + p.stderr
    doc = json.loads(p.stdout)
    assert doc["decision"] == "implicitDeny" and p.stderr == ""
    assert [x for x in doc["assumptions"] if x.startswith("gap: ")] == [
        f"gap: kms GetKeyPolicy us-west-2 {gap_key}: AccessDeniedException "
        "(the snapshot lacks it: the decision may be incomplete)"]
    # A principal of no snapshot: not guessed.
    p = run(tmp_path, "policy", "simulate", "--principal", "arn:aws:iam::333333333333:user/eve",
            "--action", "sts:AssumeRole", "--resource", "arn:aws:iam::111111111111:role/ci-deploy", *snaps)
    assert p.returncode == 2, p.stdout + p.stderr


def test_account_and_region_default_to_the_first_snapshot(tmp_path):
    """Without --account and --region, a secret named by name is looked
    up in the first snapshot's account and its first region."""
    a = os.path.join(FIXTURES, "aws-cli-111111111111.json")
    env_region = {k: v for k, v in os.environ.items() if k != "TRESOR_REGION"}
    p = run_tresor_cmd(["who-can-decrypt", "app/db", "--snapshot", a, "--format", "json"], str(tmp_path),
                       capture_output=True, text=True, env=env_region)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["secret"]["arn"] == APP_DB_ARN
    p = run_tresor_cmd(["who-can-decrypt", "app/db", "--snapshot", a, "--region", "us-east-1"], str(tmp_path),
                       capture_output=True, text=True, env=env_region)
    assert p.returncode == 1 and p.stderr == "tresor: app/db: no secret app/db\n", p.stderr
