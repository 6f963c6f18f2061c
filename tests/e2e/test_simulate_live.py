"""
test_simulate_live.py -- `tresor policy simulate` decides exactly as the
live server (docs/AUTHORIZATION.md 7.1), on generated cases
(tests/differential/cases.py) built for real through the API.

For each case: the caller (a user or a role session of account A or B, or
A's root user, with tags, a boundary, a session policy and session tags),
its identity policies, and the resource (a KMS key with its key policy, a
secret with its resource policy and tags, a role with its trust policy)
are created on one server; the request is made for real with boto3
(kms:Encrypt with an encryption context, kms:DescribeKey,
kms:GetKeyPolicy, secretsmanager:DescribeSecret,
secretsmanager:GetResourcePolicy, sts:AssumeRole); and `tresor policy
simulate` is asked the same question -- half of the sessions by their
real credentials (--access-key-id), the other half by ARN with the
session policy and tags given by hand.  The two must agree on every case:
allowed or not, and an explicit deny where the server reports one.

TRESOR_SIM_LIVE_CASES sets the number of cases (default 150; under a
wrapper such as valgrind, 8); TRESOR_SIM_LIVE_SEED the seed.
"""

import json
import os
import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from tresor_e2e import ACCOUNT, ACCOUNT_B, WRAPPER, Caller, allow, assume_role, make_user

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "differential"))
import cases as gen  # noqa: E402

N = int(os.environ.get("TRESOR_SIM_LIVE_CASES") or (8 if WRAPPER else 150))
SEED = int(os.environ.get("TRESOR_SIM_LIVE_SEED") or 17)


class Skip(Exception):
    """The server refused to build the case (a document it refuses)."""


def text(doc, subst):
    s = json.dumps(doc)
    for a, b in subst.items():
        s = s.replace(a, b)
    return s


class World:
    def __init__(self, srv, roots):
        self.srv = srv
        self.roots = roots                      # account -> Caller of its root
        self.harness = {}
        for acct, root in roots.items():
            self.harness[acct] = make_user(root, f"harness-{acct}", policy=allow(["sts:AssumeRole",
                                                                                   "sts:TagSession"]))

    def call(self, fn, *a, **kw):
        try:
            return fn(*a, **kw)
        except ClientError as e:
            raise Skip(f"{fn.__name__}: {e.response['Error']}") from e

    def build(self, case):
        """Create everything the case needs; returns (caller, sim_args, subst)."""
        res, i = case["resource"], case["index"]
        root_a = self.roots[ACCOUNT]
        subst = {}
        # Principals the policies may name must exist (KMS and Secrets
        # Manager check them).
        make_user(root_a, f"x{i}", keys=False)
        self.call(root_a.iam.create_role, RoleName=f"xr{i}",
                  AssumeRolePolicyDocument=json.dumps(gen.doc([{"Effect": "Allow", "Principal": {
                      "AWS": root_a.arn}, "Action": "sts:AssumeRole"}])))
        # The resource first (its real ARN goes into every document).
        if res["type"] == "key":
            meta = self.call(root_a.kms.create_key)["KeyMetadata"]
            subst[res["arn"].rsplit("/", 1)[1]] = meta["KeyId"]
        elif res["type"] == "secret":
            tags = [{"Key": k, "Value": v} for k, v in res.get("tags", {}).items()]
            kw = {"Tags": tags} if tags else {}
            arn = self.call(root_a.client("secretsmanager").create_secret, Name=res["name"],
                            SecretString="v", **kw)["ARN"]
            subst[res["name"] + "-AbCdEf"] = arn.rsplit(":", 1)[1]
        return subst

    def caller(self, case, subst):
        c, i = case["caller"], case["index"]
        croot = self.roots[c["account"]]
        if c["kind"] == "root":
            return croot, None
        bnd_arn = None
        if case["boundary"]:
            bnd_arn = self.call(croot.iam.create_policy, PolicyName=f"b{i}",
                                PolicyDocument=text(case["boundary"], subst))["Policy"]["Arn"]
        tags = [{"Key": k, "Value": v} for k, v in c["tags"].items()]
        if c["kind"] == "user":
            kw = {"UserName": c["name"]}
            if tags:
                kw["Tags"] = tags
            if bnd_arn:
                kw["PermissionsBoundary"] = bnd_arn
            self.call(croot.iam.create_user, **kw)
            for n, d in enumerate(case["identity"]):
                self.call(croot.iam.put_user_policy, UserName=c["name"], PolicyName=f"p{n}",
                          PolicyDocument=text(d, subst))
            k = croot.iam.create_access_key(UserName=c["name"])["AccessKey"]
            return Caller(self.srv, k["AccessKeyId"], k["SecretAccessKey"], arn=c["arn"],
                          account=c["account"]), None
        h = self.harness[c["account"]]
        trust = gen.doc([{"Effect": "Allow", "Principal": {"AWS": h.arn},
                          "Action": ["sts:AssumeRole", "sts:TagSession"]}])
        kw = {"RoleName": c["role"], "AssumeRolePolicyDocument": json.dumps(trust)}
        if tags:
            kw["Tags"] = tags
        if bnd_arn:
            kw["PermissionsBoundary"] = bnd_arn
        self.call(croot.iam.create_role, **kw)
        for n, d in enumerate(case["identity"]):
            self.call(croot.iam.put_role_policy, RoleName=c["role"], PolicyName=f"p{n}",
                      PolicyDocument=text(d, subst))
        akw = {}
        if case["session"]:
            akw["Policy"] = text(case["session"], subst)
        if c["session_tags"]:
            akw["Tags"] = [{"Key": k, "Value": v} for k, v in c["session_tags"].items()]
        s = self.call(assume_role, h, c["role_arn"], c["session"], **akw)
        return s, akw

    def resource_policy(self, case, subst):
        res = case["resource"]
        root_a = self.roots[ACCOUNT]
        if not case["resource_policy"]:
            return
        doc = text(case["resource_policy"], subst)
        if res["type"] == "key":
            self.call(root_a.kms.put_key_policy, KeyId=subst[res["arn"].rsplit("/", 1)[1]],
                      PolicyName="default", Policy=doc, BypassPolicyLockoutSafetyCheck=True)
        elif res["type"] == "secret":
            self.call(root_a.client("secretsmanager").put_resource_policy,
                      SecretId=self.real(res["arn"], subst), ResourcePolicy=doc)
        else:
            self.call(root_a.iam.create_role, RoleName=res["name"], AssumeRolePolicyDocument=doc)

    @staticmethod
    def real(s, subst):
        for a, b in subst.items():
            s = s.replace(a, b)
        return s


def live(caller, case, resource):
    """(allowed, explicit) from the real call."""
    a = case["action"]
    try:
        if a == "kms:Encrypt":
            caller.kms.encrypt(KeyId=resource, Plaintext=b"x",
                               EncryptionContext=case.get("encryption_context") or {})
        elif a == "kms:DescribeKey":
            caller.kms.describe_key(KeyId=resource)
        elif a == "kms:GetKeyPolicy":
            caller.kms.get_key_policy(KeyId=resource, PolicyName="default")
        elif a == "secretsmanager:DescribeSecret":
            caller.client("secretsmanager").describe_secret(SecretId=resource)
        elif a == "secretsmanager:GetResourcePolicy":
            caller.client("secretsmanager").get_resource_policy(SecretId=resource)
        else:
            caller.sts.assume_role(RoleArn=resource, RoleSessionName="s-live")
        return True, False
    except ClientError as e:
        err = e.response["Error"]
        assert err["Code"] in ("AccessDeniedException", "AccessDenied", "NotFoundException"), err
        return False, "explicit deny" in (err.get("Message") or "")


def simulate(srv, caller, case, resource, session_kw, by_hand):
    c = case["caller"]
    args = ["policy", "simulate", "--data-dir", srv.data_dir, "--format", "json",
            "--action", case["action"], "--resource", resource, "--source-ip", "127.0.0.1"]
    if by_hand:
        args += ["--principal", c["arn"]]
        if session_kw.get("Policy"):
            args += ["--session-policy", session_kw["Policy"]]
        for t in session_kw.get("Tags", []):
            args += ["--session-tag", f"{t['Key']}={t['Value']}"]
    else:
        args += ["--access-key-id", caller.access_key]
    for k, v in (case.get("encryption_context") or {}).items():
        args += ["--encryption-context", f"{k}={v}"]
    if case["action"] == "sts:AssumeRole":
        args += ["--context", "sts:RoleSessionName=s-live"]
    p = srv.run_tresor(*args)
    assert p.returncode in (0, 1), f"simulate failed ({p.returncode}): {p.stdout}\n{p.stderr}"
    out = json.loads(p.stdout)
    assert (p.returncode == 0) == (out["decision"] == "allowed"), out
    return out


def test_simulate_agrees_with_the_live_server(authz_server, root, account_b):
    world = World(authz_server, {ACCOUNT: root, ACCOUNT_B: account_b})
    cases = gen.generate(SEED, N)
    checked = skipped = by_hand = 0
    why_skipped = {}
    counts = {"allowed": 0, "denied": 0, "explicit": 0}
    disagreements = []
    for case in cases:
        try:
            subst = world.build(case)
            caller, session_kw = world.caller(case, subst)
            world.resource_policy(case, subst)
        except Skip as e:
            skipped += 1
            why = str(e).split("'Message': ")[-1][:80]
            why_skipped[why] = why_skipped.get(why, 0) + 1
            continue
        resource = world.real(case["resource"]["arn"], subst)
        allowed, explicit = live(caller, case, resource)
        hand = case["caller"]["kind"] == "session" and case["index"] % 2 == 0
        by_hand += hand
        out = simulate(authz_server, caller, case, resource, session_kw or {}, hand)
        sim_allowed = out["decision"] == "allowed" and not out["conditional"]
        if sim_allowed != allowed or (explicit and out["decision"] != "explicitDeny"):
            disagreements.append((case["index"], allowed, explicit, out, case))
        checked += 1
        counts["allowed" if allowed else "denied"] += 1
        counts["explicit"] += explicit
    print(f"simulate vs live: {checked} cases ({by_hand} sessions described by hand), "
          f"{skipped} not buildable {why_skipped}, {counts}, {len(disagreements)} disagreements")
    assert not disagreements, "\n".join(
        f"case {i}: live allowed={a} explicit={x}; simulate {json.dumps(o)}\n  {json.dumps(c)}"
        for i, a, x, o, c in disagreements[:5])
    assert checked >= N * 0.8, f"only {checked} of {N} cases could be built ({skipped} refused)"
    # A run this small (8 cases under valgrind) may draw one outcome only.
    assert (counts["allowed"] and counts["denied"] and counts["explicit"]) or N < 50, counts


# ---------------------------------------------------------------------------
# The simulate bugs of issue 13, one by one (each also in the cases above)


def sim(srv, *args):
    p = srv.run_tresor("policy", "simulate", "--data-dir", srv.data_dir, "--format", "json", *args)
    assert p.returncode in (0, 1), f"simulate failed ({p.returncode}): {p.stdout}\n{p.stderr}"
    return json.loads(p.stdout)


def test_simulate_takes_the_secrets_resource_policy_and_account(authz_server, root, account_b):
    sm = root.client("secretsmanager")
    reader = make_user(root, keys=False)
    arn = sm.create_secret(Name=f"sim-rp-{os.urandom(4).hex()}", SecretString="v")["ARN"]
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps(gen.doc([{
        "Effect": "Allow", "Principal": {"AWS": reader.arn}, "Action": "secretsmanager:DescribeSecret",
        "Resource": "*"}])))
    out = sim(authz_server, "--principal", reader.arn, "--action", "secretsmanager:DescribeSecret",
              "--resource", arn)
    assert out["decision"] == "allowed", out
    # A caller of another account whose own IAM allows everything: the
    # secret's account must allow too.
    b = make_user(account_b, policy=allow("secretsmanager:*"))
    out = sim(authz_server, "--principal", b.arn, "--action", "secretsmanager:DescribeSecret",
              "--resource", arn)
    assert out["decision"] == "implicitDeny", out
    assert out["message"] == (f"User: {b.arn} is not authorized to perform: secretsmanager:DescribeSecret "
                              f"on resource: {arn} because no resource-based policy allows the "
                              "secretsmanager:DescribeSecret action"), out
    with pytest.raises(ClientError):
        b.client("secretsmanager").describe_secret(SecretId=arn)


def test_simulate_sets_the_kms_request_keys(authz_server, root, account_b):
    key = root.kms.create_key(Policy=json.dumps(gen.doc([
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": root.arn}, "Action": "kms:*",
         "Resource": "*"},
        {"Sid": "B", "Effect": "Allow", "Principal": {"AWS": ACCOUNT_B}, "Action": "kms:*",
         "Resource": "*", "Condition": {"StringEquals": {"kms:CallerAccount": ACCOUNT_B,
                                                          "kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"},
                                        "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["app", "tier"]},
                                        "Null": {"kms:EncryptionContextKeys": "false"}}}])))["KeyMetadata"]["Arn"]
    b = make_user(account_b, policy=allow("kms:*"))
    args = ["--principal", b.arn, "--action", "kms:Encrypt", "--resource", key, "--source-ip", "127.0.0.1"]
    out = sim(authz_server, *args, "--encryption-context", "app=web", "--encryption-context", "tier=1")
    assert out["decision"] == "allowed", out
    b.kms.encrypt(KeyId=key, Plaintext=b"x", EncryptionContext={"app": "web", "tier": "1"})
    out = sim(authz_server, *args, "--encryption-context", "app=web", "--encryption-context", "zone=1")
    assert out["decision"] == "implicitDeny", out
    # A multi-valued key given by hand: both values count.
    out = sim(authz_server, *args, "--context", "kms:EncryptionContextKeys=app",
              "--context", "kms:EncryptionContextKeys=zone")
    assert out["decision"] == "implicitDeny", out
    out = sim(authz_server, *args, "--context", "kms:EncryptionContextKeys=app",
              "--context", "kms:EncryptionContextKeys=tier")
    assert out["decision"] == "allowed", out
    # An operation KMS keeps in the key's account: denied, as the server's
    # NotFoundException denies it.
    out = sim(authz_server, "--principal", b.arn, "--action", "kms:GetKeyPolicy", "--resource", key)
    assert out["decision"] == "implicitDeny" and "NotFoundException" in out["message"], out
    with pytest.raises(ClientError) as ei:
        b.kms.get_key_policy(KeyId=key, PolicyName="default")
    assert ei.value.response["Error"]["Code"] == "NotFoundException"


def test_simulate_sees_a_sessions_policy_tags_and_issue_time(authz_server, root):
    u = make_user(root, policy=allow(["sts:AssumeRole", "sts:TagSession"]))
    role = root.iam.create_role(RoleName=f"sim-role-{os.urandom(4).hex()}", AssumeRolePolicyDocument=json.dumps(
        gen.doc([{"Effect": "Allow", "Principal": {"AWS": u.arn},
                  "Action": ["sts:AssumeRole", "sts:TagSession"]}])))["Role"]
    root.iam.put_role_policy(RoleName=role["RoleName"], PolicyName="p", PolicyDocument=json.dumps(gen.doc([
        {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*",
         "Condition": {"StringEquals": {"aws:PrincipalTag/team": "red"}, "Null": {"aws:TokenIssueTime": "false"}}},
        {"Effect": "Allow", "Action": "iam:ListRoles", "Resource": "*"}])))
    s = assume_role(u, role["Arn"], "sim-s", Tags=[{"Key": "team", "Value": "red"}],
                    Policy=json.dumps(gen.doc([{"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}])))
    users = f"arn:aws:iam::{ACCOUNT}:user/"
    out = sim(authz_server, "--access-key-id", s.access_key, "--action", "iam:ListUsers", "--resource", users)
    assert out["decision"] == "allowed", out
    s.iam.list_users()
    out = sim(authz_server, "--access-key-id", s.access_key, "--action", "iam:ListRoles", "--resource", users)
    assert out["decision"] == "implicitDeny" and out["denyType"] == "session", out
    with pytest.raises(ClientError):
        s.iam.list_roles()
    # The same session described by hand.
    out = sim(authz_server, "--principal", s.arn, "--session-tag", "team=red", "--action", "iam:ListRoles",
              "--resource", users, "--session-policy", json.dumps(gen.doc([
                  {"Effect": "Allow", "Action": "iam:ListUsers", "Resource": "*"}])))
    assert out["decision"] == "implicitDeny" and out["denyType"] == "session", out
    assert any("session policies given" in a for a in out["assumptions"]), out


def test_simulate_says_what_it_does_not_know(authz_server, root):
    u = make_user(root, keys=False, policy=allow("iam:ListUsers", condition={
        "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    users = f"arn:aws:iam::{ACCOUNT}:user/"
    out = sim(authz_server, "--principal", u.arn, "--action", "iam:ListUsers", "--resource", users)
    assert out["decision"] == "allowed" and out["conditional"] is True, out
    assert any("aws:SourceIp unknown" in a for a in out["assumptions"]), out
    out = sim(authz_server, "--principal", u.arn, "--action", "iam:ListUsers", "--resource", users,
              "--source-ip", "127.0.0.1")
    assert out["decision"] == "implicitDeny" and out["conditional"] is False, out
