"""
test_snapshot_orgs.py -- AWS Organizations SCPs and RCPs in snapshots
(docs/SNAPSHOTS.md, "Organizations"; docs/AUTHORIZATION.md 2.10): the
hand-made AWS CLI fixtures of accounts 111111111111 and 222222222222, with
an "Organizations" member added as `aws organizations describe-organization`,
`list-policies-for-target` and `describe-policy` print it, answered by
who-can-decrypt and policy simulate.

Without the member the fixtures' answers are those of test_snapshot.py;
each case checks that a control policy removes exactly the readers AWS's
evaluation logic says it does, and that the explanations name it.
"""
import copy
import json
import os

from test_snapshot import FakeAws
from tresor_e2e import policy_doc, run_tresor_cmd

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "data", "snapshots")
A, B = "111111111111", "222222222222"
ORG = "o-exampleorg1"
ROOT = "r-ab12"
APP_DB = "arn:aws:secretsmanager:us-west-2:111111111111:secret:app/db-AbCdEf"
KEY = "1234abcd-12ab-34cd-56ef-1234567890ab"
FULL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
RCP_FULL = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]}


def fixture(acct):
    return json.load(open(os.path.join(FIXTURES, "aws-cli-%s.json" % acct)))


def policy(pid, name, ptype, doc):
    """A DescribePolicy response."""
    return {"Policy": {"PolicySummary": {
        "Id": pid, "Arn": "arn:aws:organizations::999999999999:policy/%s/%s" % (ORG, pid),
        "Name": name, "Description": "", "Type": ptype, "AwsManaged": pid == "p-FullAWSAccess"},
        "Content": json.dumps(doc)}}


def listing(pols):
    """A ListPoliciesForTarget response naming the DescribePolicy responses pols."""
    return {"Policies": [p["Policy"]["PolicySummary"] for p in pols]}


def org_member(acct, management, scps, rcps=None):
    """The Organizations member: scps and rcps map each level of the path
    root / ou-ab12-<acct> / acct to its DescribePolicy responses."""
    path = [(ROOT, "ROOT"), ("ou-ab12-" + acct[:8], "ORGANIZATIONAL_UNIT"), (acct, "ACCOUNT")]
    targets, pols = [], {}
    for tid, ttype in path:
        lp = {"SERVICE_CONTROL_POLICY": listing(scps.get(tid, []))}
        for p in scps.get(tid, []):
            pols[p["Policy"]["PolicySummary"]["Id"]] = p
        if rcps is not None:
            lp["RESOURCE_CONTROL_POLICY"] = listing(rcps.get(tid, []))
            for p in rcps.get(tid, []):
                pols[p["Policy"]["PolicySummary"]["Id"]] = p
        targets.append({"TargetId": tid, "Type": ttype, "ListPoliciesForTarget": lp})
    return {"DescribeOrganization": {"Organization": {
                "Id": ORG, "MasterAccountId": management, "FeatureSet": "ALL"}},
            "Targets": targets, "Policies": pols}


def full_scps(acct):
    full = policy("p-FullAWSAccess", "FullAWSAccess", "SERVICE_CONTROL_POLICY", FULL)
    return {ROOT: [full], "ou-ab12-" + acct[:8]: [full], acct: [full]}


def full_rcps(acct):
    full = policy("p-RCPFullAWSAccess", "RCPFullAWSAccess", "RESOURCE_CONTROL_POLICY", RCP_FULL)
    return {ROOT: [full], "ou-ab12-" + acct[:8]: [full], acct: [full]}


def write(tmp_path, name, doc):
    p = tmp_path / name
    p.write_text(json.dumps(doc))
    return str(p)


def who(tmp_path, files, secret="app/db"):
    args = ["who-can-decrypt", secret, "--account", A, "--region", "us-west-2", "--format", "json"]
    for f in files:
        args += ["--snapshot", f]
    r = run_tresor_cmd(args, str(tmp_path), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return {p["principal"]: p for p in json.loads(r.stdout)["principals"]}


def simulate(tmp_path, files, principal, action, resource):
    args = ["policy", "simulate", "--principal", principal, "--action", action, "--resource", resource,
            "--region", "us-west-2", "--format", "json"]
    for f in files:
        args += ["--snapshot", f]
    r = run_tresor_cmd(args, str(tmp_path), capture_output=True, text=True, timeout=120)
    assert r.returncode in (0, 1), r.stderr
    return json.loads(r.stdout)


def admit_reader(a):
    """Account A's fixture, its app/db's resource policy and key policy
    admitting account B's role `reader` directly."""
    region = a["Regions"]["us-west-2"]
    region["Secrets"][APP_DB]["GetResourcePolicy"]["ResourcePolicy"] = policy_doc({
        "Sid": "Reader", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:role/reader"},
        "Action": "secretsmanager:GetSecretValue", "Resource": "*"})
    key = region["Keys"][KEY]
    kp = json.loads(key["GetKeyPolicy"]["Policy"])
    kp["Statement"].append({"Sid": "ReaderDecrypt", "Effect": "Allow",
                            "Principal": {"AWS": "arn:aws:iam::222222222222:role/reader"},
                            "Action": "kms:Decrypt", "Resource": "*"})
    key["GetKeyPolicy"]["Policy"] = json.dumps(kp)
    return a


def evidence(p):
    return " | ".join(s.get("evidence", "") for s in p["path"])


BASE = {"arn:aws:iam::111111111111:root", "arn:aws:iam::111111111111:role/ci-deploy",
        "arn:aws:iam::222222222222:user/carol"}


def test_full_access_changes_nothing(tmp_path):
    a, b = fixture(A), fixture(B)
    a["Organizations"] = org_member(A, "999999999999", full_scps(A), full_rcps(A))
    b["Organizations"] = org_member(B, "999999999999", full_scps(B), full_rcps(B))
    got = who(tmp_path, [write(tmp_path, "a.json", a), write(tmp_path, "b.json", b)])
    assert set(got) == BASE
    assert not any(p["conditional"] for p in got.values())


def test_scp_deny_decrypt_removes_readers(tmp_path):
    """An SCP Deny on kms:Decrypt at account A's OU: no principal of A
    (its root user included) decrypts, nor carol through A's role."""
    a, b = fixture(A), fixture(B)
    scps = full_scps(A)
    deny = policy("p-denydecrypt", "DenyDecrypt", "SERVICE_CONTROL_POLICY", {
        "Version": "2012-10-17", "Statement": [
            {"Sid": "NoDecrypt", "Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}]})
    scps["ou-ab12-11111111"].append(deny)
    a["Organizations"] = org_member(A, "999999999999", scps)
    b["Organizations"] = {}
    files = [write(tmp_path, "a.json", a), write(tmp_path, "b.json", b)]
    assert who(tmp_path, files) == {}
    sim = simulate(tmp_path, files, "arn:aws:iam::111111111111:role/ci-deploy", "kms:Decrypt",
                   "arn:aws:kms:us-west-2:111111111111:key/" + KEY)
    assert sim["decision"] == "explicitDeny"
    assert sim["denyType"] == "scp"
    assert "Deny scp p-denydecrypt (DenyDecrypt) at r-ab12/ou-ab12-11111111 #0 (Sid NoDecrypt)" \
        in sim["evidence"]
    assert sim["message"].endswith("is not authorized to perform: kms:Decrypt on resource: "
                                   "arn:aws:kms:us-west-2:111111111111:key/%s with an explicit deny in "
                                   "a service control policy" % KEY), sim


def test_scp_allow_list_spares_the_management_account(tmp_path):
    """B's OU allows only kms:* and sts:* (no secretsmanager:GetSecretValue):
    B's own reader of A's secret is removed; A is the management account,
    so its readers -- and carol, who reads as A's role -- stay."""
    a, b = admit_reader(fixture(A)), fixture(B)
    files = [write(tmp_path, "a0.json", a), write(tmp_path, "b0.json", b)]
    before = who(tmp_path, files)
    assert "arn:aws:iam::222222222222:role/reader" in before
    scps_b = full_scps(B)
    scps_b["ou-ab12-22222222"] = [policy("p-kmsststonly", "KmsAndStsOnly", "SERVICE_CONTROL_POLICY", {
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["kms:*", "sts:*"],
                                                "Resource": "*"}]})]
    a_org = copy.deepcopy(a)
    a_org["Organizations"] = org_member(A, A, {ROOT: [policy("p-none", "AllowNothing",
                                                             "SERVICE_CONTROL_POLICY", {
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:Get*", "Resource": "*"}]})]})
    b["Organizations"] = org_member(B, A, scps_b)
    files = [write(tmp_path, "a.json", a_org), write(tmp_path, "b.json", b)]
    after = who(tmp_path, files)
    assert set(before) - set(after) == {"arn:aws:iam::222222222222:role/reader"}
    assert BASE <= set(after)
    sim = simulate(tmp_path, files, "arn:aws:iam::222222222222:role/reader",
                   "secretsmanager:GetSecretValue", APP_DB)
    assert sim["decision"] == "explicitDeny" and sim["denyType"] == "scp"
    assert sim["message"].endswith("with an explicit deny in a service control policy: denied by SCP: "
                                   "no service control policy at r-ab12/ou-ab12-22222222 allows it"), sim


def test_rcp_limits_secrets_to_the_organization(tmp_path):
    """An RCP on A denies secretsmanager:* to principals outside the
    organization: carol (account B, known to be in no organization) loses
    app/db; A's readers stay.  When B's snapshot does not say whether B is
    in an organization, carol stays, only if the RCP's Deny does not apply."""
    a, b = fixture(A), fixture(B)
    rcps = full_rcps(A)
    rcps[ROOT].append(policy("p-orgonly", "SecretsInOrgOnly", "RESOURCE_CONTROL_POLICY", {
        "Version": "2012-10-17", "Statement": [{
            "Sid": "OrgOnly", "Effect": "Deny", "Principal": "*", "Action": "secretsmanager:*",
            "Resource": "*", "Condition": {"StringNotEqualsIfExists": {"aws:PrincipalOrgID": ORG}}}]}))
    a["Organizations"] = org_member(A, "999999999999", full_scps(A), rcps)
    b_none = copy.deepcopy(b)
    b_none["Organizations"] = {}
    got = who(tmp_path, [write(tmp_path, "a.json", a), write(tmp_path, "b.json", b_none)])
    assert set(got) == BASE
    assert not any(p["conditional"] for p in got.values())
    # carol reads as A's role, a principal of the organization: the RCP
    # does not stop her.  An external principal reading directly does.
    a2 = admit_reader(copy.deepcopy(a))
    no_org = copy.deepcopy(a2)
    del no_org["Organizations"]
    assert "arn:aws:iam::222222222222:role/reader" in who(
        tmp_path, [write(tmp_path, "a3.json", no_org), write(tmp_path, "b3.json", b)])
    got = who(tmp_path, [write(tmp_path, "a2.json", a2), write(tmp_path, "b2.json", b_none)])
    assert "arn:aws:iam::222222222222:role/reader" not in got
    assert BASE <= set(got)
    # B's snapshot silent on its organization: the reader stays, only if
    # the RCP's Deny does not apply.
    got = who(tmp_path, [write(tmp_path, "a2.json", a2), write(tmp_path, "b4.json", b)])
    reader = got["arn:aws:iam::222222222222:role/reader"]
    assert reader["conditional"]
    assert "Deny rcp p-orgonly (SecretsInOrgOnly) at r-ab12 #0 (Sid OrgOnly)" in evidence(reader)


def test_rcp_on_org_paths(tmp_path):
    """aws:PrincipalOrgPaths is the caller's account's path in the
    organization: an RCP on A that denies secretsmanager:* to principals
    outside A's OU removes B's reader (B is in the organization, under
    another OU) and keeps A's own readers."""
    a, b = admit_reader(fixture(A)), fixture(B)
    rcps = full_rcps(A)
    rcps[ROOT].append(policy("p-ouonly", "SecretsInOuOnly", "RESOURCE_CONTROL_POLICY", {
        "Version": "2012-10-17", "Statement": [{
            "Sid": "OuOnly", "Effect": "Deny", "Principal": "*", "Action": "secretsmanager:*",
            "Resource": "*", "Condition": {"ForAllValues:StringNotLike": {
                "aws:PrincipalOrgPaths": ORG + "/" + ROOT + "/ou-ab12-11111111/*"}}}]}))
    a["Organizations"] = org_member(A, "999999999999", full_scps(A), rcps)
    b["Organizations"] = org_member(B, "999999999999", full_scps(B), full_rcps(B))
    files = [write(tmp_path, "a.json", a), write(tmp_path, "b.json", b)]
    got = who(tmp_path, files)
    assert set(got) == BASE, sorted(got)
    assert not any(p["conditional"] for p in got.values())
    sim = simulate(tmp_path, files, "arn:aws:iam::222222222222:role/reader",
                   "secretsmanager:GetSecretValue", APP_DB)
    assert sim["decision"] == "explicitDeny" and sim["denyType"] == "rcp"
    assert "Deny rcp p-ouonly (SecretsInOuOnly) at r-ab12 #0 (Sid OuOnly)" in sim["message"], sim


def test_scp_condition_shown_as_allowed_only_if(tmp_path):
    """An SCP whose Allow holds only until a date (aws:CurrentTime, unknown
    to the analysis): A's readers read only if it holds, and the answer
    names the SCP.  (A condition on aws:SourceIp would deny: Secrets
    Manager's call to KMS has no source IP.)"""
    a, b = fixture(A), fixture(B)
    scps = full_scps(A)
    scps[A] = [policy("p-until2099", "Until2099", "SERVICE_CONTROL_POLICY", {
        "Version": "2012-10-17", "Statement": [{"Sid": "Until", "Effect": "Allow", "Action": "*",
                                                "Resource": "*", "Condition": {
                                                    "DateLessThan": {"aws:CurrentTime": "2099-01-01T00:00:00Z"}}}]})]
    a["Organizations"] = org_member(A, "999999999999", scps)
    got = who(tmp_path, [write(tmp_path, "a.json", a), write(tmp_path, "b.json", b)])
    assert set(got) == BASE
    root = got["arn:aws:iam::111111111111:root"]
    assert root["conditional"]
    assert ("only if the conditions of: scp p-until2099 (Until2099) at r-ab12/ou-ab12-11111111/111111111111 "
            "#0 (Sid Until) hold") in evidence(root)


def test_malformed_member_is_refused(tmp_path):
    a = fixture(A)
    a["Organizations"] = org_member(A, "999999999999", full_scps(A), full_rcps(A))
    del a["Organizations"]["Targets"][1]["ListPoliciesForTarget"]["RESOURCE_CONTROL_POLICY"]
    r = run_tresor_cmd(["who-can-decrypt", "app/db", "--account", A, "--region", "us-west-2",
                        "--snapshot", write(tmp_path, "a.json", a)], str(tmp_path),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert ("a.json: Organizations.Targets: RESOURCE_CONTROL_POLICY is listed at some levels and not "
            "at others") in r.stderr
    r = run_tresor_cmd(["snapshot", "check", str(tmp_path / "a.json")], str(tmp_path),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "RESOURCE_CONTROL_POLICY is listed at some levels" in r.stderr
    a = fixture(A)
    a["Organizations"] = org_member(A, "999999999999", full_scps(A))
    del a["Organizations"]["Policies"]["p-FullAWSAccess"]
    r = run_tresor_cmd(["who-can-decrypt", "app/db", "--account", A, "--region", "us-west-2",
                        "--snapshot", write(tmp_path, "a.json", a)], str(tmp_path),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert "Organizations.Policies.p-FullAWSAccess: the policy's DescribePolicy" in r.stderr


# ---- the collector against a fake Organizations endpoint -------------------

class _FakeOrgAws(FakeAws):
    """Just enough of AWS for `snapshot collect`: an empty account A in
    organization ORG, under ou-ab12-11111111 under the root; `deny` names
    an Organizations operation answered AccessDeniedException."""

    SCP = policy("p-FullAWSAccess", "FullAWSAccess", "SERVICE_CONTROL_POLICY", FULL)
    RCP = policy("p-RCPFullAWSAccess", "RCPFullAWSAccess", "RESOURCE_CONTROL_POLICY", RCP_FULL)
    PARENTS = {A: {"Id": "ou-ab12-11111111", "Type": "ORGANIZATIONAL_UNIT"},
               "ou-ab12-11111111": {"Id": ROOT, "Type": "ROOT"}}

    def __init__(self, deny=None):
        self.deny = deny
        super().__init__(A)

    def reply(self, op, body):
        if op in self.EMPTY:
            return self.empty(op)
        req = json.loads(body or "{}")
        if op == self.deny:
            return 400, {"__type": "AccessDeniedException",
                         "Message": "You don't have permissions to access this resource."}
        if op == "DescribeOrganization":
            return 200, {"Organization": {"Id": ORG, "MasterAccountId": "999999999999", "FeatureSet": "ALL"}}
        if op == "ListParents":
            return 200, {"Parents": [self.PARENTS[req["ChildId"]]]}
        if op == "ListPoliciesForTarget":
            return 200, listing([self.SCP if req["Filter"] == "SERVICE_CONTROL_POLICY" else self.RCP])
        if op == "DescribePolicy":
            return 200, self.SCP if req["PolicyId"] == "p-FullAWSAccess" else self.RCP
        raise KeyError(op)


def test_collect_reads_the_organization(tmp_path):
    """The path from the account up to the root, each level's SCPs and
    RCPs, each policy once; the file answers, the policies in force."""
    fake = _FakeOrgAws()
    snap = fake.collect(tmp_path, "us-west-2")
    org = snap["Organizations"]
    assert org["DescribeOrganization"]["Organization"]["Id"] == ORG
    assert [(t["TargetId"], t["Type"]) for t in org["Targets"]] == [
        (ROOT, "ROOT"), ("ou-ab12-11111111", "ORGANIZATIONAL_UNIT"), (A, "ACCOUNT")]
    for t in org["Targets"]:
        assert set(t["ListPoliciesForTarget"]) == {"SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY"}
    assert sorted(org["Policies"]) == ["p-FullAWSAccess", "p-RCPFullAWSAccess"]
    assert fake.calls.count("DescribePolicy") == 2
    assert snap["Manifest"]["Gaps"] == []
    r = run_tresor_cmd(["snapshot", "check", str(tmp_path / "s.json")], str(tmp_path),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert ("  organizations: o-exampleorg1, a member account, SCPs at 3 level(s), RCPs at 3 level(s)\n"
            in r.stdout), r.stdout
    r = run_tresor_cmd(["snapshot", "check", "--format", "json", str(tmp_path / "s.json")], str(tmp_path),
                       capture_output=True, text=True, timeout=60)
    assert json.loads(r.stdout)[0]["Organization"] == {"Id": ORG, "Management": False, "ScpLevels": 3,
                                                       "RcpLevels": 3}


def test_collect_refused_organizations_is_a_gap(tmp_path):
    """A member account may not read its organization's policies: the
    refusal is a gap, every answer lists it, and no level is recorded."""
    snap = _FakeOrgAws(deny="ListParents").collect(tmp_path, "us-west-2")
    assert snap["Organizations"] == {"DescribeOrganization": {"Organization": {
        "Id": ORG, "MasterAccountId": "999999999999", "FeatureSet": "ALL"}}}
    gaps = snap["Manifest"]["Gaps"]
    assert [(g["Service"], g["Operation"], g["Resource"], g["ErrorCode"]) for g in gaps] == [
        ("organizations", "ListParents", A, "AccessDeniedException")]
    # The fixture's account, with this organization member and gap.
    a = fixture(A)
    a["Organizations"] = snap["Organizations"]
    a["Manifest"]["Gaps"] = gaps
    args = ["who-can-decrypt", "app/db", "--account", A, "--region", "us-west-2", "--format", "json",
            "--snapshot", write(tmp_path, "a.json", a)]
    r = run_tresor_cmd(args, str(tmp_path), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert any("organizations ListParents" in g for g in json.loads(r.stdout)["gaps"])


def answers(tmp_path, files, *args):
    """who-can-decrypt ARGS from files: exit status and standard output."""
    cmd = ["who-can-decrypt", *args, "--account", A, "--region", "us-west-2", "--format", "json"]
    for f in files:
        cmd += ["--snapshot", f]
    r = run_tresor_cmd(cmd, str(tmp_path), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_scp_on_the_encryption_context_and_prepared_snapshots(tmp_path):
    """Both secrets under one key; an SCP denies kms:Decrypt for app/db's
    encryption context only.  --all answers each secret as asking for it
    alone does (the KMS decision kept for a key must not be reused when an
    SCP reads kms:EncryptionContext*), and a prepared snapshot carries the
    Organizations member: the same answers, byte for byte."""
    a, b = fixture(A), fixture(B)
    region = a["Regions"]["us-west-2"]
    key_arn = "arn:aws:kms:us-west-2:111111111111:key/" + KEY
    for page in region["ListSecrets"]:
        for s in page["SecretList"]:
            s["KmsKeyId"] = key_arn
    scps = full_scps(A)
    scps["ou-ab12-11111111"].append(policy("p-nodb", "NoAppDb", "SERVICE_CONTROL_POLICY", {
        "Version": "2012-10-17", "Statement": [{
            "Sid": "NoAppDb", "Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*",
            "Condition": {"StringLike": {"kms:EncryptionContext:SecretARN": "*:secret:app/db-*"}}}]}))
    a["Organizations"] = org_member(A, "999999999999", scps)
    files = [write(tmp_path, "a.json", a), write(tmp_path, "b.json", b)]
    each = {s: json.loads(answers(tmp_path, files, s)) for s in ("app/db", "shared/api-key")}
    assert not any(p["principal"].startswith("arn:aws:iam::111111111111:")
                   for p in each["app/db"]["principals"])
    assert any(p["principal"] == "arn:aws:iam::111111111111:root"
               for p in each["shared/api-key"]["principals"])
    everything = answers(tmp_path, files, "--all")
    for doc in json.loads(everything)["secrets"]:
        name = doc["secret"]["name"]
        assert doc["principals"] == each[name]["principals"], name

    prepared = str(tmp_path / "both.db")
    r = run_tresor_cmd(["snapshot", "prepare", *files, "--out", prepared], str(tmp_path),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    for s in ("app/db", "shared/api-key"):
        assert answers(tmp_path, [prepared], s) == answers(tmp_path, files, s), s
    assert answers(tmp_path, [prepared], "--all") == everything
