"""
Several imported key materials in one symmetric encryption KMS key, end to
end: ImportKeyMaterial's ImportType, KeyMaterialId and
KeyMaterialDescription, RotateKeyOnDemand to material imported for it
(PENDING_ROTATION), ListKeyRotations' import fields, DescribeKey's
CurrentKeyMaterialId, DeleteImportedKeyMaterial of one material, each
material's own expiry, the errors of every wrong combination and the
authorization of the actions (docs/internals/IMPORT.md, "Several
materials").

Independent verification: the materials are wrapped offline with Python's
`cryptography` (RSAES_OAEP_SHA_256 and RSA_AES_KEY_WRAP_SHA_256, as AWS
documents them) and every ciphertext is opened offline with the material
the test chose (docs/internals/CIPHERTEXT.md), so each one is known to be
sealed under the material the test expects.
"""

import datetime
import os
import time

import pytest

from test_kms_import import (DAY, HOUR, INCORRECT_MATERIAL_MSG, INVALID_TOKEN_MSG, open_offline,
                             pending_import_msg, wrap)
from tresor_e2e import allow, denied_msg, eventually, make_user, new_key, raises_aws

NOT_PENDING = "{} has no imported key material in PENDING_ROTATION state."


def at(seconds):
    return datetime.datetime.fromtimestamp(int(time.time()) + seconds, datetime.timezone.utc)


def imp(kms, kid, material, alg="RSAES_OAEP_SHA_256", **kw):
    """ImportKeyMaterial of `material`; the reply."""
    p = kms.get_parameters_for_import(KeyId=kid, WrappingAlgorithm=alg,
                                      WrappingKeySpec="RSA_2048")
    if "ExpirationModel" not in kw and "ValidTo" not in kw:
        kw["ExpirationModel"] = "KEY_MATERIAL_DOES_NOT_EXPIRE"
    return kms.import_key_material(KeyId=kid, ImportToken=p["ImportToken"],
                                   EncryptedKeyMaterial=wrap(material, p["PublicKey"], alg), **kw)


def rotations(kms, kid, include="ALL_KEY_MATERIAL"):
    return kms.list_key_rotations(KeyId=kid, IncludeKeyMaterial=include)["Rotations"]


def later_pending_import(srv, kid, offset):
    """Restart srv with its clock `offset` seconds ahead and wait for the
    key to lose its current material; the new client."""
    srv.restart({"TRESOR_CLOCK_OFFSET": str(offset)})
    kms = srv.kms()

    def pending():
        assert kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "PendingImport"
    eventually(pending)
    return kms


def current_id(kms, kid):
    return kms.describe_key(KeyId=kid)["KeyMetadata"].get("CurrentKeyMaterialId")


@pytest.fixture
def key(kms):
    return new_key(kms, Origin="EXTERNAL", Description="several materials")


def test_two_materials_rotate_on_demand(kms, key):
    kid, arn = key["KeyId"], key["Arn"]
    m1, m2 = os.urandom(32), os.urandom(32)
    r1 = imp(kms, kid, m1)
    mid1 = r1["KeyMaterialId"]
    assert r1["KeyId"] == arn and len(mid1) == 64 and current_id(kms, kid) == mid1
    c1 = kms.encrypt(KeyId=kid, Plaintext=b"one")["CiphertextBlob"]
    assert open_offline(c1, m1) == b"one"

    valid_to = at(30 * DAY)
    r2 = imp(kms, kid, m2, alg="RSA_AES_KEY_WRAP_SHA_256", ImportType="NEW_KEY_MATERIAL",
             KeyMaterialDescription="second one", ValidTo=valid_to)
    mid2 = r2["KeyMaterialId"]
    assert len(mid2) == 64 and mid2 != mid1
    # Waiting: the key still encrypts under the first material.
    assert current_id(kms, kid) == mid1
    assert open_offline(kms.encrypt(KeyId=kid, Plaintext=b"x")["CiphertextBlob"], m1) == b"x"
    assert rotations(kms, kid) == [
        {"KeyId": kid, "KeyMaterialId": mid1, "KeyMaterialState": "CURRENT",
         "ImportState": "IMPORTED", "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"},
        {"KeyId": kid, "KeyMaterialId": mid2, "KeyMaterialState": "PENDING_ROTATION",
         "ImportState": "IMPORTED", "ExpirationModel": "KEY_MATERIAL_EXPIRES",
         "ValidTo": valid_to, "KeyMaterialDescription": "second one"}]
    assert rotations(kms, kid, "ROTATIONS_ONLY") == []

    assert kms.rotate_key_on_demand(KeyId=kid)["KeyId"] == kid
    assert current_id(kms, kid) == mid2
    md = kms.describe_key(KeyId=kid)["KeyMetadata"]
    assert md["ExpirationModel"] == "KEY_MATERIAL_EXPIRES" and md["ValidTo"] == valid_to
    listed = rotations(kms, kid)
    assert [(e["KeyMaterialId"], e["KeyMaterialState"]) for e in listed] == [
        (mid1, "NON_CURRENT"), (mid2, "CURRENT")]
    assert listed[1]["RotationType"] == "ON_DEMAND" and "RotationDate" in listed[1]
    assert "RotationType" not in listed[0]
    assert [e["KeyMaterialId"] for e in rotations(kms, kid, "ROTATIONS_ONLY")] == [mid2]

    c2 = kms.encrypt(KeyId=kid, Plaintext=b"two")["CiphertextBlob"]
    assert open_offline(c2, m2) == b"two"
    d1, d2 = kms.decrypt(CiphertextBlob=c1), kms.decrypt(CiphertextBlob=c2)
    assert (d1["Plaintext"], d1["KeyMaterialId"]) == (b"one", mid1)
    assert (d2["Plaintext"], d2["KeyMaterialId"]) == (b"two", mid2)
    with raises_aws("KMSInvalidStateException", NOT_PENDING.format(arn)):
        kms.rotate_key_on_demand(KeyId=kid)


def test_import_type_errors(kms, key):
    kid, arn = key["KeyId"], key["Arn"]
    m1, m2 = os.urandom(32), os.urandom(32)
    # Nothing imported yet: nothing to import again.
    with raises_aws("IncorrectKeyMaterialException", INCORRECT_MATERIAL_MSG):
        imp(kms, kid, m1, ImportType="EXISTING_KEY_MATERIAL")
    mid1 = imp(kms, kid, m1)["KeyMaterialId"]
    with raises_aws("ValidationException", "KeyMaterialId must not be set when the ImportType is "
                    "NEW_KEY_MATERIAL"):
        imp(kms, kid, m2, ImportType="NEW_KEY_MATERIAL", KeyMaterialId=mid1)
    # New material must be new; without ImportType an import is a re-import.
    with raises_aws("IncorrectKeyMaterialException", INCORRECT_MATERIAL_MSG):
        imp(kms, kid, m1, ImportType="NEW_KEY_MATERIAL")
    with raises_aws("IncorrectKeyMaterialException", INCORRECT_MATERIAL_MSG):
        imp(kms, kid, m2)
    with raises_aws("IncorrectKeyMaterialException", INCORRECT_MATERIAL_MSG):
        imp(kms, kid, m2, ImportType="EXISTING_KEY_MATERIAL", KeyMaterialId=mid1)
    with raises_aws("IncorrectKeyMaterialException", INCORRECT_MATERIAL_MSG):
        imp(kms, kid, m1, KeyMaterialId="0" * 64)
    # The model's patterns.
    with raises_aws("ValidationException", "1 validation error detected: Value '" + "A" * 64 +
                    "' at 'keyMaterialId' failed to satisfy constraint: Member must satisfy "
                    "regular expression pattern: ^[a-f0-9]+$"):
        imp(kms, kid, m1, KeyMaterialId="A" * 64)
    with raises_aws("ValidationException", "1 validation error detected: Value 'a*b' at "
                    "'keyMaterialDescription' failed to satisfy constraint: Member must satisfy "
                    "regular expression pattern: ^[a-zA-Z0-9:/_\\s.-]+$"):
        imp(kms, kid, m1, KeyMaterialDescription="a*b")
    # One new material waits at a time.
    mid2 = imp(kms, kid, m2, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    with raises_aws("KMSInvalidStateException",
                    f"{arn} already has key material in PENDING_ROTATION state."):
        imp(kms, kid, os.urandom(32), ImportType="NEW_KEY_MATERIAL")
    # The same material under its own id is taken (a re-import), and the
    # description changes with it.
    assert imp(kms, kid, m2, KeyMaterialId=mid2, KeyMaterialDescription="again")[
        "KeyMaterialId"] == mid2
    assert rotations(kms, kid)[1]["KeyMaterialDescription"] == "again"
    # Nothing was changed by the refusals.
    assert [e["KeyMaterialId"] for e in rotations(kms, kid)] == [mid1, mid2]
    assert current_id(kms, kid) == mid1


def test_one_material_for_hmac_and_asymmetric_keys(kms):
    k = new_key(kms, Origin="EXTERNAL", KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")
    for extra in ({"ImportType": "NEW_KEY_MATERIAL"}, {"KeyMaterialId": "a" * 64},
                  {"KeyMaterialDescription": "d"}):
        name = next(iter(extra))
        with raises_aws("ValidationException",
                        f"{name} is only valid for symmetric encryption KMS keys."):
            imp(kms, k["KeyId"], os.urandom(32), **extra)
    r = imp(kms, k["KeyId"], os.urandom(32))
    assert r["KeyId"] == k["Arn"] and "KeyMaterialId" not in r
    # A second, different material is a re-import of other bytes.
    with raises_aws("IncorrectKeyMaterialException", INCORRECT_MATERIAL_MSG):
        imp(kms, k["KeyId"], os.urandom(32))
    with raises_aws("UnsupportedOperationException", "You cannot perform this operation on a "
                    "non-symmetric key or a key with non-ENCRYPT_DECRYPT key usage."):
        kms.rotate_key_on_demand(KeyId=k["KeyId"])
    d = kms.delete_imported_key_material(KeyId=k["KeyId"])
    assert d["KeyId"] == k["Arn"] and "KeyMaterialId" not in d


def test_delete_each_material(kms, key):
    kid, arn = key["KeyId"], key["Arn"]
    m1, m2 = os.urandom(32), os.urandom(32)
    mid1 = imp(kms, kid, m1, KeyMaterialDescription="first")["KeyMaterialId"]
    c1 = kms.encrypt(KeyId=kid, Plaintext=b"one")["CiphertextBlob"]
    mid2 = imp(kms, kid, m2, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    kms.rotate_key_on_demand(KeyId=kid)
    c2 = kms.encrypt(KeyId=kid, Plaintext=b"two")["CiphertextBlob"]

    # A non-current material: the key stays usable, its ciphertexts do not
    # decrypt until the same material is back.
    d = kms.delete_imported_key_material(KeyId=kid, KeyMaterialId=mid1)
    assert d == {"KeyId": arn, "KeyMaterialId": mid1, "ResponseMetadata": d["ResponseMetadata"]}
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Enabled"
    assert rotations(kms, kid)[0] == {"KeyId": kid, "KeyMaterialId": mid1,
                                      "KeyMaterialState": "NON_CURRENT",
                                      "ImportState": "PENDING_IMPORT",
                                      "KeyMaterialDescription": "first"}
    with raises_aws("InvalidCiphertextException", None):
        kms.decrypt(CiphertextBlob=c1)
    assert kms.decrypt(CiphertextBlob=c2)["Plaintext"] == b"two"
    with raises_aws("IncorrectKeyMaterialException", INCORRECT_MATERIAL_MSG):
        imp(kms, kid, m2, KeyMaterialId=mid1)
    assert imp(kms, kid, m1, ImportType="EXISTING_KEY_MATERIAL",
               KeyMaterialId=mid1)["KeyMaterialId"] == mid1
    assert kms.decrypt(CiphertextBlob=c1)["Plaintext"] == b"one"
    assert rotations(kms, kid)[0]["KeyMaterialDescription"] == "first"

    # The current material: the key is PendingImport until it comes back.
    d = kms.delete_imported_key_material(KeyId=kid)
    assert d["KeyMaterialId"] == mid2
    md = kms.describe_key(KeyId=kid)["KeyMetadata"]
    assert md["KeyState"] == "PendingImport" and "CurrentKeyMaterialId" not in md
    with raises_aws("KMSInvalidStateException", pending_import_msg(arn)):
        kms.decrypt(CiphertextBlob=c2)
    assert [(e["KeyMaterialState"], e["ImportState"]) for e in rotations(kms, kid)] == [
        ("NON_CURRENT", "IMPORTED"), ("CURRENT", "PENDING_IMPORT")]
    assert imp(kms, kid, m2)["KeyMaterialId"] == mid2
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=c2)["Plaintext"] == b"two"

    # Material waiting for rotation goes altogether: other material may
    # take its place.
    mid3 = imp(kms, kid, os.urandom(32), ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    assert kms.delete_imported_key_material(KeyId=kid, KeyMaterialId=mid3)["KeyMaterialId"] == mid3
    assert [e["KeyMaterialId"] for e in rotations(kms, kid)] == [mid1, mid2]
    m4 = os.urandom(32)
    mid4 = imp(kms, kid, m4, ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    kms.rotate_key_on_demand(KeyId=kid)
    assert current_id(kms, kid) == mid4
    assert open_offline(kms.encrypt(KeyId=kid, Plaintext=b"4")["CiphertextBlob"], m4) == b"4"

    unknown = "f" * 64
    with raises_aws("NotFoundException",
                    f"Key material with ID {unknown} is not associated with {arn}."):
        kms.delete_imported_key_material(KeyId=kid, KeyMaterialId=unknown)


def test_each_material_expires_on_its_own(tresor_factory):
    srv = tresor_factory("import-versions-expiry")
    kms = srv.kms()
    kid = new_key(kms, Origin="EXTERNAL")["KeyId"]
    m1, m2 = os.urandom(32), os.urandom(32)
    mid1 = imp(kms, kid, m1, ValidTo=at(HOUR))["KeyMaterialId"]
    c1 = kms.encrypt(KeyId=kid, Plaintext=b"one")["CiphertextBlob"]
    mid2 = imp(kms, kid, m2, ImportType="NEW_KEY_MATERIAL", ValidTo=at(3 * HOUR))["KeyMaterialId"]
    kms.rotate_key_on_demand(KeyId=kid)
    c2 = kms.encrypt(KeyId=kid, Plaintext=b"two")["CiphertextBlob"]

    # Two hours on: the first (non-current) material has expired, the key
    # is still usable with the second.
    srv.restart({"TRESOR_CLOCK_OFFSET": str(2 * HOUR)})
    kms = srv.kms()

    def first_gone():
        assert rotations(kms, kid)[0]["ImportState"] == "PENDING_IMPORT"
    eventually(first_gone)
    assert rotations(kms, kid)[1]["ImportState"] == "IMPORTED"
    assert kms.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Enabled"
    with raises_aws("InvalidCiphertextException", None):
        kms.decrypt(CiphertextBlob=c1)
    assert kms.decrypt(CiphertextBlob=c2)["Plaintext"] == b"two"

    # Four hours on: the current one too, and the key waits for it.
    kms = later_pending_import(srv, kid, 4 * HOUR)
    assert [e["ImportState"] for e in rotations(kms, kid)] == ["PENDING_IMPORT"] * 2
    imp(kms, kid, m2, KeyMaterialId=mid2)
    imp(kms, kid, m1, KeyMaterialId=mid1)
    assert kms.decrypt(CiphertextBlob=c1)["Plaintext"] == b"one"
    assert kms.decrypt(CiphertextBlob=c2)["Plaintext"] == b"two"


def test_authorization_of_several_materials(tresor):
    root = tresor.root_user
    k = root.kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    kid, arn = k["KeyId"], k["Arn"]
    imp(root.kms, kid, os.urandom(32))
    u = make_user(root, policy=[
        allow("kms:GetParametersForImport", arn),
        allow("kms:ImportKeyMaterial", arn, condition={
            "StringEquals": {"kms:ExpirationModel": "KEY_MATERIAL_EXPIRES"},
            "NumericLessThan": {"kms:ValidTo": str(int(time.time()) + 10 * DAY)}}),
    ])
    m = os.urandom(32)
    with raises_aws("AccessDeniedException", denied_msg(u.arn, "kms:ImportKeyMaterial", arn)):
        imp(u.kms, kid, m, ImportType="NEW_KEY_MATERIAL")
    with raises_aws("AccessDeniedException", denied_msg(u.arn, "kms:ImportKeyMaterial", arn)):
        imp(u.kms, kid, m, ImportType="NEW_KEY_MATERIAL", ValidTo=at(20 * DAY))
    mid = imp(u.kms, kid, m, ImportType="NEW_KEY_MATERIAL", ValidTo=at(5 * DAY))["KeyMaterialId"]
    with raises_aws("AccessDeniedException", denied_msg(u.arn, "kms:RotateKeyOnDemand", arn)):
        u.kms.rotate_key_on_demand(KeyId=kid)
    with raises_aws("AccessDeniedException",
                    denied_msg(u.arn, "kms:DeleteImportedKeyMaterial", arn)):
        u.kms.delete_imported_key_material(KeyId=kid, KeyMaterialId=mid)
    # Nothing changed: the material still waits.
    assert rotations(root.kms, kid)[1]["KeyMaterialState"] == "PENDING_ROTATION"


def test_several_materials_with_the_aws_cli(tresor, tmp_path):
    kms = tresor.kms()
    kid = new_key(kms, Origin="EXTERNAL")["KeyId"]
    imp(kms, kid, os.urandom(32))
    m2 = os.urandom(32)
    p = kms.get_parameters_for_import(KeyId=kid, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                      WrappingKeySpec="RSA_2048")
    (tmp_path / "token.bin").write_bytes(p["ImportToken"])
    (tmp_path / "material.bin").write_bytes(wrap(m2, p["PublicKey"], "RSAES_OAEP_SHA_256"))
    rc, out, err = tresor.cli("kms", "import-key-material", "--key-id", kid,
                              "--encrypted-key-material", f"fileb://{tmp_path / 'material.bin'}",
                              "--import-token", f"fileb://{tmp_path / 'token.bin'}",
                              "--expiration-model", "KEY_MATERIAL_DOES_NOT_EXPIRE",
                              "--import-type", "NEW_KEY_MATERIAL",
                              "--key-material-description", "from the cli")
    assert rc == 0, err
    mid2 = out["KeyMaterialId"]
    rc, out, err = tresor.cli("kms", "list-key-rotations", "--key-id", kid,
                              "--include-key-material", "ALL_KEY_MATERIAL")
    assert rc == 0, err
    assert out["Rotations"][1]["KeyMaterialId"] == mid2
    assert out["Rotations"][1]["KeyMaterialState"] == "PENDING_ROTATION"
    assert out["Rotations"][1]["KeyMaterialDescription"] == "from the cli"
    rc, out, err = tresor.cli("kms", "rotate-key-on-demand", "--key-id", kid)
    assert rc == 0, err
    rc, out, err = tresor.cli("kms", "describe-key", "--key-id", kid)
    assert rc == 0 and out["KeyMetadata"]["CurrentKeyMaterialId"] == mid2, err


def test_store_from_before_several_materials_migrates(tresor_factory):
    """A data dir of schema version 5, where an EXTERNAL key kept its one
    material's ValidTo in the key record: migration 006 gives the
    material its own ValidTo, and the key expires as before."""
    import sqlite3
    if os.environ.get("TRESOR_E2E_STORE") == "postgres":
        pytest.skip("a SQLite data dir")
    srv = tresor_factory("import-versions-migrate")
    kms = srv.kms()
    kid = new_key(kms, Origin="EXTERNAL")["KeyId"]
    m1 = os.urandom(32)
    valid_to = at(HOUR)
    imp(kms, kid, m1, ValidTo=valid_to)
    blob = kms.encrypt(KeyId=kid, Plaintext=b"old")["CiphertextBlob"]
    srv.stop_clean()
    db = sqlite3.connect(srv.data_dir / "tresor.db")
    db.executescript("BEGIN; ALTER TABLE kms_key_materials DROP COLUMN valid_to;"
                     "ALTER TABLE kms_key_materials DROP COLUMN description;"
                     "PRAGMA user_version = 5; COMMIT;")
    db.close()
    srv.start()
    kms = srv.kms()
    md = kms.describe_key(KeyId=kid)["KeyMetadata"]
    assert md["ExpirationModel"] == "KEY_MATERIAL_EXPIRES" and md["ValidTo"] == valid_to
    entry = rotations(kms, kid)[0]
    assert entry["ValidTo"] == valid_to and entry["ImportState"] == "IMPORTED"
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"old"
    kms = later_pending_import(srv, kid, 2 * HOUR)
    imp(kms, kid, m1)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"old"


# ---------------------------------------------------------------------------
# Replicas of a multi-Region primary with imported material

WEST = "us-west-2"


def test_replica_of_an_imported_primary(tresor_factory):
    from tresor_e2e import REGION
    srv = tresor_factory("import-replica", args=["--regions", f"{REGION},{WEST}"])
    east, west = srv.client("kms"), srv.client("kms", region=WEST)
    md = east.create_key(MultiRegion=True, Origin="EXTERNAL")["KeyMetadata"]
    kid = md["KeyId"]
    m = os.urandom(32)
    mid = imp(east, kid, m, alg="RSA_AES_KEY_WRAP_SHA_256")["KeyMaterialId"]
    blob = east.encrypt(KeyId=kid, Plaintext=b"from the east")["CiphertextBlob"]
    assert open_offline(blob, m) == b"from the east"

    rmd = east.replicate_key(KeyId=kid, ReplicaRegion=WEST)["ReplicaKeyMetadata"]
    rarn = rmd["Arn"]
    assert rmd["KeyState"] == "PendingImport" and rmd["Origin"] == "EXTERNAL"
    assert "ExpirationModel" not in rmd and "CurrentKeyMaterialId" not in rmd
    with raises_aws("KMSInvalidStateException", pending_import_msg(rarn)):
        west.decrypt(CiphertextBlob=blob)
    assert [(e["KeyMaterialId"], e["ImportState"]) for e in rotations(west, kid)] == [
        (mid, "PENDING_IMPORT")]
    # An import token belongs to one region's key: the primary's does not
    # open for its replica, which shares the key id.
    p = east.get_parameters_for_import(KeyId=kid, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                       WrappingKeySpec="RSA_2048")
    with raises_aws("InvalidImportTokenException", INVALID_TOKEN_MSG):
        west.import_key_material(KeyId=kid, ImportToken=p["ImportToken"],
                                 EncryptedKeyMaterial=wrap(m, p["PublicKey"], "RSAES_OAEP_SHA_256"),
                                 ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
    # Only the primary's material, and no new material in a replica.
    with raises_aws("IncorrectKeyMaterialException", INCORRECT_MATERIAL_MSG):
        imp(west, kid, os.urandom(32))
    with raises_aws("UnsupportedOperationException", f"{rarn} is a multi-Region key: its key "
                    "material cannot change after the first import."):
        imp(west, kid, os.urandom(32), ImportType="NEW_KEY_MATERIAL")
    valid_to = at(HOUR)
    assert imp(west, kid, m, ImportType="EXISTING_KEY_MATERIAL",
               ValidTo=valid_to)["KeyMaterialId"] == mid
    got = west.describe_key(KeyId=kid)["KeyMetadata"]
    assert got["KeyState"] == "Enabled" and got["CurrentKeyMaterialId"] == mid
    assert got["ExpirationModel"] == "KEY_MATERIAL_EXPIRES" and got["ValidTo"] == valid_to
    assert west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"from the east"
    wblob = west.encrypt(KeyId=kid, Plaintext=b"from the west")["CiphertextBlob"]
    assert open_offline(wblob, m) == b"from the west"
    # The primary's own expiry is its own.
    assert east.describe_key(KeyId=kid)["KeyMetadata"]["ExpirationModel"] == \
        "KEY_MATERIAL_DOES_NOT_EXPIRE"

    # Deleting in one region leaves the other alone.
    east.delete_imported_key_material(KeyId=kid)
    assert east.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "PendingImport"
    assert west.decrypt(CiphertextBlob=wblob)["Plaintext"] == b"from the west"
    imp(east, kid, m)
    assert east.decrypt(CiphertextBlob=wblob)["Plaintext"] == b"from the west"

    # The replica's material expires at its own ValidTo; the primary's not.
    srv.stop_clean()
    srv.start({"TRESOR_CLOCK_OFFSET": str(2 * HOUR)}, args=["--regions", f"{REGION},{WEST}"])
    east, kms_west = srv.client("kms"), srv.client("kms", region=WEST)

    def replica_expired():
        assert kms_west.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "PendingImport"
    eventually(replica_expired)
    assert east.describe_key(KeyId=kid)["KeyMetadata"]["KeyState"] == "Enabled"
    assert east.decrypt(CiphertextBlob=wblob)["Plaintext"] == b"from the west"
    imp(kms_west, kid, m)
    assert kms_west.decrypt(CiphertextBlob=blob)["Plaintext"] == b"from the east"
