"""
test_who_can_random.py -- `tresor who-can-decrypt` agrees with the server
on random scenarios, a few hundred of them (issue 5, "CI runs a few
hundred"; docs/AUTHORIZATION.md 7 decides any disagreement).

Each seed makes a scenario in an account A of its own, which holds the
secrets, and in B, the other account (shared by a batch of seeds, each
with its own principals there): users (identity policies from a list of
building blocks, groups, a managed policy, permissions boundaries, tags),
roles (trust policies naming the account, a user, an earlier role, the
other account or one of its users, some with conditions), customer
managed keys (delegating or not, key-policy statements naming principals
of both accounts, some with conditions on kms:ViaService,
kms:CallerAccount or the encryption context, Deny statements), grants with
and without constraints, the managed key, and secrets with resource
policies (Allow, Deny, cross-account, "*").  Blocks use Deny, NotAction,
NotResource, conditions on known keys (aws:PrincipalTag, aws:PrincipalArn,
aws:PrincipalAccount, kms:ViaService, kms:EncryptionContext:SecretARN),
which the analysis must decide, and on request-time keys (aws:SourceIp,
aws:CurrentTime, sts:ExternalId on trust), which make an answer
"conditional" and are left out of the comparison.

Ground truth: every principal of the scenario calls GetSecretValue for
real on every secret, and tries every role of the scenario with a real
AssumeRole; roles act through sessions the harness user obtains (every
trust policy also names it).  A principal reads a secret when it, or a
role it reaches by real AssumeRole calls, reads it.  The calls are signed
here with botocore's SigV4 over keep-alive connections, on a few threads:
no boto3 client per principal.

Speed: seeds are set up BATCH at a time on a fresh server (its store
stays small, so each analysis run loads few principals), in parallel;
then each seed's real calls and its one `who-can-decrypt --all --account
A`, three seeds at a time.

TRESOR_WHO_CAN_SEEDS  number of seeds (default 200); TRESOR_WHO_CAN_SEED0
the first (default 1).  Seeds that once disagreed are in REGRESSION and
always run.
"""

import concurrent.futures
import json
import os
import random
import threading
import time
import urllib.parse
import xml.etree.ElementTree as ET
import http.client

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tresor_e2e import REGION, TresorServer, make_managed_policy, policy_doc

GSV = "secretsmanager:GetSecretValue"
VIA = f"secretsmanager.{REGION}.amazonaws.com"
SEEDS = int(os.environ.get("TRESOR_WHO_CAN_SEEDS", "200"))
SEED0 = int(os.environ.get("TRESOR_WHO_CAN_SEED0", "1"))
BATCH = 25
THREADS = 6
# Seeds that once disagreed (each fixed): always run.
REGRESSION = []


# ---- signed calls without boto3 clients --------------------------------------

_local = threading.local()


class Fast:
    """One identity's credentials; GetSecretValue and AssumeRole, signed
    with botocore's SigV4Auth, over one keep-alive connection per thread."""

    def __init__(self, srv, arn, ak, sk, token=None):
        self.srv, self.arn = srv, arn
        self.creds = Credentials(ak, sk, token)

    def _conn(self):
        c = getattr(_local, "conns", None)
        if c is None:
            c = _local.conns = {}
        if self.srv.port not in c:
            c[self.srv.port] = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=30)
        return c[self.srv.port]

    def _send(self, service, headers, body):
        req = AWSRequest(method="POST", url=f"{self.srv.endpoint}/", data=body, headers=headers)
        SigV4Auth(self.creds, service, REGION).add_auth(req)
        for attempt in range(2):
            conn = self._conn()
            try:
                conn.request("POST", "/", body=body, headers=dict(req.headers.items()))
                resp = conn.getresponse()
                return resp.status, resp.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                _local.conns.pop(self.srv.port, None)
                if attempt:
                    raise

    def reads(self, secret_arn):
        st, body = self._send("secretsmanager", {
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "secretsmanager.GetSecretValue"},
            json.dumps({"SecretId": secret_arn}).encode())
        if st == 200:
            return True
        code = json.loads(body).get("__type", "")
        assert code in ("AccessDeniedException", "DecryptionFailure", "InvalidRequestException"), \
            (self.arn, secret_arn, st, body)
        return False

    def assume(self, role):
        body = urllib.parse.urlencode({"Action": "AssumeRole", "Version": "2011-06-15",
                                       "RoleArn": role, "RoleSessionName": "verify"}).encode()
        st, out = self._send("sts", {"Content-Type":
                                     "application/x-www-form-urlencoded; charset=utf-8"}, body)
        if st != 200:
            assert b"AccessDenied" in out, (self.arn, role, st, out)
            return None
        x = ET.fromstring(out)
        get = lambda tag: next(e.text for e in x.iter() if e.tag.rsplit("}", 1)[-1] == tag)
        return Fast(self.srv, role, get("AccessKeyId"), get("SecretAccessKey"), get("SessionToken"))


# ---- the generator -------------------------------------------------------------

def cond(op, key, value):
    return {op: {key: value}}


class Scenario:
    """The plan of one seed, then its creation through the API (as each
    account's root user)."""

    def __init__(self, seed, a_root, b_root):
        self.seed, self.rnd = seed, random.Random(seed)
        self.a, self.b = a_root, b_root
        self.A, self.B = a_root.account, b_root.account
        self.callers = {}      # arn -> Fast
        self.roles = []        # role ARNs (A and B)
        self.secrets = []      # secret ARNs (A)
        # Clients now: botocore does not make clients safely from threads.
        self.a_iam, self.a_kms = a_root.iam, a_root.kms
        self.a_sm, self.b_iam = a_root.client("secretsmanager"), b_root.iam

    # -- building blocks: statements for an identity policy --
    def identity_blocks(self, secrets, keys, roles):
        r = self.rnd
        s = r.choice(secrets) if secrets else "*"
        k = r.choice(keys) if keys else "*"
        ro = r.choice(roles) if roles else "*"
        tag = r.choice(["red", "blue"])
        return r.choice([
            [],
            [{"Effect": "Allow", "Action": GSV, "Resource": "*"}],
            [{"Effect": "Allow", "Action": GSV, "Resource": s}],
            [{"Effect": "Allow", "Action": "secretsmanager:*", "Resource": "*"},
             {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}],
            [{"Effect": "Allow", "Action": [GSV, "kms:Decrypt"], "Resource": "*"}],
            [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": k}],
            [{"Effect": "Allow", "Action": GSV, "Resource": "*"},
             {"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}],
            [{"Effect": "Allow", "Action": GSV, "Resource": "*"},
             {"Effect": "Deny", "Action": GSV, "Resource": s}],
            [{"Effect": "Allow", "NotAction": ["iam:*", "kms:ScheduleKeyDeletion"], "Resource": "*"}],
            [{"Effect": "Allow", "Action": GSV, "NotResource": s},
             {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}],
            [{"Effect": "Allow", "Action": [GSV, "kms:Decrypt"], "Resource": "*",
              "Condition": cond("IpAddress", "aws:SourceIp", "10.0.0.0/8")}],
            [{"Effect": "Allow", "Action": [GSV, "kms:Decrypt"], "Resource": "*",
              "Condition": cond("DateGreaterThan", "aws:CurrentTime", "2020-01-01T00:00:00Z")}],
            [{"Effect": "Allow", "Action": [GSV, "kms:Decrypt"], "Resource": "*",
              "Condition": cond("StringEquals", "aws:PrincipalTag/team", tag)}],
            [{"Effect": "Allow", "Action": GSV, "Resource": "*"},
             {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
              "Condition": cond("StringEquals", "kms:ViaService", VIA)}],
            [{"Effect": "Allow", "Action": GSV, "Resource": "*"},
             {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
              "Condition": cond("StringEquals", "kms:ViaService", "ec2.us-east-1.amazonaws.com")}],
            [{"Effect": "Allow", "Action": GSV, "Resource": "*"},
             {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*",
              "Condition": cond("StringLike", "kms:EncryptionContext:SecretARN",
                                s.rsplit("-", 1)[0] + "-*" if s != "*" else "*")}],
            [{"Effect": "Allow", "Action": [GSV, "kms:Decrypt"], "Resource": "*"},
             {"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*",
              "Condition": cond("StringNotEquals", "kms:ViaService", VIA)}],
            [{"Effect": "Allow", "Action": [GSV, "kms:Decrypt"], "Resource": "*"},
             {"Effect": "Deny", "Action": GSV, "Resource": "*",
              "Condition": cond("NotIpAddress", "aws:SourceIp", "192.0.2.0/24")}],
            [{"Effect": "Allow", "Action": [GSV, "kms:Decrypt"], "Resource": "*",
              "Condition": cond("StringEquals", "aws:PrincipalAccount", self.A)}],
            [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
            [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": ro}],
            [{"Effect": "Allow", "Action": [GSV, "sts:AssumeRole"], "Resource": "*"}],
            [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"},
             {"Effect": "Deny", "Action": "sts:AssumeRole", "Resource": ro}],
        ])

    def principal_choice(self, pool):
        return self.rnd.choice(pool)

    def build(self):
        r, A, B = self.rnd, self.A, self.B
        a_iam, a_kms, a_sm, b_iam = self.a_iam, self.a_kms, self.a_sm, self.b_iam
        pre = f"x{self.seed}"
        a_root, b_root = f"arn:aws:iam::{A}:root", f"arn:aws:iam::{B}:root"

        # Harness: may assume every role; every trust names it.
        harness = self.user(a_iam, A, f"{pre}-harness",
                            [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}])
        self.harness = harness

        # Keys and secrets first (policies refer to their ARNs).
        keys, kinds = [], []
        for i in range(r.randint(1, 2)):
            kind = r.choice(["delegating", "delegating", "no-delegation"])
            st = {"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": a_root},
                  "Resource": "*"}
            if kind == "delegating":
                st["Action"] = "kms:*"
            else:
                st["NotAction"] = "kms:Decrypt"
            keys.append(a_kms.create_key(Policy=policy_doc(st))["KeyMetadata"]["Arn"])
            kinds.append(kind)
        for i in range(r.randint(2, 3)):
            kw = {}
            if r.random() < 0.8:
                kw["KmsKeyId"] = r.choice(keys)
            self.secrets.append(a_sm.create_secret(Name=f"{pre}-s{i}", SecretString="v",
                                                   **kw)["ARN"])
        secrets = self.secrets

        # Groups, a managed policy, boundaries (account A).
        groups = []
        for i in range(r.randint(0, 2)):
            g = f"{pre}-g{i}"
            a_iam.create_group(GroupName=g)
            blk = self.identity_blocks(secrets, keys, [])
            if blk:
                a_iam.put_group_policy(GroupName=g, PolicyName="p", PolicyDocument=policy_doc(*blk))
            groups.append(g)
        managed = None
        blk = self.identity_blocks(secrets, keys, [])
        if blk and r.random() < 0.5:
            managed = make_managed_policy(self.a, *blk, name=f"{pre}-m")["Arn"]
        bounds = [make_managed_policy(self.a, {"Effect": "Allow", "Action": ["kms:*", "sts:*"],
                                               "Resource": "*"}, name=f"{pre}-b-kms")["Arn"],
                  make_managed_policy(self.a, {"Effect": "Allow", "NotAction": "iam:*",
                                               "Resource": "*"}, name=f"{pre}-b-all")["Arn"]]

        # Users of A and B.
        a_users, b_users = [], []
        for i in range(r.randint(2, 4)):
            extra = {}
            if groups and r.random() < 0.5:
                extra["groups"] = [r.choice(groups)]
            if managed and r.random() < 0.5:
                extra["managed"] = [managed]
            if r.random() < 0.25:
                extra["boundary"] = r.choice(bounds)
            if r.random() < 0.5:
                extra["tags"] = {"team": r.choice(["red", "blue"])}
            a_users.append(self.user(a_iam, A, f"{pre}-u{i}",
                                     self.identity_blocks(secrets, keys, []), **extra))
        for i in range(r.randint(1, 2)):
            blk = r.choice([
                [{"Effect": "Allow", "Action": [GSV, "kms:Decrypt"], "Resource": "*"}],
                [{"Effect": "Allow", "Action": GSV, "Resource": r.choice(secrets)},
                 {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": r.choice(keys)}],
                [{"Effect": "Allow", "Action": GSV, "Resource": "*"}],
                [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}],
                [{"Effect": "Allow", "Action": [GSV, "kms:Decrypt", "sts:AssumeRole"],
                  "Resource": "*"}],
                []])
            b_users.append(self.user(b_iam, B, f"{pre}-bu{i}", blk))
        a_arns = [u.arn for u in a_users]
        b_arns = [u.arn for u in b_users]

        # Roles (A; sometimes one in B).
        a_roles = []
        for i in range(r.randint(1, 3)):
            who = r.choice([a_root, a_root, r.choice(a_arns), r.choice(a_roles or [a_root]),
                            b_root, r.choice(b_arns)])
            st = {"Effect": "Allow", "Principal": {"AWS": who}, "Action": "sts:AssumeRole"}
            c = r.random()
            if c < 0.1:
                st["Condition"] = cond("StringEquals", "sts:ExternalId", "x")
            elif c < 0.2:
                st["Condition"] = cond("StringEquals", "aws:PrincipalTag/team", "red")
            elif c < 0.25:
                st["Condition"] = cond("ArnLike", "aws:PrincipalArn", f"arn:aws:iam::*:user/{pre}-u*")
            trust = [st, {"Effect": "Allow", "Principal": {"AWS": harness.arn},
                          "Action": "sts:AssumeRole"}]
            if r.random() < 0.15:
                trust.append({"Effect": "Deny", "Principal": {"AWS": r.choice(a_arns)},
                              "Action": "sts:AssumeRole"})
            name = f"{pre}-r{i}"
            kw = {}
            if r.random() < 0.2:
                kw["PermissionsBoundary"] = r.choice(bounds)
            if r.random() < 0.4:
                kw["Tags"] = [{"Key": "team", "Value": r.choice(["red", "blue"])}]
            arn = a_iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": trust}), **kw)["Role"]["Arn"]
            blk = self.identity_blocks(secrets, keys, a_roles)
            if blk:
                a_iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=policy_doc(*blk))
            a_roles.append(arn)
        b_roles = []
        if r.random() < 0.3:
            # A role in B that a user of A may assume (cross-account in).
            who = r.choice(a_arns)
            hb = self.b_harness(b_iam, pre)
            trust = [{"Effect": "Allow", "Principal": {"AWS": who}, "Action": "sts:AssumeRole"},
                     {"Effect": "Allow", "Principal": {"AWS": hb.arn}, "Action": "sts:AssumeRole"}]
            name = f"{pre}-br"
            arn = b_iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": trust}))["Role"]["Arn"]
            b_iam.put_role_policy(RoleName=name, PolicyName="p", PolicyDocument=policy_doc(
                {"Effect": "Allow", "Action": [GSV, "kms:Decrypt"], "Resource": "*"}))
            b_roles.append(arn)
        self.roles = a_roles + b_roles
        everyone = a_arns + a_roles + b_arns + b_roles + [b_root]

        # Key policies: statements naming principals (added now they exist).
        for key, kind in zip(keys, kinds):
            if r.random() < 0.7:
                doc = json.loads(a_kms.get_key_policy(KeyId=key, PolicyName="default")["Policy"])
                for _ in range(r.randint(1, 2)):
                    st = {"Effect": "Allow", "Principal": {"AWS": r.choice(everyone)},
                          "Action": r.choice(["kms:Decrypt", ["kms:Decrypt", "kms:DescribeKey"],
                                              "kms:*"]), "Resource": "*"}
                    c = r.random()
                    if c < 0.15:
                        st["Condition"] = cond("StringEquals", "kms:ViaService", VIA)
                    elif c < 0.25:
                        st["Condition"] = cond("StringEquals", "kms:ViaService",
                                               "rds.us-east-1.amazonaws.com")
                    elif c < 0.35:
                        st["Condition"] = cond("StringEquals", "kms:CallerAccount", A)
                    elif c < 0.45:
                        st["Condition"] = cond("StringEquals", "kms:EncryptionContext:SecretARN",
                                               r.choice(secrets))
                    doc["Statement"].append(st)
                if r.random() < 0.2:
                    doc["Statement"].append({"Effect": "Deny",
                                             "Principal": {"AWS": r.choice(a_arns + a_roles)},
                                             "Action": "kms:Decrypt", "Resource": "*"})
                a_kms.put_key_policy(KeyId=key, PolicyName="default", Policy=json.dumps(doc))
            for _ in range(r.choice([0, 0, 1, 2])):
                c = r.choice(["EncryptionContextSubset", "EncryptionContextEquals", None])
                kw = {"Constraints": {c: {"SecretARN": r.choice(secrets)}}} if c else {}
                a_kms.create_grant(KeyId=key, GranteePrincipal=r.choice(everyone + [b_root]),
                                   Operations=r.choice([["Decrypt"], ["Decrypt", "Encrypt"],
                                                        ["Encrypt"]]), **kw)

        # Resource policies on some secrets.
        for s in secrets:
            if r.random() >= 0.5:
                continue
            stmts = []
            for _ in range(r.randint(1, 2)):
                who = r.choice(everyone + ["*"])
                st = {"Effect": r.choice(["Allow", "Allow", "Deny"]),
                      "Principal": {"AWS": who} if who != "*" else "*",
                      "Action": r.choice([GSV, "secretsmanager:*"]), "Resource": "*"}
                c = r.random()
                if c < 0.15:
                    st["Condition"] = cond("StringEquals", "aws:PrincipalTag/team", "blue")
                elif c < 0.25:
                    st["Condition"] = cond("IpAddress", "aws:SourceIp", "10.0.0.0/8")
                elif c < 0.35:
                    st["Condition"] = cond("StringEquals", "aws:PrincipalAccount", B)
                stmts.append(st)
            a_sm.put_resource_policy(SecretId=s, ResourcePolicy=policy_doc(*stmts))

        self.callers.update({u.arn: u for u in a_users + b_users + [harness]})
        self.callers[a_root] = Fast(self.a.server, a_root, self.a.access_key, self.a.secret_key)
        self.callers[b_root] = Fast(self.b.server, b_root, self.b.access_key, self.b.secret_key)
        if b_roles:
            self.callers[self.b_h.arn] = self.b_h

    def b_harness(self, b_iam, pre):
        self.b_h = self.user(b_iam, self.B, f"{pre}-bharness",
                             [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}])
        return self.b_h

    def user(self, iam, account, name, stmts, groups=(), managed=(), boundary=None, tags=None):
        kw = {"UserName": name}
        if boundary:
            kw["PermissionsBoundary"] = boundary
        if tags:
            kw["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
        arn = iam.create_user(**kw)["User"]["Arn"]
        if stmts:
            iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=policy_doc(*stmts))
        for g in groups:
            iam.add_user_to_group(GroupName=g, UserName=name)
        for m in managed:
            iam.attach_user_policy(UserName=name, PolicyArn=m)
        k = iam.create_access_key(UserName=name)["AccessKey"]
        return Fast(self.a.server, arn, k["AccessKeyId"], k["SecretAccessKey"])

    # -- ground truth ------------------------------------------------------------
    def truth(self, pool):
        harness_of = lambda role: self.b_h if role.split(":")[4] == self.B else self.harness
        sessions = dict(zip(self.roles, pool.map(lambda ro: harness_of(ro).assume(ro), self.roles)))
        assert all(sessions.values()), f"seed {self.seed}: the harness cannot assume a role"
        actors = dict(self.callers)
        actors.update(sessions)
        jobs = [(a, s) for a in actors for s in self.secrets]
        got = pool.map(lambda j: actors[j[0]].reads(j[1]), jobs)
        direct = {a: set() for a in actors}
        for (a, s), ok in zip(jobs, got):
            if ok:
                direct[a].add(s)
        ejobs = [(a, ro) for a in actors for ro in self.roles
                 if ro != a and not a.endswith(":root")]
        ok = pool.map(lambda j: actors[j[0]].assume(j[1]) is not None, ejobs)
        edges = {a: [] for a in actors}
        for (a, ro), yes in zip(ejobs, ok):
            if yes:
                edges[a].append(ro)
        truth = {}
        for a in actors:
            seen, todo, got = {a}, [a], set()
            while todo:
                u = todo.pop()
                got |= direct[u]
                for ro in edges[u]:
                    if ro not in seen:
                        seen.add(ro)
                        todo.append(ro)
            truth[a] = got
        return truth


def analysis(srv, account):
    p = srv.run_tresor("who-can-decrypt", "--all", "--account", account, "--data-dir",
                       srv.data_dir, "--format", "json", timeout=120)
    assert p.returncode == 0, f"who-can-decrypt --all failed:\n{p.stdout[-2000:]}\n{p.stderr}"
    return {x["secret"]["arn"]: x for x in json.loads(p.stdout)["secrets"]}


def compare(sc, truth, out):
    """(checked, readers, conditional) or an AssertionError naming the seed."""
    checked = readers = skipped = 0
    for s in sc.secrets:
        rep = out[s]
        listed = {p["principal"] for p in rep["principals"]}
        conditional = {p["principal"] for p in rep["principals"] if p["conditional"]}
        for arn, got in truth.items():
            if arn in conditional:
                skipped += 1
                continue
            assert (arn in listed) == (s in got), (
                f"seed {sc.seed}: {arn} on {s}: the analysis says {arn in listed}, the server "
                f"says {s in got}\n{json.dumps(rep, indent=1)[:6000]}")
            checked += 1
            readers += s in got
    return checked, readers, skipped


def run_batch(tmp_path_factory, seeds):
    srv = TresorServer("whocan-random", tmp_path_factory.mktemp("tresor-whocan-random"))
    srv.start(env_extra={"TRESOR_LOG": "quiet"})
    stats = [0, 0, 0, 0]
    try:
        # Accounts one at a time (account create writes the credentials
        # file).  One other account B for the batch: each seed has its own
        # users and roles in it, and only the seed's own principals (and
        # B's root user) are compared, so sharing it changes no answer.
        b = srv.create_account(f"72{seeds[0]:010d}")
        made = [(seed, srv.create_account(f"71{seed:010d}")) for seed in seeds]
        with concurrent.futures.ThreadPoolExecutor(THREADS) as pool, \
                concurrent.futures.ThreadPoolExecutor(3) as seeds_pool:
            scs = [Scenario(seed, a, b) for seed, a in made]
            list(pool.map(lambda sc: sc.build(), scs))

            def check(sc):
                truth = sc.truth(pool)
                return compare(sc, truth, analysis(srv, sc.A)) + (len(truth),)
            for c, r, k, n in seeds_pool.map(check, scs):
                stats[0] += c
                stats[1] += r
                stats[2] += k
                stats[3] += n
    finally:
        srv.close()
    return stats


def test_random_scenarios_agree(tmp_path_factory):
    seeds = sorted(set(range(SEED0, SEED0 + SEEDS)) | set(REGRESSION))
    t0 = time.monotonic()
    total = [0, 0, 0, 0]
    for i in range(0, len(seeds), BATCH):
        st = run_batch(tmp_path_factory, seeds[i:i + BATCH])
        total = [x + y for x, y in zip(total, st)]
    dt = time.monotonic() - t0
    print(f"\nwho-can-decrypt random agreement: {len(seeds)} seeds, {total[3]} principals, "
          f"{total[0]} (principal, secret) answers checked against the server, {total[1]} of "
          f"them readers, {total[2]} conditional answers skipped, {dt:.1f} s")
    assert total[0] >= len(seeds) * 10
    assert total[1] > 0
