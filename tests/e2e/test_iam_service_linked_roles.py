"""
CreateServiceLinkedRole (issue 21), with boto3 and the AWS CLI: the two
service-linked roles of KMS (multi-Region keys, custom key stores) with
AWS's names, path and trust policy; a second one is AWS's "has been taken"
InvalidInput; any other service (Secrets Manager has none) is refused, as
is a CustomSuffix the KMS roles do not take; iam:CreateServiceLinkedRole
is authorized with iam:AWSServiceName -- src/iam/service_linked_roles.c.
"""

import json
import re

import pytest

from tresor_e2e import ACCOUNT, allow, denied_msg, make_user, raises_aws

MRK = "mrk.kms.amazonaws.com"
MRK_ROLE = "AWSServiceRoleForKeyManagementServiceMultiRegionKeys"
CKS = "cks.kms.amazonaws.com"
CKS_ROLE = "AWSServiceRoleForKeyManagementServiceCustomKeyStores"


def trust(service):
    return {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": service},
                           "Action": "sts:AssumeRole"}]}


def test_create_multi_region_role(root):
    r = root.iam.create_service_linked_role(AWSServiceName=MRK, Description="for MRKs")["Role"]
    assert r["RoleName"] == MRK_ROLE
    assert r["Path"] == f"/aws-service-role/{MRK}/"
    assert r["Arn"] == f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/{MRK}/{MRK_ROLE}"
    assert re.match(r"^AROA[A-Z2-7]{17}$", r["RoleId"]), r
    assert r["AssumeRolePolicyDocument"] == trust(MRK)
    assert r["Description"] == "for MRKs"
    got = root.iam.get_role(RoleName=MRK_ROLE)["Role"]
    assert got["Arn"] == r["Arn"] and got["RoleId"] == r["RoleId"]
    assert got["AssumeRolePolicyDocument"] == trust(MRK)
    assert got["MaxSessionDuration"] == 3600


def test_duplicate_is_taken(root):
    msg = (f"Service role name {MRK_ROLE} has been taken in this account, "
           "please try a different suffix.")
    try:
        root.iam.create_service_linked_role(AWSServiceName=MRK)
    except Exception:
        pass
    with raises_aws("InvalidInput", msg):
        root.iam.create_service_linked_role(AWSServiceName=MRK)


def test_custom_key_store_role_cli(authz_server):
    rc, out, err = authz_server.cli("iam", "create-service-linked-role", "--aws-service-name", CKS)
    assert rc == 0, err
    r = out["Role"]
    assert r["RoleName"] == CKS_ROLE and r["Path"] == f"/aws-service-role/{CKS}/", r
    assert "Description" not in r
    rc, out, err = authz_server.cli("iam", "create-service-linked-role", "--aws-service-name", CKS)
    assert rc != 0 and "InvalidInput" in err and "has been taken in this account" in err, err


@pytest.mark.parametrize("service", ["secretsmanager.amazonaws.com", "ec2.amazonaws.com",
                                     "kms.amazonaws.com", "MRK.kms.amazonaws.com"])
def test_other_services_refused(root, service):
    with raises_aws("InvalidInput", f"Service {service} is not a valid service name."):
        root.iam.create_service_linked_role(AWSServiceName=service)


def test_custom_suffix_refused(root):
    with raises_aws("InvalidInput", f"Custom suffix is not allowed for {MRK}."):
        root.iam.create_service_linked_role(AWSServiceName=MRK, CustomSuffix="x")


def test_bad_input(root):
    with raises_aws("ValidationError", contains="Member must satisfy regular expression pattern"):
        root.iam.create_service_linked_role(AWSServiceName="kms amazonaws")
    with raises_aws("ValidationError", contains="Member must have length less than or equal to 128"):
        root.iam.create_service_linked_role(AWSServiceName="a" * 129)


def test_authorized_with_service_name(root):
    cond = {"StringEquals": {"iam:AWSServiceName": "cks.kms.amazonaws.com"}}
    u = make_user(root, policy=allow("iam:CreateServiceLinkedRole", "*", condition=cond))
    arn = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/{MRK}/{MRK_ROLE}"
    with raises_aws("AccessDenied", denied_msg(u.arn, "iam:CreateServiceLinkedRole", arn), status=403):
        u.iam.create_service_linked_role(AWSServiceName=MRK)


def protected(name):
    return f"Cannot perform the operation on the protected role '{name}' - this role is only modifiable by AWS"


@pytest.fixture
def fresh(tresor_factory):
    """A server of its own: these tests delete the service-linked roles."""
    return tresor_factory("slr")


def test_service_linked_role_is_protected(fresh):
    iam = fresh.root_user.iam
    iam.create_service_linked_role(AWSServiceName=MRK)
    parn = iam.create_policy(PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [allow("kms:DescribeKey")]}))["Policy"]["Arn"]
    doc = json.dumps({"Version": "2012-10-17", "Statement": [allow("kms:DescribeKey")]})
    calls = [
        (iam.delete_role, {}),
        (iam.update_assume_role_policy, {"PolicyDocument": json.dumps(trust("ec2.amazonaws.com"))}),
        (iam.put_role_policy, {"PolicyName": "x", "PolicyDocument": doc}),
        (iam.delete_role_policy, {"PolicyName": "x"}),
        (iam.attach_role_policy, {"PolicyArn": parn}),
        (iam.detach_role_policy, {"PolicyArn": parn}),
        (iam.put_role_permissions_boundary, {"PermissionsBoundary": parn}),
        (iam.delete_role_permissions_boundary, {}),
        (iam.update_role, {"MaxSessionDuration": 7200}),
    ]
    for fn, kw in calls:
        with raises_aws("UnmodifiableEntity", protected(MRK_ROLE)):
            fn(RoleName=MRK_ROLE, **kw)
    # What AWS lets change: the description and tags.
    iam.update_role(RoleName=MRK_ROLE, Description="d1")
    iam.update_role_description(RoleName=MRK_ROLE, Description="d2")
    iam.tag_role(RoleName=MRK_ROLE, Tags=[{"Key": "k", "Value": "v"}])
    r = iam.get_role(RoleName=MRK_ROLE)["Role"]
    assert r["AssumeRolePolicyDocument"] == trust(MRK)
    assert r["MaxSessionDuration"] == 3600 and r["Description"] == "d2"
    assert "PermissionsBoundary" not in r
    assert iam.list_role_policies(RoleName=MRK_ROLE)["PolicyNames"] == []
    assert iam.list_attached_role_policies(RoleName=MRK_ROLE)["AttachedPolicies"] == []
    # A role of another path is not protected.
    iam.create_role(RoleName="plain", AssumeRolePolicyDocument=json.dumps(trust("ec2.amazonaws.com")))
    iam.put_role_policy(RoleName="plain", PolicyName="x", PolicyDocument=doc)


def test_delete_service_linked_role(fresh):
    iam = fresh.root_user.iam
    iam.create_service_linked_role(AWSServiceName=MRK)
    task = iam.delete_service_linked_role(RoleName=MRK_ROLE)["DeletionTaskId"]
    assert re.match(rf"^task/aws-service-role/{re.escape(MRK)}/{MRK_ROLE}/"
                    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", task), task
    with raises_aws("NoSuchEntity", f"The role with name {MRK_ROLE} cannot be found.", status=404):
        iam.get_role(RoleName=MRK_ROLE)
    st = iam.get_service_linked_role_deletion_status(DeletionTaskId=task)
    assert st["Status"] == "SUCCEEDED" and "Reason" not in st
    # a task id of another uuid, and a malformed one
    other = task[:-12] + "000000000000"
    with raises_aws("NoSuchEntity", f"Deletion task {other} cannot be found.", status=404):
        iam.get_service_linked_role_deletion_status(DeletionTaskId=other)
    with raises_aws("InvalidInput", "Invalid deletion task id: nope"):
        iam.get_service_linked_role_deletion_status(DeletionTaskId="nope")
    # not a service-linked role; no such role
    iam.create_role(RoleName="plain", AssumeRolePolicyDocument=json.dumps(trust("ec2.amazonaws.com")))
    with raises_aws("InvalidInput", "Role plain is not a service-linked role."):
        iam.delete_service_linked_role(RoleName="plain")
    assert iam.get_role(RoleName="plain")["Role"]["RoleName"] == "plain"
    with raises_aws("NoSuchEntity", "The role with name gone cannot be found.", status=404):
        iam.delete_service_linked_role(RoleName="gone")
    # made again after deletion
    assert iam.create_service_linked_role(AWSServiceName=MRK)["Role"]["RoleName"] == MRK_ROLE


def test_delete_service_linked_role_cli(fresh):
    rc, out, err = fresh.cli("iam", "create-service-linked-role", "--aws-service-name", CKS)
    assert rc == 0, err
    rc, out, err = fresh.cli("iam", "delete-role", "--role-name", CKS_ROLE)
    assert rc == 254
    assert ("An error occurred (UnmodifiableEntity) when calling the DeleteRole operation: "
            + protected(CKS_ROLE)) in err
    rc, out, err = fresh.cli("iam", "delete-service-linked-role", "--role-name", CKS_ROLE)
    assert rc == 0, err
    task = out["DeletionTaskId"]
    assert task.startswith(f"task/aws-service-role/{CKS}/{CKS_ROLE}/")
    rc, out, err = fresh.cli("iam", "get-service-linked-role-deletion-status", "--deletion-task-id", task)
    assert rc == 0 and out == {"Status": "SUCCEEDED"}, err


def test_delete_service_linked_role_authorized(fresh):
    root = fresh.root_user
    root.iam.create_service_linked_role(AWSServiceName=MRK)
    arn = f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/{MRK}/{MRK_ROLE}"
    u = make_user(root, policy=[allow("iam:GetServiceLinkedRoleDeletionStatus", arn)])
    with raises_aws("AccessDenied", denied_msg(u.arn, "iam:DeleteServiceLinkedRole", arn), status=403):
        u.iam.delete_service_linked_role(RoleName=MRK_ROLE)
    task = root.iam.delete_service_linked_role(RoleName=MRK_ROLE)["DeletionTaskId"]
    assert u.iam.get_service_linked_role_deletion_status(DeletionTaskId=task)["Status"] == "SUCCEEDED"


@pytest.mark.parametrize("path", ["/aws-service-role/", f"/aws-service-role/{MRK}/",
                                  "/aws-service-role/x/y/"])
def test_create_role_under_service_role_path_refused(root, path):
    msg = "Path prefix '/aws-service-role/' can only be used for AWS Service linked Roles"
    with raises_aws("InvalidInput", msg):
        root.iam.create_role(RoleName="fake-slr", Path=path,
                             AssumeRolePolicyDocument=json.dumps(trust(MRK)))
    with raises_aws("NoSuchEntity", "The role with name fake-slr cannot be found.", status=404):
        root.iam.get_role(RoleName="fake-slr")


def test_create_role_service_role_path_cli(authz_server):
    rc, out, err = authz_server.cli("iam", "create-role", "--role-name", "fake-slr-cli",
                                    "--path", "/aws-service-role/x/",
                                    "--assume-role-policy-document", json.dumps(trust(MRK)))
    assert rc == 254
    assert ("An error occurred (InvalidInput) when calling the CreateRole operation: Path prefix "
            "'/aws-service-role/' can only be used for AWS Service linked Roles") in err, err


def test_create_role_near_service_role_path_accepted(root):
    for i, path in enumerate(["/aws-service-roles/", "/x/aws-service-role/", "/AWS-service-role/"]):
        r = root.iam.create_role(RoleName=f"near-slr-{i}", Path=path,
                                 AssumeRolePolicyDocument=json.dumps(trust("ec2.amazonaws.com")))
        assert r["Role"]["Path"] == path


def test_service_linked_role_not_in_instance_profile(fresh):
    iam = fresh.root_user.iam
    iam.create_service_linked_role(AWSServiceName=MRK)
    iam.create_instance_profile(InstanceProfileName="ip")
    for fn in (iam.add_role_to_instance_profile, iam.remove_role_from_instance_profile):
        with raises_aws("UnmodifiableEntity", protected(MRK_ROLE)):
            fn(InstanceProfileName="ip", RoleName=MRK_ROLE)
    assert iam.get_instance_profile(InstanceProfileName="ip")["InstanceProfile"]["Roles"] == []
    assert iam.list_instance_profiles_for_role(RoleName=MRK_ROLE)["InstanceProfiles"] == []
    # the caller is authorized first: on the profile
    u = make_user(fresh.root_user, policy=[allow("iam:PassRole", "*")])
    parn = f"arn:aws:iam::{ACCOUNT}:instance-profile/ip"
    with raises_aws("AccessDenied", denied_msg(u.arn, "iam:AddRoleToInstanceProfile", parn), status=403):
        u.iam.add_role_to_instance_profile(InstanceProfileName="ip", RoleName=MRK_ROLE)
    # an ordinary role still goes in and out
    iam.create_role(RoleName="plain", AssumeRolePolicyDocument=json.dumps(trust("ec2.amazonaws.com")))
    iam.add_role_to_instance_profile(InstanceProfileName="ip", RoleName="plain")
    iam.remove_role_from_instance_profile(InstanceProfileName="ip", RoleName="plain")
