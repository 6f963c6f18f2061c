"""
KMS keys with imported key material end to end: CreateKey with Origin
EXTERNAL (PendingImport, no material), GetParametersForImport for every
wrapping algorithm and key spec, ImportKeyMaterial, DeleteImportedKeyMaterial,
re-import, the expiry of material at ValidTo, the key-state answers of a key
without material, rotation on an EXTERNAL key, the condition keys of the new
actions, and the AWS CLI.  Expected values, codes and messages are AWS's.

Independent verification: the material is wrapped offline with Python's
`cryptography` using the public key GetParametersForImport returns and the
algorithm AWS documents (RSAES-OAEP; or RSA_AES_KEY_WRAP: a fresh AES-256
key under RSAES-OAEP followed by the material under RFC 5649 AES key wrap
with padding), and every ciphertext tresor makes under the imported key is
opened offline -- HKDF-SHA256 and AES-256-GCM as docs/internals/CIPHERTEXT.md
specifies, from the material the test chose -- so the key really encrypts
with the imported bytes.
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import struct
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

from tresor_e2e import STORE, allow, denied_msg, make_user, new_key, raises_aws, run_tresor_cmd

WRAP_ALGS = ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_1",
             "RSA_AES_KEY_WRAP_SHA_256"]
WRAP_SPECS = ["RSA_2048", "RSA_3072", "RSA_4096"]
HOUR = 3600
DAY = 86400
INCORRECT_MATERIAL_MSG = ("The request was rejected because the key material in the request is, "
                          "expired, invalid, or is not the same key material that was previously "
                          "imported into this KMS key.")
INVALID_TOKEN_MSG = ("The request was rejected because the provided import token is invalid or "
                     "is associated with a different KMS key.")


def wrap(material, public_der, alg):
    """EncryptedKeyMaterial as AWS documents it for `alg`."""
    pub = serialization.load_der_public_key(public_der)
    h = hashes.SHA1() if alg.endswith("SHA_1") else hashes.SHA256()
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=h), algorithm=h, label=None)
    if alg.startswith("RSAES_OAEP"):
        return pub.encrypt(material, oaep)
    aes = os.urandom(32)
    return pub.encrypt(aes, oaep) + aes_key_wrap_with_padding(aes, material)


def open_offline(blob, material, context=None):
    """Open a tresor ciphertext blob with the key's material, outside
    tresor (docs/internals/CIPHERTEXT.md: version 1, or 2 for a multi-Region
    key, which differ only in how the key id reads)."""
    assert blob[0] in (1, 2)
    header, key_id, version = blob[:49], blob[1:17], blob[17:21]
    salt, iv, body = blob[21:37], blob[37:49], blob[49:]
    k = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt,
             info=b"tresor/kms/v1" + key_id + version).derive(material)
    pairs = sorted((context or {}).items(), key=lambda kv: kv[0].encode())
    aad = header + struct.pack(">I", len(pairs)) + b"".join(
        struct.pack(">I", len(a.encode())) + a.encode() + struct.pack(">I", len(b.encode())) +
        b.encode() for a, b in pairs)
    return AESGCM(k).decrypt(iv, body, aad)


def import_material(kms, key_id, material, alg="RSAES_OAEP_SHA_256", spec="RSA_2048", **kw):
    p = kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=alg, WrappingKeySpec=spec)
    if not kw:
        kw = {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}
    kms.import_key_material(KeyId=key_id, ImportToken=p["ImportToken"],
                            EncryptedKeyMaterial=wrap(material, p["PublicKey"], alg), **kw)
    return p


def pending_import_msg(arn):
    return f"{arn} is pending import."


def origin_msg(arn, origin):
    return f"{arn} origin is {origin} which is not valid for this operation."


@pytest.fixture
def external(kms):
    return new_key(kms, Origin="EXTERNAL", Description="imported")


# ---------------------------------------------------------------------------
# A key without material


def test_create_external_key_pending_import(kms, external):
    md = external
    assert md["Origin"] == "EXTERNAL"
    assert md["KeyState"] == "PendingImport"
    assert md["Enabled"] is False
    assert md["KeySpec"] == "SYMMETRIC_DEFAULT" and md["KeyUsage"] == "ENCRYPT_DECRYPT"
    for absent in ("ExpirationModel", "ValidTo", "CurrentKeyMaterialId"):
        assert absent not in md, absent
    d = kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]
    assert d["KeyState"] == "PendingImport" and d["Origin"] == "EXTERNAL"
    assert "ExpirationModel" not in d and "ValidTo" not in d


def test_pending_import_key_refuses_crypto_and_state_changes(kms, external):
    kid, arn = external["KeyId"], external["Arn"]
    msg = pending_import_msg(arn)
    with raises_aws("KMSInvalidStateException", msg):
        kms.encrypt(KeyId=kid, Plaintext=b"x")
    with raises_aws("KMSInvalidStateException", msg):
        kms.generate_data_key(KeyId=kid, KeySpec="AES_256")
    with raises_aws("KMSInvalidStateException", msg):
        kms.generate_data_key_without_plaintext(KeyId=kid, NumberOfBytes=16)
    with raises_aws("KMSInvalidStateException", msg):
        kms.enable_key(KeyId=kid)
    with raises_aws("KMSInvalidStateException", msg):
        kms.disable_key(KeyId=kid)
    # What needs no material works.
    kms.update_key_description(KeyId=kid, Description="still pending")
    kms.tag_resource(KeyId=kid, Tags=[{"TagKey": "t", "TagValue": "v"}])
    kms.create_alias(AliasName=f"alias/imp-{kid[:8]}", TargetKeyId=kid)
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "PendingImport"
    # Deleting material that is not there changes nothing.
    kms.delete_imported_key_material(KeyId=kid)
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "PendingImport"


def test_rotation_of_external_key_unsupported(kms, tresor, external):
    kid, arn = external["KeyId"], external["Arn"]
    import_material(kms, kid, os.urandom(32))
    for call in (lambda: kms.enable_key_rotation(KeyId=kid),
                 lambda: kms.disable_key_rotation(KeyId=kid)):
        with raises_aws("UnsupportedOperationException", origin_msg(arn, "EXTERNAL")):
            call()
    # On demand it rotates to material imported for it
    # (test_kms_import_versions.py); with none waiting there is nothing to
    # rotate to.
    with raises_aws("KMSInvalidStateException",
                    f"{arn} has no imported key material in PENDING_ROTATION state."):
        tresor.call("RotateKeyOnDemand", KeyId=kid)


def test_import_operations_on_aws_kms_key(kms):
    md = new_key(kms)
    msg = origin_msg(md["Arn"], "AWS_KMS")
    with raises_aws("UnsupportedOperationException", msg):
        kms.get_parameters_for_import(KeyId=md["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                      WrappingKeySpec="RSA_2048")
    with raises_aws("UnsupportedOperationException", msg):
        kms.delete_imported_key_material(KeyId=md["KeyId"])
    with raises_aws("UnsupportedOperationException", msg):
        kms.import_key_material(KeyId=md["KeyId"], ImportToken=b"t", EncryptedKeyMaterial=b"m",
                                ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


# ---------------------------------------------------------------------------
# HMAC and asymmetric keys: material checked against the spec, used as given


HMAC_SPECS = {"HMAC_224": ("HMAC_SHA_224", hashlib.sha224, 28, 64),
              "HMAC_256": ("HMAC_SHA_256", hashlib.sha256, 32, 64),
              "HMAC_384": ("HMAC_SHA_384", hashlib.sha384, 48, 128),
              "HMAC_512": ("HMAC_SHA_512", hashlib.sha512, 64, 128)}


@pytest.mark.parametrize("spec", sorted(HMAC_SPECS))
def test_import_hmac_key(kms, spec):
    alg, h, lo, hi = HMAC_SPECS[spec]
    k = new_key(kms, Origin="EXTERNAL", KeySpec=spec, KeyUsage="GENERATE_VERIFY_MAC")
    assert k["KeyState"] == "PendingImport" and k["MacAlgorithms"] == [alg]
    with raises_aws("KMSInvalidStateException", pending_import_msg(k["Arn"])):
        kms.generate_mac(KeyId=k["KeyId"], Message=b"m", MacAlgorithm=alg)
    for n in (lo - 1, hi + 1):
        with raises_aws("IncorrectKeyMaterialException", INCORRECT_MATERIAL_MSG):
            import_material(kms, k["KeyId"], os.urandom(n))
    material = os.urandom(hi)
    import_material(kms, k["KeyId"], material, alg="RSA_AES_KEY_WRAP_SHA_256")
    mac = kms.generate_mac(KeyId=k["KeyId"], Message=b"the message", MacAlgorithm=alg)["Mac"]
    assert mac == hmac.new(material, b"the message", h).digest()
    offline = hmac.new(material, b"offline", h).digest()
    assert kms.verify_mac(KeyId=k["KeyId"], Message=b"offline", Mac=offline,
                          MacAlgorithm=alg)["MacValid"] is True
    kms.delete_imported_key_material(KeyId=k["KeyId"])
    with raises_aws("IncorrectKeyMaterialException", INCORRECT_MATERIAL_MSG):
        import_material(kms, k["KeyId"], os.urandom(hi))
    import_material(kms, k["KeyId"], material)
    assert kms.generate_mac(KeyId=k["KeyId"], Message=b"the message",
                            MacAlgorithm=alg)["Mac"] == mac


def pkcs8(key):
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def spki(key):
    return key.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


EC_SPECS = {"ECC_NIST_P256": (ec.SECP256R1, "ECDSA_SHA_256", hashes.SHA256),
            "ECC_NIST_P384": (ec.SECP384R1, "ECDSA_SHA_384", hashes.SHA384),
            "ECC_NIST_P521": (ec.SECP521R1, "ECDSA_SHA_512", hashes.SHA512),
            "ECC_SECG_P256K1": (ec.SECP256K1, "ECDSA_SHA_256", hashes.SHA256)}


@pytest.mark.parametrize("spec", sorted(EC_SPECS))
def test_import_ecc_signing_key(kms, spec):
    curve, alg, h = EC_SPECS[spec]
    k = new_key(kms, Origin="EXTERNAL", KeySpec=spec, KeyUsage="SIGN_VERIFY")
    with raises_aws("KMSInvalidStateException", pending_import_msg(k["Arn"])):
        kms.get_public_key(KeyId=k["KeyId"])
    # Another curve's key, garbage, an RSA key: not this key's material.
    other = ec.SECP384R1() if curve is not ec.SECP384R1 else ec.SECP256R1()
    for bad in (pkcs8(ec.generate_private_key(other)), os.urandom(100),
                pkcs8(rsa.generate_private_key(65537, 2048))):
        with raises_aws("IncorrectKeyMaterialException", INCORRECT_MATERIAL_MSG):
            import_material(kms, k["KeyId"], bad, alg="RSA_AES_KEY_WRAP_SHA_256")
    priv = ec.generate_private_key(curve())
    import_material(kms, k["KeyId"], pkcs8(priv), alg="RSA_AES_KEY_WRAP_SHA_256", spec="RSA_3072")
    assert kms.get_public_key(KeyId=k["KeyId"])["PublicKey"] == spki(priv)
    sig = kms.sign(KeyId=k["KeyId"], Message=b"signed in tresor", SigningAlgorithm=alg)["Signature"]
    priv.public_key().verify(sig, b"signed in tresor", ec.ECDSA(h()))
    offline = priv.sign(b"signed offline", ec.ECDSA(h()))
    assert kms.verify(KeyId=k["KeyId"], Message=b"signed offline", Signature=offline,
                      SigningAlgorithm=alg)["SignatureValid"] is True
    # Re-import: the same pair is taken, another is not.
    kms.delete_imported_key_material(KeyId=k["KeyId"])
    with raises_aws("IncorrectKeyMaterialException", INCORRECT_MATERIAL_MSG):
        import_material(kms, k["KeyId"], pkcs8(ec.generate_private_key(curve())),
                        alg="RSA_AES_KEY_WRAP_SHA_1")
    import_material(kms, k["KeyId"], pkcs8(priv), alg="RSA_AES_KEY_WRAP_SHA_1")
    assert kms.get_public_key(KeyId=k["KeyId"])["PublicKey"] == spki(priv)


@pytest.mark.parametrize("spec", ["RSA_2048", "RSA_3072", "RSA_4096"])
def test_import_rsa_keys(kms, spec):
    bits = int(spec.split("_")[1])
    priv = rsa.generate_private_key(65537, bits)
    e = new_key(kms, Origin="EXTERNAL", KeySpec=spec, KeyUsage="ENCRYPT_DECRYPT")
    s = new_key(kms, Origin="EXTERNAL", KeySpec=spec, KeyUsage="SIGN_VERIFY")
    with raises_aws("IncorrectKeyMaterialException", INCORRECT_MATERIAL_MSG):
        import_material(kms, e["KeyId"], pkcs8(rsa.generate_private_key(65537, bits + 1024
                                                                         if bits < 4096 else 2048)),
                        alg="RSA_AES_KEY_WRAP_SHA_256")
    for k in (e, s):
        import_material(kms, k["KeyId"], pkcs8(priv), alg="RSA_AES_KEY_WRAP_SHA_256",
                        spec="RSA_4096")
        assert kms.get_public_key(KeyId=k["KeyId"])["PublicKey"] == spki(priv)
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(),
                        label=None)
    ct = priv.public_key().encrypt(b"to the imported key", oaep)
    assert kms.decrypt(KeyId=e["KeyId"], CiphertextBlob=ct,
                       EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"to the imported key"
    ct = kms.encrypt(KeyId=e["KeyId"], Plaintext=b"from tresor",
                     EncryptionAlgorithm="RSAES_OAEP_SHA_256")["CiphertextBlob"]
    assert priv.decrypt(ct, oaep) == b"from tresor"
    sig = kms.sign(KeyId=s["KeyId"], Message=b"m", SigningAlgorithm="RSASSA_PSS_SHA_256")["Signature"]
    priv.public_key().verify(sig, b"m", padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                    salt_length=32), hashes.SHA256())


# ---------------------------------------------------------------------------
# GetParametersForImport


@pytest.mark.parametrize("spec", WRAP_SPECS)
def test_get_parameters_for_import(kms, external, spec):
    before = int(time.time())
    p = kms.get_parameters_for_import(KeyId=external["KeyId"],
                                      WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec=spec)
    assert p["KeyId"] == external["Arn"]
    pub = serialization.load_der_public_key(p["PublicKey"])
    assert pub.key_size == int(spec.split("_")[1])
    valid_to = int(p["ParametersValidTo"].timestamp())
    assert before + DAY - 5 <= valid_to <= int(time.time()) + DAY + 5
    # A fresh wrapping key and token on every call.
    q = kms.get_parameters_for_import(KeyId=external["KeyId"],
                                      WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec=spec)
    assert q["PublicKey"] != p["PublicKey"] and q["ImportToken"] != p["ImportToken"]
    # The token is opaque: no private key in it in the clear.
    assert b"\x30\x82" not in p["ImportToken"][:8]


def test_pkcs1_v1_5_wrapping_refused(kms, external):
    with raises_aws("ValidationException", contains="RSAES_PKCS1_V1_5"):
        kms.get_parameters_for_import(KeyId=external["KeyId"], WrappingAlgorithm="RSAES_PKCS1_V1_5",
                                      WrappingKeySpec="RSA_2048")


# ---------------------------------------------------------------------------
# ImportKeyMaterial


@pytest.mark.parametrize("alg", WRAP_ALGS)
def test_import_then_encrypt_decrypt(kms, external, alg):
    kid = external["KeyId"]
    material = os.urandom(32)
    import_material(kms, kid, material, alg=alg, spec="RSA_3072" if "AES" in alg else "RSA_2048")
    md = kms.describe_key(KeyId=kid)["KeyMetadata"]
    assert md["KeyState"] == "Enabled" and md["Enabled"] is True
    assert md["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    assert "ValidTo" not in md
    ctx = {"purpose": "import", "n": "1"}
    blob = kms.encrypt(KeyId=kid, Plaintext=b"bring your own key",
                       EncryptionContext=ctx)["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)["Plaintext"] == \
        b"bring your own key"
    # Sealed with the very bytes the test imported.
    assert open_offline(blob, material, ctx) == b"bring your own key"
    dk = kms.generate_data_key(KeyId=kid, NumberOfBytes=32)
    assert open_offline(dk["CiphertextBlob"], material) == dk["Plaintext"]


def test_same_material_in_two_keys(kms):
    material = os.urandom(32)
    a = new_key(kms, Origin="EXTERNAL")
    b = new_key(kms, Origin="EXTERNAL")
    import_material(kms, a["KeyId"], material)
    import_material(kms, b["KeyId"], material, alg="RSA_AES_KEY_WRAP_SHA_256")
    blob = kms.encrypt(KeyId=a["KeyId"], Plaintext=b"shared")["CiphertextBlob"]
    # The ciphertext names its key: it decrypts under a, not under b, even
    # though b has the same material (AWS: "you cannot decrypt ... with a
    # different KMS key").
    r = kms.decrypt(CiphertextBlob=blob)
    assert r["KeyId"] == a["Arn"] and r["Plaintext"] == b"shared"
    with raises_aws("IncorrectKeyException"):
        kms.decrypt(CiphertextBlob=blob, KeyId=b["KeyId"])
    # Re-encrypting under b works and gives b's blob.
    re = kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=b["KeyId"])
    assert re["KeyId"] == b["Arn"]
    assert kms.decrypt(CiphertextBlob=re["CiphertextBlob"])["Plaintext"] == b"shared"
    assert open_offline(re["CiphertextBlob"], material) == b"shared"


def test_delete_then_reimport_same_material(kms, external):
    kid, arn = external["KeyId"], external["Arn"]
    material = os.urandom(32)
    import_material(kms, kid, material)
    blob = kms.encrypt(KeyId=kid, Plaintext=b"kept")["CiphertextBlob"]
    kms.delete_imported_key_material(KeyId=kid)
    md = kms.describe_key(KeyId=kid)["KeyMetadata"]
    assert md["KeyState"] == "PendingImport" and md["Enabled"] is False
    assert "ExpirationModel" not in md and "CurrentKeyMaterialId" not in md
    with raises_aws("KMSInvalidStateException", pending_import_msg(arn)):
        kms.decrypt(CiphertextBlob=blob)
    # Different material is refused and changes nothing.
    with raises_aws("IncorrectKeyMaterialException", INCORRECT_MATERIAL_MSG):
        import_material(kms, kid, os.urandom(32))
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "PendingImport"
    # The same material brings the old ciphertexts back.
    import_material(kms, kid, material, alg="RSA_AES_KEY_WRAP_SHA_1", spec="RSA_4096")
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"kept"


def test_reimport_while_enabled_changes_expiry_and_keeps_state(kms, external):
    kid = external["KeyId"]
    material = os.urandom(32)
    import_material(kms, kid, material)
    kms.disable_key(KeyId=kid)
    valid_to = datetime.datetime.fromtimestamp(int(time.time()) + 30 * DAY, datetime.timezone.utc)
    import_material(kms, kid, material, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    md = kms.describe_key(KeyId=kid)["KeyMetadata"]
    assert md["KeyState"] == "Disabled"
    assert md["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    assert md["ValidTo"] == valid_to
    # The default model is KEY_MATERIAL_EXPIRES.
    p = kms.get_parameters_for_import(KeyId=kid, WrappingAlgorithm="RSAES_OAEP_SHA_1",
                                      WrappingKeySpec="RSA_2048")
    kms.import_key_material(KeyId=kid, ImportToken=p["ImportToken"], ValidTo=valid_to,
                            EncryptedKeyMaterial=wrap(material, p["PublicKey"], "RSAES_OAEP_SHA_1"))
    with raises_aws("IncorrectKeyMaterialException", INCORRECT_MATERIAL_MSG):
        import_material(kms, kid, os.urandom(32))


def test_import_negative_and_tamper_cases(kms, external):
    kid = external["KeyId"]
    other = new_key(kms, Origin="EXTERNAL")
    material = os.urandom(32)
    p = kms.get_parameters_for_import(KeyId=kid, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                      WrappingKeySpec="RSA_2048")
    enc = wrap(material, p["PublicKey"], "RSAES_OAEP_SHA_256")
    tok = p["ImportToken"]
    nx = {"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"}
    # Every byte position class of the token: format byte, IV, body, tag.
    for i in (0, 1, 13, len(tok) // 2, len(tok) - 1):
        bad = bytearray(tok)
        bad[i] ^= 0x01
        with raises_aws("InvalidImportTokenException", INVALID_TOKEN_MSG):
            kms.import_key_material(KeyId=kid, ImportToken=bytes(bad), EncryptedKeyMaterial=enc, **nx)
    with raises_aws("InvalidImportTokenException", INVALID_TOKEN_MSG):
        kms.import_key_material(KeyId=kid, ImportToken=tok[:40], EncryptedKeyMaterial=enc, **nx)
    # Another key's token.
    with raises_aws("InvalidImportTokenException", INVALID_TOKEN_MSG):
        kms.import_key_material(KeyId=other["KeyId"], ImportToken=tok, EncryptedKeyMaterial=enc,
                                **nx)
    # Tampered wrapped material; material under another wrapping key; the
    # wrong algorithm: no message, as Decrypt.
    bad = bytearray(enc)
    bad[10] ^= 0x80
    q = kms.get_parameters_for_import(KeyId=kid, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                      WrappingKeySpec="RSA_2048")
    for e in (bytes(bad), wrap(material, q["PublicKey"], "RSAES_OAEP_SHA_256"),
              wrap(material, p["PublicKey"], "RSAES_OAEP_SHA_1"), enc[:100]):
        with raises_aws("InvalidCiphertextException"):
            kms.import_key_material(KeyId=kid, ImportToken=tok, EncryptedKeyMaterial=e, **nx)
    # Material that is not 256 bits.
    for n in (16, 31, 33, 64):
        with raises_aws("IncorrectKeyMaterialException", INCORRECT_MATERIAL_MSG):
            kms.import_key_material(KeyId=kid, ImportToken=tok, **nx,
                                    EncryptedKeyMaterial=wrap(os.urandom(n), p["PublicKey"],
                                                              "RSAES_OAEP_SHA_256"))
    # The expiration model and ValidTo.
    with raises_aws("ValidationException",
                    "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES"):
        kms.import_key_material(KeyId=kid, ImportToken=tok, EncryptedKeyMaterial=enc)
    future = datetime.datetime.fromtimestamp(int(time.time()) + DAY, datetime.timezone.utc)
    with raises_aws("ValidationException", contains="KEY_MATERIAL_DOES_NOT_EXPIRE"):
        kms.import_key_material(KeyId=kid, ImportToken=tok, EncryptedKeyMaterial=enc,
                                ValidTo=future, **nx)
    for when in (int(time.time()) - 60, int(time.time()) + 366 * DAY):
        with raises_aws("ValidationException", contains="ValidTo"):
            kms.import_key_material(
                KeyId=kid, ImportToken=tok, EncryptedKeyMaterial=enc,
                ValidTo=datetime.datetime.fromtimestamp(when, datetime.timezone.utc))
    # None of it changed the key.
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "PendingImport"
    kms.import_key_material(KeyId=kid, ImportToken=tok, EncryptedKeyMaterial=enc, **nx)
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Enabled"


def test_pending_deletion_key(kms, external):
    kid, arn = external["KeyId"], external["Arn"]
    material = os.urandom(32)
    p = kms.get_parameters_for_import(KeyId=kid, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                      WrappingKeySpec="RSA_2048")
    kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
    msg = f"{arn} is pending deletion."
    with raises_aws("KMSInvalidStateException", msg):
        kms.get_parameters_for_import(KeyId=kid, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                      WrappingKeySpec="RSA_2048")
    with raises_aws("KMSInvalidStateException", msg):
        kms.import_key_material(KeyId=kid, ImportToken=p["ImportToken"],
                                EncryptedKeyMaterial=wrap(material, p["PublicKey"],
                                                          "RSAES_OAEP_SHA_256"),
                                ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    # Cancelled without material: back to PendingImport, not Disabled.
    kms.cancel_key_deletion(KeyId=kid)
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "PendingImport"


# ---------------------------------------------------------------------------
# Expiry, with the server's clock moved forward


def test_material_expires_and_token_expires(tresor_factory):
    srv = tresor_factory("import-expiry")
    kms = srv.kms()
    k = new_key(kms, Origin="EXTERNAL")
    kid, arn = k["KeyId"], k["Arn"]
    material = os.urandom(32)
    valid_to = datetime.datetime.fromtimestamp(int(time.time()) + HOUR, datetime.timezone.utc)
    import_material(kms, kid, material, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    md = kms.describe_key(KeyId=kid)["KeyMetadata"]
    assert md["ExpirationModel"] == "KEY_MATERIAL_EXPIRES" and md["ValidTo"] == valid_to
    blob = kms.encrypt(KeyId=kid, Plaintext=b"until then")["CiphertextBlob"]
    p = kms.get_parameters_for_import(KeyId=kid, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                      WrappingKeySpec="RSA_2048")
    enc = wrap(material, p["PublicKey"], "RSAES_OAEP_SHA_256")

    srv.restart({"TRESOR_CLOCK_OFFSET": str(2 * HOUR)})
    kms = srv.kms()

    def expired():
        assert kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "PendingImport"
    from tresor_e2e import eventually
    eventually(expired)
    md = kms.describe_key(KeyId=kid)["KeyMetadata"]
    assert "ExpirationModel" not in md and "ValidTo" not in md
    with raises_aws("KMSInvalidStateException", pending_import_msg(arn)):
        kms.decrypt(CiphertextBlob=blob)
    # The token made two hours ago is still good for a day: the same
    # material comes back.
    kms.import_key_material(KeyId=kid, ImportToken=p["ImportToken"], EncryptedKeyMaterial=enc,
                            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"until then"

    srv.restart({"TRESOR_CLOCK_OFFSET": str(DAY + 3 * HOUR)})
    kms = srv.kms()
    kms.delete_imported_key_material(KeyId=kid)
    with raises_aws("ExpiredImportTokenException", startswith="The request was rejected because "
                    "the specified import token is expired."):
        kms.import_key_material(KeyId=kid, ImportToken=p["ImportToken"], EncryptedKeyMaterial=enc,
                                ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "PendingImport"


# ---------------------------------------------------------------------------
# Authorization: the actions and their condition keys


def test_condition_keys_of_import(tresor):
    root = tresor.root_user
    k = root.kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    u = make_user(root, policy=[
        allow("kms:GetParametersForImport", k["Arn"], condition={
            "StringEquals": {"kms:WrappingAlgorithm": "RSA_AES_KEY_WRAP_SHA_256",
                             "kms:WrappingKeySpec": "RSA_4096", "kms:KeyOrigin": "EXTERNAL"}}),
        allow("kms:ImportKeyMaterial", k["Arn"], condition={
            "StringEquals": {"kms:ExpirationModel": "KEY_MATERIAL_EXPIRES"},
            "NumericLessThan": {"kms:ValidTo": str(int(time.time()) + 10 * DAY)}}),
    ])
    with raises_aws("AccessDeniedException",
                    denied_msg(u.arn, "kms:GetParametersForImport", k["Arn"])):
        u.kms.get_parameters_for_import(KeyId=k["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                        WrappingKeySpec="RSA_4096")
    with raises_aws("AccessDeniedException",
                    denied_msg(u.arn, "kms:GetParametersForImport", k["Arn"])):
        u.kms.get_parameters_for_import(KeyId=k["KeyId"],
                                        WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256",
                                        WrappingKeySpec="RSA_2048")
    p = u.kms.get_parameters_for_import(KeyId=k["KeyId"],
                                        WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256",
                                        WrappingKeySpec="RSA_4096")
    material = os.urandom(32)
    enc = wrap(material, p["PublicKey"], "RSA_AES_KEY_WRAP_SHA_256")
    with raises_aws("AccessDeniedException", denied_msg(u.arn, "kms:ImportKeyMaterial", k["Arn"])):
        u.kms.import_key_material(KeyId=k["KeyId"], ImportToken=p["ImportToken"],
                                  EncryptedKeyMaterial=enc,
                                  ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    far = datetime.datetime.fromtimestamp(int(time.time()) + 20 * DAY, datetime.timezone.utc)
    with raises_aws("AccessDeniedException", denied_msg(u.arn, "kms:ImportKeyMaterial", k["Arn"])):
        u.kms.import_key_material(KeyId=k["KeyId"], ImportToken=p["ImportToken"],
                                  EncryptedKeyMaterial=enc, ValidTo=far)
    near = datetime.datetime.fromtimestamp(int(time.time()) + 5 * DAY, datetime.timezone.utc)
    u.kms.import_key_material(KeyId=k["KeyId"], ImportToken=p["ImportToken"],
                              EncryptedKeyMaterial=enc, ValidTo=near)
    assert root.kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    with raises_aws("AccessDeniedException",
                    denied_msg(u.arn, "kms:DeleteImportedKeyMaterial", k["Arn"])):
        u.kms.delete_imported_key_material(KeyId=k["KeyId"])


# ---------------------------------------------------------------------------
# The AWS CLI


def test_import_with_the_aws_cli(tresor, tmp_path):
    rc, out, err = tresor.cli("kms", "create-key", "--origin", "EXTERNAL",
                              "--description", "cli import")
    assert rc == 0, err
    kid = out["KeyMetadata"]["KeyId"]
    assert out["KeyMetadata"]["KeyState"] == "PendingImport"
    rc, p, err = tresor.cli("kms", "get-parameters-for-import", "--key-id", kid,
                            "--wrapping-algorithm", "RSAES_OAEP_SHA_256",
                            "--wrapping-key-spec", "RSA_2048")
    assert rc == 0, err
    material = os.urandom(32)
    (tmp_path / "token.bin").write_bytes(base64.b64decode(p["ImportToken"]))
    (tmp_path / "material.bin").write_bytes(
        wrap(material, base64.b64decode(p["PublicKey"]), "RSAES_OAEP_SHA_256"))
    rc, out, err = tresor.cli("kms", "import-key-material", "--key-id", kid,
                              "--encrypted-key-material", f"fileb://{tmp_path / 'material.bin'}",
                              "--import-token", f"fileb://{tmp_path / 'token.bin'}",
                              "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert rc == 0, err
    rc, out, err = tresor.cli("kms", "describe-key", "--key-id", kid)
    assert rc == 0, err
    assert out["KeyMetadata"]["KeyState"] == "Enabled"
    assert out["KeyMetadata"]["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    rc, out, err = tresor.cli("kms", "encrypt", "--key-id", kid, "--plaintext",
                              base64.b64encode(b"from the cli").decode())
    assert rc == 0, err
    blob = base64.b64decode(out["CiphertextBlob"])
    assert open_offline(blob, material) == b"from the cli"
    rc, out, err = tresor.cli("kms", "delete-imported-key-material", "--key-id", kid)
    assert rc == 0, err
    rc, out, err = tresor.cli("kms", "describe-key", "--key-id", kid)
    assert out["KeyMetadata"]["KeyState"] == "PendingImport"
    # A wrong token through the CLI: the error's code and message.
    (tmp_path / "bad.bin").write_bytes(b"\x01" + os.urandom(200))
    rc, out, err = tresor.cli("kms", "import-key-material", "--key-id", kid,
                              "--encrypted-key-material", f"fileb://{tmp_path / 'material.bin'}",
                              "--import-token", f"fileb://{tmp_path / 'bad.bin'}",
                              "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    assert rc != 0
    assert "InvalidImportTokenException" in err and INVALID_TOKEN_MSG in err
    json.dumps(p)  # the CLI's reply was JSON


# ---------------------------------------------------------------------------
# tresor check and rotate-root-key with imported material


@pytest.mark.skipif(STORE == "postgres", reason="rotate-root-key rotates a SQLite store only")
def test_reimport_after_root_key_rotation(tresor_factory):
    srv = tresor_factory("import-rotate")
    kms = srv.kms()
    k = new_key(kms, Origin="EXTERNAL")
    pending = new_key(kms, Origin="EXTERNAL")
    material = os.urandom(32)
    import_material(kms, k["KeyId"], material)
    blob = kms.encrypt(KeyId=k["KeyId"], Plaintext=b"across rotations")["CiphertextBlob"]
    kms.delete_imported_key_material(KeyId=k["KeyId"])
    assert srv.stop() == 0
    env = {e: v for e, v in os.environ.items() if not e.startswith("TRESOR_")}
    for cmd in (["check"], ["rotate-root-key"], ["check"]):
        r = run_tresor_cmd([*cmd, "--data-dir", srv.data_dir], srv.log_dir, capture_output=True,
                           text=True, env=env)
        assert r.returncode == 0, r.stdout + r.stderr
        if cmd == ["check"]:
            assert "clean" in r.stdout, r.stdout
    srv.start()
    kms = srv.kms()
    # The check of the material survived the new root key: different
    # material is still refused, the same is taken.
    with raises_aws("IncorrectKeyMaterialException", INCORRECT_MATERIAL_MSG):
        import_material(kms, k["KeyId"], os.urandom(32))
    import_material(kms, k["KeyId"], material)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"across rotations"
    assert kms.describe_key(KeyId=pending["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
