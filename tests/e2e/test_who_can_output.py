"""
What `tresor who-can-decrypt` prints for a first user (docs/WHO_CAN_DECRYPT.md).

  - --with-key takes an alias name or alias ARN, resolved as KMS resolves
    it in the secret's account and region; an unknown alias is named in
    the error.
"""

import json

import pytest

from tresor_e2e import ACCOUNT, allow, make_user, unique

GSV = "secretsmanager:GetSecretValue"


@pytest.fixture(scope="module")
def srv(authz_server):
    return authz_server


def who_can(srv, secret, *extra, fmt="json", rc=0):
    p = srv.run_tresor("who-can-decrypt", secret, "--data-dir", srv.data_dir,
                       "--format", fmt, *extra)
    assert p.returncode == rc, f"who-can-decrypt exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    return json.loads(p.stdout) if fmt == "json" and rc == 0 else p


# ---- --with-key with an alias ------------------------------------------------------

def test_with_key_alias(srv, root):
    kms, sm = root.kms, root.client("secretsmanager")
    alias = "alias/" + unique("first-app")
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    s = sm.create_secret(Name=unique("first/wk"), SecretString="v")["ARN"]
    make_user(root, unique("first-wk"), policy=[allow(GSV), allow("kms:Decrypt", key["Arn"])])

    want = who_can(srv, s, "--with-key", key["Arn"])
    assert want["secret"]["keyArn"] == key["Arn"]
    alias_arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:{alias}"
    for spelling in (alias, alias_arn, key["KeyId"]):
        got = who_can(srv, s, "--with-key", spelling)
        assert got == want, spelling
    diff = who_can(srv, s, "--with-key", alias, "--diff")
    assert diff["withKey"] == key["Arn"]

    for bad, msg in (("alias/no-such-alias",
                      f"Alias arn:aws:kms:us-east-1:{ACCOUNT}:alias/no-such-alias is not found."),
                     (f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/nope",
                      f"Alias arn:aws:kms:us-east-1:{ACCOUNT}:alias/nope is not found."),
                     ("0123", "Invalid keyId '0123'")):
        for extra in ((), ("--diff",)):
            p = who_can(srv, s, "--with-key", bad, *extra, rc=2)
            assert p.stdout == ""
            assert p.stderr.strip() == f"tresor: --with-key {bad}: {msg}", p.stderr
