"""
test_dev.py -- `tresor serve --dev`: the local drop-in for test suites.

Each test starts its own dev server (DevServer: a TresorServer started with
--dev and no data dir, whose "root" credentials are the made-up test/test).
Covered: made-up credentials create keys and secrets; both reset paths wipe
everything; regions stay apart, --regions narrows them; --seed preloads keys (fixed id and material:
a ciphertext from one run decrypts in the next), aliases, policies and
secrets; the README's seed, whose ARNs say ${AccountId}, in the default
account and in 000000000000; a known user without policies is still denied (--enforce-iam and
without it); outside dev mode the same credentials are refused; --dev on a
non-loopback address is refused; TRESOR_DEV=1; nothing is written to disk.
"""

import base64
import datetime
import http.client
import json
import subprocess
import uuid

import pytest
from botocore.exceptions import ClientError

import readme
from tresor_e2e import (Caller, TresorServer, assert_wrapper_clean, free_port, make_user,
                        run_tresor_cmd, scaled, tresor_cmd)

DEV_ACCOUNT = "123456789012"


class DevServer(TresorServer):
    """A dev-mode server: state in memory, any access key accepted."""

    def start(self, args=(), env_extra=None, timeout=20.0):
        assert self.proc is None, "server already running"
        self.port = free_port()
        self.starts += 1
        self.stdout_path = self.log_dir / f"stdout.{self.starts}.log"
        self.stderr_path = self.log_dir / f"stderr.{self.starts}.log"
        env = self._base_env()
        env.update(env_extra or {})
        cmd = ["serve", "--listen", f"127.0.0.1:{self.port}", *args]
        if not (env_extra or {}).get("TRESOR_DEV"):
            cmd.append("--dev")
        self._spawn(cmd, env)
        self._wait_healthy(timeout)
        self.access_key, self.secret_key = "test", "test"
        return self

    def post(self, path):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("POST", path, body=b"")
        resp = conn.getresponse()
        body = resp.read()
        conn.close()
        return resp.status, body


@pytest.fixture
def dev_factory(tmp_path_factory):
    made = []

    def make(*args, env_extra=None, name="dev"):
        srv = DevServer(name, tmp_path_factory.mktemp(f"tresor-{name}"))
        made.append(srv)
        return srv.start(args, env_extra=env_extra)

    yield make
    for srv in made:
        srv.close()


@pytest.fixture
def dev(dev_factory):
    return dev_factory()


def key_ids(kms):
    return sorted(k["KeyId"] for k in kms.list_keys()["Keys"])


def secret_names(sm):
    return sorted(s["Name"] for s in sm.list_secrets()["SecretList"])


# ---- made-up credentials ----------------------------------------------------

def test_made_up_credentials_create_keys_and_secrets(dev):
    kms = dev.client("kms", "test", "test")
    meta = kms.create_key(Description="dev")["KeyMetadata"]
    assert meta["Arn"] == f"arn:aws:kms:us-east-1:{DEV_ACCOUNT}:key/{meta['KeyId']}"
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"hello")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"hello"
    sm = dev.client("secretsmanager", "AKIAANYTHINGATALL123", "whatever")
    sm.create_secret(Name="db/password", SecretString="s3cret")
    assert sm.get_secret_value(SecretId="db/password")["SecretString"] == "s3cret"
    ident = dev.client("sts", "test", "test").get_caller_identity()
    assert ident["Account"] == DEV_ACCOUNT
    assert ident["Arn"] == f"arn:aws:iam::{DEV_ACCOUNT}:root"
    # Every made-up key is the same root user: they see the same state.
    assert meta["KeyId"] in key_ids(dev.client("kms", "other", "key"))


def test_banner_and_nothing_written(dev):
    out = dev.stdout_text().decode()
    assert "DEVELOPMENT SERVER" in out
    assert not (dev.root / "tresor-data").exists()
    assert not any(p.name in ("root.key", "tresor.db") for p in dev.root.rglob("*"))


def test_clock_window_not_enforced(dev):
    """Test suites freeze time: a request signed in 2020 is served."""
    r = dev.raw("TrentService.ListKeys", {}, when=datetime.datetime(2020, 1, 1))
    assert r.status == 200, r.body


def test_account_id_000000000000(dev_factory):
    srv = dev_factory("--account-id", "000000000000")
    kms = srv.client("kms", "test", "test")
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    assert ":000000000000:key/" in arn


def test_tresor_dev_environment(dev_factory):
    srv = dev_factory(env_extra={"TRESOR_DEV": "1"})
    assert key_ids(srv.client("kms", "test", "test")) == []
    assert b"DEVELOPMENT SERVER" in srv.stdout_text()


def test_regions_narrows_dev_mode(dev_factory):
    srv = dev_factory("--regions", "us-east-1,eu-west-1")
    assert srv.client("kms", "test", "test", region="eu-west-1").list_keys()["Keys"] == []
    with pytest.raises(ClientError) as ei:
        srv.client("kms", "test", "test", region="ap-south-1").list_keys()
    assert ei.value.response["Error"] == {
        "Code": "InvalidSignatureException",
        "Message": "Credential should be scoped to a valid region, not 'ap-south-1'. "}
    assert b"regions us-east-1,eu-west-1" in srv.stdout_text()

# ---- reset ------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/moto-api/reset", "/_tresor/reset"])
def test_reset_wipes_everything(dev, path):
    kms = dev.client("kms", "test", "test")
    sm = dev.client("secretsmanager", "test", "test")
    iam = dev.client("iam", "test", "test")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=key)
    sm.create_secret(Name="s", SecretString="v")
    iam.create_user(UserName="alice")
    eu = dev.client("kms", "test", "test", region="eu-west-1")
    eu.create_key()

    status, body = dev.post(path)
    assert status == 200, body
    assert json.loads(body) == {"status": "reset"}

    assert key_ids(kms) == [] and key_ids(eu) == []
    assert kms.list_aliases()["Aliases"] == [] or all(
        a["AliasName"].startswith("alias/aws/") for a in kms.list_aliases()["Aliases"])
    assert secret_names(sm) == []
    assert [u["UserName"] for u in iam.list_users()["Users"]] == []
    # A fresh start works like the first one: the same alias can be made again.
    key2 = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/app", TargetKeyId=key2)
    assert dev.client("sts", "test", "test").get_caller_identity()["Account"] == DEV_ACCOUNT


def test_reset_while_requests_run(dev):
    import threading
    errors = []
    stop = threading.Event()

    def work():
        kms = dev.client("kms", "test", "test")
        while not stop.is_set():
            try:
                k = kms.create_key()["KeyMetadata"]["KeyId"]
                kms.encrypt(KeyId=k, Plaintext=b"x")
            except ClientError as e:  # the key may vanish in a reset: NotFound only
                if e.response["Error"]["Code"] != "NotFoundException":
                    errors.append(e)
            except Exception as e:  # noqa: BLE001
                errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for _ in range(10):
            assert dev.post("/moto-api/reset")[0] == 200
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []


def test_reset_path_needs_dev_mode(tresor):
    conn = http.client.HTTPConnection("127.0.0.1", tresor.port, timeout=10)
    conn.request("POST", "/moto-api/reset", body=b"")
    resp = conn.getresponse()
    resp.read()
    conn.close()
    assert resp.status != 200


# ---- regions ----------------------------------------------------------------

def test_regions_stay_apart(dev):
    east = dev.client("kms", "test", "test", region="us-east-1")
    west = dev.client("kms", "test", "test", region="eu-west-1")
    k_east = east.create_key()["KeyMetadata"]
    k_west = west.create_key()["KeyMetadata"]
    assert k_west["Arn"].startswith(f"arn:aws:kms:eu-west-1:{DEV_ACCOUNT}:key/")
    assert key_ids(east) == [k_east["KeyId"]]
    assert key_ids(west) == [k_west["KeyId"]]
    with pytest.raises(ClientError) as e:
        east.describe_key(KeyId=k_west["KeyId"])
    assert e.value.response["Error"]["Code"] == "NotFoundException"

    sm_east = dev.client("secretsmanager", "test", "test", region="us-east-1")
    sm_west = dev.client("secretsmanager", "test", "test", region="eu-west-1")
    arn = sm_west.create_secret(Name="only-west", SecretString="v")["ARN"]
    assert arn.startswith(f"arn:aws:secretsmanager:eu-west-1:{DEV_ACCOUNT}:secret:only-west-")
    assert secret_names(sm_east) == []
    with pytest.raises(ClientError) as e:
        sm_east.get_secret_value(SecretId="only-west")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    # The same name may exist in both regions.
    sm_east.create_secret(Name="only-west", SecretString="east")
    assert sm_west.get_secret_value(SecretId="only-west")["SecretString"] == "v"


def test_invalid_region_refused(dev):
    bad = dev.client("kms", "test", "test", region="nowhere")
    with pytest.raises(ClientError) as e:
        bad.list_keys()
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"


# ---- seed -------------------------------------------------------------------

KEY_ID = "11111111-2222-3333-4444-555555555555"
MATERIAL = base64.b64encode(bytes(range(32))).decode()


def seed_doc():
    return {
        "keys": [
            {"KeyId": KEY_ID, "Description": "seeded", "Material": MATERIAL,
             "Aliases": ["alias/app", "alias/app-2"]},
            {"KeyId": "66666666-7777-8888-9999-000000000000", "Region": "eu-west-1",
             "Policy": {"Version": "2012-10-17", "Statement": [
                 {"Sid": "root", "Effect": "Allow",
                  "Principal": {"AWS": f"arn:aws:iam::{DEV_ACCOUNT}:root"},
                  "Action": "kms:*", "Resource": "*"}]}},
        ],
        "secrets": [
            {"Name": "db/password", "SecretString": "hunter2", "KmsKeyId": "alias/app"},
            {"Name": "eu/only", "Region": "eu-west-1", "SecretBinary": "AAEC"},
        ],
    }


def test_seed_preloads_and_is_reproducible(dev_factory, tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(seed_doc()))
    one = dev_factory("--seed", str(seed), name="seed1")
    kms = one.client("kms", "test", "test")
    meta = kms.describe_key(KeyId="alias/app")["KeyMetadata"]
    assert meta["KeyId"] == KEY_ID and meta["Description"] == "seeded"
    names = sorted(a["AliasName"] for a in kms.list_aliases(KeyId=KEY_ID)["Aliases"])
    assert names == ["alias/app", "alias/app-2"]
    eu = one.client("kms", "test", "test", region="eu-west-1")
    pol = json.loads(eu.get_key_policy(KeyId="66666666-7777-8888-9999-000000000000",
                                       PolicyName="default")["Policy"])
    assert pol["Statement"][0]["Sid"] == "root"
    sm = one.client("secretsmanager", "test", "test")
    assert sm.get_secret_value(SecretId="db/password")["SecretString"] == "hunter2"
    assert sm.describe_secret(SecretId="db/password")["KmsKeyId"].endswith(KEY_ID) or \
        sm.describe_secret(SecretId="db/password")["KmsKeyId"] == "alias/app"
    sm_eu = one.client("secretsmanager", "test", "test", region="eu-west-1")
    assert sm_eu.get_secret_value(SecretId="eu/only")["SecretBinary"] == b"\x00\x01\x02"
    blob = kms.encrypt(KeyId="alias/app", Plaintext=b"across runs")["CiphertextBlob"]
    one.close()

    two = dev_factory("--seed", str(seed), name="seed2")
    kms2 = two.client("kms", "test", "test")
    assert kms2.decrypt(CiphertextBlob=blob)["Plaintext"] == b"across runs"

    # A reset re-applies the seed: the fresh start is the seeded start.
    kms2.create_key()
    assert two.post("/_tresor/reset")[0] == 200
    assert key_ids(kms2) == [KEY_ID]
    assert kms2.decrypt(CiphertextBlob=blob)["Plaintext"] == b"across runs"


@pytest.mark.parametrize("doc, words", [
    ({"keys": [{"KeyId": KEY_ID, "Material": "c2hvcnQ="}]}, "32 bytes"),
    ({"keys": [{"KeyId": "not-a-uuid"}]}, "KeyId"),
    ({"groups": []}, "unknown section"),
    ({"users": [{"UserName": "u", "AccessKeys": [{"AccessKeyId": "x", "SecretAccessKey": "y"}]}]},
     "AccessKeyId"),
    ({"keys": [{"Region": "nowhere"}]}, "Region"),
])
def test_bad_seed_refused(tmp_path, doc, words):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(doc))
    p = run_tresor_cmd(["serve", "--dev", "--listen", f"127.0.0.1:{free_port()}", "--seed", seed],
                       tmp_path, capture_output=True, timeout=20, cwd=str(tmp_path))
    assert p.returncode != 0
    assert words in p.stderr.decode(), p.stderr.decode()


@pytest.mark.parametrize("account", [None, "000000000000"])
def test_readme_seed_in_any_account(dev_factory, tmp_path, account):
    """The README's seed as written: its ARNs say ${AccountId}, so it loads
    into the default account and into --account-id 000000000000 alike, and
    its entries work as the README describes."""
    seed = tmp_path / "seed.json"
    seed.write_text(readme.file_block("seed.json"))
    srv = dev_factory("--seed", str(seed), *(["--account-id", account] if account else []))
    acct = account or DEV_ACCOUNT
    kms = srv.client("kms", "test", "test", region="eu-west-1")
    meta = kms.describe_key(KeyId="alias/app")["KeyMetadata"]
    assert meta["Arn"] == f"arn:aws:kms:eu-west-1:{acct}:key/11111111-2222-3333-4444-555555555555"
    policy = json.loads(kms.get_key_policy(KeyId=meta["KeyId"], PolicyName="default")["Policy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{acct}:root"}
    sm = srv.client("secretsmanager", "test", "test", region="eu-west-1")
    assert sm.get_secret_value(SecretId="db/password")["SecretString"] == "hunter2"
    # ci: its managed policy (attached by its ${AccountId} ARN) allows
    # Encrypt, its inline policy denies Decrypt.
    ci = srv.client("kms", "AKIASEEDEDCIUSER0001", "ci-secret", region="eu-west-1")
    blob = ci.encrypt(KeyId="alias/app", Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        ci.decrypt(CiphertextBlob=blob)
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    # deployer trusts this account's user ci.
    sts = srv.client("sts", "AKIASEEDEDCIUSER0001", "ci-secret")
    assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{acct}:user/ci"
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{acct}:role/deployer",
                            RoleSessionName="readme")["Credentials"]
    role_kms = srv.client("kms", creds["AccessKeyId"], creds["SecretAccessKey"],
                          creds["SessionToken"], region="eu-west-1")
    assert role_kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


def test_seed_unknown_variable_names_the_entry(tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps({"keys": [{"Description": "ok"}, {"Policy": {
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:*",
        "Principal": {"AWS": "arn:aws:iam::${AcountId}:root"}, "Resource": "*"}]}}]}))
    p = run_tresor_cmd(["serve", "--dev", "--listen", f"127.0.0.1:{free_port()}", "--seed", seed],
                       tmp_path, capture_output=True, timeout=20, cwd=str(tmp_path))
    assert p.returncode == 1
    assert "seed: keys[1]: unknown variable ${AcountId}" in p.stderr.decode(), p.stderr.decode()


# ---- known principals are still authorized -----------------------------------

@pytest.mark.parametrize("flags", [("--enforce-iam",), ()])
def test_known_user_without_policies_denied(dev_factory, flags):
    srv = dev_factory(*flags)
    root = Caller(srv, "test", "test", arn=f"arn:aws:iam::{DEV_ACCOUNT}:root",
                  account=DEV_ACCOUNT, user_id=DEV_ACCOUNT)
    key = root.kms.create_key()["KeyMetadata"]["KeyId"]
    bob = make_user(root, "bob")
    assert bob.access_key.startswith("AKIA")
    with pytest.raises(ClientError) as e:
        bob.kms.encrypt(KeyId=key, Plaintext=b"x")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    # A known key is verified: the wrong secret is refused, not taken as root.
    with pytest.raises(ClientError) as e:
        srv.client("kms", bob.access_key, "wrong" * 8).list_keys()
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
    # With a policy, the same user may.
    root.iam.put_user_policy(UserName="bob", PolicyName="p", PolicyDocument=json.dumps(
        {"Version": "2012-10-17",
         "Statement": [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}]}))
    bob.kms.encrypt(KeyId=key, Plaintext=b"x")


# ---- outside dev mode, and where dev mode may listen ---------------------------

def test_made_up_credentials_refused_without_dev(tresor):
    with pytest.raises(ClientError) as e:
        tresor.client("kms", "test", "test").list_keys()
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"


@pytest.mark.parametrize("listen", ["0.0.0.0:0", ":0", "192.0.2.1:0", "[::]:0"])
def test_dev_refuses_non_loopback(tmp_path, tmp_path_factory, listen):
    logs = tmp_path_factory.mktemp("logs")
    p = run_tresor_cmd(["serve", "--dev", "--listen", listen], logs,
                       capture_output=True, timeout=20, cwd=str(tmp_path))
    assert p.returncode == 2
    assert "loopback" in p.stderr.decode()
    assert list(tmp_path.iterdir()) == []


def test_dev_on_ipv6_loopback(tmp_path):
    port = free_port()
    argv, log = tresor_cmd(["serve", "--dev", "--listen", f"[::1]:{port}"], tmp_path)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            cwd=str(tmp_path))
    try:
        line = proc.stdout.readline().decode()
        assert "DEVELOPMENT SERVER" in line
    finally:
        proc.terminate()
        assert proc.wait(timeout=scaled(15)) == 0
    assert_wrapper_clean(log, "tresor serve --dev on [::1]")


def test_seed_needs_dev(tmp_path):
    p = run_tresor_cmd(["serve", "--seed", "x.json", "--data-dir", tmp_path / "d"], tmp_path,
                       capture_output=True, timeout=20)
    assert p.returncode == 2
    assert "--dev" in p.stderr.decode()


def test_dev_with_data_dir_keeps_state_and_refuses_reset(dev_factory, tmp_path):
    data = tmp_path / "data"
    srv = dev_factory("--data-dir", str(data), "--account-id", "000000000000")
    kms = srv.client("kms", "test", "test")
    key = kms.create_key()["KeyMetadata"]["KeyId"]
    assert (data / "tresor.db").exists()
    status, _ = srv.post("/moto-api/reset")
    assert status == 400
    assert key_ids(kms) == [key]
    assert uuid.UUID(key)


def test_seed_users_roles_policies(dev_factory, tmp_path):
    """Seeded IAM: a user with a fixed access key signs as that user, its
    attached managed policy allows, nothing else does (--enforce-iam);
    a seeded role trusting that user can be assumed by it."""
    allow_encrypt = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}]}
    doc = {
        "policies": [{"PolicyName": "encrypt-only", "PolicyDocument": allow_encrypt}],
        "keys": [{"KeyId": KEY_ID, "Material": MATERIAL, "Aliases": ["alias/app"]}],
        "users": [
            {"UserName": "ci", "ManagedPolicies": [f"arn:aws:iam::{DEV_ACCOUNT}:policy/encrypt-only"],
             "AccessKeys": [{"AccessKeyId": "AKIASEEDEDCIUSER0001", "SecretAccessKey": "ci-secret"}]},
            {"UserName": "nobody",
             "AccessKeys": [{"AccessKeyId": "AKIASEEDEDNOBODY0001", "SecretAccessKey": "nb-secret"}]},
        ],
        "roles": [{"RoleName": "deployer", "AssumeRolePolicyDocument": {
            "Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{DEV_ACCOUNT}:user/ci"},
                "Action": "sts:AssumeRole"}]},
            "Policies": {"all-kms": {"Version": "2012-10-17", "Statement": [
                {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}}}],
    }
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(doc))
    srv = dev_factory("--seed", str(seed), "--enforce-iam")
    ci = srv.client("kms", "AKIASEEDEDCIUSER0001", "ci-secret")
    assert srv.client("sts", "AKIASEEDEDCIUSER0001", "ci-secret").get_caller_identity()["Arn"] == \
        f"arn:aws:iam::{DEV_ACCOUNT}:user/ci"
    blob = ci.encrypt(KeyId="alias/app", Plaintext=b"x")["CiphertextBlob"]
    with pytest.raises(ClientError) as e:
        ci.decrypt(CiphertextBlob=blob)
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        srv.client("kms", "AKIASEEDEDNOBODY0001", "nb-secret").encrypt(KeyId="alias/app", Plaintext=b"x")
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    with pytest.raises(ClientError) as e:
        srv.client("kms", "AKIASEEDEDCIUSER0001", "wrong").encrypt(KeyId="alias/app", Plaintext=b"x")
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
    creds = srv.client("sts", "AKIASEEDEDCIUSER0001", "ci-secret").assume_role(
        RoleArn=f"arn:aws:iam::{DEV_ACCOUNT}:role/deployer", RoleSessionName="ci")["Credentials"]
    role_kms = srv.client("kms", creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])
    assert role_kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


# ---- reset: nothing read before it is answered after it --------------------------
#
# The request path keeps per-thread caches (docs/internals/CACHES.md).  A
# reset swaps in a fresh store whose history can repeat the old one's write
# for write.  Each test below makes the same requests after each reset with
# other data -- a new value, policy, alias, tag, secret access key or key
# material under the same names -- and reads it back once the writes are
# done.  One worker thread (--threads 1) makes every request meet the same
# thread's caches; the KMS tests read another seeded key first, so an entry
# from before the reset would still be there to be found.

ONE_THREAD = ("--threads", "1")
ROUNDS_AFTER_RESET = 3
OTHER_KEY_ID = "22222222-3333-4444-5555-666666666666"


def reset(srv):
    status, body = srv.post("/moto-api/reset")
    assert status == 200, body


def seeded_dev(dev_factory, tmp_path, doc, *flags):
    """A one-thread dev server over the seed file tmp_path/seed.json (doc);
    the file is read again at each reset, so a test may rewrite it."""
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps(doc))
    return dev_factory(*ONE_THREAD, "--seed", str(seed), *flags), seed


def two_keys(material=MATERIAL, **extra):
    """A seed with OTHER_KEY_ID, then KEY_ID (with `extra` members)."""
    return {"keys": [{"KeyId": OTHER_KEY_ID},
                     {"KeyId": KEY_ID, "Material": material, **extra}]}


def dev_root(srv):
    return Caller(srv, "test", "test", arn=f"arn:aws:iam::{DEV_ACCOUNT}:root",
                  account=DEV_ACCOUNT, user_id=DEV_ACCOUNT)


def error_code(fn, **kwargs):
    """The AWS error code fn raises, or None when it succeeds."""
    try:
        fn(**kwargs)
    except ClientError as e:
        return e.response["Error"]["Code"]
    return None


@pytest.mark.parametrize("seeded", [False, True], ids=["managed-key", "seeded-key"])
def test_reset_secret_values(dev_factory, tmp_path, seeded):
    """The report: secret X made again with another value after each reset
    read back the first value with a seeded key, and "Access to KMS is not
    allowed" under the managed key (the old managed key was taken for the
    new one)."""
    srv, _ = seeded_dev(dev_factory, tmp_path, two_keys(Aliases=["alias/app"]) if seeded else {})
    sm = srv.client("secretsmanager", "test", "test")
    kw = {"KmsKeyId": "alias/app"} if seeded else {}
    for i in range(ROUNDS_AFTER_RESET):
        reset(srv)
        sm.create_secret(Name="s1", SecretBinary=b"value %d" % i, **kw)
        assert sm.get_secret_value(SecretId="s1")["SecretBinary"] == b"value %d" % i


def test_reset_secret_versions(dev_factory, tmp_path):
    srv, _ = seeded_dev(dev_factory, tmp_path, {})
    sm = srv.client("secretsmanager", "test", "test")
    v1, v2, v3 = (str(uuid.UUID(int=n)) for n in (1, 2, 3))
    for i in range(ROUNDS_AFTER_RESET):
        reset(srv)
        sm.create_secret(Name="db", SecretString=f"a{i}", ClientRequestToken=v1)
        sm.put_secret_value(SecretId="db", SecretString=f"b{i}", ClientRequestToken=v2)
        # The third version is staged in odd rounds only.
        sm.put_secret_value(SecretId="db", SecretString=f"c{i}", ClientRequestToken=v3,
                            VersionStages=["AWSPENDING" if i % 2 else "TEST"])
        want = {v1: ["AWSPREVIOUS"], v2: ["AWSCURRENT"],
                v3: ["AWSPENDING" if i % 2 else "TEST"]}
        assert sm.describe_secret(SecretId="db")["VersionIdsToStages"] == want
        listed = sm.list_secret_version_ids(SecretId="db", IncludeDeprecated=True)["Versions"]
        assert {v["VersionId"]: v["VersionStages"] for v in listed} == want
        assert sm.get_secret_value(SecretId="db", VersionId=v1)["SecretString"] == f"a{i}"


def test_reset_secret_tags_and_resource_policy(dev_factory, tmp_path):
    srv, _ = seeded_dev(dev_factory, tmp_path, {})
    sm = srv.client("secretsmanager", "test", "test")
    for i in range(ROUNDS_AFTER_RESET):
        reset(srv)
        color = ("blue", "gray")[i % 2]
        arn = sm.create_secret(Name="tagged", SecretString="v",
                               Tags=[{"Key": "team", "Value": color}])["ARN"]
        sm.put_resource_policy(SecretId="tagged", ResourcePolicy=json.dumps({
            "Version": "2012-10-17", "Statement": [{
                "Sid": color, "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{DEV_ACCOUNT}:root"},
                "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}))
        described = sm.describe_secret(SecretId="tagged")
        assert (described["ARN"], described["Tags"]) == (arn, [{"Key": "team", "Value": color}])
        policy = json.loads(sm.get_resource_policy(SecretId="tagged")["ResourcePolicy"])
        assert policy["Statement"][0]["Sid"] == color


def test_reset_secret_listings(dev_factory, tmp_path):
    srv, _ = seeded_dev(dev_factory, tmp_path, {})
    sm = srv.client("secretsmanager", "test", "test")

    def names():
        out, kw = [], {"MaxResults": 1}
        while True:
            r = sm.list_secrets(**kw)
            out += [s["Name"] for s in r["SecretList"]]
            if "NextToken" not in r:
                return out
            kw["NextToken"] = r["NextToken"]

    for i in range(ROUNDS_AFTER_RESET):
        reset(srv)
        made = [f"r{i}-a", f"r{i}-b", f"r{i}-c"]
        for n in made:
            sm.create_secret(Name=n, SecretString="x")
        assert names() == made


def test_reset_access_keys_made_by_iam(dev_factory, tmp_path):
    """A user's access key from before a reset is a key the fresh store
    never knew: in dev mode it acts as the account root."""
    srv, _ = seeded_dev(dev_factory, tmp_path, {})
    root = dev_root(srv)
    old = None
    for _ in range(ROUNDS_AFTER_RESET):
        reset(srv)
        user = make_user(root, "alice")
        if old is not None:
            assert old.sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{DEV_ACCOUNT}:root"
        assert user.sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{DEV_ACCOUNT}:user/alice"
        old = user


def test_reset_seeded_access_key_with_another_secret(dev_factory, tmp_path):
    """A seeded access key id whose user and secret change between resets
    (the seed file is read again): the new secret signs as the new user,
    the old one no longer signs."""
    akid = "AKIASEEDEDROTATED001"

    def doc(i):
        return {"users": [{"UserName": f"user{i}", "AccessKeys": [
            {"AccessKeyId": akid, "SecretAccessKey": f"secret-{i}"}]}]}

    srv, seed = seeded_dev(dev_factory, tmp_path, doc(0))
    for i in range(ROUNDS_AFTER_RESET):
        seed.write_text(json.dumps(doc(i)))
        reset(srv)
        sts = srv.client("sts", akid, f"secret-{i}")
        assert sts.get_caller_identity()["Arn"] == f"arn:aws:iam::{DEV_ACCOUNT}:user/user{i}"
        if i:
            old = srv.client("sts", akid, f"secret-{i - 1}")
            assert error_code(old.get_caller_identity) == "SignatureDoesNotMatch"


def test_reset_identity_policies(dev_factory, tmp_path):
    """A seeded user (the same access key each time) whose inline and
    managed policies differ after each reset."""
    akid = "AKIASEEDEDALICE00001"
    doc = {"users": [{"UserName": "alice", "AccessKeys": [
        {"AccessKeyId": akid, "SecretAccessKey": "alice-secret"}]}]}
    srv, _ = seeded_dev(dev_factory, tmp_path, doc)
    root = dev_root(srv)
    alice = srv.client("kms", akid, "alice-secret")
    calls = {"kms:ListKeys": alice.list_keys, "kms:ListAliases": alice.list_aliases}
    for i in range(ROUNDS_AFTER_RESET):
        reset(srv)
        allowed, denied = ("kms:ListKeys", "kms:ListAliases")[::1 if i % 2 == 0 else -1]
        root.iam.put_user_policy(UserName="alice", PolicyName="p", PolicyDocument=json.dumps(
            {"Version": "2012-10-17",
             "Statement": [{"Effect": "Allow", "Action": allowed, "Resource": "*"}]}))
        arn = root.iam.create_policy(PolicyName="m", PolicyDocument=json.dumps(
            {"Version": "2012-10-17",
             "Statement": [{"Effect": "Deny", "Action": denied, "Resource": "*"}]}))["Policy"]["Arn"]
        root.iam.attach_user_policy(UserName="alice", PolicyArn=arn)
        assert error_code(calls[allowed]) is None
        assert error_code(calls[denied]) == "AccessDeniedException"


def test_reset_compiled_policies(dev_factory, tmp_path):
    """The same key policy text after each reset names a user who is a new
    entity each time: compiled policies are bound to the entity they name,
    so the new bob may encrypt, and the old bob's key (unknown now: the
    account root in dev mode) may not."""
    srv, _ = seeded_dev(dev_factory, tmp_path, {})
    root = dev_root(srv)
    bob_arn = f"arn:aws:iam::{DEV_ACCOUNT}:user/bob"
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{DEV_ACCOUNT}:root"},
         "NotAction": "kms:Encrypt", "Resource": "*"},
        {"Effect": "Allow", "Principal": {"AWS": bob_arn}, "Action": "kms:Encrypt",
         "Resource": "*"}]})
    old = None
    for _ in range(ROUNDS_AFTER_RESET):
        reset(srv)
        bob = make_user(root, "bob")
        key = root.kms.create_key(Policy=policy)["KeyMetadata"]["KeyId"]
        if old is not None:
            assert error_code(old.kms.encrypt, KeyId=key, Plaintext=b"x") == "AccessDeniedException"
        bob.kms.encrypt(KeyId=key, Plaintext=b"x")
        old = bob


def test_reset_key_record_and_policy(dev_factory, tmp_path):
    srv, _ = seeded_dev(dev_factory, tmp_path, two_keys())
    kms = srv.client("kms", "test", "test")
    for i in range(ROUNDS_AFTER_RESET):
        reset(srv)
        may_encrypt = i % 2 == 0
        policy = {"Version": "2012-10-17", "Statement": [
            {"Sid": f"round{i}", "Effect": "Allow",
             "Principal": {"AWS": f"arn:aws:iam::{DEV_ACCOUNT}:root"},
             "NotAction": "kms:Decrypt" if may_encrypt else "kms:Encrypt", "Resource": "*"}]}
        kms.update_key_description(KeyId=KEY_ID, Description=f"round {i}")
        kms.put_key_policy(KeyId=KEY_ID, PolicyName="default", Policy=json.dumps(policy))
        kms.describe_key(KeyId=OTHER_KEY_ID)
        assert kms.describe_key(KeyId=KEY_ID)["KeyMetadata"]["Description"] == f"round {i}"
        assert json.loads(kms.get_key_policy(KeyId=KEY_ID, PolicyName="default")["Policy"]) == policy
        code = error_code(kms.encrypt, KeyId=KEY_ID, Plaintext=b"x")
        assert code == (None if may_encrypt else "AccessDeniedException")


def test_reset_key_state(dev_factory, tmp_path):
    srv, _ = seeded_dev(dev_factory, tmp_path, two_keys())
    kms = srv.client("kms", "test", "test")
    for i in range(ROUNDS_AFTER_RESET):
        reset(srv)
        disabled = i % 2 == 0
        kms.disable_key(KeyId=KEY_ID if disabled else OTHER_KEY_ID)
        kms.describe_key(KeyId=OTHER_KEY_ID)
        code = error_code(kms.encrypt, KeyId=KEY_ID, Plaintext=b"x")
        assert code == ("DisabledException" if disabled else None)
        state = kms.describe_key(KeyId=KEY_ID)["KeyMetadata"]["KeyState"]
        assert state == ("Disabled" if disabled else "Enabled")


def user_may_encrypt_if(root, condition):
    """A new user whose inline policy allows kms:Encrypt under `condition`
    (the key's default policy lets IAM policies count)."""
    return make_user(root, "ci", policy={"Effect": "Allow", "Action": "kms:Encrypt",
                                         "Resource": "*", "Condition": condition})


def test_reset_key_aliases(dev_factory, tmp_path):
    """kms:ResourceAliases: the key's aliases as the fresh store has them."""
    srv, _ = seeded_dev(dev_factory, tmp_path, two_keys())
    root = dev_root(srv)
    for i in range(ROUNDS_AFTER_RESET):
        reset(srv)
        ci = user_may_encrypt_if(root, {"ForAnyValue:StringEquals": {"kms:ResourceAliases": "alias/one"}})
        alias = ("alias/one", "alias/two")[i % 2]
        root.kms.create_alias(AliasName=alias, TargetKeyId=KEY_ID)
        root.kms.describe_key(KeyId=OTHER_KEY_ID)
        code = error_code(ci.kms.encrypt, KeyId=KEY_ID, Plaintext=b"x")
        assert code == (None if alias == "alias/one" else "AccessDeniedException")
        assert [a["AliasName"] for a in root.kms.list_aliases(KeyId=KEY_ID)["Aliases"]] == [alias]


def test_reset_key_tags(dev_factory, tmp_path):
    """aws:ResourceTag/<k>: the key's tags as the fresh store has them."""
    srv, _ = seeded_dev(dev_factory, tmp_path, two_keys())
    root = dev_root(srv)
    for i in range(ROUNDS_AFTER_RESET):
        reset(srv)
        ci = user_may_encrypt_if(root, {"StringEquals": {"aws:ResourceTag/team": "blue"}})
        color = ("blue", "gray")[i % 2]
        root.kms.tag_resource(KeyId=KEY_ID, Tags=[{"TagKey": "team", "TagValue": color}])
        root.kms.describe_key(KeyId=OTHER_KEY_ID)
        code = error_code(ci.kms.encrypt, KeyId=KEY_ID, Plaintext=b"x")
        assert code == (None if color == "blue" else "AccessDeniedException")
        tags = root.kms.list_resource_tags(KeyId=KEY_ID)["Tags"]
        assert tags == [{"TagKey": "team", "TagValue": color}]


def test_reset_key_material(dev_factory, tmp_path):
    """A seeded key whose material changes between resets (the seed file is
    read again): what the old material sealed no longer opens, and what the
    new one seals opens in a fresh server seeded with it."""
    def doc(i):
        return two_keys(material=base64.b64encode(bytes([i]) * 32).decode())

    srv, seed = seeded_dev(dev_factory, tmp_path, doc(0))
    kms = srv.client("kms", "test", "test")
    blobs = []
    for i in range(ROUNDS_AFTER_RESET):
        seed.write_text(json.dumps(doc(i)))
        reset(srv)
        kms.describe_key(KeyId=OTHER_KEY_ID)
        blobs.append(kms.encrypt(KeyId=KEY_ID, Plaintext=b"round %d" % i)["CiphertextBlob"])
        assert kms.decrypt(CiphertextBlob=blobs[-1])["Plaintext"] == b"round %d" % i
        if i:
            assert error_code(kms.decrypt, CiphertextBlob=blobs[-2]) == "InvalidCiphertextException"
    last = tmp_path / "last.json"
    last.write_text(json.dumps(doc(ROUNDS_AFTER_RESET - 1)))
    fresh = dev_factory("--seed", str(last), name="fresh")
    assert fresh.client("kms", "test", "test").decrypt(CiphertextBlob=blobs[-1])["Plaintext"] == \
        b"round %d" % (ROUNDS_AFTER_RESET - 1)
