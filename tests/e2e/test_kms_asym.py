"""
KMS asymmetric and HMAC keys end to end: CreateKey for every RSA, ECC and
HMAC spec and the key usage/spec rules; DescribeKey's algorithm lists;
GetPublicKey; Sign and Verify for every spec x algorithm x message type;
Encrypt, Decrypt and ReEncrypt with RSA keys; GenerateMac and VerifyMac;
rotation, grants and the wrong-usage errors.  Expected values, codes and
messages are AWS's.

Independent verification: every signature tresor makes is verified with
Python's `cryptography` (OpenSSL underneath, but none of tresor's code)
against the public key GetPublicKey returns; RSA ciphertexts are made
offline with that public key and decrypted by tresor, and tresor's RSA
ciphertexts decrypt... only in tresor (the private half never leaves), so
they are checked by round trip and by length.
"""

import base64
import hashlib
import os

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from tresor_e2e import b64, disabled_msg, new_key, raises_aws

RSA_SPECS = ["RSA_2048", "RSA_3072", "RSA_4096"]
EC_SPECS = {"ECC_NIST_P256": ("ECDSA_SHA_256", ec.SECP256R1),
            "ECC_NIST_P384": ("ECDSA_SHA_384", ec.SECP384R1),
            "ECC_NIST_P521": ("ECDSA_SHA_512", ec.SECP521R1),
            "ECC_SECG_P256K1": ("ECDSA_SHA_256", ec.SECP256K1)}
HMAC_SPECS = {"HMAC_224": ("HMAC_SHA_224", 28), "HMAC_256": ("HMAC_SHA_256", 32),
              "HMAC_384": ("HMAC_SHA_384", 48), "HMAC_512": ("HMAC_SHA_512", 64)}
RSA_SIGN_ALGS = ["RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PKCS1_V1_5_SHA_384",
                 "RSASSA_PKCS1_V1_5_SHA_512", "RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384",
                 "RSASSA_PSS_SHA_512"]
HASHES = {"256": (hashes.SHA256, hashlib.sha256), "384": (hashes.SHA384, hashlib.sha384),
          "512": (hashes.SHA512, hashlib.sha512)}
# RFC 8017 7.1.1: k - 2 hLen - 2, per key size and OAEP digest.
OAEP_MAX = {("RSA_2048", "RSAES_OAEP_SHA_1"): 214, ("RSA_2048", "RSAES_OAEP_SHA_256"): 190,
            ("RSA_3072", "RSAES_OAEP_SHA_1"): 342, ("RSA_3072", "RSAES_OAEP_SHA_256"): 318,
            ("RSA_4096", "RSAES_OAEP_SHA_1"): 470, ("RSA_4096", "RSAES_OAEP_SHA_256"): 446}


def _hash_of(alg):
    return HASHES[alg.rsplit("_", 1)[1]]


@pytest.fixture(scope="module")
def keys(kms):
    """One key per spec and usage, made once for the module."""
    made = {}
    for spec in RSA_SPECS:
        made[(spec, "SIGN_VERIFY")] = new_key(kms, KeySpec=spec, KeyUsage="SIGN_VERIFY")
        made[(spec, "ENCRYPT_DECRYPT")] = new_key(kms, KeySpec=spec, KeyUsage="ENCRYPT_DECRYPT")
    for spec in EC_SPECS:
        made[(spec, "SIGN_VERIFY")] = new_key(kms, KeySpec=spec, KeyUsage="SIGN_VERIFY")
    for spec in HMAC_SPECS:
        made[(spec, "GENERATE_VERIFY_MAC")] = new_key(kms, KeySpec=spec,
                                                      KeyUsage="GENERATE_VERIFY_MAC")
    return made


@pytest.fixture(scope="module")
def public_keys(kms, keys):
    out = {}
    for (spec, usage), md in keys.items():
        if spec.startswith(("RSA", "ECC")):
            der = kms.get_public_key(KeyId=md["KeyId"])["PublicKey"]
            out[(spec, usage)] = serialization.load_der_public_key(der)
    return out


# ---------------------------------------------------------------------------
# CreateKey, DescribeKey, ListKeys


def test_create_key_metadata_per_spec(kms, keys, tresor):
    for (spec, usage), md in keys.items():
        assert md["KeySpec"] == spec and md["CustomerMasterKeySpec"] == spec
        assert md["KeyUsage"] == usage
        assert md["KeyState"] == "Enabled" and md["Enabled"] is True
        # Key material ids name symmetric material only.
        assert "CurrentKeyMaterialId" not in tresor.call("DescribeKey", KeyId=md["KeyId"])["KeyMetadata"]
        if usage == "SIGN_VERIFY":
            want = RSA_SIGN_ALGS if spec.startswith("RSA") else [EC_SPECS[spec][0]]
            assert md["SigningAlgorithms"] == want
            assert "EncryptionAlgorithms" not in md and "MacAlgorithms" not in md
        elif usage == "ENCRYPT_DECRYPT":
            assert md["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
            assert "SigningAlgorithms" not in md
        else:
            assert md["MacAlgorithms"] == [HMAC_SPECS[spec][0]]
            assert "EncryptionAlgorithms" not in md and "SigningAlgorithms" not in md
        assert kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"] == md
    listed = {k["KeyId"] for k in kms.list_keys(Limit=1000)["Keys"]}
    assert {md["KeyId"] for md in keys.values()} <= listed


def test_symmetric_key_metadata_unchanged(kms, tresor):
    md = new_key(kms)
    assert md["KeySpec"] == "SYMMETRIC_DEFAULT" and md["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert md["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"]
    assert "SigningAlgorithms" not in md and "MacAlgorithms" not in md
    raw = tresor.call("DescribeKey", KeyId=md["KeyId"])["KeyMetadata"]
    assert len(raw["CurrentKeyMaterialId"]) == 64


def test_create_key_with_deprecated_customer_master_key_spec(kms):
    md = new_key(kms, CustomerMasterKeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    assert md["KeySpec"] == "ECC_NIST_P256" and md["SigningAlgorithms"] == ["ECDSA_SHA_256"]


@pytest.mark.parametrize("spec", RSA_SPECS + list(EC_SPECS) + list(HMAC_SPECS))
def test_create_key_requires_key_usage(kms, spec):
    with raises_aws("ValidationException", "You must specify a KeyUsage value for all KMS keys "
                    "except for symmetric encryption keys."):
        kms.create_key(KeySpec=spec)


@pytest.mark.parametrize("spec,usage", [
    ("SYMMETRIC_DEFAULT", "SIGN_VERIFY"), ("SYMMETRIC_DEFAULT", "GENERATE_VERIFY_MAC"),
    ("RSA_2048", "GENERATE_VERIFY_MAC"), ("RSA_3072", "KEY_AGREEMENT"),
    ("ECC_NIST_P256", "ENCRYPT_DECRYPT"), ("ECC_SECG_P256K1", "KEY_AGREEMENT"),
    ("ECC_NIST_P384", "GENERATE_VERIFY_MAC"), ("HMAC_256", "ENCRYPT_DECRYPT"),
    ("HMAC_512", "SIGN_VERIFY"),
    # KEY_AGREEMENT: the NIST curves only (test_kms_key_agreement.py).
    ("HMAC_256", "KEY_AGREEMENT"), ("SYMMETRIC_DEFAULT", "KEY_AGREEMENT"),
])
def test_create_key_incompatible_usage(kms, spec, usage):
    before = len(kms.list_keys(Limit=1000)["Keys"])
    with raises_aws("ValidationException", f"KeyUsage {usage} is not compatible with KeySpec {spec}"):
        kms.create_key(KeySpec=spec, KeyUsage=usage)
    assert len(kms.list_keys(Limit=1000)["Keys"]) == before


@pytest.mark.parametrize("spec", ["SM2"])
def test_create_key_unsupported_spec(kms, spec):
    with raises_aws("UnsupportedOperationException", f"KeySpec {spec} is not supported"):
        kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")


def test_create_key_unsupported_spec_newer_than_the_sdk(tresor):
    """Specs the SDK of the suite cannot send (ML-DSA, Ed25519), raw."""
    for spec in ("ML_DSA_44", "ML_DSA_65", "ML_DSA_87", "ECC_NIST_EDWARDS25519"):
        with raises_aws("UnsupportedOperationException", f"KeySpec {spec} is not supported"):
            tresor.call("CreateKey", KeySpec=spec, KeyUsage="SIGN_VERIFY")


# ---------------------------------------------------------------------------
# GetPublicKey


def test_get_public_key(kms, keys, public_keys):
    for (spec, usage), md in keys.items():
        if not spec.startswith(("RSA", "ECC")):
            continue
        got = kms.get_public_key(KeyId=md["Arn"])
        assert got["KeyId"] == md["Arn"]
        assert got["KeySpec"] == spec and got["CustomerMasterKeySpec"] == spec
        assert got["KeyUsage"] == usage
        pub = public_keys[(spec, usage)]
        if spec.startswith("RSA"):
            assert isinstance(pub, rsa.RSAPublicKey) and pub.key_size == int(spec[4:])
        else:
            assert isinstance(pub, ec.EllipticCurvePublicKey)
            assert isinstance(pub.curve, EC_SPECS[spec][1])
        if usage == "SIGN_VERIFY":
            assert got["SigningAlgorithms"] == md["SigningAlgorithms"]
            assert "EncryptionAlgorithms" not in got
        else:
            assert got["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
        # DER SubjectPublicKeyInfo, byte for byte what cryptography writes.
        assert got["PublicKey"] == pub.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def test_get_public_key_of_symmetric_and_hmac_keys(kms, keys):
    sym = new_key(kms)
    with raises_aws("UnsupportedOperationException",
                    f"{sym['Arn']} key usage is ENCRYPT_DECRYPT which is not valid for GetPublicKey."):
        kms.get_public_key(KeyId=sym["KeyId"])
    h = keys[("HMAC_256", "GENERATE_VERIFY_MAC")]
    with raises_aws("UnsupportedOperationException",
                    f"{h['Arn']} key usage is GENERATE_VERIFY_MAC which is not valid for GetPublicKey."):
        kms.get_public_key(KeyId=h["KeyId"])


def test_get_public_key_with_the_cli(tresor, keys, public_keys):
    md = keys[("ECC_NIST_P256", "SIGN_VERIFY")]
    rc, out, err = tresor.cli("kms", "get-public-key", "--key-id", md["KeyId"])
    assert rc == 0, err
    assert out["KeySpec"] == "ECC_NIST_P256" and out["SigningAlgorithms"] == ["ECDSA_SHA_256"]
    pub = public_keys[("ECC_NIST_P256", "SIGN_VERIFY")]
    assert out["PublicKey"] == b64(pub.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))


# ---------------------------------------------------------------------------
# Sign / Verify, verified offline


def _verify_offline(pub, alg, message, sig, digest=False):
    h, _ = _hash_of(alg)
    algo = utils.Prehashed(h()) if digest else h()
    if alg.startswith("ECDSA"):
        pub.verify(sig, message, ec.ECDSA(algo))
    elif alg.startswith("RSASSA_PSS"):
        # AWS: MGF1 with the same digest, salt as long as the digest.
        pub.verify(sig, message, padding.PSS(mgf=padding.MGF1(h()), salt_length=h.digest_size),
                   algo)
    else:
        pub.verify(sig, message, padding.PKCS1v15(), algo)


def _sign_cases():
    for spec in RSA_SPECS:
        for alg in RSA_SIGN_ALGS:
            yield spec, alg
    for spec, (alg, _) in EC_SPECS.items():
        yield spec, alg


@pytest.mark.parametrize("spec,alg", list(_sign_cases()))
@pytest.mark.parametrize("mtype", ["RAW", "DIGEST", None])
def test_sign_verifies_offline(kms, keys, public_keys, spec, alg, mtype):
    md = keys[(spec, "SIGN_VERIFY")]
    pub = public_keys[(spec, "SIGN_VERIFY")]
    message = os.urandom(100)
    _, hl = _hash_of(alg)
    sent = hl(message).digest() if mtype == "DIGEST" else message
    args = {"MessageType": mtype} if mtype else {}
    got = kms.sign(KeyId=md["KeyId"], Message=sent, SigningAlgorithm=alg, **args)
    assert got["KeyId"] == md["Arn"] and got["SigningAlgorithm"] == alg
    sig = got["Signature"]
    if spec.startswith("RSA"):
        assert len(sig) == int(spec[4:]) // 8
    else:
        assert sig[0] == 0x30          # DER SEQUENCE (RFC 3279 Ecdsa-Sig-Value)
    # Independent check: the public key, Python's cryptography.
    _verify_offline(pub, alg, sent, sig, digest=mtype == "DIGEST")
    _verify_offline(pub, alg, hl(message).digest(), sig, digest=True)
    # tresor's Verify: the same message in either form.
    v = kms.verify(KeyId=md["KeyId"], Message=message, Signature=sig, SigningAlgorithm=alg)
    assert v == {**v, "KeyId": md["Arn"], "SignatureValid": True, "SigningAlgorithm": alg}
    v = kms.verify(KeyId=md["KeyId"], Message=hl(message).digest(), MessageType="DIGEST",
                   Signature=sig, SigningAlgorithm=alg)
    assert v["SignatureValid"] is True


@pytest.mark.parametrize("spec,alg", [("RSA_2048", "RSASSA_PSS_SHA_256"),
                                      ("RSA_3072", "RSASSA_PKCS1_V1_5_SHA_384"),
                                      ("ECC_NIST_P256", "ECDSA_SHA_256"),
                                      ("ECC_NIST_P521", "ECDSA_SHA_512"),
                                      ("ECC_SECG_P256K1", "ECDSA_SHA_256")])
def test_verify_rejects_tampering(kms, keys, public_keys, spec, alg):
    md = keys[(spec, "SIGN_VERIFY")]
    message = b"the message signed"
    sig = kms.sign(KeyId=md["KeyId"], Message=message, SigningAlgorithm=alg)["Signature"]
    # Each of a few bit flips across the signature.
    for pos in (0, len(sig) // 2, len(sig) - 1):
        bad = bytearray(sig)
        bad[pos] ^= 0x01
        with raises_aws("KMSInvalidSignatureException", ""):
            kms.verify(KeyId=md["KeyId"], Message=message, Signature=bytes(bad),
                       SigningAlgorithm=alg)
        with pytest.raises(InvalidSignature):
            _verify_offline(public_keys[(spec, "SIGN_VERIFY")], alg, message, bytes(bad))
    # The signature of another message.
    with raises_aws("KMSInvalidSignatureException", ""):
        kms.verify(KeyId=md["KeyId"], Message=b"another message", Signature=sig,
                   SigningAlgorithm=alg)
    # Truncated and garbage signatures.
    for bad in (sig[:-1], b"\x00", os.urandom(len(sig))):
        with raises_aws("KMSInvalidSignatureException", ""):
            kms.verify(KeyId=md["KeyId"], Message=message, Signature=bad, SigningAlgorithm=alg)
    # Another key of the same spec.
    other = new_key(kms, KeySpec=spec, KeyUsage="SIGN_VERIFY")
    with raises_aws("KMSInvalidSignatureException", ""):
        kms.verify(KeyId=other["KeyId"], Message=message, Signature=sig, SigningAlgorithm=alg)


def test_verify_with_another_algorithm_of_the_key(kms, keys):
    md = keys[("RSA_2048", "SIGN_VERIFY")]
    sig = kms.sign(KeyId=md["KeyId"], Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    for alg in ("RSASSA_PKCS1_V1_5_SHA_256", "RSASSA_PSS_SHA_384"):
        with raises_aws("KMSInvalidSignatureException", ""):
            kms.verify(KeyId=md["KeyId"], Message=b"m", Signature=sig, SigningAlgorithm=alg)


@pytest.mark.parametrize("spec,alg", [("ECC_NIST_P256", "ECDSA_SHA_384"),
                                      ("ECC_NIST_P384", "ECDSA_SHA_256"),
                                      ("ECC_NIST_P256", "RSASSA_PSS_SHA_256"),
                                      ("RSA_2048", "ECDSA_SHA_256"),
                                      ("RSA_4096", "SM2DSA")])
def test_sign_algorithm_not_of_the_key(kms, keys, spec, alg):
    md = keys[(spec, "SIGN_VERIFY")]
    msg = f"Algorithm {alg} is incompatible with key spec {spec}."
    with raises_aws("InvalidKeyUsageException", msg):
        kms.sign(KeyId=md["KeyId"], Message=b"m", SigningAlgorithm=alg)
    with raises_aws("InvalidKeyUsageException", msg):
        kms.verify(KeyId=md["KeyId"], Message=b"m", Signature=b"s" * 64, SigningAlgorithm=alg)


@pytest.mark.parametrize("alg,good", [("ECDSA_SHA_256", 32), ("RSASSA_PSS_SHA_384", 48),
                                      ("RSASSA_PKCS1_V1_5_SHA_512", 64)])
def test_sign_digest_length_checked(kms, keys, alg, good):
    spec = "ECC_NIST_P256" if alg.startswith("ECDSA") else "RSA_2048"
    md = keys[(spec, "SIGN_VERIFY")]
    for n in (good - 1, good + 1, 20):
        with raises_aws("ValidationException", f"Digest is invalid length for algorithm {alg}."):
            kms.sign(KeyId=md["KeyId"], Message=b"d" * n, MessageType="DIGEST", SigningAlgorithm=alg)
        with raises_aws("ValidationException", f"Digest is invalid length for algorithm {alg}."):
            kms.verify(KeyId=md["KeyId"], Message=b"d" * n, MessageType="DIGEST",
                       Signature=b"s" * 64, SigningAlgorithm=alg)
    kms.sign(KeyId=md["KeyId"], Message=b"d" * good, MessageType="DIGEST", SigningAlgorithm=alg)


def test_sign_message_size_limit(kms, keys, public_keys):
    md = keys[("ECC_NIST_P256", "SIGN_VERIFY")]
    big = os.urandom(4096)
    sig = kms.sign(KeyId=md["KeyId"], Message=big, SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    _verify_offline(public_keys[("ECC_NIST_P256", "SIGN_VERIFY")], "ECDSA_SHA_256", big, sig)
    with raises_aws("ValidationException", contains="Member must have length less than or equal to 4096"):
        kms.sign(KeyId=md["KeyId"], Message=big + b"x", SigningAlgorithm="ECDSA_SHA_256")


def test_sign_verify_with_the_cli(tresor, keys, public_keys, tmp_path):
    md = keys[("RSA_3072", "SIGN_VERIFY")]
    msg = tmp_path / "msg.bin"
    msg.write_bytes(b"signed by the AWS CLI")
    rc, out, err = tresor.cli("kms", "sign", "--key-id", md["KeyId"], "--message",
                              f"fileb://{msg}", "--signing-algorithm", "RSASSA_PSS_SHA_512")
    assert rc == 0, err
    sig = base64.b64decode(out["Signature"])
    _verify_offline(public_keys[("RSA_3072", "SIGN_VERIFY")], "RSASSA_PSS_SHA_512",
                    msg.read_bytes(), sig)
    sigf = tmp_path / "sig.bin"
    sigf.write_bytes(sig)
    rc, out, err = tresor.cli("kms", "verify", "--key-id", md["KeyId"], "--message",
                              f"fileb://{msg}", "--signature", f"fileb://{sigf}",
                              "--signing-algorithm", "RSASSA_PSS_SHA_512")
    assert rc == 0 and out["SignatureValid"] is True, err
    sigf.write_bytes(bytes([sig[0] ^ 1]) + sig[1:])
    rc, out, err = tresor.cli("kms", "verify", "--key-id", md["KeyId"], "--message",
                              f"fileb://{msg}", "--signature", f"fileb://{sigf}",
                              "--signing-algorithm", "RSASSA_PSS_SHA_512")
    assert rc != 0 and "KMSInvalidSignatureException" in err


# ---------------------------------------------------------------------------
# Wrong usage


def test_operations_on_the_wrong_key_usage(kms, keys):
    sym = new_key(kms)
    sv = keys[("RSA_2048", "SIGN_VERIFY")]
    ed = keys[("RSA_2048", "ENCRYPT_DECRYPT")]
    h = keys[("HMAC_256", "GENERATE_VERIFY_MAC")]

    def usage(k, op):
        return f"{k['Arn']} key usage is {k['KeyUsage']} which is not valid for {op}."

    for k in (sym, ed, h):
        with raises_aws("InvalidKeyUsageException", usage(k, "Sign")):
            kms.sign(KeyId=k["KeyId"], Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")
        with raises_aws("InvalidKeyUsageException", usage(k, "Verify")):
            kms.verify(KeyId=k["KeyId"], Message=b"m", Signature=b"s",
                       SigningAlgorithm="RSASSA_PSS_SHA_256")
    for k in (sym, sv, ed):
        with raises_aws("InvalidKeyUsageException", usage(k, "GenerateMac")):
            kms.generate_mac(KeyId=k["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")
        with raises_aws("InvalidKeyUsageException", usage(k, "VerifyMac")):
            kms.verify_mac(KeyId=k["KeyId"], Message=b"m", Mac=b"x" * 32,
                           MacAlgorithm="HMAC_SHA_256")
    for k in (sv, h):
        with raises_aws("InvalidKeyUsageException", usage(k, "Encrypt")):
            kms.encrypt(KeyId=k["KeyId"], Plaintext=b"p")
        with raises_aws("InvalidKeyUsageException", usage(k, "GenerateDataKey")):
            kms.generate_data_key(KeyId=k["KeyId"], KeySpec="AES_256")
        with raises_aws("InvalidKeyUsageException", usage(k, "Decrypt")):
            kms.decrypt(KeyId=k["KeyId"], CiphertextBlob=b"x" * 256,
                        EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    # An RSA encryption key: the symmetric algorithm, and data keys.
    msg = "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048."
    with raises_aws("InvalidKeyUsageException", msg):
        kms.encrypt(KeyId=ed["KeyId"], Plaintext=b"p")
    with raises_aws("InvalidKeyUsageException", msg):
        kms.generate_data_key(KeyId=ed["KeyId"], KeySpec="AES_256")
    with raises_aws("InvalidKeyUsageException", msg):
        kms.generate_data_key_without_plaintext(KeyId=ed["KeyId"], NumberOfBytes=32)
    # A symmetric key with an RSA algorithm.
    with raises_aws("InvalidKeyUsageException",
                    "Algorithm RSAES_OAEP_SHA_256 is incompatible with key spec SYMMETRIC_DEFAULT."):
        kms.encrypt(KeyId=sym["KeyId"], Plaintext=b"p", EncryptionAlgorithm="RSAES_OAEP_SHA_256")


def test_disabled_key(kms):
    k = new_key(kms, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    kms.disable_key(KeyId=k["KeyId"])
    with raises_aws("DisabledException", disabled_msg(k["KeyId"])):
        kms.sign(KeyId=k["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    with raises_aws("DisabledException", disabled_msg(k["KeyId"])):
        kms.get_public_key(KeyId=k["KeyId"])
    h = new_key(kms, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    kms.disable_key(KeyId=h["KeyId"])
    with raises_aws("DisabledException", disabled_msg(h["KeyId"])):
        kms.generate_mac(KeyId=h["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")


NO_ROTATION = ("You cannot perform this operation on a non-symmetric key or a key with "
               "non-ENCRYPT_DECRYPT key usage.")


def test_rotation_refused(kms, keys):
    for k in (keys[("RSA_2048", "ENCRYPT_DECRYPT")], keys[("ECC_NIST_P384", "SIGN_VERIFY")],
              keys[("HMAC_384", "GENERATE_VERIFY_MAC")]):
        with raises_aws("UnsupportedOperationException", NO_ROTATION):
            kms.enable_key_rotation(KeyId=k["KeyId"])
        with raises_aws("UnsupportedOperationException", NO_ROTATION):
            kms.disable_key_rotation(KeyId=k["KeyId"])
        assert kms.get_key_rotation_status(KeyId=k["KeyId"])["KeyRotationEnabled"] is False


def test_rotate_key_on_demand_refused(tresor, keys):
    k = keys[("HMAC_256", "GENERATE_VERIFY_MAC")]
    with raises_aws("UnsupportedOperationException", NO_ROTATION):
        tresor.call("RotateKeyOnDemand", KeyId=k["KeyId"])


# ---------------------------------------------------------------------------
# RSA Encrypt / Decrypt / ReEncrypt


def _oaep(alg):
    h = hashes.SHA1 if alg == "RSAES_OAEP_SHA_1" else hashes.SHA256
    return padding.OAEP(mgf=padding.MGF1(algorithm=h()), algorithm=h(), label=None)


@pytest.mark.parametrize("spec", RSA_SPECS)
@pytest.mark.parametrize("alg", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"])
def test_rsa_encrypt_decrypt(kms, keys, public_keys, tresor, spec, alg):
    md = keys[(spec, "ENCRYPT_DECRYPT")]
    pub = public_keys[(spec, "ENCRYPT_DECRYPT")]
    limit = OAEP_MAX[(spec, alg)]
    for pt in (b"x", os.urandom(limit)):
        enc = kms.encrypt(KeyId=md["KeyId"], Plaintext=pt, EncryptionAlgorithm=alg)
        assert enc["KeyId"] == md["Arn"] and enc["EncryptionAlgorithm"] == alg
        ct = enc["CiphertextBlob"]
        # The raw RSA ciphertext, as AWS returns it: the modulus size.
        assert len(ct) == int(spec[4:]) // 8
        dec = kms.decrypt(KeyId=md["KeyId"], CiphertextBlob=ct, EncryptionAlgorithm=alg)
        assert dec["Plaintext"] == pt and dec["KeyId"] == md["Arn"]
        assert dec["EncryptionAlgorithm"] == alg
        raw = tresor.call("Decrypt", KeyId=md["KeyId"], CiphertextBlob=b64(ct),
                          EncryptionAlgorithm=alg)
        assert "KeyMaterialId" not in raw and raw["Plaintext"] == b64(pt)
        # Made offline with the public key: decrypts in tresor.
        off = pub.encrypt(pt, _oaep(alg))
        assert kms.decrypt(KeyId=md["Arn"], CiphertextBlob=off,
                           EncryptionAlgorithm=alg)["Plaintext"] == pt
    with raises_aws("ValidationException", f"Algorithm {alg} and key spec {spec} cannot encrypt "
                    f"data larger than {limit} bytes."):
        kms.encrypt(KeyId=md["KeyId"], Plaintext=b"y" * (limit + 1), EncryptionAlgorithm=alg)


def test_rsa_decrypt_errors(kms, keys, public_keys):
    md = keys[("RSA_2048", "ENCRYPT_DECRYPT")]
    pub = public_keys[("RSA_2048", "ENCRYPT_DECRYPT")]
    # OAEP output is random: one in 128 starts with tresor's own ciphertext
    # version bytes (0x01, 0x02) and then reads as a blob naming a key that
    # does not exist (AccessDeniedException, as for any such blob). Take one
    # that does not, so that the case below is the one it says.
    ct = pub.encrypt(b"secret", _oaep("RSAES_OAEP_SHA_256"))
    while ct[0] in (1, 2):
        ct = pub.encrypt(b"secret", _oaep("RSAES_OAEP_SHA_256"))
    # Without KeyId the ciphertext names no key.
    with raises_aws("InvalidCiphertextException", ""):
        kms.decrypt(CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    # The other OAEP digest, a flipped bit, a short blob, another key.
    with raises_aws("InvalidCiphertextException", ""):
        kms.decrypt(KeyId=md["KeyId"], CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_1")
    bad = bytearray(ct)
    bad[100] ^= 0x80
    with raises_aws("InvalidCiphertextException", ""):
        kms.decrypt(KeyId=md["KeyId"], CiphertextBlob=bytes(bad),
                    EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    with raises_aws("InvalidCiphertextException", ""):
        kms.decrypt(KeyId=md["KeyId"], CiphertextBlob=ct[:-1],
                    EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    other = new_key(kms, KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")
    with raises_aws("InvalidCiphertextException", ""):
        kms.decrypt(KeyId=other["KeyId"], CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    # No algorithm: the default, SYMMETRIC_DEFAULT, is not the key's.
    with raises_aws("InvalidKeyUsageException",
                    "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048."):
        kms.decrypt(KeyId=md["KeyId"], CiphertextBlob=ct)


def test_rsa_encryption_context_refused(kms, keys):
    md = keys[("RSA_2048", "ENCRYPT_DECRYPT")]
    msg = "EncryptionContext is not supported when encrypting/decrypting with asymmetric CMKs."
    with raises_aws("ValidationException", msg):
        kms.encrypt(KeyId=md["KeyId"], Plaintext=b"p", EncryptionAlgorithm="RSAES_OAEP_SHA_1",
                    EncryptionContext={"a": "b"})
    ct = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"p",
                     EncryptionAlgorithm="RSAES_OAEP_SHA_1")["CiphertextBlob"]
    with raises_aws("ValidationException", msg):
        kms.decrypt(KeyId=md["KeyId"], CiphertextBlob=ct, EncryptionAlgorithm="RSAES_OAEP_SHA_1",
                    EncryptionContext={"a": "b"})


def test_rsa_reencrypt(kms, keys, public_keys, tresor):
    src = keys[("RSA_2048", "ENCRYPT_DECRYPT")]
    dst = keys[("RSA_4096", "ENCRYPT_DECRYPT")]
    sym = new_key(kms)
    ct = public_keys[("RSA_2048", "ENCRYPT_DECRYPT")].encrypt(b"move me", _oaep("RSAES_OAEP_SHA_1"))
    # RSA -> symmetric, with a destination context.
    out = tresor.call("ReEncrypt", CiphertextBlob=b64(ct), SourceKeyId=src["KeyId"],
                      SourceEncryptionAlgorithm="RSAES_OAEP_SHA_1",
                      DestinationKeyId=sym["KeyId"], DestinationEncryptionContext={"k": "v"})
    assert out["SourceKeyId"] == src["Arn"] and out["KeyId"] == sym["Arn"]
    assert out["SourceEncryptionAlgorithm"] == "RSAES_OAEP_SHA_1"
    assert out["DestinationEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert "SourceKeyMaterialId" not in out and len(out["DestinationKeyMaterialId"]) == 64
    out["CiphertextBlob"] = base64.b64decode(out["CiphertextBlob"])
    assert kms.decrypt(CiphertextBlob=out["CiphertextBlob"],
                       EncryptionContext={"k": "v"})["Plaintext"] == b"move me"
    # symmetric -> RSA.
    back = tresor.call("ReEncrypt", CiphertextBlob=b64(out["CiphertextBlob"]),
                       SourceEncryptionContext={"k": "v"}, DestinationKeyId=dst["KeyId"],
                       DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert back["DestinationEncryptionAlgorithm"] == "RSAES_OAEP_SHA_256"
    assert "DestinationKeyMaterialId" not in back and len(back["SourceKeyMaterialId"]) == 64
    back["CiphertextBlob"] = base64.b64decode(back["CiphertextBlob"])
    assert len(back["CiphertextBlob"]) == 512
    assert kms.decrypt(KeyId=dst["KeyId"], CiphertextBlob=back["CiphertextBlob"],
                       EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"move me"
    # To an RSA key: no destination context, and its algorithm is required.
    with raises_aws("ValidationException", "EncryptionContext is not supported when "
                    "encrypting/decrypting with asymmetric CMKs."):
        kms.re_encrypt(CiphertextBlob=ct, SourceKeyId=src["KeyId"],
                       SourceEncryptionAlgorithm="RSAES_OAEP_SHA_1", DestinationKeyId=dst["KeyId"],
                       DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_1",
                       DestinationEncryptionContext={"a": "b"})
    with raises_aws("InvalidKeyUsageException",
                    "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_4096."):
        kms.re_encrypt(CiphertextBlob=ct, SourceKeyId=src["KeyId"],
                       SourceEncryptionAlgorithm="RSAES_OAEP_SHA_1", DestinationKeyId=dst["KeyId"])


def test_rsa_encrypt_decrypt_with_the_cli(tresor, keys, tmp_path):
    md = keys[("RSA_3072", "ENCRYPT_DECRYPT")]
    pt = tmp_path / "pt.bin"
    pt.write_bytes(b"cli plaintext")
    rc, out, err = tresor.cli("kms", "encrypt", "--key-id", md["KeyId"], "--plaintext",
                              f"fileb://{pt}", "--encryption-algorithm", "RSAES_OAEP_SHA_256")
    assert rc == 0, err
    ct = tmp_path / "ct.bin"
    ct.write_bytes(base64.b64decode(out["CiphertextBlob"]))
    rc, out, err = tresor.cli("kms", "decrypt", "--key-id", md["KeyId"], "--ciphertext-blob",
                              f"fileb://{ct}", "--encryption-algorithm", "RSAES_OAEP_SHA_256")
    assert rc == 0, err
    assert base64.b64decode(out["Plaintext"]) == b"cli plaintext"


# ---------------------------------------------------------------------------
# GenerateMac / VerifyMac


@pytest.mark.parametrize("spec", list(HMAC_SPECS))
def test_generate_verify_mac(kms, keys, spec):
    alg, n = HMAC_SPECS[spec]
    md = keys[(spec, "GENERATE_VERIFY_MAC")]
    msg = os.urandom(64)
    got = kms.generate_mac(KeyId=md["KeyId"], Message=msg, MacAlgorithm=alg)
    assert got["KeyId"] == md["Arn"] and got["MacAlgorithm"] == alg
    mac = got["Mac"]
    assert len(mac) == n
    # Deterministic, and it depends on the message and the key.
    assert kms.generate_mac(KeyId=md["KeyId"], Message=msg, MacAlgorithm=alg)["Mac"] == mac
    assert kms.generate_mac(KeyId=md["KeyId"], Message=msg + b"x", MacAlgorithm=alg)["Mac"] != mac
    other = new_key(kms, KeySpec=spec, KeyUsage="GENERATE_VERIFY_MAC")
    assert kms.generate_mac(KeyId=other["KeyId"], Message=msg, MacAlgorithm=alg)["Mac"] != mac
    v = kms.verify_mac(KeyId=md["KeyId"], Message=msg, Mac=mac, MacAlgorithm=alg)
    assert v == {**v, "KeyId": md["Arn"], "MacValid": True, "MacAlgorithm": alg}
    # Tampering: every byte of the MAC, the message, a truncation, another key.
    for pos in range(n):
        bad = bytearray(mac)
        bad[pos] ^= 0x01
        with raises_aws("KMSInvalidMacException", ""):
            kms.verify_mac(KeyId=md["KeyId"], Message=msg, Mac=bytes(bad), MacAlgorithm=alg)
    for m, k, mc in ((msg + b"!", md, mac), (msg, md, mac[:-1]), (msg, other, mac)):
        with raises_aws("KMSInvalidMacException", ""):
            kms.verify_mac(KeyId=k["KeyId"], Message=m, Mac=mc, MacAlgorithm=alg)


def test_mac_errors(kms, keys, tresor):
    md = keys[("HMAC_256", "GENERATE_VERIFY_MAC")]
    with raises_aws("InvalidKeyUsageException",
                    "Algorithm HMAC_SHA_512 is incompatible with key spec HMAC_256."):
        kms.generate_mac(KeyId=md["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_512")
    with raises_aws("ValidationException", contains="Member must have length less than or equal to 4096"):
        kms.generate_mac(KeyId=md["KeyId"], Message=b"m" * 4097, MacAlgorithm="HMAC_SHA_256")
    assert len(kms.generate_mac(KeyId=md["KeyId"], Message=b"m" * 4096,
                                MacAlgorithm="HMAC_SHA_256")["Mac"]) == 32
    with raises_aws("DryRunOperationException",
                    "The request would have succeeded, but the DryRun option is set."):
        tresor.call("GenerateMac", KeyId=md["KeyId"], Message=b64(b"m"),
                    MacAlgorithm="HMAC_SHA_256", DryRun=True)


def test_mac_with_the_cli(tresor, keys, tmp_path):
    md = keys[("HMAC_512", "GENERATE_VERIFY_MAC")]
    m = tmp_path / "m.bin"
    m.write_bytes(b"token payload")
    rc, out, err = tresor.cli("kms", "generate-mac", "--key-id", md["KeyId"], "--message",
                              f"fileb://{m}", "--mac-algorithm", "HMAC_SHA_512")
    assert rc == 0, err
    mac = tmp_path / "mac.bin"
    mac.write_bytes(base64.b64decode(out["Mac"]))
    rc, out, err = tresor.cli("kms", "verify-mac", "--key-id", md["KeyId"], "--message",
                              f"fileb://{m}", "--mac", f"fileb://{mac}",
                              "--mac-algorithm", "HMAC_SHA_512")
    assert rc == 0 and out["MacValid"] is True, err


# ---------------------------------------------------------------------------
# Grants


def test_grant_operations_per_key_type(kms, keys, tresor):
    grantee = f"arn:aws:iam::{keys[('RSA_2048', 'SIGN_VERIFY')]['AWSAccountId']}:root"
    cases = [
        (keys[("RSA_2048", "SIGN_VERIFY")], ["Sign", "Verify", "GetPublicKey", "DescribeKey"],
         ["Encrypt"]),
        (keys[("RSA_2048", "ENCRYPT_DECRYPT")], ["Encrypt", "Decrypt", "GetPublicKey"],
         ["GenerateDataKey"]),
        (keys[("HMAC_256", "GENERATE_VERIFY_MAC")], ["GenerateMac", "VerifyMac"], ["Sign"]),
    ]
    for k, good, bad in cases:
        kms.create_grant(KeyId=k["KeyId"], GranteePrincipal=grantee, Operations=good)
        with raises_aws("ValidationException",
                        f"Grant operations {','.join(bad)} are not supported for a KMS key with "
                        f"key spec {k['KeySpec']} and key usage {k['KeyUsage']}."):
            kms.create_grant(KeyId=k["KeyId"], GranteePrincipal=grantee, Operations=good + bad)


# ---------------------------------------------------------------------------
# Authorization: the new actions and their condition keys, grants


def test_condition_keys_of_sign_and_mac(tresor):
    from tresor_e2e import allow, denied_msg, make_user
    root = tresor.root_user
    sk = root.kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    hk = root.kms.create_key(KeySpec="HMAC_384", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    ek = root.kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    u = make_user(root, policy=[
        allow(["kms:Sign", "kms:Verify"], sk["Arn"], condition={
            "StringEquals": {"kms:SigningAlgorithm": "ECDSA_SHA_256", "kms:MessageType": "DIGEST",
                             "kms:KeySpec": "ECC_NIST_P256", "kms:KeyUsage": "SIGN_VERIFY"}}),
        allow("kms:GenerateMac", hk["Arn"],
              condition={"StringEquals": {"kms:MacAlgorithm": "HMAC_SHA_384"}}),
        allow("kms:GetPublicKey", sk["Arn"]),
        allow("kms:Encrypt", ek["Arn"],
              condition={"StringEquals": {"kms:EncryptionAlgorithm": "RSAES_OAEP_SHA_256"}}),
    ])
    digest = hashlib.sha256(b"m").digest()
    sig = u.kms.sign(KeyId=sk["KeyId"], Message=digest, MessageType="DIGEST",
                     SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert u.kms.verify(KeyId=sk["KeyId"], Message=digest, MessageType="DIGEST", Signature=sig,
                        SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"] is True
    # RAW (the default when MessageType is omitted) does not match.
    with raises_aws("AccessDeniedException", denied_msg(u.arn, "kms:Sign", sk["Arn"])):
        u.kms.sign(KeyId=sk["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
    assert u.kms.get_public_key(KeyId=sk["KeyId"])["KeySpec"] == "ECC_NIST_P256"
    u.kms.generate_mac(KeyId=hk["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_384")
    with raises_aws("AccessDeniedException", denied_msg(u.arn, "kms:VerifyMac", hk["Arn"])):
        u.kms.verify_mac(KeyId=hk["KeyId"], Message=b"m", Mac=b"x" * 48,
                         MacAlgorithm="HMAC_SHA_384")
    with raises_aws("AccessDeniedException", denied_msg(u.arn, "kms:GetPublicKey", hk["Arn"])):
        u.kms.get_public_key(KeyId=hk["KeyId"])
    u.kms.encrypt(KeyId=ek["KeyId"], Plaintext=b"p", EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    with raises_aws("AccessDeniedException", denied_msg(u.arn, "kms:Encrypt", ek["Arn"])):
        u.kms.encrypt(KeyId=ek["KeyId"], Plaintext=b"p", EncryptionAlgorithm="RSAES_OAEP_SHA_1")


def test_grant_allows_sign(tresor):
    from tresor_e2e import denied_msg, make_user
    root = tresor.root_user
    sk = root.kms.create_key(KeySpec="ECC_NIST_P384", KeyUsage="SIGN_VERIFY")["KeyMetadata"]
    u = make_user(root)
    with raises_aws("AccessDeniedException", denied_msg(u.arn, "kms:Sign", sk["Arn"])):
        u.kms.sign(KeyId=sk["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_384")
    root.kms.create_grant(KeyId=sk["KeyId"], GranteePrincipal=u.arn, Operations=["Sign"])
    sig = u.kms.sign(KeyId=sk["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_384")["Signature"]
    pub = serialization.load_der_public_key(root.kms.get_public_key(KeyId=sk["KeyId"])["PublicKey"])
    _verify_offline(pub, "ECDSA_SHA_384", b"m", sig)
    with raises_aws("AccessDeniedException", denied_msg(u.arn, "kms:Verify", sk["Arn"])):
        u.kms.verify(KeyId=sk["KeyId"], Message=b"m", Signature=sig, SigningAlgorithm="ECDSA_SHA_384")


def test_audit_hmacs_messages_signatures_and_macs(tresor_factory, tmp_path):
    """Message, Signature and Mac are recorded only as their HMAC, like
    Plaintext (the audit log's sensitive members)."""
    import json
    import subprocess
    from tresor_e2e import tresor_bin
    log = tmp_path / "audit.log"
    srv = tresor_factory("audit-asym", args=["--audit-log", log])
    k = srv.kms()
    message = b"audited-message-3c4d5e6f"
    sk = new_key(k, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    hk = new_key(k, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    sig = k.sign(KeyId=sk["KeyId"], Message=message, SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    k.verify(KeyId=sk["KeyId"], Message=message, Signature=sig, SigningAlgorithm="ECDSA_SHA_256")
    mac = k.generate_mac(KeyId=hk["KeyId"], Message=message, MacAlgorithm="HMAC_SHA_256")["Mac"]
    k.verify_mac(KeyId=hk["KeyId"], Message=message, Mac=mac, MacAlgorithm="HMAC_SHA_256")
    srv.stop_clean()
    raw = log.read_bytes()
    for needle in (message, b64(message).encode(), b64(sig).encode(), b64(mac).encode()):
        assert needle not in raw
    recs = [json.loads(line) for line in raw.decode().splitlines()]
    p = subprocess.run([str(tresor_bin()), "audit", "hmac", "--data-dir", str(srv.data_dir),
                        "--decode", b64(message)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    want = p.stdout.strip()
    for op, members in (("Sign", ["Message"]), ("Verify", ["Message", "Signature"]),
                        ("GenerateMac", ["Message"]), ("VerifyMac", ["Message", "Mac"])):
        rec = [r for r in recs if r.get("operation") == f"TrentService.{op}"][0]
        assert rec["request"]["Message"] == want
        for m in members:
            assert rec["request"][m].startswith("hmac-sha256:")


def test_material_survives_restart_check_and_root_key_rotation(tresor_factory):
    """The private keys are stored wrapped like symmetric material: after a
    restart the public key is the same and old signatures verify; `tresor
    check` unwraps every material (of any length) and reports the store
    clean."""
    srv = tresor_factory("asym-check")
    k = srv.kms()
    made = [new_key(k, KeySpec="RSA_4096", KeyUsage="SIGN_VERIFY"),
            new_key(k, KeySpec="ECC_NIST_P521", KeyUsage="SIGN_VERIFY"),
            new_key(k, KeySpec="HMAC_512", KeyUsage="GENERATE_VERIFY_MAC")]
    pub = k.get_public_key(KeyId=made[0]["KeyId"])["PublicKey"]
    sig = k.sign(KeyId=made[1]["KeyId"], Message=b"m", SigningAlgorithm="ECDSA_SHA_512")["Signature"]
    mac = k.generate_mac(KeyId=made[2]["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_512")["Mac"]
    srv.restart()
    k = srv.kms()
    assert k.get_public_key(KeyId=made[0]["KeyId"])["PublicKey"] == pub
    assert k.verify(KeyId=made[1]["KeyId"], Message=b"m", Signature=sig,
                    SigningAlgorithm="ECDSA_SHA_512")["SignatureValid"] is True
    assert k.verify_mac(KeyId=made[2]["KeyId"], Message=b"m", Mac=mac,
                        MacAlgorithm="HMAC_SHA_512")["MacValid"] is True
    srv.stop_clean()
    p = srv.run_tresor("check", "--data-dir", srv.data_dir)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "kms keys 3, key materials 3" in p.stdout and p.stdout.strip().endswith("clean")
    if srv.store_url:               # rotate-root-key rotates a SQLite store only
        return
    # A new root key re-wraps these materials too (up to ~2.4 KiB each).
    from tresor_e2e import run_tresor_cmd
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRESOR_")}
    p = run_tresor_cmd(["rotate-root-key", "--data-dir", srv.data_dir], srv.log_dir,
                       capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "kms key materials 3" in p.stdout
    srv.start()
    k = srv.kms()
    assert k.get_public_key(KeyId=made[0]["KeyId"])["PublicKey"] == pub
    assert k.verify(KeyId=made[1]["KeyId"], Message=b"m", Signature=sig,
                    SigningAlgorithm="ECDSA_SHA_512")["SignatureValid"] is True
    assert k.generate_mac(KeyId=made[2]["KeyId"], Message=b"m",
                          MacAlgorithm="HMAC_SHA_512")["Mac"] == mac


# ---------------------------------------------------------------------------
# GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext

PAIR_SPECS = {"RSA_2048": rsa.RSAPrivateKey, "RSA_3072": rsa.RSAPrivateKey,
              "RSA_4096": rsa.RSAPrivateKey, "ECC_NIST_P256": ec.EllipticCurvePrivateKey,
              "ECC_NIST_P384": ec.EllipticCurvePrivateKey, "ECC_NIST_P521": ec.EllipticCurvePrivateKey,
              "ECC_SECG_P256K1": ec.EllipticCurvePrivateKey}


def _spki(key):
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.mark.parametrize("spec", list(PAIR_SPECS))
def test_generate_data_key_pair_halves_match(kms, tresor, spec):
    wrap = new_key(kms)
    ctx = {"purpose": "pair", "spec": spec}
    got = kms.generate_data_key_pair(KeyId=wrap["KeyId"], KeyPairSpec=spec, EncryptionContext=ctx)
    assert got["KeyId"] == wrap["Arn"] and got["KeyPairSpec"] == spec
    # The plaintext private key is PKCS#8 DER of the spec; its public half
    # is PublicKey, byte for byte.
    priv = serialization.load_der_private_key(got["PrivateKeyPlaintext"], password=None)
    assert isinstance(priv, PAIR_SPECS[spec])
    if spec.startswith("RSA"):
        assert priv.key_size == int(spec[4:])
    assert got["PrivateKeyPlaintext"] == priv.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert _spki(priv) == got["PublicKey"]
    # The ciphertext is an ordinary blob under the symmetric key: Decrypt
    # with the same context gives the private key; another context does not.
    assert kms.decrypt(CiphertextBlob=got["PrivateKeyCiphertextBlob"],
                       EncryptionContext=ctx)["Plaintext"] == got["PrivateKeyPlaintext"]
    with raises_aws("InvalidCiphertextException", ""):
        kms.decrypt(CiphertextBlob=got["PrivateKeyCiphertextBlob"], EncryptionContext={"x": "y"})
    # A signature with the offline private key verifies with the public key.
    if spec.startswith("ECC"):
        sig = priv.sign(b"pair", ec.ECDSA(hashes.SHA256()))
        serialization.load_der_public_key(got["PublicKey"]).verify(sig, b"pair", ec.ECDSA(hashes.SHA256()))
    # Without plaintext: no private key in the reply, the same checks through Decrypt.
    wo = tresor.call("GenerateDataKeyPairWithoutPlaintext", KeyId=wrap["Arn"], KeyPairSpec=spec,
                     EncryptionContext=ctx)
    assert "PrivateKeyPlaintext" not in wo and len(wo["KeyMaterialId"]) == 64
    assert wo["KeyId"] == wrap["Arn"] and wo["KeyPairSpec"] == spec
    der = kms.decrypt(CiphertextBlob=base64.b64decode(wo["PrivateKeyCiphertextBlob"]),
                      EncryptionContext=ctx)["Plaintext"]
    assert _spki(serialization.load_der_private_key(der, password=None)) == \
        base64.b64decode(wo["PublicKey"])
    # Fresh pairs every time.
    assert wo["PublicKey"] != b64(got["PublicKey"])


def test_generate_data_key_pair_errors(kms, keys):
    with raises_aws("UnsupportedOperationException", "KeyPairSpec SM2 is not supported"):
        kms.generate_data_key_pair(KeyId=new_key(kms)["KeyId"], KeyPairSpec="SM2")
    ed = keys[("RSA_2048", "ENCRYPT_DECRYPT")]
    with raises_aws("InvalidKeyUsageException",
                    "Algorithm SYMMETRIC_DEFAULT is incompatible with key spec RSA_2048."):
        kms.generate_data_key_pair(KeyId=ed["KeyId"], KeyPairSpec="ECC_NIST_P256")
    sv = keys[("ECC_NIST_P256", "SIGN_VERIFY")]
    with raises_aws("InvalidKeyUsageException", f"{sv['Arn']} key usage is SIGN_VERIFY which is "
                    "not valid for GenerateDataKeyPairWithoutPlaintext."):
        kms.generate_data_key_pair_without_plaintext(KeyId=sv["KeyId"], KeyPairSpec="RSA_2048")
    with raises_aws("ValidationException", contains="Member must satisfy enum value set"):
        kms.generate_data_key_pair(KeyId=sv["KeyId"], KeyPairSpec="RSA_1024")


def test_generate_data_key_pair_with_the_cli(tresor, tmp_path):
    wrap = new_key(tresor.kms())
    rc, out, err = tresor.cli("kms", "generate-data-key-pair", "--key-id", wrap["KeyId"],
                              "--key-pair-spec", "ECC_NIST_P384")
    assert rc == 0, err
    priv = serialization.load_der_private_key(base64.b64decode(out["PrivateKeyPlaintext"]),
                                              password=None)
    assert _spki(priv) == base64.b64decode(out["PublicKey"])
    assert isinstance(priv.curve, ec.SECP384R1)


def test_generate_data_key_pair_condition_key(tresor):
    from tresor_e2e import allow, denied_msg, make_user
    root = tresor.root_user
    wrap = root.kms.create_key()["KeyMetadata"]
    u = make_user(root, policy=[allow("kms:GenerateDataKeyPair", wrap["Arn"], condition={
        "StringEquals": {"kms:DataKeyPairSpec": "ECC_NIST_P256"}})])
    u.kms.generate_data_key_pair(KeyId=wrap["KeyId"], KeyPairSpec="ECC_NIST_P256")
    with raises_aws("AccessDeniedException", denied_msg(u.arn, "kms:GenerateDataKeyPair", wrap["Arn"])):
        u.kms.generate_data_key_pair(KeyId=wrap["KeyId"], KeyPairSpec="RSA_2048")
