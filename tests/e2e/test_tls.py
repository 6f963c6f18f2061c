"""
test_tls.py -- `tresor serve` over TLS, driven with boto3, the AWS CLI and
Python's ssl module.

What the server offers (TLS 1.2 and 1.3 only, AEAD suites only, ALPN
http/1.1, --tls-min-version 1.3) and refuses (TLS 1.1, CBC suites, plain
HTTP on the TLS port); what the clients refuse (another CA, another host
name, an expired certificate); the checks at start (key file mode, a
mismatched or unreadable pair, the flags); SIGHUP rotation under load;
aws:SecureTransport; plain HTTP limited to loopback unless
--insecure-http; --tls-generate with the tresor profile alone.
"""

import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import boto3
import botocore.exceptions
import pytest

from tresor_e2e import (ACCOUNT, AWS_CLI, REGION, allow, client_config, denied_msg, deny, eventually,
                        free_port, make_cert, make_user, raises_aws, run_tresor_cmd, scaled)

pytestmark = pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")


def plain_server(tresor_factory, name):
    """A plain-HTTP server, also when the suite runs over TLS."""
    srv = tresor_factory(name, start=False)
    srv.tls = False
    return srv.start()


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a second CA, and certificates: good, for another host,
    expired, signed by the second CA."""
    d = tmp_path_factory.mktemp("pki")
    make_cert(d, "ca")
    make_cert(d, "otherca")
    make_cert(d, "good", "ca")
    make_cert(d, "good2", "ca")                     # the rotation's new certificate
    make_cert(d, "wronghost", "ca", sans="DNS:other.example", cn="other.example")
    make_cert(d, "expired", "ca", dates=("200101000000Z", "200201000000Z"))
    return d


def tls_server(tresor_factory, pki, cert="good", env=None):
    """A server with pki's CERT (TRESOR_TLS_* through the command line)."""
    srv = tresor_factory("tls", start=False)
    srv.tls = True
    srv.tls_files = (pki / "ca.pem", pki / f"{cert}.pem", pki / f"{cert}.key")
    srv.start(env_extra=env)
    return srv


def handshake(srv, *, cafile=None, host="127.0.0.1", version=None, ciphers=None, alpn=None):
    """One TLS handshake with the server; returns the SSLSocket (open)."""
    ctx = ssl.create_default_context(cafile=str(cafile or srv.ca))
    if version is not None:
        ctx.minimum_version = version
        ctx.maximum_version = version
    if ciphers is not None:
        ctx.set_ciphers(ciphers)
    if alpn is not None:
        ctx.set_alpn_protocols(alpn)
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        return ctx.wrap_socket(sock, server_hostname=host)
    except Exception:
        sock.close()
        raise


def der(path):
    return ssl.PEM_cert_to_DER_cert(Path(path).read_text())


def sts_client(srv, verify):
    return boto3.session.Session().client(
        "sts", region_name=REGION, endpoint_url=srv.endpoint, verify=verify, config=client_config(),
        aws_access_key_id=srv.access_key, aws_secret_access_key=srv.secret_key)


# ---- what the server offers -------------------------------------------------

def test_boto3_cli_and_ssl_over_tls(tresor_factory, pki):
    srv = tls_server(tresor_factory, pki)
    ident = srv.sts().get_caller_identity()
    assert ident["Arn"] == f"arn:aws:iam::{ACCOUNT}:root"
    key = srv.kms().create_key(Description="over tls")["KeyMetadata"]
    ct = srv.kms().encrypt(KeyId=key["KeyId"], Plaintext=b"sealed")["CiphertextBlob"]
    assert srv.kms().decrypt(CiphertextBlob=ct)["Plaintext"] == b"sealed"
    rc, out, err = srv.cli("kms", "describe-key", "--key-id", key["KeyId"])
    assert rc == 0, err
    assert out["KeyMetadata"]["Arn"] == key["Arn"]
    s = handshake(srv, alpn=["http/1.1"])
    try:
        assert s.version() in ("TLSv1.2", "TLSv1.3")
        assert s.selected_alpn_protocol() == "http/1.1"
        assert s.getpeercert(binary_form=True) == der(pki / "good.pem")
    finally:
        s.close()
    banner = srv.stdout_text().decode()
    assert f"https://127.0.0.1:{srv.port}" in banner
    assert "--ca-bundle" in banner and "verify=" in banner


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_tls12_and_tls13_with_aead_suites(tresor_factory, pki, version):
    srv = tls_server(tresor_factory, pki)
    s = handshake(srv, version=getattr(ssl.TLSVersion, version))
    try:
        name, proto, _bits = s.cipher()
        assert proto == version.replace("_", ".").replace("TLSv1.", "TLSv1.")
        assert re.search(r"GCM|CHACHA20", name), name
    finally:
        s.close()


def test_tls11_refused(tresor_factory, pki):
    srv = tls_server(tresor_factory, pki)
    with pytest.raises(ssl.SSLError):
        handshake(srv, version=ssl.TLSVersion.TLSv1_1, ciphers="ALL:@SECLEVEL=0")
    assert srv.sts().get_caller_identity()["Account"] == ACCOUNT     # still serving


@pytest.mark.parametrize("suite", ["ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA384",
                                   "ECDHE-ECDSA-AES128-SHA"])
def test_non_aead_suite_refused(tresor_factory, pki, suite):
    srv = tls_server(tresor_factory, pki)
    with pytest.raises(ssl.SSLError):
        handshake(srv, version=ssl.TLSVersion.TLSv1_2, ciphers=suite)


def test_min_version_13_refuses_tls12(tresor_factory, pki):
    srv = tls_server(tresor_factory, pki, env={"TRESOR_TLS_MIN_VERSION": "1.3"})
    with pytest.raises(ssl.SSLError):
        handshake(srv, version=ssl.TLSVersion.TLSv1_2)
    s = handshake(srv)
    try:
        assert s.version() == "TLSv1.3"
    finally:
        s.close()
    assert "TLS 1.3, AEAD suites only" in srv.stdout_text().decode()


def test_plain_http_to_tls_port_is_not_served(tresor_factory, pki):
    srv = tls_server(tresor_factory, pki)
    # A signed CreateKey in the clear: no HTTP answer, and no key made.
    srv.tls = False
    try:
        headers, body = srv.build_request("TrentService.CreateKey", {"Description": "plain"})
    finally:
        srv.tls = True
    req = (f"POST / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
           + f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(req)
        got = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
        except (ConnectionResetError, socket.timeout):
            pass
    assert not got.startswith(b"HTTP/"), got[:80]
    assert srv.kms().list_keys()["Keys"] == []
    eventually(lambda: "no request (not TLS, or the TLS handshake failed" in srv.stderr_text().decode())


# ---- what the clients refuse --------------------------------------------------

def test_client_with_another_ca_refuses(tresor_factory, pki):
    srv = tls_server(tresor_factory, pki)
    with pytest.raises(ssl.SSLCertVerificationError):
        handshake(srv, cafile=pki / "otherca.pem")
    with pytest.raises(botocore.exceptions.SSLError):
        sts_client(srv, str(pki / "otherca.pem")).get_caller_identity()
    env = srv.cli_env()
    env["AWS_CA_BUNDLE"] = str(pki / "otherca.pem")
    p = subprocess.run([AWS_CLI, "--endpoint-url", srv.endpoint, "--profile", "tresor", "sts",
                        "get-caller-identity"], env=env, capture_output=True, text=True, timeout=60)
    assert p.returncode != 0
    assert "SSL validation failed" in p.stderr and "certificate verify failed" in p.stderr


def test_client_refuses_a_certificate_for_another_host(tresor_factory, pki):
    srv = tls_server(tresor_factory, pki, cert="wronghost")
    with pytest.raises(ssl.SSLCertVerificationError, match="match|mismatch"):
        handshake(srv)
    with pytest.raises(botocore.exceptions.SSLError):
        srv.sts().get_caller_identity()
    # The same certificate, asked for by its own name, verifies.
    handshake(srv, host="other.example").close()


def test_client_refuses_an_expired_certificate(tresor_factory, pki):
    srv = tls_server(tresor_factory, pki, cert="expired")
    with pytest.raises(ssl.SSLCertVerificationError, match="expired"):
        handshake(srv)
    with pytest.raises(botocore.exceptions.SSLError, match="expired"):
        srv.sts().get_caller_identity()
    assert "(EXPIRED)" in srv.stdout_text().decode()


# ---- checks at start ------------------------------------------------------------

def serve_fails(tmp_path, *args, env=None):
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    e = {k: v for k, v in os.environ.items() if not k.startswith("TRESOR_")}
    e.update(env or {})
    p = run_tresor_cmd(["serve", "--data-dir", tmp_path / "data", *args], logs, capture_output=True,
                       text=True, timeout=20, cwd=str(tmp_path), env=e)
    return p


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_key_file_open_to_group_or_others_refused(tmp_path, pki, mode):
    key = tmp_path / "k.key"
    shutil.copy(pki / "good.key", key)
    os.chmod(key, mode)
    p = serve_fails(tmp_path, "--listen", f"127.0.0.1:{free_port()}", "--tls-cert", pki / "good.pem",
                    "--tls-key", key)
    assert p.returncode == 2, p.stderr
    assert p.stderr == (f"tresor serve: the TLS key file {key} is accessible by group or others "
                        f"(mode {mode:04o}): refusing to use it; chmod 600 {key}\n")
    assert not (tmp_path / "data").exists()


def test_key_file_mode_checked_through_the_environment(tmp_path, pki):
    key = tmp_path / "k.key"
    shutil.copy(pki / "good.key", key)
    os.chmod(key, 0o644)
    p = serve_fails(tmp_path, "--listen", f"127.0.0.1:{free_port()}",
                    env={"TRESOR_TLS_CERT": str(pki / "good.pem"), "TRESOR_TLS_KEY": str(key)})
    assert p.returncode == 2
    assert "is accessible by group or others (mode 0644)" in p.stderr


def test_key_of_another_certificate_refused(tmp_path, pki):
    p = serve_fails(tmp_path, "--listen", f"127.0.0.1:{free_port()}", "--tls-cert", pki / "good.pem",
                    "--tls-key", pki / "good2.key")
    assert p.returncode == 2
    assert p.stderr == (f"tresor serve: the TLS key in {pki / 'good2.key'} is not the key of the certificate "
                        f"in {pki / 'good.pem'} (the first certificate of the file)\n")


def test_unusable_files_refused(tmp_path, pki):
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    p = serve_fails(tmp_path, "--tls-cert", junk, "--tls-key", pki / "good.key")
    assert p.returncode == 2
    assert f"the TLS certificate file {junk} holds no usable PEM certificate chain" in p.stderr
    badkey = tmp_path / "bad.key"
    badkey.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    os.chmod(badkey, 0o600)
    p = serve_fails(tmp_path, "--tls-cert", pki / "good.pem", "--tls-key", badkey)
    assert p.returncode == 2
    assert f"the TLS key file {badkey} holds no usable unencrypted PEM private key" in p.stderr
    p = serve_fails(tmp_path, "--tls-cert", tmp_path / "missing.pem", "--tls-key", pki / "good.key")
    assert p.returncode == 2
    assert f"cannot read the TLS certificate file {tmp_path / 'missing.pem'}: No such file" in p.stderr


@pytest.mark.parametrize("args,msg", [
    (["--tls-cert", "c.pem"], "tresor serve: --tls-cert needs --tls-key as well"),
    (["--tls-key", "k.pem"], "tresor serve: --tls-key needs --tls-cert as well"),
    (["--tls-cert", "c", "--tls-key", "k", "--tls-generate"],
     "tresor serve: --tls-generate makes its own certificate: give it or --tls-cert/--tls-key, not both"),
    (["--tls-min-version", "1.1"], "tresor serve: --tls-min-version must be 1.2 or 1.3, not '1.1'"),
])
def test_tls_flag_errors(tmp_path, args, msg):
    p = serve_fails(tmp_path, *args)
    assert p.returncode == 2
    assert p.stderr.splitlines()[0] == msg


# ---- plain HTTP on loopback only ----------------------------------------------

@pytest.mark.parametrize("listen", ["0.0.0.0:0", ":0", "[::]:0", "192.0.2.1:0"])
def test_plain_http_off_loopback_refused(tmp_path, listen):
    p = serve_fails(tmp_path, "--listen", listen)
    assert p.returncode == 2
    assert p.stderr.splitlines()[0] == (
        f"tresor serve: refusing to serve plain HTTP on '{listen}', which is not a loopback address: "
        "access keys' signatures, secrets and plaintext would cross the network unencrypted; serve TLS "
        "(--tls-cert and --tls-key, or --tls-generate), or give --insecure-http to accept that")
    assert not (tmp_path / "data").exists()


def test_insecure_http_serves_off_loopback(tresor_factory):
    srv = tresor_factory("insecure", start=False)
    srv.tls = False
    srv.start(host="0.0.0.0", args=["--insecure-http"])
    assert srv.sts().get_caller_identity()["Account"] == ACCOUNT
    assert f"--insecure-http: serving plain HTTP on 0.0.0.0:{srv.port}" in srv.stderr_text().decode()


def test_tls_serves_off_loopback(tresor_factory, pki):
    srv = tresor_factory("offloop", start=False)
    srv.tls = True
    srv.tls_files = (pki / "ca.pem", pki / "good.pem", pki / "good.key")
    srv.start(host="0.0.0.0")
    assert srv.sts().get_caller_identity()["Arn"].endswith(":root")


# ---- aws:SecureTransport ------------------------------------------------------------

def secure_transport_case(srv):
    root = srv.root_user
    key = root.kms.create_key()["KeyMetadata"]
    user = make_user(root, policy=[allow("kms:DescribeKey"),
                                   deny("kms:DescribeKey",
                                        condition={"Bool": {"aws:SecureTransport": "false"}})])
    return user, key


def test_secure_transport_deny_denies_plain_http(tresor_factory):
    srv = plain_server(tresor_factory, "plain")
    user, key = secure_transport_case(srv)
    with raises_aws("AccessDeniedException",
                    denied_msg(user.arn, "kms:DescribeKey", key["Arn"], "explicit-identity")):
        user.kms.describe_key(KeyId=key["KeyId"])


def test_secure_transport_deny_allows_tls(tresor_factory, pki):
    srv = tls_server(tresor_factory, pki)
    user, key = secure_transport_case(srv)
    got = eventually(lambda: user.kms.describe_key(KeyId=key["KeyId"]))
    assert got["KeyMetadata"]["Arn"] == key["Arn"]


def test_policy_simulate_secure_transport(tresor_factory):
    srv = plain_server(tresor_factory, "simulate")
    user, key = secure_transport_case(srv)
    base = ["policy", "simulate", "--data-dir", srv.data_dir, "--principal", user.arn,
            "--action", "kms:DescribeKey", "--resource", key["Arn"], "--source-ip", "127.0.0.1"]
    p = srv.run_tresor(*base)
    assert p.returncode == 1, p.stdout + p.stderr
    assert p.stdout.splitlines()[0] == "decision:  explicitDeny"
    assert "  - aws:SecureTransport false: a request over plain HTTP (--secure-transport: over TLS)" \
        in p.stdout.splitlines()
    p = srv.run_tresor(*base, "--secure-transport")
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.splitlines()[0] == "decision:  allowed"
    assert "aws:SecureTransport false" not in p.stdout


# ---- SIGHUP: rotation under load ---------------------------------------------------

def test_sighup_rotates_under_load(tresor_factory, pki, tmp_path):
    live = tmp_path / "live"
    live.mkdir()
    shutil.copy(pki / "good.pem", live / "server.pem")
    shutil.copy(pki / "good.key", live / "server.key")
    os.chmod(live / "server.key", 0o600)
    srv = tresor_factory("rotate", start=False)
    srv.tls = True
    srv.tls_files = (pki / "ca.pem", live / "server.pem", live / "server.key")
    srv.start()
    old, new = der(pki / "good.pem"), der(pki / "good2.pem")

    # An established keep-alive connection, before the reload.
    kept = srv.http_connection()
    kept.request("GET", "/health")
    assert kept.getresponse().read() == b'{"status":"ok"}'
    kept_sock = kept.sock
    assert kept_sock.getpeercert(binary_form=True) == old

    stop = threading.Event()
    done, errors = [0], []

    def keepalive():             # boto3: keep-alive connections from its pool
        c = srv.sts()
        while not stop.is_set():
            try:
                c.get_caller_identity()
                done[0] += 1
            except Exception as e:  # noqa: BLE001 -- every failure counts
                errors.append(repr(e))

    def fresh():                 # a new connection (full handshake) per request
        while not stop.is_set():
            try:
                conn = srv.http_connection(timeout=10)
                conn.request("GET", "/health")
                assert conn.getresponse().status == 200
                conn.close()
                done[0] += 1
            except Exception as e:  # noqa: BLE001
                errors.append(repr(e))

    threads = [threading.Thread(target=f) for f in (keepalive, keepalive, fresh, fresh)]
    for t in threads:
        t.start()
    try:
        eventually(lambda: done[0] > 20 or None, timeout=scaled(20))
        # Swap the files in place (rename), then SIGHUP.
        shutil.copy(pki / "good2.pem", live / "server.pem.new")
        shutil.copy(pki / "good2.key", live / "server.key.new")
        os.chmod(live / "server.key.new", 0o600)
        os.replace(live / "server.key.new", live / "server.key")
        os.replace(live / "server.pem.new", live / "server.pem")
        before = done[0]
        srv.proc.send_signal(signal.SIGHUP)

        def served_new():
            s = handshake(srv)
            try:
                return s.getpeercert(binary_form=True) == new or None
            finally:
                s.close()
        eventually(served_new, timeout=scaled(10))
        eventually(lambda: done[0] > before + 20 or None, timeout=scaled(20))
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    assert errors == []
    assert "SIGHUP: TLS reloaded: certificate CN=localhost" in srv.stderr_text().decode()

    # The connection established before the reload was not dropped.
    kept.request("GET", "/health")
    assert kept.getresponse().read() == b'{"status":"ok"}'
    assert kept.sock is kept_sock
    assert kept.sock.getpeercert(binary_form=True) == old
    kept.close()


def test_failed_reload_keeps_the_certificate(tresor_factory, pki, tmp_path):
    live = tmp_path / "live"
    live.mkdir()
    shutil.copy(pki / "good.pem", live / "server.pem")
    shutil.copy(pki / "good.key", live / "server.key")
    os.chmod(live / "server.key", 0o600)
    srv = tresor_factory("badreload", start=False)
    srv.tls = True
    srv.tls_files = (pki / "ca.pem", live / "server.pem", live / "server.key")
    srv.start()
    shutil.copy(pki / "good2.pem", live / "server.pem")       # the key is now the wrong one
    srv.proc.send_signal(signal.SIGHUP)
    eventually(lambda: "SIGHUP: TLS reload failed, still serving the previous certificate: the TLS key in "
               in srv.stderr_text().decode() or None)
    s = handshake(srv)
    try:
        assert s.getpeercert(binary_form=True) == der(pki / "good.pem")
    finally:
        s.close()
    assert srv.sts().get_caller_identity()["Account"] == ACCOUNT


def test_sighup_without_tls_is_harmless(tresor_factory):
    srv = plain_server(tresor_factory, "plainhup")
    srv.proc.send_signal(signal.SIGHUP)
    eventually(lambda: "SIGHUP: not serving TLS, nothing to reload" in srv.stderr_text().decode() or None)
    assert srv.sts().get_caller_identity()["Account"] == ACCOUNT


# ---- --tls-generate ----------------------------------------------------------------

def test_tls_generate_profile_alone_verifies(tresor_factory):
    srv = tresor_factory("gen", start=False)
    srv.tls = True
    srv.start(args=["--tls-generate"])
    port = srv.port
    tdir = srv.data_dir / "tls"
    assert sorted(p.name for p in tdir.iterdir()) == ["ca.key", "ca.pem", "server.key", "server.pem"]
    assert (tdir / "server.key").stat().st_mode & 0o777 == 0o600
    assert (tdir / "ca.key").stat().st_mode & 0o777 == 0o600
    assert f"ca_bundle = {tdir / 'ca.pem'}" in (srv.data_dir / "config").read_text()
    # The AWS CLI with the profile alone (no --ca-bundle, no AWS_CA_BUNDLE).
    env = srv.cli_env()
    env.pop("AWS_CA_BUNDLE", None)
    p = subprocess.run([AWS_CLI, "--endpoint-url", f"https://localhost:{port}", "--profile", "tresor",
                        "--output", "json", "sts", "get-caller-identity"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["Account"] == ACCOUNT
    # boto3 with the profile alone.
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AWS_")}
    try:
        os.environ["AWS_CONFIG_FILE"] = str(srv.data_dir / "config")
        os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(srv.data_dir / "credentials")
        c = boto3.session.Session(profile_name="tresor").client(
            "sts", endpoint_url=f"https://127.0.0.1:{port}", config=client_config())
        assert c.get_caller_identity()["Account"] == ACCOUNT
    finally:
        for k in [k for k in os.environ if k.startswith("AWS_")]:
            del os.environ[k]
        os.environ.update(saved)
    cert = (tdir / "server.pem").read_bytes()
    assert srv.stderr_text().count(b"made a local CA") == 1
    srv.stop_clean()
    # A later start reuses them.
    srv.start(args=["--tls-generate"])
    assert (tdir / "server.pem").read_bytes() == cert
    assert srv.stderr_text().count(b"made a local CA") == 1
