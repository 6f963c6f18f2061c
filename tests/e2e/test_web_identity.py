"""
AssumeRoleWithWebIdentity end to end (src/iam/sts_web.c, web_identity.c,
src/oidc/): tokens minted here with local RS256 and ES256 keys, their
JWKS given to the server with --oidc-jwks ISSUER=FILE; a Kubernetes-shaped
and a GitHub-shaped token each assume a role and read a secret with the
credentials; every way a token can be wrong, with AWS's error code and
message and the server's log line saying which check failed; the AWS CLI
with no credentials configured.
"""

import base64
import json
import os
import re
import subprocess
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tresor_e2e import (
    ACCOUNT, AWS_CLI, REGION, ROOT_ARN, TresorServer, allow, assume_role, eventually, make_role,
    make_user, raises_aws, unique,
)

K8S_ISS = "https://oidc.eks.us-east-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE"
GH_ISS = "https://token.actions.githubusercontent.com"
OTHER_ISS = "https://issuer.example.invalid"  # a provider whose keys tresor cannot get (.invalid never resolves)
AUD = "sts.amazonaws.com"
DENIED = "Not authorized to perform sts:AssumeRoleWithWebIdentity"
MALFORMED = ("The ID Token provided is not a valid JWT. (You may see this error if you sent an "
             "Access Token)")
INVALID = ("The web identity token that was passed could not be validated by AWS. Get a new "
           "identity token from the identity provider and then retry the request.")
KEY_MSG = ("Couldn't retrieve verification key from your identity provider,  please reference "
           "AssumeRoleWithWebIdentity documentation for requirements")


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def int_b64u(n, size=None):
    size = size or (n.bit_length() + 7) // 8
    return b64u(n.to_bytes(size, "big"))


class Signer:
    def __init__(self, alg, kid):
        self.alg, self.kid = alg, kid
        if alg == "RS256":
            self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pn = self.key.public_key().public_numbers()
            self.jwk = {"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
                        "n": int_b64u(pn.n), "e": int_b64u(pn.e)}
        else:
            self.key = ec.generate_private_key(ec.SECP256R1())
            pn = self.key.public_key().public_numbers()
            self.jwk = {"kty": "EC", "kid": kid, "use": "sig", "alg": "ES256", "crv": "P-256",
                        "x": int_b64u(pn.x, 32), "y": int_b64u(pn.y, 32)}

    def sign(self, data):
        if self.alg == "RS256":
            return self.key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        r, s = decode_dss_signature(self.key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def token(self, claims, header=None):
        h = {"alg": self.alg, "typ": "JWT", "kid": self.kid}
        h.update(header or {})
        signing = (b64u(json.dumps(h).encode()) + "." + b64u(json.dumps(claims).encode())).encode()
        return signing.decode() + "." + b64u(self.sign(signing))


def claims(iss, sub, aud=AUD, **extra):
    now = int(time.time())
    c = {"iss": iss, "sub": sub, "aud": aud, "iat": now, "nbf": now - 5, "exp": now + 600}
    c.update(extra)
    return c


K8S_SUB = "system:serviceaccount:payments:api"
GH_SUB = "repo:org/app:ref:refs/heads/main"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp("web-identity")
    k8s, gh = Signer("RS256", "k8s-1"), Signer("ES256", "gh-1")
    (d / "k8s.json").write_text(json.dumps({"keys": [k8s.jwk]}))
    (d / "gh.json").write_text(json.dumps({"keys": [gh.jwk]}))
    srv = TresorServer("web", d)
    srv.start(args=["--oidc-jwks", f"{K8S_ISS}={d / 'k8s.json'}",
                    "--oidc-jwks", f"{GH_ISS}={d / 'gh.json'}"])
    root = srv.root_user
    iam = root.iam
    arns = {}
    for iss in (K8S_ISS, GH_ISS, OTHER_ISS):
        arns[iss] = iam.create_open_id_connect_provider(
            Url=iss, ClientIDList=[AUD], ThumbprintList=["a" * 40])["OpenIDConnectProviderArn"]
    sm = root.client("secretsmanager")
    secret = sm.create_secret(Name=unique("db"), SecretString="s3cr3t")["ARN"]
    read = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret}]}

    def role(iss, cond, action="sts:AssumeRoleWithWebIdentity", name=None):
        st = {"Effect": "Allow", "Principal": {"Federated": arns[iss]}, "Action": action}
        if cond:
            st["Sid"] = "WorkloadOnly"
            st["Condition"] = cond
        return make_role(root, name, trust={"Version": "2012-10-17", "Statement": [st]},
                         policy=read)["Arn"]

    host = {i: i[len("https://"):] for i in arns}
    roles = {
        "k8s": role(K8S_ISS, {"StringEquals": {f"{host[K8S_ISS]}:aud": AUD},
                              "StringLike": {f"{host[K8S_ISS]}:sub": "system:serviceaccount:payments:*"}}),
        "gh": role(GH_ISS, {"StringEquals": {f"{host[GH_ISS]}:aud": AUD},
                            "StringLike": {f"{host[GH_ISS]}:sub": "repo:org/app:*"}}),
        "gh_tags": role(GH_ISS, None, action=["sts:AssumeRoleWithWebIdentity", "sts:TagSession"]),
    }
    yield {"srv": srv, "k8s": k8s, "gh": gh, "arns": arns, "roles": roles, "secret": secret,
           "dir": d}
    srv.close()


def anon_sts(srv):
    from botocore import UNSIGNED
    from botocore.config import Config
    import boto3
    return boto3.session.Session().client(
        "sts", region_name=REGION, endpoint_url=srv.endpoint,
        config=Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1},
                      parameter_validation=False))


def assume(env, role, token, **kw):
    return anon_sts(env["srv"]).assume_role_with_web_identity(
        RoleArn=env["roles"].get(role, role), RoleSessionName=kw.pop("session", "workload"),
        WebIdentityToken=token, **kw)


def log_has(srv, pattern):
    def check():
        text = srv.stderr_text()
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        assert re.search(pattern, text), f"no log line matching {pattern!r}"
    eventually(check, timeout=3)


def read_secret(env, creds):
    sm = env["srv"].client("secretsmanager", creds["AccessKeyId"], creds["SecretAccessKey"],
                           creds["SessionToken"])
    return sm.get_secret_value(SecretId=env["secret"])["SecretString"]


def test_kubernetes_token_assumes_and_reads(env):
    r = assume(env, "k8s", env["k8s"].token(claims(K8S_ISS, K8S_SUB)))
    role_name = env["roles"]["k8s"].split("/")[-1]
    assert r["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{ACCOUNT}:assumed-role/{role_name}/workload"
    assert r["AssumedRoleUser"]["AssumedRoleId"].startswith("AROA")
    assert r["SubjectFromWebIdentityToken"] == K8S_SUB
    assert r["Provider"] == K8S_ISS
    assert r["Audience"] == AUD
    assert read_secret(env, r["Credentials"]) == "s3cr3t"
    sts = env["srv"].client("sts", r["Credentials"]["AccessKeyId"], r["Credentials"]["SecretAccessKey"],
                            r["Credentials"]["SessionToken"])
    assert sts.get_caller_identity()["Arn"] == r["AssumedRoleUser"]["Arn"]


def test_github_token_es256_assumes_and_reads(env):
    r = assume(env, "gh", env["gh"].token(claims(GH_ISS, GH_SUB)), DurationSeconds=900)
    assert r["SubjectFromWebIdentityToken"] == GH_SUB
    assert read_secret(env, r["Credentials"]) == "s3cr3t"


def test_condition_refuses_sub(env):
    sub = "repo:evil/app:ref:refs/heads/main"
    with raises_aws("AccessDenied", DENIED, status=403):
        assume(env, "gh", env["gh"].token(claims(GH_ISS, sub)))
    log_has(env["srv"], r"AssumeRoleWithWebIdentity refused: .*sub " + re.escape(sub) +
            r", check trust: .*statement 0 \(WorkloadOnly\): StringLike token\.actions\."
            r"githubusercontent\.com:sub \"repo:org/app:\*\" does not hold for the token's " +
            re.escape(sub))


def test_wrong_provider_for_role(env):
    # a Kubernetes token for the GitHub role: no statement names its provider
    with raises_aws("AccessDenied", DENIED, status=403):
        assume(env, "gh", env["k8s"].token(claims(K8S_ISS, K8S_SUB)))
    log_has(env["srv"], r"check trust: .*no statement names this provider")


def test_bad_signature(env):
    tok = env["k8s"].token(claims(K8S_ISS, K8S_SUB))
    head, body, sig = tok.split(".")
    raw = bytearray(base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4)))
    raw[10] ^= 1
    with raises_aws("InvalidIdentityToken", INVALID):
        assume(env, "k8s", f"{head}.{body}.{b64u(bytes(raw))}")
    log_has(env["srv"], r"sub system:serviceaccount:payments:api, check signature: signature does not verify")


def test_key_of_another_issuer(env):
    # signed by the GitHub key but claiming the Kubernetes issuer
    tok = env["gh"].token(claims(K8S_ISS, K8S_SUB), header={"kid": "k8s-1"})
    with raises_aws("InvalidIdentityToken"):
        assume(env, "k8s", tok)
    log_has(env["srv"], r"check (signature|key)")


def test_unknown_kid(env):
    with raises_aws("InvalidIdentityToken", KEY_MSG):
        assume(env, "k8s", env["k8s"].token(claims(K8S_ISS, K8S_SUB), header={"kid": "rotated"}))
    log_has(env["srv"], r"check kid: no key with the token's kid")


def test_unknown_issuer(env):
    iss = "https://unknown.example.net"
    with raises_aws("InvalidIdentityToken", f"No OpenIDConnect provider found in your account for {iss}"):
        assume(env, "k8s", env["k8s"].token(claims(iss, K8S_SUB)))
    log_has(env["srv"], r"iss https://unknown\.example\.net, .*check issuer")


def test_keys_unavailable(env):
    with raises_aws("IDPCommunicationError", KEY_MSG):
        assume(env, "k8s", env["k8s"].token(claims(OTHER_ISS, K8S_SUB)))
    log_has(env["srv"], r"check keys: no keys for issuer\.example\.invalid")


def test_wrong_audience(env):
    with raises_aws("InvalidIdentityToken", "Incorrect token audience"):
        assume(env, "k8s", env["k8s"].token(claims(K8S_ISS, K8S_SUB, aud="someone-else")))
    log_has(env["srv"], r"check audience: aud \"someone-else\" is none of the provider's client ids")


def test_audience_list(env):
    r = assume(env, "k8s", env["k8s"].token(claims(K8S_ISS, K8S_SUB, aud=["x", AUD])))
    assert r["Audience"] == AUD


def test_expired(env):
    c = claims(K8S_ISS, K8S_SUB)
    c["exp"] = c["iat"] - 100
    with raises_aws("ExpiredTokenException",
                    startswith="Token expired: current date/time ") as ei:
        assume(env, "k8s", env["k8s"].token(c))
    msg = ei.value.response["Error"]["Message"]
    assert re.fullmatch(r"Token expired: current date/time \d+ must be before the expiration "
                        rf"date/time{c['exp']}", msg), msg
    log_has(env["srv"], r"check expiry: exp \d+ is not after now")


def test_not_yet_valid(env):
    c = claims(K8S_ISS, K8S_SUB)
    c["nbf"] = c["iat"] + 3600
    with raises_aws("InvalidIdentityToken", INVALID):
        assume(env, "k8s", env["k8s"].token(c))
    log_has(env["srv"], r"check expiry: nbf \d+ is more than 300 s after now")


@pytest.mark.parametrize("token,why", [
    ("abcd", "not three dot-separated parts"),
    ("e30.e30.e30.e30", "not three dot-separated parts"),
    (b64u(b"not json") + "." + b64u(b"{}") + ".AAAA", "header or payload"),
    (b64u(b'{"alg":"none"}') + "." + b64u(b'{"iss":"x"}') + ".", "algorithm none"),
    (b64u(b'{"alg":"HS256","kid":"k8s-1"}') + "." + b64u(b'{"iss":"x"}') + ".AAAA", "algorithm HS256"),
])
def test_malformed(env, token, why):
    with raises_aws("InvalidIdentityToken", MALFORMED):
        assume(env, "k8s", token)
    log_has(env["srv"], r"check (format|size): " + re.escape(why))


def test_validation(env):
    tok = env["k8s"].token(claims(K8S_ISS, K8S_SUB))
    with raises_aws("ValidationError", contains="roleSessionName"):
        assume(env, "k8s", tok, session="x")
    with raises_aws("ValidationError", contains="webIdentityToken"):
        assume(env, "k8s", "abc")
    with raises_aws("ValidationError", contains="durationSeconds"):
        assume(env, "k8s", tok, DurationSeconds=60)
    with raises_aws("ValidationError",
                    "The requested DurationSeconds exceeds the MaxSessionDuration set for this role."):
        assume(env, "k8s", tok, DurationSeconds=7200)
    with raises_aws("MalformedPolicyDocument"):
        assume(env, "k8s", tok, Policy="{not json")


def test_unknown_role(env):
    role = f"arn:aws:iam::{ACCOUNT}:role/{unique('none')}"
    with raises_aws("AccessDenied", DENIED, status=403):
        assume(env, role, env["k8s"].token(claims(K8S_ISS, K8S_SUB)))


def test_session_tags_from_token(env):
    c = claims(GH_ISS, GH_SUB, **{"https://aws.amazon.com/tags": {
        "principal_tags": {"team": ["payments"]}, "transitive_tag_keys": ["team"]}})
    r = assume(env, "gh_tags", env["gh"].token(c))
    assert r["PackedPolicySize"] >= 1
    # the gh role's trust lacks sts:TagSession: tags refuse it
    with raises_aws("AccessDenied", DENIED, status=403):
        assume(env, "gh", env["gh"].token(c))


def assume_with_extra(env, role, token, extra):
    """AssumeRoleWithWebIdentity with query parameters its shape does not
    have (boto3 would not send them): added to the body before signing."""
    sts = anon_sts(env["srv"])

    def add(params, **kw):
        params["body"].update(extra)
    sts.meta.events.register("before-call.sts.AssumeRoleWithWebIdentity", add)
    return sts.assume_role_with_web_identity(RoleArn=env["roles"][role], RoleSessionName="workload",
                                             WebIdentityToken=token)


@pytest.mark.parametrize("extra", [
    # session tags in the request: the gh role's trust lacks sts:TagSession
    {"Tags.member.1.Key": "team", "Tags.member.1.Value": "payments",
     "TransitiveTagKeys.member.1": "team"},
    {"ExternalId": "x"},                          # shorter than AssumeRole allows
    {"SerialNumber": "arn:aws:iam::111122223333:mfa/u"},   # without TokenCode
    {"TokenCode": "12"},
    {"SourceIdentity": "aws:bad"},
    {"Unknown": "1"},
])
def test_assume_role_only_parameters_ignored(env, extra):
    """Only the members of AssumeRoleWithWebIdentity's shape are read;
    AssumeRole's others are ignored like any unknown query parameter."""
    r = assume_with_extra(env, "gh", env["gh"].token(claims(GH_ISS, GH_SUB)), extra)
    assert r["SubjectFromWebIdentityToken"] == GH_SUB
    assert "PackedPolicySize" not in r and "SourceIdentity" not in r, r
    sts = env["srv"].client("sts", r["Credentials"]["AccessKeyId"], r["Credentials"]["SecretAccessKey"],
                            r["Credentials"]["SessionToken"])
    assert sts.get_caller_identity()["Arn"] == r["AssumedRoleUser"]["Arn"]


def test_request_tags_are_not_session_tags(env):
    """A role whose trust allows sts:TagSession: tags in the request do not
    become session tags (the token's tags claim is their only source)."""
    r = assume_with_extra(env, "gh_tags", env["gh"].token(claims(GH_ISS, GH_SUB)),
                          {"Tags.member.1.Key": "team", "Tags.member.1.Value": "payments"})
    assert "PackedPolicySize" not in r, r
    # the session's requests carry no aws:PrincipalTag/team
    sm = env["srv"].client("secretsmanager", r["Credentials"]["AccessKeyId"],
                           r["Credentials"]["SecretAccessKey"], r["Credentials"]["SessionToken"])
    assert sm.get_secret_value(SecretId=env["secret"])["SecretString"] == "s3cr3t"


def federated_only_env(env, how):
    """A role that both a GitHub token and the account's users (AssumeRole)
    may assume, and a secret readable only with aws:FederatedProvider = the
    GitHub provider, through the secret's resource policy (how="resource")
    or the role's identity policy (how="identity")."""
    root = env["srv"].root_user
    sm = root.client("secretsmanager")
    gh = env["arns"][GH_ISS]
    secret = sm.create_secret(Name=unique("fed"), SecretString="fed-only")["ARN"]
    cond = {"StringEquals": {"aws:FederatedProvider": gh}}
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Federated": gh}, "Action": "sts:AssumeRoleWithWebIdentity"},
        {"Effect": "Allow", "Principal": {"AWS": ROOT_ARN}, "Action": "sts:AssumeRole"}]}
    st = {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret,
          "Condition": cond}
    role = make_role(root, trust=trust,
                     policy=[st] if how == "identity" else None)["Arn"]
    if how == "resource":
        sm.put_resource_policy(SecretId=secret, ResourcePolicy=json.dumps(
            {"Version": "2012-10-17", "Statement": [dict(st, Principal={"AWS": role}, Resource="*")]}))
    return role, secret


@pytest.mark.parametrize("how", ["resource", "identity"])
def test_federated_provider_on_the_sessions_requests(env, how):
    role, secret = federated_only_env(env, how)
    r = assume(env, role, env["gh"].token(claims(GH_ISS, GH_SUB)))
    c = r["Credentials"]
    sm = env["srv"].client("secretsmanager", c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    assert sm.get_secret_value(SecretId=secret)["SecretString"] == "fed-only"
    # The same role by AssumeRole: no aws:FederatedProvider, no access.
    user = make_user(env["srv"].root_user, policy=[allow("sts:AssumeRole", role)])
    plain = assume_role(user, role, "plain")
    who = f"arn:aws:sts::{ACCOUNT}:assumed-role/{role.split('/')[-1]}/plain"
    with raises_aws("AccessDeniedException", startswith=f"User: {who} is not authorized to perform: "
                    f"secretsmanager:GetSecretValue on resource: {secret}"):
        plain.client("secretsmanager").get_secret_value(SecretId=secret)


SI_CLAIM = "https://aws.amazon.com/source_identity"
REJECTED = "The source identity claim of the web identity token is not a valid source identity."


@pytest.fixture(scope="module")
def si_role(env):
    """A role whose trust lets GitHub tokens set source identity "alice"
    only, and whose policy reads the secret only with aws:SourceIdentity
    "alice" (the session's later requests)."""
    st = {"Effect": "Allow", "Principal": {"Federated": env["arns"][GH_ISS]},
          "Action": ["sts:AssumeRoleWithWebIdentity", "sts:SetSourceIdentity"],
          "Condition": {"StringEquals": {"sts:SourceIdentity": "alice"}}}
    read = {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": env["secret"],
            "Condition": {"StringEquals": {"aws:SourceIdentity": "alice"}}}
    return make_role(env["srv"].root_user, trust={"Version": "2012-10-17", "Statement": [st]},
                     policy=[read])["Arn"]


def test_source_identity_claim(env, si_role):
    r = assume(env, si_role, env["gh"].token(claims(GH_ISS, GH_SUB, **{SI_CLAIM: "alice"})))
    assert r["SourceIdentity"] == "alice"
    assert read_secret(env, r["Credentials"]) == "s3cr3t"
    # sts:SourceIdentity in the trust decision: another value is refused
    with raises_aws("AccessDenied", DENIED, status=403):
        assume(env, si_role, env["gh"].token(claims(GH_ISS, GH_SUB, **{SI_CLAIM: "bob"})))
    # without the claim the condition on sts:SourceIdentity fails too
    with raises_aws("AccessDenied", DENIED, status=403):
        assume(env, si_role, env["gh"].token(claims(GH_ISS, GH_SUB)))


def test_source_identity_needs_set_source_identity(env):
    # the gh_tags role's trust allows AssumeRoleWithWebIdentity and
    # TagSession, not sts:SetSourceIdentity
    tok = env["gh"].token(claims(GH_ISS, GH_SUB, **{SI_CLAIM: "alice"}))
    with raises_aws("AccessDenied", DENIED, status=403):
        assume(env, "gh_tags", tok)
    log_has(env["srv"], r"check trust: .*refuses sts:SetSourceIdentity")
    r = assume(env, "gh_tags", env["gh"].token(claims(GH_ISS, GH_SUB)))
    assert "SourceIdentity" not in r


@pytest.mark.parametrize("value", ["a", "x" * 65, "aws:alice", "has space", 42, ["alice"], None])
def test_source_identity_claim_rejected(env, si_role, value):
    tok = env["gh"].token(claims(GH_ISS, GH_SUB, **{SI_CLAIM: value}))
    with raises_aws("IDPRejectedClaim", REJECTED, status=403):
        assume(env, si_role, tok)
    log_has(env["srv"], r"check source_identity: the https://aws\.amazon\.com/source_identity claim "
            r"is not 2\.\.64 characters")


def test_source_identity_claim_cli(env, si_role):
    srv = env["srv"]
    e = srv.cli_env()
    e.update({"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent",
              "AWS_DEFAULT_REGION": REGION})

    def cli(value):
        tok = env["gh"].token(claims(GH_ISS, GH_SUB, **{SI_CLAIM: value}))
        return subprocess.run([AWS_CLI, "--endpoint-url", srv.endpoint, "--output", "json", "sts",
                               "assume-role-with-web-identity", "--role-arn", si_role,
                               "--role-session-name", "cli", "--web-identity-token", tok],
                              env=e, capture_output=True, text=True, timeout=60)
    p = cli("alice")
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["SourceIdentity"] == "alice"
    p = cli("aws:alice")
    assert p.returncode == 254
    assert ("An error occurred (IDPRejectedClaim) when calling the AssumeRoleWithWebIdentity "
            "operation: " + REJECTED) in p.stderr


def test_other_operations_stay_signed(env):
    from botocore.exceptions import ClientError
    sts = anon_sts(env["srv"])
    with pytest.raises(ClientError) as ei:
        sts.get_caller_identity()
    assert ei.value.response["Error"]["Code"] == "MissingAuthenticationToken"
    with pytest.raises(ClientError) as ei:
        sts.assume_role(RoleArn=env["roles"]["k8s"], RoleSessionName="xx")
    assert ei.value.response["Error"]["Code"] == "MissingAuthenticationToken"


def test_aws_cli_without_credentials(env):
    srv = env["srv"]
    tok = env["k8s"].token(claims(K8S_ISS, K8S_SUB))
    e = srv.cli_env()
    e.update({"AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", "AWS_CONFIG_FILE": "/nonexistent",
              "AWS_DEFAULT_REGION": REGION})
    p = subprocess.run([AWS_CLI, "--endpoint-url", srv.endpoint, "--output", "json", "sts",
                        "assume-role-with-web-identity", "--role-arn", env["roles"]["k8s"],
                        "--role-session-name", "cli", "--web-identity-token", tok],
                       env=e, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["SubjectFromWebIdentityToken"] == K8S_SUB
    assert out["AssumedRoleUser"]["Arn"].endswith("/cli")
    p = subprocess.run([AWS_CLI, "--endpoint-url", srv.endpoint, "--output", "json", "sts",
                        "assume-role-with-web-identity", "--role-arn", env["roles"]["gh"],
                        "--role-session-name", "cli", "--web-identity-token", tok],
                       env=e, capture_output=True, text=True, timeout=60)
    assert p.returncode == 254
    assert ("An error occurred (AccessDenied) when calling the AssumeRoleWithWebIdentity operation: "
            + DENIED) in p.stderr


def simulate(env, role, token):
    f = env["dir"] / f"token-{os.urandom(4).hex()}"
    f.write_text(token + "\n")
    keys = f"{K8S_ISS}={env['dir'] / 'k8s.json'},{GH_ISS}={env['dir'] / 'gh.json'}"
    return env["srv"].run_tresor("policy", "simulate", "--data-dir", env["srv"].data_dir,
                                 "--web-identity-token", f, "--role", env["roles"].get(role, role),
                                 env_extra={"TRESOR_OIDC_JWKS": keys})


def test_simulate_allowed(env):
    p = simulate(env, "gh", env["gh"].token(claims(GH_ISS, GH_SUB)))
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.startswith(f"allowed: {env['arns'][GH_ISS]} assumes {env['roles']['gh']}")


def test_simulate_explains_condition(env):
    sub = "repo:evil/app:ref:refs/heads/main"
    p = simulate(env, "gh", env["gh"].token(claims(GH_ISS, sub)))
    assert p.returncode == 1, p.stdout + p.stderr
    assert p.stdout.startswith(f"denied: AccessDenied: {DENIED}\n  check trust: "), p.stdout
    assert ('statement 0 (WorkloadOnly): StringLike token.actions.githubusercontent.com:sub '
            f'"repo:org/app:*" does not hold for the token\'s {sub}') in p.stdout


def test_simulate_explains_token_checks(env):
    p = simulate(env, "k8s", env["k8s"].token(claims(K8S_ISS, K8S_SUB, aud="other")))
    assert p.returncode == 1
    assert p.stdout.startswith("denied: InvalidIdentityToken: Incorrect token audience\n  check audience: ")
    c = claims(K8S_ISS, K8S_SUB)
    c["exp"] = c["iat"] - 10
    p = simulate(env, "k8s", env["k8s"].token(c))
    assert p.returncode == 1
    assert "denied: ExpiredTokenException: Token expired: current date/time" in p.stdout
    assert "check expiry: exp " in p.stdout


def test_check_and_backup_keep_providers(env, tresor_factory, tmp_path):
    """tresor check is clean with providers and web identity sessions in the
    store, and a backup restored elsewhere still serves the provider."""
    import shutil
    srv = env["srv"]
    assume(env, "k8s", env["k8s"].token(claims(K8S_ISS, K8S_SUB)))
    p = srv.run_tresor("check", "--data-dir", srv.data_dir)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.strip().endswith("clean")
    if os.environ.get("TRESOR_E2E_STORE") == "postgres":
        return      # tresor backup copies a SQLite store
    out = tmp_path / "snap.tresor-backup"
    p = srv.run_tresor("backup", "--data-dir", srv.data_dir, "--out", out, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    key = tmp_path / "root.key"
    shutil.copy(srv.data_dir / "root.key", key)
    os.chmod(key, 0o600)
    new = tresor_factory("web-restored", start=False)
    p = new.run_tresor("restore", out, "--data-dir", new.data_dir, "--root-key", key, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "check clean" in p.stdout
