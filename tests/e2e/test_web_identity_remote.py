"""
AssumeRoleWithWebIdentity with the issuer's keys fetched over HTTPS
(src/oidc/remote.c behind src/oidc/keys.c): a local issuer on loopback
(oidc_issuer.py) under a private CA given with --oidc-ca-file serves its
discovery document and JWKS; tokens signed with its keys assume a role and
read a secret; the keys are fetched once and then come from the cache; a
token signed with a rotated key makes one more fetch; an issuer no OIDC
provider names is never fetched from; an issuer whose certificate the CA
file does not vouch for gives IDPCommunicationError; with
--oidc-allowed-issuers, an issuer off the list is never fetched from, and
an admitted one's jwks_uri or redirect to a host off the list is refused.
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


# ---- --oidc-allowed-issuers ----------------------------------------------

def allow_env(tmp_path_factory, name, args_of):
    """A server of its own, started with the flags and environment
    args_of(issuer) gives, whose account has OIDC providers for the local
    issuer's "ci" and "other" (the same host, two issuers), and a role for
    each."""
    issuer = OidcIssuer(tmp_path_factory.mktemp(f"issuer-{name}")).start()
    issuer.add("ci")
    issuer.add("other")
    from tresor_e2e import TresorServer
    srv = TresorServer(name, tmp_path_factory.mktemp(f"tresor-{name}"))
    args, env_extra = args_of(issuer)
    srv.start(args=["--oidc-ca-file", str(issuer.ca_pem), *args], env_extra=env_extra)
    root = srv.root_user
    sm = root.client("secretsmanager")
    secret = sm.create_secret(Name=unique("db"), SecretString="allowed")["ARN"]
    roles = {}
    for n in ("ci", "other"):
        arn = root.iam.create_open_id_connect_provider(Url=issuer.issuer(n), ClientIDList=[AUD])[
            "OpenIDConnectProviderArn"]
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": arn}, "Action": "sts:AssumeRoleWithWebIdentity"}]}
        roles[n] = make_role(root, trust=trust, policy={"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret}]})["Arn"]
    return {"srv": srv, "issuer": issuer, "roles": roles, "secret": secret}


def close(e):
    e["srv"].close()
    e["issuer"].stop()


@pytest.fixture(scope="module")
def allow_url(tmp_path_factory):
    """--oidc-allowed-issuers naming the "ci" issuer's URL (with a trailing
    slash, which does not matter) and an unrelated host pattern."""
    e = allow_env(tmp_path_factory, "allow-url", lambda o: (
        ["--oidc-allowed-issuers", o.issuer("ci") + "/,*.corp.example"], None))
    yield e
    close(e)


def test_allowed_issuer_is_fetched(allow_url):
    o = allow_url["issuer"]
    r = assume(allow_url, "ci", o.token("ci", {"sub": SUB, "aud": AUD}))
    assert r["Provider"] == o.issuer("ci")
    assert read(allow_url, r["Credentials"]) == "allowed"
    assert o.count("/ci/jwks") == 1


def test_issuer_not_allowed_is_refused_before_any_fetch(allow_url):
    """The "other" issuer has an OIDC provider in the account but is not in
    the list: AWS's answer for keys it cannot retrieve, and no request to
    the issuer at all."""
    o = allow_url["issuer"]
    for _ in range(2):
        with raises_aws("IDPCommunicationError", KEY_MSG):
            assume(allow_url, "other", o.token("other", {"sub": SUB, "aud": AUD}))
    assert o.count("/other/.well-known/openid-configuration") == 0
    assert o.count("/other/jwks") == 0
    log_has(allow_url["srv"], r"check keys: no keys for .*the issuer is not in --oidc-allowed-issuers")


def test_allowed_host_pattern_from_environment(tmp_path_factory):
    """TRESOR_OIDC_ALLOWED_ISSUERS with a HOST:PORT pattern admits every
    issuer of that host and port; a pattern without the port (443) does
    not."""
    e = allow_env(tmp_path_factory, "allow-host", lambda o: (
        [], {"TRESOR_OIDC_ALLOWED_ISSUERS": f"localhost:{o.port}"}))
    o = e["issuer"]
    try:
        for n in ("ci", "other"):
            r = assume(e, n, o.token(n, {"sub": SUB, "aud": AUD}))
            assert read(e, r["Credentials"]) == "allowed"
        e["srv"].stop_clean()
        before = len(o.requests)
        e["srv"].start(args=["--oidc-ca-file", str(o.ca_pem)],
                       env_extra={"TRESOR_OIDC_ALLOWED_ISSUERS": "localhost"})
        with raises_aws("IDPCommunicationError", KEY_MSG):
            assume(e, "ci", o.token("ci", {"sub": SUB, "aud": AUD}))
        assert len(o.requests) == before
    finally:
        close(e)


def test_allowed_issuer_cannot_send_the_server_elsewhere(tmp_path_factory):
    """With a list, an admitted issuer's jwks_uri on another host, or a
    redirect of its jwks_uri to another host, is refused like an issuer
    off the list: IDPCommunicationError, the reason in the log, and no
    request to the other host (127.0.0.1 is not localhost to the list)."""
    e = allow_env(tmp_path_factory, "allow-jwks", lambda o: (
        ["--oidc-allowed-issuers", f"localhost:{o.port}"], None))
    o = e["issuer"]
    try:
        o.issuers["ci"].jwks_uri = f"https://127.0.0.1:{o.port}/ci/jwks"
        o.issuers["other"].jwks_redirect = f"https://127.0.0.1:{o.port}/ci/jwks"
        for n in ("ci", "other"):
            with raises_aws("IDPCommunicationError", KEY_MSG):
                assume(e, n, o.token(n, {"sub": SUB, "aud": AUD}))
        assert o.count("/ci/.well-known/openid-configuration") == 1
        assert o.count("/ci/jwks") == 0
        assert o.count("/other/jwks") == 1
        log_has(e["srv"], r"refusing its keys: its jwks_uri https://127\.0\.0\.1:\d+/ci/jwks is on a host "
                r"--oidc-allowed-issuers does not admit")
        log_has(e["srv"], r"/other/jwks: redirected to https://127\.0\.0\.1:\d+/ci/jwks, which "
                r"--oidc-allowed-issuers does not admit")
    finally:
        close(e)


@pytest.mark.parametrize("how", ["flag", "env"])
def test_bad_allow_list_refuses_to_start(tmp_path, how):
    import os
    import subprocess
    from tresor_e2e import tresor_bin
    args = [str(tresor_bin()), "serve", "--data-dir", str(tmp_path / "d"), "--listen", "127.0.0.1:1"]
    env = dict(os.environ)
    env.pop("TRESOR_OIDC_ALLOWED_ISSUERS", None)
    if how == "flag":
        args += ["--oidc-allowed-issuers", "ok.example,https://u@x.example/"]
        src = "--oidc-allowed-issuers"
    else:
        env["TRESOR_OIDC_ALLOWED_ISSUERS"] = "ok.example,https://u@x.example/"
        src = "TRESOR_OIDC_ALLOWED_ISSUERS"
    p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=30)
    assert p.returncode == 2, p.stderr
    assert p.stderr.startswith(
        f"tresor serve: {src}: 'https://u@x.example/' is neither an https:// issuer URL nor a host pattern "
        "(HOST, HOST:PORT, *.DOMAIN)"), p.stderr
    assert not (tmp_path / "d").exists()
