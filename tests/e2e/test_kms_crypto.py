"""
KMS cryptographic operations end to end: Encrypt/Decrypt (sizes, encryption
context, key identifiers, tampering), ReEncrypt, GenerateDataKey(WithoutPlaintext),
GenerateRandom, and key-state errors.  Expected values, codes and messages
are AWS's.
"""

import base64
import os
import uuid

import pytest

from tresor_e2e import (
    EITHER_BYTES_OR_SPEC_MSG, INCORRECT_KEY_MSG, alias_arn,
    alias_not_found_msg, assert_no_nulls, b64, disabled_msg, new_key, not_found_key_msg,
    raises_aws, unique,
)


@pytest.fixture
def key(kms):
    return new_key(kms, Description="crypto test key")


@pytest.fixture
def other_key(kms):
    return new_key(kms, Description="another crypto test key")


def invalid_ciphertext():
    # InvalidCiphertextException has no message member: botocore reports "".
    return raises_aws("InvalidCiphertextException", "")


# ---------------------------------------------------------------------------
# Encrypt / Decrypt round trips


@pytest.mark.parametrize("plaintext", [
    b"\x00",
    bytes(range(256)),
    os.urandom(4096),
    "unicode ✓ ключ 秘密".encode("utf-8"),
], ids=["1-byte-zero", "all-byte-values", "4096-random", "utf8"])
def test_encrypt_decrypt_roundtrip(kms, key, plaintext):
    enc = kms.encrypt(KeyId=key["KeyId"], Plaintext=plaintext)
    assert enc["KeyId"] == key["Arn"]
    assert enc["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    blob = enc["CiphertextBlob"]
    assert isinstance(blob, bytes) and len(blob) > len(plaintext)
    if len(plaintext) >= 8:
        assert plaintext not in blob
    dec = kms.decrypt(CiphertextBlob=blob)
    assert dec["Plaintext"] == plaintext
    assert dec["KeyId"] == key["Arn"]
    assert dec["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"


def test_encrypt_is_randomized(kms, key):
    a = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"same input")["CiphertextBlob"]
    b = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"same input")["CiphertextBlob"]
    assert a != b
    assert kms.decrypt(CiphertextBlob=a)["Plaintext"] == b"same input"
    assert kms.decrypt(CiphertextBlob=b)["Plaintext"] == b"same input"


def test_encrypt_decrypt_wire_shape(tresor, key):
    r = tresor.raw("TrentService.Encrypt",
                   {"KeyId": key["KeyId"], "Plaintext": b64(b"wire shape")})
    assert r.status == 200, r
    assert_no_nulls(r.json)
    assert set(r.json) == {"CiphertextBlob", "KeyId", "EncryptionAlgorithm"}, r.json
    blob_b64 = r.json["CiphertextBlob"]
    assert isinstance(blob_b64, str)
    base64.b64decode(blob_b64, validate=True)
    d = tresor.raw("TrentService.Decrypt", {"CiphertextBlob": blob_b64})
    assert d.status == 200, d
    assert_no_nulls(d.json)
    assert {"KeyId", "Plaintext", "EncryptionAlgorithm"} <= set(d.json) <= {
        "KeyId", "Plaintext", "EncryptionAlgorithm", "KeyMaterialId"}, d.json
    assert base64.b64decode(d.json["Plaintext"]) == b"wire shape"
    assert d.json["KeyId"] == key["Arn"]


def test_plaintext_too_long(kms, key):
    with raises_aws("ValidationException",
                    "1 validation error detected: Value at 'plaintext' failed to satisfy "
                    "constraint: Member must have length less than or equal to 4096"):
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"a" * 4097)


def test_plaintext_empty(kms, key):
    with raises_aws("ValidationException",
                    "1 validation error detected: Value at 'plaintext' failed to satisfy "
                    "constraint: Member must have length greater than or equal to 1"):
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"")


def test_encrypt_unknown_keys(kms):
    missing = str(uuid.uuid4())
    with raises_aws("NotFoundException", not_found_key_msg(missing)):
        kms.encrypt(KeyId=missing, Plaintext=b"x")
    with raises_aws("NotFoundException", "Invalid keyId 'xyz'"):
        kms.encrypt(KeyId="xyz", Plaintext=b"x")
    name = unique("alias/none")
    with raises_aws("NotFoundException", alias_not_found_msg(name)):
        kms.encrypt(KeyId=name, Plaintext=b"x")


def test_encryption_algorithm_member(kms, key):
    enc = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"alg",
                      EncryptionAlgorithm="SYMMETRIC_DEFAULT")
    assert enc["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    dec = kms.decrypt(CiphertextBlob=enc["CiphertextBlob"], EncryptionAlgorithm="SYMMETRIC_DEFAULT")
    assert dec["Plaintext"] == b"alg"
    # A valid algorithm the symmetric key cannot do:
    with raises_aws("InvalidKeyUsageException"):
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"alg", EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    # Not an algorithm at all:
    with raises_aws("ValidationException",
                    startswith="1 validation error detected: Value 'BOGUS' at "
                               "'encryptionAlgorithm' failed to satisfy constraint: Member must "
                               "satisfy enum value set: ["):
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"alg", EncryptionAlgorithm="BOGUS")


# ---------------------------------------------------------------------------
# Encryption context


CTX = {"purpose": "e2e", "tenant": "t-1", "SecretARN": "arn:aws:secretsmanager:x"}


def test_context_roundtrip_order_free(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"ctx", EncryptionContext=CTX)[
        "CiphertextBlob"]
    reordered = dict(reversed(list(CTX.items())))
    assert list(reordered) != list(CTX)
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=reordered)["Plaintext"] == b"ctx"
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=dict(CTX))["Plaintext"] == b"ctx"


@pytest.mark.parametrize("variant", [
    None,
    {},
    {"purpose": "e2e", "tenant": "t-1"},
    {**CTX, "extra": "pair"},
    {**CTX, "tenant": "t-2"},
    {**{k: v for k, v in CTX.items() if k != "purpose"}, "Purpose": "e2e"},
    {**CTX, "tenant": "t-1 "},
], ids=["none", "empty", "missing-pair", "extra-pair", "changed-value", "key-case",
        "trailing-space"])
def test_context_mismatch(kms, key, variant):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"ctx", EncryptionContext=CTX)[
        "CiphertextBlob"]
    kw = {} if variant is None else {"EncryptionContext": variant}
    with invalid_ciphertext():
        kms.decrypt(CiphertextBlob=blob, **kw)


def test_context_given_only_at_decrypt(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"no ctx")["CiphertextBlob"]
    with invalid_ciphertext():
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "b"})
    # An empty context is no context.
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={})["Plaintext"] == b"no ctx"


@pytest.mark.parametrize("enc_ctx,dec_ctx", [
    ({"a": "bc"}, {"ab": "c"}),
    ({"a=b": "c"}, {"a": "b=c"}),
    ({"a": "b", "c": "d"}, {"a": "bc", "": "d"}),
    ({"k": "v1,k2=v2"}, {"k": "v1", "k2": "v2"}),
], ids=["shifted-boundary", "equals-sign", "merged", "comma"])
def test_context_canonical_form_is_unambiguous(kms, key, enc_ctx, dec_ctx):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"canon", EncryptionContext=enc_ctx)[
        "CiphertextBlob"]
    with invalid_ciphertext():
        kms.decrypt(CiphertextBlob=blob, EncryptionContext=dec_ctx)
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=enc_ctx)["Plaintext"] == b"canon"


def test_context_unicode(kms, key):
    ctx = {"ключ": "значение ✓", "秘密": "", "emoji": "🔑"}
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"u", EncryptionContext=ctx)[
        "CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=ctx)["Plaintext"] == b"u"
    with invalid_ciphertext():
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={**ctx, "emoji": "🔒"})


def test_invalid_ciphertext_has_no_message_member(tresor, kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"a": "1"})[
        "CiphertextBlob"]
    r = tresor.raw("TrentService.Decrypt",
                   {"CiphertextBlob": b64(blob), "EncryptionContext": {"a": "2"}})
    assert r.status == 400, r
    assert r.error_code == "InvalidCiphertextException", r
    assert "message" not in r.json and "Message" not in r.json, r.json
    assert r.request_id


# ---------------------------------------------------------------------------
# Decrypt with KeyId


@pytest.mark.parametrize("form", ["id", "arn", "alias", "alias_arn"])
def test_decrypt_with_matching_key_id(kms, key, form):
    name = unique("alias/dec")
    kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
    ident = {"id": key["KeyId"], "arn": key["Arn"], "alias": name,
             "alias_arn": alias_arn(name)}[form]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"by " + form.encode())["CiphertextBlob"]
    dec = kms.decrypt(CiphertextBlob=blob, KeyId=ident)
    assert dec["Plaintext"] == b"by " + form.encode()
    assert dec["KeyId"] == key["Arn"]


@pytest.mark.parametrize("form", ["id", "arn", "alias"])
def test_decrypt_with_other_key_id(kms, key, other_key, form):
    name = unique("alias/wrong")
    kms.create_alias(AliasName=name, TargetKeyId=other_key["KeyId"])
    ident = {"id": other_key["KeyId"], "arn": other_key["Arn"], "alias": name}[form]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"k1")["CiphertextBlob"]
    with raises_aws("IncorrectKeyException", INCORRECT_KEY_MSG):
        kms.decrypt(CiphertextBlob=blob, KeyId=ident)


# ---------------------------------------------------------------------------
# Tampered ciphertexts


def _flip(blob, i, mask=0x01):
    b = bytearray(blob)
    b[i] ^= mask
    return bytes(b)


def _key_id_positions(blob, key_id):
    raw = uuid.UUID(key_id).bytes
    at = blob.find(raw)
    return set(range(at, at + len(raw))) if at >= 0 else set()


def test_tamper_every_byte(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"tamper target",
                       EncryptionContext={"c": "1"})["CiphertextBlob"]
    key_positions = _key_id_positions(blob, key["KeyId"])
    for i in range(len(blob)):
        for mask in (0x01, 0x80):
            bad = _flip(blob, i, mask)
            if i in key_positions:
                # The blob now names a key that does not exist.
                with raises_aws(("InvalidCiphertextException", "AccessDeniedException")):
                    kms.decrypt(CiphertextBlob=bad, EncryptionContext={"c": "1"})
            else:
                with invalid_ciphertext():
                    kms.decrypt(CiphertextBlob=bad, EncryptionContext={"c": "1"})
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"c": "1"})[
        "Plaintext"] == b"tamper target"


def test_tamper_key_id_to_another_existing_key(kms, key, other_key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"swap")["CiphertextBlob"]
    raw = uuid.UUID(key["KeyId"]).bytes
    if raw not in blob:
        pytest.skip("the ciphertext does not carry the raw key UUID")
    swapped = blob.replace(raw, uuid.UUID(other_key["KeyId"]).bytes, 1)
    with invalid_ciphertext():
        kms.decrypt(CiphertextBlob=swapped)


@pytest.mark.parametrize("mutate", [
    lambda b: b[:-1],
    lambda b: b[:len(b) // 2],
    lambda b: b[:1],
    lambda b: b + b"\x00",
    lambda b: b + b,
    lambda b: bytes(len(b)),
    lambda b: os.urandom(64),
    lambda b: os.urandom(6144),
], ids=["drop-last", "half", "one-byte", "append", "doubled", "zeros", "random-64",
        "random-6144"])
def test_tampered_ciphertext(kms, key, mutate):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"structure")["CiphertextBlob"]
    with invalid_ciphertext():
        kms.decrypt(CiphertextBlob=mutate(blob))


def test_ciphertext_empty_or_too_long(kms):
    with raises_aws("ValidationException", startswith="1 validation error detected: "):
        kms.decrypt(CiphertextBlob=b"")
    with raises_aws("ValidationException", startswith="1 validation error detected: "):
        kms.decrypt(CiphertextBlob=os.urandom(6145))


def test_decrypt_requires_ciphertext(tresor):
    r = tresor.raw("TrentService.Decrypt", {})
    assert r.status == 400, r
    assert r.error_code == "ValidationException", r


# ---------------------------------------------------------------------------
# Key states


def test_decrypt_after_key_disabled(kms, key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"then disabled")["CiphertextBlob"]
    kms.disable_key(KeyId=key["KeyId"])
    with raises_aws("DisabledException", disabled_msg(key["KeyId"])):
        kms.decrypt(CiphertextBlob=blob)
    with raises_aws("DisabledException", disabled_msg(key["KeyId"])):
        kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], KeySpec="AES_256")
    kms.enable_key(KeyId=key["KeyId"])
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"then disabled"


# ---------------------------------------------------------------------------
# ReEncrypt


def test_reencrypt_to_other_key_with_context_change(kms, key, other_key):
    src_ctx, dst_ctx = {"stage": "old"}, {"stage": "new", "v": "2"}
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"move me",
                       EncryptionContext=src_ctx)["CiphertextBlob"]
    r = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=src_ctx,
                       DestinationKeyId=other_key["KeyId"],
                       DestinationEncryptionContext=dst_ctx)
    assert r["SourceKeyId"] == key["Arn"]
    assert r["KeyId"] == other_key["Arn"]
    assert r["SourceEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    assert r["DestinationEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    new_blob = r["CiphertextBlob"]
    assert new_blob != blob
    dec = kms.decrypt(CiphertextBlob=new_blob, EncryptionContext=dst_ctx)
    assert dec["Plaintext"] == b"move me"
    assert dec["KeyId"] == other_key["Arn"]
    with invalid_ciphertext():
        kms.decrypt(CiphertextBlob=new_blob, EncryptionContext=src_ctx)
    with raises_aws("IncorrectKeyException", INCORRECT_KEY_MSG):
        kms.decrypt(CiphertextBlob=new_blob, KeyId=key["KeyId"], EncryptionContext=dst_ctx)
    # The source ciphertext is untouched.
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext=src_ctx)["Plaintext"] == b"move me"


def test_reencrypt_source_key_id(kms, key, other_key):
    name = unique("alias/src")
    kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"src")["CiphertextBlob"]
    for ident in (key["KeyId"], key["Arn"], name, alias_arn(name)):
        r = kms.re_encrypt(CiphertextBlob=blob, SourceKeyId=ident,
                           DestinationKeyId=other_key["Arn"])
        assert r["SourceKeyId"] == key["Arn"]
        assert kms.decrypt(CiphertextBlob=r["CiphertextBlob"])["Plaintext"] == b"src"
    with raises_aws("IncorrectKeyException", INCORRECT_KEY_MSG):
        kms.re_encrypt(CiphertextBlob=blob, SourceKeyId=other_key["KeyId"],
                       DestinationKeyId=other_key["KeyId"])


def test_reencrypt_same_key_and_alias_destination(kms, key):
    name = unique("alias/dst")
    kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"same")["CiphertextBlob"]
    r = kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=name)
    assert r["KeyId"] == key["Arn"]
    assert r["SourceKeyId"] == key["Arn"]
    assert r["CiphertextBlob"] != blob
    assert kms.decrypt(CiphertextBlob=r["CiphertextBlob"])["Plaintext"] == b"same"


def test_reencrypt_errors(kms, key, other_key):
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"e",
                       EncryptionContext={"a": "1"})["CiphertextBlob"]
    with invalid_ciphertext():
        kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"a": "2"},
                       DestinationKeyId=other_key["KeyId"])
    with invalid_ciphertext():
        kms.re_encrypt(CiphertextBlob=_flip(blob, len(blob) - 1),
                       SourceEncryptionContext={"a": "1"}, DestinationKeyId=other_key["KeyId"])
    missing = str(uuid.uuid4())
    with raises_aws("NotFoundException", not_found_key_msg(missing)):
        kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"a": "1"},
                       DestinationKeyId=missing)
    kms.disable_key(KeyId=other_key["KeyId"])
    with raises_aws("DisabledException", disabled_msg(other_key["KeyId"])):
        kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"a": "1"},
                       DestinationKeyId=other_key["KeyId"])
    kms.disable_key(KeyId=key["KeyId"])
    kms.enable_key(KeyId=other_key["KeyId"])
    with raises_aws("DisabledException", disabled_msg(key["KeyId"])):
        kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"a": "1"},
                       DestinationKeyId=other_key["KeyId"])


# ---------------------------------------------------------------------------
# Data keys


@pytest.mark.parametrize("kwargs,length", [
    ({"KeySpec": "AES_256"}, 32),
    ({"KeySpec": "AES_128"}, 16),
    ({"NumberOfBytes": 1}, 1),
    ({"NumberOfBytes": 64}, 64),
    ({"NumberOfBytes": 1024}, 1024),
], ids=["aes256", "aes128", "1-byte", "64-bytes", "1024-bytes"])
def test_generate_data_key(kms, key, kwargs, length):
    ctx = {"SecretARN": "arn:x", "SecretVersionId": "v1"}
    r = kms.generate_data_key(KeyId=key["KeyId"], EncryptionContext=ctx, **kwargs)
    assert r["KeyId"] == key["Arn"]
    assert len(r["Plaintext"]) == length
    assert r["Plaintext"] not in r["CiphertextBlob"] or length < 8
    dec = kms.decrypt(CiphertextBlob=r["CiphertextBlob"], EncryptionContext=ctx)
    assert dec["Plaintext"] == r["Plaintext"]
    assert dec["KeyId"] == key["Arn"]
    with invalid_ciphertext():
        kms.decrypt(CiphertextBlob=r["CiphertextBlob"])


def test_generate_data_key_is_random(kms, key):
    a = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    b = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    assert a["Plaintext"] != b["Plaintext"]
    assert a["CiphertextBlob"] != b["CiphertextBlob"]


def test_generate_data_key_by_alias(kms, key):
    name = unique("alias/dk")
    kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
    r = kms.generate_data_key(KeyId=alias_arn(name), KeySpec="AES_128")
    assert r["KeyId"] == key["Arn"]
    assert kms.decrypt(CiphertextBlob=r["CiphertextBlob"])["Plaintext"] == r["Plaintext"]


@pytest.mark.parametrize("op", ["generate_data_key", "generate_data_key_without_plaintext"])
def test_generate_data_key_spec_xor_bytes(kms, key, op):
    fn = getattr(kms, op)
    with raises_aws("ValidationException", EITHER_BYTES_OR_SPEC_MSG):
        fn(KeyId=key["KeyId"], KeySpec="AES_256", NumberOfBytes=32)
    with raises_aws("ValidationException", EITHER_BYTES_OR_SPEC_MSG):
        fn(KeyId=key["KeyId"])


@pytest.mark.parametrize("n,msg", [
    (0, "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy "
        "constraint: Member must have value greater than or equal to 1"),
    (1025, "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy "
           "constraint: Member must have value less than or equal to 1024"),
])
def test_generate_data_key_bytes_out_of_range(kms, key, n, msg):
    with raises_aws("ValidationException", msg):
        kms.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=n)


def test_generate_data_key_bad_spec(kms, key):
    with raises_aws("ValidationException",
                    startswith="1 validation error detected: Value 'AES_512' at 'keySpec' "
                               "failed to satisfy constraint: Member must satisfy enum value "
                               "set: ["):
        kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_512")


def test_generate_data_key_unknown_key(kms):
    missing = str(uuid.uuid4())
    with raises_aws("NotFoundException", not_found_key_msg(missing)):
        kms.generate_data_key(KeyId=missing, KeySpec="AES_256")


def test_generate_data_key_without_plaintext(kms, key, tresor):
    ctx = {"purpose": "wrap"}
    r = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], KeySpec="AES_256",
                                                EncryptionContext=ctx)
    assert "Plaintext" not in r
    assert r["KeyId"] == key["Arn"]
    dec = kms.decrypt(CiphertextBlob=r["CiphertextBlob"], EncryptionContext=ctx)
    assert len(dec["Plaintext"]) == 32
    r2 = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], NumberOfBytes=48)
    assert len(kms.decrypt(CiphertextBlob=r2["CiphertextBlob"])["Plaintext"]) == 48
    raw = tresor.raw("TrentService.GenerateDataKeyWithoutPlaintext",
                     {"KeyId": key["KeyId"], "KeySpec": "AES_128"})
    assert raw.status == 200, raw
    assert_no_nulls(raw.json)
    assert "Plaintext" not in raw.json
    assert {"CiphertextBlob", "KeyId"} <= set(raw.json) <= {"CiphertextBlob", "KeyId",
                                                          "KeyMaterialId"}


# ---------------------------------------------------------------------------
# GenerateRandom


@pytest.mark.parametrize("n", [1, 32, 1024])
def test_generate_random(kms, n):
    r = kms.generate_random(NumberOfBytes=n)
    assert isinstance(r["Plaintext"], bytes)
    assert len(r["Plaintext"]) == n


def test_generate_random_differs(kms):
    a = kms.generate_random(NumberOfBytes=32)["Plaintext"]
    b = kms.generate_random(NumberOfBytes=32)["Plaintext"]
    assert a != b


@pytest.mark.parametrize("n,msg", [
    (0, "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy "
        "constraint: Member must have value greater than or equal to 1"),
    (1025, "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy "
           "constraint: Member must have value less than or equal to 1024"),
])
def test_generate_random_out_of_range(kms, n, msg):
    with raises_aws("ValidationException", msg):
        kms.generate_random(NumberOfBytes=n)


def test_generate_random_requires_number_of_bytes(kms):
    with raises_aws("ValidationException", "NumberOfBytes is required."):
        kms.generate_random()
