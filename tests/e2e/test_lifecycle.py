"""
test_lifecycle.py -- how `tresor serve` starts and stops.

Start-up errors that name the real problem:

  test_port_in_use_fails_cleanly_and_leaves_no_data_dir: one line with the
  address and the reason, exit 1, no data dir; the next start gets the
  --account-id it asks for.
  test_config_follows_the_region_on_restart: DIR/config names the region
  the server now serves, and the banner's own example works.
  test_not_http_is_one_line_per_connection: a TLS client, garbage and a
  malformed request get one log line each with the peer, no HTML.

A clean stop answers what it took (README "Running it"):

  test_sigterm_under_write_load: four boto3 clients (retries off) write
  PutSecretValue in loops, each with its own ClientRequestTokens, and the
  server gets SIGTERM in the middle; every client ends on its first
  connection error.  After a restart on the same data dir: every write
  acknowledged with a 200 is in the store (GetSecretValue by VersionId,
  with its value), and the write each client lost to a connection error
  is not -- a request the server processed got its reply; a request it
  did not answer was never processed.  TRESOR_STOP_ROUNDS rounds (default
  3); TRESOR_STOP_SEED replays a run.  Before the fix, the stop closed
  connections whose reply was stored but unsent.

  test_stop_waits_for_a_request_in_flight, test_grace_period_is_bounded,
  test_second_signal_stops_at_once: a request whose headers arrived but
  whose body is still coming is in flight; the stop waits for it (and it is
  answered), up to --shutdown-grace, and a second signal stops at once.
  The log says what the stop waits for and how it ended.
"""

import http.client
import json
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import threading
import time
import uuid

import pytest
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tresor_e2e import ACCOUNT, ACCOUNT_B, REGION, _boto3_session, free_port, scaled


# ---- helpers ----------------------------------------------------------------

def start_with(srv, args, env_extra=None, timeout=20.0):
    """Start srv like TresorServer.start, with `args` after `serve` instead
    of the usual flags (--listen is added)."""
    assert srv.proc is None, "server already running"
    srv.port = free_port()
    srv.starts += 1
    srv.stdout_path = srv.log_dir / f"stdout.{srv.starts}.log"
    srv.stderr_path = srv.log_dir / f"stderr.{srv.starts}.log"
    srv.ensure_pg_db()
    env = srv._base_env()
    env.update(env_extra or {})
    srv._spawn(["serve", "--listen", f"127.0.0.1:{srv.port}", *args], env)
    srv._wait_healthy(timeout)
    srv._load_credentials()
    return srv


def read_reply(s):
    """The raw HTTP reply on socket s, read until the server closes it."""
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return data
        data += chunk


def wait_for_log(srv, pattern, since=0):
    """The first match of pattern in the server's log after offset since."""
    deadline = time.monotonic() + scaled(15)
    while True:
        m = re.search(pattern, srv.stderr_text()[since:].decode("utf-8", "replace"))
        if m or time.monotonic() > deadline:
            assert m, f"no {pattern!r} in the log:\n{srv.log_tail()}"
            return m
        time.sleep(0.02)


# ---- start-up errors that name the real problem ----------------------------

def test_port_in_use_fails_cleanly_and_leaves_no_data_dir(tresor_factory):
    """A port in use: one line naming the address and the reason, exit 1,
    no data dir created -- so the next start (with --account-id) makes the
    account asked for, not the random one of the failed start."""
    srv = tresor_factory("port-busy", start=False)
    srv.data_dir.rmdir()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        p = srv.run_tresor("serve", "--listen", f"127.0.0.1:{port}", "--data-dir", srv.data_dir)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert p.stderr.splitlines() == [
        f"tresor: cannot listen on 127.0.0.1:{port}: Address already in use"], p.stderr
    assert p.stdout == "", p.stdout
    assert not srv.data_dir.exists(), sorted(srv.data_dir.iterdir())
    srv.start()                                     # --account-id ACCOUNT
    assert srv.sts().get_caller_identity()["Account"] == ACCOUNT
    assert b"ignored" not in srv.stderr_text(), srv.log_tail()


def banner_example(srv):
    """The shell command the banner offers ("Try it with the AWS CLI")."""
    out = srv.stdout_path.read_text()
    m = re.search(r"Try it with the AWS CLI:\n((?:  .*\n)+)", out)
    assert m, out
    return m.group(1).replace("\\\n", " ").strip()


def test_config_follows_the_region_on_restart(tresor_factory):
    """Restarted with another --region, DIR/config names it (the profiles
    tresor writes; the rest of the file is kept) and the banner's own
    example works with the AWS CLI."""
    srv = tresor_factory("region")
    other = srv.create_account(ACCOUNT_B)           # profile tresor-<ID>, region us-east-1
    config = srv.data_dir / "config"
    config.write_text(config.read_text().replace(
        "[profile tresor]\n", "[profile tresor]\noutput = json\n") + "[profile mine]\nregion = ap-south-1\n")
    srv.stop_clean()
    start_with(srv, ["--data-dir", srv.data_dir, "--region", "eu-west-1"])
    text = config.read_text()
    sections = {}
    for block in re.split(r"^(?=\[)", text, flags=re.M):
        if block.strip():
            head, _, rest = block.partition("\n")
            sections[head.strip()] = rest
    assert re.search(r"^region = eu-west-1$", sections["[profile tresor]"], re.M), text
    assert re.search(r"^output = json$", sections["[profile tresor]"], re.M), text
    assert re.search(r"^region = eu-west-1$", sections[f"[profile tresor-{ACCOUNT_B}]"], re.M), text
    assert re.search(r"^region = ap-south-1$", sections["[profile mine]"], re.M), text
    assert len(sections) == 3, text
    assert re.search(r"config: the tresor profiles now name region eu-west-1 \(was us-east-1\)",
                     srv.stderr_text().decode()), srv.log_tail()

    env = {k: v for k, v in srv.cli_env().items()
           if k not in ("AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE")}
    cmd = banner_example(srv)
    assert f"AWS_CONFIG_FILE={srv.data_dir}/config" in cmd and "kms list-keys" in cmd, cmd
    p = subprocess.run(["/bin/sh", "-c", cmd], env=env, capture_output=True, text=True,
                       timeout=60, cwd=str(srv.home))
    assert p.returncode == 0, (cmd, p.stderr)
    assert "Keys" in json.loads(p.stdout), p.stdout
    p = subprocess.run(["/bin/sh", "-c", cmd.replace("--profile tresor", f"--profile tresor-{ACCOUNT_B}")
                        .replace("kms list-keys", "sts get-caller-identity")],
                       env=env, capture_output=True, text=True, timeout=60, cwd=str(srv.home))
    assert p.returncode == 0 and json.loads(p.stdout)["Account"] == other.account, p.stderr

    srv.stop_clean()                                # the same region again: nothing to change
    before = config.read_text()
    start_with(srv, ["--data-dir", srv.data_dir, "--region", "eu-west-1"])
    assert config.read_text() == before
    assert srv.stderr_text().decode().count("now name region") == 1


def test_not_http_is_one_line_per_connection(tresor_factory):
    """A TLS client, garbage bytes and a malformed request on the plain-HTTP
    port: one clear log line each, naming the peer, no HTML from the HTTP
    library; the server keeps serving."""
    srv = tresor_factory("not-http")
    since = len(srv.stderr_text())
    peers = {}

    s = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(5))
    peers["tls"] = s.getsockname()[1]
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with pytest.raises((ssl.SSLError, OSError)):
        ctx.wrap_socket(s, server_hostname="localhost").close()
    s.close()

    for kind, data in (("garbage", os.urandom(200).replace(b"\n", b"") + b"\r\n\r\n"),
                       ("binary", b"\x00\xff\xfe garbage"),
                       ("malformed", b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: zz\r\n\r\n")):
        s = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(5))
        peers[kind] = s.getsockname()[1]
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        read_reply(s)                               # whatever the HTTP library answers
        s.close()

    assert srv.kms().list_keys()["Keys"] is not None
    for kind, port in peers.items():
        what = r"bad HTTP request \(malformed" if kind == "malformed" else "not HTTP"
        wait_for_log(srv, rf"127\.0\.0\.1:{port}: {what}", since)
    log = srv.stderr_text()[since:].decode("utf-8", "replace")
    for kind, port in peers.items():
        assert len(re.findall(rf"127\.0\.0\.1:{port}\b", log)) == 1, (kind, log)
    assert "<html" not in log.lower() and "Error processing request" not in log, log
    lines = [l for l in log.splitlines() if "POST /" not in l]
    assert len(lines) == len(peers), log


# ---- a clean stop answers what it took ---------------------------------------

STOP_ROUNDS = int(os.environ.get("TRESOR_STOP_ROUNDS", "3"))
STOP_SEED = int(os.environ.get("TRESOR_STOP_SEED", "0")) or random.SystemRandom().randrange(1, 2**31)
CLIENTS = 4


def sm_client(srv):
    """A Secrets Manager client with retries off (total_max_attempts=1: a
    connection error is reported, never retried).  Made in the calling
    thread: boto3 sessions are not thread-safe."""
    cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                 parameter_validation=False, connect_timeout=5, read_timeout=scaled(30))
    return _boto3_session().client(
        "secretsmanager", region_name=REGION, endpoint_url=srv.endpoint, config=cfg,
        aws_access_key_id=srv.access_key, aws_secret_access_key=srv.secret_key)


class Writer(threading.Thread):
    """PutSecretValue in a loop on one secret until the first connection
    error: what was acknowledged, what was answered with an error, and the
    one write lost to the connection error."""

    def __init__(self, sm, arn, idx):
        super().__init__(daemon=True)
        self.sm, self.arn, self.idx = sm, arn, idx
        self.acked = []           # (token, value) answered 200
        self.errors = []          # (token, code): answered with an error reply
        self.lost = None          # (token, value, exception text): no reply
        self.go = threading.Event()

    def run(self):
        self.go.wait()
        n = 0
        while True:
            n += 1
            token, value = str(uuid.uuid4()), f"writer {self.idx} write {n}"
            try:
                self.sm.put_secret_value(SecretId=self.arn, SecretString=value,
                                         ClientRequestToken=token)
            except ClientError as e:
                self.errors.append((token, e.response.get("Error", {}).get("Code")))
                if len(self.errors) > 20:
                    return
                continue
            except BotoCoreError as e:
                self.lost = (token, value, f"{type(e).__name__}: {e}")
                return
            self.acked.append((token, value))


def stored_value(sm, arn, token):
    """The value of version `token`, or None when the store has no such
    version."""
    try:
        return sm.get_secret_value(SecretId=arn, VersionId=token)["SecretString"]
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return None
        raise


def test_sigterm_under_write_load(tresor_factory):
    rng = random.Random(STOP_SEED)
    srv = tresor_factory("stop-load")
    acked_total = answered_in_stop = refused = 0
    lost_kinds = {}           # exception class -> clients ended by it
    problems = []
    for rnd in range(STOP_ROUNDS):
        sm = sm_client(srv)
        arns = [sm.create_secret(Name=f"stop/{rnd}/{i}-{uuid.uuid4().hex[:8]}",
                                 SecretString="first")["ARN"] for i in range(CLIENTS)]
        writers = [Writer(sm_client(srv), arn, i) for i, arn in enumerate(arns)]
        for w in writers:
            w.start()
        for w in writers:
            w.go.set()
        time.sleep(rng.uniform(0.2, 0.8) * min(scaled(1), 4))
        before = len(srv.stderr_text())
        assert srv.stop(signal.SIGTERM) == 0, srv.log_tail()
        for w in writers:
            w.join(timeout=scaled(30))
            assert not w.is_alive(), f"writer {w.idx} still running after the server stopped"
        log = srv.stderr_text()[before:].decode("utf-8", "replace")

        srv.start()
        sm = sm_client(srv)
        for w in writers:
            assert w.lost is not None, f"writer {w.idx} never saw the server go"
            if w.errors:
                problems.append(f"round {rnd} writer {w.idx}: error replies: {w.errors}")
            acked_total += len(w.acked)
            # AWS keeps 100 versions (the oldest unlabeled ones go): the
            # last 90 acknowledged must all be there, with their values.
            for token, value in w.acked[-90:]:
                got = stored_value(sm, w.arn, token)
                if got != value:
                    problems.append(f"round {rnd} writer {w.idx}: acknowledged {token} "
                                    f"reads back as {got!r}")
            token, value, err = w.lost
            kind = err.split(":", 1)[0]
            lost_kinds[kind] = lost_kinds.get(kind, 0) + 1
            if stored_value(sm, w.arn, token) is not None:
                problems.append(f"round {rnd} writer {w.idx}: {token} is stored, but its "
                                f"client got no reply ({err}) after {len(w.acked)} acks")
        m = re.search(r"stopping \(signal 15\): (\d+) requests? in flight", log)
        if not m or "stopping: all requests answered" not in log:
            problems.append(f"round {rnd}: the stop does not say what it waited for, or did not "
                            f"drain:\n{log}")
        answered_in_stop += int(m.group(1)) if m else 0
        m = re.search(r"(\d+) requests? refused unread", log)
        refused += int(m.group(1)) if m else 0
    print(f"\nstop under load (seed {STOP_SEED}): {STOP_ROUNDS} rounds, {acked_total} writes "
          f"acknowledged, {answered_in_stop} in flight at the signals, {refused} refused unread; "
          f"clients ended by {lost_kinds}; {len(problems)} problems")
    assert not problems, "\n".join(problems)


# ---- one request in flight: the stop waits for it, up to the grace period ----

def start_graced(srv, grace):
    return start_with(srv, ["--data-dir", srv.data_dir, "--region", REGION,
                            "--account-id", ACCOUNT, "--shutdown-grace", str(grace)])


def stalled_create_secret(srv, name, value="in flight"):
    """A signed CreateSecret whose headers and half of whose body are sent:
    (socket, the rest of the body).  The headers carry `Expect:
    100-continue` and the body waits for the server's `100 Continue`, which
    it sends from the request's first access-handler call: once it is read,
    the request is in flight (whatever the machine's load), so a signal
    sent next always finds it there."""
    body = json.dumps({"Name": name, "SecretString": value,
                       "ClientRequestToken": str(uuid.uuid4())})
    headers, payload = srv.build_request("secretsmanager.CreateSecret", body,
                                         service="secretsmanager")
    head = "POST / HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += f"Content-Length: {len(payload)}\r\nExpect: 100-continue\r\n\r\n"
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(30))
    s.sendall(head.encode())
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = s.recv(4096)
        assert chunk, f"connection closed before 100 Continue: {got!r}"
        got += chunk
    assert got.startswith(b"HTTP/1.1 100"), got
    half = len(payload) // 2
    s.sendall(payload[:half])
    return s, payload[half:]


def test_stop_waits_for_a_request_in_flight(tresor_factory):
    """A request whose body is still arriving at SIGTERM is in flight: the
    stop refuses new connections and closes idle keep-alive ones, waits for
    the request, answers it (with Connection: close) and then exits 0."""
    srv = tresor_factory("stop-wait", start=False)
    start_graced(srv, int(scaled(60)))
    idle = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=scaled(30))
    idle.request("GET", "/health")
    assert idle.getresponse().read() is not None    # answered, kept alive
    name = f"stop/wait-{uuid.uuid4().hex[:8]}"
    s, rest = stalled_create_secret(srv, name)
    since = len(srv.stderr_text())
    srv.proc.send_signal(signal.SIGTERM)
    # (The counts are taken at the signal: they may include a /health
    # request whose reply is written but not yet done with, the idle
    # connection's among them -- shut down as soon as it is.)
    wait_for_log(srv, r"stopping \(signal 15\): [1-9]\d* requests? in flight, waiting up to \d+ s "
                      r"for (it|them); \d+ idle connections? closed", since)
    assert srv.proc.poll() is None, "the server exited with a request in flight"
    assert idle.sock.recv(1) == b"", "the idle keep-alive connection is still open"
    try:
        socket.create_connection(("127.0.0.1", srv.port), timeout=scaled(5)).close()
        raise AssertionError("a new connection was accepted during the stop")
    except ConnectionRefusedError:
        pass
    s.sendall(rest)
    reply = read_reply(s)
    s.close()
    assert reply.startswith(b"HTTP/1.1 200 "), reply[:300]
    assert b"\r\nConnection: close\r\n" in reply, reply[:300]
    assert srv.proc.wait(timeout=scaled(15)) == 0, srv.log_tail()
    srv.proc = None
    wait_for_log(srv, r"stopping: all requests answered", since)
    srv.start()
    assert srv.sm().get_secret_value(SecretId=name)["SecretString"] == "in flight"


def test_grace_period_is_bounded(tresor_factory):
    """A request that does not finish within --shutdown-grace loses its
    connection, unanswered and unprocessed; the stop says so and exits 0."""
    srv = tresor_factory("stop-grace", start=False)
    start_graced(srv, 1)
    name = f"stop/grace-{uuid.uuid4().hex[:8]}"
    s, _ = stalled_create_secret(srv, name)
    since = len(srv.stderr_text())
    assert srv.stop(signal.SIGTERM) == 0, srv.log_tail()
    log = srv.stderr_text()[since:].decode("utf-8", "replace")
    assert re.search(r"stopping \(signal 15\): [1-9]\d* requests? in flight, waiting up to 1 s", log), log
    assert re.search(r"stopping: grace period of 1 s over, 1 request still in flight: closing its "
                     r"connection unanswered", log), log
    assert read_reply(s) == b""
    s.close()
    srv.start()
    with pytest.raises(ClientError) as ei:
        srv.sm().describe_secret(SecretId=name)
    assert ei.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_second_signal_stops_at_once(tresor_factory):
    """A second SIGINT/SIGTERM during the grace period stops the wait (the
    grace here is far longer than the stop's own timeout)."""
    srv = tresor_factory("stop-twice", start=False)
    start_graced(srv, 3600)
    s, _ = stalled_create_secret(srv, f"stop/twice-{uuid.uuid4().hex[:8]}")
    since = len(srv.stderr_text())
    srv.proc.send_signal(signal.SIGTERM)
    wait_for_log(srv, r"stopping \(signal 15\): [1-9]\d* requests? in flight", since)
    assert srv.stop(signal.SIGINT) == 0, srv.log_tail()
    wait_for_log(srv, r"stopping: signal 2 again, not waiting: [1-9]\d* requests? in flight, closing "
                      r"(its|their) connections? unanswered", since)
    s.close()


@pytest.mark.parametrize("grace", ["-1", "1.5", "3601", "ten", ""])
def test_bad_shutdown_grace_is_refused(tresor_factory, grace):
    srv = tresor_factory("bad-grace", start=False)
    p = srv.run_tresor("serve", "--listen", f"127.0.0.1:{free_port()}", "--data-dir",
                       srv.data_dir, "--shutdown-grace", grace)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert "--shutdown-grace must be whole seconds, 0..3600" in p.stderr, p.stderr
    assert not any(srv.data_dir.iterdir()), "a refused start wrote to the data dir"
