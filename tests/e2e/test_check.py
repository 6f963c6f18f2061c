"""
test_check.py -- `tresor check DIR`: the store's integrity check end to end.

A server gets keys, an alias, a grant and secrets under the managed key and a
customer key through boto3; `tresor check` passes while it runs and after it
stops, and prints counts, never a value.  Then the stopped store is tampered
with through Python's sqlite3 (an envelope, a label, a wrapped key material)
or by overwriting a database page:
the check exits 1 and names the record.  Usage errors exit 2; a directory that
is not a data dir exits 1.
"""

import base64
import json
import sqlite3

import pytest

from tresor_e2e import sqlite_only, ROOT_ARN

VALUE = "s3cr3t-value-never-printed"


def check(srv, *extra):
    return srv.run_tresor("check", "--data-dir", srv.data_dir, *extra)


@pytest.fixture
def filled(tresor_factory):
    srv = tresor_factory("check")
    kms, sm = srv.kms(), srv.sm()
    key = kms.create_key(Description="check")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/check", TargetKeyId=key)
    kms.create_grant(KeyId=key, GranteePrincipal=ROOT_ARN, RetiringPrincipal=ROOT_ARN,
                     Operations=["Decrypt"])
    sm.create_secret(Name="managed", SecretString=VALUE)
    sm.put_secret_value(SecretId="managed", SecretString=VALUE + "2")
    sm.create_secret(Name="custom", SecretString=VALUE, KmsKeyId=key)
    srv.key_id = key
    return srv


def db(srv):
    return sqlite3.connect(str(srv.data_dir / "tresor.db"))


def test_clean_store_running_and_stopped(filled):
    p = check(filled)
    assert p.returncode == 0, p.stdout + p.stderr
    filled.stop_clean()
    p = check(filled)
    assert p.returncode == 0, p.stdout + p.stderr
    out = p.stdout
    assert out.strip().endswith("clean")
    assert "schema version 6 (this build: 6)" in out
    assert "kms keys 2, key materials 2, aliases 2, grants 1" in out
    assert "secrets 2, versions 3, values decrypted 3" in out
    assert VALUE not in out and VALUE not in p.stderr


@sqlite_only  # tampers with the SQLite file
def test_tampered_envelope_is_reported(filled):
    arn = filled.sm().describe_secret(SecretId="custom")["ARN"]
    filled.stop_clean()
    with db(filled) as c:
        vid, doc = c.execute("SELECT dst, doc FROM relations WHERE kind = 'secret-ver' "
                             "AND src = ?", (arn,)).fetchone()
        d = json.loads(doc)
        ct = bytearray(base64.b64decode(d["ct"]))
        ct[-1] ^= 1
        d["ct"] = base64.b64encode(bytes(ct)).decode()
        c.execute("UPDATE relations SET doc = ? WHERE kind = 'secret-ver' AND dst = ?",
                  (json.dumps(d), vid))
    p = check(filled)
    assert p.returncode == 1, p.stdout + p.stderr
    assert f"PROBLEM secret {arn} version {vid}: the value does not decrypt" in p.stdout
    assert p.stdout.strip().endswith("1 problem")
    assert VALUE not in p.stdout


@sqlite_only  # tampers with the SQLite file
def test_label_on_two_versions_is_reported(filled):
    filled.stop_clean()
    with db(filled) as c:
        for vid, doc in c.execute("SELECT dst, doc FROM relations WHERE kind = 'secret-ver'"):
            d = json.loads(doc)
            if "AWSPREVIOUS" in d["stages"]:
                d["stages"] = ["AWSCURRENT"]
                c.execute("UPDATE relations SET doc = ? WHERE kind = 'secret-ver' AND dst = ?",
                          (json.dumps(d), vid))
    p = check(filled)
    assert p.returncode == 1, p.stdout
    assert "label AWSCURRENT on versions" in p.stdout
    assert "2 versions labeled AWSCURRENT" in p.stdout


@sqlite_only  # tampers with the SQLite file
def test_corrupt_key_material_is_reported(filled):
    filled.stop_clean()
    with db(filled) as c:
        (w,) = c.execute("SELECT wrapped FROM kms_key_materials WHERE key_id = ?",
                         (filled.key_id,)).fetchone()
        w = bytearray(w)
        w[5] ^= 0x80
        c.execute("UPDATE kms_key_materials SET wrapped = ? WHERE key_id = ?",
                  (bytes(w), filled.key_id))
    p = check(filled)
    assert p.returncode == 1, p.stdout
    assert f"kms key {filled.key_id}: material v1 does not unwrap under the root key" in p.stdout
    assert "the value does not decrypt" in p.stdout       # the secret under that key


@sqlite_only  # tampers with the SQLite file
def test_corrupt_database_page_is_reported(filled):
    filled.stop_clean()                   # checkpointed: everything is in tresor.db
    path = filled.data_dir / "tresor.db"
    with open(path, "r+b") as f:          # page 2 (4096 bytes a page): a table's root
        f.seek(4096)
        f.write(b"\xff" * 64)
    p = check(filled)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "PROBLEM store: integrity_check:" in p.stdout, p.stdout


def test_usage_and_not_a_data_dir(tresor_factory, tmp_path):
    srv = tresor_factory("check-usage", start=False)
    p = srv.run_tresor("check", "--bogus")
    assert p.returncode == 2
    p = srv.run_tresor("check", "--data-dir", tmp_path)
    assert p.returncode == 1
    assert "is not an initialized data dir" in p.stderr
    p = srv.run_tresor("check", "--help")
    assert p.returncode == 0 and "usage: tresor check" in p.stdout
