"""
An Ansible playbook drives tresor (issue 21): the amazon.aws and
community.aws collections (Debian's `ansible` package) create a KMS key
with a key policy, an alias and tags, a secret under it, two users, a
managed policy, a group of both users with that policy, a role with a trust policy, that managed policy attached,
an inline policy and an instance profile -- through boto3, pointed at
tresor by AWS_URL.  The test checks what was made with boto3, applies the
same playbook again (the PLAY RECAP says changed=0), then a destroy
playbook (state: absent everywhere) and checks everything is gone (the KMS
key pending deletion -- its alias, as on AWS,
stays until the key is deleted).

The modules used are those the installed collections have (amazon.aws
5.5, community.aws 5.5): amazon.aws.kms_key, amazon.aws.iam_user,
amazon.aws.iam_policy (inline), community.aws.iam_managed_policy,
community.aws.iam_group, community.aws.iam_role (with create_instance_profile: there is no
instance-profile module in these versions) and
community.aws.secretsmanager_secret.  Skipped only when ansible-playbook
is absent (scripts/install-deps installs Debian's `ansible`).
"""

import json
import os
import re
import shutil
import subprocess

import pytest

from tresor_e2e import ACCOUNT, REGION, TresorServer, raises_aws

ANSIBLE = shutil.which("ansible-playbook")
pytestmark = pytest.mark.skipif(ANSIBLE is None,
                                reason="ansible-playbook is not installed (Debian package ansible)")

KEY_ALIAS = "alias/ansible-app"
SECRET = "ansible/app/db"
USERS = ("ansible-alice", "ansible-bob")
ROLE = "ansible-app-role"
MANAGED = "ansible-app-read"
GROUP = "ansible-app-readers"

KEY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": "AliceDecrypts", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/{USERS[0]}"},
         "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": "*"},
    ],
}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                   "Action": "sts:AssumeRole"}],
}
READ_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "secretsmanager:GetSecretValue",
                   "Resource": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:ansible/*"}],
}
INLINE_POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}],
}

# The playbooks: JSON is YAML, so they are written as Python data.
APPLY = [{
    "hosts": "local",
    "gather_facts": False,
    "tasks": [
        {"name": "two users (the key policy names one)",
         "amazon.aws.iam_user": {"name": "{{ item }}", "state": "present"},
         "loop": list(USERS)},
        {"name": "KMS key with a policy, an alias and tags",
         "amazon.aws.kms_key": {"alias": KEY_ALIAS, "description": "ansible app key",
                                "policy": json.dumps(KEY_POLICY), "tags": {"team": "app"},
                                "enable_key_rotation": True,
                                "state": "present"},
         "register": "key"},
        {"name": "a secret under the key",
         "community.aws.secretsmanager_secret": {"name": SECRET, "kms_key_id": KEY_ALIAS,
                                                 "secret": "s3cr3t-from-ansible",
                                                 "description": "app database password",
                                                 "tags": {"team": "app"}, "state": "present"}},
        {"name": "a managed policy",
         "community.aws.iam_managed_policy": {"policy_name": MANAGED,
                                              "policy_description": "read the app's secrets",
                                              "policy": json.dumps(READ_POLICY),
                                              "state": "present"}},
        {"name": "a group of the two users, with the managed policy",
         "community.aws.iam_group": {"name": GROUP, "users": list(USERS),
                                     "managed_policies": [f"arn:aws:iam::{ACCOUNT}:policy/{MANAGED}"],
                                     "state": "present"}},
        {"name": "a role with a trust policy, the managed policy and an instance profile",
         "community.aws.iam_role": {"name": ROLE, "description": "the app's instances",
                                    "assume_role_policy_document": json.dumps(TRUST),
                                    "managed_policies": [f"arn:aws:iam::{ACCOUNT}:policy/{MANAGED}"],
                                    "create_instance_profile": True, "purge_policies": True,
                                    "tags": {"team": "app"}, "state": "present"}},
        {"name": "an inline policy on the role",
         "amazon.aws.iam_policy": {"iam_type": "role", "iam_name": ROLE, "policy_name": "decrypt",
                                   "policy_json": json.dumps(INLINE_POLICY), "state": "present"}},
    ],
}]

DESTROY = [{
    "hosts": "local",
    "gather_facts": False,
    "tasks": [
        {"name": "the inline policy",
         "amazon.aws.iam_policy": {"iam_type": "role", "iam_name": ROLE, "policy_name": "decrypt",
                                   "state": "absent"}},
        {"name": "the role and its instance profile",
         "community.aws.iam_role": {"name": ROLE, "delete_instance_profile": True,
                                    "state": "absent"}},
        {"name": "the group",
         "community.aws.iam_group": {"name": GROUP, "purge_users": True, "purge_policies": True,
                                     "state": "absent"}},
        {"name": "the managed policy",
         "community.aws.iam_managed_policy": {"policy_name": MANAGED, "state": "absent"}},
        {"name": "the users",
         "amazon.aws.iam_user": {"name": "{{ item }}", "state": "absent"},
         "loop": list(USERS)},
        {"name": "the secret",
         "community.aws.secretsmanager_secret": {"name": SECRET, "recovery_window": 0,
                                                 "state": "absent"}},
        {"name": "the key",
         "amazon.aws.kms_key": {"alias": KEY_ALIAS, "pending_window": 7, "state": "absent"}},
    ],
}]

RECAP = re.compile(r"^localhost\s*:\s*ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)",
                   re.M)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = TresorServer("ansible", tmp_path_factory.mktemp("tresor-ansible"))
    s.start()
    yield s
    s.close()


@pytest.fixture(scope="module")
def play_dir(srv):
    d = srv.root / "ansible"
    d.mkdir(exist_ok=True)
    (d / "inventory.ini").write_text(
        "[local]\nlocalhost ansible_connection=local "
        f"ansible_python_interpreter=/usr/bin/python3\n")
    (d / "apply.yml").write_text(json.dumps(APPLY, indent=1))
    (d / "destroy.yml").write_text(json.dumps(DESTROY, indent=1))
    return d


def playbook(srv, d, name):
    """Run ansible-playbook NAME.yml against srv; (rc, output, recap)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({
        "HOME": str(srv.home),
        "AWS_URL": srv.endpoint,
        "AWS_ACCESS_KEY_ID": srv.access_key,
        "AWS_SECRET_ACCESS_KEY": srv.secret_key,
        "AWS_REGION": REGION,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "ANSIBLE_LOCAL_TEMP": str(d / "tmp"),
        "ANSIBLE_HOME": str(d / "home"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_PYTHON_INTERPRETER": "/usr/bin/python3",
    })
    if srv.tls:
        env["AWS_CA_BUNDLE"] = str(srv.ca)
    p = subprocess.run([ANSIBLE, "-i", str(d / "inventory.ini"), str(d / f"{name}.yml")],
                       env=env, cwd=str(d), capture_output=True, text=True, timeout=600)
    out = p.stdout + p.stderr
    m = RECAP.search(p.stdout)
    recap = tuple(int(x) for x in m.groups()) if m else None
    return p.returncode, out, recap


def test_apply_reapply_destroy(srv, play_dir):
    iam, kms, sm = srv.iam(), srv.kms(), srv.sm()

    rc, out, recap = playbook(srv, play_dir, "apply")
    assert rc == 0 and recap and recap[3] == 0, out
    assert recap[1] > 0, out

    # The key: its policy, alias, tags and description.
    key_id = kms.describe_key(KeyId=KEY_ALIAS)["KeyMetadata"]["KeyId"]
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["KeyState"] == "Enabled" and meta["Description"] == "ansible app key", meta
    pol = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    assert pol == KEY_POLICY
    tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key_id)["Tags"]}
    assert tags == {"team": "app"}
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True

    # The secret under it, with its value.
    d = sm.describe_secret(SecretId=SECRET)
    assert d["KmsKeyId"] in (KEY_ALIAS, key_id, meta["Arn"]), d
    assert d["Description"] == "app database password"
    assert {t["Key"]: t["Value"] for t in d["Tags"]} == {"team": "app"}
    assert sm.get_secret_value(SecretId=SECRET)["SecretString"] == "s3cr3t-from-ansible"

    # The users, the role, its policies and its instance profile.
    for u in USERS:
        assert iam.get_user(UserName=u)["User"]["UserName"] == u
    g = iam.get_group(GroupName=GROUP)
    assert sorted(u["UserName"] for u in g["Users"]) == sorted(USERS)
    ga = iam.list_attached_group_policies(GroupName=GROUP)["AttachedPolicies"]
    assert [a["PolicyName"] for a in ga] == [MANAGED]
    role = iam.get_role(RoleName=ROLE)["Role"]
    assert role["AssumeRolePolicyDocument"] == TRUST or \
        json.loads(role["AssumeRolePolicyDocument"]) == TRUST, role
    assert role["Description"] == "the app's instances"
    assert {t["Key"]: t["Value"] for t in role["Tags"]} == {"team": "app"}
    attached = iam.list_attached_role_policies(RoleName=ROLE)["AttachedPolicies"]
    assert [a["PolicyArn"] for a in attached] == [f"arn:aws:iam::{ACCOUNT}:policy/{MANAGED}"]
    inline = iam.get_role_policy(RoleName=ROLE, PolicyName="decrypt")["PolicyDocument"]
    assert inline == INLINE_POLICY
    profiles = iam.list_instance_profiles_for_role(RoleName=ROLE)["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in profiles] == [ROLE]
    assert [r["RoleName"] for r in profiles[0]["Roles"]] == [ROLE]

    # The same playbook again: nothing changes.
    rc, out, recap = playbook(srv, play_dir, "apply")
    assert rc == 0 and recap and recap[3] == 0, out
    assert recap[1] == 0, out

    # Destroy it all.
    rc, out, recap = playbook(srv, play_dir, "destroy")
    assert rc == 0 and recap and recap[3] == 0, out
    assert recap[1] > 0, out
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    # As on AWS, the alias stays with the key until the key is deleted.
    assert kms.describe_key(KeyId=KEY_ALIAS)["KeyMetadata"]["KeyId"] == key_id
    with raises_aws("ResourceNotFoundException"):
        sm.describe_secret(SecretId=SECRET)
    for u in USERS:
        with raises_aws("NoSuchEntity", status=404):
            iam.get_user(UserName=u)
    with raises_aws("NoSuchEntity", status=404):
        iam.get_group(GroupName=GROUP)
    with raises_aws("NoSuchEntity", status=404):
        iam.get_role(RoleName=ROLE)
    with raises_aws("NoSuchEntity", status=404):
        iam.get_instance_profile(InstanceProfileName=ROLE)
    pols = iam.list_policies(Scope="Local")["Policies"]
    assert MANAGED not in [p["PolicyName"] for p in pols]

