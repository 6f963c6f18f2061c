"""
test_snapshot.py -- `tresor snapshot collect` (docs/SNAPSHOTS.md): a real
server holds users, groups, roles, managed policies, keys with policies,
grants, aliases and tags, and secrets with resource policies; the
collector reads them with the caller's credentials through the server's
own KMS, Secrets Manager, IAM and STS APIs, and the file holds AWS's
responses as they came, every page, with the manifest.  A caller refused
GetKeyPolicy on one key gets a gap for it, not a failure.
"""

import json
import os

from tresor_e2e import (ACCOUNT, REGION, allow, make_role, make_user, policy_doc,
                        run_tresor_cmd, trust_policy, unique)


def collect(srv, out, *extra, creds=None, profile="tresor"):
    env = srv.cli_env()
    if creds is not None:
        env.update({"AWS_ACCESS_KEY_ID": creds.access_key,
                    "AWS_SECRET_ACCESS_KEY": creds.secret_key})
        if creds.session_token:
            env["AWS_SESSION_TOKEN"] = creds.session_token
        args = []
    else:
        args = ["--profile", profile]
    p = srv.run_tresor("snapshot", "collect", "--out", str(out), "--endpoint-url", srv.endpoint,
                       "--region", REGION, *args, *extra, env_extra=env, timeout=120)
    return p


def build(srv):
    """A small account: a user in a group, a role, a managed policy, two
    keys (one with a grant, an alias and a tag), two secrets (one with a
    resource policy)."""
    iam, kms, sm = srv.iam(), srv.kms(), srv.sm()
    u = make_user(srv.root_user, unique("snap-u"))
    g = unique("snap-g")
    iam.create_group(GroupName=g)
    iam.add_user_to_group(GroupName=g, UserName=u.arn.split("/")[-1])
    pol = iam.create_policy(PolicyName=unique("snap-p"),
                            PolicyDocument=policy_doc(allow("secretsmanager:GetSecretValue")))
    iam.attach_group_policy(GroupName=g, PolicyArn=pol["Policy"]["Arn"])
    role = make_role(srv.root_user, unique("snap-r"), trust=trust_policy(u.arn))
    k1 = kms.create_key(Description="snap one", Tags=[{"TagKey": "team", "TagValue": "a"}])
    k1id = k1["KeyMetadata"]["KeyId"]
    alias = "alias/" + unique("snap")
    kms.create_alias(AliasName=alias, TargetKeyId=k1id)
    kms.create_grant(KeyId=k1id, GranteePrincipal=role["Arn"], Operations=["Decrypt"])
    k2id = kms.create_key(Description="snap two")["KeyMetadata"]["KeyId"]
    s1 = sm.create_secret(Name=unique("snap/s1"), SecretString="v1", KmsKeyId=k1id)["ARN"]
    s2 = sm.create_secret(Name=unique("snap/s2"), SecretString="v2")["ARN"]
    sm.put_resource_policy(SecretId=s1, ResourcePolicy=json.dumps(
        {"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": role["Arn"]},
             "Action": "secretsmanager:GetSecretValue", "Resource": "*"}]}))
    return dict(user=u, group=g, policy=pol["Policy"]["Arn"], role=role["Arn"], k1=k1id,
                k2=k2id, alias=alias, s1=s1, s2=s2)


def test_collect_reads_everything_as_aws_returned_it(tresor_factory, tmp_path):
    srv = tresor_factory("snap-collect")
    w = build(srv)
    out = tmp_path / "snap.json"
    p = collect(srv, out)
    assert p.returncode == 0, p.stderr
    assert oct(os.stat(out).st_mode & 0o777) == "0o600"
    snap = json.loads(out.read_text())
    assert snap["TresorSnapshot"] == 1
    m = snap["Manifest"]
    assert m["Account"] == ACCOUNT and m["Regions"] == [REGION] and m["Gaps"] == []
    # tresor does not serve Organizations (UnknownOperationException): no
    # organization, no gap, no member.
    assert "Organizations" not in snap
    assert m["CollectedBy"] == f"arn:aws:iam::{ACCOUNT}:root"
    assert snap["GetCallerIdentity"]["Account"] == ACCOUNT
    # IAM: the server's own GetAccountAuthorizationDetails pages.
    gaad = snap["GetAccountAuthorizationDetails"]
    assert isinstance(gaad, list) and gaad
    users = [x for pg in gaad for x in pg.get("UserDetailList", [])]
    roles = [x for pg in gaad for x in pg.get("RoleDetailList", [])]
    groups = [x for pg in gaad for x in pg.get("GroupDetailList", [])]
    pols = [x for pg in gaad for x in pg.get("Policies", [])]
    assert w["user"].arn in [u["Arn"] for u in users]
    assert [u["GroupList"] for u in users if u["Arn"] == w["user"].arn] == [[w["group"]]]
    r = [x for x in roles if x["Arn"] == w["role"]]
    assert len(r) == 1 and r[0]["AssumeRolePolicyDocument"]
    assert [g["AttachedManagedPolicies"] for g in groups if g["GroupName"] == w["group"]][0][0][
        "PolicyArn"] == w["policy"]
    assert [p_["PolicyVersionList"][0]["IsDefaultVersion"] for p_ in pols
            if p_["Arn"] == w["policy"]] == [True]
    # KMS, per key: DescribeKey, GetKeyPolicy, ListGrants, ListResourceTags.
    reg = snap["Regions"][REGION]
    listed = [k["KeyId"] for pg in reg["ListKeys"] for k in pg["Keys"]]
    assert w["k1"] in listed and w["k2"] in listed
    k1 = reg["Keys"][w["k1"]]
    assert k1["DescribeKey"]["KeyMetadata"]["Description"] == "snap one"
    assert json.loads(k1["GetKeyPolicy"]["Policy"])["Statement"]
    assert [g["GranteePrincipal"] for pg in k1["ListGrants"] for g in pg["Grants"]] == [w["role"]]
    assert [t for pg in k1["ListResourceTags"] for t in pg["Tags"]] == [
        {"TagKey": "team", "TagValue": "a"}]
    aliases = {a["AliasName"]: a.get("TargetKeyId") for pg in reg["ListAliases"]
               for a in pg["Aliases"]}
    assert aliases[w["alias"]] == w["k1"]
    # Secrets Manager: ListSecrets and each secret's resource policy.
    secrets = {s["ARN"]: s for pg in reg["ListSecrets"] for s in pg["SecretList"]}
    assert secrets[w["s1"]]["KmsKeyId"] in (w["k1"], f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{w['k1']}")
    assert "AWSCURRENT" in [st for v in secrets[w["s1"]]["SecretVersionsToStages"].values()
                            for st in v]
    rp = reg["Secrets"][w["s1"]]["GetResourcePolicy"]
    assert json.loads(rp["ResourcePolicy"])["Statement"][0]["Principal"]["AWS"] == w["role"]
    assert "ResourcePolicy" not in reg["Secrets"][w["s2"]]["GetResourcePolicy"]


def test_collect_pages_through_everything(tresor_factory, tmp_path):
    """More keys and secrets than one page of ListKeys (100) and
    ListSecrets: every one is collected, over several pages."""
    srv = tresor_factory("snap-pages")
    kms, sm = srv.kms(), srv.sm()
    made = {kms.create_key()["KeyMetadata"]["KeyId"] for _ in range(105)}
    sec = {sm.create_secret(Name=f"page/{i}", SecretString="x")["ARN"] for i in range(105)}
    out = tmp_path / "snap.json"
    p = collect(srv, out)
    assert p.returncode == 0, p.stderr
    reg = json.loads(out.read_text())["Regions"][REGION]
    assert len(reg["ListKeys"]) >= 2 and len(reg["ListSecrets"]) >= 2
    assert made <= set(reg["Keys"]) and sec <= set(reg["Secrets"])


def test_access_denied_is_a_gap(tresor_factory, tmp_path):
    """A caller who may read everything but one key's policy: that key's
    GetKeyPolicy is a gap in the manifest (call, region, resource, AWS's
    error), the rest is collected, the exit status is 0."""
    srv = tresor_factory("snap-gap")
    kms = srv.kms()
    hidden = kms.create_key()["KeyMetadata"]
    seen = kms.create_key()["KeyMetadata"]
    reader = make_user(srv.root_user, unique("snap-reader"), policy=policy_doc(
        allow(["iam:GetAccountAuthorizationDetails", "iam:ListOpenIDConnectProviders", "kms:List*", "kms:Describe*", "kms:Get*",
               "secretsmanager:List*", "secretsmanager:GetResourcePolicy"]),
        {"Effect": "Deny", "Action": "kms:GetKeyPolicy", "Resource": hidden["Arn"]}))
    out = tmp_path / "snap.json"
    p = collect(srv, out, creds=reader)
    assert p.returncode == 0, p.stderr
    snap = json.loads(out.read_text())
    gaps = snap["Manifest"]["Gaps"]
    assert [(g["Service"], g["Operation"], g["Region"], g["Resource"], g["ErrorCode"]) for g in gaps] \
        == [("kms", "GetKeyPolicy", REGION, hidden["Arn"], "AccessDeniedException")]
    assert reader.arn in gaps[0]["Message"] and "kms:GetKeyPolicy" in gaps[0]["Message"]
    keys = snap["Regions"][REGION]["Keys"]
    assert "GetKeyPolicy" not in keys[hidden["KeyId"]]
    assert "DescribeKey" in keys[hidden["KeyId"]]
    assert "GetKeyPolicy" in keys[seen["KeyId"]]


def test_collect_usage_and_failures(tresor_factory, tmp_path):
    srv = tresor_factory("snap-usage")
    p = srv.run_tresor("snapshot", "collect")
    assert p.returncode == 2 and "--out FILE is required" in p.stderr
    p = srv.run_tresor("snapshot", "collect", "--out", str(tmp_path / "x"), "--region", "no region!")
    assert p.returncode == 2 and "not a region" in p.stderr
    p = srv.run_tresor("snapshot", "gather")
    assert p.returncode == 2 and "unknown command 'gather'" in p.stderr
    # Wrong credentials: AWS's own error, nothing written.
    env = srv.cli_env()
    env.update({"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "x" * 40})
    out = tmp_path / "bad.json"
    p = srv.run_tresor("snapshot", "collect", "--out", str(out), "--endpoint-url", srv.endpoint,
                       "--region", REGION, env_extra=env, timeout=120)
    assert p.returncode == 1, p.stderr
    assert "GetCallerIdentity" in p.stderr and "InvalidClientTokenId" in p.stderr
    assert not out.exists()


FIXTURES = os.path.join(os.path.dirname(__file__), "..", "data", "snapshots")


def check(srv, *args):
    return srv.run_tresor("snapshot", "check", *[str(a) for a in args])


def test_check_reads_a_collected_snapshot(tresor_factory, tmp_path):
    """What collect wrote, check reads as the analysis will: the counts
    are the server's own."""
    srv = tresor_factory("snap-check")
    w = build(srv)
    out = tmp_path / "snap.json"
    assert collect(srv, out).returncode == 0
    p = check(srv, out, "--format", "json")
    assert p.returncode == 0, p.stderr
    [got] = json.loads(p.stdout)
    iam = srv.iam()
    assert got["Account"] == ACCOUNT and got["Regions"] == [REGION] and got["Gaps"] == []
    assert got["Users"] == len(iam.list_users()["Users"])
    assert got["Roles"] == len(iam.list_roles()["Roles"])
    assert got["Groups"] == 1 and got["Grants"] == 1
    assert got["Keys"] == len(srv.kms().list_keys()["Keys"])
    assert got["Secrets"] == 2 and got["ResourcePolicies"] == 1
    assert w["s1"]


def test_check_hand_made_fixtures(tmp_path):
    """Snapshots assembled from AWS CLI output shapes (docs examples,
    paging, a cross-account pair, a gap) load; the gap is reported."""
    d = str(tmp_path)
    a = os.path.join(FIXTURES, "aws-cli-111111111111.json")
    b = os.path.join(FIXTURES, "aws-cli-222222222222.json")
    p = run_tresor_cmd(["snapshot", "check", a, b], d, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert "account 111111111111" in p.stdout and "account 222222222222" in p.stdout
    assert "iam: 2 user(s), 2 group(s), 1 role(s), 1 managed policy" in p.stdout
    assert "kms: 2 key(s), 1 grant(s), 2 alias(es)" in p.stdout
    assert "secretsmanager: 2 secret(s), 1 with a resource policy" in p.stdout
    assert ("kms GetKeyPolicy us-west-2 arn:aws:kms:us-west-2:111111111111:key/"
            "0987dcba-09fe-87dc-65ba-ab0987654321: AccessDeniedException (in the manifest)") in p.stdout
    p = run_tresor_cmd(["snapshot", "check", "--format", "json", a], d, capture_output=True, text=True)
    [got] = json.loads(p.stdout)
    assert (got["Users"], got["Groups"], got["Roles"], got["Policies"], got["Keys"], got["Secrets"]) == \
        (2, 2, 1, 1, 2, 2)
    assert [g["InManifest"] for g in got["Gaps"]] == [True]


def test_check_refuses_bad_snapshots(tmp_path):
    cases = [
        ("{", "not JSON (line 1, column 1): string or '}' expected near end of file"),
        ("{}", "TresorSnapshot (the format's version) is missing: not a snapshot"),
        ('{"TresorSnapshot": 1}', "Manifest is missing"),
        ('{"TresorSnapshot": 1, "Manifest": {"Account": "1", "Regions": ["us-east-1"], '
         '"CollectedAt": "x"}}', "Manifest: Account '1' is not a 12-digit account id"),
        ('{"TresorSnapshot": 1, "Manifest": {"Account": "111122223333", "Regions": ["us-east-1"], '
         '"CollectedAt": "x"}, "Regions": {"us-east-1": {"Keys": {"k": {"DescribeKey": {}}}}}}',
         "Regions.us-east-1.Keys.k.DescribeKey: KeyMetadata is missing"),
    ]
    for i, (text, want) in enumerate(cases):
        f = tmp_path / f"bad{i}.json"
        f.write_text(text)
        p = run_tresor_cmd(["snapshot", "check", str(f)], str(tmp_path), capture_output=True, text=True)
        assert p.returncode == 1, (text, p.stdout, p.stderr)
        assert p.stderr == f"tresor snapshot check: {f}: {want}\n", p.stderr
        assert p.stdout == ""
    p = run_tresor_cmd(["snapshot", "check"], str(tmp_path), capture_output=True, text=True)
    assert p.returncode == 2 and "a snapshot FILE is required" in p.stderr


class FakeAws:
    """A stand-in AWS endpoint for the collector: each call's operation
    (X-Amz-Target's, or the Query protocol's Action) is recorded and
    answered by reply(op, body) -> (status, body) -- body a str (XML) or
    an object (JSON).  Subclasses say what AWS answers."""

    EMPTY = {
        "GetCallerIdentity": "<GetCallerIdentityResponse><GetCallerIdentityResult><Arn>arn:aws:iam::"
        "{acct}:user/x</Arn><UserId>AIDAX</UserId><Account>{acct}</Account>"
        "</GetCallerIdentityResult></GetCallerIdentityResponse>",
        "GetAccountAuthorizationDetails": "<GetAccountAuthorizationDetailsResponse>"
        "<GetAccountAuthorizationDetailsResult><IsTruncated>false</IsTruncated>"
        "</GetAccountAuthorizationDetailsResult></GetAccountAuthorizationDetailsResponse>",
        "ListKeys": {"Keys": [], "Truncated": False},
        "ListAliases": {"Aliases": [], "Truncated": False},
        "ListSecrets": {"SecretList": []},
        "ListOpenIDConnectProviders": "<ListOpenIDConnectProvidersResponse>"
        "<ListOpenIDConnectProvidersResult><OpenIDConnectProviderList/>"
        "</ListOpenIDConnectProvidersResult></ListOpenIDConnectProvidersResponse>",
    }

    def __init__(self, account="111122223333"):
        import http.server
        import threading
        fake = self
        self.account = account
        self.calls = []

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0"))).decode()
                target = self.headers.get("X-Amz-Target")
                op = target.split(".")[-1] if target else dict(
                    kv.split("=", 1) for kv in body.split("&"))["Action"]
                fake.calls.append(op)
                status, r = fake.reply(op, body)
                if isinstance(r, str):
                    self._send(status, "text/xml", r)
                else:
                    self._send(status, "application/x-amz-json-1.1", json.dumps(r))

            def _send(self, status, ctype, text):
                b = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(b)))
                self.end_headers()
                self.wfile.write(b)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def empty(self, op):
        r = self.EMPTY[op]
        return 200, r.format(acct=self.account) if isinstance(r, str) else r

    def reply(self, op, body):
        return self.empty(op)

    def collect(self, tmp_path, region="eu-west-1"):
        """`tresor snapshot collect` against this endpoint; the snapshot."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SECRET_ACCESS_KEY": "x" * 40,
                    "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
                    "AWS_EC2_METADATA_DISABLED": "true"})
        out = tmp_path / "s.json"
        try:
            p = run_tresor_cmd(["snapshot", "collect", "--out", str(out), "--endpoint-url", self.url,
                                "--region", region], str(tmp_path), capture_output=True, text=True,
                               env=env, timeout=120)
        finally:
            self.close()
        assert p.returncode == 0, p.stderr
        return json.loads(out.read_text())

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class _FakeAws(FakeAws):
    """An endpoint that throttles: every kind of call is answered
    ThrottlingException the first two times, then with an empty (but
    well-formed) response, so the collector's retries with backoff are seen
    to happen and to succeed.  The account is in no organization."""

    def __init__(self):
        self.seen = {}
        super().__init__()

    def reply(self, op, body):
        n = self.seen[op] = self.seen.get(op, 0) + 1
        if n <= 2:
            if op in self.EMPTY and isinstance(self.EMPTY[op], str):
                return 400, ("<ErrorResponse><Error><Type>Sender</Type><Code>Throttling"
                             "</Code><Message>Rate exceeded</Message></Error></ErrorResponse>")
            return 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
        if op == "DescribeOrganization":
            return 400, {"__type": "AWSOrganizationsNotInUseException",
                         "Message": "Your account is not a member of an organization."}
        return self.empty(op)


def test_throttling_is_retried(tmp_path):
    fake = _FakeAws()
    snap = fake.collect(tmp_path)
    ops = ["GetCallerIdentity", "GetAccountAuthorizationDetails", "ListKeys", "ListAliases", "ListSecrets",
           "DescribeOrganization", "ListOpenIDConnectProviders"]
    assert fake.seen == {op: 3 for op in ops}
    assert snap["Organizations"] == {}      # in no organization, as AWS said
    assert snap["Manifest"]["Account"] == "111122223333" and snap["Manifest"]["Gaps"] == []
    assert snap["Regions"]["eu-west-1"]["ListKeys"] == [{"Keys": [], "Truncated": False}]


def test_progress_on_a_terminal(tresor_factory, tmp_path):
    """Standard error a terminal: a progress line counting the calls,
    rewritten in place and cleared before the summary; not a terminal
    (every other test): no progress, only the summary."""
    import pty
    import subprocess
    srv = tresor_factory("snap-tty")
    srv.kms().create_key()
    env = dict(srv._base_env(), **srv.cli_env())
    out = tmp_path / "s.json"
    master, slave = pty.openpty()
    from tresor_e2e import tresor_cmd
    argv, _ = tresor_cmd(["snapshot", "collect", "--out", str(out), "--endpoint-url", srv.endpoint,
                          "--region", REGION, "--profile", "tresor"], str(tmp_path))
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=slave, env=env)
    os.close(slave)
    got = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        got += chunk
    assert p.wait(timeout=120) == 0, got
    os.close(master)
    text = got.decode()
    assert "\r\x1b[K    1 calls  us-east-1 sts GetCallerIdentity" in text
    assert "kms DescribeKey arn:aws:kms:" in text
    assert "tresor snapshot collect: account " + ACCOUNT in text
    p = collect(srv, tmp_path / "t.json")
    assert "\x1b[K" not in p.stderr and p.stderr.startswith("tresor snapshot collect: account ")
