"""
test_who_can_federated.py -- `tresor who-can-decrypt` lists federated
readers (docs/WHO_CAN_DECRYPT.md, "Federated readers"; docs/OIDC.md): the
tokens of an OpenID Connect provider that a role's trust policy lets call
sts:AssumeRoleWithWebIdentity, when the role reads the secret.

One scenario on a fresh server: a GitHub-shaped provider and a
Kubernetes-shaped one; a role trusting each with a sub condition; a role
trusting GitHub with only an aud condition (flagged: any token of the
issuer); a role whose permissions Deny the secret (no reader); a role
trusting a provider that does not exist (listed, with a note).  Text and
JSON asserted exactly.
"""

import json

import pytest

from tresor_e2e import ACCOUNT, allow, deny, make_role, policy_doc

GSV = "secretsmanager:GetSecretValue"
GH = "token.actions.githubusercontent.com"
K8S = "oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
GONE = "issuer.gone.example.com"


def parn(host):
    return f"arn:aws:iam::{ACCOUNT}:oidc-provider/{host}"


def fed_trust(host, condition=None, sid=None):
    st = {"Effect": "Allow", "Principal": {"Federated": parn(host)},
          "Action": "sts:AssumeRoleWithWebIdentity"}
    if sid:
        st["Sid"] = sid
    if condition:
        st["Condition"] = condition
    return policy_doc(st)


@pytest.fixture(scope="module")
def scenario(authz_server, root):
    iam = root.iam
    iam.create_open_id_connect_provider(Url=f"https://{GH}", ClientIDList=["sts.amazonaws.com"])
    iam.create_open_id_connect_provider(Url=f"https://{K8S}", ClientIDList=["sts.amazonaws.com"])
    sm = root.client("secretsmanager")
    key = root.kms.create_key(Policy=policy_doc(
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*",
         "Resource": "*"}))["KeyMetadata"]["Arn"]
    secret = sm.create_secret(Name="fed-db", SecretString="s3cret", KmsKeyId=key)["ARN"]
    reads = [allow(GSV), allow("kms:Decrypt")]
    make_role(root, "gh-app", policy=reads, trust=fed_trust(GH, {
        "StringLike": {f"{GH}:sub": "repo:org/app:*"},
        "StringEquals": {f"{GH}:aud": "sts.amazonaws.com"}}, sid="GitHubApp"))
    make_role(root, "k8s-app", policy=reads, trust=fed_trust(K8S, {
        "StringEquals": {f"{K8S}:sub": "system:serviceaccount:prod:app"}}))
    make_role(root, "gh-any", policy=reads, trust=fed_trust(GH, {
        "StringEquals": {f"{GH}:aud": "sts.amazonaws.com"}}, sid="AnyRepo"))
    make_role(root, "gh-denied", policy=reads + [deny(GSV, secret)], trust=fed_trust(GH, {
        "StringLike": {f"{GH}:sub": "repo:org/other:*"}}))
    # A role may not name a provider that does not exist, but the provider
    # may be deleted afterwards: the role then trusts a provider that is gone.
    gone = iam.create_open_id_connect_provider(Url=f"https://{GONE}", ClientIDList=["sts.amazonaws.com"])
    make_role(root, "gone-app", policy=reads, trust=fed_trust(GONE, {
        "StringEquals": {f"{GONE}:sub": "svc"}}))
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=gone["OpenIDConnectProviderArn"])
    return secret


def run(srv, secret, fmt):
    p = srv.run_tresor("who-can-decrypt", secret, "--data-dir", srv.data_dir, "--format", fmt)
    assert p.returncode == 0, f"who-can-decrypt failed:\n{p.stdout}\n{p.stderr}"
    return p.stdout


def role(name):
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def test_json_lists_federated_readers(authz_server, scenario):
    out = json.loads(run(authz_server, scenario, "json"))
    assert out["federatedReaders"] == [
        {"kind": "federated", "provider": parn(GH), "issuer": GH, "role": role("gh-any"),
         "statement": "AnyRepo",
         "conditions": [{"key": f"{GH}:aud", "operator": "StringEquals",
                         "values": ["sts.amazonaws.com"]}],
         "anyToken": True, "providerExists": True, "conditional": False},
        {"kind": "federated", "provider": parn(GH), "issuer": GH, "role": role("gh-app"),
         "statement": "GitHubApp",
         "conditions": [
             {"key": f"{GH}:sub", "operator": "StringLike", "values": ["repo:org/app:*"]},
             {"key": f"{GH}:aud", "operator": "StringEquals", "values": ["sts.amazonaws.com"]}],
         "anyToken": False, "providerExists": True, "conditional": False},
        {"kind": "federated", "provider": parn(GONE), "issuer": GONE, "role": role("gone-app"),
         "statement": "0",
         "conditions": [{"key": f"{GONE}:sub", "operator": "StringEquals", "values": ["svc"]}],
         "anyToken": False, "providerExists": False, "conditional": False},
        {"kind": "federated", "provider": parn(K8S), "issuer": K8S, "role": role("k8s-app"),
         "statement": "0",
         "conditions": [{"key": f"{K8S}:sub", "operator": "StringEquals",
                         "values": ["system:serviceaccount:prod:app"]}],
         "anyToken": False, "providerExists": True, "conditional": False},
    ]
    # The denied role reads nothing, so no token reads through it.
    assert role("gh-denied") not in {p["principal"] for p in out["principals"]}


def test_text_lists_federated_readers(authz_server, scenario):
    out = run(authz_server, scenario, "text")
    section = out.split("federated readers (tokens exchanged by sts:AssumeRoleWithWebIdentity):\n")[1]
    section = section.split("\npaths:\n")[0]
    assert section == (
        f"  tokens of issuer {GH} whose aud matches sts.amazonaws.com (StringEquals) can read, "
        "through role gh-any (statement AnyRepo)\n"
        f"  tokens of issuer {GH} whose sub matches repo:org/app:* (StringLike) and whose aud "
        "matches sts.amazonaws.com (StringEquals) can read, through role gh-app (statement "
        "GitHubApp)\n"
        f"  tokens of issuer {GONE} whose sub matches svc (StringEquals) can read, through role "
        "gone-app (statement 0)\n"
        f"    (provider {parn(GONE)} does not exist: no token is accepted until it is created)\n"
        f"  tokens of issuer {K8S} whose sub matches system:serviceaccount:prod:app "
        "(StringEquals) can read, through role k8s-app (statement 0)\n"
        "\n"
        f"WARNING: role {role('gh-any')} trusts any token of issuer {GH}: statement AnyRepo\n"
        f"sets no condition on {GH}:sub, so every workload that issuer\n"
        "signs for can assume it, and through it read this secret.\n")
    assert "gh-denied" not in out


def test_trust_deny_removes_the_reader(authz_server, root, scenario):
    trust = json.loads(fed_trust(K8S, {
        "StringEquals": {f"{K8S}:sub": "system:serviceaccount:prod:app"}}))
    trust["Statement"].append({"Effect": "Deny", "Principal": {"Federated": parn(K8S)},
                               "Action": "sts:AssumeRoleWithWebIdentity"})
    root.iam.update_assume_role_policy(RoleName="k8s-app", PolicyDocument=json.dumps(trust))
    try:
        out = json.loads(run(authz_server, scenario, "json"))
        assert role("k8s-app") not in {f["role"] for f in out["federatedReaders"]}
        assert len(out["federatedReaders"]) == 3
    finally:
        root.iam.update_assume_role_policy(RoleName="k8s-app", PolicyDocument=fed_trust(K8S, {
            "StringEquals": {f"{K8S}:sub": "system:serviceaccount:prod:app"}}))


def test_public_web_identity_trust_is_flagged(authz_server, root, scenario):
    make_role(root, "any-idp", policy=[allow(GSV), allow("kms:Decrypt")], trust=policy_doc(
        {"Effect": "Allow", "Principal": "*", "Action": "sts:AssumeRoleWithWebIdentity"}))
    try:
        out = run(authz_server, scenario, "text")
        assert ("  tokens of any issuer (\"Principal\": \"*\") can read, through role any-idp "
                "(statement 0)\n") in out
        assert (f"WARNING: role {role('any-idp')} trusts every principal (\"Principal\": \"*\") "
                "for\nsts:AssumeRoleWithWebIdentity with no condition on a token's sub\n") in out
        got = json.loads(run(authz_server, scenario, "json"))["federatedReaders"]
        assert [f for f in got if f["role"] == role("any-idp")] == [
            {"kind": "federated", "provider": "*", "issuer": "*", "role": role("any-idp"),
             "statement": "0", "conditions": [], "anyToken": True, "providerExists": True,
             "conditional": False}]
        dot = run(authz_server, scenario, "dot")
        assert '  "tokens of any issuer" [label="any issuer", tooltip="tokens of any issuer", shape=diamond];\n' in dot
        assert (f'  "tokens of any issuer" -> "{role("any-idp")}" [label="AssumeRoleWithWebIdentity", '
                'tooltip="tokens of any issuer (\\"Principal\\": \\"*\\") can read, through role any-idp '
                '(statement 0)"];\n') in dot
    finally:
        root.iam.delete_role_policy(RoleName="any-idp", PolicyName="inline")
        root.iam.delete_role(RoleName="any-idp")


def test_snapshot_round_trip(authz_server, scenario, tmp_path):
    """`snapshot collect` against the running server reads the providers
    (ListOpenIDConnectProviders, GetOpenIDConnectProvider per ARN); the
    answer from the snapshot equals the store's, federated readers and the
    missing provider's note included."""
    from test_snapshot import collect
    out = tmp_path / "snap.json"
    p = collect(authz_server, out)
    assert p.returncode == 0, p.stderr
    snap = json.loads(out.read_text())
    oidc = snap["OpenIDConnectProviders"]
    assert sorted(x["Arn"] for x in oidc["ListOpenIDConnectProviders"]["OpenIDConnectProviderList"]) \
        == [parn(K8S), parn(GH)]
    assert oidc["Providers"][parn(GH)]["Url"] == GH
    assert oidc["Providers"][parn(GH)]["ClientIDList"] == ["sts.amazonaws.com"]
    for fmt in ("json", "text"):
        a = run(authz_server, scenario, fmt)
        p = authz_server.run_tresor("who-can-decrypt", scenario, "--snapshot", str(out), "--format", fmt)
        assert p.returncode == 0, p.stderr
        if fmt == "json":
            b = json.loads(p.stdout)
            assert b.pop("gaps") == []
            assert json.loads(a) == b
            assert len(b["federatedReaders"]) == 4
        else:
            assert p.stdout == a


def test_page_shows_federated_readers(authz_server, scenario, tmp_path):
    """--format html: the page lists the federated readers (issuer, role,
    statement, the "only if" of the token's claims), the missing
    provider's note and the any-token warning; its readers and filter are
    unchanged (the federated entries are not reader cards)."""
    from test_who_can_html import Dom, render, words
    page = tmp_path / "fed.html"
    page.write_text(run(authz_server, scenario, "html"))
    dom = render(page, tmp_path)
    assert {c["principal"] for c in dom.readers()} == {
        f"arn:aws:iam::{ACCOUNT}:root", role("gh-any"), role("gh-app"), role("gone-app"),
        role("k8s-app")}
    from test_who_can_html import chromium
    out, _ = chromium(page, tmp_path)
    text = words(" ".join(Dom(out).sections[0]["text"].split()))
    assert "Federated readers (tokens exchanged by sts:AssumeRoleWithWebIdentity)" in text
    assert (f"tokens of issuer {GH} federated through role {role('gh-app')} statement GitHubApp "
            f"only if {GH}:sub StringLike repo:org/app:* and {GH}:aud StringEquals sts.amazonaws.com"
            in text)
    assert f"Provider {parn(GONE)} does not exist: no token is accepted until it is created." in text
    assert (f"Role {role('gh-any')} trusts any token of issuer {GH}: statement AnyRepo sets no "
            "condition on the token's sub" in text)
    # The filter still narrows the reader cards.
    assert render(page, tmp_path, "filter=k8s-app").shown() == {role("k8s-app")}


def test_explain_a_provider(authz_server, scenario):
    """--explain PROVIDER_ARN: each federated reader of that provider, then
    its role's own steps (the path after the token exchange); JSON: the
    readers; a provider no reading role trusts: exit 2, saying so."""
    p = authz_server.run_tresor("who-can-decrypt", scenario, "--data-dir", authz_server.data_dir,
                                "--explain", parn(GH))
    assert p.returncode == 0, p.stderr
    parts = p.stdout.split("\nthen, as a session of the role:\n")
    assert len(parts) == 3
    assert parts[0] == (f"tokens of issuer {GH} whose aud matches sts.amazonaws.com (StringEquals) "
                        "can read, through role gh-any (statement AnyRepo)")
    assert parts[1].endswith(f"\n\ntokens of issuer {GH} whose sub matches repo:org/app:* (StringLike) "
                             f"and whose aud matches sts.amazonaws.com (StringEquals) can read, through "
                             f"role gh-app (statement GitHubApp)")
    assert parts[1].startswith(f"principal: {role('gh-any')}\nsecret:    {scenario}\n")
    assert parts[2].startswith(f"principal: {role('gh-app')}\nsecret:    {scenario}\n")
    assert "\nas itself:\n" in parts[2]
    j = authz_server.run_tresor("who-can-decrypt", scenario, "--data-dir", authz_server.data_dir,
                                "--explain", parn(GONE), "--format", "json")
    assert j.returncode == 0, j.stderr
    doc = json.loads(j.stdout)
    assert doc["provider"] == parn(GONE) and doc["secret"] == scenario
    assert [f["role"] for f in doc["federatedReaders"]] == [role("gone-app")]
    assert doc["federatedReaders"][0]["providerExists"] is False
    none = parn("nobody.example.com")
    n = authz_server.run_tresor("who-can-decrypt", scenario, "--data-dir", authz_server.data_dir,
                                "--explain", none)
    assert (n.returncode, n.stdout) == (2, "")
    assert n.stderr == f"tresor who-can-decrypt: no role that can read {scenario} trusts tokens of {none}\n"


def test_what_can_decrypt_a_provider(authz_server, scenario):
    """what-can-decrypt PROVIDER_ARN: the union over the roles that trust
    the provider -- every secret their tokens can read, each reader with
    its role, statement and conditions, as who-can-decrypt lists them."""
    p = authz_server.run_tresor("what-can-decrypt", parn(GH), "--data-dir", authz_server.data_dir,
                                "--format", "json")
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["provider"] == parn(GH)
    assert [s["secret"] for s in doc["secrets"]] == [scenario]
    readers = doc["secrets"][0]["federatedReaders"]
    assert sorted(f["role"] for f in readers) == [role("gh-any"), role("gh-app")]
    app = next(f for f in readers if f["role"] == role("gh-app"))
    assert app["statement"] == "GitHubApp" and app["anyToken"] is False
    assert {"key": f"{GH}:sub", "operator": "StringLike", "values": ["repo:org/app:*"]} in app["conditions"]
    assert next(f for f in readers if f["role"] == role("gh-any"))["anyToken"] is True
    # the same as who-can-decrypt's federated readers of that provider
    who = json.loads(run(authz_server, scenario, "json"))
    assert sorted(json.dumps(f, sort_keys=True) for f in who["federatedReaders"] if f["provider"] == parn(GH)) \
        == sorted(json.dumps(f, sort_keys=True) for f in readers)

    t = authz_server.run_tresor("what-can-decrypt", parn(GH), "--data-dir", authz_server.data_dir)
    assert t.returncode == 0, t.stderr
    lines = t.stdout.splitlines()
    assert lines[:3] == [f"secrets that tokens of {parn(GH)} can read, through the roles that trust it:", "",
                         f"secret: {scenario}"]
    assert sorted(lines[3:]) == sorted([
        f"  tokens of issuer {GH} whose aud matches sts.amazonaws.com (StringEquals) can read, through "
        "role gh-any (statement AnyRepo)",
        f"  tokens of issuer {GH} whose sub matches repo:org/app:* (StringLike) and whose aud matches "
        "sts.amazonaws.com (StringEquals) can read, through role gh-app (statement GitHubApp)"])

    # a provider that is gone: its roles' readers, with the note
    g = authz_server.run_tresor("what-can-decrypt", parn(GONE), "--data-dir", authz_server.data_dir)
    assert g.returncode == 0, g.stderr
    assert g.stdout.endswith(f"through role gone-app (statement 0)\n  (provider {parn(GONE)} does not exist: "
                             "no token is accepted until it is created)\n"), g.stdout
    # a provider no role trusts: nothing
    none = parn("nobody.example.com")
    n = authz_server.run_tresor("what-can-decrypt", none, "--data-dir", authz_server.data_dir)
    assert (n.returncode, n.stderr) == (0, "")
    assert n.stdout == f"secrets that tokens of {none} can read, through the roles that trust it:\n\n(none)\n"
    j = authz_server.run_tresor("what-can-decrypt", none, "--data-dir", authz_server.data_dir, "--format", "json")
    assert json.loads(j.stdout) == {"provider": none, "secrets": []}
    # html is for principals
    h = authz_server.run_tresor("what-can-decrypt", parn(GH), "--data-dir", authz_server.data_dir,
                                "--format", "html")
    assert (h.returncode, h.stdout) == (2, "")
    assert h.stderr == "tresor what-can-decrypt: an OpenID Connect provider's answer is text or json\n"


def test_dot_draws_federated_readers(authz_server, scenario):
    """--format dot: a node for each provider (dashed when the store no
    longer holds it) and an AssumeRoleWithWebIdentity edge to each role it
    reads through -- the same (provider, role) pairs as the JSON's
    federatedReaders, the statement in the edge's tooltip."""
    import re
    want = json.loads(run(authz_server, scenario, "json"))["federatedReaders"]
    dot = run(authz_server, scenario, "dot")
    edges = re.findall(r'^  "([^"]+)" -> "([^"]+)" \[label="AssumeRoleWithWebIdentity", tooltip="([^"]*)"(.*)\];$',
                       dot, re.M)
    assert sorted((p, r) for p, r, _, _ in edges) == sorted((f["provider"], f["role"]) for f in want)
    assert len(want) == 4
    for p, r, tip, _ in edges:
        f = next(x for x in want if (x["provider"], x["role"]) == (p, r))
        assert f"(statement {f['statement']})" in tip and f["issuer"] in tip
        assert re.search(rf'^  "{re.escape(r)}" \[label="role/{r.rsplit("/", 1)[1]}"', dot, re.M), r
    for host in (GH, K8S, GONE):
        attrs = "shape=diamond, style=dashed" if host == GONE else "shape=diamond"
        assert (f'  "{parn(host)}" [label="oidc-provider/{host}", tooltip="{parn(host)}", {attrs}];\n'
                in dot)
    assert dot.count(f'  "{parn(GH)}" [label=') == 1          # one node, two roles
    assert dot.rstrip().endswith("}")
