"""
The walk of docs/ARCHITECTURE.md 2 (who can decrypt a secret), with the AWS CLI only,
step by step, as a user would type it:

  a secret under aws/secretsmanager; a role whose only policy allows
  secretsmanager:GetSecretValue on it, trusted by a user of the account;
  `aws sts assume-role`; `aws sts get-caller-identity` shows the
  assumed-role ARN; get-secret-value succeeds; `update-secret --kms-key-id
  <new customer key>`; get-secret-value fails with "Access to KMS is not
  allowed"; kms:Decrypt by IAM policy, by key policy, by grant: each makes it
  succeed again; without the key policy's IAM delegation the IAM policy does
  not count; and nobody, not even the administrator, uses aws/secretsmanager
  directly.

CLI errors are asserted byte for byte: rc 254 and on stderr
"\\nAn error occurred (<Code>) when calling the <Op> operation: <Message>\\n".
"""

import json
import os
import re
import uuid

from tresor_e2e import (
    ACCOUNT, ASIA_RE, REGION, ROOT_ARN, UUID_RE, Caller, allow, denied_msg, policy_doc,
    trust_policy, unique,
)

GET = "secretsmanager:GetSecretValue"
MANAGED_ALIAS = "alias/aws/secretsmanager"
SECRET_ARN_RE = re.compile(
    rf"^arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:(?P<name>.+)-[A-Za-z0-9]{{6}}$")
ISO_TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$")


def cli_error(code, op, message):
    return f"\nAn error occurred ({code}) when calling the {op} operation: {message}\n"


KMS_HOP_ERROR = cli_error("AccessDeniedException", "GetSecretValue",
                          "Access to KMS is not allowed")


def ok(srv, *args, creds=None):
    rc, out, err = srv.cli(*args, creds=creds)
    assert rc == 0, (args, rc, out, err)
    return out


def fails(srv, *args, creds=None):
    rc, out, err = srv.cli(*args, creds=creds)
    assert rc == 254, (args, rc, out, err)
    assert out is None, out
    return err


def test_the_walk(authz_server):
    srv = authz_server
    name = unique("walk/db-password")
    value = "correct horse battery staple"

    # The administrator (the account's root, profile `tresor`) stores a secret
    # under the AWS managed key.
    out = ok(srv, "secretsmanager", "create-secret", "--name", name, "--secret-string", value,
             "--description", "the walk")
    secret_arn = out["ARN"]
    assert SECRET_ARN_RE.match(secret_arn).group("name") == name
    assert out["Name"] == name
    assert UUID_RE.match(out["VersionId"])
    assert set(out) == {"ARN", "Name", "VersionId"}
    assert "KmsKeyId" not in ok(srv, "secretsmanager", "describe-secret", "--secret-id", name)

    # A user of the account, with access keys and no policy at all.
    user_name = unique("walker")
    out = ok(srv, "iam", "create-user", "--user-name", user_name)
    user_arn = out["User"]["Arn"]
    assert user_arn == f"arn:aws:iam::{ACCOUNT}:user/{user_name}"
    key = ok(srv, "iam", "create-access-key", "--user-name", user_name)["AccessKey"]
    user = Caller(srv, key["AccessKeyId"], key["SecretAccessKey"], arn=user_arn,
                  name=user_name)

    # A role the user may assume, whose only policy reads that one secret.
    role_name = unique("secret-reader")
    out = ok(srv, "iam", "create-role", "--role-name", role_name,
             "--assume-role-policy-document", json.dumps(trust_policy(user_arn)))
    role_arn, role_id = out["Role"]["Arn"], out["Role"]["RoleId"]
    assert role_arn == f"arn:aws:iam::{ACCOUNT}:role/{role_name}"
    ok(srv, "iam", "put-role-policy", "--role-name", role_name, "--policy-name",
       "read-one-secret", "--policy-document", policy_doc(allow(GET, secret_arn)))

    # The user cannot read the secret itself.
    err = fails(srv, "secretsmanager", "get-secret-value", "--secret-id", name, creds=user)
    assert err == cli_error("AccessDeniedException", "GetSecretValue",
                            denied_msg(user_arn, GET, name))

    # aws sts assume-role
    out = ok(srv, "sts", "assume-role", "--role-arn", role_arn, "--role-session-name", "walk",
             creds=user)
    session_arn = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/walk"
    assert out["AssumedRoleUser"] == {"AssumedRoleId": f"{role_id}:walk", "Arn": session_arn}
    cr = out["Credentials"]
    assert ASIA_RE.match(cr["AccessKeyId"]), cr
    session = Caller(srv, cr["AccessKeyId"], cr["SecretAccessKey"], cr["SessionToken"],
                     arn=session_arn, user_id=f"{role_id}:walk", name="walk")

    # aws sts get-caller-identity shows the assumed-role ARN.
    out = ok(srv, "sts", "get-caller-identity", creds=session)
    assert out == {"UserId": f"{role_id}:walk", "Account": ACCOUNT, "Arn": session_arn}

    # get-secret-value succeeds while the secret uses aws/secretsmanager.
    def read_ok():
        out = ok(srv, "secretsmanager", "get-secret-value", "--secret-id", name, creds=session)
        assert out["SecretString"] == value
        assert out["ARN"] == secret_arn
        assert out["Name"] == name
        assert out["VersionStages"] == ["AWSCURRENT"]
        assert ISO_TS_RE.match(out["CreatedDate"]), out["CreatedDate"]
        assert set(out) == {"ARN", "Name", "VersionId", "SecretString", "VersionStages",
                            "CreatedDate"}

    def read_fails():
        assert fails(srv, "secretsmanager", "get-secret-value", "--secret-id", name,
                     creds=session) == KMS_HOP_ERROR

    read_ok()
    assert ok(srv, "secretsmanager", "get-secret-value", "--secret-id", name, "--query",
              "SecretString", creds=session) == value
    # Only that action.
    err = fails(srv, "secretsmanager", "describe-secret", "--secret-id", name, creds=session)
    assert err == cli_error("AccessDeniedException", "DescribeSecret",
                            denied_msg(session_arn, "secretsmanager:DescribeSecret", name))

    # The administrator moves the secret to a new customer managed key with
    # the default key policy.
    md = ok(srv, "kms", "create-key", "--description", "walk key")["KeyMetadata"]
    key_id, key_arn = md["KeyId"], md["Arn"]
    assert md["KeyManager"] == "CUSTOMER"
    out = ok(srv, "secretsmanager", "update-secret", "--secret-id", name, "--kms-key-id", key_id)
    assert out == {"ARN": secret_arn, "Name": name}

    # Now the role session lacks kms:Decrypt on that key.
    read_fails()

    # (a) kms:Decrypt by an IAM policy on the role
    ok(srv, "iam", "put-role-policy", "--role-name", role_name, "--policy-name", "kms-decrypt",
       "--policy-document", policy_doc(allow("kms:Decrypt", key_arn)))
    read_ok()
    ok(srv, "iam", "delete-role-policy", "--role-name", role_name, "--policy-name",
       "kms-decrypt")
    read_fails()

    # (b) kms:Decrypt by a statement of the key policy naming the role
    default_text = ok(srv, "kms", "get-key-policy", "--key-id", key_id, "--policy-name",
                      "default", "--query", "Policy")
    default_policy = json.loads(default_text)
    assert [s["Principal"] for s in default_policy["Statement"]] == [{"AWS": ROOT_ARN}]
    with_role = dict(default_policy)
    with_role["Statement"] = default_policy["Statement"] + [{
        "Sid": "Allow the secret reader", "Effect": "Allow", "Principal": {"AWS": role_arn},
        "Action": "kms:Decrypt", "Resource": "*"}]
    ok(srv, "kms", "put-key-policy", "--key-id", key_id, "--policy-name", "default",
       "--policy", json.dumps(with_role))
    read_ok()
    ok(srv, "kms", "put-key-policy", "--key-id", key_id, "--policy-name", "default",
       "--policy", json.dumps(default_policy))
    read_fails()

    # (c) kms:Decrypt by a grant to the role
    out = ok(srv, "kms", "create-grant", "--key-id", key_id, "--grantee-principal", role_arn,
             "--operations", "Decrypt")
    grant_id = out["GrantId"]
    assert re.match(r"^[0-9a-f]{64}$", grant_id), grant_id
    read_ok()
    ok(srv, "kms", "revoke-grant", "--key-id", key_id, "--grant-id", grant_id)
    read_fails()

    # An IAM policy counts only while the key policy delegates to IAM.
    ok(srv, "iam", "put-role-policy", "--role-name", role_name, "--policy-name", "kms-decrypt",
       "--policy-document", policy_doc(allow("kms:Decrypt", key_arn)))
    read_ok()
    no_delegation = {"Version": "2012-10-17", "Id": "no-iam-delegation", "Statement": [{
        "Sid": "Key administrators", "Effect": "Allow", "Principal": {"AWS": ROOT_ARN},
        "Action": ["kms:Describe*", "kms:Get*", "kms:List*", "kms:Put*", "kms:Create*",
                   "kms:Enable*", "kms:Disable*", "kms:Revoke*", "kms:Update*",
                   "kms:ScheduleKeyDeletion", "kms:CancelKeyDeletion"],
        "Resource": "*"}]}
    ok(srv, "kms", "put-key-policy", "--key-id", key_id, "--policy-name", "default",
       "--policy", json.dumps(no_delegation))
    read_fails()


def test_nobody_uses_the_managed_key_directly(authz_server):
    srv = authz_server
    ok(srv, "secretsmanager", "create-secret", "--name", unique("walk/managed"),
       "--secret-string", "under aws/secretsmanager")
    md = ok(srv, "kms", "describe-key", "--key-id", MANAGED_ALIAS)["KeyMetadata"]
    assert md["KeyManager"] == "AWS"
    arn = md["Arn"]
    plaintext = srv.home / "walk-plaintext.bin"
    plaintext.write_bytes(b"try to encrypt directly")
    err = fails(srv, "kms", "encrypt", "--key-id", MANAGED_ALIAS, "--plaintext",
                f"fileb://{plaintext}")
    assert err == cli_error("AccessDeniedException", "Encrypt",
                            denied_msg(ROOT_ARN, "kms:Encrypt", arn, "resource"))
    err = fails(srv, "kms", "generate-data-key", "--key-id", MANAGED_ALIAS, "--key-spec",
                "AES_256")
    assert err == cli_error("AccessDeniedException", "GenerateDataKey",
                            denied_msg(ROOT_ARN, "kms:GenerateDataKey", arn, "resource"))
    # No ciphertext under the managed key ever leaves the service, and any
    # blob that names it is refused before it is even opened.
    blob = srv.home / "walk-ciphertext.bin"
    blob.write_bytes(b"\x01" + uuid.UUID(md["KeyId"]).bytes + (1).to_bytes(4, "big")
                     + os.urandom(16 + 12 + 32 + 16))
    err = fails(srv, "kms", "decrypt", "--ciphertext-blob", f"fileb://{blob}")
    assert err == cli_error("AccessDeniedException", "Decrypt",
                            denied_msg(ROOT_ARN, "kms:Decrypt", arn, "resource"))
