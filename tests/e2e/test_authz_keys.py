"""
Condition keys the coverage work (src/iam/authz_table.def) added or
corrected, each shown deciding a real request against a real server:

  - global keys: aws:ResourceAccount (the resource's owner), aws:
    PrincipalIsAWSService (false), aws:UserAgent (the client's, and
    Secrets Manager's on its KMS calls), aws:referer (when the client sends
    one), aws:MultiFactorAuthPresent on Secrets Manager's KMS calls (false
    even for long-term credentials: AWS makes them with temporary ones);
  - IAM: iam:ResourceTag/<k> of a target user or role, aws:ResourceTag/<k>
    of a managed policy, iam:PermissionsBoundary of the role on GetRole,
    DeleteRole, UpdateRole and UpdateAssumeRolePolicy, and no longer on
    Get{User,Role}Policy (the reference lists it for none of those reads);
  - STS: the role's aws:ResourceTag/<k> and iam:ResourceTag/<k> on
    AssumeRole.
"""

import json

import pytest

from tresor_e2e import (
    ACCOUNT, ROOT_ARN, allow, assume_role, deny, denied_msg, make_managed_policy, make_role,
    make_user, raises_aws, trust_policy, unique,
)

KMS_HOP_MSG = "Access to KMS is not allowed"


def kms_denied(who, action, resource, reason="identity"):
    return raises_aws("AccessDeniedException", denied_msg(who.arn, action, resource, reason),
                      status=400)


def iam_denied(who, action, resource, reason="explicit-identity"):
    return raises_aws("AccessDenied", denied_msg(who.arn, action, resource, reason), status=403)


def key_arn_of(meta):
    return meta["Arn"]


# ---------------------------------------------------------------------------
# aws:ResourceAccount


def test_resource_account_is_the_owner_of_the_resource(root, account_b):
    # A data perimeter: A's user may use keys of its own account only.
    u = make_user(root, policy=allow("kms:*", condition={
        "StringEquals": {"aws:ResourceAccount": ACCOUNT}}))
    mine = root.kms.create_key()["KeyMetadata"]
    u.kms.encrypt(KeyId=mine["Arn"], Plaintext=b"x")
    u.kms.list_keys()                       # no resource: the caller's account
    # B's key, whose policy lets A's user in: the identity side says no.
    theirs = account_b.kms.create_key(Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": account_b.arn}, "Action": "kms:*",
             "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": u.arn}, "Action": "kms:Encrypt",
             "Resource": "*"}]}), BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]
    with kms_denied(u, "kms:Encrypt", theirs["Arn"]):
        u.kms.encrypt(KeyId=theirs["Arn"], Plaintext=b"x")
    # Without the perimeter, B's key policy and A's IAM both allow.
    free = make_user(root, policy=allow("kms:*"))
    theirs2 = account_b.kms.create_key(Policy=json.dumps({
        "Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": account_b.arn}, "Action": "kms:*",
             "Resource": "*"},
            {"Effect": "Allow", "Principal": {"AWS": free.arn}, "Action": "kms:Encrypt",
             "Resource": "*"}]}), BypassPolicyLockoutSafetyCheck=True)["KeyMetadata"]
    free.kms.encrypt(KeyId=theirs2["Arn"], Plaintext=b"x")


# ---------------------------------------------------------------------------
# aws:PrincipalIsAWSService


def test_principal_is_aws_service_is_false_for_callers(root):
    u = make_user(root, policy=allow("kms:ListKeys", condition={
        "Bool": {"aws:PrincipalIsAWSService": "false"}}))
    u.kms.list_keys()
    v = make_user(root, policy=[allow("kms:ListKeys"), deny("kms:ListKeys", condition={
        "Null": {"aws:PrincipalIsAWSService": "true"}})])
    v.kms.list_keys()                       # present, so the Deny does not apply


# ---------------------------------------------------------------------------
# aws:UserAgent


def test_user_agent_is_the_clients(root):
    u = make_user(root, policy=allow("kms:ListKeys", condition={
        "StringLike": {"aws:UserAgent": "Boto3/*"}}))
    u.kms.list_keys()
    srv = root.server
    r = srv.raw("TrentService.ListKeys", {}, access_key=u.access_key, secret_key=u.secret_key,
                headers={"User-Agent": "curl/8.0"})
    assert r.status == 400 and r.error_code == "AccessDeniedException", r


def test_user_agent_of_the_secrets_manager_hop(root):
    # KMS use only through Secrets Manager, by the user agent it calls with.
    u = make_user(root, policy=[
        allow("secretsmanager:*"),
        allow(["kms:Decrypt", "kms:GenerateDataKey"], condition={
            "StringEquals": {"aws:UserAgent": "secretsmanager.amazonaws.com"}})])
    key = root.kms.create_key()["KeyMetadata"]
    sm = u.client("secretsmanager")
    s = sm.create_secret(Name=unique("ua/secret"), KmsKeyId=key["Arn"], SecretString="v")
    assert sm.get_secret_value(SecretId=s["ARN"])["SecretString"] == "v"
    blob = root.kms.encrypt(KeyId=key["Arn"], Plaintext=b"x")["CiphertextBlob"]
    with kms_denied(u, "kms:Decrypt", key["Arn"]):
        u.kms.decrypt(CiphertextBlob=blob)


# ---------------------------------------------------------------------------
# aws:referer


def test_referer_when_the_client_sends_one(root):
    u = make_user(root, policy=allow("kms:ListKeys", condition={
        "StringLike": {"aws:referer": "https://console.example/*"}}))
    srv = root.server
    ok = srv.raw("TrentService.ListKeys", {}, access_key=u.access_key, secret_key=u.secret_key,
                 headers={"Referer": "https://console.example/keys"})
    assert ok.status == 200, ok
    with kms_denied(u, "kms:ListKeys", "*"):
        u.kms.list_keys()


# ---------------------------------------------------------------------------
# aws:MultiFactorAuthPresent on the Secrets Manager -> KMS hop


def test_mfa_present_is_false_on_the_hop_for_long_term_credentials(root):
    # The IAM guide's warning: Deny + Bool false catches the calls a service
    # makes for a user with long-term keys (temporary credentials), not the
    # user's own calls (no key at all).
    u = make_user(root, policy=[allow(["secretsmanager:*", "kms:*"]), deny(
        "kms:Decrypt", condition={"Bool": {"aws:MultiFactorAuthPresent": "false"}})])
    key = root.kms.create_key()["KeyMetadata"]
    blob = u.kms.encrypt(KeyId=key["Arn"], Plaintext=b"x")["CiphertextBlob"]
    assert u.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"
    sm = u.client("secretsmanager")
    s = sm.create_secret(Name=unique("mfa/secret"), KmsKeyId=key["Arn"], SecretString="v")
    with raises_aws("AccessDeniedException", KMS_HOP_MSG):
        sm.get_secret_value(SecretId=s["ARN"])
    # BoolIfExists false is the recommended form: it denies both.
    w = make_user(root, policy=[allow(["secretsmanager:*", "kms:*"]), deny(
        "kms:Decrypt", condition={"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}})])
    with kms_denied(w, "kms:Decrypt", key["Arn"], "explicit-identity"):
        w.kms.decrypt(CiphertextBlob=blob)


# ---------------------------------------------------------------------------
# IAM: iam:ResourceTag, a managed policy's tags, iam:PermissionsBoundary


def test_iam_resource_tag_of_users_and_roles(root):
    admins = {"Key": "team", "Value": "admins"}
    tagged_user = unique("tagged")
    root.iam.create_user(UserName=tagged_user, Tags=[admins])
    plain_user = unique("plain")
    root.iam.create_user(UserName=plain_user)
    trust = json.dumps(trust_policy(ROOT_ARN))
    tagged_role = root.iam.create_role(RoleName=unique("tagged"), AssumeRolePolicyDocument=trust,
                                       Tags=[admins])["Role"]
    u = make_user(root, policy=[allow("iam:*"), deny(["iam:GetUser", "iam:GetRole"], condition={
        "StringEquals": {"iam:ResourceTag/team": "admins"}})])
    with iam_denied(u, "iam:GetUser", f"arn:aws:iam::{ACCOUNT}:user/{tagged_user}"):
        u.iam.get_user(UserName=tagged_user)
    u.iam.get_user(UserName=plain_user)
    with iam_denied(u, "iam:GetRole", tagged_role["Arn"]):
        u.iam.get_role(RoleName=tagged_role["RoleName"])


def test_resource_tag_of_a_managed_policy(root):
    tagged = root.iam.create_policy(PolicyName=unique("pol"), PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [allow("kms:ListKeys")]}),
        Tags=[{"Key": "tier", "Value": "gold"}])["Policy"]
    plain = make_managed_policy(root, allow("kms:ListKeys"))
    u = make_user(root, policy=[allow("iam:*"), deny("iam:GetPolicy", condition={
        "StringEquals": {"aws:ResourceTag/tier": "gold"}})])
    with iam_denied(u, "iam:GetPolicy", tagged["Arn"]):
        u.iam.get_policy(PolicyArn=tagged["Arn"])
    u.iam.get_policy(PolicyArn=plain["Arn"])


@pytest.mark.parametrize("action", ["GetRole", "UpdateRole", "UpdateAssumeRolePolicy",
                                    "DeleteRole"])
def test_permissions_boundary_of_the_role(root, action):
    boundary = make_managed_policy(root, allow("*"))["Arn"]
    trust = json.dumps(trust_policy(ROOT_ARN))
    bounded = make_role(root, trust=trust, boundary=boundary)
    free = make_role(root, trust=trust)
    u = make_user(root, policy=[allow("iam:*"), deny(f"iam:{action}", condition={
        "StringEquals": {"iam:PermissionsBoundary": boundary}})])

    def call(role):
        kw = {"RoleName": role["RoleName"]}
        if action == "UpdateRole":
            kw["Description"] = "d"
        if action == "UpdateAssumeRolePolicy":
            kw["PolicyDocument"] = trust
        return getattr(u.iam, {"GetRole": "get_role", "UpdateRole": "update_role",
                               "UpdateAssumeRolePolicy": "update_assume_role_policy",
                               "DeleteRole": "delete_role"}[action])(**kw)

    with iam_denied(u, f"iam:{action}", bounded["Arn"]):
        call(bounded)
    call(free)


def test_reading_an_inline_policy_has_no_permissions_boundary(root):
    # The reference lists iam:PermissionsBoundary for Put and Delete of an
    # inline policy, not for Get: a guard on the key does not reach reads.
    boundary = make_managed_policy(root, allow("*"))["Arn"]
    trust = json.dumps(trust_policy(ROOT_ARN))
    role = make_role(root, trust=trust, boundary=boundary, policy=allow("kms:ListKeys"))
    user = make_user(root, boundary=boundary, policy=allow("kms:ListKeys"), keys=False)
    guard = {"StringLike": {"iam:PermissionsBoundary": "*"}}
    u = make_user(root, policy=[allow("iam:*"), deny(
        ["iam:GetRolePolicy", "iam:GetUserPolicy", "iam:PutRolePolicy"], condition=guard)])
    u.iam.get_role_policy(RoleName=role["RoleName"], PolicyName="inline")
    u.iam.get_user_policy(UserName=user.name, PolicyName="inline")
    with iam_denied(u, "iam:PutRolePolicy", role["Arn"]):
        u.iam.put_role_policy(RoleName=role["RoleName"], PolicyName="x",
                              PolicyDocument=json.dumps({"Version": "2012-10-17",
                                                         "Statement": [allow("kms:ListKeys")]}))


# ---------------------------------------------------------------------------
# STS: the role's tags on AssumeRole


@pytest.mark.parametrize("key", ["aws:ResourceTag/env", "iam:ResourceTag/env"])
def test_assume_role_sees_the_roles_tags(root, key):
    trust = trust_policy(ROOT_ARN)          # delegates to the caller's IAM policies
    prod = make_role(root, trust=trust, tags={"env": "prod"})
    dev = make_role(root, trust=trust, tags={"env": "dev"})
    u = make_user(root, policy=allow("sts:AssumeRole", condition={
        "StringEquals": {key: "prod"}}))
    s = assume_role(u, prod["Arn"])
    assert s.arn.endswith(f":assumed-role/{prod['RoleName']}/{s.name}")
    with raises_aws("AccessDenied", denied_msg(u.arn, "sts:AssumeRole", dev["Arn"], None),
                    status=403):
        assume_role(u, dev["Arn"])


# ---------------------------------------------------------------------------
# Long tag keys: a 128-character key of multibyte characters is one condition
# key, whole (the names were cut at 200 bytes)


def test_a_long_multibyte_tag_key_is_a_condition_key_whole(root):
    long_key = "é" * 128                    # 128 characters, 256 bytes
    sm = root.client("secretsmanager")
    s = sm.create_secret(Name=unique("longtag/secret"), SecretString="v",
                         Tags=[{"Key": long_key, "Value": "locked"}])
    u = make_user(root, policy=[allow("secretsmanager:*"), deny(
        "secretsmanager:GetSecretValue",
        condition={"StringEquals": {f"secretsmanager:ResourceTag/{long_key}": "locked"}})],
        tags={long_key: "x"})
    with raises_aws("AccessDeniedException", denied_msg(u.arn, "secretsmanager:GetSecretValue",
                                                        s["ARN"], "explicit-identity")):
        u.client("secretsmanager").get_secret_value(SecretId=s["ARN"])
    # The caller's own tag of that key, as aws:PrincipalTag/<key>.
    v = make_user(root, policy=allow("kms:ListKeys", condition={
        "StringEquals": {f"aws:PrincipalTag/{long_key}": "x"}}), tags={long_key: "x"})
    v.kms.list_keys()
