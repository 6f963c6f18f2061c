"""
What `tresor who-can-decrypt` prints for a first user (docs/WHO_CAN_DECRYPT.md).

  - Under the AWS managed key aws/secretsmanager, whose key policy names
    "*" (with kms:CallerAccount and kms:ViaService conditions), the output
    lists exactly the principals Secrets Manager lets read, says in words
    what the "*" stands for (every principal of the account, only through
    Secrets Manager), and has no "*" row that reads as "anyone can
    decrypt".  Only when the policies really admit principals of other
    accounts -- decided by the real rules for a stand-in principal of an
    account nobody names -- is there a "*" row (type "anyone",
    conditional: its own IAM must allow too).
  - --with-key takes an alias name or alias ARN, resolved as KMS resolves
    it in the secret's account and region; an unknown alias is named in
    the error.
  - --format dot labels nodes with short names (user/alice, role/app,
    secret NAME, key alias/NAME), the full ARNs in tooltips, and edges with
    their step, the deciding statements in tooltips.

Every answer is checked against real GetSecretValue calls where the
principal can make them.
"""

import html
import json
import re
import shutil
import subprocess

import pytest
from botocore.exceptions import ClientError

from tresor_e2e import (ACCOUNT, ACCOUNT_B, allow, make_role, make_user, policy_doc, unique)

GSV = "secretsmanager:GetSecretValue"
DOT = shutil.which("dot")


@pytest.fixture(scope="module")
def srv(authz_server):
    return authz_server


def who_can(srv, secret, *extra, fmt="json", rc=0):
    p = srv.run_tresor("who-can-decrypt", secret, "--data-dir", srv.data_dir,
                       "--format", fmt, *extra)
    assert p.returncode == rc, f"who-can-decrypt exited {p.returncode}:\n{p.stdout}\n{p.stderr}"
    return json.loads(p.stdout) if fmt == "json" and rc == 0 else p


def reads(caller, secret_arn):
    try:
        caller.client("secretsmanager").get_secret_value(SecretId=secret_arn)
        return True
    except ClientError as e:
        assert e.response["Error"]["Code"] == "AccessDeniedException", e
        return False


def words(text):
    """The text with every run of whitespace made one space."""
    return " ".join(text.split())


# ---- the "*" of the managed key ------------------------------------------------

def test_managed_key_lists_readers_not_everyone(srv, root):
    """A fresh user allowed GetSecretValue on a secret under the managed key
    is listed; a fresh user without it is not, and nothing in the output
    says that anyone can decrypt."""
    sm = root.client("secretsmanager")
    s = sm.create_secret(Name=unique("first/db"), SecretString="v")["ARN"]
    reader = make_user(root, unique("first-reader"), policy=allow(GSV, s))
    other = make_user(root, unique("first-other"))
    assert reads(reader, s) and not reads(other, s)

    out = who_can(srv, s)
    by = {p["principal"]: p for p in out["principals"]}
    assert reader.arn in by and other.arn not in by
    assert by[reader.arn]["keyPermission"] == "managed-key"
    assert by[reader.arn]["conditional"] is False
    assert "*" not in by and all(p["type"] != "anyone" for p in out["principals"])
    assert all(p["account"] == ACCOUNT for p in out["principals"])
    assert out["everyoneNamed"] is True        # the key policy does name "*"

    text = who_can(srv, s, fmt="text").stdout
    table = text.split("\npaths:")[0]
    assert not [ln for ln in table.splitlines() if ln.startswith("*")], text
    assert "any principal its conditions admit" not in text
    assert reader.arn in table and other.arn not in text
    assert (f'The key is the AWS managed key aws/secretsmanager. Its policy names every '
            f'principal ("*"), but only those of account {ACCOUNT} calling through Secrets '
            f'Manager in us-east-1: the readers are the principals above, the ones the '
            f'secret\'s permissions let read. No principal of another account can.'
            ) in words(text), text


def test_managed_key_refuses_other_accounts(srv, root, account_b):
    """A resource policy that admits every principal ("*"), or names an
    account the store does not hold, under the managed key: the key still
    admits only its own account, so nobody of another account is listed --
    and a user of account B allowed by its own IAM indeed cannot read."""
    sm = root.client("secretsmanager")
    s = sm.create_secret(Name=unique("first/open"), SecretString="v")["ARN"]
    sm.put_resource_policy(SecretId=s, ResourcePolicy=policy_doc(
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": GSV, "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::999988887777:root"},
         "Action": GSV, "Resource": "*"}))
    b_user = make_user(account_b, unique("first-b"), policy=[allow(GSV), allow("kms:Decrypt")])
    assert not reads(b_user, s)
    out = who_can(srv, s)
    listed = {p["principal"] for p in out["principals"]}
    assert b_user.arn not in listed
    assert not {p["principal"] for p in out["principals"] if p["account"] != ACCOUNT}, out
    text = who_can(srv, s, fmt="text").stdout
    assert "999988887777" not in text.split("\npaths:")[0]
    assert ('The secret\'s resource policy names every principal ("*"); no principal beyond '
            'those above can read') in words(text), text


def test_star_that_admits_other_accounts_is_listed(srv, root, account_b):
    """A customer key whose policy allows kms:Decrypt to "*" and a resource
    policy allowing GetSecretValue to "*": principals of other accounts
    can read if their own IAM allows -- for real (a user of account B), and
    in the output as the "*" row, conditional.  A role any account may
    assume ("*" in its trust policy) that reads makes the same row, via the
    role."""
    kms = root.kms
    key = kms.create_key(Policy=policy_doc(
        {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "Everyone", "Effect": "Allow", "Principal": {"AWS": "*"},
         "Action": "kms:Decrypt", "Resource": "*"}))["KeyMetadata"]["Arn"]
    sm = root.client("secretsmanager")
    s = sm.create_secret(Name=unique("first/public"), SecretString="v", KmsKeyId=key)["ARN"]
    sm.put_resource_policy(SecretId=s, ResourcePolicy=policy_doc(
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": GSV, "Resource": "*"}))
    b_user = make_user(account_b, unique("first-b-pub"), policy=[allow(GSV), allow("kms:Decrypt")])
    assert reads(b_user, s)

    out = who_can(srv, s)
    by = {p["principal"]: p for p in out["principals"]}
    assert b_user.arn in by
    anyone = by["*"]
    assert anyone["type"] == "anyone" and anyone["account"] == "*"
    assert anyone["conditional"] is True and anyone["access"] == "direct"
    assert anyone["keyPermission"] == "key-policy"
    assert "Sid Everyone" in anyone["path"][-1]["evidence"]
    text = who_can(srv, s, fmt="text").stdout
    assert "* (any principal of another account, if its own IAM allows)" in text

    # The same through a role any account may assume.
    k2 = kms.create_key()["KeyMetadata"]["Arn"]
    s2 = sm.create_secret(Name=unique("first/role"), SecretString="v", KmsKeyId=k2)["ARN"]
    role = make_role(root, unique("open-role"),
                     trust={"Version": "2012-10-17", "Statement": [
                         {"Effect": "Allow", "Principal": {"AWS": "*"},
                          "Action": "sts:AssumeRole"}]},
                     policy=[allow(GSV, s2), allow("kms:Decrypt", k2)])
    b_assumer = make_user(account_b, unique("first-b-assumer"),
                          policy=allow("sts:AssumeRole", role["Arn"]))
    cr = b_assumer.sts.assume_role(RoleArn=role["Arn"], RoleSessionName="first-b")["Credentials"]
    assert b_assumer.server.client("secretsmanager", cr["AccessKeyId"], cr["SecretAccessKey"],
                                   cr["SessionToken"]).get_secret_value(SecretId=s2)
    by = {p["principal"]: p for p in who_can(srv, s2)["principals"]}
    assert by["*"]["access"] == "via-role" and by["*"]["conditional"] is True
    assert by["*"]["path"][0]["role"] == role["Arn"]
    assert by[b_assumer.arn]["access"] == "via-role"

    # --explain names the stand-in like any principal.
    p = srv.run_tresor("who-can-decrypt", s, "--data-dir", srv.data_dir, "--explain", "*")
    assert p.returncode == 0, p.stderr
    assert "can decrypt, only if conditions hold" in p.stdout


# ---- --with-key with an alias ------------------------------------------------------

def test_with_key_alias(srv, root):
    kms, sm = root.kms, root.client("secretsmanager")
    alias = "alias/" + unique("first-app")
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    s = sm.create_secret(Name=unique("first/wk"), SecretString="v")["ARN"]
    make_user(root, unique("first-wk"), policy=[allow(GSV), allow("kms:Decrypt", key["Arn"])])

    want = who_can(srv, s, "--with-key", key["Arn"])
    assert want["secret"]["keyArn"] == key["Arn"]
    alias_arn = f"arn:aws:kms:us-east-1:{ACCOUNT}:{alias}"
    for spelling in (alias, alias_arn, key["KeyId"]):
        got = who_can(srv, s, "--with-key", spelling)
        assert got == want, spelling
    diff = who_can(srv, s, "--with-key", alias, "--diff")
    assert diff["withKey"] == key["Arn"]

    for bad, msg in (("alias/no-such-alias",
                      f"Alias arn:aws:kms:us-east-1:{ACCOUNT}:alias/no-such-alias is not found."),
                     (f"arn:aws:kms:us-east-1:{ACCOUNT}:alias/nope",
                      f"Alias arn:aws:kms:us-east-1:{ACCOUNT}:alias/nope is not found."),
                     ("0123", "Invalid keyId '0123'")):
        for extra in ((), ("--diff",)):
            p = who_can(srv, s, "--with-key", bad, *extra, rc=2)
            assert p.stdout == ""
            assert p.stderr.strip() == f"tresor: --with-key {bad}: {msg}", p.stderr


# ---- --format dot --------------------------------------------------------------------

def dot_attrs(dot, node_id):
    """The attribute text of the node statement whose id is node_id."""
    m = re.search(r'^  ' + re.escape(json.dumps(node_id)) + r' \[(.*)\];$', dot, re.M)
    assert m, f"no node {node_id} in:\n{dot}"
    return m.group(1)


def test_dot_short_labels(srv, root):
    kms, sm = root.kms, root.client("secretsmanager")
    alias = "alias/" + unique("first-dot")
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    name = unique("prod/orders/db")
    s = sm.create_secret(Name=name, SecretString="v", KmsKeyId=alias)["ARN"]
    reader = make_user(root, unique("first-dot-user"), path="/services/",
                       policy=[allow(GSV, s), allow("kms:Decrypt", key["Arn"])])
    rname = unique("first-dot-role")
    assumer = make_user(root, unique("first-dot-assumer"),
                        policy=allow("sts:AssumeRole", f"arn:aws:iam::{ACCOUNT}:role/{rname}"))
    role = make_role(root, rname, trust={"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": assumer.arn}, "Action": "sts:AssumeRole"}]},
        policy=[allow(GSV, s), allow("kms:Decrypt", key["Arn"])])

    dot = who_can(srv, s, fmt="dot").stdout
    assert dot.startswith("digraph who_can_decrypt {") and dot.rstrip().endswith("}")
    assert dot_attrs(dot, s) == (f'label="secret {name}", tooltip="{s}", shape=box, '
                                 f'style=bold')
    assert dot_attrs(dot, key["Arn"]) == (f'label="key {alias}", tooltip="{key["Arn"]}", '
                                          f'shape=hexagon')
    assert dot_attrs(dot, reader.arn) == (f'label="user/{reader.name}", '
                                          f'tooltip="{reader.arn}", shape=box')
    assert dot_attrs(dot, role["Arn"]).startswith(f'label="role/{rname}", '
                                                  f'tooltip="{role["Arn"]}", shape=ellipse')
    assert dot_attrs(dot, assumer.arn).startswith(f'label="user/{assumer.name}"')
    assert dot_attrs(dot, f"arn:aws:iam::{ACCOUNT}:root").startswith('label="root"')
    # Edges: the step as label, the statements in the tooltip.
    edge = re.search(r'^  ' + re.escape(json.dumps(assumer.arn)) + r' -> '
                     + re.escape(json.dumps(role["Arn"])) + r' \[(.*)\];$', dot, re.M)
    assert edge and edge.group(1).startswith('label="AssumeRole", tooltip="Allow resource trust:')
    assert f'"{reader.arn}" -> "{s}" [label="GetSecretValue", tooltip="Allow identity ' in dot
    assert f'"{reader.arn}" -> "{key["Arn"]}" [label="Decrypt (key-policy)"' in dot
    # No label carries an ARN.
    labels = re.findall(r'label="((?:[^"\\]|\\.)*)"', dot)
    assert labels and not [lb for lb in labels if "arn:" in lb], labels
    # A key without an alias: the first characters of its id.
    k2 = kms.create_key()["KeyMetadata"]
    s2 = sm.create_secret(Name=unique("first/noalias"), SecretString="v",
                          KmsKeyId=k2["Arn"])["ARN"]
    dot2 = who_can(srv, s2, fmt="dot").stdout
    assert dot_attrs(dot2, k2["Arn"]).startswith(f'label="key {k2["KeyId"][:8]}"')

    if DOT is None:
        pytest.skip("graphviz (dot) is not installed: the drawing itself is not checked")
    svg = subprocess.run([DOT, "-Tsvg"], input=dot, capture_output=True, text=True, timeout=60)
    assert svg.returncode == 0, svg.stderr
    assert svg.stderr == "", svg.stderr
    width = float(re.search(r'<svg width="([\d.]+)pt"', svg.stdout).group(1))
    # Full-ARN labels drew this graph about 3,000 points wide.
    assert width < 1200, width
    assert f'xlink:title="{reader.arn}"' in html.unescape(svg.stdout)
