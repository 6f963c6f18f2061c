"""Secret rotation with hooks in place of Lambda functions
(`tresor serve --rotation-hooks DIR`, docs/ROTATION.md): RotateSecret runs
createSecret, setSecret, testSecret and finishSecret as DIR/NAME, each with
the event on standard input and the execution role's credentials; a failed
step leaves AWSPENDING and the next RotateSecret answers "A previous
rotation isn't complete" and reattempts it with the same token;
CancelRotateSecret; DescribeSecret's rotation fields; authorization."""
import json
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from tresor_e2e import (
    ACCOUNT, REGION, TresorServer, allow, denied_msg, make_role, make_user, raises_aws,
    scaled, tresor_bin as srv_bin, unique,
)

HOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hooks")
IN_PROGRESS = "A previous rotation isn't complete. That rotation will be reattempted."
CANT_INVOKE = ("Secrets Manager cannot invoke the specified Lambda function. Ensure that the "
               "function policy grants access to the principal secretsmanager.amazonaws.com.")
TIMEOUT = 3


def fn_arn(name):
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


@pytest.fixture(scope="module")
def rot(tmp_path_factory):
    hooks = tmp_path_factory.mktemp("hooks")
    srv = TresorServer("rotation", tmp_path_factory.mktemp("tresor-rotation"))
    srv.hooks = hooks
    srv.start(args=["--rotation-hooks", str(hooks), "--rotation-timeout", str(TIMEOUT)])
    root = srv.root_user
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    srv.exec_role = make_role(root, unique("rotator"), trust=trust,
                              policy=allow(["secretsmanager:*", "kms:Decrypt", "kms:GenerateDataKey"]))
    yield srv
    srv.close()


def install(srv, name, source=None, *, text=None, role=None):
    """DIR/name: a copy of hooks/source (or text), executable, and
    DIR/name.role naming the execution role."""
    path = srv.hooks / name
    if text is not None:
        path.write_text(text)
    else:
        shutil.copyfile(os.path.join(HOOKS, source), path)
    path.chmod(0o755)
    (srv.hooks / f"{name}.role").write_text((role or srv.exec_role["Arn"]) + "\n")
    return fn_arn(name)


FAILING = "#!/bin/sh\ncat >/dev/null\necho 'setSecret: the database refused the new password' >&2\nexit 3\n"
SLOW = "#!/bin/sh\ncat >/dev/null\nexec sleep 60\n"


def wait_for(fn, timeout=30.0):
    deadline = time.monotonic() + scaled(timeout)
    while True:
        v = fn()
        if v:
            return v
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def stages(sm, arn):
    return sm.describe_secret(SecretId=arn)["VersionIdsToStages"]


def test_template_hook_rotates_with_boto3(rot):
    sm = rot.root_user.client("secretsmanager")
    fn = install(rot, unique("tmpl"), "template_rotation.py")
    s = sm.create_secret(Name=unique("rot"), SecretString="first-password")
    first = s["VersionId"]
    token = str(uuid.uuid4())
    resp = sm.rotate_secret(SecretId=s["ARN"], RotationLambdaARN=fn, ClientRequestToken=token,
                            RotationRules={"AutomaticallyAfterDays": 30})
    assert resp["ARN"] == s["ARN"] and resp["Name"] == s["Name"] and resp["VersionId"] == token
    d = wait_for(lambda: (lambda d: d if "LastRotatedDate" in d else None)(sm.describe_secret(SecretId=s["ARN"])))
    assert d["RotationEnabled"] is True
    assert d["RotationLambdaARN"] == fn
    assert d["RotationRules"] == {"AutomaticallyAfterDays": 30}
    assert d["NextRotationDate"] > d["LastRotatedDate"]
    assert d["VersionIdsToStages"][token] == ["AWSCURRENT"]
    assert d["VersionIdsToStages"][first] == ["AWSPREVIOUS"]
    new = sm.get_secret_value(SecretId=s["ARN"])
    assert new["VersionId"] == token and new["SecretString"] != "first-password"
    assert len(new["SecretString"]) == 32
    assert sm.get_secret_value(SecretId=s["ARN"], VersionStage="AWSPREVIOUS")["SecretString"] == "first-password"
    listed = [x for x in sm.list_secrets()["SecretList"] if x["ARN"] == s["ARN"]][0]
    assert listed["RotationEnabled"] is True and listed["RotationLambdaARN"] == fn
    assert listed["RotationRules"] == {"AutomaticallyAfterDays": 30}
    # The steps ran as the execution role: their writes are its session's.
    assert "rotation of %s done" % s["ARN"] in rot.log_tail(400)


def test_failed_step_leaves_pending_and_resumes_with_the_same_token(rot):
    sm = rot.root_user.client("secretsmanager")
    name = unique("flaky")
    fn = install(rot, name, text=FAILING)
    s = sm.create_secret(Name=unique("rot"), SecretString="v1")
    token = sm.rotate_secret(SecretId=s["ARN"], RotationLambdaARN=fn,
                             RotationRules={"ScheduleExpression": "rate(10 days)"})["VersionId"]
    wait_for(lambda: "hook %s createSecret exited with 3" % name in rot.log_tail(400))
    assert "the database refused the new password" in rot.log_tail(400)
    assert stages(sm, s["ARN"])[token] == ["AWSPENDING"]
    with raises_aws("ResourceNotFoundException"):
        sm.get_secret_value(SecretId=s["ARN"], VersionStage="AWSPENDING")
    # Fixed: the next RotateSecret says the rotation is not complete, and
    # reattempts it with the same token.
    install(rot, name, "template_rotation.py")
    with raises_aws("InvalidRequestException", IN_PROGRESS):
        sm.rotate_secret(SecretId=s["ARN"])
    wait_for(lambda: stages(sm, s["ARN"]).get(token) == ["AWSCURRENT"])
    d = sm.describe_secret(SecretId=s["ARN"])
    assert d["RotationRules"] == {"AutomaticallyAfterDays": 10, "ScheduleExpression": "rate(10 days)"}
    assert len(d["VersionIdsToStages"]) == 2


def test_slow_hook_is_killed_at_its_limit_and_blocks_a_second_rotation(rot):
    sm = rot.root_user.client("secretsmanager")
    name = unique("slow")
    fn = install(rot, name, text=SLOW)
    s = sm.create_secret(Name=unique("rot"), SecretString="v1")
    token = sm.rotate_secret(SecretId=s["ARN"], RotationLambdaARN=fn)["VersionId"]
    # While it runs: the rotation is in progress.
    with raises_aws("InvalidRequestException", IN_PROGRESS):
        sm.rotate_secret(SecretId=s["ARN"], RotationLambdaARN=fn)
    wait_for(lambda: "hook %s createSecret timed out after %d s" % (name, TIMEOUT) in rot.log_tail(400))
    assert stages(sm, s["ARN"])[token] == ["AWSPENDING"]
    assert sm.get_secret_value(SecretId=s["ARN"])["SecretString"] == "v1"


def test_cancel_rotate_secret(rot):
    sm = rot.root_user.client("secretsmanager")
    fn = install(rot, unique("tmpl"), "template_rotation.py")
    s = sm.create_secret(Name=unique("rot"), SecretString="v1")
    sm.rotate_secret(SecretId=s["ARN"], RotationLambdaARN=fn, RotationRules={"AutomaticallyAfterDays": 7},
                     RotateImmediately=False)
    d = sm.describe_secret(SecretId=s["ARN"])
    assert d["RotationEnabled"] is True and "NextRotationDate" in d and "LastRotatedDate" not in d
    assert list(d["VersionIdsToStages"].values()) == [["AWSCURRENT"]]
    resp = sm.cancel_rotate_secret(SecretId=s["ARN"])
    assert resp["ARN"] == s["ARN"] and resp["Name"] == s["Name"] and "VersionId" not in resp
    d = sm.describe_secret(SecretId=s["ARN"])
    assert d["RotationEnabled"] is False and "NextRotationDate" not in d
    assert d["RotationLambdaARN"] == fn


def test_aws_cli_rotate_secret(rot):
    sm = rot.root_user.client("secretsmanager")
    fn = install(rot, unique("tmpl"), "template_rotation.py")
    s = sm.create_secret(Name=unique("rot"), SecretString="cli-v1")
    rc, out, err = rot.cli("secretsmanager", "rotate-secret", "--secret-id", s["Name"],
                           "--rotation-lambda-arn", fn,
                           "--rotation-rules", '{"ScheduleExpression": "cron(0 4 ? * MON *)", "Duration": "2h"}')
    assert rc == 0, err
    assert out["ARN"] == s["ARN"] and out["Name"] == s["Name"]
    wait_for(lambda: stages(sm, s["ARN"]).get(out["VersionId"]) == ["AWSCURRENT"])
    rc, d, err = rot.cli("secretsmanager", "describe-secret", "--secret-id", s["Name"])
    assert rc == 0, err
    assert d["RotationRules"] == {"ScheduleExpression": "cron(0 4 ? * MON *)", "Duration": "2h"}
    assert d["RotationEnabled"] is True


def test_missing_hook_or_function(rot):
    sm = rot.root_user.client("secretsmanager")
    s = sm.create_secret(Name=unique("rot"), SecretString="v1")
    with raises_aws("InvalidRequestException", "No Lambda rotation function ARN is associated with this secret."):
        sm.rotate_secret(SecretId=s["ARN"])
    with raises_aws("AccessDeniedException", CANT_INVOKE):
        sm.rotate_secret(SecretId=s["ARN"], RotationLambdaARN=fn_arn("no-such-hook"))
    # A role that does not trust Lambda: the hook never runs.
    name = unique("untrusted")
    other = make_role(rot.root_user, unique("r"), trust={"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}]})
    fn = install(rot, name, "template_rotation.py", role=other["Arn"])
    token = sm.rotate_secret(SecretId=s["ARN"], RotationLambdaARN=fn)["VersionId"]
    wait_for(lambda: "no credentials of the execution role of %s" % name in rot.log_tail(400))
    assert stages(sm, s["ARN"])[token] == ["AWSPENDING"]
    d = sm.describe_secret(SecretId=s["ARN"])
    assert "LastRotatedDate" not in d


@pytest.mark.parametrize("rules,msg", [
    ({"AutomaticallyAfterDays": 3, "ScheduleExpression": "rate(3 days)"},
     "You can't specify both AutomaticallyAfterDays and ScheduleExpression."),
    ({"ScheduleExpression": "rate(2 hours)"},
     "Invalid ScheduleExpression: a secret can be rotated at most every four hours"),
    ({"ScheduleExpression": "every day"}, "Invalid ScheduleExpression: use rate() or cron()"),
    ({"ScheduleExpression": "cron(0 4 * * * *)"},
     "Invalid ScheduleExpression: one of day-of-month and day-of-week must be '?'"),
    ({"ScheduleExpression": "cron(0 22 * * ? *)", "Duration": "4h"},
     "The rotation window must not extend into the next UTC day."),
])
def test_bad_rotation_rules_change_nothing(rot, rules, msg):
    sm = rot.root_user.client("secretsmanager")
    fn = install(rot, unique("tmpl"), "template_rotation.py")
    s = sm.create_secret(Name=unique("rot"), SecretString="v1")
    with raises_aws("InvalidParameterException", msg):
        sm.rotate_secret(SecretId=s["ARN"], RotationLambdaARN=fn, RotationRules=rules)
    d = sm.describe_secret(SecretId=s["ARN"])
    assert "RotationEnabled" not in d and len(d["VersionIdsToStages"]) == 1


def test_authorization(rot):
    root = rot.root_user
    sm = root.client("secretsmanager")
    fn = install(rot, unique("tmpl"), "template_rotation.py")
    other_fn = fn_arn("someone-else")
    s = sm.create_secret(Name=unique("rot"), SecretString="v1")
    # secretsmanager:RotateSecret only for this function, no lambda:InvokeFunction.
    u = make_user(root, policy=allow("secretsmanager:RotateSecret", s["ARN"],
                                     condition={"StringEquals": {"secretsmanager:RotationLambdaARN": fn}}))
    usm = u.client("secretsmanager")
    with raises_aws("AccessDeniedException", denied_msg(u.arn, "secretsmanager:RotateSecret", s["ARN"])):
        usm.rotate_secret(SecretId=s["ARN"], RotationLambdaARN=other_fn)
    with raises_aws("AccessDeniedException", denied_msg(u.arn, "lambda:InvokeFunction", fn)):
        usm.rotate_secret(SecretId=s["ARN"], RotationLambdaARN=fn)
    d = sm.describe_secret(SecretId=s["ARN"])
    assert "RotationEnabled" not in d and len(d["VersionIdsToStages"]) == 1
    root.iam.put_user_policy(UserName=u.name, PolicyName="invoke",
                             PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
                                 allow("lambda:InvokeFunction", fn)]}))
    token = usm.rotate_secret(SecretId=s["ARN"], RotationLambdaARN=fn)["VersionId"]
    wait_for(lambda: stages(sm, s["ARN"]).get(token) == ["AWSCURRENT"])
    with raises_aws("AccessDeniedException", denied_msg(u.arn, "secretsmanager:CancelRotateSecret", s["ARN"])):
        usm.cancel_rotate_secret(SecretId=s["ARN"])


def test_scheduled_rotation_runs_when_due(tresor_factory, tmp_path):
    """The schedule: RotateImmediately=False sets NextRotationDate from the
    rules; a server whose clock is past it (TRESOR_CLOCK_OFFSET) rotates
    the secret by itself, once, and schedules the next."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    args = ["--rotation-hooks", str(hooks), "--rotation-timeout", "20"]
    srv = tresor_factory("sched", args=args)
    srv.hooks = hooks
    root = srv.root_user
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    srv.exec_role = make_role(root, unique("rotator"), trust=trust,
                              policy=allow(["secretsmanager:*", "kms:Decrypt", "kms:GenerateDataKey"]))
    fn = install(srv, unique("tmpl"), "template_rotation.py")
    sm = root.client("secretsmanager")
    s = sm.create_secret(Name=unique("sched"), SecretString="day-one")
    sm.rotate_secret(SecretId=s["ARN"], RotationLambdaARN=fn, RotateImmediately=False,
                     RotationRules={"AutomaticallyAfterDays": 2})
    d = sm.describe_secret(SecretId=s["ARN"])
    today = int(time.time()) // 86400 * 86400
    assert int(d["NextRotationDate"].timestamp()) == today + 2 * 86400
    assert "LastRotatedDate" not in d
    # Not due yet: a restart changes nothing.
    srv.stop()
    srv.start(args=args)
    assert len(stages(root.client("secretsmanager"), s["ARN"])) == 1
    # Three days later the start-up maintenance finds it due.
    srv.stop()
    srv.start(args=args, env_extra={"TRESOR_CLOCK_OFFSET": str(3 * 86400)})
    sm = root.client("secretsmanager")
    d = wait_for(lambda: (lambda d: d if "LastRotatedDate" in d else None)(sm.describe_secret(SecretId=s["ARN"])))
    cur = [v for v, st in d["VersionIdsToStages"].items() if "AWSCURRENT" in st]
    assert cur != [s["VersionId"]] and d["VersionIdsToStages"][s["VersionId"]] == ["AWSPREVIOUS"]
    assert sm.get_secret_value(SecretId=s["ARN"])["SecretString"] != "day-one"
    last = int(d["LastRotatedDate"].timestamp())
    assert int(d["NextRotationDate"].timestamp()) == last // 86400 * 86400 + 2 * 86400
    assert srv.log_tail(400).count("rotation of %s: scheduled" % s["ARN"]) == 1


# ---- a real PostgreSQL user's password ---------------------------------------------

@pytest.fixture
def pg_cluster(tmp_path):
    """A throwaway PostgreSQL cluster of our own (scripts/pg-test-cluster,
    as the store's tests start one) in which the user "app" must give its
    password: pg_hba asks scram-sha-256 of it, trust of the rest."""
    d = Path(tempfile.mkdtemp(prefix="tresor-rot-pg."))
    d.rmdir()
    script = os.path.join(os.path.dirname(HOOKS), "..", "..", "scripts", "pg-test-cluster")
    p = subprocess.run([script, "start", str(d)], capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        pytest.fail(f"pg-test-cluster start failed: {p.stderr}", pytrace=False)
    url = p.stdout.strip()
    try:
        hba = d / "data" / "pg_hba.conf"
        hba.write_text("local all app scram-sha-256\n" + hba.read_text())
        psql_admin(url, "CREATE USER app LOGIN PASSWORD 'first-Pa55word'; SELECT pg_reload_conf();")
        yield d, url
    finally:
        subprocess.run([script, "stop", str(d)], capture_output=True, timeout=120)


def psql_admin(url, sql):
    p = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr


def can_login(sock_dir, password):
    env = {"PATH": "/usr/bin:/bin", "PGPASSWORD": password}
    p = subprocess.run(["psql", "-X", "-q", "-h", str(sock_dir), "-U", "app", "-d", "postgres", "-c", "SELECT 1"],
                       env=env, capture_output=True, text=True, timeout=30)
    return p.returncode == 0


def test_postgres_user_password_rotation(rot, pg_cluster):
    sock, _ = pg_cluster
    assert can_login(sock, "first-Pa55word") and not can_login(sock, "wrong")
    sm = rot.root_user.client("secretsmanager")
    fn = install(rot, unique("pg"), "postgres_rotation.py")
    value = {"engine": "postgres", "host": str(sock), "port": 5432, "username": "app",
             "password": "first-Pa55word", "dbname": "postgres"}
    s = sm.create_secret(Name=unique("db/app"), SecretString=json.dumps(value))
    token = sm.rotate_secret(SecretId=s["ARN"], RotationLambdaARN=fn,
                             RotationRules={"AutomaticallyAfterDays": 30})["VersionId"]
    wait_for(lambda: stages(sm, s["ARN"]).get(token) == ["AWSCURRENT"], timeout=60)
    new = json.loads(sm.get_secret_value(SecretId=s["ARN"])["SecretString"])
    assert new["password"] != "first-Pa55word" and new["username"] == "app"
    # setSecret changed the password in PostgreSQL; testSecret logged in with it.
    assert can_login(sock, new["password"])
    assert not can_login(sock, "first-Pa55word")
    log = rot.log_tail(600)
    assert "setSecret: Successfully set password for user app" in log
    assert "testSecret: Successfully signed into PostgreSQL DB" in log
    assert new["password"] not in log          # the hook logs no secret, nor does the server
    # A second rotation starts from the new password (AWSPREVIOUS keeps the first).
    token2 = sm.rotate_secret(SecretId=s["ARN"])["VersionId"]
    wait_for(lambda: stages(sm, s["ARN"]).get(token2) == ["AWSCURRENT"], timeout=60)
    newer = json.loads(sm.get_secret_value(SecretId=s["ARN"])["SecretString"])
    assert can_login(sock, newer["password"]) and not can_login(sock, new["password"])
    prev = json.loads(sm.get_secret_value(SecretId=s["ARN"], VersionStage="AWSPREVIOUS")["SecretString"])
    assert prev["password"] == new["password"]


def test_hooks_reach_a_server_with_a_generated_certificate(tresor_factory, tmp_path):
    """Over TLS made by --tls-generate the hooks get AWS_CA_BUNDLE naming
    the server's CA, so boto3 in the hook verifies it."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    srv = tresor_factory("tls-rot", start=False)
    srv.tls = True
    srv.start(args=["--tls-generate", "--rotation-hooks", str(hooks)])
    srv.hooks = hooks
    root = srv.root_user
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    srv.exec_role = make_role(root, unique("rotator"), trust=trust, policy=allow(["secretsmanager:*"]))
    fn = install(srv, unique("tmpl"), "template_rotation.py")
    sm = root.client("secretsmanager")
    s = sm.create_secret(Name=unique("tls"), SecretString="v1")
    token = sm.rotate_secret(SecretId=s["ARN"], RotationLambdaARN=fn)["VersionId"]
    wait_for(lambda: stages(sm, s["ARN"]).get(token) == ["AWSCURRENT"])
    assert sm.describe_secret(SecretId=s["ARN"])["RotationEnabled"] is True


def test_audit_log_records_each_step(tresor_factory, tmp_path):
    """With --audit-log each step is a line of its own (operation
    RotationHook, action lambda:InvokeFunction, by Secrets Manager on the
    secret and the function) with how the hook ended and its standard
    error; the chain still verifies."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    log = tmp_path / "audit.log"
    srv = tresor_factory("audit-rot", args=["--rotation-hooks", hooks, "--audit-log", log])
    srv.hooks = hooks
    root = srv.root_user
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    srv.exec_role = make_role(root, unique("rotator"), trust=trust, policy=allow(["secretsmanager:*"]))
    fn = install(srv, unique("flaky"), text=FAILING)
    sm = root.client("secretsmanager")
    s = sm.create_secret(Name=unique("aud"), SecretString="v1")
    token = sm.rotate_secret(SecretId=s["ARN"], RotationLambdaARN=fn)["VersionId"]

    def hook_lines():
        lines = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
        return [x for x in lines if x.get("operation") == "RotationHook"]
    got = wait_for(hook_lines)
    assert len(got) == 1                      # createSecret failed: no further step ran
    line = got[0]
    assert line["principal"] == "secretsmanager.amazonaws.com"
    assert line["action"] == "lambda:InvokeFunction"
    assert line["resources"] == [s["ARN"], fn]
    assert line["error"] == "RotationStepFailed"
    req = line["request"]
    assert req["Step"] == "createSecret" and req["SecretId"] == s["ARN"] and req["ExitCode"] == 3
    assert req["TimedOut"] is False
    assert req["Stderr"] == "setSecret: the database refused the new password\n"
    assert token in json.dumps(req)           # the token, or its HMAC when it is a sensitive member
    srv.stop()
    p = subprocess.run([str(srv_bin()), "audit", "verify", str(log), "--public-key",
                        str(srv.data_dir / "audit.pub")], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
