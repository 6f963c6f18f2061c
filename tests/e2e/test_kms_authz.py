"""
KMS authorization as KMS does it (docs/AUTHORIZATION.md 2.3, 4; docs/WIRE.md
5.2): the key policy must allow, directly or by naming the
account (which delegates to IAM policies); nobody, not even the root user or
the key's creator, has implicit access; explicit denies win everywhere;
conditions (encryption context, kms:CallerAccount, kms:ViaService,
kms:RequestAlias); aliases do not authorize; other accounts need both the
key policy and their own IAM policy, use key ARNs, and only for the
cross-account operations; grants; PutKeyPolicy's principal and lockout
checks; role sessions, session policies and permissions boundaries.

Denials are `AccessDeniedException`, HTTP 400, "User: <caller> is not
authorized to perform: kms:<Op> on resource: <key ARN> because no
<identity-based|resource-based|session|permissions boundary> policy allows
the kms:<Op> action" or "... with an explicit deny in a <...> policy".
"""

import json
import re

import pytest

from tresor_e2e import (
    ACCOUNT, ACCOUNT_B, REGION, ROOT_ARN, ROOT_ARN_B, alias_arn, allow, assert_recent,
    assume_role, deny, denied_msg, make_managed_policy, make_role, make_user, raises_aws,
    role_arn, trust_policy, unique, user_arn,
)

ADMIN_ACTIONS = ["kms:Create*", "kms:Describe*", "kms:Enable*", "kms:List*", "kms:Put*",
                 "kms:Update*", "kms:Revoke*", "kms:Disable*", "kms:Get*", "kms:Delete*",
                 "kms:TagResource", "kms:UntagResource", "kms:ScheduleKeyDeletion",
                 "kms:CancelKeyDeletion"]
# The console's key-administrators statement, given to the account: admin
# actions are delegated to IAM, cryptographic operations are not.
ADMIN_STMT = {"Sid": "KeyAdministration", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN},
              "Action": ADMIN_ACTIONS, "Resource": "*"}
ACCOUNT_STMT = {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"}
CRYPTO = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*",
          "kms:DescribeKey"]
LOCKOUT_MSG = "The new key policy will not allow you to update the key policy in the future."
INVALID_PRINCIPALS_MSG = "Policy contains a statement with one or more invalid principals."
VIA_SM = f"secretsmanager.{REGION}.amazonaws.com"


def key_policy(*statements):
    return json.dumps({"Version": "2012-10-17", "Id": "tresor-e2e",
                       "Statement": list(statements)}, indent=2)


def names(*principals, actions=CRYPTO, sid=None, effect="Allow", condition=None):
    st = {"Effect": effect, "Principal": {"AWS": list(principals)}, "Action": actions,
          "Resource": "*"}
    if sid:
        st["Sid"] = sid
    if condition:
        st["Condition"] = condition
    return st


def new_key(creator, policy=None, bypass=False, **kw):
    if policy is not None:
        kw["Policy"] = policy
    if bypass:
        kw["BypassPolicyLockoutSafetyCheck"] = True
    return creator.kms.create_key(**kw)["KeyMetadata"]


def kms_denied(who, action, resource, reason="identity"):
    return raises_aws("AccessDeniedException", denied_msg(who.arn, action, resource, reason),
                      status=400)


def encrypt(caller, key_id, data=b"payload", **kw):
    return caller.kms.encrypt(KeyId=key_id, Plaintext=data, **kw)["CiphertextBlob"]


def key_state(root, key):
    return root.kms.describe_key(KeyId=key["Arn"])["KeyMetadata"]["KeyState"]


# ---------------------------------------------------------------------------
# The default key policy delegates to IAM


def test_iam_policy_allows_with_default_key_policy(root):
    key = new_key(root)
    u = make_user(root, policy=allow(["kms:Encrypt", "kms:Decrypt"], key["Arn"]))
    resp = u.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"secret",
                         EncryptionContext={"app": "e2e"})
    assert resp["KeyId"] == key["Arn"]
    out = u.kms.decrypt(CiphertextBlob=resp["CiphertextBlob"], EncryptionContext={"app": "e2e"})
    assert out["Plaintext"] == b"secret"
    assert out["KeyId"] == key["Arn"]
    with kms_denied(u, "kms:DescribeKey", key["Arn"]):
        u.kms.describe_key(KeyId=key["KeyId"])


def test_no_identity_policy_is_denied(root):
    key = new_key(root)
    u = make_user(root, policy=allow(["kms:Encrypt", "kms:Decrypt"], key["Arn"]))
    v = make_user(root)
    with kms_denied(v, "kms:Encrypt", key["Arn"]):
        encrypt(v, key["KeyId"])
    blob = encrypt(u, key["KeyId"])
    # Decrypt authorizes against the key inside the ciphertext.
    with kms_denied(v, "kms:Decrypt", key["Arn"]):
        v.kms.decrypt(CiphertextBlob=blob)


@pytest.mark.parametrize("form", ["id", "arn", "alias", "alias_arn"])
def test_denial_names_the_key_arn_whatever_the_identifier(root, form):
    key = new_key(root)
    alias = unique("alias/authz-form")
    root.kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    ident = {"id": key["KeyId"], "arn": key["Arn"], "alias": alias,
             "alias_arn": alias_arn(alias)}[form]
    v = make_user(root)
    with kms_denied(v, "kms:Encrypt", key["Arn"]):
        encrypt(v, ident)
    with kms_denied(v, "kms:DescribeKey", key["Arn"]):
        v.kms.describe_key(KeyId=ident)


def test_key_creator_gets_no_implicit_access(root):
    u = make_user(root, policy=allow("kms:CreateKey"))
    key = new_key(u)
    assert key["KeyManager"] == "CUSTOMER"
    with kms_denied(u, "kms:Encrypt", key["Arn"]):
        encrypt(u, key["KeyId"])
    with kms_denied(u, "kms:DescribeKey", key["Arn"]):
        u.kms.describe_key(KeyId=key["KeyId"])
    # The key got the default policy: the account (and so IAM) decides.
    assert json.loads(root.kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")[
        "Policy"])["Statement"][0]["Principal"] == {"AWS": ROOT_ARN}


def test_create_key_needs_an_iam_policy(root):
    v = make_user(root)
    with kms_denied(v, "kms:CreateKey", "*"):
        v.kms.create_key()


def test_list_keys_needs_an_iam_policy(root):
    v = make_user(root)
    with kms_denied(v, "kms:ListKeys", "*"):
        v.kms.list_keys()
    w = make_user(root, policy=allow("kms:ListKeys"))
    assert "Keys" in w.kms.list_keys()


def test_iam_resource_patterns(root):
    k1, k2 = new_key(root), new_key(root)
    every = make_user(root, policy=allow("kms:Encrypt", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/*"))
    encrypt(every, k1["KeyId"])
    encrypt(every, k2["KeyId"])
    one = make_user(root, policy=allow("kms:Encrypt", k1["Arn"]))
    encrypt(one, k1["KeyId"])
    with kms_denied(one, "kms:Encrypt", k2["Arn"]):
        encrypt(one, k2["KeyId"])


def test_alias_in_iam_resource_does_not_authorize(root):
    key = new_key(root)
    alias = unique("alias/authz-res")
    root.kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    u = make_user(root, policy=allow("kms:Encrypt", alias_arn(alias)))
    with kms_denied(u, "kms:Encrypt", key["Arn"]):
        encrypt(u, alias)
    with kms_denied(u, "kms:Encrypt", key["Arn"]):
        encrypt(u, alias_arn(alias))


def test_request_alias_condition(root):
    key = new_key(root)
    alias = unique("alias/authz-req")
    root.kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    u = make_user(root, policy=allow("kms:Encrypt", "*",
                                     condition={"StringEquals": {"kms:RequestAlias": alias}}))
    encrypt(u, alias)
    with kms_denied(u, "kms:Encrypt", key["Arn"]):
        encrypt(u, key["KeyId"])


def test_explicit_deny_in_iam(root):
    key = new_key(root)
    u = make_user(root, policy=[allow("kms:*"), deny("kms:Decrypt", key["Arn"])])
    blob = encrypt(u, key["KeyId"])
    with kms_denied(u, "kms:Decrypt", key["Arn"], "explicit-identity"):
        u.kms.decrypt(CiphertextBlob=blob)


def test_explicit_deny_in_key_policy(root):
    u = make_user(root, policy=allow("kms:*"))
    v = make_user(root, policy=allow("kms:*"))
    key = new_key(root, key_policy(ACCOUNT_STMT, names(u.arn, actions="kms:Decrypt",
                                                       effect="Deny", sid="NoDecryptForU")))
    blob = encrypt(u, key["KeyId"])
    with kms_denied(u, "kms:Decrypt", key["Arn"], "explicit-resource"):
        u.kms.decrypt(CiphertextBlob=blob)
    assert v.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"payload"


def test_deny_everyone_in_key_policy_binds_root(root):
    key = new_key(root, key_policy(ACCOUNT_STMT, {
        "Sid": "NobodyEncrypts", "Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt",
        "Resource": "*"}))
    with kms_denied(root, "kms:Encrypt", key["Arn"], "explicit-resource"):
        encrypt(root, key["KeyId"])
    root.kms.describe_key(KeyId=key["KeyId"])


# ---------------------------------------------------------------------------
# Key policies naming principals directly


def test_key_policy_naming_a_user(root):
    u = make_user(root)                                   # no IAM policy
    w = make_user(root, policy=allow("kms:*"))            # IAM only
    key = new_key(root, key_policy(ADMIN_STMT, names(u.arn, sid="KeyUsers")))
    blob = encrypt(u, key["KeyId"])
    assert u.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"payload"
    assert u.kms.describe_key(KeyId=key["Arn"])["KeyMetadata"]["KeyId"] == key["KeyId"]
    # The account is trusted for administration only: IAM cannot grant use.
    with kms_denied(w, "kms:Encrypt", key["Arn"], "resource"):
        encrypt(w, key["KeyId"])
    with kms_denied(w, "kms:Decrypt", key["Arn"], "resource"):
        w.kms.decrypt(CiphertextBlob=blob)
    w.kms.describe_key(KeyId=key["KeyId"])
    with kms_denied(root, "kms:Encrypt", key["Arn"], "resource"):
        encrypt(root, key["KeyId"])


def test_root_has_no_access_when_the_account_is_not_named(root):
    u = make_user(root)
    only_u = key_policy(names(u.arn, actions="kms:*", sid="OnlyU"))
    with raises_aws("MalformedPolicyDocumentException", LOCKOUT_MSG):
        new_key(root, only_u)
    key = new_key(root, only_u, bypass=True)
    with kms_denied(root, "kms:Encrypt", key["Arn"], "resource"):
        encrypt(root, key["KeyId"])
    with kms_denied(root, "kms:DescribeKey", key["Arn"], "resource"):
        root.kms.describe_key(KeyId=key["KeyId"])
    with kms_denied(root, "kms:PutKeyPolicy", key["Arn"], "resource"):
        root.kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default",
                                Policy=key_policy(ACCOUNT_STMT))
    # u may hand the key back to the account, keeping itself in.
    u.kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default",
                         Policy=key_policy(ACCOUNT_STMT, names(u.arn, actions="kms:*")))
    encrypt(root, key["KeyId"])


def test_key_policy_naming_a_role(root):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn))
    other = make_role(root, trust=trust_policy(u.arn), policy=allow("kms:*"))
    key = new_key(root, key_policy(ADMIN_STMT, names(role["Arn"])))
    s = assume_role(u, role["Arn"], "keyuser")
    blob = encrypt(s, key["KeyId"])
    assert s.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"payload"
    t = assume_role(u, other["Arn"], "outsider")
    with kms_denied(t, "kms:Decrypt", key["Arn"], "resource"):
        t.kms.decrypt(CiphertextBlob=blob)


def test_role_named_in_key_policy_is_still_limited_by_session_policy(root):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn))
    key = new_key(root, key_policy(ADMIN_STMT, names(role["Arn"])))
    s = assume_role(u, role["Arn"], "scoped",
                    Policy=json.dumps({"Version": "2012-10-17", "Statement": [
                        allow("kms:DescribeKey")]}))
    s.kms.describe_key(KeyId=key["Arn"])
    with kms_denied(s, "kms:Encrypt", key["Arn"], "session"):
        encrypt(s, key["Arn"])


def test_session_named_in_key_policy_is_not_limited_by_session_policy(root):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn))
    s = assume_role(u, role["Arn"], "named-session",
                    Policy=json.dumps({"Version": "2012-10-17", "Statement": [
                        allow("kms:DescribeKey")]}))
    assert s.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role['RoleName']}/named-session"
    key = new_key(root, key_policy(ADMIN_STMT, names(s.arn)))
    encrypt(s, key["Arn"])


def test_boundary_limits_iam_permissions_on_keys(root):
    key = new_key(root)
    boundary = make_managed_policy(root, allow("kms:DescribeKey"))
    u = make_user(root, policy=allow("kms:*"), boundary=boundary["Arn"])
    u.kms.describe_key(KeyId=key["Arn"])
    with kms_denied(u, "kms:Encrypt", key["Arn"], "boundary"):
        encrypt(u, key["Arn"])


def test_user_named_in_key_policy_is_not_limited_by_boundary(root):
    boundary = make_managed_policy(root, allow("iam:*"))
    u = make_user(root, boundary=boundary["Arn"])
    key = new_key(root, key_policy(ADMIN_STMT, names(u.arn)))
    blob = encrypt(u, key["Arn"])
    assert u.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"payload"


def test_role_session_via_role_policy(root):
    key = new_key(root)
    writer = make_user(root, policy=allow("kms:Encrypt", key["Arn"]))
    blob = encrypt(writer, key["KeyId"])
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn), policy=allow("kms:Decrypt", key["Arn"]))
    s = assume_role(u, role["Arn"], "decryptor")
    assert s.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"payload"
    with kms_denied(s, "kms:Encrypt", key["Arn"]):
        encrypt(s, key["KeyId"])


# ---------------------------------------------------------------------------
# Conditions


def test_encryption_context_condition(root):
    key = new_key(root)
    u = make_user(root, policy=allow(["kms:Encrypt", "kms:Decrypt"], key["Arn"], condition={
        "StringEquals": {"kms:EncryptionContext:dept": "eng"}}))
    blob = encrypt(u, key["KeyId"], EncryptionContext={"dept": "eng"})
    u.kms.decrypt(CiphertextBlob=blob, EncryptionContext={"dept": "eng"})
    with kms_denied(u, "kms:Encrypt", key["Arn"]):
        encrypt(u, key["KeyId"], EncryptionContext={"dept": "ops"})
    with kms_denied(u, "kms:Encrypt", key["Arn"]):
        encrypt(u, key["KeyId"])


def test_encryption_context_key_is_case_insensitive_value_is_not(root):
    key = new_key(root)
    u = make_user(root, policy=allow("kms:Encrypt", key["Arn"], condition={
        "StringEquals": {"kms:EncryptionContext:Dept": "eng"}}))
    encrypt(u, key["KeyId"], EncryptionContext={"dept": "eng"})
    with kms_denied(u, "kms:Encrypt", key["Arn"]):
        encrypt(u, key["KeyId"], EncryptionContext={"dept": "ENG"})


def test_encryption_context_keys_condition(root):
    u = make_user(root, policy=allow("kms:*"))
    key = new_key(root, key_policy(ACCOUNT_STMT, {
        "Sid": "RequireContext", "Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt",
        "Resource": "*", "Condition": {"Null": {"kms:EncryptionContextKeys": "true"}}}))
    encrypt(u, key["KeyId"], EncryptionContext={"any": "thing"})
    with kms_denied(u, "kms:Encrypt", key["Arn"], "explicit-resource"):
        encrypt(u, key["KeyId"])


def test_caller_account_with_everyone_principal(root, account_b):
    u = make_user(root)                                  # no IAM policy needed
    ub = make_user(account_b)
    key = new_key(root, key_policy(ADMIN_STMT, {
        "Sid": "EveryoneInTheAccount", "Effect": "Allow", "Principal": {"AWS": "*"},
        "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"], "Resource": "*",
        "Condition": {"StringEquals": {"kms:CallerAccount": ACCOUNT}}}))
    blob = encrypt(u, key["Arn"])
    assert u.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"payload"
    account_b.iam.put_user_policy(UserName=ub.name, PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [allow("kms:*", key["Arn"])]}))
    with kms_denied(ub, "kms:Encrypt", key["Arn"], "resource"):
        encrypt(ub, key["Arn"])


def test_via_service_is_absent_on_direct_calls(root):
    key = new_key(root)
    u = make_user(root, policy=allow(["kms:Encrypt", "kms:Decrypt"], key["Arn"], condition={
        "StringEquals": {"kms:ViaService": VIA_SM}}))
    with kms_denied(u, "kms:Encrypt", key["Arn"]):
        encrypt(u, key["KeyId"])


def test_deny_unless_via_service(root):
    u = make_user(root, policy=allow("kms:*"))
    key = new_key(root, key_policy(ACCOUNT_STMT, {
        "Sid": "OnlyThroughSecretsManager", "Effect": "Deny", "Principal": {"AWS": "*"},
        "Action": "kms:Decrypt", "Resource": "*",
        "Condition": {"Null": {"kms:ViaService": "true"}}}))
    blob = encrypt(u, key["KeyId"])
    with kms_denied(u, "kms:Decrypt", key["Arn"], "explicit-resource"):
        u.kms.decrypt(CiphertextBlob=blob)


def test_principal_arn_condition_in_key_policy(root):
    u = make_user(root, path="/crypto/")
    v = make_user(root, path="/other/")
    key = new_key(root, key_policy(ADMIN_STMT, {
        "Sid": "PathUsers", "Effect": "Allow", "Principal": {"AWS": "*"},
        "Action": "kms:Encrypt", "Resource": "*",
        "Condition": {"ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/crypto/*"}}}))
    encrypt(u, key["Arn"])
    with kms_denied(v, "kms:Encrypt", key["Arn"], "resource"):
        encrypt(v, key["Arn"])


# ---------------------------------------------------------------------------
# Across accounts


@pytest.fixture(scope="module")
def shared_key(root):
    """A key of account A whose policy trusts account B (every operation)."""
    key = new_key(root, key_policy(ACCOUNT_STMT, {
        "Sid": "AccountB", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN_B},
        "Action": "kms:*", "Resource": "*"}))
    alias = unique("alias/shared")
    root.kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    key["Alias"] = alias
    return key


@pytest.fixture(scope="module")
def user_b(account_b, shared_key):
    """A user of account B whose IAM policy allows everything on the shared key."""
    return make_user(account_b, policy=allow("kms:*", shared_key["Arn"]))


def test_cross_account_use_with_key_arn(shared_key, user_b):
    arn = shared_key["Arn"]
    resp = user_b.kms.encrypt(KeyId=arn, Plaintext=b"from b", EncryptionContext={"p": "q"})
    assert resp["KeyId"] == arn
    out = user_b.kms.decrypt(CiphertextBlob=resp["CiphertextBlob"], EncryptionContext={"p": "q"})
    assert out["Plaintext"] == b"from b"
    md = user_b.kms.describe_key(KeyId=arn)["KeyMetadata"]
    assert md["AWSAccountId"] == ACCOUNT
    assert md["Arn"] == arn
    dk = user_b.kms.generate_data_key(KeyId=arn, KeySpec="AES_256")
    assert len(dk["Plaintext"]) == 32 and dk["KeyId"] == arn


def test_cross_account_ciphertext_round_trip(root, shared_key, user_b):
    # A ciphertext made in A decrypts in B and the other way round.
    a_user = make_user(root, policy=allow(["kms:Encrypt", "kms:Decrypt"], shared_key["Arn"]))
    blob = encrypt(a_user, shared_key["KeyId"])
    assert user_b.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"payload"
    blob_b = encrypt(user_b, shared_key["Arn"], b"made in b")
    assert a_user.kms.decrypt(CiphertextBlob=blob_b)["Plaintext"] == b"made in b"


def test_cross_account_needs_b_identity_policy(account_b, shared_key):
    ub = make_user(account_b)
    with kms_denied(ub, "kms:Encrypt", shared_key["Arn"], "identity"):
        encrypt(ub, shared_key["Arn"])


def test_cross_account_root_of_b(account_b, shared_key):
    # B's root user: all of B's identity side, and the key policy names B.
    blob = encrypt(account_b, shared_key["Arn"])
    assert account_b.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"payload"


def test_cross_account_needs_the_key_policy(root, account_b):
    key = new_key(root)                                 # default policy: account A only
    ub = make_user(account_b, policy=allow("kms:*", key["Arn"]))
    with kms_denied(ub, "kms:Encrypt", key["Arn"], "resource"):
        encrypt(ub, key["Arn"])
    with kms_denied(account_b, "kms:DescribeKey", key["Arn"], "resource"):
        account_b.kms.describe_key(KeyId=key["Arn"])


def test_cross_account_key_policy_naming_a_b_user(root, account_b):
    ub = make_user(account_b, policy=allow("kms:Encrypt", "*"))
    other_b = make_user(account_b, policy=allow("kms:Encrypt", "*"))
    key = new_key(root, key_policy(ACCOUNT_STMT, names(ub.arn, actions="kms:Encrypt")))
    encrypt(ub, key["Arn"])
    with kms_denied(other_b, "kms:Encrypt", key["Arn"], "resource"):
        encrypt(other_b, key["Arn"])
    # Naming the B user directly does not spare it B's own IAM policy.
    bare = make_user(account_b)
    root.kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=key_policy(
        ACCOUNT_STMT, names(ub.arn, bare.arn, actions="kms:Encrypt")))
    with kms_denied(bare, "kms:Encrypt", key["Arn"], "identity"):
        encrypt(bare, key["Arn"])


@pytest.mark.parametrize("op", ["ScheduleKeyDeletion", "PutKeyPolicy", "DisableKey"])
def test_cross_account_only_for_cross_account_operations(root, account_b, op):
    # The key policy gives B kms:* and B's IAM allows it, but key management
    # is not a cross-account operation.
    key = new_key(root, key_policy(ACCOUNT_STMT, {
        "Sid": "AccountB", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN_B},
        "Action": "kms:*", "Resource": "*"}))
    arn = key["Arn"]
    user_b = make_user(account_b, policy=allow("kms:*", arn))
    user_b.kms.describe_key(KeyId=arn)
    before = root.kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"]
    with raises_aws(("AccessDeniedException", "NotFoundException")):
        if op == "ScheduleKeyDeletion":
            user_b.kms.schedule_key_deletion(KeyId=arn, PendingWindowInDays=7)
        elif op == "PutKeyPolicy":
            user_b.kms.put_key_policy(KeyId=arn, PolicyName="default",
                                      Policy=key_policy(ACCOUNT_STMT))
        else:
            user_b.kms.disable_key(KeyId=arn)
    assert key_state(root, key) == "Enabled"
    assert root.kms.get_key_policy(KeyId=arn, PolicyName="default")["Policy"] == before


def test_cross_account_key_id_resolves_in_own_account(shared_key, user_b):
    with raises_aws("NotFoundException",
                    f"Key 'arn:aws:kms:{REGION}:{ACCOUNT_B}:key/{shared_key['KeyId']}' "
                    "does not exist"):
        user_b.kms.describe_key(KeyId=shared_key["KeyId"])


def test_cross_account_alias_name_resolves_in_own_account(shared_key, user_b):
    alias = shared_key["Alias"]
    with raises_aws("NotFoundException",
                    f"Alias arn:aws:kms:{REGION}:{ACCOUNT_B}:{alias} is not found."):
        user_b.kms.describe_key(KeyId=alias)
    with raises_aws("NotFoundException",
                    f"Alias arn:aws:kms:{REGION}:{ACCOUNT_B}:{alias} is not found."):
        encrypt(user_b, alias)


def test_cross_account_list_keys_is_own_account(account_b, shared_key):
    arns = {k["KeyArn"] for k in account_b.kms.list_keys(Limit=1000)["Keys"]}
    assert shared_key["Arn"] not in arns
    assert all(a.startswith(f"arn:aws:kms:{REGION}:{ACCOUNT_B}:key/") for a in arns), arns


# ---------------------------------------------------------------------------
# Grants


def grant(root, key, grantee, ops, **kw):
    resp = root.kms.create_grant(KeyId=key["Arn"], GranteePrincipal=grantee.arn,
                                 Operations=ops, **kw)
    assert re.fullmatch(r"[0-9a-f]{64}", resp["GrantId"]), resp["GrantId"]
    assert resp["GrantToken"]
    return resp


def test_grant_lets_the_grantee_use_the_key(root):
    key = new_key(root)
    g = make_user(root)
    with kms_denied(g, "kms:Encrypt", key["Arn"]):
        encrypt(g, key["KeyId"])
    grant(root, key, g, ["Encrypt", "Decrypt"])
    blob = encrypt(g, key["KeyId"])
    assert g.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"payload"
    with kms_denied(g, "kms:DescribeKey", key["Arn"]):
        g.kms.describe_key(KeyId=key["KeyId"])
    with kms_denied(g, "kms:GenerateDataKey", key["Arn"]):
        g.kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")


def test_grant_token_accepted(root):
    key = new_key(root)
    g = make_user(root)
    tok = grant(root, key, g, ["GenerateDataKey", "Decrypt"])["GrantToken"]
    dk = g.kms.generate_data_key(KeyId=key["Arn"], KeySpec="AES_256", GrantTokens=[tok])
    out = g.kms.decrypt(CiphertextBlob=dk["CiphertextBlob"], GrantTokens=[tok])
    assert out["Plaintext"] == dk["Plaintext"]


def test_grant_constraint_equals(root):
    key = new_key(root)
    g = make_user(root)
    grant(root, key, g, ["Encrypt"], Constraints={"EncryptionContextEquals": {"a": "1"}})
    encrypt(g, key["Arn"], EncryptionContext={"a": "1"})
    for ctx in ({"a": "1", "b": "2"}, {"a": "2"}, {"A": "1"}, None):
        kw = {"EncryptionContext": ctx} if ctx is not None else {}
        with kms_denied(g, "kms:Encrypt", key["Arn"]):
            encrypt(g, key["Arn"], **kw)


def test_grant_constraint_subset(root):
    key = new_key(root)
    g = make_user(root)
    grant(root, key, g, ["Encrypt", "Decrypt"],
          Constraints={"EncryptionContextSubset": {"a": "1"}})
    blob = encrypt(g, key["Arn"], EncryptionContext={"a": "1", "b": "2"})
    g.kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "1", "b": "2"})
    encrypt(g, key["Arn"], EncryptionContext={"a": "1"})
    for ctx in ({"b": "2"}, {"a": "one"}, None):
        kw = {"EncryptionContext": ctx} if ctx is not None else {}
        with kms_denied(g, "kms:Encrypt", key["Arn"]):
            encrypt(g, key["Arn"], **kw)


def test_list_grants_shape(root):
    key = new_key(root)
    g = make_user(root)
    r = make_user(root)
    name = unique("grant")
    gid = grant(root, key, g, ["Decrypt", "Encrypt"], Name=name, RetiringPrincipal=r.arn,
                Constraints={"EncryptionContextSubset": {"app": "x"}})["GrantId"]
    resp = root.kms.list_grants(KeyId=key["Arn"])
    assert resp["Truncated"] is False
    assert len(resp["Grants"]) == 1
    entry = resp["Grants"][0]
    assert entry["KeyId"] == key["Arn"]
    assert entry["GrantId"] == gid
    assert entry["Name"] == name
    assert_recent(entry["CreationDate"])
    assert entry["GranteePrincipal"] == g.arn
    assert entry["RetiringPrincipal"] == r.arn
    assert entry["IssuingAccount"] == ROOT_ARN
    assert sorted(entry["Operations"]) == ["Decrypt", "Encrypt"]
    assert entry["Constraints"] == {"EncryptionContextSubset": {"app": "x"}}
    # Filters.
    assert [x["GrantId"] for x in root.kms.list_grants(KeyId=key["KeyId"], GrantId=gid)[
        "Grants"]] == [gid]
    assert [x["GrantId"] for x in root.kms.list_grants(
        KeyId=key["KeyId"], GranteePrincipal=g.arn)["Grants"]] == [gid]


def test_create_grant_idempotent_by_name(root):
    key = new_key(root)
    g = make_user(root)
    name = unique("same")
    a = grant(root, key, g, ["Encrypt"], Name=name)["GrantId"]
    b = grant(root, key, g, ["Encrypt"], Name=name)["GrantId"]
    assert a == b
    assert len(root.kms.list_grants(KeyId=key["Arn"])["Grants"]) == 1


def test_retire_grant_by_retiring_principal(root):
    key = new_key(root)
    g, r = make_user(root), make_user(root)
    gid = grant(root, key, g, ["Encrypt"], RetiringPrincipal=r.arn)["GrantId"]
    encrypt(g, key["Arn"])
    r.kms.retire_grant(KeyId=key["Arn"], GrantId=gid)   # r needs no policy
    assert root.kms.list_grants(KeyId=key["Arn"])["Grants"] == []
    with kms_denied(g, "kms:Encrypt", key["Arn"]):
        encrypt(g, key["Arn"])


def test_retire_grant_by_token(root):
    key = new_key(root)
    g, r = make_user(root), make_user(root)
    tok = grant(root, key, g, ["Encrypt"], RetiringPrincipal=r.arn)["GrantToken"]
    r.kms.retire_grant(GrantToken=tok)
    assert root.kms.list_grants(KeyId=key["Arn"])["Grants"] == []


def test_retire_grant_by_a_stranger_is_denied(root):
    key = new_key(root)
    g, r, stranger = make_user(root), make_user(root), make_user(root)
    gid = grant(root, key, g, ["Encrypt"], RetiringPrincipal=r.arn)["GrantId"]
    with raises_aws("AccessDeniedException"):
        stranger.kms.retire_grant(KeyId=key["Arn"], GrantId=gid)
    assert len(root.kms.list_grants(KeyId=key["Arn"])["Grants"]) == 1


def test_revoke_grant(root):
    key = new_key(root)
    g = make_user(root)
    gid = grant(root, key, g, ["Encrypt"])["GrantId"]
    encrypt(g, key["Arn"])
    root.kms.revoke_grant(KeyId=key["KeyId"], GrantId=gid)
    assert root.kms.list_grants(KeyId=key["Arn"])["Grants"] == []
    with kms_denied(g, "kms:Encrypt", key["Arn"]):
        encrypt(g, key["Arn"])


def test_revoke_unknown_grant(root):
    key = new_key(root)
    with raises_aws(("NotFoundException", "InvalidGrantIdException")):
        root.kms.revoke_grant(KeyId=key["KeyId"], GrantId="0" * 64)


def test_revoke_grant_needs_permission(root):
    key = new_key(root)
    g = make_user(root)
    gid = grant(root, key, g, ["Encrypt"])["GrantId"]
    with kms_denied(g, "kms:RevokeGrant", key["Arn"]):
        g.kms.revoke_grant(KeyId=key["Arn"], GrantId=gid)


DRY_RUN_MSG = "The request would have succeeded, but the DryRun option is set."


def test_retire_and_revoke_dry_run_delete_nothing(root, authz_server):
    """DryRun on RetireGrant (by id and by token) and RevokeGrant: the
    request is decided, DryRunOperationException answers, and the grant and
    its retiring principal's listing stay; revoked for real, both go."""
    key = new_key(root)
    g, r = make_user(root), make_user(root)
    made = grant(root, key, g, ["Encrypt"], RetiringPrincipal=r.arn)
    gid = made["GrantId"]
    for who, op, params in [
            (r, "RetireGrant", {"KeyId": key["Arn"], "GrantId": gid}),
            (r, "RetireGrant", {"GrantToken": made["GrantToken"]}),
            (root, "RevokeGrant", {"KeyId": key["KeyId"], "GrantId": gid})]:
        resp = authz_server.raw(f"TrentService.{op}", dict(params, DryRun=True),
                                access_key=who.access_key, secret_key=who.secret_key)
        assert (resp.status, resp.error_code, resp.error_message) == \
            (400, "DryRunOperationException", DRY_RUN_MSG), (op, resp)
    assert [x["GrantId"] for x in root.kms.list_grants(KeyId=key["Arn"])["Grants"]] == [gid]
    retirable = root.kms.list_retirable_grants(RetiringPrincipal=r.arn)["Grants"]
    assert [x["GrantId"] for x in retirable] == [gid]
    encrypt(g, key["Arn"])
    # A stranger's dry run is decided first: denied, not DryRun.
    stranger = make_user(root)
    resp = authz_server.raw("TrentService.RetireGrant",
                            {"KeyId": key["Arn"], "GrantId": gid, "DryRun": True},
                            access_key=stranger.access_key, secret_key=stranger.secret_key)
    assert (resp.status, resp.error_code) == (400, "AccessDeniedException"), resp
    root.kms.revoke_grant(KeyId=key["KeyId"], GrantId=gid)
    assert root.kms.list_grants(KeyId=key["Arn"])["Grants"] == []
    assert root.kms.list_retirable_grants(RetiringPrincipal=r.arn)["Grants"] == []


def test_list_retirable_grants(root):
    key = new_key(root)
    g, r = make_user(root), make_user(root)
    gid = grant(root, key, g, ["Decrypt"], RetiringPrincipal=r.arn, Name="retirable")["GrantId"]
    resp = root.kms.list_retirable_grants(RetiringPrincipal=r.arn)
    assert resp["Truncated"] is False
    entry = next(x for x in resp["Grants"] if x["GrantId"] == gid)
    assert entry["KeyId"] == key["Arn"]
    assert entry["GranteePrincipal"] == g.arn
    assert entry["RetiringPrincipal"] == r.arn
    assert entry["IssuingAccount"] == ROOT_ARN
    assert entry["Operations"] == ["Decrypt"]
    assert entry["Name"] == "retirable"


def test_create_grant_invalid_operation(root):
    key = new_key(root)
    g = make_user(root)
    with raises_aws("ValidationException", contains="operations"):
        root.kms.create_grant(KeyId=key["Arn"], GranteePrincipal=g.arn,
                              Operations=["Frobnicate"])
    assert root.kms.list_grants(KeyId=key["Arn"])["Grants"] == []


def test_create_grant_needs_permission(root):
    key = new_key(root)
    u, g = make_user(root), make_user(root)
    with kms_denied(u, "kms:CreateGrant", key["Arn"]):
        u.kms.create_grant(KeyId=key["Arn"], GranteePrincipal=g.arn, Operations=["Encrypt"])


def test_grant_to_a_role_covers_its_sessions(root):
    key = new_key(root)
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn))
    root.kms.create_grant(KeyId=key["Arn"], GranteePrincipal=role["Arn"],
                          Operations=["Encrypt", "Decrypt"])
    s = assume_role(u, role["Arn"])
    blob = encrypt(s, key["Arn"])
    assert s.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"payload"


def test_explicit_iam_deny_beats_a_grant(root):
    key = new_key(root)
    g = make_user(root, policy=deny("kms:Decrypt"))
    grant(root, key, g, ["Encrypt", "Decrypt"])
    blob = encrypt(g, key["Arn"])
    with kms_denied(g, "kms:Decrypt", key["Arn"], "explicit-identity"):
        g.kms.decrypt(CiphertextBlob=blob)


def test_explicit_key_policy_deny_beats_a_grant(root):
    g = make_user(root)
    key = new_key(root, key_policy(ACCOUNT_STMT, names(g.arn, actions="kms:Encrypt",
                                                       effect="Deny")))
    grant(root, key, g, ["Encrypt"])
    with kms_denied(g, "kms:Encrypt", key["Arn"], "explicit-resource"):
        encrypt(g, key["Arn"])


def test_grant_is_for_aws_resource_is_false_on_direct_calls(root):
    u, g = make_user(root), make_user(root)
    # The account gets no grant permissions here, so only the conditioned
    # statement could allow CreateGrant.
    readers = {"Sid": "Read", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN},
               "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:PutKeyPolicy"],
               "Resource": "*"}
    key = new_key(root, key_policy(readers, names(
        u.arn, actions=["kms:CreateGrant", "kms:ListGrants", "kms:RevokeGrant"],
        condition={"Bool": {"kms:GrantIsForAWSResource": "true"}})))
    with kms_denied(u, "kms:CreateGrant", key["Arn"], "resource"):
        u.kms.create_grant(KeyId=key["Arn"], GranteePrincipal=g.arn, Operations=["Encrypt"])


def test_grantee_may_delegate_only_what_it_holds(root):
    key = new_key(root)
    g, h = make_user(root), make_user(root)
    grant(root, key, g, ["Encrypt", "CreateGrant"])
    g.kms.create_grant(KeyId=key["Arn"], GranteePrincipal=h.arn, Operations=["Encrypt"])
    encrypt(h, key["Arn"])
    with raises_aws("AccessDeniedException"):
        g.kms.create_grant(KeyId=key["Arn"], GranteePrincipal=h.arn, Operations=["Decrypt"])


# ---------------------------------------------------------------------------
# PutKeyPolicy: principals and the lockout check


def test_put_key_policy_lockout_with_a_user_caller(root):
    key = new_key(root)
    u = make_user(root, policy=allow("kms:*", key["Arn"]))
    w = make_user(root)
    with raises_aws("MalformedPolicyDocumentException", LOCKOUT_MSG):
        u.kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default",
                             Policy=key_policy(names(w.arn, actions="kms:*")))
    # Keeping the account (through which u's IAM policy counts) is fine.
    keep = key_policy(ACCOUNT_STMT, names(w.arn))
    u.kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=keep)
    assert root.kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"] == keep
    # So is naming u directly, even if that shuts the root user out.
    only_u = key_policy(names(u.arn, actions="kms:*"))
    u.kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=only_u)
    with kms_denied(root, "kms:DescribeKey", key["Arn"], "resource"):
        root.kms.describe_key(KeyId=key["KeyId"])
    # With the bypass flag anything goes.
    u.kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default",
                         Policy=key_policy(names(w.arn, actions="kms:*")),
                         BypassPolicyLockoutSafetyCheck=True)
    with kms_denied(u, "kms:DescribeKey", key["Arn"], "resource"):
        u.kms.describe_key(KeyId=key["KeyId"])


def test_put_key_policy_needs_permission(root):
    key = new_key(root)
    u = make_user(root, policy=allow("kms:DescribeKey", key["Arn"]))
    with kms_denied(u, "kms:PutKeyPolicy", key["Arn"]):
        u.kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default",
                             Policy=key_policy(ACCOUNT_STMT))


@pytest.mark.parametrize("kind", ["user", "role", "deleted-user", "b-user"])
def test_put_key_policy_invalid_principal(root, account_b, kind):
    key = new_key(root)
    if kind == "user":
        ghost = user_arn(unique("ghost"))
    elif kind == "role":
        ghost = role_arn(unique("ghost"))
    elif kind == "deleted-user":
        gone = root.iam.create_user(UserName=unique("gone"))["User"]
        root.iam.delete_user(UserName=gone["UserName"])
        ghost = gone["Arn"]
    else:
        ghost = user_arn(unique("ghost"), account=ACCOUNT_B)
    with raises_aws("MalformedPolicyDocumentException", INVALID_PRINCIPALS_MSG):
        root.kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default",
                                Policy=key_policy(ACCOUNT_STMT, names(ghost)))
    policy = json.loads(root.kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")[
        "Policy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": ROOT_ARN}
    assert len(policy["Statement"]) == 1


def test_put_key_policy_existing_principals(root, account_b):
    key = new_key(root)
    u = make_user(root, keys=False)
    role = make_role(root, trust=trust_policy(ROOT_ARN))
    ub = make_user(account_b, keys=False)
    policy = key_policy(ACCOUNT_STMT, names(u.arn, role["Arn"], ub.arn, ROOT_ARN_B, ACCOUNT_B))
    root.kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=policy)
    assert root.kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")[
        "Policy"] == policy


def test_create_key_policy_naming_an_existing_user(root):
    u = make_user(root)
    policy = key_policy(ACCOUNT_STMT, names(u.arn, sid="User"))
    key = new_key(root, policy)
    assert root.kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")[
        "Policy"] == policy
    blob = encrypt(u, key["KeyId"])
    assert u.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"payload"
