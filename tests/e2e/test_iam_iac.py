"""
The IAM calls infrastructure-as-code tools make (issue 21): instance
profiles -- Create/Get/List/DeleteInstanceProfile,
Add/RemoveRoleFromInstanceProfile, ListInstanceProfilesForRole,
Tag/Untag/ListInstanceProfileTags -- the roles' InstanceProfileList in
GetAccountAuthorizationDetails, and DeleteRole / DeleteInstanceProfile
refusing while a role is in a profile (what `terraform destroy` of a role
runs into).  Values, codes and messages are AWS's; each is checked with
boto3, and the common path with the AWS CLI.
"""

import json
import re

import pytest

from tresor_e2e import (
    ACCOUNT, ROOT_ARN, allow, denied_msg, make_role, make_user, raises_aws, trust_policy, unique,
)

AIPA_RE = re.compile(r"^AIPA[A-Z2-7]{17}$")
CONFLICT = "Cannot delete entity, must remove roles from instance profile first."
ONE_ROLE = "Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1"


@pytest.fixture(scope="module")
def iam(root):
    return root.iam


def profile_arn(name, path="/"):
    return f"arn:aws:iam::{ACCOUNT}:instance-profile{path}{name}"


def missing(name):
    return f"Instance Profile {name} cannot be found."


def new_role(root, **kw):
    return make_role(root, trust=trust_policy(ROOT_ARN), **kw)


def test_create_get_shape(iam):
    name = unique("ip")
    p = iam.create_instance_profile(InstanceProfileName=name, Path="/iac/")["InstanceProfile"]
    assert set(p) == {"Path", "InstanceProfileName", "InstanceProfileId", "Arn", "CreateDate",
                      "Roles"}, p
    assert p["Path"] == "/iac/"
    assert p["InstanceProfileName"] == name
    assert AIPA_RE.match(p["InstanceProfileId"]), p["InstanceProfileId"]
    assert p["Arn"] == profile_arn(name, "/iac/")
    assert p["Roles"] == []
    got = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    for k in ("Path", "InstanceProfileName", "InstanceProfileId", "Arn", "CreateDate", "Roles"):
        assert got[k] == p[k], k


def test_create_duplicate_any_case(iam):
    name = unique("dup")
    iam.create_instance_profile(InstanceProfileName=name)
    with raises_aws("EntityAlreadyExists", f"Instance Profile {name.upper()} already exists.",
                    status=409):
        iam.create_instance_profile(InstanceProfileName=name.upper())


def test_missing_profile(iam, root):
    name = unique("nope")
    with raises_aws("NoSuchEntity", missing(name), status=404):
        iam.get_instance_profile(InstanceProfileName=name)
    with raises_aws("NoSuchEntity", missing(name), status=404):
        iam.delete_instance_profile(InstanceProfileName=name)
    role = new_role(root)
    with raises_aws("NoSuchEntity", missing(name), status=404):
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role["RoleName"])


def test_bad_name_and_path(iam):
    with raises_aws("ValidationError", startswith="1 validation error detected: Value 'a b' at "
                    "'instanceProfileName' failed to satisfy constraint"):
        iam.create_instance_profile(InstanceProfileName="a b")
    with raises_aws("ValidationError", startswith="1 validation error detected: Value 'nopath' at "
                    "'path' failed to satisfy constraint"):
        iam.create_instance_profile(InstanceProfileName=unique("p"), Path="nopath")


def test_add_role_and_one_role_only(iam, root):
    name = unique("ip")
    iam.create_instance_profile(InstanceProfileName=name)
    r1, r2 = new_role(root, path="/svc/"), new_role(root)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=r1["RoleName"])
    p = iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]
    assert len(p["Roles"]) == 1
    role = p["Roles"][0]
    assert role["RoleName"] == r1["RoleName"]
    assert role["RoleId"] == r1["RoleId"]
    assert role["Arn"] == r1["Arn"]
    assert role["Path"] == "/svc/"
    assert role["AssumeRolePolicyDocument"] == trust_policy(ROOT_ARN)
    with raises_aws("LimitExceeded", ONE_ROLE, status=409):
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=r2["RoleName"])
    with raises_aws("LimitExceeded", ONE_ROLE, status=409):
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=r1["RoleName"])


def test_add_missing_role(iam):
    name = unique("ip")
    iam.create_instance_profile(InstanceProfileName=name)
    role = unique("ghost")
    with raises_aws("NoSuchEntity", f"The role with name {role} cannot be found.", status=404):
        iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role)
    assert iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"] == []


def test_delete_conflicts_then_teardown(iam, root):
    """What terraform destroy does: list the role's profiles, remove the role
    from each, delete the profile, then the role."""
    name = unique("ip")
    iam.create_instance_profile(InstanceProfileName=name)
    role = new_role(root)
    rn = role["RoleName"]
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=rn)
    with raises_aws("DeleteConflict", CONFLICT, status=409):
        iam.delete_role(RoleName=rn)
    with raises_aws("DeleteConflict", CONFLICT, status=409):
        iam.delete_instance_profile(InstanceProfileName=name)
    got = iam.list_instance_profiles_for_role(RoleName=rn)
    assert [p["InstanceProfileName"] for p in got["InstanceProfiles"]] == [name]
    assert got["IsTruncated"] is False
    assert got["InstanceProfiles"][0]["Roles"][0]["RoleName"] == rn
    assert "Tags" not in got["InstanceProfiles"][0]
    iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=rn)
    with raises_aws("NoSuchEntity", f"The role with name {rn} cannot be found.", status=404):
        iam.remove_role_from_instance_profile(InstanceProfileName=name, RoleName=rn)
    assert iam.list_instance_profiles_for_role(RoleName=rn)["InstanceProfiles"] == []
    iam.delete_instance_profile(InstanceProfileName=name)
    iam.delete_role(RoleName=rn)
    with raises_aws("NoSuchEntity", missing(name), status=404):
        iam.get_instance_profile(InstanceProfileName=name)


def test_list_for_missing_role(iam):
    rn = unique("ghost")
    with raises_aws("NoSuchEntity", f"The role with name {rn} cannot be found.", status=404):
        iam.list_instance_profiles_for_role(RoleName=rn)


def test_list_paging_and_prefix(iam, root):
    prefix = f"/{unique('pg')}/"
    names = sorted(unique("lp") for _ in range(3))
    for n in names:
        iam.create_instance_profile(InstanceProfileName=n, Path=prefix,
                                    Tags=[{"Key": "k", "Value": "v"}])
    first = iam.list_instance_profiles(PathPrefix=prefix, MaxItems=2)
    assert all("Tags" not in p for p in first["InstanceProfiles"])     # listings omit tags
    assert [p["InstanceProfileName"] for p in first["InstanceProfiles"]] == names[:2]
    assert first["IsTruncated"] is True
    rest = iam.list_instance_profiles(PathPrefix=prefix, MaxItems=2, Marker=first["Marker"])
    assert [p["InstanceProfileName"] for p in rest["InstanceProfiles"]] == names[2:]
    assert rest["IsTruncated"] is False
    role = new_role(root)
    for n in names:
        iam.add_role_to_instance_profile(InstanceProfileName=n, RoleName=role["RoleName"])
    seen, kw = [], {}
    while True:
        page = iam.list_instance_profiles_for_role(RoleName=role["RoleName"], MaxItems=1, **kw)
        seen += [p["InstanceProfileName"] for p in page["InstanceProfiles"]]
        if not page["IsTruncated"]:
            break
        kw = {"Marker": page["Marker"]}
    assert sorted(seen) == names


def test_tags(iam):
    name = unique("tp")
    p = iam.create_instance_profile(InstanceProfileName=name,
                                    Tags=[{"Key": "team", "Value": "blue"}])["InstanceProfile"]
    assert p["Tags"] == [{"Key": "team", "Value": "blue"}]
    iam.tag_instance_profile(InstanceProfileName=name, Tags=[{"Key": "env", "Value": "prod"}])
    got = iam.list_instance_profile_tags(InstanceProfileName=name)
    assert got["Tags"] == [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "blue"}]
    assert got["IsTruncated"] is False
    assert iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Tags"] == \
        got["Tags"]
    iam.untag_instance_profile(InstanceProfileName=name, TagKeys=["TEAM"])
    assert iam.list_instance_profile_tags(InstanceProfileName=name)["Tags"] == \
        [{"Key": "env", "Value": "prod"}]
    with raises_aws("NoSuchEntity", missing(name + "x"), status=404):
        iam.tag_instance_profile(InstanceProfileName=name + "x", Tags=[{"Key": "a", "Value": "b"}])
    with raises_aws("LimitExceeded", "Cannot exceed quota for TagsPerInstanceProfile: 50", status=409):
        iam.tag_instance_profile(InstanceProfileName=name,
                                 Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])


def test_account_details_instance_profile_list(iam, root):
    name = unique("ad")
    iam.create_instance_profile(InstanceProfileName=name)
    role = new_role(root)
    iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role["RoleName"])
    details, kw = [], {}
    while True:
        page = iam.get_account_authorization_details(Filter=["Role"], **kw)
        details += page["RoleDetailList"]
        if not page["IsTruncated"]:
            break
        kw = {"Marker": page["Marker"]}
    mine = [d for d in details if d["RoleName"] == role["RoleName"]][0]
    assert [p["InstanceProfileName"] for p in mine["InstanceProfileList"]] == [name]
    assert mine["InstanceProfileList"][0]["Arn"] == profile_arn(name)
    assert mine["InstanceProfileList"][0]["Roles"][0]["RoleId"] == role["RoleId"]


def test_access_denied(root):
    user = make_user(root, policy=allow("iam:GetInstanceProfile"))
    name = unique("den")
    with raises_aws("AccessDenied", denied_msg(user.arn, "iam:CreateInstanceProfile",
                                               profile_arn(name)), status=403):
        user.iam.create_instance_profile(InstanceProfileName=name)
    root.iam.create_instance_profile(InstanceProfileName=name)
    assert user.iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"] == []
    with raises_aws("AccessDenied", denied_msg(user.arn, "iam:DeleteInstanceProfile",
                                               profile_arn(name)), status=403):
        user.iam.delete_instance_profile(InstanceProfileName=name)
    with raises_aws("AccessDenied", denied_msg(user.arn, "iam:ListInstanceProfiles",
                                               f"arn:aws:iam::{ACCOUNT}:instance-profile/"),
                    status=403):
        user.iam.list_instance_profiles()


def test_add_role_needs_pass_role(root):
    """AddRoleToInstanceProfile asks iam:PassRole on the role, passed to EC2
    (API reference: the caller "must be granted the PassRole permission on
    the IAM role"); nothing changes when it is refused."""
    name = unique("pass")
    root.iam.create_instance_profile(InstanceProfileName=name)
    role = new_role(root)
    user = make_user(root, policy=allow(["iam:AddRoleToInstanceProfile", "iam:GetInstanceProfile"]))
    with raises_aws("AccessDenied", denied_msg(user.arn, "iam:PassRole", role["Arn"]), status=403):
        user.iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role["RoleName"])
    assert user.iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"] == []
    # PassRole to another service does not do; to EC2, for the account's instances, does.
    root.iam.put_user_policy(UserName=user.name, PolicyName="pass", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [allow(
            "iam:PassRole", role["Arn"],
            condition={"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}})]}))
    with raises_aws("AccessDenied", denied_msg(user.arn, "iam:PassRole", role["Arn"]), status=403):
        user.iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role["RoleName"])
    root.iam.put_user_policy(UserName=user.name, PolicyName="pass", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [allow(
            "iam:PassRole", role["Arn"],
            condition={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"},
                       "ArnLike": {"iam:AssociatedResourceArn":
                                   f"arn:aws:ec2:*:{ACCOUNT}:instance/*"}})]}))
    user.iam.add_role_to_instance_profile(InstanceProfileName=name, RoleName=role["RoleName"])
    got = root.iam.get_instance_profile(InstanceProfileName=name)["InstanceProfile"]["Roles"]
    assert [r["RoleName"] for r in got] == [role["RoleName"]]


def test_cli_round_trip(authz_server, root):
    name = unique("cli-ip")
    role = new_role(root)
    rc, out, err = authz_server.cli("iam", "create-instance-profile", "--instance-profile-name",
                                    name, "--path", "/cli/")
    assert rc == 0, err
    assert out["InstanceProfile"]["Arn"] == profile_arn(name, "/cli/")
    rc, out, err = authz_server.cli("iam", "add-role-to-instance-profile",
                                    "--instance-profile-name", name, "--role-name", role["RoleName"])
    assert rc == 0, err
    rc, out, err = authz_server.cli("iam", "list-instance-profiles-for-role", "--role-name",
                                    role["RoleName"])
    assert rc == 0, err
    assert [p["InstanceProfileName"] for p in out["InstanceProfiles"]] == [name]
    rc, out, err = authz_server.cli("iam", "delete-role", "--role-name", role["RoleName"])
    assert rc != 0
    assert "DeleteConflict" in err and CONFLICT in err, err
    rc, out, err = authz_server.cli("iam", "remove-role-from-instance-profile",
                                    "--instance-profile-name", name, "--role-name", role["RoleName"])
    assert rc == 0, err
    rc, out, err = authz_server.cli("iam", "delete-instance-profile", "--instance-profile-name", name)
    assert rc == 0, err
    rc, out, err = authz_server.cli("iam", "delete-role", "--role-name", role["RoleName"])
    assert rc == 0, err


# ---------------------------------------------------------------------------
# Managed policy tags, UpdateRoleDescription


def make_policy(iam, **kw):
    doc = '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:ListKeys", ' \
          '"Resource": "*"}]}'
    return iam.create_policy(PolicyName=unique("tp"), PolicyDocument=doc, **kw)["Policy"]


def test_policy_tags(iam):
    arn = make_policy(iam, Tags=[{"Key": "team", "Value": "blue"}])["Arn"]
    iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "env", "Value": "prod"}, {"Key": "TEAM", "Value": "red"}])
    got = iam.list_policy_tags(PolicyArn=arn)
    assert got["Tags"] == [{"Key": "TEAM", "Value": "red"}, {"Key": "env", "Value": "prod"}]
    assert got["IsTruncated"] is False
    assert iam.get_policy(PolicyArn=arn)["Policy"]["Tags"] == got["Tags"]
    page = iam.list_policy_tags(PolicyArn=arn, MaxItems=1)
    assert page["IsTruncated"] is True and len(page["Tags"]) == 1
    iam.untag_policy(PolicyArn=arn, TagKeys=["team", "absent"])
    assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == [{"Key": "env", "Value": "prod"}]
    with raises_aws("InvalidInput", "Tag keys beginning with 'aws:' are reserved for AWS use."):
        iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "aws:x", "Value": "1"}])
    with raises_aws("LimitExceeded", "Cannot exceed quota for TagsPerPolicy: 50", status=409):
        iam.tag_policy(PolicyArn=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])
    assert iam.list_policy_tags(PolicyArn=arn)["Tags"] == [{"Key": "env", "Value": "prod"}]


def test_policy_tags_missing_and_aws_managed(iam):
    arn = f"arn:aws:iam::{ACCOUNT}:policy/{unique('gone')}"
    with raises_aws("NoSuchEntity", f"Policy {arn} was not found.", status=404):
        iam.list_policy_tags(PolicyArn=arn)
    with raises_aws("NoSuchEntity", f"Policy {arn} was not found.", status=404):
        iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "a", "Value": "b"}])
    with raises_aws("NoSuchEntity", f"Policy {arn} was not found.", status=404):
        iam.untag_policy(PolicyArn=arn, TagKeys=["a"])


def test_policy_tags_denied(root):
    arn = make_policy(root.iam)["Arn"]
    user = make_user(root, policy=allow("iam:ListPolicyTags"))
    assert user.iam.list_policy_tags(PolicyArn=arn)["Tags"] == []
    with raises_aws("AccessDenied", denied_msg(user.arn, "iam:TagPolicy", arn), status=403):
        user.iam.tag_policy(PolicyArn=arn, Tags=[{"Key": "a", "Value": "b"}])
    assert root.iam.list_policy_tags(PolicyArn=arn)["Tags"] == []


def test_update_role_description(iam, root):
    role = new_role(root, description="old")
    rn = role["RoleName"]
    got = iam.update_role_description(RoleName=rn, Description="new words")["Role"]
    assert got["RoleName"] == rn
    assert got["RoleId"] == role["RoleId"]
    assert got["Description"] == "new words"
    assert got["MaxSessionDuration"] == 3600
    assert iam.get_role(RoleName=rn)["Role"]["Description"] == "new words"
    ghost = unique("ghost")
    with raises_aws("NoSuchEntity", f"The role with name {ghost} cannot be found.", status=404):
        iam.update_role_description(RoleName=ghost, Description="x")
    with raises_aws("ValidationError", contains="at 'description' failed to satisfy constraint: "
                    "Member must have length less than or equal to 1000"):
        iam.update_role_description(RoleName=rn, Description="x" * 1001)
    assert iam.get_role(RoleName=rn)["Role"]["Description"] == "new words"
    user = make_user(root, policy=allow("iam:GetRole"))
    with raises_aws("AccessDenied", denied_msg(user.arn, "iam:UpdateRoleDescription", role["Arn"]),
                    status=403):
        user.iam.update_role_description(RoleName=rn, Description="x")


def test_cli_update_role_description(authz_server, root):
    role = new_role(root)
    rc, out, err = authz_server.cli("iam", "update-role-description", "--role-name",
                                    role["RoleName"], "--description", "from the cli")
    assert rc == 0, err
    assert out["Role"]["Description"] == "from the cli"


# ---------------------------------------------------------------------------
# GetAccountSummary

QUOTAS = {"UsersQuota": 5000, "GroupsQuota": 300, "RolesQuota": 1000, "PoliciesQuota": 1500,
          "InstanceProfilesQuota": 1000, "AccessKeysPerUserQuota": 2, "GroupsPerUserQuota": 10,
          "AttachedPoliciesPerUserQuota": 10, "AttachedPoliciesPerRoleQuota": 10,
          "AttachedPoliciesPerGroupQuota": 10, "PolicySizeQuota": 6144,
          "VersionsPerPolicyQuota": 5, "AssumeRolePolicySizeQuota": 2048,
          "UserPolicySizeQuota": 2048, "GroupPolicySizeQuota": 5120,
          "RolePolicySizeQuota": 10240, "PolicyVersionsInUseQuota": 10000,
          "ServerCertificatesQuota": 20, "SigningCertificatesPerUserQuota": 2}


def test_account_summary_counts(iam, root):
    before = iam.get_account_summary()["SummaryMap"]
    for k, v in QUOTAS.items():
        assert before[k] == v, k
    for k in ("MFADevices", "MFADevicesInUse", "AccountMFAEnabled", "ServerCertificates",
              "AccountSigningCertificatesPresent", "Providers"):
        assert before[k] == 0, k
    assert before["AccountAccessKeysPresent"] == 1
    assert before["GlobalEndpointTokenVersion"] == 1
    user = make_user(root, keys=False)
    new_role(root)
    iam.create_group(GroupName=unique("g"))
    arn = make_policy(iam)["Arn"]
    iam.attach_user_policy(UserName=user.name, PolicyArn=arn)
    iam.create_instance_profile(InstanceProfileName=unique("sum"))
    after = iam.get_account_summary()["SummaryMap"]
    for k in ("Users", "Roles", "Groups", "Policies", "InstanceProfiles", "PolicyVersionsInUse"):
        assert after[k] == before[k] + 1, k


def test_account_summary_denied(root, authz_server):
    user = make_user(root, policy=allow("iam:GetAccountAuthorizationDetails"))
    with raises_aws("AccessDenied", denied_msg(user.arn, "iam:GetAccountSummary", "*"), status=403):
        user.iam.get_account_summary()
    rc, out, err = authz_server.cli("iam", "get-account-summary")
    assert rc == 0, err
    assert out["SummaryMap"]["UsersQuota"] == 5000


# ---------------------------------------------------------------------------
# Login profiles

POLICY_MSG = "Password does not conform to the account password policy."


def test_login_profile_lifecycle(iam, root):
    user = make_user(root, keys=False)
    name = user.name
    lp = iam.create_login_profile(UserName=name, Password="Correct-horse-1",
                                  PasswordResetRequired=True)["LoginProfile"]
    assert set(lp) == {"UserName", "CreateDate", "PasswordResetRequired"}, lp
    assert lp["UserName"] == name and lp["PasswordResetRequired"] is True
    got = iam.get_login_profile(UserName=name)["LoginProfile"]
    assert got == lp
    with raises_aws("EntityAlreadyExists", f"Login Profile for user {name} already exists.",
                    status=409):
        iam.create_login_profile(UserName=name, Password="Correct-horse-2")
    iam.update_login_profile(UserName=name, PasswordResetRequired=False)
    assert iam.get_login_profile(UserName=name)["LoginProfile"]["PasswordResetRequired"] is False
    iam.update_login_profile(UserName=name, Password="Another-pass-3")
    with raises_aws("DeleteConflict", "Cannot delete entity, must delete login profile first.",
                    status=409):
        iam.delete_user(UserName=name)
    iam.delete_login_profile(UserName=name)
    msg = f"Login Profile for User {name} cannot be found."
    with raises_aws("NoSuchEntity", msg, status=404):
        iam.get_login_profile(UserName=name)
    with raises_aws("NoSuchEntity", msg, status=404):
        iam.delete_login_profile(UserName=name)
    with raises_aws("NoSuchEntity", msg, status=404):
        iam.update_login_profile(UserName=name, PasswordResetRequired=True)
    iam.delete_user(UserName=name)


def test_login_profile_password_policy(iam, root):
    user = make_user(root, keys=False)
    for pw in ("Short-1", "alllowercase", "ALLUPPER12", "nodigitsorupper!", "12345678&"):
        with raises_aws("PasswordPolicyViolation", POLICY_MSG):
            iam.create_login_profile(UserName=user.name, Password=pw)
    with raises_aws("NoSuchEntity", f"Login Profile for User {user.name} cannot be found.",
                    status=404):
        iam.get_login_profile(UserName=user.name)
    iam.create_login_profile(UserName=user.name, Password="Good-pass-1")
    with raises_aws("PasswordPolicyViolation", POLICY_MSG):
        iam.update_login_profile(UserName=user.name, Password="weak")


def test_login_profile_password_never_echoed(iam, root, authz_server):
    user = make_user(root, keys=False)
    secret = "Sekr\u0100t-" + "x" * 130
    with raises_aws("ValidationError") as ei:
        iam.create_login_profile(UserName=user.name, Password=secret)
    assert "Sekr" not in ei.value.response["Error"]["Message"]
    with raises_aws("ValidationError", contains="at 'password' failed to satisfy constraint"):
        iam.create_login_profile(UserName=user.name, Password="x" * 129)
    pw = "Never-logged-7"
    iam.create_login_profile(UserName=user.name, Password=pw)
    assert pw not in str(iam.get_login_profile(UserName=user.name))
    for f in authz_server.data_dir.rglob("*"):
        if f.is_file():
            assert pw.encode() not in f.read_bytes(), f


def test_login_profile_missing_user_and_denied(root):
    ghost = unique("ghost")
    with raises_aws("NoSuchEntity", f"The user with name {ghost} cannot be found.", status=404):
        root.iam.create_login_profile(UserName=ghost, Password="Good-pass-1")
    user = make_user(root, policy=allow("iam:GetLoginProfile"))
    with raises_aws("AccessDenied", denied_msg(user.arn, "iam:CreateLoginProfile",
                                               f"arn:aws:iam::{ACCOUNT}:user/{user.name}"),
                    status=403):
        user.iam.create_login_profile(UserName=user.name, Password="Good-pass-1")


# ---------------------------------------------------------------------------
# The user credentials tools enumerate before DeleteUser: always empty

LISTS = [("list_mfa_devices", "MFADevices", True),
         ("list_ssh_public_keys", "SSHPublicKeys", True),
         ("list_service_specific_credentials", "ServiceSpecificCredentials", False),
         ("list_signing_certificates", "Certificates", True)]


def action_of(method):
    return "iam:" + "".join({"mfa": "MFA", "ssh": "SSH"}.get(w, w.capitalize())
                            for w in method.split("_"))


@pytest.mark.parametrize("method,key,pages", LISTS)
def test_user_credential_lists_empty(iam, root, method, key, pages):
    user = make_user(root, policy=allow(action_of(method)))
    got = getattr(iam, method)(UserName=user.name)
    assert got[key] == []
    if pages:
        assert got["IsTruncated"] is False
    assert getattr(user.iam, method)()[key] == []           # the caller itself
    assert getattr(iam, method)()[key] == []                # the root user
    ghost = unique("ghost")
    with raises_aws("NoSuchEntity", f"The user with name {ghost} cannot be found.", status=404):
        getattr(iam, method)(UserName=ghost)
    other, stranger = make_user(root, keys=False), make_user(root)
    with raises_aws("AccessDenied", denied_msg(stranger.arn, action_of(method),
                                               f"arn:aws:iam::{ACCOUNT}:user/{other.name}"),
                    status=403):
        getattr(stranger.iam, method)(UserName=other.name)


def test_cli_teardown_enumeration(authz_server, root):
    user = make_user(root, keys=False)
    for cmd, key in (("list-mfa-devices", "MFADevices"), ("list-ssh-public-keys", "SSHPublicKeys"),
                     ("list-signing-certificates", "Certificates"),
                     ("list-service-specific-credentials", "ServiceSpecificCredentials")):
        rc, out, err = authz_server.cli("iam", cmd, "--user-name", user.name)
        assert rc == 0, err
        assert out[key] == [], cmd


def test_credential_create_calls_not_served(iam, root):
    user = make_user(root, keys=False)
    with raises_aws("InvalidAction", "Could not find operation CreateServiceSpecificCredential "
                    "for version 2010-05-08"):
        iam.create_service_specific_credential(UserName=user.name,
                                               ServiceName="codecommit.amazonaws.com")
    with raises_aws("InvalidAction", "Could not find operation CreateVirtualMFADevice "
                    "for version 2010-05-08"):
        iam.create_virtual_mfa_device(VirtualMFADeviceName=unique("mfa"))
