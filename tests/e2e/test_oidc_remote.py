"""
test_oidc_remote.py -- `tresor serve --oidc-ca-file FILE`, the private CA
trusted besides the system's store when an OIDC issuer's keys are fetched
(docs/OIDC.md, "Fetching an issuer's keys"): a missing, unreadable or
non-PEM file stops the start with exit 2 and a message naming the flag or
its environment variable, before the data dir is made; a good one starts.

Also the local issuer of oidc_issuer.py, which the token tests use: its
discovery document, its JWKS with the cache header asked for, and tokens
that verify with its published key.  The fetches themselves (certificates,
caching, limits) are tests/unit/oidc_remote_net_test.c, against the same
issuer.
"""

import base64
import json
import os
import ssl
import urllib.request

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from oidc_issuer import OidcIssuer
from tresor_e2e import free_port, run_tresor_cmd


@pytest.fixture
def issuer(tmp_path):
    o = OidcIssuer(tmp_path / "issuer")
    o.start()
    yield o
    o.stop()


def serve_fails(tmp_path, *args, env=None):
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    e = {k: v for k, v in os.environ.items() if not k.startswith("TRESOR_")}
    e.update(env or {})
    return run_tresor_cmd(["serve", "--data-dir", tmp_path / "data", "--listen", f"127.0.0.1:{free_port()}",
                           *args], logs, capture_output=True, text=True, timeout=20, cwd=str(tmp_path), env=e)


def test_missing_ca_file_refused(tmp_path):
    missing = tmp_path / "nope.pem"
    p = serve_fails(tmp_path, "--oidc-ca-file", missing)
    assert p.returncode == 2, p.stderr
    assert f"tresor serve: --oidc-ca-file {missing}: cannot read it: No such file or directory" in p.stderr
    assert not (tmp_path / "data").exists()


def test_unreadable_ca_file_refused(tmp_path, issuer):
    if os.geteuid() == 0:
        pytest.skip("root reads a file of mode 0000")
    ca = tmp_path / "ca.pem"
    ca.write_bytes(issuer.ca_pem.read_bytes())
    os.chmod(ca, 0)
    p = serve_fails(tmp_path, "--oidc-ca-file", ca)
    assert p.returncode == 2, p.stderr
    assert f"tresor serve: --oidc-ca-file {ca}: cannot read it: Permission denied" in p.stderr


@pytest.mark.parametrize("content", [b"not a certificate\n", b"",
                                     b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"])
def test_non_pem_ca_file_refused(tmp_path, content):
    junk = tmp_path / "junk.pem"
    junk.write_bytes(content)
    p = serve_fails(tmp_path, "--oidc-ca-file", junk)
    assert p.returncode == 2, p.stderr
    assert f"tresor serve: --oidc-ca-file {junk}: no PEM certificate in it" in p.stderr
    assert not (tmp_path / "data").exists()


def test_private_key_is_not_a_ca_file(tmp_path, issuer):
    p = serve_fails(tmp_path, "--oidc-ca-file", issuer.key)
    assert p.returncode == 2, p.stderr
    assert f"--oidc-ca-file {issuer.key}: no PEM certificate in it" in p.stderr


def test_ca_file_from_the_environment(tmp_path):
    junk = tmp_path / "junk.pem"
    junk.write_text("junk\n")
    p = serve_fails(tmp_path, env={"TRESOR_OIDC_CA_FILE": str(junk)})
    assert p.returncode == 2, p.stderr
    assert f"tresor serve: TRESOR_OIDC_CA_FILE {junk}: no PEM certificate in it" in p.stderr


def test_good_ca_file_starts(tresor_factory, issuer):
    srv = tresor_factory("oidc-ca", args=("--oidc-ca-file", issuer.ca_pem))
    assert "Keys" in srv.kms().list_keys()
    log = srv.stderr_text()
    assert b" warn " not in log and b" error " not in log, log


def test_ca_file_of_several_certificates_starts(tresor_factory, issuer, tmp_path):
    other = OidcIssuer(tmp_path / "other")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(issuer.ca_pem.read_bytes() + other.ca_pem.read_bytes())
    srv = tresor_factory("oidc-bundle", args=("--oidc-ca-file", bundle))
    assert "Keys" in srv.kms().list_keys()


# ---- the local issuer (oidc_issuer.py) ----

def _get(issuer, url):
    ctx = ssl.create_default_context(cafile=str(issuer.ca_pem))
    with urllib.request.urlopen(url, context=ctx, timeout=10) as r:
        return r.status, r.headers, json.loads(r.read())


def _b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def test_local_issuer_serves_discovery_keys_and_tokens(issuer):
    issuer.add("corp", cache_control="max-age=120")
    status, _, disc = _get(issuer, issuer.issuer("corp") + "/.well-known/openid-configuration")
    assert status == 200
    assert disc["issuer"] == issuer.issuer("corp")
    assert disc["jwks_uri"] == issuer.issuer("corp") + "/jwks"
    status, headers, jwks = _get(issuer, disc["jwks_uri"])
    assert headers["Cache-Control"] == "max-age=120"
    [jwk] = jwks["keys"]
    assert (jwk["kty"], jwk["kid"], jwk["alg"]) == ("RSA", "key-1", "RS256")
    assert issuer.count("/corp/jwks") == 1

    token = issuer.token("corp", {"sub": "alice", "aud": "sts.amazonaws.com"})
    h, c, s = token.split(".")
    assert json.loads(_b64d(h)) == {"alg": "RS256", "typ": "JWT", "kid": "key-1"}
    claims = json.loads(_b64d(c))
    assert claims["iss"] == issuer.issuer("corp") and claims["sub"] == "alice"
    pub = rsa.RSAPublicNumbers(int.from_bytes(_b64d(jwk["e"]), "big"),
                               int.from_bytes(_b64d(jwk["n"]), "big")).public_key()
    pub.verify(_b64d(s), f"{h}.{c}".encode(), padding.PKCS1v15(), hashes.SHA256())


def test_local_issuer_certificate_names_localhost_only(issuer):
    issuer.add("corp")
    with pytest.raises(urllib.error.URLError, match="certificate verify failed"):
        _get(issuer, issuer.issuer("corp", host="127.0.0.1") + "/jwks")
    with pytest.raises(urllib.error.URLError, match="certificate verify failed"):
        urllib.request.urlopen(issuer.issuer("corp") + "/jwks", context=ssl.create_default_context(),
                               timeout=10)
