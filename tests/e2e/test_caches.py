"""
The request path's per-thread caches (README "Benchmarks", src/store/store.h):
what a client writes is what its very next request sees, on the same
keep-alive connection, for every kind of cached data -- identity policies,
access keys, KMS keys (state, key policy, aliases), secrets (values, tags,
resource policies) and ListSecrets listings -- and a commit made by another
tresor process (here: Python's sqlite3 on the data directory, bumping the
commit counter file as tresor does) is seen by the next request too, and
one by a writer that is not tresor within the bound (100 ms).  Each case flips the state back and forth several times in a
row, so a stale answer cannot hide behind timing.
"""

import json
import sqlite3
import time

import pytest

from tresor_e2e import (bump_commit_counter, sqlite_only,
    allow, deny, make_user, policy_doc, raises_aws, unique,
)

ROUNDS = 6


def test_identity_policy_changes_are_seen_at_once(root):
    key = root.kms.create_key()["KeyMetadata"]
    u = make_user(root, policy=allow(["kms:Encrypt"], key["Arn"]))
    for _ in range(ROUNDS):
        u.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
        root.iam.put_user_policy(UserName=u.name, PolicyName="inline",
                                 PolicyDocument=policy_doc(allow(["kms:Encrypt"], key["Arn"]),
                                                           deny(["kms:Encrypt"], key["Arn"])))
        with raises_aws("AccessDeniedException"):
            u.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
        root.iam.put_user_policy(UserName=u.name, PolicyName="inline",
                                 PolicyDocument=policy_doc(allow(["kms:Encrypt"], key["Arn"])))


def test_access_key_state_is_seen_at_once(root):
    u = make_user(root, policy=allow(["kms:ListKeys"]))
    for _ in range(ROUNDS):
        u.kms.list_keys()
        root.iam.update_access_key(UserName=u.name, AccessKeyId=u.access_key, Status="Inactive")
        with raises_aws("UnrecognizedClientException"):
            u.kms.list_keys()
        root.iam.update_access_key(UserName=u.name, AccessKeyId=u.access_key, Status="Active")
    root.iam.delete_access_key(UserName=u.name, AccessKeyId=u.access_key)
    with raises_aws("UnrecognizedClientException"):
        u.kms.list_keys()


def test_key_state_policy_and_aliases_are_seen_at_once(root):
    key = root.kms.create_key()["KeyMetadata"]
    other = root.kms.create_key()["KeyMetadata"]
    alias = "alias/" + unique("cache")
    root.kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    u = make_user(root, policy=allow(["kms:Encrypt", "kms:DescribeKey"], "*"))
    for _ in range(ROUNDS):
        u.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
        root.kms.disable_key(KeyId=key["KeyId"])
        with raises_aws("DisabledException"):
            u.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
        root.kms.enable_key(KeyId=key["KeyId"])
        # The alias moves: the next request through it lands on the other key.
        root.kms.update_alias(AliasName=alias, TargetKeyId=other["KeyId"])
        assert u.kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == other["KeyId"]
        root.kms.update_alias(AliasName=alias, TargetKeyId=key["KeyId"])
        assert u.kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == key["KeyId"]
    # A key policy that no longer delegates to IAM (it names one other user,
    # not the account): the user is refused at once.
    keeper = make_user(root)
    closed = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": keeper.arn}, "Action": "kms:*", "Resource": "*"}]})
    root.kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=closed,
                            BypassPolicyLockoutSafetyCheck=True)
    with raises_aws("AccessDeniedException"):
        u.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")


def test_secret_values_tags_and_policies_are_seen_at_once(root):
    sm = root.client("secretsmanager")
    name = unique("cache")
    arn = sm.create_secret(Name=name, SecretString="v0")["ARN"]
    u = make_user(root, policy=allow(["secretsmanager:GetSecretValue", "kms:Decrypt"], "*",
                                     condition={"StringEquals":
                                                {"secretsmanager:ResourceTag/team": "blue"}}))
    usm = u.client("secretsmanager")
    with raises_aws("AccessDeniedException"):
        usm.get_secret_value(SecretId=name)
    for i in range(ROUNDS):
        sm.put_secret_value(SecretId=name, SecretString=f"v{i + 1}")
        assert sm.get_secret_value(SecretId=name)["SecretString"] == f"v{i + 1}"
        assert sm.get_secret_value(SecretId=arn)["SecretString"] == f"v{i + 1}"
        sm.tag_resource(SecretId=name, Tags=[{"Key": "team", "Value": "blue"}])
        assert usm.get_secret_value(SecretId=name)["SecretString"] == f"v{i + 1}"
        sm.untag_resource(SecretId=name, TagKeys=["team"])
        with raises_aws("AccessDeniedException"):
            usm.get_secret_value(SecretId=name)
    # A resource policy that denies: seen by the next read.
    sm.tag_resource(SecretId=name, Tags=[{"Key": "team", "Value": "blue"}])
    usm.get_secret_value(SecretId=name)
    sm.put_resource_policy(SecretId=name, ResourcePolicy=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Deny", "Principal": {"AWS": u.arn},
            "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}))
    with raises_aws("AccessDeniedException"):
        usm.get_secret_value(SecretId=name)
    sm.delete_resource_policy(SecretId=name)
    usm.get_secret_value(SecretId=name)


def test_listing_follows_creates_and_deletes(root):
    sm = root.client("secretsmanager")
    prefix = unique("list")

    def names():
        out, kw = [], {"MaxResults": 100}
        while True:
            r = sm.list_secrets(**kw)
            out += [s["Name"] for s in r["SecretList"] if s["Name"].startswith(prefix)]
            if "NextToken" not in r:
                return out
            kw["NextToken"] = r["NextToken"]

    made = []
    for i in range(ROUNDS):
        made.append(f"{prefix}-{i}")
        sm.create_secret(Name=made[-1], SecretString="x")
        assert sorted(names()) == sorted(made)
    sm.delete_secret(SecretId=made[0], ForceDeleteWithoutRecovery=True)
    assert sorted(names()) == sorted(made[1:])


def _describe_edited_elsewhere(server, arn, description):
    """Set a secret's description straight in the database, with Python's
    sqlite3: a commit of another process that the server's caches hold."""
    db = sqlite3.connect(str(server.data_dir / "tresor.db"), timeout=10)
    try:
        doc = json.loads(db.execute("SELECT doc FROM entities WHERE kind = 'secret' AND arn = ?",
                                    (arn,)).fetchone()[0])
        doc["description"] = description
        with db:
            db.execute("UPDATE entities SET doc = ? WHERE kind = 'secret' AND arn = ?",
                       (json.dumps(doc), arn))
    finally:
        db.close()


@sqlite_only  # another process writing the SQLite file
def test_another_process_commit_is_seen_by_the_next_request(authz_server, root):
    """The server learns of commits by other tresor processes through the
    commit counter file they bump, then SQLite's data_version: change a
    secret's description straight in the database, bump the counter as a
    tresor writer does, and the very next DescribeSecret shows it."""
    sm = root.client("secretsmanager")
    name = unique("foreign")
    arn = sm.create_secret(Name=name, SecretString="x", Description="before")["ARN"]
    for i in range(ROUNDS):
        assert sm.describe_secret(SecretId=name)["Description"] in ("before", f"after-{i - 1}")
        _describe_edited_elsewhere(authz_server, arn, f"after-{i}")
        bump_commit_counter(authz_server.data_dir)
        assert sm.describe_secret(SecretId=name)["Description"] == f"after-{i}"


@sqlite_only  # another process writing the SQLite file
def test_a_commit_that_skips_the_counter_is_seen_within_the_bound(authz_server, root):
    """A writer that is not tresor (the sqlite3 shell, here Python's) does
    not bump the counter: each server thread still reads data_version at
    least every 100 ms, so the change is served soon after, never the old
    value for good.  (Up to 10 s here: a loaded machine, sanitizer builds.)"""
    sm = root.client("secretsmanager")
    name = unique("foreign-bound")
    arn = sm.create_secret(Name=name, SecretString="x", Description="before")["ARN"]
    for i in range(3):
        assert sm.describe_secret(SecretId=name)["Description"] in ("before", f"after-{i - 1}")
        _describe_edited_elsewhere(authz_server, arn, f"after-{i}")
        deadline = time.monotonic() + 10
        while sm.describe_secret(SecretId=name)["Description"] != f"after-{i}":
            assert time.monotonic() < deadline, "a foreign commit was never noticed"
            time.sleep(0.02)


@sqlite_only  # the SQLite store's commit counter file
@pytest.mark.parametrize("damage", [b"", b"\x07\x07\x07"], ids=["emptied", "cut-garbled"])
def test_a_commit_counter_file_cut_short_under_the_server(authz_server, root, damage):
    """DATA_DIR/tresor.db-gen cut short while the server runs (another
    process, an operator, a full disk) used to kill the server with SIGBUS
    at its next request (the file was mapped).  Now requests keep working,
    a short file counts as "every domain moved" (a foreign commit that did
    not bump is served at the next request), the server's own next write
    makes the file whole again, and a bump by another process is then
    seen at once again."""
    sm = root.client("secretsmanager")
    name = unique("gen-cut")
    arn = sm.create_secret(Name=name, SecretString="x", Description="before")["ARN"]
    gen = authz_server.data_dir / "tresor.db-gen"
    for i in range(3):
        sm.describe_secret(SecretId=name)          # cached
        gen.write_bytes(damage)
        assert sm.describe_secret(SecretId=name)["Description"] in ("before", f"own-{i - 1}")
        assert authz_server.proc.poll() is None
        _describe_edited_elsewhere(authz_server, arn, f"cut-{i}")       # no bump
        assert sm.describe_secret(SecretId=name)["Description"] == f"cut-{i}"
        sm.update_secret(SecretId=name, Description=f"own-{i}")
        assert sm.describe_secret(SecretId=name)["Description"] == f"own-{i}"
        assert gen.stat().st_size == 8
        _describe_edited_elsewhere(authz_server, arn, f"after-{i}")
        bump_commit_counter(authz_server.data_dir)
        assert sm.describe_secret(SecretId=name)["Description"] == f"after-{i}"
        sm.update_secret(SecretId=name, Description=f"own-{i}")
    assert authz_server.proc.poll() is None


def test_a_key_made_unusable_right_after_hot_cached_use(root):
    """Decrypt and GetSecretValue warm the KMS key, its unwrapped material
    and the blob's derived key in the caches; DisableKey or
    ScheduleKeyDeletion right after refuses the very next use with AWS's
    error, however hot the caches were, and the derived keys are wiped
    then (tests/unit/ciphertext_test.c, forgotten_blob_keys); enabled or
    cancelled again, the same blobs open."""
    kms, sm = root.kms, root.client("secretsmanager")
    key = kms.create_key()["KeyMetadata"]
    kid, arn = key["KeyId"], key["Arn"]
    blob = kms.encrypt(KeyId=kid, Plaintext=b"hot")["CiphertextBlob"]
    name = unique("hot-key")
    sm.create_secret(Name=name, SecretString="hot-secret", KmsKeyId=kid)
    for _ in range(ROUNDS):
        for _ in range(3):
            assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hot"
            assert sm.get_secret_value(SecretId=name)["SecretString"] == "hot-secret"
        kms.disable_key(KeyId=kid)
        with raises_aws("DisabledException", f"{arn} is disabled."):
            kms.decrypt(CiphertextBlob=blob)
        with raises_aws("DecryptionFailure", startswith="Secrets Manager can't decrypt the "
                        "protected secret text using the provided KMS key."):
            sm.get_secret_value(SecretId=name)
        kms.enable_key(KeyId=kid)
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hot"
        assert sm.get_secret_value(SecretId=name)["SecretString"] == "hot-secret"
        kms.schedule_key_deletion(KeyId=kid, PendingWindowInDays=7)
        with raises_aws("KMSInvalidStateException", f"{arn} is pending deletion."):
            kms.decrypt(CiphertextBlob=blob)
        with raises_aws("DecryptionFailure", startswith="Secrets Manager can't decrypt the "
                        "protected secret text using the provided KMS key."):
            sm.get_secret_value(SecretId=name)
        kms.cancel_key_deletion(KeyId=kid)
        kms.enable_key(KeyId=kid)


def _sm_denied(u, arn):
    return (f"User: {u.arn} is not authorized to perform: secretsmanager:GetSecretValue "
            f"on resource: {arn} with an explicit deny in an identity-based policy")


def test_a_secret_write_keeps_identity_and_key_changes_seen(root):
    """A write of a secret's value moves only the secrets' part of the
    store generation (docs/internals/CACHES.md, "Domains"): the caller's
    identity and the KMS key stay cached across it -- and a change of
    either, made after it, is still seen by the very next request: the
    caller's policy (an explicit deny), and the key policy (closed to the
    caller: "Access to KMS is not allowed")."""
    key = root.kms.create_key()["KeyMetadata"]
    opened = root.kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
    acts = ["secretsmanager:GetSecretValue", "secretsmanager:PutSecretValue",
            "kms:Decrypt", "kms:GenerateDataKey"]
    u = make_user(root, policy=allow(acts, "*"))
    keeper = make_user(root)
    closed = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": keeper.arn}, "Action": "kms:*", "Resource": "*"}]})
    sm = u.client("secretsmanager")
    arn = root.client("secretsmanager").create_secret(Name=unique("domains"), SecretString="v0",
                                                      KmsKeyId=key["KeyId"])["ARN"]
    for i in range(ROUNDS):
        sm.put_secret_value(SecretId=arn, SecretString=f"a{i}")      # caches u and the key
        assert sm.get_secret_value(SecretId=arn)["SecretString"] == f"a{i}"
        root.iam.put_user_policy(UserName=u.name, PolicyName="inline",
                                 PolicyDocument=policy_doc(allow(acts, "*"),
                                                           deny(["secretsmanager:GetSecretValue"], "*")))
        sm.put_secret_value(SecretId=arn, SecretString=f"b{i}")      # a secret write after it
        with raises_aws("AccessDeniedException", _sm_denied(u, arn)):
            sm.get_secret_value(SecretId=arn)
        root.iam.put_user_policy(UserName=u.name, PolicyName="inline", PolicyDocument=policy_doc(allow(acts, "*")))
        assert sm.get_secret_value(SecretId=arn)["SecretString"] == f"b{i}"
        root.kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=closed,
                                BypassPolicyLockoutSafetyCheck=True)
        with raises_aws("AccessDeniedException", "Access to KMS is not allowed"):
            sm.get_secret_value(SecretId=arn)
        with raises_aws("AccessDeniedException", "Access to KMS is not allowed"):
            sm.put_secret_value(SecretId=arn, SecretString=f"c{i}")
        keeper.kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=opened,
                                  BypassPolicyLockoutSafetyCheck=True)
        assert sm.get_secret_value(SecretId=arn)["SecretString"] == f"b{i}"
