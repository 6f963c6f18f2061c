"""
The IAM operations that infrastructure-as-code tools call (OIDC providers,
policy tags, login profiles, instance profiles, the empty credential
listings, the policy simulator's context keys, UpdateRole) driven through
the AWS CLI v2 (/usr/bin/aws): the same server answers the CLI's own
request building, paging and error printing as it answers boto3 in the
files that test each operation in depth (test_oidc_providers.py,
test_iam_iac.py, test_iam_simulate.py).  Values returned and errors
(code and message, as the CLI prints them) are asserted.
"""

import json

import pytest

from tresor_e2e import ACCOUNT, TresorServer, make_user, unique


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = TresorServer("iam-cli", tmp_path_factory.mktemp("tresor-iam-cli"))
    s.start()
    yield s
    s.close()


def ok(srv, *args):
    rc, out, err = srv.cli("iam", *args)
    assert rc == 0, f"aws iam {' '.join(map(str, args))}: {err}"
    return out


def fails(srv, code, message, *args):
    rc, _, err = srv.cli("iam", *args)
    assert rc != 0, f"aws iam {' '.join(map(str, args))} succeeded"
    assert f"({code})" in err and message in err, err


TRUST = json.dumps({"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})


def test_oidc_provider_lifecycle(srv):
    host = f"{unique('issuer')}.example.com"
    arn = ok(srv, "create-open-id-connect-provider", "--url", f"https://{host}",
             "--client-id-list", "sts.amazonaws.com",
             "--thumbprint-list", "a" * 40)["OpenIDConnectProviderArn"]
    assert arn == f"arn:aws:iam::{ACCOUNT}:oidc-provider/{host}"
    ok(srv, "update-open-id-connect-provider-thumbprint", "--open-id-connect-provider-arn", arn,
       "--thumbprint-list", "b" * 40, "c" * 40)
    ok(srv, "add-client-id-to-open-id-connect-provider", "--open-id-connect-provider-arn", arn,
       "--client-id", "my-app")
    ok(srv, "remove-client-id-from-open-id-connect-provider", "--open-id-connect-provider-arn", arn,
       "--client-id", "sts.amazonaws.com")
    ok(srv, "tag-open-id-connect-provider", "--open-id-connect-provider-arn", arn,
       "--tags", "Key=team,Value=platform", "Key=env,Value=prod")
    ok(srv, "untag-open-id-connect-provider", "--open-id-connect-provider-arn", arn, "--tag-keys", "env")
    assert ok(srv, "list-open-id-connect-provider-tags", "--open-id-connect-provider-arn", arn)["Tags"] == \
        [{"Key": "team", "Value": "platform"}]
    got = ok(srv, "get-open-id-connect-provider", "--open-id-connect-provider-arn", arn)
    assert got["Url"] == host
    assert got["ClientIDList"] == ["my-app"]
    assert got["ThumbprintList"] == ["b" * 40, "c" * 40]
    assert got["Tags"] == [{"Key": "team", "Value": "platform"}]
    assert {"Arn": arn} in ok(srv, "list-open-id-connect-providers")["OpenIDConnectProviderList"]
    ok(srv, "delete-open-id-connect-provider", "--open-id-connect-provider-arn", arn)
    fails(srv, "NoSuchEntity", f"OpenIDConnect Provider not found for arn {arn}",
          "add-client-id-to-open-id-connect-provider", "--open-id-connect-provider-arn", arn,
          "--client-id", "x")
    fails(srv, "NoSuchEntity", f"OpenIDConnect Provider not found for arn {arn}",
          "list-open-id-connect-provider-tags", "--open-id-connect-provider-arn", arn)


def test_policy_tags(srv):
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"}]})
    arn = ok(srv, "create-policy", "--policy-name", unique("pol"), "--policy-document", doc)["Policy"]["Arn"]
    ok(srv, "tag-policy", "--policy-arn", arn, "--tags", "Key=owner,Value=sec", "Key=tier,Value=1")
    ok(srv, "untag-policy", "--policy-arn", arn, "--tag-keys", "tier")
    assert ok(srv, "list-policy-tags", "--policy-arn", arn)["Tags"] == [{"Key": "owner", "Value": "sec"}]
    ok(srv, "delete-policy", "--policy-arn", arn)


def test_login_profile_lifecycle(srv):
    name = unique("human")
    ok(srv, "create-user", "--user-name", name)
    lp = ok(srv, "create-login-profile", "--user-name", name, "--password", "Correct-horse-1",
            "--password-reset-required")["LoginProfile"]
    assert lp["UserName"] == name and lp["PasswordResetRequired"] is True
    assert "Password" not in lp
    ok(srv, "update-login-profile", "--user-name", name, "--no-password-reset-required")
    assert ok(srv, "get-login-profile", "--user-name", name)["LoginProfile"]["PasswordResetRequired"] is False
    ok(srv, "delete-login-profile", "--user-name", name)
    fails(srv, "NoSuchEntity", f"Login Profile for User {name} cannot be found.",
          "get-login-profile", "--user-name", name)
    for listing, member in (("list-mfa-devices", "MFADevices"), ("list-ssh-public-keys", "SSHPublicKeys"),
                            ("list-service-specific-credentials", "ServiceSpecificCredentials"),
                            ("list-signing-certificates", "Certificates")):
        out = ok(srv, listing, "--user-name", name)
        assert out.get(member, []) == [], (listing, out)
    ok(srv, "delete-user", "--user-name", name)


def test_instance_profile_lifecycle(srv):
    role = unique("ec2role")
    profile = unique("profile")
    ok(srv, "create-role", "--role-name", role, "--assume-role-policy-document", TRUST)
    ip = ok(srv, "create-instance-profile", "--instance-profile-name", profile,
            "--tags", "Key=app,Value=web")["InstanceProfile"]
    assert ip["Arn"] == f"arn:aws:iam::{ACCOUNT}:instance-profile/{profile}" and ip["Roles"] == []
    ok(srv, "add-role-to-instance-profile", "--instance-profile-name", profile, "--role-name", role)
    listed = ok(srv, "list-instance-profiles-for-role", "--role-name", role)["InstanceProfiles"]
    assert [p["InstanceProfileName"] for p in listed] == [profile]
    assert [r["RoleName"] for r in listed[0]["Roles"]] == [role]
    assert ok(srv, "list-instance-profile-tags", "--instance-profile-name", profile)["Tags"] == \
        [{"Key": "app", "Value": "web"}]
    ok(srv, "untag-instance-profile", "--instance-profile-name", profile, "--tag-keys", "app")
    assert ok(srv, "list-instance-profile-tags", "--instance-profile-name", profile)["Tags"] == []
    ok(srv, "remove-role-from-instance-profile", "--instance-profile-name", profile, "--role-name", role)
    ok(srv, "delete-instance-profile", "--instance-profile-name", profile)
    fails(srv, "NoSuchEntity", f"Instance Profile {profile} cannot be found.",
          "get-instance-profile", "--instance-profile-name", profile)
    ok(srv, "delete-role", "--role-name", role)


def test_update_role_and_description(srv):
    role = unique("svc")
    ok(srv, "create-role", "--role-name", role, "--assume-role-policy-document", TRUST)
    ok(srv, "update-role", "--role-name", role, "--max-session-duration", "7200", "--description", "first")
    got = ok(srv, "get-role", "--role-name", role)["Role"]
    assert got["MaxSessionDuration"] == 7200 and got["Description"] == "first"
    out = ok(srv, "update-role-description", "--role-name", role, "--description", "second")
    assert out["Role"]["Description"] == "second"
    ok(srv, "delete-role", "--role-name", role)


def test_context_keys_for_principal_policy(srv):
    root = srv.root_user
    user = make_user(root, keys=False, policy={"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": "*",
        "Condition": {"StringEquals": {"aws:PrincipalTag/team": "payments"},
                      "Bool": {"aws:SecureTransport": "true"}}}]})
    arn = f"arn:aws:iam::{ACCOUNT}:user/{user.name}"
    keys = ok(srv, "get-context-keys-for-principal-policy", "--policy-source-arn", arn)["ContextKeyNames"]
    assert sorted(keys) == ["aws:PrincipalTag/team", "aws:SecureTransport"]
    nobody = unique("nobody")
    fails(srv, "NoSuchEntity", f"The user with name {nobody} cannot be found.",
          "get-context-keys-for-principal-policy", "--policy-source-arn", f"arn:aws:iam::{ACCOUNT}:user/{nobody}")
