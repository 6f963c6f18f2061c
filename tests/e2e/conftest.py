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

Parallel runs (pytest-xdist, make e2e E2E_JOBS=N: --dist loadfile, so a
module's fixtures stay on one worker): every test holds a shared lock on a
file of the run, and a test that needs the machine to itself (QUIET_FILES
below, or @pytest.mark.quiet) holds it exclusively, so it runs while no
other worker runs a test.  A worker's wrapper logs (valgrind) are checked
on the worker and its verdict sent to the controller, which fails the run.

On teardown every server gets SIGTERM and must exit 0.  When a test fails,
the stdout/stderr tails of the running servers are attached to the report.
Under TRESOR_SERVER_WRAPPER (valgrind), the session fails at its end if the
log of any tresor process reports errors or leaks, including processes no
test waited for.  Nothing starts at import time.
"""

import collections
import fcntl
import os

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


# The files whose tests need no other test running beside them, under
# xdist: what they check would fail, or stop meaning anything, with other
# servers competing for the two cores or the PostgreSQL cluster.
QUIET_FILES = {
    # crashes, pauses and restarts the PostgreSQL cluster every server uses
    "test_pg_crash.py", "test_pg_restart.py", "test_pg_reconnect.py",
    # syncs per write: needs writes to arrive within one 30 ms sync
    "test_group_commit.py",
    # a node's view of another's write within the staleness bound (+ slack)
    "test_nodes.py",
    # SIGKILL at every file call under strace, a filling disk
    "test_crash_safety.py",
}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "quiet: under xdist, run while no other worker runs a test (conftest.py)")


@pytest.fixture(autouse=True)
def _quiet_lock(request, tmp_path_factory):
    """Shared for every test, exclusive for a quiet one.  The gate lock
    stops new shared holders while a quiet test waits (no starvation).  The
    lock files are in the run's base temporary directory, whose
    subdirectories are the workers' (xdist), so one run shares them."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        yield
        return
    path = tmp_path_factory.getbasetemp().parent / "tresor-e2e-quiet.lock"
    quiet = (request.node.get_closest_marker("quiet") is not None
             or request.node.path.name in QUIET_FILES)
    gate_fd = os.open(f"{path}.gate", os.O_RDWR | os.O_CREAT, 0o600)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(gate_fd, fcntl.LOCK_EX)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if quiet else fcntl.LOCK_SH)
        finally:
            if not quiet:
                fcntl.flock(gate_fd, fcntl.LOCK_UN)
        yield
    finally:
        os.close(fd)        # closing releases the locks
        os.close(gate_fd)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for srv in list(ACTIVE_SERVERS):
            rep.sections.append((f"tresor[{srv.name}] logs", srv.log_tail()))


# The summaries' figures from the xdist workers (the controller runs no test).
_WORKER_MATRIX = collections.Counter()
_WORKER_DIFFERENTIAL = []


def _bad_input_summary(terminalreporter):
    """The size of the bad-input matrix (bad_input.py), when it ran."""
    import sys
    mod = sys.modules.get("bad_input")
    counts = collections.Counter(_WORKER_MATRIX)
    if mod is not None:
        counts.update(mod.MATRIX)
    if not counts:
        return
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
_WORKER_WRAPPER = [0, []]   # xdist controller: the workers' (process count, bad logs)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    out = getattr(node, "workeroutput", {})
    if "tresor_wrapper_logs" in out:
        _WORKER_WRAPPER[0] += out["tresor_wrapper_logs"]
        _WORKER_WRAPPER[1] += out["tresor_wrapper_bad"]
    for s, o, k, v in out.get("tresor_matrix", []):
        _WORKER_MATRIX[(s, o, k)] += v
    _WORKER_DIFFERENTIAL.extend(out.get("tresor_differential", []))


def _send_summaries(workeroutput):
    """An xdist worker: the figures of the terminal summaries, to the controller."""
    import sys
    mod = sys.modules.get("bad_input")
    if mod is not None:
        workeroutput["tresor_matrix"] = [[s, o, k, v] for (s, o, k), v in mod.MATRIX.items()]
    mod = sys.modules.get("test_differential")
    if mod is not None:
        workeroutput["tresor_differential"] = list(mod.REPORT)


def pytest_sessionfinish(session, exitstatus):
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        _send_summaries(workeroutput)
    if not WRAPPER:
        return
    bad = [str(log) for log in WRAPPER_LOGS if wrapper_problems(log) is not None]
    if workeroutput is not None:    # an xdist worker: its exit status is not the run's
        workeroutput["tresor_wrapper_logs"] = len(WRAPPER_LOGS)
        workeroutput["tresor_wrapper_bad"] = bad
        return
    count = len(WRAPPER_LOGS) + _WORKER_WRAPPER[0]
    bad += _WORKER_WRAPPER[1]
    _WRAPPER_REPORT[:] = [f"{count} tresor processes under the wrapper, "
                          f"{len(bad)} with errors or leaks"] + [f"  {log}" for log in bad]
    if bad:
        session.exitstatus = 1


def _differential_summary(terminalreporter):
    """The differential test's figures (test_differential.py), when it ran."""
    import sys
    mod = sys.modules.get("test_differential")
    lines = _WORKER_DIFFERENTIAL + (mod.REPORT if mod is not None else [])
    if not lines:
        return
    terminalreporter.section("differential")
    for line in lines:
        terminalreporter.write_line(line)


def pytest_terminal_summary(terminalreporter):
    _bad_input_summary(terminalreporter)
    _differential_summary(terminalreporter)
    if _WRAPPER_REPORT:
        terminalreporter.write_sep("-", "wrapper")
        for line in _WRAPPER_REPORT:
            terminalreporter.write_line(line)
