"""
KMS key management end to end: CreateKey, DescribeKey, ListKeys, Enable/
DisableKey, key deletion (scheduled, cancelled, purged through a clock
offset), rotation (automatic and on demand), aliases, descriptions, key
policies and tags.  Expected values, codes and messages are AWS's.
"""

import datetime
import json
import uuid

import pytest

from tresor_e2e import (
    ACCOUNT, DAY, DELETED_KEY_CIPHERTEXT_MSG, KEY_ARN_PREFIX, REGION, ROOT_ARN, UUID_RE,
    alias_arn, alias_not_found_msg, assert_no_nulls, disabled_msg, eventually, key_arn,
    make_user, new_key, not_found_key_msg, pending_deletion_msg, raises_aws, unique, utcnow,
)

DEFAULT_POLICY = {
    "Version": "2012-10-17",
    "Id": "key-default-1",
    "Statement": [
        {
            "Sid": "Enable IAM User Permissions",
            "Effect": "Allow",
            "Principal": {"AWS": ROOT_ARN},
            "Action": "kms:*",
            "Resource": "*",
        }
    ],
}

# Members real KMS returns for a customer managed symmetric AWS_KMS key
# (AWS-validated LocalStack snapshot test_create_key); newer KMS also returns
# CurrentKeyMaterialId.
SYMMETRIC_METADATA_MEMBERS = {
    "AWSAccountId", "Arn", "CreationDate", "CustomerMasterKeySpec", "Description",
    "Enabled", "EncryptionAlgorithms", "KeyId", "KeyManager", "KeySpec", "KeyState",
    "KeyUsage", "MultiRegion", "Origin",
}
OPTIONAL_METADATA_MEMBERS = {"CurrentKeyMaterialId"}


def account_policy(*extra_statements, sid="Enable IAM User Permissions"):
    """A policy that keeps the account (and so the root caller) in control."""
    return json.dumps({
        "Version": "2012-10-17",
        "Id": "custom-policy-1",
        "Statement": [
            {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": ROOT_ARN},
             "Action": "kms:*", "Resource": "*"},
            *extra_statements,
        ],
    }, indent=2)


def assert_recent(ts, slack=300):
    now = utcnow()
    assert isinstance(ts, datetime.datetime), ts
    assert abs((now - ts).total_seconds()) < slack, f"{ts} is not close to {now}"


# ---------------------------------------------------------------------------
# CreateKey / DescribeKey


def test_create_key_defaults(kms):
    md = new_key(kms)
    assert UUID_RE.match(md["KeyId"]), md["KeyId"]
    assert md["AWSAccountId"] == ACCOUNT
    assert md["Arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{md['KeyId']}"
    assert_recent(md["CreationDate"])
    assert md["Enabled"] is True
    assert md["Description"] == ""
    assert md["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert md["KeyState"] == "Enabled"
    assert md["Origin"] == "AWS_KMS"
    assert md["KeyManager"] == "CUSTOMER"
    assert md["CustomerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert md["KeySpec"] == "SYMMETRIC_DEFAULT"
    assert md["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    assert md["MultiRegion"] is False
    for absent in ("DeletionDate", "ValidTo", "ExpirationModel", "SigningAlgorithms",
                   "MacAlgorithms", "PendingDeletionWindowInDays", "MultiRegionConfiguration"):
        assert absent not in md, f"{absent} should be absent: {md}"


def test_create_key_wire_shape(tresor):
    """The raw JSON: exactly AWS's members, no nulls, CreationDate as epoch seconds."""
    r = tresor.raw("TrentService.CreateKey", {})
    assert r.status == 200, r
    assert r.headers.get("content-type", "").startswith("application/x-amz-json-1.1"), r.headers
    md = r.json["KeyMetadata"]
    assert_no_nulls(r.json)
    keys = set(md)
    assert SYMMETRIC_METADATA_MEMBERS <= keys, SYMMETRIC_METADATA_MEMBERS - keys
    assert keys <= SYMMETRIC_METADATA_MEMBERS | OPTIONAL_METADATA_MEMBERS, keys
    assert isinstance(md["CreationDate"], (int, float)) and not isinstance(
        md["CreationDate"], bool), md["CreationDate"]
    assert abs(md["CreationDate"] - utcnow().timestamp()) < 300


def test_create_key_with_description_tags_policy(kms):
    policy = account_policy()
    tags = [{"TagKey": "team", "TagValue": "crypto"}, {"TagKey": "env", "TagValue": ""}]
    md = new_key(kms, Description="payments key", Tags=tags, Policy=policy,
                 KeyUsage="ENCRYPT_DECRYPT", KeySpec="SYMMETRIC_DEFAULT", Origin="AWS_KMS")
    assert md["Description"] == "payments key"
    assert md["KeySpec"] == "SYMMETRIC_DEFAULT"
    got = kms.get_key_policy(KeyId=md["KeyId"], PolicyName="default")["Policy"]
    assert got == policy, "a supplied policy is returned as sent"
    listed = kms.list_resource_tags(KeyId=md["KeyId"])
    assert sorted(listed["Tags"], key=lambda t: t["TagKey"]) == sorted(
        tags, key=lambda t: t["TagKey"])
    assert listed["Truncated"] is False


def test_create_key_deprecated_customer_master_key_spec(kms):
    md = new_key(kms, CustomerMasterKeySpec="SYMMETRIC_DEFAULT")
    assert md["CustomerMasterKeySpec"] == "SYMMETRIC_DEFAULT"
    assert md["KeySpec"] == "SYMMETRIC_DEFAULT"


def test_default_key_policy(kms):
    md = new_key(kms)
    resp = kms.get_key_policy(KeyId=md["KeyId"], PolicyName="default")
    assert json.loads(resp["Policy"]) == DEFAULT_POLICY


def test_default_key_policy_via_arn_and_list_key_policies(kms):
    md = new_key(kms)
    resp = kms.get_key_policy(KeyId=md["Arn"], PolicyName="default")
    assert json.loads(resp["Policy"]) == DEFAULT_POLICY
    lp = kms.list_key_policies(KeyId=md["KeyId"])
    assert lp["PolicyNames"] == ["default"]
    assert lp["Truncated"] is False
    assert "NextMarker" not in lp


@pytest.mark.parametrize("origin", ["AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"])
def test_create_key_custom_key_store_origin_needs_a_store(kms, origin):
    # A key in a custom key store names its store; tresor has none to name
    # (tests/e2e/test_kms_custom_key_stores.py).
    with raises_aws("ValidationException", f"CustomKeyStoreId is required when Origin is "
                    f"{origin}."):
        kms.create_key(Origin=origin)


@pytest.mark.parametrize("member,field", [
    ("KeyUsage", "keyUsage"), ("KeySpec", "keySpec"), ("Origin", "origin"),
])
def test_create_key_invalid_enum(kms, member, field):
    with raises_aws("ValidationException",
                    startswith=f"1 validation error detected: Value 'BOGUS' at '{field}' "
                               "failed to satisfy constraint: Member must satisfy enum value set: ["):
        kms.create_key(**{member: "BOGUS"})


def test_create_key_description_too_long(kms):
    with raises_aws("ValidationException", startswith="1 validation error detected: "):
        kms.create_key(Description="d" * 8193)
    md = new_key(kms, Description="d" * 8192)
    assert len(md["Description"]) == 8192


@pytest.mark.parametrize("policy", ["{not json", '{"Version": "2012-10-17", "Statement": ',
                                    "[1, 2, 3]"])
def test_create_key_malformed_policy(kms, policy):
    with raises_aws("MalformedPolicyDocumentException"):
        kms.create_key(Policy=policy)


def test_create_key_policy_lockout_check(kms, tresor):
    # The account may only Encrypt: the caller could never PutKeyPolicy again.
    locked = json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "EncryptOnly", "Effect": "Allow",
                       "Principal": {"AWS": ROOT_ARN}, "Action": "kms:Encrypt",
                       "Resource": "*"}],
    })
    with raises_aws("MalformedPolicyDocumentException",
                    "The new key policy will not allow you to update the key policy in the future."):
        kms.create_key(Policy=locked)
    # With the bypass flag the key is created, and the policy is enforced:
    md = new_key(kms, Policy=locked, BypassPolicyLockoutSafetyCheck=True)
    ct = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"x")
    assert ct["KeyId"] == md["Arn"]
    with raises_aws("AccessDeniedException",
                    f"User: {ROOT_ARN} is not authorized to perform: kms:DescribeKey on "
                    f"resource: {md['Arn']} because no resource-based policy allows the "
                    "kms:DescribeKey action"):
        kms.describe_key(KeyId=md["KeyId"])


def test_create_key_policy_invalid_principal(kms):
    policy = account_policy({
        "Sid": "Ghost", "Effect": "Allow",
        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/no-such-user-{uuid.uuid4().hex[:8]}"},
        "Action": "kms:Decrypt", "Resource": "*"})
    with raises_aws("MalformedPolicyDocumentException",
                    "Policy contains a statement with one or more invalid principals."):
        kms.create_key(Policy=policy)


@pytest.mark.parametrize("form", ["id", "arn", "alias", "alias_arn"])
def test_describe_key_all_identifier_forms(kms, form):
    md = new_key(kms, Description=f"describe by {form}")
    alias = unique("alias/describe")
    kms.create_alias(AliasName=alias, TargetKeyId=md["KeyId"])
    ident = {"id": md["KeyId"], "arn": md["Arn"], "alias": alias,
             "alias_arn": alias_arn(alias)}[form]
    got = kms.describe_key(KeyId=ident)["KeyMetadata"]
    assert got == md


def test_describe_key_unknown_id_and_arn(kms):
    missing = str(uuid.uuid4())
    with raises_aws("NotFoundException", not_found_key_msg(missing)):
        kms.describe_key(KeyId=missing)
    with raises_aws("NotFoundException", not_found_key_msg(missing)):
        kms.describe_key(KeyId=key_arn(missing))


@pytest.mark.parametrize("bad", ["xyz", "fake-key-id", "134f2428cec14b25a1ae9048164dba47"])
def test_describe_key_malformed_id(kms, bad):
    with raises_aws("NotFoundException", f"Invalid keyId '{bad}'"):
        kms.describe_key(KeyId=bad)


def test_describe_key_unknown_alias(kms):
    name = unique("alias/missing")
    with raises_aws("NotFoundException", alias_not_found_msg(name)):
        kms.describe_key(KeyId=name)
    with raises_aws("NotFoundException", alias_not_found_msg(name)):
        kms.describe_key(KeyId=alias_arn(name))


# ---------------------------------------------------------------------------
# ListKeys


def _all_keys(kms, limit):
    pages, marker = [], None
    while True:
        kw = {"Limit": limit}
        if marker:
            kw["Marker"] = marker
        page = kms.list_keys(**kw)
        pages.append(page)
        if not page["Truncated"]:
            assert "NextMarker" not in page, page
            break
        assert page["NextMarker"], page
        marker = page["NextMarker"]
        assert len(pages) < 10000
    return pages


def test_list_keys_entries(kms):
    mine = [new_key(kms) for _ in range(3)]
    page = kms.list_keys(Limit=1000)
    assert page["Truncated"] is False
    assert "NextMarker" not in page
    entries = {e["KeyId"]: e for e in page["Keys"]}
    for md in mine:
        assert entries[md["KeyId"]] == {"KeyId": md["KeyId"], "KeyArn": md["Arn"]}


def test_list_keys_paging(kms):
    mine = {new_key(kms)["KeyId"] for _ in range(4)}
    everything = [e["KeyId"] for e in kms.list_keys(Limit=1000)["Keys"]]
    assert len(everything) == len(set(everything))

    first = kms.list_keys(Limit=1)
    assert len(first["Keys"]) == 1
    assert first["Truncated"] is True
    second = kms.list_keys(Limit=1, Marker=first["NextMarker"])
    assert len(second["Keys"]) == 1
    assert second["Keys"][0]["KeyId"] != first["Keys"][0]["KeyId"]

    pages = _all_keys(kms, 3)
    for p in pages[:-1]:
        assert len(p["Keys"]) == 3
        assert p["Truncated"] is True
    assert 1 <= len(pages[-1]["Keys"]) <= 3
    paged = [e["KeyId"] for p in pages for e in p["Keys"]]
    assert len(paged) == len(set(paged)), "no key twice across pages"
    assert mine <= set(paged)
    assert set(everything) <= set(paged)


def test_list_keys_default_page(kms):
    new_key(kms)
    page = kms.list_keys()
    assert len(page["Keys"]) >= 1
    assert isinstance(page["Truncated"], bool)


@pytest.mark.parametrize("limit,msg", [
    (0, "1 validation error detected: Value '0' at 'limit' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1"),
    (1001, "1 validation error detected: Value '1001' at 'limit' failed to satisfy "
           "constraint: Member must have value less than or equal to 1000"),
])
def test_list_keys_limit_out_of_range(kms, limit, msg):
    with raises_aws("ValidationException", msg):
        kms.list_keys(Limit=limit)


def test_list_keys_bad_marker(kms):
    with raises_aws("InvalidMarkerException"):
        kms.list_keys(Limit=1, Marker="this-is-not-a-marker-we-issued")


# ---------------------------------------------------------------------------
# Enable / Disable


def test_disable_and_enable_key(kms):
    md = new_key(kms)
    kid = md["KeyId"]
    assert kms.disable_key(KeyId=kid)["ResponseMetadata"]["HTTPStatusCode"] == 200
    got = kms.describe_key(KeyId=kid)["KeyMetadata"]
    assert got["KeyState"] == "Disabled"
    assert got["Enabled"] is False
    kms.disable_key(KeyId=kid)  # idempotent
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Disabled"
    kms.enable_key(KeyId=md["Arn"])
    got = kms.describe_key(KeyId=kid)["KeyMetadata"]
    assert got["KeyState"] == "Enabled"
    assert got["Enabled"] is True
    kms.enable_key(KeyId=kid)  # idempotent
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["Enabled"] is True


def test_disabled_key_refuses_crypto(kms):
    md = new_key(kms)
    kms.disable_key(KeyId=md["KeyId"])
    with raises_aws("DisabledException", disabled_msg(md["KeyId"])):
        kms.encrypt(KeyId=md["KeyId"], Plaintext=b"secret")
    with raises_aws("DisabledException", disabled_msg(md["KeyId"])):
        kms.generate_data_key(KeyId=md["KeyId"], KeySpec="AES_256")


def test_enable_disable_unknown_key(kms):
    missing = str(uuid.uuid4())
    with raises_aws("NotFoundException", not_found_key_msg(missing)):
        kms.enable_key(KeyId=missing)
    with raises_aws("NotFoundException", not_found_key_msg(missing)):
        kms.disable_key(KeyId=missing)


# ---------------------------------------------------------------------------
# Key deletion


def test_schedule_key_deletion_default_window(kms):
    md = new_key(kms)
    before = utcnow()
    resp = kms.schedule_key_deletion(KeyId=md["KeyId"])
    assert resp["KeyId"] == md["Arn"]
    assert resp["KeyState"] == "PendingDeletion"
    assert resp["PendingWindowInDays"] == 30
    delta = (resp["DeletionDate"] - before).total_seconds()
    assert 29 * DAY <= delta <= 31 * DAY, resp["DeletionDate"]
    got = kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
    assert got["KeyState"] == "PendingDeletion"
    assert got["Enabled"] is False
    assert got["DeletionDate"] == resp["DeletionDate"]


def test_schedule_key_deletion_seven_days(kms):
    md = new_key(kms)
    before = utcnow()
    resp = kms.schedule_key_deletion(KeyId=md["Arn"], PendingWindowInDays=7)
    assert resp["KeyId"] == md["Arn"]
    assert resp["PendingWindowInDays"] == 7
    delta = (resp["DeletionDate"] - before).total_seconds()
    assert 6 * DAY <= delta <= 8 * DAY, resp["DeletionDate"]


@pytest.mark.parametrize("days", [6, 31])
def test_schedule_key_deletion_window_out_of_range(kms, days):
    md = new_key(kms)
    with raises_aws("ValidationException"):
        kms.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=days)
    assert kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_pending_deletion_state_rules(kms):
    md = new_key(kms)
    kid = md["KeyId"]
    blob = kms.encrypt(KeyId=kid, Plaintext=b"before deletion")["CiphertextBlob"]
    kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
    msg = pending_deletion_msg(kid)
    with raises_aws("KMSInvalidStateException", msg):
        kms.encrypt(KeyId=kid, Plaintext=b"x")
    with raises_aws("KMSInvalidStateException", msg):
        kms.decrypt(CiphertextBlob=blob)
    with raises_aws("KMSInvalidStateException", msg):
        kms.generate_data_key(KeyId=kid, KeySpec="AES_256")
    with raises_aws("KMSInvalidStateException", msg):
        kms.enable_key(KeyId=kid)
    with raises_aws("KMSInvalidStateException", msg):
        kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
    # Metadata stays readable and the key stays listed.
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert kid in {e["KeyId"] for e in kms.list_keys(Limit=1000)["Keys"]}


def test_cancel_key_deletion(kms):
    md = new_key(kms)
    kid = md["KeyId"]
    blob = kms.encrypt(KeyId=kid, Plaintext=b"survives")["CiphertextBlob"]
    kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
    resp = kms.cancel_key_deletion(KeyId=kid)
    assert resp["KeyId"] == md["Arn"]
    got = kms.describe_key(KeyId=kid)["KeyMetadata"]
    assert got["KeyState"] == "Disabled", "AWS leaves a cancelled key Disabled"
    assert got["Enabled"] is False
    assert "DeletionDate" not in got
    with raises_aws("DisabledException", disabled_msg(kid)):
        kms.decrypt(CiphertextBlob=blob)
    kms.enable_key(KeyId=kid)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"survives"


def test_cancel_key_deletion_not_pending(kms):
    md = new_key(kms)
    with raises_aws("KMSInvalidStateException"):
        kms.cancel_key_deletion(KeyId=md["KeyId"])


def test_scheduled_deletion_purges_after_clock_offset(tresor_factory):
    srv = tresor_factory("purge")
    kms = srv.kms()
    k7 = new_key(kms, Description="seven days")
    k30 = new_key(kms, Description="thirty days")
    keep = new_key(kms, Description="not scheduled")
    alias7 = "alias/purged-with-its-key"
    kms.create_alias(AliasName=alias7, TargetKeyId=k7["KeyId"])
    blob = kms.encrypt(KeyId=k7["KeyId"], Plaintext=b"doomed")["CiphertextBlob"]
    kms.schedule_key_deletion(KeyId=k7["KeyId"], PendingWindowInDays=7)
    kms.schedule_key_deletion(KeyId=k30["KeyId"], PendingWindowInDays=30)

    srv.restart({"TRESOR_CLOCK_OFFSET": str(8 * DAY)})
    kms = srv.kms()

    def k7_gone():
        with raises_aws("NotFoundException", not_found_key_msg(k7["KeyId"])):
            kms.describe_key(KeyId=k7["KeyId"])
    eventually(k7_gone)
    listed = {e["KeyId"] for e in kms.list_keys(Limit=1000)["Keys"]}
    assert k7["KeyId"] not in listed
    assert {k30["KeyId"], keep["KeyId"]} <= listed
    assert kms.describe_key(KeyId=k30["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert kms.describe_key(KeyId=keep["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    # The key's aliases go with it.
    with raises_aws("NotFoundException", alias_not_found_msg(alias7)):
        kms.describe_key(KeyId=alias7)
    assert alias7 not in {a["AliasName"] for a in kms.list_aliases()["Aliases"]}
    # Its ciphertexts are unrecoverable.
    with raises_aws("AccessDeniedException", DELETED_KEY_CIPHERTEXT_MSG):
        kms.decrypt(CiphertextBlob=blob)

    srv.restart({"TRESOR_CLOCK_OFFSET": str(31 * DAY)})
    kms = srv.kms()

    def k30_gone():
        with raises_aws("NotFoundException", not_found_key_msg(k30["KeyId"])):
            kms.describe_key(KeyId=k30["KeyId"])
    eventually(k30_gone)
    assert kms.describe_key(KeyId=keep["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


# ---------------------------------------------------------------------------
# Rotation


def test_key_rotation_enable_disable_defaults(kms, tresor):
    md = new_key(kms)
    kid = md["KeyId"]
    assert kms.get_key_rotation_status(KeyId=kid)["KeyRotationEnabled"] is False
    before = utcnow().timestamp()
    kms.enable_key_rotation(KeyId=kid)
    st = tresor.call("GetKeyRotationStatus", KeyId=kid)
    assert st["KeyRotationEnabled"] is True
    assert st["RotationPeriodInDays"] == 365
    assert st["KeyId"] in (md["Arn"], kid)
    assert 364 * DAY <= st["NextRotationDate"] - before <= 366 * DAY, st
    kms.disable_key_rotation(KeyId=md["Arn"])
    assert kms.get_key_rotation_status(KeyId=md["Arn"])["KeyRotationEnabled"] is False


@pytest.mark.parametrize("days", [90, 2560])
def test_key_rotation_custom_period(tresor, kms, days):
    md = new_key(kms)
    before = utcnow().timestamp()
    tresor.call("EnableKeyRotation", KeyId=md["KeyId"], RotationPeriodInDays=days)
    st = tresor.call("GetKeyRotationStatus", KeyId=md["KeyId"])
    assert st["KeyRotationEnabled"] is True
    assert st["RotationPeriodInDays"] == days
    assert (days - 1) * DAY <= st["NextRotationDate"] - before <= (days + 1) * DAY, st


@pytest.mark.parametrize("days,msg", [
    (89, "1 validation error detected: Value '89' at 'rotationPeriodInDays' failed to "
         "satisfy constraint: Member must have value greater than or equal to 90"),
    (2561, "1 validation error detected: Value '2561' at 'rotationPeriodInDays' failed to "
           "satisfy constraint: Member must have value less than or equal to 2560"),
])
def test_key_rotation_period_out_of_range(tresor, kms, days, msg):
    md = new_key(kms)
    with raises_aws("ValidationException", msg):
        tresor.call("EnableKeyRotation", KeyId=md["KeyId"], RotationPeriodInDays=days)
    assert kms.get_key_rotation_status(KeyId=md["KeyId"])["KeyRotationEnabled"] is False


def test_key_rotation_on_disabled_key(kms):
    md = new_key(kms)
    kms.disable_key(KeyId=md["KeyId"])
    with raises_aws("DisabledException", disabled_msg(md["KeyId"])):
        kms.enable_key_rotation(KeyId=md["KeyId"])


def test_key_only_operations_refuse_aliases(kms):
    # These operations take a key ID or key ARN only (AWS API reference).
    md = new_key(kms)
    alias = unique("alias/keyonly")
    kms.create_alias(AliasName=alias, TargetKeyId=md["KeyId"])
    with raises_aws("NotFoundException"):
        kms.enable_key_rotation(KeyId=alias)
    with raises_aws("NotFoundException"):
        kms.get_key_policy(KeyId=alias, PolicyName="default")


def test_rotate_on_demand_and_list_rotations(tresor, kms):
    md = new_key(kms)
    kid = md["KeyId"]
    first = tresor.call("ListKeyRotations", KeyId=kid)
    assert first["Rotations"] == []
    assert first["Truncated"] is False
    assert "NextMarker" not in first

    old_blob = kms.encrypt(KeyId=kid, Plaintext=b"material v1",
                           EncryptionContext={"v": "1"})["CiphertextBlob"]
    before = utcnow().timestamp()
    resp = tresor.call("RotateKeyOnDemand", KeyId=kid)
    assert resp["KeyId"] in (kid, md["Arn"]), resp

    rots = tresor.call("ListKeyRotations", KeyId=md["Arn"])
    assert rots["Truncated"] is False
    assert len(rots["Rotations"]) == 1
    entry = rots["Rotations"][0]
    assert entry["RotationType"] == "ON_DEMAND"
    assert entry["KeyId"] in (kid, md["Arn"])
    assert before - 5 <= entry["RotationDate"] <= utcnow().timestamp() + 5

    # Old ciphertexts still decrypt, new ones use the new material.
    dec = kms.decrypt(CiphertextBlob=old_blob, EncryptionContext={"v": "1"})
    assert dec["Plaintext"] == b"material v1"
    new_blob = kms.encrypt(KeyId=kid, Plaintext=b"material v2")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=new_blob)["Plaintext"] == b"material v2"
    re = kms.re_encrypt(CiphertextBlob=old_blob, SourceEncryptionContext={"v": "1"},
                        DestinationKeyId=kid)
    assert kms.decrypt(CiphertextBlob=re["CiphertextBlob"])["Plaintext"] == b"material v1"

    # On-demand rotation does not switch on automatic rotation.
    assert kms.get_key_rotation_status(KeyId=kid)["KeyRotationEnabled"] is False

    tresor.call("RotateKeyOnDemand", KeyId=md["Arn"])
    all_rots = tresor.call("ListKeyRotations", KeyId=kid)["Rotations"]
    assert [r["RotationType"] for r in all_rots] == ["ON_DEMAND", "ON_DEMAND"]
    page1 = tresor.call("ListKeyRotations", KeyId=kid, Limit=1)
    assert len(page1["Rotations"]) == 1 and page1["Truncated"] is True and page1["NextMarker"]
    page2 = tresor.call("ListKeyRotations", KeyId=kid, Limit=1, Marker=page1["NextMarker"])
    assert len(page2["Rotations"]) == 1 and page2["Truncated"] is False
    assert page1["Rotations"] + page2["Rotations"] == all_rots
    assert kms.decrypt(CiphertextBlob=old_blob,
                       EncryptionContext={"v": "1"})["Plaintext"] == b"material v1"
    assert kms.decrypt(CiphertextBlob=new_blob)["Plaintext"] == b"material v2"


def test_rotate_on_demand_disabled_and_unknown(tresor, kms):
    md = new_key(kms)
    kms.disable_key(KeyId=md["KeyId"])
    with raises_aws("DisabledException"):
        tresor.call("RotateKeyOnDemand", KeyId=md["KeyId"])
    missing = str(uuid.uuid4())
    with raises_aws("NotFoundException", not_found_key_msg(missing)):
        tresor.call("RotateKeyOnDemand", KeyId=missing)
    with raises_aws("NotFoundException", not_found_key_msg(missing)):
        tresor.call("ListKeyRotations", KeyId=missing)


def test_automatic_rotation_after_clock_offset(tresor_factory):
    srv = tresor_factory("rotation")
    kms = srv.kms()
    rotating = new_key(kms)
    still = new_key(kms)
    srv.call("EnableKeyRotation", KeyId=rotating["KeyId"], RotationPeriodInDays=90)
    blob = kms.encrypt(KeyId=rotating["KeyId"], Plaintext=b"pre-rotation",
                       EncryptionContext={"k": "v"})["CiphertextBlob"]
    assert srv.call("ListKeyRotations", KeyId=rotating["KeyId"])["Rotations"] == []
    real_now = utcnow().timestamp()

    srv.restart({"TRESOR_CLOCK_OFFSET": str(91 * DAY)})
    kms = srv.kms()

    def rotated():
        rots = srv.call("ListKeyRotations", KeyId=rotating["KeyId"])["Rotations"]
        assert len(rots) == 1, rots
        return rots[0]
    entry = eventually(rotated)
    assert entry["RotationType"] == "AUTOMATIC"
    assert entry["RotationDate"] >= real_now + 89 * DAY, entry
    st = srv.call("GetKeyRotationStatus", KeyId=rotating["KeyId"])
    assert st["KeyRotationEnabled"] is True
    assert st["RotationPeriodInDays"] == 90
    # Next rotation: one period after the rotation (or after the date it was
    # due), in any case in the future of the shifted clock.
    assert real_now + 179 * DAY <= st["NextRotationDate"] <= real_now + 182 * DAY, st
    assert st["NextRotationDate"] > entry["RotationDate"] + 88 * DAY, (st, entry)
    assert srv.call("ListKeyRotations", KeyId=still["KeyId"])["Rotations"] == []

    dec = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"k": "v"})
    assert dec["Plaintext"] == b"pre-rotation"
    assert dec["KeyId"] == rotating["Arn"]
    fresh = kms.encrypt(KeyId=rotating["KeyId"], Plaintext=b"post-rotation")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=fresh)["Plaintext"] == b"post-rotation"


# ---------------------------------------------------------------------------
# Aliases


def test_alias_lifecycle(kms):
    k1 = new_key(kms)
    k2 = new_key(kms)
    name = unique("alias/life")
    assert kms.create_alias(AliasName=name, TargetKeyId=k1["KeyId"])[
        "ResponseMetadata"]["HTTPStatusCode"] == 200
    entries = [a for a in kms.list_aliases(KeyId=k1["KeyId"])["Aliases"]]
    assert len(entries) == 1
    e = entries[0]
    assert e["AliasName"] == name
    assert e["AliasArn"] == alias_arn(name)
    assert e["TargetKeyId"] == k1["KeyId"]
    assert_recent(e["CreationDate"])
    assert_recent(e["LastUpdatedDate"])
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == k1["KeyId"]

    kms.update_alias(AliasName=name, TargetKeyId=k2["Arn"])
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == k2["KeyId"]
    assert kms.list_aliases(KeyId=k1["KeyId"])["Aliases"] == []
    moved = kms.list_aliases(KeyId=k2["KeyId"])["Aliases"]
    assert [a["AliasName"] for a in moved] == [name]
    assert moved[0]["TargetKeyId"] == k2["KeyId"]
    assert moved[0]["CreationDate"] == e["CreationDate"]
    assert moved[0]["LastUpdatedDate"] >= e["LastUpdatedDate"]

    kms.delete_alias(AliasName=name)
    with raises_aws("NotFoundException", alias_not_found_msg(name)):
        kms.describe_key(KeyId=name)
    assert kms.list_aliases(KeyId=k2["KeyId"])["Aliases"] == []
    assert kms.describe_key(KeyId=k2["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    # The name is free again.
    kms.create_alias(AliasName=name, TargetKeyId=k1["Arn"])
    assert kms.describe_key(KeyId=alias_arn(name))["KeyMetadata"]["KeyId"] == k1["KeyId"]


def test_alias_used_for_crypto(kms):
    md = new_key(kms)
    name = unique("alias/crypto")
    kms.create_alias(AliasName=name, TargetKeyId=md["KeyId"])
    enc = kms.encrypt(KeyId=name, Plaintext=b"via alias")
    assert enc["KeyId"] == md["Arn"]
    enc2 = kms.encrypt(KeyId=alias_arn(name), Plaintext=b"via alias arn")
    assert enc2["KeyId"] == md["Arn"]
    assert kms.decrypt(CiphertextBlob=enc["CiphertextBlob"])["Plaintext"] == b"via alias"


def test_alias_duplicate(kms):
    md = new_key(kms)
    other = new_key(kms)
    name = unique("alias/dup")
    kms.create_alias(AliasName=name, TargetKeyId=md["KeyId"])
    with raises_aws("AlreadyExistsException",
                    f"An alias with the name {alias_arn(name)} already exists"):
        kms.create_alias(AliasName=name, TargetKeyId=other["KeyId"])
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == md["KeyId"]


def test_alias_requires_prefix(kms):
    md = new_key(kms)
    with raises_aws("ValidationException",
                    'Alias must start with the prefix "alias/". Please see '
                    "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"):
        kms.create_alias(AliasName=unique("noprefix"), TargetKeyId=md["KeyId"])


def test_alias_reserved_aws_prefix(kms):
    md = new_key(kms)
    with raises_aws("NotAuthorizedException"):
        kms.create_alias(AliasName="alias/aws/tresor-test", TargetKeyId=md["KeyId"])


@pytest.mark.parametrize("bad", ["alias/bad!name", "alias/with space", "alias/dollar$"])
def test_alias_invalid_characters(kms, bad):
    md = new_key(kms)
    with raises_aws("ValidationException",
                    startswith=f"1 validation error detected: Value '{bad}' at 'aliasName' "
                               "failed to satisfy constraint: Member must satisfy regular "
                               "expression pattern:"):
        kms.create_alias(AliasName=bad, TargetKeyId=md["KeyId"])


def test_alias_target_missing_key(kms):
    missing = str(uuid.uuid4())
    with raises_aws("NotFoundException", not_found_key_msg(missing)):
        kms.create_alias(AliasName=unique("alias/orphan"), TargetKeyId=missing)


def test_alias_update_and_delete_missing(kms):
    md = new_key(kms)
    name = unique("alias/nothere")
    with raises_aws("NotFoundException", alias_not_found_msg(name)):
        kms.update_alias(AliasName=name, TargetKeyId=md["KeyId"])
    with raises_aws("NotFoundException", alias_not_found_msg(name)):
        kms.delete_alias(AliasName=name)


def test_list_aliases_filter_and_paging(kms):
    md = new_key(kms)
    other = new_key(kms)
    names = sorted(unique(f"alias/page{i}") for i in range(3))
    for n in names:
        kms.create_alias(AliasName=n, TargetKeyId=md["KeyId"])
    kms.create_alias(AliasName=unique("alias/other"), TargetKeyId=other["KeyId"])

    full = kms.list_aliases(KeyId=md["KeyId"])
    assert full["Truncated"] is False
    assert sorted(a["AliasName"] for a in full["Aliases"]) == names
    assert all(a["TargetKeyId"] == md["KeyId"] for a in full["Aliases"])
    by_arn = kms.list_aliases(KeyId=md["Arn"])
    assert sorted(a["AliasName"] for a in by_arn["Aliases"]) == names

    seen, marker, pages = [], None, 0
    while True:
        kw = {"KeyId": md["KeyId"], "Limit": 1}
        if marker:
            kw["Marker"] = marker
        page = kms.list_aliases(**kw)
        pages += 1
        assert len(page["Aliases"]) == 1
        seen += [a["AliasName"] for a in page["Aliases"]]
        if not page["Truncated"]:
            assert "NextMarker" not in page
            break
        marker = page["NextMarker"]
        assert pages < 10
    assert sorted(seen) == names and pages == 3

    everything = {a["AliasName"]: a for a in kms.list_aliases(Limit=1000)["Aliases"]}
    for n in names:
        assert everything[n]["AliasArn"] == alias_arn(n)


# ---------------------------------------------------------------------------
# Description


def test_update_key_description(kms):
    md = new_key(kms, Description="old")
    kms.update_key_description(KeyId=md["KeyId"], Description="new description")
    assert kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["Description"] == "new description"
    kms.update_key_description(KeyId=md["Arn"], Description="")
    assert kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["Description"] == ""
    with raises_aws("ValidationException", startswith="1 validation error detected: "):
        kms.update_key_description(KeyId=md["KeyId"], Description="x" * 8193)
    missing = str(uuid.uuid4())
    with raises_aws("NotFoundException", not_found_key_msg(missing)):
        kms.update_key_description(KeyId=missing, Description="x")


# ---------------------------------------------------------------------------
# Key policies


def test_put_key_policy_roundtrip(kms):
    md = new_key(kms)
    policy = account_policy({"Sid": "Second", "Effect": "Deny", "Principal": {"AWS": ROOT_ARN},
                             "Action": "kms:ScheduleKeyDeletion", "Resource": "*"},
                            sid="Keep admin")
    kms.put_key_policy(KeyId=md["KeyId"], PolicyName="default", Policy=policy)
    got = kms.get_key_policy(KeyId=md["KeyId"], PolicyName="default")["Policy"]
    assert got == policy
    # And it is enforced: the explicit Deny now applies to the caller.
    with raises_aws("AccessDeniedException",
                    f"User: {ROOT_ARN} is not authorized to perform: kms:ScheduleKeyDeletion "
                    f"on resource: {md['Arn']} with an explicit deny in a resource-based policy"):
        kms.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=7)
    assert kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


@pytest.mark.parametrize("policy", ["{broken", "", "null"])
def test_put_key_policy_malformed(kms, policy):
    md = new_key(kms)
    code = "ValidationException" if policy == "" else "MalformedPolicyDocumentException"
    with raises_aws(code):
        kms.put_key_policy(KeyId=md["KeyId"], PolicyName="default", Policy=policy)
    assert json.loads(kms.get_key_policy(KeyId=md["KeyId"], PolicyName="default")[
        "Policy"]) == DEFAULT_POLICY


def test_put_key_policy_lockout(kms):
    md = new_key(kms)
    locked = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ROOT_ARN}, "Action": "kms:Decrypt",
         "Resource": "*"}]})
    with raises_aws("MalformedPolicyDocumentException",
                    "The new key policy will not allow you to update the key policy in the future."):
        kms.put_key_policy(KeyId=md["KeyId"], PolicyName="default", Policy=locked)


def test_key_policy_name_must_be_default(kms):
    md = new_key(kms)
    with raises_aws("NotFoundException"):
        kms.get_key_policy(KeyId=md["KeyId"], PolicyName="custom")
    with raises_aws(("NotFoundException", "UnsupportedOperationException")):
        kms.put_key_policy(KeyId=md["KeyId"], PolicyName="custom", Policy=account_policy())
    assert json.loads(kms.get_key_policy(KeyId=md["KeyId"], PolicyName="default")[
        "Policy"]) == DEFAULT_POLICY


def test_key_policy_unknown_key(kms):
    missing = str(uuid.uuid4())
    with raises_aws("NotFoundException", not_found_key_msg(missing)):
        kms.get_key_policy(KeyId=missing, PolicyName="default")
    with raises_aws("NotFoundException", not_found_key_msg(missing)):
        kms.put_key_policy(KeyId=missing, PolicyName="default", Policy=account_policy())
    with raises_aws("NotFoundException", not_found_key_msg(missing)):
        kms.list_key_policies(KeyId=missing)


# ---------------------------------------------------------------------------
# Tags


def _tags(kms, key_id):
    resp = kms.list_resource_tags(KeyId=key_id)
    assert resp["Truncated"] is False
    return {t["TagKey"]: t["TagValue"] for t in resp["Tags"]}


def test_tag_untag_list(kms):
    md = new_key(kms)
    assert kms.list_resource_tags(KeyId=md["KeyId"])["Tags"] == []
    kms.tag_resource(KeyId=md["KeyId"], Tags=[{"TagKey": "a", "TagValue": "1"},
                                              {"TagKey": "b", "TagValue": "2"}])
    assert _tags(kms, md["KeyId"]) == {"a": "1", "b": "2"}
    kms.tag_resource(KeyId=md["Arn"], Tags=[{"TagKey": "a", "TagValue": "one"},
                                            {"TagKey": "c", "TagValue": ""}])
    assert _tags(kms, md["Arn"]) == {"a": "one", "b": "2", "c": ""}
    kms.untag_resource(KeyId=md["KeyId"], TagKeys=["b", "never-set"])
    assert _tags(kms, md["KeyId"]) == {"a": "one", "c": ""}
    kms.untag_resource(KeyId=md["Arn"], TagKeys=["a", "c"])
    assert _tags(kms, md["KeyId"]) == {}


def test_tag_limits(kms):
    md = new_key(kms)
    kms.tag_resource(KeyId=md["KeyId"], Tags=[{"TagKey": "k" * 128, "TagValue": "v" * 256}])
    assert _tags(kms, md["KeyId"]) == {"k" * 128: "v" * 256}
    with raises_aws(("ValidationException", "TagException")):
        kms.tag_resource(KeyId=md["KeyId"], Tags=[{"TagKey": "k" * 129, "TagValue": "v"}])
    with raises_aws(("ValidationException", "TagException")):
        kms.tag_resource(KeyId=md["KeyId"], Tags=[{"TagKey": "k", "TagValue": "v" * 257}])
    with raises_aws(("ValidationException", "TagException")):
        kms.tag_resource(KeyId=md["KeyId"], Tags=[{"TagKey": "", "TagValue": "v"}])
    assert _tags(kms, md["KeyId"]) == {"k" * 128: "v" * 256}


def test_tag_aws_prefix_reserved(kms):
    md = new_key(kms)
    with raises_aws("TagException"):
        kms.tag_resource(KeyId=md["KeyId"], Tags=[{"TagKey": "aws:owner", "TagValue": "me"}])
    with raises_aws("TagException"):
        kms.create_key(Tags=[{"TagKey": "aws:cloudformation:stack", "TagValue": "x"}])
    assert _tags(kms, md["KeyId"]) == {}


def test_tag_unknown_key(kms):
    missing = str(uuid.uuid4())
    with raises_aws("NotFoundException", not_found_key_msg(missing)):
        kms.tag_resource(KeyId=missing, Tags=[{"TagKey": "a", "TagValue": "b"}])
    with raises_aws("NotFoundException", not_found_key_msg(missing)):
        kms.untag_resource(KeyId=missing, TagKeys=["a"])
    with raises_aws("NotFoundException", not_found_key_msg(missing)):
        kms.list_resource_tags(KeyId=missing)
    with raises_aws("NotFoundException", "Invalid keyId 'nope'"):
        kms.list_resource_tags(KeyId="nope")


def test_key_ids_are_arns_in_our_account(kms):
    md = new_key(kms)
    assert md["Arn"].startswith(KEY_ARN_PREFIX)
    assert md["Arn"][len(KEY_ARN_PREFIX):] == md["KeyId"]


# ---------------------------------------------------------------------------
# Paging of every list


def _walk(call, member, limit, **params):
    """Every page of a KMS listing at Limit=limit: the entries in order and
    the number of pages; each page but the last is full and truncated."""
    seen, marker, pages = [], None, 0
    while True:
        kw = dict(params, Limit=limit)
        if marker:
            kw["Marker"] = marker
        page = call(**kw)
        pages += 1
        seen += page[member]
        if not page["Truncated"]:
            assert "NextMarker" not in page, page
            assert len(page[member]) <= limit
            return seen, pages
        assert len(page[member]) == limit and page["NextMarker"], page
        marker = page["NextMarker"]
        assert pages < 20


def test_paging_of_every_kms_list(tresor, kms):
    md = new_key(kms)
    kid = md["KeyId"]
    for i in range(3):
        kms.create_alias(AliasName=unique(f"alias/walk{i}"), TargetKeyId=kid)
    kms.tag_resource(KeyId=kid, Tags=[{"TagKey": f"walk{i}", "TagValue": f"v{i}"}
                                      for i in range(5)])
    for _ in range(3):
        tresor.call("RotateKeyOnDemand", KeyId=kid)
    grantee = make_user(tresor.root_user, keys=False).arn
    retiring = make_user(tresor.root_user, keys=False).arn
    for i in range(3):
        kms.create_grant(KeyId=kid, GranteePrincipal=grantee, Operations=["Decrypt"],
                         RetiringPrincipal=retiring, Name=f"walk{i}")

    def rotations(**kw):
        return tresor.call("ListKeyRotations", **kw)

    lists = [
        (kms.list_aliases, "Aliases", {"KeyId": kid}, 3),
        (kms.list_resource_tags, "Tags", {"KeyId": kid}, 5),
        (rotations, "Rotations", {"KeyId": kid}, 3),
        (rotations, "Rotations", {"KeyId": kid, "IncludeKeyMaterial": "ALL_KEY_MATERIAL"}, 4),
        (rotations, "Rotations", {"KeyId": kid, "IncludeKeyMaterial": "ROTATIONS_ONLY"}, 3),
        (kms.list_retirable_grants, "Grants", {"RetiringPrincipal": retiring}, 3),
        (kms.list_grants, "Grants", {"KeyId": kid}, 3),
    ]
    for call, member, params, count in lists:
        full = call(**params)
        assert full["Truncated"] is False and "NextMarker" not in full
        assert len(full[member]) == count, (member, params, full)
        for limit in (1, 2, count):
            seen, pages = _walk(call, member, limit, **params)
            assert seen == full[member], (member, params, limit)
            assert pages == -(-count // limit), (member, params, limit, pages)

    initial = rotations(KeyId=kid, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"][0]
    assert "RotationType" not in initial and "RotationDate" not in initial
    assert [r["RotationType"] for r in rotations(KeyId=kid)["Rotations"]] == ["ON_DEMAND"] * 3
    assert [t["TagKey"] for t in kms.list_resource_tags(KeyId=kid)["Tags"]] == \
        [f"walk{i}" for i in range(5)]
