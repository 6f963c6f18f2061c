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
"""

import json
import os
import re
import socket
import ssl
import subprocess
import time

import pytest

from tresor_e2e import ACCOUNT, ACCOUNT_B, free_port, scaled


# ---- helpers ----------------------------------------------------------------

def start_with(srv, args, env_extra=None, timeout=20.0):
    """Start srv like TresorServer.start, with `args` after `serve` instead
    of the usual flags (--listen is added)."""
    assert srv.proc is None, "server already running"
    srv.port = free_port()
    srv.starts += 1
    srv.stdout_path = srv.log_dir / f"stdout.{srv.starts}.log"
    srv.stderr_path = srv.log_dir / f"stderr.{srv.starts}.log"
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
