"""
Who can read a secret (docs/ARCHITECTURE.md 2; docs/AUTHORIZATION.md 4.7, 5;
docs/WIRE.md 5.3).

Two hops: secretsmanager:GetSecretValue on the secret (identity policy or the
secret's resource policy; both for another account), then kms:Decrypt on the
secret's key, evaluated for the caller with kms:ViaService =
secretsmanager.us-east-1.amazonaws.com, kms:CallerAccount and the context
{SecretARN, SecretVersionId}.  The AWS managed key aws/secretsmanager lets
every principal of its account through Secrets Manager and nobody directly;
a customer key needs kms:Decrypt from an IAM policy (only where the key
policy delegates to IAM), a key-policy statement, or a grant.

A denied first hop is "User: <caller> is not authorized to perform:
secretsmanager:<Op> on resource: <SecretId as passed> because ..."; a denied
KMS hop is "Access to KMS is not allowed".  Both AccessDeniedException, 400.
"""

import json
import os
import uuid
from fnmatch import fnmatchcase

import pytest

from tresor_e2e import (
    ACCOUNT, ACCOUNT_B, REGION, ROOT_ARN, ROOT_ARN_B, alias_arn, allow, deny, denied_msg,
    make_user, raises_aws, unique,
)

MANAGED_ALIAS = "alias/aws/secretsmanager"
VIA_SM = f"secretsmanager.{REGION}.amazonaws.com"
KMS_HOP_MSG = "Access to KMS is not allowed"
NOT_FOUND_MSG = "Secrets Manager can't find the specified secret."
GET = "secretsmanager:GetSecretValue"

ACCOUNT_STMT = {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"}
# Key administration for the account, no cryptographic use: IAM policies
# cannot grant kms:Decrypt on such a key.
ADMIN_STMT = {"Sid": "KeyAdministration", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN},
              "Action": ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*",
                         "kms:Put*", "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*",
                         "kms:Delete*", "kms:TagResource", "kms:UntagResource",
                         "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"],
              "Resource": "*"}


def key_policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Id": "sm-authz",
                       "Statement": list(statements)})


def key_user_stmt(principal_arn, actions=("kms:Decrypt",), sid="KeyUser"):
    return {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": principal_arn},
            "Action": list(actions), "Resource": "*"}


def resource_policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def sm_of(caller):
    return caller.client("secretsmanager")


def new_secret(root, value="top-secret", **kw):
    kw.setdefault("Name", unique("authz/secret"))
    return sm_of(root).create_secret(SecretString=value, **kw)


def customer_key(root, policy=None):
    kw = {"Description": "sm authz"}
    if policy is not None:
        kw["Policy"] = policy
    return root.kms.create_key(**kw)["KeyMetadata"]


def sm_denied(caller, secret_id, action=GET, reason="identity"):
    return raises_aws("AccessDeniedException", denied_msg(caller.arn, action, secret_id, reason),
                      status=400)


def kms_hop_denied():
    return raises_aws("AccessDeniedException", KMS_HOP_MSG, status=400)


def as_list(v):
    return v if isinstance(v, list) else [v]


def forged_blob(key_id):
    """A ciphertext blob (docs/internals/CIPHERTEXT.md layout) that names
    `key_id`, with random contents: Decrypt must refuse the caller before it
    ever looks at the ciphertext (docs/AUTHORIZATION.md 4.6, order of checks)."""
    return (b"\x01" + uuid.UUID(key_id).bytes + (1).to_bytes(4, "big") + os.urandom(16)
            + os.urandom(12) + os.urandom(32) + os.urandom(16))


@pytest.fixture(scope="module")
def managed_key(root):
    """aws/secretsmanager of account A (made by a first secret)."""
    new_secret(root, "brings the managed key")
    return root.kms.describe_key(KeyId=MANAGED_ALIAS)["KeyMetadata"]


# ---------------------------------------------------------------------------
# The AWS managed key aws/secretsmanager


def test_managed_key_is_created_on_first_use(tresor_factory):
    srv = tresor_factory("sm-managed-key")
    kms, sm = srv.kms(), srv.sm()

    def sm_aliases():
        return [a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == MANAGED_ALIAS]

    # AWS may list its predefined alias before the key exists, never with a key.
    assert all("TargetKeyId" not in a for a in sm_aliases())
    keys_before = {k["KeyId"] for k in kms.list_keys()["Keys"]}
    first = sm.create_secret(Name="first", SecretString="one")
    aliases = sm_aliases()
    assert len(aliases) == 1, aliases
    assert aliases[0]["AliasArn"] == alias_arn(MANAGED_ALIAS)
    key_id = aliases[0]["TargetKeyId"]
    keys_after = {k["KeyId"] for k in kms.list_keys()["Keys"]}
    assert keys_after - keys_before == {key_id}
    md = kms.describe_key(KeyId=MANAGED_ALIAS)["KeyMetadata"]
    assert md["KeyId"] == key_id
    assert md["Arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"
    assert md["KeyManager"] == "AWS"
    assert md["KeyState"] == "Enabled" and md["Enabled"] is True
    assert md["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert md["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert md["Origin"] == "AWS_KMS"
    # Every later secret of the account shares it.
    sm.create_secret(Name="second", SecretString="two")
    sm.create_secret(Name="third")
    sm.put_secret_value(SecretId="third", SecretString="three")
    assert {k["KeyId"] for k in kms.list_keys()["Keys"]} == keys_after
    assert sm_aliases()[0]["TargetKeyId"] == key_id
    assert "KmsKeyId" not in sm.describe_secret(SecretId=first["ARN"])
    assert sm.get_secret_value(SecretId="first")["SecretString"] == "one"


def test_managed_key_policy(root, managed_key):
    assert root.kms.list_key_policies(KeyId=managed_key["KeyId"])["PolicyNames"] == ["default"]
    doc = json.loads(root.kms.get_key_policy(KeyId=managed_key["KeyId"],
                                             PolicyName="default")["Policy"])
    assert doc["Version"] == "2012-10-17"
    assert doc["Id"].startswith("auto-secretsmanager-"), doc["Id"]
    usage, metadata = [], []
    for st in doc["Statement"]:
        assert st["Effect"] == "Allow", st
        assert st["Resource"] == "*", st
        principal = st["Principal"]
        aws = as_list(principal["AWS"]) if isinstance(principal, dict) else [principal]
        if aws == ["*"]:
            usage.append(st)
        else:
            assert aws == [ROOT_ARN], st
            metadata.append(st)
    assert usage and metadata
    actions = set()
    for st in usage:
        cond = {k.lower(): (op, as_list(v)) for op, kv in st["Condition"].items()
                for k, v in kv.items()}
        assert cond["kms:calleraccount"] == ("StringEquals", [ACCOUNT]), st
        op, values = cond["kms:viaservice"]
        assert op in ("StringEquals", "StringLike"), st
        assert any(fnmatchcase(VIA_SM, v) for v in values), st
        assert not any(fnmatchcase(f"kms.{REGION}.amazonaws.com", v) for v in values), st
        actions |= set(as_list(st["Action"]))
    assert {"kms:Decrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*", "kms:CreateGrant",
            "kms:DescribeKey"} <= actions, actions
    meta_actions = set()
    for st in metadata:
        assert "Condition" not in st, st
        meta_actions |= set(as_list(st["Action"]))
    assert meta_actions == {"kms:Describe*", "kms:Get*", "kms:List*", "kms:RevokeGrant"}


def test_managed_key_cannot_be_administered(root, managed_key):
    arn, key_id = managed_key["Arn"], managed_key["KeyId"]
    before = root.kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"]
    admin = make_user(root, policy=allow("*"))
    for who in (root, admin):
        with raises_aws("AccessDeniedException",
                        denied_msg(who.arn, "kms:PutKeyPolicy", arn, "resource")):
            who.kms.put_key_policy(KeyId=key_id, PolicyName="default",
                                   Policy=key_policy(ACCOUNT_STMT))
        with raises_aws("AccessDeniedException",
                        denied_msg(who.arn, "kms:DisableKey", arn, "resource")):
            who.kms.disable_key(KeyId=key_id)
        with raises_aws("AccessDeniedException",
                        denied_msg(who.arn, "kms:ScheduleKeyDeletion", arn, "resource")):
            who.kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    md = root.kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert md["KeyState"] == "Enabled"
    assert root.kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"] == before
    # Metadata reads are delegated to the account (and so to IAM).
    assert admin.kms.describe_key(KeyId=MANAGED_ALIAS)["KeyMetadata"]["Arn"] == arn


def test_managed_key_cannot_be_used_directly(root, managed_key):
    arn = managed_key["Arn"]
    admin = make_user(root, policy=allow("*"))
    own = customer_key(root)
    for who in (root, admin):
        with raises_aws("AccessDeniedException",
                        denied_msg(who.arn, "kms:Encrypt", arn, "resource")):
            who.kms.encrypt(KeyId=MANAGED_ALIAS, Plaintext=b"direct")
        with raises_aws("AccessDeniedException",
                        denied_msg(who.arn, "kms:GenerateDataKey", arn, "resource")):
            who.kms.generate_data_key(KeyId=arn, KeySpec="AES_256")
        with raises_aws("AccessDeniedException",
                        denied_msg(who.arn, "kms:GenerateDataKeyWithoutPlaintext", arn,
                                   "resource")):
            who.kms.generate_data_key_without_plaintext(KeyId=MANAGED_ALIAS, KeySpec="AES_256")
        blob = who.kms.encrypt(KeyId=own["KeyId"], Plaintext=b"mine")["CiphertextBlob"]
        with raises_aws("AccessDeniedException",
                        denied_msg(who.arn, "kms:ReEncryptTo", arn, "resource")):
            who.kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=MANAGED_ALIAS)
        with raises_aws("AccessDeniedException",
                        denied_msg(who.arn, "kms:Decrypt", arn, "resource")):
            who.kms.decrypt(CiphertextBlob=forged_blob(managed_key["KeyId"]))
        with raises_aws("AccessDeniedException",
                        denied_msg(who.arn, "kms:Decrypt", arn, "resource")):
            who.kms.decrypt(CiphertextBlob=forged_blob(managed_key["KeyId"]),
                            KeyId=MANAGED_ALIAS)


def test_get_secret_value_alone_reads_a_managed_key_secret(root):
    s = new_secret(root, "managed and readable")
    u = make_user(root, policy=allow(GET, s["ARN"]))
    got = sm_of(u).get_secret_value(SecretId=s["ARN"])
    assert got["SecretString"] == "managed and readable"
    assert got["ARN"] == s["ARN"]
    # Only that action, only that secret.
    with sm_denied(u, s["ARN"], "secretsmanager:DescribeSecret"):
        sm_of(u).describe_secret(SecretId=s["ARN"])
    other = new_secret(root, "not for u")
    with sm_denied(u, other["ARN"]):
        sm_of(u).get_secret_value(SecretId=other["ARN"])


def test_writing_with_the_managed_key_needs_no_kms_permission(root):
    s = new_secret(root, "v1")
    u = make_user(root, policy=allow(["secretsmanager:PutSecretValue", GET], s["ARN"]))
    sm_of(u).put_secret_value(SecretId=s["ARN"], SecretString="v2 by u")
    assert sm_of(u).get_secret_value(SecretId=s["ARN"])["SecretString"] == "v2 by u"


# ---------------------------------------------------------------------------
# Customer managed keys: the second hop


def test_customer_key_needs_kms_decrypt(root):
    key = customer_key(root)
    s = new_secret(root, "needs kms", KmsKeyId=key["Arn"])
    u = make_user(root, policy=allow(GET, s["ARN"]))
    with kms_hop_denied():
        sm_of(u).get_secret_value(SecretId=s["ARN"])
    # The root user reads: the default key policy delegates to IAM.
    assert sm_of(root).get_secret_value(SecretId=s["ARN"])["SecretString"] == "needs kms"


def test_kms_decrypt_from_an_iam_policy(root):
    key = customer_key(root)
    s = new_secret(root, "iam path", KmsKeyId=key["Arn"])
    u = make_user(root, policy=[allow(GET, s["ARN"]), allow("kms:Decrypt", key["Arn"])])
    assert sm_of(u).get_secret_value(SecretId=s["ARN"])["SecretString"] == "iam path"
    # The permission is for the hop only: the caller sees no ciphertext.
    root.iam.delete_user_policy(UserName=u.name, PolicyName="inline")
    root.iam.put_user_policy(UserName=u.name, PolicyName="inline",
                             PolicyDocument=json.dumps({"Version": "2012-10-17",
                                                        "Statement": [allow(GET, s["ARN"])]}))
    with kms_hop_denied():
        sm_of(u).get_secret_value(SecretId=s["ARN"])


def test_kms_decrypt_from_a_key_policy_statement(root):
    u = make_user(root)
    key = customer_key(root, key_policy(ACCOUNT_STMT))
    s = new_secret(root, "key policy path", KmsKeyId=key["Arn"])
    root.iam.put_user_policy(UserName=u.name, PolicyName="inline",
                             PolicyDocument=json.dumps({"Version": "2012-10-17",
                                                        "Statement": [allow(GET, s["ARN"])]}))
    with kms_hop_denied():
        sm_of(u).get_secret_value(SecretId=s["ARN"])
    root.kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default",
                            Policy=key_policy(ACCOUNT_STMT, key_user_stmt(u.arn)))
    assert sm_of(u).get_secret_value(SecretId=s["ARN"])["SecretString"] == "key policy path"
    v = make_user(root, policy=allow(GET, s["ARN"]))
    with kms_hop_denied():
        sm_of(v).get_secret_value(SecretId=s["ARN"])


def test_kms_decrypt_from_a_grant(root):
    key = customer_key(root)
    s = new_secret(root, "grant path", KmsKeyId=key["Arn"])
    u = make_user(root, policy=allow(GET, s["ARN"]))
    grant = root.kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=u.arn,
                                  Operations=["Decrypt"])
    assert sm_of(u).get_secret_value(SecretId=s["ARN"])["SecretString"] == "grant path"
    root.kms.revoke_grant(KeyId=key["KeyId"], GrantId=grant["GrantId"])
    with kms_hop_denied():
        sm_of(u).get_secret_value(SecretId=s["ARN"])


def test_grant_constraints_see_the_secret_context(root):
    key = customer_key(root)
    s = new_secret(root, "constrained", KmsKeyId=key["Arn"])
    subset = make_user(root, policy=allow(GET, s["ARN"]))
    equals = make_user(root, policy=allow(GET, s["ARN"]))
    root.kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=subset.arn,
                          Operations=["Decrypt"],
                          Constraints={"EncryptionContextSubset": {"SecretARN": s["ARN"]}})
    root.kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=equals.arn,
                          Operations=["Decrypt"],
                          Constraints={"EncryptionContextEquals": {"SecretARN": s["ARN"]}})
    assert sm_of(subset).get_secret_value(SecretId=s["ARN"])["SecretString"] == "constrained"
    # The context has two pairs (SecretARN, SecretVersionId): Equals on one fails.
    with kms_hop_denied():
        sm_of(equals).get_secret_value(SecretId=s["ARN"])
    # A grant bound to another secret's ARN does not open this one.
    t = new_secret(root, "other", KmsKeyId=key["Arn"])
    root.iam.put_user_policy(UserName=subset.name, PolicyName="inline",
                             PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                                 allow(GET, [s["ARN"], t["ARN"]])]}))
    with kms_hop_denied():
        sm_of(subset).get_secret_value(SecretId=t["ARN"])


def test_iam_policy_needs_the_key_policy_delegation(root):
    key = customer_key(root)
    s = new_secret(root, "no delegation", KmsKeyId=key["Arn"])
    u = make_user(root, policy=[allow(GET, s["ARN"]), allow("kms:Decrypt", key["Arn"])])
    assert sm_of(u).get_secret_value(SecretId=s["ARN"])["SecretString"] == "no delegation"
    root.kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default",
                            Policy=key_policy(ADMIN_STMT))
    with kms_hop_denied():
        sm_of(u).get_secret_value(SecretId=s["ARN"])
    # Not even the root user reads it now.
    with kms_hop_denied():
        sm_of(root).get_secret_value(SecretId=s["ARN"])
    # A key-policy statement naming u still works without delegation.
    root.kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default",
                            Policy=key_policy(ADMIN_STMT, key_user_stmt(u.arn)))
    assert sm_of(u).get_secret_value(SecretId=s["ARN"])["SecretString"] == "no delegation"


def test_kms_conditions_see_the_service_and_the_secret(root):
    key = customer_key(root)
    s = new_secret(root, "s", KmsKeyId=key["Arn"])
    t = new_secret(root, "t", KmsKeyId=key["Arn"])
    u = make_user(root, policy=[
        allow(GET, "*"),
        allow("kms:Decrypt", key["Arn"], condition={"StringEquals": {
            "kms:ViaService": VIA_SM, "kms:CallerAccount": ACCOUNT,
            "kms:EncryptionContext:SecretARN": s["ARN"]}}),
    ])
    assert sm_of(u).get_secret_value(SecretId=s["ARN"])["SecretString"] == "s"
    with kms_hop_denied():
        sm_of(u).get_secret_value(SecretId=t["ARN"])


def test_a_kms_deny_for_the_service_blocks_the_read(root):
    key = customer_key(root)
    s = new_secret(root, "blocked", KmsKeyId=key["Arn"])
    u = make_user(root, policy=[allow(GET, s["ARN"]), allow("kms:Decrypt", key["Arn"])])
    root.kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=key_policy(
        ACCOUNT_STMT,
        {"Sid": "NoSecretsManager", "Effect": "Deny", "Principal": {"AWS": u.arn},
         "Action": "kms:Decrypt", "Resource": "*",
         "Condition": {"StringEquals": {"kms:ViaService": VIA_SM}}}))
    with kms_hop_denied():
        sm_of(u).get_secret_value(SecretId=s["ARN"])


def test_writers_need_generate_data_key(root):
    key = customer_key(root)
    s = new_secret(root, "v1", KmsKeyId=key["Arn"])
    w = make_user(root, policy=allow("secretsmanager:PutSecretValue", s["ARN"]))
    with kms_hop_denied():
        sm_of(w).put_secret_value(SecretId=s["ARN"], SecretString="v2")
    assert sm_of(root).get_secret_value(SecretId=s["ARN"])["SecretString"] == "v1"
    root.iam.put_user_policy(UserName=w.name, PolicyName="inline",
                             PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                                 allow("secretsmanager:PutSecretValue", s["ARN"]),
                                 allow("kms:GenerateDataKey", key["Arn"])]}))
    sm_of(w).put_secret_value(SecretId=s["ARN"], SecretString="v2")
    assert sm_of(root).get_secret_value(SecretId=s["ARN"])["SecretString"] == "v2"


# ---------------------------------------------------------------------------
# The first hop: identity and resource policies


def test_no_get_secret_value_permission(root):
    s = new_secret(root, "private")
    u = make_user(root, policy=allow("secretsmanager:DescribeSecret", "*"))
    sm = sm_of(u)
    for secret_id in (s["ARN"], s["Name"], s["ARN"][:-7]):
        with sm_denied(u, secret_id):
            sm.get_secret_value(SecretId=secret_id)
    # Not authorized is said before not found: existence does not leak.
    missing = unique("authz/missing")
    with sm_denied(u, missing):
        sm.get_secret_value(SecretId=missing)
    assert sm.describe_secret(SecretId=s["Name"])["ARN"] == s["ARN"]


def test_the_message_names_the_user(root):
    s = new_secret(root, "private")
    name = unique("u")
    u = make_user(root, name)
    with raises_aws("AccessDeniedException",
                    f"User: arn:aws:iam::{ACCOUNT}:user/{name} is not authorized to perform: "
                    f"secretsmanager:GetSecretValue on resource: {s['Name']} because no "
                    "identity-based policy allows the secretsmanager:GetSecretValue action"):
        sm_of(u).get_secret_value(SecretId=s["Name"])


def test_resource_policy_alone_allows_in_the_same_account(root):
    s = new_secret(root, "by resource policy")
    u = make_user(root)                                  # no identity policy at all
    v = make_user(root)
    sm_of(root).put_resource_policy(SecretId=s["ARN"], ResourcePolicy=resource_policy(
        {"Effect": "Allow", "Principal": {"AWS": u.arn}, "Action": GET, "Resource": "*"}))
    for secret_id in (s["ARN"], s["Name"]):
        got = sm_of(u).get_secret_value(SecretId=secret_id)
        assert got["SecretString"] == "by resource policy"
    with raises_aws("AccessDeniedException",
                    startswith=f"User: {v.arn} is not authorized to perform: {GET} on "
                               f"resource: {s['ARN']}"):
        sm_of(v).get_secret_value(SecretId=s["ARN"])
    sm_of(root).delete_resource_policy(SecretId=s["ARN"])
    with raises_aws("AccessDeniedException",
                    startswith=f"User: {u.arn} is not authorized to perform: {GET}"):
        sm_of(u).get_secret_value(SecretId=s["ARN"])


def test_explicit_deny_in_the_resource_policy_wins(root):
    s = new_secret(root, "denied")
    u = make_user(root, policy=allow("secretsmanager:*", "*"))
    assert sm_of(u).get_secret_value(SecretId=s["ARN"])["SecretString"] == "denied"
    sm_of(root).put_resource_policy(SecretId=s["ARN"], ResourcePolicy=resource_policy(
        {"Effect": "Deny", "Principal": {"AWS": u.arn}, "Action": GET, "Resource": "*"}))
    with sm_denied(u, s["ARN"], reason="explicit-resource"):
        sm_of(u).get_secret_value(SecretId=s["ARN"])
    # Other actions are untouched.
    sm_of(u).describe_secret(SecretId=s["ARN"])


def test_explicit_deny_in_an_identity_policy_wins(root):
    s = new_secret(root, "denied")
    u = make_user(root, policy=[allow("secretsmanager:*", "*"), deny(GET, s["ARN"])])
    sm_of(root).put_resource_policy(SecretId=s["ARN"], ResourcePolicy=resource_policy(
        {"Effect": "Allow", "Principal": {"AWS": u.arn}, "Action": GET, "Resource": "*"}))
    with sm_denied(u, s["ARN"], reason="explicit-identity"):
        sm_of(u).get_secret_value(SecretId=s["ARN"])


def test_batch_get_checks_each_secret(root):
    s1 = new_secret(root, "one")
    s2 = new_secret(root, "two")
    u = make_user(root, policy=[allow("secretsmanager:BatchGetSecretValue", "*"),
                                allow(GET, s1["ARN"])])
    resp = sm_of(u).batch_get_secret_value(SecretIdList=[s1["ARN"], s2["ARN"]])
    assert [(v["ARN"], v["SecretString"]) for v in resp["SecretValues"]] == [(s1["ARN"], "one")]
    assert [(e["SecretId"], e["ErrorCode"]) for e in resp["Errors"]] == \
        [(s2["ARN"], "AccessDeniedException")]
    v = make_user(root, policy=allow(GET, "*"))
    with raises_aws("AccessDeniedException"):
        sm_of(v).batch_get_secret_value(SecretIdList=[s1["ARN"]])


def test_batch_get_reports_the_kms_hop_per_secret(root):
    key = customer_key(root)
    s1 = new_secret(root, "managed")
    s2 = new_secret(root, "customer", KmsKeyId=key["Arn"])
    u = make_user(root, policy=[allow("secretsmanager:BatchGetSecretValue", "*"),
                                allow(GET, "*")])
    resp = sm_of(u).batch_get_secret_value(SecretIdList=[s1["Name"], s2["Name"]])
    assert [v["Name"] for v in resp["SecretValues"]] == [s1["Name"]]
    assert [(e["SecretId"], e["ErrorCode"]) for e in resp["Errors"]] == \
        [(s2["Name"], "AccessDeniedException")]


# ---------------------------------------------------------------------------
# Another account


@pytest.fixture(scope="module")
def shared(root, account_b):
    """A secret of account A under a customer key whose policy lets account B
    decrypt, with a resource policy letting account B read it."""
    key = customer_key(root, key_policy(
        ACCOUNT_STMT, key_user_stmt(ROOT_ARN_B, ("kms:Decrypt", "kms:DescribeKey"),
                                    sid="AccountB")))
    s = new_secret(root, "for account B", KmsKeyId=key["Arn"])
    sm_of(root).put_resource_policy(SecretId=s["ARN"], ResourcePolicy=resource_policy(
        {"Effect": "Allow", "Principal": {"AWS": ROOT_ARN_B}, "Action": GET, "Resource": "*"}))
    return {"key": key, "secret": s}


def test_cross_account_read(root, account_b, shared):
    s, key = shared["secret"], shared["key"]
    bu = make_user(account_b, policy=[allow(GET, s["ARN"]), allow("kms:Decrypt", key["Arn"])])
    assert bu.arn == f"arn:aws:iam::{ACCOUNT_B}:user/{bu.name}"
    got = sm_of(bu).get_secret_value(SecretId=s["ARN"])
    assert got["SecretString"] == "for account B"
    assert got["ARN"] == s["ARN"]


def test_cross_account_needs_the_callers_own_iam_policy(root, account_b, shared):
    s, key = shared["secret"], shared["key"]
    no_sm = make_user(account_b, policy=allow("kms:Decrypt", key["Arn"]))
    with raises_aws("AccessDeniedException",
                    startswith=f"User: {no_sm.arn} is not authorized to perform: {GET} on "
                               f"resource: {s['ARN']}"):
        sm_of(no_sm).get_secret_value(SecretId=s["ARN"])
    no_kms = make_user(account_b, policy=allow(GET, s["ARN"]))
    with kms_hop_denied():
        sm_of(no_kms).get_secret_value(SecretId=s["ARN"])


def test_cross_account_needs_the_resource_policy(root, account_b, shared):
    key = shared["key"]
    s = new_secret(root, "no resource policy", KmsKeyId=key["Arn"])
    bu = make_user(account_b, policy=[allow(GET, "*"), allow("kms:Decrypt", "*")])
    with raises_aws("AccessDeniedException",
                    startswith=f"User: {bu.arn} is not authorized to perform: {GET} on "
                               f"resource: {s['ARN']}"):
        sm_of(bu).get_secret_value(SecretId=s["ARN"])


def test_cross_account_needs_the_key_policy(root, account_b):
    key = customer_key(root)                         # default policy: account A only
    s = new_secret(root, "key not shared", KmsKeyId=key["Arn"])
    sm_of(root).put_resource_policy(SecretId=s["ARN"], ResourcePolicy=resource_policy(
        {"Effect": "Allow", "Principal": {"AWS": ROOT_ARN_B}, "Action": GET, "Resource": "*"}))
    bu = make_user(account_b, policy=[allow(GET, "*"), allow("kms:Decrypt", "*")])
    with kms_hop_denied():
        sm_of(bu).get_secret_value(SecretId=s["ARN"])


def test_managed_key_never_works_across_accounts(root, account_b):
    s = new_secret(root, "managed, shared")
    sm_of(root).put_resource_policy(SecretId=s["ARN"], ResourcePolicy=resource_policy(
        {"Effect": "Allow", "Principal": {"AWS": ROOT_ARN_B}, "Action": GET, "Resource": "*"}))
    bu = make_user(account_b, policy=[allow(GET, "*"), allow("kms:*", "*")])
    with kms_hop_denied():
        sm_of(bu).get_secret_value(SecretId=s["ARN"])
    # The owner's own principals still read it.
    assert sm_of(root).get_secret_value(SecretId=s["ARN"])["SecretString"] == "managed, shared"


def test_a_bare_name_from_another_account_looks_in_its_own(root, account_b, shared):
    s = shared["secret"]
    bu = make_user(account_b, policy=[allow(GET, "*"), allow("kms:Decrypt", "*")])
    with raises_aws("ResourceNotFoundException", NOT_FOUND_MSG):
        sm_of(bu).get_secret_value(SecretId=s["Name"])
    # B's own secret of the same name is what B gets by name.
    sm_of(account_b).create_secret(Name=s["Name"], SecretString="B's own")
    assert sm_of(bu).get_secret_value(SecretId=s["Name"])["SecretString"] == "B's own"
    assert sm_of(bu).get_secret_value(SecretId=s["ARN"])["SecretString"] == "for account B"


def test_accounts_do_not_see_each_others_secrets(root, account_b, shared):
    listed = sm_of(account_b).list_secrets(MaxResults=100)["SecretList"]
    assert shared["secret"]["ARN"] not in {e["ARN"] for e in listed}
    for e in listed:
        assert e["ARN"].split(":")[4] == ACCOUNT_B, e
