"""
test_readme.py -- the README's examples, run as written.

test_readme_examples walks README.md's fenced blocks in order (readme.py
extracts them; the <!-- readme-test: ... --> comment above a block says
when it is not a plain command) in one working directory, as a reader in
a terminal would:

  - the blocks marked `file NAME` are written first (the seed is used by a
    command above it);
  - ```sh blocks run with bash -euo pipefail; the variables they export
    carry over to the next blocks (the quick start's two `export` lines
    serve its boto3 example); a `# prints TEXT` comment on a line means
    the block's output must contain TEXT;
  - a `tresor serve ...` line starts that server in the background, in
    place of the one before (stopped with SIGTERM, which must exit 0), and
    waits for /health (over https, unverified, when it serves TLS); a block holds either such lines or commands, not both;
  - every 127.0.0.1:PORT in a block is the current server: the servers
    listen on free ports, so the test never collides with another run;
  - ```python blocks run with Debian's python3;
  - `instead COMMAND` runs COMMAND in place of the block (`make run` builds
    and runs `tresor serve`: the test has the binary already);
  - `synopsis` and `skip` blocks are not run (test_cli_help.py checks the
    synopses' flags against --help).

`tresor` is a shim on PATH for $TRESOR_BIN (behind TRESOR_SERVER_WRAPPER
when it is set, each process with its own log, all checked); `aws` is the AWS CLI v2 at
/usr/bin/aws; HOME is the working directory (no ~/.aws), no AWS_* or
TRESOR_* variable comes from the test's own environment, AWS_PAGER is
empty (no terminal here).  tresor's clone is visible as ./tresor (the
pytest plugin example loads tresor/contrib/pytest_tresor.py).

test_readme_has_no_unseen_blocks fails for an indented code block, a
fenced block of a language the runner does not run and no marker, and a
readme-test comment that no fence follows.
"""

import os
import re
import shlex
import signal
import subprocess
import time
from pathlib import Path

import readme
from tresor_e2e import (AWS_CLI, REPO, WRAPPER, assert_wrapper_clean, free_port, scaled,
                        tresor_bin, tresor_cmd)

RUNNABLE = {"sh", "python"}
ADDR_RE = re.compile(r"\b127\.0\.0\.1:\d{2,5}\b")


def test_readme_has_no_unseen_blocks():
    assert readme.indented_blocks() == [], \
        "README.md: indented code blocks at these lines; fence them (```sh ...) so test_readme runs them"
    assert readme.stray_markers() == [], "README.md: readme-test comments not right above a fence"
    unseen = [b.where() for b in readme.blocks() if b.verb is None and b.lang not in RUNNABLE]
    assert unseen == [], f"blocks the test can neither run nor knows to skip: {unseen}"
    for b in readme.blocks():
        if b.verb == "skip":
            assert b.arg, f"{b.where()}: a skip needs a reason"


class Terminal:
    """The reader's terminal: a working directory, an environment, and the
    server most recently started."""

    def __init__(self, root):
        self.cwd = root / "work"
        self.cwd.mkdir()
        self.logs = root / "logs"
        self.logs.mkdir()
        bin_dir = root / "bin"
        bin_dir.mkdir()
        # Under TRESOR_SERVER_WRAPPER (valgrind) the shim runs tresor behind it
        # too, one log per process (valgrind's %p); the test checks them all.
        argv = [w.replace("{log}", str(self.logs / "shim.%p.log")) for w in WRAPPER]
        argv.append(str(tresor_bin()))
        shim = bin_dir / "tresor"
        shim.write_text(f'#!/bin/sh\nexec {" ".join(shlex.quote(a) for a in argv)} "$@"\n')
        shim.chmod(0o755)
        (self.cwd / "tresor").symlink_to(REPO)
        keep = ("LANG", "LC_ALL", "ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS")
        self.env = {k: os.environ[k] for k in keep if k in os.environ}
        self.env.update({
            "PATH": f"{bin_dir}:{Path(AWS_CLI).parent}:/usr/bin:/bin",
            "HOME": str(self.cwd),
            "AWS_PAGER": "",
            "AWS_EC2_METADATA_DISABLED": "true",
        })
        self.server = None          # (process, port, wrapper log, argv)
        self.n = 0

    # ---- servers -------------------------------------------------------------

    def start_server(self, line, where):
        args = shlex.split(line, comments=True)
        assert args[:2] == ["tresor", "serve"], f"{where}: not a server line: {line}"
        self.stop_server()
        port = free_port()
        args = args[2:]
        if "--listen" in args:
            args[args.index("--listen") + 1] = f"127.0.0.1:{port}"
        else:
            args += ["--listen", f"127.0.0.1:{port}"]
        self.n += 1
        argv, log = tresor_cmd(["serve", *args], self.logs)
        out = open(self.logs / f"server.{self.n}.log", "wb")
        proc = subprocess.Popen(argv, cwd=str(self.cwd), env=self.env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT)
        out.close()
        self.server = (proc, port, log, line)
        deadline = time.monotonic() + scaled(20)
        while time.monotonic() < deadline:
            assert proc.poll() is None, \
                f"{where}: `{line}` exited with {proc.returncode}:\n{self.server_log()}"
            tls = "--tls-generate" in args or "--tls-cert" in args
            r = subprocess.run(["curl", "-sf", *(["-k"] if tls else []),
                                f"{'https' if tls else 'http'}://127.0.0.1:{port}/health"],
                               capture_output=True)
            if r.returncode == 0:
                return
            time.sleep(0.05)
        raise AssertionError(f"{where}: `{line}` not healthy:\n{self.server_log()}")

    def server_log(self):
        return (self.logs / f"server.{self.n}.log").read_text(errors="replace")[-4000:]

    def stop_server(self):
        if not self.server:
            return
        proc, _, log, line = self.server
        self.server = None
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=scaled(15))
        assert rc == 0, f"`{line}` exited with {rc} on SIGTERM:\n{self.server_log()}"
        assert_wrapper_clean(log, line)

    def rewrite(self, text):
        if not self.server:
            return text
        return ADDR_RE.sub(f"127.0.0.1:{self.server[1]}", text)

    # ---- blocks --------------------------------------------------------------

    def run_sh(self, block):
        # Lines joined across backslash continuations: one command each.
        commands = re.sub(r"\\\n\s*", " ", block.text).splitlines()
        servers = [c for c in commands if c.startswith("tresor serve")]
        if servers:
            assert len(servers) == len([c for c in commands if c.strip()]), \
                f"{block.where()}: `tresor serve` lines and other commands in one block"
            for line in servers:
                self.start_server(line, block.where())
            return
        envfile = self.cwd.parent / "env.out"
        script = f"set -euo pipefail\n{self.rewrite(block.text)}\nenv -0 > {shlex.quote(str(envfile))}\n"
        p = subprocess.run(["bash", "-c", script], cwd=str(self.cwd), env=self.env,
                           capture_output=True, text=True, timeout=scaled(120))
        assert p.returncode == 0, (f"{block.where()} failed ({p.returncode}):\n{block.text}\n"
                                   f"--- stdout\n{p.stdout}\n--- stderr\n{p.stderr}")
        for want in re.findall(r"#\s*prints\s+(.+?)\s*$", block.text, re.M):
            assert want in p.stdout, f"{block.where()}: '{want}' not in the output:\n{p.stdout}"
        env = {}
        for item in envfile.read_bytes().split(b"\0"):
            if b"=" in item:
                k, v = item.decode().split("=", 1)
                env[k] = v
        for k in ("SHLVL", "_", "PWD", "OLDPWD"):
            env.pop(k, None)
        self.env = env

    def run_python(self, block):
        p = subprocess.run(["/usr/bin/python3", "-c", self.rewrite(block.text)], cwd=str(self.cwd),
                           env=self.env, capture_output=True, text=True, timeout=scaled(120))
        assert p.returncode == 0, (f"{block.where()} failed ({p.returncode}):\n{block.text}\n"
                                   f"--- stdout\n{p.stdout}\n--- stderr\n{p.stderr}")


def test_readme_examples(tmp_path):
    term = Terminal(tmp_path)
    blocks = readme.blocks()
    for b in blocks:
        if b.verb == "file":
            path = term.cwd / b.arg
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(b.text)
    ran = {"sh": 0, "python": 0, "servers": 0}
    try:
        for b in blocks:
            if b.verb in ("skip", "synopsis", "file"):
                continue
            if b.verb == "instead":
                assert b.arg.startswith("tresor serve"), f"{b.where()}: instead of what? {b.arg}"
                term.start_server(b.arg, b.where())
                ran["servers"] += 1
            elif b.lang == "sh":
                before = term.n
                term.run_sh(b)
                ran["servers"] += term.n - before
                ran["sh"] += term.n == before
            elif b.lang == "python":
                term.run_python(b)
                ran["python"] += 1
    finally:
        term.stop_server()
    for log in sorted(term.logs.glob("shim.*.log")):
        assert_wrapper_clean(log, f"a tresor command of the README ({log.name})")
    # The README's own shape, so that a marker typo cannot silently skip all:
    # the quick start's server, the two dev servers; shell and Python examples.
    assert ran["servers"] >= 3 and ran["sh"] >= 4 and ran["python"] >= 2, ran
