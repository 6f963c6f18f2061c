"""
test_pytest_tresor.py -- contrib/pytest_tresor.py, the pytest plugin a test
suite uses to get a `tresor serve --dev` (README, "Use it in your test
suite").

Each test writes a small suite into a temporary directory and runs it with
Debian's python3 -m pytest, the plugin loaded both ways the README shows
(-p pytest_tresor with contrib/ on PYTHONPATH; pytest_plugins in a
conftest.py next to a copy of the plugin).  Covered: state is wiped
between tests; the environment points botocore at the server with made-up
credentials, and AWS_PROFILE is dropped; the tresor_client factory works on
boto3 1.26 (which does not read AWS_ENDPOINT_URL); --tresor-seed and
--tresor-account-id (and TRESOR_BIN) reach the server; a missing binary
fails with a message saying so; the server is stopped cleanly at the end.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import readme
from tresor_e2e import REPO, scaled, tresor_bin

PLUGIN = REPO / "contrib" / "pytest_tresor.py"

SUITE = '''
import os
import boto3

def test_first_makes_a_key(tresor_client):
    kms = tresor_client("kms")
    kms.create_key(Description="first")
    assert len(kms.list_keys()["Keys"]) == 1

def test_second_starts_fresh(tresor, tresor_client):
    assert tresor_client("kms").list_keys()["Keys"] == []
    assert tresor_client("sts").get_caller_identity()["Account"] == tresor.account_id

def test_environment(tresor):
    assert os.environ["AWS_ENDPOINT_URL"] == tresor.url
    assert os.environ["AWS_ACCESS_KEY_ID"] == "test"
    assert os.environ["AWS_DEFAULT_REGION"] == "us-east-1"
    assert "AWS_PROFILE" not in os.environ
    # Code under test that builds its own client: credentials and region
    # come from the environment (the endpoint too, with botocore >= 1.31.0).
    kms = boto3.client("kms", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    assert kms.list_keys()["Keys"] == []
'''

SEEDED = '''
def test_seeded(tresor, tresor_client):
    kms = tresor_client("kms", region_name="eu-west-1")
    arn = kms.describe_key(KeyId="alias/app")["KeyMetadata"]["Arn"]
    assert arn.startswith("arn:aws:kms:eu-west-1:000000000000:key/")
    kms.create_key()
    assert len(kms.list_keys()["Keys"]) == 2

def test_seed_again_after_reset(tresor_client):
    assert len(tresor_client("kms", region_name="eu-west-1").list_keys()["Keys"]) == 1
'''


def run_suite(tmp_path, *args, env_extra=None, pythonpath=True):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("TRESOR_") and not k.startswith("AWS_")}
    env["HOME"] = str(tmp_path)
    env["AWS_PROFILE"] = "no-such-profile"       # the plugin must drop it
    if pythonpath:
        env["PYTHONPATH"] = str(PLUGIN.parent)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True,
                          timeout=scaled(120))


def test_plugin_with_p_option(tmp_path):
    (tmp_path / "test_suite.py").write_text(SUITE)
    p = run_suite(tmp_path, "-p", "pytest_tresor", "--tresor-bin", str(tresor_bin()))
    assert p.returncode == 0, p.stdout + p.stderr
    assert "3 passed" in p.stdout and "error" not in p.stdout.lower(), p.stdout


def test_plugin_from_conftest_and_tresor_bin(tmp_path):
    shutil.copy(PLUGIN, tmp_path / "pytest_tresor.py")
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["pytest_tresor"]\n')
    (tmp_path / "test_suite.py").write_text(SUITE)
    p = run_suite(tmp_path, pythonpath=False, env_extra={"TRESOR_BIN": str(tresor_bin())})
    assert p.returncode == 0, p.stdout + p.stderr
    assert "3 passed" in p.stdout, p.stdout


def test_plugin_seed_and_account(tmp_path):
    seed = tmp_path / "seed.json"
    seed.write_text(readme.file_block("seed.json"))
    (tmp_path / "test_seeded.py").write_text(SEEDED)
    p = run_suite(tmp_path, "-p", "pytest_tresor", "--tresor-bin", str(tresor_bin()),
                  "--tresor-seed", "seed.json", "--tresor-account-id", "000000000000")
    assert p.returncode == 0, p.stdout + p.stderr
    assert "2 passed" in p.stdout, p.stdout


def test_plugin_without_binary(tmp_path):
    (tmp_path / "test_suite.py").write_text(SUITE)
    p = run_suite(tmp_path, "-p", "pytest_tresor", "--tresor-bin", str(tmp_path / "nope"))
    assert p.returncode != 0
    assert "no tresor binary" in p.stdout, p.stdout
    assert not Path(tmp_path / "nope").exists()
