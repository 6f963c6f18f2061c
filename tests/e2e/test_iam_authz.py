"""
Every IAM call is itself authorized (docs/AUTHORIZATION.md 2, 3, 6.4): users start
with no permissions; inline, group and attached managed policies allow;
an explicit deny anywhere wins; permissions boundaries cap; policy
variables, conditions, NotAction/NotResource and the matching rules
(actions case-insensitive, resources case-sensitive); the root user may
do everything in its own account.  Denials are `AccessDenied`, HTTP 403,
with AWS's "User: ... is not authorized to perform: ..." message.

Also `tresor policy simulate`, which answers the same question offline
with the same evaluator.
"""

import json

import pytest

from tresor_e2e import (
    ACCOUNT, ACCOUNT_B, ROOT_ARN, allow, assume_role, deny, denied_msg, make_managed_policy,
    make_role, make_user, policy_doc, raises_aws, role_arn, trust_policy, unique, user_arn,
)

USERS_RESOURCE = f"arn:aws:iam::{ACCOUNT}:user/"


def iam_denied(who, action, resource, reason="identity"):
    return raises_aws("AccessDenied", denied_msg(who.arn, action, resource, reason), status=403)


# ---------------------------------------------------------------------------
# No policy, no access


def test_no_policy_create_user_denied(root):
    u = make_user(root)
    target = unique("x")
    with iam_denied(u, "iam:CreateUser", user_arn(target)):
        u.iam.create_user(UserName=target)
    with raises_aws("NoSuchEntity", status=404):
        root.iam.get_user(UserName=target)


def test_no_policy_list_users_denied(root):
    u = make_user(root)
    with iam_denied(u, "iam:ListUsers", USERS_RESOURCE):
        u.iam.list_users()


def test_no_policy_not_even_get_self(root):
    u = make_user(root)
    with iam_denied(u, "iam:GetUser", u.arn):
        u.iam.get_user()
    with iam_denied(u, "iam:ListAccessKeys", u.arn):
        u.iam.list_access_keys()


def test_denial_names_the_user_path(root):
    u = make_user(root, path="/staff/eng/")
    assert u.arn == user_arn(u.name, "/staff/eng/")
    target = unique("x")
    with iam_denied(u, "iam:CreateUser", user_arn(target)):
        u.iam.create_user(UserName=target)


# ---------------------------------------------------------------------------
# Identity policies allow


def test_inline_policy_allows_create_user(root):
    u = make_user(root, policy=allow("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/*"))
    target = unique("made-by-user")
    made = u.iam.create_user(UserName=target)["User"]
    assert made["Arn"] == user_arn(target)
    assert root.iam.get_user(UserName=target)["User"]["UserId"] == made["UserId"]
    with iam_denied(u, "iam:DeleteUser", user_arn(target)):
        u.iam.delete_user(UserName=target)


def test_resource_pattern_scopes_the_allow(root):
    u = make_user(root, policy=allow("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/app-*"))
    ok = unique("app")
    u.iam.create_user(UserName=ok)
    other = unique("web")
    with iam_denied(u, "iam:CreateUser", user_arn(other)):
        u.iam.create_user(UserName=other)


def test_resource_match_is_case_sensitive(root):
    u = make_user(root, policy=allow("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/App-*"))
    target = unique("app")          # lower-case: does not match App-*
    with iam_denied(u, "iam:CreateUser", user_arn(target)):
        u.iam.create_user(UserName=target)


def test_action_match_is_case_insensitive_with_wildcards(root):
    u = make_user(root, policy=allow("IAM:getUSER*", "*"))
    assert u.iam.get_user()["User"]["Arn"] == u.arn
    with iam_denied(u, "iam:ListUsers", USERS_RESOURCE):
        u.iam.list_users()


def test_question_mark_wildcard(root):
    u = make_user(root, policy=allow("iam:?etUser", "*"))
    assert u.iam.get_user()["User"]["UserName"] == u.name


def test_not_action_allow(root):
    u = make_user(root, policy=allow(None, "*", not_action=["iam:DeleteUser", "iam:DeleteRole"]))
    target = unique("na")
    u.iam.create_user(UserName=target)
    with iam_denied(u, "iam:DeleteUser", user_arn(target)):
        u.iam.delete_user(UserName=target)


def test_not_resource_allow(root):
    protected = unique("protected")
    root.iam.create_user(UserName=protected)
    plain = unique("plain")
    root.iam.create_user(UserName=plain)
    u = make_user(root, policy=allow("iam:GetUser", None,
                                     not_resource=f"arn:aws:iam::{ACCOUNT}:user/protected-*"))
    assert u.iam.get_user(UserName=plain)["User"]["UserName"] == plain
    with iam_denied(u, "iam:GetUser", user_arn(protected)):
        u.iam.get_user(UserName=protected)


# ---------------------------------------------------------------------------
# Explicit deny


def test_explicit_deny_beats_allow(root):
    u = make_user(root, policy=[allow("iam:*"), deny("iam:DeleteUser", "*")])
    target = unique("victim")
    root.iam.create_user(UserName=target)
    with iam_denied(u, "iam:DeleteUser", user_arn(target), "explicit-identity"):
        u.iam.delete_user(UserName=target)
    assert root.iam.get_user(UserName=target)["User"]["UserName"] == target
    # Everything else iam:* allows still works.
    assert u.iam.get_user(UserName=target)["User"]["UserName"] == target


def test_deny_in_one_policy_beats_allow_in_another(root):
    admin = make_managed_policy(root, allow("iam:*"))
    u = make_user(root, managed=[admin["Arn"]], policy=deny("iam:CreateUser"),
                  policy_name="no-create")
    target = unique("x")
    with iam_denied(u, "iam:CreateUser", user_arn(target), "explicit-identity"):
        u.iam.create_user(UserName=target)
    assert u.iam.list_users()["Users"]


def test_group_deny_applies_to_member(root):
    gname = unique("blocked")
    root.iam.create_group(GroupName=gname)
    root.iam.put_group_policy(GroupName=gname, PolicyName="deny",
                              PolicyDocument=policy_doc(deny("iam:ListUsers")))
    u = make_user(root, policy=allow("iam:*"), groups=[gname])
    with iam_denied(u, "iam:ListUsers", USERS_RESOURCE, "explicit-identity"):
        u.iam.list_users()


# ---------------------------------------------------------------------------
# Groups and managed policies


def test_group_inline_policy_applies_to_members(root):
    gname = unique("readers")
    root.iam.create_group(GroupName=gname)
    root.iam.put_group_policy(GroupName=gname, PolicyName="read",
                              PolicyDocument=policy_doc(allow("iam:ListUsers")))
    u = make_user(root)
    with iam_denied(u, "iam:ListUsers", USERS_RESOURCE):
        u.iam.list_users()
    root.iam.add_user_to_group(GroupName=gname, UserName=u.name)
    assert u.name in {x["UserName"] for x in u.iam.list_users()["Users"]}
    root.iam.remove_user_from_group(GroupName=gname, UserName=u.name)
    with iam_denied(u, "iam:ListUsers", USERS_RESOURCE):
        u.iam.list_users()


def test_group_managed_policy_applies_to_members(root):
    pol = make_managed_policy(root, allow("iam:ListGroups"))
    gname = unique("g")
    root.iam.create_group(GroupName=gname)
    root.iam.attach_group_policy(GroupName=gname, PolicyArn=pol["Arn"])
    u = make_user(root, groups=[gname])
    assert gname in {g["GroupName"] for g in u.iam.list_groups()["Groups"]}


def test_user_managed_policy_attach_detach(root):
    pol = make_managed_policy(root, allow("iam:ListUsers"))
    u = make_user(root)
    root.iam.attach_user_policy(UserName=u.name, PolicyArn=pol["Arn"])
    u.iam.list_users()
    root.iam.detach_user_policy(UserName=u.name, PolicyArn=pol["Arn"])
    with iam_denied(u, "iam:ListUsers", USERS_RESOURCE):
        u.iam.list_users()


def test_only_the_default_version_counts(root):
    pol = make_managed_policy(root, allow("iam:ListUsers"))
    root.iam.create_policy_version(PolicyArn=pol["Arn"],
                                   PolicyDocument=policy_doc(allow("iam:ListGroups")))
    u = make_user(root, managed=[pol["Arn"]])
    u.iam.list_users()
    with iam_denied(u, "iam:ListGroups", f"arn:aws:iam::{ACCOUNT}:group/"):
        u.iam.list_groups()
    root.iam.set_default_policy_version(PolicyArn=pol["Arn"], VersionId="v2")
    u.iam.list_groups()
    with iam_denied(u, "iam:ListUsers", USERS_RESOURCE):
        u.iam.list_users()


def test_granting_yourself_more(root):
    # A user allowed to write its own inline policies can widen its own
    # permissions: policies are evaluated on every request.
    u = make_user(root, policy=allow("iam:PutUserPolicy", "arn:aws:iam::*:user/${aws:username}"),
                  policy_name="self-service")
    target = unique("x")
    with iam_denied(u, "iam:CreateUser", user_arn(target)):
        u.iam.create_user(UserName=target)
    u.iam.put_user_policy(UserName=u.name, PolicyName="more",
                          PolicyDocument=policy_doc(allow("iam:CreateUser")))
    u.iam.create_user(UserName=target)
    other = make_user(root, keys=False)
    with iam_denied(u, "iam:PutUserPolicy", other.arn):
        u.iam.put_user_policy(UserName=other.name, PolicyName="x",
                              PolicyDocument=policy_doc(allow("iam:*")))


# ---------------------------------------------------------------------------
# Permissions boundaries


def test_boundary_caps_identity_permissions(root):
    boundary = make_managed_policy(root, allow(["iam:Get*", "iam:List*"]))
    u = make_user(root, policy=allow("iam:*"), boundary=boundary["Arn"])
    u.iam.list_users()
    target = unique("x")
    with iam_denied(u, "iam:CreateUser", user_arn(target), "boundary"):
        u.iam.create_user(UserName=target)
    root.iam.delete_user_permissions_boundary(UserName=u.name)
    u.iam.create_user(UserName=target)


def test_boundary_alone_grants_nothing(root):
    boundary = make_managed_policy(root, allow("iam:*"))
    u = make_user(root, boundary=boundary["Arn"])
    with iam_denied(u, "iam:ListUsers", USERS_RESOURCE):
        u.iam.list_users()


def test_boundary_explicit_deny(root):
    boundary = make_managed_policy(root, allow("iam:*"), deny("iam:ListUsers"))
    u = make_user(root, policy=allow("iam:*"))
    root.iam.put_user_permissions_boundary(UserName=u.name, PermissionsBoundary=boundary["Arn"])
    # AWS may append ": <boundary policy ARN>" to this message.
    with raises_aws("AccessDenied",
                    startswith=denied_msg(u.arn, "iam:ListUsers", USERS_RESOURCE,
                                          "explicit-boundary"), status=403):
        u.iam.list_users()
    u.iam.list_groups()


# ---------------------------------------------------------------------------
# Variables and conditions


def test_username_policy_variable(root):
    u = make_user(root, policy=allow(["iam:GetUser", "iam:CreateAccessKey", "iam:ListAccessKeys"],
                                     f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}"))
    other = make_user(root, keys=False)
    assert u.iam.get_user()["User"]["UserName"] == u.name
    assert u.iam.get_user(UserName=u.name)["User"]["Arn"] == u.arn
    with iam_denied(u, "iam:GetUser", other.arn):
        u.iam.get_user(UserName=other.name)
    # CreateAccessKey without UserName makes a key for the caller.
    k = u.iam.create_access_key()["AccessKey"]
    assert k["UserName"] == u.name
    ids = {m["AccessKeyId"] for m in u.iam.list_access_keys()["AccessKeyMetadata"]}
    assert ids == {u.access_key, k["AccessKeyId"]}
    with iam_denied(u, "iam:CreateAccessKey", other.arn):
        u.iam.create_access_key(UserName=other.name)


def test_policy_variable_needs_version_2012(root):
    # With Version 2008-10-17 "${aws:username}" is literal text.
    doc = policy_doc(allow("iam:GetUser", f"arn:aws:iam::{ACCOUNT}:user/${{aws:username}}"),
                     version="2008-10-17")
    u = make_user(root, policy=json.loads(doc))
    with iam_denied(u, "iam:GetUser", u.arn):
        u.iam.get_user()


def test_principal_tag_condition(root):
    cond = {"StringEquals": {"aws:PrincipalTag/team": "blue"}}
    u = make_user(root, tags={"team": "blue"}, policy=allow("iam:ListUsers", condition=cond))
    u.iam.list_users()
    root.iam.tag_user(UserName=u.name, Tags=[{"Key": "team", "Value": "red"}])
    with iam_denied(u, "iam:ListUsers", USERS_RESOURCE):
        u.iam.list_users()


def test_condition_key_names_are_case_insensitive(root):
    cond = {"StringEquals": {"AWS:principaltag/Team": "blue"}}
    u = make_user(root, tags={"team": "blue"}, policy=allow("iam:ListUsers", condition=cond))
    u.iam.list_users()


def test_missing_condition_key(root):
    # Missing key: a positive operator is false, a negated one true.
    u = make_user(root, policy=[
        allow("iam:ListUsers", condition={"StringEquals": {"aws:PrincipalTag/absent": "x"}}),
        allow("iam:ListGroups", condition={"StringNotEquals": {"aws:PrincipalTag/absent": "x"}}),
    ])
    with iam_denied(u, "iam:ListUsers", USERS_RESOURCE):
        u.iam.list_users()
    u.iam.list_groups()


def test_if_exists_and_null_conditions(root):
    u = make_user(root, policy=[
        allow("iam:ListUsers",
              condition={"StringEqualsIfExists": {"aws:PrincipalTag/absent": "x"}}),
        allow("iam:ListGroups", condition={"Null": {"aws:PrincipalTag/absent": "false"}}),
        allow("iam:ListRoles", condition={"Null": {"aws:username": "false"}}),
    ])
    u.iam.list_users()
    with iam_denied(u, "iam:ListGroups", f"arn:aws:iam::{ACCOUNT}:group/"):
        u.iam.list_groups()
    u.iam.list_roles()


def test_multiple_condition_values_are_ored(root):
    u = make_user(root, tags={"team": "green"}, policy=allow(
        "iam:ListUsers", condition={"StringEquals": {"aws:PrincipalTag/team": ["blue", "green"]}}))
    u.iam.list_users()


def test_arn_like_condition_on_principal_arn(root):
    u = make_user(root, path="/ops/", policy=allow(
        "iam:ListUsers", condition={"ArnLike": {"aws:PrincipalArn":
                                                f"arn:aws:iam::{ACCOUNT}:user/ops/*"}}))
    u.iam.list_users()
    v = make_user(root, path="/dev/", policy=allow(
        "iam:ListUsers", condition={"ArnLike": {"aws:PrincipalArn":
                                                f"arn:aws:iam::{ACCOUNT}:user/ops/*"}}))
    with iam_denied(v, "iam:ListUsers", USERS_RESOURCE):
        v.iam.list_users()


# ---------------------------------------------------------------------------
# Root users, role sessions, other accounts


def test_root_may_do_everything_in_its_account(root):
    # No policy applies to the root user, and others' denies do not touch it.
    u = make_user(root, policy=deny("*"))
    root.iam.put_user_policy(UserName=u.name, PolicyName="more", PolicyDocument=policy_doc(
        deny("iam:*")))
    root.iam.delete_user_policy(UserName=u.name, PolicyName="more")
    root.iam.delete_user_policy(UserName=u.name, PolicyName="inline")
    root.iam.delete_access_key(UserName=u.name, AccessKeyId=u.access_key)
    root.iam.delete_user(UserName=u.name)
    with raises_aws("NoSuchEntity", status=404):
        root.iam.get_user(UserName=u.name)


def test_role_session_iam_calls(root):
    u = make_user(root)
    role = make_role(root, trust=trust_policy(u.arn))
    root.iam.put_role_policy(RoleName=role["RoleName"], PolicyName="get-self",
                             PolicyDocument=policy_doc(allow("iam:GetRole", role["Arn"])))
    s = assume_role(u, role["Arn"], "iam-session")
    assert s.iam.get_role(RoleName=role["RoleName"])["Role"]["RoleId"] == role["RoleId"]
    target = unique("x")
    with iam_denied(s, "iam:CreateUser", user_arn(target)):
        s.iam.create_user(UserName=target)
    assert s.arn == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role['RoleName']}/iam-session"


def test_account_b_user_is_governed_by_account_b(account_b):
    ub = make_user(account_b)
    assert ub.arn == f"arn:aws:iam::{ACCOUNT_B}:user/{ub.name}"
    with raises_aws("AccessDenied",
                    denied_msg(ub.arn, "iam:ListUsers", f"arn:aws:iam::{ACCOUNT_B}:user/"),
                    status=403):
        ub.iam.list_users()
    account_b.iam.put_user_policy(UserName=ub.name, PolicyName="p",
                                  PolicyDocument=policy_doc(allow("iam:ListUsers")))
    names = {x["UserName"] for x in ub.iam.list_users()["Users"]}
    assert ub.name in names


# ---------------------------------------------------------------------------
# tresor policy simulate


def simulate(server, principal, action, resource, *context, fmt="json"):
    args = ["policy", "simulate", "--data-dir", server.data_dir, "--principal", principal,
            "--action", action, "--resource", resource]
    for c in context:
        args += ["--context", c]
    if fmt:
        args += ["--format", fmt]
    p = server.run_tresor(*args)
    out = None
    if fmt == "json" and p.stdout.strip():
        out = json.loads(p.stdout)
    return p, out


@pytest.fixture(scope="module")
def sim_user(root):
    return make_user(root, keys=False, policy_name="sim-policy", policy=[
        allow("iam:CreateUser", f"arn:aws:iam::{ACCOUNT}:user/*", sid="AllowCreate"),
        deny("iam:DeleteUser", "*", sid="DenyDelete"),
        allow("iam:DeleteUser", "*", sid="AllowDeleteToo"),
    ])


def _has_statement(out, sid, index, policy_part):
    return any(m.get("sid") == sid and m.get("index") == index and policy_part in m.get("policy", "")
               for m in out["matchedStatements"])


def test_simulate_allowed(authz_server, sim_user):
    p, out = simulate(authz_server, sim_user.arn, "iam:CreateUser", user_arn("x"))
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert out["decision"] == "allowed"
    assert _has_statement(out, "AllowCreate", 0, "sim-policy"), out


def test_simulate_explicit_deny(authz_server, sim_user):
    p, out = simulate(authz_server, sim_user.arn, "iam:DeleteUser", user_arn("x"))
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert out["decision"] == "explicitDeny"
    assert _has_statement(out, "DenyDelete", 1, "sim-policy"), out


def test_simulate_implicit_deny(authz_server, sim_user):
    p, out = simulate(authz_server, sim_user.arn, "iam:CreateRole", role_arn("x"))
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert out["decision"] == "implicitDeny"
    assert out["matchedStatements"] == []


def test_simulate_text_output(authz_server, sim_user):
    p, _ = simulate(authz_server, sim_user.arn, "iam:CreateUser", user_arn("x"), fmt=None)
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert "allowed" in p.stdout
    assert "AllowCreate" in p.stdout
    p, _ = simulate(authz_server, sim_user.arn, "iam:DeleteUser", user_arn("x"), fmt=None)
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "explicitDeny" in p.stdout
    assert "DenyDelete" in p.stdout


def test_simulate_with_context(authz_server, root):
    u = make_user(root, keys=False, policy_name="ip-policy", policy=allow(
        "iam:ListUsers", sid="FromTheOffice",
        condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))
    p, out = simulate(authz_server, u.arn, "iam:ListUsers", USERS_RESOURCE,
                      "aws:SourceIp=10.1.2.3")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert out["decision"] == "allowed"
    assert _has_statement(out, "FromTheOffice", 0, "ip-policy"), out
    p, out = simulate(authz_server, u.arn, "iam:ListUsers", USERS_RESOURCE,
                      "aws:SourceIp=192.0.2.1")
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert out["decision"] == "implicitDeny"


def test_simulate_group_policy(authz_server, root):
    gname = unique("simgroup")
    root.iam.create_group(GroupName=gname)
    root.iam.put_group_policy(GroupName=gname, PolicyName="group-sim",
                              PolicyDocument=policy_doc(allow("iam:ListGroups", sid="GroupRead")))
    u = make_user(root, keys=False, groups=[gname])
    p, out = simulate(authz_server, u.arn, "iam:ListGroups", f"arn:aws:iam::{ACCOUNT}:group/")
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert out["decision"] == "allowed"
    assert _has_statement(out, "GroupRead", 0, "group-sim"), out


def test_simulate_agrees_with_the_server(authz_server, root):
    # The same evaluator answers both: what simulate says is what happens.
    boundary = make_managed_policy(root, allow("iam:List*"))
    u = make_user(root, policy=allow("iam:*"), boundary=boundary["Arn"])
    target = unique("x")
    p, out = simulate(authz_server, u.arn, "iam:CreateUser", user_arn(target))
    assert (p.returncode, out["decision"]) == (1, "implicitDeny")
    with iam_denied(u, "iam:CreateUser", user_arn(target), "boundary"):
        u.iam.create_user(UserName=target)
    p, out = simulate(authz_server, u.arn, "iam:ListUsers", USERS_RESOURCE)
    assert (p.returncode, out["decision"]) == (0, "allowed")
    u.iam.list_users()


def test_simulate_unknown_principal(authz_server):
    p, _ = simulate(authz_server, user_arn(unique("nobody")), "iam:ListUsers", USERS_RESOURCE,
                    fmt=None)
    assert p.returncode != 0, (p.stdout, p.stderr)
    assert p.stderr.strip(), "an unknown principal should be explained on stderr"


def test_root_arn_simulates_as_allowed(authz_server):
    p, out = simulate(authz_server, ROOT_ARN, "iam:CreateUser", user_arn("x"))
    assert p.returncode == 0, (p.stdout, p.stderr)
    assert out["decision"] == "allowed"
