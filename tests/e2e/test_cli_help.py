"""
test_cli_help.py -- the binary's help and usage errors, run for real.

Covered: `tresor --help` (and `help`, `-h`) lists every subcommand, the
headline who-can-decrypt and what-can-decrypt among them, one aligned line
each; `tresor` alone and `tresor bogus` say what is wrong on one line, then
the same list, exit 2; every subcommand's --help exits 0 with every line
within 79 columns and every description in one column, lists each of its
flags with the environment variable and default it has, and every flag it
lists is accepted; `serve --help` and both start banners name the four
services; a bad option value, an unknown or ambiguous flag, a missing value
or operand each print one error line naming the command and what is wrong,
then the usage, exit 2, with nothing on stdout and no file written; every
flag and TRESOR_* variable the README documents (its synopses and the
serve table) appears in the --help of its command.
"""

import os
import re
import subprocess

import pytest

import readme
from tresor_e2e import assert_wrapper_clean, free_port, run_tresor_cmd, scaled, tresor_cmd

SUBCOMMANDS = ["serve", "who-can-decrypt", "what-can-decrypt", "policy simulate",
               "snapshot collect", "snapshot check", "snapshot diff",
               "account create", "account credentials", "check", "unseal", "seal", "seal migrate", "rotate-root-key", "audit verify",
               "audit hmac", "backup",
               "restore", "migrate", "version", "help"]
# Each subcommand's flags: (flag, its environment variable or None, its default or None).
FLAGS = {
    "serve": [("--listen", "TRESOR_LISTEN", "127.0.0.1:8737"),
              ("--data-dir", "TRESOR_DATA_DIR", "./tresor-data"),
              ("--store", "TRESOR_STORE", "DIR/tresor.db"),
              ("--region", "TRESOR_REGION", "us-east-1"),
              ("--regions", "TRESOR_REGIONS", "--region alone"),
              ("--account-id", "TRESOR_ACCOUNT_ID", "random"),
              ("--threads", "TRESOR_THREADS", "one per core"),
              ("--store-connections", "TRESOR_STORE_CONNECTIONS", "threads + 2"),
              ("--shutdown-grace", "TRESOR_SHUTDOWN_GRACE", "10"),
              ("--tls-cert", "TRESOR_TLS_CERT", None), ("--tls-key", "TRESOR_TLS_KEY", None),
              ("--tls-min-version", "TRESOR_TLS_MIN_VERSION", "1.2"),
              ("--tls-generate", "TRESOR_TLS_GENERATE=1", None),
              ("--insecure-http", "TRESOR_INSECURE_HTTP=1", None),
              ("--audit-log", "TRESOR_AUDIT_LOG", None),
              ("--audit-checkpoint", "TRESOR_AUDIT_CHECKPOINT", "1000"),
              ("--metrics", "TRESOR_METRICS=1", None),
              ("--seal", "TRESOR_SEAL", "file"), ("--passphrase-file", None, None),
              ("--pkcs11-module", "TRESOR_PKCS11_MODULE", None), ("--pkcs11-token", "TRESOR_PKCS11_TOKEN", None),
              ("--pkcs11-key", "TRESOR_PKCS11_KEY", None), ("--pkcs11-pin-file", None, None),
              ("--rotation-hooks", "TRESOR_ROTATION_HOOKS", None),
              ("--rotation-timeout", "TRESOR_ROTATION_TIMEOUT", "30"),
              ("--oidc-ca-file", "TRESOR_OIDC_CA_FILE", None),
              ("--oidc-allowed-issuers", "TRESOR_OIDC_ALLOWED_ISSUERS", "all"),
              ("--oidc-jwks", "TRESOR_OIDC_JWKS", None),
              ("--dev", "TRESOR_DEV=1", None), ("--seed", None, None), ("--enforce-iam", None, None)],
    "who-can-decrypt": [("--all", None, None), ("--format", None, "text"), ("--explain", None, None),
                        ("--with-key", None, None), ("--diff", None, None), ("--account", None, None),
                        ("--region", "TRESOR_REGION", "us-east-1"), ("--threads", None, "one per core"),
                        ("--snapshot", None, None),
                        ("--data-dir", "TRESOR_DATA_DIR", "./tresor-data"), ("--store", "TRESOR_STORE", "DIR/tresor.db")],
    "what-can-decrypt": [("--format", None, "text"), ("--snapshot", None, None),
                         ("--data-dir", "TRESOR_DATA_DIR", "./tresor-data"),
                         ("--store", "TRESOR_STORE", "DIR/tresor.db")],
    "policy simulate": [("--principal", None, None), ("--access-key-id", None, None),
                        ("--action", None, None), ("--resource", None, "*"), ("--context", None, None),
                        ("--encryption-context", None, None), ("--source-ip", None, None),
                        ("--secure-transport", None, None), ("--via-service", None, None), ("--session-policy", None, None),
                        ("--session-policy-arn", None, None), ("--session-tag", None, None),
                        ("--format", None, "text"), ("--web-identity-token", None, None),
                        ("--role", None, None), ("--snapshot", None, None),
                        ("--data-dir", "TRESOR_DATA_DIR", "./tresor-data"), ("--store", "TRESOR_STORE", "DIR/tresor.db"),
                        ("--region", "TRESOR_REGION", "us-east-1")],
    "snapshot collect": [("--out", None, None), ("--profile", "AWS_PROFILE", None),
                         ("--endpoint-url", None, None), ("--region", "AWS_REGION", None)],
    "snapshot check": [("--format", None, "text")],
    "snapshot diff": [("--old", None, None), ("--new", None, None), ("--secret", None, None),
                      ("--format", None, "text")],
    "account create": [("--account-id", None, "random"),
                       ("--data-dir", "TRESOR_DATA_DIR", "./tresor-data"), ("--store", "TRESOR_STORE", "DIR/tresor.db"),
                       ("--region", "TRESOR_REGION", "us-east-1")],
    "account credentials": [("--out", None, None), ("--account-id", None, "the first account"),
                            ("--data-dir", "TRESOR_DATA_DIR", "./tresor-data"),
                            ("--store", "TRESOR_STORE", "DIR/tresor.db"), ("--region", "TRESOR_REGION", "us-east-1")],
    "check": [("--data-dir", "TRESOR_DATA_DIR", "./tresor-data"), ("--store", "TRESOR_STORE", "DIR/tresor.db")],
    "unseal": [("--data-dir", "TRESOR_DATA_DIR", "./tresor-data"), ("--passphrase-file", None, None),
               ("--pin-file", None, None)],
    "seal": [("--data-dir", "TRESOR_DATA_DIR", "./tresor-data")],
    "seal migrate": [("--data-dir", "TRESOR_DATA_DIR", "./tresor-data"), ("--to", None, None),
                     ("--passphrase-file", None, None), ("--pkcs11-module", "TRESOR_PKCS11_MODULE", None),
                     ("--pkcs11-token", "TRESOR_PKCS11_TOKEN", None), ("--pkcs11-key", "TRESOR_PKCS11_KEY", None),
                     ("--pkcs11-pin-file", None, None)],
    "rotate-root-key": [("--data-dir", "TRESOR_DATA_DIR", "./tresor-data"), ("--passphrase-file", None, None),
                        ("--pkcs11-module", "TRESOR_PKCS11_MODULE", None),
                        ("--pkcs11-token", "TRESOR_PKCS11_TOKEN", None), ("--pkcs11-key", "TRESOR_PKCS11_KEY", None),
                        ("--pkcs11-pin-file", None, None)],
    "audit verify": [("--public-key", None, None)],
    "audit hmac": [("--data-dir", "TRESOR_DATA_DIR", "./tresor-data"), ("--decode", None, None)],
    "backup": [("--data-dir", "TRESOR_DATA_DIR", "./tresor-data"), ("--out", None, None)],
    "restore": [("--data-dir", None, None), ("--root-key", None, None)],
    "migrate": [("--from", None, None), ("--to", None, None)],
}


def tresor(cwd, *args, env=None):
    """`tresor ARGS` in directory cwd, with no TRESOR_* variable but env's
    (a wrapper's log goes beside cwd, not in it)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TRESOR_")}
    base.update(env or {})
    return run_tresor_cmd(list(args), cwd.parent, capture_output=True, text=True, env=base,
                          cwd=str(cwd))


@pytest.fixture
def empty(tmp_path):
    d = tmp_path / "cwd"
    d.mkdir()
    return d


def aligned_sections(text):
    """The two-column sections of a help text ("commands:", "options:",
    "arguments and options:", "environment:"): for each, the column where the
    descriptions start.  Fails when a section's descriptions (and their
    continuation lines) do not all start in one column."""
    cols = {}
    section = None
    for line in text.splitlines():
        if re.fullmatch(r"(commands|options|arguments and options|environment):", line):
            section = line[:-1]
            cols[section] = None
            continue
        if not line.strip():
            section = None
            continue
        if section is None:
            continue
        m = re.match(r"^  (\S.*?)  +(\S)", line)
        if line.startswith("   "):                   # a continuation line
            col = len(line) - len(line.lstrip(" "))
        elif m:
            col = m.start(2)
        else:                                        # a long left column alone on its line
            assert re.match(r"^  \S", line), f"not a row: {line!r}"
            continue
        if cols[section] is None:
            cols[section] = col
        assert col == cols[section], f"{section}: {line!r} starts at {col}, not {cols[section]}"
    return cols


def test_top_level_help(empty):
    for args in (["--help"], ["help"], ["-h"]):
        p = tresor(empty, *args)
        assert p.returncode == 0 and p.stderr == ""
        assert p.stdout.startswith("usage: tresor <command> [options]\n")
        listed = re.findall(r"^  (\S+(?: [a-z]+)?)  ", p.stdout, re.M)
        assert listed == SUBCOMMANDS, listed
        assert "who can" in p.stdout.split("who-can-decrypt", 1)[1].split("\n")[0]
        assert aligned_sections(p.stdout)["commands"] > 0
        assert max(len(line) for line in p.stdout.splitlines()) <= 79


@pytest.mark.parametrize("args, error", [
    ([], "tresor: missing command"),
    (["bogus"], "tresor: unknown command 'bogus'"),
    (["who-cannot-decrypt"], "tresor: unknown command 'who-cannot-decrypt'"),
    (["foo-can-decrypt"], "tresor: unknown command 'foo-can-decrypt'"),
    (["--bogus"], "tresor: unknown command '--bogus'"),
])
def test_no_or_unknown_command(empty, args, error):
    p = tresor(empty, *args)
    assert p.returncode == 2
    assert p.stdout == ""
    lines = p.stderr.splitlines()
    assert lines[0] == error
    assert lines[1] == "usage: tresor <command> [options]"
    assert re.findall(r"^  (\S+(?: [a-z]+)?)  ", p.stderr, re.M) == SUBCOMMANDS


@pytest.mark.parametrize("cmd", list(FLAGS))
def test_subcommand_help(empty, cmd):
    p = tresor(empty, *cmd.split(), "--help")
    assert p.returncode == 0 and p.stderr == "", p.stderr
    text = p.stdout
    assert text.startswith(f"usage: tresor {cmd} ")
    assert max(len(line) for line in text.splitlines()) <= 79, text
    cols = aligned_sections(text)
    assert cols.get("options") or cols.get("arguments and options"), text
    rows = {}
    for flag, env, dflt in FLAGS[cmd]:
        # The flag's row, with its continuation lines.
        m = re.search(rf"^  {re.escape(flag)}\b.*(?:\n {{4,}}\S.*)*", text, re.M)
        assert m, f"{flag} not in tresor {cmd} --help:\n{text}"
        row = " ".join(m.group(0).split())
        rows[flag] = row
        if env:
            assert env in row, row
        if dflt:
            assert f"default {dflt}" in row, row
    listed = re.findall(r"^  (--[a-z0-9-]+)", text, re.M)
    assert sorted(listed) == sorted(f for f, _, _ in FLAGS[cmd]), \
        f"tresor {cmd} --help lists {listed}"
    assert re.search(r"^  -h, --help +this text$", text, re.M)


@pytest.mark.parametrize("cmd", list(FLAGS))
def test_every_listed_flag_is_accepted(empty, cmd):
    """Each flag --help lists parses (the run then stops at --help)."""
    switches = ("--dev", "--enforce-iam", "--all", "--diff")
    values = {"--threads": "2", "--store-connections": "2", "--context": "k=v", "--encryption-context": "k=v", "--session-tag": "k=v"}
    for flag, _, _ in FLAGS[cmd]:
        value = [] if flag in switches else [values.get(flag, "x")]
        p = tresor(empty, *cmd.split(), flag, *value, "--help")
        assert p.returncode == 0, f"{flag}: {p.stderr}"
        assert "unknown option" not in p.stderr


def test_serve_names_the_four_services(empty):
    text = tresor(empty, "serve", "--help").stdout
    assert "AWS KMS, Secrets Manager, IAM and STS" in " ".join(text.split())


def test_banners_name_the_four_services(tmp_path):
    for args in (["--dev"], ["--data-dir", str(tmp_path / "data")]):
        port = free_port()
        argv, log = tresor_cmd(["serve", "--listen", f"127.0.0.1:{port}", *args], tmp_path)
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                cwd=str(tmp_path))
        try:
            out = ""
            while "127.0.0.1" not in out:
                line = proc.stdout.readline().decode()
                assert line, "no banner"
                out += line
            assert "AWS KMS, Secrets Manager, IAM and STS on http://127.0.0.1:" in out, out
        finally:
            proc.terminate()
            assert proc.wait(timeout=scaled(15)) == 0
        assert_wrapper_clean(log, "tresor serve " + " ".join(args))


# (arguments, environment, the error line after "tresor ")
ERRORS = [
    (["who-can-decrypt", "--format", "yaml", "db"], None,
     "who-can-decrypt: --format must be text, json, dot or html, not 'yaml'"),
    (["who-can-decrypt"], None, "who-can-decrypt: missing SECRET (a secret name or ARN), or --all"),
    (["who-can-decrypt", "a", "b"], None, "who-can-decrypt: unexpected argument 'b'"),
    (["who-can-decrypt", "--all", "db"], None, "who-can-decrypt: --all takes no SECRET, not 'db'"),
    (["who-can-decrypt", "db", "--diff"], None, "who-can-decrypt: --diff needs --with-key"),
    (["who-can-decrypt", "--all", "--explain", "p"], None,
     "who-can-decrypt: --explain needs one SECRET, not --all"),
    (["who-can-decrypt", "db", "--format", "dot", "--explain", "p"], None,
     "who-can-decrypt: --format dot draws one SECRET, not with --explain"),
    (["who-can-decrypt", "db", "--with-key", "k", "--diff", "--explain", "p"], None,
     "who-can-decrypt: --diff does not combine with --explain"),
    (["who-can-decrypt", "db", "--bogus"], None, "who-can-decrypt: unknown option '--bogus'"),
    (["who-can-decrypt", "db", "--format"], None, "who-can-decrypt: --format needs a value (FORMAT)"),
    (["who-can-decrypt", "db", "--all=1"], None, "who-can-decrypt: --all takes no value"),
    (["what-can-decrypt", "p", "--format", "dot"], None,
     "what-can-decrypt: --format must be text, json or html, not 'dot'"),
    (["who-can-decrypt", "db", "--format", "html", "--explain", "p"], None,
     "who-can-decrypt: --format html shows the readers; not with --explain"),
    (["who-can-decrypt", "db", "--format", "html", "--with-key", "k", "--diff"], None,
     "who-can-decrypt: --format html shows the readers; not with --diff"),
    (["what-can-decrypt", "p", "--explain", "q"], None, "what-can-decrypt: unknown option '--explain'"),
    (["what-can-decrypt"], None, "what-can-decrypt: missing PRINCIPAL (a user, role or root ARN)"),
    (["policy", "simulate", "--action", "kms:Decrypt"], None, "policy simulate: --principal or --access-key-id is required"),
    (["policy", "simulate", "--principal", "p"], None, "policy simulate: --action is required"),
    (["policy", "simulate", "--principal", "p", "--action", "a", "--format", "yaml"], None,
     "policy simulate: --format must be text or json, not 'yaml'"),
    (["policy", "simulate", "--principal", "p", "--action", "a", "--context", "novalue"], None,
     "policy simulate: --context must be KEY=VALUE, not 'novalue'"),
    (["policy", "simulate", "-x"], None, "policy simulate: unknown option '-x'"),
    (["policy"], None, "policy: missing command 'simulate'"),
    (["policy", "evaluate"], None, "policy: unknown command 'evaluate'"),
    (["account"], None, "account: missing command 'create'"),
    (["account", "delete"], None, "account: unknown command 'delete'"),
    (["account", "create", "--account-id", "12"], None,
     "account create: --account-id must be 12 digits, not '12'"),
    (["account", "create", "--region", "moon"], None,
     "account create: --region must be a region name such as us-east-1, not 'moon'"),
    (["account", "create", "extra"], None, "account create: unexpected argument 'extra'"),
    (["check", "extra"], None, "check: unexpected argument 'extra'"),
    (["seal", "extra"], None, "seal: unexpected argument 'extra'"),
    (["unseal", "--passphrase-file", "f", "extra"], None, "unseal: unexpected argument 'extra'"),
    (["unseal", "--passphrase-file"], None, "unseal: --passphrase-file needs a value (FILE)"),
    (["audit", "verify", "log"], None, "audit verify: --public-key is required"),
    (["check", "--data-dir"], None, "check: --data-dir needs a value (DIR)"),
    (["backup"], None, "backup: --out FILE is required"),
    (["backup", "--out", "f", "extra"], None, "backup: unexpected argument 'extra'"),
    (["restore", "--data-dir", "new", "--root-key", "k"], None, "restore: the backup FILE is required"),
    (["restore", "f", "--root-key", "k"], None, "restore: --data-dir NEWDIR is required"),
    (["restore", "f", "--data-dir", "new"], None,
     "restore: --root-key KEYFILE is required: the backup holds no root key, and nothing in it "
     "can be decrypted without one"),
    (["restore", "f", "g", "--data-dir", "new", "--root-key", "k"], None, "restore: unexpected argument 'g'"),
    (["serve", "--threads", "0"], None, "serve: --threads must be a number from 1 to 256, not '0'"),
    (["serve", "--threads", "4x"], None, "serve: --threads must be a number from 1 to 256, not '4x'"),
    (["serve"], {"TRESOR_THREADS": "many"},
     "serve: TRESOR_THREADS must be a number from 1 to 256, not 'many'"),
    (["serve", "--region", "moon"], None,
     "serve: --region must be a region name such as us-east-1, not 'moon'"),
    (["serve"], {"TRESOR_REGION": "moon"},
     "serve: TRESOR_REGION must be a region name such as us-east-1, not 'moon'"),
    (["serve", "--account-id", "1234"], None, "serve: --account-id must be 12 digits, not '1234'"),
    (["serve", "--dev=yes"], None, "serve: --dev takes no value"),
    (["serve", "--seed", "seed.json"], None, "serve: --seed needs --dev"),
    (["serve", "--enforce-iam"], None, "serve: --enforce-iam needs --dev"),
    (["serve", "--d"], None, "serve: ambiguous option '--d' (--data-dir, --dev)"),
    (["serve", "--listen"], None, "serve: --listen needs a value (ADDR:PORT)"),
    (["serve", "--bogus"], None, "serve: unknown option '--bogus'"),
    (["serve", "--rotation-timeout", "0"], None,
     "serve: --rotation-timeout must be whole seconds, 1..900, not '0'"),
    (["serve"], {"TRESOR_ROTATION_TIMEOUT": "901"},
     "serve: TRESOR_ROTATION_TIMEOUT must be whole seconds, 1..900, not '901'"),
    (["serve", "--rotation-hooks", "/nonexistent/hooks"], None,
     "serve: --rotation-hooks must be a directory, not '/nonexistent/hooks'"),
    (["serve", "now"], None, "serve: unexpected argument 'now'"),
]


@pytest.mark.parametrize("args, env, error", ERRORS, ids=[
    " ".join([*(f"{k}={v}" for k, v in (e or {}).items()), *a]) for a, e, _ in ERRORS])
def test_usage_error(empty, args, env, error):
    p = tresor(empty, *args, env=env)
    assert p.returncode == 2, p.stderr
    assert p.stdout == ""
    lines = p.stderr.splitlines()
    assert lines[0] == f"tresor {error}", p.stderr
    cmd = error.split(":", 1)[0]
    if cmd in ("policy", "account"):            # the group's one command
        cmd += " simulate" if cmd == "policy" else " create"
    assert lines[1].startswith(f"usage: tresor {cmd} "), p.stderr
    assert list(empty.iterdir()) == [], "a usage error wrote files"


# ---- the README's flags ----------------------------------------------------------

def readme_flags():
    """{command: {flags}} from the README's synopsis blocks, and serve's
    flags and variables from its table (the README's one table of flags)."""
    commands = sorted((c for c in SUBCOMMANDS if c not in ("version", "help")), key=len, reverse=True)
    found = {}
    for b in readme.blocks():
        if b.verb != "synopsis":
            continue
        current = None
        for line in re.sub(r"\\\n", " ", b.text).splitlines():
            line = line.split("#", 1)[0]
            if line.startswith("tresor "):
                current = next((c for c in commands if line.startswith(f"tresor {c}")), None)
                assert current, f"{b.where()}: no such command: {line}"
            elif not line.strip():
                continue
            else:
                assert line.startswith(" ") and current, f"{b.where()}: {line!r}"
            found.setdefault(current, set()).update(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", line))
    text = readme.README.read_text()
    for row in re.findall(r"^\|(.*)\|$", text, re.M):
        cells = [c.strip() for c in row.split("|")]
        flags = re.findall(r"`(--[a-z0-9-]+)", cells[0])
        envs = re.findall(r"`(TRESOR_[A-Z_]+)", cells[1] if len(cells) > 1 else "")
        found.setdefault("serve", set()).update(flags)
        found.setdefault("serve-env", set()).update(envs)
    return found


def test_readme_flags_are_in_the_help(empty):
    found = readme_flags()
    assert {"serve", "who-can-decrypt", "what-can-decrypt", "policy simulate", "account create",
            "check"} <= set(found), found.keys()
    for cmd, flags in found.items():
        if cmd == "serve-env":
            continue
        text = tresor(empty, *cmd.split(), "--help").stdout
        for flag in flags:
            assert re.search(rf"^  {re.escape(flag)}\b", text, re.M), \
                f"the README documents {flag} for tresor {cmd}; its --help does not list it"
    serve = tresor(empty, "serve", "--help").stdout
    assert len(found["serve-env"]) >= 8
    for env in found["serve-env"]:
        assert env in serve, f"the README documents {env}; tresor serve --help does not"
