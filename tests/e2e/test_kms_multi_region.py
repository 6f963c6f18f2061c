"""
test_kms_multi_region.py -- multi-Region KMS keys (CreateKey MultiRegion).

Covered: CreateKey with MultiRegion=true makes a key whose id is "mrk-" and
32 lowercase hex digits, with MultiRegion true and a MultiRegionConfiguration
(MultiRegionKeyType PRIMARY, PrimaryKey naming the key and its region,
ReplicaKeys empty) in CreateKey's and DescribeKey's KeyMetadata; a
single-Region key keeps MultiRegion false and has no configuration.  Every
key spec and both origins tresor makes come multi-Region too: symmetric
(Encrypt/Decrypt, GenerateDataKey, ReEncrypt to and from a single-Region
key), ECC and RSA signing (a signature verifies offline with the public key
from GetPublicKey, with `cryptography`), HMAC, EXTERNAL (PendingImport,
then imported material that decrypts).  A multi-Region key is found by id,
ARN and alias, listed by ListKeys in its region only.  The condition keys
kms:MultiRegion (true/false, on CreateKey and on every key operation) and
kms:MultiRegionKeyType (PRIMARY; absent for a single-Region key) decide
with AWS's AccessDenied wording.  A secret under a multi-Region key, opened
offline by `tresor check`.  The AWS CLI's `create-key --multi-region`.
"""

import json
import os
import re
import subprocess

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from tresor_e2e import (
    ACCOUNT, AWS_CLI, REGION, allow, denied_msg, eventually, make_user, raises_aws,
)

MRK_ID = re.compile(r"^mrk-[0-9a-f]{32}$")
WEST = "us-west-2"


def mrk(kms, **kw):
    return kms.create_key(MultiRegion=True, **kw)["KeyMetadata"]


def assert_primary(md, region=REGION):
    assert MRK_ID.match(md["KeyId"]), md["KeyId"]
    assert md["Arn"] == f"arn:aws:kms:{region}:{ACCOUNT}:key/{md['KeyId']}"
    assert md["MultiRegion"] is True
    assert md["MultiRegionConfiguration"] == {
        "MultiRegionKeyType": "PRIMARY",
        "PrimaryKey": {"Arn": md["Arn"], "Region": region},
        "ReplicaKeys": [],
    }


def test_create_key_multi_region_symmetric(kms):
    md = mrk(kms, Description="across regions")
    assert_primary(md)
    assert md["KeySpec"] == "SYMMETRIC_DEFAULT" and md["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert md["Origin"] == "AWS_KMS" and md["KeyState"] == "Enabled"
    assert md["Description"] == "across regions"
    # DescribeKey says the same, by id, ARN and alias.
    alias = f"alias/mrk-{os.urandom(4).hex()}"
    kms.create_alias(AliasName=alias, TargetKeyId=md["KeyId"])
    for kid in (md["KeyId"], md["Arn"], alias):
        got = kms.describe_key(KeyId=kid)["KeyMetadata"]
        assert_primary(got)
        assert got["KeyId"] == md["KeyId"]
    keys = kms.list_keys(Limit=1000)["Keys"]
    assert {"KeyId": md["KeyId"], "KeyArn": md["Arn"]} in keys


def test_single_region_key_is_not_multi_region(kms):
    for kw in ({}, {"MultiRegion": False}):
        md = kms.create_key(**kw)["KeyMetadata"]
        assert md["MultiRegion"] is False
        assert "MultiRegionConfiguration" not in md
        assert not md["KeyId"].startswith("mrk-")
        got = kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
        assert got["MultiRegion"] is False and "MultiRegionConfiguration" not in got


def test_multi_region_key_encrypts_and_decrypts(tresor, kms):
    md = mrk(kms)
    kid = md["KeyId"]
    ctx = {"app": "billing"}
    blob = kms.encrypt(KeyId=kid, Plaintext=b"multi-region secret",
                       EncryptionContext=ctx)["CiphertextBlob"]
    # The blob names the key: Decrypt needs no KeyId, and answers the key ARN.
    out = kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)
    assert out["Plaintext"] == b"multi-region secret" and out["KeyId"] == md["Arn"]
    out = kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx, KeyId=md["Arn"])
    assert out["Plaintext"] == b"multi-region secret"
    with raises_aws("InvalidCiphertextException"):
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"app": "other"})
    # Another key named: AWS's IncorrectKeyException.
    other = kms.create_key()["KeyMetadata"]
    with raises_aws("IncorrectKeyException", "The key ID in the request does not identify a CMK "
                    "that can perform this operation."):
        kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx, KeyId=other["KeyId"])
    # ReEncrypt from the multi-Region key to a single-Region one and back.
    re1 = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=ctx,
                         DestinationKeyId=other["KeyId"])
    assert re1["SourceKeyId"] == md["Arn"] and re1["KeyId"] == other["Arn"]
    re2 = kms.re_encrypt(CiphertextBlob=re1["CiphertextBlob"], DestinationKeyId=kid,
                         DestinationEncryptionContext=ctx)
    assert re2["KeyId"] == md["Arn"]
    assert kms.decrypt(CiphertextBlob=re2["CiphertextBlob"],
                       EncryptionContext=ctx)["Plaintext"] == b"multi-region secret"
    dk = kms.generate_data_key(KeyId=kid, KeySpec="AES_256")
    assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] == dk["Plaintext"]
    # Rotation works on a multi-Region primary, and old blobs still open.
    # RotateKeyOnDemand and CurrentKeyMaterialId are newer than boto3 1.26's model.
    before = tresor.call("DescribeKey", KeyId=kid)["KeyMetadata"]["CurrentKeyMaterialId"]
    tresor.call("RotateKeyOnDemand", KeyId=kid)
    assert tresor.call("DescribeKey", KeyId=kid)["KeyMetadata"]["CurrentKeyMaterialId"] != before
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)["Plaintext"] == b"multi-region secret"


def test_multi_region_asymmetric_signature_verifies_offline(kms):
    md = mrk(kms, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    assert_primary(md)
    assert md["SigningAlgorithms"] == ["ECDSA_SHA_256"]
    pub = kms.get_public_key(KeyId=md["KeyId"])
    assert pub["KeyId"] == md["Arn"]
    key = serialization.load_der_public_key(pub["PublicKey"])
    sig = kms.sign(KeyId=md["KeyId"], Message=b"release 1.0",
                   SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    key.verify(sig, b"release 1.0", ec.ECDSA(hashes.SHA256()))   # raises when it does not verify

    rsa = mrk(kms, KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")
    assert_primary(rsa)
    rpub = serialization.load_der_public_key(kms.get_public_key(KeyId=rsa["KeyId"])["PublicKey"])
    sig = kms.sign(KeyId=rsa["KeyId"], Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    rpub.verify(sig, b"m", padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                       salt_length=hashes.SHA256.digest_size), hashes.SHA256())


def test_multi_region_hmac_key(kms):
    md = mrk(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    assert_primary(md)
    mac = kms.generate_mac(KeyId=md["KeyId"], Message=b"token", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert kms.verify_mac(KeyId=md["KeyId"], Message=b"token", Mac=mac,
                          MacAlgorithm="HMAC_SHA_256")["MacValid"] is True


def test_multi_region_external_key(kms):
    md = mrk(kms, Origin="EXTERNAL")
    assert_primary(md)
    assert md["Origin"] == "EXTERNAL" and md["KeyState"] == "PendingImport"
    p = kms.get_parameters_for_import(KeyId=md["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                      WrappingKeySpec="RSA_2048")
    wrap = serialization.load_der_public_key(p["PublicKey"])
    h = hashes.SHA256()
    material = os.urandom(32)
    kms.import_key_material(KeyId=md["KeyId"], ImportToken=p["ImportToken"],
                            EncryptedKeyMaterial=wrap.encrypt(material, padding.OAEP(
                                mgf=padding.MGF1(algorithm=h), algorithm=h, label=None)),
                            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    got = kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
    assert got["KeyState"] == "Enabled"
    assert_primary(got)
    blob = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"imported")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"imported"


def test_multi_region_with_custom_key_store_is_refused(kms):
    # Keys in custom key stores are single-Region (API reference, CreateKey).
    with raises_aws("UnsupportedOperationException",
                    "A multi-Region key cannot be created in a custom key store."):
        kms.create_key(MultiRegion=True, CustomKeyStoreId="cks-1234567890abcdef0")
    with raises_aws("UnsupportedOperationException",
                    "A multi-Region key cannot be created in a custom key store."):
        kms.create_key(MultiRegion=True, Origin="AWS_CLOUDHSM",
                       CustomKeyStoreId="cks-1234567890abcdef0")


def test_multi_region_key_stays_in_its_region(tresor_factory):
    srv = tresor_factory("mrk-regions", args=["--regions", f"{REGION},{WEST}"])
    east, west = srv.client("kms"), srv.client("kms", region=WEST)
    md = mrk(east)
    wmd = mrk(west)
    assert_primary(wmd, WEST)
    assert [k["KeyId"] for k in west.list_keys()["Keys"]] == [wmd["KeyId"]]
    with raises_aws("NotFoundException",
                    f"Key 'arn:aws:kms:{WEST}:{ACCOUNT}:key/{md['KeyId']}' does not exist"):
        west.describe_key(KeyId=md["KeyId"])


def test_secret_under_a_multi_region_key(tresor_factory):
    """Secrets Manager's envelope under a multi-Region key: the value reads
    back, the key is named in DescribeSecret, and `tresor check` opens the
    stored blobs offline (their key id is an mrk- one)."""
    srv = tresor_factory("mrk-secret")
    kms, sm = srv.client("kms"), srv.client("secretsmanager")
    md = mrk(kms)
    sm.create_secret(Name="mrk/db", SecretString="s3cr3t-mrk", KmsKeyId=md["KeyId"])
    sm.put_secret_value(SecretId="mrk/db", SecretString="s3cr3t-mrk-2")
    assert sm.get_secret_value(SecretId="mrk/db")["SecretString"] == "s3cr3t-mrk-2"
    assert sm.get_secret_value(SecretId="mrk/db",
                               VersionStage="AWSPREVIOUS")["SecretString"] == "s3cr3t-mrk"
    assert sm.describe_secret(SecretId="mrk/db")["KmsKeyId"] == md["KeyId"]
    srv.stop_clean()
    p = srv.run_tresor("check", "--data-dir", srv.data_dir)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "values decrypted 2" in p.stdout
    assert "s3cr3t" not in p.stdout + p.stderr


# ---- condition keys --------------------------------------------------------

def test_kms_multi_region_condition_on_create_key(root):
    """An IAM policy that allows CreateKey only for single-Region keys."""
    u = make_user(root, policy=[allow("kms:CreateKey",
                                      condition={"Bool": {"kms:MultiRegion": "false"}})])
    assert u.kms.create_key()["KeyMetadata"]["MultiRegion"] is False
    with raises_aws("AccessDeniedException", denied_msg(u.arn, "kms:CreateKey", "*")):
        u.kms.create_key(MultiRegion=True)
    # And the reverse: multi-Region primaries only.
    v = make_user(root, policy=[allow("kms:CreateKey", condition={
        "StringEquals": {"kms:MultiRegionKeyType": "PRIMARY"}})])
    assert_primary(v.kms.create_key(MultiRegion=True)["KeyMetadata"])
    with raises_aws("AccessDeniedException", denied_msg(v.arn, "kms:CreateKey", "*")):
        v.kms.create_key()


def test_kms_multi_region_condition_on_key_operations(root):
    single = root.kms.create_key()["KeyMetadata"]
    multi = mrk(root.kms)
    u = make_user(root, policy=[
        allow(["kms:Encrypt", "kms:DescribeKey"],
              condition={"StringEquals": {"kms:MultiRegionKeyType": "PRIMARY"}}),
        allow("kms:GenerateDataKey", condition={"Bool": {"kms:MultiRegion": "true"}}),
    ])
    u.kms.encrypt(KeyId=multi["KeyId"], Plaintext=b"x")
    assert_primary(u.kms.describe_key(KeyId=multi["KeyId"])["KeyMetadata"])
    u.kms.generate_data_key(KeyId=multi["KeyId"], KeySpec="AES_256")
    # A single-Region key has no kms:MultiRegionKeyType, and kms:MultiRegion false.
    with raises_aws("AccessDeniedException", denied_msg(u.arn, "kms:Encrypt", single["Arn"])):
        u.kms.encrypt(KeyId=single["KeyId"], Plaintext=b"x")
    with raises_aws("AccessDeniedException",
                    denied_msg(u.arn, "kms:GenerateDataKey", single["Arn"])):
        u.kms.generate_data_key(KeyId=single["KeyId"], KeySpec="AES_256")


# ---- the AWS CLI -----------------------------------------------------------

def test_aws_cli_create_key_multi_region(tresor):
    base = [AWS_CLI, "--endpoint-url", tresor.endpoint, "--profile", "tresor", "--output", "json",
            "--region", REGION]
    p = subprocess.run(base + ["kms", "create-key", "--multi-region", "--description", "cli mrk"],
                       env=tresor.cli_env(), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    md = json.loads(p.stdout)["KeyMetadata"]
    assert_primary(md)
    p = subprocess.run(base + ["kms", "describe-key", "--key-id", md["KeyId"], "--query",
                               "KeyMetadata.MultiRegionConfiguration.MultiRegionKeyType"],
                       env=tresor.cli_env(), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout) == "PRIMARY"
    p = subprocess.run(base + ["kms", "create-key", "--no-multi-region"],
                       env=tresor.cli_env(), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["KeyMetadata"]["MultiRegion"] is False


# ---- replicas (ReplicateKey) ------------------------------------------------

import pytest  # noqa: E402


@pytest.fixture
def two(tresor_factory):
    """A server serving us-east-1 and us-west-2: clients in each region."""
    srv = tresor_factory("mrk-replica", args=["--regions", f"{REGION},{WEST}"])
    return srv, srv.client("kms"), srv.client("kms", region=WEST)


def west_client(caller):
    return caller.server.client("kms", caller.access_key, caller.secret_key,
                                caller.session_token, region=WEST)


def arn_in(region, kid):
    return f"arn:aws:kms:{region}:{ACCOUNT}:key/{kid}"


def test_replicate_key_makes_a_replica(two):
    srv, east, west = two
    md = mrk(east, Description="primary")
    kid = md["KeyId"]
    out = east.replicate_key(KeyId=kid, ReplicaRegion=WEST, Description="the copy",
                             Tags=[{"TagKey": "team", "TagValue": "blue"}])
    rmd = out["ReplicaKeyMetadata"]
    assert rmd["KeyId"] == kid
    assert rmd["Arn"] == arn_in(WEST, kid)
    assert rmd["Description"] == "the copy"
    assert rmd["KeyState"] == "Enabled" and rmd["Enabled"] is True
    assert rmd["KeySpec"] == md["KeySpec"] and rmd["KeyUsage"] == md["KeyUsage"]
    assert rmd["Origin"] == "AWS_KMS" and rmd["MultiRegion"] is True
    conf = {"MultiRegionKeyType": "REPLICA",
            "PrimaryKey": {"Arn": md["Arn"], "Region": REGION},
            "ReplicaKeys": [{"Arn": arn_in(WEST, kid), "Region": WEST}]}
    assert rmd["MultiRegionConfiguration"] == conf
    assert out["ReplicaTags"] == [{"TagKey": "team", "TagValue": "blue"}]
    # The default key policy, as CreateKey's.
    pol = json.loads(out["ReplicaPolicy"])
    assert pol == json.loads(east.get_key_policy(KeyId=kid, PolicyName="default")["Policy"])
    assert json.loads(west.get_key_policy(KeyId=kid, PolicyName="default")["Policy"]) == pol
    # DescribeKey in each region; the primary lists its replica.
    assert west.describe_key(KeyId=kid)["KeyMetadata"]["MultiRegionConfiguration"] == conf
    pconf = east.describe_key(KeyId=kid)["KeyMetadata"]["MultiRegionConfiguration"]
    assert pconf == dict(conf, MultiRegionKeyType="PRIMARY")
    assert east.describe_key(KeyId=kid)["KeyMetadata"]["Description"] == "primary"
    # Its own tags; ListKeys in its region.
    assert west.list_resource_tags(KeyId=kid)["Tags"] == [{"TagKey": "team", "TagValue": "blue"}]
    assert east.list_resource_tags(KeyId=kid)["Tags"] == []
    assert {"KeyId": kid, "KeyArn": arn_in(WEST, kid)} in west.list_keys()["Keys"]
    # Its own state: disabling the replica leaves the primary enabled.
    west.disable_key(KeyId=kid)
    assert east.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Enabled"
    with raises_aws("DisabledException", f"{arn_in(WEST, kid)} is disabled."):
        west.encrypt(KeyId=kid, Plaintext=b"x")
    west.enable_key(KeyId=kid)
    # A restart keeps it.
    srv.stop_clean()
    srv.start(args=["--regions", f"{REGION},{WEST}"])
    west = srv.client("kms", region=WEST)
    assert west.describe_key(KeyId=kid)["KeyMetadata"]["MultiRegionConfiguration"] == conf


def test_ciphertexts_cross_between_related_keys(two):
    _, east, west = two
    kid = mrk(east)["KeyId"]
    east.replicate_key(KeyId=kid, ReplicaRegion=WEST)
    ctx = {"purpose": "mrk"}
    blob = east.encrypt(KeyId=kid, Plaintext=b"from the east", EncryptionContext=ctx)["CiphertextBlob"]
    got = west.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)
    assert got["Plaintext"] == b"from the east" and got["KeyId"] == arn_in(WEST, kid)
    back = west.encrypt(KeyId=kid, Plaintext=b"from the west")["CiphertextBlob"]
    assert east.decrypt(CiphertextBlob=back)["Plaintext"] == b"from the west"
    # ReEncrypt in the replica region from a primary's blob to the replica.
    re_ = west.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=ctx, DestinationKeyId=kid)
    assert re_["SourceKeyId"] == arn_in(WEST, kid) and re_["KeyId"] == arn_in(WEST, kid)
    assert east.decrypt(CiphertextBlob=re_["CiphertextBlob"])["Plaintext"] == b"from the east"
    # A data key from the replica opens at the primary.
    dk = west.generate_data_key(KeyId=kid, KeySpec="AES_256")
    assert east.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] == dk["Plaintext"]


def test_asymmetric_replica_signature_verifies_with_primary_public_key(two):
    _, east, west = two
    md = mrk(east, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    kid = md["KeyId"]
    rmd = east.replicate_key(KeyId=kid, ReplicaRegion=WEST)["ReplicaKeyMetadata"]
    assert rmd["KeySpec"] == "ECC_NIST_P256" and rmd["SigningAlgorithms"] == md["SigningAlgorithms"]
    sig = west.sign(KeyId=kid, Message=b"signed in the west",
                    SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    pub = serialization.load_der_public_key(east.get_public_key(KeyId=kid)["PublicKey"])
    pub.verify(sig, b"signed in the west", ec.ECDSA(hashes.SHA256()))
    assert west.get_public_key(KeyId=kid)["PublicKey"] == east.get_public_key(KeyId=kid)["PublicKey"]
    assert east.verify(KeyId=kid, Message=b"signed in the west", Signature=sig,
                       SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"] is True


def test_replicate_key_errors(two):
    _, east, west = two
    single = east.create_key()["KeyMetadata"]
    with raises_aws("UnsupportedOperationException",
                    f"{single['Arn']} is not a multi-Region primary key."):
        east.replicate_key(KeyId=single["KeyId"], ReplicaRegion=WEST)
    md = mrk(east)
    kid = md["KeyId"]
    with raises_aws("UnsupportedOperationException",
                    f"{REGION} is already the Region of the primary key {md['Arn']}."):
        east.replicate_key(KeyId=kid, ReplicaRegion=REGION)
    with raises_aws("UnsupportedOperationException",
                    "The Region eu-west-1 is not served here: a replica can only be made in a "
                    "Region this server serves."):
        east.replicate_key(KeyId=kid, ReplicaRegion="eu-west-1")
    with raises_aws("ValidationException",
                    "1 validation error detected: Value 'Mars' at 'replicaRegion' failed to "
                    "satisfy constraint: Member must satisfy regular expression pattern: "
                    "^([a-z]+-){2,3}\\d+$"):
        east.replicate_key(KeyId=kid, ReplicaRegion="Mars")
    east.replicate_key(KeyId=kid, ReplicaRegion=WEST)
    with raises_aws("AlreadyExistsException",
                    f"A replica of {kid} already exists in {WEST}: {arn_in(WEST, kid)}"):
        east.replicate_key(KeyId=kid, ReplicaRegion=WEST)
    # A replica is not a primary.
    with raises_aws("UnsupportedOperationException",
                    f"{arn_in(WEST, kid)} is not a multi-Region primary key."):
        west.replicate_key(KeyId=kid, ReplicaRegion=REGION)
    # Not found; another region's ARN.
    with raises_aws("NotFoundException",
                    f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/mrk-{'0' * 32}' does not exist"):
        east.replicate_key(KeyId=f"mrk-{'0' * 32}", ReplicaRegion=WEST)
    # A disabled or pending primary.
    other = mrk(east)
    east.disable_key(KeyId=other["KeyId"])
    with raises_aws("DisabledException", f"{other['Arn']} is disabled."):
        east.replicate_key(KeyId=other["KeyId"], ReplicaRegion=WEST)
    east.schedule_key_deletion(KeyId=other["KeyId"], PendingWindowInDays=7)
    with raises_aws("KMSInvalidStateException", f"{other['Arn']} is pending deletion."):
        east.replicate_key(KeyId=other["KeyId"], ReplicaRegion=WEST)
    # Nothing was made by the refusals.
    assert [k["KeyId"] for k in west.list_keys()["Keys"]] == [kid]


def test_replica_policy_is_its_own(two):
    """A principal the primary's policy allows and the replica's does not
    is refused at the replica with AWS's AccessDenied text."""
    srv, east, west = two
    root = srv.root_user
    u = make_user(root, policy=[allow(["kms:Encrypt", "kms:Decrypt"])])
    kid = mrk(east)["KeyId"]
    own = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "no-user", "Effect": "Deny", "Principal": {"AWS": u.arn},
         "Action": "kms:*", "Resource": "*"}]})
    out = east.replicate_key(KeyId=kid, ReplicaRegion=WEST, Policy=own)
    assert json.loads(out["ReplicaPolicy"]) == json.loads(own)
    blob = u.kms.encrypt(KeyId=kid, Plaintext=b"x")["CiphertextBlob"]
    with raises_aws("AccessDeniedException",
                    denied_msg(u.arn, "kms:Decrypt", arn_in(WEST, kid), "explicit-resource")):
        west_client(u).decrypt(CiphertextBlob=blob)
    assert u.kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


def test_replicate_key_authorization(two):
    """kms:ReplicateKey on the primary (with kms:ReplicaRegion), kms:CreateKey
    in the replica region, kms:TagResource there for Tags."""
    srv, east, west = two
    root = srv.root_user
    kid = mrk(east)["KeyId"]
    parn = arn_in(REGION, kid)
    u = make_user(root, policy=[allow("kms:CreateKey")])
    with raises_aws("AccessDeniedException", denied_msg(u.arn, "kms:ReplicateKey", parn)):
        u.kms.replicate_key(KeyId=kid, ReplicaRegion=WEST)
    v = make_user(root, policy=[allow("kms:ReplicateKey",
                                      condition={"StringEquals": {"kms:ReplicaRegion": "eu-west-1"}}),
                                allow("kms:CreateKey")])
    with raises_aws("AccessDeniedException", denied_msg(v.arn, "kms:ReplicateKey", parn)):
        v.kms.replicate_key(KeyId=kid, ReplicaRegion=WEST)
    w = make_user(root, policy=[allow("kms:ReplicateKey",
                                      condition={"StringEquals": {"kms:ReplicaRegion": WEST}})])
    with raises_aws("AccessDeniedException", denied_msg(w.arn, "kms:CreateKey", "*")):
        w.kms.replicate_key(KeyId=kid, ReplicaRegion=WEST)
    x = make_user(root, policy=[allow("kms:ReplicateKey"), allow("kms:CreateKey")])
    with raises_aws("AccessDeniedException", denied_msg(x.arn, "kms:TagResource", "*")):
        x.kms.replicate_key(KeyId=kid, ReplicaRegion=WEST, Tags=[{"TagKey": "a", "TagValue": "b"}])
    assert west.list_keys()["Keys"] == []
    rmd = x.kms.replicate_key(KeyId=kid, ReplicaRegion=WEST)["ReplicaKeyMetadata"]
    assert rmd["Arn"] == arn_in(WEST, kid)


def test_replica_condition_keys(two):
    """kms:MultiRegionKeyType is REPLICA at a replica."""
    srv, east, west = two
    kid = mrk(east)["KeyId"]
    east.replicate_key(KeyId=kid, ReplicaRegion=WEST)
    u = make_user(srv.root_user, policy=[allow("kms:Encrypt", condition={
        "StringEquals": {"kms:MultiRegionKeyType": "REPLICA"}})])
    west_client(u).encrypt(KeyId=kid, Plaintext=b"x")
    with raises_aws("AccessDeniedException", denied_msg(u.arn, "kms:Encrypt", arn_in(REGION, kid))):
        u.kms.encrypt(KeyId=kid, Plaintext=b"x")


def test_rotation_is_shared_and_managed_at_the_primary(two):
    _, east, west = two
    kid = mrk(east)["KeyId"]
    old = east.encrypt(KeyId=kid, Plaintext=b"before")["CiphertextBlob"]
    east.replicate_key(KeyId=kid, ReplicaRegion=WEST)
    east.enable_key_rotation(KeyId=kid, RotationPeriodInDays=100)
    st = west.get_key_rotation_status(KeyId=kid)
    assert st["KeyRotationEnabled"] is True and st["RotationPeriodInDays"] == 100
    assert st["NextRotationDate"] == east.get_key_rotation_status(KeyId=kid)["NextRotationDate"]
    for op in (lambda: west.enable_key_rotation(KeyId=kid),
               lambda: west.disable_key_rotation(KeyId=kid),
               lambda: west.rotate_key_on_demand(KeyId=kid)):
        with raises_aws("UnsupportedOperationException",
                        f"{arn_in(WEST, kid)} is not a multi-Region primary key."):
            op()
    east.rotate_key_on_demand(KeyId=kid)
    # The new material is the replica's too: both list it current, a blob
    # from either side opens on the other, old blobs still open.
    ids = [r["KeyMaterialId"] for r in east.list_key_rotations(KeyId=kid)["Rotations"]]
    assert [r["KeyMaterialId"] for r in west.list_key_rotations(KeyId=kid)["Rotations"]] == ids
    cur = east.describe_key(KeyId=kid)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert west.describe_key(KeyId=kid)["KeyMetadata"]["CurrentKeyMaterialId"] == cur
    new = west.encrypt(KeyId=kid, Plaintext=b"after")["CiphertextBlob"]
    assert east.decrypt(CiphertextBlob=new)["Plaintext"] == b"after"
    assert west.decrypt(CiphertextBlob=old)["Plaintext"] == b"before"
    east.disable_key_rotation(KeyId=kid)
    assert west.get_key_rotation_status(KeyId=kid)["KeyRotationEnabled"] is False


def test_aws_cli_replicate_key(two):
    srv, east, west = two
    kid = mrk(east)["KeyId"]
    base = [AWS_CLI, "--endpoint-url", srv.endpoint, "--profile", "tresor", "--output", "json",
            "--region", REGION]
    p = subprocess.run(base + ["kms", "replicate-key", "--key-id", kid, "--replica-region", WEST,
                               "--description", "cli replica"],
                       env=srv.cli_env(), capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    rmd = json.loads(p.stdout)["ReplicaKeyMetadata"]
    assert rmd["Arn"] == arn_in(WEST, kid) and rmd["Description"] == "cli replica"
    assert rmd["MultiRegionConfiguration"]["MultiRegionKeyType"] == "REPLICA"
    p = subprocess.run(base + ["kms", "replicate-key", "--key-id", kid, "--replica-region", WEST],
                       env=srv.cli_env(), capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "AlreadyExistsException" in p.stderr


# ---- UpdatePrimaryRegion -----------------------------------------------------

def test_update_primary_region_swaps_the_roles(two):
    _, east, west = two
    kid = mrk(east)["KeyId"]
    east.replicate_key(KeyId=kid, ReplicaRegion=WEST)
    east.update_primary_region(KeyId=kid, PrimaryRegion=WEST)
    conf_w = west.describe_key(KeyId=kid)["KeyMetadata"]["MultiRegionConfiguration"]
    conf_e = east.describe_key(KeyId=kid)["KeyMetadata"]["MultiRegionConfiguration"]
    assert conf_w == {"MultiRegionKeyType": "PRIMARY",
                      "PrimaryKey": {"Arn": arn_in(WEST, kid), "Region": WEST},
                      "ReplicaKeys": [{"Arn": arn_in(REGION, kid), "Region": REGION}]}
    assert conf_e == dict(conf_w, MultiRegionKeyType="REPLICA")
    # Now the west key replicates and rotates; the east one does not.
    with raises_aws("UnsupportedOperationException",
                    f"{arn_in(REGION, kid)} is not a multi-Region primary key."):
        east.rotate_key_on_demand(KeyId=kid)
    with raises_aws("UnsupportedOperationException",
                    f"{arn_in(REGION, kid)} is not a multi-Region primary key."):
        east.update_primary_region(KeyId=kid, PrimaryRegion=WEST)
    west.rotate_key_on_demand(KeyId=kid)
    blob = east.encrypt(KeyId=kid, Plaintext=b"after the swap")["CiphertextBlob"]
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"after the swap"
    # And back, from the west.
    west.update_primary_region(KeyId=kid, PrimaryRegion=REGION)
    assert east.describe_key(KeyId=kid)["KeyMetadata"]["MultiRegionConfiguration"][
        "MultiRegionKeyType"] == "PRIMARY"


def test_update_primary_region_errors(two):
    _, east, west = two
    single = east.create_key()["KeyMetadata"]
    with raises_aws("UnsupportedOperationException",
                    f"{single['Arn']} is not a multi-Region primary key."):
        east.update_primary_region(KeyId=single["KeyId"], PrimaryRegion=WEST)
    md = mrk(east)
    kid = md["KeyId"]
    with raises_aws("NotFoundException",
                    f"Key 'arn:aws:kms:{WEST}:{ACCOUNT}:key/{kid}' does not exist"):
        east.update_primary_region(KeyId=kid, PrimaryRegion=WEST)
    with raises_aws("UnsupportedOperationException",
                    f"{md['Arn']} is already the primary key in {REGION}."):
        east.update_primary_region(KeyId=kid, PrimaryRegion=REGION)
    with raises_aws("ValidationException",
                    "1 validation error detected: Value 'west' at 'primaryRegion' failed to "
                    "satisfy constraint: Member must satisfy regular expression pattern: "
                    "^([a-z]+-){2,3}\\d+$"):
        east.update_primary_region(KeyId=kid, PrimaryRegion="west")
    east.replicate_key(KeyId=kid, ReplicaRegion=WEST)
    west.disable_key(KeyId=kid)
    with raises_aws("DisabledException", f"{arn_in(WEST, kid)} is disabled."):
        east.update_primary_region(KeyId=kid, PrimaryRegion=WEST)
    assert east.describe_key(KeyId=kid)["KeyMetadata"]["MultiRegionConfiguration"][
        "MultiRegionKeyType"] == "PRIMARY"


def test_update_primary_region_authorization(two):
    """kms:UpdatePrimaryRegion on both keys, with kms:PrimaryRegion."""
    srv, east, west = two
    kid = mrk(east)["KeyId"]
    east.replicate_key(KeyId=kid, ReplicaRegion=WEST)
    u = make_user(srv.root_user, policy=[allow("kms:UpdatePrimaryRegion", condition={
        "StringEquals": {"kms:PrimaryRegion": "eu-west-1"}})])
    with raises_aws("AccessDeniedException",
                    denied_msg(u.arn, "kms:UpdatePrimaryRegion", arn_in(REGION, kid))):
        u.kms.update_primary_region(KeyId=kid, PrimaryRegion=WEST)
    # Allowed on the primary only: refused on the replica.
    v = make_user(srv.root_user, policy=[allow("kms:UpdatePrimaryRegion",
                                               resource=arn_in(REGION, kid))])
    with raises_aws("AccessDeniedException",
                    denied_msg(v.arn, "kms:UpdatePrimaryRegion", arn_in(WEST, kid))):
        v.kms.update_primary_region(KeyId=kid, PrimaryRegion=WEST)
    w = make_user(srv.root_user, policy=[allow("kms:UpdatePrimaryRegion", condition={
        "StringEquals": {"kms:PrimaryRegion": WEST}})])
    w.kms.update_primary_region(KeyId=kid, PrimaryRegion=WEST)
    assert west.describe_key(KeyId=kid)["KeyMetadata"]["MultiRegionConfiguration"][
        "MultiRegionKeyType"] == "PRIMARY"


# ---- deletion ------------------------------------------------------------------

DAY = 86400


def test_primary_waits_for_its_replicas_to_be_deleted(two):
    """ScheduleKeyDeletion of a primary with a replica: PendingReplicaDeletion
    (no DeletionDate), unusable; the replica is deleted on its own schedule,
    keeping the shared material for the primary; then the primary's waiting
    period begins (PendingDeletion, a DeletionDate)."""
    srv, east, west = two
    kid = mrk(east)["KeyId"]
    east.replicate_key(KeyId=kid, ReplicaRegion=WEST)
    blob = east.encrypt(KeyId=kid, Plaintext=b"kept")["CiphertextBlob"]
    out = east.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
    assert out["KeyState"] == "PendingReplicaDeletion" and out["PendingWindowInDays"] == 7
    assert out["KeyId"] == arn_in(REGION, kid) and "DeletionDate" not in out
    md = east.describe_key(KeyId=kid)["KeyMetadata"]
    assert md["KeyState"] == "PendingReplicaDeletion" and md["Enabled"] is False
    assert md["PendingDeletionWindowInDays"] == 7 and "DeletionDate" not in md
    with raises_aws("KMSInvalidStateException", f"{arn_in(REGION, kid)} is pending replica deletion."):
        east.encrypt(KeyId=kid, Plaintext=b"x")
    with raises_aws("KMSInvalidStateException", f"{arn_in(REGION, kid)} is pending replica deletion."):
        east.replicate_key(KeyId=kid, ReplicaRegion=WEST)
    # The replica is still usable, and opens the primary's blob.
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"
    # Cancel: Disabled, as after PendingDeletion; schedule again.
    east.cancel_key_deletion(KeyId=kid)
    assert east.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Disabled"
    east.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
    # The replica's own deletion, 7 days.
    wout = west.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
    assert wout["KeyState"] == "PendingDeletion" and "DeletionDate" in wout
    args = ["--regions", f"{REGION},{WEST}"]
    srv.stop_clean()
    srv.start(env_extra={"TRESOR_CLOCK_OFFSET": str(8 * DAY)}, args=args)
    east, west = srv.client("kms"), srv.client("kms", region=WEST)

    def replica_gone():
        with raises_aws("NotFoundException",
                        f"Key 'arn:aws:kms:{WEST}:{ACCOUNT}:key/{kid}' does not exist"):
            west.describe_key(KeyId=kid)
    eventually(replica_gone)
    md = east.describe_key(KeyId=kid)["KeyMetadata"]
    assert md["KeyState"] == "PendingDeletion" and "DeletionDate" in md
    assert md["MultiRegionConfiguration"]["ReplicaKeys"] == []
    # The material stayed: the primary still opens its blob after a cancel.
    east.cancel_key_deletion(KeyId=kid)
    east.enable_key(KeyId=kid)
    assert east.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"


def test_replica_deleted_alone_leaves_the_primary(two):
    srv, east, west = two
    kid = mrk(east)["KeyId"]
    east.replicate_key(KeyId=kid, ReplicaRegion=WEST)
    west.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
    assert east.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Enabled"
    west.cancel_key_deletion(KeyId=kid)
    assert west.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Disabled"


# ---- an old store ----------------------------------------------------------------

OLD_KMS_TABLES = """
CREATE TABLE kms_keys (
    key_id TEXT NOT NULL PRIMARY KEY, account_id TEXT NOT NULL, region TEXT NOT NULL,
    arn TEXT NOT NULL, description TEXT NOT NULL, policy TEXT NOT NULL,
    key_state TEXT NOT NULL, key_usage TEXT NOT NULL, key_spec TEXT NOT NULL,
    origin TEXT NOT NULL, key_manager TEXT NOT NULL, created INTEGER NOT NULL,
    deletion_date INTEGER NOT NULL, pending_window_days INTEGER NOT NULL,
    rotation_enabled INTEGER NOT NULL, rotation_period_days INTEGER NOT NULL,
    next_rotation INTEGER NOT NULL, current_material INTEGER NOT NULL, policy_ids TEXT);
CREATE INDEX kms_keys_by_account ON kms_keys (account_id, region, key_id);
CREATE INDEX kms_keys_by_deletion ON kms_keys (deletion_date);
CREATE INDEX kms_keys_by_rotation ON kms_keys (next_rotation);
CREATE TABLE kms_key_materials (
    key_id TEXT NOT NULL REFERENCES kms_keys (key_id) DEFERRABLE INITIALLY DEFERRED,
    version INTEGER NOT NULL, created INTEGER NOT NULL, rotation_type TEXT NOT NULL,
    wrapped BLOB NOT NULL, PRIMARY KEY (key_id, version)) WITHOUT ROWID;
CREATE TABLE kms_aliases (
    account_id TEXT NOT NULL, region TEXT NOT NULL, name TEXT NOT NULL,
    target_key_id TEXT NOT NULL REFERENCES kms_keys (key_id) DEFERRABLE INITIALLY DEFERRED,
    created INTEGER NOT NULL, updated INTEGER NOT NULL,
    PRIMARY KEY (account_id, region, name)) WITHOUT ROWID;
CREATE INDEX kms_aliases_by_target ON kms_aliases (target_key_id, name);
"""


def test_store_from_before_regions_migrates(tresor_factory):
    """A data dir whose kms_keys is keyed by key id alone (schema version
    4, as tresor wrote it before replicas): the server migrates it at
    start, keeps every key, alias and material (old ciphertexts decrypt),
    the mrk- key is its own primary and can then be replicated."""
    import sqlite3
    if os.environ.get("TRESOR_E2E_STORE") == "postgres":
        pytest.skip("a SQLite data dir")
    args = ["--regions", f"{REGION},{WEST}"]
    srv = tresor_factory("mrk-old-store", args=args)
    east = srv.client("kms")
    kid = mrk(east, Description="old mrk")["KeyId"]
    single = east.create_key(Description="old single")["KeyMetadata"]["KeyId"]
    east.create_alias(AliasName="alias/old-mrk", TargetKeyId=kid)
    east.rotate_key_on_demand(KeyId=single)
    b1 = east.encrypt(KeyId=kid, Plaintext=b"mrk before")["CiphertextBlob"]
    b2 = east.encrypt(KeyId=single, Plaintext=b"single before")["CiphertextBlob"]
    srv.stop_clean()
    # Back to the old schema, rows and all.
    db = sqlite3.connect(srv.data_dir / "tresor.db")
    db.executescript("PRAGMA foreign_keys = OFF; BEGIN;"
                     "ALTER TABLE kms_keys RENAME TO k5;"
                     "ALTER TABLE kms_key_materials RENAME TO m5;"
                     "ALTER TABLE kms_aliases RENAME TO a5;"
                     "DROP INDEX kms_keys_by_account; DROP INDEX kms_keys_by_deletion;"
                     "DROP INDEX kms_keys_by_rotation; DROP INDEX kms_aliases_by_target;"
                     + OLD_KMS_TABLES +
                     "INSERT INTO kms_keys SELECT key_id, account_id, region, arn, description,"
                     " policy, key_state, key_usage, key_spec, origin, key_manager, created,"
                     " deletion_date, pending_window_days, rotation_enabled, rotation_period_days,"
                     " next_rotation, current_material, policy_ids FROM k5;"
                     "INSERT INTO kms_key_materials SELECT key_id, version, created,"
                     " rotation_type, wrapped FROM m5;"
                     "INSERT INTO kms_aliases SELECT * FROM a5;"
                     "DROP TABLE a5; DROP TABLE m5; DROP TABLE k5;"
                     "PRAGMA user_version = 4; COMMIT;")
    assert "primary_region" not in db.execute("SELECT sql FROM sqlite_master "
                                              "WHERE name = 'kms_keys'").fetchone()[0]
    db.close()
    srv.start(args=args)
    east, west = srv.client("kms"), srv.client("kms", region=WEST)
    db = sqlite3.connect(srv.data_dir / "tresor.db")
    assert db.execute("PRAGMA user_version").fetchone()[0] == 6
    db.close()
    assert east.decrypt(CiphertextBlob=b1)["Plaintext"] == b"mrk before"
    assert east.decrypt(CiphertextBlob=b2)["Plaintext"] == b"single before"
    md = east.describe_key(KeyId="alias/old-mrk")["KeyMetadata"]
    assert_primary(md)
    assert md["Description"] == "old mrk"
    assert len(east.list_key_rotations(KeyId=single)["Rotations"]) == 1
    east.replicate_key(KeyId=kid, ReplicaRegion=WEST)
    assert west.decrypt(CiphertextBlob=b1)["Plaintext"] == b"mrk before"
    srv.stop_clean()
    p = srv.run_tresor("check", "--data-dir", srv.data_dir)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "schema version 6 (this build: 6)" in p.stdout
