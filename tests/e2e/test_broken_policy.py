"""
test_broken_policy.py -- a stored policy that no longer compiles fails
closed, the same way for every kind (docs/AUTHORIZATION.md 2.9): it
explicitly denies every request it takes part in, and the server logs a
line naming the policy, never its text.

A policy is valid when stored (every API that stores one compiles it
first), so the tests break one behind the server's back: they rewrite the
stored document with Python's sqlite3 on the running server's data
directory (the server sees a commit of another process at its next
request, test_caches.py).  The broken documents keep their Deny
statements, with a member the engine refuses beside them: a Deny that
disappeared with the rest of its policy would be the failure these tests
are here to catch.  Each kind: a secret's resource policy, a KMS key policy
(whose grant must not allow either), an IAM identity policy and a
permissions boundary, a role's trust policy; then the analysis commands
(`who-can-decrypt`, `policy simulate`), which decide with the same rule.
A key policy and a resource policy that name a user are stored with their
binding (the user's unique id, docs/internals/IAM_STORE.md): broken with
the binding left in place, they fail closed the same way.
"""

import json
import sqlite3

import pytest

from tresor_e2e import (bump_commit_counter, sqlite_only,
    allow, deny, denied_msg, make_managed_policy, make_role, make_user, policy_doc, raises_aws,
    unique,
)

# These tests break stored documents with Python's sqlite3 on the SQLite file.
pytestmark = sqlite_only

GSV = "secretsmanager:GetSecretValue"
# What the engine refuses ("Syntax errors in policy."): an unknown member
# in a statement.  The broken documents carry it beside a real Deny.
BOGUS = "NotAPolicyMember"
MARKER = "broken-policy-text-never-logged"


def broken(*statements):
    """A policy document the engine refuses, holding the given statements
    (their Deny statements included) and a marker that must never reach
    the log."""
    doc = json.loads(policy_doc(*statements))
    doc["Statement"][0][BOGUS] = MARKER
    return json.dumps(doc)


def rewrite(srv, sql, *args):
    db = sqlite3.connect(str(srv.data_dir / "tresor.db"), timeout=10)
    try:
        with db:
            assert db.execute(sql, args).rowcount == 1
    finally:
        db.close()
    bump_commit_counter(srv.data_dir)


def set_secret_policy(srv, arn, text):
    db = sqlite3.connect(str(srv.data_dir / "tresor.db"), timeout=10)
    try:
        doc = json.loads(db.execute("SELECT doc FROM entities WHERE kind = 'secret' AND arn = ?",
                                    (arn,)).fetchone()[0])
        doc["policy"] = text
        with db:
            db.execute("UPDATE entities SET doc = ? WHERE kind = 'secret' AND arn = ?",
                       (json.dumps(doc), arn))
    finally:
        db.close()
    bump_commit_counter(srv.data_dir)


def stored_binding(srv, sql, *args):
    """The binding saved beside a policy (a JSON object text), as a dict."""
    db = sqlite3.connect(str(srv.data_dir / "tresor.db"), timeout=10)
    try:
        text = db.execute(sql, args).fetchone()[0]
    finally:
        db.close()
    return json.loads(text) if text else None


def secret_binding(srv, arn):
    doc = stored_binding(srv, "SELECT doc FROM entities WHERE kind = 'secret' AND arn = ?", arn)
    return json.loads(doc["policy_ids"]) if doc.get("policy_ids") else None


def simulate(srv, who, action, resource):
    p = srv.run_tresor("policy", "simulate", "--principal", who, "--action", action,
                       "--resource", resource, "--data-dir", srv.data_dir)
    assert MARKER not in p.stdout + p.stderr
    return p


def assert_logged(srv, name):
    """The warning names the policy and never quotes it."""
    log = srv.stderr_text().decode(errors="replace")
    lines = [ln for ln in log.splitlines() if "does not compile" in ln and name in ln]
    assert lines, f"no warning naming {name}:\n{log[-3000:]}"
    assert "denies every request" in lines[-1]
    assert MARKER not in log and BOGUS not in log


def test_secret_resource_policy_keeps_its_deny(authz_server, root):
    """The security bug: Secrets Manager used to drop a resource policy
    that no longer compiled, Deny statements included, and let the
    identity side decide alone."""
    sm = root.client("secretsmanager")
    name = unique("broken-rp")
    arn = sm.create_secret(Name=name, SecretString="v")["ARN"]
    u = make_user(root, policy=allow([GSV, "secretsmanager:DescribeSecret"], "*"))
    usm = u.client("secretsmanager")
    usm.get_secret_value(SecretId=arn)
    no_reader = deny(GSV, principal={"AWS": u.arn})
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=policy_doc(no_reader))
    with raises_aws("AccessDeniedException"):
        usm.get_secret_value(SecretId=arn)

    set_secret_policy(authz_server, arn, broken(no_reader))
    msg = denied_msg(u.arn, GSV, arn, "explicit-resource")
    with raises_aws("AccessDeniedException", msg):
        usm.get_secret_value(SecretId=arn)
    # Every request the policy takes part in, every principal, the root
    # user included.
    with raises_aws("AccessDeniedException"):
        usm.describe_secret(SecretId=arn)
    with raises_aws("AccessDeniedException"):
        sm.get_secret_value(SecretId=arn)
    assert_logged(authz_server, f"resource policy of {arn}")


def test_key_policy_denies_and_no_grant_allows(authz_server, root):
    """A key policy that no longer compiles used to allow nothing, so a
    grant still allowed, whatever the key policy denied."""
    key = root.kms.create_key()["KeyMetadata"]
    u = make_user(root)
    root.kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=u.arn, Operations=["Encrypt"])
    u.kms.encrypt(KeyId=key["Arn"], Plaintext=b"x")
    account = key["Arn"].split(":")[4]
    keep = [allow("kms:*", principal={"AWS": f"arn:aws:iam::{account}:root"}),
            deny("kms:Encrypt", principal={"AWS": u.arn})]
    rewrite(authz_server, "UPDATE kms_keys SET policy = ? WHERE key_id = ?",
            broken(*keep), key["KeyId"])
    with raises_aws("AccessDeniedException",
                    denied_msg(u.arn, "kms:Encrypt", key["Arn"], "explicit-resource")):
        u.kms.encrypt(KeyId=key["Arn"], Plaintext=b"x")
    with raises_aws("AccessDeniedException"):
        root.kms.describe_key(KeyId=key["KeyId"])
    assert_logged(authz_server, f"key policy of {key['Arn']}")


def test_identity_policy_denies_everything_its_principal_asks(authz_server, root):
    """An inline policy that no longer compiles used to fail every request
    of its user with an internal error; now it denies them, and an
    administrator can replace it."""
    key = root.kms.create_key()["KeyMetadata"]
    u = make_user(root, policy=[allow(["kms:Encrypt", "kms:DescribeKey"], "*"),
                                deny("kms:Decrypt", "*")])
    u.kms.describe_key(KeyId=key["Arn"])
    rel = f"arn:aws:iam::{key['Arn'].split(':')[4]}:user/{u.name}"
    rewrite(authz_server, "UPDATE relations SET doc = ? WHERE kind = 'inline' AND src = ?",
            broken(allow("kms:*", "*"), deny("kms:Decrypt", "*")), rel)
    with raises_aws("AccessDeniedException",
                    denied_msg(u.arn, "kms:DescribeKey", key["Arn"], "explicit-identity")):
        u.kms.describe_key(KeyId=key["Arn"])
    with raises_aws("AccessDenied", status=403):
        u.iam.list_users()
    assert_logged(authz_server, f"identity policy inline:{rel}:inline")
    # Other principals are not affected, and can repair it.
    root.iam.put_user_policy(UserName=u.name, PolicyName="inline",
                             PolicyDocument=policy_doc(allow("kms:DescribeKey", "*")))
    u.kms.describe_key(KeyId=key["Arn"])


def test_boundary_denies(authz_server, root):
    bound = make_managed_policy(root, allow("kms:*", "*"))["Arn"]
    u = make_user(root, policy=allow("kms:ListKeys", "*"), boundary=bound)
    u.kms.list_keys()
    rewrite(authz_server, "UPDATE relations SET doc = json_set(doc, '$.document', ?) "
            "WHERE kind = 'version' AND src = ? AND dst = 'v1'",
            broken(allow("kms:*", "*")), bound)
    with raises_aws("AccessDeniedException",
                    denied_msg(u.arn, "kms:ListKeys", "*", "explicit-boundary")):
        u.kms.list_keys()
    assert_logged(authz_server, f"identity policy {bound}")


def test_trust_policy_denies_assume_role(authz_server, root):
    """A trust policy that no longer compiles used to fail AssumeRole with
    an internal error."""
    u = make_user(root, policy=allow("sts:AssumeRole", "*"))
    role = make_role(root, trust={"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": u.arn}, "Action": "sts:AssumeRole"}]})["Arn"]
    u.sts.assume_role(RoleArn=role, RoleSessionName="before")
    doc = json.loads(sqlite3.connect(str(authz_server.data_dir / "tresor.db"))
                     .execute("SELECT doc FROM entities WHERE kind = 'role' AND arn = ?",
                              (role,)).fetchone()[0])
    doc["trust"] = broken({"Effect": "Allow", "Principal": {"AWS": u.arn},
                           "Action": "sts:AssumeRole"})
    rewrite(authz_server, "UPDATE entities SET doc = ? WHERE kind = 'role' AND arn = ?",
            json.dumps(doc), role)
    with raises_aws("AccessDenied", status=403):
        u.sts.assume_role(RoleArn=role, RoleSessionName="after")
    assert_logged(authz_server, f"trust policy of {role}")
    # policy simulate reads it as AssumeRole does (it used to stop at it).
    p = simulate(authz_server, u.arn, "sts:AssumeRole", role)
    assert p.returncode == 1 and "explicitDeny" in p.stdout, p.stdout + p.stderr


def test_the_analysis_follows_the_same_rule(authz_server, root):
    """who-can-decrypt and policy simulate decide as the server does: a
    broken resource policy leaves nobody able to read, a broken key policy
    denies explicitly."""
    sm = root.client("secretsmanager")
    arn = sm.create_secret(Name=unique("broken-wcd"), SecretString="v")["ARN"]
    u = make_user(root, policy=allow(GSV, "*"))
    u.client("secretsmanager").get_secret_value(SecretId=arn)

    def readers():
        p = authz_server.run_tresor("who-can-decrypt", arn, "--data-dir", authz_server.data_dir,
                                    "--format", "json")
        assert p.returncode == 0, p.stdout + p.stderr
        return {x["principal"] for x in json.loads(p.stdout)["principals"]}, p.stderr

    got, _ = readers()
    assert u.arn in got and root.arn in got
    set_secret_policy(authz_server, arn, broken(deny(GSV, principal={"AWS": u.arn})))
    got, err = readers()
    assert got == set(), got
    assert f"resource policy of {arn}" in err and MARKER not in err

    key = root.kms.create_key()["KeyMetadata"]
    rewrite(authz_server, "UPDATE kms_keys SET policy = ? WHERE key_id = ?",
            broken(allow("kms:*", principal="*")), key["KeyId"])
    p = authz_server.run_tresor("policy", "simulate", "--principal", root.arn,
                                "--action", "kms:Decrypt", "--resource", key["Arn"],
                                "--data-dir", authz_server.data_dir)
    assert p.returncode == 1, p.stdout + p.stderr
    assert "explicitDeny" in p.stdout
    assert MARKER not in p.stdout + p.stderr


def test_bound_resource_policy_fails_closed(authz_server, root):
    """A resource policy that names a user is stored with its binding;
    broken, with the binding still beside it, it denies as any other."""
    sm = root.client("secretsmanager")
    arn = sm.create_secret(Name=unique("broken-bound-rp"), SecretString="v")["ARN"]
    u = make_user(root, policy=allow([GSV, "secretsmanager:DescribeSecret"], "*"))
    other = make_user(root, policy=allow(GSV, "*"))
    usm = u.client("secretsmanager")
    no_reader = deny(GSV, principal={"AWS": u.arn})
    sm.put_resource_policy(SecretId=arn, ResourcePolicy=policy_doc(no_reader))
    assert secret_binding(authz_server, arn) == {u.arn: u.user_id}
    with raises_aws("AccessDeniedException"):
        usm.get_secret_value(SecretId=arn)
    other.client("secretsmanager").get_secret_value(SecretId=arn)

    set_secret_policy(authz_server, arn, broken(no_reader))
    assert secret_binding(authz_server, arn) == {u.arn: u.user_id}
    with raises_aws("AccessDeniedException", denied_msg(u.arn, GSV, arn, "explicit-resource")):
        usm.get_secret_value(SecretId=arn)
    with raises_aws("AccessDeniedException"):
        usm.describe_secret(SecretId=arn)
    with raises_aws("AccessDeniedException",
                    denied_msg(other.arn, GSV, arn, "explicit-resource")):
        other.client("secretsmanager").get_secret_value(SecretId=arn)
    assert_logged(authz_server, f"resource policy of {arn}")

    p = authz_server.run_tresor("who-can-decrypt", arn, "--data-dir", authz_server.data_dir,
                                "--format", "json")
    assert p.returncode == 0, p.stdout + p.stderr
    assert json.loads(p.stdout)["principals"] == []
    p = simulate(authz_server, other.arn, GSV, arn)
    assert p.returncode == 1 and "explicitDeny" in p.stdout, p.stdout + p.stderr


def test_bound_key_policy_fails_closed(authz_server, root):
    """A key policy that names a user (allowing it Encrypt directly) is
    stored with its binding; broken, with the binding still beside it, it
    denies that user, the root user and the user's grant."""
    key = root.kms.create_key()["KeyMetadata"]
    account = key["Arn"].split(":")[4]
    u = make_user(root)
    g = make_user(root)
    root.kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=g.arn, Operations=["Encrypt"])
    keep = [allow("kms:*", principal={"AWS": f"arn:aws:iam::{account}:root"}),
            allow("kms:Encrypt", principal={"AWS": u.arn}),
            deny("kms:Decrypt", principal={"AWS": u.arn})]
    root.kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=policy_doc(*keep))
    ids = "SELECT policy_ids FROM kms_keys WHERE key_id = ?"
    assert stored_binding(authz_server, ids, key["KeyId"]) == {u.arn: u.user_id}
    u.kms.encrypt(KeyId=key["Arn"], Plaintext=b"x")
    g.kms.encrypt(KeyId=key["Arn"], Plaintext=b"x")

    rewrite(authz_server, "UPDATE kms_keys SET policy = ? WHERE key_id = ?",
            broken(*keep), key["KeyId"])
    assert stored_binding(authz_server, ids, key["KeyId"]) == {u.arn: u.user_id}
    for who in (u, g):
        with raises_aws("AccessDeniedException",
                        denied_msg(who.arn, "kms:Encrypt", key["Arn"], "explicit-resource")):
            who.kms.encrypt(KeyId=key["Arn"], Plaintext=b"x")
    with raises_aws("AccessDeniedException"):
        root.kms.describe_key(KeyId=key["KeyId"])
    assert_logged(authz_server, f"key policy of {key['Arn']}")
    p = simulate(authz_server, u.arn, "kms:Encrypt", key["Arn"])
    assert p.returncode == 1 and "explicitDeny" in p.stdout, p.stdout + p.stderr


@pytest.mark.parametrize("text", ["{not json", "[]", '{"Statement": []}'])
def test_any_broken_text_denies(authz_server, root, text):
    """Not only a refused member: text that is not JSON, or not a policy."""
    sm = root.client("secretsmanager")
    arn = sm.create_secret(Name=unique("broken-text"), SecretString="v")["ARN"]
    u = make_user(root, policy=allow(GSV, "*"))
    set_secret_policy(authz_server, arn, text)
    with raises_aws("AccessDeniedException",
                    denied_msg(u.arn, GSV, arn, "explicit-resource")):
        u.client("secretsmanager").get_secret_value(SecretId=arn)
