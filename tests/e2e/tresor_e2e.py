"""
tresor_e2e.py -- shared machinery for the end-to-end tests.

TresorServer starts a real `tresor serve` on a free port with its own data
directory, waits for /health, reads the generated shared-credentials file and
offers three ways to talk to it:

  srv.kms()            a boto3 KMS client (credentials from DATA_DIR/credentials,
                       retries off, client-side parameter validation off so the
                       server's own validation is what we test)
  srv.aws(...)         the AWS CLI v2 (/usr/bin/aws), returns (rc, json, stderr)
  srv.raw(...)         one hand-made HTTP request, SigV4-signed with botocore's
                       signer at a chosen time, with every header and the body
                       open to tampering; returns a RawResponse
  srv.call(op, **p)    an awsJson1_1 KMS call by operation name through raw(),
                       raising botocore's ClientError like boto3 does (for the
                       operations boto3 1.26's model lacks: ListKeyRotations,
                       RotateKeyOnDemand, EnableKeyRotation's
                       RotationPeriodInDays, GetKeyRotationStatus' newer members)

and, for IAM, STS and authorization (the query-protocol services share the
endpoint; the service comes from the SigV4 scope):

  srv.root_user        a Caller for account A's root user (profile `tresor`)
  srv.client(svc, ..)  a boto3 client for any service and any credentials
  srv.iam(), srv.sts() boto3 IAM / STS clients as account A's root
  srv.query(...)       one hand-made, signed query-protocol request (IAM/STS)
  srv.cli(svc, ...)    the AWS CLI for any service, any profile or env creds
  srv.run_tresor(...)  another `tresor` subcommand over this data dir
  srv.create_account() `tresor account create`; a Caller for the new root
  srv.sm()             a boto3 Secrets Manager client (root of account A), with
                       the vendored model of tests/e2e/models (AWS_DATA_PATH)

  Caller               one identity's credentials: .kms .iam .sts clients,
                       .session (a boto3 Session), .arn, .account
  make_user(admin,..)  an IAM user with access keys (and policies); a Caller
  make_role(admin,..)  an IAM role (and policies); the Role dict
  assume_role(c, ..)   sts:AssumeRole as c; a Caller for the session
  denied_msg(...)      AWS's AccessDenied wording

Under a wrapper (`make valgrind`): TRESOR_SERVER_WRAPPER is a command
prefix put before every tresor process the tests start -- the server and
the CLI subcommands -- e.g. `valgrind --tool=memcheck ... --log-file={log}`.
"{log}" becomes a log file of that process's own; when the process ends,
that log is read, and errors or leaks reported in it fail the test (and the
session, for processes no test waited for; conftest.py).
TRESOR_TIMEOUT_SCALE multiplies the start-up, stop and subprocess timeouts
(default 10 under a wrapper, 1 without).

TRESOR_E2E_TLS=1 runs every server of the suite over TLS: a throwaway CA
and a server certificate for localhost and 127.0.0.1 (made once per
session with `openssl`, tls_material()), `--tls-cert/--tls-key`,
https:// endpoints, and clients that verify against the CA (boto3
verify=, the AWS CLI through AWS_CA_BUNDLE, http.client with an SSL
context).  Tests that talk raw sockets (the bad-input suites) are about
plain HTTP and are run without it.

TRESOR_E2E_STORE=postgres runs every server of the suite on PostgreSQL:
TRESOR_E2E_PG is the URL of a cluster's maintenance database (make e2e-pg
starts a throwaway one with scripts/pg-test-cluster and sets both).  Each
TresorServer gets a database of its own (CREATE DATABASE at its first
start, dropped when it is closed), named to the server and to every
`tresor` command run over its data dir through TRESOR_STORE.  Dev-mode
servers keep their state in memory or the data dir as always.  Tests that
are about the SQLite file itself skip under it (sqlite_only).

Nothing here starts a process at import time.
"""

import atexit
import base64
import configparser
import contextlib
import datetime
import http.client
import itertools
import json
import mmap
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import time
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

REPO = Path(__file__).resolve().parents[2]

# Service models newer than the ones botocore 1.29 and the Debian AWS CLI
# ship (Secrets Manager's BatchGetSecretValue came later): botocore and the
# CLI look in the directories of AWS_DATA_PATH before their own data.  Set
# here, at import, before any client exists; cli_env() passes it on.
MODELS_DIR = Path(__file__).resolve().parent / "models"


def _data_path_with_models(current):
    parts = [p for p in (current or "").split(os.pathsep) if p and p != str(MODELS_DIR)]
    return os.pathsep.join([str(MODELS_DIR)] + parts)


os.environ["AWS_DATA_PATH"] = _data_path_with_models(os.environ.get("AWS_DATA_PATH"))
REGION = "us-east-1"
ACCOUNT = "111122223333"
AWS_CLI = "/usr/bin/aws"
JSON_CT = "application/x-amz-json-1.1"

KEY_ARN_PREFIX = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/"
ALIAS_ARN_PREFIX = f"arn:aws:kms:{REGION}:{ACCOUNT}:"
ROOT_ARN = f"arn:aws:iam::{ACCOUNT}:root"

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

BAD_SIGNATURE_MSG = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
UNRECOGNIZED_CLIENT_MSG = "The security token included in the request is invalid."
INCORRECT_KEY_MSG = (
    "The key ID in the request does not identify a CMK that can perform this operation."
)
DELETED_KEY_CIPHERTEXT_MSG = (
    "The ciphertext refers to a customer master key that does not exist, "
    "does not exist in this region, or you are not allowed to access."
)
EITHER_BYTES_OR_SPEC_MSG = "Please specify either number of bytes or key spec."

DAY = 86400

# ---- IAM / STS -------------------------------------------------------------

ACCOUNT_B = "444455556666"        # the second account, made by `tresor account create`
ROOT_ARN_B = f"arn:aws:iam::{ACCOUNT_B}:root"
FORM_CT = "application/x-www-form-urlencoded; charset=utf-8"
IAM_VERSION = "2010-05-08"
STS_VERSION = "2011-06-15"
IAM_NS = "https://iam.amazonaws.com/doc/2010-05-08/"
STS_NS = "https://sts.amazonaws.com/doc/2011-06-15/"

# Unique-ID and access-key formats (IAM reference_identifiers): a 4-letter
# prefix, then upper-case letters and digits; 21 characters for unique IDs,
# 20 for access key IDs; secret access keys are 40 characters.
AIDA_RE = re.compile(r"^AIDA[A-Z0-9]{17}$")     # user
AROA_RE = re.compile(r"^AROA[A-Z0-9]{17}$")     # role
AGPA_RE = re.compile(r"^AGPA[A-Z0-9]{17}$")     # group
ANPA_RE = re.compile(r"^ANPA[A-Z0-9]{17}$")     # managed policy
AKIA_RE = re.compile(r"^AKIA[A-Z0-9]{16}$")     # long-term access key
ASIA_RE = re.compile(r"^ASIA[A-Z0-9]{16}$")     # temporary access key

INVALID_TOKEN_MSG = "The security token included in the request is invalid."

# Servers currently running, so a failing test can show their logs.
ACTIVE_SERVERS = []

# ---- PostgreSQL (TRESOR_E2E_STORE=postgres) ---------------------------------

STORE = os.environ.get("TRESOR_E2E_STORE", "sqlite")
PG_ADMIN = os.environ.get("TRESOR_E2E_PG")
_PG_SEQ = itertools.count(1)
# Tests about the SQLite file itself (its WAL, its backup, the data dir's
# tresor.db) do not apply when the store is a PostgreSQL database.
sqlite_only = pytest.mark.skipif(STORE == "postgres",
                                 reason="about the SQLite store file (TRESOR_E2E_STORE=postgres)")


def psql_bin():
    for p in (shutil.which("psql"), "/usr/lib/postgresql/15/bin/psql"):
        if p and os.access(p, os.X_OK):
            return p
    pytest.fail("psql not found (install postgresql)", pytrace=False)


def pg_sql(sql, url=None):
    """Run sql with psql on url (the cluster's maintenance database by
    default); returns its stdout (unaligned, tuples only)."""
    url = url or PG_ADMIN
    assert url, "TRESOR_E2E_PG is not set"
    p = subprocess.run([psql_bin(), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"psql failed ({p.returncode}): {sql}\n{p.stderr}"
    return p.stdout


def pg_database_url(name):
    """The URL of database name in TRESOR_E2E_PG's cluster."""
    base, sep, query = PG_ADMIN.partition("?")
    return base.rsplit("/", 1)[0] + "/" + name + sep + query


def pg_create_database():
    """A new empty database of the cluster: (name, URL)."""
    assert PG_ADMIN, "TRESOR_E2E_STORE=postgres needs TRESOR_E2E_PG (make e2e-pg sets it)"
    name = f"tresor_e2e_{os.getpid()}_{next(_PG_SEQ)}"
    pg_sql(f"CREATE DATABASE {name}")
    return name, pg_database_url(name)


def pg_store_files(db_name):
    """The files of TRESOR_E2E_PG's cluster that hold database db_name on
    disk: its relations (base/OID/) and the write-ahead log (pg_wal/, which
    every database shares), for tests that look for secrets in the clear."""
    data = Path(pg_sql("SHOW data_directory").strip())
    oid = pg_sql(f"SELECT oid FROM pg_database WHERE datname = '{db_name}'").strip()
    assert oid, f"no database {db_name}"
    pg_sql("CHECKPOINT")            # the relations' pages written out, not only the WAL
    files = [p for p in (data / "base" / oid).rglob("*") if p.is_file()]
    files += [p for p in (data / "pg_wal").iterdir() if p.is_file()]
    return files


def pg_drop_database(name):
    pg_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def tresor_bin():
    return Path(os.environ.get("TRESOR_BIN") or (REPO / "build" / "tresor"))


# ---- running tresor, possibly under a wrapper (valgrind) ------------------

WRAPPER = shlex.split(os.environ.get("TRESOR_SERVER_WRAPPER", ""))
TIMEOUT_SCALE = float(os.environ.get("TRESOR_TIMEOUT_SCALE") or (10 if WRAPPER else 1))
WRAPPER_LOGS = []          # every wrapper log of the session (conftest checks them at the end)
_wrapper_seq = itertools.count(1)


def scaled(seconds):
    """A timeout for work done by a tresor process (longer under a wrapper)."""
    return seconds * TIMEOUT_SCALE


def tresor_cmd(args, log_dir):
    """(argv, wrapper log): `tresor ARGS`, behind TRESOR_SERVER_WRAPPER when it
    is set, with "{log}" replaced by a fresh file in log_dir (None without)."""
    argv = [str(tresor_bin()), *[str(a) for a in args]]
    if not WRAPPER:
        return argv, None
    log = Path(log_dir) / f"wrapper.{os.getpid()}.{next(_wrapper_seq)}.log"
    WRAPPER_LOGS.append(log)
    return [w.replace("{log}", str(log)) for w in WRAPPER] + argv, log


def wrapper_problems(log):
    """The text of a wrapper log that reports errors (valgrind's final
    "ERROR SUMMARY: N errors" with N > 0; leaks of the kinds the wrapper
    counts as errors are included there), or None.  A log that is missing
    is a problem too: nothing vouches for that process."""
    if log is None:
        return None
    if not Path(log).exists():
        return f"(the wrapper log {log} is missing)"
    text = Path(log).read_text(errors="replace")
    counts = re.findall(r"ERROR SUMMARY: (\d+) errors", text)
    if counts and int(counts[-1]) > 0:
        return text
    return None


def assert_wrapper_clean(log, what):
    text = wrapper_problems(log)
    if text is not None:
        raise AssertionError(f"{what}: {log} reports errors or leaks:\n{text[-8000:]}")


def run_tresor_cmd(args, log_dir, timeout=30, **kwargs):
    """subprocess.run of `tresor ARGS` (wrapped when asked); the wrapper's log
    must be clean.  Returns the CompletedProcess."""
    argv, log = tresor_cmd(args, log_dir)
    p = subprocess.run(argv, timeout=scaled(timeout), **kwargs)
    assert_wrapper_clean(log, f"tresor {' '.join(str(a) for a in args)}")
    return p


# ---- TLS (TRESOR_E2E_TLS=1) --------------------------------------------------

TLS = os.environ.get("TRESOR_E2E_TLS") == "1"
_TLS_DIR = None


def make_cert(d, name, ca=None, *, days=2, sans="DNS:localhost,IP:127.0.0.1,IP:::1", dates=None, cn=None):
    """An ECDSA P-256 certificate NAME.pem and key NAME.key (mode 0600) in d,
    with `openssl`: a self-signed CA when ca is None, else signed by ca (the
    base name of a CA made here) for sans.  dates: (start, end) as openssl's
    YYMMDDHHMMSSZ, for a certificate valid only in the past (expired).
    Returns (cert path, key path)."""
    d = Path(d)
    d.mkdir(parents=True, exist_ok=True)
    cert, key = d / f"{name}.pem", d / f"{name}.key"
    subj = f"/CN={cn or ('tresor test ' + name if ca is None else 'localhost')}"

    def run(*a):
        subprocess.run(["openssl", *a], check=True, capture_output=True)

    if ca is None:
        run("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", str(days), "-subj", subj, "-keyout", str(key), "-out", str(cert),
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign")
    else:
        csr = d / f"{name}.csr"
        run("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", subj,
            "-keyout", str(key), "-out", str(csr))
        ext = d / f"{name}.ext"
        ext.write_text(f"subjectAltName={sans}\nextendedKeyUsage=serverAuth\n")
        if dates is None:
            run("x509", "-req", "-in", str(csr), "-CA", str(d / f"{ca}.pem"), "-CAkey", str(d / f"{ca}.key"),
                "-CAcreateserial", "-extfile", str(ext), "-days", str(days), "-out", str(cert))
        else:
            _sign_dated(d, name, ca, csr, ext, *dates)
    os.chmod(key, 0o600)
    return cert, key


def _sign_dated(d, name, ca, csr, ext, start, end):
    """Sign csr with `openssl ca` between two fixed dates (YYMMDDHHMMSSZ):
    how an expired certificate is made."""
    db = d / f"{name}.db"
    db.mkdir(exist_ok=True)
    (db / "index.txt").write_text("")
    (db / "serial").write_text("1000\n")
    conf = d / f"{name}.cnf"
    conf.write_text(f"""[ca]
default_ca = c
[c]
dir = {db}
database = {db}/index.txt
serial = {db}/serial
new_certs_dir = {db}
default_md = sha256
policy = p
unique_subject = no
copy_extensions = none
[p]
commonName = supplied
""")
    subprocess.run(["openssl", "ca", "-batch", "-config", str(conf), "-cert", str(d / f"{ca}.pem"),
                    "-keyfile", str(d / f"{ca}.key"), "-in", str(csr), "-out", str(d / f"{name}.pem"),
                    "-startdate", start, "-enddate", end, "-extfile", str(ext), "-notext"],
                   check=True, capture_output=True)


def tls_material():
    """(ca.pem, server.pem, server.key) shared by every TLS server of the
    session, made on first use in a temp dir."""
    global _TLS_DIR
    if _TLS_DIR is None:
        _TLS_DIR = Path(tempfile.mkdtemp(prefix="tresor-e2e-tls."))
        atexit.register(shutil.rmtree, _TLS_DIR, True)
        make_cert(_TLS_DIR, "ca")
        make_cert(_TLS_DIR, "server", "ca")
    return _TLS_DIR / "ca.pem", _TLS_DIR / "server.pem", _TLS_DIR / "server.key"


class PortTaken(AssertionError):
    """tresor serve could not listen on the port free_port() gave."""


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def key_arn(key_id):
    return KEY_ARN_PREFIX + key_id


def alias_arn(alias_name):
    return ALIAS_ARN_PREFIX + alias_name


def not_found_key_msg(key_id):
    return f"Key '{key_arn(key_id)}' does not exist"


def alias_not_found_msg(alias_name):
    return f"Alias {alias_arn(alias_name)} is not found."


def disabled_msg(key_id):
    return f"{key_arn(key_id)} is disabled."


def pending_deletion_msg(key_id):
    return f"{key_arn(key_id)} is pending deletion."


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


def sanitize_error_code(code):
    """What botocore does with __type: keep the part after '#', before ':'."""
    if code is None:
        return None
    if "#" in code:
        code = code.rsplit("#", 1)[1]
    if ":" in code:
        code = code.split(":", 1)[0]
    return code


def assert_no_nulls(obj, path="$"):
    """AWS omits absent members; a JSON null is a shape deviation."""
    if obj is None:
        raise AssertionError(f"JSON null at {path}")
    if isinstance(obj, dict):
        for k, v in obj.items():
            assert_no_nulls(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            assert_no_nulls(v, f"{path}[{i}]")


@contextlib.contextmanager
def raises_aws(code, message=None, *, startswith=None, contains=None, status=400):
    """Expect a botocore ClientError with this code (or one of a tuple of
    codes), and optionally an exact message, a prefix or a substring."""
    with pytest.raises(ClientError) as ei:
        yield ei
    resp = ei.value.response
    err = resp.get("Error", {})
    codes = code if isinstance(code, tuple) else (code,)
    assert err.get("Code") in codes, f"expected {codes}, got {err!r}"
    msg = err.get("Message")
    if message is not None:
        assert msg == message, f"message: expected {message!r}, got {msg!r}"
    if startswith is not None:
        assert msg is not None and msg.startswith(startswith), (
            f"message {msg!r} does not start with {startswith!r}")
    if contains is not None:
        assert msg is not None and contains in msg, f"message {msg!r} lacks {contains!r}"
    if status is not None:
        got = resp.get("ResponseMetadata", {}).get("HTTPStatusCode")
        assert got == status, f"HTTP status: expected {status}, got {got}"


def eventually(fn, timeout=6.0, interval=0.1):
    """Retry fn until it stops raising AssertionError/ClientError (for work the
    server does in the background right after start-up)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn()
        except (AssertionError, ClientError):
            if time.monotonic() >= deadline:
                raise
            time.sleep(interval)


class _FixedTimeSigV4(SigV4Auth):
    """botocore's SigV4 signer, signing at a chosen instant."""

    def __init__(self, credentials, service_name, region_name, when):
        super().__init__(credentials, service_name, region_name)
        self._when = when

    def add_auth(self, request):
        request.context["timestamp"] = self._when.strftime(SIGV4_TIMESTAMP)
        self._modify_request_before_signing(request)
        canonical_request = self.canonical_request(request)
        string_to_sign = self.string_to_sign(request, canonical_request)
        signature = self.signature(string_to_sign, request)
        self._inject_signature_to_request(request, signature)


class RawResponse:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    @property
    def request_id(self):
        return self.headers.get("x-amzn-requestid")

    @property
    def error_code(self):
        if isinstance(self.json, dict) and "__type" in self.json:
            return sanitize_error_code(self.json["__type"])
        return sanitize_error_code(self.headers.get("x-amzn-errortype"))

    @property
    def error_message(self):
        if not isinstance(self.json, dict):
            return None
        return self.json.get("message", self.json.get("Message"))

    @property
    def xml(self):
        """The body parsed as XML (query protocol), or None."""
        try:
            return ET.fromstring(self.body)
        except ET.ParseError:
            return None

    def xml_text(self, path):
        """Text of the first element at `path` (slash-separated local names,
        namespaces ignored, from the root's children), or None."""
        node = self.xml
        if node is None:
            return None
        for part in path.split("/"):
            node = next((c for c in node if c.tag.rsplit("}", 1)[-1] == part), None)
            if node is None:
                return None
        return node.text

    def __repr__(self):
        return f"RawResponse({self.status}, {self.headers!r}, {self.body[:500]!r})"


class TresorServer:
    """One `tresor serve` process over one data directory."""

    def __init__(self, name, root):
        self.name = name
        self.root = Path(root)
        self.data_dir = self.root / "data"
        self.log_dir = self.root / "logs"
        self.home = self.root / "home"
        for d in (self.log_dir, self.home):
            d.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self.proc = None
        self.port = None
        self.starts = 0
        self.stdout_path = None
        self.stderr_path = None
        self.access_key = None
        self.secret_key = None
        self.last_rc = None
        self.wrapper_log = None
        self.tls = TLS              # serve over TLS (TRESOR_E2E_TLS=1, or set before start)
        self.tls_files = None       # (ca, cert, key) instead of tls_material()'s, set before start
        self.ca = None              # the CA clients verify against, when TLS
        self.pg_db = None           # TRESOR_E2E_STORE=postgres: (name, URL) of its database
        self.pg_db_shared = False   # another node's database (new_node): not dropped at close

    # ---- process control -------------------------------------------------

    @property
    def endpoint(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}"

    @property
    def verify(self):
        """boto3's verify=: the CA's path over TLS (None: the default)."""
        return str(self.ca) if self.tls else None

    def http_connection(self, timeout=30, verify=True):
        """An http.client connection to the server: HTTPS verifying the CA
        when it serves TLS (verify=False: no check, for the liveness probe
        of servers whose certificate is bad on purpose)."""
        if self.tls:
            ctx = ssl.create_default_context(cafile=str(self.ca))
            if not verify:
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
            return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=ctx)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def _base_env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("TRESOR_") and not k.startswith("AWS_")}
        if self.pg_db:
            env["TRESOR_STORE"] = self.pg_db[1]
        return env

    def ensure_pg_db(self):
        """TRESOR_E2E_STORE=postgres: make this server's database, once (a
        start that bypasses start() calls it before _base_env)."""
        if STORE == "postgres" and self.pg_db is None:
            self.pg_db = pg_create_database()

    def new_node(self, name, root):
        """Another node on this server's PostgreSQL database, not started:
        a data dir of its own with a copy of this one's root key (every
        node unseals the store with the same root key), and its
        credentials file written by `tresor account credentials` from the
        store.  The database stays this server's, dropped when it
        closes."""
        assert self.pg_db, "new_node needs TRESOR_E2E_STORE=postgres"
        other = TresorServer(name, root)
        other.pg_db = self.pg_db
        other.pg_db_shared = True
        shutil.copy2(self.data_dir / "root.key", other.data_dir / "root.key")
        p = other.run_tresor("account", "credentials", "--data-dir", other.data_dir,
                             "--out", other.data_dir / "credentials")
        assert p.returncode == 0, p.stderr
        return other

    @property
    def store_url(self):
        """The URL of this server's PostgreSQL database, or None (SQLite)."""
        return self.pg_db[1] if self.pg_db else None

    def start(self, env_extra=None, use_env_config=False, timeout=20.0, host="127.0.0.1", args=(),
              sealed=False):
        """Start the server on a free port of host (the listening address;
        clients still connect to 127.0.0.1); args: more flags.  With
        --tls-generate among them, the server makes its own certificate and
        clients verify against DATA_DIR/tls/ca.pem.  sealed: the server is
        expected to come up sealed (/health 503 {"sealed": true})."""
        binary = tresor_bin()
        if not binary.is_file() or not os.access(binary, os.X_OK):
            pytest.fail(f"tresor binary not found or not executable: {binary} "
                        "(build it with `make`, or set TRESOR_BIN)", pytrace=False)
        assert self.proc is None, "server already running"
        for attempt in range(3):
            try:
                return self._start_once(env_extra, use_env_config, timeout, host, args, sealed)
            except PortTaken:
                # The free port was taken before tresor bound it (another
                # server or a client's connection, more likely with
                # parallel workers): a new port, nothing touched yet.
                if attempt == 2:
                    raise

    def _start_once(self, env_extra, use_env_config, timeout, host, args, sealed):
        self.port = free_port()
        self.starts += 1
        self.stdout_path = self.log_dir / f"stdout.{self.starts}.log"
        self.stderr_path = self.log_dir / f"stderr.{self.starts}.log"
        dev = "--dev" in [str(a) for a in args] or (env_extra or {}).get("TRESOR_DEV") == "1"
        if not dev:
            self.ensure_pg_db()
        env = self._base_env()
        if dev:
            env.pop("TRESOR_STORE", None)
        cmd = ["serve"]
        if use_env_config:
            env.update({
                "TRESOR_LISTEN": f"{host}:{self.port}",
                "TRESOR_DATA_DIR": str(self.data_dir),
                "TRESOR_REGION": REGION,
                "TRESOR_ACCOUNT_ID": ACCOUNT,
            })
        else:
            cmd += ["--listen", f"{host}:{self.port}", "--data-dir", str(self.data_dir),
                    "--region", REGION, "--account-id", ACCOUNT]
        cmd += [str(a) for a in args]
        if self.tls and "--tls-generate" in args:
            self.ca = self.data_dir / "tls" / "ca.pem"
        elif self.tls:
            ca, cert, key = self.tls_files or tls_material()
            self.ca = ca
            if use_env_config:
                env.update({"TRESOR_TLS_CERT": str(cert), "TRESOR_TLS_KEY": str(key)})
            else:
                cmd += ["--tls-cert", str(cert), "--tls-key", str(key)]
        env.update(env_extra or {})
        self._spawn(cmd, env)
        self._wait_healthy(timeout, sealed=sealed)
        self._load_credentials()
        return self

    def _spawn(self, args, env):
        """Popen `tresor ARGS` (behind the wrapper, if any), output to this
        start's log files."""
        argv, self.wrapper_log = tresor_cmd(args, self.log_dir)
        with open(self.stdout_path, "wb") as out, open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=err, env=env, cwd=str(self.root))
        if self not in ACTIVE_SERVERS:
            ACTIVE_SERVERS.append(self)

    def _wait_healthy(self, timeout, sealed=False):
        timeout = scaled(timeout)
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                rc = self.proc.returncode
                self.proc = None
                assert_wrapper_clean(self.wrapper_log, f"tresor[{self.name}]")
                err = self.stderr_path.read_text(errors="replace")
                if rc == 1 and re.search(r"cannot listen on \S+: Address already in use", err):
                    raise PortTaken(f"tresor[{self.name}]: port {self.port} taken\n{self.log_tail()}")
                raise AssertionError(
                    f"tresor exited with {rc} during start-up\n{self.log_tail()}")
            try:
                conn = self.http_connection(timeout=2, verify=False)
                conn.request("GET", "/health")
                resp = conn.getresponse()
                body = resp.read()
                conn.close()
                if resp.status == (503 if sealed else 200):
                    if sealed:
                        assert json.loads(body) == {"sealed": True}, body
                    return
                last = f"HTTP {resp.status}"
            except OSError as e:
                last = repr(e)
            time.sleep(0.05)
        self.kill()
        raise AssertionError(f"tresor not healthy after {timeout}s ({last})\n{self.log_tail()}")

    def _load_credentials(self):
        cp = configparser.ConfigParser()
        path = self.data_dir / "credentials"
        assert cp.read(path), f"{path} missing or unreadable"
        assert cp.has_section("tresor"), f"{path} has no [tresor] profile"
        self.access_key = cp.get("tresor", "aws_access_key_id").strip()
        self.secret_key = cp.get("tresor", "aws_secret_access_key").strip()

    def stop(self, sig=signal.SIGTERM, timeout=15.0):
        """Signal the server and return its exit code (None if not running).
        Under a wrapper, errors or leaks in its log fail here."""
        if self.proc is None:
            return None
        self.proc.send_signal(sig)
        timeout = scaled(timeout)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            self.proc = None
            raise AssertionError(
                f"tresor did not exit within {timeout}s of signal {sig}\n{self.log_tail()}")
        self.proc = None
        self.last_rc = rc
        assert_wrapper_clean(self.wrapper_log, f"tresor[{self.name}] (exit {rc})")
        return rc

    def stop_clean(self, sig=signal.SIGTERM):
        rc = self.stop(sig)
        assert rc == 0, f"tresor exited with {rc} after signal {sig}\n{self.log_tail()}"

    def restart(self, env_extra=None):
        """Stop (expecting exit 0) and start again over the same data dir.
        The port changes: make new clients after a restart."""
        self.stop_clean()
        return self.start(env_extra)

    def kill(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def close(self):
        """Teardown: SIGTERM, exit code must be 0."""
        try:
            if self.proc is not None:
                self.stop_clean()
        finally:
            if self in ACTIVE_SERVERS:
                ACTIVE_SERVERS.remove(self)
            if self.pg_db and not self.pg_db_shared:
                pg_drop_database(self.pg_db[0])
            self.pg_db = None

    # ---- logs ------------------------------------------------------------

    def stderr_text(self):
        return self._read_all("stderr")

    def stdout_text(self):
        return self._read_all("stdout")

    def _read_all(self, which):
        parts = []
        for n in range(1, self.starts + 1):
            p = self.log_dir / f"{which}.{n}.log"
            if p.exists():
                parts.append(p.read_bytes())
        return b"".join(parts)

    def log_tail(self, lines=60):
        out = []
        for which in ("stdout", "stderr"):
            p = getattr(self, f"{which}_path")
            if p and p.exists():
                text = p.read_bytes().decode("utf-8", "replace").splitlines()
                out.append(f"--- tresor[{self.name}] {which} (last {lines} lines) ---")
                out.extend(text[-lines:])
        return "\n".join(out)

    # ---- clients ---------------------------------------------------------

    def kms(self, validate=False, access_key=None, secret_key=None):
        cfg = Config(retries={"total_max_attempts": 1, "mode": "standard"},
                     parameter_validation=validate, connect_timeout=5, read_timeout=30)
        session = boto3.session.Session()
        return session.client(
            "kms", region_name=REGION, endpoint_url=self.endpoint, config=cfg, verify=self.verify,
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key)

    def cli_env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and not k.startswith("TRESOR_")}
        env.update({
            "HOME": str(self.home),
            "AWS_SHARED_CREDENTIALS_FILE": str(self.data_dir / "credentials"),
            "AWS_CONFIG_FILE": str(self.data_dir / "config"),
            "AWS_PAGER": "",
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_CLI_AUTO_PROMPT": "off",
            "AWS_DATA_PATH": str(MODELS_DIR),
        })
        if self.tls:
            env["AWS_CA_BUNDLE"] = str(self.ca)
        return env

    def aws(self, *args, timeout=60):
        """Run `aws --endpoint-url E --profile tresor --output json kms ARGS`.
        Returns (rc, parsed stdout JSON or None, stderr text)."""
        cmd = [AWS_CLI, "--endpoint-url", self.endpoint, "--profile", "tresor",
               "--output", "json", "kms", *[str(a) for a in args]]
        p = subprocess.run(cmd, env=self.cli_env(), capture_output=True, timeout=timeout,
                           cwd=str(self.home))
        out = p.stdout.decode("utf-8", "replace").strip()
        parsed = None
        if out:
            try:
                parsed = json.loads(out)
            except ValueError:
                parsed = None
        return p.returncode, parsed, p.stderr.decode("utf-8", "replace")

    def build_request(self, target="TrentService.ListKeys", body=b"{}", *, sign=True,
                      access_key=None, secret_key=None, service="kms", region=REGION,
                      when=None, headers=None, drop_headers=(), content_sha256=None,
                      send_body=None, authorization=None, method="POST", path="/"):
        """The headers and payload of one request (see raw())."""
        if not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode("utf-8")
        host = f"127.0.0.1:{self.port}"
        hdrs = {"Host": host, "Content-Type": JSON_CT}
        if target is not None:
            hdrs["X-Amz-Target"] = target
        hdrs.update(headers or {})
        if content_sha256 is not None:
            hdrs["X-Amz-Content-SHA256"] = content_sha256
        if sign:
            req = AWSRequest(method=method, url=f"{self.endpoint}{path}", data=body,
                             headers=hdrs)
            creds = Credentials(access_key or self.access_key, secret_key or self.secret_key)
            signer = _FixedTimeSigV4(creds, service, region,
                                     when or datetime.datetime.utcnow())
            signer.add_auth(req)
            final = {k: v for k, v in req.headers.items()}
        else:
            final = dict(hdrs)
        if authorization is not None:
            final["Authorization"] = authorization
        lowered_drop = {h.lower() for h in drop_headers}
        final = {k: v for k, v in final.items() if k.lower() not in lowered_drop}
        payload = body if send_body is None else send_body
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        return final, payload

    def raw(self, target="TrentService.ListKeys", body=b"{}", *, method="POST", path="/",
            timeout=30, **kwargs):
        """Send one HTTP request.  body (bytes, str or a JSON-able object) is
        what gets signed; send_body, if given, is what gets sent instead.
        headers are added before signing (so they are signed); drop_headers
        are removed after signing; authorization replaces the Authorization
        header after signing; when (a naive UTC datetime) is the signing time;
        service/region set the credential scope."""
        final, payload = self.build_request(target, body, method=method, path=path, **kwargs)
        conn = self.http_connection(timeout=timeout)
        try:
            conn.request(method, path, body=payload, headers=final)
            resp = conn.getresponse()
            data = resp.read()
            return RawResponse(resp.status, resp.getheaders(), data)
        finally:
            conn.close()

    def call(self, op, **params):
        """A KMS operation through raw(); blobs must be base64 strings here.
        Returns the parsed JSON on success, raises ClientError otherwise."""
        r = self.raw(f"TrentService.{op}", params)
        if r.status == 200:
            assert r.json is not None or r.body in (b"", b"{}"), r
            return r.json if r.json is not None else {}
        error = {
            "Error": {"Code": r.error_code, "Message": r.error_message or ""},
            "ResponseMetadata": {"HTTPStatusCode": r.status, "HTTPHeaders": r.headers,
                                 "RequestId": r.request_id},
        }
        raise ClientError(error, op)

    # ---- IAM, STS and other identities -------------------------------------

    def client(self, service, access_key=None, secret_key=None, session_token=None,
               validate=False, region=REGION):
        """A boto3 client for `service` on this server (retries off; client-side
        validation off unless asked, so the server's validation is tested)."""
        return _boto3_session().client(
            service, region_name=region, endpoint_url=self.endpoint, verify=self.verify,
            config=client_config(validate),
            aws_access_key_id=access_key or self.access_key,
            aws_secret_access_key=secret_key or self.secret_key,
            aws_session_token=session_token)

    def iam(self, validate=False):
        return self.client("iam", validate=validate)

    def sm(self, validate=False):
        return self.client("secretsmanager", validate=validate)

    def sts(self, validate=False):
        return self.client("sts", validate=validate)

    @property
    def root_user(self):
        """Account A's root user (the `tresor` profile), as a Caller."""
        return Caller(self, self.access_key, self.secret_key, arn=ROOT_ARN,
                      account=ACCOUNT, user_id=ACCOUNT)

    def load_profile(self, profile):
        """(access key, secret key) of `profile` in DATA_DIR/credentials."""
        cp = configparser.ConfigParser()
        path = self.data_dir / "credentials"
        assert cp.read(path), f"{path} missing or unreadable"
        assert cp.has_section(profile), f"{path} has no [{profile}] profile: {cp.sections()}"
        return (cp.get(profile, "aws_access_key_id").strip(),
                cp.get(profile, "aws_secret_access_key").strip())

    def run_tresor(self, *args, timeout=30, env_extra=None):
        """Run `tresor ARGS` (another subcommand, e.g. account create, policy
        simulate); returns the CompletedProcess with text stdout/stderr."""
        env = self._base_env()
        env.update(env_extra or {})
        return run_tresor_cmd(args, self.log_dir, timeout=timeout, env=env,
                              capture_output=True, text=True, cwd=str(self.root))

    def create_account(self, account_id=None):
        """`tresor account create --data-dir DIR [--account-id ID]`: a Caller for
        the new account's root user, read from profile tresor-<ID>."""
        args = ["account", "create", "--data-dir", self.data_dir]
        if account_id is not None:
            args += ["--account-id", account_id]
        p = self.run_tresor(*args)
        assert p.returncode == 0, f"account create failed ({p.returncode}):\n{p.stdout}\n{p.stderr}"
        ids = re.findall(r"\b\d{12}\b", p.stdout)
        assert ids, f"account create printed no account id: {p.stdout!r}"
        acct = ids[-1]
        if account_id is not None:
            assert acct == account_id, p.stdout
        ak, sk = self.load_profile(f"tresor-{acct}")
        return Caller(self, ak, sk, arn=f"arn:aws:iam::{acct}:root", account=acct,
                      user_id=acct)

    def cli(self, service, *args, profile="tresor", creds=None, timeout=60):
        """Run `aws --endpoint-url E [--profile P] --output json SERVICE ARGS`.
        creds: a Caller whose keys (and session token) go in the environment
        instead of a profile.  Returns (rc, parsed stdout JSON or None, stderr)."""
        env = self.cli_env()
        cmd = [AWS_CLI, "--endpoint-url", self.endpoint, "--output", "json"]
        if creds is not None:
            env.update({"AWS_ACCESS_KEY_ID": creds.access_key,
                        "AWS_SECRET_ACCESS_KEY": creds.secret_key,
                        "AWS_DEFAULT_REGION": REGION})
            if creds.session_token:
                env["AWS_SESSION_TOKEN"] = creds.session_token
        elif profile is not None:
            cmd += ["--profile", profile]
        cmd += [service, *[str(a) for a in args]]
        p = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout,
                           cwd=str(self.home))
        out = p.stdout.decode("utf-8", "replace").strip()
        parsed = None
        if out:
            try:
                parsed = json.loads(out)
            except ValueError:
                parsed = None
        return p.returncode, parsed, p.stderr.decode("utf-8", "replace")

    def query(self, service, action, params=None, *, version=None, access_key=None,
              secret_key=None, session_token=None, body=None, **kwargs):
        """One signed query-protocol request (IAM or STS): form body
        Action=...&Version=...&params, SigV4 scope `service`.  Returns a
        RawResponse (.xml parses the body)."""
        if version is None:
            version = IAM_VERSION if service == "iam" else STS_VERSION
        if body is None:
            fields = [("Action", action), ("Version", version)]
            fields += list((params or {}).items())
            body = urllib.parse.urlencode(fields)
        headers = dict(kwargs.pop("headers", None) or {})
        headers["Content-Type"] = FORM_CT
        if session_token is not None:
            headers["X-Amz-Security-Token"] = session_token
        return self.raw(None, body, service=service, access_key=access_key,
                        secret_key=secret_key, headers=headers, **kwargs)

    def get_health(self):
        conn = self.http_connection(timeout=5)
        try:
            conn.request("GET", "/health")
            resp = conn.getresponse()
            return RawResponse(resp.status, resp.getheaders(), resp.read())
        finally:
            conn.close()


# ---- small KMS helpers ----------------------------------------------------

def new_key(kms, **kwargs):
    """CreateKey; returns KeyMetadata."""
    return kms.create_key(**kwargs)["KeyMetadata"]


def b64(data):
    return base64.b64encode(data).decode("ascii")


def unique(prefix):
    return f"{prefix}-{os.urandom(6).hex()}"


# ---- identities: users, roles, sessions, accounts -------------------------

_BOTO3_SESSION = None


def _boto3_session():
    """One boto3 Session over one botocore session, so the service models are
    loaded once; every client gets explicit credentials."""
    global _BOTO3_SESSION
    if _BOTO3_SESSION is None:
        _BOTO3_SESSION = boto3.session.Session(botocore_session=botocore.session.Session())
    return _BOTO3_SESSION


def client_config(validate=False):
    return Config(retries={"total_max_attempts": 1, "mode": "standard"},
                  parameter_validation=validate, connect_timeout=5, read_timeout=30)


class Caller:
    """One identity's credentials on one server.

    .kms .iam .sts   boto3 clients (made once, on first use)
    .client(svc)     any other client
    .session         a boto3 Session holding these credentials
    .arn             the identity's ARN (user, root, or assumed-role session)
    .account         its account id
    .user_id         aws:userid (AIDA..., AROA...:session, or the account id)
    .name            the user name (users) or the session name (sessions)
    .response        the API response that made it (CreateAccessKey, AssumeRole, ...)
    """

    def __init__(self, server, access_key, secret_key, session_token=None, *, arn=None,
                 account=ACCOUNT, user_id=None, name=None, response=None):
        self.server = server
        self.access_key = access_key
        self.secret_key = secret_key
        self.session_token = session_token
        self.arn = arn
        self.account = account
        self.user_id = user_id
        self.name = name
        self.response = response
        self._clients = {}

    def client(self, service, validate=False):
        # Never fall back to the server's root credentials.
        assert self.access_key and self.secret_key, f"{self!r} has no access key"
        return self.server.client(service, self.access_key, self.secret_key,
                                  self.session_token, validate=validate)

    def _cached(self, service):
        if service not in self._clients:
            self._clients[service] = self.client(service)
        return self._clients[service]

    @property
    def kms(self):
        return self._cached("kms")

    @property
    def iam(self):
        return self._cached("iam")

    @property
    def sts(self):
        return self._cached("sts")

    @property
    def session(self):
        return boto3.session.Session(aws_access_key_id=self.access_key,
                                     aws_secret_access_key=self.secret_key,
                                     aws_session_token=self.session_token,
                                     region_name=REGION)

    def with_credentials(self, access_key=None, secret_key=None, session_token=None,
                         drop_token=False):
        """The same identity with some credential parts replaced (tampering tests)."""
        token = None if drop_token else (session_token if session_token is not None
                                         else self.session_token)
        return Caller(self.server, access_key or self.access_key,
                      secret_key or self.secret_key, token, arn=self.arn,
                      account=self.account, user_id=self.user_id, name=self.name)

    def __repr__(self):
        return f"Caller({self.arn!r}, {self.access_key!r})"


# ---- policy documents --------------------------------------------------------

def statement(effect, action=None, resource="*", *, sid=None, condition=None,
              principal=None, not_action=None, not_resource=None):
    st = {}
    if sid is not None:
        st["Sid"] = sid
    st["Effect"] = effect
    if principal is not None:
        st["Principal"] = principal
    if action is not None:
        st["Action"] = action
    if not_action is not None:
        st["NotAction"] = not_action
    if not_resource is not None:
        st["NotResource"] = not_resource
    elif resource is not None:
        st["Resource"] = resource
    if condition is not None:
        st["Condition"] = condition
    return st


def allow(action, resource="*", **kw):
    return statement("Allow", action, resource, **kw)


def deny(action, resource="*", **kw):
    return statement("Deny", action, resource, **kw)


def policy_doc(*statements, version="2012-10-17"):
    """A policy document as the JSON text the APIs take."""
    return json.dumps({"Version": version, "Statement": list(statements)})


def trust_policy(principal, actions="sts:AssumeRole", condition=None, effect="Allow"):
    """A role trust policy.  principal: an ARN or account id (or a list of
    them) for "AWS", or a full Principal object."""
    if not isinstance(principal, dict):
        principal = {"AWS": principal}
    st = {"Effect": effect, "Principal": principal, "Action": actions}
    if condition is not None:
        st["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [st]}


def user_arn(name, path="/", account=ACCOUNT):
    return f"arn:aws:iam::{account}:user{path}{name}"


def role_arn(name, path="/", account=ACCOUNT):
    return f"arn:aws:iam::{account}:role{path}{name}"


def group_arn(name, path="/", account=ACCOUNT):
    return f"arn:aws:iam::{account}:group{path}{name}"


def managed_policy_arn(name, path="/", account=ACCOUNT):
    return f"arn:aws:iam::{account}:policy{path}{name}"


def session_arn(role_name, session, account=ACCOUNT):
    return f"arn:aws:sts::{account}:assumed-role/{role_name}/{session}"


_DENY_REASONS = {
    "identity": "because no identity-based policy allows the {action} action",
    "resource": "because no resource-based policy allows the {action} action",
    "boundary": "because no permissions boundary allows the {action} action",
    "session": "because no session policy allows the {action} action",
    "explicit-identity": "with an explicit deny in an identity-based policy",
    "explicit-resource": "with an explicit deny in a resource-based policy",
    "explicit-boundary": "with an explicit deny in a permissions boundary",
    "explicit-session": "with an explicit deny in a session policy",
}


def denied_msg(principal_arn, action, resource, reason="identity"):
    """AWS's AccessDenied text (IAM troubleshoot_access-denied):
    "User: P is not authorized to perform: A on resource: R <reason>".
    reason None: no trailing clause (what STS says for sts:AssumeRole)."""
    msg = f"User: {principal_arn} is not authorized to perform: {action} on resource: {resource}"
    if reason is not None:
        msg += " " + _DENY_REASONS[reason].format(action=action)
    return msg


# ---- making identities -----------------------------------------------------

def _as_policy_text(policy):
    if policy is None or isinstance(policy, str):
        return policy
    if isinstance(policy, dict) and "Statement" in policy:
        return json.dumps(policy)
    if isinstance(policy, dict):
        return policy_doc(policy)
    return policy_doc(*policy)


def make_user(admin, name=None, *, path=None, policy=None, policy_name="inline",
              managed=(), groups=(), tags=None, boundary=None, keys=True):
    """Create an IAM user as `admin` (a Caller, normally an account root) and
    return a Caller for it.  policy: an inline policy (a statement, a list of
    statements, a document dict or JSON text); managed: policy ARNs to attach;
    groups: group names to join; boundary: a permissions-boundary policy ARN.
    keys=False makes no access key (the Caller then cannot sign)."""
    name = name or unique("user")
    kw = {"UserName": name}
    if path is not None:
        kw["Path"] = path
    if tags:
        kw["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    if boundary is not None:
        kw["PermissionsBoundary"] = boundary
    user = admin.iam.create_user(**kw)["User"]
    text = _as_policy_text(policy)
    if text is not None:
        admin.iam.put_user_policy(UserName=name, PolicyName=policy_name, PolicyDocument=text)
    for arn in managed:
        admin.iam.attach_user_policy(UserName=name, PolicyArn=arn)
    for g in groups:
        admin.iam.add_user_to_group(GroupName=g, UserName=name)
    ak = sk = None
    resp = None
    if keys:
        resp = admin.iam.create_access_key(UserName=name)["AccessKey"]
        ak, sk = resp["AccessKeyId"], resp["SecretAccessKey"]
    c = Caller(admin.server, ak, sk, arn=user["Arn"], account=admin.account,
               user_id=user["UserId"], name=name, response=resp)
    c.user = user
    return c


def make_role(admin, name=None, *, trust, policy=None, policy_name="inline", path=None,
              managed=(), boundary=None, max_session=None, tags=None, description=None):
    """Create an IAM role as `admin`; trust: the trust policy (dict or JSON
    text); policy: an inline permissions policy (as for make_user).  Returns
    the Role dict of CreateRole."""
    name = name or unique("role")
    kw = {"RoleName": name,
          "AssumeRolePolicyDocument": trust if isinstance(trust, str) else json.dumps(trust)}
    if path is not None:
        kw["Path"] = path
    if boundary is not None:
        kw["PermissionsBoundary"] = boundary
    if max_session is not None:
        kw["MaxSessionDuration"] = max_session
    if tags:
        kw["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    if description is not None:
        kw["Description"] = description
    role = admin.iam.create_role(**kw)["Role"]
    text = _as_policy_text(policy)
    if text is not None:
        admin.iam.put_role_policy(RoleName=name, PolicyName=policy_name, PolicyDocument=text)
    for arn in managed:
        admin.iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    return role


def make_managed_policy(admin, *statements, name=None, path=None, document=None):
    """CreatePolicy as `admin`; returns the Policy dict."""
    kw = {"PolicyName": name or unique("pol"),
          "PolicyDocument": document if document is not None else policy_doc(*statements)}
    if path is not None:
        kw["Path"] = path
    return admin.iam.create_policy(**kw)["Policy"]


def assume_role(caller, role_arn_, session_name=None, **kwargs):
    """sts:AssumeRole as `caller`; returns a Caller for the role session."""
    session_name = session_name or unique("s")
    resp = caller.sts.assume_role(RoleArn=role_arn_, RoleSessionName=session_name, **kwargs)
    cr = resp["Credentials"]
    acct = role_arn_.split(":")[4]
    return Caller(caller.server, cr["AccessKeyId"], cr["SecretAccessKey"], cr["SessionToken"],
                  arn=resp["AssumedRoleUser"]["Arn"], account=acct,
                  user_id=resp["AssumedRoleUser"]["AssumedRoleId"], name=session_name,
                  response=resp)


def assert_recent(ts, slack=300):
    """A timestamp from the server is a tz-aware datetime close to now."""
    now = utcnow()
    assert isinstance(ts, datetime.datetime), ts
    assert ts.tzinfo is not None, ts
    assert abs((now - ts).total_seconds()) < slack, f"{ts} is not close to {now}"


def bump_commit_counter(data_dir):
    """Move DATA_DIR/tresor.db-gen, the 8-byte value every tresor process
    that writes the store changes after each commit, after a
    test's own commit with Python's sqlite3, so the server's next request
    looks for it (without the bump it is seen within 100 ms).  Not an
    atomic add: the test is the only other writer while it runs."""
    with open(data_dir / "tresor.db-gen", "r+b") as f, mmap.mmap(f.fileno(), 8) as m:
        m[:8] = struct.pack("=Q", struct.unpack("=Q", m[:8])[0] + 1)
