"""
test_no_truncation.py -- values at AWS's maximum lengths work end to end,
and a longer one is refused, never cut into another value
(docs/internals/RESULT.md, "Strings into fixed buffers").

The cuts these tests found, each now a checked copy sized from the model:
  - iam:PermissionsBoundary (arnType, up to 2048 characters) was decided
    on its first 703: a Deny naming the end of a boundary ARN missed it;
  - an IAM user's tag key of 128 UTF-8 characters (up to 512 bytes) was
    cut into a 300-byte aws:ResourceTag/ key by `tresor policy simulate`,
    which then decided against another key than the server does.
The others check the longest names, paths, aliases and ids AWS allows,
and AWS's own validation error one past them.
"""

import json
import os

import pytest
from botocore.exceptions import ClientError

from tresor_e2e import (ACCOUNT, REGION, allow, deny, denied_msg, make_user, policy_doc, raises_aws,
                        user_arn)


def suffix():
    return os.urandom(4).hex()


# ---- IAM: the permissions boundary condition key -----------------------------

def test_a_long_permissions_boundary_is_decided_whole(authz_server, root):
    """A Deny on boundaries whose ARN ends in "-admin" must deny a 760-character
    one: the condition key holds the ARN as given (arnType allows 2048)."""
    admin = make_user(root, policy=[
        allow("iam:CreateUser"),
        deny("iam:CreateUser", condition={"StringLike": {"iam:PermissionsBoundary": "*-admin"}}),
    ])
    prefix = f"arn:aws:iam::{ACCOUNT}:policy/"
    long_boundary = prefix + "b" * (760 - len(prefix) - len("-admin")) + "-admin"
    assert len(long_boundary) == 760
    name = f"bounded-{suffix()}"
    with raises_aws("AccessDenied", denied_msg(admin.arn, "iam:CreateUser", user_arn(name),
                                               "explicit-identity"), status=403):
        admin.iam.create_user(UserName=name, PermissionsBoundary=long_boundary)
    # The same Deny on a short boundary: the rule itself works.
    with raises_aws("AccessDenied", denied_msg(admin.arn, "iam:CreateUser", user_arn(name),
                                               "explicit-identity"), status=403):
        admin.iam.create_user(UserName=name, PermissionsBoundary=prefix + "x-admin")
    # Not denied: a long boundary that is no policy is IAM's own error.
    other = prefix + "c" * (760 - len(prefix))
    with pytest.raises(ClientError) as e:
        admin.iam.create_user(UserName=name, PermissionsBoundary=other)
    assert e.value.response["Error"]["Code"] != "AccessDenied", e.value.response
    # One past arnType's 2048: IAM's validation error, before anything else.
    with pytest.raises(ClientError) as e:
        root.iam.create_user(UserName=name, PermissionsBoundary=prefix + "d" * (2049 - len(prefix)))
    assert e.value.response["Error"]["Code"] == "ValidationError", e.value.response
    assert "Member must have length less than or equal to 2048" in e.value.response["Error"]["Message"]


# ---- IAM: the longest path and name sign in and act ---------------------------

def test_a_user_at_the_longest_path_and_name_signs_in_and_is_authorized(authz_server, root):
    path = "/" + "p" * 254 + "/" + "q" * 255 + "/"          # 512, IAM's longest
    assert len(path) == 512
    name = ("u" + suffix() + "x" * 64)[:64]
    arn = f"arn:aws:iam::{ACCOUNT}:user{path}{name}"
    u = make_user(root, name, path=path, policy=allow("secretsmanager:CreateSecret", "*"))
    assert u.arn == arn
    who = u.client("sts").get_caller_identity()
    assert who["Arn"] == arn and who["UserId"] == u.user_id
    sm = u.client("secretsmanager")
    made = sm.create_secret(Name=f"long-user-{suffix()}", SecretString="v")
    # Denied, with the whole ARN in AWS's message.
    with raises_aws("AccessDeniedException", denied_msg(arn, "secretsmanager:GetSecretValue",
                                                        made["ARN"])):
        sm.get_secret_value(SecretId=made["ARN"])
    # One past the path's 512: IAM's validation error.
    with pytest.raises(ClientError) as e:
        root.iam.create_user(UserName=f"p{suffix()}", Path="/" + "q" * 511 + "/")
    assert e.value.response["Error"]["Code"] == "ValidationError"
    assert "Member must have length less than or equal to 512" in e.value.response["Error"]["Message"]


def test_list_policies_takes_the_longest_marker(authz_server, root):
    """markerType: up to 320 characters of U+0020..U+00FF (640 bytes)."""
    marker = "\u00e9" * 320
    got = root.iam.list_policies(Scope="Local", Marker=marker)
    assert got["IsTruncated"] is False
    got = root.iam.get_account_authorization_details(Marker="U:" + "\u00e9" * 318)
    assert got["IsTruncated"] is False
    with pytest.raises(ClientError) as e:
        root.iam.list_policies(Scope="Local", Marker="m" * 321)
    assert e.value.response["Error"]["Code"] == "ValidationError"


# ---- KMS: the longest alias ------------------------------------------------

def test_the_longest_alias_names_its_key_everywhere(authz_server, root):
    kms = root.kms
    key = kms.create_key()["KeyMetadata"]
    alias = ("alias/" + suffix() + "-" + "a" * 256)[:256]
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    alias_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:{alias}"
    listed = [a for a in kms.list_aliases(KeyId=key["KeyId"])["Aliases"]]
    assert [(a["AliasName"], a["AliasArn"]) for a in listed] == [(alias, alias_arn)]
    assert kms.describe_key(KeyId=alias)["KeyMetadata"]["Arn"] == key["Arn"]
    assert kms.describe_key(KeyId=alias_arn)["KeyMetadata"]["Arn"] == key["Arn"]
    blob = kms.encrypt(KeyId=alias, Plaintext=b"x")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["KeyId"] == key["Arn"]
    # One past 256: KMS's validation error.
    with raises_aws("ValidationException", contains="Member must have length less than or equal to 256"):
        kms.create_alias(AliasName=alias + "b", TargetKeyId=key["KeyId"])
    # A 257-character alias as a KeyId names no key: never the 256 one.
    with raises_aws("NotFoundException"):
        kms.describe_key(KeyId=alias + "b")


# ---- Secrets Manager: the longest name and id ---------------------------------

def test_the_longest_secret_name_works_and_a_longer_id_is_refused(authz_server, root):
    sm = root.client("secretsmanager")
    name = ("s" + suffix() + "/" + "n" * 512)[:512]
    made = sm.create_secret(Name=name, SecretString="long")
    assert made["Name"] == name and made["ARN"].startswith(
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:{name}-")
    for sid in (name, made["ARN"]):
        got = sm.get_secret_value(SecretId=sid)
        assert (got["Name"], got["ARN"], got["SecretString"]) == (name, made["ARN"], "long")
    listed = sm.list_secrets(Filters=[{"Key": "name", "Values": [name]}])["SecretList"]
    assert [s["ARN"] for s in listed] == [made["ARN"]]
    with pytest.raises(ClientError) as e:
        sm.create_secret(Name=name + "x", SecretString="v")
    assert e.value.response["Error"]["Code"] == "ValidationException"
    # A name longer than any secret's, up to SecretIdType's 2048: not found.
    with raises_aws("ResourceNotFoundException"):
        sm.get_secret_value(SecretId=name + "y" * (2048 - 512))
    with raises_aws("ValidationException", contains="Member must have length less than or equal to 2048"):
        sm.get_secret_value(SecretId="z" * 2049)


# ---- policy simulate: a tag key of 128 four-byte characters ---------------------

def test_simulate_decides_on_the_whole_tag_key(authz_server, root):
    """aws:ResourceTag/<128 characters of 4 bytes> of an IAM user: the server
    and `tresor policy simulate` must both see the whole key (it was cut to
    300 bytes by simulate, which then denied what the server allows)."""
    tag_key = "\U0001d538" * 128                               # MATHEMATICAL DOUBLE-STRUCK A
    target = make_user(root, tags={tag_key: "ok"}, keys=False)
    reader = make_user(root, policy=allow("iam:GetUser", "*", condition={
        "StringEquals": {f"aws:ResourceTag/{tag_key}": "ok"}}))
    got = reader.iam.get_user(UserName=target.name)["User"]
    assert got["Arn"] == target.arn and got["Tags"] == [{"Key": tag_key, "Value": "ok"}]
    p = authz_server.run_tresor("policy", "simulate", "--data-dir", authz_server.data_dir,
                                "--format", "json", "--principal", reader.arn,
                                "--action", "iam:GetUser", "--resource", target.arn)
    assert p.returncode == 0, f"{p.returncode}: {p.stdout}\n{p.stderr}"
    out = json.loads(p.stdout)
    assert out["decision"] == "allowed" and not out["conditional"], out
