"""
The server as a whole: /health, request IDs, the awsJson1_1 protocol layer,
SigV4 authentication failures, the request body cap, the data directory
(initialization, persistence across restarts, no secrets in the clear),
signals, configuration through the environment, concurrency, and the AWS
CLI path.
"""

import base64
import datetime
import hashlib
import http.client
import json
import os
import re
import signal
import socket
import stat
import threading
import uuid

import pytest

from tresor_e2e import (
    ACCOUNT, BAD_SIGNATURE_MSG, REGION, UNRECOGNIZED_CLIENT_MSG, UUID_RE, alias_not_found_msg,
    b64, eventually, new_key, pg_sql, pg_store_files, raises_aws, unique,
)

UUIDISH = re.compile(r"^[0-9a-fA-F-]{16,}$")


def amz_date(dt):
    return dt.strftime("%Y%m%dT%H%M%SZ")


# ---------------------------------------------------------------------------
# /health and request IDs


def test_health_needs_no_authentication(tresor):
    r = tresor.get_health()
    assert r.status == 200, r
    assert r.request_id, "every reply carries x-amzn-RequestId"


def test_request_id_on_success_and_error(tresor, kms):
    ok = kms.list_keys(Limit=1)
    rid_ok = ok["ResponseMetadata"]["RequestId"]
    assert UUIDISH.match(rid_ok), rid_ok
    assert ok["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"] == rid_ok
    with raises_aws("NotFoundException") as ei:
        kms.describe_key(KeyId=str(uuid.uuid4()))
    rid_err = ei.value.response["ResponseMetadata"]["RequestId"]
    assert UUIDISH.match(rid_err), rid_err
    assert rid_err != rid_ok
    r = tresor.raw("TrentService.NoSuchOperation", {})
    assert r.request_id and r.request_id not in (rid_ok, rid_err)
    r2 = tresor.raw("TrentService.ListKeys", {}, sign=False)
    assert r2.status == 400 and r2.request_id


def test_signed_raw_request_ok(tresor):
    r = tresor.raw("TrentService.ListKeys", {"Limit": 1})
    assert r.status == 200, r
    assert r.headers.get("content-type", "").startswith("application/x-amz-json-1.1"), r.headers
    assert set(r.json) <= {"Keys", "NextMarker", "Truncated"}
    assert isinstance(r.json["Truncated"], bool)


# ---------------------------------------------------------------------------
# Protocol layer


def test_unknown_operation(tresor):
    """AWS's awsJson front end names no operation, but says what happened:
    "The requested operation is not recognized by the service."."""
    r = tresor.raw("TrentService.NoSuchOperation", {})
    assert r.status == 400, r
    assert r.error_code == "UnknownOperationException", r
    assert r.error_message == "The requested operation is not recognized by the service.", r
    assert r.headers.get("content-type", "").startswith("application/x-amz-json-1.1")


@pytest.mark.parametrize("body", [b"{not json", b"[]", b'"just a string"', b"{\"KeyId\": ",
                                  b"\xff\xfe{}"],
                         ids=["broken", "array", "string", "truncated", "not-utf8"])
def test_malformed_json(tresor, body):
    r = tresor.raw("TrentService.DescribeKey", body)
    assert r.status == 400, r
    assert r.error_code == "SerializationException", r
    assert r.request_id


@pytest.mark.parametrize("op,body", [
    ("DescribeKey", {"KeyId": 5}),
    ("DescribeKey", {"KeyId": ["a"]}),
    ("ListKeys", {"Limit": "ten"}),
    ("ListKeys", {"Limit": 1.5}),
    ("CreateKey", {"Description": {"a": 1}}),
    ("CreateKey", {"Tags": {"TagKey": "a", "TagValue": "b"}}),
    ("Encrypt", {"KeyId": "alias/x", "Plaintext": 12}),
    ("Encrypt", {"KeyId": "alias/x", "Plaintext": "eA==", "EncryptionContext": ["a"]}),
    ("Encrypt", {"KeyId": "alias/x", "Plaintext": "eA==", "EncryptionContext": {"a": 1}}),
    ("CreateKey", {"BypassPolicyLockoutSafetyCheck": "yes"}),
], ids=["id-number", "id-list", "limit-string", "limit-float", "desc-object", "tags-object",
        "plaintext-number", "context-list", "context-value-number", "bool-string"])
def test_wrong_json_types(tresor, op, body):
    r = tresor.raw(f"TrentService.{op}", body)
    assert r.status == 400, r
    assert r.error_code == "SerializationException", r


def test_blob_not_base64(tresor):
    r = tresor.raw("TrentService.Decrypt", {"CiphertextBlob": "%%% not base64 %%%"})
    assert r.status == 400, r
    assert r.error_code in ("SerializationException", "ValidationException"), r


def test_unknown_member_rejected(tresor, kms):
    md = new_key(kms)
    r = tresor.raw("TrentService.DescribeKey", {"KeyId": md["KeyId"], "Bogus": 1})
    assert r.status == 400, r
    assert r.error_code == "SerializationException", r


def test_missing_required_member(tresor):
    r = tresor.raw("TrentService.DescribeKey", {})
    assert r.status == 400, r
    assert r.error_code == "ValidationException", r


def _http_exchange(port, head, body, expect_continue, timeout=15):
    """Send a request over a plain socket, tolerating an early reply and a
    closed connection.  Returns (status, headers, body) or None."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    received = bytearray()
    try:
        s.sendall(head)
        send_body = True
        if expect_continue:
            s.settimeout(3)
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                chunk = b""
            if chunk.startswith(b"HTTP/1.1 100") or chunk.startswith(b"HTTP/1.0 100"):
                rest = chunk.split(b"\r\n\r\n", 1)
                received += rest[1] if len(rest) == 2 else b""
            elif chunk:
                received += chunk
                send_body = False
        if send_body:
            try:
                s.sendall(body)
            except (BrokenPipeError, ConnectionResetError):
                pass
        s.settimeout(timeout)
        while True:
            parsed = _parse_http(bytes(received))
            if parsed is not None:
                return parsed
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            received += chunk
        return _parse_http(bytes(received), final=True)
    finally:
        s.close()


def _parse_http(data, final=False):
    if b"\r\n\r\n" not in data:
        return None
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    n = int(headers.get("content-length", "-1"))
    if n >= 0 and len(rest) < n:
        return None
    if n < 0 and not final:
        return None
    return status, headers, rest[:n] if n >= 0 else rest


def _assert_rejected_as_too_large(result):
    assert result is not None, "the server closed the connection without an HTTP reply"
    status, headers, body = result
    if status == 413:
        return
    assert status == 400, (status, headers, body[:300])
    doc = json.loads(body)
    assert "__type" in doc, doc


@pytest.mark.parametrize("expect_continue", [True, False], ids=["expect-100", "plain"])
def test_body_over_cap(tresor, kms, expect_continue):
    big = json.dumps({"KeyId": "alias/none", "Plaintext": b64(os.urandom(1536 * 1024))})
    body = big.encode()
    assert len(body) > 2 * 1024 * 1024 - 1024
    extra = {"Expect": "100-continue"} if expect_continue else {}
    headers, payload = tresor.build_request("TrentService.Encrypt", body, headers=extra)
    headers["Content-Length"] = str(len(payload))
    head = "POST / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    result = _http_exchange(tresor.port, head.encode("latin-1"), payload, expect_continue)
    if expect_continue:
        _assert_rejected_as_too_large(result)
    elif result is not None:
        _assert_rejected_as_too_large(result)
    # ... and the server keeps serving.
    assert tresor.get_health().status == 200
    md = new_key(kms)
    assert kms.encrypt(KeyId=md["KeyId"], Plaintext=b"still alive")["KeyId"] == md["Arn"]


def test_body_just_under_cap_is_processed(tresor):
    # ~1 MiB minus a little: parsed normally, so the too-long Description is
    # what gets reported, not the size of the request.
    body = json.dumps({"Description": "d" * (1024 * 1024 - 200)})
    assert len(body) < 1024 * 1024
    r = tresor.raw("TrentService.CreateKey", body)
    assert r.status == 400, r.status
    assert r.error_code == "ValidationException", r


# ---------------------------------------------------------------------------
# SigV4


def test_bad_signature_wrong_secret(tresor):
    r = tresor.raw("TrentService.ListKeys", {}, secret_key="x" * 40)
    assert r.status == 400, r
    assert r.error_code == "InvalidSignatureException", r
    assert r.error_message == BAD_SIGNATURE_MSG


def test_bad_signature_through_boto3(tresor):
    kms = tresor.kms(secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYWRONGKEYX")
    with raises_aws("InvalidSignatureException", BAD_SIGNATURE_MSG):
        kms.list_keys()


def test_tampered_body_after_signing(tresor):
    r = tresor.raw("TrentService.ListKeys", {"Limit": 1}, send_body=json.dumps({"Limit": 2}))
    assert r.status == 400, r
    assert r.error_code == "InvalidSignatureException", r
    assert r.error_message == BAD_SIGNATURE_MSG


def test_tampered_target_after_signing(tresor, kms):
    before = {e["KeyId"] for e in kms.list_keys(Limit=1000)["Keys"]}
    headers, payload = tresor.build_request("TrentService.ListKeys", {})
    headers["X-Amz-Target"] = "TrentService.CreateKey"
    conn = http.client.HTTPConnection("127.0.0.1", tresor.port, timeout=10)
    conn.request("POST", "/", body=payload, headers=headers)
    resp = conn.getresponse()
    body = json.loads(resp.read())
    conn.close()
    assert resp.status == 400
    assert body["__type"].rsplit("#", 1)[-1] == "InvalidSignatureException", body
    after = {e["KeyId"] for e in kms.list_keys(Limit=1000)["Keys"]}
    assert after == before, "a forged request must have no effect"


def test_tampered_signature_hex(tresor):
    headers, payload = tresor.build_request("TrentService.ListKeys", {})
    auth = headers["Authorization"]
    sig = auth.rsplit("Signature=", 1)[1]
    flipped = sig[:-1] + ("0" if sig[-1] != "0" else "1")
    r = tresor.raw("TrentService.ListKeys", {}, authorization=auth.replace(sig, flipped))
    assert r.status == 400, r
    assert r.error_code == "InvalidSignatureException", r
    assert r.error_message == BAD_SIGNATURE_MSG


def test_expired_signature(tresor):
    when = datetime.datetime.utcnow() - datetime.timedelta(minutes=20)
    r = tresor.raw("TrentService.ListKeys", {}, when=when)
    assert r.status == 400, r
    assert r.error_code == "InvalidSignatureException", r
    msg = r.error_message
    assert msg.startswith(f"Signature expired: {amz_date(when)} is now earlier than "), msg
    assert re.match(r"^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z "
                    r"\(\d{8}T\d{6}Z - 15 min\.\)$", msg), msg


def test_signature_from_the_future(tresor):
    when = datetime.datetime.utcnow() + datetime.timedelta(minutes=20)
    r = tresor.raw("TrentService.ListKeys", {}, when=when)
    assert r.status == 400, r
    assert r.error_code == "InvalidSignatureException", r


def test_signature_within_skew_window(tresor):
    for minutes in (-10, 10):
        when = datetime.datetime.utcnow() + datetime.timedelta(minutes=minutes)
        r = tresor.raw("TrentService.ListKeys", {"Limit": 1}, when=when)
        assert r.status == 200, (minutes, r)


def test_unknown_access_key(tresor):
    r = tresor.raw("TrentService.ListKeys", {}, access_key="AKIAIOSFODNN7EXAMPLE")
    assert r.status == 400, r
    assert r.error_code == "UnrecognizedClientException", r
    assert r.error_message == UNRECOGNIZED_CLIENT_MSG
    kms = tresor.kms(access_key="AKIAI44QH8DHBEXAMPLE",
                     secret_key="je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY")
    with raises_aws("UnrecognizedClientException", UNRECOGNIZED_CLIENT_MSG):
        kms.list_keys()


def test_missing_authorization(tresor):
    r = tresor.raw("TrentService.ListKeys", {}, sign=False)
    assert r.status == 400, r
    assert r.error_code == "MissingAuthenticationTokenException", r


@pytest.mark.parametrize("auth", [
    "garbage",
    "AWS4-HMAC-SHA256 garbage",
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE",
    "AWS4-HMAC-SHA256 SignedHeaders=host;x-amz-date, Signature=abcd",
], ids=["garbage", "no-params", "credential-only", "no-credential"])
def test_incomplete_signature(tresor, auth):
    r = tresor.raw("TrentService.ListKeys", {}, authorization=auth)
    assert r.status == 400, r
    assert r.error_code == "IncompleteSignatureException", r


def test_missing_amz_date(tresor):
    r = tresor.raw("TrentService.ListKeys", {}, drop_headers=("X-Amz-Date",))
    assert r.status == 400, r
    assert r.error_code == "IncompleteSignatureException", r


def test_scope_for_another_service(tresor):
    r = tresor.raw("TrentService.ListKeys", {}, service="s3")
    assert r.status == 400, r
    assert r.error_code == "InvalidSignatureException", r


def test_scope_for_another_region(tresor):
    # The server serves us-east-1 only.
    r = tresor.raw("TrentService.ListKeys", {}, region="eu-west-1")
    assert r.status == 400, r
    assert r.error_code == "InvalidSignatureException", r


def test_content_sha256_mismatch(tresor, kms):
    before = {e["KeyId"] for e in kms.list_keys(Limit=1000)["Keys"]}
    signed_body = b"{}"
    sent_body = json.dumps({"Description": "smuggled"}).encode()
    # The header claims the hash of the signed body; a different body is sent.
    r = tresor.raw("TrentService.CreateKey", signed_body,
                   content_sha256=hashlib.sha256(signed_body).hexdigest(), send_body=sent_body)
    assert r.status == 400, r
    assert r.error_code == "InvalidSignatureException", r
    after = {e["KeyId"] for e in kms.list_keys(Limit=1000)["Keys"]}
    assert after == before


def test_content_sha256_matching_is_accepted(tresor):
    body = json.dumps({"Limit": 1}).encode()
    r = tresor.raw("TrentService.ListKeys", body,
                   content_sha256=hashlib.sha256(body).hexdigest())
    assert r.status == 200, r


# ---------------------------------------------------------------------------
# Data directory, restarts and signals


def test_first_start_initializes_data_dir(tresor_factory):
    srv = tresor_factory("init")
    d = srv.data_dir
    root_key = d / "root.key"
    assert root_key.is_file()
    assert stat.S_IMODE(root_key.stat().st_mode) == 0o600
    assert root_key.stat().st_size == 32
    if srv.store_url:               # TRESOR_E2E_STORE=postgres: the store is the database
        assert not (d / "tresor.db").exists()
        assert pg_sql("SELECT count(*) FROM accounts", srv.store_url).strip() == "1"
    else:
        assert (d / "tresor.db").is_file()
    creds = d / "credentials"
    assert stat.S_IMODE(creds.stat().st_mode) & 0o077 == 0, "credentials must not be readable by others"
    assert re.match(r"^[A-Z0-9]{16,128}$", srv.access_key), srv.access_key
    assert len(srv.secret_key) >= 20
    config = (d / "config").read_text()
    assert re.search(r"^\[profile tresor\]\s*$", config, re.M), config
    assert re.search(r"^region\s*=\s*us-east-1\s*$", config, re.M), config
    assert srv.stdout_text().strip(), "start-up prints a banner to stdout"


def test_requests_are_logged_one_line_each(tresor_factory):
    srv = tresor_factory("logging")
    kms = srv.kms()

    def lines():
        return len(srv.stderr_text().splitlines())
    before = lines()
    for _ in range(5):
        kms.list_keys(Limit=1)

    def enough():
        assert lines() >= before + 5, (before, lines())
    eventually(enough, timeout=3)


def test_data_survives_restart(tresor_factory):
    srv = tresor_factory("persist")
    kms = srv.kms()
    access_key, secret_key = srv.access_key, srv.secret_key
    md = new_key(kms, Description="persistent", Tags=[{"TagKey": "t", "TagValue": "v"}])
    alias = "alias/persistent"
    kms.create_alias(AliasName=alias, TargetKeyId=md["KeyId"])
    kms.enable_key_rotation(KeyId=md["KeyId"])
    blob = kms.encrypt(KeyId=alias, Plaintext=b"across restarts",
                       EncryptionContext={"r": "1"})["CiphertextBlob"]
    dk = kms.generate_data_key(KeyId=md["KeyId"], KeySpec="AES_256")
    disabled = new_key(kms)
    kms.disable_key(KeyId=disabled["KeyId"])
    root_key = (srv.data_dir / "root.key").read_bytes()

    srv.restart()
    kms = srv.kms()
    assert (srv.access_key, srv.secret_key) == (access_key, secret_key)
    assert (srv.data_dir / "root.key").read_bytes() == root_key
    assert kms.describe_key(KeyId=md["KeyId"])["KeyMetadata"] == md
    assert kms.describe_key(KeyId=alias)["KeyMetadata"]["KeyId"] == md["KeyId"]
    assert kms.list_resource_tags(KeyId=md["KeyId"])["Tags"] == [{"TagKey": "t", "TagValue": "v"}]
    assert kms.get_key_rotation_status(KeyId=md["KeyId"])["KeyRotationEnabled"] is True
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"r": "1"})[
        "Plaintext"] == b"across restarts"
    assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] == dk["Plaintext"]
    assert kms.describe_key(KeyId=disabled["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"


def _files_under(root):
    for dirpath, _, names in os.walk(root):
        for n in names:
            yield os.path.join(dirpath, n)


def test_no_secrets_in_the_clear(tresor_factory):
    srv = tresor_factory("secrets")
    kms = srv.kms()
    md = new_key(kms)
    canary = b"TRESOR-CANARY-" + os.urandom(12).hex().encode() + b"-PLAINTEXT"
    kms.encrypt(KeyId=md["KeyId"], Plaintext=canary, EncryptionContext={"c": "1"})
    big_canary = (b"BIG-CANARY-" + os.urandom(8).hex().encode()) * 100
    kms.encrypt(KeyId=md["KeyId"], Plaintext=big_canary[:4096])
    dk = kms.generate_data_key(KeyId=md["KeyId"], KeySpec="AES_256")["Plaintext"]
    dk64 = kms.generate_data_key(KeyId=md["KeyId"], NumberOfBytes=64)["Plaintext"]
    kms.re_encrypt(CiphertextBlob=kms.encrypt(KeyId=md["KeyId"], Plaintext=canary)[
        "CiphertextBlob"], DestinationKeyId=md["KeyId"])
    root_key = (srv.data_dir / "root.key").read_bytes()
    secret = srv.secret_key.encode()
    srv.stop_clean()

    needles = {
        "plaintext": canary, "plaintext-b64": base64.b64encode(canary),
        "big-plaintext": big_canary[:64],
        "data-key": dk, "data-key-b64": base64.b64encode(dk), "data-key-hex": dk.hex().encode(),
        "data-key-64": dk64, "data-key-64-b64": base64.b64encode(dk64),
        "root-key-hex": root_key.hex().encode(), "root-key-b64": base64.b64encode(root_key),
    }
    files = list(_files_under(srv.data_dir))
    if srv.store_url:               # the store's bytes are the cluster's files of its database
        files += [str(p) for p in pg_store_files(srv.pg_db[0])]
    else:
        assert any(f.endswith("tresor.db") for f in files), files
    found_secret_in = []
    for path in files:
        data = open(path, "rb").read()
        name = os.path.basename(path)
        for label, needle in needles.items():
            assert needle not in data, f"{label} found in the clear in {path}"
        if name != "root.key":
            assert root_key not in data, f"the root key is copied into {path}"
        if secret in data:
            found_secret_in.append(name)
    assert found_secret_in == ["credentials"], (
        f"the secret access key must be only in the credentials file, found in {found_secret_in}")
    logs = srv.stdout_text() + srv.stderr_text()
    for label in ("plaintext", "plaintext-b64", "data-key-b64", "data-key-hex",
                  "data-key-64-b64", "root-key-hex", "root-key-b64"):
        assert needles[label] not in logs, f"{label} appears in the server's output"


def test_sigint_exits_zero(tresor_factory):
    srv = tresor_factory("sigint")
    srv.kms().list_keys()
    assert srv.stop(signal.SIGINT) == 0, srv.log_tail()
    srv.start()  # the data dir is reusable right away (locks released)
    assert srv.kms().list_keys()["Truncated"] in (True, False)


def test_configuration_through_environment(tresor_factory):
    srv = tresor_factory("envcfg", start=False)
    srv.start(use_env_config=True)
    kms = srv.kms()
    md = new_key(kms)
    assert md["Arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{md['KeyId']}"
    assert (srv.data_dir / "credentials").is_file()


def test_concurrent_clients(tresor):
    kms0 = tresor.kms()
    md = new_key(kms0)
    errors = []

    def worker(n):
        try:
            kms = tresor.kms()
            for i in range(15):
                pt = f"worker {n} message {i}".encode()
                blob = kms.encrypt(KeyId=md["KeyId"], Plaintext=pt,
                                   EncryptionContext={"n": str(n)})["CiphertextBlob"]
                got = kms.decrypt(CiphertextBlob=blob, EncryptionContext={"n": str(n)})
                assert got["Plaintext"] == pt
                dk = kms.generate_data_key(KeyId=md["KeyId"], KeySpec="AES_128")
                assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])[
                    "Plaintext"] == dk["Plaintext"]
        except Exception as e:  # collected and reported below
            errors.append(f"worker {n}: {e!r}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors


# ---------------------------------------------------------------------------
# AWS CLI


def test_cli_create_list_encrypt_decrypt(tresor, tmp_path):
    rc, out, err = tresor.aws("create-key", "--description", "made by the cli",
                              "--tags", "TagKey=via,TagValue=cli")
    assert rc == 0, err
    md = out["KeyMetadata"]
    assert UUID_RE.match(md["KeyId"])
    assert md["Description"] == "made by the cli"
    assert md["KeyState"] == "Enabled"
    assert md["Arn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{md['KeyId']}"

    rc, out, err = tresor.aws("list-keys")
    assert rc == 0, err
    assert {"KeyId": md["KeyId"], "KeyArn": md["Arn"]} in out["Keys"]

    plaintext = bytes(range(256)) + b"cli payload"
    pt_file = tmp_path / "plain.bin"
    pt_file.write_bytes(plaintext)
    rc, out, err = tresor.aws("encrypt", "--key-id", md["KeyId"], "--plaintext",
                              f"fileb://{pt_file}", "--encryption-context", "purpose=cli")
    assert rc == 0, err
    assert out["KeyId"] == md["Arn"]
    assert out["EncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    ct_file = tmp_path / "cipher.bin"
    ct_file.write_bytes(base64.b64decode(out["CiphertextBlob"]))

    rc, out, err = tresor.aws("decrypt", "--ciphertext-blob", f"fileb://{ct_file}",
                              "--encryption-context", "purpose=cli")
    assert rc == 0, err
    assert base64.b64decode(out["Plaintext"]) == plaintext
    assert out["KeyId"] == md["Arn"]

    rc, out, err = tresor.aws("decrypt", "--ciphertext-blob", f"fileb://{ct_file}")
    assert rc == 254, (rc, err)
    assert "InvalidCiphertextException" in err


def test_cli_error_reporting(tresor):
    name = unique("alias/cli-missing")
    rc, out, err = tresor.aws("describe-key", "--key-id", name)
    assert rc == 254, (rc, out, err)
    assert "An error occurred (NotFoundException) when calling the DescribeKey operation: " \
           f"{alias_not_found_msg(name)}" in err, err


def test_cli_generate_random_and_data_key(tresor):
    rc, out, err = tresor.aws("generate-random", "--number-of-bytes", "16")
    assert rc == 0, err
    assert len(base64.b64decode(out["Plaintext"])) == 16
    rc, out, err = tresor.aws("create-key")
    assert rc == 0, err
    kid = out["KeyMetadata"]["KeyId"]
    rc, out, err = tresor.aws("generate-data-key", "--key-id", kid, "--key-spec", "AES_256")
    assert rc == 0, err
    assert len(base64.b64decode(out["Plaintext"])) == 32
    assert out["KeyId"].endswith(kid)
