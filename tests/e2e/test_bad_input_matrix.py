"""
The bad-input matrix, per operation (bad_input.py builds the cases from
the botocore models): for every operation of the server's KMS, Secrets
Manager, IAM and STS tables, each required member missing, each member of
the wrong JSON type, each model length, range and enum limit broken by one,
invalid UTF-8, nesting past the parser's depth, a body of many members just
under the cap, duplicate and unknown members, and a body over the cap; for
the query protocol also numbers and booleans that do not parse, a wrong or
missing Version, too many parameters and a bad percent-escape.

One server for the whole module, with a KMS key, a secret, an IAM user,
group, role and managed policy that the baselines name.  Each operation is one test: its cases
run in turn, every answer must be AWS's error shape with the right status
and code (naming the member, never echoing a sensitive value), the server
must still answer a valid request, and a dump of every table of the store
must be the same before and after.  All the failures of an operation are
reported together.
"""

import json
import re

import pytest

from bad_input import (
    JSON_SERVICES, KMS_MEMBERS_NOT_SERVED, MATRIX, REPO, Case, check_json_error, check_query_error, dump_store, json_cases,
    query_body, query_cases, served_operations, setup_resources, store_diff, unserved_operations,
)
from tresor_e2e import FORM_CT, IAM_NS, IAM_VERSION, STS_NS, STS_VERSION, TresorServer

XMLNS = {"iam": IAM_NS, "sts": STS_NS}
VERSION = {"iam": IAM_VERSION, "sts": STS_VERSION}


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = TresorServer("matrix", tmp_path_factory.mktemp("tresor-matrix"))
    # Each case compares the store before and after; the maintenance pass
    # (every minute by default) would write the KMS keys' last-usage
    # records of earlier successful calls in between (kms/last_usage.c),
    # which a slow run on a loaded machine hit.  An hour outlasts the file.
    s.start({"TRESOR_LOG": "quiet", "TRESOR_MAINTENANCE_INTERVAL": "3600"})
    s.sts_caller = setup_resources(s)
    yield s
    s.close()


def still_serving(srv, service):
    """A valid request of the service gets its normal answer."""
    if service == "kms":
        r = srv.raw("TrentService.ListKeys", {"Limit": 1})
        assert r.status == 200 and "Keys" in r.json, r
    elif service == "secretsmanager":
        r = srv.raw("secretsmanager.ListSecrets", {"MaxResults": 1}, service="secretsmanager")
        assert r.status == 200 and "SecretList" in r.json, r
    elif service == "iam":
        r = srv.query("iam", "ListUsers", {"MaxItems": "1"})
        assert r.status == 200 and r.xml_text("ListUsersResult/IsTruncated"), r
    else:
        r = srv.query("sts", "GetCallerIdentity")
        assert r.status == 200 and r.xml_text("GetCallerIdentityResult/Account"), r


def send_json(srv, service, op, case):
    body = case.body if case.body is not None else json.dumps(case.params).encode()
    return srv.raw(f"{JSON_SERVICES[service]}.{op}", body, service=service)


def send_query(srv, service, op, case):
    body = query_body(service, op, case, VERSION[service])
    # STS as an IAM user (the root user may not assume roles, which STS
    # checks before the session policy).
    who = srv.sts_caller if service == "sts" else srv.root_user
    return srv.raw(None, body, service=service, headers={"Content-Type": FORM_CT},
                   access_key=who.access_key, secret_key=who.secret_key)


def run_group(srv, service, op, cases, send, check):
    """Run the cases of one operation; fail with every problem found."""
    before = dump_store(srv.data_dir)
    problems = []
    for case in cases:
        MATRIX[(service, op, case.kind)] += 1
        try:
            r = send(srv, service, op, case)
        except OSError as e:
            problems.append(f"{case!r}: no reply ({e!r})")
            continue
        bad = check(r, case)
        if bad:
            problems.append(f"{case!r}: {bad}")
    still_serving(srv, service)
    diff = store_diff(before, dump_store(srv.data_dir))
    if diff:
        problems.append("the store changed:\n  " + "\n  ".join(diff[:20]))
    assert not problems, f"{service} {op}: {len(problems)} of {len(cases)} cases wrong:\n" + \
        "\n".join(problems)


def test_kms_members_not_served_is_exact():
    """The vendored KMS model's members that src/kms/ops.def lacks are
    exactly KMS_MEMBERS_NOT_SERVED: a member tresor starts taking, or one a
    newer model adds, shows here."""
    model = json.loads((REPO / "tests/e2e/models/kms/2014-11-01/service-2.json").read_text())
    src = (REPO / "src/kms/ops.def").read_text()
    lacking = {}
    for name, body in re.findall(r"^OP(?:_AS)?\((\w+),.*?OP_MEMBERS\((.*?)\)\)", src,
                                  re.M | re.S):
        op = model["operations"][name]
        members = set(model["shapes"][op["input"]["shape"]]["members"])
        extra = members - set(re.findall(r'"(\w+)"', body))
        if extra:
            lacking[name] = sorted(extra)
    assert lacking == {k: sorted(v) for k, v in KMS_MEMBERS_NOT_SERVED.items()}


@pytest.mark.parametrize("service,op", [(s, o) for s in JSON_SERVICES
                                        for o in served_operations(s)])
def test_json_operation(srv, service, op):
    run_group(srv, service, op, json_cases(service, op), send_json,
              lambda r, c: check_json_error(service, r, c))


@pytest.mark.parametrize("service,op", [(s, o) for s in ("iam", "sts")
                                        for o in served_operations(s)])
def test_query_operation(srv, service, op):
    run_group(srv, service, op, query_cases(service, op), send_query,
              lambda r, c: check_query_error(r, c, XMLNS[service]))


@pytest.mark.parametrize("service", ["kms", "secretsmanager", "iam", "sts"])
def test_operations_not_served(srv, service):
    """The model's other operations: refused as unknown, with a valid-looking
    body and with a broken one, and nothing changes."""
    ops = unserved_operations(service)
    cases = []
    for op in ops:
        if service in JSON_SERVICES:
            for label, body in (("empty-object", b"{}"), ("broken", b"{\xff[")):
                cases.append((op, Case("unserved", label, body=body,
                                       code="UnknownOperationException")))
        else:
            cases.append((op, Case("unserved", "no-params", params={}, code="InvalidAction")))
    before = dump_store(srv.data_dir)
    problems = []
    for op, case in cases:
        MATRIX[(service, op, case.kind)] += 1
        if service in JSON_SERVICES:
            r = send_json(srv, service, op, case)
            bad = check_json_error(service, r, case)
            if bad and r.status == 400 and r.error_code == "UnsupportedOperationException":
                bad = None
        else:
            r = send_query(srv, service, op, case)
            bad = check_query_error(r, case, XMLNS[service])
        if bad:
            problems.append(f"{op} {case!r}: {bad}")
    still_serving(srv, service)
    diff = store_diff(before, dump_store(srv.data_dir))
    assert not diff, diff
    assert not problems, "\n".join(problems)
