"""
pytest_tresor.py -- a pytest plugin: one `tresor serve --dev` for the test
session, its state wiped before each test.

Use it from a test suite (README, "Use it in your test suite"):

    PYTHONPATH=path/to/tresor/contrib python3 -m pytest -p pytest_tresor

or copy this file next to the suite's top-level conftest.py and write there
`pytest_plugins = ["pytest_tresor"]`.

What it gives each test:
  - a server on a free 127.0.0.1 port, started once per session from
    `tresor serve --dev` (state in memory; any access key is the account's
    root user), stopped with SIGTERM at the end (it must exit 0);
  - the state wiped before the test (POST /_tresor/reset: the default
    account again, and the seed when --tresor-seed is given);
  - the environment of a made-up identity for code under test:
    AWS_ENDPOINT_URL (read by botocore 1.31.0 / boto3 1.28.0 and later, and
    the AWS CLI from 2.13.0 and 1.29.0), AWS_ACCESS_KEY_ID=test,
    AWS_SECRET_ACCESS_KEY=test, AWS_DEFAULT_REGION; AWS_PROFILE and
    AWS_SESSION_TOKEN removed;
  - fixtures: `tresor` (the server: .url, .port, .account_id, .region,
    .reset(), .client(service, **kwargs)) and `tresor_client`
    (tresor_client("kms") is a boto3 client with endpoint_url given
    explicitly, so it works with any boto3, Debian 12's 1.26 included).

Options (command line, or the environment):
  --tresor-bin PATH         the tresor binary (TRESOR_BIN; default `tresor`
                            on PATH)
  --tresor-seed FILE        `tresor serve --seed FILE` (TRESOR_SEED)
  --tresor-account-id ID    the default account (TRESOR_ACCOUNT_ID;
                            default 123456789012)
  --tresor-region REGION    AWS_DEFAULT_REGION for the tests (default
                            us-east-1; every region is served)

The server's output goes to a log file under pytest's temporary directory;
a server that fails to start fails the first test that needs it with that
log.  Nothing runs at import time.
"""

import http.client
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

START_TIMEOUT = 20.0
STOP_TIMEOUT = 15.0


def pytest_addoption(parser):
    g = parser.getgroup("tresor", "tresor serve --dev (pytest_tresor)")
    g.addoption("--tresor-bin", default=None,
                help="the tresor binary (TRESOR_BIN; default: tresor on PATH)")
    g.addoption("--tresor-seed", default=None,
                help="a seed file for tresor serve --dev --seed (TRESOR_SEED)")
    g.addoption("--tresor-account-id", default=None,
                help="the default account id (TRESOR_ACCOUNT_ID; default 123456789012)")
    g.addoption("--tresor-region", default=None,
                help="AWS_DEFAULT_REGION for the tests (default us-east-1)")


def _option(config, name, env, default=None):
    value = config.getoption(name)
    if value:
        return value
    return os.environ.get(env) or default


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TresorDevServer:
    """One `tresor serve --dev` process on 127.0.0.1."""

    def __init__(self, binary, log_path, seed=None, account_id=None, region="us-east-1"):
        self.binary = binary
        self.log_path = Path(log_path)
        self.seed = seed
        self.account_id = account_id or "123456789012"
        self.region = region
        self.port = None
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def _request(self, method, path, timeout=5):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=b"" if method == "POST" else None)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")[-4000:]
        except OSError:
            return "(no log)"

    def start(self):
        # The server's own TRESOR_* settings stay out: a TRESOR_DATA_DIR
        # would put it on disk, where reset is refused.
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRESOR_")}
        env["TRESOR_LOG"] = "quiet"
        for _ in range(3):            # the free port may be taken before tresor binds it
            self.port = _free_port()
            argv = [self.binary, "serve", "--dev", "--listen", f"127.0.0.1:{self.port}",
                    "--account-id", self.account_id, "--region", self.region]
            if self.seed:
                argv += ["--seed", str(self.seed)]
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                             stderr=subprocess.STDOUT, env=env)
            deadline = time.monotonic() + START_TIMEOUT
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    if self._request("GET", "/health", timeout=2)[0] == 200:
                        return self
                except OSError:
                    pass
                time.sleep(0.05)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
                raise RuntimeError(f"tresor serve --dev not healthy after {START_TIMEOUT}s:\n"
                                   f"{self.log()}")
        raise RuntimeError(f"tresor serve --dev exited with {self.proc.returncode}:\n{self.log()}")

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"tresor did not stop within {STOP_TIMEOUT}s:\n{self.log()}")
        if rc != 0:
            raise RuntimeError(f"tresor exited with {rc}:\n{self.log()}")

    def reset(self):
        """Wipe all state: the default account again (and the seed)."""
        status, body = self._request("POST", "/_tresor/reset")
        if status != 200:
            raise RuntimeError(f"reset: HTTP {status}: {body!r}")

    def client(self, service, **kwargs):
        """A boto3 client for this server with the made-up credentials
        (keyword arguments override them, e.g. a seeded user's keys)."""
        import boto3
        args = {"endpoint_url": self.url, "region_name": self.region,
                "aws_access_key_id": "test", "aws_secret_access_key": "test"}
        args.update(kwargs)
        return boto3.session.Session().client(service, **args)


@pytest.fixture(scope="session")
def tresor(request, tmp_path_factory):
    """The session's dev server (started on first use)."""
    config = request.config
    binary = _option(config, "--tresor-bin", "TRESOR_BIN", "tresor")
    found = shutil.which(binary)
    if not found:
        pytest.fail(f"pytest_tresor: no tresor binary '{binary}' (build tresor, put it on PATH, "
                    "or give --tresor-bin / TRESOR_BIN)", pytrace=False)
    seed = _option(config, "--tresor-seed", "TRESOR_SEED")
    if seed:
        seed = os.path.abspath(seed)
    server = TresorDevServer(
        found, tmp_path_factory.mktemp("tresor") / "tresor.log", seed=seed,
        account_id=_option(config, "--tresor-account-id", "TRESOR_ACCOUNT_ID"),
        region=config.getoption("--tresor-region") or "us-east-1")
    server.start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _tresor_fresh_state(tresor, monkeypatch):
    """Before each test: state wiped, the environment pointed at tresor."""
    tresor.reset()
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", tresor.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", tresor.region)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
def tresor_client(tresor):
    """tresor_client("kms") -> a boto3 client for the dev server."""
    return tresor.client
