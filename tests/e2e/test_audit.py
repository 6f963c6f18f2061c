"""The audit log (`tresor serve --audit-log`, docs/internals/AUDIT.md): the
record of each request, the HMAC of sensitive members, the hash chain and
signed checkpoints checked by `tresor audit verify` (and by Python's
cryptography), and fail-closed writes."""
import base64
import hashlib
import json
import os
import signal
import subprocess

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from tresor_e2e import make_user, scaled, tresor_bin, unique

SECRET = "audit-secret-value-7f3a9c"
NEW_SECRET = "audit-second-value-0b1d2e"
PLAINTEXT = b"audit-plaintext-5e6f7a8b"


def lines(path):
    return [json.loads(l) for l in open(path, encoding="utf-8").read().splitlines()]


def run(*args):
    p = subprocess.run([str(tresor_bin()), *map(str, args)], capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def verify(srv, *files):
    return run("audit", "verify", *files, "--public-key", srv.data_dir / "audit.pub")


@pytest.fixture
def audited(tresor_factory, tmp_path):
    log = tmp_path / "audit.log"
    srv = tresor_factory("audit", args=["--audit-log", log, "--audit-checkpoint", "5"])
    srv.audit_path = log
    return srv


def test_source_of_every_request_on_one_connection(audited):
    """The source address is formatted once per connection (src/http/server.c
    peer_name) and every request on that keep-alive connection, first or
    later, is recorded with it -- as is each request of a second client."""
    srv = audited
    import http.client
    conn = http.client.HTTPConnection(srv.endpoint.split("//", 1)[1], timeout=10)
    for _ in range(3):        # unsigned: refused and logged, the connection kept
        conn.request("GET", "/?Action=ListUsers&Version=2010-05-08")
        r = conn.getresponse()
        assert r.status == 403 and b"<Code>MissingAuthenticationToken</Code>" in r.read()
    conn.close()
    kms = srv.kms()
    for _ in range(3):
        kms.list_keys()
    srv.client("kms", srv.access_key, srv.secret_key).list_keys()
    srv.stop_clean()
    recs = [r for r in lines(srv.audit_path) if r["type"] == "request"]
    unsigned = [r for r in recs if r["error"] == "MissingAuthenticationToken"]
    listed = [r for r in recs if r["operation"] == "TrentService.ListKeys"]
    assert len(unsigned) == 3 and len(listed) == 4
    assert [r["source"] for r in unsigned + listed] == ["127.0.0.1"] * 7


def test_record_fields_hmac_and_no_plaintext(audited):
    srv = audited
    root = srv.root_user
    key = srv.kms().create_key()["KeyMetadata"]
    blob = srv.kms().encrypt(KeyId=key["KeyId"], Plaintext=PLAINTEXT)["CiphertextBlob"]
    assert srv.kms().decrypt(CiphertextBlob=blob)["Plaintext"] == PLAINTEXT
    grant = srv.kms().create_grant(KeyId=key["KeyId"], GranteePrincipal=root.arn,
                                   Operations=["Decrypt"])
    token = grant["GrantToken"]
    srv.kms().decrypt(CiphertextBlob=blob, GrantTokens=[token])
    srv.kms().retire_grant(GrantToken=token)
    name = unique("audit")
    arn = srv.sm().create_secret(Name=name, SecretString=SECRET)["ARN"]
    assert srv.sm().get_secret_value(SecretId=name)["SecretString"] == SECRET
    nobody = make_user(root)
    with pytest.raises(ClientError) as e:
        nobody.kms.decrypt(CiphertextBlob=blob)
    assert e.value.response["Error"]["Code"] == "AccessDeniedException"
    bad = srv.client("kms", srv.access_key, "wrong" + srv.secret_key[5:])
    with pytest.raises(ClientError) as e:
        bad.list_keys()
    assert e.value.response["Error"]["Code"] == "InvalidSignatureException"
    import urllib.request, urllib.error
    with pytest.raises(urllib.error.HTTPError) as h:       # an unsigned IAM request: refused, and logged
        urllib.request.urlopen(srv.endpoint + "/?Action=ListUsers&Version=2010-05-08", timeout=10)
    assert b"<Code>MissingAuthenticationToken</Code>" in h.value.read()
    srv.stop_clean()

    raw = srv.audit_path.read_bytes()
    for needle in (SECRET.encode(), PLAINTEXT, base64.b64encode(PLAINTEXT), base64.b64encode(blob), blob,
                   srv.secret_key.encode(), nobody.secret_key.encode(), token.encode()):
        assert needle not in raw
    recs = [r for r in lines(srv.audit_path) if r["type"] == "request"]
    dec = [r for r in recs if r["operation"] == "TrentService.Decrypt"]
    ok, denied = dec[0], dec[2]
    assert ok["principal"] == f"arn:aws:iam::{root.account}:root"
    assert ok["access_key_id"] == srv.access_key
    assert ok["action"] == "kms:Decrypt" and ok["decision"] == "allow" and ok["error"] is None
    assert ok["resources"] == [key["Arn"]]
    st = ok["authz"][0]["statements"][0]
    assert st["kind"] == "resource" and st["policy"] == f"key-policy:{key['Arn']}" and st["index"] == 0
    assert ok["source"] == "127.0.0.1" and len(ok["request_id"]) == 36
    assert denied["principal"] == nobody.arn and denied["access_key_id"] == nobody.access_key
    assert denied["decision"] == "implicit deny" and denied["error"] == "AccessDeniedException"

    rc, out = run("audit", "hmac", "--data-dir", srv.data_dir, SECRET)
    assert rc == 0, out
    create = [r for r in recs if r["operation"] == "secretsmanager.CreateSecret"][0]
    assert create["request"]["SecretString"] == out.strip()
    assert create["request"]["Name"] == name
    rc, out = run("audit", "hmac", "--data-dir", srv.data_dir, PLAINTEXT.decode())
    enc = [r for r in recs if r["operation"] == "TrentService.Encrypt"][0]
    assert enc["request"]["Plaintext"] == out.strip()
    rc, out2 = run("audit", "hmac", "--data-dir", srv.data_dir, "--decode", base64.b64encode(PLAINTEXT).decode())
    assert rc == 0 and out2 == out
    assert ok["request"]["CiphertextBlob"].startswith("hmac-sha256:")
    rc, out = run("audit", "hmac", "--data-dir", srv.data_dir, token)     # a bearer credential: HMAC only
    retire = [r for r in recs if r["operation"] == "TrentService.RetireGrant"][0]
    assert rc == 0 and retire["request"]["GrantToken"] == out.strip()
    assert dec[1]["request"]["GrantTokens"] == [out.strip()]

    get = [r for r in recs if r["operation"] == "secretsmanager.GetSecretValue"][0]
    assert get["resources"][0] == arn and get["decision"] == "allow"
    hop = get["kms"][0]
    assert hop["action"] == "kms:Decrypt" and hop["decision"] == "allow"
    assert get["resources"] == [arn, hop["resource"]] and hop["resource"].startswith("arn:aws:kms:")
    cu = [r for r in recs if r["operation"] == "CreateUser"][0]
    assert cu["action"] == "iam:CreateUser" and cu["decision"] == "allow" and cu["request"] is None
    unsigned = [r for r in recs if r["error"] == "MissingAuthenticationToken"]
    assert unsigned and unsigned[0]["principal"] is None and unsigned[0]["decision"] is None
    refused = [r for r in recs if r["error"] == "InvalidSignatureException"][0]
    assert refused["principal"] is None and refused["access_key_id"] == srv.access_key
    assert refused["decision"] is None


def test_chain_checkpoints_and_tampering(audited, tmp_path):
    srv = audited
    for _ in range(12):
        srv.kms().list_keys()
    srv.stop_clean()
    log = srv.audit_path
    rc, out = verify(srv, log)
    assert rc == 0, out
    recs = lines(log)
    assert [r["seq"] for r in recs] == list(range(len(recs)))
    kinds = [r.get("reason") for r in recs if r["type"] == "checkpoint"]
    assert kinds[0] == "start" and kinds[-1] == "stop" and "interval" in kinds
    text = log.read_text().splitlines()
    for a, b in zip(text, text[1:]):
        assert json.loads(b)["prev"] == hashlib.sha256(a.encode()).hexdigest()

    # Python's cryptography checks each checkpoint over exactly the documented bytes
    pub = load_pem_public_key((srv.data_dir / "audit.pub").read_bytes())
    for l in text:
        r = json.loads(l)
        if r["type"] == "checkpoint":
            suffix = ',"sig":"' + r["sig"] + '"}'
            assert l.endswith(suffix)
            pub.verify(bytes.fromhex(r["sig"]), (l[:-len(suffix)] + "}").encode())

    def bad(mutated, expect):
        p = tmp_path / unique("t")
        p.write_text("".join(x + "\n" for x in mutated))
        rc, out = verify(srv, p)
        assert rc == 1 and expect in out, out
        return out

    changed = list(text)
    changed[3] = changed[3].replace("ListKeys", "ListKeyz")
    assert ":4: changed" in bad(changed, "changed")
    assert ":5: removed" in bad(text[:4] + text[5:], "removed")
    assert ":4: removed or reordered: seq 4 follows 2" in bad(text[:3] + [text[4], text[3]] + text[5:], "reordered")
    assert ":4: inserted or reordered: seq 2 after 2" in bad(text[:3] + [text[2]] + text[3:], "inserted")
    bad(text[:-1], "unsigned tail")
    bad(text[:-1] + [text[-1].replace("stop", "stoP")], "signature does not verify")
    cut = tmp_path / "cut.log"
    cut.write_text("\n".join(text)[:-5])
    rc, out = verify(srv, cut)
    assert rc == 1 and "cut line" in out


def test_fail_closed_and_rotation(audited, tmp_path):
    srv = audited
    name = unique("audit")
    srv.sm().create_secret(Name=name, SecretString=SECRET)
    key = srv.kms().create_key()["KeyMetadata"]["KeyId"]
    blob = srv.kms().encrypt(KeyId=key, Plaintext=PLAINTEXT)["CiphertextBlob"]
    log = srv.audit_path
    rotated = tmp_path / "audit.log.1"
    os.rename(log, rotated)
    os.symlink("/dev/full", log)
    from tresor_e2e import eventually
    sighups = srv.stderr_path.read_text().count("SIGHUP: ")
    srv.proc.send_signal(signal.SIGHUP)

    def sighup_handled():           # the server logs each SIGHUP's outcome
        assert srv.stderr_path.read_text().count("SIGHUP: ") > sighups
    eventually(sighup_handled, timeout=scaled(10))

    def put_fails():
        try:
            srv.sm().put_secret_value(SecretId=name, SecretString=NEW_SECRET)
        except ClientError as e:
            return e.response["Error"]
        return None
    err = put_fails()
    assert err is not None, "PutSecretValue succeeded with the audit log on a full disk"
    assert err["Code"] == "InternalServiceError" and err["Message"] == "An internal error occurred."
    with pytest.raises(ClientError) as e:
        srv.kms().decrypt(CiphertextBlob=blob)
    assert e.value.response["Error"]["Code"] == "KMSInternalException"

    os.unlink(log)
    srv.proc.send_signal(signal.SIGHUP)
    eventually(lambda: log.exists())
    got = eventually(lambda: srv.sm().get_secret_value(SecretId=name))
    assert got["SecretString"] == SECRET                     # the failed put was not carried out
    assert len(srv.sm().list_secret_version_ids(SecretId=name)["Versions"]) == 1
    srv.stop_clean()
    rc, out = verify(srv, rotated, log)
    assert rc == 0, out
    rc, out = verify(srv, log)
    assert rc == 0, out                                        # a later file alone: its own chain part
    assert NEW_SECRET.encode() not in rotated.read_bytes() + log.read_bytes()


def test_chain_continues_across_restarts_and_new_files(audited, tmp_path):
    srv = audited
    log = srv.audit_path
    srv.kms().list_keys()
    srv.stop_clean()
    srv.start(args=["--audit-log", log])              # the same file: continued from its last line
    srv.kms().list_keys()
    srv.stop_clean()
    old = tmp_path / "audit.log.old"
    os.rename(log, old)
    srv.start(args=["--audit-log", log])              # a new file: continued from DIR/audit.head
    srv.kms().list_keys()
    srv.stop_clean()
    rc, out = verify(srv, old, log)
    assert rc == 0, out
    seqs = [r["seq"] for r in lines(old) + lines(log)]
    assert seqs == list(range(len(seqs)))
    assert [r["reason"] for r in lines(log) if r["type"] == "checkpoint"] == ["start", "stop"]
    rc, out = verify(srv, log, old)                   # out of order: named
    assert rc == 1 and "inserted or reordered" in out, out

    # a file cut inside its last line is refused at start, and named by verify
    with open(log, "a") as f:
        f.write('{"seq":')
    with pytest.raises(AssertionError):
        srv.start(args=["--audit-log", log])
    assert b"ends in a cut line" in srv.stderr_text()
    rc, out = verify(srv, old, log)
    assert rc == 1 and "cut line" in out, out


def test_refused_without_data_dir_key_and_bad_checkpoint_arg(tresor_factory, tmp_path):
    srv = tresor_factory("audit-args", start=False)
    rc, out = run("serve", "--audit-log", tmp_path / "a.log", "--audit-checkpoint", "0",
                  "--data-dir", srv.data_dir)
    assert rc == 2 and "--audit-checkpoint must be a number from 1 to 1000000, not '0'" in out
    rc, out = run("audit", "verify", tmp_path / "a.log")
    assert rc == 2 and "--public-key is required" in out
