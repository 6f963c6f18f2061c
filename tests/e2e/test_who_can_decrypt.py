"""
test_who_can_decrypt.py -- `tresor who-can-decrypt` agrees with the
server's own enforcement (docs/AUTHORIZATION.md 7, docs/WHO_CAN_DECRYPT.md).

For every scenario the analysis is run on the data dir, then every
principal of the accounts involved tries for real: users and root users
with their access keys, roles through a session obtained by a harness user
that each trust policy admits by ARN (it adds an edge from the harness user
only, so nobody else's answer changes).  Ground truth: the principal reads
the secret itself, or through a chain of real AssumeRole calls.  The
principal must be listed exactly when that ground truth is true.

Scenarios: a hand-written one covering the building blocks of the issue
(managed key, customer key with and without delegation, key-policy, IAM and
grant permissions -- EncryptionContextSubset covering Secrets Manager,
EncryptionContextEquals with only SecretARN not -- explicit deny, resource
policy, group, permissions boundary, an assumable role, a second account).
The random scenarios are in test_who_can_random.py.
"""

import json

import pytest
from botocore.exceptions import ClientError

from tresor_e2e import (ACCOUNT, ACCOUNT_B, Caller, allow, assume_role, deny,
                        make_managed_policy, make_role, make_user, policy_doc, trust_policy,
                        unique)

GSV = "secretsmanager:GetSecretValue"


def who_can(srv, secret_arn, *extra):
    p = srv.run_tresor("who-can-decrypt", secret_arn, "--data-dir", srv.data_dir,
                       "--format", "json", *extra)
    assert p.returncode == 0, f"who-can-decrypt failed:\n{p.stdout}\n{p.stderr}"
    return json.loads(p.stdout)


def session(caller, role):
    cr = caller.sts.assume_role(RoleArn=role, RoleSessionName="verify")["Credentials"]
    return Caller(caller.server, cr["AccessKeyId"], cr["SecretAccessKey"], cr["SessionToken"],
                  arn=role, account=role.split(":")[4])


def reads(caller, secret_arn):
    try:
        caller.client("secretsmanager").get_secret_value(SecretId=secret_arn)
        return True
    except ClientError as e:
        assert e.response["Error"]["Code"] in ("AccessDeniedException", "DecryptionFailure",
                                                "InvalidRequestException"), e
        return False


def can_assume(caller, role):
    try:
        session(caller, role)
        return True
    except ClientError:
        return False


def ground_truth(callers, roles, harness, secrets):
    """{principal arn: set of secret ARNs it reads, itself or via AssumeRole}."""
    sessions = {r: session(harness, r) for r in roles}
    actors = dict(callers)
    actors.update(sessions)
    direct = {arn: {s for s in secrets if reads(c, s)} for arn, c in actors.items()}
    edges = {arn: [r for r in roles if r != arn and not arn.endswith(":root")
                   and can_assume(c, r)] for arn, c in actors.items()}
    truth = {}
    for arn in actors:
        seen, todo, got = {arn}, [arn], set()
        while todo:
            u = todo.pop()
            got |= direct[u]
            for r in edges[u]:
                if r not in seen:
                    seen.add(r)
                    todo.append(r)
        truth[arn] = got
    return truth


def check_agreement(srv, callers, roles, harness, secrets, what=True):
    truth = ground_truth(callers, roles, harness, secrets)
    checked = 0
    for s in secrets:
        out = who_can(srv, s)
        listed = {p["principal"] for p in out["principals"]}
        # "Allowed only if ..." answers depend on the request (source
        # address, time, MFA...): the real call from here decides nothing.
        conditional = {p["principal"] for p in out["principals"] if p["conditional"]}
        for arn in truth:
            if arn in conditional:
                continue
            assert (arn in listed) == (s in truth[arn]), (
                f"{arn} on {s}: analysis says {arn in listed}, the server says "
                f"{s in truth[arn]}\n{json.dumps(out, indent=1)}")
            checked += 1
    # what-can-decrypt: the same answers from the principal's side.
    for arn in truth if what else ():
        p = srv.run_tresor("what-can-decrypt", arn, "--data-dir", srv.data_dir, "--format", "json")
        assert p.returncode == 0, f"what-can-decrypt failed:\n{p.stdout}\n{p.stderr}"
        out = json.loads(p.stdout)
        got = {x["secret"]["arn"] for x in out["secrets"]
               if x["secret"]["arn"] in secrets and not x["conditional"]}
        cond = {x["secret"]["arn"] for x in out["secrets"] if x["conditional"]}
        assert got == truth[arn] - cond, (arn, got, truth[arn])
    return truth, checked


def harness_user(root):
    return make_user(root, unique("harness"), policy=allow("sts:AssumeRole"))


def trust_with(harness, *statements):
    return policy_doc(*statements, {"Effect": "Allow", "Principal": {"AWS": harness.arn},
                                    "Action": "sts:AssumeRole"})


@pytest.fixture(scope="module")
def srv(authz_server):
    return authz_server


def test_hand_written_scenario(srv, root, account_b):
    sm = root.client("secretsmanager")
    b_root = account_b
    kp_user = make_user(root, "wc-keypol", policy=allow(GSV))
    key_policy = policy_doc(
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "KeyPolicyUser", "Effect": "Allow", "Principal": {"AWS": kp_user.arn},
         "Action": "kms:Decrypt", "Resource": "*"},
        {"Sid": "AccountB", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_B}:root"},
         "Action": "kms:Decrypt", "Resource": "*"})
    k1 = root.kms.create_key(Policy=key_policy)["KeyMetadata"]["Arn"]
    # A key without delegation to IAM: the account may manage it, not decrypt.
    k2 = root.kms.create_key(Policy=policy_doc(
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "NotAction": "kms:Decrypt", "Resource": "*"}))["KeyMetadata"]["Arn"]
    s1 = sm.create_secret(Name="wc-s1", SecretString="one", KmsKeyId=k1)["ARN"]
    s2 = sm.create_secret(Name="wc-s2", SecretString="two")["ARN"]            # aws/secretsmanager
    s3 = sm.create_secret(Name="wc-s3", SecretString="three", KmsKeyId=k2)["ARN"]

    harness = harness_user(root)
    users = [kp_user]
    users.append(make_user(root, "wc-gsv-only", policy=allow(GSV)))
    users.append(make_user(root, "wc-iam", policy=[allow(GSV), allow("kms:Decrypt", k1),
                                                   allow("kms:Decrypt", k2)]))
    g_subset = make_user(root, "wc-grant-subset", policy=allow(GSV))
    g_equals = make_user(root, "wc-grant-equals", policy=allow(GSV))
    users += [g_subset, g_equals]
    subset_grant = root.kms.create_grant(
        KeyId=k1, GranteePrincipal=g_subset.arn, Operations=["Decrypt"],
        Constraints={"EncryptionContextSubset": {"SecretARN": s1}})["GrantId"]
    root.kms.create_grant(KeyId=k1, GranteePrincipal=g_equals.arn, Operations=["Decrypt"],
                          Constraints={"EncryptionContextEquals": {"SecretARN": s1}})
    users.append(make_user(root, "wc-denied", policy=[allow(GSV), allow("kms:Decrypt"),
                                                      deny(GSV, s1)]))
    rp_user = make_user(root, "wc-rp", policy=allow("kms:Decrypt"))
    users.append(rp_user)
    root.iam.create_group(GroupName="wc-readers")
    root.iam.put_group_policy(GroupName="wc-readers", PolicyName="read",
                              PolicyDocument=policy_doc(allow(GSV), allow("kms:Decrypt")))
    users.append(make_user(root, "wc-group", groups=["wc-readers"]))
    bound = make_managed_policy(root, allow("kms:*"), name="wc-kms-only")["Arn"]
    users.append(make_user(root, "wc-bounded", policy=[allow(GSV), allow("kms:Decrypt")],
                           boundary=bound))
    role1 = make_role(root, "wc-reader-role", trust=trust_with(
        harness, {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                  "Action": "sts:AssumeRole"}),
        policy=[allow(GSV), allow("kms:Decrypt")])["Arn"]
    users.append(make_user(root, "wc-assumer", policy=allow("sts:AssumeRole", role1)))
    users.append(make_user(root, "wc-no-assume"))
    users.append(make_user(root, "wc-nothing", policy=allow("kms:Decrypt")))
    # Decided by the request's source address: reported, not assumed.
    users.append(make_user(root, "wc-from-vpn", policy=[
        allow(GSV, condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        allow("kms:Decrypt")]))
    sm.put_resource_policy(SecretId=s1, ResourcePolicy=policy_doc(
        {"Effect": "Allow", "Principal": {"AWS": rp_user.arn}, "Action": GSV, "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_B}:root"},
         "Action": GSV, "Resource": "*"}))

    # Account B: its IAM must allow too.
    b_users = [make_user(b_root, "wc-b-reader", policy=[allow(GSV, s1), allow("kms:Decrypt", k1)]),
               make_user(b_root, "wc-b-gsv", policy=allow(GSV, s1)),
               make_user(b_root, "wc-b-none")]

    callers = {u.arn: u for u in users + b_users + [harness]}
    callers[root.arn] = root
    callers[b_root.arn] = b_root
    truth, checked = check_agreement(srv, callers, [role1], harness, [s1, s2, s3])

    # The expected answers, spelled out (the agreement alone could hide a
    # scenario that tests nothing).
    def u(name, acct=ACCOUNT):
        return f"arn:aws:iam::{acct}:user/{name}"
    expect_s1 = {u("wc-keypol"), u("wc-iam"), u("wc-grant-subset"), u("wc-rp"), u("wc-group"),
                 u("wc-assumer"), role1, u("wc-b-reader", ACCOUNT_B), harness.arn,
                 f"arn:aws:iam::{ACCOUNT}:root", f"arn:aws:iam::{ACCOUNT_B}:root"}
    got_s1 = {a for a, s in truth.items() if s1 in s}
    assert got_s1 == expect_s1
    assert not reads(callers[u("wc-from-vpn")], s1)
    assert u("wc-gsv-only") in {a for a, s in truth.items() if s2 in s}
    assert {a for a, s in truth.items() if s3 in s} == set()
    assert checked == 3 * len(truth) - 2     # wc-from-vpn on s1 and s2: conditional

    # Evidence: the paths name what decided.
    out = who_can(srv, s1)
    by = {p["principal"]: p for p in out["principals"]}
    assert by[u("wc-assumer")]["access"] == "via-role"
    assert by[u("wc-assumer")]["path"][0]["role"] == role1
    assert by[u("wc-grant-subset")]["keyPermission"] == "grant"
    kstep = by[u("wc-grant-subset")]["path"][-1]
    assert kstep["grantId"] == subset_grant and f"grant {subset_grant} on {k1}" in kstep["evidence"]
    assert "grantId" not in by[u("wc-keypol")]["path"][-1]
    assert {p["keyPermission"] for p in who_can(srv, s2)["principals"]} == {"managed-key"}
    assert who_can(srv, s3)["principals"] == []
    assert "KeyPolicyUser" in by[u("wc-keypol")]["path"][-1]["evidence"]
    assert out["secret"]["keyArn"] == k1 and out["secret"]["live"] is True
    vpn = by[u("wc-from-vpn")]
    assert vpn["conditional"] is True
    assert "only if the conditions of" in vpn["path"][-2]["evidence"]
    assert all(not by[a]["conditional"] for a in expect_s1)

    # --all: every secret of the account, the same answers as one by one.
    p = srv.run_tresor("who-can-decrypt", "--all", "--data-dir", srv.data_dir, "--format", "json")
    assert p.returncode == 0, p.stderr
    every = {x["secret"]["arn"]: {q["principal"] for q in x["principals"]}
             for x in json.loads(p.stdout)["secrets"]}
    for s in (s1, s2, s3):
        assert every[s] == {q["principal"] for q in who_can(srv, s)["principals"]}
    # ... each written compactly, one a line, byte for byte the one-secret
    # answer (less its "canGainAccess") in jansson's compact form.
    lines = p.stdout.split("\n")
    assert lines[0] == '{"account": "%s", "region": "us-east-1", "secrets": [' % ACCOUNT
    assert lines[-1] == "" and lines[-2].endswith("]}")
    written = {}
    for line in lines[1:-1]:
        text = line[:-2] if line.endswith("]}") else line[:-1] if line.endswith(",") else line
        written[json.loads(text)["secret"]["arn"]] = text
    assert set(written) == set(every)
    for s in (s1, s2, s3):
        one = who_can(srv, s)
        del one["canGainAccess"]
        assert written[s] == json.dumps(one, separators=(",", ":"), ensure_ascii=False)

    # --format dot: the principals, the role on the path, the secret, the key.
    p = srv.run_tresor("who-can-decrypt", s1, "--data-dir", srv.data_dir, "--format", "dot")
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("digraph who_can_decrypt {") and p.stdout.rstrip().endswith("}")
    assert (f'"{u("wc-assumer")}" -> "{role1}" [label="AssumeRole", '
            f'tooltip="Allow resource trust:') in p.stdout
    assert f'"{role1}" -> "{s1}"' in p.stdout
    assert f'"{k1}" [label="key {k1.split("/")[-1][:8]}", tooltip="{k1}", shape=hexagon]' \
        in p.stdout
    assert u("wc-grant-equals") not in p.stdout

    # --explain: a denied principal gets the missing permission.
    p = srv.run_tresor("who-can-decrypt", s1, "--data-dir", srv.data_dir,
                       "--explain", u("wc-grant-equals"))
    assert p.returncode == 0, p.stderr
    assert "cannot decrypt" in p.stdout and "kms:Decrypt" in p.stdout
    assert "is not authorized to perform: kms:Decrypt" in p.stdout
    p = srv.run_tresor("who-can-decrypt", "wc-s1", "--data-dir", srv.data_dir)
    assert p.returncode == 0, p.stderr
    assert "PRINCIPAL" in p.stdout and "via role wc-reader-role" in p.stdout


# Random scenarios: test_who_can_random.py (a few hundred seeds).


def test_key_tags_and_aliases_decide(srv, root):
    """The KMS step's view of the secret's key: its tags (aws:ResourceTag/<k>,
    seen by IAM policies only -- a key policy's statement on them does not
    apply) and its aliases (kms:ResourceAliases); kms:RequestAlias is
    absent, as Secrets Manager's Decrypt names no key.  The analysis and
    real GetSecretValue calls agree, and the answers are the expected ones."""
    sm = root.client("secretsmanager")
    restricted = [{"TagKey": "classification", "TagValue": "restricted"}]
    is_restricted = {"StringEquals": {"aws:ResourceTag/classification": "restricted"}}
    k_tagged = root.kms.create_key(Tags=restricted)["KeyMetadata"]["Arn"]
    k_aliased = root.kms.create_key()["KeyMetadata"]["Arn"]
    prod = unique("alias/prod-wc")
    root.kms.create_alias(AliasName=prod, TargetKeyId=k_aliased)
    k_policy_tag = root.kms.create_key(Tags=restricted, BypassPolicyLockoutSafetyCheck=True,
                                       Policy=policy_doc(
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "NotSeenHere", "Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt",
         "Resource": "*", "Condition": is_restricted}))["KeyMetadata"]["Arn"]
    s_tag = sm.create_secret(Name=unique("wc-tag"), SecretString="t", KmsKeyId=k_tagged)["ARN"]
    s_alias = sm.create_secret(Name=unique("wc-alias"), SecretString="a", KmsKeyId=prod)["ARN"]
    s_kp = sm.create_secret(Name=unique("wc-kp"), SecretString="k", KmsKeyId=k_policy_tag)["ARN"]

    harness = harness_user(root)
    prod_alias = {"ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/prod-wc*"}}
    both = [allow(GSV), allow("kms:Decrypt")]
    u_all = make_user(root, unique("wc-all"), policy=both)
    u_tag_deny = make_user(root, unique("wc-tag-deny"),
                           policy=both + [deny("kms:Decrypt", condition=is_restricted)])
    u_tag_allow = make_user(root, unique("wc-tag-allow"),
                            policy=[allow(GSV), allow("kms:Decrypt", condition=is_restricted)])
    u_alias_deny = make_user(root, unique("wc-alias-deny"),
                             policy=both + [deny("kms:Decrypt", condition=prod_alias)])
    u_alias_allow = make_user(root, unique("wc-alias-allow"),
                              policy=[allow(GSV), allow("kms:Decrypt", condition=prod_alias)])
    u_req_alias = make_user(root, unique("wc-req-alias"), policy=[allow(GSV), allow(
        "kms:Decrypt", condition={"StringEquals": {"kms:RequestAlias": prod}})])
    role = make_role(root, unique("wc-alias-role"), trust=trust_with(harness),
                     policy=[allow(GSV), allow("kms:Decrypt", condition=prod_alias)])["Arn"]
    # The harness user only opens sessions: it could also assume the roles
    # other tests of this module made, which the ground truth does not try.
    users = (u_all, u_tag_deny, u_tag_allow, u_alias_deny, u_alias_allow, u_req_alias)
    callers = {c.arn: c for c in users}
    callers[root.arn] = root
    truth, _ = check_agreement(srv, callers, [role], harness, [s_tag, s_alias, s_kp])

    def readers(s):
        return {a for a, got in truth.items() if s in got}
    assert readers(s_tag) == {root.arn, u_all.arn, u_tag_allow.arn, u_alias_deny.arn}
    assert readers(s_alias) == {root.arn, u_all.arn, u_tag_deny.arn, u_alias_allow.arn, role}
    assert readers(s_kp) == {root.arn, u_all.arn, u_tag_allow.arn, u_alias_deny.arn}


def test_cross_account_writer_keeps_the_owners_key(srv, root, account_b):
    """A writer of account B with an alias of the same name as the secret's
    KmsKeyId: the new version is sealed under the owner's key (the alias is
    the secret's account's), so the owner and its readers keep reading."""
    sm = root.client("secretsmanager")
    alias = unique("alias/wc-app")
    k_a = root.kms.create_key(Policy=policy_doc(
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "AccountB", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT_B}:root"},
         "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": "*"}))["KeyMetadata"]["Arn"]
    root.kms.create_alias(AliasName=alias, TargetKeyId=k_a)
    k_b = account_b.kms.create_key()["KeyMetadata"]["Arn"]
    account_b.kms.create_alias(AliasName=alias, TargetKeyId=k_b)
    s = sm.create_secret(Name=unique("wc-xacct"), SecretString="v1", KmsKeyId=alias)["ARN"]
    writer = make_user(account_b, unique("wc-b-writer"),
                       policy=[allow(["secretsmanager:PutSecretValue", GSV], s), allow("kms:*")])
    sm.put_resource_policy(SecretId=s, ResourcePolicy=policy_doc(
        {"Effect": "Allow", "Principal": {"AWS": writer.arn},
         "Action": ["secretsmanager:PutSecretValue", GSV], "Resource": "*"}))
    reader = make_user(root, unique("wc-a-reader"), policy=[allow(GSV), allow("kms:Decrypt", k_a)])
    writer.client("secretsmanager").put_secret_value(SecretId=s, SecretString="v2 from b")

    harness = harness_user(root)
    callers = {c.arn: c for c in (writer, reader)}
    callers[root.arn] = root
    callers[account_b.arn] = account_b
    truth, _ = check_agreement(srv, callers, [], harness, [s])
    assert who_can(srv, s)["secret"]["keyArn"] == k_a
    assert {a for a, got in truth.items() if s in got} == {root.arn, reader.arn, writer.arn}


def test_with_key_predicts_the_rekeyed_secret(srv, root):
    """--with-key K answers before the secret moves to K; after a real
    UpdateSecret to K the server agrees; --diff lists the change."""
    sm = root.client("secretsmanager")
    harness = harness_user(root)
    k_old = root.kms.create_key()["KeyMetadata"]["Arn"]
    k_new = root.kms.create_key()["KeyMetadata"]["Arn"]
    s = sm.create_secret(Name=unique("wk"), SecretString="v1", KmsKeyId=k_old)["ARN"]
    old_only = make_user(root, unique("wk-old"), policy=[allow(GSV), allow("kms:Decrypt", k_old)])
    new_only = make_user(root, unique("wk-new"), policy=[allow(GSV), allow("kms:Decrypt", k_new)])
    both = make_user(root, unique("wk-both"), policy=[allow(GSV), allow("kms:Decrypt")])
    role = make_role(root, unique("wk-role"), trust=trust_with(harness),
                     policy=[allow(GSV), allow("kms:Decrypt", k_new)])["Arn"]
    callers = {c.arn: c for c in (old_only, new_only, both, harness)}
    callers[root.arn] = root

    predicted = {p["principal"] for p in
                 who_can(srv, s, "--with-key", k_new)["principals"] if not p["conditional"]}
    diff = who_can(srv, s, "--with-key", k_new, "--diff")
    assert old_only.arn in diff["lost"] and new_only.arn in diff["gained"]
    assert role in diff["gained"] and both.arn not in diff["gained"] + diff["lost"]

    sm.update_secret(SecretId=s, KmsKeyId=k_new, SecretString="v2")
    truth = ground_truth(callers, [role], harness, [s])
    assert predicted & set(truth) == {a for a, got in truth.items() if s in got}
    assert who_can(srv, s)["secret"]["keyArn"] == k_new


def test_can_gain_access(srv, root):
    """Principals that cannot read but may change the answer are listed with
    the permission that makes it possible; each permission is real (the
    call succeeds), and the self-granting user then reads for real."""
    sm = root.client("secretsmanager")
    k = root.kms.create_key()["KeyMetadata"]["Arn"]
    s = sm.create_secret(Name=unique("esc"), SecretString="v", KmsKeyId=k)["ARN"]
    reader = make_user(root, unique("esc-reader"), policy=[allow(GSV), allow("kms:Decrypt")])
    rp = make_user(root, unique("esc-rp"), policy=allow("secretsmanager:PutResourcePolicy", s))
    self_user = make_user(root, unique("esc-self"))
    root.iam.put_user_policy(UserName=self_user.name, PolicyName="self",
                             PolicyDocument=policy_doc(allow("iam:PutUserPolicy", self_user.arn)))
    grant = make_user(root, unique("esc-grant"), policy=allow("kms:CreateGrant", k))
    ak = make_user(root, unique("esc-ak"), policy=allow("iam:CreateAccessKey", reader.arn))
    nothing = make_user(root, unique("esc-nothing"))

    out = who_can(srv, s)
    listed = {p["principal"] for p in out["principals"]}
    assert reader.arn in listed and not listed & {rp.arn, self_user.arn, grant.arn, ak.arn}
    esc = {(e["principal"], e["action"], e["resource"]) for e in out["canGainAccess"]}
    assert (rp.arn, "secretsmanager:PutResourcePolicy", s) in esc
    assert (self_user.arn, "iam:PutUserPolicy", self_user.arn) in esc
    assert (grant.arn, "kms:CreateGrant", k) in esc
    assert (ak.arn, "iam:CreateAccessKey", reader.arn) in esc
    assert not {e for e in esc if e[0] in (nothing.arn, reader.arn)}

    # Each is a real permission.
    rp.client("secretsmanager").put_resource_policy(SecretId=s, ResourcePolicy=policy_doc(
        {"Effect": "Allow", "Principal": {"AWS": rp.arn}, "Action": GSV, "Resource": "*"}))
    grant.kms.create_grant(KeyId=k, GranteePrincipal=grant.arn, Operations=["Decrypt"])
    ak.iam.create_access_key(UserName=reader.name)
    assert not reads(self_user, s)
    self_user.iam.put_user_policy(UserName=self_user.name, PolicyName="gain",
                                  PolicyDocument=policy_doc(allow(GSV), allow("kms:Decrypt")))
    assert reads(self_user, s)


def test_can_gain_access_policy_versions_boundaries_and_roles(srv, root):
    """iam:CreatePolicyVersion on a managed policy attached to oneself,
    iam:SetDefaultPolicyVersion on one whose other version reads (listed
    only then), iam:DeleteUserPermissionsBoundary on oneself (listed only when the
    principal would read without it), and a role's permission reached by
    AssumeRole ("via"): each listed, each performed for real, after which
    the principal reads."""
    sm = root.client("secretsmanager")
    k = root.kms.create_key()["KeyMetadata"]["Arn"]
    s = sm.create_secret(Name=unique("esc2"), SecretString="v", KmsKeyId=k)["ARN"]
    acct = root.account

    # A managed policy that lets its holders write its next version.
    pname = unique("esc-pv-pol")
    parn = f"arn:aws:iam::{acct}:policy/{pname}"
    pv_doc = allow("iam:CreatePolicyVersion", parn)
    make_managed_policy(root, pv_doc, name=pname)
    pv = make_user(root, unique("esc-pv"), managed=[parn])

    # A managed policy with a second, non-default version that reads; and
    # one whose other version reads nothing (its holder is not listed).
    sname = unique("esc-sd-pol")
    sarn = f"arn:aws:iam::{acct}:policy/{sname}"
    sd_doc = allow("iam:SetDefaultPolicyVersion", sarn)
    make_managed_policy(root, sd_doc, name=sname)
    root.iam.create_policy_version(PolicyArn=sarn, SetAsDefault=False, PolicyDocument=policy_doc(
        sd_doc, allow(GSV), allow("kms:Decrypt")))
    sd = make_user(root, unique("esc-sd"), managed=[sarn])
    iname = unique("esc-sd-idle-pol")
    iarn = f"arn:aws:iam::{acct}:policy/{iname}"
    make_managed_policy(root, allow("iam:SetDefaultPolicyVersion", iarn), name=iname)
    root.iam.create_policy_version(PolicyArn=iarn, SetAsDefault=False,
                                   PolicyDocument=policy_doc(allow("kms:Decrypt")))
    sd_idle = make_user(root, unique("esc-sd-idle"), managed=[iarn])

    # A boundary that keeps its holder from reading; the identity allows.
    bnd = make_managed_policy(root, allow("iam:*"), name=unique("esc-bnd-pol"))["Arn"]
    bounded = make_user(root, unique("esc-bnd"), boundary=bnd)
    root.iam.put_user_policy(UserName=bounded.name, PolicyName="p", PolicyDocument=policy_doc(
        allow(GSV), allow("kms:Decrypt"), allow("iam:DeleteUserPermissionsBoundary", bounded.arn)))
    # The same boundary and permission, but nothing to read with: not listed.
    bounded_idle = make_user(root, unique("esc-bnd-idle"), boundary=bnd)
    root.iam.put_user_policy(UserName=bounded_idle.name, PolicyName="p", PolicyDocument=policy_doc(
        allow("iam:DeleteUserPermissionsBoundary", bounded_idle.arn)))

    # A user whose only way is a role that may rewrite the secret's policy.
    via = make_user(root, unique("esc-via"))
    role = make_role(root, unique("esc-rp-role"), trust=trust_policy(via.arn),
                     policy=allow("secretsmanager:PutResourcePolicy", s))["Arn"]
    root.iam.put_user_policy(UserName=via.name, PolicyName="p", PolicyDocument=policy_doc(
        allow("sts:AssumeRole", role), allow("kms:Decrypt")))

    out = who_can(srv, s)
    esc = {(e["principal"], e["action"], e["resource"], e.get("via")) for e in out["canGainAccess"]}
    assert (pv.arn, "iam:CreatePolicyVersion", parn, None) in esc
    assert (bounded.arn, "iam:DeleteUserPermissionsBoundary", bounded.arn, None) in esc
    assert not {e for e in esc if e[0] == bounded_idle.arn}
    assert (sd.arn, "iam:SetDefaultPolicyVersion", sarn, None) in esc
    assert not {e for e in esc if e[0] == sd_idle.arn}
    assert (role, "secretsmanager:PutResourcePolicy", s, None) in esc
    assert (via.arn, "secretsmanager:PutResourcePolicy", s, role) in esc
    p = srv.run_tresor("who-can-decrypt", s, "--data-dir", srv.data_dir)
    assert f"as {role}: secretsmanager:PutResourcePolicy on {s}" in p.stdout

    # Each for real, then the read.
    assert not reads(pv, s)
    pv.iam.create_policy_version(PolicyArn=parn, SetAsDefault=True, PolicyDocument=policy_doc(
        pv_doc, allow(GSV), allow("kms:Decrypt")))
    assert reads(pv, s)
    assert not reads(sd, s)
    sd.iam.set_default_policy_version(PolicyArn=sarn, VersionId="v2")
    assert reads(sd, s)
    assert not reads(bounded, s)
    bounded.iam.delete_user_permissions_boundary(UserName=bounded.name)
    assert reads(bounded, s)
    assert not reads(via, s)
    assume_role(via, role).client("secretsmanager").put_resource_policy(
        SecretId=s, ResourcePolicy=policy_doc(
            {"Effect": "Allow", "Principal": {"AWS": via.arn}, "Action": GSV, "Resource": "*"}))
    assert reads(via, s)


def test_can_gain_access_role_boundary_and_group_policy(srv, root):
    """iam:DeleteRolePermissionsBoundary by a role on itself (listed only
    when the role would read without the boundary; its assumers "via" it)
    and iam:PutGroupPolicy by a user on a group it is a member of (not on
    a group it is not in): each listed, each performed for real, after
    which the principal reads."""
    sm = root.client("secretsmanager")
    k = root.kms.create_key()["KeyMetadata"]["Arn"]
    s = sm.create_secret(Name=unique("esc3"), SecretString="v", KmsKeyId=k)["ARN"]
    acct = root.account

    # A role whose boundary keeps it from reading; its policy reads and
    # lets it delete that boundary.  The same boundary and permission with
    # nothing to read: not listed.
    bnd = make_managed_policy(root, allow("iam:*"), name=unique("esc-rbnd-pol"))["Arn"]
    assumer = make_user(root, unique("esc-rbnd-user"))
    rname = unique("esc-rbnd")
    rarn = f"arn:aws:iam::{acct}:role/{rname}"
    make_role(root, rname, trust=trust_policy(assumer.arn), boundary=bnd, policy=[
        allow(GSV), allow("kms:Decrypt"), allow("iam:DeleteRolePermissionsBoundary", rarn)])
    iname = unique("esc-rbnd-idle")
    iarn = f"arn:aws:iam::{acct}:role/{iname}"
    make_role(root, iname, trust=trust_policy(assumer.arn), boundary=bnd,
              policy=allow("iam:DeleteRolePermissionsBoundary", iarn))

    # A group whose members may write its inline policies, and a user who
    # may too but is not a member.
    gname = unique("esc-grp")
    garn = root.iam.create_group(GroupName=gname)["Group"]["Arn"]
    member = make_user(root, unique("esc-grp-member"), groups=[gname],
                       policy=allow("iam:PutGroupPolicy", garn))
    outsider = make_user(root, unique("esc-grp-out"), policy=allow("iam:PutGroupPolicy", garn))

    out = who_can(srv, s)
    esc = {(e["principal"], e["action"], e["resource"], e.get("via")) for e in out["canGainAccess"]}
    assert (rarn, "iam:DeleteRolePermissionsBoundary", rarn, None) in esc
    assert (assumer.arn, "iam:DeleteRolePermissionsBoundary", rarn, rarn) in esc
    assert not {e for e in esc if e[0] == iarn}
    assert (member.arn, "iam:PutGroupPolicy", garn, None) in esc
    assert not {e for e in esc if e[0] == outsider.arn}

    # Each for real, then the read.
    sess = assume_role(assumer, rarn)
    assert not reads(sess, s)
    sess.iam.delete_role_permissions_boundary(RoleName=rname)
    assert reads(sess, s)
    assert reads(assume_role(assumer, rarn), s)
    assert rarn in {p["principal"] for p in who_can(srv, s)["principals"]}
    assert not reads(member, s)
    member.iam.put_group_policy(GroupName=gname, PolicyName="gain",
                                PolicyDocument=policy_doc(allow(GSV), allow("kms:Decrypt")))
    assert reads(member, s)


def test_boundaries_star_and_not_principal(srv, root):
    """Issue 13's rules, analysis against real reads (docs/AUTHORIZATION.md
    2.3, 3.3, 4.1): the managed key's "*" is not limited by a boundary
    without kms:Decrypt (users and role sessions); a Deny with NotPrincipal
    denies a listed principal that has a boundary; a key policy's "*"
    grant reaches a bounded user; a key-policy statement naming another
    key grants nothing."""
    sm = root.client("secretsmanager")
    harness = harness_user(root)
    gsv_only = make_managed_policy(root, allow(GSV), name=unique("wc-gsv-bnd"))["Arn"]
    no_kms = make_managed_policy(root, allow("secretsmanager:*"), name=unique("wc-nokms"))["Arn"]
    bounded = make_user(root, unique("wc-b-gsv"), policy=allow(GSV), boundary=gsv_only)
    plain = make_user(root, unique("wc-b-plain"), policy=allow(GSV))
    listed_bounded = make_user(root, unique("wc-b-listed"), policy=allow(GSV), boundary=no_kms)
    star_user = make_user(root, unique("wc-b-star"), policy=allow(GSV), boundary=no_kms)
    other_key_user = make_user(root, unique("wc-b-otherkey"), policy=allow(GSV))
    role = make_role(root, unique("wc-b-role"), trust=trust_with(harness), policy=allow(GSV),
                     boundary=gsv_only)["Arn"]
    # A session has no aws:username: a NotResource naming it does not apply.
    not_mine = make_role(root, unique("wc-b-notmine"), trust=trust_with(harness), policy={
        "Effect": "Allow", "Action": GSV,
        "NotResource": f"arn:aws:secretsmanager:*:{ACCOUNT}:secret:${{aws:username}}-*"})["Arn"]

    s_managed = sm.create_secret(Name=unique("wc-b-managed"), SecretString="m")["ARN"]
    s_np = sm.create_secret(Name=unique("wc-b-np"), SecretString="np")["ARN"]
    sm.put_resource_policy(SecretId=s_np, ResourcePolicy=policy_doc(
        {"Effect": "Deny", "NotPrincipal": {"AWS": [plain.arn, listed_bounded.arn, root.arn,
                                                    harness.arn]},
         "Action": GSV, "Resource": "*"}))
    other = root.kms.create_key()["KeyMetadata"]["Arn"]
    admin = {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": root.arn},
             "NotAction": "kms:Decrypt", "Resource": "*"}
    k = root.kms.create_key(Policy=policy_doc(
        admin,
        {"Sid": "Star", "Effect": "Allow", "Principal": "*", "Action": "kms:Decrypt",
         "Resource": "*", "Condition": {"ArnEquals": {"aws:PrincipalArn": star_user.arn}}},
        {"Sid": "OtherKey", "Effect": "Allow", "Principal": {"AWS": other_key_user.arn},
         "Action": "kms:Decrypt", "Resource": other}))["KeyMetadata"]["Arn"]
    s_key = sm.create_secret(Name=unique("wc-b-key"), SecretString="k", KmsKeyId=k)["ARN"]

    users = [bounded, plain, listed_bounded, star_user, other_key_user, harness]
    callers = {u.arn: u for u in users}
    callers[root.arn] = root
    truth, _ = check_agreement(srv, callers, [role, not_mine], harness, [s_managed, s_np, s_key],
                               what=False)
    assert truth[not_mine] == set()
    assert s_managed in truth[bounded.arn] and s_managed in truth[role]
    assert s_np in truth[plain.arn] and s_np not in truth[listed_bounded.arn]
    assert s_np not in truth[bounded.arn]
    assert s_key in truth[star_user.arn] and s_key not in truth[other_key_user.arn]


def _recreate_user(root, old, **kw):
    """Delete user `old` (keys and inline policies first) and make another
    of the same name: a new unique id behind the same ARN."""
    for k in root.iam.list_access_keys(UserName=old.name)["AccessKeyMetadata"]:
        root.iam.delete_access_key(UserName=old.name, AccessKeyId=k["AccessKeyId"])
    for p in root.iam.list_user_policies(UserName=old.name)["PolicyNames"]:
        root.iam.delete_user_policy(UserName=old.name, PolicyName=p)
    root.iam.delete_user(UserName=old.name)
    new = make_user(root, old.name, **kw)
    assert new.arn == old.arn and new.user_id != old.user_id
    return new


def test_identity_bindings_agree(srv, root):
    """Principals named by unique id, principals bound by identity (a user
    deleted and created again under its name inherits nothing), and
    aws:SourceIdentity: the analysis and the server agree."""
    sm = root.client("secretsmanager")
    harness = harness_user(root)
    acct_stmt = {"Sid": "Delegate", "Effect": "Allow",
                 "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*",
                 "Resource": "*"}
    denied_u = make_user(root, unique("wc-byid"), policy=[allow(GSV), allow("kms:Decrypt")])
    k1 = root.kms.create_key(Policy=policy_doc(acct_stmt, {
        "Sid": "DenyById", "Effect": "Deny", "Principal": {"AWS": denied_u.user_id},
        "Action": "kms:Decrypt", "Resource": "*"}))["KeyMetadata"]["Arn"]
    k2 = root.kms.create_key()["KeyMetadata"]["Arn"]
    s1 = sm.create_secret(Name=unique("wc-id1"), SecretString="one", KmsKeyId=k1)["ARN"]
    s2 = sm.create_secret(Name=unique("wc-id2"), SecretString="two", KmsKeyId=k2)["ARN"]

    # Named by a resource policy, a grant and a trust policy, then deleted
    # and created again under the same names.
    rp_old = make_user(root, unique("wc-rp"), policy=allow("kms:Decrypt"))
    sm.put_resource_policy(SecretId=s2, ResourcePolicy=policy_doc(
        {"Effect": "Allow", "Principal": {"AWS": rp_old.arn}, "Action": GSV, "Resource": "*"}))
    gr_old = make_user(root, unique("wc-gr"), policy=allow(GSV))
    root.kms.create_grant(KeyId=k2, GranteePrincipal=gr_old.arn, Operations=["Decrypt"],
                          Constraints={"EncryptionContextSubset": {"SecretARN": s2}})
    as_old = make_user(root, unique("wc-as"))
    role = make_role(root, unique("wc-id-role"), trust=trust_with(harness, {
        "Effect": "Allow", "Principal": {"AWS": as_old.arn}, "Action": "sts:AssumeRole"}),
        policy=[allow(GSV), allow("kms:Decrypt")])["Arn"]
    # Only this role: other tests' roles trust the whole account.
    root.iam.put_user_policy(UserName=as_old.name, PolicyName="inline",
                             PolicyDocument=policy_doc(allow("sts:AssumeRole", role)))
    assert reads(rp_old, s2) and reads(gr_old, s2) and reads(session(as_old, role), s2)
    rp_new = _recreate_user(root, rp_old, policy=allow("kms:Decrypt"))
    gr_new = _recreate_user(root, gr_old, policy=allow(GSV))
    as_new = _recreate_user(root, as_old, policy=allow("sts:AssumeRole", role))

    # Reads only when its session carries the right source identity.
    si_role = make_role(root, unique("wc-si-role"), trust=policy_doc(
        {"Effect": "Allow", "Principal": {"AWS": harness.arn},
         "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"]}),
        policy=[allow(GSV, condition={"StringEquals": {"aws:SourceIdentity": "alice"}}),
                allow("kms:Decrypt")])["Arn"]
    alice = harness.sts.assume_role(RoleArn=si_role, RoleSessionName="si",
                                    SourceIdentity="alice")["Credentials"]
    alice = Caller(srv, alice["AccessKeyId"], alice["SecretAccessKey"], alice["SessionToken"])
    assert reads(alice, s2) and not reads(session(harness, si_role), s2)

    users = [denied_u, rp_new, gr_new, as_new, harness]
    callers = {u.arn: u for u in users}
    truth, _ = check_agreement(srv, callers, [role, si_role], harness, [s1, s2])
    assert {a for a, s in truth.items() if s1 in s} == {role, harness.arn}
    assert {a for a, s in truth.items() if s2 in s} == {role, harness.arn, denied_u.arn}
    listed = {p["principal"]: p for p in who_can(srv, s2)["principals"]}
    assert not {rp_new.arn, gr_new.arn, as_new.arn} & set(listed)
    assert listed[si_role]["conditional"] is True
    assert "only if the conditions of" in listed[si_role]["path"][-2]["evidence"]
    assert denied_u.arn not in {p["principal"] for p in who_can(srv, s1)["principals"]}
