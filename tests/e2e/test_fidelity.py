"""
Fidelity to AWS where test suites look: ListAliases with AWS's predefined
aliases, ClientRequestToken reuse, ListSecrets filter validation,
DeleteSecret's recovery window, KMS alias name and target rules on
CreateAlias, UpdateAlias and DeleteAlias.  Expected codes and messages are
AWS's where AWS's are known (docs/WIRE.md 5.2 and 5.3 give each one's
source, and say which are tresor's own).
"""

import json

import pytest

from tresor_e2e import ACCOUNT, REGION, alias_arn, new_key, raises_aws, unique

PREDEFINED = [
    "alias/aws/acm", "alias/aws/dynamodb", "alias/aws/ebs", "alias/aws/elasticfilesystem",
    "alias/aws/es", "alias/aws/glue", "alias/aws/kinesisvideo", "alias/aws/lambda",
    "alias/aws/rds", "alias/aws/redshift", "alias/aws/s3", "alias/aws/secretsmanager",
    "alias/aws/ssm", "alias/aws/xray",
]


def all_pages(kms, **kw):
    """Every alias of ListAliases, page by page; (entries, pages)."""
    seen, marker, pages = [], None, 0
    while True:
        page = kms.list_aliases(**kw, **({"Marker": marker} if marker else {}))
        pages += 1
        seen += page["Aliases"]
        if not page["Truncated"]:
            assert "NextMarker" not in page
            return seen, pages
        marker = page["NextMarker"]
        assert pages < 100


# ---------------------------------------------------------------------------
# ListAliases: the predefined aws/* aliases


def test_list_aliases_shows_predefined_aliases(tresor_factory):
    srv = tresor_factory("aliases")
    kms = srv.kms()
    got = kms.list_aliases()
    assert got["Truncated"] is False and "NextMarker" not in got
    assert got["Aliases"] == [
        {"AliasName": n, "AliasArn": f"arn:aws:kms:{REGION}:{ACCOUNT}:{n}"} for n in PREDEFINED]

    # Mixed with the account's own, in name order, and paged across both.
    key = new_key(kms)
    mine = ["alias/a-first", "alias/zz-last", "alias/aws-not-reserved"]
    for n in mine:
        kms.create_alias(AliasName=n, TargetKeyId=key["KeyId"])
    everything = kms.list_aliases(Limit=100)["Aliases"]
    names = [a["AliasName"] for a in everything]
    assert names == sorted(PREDEFINED + mine)
    for a in everything:
        if a["AliasName"] in mine:
            assert a["TargetKeyId"] == key["KeyId"]
            assert "CreationDate" in a and "LastUpdatedDate" in a
        else:
            assert set(a) == {"AliasName", "AliasArn"}
    for limit in (1, 2, 5, 16):
        paged, pages = all_pages(kms, Limit=limit)
        assert paged == everything
        assert pages == -(-len(everything) // limit)

    # KeyId: that key's aliases only, never the predefined ones.
    assert [a["AliasName"] for a in kms.list_aliases(KeyId=key["KeyId"])["Aliases"]] == \
        sorted(mine)
    other = new_key(kms)
    assert kms.list_aliases(KeyId=other["Arn"])["Aliases"] == []

    # The AWS CLI pages through the same list.
    rc, out, err = srv.aws("list-aliases", "--page-size", "3")
    assert rc == 0, err
    assert [(a["AliasName"], a.get("TargetKeyId")) for a in out["Aliases"]] == \
        [(a["AliasName"], a.get("TargetKeyId")) for a in everything]
    assert all(set(a) == {"AliasName", "AliasArn"} for a in out["Aliases"]
               if a["AliasName"] in PREDEFINED)


def test_predefined_alias_gains_its_key(tresor_factory):
    srv = tresor_factory("aliases-managed")
    kms, sm = srv.kms(), srv.sm()
    sm.create_secret(Name=unique("managed"), SecretString="v")     # makes aws/secretsmanager
    entries = {a["AliasName"]: a for a in kms.list_aliases()["Aliases"]}
    assert list(entries) == PREDEFINED
    managed = entries["alias/aws/secretsmanager"]
    key_id = kms.describe_key(KeyId="alias/aws/secretsmanager")["KeyMetadata"]["KeyId"]
    assert managed["TargetKeyId"] == key_id
    assert managed["AliasArn"] == alias_arn("alias/aws/secretsmanager")
    assert "CreationDate" in managed and "LastUpdatedDate" in managed
    for n in PREDEFINED:
        if n != "alias/aws/secretsmanager":
            assert set(entries[n]) == {"AliasName", "AliasArn"}
    assert [a["AliasName"] for a in kms.list_aliases(KeyId=key_id)["Aliases"]] == \
        ["alias/aws/secretsmanager"]
    # Across pages the stored alias replaces the predefined one, once.
    paged, _ = all_pages(kms, Limit=1)
    assert [a["AliasName"] for a in paged] == PREDEFINED
    assert paged[PREDEFINED.index("alias/aws/secretsmanager")] == managed



# ---------------------------------------------------------------------------
# ClientRequestToken reused with another value


def token_in_use(token, arn):
    return (f"You can't use ClientRequestToken {token} because that value is already in use "
            f"for a version of secret {arn}.")


def test_client_request_token_reuse(tresor):
    sm = tresor.sm()
    name = unique("token")
    t1, t2, t3 = (f"{unique('tok')}-{i}-0000000000000000000" for i in range(3))
    arn = sm.create_secret(Name=name, SecretString="one", ClientRequestToken=t1)["ARN"]
    # Retries with the same value are idempotent ...
    again = sm.create_secret(Name=name, SecretString="one", ClientRequestToken=t1)
    assert (again["ARN"], again["VersionId"]) == (arn, t1)
    # ... another value is refused, and nothing changes.
    with raises_aws("ResourceExistsException", token_in_use(t1, arn)):
        sm.create_secret(Name=name, SecretString="other", ClientRequestToken=t1)

    assert sm.put_secret_value(SecretId=name, SecretString="two",
                               ClientRequestToken=t2)["VersionId"] == t2
    assert sm.put_secret_value(SecretId=name, SecretString="two",
                               ClientRequestToken=t2)["VersionId"] == t2
    with raises_aws("ResourceExistsException", token_in_use(t2, arn)):
        sm.put_secret_value(SecretId=name, SecretString="changed", ClientRequestToken=t2)
    with raises_aws("ResourceExistsException", token_in_use(t1, arn)):
        sm.put_secret_value(SecretId=name, SecretBinary=b"one", ClientRequestToken=t1)

    assert sm.update_secret(SecretId=name, SecretString="three",
                            ClientRequestToken=t3)["VersionId"] == t3
    with raises_aws("ResourceExistsException", token_in_use(t3, arn)):
        sm.update_secret(SecretId=name, SecretString="not three", ClientRequestToken=t3)
    with raises_aws("ResourceExistsException", token_in_use(t2, arn)):
        sm.update_secret(SecretId=arn, SecretString="not two", ClientRequestToken=t2)

    got = sm.get_secret_value(SecretId=name)
    assert (got["SecretString"], got["VersionId"]) == ("three", t3)
    versions = sm.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"]
    assert sorted(v["VersionId"] for v in versions) == sorted([t1, t2, t3])

    # The AWS CLI shows the same error.
    rc, _, err = tresor.cli("secretsmanager", "put-secret-value", "--secret-id", name,
                            "--secret-string", "cli", "--client-request-token", t3)
    assert rc != 0
    assert ("An error occurred (ResourceExistsException) when calling the PutSecretValue "
            f"operation: {token_in_use(t3, arn)}") in err


# ---------------------------------------------------------------------------
# ListSecrets and BatchGetSecretValue filter validation

KEY_SET = "[all, name, tag-key, description, primary-region, owning-service, tag-value]"
VALUE_PATTERN = r"^\!?[a-zA-Z0-9 :_@\/\+\=\.\-\!]*$"


def validation(value, where, constraint):
    return (f"1 validation error detected: Value {value} at '{where}' failed to satisfy "
            f"constraint: {constraint}")


@pytest.mark.parametrize("op", ["list_secrets", "batch_get_secret_value"])
def test_filter_validation(tresor, op):
    call = getattr(tresor.sm(), op)
    with raises_aws("InvalidParameterException", "Invalid filter key"):
        call(Filters=[{"Values": ["a"]}])
    with raises_aws("InvalidParameterException", "Invalid filter values for key: description"):
        call(Filters=[{"Key": "description"}])
    with raises_aws("ValidationException", validation(
            "'colour'", "filters.1.member.key", f"Member must satisfy enum value set: {KEY_SET}")):
        call(Filters=[{"Key": "colour", "Values": ["a"]}])
    with raises_aws("ValidationException", validation(
            "'a*b'", "filters.2.member.values",
            f"Member must satisfy regular expression pattern: {VALUE_PATTERN}")):
        call(Filters=[{"Key": "name", "Values": ["a"]}, {"Key": "tag-key", "Values": ["a*b"]}])
    with raises_aws("ValidationException", startswith="1 validation error detected: Value 'aaa",
                    contains="' at 'filters.1.member.values' failed to satisfy constraint: "
                             "Member must have length less than or equal to 512"):
        call(Filters=[{"Key": "all", "Values": ["a" * 513]}])
    # The ! prefix negates, and is allowed.
    call(Filters=[{"Key": "name", "Values": ["!nothing-is-called-this"]}])


def test_filter_validation_cli(tresor):
    rc, _, err = tresor.cli("secretsmanager", "list-secrets", "--filters", "Key=description")
    assert rc != 0
    assert ("An error occurred (InvalidParameterException) when calling the ListSecrets "
            "operation: Invalid filter values for key: description") in err


# ---------------------------------------------------------------------------
# DeleteSecret: the recovery window is checked before its conjunction with
# ForceDeleteWithoutRecovery (AWS's answer to RecoveryWindowInDays=0 with
# ForceDeleteWithoutRecovery=true, quoted from a real response in moto issue
# 6461, is the range error)

WINDOW_RANGE = "The RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."
CONJUNCTION = "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays."


@pytest.mark.parametrize("window", [0, 6, 31])
def test_delete_secret_window_before_force(tresor, window):
    sm = tresor.sm()
    arn = sm.create_secret(Name=unique("window"), SecretString="kept")["ARN"]
    with raises_aws("InvalidParameterException", WINDOW_RANGE):
        sm.delete_secret(SecretId=arn, RecoveryWindowInDays=window,
                         ForceDeleteWithoutRecovery=True)
    # In range, the two together are refused for being together.
    with raises_aws("InvalidParameterException", CONJUNCTION):
        sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7, ForceDeleteWithoutRecovery=True)
    # Nothing changed.
    assert sm.get_secret_value(SecretId=arn)["SecretString"] == "kept"
    assert "DeletedDate" not in sm.describe_secret(SecretId=arn)


def test_delete_secret_window_before_force_cli(tresor):
    name = unique("window-cli")
    tresor.sm().create_secret(Name=name, SecretString="kept")
    rc, _, err = tresor.cli("secretsmanager", "delete-secret", "--secret-id", name,
                            "--recovery-window-in-days", "0", "--force-delete-without-recovery")
    assert rc != 0
    assert ("An error occurred (InvalidParameterException) when calling the DeleteSecret "
            f"operation: {WINDOW_RANGE}") in err


# ---------------------------------------------------------------------------
# KMS alias names: the same checks, in the same order, for CreateAlias,
# UpdateAlias and DeleteAlias (docs/WIRE.md 5.2 gives each message's source)

PREFIX_MSG = ('Alias must start with the prefix "alias/". Please see '
              "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html")
ALIAS_OPS = ["create_alias", "update_alias", "delete_alias"]


def alias_call(kms, op, name, target):
    call = getattr(kms, op)
    if op == "delete_alias":
        return call(AliasName=name)
    return call(AliasName=name, TargetKeyId=target)


def pattern_msg(value):
    return validation(f"'{value}'", "aliasName",
                      "Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$")


@pytest.mark.parametrize("op", ALIAS_OPS)
def test_alias_name_messages(tresor, op):
    kms = tresor.kms()
    key = new_key(kms)["KeyId"]
    # The model's pattern first, then the prefix: a name that breaks both
    # gets the pattern's error.
    for bad in ("alias/two words", "no prefix!", "alias/é"):
        with raises_aws("ValidationException", pattern_msg(bad)):
            alias_call(kms, op, bad, key)
    for bad in ("noprefix", "Alias/upper", "aliases/x", "/alias/x"):
        with raises_aws("ValidationException", PREFIX_MSG):
            alias_call(kms, op, bad, key)
    with raises_aws("ValidationException", "alias/a:b contains invalid characters for an alias"):
        alias_call(kms, op, "alias/a:b", key)
    with raises_aws("InvalidAliasNameException",
                    'Alias name must not be empty after the prefix "alias/".'):
        alias_call(kms, op, "alias/", key)
    # The reserved namespace: the code alone, with an empty message.
    with raises_aws("NotAuthorizedException", ""):
        alias_call(kms, op, "alias/aws/tresor-" + op, key)
    # Only the exact prefix "alias/aws/" is reserved.
    name = unique("alias/aws-mine")
    kms.create_alias(AliasName=name, TargetKeyId=key)
    if op == "update_alias":
        kms.update_alias(AliasName=name, TargetKeyId=new_key(kms)["KeyId"])
    if op == "delete_alias":
        kms.delete_alias(AliasName=name)
    # Nothing was made by the refused calls.
    names = {a["AliasName"] for a in kms.list_aliases(KeyId=key)["Aliases"]}
    assert names == ({name} if op == "create_alias" else set())


@pytest.mark.parametrize("op", ["create_alias", "update_alias"])
def test_alias_target_must_be_a_key(tresor, op):
    kms = tresor.kms()
    key = new_key(kms)["KeyId"]
    name = unique("alias/target")
    kms.create_alias(AliasName=name, TargetKeyId=key)
    for target in (name, alias_arn(name)):
        with raises_aws("ValidationException", "Aliases must refer to keys. Not aliases"):
            alias_call(kms, op, name if op == "update_alias" else unique("alias/t2"), target)
    with raises_aws("NotFoundException", "Invalid keyId 'not-a-key'"):
        alias_call(kms, op, unique("alias/t3") if op == "create_alias" else name, "not-a-key")


def test_alias_name_messages_cli(tresor):
    kms = tresor.kms()
    key = new_key(kms)["KeyId"]
    for args, op in ((["create-alias", "--alias-name", "noprefix", "--target-key-id", key],
                      "CreateAlias"),
                     (["update-alias", "--alias-name", "noprefix", "--target-key-id", key],
                      "UpdateAlias"),
                     (["delete-alias", "--alias-name", "noprefix"], "DeleteAlias")):
        rc, _, err = tresor.aws(*args)
        assert rc != 0
        assert (f"An error occurred (ValidationException) when calling the {op} operation: "
                f"{PREFIX_MSG}") in err
    rc, _, err = tresor.aws("delete-alias", "--alias-name", "alias/aws/ebs")
    assert rc != 0
    assert "An error occurred (NotAuthorizedException) when calling the DeleteAlias operation" in err


# ---------------------------------------------------------------------------
# A write without ClientRequestToken (the SDKs and the CLI always fill it in;
# a raw request may not): AWS answers before it looks for the secret, with
# InvalidParameterException for RotateSecret (LocalStack's AWS-recorded
# test_no_client_request_token, on a secret that does not exist)

NEED_TOKEN = "You must provide a ClientRequestToken value. We recommend a UUID-type value."


def tokenless_sm(tresor):
    from botocore.handlers import generate_idempotent_uuid
    sm = tresor.sm()
    sm.meta.events.unregister("before-parameter-build", generate_idempotent_uuid)
    return sm


@pytest.mark.parametrize("exists", [False, True])
def test_missing_client_request_token(tresor, exists):
    sm = tokenless_sm(tresor)
    name = unique("tokenless")
    if exists:
        tresor.sm().create_secret(Name=name, SecretString="kept")
    else:
        with raises_aws("InvalidRequestException", NEED_TOKEN):
            sm.create_secret(Name=name, SecretString="v")
    with raises_aws("InvalidRequestException", NEED_TOKEN):
        sm.put_secret_value(SecretId=name, SecretString="v")
    with raises_aws("InvalidRequestException", NEED_TOKEN):
        sm.update_secret(SecretId=name, SecretString="v", Description="d")
    with raises_aws("InvalidParameterException", NEED_TOKEN):
        sm.rotate_secret(SecretId=name)
    with raises_aws("InvalidParameterException", NEED_TOKEN):
        sm.rotate_secret(SecretId=name, RotationLambdaARN=(
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:tokenless"), RotateImmediately=False)
    if exists:
        # Nothing changed; without a value no token is needed.
        assert tresor.sm().get_secret_value(SecretId=name)["SecretString"] == "kept"
        assert "RotationEnabled" not in sm.describe_secret(SecretId=name) or \
            not sm.describe_secret(SecretId=name)["RotationEnabled"]
        sm.update_secret(SecretId=name, Description="no value, no token")
    else:
        with raises_aws("ResourceNotFoundException", "Secrets Manager can't find the specified secret."):
            sm.update_secret(SecretId=name, Description="no value, no token")


# ---------------------------------------------------------------------------
# GenerateMac, VerifyMac: an unknown MacAlgorithm lists the set in the order
# AWS lists it, not the model's (LocalStack's AWS-recorded snapshots
# test_invalid_generate_mac and test_invalid_verify_mac)

MAC_SET = "[HMAC_SHA_384, HMAC_SHA_256, HMAC_SHA_224, HMAC_SHA_512]"


def test_mac_algorithm_enum_order(tresor):
    kms = tresor.kms()
    key = new_key(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyId"]
    msg = validation("'INVALID'", "macAlgorithm", f"Member must satisfy enum value set: {MAC_SET}")
    with raises_aws("ValidationException", msg):
        kms.generate_mac(KeyId=key, Message=b"m", MacAlgorithm="INVALID")
    with raises_aws("ValidationException", msg):
        kms.verify_mac(KeyId=key, Message=b"m", MacAlgorithm="INVALID", Mac=b"x" * 32)
    rc, _, err = tresor.aws("generate-mac", "--key-id", key, "--message", "bQ==",
                            "--mac-algorithm", "INVALID")
    assert rc != 0
    assert f"An error occurred (ValidationException) when calling the GenerateMac operation: {msg}" in err
