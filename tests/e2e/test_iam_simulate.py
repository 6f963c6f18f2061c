"""
IAM's policy simulator API served by tresor's own engine (issue 21):
SimulateCustomPolicy, SimulatePrincipalPolicy,
GetContextKeysForCustomPolicy and GetContextKeysForPrincipalPolicy, with
boto3 and the AWS CLI.  Decisions, the statements that decided them (with
their positions in the policy text), the context keys a simulation
lacked, a resource policy, a permissions boundary, a group's policies
through a user, paging, and the validation errors
(docs/AUTHORIZATION.md 7.2).
"""

import json

import pytest

from tresor_e2e import ACCOUNT, allow, bump_commit_counter, deny, denied_msg, make_user, raises_aws, sqlite_only, unique

OTHER = "444455556666"


@pytest.fixture(scope="module")
def iam(root):
    return root.iam


def doc(*stmts):
    return json.dumps({"Version": "2012-10-17", "Statement": list(stmts)}, indent=2)


def position(text, offset):
    """(line, column) of text[offset], both from 1."""
    before = text[:offset]
    return before.count("\n") + 1, offset - (before.rfind("\n") + 1) + 1


def span_of(text, needle):
    """The positions of the braces of the statement object containing needle."""
    i = text.index(needle)
    start = text.rindex("{", 0, i)
    depth, j = 0, start
    while True:
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                break
        j += 1
    return position(text, start), position(text, j)


def one(resp):
    assert resp["IsTruncated"] is False
    (r,) = resp["EvaluationResults"]
    return r


def sim(iam, policies, actions, **kw):
    return iam.simulate_custom_policy(PolicyInputList=policies, ActionNames=actions, **kw)


def test_allow_with_position(iam):
    text = doc(allow("kms:Decrypt", sid="A"), allow("s3:GetObject", sid="B"))
    r = one(sim(iam, [text], ["s3:GetObject"]))
    assert r["EvalActionName"] == "s3:GetObject"
    assert r["EvalResourceName"] == "*"
    assert r["EvalDecision"] == "allowed"
    (m,) = r["MatchedStatements"]
    assert m["SourcePolicyId"] == "PolicyInputList.1"
    assert m["SourcePolicyType"] == "IAM Policy"
    (sl, sc), (el, ec) = span_of(text, '"Sid": "B"')
    assert m["StartPosition"] == {"Line": sl, "Column": sc}
    assert m["EndPosition"] == {"Line": el, "Column": ec}
    assert r["MissingContextValues"] == []
    assert "PermissionsBoundaryDecisionDetail" not in r


def test_one_line_policy_position(iam):
    text = '{"Version":"2012-10-17","Statement":{"Effect":"Allow","Action":"sqs:*","Resource":"*"}}'
    m = one(sim(iam, [text], ["sqs:SendMessage"]))["MatchedStatements"][0]
    assert m["StartPosition"] == {"Line": 1, "Column": text.index('{"Effect"') + 1}
    assert m["EndPosition"] == {"Line": 1, "Column": len(text) - 1}


def test_explicit_and_implicit_deny(iam):
    p1 = doc(allow("s3:*"))
    p2 = doc(deny("s3:DeleteObject", sid="NoDelete"))
    resp = sim(iam, [p1, p2], ["s3:DeleteObject", "s3:PutObject", "ec2:RunInstances"])
    res = {r["EvalActionName"]: r for r in resp["EvaluationResults"]}
    assert [r["EvalActionName"] for r in resp["EvaluationResults"]] == [
        "s3:DeleteObject", "s3:PutObject", "ec2:RunInstances"]
    d = res["s3:DeleteObject"]
    assert d["EvalDecision"] == "explicitDeny"
    assert [m["SourcePolicyId"] for m in d["MatchedStatements"]] == ["PolicyInputList.2"]
    assert res["s3:PutObject"]["EvalDecision"] == "allowed"
    assert res["ec2:RunInstances"]["EvalDecision"] == "implicitDeny"
    assert res["ec2:RunInstances"]["MatchedStatements"] == []


COND = doc(allow("s3:GetObject", condition={
    "StringEquals": {"aws:PrincipalTag/team": "blue"},
    "IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}))


def test_condition_context_given(iam):
    r = one(sim(iam, [COND], ["s3:GetObject"], ContextEntries=[
        {"ContextKeyName": "aws:PrincipalTag/team", "ContextKeyValues": ["blue"], "ContextKeyType": "string"},
        {"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["10.1.2.3"], "ContextKeyType": "ip"},
    ]))
    assert r["EvalDecision"] == "allowed"
    assert r["MissingContextValues"] == []


def test_condition_context_missing(iam):
    r = one(sim(iam, [COND], ["s3:GetObject"], ContextEntries=[
        {"ContextKeyName": "aws:sourceip", "ContextKeyValues": ["10.1.2.3"], "ContextKeyType": "ip"}]))
    assert r["EvalDecision"] == "implicitDeny"
    assert r["MissingContextValues"] == ["aws:PrincipalTag/team"]
    # Only the statements covering the action count.
    r = one(sim(iam, [COND], ["s3:PutObject"]))
    assert r["MissingContextValues"] == []


def test_context_list_and_numeric_types(iam):
    text = doc(allow("kms:Decrypt", condition={
        "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["a", "b"]},
        "NumericLessThan": {"s3:max-keys": "10"}}))
    entries = [
        {"ContextKeyName": "kms:EncryptionContextKeys", "ContextKeyValues": ["a", "b"],
         "ContextKeyType": "stringList"},
        {"ContextKeyName": "s3:max-keys", "ContextKeyValues": ["5"], "ContextKeyType": "numeric"}]
    assert one(sim(iam, [text], ["kms:Decrypt"], ContextEntries=entries))["EvalDecision"] == "allowed"
    entries[0]["ContextKeyValues"] = ["a", "c"]
    assert one(sim(iam, [text], ["kms:Decrypt"], ContextEntries=entries))["EvalDecision"] == "implicitDeny"


def test_resources_and_specific_results(iam):
    arn = f"arn:aws:s3:::bucket-{unique('b')}/x"
    text = doc(allow("s3:GetObject", arn, condition={"Bool": {"aws:SecureTransport": "true"}}))
    resp = sim(iam, [text], ["s3:GetObject"], ResourceArns=[arn, "arn:aws:s3:::other/y"])
    a, b = resp["EvaluationResults"]
    assert (a["EvalResourceName"], b["EvalResourceName"]) == (arn, "arn:aws:s3:::other/y")
    assert a["EvalDecision"] == b["EvalDecision"] == "implicitDeny"
    # With resources named, the missing keys are under ResourceSpecificResults.
    assert a["MissingContextValues"] == []
    (rs,) = a["ResourceSpecificResults"]
    assert rs["EvalResourceName"] == arn
    assert rs["EvalResourceDecision"] == "implicitDeny"
    assert rs["MissingContextValues"] == ["aws:SecureTransport"]


def test_resource_policy_same_and_cross_account(iam):
    caller = f"arn:aws:iam::{ACCOUNT}:user/sim-caller"
    secret = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:s-AbCdEf"
    rp = doc({"Sid": "R", "Effect": "Allow", "Principal": {"AWS": caller},
              "Action": "secretsmanager:GetSecretValue", "Resource": "*"})
    none = doc(allow("kms:Decrypt"))
    r = one(sim(iam, [none], ["secretsmanager:GetSecretValue"], ResourceArns=[secret],
                ResourcePolicy=rp, CallerArn=caller))
    assert r["EvalDecision"] == "allowed"
    assert r["MatchedStatements"][0]["SourcePolicyId"] == "ResourcePolicy"
    assert r["MatchedStatements"][0]["SourcePolicyType"] == "resource"
    assert r.get("EvalDecisionDetails", {}) == {}
    # Across accounts both sides must allow.
    other = secret.replace(ACCOUNT, OTHER)
    r = one(sim(iam, [none], ["secretsmanager:GetSecretValue"], ResourceArns=[other],
                ResourcePolicy=rp, CallerArn=caller))
    assert r["EvalDecision"] == "implicitDeny"
    assert r["EvalDecisionDetails"] == {"IAM Policy": "implicitDeny", "Resource Policy": "allowed"}
    both = doc(allow("secretsmanager:GetSecretValue"))
    r = one(sim(iam, [both], ["secretsmanager:GetSecretValue"], ResourceArns=[other],
                ResourcePolicy=rp, CallerArn=caller, ResourceOwner=f"arn:aws:iam::{OTHER}:root"))
    assert r["EvalDecision"] == "allowed"
    assert r["EvalDecisionDetails"] == {"IAM Policy": "allowed", "Resource Policy": "allowed"}


def test_permissions_boundary(iam):
    text = doc(allow("s3:*"), allow("sqs:*"))
    bound = doc(allow("s3:*"))
    resp = sim(iam, [text], ["s3:GetObject", "sqs:SendMessage"], PermissionsBoundaryPolicyInputList=[bound])
    s3, sqs = resp["EvaluationResults"]
    assert s3["EvalDecision"] == "allowed"
    assert s3["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": True}
    assert {m["SourcePolicyId"] for m in s3["MatchedStatements"]} == {
        "PolicyInputList.1", "PermissionsBoundaryPolicyInputList.1"}
    assert sqs["EvalDecision"] == "implicitDeny"
    assert sqs["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": False}


def test_paging(iam):
    actions = [f"s3:Get{c}" for c in "ABCDE"]
    text = doc(allow("s3:GetA"))
    seen, marker = [], None
    for _ in range(5):
        kw = {"MaxItems": 2}
        if marker:
            kw["Marker"] = marker
        resp = sim(iam, [text], actions, **kw)
        seen += [r["EvalActionName"] for r in resp["EvaluationResults"]]
        if not resp["IsTruncated"]:
            assert "Marker" not in resp
            break
        marker = resp["Marker"]
    assert seen == actions
    with raises_aws("InvalidInput", "Invalid Marker."):
        sim(iam, [text], actions, Marker="zz")


def test_principal_policy_user_groups_boundary(root, iam):
    g = unique("simg")
    iam.create_group(GroupName=g)
    gtext = doc(allow("sqs:SendMessage", sid="FromGroup"))
    iam.put_group_policy(GroupName=g, PolicyName="gp", PolicyDocument=gtext)
    mtext = doc(allow("sns:Publish"))
    marn = iam.create_policy(PolicyName=unique("simm"), PolicyDocument=mtext)["Policy"]["Arn"]
    barn = iam.create_policy(PolicyName=unique("simb"), PolicyDocument=doc(
        allow(["s3:*", "sqs:*", "sns:*"])))["Policy"]["Arn"]
    utext = doc(allow("s3:GetObject"), deny("s3:DeleteObject"))
    user = make_user(root, policy=utext, policy_name="own", managed=[marn], groups=[g], boundary=barn,
                     keys=False)
    resp = iam.simulate_principal_policy(PolicySourceArn=user.arn, ActionNames=[
        "s3:GetObject", "s3:DeleteObject", "sqs:SendMessage", "sns:Publish", "ec2:RunInstances"])
    res = {r["EvalActionName"]: r for r in resp["EvaluationResults"]}
    assert res["s3:GetObject"]["EvalDecision"] == "allowed"
    m = res["s3:GetObject"]["MatchedStatements"]
    assert {(x["SourcePolicyId"], x["SourcePolicyType"]) for x in m} == {("own", "user"), (barn, "user-managed")}
    assert res["s3:DeleteObject"]["EvalDecision"] == "explicitDeny"
    sq = res["sqs:SendMessage"]
    assert sq["EvalDecision"] == "allowed"
    gm = [x for x in sq["MatchedStatements"] if x["SourcePolicyType"] == "group"][0]
    assert gm["SourcePolicyId"] == "gp"
    (sl, sc), (el, ec) = span_of(gtext, '"Sid": "FromGroup"')
    assert gm["StartPosition"] == {"Line": sl, "Column": sc}
    assert gm["EndPosition"] == {"Line": el, "Column": ec}
    assert res["sns:Publish"]["EvalDecision"] == "allowed"
    assert res["sns:Publish"]["PermissionsBoundaryDecisionDetail"] == {"AllowedByPermissionsBoundary": True}
    assert res["ec2:RunInstances"]["EvalDecision"] == "implicitDeny"
    keys = iam.get_context_keys_for_principal_policy(PolicySourceArn=user.arn)["ContextKeyNames"]
    assert keys == []


def test_principal_policy_group_and_role(root, iam):
    g = unique("simg2")
    iam.create_group(GroupName=g)
    iam.put_group_policy(GroupName=g, PolicyName="gp", PolicyDocument=doc(allow("sqs:*", condition={
        "StringEquals": {"aws:RequestedRegion": "us-east-1"}})))
    garn = iam.get_group(GroupName=g)["Group"]["Arn"]
    r = one(iam.simulate_principal_policy(PolicySourceArn=garn, ActionNames=["sqs:SendMessage"]))
    assert r["EvalDecision"] == "implicitDeny"
    assert r["MissingContextValues"] == ["aws:RequestedRegion"]
    assert iam.get_context_keys_for_principal_policy(PolicySourceArn=garn)["ContextKeyNames"] == [
        "aws:RequestedRegion"]
    # Extra policies join the principal's.
    keys = iam.get_context_keys_for_principal_policy(PolicySourceArn=garn, PolicyInputList=[
        doc(allow("s3:*", condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}}))])["ContextKeyNames"]
    assert keys == ["aws:RequestedRegion", "aws:MultiFactorAuthPresent"]


@sqlite_only
def test_principal_policy_stored_broken(authz_server, root, iam):
    """An inline policy that no longer compiles denies everything
    (docs/AUTHORIZATION.md 2.9), in the simulator as in requests; its
    statement has no position in the text."""
    import sqlite3
    u = make_user(root, policy=allow("s3:*"), policy_name="own", keys=False)
    text = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "s3:*", "Resource": "*", "NotAPolicyMember": 1}]})
    db = sqlite3.connect(str(authz_server.data_dir / "tresor.db"), timeout=10)
    try:
        with db:
            assert db.execute("UPDATE relations SET doc = ? WHERE kind = 'inline' AND src = ?",
                              (text, u.arn)).rowcount == 1
    finally:
        db.close()
    bump_commit_counter(authz_server.data_dir)
    r = one(iam.simulate_principal_policy(PolicySourceArn=u.arn, ActionNames=["s3:GetObject"]))
    assert r["EvalDecision"] == "explicitDeny"
    (m,) = r["MatchedStatements"]
    assert (m["SourcePolicyId"], m["SourcePolicyType"]) == ("own", "user")
    assert "StartPosition" not in m and "EndPosition" not in m


def test_principal_policy_missing(iam):
    arn = f"arn:aws:iam::{ACCOUNT}:user/no-such-{unique('u')}"
    with raises_aws("NoSuchEntity", f"The user with name {arn.split('/')[-1]} cannot be found.", status=404):
        iam.simulate_principal_policy(PolicySourceArn=arn, ActionNames=["s3:GetObject"])
    with raises_aws("NoSuchEntity", status=404):
        iam.get_context_keys_for_principal_policy(PolicySourceArn=arn.replace(":user/", ":role/"))
    with raises_aws("InvalidInput", "Invalid ARN: arn:aws:iam::123456789012:policy/x"):
        iam.simulate_principal_policy(PolicySourceArn="arn:aws:iam::123456789012:policy/x",
                                      ActionNames=["s3:GetObject"])


def test_context_keys_custom(iam):
    text = doc(
        allow("dynamodb:*", "arn:aws:dynamodb:us-west-2:123456789012:table/${aws:username}",
              condition={"DateGreaterThan": {"aws:CurrentTime": "2015-08-16T12:00:00Z"}}),
        allow("s3:*", condition={"StringEquals": {"AWS:CurrentTime": "x", "s3:prefix": "${aws:userid}/*"}}))
    keys = iam.get_context_keys_for_custom_policy(PolicyInputList=[text])["ContextKeyNames"]
    assert keys == ["aws:username", "aws:CurrentTime", "s3:prefix", "aws:userid"]


def test_validation_errors(iam):
    ok = doc(allow("s3:*"))
    with raises_aws("InvalidInput", "This policy contains invalid Json"):
        sim(iam, ["{not json"], ["s3:GetObject"])
    with raises_aws("InvalidInput", "Policy document should not specify a principal."):
        sim(iam, [doc({"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": "*"})],
            ["s3:GetObject"])
    with raises_aws("InvalidInput", "Syntax errors in policy."):
        iam.get_context_keys_for_custom_policy(PolicyInputList=["[]"])
    with raises_aws("InvalidInput", "CallerArn is required when ResourcePolicy is specified and "
                                    "PolicySourceArn is not the ARN of an IAM user."):
        sim(iam, [ok], ["s3:GetObject"], ResourcePolicy=doc(allow("s3:*", principal="*")))
    with raises_aws("InvalidInput", "Invalid CallerArn: arn:aws:iam::123456789012:role/r. "
                                    "It must be the ARN of an IAM user."):
        sim(iam, [ok], ["s3:GetObject"], CallerArn="arn:aws:iam::123456789012:role/r")
    with raises_aws("InvalidInput", "Only one permissions boundary policy may be specified."):
        sim(iam, [ok], ["s3:GetObject"], PermissionsBoundaryPolicyInputList=[ok, ok])
    with raises_aws("ValidationError", "1 validation error detected: Value 'bad' at "
                    "'contextEntries.1.member.contextKeyType' failed to satisfy constraint: Member must "
                    "satisfy enum value set: [string, stringList, numeric, numericList, boolean, booleanList, "
                    "ip, ipList, binary, binaryList, date, dateList]"):
        iam.simulate_custom_policy(PolicyInputList=[ok], ActionNames=["s3:GetObject"], ContextEntries=[
            {"ContextKeyName": "aws:SourceIp", "ContextKeyValues": ["x"], "ContextKeyType": "bad"}])


def test_validation_missing_members(authz_server):
    # boto3 refuses to send a request without required members; the CLI too:
    # the raw query protocol checks them.
    rc, out, err = authz_server.cli("iam", "simulate-custom-policy", "--policy-input-list",
                                    doc(allow("s3:*")), "--action-names", "s3:GetObject")
    assert rc == 0, err
    assert out["EvaluationResults"][0]["EvalDecision"] == "allowed"


def test_cli(authz_server):
    text = doc(allow("kms:Decrypt", condition={"StringEquals": {"kms:ViaService": "x"}}))
    rc, out, err = authz_server.cli("iam", "simulate-custom-policy", "--policy-input-list", text,
                                    "--action-names", "kms:Decrypt", "--context-entries",
                                    "ContextKeyName=kms:ViaService,ContextKeyValues=x,ContextKeyType=string")
    assert rc == 0, err
    r = out["EvaluationResults"][0]
    assert r["EvalDecision"] == "allowed"
    assert r["MatchedStatements"][0]["SourcePolicyId"] == "PolicyInputList.1"
    rc, out, err = authz_server.cli("iam", "get-context-keys-for-custom-policy", "--policy-input-list", text)
    assert rc == 0, err
    assert out["ContextKeyNames"] == ["kms:ViaService"]
    # The CLI pages by itself: --page-size is MaxItems, the Marker follows.
    rc, out, err = authz_server.cli("iam", "simulate-custom-policy", "--policy-input-list", text,
                                    "--action-names", "kms:Decrypt", "kms:Encrypt", "s3:GetObject",
                                    "--page-size", "1")
    assert rc == 0, err
    assert [(r["EvalActionName"], r["EvalDecision"]) for r in out["EvaluationResults"]] == [
        ("kms:Decrypt", "implicitDeny"), ("kms:Encrypt", "implicitDeny"), ("s3:GetObject", "implicitDeny")]
    assert out["EvaluationResults"][0]["MissingContextValues"] == ["kms:ViaService"]
    user = make_user(authz_server.root_user, policy=allow("s3:GetObject"), keys=False)
    rc, out, err = authz_server.cli("iam", "simulate-principal-policy", "--policy-source-arn", user.arn,
                                    "--action-names", "s3:GetObject", "s3:PutObject")
    assert rc == 0, err
    assert [r["EvalDecision"] for r in out["EvaluationResults"]] == ["allowed", "implicitDeny"]
    rc, out, err = authz_server.cli("iam", "simulate-principal-policy", "--policy-source-arn",
                                    f"arn:aws:iam::{ACCOUNT}:user/nobody-{unique('x')}",
                                    "--action-names", "s3:GetObject")
    assert rc != 0
    assert "NoSuchEntity" in err


def test_denied(root):
    user = make_user(root, policy=allow("iam:GetUser"))
    with raises_aws("AccessDenied", denied_msg(user.arn, "iam:SimulateCustomPolicy", "*"), status=403):
        user.iam.simulate_custom_policy(PolicyInputList=[doc(allow("s3:*"))], ActionNames=["s3:GetObject"])
    with raises_aws("AccessDenied", denied_msg(user.arn, "iam:GetContextKeysForCustomPolicy", "*"),
                    status=403):
        user.iam.get_context_keys_for_custom_policy(PolicyInputList=[doc(allow("s3:*"))])
    with raises_aws("AccessDenied", denied_msg(user.arn, "iam:SimulatePrincipalPolicy", user.arn), status=403):
        user.iam.simulate_principal_policy(PolicySourceArn=user.arn, ActionNames=["s3:GetObject"])
    self_sim = make_user(root, policy=allow("iam:SimulatePrincipalPolicy", f"arn:aws:iam::{ACCOUNT}:user/*"))
    r = one(self_sim.iam.simulate_principal_policy(PolicySourceArn=self_sim.arn,
                                                   ActionNames=["iam:SimulatePrincipalPolicy"],
                                                   ResourceArns=[self_sim.arn]))
    assert r["EvalDecision"] == "allowed"


# ---- against an independent evaluator (tests/differential/README.md) ----------

def test_simulate_custom_policy_agrees_with_iam_simulate(iam):
    """SimulateCustomPolicy's decisions against @cloud-copilot/iam-simulate on
    the differential generator's cases that the API can state: an IAM
    user's identity policies and boundary, the context as ContextEntries,
    and a secret with its resource policy (the simulator's rule for a
    resource policy is Secrets Manager's; a key policy or a trust policy
    must allow on its own, which the oracle models and the API does not
    say)."""
    import shutil
    import sys
    from pathlib import Path
    if not (shutil.which("node") and shutil.which("npm")):
        pytest.skip("node and npm are needed (scripts/install-deps installs them)")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "differential"))
    import cases as gen
    import run as differential
    mods = differential.install_oracle()
    picked = []
    for c in gen.generate(13, 1000):
        if c["caller"]["kind"] == "user" and c["identity"] and c["resource"]["type"] == "secret":
            picked.append(c)
    ours = []
    for c in picked:
        kw = {"PolicyInputList": [json.dumps(d) for d in c["identity"]], "ActionNames": [c["action"]],
              "ResourceArns": [c["resource"]["arn"]], "CallerArn": c["caller"]["arn"],
              "ContextEntries": [{"ContextKeyName": k, "ContextKeyValues": v if isinstance(v, list) else [v],
                                  "ContextKeyType": "stringList" if isinstance(v, list) else "string"}
                                 for k, v in c["context"].items()]}
        if c["boundary"]:
            kw["PermissionsBoundaryPolicyInputList"] = [json.dumps(c["boundary"])]
        if c["resource_policy"]:
            kw["ResourcePolicy"] = json.dumps(c["resource_policy"])
        try:
            ours.append(one(iam.simulate_custom_policy(**kw))["EvalDecision"])
        except iam.exceptions.InvalidInputException:
            ours.append("refused")
    theirs = differential.run_lines(["node", str(differential.HERE / "oracle.mjs"), str(mods)],
                                    [differential.oracle_input(c) for c in picked], timeout=600)
    agree = unexplained = 0
    bad = []
    for c, t, o in zip(picked, ours, theirs):
        if differential.agree(t, o["decision"]):
            agree += 1
        elif not differential.classify(dict(c, _why=""), t, o["decision"]):
            unexplained += 1
            bad.append((c["index"], t, o["decision"]))
    print(f"SimulateCustomPolicy vs iam-simulate: {len(picked)} cases, {agree} agree, {unexplained} unexplained")
    assert len(picked) > 100
    assert not bad, bad[:5]
    assert agree >= 0.9 * len(picked)
    assert {"allowed", "implicitDeny", "explicitDeny"} <= set(ours)
