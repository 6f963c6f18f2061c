"""
test_systemd_unit.py -- contrib/tresor.service, the systemd unit.

The unit runs `tresor serve` as the dedicated user of contrib/tresor.sysusers
with its data dir in /var/lib/tresor (StateDirectory=) and the hardening the
README lists; every flag its ExecStart gives is one `tresor serve --help`
lists.  `systemd-analyze verify` accepts it (with ExecStart pointing at the
binary under test, since /usr/local/bin/tresor is not installed here), and
`systemd-analyze security --offline` rates its exposure 2.0 or less ("OK");
both are skipped, saying why, where systemd-analyze is not installed.  The
unit is not started: that needs systemd as PID 1.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tresor_e2e import tresor_bin

CONTRIB = Path(__file__).resolve().parents[2] / "contrib"
UNIT = CONTRIB / "tresor.service"


def directives(text):
    """{section: {key: [values]}}; a key may repeat (SystemCallFilter=)."""
    out, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"\[(\w+)\]", line)
        if m:
            section = out.setdefault(m.group(1), {})
            continue
        key, _, value = line.partition("=")
        section.setdefault(key, []).append(value)
    return out


def one(d, key):
    assert len(d[key]) == 1, (key, d[key])
    return d[key][0]


def test_unit_has_the_hardening():
    svc = directives(UNIT.read_text())["Service"]
    expect = {
        "User": "tresor", "Group": "tresor", "StateDirectory": "tresor", "StateDirectoryMode": "0700",
        "UMask": "0077", "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
        "PrivateTmp": "yes", "PrivateDevices": "yes", "LimitCORE": "0", "MemoryDenyWriteExecute": "yes",
        "CapabilityBoundingSet": "", "RestrictSUIDSGID": "yes", "LockPersonality": "yes",
        "SystemCallArchitectures": "native", "KillSignal": "SIGTERM",
        "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    }
    for k, v in expect.items():
        assert one(svc, k) == v, k
    assert svc["SystemCallFilter"] == ["@system-service", "~@privileged"]
    assert "DynamicUser" not in svc and "ReadWritePaths" not in svc
    argv = one(svc, "ExecStart").split()
    assert argv[:2] == ["/usr/local/bin/tresor", "serve"]
    assert argv[argv.index("--data-dir") + 1] == "/var/lib/tresor"
    assert argv[argv.index("--listen") + 1] == "127.0.0.1:8737"
    # a clean stop (--shutdown-grace, 10 s by default) ends before systemd kills it
    assert int(one(svc, "TimeoutStopSec").rstrip("s")) > 10
    # every flag ExecStart gives, tresor serve accepts
    text = subprocess.run([str(tresor_bin()), "serve", "--help"], capture_output=True, text=True).stdout
    for flag in (a for a in argv if a.startswith("--")):
        assert re.search(rf"^  {re.escape(flag)}\b", text, re.M), flag
    users = (CONTRIB / "tresor.sysusers").read_text()
    assert re.search(r"^u tresor - .* /var/lib/tresor /usr/sbin/nologin$", users, re.M)


@pytest.fixture
def unit_copy(tmp_path):
    """The unit with ExecStart naming the binary under test."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed (package systemd): the unit cannot be verified here")
    text = UNIT.read_text().replace("/usr/local/bin/tresor", str(tresor_bin()))
    p = tmp_path / "tresor.service"
    p.write_text(text)
    return p


def test_systemd_analyze_verify(unit_copy):
    p = subprocess.run(["systemd-analyze", "verify", str(unit_copy)], capture_output=True, text=True,
                       cwd=unit_copy.parent, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "tresor.service" not in p.stderr, p.stderr     # no warning about the unit


def test_systemd_analyze_security(unit_copy):
    h = subprocess.run(["systemd-analyze", "security", "--help"], capture_output=True, text=True)
    if "--offline" not in h.stdout:
        pytest.skip("this systemd-analyze has no security --offline (systemd 250 and later)")
    p = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", str(unit_copy)],
                       capture_output=True, text=True, cwd=unit_copy.parent, timeout=60)
    m = re.search(r"Overall exposure level for tresor.service: ([0-9.]+) (\w+)", p.stdout)
    assert m, p.stdout + p.stderr
    assert float(m.group(1)) <= 2.0 and m.group(2) == "OK", m.group(0)
