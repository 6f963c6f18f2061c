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
    ACCOUNT, AWS_CLI, REGION, allow, denied_msg, make_user, raises_aws,
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
    with raises_aws("UnsupportedOperationException",
                    "tresor does not support custom key stores (CustomKeyStoreId) yet."):
        kms.create_key(MultiRegion=True, CustomKeyStoreId="cks-1234567890abcdef0")


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
