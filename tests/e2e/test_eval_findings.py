"""
test_eval_findings.py -- the policy engine's rules settled by issue 13,
each driven through a real `tresor serve` as an attacker or a user would
(docs/AUTHORIZATION.md 2.3, 3.3, 3.7, 4.1):

  * a policy variable before the fifth colon of a Resource is refused when
    the policy is written, in every kind of policy (IAM's "The policy failed
    legacy parsing"), so it can neither grant nor deny (3.7);
  * a Deny with NotPrincipal denies every principal that has a permissions
    boundary, whatever the list names (3.3);
  * a resource or key policy Allow for "*" is not limited by the caller's
    boundary or session policies in its own account (2.3): the AWS managed
    key aws/secretsmanager serves a user whose boundary allows
    secretsmanager:GetSecretValue but not kms:Decrypt;
  * a key policy's Resource is matched against the key's ARN: a statement
    naming another key does not apply (4.1);
  * a NotResource, or a negated condition, whose policy variable has no
    value makes its statement inapplicable, not applicable everywhere (3.7;
    found by the differential test, tests/differential/README.md).

who-can-decrypt's answers for the same set-ups are compared with real
GetSecretValue calls in test_who_can_decrypt.py.
"""

import json

from botocore.exceptions import ClientError

from tresor_e2e import (ACCOUNT, REGION, ROOT_ARN, allow, assume_role, deny, denied_msg,
                        make_managed_policy, make_role, make_user, policy_doc, raises_aws,
                        trust_policy, unique)

GET = "secretsmanager:GetSecretValue"
DESCRIBE = "secretsmanager:DescribeSecret"
LEGACY = "The policy failed legacy parsing"
KMS_HOP_MSG = "Access to KMS is not allowed"
ACCOUNT_VAR_SECRETS = "arn:aws:secretsmanager:*:${aws:PrincipalAccount}:secret:*"
ACCOUNT_VAR_KEYS = "arn:aws:kms:*:${aws:PrincipalAccount}:key/*"


def doc(*statements, version="2012-10-17"):
    return json.dumps({"Version": version, "Statement": list(statements)})


def sm(caller):
    return caller.client("secretsmanager")


def new_secret(root, **kw):
    kw.setdefault("Name", unique("eval/secret"))
    kw.setdefault("SecretString", "the value")
    return sm(root).create_secret(**kw)["ARN"]


def reads(caller, secret):
    try:
        return sm(caller).get_secret_value(SecretId=secret)["SecretString"]
    except ClientError as e:
        return e.response["Error"]


# ---------------------------------------------------------------------------
# 3.7: no policy variable before the fifth colon


def test_identity_policy_with_a_variable_in_the_account_is_refused(root):
    """The attacker's policy would have read every secret of the account
    (tresor substituted the variable); IAM refuses such a document."""
    u = make_user(root)
    for text in (doc(allow(GET, ACCOUNT_VAR_SECRETS)),
                 doc(deny("kms:*", ACCOUNT_VAR_KEYS), allow(GET, "*")),
                 doc(allow(GET, "arn:aws:secretsmanager:${aws:RequestedRegion}:*:secret:*"))):
        with raises_aws("MalformedPolicyDocument", LEGACY, status=400):
            root.iam.put_user_policy(UserName=u.name, PolicyName="p", PolicyDocument=text)
        with raises_aws("MalformedPolicyDocument", LEGACY, status=400):
            root.iam.create_policy(PolicyName=unique("var-account"), PolicyDocument=text)
    s = new_secret(root)
    assert reads(u, s)["Code"] == "AccessDeniedException"
    # In the resource part a variable is fine, and substituted.
    root.iam.put_user_policy(UserName=u.name, PolicyName="p", PolicyDocument=doc(
        allow(GET, f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:${{aws:username}}-*")))
    mine = new_secret(root, Name=u.name)
    assert reads(u, mine) == "the value"
    assert reads(u, s)["Code"] == "AccessDeniedException"


def test_version_2008_keeps_the_text_literal(root):
    """Without Version 2012-10-17 nothing is substituted: the text is
    accepted, and "${aws:PrincipalAccount}" is no account, so it grants
    nothing."""
    u = make_user(root)
    root.iam.put_user_policy(UserName=u.name, PolicyName="p", PolicyDocument=doc(
        allow(GET, ACCOUNT_VAR_SECRETS), version="2008-10-17"))
    s = new_secret(root)
    err = reads(u, s)
    assert err == {"Code": "AccessDeniedException",
                   "Message": denied_msg(u.arn, GET, s, "identity")}, err


def test_session_policy_with_a_variable_in_the_account_is_refused(root):
    role = make_role(root, trust=trust_policy(ROOT_ARN), policy=allow("*"))
    u = make_user(root, policy=allow("sts:AssumeRole", role["Arn"]))
    with raises_aws("MalformedPolicyDocument", LEGACY, status=400):
        u.sts.assume_role(RoleArn=role["Arn"], RoleSessionName="s1",
                          Policy=doc(allow(GET, ACCOUNT_VAR_SECRETS)))


def test_resource_and_key_policies_with_a_variable_in_the_account_are_refused(root):
    s = new_secret(root)
    bad = doc({"Effect": "Allow", "Principal": "*", "Action": GET, "Resource": ACCOUNT_VAR_SECRETS})
    with raises_aws("MalformedPolicyDocumentException",
                    "This resource policy contains a syntax error.", status=400):
        sm(root).put_resource_policy(SecretId=s, ResourcePolicy=bad)
    with raises_aws("MalformedPolicyDocumentException",
                    "This resource policy contains a syntax error.", status=400):
        sm(root).validate_resource_policy(SecretId=s, ResourcePolicy=bad)
    key_doc = doc({"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                   "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"},
                  {"Effect": "Deny", "Principal": "*", "Action": "kms:Decrypt",
                   "Resource": ACCOUNT_VAR_KEYS})
    with raises_aws("MalformedPolicyDocumentException", LEGACY, status=400):
        root.kms.create_key(Policy=key_doc)
    key = root.kms.create_key()["KeyMetadata"]["KeyId"]
    with raises_aws("MalformedPolicyDocumentException", LEGACY, status=400):
        root.kms.put_key_policy(KeyId=key, PolicyName="default", Policy=key_doc)


def test_not_resource_with_a_variable_without_value_does_not_apply(root):
    """A role session has no aws:username: a NotResource built on it makes
    its statement invalid (AWS: "any attempt to match it fails"), so the
    Allow grants nothing, and a Deny denies nothing."""
    s = new_secret(root)
    role = make_role(root, trust=trust_policy(ROOT_ARN), policy=[
        {"Effect": "Allow", "Action": DESCRIBE,
         "NotResource": f"arn:aws:secretsmanager:*:{ACCOUNT}:secret:${{aws:username}}-*"}])
    assume = make_user(root, policy=allow("sts:AssumeRole"))
    sess = assume_role(assume, role["Arn"])
    with raises_aws("AccessDeniedException", denied_msg(sess.arn, DESCRIBE, s, "identity")):
        sm(sess).describe_secret(SecretId=s)
    # For a user the variable has a value: the NotResource applies.
    u = make_user(root, policy={"Effect": "Allow", "Action": DESCRIBE,
                                "NotResource": f"arn:aws:secretsmanager:*:{ACCOUNT}:secret:${{aws:username}}-*"})
    assert sm(u).describe_secret(SecretId=s)["ARN"] == s
    # A Deny built the same way does not deny the session.
    root.iam.put_role_policy(RoleName=role["RoleName"], PolicyName="inline", PolicyDocument=doc(
        allow(DESCRIBE), {"Effect": "Deny", "Action": DESCRIBE,
                          "NotResource": f"arn:aws:secretsmanager:*:{ACCOUNT}:secret:${{aws:username}}-*"}))
    assert sm(assume_role(assume, role["Arn"])).describe_secret(SecretId=s)["ARN"] == s


def test_negated_condition_on_a_variable_without_value_does_not_apply(root):
    """StringNotEquals with ${aws:username}: for a role session (no
    username) the match fails and the statement does not apply, Allow or
    Deny; for a user it compares as usual."""
    s = new_secret(root)
    cond = {"StringNotEquals": {"aws:PrincipalTag/team": "${aws:username}"}}
    role = make_role(root, trust=trust_policy(ROOT_ARN), tags={"team": "red"},
                     policy=[allow(DESCRIBE, condition=cond)])
    assume = make_user(root, policy=allow("sts:AssumeRole"))
    sess = assume_role(assume, role["Arn"])
    with raises_aws("AccessDeniedException", denied_msg(sess.arn, DESCRIBE, s, "identity")):
        sm(sess).describe_secret(SecretId=s)
    u = make_user(root, tags={"team": "red"}, policy=allow(DESCRIBE, condition=cond))
    assert sm(u).describe_secret(SecretId=s)["ARN"] == s
    # A Deny on the same condition does not deny the session.
    root.iam.put_role_policy(RoleName=role["RoleName"], PolicyName="inline", PolicyDocument=doc(
        allow(DESCRIBE), deny(DESCRIBE, condition={"ArnNotLike": {
            "aws:PrincipalArn": "arn:aws:iam::*:user/${aws:username}"}})))
    assert sm(assume_role(assume, role["Arn"])).describe_secret(SecretId=s)["ARN"] == s


# ---------------------------------------------------------------------------
# 3.3: NotPrincipal with Deny and a permissions boundary


def not_principal_deny(*principals, action=GET):
    return {"Sid": "OnlyListed", "Effect": "Deny", "NotPrincipal": {"AWS": list(principals)},
            "Action": action, "Resource": "*"}


def test_not_principal_deny_denies_a_listed_user_with_a_boundary(root):
    bnd = make_managed_policy(root, allow("secretsmanager:*"), name=unique("np-bnd"))["Arn"]
    bounded = make_user(root, policy=allow(GET), boundary=bnd)
    plain = make_user(root, policy=allow(GET))
    s = new_secret(root)
    sm(root).put_resource_policy(SecretId=s, ResourcePolicy=doc(
        not_principal_deny(bounded.arn, plain.arn, ROOT_ARN)))
    # The listed user without a boundary is exempted, as the list says.
    assert reads(plain, s) == "the value"
    # The listed user with one is not: AWS denies it whatever the list says.
    err = reads(bounded, s)
    assert err == {"Code": "AccessDeniedException",
                   "Message": denied_msg(bounded.arn, GET, s, "explicit-resource")}, err
    # Unlisted: denied as before.
    other = make_user(root, policy=allow(GET))
    assert reads(other, s)["Message"] == denied_msg(other.arn, GET, s, "explicit-resource")


def test_not_principal_deny_in_a_key_policy_denies_a_bounded_role_session(root):
    bnd = make_managed_policy(root, allow("kms:*"), name=unique("np-kbnd"))["Arn"]
    role = make_role(root, trust=trust_policy(ROOT_ARN), policy=allow("kms:*"), boundary=bnd)
    free = make_role(root, trust=trust_policy(ROOT_ARN), policy=allow("kms:*"))
    key_doc = doc({"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                   "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"},
                  not_principal_deny(role["Arn"], free["Arn"], ROOT_ARN, action="kms:Encrypt"))
    key = root.kms.create_key(Policy=key_doc)["KeyMetadata"]["Arn"]
    assume = make_user(root, policy=allow("sts:AssumeRole"))
    free_s = assume_role(assume, free["Arn"])
    free_s.kms.encrypt(KeyId=key, Plaintext=b"x")
    bounded_s = assume_role(assume, role["Arn"])
    with raises_aws("AccessDeniedException",
                    denied_msg(bounded_s.arn, "kms:Encrypt", key, "explicit-resource")):
        bounded_s.kms.encrypt(KeyId=key, Plaintext=b"x")
    # Other actions are not in the Deny: the boundary changes nothing there.
    bounded_s.kms.describe_key(KeyId=key)


# ---------------------------------------------------------------------------
# 2.3: "*" is not limited by boundaries or session policies


def test_managed_key_serves_a_user_whose_boundary_has_no_kms(root):
    """aws/secretsmanager's policy lets "*" use the key through Secrets
    Manager: a user bounded to secretsmanager:GetSecretValue reads."""
    bnd = make_managed_policy(root, allow(GET), name=unique("gsv-only"))["Arn"]
    u = make_user(root, policy=allow(GET), boundary=bnd)
    s = new_secret(root)
    assert reads(u, s) == "the value"
    # A customer key whose policy delegates to IAM: the boundary does limit
    # the identity side (no kms:Decrypt in it).
    key = root.kms.create_key()["KeyMetadata"]["Arn"]
    s2 = new_secret(root, KmsKeyId=key)
    root.iam.put_user_policy(UserName=u.name, PolicyName="p",
                             PolicyDocument=doc(allow(GET), allow("kms:Decrypt")))
    assert reads(u, s2) == {"Code": "AccessDeniedException", "Message": KMS_HOP_MSG}


def test_managed_key_serves_bounded_and_session_limited_role_sessions(root):
    bnd = make_managed_policy(root, allow(GET), name=unique("gsv-only-r"))["Arn"]
    role = make_role(root, trust=trust_policy(ROOT_ARN), policy=allow("*"), boundary=bnd)
    plain = make_role(root, trust=trust_policy(ROOT_ARN), policy=allow("*"))
    assume = make_user(root, policy=allow("sts:AssumeRole"))
    s = new_secret(root)
    assert reads(assume_role(assume, role["Arn"]), s) == "the value"
    limited = assume_role(assume, plain["Arn"], Policy=doc(allow(GET)))
    assert reads(limited, s) == "the value"
    # The session policy still limits what it does not name.
    with raises_aws("AccessDeniedException", denied_msg(limited.arn, DESCRIBE, s, "session")):
        sm(limited).describe_secret(SecretId=s)


def test_resource_policy_star_is_not_limited_by_a_boundary(root):
    bnd = make_managed_policy(root, allow("s3:*"), name=unique("s3-only"))["Arn"]
    u = make_user(root, boundary=bnd)
    role = make_role(root, trust=trust_policy(ROOT_ARN), boundary=bnd)
    assume = make_user(root, policy=allow("sts:AssumeRole"))
    sess = assume_role(assume, role["Arn"])
    named = make_role(root, trust=trust_policy(ROOT_ARN), boundary=bnd)
    named_sess = assume_role(assume, named["Arn"])
    s = new_secret(root)
    sm(root).put_resource_policy(SecretId=s, ResourcePolicy=doc(
        {"Sid": "Star", "Effect": "Allow", "Principal": "*", "Action": DESCRIBE, "Resource": "*",
         "Condition": {"ArnEquals": {"aws:PrincipalArn": [u.arn, role["Arn"]]}}},
        {"Sid": "Role", "Effect": "Allow", "Principal": {"AWS": named["Arn"]},
         "Action": DESCRIBE, "Resource": "*"}))
    assert sm(u).describe_secret(SecretId=s)["ARN"] == s
    assert sm(sess).describe_secret(SecretId=s)["ARN"] == s
    # Named by its role ARN: limited by the boundary, as before.
    with raises_aws("AccessDeniedException", denied_msg(named_sess.arn, DESCRIBE, s, "boundary")):
        sm(named_sess).describe_secret(SecretId=s)
    # An explicit Deny in the boundary still wins over "*".
    dbnd = make_managed_policy(root, allow("*"), deny(DESCRIBE), name=unique("deny-d"))["Arn"]
    root.iam.put_user_permissions_boundary(UserName=u.name, PermissionsBoundary=dbnd)
    with raises_aws("AccessDeniedException", denied_msg(u.arn, DESCRIBE, s, "explicit-boundary")):
        sm(u).describe_secret(SecretId=s)


def test_star_across_accounts_still_needs_the_callers_side(root, account_b):
    bnd = make_managed_policy(account_b, allow("s3:*"), name=unique("b-s3-only"))["Arn"]
    u = make_user(account_b, policy=allow(DESCRIBE), boundary=bnd)
    s = new_secret(root)
    sm(root).put_resource_policy(SecretId=s, ResourcePolicy=doc(
        {"Effect": "Allow", "Principal": "*", "Action": DESCRIBE, "Resource": "*"}))
    with raises_aws("AccessDeniedException", denied_msg(u.arn, DESCRIBE, s, "boundary")):
        sm(u).describe_secret(SecretId=s)


# ---------------------------------------------------------------------------
# 4.1: a key policy's Resource is matched against the key


def test_key_policy_statement_naming_another_key_does_not_apply(root):
    u = make_user(root)
    other = root.kms.create_key()["KeyMetadata"]["Arn"]
    admin = {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
             "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"}
    key = root.kms.create_key(Policy=doc(
        admin, {"Sid": "Other", "Effect": "Allow", "Principal": {"AWS": u.arn},
                "Action": "kms:Encrypt", "Resource": other}))["KeyMetadata"]["Arn"]
    # The key policy delegates to the account (whose IAM gives u nothing):
    # the statement for u names another key, so it does not apply.
    with raises_aws("AccessDeniedException", denied_msg(u.arn, "kms:Encrypt", key, "identity")):
        u.kms.encrypt(KeyId=key, Plaintext=b"x")
    # The key's own ARN, and a NotResource naming another key, do apply.
    root.kms.put_key_policy(KeyId=key, PolicyName="default", Policy=doc(
        admin, {"Effect": "Allow", "Principal": {"AWS": u.arn}, "Action": "kms:Encrypt",
                "Resource": key},
        {"Effect": "Allow", "Principal": {"AWS": u.arn}, "Action": "kms:DescribeKey",
         "NotResource": other}))
    u.kms.encrypt(KeyId=key, Plaintext=b"x")
    u.kms.describe_key(KeyId=key)
    # A Deny naming another key does not deny this one; one naming it does.
    root.kms.put_key_policy(KeyId=key, PolicyName="default", Policy=doc(
        admin, {"Effect": "Allow", "Principal": {"AWS": u.arn}, "Action": "kms:Encrypt",
                "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt", "Resource": other}))
    u.kms.encrypt(KeyId=key, Plaintext=b"x")
    root.kms.put_key_policy(KeyId=key, PolicyName="default", Policy=doc(
        admin, {"Effect": "Allow", "Principal": {"AWS": u.arn}, "Action": "kms:Encrypt",
                "Resource": "*"},
        {"Effect": "Deny", "Principal": "*", "Action": "kms:Encrypt", "NotResource": other}))
    with raises_aws("AccessDeniedException",
                    denied_msg(u.arn, "kms:Encrypt", key, "explicit-resource")):
        u.kms.encrypt(KeyId=key, Plaintext=b"x")
