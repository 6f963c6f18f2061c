"""
The bad-input matrix, protocol level (once each, not per operation):
requests trickled in below the server's timeout and clients that stall,
truncated bodies, header floods, wrong or missing Content-Type and
X-Amz-Target, signed requests replayed outside the 15-minute window,
signatures scoped to another service or region, and session tokens of
expired, deleted or revoked sessions.

Each answer is AWS's error shape with the right code (or, for a broken
connection, no answer at all), the server keeps serving, and a dump of the
store is the same before and after.  Choices where AWS's behaviour is not
documented are stated at the test.
"""

import datetime
import json
import socket
import time

import pytest
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from bad_input import MATRIX, dump_store, store_diff
from tresor_e2e import (
    FORM_CT, IAM_NS, JSON_CT, REGION, STS_NS, Caller, RawResponse, TresorServer, _FixedTimeSigV4, allow,
    assume_role, make_role, make_user, sanitize_error_code, trust_policy,
)


def count(kind, n=1):
    MATRIX[("protocol", "-", kind)] += n


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = TresorServer("protocol", tmp_path_factory.mktemp("tresor-protocol"))
    s.start()
    yield s
    s.close()


@pytest.fixture
def unchanged(srv):
    """The store is the same after the test as before it, and the server
    still answers a valid request of each protocol."""
    before = dump_store(srv.data_dir)
    yield
    assert srv.raw("TrentService.ListKeys", {"Limit": 1}).status == 200
    assert srv.query("sts", "GetCallerIdentity").status == 200
    diff = store_diff(before, dump_store(srv.data_dir))
    assert not diff, "the store changed:\n" + "\n".join(diff[:20])


# ---- requests by hand -------------------------------------------------------

def signed_headers(srv, body, headers, *, service="kms", region=REGION, when=None,
                   access_key=None, secret_key=None, token=None):
    """Exactly `headers` (plus Host and the SigV4 headers), signed by
    botocore's signer for `body`."""
    hdrs = {"Host": f"127.0.0.1:{srv.port}", **headers}
    if token:
        hdrs["X-Amz-Security-Token"] = token
    req = AWSRequest(method="POST", url=f"{srv.endpoint}/", data=body, headers=hdrs)
    creds = Credentials(access_key or srv.access_key, secret_key or srv.secret_key)
    _FixedTimeSigV4(creds, service, region, when or datetime.datetime.utcnow()).add_auth(req)
    return dict(req.headers.items())


def head_bytes(headers, content_length):
    lines = ["POST / HTTP/1.1"] + [f"{k}: {v}" for k, v in headers.items()]
    lines.append(f"Content-Length: {content_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def read_reply(s, timeout=10):
    """(status, headers, body) of the reply on socket s, or None when the
    server closed the connection without one."""
    s.settimeout(timeout)
    data = b""
    while True:
        if b"\r\n\r\n" in data:
            head, rest = data.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            hdrs = {}
            for line in lines[1:]:
                k, _, v = line.partition(":")
                hdrs[k.strip().lower()] = v.strip()
            n = int(hdrs.get("content-length", "0"))
            if len(rest) >= n:
                return int(lines[0].split()[1]), hdrs, rest[:n]
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            return None
        if not chunk:
            return None
        data += chunk


def send_raw(srv, data, *, pause=0.0, chunks=1, timeout=10):
    """Send data in `chunks` pieces `pause` seconds apart; the reply."""
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=timeout)
    try:
        step = max(1, -(-len(data) // chunks))
        for i in range(0, len(data), step):
            try:
                s.sendall(data[i:i + step])
            except (BrokenPipeError, ConnectionResetError):
                break
            if pause:
                time.sleep(pause)
        return read_reply(s, timeout)
    finally:
        s.close()


def as_response(reply):
    status, hdrs, body = reply
    return RawResponse(status, list(hdrs.items()), body)


def assert_json_error(r, code, status=400, contains=None):
    assert r.status == status, r
    assert r.headers.get("content-type", "").startswith(JSON_CT), r
    assert isinstance(r.json, dict) and sanitize_error_code(r.json.get("__type")) == code, r
    assert r.request_id, r
    if contains:
        assert contains in (r.error_message or ""), r


def assert_xml_error(r, code, status, xmlns=IAM_NS, contains=None):
    assert r.status == status, r
    x = r.xml
    assert x is not None and x.tag == f"{{{xmlns}}}ErrorResponse", r
    assert r.xml_text("Error/Code") == code, r
    assert r.xml_text("Error/Type") == "Sender", r
    assert r.xml_text("RequestId"), r
    if contains:
        assert contains in (r.xml_text("Error/Message") or ""), r


# ---- slow, stalled and truncated requests -----------------------------------

def test_trickled_request_is_served(srv):
    """Bytes trickled in well inside the connection timeout (60 s): the
    request is served as if it came at once."""
    body = json.dumps({"Description": "trickled in"}).encode()
    hdrs = signed_headers(srv, body, {"Content-Type": JSON_CT,
                                      "X-Amz-Target": "TrentService.CreateKey"})
    reply = send_raw(srv, head_bytes(hdrs, len(body)) + body, chunks=12, pause=0.15)
    count("slow")
    assert reply is not None
    r = as_response(reply)
    assert r.status == 200, r
    key = r.json["KeyMetadata"]["KeyId"]
    assert srv.kms().describe_key(KeyId=key)["KeyMetadata"]["Description"] == "trickled in"


def test_stalled_clients_do_not_stop_the_server(srv, unchanged):
    """Clients that stop mid-headers or mid-body hold a connection each
    (until the 60 s timeout) and nothing else: others are served at once,
    and nothing of the stalled requests reaches the store."""
    body = json.dumps({"Description": "never finished"}).encode()
    hdrs = signed_headers(srv, body, {"Content-Type": JSON_CT,
                                      "X-Amz-Target": "TrentService.CreateKey"})
    full = head_bytes(hdrs, len(body))
    stalled = []
    try:
        for i in range(60):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            stalled.append(s)
            if i % 3 == 0:
                s.sendall(full[:len(full) // 2])           # in the headers
            elif i % 3 == 1:
                s.sendall(full + body[:len(body) // 2])    # in the body
            else:
                s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # no end of headers
        count("stall", len(stalled))
        for _ in range(5):
            t0 = time.monotonic()
            assert srv.raw("TrentService.ListKeys", {"Limit": 1}).status == 200
            assert time.monotonic() - t0 < 3
    finally:
        for s in stalled:
            s.close()


@pytest.mark.parametrize("service,target,body,how", [
    (svc, tgt, body, how)
    for svc, tgt, body in [
        ("kms", "TrentService.CreateKey", json.dumps({"Description": "truncated"})),
        ("secretsmanager", "secretsmanager.CreateSecret",
         json.dumps({"Name": "truncated", "SecretString": "never stored"})),
        ("iam", None, "Action=CreateUser&Version=2010-05-08&UserName=truncated"),
        ("sts", None, "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=900"),
    ]
    for how in ("half-close", "close")
])
def test_truncated_body(srv, unchanged, service, target, body, how):
    """Content-Length promises more than is sent, then the client ends its
    side (or closes): no reply that acts on the partial body; nothing
    stored."""
    body = body.encode()
    headers = {"Content-Type": JSON_CT if target else FORM_CT}
    if target:
        headers["X-Amz-Target"] = target
    hdrs = signed_headers(srv, body, headers, service=service)
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        s.sendall(head_bytes(hdrs, len(body) + 100) + body)
        count("truncated")
        if how == "half-close":
            s.shutdown(socket.SHUT_WR)
            reply = read_reply(s, timeout=5)
            assert reply is None or 400 <= reply[0] < 500, reply
    finally:
        s.close()


# ---- header floods ----------------------------------------------------------

@pytest.mark.parametrize("flood", ["200-headers", "5000-headers", "one-100KB-header",
                                   "one-8KB-target"])
def test_header_flood(srv, unchanged, flood):
    """More headers than the server keeps (128), more header bytes than a
    connection may use (32 KiB), one huge header: refused -- an AWS error
    body when the server answers (413 for too many headers), else a
    closed connection -- and the server keeps serving."""
    body = b'{"Limit":1}'
    extra = {}
    if flood == "200-headers":
        extra = {f"X-Flood-{i}": "x" for i in range(200)}
    elif flood == "5000-headers":
        extra = {f"X-Flood-{i}": "x" * 8 for i in range(5000)}
    elif flood == "one-100KB-header":
        extra = {"X-Flood": "x" * 100_000}
    target = "TrentService.ListKeys" if flood != "one-8KB-target" else \
        "TrentService." + "L" * 8192
    hdrs = signed_headers(srv, body, {"Content-Type": JSON_CT, "X-Amz-Target": target, **extra})
    reply = send_raw(srv, head_bytes(hdrs, len(body)) + body)
    count("header-flood")
    if flood == "one-8KB-target":
        assert_json_error(as_response(reply), "UnknownOperationException")
    elif flood == "200-headers":
        assert_json_error(as_response(reply), "RequestEntityTooLarge", status=413)
    else:
        # Beyond the connection's memory: libmicrohttpd answers 431 (or
        # 413) itself, or drops the connection.
        assert reply is None or reply[0] in (413, 431), reply


# ---- the largest head served ------------------------------------------------

HEAD_MAX = 16 * 1024            # request line and headers (docs/WIRE.md 1.4)
HEADERS_MAX = 128


def head_of_size(srv, size, nheaders, nparams=0):
    """A ListKeys request signed by botocore (its query string, when it
    has `nparams` parameters, signed too), padded with unsigned headers to
    exactly `nheaders` headers and a head -- request line, header lines,
    blank line -- of exactly `size` bytes; the request bytes."""
    body = b'{"Limit":1}'
    query = "&".join(f"p{i:02d}=v" for i in range(nparams))
    url = f"{srv.endpoint}/" + (f"?{query}" if query else "")
    hdrs = {"Host": f"127.0.0.1:{srv.port}", "Content-Type": JSON_CT,
            "X-Amz-Target": "TrentService.ListKeys"}
    req = AWSRequest(method="POST", url=url, data=body, headers=hdrs)
    _FixedTimeSigV4(Credentials(srv.access_key, srv.secret_key), "kms", REGION,
                    datetime.datetime.utcnow()).add_auth(req)
    hdrs = dict(req.headers.items())
    hdrs["Content-Length"] = str(len(body))
    pad = nheaders - len(hdrs)
    assert pad >= 1
    hdrs.update({f"X-Pad-{i:03d}": "p" for i in range(pad)})
    line = "POST /" + (f"?{query}" if query else "") + " HTTP/1.1"

    def head():
        return ("\r\n".join([line] + [f"{k}: {v}" for k, v in hdrs.items()]) + "\r\n\r\n").encode()

    hdrs[f"X-Pad-{pad - 1:03d}"] = "p" * (1 + size - len(head()))
    data = head()
    assert len(data) == size and data.count(b"\r\n") == nheaders + 2
    return data + body


@pytest.mark.parametrize("nheaders,nparams", [(HEADERS_MAX, 0), (HEADERS_MAX, 64), (12, 0)])
def test_largest_head_is_served(srv, unchanged, nheaders, nparams):
    """A head of exactly 16 KiB with up to 128 headers (and up to 64 query
    parameters) is read whole and answered -- what libmicrohttpd's
    per-connection pool is sized for (server.c, CONN_POOL_SIZE)."""
    reply = send_raw(srv, head_of_size(srv, HEAD_MAX, nheaders, nparams))
    count("head-limit")
    r = as_response(reply)
    assert r.status == 200, r
    assert r.json == srv.raw("TrentService.ListKeys", {"Limit": 1}).json, r


@pytest.mark.parametrize("nheaders,size", [(HEADERS_MAX, HEAD_MAX + 1), (12, HEAD_MAX + 1),
                                           (12, 24 * 1024)])
def test_head_over_the_limit(srv, unchanged, nheaders, size):
    """A byte over 16 KiB of head, and well over (while the connection's
    pool still holds it): tresor's 413 RequestEntityTooLarge in the JSON
    shape, naming the limits; nothing runs."""
    reply = send_raw(srv, head_of_size(srv, size, nheaders))
    count("head-limit")
    assert_json_error(as_response(reply), "RequestEntityTooLarge", status=413,
                      contains="Request headers exceed the limit of 128 headers and 16384 bytes")


def test_head_over_the_limit_query_protocol(srv, unchanged):
    """The same for a query-protocol request: the XML error."""
    body = b"Action=GetCallerIdentity&Version=2011-06-15"
    hdrs = signed_headers(srv, body, {"Content-Type": FORM_CT, "X-Big": "b" * HEAD_MAX}, service="sts")
    r = as_response(send_raw(srv, head_bytes(hdrs, len(body)) + body))
    count("head-limit")
    assert_xml_error(r, "RequestEntityTooLarge", 413, xmlns=STS_NS,
                     contains="Request headers exceed the limit of 128 headers and 16384 bytes")


# ---- Content-Type and X-Amz-Target ----------------------------------------

@pytest.mark.parametrize("ctype", [None, "text/plain", "application/json",
                                   "application/x-www-form-urlencoded",
                                   "application/x-amz-json-1.0"])
def test_content_type_does_not_change_the_answer(srv, unchanged, ctype):
    """awsJson1_1 requests are routed by X-Amz-Target and the credential
    scope; the Content-Type is not consulted (AWS's front ends take
    application/json as well).  A wrong or missing one gets the same
    answer as the right one."""
    body = json.dumps({"KeyId": "alias/no-such-alias"}).encode()
    headers = {"X-Amz-Target": "TrentService.DescribeKey"}
    if ctype:
        headers["Content-Type"] = ctype
    hdrs = signed_headers(srv, body, headers)
    r = as_response(send_raw(srv, head_bytes(hdrs, len(body)) + body))
    count("content-type")
    assert_json_error(r, "NotFoundException")
    # A query request likewise: the form is read whatever the type says.
    qbody = b"Action=GetUser&Version=2010-05-08&UserName=no-such-user"
    qh = {"Content-Type": ctype} if ctype else {}
    hdrs = signed_headers(srv, qbody, qh, service="iam")
    r = as_response(send_raw(srv, head_bytes(hdrs, len(qbody)) + qbody))
    count("content-type")
    assert_xml_error(r, "NoSuchEntity", 404)


@pytest.mark.parametrize("case", ["no-target-kms", "no-target-sm", "empty-op", "unknown-prefix",
                                  "lowercase-prefix", "target-for-sm-signed-kms", "get",
                                  "other-path", "target-with-form"])
def test_missing_or_wrong_target(srv, unchanged, case):
    body = b"{}"
    service, target, method, path = "kms", "TrentService.ListKeys", "POST", "/"
    code, status = "UnknownOperationException", 400
    if case == "no-target-kms":
        target = None
    elif case == "no-target-sm":
        target, service = None, "secretsmanager"
    elif case == "empty-op":
        target = "TrentService."
    elif case == "unknown-prefix":
        target = "DynamoDB_20120810.ListTables"
    elif case == "lowercase-prefix":
        target = "trentservice.ListKeys"
    elif case == "target-for-sm-signed-kms":
        target = "secretsmanager.ListSecrets"
        code = "InvalidSignatureException"
    elif case == "get":
        method = "GET"
    elif case == "other-path":
        path = "/other"
    r = srv.raw(target, body, service=service, method=method, path=path)
    if case == "target-with-form":
        # An IAM form sent with a KMS target and scope: it is a KMS request.
        r = srv.raw("TrentService.ListKeys", "Action=CreateUser&Version=2010-05-08&UserName=x")
        code = "SerializationException"
    count("target")
    assert_json_error(r, code, status)


# ---- replays, scopes --------------------------------------------------------

WRITES = {
    "kms": ("TrentService.CreateKey", json.dumps({"Description": "replayed"})),
    "secretsmanager": ("secretsmanager.CreateSecret",
                       json.dumps({"Name": "replayed", "SecretString": "replayed value"})),
    "iam": (None, "Action=CreateUser&Version=2010-05-08&UserName=replayed"),
    "sts": (None, "Action=GetSessionToken&Version=2011-06-15&DurationSeconds=900"),
}


def send_write(srv, service, **kwargs):
    target, body = WRITES[service]
    headers = {} if target else {"Content-Type": FORM_CT}
    return srv.raw(target, body, service=kwargs.pop("scope_service", service), headers=headers,
                   **kwargs)


def assert_auth_error(r, service, json_code, xml_code, xml_status, contains=None, xmlns=None):
    if service in ("kms", "secretsmanager"):
        assert_json_error(r, json_code, contains=contains)
    else:
        assert_xml_error(r, xml_code, xml_status,
                         xmlns or (IAM_NS if service == "iam" else STS_NS), contains=contains)


@pytest.mark.parametrize("service", list(WRITES))
@pytest.mark.parametrize("minutes", [-16, -60 * 24, 16])
def test_replay_outside_the_clock_window(srv, unchanged, service, minutes):
    """A signed write replayed (or sent) more than 15 minutes away from
    the server's clock: Signature expired, nothing done."""
    when = datetime.datetime.utcnow() + datetime.timedelta(minutes=minutes)
    r = send_write(srv, service, when=when)
    count("replay")
    assert_auth_error(r, service, "InvalidSignatureException", "SignatureDoesNotMatch", 403,
                      contains="Signature expired" if minutes < 0 else None)


@pytest.mark.parametrize("service", list(WRITES))
@pytest.mark.parametrize("scope", ["other-service", "s3", "other-region", "no-region"])
def test_signature_for_another_service_or_region(srv, unchanged, service, scope):
    """Signed for another service or region: refused before anything
    runs.  (IAM and STS requests are told apart by the scope itself, so
    an IAM request signed for STS is an unknown STS action.)"""
    kwargs = {}
    if scope == "other-service":
        kwargs["scope_service"] = {"kms": "secretsmanager", "secretsmanager": "kms",
                                   "iam": "sts", "sts": "iam"}[service]
    elif scope == "s3":
        kwargs["scope_service"] = "s3"
    elif scope == "other-region":
        kwargs["region"] = "eu-west-1"
    else:
        kwargs["region"] = ""
    r = send_write(srv, service, **kwargs)
    count("scope")
    if scope == "no-region":
        # An empty scope component is not a credential AWS can parse.
        if service in ("kms", "secretsmanager"):
            assert r.status == 400 and r.error_code in (
                "IncompleteSignatureException", "InvalidSignatureException"), r
        else:
            assert r.status in (400, 403) and r.xml_text("Error/Code") in (
                "IncompleteSignature", "SignatureDoesNotMatch"), r
    elif scope == "other-service" and service in ("iam", "sts"):
        other = kwargs["scope_service"]
        assert_xml_error(r, "InvalidAction", 400, IAM_NS if other == "iam" else STS_NS)
    else:
        # A scope naming no query service does not say whether IAM or STS
        # was meant: the error is in IAM's namespace.
        assert_auth_error(r, service, "InvalidSignatureException", "SignatureDoesNotMatch", 403,
                          contains="Credential should be scoped",
                          xmlns=IAM_NS if scope == "s3" else None)


# ---- session tokens -----------------------------------------------------------

def session_calls(srv, c):
    """One call per protocol with the Caller's credentials."""
    kms = srv.raw("TrentService.ListKeys", {"Limit": 1}, access_key=c.access_key,
                  secret_key=c.secret_key, headers={"X-Amz-Security-Token": c.session_token}
                  if c.session_token else None)
    sts = srv.query("sts", "GetCallerIdentity", access_key=c.access_key,
                    secret_key=c.secret_key, session_token=c.session_token)
    iam = srv.query("iam", "CreateUser", {"UserName": "made-by-a-bad-session"},
                    access_key=c.access_key, secret_key=c.secret_key,
                    session_token=c.session_token)
    return kms, sts, iam


def assert_refused(calls, json_code, xml_code, xml_status):
    kms, sts, iam = calls
    count("session", 3)
    assert_json_error(kms, json_code)
    assert_xml_error(sts, xml_code, xml_status, STS_NS)
    assert_xml_error(iam, xml_code, xml_status, IAM_NS)


def test_session_tokens_of_deleted_and_revoked_sessions(srv):
    root = srv.root_user
    user = make_user(root, policy=allow("*"))
    role = make_role(root, trust=trust_policy(user.arn), policy=allow("*"))
    a = assume_role(user, role["Arn"], DurationSeconds=900)
    b = assume_role(user, role["Arn"], DurationSeconds=900)
    gst = user.sts.get_session_token(DurationSeconds=900)["Credentials"]
    g = Caller(srv, gst["AccessKeyId"], gst["SecretAccessKey"], gst["SessionToken"])
    assert srv.query("sts", "GetCallerIdentity", access_key=a.access_key,
                     secret_key=a.secret_key, session_token=a.session_token).status == 200
    before = dump_store(srv.data_dir)

    # Another session's token, a garbled one, none, and one sent with a
    # permanent key: the token is invalid.
    assert_refused(session_calls(srv, a.with_credentials(session_token=b.session_token)),
                   "UnrecognizedClientException", "InvalidClientTokenId", 403)
    assert_refused(session_calls(srv, a.with_credentials(session_token=a.session_token[:-4] + "AAAA")),
                   "UnrecognizedClientException", "InvalidClientTokenId", 403)
    assert_refused(session_calls(srv, a.with_credentials(drop_token=True)),
                   "UnrecognizedClientException", "InvalidClientTokenId", 403)
    assert_refused(session_calls(srv, user.with_credentials(session_token=a.session_token)),
                   "UnrecognizedClientException", "InvalidClientTokenId", 403)
    assert not store_diff(before, dump_store(srv.data_dir))

    # The role deleted: its sessions are invalid everywhere, GetCallerIdentity
    # included.
    root.iam.delete_role_policy(RoleName=role["RoleName"], PolicyName="inline")
    root.iam.delete_role(RoleName=role["RoleName"])
    before = dump_store(srv.data_dir)
    assert_refused(session_calls(srv, a), "UnrecognizedClientException", "InvalidClientTokenId",
                   403)
    assert not store_diff(before, dump_store(srv.data_dir))
    # The user deleted (its access key first, as IAM requires): its
    # GetSessionToken session goes with it.
    root.iam.delete_access_key(UserName=user.name, AccessKeyId=user.access_key)
    root.iam.delete_user_policy(UserName=user.name, PolicyName="inline")
    root.iam.delete_user(UserName=user.name)
    before = dump_store(srv.data_dir)
    assert_refused(session_calls(srv, g), "UnrecognizedClientException", "InvalidClientTokenId",
                   403)
    assert not store_diff(before, dump_store(srv.data_dir))
    assert srv.query("sts", "GetCallerIdentity").status == 200


def test_session_tokens_of_expired_sessions(tresor_factory):
    """Sessions past their expiry (the server's clock moved on with
    TRESOR_CLOCK_OFFSET): ExpiredTokenException / ExpiredToken, nothing
    done; a session still inside its time keeps working."""
    srv = tresor_factory("expiry")
    root = srv.root_user
    user = make_user(root, policy=allow("*"))
    role = make_role(root, trust=trust_policy(user.arn), policy=allow("*"), max_session=7200)
    short = assume_role(user, role["Arn"], DurationSeconds=900)
    long_ = assume_role(user, role["Arn"], DurationSeconds=7200)
    gst = user.sts.get_session_token(DurationSeconds=900)["Credentials"]
    g = Caller(srv, gst["AccessKeyId"], gst["SecretAccessKey"], gst["SessionToken"])
    srv.restart({"TRESOR_CLOCK_OFFSET": "1000"})
    before = dump_store(srv.data_dir)
    for c in (short, g):
        assert_refused(session_calls(srv, c), "ExpiredTokenException", "ExpiredToken", 400)
    r = srv.query("sts", "GetCallerIdentity", access_key=long_.access_key,
                  secret_key=long_.secret_key, session_token=long_.session_token)
    assert r.status == 200, r
    assert not store_diff(before, dump_store(srv.data_dir))
