"""
What KMS authorizes besides the key, and with which request context: an
attacker with its own credentials against a real `tresor serve`.

  - Aliases (KMS developer guide, "Controlling access to aliases"):
    CreateAlias, UpdateAlias and DeleteAlias need the permission on the
    alias ARN (IAM policies only: an alias has no key policy) as well as
    on the key -- UpdateAlias on the key the alias leaves and on the new
    one.
  - Tags: aws:ResourceTag/<k> (the key's tags, IAM policies only),
    aws:RequestTag/<k> and aws:TagKeys (CreateKey, TagResource,
    UntagResource); kms:ResourceAliases and kms:RequestAlias on every
    operation the Service Authorization Reference lists them for.
  - Guard rails: kms:ScheduleKeyDeletionPendingWindowInDays,
    kms:RotationPeriodInDays, kms:BypassPolicyLockoutSafetyCheck (absent
    when the request has no such member), kms:ReEncryptOnSameKey.
  - RetireGrant is decided by the grant ("Retiring and revoking grants"):
    its retiring principal, its grantee when it includes RetireGrant, or
    IAM principals of the accounts it delegates to -- never the key policy.
  - A key policy's Resource and NotResource are matched against the key's
    ARN ("*" is "this key"), so the two never both apply.

Denials are AccessDeniedException, HTTP 400, with AWS's wording (the
resource is the alias ARN for the alias step).
"""

import json

import pytest
from botocore.exceptions import ClientError

from tresor_e2e import (
    ACCOUNT, REGION, ROOT_ARN, ROOT_ARN_B, alias_arn, allow, deny, denied_msg, make_user,
    raises_aws, unique,
)

ACCOUNT_STMT = {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"}
LOCKOUT_MSG = "The new key policy will not allow you to update the key policy in the future."


def key_policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def new_key(creator, policy=None, **kw):
    if policy is not None:
        kw["Policy"] = policy
        kw["BypassPolicyLockoutSafetyCheck"] = True
    return creator.kms.create_key(**kw)["KeyMetadata"]


def kms_denied(who, action, resource, reason="identity"):
    return raises_aws("AccessDeniedException", denied_msg(who.arn, action, resource, reason),
                      status=400)


def encrypt(caller, key_id, data=b"payload", **kw):
    return caller.kms.encrypt(KeyId=key_id, Plaintext=data, **kw)["CiphertextBlob"]


def key_arn_pattern(account=ACCOUNT):
    return f"arn:aws:kms:{REGION}:{account}:key/*"


def alias_pattern(prefix):
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:{prefix}*"


# ---------------------------------------------------------------------------
# Aliases: the alias ARN is authorized too


def test_update_alias_is_denied_on_the_alias(root):
    """The issue's attack: a Deny on kms:UpdateAlias for alias/prod-* must
    keep the attacker from re-pointing alias/prod-db at a key it owns."""
    app_key = new_key(root)
    alias = unique("alias/prod-db")
    root.kms.create_alias(AliasName=alias, TargetKeyId=app_key["KeyId"])
    attacker = make_user(root, policy=[allow("kms:*"),
                                       deny("kms:UpdateAlias", alias_pattern("alias/prod-"))])
    own = new_key(attacker)
    with kms_denied(attacker, "kms:UpdateAlias", alias_arn(alias), "explicit-identity"):
        attacker.kms.update_alias(AliasName=alias, TargetKeyId=own["KeyId"])
    # The application still encrypts under its own key through the alias.
    resp = root.kms.encrypt(KeyId=alias, Plaintext=b"application data")
    assert resp["KeyId"] == app_key["Arn"]
    # Aliases outside the pattern stay the attacker's to move.
    mine = unique("alias/dev-db")
    attacker.kms.create_alias(AliasName=mine, TargetKeyId=own["KeyId"])
    attacker.kms.update_alias(AliasName=mine, TargetKeyId=app_key["KeyId"])


def test_create_alias_needs_the_alias_and_the_key(root):
    key = new_key(root)
    alias = unique("alias/authz-create")
    key_only = make_user(root, policy=allow("kms:CreateAlias", key["Arn"]))
    with kms_denied(key_only, "kms:CreateAlias", alias_arn(alias)):
        key_only.kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    alias_only = make_user(root, policy=allow("kms:CreateAlias", alias_arn(alias)))
    with kms_denied(alias_only, "kms:CreateAlias", key["Arn"]):
        alias_only.kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    both = make_user(root, policy=allow("kms:CreateAlias", [alias_arn(alias), key["Arn"]]))
    both.kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    names = [a["AliasName"] for a in root.kms.list_aliases(KeyId=key["KeyId"])["Aliases"]]
    assert names == [alias]


def test_create_alias_is_refused_before_the_name_is_known(root):
    # An unauthorized caller learns nothing of which alias names exist.
    key = new_key(root)
    alias = unique("alias/authz-taken")
    root.kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    key_only = make_user(root, policy=allow("kms:CreateAlias", key["Arn"]))
    with kms_denied(key_only, "kms:CreateAlias", alias_arn(alias)):
        key_only.kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])


def test_update_alias_needs_the_alias_and_both_keys(root):
    old, new = new_key(root), new_key(root)
    alias = unique("alias/authz-update")
    root.kms.create_alias(AliasName=alias, TargetKeyId=old["KeyId"])
    keys_only = make_user(root, policy=allow("kms:UpdateAlias", [old["Arn"], new["Arn"]]))
    with kms_denied(keys_only, "kms:UpdateAlias", alias_arn(alias)):
        keys_only.kms.update_alias(AliasName=alias, TargetKeyId=new["KeyId"])
    no_old = make_user(root, policy=allow("kms:UpdateAlias", [alias_arn(alias), new["Arn"]]))
    with kms_denied(no_old, "kms:UpdateAlias", old["Arn"]):
        no_old.kms.update_alias(AliasName=alias, TargetKeyId=new["KeyId"])
    no_new = make_user(root, policy=allow("kms:UpdateAlias", [alias_arn(alias), old["Arn"]]))
    with kms_denied(no_new, "kms:UpdateAlias", new["Arn"]):
        no_new.kms.update_alias(AliasName=alias, TargetKeyId=new["KeyId"])
    # Nothing moved.
    assert root.kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"] == old["Arn"]
    every = make_user(root, policy=allow("kms:UpdateAlias",
                                         [alias_arn(alias), old["Arn"], new["Arn"]]))
    every.kms.update_alias(AliasName=alias, TargetKeyId=new["KeyId"])
    assert root.kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"] == new["Arn"]


def test_delete_alias_needs_the_alias_and_the_key(root):
    key = new_key(root)
    alias = unique("alias/authz-delete")
    root.kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    key_only = make_user(root, policy=allow("kms:DeleteAlias", key["Arn"]))
    with kms_denied(key_only, "kms:DeleteAlias", alias_arn(alias)):
        key_only.kms.delete_alias(AliasName=alias)
    alias_only = make_user(root, policy=allow("kms:DeleteAlias", alias_arn(alias)))
    with kms_denied(alias_only, "kms:DeleteAlias", key["Arn"]):
        alias_only.kms.delete_alias(AliasName=alias)
    protected = make_user(root, policy=[allow("kms:DeleteAlias"),
                                        deny("kms:DeleteAlias", alias_arn(alias))])
    with kms_denied(protected, "kms:DeleteAlias", alias_arn(alias), "explicit-identity"):
        protected.kms.delete_alias(AliasName=alias)
    both = make_user(root, policy=allow("kms:DeleteAlias", [alias_arn(alias), key["Arn"]]))
    both.kms.delete_alias(AliasName=alias)
    assert root.kms.list_aliases(KeyId=key["KeyId"])["Aliases"] == []


def test_unknown_alias_is_not_found_before_authorization(root):
    u = make_user(root)
    alias = unique("alias/authz-nowhere")
    with raises_aws("NotFoundException", f"Alias {alias_arn(alias)} is not found."):
        u.kms.delete_alias(AliasName=alias)


# ---------------------------------------------------------------------------
# Tags: aws:ResourceTag/<k>, aws:RequestTag/<k>, aws:TagKeys

RESTRICTED = {"StringEquals": {"aws:ResourceTag/classification": "restricted"}}


def tagged_key(root, **tags):
    return new_key(root, Tags=[{"TagKey": k, "TagValue": v} for k, v in tags.items()])


def test_resource_tag_deny_applies_to_every_key_operation(root):
    key = tagged_key(root, classification="restricted")
    plain = new_key(root)
    blob = encrypt(root, key["KeyId"], b"restricted data")
    attacker = make_user(root, policy=[allow("kms:*"), deny("kms:*", condition=RESTRICTED)])
    with kms_denied(attacker, "kms:Decrypt", key["Arn"], "explicit-identity"):
        attacker.kms.decrypt(CiphertextBlob=blob)
    with kms_denied(attacker, "kms:Encrypt", key["Arn"], "explicit-identity"):
        encrypt(attacker, key["KeyId"])
    with kms_denied(attacker, "kms:DescribeKey", key["Arn"], "explicit-identity"):
        attacker.kms.describe_key(KeyId=key["KeyId"])
    # Removing the tag is a key operation on a restricted key too.
    with kms_denied(attacker, "kms:UntagResource", key["Arn"], "explicit-identity"):
        attacker.kms.untag_resource(KeyId=key["KeyId"], TagKeys=["classification"])
    tags = root.kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]
    assert tags == [{"TagKey": "classification", "TagValue": "restricted"}]
    # Other keys are unaffected.
    assert attacker.kms.decrypt(CiphertextBlob=encrypt(attacker, plain["KeyId"]))["Plaintext"] \
        == b"payload"


def test_resource_tag_allow_is_abac(root):
    # The KMS guide's ABAC example: an IAM Allow conditioned on the tag.
    project = tagged_key(root, Project="Alpha")
    other = tagged_key(root, Project="Beta")
    u = make_user(root, policy=allow(["kms:Encrypt", "kms:Decrypt"], key_arn_pattern(),
                                     condition={"StringEquals": {"aws:ResourceTag/Project": "Alpha"}}))
    blob = encrypt(u, project["KeyId"])
    assert u.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"payload"
    with kms_denied(u, "kms:Encrypt", other["Arn"]):
        encrypt(u, other["KeyId"])
    # Retagging changes the answer at once.
    root.kms.tag_resource(KeyId=other["KeyId"], Tags=[{"TagKey": "Project", "TagValue": "Alpha"}])
    encrypt(u, other["KeyId"])


def test_resource_tag_is_not_seen_by_key_policies(root, authz_server):
    # "In AWS KMS, the aws:ResourceTag/tag-key condition key is supported
    # only in IAM policies ... It isn't supported in key policies."
    u = make_user(root, policy=allow("kms:*"))
    key = new_key(root, key_policy(ACCOUNT_STMT, {
        "Sid": "NotHere", "Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt",
        "Resource": "*", "Condition": RESTRICTED}),
        Tags=[{"TagKey": "classification", "TagValue": "restricted"}])
    encrypt(u, key["KeyId"])
    # `tresor policy simulate` on the key reads a given tag the same way.
    p = authz_server.run_tresor("policy", "simulate", "--data-dir", authz_server.data_dir,
                                "--principal", u.arn, "--action", "kms:Encrypt",
                                "--resource", key["Arn"], "--format", "json", "--context",
                                "aws:ResourceTag/classification=restricted")
    assert p.returncode == 0, p.stdout + p.stderr
    assert json.loads(p.stdout)["decision"] == "allowed"


def test_request_tags_and_tag_keys(root):
    attacker = make_user(root, policy=[
        allow("kms:*"),
        deny(["kms:CreateKey", "kms:TagResource"],
             condition={"StringEquals": {"aws:RequestTag/classification": "restricted"}}),
        deny(["kms:TagResource", "kms:UntagResource"],
             condition={"ForAnyValue:StringEquals": {"aws:TagKeys": "owner"}})])
    with kms_denied(attacker, "kms:CreateKey", "*", "explicit-identity"):
        attacker.kms.create_key(Tags=[{"TagKey": "classification", "TagValue": "restricted"}])
    key = tagged_key(attacker, classification="internal")
    with kms_denied(attacker, "kms:TagResource", key["Arn"], "explicit-identity"):
        attacker.kms.tag_resource(KeyId=key["KeyId"],
                                  Tags=[{"TagKey": "classification", "TagValue": "restricted"}])
    with kms_denied(attacker, "kms:TagResource", key["Arn"], "explicit-identity"):
        attacker.kms.tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": "owner", "TagValue": "me"}])
    root.kms.tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": "owner", "TagValue": "ops"}])
    with kms_denied(attacker, "kms:UntagResource", key["Arn"], "explicit-identity"):
        attacker.kms.untag_resource(KeyId=key["KeyId"], TagKeys=["owner"])
    attacker.kms.tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": "team", "TagValue": "red"}])
    attacker.kms.untag_resource(KeyId=key["KeyId"], TagKeys=["team"])
    tags = {t["TagKey"]: t["TagValue"]
            for t in root.kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]}
    assert tags == {"classification": "internal", "owner": "ops"}


# ---------------------------------------------------------------------------
# kms:ResourceAliases and kms:RequestAlias, operation by operation

def _crypto_ops(kms, key_id, blob):
    return {
        "kms:Encrypt": lambda: kms.encrypt(KeyId=key_id, Plaintext=b"x"),
        "kms:Decrypt": lambda: kms.decrypt(CiphertextBlob=blob, KeyId=key_id),
        "kms:GenerateDataKey": lambda: kms.generate_data_key(KeyId=key_id, KeySpec="AES_256"),
        "kms:GenerateDataKeyWithoutPlaintext":
            lambda: kms.generate_data_key_without_plaintext(KeyId=key_id, KeySpec="AES_256"),
        "kms:ReEncryptFrom": lambda: kms.re_encrypt(CiphertextBlob=blob, SourceKeyId=key_id,
                                                    DestinationKeyId=key_id),
        "kms:DescribeKey": lambda: kms.describe_key(KeyId=key_id),
    }


@pytest.mark.parametrize("action", ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey",
                                    "kms:GenerateDataKeyWithoutPlaintext", "kms:ReEncryptFrom",
                                    "kms:DescribeKey"])
def test_request_alias_on_each_operation(root, action):
    key = new_key(root)
    alias = unique("alias/req")
    root.kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    blob = encrypt(root, key["KeyId"])
    u = make_user(root, policy=[allow("kms:*", "*"),
                                deny(action, condition={"StringEquals": {"kms:RequestAlias": alias}})])
    with kms_denied(u, action, key["Arn"], "explicit-identity"):
        _crypto_ops(u.kms, alias, blob)[action]()
    with kms_denied(u, action, key["Arn"], "explicit-identity"):
        _crypto_ops(u.kms, alias_arn(alias), blob)[action]()
    _crypto_ops(u.kms, key["Arn"], blob)[action]()     # not named by the alias: allowed


@pytest.mark.parametrize("action", ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey",
                                    "kms:DisableKey", "kms:TagResource", "kms:CreateGrant",
                                    "kms:ScheduleKeyDeletion"])
def test_resource_aliases_on_key_operations(root, action):
    key = new_key(root)
    root.kms.create_alias(AliasName=unique("alias/locked"), TargetKeyId=key["KeyId"])
    blob = encrypt(root, key["KeyId"])
    u = make_user(root, policy=[allow("kms:*"), deny(action, condition={
        "ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/locked-*"}})])
    ops = _crypto_ops(u.kms, key["KeyId"], blob)
    ops.update({
        "kms:DisableKey": lambda: u.kms.disable_key(KeyId=key["KeyId"]),
        "kms:TagResource": lambda: u.kms.tag_resource(
            KeyId=key["KeyId"], Tags=[{"TagKey": "a", "TagValue": "b"}]),
        "kms:CreateGrant": lambda: u.kms.create_grant(
            KeyId=key["KeyId"], GranteePrincipal=u.arn, Operations=["Decrypt"]),
        "kms:ScheduleKeyDeletion": lambda: u.kms.schedule_key_deletion(KeyId=key["KeyId"]),
    })
    with kms_denied(u, action, key["Arn"], "explicit-identity"):
        ops[action]()


# ---------------------------------------------------------------------------
# Guard rails


def test_schedule_key_deletion_pending_window_guard(root):
    # AWS's sample SCP "Enforce 30 days for KMS deletion", as an IAM policy.
    u = make_user(root, policy=[allow("kms:*"), deny("kms:ScheduleKeyDeletion", condition={
        "NumericLessThan": {"kms:ScheduleKeyDeletionPendingWindowInDays": "30"}})])
    key = new_key(u)
    with kms_denied(u, "kms:ScheduleKeyDeletion", key["Arn"], "explicit-identity"):
        u.kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert root.kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    # Omitted, the window is the default 30 days, which the guard allows.
    resp = u.kms.schedule_key_deletion(KeyId=key["KeyId"])
    assert resp["PendingWindowInDays"] == 30


def test_rotation_period_guard(root):
    u = make_user(root, policy=[allow("kms:*"), deny("kms:EnableKeyRotation", condition={
        "NumericLessThan": {"kms:RotationPeriodInDays": "180"}})])
    key = new_key(u)
    with kms_denied(u, "kms:EnableKeyRotation", key["Arn"], "explicit-identity"):
        enable_rotation(u, key["KeyId"], 90)
    enable_rotation(u, key["KeyId"], 365)
    enable_rotation(u, key["KeyId"], None)          # the default, 365


def enable_rotation(caller, key_id, days):
    """EnableKeyRotation as caller (boto3 1.26's model lacks
    RotationPeriodInDays: a raw request, signed with caller's keys)."""
    body = {"KeyId": key_id}
    if days is not None:
        body["RotationPeriodInDays"] = days
    resp = caller.server.raw("TrentService.EnableKeyRotation", json.dumps(body).encode(),
                             access_key=caller.access_key, secret_key=caller.secret_key)
    if resp.status != 200:
        raise ClientError({"Error": {"Code": resp.error_code, "Message": resp.error_message},
                           "ResponseMetadata": {"HTTPStatusCode": resp.status}},
                          "EnableKeyRotation")


def test_bypass_lockout_key_is_absent_without_the_member(root):
    # The KMS guide's example: PutKeyPolicy only when the request does not
    # carry BypassPolicyLockoutSafetyCheck ("Null": true).
    u = make_user(root, policy=[allow("kms:*"), {
        "Effect": "Deny", "Action": ["kms:PutKeyPolicy", "kms:CreateKey"], "Resource": "*",
        "Condition": {"Null": {"kms:BypassPolicyLockoutSafetyCheck": "false"}}}])
    key = u.kms.create_key()["KeyMetadata"]
    policy = root.kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
    u.kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=policy)
    with kms_denied(u, "kms:PutKeyPolicy", key["Arn"], "explicit-identity"):
        u.kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=policy,
                             BypassPolicyLockoutSafetyCheck=False)
    with kms_denied(u, "kms:CreateKey", "*", "explicit-identity"):
        u.kms.create_key(BypassPolicyLockoutSafetyCheck=True)


def test_re_encrypt_on_same_key(root):
    u = make_user(root, policy=[allow("kms:*"), allow("kms:ReEncrypt*", condition={
        "Bool": {"kms:ReEncryptOnSameKey": "true"}})])
    strict = make_user(root, policy=[
        allow(["kms:Encrypt", "kms:Decrypt"]),
        allow("kms:ReEncrypt*", condition={"Bool": {"kms:ReEncryptOnSameKey": "true"}})])
    key, other = new_key(root), new_key(root)
    blob = encrypt(root, key["KeyId"])
    out = strict.kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=key["KeyId"])
    assert out["KeyId"] == key["Arn"] and out["SourceKeyId"] == key["Arn"]
    with kms_denied(strict, "kms:ReEncryptFrom", key["Arn"]):
        strict.kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=other["KeyId"])
    u.kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=other["KeyId"])


# ---------------------------------------------------------------------------
# RetireGrant: the grant decides, never the key policy


def grant(root, key, grantee_arn, ops, **kw):
    return root.kms.create_grant(KeyId=key["Arn"], GranteePrincipal=grantee_arn, Operations=ops,
                                 **kw)["GrantId"]


def grant_ids(root, key):
    return [g["GrantId"] for g in root.kms.list_grants(KeyId=key["Arn"])["Grants"]]


def test_retire_grant_is_not_allowed_to_another_account_by_iam(root, account_b):
    """The issue's case: a principal of an account the key policy trusts,
    whose IAM policy allows kms:RetireGrant, is neither the grant's retiring
    principal nor of the account that created it."""
    key = new_key(root, key_policy(ACCOUNT_STMT, {
        "Sid": "AccountB", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN_B},
        "Action": "kms:*", "Resource": "*"}))
    g, r = make_user(root), make_user(root)
    gid = grant(root, key, g.arn, ["Encrypt"], RetiringPrincipal=r.arn)
    ub = make_user(account_b, policy=allow("kms:*"))
    with kms_denied(ub, "kms:RetireGrant", key["Arn"], "resource"):
        ub.kms.retire_grant(KeyId=key["Arn"], GrantId=gid)
    with kms_denied(account_b, "kms:RetireGrant", key["Arn"], "resource"):
        account_b.kms.retire_grant(KeyId=key["Arn"], GrantId=gid)
    assert grant_ids(root, key) == [gid]
    encrypt(g, key["Arn"])
    # A grant that names account B as its retiring principal delegates to
    # B's IAM policies.
    gid_b = grant(root, key, g.arn, ["Encrypt"], RetiringPrincipal=ROOT_ARN_B)
    nobody_b = make_user(account_b)
    with kms_denied(nobody_b, "kms:RetireGrant", key["Arn"], "identity"):
        nobody_b.kms.retire_grant(KeyId=key["Arn"], GrantId=gid_b)
    ub.kms.retire_grant(KeyId=key["Arn"], GrantId=gid_b)
    assert grant_ids(root, key) == [gid]


def test_retire_grant_is_not_allowed_by_the_key_policy(root):
    # "The kms:RetireGrant permission is not effective in a key policy."
    admin = make_user(root)
    key = new_key(root, key_policy(ACCOUNT_STMT, {
        "Sid": "KeyAdmin", "Effect": "Allow", "Principal": {"AWS": admin.arn},
        "Action": "kms:*", "Resource": "*"}))
    g = make_user(root)
    gid = grant(root, key, g.arn, ["Decrypt"])
    with kms_denied(admin, "kms:RetireGrant", key["Arn"], "identity"):
        admin.kms.retire_grant(KeyId=key["Arn"], GrantId=gid)
    # The key's account delegates with IAM, whatever the key policy says.
    retirer = make_user(root, policy=allow("kms:RetireGrant", key_arn_pattern()))
    strict = new_key(root, key_policy({
        "Sid": "AdminOnly", "Effect": "Allow", "Principal": {"AWS": admin.arn},
        "Action": "kms:*", "Resource": "*"}))
    gid2 = grant(admin, strict, g.arn, ["Decrypt"])
    retirer.kms.retire_grant(KeyId=strict["Arn"], GrantId=gid2)
    assert grant_ids(admin, strict) == []
    retirer2 = make_user(root, policy=allow("kms:RetireGrant", key["Arn"]))
    retirer2.kms.retire_grant(KeyId=key["Arn"], GrantId=gid)
    assert grant_ids(root, key) == []


def test_retire_grant_explicit_iam_deny_binds_the_retiring_principal(root):
    key = new_key(root)
    g = make_user(root)
    r = make_user(root, policy=deny("kms:RetireGrant"))
    gid = grant(root, key, g.arn, ["Encrypt"], RetiringPrincipal=r.arn)
    with kms_denied(r, "kms:RetireGrant", key["Arn"], "explicit-identity"):
        r.kms.retire_grant(KeyId=key["Arn"], GrantId=gid)
    assert grant_ids(root, key) == [gid]
    # The grantee of a grant that includes RetireGrant retires it.
    gid2 = grant(root, key, g.arn, ["Encrypt", "RetireGrant"])
    g.kms.retire_grant(KeyId=key["Arn"], GrantId=gid2)
    assert grant_ids(root, key) == [gid]


# ---------------------------------------------------------------------------
# Key policies: Resource and NotResource against the key's ARN


def test_key_policy_resource_naming_another_key_does_not_apply(root):
    other = new_key(root)
    u = make_user(root, policy=allow("kms:*"))
    key = new_key(root, key_policy(ACCOUNT_STMT, {
        "Sid": "DenyOtherKey", "Effect": "Deny", "Principal": {"AWS": u.arn},
        "Action": "kms:Encrypt", "Resource": other["Arn"]}))
    encrypt(u, key["KeyId"])
    # NotResource naming another key is "every resource but that one": it
    # applies to this key.
    guarded = new_key(root, key_policy(ACCOUNT_STMT, {
        "Sid": "DenyAllButOther", "Effect": "Deny", "Principal": {"AWS": u.arn},
        "Action": "kms:Encrypt", "NotResource": other["Arn"]}))
    with kms_denied(u, "kms:Encrypt", guarded["Arn"], "explicit-resource"):
        encrypt(u, guarded["KeyId"])


def test_key_policy_resource_naming_the_key_itself_applies(root):
    u = make_user(root)
    key = new_key(root, key_policy(ACCOUNT_STMT))
    root.kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=key_policy(
        ACCOUNT_STMT, {"Sid": "UserOnThisKey", "Effect": "Allow", "Principal": {"AWS": u.arn},
                       "Action": "kms:Encrypt", "Resource": key["Arn"]}))
    encrypt(u, key["KeyId"])


def test_lockout_check_reads_the_resource(root):
    # A policy whose only PutKeyPolicy statement names some other resource
    # would lock the key: KMS refuses it (what real KMS answered to a key
    # policy whose statement had a DynamoDB ARN as its Resource).
    for resource in ("arn:aws:dynamodb:*:*:table/*",
                     f"arn:aws:kms:{REGION}:{ACCOUNT}:key/00000000-0000-0000-0000-000000000000"):
        policy = key_policy({"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN},
                             "Action": "kms:*", "Resource": resource})
        with raises_aws("MalformedPolicyDocumentException", LOCKOUT_MSG):
            root.kms.create_key(Policy=policy)
    root.kms.create_key(Policy=key_policy(ACCOUNT_STMT))
