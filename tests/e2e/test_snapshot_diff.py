"""
test_snapshot_diff.py -- `tresor snapshot diff OLD NEW` (docs/SNAPSHOTS.md,
"Diff as a gate"): per secret, who gained and who lost the ability to
decrypt, with the statements responsible; exit 1 when anyone gained, 0
otherwise, 2 on error; text, JSON and SARIF 2.1.0.

The live case: an account built in tresor through the API, collected,
changed through the API (a resource policy admits a new role; a user
leaves the group that let it read), collected again, diffed.  The
fixture case: the hand-made AWS CLI fixture against a copy whose key and
resource policies admit another account.
"""
import json
import os

from tresor_e2e import make_role, policy_doc, allow, trust_policy, unique, run_tresor_cmd
from test_snapshot import build, collect, ACCOUNT

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "data", "snapshots")
FIXTURE = os.path.join(FIXTURES, "aws-cli-111111111111.json")
APP_DB = "arn:aws:secretsmanager:us-west-2:111111111111:secret:app/db-AbCdEf"
PARTNER = "999988887777"


def run(tmp_path, *args):
    return run_tresor_cmd(["snapshot", "diff", *[str(a) for a in args]], str(tmp_path),
                          capture_output=True, text=True, timeout=120)


def partner_copy(tmp_path):
    """The fixture with app/db's resource policy and its key's policy
    admitting account PARTNER."""
    a = json.load(open(FIXTURE))
    region = a["Regions"]["us-west-2"]
    region["Secrets"][APP_DB]["GetResourcePolicy"]["ResourcePolicy"] = policy_doc({
        "Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{PARTNER}:root"},
        "Action": "secretsmanager:GetSecretValue", "Resource": "*"})
    key = region["Keys"]["1234abcd-12ab-34cd-56ef-1234567890ab"]
    pol = json.loads(key["GetKeyPolicy"]["Policy"])
    pol["Statement"].append({"Sid": "PartnerDecrypt", "Effect": "Allow",
                             "Principal": {"AWS": f"arn:aws:iam::{PARTNER}:root"},
                             "Action": "kms:Decrypt", "Resource": "*"})
    key["GetKeyPolicy"]["Policy"] = json.dumps(pol)
    out = tmp_path / "partner.json"
    out.write_text(json.dumps(a))
    return out


def check_sarif(doc):
    """The SARIF 2.1.0 structure code-scanning tools read."""
    assert doc["version"] == "2.1.0"
    assert doc["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert isinstance(doc["runs"], list) and len(doc["runs"]) == 1
    run_ = doc["runs"][0]
    driver = run_["tool"]["driver"]
    assert driver["name"] == "tresor"
    rules = {r["id"]: r for r in driver["rules"]}
    assert set(rules) == {"tresor/decrypt-access-gained", "tresor/decrypt-access-lost"}
    for r in rules.values():
        assert r["shortDescription"]["text"] and r["defaultConfiguration"]["level"] in ("error", "note")
    for res in run_["results"]:
        assert res["ruleId"] in rules
        assert res["level"] in ("error", "warning", "note", "none")
        assert isinstance(res["message"]["text"], str) and res["message"]["text"]
        assert len(res["locations"]) == 1
        logical = res["locations"][0]["logicalLocations"]
        assert len(logical) == 1 and logical[0]["kind"] == "resource"
        assert logical[0]["fullyQualifiedName"].startswith("arn:aws:secretsmanager:")
    return run_["results"]


def test_fixture_gain_is_a_failing_gate(tmp_path):
    new = partner_copy(tmp_path)
    p = run(tmp_path, FIXTURE, new)
    assert p.returncode == 1, p.stdout + p.stderr
    assert p.stdout == (
        f"{APP_DB} (changed)\n"
        f"  + gained  account {PARTNER} (not collected): anyone that account allows (direct, allowed only if)\n"
        f"        Allow resource resource-policy:{APP_DB} #0 (Sid Partner); "
        "Allow identity its own account's IAM (not visible: taken to allow) #0\n"
        "        Allow resource key-policy:arn:aws:kms:us-west-2:111111111111:key/"
        "1234abcd-12ab-34cd-56ef-1234567890ab #1 (Sid PartnerDecrypt); "
        "Allow identity its own account's IAM (not visible: taken to allow) #0\n"
        "\n"
        "2 secret(s) compared: 1 principal(s) gained access, 0 lost it\n"), p.stdout
    p = run(tmp_path, FIXTURE, new, "--format", "json")
    assert p.returncode == 1
    doc = json.loads(p.stdout)
    assert (doc["compared"], doc["gained"], doc["lost"]) == (2, 1, 0)
    [d] = doc["secrets"]
    assert d["secret"] == APP_DB and d["name"] == "app/db" and d["state"] == "changed"
    assert d["lost"] == [] and d["changed"] == []
    [g] = d["gained"]
    assert g["principal"] == f"arn:aws:iam::{PARTNER}:root" and g["type"] == "account"
    assert g["conditional"] is True
    assert any("(Sid PartnerDecrypt)" in s for s in g["statements"])
    p = run(tmp_path, FIXTURE, new, "--format", "sarif")
    assert p.returncode == 1
    [res] = check_sarif(json.loads(p.stdout))
    assert res["ruleId"] == "tresor/decrypt-access-gained" and res["level"] == "error"
    assert res["locations"][0]["logicalLocations"][0] == {
        "name": "app/db", "fullyQualifiedName": APP_DB, "kind": "resource"}
    assert res["message"]["text"] == (f"arn:aws:iam::{PARTNER}:root gained the ability to decrypt {APP_DB} "
                                      "(allowed only if its conditions hold)")
    # The other way round: only lost, the gate passes.
    p = run(tmp_path, new, FIXTURE, "--format", "sarif")
    assert p.returncode == 0, p.stdout + p.stderr
    [res] = check_sarif(json.loads(p.stdout))
    assert res["ruleId"] == "tresor/decrypt-access-lost" and res["level"] == "note"
    # Nothing changed.
    p = run(tmp_path, FIXTURE, FIXTURE, "--format", "sarif")
    assert p.returncode == 0 and check_sarif(json.loads(p.stdout)) == []
    p = run(tmp_path, FIXTURE, FIXTURE)
    assert p.returncode == 0 and p.stdout == "2 secret(s) compared: 0 principal(s) gained access, 0 lost it\n"
    # --secret: by name and by ARN; the other secret alone shows nothing.
    for s in ("app/db", APP_DB):
        p = run(tmp_path, FIXTURE, new, "--secret", s, "--format", "json")
        assert p.returncode == 1 and json.loads(p.stdout)["compared"] == 1
    p = run(tmp_path, FIXTURE, new, "--secret", "shared/api-key", "--format", "json")
    assert p.returncode == 0 and json.loads(p.stdout)["secrets"] == []


FIXTURE_B = os.path.join(FIXTURES, "aws-cli-222222222222.json")
CAROL = "arn:aws:iam::222222222222:user/carol"


def test_several_accounts_per_side(tmp_path):
    """--old and --new, one snapshot per account on each side: carol of
    222222222222 reads app/db of 111111111111 through its role ci-deploy
    only when both accounts are on a side; her account's change (she may
    no longer assume the role) and the partner account's admission are
    both seen."""
    b2 = json.load(open(FIXTURE_B))
    carol = b2["GetAccountAuthorizationDetails"]["UserDetailList"][0]   # the CLI's one merged page
    assert carol["Arn"] == CAROL
    carol["UserPolicyList"] = []
    new_b = tmp_path / "b2.json"
    new_b.write_text(json.dumps(b2))
    new_a = partner_copy(tmp_path)
    p = run(tmp_path, "--old", FIXTURE, "--old", FIXTURE_B, "--new", new_a, "--new", new_b,
            "--format", "json")
    assert p.returncode == 1, p.stdout + p.stderr
    doc = json.loads(p.stdout)
    assert doc["old"] == [FIXTURE, FIXTURE_B] and doc["new"] == [str(new_a), str(new_b)]
    assert (doc["compared"], doc["gained"], doc["lost"]) == (2, 1, 1)
    [d] = doc["secrets"]
    assert [g["principal"] for g in d["gained"]] == [f"arn:aws:iam::{PARTNER}:root"]
    [lost] = d["lost"]
    assert lost["principal"] == CAROL and lost["type"] == "user"
    assert any("sts:AssumeRole" in s or "trust:" in s for s in lost["statements"]), lost
    # One file per side with --old/--new is the two-positional form.
    p1 = run(tmp_path, "--old", FIXTURE, "--new", new_a, "--format", "json")
    p2 = run(tmp_path, FIXTURE, new_a, "--format", "json")
    assert p1.returncode == p2.returncode == 1 and p1.stdout == p2.stdout
    # Both sides unchanged: nothing, exit 0.
    p = run(tmp_path, "--old", FIXTURE, "--old", FIXTURE_B, "--new", FIXTURE_B, "--new", FIXTURE)
    assert p.returncode == 0 and p.stdout == "2 secret(s) compared: 0 principal(s) gained access, 0 lost it\n"


def test_usage_and_errors(tmp_path):
    p = run(tmp_path, FIXTURE)
    assert p.returncode == 2 and "snapshot diff: two snapshots, OLD and NEW, are required" in p.stderr
    p = run(tmp_path, FIXTURE, FIXTURE, FIXTURE)
    assert p.returncode == 2 and f"unexpected argument '{FIXTURE}'" in p.stderr
    p = run(tmp_path, FIXTURE, FIXTURE, "--format", "xml")
    assert p.returncode == 2 and "--format must be text, json or sarif, not 'xml'" in p.stderr
    p = run(tmp_path, FIXTURE, tmp_path / "missing.json")
    assert p.returncode == 2 and "cannot open" in p.stderr and p.stdout == ""
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    p = run(tmp_path, bad, FIXTURE)
    assert p.returncode == 2 and "not a snapshot" in p.stderr
    p = run(tmp_path, "--old", FIXTURE)
    assert p.returncode == 2 and "--new is required with --old" in p.stderr
    p = run(tmp_path, "--new", FIXTURE)
    assert p.returncode == 2 and "--old is required with --new" in p.stderr
    p = run(tmp_path, FIXTURE, "--old", FIXTURE, "--new", FIXTURE)
    assert p.returncode == 2 and "give OLD NEW or --old and --new, not both" in p.stderr
    p = run(tmp_path, "--old", FIXTURE, "--old", FIXTURE, "--new", FIXTURE)
    assert p.returncode == 2 and "account 111111111111 is in two snapshots" in p.stderr
    p = run(tmp_path, FIXTURE, FIXTURE, "--secret", "nope")
    assert p.returncode == 2
    assert p.stderr == "tresor snapshot diff: --secret nope: neither snapshot has such a secret\n"


def test_live_change_collected_and_diffed(tresor_factory, tmp_path):
    """Built and changed through the API, collected before and after: a
    role the new resource policy admits gained (with that statement), the
    user who left the group lost the secret it read only through the group
    (with the group policy's statement)."""
    srv = tresor_factory("snap-diff")
    made = build(srv)
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    assert collect(srv, old).returncode == 0
    iam, sm = srv.iam(), srv.sm()
    # A role nobody can assume but the account (its root cannot either).
    reader = make_role(srv.root_user, unique("snap-reader"),
                       trust=trust_policy(f"arn:aws:iam::{ACCOUNT}:root"))
    iam.put_role_policy(RoleName=reader["RoleName"], PolicyName="decrypt",
                        PolicyDocument=policy_doc(allow("kms:Decrypt")))
    sm.put_resource_policy(SecretId=made["s2"], ResourcePolicy=policy_doc({
        "Sid": "NewReader", "Effect": "Allow", "Principal": {"AWS": reader["Arn"]},
        "Action": "secretsmanager:GetSecretValue", "Resource": "*"}))
    iam.remove_user_from_group(GroupName=made["group"], UserName=made["user"].arn.split("/")[-1])
    assert collect(srv, new).returncode == 0
    p = run(tmp_path, old, new, "--format", "json")
    assert p.returncode == 1, p.stdout + p.stderr
    doc = json.loads(p.stdout)
    by = {d["secret"]: d for d in doc["secrets"]}
    gained = {(s, g["principal"]) for s, d in by.items() for g in d["gained"]}
    lost = {(s, g["principal"]) for s, d in by.items() for g in d["lost"]}
    assert (made["s2"], reader["Arn"]) in gained
    [g] = [g for g in by[made["s2"]]["gained"] if g["principal"] == reader["Arn"]]
    assert any("(Sid NewReader)" in s for s in g["statements"]), g
    # s1: the user still reads it through the role s1's policy and grant
    # admit (a path changed, no reader): not a loss.
    assert (made["s2"], made["user"].arn) in lost and (made["s1"], made["user"].arn) not in lost
    [l] = [x for x in by[made["s2"]]["lost"] if x["principal"] == made["user"].arn]
    assert any(made["policy"] in s for s in l["statements"]), l
    assert doc["gained"] == len(gained) and doc["lost"] == len(lost)
    p = run(tmp_path, old, new, "--format", "sarif")
    assert p.returncode == 1
    results = check_sarif(json.loads(p.stdout))
    assert sum(r["ruleId"] == "tresor/decrypt-access-gained" for r in results) == len(gained)
    assert sum(r["ruleId"] == "tresor/decrypt-access-lost" for r in results) == len(lost)
    # Only s1: nobody gained there.
    p = run(tmp_path, old, new, "--secret", made["s1"], "--format", "json")
    assert p.returncode == 0, p.stdout
    assert json.loads(p.stdout)["gained"] == 0
