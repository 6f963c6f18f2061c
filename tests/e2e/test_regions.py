"""
test_regions.py -- `tresor serve --regions R1,R2,...`: several regions in
one server, each apart as in AWS.

Covered: two regions served, the same secret name in both independent
(values, ARNs, deletion), each region's own aws/secretsmanager managed key;
a key of one region not found from the other (by id and by ARN: AWS's
NotFoundException message naming the asking region), the same alias name
in both; IAM global (a user made through one region is seen through the
other); a region not served refused as with --region alone (boto3 and the
AWS CLI); TRESOR_REGIONS; --region picks the default region among them (it
goes to DIR/config), and a --region not listed, a bad list, a duplicate are
usage errors with nothing started.
"""

import subprocess

import pytest

from tresor_e2e import ACCOUNT, AWS_CLI, DELETED_KEY_CIPHERTEXT_MSG, raises_aws, run_tresor_cmd

WEST = "us-west-2"
EAST = "us-east-1"


@pytest.fixture
def two(tresor_factory):
    return tresor_factory("regions", args=["--regions", f"{EAST},{WEST}"])


def test_same_secret_name_in_two_regions_is_two_secrets(two):
    east, west = two.client("secretsmanager"), two.client("secretsmanager", region=WEST)
    a = east.create_secret(Name="app/db", SecretString="east-value")
    b = west.create_secret(Name="app/db", SecretString="west-value")
    assert a["ARN"].startswith(f"arn:aws:secretsmanager:{EAST}:{ACCOUNT}:secret:app/db-")
    assert b["ARN"].startswith(f"arn:aws:secretsmanager:{WEST}:{ACCOUNT}:secret:app/db-")
    assert east.get_secret_value(SecretId="app/db")["SecretString"] == "east-value"
    assert west.get_secret_value(SecretId="app/db")["SecretString"] == "west-value"
    assert [s["ARN"] for s in west.list_secrets()["SecretList"]] == [b["ARN"]]
    # The other region's ARN names no secret here.
    with raises_aws("ResourceNotFoundException", "Secrets Manager can't find the specified secret."):
        west.get_secret_value(SecretId=a["ARN"])
    east.delete_secret(SecretId="app/db", ForceDeleteWithoutRecovery=True)
    assert west.get_secret_value(SecretId="app/db")["SecretString"] == "west-value"
    # Each region has its own managed key, made on first use there.
    ke = two.client("kms").describe_key(KeyId="alias/aws/secretsmanager")["KeyMetadata"]
    kw = two.client("kms", region=WEST).describe_key(KeyId="alias/aws/secretsmanager")["KeyMetadata"]
    assert ke["KeyId"] != kw["KeyId"]
    assert ke["Arn"].startswith(f"arn:aws:kms:{EAST}:") and kw["Arn"].startswith(f"arn:aws:kms:{WEST}:")
    assert kw["KeyManager"] == "AWS"


def test_a_key_of_one_region_is_not_found_in_the_other(two):
    east, west = two.client("kms"), two.client("kms", region=WEST)
    key = east.create_key(Description="east")["KeyMetadata"]
    wkey = west.create_key(Description="west")["KeyMetadata"]
    assert wkey["Arn"] == f"arn:aws:kms:{WEST}:{ACCOUNT}:key/{wkey['KeyId']}"
    with raises_aws("NotFoundException", f"Key 'arn:aws:kms:{WEST}:{ACCOUNT}:key/{key['KeyId']}' does not exist"):
        west.describe_key(KeyId=key["KeyId"])
    with raises_aws("NotFoundException"):
        west.encrypt(KeyId=key["Arn"], Plaintext=b"x")
    assert [k["KeyId"] for k in west.list_keys()["Keys"]] == [wkey["KeyId"]]
    assert key["KeyId"] not in [k["KeyId"] for k in west.list_keys()["Keys"]]
    # A ciphertext of one region's key does not decrypt in the other.
    blob = east.encrypt(KeyId=key["KeyId"], Plaintext=b"secret")["CiphertextBlob"]
    with raises_aws("AccessDeniedException", DELETED_KEY_CIPHERTEXT_MSG):
        west.decrypt(CiphertextBlob=blob)
    # One alias name, one key per region.
    east.create_alias(AliasName="alias/app", TargetKeyId=key["KeyId"])
    west.create_alias(AliasName="alias/app", TargetKeyId=wkey["KeyId"])
    assert east.describe_key(KeyId="alias/app")["KeyMetadata"]["Description"] == "east"
    assert west.describe_key(KeyId="alias/app")["KeyMetadata"]["Description"] == "west"


def test_iam_is_global(two):
    two.client("iam").create_user(UserName="alice")
    users = two.client("iam", region=WEST).list_users()["Users"]
    assert [u["UserName"] for u in users] == ["alice"]
    ident = two.client("sts", region=WEST).get_caller_identity()
    assert ident["Account"] == ACCOUNT


def test_a_region_not_served_is_refused(two):
    with raises_aws("InvalidSignatureException",
                    "Credential should be scoped to a valid region, not 'eu-west-1'. "):
        two.client("kms", region="eu-west-1").list_keys()
    with raises_aws("InvalidSignatureException",
                    "Credential should be scoped to a valid region, not 'eu-west-1'. "):
        two.client("secretsmanager", region="eu-west-1").list_secrets()
    # The AWS CLI, with the profile's region overridden.
    env = two.cli_env()
    base = [AWS_CLI, "--endpoint-url", two.endpoint, "--profile", "tresor", "--output", "json"]
    p = subprocess.run(base + ["--region", WEST, "secretsmanager", "create-secret", "--name", "cli",
                               "--secret-string", "v"], env=env, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert f":{WEST}:" in p.stdout.decode()
    p = subprocess.run(base + ["--region", "eu-west-1", "secretsmanager", "list-secrets"],
                       env=env, capture_output=True, timeout=60)
    assert p.returncode == 254
    assert "InvalidSignatureException" in p.stderr.decode()
    assert "Credential should be scoped to a valid region, not 'eu-west-1'." in p.stderr.decode()


def test_region_alone_still_serves_one_region(tresor):
    with raises_aws("InvalidSignatureException",
                    f"Credential should be scoped to a valid region, not '{WEST}'. "):
        tresor.client("kms", region=WEST).list_keys()


def test_tresor_regions_env_and_default_region(tresor_factory):
    # --region is the default region (DIR/config), so it must be listed;
    # the fixture passes --region us-east-1, the variable lists both.
    srv = tresor_factory("regions-env", env_extra={"TRESOR_REGIONS": f"{WEST},{EAST}"})
    assert srv.client("kms", region=WEST).list_keys()["Keys"] == []
    assert srv.client("kms").list_keys()["Keys"] == []
    assert b"regions us-west-2,us-east-1" in srv.stdout_text()
    assert "region = us-east-1" in (srv.data_dir / "config").read_text()


@pytest.mark.parametrize("args, message", [
    (["--region", "eu-west-1", "--regions", "us-east-1,us-west-2"],
     "--region eu-west-1 is not one of --regions us-east-1,us-west-2"),
    (["--regions", "us-east-1,,us-west-2"], "--regions must be distinct region names"),
    (["--regions", "us-east-1,us-east-1"], "--regions must be distinct region names"),
    (["--regions", "us-east-1,Mars"], "--regions must be distinct region names"),
    (["--regions", ""], "--regions must be distinct region names"),
])
def test_bad_regions_are_usage_errors(tmp_path, args, message):
    data = tmp_path / "data"
    p = run_tresor_cmd(["serve", "--listen", "127.0.0.1:1", "--data-dir", str(data), *args], tmp_path,
                       capture_output=True, text=True)
    assert p.returncode == 2, p.stderr
    assert message in p.stderr
    assert p.stdout == ""
    assert not data.exists()
