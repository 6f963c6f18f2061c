"""
test_pg_migrate.py -- `tresor migrate --from DIR --to URL`: a stopped
SQLite store copied into an empty PostgreSQL database.

A server on SQLite is given secrets (with AWSCURRENT and AWSPREVIOUS
versions), a KMS key with an alias, a rotated material and a grant, and
an IAM user with a policy and an access key; then stopped.  Then:

  - migrate refuses while a server runs on DIR, a database that is not
    empty (a store already there, or a table that is not tresor's: that
    database is left as it was), and bad arguments;
  - migrate copies into an empty database (a summary of rows per table);
  - `tresor check --store URL` is clean;
  - who-can-decrypt (one secret and --all, JSON) and what-can-decrypt
    answer the same on the database as on the SQLite dir;
  - a server on the database (a new data dir with a copy of the root key
    and the credentials) answers GetSecretValue (both stages) and Decrypt
    for what was made on SQLite, and the IAM user's access key works.

Runs only with TRESOR_E2E_STORE=postgres (make e2e-pg).
"""

import shutil

import pytest

from tresor_e2e import (STORE, TresorServer, allow, make_user, pg_create_database, pg_drop_database, pg_sql,
                        unique)

pytestmark = pytest.mark.skipif(STORE != "postgres",
                                reason="needs a PostgreSQL cluster (make e2e-pg: TRESOR_E2E_STORE=postgres)")


@pytest.fixture
def sqlite_server(tmp_path_factory):
    srv = TresorServer("mig-src", tmp_path_factory.mktemp("tresor-mig-src"))
    srv.pg_db = False               # the SQLite store, under e2e-pg too
    yield srv
    srv.close()


@pytest.fixture
def databases():
    made = []

    def make():
        name, url = pg_create_database()
        made.append(name)
        return name, url
    yield make
    for name in made:
        pg_drop_database(name)


def test_migrate_sqlite_store_to_postgres(sqlite_server, databases, tmp_path_factory):
    src = sqlite_server
    src.start()
    sm, kms = src.sm(), src.kms()
    key = kms.create_key(Description="migrated key")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/migrated", TargetKeyId=key)
    blob_v1 = kms.encrypt(KeyId=key, Plaintext=b"before rotation")["CiphertextBlob"]
    src.call("RotateKeyOnDemand", KeyId=key)
    blob_v2 = kms.encrypt(KeyId="alias/migrated", Plaintext=b"after rotation")["CiphertextBlob"]
    name = unique("migrated")
    first = sm.create_secret(Name=name, SecretString="v1", KmsKeyId=key)["VersionId"]
    second = sm.put_secret_value(SecretId=name, SecretString="v2")["VersionId"]
    plain = unique("plain")
    sm.create_secret(Name=plain, SecretBinary=b"\x00\x01binary\xff")
    user = make_user(src.root_user, policy=allow(["secretsmanager:GetSecretValue", "kms:Decrypt"], "*"))
    kms.create_grant(KeyId=key, GranteePrincipal=user.arn, Operations=["Decrypt"], Name="migrated-grant")
    url_name, url = databases()

    # A server running on DIR: refused, nothing written.
    p = src.run_tresor("migrate", "--from", src.data_dir, "--to", url)
    assert p.returncode == 1, p.stderr
    assert f"a tresor server is running on {src.data_dir.resolve()}" in p.stderr, p.stderr
    assert pg_sql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", url).strip() == "0"
    src.stop_clean()

    def answers(store=None):
        extra = ["--store", store] if store else []
        out = {}
        for args in ((("who-can-decrypt", name, "--format", "json")),
                     (("who-can-decrypt", "--all", "--format", "json")),
                     (("what-can-decrypt", user.arn, "--format", "json"))):
            p = src.run_tresor(*args, "--data-dir", src.data_dir, *extra)
            assert p.returncode == 0, (args, p.stderr)
            out[args] = p.stdout
        return out

    before = answers()

    # Usage errors.
    p = src.run_tresor("migrate", "--from", src.data_dir)
    assert p.returncode == 2 and "--to URL is required" in p.stderr, p.stderr
    p = src.run_tresor("migrate", "--to", url)
    assert p.returncode == 2 and "--from DIR is required" in p.stderr, p.stderr
    p = src.run_tresor("migrate", "--from", src.data_dir, "--to", "/not/a/url")
    assert p.returncode == 2 and "--to must be a PostgreSQL connection string" in p.stderr, p.stderr
    empty_dir = tmp_path_factory.mktemp("mig-empty")
    p = src.run_tresor("migrate", "--from", empty_dir, "--to", url)
    assert p.returncode == 1 and "has no SQLite store (tresor.db): nothing to copy" in p.stderr, p.stderr

    # A database with a table that is not tresor's: refused, left as it was.
    foreign_name, foreign = databases()
    pg_sql("CREATE TABLE payroll (id int)", foreign)
    p = src.run_tresor("migrate", "--from", src.data_dir, "--to", foreign)
    assert p.returncode == 1, p.stderr
    assert "is not empty: it holds public.payroll, which is not tresor's; tresor migrate copies into an " \
           "empty database only; nothing was copied" in p.stderr, p.stderr
    assert pg_sql("SELECT string_agg(tablename, ',') FROM pg_tables WHERE schemaname = 'public'",
                  foreign).strip() == "payroll"

    # The copy.
    p = src.run_tresor("migrate", "--from", src.data_dir, "--to", url)
    assert p.returncode == 0, p.stderr
    assert "copied into PostgreSQL" in p.stdout and f"dbname={url_name}" in p.stdout, p.stdout
    counts = dict(line.split() for line in p.stdout.splitlines() if line.startswith("  "))
    assert counts["accounts"] == "1" and int(counts["kms_key_materials"]) >= 2, p.stdout
    assert int(counts["access_keys"]) >= 2 and int(counts["relations"]) >= 1, p.stdout
    for table, n in counts.items():
        assert pg_sql(f"SELECT count(*) FROM {table}", url).strip() == n, table
    assert "secret" not in p.stderr.lower(), p.stderr

    # Not empty any more: refused, and nothing doubled.
    again = src.run_tresor("migrate", "--from", src.data_dir, "--to", url)
    assert again.returncode == 1, again.stderr
    assert "is not empty: its table accounts has rows (a store is there already)" in again.stderr, again.stderr
    assert pg_sql("SELECT count(*) FROM accounts", url).strip() == "1"

    # check, and the analysis, on the database.
    p = src.run_tresor("check", "--data-dir", src.data_dir, "--store", url)
    assert p.returncode == 0 and p.stdout.rstrip().endswith("clean"), p.stdout + p.stderr
    assert "store: PostgreSQL" in p.stdout
    assert answers(url) == before

    # A server on the database: a data dir with a copy of the root key.
    node = TresorServer("mig-pg", tmp_path_factory.mktemp("tresor-mig-pg"))
    node.pg_db = (url_name, url)
    node.pg_db_shared = True            # dropped by the databases fixture
    shutil.copy2(src.data_dir / "root.key", node.data_dir / "root.key")
    shutil.copy2(src.data_dir / "credentials", node.data_dir / "credentials")
    try:
        node.start()
        nsm, nkms = node.sm(), node.kms()
        got = nsm.get_secret_value(SecretId=name)
        assert (got["SecretString"], got["VersionId"]) == ("v2", second)
        prev = nsm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")
        assert (prev["SecretString"], prev["VersionId"]) == ("v1", first)
        assert nsm.get_secret_value(SecretId=plain)["SecretBinary"] == b"\x00\x01binary\xff"
        assert nkms.decrypt(CiphertextBlob=blob_v1)["Plaintext"] == b"before rotation"
        assert nkms.decrypt(CiphertextBlob=blob_v2)["Plaintext"] == b"after rotation"
        assert nkms.describe_key(KeyId="alias/migrated")["KeyMetadata"]["KeyId"] == key
        assert [g["Name"] for g in nkms.list_grants(KeyId=key)["Grants"]] == ["migrated-grant"]
        usm = node.client("secretsmanager", user.access_key, user.secret_key)
        assert usm.get_secret_value(SecretId=name)["SecretString"] == "v2"
        assert node.client("sts", user.access_key, user.secret_key).get_caller_identity()["Arn"] == user.arn
        # And it writes on: a new version on top of the migrated ones.
        nsm.put_secret_value(SecretId=name, SecretString="v3")
        assert nsm.get_secret_value(SecretId=name, VersionStage="AWSPREVIOUS")["VersionId"] == second
    finally:
        node.close()
