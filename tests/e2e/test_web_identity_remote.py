"""
AssumeRoleWithWebIdentity with the issuer's keys fetched over HTTPS
(src/oidc/remote.c behind src/oidc/keys.c): a local issuer on loopback
(oidc_issuer.py) under a private CA given with --oidc-ca-file serves its
discovery document and JWKS; tokens signed with its keys assume a role and
read a secret; the keys are fetched once and then come from the cache; a
token signed with a rotated key makes one more fetch; an issuer no OIDC
provider names is never fetched from; an issuer whose certificate the CA
file does not vouch for gives IDPCommunicationError.
"""

import json
import time

import pytest

from oidc_issuer import OidcIssuer, SigningKey
from tresor_e2e import eventually, make_role, raises_aws, unique
from test_web_identity import AUD, KEY_MSG, anon_sts, log_has

SUB = "repo:org/app:ref:refs/heads/main"


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    issuer = OidcIssuer(tmp_path_factory.mktemp("issuer")).start()
    issuer.add("ci", cache_control="max-age=3600")
    issuer.add("unregistered")
    untrusted = OidcIssuer(tmp_path_factory.mktemp("untrusted")).start()   # its own CA, not given
    untrusted.add("ci")
    from tresor_e2e import TresorServer
    srv = TresorServer("web-remote", tmp_path_factory.mktemp("tresor-web-remote"))
    srv.start(args=["--oidc-ca-file", str(issuer.ca_pem)])
    root = srv.root_user
    sm = root.client("secretsmanager")
    secret = sm.create_secret(Name=unique("db"), SecretString="fetched-keys")["ARN"]
    roles = {}
    for name, iss in (("ci", issuer.issuer("ci")), ("untrusted", untrusted.issuer("ci"))):
        arn = root.iam.create_open_id_connect_provider(Url=iss, ClientIDList=[AUD])["OpenIDConnectProviderArn"]
        host = iss[len("https://"):]
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": arn}, "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{host}:aud": AUD}, "StringLike": {f"{host}:sub": "repo:org/app:*"}}}]}
        roles[name] = make_role(root, trust=trust, policy={"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret}]})["Arn"]
    yield {"srv": srv, "issuer": issuer, "untrusted": untrusted, "roles": roles, "secret": secret}
    srv.close()
    issuer.stop()
    untrusted.stop()


def assume(env, role, token):
    return anon_sts(env["srv"]).assume_role_with_web_identity(
        RoleArn=env["roles"][role], RoleSessionName="job", WebIdentityToken=token)


def read(env, creds):
    sm = env["srv"].client("secretsmanager", creds["AccessKeyId"], creds["SecretAccessKey"],
                           creds["SessionToken"])
    return sm.get_secret_value(SecretId=env["secret"])["SecretString"]


def test_fetched_keys_verify_and_are_cached(env):
    o = env["issuer"]
    r = assume(env, "ci", o.token("ci", {"sub": SUB, "aud": AUD}))
    assert r["Provider"] == o.issuer("ci")
    assert r["SubjectFromWebIdentityToken"] == SUB
    assert read(env, r["Credentials"]) == "fetched-keys"
    assert o.count("/ci/.well-known/openid-configuration") == 1
    assert o.count("/ci/jwks") == 1
    for _ in range(3):                  # max-age=3600: from the cache
        assume(env, "ci", o.token("ci", {"sub": SUB, "aud": AUD}))
    assert o.count("/ci/jwks") == 1


def test_rotated_key_fetched_once_more(env):
    o = env["issuer"]
    assume(env, "ci", o.token("ci", {"sub": SUB, "aud": AUD}))       # the old key is cached
    before = o.count("/ci/jwks")
    new = SigningKey("key-2")
    o.issuers["ci"].keys = [new, o.default_key]

    # An unknown kid refetches the set, at most once per 10 s per issuer:
    # right after the last fetch the token may be refused, then it passes.
    def passes():
        r = assume(env, "ci", o.token("ci", {"sub": SUB, "aud": AUD}, key=new))
        assert read(env, r["Credentials"]) == "fetched-keys"
    eventually(passes, timeout=30)
    assert o.count("/ci/jwks") > before


def test_issuer_without_provider_is_never_fetched(env):
    o = env["issuer"]
    iss = o.issuer("unregistered")
    with raises_aws("InvalidIdentityToken", f"No OpenIDConnect provider found in your account for {iss}"):
        assume(env, "ci", o.token("unregistered", {"sub": SUB, "aud": AUD}))
    assert o.count("/unregistered/.well-known/openid-configuration") == 0
    assert o.count("/unregistered/jwks") == 0


def test_untrusted_certificate_gives_idp_communication_error(env):
    u = env["untrusted"]
    with raises_aws("IDPCommunicationError", KEY_MSG):
        assume(env, "untrusted", u.token("ci", {"sub": SUB, "aud": AUD}))
    assert u.count("/ci/jwks") == 0
    log_has(env["srv"], r"check keys")
