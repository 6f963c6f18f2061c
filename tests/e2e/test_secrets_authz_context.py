"""
Secrets Manager's request context and the KMS step it makes, tried as an
attacker would against a real `tresor serve`:

  - guard-rail condition keys, present when the request has the member
    (Secrets Manager permissions reference: "callers ... must pass the
    matching parameter"): secretsmanager:ForceDeleteWithoutRecovery,
    RecoveryWindowInDays, BlockPublicPolicy, KmsKeyArn, Type,
    AddReplicaRegions; secretsmanager:resource/Type from the secret;
  - BatchGetSecretValue with Filters also needs secretsmanager:ListSecrets
    (API reference: "If you use filters, you must also have
    secretsmanager:ListSecrets");
  - a secret's KmsKeyId -- a key id or an alias name -- means a key of the
    secret's account, whoever writes: a writer of another account with a
    same-named alias cannot re-key the owner's new versions to its own
    key;
  - the KMS step through Secrets Manager carries the key's tags
    (aws:ResourceTag/<k>, IAM policies only), kms:ResourceAliases, and
    kms:RequestAlias when the secret names its key by an alias
    (GenerateDataKey; Decrypt is asked without a KeyId).
"""

import json

import pytest

from tresor_e2e import (
    ACCOUNT, ACCOUNT_B, REGION, ROOT_ARN, ROOT_ARN_B, allow, deny, denied_msg, make_user,
    raises_aws, unique,
)

KMS_HOP_MSG = "Access to KMS is not allowed"
GET = "secretsmanager:GetSecretValue"
ACCOUNT_STMT = {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"}


def sm_of(caller):
    return caller.client("secretsmanager")


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def new_secret(root, value="top-secret", **kw):
    kw.setdefault("Name", unique("ctx/secret"))
    return sm_of(root).create_secret(SecretString=value, **kw)


def sm_denied(caller, secret_id, action, reason="identity"):
    return raises_aws("AccessDeniedException", denied_msg(caller.arn, action, secret_id, reason),
                      status=400)


def kms_hop_denied():
    return raises_aws("AccessDeniedException", KMS_HOP_MSG, status=400)


def exists(root, arn):
    return any(s["ARN"] == arn for s in sm_of(root).list_secrets(
        IncludePlannedDeletion=True)["SecretList"])


# ---------------------------------------------------------------------------
# DeleteSecret: ForceDeleteWithoutRecovery and RecoveryWindowInDays


def test_force_delete_guard_in_an_identity_policy(root):
    s = new_secret(root)
    attacker = make_user(root, policy=[allow("secretsmanager:*"), deny(
        "secretsmanager:DeleteSecret",
        condition={"Bool": {"secretsmanager:ForceDeleteWithoutRecovery": "true"}})])
    with sm_denied(attacker, s["ARN"], "secretsmanager:DeleteSecret", "explicit-identity"):
        sm_of(attacker).delete_secret(SecretId=s["ARN"], ForceDeleteWithoutRecovery=True)
    assert exists(root, s["ARN"])
    # Not forcing is allowed (and can be undone).
    sm_of(attacker).delete_secret(SecretId=s["ARN"], RecoveryWindowInDays=7)
    sm_of(root).restore_secret(SecretId=s["ARN"])
    sm_of(attacker).delete_secret(SecretId=s["ARN"], ForceDeleteWithoutRecovery=False)
    assert exists(root, s["ARN"])


def test_force_delete_guard_in_the_resource_policy(root):
    s = new_secret(root)
    sm_of(root).put_resource_policy(SecretId=s["ARN"], ResourcePolicy=doc({
        "Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "secretsmanager:DeleteSecret",
        "Resource": "*",
        "Condition": {"Bool": {"secretsmanager:ForceDeleteWithoutRecovery": "true"}}}))
    attacker = make_user(root, policy=allow("secretsmanager:*"))
    with sm_denied(attacker, s["ARN"], "secretsmanager:DeleteSecret", "explicit-resource"):
        sm_of(attacker).delete_secret(SecretId=s["ARN"], ForceDeleteWithoutRecovery=True)
    # The root user is bound by it too.
    with sm_denied(root, s["Name"], "secretsmanager:DeleteSecret", "explicit-resource"):
        sm_of(root).delete_secret(SecretId=s["Name"], ForceDeleteWithoutRecovery=True)
    assert sm_of(root).get_secret_value(SecretId=s["ARN"])["SecretString"] == "top-secret"


def test_recovery_window_guard(root):
    s = new_secret(root)
    u = make_user(root, policy=[allow("secretsmanager:*"), deny(
        "secretsmanager:DeleteSecret",
        condition={"NumericLessThan": {"secretsmanager:RecoveryWindowInDays": "30"}})])
    with sm_denied(u, s["ARN"], "secretsmanager:DeleteSecret", "explicit-identity"):
        sm_of(u).delete_secret(SecretId=s["ARN"], RecoveryWindowInDays=7)
    out = sm_of(u).delete_secret(SecretId=s["ARN"], RecoveryWindowInDays=30)
    assert out["ARN"] == s["ARN"]
    # An Allow that requires the member is not met by a request without it.
    s2 = new_secret(root)
    strict = make_user(root, policy=[
        allow("secretsmanager:DescribeSecret"),
        allow("secretsmanager:DeleteSecret",
              condition={"NumericGreaterThanEquals": {"secretsmanager:RecoveryWindowInDays": "14"}})])
    with sm_denied(strict, s2["ARN"], "secretsmanager:DeleteSecret"):
        sm_of(strict).delete_secret(SecretId=s2["ARN"])
    sm_of(strict).delete_secret(SecretId=s2["ARN"], RecoveryWindowInDays=14)


# ---------------------------------------------------------------------------
# PutResourcePolicy: BlockPublicPolicy


def test_block_public_policy_condition(root):
    s = new_secret(root)
    # The permissions reference's recommended identity policy.
    u = make_user(root, policy=allow("secretsmanager:PutResourcePolicy", s["ARN"], condition={
        "Bool": {"secretsmanager:BlockPublicPolicy": "true"}}))
    rp = doc({"Effect": "Allow", "Principal": {"AWS": ROOT_ARN}, "Action": GET, "Resource": "*"})
    with sm_denied(u, s["ARN"], "secretsmanager:PutResourcePolicy"):
        sm_of(u).put_resource_policy(SecretId=s["ARN"], ResourcePolicy=rp)
    with sm_denied(u, s["ARN"], "secretsmanager:PutResourcePolicy"):
        sm_of(u).put_resource_policy(SecretId=s["ARN"], ResourcePolicy=rp, BlockPublicPolicy=False)
    sm_of(u).put_resource_policy(SecretId=s["ARN"], ResourcePolicy=rp, BlockPublicPolicy=True)
    got = json.loads(sm_of(root).get_resource_policy(SecretId=s["ARN"])["ResourcePolicy"])
    assert got["Statement"][0]["Principal"] == {"AWS": ROOT_ARN}


# ---------------------------------------------------------------------------
# CreateSecret / UpdateSecret: KmsKeyArn, Type, AddReplicaRegions; resource/Type


def test_kms_key_arn_condition(root):
    approved = root.kms.create_key()["KeyMetadata"]
    other = root.kms.create_key()["KeyMetadata"]
    alias = unique("alias/approved")
    root.kms.create_alias(AliasName=alias, TargetKeyId=approved["KeyId"])
    u = make_user(root, policy=[
        allow("kms:*"), allow("secretsmanager:*"),
        deny(["secretsmanager:CreateSecret", "secretsmanager:UpdateSecret"], condition={
            "ArnNotEquals": {"secretsmanager:KmsKeyArn": approved["Arn"]}})])
    name = unique("ctx/keyarn")
    # CreateSecret is authorized on the ARN the secret would get.
    with raises_aws("AccessDeniedException", startswith=(
            f"User: {u.arn} is not authorized to perform: secretsmanager:CreateSecret on "
            f"resource: {_arn_prefix(name)}-")):
        sm_of(u).create_secret(Name=name, SecretString="v", KmsKeyId=other["KeyId"])
    # Named by its alias or its id, the approved key is the approved key.
    s = sm_of(u).create_secret(Name=name, SecretString="v", KmsKeyId=alias)
    with sm_denied(u, s["ARN"], "secretsmanager:UpdateSecret", "explicit-identity"):
        sm_of(u).update_secret(SecretId=s["ARN"], KmsKeyId=other["Arn"])
    sm_of(u).update_secret(SecretId=s["ARN"], KmsKeyId=approved["KeyId"])
    # Without a KmsKeyId the key is absent, and ArnNotEquals holds.
    with sm_denied(u, s["ARN"], "secretsmanager:UpdateSecret", "explicit-identity"):
        sm_of(u).update_secret(SecretId=s["ARN"], Description="no key named")


def _arn_prefix(name):
    return f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}"


def test_type_and_replica_regions_conditions(root):
    u = make_user(root, policy=[
        allow("secretsmanager:*"),
        deny("secretsmanager:CreateSecret", condition={
            "StringEquals": {"secretsmanager:Type": "forbidden-type"}}),
        deny("secretsmanager:CreateSecret", condition={
            "ForAnyValue:StringEquals": {"secretsmanager:AddReplicaRegions": "eu-west-1"}}),
        deny("secretsmanager:GetSecretValue", condition={
            "StringEquals": {"secretsmanager:resource/Type": "locked-type"}})])
    deny_prefix = (f"User: {u.arn} is not authorized to perform: secretsmanager:CreateSecret "
                   "on resource: ")
    with raises_aws("AccessDeniedException", startswith=deny_prefix):
        sm_of(u).create_secret(Name=unique("ctx/type"), SecretString="v", Type="forbidden-type")
    # A region not served is refused after authorization: a denied caller
    # learns nothing more.
    with raises_aws("AccessDeniedException", startswith=deny_prefix):
        sm_of(u).create_secret(Name=unique("ctx/repl"), SecretString="v",
                               AddReplicaRegions=[{"Region": "eu-west-1"}])
    with raises_aws("InvalidParameterException", "Invalid replica region."):
        sm_of(u).create_secret(Name=unique("ctx/repl"), SecretString="v",
                               AddReplicaRegions=[{"Region": "eu-west-2"}])
    locked = new_secret(root, Type="locked-type")
    with sm_denied(u, locked["ARN"], GET, "explicit-identity"):
        sm_of(u).get_secret_value(SecretId=locked["ARN"])
    plain = new_secret(root, Type="other-type")
    assert sm_of(u).get_secret_value(SecretId=plain["ARN"])["SecretString"] == "top-secret"


# ---------------------------------------------------------------------------
# BatchGetSecretValue with Filters needs ListSecrets


def test_batch_get_with_filters_needs_list_secrets(root):
    tag = unique("probe")
    s = new_secret(root, Description="db password for " + tag,
                   Tags=[{"Key": "team", "Value": tag}])
    reader = make_user(root, policy=allow(["secretsmanager:BatchGetSecretValue", GET,
                                           "secretsmanager:DescribeSecret"]))
    msg = denied_msg(reader.arn, "secretsmanager:ListSecrets", "*")
    for flt in ([{"Key": "name", "Values": [s["Name"]]}],
                [{"Key": "description", "Values": [tag]}],
                [{"Key": "tag-value", "Values": [tag]}]):
        with raises_aws("AccessDeniedException", msg):
            sm_of(reader).batch_get_secret_value(Filters=flt)
    # Naming the secrets needs no listing.
    out = sm_of(reader).batch_get_secret_value(SecretIdList=[s["ARN"]])
    assert [v["SecretString"] for v in out["SecretValues"]] == ["top-secret"]
    lister = make_user(root, policy=allow(["secretsmanager:BatchGetSecretValue", GET,
                                           "secretsmanager:ListSecrets"]))
    out = sm_of(lister).batch_get_secret_value(Filters=[{"Key": "tag-value", "Values": [tag]}])
    assert [v["ARN"] for v in out["SecretValues"]] == [s["ARN"]]


# ---------------------------------------------------------------------------
# The secret's key is resolved in the secret's account


@pytest.fixture(scope="module")
def cross_setup(root, account_b):
    """Account A's key K_A (its policy trusts account B), alias/<app> -> K_A,
    and in account B a key K_B with the same alias name."""
    k_a = root.kms.create_key(Policy=doc(ACCOUNT_STMT, {
        "Sid": "AccountB", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN_B},
        "Action": ["kms:GenerateDataKey", "kms:Decrypt", "kms:Encrypt", "kms:DescribeKey"],
        "Resource": "*"}))["KeyMetadata"]
    k_a_closed = root.kms.create_key()["KeyMetadata"]
    alias = unique("alias/app")
    closed_alias = unique("alias/app-closed")
    root.kms.create_alias(AliasName=alias, TargetKeyId=k_a["KeyId"])
    root.kms.create_alias(AliasName=closed_alias, TargetKeyId=k_a_closed["KeyId"])
    k_b = account_b.kms.create_key()["KeyMetadata"]
    account_b.kms.create_alias(AliasName=alias, TargetKeyId=k_b["KeyId"])
    account_b.kms.create_alias(AliasName=closed_alias, TargetKeyId=k_b["KeyId"])
    writer = make_user(account_b, policy=[allow("secretsmanager:*"), allow("kms:*")])
    return {"k_a": k_a, "k_a_closed": k_a_closed, "k_b": k_b, "alias": alias,
            "closed_alias": closed_alias, "writer": writer}


def shared_secret(root, writer, kms_key_id):
    s = new_secret(root, "owner's value", KmsKeyId=kms_key_id)
    sm_of(root).put_resource_policy(SecretId=s["ARN"], ResourcePolicy=doc({
        "Effect": "Allow", "Principal": {"AWS": writer.arn},
        "Action": ["secretsmanager:PutSecretValue", "secretsmanager:GetSecretValue",
                   "secretsmanager:UpdateSecret", "secretsmanager:DescribeSecret"],
        "Resource": "*"}))
    return s


def test_cross_account_writer_cannot_rekey_with_its_own_alias(root, cross_setup):
    """The issue's case: the writer of account B has an alias of the same
    name; the owner's new version is sealed under the owner's key, and the
    owner keeps reading its own secret."""
    c = cross_setup
    s = shared_secret(root, c["writer"], c["alias"])
    sm_of(c["writer"]).put_secret_value(SecretId=s["ARN"], SecretString="written by b")
    assert sm_of(root).get_secret_value(SecretId=s["ARN"])["SecretString"] == "written by b"
    assert sm_of(c["writer"]).get_secret_value(SecretId=s["ARN"])["SecretString"] \
        == "written by b"
    # A key id given bare is the owner's key too.
    s2 = shared_secret(root, c["writer"], c["k_a"]["KeyId"])
    sm_of(c["writer"]).put_secret_value(SecretId=s2["ARN"], SecretString="b again")
    assert sm_of(root).get_secret_value(SecretId=s2["ARN"])["SecretString"] == "b again"


def test_cross_account_writer_needs_the_owners_key(root, cross_setup):
    c = cross_setup
    s = shared_secret(root, c["writer"], c["closed_alias"])
    with kms_hop_denied():
        sm_of(c["writer"]).put_secret_value(SecretId=s["ARN"], SecretString="not sealed")
    assert sm_of(root).get_secret_value(SecretId=s["ARN"])["SecretString"] == "owner's value"
    versions = sm_of(root).list_secret_version_ids(SecretId=s["ARN"])["Versions"]
    assert len(versions) == 1


def test_cross_account_update_secret_key_resolves_in_the_owners_account(root, cross_setup):
    c = cross_setup
    s = shared_secret(root, c["writer"], c["k_a"]["Arn"])
    # The alias name given by B is the owner's alias: K_A, which B may use
    # (re-encrypting needs the old key too).
    sm_of(c["writer"]).update_secret(SecretId=s["ARN"], KmsKeyId=c["alias"])
    assert sm_of(root).describe_secret(SecretId=s["ARN"])["KmsKeyId"] == c["alias"]
    sm_of(c["writer"]).put_secret_value(SecretId=s["ARN"], SecretString="after rekey")
    assert sm_of(root).get_secret_value(SecretId=s["ARN"])["SecretString"] == "after rekey"
    # The AWS managed key of another account cannot serve B.
    with kms_hop_denied():
        sm_of(c["writer"]).update_secret(SecretId=s["ARN"], KmsKeyId="alias/aws/secretsmanager")
    assert sm_of(root).describe_secret(SecretId=s["ARN"])["KmsKeyId"] == c["alias"]
    assert sm_of(root).get_secret_value(SecretId=s["ARN"])["SecretString"] == "after rekey"


def test_check_passes_after_cross_account_writes(root, cross_setup, authz_server):
    p = authz_server.run_tresor("check", "--data-dir", authz_server.data_dir)
    assert p.returncode == 0, p.stdout + p.stderr


# ---------------------------------------------------------------------------
# The KMS step through Secrets Manager: the key's tags and aliases


def test_resource_tag_on_the_key_through_secrets_manager(root):
    key = root.kms.create_key(Tags=[{"TagKey": "classification", "TagValue": "restricted"}])
    s = new_secret(root, KmsKeyId=key["KeyMetadata"]["Arn"])
    u = make_user(root, policy=[allow(["secretsmanager:*", "kms:*"]), deny("kms:*", condition={
        "StringEquals": {"aws:ResourceTag/classification": "restricted"}})])
    with kms_hop_denied():
        sm_of(u).get_secret_value(SecretId=s["ARN"])
    with kms_hop_denied():
        sm_of(u).put_secret_value(SecretId=s["ARN"], SecretString="overwrite")
    assert sm_of(root).get_secret_value(SecretId=s["ARN"])["SecretString"] == "top-secret"


def test_request_alias_through_secrets_manager(root):
    key = root.kms.create_key()["KeyMetadata"]
    alias = unique("alias/sm-req")
    root.kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    s = new_secret(root, KmsKeyId=alias)
    by_arn = new_secret(root, KmsKeyId=key["Arn"])
    u = make_user(root, policy=[allow(["secretsmanager:*", "kms:*"]),
                                deny("kms:GenerateDataKey",
                                     condition={"StringEquals": {"kms:RequestAlias": alias}})])
    # Secrets Manager asks GenerateDataKey with the secret's KmsKeyId...
    with kms_hop_denied():
        sm_of(u).put_secret_value(SecretId=s["ARN"], SecretString="via alias")
    sm_of(u).put_secret_value(SecretId=by_arn["ARN"], SecretString="via arn")
    # ...and Decrypt with the ciphertext alone: no alias in that request.
    assert sm_of(u).get_secret_value(SecretId=s["ARN"])["SecretString"] == "top-secret"


def test_resource_aliases_through_secrets_manager(root):
    key = root.kms.create_key()["KeyMetadata"]
    root.kms.create_alias(AliasName=unique("alias/prod-sm"), TargetKeyId=key["KeyId"])
    s = new_secret(root, KmsKeyId=key["Arn"])
    u = make_user(root, policy=[allow(["secretsmanager:*", "kms:*"]), deny("kms:Decrypt", condition={
        "ForAnyValue:StringLike": {"kms:ResourceAliases": "alias/prod-*"}})])
    with kms_hop_denied():
        sm_of(u).get_secret_value(SecretId=s["ARN"])
