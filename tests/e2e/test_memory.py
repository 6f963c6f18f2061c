"""
test_memory.py -- what a running server does with its memory.

  - hardening: the server's key material is locked in memory (VmLck > 0 in
    /proc/<pid>/status; if the machine's RLIMIT_MEMLOCK makes mlock fail,
    only with the one warning the server logs then), and its core-file
    limit is 0 (/proc/<pid>/limits).  PR_SET_DUMPABLE is checked by the unit
    test of process_harden (tests/unit/secmem_test.c).
  - wipe checks: against the wipe-check build (`make wipecheck` runs this
    file with TRESOR_BIN=build-wipecheck/tresor), the server verifies at
    each release of secret memory that it was wiped, aborting if not, and
    logs per-site counts when it stops.  After GetSecretValue, PutSecretValue,
    BatchGetSecretValue, GetRandomPassword, Decrypt, Encrypt, GenerateDataKey,
    GenerateDataKeyWithoutPlaintext, ReEncrypt and GenerateRandom the counts
    must show checks at every site and the server must exit 0.  Against any
    other build that test is skipped.
"""

import re

import pytest

from tresor_e2e import run_tresor_cmd, unique

MLOCK_WARNING = "mlock failed"
SUMMARY_RE = re.compile(
    r"wipe check: (\d+) regions verified zero \(buf (\d+), json (\d+), reply (\d+), "
    r"openssl (\d+), secmem (\d+)\), 0 failed")


def proc_field(pid, name, field):
    text = open(f"/proc/{pid}/{name}").read()
    for line in text.splitlines():
        if line.startswith(field):
            return line
    raise AssertionError(f"/proc/{pid}/{name} has no {field!r} line:\n{text}")


def under_asan(pid):
    """ASan intercepts mlock and makes it a no-op (its shadow memory cannot
    be locked), so an ASan build never shows VmLck."""
    return "libasan" in open(f"/proc/{pid}/maps").read()


def test_key_material_locked_and_no_core(tresor):
    pid = tresor.proc.pid
    vmlck = proc_field(pid, "status", "VmLck:")
    locked_kb = int(vmlck.split()[1])
    if under_asan(pid):
        pass
    elif locked_kb == 0:
        # Allowed only where the limit refused it, and then said so once.
        log = tresor.stderr_text().decode("utf-8", "replace")
        assert log.count(MLOCK_WARNING) == 1, (
            f"VmLck is 0 and the server did not log one mlock warning:\n{log[-3000:]}")
    else:
        assert locked_kb >= 4, vmlck
    core = proc_field(pid, "limits", "Max core file size").split()
    # "Max core file size  0  0  bytes": soft and hard limits both 0.
    assert core[4:6] == ["0", "0"], core


def is_wipe_check_build(srv):
    p = run_tresor_cmd(["version"], srv.log_dir, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return "(wipe-check build)" in p.stdout


def test_wipe_checks_run_for_plaintext_operations(tresor_factory):
    srv = tresor_factory("wipecheck")
    if not is_wipe_check_build(srv):
        pytest.skip("needs the wipe-check build: make wipecheck")
    requests = 0
    kms = srv.kms()
    sm = srv.sm()

    key = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key, Plaintext=b"attack at dawn")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"attack at dawn"
    dk = kms.generate_data_key(KeyId=key, KeySpec="AES_256")
    assert len(dk["Plaintext"]) == 32
    assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] == dk["Plaintext"]
    wp = kms.generate_data_key_without_plaintext(KeyId=key, NumberOfBytes=32)
    key2 = kms.create_key()["KeyMetadata"]["KeyId"]
    re_blob = kms.re_encrypt(CiphertextBlob=wp["CiphertextBlob"],
                             DestinationKeyId=key2)["CiphertextBlob"]
    assert len(kms.decrypt(CiphertextBlob=re_blob)["Plaintext"]) == 32
    assert len(kms.generate_random(NumberOfBytes=64)["Plaintext"]) == 64
    requests += 10

    name = unique("wipe")
    sm.create_secret(Name=name, SecretString="correct horse battery staple")
    assert sm.get_secret_value(SecretId=name)["SecretString"] == "correct horse battery staple"
    sm.put_secret_value(SecretId=name, SecretBinary=b"\x00\x01binary\xff")
    assert sm.get_secret_value(SecretId=name)["SecretBinary"] == b"\x00\x01binary\xff"
    got = sm.batch_get_secret_value(SecretIdList=[name])["SecretValues"]
    assert got[0]["SecretBinary"] == b"\x00\x01binary\xff"
    assert len(sm.get_random_password(PasswordLength=40)["RandomPassword"]) == 40
    requests += 6

    srv.stop_clean()
    log = srv.stderr_text().decode("utf-8", "replace")
    assert "wipe check failed" not in log, log[-3000:]
    m = SUMMARY_RE.search(log)
    assert m, f"no wipe-check summary in the server log:\n{log[-3000:]}"
    total, buf, jsn, reply, ossl, secmem = (int(x) for x in m.groups())
    assert total == buf + jsn + reply + ossl + secmem
    assert reply >= requests, m.group(0)       # every reply body, wiped and checked
    assert buf >= requests, m.group(0)         # request bodies, plaintexts, data keys
    assert jsn > 0 and ossl > 0 and secmem > 0, m.group(0)
