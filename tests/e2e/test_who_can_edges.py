"""
The edges of `tresor who-can-decrypt` (docs/WHO_CAN_DECRYPT.md): the
answers where the analysis cannot be sure, each scenario built through the
API and the CLI's answer asserted.

  - An account the store does not hold is listed only when the real rules
    let one of its principals through both hops (the secret's resource
    policy and the key's policy or grants) for the read actions: a Deny
    naming it, or an Allow of another action, does not make it a reader.
  - A role whose trust policy admits every account ("AWS": "*") with no
    condition is reported loudly (publicTrust; a warning in text).
  - Request parameters of GetSecretValue (secretsmanager:VersionStage,
    secretsmanager:VersionId) are the caller's choice: a policy that
    requires one makes a conditional reader, not no reader.
  - A chain of roles longer than the hop limit is not followed, and the
    answer says so.

Where a principal can call, its answer is checked against a live read.
"""

import json
import shutil
import subprocess
import tempfile

import pytest
from botocore.exceptions import ClientError

from tresor_e2e import (ACCOUNT, WRAPPER, Caller, allow, make_role, make_user, policy_doc,
                        trust_policy, tresor_bin, unique)

GSV = "secretsmanager:GetSecretValue"
FOREIGN = "999988887777"          # an account the store does not hold


@pytest.fixture(scope="module")
def srv(authz_server):
    return authz_server


def who_can(srv, secret, *extra, fmt="json"):
    p = srv.run_tresor("who-can-decrypt", secret, "--data-dir", srv.data_dir,
                       "--format", fmt, *extra)
    assert p.returncode == 0, f"who-can-decrypt exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    return json.loads(p.stdout) if fmt == "json" else p.stdout


def words(text):
    return " ".join(text.split())


def reads(caller, secret_arn, **kw):
    try:
        caller.client("secretsmanager").get_secret_value(SecretId=secret_arn, **kw)
        return True
    except ClientError as e:
        assert e.response["Error"]["Code"] == "AccessDeniedException", e
        return False


def cmk(root, *extra_statements):
    admin = {"Sid": "Admin", "Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
             "Action": "kms:*", "Resource": "*"}
    return root.kms.create_key(Policy=policy_doc(admin, *extra_statements))["KeyMetadata"]["Arn"]


def secret(root, name, key=None, rp=None):
    sm = root.client("secretsmanager")
    kw = {"KmsKeyId": key} if key else {}
    arn = sm.create_secret(Name=unique(name), SecretString="v", **kw)["ARN"]
    if rp is not None:
        sm.put_resource_policy(SecretId=arn, ResourcePolicy=policy_doc(*rp))
    return arn


def foreign_rows(out, account=FOREIGN):
    return [p for p in out["principals"] if p["account"] == account]


# ---- accounts the store does not hold ---------------------------------------

def foreign(principal=f"arn:aws:iam::{FOREIGN}:root"):
    return {"AWS": principal}


def test_foreign_account_denied_or_other_action_is_not_a_reader(srv, root):
    """The key policy lets the foreign account decrypt; the secret's
    resource policy names it only in a Deny of GetSecretValue and an Allow
    of DescribeSecret: nobody of that account can read."""
    key = cmk(root, {"Sid": "Foreign", "Effect": "Allow", "Principal": foreign(),
                     "Action": "kms:Decrypt", "Resource": "*"})
    s = secret(root, "edges/deny", key, rp=[
        {"Sid": "NoRead", "Effect": "Deny", "Principal": foreign(), "Action": GSV,
         "Resource": "*"},
        {"Sid": "Describe", "Effect": "Allow", "Principal": foreign(),
         "Action": "secretsmanager:DescribeSecret", "Resource": "*"}])
    out = who_can(srv, s)
    assert foreign_rows(out) == [], out
    assert FOREIGN not in who_can(srv, s, fmt="text").split("\npaths:")[0]


def test_foreign_account_key_allows_other_action_is_not_a_reader(srv, root):
    """The resource policy allows the foreign account GetSecretValue, the
    key policy names it only for kms:Encrypt: not a reader."""
    key = cmk(root, {"Sid": "ForeignEncrypt", "Effect": "Allow", "Principal": foreign(),
                     "Action": "kms:Encrypt", "Resource": "*"})
    s = secret(root, "edges/encrypt", key, rp=[
        {"Effect": "Allow", "Principal": foreign(), "Action": GSV, "Resource": "*"}])
    assert foreign_rows(who_can(srv, s)) == []


def test_foreign_account_allowed_both_hops_is_a_conditional_reader(srv, root):
    """Both hops allow the account: listed, conditional (its own IAM must
    allow), with the statements that allow each hop."""
    key = cmk(root, {"Sid": "ForeignDecrypt", "Effect": "Allow", "Principal": foreign(),
                     "Action": "kms:Decrypt", "Resource": "*"})
    s = secret(root, "edges/both", key, rp=[
        {"Sid": "ForeignRead", "Effect": "Allow", "Principal": foreign(), "Action": GSV,
         "Resource": "*"}])
    rows = foreign_rows(who_can(srv, s))
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["principal"] == f"arn:aws:iam::{FOREIGN}:root" and row["type"] == "account"
    assert row["conditional"] is True and row["keyPermission"] == "key-policy"
    assert "ForeignRead" in row["path"][-2]["evidence"]
    assert "ForeignDecrypt" in row["path"][-1]["evidence"]


def test_foreign_account_whose_condition_fails_is_not_a_reader(srv, root):
    """Both policies name the account for the read actions, but the key
    policy's statement holds only for callers of the key's own account
    (kms:CallerAccount): the real rules let nobody of the foreign account
    through, so it is not listed; without the condition it is."""
    key = cmk(root, {"Effect": "Allow", "Principal": foreign(), "Action": "kms:Decrypt",
                     "Resource": "*",
                     "Condition": {"StringEquals": {"kms:CallerAccount": ACCOUNT}}})
    s = secret(root, "edges/caller", key, rp=[
        {"Effect": "Allow", "Principal": foreign(), "Action": GSV, "Resource": "*"}])
    assert foreign_rows(who_can(srv, s)) == []


def test_managed_key_secret_names_no_foreign_reader(srv, root):
    """A secret under aws/secretsmanager whose resource policy has only a
    Deny for the foreign account: no "any account" row, no foreign row."""
    s = secret(root, "edges/managed", rp=[
        {"Effect": "Deny", "Principal": foreign(), "Action": GSV, "Resource": "*"},
        {"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "secretsmanager:DeleteSecret",
         "Resource": "*"}])
    out = who_can(srv, s)
    assert [p for p in out["principals"] if p["account"] != ACCOUNT] == [], out


# ---- public trust ------------------------------------------------------------

def open_trust(condition=None):
    st = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}
    if condition:
        st["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [st]}


def test_public_trust_is_reported_loudly(srv, root):
    """A reader role any AWS account may assume with no condition: the
    JSON names it under publicTrust, the text warns before the table; the
    same role with a condition on aws:PrincipalOrgID is not public."""
    key = cmk(root)
    s = secret(root, "edges/public", key)
    role = make_role(root, unique("public-role"), trust=open_trust(),
                     policy=[allow(GSV, s), allow("kms:Decrypt", key)])
    out = who_can(srv, s)
    assert out["publicTrust"] == [role["Arn"]], out
    text = who_can(srv, s, fmt="text")
    head = words(text.split("\nPRINCIPAL")[0])
    assert (f'WARNING: role {role["Arn"]} trusts every AWS account ("AWS": "*") with no '
            "condition") in head, text

    s2 = secret(root, "edges/org", key)
    make_role(root, unique("org-role"),
              trust=open_trust({"StringEquals": {"aws:PrincipalOrgID": "o-abcdef1234"}}),
              policy=[allow(GSV, s2), allow("kms:Decrypt", key)])
    out2 = who_can(srv, s2)
    assert out2["publicTrust"] == [], out2
    assert "WARNING" not in who_can(srv, s2, fmt="text")
# ---- request parameters --------------------------------------------------------

def test_version_stage_condition_is_unknown_not_absent(srv, root):
    """An identity policy that allows GetSecretValue only with
    VersionStage AWSCURRENT: a conditional reader, as the live read
    shows (denied without the stage, allowed with it)."""
    s = secret(root, "edges/stage")
    user = make_user(root, unique("stage-reader"), policy=[
        allow(GSV, s, condition={"StringEquals": {"secretsmanager:VersionStage": "AWSCURRENT"}})])
    assert not reads(user, s)
    assert reads(user, s, VersionStage="AWSCURRENT")
    by = {p["principal"]: p for p in who_can(srv, s)["principals"]}
    assert user.arn in by and by[user.arn]["conditional"] is True
    assert "only if the conditions of: identity" in by[user.arn]["path"][-2]["evidence"]

    vid_user = make_user(root, unique("vid-reader"), policy=[
        allow(GSV, s, condition={"StringLike": {"secretsmanager:VersionId": "*"}})])
    by = {p["principal"]: p for p in who_can(srv, s)["principals"]}
    assert vid_user.arn in by and by[vid_user.arn]["conditional"] is True


# ---- role sessions ----------------------------------------------------------------

def sess_arn(role, name):
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/{role['RoleName']}/{name}"


def as_session(caller, role, name):
    cr = caller.sts.assume_role(RoleArn=role["Arn"], RoleSessionName=name)["Credentials"]
    return Caller(caller.server, cr["AccessKeyId"], cr["SecretAccessKey"], cr["SessionToken"],
                  arn=role["Arn"], account=ACCOUNT)


def row(out, arn):
    by = {p["principal"]: p for p in out["principals"]}
    return by.get(arn)


def test_session_named_by_resource_policy(srv, root):
    """The resource policy allows one session of a role (assumed-role/R/
    ci-job) GetSecretValue; the role's IAM allows only kms:Decrypt.  Live:
    the session ci-job reads, another session does not.  The answer: the
    role reads, conditionally, as session ci-job (JSON asSessions, text)."""
    key = cmk(root)
    name = unique("sess-rp")
    role = make_role(root, name, trust=trust_policy(f"arn:aws:iam::{ACCOUNT}:root"),
                     policy=[allow("kms:Decrypt", key)])
    s = secret(root, "edges/sess-rp", key, rp=[
        {"Sid": "CiJob", "Effect": "Allow", "Principal": {"AWS": sess_arn(role, "ci-job")},
         "Action": GSV, "Resource": "*"}])
    assumer = make_user(root, unique("sess-assumer"), policy=allow("sts:AssumeRole", role["Arn"]))
    assert reads(as_session(assumer, role, "ci-job"), s)
    assert not reads(as_session(assumer, role, "other"), s)

    out = who_can(srv, s)
    r = row(out, role["Arn"])
    assert r is not None, out
    assert r["conditional"] is True and r["asSessions"] == ["ci-job"]
    assert r["path"][-2]["asSession"] == "ci-job" and "CiJob" in r["path"][-2]["evidence"]
    u = row(out, assumer.arn)
    assert u is not None and u["conditional"] is True and u["asSessions"] == ["ci-job"]
    text = words(who_can(srv, s, fmt="text"))
    assert "(as session ci-job)" in text
    assert f"secretsmanager:GetSecretValue as {role['Arn']} session ci-job: allowed" in text


def test_session_named_by_key_policy_and_grant(srv, root):
    """The key policy (one role) or a grant (another role) names one
    session of the role for kms:Decrypt; each role's IAM allows
    GetSecretValue only.  Both read as that session, conditionally."""
    name = unique("sess-kp")
    trust = trust_policy(f"arn:aws:iam::{ACCOUNT}:root")
    key = root.kms.create_key()["KeyMetadata"]["Arn"]
    s = secret(root, "edges/sess-kp", key)
    role = make_role(root, name, trust=trust, policy=[allow(GSV, s)])
    root.kms.put_key_policy(KeyId=key, PolicyName="default", Policy=policy_doc(
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "Deploy", "Effect": "Allow", "Principal": {"AWS": sess_arn(role, "deploy")},
         "Action": "kms:Decrypt", "Resource": "*"}))
    granted = make_role(root, unique("sess-grant"), trust=trust, policy=[allow(GSV, s)])
    root.kms.create_grant(KeyId=key, GranteePrincipal=sess_arn(granted, "batch"),
                          Operations=["Decrypt"])
    assumer = make_user(root, unique("sess-kp-assumer"),
                        policy=allow("sts:AssumeRole", [role["Arn"], granted["Arn"]]))
    assert reads(as_session(assumer, role, "deploy"), s)
    assert not reads(as_session(assumer, role, "other"), s)
    assert reads(as_session(assumer, granted, "batch"), s)
    assert not reads(as_session(assumer, granted, "other"), s)

    out = who_can(srv, s)
    r = row(out, role["Arn"])
    assert r and r["conditional"] is True and r["asSessions"] == ["deploy"], out
    assert r["keyPermission"] == "key-policy" and "Deploy" in r["path"][-1]["evidence"]
    g = row(out, granted["Arn"])
    assert g and g["conditional"] is True and g["asSessions"] == ["batch"], out
    assert g["keyPermission"] == "grant"


def test_session_named_by_trust_policy(srv, root):
    """Role R2 reads; its trust policy admits only session hop of role R1.
    A user that can assume R1 reaches R2 through that session: listed,
    conditional, the AssumeRole step as session hop."""
    key = cmk(root)
    s = secret(root, "edges/sess-trust", key)
    r1 = make_role(root, unique("sess-r1"), trust=trust_policy(f"arn:aws:iam::{ACCOUNT}:root"),
                   policy=allow("sts:AssumeRole", "*"))
    r2 = make_role(root, unique("sess-r2"), trust=trust_policy(sess_arn(r1, "hop")),
                   policy=[allow(GSV, s), allow("kms:Decrypt", key)])
    user = make_user(root, unique("sess-user"), policy=allow("sts:AssumeRole", r1["Arn"]))
    hop = as_session(user, r1, "hop")
    reader = hop.sts.assume_role(RoleArn=r2["Arn"], RoleSessionName="xx")["Credentials"]
    assert reads(Caller(hop.server, reader["AccessKeyId"], reader["SecretAccessKey"],
                        reader["SessionToken"], arn=r2["Arn"], account=ACCOUNT), s)
    with pytest.raises(ClientError):
        as_session(user, r1, "other").sts.assume_role(RoleArn=r2["Arn"], RoleSessionName="xx")

    out = who_can(srv, s)
    r = row(out, r1["Arn"])
    assert r and r["conditional"] is True and r["asSessions"] == ["hop"], out
    assert r["path"][0]["asSession"] == "hop" and r["path"][0]["role"] == r2["Arn"]
    u = row(out, user.arn)
    assert u and u["conditional"] is True and u["asSessions"] == ["hop"]
    assert [st.get("role") for st in u["path"][:2]] == [r1["Arn"], r2["Arn"]]


def test_trust_naming_a_renamed_user_still_admits_it(srv, root):
    """A trust policy names user U by ARN; U is renamed since.  IAM bound
    the ARN to U's unique id when the policy was saved, so the renamed
    user still assumes the role (a live AssumeRole says so), and the
    answer lists it through the role -- the index of who a trust policy
    admits follows the binding, not the name written."""
    key = cmk(root)
    s = secret(root, "edges/renamed", key)
    old_name, new_name = unique("renamed-old"), unique("renamed-new")
    user = make_user(root, old_name)
    role = make_role(root, unique("renamed-role"), trust=trust_policy(user.arn),
                     policy=[allow(GSV, s), allow("kms:Decrypt", key)])
    root.iam.update_user(UserName=old_name, NewUserName=new_name)
    new_arn = user.arn.replace(f":user/{old_name}", f":user/{new_name}")
    creds = user.sts.assume_role(RoleArn=role["Arn"], RoleSessionName="renamed")["Credentials"]
    assert reads(Caller(user.server, creds["AccessKeyId"], creds["SecretAccessKey"],
                        creds["SessionToken"], arn=role["Arn"], account=ACCOUNT), s)

    out = who_can(srv, s)
    r = row(out, new_arn)
    assert r and r["conditional"] is False, out
    assert r["path"][0]["role"] == role["Arn"], r
    assert row(out, role["Arn"]) is not None
    assert row(out, user.arn) is None          # no user has the old name now


@pytest.mark.parametrize("where", ["identity", "key-policy", "grant"])
def test_all_decides_each_secret_s_encryption_context(srv, root, where):
    """--all reuses a principal's KMS decision on a key from one secret to
    the next only when no encryption context can change it.  Here one
    does: the role may decrypt only for secret A (a condition on
    kms:EncryptionContext:SecretARN in its identity policy or in the key
    policy, or a grant constrained to A's ARN), so of two secrets under
    the same key, read in either order, it reads A and not B -- as live
    reads say."""
    key = cmk(root)
    a = secret(root, f"edges/ec-a-{where}", key)
    b = secret(root, f"edges/ec-b-{where}", key)
    only_a = {"StringEquals": {"kms:EncryptionContext:SecretARN": a}}
    perms = [allow(GSV, "*")]
    if where == "identity":
        perms.append(allow("kms:Decrypt", key, condition=only_a))
    user = make_user(root, unique(f"ec-user-{where}"))
    role = make_role(root, unique(f"ec-{where}"), trust=trust_policy(user.arn), policy=perms)
    if where == "key-policy":
        admin = {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                 "Action": "kms:*", "Resource": "*"}
        use = {"Sid": "OnlyA", "Effect": "Allow", "Principal": {"AWS": role["Arn"]},
               "Action": "kms:Decrypt", "Resource": "*", "Condition": only_a}
        root.kms.put_key_policy(KeyId=key, PolicyName="default", Policy=policy_doc(admin, use))
    if where == "grant":
        root.kms.create_grant(KeyId=key, GranteePrincipal=role["Arn"], Operations=["Decrypt"],
                              Constraints={"EncryptionContextSubset": {"SecretARN": a}})
    cr = user.sts.assume_role(RoleArn=role["Arn"], RoleSessionName="ec")["Credentials"]
    caller = Caller(user.server, cr["AccessKeyId"], cr["SecretAccessKey"], cr["SessionToken"],
                    arn=role["Arn"], account=ACCOUNT)
    assert reads(caller, a) and not reads(caller, b)

    p = srv.run_tresor("who-can-decrypt", "--all", "--data-dir", srv.data_dir, "--format", "json")
    assert p.returncode == 0, p.stderr
    by = {s["secret"]["arn"]: s for s in json.loads(p.stdout)["secrets"]}
    assert row(by[a], role["Arn"]) is not None, by[a]
    assert row(by[b], role["Arn"]) is None, by[b]
    assert row(who_can(srv, b), role["Arn"]) is None


# ---- the hop limit --------------------------------------------------------------

def test_chain_beyond_the_hop_limit_is_said(srv, root):
    """user -> r1 -> r2 -> r3 -> r4 -> r5, r5 reads: the user is five role
    hops away, one more than the analysis follows (4).  It is not listed,
    and the answer says that its chain was cut (JSON chainsCut, a text
    note); r1, four hops away, is listed."""
    key = cmk(root)
    s = secret(root, "edges/chain", key)
    r1_name = unique("chain1")
    user = make_user(root, unique("chain-user"),
                     policy=allow("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/{r1_name}"))
    # Each role trusts only the one before it; r1 the user.
    roles = [make_role(root, r1_name, trust=trust_policy(user.arn))]
    for i in range(2, 6):
        roles.append(make_role(root, unique(f"chain{i}"), trust=trust_policy(roles[-1]["Arn"])))
        root.iam.put_role_policy(RoleName=roles[-2]["RoleName"], PolicyName="next",
                                 PolicyDocument=policy_doc(allow("sts:AssumeRole",
                                                                 roles[-1]["Arn"])))
    root.iam.put_role_policy(RoleName=roles[-1]["RoleName"], PolicyName="read",
                             PolicyDocument=policy_doc(allow(GSV, s), allow("kms:Decrypt", key)))

    # Live: the chain works.
    c = user
    for r in roles:
        cr = c.sts.assume_role(RoleArn=r["Arn"], RoleSessionName="chain")["Credentials"]
        c = Caller(c.server, cr["AccessKeyId"], cr["SecretAccessKey"], cr["SessionToken"],
                   arn=r["Arn"], account=ACCOUNT)
    assert reads(c, s)

    out = who_can(srv, s)
    by = {p["principal"]: p for p in out["principals"]}
    assert roles[0]["Arn"] in by and len(by[roles[0]["Arn"]]["path"]) == 4 + 2
    assert user.arn not in by
    cut = {c["principal"]: c for c in out["chainsCut"]}
    assert user.arn in cut, out["chainsCut"]
    assert cut[user.arn]["role"] == roles[0]["Arn"]
    assert out["maxHops"] == 4
    text = words(who_can(srv, s, fmt="text"))
    assert (f"{user.arn} can assume {roles[0]['Arn']}, 4 role hops from a reader: chains "
            "longer than 4 hops are not followed") in text, text


# ---- conditions lost or misplaced --------------------------------------------------

NO_DECRYPT_ADMIN = ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                    "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
                    "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion", "kms:Encrypt",
                    "kms:GenerateDataKey*", "kms:TagResource", "kms:UntagResource"]


def test_grant_to_account_keeps_the_identity_only_if(srv, root):
    """The key policy does not delegate kms:Decrypt to IAM; a grant to the
    account does, so the caller's IAM must allow too -- and the user's IAM
    allows kms:Decrypt only over TLS (aws:SecureTransport, unknown to the
    analysis).  Live over plain HTTP: denied.  The answer: conditional."""
    key = root.kms.create_key(Policy=policy_doc(
        {"Sid": "AdminNoDecrypt", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": NO_DECRYPT_ADMIN, "Resource": "*"}))["KeyMetadata"]["Arn"]
    root.kms.create_grant(KeyId=key, GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:root",
                          Operations=["Decrypt"])
    s = secret(root, "edges/grant-cond", key)
    user = make_user(root, unique("grant-tls"), policy=[
        allow(GSV, s),
        allow("kms:Decrypt", key, condition={"Bool": {"aws:SecureTransport": "true"}})])
    plain = make_user(root, unique("grant-plain"), policy=[allow(GSV, s), allow("kms:Decrypt", key)])
    assert srv.endpoint.startswith("http://")
    assert not reads(user, s)
    assert reads(plain, s)

    out = who_can(srv, s)
    u = row(out, user.arn)
    assert u is not None and u["keyPermission"] == "grant", out
    assert u["conditional"] is True
    assert "only if the conditions of" in u["path"][-1]["evidence"]
    p = row(out, plain.arn)
    assert p is not None and p["keyPermission"] == "grant" and p["conditional"] is False


@pytest.mark.parametrize("cond_first", [True, False])
def test_unconditional_path_preferred(srv, root, cond_first):
    """A user reaches the reader role R through role A (its trust asks for
    an ExternalId: conditional) and through role B (unconditional).  The
    answer is the certain one, via B, whichever role came first."""
    key = cmk(root)
    s = secret(root, "edges/paths", key)
    r_name = unique("paths-r")
    r_arn = f"arn:aws:iam::{ACCOUNT}:role/{r_name}"
    user = make_user(root, unique("paths-user"), policy=allow("sts:AssumeRole", "*"))
    hop = [allow("sts:AssumeRole", r_arn)]
    mk_a = lambda: make_role(root, unique("paths-a"), policy=hop, trust=trust_policy(
        user.arn, condition={"StringEquals": {"sts:ExternalId": "x-123"}}))
    mk_b = lambda: make_role(root, unique("paths-b"), policy=hop, trust=trust_policy(user.arn))
    if cond_first:
        a = mk_a()
        b = mk_b()
    else:
        b = mk_b()
        a = mk_a()
    make_role(root, r_name, trust=trust_policy([a["Arn"], b["Arn"]]),
              policy=[allow(GSV, s), allow("kms:Decrypt", key)])
    out = who_can(srv, s)
    u = row(out, user.arn)
    assert u is not None, out
    assert u["conditional"] is False, u
    assert u["path"][0]["role"] == b["Arn"] and u["path"][1]["role"] == r_arn


def test_deny_conditions_printed_as_not_holding(srv, root):
    """A resource-policy Deny of GetSecretValue unless the call comes from
    a VPC endpoint (aws:SourceVpce, unknown): the reader is conditional,
    and the evidence says the Deny's conditions must NOT hold.  A Deny
    whose condition is known false (a principal tag the user does not
    have) was checked and did not apply: the evidence names it."""
    key = cmk(root)
    s = secret(root, "edges/deny-cond", key, rp=[
        {"Sid": "OnlyFromVpce", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": GSV,
         "Resource": "*", "Condition": {"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}},
        {"Sid": "NotContractors", "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": GSV,
         "Resource": "*", "Condition": {"StringEquals": {"aws:PrincipalTag/team": "contractor"}}}])
    user = make_user(root, unique("deny-cond"), policy=[allow(GSV, s), allow("kms:Decrypt", key)])
    tls = make_user(root, unique("deny-cond-tls"), policy=[
        allow(GSV, s, condition={"Bool": {"aws:SecureTransport": "true"}}),
        allow("kms:Decrypt", key)])
    out = who_can(srv, s)
    u = row(out, user.arn)
    assert u is not None and u["conditional"] is True, out
    ev = u["path"][-2]["evidence"]
    assert "only if the conditions of: Deny resource resource-policy:" in ev, ev
    assert "(Sid OnlyFromVpce) do not hold" in ev, ev
    assert ("denies checked, not applying (their conditions are false): Deny resource "
            "resource-policy:") in ev and "(Sid NotContractors)" in ev, ev
    # An Allow that holds only if its conditions hold, with the Deny.
    ev = row(out, tls.arn)["path"][-2]["evidence"]
    assert "only if the conditions of: identity inline:" in ev, ev
    assert " hold, and those of: Deny resource resource-policy:" in ev, ev
    assert ev.count("do not hold") == 1 and "(Sid OnlyFromVpce) do not hold" in ev, ev


# ---- "can gain access" ---------------------------------------------------------------

def gain(out, arn):
    return [e for e in out["canGainAccess"] if e["principal"] == arn]


def test_gain_access_request_time_conditions_are_conditional(srv, root):
    """PutResourcePolicy allowed only from 10.0.0.0/8 (aws:SourceIp) and
    CreateGrant only over TLS: both listed, conditional; an unconditioned
    PutResourcePolicy is not."""
    key = cmk(root, {"Sid": "Iam", "Effect": "Allow",
                     "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                     "Action": "kms:CreateGrant", "Resource": "*"})
    s = secret(root, "edges/gain-ip", key)
    ip = make_user(root, unique("gain-ip"), policy=[
        allow("secretsmanager:PutResourcePolicy", s,
              condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
        allow("kms:CreateGrant", key, condition={"Bool": {"aws:SecureTransport": "true"}})])
    plain = make_user(root, unique("gain-plain"),
                      policy=allow("secretsmanager:PutResourcePolicy", s))
    out = who_can(srv, s)
    by = {e["action"]: e for e in gain(out, ip.arn)}
    assert set(by) == {"secretsmanager:PutResourcePolicy", "kms:CreateGrant"}, out["canGainAccess"]
    assert all(e["conditional"] is True for e in by.values())
    assert [e["conditional"] for e in gain(out, plain.arn)] == [False]
    text = words(who_can(srv, s, fmt="text"))
    assert f"secretsmanager:PutResourcePolicy on {s} (only if conditions hold)" in text


def test_gain_access_no_put_key_policy_across_accounts(srv, root, account_b):
    """The key policy lets account B put the key policy and create grants;
    a user of B allowed both by its IAM: only kms:CreateGrant is listed
    (PutKeyPolicy is not a cross-account call)."""
    b_root = f"arn:aws:iam::{account_b.account}:root"
    key = cmk(root, {"Sid": "B", "Effect": "Allow", "Principal": {"AWS": b_root},
                     "Action": ["kms:PutKeyPolicy", "kms:CreateGrant"], "Resource": "*"})
    s = secret(root, "edges/gain-xacct", key)
    b_user = make_user(account_b, unique("gain-b"),
                       policy=allow(["kms:PutKeyPolicy", "kms:CreateGrant"], "*"))
    with pytest.raises(ClientError):
        b_user.kms.put_key_policy(KeyId=key, PolicyName="default", Policy=policy_doc(
            allow("kms:*", principal={"AWS": b_root})))
    out = who_can(srv, s)
    assert [e["action"] for e in gain(out, b_user.arn)] == ["kms:CreateGrant"], out["canGainAccess"]


def test_gain_access_nothing_for_secret_pending_deletion(srv, root):
    """A secret scheduled for deletion: nobody can gain access to it by a
    permission change."""
    s = secret(root, "edges/gain-deleted")
    user = make_user(root, unique("gain-del"), policy=allow("secretsmanager:PutResourcePolicy", s))
    assert gain(who_can(srv, s), user.arn)
    root.client("secretsmanager").delete_secret(SecretId=s, RecoveryWindowInDays=7)
    out = who_can(srv, s)
    assert out["canGainAccess"] == [], out["canGainAccess"]


def test_gain_access_via_conditional_hop_is_conditional(srv, root):
    """A role that may rewrite the secret's resource policy; a user that
    can assume it only with an ExternalId: the user's entry, via the role,
    is conditional, the role's own is not."""
    s = secret(root, "edges/gain-via")
    user = make_user(root, unique("gain-via-user"), policy=allow("sts:AssumeRole", "*"))
    role = make_role(root, unique("gain-via-role"),
                     trust=trust_policy(user.arn, condition={"StringEquals": {"sts:ExternalId": "e-1"}}),
                     policy=allow("secretsmanager:PutResourcePolicy", s))
    out = who_can(srv, s)
    [own] = gain(out, role["Arn"])
    assert own["conditional"] is False
    [via] = gain(out, user.arn)
    assert via["via"] == role["Arn"] and via["conditional"] is True


# ---- what-can-decrypt streams ----------------------------------------------------------

TIME = shutil.which("time", path="/usr/bin:/bin")


def peak_rss_kb(srv, *args):
    """Run `tresor ARGS`; (stdout, its peak RSS in KB).  Measured by
    /usr/bin/time, which forks tresor itself: a child forked from this
    Python process would count Python's pages as its own (the peak before
    exec stays in ru_maxrss)."""
    with tempfile.NamedTemporaryFile("r") as f:
        p = subprocess.run([TIME, "-f", "%M", "-o", f.name, str(tresor_bin()), *args],
                           capture_output=True, env=srv._base_env(), cwd=str(srv.root),
                           timeout=120)
        assert p.returncode == 0, p.stderr
        return p.stdout, int(f.read().split()[-1])


@pytest.mark.skipif(bool(WRAPPER) or "asan" in str(tresor_bin()) or not TIME,
                    reason="peak RSS is the wrapper's or the sanitizer's, not tresor's; "
                           "or no /usr/bin/time")
def test_what_can_decrypt_memory_follows_the_answer(srv, root):
    """what-can-decrypt over 60 more principals and 400 more secrets, every
    pair decided in full: its peak RSS stays within 16 MB of one
    who-can-decrypt's (it kept ~2 KB per principal and secret: 57 MB more
    here); and its answer lists exactly the secrets the principal reads."""
    key = cmk(root)
    prefix = unique("edges/many")
    sm = root.client("secretsmanager")
    arns = [sm.create_secret(Name=f"{prefix}/{i}", SecretString="v", KmsKeyId=key)["ARN"]
            for i in range(400)]
    # Each of them decided in full for every secret (GetSecretValue
    # allowed, the key refusing): the evidence of every pair is written.
    for i in range(60):
        make_user(root, unique("many-user"),
                  policy=allow(GSV, f"arn:aws:secretsmanager:*:*:secret:{prefix}/*"))
    reader = make_user(root, unique("many-reader"),
                       policy=[allow(GSV, f"arn:aws:secretsmanager:*:*:secret:{prefix}/1*"),
                               allow("kms:Decrypt", key)])
    base_out, base = peak_rss_kb(srv, "who-can-decrypt", arns[0], "--data-dir", srv.data_dir,
                                 "--format", "json")
    out, rss = peak_rss_kb(srv, "what-can-decrypt", reader.arn, "--data-dir", srv.data_dir,
                           "--format", "json")
    # (Other tests of this module may leave it more to read, such as the
    # secret behind the role any principal may assume: only ours count.)
    got = {s["secret"]["arn"] for s in json.loads(out)["secrets"]} & set(arns)
    assert got == {a for a in arns if a.split(":secret:")[1].startswith(f"{prefix}/1")}
    assert rss < base + 16 * 1024, (rss, base)
    text, _ = peak_rss_kb(srv, "what-can-decrypt", reader.arn, "--data-dir", srv.data_dir)
    text = text.decode()
    table, paths = text.split("\npaths:\n")
    assert sum(1 for a in arns if a in table) == len(got)
    assert paths.count("kms:Decrypt as ") == len(json.loads(out)["secrets"])


# ---- readable output ------------------------------------------------------------------

def test_text_groups_readers_that_share_a_path(srv, root):
    """Four members of a group allowed by its policy, and three users that
    read through the same role: the text prints each set as one row with
    its members listed, and one path each; the JSON lists all seven with
    their own paths; a reader with a path of its own stays a row of its
    own."""
    key = cmk(root)
    s = secret(root, "edges/group", key)
    group = unique("readers")
    root.iam.create_group(GroupName=group)
    root.iam.put_group_policy(GroupName=group, PolicyName="read",
                              PolicyDocument=policy_doc(allow(GSV, s), allow("kms:Decrypt", key)))
    members = sorted((make_user(root, unique("grp-m"), groups=[group]) for _ in range(4)),
                     key=lambda u: u.arn)
    role = make_role(root, unique("grp-role"), trust=trust_policy(f"arn:aws:iam::{ACCOUNT}:root"),
                     policy=[allow(GSV, s), allow("kms:Decrypt", key)])
    assumers = [make_user(root, unique("grp-a"), policy=allow("sts:AssumeRole", role["Arn"]))
                for _ in range(3)]
    alone = make_user(root, unique("grp-alone"), policy=[allow(GSV, s), allow("kms:Decrypt", key)])
    for u in members + [alone]:
        assert reads(u, s)
    for u in assumers:
        assert reads(as_session(u, role, "check"), s)

    out = who_can(srv, s)
    listed = {p["principal"] for p in out["principals"]}
    assert {u.arn for u in members + assumers + [alone]} <= listed

    text = who_can(srv, s, fmt="text")
    table, paths = text.split("\npaths:\n")
    lines = table.splitlines()
    head = [ln for ln in lines if ln.startswith("4 users sharing one path:")]
    assert len(head) == 1 and "direct" in head[0] and "key-policy" in head[0], table
    at = lines.index(head[0])
    assert lines[at + 1:at + 5] == [f"  {u.arn}" for u in members], table
    # (Users of other tests allowed sts:AssumeRole on "*" may join it, or
    # make groups of their own through the role, conditional ones.)
    groups = {}
    for at, ln in enumerate(lines):
        if f"via role {role['RoleName']} " in ln and " users sharing one path:" in ln:
            n = int(ln.split()[0])
            groups[n] = {x.strip() for x in lines[at + 1:at + 1 + n]}
    [n] = [k for k, v in groups.items() if {u.arn for u in assumers} <= v]
    assert any(ln.startswith(alone.arn) and "direct" in ln for ln in lines), table
    assert f"  the 4 users above, one path; as {members[0].arn}" in paths
    assert f"  the {n} users above, one path; as " in paths
    for u in members[1:] + [a for a in assumers if a.arn not in paths]:
        assert f"GetSecretValue as {u.arn}" not in paths
    assert f"secretsmanager:GetSecretValue as {alone.arn}: allowed" in paths
