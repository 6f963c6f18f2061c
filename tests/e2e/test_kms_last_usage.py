"""
KMS GetKeyLastUsage end to end, with boto3 and the AWS CLI: the last
successful cryptographic operation of a key (each operation of the
KeyLastUsageTrackingOperation enum, both keys of a ReEncrypt, Secrets
Manager's Decrypt and GenerateDataKey), never a failed one; KmsRequestId and
CloudTrailEventId are the x-amzn-RequestId of the call that used the key;
TrackingStartDate the later of the key's creation and the store's tracking
start; the errors (unknown key, alias, malformed id, AccessDenied) as AWS
gives them; and what survives a restart (the maintenance pass, the clean
shutdown) -- src/kms/last_usage.c.
"""

import json
import sqlite3

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tresor_e2e import (ACCOUNT, REGION, STORE, allow, denied_msg, eventually, key_arn, make_user,
                        new_key, not_found_key_msg, pg_sql, raises_aws, unique)


@pytest.fixture(scope="module")
def ks(tresor):
    return tresor.kms()


def last_usage(kms, key_id):
    r = kms.get_key_last_usage(KeyId=key_id)
    r.pop("ResponseMetadata")
    return r


def request_id(resp):
    return resp["ResponseMetadata"]["RequestId"]


def assert_used(kms, key_id, op, resp):
    """The key's last use is `op`, made by the call that answered resp."""
    r = last_usage(kms, key_id)
    u = r["KeyLastUsage"]
    assert set(u) == {"Operation", "Timestamp", "CloudTrailEventId", "KmsRequestId"}, r
    assert u["Operation"] == op, r
    assert u["KmsRequestId"] == request_id(resp), r
    assert u["CloudTrailEventId"] == request_id(resp), r
    assert u["Timestamp"] >= r["KeyCreationDate"], r
    return r


def store_sql(srv, sql):
    """Rows of sql over the server's store (SQLite file or PostgreSQL)."""
    if srv.store_url:
        out = pg_sql(sql, srv.store_url)
        return [tuple(line.split("|")) for line in out.splitlines() if line]
    con = sqlite3.connect(str(srv.data_dir / "tresor.db"))
    try:
        rows = con.execute(sql).fetchall()
        con.commit()
        return rows
    finally:
        con.close()


# ---------------------------------------------------------------------------
# An unused key, then each operation


def test_unused_key(ks):
    md = new_key(ks)
    r = last_usage(ks, md["KeyId"])
    assert set(r) == {"KeyId", "KeyLastUsage", "TrackingStartDate", "KeyCreationDate"}, r
    assert r["KeyId"] == md["KeyId"]
    assert r["KeyLastUsage"] == {}
    assert r["KeyCreationDate"] == md["CreationDate"]
    assert r["TrackingStartDate"] == r["KeyCreationDate"]
    # By key ARN too, and management calls are not uses.
    ks.describe_key(KeyId=md["KeyId"])
    ks.tag_resource(KeyId=md["KeyId"], Tags=[{"TagKey": "k", "TagValue": "v"}])
    ks.get_key_policy(KeyId=md["KeyId"], PolicyName="default")
    assert last_usage(ks, md["Arn"]) == r


def test_encrypt_then_decrypt(ks):
    md = new_key(ks)
    enc = ks.encrypt(KeyId=md["KeyId"], Plaintext=b"last usage")
    assert_used(ks, md["KeyId"], "Encrypt", enc)
    dec = ks.decrypt(CiphertextBlob=enc["CiphertextBlob"])
    r = assert_used(ks, md["Arn"], "Decrypt", dec)
    assert r["KeyId"] == md["KeyId"]
    assert r["TrackingStartDate"] == md["CreationDate"]


def test_data_keys(ks):
    md = new_key(ks)
    resp = ks.generate_data_key(KeyId=md["KeyId"], KeySpec="AES_256")
    assert_used(ks, md["KeyId"], "GenerateDataKey", resp)
    resp = ks.generate_data_key_without_plaintext(KeyId=md["KeyId"], NumberOfBytes=16)
    assert_used(ks, md["KeyId"], "GenerateDataKeyWithoutPlaintext", resp)
    resp = ks.generate_data_key_pair(KeyId=md["KeyId"], KeyPairSpec="ECC_NIST_P256")
    assert_used(ks, md["KeyId"], "GenerateDataKeyPair", resp)
    resp = ks.generate_data_key_pair_without_plaintext(KeyId=md["KeyId"], KeyPairSpec="RSA_2048")
    assert_used(ks, md["KeyId"], "GenerateDataKeyPairWithoutPlaintext", resp)


def test_re_encrypt_uses_both_keys(ks):
    src, dst = new_key(ks), new_key(ks)
    blob = ks.encrypt(KeyId=src["KeyId"], Plaintext=b"moving")["CiphertextBlob"]
    resp = ks.re_encrypt(CiphertextBlob=blob, DestinationKeyId=dst["KeyId"])
    assert_used(ks, src["KeyId"], "ReEncrypt", resp)
    assert_used(ks, dst["KeyId"], "ReEncrypt", resp)


def test_sign_and_verify(ks):
    md = new_key(ks, KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")
    s = ks.sign(KeyId=md["KeyId"], Message=b"msg", SigningAlgorithm="ECDSA_SHA_256")
    assert_used(ks, md["KeyId"], "Sign", s)
    v = ks.verify(KeyId=md["KeyId"], Message=b"msg", Signature=s["Signature"],
                  SigningAlgorithm="ECDSA_SHA_256")
    assert v["SignatureValid"] is True
    assert_used(ks, md["KeyId"], "Verify", v)
    # A signature that does not verify is not a successful use.
    with raises_aws("KMSInvalidSignatureException"):
        ks.verify(KeyId=md["KeyId"], Message=b"other", Signature=s["Signature"],
                  SigningAlgorithm="ECDSA_SHA_256")
    assert_used(ks, md["KeyId"], "Verify", v)


def test_mac(ks):
    md = new_key(ks, KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    g = ks.generate_mac(KeyId=md["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")
    assert_used(ks, md["KeyId"], "GenerateMac", g)
    v = ks.verify_mac(KeyId=md["KeyId"], Message=b"m", Mac=g["Mac"], MacAlgorithm="HMAC_SHA_256")
    assert_used(ks, md["KeyId"], "VerifyMac", v)
    with raises_aws("KMSInvalidMacException"):
        ks.verify_mac(KeyId=md["KeyId"], Message=b"n", Mac=g["Mac"], MacAlgorithm="HMAC_SHA_256")
    assert_used(ks, md["KeyId"], "VerifyMac", v)


def test_derive_shared_secret(ks):
    md = new_key(ks, KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT")
    peer = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    resp = ks.derive_shared_secret(KeyId=md["KeyId"], KeyAgreementAlgorithm="ECDH", PublicKey=peer)
    assert_used(ks, md["KeyId"], "DeriveSharedSecret", resp)


def test_failures_are_not_uses(ks):
    md = new_key(ks)
    enc = ks.encrypt(KeyId=md["KeyId"], Plaintext=b"x", EncryptionContext={"a": "1"})
    blob = bytearray(enc["CiphertextBlob"])
    blob[-1] ^= 1
    with raises_aws("InvalidCiphertextException", ""):
        ks.decrypt(CiphertextBlob=bytes(blob), EncryptionContext={"a": "1"})
    with raises_aws("InvalidCiphertextException", ""):
        ks.decrypt(CiphertextBlob=enc["CiphertextBlob"], EncryptionContext={"a": "2"})
    with raises_aws("DryRunOperationException"):
        ks.decrypt(CiphertextBlob=enc["CiphertextBlob"], EncryptionContext={"a": "1"}, DryRun=True)
    with raises_aws("DryRunOperationException"):
        ks.encrypt(KeyId=md["KeyId"], Plaintext=b"x", DryRun=True)
    assert_used(ks, md["KeyId"], "Encrypt", enc)
    # A disabled key refuses, and keeps its record; GetKeyLastUsage answers
    # in every key state (its errors have no state error).
    ks.disable_key(KeyId=md["KeyId"])
    with raises_aws("DisabledException"):
        ks.encrypt(KeyId=md["KeyId"], Plaintext=b"x")
    assert_used(ks, md["KeyId"], "Encrypt", enc)
    ks.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=7)
    assert_used(ks, md["KeyId"], "Encrypt", enc)


def test_secrets_manager_uses(tresor, ks):
    md = new_key(ks)
    sm = tresor.sm()
    created = sm.create_secret(Name=unique("lastusage"), KmsKeyId=md["KeyId"], SecretString="s3")
    assert_used(ks, md["KeyId"], "GenerateDataKey", created)
    got = sm.get_secret_value(SecretId=created["ARN"])
    assert got["SecretString"] == "s3"
    assert_used(ks, md["KeyId"], "Decrypt", got)


# ---------------------------------------------------------------------------
# Errors, authorization, the AWS CLI


def test_errors(ks):
    missing = "11111111-2222-3333-4444-555555555555"
    with raises_aws("NotFoundException", not_found_key_msg(missing)):
        ks.get_key_last_usage(KeyId=missing)
    with raises_aws("NotFoundException", not_found_key_msg(missing)):
        ks.get_key_last_usage(KeyId=key_arn(missing))
    md = new_key(ks)
    alias = "alias/" + unique("lu")
    ks.create_alias(AliasName=alias, TargetKeyId=md["KeyId"])
    # Alias names are not supported (the KeyId documentation).
    with raises_aws("NotFoundException", f"Invalid keyId '{alias}'"):
        ks.get_key_last_usage(KeyId=alias)
    alias_arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:{alias}"
    with raises_aws("NotFoundException", f"Invalid keyId '{alias_arn}'"):
        ks.get_key_last_usage(KeyId=alias_arn)
    with raises_aws("NotFoundException", "Invalid keyId 'not-a-key'"):
        ks.get_key_last_usage(KeyId="not-a-key")
    with raises_aws("ValidationException"):
        ks.get_key_last_usage(KeyId="")


def test_authorization(tresor, ks):
    root = tresor.root_user
    md = new_key(ks)
    nobody = make_user(root, policy=allow("kms:DescribeKey"))
    with raises_aws("AccessDeniedException",
                    denied_msg(nobody.arn, "kms:GetKeyLastUsage", md["Arn"])):
        nobody.kms.get_key_last_usage(KeyId=md["KeyId"])
    reader = make_user(root, policy=allow("kms:GetKeyLastUsage", md["Arn"]))
    assert reader.kms.get_key_last_usage(KeyId=md["KeyId"])["KeyId"] == md["KeyId"]
    # An explicit deny in the key policy wins over the IAM allow.
    policy = json.loads(ks.get_key_policy(KeyId=md["KeyId"], PolicyName="default")["Policy"])
    policy["Statement"].append({"Effect": "Deny", "Principal": {"AWS": reader.arn},
                                "Action": "kms:GetKeyLastUsage", "Resource": "*"})
    ks.put_key_policy(KeyId=md["KeyId"], PolicyName="default", Policy=json.dumps(policy))
    with raises_aws("AccessDeniedException",
                    denied_msg(reader.arn, "kms:GetKeyLastUsage", md["Arn"], "explicit-resource")):
        reader.kms.get_key_last_usage(KeyId=md["KeyId"])


def test_grants_cannot_allow_it(ks):
    md = new_key(ks)
    with raises_aws("ValidationException"):
        ks.create_grant(KeyId=md["KeyId"], GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:root",
                        Operations=["GetKeyLastUsage"])


def test_aws_cli(tresor, ks):
    md = new_key(ks)
    rc, r, err = tresor.aws("get-key-last-usage", "--key-id", md["KeyId"])
    assert rc == 0, err
    assert r["KeyId"] == md["KeyId"]
    assert r.get("KeyLastUsage", {}) == {}
    dec_blob = ks.encrypt(KeyId=md["KeyId"], Plaintext=b"cli")["CiphertextBlob"]
    dec = ks.decrypt(CiphertextBlob=dec_blob)
    rc, r, err = tresor.aws("get-key-last-usage", "--key-id", md["Arn"])
    assert rc == 0, err
    assert r["KeyLastUsage"]["Operation"] == "Decrypt"
    assert r["KeyLastUsage"]["KmsRequestId"] == request_id(dec)
    assert r["KeyLastUsage"]["CloudTrailEventId"] == request_id(dec)
    assert {"Timestamp"} <= set(r["KeyLastUsage"]) and "TrackingStartDate" in r
    rc, r, err = tresor.aws("get-key-last-usage", "--key-id", "alias/aws/secretsmanager")
    assert rc == 254, err
    assert "NotFoundException" in err and "Invalid keyId 'alias/aws/secretsmanager'" in err, err


# ---------------------------------------------------------------------------
# The store: the maintenance pass, a clean shutdown, deletion, tracking start


def usage_rows(srv, arn):
    return store_sql(srv, "SELECT doc FROM entities WHERE kind = 'kms-key-usage' "
                          f"AND arn = '{arn}'")


def test_survives_restart_after_maintenance(tresor_factory):
    srv = tresor_factory("lastusage-maint", env_extra={"TRESOR_MAINTENANCE_INTERVAL": "1"})
    kms = srv.kms()
    md = new_key(kms)
    dec = kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=md["KeyId"], Plaintext=b"m")["CiphertextBlob"])

    def written():
        rows = usage_rows(srv, md["Arn"])
        assert len(rows) == 1 and json.loads(rows[0][0])["Operation"] == "Decrypt", rows
        return json.loads(rows[0][0])
    doc = eventually(written, timeout=30)
    assert doc["KmsRequestId"] == request_id(dec) == doc["CloudTrailEventId"]
    srv.kill()                          # no clean shutdown: the pass wrote it
    srv.start(env_extra={"TRESOR_MAINTENANCE_INTERVAL": "1"})
    assert_used(srv.kms(), md["KeyId"], "Decrypt", dec)


def test_survives_clean_restart(tresor_factory):
    srv = tresor_factory("lastusage-stop")
    kms = srv.kms()
    md = new_key(kms)
    s = kms.encrypt(KeyId=md["KeyId"], Plaintext=b"m")
    srv.restart()                       # SIGTERM: written at shutdown
    assert_used(srv.kms(), md["KeyId"], "Encrypt", s)


def test_deleted_key_loses_its_record(tresor_factory):
    srv = tresor_factory("lastusage-delete")
    kms = srv.kms()
    md = new_key(kms)
    kms.encrypt(KeyId=md["KeyId"], Plaintext=b"m")
    kms.schedule_key_deletion(KeyId=md["KeyId"], PendingWindowInDays=7)
    srv.stop_clean()
    assert len(usage_rows(srv, md["Arn"])) == 1
    srv.start(env_extra={"TRESOR_CLOCK_OFFSET": str(8 * 86400)})   # the deletion date has passed
    with raises_aws("NotFoundException", not_found_key_msg(md["KeyId"])):
        srv.kms().get_key_last_usage(KeyId=md["KeyId"])
    assert usage_rows(srv, md["Arn"]) == []


def test_tracking_start_for_older_keys(tresor_factory):
    srv = tresor_factory("lastusage-start")
    old = new_key(srv.kms())
    srv.stop_clean()
    # A store from before tracking: no start recorded.  The next start
    # (a day later) records it; the older key reports it, a new key its
    # own creation date.
    store_sql(srv, "DELETE FROM entities WHERE kind = 'kms-usage-start'")
    srv.start(env_extra={"TRESOR_CLOCK_OFFSET": "86400"})
    kms = srv.kms()
    r = last_usage(kms, old["KeyId"])
    assert r["KeyCreationDate"] == old["CreationDate"]
    assert r["TrackingStartDate"] > r["KeyCreationDate"]
    assert r["KeyLastUsage"] == {}
    new = new_key(kms)
    r2 = last_usage(kms, new["KeyId"])
    assert r2["TrackingStartDate"] == r2["KeyCreationDate"] >= r["TrackingStartDate"]


@pytest.mark.skipif(STORE != "postgres",
                    reason="needs a PostgreSQL cluster (make e2e-pg: TRESOR_E2E_STORE=postgres)")
def test_two_nodes_newest_wins(pg_nodes):
    """Two nodes on one database: each answers its own use at once, the
    other's once written; the newest use wins whichever node wrote last."""
    a, b = pg_nodes(2, env_extra={"TRESOR_MAINTENANCE_INTERVAL": "1"})
    ka, kb = a.kms(), b.kms()
    md = new_key(ka)
    enc = ka.encrypt(KeyId=md["KeyId"], Plaintext=b"two nodes")
    assert_used(ka, md["KeyId"], "Encrypt", enc)
    eventually(lambda: assert_used(kb, md["KeyId"], "Encrypt", enc), timeout=30)
    dec = kb.decrypt(CiphertextBlob=enc["CiphertextBlob"])
    assert_used(kb, md["KeyId"], "Decrypt", dec)
    eventually(lambda: assert_used(ka, md["KeyId"], "Decrypt", dec), timeout=30)
    gdk = ka.generate_data_key(KeyId=md["KeyId"], NumberOfBytes=32)
    eventually(lambda: assert_used(kb, md["KeyId"], "GenerateDataKey", gdk), timeout=30)
    assert_used(ka, md["KeyId"], "GenerateDataKey", gdk)
