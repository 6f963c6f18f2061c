"""
conftest.py -- fixtures for the tresor end-to-end suite.

  tresor          session-scoped server shared by the tests that need no
                  restart (each test creates its own keys and aliases)
  kms             a boto3 KMS client for `tresor` (session-scoped too)
  tresor_factory  function-scoped factory of private servers, for restart,
                  clock-offset, signal and data-dir tests
  authz_server    module-scoped private server for the IAM / STS /
                  authorization suites (each module starts from an empty
                  account, so listings and account-wide details are its own)
  pg_nodes        function-scoped factory of several nodes on one PostgreSQL
                  database (TRESOR_E2E_STORE=postgres): pg_nodes(2) starts
                  the first, then the others with copies of its root key
  root            a Caller for account A's root user on authz_server
  account_b       a Caller for account B's root user (444455556666), made on
                  authz_server with `tresor account create`

On teardown every server gets SIGTERM and must exit 0.  When a test fails,
the stdout/stderr tails of the running servers are attached to the report.
Under TRESOR_SERVER_WRAPPER (valgrind), the session fails at its end if the
log of any tresor process reports errors or leaks, including processes no
test waited for.  Nothing starts at import time.
"""

import pytest

from tresor_e2e import (ACCOUNT_B, ACTIVE_SERVERS, WRAPPER, WRAPPER_LOGS, TresorServer,
                        wrapper_problems)


@pytest.fixture(scope="session")
def tresor(tmp_path_factory):
    srv = TresorServer("shared", tmp_path_factory.mktemp("tresor-shared"))
    srv.start()
    yield srv
    srv.close()


@pytest.fixture(scope="session")
def kms(tresor):
    return tresor.kms()


@pytest.fixture
def tresor_factory(tmp_path_factory):
    made = []

    def make(name="private", start=True, **start_kwargs):
        srv = TresorServer(name, tmp_path_factory.mktemp(f"tresor-{name}"))
        made.append(srv)
        if start:
            srv.start(**start_kwargs)
        return srv

    yield make
    errors = []
    for srv in made:
        try:
            srv.close()
        except AssertionError as e:  # report every server, not just the first
            errors.append(str(e))
    assert not errors, "\n\n".join(errors)


@pytest.fixture
def pg_nodes(tmp_path_factory):
    made = []

    def make(n=2, name="node", **start_kwargs):
        first = TresorServer(f"{name}-a", tmp_path_factory.mktemp(f"tresor-{name}-a"))
        made.append(first)
        first.start(**start_kwargs)
        for i in range(1, n):
            label = f"{name}-{chr(ord('a') + i)}"
            other = first.new_node(label, tmp_path_factory.mktemp(f"tresor-{label}"))
            made.append(other)
            other.start(**start_kwargs)
        return made[-n:]

    yield make
    errors = []
    for srv in reversed(made):      # the first node's database is dropped last
        try:
            srv.close()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n\n".join(errors)


@pytest.fixture(scope="module")
def authz_server(tmp_path_factory):
    srv = TresorServer("authz", tmp_path_factory.mktemp("tresor-authz"))
    srv.start()
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def root(authz_server):
    return authz_server.root_user


@pytest.fixture(scope="module")
def account_b(authz_server):
    return authz_server.create_account(ACCOUNT_B)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for srv in list(ACTIVE_SERVERS):
            rep.sections.append((f"tresor[{srv.name}] logs", srv.log_tail()))


def _bad_input_summary(terminalreporter):
    """The size of the bad-input matrix (bad_input.py), when it ran."""
    import sys
    mod = sys.modules.get("bad_input")
    if mod is None or not mod.MATRIX:
        return
    counts = mod.MATRIX
    tr = terminalreporter
    tr.section("bad-input matrix")
    served = {(s, o) for s, o, k in counts if k != "unserved" and s != "protocol"}
    unserved = {(s, o) for s, o, k in counts if k == "unserved"}
    tr.write_line(f"{sum(counts.values())} cases: {len(served)} operations served, "
                  f"{len(unserved)} of the models' other operations, and the protocol")
    for svc in ("kms", "secretsmanager", "iam", "sts", "protocol"):
        n = sum(v for (s, _, _), v in counts.items() if s == svc)
        if n:
            ns = len({o for s, o in served if s == svc})
            nu = len({o for s, o in unserved if s == svc})
            tr.write_line(f"  {svc:15} {n:6} cases" + (
                "" if svc == "protocol" else f", {ns:3} operations served, {nu:3} not"))
    kinds = {}
    for (_, _, k), v in counts.items():
        kinds[k] = kinds.get(k, 0) + v
    tr.write_line("  by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))


_WRAPPER_REPORT = []


def pytest_sessionfinish(session, exitstatus):
    if not WRAPPER:
        return
    bad = [log for log in WRAPPER_LOGS if wrapper_problems(log) is not None]
    _WRAPPER_REPORT[:] = [f"{len(WRAPPER_LOGS)} tresor processes under the wrapper, "
                          f"{len(bad)} with errors or leaks"] + [f"  {log}" for log in bad]
    if bad:
        session.exitstatus = 1


def _differential_summary(terminalreporter):
    """The differential test's figures (test_differential.py), when it ran."""
    import sys
    mod = sys.modules.get("test_differential")
    if mod is None or not mod.REPORT:
        return
    terminalreporter.section("differential")
    for line in mod.REPORT:
        terminalreporter.write_line(line)


def pytest_terminal_summary(terminalreporter):
    _bad_input_summary(terminalreporter)
    _differential_summary(terminalreporter)
    if _WRAPPER_REPORT:
        terminalreporter.write_sep("-", "wrapper")
        for line in _WRAPPER_REPORT:
            terminalreporter.write_line(line)
