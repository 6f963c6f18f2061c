"""
Query-protocol requests (IAM, STS) whose parameters travel in the URL:
presigned URLs (query-string SigV4, what `aws eks get-token` and the
Kubernetes AWS IAM authenticator hand out as tokens), header-signed GETs,
and POSTs whose parameters are in the query string, the body or both.

What is checked against AWS's behaviour:
  - Action, Version and the parameters come from the query string (and the
    form body); the answer is the same XML as for a form POST;
  - the method is signed: a URL presigned for POST (boto3's default for
    these services) works as a POST with an empty body, and as a GET is
    SignatureDoesNotMatch, as on AWS;
  - a presigned request to STS or IAM is good for 15 minutes after its
    X-Amz-Date, whatever X-Amz-Expires says (STS ignores it: the CLI's
    get-token presigns with 60 s and calls the token good for 14 minutes);
    older is SignatureDoesNotMatch "Signature expired: ... - 15 min.)";
  - a parameter changed, added or removed after signing is
    SignatureDoesNotMatch, and a write so tampered changes nothing;
  - KMS and Secrets Manager take only POST with X-Amz-Target: anything
    else is their UnknownOperationException, with the message AWS's
    awsJson front end sends ("The requested operation is not recognized by
    the service."), which botocore parses.
"""

import datetime
import re
import urllib.error
import urllib.parse
import urllib.request

import botocore.parsers
import pytest
from botocore.auth import SIGV4_TIMESTAMP, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tresor_e2e import (
    ACCOUNT, BAD_SIGNATURE_MSG, IAM_NS, IAM_VERSION, INVALID_TOKEN_MSG, REGION, STS_NS,
    STS_VERSION, RawResponse, allow, assume_role, make_role, make_user, role_arn,
    session_arn, trust_policy, unique,
)

UNKNOWN_OP_MSG = "The requested operation is not recognized by the service."
EXPIRED_RE = (r"^Signature expired: {amz} is now earlier than \d{{8}}T\d{{6}}Z "
              r"\(\d{{8}}T\d{{6}}Z - 15 min\.\)$")
NOT_YET_RE = (r"^Signature not yet current: {amz} is still later than \d{{8}}T\d{{6}}Z "
              r"\(\d{{8}}T\d{{6}}Z \+ 15 min\.\)$")


class _PresignAt(SigV4QueryAuth):
    """botocore's presigner (query-string SigV4), signing at a chosen instant."""

    def __init__(self, credentials, service, region, expires, when):
        super().__init__(credentials, service, region, expires=expires)
        self._when = when

    def add_auth(self, request):
        request.context["timestamp"] = self._when.strftime(SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        signature = self.signature(string_to_sign, request)
        self._inject_signature_to_request(request, signature)


def presign(caller, service, action, params=None, *, method="GET", expires=900, when=None,
            headers=None):
    """A URL presigned by `caller` for `action` (query protocol), as botocore
    builds it, at `when` (a naive UTC datetime; default now)."""
    version = IAM_VERSION if service == "iam" else STS_VERSION
    req = AWSRequest(method=method, url=f"{caller.server.endpoint}/",
                     params={"Action": action, "Version": version, **(params or {})},
                     headers=dict(headers or {}))
    creds = Credentials(caller.access_key, caller.secret_key, caller.session_token)
    _PresignAt(creds, service, REGION, expires, when or datetime.datetime.utcnow()).add_auth(req)
    return req.prepare().url


def fetch(url, method="GET", data=None, headers=None):
    """One request with urllib; a RawResponse whatever the status."""
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return RawResponse(r.status, r.getheaders(), r.read())
    except urllib.error.HTTPError as e:
        return RawResponse(e.code, e.headers.items(), e.read())


def with_param(url, name, value):
    """url with query parameter `name` set to `value` (added when absent;
    removed when value is None), every other byte of the query kept."""
    parts = urllib.parse.urlsplit(url)
    pieces = [p for p in parts.query.split("&") if p]
    enc = urllib.parse.quote(name, safe="")
    out, done = [], False
    for p in pieces:
        if p.split("=", 1)[0] == enc:
            done = True
            if value is not None:
                out.append(f"{enc}={urllib.parse.quote(value, safe='')}")
        else:
            out.append(p)
    if not done and value is not None:
        out.append(f"{enc}={urllib.parse.quote(value, safe='')}")
    return urllib.parse.urlunsplit(parts._replace(query="&".join(out)))


def query_param(url, name):
    return urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)[name][0]


def assert_xml_ok(r, action, ns):
    assert r.status == 200, r
    assert r.headers.get("content-type", "").startswith("text/xml"), r
    x = r.xml
    assert x is not None and x.tag == f"{{{ns}}}{action}Response", r
    assert r.xml_text("ResponseMetadata/RequestId"), r


def assert_xml_error(r, code, status, message=None, *, ns=STS_NS, match=None):
    assert r.status == status, r
    x = r.xml
    assert x is not None and x.tag == f"{{{ns}}}ErrorResponse", r
    assert r.xml_text("Error/Type") == "Sender", r
    assert r.xml_text("Error/Code") == code, r
    if message is not None:
        assert r.xml_text("Error/Message") == message, r
    if match is not None:
        assert re.match(match, r.xml_text("Error/Message") or ""), r
    assert r.xml_text("RequestId"), r


def assert_identity(r, caller, user_id):
    assert_xml_ok(r, "GetCallerIdentity", STS_NS)
    assert r.xml_text("GetCallerIdentityResult/Arn") == caller.arn, r
    assert r.xml_text("GetCallerIdentityResult/Account") == ACCOUNT, r
    assert r.xml_text("GetCallerIdentityResult/UserId") == user_id, r


@pytest.fixture(scope="module")
def user(root):
    """A user with no permissions (GetCallerIdentity needs none)."""
    return make_user(root, unique("presign"))


@pytest.fixture(scope="module")
def lister(root):
    """A user allowed to read IAM users and to create them."""
    return make_user(root, unique("lister"),
                     policy=allow(["iam:ListUsers", "iam:GetUser", "iam:CreateUser"]))


# ---- STS GetCallerIdentity -----------------------------------------------------

def test_boto3_presigned_get_caller_identity(user):
    """boto3's generate_presigned_url with HttpMethod GET (what `aws eks
    get-token` does), fetched with urllib: the caller's identity."""
    url = user.sts.generate_presigned_url("get_caller_identity", HttpMethod="GET", ExpiresIn=60)
    assert "Action=GetCallerIdentity" in url and "X-Amz-Signature=" in url, url
    assert_identity(fetch(url), user, user.user_id)


def test_boto3_presigned_url_for_post(user):
    """Without HttpMethod boto3 signs the URL for the operation's method,
    POST: it works as a POST with an empty body (the parameters in the
    query string), and as a GET the signature does not match."""
    url = user.sts.generate_presigned_url("get_caller_identity")
    assert_identity(fetch(url, "POST", data=b""), user, user.user_id)
    assert_xml_error(fetch(url), "SignatureDoesNotMatch", 403, BAD_SIGNATURE_MSG)


def test_presigned_root_user(root):
    url = root.sts.generate_presigned_url("get_caller_identity", HttpMethod="GET")
    assert_identity(fetch(url), root, ACCOUNT)


def test_presigned_role_session(root):
    """Presigned with a role session's credentials: the session token is in
    the query (X-Amz-Security-Token, signed); without it the key is not
    accepted."""
    name = unique("presign-role")
    assumer = make_user(root, unique("assumer"), policy=allow("sts:AssumeRole", role_arn(name)))
    role = make_role(root, name, trust=trust_policy(assumer.arn))
    sess = assume_role(assumer, role["Arn"], "tok-in-query")
    url = sess.sts.generate_presigned_url("get_caller_identity", HttpMethod="GET")
    assert query_param(url, "X-Amz-Security-Token") == sess.session_token
    r = fetch(url)
    assert_identity(r, sess, f"{role['RoleId']}:tok-in-query")
    assert sess.arn == session_arn(role["RoleName"], "tok-in-query")
    # The token taken out of the URL: the temporary key alone is refused.
    r = fetch(with_param(url, "X-Amz-Security-Token", None))
    assert_xml_error(r, "InvalidClientTokenId", 403, INVALID_TOKEN_MSG)


def test_presigned_with_signed_header(user):
    """The Kubernetes authenticator's token: a presigned GetCallerIdentity
    with the x-k8s-aws-id header signed.  The header must be sent as
    signed."""
    url = presign(user, "sts", "GetCallerIdentity", headers={"x-k8s-aws-id": "cluster-a"},
                  expires=60)
    assert query_param(url, "X-Amz-SignedHeaders") == "host;x-k8s-aws-id"
    assert_identity(fetch(url, headers={"x-k8s-aws-id": "cluster-a"}), user, user.user_id)
    assert_xml_error(fetch(url, headers={"x-k8s-aws-id": "cluster-b"}),
                     "SignatureDoesNotMatch", 403, BAD_SIGNATURE_MSG)
    assert_xml_error(fetch(url), "SignatureDoesNotMatch", 403, BAD_SIGNATURE_MSG)


# ---- the clock ------------------------------------------------------------------

def test_presigned_good_for_15_minutes_whatever_expires_says(user):
    """STS judges a presigned request by the 15 minutes after X-Amz-Date,
    not by X-Amz-Expires: a token presigned with 60 s is still good after
    two minutes, and one presigned for an hour is refused after 16."""
    now = datetime.datetime.utcnow()
    url = presign(user, "sts", "GetCallerIdentity", expires=60,
                  when=now - datetime.timedelta(minutes=2))
    assert_identity(fetch(url), user, user.user_id)
    url = presign(user, "sts", "GetCallerIdentity", expires=1,
                  when=now - datetime.timedelta(minutes=14))
    assert_identity(fetch(url), user, user.user_id)

    old = now - datetime.timedelta(minutes=16)
    url = presign(user, "sts", "GetCallerIdentity", expires=3600, when=old)
    amz = old.strftime(SIGV4_TIMESTAMP)
    assert_xml_error(fetch(url), "SignatureDoesNotMatch", 403, match=EXPIRED_RE.format(amz=amz))


def test_presigned_expired_and_future_iam(lister):
    now = datetime.datetime.utcnow()
    old = now - datetime.timedelta(minutes=20)
    r = fetch(presign(lister, "iam", "ListUsers", expires=604800, when=old))
    assert_xml_error(r, "SignatureDoesNotMatch", 403, ns=IAM_NS,
                     match=EXPIRED_RE.format(amz=old.strftime(SIGV4_TIMESTAMP)))
    future = now + datetime.timedelta(minutes=20)
    r = fetch(presign(lister, "iam", "ListUsers", when=future))
    assert_xml_error(r, "SignatureDoesNotMatch", 403, ns=IAM_NS,
                     match=NOT_YET_RE.format(amz=future.strftime(SIGV4_TIMESTAMP)))


def test_presigned_expires_must_be_a_number(user):
    """X-Amz-Expires is still read: a number of seconds, at most a week.
    (Errors found before the credential scope is read are in IAM's
    namespace, as for header-signed requests.)"""
    url = presign(user, "sts", "GetCallerIdentity")
    r = fetch(with_param(url, "X-Amz-Expires", "soon"))
    assert_xml_error(r, "IncompleteSignature", 400, "X-Amz-Expires should be a number",
                     ns=IAM_NS)
    r = fetch(with_param(url, "X-Amz-Expires", "604801"))
    assert_xml_error(r, "IncompleteSignature", 400,
                     "X-Amz-Expires must be less than a week (in seconds) that is 604800",
                     ns=IAM_NS)


# ---- IAM ------------------------------------------------------------------------

def test_boto3_presigned_iam_calls(root, lister):
    """IAM through presigned GETs: ListUsers and GetUser answer what a form
    POST answers."""
    url = lister.iam.generate_presigned_url("list_users", HttpMethod="GET")
    r = fetch(url)
    assert_xml_ok(r, "ListUsers", IAM_NS)
    names = {m.text for m in r.xml.iter(f"{{{IAM_NS}}}UserName")}
    assert lister.name in names, r
    url = lister.iam.generate_presigned_url("get_user", Params={"UserName": lister.name},
                                            HttpMethod="GET")
    r = fetch(url)
    assert_xml_ok(r, "GetUser", IAM_NS)
    assert r.xml_text("GetUserResult/User/Arn") == lister.arn, r
    # Authorization is the same as for a POST: root's user, not allowed.
    nobody = make_user(root, unique("nobody"))
    url = nobody.iam.generate_presigned_url("list_users", HttpMethod="GET")
    assert_xml_error(fetch(url), "AccessDenied", 403, ns=IAM_NS,
                     message=f"User: {nobody.arn} is not authorized to perform: iam:ListUsers "
                             f"on resource: arn:aws:iam::{ACCOUNT}:user/ because no "
                             f"identity-based policy allows the iam:ListUsers action")


def test_presigned_write(root, lister):
    """A write through a presigned GET is done once; the same URL with the
    user name changed is refused and creates no user."""
    name = unique("made-by-get")
    url = presign(lister, "iam", "CreateUser", {"UserName": name})
    assert_xml_ok(fetch(url), "CreateUser", IAM_NS)
    assert root.iam.get_user(UserName=name)["User"]["UserName"] == name
    other = unique("forged")
    r = fetch(with_param(url, "UserName", other))
    assert_xml_error(r, "SignatureDoesNotMatch", 403, BAD_SIGNATURE_MSG, ns=IAM_NS)
    with pytest.raises(root.iam.exceptions.NoSuchEntityException):
        root.iam.get_user(UserName=other)


@pytest.mark.parametrize("tamper", ["change-value", "change-action", "add-param",
                                    "drop-param", "change-signature", "change-date"])
def test_presigned_tampered(lister, tamper):
    url = presign(lister, "iam", "GetUser", {"UserName": lister.name})
    if tamper == "change-value":
        url = with_param(url, "UserName", lister.name + "x")
    elif tamper == "change-action":
        url = with_param(url, "Action", "ListUsers")
    elif tamper == "add-param":
        url = with_param(url, "MaxItems", "1")
    elif tamper == "drop-param":
        url = with_param(url, "UserName", None)
    elif tamper == "change-signature":
        sig = query_param(url, "X-Amz-Signature")
        url = with_param(url, "X-Amz-Signature", ("0" if sig[0] != "0" else "1") + sig[1:])
    else:
        amz = query_param(url, "X-Amz-Date")
        url = with_param(url, "X-Amz-Date", amz[:-3] + ("00Z" if amz[-3:] != "00Z" else "01Z"))
    assert_xml_error(fetch(url), "SignatureDoesNotMatch", 403, BAD_SIGNATURE_MSG, ns=IAM_NS)


def test_presigned_unknown_action(user):
    r = fetch(presign(user, "sts", "FrobnicateTokens"))
    assert_xml_error(r, "InvalidAction", 400,
                     f"Could not find operation FrobnicateTokens for version {STS_VERSION}")


# ---- header-signed requests with the parameters in the URL ----------------------

def test_header_signed_get(authz_server, lister):
    path = f"/?Action=GetUser&Version={IAM_VERSION}&UserName={lister.name}"
    r = authz_server.raw(None, b"", method="GET", path=path, service="iam",
                         access_key=lister.access_key, secret_key=lister.secret_key)
    assert_xml_ok(r, "GetUser", IAM_NS)
    assert r.xml_text("GetUserResult/User/UserName") == lister.name, r


def test_post_parameters_in_query_string(authz_server, lister):
    """POST with an empty body and the parameters in the query string, and
    POST with Action and Version in the query string and the rest in the
    body: both are the same request."""
    kw = dict(service="iam", access_key=lister.access_key, secret_key=lister.secret_key)
    path = f"/?Action=GetUser&Version={IAM_VERSION}&UserName={lister.name}"
    r = authz_server.raw(None, b"", path=path, **kw)
    assert_xml_ok(r, "GetUser", IAM_NS)
    assert r.xml_text("GetUserResult/User/UserName") == lister.name, r
    path = f"/?Action=GetUser&Version={IAM_VERSION}"
    r = authz_server.raw(None, f"UserName={lister.name}", path=path, **kw)
    assert_xml_ok(r, "GetUser", IAM_NS)
    assert r.xml_text("GetUserResult/User/UserName") == lister.name, r


def test_parameter_in_query_and_body_refused(authz_server, root, lister):
    """The same parameter in the query string and in the body: refused, and
    nothing is created under either name."""
    a, b = unique("q"), unique("b")
    path = f"/?Action=CreateUser&Version={IAM_VERSION}&UserName={a}"
    r = authz_server.raw(None, f"UserName={b}", path=path, service="iam",
                         access_key=lister.access_key, secret_key=lister.secret_key)
    assert_xml_error(r, "ValidationError", 400, ns=IAM_NS,
                     message="The parameter UserName is given both in the query string and "
                             "in the request body")
    for n in (a, b):
        with pytest.raises(root.iam.exceptions.NoSuchEntityException):
            root.iam.get_user(UserName=n)


def test_query_string_not_utf8(authz_server, lister):
    """The query string's parameters are decoded by the form's rules: a
    value that is not UTF-8 is refused (after the signature, which covers
    it)."""
    path = f"/?Action=GetUser&Version={IAM_VERSION}&UserName=%FF"
    r = authz_server.raw(None, b"", method="GET", path=path, service="iam",
                         access_key=lister.access_key, secret_key=lister.secret_key)
    assert_xml_error(r, "ValidationError", 400, "Request parameters must be valid UTF-8",
                     ns=IAM_NS)


# ---- KMS and Secrets Manager: POST with X-Amz-Target only -------------------------

def parse_json_error(r):
    """What botocore makes of an awsJson error reply."""
    parser = botocore.parsers.create_parser("json")
    return parser.parse({"status_code": r.status, "headers": r.headers, "body": r.body},
                        None)["Error"]


@pytest.mark.parametrize("service", ["kms", "secretsmanager"])
def test_presigned_get_to_json_service(root, service):
    client = root.client(service)
    op = "list_keys" if service == "kms" else "list_secrets"
    url = client.generate_presigned_url(op, HttpMethod="GET")
    r = fetch(url)
    member = "message" if service == "kms" else "Message"
    assert r.status == 400, r
    assert r.headers.get("content-type", "").startswith("application/x-amz-json-1.1"), r
    assert r.json == {"__type": "UnknownOperationException", member: UNKNOWN_OP_MSG}, r
    assert parse_json_error(r) == {"Code": "UnknownOperationException",
                                   "Message": UNKNOWN_OP_MSG}


@pytest.mark.parametrize("case", ["get-with-target", "unknown-target", "no-target",
                                  "sm-unknown-target"])
def test_unknown_operation_message(authz_server, case):
    service, target, method = "kms", "TrentService.ListKeys", "POST"
    if case == "get-with-target":
        method = "GET"
    elif case == "unknown-target":
        target = "TrentService.NoSuchOperation"
    elif case == "no-target":
        target = None
    else:
        service, target = "secretsmanager", "secretsmanager.NoSuchOperation"
    r = authz_server.raw(target, b"{}", method=method, service=service)
    member = "Message" if service == "secretsmanager" else "message"
    assert r.status == 400, r
    assert r.json == {"__type": "UnknownOperationException", member: UNKNOWN_OP_MSG}, r
    assert parse_json_error(r)["Message"] == UNKNOWN_OP_MSG


def test_get_elsewhere_is_unknown_operation(authz_server):
    """Not a service path at all: the awsJson answer, with its message."""
    r = authz_server.raw(None, b"", method="GET", path="/favicon.ico", service="sts")
    assert r.status == 400, r
    assert r.json == {"__type": "UnknownOperationException", "message": UNKNOWN_OP_MSG}, r
    # The health check is still unauthenticated and unchanged.
    assert authz_server.get_health().json == {"status": "ok"}


def test_presigned_does_not_log_signature(authz_server, user):
    """The request log line names the action, never the query string."""
    url = user.sts.generate_presigned_url("get_caller_identity", HttpMethod="GET")
    assert fetch(url).status == 200
    sig = query_param(url, "X-Amz-Signature").encode()
    assert sig not in authz_server.stderr_text()
    assert sig not in authz_server.stdout_text()


def test_presigned_answers_match_post(user):
    """The same call presigned and as boto3 POSTs it: the same result."""
    r = fetch(user.sts.generate_presigned_url("get_caller_identity", HttpMethod="GET"))
    ident = user.sts.get_caller_identity()
    assert r.xml_text("GetCallerIdentityResult/Arn") == ident["Arn"]
    assert r.xml_text("GetCallerIdentityResult/UserId") == ident["UserId"]
    assert r.xml_text("GetCallerIdentityResult/Account") == ident["Account"]
