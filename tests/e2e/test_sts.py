"""
STS end to end: GetCallerIdentity for every kind of caller, AssumeRole
(trust policies, the identity side, ExternalId, session policies and
PolicyArns, session tags, SourceIdentity, durations, session names, role
chaining, other accounts), GetSessionToken, and the rules for temporary
credentials (the session token is required and must be intact).

Denials of sts:AssumeRole are `AccessDenied`, HTTP 403, "User: <caller> is
not authorized to perform: sts:AssumeRole on resource: <role ARN>" (STS
adds no "because ..." clause).  Expiry in real time is not tested (the
shortest session is 900 s).
"""

import datetime

import pytest

from tresor_e2e import (
    ACCOUNT, ACCOUNT_B, ASIA_RE, BAD_SIGNATURE_MSG, INVALID_TOKEN_MSG, ROOT_ARN,
    STS_NS, Caller, allow, assume_role, deny, denied_msg, make_managed_policy, make_role,
    make_user, policy_doc, raises_aws, role_arn, session_arn, trust_policy, unique, utcnow,
)

ROLE_CHAINING_MSG = ("The requested DurationSeconds exceeds the 1 hour session limit for roles "
                     "assumed by role chaining.")
MAX_SESSION_MSG = "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."


def assume_denied(who, role, action="sts:AssumeRole"):
    return raises_aws("AccessDenied", denied_msg(who.arn, action, role, None), status=403)


def identity(caller):
    resp = caller.sts.get_caller_identity()
    resp.pop("ResponseMetadata", None)
    return resp


def assert_expires_in(expiration, seconds, slack=120):
    assert isinstance(expiration, datetime.datetime), expiration
    delta = (expiration - utcnow()).total_seconds()
    assert seconds - slack < delta <= seconds + 5, (expiration, delta, seconds)


@pytest.fixture(scope="module")
def key(root):
    """A key with the default key policy (delegates to IAM)."""
    return root.kms.create_key(Description="sts tests")["KeyMetadata"]


# ---------------------------------------------------------------------------
# GetCallerIdentity


def test_caller_identity_root(root):
    assert identity(root) == {"UserId": ACCOUNT, "Account": ACCOUNT, "Arn": ROOT_ARN}


def test_caller_identity_user(root):
    u = make_user(root, path="/people/")
    assert identity(u) == {"UserId": u.user_id, "Account": ACCOUNT,
                           "Arn": f"arn:aws:iam::{ACCOUNT}:user/people/{u.name}"}


def test_caller_identity_assumed_role_has_no_path(root):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn), path="/app/tier/")
    assert role["Arn"] == role_arn(role["RoleName"], "/app/tier/")
    s = assume_role(u, role["Arn"], "web-1")
    assert identity(s) == {"UserId": f"{role['RoleId']}:web-1", "Account": ACCOUNT,
                           "Arn": session_arn(role["RoleName"], "web-1")}


def test_caller_identity_cannot_be_denied(root):
    u = make_user(root, policy=[deny("*"), deny("sts:GetCallerIdentity")])
    assert identity(u)["Arn"] == u.arn


def test_caller_identity_account_b(account_b):
    assert identity(account_b) == {"UserId": ACCOUNT_B, "Account": ACCOUNT_B,
                                   "Arn": f"arn:aws:iam::{ACCOUNT_B}:root"}


def test_caller_identity_wire(authz_server):
    r = authz_server.query("sts", "GetCallerIdentity")
    assert r.status == 200, r
    assert r.xml.tag == f"{{{STS_NS}}}GetCallerIdentityResponse", r.xml.tag
    assert r.xml_text("GetCallerIdentityResult/Arn") == ROOT_ARN
    assert r.xml_text("GetCallerIdentityResult/UserId") == ACCOUNT
    assert r.xml_text("GetCallerIdentityResult/Account") == ACCOUNT
    assert r.xml_text("ResponseMetadata/RequestId")


# ---------------------------------------------------------------------------
# AssumeRole: who may


def test_assume_role_trust_names_the_user(root):
    u = make_user(root)                       # no identity policy at all
    role = make_role(root, trust=trust_policy(u.arn))
    s = assume_role(u, role["Arn"], "direct")
    resp = s.response
    cr = resp["Credentials"]
    assert ASIA_RE.match(cr["AccessKeyId"]), cr["AccessKeyId"]
    assert len(cr["SecretAccessKey"]) == 40
    assert cr["SessionToken"]
    assert_expires_in(cr["Expiration"], 3600)
    assert resp["AssumedRoleUser"] == {"Arn": session_arn(role["RoleName"], "direct"),
                                       "AssumedRoleId": f"{role['RoleId']}:direct"}
    assert "PackedPolicySize" not in resp
    assert "SourceIdentity" not in resp
    assert identity(s)["Arn"] == session_arn(role["RoleName"], "direct")


def test_each_session_gets_new_credentials(root):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn))
    a = assume_role(u, role["Arn"], "same")
    b = assume_role(u, role["Arn"], "same")
    assert a.access_key != b.access_key
    assert a.secret_key != b.secret_key
    assert a.session_token != b.session_token
    assert identity(a) == identity(b)


def test_trust_naming_the_account_needs_an_identity_policy(root):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(ROOT_ARN))
    with assume_denied(u, role["Arn"]):
        u.sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1")
    root.iam.put_user_policy(UserName=u.name, PolicyName="assume",
                             PolicyDocument=policy_doc(allow("sts:AssumeRole", role["Arn"])))
    s = assume_role(u, role["Arn"], "s1")
    assert identity(s)["Arn"] == session_arn(role["RoleName"], "s1")


def test_trust_naming_a_bare_account_id(root):
    role = make_role(root, trust=trust_policy(ACCOUNT))
    u = make_user(root, policy=allow("sts:AssumeRole", role["Arn"]))
    assert identity(assume_role(u, role["Arn"]))["Account"] == ACCOUNT
    v = make_user(root)
    with assume_denied(v, role["Arn"]):
        v.sts.assume_role(RoleArn=role["Arn"], RoleSessionName="ss")


def test_identity_policy_for_another_role_does_not_help(root):
    role = make_role(root, trust=trust_policy(ROOT_ARN))
    other = make_role(root, trust=trust_policy(ROOT_ARN))
    u = make_user(root, policy=allow("sts:AssumeRole", other["Arn"]))
    with assume_denied(u, role["Arn"]):
        u.sts.assume_role(RoleArn=role["Arn"], RoleSessionName="ss")


def test_trust_not_naming_the_caller(root):
    named = make_user(root)
    u = make_user(root, policy=allow("sts:AssumeRole", "*"))
    role = make_role(root, trust=trust_policy(named.arn))
    with assume_denied(u, role["Arn"]):
        u.sts.assume_role(RoleArn=role["Arn"], RoleSessionName="ss")
    assume_role(named, role["Arn"])


def test_root_user_cannot_assume_roles(root):
    # Even a role that trusts the account: AWS refuses role sessions for the
    # root user outright.
    role = make_role(root, trust=trust_policy(ROOT_ARN))
    with raises_aws("AccessDenied", "Roles may not be assumed by root accounts.", status=403):
        root.sts.assume_role(RoleArn=role["Arn"], RoleSessionName="by-root")


def test_identity_deny_blocks_a_trusted_user(root):
    u = make_user(root, policy=deny("sts:AssumeRole"))
    role = make_role(root, trust=trust_policy(u.arn))
    with raises_aws("AccessDenied",
                    startswith=denied_msg(u.arn, "sts:AssumeRole", role["Arn"], None),
                    status=403):
        u.sts.assume_role(RoleArn=role["Arn"], RoleSessionName="ss")


def test_deny_in_trust_policy(root):
    u = make_user(root, policy=allow("sts:AssumeRole"))
    v = make_user(root, policy=allow("sts:AssumeRole"))
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ROOT_ARN}, "Action": "sts:AssumeRole"},
        {"Effect": "Deny", "Principal": {"AWS": u.arn}, "Action": "sts:AssumeRole"},
    ]}
    role = make_role(root, trust=trust)
    with raises_aws("AccessDenied",
                    startswith=denied_msg(u.arn, "sts:AssumeRole", role["Arn"], None),
                    status=403):
        u.sts.assume_role(RoleArn=role["Arn"], RoleSessionName="ss")
    assume_role(v, role["Arn"])


def test_unknown_role_is_access_denied(root):
    u = make_user(root, policy=allow("sts:AssumeRole", "*"))
    missing = role_arn(unique("no-such-role"))
    with assume_denied(u, missing):
        u.sts.assume_role(RoleArn=missing, RoleSessionName="ss")


def test_access_denied_wire(authz_server, root):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(ROOT_ARN))
    r = authz_server.query("sts", "AssumeRole",
                           {"RoleArn": role["Arn"], "RoleSessionName": "wire"},
                           access_key=u.access_key, secret_key=u.secret_key)
    assert r.status == 403, r
    assert r.xml.tag == f"{{{STS_NS}}}ErrorResponse", r.xml.tag
    assert r.xml_text("Error/Type") == "Sender"
    assert r.xml_text("Error/Code") == "AccessDenied"
    assert r.xml_text("Error/Message") == denied_msg(u.arn, "sts:AssumeRole", role["Arn"], None)


@pytest.mark.parametrize("external_id, ok", [("xid-7f3a", True), ("xid-wrong", False),
                                             (None, False)])
def test_external_id_condition(root, external_id, ok):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(
        u.arn, condition={"StringEquals": {"sts:ExternalId": "xid-7f3a"}}))
    kw = {} if external_id is None else {"ExternalId": external_id}
    if ok:
        s = assume_role(u, role["Arn"], "ext", **kw)
        assert identity(s)["Arn"] == session_arn(role["RoleName"], "ext")
    else:
        with assume_denied(u, role["Arn"]):
            u.sts.assume_role(RoleArn=role["Arn"], RoleSessionName="ext", **kw)


def test_role_session_name_condition(root):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(
        u.arn, condition={"StringLike": {"sts:RoleSessionName": "${aws:username}"}}))
    assume_role(u, role["Arn"], u.name)
    with assume_denied(u, role["Arn"]):
        u.sts.assume_role(RoleArn=role["Arn"], RoleSessionName="someone-else")


# ---------------------------------------------------------------------------
# What a session may do


def test_session_acts_with_the_role_policies(root, key):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn), policy=allow("kms:DescribeKey", key["Arn"]))
    s = assume_role(u, role["Arn"], "reader")
    assert s.kms.describe_key(KeyId=key["Arn"])["KeyMetadata"]["KeyId"] == key["KeyId"]
    with raises_aws("AccessDeniedException",
                    denied_msg(s.arn, "kms:Encrypt", key["Arn"], "identity")):
        s.kms.encrypt(KeyId=key["Arn"], Plaintext=b"x")


def test_role_policy_changes_reach_live_sessions(root):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn))
    s = assume_role(u, role["Arn"], "live")
    with raises_aws("AccessDenied", denied_msg(s.arn, "iam:GetRole", role["Arn"]), status=403):
        s.iam.get_role(RoleName=role["RoleName"])
    root.iam.put_role_policy(RoleName=role["RoleName"], PolicyName="p",
                             PolicyDocument=policy_doc(allow("iam:GetRole", role["Arn"])))
    assert s.iam.get_role(RoleName=role["RoleName"])["Role"]["RoleId"] == role["RoleId"]
    root.iam.delete_role_policy(RoleName=role["RoleName"], PolicyName="p")
    with raises_aws("AccessDenied", denied_msg(s.arn, "iam:GetRole", role["Arn"]), status=403):
        s.iam.get_role(RoleName=role["RoleName"])


def test_session_policy_restricts(root, key):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn),
                     policy=allow(["kms:Encrypt", "kms:DescribeKey"], key["Arn"]))
    s = assume_role(u, role["Arn"], "narrow",
                    Policy=policy_doc(allow("kms:DescribeKey", key["Arn"])))
    size = s.response["PackedPolicySize"]
    assert isinstance(size, int) and 0 < size <= 100, size
    s.kms.describe_key(KeyId=key["Arn"])
    with raises_aws("AccessDeniedException",
                    denied_msg(s.arn, "kms:Encrypt", key["Arn"], "session")):
        s.kms.encrypt(KeyId=key["Arn"], Plaintext=b"x")


def test_session_policy_cannot_widen(root, key):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn), policy=allow("kms:DescribeKey", key["Arn"]))
    s = assume_role(u, role["Arn"], "wide", Policy=policy_doc(allow("kms:*")))
    s.kms.describe_key(KeyId=key["Arn"])
    with raises_aws("AccessDeniedException",
                    denied_msg(s.arn, "kms:Encrypt", key["Arn"], "identity")):
        s.kms.encrypt(KeyId=key["Arn"], Plaintext=b"x")


def test_session_policy_explicit_deny(root, key):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn), policy=allow("kms:*", key["Arn"]))
    s = assume_role(u, role["Arn"], "denied",
                    Policy=policy_doc(allow("kms:*"), deny("kms:Encrypt")))
    s.kms.describe_key(KeyId=key["Arn"])
    with raises_aws("AccessDeniedException",
                    denied_msg(s.arn, "kms:Encrypt", key["Arn"], "explicit-session")):
        s.kms.encrypt(KeyId=key["Arn"], Plaintext=b"x")


def test_session_policy_arns(root, key):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn),
                     policy=allow(["kms:Encrypt", "kms:DescribeKey"], key["Arn"]))
    managed = make_managed_policy(root, allow("kms:DescribeKey", key["Arn"]))
    s = assume_role(u, role["Arn"], "arns", PolicyArns=[{"arn": managed["Arn"]}])
    s.kms.describe_key(KeyId=key["Arn"])
    with raises_aws("AccessDeniedException",
                    denied_msg(s.arn, "kms:Encrypt", key["Arn"], "session")):
        s.kms.encrypt(KeyId=key["Arn"], Plaintext=b"x")


def test_session_policy_malformed(root):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn))
    with raises_aws("MalformedPolicyDocument", status=400):
        u.sts.assume_role(RoleArn=role["Arn"], RoleSessionName="bad", Policy="{not json")


def test_no_packed_policy_size_without_session_policy(root):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn))
    assert "PackedPolicySize" not in assume_role(u, role["Arn"]).response


# ---------------------------------------------------------------------------
# Session tags and source identity


def _tag_gated_role(root, u, trust_actions=("sts:AssumeRole", "sts:TagSession"), tags=None):
    role = make_role(root, trust=trust_policy(u.arn, actions=list(trust_actions)), tags=tags)
    root.iam.put_role_policy(RoleName=role["RoleName"], PolicyName="by-tag",
                             PolicyDocument=policy_doc(allow(
                                 "iam:GetRole", role["Arn"],
                                 condition={"StringEquals": {"aws:PrincipalTag/team": "blue"}})))
    return role


def test_session_tags_become_principal_tags(root):
    u = make_user(root)
    role = _tag_gated_role(root, u)
    blue = assume_role(u, role["Arn"], "blue", Tags=[{"Key": "team", "Value": "blue"}])
    assert blue.iam.get_role(RoleName=role["RoleName"])["Role"]["RoleId"] == role["RoleId"]
    red = assume_role(u, role["Arn"], "red", Tags=[{"Key": "team", "Value": "red"}])
    with raises_aws("AccessDenied", denied_msg(red.arn, "iam:GetRole", role["Arn"]), status=403):
        red.iam.get_role(RoleName=role["RoleName"])
    untagged = assume_role(u, role["Arn"], "none")
    with raises_aws("AccessDenied", denied_msg(untagged.arn, "iam:GetRole", role["Arn"]),
                    status=403):
        untagged.iam.get_role(RoleName=role["RoleName"])


def test_role_tags_are_principal_tags_and_session_tags_win(root):
    u = make_user(root)
    role = _tag_gated_role(root, u, tags={"team": "blue"})
    plain = assume_role(u, role["Arn"], "plain")
    plain.iam.get_role(RoleName=role["RoleName"])
    red = assume_role(u, role["Arn"], "red", Tags=[{"Key": "team", "Value": "red"}])
    with raises_aws("AccessDenied", denied_msg(red.arn, "iam:GetRole", role["Arn"]), status=403):
        red.iam.get_role(RoleName=role["RoleName"])


def test_session_tags_need_tag_session_permission(root):
    u = make_user(root)
    role = _tag_gated_role(root, u, trust_actions=("sts:AssumeRole",))
    with assume_denied(u, role["Arn"], "sts:TagSession"):
        u.sts.assume_role(RoleArn=role["Arn"], RoleSessionName="tt",
                          Tags=[{"Key": "team", "Value": "blue"}])
    assume_role(u, role["Arn"], "no-tags")


def test_source_identity(root):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn,
                                              actions=["sts:AssumeRole", "sts:SetSourceIdentity"]))
    s = assume_role(u, role["Arn"], "si", SourceIdentity="alice-laptop")
    assert s.response["SourceIdentity"] == "alice-laptop"


def test_source_identity_needs_permission(root):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn))
    with assume_denied(u, role["Arn"], "sts:SetSourceIdentity"):
        u.sts.assume_role(RoleArn=role["Arn"], RoleSessionName="si",
                          SourceIdentity="alice-laptop")


# ---------------------------------------------------------------------------
# Durations and session names


def test_duration_minimum(root):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn))
    s = assume_role(u, role["Arn"], "short", DurationSeconds=900)
    assert_expires_in(s.response["Credentials"]["Expiration"], 900)


@pytest.mark.parametrize("seconds, msg", [
    (899, "Member must have value greater than or equal to 900"),
    (43201, "Member must have value less than or equal to 43200"),
])
def test_duration_out_of_range(root, seconds, msg):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn), max_session=43200)
    with raises_aws("ValidationError",
                    f"1 validation error detected: Value '{seconds}' at 'durationSeconds' "
                    f"failed to satisfy constraint: {msg}"):
        u.sts.assume_role(RoleArn=role["Arn"], RoleSessionName="dd", DurationSeconds=seconds)


def test_duration_above_max_session_duration(root):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn))
    with raises_aws("ValidationError", MAX_SESSION_MSG):
        u.sts.assume_role(RoleArn=role["Arn"], RoleSessionName="dd", DurationSeconds=3601)
    root.iam.update_role(RoleName=role["RoleName"], MaxSessionDuration=7200)
    s = assume_role(u, role["Arn"], "dd", DurationSeconds=7200)
    assert_expires_in(s.response["Credentials"]["Expiration"], 7200)
    with raises_aws("ValidationError", MAX_SESSION_MSG):
        u.sts.assume_role(RoleArn=role["Arn"], RoleSessionName="dd", DurationSeconds=7201)


@pytest.mark.parametrize("name, msg", [
    ("a", "Member must have length greater than or equal to 2"),
    ("x" * 65, "Member must have length less than or equal to 64"),
    ("bad name!", "Member must satisfy regular expression pattern: [\\w+=,.@-]*"),
])
def test_role_session_name_validation(root, name, msg):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn))
    with raises_aws("ValidationError",
                    f"1 validation error detected: Value '{name}' at 'roleSessionName' failed to "
                    f"satisfy constraint: {msg}"):
        u.sts.assume_role(RoleArn=role["Arn"], RoleSessionName=name)


@pytest.mark.parametrize("name", ["ab", "s" * 64, "a+b=c,d.e@f-g_h"])
def test_role_session_name_valid_edges(root, name):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn))
    s = assume_role(u, role["Arn"], name)
    assert identity(s)["Arn"] == session_arn(role["RoleName"], name)


# ---------------------------------------------------------------------------
# Role chaining


def _chain(root):
    u = make_user(root)
    first = make_role(root, trust=trust_policy(u.arn))
    second = make_role(root, trust=trust_policy(first["Arn"]), max_session=43200)
    return u, first, second


def test_role_chaining(root):
    u, first, second = _chain(root)
    s1 = assume_role(u, first["Arn"], "hop1")
    # The second role's trust names the first role: no identity policy needed.
    s2 = assume_role(s1, second["Arn"], "hop2")
    assert identity(s2) == {"UserId": f"{second['RoleId']}:hop2", "Account": ACCOUNT,
                            "Arn": session_arn(second["RoleName"], "hop2")}
    assert_expires_in(s2.response["Credentials"]["Expiration"], 3600)
    s3 = assume_role(s1, second["Arn"], "hop2b", DurationSeconds=3600)
    assert_expires_in(s3.response["Credentials"]["Expiration"], 3600)


def test_role_chaining_one_hour_limit(root):
    u, first, second = _chain(root)
    s1 = assume_role(u, first["Arn"], "hop1")
    with raises_aws("ValidationError", ROLE_CHAINING_MSG):
        s1.sts.assume_role(RoleArn=second["Arn"], RoleSessionName="hop2", DurationSeconds=3601)
    # The same duration is fine for a user (not chaining) on a role that allows it.
    direct = make_role(root, trust=trust_policy(u.arn), max_session=43200)
    s = assume_role(u, direct["Arn"], "long", DurationSeconds=3601)
    assert_expires_in(s.response["Credentials"]["Expiration"], 3601)


def test_a_role_does_not_trust_itself(root):
    u, first, _ = _chain(root)
    s1 = assume_role(u, first["Arn"], "again")
    with assume_denied(s1, first["Arn"]):
        s1.sts.assume_role(RoleArn=first["Arn"], RoleSessionName="again2")


def test_trust_naming_the_role_covers_only_its_sessions(root):
    u, first, second = _chain(root)
    other = make_role(root, trust=trust_policy(u.arn), policy=allow("sts:AssumeRole", "*"))
    s = assume_role(u, other["Arn"], "other")
    with assume_denied(s, second["Arn"]):
        s.sts.assume_role(RoleArn=second["Arn"], RoleSessionName="xx")


# ---------------------------------------------------------------------------
# Across accounts


@pytest.fixture(scope="module")
def role_in_b(account_b):
    """A role in account B that trusts account A, and may read itself."""
    role = make_role(account_b, trust=trust_policy(ROOT_ARN))
    account_b.iam.put_role_policy(RoleName=role["RoleName"], PolicyName="self",
                                  PolicyDocument=policy_doc(allow("iam:GetRole", role["Arn"])))
    return role


def test_cross_account_assume_role(root, role_in_b):
    assert role_in_b["Arn"] == f"arn:aws:iam::{ACCOUNT_B}:role/{role_in_b['RoleName']}"
    u = make_user(root, policy=allow("sts:AssumeRole", role_in_b["Arn"]))
    s = assume_role(u, role_in_b["Arn"], "from-a")
    assert s.response["AssumedRoleUser"] == {
        "Arn": session_arn(role_in_b["RoleName"], "from-a", ACCOUNT_B),
        "AssumedRoleId": f"{role_in_b['RoleId']}:from-a"}
    assert identity(s) == {"UserId": f"{role_in_b['RoleId']}:from-a", "Account": ACCOUNT_B,
                           "Arn": session_arn(role_in_b["RoleName"], "from-a", ACCOUNT_B)}
    # The session works inside account B with the role's policies.
    got = s.iam.get_role(RoleName=role_in_b["RoleName"])["Role"]
    assert got["Arn"] == role_in_b["Arn"]


def test_cross_account_needs_the_identity_policy(root, role_in_b):
    u = make_user(root)
    with assume_denied(u, role_in_b["Arn"]):
        u.sts.assume_role(RoleArn=role_in_b["Arn"], RoleSessionName="ss")


def test_cross_account_trust_naming_the_user_still_needs_identity(root, account_b):
    u = make_user(root)
    role = make_role(account_b, trust=trust_policy(u.arn))
    with assume_denied(u, role["Arn"]):
        u.sts.assume_role(RoleArn=role["Arn"], RoleSessionName="ss")
    root.iam.put_user_policy(UserName=u.name, PolicyName="p",
                             PolicyDocument=policy_doc(allow("sts:AssumeRole", role["Arn"])))
    assert identity(assume_role(u, role["Arn"]))["Account"] == ACCOUNT_B


def test_cross_account_trust_not_naming_a(root, account_b):
    role = make_role(account_b, trust=trust_policy(f"arn:aws:iam::{ACCOUNT_B}:root"))
    u = make_user(root, policy=allow("sts:AssumeRole", "*"))
    with assume_denied(u, role["Arn"]):
        u.sts.assume_role(RoleArn=role["Arn"], RoleSessionName="ss")


# ---------------------------------------------------------------------------
# Temporary credentials


@pytest.fixture
def session(root):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn))
    return assume_role(u, role["Arn"], "temp")


def test_temporary_key_without_token_is_refused(session):
    bare = session.with_credentials(drop_token=True)
    with raises_aws("InvalidClientTokenId", INVALID_TOKEN_MSG, status=403):
        bare.sts.get_caller_identity()
    with raises_aws("UnrecognizedClientException", INVALID_TOKEN_MSG, status=400):
        bare.kms.list_keys()


@pytest.mark.parametrize("kind", ["garbage", "tampered", "truncated"])
def test_bad_session_token_is_refused(session, kind):
    tok = session.session_token
    if kind == "garbage":
        bad = "FwoGZXIvYXdzEJr//////////wEaDGarbageGarbageGarbage"
    elif kind == "tampered":
        mid = len(tok) // 2
        bad = tok[:mid] + ("A" if tok[mid] != "A" else "B") + tok[mid + 1:]
    else:
        bad = tok[:-8]
    c = session.with_credentials(session_token=bad)
    with raises_aws("InvalidClientTokenId", INVALID_TOKEN_MSG, status=403):
        c.sts.get_caller_identity()
    with raises_aws("UnrecognizedClientException", INVALID_TOKEN_MSG, status=400):
        c.kms.list_keys()
    assert identity(session)["Arn"] == session.arn


def test_token_of_another_session_is_refused(root, session):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn))
    other = assume_role(u, role["Arn"], "other")
    mixed = session.with_credentials(session_token=other.session_token)
    with raises_aws("InvalidClientTokenId", INVALID_TOKEN_MSG, status=403):
        mixed.sts.get_caller_identity()


def test_wrong_secret_for_temporary_key(session):
    c = session.with_credentials(secret_key="x" * 40)
    with raises_aws("SignatureDoesNotMatch", BAD_SIGNATURE_MSG, status=403):
        c.sts.get_caller_identity()


def test_wrong_secret_and_unknown_key_long_term(root):
    u = make_user(root)
    with raises_aws("SignatureDoesNotMatch", BAD_SIGNATURE_MSG, status=403):
        u.with_credentials(secret_key="y" * 40).sts.get_caller_identity()
    ghost = Caller(root.server, "AKIA" + "Z" * 16, "z" * 40)
    with raises_aws("InvalidClientTokenId", INVALID_TOKEN_MSG, status=403):
        ghost.sts.get_caller_identity()
    with raises_aws("InvalidClientTokenId", INVALID_TOKEN_MSG, status=403):
        ghost.iam.list_users()


# ---------------------------------------------------------------------------
# GetSessionToken


def _session_token(caller, **kw):
    resp = caller.sts.get_session_token(**kw)
    cr = resp["Credentials"]
    return Caller(caller.server, cr["AccessKeyId"], cr["SecretAccessKey"], cr["SessionToken"],
                  arn=caller.arn, account=caller.account, user_id=caller.user_id,
                  name=caller.name, response=resp)


def test_get_session_token_acts_as_the_user(root, key):
    u = make_user(root, policy=allow("kms:DescribeKey", key["Arn"]))
    t = _session_token(u)
    cr = t.response["Credentials"]
    assert ASIA_RE.match(cr["AccessKeyId"]), cr["AccessKeyId"]
    assert len(cr["SecretAccessKey"]) == 40
    assert_expires_in(cr["Expiration"], 43200)
    assert identity(t) == {"UserId": u.user_id, "Account": ACCOUNT, "Arn": u.arn}
    t.kms.describe_key(KeyId=key["Arn"])
    with raises_aws("AccessDeniedException",
                    denied_msg(u.arn, "kms:Encrypt", key["Arn"], "identity")):
        t.kms.encrypt(KeyId=key["Arn"], Plaintext=b"x")


def test_get_session_token_durations(root):
    u = make_user(root)
    t = _session_token(u, DurationSeconds=900)
    assert_expires_in(t.response["Credentials"]["Expiration"], 900)
    with raises_aws("ValidationError",
                    "1 validation error detected: Value '899' at 'durationSeconds' failed to "
                    "satisfy constraint: Member must have value greater than or equal to 900"):
        u.sts.get_session_token(DurationSeconds=899)
    with raises_aws("ValidationError",
                    "1 validation error detected: Value '129601' at 'durationSeconds' failed to "
                    "satisfy constraint: Member must have value less than or equal to 129600"):
        u.sts.get_session_token(DurationSeconds=129601)


def test_get_session_token_not_with_session_credentials(session):
    with raises_aws("AccessDenied", "Cannot call GetSessionToken with session credentials",
                    status=403):
        session.sts.get_session_token()


def test_get_session_token_then_assume_role(root):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn))
    t = _session_token(u)
    s = assume_role(t, role["Arn"], "via-gst")
    assert identity(s)["Arn"] == session_arn(role["RoleName"], "via-gst")


def test_get_session_token_for_root(root):
    # Root sessions are capped at one hour (a longer request gets one hour).
    t = _session_token(root)
    assert ASIA_RE.match(t.access_key), t.access_key
    assert_expires_in(t.response["Credentials"]["Expiration"], 3600)
    assert identity(t) == {"UserId": ACCOUNT, "Account": ACCOUNT, "Arn": ROOT_ARN}
    t = _session_token(root, DurationSeconds=7200)
    assert_expires_in(t.response["Credentials"]["Expiration"], 3600)


# ---------------------------------------------------------------------------
# AWS CLI: the walk of docs/ARCHITECTURE.md 2


def test_cli_assume_role_and_caller_identity(authz_server, root):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn))
    rc, out, err = authz_server.cli("sts", "assume-role", "--role-arn", role["Arn"],
                                    "--role-session-name", "cli-session", creds=u)
    assert rc == 0, err
    cr = out["Credentials"]
    assert ASIA_RE.match(cr["AccessKeyId"])
    assert out["AssumedRoleUser"]["Arn"] == session_arn(role["RoleName"], "cli-session")
    s = Caller(authz_server, cr["AccessKeyId"], cr["SecretAccessKey"], cr["SessionToken"])
    rc, out, err = authz_server.cli("sts", "get-caller-identity", creds=s)
    assert rc == 0, err
    assert out == {"UserId": f"{role['RoleId']}:cli-session", "Account": ACCOUNT,
                   "Arn": session_arn(role["RoleName"], "cli-session")}
    rc, out, err = authz_server.cli("sts", "assume-role", "--role-arn", role["Arn"],
                                    "--role-session-name", "xx", creds=s)
    assert rc == 254, (rc, out, err)
    assert ("An error occurred (AccessDenied) when calling the AssumeRole operation: "
            + denied_msg(session_arn(role["RoleName"], "cli-session"), "sts:AssumeRole",
                         role["Arn"], None)) in err, err


def test_expiration_is_iso8601_on_the_wire(authz_server, root):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn))
    r = authz_server.query("sts", "AssumeRole", {"RoleArn": role["Arn"],
                                                 "RoleSessionName": "iso"},
                           access_key=u.access_key, secret_key=u.secret_key)
    assert r.status == 200, r
    exp = r.xml_text("AssumeRoleResult/Credentials/Expiration")
    assert exp and exp.endswith("Z"), exp
    parsed = datetime.datetime.strptime(exp[:19], "%Y-%m-%dT%H:%M:%S").replace(
        tzinfo=datetime.timezone.utc)
    assert abs((parsed - utcnow()).total_seconds() - 3600) < 120


EXPIRED_TOKEN_MSG = "The security token included in the request is expired"


def test_session_credentials_expire(tresor_factory):
    """Temporary credentials stop working once their expiry passes: the
    server restarts with its business clock 16 minutes ahead, past a 900 s
    session; the same credentials then get ExpiredToken (STS, query
    protocol) and ExpiredTokenException (KMS, JSON protocol), while a
    permanent key keeps working."""
    srv = tresor_factory("expiry")
    admin = srv.root_user
    u = make_user(admin, policy=allow("sts:AssumeRole"))
    role = make_role(admin, trust=trust_policy(u.arn), policy=allow("kms:ListKeys"))
    s = assume_role(u, role["Arn"], DurationSeconds=900)
    assert identity(s)["Arn"] == session_arn(role["RoleName"], s.name)

    srv.restart({"TRESOR_CLOCK_OFFSET": str(16 * 60)})
    s = Caller(srv, s.access_key, s.secret_key, s.session_token)
    with raises_aws("ExpiredToken", EXPIRED_TOKEN_MSG, status=400):
        s.sts.get_caller_identity()
    with raises_aws("ExpiredTokenException", EXPIRED_TOKEN_MSG):
        s.kms.list_keys()
    still = Caller(srv, u.access_key, u.secret_key)
    assert identity(still)["Arn"] == u.arn
