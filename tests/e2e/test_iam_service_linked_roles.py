"""
CreateServiceLinkedRole (issue 21), with boto3 and the AWS CLI: the two
service-linked roles of KMS (multi-Region keys, custom key stores) with
AWS's names, path and trust policy; a second one is AWS's "has been taken"
InvalidInput; any other service (Secrets Manager has none) is refused, as
is a CustomSuffix the KMS roles do not take; iam:CreateServiceLinkedRole
is authorized with iam:AWSServiceName -- src/iam/service_linked_roles.c.
"""

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
