"""
bad_input.py -- the bad-input matrix: cases generated from the botocore
service models for every operation tresor serves, and the checks that
every answer is AWS's error shape with the right code, the server keeps
serving, and the store is unchanged.

Used by test_bad_input_matrix.py (per operation) and
test_bad_input_protocol.py (HTTP, SigV4 and session cases, once each).

The operations come from the server's own tables (src/kms/ops.def,
src/secrets/ops.def, src/iam/iam_ops.def, src/iam/sts_ops.def), so a new
operation joins the matrix by being served.  The models are botocore's, with the
vendored KMS and Secrets Manager models of tests/e2e/models first (AWS_DATA_PATH is
set by tresor_e2e at import).

A case is one request built from a valid baseline (the required members,
with values of the right shape that name nothing that exists) with one
thing wrong.  What AWS answers, and what tresor therefore must:

  awsJson1_1 (KMS, Secrets Manager)
    missing required member, model constraint (length, range, enum) broken
                                   -> 400 ValidationException
    wrong JSON type, undecodable body, invalid UTF-8, nesting past the
    parser's depth, duplicate or unknown members
                                   -> 400 SerializationException
    body over the cap              -> 413 RequestEntityTooLarge
  query (IAM, STS)
    missing, too long or short, out of range, not a number, not a boolean,
    not in the enum, invalid UTF-8 -> 400 ValidationError (Type Sender)
    unknown Action, wrong Version  -> 400 InvalidAction
    body over the cap              -> 413 RequestEntityTooLarge
"""

import base64
import collections
import json
import re
import sqlite3
import urllib.parse

import botocore.model
import botocore.session

from tresor_e2e import ACCOUNT, ACTIVE_SERVERS, REPO, pg_sql, sanitize_error_code

# Cases run, by (service, operation, kind); conftest prints the summary.
MATRIX = collections.Counter()

BODY_CAP = 1 << 20            # REQUEST_BODY_MAX in src/http/router.h
FORM_MAX_PARAMS = 512         # src/op/query_proto.h
DEEP = 10000                  # nesting levels; jansson stops at 2048

JSON_SERVICES = {"kms": "TrentService", "secretsmanager": "secretsmanager"}
QUERY_SERVICES = ("iam", "sts")
MESSAGE_MEMBER = {"kms": "message", "secretsmanager": "Message"}

_MODELS = {}


# Members of the vendored KMS model that tresor does not take yet: none
# since the several versions of imported key material (ImportType,
# KeyMaterialId, KeyMaterialDescription).  tresor would answer such members
# as unknown (SerializationException); the matrix leaves them out of the
# model it builds cases from, and test_bad_input_matrix checks this list is
# exactly what src/kms/ops.def lacks.
KMS_MEMBERS_NOT_SERVED = {}


def _kms_model_served(data):
    """The vendored KMS model (tests/e2e/models, first on AWS_DATA_PATH as
    tresor_e2e sets it) without the members tresor does not take yet."""
    shapes, ops = data["shapes"], data["operations"]
    assert "DeriveSharedSecret" in ops, "the vendored KMS model was not loaded"
    for op, members in KMS_MEMBERS_NOT_SERVED.items():
        shape = shapes[ops[op]["input"]["shape"]]
        for m in members:
            shape["members"].pop(m, None)
        shape["required"] = [r for r in shape.get("required", []) if r not in members]
    return data


# Members the vendored IAM model (botocore 1.26) still marks required that
# AWS has since made optional: thumbprints of a new OpenID Connect provider
# (July 2024; the API reference: "This parameter is optional").
IAM_REQUIRED_NO_LONGER = {"CreateOpenIDConnectProvider": {"ThumbprintList"}}


def _iam_model_current(data):
    shapes, ops = data["shapes"], data["operations"]
    for op, members in IAM_REQUIRED_NO_LONGER.items():
        shape = shapes[ops[op]["input"]["shape"]]
        shape["required"] = [r for r in shape.get("required", []) if r not in members]
    return data


def model(service):
    if service not in _MODELS:
        session = botocore.session.get_session()
        if service == "iam":
            data = session.get_component("data_loader").load_service_model("iam", "service-2")
            _MODELS[service] = botocore.model.ServiceModel(_iam_model_current(data), "iam")
        elif service == "kms":
            data = session.get_component("data_loader").load_service_model("kms", "service-2")
            _MODELS[service] = botocore.model.ServiceModel(_kms_model_served(data), "kms")
        else:
            _MODELS[service] = session.get_service_model(service)
    return _MODELS[service]


def served_operations(service):
    """The operation names of the server's own table for `service`."""
    table = {"kms": "src/kms/ops.def", "secretsmanager": "src/secrets/ops.def",
             "iam": "src/iam/iam_ops.def", "sts": "src/iam/sts_ops.def"}[service]
    names = re.findall(r"^OP(?:_AS)?\((\w+),", (REPO / table).read_text(), re.M)
    assert names, f"no operations found for {service}"
    return sorted(set(names))


def unserved_operations(service):
    return sorted(set(model(service).operation_names) - set(served_operations(service)))


def lower_camel(name):
    return name[:1].lower() + name[1:]


# ---- valid values ----------------------------------------------------------

POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
     "Action": "kms:DescribeKey", "Resource": "*"}]})
IAM_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}]})
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
     "Action": "sts:AssumeRole"}]})
NO_KEY = "0b5c2a9e-3f4d-4c1e-9a7b-6d8e2f1a0c3b"
# The value of the module's secret: no error message may contain it.
SECRET_VALUE = "matrix-secret-value-Qx7Zr2"
NO_TOKEN = "5f0c4d1e-8a2b-4c3d-9e6f-7a1b2c3d4e5f"

# Members whose value must make sense to get past the handler's own checks
# (an ARN, a key id).  The baseline names the resources the test module
# makes (setup_resources): a KMS key, a secret, an IAM user, group, role
# and managed policy, so that a case the server wrongly accepted would
# change the store.  Key ids are filled in by setup_resources.
VALID = {
    ("kms", "KeyId"): NO_KEY,
    ("kms", "TargetKeyId"): NO_KEY,
    ("kms", "DestinationKeyId"): NO_KEY,
    ("kms", "SourceKeyId"): NO_KEY,
    ("kms", "AliasName"): "alias/matrix-none",
    ("kms", "GranteePrincipal"): f"arn:aws:iam::{ACCOUNT}:root",
    ("kms", "RetiringPrincipal"): f"arn:aws:iam::{ACCOUNT}:root",
    ("kms", "Operations"): ["Decrypt"],
    ("kms", "GrantId"): "a" * 64,
    ("kms", "Policy"): POLICY,
    ("kms", "PolicyName"): "default",
    ("kms", "NumberOfBytes"): 32,
    ("kms", "CiphertextBlob"): base64.b64encode(b"\x01" + bytes(80)).decode(),
    ("kms", "Plaintext"): base64.b64encode(b"matrix").decode(),
    ("kms", "Tags"): [{"TagKey": "k", "TagValue": "v"}],
    ("kms", "TagKeys"): ["k"],
    ("kms", "ReplicaRegion"): "us-west-2",
    ("kms", "PrimaryRegion"): "us-west-2",
    ("secretsmanager", "SecretId"): "matrix-secret",
    ("secretsmanager", "Name"): "matrix-new-secret",
    ("secretsmanager", "ResourcePolicy"): POLICY.replace("kms:DescribeKey",
                                                         "secretsmanager:DescribeSecret"),
    ("secretsmanager", "VersionStage"): "AWSCURRENT",
    ("secretsmanager", "VersionId"): NO_TOKEN,
    ("secretsmanager", "ClientRequestToken"): NO_TOKEN,
    ("secretsmanager", "RemoveFromVersionId"): NO_TOKEN,
    ("secretsmanager", "MoveToVersionId"): NO_TOKEN,
    ("secretsmanager", "SecretString"): "matrix-value",
    ("secretsmanager", "Tags"): [{"Key": "k", "Value": "v"}],
    ("secretsmanager", "TagKeys"): ["k"],
    ("secretsmanager", "RemoveReplicaRegions"): ["us-west-2"],
    ("secretsmanager", "AddReplicaRegions"): [{"Region": "us-west-2"}],
    ("secretsmanager", "PasswordLength"): 16,
    ("iam", "UserName"): "matrix-user",
    ("iam", "GroupName"): "matrix-group",
    ("iam", "RoleName"): "matrix-role",
    ("iam", "PolicyName"): "matrix-policy",
    ("iam", "NewUserName"): "matrix-other",
    ("iam", "PolicyArn"): f"arn:aws:iam::{ACCOUNT}:policy/matrix-policy",
    ("iam", "PermissionsBoundary"): f"arn:aws:iam::{ACCOUNT}:policy/matrix-none",
    ("iam", "PolicyDocument"): IAM_POLICY,
    ("iam", "AssumeRolePolicyDocument"): TRUST,
    ("iam", "VersionId"): "v1",
    ("iam", "AccessKeyId"): "AKIA" + "MATRIXNONE" + "A" * 6,
    ("iam", "Path"): "/",
    ("iam", "NewPath"): "/",
    ("iam", "PathPrefix"): "/",
    ("iam", "Tags"): [{"Key": "k", "Value": "v"}],
    ("iam", "TagKeys"): ["k"],
    ("iam", "MaxSessionDuration"): 3600,
    ("iam", "PolicySourceArn"): f"arn:aws:iam::{ACCOUNT}:user/matrix-user",
    ("iam", "PolicyInputList"): [IAM_POLICY],
    ("iam", "ActionNames"): ["s3:GetObject"],
    ("sts", "RoleArn"): f"arn:aws:iam::{ACCOUNT}:role/matrix-role",
    ("sts", "RoleSessionName"): "matrix-session",
    ("sts", "DurationSeconds"): 900,
    ("sts", "Policy"): IAM_POLICY,
}


def setup_resources(srv):
    """The resources the baselines name, made through the API as account
    A's root; returns a Caller (an IAM user allowed everything) for STS."""
    from tresor_e2e import allow, make_user
    key = srv.kms().create_key(Description="matrix")["KeyMetadata"]["KeyId"]
    for member in ("KeyId", "TargetKeyId", "DestinationKeyId", "SourceKeyId"):
        VALID[("kms", member)] = key
    srv.sm().create_secret(Name="matrix-secret", SecretString=SECRET_VALUE)
    iam = srv.iam()
    iam.create_user(UserName="matrix-user")
    iam.create_group(GroupName="matrix-group")
    iam.create_role(RoleName="matrix-role", AssumeRolePolicyDocument=TRUST)
    iam.create_policy(PolicyName="matrix-policy", PolicyDocument=IAM_POLICY)
    return make_user(srv.root_user, "matrix-caller", policy=allow("*"))


def valid_value(service, name, shape):
    if (service, name) in VALID:
        return VALID[(service, name)]
    md = shape.metadata
    t = shape.type_name
    if t == "string":
        if getattr(shape, "enum", None):
            return shape.enum[0]
        return "a" * max(md.get("min", 1), 1)
    if t in ("integer", "long"):
        return md.get("min", 1)
    if t == "boolean":
        return False
    if t == "blob":
        return base64.b64encode(b"b" * max(md.get("min", 1), 1)).decode()
    if t == "timestamp":
        return 0
    if t == "list":
        return [valid_value(service, name + ".member", shape.member)
                for _ in range(md.get("min", 0))]
    if t == "map":
        return {}
    if t == "structure":
        return {m: valid_value(service, m, s) for m, s in shape.members.items()
                if m in shape.required_members}
    raise AssertionError(f"no valid value for {t}")


def baseline(service, op):
    shape = model(service).operation_model(op).input_shape
    if shape is None:
        return {}
    return {m: valid_value(service, m, s) for m, s in shape.members.items()
            if m in shape.required_members}


# ---- cases -------------------------------------------------------------------

class Case:
    """One request: params (the JSON object or form fields) or raw body
    bytes; the expected status and error code; `member` names the member
    the error is about (its lower-camel name must be in the message);
    `secret` is text the message must not contain."""

    def __init__(self, kind, label, *, params=None, body=None, status=400, code,
                 member=None, secret=None):
        self.kind, self.label = kind, label
        self.params, self.body = params, body
        self.status, self.code = status, code
        self.member, self.secret = member, secret

    def __repr__(self):
        return f"<{self.kind} {self.label}>"


def _too_long(value, n):
    """A string of n characters shaped like `value` (prefix and last
    character kept, so a pattern on the member still holds)."""
    if len(value) >= 2:
        return value[:-1] + "a" * (n - len(value)) + value[-1]
    if value == "/":
        return "/" + "a" * (n - 2) + "/"
    return value + "a" * (n - len(value))


WRONG_TYPES = {
    "string": [("number", 12345), ("object", {"a": "b"})],
    "integer": [("string", "12"), ("list", [1]), ("float", 1.5), ("beyond-int64", 10 ** 30)],
    "long": [("string", "12"), ("list", [1]), ("float", 1.5), ("beyond-int64", 10 ** 30)],
    "boolean": [("string", "true"), ("number", 1)],
    "blob": [("number", 7), ("list", ["YQ=="])],
    "timestamp": [("list", [1]), ("object", {})],
    "list": [("string", "a"), ("object", {"a": "b"})],
    "map": [("string", "a"), ("list", ["a"])],
    "structure": [("string", "a"), ("list", [{}])],
}


def _constraint_cases(service, name, shape, value, params, validation, sensitive):
    """Length, range and enum cases for one member (value: a valid value)."""
    md = shape.metadata
    t = shape.type_name
    out = []

    def case(kind, label, v, secret=None):
        out.append(Case(kind, f"{name}:{label}", params=dict(params, **{name: v}),
                        code=validation, member=name, secret=secret))

    if t == "string" and getattr(shape, "enum", None):
        case("enum", "not-in-enum", "NOT_A_MATRIX_VALUE")
    elif t == "string":
        if "max" in md and md["max"] < BODY_CAP // 2:
            v = _too_long(value if isinstance(value, str) else "a", md["max"] + 1)
            case("length", f"max+1={md['max'] + 1}", v, v[:24] if sensitive else None)
            if md["max"] <= 8192 and not shape.metadata.get("pattern"):
                # Three bytes a character: lengths count characters, and
                # a quote of the value must not cut one in half.
                case("length", f"max+1={md['max'] + 1}-multibyte", "\u20ac" * (md["max"] + 1),
                     "\u20ac" * 8 if sensitive else None)
        if md.get("min", 0) >= 1:
            case("length", f"min-1={md['min'] - 1}", (value if isinstance(value, str)
                                                      else "a" * md["min"])[:md["min"] - 1])
    elif t == "blob":
        if "max" in md:
            raw = b"S" * (md["max"] + 1)
            case("length", f"max+1={md['max'] + 1}", base64.b64encode(raw).decode(),
                 base64.b64encode(raw[:18]).decode())
        if md.get("min", 0) >= 1:
            case("length", f"min-1={md['min'] - 1}", "")
    elif t in ("integer", "long"):
        if "max" in md:
            case("range", f"max+1={md['max'] + 1}", md["max"] + 1)
        if "min" in md:
            case("range", f"min-1={md['min'] - 1}", md["min"] - 1)
    elif t == "list":
        item = valid_value(service, name + ".member", shape.member)
        if isinstance(value, list) and value:
            item = value[0]
        if "max" in md:
            case("length", f"items=max+1={md['max'] + 1}", [item] * (md["max"] + 1))
        if md.get("min", 0) >= 1:
            case("length", "items=0", [])
        el = shape.member
        if el.type_name == "string" and not getattr(el, "enum", None) and "max" in el.metadata:
            s = item if isinstance(item, str) else "a"
            case("element", f"element-max+1={el.metadata['max'] + 1}",
                 [_too_long(s, el.metadata["max"] + 1)])
        elif el.type_name == "string" and getattr(el, "enum", None):
            case("element", "element-not-in-enum", ["NOT_A_MATRIX_VALUE"])
        elif el.type_name == "structure" and isinstance(item, dict):
            for m, ms in el.members.items():
                if ms.type_name == "string" and "max" in ms.metadata:
                    bad = dict(item, **{m: "t" * (ms.metadata["max"] + 1)})
                    case("element", f"element.{m}-max+1", [bad])
                if m in el.required_members:
                    case("element", f"element.{m}-missing",
                         [{k: v for k, v in item.items() if k != m}])
    elif t == "map":
        for which in ("key", "value"):
            ks = getattr(shape, which)
            if ks.type_name == "string" and "max" in ks.metadata:
                big = "m" * (ks.metadata["max"] + 1)
                case("element", f"map-{which}-max+1",
                     {big: "v"} if which == "key" else {"k": big})
    return out


def json_cases(service, op):
    """Every per-operation case for an awsJson1_1 operation."""
    opm = model(service).operation_model(op)
    shape = opm.input_shape
    base = baseline(service, op)
    cases = []
    members = shape.members if shape else {}
    required = shape.required_members if shape else []
    for name in required:
        cases.append(Case("missing", name, params={k: v for k, v in base.items() if k != name},
                          code="ValidationException", member=name))
        # JSON null is no value: the same as absent.
        cases.append(Case("missing", f"{name}:null", params=dict(base, **{name: None}),
                          code="ValidationException", member=name))
    for name, ms in members.items():
        for tname, bad in WRONG_TYPES[ms.type_name]:
            cases.append(Case("type", f"{name}:{tname}", params=dict(base, **{name: bad}),
                              code="SerializationException"))
        value = base.get(name, valid_value(service, name, ms))
        cases += _constraint_cases(service, name, ms, value, base, "ValidationException",
                                   ms.metadata.get("sensitive", False))
    cases += json_body_cases(service, op, base, members)
    return cases


def _dumps(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def json_body_cases(service, op, base, members):
    """Cases on the body as a whole (the same for every operation, with
    this operation's members)."""
    ser = "SerializationException"
    cases = []
    first_str = next((m for m, s in members.items() if s.type_name == "string"), None)
    # Invalid UTF-8 inside a string value (raw bytes in the body).
    if first_str:
        p = dict(base, **{first_str: "MATRIXUTF8"})
        body = _dumps(p).replace(b"MATRIXUTF8", b"ab\xff\xfe\xc3(cd")
    else:
        body = b'{"ab\xff\xfe":1}'
    cases.append(Case("utf8", "raw-invalid-utf8", body=body, code=ser))
    body = _dumps(dict(base, Z="MATRIXUTF8")).replace(b"MATRIXUTF8", b"\xed\xa0\x80")
    cases.append(Case("utf8", "surrogate-utf8", body=body, code=ser))
    # Overlong encoding of '/'.
    cases.append(Case("utf8", "overlong-utf8",
                      body=_dumps(base)[:-1] + (b"," if base else b"") + b'"\xc0\xaf":1}',
                      code=ser))
    # Deep nesting: arrays and objects, inside a known member.
    target = next(iter(members), "X")
    cases.append(Case("deep", f"arrays-{DEEP}",
                      body=b'{"' + target.encode() + b'":' + b"[" * DEEP + b"]" * DEEP + b"}",
                      code=ser))
    cases.append(Case("deep", f"objects-{DEEP}",
                      body=b'{"' + target.encode() + b'":' + b'{"a":' * DEEP + b"1"
                      + b"}" * DEEP + b"}", code=ser))
    # A policy document nested deeper than the parser goes, as the text of
    # a policy member.
    for name in ("Policy", "ResourcePolicy"):
        if name in members:
            deep = '{"Version":"2012-10-17","Statement":' + "[" * DEEP + "]" * DEEP + "}"
            cases.append(Case("deep", f"{name}:arrays-{DEEP}", params=dict(base, **{name: deep}),
                              code="MalformedPolicyDocumentException"))
    # Huge: many unknown members, the body just under the cap.
    prefix = _dumps(base)[:-1] + (b"," if base else b"")
    n = (BODY_CAP - len(prefix) - 64) // 15
    huge = prefix + b",".join(b'"m%09d":1' % i for i in range(n)) + b"}"
    assert BODY_CAP - 200 < len(huge) < BODY_CAP, len(huge)
    cases.append(Case("huge", f"{n}-members", body=huge, code=ser))
    # Huge: one string member just under the cap (a length violation, or
    # an unknown member when the operation has no string member).
    if first_str:
        pad = BODY_CAP - len(_dumps(dict(base, **{first_str: ""}))) - 16
        ms = members[first_str]
        code = "ValidationException" if "max" in ms.metadata or getattr(ms, "enum", None) \
            else None
        if code:
            cases.append(Case("huge", f"{first_str}-{pad}-chars",
                              params=dict(base, **{first_str: "h" * pad}), code=code,
                              member=first_str))
    # Duplicate keys.
    dup_member = next(iter(base), None) or first_str or target
    dup_val = base.get(dup_member, "a")
    body = _dumps(base)[:-1] + (b"," if base else b"") + _dumps({dup_member: dup_val})[1:]
    if dup_member not in base:
        body = b"{" + _dumps({dup_member: dup_val})[1:-1] + b"," + \
            _dumps({dup_member: dup_val})[1:-1] + b"}"
    cases.append(Case("duplicate", f"{dup_member}-twice", body=body, code=ser))
    # Unknown members.
    cases.append(Case("unknown", "NoSuchMember", params=dict(base, NoSuchMember="x"), code=ser))
    cases.append(Case("unknown", "lower-camel-twin",
                      params=dict(base, **{lower_camel(dup_member): dup_val}), code=ser))
    # Not an object; not JSON; empty.
    for label, body in [("array", b"[]"), ("string", b'"s"'), ("null", b"null"),
                        ("number", b"1"), ("truncated", _dumps(base)[:-1]),
                        ("trailing-garbage", _dumps(base) + b"}"),
                        ("byte-order-mark", b"\xef\xbb\xbf" + _dumps(base)),
                        ("two-documents", _dumps(base) + _dumps(base)),
                        ("nul-byte", _dumps(dict(base, Z="A")).replace(b'"A"', b'"\x00"'))]:
        cases.append(Case("malformed", label, body=body, code=ser))
    if first_str:
        cases.append(Case("malformed", "escaped-nul",
                          body=_dumps(dict(base, **{first_str: "A"})).replace(b'"A"', b'"a\\u0000b"'),
                          code=ser))
    # Over the cap.
    over = b'{"' + (first_str or "X").encode() + b'":"' + b"o" * (BODY_CAP + 16) + b'"}'
    cases.append(Case("cap", "body-over-cap", body=over, status=413,
                      code="RequestEntityTooLarge"))
    return cases


# ---- the query protocol ------------------------------------------------------

def _flatten(prefix, shape, value, out):
    """Form fields for one member (lists as Name.member.N, structures as
    Name.Member)."""
    t = shape.type_name
    if t == "list":
        if not value:
            out.append((prefix, ""))
        for i, item in enumerate(value, 1):
            _flatten(f"{prefix}.member.{i}", shape.member, item, out)
    elif t == "structure":
        for m, v in value.items():
            _flatten(f"{prefix}.{m}", shape.members[m], v, out)
    elif t == "boolean" and isinstance(value, bool):
        out.append((prefix, "true" if value else "false"))
    else:
        out.append((prefix, str(value)))


def form_fields(service, op, params):
    shape = model(service).operation_model(op).input_shape
    out = []
    for m, v in params.items():
        if shape is not None and m in shape.members:
            _flatten(m, shape.members[m], v, out)
        else:
            out.append((m, str(v)))
    return out


def query_cases(service, op):
    """Every per-operation case for a query-protocol operation.  params are
    the members (flattened to form fields when sent)."""
    shape = model(service).operation_model(op).input_shape
    members = shape.members if shape else {}
    required = shape.required_members if shape else []
    base = baseline(service, op)
    ve = "ValidationError"
    cases = []
    for name in required:
        cases.append(Case("missing", name, params={k: v for k, v in base.items() if k != name},
                          code=ve, member=name))
        # An unknown parameter changes nothing: the same error.
        p = {k: v for k, v in base.items() if k != name}
        p["NoSuchParameter"] = "x"
        cases.append(Case("unknown", f"with-{name}-missing", params=p, code=ve, member=name))
    for name, ms in members.items():
        t = ms.type_name
        if t in ("integer", "long"):
            for label, bad in (("not-a-number", "twelve"), ("float", "1.5"), ("empty", "")):
                cases.append(Case("type", f"{name}:{label}", params=dict(base, **{name: bad}),
                                  code=ve, member=name))
        elif t == "boolean":
            cases.append(Case("type", f"{name}:not-a-boolean",
                              params=dict(base, **{name: "maybe"}), code=ve, member=name))
        value = base.get(name, valid_value(service, name, ms))
        cases += _constraint_cases(service, name, ms, value, base, ve, False)
        if t == "string" and not getattr(ms, "enum", None) and ms.metadata.get("pattern"):
            # Control characters, which every pattern of these models
            # leaves out (and XML 1.0 cannot carry).
            v = value if isinstance(value, str) else "a"
            cases.append(Case("control", f"{name}:control-char",
                              params=dict(base, **{name: v[:1] + "\x01" + v[1:]}), code=ve,
                              member=name))
        if t == "string" and not getattr(ms, "enum", None):
            cases.append(Case("utf8", f"{name}:invalid-utf8",
                              params=dict(base, **{name: "MATRIX-UTF8-" + name}), code=ve,
                              member=name))
            if "max" in ms.metadata and ms.metadata["max"] < 4096:
                cases.append(Case("huge", f"{name}:100000-chars",
                                  params=dict(base, **{name: _too_long(
                                      value if isinstance(value, str) else "a", 100000)}),
                                  code=ve, member=name))
    # Policy documents nested past the parser's depth.
    for name, ms in members.items():
        if name in ("PolicyDocument", "AssumeRolePolicyDocument", "Policy"):
            # Within the smallest size quota (a role's trust policy, 2048
            # characters) and STS's 2048: the parser, not a quota, answers.
            n = 1000
            deep = '{"Version":"2012-10-17","Statement":' + "[" * n + "]" * n + "}"
            cases.append(Case("deep", f"{name}:arrays-{n}", params=dict(base, **{name: deep}),
                              code="MalformedPolicyDocument"))
    cases.append(Case("version", "wrong-version", params=base, code="InvalidAction"))
    cases.append(Case("version", "no-version", params=base, code="InvalidAction"))
    cases.append(Case("huge", f"params>{FORM_MAX_PARAMS}",
                      params=dict(base, **{f"P{i}": "x" for i in range(FORM_MAX_PARAMS + 1)}),
                      code=ve))
    cases.append(Case("malformed", "bad-percent-escape", params=base, code=ve))
    cases.append(Case("cap", "body-over-cap", params=dict(base, Pad="o" * (BODY_CAP + 16)),
                      status=413, code="RequestEntityTooLarge"))
    return cases


def query_body(service, op, case, version):
    """The form body of a query case (bytes)."""
    fields = [("Action", op)]
    if case.label != "no-version":
        fields.append(("Version", "1999-01-01" if case.label == "wrong-version" else version))
    fields += form_fields(service, op, case.params or {})
    body = urllib.parse.urlencode(fields).encode()
    if case.kind == "utf8":
        body = re.sub(rb"MATRIX-UTF8-\w+", b"ab%FF%FE%C3%28cd", body)
    if case.label == "bad-percent-escape":
        body += b"&Bad=%G1%2"
    return body


# ---- checks ------------------------------------------------------------------

def check_json_error(service, r, case):
    """The reply is AWS's awsJson1_1 error with the case's status and
    code.  Returns a description of what is wrong, or None."""
    problems = []
    if r.status != case.status:
        problems.append(f"status {r.status} != {case.status}")
    if not isinstance(r.json, dict) or "__type" not in r.json:
        return f"not an awsJson error body: {r.body[:200]!r}"
    code = sanitize_error_code(r.json["__type"])
    if code != case.code:
        problems.append(f"code {code} != {case.code}")
    if r.headers.get("content-type", "").split(";")[0] != "application/x-amz-json-1.1":
        problems.append(f"content-type {r.headers.get('content-type')}")
    if not r.request_id:
        problems.append("no x-amzn-RequestId")
    extra = set(r.json) - {"__type", MESSAGE_MEMBER[service]}
    if extra:
        problems.append(f"unexpected members {sorted(extra)}")
    msg = r.json.get(MESSAGE_MEMBER[service], "")
    problems += _message_problems(msg, case)
    if problems:
        return "; ".join(problems) + f" -- {r.body[:300]!r}"
    return None


def check_query_error(r, case, xmlns):
    problems = []
    if r.status != case.status:
        problems.append(f"status {r.status} != {case.status}")
    x = r.xml
    if x is None or x.tag != f"{{{xmlns}}}ErrorResponse":
        return f"not an ErrorResponse: {r.body[:200]!r}"
    code = r.xml_text("Error/Code")
    if code != case.code:
        problems.append(f"code {code} != {case.code}")
    if r.xml_text("Error/Type") != "Sender":
        problems.append(f"type {r.xml_text('Error/Type')}")
    if not r.xml_text("RequestId"):
        problems.append("no RequestId")
    problems += _message_problems(r.xml_text("Error/Message") or "", case)
    if problems:
        return "; ".join(problems) + f" -- {r.body[:300]!r}"
    return None


def _message_problems(msg, case):
    problems = []
    if case.member and case.kind in ("missing", "length", "range", "enum") \
            and f"'{lower_camel(case.member)}'" not in msg:
        problems.append(f"message does not name '{lower_camel(case.member)}': {msg[:160]!r}")
    if case.secret and case.secret in msg:
        problems.append("message echoes the secret value")
    if SECRET_VALUE in msg:
        problems.append("message echoes the stored secret's value")
    return problems


# ---- the store ---------------------------------------------------------------

def dump_store(data_dir):
    """Every row of every table of the server's store, read-only: its
    SQLite file (WAL mode lets a reader in while the server runs), or its
    PostgreSQL database when it has one (TRESOR_E2E_STORE=postgres)."""
    url = next((s.store_url for s in ACTIVE_SERVERS if s.data_dir == data_dir and s.store_url), None)
    if url:
        return _dump_pg(url)
    con = sqlite3.connect(f"file:{data_dir / 'tresor.db'}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        out = {}
        for t in tables:
            rows = con.execute(f'SELECT * FROM "{t}"').fetchall()
            out[t] = sorted(rows, key=repr)
        return out
    finally:
        con.close()


def _dump_pg(url):
    """Every row of every table of a PostgreSQL store, in one query: each
    table as XML (query_to_xml), one element per row."""
    out = pg_sql("SELECT table_name || chr(31) || query_to_xml(format('SELECT * FROM %I', table_name), "
                 "true, false, '') || chr(30) FROM information_schema.tables "
                 "WHERE table_schema = 'public' ORDER BY table_name", url)
    tables = {}
    for rec in out.split("\x1e"):
        rec = rec.strip()
        if not rec:
            continue
        name, _, xml = rec.partition("\x1f")
        tables[name] = sorted(re.findall(r"<row>.*?</row>", xml, re.S))
    return tables


# Rows the server writes on its own whatever the requests were: the
# maintenance pass's records of access key use (GetAccessKeyLastUsed,
# src/auth/key_last_used.c), which every signed request may renew, and of
# KMS key use (GetKeyLastUsage, src/kms/last_usage.c), written up to a
# minute after the use.
BACKGROUND_ROWS = ("'iam-key-used'", ">iam-key-used<", "'kms-key-usage'", ">kms-key-usage<")


def store_diff(before, after):
    lines = []
    for t in sorted(set(before) | set(after)):
        b, a = ({r for r in map(repr, rows.get(t, [])) if not any(m in r for m in BACKGROUND_ROWS)}
                for rows in (before, after))
        for row in sorted(a - b):
            lines.append(f"+ {t}: {row[:200]}")
        for row in sorted(b - a):
            lines.append(f"- {t}: {row[:200]}")
    return lines
