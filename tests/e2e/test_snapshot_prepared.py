"""
test_snapshot_prepared.py -- prepared snapshots (docs/SNAPSHOTS.md,
"Prepared snapshots"): `tresor snapshot prepare FILE... --out PREPARED`
loads the snapshots once into an SQLite file, and every command that takes
--snapshot answers from it byte for byte as from the JSON files; a
prepared file whose source changed since is refused.
"""
import concurrent.futures
import json
import os
import stat

from tresor_e2e import TresorServer, run_tresor_cmd
from test_snapshot import collect
from test_who_can_random import Scenario, THREADS

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "data", "snapshots")
A = os.path.join(FIXTURES, "aws-cli-111111111111.json")
B = os.path.join(FIXTURES, "aws-cli-222222222222.json")
APP_DB = "arn:aws:secretsmanager:us-west-2:111111111111:secret:app/db-AbCdEf"
CI_DEPLOY = "arn:aws:iam::111111111111:role/ci-deploy"
CAROL = "arn:aws:iam::222222222222:user/carol"
# Generated scenarios (test_who_can_random.py) the round trip builds.
SEEDS = int(os.environ.get("TRESOR_PREPARED_SEEDS", "3"))


def run(cwd, *args):
    return run_tresor_cmd([str(a) for a in args], str(cwd), capture_output=True, text=True)


def prepare(cwd, out, *files):
    p = run(cwd, "snapshot", "prepare", *files, "--out", out)
    assert p.returncode == 0 and p.stdout == "" and p.stderr == "", p.stderr
    return out


def same(cwd, args, json_args, prepared):
    """The command answers the same from the JSON snapshots and from the
    prepared file: exit status, standard output and error, byte for byte."""
    a = run(cwd, *args, *[x for f in json_args for x in ("--snapshot", f)])
    b = run(cwd, *args, "--snapshot", prepared)
    assert (a.returncode, a.stdout, a.stderr) == (b.returncode, b.stdout, b.stderr), args
    return a


def test_prepared_answers_as_the_fixtures_do(tmp_path):
    """The AWS CLI-shape fixtures (paging, a cross-account pair, a gap):
    who-can-decrypt (one secret by name and ARN, --all, --explain,
    --with-key, every format), what-can-decrypt, policy simulate and
    snapshot diff answer byte for byte the same from the prepared file."""
    p = prepare(tmp_path, tmp_path / "both.db", A, B)
    assert stat.S_IMODE(os.stat(p).st_mode) == 0o600
    assert not os.path.exists(str(p) + ".tmp")
    where = ["--account", "111111111111", "--region", "us-west-2"]
    for fmt in ("text", "json", "html"):
        r = same(tmp_path, ["who-can-decrypt", "--all", *where, "--format", fmt], [A, B], p)
        assert r.returncode == 0 and CI_DEPLOY in r.stdout
        for sid in ("app/db", APP_DB, "shared/api-key"):
            r = same(tmp_path, ["who-can-decrypt", sid, *where, "--format", fmt], [A, B], p)
            assert r.returncode == 0, r.stderr
        r = same(tmp_path, ["what-can-decrypt", CAROL, "--format", fmt], [A, B], p)
        assert r.returncode == 0 and APP_DB in r.stdout
    r = same(tmp_path, ["who-can-decrypt", "app/db", *where, "--format", "dot"], [A, B], p)
    assert r.returncode == 0
    r = same(tmp_path, ["who-can-decrypt", "app/db", *where, "--explain", CAROL, "--format", "json"], [A, B], p)
    assert r.returncode == 0
    r = same(tmp_path, ["who-can-decrypt", "app/db", *where, "--with-key", "alias/app", "--diff"], [A, B], p)
    r = same(tmp_path, ["who-can-decrypt", "nope", *where], [A, B], p)
    assert r.returncode == 1 and r.stderr == "tresor: nope: no secret nope\n"
    for who, action, res in ((CAROL, "sts:AssumeRole", CI_DEPLOY),
                             (CI_DEPLOY, "secretsmanager:GetSecretValue", APP_DB),
                             (CI_DEPLOY, "kms:Decrypt",
                              "arn:aws:kms:us-west-2:111111111111:key/0987dcba-09fe-87dc-65ba-ab0987654321")):
        same(tmp_path, ["policy", "simulate", "--principal", who, "--action", action, "--resource", res,
                        "--region", "us-west-2", "--format", "json"], [A, B], p)
    # The gap (a key policy not read) is carried: the answer lists it.
    gapped = json.load(open(A))
    region = gapped["Regions"]["us-west-2"]
    pages = region["ListSecrets"] if isinstance(region["ListSecrets"], list) else [region["ListSecrets"]]
    entry = next(s for pg in pages for s in pg["SecretList"] if s["Name"] == "app/db")
    entry["KmsKeyId"] = "arn:aws:kms:us-west-2:111111111111:key/0987dcba-09fe-87dc-65ba-ab0987654321"
    g = tmp_path / "gap.json"
    g.write_text(json.dumps(gapped))
    pg = prepare(tmp_path, tmp_path / "gap.db", g)
    r = same(tmp_path, ["who-can-decrypt", "app/db", *where, "--format", "json"], [g], pg)
    assert len(json.loads(r.stdout)["gaps"]) == 1
    # snapshot diff: prepared sides, one each way and mixed (the same
    # but for the file names it was given).
    pa = prepare(tmp_path, tmp_path / "a.db", A)
    d1 = run(tmp_path, "snapshot", "diff", A, g, "--format", "json")
    assert d1.returncode == 0 and json.loads(d1.stdout)["lost"] == 3, d1.stdout + d1.stderr
    for old, new in ((pa, pg), (A, pg), (pa, g)):
        d2 = run(tmp_path, "snapshot", "diff", old, new, "--format", "json")
        assert (d1.returncode, d1.stderr) == (d2.returncode, d2.stderr), (old, new)
        j1, j2 = json.loads(d1.stdout), json.loads(d2.stdout)
        assert (j2.pop("old"), j2.pop("new")) == (str(old), str(new))
        del j1["old"], j1["new"]
        assert j1 == j2, (old, new)
    d1 = run(tmp_path, "snapshot", "diff", A, g, "--secret", "app/db")
    d2 = run(tmp_path, "snapshot", "diff", pa, pg, "--secret", "app/db")
    assert d1.returncode == d2.returncode and d1.stdout.replace(A, "OLD").replace(str(g), "NEW") == \
        d2.stdout.replace(str(pa), "OLD").replace(str(pg), "NEW")


def test_stale_prepared_snapshot_is_refused(tmp_path):
    """A source changed since it was prepared: refused (exit 2), saying
    which file; touched but unchanged, or gone: answered from the file."""
    src = tmp_path / "s.json"
    src.write_bytes(open(A, "rb").read())
    p = prepare(tmp_path, tmp_path / "s.db", src)
    args = ["who-can-decrypt", "app/db", "--snapshot", p, "--format", "json"]
    good = run(tmp_path, *args)
    assert good.returncode == 0, good.stderr
    os.utime(src, (1, 1))                                   # touched, the same bytes
    r = run(tmp_path, *args)
    assert (r.returncode, r.stdout) == (0, good.stdout)
    src.write_text(open(A).read().replace("ci-deploy", "ci-deplox"))
    r = run(tmp_path, *args)
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == (f"tresor: snapshot: {p}: stale: {os.path.realpath(src)} has changed since it was "
                        "prepared (run tresor snapshot prepare again)\n"), r.stderr
    for cmd in (["what-can-decrypt", CAROL], ["who-can-decrypt", "--all"],
                ["policy", "simulate", "--principal", CI_DEPLOY, "--action", "kms:Decrypt", "--resource", APP_DB]):
        r = run(tmp_path, *cmd, "--snapshot", p)
        assert r.returncode == 2 and "stale" in r.stderr, (cmd, r.stderr)
    r = run(tmp_path, "snapshot", "diff", p, A)
    assert r.returncode == 2 and "stale" in r.stderr
    # Prepared again: the new answer.
    prepare(tmp_path, p, src)
    r = run(tmp_path, *args)
    assert r.returncode == 0 and "ci-deplox" in r.stdout
    os.unlink(src)                                          # gone: the prepared file stands alone
    r2 = run(tmp_path, *args)
    assert (r2.returncode, r2.stdout) == (0, r.stdout)


def test_prepare_usage_errors(tmp_path):
    p = prepare(tmp_path, tmp_path / "a.db", A)
    r = run(tmp_path, "snapshot", "prepare", A)
    assert r.returncode == 2 and "--out PREPARED is required" in r.stderr
    r = run(tmp_path, "snapshot", "prepare", "--out", tmp_path / "x.db")
    assert r.returncode == 2 and "a snapshot FILE is required" in r.stderr
    r = run(tmp_path, "snapshot", "prepare", p, "--out", tmp_path / "x.db")
    assert r.returncode == 2 and f"{p} is prepared already: give the JSON snapshots" in r.stderr
    r = run(tmp_path, "snapshot", "prepare", tmp_path / "none.json", "--out", tmp_path / "x.db")
    assert r.returncode == 1 and "cannot open" in r.stderr and not os.path.exists(tmp_path / "x.db")
    r = run(tmp_path, "snapshot", "prepare", A, A, "--out", tmp_path / "x.db")
    assert r.returncode == 1 and "account 111111111111 is in two snapshots" in r.stderr
    assert not os.path.exists(tmp_path / "x.db")
    # A prepared file is given alone.
    r = run(tmp_path, "who-can-decrypt", "app/db", "--snapshot", p, "--snapshot", B)
    assert r.returncode == 2 and r.stderr == (
        f"tresor: snapshot: {p} is a prepared snapshot: give it alone (prepare the files together: "
        "tresor snapshot prepare FILE... --out PREPARED)\n")
    r = run(tmp_path, "snapshot", "--help")
    assert r.returncode == 0 and "prepare" in r.stdout
    r = run(tmp_path, "snapshot", "prepare", "--help")
    assert r.returncode == 0 and "--out PREPARED" in r.stdout


def scenarios(tmp, b_account, prefix, seeds):
    """The agreement test's generated scenarios for `seeds`, built through
    the API of a server of their own in accounts A (prefix + the seed, one
    per seed) and B (b_account), every account collected into tmp:
    (the scenarios, the snapshot files)."""
    srv = TresorServer(f"snap-{prefix}", tmp)
    srv.start(env_extra={"TRESOR_LOG": "quiet"})
    try:
        b = srv.create_account(b_account)
        made = [(seed, srv.create_account(f"{prefix}{seed:010d}")) for seed in seeds]
        scs = [Scenario(seed, a, b) for seed, a in made]
        with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(lambda sc: sc.build(), scs))
        snaps = []
        for caller in [b] + [a for _, a in made]:
            snaps.append(tmp / f"{caller.account}.json")
            p = collect(srv, snaps[-1], creds=caller)
            assert p.returncode == 0, p.stderr
    finally:
        srv.close()
    return scs, snaps


def test_generated_scenarios_prepared_round_trip(tmp_path_factory):
    """The agreement test's generated scenarios built through the API in
    accounts A (one per seed) and B, collected, prepared together: every
    account's --all and every principal's what-can-decrypt, byte for byte
    the JSON snapshots' answers."""
    tmp = tmp_path_factory.mktemp("tresor-snap-prepared")
    scs, snaps = scenarios(tmp, "730000000002", "75", range(1, SEEDS + 1))
    p = prepare(tmp, tmp / "all.db", *snaps)
    n = 0
    for sc in scs:
        r = same(tmp, ["who-can-decrypt", "--all", "--account", sc.A, "--region", "us-east-1", "--format", "json"],
                 snaps, p)
        doc = json.loads(r.stdout)
        assert r.returncode == 0 and len(doc["secrets"]) == len(sc.secrets)
        for s in doc["secrets"][:3]:
            same(tmp, ["who-can-decrypt", s["secret"]["arn"], "--format", "json"], snaps, p)
        for who in sorted(set(sc.callers) | set(sc.roles)):
            same(tmp, ["what-can-decrypt", who, "--format", "json"], snaps, p)
            n += 1
    assert n > 0


# Seeds of the lazy test (after the round trip's): TRESOR_PREPARED_LAZY_SEEDS.
LAZY_SEEDS = int(os.environ.get("TRESOR_PREPARED_LAZY_SEEDS", "10"))


def test_one_secret_with_deferred_identities_is_the_full_load(tmp_path_factory):
    """One secret from a prepared file loads only the identities its
    principal facts say the answer needs (docs/SNAPSHOTS.md, "Principal
    facts"); from the JSON snapshots every identity is loaded.  Over
    generated scenarios (identity policies with Deny, NotAction and
    NotResource, groups, boundaries, roles trusting earlier roles, the
    other account and its users, resource and key policies), every
    secret's answer, as JSON and as text, with the escalations, is byte
    for byte the full load's."""
    tmp = tmp_path_factory.mktemp("tresor-snap-lazy")
    scs, snaps = scenarios(tmp, "740000000002", "76", range(SEEDS + 1, SEEDS + 1 + LAZY_SEEDS))
    p = prepare(tmp, tmp / "all.db", *snaps)
    n = readers = 0
    for sc in scs:
        r = run(tmp, "who-can-decrypt", "--all", "--account", sc.A, "--region", "us-east-1", "--format", "json",
                "--snapshot", p)
        assert r.returncode == 0, r.stderr
        for s in json.loads(r.stdout)["secrets"]:
            for fmt in ("text", "json"):
                one = same(tmp, ["who-can-decrypt", s["secret"]["arn"], "--format", fmt], snaps, p)
                assert one.returncode == 0, one.stderr
            readers += len(json.loads(one.stdout)["principals"])
            n += 1
    assert n >= LAZY_SEEDS and readers > n


def many_secrets(path, n=61):
    """The 111111111111 fixture with n more secrets: under either key or
    none, some with a resource policy naming an account no snapshot holds
    (a different one every few secrets, so workers meet them in another
    order than one process does), some without their GetResourcePolicy (a
    gap)."""
    doc = json.load(open(A))
    region = doc["Regions"]["us-west-2"]
    keys = ["arn:aws:kms:us-west-2:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:kms:us-west-2:111111111111:key/0987dcba-09fe-87dc-65ba-ab0987654321", None]
    page = []
    for i in range(n):
        name = f"bulk/s{i:03d}"
        arn = f"arn:aws:secretsmanager:us-west-2:111111111111:secret:{name}-Ab{i:04d}"
        e = {"ARN": arn, "Name": name, "SecretVersionsToStages": {f"v-{i}": ["AWSCURRENT"]},
             "CreatedDate": "2023-08-08T10:11:12.123000-07:00"}
        if keys[i % 3]:
            e["KmsKeyId"] = keys[i % 3]
        page.append(e)
        rp = {"ARN": arn, "Name": name}
        if i % 4 == 1 or i % 3 == 0:
            # Two of five accounts no snapshot holds, in an order that
            # varies: whoever meets them first adds their nodes first.
            named = [f"arn:aws:iam::{444400000000 + (i * 7) % 5}:root",
                     f"arn:aws:iam::{444400000000 + (i * 3 + 1) % 5}:root"]
            rp["ResourcePolicy"] = json.dumps({"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": named if i % 2 else named[::-1]},
                "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})
        if i % 7 != 3:
            region["Secrets"][arn] = {"GetResourcePolicy": rp}
    region["ListSecrets"].append({"SecretList": page})
    # The first key lets those accounts decrypt: they are readers.
    k = region["Keys"]["1234abcd-12ab-34cd-56ef-1234567890ab"]["GetKeyPolicy"]
    pol = json.loads(k["Policy"])
    pol["Statement"].append({"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*", "Principal": {
        "AWS": [f"arn:aws:iam::{444400000000 + j}:root" for j in range(5)]}})
    k["Policy"] = json.dumps(pol)
    path.write_text(json.dumps(doc))
    return path


def test_all_on_workers_is_the_serial_output(tmp_path):
    """--all --threads N (worker processes, batches printed in order): the
    output of one process, byte for byte, in every format, from the JSON
    snapshots and from the prepared file (equally short paths:
    test_equal_paths_choice_is_stable)."""
    m = many_secrets(tmp_path / "many.json")
    p = prepare(tmp_path, tmp_path / "many.db", m, B)
    where = ["--account", "111111111111", "--region", "us-west-2"]
    for fmt in ("json", "text", "html"):
        one = run(tmp_path, "who-can-decrypt", "--all", *where, "--format", fmt, "--snapshot", m,
                  "--snapshot", B, "--threads", "1")
        assert one.returncode == 0 and one.stderr == "", one.stderr
        if fmt == "json":
            doc = json.loads(one.stdout)
            assert len(doc["secrets"]) == 63
            assert any(x["gaps"] for x in doc["secrets"])
            foreign = [[pr["principal"] for pr in x["principals"] if pr["account"].startswith("4444")]
                       for x in doc["secrets"]]
            assert sum(len(f) == 2 for f in foreign) > 10
        for n in ("2", "3", "5"):
            for src in (["--snapshot", m, "--snapshot", B], ["--snapshot", p]):
                r = run(tmp_path, "who-can-decrypt", "--all", *where, "--format", fmt, *src, "--threads", n)
                assert (r.returncode, r.stderr) == (0, ""), r.stderr
                assert r.stdout == one.stdout, (fmt, n, src)
    r = run(tmp_path, "who-can-decrypt", "--all", *where, "--format", "html", "--snapshot", p)   # one per core
    assert (r.returncode, r.stdout) == (0, one.stdout)
    for bad in ("0", "x", "65", "-1"):
        r = run(tmp_path, "who-can-decrypt", "--all", *where, "--snapshot", p, "--threads", bad)
        assert r.returncode == 2 and f"--threads must be a number from 1 to 64, not '{bad}'" in r.stderr


def equal_paths(path, reverse=False):
    """The 111111111111 fixture with user hopper, who may assume roles
    reader-a, reader-b and reader-c; each reads the secrets eq/?<its
    letter> and all three the eq/?x ones -- so hopper reaches an x secret by
    three equally short paths.  reverse: the same account with every list
    in the other order."""
    doc = json.load(open(A))
    acct, page = "111111111111", doc["GetAccountAuthorizationDetails"][-1]
    sm = f"arn:aws:secretsmanager:us-west-2:{acct}:secret:"
    key = f"arn:aws:kms:us-west-2:{acct}:key/1234abcd-12ab-34cd-56ef-1234567890ab"

    def pol(stmts):
        return {"Version": "2012-10-17", "Statement": stmts}
    page["UserDetailList"].append({
        "Path": "/", "UserName": "hopper", "UserId": "AIDAEQUALPATHS000001", "Arn": f"arn:aws:iam::{acct}:user/hopper",
        "CreateDate": "2020-01-01T00:00:00Z", "GroupList": [], "AttachedManagedPolicies": [],
        "UserPolicyList": [{"PolicyName": "hop", "PolicyDocument": pol(
            [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}])}]})
    for i, c in enumerate("abc"):
        page["RoleDetailList"].append({
            "Path": "/", "RoleName": f"reader-{c}", "RoleId": f"AROAEQUALPATHS00000{i}",
            "Arn": f"arn:aws:iam::{acct}:role/reader-{c}", "CreateDate": "2020-01-01T00:00:00Z",
            "AssumeRolePolicyDocument": pol([{"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{acct}:root"},
                                              "Action": "sts:AssumeRole"}]),
            "InstanceProfileList": [], "AttachedManagedPolicies": [], "Tags": [], "RoleLastUsed": {},
            "RolePolicyList": [{"PolicyName": "read", "PolicyDocument": pol([
                {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                 "Resource": [f"{sm}eq/?{c}-*", f"{sm}eq/?x-*"]},
                {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key}])}]})
    region = doc["Regions"]["us-west-2"]
    region["ListSecrets"].append({"SecretList": [
        {"ARN": f"{sm}eq/{n}-AbCdEf", "Name": f"eq/{n}", "KmsKeyId": key,
         "LastChangedDate": "2023-08-08T10:11:12.123000-07:00", "CreatedDate": "2023-08-08T10:11:12.123000-07:00",
         "SecretVersionsToStages": {"a1b2c3d4-5678-90ab-cdef-EXAMPLE33333": ["AWSCURRENT"]}}
        for n in ("0c", "1x", "2b", "3x", "4a", "5x")]})
    if reverse:
        for p in doc["GetAccountAuthorizationDetails"]:
            p["RoleDetailList"].reverse()
            p["UserDetailList"].reverse()
        for p in region["ListSecrets"]:
            p["SecretList"].reverse()
        region["ListSecrets"].reverse()
    path.write_text(json.dumps(doc))
    return path


def test_equal_paths_choice_is_stable(tmp_path):
    """Among equally short paths through roles the one shown follows one
    rule (docs/WHO_CAN_DECRYPT.md, "Which path"), not the answers before
    it: each secret's answer alone is its entry in --all, on one process
    or several, from the JSON, the prepared file and the input in another
    order; and hopper reaches every x secret through reader-c."""
    m = equal_paths(tmp_path / "eq.json")
    rev = equal_paths(tmp_path / "eq-rev.json", reverse=True)
    p = prepare(tmp_path, tmp_path / "eq.db", m)
    where = ["--account", "111111111111", "--region", "us-west-2"]
    one = run(tmp_path, "who-can-decrypt", "--all", *where, "--format", "json", "--snapshot", m)
    assert (one.returncode, one.stderr) == (0, "")
    for src in (m, rev, p):
        for n in ("1", "2", "3"):
            r = run(tmp_path, "who-can-decrypt", "--all", *where, "--format", "json", "--snapshot", src,
                    "--threads", n)
            assert (r.returncode, r.stderr, r.stdout) == (0, "", one.stdout), (src, n)
    via = {}
    for s in json.loads(one.stdout)["secrets"]:
        alone = run(tmp_path, "who-can-decrypt", s["secret"]["arn"], "--format", "json", "--snapshot", m)
        assert alone.returncode == 0, alone.stderr
        assert json.loads(alone.stdout)["principals"] == s["principals"], s["secret"]["name"]
        hop = [x for x in s["principals"] if x["principal"].endswith(":user/hopper")]
        if hop:
            via[s["secret"]["name"]] = hop[0]["path"][0]["role"].rsplit("/", 1)[1]
    assert via == {"eq/0c": "reader-c", "eq/1x": "reader-c", "eq/2b": "reader-b", "eq/3x": "reader-c",
                   "eq/4a": "reader-a", "eq/5x": "reader-c"}, via


def test_prepared_by_another_version_is_refused(tmp_path):
    """A prepared file of another store schema (older or newer), or of
    another prepared format: refused (exit 2), saying so and to prepare it
    again -- not the data dir's advice (start tresor serve on it)."""
    import shutil
    import sqlite3
    p = prepare(tmp_path, tmp_path / "a.db", A)
    good = run(tmp_path, "who-can-decrypt", "app/db", "--snapshot", p)
    assert good.returncode == 0, good.stderr
    db = sqlite3.connect(str(p))
    schema = db.execute("PRAGMA user_version").fetchone()[0]
    db.close()
    for n, v in (("old", schema - 1), ("new", schema + 1)):
        f = tmp_path / f"{n}.db"
        shutil.copy(p, f)
        db = sqlite3.connect(str(f))
        db.execute(f"PRAGMA user_version = {v}")
        db.commit()
        db.close()
        r = run(tmp_path, "who-can-decrypt", "app/db", "--snapshot", f)
        assert (r.returncode, r.stdout) == (2, "")
        assert r.stderr == (f"tresor: snapshot: {f}: prepared by a tresor of another version (store schema "
                            f"version {v}, this build's is {schema}): prepare it again with this one (tresor "
                            "snapshot prepare)\n"), r.stderr
    f = tmp_path / "format.db"
    # 4: the facts as one array of objects, not packed; 3: the same without
    # the roles' trust accounts; 2: the format before the principal facts
    # (docs/SNAPSHOTS.md); 0: none.
    for v in (4, 3, 2, 0):
        shutil.copy(p, f)
        db = sqlite3.connect(str(f))
        (head,) = db.execute("SELECT v FROM tresor_saved_note WHERE k = 'prepared'").fetchone()
        doc = json.loads(head)
        doc["version"] = v
        db.execute("UPDATE tresor_saved_note SET v = ? WHERE k = 'prepared'", (json.dumps(doc),))
        if v == 2:
            db.execute("DELETE FROM tresor_saved_note WHERE k = 'facts'")
        if v in (4, 3):
            (facts,) = db.execute("SELECT v FROM tresor_saved_note WHERE k = 'facts'").fetchone()
            facts = unpack_facts(json.loads(facts))
            if v == 3:
                facts = [{k: x for k, x in e.items() if k != "trust_accounts"} for e in facts]
            db.execute("UPDATE tresor_saved_note SET v = ? WHERE k = 'facts'", (json.dumps(facts),))
        db.commit()
        db.close()
        for cmd in (["who-can-decrypt", "app/db"], ["who-can-decrypt", "--all"], ["what-can-decrypt", CAROL]):
            r = run(tmp_path, *cmd, "--snapshot", f)
            assert (r.returncode, r.stdout) == (2, "")
            assert r.stderr == (f"tresor: snapshot: {f}: prepared by a tresor of another version (prepared format "
                                f"{v}, this build's is 5): prepare it again with this one (tresor snapshot "
                                "prepare)\n"), r.stderr
    # Prepared again: answered.
    prepare(tmp_path, f, A)
    r = run(tmp_path, "who-can-decrypt", "app/db", "--snapshot", f)
    assert (r.returncode, r.stdout) == (0, good.stdout)


def unpack_facts(packed):
    """The facts note of a prepared file (format 5, docs/SNAPSHOTS.md
    "Principal facts") as the array of objects it packs."""
    def front(entries):
        out, prev = [], b""
        for k, rest in entries:
            assert 0 <= k <= len(prev)
            prev = prev[:k] + rest.encode()
            out.append(prev.decode())
        return out
    heads, accounts = front(packed["heads"]), front(packed["accounts"])
    assert heads == sorted(set(heads), key=str.encode) and accounts == sorted(set(accounts))
    facts, prev = [], b""
    for k, rest, esc, assume, gsv, trust in packed["principals"]:
        prev = prev[:k] + rest.encode()
        e = {"arn": prev.decode(), "escalate": esc == 1}
        for key, v, strs in (("assume", assume, heads), ("gsv", gsv, heads), ("trust_accounts", trust, accounts)):
            if v != 0:
                e[key] = v if v == "*" else [strs[i] for i in v]
        facts.append(e)
    return facts


def test_packed_facts_tampered_are_refused(tmp_path):
    """The packed principal facts (prepared format 5) name every user and
    role of the snapshot; a note that does not decode -- an index or a
    front-coding length out of range, an entry of the wrong shape, a trust
    account that is not one -- is refused (exit 2), never answered from."""
    import shutil
    import sqlite3
    p = prepare(tmp_path, tmp_path / "a.db", A)
    db = sqlite3.connect(str(p))
    (text,) = db.execute("SELECT v FROM tresor_saved_note WHERE k = 'facts'").fetchone()
    db.close()
    packed = json.loads(text)
    facts = unpack_facts(packed)
    with open(A) as fh:
        pages = json.load(fh)["GetAccountAuthorizationDetails"]
    listed = {x["Arn"] for page in pages for k in ("UserDetailList", "RoleDetailList") for x in page[k]}
    assert [e["arn"] for e in facts] and {e["arn"] for e in facts} == listed
    assert any("trust_accounts" in e for e in facts) and any("gsv" in e for e in facts)

    def tampered(change):
        d = json.loads(text)
        change(d)
        return d

    n = len(packed["heads"])
    cases = {
        "head index": tampered(lambda d: d["principals"][0].__setitem__(4, [n])),
        "negative index": tampered(lambda d: d["principals"][0].__setitem__(4, [-1])),
        "prefix too long": tampered(lambda d: d["principals"][1].__setitem__(0, 999)),
        "short entry": tampered(lambda d: d["principals"][0].pop()),
        "head entry": tampered(lambda d: d["heads"].__setitem__(0, ["x"])),
        "not an account": tampered(lambda d: d["accounts"].__setitem__(0, [0, "12345"])),
        "no principals": tampered(lambda d: d.pop("principals")),
        "any for trust": tampered(lambda d: [e.__setitem__(5, "*") for e in d["principals"]]),
    }
    for why, doc in cases.items():
        f = tmp_path / "t.db"
        shutil.copy(p, f)
        db = sqlite3.connect(str(f))
        db.execute("UPDATE tresor_saved_note SET v = ? WHERE k = 'facts'", (json.dumps(doc),))
        db.commit()
        db.close()
        r = run(tmp_path, "who-can-decrypt", "app/db", "--snapshot", f)
        assert (r.returncode, r.stdout) == (2, ""), why
        assert r.stderr == f"tresor: snapshot: {f}: its notes are not a prepared snapshot's\n", (why, r.stderr)
