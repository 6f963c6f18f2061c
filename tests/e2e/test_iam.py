"""
IAM end to end, as account A's root user: users, access keys, groups, roles,
managed policies and their versions, attachments, inline policies,
permissions boundaries, tags, GetAccountAuthorizationDetails, paging, the
query protocol on the wire, the AWS CLI, and `tresor account create`.

Expected values, codes, HTTP statuses and messages are AWS's (botocore
model for shapes and statuses; docs/WIRE.md 1.2, 4 and 5.4 for the envelope
and the messages).  One private server per module (authz_server), names made
unique per test.
"""

import configparser
import json
import os
import re
import urllib.parse

import pytest

from tresor_e2e import (
    ACCOUNT, ACCOUNT_B, AGPA_RE, AIDA_RE, AKIA_RE, ANPA_RE, AROA_RE, IAM_NS,
    INVALID_TOKEN_MSG, REGION, ROOT_ARN, allow, assert_recent, group_arn, make_managed_policy,
    make_role, make_user, managed_policy_arn, policy_doc, raises_aws, role_arn,
    trust_policy, unique, user_arn,
)


@pytest.fixture(scope="module")
def iam(root):
    return root.iam


def user_missing(name):
    return f"The user with name {name} cannot be found."


def not_attachable(arn):
    return f"Policy {arn} does not exist or is not attachable."


SIMPLE_DOC = {"Version": "2012-10-17",
              "Statement": [{"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}]}
SIMPLE = json.dumps(SIMPLE_DOC)


# ---------------------------------------------------------------------------
# Users


def test_create_user_shape(iam):
    name = unique("alice")
    u = iam.create_user(UserName=name)["User"]
    assert set(u) == {"Path", "UserName", "UserId", "Arn", "CreateDate"}, u
    assert u["Path"] == "/"
    assert u["UserName"] == name
    assert AIDA_RE.match(u["UserId"]), u["UserId"]
    assert u["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/{name}"
    assert_recent(u["CreateDate"])


def test_get_user_matches_create(iam):
    name = unique("bob")
    made = iam.create_user(UserName=name)["User"]
    got = iam.get_user(UserName=name)["User"]
    for k in ("Path", "UserName", "UserId", "Arn", "CreateDate"):
        assert got[k] == made[k], k
    assert "PermissionsBoundary" not in got
    assert "Tags" not in got


def test_user_ids_are_unique(iam):
    ids = {iam.create_user(UserName=unique("uid"))["User"]["UserId"] for _ in range(4)}
    assert len(ids) == 4


def test_create_user_with_path_and_tags(iam):
    name = unique("carol")
    u = iam.create_user(UserName=name, Path="/division/team/",
                        Tags=[{"Key": "team", "Value": "blue"},
                              {"Key": "cost-center", "Value": "42"}])["User"]
    assert u["Path"] == "/division/team/"
    assert u["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/division/team/{name}"
    assert sorted(u["Tags"], key=lambda t: t["Key"]) == [
        {"Key": "cost-center", "Value": "42"}, {"Key": "team", "Value": "blue"}]
    got = iam.get_user(UserName=name)["User"]
    assert got["Arn"] == u["Arn"] and got["Path"] == "/division/team/"
    assert sorted(got["Tags"], key=lambda t: t["Key"]) == sorted(u["Tags"],
                                                                 key=lambda t: t["Key"])


def test_create_user_duplicate(iam):
    name = unique("dup")
    iam.create_user(UserName=name)
    with raises_aws("EntityAlreadyExists", f"User with name {name} already exists.", status=409):
        iam.create_user(UserName=name)


def test_user_names_are_case_insensitive_unique(iam):
    # IAM: "User names are not distinguished by case".
    name = unique("casey")
    iam.create_user(UserName=name)
    with raises_aws("EntityAlreadyExists", startswith="User with name ", status=409):
        iam.create_user(UserName=name.upper())


def test_get_user_missing(iam):
    name = unique("ghost")
    with raises_aws("NoSuchEntity", user_missing(name), status=404):
        iam.get_user(UserName=name)


def test_get_user_of_root(iam):
    # GetUser without a name describes the caller; for the root user the
    # "user" is the account itself.
    u = iam.get_user()["User"]
    assert u["UserId"] == ACCOUNT
    assert u["Arn"] == ROOT_ARN


def test_delete_user(iam):
    name = unique("gone")
    iam.create_user(UserName=name)
    iam.delete_user(UserName=name)
    with raises_aws("NoSuchEntity", user_missing(name), status=404):
        iam.get_user(UserName=name)
    with raises_aws("NoSuchEntity", user_missing(name), status=404):
        iam.delete_user(UserName=name)
    assert name not in {u["UserName"] for u in iam.list_users()["Users"]}


def test_update_user_rename_and_move(iam):
    old, new = unique("old"), unique("new")
    made = iam.create_user(UserName=old)["User"]
    iam.update_user(UserName=old, NewUserName=new, NewPath="/moved/")
    got = iam.get_user(UserName=new)["User"]
    assert got["UserId"] == made["UserId"]
    assert got["Path"] == "/moved/"
    assert got["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/moved/{new}"
    with raises_aws("NoSuchEntity", user_missing(old), status=404):
        iam.get_user(UserName=old)


def test_update_user_to_taken_name(iam):
    a, b = unique("ua"), unique("ub")
    iam.create_user(UserName=a)
    iam.create_user(UserName=b)
    with raises_aws("EntityAlreadyExists", f"User with name {b} already exists.", status=409):
        iam.update_user(UserName=a, NewUserName=b)
    assert iam.get_user(UserName=a)["User"]["UserName"] == a


def test_update_missing_user(iam):
    name = unique("nobody")
    with raises_aws("NoSuchEntity", user_missing(name), status=404):
        iam.update_user(UserName=name, NewPath="/x/")


def test_create_user_invalid_name(iam):
    with raises_aws("ValidationError",
                    "1 validation error detected: Value 'bad name!' at 'userName' failed to "
                    "satisfy constraint: Member must satisfy regular expression pattern: "
                    "[\\w+=,.@-]+"):
        iam.create_user(UserName="bad name!")


def test_create_user_name_too_long(iam):
    with raises_aws("ValidationError", contains="Member must have length less than or equal "
                                                "to 64"):
        iam.create_user(UserName="n" * 65)
    name = "n" * 52 + os.urandom(6).hex()
    assert iam.create_user(UserName=name)["User"]["UserName"] == name


@pytest.mark.parametrize("path", ["nopath", "/no-trailing", "no-leading/"])
def test_create_user_invalid_path(iam, path):
    name = unique("badpath")
    with raises_aws("ValidationError", contains="'path'"):
        iam.create_user(UserName=name, Path=path)
    with raises_aws("NoSuchEntity", user_missing(name), status=404):
        iam.get_user(UserName=name)


def test_special_characters_in_names(iam):
    # Every character the name pattern allows, including '+' and '=' which the
    # form encoding must carry intact.
    name = f"a+b=c,d.e@f-g_{os.urandom(3).hex()}"
    u = iam.create_user(UserName=name)["User"]
    assert u["UserName"] == name
    assert u["Arn"] == user_arn(name)
    assert iam.get_user(UserName=name)["User"]["UserName"] == name


def test_list_users_entries(iam):
    name = unique("listed")
    made = iam.create_user(UserName=name)["User"]
    resp = iam.list_users()
    assert resp["IsTruncated"] is False
    assert "Marker" not in resp
    entry = next(u for u in resp["Users"] if u["UserName"] == name)
    assert entry == made


def test_list_users_path_prefix(iam):
    prefix = f"/pp{os.urandom(3).hex()}/"
    inside = unique("in")
    iam.create_user(UserName=inside, Path=prefix + "sub/")
    iam.create_user(UserName=unique("out"), Path="/elsewhere/")
    names = [u["UserName"] for u in iam.list_users(PathPrefix=prefix)["Users"]]
    assert names == [inside]


def test_list_users_paging(iam):
    prefix = f"/pg{os.urandom(3).hex()}/"
    names = sorted(unique("pg") for _ in range(5))
    for n in names:
        iam.create_user(UserName=n, Path=prefix)
    seen, marker, pages = [], None, 0
    while True:
        kw = {"PathPrefix": prefix, "MaxItems": 2}
        if marker:
            kw["Marker"] = marker
        resp = iam.list_users(**kw)
        pages += 1
        seen += [u["UserName"] for u in resp["Users"]]
        if not resp["IsTruncated"]:
            assert "Marker" not in resp
            break
        assert len(resp["Users"]) == 2
        assert resp["Marker"]
        marker = resp["Marker"]
        assert pages < 10
    assert pages == 3
    assert sorted(seen) == names


def _walk(call, list_key, **kw):
    """Every page of a listing at MaxItems 1, then 2: the items of each walk
    in order (each page truncated with a Marker until the last, which has
    none), checked equal to the listing's one unpaged page."""
    whole = call(**kw)
    assert whole["IsTruncated"] is False and "Marker" not in whole
    for size in (1, 2):
        seen, marker = [], None
        for _ in range(20):
            resp = call(**kw, MaxItems=size, **({"Marker": marker} if marker else {}))
            seen += resp[list_key]
            if not resp["IsTruncated"]:
                assert "Marker" not in resp
                break
            assert len(resp[list_key]) == size
            marker = resp["Marker"]
        else:
            raise AssertionError(f"{list_key} never stopped paging")
        assert seen == whole[list_key], (size, list_key)
    return whole[list_key]


def test_paging_of_every_entity_list(root, iam):
    """The listings of one entity's relations page alike: MaxItems items a
    page, IsTruncated and a Marker while more remain, none lost or twice."""
    prefix = f"/pp{os.urandom(3).hex()}/"
    pols = sorted([make_managed_policy(root, allow("kms:DescribeKey"), path=prefix)["Arn"]
                   for _ in range(3)])
    other = make_managed_policy(root, allow("kms:DescribeKey"), path="/else/")["Arn"]
    user = unique("pg")
    iam.create_user(UserName=user, Tags=[{"Key": f"k{i}", "Value": f"v{i}"} for i in range(3)])
    role = make_role(root, trust=trust_policy(ROOT_ARN),
                     tags={f"k{i}": f"v{i}" for i in range(3)})["RoleName"]
    groups = sorted(unique("pgg") for _ in range(3))
    for g in groups:
        iam.create_group(GroupName=g)
        iam.add_user_to_group(GroupName=g, UserName=user)
    members = sorted(unique("pgm") for _ in range(3))
    for m in members:
        iam.create_user(UserName=m)
        iam.add_user_to_group(GroupName=groups[0], UserName=m)
    for arn in pols + [other]:
        iam.attach_user_policy(UserName=user, PolicyArn=arn)
        iam.attach_role_policy(RoleName=role, PolicyArn=arn)
    for i in range(3):
        iam.put_user_policy(UserName=user, PolicyName=f"p{i}", PolicyDocument=SIMPLE)
        iam.put_group_policy(GroupName=groups[0], PolicyName=f"p{i}", PolicyDocument=SIMPLE)
    keys = [iam.create_access_key(UserName=user)["AccessKey"]["AccessKeyId"] for _ in range(2)]
    for _ in range(2):
        iam.create_policy_version(PolicyArn=pols[0], PolicyDocument=SIMPLE)

    tags = [{"Key": f"k{i}", "Value": f"v{i}"} for i in range(3)]
    assert _walk(iam.list_user_tags, "Tags", UserName=user) == tags
    assert _walk(iam.list_role_tags, "Tags", RoleName=role) == tags
    attached = _walk(iam.list_attached_user_policies, "AttachedPolicies", UserName=user,
                     PathPrefix=prefix)
    assert [a["PolicyArn"] for a in attached] == pols
    assert [a["PolicyName"] for a in attached] == [a.rsplit("/", 1)[1] for a in pols]
    every = _walk(iam.list_attached_role_policies, "AttachedPolicies", RoleName=role)
    assert sorted(a["PolicyArn"] for a in every) == sorted(pols + [other])
    assert _walk(iam.list_user_policies, "PolicyNames", UserName=user) == ["p0", "p1", "p2"]
    assert _walk(iam.list_group_policies, "PolicyNames", GroupName=groups[0]) == ["p0", "p1", "p2"]
    listed = _walk(iam.list_access_keys, "AccessKeyMetadata", UserName=user)
    assert sorted(k["AccessKeyId"] for k in listed) == sorted(keys)
    assert {k["UserName"] for k in listed} == {user}
    assert [g["GroupName"] for g in _walk(iam.list_groups_for_user, "Groups", UserName=user)] \
        == groups
    assert [u["UserName"] for u in _walk(iam.get_group, "Users", GroupName=groups[0])] \
        == sorted([user] + members, key=lambda n: user_arn(n))
    versions = _walk(iam.list_policy_versions, "Versions", PolicyArn=pols[0])
    assert [v["VersionId"] for v in versions] == ["v3", "v2", "v1"]
    assert [v["IsDefaultVersion"] for v in versions] == [False, False, True]


@pytest.mark.parametrize("max_items, msg", [
    (0, "Member must have value greater than or equal to 1"),
    (1001, "Member must have value less than or equal to 1000"),
])
def test_list_users_max_items_out_of_range(iam, max_items, msg):
    with raises_aws("ValidationError",
                    f"1 validation error detected: Value '{max_items}' at 'maxItems' failed to "
                    f"satisfy constraint: {msg}"):
        iam.list_users(MaxItems=max_items)


def test_delete_user_with_access_key_conflicts(root, iam):
    u = make_user(root)
    with raises_aws("DeleteConflict", "Cannot delete entity, must delete access keys first.",
                    status=409):
        iam.delete_user(UserName=u.name)
    iam.delete_access_key(UserName=u.name, AccessKeyId=u.access_key)
    iam.delete_user(UserName=u.name)


def test_delete_user_with_inline_policy_conflicts(root, iam):
    u = make_user(root, keys=False, policy=allow("kms:DescribeKey"))
    with raises_aws("DeleteConflict", "Cannot delete entity, must delete policies first.",
                    status=409):
        iam.delete_user(UserName=u.name)
    iam.delete_user_policy(UserName=u.name, PolicyName="inline")
    iam.delete_user(UserName=u.name)


def test_delete_user_with_attached_policy_conflicts(root, iam):
    pol = make_managed_policy(root, allow("kms:DescribeKey"))
    u = make_user(root, keys=False, managed=[pol["Arn"]])
    with raises_aws("DeleteConflict", "Cannot delete entity, must detach all policies first.",
                    status=409):
        iam.delete_user(UserName=u.name)
    iam.detach_user_policy(UserName=u.name, PolicyArn=pol["Arn"])
    iam.delete_user(UserName=u.name)


def test_delete_user_in_group_conflicts(root, iam):
    g = unique("grp")
    iam.create_group(GroupName=g)
    u = make_user(root, keys=False, groups=[g])
    # AWS: "Cannot delete entity, must remove user from all groups first."
    with raises_aws("DeleteConflict", startswith="Cannot delete entity, must remove ", status=409):
        iam.delete_user(UserName=u.name)
    iam.remove_user_from_group(GroupName=g, UserName=u.name)
    iam.delete_user(UserName=u.name)


# ---------------------------------------------------------------------------
# Access keys


def test_create_access_key_shape(iam):
    name = unique("keyed")
    iam.create_user(UserName=name)
    k = iam.create_access_key(UserName=name)["AccessKey"]
    assert set(k) == {"UserName", "AccessKeyId", "Status", "SecretAccessKey", "CreateDate"}, k
    assert k["UserName"] == name
    assert AKIA_RE.match(k["AccessKeyId"]), k["AccessKeyId"]
    assert k["Status"] == "Active"
    assert len(k["SecretAccessKey"]) == 40
    assert re.fullmatch(r"[A-Za-z0-9+/]{40}", k["SecretAccessKey"]), k["SecretAccessKey"]
    assert_recent(k["CreateDate"])


def test_new_access_key_signs_requests(root):
    u = make_user(root, path="/signers/")
    ident = u.sts.get_caller_identity()
    assert ident["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/signers/{u.name}"
    assert ident["UserId"] == u.user_id
    assert ident["Account"] == ACCOUNT


def test_list_access_keys(root, iam):
    u = make_user(root)
    second = iam.create_access_key(UserName=u.name)["AccessKey"]
    resp = iam.list_access_keys(UserName=u.name)
    assert resp["IsTruncated"] is False
    meta = {m["AccessKeyId"]: m for m in resp["AccessKeyMetadata"]}
    assert set(meta) == {u.access_key, second["AccessKeyId"]}
    for m in meta.values():
        assert set(m) == {"UserName", "AccessKeyId", "Status", "CreateDate"}, m
        assert m["UserName"] == u.name
        assert m["Status"] == "Active"


def test_access_key_limit_two_per_user(root, iam):
    u = make_user(root)
    iam.create_access_key(UserName=u.name)
    with raises_aws("LimitExceeded", "Cannot exceed quota for AccessKeysPerUser: 2", status=409):
        iam.create_access_key(UserName=u.name)
    assert len(iam.list_access_keys(UserName=u.name)["AccessKeyMetadata"]) == 2


def test_inactive_access_key_is_refused(root, iam):
    u = make_user(root)
    assert u.sts.get_caller_identity()["Arn"] == u.arn
    iam.update_access_key(UserName=u.name, AccessKeyId=u.access_key, Status="Inactive")
    meta = iam.list_access_keys(UserName=u.name)["AccessKeyMetadata"]
    assert [m["Status"] for m in meta] == ["Inactive"]
    with raises_aws("InvalidClientTokenId", INVALID_TOKEN_MSG, status=403):
        u.sts.get_caller_identity()
    with raises_aws("InvalidClientTokenId", INVALID_TOKEN_MSG, status=403):
        u.iam.get_user()
    with raises_aws("UnrecognizedClientException", INVALID_TOKEN_MSG, status=400):
        u.kms.list_keys()
    iam.update_access_key(UserName=u.name, AccessKeyId=u.access_key, Status="Active")
    assert u.sts.get_caller_identity()["Arn"] == u.arn


def test_delete_access_key(root, iam):
    u = make_user(root)
    iam.delete_access_key(UserName=u.name, AccessKeyId=u.access_key)
    assert iam.list_access_keys(UserName=u.name)["AccessKeyMetadata"] == []
    with raises_aws("InvalidClientTokenId", INVALID_TOKEN_MSG, status=403):
        u.sts.get_caller_identity()
    with raises_aws("NoSuchEntity", f"The Access Key with id {u.access_key} cannot be found.",
                    status=404):
        iam.delete_access_key(UserName=u.name, AccessKeyId=u.access_key)


def test_create_access_key_for_missing_user(iam):
    name = unique("nokey")
    with raises_aws("NoSuchEntity", user_missing(name), status=404):
        iam.create_access_key(UserName=name)


# ---------------------------------------------------------------------------
# Groups


def test_create_group_shape(iam):
    name = unique("devs")
    g = iam.create_group(GroupName=name, Path="/eng/")["Group"]
    assert set(g) == {"Path", "GroupName", "GroupId", "Arn", "CreateDate"}, g
    assert g["Path"] == "/eng/"
    assert g["GroupName"] == name
    assert AGPA_RE.match(g["GroupId"]), g["GroupId"]
    assert g["Arn"] == group_arn(name, "/eng/")
    assert_recent(g["CreateDate"])


def test_create_group_duplicate_and_missing(iam):
    name = unique("twice")
    iam.create_group(GroupName=name)
    with raises_aws("EntityAlreadyExists", f"Group with name {name} already exists.", status=409):
        iam.create_group(GroupName=name)
    missing = unique("nogroup")
    with raises_aws("NoSuchEntity", f"The group with name {missing} cannot be found.",
                    status=404):
        iam.get_group(GroupName=missing)


def test_group_membership(root, iam):
    gname = unique("team")
    g = iam.create_group(GroupName=gname)["Group"]
    u1 = make_user(root, keys=False)
    u2 = make_user(root, keys=False)
    iam.add_user_to_group(GroupName=gname, UserName=u1.name)
    iam.add_user_to_group(GroupName=gname, UserName=u2.name)
    resp = iam.get_group(GroupName=gname)
    assert resp["Group"]["GroupId"] == g["GroupId"]
    assert resp["Group"]["Arn"] == g["Arn"]
    assert resp["IsTruncated"] is False
    members = {u["UserName"]: u for u in resp["Users"]}
    assert set(members) == {u1.name, u2.name}
    assert members[u1.name]["UserId"] == u1.user_id
    assert members[u1.name]["Arn"] == u1.arn
    groups = iam.list_groups_for_user(UserName=u1.name)
    assert [x["GroupName"] for x in groups["Groups"]] == [gname]
    assert groups["Groups"][0]["GroupId"] == g["GroupId"]
    iam.remove_user_from_group(GroupName=gname, UserName=u1.name)
    assert [u["UserName"] for u in iam.get_group(GroupName=gname)["Users"]] == [u2.name]
    assert iam.list_groups_for_user(UserName=u1.name)["Groups"] == []
    assert gname in {x["GroupName"] for x in iam.list_groups()["Groups"]}


def test_add_user_to_group_missing_entities(root, iam):
    gname = unique("g")
    iam.create_group(GroupName=gname)
    nouser = unique("nouser")
    with raises_aws("NoSuchEntity", user_missing(nouser), status=404):
        iam.add_user_to_group(GroupName=gname, UserName=nouser)
    u = make_user(root, keys=False)
    nogroup = unique("nogroup")
    with raises_aws("NoSuchEntity", f"The group with name {nogroup} cannot be found.",
                    status=404):
        iam.add_user_to_group(GroupName=nogroup, UserName=u.name)


def test_delete_group_with_members_conflicts(root, iam):
    gname = unique("full")
    iam.create_group(GroupName=gname)
    u = make_user(root, keys=False, groups=[gname])
    with raises_aws("DeleteConflict", "Cannot delete entity, must remove users from group first.",
                    status=409):
        iam.delete_group(GroupName=gname)
    iam.remove_user_from_group(GroupName=gname, UserName=u.name)
    iam.delete_group(GroupName=gname)
    with raises_aws("NoSuchEntity", f"The group with name {gname} cannot be found.", status=404):
        iam.get_group(GroupName=gname)


# ---------------------------------------------------------------------------
# Roles


def test_create_role_shape(iam):
    name = unique("app")
    trust = trust_policy(ROOT_ARN)
    r = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    for k in ("Path", "RoleName", "RoleId", "Arn", "CreateDate", "AssumeRolePolicyDocument"):
        assert k in r, k
    assert r["Path"] == "/"
    assert r["RoleName"] == name
    assert AROA_RE.match(r["RoleId"]), r["RoleId"]
    assert r["Arn"] == role_arn(name)
    assert_recent(r["CreateDate"])
    # botocore URL-decodes and parses the document: a dict, as sent.
    assert r["AssumeRolePolicyDocument"] == trust


def test_get_role(iam):
    name = unique("svc")
    trust = trust_policy(ROOT_ARN)
    made = iam.create_role(RoleName=name, Path="/service/", Description="runs things",
                           AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    r = iam.get_role(RoleName=name)["Role"]
    assert r["RoleId"] == made["RoleId"]
    assert r["Arn"] == role_arn(name, "/service/")
    assert r["Path"] == "/service/"
    assert r["Description"] == "runs things"
    assert r["MaxSessionDuration"] == 3600
    assert r["AssumeRolePolicyDocument"] == trust


def test_create_role_echoes_trust_as_given(iam):
    # The account principal written as a bare id comes back as written.
    trust = trust_policy(ACCOUNT)
    r = iam.create_role(RoleName=unique("bare"), AssumeRolePolicyDocument=json.dumps(trust))
    assert r["Role"]["AssumeRolePolicyDocument"] == trust


def test_create_role_duplicate_and_missing(iam):
    name = unique("r")
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust_policy(ROOT_ARN)))
    with raises_aws("EntityAlreadyExists", f"Role with name {name} already exists.", status=409):
        iam.create_role(RoleName=name,
                        AssumeRolePolicyDocument=json.dumps(trust_policy(ROOT_ARN)))
    missing = unique("norole")
    with raises_aws("NoSuchEntity", f"The role with name {missing} cannot be found.", status=404):
        iam.get_role(RoleName=missing)


def test_create_role_trust_names_missing_user(iam):
    ghost = user_arn(unique("ghost"))
    with raises_aws("MalformedPolicyDocument", f'Invalid principal in policy: "AWS":"{ghost}"'):
        iam.create_role(RoleName=unique("r"),
                        AssumeRolePolicyDocument=json.dumps(trust_policy(ghost)))


def test_create_role_trust_invalid_json(iam):
    name = unique("r")
    with raises_aws("MalformedPolicyDocument", "This policy contains invalid Json"):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument='{"Version": "2012-10-17", ')
    with raises_aws("NoSuchEntity", status=404):
        iam.get_role(RoleName=name)


def test_update_assume_role_policy(root, iam):
    u = make_user(root, keys=False)
    role = make_role(root, trust=trust_policy(ROOT_ARN))
    new = trust_policy(u.arn, condition={"StringEquals": {"sts:ExternalId": "x-1"}})
    iam.update_assume_role_policy(RoleName=role["RoleName"], PolicyDocument=json.dumps(new))
    assert iam.get_role(RoleName=role["RoleName"])["Role"]["AssumeRolePolicyDocument"] == new


def test_update_role_description_and_max_session(root, iam):
    role = make_role(root, trust=trust_policy(ROOT_ARN))
    iam.update_role(RoleName=role["RoleName"], Description="new words", MaxSessionDuration=7200)
    r = iam.get_role(RoleName=role["RoleName"])["Role"]
    assert r["Description"] == "new words"
    assert r["MaxSessionDuration"] == 7200
    iam.update_role(RoleName=role["RoleName"], MaxSessionDuration=43200)
    assert iam.get_role(RoleName=role["RoleName"])["Role"]["MaxSessionDuration"] == 43200


@pytest.mark.parametrize("value, msg", [
    (3599, "Member must have value greater than or equal to 3600"),
    (43201, "Member must have value less than or equal to 43200"),
])
def test_update_role_max_session_out_of_range(root, iam, value, msg):
    role = make_role(root, trust=trust_policy(ROOT_ARN))
    with raises_aws("ValidationError",
                    f"1 validation error detected: Value '{value}' at 'maxSessionDuration' "
                    f"failed to satisfy constraint: {msg}"):
        iam.update_role(RoleName=role["RoleName"], MaxSessionDuration=value)
    assert iam.get_role(RoleName=role["RoleName"])["Role"]["MaxSessionDuration"] == 3600


def test_create_role_with_max_session(root, iam):
    role = make_role(root, trust=trust_policy(ROOT_ARN), max_session=14400)
    assert iam.get_role(RoleName=role["RoleName"])["Role"]["MaxSessionDuration"] == 14400


def test_delete_role_conflicts_then_deletes(root, iam):
    pol = make_managed_policy(root, allow("kms:DescribeKey"))
    role = make_role(root, trust=trust_policy(ROOT_ARN), policy=allow("kms:ListKeys"),
                     managed=[pol["Arn"]])
    name = role["RoleName"]
    with raises_aws("DeleteConflict", "Cannot delete entity, must detach all policies first.",
                    status=409):
        iam.delete_role(RoleName=name)
    iam.detach_role_policy(RoleName=name, PolicyArn=pol["Arn"])
    with raises_aws("DeleteConflict", "Cannot delete entity, must delete policies first.",
                    status=409):
        iam.delete_role(RoleName=name)
    iam.delete_role_policy(RoleName=name, PolicyName="inline")
    iam.delete_role(RoleName=name)
    with raises_aws("NoSuchEntity", f"The role with name {name} cannot be found.", status=404):
        iam.get_role(RoleName=name)


def test_list_roles_path_prefix(root, iam):
    prefix = f"/lr{os.urandom(3).hex()}/"
    role = make_role(root, trust=trust_policy(ROOT_ARN), path=prefix)
    resp = iam.list_roles(PathPrefix=prefix)
    assert resp["IsTruncated"] is False
    assert [r["RoleName"] for r in resp["Roles"]] == [role["RoleName"]]
    listed = resp["Roles"][0]
    assert listed["RoleId"] == role["RoleId"]
    assert listed["Arn"] == role_arn(role["RoleName"], prefix)
    assert listed["AssumeRolePolicyDocument"] == trust_policy(ROOT_ARN)


# ---------------------------------------------------------------------------
# Managed policies and versions


def test_create_policy_shape(iam):
    name = unique("readkeys")
    p = iam.create_policy(PolicyName=name, PolicyDocument=SIMPLE)["Policy"]
    assert p["PolicyName"] == name
    assert ANPA_RE.match(p["PolicyId"]), p["PolicyId"]
    assert p["Arn"] == managed_policy_arn(name)
    assert p["Path"] == "/"
    assert p["DefaultVersionId"] == "v1"
    assert p["AttachmentCount"] == 0
    assert p["PermissionsBoundaryUsageCount"] == 0
    assert p["IsAttachable"] is True
    assert_recent(p["CreateDate"])
    assert_recent(p["UpdateDate"])


def test_create_policy_with_path_and_get(iam):
    name = unique("pathed")
    p = iam.create_policy(PolicyName=name, Path="/team/a/", PolicyDocument=SIMPLE,
                          Description="read keys")["Policy"]
    assert p["Arn"] == managed_policy_arn(name, "/team/a/")
    got = iam.get_policy(PolicyArn=p["Arn"])["Policy"]
    assert got["PolicyId"] == p["PolicyId"]
    assert got["Path"] == "/team/a/"
    assert got["Description"] == "read keys"
    assert got["DefaultVersionId"] == "v1"


def test_create_policy_duplicate(iam):
    name = unique("twin")
    iam.create_policy(PolicyName=name, PolicyDocument=SIMPLE)
    with raises_aws("EntityAlreadyExists",
                    f"A policy called {name} already exists. Duplicate names are not allowed.",
                    status=409):
        iam.create_policy(PolicyName=name, PolicyDocument=SIMPLE)


def test_get_policy_missing(iam):
    arn = managed_policy_arn(unique("nopol"))
    with raises_aws("NoSuchEntity", f"Policy {arn} was not found.", status=404):
        iam.get_policy(PolicyArn=arn)


def test_get_policy_version_document(iam):
    p = iam.create_policy(PolicyName=unique("doc"), PolicyDocument=SIMPLE)["Policy"]
    v = iam.get_policy_version(PolicyArn=p["Arn"], VersionId="v1")["PolicyVersion"]
    assert v["VersionId"] == "v1"
    assert v["IsDefaultVersion"] is True
    assert v["Document"] == SIMPLE_DOC
    assert_recent(v["CreateDate"])


def test_policy_versions_lifecycle(iam):
    p = iam.create_policy(PolicyName=unique("ver"), PolicyDocument=SIMPLE)["Policy"]
    arn = p["Arn"]
    doc2 = {"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt"],
                           "Resource": "*"}]}
    v2 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=json.dumps(doc2),
                                   SetAsDefault=True)["PolicyVersion"]
    assert v2["VersionId"] == "v2"
    assert v2["IsDefaultVersion"] is True
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v2"
    assert iam.get_policy_version(PolicyArn=arn, VersionId="v2")["PolicyVersion"][
        "Document"] == doc2
    v3 = iam.create_policy_version(PolicyArn=arn, PolicyDocument=SIMPLE)["PolicyVersion"]
    assert v3["VersionId"] == "v3"
    assert v3["IsDefaultVersion"] is False
    versions = {v["VersionId"]: v["IsDefaultVersion"]
                for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]}
    assert versions == {"v1": False, "v2": True, "v3": False}
    iam.set_default_policy_version(PolicyArn=arn, VersionId="v1")
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v1"
    iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    versions = {v["VersionId"]: v["IsDefaultVersion"]
                for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]}
    assert versions == {"v1": True, "v3": False}
    with raises_aws("NoSuchEntity", status=404):
        iam.get_policy_version(PolicyArn=arn, VersionId="v2")


def test_unknown_policy_version(iam):
    """GetPolicyVersion, DeletePolicyVersion and SetDefaultPolicyVersion on a
    version the policy does not have: NoSuchEntity naming both, and the
    policy as it was."""
    p = iam.create_policy(PolicyName=unique("nover"), PolicyDocument=SIMPLE)["Policy"]
    arn = p["Arn"]
    msg = f"Policy {arn} version v9 does not exist or is not attachable."
    for op in (iam.get_policy_version, iam.delete_policy_version, iam.set_default_policy_version):
        with raises_aws("NoSuchEntity", msg, status=404):
            op(PolicyArn=arn, VersionId="v9")
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v1"
    assert [v["VersionId"] for v in iam.list_policy_versions(PolicyArn=arn)["Versions"]] == ["v1"]
    # CreatePolicy and GetPolicy answer with the same Policy element.
    got = iam.get_policy(PolicyArn=arn)["Policy"]
    assert {k: got[k] for k in p} == p


def test_policy_version_limit_five(iam):
    arn = iam.create_policy(PolicyName=unique("five"), PolicyDocument=SIMPLE)["Policy"]["Arn"]
    for _ in range(4):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=SIMPLE)
    with raises_aws("LimitExceeded", startswith="A managed policy can have up to 5 versions",
                    status=409):
        iam.create_policy_version(PolicyArn=arn, PolicyDocument=SIMPLE, SetAsDefault=True)
    assert len(iam.list_policy_versions(PolicyArn=arn)["Versions"]) == 5
    assert iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"] == "v1"


def test_delete_default_policy_version_conflicts(iam):
    arn = iam.create_policy(PolicyName=unique("dflt"), PolicyDocument=SIMPLE)["Policy"]["Arn"]
    with raises_aws("DeleteConflict", "Cannot delete the default version of a policy.",
                    status=409):
        iam.delete_policy_version(PolicyArn=arn, VersionId="v1")


def test_delete_policy_with_versions_conflicts(iam):
    arn = iam.create_policy(PolicyName=unique("multi"), PolicyDocument=SIMPLE)["Policy"]["Arn"]
    iam.create_policy_version(PolicyArn=arn, PolicyDocument=SIMPLE)
    with raises_aws("DeleteConflict",
                    "This policy has more than one version. Before you delete a policy, you "
                    "must delete the policy's versions. The default version is deleted with "
                    "the policy.", status=409):
        iam.delete_policy(PolicyArn=arn)
    iam.delete_policy_version(PolicyArn=arn, VersionId="v2")
    iam.delete_policy(PolicyArn=arn)
    with raises_aws("NoSuchEntity", f"Policy {arn} was not found.", status=404):
        iam.get_policy(PolicyArn=arn)


def test_delete_attached_policy_conflicts(root, iam):
    pol = make_managed_policy(root, allow("kms:DescribeKey"))
    u = make_user(root, keys=False, managed=[pol["Arn"]])
    with raises_aws("DeleteConflict", "Cannot delete a policy attached to entities.", status=409):
        iam.delete_policy(PolicyArn=pol["Arn"])
    iam.detach_user_policy(UserName=u.name, PolicyArn=pol["Arn"])
    iam.delete_policy(PolicyArn=pol["Arn"])


def test_list_policies_local_and_filters(root, iam):
    prefix = f"/lp{os.urandom(3).hex()}/"
    attached = make_managed_policy(root, allow("kms:DescribeKey"), path=prefix)
    loose = make_managed_policy(root, allow("kms:ListKeys"), path=prefix)
    make_user(root, keys=False, managed=[attached["Arn"]])
    names = {p["PolicyName"] for p in iam.list_policies(Scope="Local", PathPrefix=prefix)[
        "Policies"]}
    assert names == {attached["PolicyName"], loose["PolicyName"]}
    only = iam.list_policies(Scope="Local", PathPrefix=prefix, OnlyAttached=True)["Policies"]
    assert [p["PolicyName"] for p in only] == [attached["PolicyName"]]
    assert only[0]["AttachmentCount"] == 1


# ---------------------------------------------------------------------------
# Attachments


def test_attach_detach_everywhere(root, iam):
    pol = make_managed_policy(root, allow("kms:DescribeKey"))
    arn = pol["Arn"]
    u = make_user(root, keys=False)
    gname = unique("grp")
    g = iam.create_group(GroupName=gname)["Group"]
    role = make_role(root, trust=trust_policy(ROOT_ARN))
    iam.attach_user_policy(UserName=u.name, PolicyArn=arn)
    iam.attach_group_policy(GroupName=gname, PolicyArn=arn)
    iam.attach_role_policy(RoleName=role["RoleName"], PolicyArn=arn)
    want = [{"PolicyName": pol["PolicyName"], "PolicyArn": arn}]
    assert iam.list_attached_user_policies(UserName=u.name)["AttachedPolicies"] == want
    assert iam.list_attached_group_policies(GroupName=gname)["AttachedPolicies"] == want
    assert iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"] == want
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 3
    ents = iam.list_entities_for_policy(PolicyArn=arn)
    assert ents["PolicyUsers"] == [{"UserName": u.name, "UserId": u.user_id}]
    assert ents["PolicyGroups"] == [{"GroupName": gname, "GroupId": g["GroupId"]}]
    assert ents["PolicyRoles"] == [{"RoleName": role["RoleName"], "RoleId": role["RoleId"]}]
    iam.detach_user_policy(UserName=u.name, PolicyArn=arn)
    iam.detach_group_policy(GroupName=gname, PolicyArn=arn)
    iam.detach_role_policy(RoleName=role["RoleName"], PolicyArn=arn)
    assert iam.list_attached_user_policies(UserName=u.name)["AttachedPolicies"] == []
    assert iam.get_policy(PolicyArn=arn)["Policy"]["AttachmentCount"] == 0


def test_attach_twice_counts_once(root, iam):
    pol = make_managed_policy(root, allow("kms:DescribeKey"))
    u = make_user(root, keys=False, managed=[pol["Arn"]])
    iam.attach_user_policy(UserName=u.name, PolicyArn=pol["Arn"])
    assert len(iam.list_attached_user_policies(UserName=u.name)["AttachedPolicies"]) == 1
    assert iam.get_policy(PolicyArn=pol["Arn"])["Policy"]["AttachmentCount"] == 1


def test_attach_missing_policy(root, iam):
    u = make_user(root, keys=False)
    role = make_role(root, trust=trust_policy(ROOT_ARN))
    gname = unique("g")
    iam.create_group(GroupName=gname)
    arn = managed_policy_arn(unique("nope"))
    with raises_aws("NoSuchEntity", not_attachable(arn), status=404):
        iam.attach_user_policy(UserName=u.name, PolicyArn=arn)
    with raises_aws("NoSuchEntity", not_attachable(arn), status=404):
        iam.attach_role_policy(RoleName=role["RoleName"], PolicyArn=arn)
    with raises_aws("NoSuchEntity", not_attachable(arn), status=404):
        iam.attach_group_policy(GroupName=gname, PolicyArn=arn)


def test_attach_to_missing_user(root, iam):
    pol = make_managed_policy(root, allow("kms:DescribeKey"))
    name = unique("nouser")
    with raises_aws("NoSuchEntity", user_missing(name), status=404):
        iam.attach_user_policy(UserName=name, PolicyArn=pol["Arn"])


def test_detach_not_attached(root, iam):
    pol = make_managed_policy(root, allow("kms:DescribeKey"))
    u = make_user(root, keys=False)
    with raises_aws("NoSuchEntity", status=404):
        iam.detach_user_policy(UserName=u.name, PolicyArn=pol["Arn"])


# ---------------------------------------------------------------------------
# Inline policies


def test_user_inline_policy_roundtrip(root, iam):
    u = make_user(root, keys=False)
    doc = {"Version": "2012-10-17", "Statement": [
        {"Sid": "Read", "Effect": "Allow", "Action": ["kms:Describe*", "kms:List*"],
         "Resource": "*"}]}
    iam.put_user_policy(UserName=u.name, PolicyName="p1", PolicyDocument=json.dumps(doc))
    got = iam.get_user_policy(UserName=u.name, PolicyName="p1")
    assert got["UserName"] == u.name
    assert got["PolicyName"] == "p1"
    assert got["PolicyDocument"] == doc
    iam.put_user_policy(UserName=u.name, PolicyName="p2", PolicyDocument=SIMPLE)
    listed = iam.list_user_policies(UserName=u.name)
    assert sorted(listed["PolicyNames"]) == ["p1", "p2"]
    assert listed["IsTruncated"] is False
    # Put with the same name replaces the document.
    iam.put_user_policy(UserName=u.name, PolicyName="p1", PolicyDocument=SIMPLE)
    assert iam.get_user_policy(UserName=u.name, PolicyName="p1")["PolicyDocument"] == SIMPLE_DOC
    iam.delete_user_policy(UserName=u.name, PolicyName="p1")
    assert iam.list_user_policies(UserName=u.name)["PolicyNames"] == ["p2"]
    with raises_aws("NoSuchEntity", "The user policy with name p1 cannot be found.", status=404):
        iam.get_user_policy(UserName=u.name, PolicyName="p1")
    with raises_aws("NoSuchEntity", "The user policy with name p1 cannot be found.", status=404):
        iam.delete_user_policy(UserName=u.name, PolicyName="p1")


def test_role_inline_policy_roundtrip(root, iam):
    role = make_role(root, trust=trust_policy(ROOT_ARN))
    name = role["RoleName"]
    iam.put_role_policy(RoleName=name, PolicyName="rp", PolicyDocument=SIMPLE)
    got = iam.get_role_policy(RoleName=name, PolicyName="rp")
    assert (got["RoleName"], got["PolicyName"], got["PolicyDocument"]) == (name, "rp", SIMPLE_DOC)
    assert iam.list_role_policies(RoleName=name)["PolicyNames"] == ["rp"]
    iam.delete_role_policy(RoleName=name, PolicyName="rp")
    with raises_aws("NoSuchEntity", "The role policy with name rp cannot be found.", status=404):
        iam.get_role_policy(RoleName=name, PolicyName="rp")


def test_group_inline_policy_roundtrip(iam):
    gname = unique("gp")
    iam.create_group(GroupName=gname)
    iam.put_group_policy(GroupName=gname, PolicyName="gp", PolicyDocument=SIMPLE)
    got = iam.get_group_policy(GroupName=gname, PolicyName="gp")
    assert (got["GroupName"], got["PolicyName"], got["PolicyDocument"]) == (gname, "gp",
                                                                            SIMPLE_DOC)
    assert iam.list_group_policies(GroupName=gname)["PolicyNames"] == ["gp"]
    iam.delete_group_policy(GroupName=gname, PolicyName="gp")
    with raises_aws("NoSuchEntity", "The group policy with name gp cannot be found.", status=404):
        iam.get_group_policy(GroupName=gname, PolicyName="gp")


def test_put_policy_on_missing_user(iam):
    name = unique("nouser")
    with raises_aws("NoSuchEntity", user_missing(name), status=404):
        iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=SIMPLE)


def _put_everywhere(root, iam, document):
    """Each way of storing an identity policy, as a list of callables."""
    u = make_user(root, keys=False)
    role = make_role(root, trust=trust_policy(ROOT_ARN))
    gname = unique("g")
    iam.create_group(GroupName=gname)
    return [
        lambda: iam.put_user_policy(UserName=u.name, PolicyName="p", PolicyDocument=document),
        lambda: iam.put_role_policy(RoleName=role["RoleName"], PolicyName="p",
                                    PolicyDocument=document),
        lambda: iam.put_group_policy(GroupName=gname, PolicyName="p", PolicyDocument=document),
        lambda: iam.create_policy(PolicyName=unique("p"), PolicyDocument=document),
    ]


@pytest.mark.parametrize("document", ['{"Version": "2012-10-17", "Statement": [',
                                      "not json at all"])
def test_identity_policy_invalid_json(root, iam, document):
    for put in _put_everywhere(root, iam, document):
        with raises_aws("MalformedPolicyDocument", "This policy contains invalid Json"):
            put()


def test_identity_policy_with_principal(root, iam):
    document = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*",
         "Resource": "*"}]})
    for put in _put_everywhere(root, iam, document):
        with raises_aws("MalformedPolicyDocument",
                        "Policy document should not specify a principal."):
            put()


def test_identity_policy_action_without_vendor(root, iam):
    u = make_user(root, keys=False)
    with raises_aws("MalformedPolicyDocument",
                    "Actions/Conditions must be prefaced by a vendor, e.g., iam, sdb, ec2, etc."):
        iam.put_user_policy(UserName=u.name, PolicyName="p",
                            PolicyDocument=policy_doc(allow("DescribeKey")))


# ---------------------------------------------------------------------------
# Permissions boundaries


def test_user_permissions_boundary(root, iam):
    pol = make_managed_policy(root, allow("kms:*"))
    u = make_user(root, keys=False)
    iam.put_user_permissions_boundary(UserName=u.name, PermissionsBoundary=pol["Arn"])
    assert iam.get_user(UserName=u.name)["User"]["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": pol["Arn"]}
    assert iam.get_policy(PolicyArn=pol["Arn"])["Policy"]["PermissionsBoundaryUsageCount"] == 1
    iam.delete_user_permissions_boundary(UserName=u.name)
    assert "PermissionsBoundary" not in iam.get_user(UserName=u.name)["User"]
    assert iam.get_policy(PolicyArn=pol["Arn"])["Policy"]["PermissionsBoundaryUsageCount"] == 0


def test_create_user_with_boundary(root, iam):
    pol = make_managed_policy(root, allow("kms:*"))
    name = unique("bounded")
    u = iam.create_user(UserName=name, PermissionsBoundary=pol["Arn"])["User"]
    want = {"PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": pol["Arn"]}
    assert u["PermissionsBoundary"] == want
    assert iam.get_user(UserName=name)["User"]["PermissionsBoundary"] == want


def test_role_permissions_boundary(root, iam):
    pol = make_managed_policy(root, allow("kms:*"))
    pol2 = make_managed_policy(root, allow("iam:Get*"))
    role = make_role(root, trust=trust_policy(ROOT_ARN), boundary=pol["Arn"])
    name = role["RoleName"]
    assert iam.get_role(RoleName=name)["Role"]["PermissionsBoundary"] == {
        "PermissionsBoundaryType": "PermissionsBoundaryPolicy", "PermissionsBoundaryArn": pol["Arn"]}
    iam.put_role_permissions_boundary(RoleName=name, PermissionsBoundary=pol2["Arn"])
    assert iam.get_role(RoleName=name)["Role"]["PermissionsBoundary"][
        "PermissionsBoundaryArn"] == pol2["Arn"]
    iam.delete_role_permissions_boundary(RoleName=name)
    assert "PermissionsBoundary" not in iam.get_role(RoleName=name)["Role"]


def test_boundary_with_missing_policy(root, iam):
    u = make_user(root, keys=False)
    arn = managed_policy_arn(unique("nob"))
    with raises_aws("NoSuchEntity", f"Scope ARN: {arn} does not exist or is not attachable.",
                    status=404):
        iam.put_user_permissions_boundary(UserName=u.name, PermissionsBoundary=arn)
    assert "PermissionsBoundary" not in iam.get_user(UserName=u.name)["User"]


# ---------------------------------------------------------------------------
# Tags


def _tags(resp):
    assert resp["IsTruncated"] is False
    return {t["Key"]: t["Value"] for t in resp["Tags"]}


def test_user_tags(root, iam):
    u = make_user(root, keys=False, tags={"team": "blue"})
    assert _tags(iam.list_user_tags(UserName=u.name)) == {"team": "blue"}
    iam.tag_user(UserName=u.name, Tags=[{"Key": "team", "Value": "red"},
                                        {"Key": "env", "Value": "prod"}])
    assert _tags(iam.list_user_tags(UserName=u.name)) == {"team": "red", "env": "prod"}
    iam.untag_user(UserName=u.name, TagKeys=["team", "never-set"])
    assert _tags(iam.list_user_tags(UserName=u.name)) == {"env": "prod"}


def test_role_tags(root, iam):
    role = make_role(root, trust=trust_policy(ROOT_ARN), tags={"a": "1"})
    name = role["RoleName"]
    iam.tag_role(RoleName=name, Tags=[{"Key": "b", "Value": "2"}])
    assert _tags(iam.list_role_tags(RoleName=name)) == {"a": "1", "b": "2"}
    iam.untag_role(RoleName=name, TagKeys=["a"])
    assert _tags(iam.list_role_tags(RoleName=name)) == {"b": "2"}
    assert iam.get_role(RoleName=name)["Role"]["Tags"] == [{"Key": "b", "Value": "2"}]


def test_tag_missing_user(iam):
    name = unique("notag")
    with raises_aws("NoSuchEntity", user_missing(name), status=404):
        iam.tag_user(UserName=name, Tags=[{"Key": "a", "Value": "b"}])
    with raises_aws("NoSuchEntity", user_missing(name), status=404):
        iam.list_user_tags(UserName=name)


# ---------------------------------------------------------------------------
# GetAccountAuthorizationDetails


def _all_details(iam, **kw):
    merged = {"UserDetailList": [], "GroupDetailList": [], "RoleDetailList": [], "Policies": []}
    marker = None
    for _ in range(50):
        if marker:
            kw["Marker"] = marker
        resp = iam.get_account_authorization_details(**kw)
        for k in merged:
            merged[k] += resp.get(k, [])
        if not resp["IsTruncated"]:
            return merged
        marker = resp["Marker"]
    raise AssertionError("GetAccountAuthorizationDetails never stopped paging")


def test_account_authorization_details(root, iam):
    gname = unique("gd")
    g = iam.create_group(GroupName=gname)["Group"]
    group_doc = {"Version": "2012-10-17",
                 "Statement": [{"Effect": "Allow", "Action": "kms:ListKeys", "Resource": "*"}]}
    iam.put_group_policy(GroupName=gname, PolicyName="gpol", PolicyDocument=json.dumps(group_doc))
    pol = make_managed_policy(root, allow("kms:DescribeKey"))
    iam.create_policy_version(PolicyArn=pol["Arn"], PolicyDocument=SIMPLE, SetAsDefault=True)
    user_doc = {"Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}]}
    u = make_user(root, keys=False, policy=user_doc, policy_name="upol", managed=[pol["Arn"]],
                  groups=[gname])
    trust = trust_policy(u.arn)
    role = make_role(root, trust=trust, policy=user_doc, policy_name="rpol",
                     managed=[pol["Arn"]])

    d = _all_details(iam)
    ud = next(x for x in d["UserDetailList"] if x["UserName"] == u.name)
    assert ud["UserId"] == u.user_id
    assert ud["Arn"] == u.arn
    assert ud["Path"] == "/"
    assert_recent(ud["CreateDate"])
    assert ud["UserPolicyList"] == [{"PolicyName": "upol", "PolicyDocument": user_doc}]
    assert ud["GroupList"] == [gname]
    assert ud["AttachedManagedPolicies"] == [{"PolicyName": pol["PolicyName"],
                                              "PolicyArn": pol["Arn"]}]

    gd = next(x for x in d["GroupDetailList"] if x["GroupName"] == gname)
    assert gd["GroupId"] == g["GroupId"]
    assert gd["Arn"] == g["Arn"]
    assert gd["GroupPolicyList"] == [{"PolicyName": "gpol", "PolicyDocument": group_doc}]
    assert gd["AttachedManagedPolicies"] == []

    rd = next(x for x in d["RoleDetailList"] if x["RoleName"] == role["RoleName"])
    assert rd["RoleId"] == role["RoleId"]
    assert rd["Arn"] == role["Arn"]
    assert rd["AssumeRolePolicyDocument"] == trust
    assert rd["RolePolicyList"] == [{"PolicyName": "rpol", "PolicyDocument": user_doc}]
    assert rd["AttachedManagedPolicies"] == [{"PolicyName": pol["PolicyName"],
                                              "PolicyArn": pol["Arn"]}]

    pd = next(x for x in d["Policies"] if x["Arn"] == pol["Arn"])
    assert pd["PolicyName"] == pol["PolicyName"]
    assert pd["PolicyId"] == pol["PolicyId"]
    assert pd["DefaultVersionId"] == "v2"
    assert pd["AttachmentCount"] == 2
    assert pd["IsAttachable"] is True
    versions = {v["VersionId"]: v for v in pd["PolicyVersionList"]}
    assert set(versions) == {"v1", "v2"}
    assert versions["v2"]["IsDefaultVersion"] is True
    assert versions["v2"]["Document"] == SIMPLE_DOC
    assert versions["v1"]["Document"] == json.loads(policy_doc(allow("kms:DescribeKey")))


def test_account_authorization_details_filter(root, iam):
    role = make_role(root, trust=trust_policy(ROOT_ARN))
    d = _all_details(iam, Filter=["Role"])
    assert role["RoleName"] in {r["RoleName"] for r in d["RoleDetailList"]}
    assert d["UserDetailList"] == [] and d["GroupDetailList"] == [] and d["Policies"] == []


# ---------------------------------------------------------------------------
# The query protocol on the wire


def test_wire_success_envelope(authz_server, iam):
    name = unique("wire")
    iam.create_user(UserName=name)
    r = authz_server.query("iam", "GetUser", {"UserName": name})
    assert r.status == 200, r
    assert r.headers["content-type"].startswith("text/xml"), r.headers
    root_el = r.xml
    assert root_el.tag == f"{{{IAM_NS}}}GetUserResponse", root_el.tag
    assert r.xml_text("GetUserResult/User/UserName") == name
    assert r.xml_text("GetUserResult/User/Arn") == user_arn(name)
    assert re.fullmatch(r"[0-9a-f-]{36}", r.xml_text("ResponseMetadata/RequestId") or "")


def test_wire_error_envelope(authz_server):
    name = unique("wire-missing")
    r = authz_server.query("iam", "GetUser", {"UserName": name})
    assert r.status == 404, r
    assert r.xml.tag == f"{{{IAM_NS}}}ErrorResponse", r.xml.tag
    assert r.xml_text("Error/Type") == "Sender"
    assert r.xml_text("Error/Code") == "NoSuchEntity"
    assert r.xml_text("Error/Message") == user_missing(name)
    assert r.xml_text("RequestId")


def test_wire_policy_documents_are_url_encoded(authz_server, root, iam):
    u = make_user(root, keys=False)
    doc = {"Version": "2012-10-17", "Statement": [
        {"Sid": "PlusAndSpaceInValues", "Effect": "Allow", "Action": "kms:Encrypt",
         "Resource": "*", "Condition": {"StringEquals": {"kms:EncryptionContext:k": "a+b c"}}}]}
    iam.put_user_policy(UserName=u.name, PolicyName="enc", PolicyDocument=json.dumps(doc))
    r = authz_server.query("iam", "GetUserPolicy", {"UserName": u.name, "PolicyName": "enc"})
    assert r.status == 200, r
    raw = r.xml_text("GetUserPolicyResult/PolicyDocument")
    assert raw.startswith("%7B"), raw
    assert json.loads(urllib.parse.unquote(raw)) == doc


def test_wire_unknown_action(authz_server):
    r = authz_server.query("iam", "FrobnicateUsers", {})
    assert r.status == 400, r
    assert r.xml_text("Error/Code") == "InvalidAction", r


def test_wire_root_user_from_shared_credentials(authz_server):
    r = authz_server.query("sts", "GetCallerIdentity", {})
    assert r.status == 200, r
    assert r.xml_text("GetCallerIdentityResult/Arn") == ROOT_ARN


# ---------------------------------------------------------------------------
# AWS CLI


def test_cli_create_get_list_users(authz_server):
    name = unique("cli-user")
    rc, out, err = authz_server.cli("iam", "create-user", "--user-name", name,
                                    "--path", "/cli/")
    assert rc == 0, err
    assert out["User"]["UserName"] == name
    assert out["User"]["Arn"] == user_arn(name, "/cli/")
    assert AIDA_RE.match(out["User"]["UserId"])
    rc, out, err = authz_server.cli("iam", "list-users", "--path-prefix", "/cli/")
    assert rc == 0, err
    assert name in [u["UserName"] for u in out["Users"]]
    rc, out, err = authz_server.cli("iam", "get-user", "--user-name", name)
    assert rc == 0, err
    assert out["User"]["Path"] == "/cli/"


def test_cli_role_document_printed_decoded(authz_server, root):
    name = unique("cli-role")
    trust = trust_policy(ROOT_ARN)
    rc, out, err = authz_server.cli("iam", "create-role", "--role-name", name,
                                    "--assume-role-policy-document", json.dumps(trust))
    assert rc == 0, err
    rc, out, err = authz_server.cli("iam", "get-role", "--role-name", name)
    assert rc == 0, err
    assert out["Role"]["AssumeRolePolicyDocument"] == trust
    assert out["Role"]["Arn"] == role_arn(name)
    rc, out, err = authz_server.cli("iam", "put-role-policy", "--role-name", name,
                                    "--policy-name", "p", "--policy-document", SIMPLE)
    assert rc == 0, err
    rc, out, err = authz_server.cli("iam", "get-role-policy", "--role-name", name,
                                    "--policy-name", "p")
    assert rc == 0, err
    assert out["PolicyDocument"] == SIMPLE_DOC


def test_cli_error_reporting(authz_server):
    name = unique("cli-missing")
    rc, out, err = authz_server.cli("iam", "get-user", "--user-name", name)
    assert rc == 254, (rc, out, err)
    assert ("An error occurred (NoSuchEntity) when calling the GetUser operation: "
            f"{user_missing(name)}") in err, err


# ---------------------------------------------------------------------------
# Accounts: `tresor account create`


def test_account_create_writes_profile(tresor_factory):
    srv = tresor_factory("accounts")
    before = srv.load_profile("tresor")
    p = srv.run_tresor("account", "create", "--data-dir", srv.data_dir,
                       "--account-id", ACCOUNT_B)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert p.stdout.strip() == ACCOUNT_B, p.stdout
    assert srv.load_profile("tresor") == before
    ak, sk = srv.load_profile(f"tresor-{ACCOUNT_B}")
    assert AKIA_RE.match(ak), ak
    assert len(sk) == 40
    cfg = configparser.ConfigParser()
    cfg.read(srv.data_dir / "config")
    assert cfg.get(f"profile tresor-{ACCOUNT_B}", "region") == REGION
    # The profile works with the AWS CLI, as account B's root user.
    rc, out, err = srv.cli("sts", "get-caller-identity", profile=f"tresor-{ACCOUNT_B}")
    assert rc == 0, err
    assert out == {"UserId": ACCOUNT_B, "Account": ACCOUNT_B,
                   "Arn": f"arn:aws:iam::{ACCOUNT_B}:root"}
    rc, out, err = srv.cli("kms", "create-key", profile=f"tresor-{ACCOUNT_B}")
    assert rc == 0, err
    assert out["KeyMetadata"]["AWSAccountId"] == ACCOUNT_B
    assert out["KeyMetadata"]["Arn"].startswith(f"arn:aws:kms:{REGION}:{ACCOUNT_B}:key/")
    # And the first account is untouched.
    rc, out, err = srv.cli("sts", "get-caller-identity")
    assert rc == 0, err
    assert out["Arn"] == ROOT_ARN


def test_account_create_duplicate_and_invalid(tresor_factory):
    srv = tresor_factory("accounts-dup")
    p = srv.run_tresor("account", "create", "--data-dir", srv.data_dir, "--account-id", ACCOUNT)
    assert p.returncode != 0, p.stdout
    p = srv.run_tresor("account", "create", "--data-dir", srv.data_dir, "--account-id", "12345")
    assert p.returncode != 0, p.stdout
    assert "tresor-12345" not in (srv.data_dir / "credentials").read_text()


def test_account_create_random_id_while_stopped(tresor_factory):
    srv = tresor_factory("accounts-stopped")
    srv.stop_clean()
    p = srv.run_tresor("account", "create", "--data-dir", srv.data_dir)
    assert p.returncode == 0, (p.stdout, p.stderr)
    acct = p.stdout.strip()
    assert re.fullmatch(r"[1-9][0-9]{11}", acct), acct
    assert acct != ACCOUNT
    srv.start()
    b = srv.client("sts", *srv.load_profile(f"tresor-{acct}"))
    assert b.get_caller_identity()["Arn"] == f"arn:aws:iam::{acct}:root"


def test_accounts_are_isolated(root, account_b):
    name = unique("shared-name")
    a_user = root.iam.create_user(UserName=name)["User"]
    with raises_aws("NoSuchEntity", user_missing(name), status=404):
        account_b.iam.get_user(UserName=name)
    assert name not in {u["UserName"] for u in account_b.iam.list_users()["Users"]}
    # The same name is free in account B, with B's ARN and another id.
    b_user = account_b.iam.create_user(UserName=name)["User"]
    assert b_user["Arn"] == f"arn:aws:iam::{ACCOUNT_B}:user/{name}"
    assert b_user["UserId"] != a_user["UserId"]
    assert account_b.iam.get_user()["User"]["Arn"] == f"arn:aws:iam::{ACCOUNT_B}:root"
