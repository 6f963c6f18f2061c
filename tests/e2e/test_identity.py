"""
test_identity.py -- identity, session and protocol rules an attacker would
try to bend (issue 13), each driven against a real `tresor serve` with
boto3 (or a hand-made request where boto3 cannot go wrong on purpose):

  - the longest IAM names: a user at the maximum path (512) and name (64)
    authenticates, is authorized, and is named whole in replies and in
    AccessDenied messages;
  - SigV4: every x-amz-* header sent must be signed (a captured DescribeKey
    does not replay as ScheduleKeyDeletion), except the two AWS lets a
    client add after signing (x-amz-security-token; x-amz-content-sha256,
    whose value is checked against the body anyway);
  - the request log: values from the request are escaped, and there is a
    JSON log format;
  - session tags: an inherited transitive tag cannot be set again in a
    chained AssumeRole, whatever the case of its key;
  - SourceIdentity: in the request context of the session's requests
    (aws:SourceIdentity) and of chained AssumeRole calls
    (sts:SourceIdentity); a chained AssumeRole cannot change it;
  - GetSessionToken credentials cannot call IAM (no MFA here);
  - principals named by unique id (AIDA..., AROA...) match;
  - principals are bound by identity, not by name: a user or role deleted
    and created again under the same name does not inherit what key
    policies, resource policies, trust policies, grants and sessions gave
    the old one; a renamed user keeps it;
  - dev mode: a key tresor knew (deleted, or an expired session) is refused
    as AWS would refuse it, never taken as the account root.
"""

import datetime
import http.client
import json
import sqlite3
import time
import xml.etree.ElementTree as ET

import pytest
from botocore.exceptions import ClientError

from tresor_e2e import (sqlite_only,
    ACCOUNT, IAM_NS, INVALID_TOKEN_MSG, Caller, allow, assume_role, deny, denied_msg, make_role,
    make_user, policy_doc, raises_aws, trust_policy, unique,
)
from test_dev import DEV_ACCOUNT, DevServer

GSV = "secretsmanager:GetSecretValue"
TRANSITIVE_MSG = ("One of the specified transitive tag keys can't be set because it conflicts "
                  "with a transitive tag key from the calling session.")
SOURCE_IDENTITY_MSG = "The source identity is already set for this assume role session"


def send(srv, headers, payload, method="POST", path="/"):
    """One HTTP request as given (headers already signed, or not)."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        conn.request(method, path, body=payload, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
    finally:
        conn.close()


def delete_user_fully(admin, name):
    """DeleteUser after what AWS makes you remove first."""
    iam = admin.iam
    for k in iam.list_access_keys(UserName=name)["AccessKeyMetadata"]:
        iam.delete_access_key(UserName=name, AccessKeyId=k["AccessKeyId"])
    for p in iam.list_user_policies(UserName=name)["PolicyNames"]:
        iam.delete_user_policy(UserName=name, PolicyName=p)
    for p in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]:
        iam.detach_user_policy(UserName=name, PolicyArn=p["PolicyArn"])
    iam.delete_user(UserName=name)


def delete_role_fully(admin, name):
    iam = admin.iam
    for p in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        iam.delete_role_policy(RoleName=name, PolicyName=p)
    for p in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        iam.detach_role_policy(RoleName=name, PolicyArn=p["PolicyArn"])
    iam.delete_role(RoleName=name)


def aws_principals(policy_text):
    """Every AWS principal string of a policy document, in order."""
    out = []
    for st in json.loads(policy_text)["Statement"]:
        p = st.get("Principal") or st.get("NotPrincipal")
        v = p.get("AWS") if isinstance(p, dict) else None
        out += v if isinstance(v, list) else [v] if v else []
    return out


# ---------------------------------------------------------------------------
# The longest names IAM allows


def test_user_at_maximum_path_and_name_length(authz_server, root):
    path = "/" + "p" * 510 + "/"
    name = unique("n")
    name = name + "x" * (64 - len(name))
    assert len(path) == 512 and len(name) == 64
    key = root.kms.create_key()["KeyMetadata"]
    u = make_user(root, name, path=path, policy=[
        allow(["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"]),
        allow(["secretsmanager:CreateSecret", GSV]),
        allow("iam:GetUser"),
        deny("kms:ScheduleKeyDeletion")])
    arn = f"arn:aws:iam::{ACCOUNT}:user{path}{name}"
    assert len(arn) == 606
    assert u.arn == arn

    ident = u.sts.get_caller_identity()
    assert ident["Arn"] == arn and ident["UserId"] == u.user_id
    assert u.iam.get_user()["User"]["Arn"] == arn
    blob = u.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"long")["CiphertextBlob"]
    assert u.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"long"
    sm = u.client("secretsmanager")
    s = sm.create_secret(Name=unique("long"), SecretString="v")["ARN"]
    assert sm.get_secret_value(SecretId=s)["SecretString"] == "v"

    with raises_aws("AccessDeniedException",
                    denied_msg(arn, "kms:ScheduleKeyDeletion", key["Arn"], "explicit-identity")):
        u.kms.schedule_key_deletion(KeyId=key["Arn"])
    with raises_aws("AccessDenied", denied_msg(arn, "iam:ListUsers", f"arn:aws:iam::{ACCOUNT}:user/"),
                    status=403):
        u.iam.list_users()

    # Named in a key policy and in a resource policy, it matches.
    k2 = root.kms.create_key(Policy=policy_doc(
        allow("kms:*", principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
        allow("kms:Encrypt", principal={"AWS": arn})))["KeyMetadata"]
    u.kms.encrypt(KeyId=k2["KeyId"], Plaintext=b"x")
    s2 = root.client("secretsmanager").create_secret(Name=unique("long2"), SecretString="w")["ARN"]
    root.client("secretsmanager").put_resource_policy(SecretId=s2, ResourcePolicy=policy_doc(
        deny(GSV, principal={"AWS": arn})))
    with raises_aws("AccessDeniedException",
                    denied_msg(arn, GSV, s2, "explicit-resource")):
        sm.get_secret_value(SecretId=s2)


# ---------------------------------------------------------------------------
# SigV4: x-amz-* headers must be signed


def _unsigned_target_request(srv, signed_target, sent_target, body):
    headers, payload = srv.build_request(signed_target, body)
    if signed_target is None:
        headers["X-Amz-Target"] = sent_target
    return headers, payload


def test_unsigned_x_amz_target_is_refused(authz_server, root):
    key = root.kms.create_key()["KeyMetadata"]
    body = {"KeyId": key["KeyId"]}
    # Signed without X-Amz-Target, sent with one: a captured DescribeKey
    # replayed as ScheduleKeyDeletion.
    headers, payload = _unsigned_target_request(authz_server, None,
                                                "TrentService.ScheduleKeyDeletion", body)
    auth = headers["Authorization"]
    assert "x-amz-target" not in auth.split("SignedHeaders=")[1].split(",")[0]
    status, _, raw = send(authz_server, headers, payload)
    reply = json.loads(raw)
    assert status == 400, raw
    assert reply["__type"] == "InvalidSignatureException"
    assert reply["message"] == "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization."
    assert root.kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_unsigned_x_amz_header_query_protocol(authz_server, root):
    u = make_user(root, policy=allow("iam:*"))
    headers, payload = authz_server.build_request(
        None, "Action=ListUsers&Version=2010-05-08", service="iam",
        access_key=u.access_key, secret_key=u.secret_key,
        headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    headers["x-amz-meta-anything"] = "1"
    status, _, raw = send(authz_server, headers, payload)
    assert status == 403, raw
    err = ET.fromstring(raw).find(f"{{{IAM_NS}}}Error")
    assert err.find(f"{{{IAM_NS}}}Code").text == "SignatureDoesNotMatch"
    assert err.find(f"{{{IAM_NS}}}Message").text == (
        "'x-amz-meta-anything' must be a 'SignedHeader' in the AWS Authorization.")


def test_signed_x_amz_headers_and_the_two_exceptions(authz_server, root):
    # Every header boto3 sends is signed: it works.
    assert root.kms.list_keys()["Keys"] is not None
    # X-Amz-Security-Token added after signing (AWS's test suite,
    # post-sts-header-after): accepted.
    u = make_user(root, policy=allow("kms:ListKeys"))
    cr = u.sts.get_session_token()["Credentials"]
    headers, payload = authz_server.build_request(
        "TrentService.ListKeys", b"{}", access_key=cr["AccessKeyId"],
        secret_key=cr["SecretAccessKey"])
    headers["X-Amz-Security-Token"] = cr["SessionToken"]
    status, _, raw = send(authz_server, headers, payload)
    assert status == 200, raw
    # X-Amz-Content-SHA256 unsigned but equal to the body's hash: accepted;
    # a wrong one is refused as before.
    headers, payload = authz_server.build_request("TrentService.ListKeys", b"{}")
    headers["X-Amz-Content-SHA256"] = (
        "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a")
    assert send(authz_server, headers, payload)[0] == 200
    headers["X-Amz-Content-SHA256"] = "0" * 64
    status, _, raw = send(authz_server, headers, payload)
    assert status == 400 and json.loads(raw)["__type"] == "InvalidSignatureException"
    # The AWS CLI signs what it sends.
    rc, out, err = authz_server.cli("kms", "list-keys")
    assert rc == 0, err


# ---------------------------------------------------------------------------
# The request log


def _stderr(srv):
    time.sleep(0.2)
    raw = srv.stderr_text()
    assert b"\x1b" not in raw                  # no terminal escape reaches the log
    return raw.decode("utf-8")


def _log_lines(srv, marker):
    return [ln for ln in _stderr(srv).splitlines() if marker in ln]


def test_request_log_escapes_request_values(tresor_factory):
    srv = tresor_factory("logesc")
    marker = unique("mk")
    forged = f"TrentService.{marker} arn:aws:iam::{ACCOUNT}:root 200 1us \x1b[31mred\x1b[0m"
    headers = {"Host": f"127.0.0.1:{srv.port}", "X-Amz-Target": forged,
               "Content-Type": "application/x-amz-json-1.1"}
    status, _, _ = send(srv, headers, b"{}")
    assert status in (400, 403)
    lines = _log_lines(srv, marker)
    assert len(lines) == 1, lines
    fields = lines[0].split(" ")
    # time method path target principal status latency request-id error
    assert fields[1] == "POST" and fields[2] == "/"
    assert fields[3].startswith(f"TrentService.{marker}\\x20arn:aws:iam::"), fields
    assert "\\x1b[31mred\\x1b[0m" in fields[3]
    assert fields[4] == "-"
    assert fields[5] == str(status)

    # A query-protocol Action with a line break does not start a line.
    marker2 = unique("mk")
    r = srv.query("sts", f"GetCallerIdentity\n2099-01-01T00:00:00Z POST / {marker2} "
                  f"arn:aws:iam::{ACCOUNT}:root 200")
    assert r.status == 400
    lines = _log_lines(srv, marker2)
    assert len(lines) == 1 and lines[0].split(" ")[3].startswith("GetCallerIdentity\\x0a"), lines


def test_request_log_json_format(tresor_factory):
    srv = tresor_factory("logjson", env_extra={"TRESOR_LOG_FORMAT": "json"})
    marker = unique("mk")
    forged = f"TrentService.{marker} \"principal\":\"x\" \x1b[2J"
    headers = {"Host": f"127.0.0.1:{srv.port}", "X-Amz-Target": forged,
               "Content-Type": "application/x-amz-json-1.1"}
    status, _, _ = send(srv, headers, b"{}")
    srv.kms().list_keys()
    lines = _stderr(srv).splitlines()
    # Every line is one JSON object, the start-up messages included.
    records = [json.loads(ln) for ln in lines]
    forged_rec = [r for r in records if marker in (r.get("target") or "")]
    assert len(forged_rec) == 1, records
    rec = forged_rec[0]
    assert rec["target"] == forged
    assert rec["principal"] is None
    assert rec["status"] == status and rec["method"] == "POST" and rec["path"] == "/"
    assert set(rec) >= {"time", "method", "path", "target", "principal", "status", "latency_us",
                        "request_id", "error"}
    ok = [r for r in records if r.get("target") == "TrentService.ListKeys"]
    assert ok and ok[-1]["principal"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert ok[-1]["status"] == 200 and ok[-1]["error"] is None


# ---------------------------------------------------------------------------
# Session tags and SourceIdentity down a role chain


def _chain_roles(root, first_policy=(), second_policy=(), second_trust_actions=None):
    u = make_user(root, policy=allow(["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]))
    acts = ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]
    r1 = make_role(root, trust=trust_policy(u.arn, actions=acts),
                   policy=[allow(acts), *first_policy])
    r2 = make_role(root, trust=trust_policy(r1["Arn"], actions=second_trust_actions or acts),
                   policy=list(second_policy) or None)
    return u, r1, r2


@pytest.mark.parametrize("key", ["team", "Team", "TEAM"])
def test_transitive_tag_cannot_be_set_again(root, key):
    u, r1, r2 = _chain_roles(root, second_policy=[allow(
        "iam:GetRole", condition={"StringEquals": {"aws:PrincipalTag/Team": "blue"}})])
    s1 = assume_role(u, r1["Arn"], Tags=[{"Key": "Team", "Value": "blue"}],
                     TransitiveTagKeys=["Team"])
    with raises_aws("InvalidParameterValue", TRANSITIVE_MSG):
        s1.sts.assume_role(RoleArn=r2["Arn"], RoleSessionName="over",
                           Tags=[{"Key": key, "Value": "red"}])
    # Without the tag: it carries over, unchanged.
    s2 = assume_role(s1, r2["Arn"])
    s2.iam.get_role(RoleName=r2["RoleName"])


def test_transitive_tags_carried_need_tag_session(root):
    u, r1, r2 = _chain_roles(root, second_trust_actions=["sts:AssumeRole"])
    s1 = assume_role(u, r1["Arn"], Tags=[{"Key": "Team", "Value": "blue"}],
                     TransitiveTagKeys=["Team"])
    with raises_aws("AccessDenied", denied_msg(s1.arn, "sts:TagSession", r2["Arn"], None),
                    status=403):
        s1.sts.assume_role(RoleArn=r2["Arn"], RoleSessionName="carry")
    # A non-transitive tag is not carried: no sts:TagSession needed.
    s1b = assume_role(u, r1["Arn"], Tags=[{"Key": "Team", "Value": "blue"}])
    assume_role(s1b, r2["Arn"])


def test_source_identity_in_session_requests(root):
    u, r1, _ = _chain_roles(root, first_policy=[allow(
        "iam:GetRole", condition={"StringEquals": {"aws:SourceIdentity": "alice"}})])
    alice = assume_role(u, r1["Arn"], SourceIdentity="alice")
    alice.iam.get_role(RoleName=r1["RoleName"])
    bob = assume_role(u, r1["Arn"], SourceIdentity="bob")
    with raises_aws("AccessDenied", denied_msg(bob.arn, "iam:GetRole", r1["Arn"]), status=403):
        bob.iam.get_role(RoleName=r1["RoleName"])
    nobody = assume_role(u, r1["Arn"])
    with raises_aws("AccessDenied", denied_msg(nobody.arn, "iam:GetRole", r1["Arn"]),
                    status=403):
        nobody.iam.get_role(RoleName=r1["RoleName"])


def test_source_identity_cannot_change_down_the_chain(root):
    u, r1, r2 = _chain_roles(root)
    s1 = assume_role(u, r1["Arn"], SourceIdentity="alice")
    with raises_aws("ValidationError", SOURCE_IDENTITY_MSG):
        s1.sts.assume_role(RoleArn=r2["Arn"], RoleSessionName="change", SourceIdentity="mallory")
    same = assume_role(s1, r2["Arn"], SourceIdentity="alice")
    assert same.response["SourceIdentity"] == "alice"
    kept = assume_role(s1, r2["Arn"])
    assert kept.response["SourceIdentity"] == "alice"


def test_source_identity_in_chained_assume_role_context(root):
    acts = ["sts:AssumeRole", "sts:SetSourceIdentity"]
    u, r1, r2 = _chain_roles(root)
    gated = make_role(root, trust=trust_policy(
        r1["Arn"], actions=acts,
        condition={"StringEquals": {"sts:SourceIdentity": "alice", "aws:SourceIdentity": "alice"}}))
    s1 = assume_role(u, r1["Arn"], SourceIdentity="alice")
    s2 = assume_role(s1, gated["Arn"])
    assert s2.response["SourceIdentity"] == "alice"
    other = assume_role(u, r1["Arn"], SourceIdentity="bob")
    with raises_aws("AccessDenied", denied_msg(other.arn, "sts:AssumeRole", gated["Arn"], None),
                    status=403):
        other.sts.assume_role(RoleArn=gated["Arn"], RoleSessionName="xx")
    # Carrying a source identity is setting it: the next role's trust policy
    # must allow sts:SetSourceIdentity.
    plain = make_role(root, trust=trust_policy(r1["Arn"]))
    with raises_aws("AccessDenied", denied_msg(s1.arn, "sts:SetSourceIdentity", plain["Arn"], None),
                    status=403):
        s1.sts.assume_role(RoleArn=plain["Arn"], RoleSessionName="xx")


# ---------------------------------------------------------------------------
# GetSessionToken credentials and IAM


def test_get_session_token_credentials_cannot_call_iam(root):
    u = make_user(root, policy=[allow("iam:*"), allow("kms:ListKeys"), allow("sts:*")])
    cr = u.sts.get_session_token()["Credentials"]
    s = Caller(u.server, cr["AccessKeyId"], cr["SecretAccessKey"], cr["SessionToken"],
               arn=u.arn, account=ACCOUNT)
    with raises_aws("InvalidClientTokenId", INVALID_TOKEN_MSG, status=403):
        s.iam.list_users()
    with raises_aws("InvalidClientTokenId", INVALID_TOKEN_MSG, status=403):
        s.iam.get_user()
    # Everything else works: KMS, GetCallerIdentity, AssumeRole.
    s.kms.list_keys()
    assert s.sts.get_caller_identity()["Arn"] == u.arn
    role = make_role(root, trust=trust_policy(u.arn))
    assume_role(s, role["Arn"])
    with raises_aws("AccessDenied", "Cannot call GetSessionToken with session credentials",
                    status=403):
        s.sts.get_session_token()
    # The root user's session token too.
    rc = root.sts.get_session_token()["Credentials"]
    rs = Caller(root.server, rc["AccessKeyId"], rc["SecretAccessKey"], rc["SessionToken"])
    with raises_aws("InvalidClientTokenId", INVALID_TOKEN_MSG, status=403):
        rs.iam.list_users()
    # Role sessions call IAM as before.
    rs2 = assume_role(u, make_role(root, trust=trust_policy(u.arn),
                                   policy=allow("iam:ListUsers"))["Arn"])
    rs2.iam.list_users()


# ---------------------------------------------------------------------------
# Principals named by unique id


def test_key_policy_deny_by_user_unique_id(root):
    u = make_user(root, policy=allow("kms:*"))
    key = root.kms.create_key(Policy=policy_doc(
        allow("kms:*", principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
        deny("kms:Encrypt", principal={"AWS": u.user_id})))["KeyMetadata"]
    with raises_aws("AccessDeniedException",
                    denied_msg(u.arn, "kms:Encrypt", key["Arn"], "explicit-resource")):
        u.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    u.kms.describe_key(KeyId=key["KeyId"])
    other = make_user(root, policy=allow("kms:*"))
    other.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")


def test_resource_policy_allow_by_role_unique_id(root):
    u = make_user(root, policy=allow("sts:AssumeRole"))
    role = make_role(root, trust=trust_policy(u.arn))
    sm = root.client("secretsmanager")
    s = sm.create_secret(Name=unique("byid"), SecretString="v")["ARN"]
    sess = assume_role(u, role["Arn"])
    with raises_aws("AccessDeniedException"):
        sess.client("secretsmanager").get_secret_value(SecretId=s)
    sm.put_resource_policy(SecretId=s, ResourcePolicy=policy_doc(
        allow(GSV, principal={"AWS": role["RoleId"]})))
    assert sess.client("secretsmanager").get_secret_value(SecretId=s)["SecretString"] == "v"
    # ... and a user's id matches no session of anything.
    u2 = make_user(root)
    sm.put_resource_policy(SecretId=s, ResourcePolicy=policy_doc(
        allow(GSV, principal={"AWS": u2.user_id})))
    with raises_aws("AccessDeniedException"):
        sess.client("secretsmanager").get_secret_value(SecretId=s)


# ---------------------------------------------------------------------------
# Principals bound by identity, not by name


def test_recreated_user_does_not_inherit_key_policy_access(root):
    name = unique("kp-user")
    old = make_user(root, name)
    key = root.kms.create_key(Policy=policy_doc(
        allow("kms:*", principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
        allow("kms:Encrypt", principal={"AWS": old.arn})))["KeyMetadata"]
    old.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    # While the user exists, the policy reads as written.
    assert aws_principals(root.kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")
                          ["Policy"])[-1] == old.arn
    delete_user_fully(root, name)
    shown = root.kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
    assert aws_principals(shown)[-1] == old.user_id
    new = make_user(root, name)
    assert new.arn == old.arn and new.user_id != old.user_id
    with raises_aws("AccessDeniedException",
                    denied_msg(new.arn, "kms:Encrypt", key["Arn"], "identity")):
        new.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    shown = root.kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
    assert aws_principals(shown)[-1] == old.user_id
    # Naming the new user again binds the new one.
    root.kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=policy_doc(
        allow("kms:*", principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
        allow("kms:Encrypt", principal={"AWS": new.arn})))
    new.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")


def test_renamed_user_keeps_key_policy_access(root):
    name = unique("ren")
    u = make_user(root, name)
    key = root.kms.create_key(Policy=policy_doc(
        allow("kms:*", principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
        allow("kms:Encrypt", principal={"AWS": u.arn})))["KeyMetadata"]
    new_name = unique("ren2")
    root.iam.update_user(UserName=name, NewUserName=new_name)
    u.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    shown = root.kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
    assert aws_principals(shown)[-1] == f"arn:aws:iam::{ACCOUNT}:user/{new_name}"


def test_recreated_user_does_not_inherit_resource_policy_access(root):
    name = unique("rp-user")
    old = make_user(root, name, policy=allow("kms:Decrypt"))
    sm = root.client("secretsmanager")
    s = sm.create_secret(Name=unique("rp"), SecretString="v")["ARN"]
    sm.put_resource_policy(SecretId=s, ResourcePolicy=policy_doc(
        allow(GSV, principal={"AWS": old.arn})))
    assert old.client("secretsmanager").get_secret_value(SecretId=s)["SecretString"] == "v"
    delete_user_fully(root, name)
    new = make_user(root, name, policy=allow("kms:Decrypt"))
    with raises_aws("AccessDeniedException", denied_msg(new.arn, GSV, s)):
        new.client("secretsmanager").get_secret_value(SecretId=s)
    shown = sm.get_resource_policy(SecretId=s)["ResourcePolicy"]
    assert aws_principals(shown) == [old.user_id]


def test_recreated_user_does_not_inherit_grant(root):
    name = unique("gr-user")
    old = make_user(root, name)
    key = root.kms.create_key()["KeyMetadata"]
    root.kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=old.arn, Operations=["Encrypt"])
    old.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    delete_user_fully(root, name)
    new = make_user(root, name)
    with raises_aws("AccessDeniedException",
                    denied_msg(new.arn, "kms:Encrypt", key["Arn"], "identity")):
        new.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")


def test_recreated_user_not_trusted_by_role(root):
    name = unique("tr-user")
    old = make_user(root, name, policy=allow("sts:AssumeRole"))
    role = make_role(root, trust=trust_policy(old.arn))
    assume_role(old, role["Arn"])
    delete_user_fully(root, name)
    trust = root.iam.get_role(RoleName=role["RoleName"])["Role"]["AssumeRolePolicyDocument"]
    assert trust["Statement"][0]["Principal"]["AWS"] == old.user_id
    new = make_user(root, name, policy=allow("sts:AssumeRole"))
    with raises_aws("AccessDenied", denied_msg(new.arn, "sts:AssumeRole", role["Arn"], None),
                    status=403):
        new.sts.assume_role(RoleArn=role["Arn"], RoleSessionName="xx")


def test_session_of_deleted_role_stays_dead(root):
    u = make_user(root, policy=allow("sts:AssumeRole"))
    name = unique("dead-role")
    role = make_role(root, name, trust=trust_policy(u.arn), policy=allow("kms:ListKeys"))
    sess = assume_role(u, role["Arn"])
    sess.kms.list_keys()
    delete_role_fully(root, name)
    with raises_aws("UnrecognizedClientException", INVALID_TOKEN_MSG):
        sess.kms.list_keys()
    make_role(root, name, trust=trust_policy(u.arn), policy=allow(["kms:ListKeys", "iam:*"]))
    with raises_aws("UnrecognizedClientException", INVALID_TOKEN_MSG):
        sess.kms.list_keys()
    with raises_aws("InvalidClientTokenId", INVALID_TOKEN_MSG, status=403):
        sess.iam.list_users()
    with raises_aws("InvalidClientTokenId", INVALID_TOKEN_MSG, status=403):
        sess.sts.get_caller_identity()
    # A new session of the new role works.
    assume_role(u, role["Arn"]).kms.list_keys()


def test_recreated_role_not_named_by_old_policies(root):
    u = make_user(root, policy=allow("sts:AssumeRole"))
    name = unique("rp-role")
    role = make_role(root, name, trust=trust_policy(u.arn), policy=allow("kms:Decrypt"))
    sm = root.client("secretsmanager")
    s = sm.create_secret(Name=unique("rr"), SecretString="v")["ARN"]
    sm.put_resource_policy(SecretId=s, ResourcePolicy=policy_doc(
        allow(GSV, principal={"AWS": role["Arn"]})))
    assert assume_role(u, role["Arn"]).client("secretsmanager").get_secret_value(SecretId=s)
    delete_role_fully(root, name)
    new = make_role(root, name, trust=trust_policy(u.arn), policy=allow("kms:Decrypt"))
    sess = assume_role(u, new["Arn"])
    with raises_aws("AccessDeniedException", denied_msg(sess.arn, GSV, s)):
        sess.client("secretsmanager").get_secret_value(SecretId=s)
    assert aws_principals(sm.get_resource_policy(SecretId=s)["ResourcePolicy"]) == [role["RoleId"]]


@sqlite_only  # edits the SQLite file
def test_policies_saved_before_bindings_are_bound_at_start(tresor_factory):
    """A data dir of an older tresor (schema 2: no bindings anywhere): the
    server binds its policies and grants when it starts, before it serves,
    and `tresor check` verifies them."""
    srv = tresor_factory("legacy")
    root = srv.root_user
    alice = make_user(root, "legacy-alice")
    bob = make_user(root, "legacy-bob", policy=allow("sts:AssumeRole"))
    carol = make_user(root, "legacy-carol", policy=allow("kms:Decrypt"))
    dave = make_user(root, "legacy-dave")
    key = root.kms.create_key(Policy=policy_doc(
        allow("kms:*", principal={"AWS": f"arn:aws:iam::{ACCOUNT}:root"}),
        allow("kms:Encrypt", principal={"AWS": alice.arn})))["KeyMetadata"]
    role = make_role(root, trust=trust_policy(bob.arn))
    sm = root.client("secretsmanager")
    s = sm.create_secret(Name=unique("legacy"), SecretString="v")["ARN"]
    sm.put_resource_policy(SecretId=s, ResourcePolicy=policy_doc(
        allow(GSV, principal={"AWS": carol.arn})))
    root.kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=dave.arn, Operations=["Encrypt"])
    srv.stop_clean()
    con = sqlite3.connect(str(srv.data_dir / "tresor.db"))
    con.execute("ALTER TABLE kms_keys DROP COLUMN policy_ids")
    con.execute("DROP TABLE IF EXISTS access_key_tombstones")
    con.execute("UPDATE entities SET doc = json_remove(doc, '$.trust_ids', '$.policy_ids')")
    con.execute("UPDATE relations SET doc = json_remove(doc, '$.grantee_id', '$.retiring_id') "
                "WHERE kind = 'grant'")
    con.execute("PRAGMA user_version = 2")
    con.commit()
    con.close()

    srv.start()
    # Two key policies (the customer key's, aws/secretsmanager's), a trust
    # policy, a resource policy and a grant.
    assert "bound the principals of 5 policies and grants saved by an older tresor" in (
        srv.stderr_text().decode())
    root = srv.root_user
    p = srv.run_tresor("check", "--data-dir", srv.data_dir)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "policies not yet bound to principals' ids 0" in p.stdout
    for u in (alice, bob, carol, dave):
        delete_user_fully(root, u.name)
        make_user(root, u.name, policy=allow(["sts:AssumeRole", "kms:Decrypt"]))
    new = {u.name: Caller(srv, *_new_key(root, u.name), arn=u.arn) for u in (alice, bob, carol, dave)}
    for name in ("legacy-alice", "legacy-dave"):
        with raises_aws("AccessDeniedException"):
            new[name].client("kms").encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    with raises_aws("AccessDenied", status=403):
        new["legacy-bob"].client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="xx")
    with raises_aws("AccessDeniedException"):
        new["legacy-carol"].client("secretsmanager").get_secret_value(SecretId=s)
    shown = root.client("kms").get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
    assert aws_principals(shown)[-1] == alice.user_id


def _new_key(admin, name):
    ak = admin.client("iam").create_access_key(UserName=name)["AccessKey"]
    return ak["AccessKeyId"], ak["SecretAccessKey"]


# ---------------------------------------------------------------------------
# Dev mode: a key tresor knew is never the account root


@pytest.fixture
def dev_server(tmp_path_factory):
    made = []

    def make(*args, env_extra=None):
        srv = DevServer("dev-id", tmp_path_factory.mktemp("tresor-dev-id"))
        made.append(srv)
        return srv.start(args, env_extra=env_extra)

    yield make
    for srv in made:
        srv.close()


def _dev_root(srv):
    return Caller(srv, "test", "test", arn=f"arn:aws:iam::{DEV_ACCOUNT}:root",
                  account=DEV_ACCOUNT, user_id=DEV_ACCOUNT)


def test_dev_deleted_key_is_not_root(dev_server):
    srv = dev_server()
    root = _dev_root(srv)
    bob = make_user(root, "bob", policy=allow("kms:ListKeys"))
    bob.kms.list_keys()
    root.iam.delete_access_key(UserName="bob", AccessKeyId=bob.access_key)
    with raises_aws("UnrecognizedClientException", INVALID_TOKEN_MSG):
        bob.kms.list_keys()
    with raises_aws("InvalidClientTokenId", INVALID_TOKEN_MSG, status=403):
        bob.sts.get_caller_identity()
    # Deleting the user too changes nothing.
    root.iam.delete_user_policy(UserName="bob", PolicyName="inline")
    root.iam.delete_user(UserName="bob")
    with raises_aws("UnrecognizedClientException", INVALID_TOKEN_MSG):
        bob.kms.create_key()
    # An inactive key: refused as well.
    carol = make_user(root, "carol", policy=allow("kms:ListKeys"))
    root.iam.update_access_key(UserName="carol", AccessKeyId=carol.access_key, Status="Inactive")
    with raises_aws("UnrecognizedClientException", INVALID_TOKEN_MSG):
        carol.kms.list_keys()
    # A key never seen is still the root user.
    assert root.sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{DEV_ACCOUNT}:root"


def test_dev_expired_session_is_not_root(dev_server, tmp_path):
    data = tmp_path / "data"
    srv = dev_server("--data-dir", str(data))
    root = _dev_root(srv)
    u = make_user(root, "sess-user", policy=allow("sts:AssumeRole"))
    role = make_role(root, "sess-role", trust=trust_policy(u.arn), policy=allow("kms:ListKeys"))
    sess = assume_role(u, role["Arn"], DurationSeconds=900)
    gst_cr = u.sts.get_session_token(DurationSeconds=900)["Credentials"]
    gst = Caller(srv, gst_cr["AccessKeyId"], gst_cr["SecretAccessKey"], gst_cr["SessionToken"])
    sess.kms.list_keys()
    # Two days later: the sessions expired and were purged at start-up.
    srv.stop_clean()
    srv.start(("--data-dir", str(data)), env_extra={"TRESOR_CLOCK_OFFSET": str(2 * 86400)})
    for who in (sess, gst):      # the port changed: new clients
        with raises_aws("ExpiredTokenException",
                        "The security token included in the request is expired"):
            who.client("kms").list_keys()
        with raises_aws("ExpiredToken", status=400):
            who.client("sts").get_caller_identity()
    # Without its token, the key is no less known.
    with raises_aws("UnrecognizedClientException", INVALID_TOKEN_MSG):
        sess.with_credentials(drop_token=True).client("kms").list_keys()


def test_expired_and_purged_session_outside_dev(tresor_factory):
    srv = tresor_factory("purged")
    root = srv.root_user
    u = make_user(root, policy=allow("sts:AssumeRole"))
    role = make_role(root, trust=trust_policy(u.arn), policy=allow("kms:ListKeys"))
    sess = assume_role(u, role["Arn"], DurationSeconds=900)
    srv.stop_clean()
    srv.start(env_extra={"TRESOR_CLOCK_OFFSET": str(2 * 86400)})
    with raises_aws("ExpiredTokenException",
                    "The security token included in the request is expired"):
        sess.client("kms").list_keys()
