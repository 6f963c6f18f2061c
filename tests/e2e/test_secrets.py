"""
Secrets Manager end to end, as AWS answers (docs/ARCHITECTURE.md 2;
docs/AUTHORIZATION.md 5; docs/WIRE.md 5.3): every
operation's values, shapes and errors through boto3 (and the AWS CLI for
BatchGetSecretValue), envelope encryption under the AWS managed key or a
customer key, versions and staging labels, deletion windows and the purge,
and that no secret value is ever written to disk in the clear.

Secrets Manager errors are HTTP 400 with `{"__type": <Code>, "Message": ...}`;
boto3 surfaces them as ClientError with Error.Code / Error.Message.

boto3 1.26 predates BatchGetSecretValue: tests/e2e/models holds the newer
model and tresor_e2e puts it on AWS_DATA_PATH (see models/README.md).
"""

import base64
import datetime
import json
import os
import random
import re
import string
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from tresor_e2e import (
    ACCOUNT, DAY, REGION, UUID_RE, alias_arn, assert_no_nulls, assert_recent, eventually,
    new_key, raises_aws, unique, utcnow,
)

SECRET_ARN_RE = re.compile(rf"^arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:"
                           rf"(?P<name>.+)-(?P<suffix>[A-Za-z0-9]{{6}})$")

NOT_FOUND_MSG = "Secrets Manager can't find the specified secret."
MARKED_FOR_DELETION_MSG = (
    "You can't perform this operation on the secret because it was marked for deletion.")
NAME_PENDING_DELETION_MSG = (
    "You can't create this secret because a secret with this name is already scheduled "
    "for deletion.")
STAGE_VERSION_MISMATCH_MSG = (
    "You provided a VersionStage that is not associated to the provided VersionId.")
BOTH_VALUES_MSG = (
    "You can't specify both a binary secret value and a string secret value in the same secret.")
INVALID_NAME_MSG = ("Invalid name. Must be a valid name containing alphanumeric characters, "
                    "or any of the following: -/_+=.@!")
FORCE_AND_WINDOW_MSG = (
    "You can't use ForceDeleteWithoutRecovery in conjunction with RecoveryWindowInDays.")
WINDOW_RANGE_MSG = "RecoveryWindowInDays value must be between 7 and 30 days (inclusive)."
DECRYPTION_FAILURE_MSG = (
    "Secrets Manager can't decrypt the protected secret text using the provided KMS key.")
PUNCTUATION = set(string.punctuation)          # !"#$%&'()*+,-./:;<=>?@[\]^_`{|}~


def exists_msg(name):
    return f"The operation failed because the secret {name} already exists."


def stage_missing_msg(stage):
    return f"Secrets Manager can't find the specified secret value for staging label: {stage}"


def version_missing_msg(version_id):
    return f"Secrets Manager can't find the specified secret value for VersionId: {version_id}"


def too_long_msg(member, limit=65536):
    # The value itself is sensitive: AWS leaves it out ("Value at '...'").
    return (f"1 validation error detected: Value at '{member}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {limit}")


def body(resp):
    return {k: v for k, v in resp.items() if k != "ResponseMetadata"}


def token():
    return str(uuid.uuid4())


@pytest.fixture(scope="module")
def sm(tresor):
    return tresor.sm()


def create(sm, value="s3cr3t-value", name=None, **kw):
    """CreateSecret with a string (str) or binary (bytes) value, or none."""
    kw["Name"] = name or unique("sm")
    if isinstance(value, bytes):
        kw["SecretBinary"] = value
    elif value is not None:
        kw["SecretString"] = value
    return sm.create_secret(**kw)


def value_of(sm, secret_id, **kw):
    resp = sm.get_secret_value(SecretId=secret_id, **kw)
    return resp.get("SecretString", resp.get("SecretBinary"))


def stages_map(sm, secret_id):
    """DescribeSecret's VersionIdsToStages with each label list sorted."""
    d = sm.describe_secret(SecretId=secret_id)
    return {v: sorted(s) for v, s in d.get("VersionIdsToStages", {}).items()}


def listed_names(sm, filters, **kw):
    names, next_token = [], None
    while True:
        args = dict(Filters=filters, MaxResults=100, **kw)
        if next_token:
            args["NextToken"] = next_token
        resp = sm.list_secrets(**args)
        names += [e["Name"] for e in resp["SecretList"]]
        next_token = resp.get("NextToken")
        if not next_token:
            return names


def assert_midnight_utc(ts):
    """LastAccessedDate has day precision: midnight UTC of the access day."""
    assert ts.tzinfo is not None, ts
    ts = ts.astimezone(datetime.timezone.utc)
    assert (ts.hour, ts.minute, ts.second, ts.microsecond) == (0, 0, 0, 0), ts
    today = utcnow().date()
    assert ts.date() in (today, today - datetime.timedelta(days=1)), ts


def new_customer_key(kms, alias=None):
    key = new_key(kms, Description="secrets e2e")
    if alias:
        kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    return key


# ---------------------------------------------------------------------------
# CreateSecret


def test_create_secret_string(sm):
    name = unique("sm-create")
    resp = create(sm, "hunter2-correct-horse", name=name)
    assert set(body(resp)) == {"ARN", "Name", "VersionId"}
    m = SECRET_ARN_RE.match(resp["ARN"])
    assert m, resp["ARN"]
    assert m.group("name") == name
    assert resp["Name"] == name
    assert UUID_RE.match(resp["VersionId"]), resp["VersionId"]   # the SDK's token
    got = sm.get_secret_value(SecretId=name)
    assert_no_nulls(body(got))
    assert set(body(got)) == {"ARN", "Name", "VersionId", "SecretString", "VersionStages",
                              "CreatedDate"}
    assert got["ARN"] == resp["ARN"]
    assert got["Name"] == name
    assert got["VersionId"] == resp["VersionId"]
    assert got["SecretString"] == "hunter2-correct-horse"
    assert got["VersionStages"] == ["AWSCURRENT"]
    assert_recent(got["CreatedDate"])
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_secret_string_every_character_comes_back(sm, tresor):
    # GetSecretValue writes its reply without a JSON tree (core/json.h
    # json_w): every character that JSON escapes, quotes, backslash, '/',
    # DEL and non-ASCII of every UTF-8 length come back unchanged, through
    # boto3 and as the raw body's JSON; so do extra labels and a version
    # made by PutSecretValue.
    value = ("".join(chr(c) for c in range(1, 128)) + '"\\\\/ caf\u00e9 \u20ac \U0001F511 '
             "\u2028\u2029 \ufeff end")
    name = unique("sm-chars")
    create(sm, value, name=name)
    got = sm.get_secret_value(SecretId=name)
    assert got["SecretString"] == value
    assert got["VersionStages"] == ["AWSCURRENT"]
    tok = token()
    sm.put_secret_value(SecretId=name, SecretString=value[::-1], ClientRequestToken=tok,
                        VersionStages=["AWSCURRENT", "custom\"label"])
    got = sm.get_secret_value(SecretId=name, VersionId=tok)
    assert set(body(got)) == {"ARN", "Name", "VersionId", "SecretString", "VersionStages",
                              "CreatedDate"}
    assert got["SecretString"] == value[::-1]
    assert got["VersionId"] == tok
    assert sorted(got["VersionStages"]) == ["AWSCURRENT", "custom\"label"]
    assert_recent(got["CreatedDate"])
    prev = sm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")
    assert prev["SecretString"] == value
    # The raw reply is one JSON object with exactly these members.
    raw = {}

    def keep(http_response, **_):
        raw["body"] = http_response.content

    sm.meta.events.register("after-call.secrets-manager.GetSecretValue", keep)
    try:
        got = sm.get_secret_value(SecretId=name)
    finally:
        sm.meta.events.unregister("after-call.secrets-manager.GetSecretValue", keep)
    doc = json.loads(raw["body"])
    assert doc["SecretString"] == value[::-1]
    assert doc["ARN"] == got["ARN"] and doc["Name"] == name
    assert isinstance(doc["CreatedDate"], (int, float))


def test_create_secret_binary(sm):
    blob = bytes(range(256)) * 3
    resp = create(sm, blob)
    got = sm.get_secret_value(SecretId=resp["ARN"])
    assert got["SecretBinary"] == blob
    assert "SecretString" not in got
    assert got["VersionStages"] == ["AWSCURRENT"]


def test_reads_interleaved_across_secrets_and_versions(sm):
    """Each server thread keeps the encryption context of the version it
    last opened: reads that hop between secrets and versions, and back,
    each get their own value, and a version id that is another secret's
    is still refused."""
    secrets = []
    for i in range(3):
        resp = create(sm, f"first-{i}")
        second = sm.put_secret_value(SecretId=resp["ARN"], SecretString=f"second-{i}")
        secrets.append((resp["ARN"], resp["VersionId"], second["VersionId"], i))
    for _ in range(4):
        for arn, v1, v2, i in secrets + secrets[::-1]:
            assert sm.get_secret_value(SecretId=arn)["SecretString"] == f"second-{i}"
            got = sm.get_secret_value(SecretId=arn, VersionId=v1)
            assert got["SecretString"] == f"first-{i}" and got["VersionId"] == v1
            assert sm.get_secret_value(SecretId=arn, VersionId=v2)["SecretString"] == f"second-{i}"
    arn0, other = secrets[0][0], secrets[1][1]
    with raises_aws("ResourceNotFoundException",
                    "Secrets Manager can't find the specified secret value for VersionId: "
                    + other):
        sm.get_secret_value(SecretId=arn0, VersionId=other)


def test_two_secrets_never_share_an_arn_suffix(sm):
    a, b = create(sm), create(sm)
    assert SECRET_ARN_RE.match(a["ARN"]).group("suffix") != \
        SECRET_ARN_RE.match(b["ARN"]).group("suffix")


def test_value_size_limits(sm):
    big = "x" * 65536
    resp = create(sm, big)
    assert value_of(sm, resp["ARN"]) == big
    with raises_aws("ValidationException", too_long_msg("secretString")):
        create(sm, big + "x")
    blob = os.urandom(65536)
    resp = create(sm, blob)
    assert value_of(sm, resp["ARN"]) == blob
    with raises_aws("ValidationException", too_long_msg("secretBinary")):
        create(sm, blob + b"\0")
    with raises_aws("ValidationException", too_long_msg("secretString")):
        sm.put_secret_value(SecretId=resp["ARN"], SecretString=big + "y")


def test_empty_secret_string_is_invalid(sm):
    with raises_aws("ValidationException",
                    "1 validation error detected: Value at 'secretString' failed to satisfy "
                    "constraint: Member must have length greater than or equal to 1"):
        create(sm, "")


def test_string_and_binary_together_are_refused(sm):
    name = unique("sm-both")
    with raises_aws("InvalidParameterException", BOTH_VALUES_MSG):
        sm.create_secret(Name=name, SecretString="a", SecretBinary=b"b")
    with raises_aws("ResourceNotFoundException", NOT_FOUND_MSG):
        sm.describe_secret(SecretId=name)
    arn = create(sm, "a")["ARN"]
    with raises_aws("InvalidParameterException", BOTH_VALUES_MSG):
        sm.put_secret_value(SecretId=arn, SecretString="a", SecretBinary=b"b")
    with raises_aws("InvalidParameterException", BOTH_VALUES_MSG):
        sm.update_secret(SecretId=arn, SecretString="a", SecretBinary=b"b")


def test_create_without_a_value(sm):
    name = unique("sm-empty")
    resp = sm.create_secret(Name=name, Description="no value yet")
    assert set(body(resp)) == {"ARN", "Name"}
    d = sm.describe_secret(SecretId=name)
    assert "VersionIdsToStages" not in d
    assert d["Description"] == "no value yet"
    with raises_aws("ResourceNotFoundException", stage_missing_msg("AWSCURRENT")):
        sm.get_secret_value(SecretId=name)
    assert sm.list_secret_version_ids(SecretId=name).get("Versions", []) == []
    put = sm.put_secret_value(SecretId=name, SecretString="first")
    assert set(body(put)) == {"ARN", "Name", "VersionId", "VersionStages"}
    assert put["VersionStages"] == ["AWSCURRENT"]
    assert value_of(sm, name) == "first"


def test_create_existing_name(sm):
    name = unique("sm-dup")
    create(sm, "one", name=name)
    with raises_aws("ResourceExistsException", exists_msg(name)):
        create(sm, "two", name=name)
    with raises_aws("ResourceExistsException", exists_msg(name)):
        sm.create_secret(Name=name)
    assert value_of(sm, name) == "one"


@pytest.mark.parametrize("bad", ["Inv Name", " Inv*Name? ", "semi;colon", "brace{}"])
def test_invalid_secret_names(sm, bad):
    with raises_aws("ValidationException", INVALID_NAME_MSG):
        sm.create_secret(Name=bad + os.urandom(3).hex(), SecretString="x")


def test_name_longer_than_512_is_invalid(sm):
    ok = "n" * (512 - 13) + "-" + os.urandom(6).hex()
    assert len(ok) == 512
    assert create(sm, "x", name=ok)["Name"] == ok
    with raises_aws("ValidationException"):
        create(sm, "x", name="m" * 513)


def test_description_and_tags(sm):
    tags = [{"Key": "team", "Value": "payments"}, {"Key": "env", "Value": "prod"},
            {"Key": "empty", "Value": ""}]
    resp = create(sm, "v", Description="the payments database", Tags=tags)
    d = sm.describe_secret(SecretId=resp["ARN"])
    assert d["Description"] == "the payments database"
    assert sorted(d["Tags"], key=lambda t: t["Key"]) == sorted(tags, key=lambda t: t["Key"])


def test_client_request_token_is_the_version_id(sm):
    tok = token()
    resp = create(sm, "v1", ClientRequestToken=tok)
    assert resp["VersionId"] == tok
    assert sm.get_secret_value(SecretId=resp["ARN"], VersionId=tok)["SecretString"] == "v1"
    long_tok = "t" * 64
    put = sm.put_secret_value(SecretId=resp["ARN"], SecretString="v2",
                              ClientRequestToken=long_tok)
    assert put["VersionId"] == long_tok


def test_create_secret_retry_with_the_same_token(sm):
    name, tok = unique("sm-retry"), token()
    first = sm.create_secret(Name=name, SecretString="once", ClientRequestToken=tok)
    again = sm.create_secret(Name=name, SecretString="once", ClientRequestToken=tok)
    assert body(again) == body(first)
    assert again["VersionId"] == tok
    assert stages_map(sm, name) == {tok: ["AWSCURRENT"]}
    assert len(sm.list_secret_version_ids(SecretId=name, IncludeDeprecated=True)["Versions"]) == 1
    with raises_aws("ResourceExistsException"):
        sm.create_secret(Name=name, SecretString="twice", ClientRequestToken=tok)
    assert value_of(sm, name) == "once"


def test_put_secret_value_is_idempotent_per_token(sm):
    arn = create(sm, "v1")["ARN"]
    tok = token()
    first = sm.put_secret_value(SecretId=arn, SecretString="v2", ClientRequestToken=tok)
    before = stages_map(sm, arn)
    versions = sm.list_secret_version_ids(SecretId=arn, IncludeDeprecated=True)["Versions"]
    again = sm.put_secret_value(SecretId=arn, SecretString="v2", ClientRequestToken=tok)
    assert again["VersionId"] == first["VersionId"] == tok
    # No new version, and the labels did not move (tok did not become AWSPREVIOUS).
    assert stages_map(sm, arn) == before
    assert before[tok] == ["AWSCURRENT"]
    assert len(sm.list_secret_version_ids(SecretId=arn, IncludeDeprecated=True)["Versions"]) \
        == len(versions) == 2
    # The same token with another value would modify a version: refused.
    with raises_aws("ResourceExistsException"):
        sm.put_secret_value(SecretId=arn, SecretString="v3", ClientRequestToken=tok)
    with raises_aws("ResourceExistsException"):
        sm.put_secret_value(SecretId=arn, SecretBinary=b"v2", ClientRequestToken=tok)
    assert value_of(sm, arn) == "v2"


def test_client_request_token_length(sm):
    arn = create(sm, "v1")["ARN"]
    short = "s" * 31
    with raises_aws("ValidationException",
                    f"1 validation error detected: Value '{short}' at 'clientRequestToken' "
                    "failed to satisfy constraint: Member must have length greater than or "
                    "equal to 32"):
        sm.put_secret_value(SecretId=arn, SecretString="v2", ClientRequestToken=short)


@pytest.mark.parametrize("form", ["id", "arn", "alias", "alias_arn"])
def test_customer_key_forms(sm, kms, form):
    alias = unique("alias/sm-key")
    key = new_customer_key(kms, alias)
    given = {"id": key["KeyId"], "arn": key["Arn"], "alias": alias,
             "alias_arn": alias_arn(alias)}[form]
    resp = create(sm, f"under {form}", KmsKeyId=given)
    assert value_of(sm, resp["ARN"]) == f"under {form}"
    d = sm.describe_secret(SecretId=resp["ARN"])
    assert d.get("KmsKeyId") in (given, key["Arn"]), d
    entry = next(e for e in sm.list_secrets(
        Filters=[{"Key": "name", "Values": [resp["Name"]]}])["SecretList"]
        if e["ARN"] == resp["ARN"])
    assert entry.get("KmsKeyId") in (given, key["Arn"]), entry


def test_unknown_kms_key_is_refused(sm):
    missing = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{uuid.uuid4()}"
    name = unique("sm-nokey")
    with pytest.raises(ClientError):
        sm.create_secret(Name=name, SecretString="x", KmsKeyId=missing)
    # Nothing half-made is left behind.
    with raises_aws("ResourceNotFoundException", NOT_FOUND_MSG):
        sm.get_secret_value(SecretId=name)


# ---------------------------------------------------------------------------
# GetSecretValue


def test_get_by_name_full_arn_and_partial_arn(sm):
    name = unique("app/db")
    arn = create(sm, "by-any-id", name=name)["ARN"]
    partial = arn[:-7]
    assert partial == f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}"
    for secret_id in (name, arn, partial):
        got = sm.get_secret_value(SecretId=secret_id)
        assert got["ARN"] == arn, secret_id
        assert got["Name"] == name
        assert got["SecretString"] == "by-any-id"
        assert sm.describe_secret(SecretId=secret_id)["ARN"] == arn


def test_unknown_secret(sm):
    name = unique("sm-missing")
    arn = f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-AbCdEf"
    for secret_id in (name, arn):
        with raises_aws("ResourceNotFoundException", NOT_FOUND_MSG, status=400):
            sm.get_secret_value(SecretId=secret_id)
        with raises_aws("ResourceNotFoundException", NOT_FOUND_MSG):
            sm.describe_secret(SecretId=secret_id)
        with raises_aws("ResourceNotFoundException", NOT_FOUND_MSG):
            sm.put_secret_value(SecretId=secret_id, SecretString="x")
        with raises_aws("ResourceNotFoundException", NOT_FOUND_MSG):
            sm.update_secret(SecretId=secret_id, Description="x")
        with raises_aws("ResourceNotFoundException", NOT_FOUND_MSG):
            sm.list_secret_version_ids(SecretId=secret_id)
        with raises_aws("ResourceNotFoundException", NOT_FOUND_MSG):
            sm.delete_secret(SecretId=secret_id)
        with raises_aws("ResourceNotFoundException", NOT_FOUND_MSG):
            sm.restore_secret(SecretId=secret_id)
        with raises_aws("ResourceNotFoundException", NOT_FOUND_MSG):
            sm.tag_resource(SecretId=secret_id, Tags=[{"Key": "k", "Value": "v"}])
        with raises_aws("ResourceNotFoundException", NOT_FOUND_MSG):
            sm.get_resource_policy(SecretId=secret_id)
        with raises_aws("ResourceNotFoundException", NOT_FOUND_MSG):
            sm.delete_resource_policy(SecretId=secret_id)


def test_an_arn_with_the_wrong_suffix_is_not_found(sm):
    arn = create(sm, "x")["ARN"]
    suffix = arn[-6:]
    other = "".join("A" if c != "A" else "B" for c in suffix)
    with raises_aws("ResourceNotFoundException", NOT_FOUND_MSG):
        sm.get_secret_value(SecretId=arn[:-6] + other)


def test_get_by_version_id_and_stage(sm):
    v1 = create(sm, "one")
    arn = v1["ARN"]
    v2 = sm.put_secret_value(SecretId=arn, SecretString="two")
    got = sm.get_secret_value(SecretId=arn, VersionId=v1["VersionId"])
    assert (got["SecretString"], got["VersionStages"]) == ("one", ["AWSPREVIOUS"])
    assert got["VersionId"] == v1["VersionId"]
    got = sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")
    assert (got["SecretString"], got["VersionId"]) == ("one", v1["VersionId"])
    got = sm.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")
    assert (got["SecretString"], got["VersionId"]) == ("two", v2["VersionId"])
    got = sm.get_secret_value(SecretId=arn, VersionId=v2["VersionId"], VersionStage="AWSCURRENT")
    assert got["SecretString"] == "two"
    with raises_aws("InvalidRequestException", STAGE_VERSION_MISMATCH_MSG):
        sm.get_secret_value(SecretId=arn, VersionId=v1["VersionId"], VersionStage="AWSCURRENT")
    missing = token()
    with raises_aws("ResourceNotFoundException", version_missing_msg(missing)):
        sm.get_secret_value(SecretId=arn, VersionId=missing)
    with raises_aws("ResourceNotFoundException", stage_missing_msg("NOSUCHSTAGE")):
        sm.get_secret_value(SecretId=arn, VersionStage="NOSUCHSTAGE")


def test_awsprevious_absent_on_a_single_version(sm):
    arn = create(sm, "only")["ARN"]
    with raises_aws("ResourceNotFoundException", stage_missing_msg("AWSPREVIOUS"), status=400):
        sm.get_secret_value(SecretId=arn, VersionStage="AWSPREVIOUS")
    with raises_aws("ResourceNotFoundException", stage_missing_msg("AWSPENDING")):
        sm.get_secret_value(SecretId=arn, VersionStage="AWSPENDING")


# ---------------------------------------------------------------------------
# BatchGetSecretValue (the vendored model)


def test_batch_get_by_id_list(sm):
    assert hasattr(sm, "batch_get_secret_value"), "AWS_DATA_PATH model not loaded"
    s1 = create(sm, "batch-one")
    s2 = create(sm, b"batch-two")
    missing = unique("sm-batch-missing")
    resp = sm.batch_get_secret_value(SecretIdList=[s1["Name"], s2["ARN"], missing])
    assert_no_nulls(body(resp))
    values = {v["ARN"]: v for v in resp["SecretValues"]}
    assert set(values) == {s1["ARN"], s2["ARN"]}
    one, two = values[s1["ARN"]], values[s2["ARN"]]
    assert one["Name"] == s1["Name"]
    assert one["SecretString"] == "batch-one"
    assert one["VersionId"] == s1["VersionId"]
    assert one["VersionStages"] == ["AWSCURRENT"]
    assert_recent(one["CreatedDate"])
    assert two["SecretBinary"] == b"batch-two"
    assert "SecretString" not in two
    assert resp["Errors"] == [{"SecretId": missing, "ErrorCode": "ResourceNotFoundException",
                               "Message": NOT_FOUND_MSG}]
    assert "NextToken" not in resp


def test_batch_get_reports_a_deleted_secret_in_errors(sm):
    live = create(sm, "alive")
    gone = create(sm, "gone")
    sm.delete_secret(SecretId=gone["ARN"], RecoveryWindowInDays=7)
    resp = sm.batch_get_secret_value(SecretIdList=[live["ARN"], gone["ARN"]])
    assert [v["ARN"] for v in resp["SecretValues"]] == [live["ARN"]]
    assert len(resp["Errors"]) == 1
    assert resp["Errors"][0]["SecretId"] == gone["ARN"]
    assert resp["Errors"][0]["ErrorCode"] == "InvalidRequestException"


def test_batch_get_by_filters(sm):
    t = "b" + os.urandom(5).hex()
    made = {create(sm, f"value-{i}", name=f"{t}/s{i}")["Name"] for i in range(3)}
    create(sm, "other", name=unique("sm-other"))
    resp = sm.batch_get_secret_value(Filters=[{"Key": "name", "Values": [t]}])
    assert {v["Name"] for v in resp["SecretValues"]} == made
    assert {v["SecretString"] for v in resp["SecretValues"]} == {"value-0", "value-1", "value-2"}
    assert resp.get("Errors", []) == []
    # MaxResults goes with Filters and pages.
    seen, next_token, pages = [], None, 0
    while True:
        args = dict(Filters=[{"Key": "name", "Values": [t]}], MaxResults=1)
        if next_token:
            args["NextToken"] = next_token
        page = sm.batch_get_secret_value(**args)
        pages += 1
        assert len(page["SecretValues"]) <= 1
        seen += [v["Name"] for v in page["SecretValues"]]
        next_token = page.get("NextToken")
        if not next_token:
            break
        assert pages < 10
    assert sorted(seen) == sorted(made)
    assert pages >= 3


def test_batch_get_needs_exactly_one_selector(sm):
    s = create(sm, "x")
    with raises_aws("InvalidParameterException"):
        sm.batch_get_secret_value(SecretIdList=[s["ARN"]],
                                  Filters=[{"Key": "name", "Values": [s["Name"]]}])


def test_batch_get_with_the_cli(tresor, sm):
    s1, s2 = create(sm, "cli-one"), create(sm, "cli-two")
    rc, out, err = tresor.cli("secretsmanager", "batch-get-secret-value",
                              "--secret-id-list", s1["Name"], s2["ARN"])
    assert rc == 0, (rc, out, err)
    assert {v["ARN"]: v["SecretString"] for v in out["SecretValues"]} == {
        s1["ARN"]: "cli-one", s2["ARN"]: "cli-two"}
    assert out["Errors"] == []


# ---------------------------------------------------------------------------
# PutSecretValue and staging labels


def test_put_secret_value_moves_current_and_previous(sm):
    v1 = create(sm, "one")
    arn = v1["ARN"]
    v2 = sm.put_secret_value(SecretId=arn, SecretString="two")
    assert set(body(v2)) == {"ARN", "Name", "VersionId", "VersionStages"}
    assert (v2["ARN"], v2["Name"], v2["VersionStages"]) == (arn, v1["Name"], ["AWSCURRENT"])
    assert stages_map(sm, arn) == {v2["VersionId"]: ["AWSCURRENT"],
                                   v1["VersionId"]: ["AWSPREVIOUS"]}
    v3 = sm.put_secret_value(SecretId=arn, SecretBinary=b"three")
    # v1 lost its last label: deprecated, no longer in VersionIdsToStages.
    assert stages_map(sm, arn) == {v3["VersionId"]: ["AWSCURRENT"],
                                   v2["VersionId"]: ["AWSPREVIOUS"]}
    assert value_of(sm, arn) == b"three"
    assert value_of(sm, arn, VersionStage="AWSPREVIOUS") == "two"
    listed = sm.list_secret_version_ids(SecretId=arn)
    assert {v["VersionId"] for v in listed["Versions"]} == {v2["VersionId"], v3["VersionId"]}
    every = sm.list_secret_version_ids(SecretId=arn, IncludeDeprecated=True)
    by_id = {v["VersionId"]: v for v in every["Versions"]}
    assert set(by_id) == {v1["VersionId"], v2["VersionId"], v3["VersionId"]}
    assert "VersionStages" not in by_id[v1["VersionId"]]


def test_put_secret_value_custom_stages(sm):
    v1 = create(sm, "one")
    arn = v1["ARN"]
    v2 = sm.put_secret_value(SecretId=arn, SecretString="two",
                             VersionStages=["one", "two", "three"])
    assert sorted(v2["VersionStages"]) == ["one", "three", "two"]
    # AWSCURRENT did not move.
    assert value_of(sm, arn) == "one"
    assert stages_map(sm, arn) == {v1["VersionId"]: ["AWSCURRENT"],
                                   v2["VersionId"]: ["one", "three", "two"]}
    v3 = sm.put_secret_value(SecretId=arn, SecretString="three",
                             VersionStages=["one", "two", "four"])
    # A label lives on one version: one and two moved to v3, three stayed.
    assert stages_map(sm, arn) == {v1["VersionId"]: ["AWSCURRENT"],
                                   v2["VersionId"]: ["three"],
                                   v3["VersionId"]: ["four", "one", "two"]}
    assert value_of(sm, arn, VersionStage="three") == "two"
    assert value_of(sm, arn, VersionStage="one") == "three"
    v4 = sm.put_secret_value(SecretId=arn, SecretString="four",
                             VersionStages=["AWSCURRENT", "one"])
    assert stages_map(sm, arn) == {v1["VersionId"]: ["AWSPREVIOUS"],
                                   v2["VersionId"]: ["three"],
                                   v3["VersionId"]: ["four", "two"],
                                   v4["VersionId"]: ["AWSCURRENT", "one"]}
    assert value_of(sm, arn) == "four"


def test_put_pending_then_promote_keeps_pending(sm):
    v1 = create(sm, "S1")
    arn = v1["ARN"]
    v2 = sm.put_secret_value(SecretId=arn, SecretString="S2", VersionStages=["AWSPENDING"])
    assert v2["VersionStages"] == ["AWSPENDING"]
    assert value_of(sm, arn) == "S1"
    assert value_of(sm, arn, VersionStage="AWSPENDING") == "S2"
    resp = sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT",
                                          MoveToVersionId=v2["VersionId"],
                                          RemoveFromVersionId=v1["VersionId"])
    assert body(resp) == {"ARN": arn, "Name": v1["Name"]}
    assert stages_map(sm, arn) == {v1["VersionId"]: ["AWSPREVIOUS"],
                                   v2["VersionId"]: ["AWSCURRENT", "AWSPENDING"]}
    got = sm.get_secret_value(SecretId=arn)
    assert (got["SecretString"], sorted(got["VersionStages"])) == \
        ("S2", ["AWSCURRENT", "AWSPENDING"])
    # A new AWSPENDING version takes the label away from v2.
    v3 = sm.put_secret_value(SecretId=arn, SecretString="S3", VersionStages=["AWSPENDING"])
    assert stages_map(sm, arn) == {v1["VersionId"]: ["AWSPREVIOUS"],
                                   v2["VersionId"]: ["AWSCURRENT"],
                                   v3["VersionId"]: ["AWSPENDING"]}


# ---------------------------------------------------------------------------
# UpdateSecretVersionStage


def test_moving_current_needs_remove_from_version_id(sm):
    v1 = create(sm, "one")
    arn = v1["ARN"]
    v2 = sm.put_secret_value(SecretId=arn, SecretString="two", VersionStages=["AWSPENDING"])
    with raises_aws("InvalidParameterException",
                    "The parameter RemoveFromVersionId can't be empty. Staging label AWSCURRENT "
                    f"is currently attached to version {v1['VersionId']}, so you must "
                    "explicitly reference that version in RemoveFromVersionId."):
        sm.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT",
                                       MoveToVersionId=v2["VersionId"])
    assert stages_map(sm, arn) == {v1["VersionId"]: ["AWSCURRENT"],
                                   v2["VersionId"]: ["AWSPENDING"]}


def test_custom_label_add_move_remove(sm):
    v1 = create(sm, "one")
    arn = v1["ARN"]
    v2 = sm.put_secret_value(SecretId=arn, SecretString="two")
    sm.update_secret_version_stage(SecretId=arn, VersionStage="BLUE",
                                   MoveToVersionId=v1["VersionId"])
    assert stages_map(sm, arn)[v1["VersionId"]] == ["AWSPREVIOUS", "BLUE"]
    assert value_of(sm, arn, VersionStage="BLUE") == "one"
    with raises_aws("InvalidParameterException"):
        sm.update_secret_version_stage(SecretId=arn, VersionStage="BLUE",
                                       MoveToVersionId=v2["VersionId"])
    sm.update_secret_version_stage(SecretId=arn, VersionStage="BLUE",
                                   MoveToVersionId=v2["VersionId"],
                                   RemoveFromVersionId=v1["VersionId"])
    assert stages_map(sm, arn) == {v1["VersionId"]: ["AWSPREVIOUS"],
                                   v2["VersionId"]: ["AWSCURRENT", "BLUE"]}
    sm.update_secret_version_stage(SecretId=arn, VersionStage="BLUE",
                                   RemoveFromVersionId=v2["VersionId"])
    assert stages_map(sm, arn) == {v1["VersionId"]: ["AWSPREVIOUS"],
                                   v2["VersionId"]: ["AWSCURRENT"]}
    with raises_aws("ResourceNotFoundException", stage_missing_msg("BLUE")):
        sm.get_secret_value(SecretId=arn, VersionStage="BLUE")


# ---------------------------------------------------------------------------
# UpdateSecret


def test_update_description_only(sm):
    v1 = create(sm, "keep", Description="before")
    arn = v1["ARN"]
    d0 = sm.describe_secret(SecretId=arn)
    resp = sm.update_secret(SecretId=arn, Description="after")
    assert body(resp) == {"ARN": arn, "Name": v1["Name"]}
    d1 = sm.describe_secret(SecretId=arn)
    assert d1["Description"] == "after"
    assert d1["VersionIdsToStages"] == {v1["VersionId"]: ["AWSCURRENT"]}
    assert d1["LastChangedDate"] >= d0["LastChangedDate"]
    assert d1["CreatedDate"] == d0["CreatedDate"]
    assert value_of(sm, arn) == "keep"


def test_update_value_makes_a_new_version(sm):
    v1 = create(sm, "old")
    arn = v1["ARN"]
    tok = token()
    resp = sm.update_secret(SecretId=arn, SecretString="new", ClientRequestToken=tok)
    assert body(resp) == {"ARN": arn, "Name": v1["Name"], "VersionId": tok}
    assert stages_map(sm, arn) == {tok: ["AWSCURRENT"], v1["VersionId"]: ["AWSPREVIOUS"]}
    assert value_of(sm, arn) == "new"
    assert value_of(sm, arn, VersionStage="AWSPREVIOUS") == "old"


def test_update_kms_key_reencrypts(sm, kms):
    k1, k2 = new_customer_key(kms), new_customer_key(kms)
    v1 = create(sm, "first", KmsKeyId=k1["Arn"])
    arn = v1["ARN"]
    sm.put_secret_value(SecretId=arn, SecretString="second")
    resp = sm.update_secret(SecretId=arn, KmsKeyId=k2["Arn"])
    assert "VersionId" not in resp
    assert sm.describe_secret(SecretId=arn)["KmsKeyId"] == k2["Arn"]
    # The current versions moved to k2: k1 can go.
    kms.disable_key(KeyId=k1["KeyId"])
    assert value_of(sm, arn) == "second"
    assert value_of(sm, arn, VersionStage="AWSPREVIOUS") == "first"
    # New versions are sealed under k2 too.
    sm.put_secret_value(SecretId=arn, SecretString="third")
    assert value_of(sm, arn) == "third"


def test_disabled_key_fails_reads_and_writes(sm, kms):
    key = new_customer_key(kms)
    arn = create(sm, "locked", KmsKeyId=key["KeyId"])["ARN"]
    kms.disable_key(KeyId=key["KeyId"])
    with raises_aws("DecryptionFailure", startswith=DECRYPTION_FAILURE_MSG, status=400):
        sm.get_secret_value(SecretId=arn)
    with raises_aws("EncryptionFailure", status=400):
        sm.put_secret_value(SecretId=arn, SecretString="x")
    kms.enable_key(KeyId=key["KeyId"])
    assert value_of(sm, arn) == "locked"


def test_update_back_to_the_managed_key(sm, kms):
    key = new_customer_key(kms)
    arn = create(sm, "round trip", KmsKeyId=key["Arn"])["ARN"]
    sm.update_secret(SecretId=arn, KmsKeyId="")
    assert "KmsKeyId" not in sm.describe_secret(SecretId=arn)
    kms.disable_key(KeyId=key["KeyId"])
    assert value_of(sm, arn) == "round trip"


# ---------------------------------------------------------------------------
# DescribeSecret and ListSecretVersionIds


def test_describe_secret(sm):
    tok = token()
    resp = create(sm, "described", Description="desc", ClientRequestToken=tok)
    arn = resp["ARN"]
    d = sm.describe_secret(SecretId=arn)
    assert_no_nulls(body(d))
    assert d["ARN"] == arn
    assert d["Name"] == resp["Name"]
    assert d["Description"] == "desc"
    assert "KmsKeyId" not in d                      # aws/secretsmanager is implicit
    assert "DeletedDate" not in d
    assert "LastAccessedDate" not in d              # never read yet
    assert d["VersionIdsToStages"] == {tok: ["AWSCURRENT"]}
    assert_recent(d["CreatedDate"])
    assert_recent(d["LastChangedDate"])
    sm.get_secret_value(SecretId=arn)
    assert_midnight_utc(sm.describe_secret(SecretId=arn)["LastAccessedDate"])


def test_list_secret_version_ids(sm):
    v1 = create(sm, "one")
    arn = v1["ARN"]
    v2 = sm.put_secret_value(SecretId=arn, SecretString="two")
    resp = sm.list_secret_version_ids(SecretId=arn)
    assert_no_nulls(body(resp))
    assert (resp["ARN"], resp["Name"]) == (arn, v1["Name"])
    by_id = {v["VersionId"]: v for v in resp["Versions"]}
    assert set(by_id) == {v1["VersionId"], v2["VersionId"]}
    assert by_id[v1["VersionId"]]["VersionStages"] == ["AWSPREVIOUS"]
    assert by_id[v2["VersionId"]]["VersionStages"] == ["AWSCURRENT"]
    for v in by_id.values():
        assert_recent(v["CreatedDate"])
        assert v["KmsKeyIds"] == ["DefaultEncryptionKey"]
    page = sm.list_secret_version_ids(SecretId=arn, MaxResults=1)
    assert len(page["Versions"]) == 1
    rest = sm.list_secret_version_ids(SecretId=arn, MaxResults=1, NextToken=page["NextToken"])
    assert {page["Versions"][0]["VersionId"], rest["Versions"][0]["VersionId"]} == set(by_id)
    assert "NextToken" not in rest


# ---------------------------------------------------------------------------
# ListSecrets


def test_list_secrets_entry(sm, kms):
    t = "e" + os.urandom(5).hex()
    managed = create(sm, "m", name=f"{t}/managed", Description="entry",
                     Tags=[{"Key": "k", "Value": "v"}])
    key = new_customer_key(kms)
    customer = create(sm, "c", name=f"{t}/customer", KmsKeyId=key["Arn"])
    sm.get_secret_value(SecretId=managed["ARN"])
    entries = {e["Name"]: e for e in sm.list_secrets(
        Filters=[{"Key": "name", "Values": [t]}])["SecretList"]}
    assert set(entries) == {managed["Name"], customer["Name"]}
    m = entries[managed["Name"]]
    assert_no_nulls(m)
    assert m["ARN"] == managed["ARN"]
    assert m["Description"] == "entry"
    assert m["Tags"] == [{"Key": "k", "Value": "v"}]
    assert m["SecretVersionsToStages"] == {managed["VersionId"]: ["AWSCURRENT"]}
    assert "KmsKeyId" not in m
    assert "DeletedDate" not in m
    assert_recent(m["CreatedDate"])
    assert_recent(m["LastChangedDate"])
    assert_midnight_utc(m["LastAccessedDate"])
    assert entries[customer["Name"]]["KmsKeyId"] == key["Arn"]
    assert "LastAccessedDate" not in entries[customer["Name"]]


def test_list_secrets_paging(sm):
    t = "p" + os.urandom(5).hex()
    made = {create(sm, "x", name=f"{t}-{i}")["Name"] for i in range(5)}
    seen, next_token, pages = [], None, 0
    while True:
        args = dict(Filters=[{"Key": "name", "Values": [t]}], MaxResults=2)
        if next_token:
            args["NextToken"] = next_token
        page = sm.list_secrets(**args)
        pages += 1
        assert len(page["SecretList"]) <= 2
        seen += [e["Name"] for e in page["SecretList"]]
        next_token = page.get("NextToken")
        if not next_token:
            break
        assert pages < 20
    assert len(seen) == len(set(seen)) == 5
    assert set(seen) == made
    assert pages >= 3


def test_list_secrets_bad_next_token(sm):
    with raises_aws("InvalidNextTokenException"):
        sm.list_secrets(NextToken="bm90IGEgdG9rZW4gdHJlc29yIG1hZGU=")


def test_list_secrets_filters(sm):
    t = "f" + os.urandom(5).hex()
    s1 = create(sm, "1", name=f"{t}/alpha", Description=f"{t}desc first",
                Tags=[{"Key": f"{t}key", "Value": "red"}])["Name"]
    word = "zebra" + "".join(random.choice(string.ascii_lowercase) for _ in range(10))
    s2 = create(sm, "2", name=f"{t}/beta", Description="other words",
                Tags=[{"Key": "color", "Value": f"{t}val"},
                      {"Key": "animal", "Value": word}])["Name"]
    s3 = create(sm, "3", name=f"{t}/gamma")["Name"]

    def names(*filters):
        return set(listed_names(sm, list(filters)))

    assert names({"Key": "name", "Values": [t]}) == {s1, s2, s3}
    assert names({"Key": "name", "Values": [f"{t}/al"]}) == {s1}
    assert names({"Key": "name", "Values": [f"{t}/al", f"{t}/ga"]}) == {s1, s3}
    assert names({"Key": "name", "Values": [t.upper()]}) == set()        # case-sensitive
    assert names({"Key": "description", "Values": [f"{t.upper()}DESC"]}) == {s1}  # not
    assert names({"Key": "tag-key", "Values": [f"{t}ke"]}) == {s1}
    assert names({"Key": "tag-key", "Values": [f"{t.upper()}KE"]}) == set()
    assert names({"Key": "tag-value", "Values": [f"{t}va"]}) == {s2}
    assert names({"Key": "all", "Values": [f"{t}val"]}) == {s2}
    assert names({"Key": "all", "Values": [word]}) == {s2}
    assert names({"Key": "all", "Values": [word.upper()]}) == {s2}     # not case-sensitive
    # Several filters: all must match.
    assert names({"Key": "name", "Values": [t]}, {"Key": "tag-key", "Values": [f"{t}key"]}) \
        == {s1}


def test_list_secrets_sort_order(sm):
    t = "o" + os.urandom(5).hex()
    first = create(sm, "1", name=f"{t}-zz-first")["Name"]
    time.sleep(1.1)
    second = create(sm, "2", name=f"{t}-aa-second")["Name"]
    flt = [{"Key": "name", "Values": [t]}]
    asc = [e["Name"] for e in sm.list_secrets(Filters=flt, SortOrder="asc")["SecretList"]]
    desc = [e["Name"] for e in sm.list_secrets(Filters=flt, SortOrder="desc")["SecretList"]]
    assert asc == [first, second]
    assert desc == [second, first]
    by_name = [e["Name"] for e in sm.list_secrets(Filters=flt, SortBy="name",
                                                  SortOrder="asc")["SecretList"]]
    assert by_name == [second, first]


def test_list_secrets_include_planned_deletion(sm):
    t = "d" + os.urandom(5).hex()
    keep = create(sm, "k", name=f"{t}/keep")["Name"]
    doomed = create(sm, "d", name=f"{t}/doomed")["Name"]
    sm.delete_secret(SecretId=doomed, RecoveryWindowInDays=7)
    flt = [{"Key": "name", "Values": [t]}]
    assert set(listed_names(sm, flt)) == {keep}
    assert set(listed_names(sm, flt, IncludePlannedDeletion=False)) == {keep}
    entries = {e["Name"]: e for e in sm.list_secrets(
        Filters=flt, IncludePlannedDeletion=True)["SecretList"]}
    assert set(entries) == {keep, doomed}
    assert "DeletedDate" in entries[doomed]
    assert "DeletedDate" not in entries[keep]


# ---------------------------------------------------------------------------
# DeleteSecret, RestoreSecret, the purge


@pytest.mark.parametrize("window", [7, 30, None])
def test_delete_with_a_recovery_window(sm, window):
    resp = create(sm, "doomed")
    arn = resp["ARN"]
    kw = {} if window is None else {"RecoveryWindowInDays": window}
    deleted = sm.delete_secret(SecretId=arn, **kw)
    assert set(body(deleted)) == {"ARN", "Name", "DeletionDate"}
    assert (deleted["ARN"], deleted["Name"]) == (arn, resp["Name"])
    days = window or 30
    expected = utcnow() + datetime.timedelta(days=days)
    assert abs((deleted["DeletionDate"] - expected).total_seconds()) < 600, deleted
    d = sm.describe_secret(SecretId=arn)
    assert abs((d["DeletedDate"] - deleted["DeletionDate"]).total_seconds()) < 2
    assert d["VersionIdsToStages"] == {resp["VersionId"]: ["AWSCURRENT"]}


@pytest.mark.parametrize("window", [0, 6, 31, 365])
def test_delete_window_out_of_range(sm, window):
    arn = create(sm, "x")["ARN"]
    with raises_aws("InvalidParameterException", contains=WINDOW_RANGE_MSG):
        sm.delete_secret(SecretId=arn, RecoveryWindowInDays=window)
    assert "DeletedDate" not in sm.describe_secret(SecretId=arn)


def test_delete_with_both_options(sm):
    arn = create(sm, "x")["ARN"]
    with raises_aws("InvalidParameterException", FORCE_AND_WINDOW_MSG):
        sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7, ForceDeleteWithoutRecovery=True)
    assert value_of(sm, arn) == "x"


def test_operations_on_a_secret_marked_for_deletion(sm):
    resp = create(sm, "pending")
    arn, name = resp["ARN"], resp["Name"]
    sm.delete_secret(SecretId=arn, RecoveryWindowInDays=7)
    for secret_id in (arn, name):
        with raises_aws("InvalidRequestException", MARKED_FOR_DELETION_MSG, status=400):
            sm.get_secret_value(SecretId=secret_id)
    with raises_aws("InvalidRequestException", MARKED_FOR_DELETION_MSG):
        sm.put_secret_value(SecretId=arn, SecretString="more")
    with raises_aws("InvalidRequestException", MARKED_FOR_DELETION_MSG):
        sm.update_secret(SecretId=arn, Description="more")
    with raises_aws("InvalidRequestException", MARKED_FOR_DELETION_MSG):
        sm.update_secret(SecretId=arn, SecretString="more")
    with raises_aws("InvalidRequestException", NAME_PENDING_DELETION_MSG):
        create(sm, "again", name=name)
    with raises_aws("InvalidRequestException", MARKED_FOR_DELETION_MSG):
        sm.delete_resource_policy(SecretId=arn)
    # Metadata stays readable.
    assert sm.describe_secret(SecretId=name)["ARN"] == arn
    assert body(sm.get_resource_policy(SecretId=name)) == {"ARN": arn, "Name": name}


def test_restore_secret(sm):
    resp = create(sm, "restored")
    arn = resp["ARN"]
    sm.delete_secret(SecretId=arn)
    restored = sm.restore_secret(SecretId=resp["Name"])
    assert body(restored) == {"ARN": arn, "Name": resp["Name"]}
    d = sm.describe_secret(SecretId=arn)
    assert "DeletedDate" not in d
    assert value_of(sm, arn) == "restored"
    assert resp["Name"] in listed_names(sm, [{"Key": "name", "Values": [resp["Name"]]}])
    sm.put_secret_value(SecretId=arn, SecretString="writable again")


def test_force_delete_without_recovery(sm):
    resp = create(sm, "gone now")
    arn, name = resp["ARN"], resp["Name"]
    deleted = sm.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    assert (deleted["ARN"], deleted["Name"]) == (arn, name)
    assert_recent(deleted["DeletionDate"])

    def gone():
        with raises_aws("ResourceNotFoundException", NOT_FOUND_MSG):
            sm.describe_secret(SecretId=arn)
    eventually(gone)
    with raises_aws("ResourceNotFoundException", NOT_FOUND_MSG):
        sm.get_secret_value(SecretId=name)
    again = create(sm, "reborn", name=name)
    assert again["ARN"] != arn
    assert SECRET_ARN_RE.match(again["ARN"]).group("name") == name
    assert value_of(sm, name) == "reborn"
    # The old ARN does not reach the new secret.
    with raises_aws("ResourceNotFoundException", NOT_FOUND_MSG):
        sm.get_secret_value(SecretId=arn)


def test_force_delete_of_a_missing_secret_does_not_fail(sm):
    sm.delete_secret(SecretId=unique("sm-never-was"), ForceDeleteWithoutRecovery=True)


def test_purge_after_the_recovery_window(tresor_factory):
    srv = tresor_factory("sm-purge")
    sm = srv.sm()
    doomed = create(sm, "doomed", name="purge/doomed")
    later = create(sm, "later", name="purge/later")
    keep = create(sm, "kept", name="purge/keep")
    sm.delete_secret(SecretId=doomed["ARN"], RecoveryWindowInDays=7)
    sm.delete_secret(SecretId=later["ARN"], RecoveryWindowInDays=30)

    srv.restart({"TRESOR_CLOCK_OFFSET": str(8 * DAY)})
    sm = srv.sm()

    def doomed_gone():
        for secret_id in (doomed["ARN"], doomed["Name"]):
            with raises_aws("ResourceNotFoundException", NOT_FOUND_MSG):
                sm.describe_secret(SecretId=secret_id)
    eventually(doomed_gone)
    with raises_aws("ResourceNotFoundException", NOT_FOUND_MSG):
        sm.get_secret_value(SecretId=doomed["Name"])
    # Still inside its 30 days.
    assert "DeletedDate" in sm.describe_secret(SecretId=later["ARN"])
    with raises_aws("InvalidRequestException", MARKED_FOR_DELETION_MSG):
        sm.get_secret_value(SecretId=later["ARN"])
    assert value_of(sm, keep["ARN"]) == "kept"
    listed = {e["Name"] for e in sm.list_secrets(IncludePlannedDeletion=True)["SecretList"]}
    assert listed == {"purge/later", "purge/keep"}
    # The name is free again, under a new ARN.
    again = create(sm, "second life", name="purge/doomed")
    assert again["ARN"] != doomed["ARN"]
    assert value_of(sm, "purge/doomed") == "second life"
    sm.restore_secret(SecretId=later["ARN"])
    assert value_of(sm, later["ARN"]) == "later"


# ---------------------------------------------------------------------------
# TagResource / UntagResource


def test_tag_and_untag(sm):
    resp = create(sm, "tagged")
    arn = resp["ARN"]
    out = sm.tag_resource(SecretId=arn, Tags=[{"Key": "a", "Value": "1"},
                                              {"Key": "b", "Value": "2"}])
    assert body(out) == {}
    sm.tag_resource(SecretId=resp["Name"], Tags=[{"Key": "a", "Value": "one"}])
    tags = {t["Key"]: t["Value"] for t in sm.describe_secret(SecretId=arn)["Tags"]}
    assert tags == {"a": "one", "b": "2"}
    assert resp["Name"] in listed_names(sm, [{"Key": "tag-key", "Values": ["a"]},
                                             {"Key": "name", "Values": [resp["Name"]]}])
    out = sm.untag_resource(SecretId=arn, TagKeys=["a", "not-there"])
    assert body(out) == {}
    tags = {t["Key"]: t["Value"] for t in sm.describe_secret(SecretId=arn).get("Tags", [])}
    assert tags == {"b": "2"}
    # Tags are metadata: no new version.
    assert stages_map(sm, arn) == {resp["VersionId"]: ["AWSCURRENT"]}


def test_aws_prefixed_tags_are_refused(sm):
    arn = create(sm, "x")["ARN"]
    with raises_aws("InvalidParameterException",
                    "You can't modify system tags. Tag key: 'aws:reserved'."):
        sm.tag_resource(SecretId=arn, Tags=[{"Key": "aws:reserved", "Value": "v"}])
    assert not sm.describe_secret(SecretId=arn).get("Tags")


# ---------------------------------------------------------------------------
# GetRandomPassword


def classes(pw):
    return {
        "upper": any(c in string.ascii_uppercase for c in pw),
        "lower": any(c in string.ascii_lowercase for c in pw),
        "digit": any(c in string.digits for c in pw),
        "punct": any(c in PUNCTUATION for c in pw),
        "space": " " in pw,
    }


ALLOWED = set(string.ascii_letters + string.digits) | PUNCTUATION


def test_random_password_default(sm):
    resp = sm.get_random_password()
    assert set(body(resp)) == {"RandomPassword"}
    pw = resp["RandomPassword"]
    assert len(pw) == 32
    assert set(pw) <= ALLOWED
    c = classes(pw)
    assert c["upper"] and c["lower"] and c["digit"] and c["punct"] and not c["space"]
    assert sm.get_random_password()["RandomPassword"] != pw


@pytest.mark.parametrize("length", [4, 17, 100, 4096])
def test_random_password_length(sm, length):
    pw = sm.get_random_password(PasswordLength=length)["RandomPassword"]
    assert len(pw) == length
    assert set(pw) <= ALLOWED


@pytest.mark.parametrize("length,message", [
    (0, "1 validation error detected: Value '0' at 'passwordLength' failed to satisfy "
        "constraint: Member must have value greater than or equal to 1"),
    (4097, "1 validation error detected: Value '4097' at 'passwordLength' failed to satisfy "
           "constraint: Member must have value less than or equal to 4096"),
])
def test_random_password_length_out_of_range(sm, length, message):
    with raises_aws("ValidationException", message):
        sm.get_random_password(PasswordLength=length)


@pytest.mark.parametrize("option,cls", [("ExcludeNumbers", "digit"),
                                        ("ExcludePunctuation", "punct"),
                                        ("ExcludeUppercase", "upper"),
                                        ("ExcludeLowercase", "lower")])
def test_random_password_exclude_classes(sm, option, cls):
    pw = sm.get_random_password(PasswordLength=4096, **{option: True})["RandomPassword"]
    c = classes(pw)
    assert not c[cls], pw
    assert all(v for k, v in c.items() if k not in (cls, "space")), c


def test_random_password_exclude_characters(sm):
    banned = "aeiouAEIOU012345!@#$%&*"
    pw = sm.get_random_password(PasswordLength=4096, ExcludeCharacters=banned)["RandomPassword"]
    assert len(pw) == 4096
    assert not set(pw) & set(banned)
    assert set(pw) <= ALLOWED


def test_random_password_only_digits(sm):
    pw = sm.get_random_password(PasswordLength=64, ExcludeUppercase=True, ExcludeLowercase=True,
                                ExcludePunctuation=True)["RandomPassword"]
    assert len(pw) == 64 and set(pw) <= set(string.digits)


def test_random_password_include_space(sm):
    pw = sm.get_random_password(PasswordLength=4096, IncludeSpace=True)["RandomPassword"]
    assert " " in pw
    assert set(pw) <= ALLOWED | {" "}
    pw = sm.get_random_password(PasswordLength=4096, IncludeSpace=False)["RandomPassword"]
    assert " " not in pw


def test_random_password_require_each_included_type(sm):
    for _ in range(20):
        pw = sm.get_random_password(PasswordLength=4,
                                    RequireEachIncludedType=True)["RandomPassword"]
        c = classes(pw)
        assert c["upper"] and c["lower"] and c["digit"] and c["punct"], pw
    # Without the requirement a 4-character password misses a class most of
    # the time (all four appear with probability ~0.07).
    missing = 0
    for _ in range(40):
        pw = sm.get_random_password(PasswordLength=4,
                                    RequireEachIncludedType=False)["RandomPassword"]
        assert len(pw) == 4 and set(pw) <= ALLOWED
        c = classes(pw)
        missing += not (c["upper"] and c["lower"] and c["digit"] and c["punct"])
    assert missing > 0


# ---------------------------------------------------------------------------
# Resource policies


def same_account_policy(arn):
    return json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
        "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]})


PUBLIC_POLICIES = [
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",
                                             "Action": "secretsmanager:GetSecretValue",
                                             "Resource": "*"}]},
    {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"},
                                             "Action": "secretsmanager:*",
                                             "Resource": "*"}]},
]


def test_resource_policy_put_get_delete(sm):
    resp = create(sm, "with policy")
    arn, name = resp["ARN"], resp["Name"]
    got = sm.get_resource_policy(SecretId=arn)
    assert body(got) == {"ARN": arn, "Name": name}
    policy = same_account_policy(arn)
    put = sm.put_resource_policy(SecretId=arn, ResourcePolicy=policy)
    assert body(put) == {"ARN": arn, "Name": name}
    got = sm.get_resource_policy(SecretId=name)
    assert (got["ARN"], got["Name"]) == (arn, name)
    assert json.loads(got["ResourcePolicy"]) == json.loads(policy)
    deleted = sm.delete_resource_policy(SecretId=arn)
    assert body(deleted) == {"ARN": arn, "Name": name}
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId=arn)


@pytest.mark.parametrize("policy", PUBLIC_POLICIES, ids=["star", "aws-star"])
def test_block_public_policy(sm, policy):
    arn = create(sm, "x")["ARN"]
    with raises_aws("PublicPolicyException", status=400):
        sm.put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps(policy),
                               BlockPublicPolicy=True)
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId=arn)
    # Public policies are not blocked by default.
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=json.dumps(policy))
    assert json.loads(sm.get_resource_policy(SecretId=arn)["ResourcePolicy"]) == policy
    # A policy naming the account passes the check.
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=same_account_policy(arn),
                           BlockPublicPolicy=True)


@pytest.mark.parametrize("bad", ["not json at all", "{", "[]",
                                 '{"Version": "2012-10-17", "Statement": "nope"}'])
def test_malformed_resource_policy(sm, bad):
    arn = create(sm, "x")["ARN"]
    with raises_aws("MalformedPolicyDocumentException", status=400):
        sm.put_resource_policy(SecretId=arn, ResourcePolicy=bad)
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId=arn)
    # ValidateResourcePolicy: AWS's answer to a syntax error is not public;
    # the model lists MalformedPolicyDocumentException, and a failed check
    # in ValidationErrors is the other reading.  Either, never a pass.
    try:
        out = sm.validate_resource_policy(SecretId=arn, ResourcePolicy=bad)
    except ClientError as e:
        assert e.response["Error"]["Code"] == "MalformedPolicyDocumentException", e.response
    else:
        assert out["PolicyValidationPassed"] is False, out
        assert out["ValidationErrors"], out


def test_validate_resource_policy(sm):
    arn = create(sm, "x")["ARN"]
    ok = sm.validate_resource_policy(SecretId=arn, ResourcePolicy=same_account_policy(arn))
    assert ok["PolicyValidationPassed"] is True
    assert ok.get("ValidationErrors", []) == []
    ok = sm.validate_resource_policy(ResourcePolicy=same_account_policy(arn))
    assert ok["PolicyValidationPassed"] is True
    bad = sm.validate_resource_policy(SecretId=arn,
                                      ResourcePolicy=json.dumps(PUBLIC_POLICIES[0]))
    assert bad["PolicyValidationPassed"] is False
    assert bad["ValidationErrors"], bad
    for e in bad["ValidationErrors"]:
        assert e.get("ErrorMessage"), e
    # Validation stores nothing.
    assert "ResourcePolicy" not in sm.get_resource_policy(SecretId=arn)


# ---------------------------------------------------------------------------
# Rotation without hooks and replication to a region not served fail cleanly


def test_rotation_and_replication_fail_cleanly(sm):
    resp = create(sm, "steady")
    arn = resp["ARN"]
    lam = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:rotator"
    calls = [
        lambda: sm.rotate_secret(SecretId=arn, RotationLambdaARN=lam,
                                 RotationRules={"AutomaticallyAfterDays": 30}),
        lambda: sm.rotate_secret(SecretId=arn),
        lambda: sm.replicate_secret_to_regions(SecretId=arn,
                                               AddReplicaRegions=[{"Region": "eu-west-1"}]),
        lambda: sm.remove_regions_from_replication(SecretId=arn,
                                                   RemoveReplicaRegions=["eu-west-1"]),
        lambda: sm.stop_replication_to_replica(SecretId=arn),
    ]
    for call in calls:
        with pytest.raises(ClientError) as ei:
            call()
        status = ei.value.response["ResponseMetadata"]["HTTPStatusCode"]
        assert 400 <= status < 500, ei.value.response
    assert value_of(sm, arn) == "steady"
    assert stages_map(sm, arn) == {resp["VersionId"]: ["AWSCURRENT"]}
    sm.put_secret_value(SecretId=arn, SecretString="still works")
    assert value_of(sm, arn) == "still works"


# ---------------------------------------------------------------------------
# Nothing secret reaches the disk in the clear


def _encodings(value):
    """The byte strings under which `value` could sit in a file: raw, hex,
    and base64 (standard and URL-safe) at each of the three alignments."""
    out = {value, value.hex().encode(), value.hex().upper().encode()}
    for shift in range(3):
        padded = b"\0" * shift + value
        for enc in (base64.b64encode(padded), base64.urlsafe_b64encode(padded)):
            start = ((shift + 2) // 3) * 4
            inner = enc[start:len(enc) - 4]
            if len(inner) >= 16:
                out.add(inner)
    return out


def test_values_are_not_stored_in_plaintext(tresor_factory):
    srv = tresor_factory("sm-at-rest")
    sm = srv.sm()
    kms = srv.kms()
    canary = "tresor-canary-string-" + os.urandom(16).hex()
    canary2 = "tresor-canary-second-" + os.urandom(16).hex()
    canary3 = "tresor-canary-update-" + os.urandom(16).hex()
    ascii_bin = b"tresor-canary-binary-" + os.urandom(16).hex().encode()
    blob = ascii_bin + bytes(range(256))
    key = new_key(kms)
    s1 = create(sm, canary, name="at-rest/string")
    s2 = create(sm, blob, name="at-rest/binary")
    s3 = create(sm, canary2, name="at-rest/customer-key", KmsKeyId=key["Arn"])
    sm.put_secret_value(SecretId=s1["ARN"], SecretString=canary2)
    sm.update_secret(SecretId=s2["ARN"], SecretString=canary3)
    sm.put_secret_value(SecretId=s3["ARN"], SecretBinary=blob)
    assert value_of(sm, s1["ARN"], VersionStage="AWSPREVIOUS") == canary
    assert value_of(sm, s2["ARN"], VersionStage="AWSPREVIOUS") == blob
    assert value_of(sm, s3["ARN"]) == blob
    srv.stop_clean()

    needles = set()
    for v in (canary.encode(), canary2.encode(), canary3.encode(), ascii_bin, blob):
        needles |= _encodings(v)
    files = [p for p in srv.data_dir.rglob("*") if p.is_file()]
    assert files, "empty data dir"
    for path in files + [p for p in srv.log_dir.rglob("*") if p.is_file()]:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"{path} holds a secret value ({needle[:24]!r}...)"
