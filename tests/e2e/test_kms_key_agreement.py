"""
KMS key agreement end to end: CreateKey with KeyUsage KEY_AGREEMENT for the
NIST curves (and its refusal for ECC_SECG_P256K1, RSA, HMAC and symmetric
keys), DescribeKey's and GetPublicKey's KeyAgreementAlgorithms, and
DeriveSharedSecret: values, errors (code and message), DryRun, Recipient,
grants, the kms:KeyAgreementAlgorithm condition key, imported material and
the AWS CLI.

Independent verification: the shared secret tresor derives equals the one
Python's `cryptography` derives offline from the peer's private key and the
public key GetPublicKey returns (ECDH, the x-coordinate of the shared point,
as AWS returns it), for every curve; with imported material, the secret is
also the one derived from the KMS key's own private half, offline.

boto3 1.26 predates DeriveSharedSecret: the vendored KMS model of
tests/e2e/models (AWS_DATA_PATH, set by tresor_e2e) gives it the operation.
"""

import base64
import os

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tresor_e2e import (allow, denied_msg, disabled_msg, make_user, new_key,
                        pending_deletion_msg, raises_aws)
from test_kms_import import import_material, pkcs8, spki

CURVES = {"ECC_NIST_P256": ec.SECP256R1, "ECC_NIST_P384": ec.SECP384R1,
          "ECC_NIST_P521": ec.SECP521R1}
FIELD_BYTES = {"ECC_NIST_P256": 32, "ECC_NIST_P384": 48, "ECC_NIST_P521": 66}


def bad_peer_msg(spec):
    return (f"PublicKey must be a DER-encoded SubjectPublicKeyInfo of an elliptic curve public "
            f"key on the curve of key spec {spec}.")


def usage_msg(md, op="DeriveSharedSecret"):
    return f"{md['Arn']} key usage is {md['KeyUsage']} which is not valid for {op}."


@pytest.fixture(scope="module")
def agree_keys(kms):
    assert hasattr(kms, "derive_shared_secret"), "AWS_DATA_PATH model not loaded"
    return {spec: new_key(kms, KeySpec=spec, KeyUsage="KEY_AGREEMENT") for spec in CURVES}


def offline_secret(kms, md, peer):
    """ECDH of the peer's private key with the KMS key's public key."""
    pub = serialization.load_der_public_key(kms.get_public_key(KeyId=md["KeyId"])["PublicKey"])
    return peer.exchange(ec.ECDH(), pub)


# ---------------------------------------------------------------------------
# CreateKey, DescribeKey, GetPublicKey


def test_create_key_agreement_metadata(kms, agree_keys):
    for spec, md in agree_keys.items():
        assert (md["KeySpec"], md["KeyUsage"]) == (spec, "KEY_AGREEMENT")
        assert md["CustomerMasterKeySpec"] == spec and md["KeyState"] == "Enabled"
        assert md["KeyAgreementAlgorithms"] == ["ECDH"]
        for other in ("SigningAlgorithms", "EncryptionAlgorithms", "MacAlgorithms"):
            assert other not in md
        assert kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"] == md


def test_get_public_key_of_agreement_key(kms, agree_keys):
    for spec, md in agree_keys.items():
        r = kms.get_public_key(KeyId=md["KeyId"])
        assert (r["KeyId"], r["KeySpec"], r["KeyUsage"]) == (md["Arn"], spec, "KEY_AGREEMENT")
        assert r["KeyAgreementAlgorithms"] == ["ECDH"]
        assert "SigningAlgorithms" not in r and "EncryptionAlgorithms" not in r
        pub = serialization.load_der_public_key(r["PublicKey"])
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        assert isinstance(pub.curve, CURVES[spec])


@pytest.mark.parametrize("spec", ["ECC_SECG_P256K1", "RSA_2048", "RSA_4096", "HMAC_256",
                                  "SYMMETRIC_DEFAULT"])
def test_key_agreement_not_for_other_specs(kms, spec):
    before = len(kms.list_keys(Limit=1000)["Keys"])
    with raises_aws("ValidationException",
                    f"KeyUsage KEY_AGREEMENT is not compatible with KeySpec {spec}"):
        kms.create_key(KeySpec=spec, KeyUsage="KEY_AGREEMENT")
    assert len(kms.list_keys(Limit=1000)["Keys"]) == before


# ---------------------------------------------------------------------------
# DeriveSharedSecret: values, checked offline


@pytest.mark.parametrize("spec", sorted(CURVES))
def test_derive_shared_secret_matches_offline(kms, agree_keys, spec):
    md = agree_keys[spec]
    for _ in range(3):
        peer = ec.generate_private_key(CURVES[spec]())
        r = kms.derive_shared_secret(KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH",
                                     PublicKey=spki(peer))
        assert set(r) - {"ResponseMetadata"} == {"KeyId", "SharedSecret",
                                                 "KeyAgreementAlgorithm", "KeyOrigin"}
        assert (r["KeyId"], r["KeyAgreementAlgorithm"], r["KeyOrigin"]) == (
            md["Arn"], "ECDH", "AWS_KMS")
        assert len(r["SharedSecret"]) == FIELD_BYTES[spec]
        assert r["SharedSecret"] == offline_secret(kms, md, peer)


def test_derive_shared_secret_by_alias_and_arn(kms, agree_keys):
    md = agree_keys["ECC_NIST_P256"]
    alias = "alias/agree-" + os.urandom(4).hex()
    kms.create_alias(AliasName=alias, TargetKeyId=md["KeyId"])
    peer = ec.generate_private_key(ec.SECP256R1())
    want = offline_secret(kms, md, peer)
    for kid in (alias, md["Arn"], md["Arn"].replace(f"key/{md['KeyId']}", alias)):
        r = kms.derive_shared_secret(KeyId=kid, KeyAgreementAlgorithm="ECDH",
                                     PublicKey=spki(peer))
        assert (r["KeyId"], r["SharedSecret"]) == (md["Arn"], want)


def test_two_kms_keys_agree(kms, agree_keys):
    """Alice and Bob both in KMS: each derives with the other's public key."""
    a = agree_keys["ECC_NIST_P384"]
    b = new_key(kms, KeySpec="ECC_NIST_P384", KeyUsage="KEY_AGREEMENT")
    pa = kms.get_public_key(KeyId=a["KeyId"])["PublicKey"]
    pb = kms.get_public_key(KeyId=b["KeyId"])["PublicKey"]
    sa = kms.derive_shared_secret(KeyId=a["KeyId"], KeyAgreementAlgorithm="ECDH",
                                  PublicKey=pb)["SharedSecret"]
    sb = kms.derive_shared_secret(KeyId=b["KeyId"], KeyAgreementAlgorithm="ECDH",
                                  PublicKey=pa)["SharedSecret"]
    assert sa == sb and len(sa) == 48


# ---------------------------------------------------------------------------
# DeriveSharedSecret: errors


def test_peer_key_on_another_curve_or_malformed(kms, agree_keys):
    md = agree_keys["ECC_NIST_P256"]
    good = spki(ec.generate_private_key(ec.SECP256R1()))
    bad = [spki(ec.generate_private_key(ec.SECP384R1())),
           spki(ec.generate_private_key(ec.SECP256K1())),
           spki(rsa.generate_private_key(65537, 2048)),
           b"\x30\x03\x02\x01\x00", os.urandom(91),
           good + b"\x00",                                   # trailing bytes
           good[:-1] + bytes([good[-1] ^ 1]),                # a point off the curve
           base64.b64encode(good)]                           # base64 twice (CLI v1)
    # Not DER: the BIT STRING's unused-bits byte set to 1 on a key whose y
    # is even (a lenient parser would mask the bit away and take the key).
    even = good
    while even[-1] & 1:
        even = spki(ec.generate_private_key(ec.SECP256R1()))
    assert even[-66:-64] == b"\x00\x04"
    bad.append(even[:-66] + b"\x01" + even[-65:])
    for peer in bad:
        with raises_aws("ValidationException", bad_peer_msg("ECC_NIST_P256")):
            kms.derive_shared_secret(KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH",
                                     PublicKey=peer)
    p521 = agree_keys["ECC_NIST_P521"]
    with raises_aws("ValidationException", bad_peer_msg("ECC_NIST_P521")):
        kms.derive_shared_secret(KeyId=p521["KeyId"], KeyAgreementAlgorithm="ECDH",
                                 PublicKey=good)


def test_wrong_key_usage(kms):
    peer = spki(ec.generate_private_key(ec.SECP256R1()))
    for kw in ({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"},
               {"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"},
               {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}, {}):
        md = new_key(kms, **kw)
        with raises_aws("InvalidKeyUsageException", usage_msg(md)):
            kms.derive_shared_secret(KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH",
                                     PublicKey=peer)


def test_agreement_key_refuses_other_operations(kms, agree_keys):
    md = agree_keys["ECC_NIST_P256"]
    with raises_aws("InvalidKeyUsageException", usage_msg(md, "Sign")):
        kms.sign(KeyId=md["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    with raises_aws("InvalidKeyUsageException", usage_msg(md, "Verify")):
        kms.verify(KeyId=md["KeyId"], Message=b"m", Signature=b"s" * 64,
                   SigningAlgorithm="ECDSA_SHA_256")


def test_disabled_pending_deletion_and_unknown_keys(kms):
    peer = spki(ec.generate_private_key(ec.SECP256R1()))
    md = new_key(kms, KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")
    kms.disable_key(KeyId=md["KeyId"])
    with raises_aws("DisabledException", disabled_msg(md["KeyId"])):
        kms.derive_shared_secret(KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=peer)
    kms.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=7)
    with raises_aws("KMSInvalidStateException", pending_deletion_msg(md["KeyId"])):
        kms.derive_shared_secret(KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=peer)
    missing = "11111111-2222-3333-4444-555555555555"
    with raises_aws("NotFoundException", contains=missing):
        kms.derive_shared_secret(KeyId=missing, KeyAgreementAlgorithm="ECDH", PublicKey=peer)


def test_model_constraints(tresor, agree_keys):
    """Raw requests: what boto3's own validation would stop first."""
    kid = agree_keys["ECC_NIST_P256"]["KeyId"]
    peer = base64.b64encode(spki(ec.generate_private_key(ec.SECP256R1()))).decode()
    with raises_aws("ValidationException", contains="keyAgreementAlgorithm"):
        tresor.call("DeriveSharedSecret", KeyId=kid, KeyAgreementAlgorithm="ECDHE",
                    PublicKey=peer)
    with raises_aws("ValidationException", contains="keyAgreementAlgorithm"):
        tresor.call("DeriveSharedSecret", KeyId=kid, PublicKey=peer)
    with raises_aws("ValidationException", contains="publicKey"):
        tresor.call("DeriveSharedSecret", KeyId=kid, KeyAgreementAlgorithm="ECDH")
    with raises_aws("ValidationException", contains="publicKey"):
        tresor.call("DeriveSharedSecret", KeyId=kid, KeyAgreementAlgorithm="ECDH",
                    PublicKey=base64.b64encode(b"x" * 8193).decode())
    with raises_aws("SerializationException", contains="Recipient"):
        tresor.call("DeriveSharedSecret", KeyId=kid, KeyAgreementAlgorithm="ECDH",
                    PublicKey=peer, Recipient="enclave")


def test_dry_run_and_recipient(kms, agree_keys):
    md = agree_keys["ECC_NIST_P384"]
    peer = spki(ec.generate_private_key(ec.SECP384R1()))
    with raises_aws("DryRunOperationException",
                    "The request would have succeeded, but the DryRun option is set."):
        kms.derive_shared_secret(KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH",
                                 PublicKey=peer, DryRun=True)
    # DryRun checks the peer's key too.
    with raises_aws("ValidationException", bad_peer_msg("ECC_NIST_P384")):
        kms.derive_shared_secret(KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH",
                                 PublicKey=spki(ec.generate_private_key(ec.SECP256R1())),
                                 DryRun=True)
    # An attestation document cannot be checked here: refused, as Decrypt's.
    with raises_aws("UnsupportedOperationException",
                    "tresor does not support Recipient (attested enclave encryption) yet."):
        kms.derive_shared_secret(KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH",
                                 PublicKey=peer,
                                 Recipient={"KeyEncryptionAlgorithm": "RSAES_OAEP_SHA_256",
                                            "AttestationDocument": b"\x84doc"})


# ---------------------------------------------------------------------------
# Authorization, grants


def test_condition_key_and_grants(tresor):
    root = tresor.root_user
    md = root.kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")["KeyMetadata"]
    peer = ec.generate_private_key(ec.SECP256R1())
    u = make_user(root)
    with raises_aws("AccessDeniedException", denied_msg(u.arn, "kms:DeriveSharedSecret", md["Arn"])):
        u.kms.derive_shared_secret(KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH",
                                   PublicKey=spki(peer))
    # A grant of DeriveSharedSecret allows it.
    g = root.kms.create_grant(KeyId=md["KeyId"], GranteePrincipal=u.arn,
                              Operations=["DeriveSharedSecret", "GetPublicKey"])
    r = u.kms.derive_shared_secret(KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH",
                                   PublicKey=spki(peer))
    assert r["SharedSecret"] == offline_secret(root.kms, md, peer)
    root.kms.revoke_grant(KeyId=md["KeyId"], GrantId=g["GrantId"])
    # Operations a key agreement key cannot perform are refused in a grant.
    with raises_aws("ValidationException",
                    "Grant operations Sign are not supported for a KMS key with key spec "
                    "ECC_NIST_P256 and key usage KEY_AGREEMENT."):
        root.kms.create_grant(KeyId=md["KeyId"], GranteePrincipal=u.arn,
                              Operations=["DeriveSharedSecret", "Sign"])
    # kms:KeyAgreementAlgorithm in an IAM policy.
    v = make_user(root, policy=[
        allow("kms:DeriveSharedSecret", md["Arn"],
              condition={"StringEquals": {"kms:KeyAgreementAlgorithm": "ECDH",
                                          "kms:KeyUsage": "KEY_AGREEMENT"}})])
    assert v.kms.derive_shared_secret(KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH",
                                      PublicKey=spki(peer))["SharedSecret"] == r["SharedSecret"]
    w = make_user(root, policy=[
        allow("kms:DeriveSharedSecret", md["Arn"],
              condition={"StringEquals": {"kms:KeyAgreementAlgorithm": "SM2"}})])
    with raises_aws("AccessDeniedException", denied_msg(w.arn, "kms:DeriveSharedSecret", md["Arn"])):
        w.kms.derive_shared_secret(KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH",
                                   PublicKey=spki(peer))


# ---------------------------------------------------------------------------
# Imported material


@pytest.mark.parametrize("spec", sorted(CURVES))
def test_imported_agreement_key(kms, spec):
    k = new_key(kms, Origin="EXTERNAL", KeySpec=spec, KeyUsage="KEY_AGREEMENT")
    assert k["KeyState"] == "PendingImport" and k["KeyAgreementAlgorithms"] == ["ECDH"]
    mine = ec.generate_private_key(CURVES[spec]())
    import_material(kms, k["KeyId"], pkcs8(mine), alg="RSA_AES_KEY_WRAP_SHA_256", spec="RSA_3072")
    assert kms.get_public_key(KeyId=k["KeyId"])["PublicKey"] == spki(mine)
    peer = ec.generate_private_key(CURVES[spec]())
    r = kms.derive_shared_secret(KeyId=k["KeyId"], KeyAgreementAlgorithm="ECDH",
                                 PublicKey=spki(peer))
    assert r["KeyOrigin"] == "EXTERNAL"
    # Both halves known offline: the same secret from either side.
    assert r["SharedSecret"] == mine.exchange(ec.ECDH(), peer.public_key())
    assert r["SharedSecret"] == peer.exchange(ec.ECDH(), mine.public_key())


# ---------------------------------------------------------------------------
# The AWS CLI


def test_derive_shared_secret_with_the_cli(tresor, kms, agree_keys, tmp_path):
    md = agree_keys["ECC_NIST_P521"]
    peer = ec.generate_private_key(ec.SECP521R1())
    (tmp_path / "peer.der").write_bytes(spki(peer))
    rc, out, err = tresor.cli("kms", "derive-shared-secret", "--key-id", md["KeyId"],
                              "--key-agreement-algorithm", "ECDH",
                              "--public-key", f"fileb://{tmp_path / 'peer.der'}")
    assert rc == 0, (rc, out, err)
    assert (out["KeyId"], out["KeyAgreementAlgorithm"], out["KeyOrigin"]) == (
        md["Arn"], "ECDH", "AWS_KMS")
    assert base64.b64decode(out["SharedSecret"]) == offline_secret(kms, md, peer)
    rc, out, err = tresor.cli("kms", "get-public-key", "--key-id", md["KeyId"])
    assert rc == 0, err
    assert out["KeyAgreementAlgorithms"] == ["ECDH"]
    # A peer key on another curve: the error's code and message.
    (tmp_path / "p256.der").write_bytes(spki(ec.generate_private_key(ec.SECP256R1())))
    rc, out, err = tresor.cli("kms", "derive-shared-secret", "--key-id", md["KeyId"],
                              "--key-agreement-algorithm", "ECDH",
                              "--public-key", f"fileb://{tmp_path / 'p256.der'}")
    assert rc != 0
    assert "ValidationException" in err and bad_peer_msg("ECC_NIST_P521") in err
