"""
cases.py -- deterministic random authorization cases for the differential
tests (tests/differential/README.md).

One case is one request against the policies that apply to it, in a world
tresor can also build for real through its API:

  the caller   a user of account A or B (tags, maybe a permissions
               boundary), a session of a role of A or B (role tags, maybe a
               boundary, a session policy, session tags), or A's root user;
  the resource a KMS key of A (key policy), a secret of A (resource policy,
               tags) or a role of A (trust policy);
  the action   kms:Encrypt (with an encryption context), kms:DescribeKey,
               kms:GetKeyPolicy; secretsmanager:DescribeSecret,
               secretsmanager:GetResourcePolicy; sts:AssumeRole;
  the context  exactly the condition keys tresor's live path sets for such
               a request (docs/AUTHORIZATION.md 1.2, 4.2, 5.1, 6.1), with the
               values it would give them.

Policies: Allow and Deny statements; Action, NotAction and wildcards;
Resource "*", exact ARNs, wildcard ARNs, NotResource, ${aws:username} in
the resource part; conditions on the keys above with String, Arn, IP,
Bool, Null, Date and set operators (ForAnyValue, ForAllValues),
IfExists; principals naming the caller, its role, its account, another
account, another user, or "*"; NotPrincipal with Deny.

Everything comes from random.Random(f"{seed}:{index}"), so case i of a
seed is the same whatever the number of cases.  Principal names carry the
index, so cases can be realized side by side on one server.
"""

import json
import random

A = "111122223333"
B = "444455556666"
REGION = "us-east-1"
SOURCE_IP = "127.0.0.1"
NOW_ISO = "2026-01-01T00:00:00Z"      # replaced by the realizer for live runs

KEY_ACTIONS = ["kms:Encrypt", "kms:DescribeKey", "kms:GetKeyPolicy"]
SECRET_ACTIONS = ["secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy"]


def user_arn(acct, name):
    return f"arn:aws:iam::{acct}:user/{name}"


def role_arn(acct, name):
    return f"arn:aws:iam::{acct}:role/{name}"


def session_arn(acct, role, sess):
    return f"arn:aws:sts::{acct}:assumed-role/{role}/{sess}"


def doc(statements):
    return {"Version": "2012-10-17", "Statement": statements}


class Gen:
    def __init__(self, seed, index):
        self.r = random.Random(f"{seed}:{index}")
        self.i = index

    def pick(self, *items):
        return self.r.choice(items)

    def chance(self, p):
        return self.r.random() < p

    # ---- the cast -------------------------------------------------------------

    def caller(self):
        kind = self.r.choices(["user", "session", "root", "user_b", "session_b"],
                              [35, 35, 8, 11, 11])[0]
        acct = B if kind.endswith("_b") else A
        c = {"kind": kind.replace("_b", ""), "account": acct, "tags": {}, "session_tags": {}}
        if c["kind"] == "root":
            c["arn"] = f"arn:aws:iam::{acct}:root"
            return c
        tag = self.pick("red", "blue", None)
        if tag:
            c["tags"]["team"] = tag
        if c["kind"] == "user":
            c["name"] = f"u{self.i}"
            c["arn"] = user_arn(acct, c["name"])
        else:
            c["role"] = f"r{self.i}"
            c["role_arn"] = role_arn(acct, c["role"])
            c["session"] = f"s-{self.pick('app', 'ops')}{self.i}"
            c["arn"] = session_arn(acct, c["role"], c["session"])
            if self.chance(0.3):
                c["session_tags"]["team"] = self.pick("red", "blue")
        return c

    def others(self, c):
        """ARNs a policy may name besides the caller."""
        return [user_arn(A, f"x{self.i}"), role_arn(A, f"xr{self.i}"), f"arn:aws:iam::{B}:root", B]

    # ---- conditions -------------------------------------------------------------

    def condition(self, c, res):
        opts = [
            lambda: {self.pick("StringEquals", "StringNotEquals", "StringEqualsIfExists"):
                     {"aws:PrincipalTag/team": self.pick("red", "blue", ["red", "blue"])}},
            lambda: {self.pick("StringLike", "StringNotLike"):
                     {"aws:PrincipalArn": self.pick(f"arn:aws:iam::{A}:user/*", f"arn:aws:iam::*:role/r*",
                                                    "*:root", c["arn"])}},
            lambda: {self.pick("ArnLike", "ArnNotLike", "ArnEquals"):
                     {"aws:PrincipalArn": self.pick(f"arn:aws:iam::{A}:*", f"arn:aws:iam::*:role/*",
                                                    f"arn:aws:iam::{B}:user/u*")}},
            lambda: {self.pick("StringEquals", "StringNotEquals"):
                     {"aws:PrincipalAccount": self.pick(A, B)}},
            lambda: {"StringEquals": {"aws:PrincipalType": self.pick("User", "AssumedRole", "Account")}},
            lambda: {self.pick("StringEquals", "StringLike"):
                     {"aws:username": self.pick(c.get("name", "nobody"), "u*", "${aws:username}")}},
            lambda: {self.pick("IpAddress", "NotIpAddress"):
                     {"aws:SourceIp": self.pick("127.0.0.0/8", "10.0.0.0/8", ["10.0.0.0/8", "127.0.0.1/32"])}},
            lambda: {"Bool": {"aws:SecureTransport": self.pick("true", "false")}},
            lambda: {self.pick("BoolIfExists", "Bool"): {"aws:MultiFactorAuthPresent": "false"}},
            lambda: {"Null": {"aws:TokenIssueTime": self.pick("true", "false")}},
            lambda: {self.pick("DateGreaterThan", "DateLessThan"):
                     {"aws:CurrentTime": self.pick("2020-01-01T00:00:00Z", "2099-01-01T00:00:00Z")}},
            lambda: {"StringEquals": {"aws:RequestedRegion": self.pick(REGION, "eu-west-1")}},
            lambda: {self.pick("StringNotEquals", "StringNotLike", "StringEquals", "StringNotEqualsIfExists"):
                     {"aws:PrincipalTag/team": self.pick("${aws:username}", ["blue", "${aws:username}"])}},
            lambda: {self.pick("ArnNotLike", "ArnLike"):
                     {"aws:PrincipalArn": f"arn:aws:iam::*:user/${{aws:username}}"}},
        ]
        if res["type"] == "key":
            opts += [
                lambda: {self.pick("StringEquals", "StringNotEquals"): {"kms:CallerAccount": self.pick(A, B)}},
                lambda: {self.pick("StringEquals", "StringEqualsIfExists", "StringNotEquals"):
                         {"kms:EncryptionContext:app": self.pick("web", "db", ["web", "db"])}},
                lambda: {self.pick("ForAnyValue:StringEquals", "ForAllValues:StringEquals",
                                   "ForAnyValue:StringLike"):
                         {"kms:EncryptionContextKeys": self.pick("app", ["app", "tier"], "t*")}},
                lambda: {"Null": {"kms:EncryptionContextKeys": self.pick("true", "false")}},
                lambda: {"StringEquals": {"kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT"}},
                lambda: {self.pick("StringEquals", "StringNotEquals"):
                         {"kms:KeySpec": self.pick("SYMMETRIC_DEFAULT", "RSA_2048")}},
            ]
        if res["type"] == "secret":
            opts += [
                lambda: {self.pick("StringEquals", "StringNotEquals"):
                         {"aws:ResourceTag/env":
                          self.pick("prod", "dev")}},
                lambda: {self.pick("StringEquals", "ArnLike"):
                         {"secretsmanager:SecretId": self.pick(res["arn"], f"arn:aws:secretsmanager:*:{A}:secret:*")}},
            ]
        if res["type"] == "role":
            opts += [lambda: {"StringLike": {"sts:RoleSessionName": self.pick("s-*", "admin-*")}}]
        out = {}
        for _ in range(self.r.choice([1, 1, 2])):
            for op, kv in self.r.choice(opts)().items():
                out.setdefault(op, {}).update(kv)
        return out

    # ---- statements -------------------------------------------------------------

    def actions(self, res, identity_side):
        svc = {"key": "kms", "secret": "secretsmanager", "role": "sts"}[res["type"]]
        pool = {"key": KEY_ACTIONS + ["kms:Decrypt", "kms:*", "kms:Describe*", "kms:Get*", "kms:*crypt"],
                "secret": SECRET_ACTIONS + ["secretsmanager:*", "secretsmanager:Describe*",
                                            "secretsmanager:Get*", "secretsmanager:PutSecretValue"],
                "role": ["sts:AssumeRole", "sts:*", "sts:Assume*", "sts:TagSession"]}[res["type"]]
        n = self.r.choice([1, 1, 2])
        acts = self.r.sample(pool, n)
        if identity_side and self.chance(0.15):
            acts = [self.pick("*", f"{svc}:*")]
        return acts if len(acts) > 1 else acts[0]

    def resources(self, res, c):
        arn = res["arn"]
        prefix = arn.rsplit("/", 1)[0] if res["type"] != "secret" else arn.rsplit(":", 1)[0]
        opts = ["*", arn, prefix + ("/*" if res["type"] != "secret" else ":*"),
                arn.replace(A, "*", 1), arn.replace(A, B, 1)]
        if res["type"] == "secret":
            opts += [f"arn:aws:secretsmanager:{REGION}:{A}:secret:${{aws:username}}-*",
                     f"arn:aws:secretsmanager:{REGION}:{A}:secret:{res['name']}-??????"]
        if res["type"] == "key":
            opts += [f"arn:aws:kms:{REGION}:{A}:key/00000000-0000-4000-8000-00000000{self.i % 10000:04d}"]
        if self.chance(0.0015):   # refused by tresor as by IAM (docs/AUTHORIZATION.md 3.7)
            opts = [arn.replace(A, "${aws:PrincipalAccount}", 1)]
        n = self.r.choice([1, 1, 1, 2])
        got = self.r.sample(opts, min(n, len(opts)))
        return got if len(got) > 1 else got[0]

    def statement(self, res, c, kind):
        st = {"Effect": "Deny" if self.chance(0.25) else "Allow"}
        if kind != "identity":
            st["Principal"] = self.principal(c, res)
            if st["Effect"] == "Deny" and kind != "trust" and self.chance(0.2):
                st["NotPrincipal"] = self.principal(c, res, not_principal=True)
                del st["Principal"]
        acts = self.actions(res, kind == "identity")
        if self.chance(0.12):
            st["NotAction"] = self.pick(acts if isinstance(acts, str) else acts[0], "iam:*")
        else:
            st["Action"] = acts
        if kind != "trust" or self.chance(0.3):
            rr = self.resources(res, c)
            if self.chance(0.12):
                st["NotResource"] = rr
            else:
                st["Resource"] = rr
        if self.chance(0.45):
            st["Condition"] = self.condition(c, res)
        return st

    def principal(self, c, res, not_principal=False):
        choices = [c["arn"], f"arn:aws:iam::{c['account']}:root", c["account"], "*"] + self.others(c)
        if c.get("role_arn"):
            choices += [c["role_arn"]] * 2
        if not_principal:
            choices = [x for x in choices if x != "*"]
        n = self.r.choice([1, 1, 2])
        got = self.r.sample(choices, n)
        if "*" in got and len(got) == 1 and self.chance(0.5):
            return "*"
        return {"AWS": got if len(got) > 1 else got[0]}

    def policy(self, res, c, kind, n=None):
        n = n or self.r.choice([1, 1, 2, 3])
        return doc([self.statement(res, c, kind) for _ in range(n)])

    # ---- the case ----------------------------------------------------------------

    def resource(self):
        t = self.r.choices(["key", "secret", "role"], [45, 35, 20])[0]
        if t == "key":
            kid = f"1234abcd-0000-4000-8000-{self.i:012d}"
            return {"type": "key", "arn": f"arn:aws:kms:{REGION}:{A}:key/{kid}", "account": A}
        if t == "secret":
            name = f"sec{self.i}"
            env = self.pick("prod", "dev", None)
            return {"type": "secret", "name": name, "account": A, "tags": {"env": env} if env else {},
                    "arn": f"arn:aws:secretsmanager:{REGION}:{A}:secret:{name}-AbCdEf"}
        return {"type": "role", "name": f"t{self.i}", "arn": role_arn(A, f"t{self.i}"), "account": A}

    def case(self):
        c = self.caller()
        res = self.resource()
        action = {"key": self.pick(*KEY_ACTIONS), "secret": self.pick(*SECRET_ACTIONS),
                  "role": "sts:AssumeRole"}[res["type"]]
        case = {"index": self.i, "caller": c, "resource": res, "action": action,
                "identity": [], "boundary": None, "session": None, "resource_policy": None}
        if c["kind"] != "root":
            case["identity"] = [self.policy(res, c, "identity") for _ in range(self.r.choice([0, 1, 1, 2]))]
            if self.chance(0.3):
                case["boundary"] = self.policy(res, c, "identity")
        if c["kind"] == "session" and self.chance(0.35):
            case["session"] = self.policy(res, c, "identity")
        kind = {"key": "key", "secret": "resource", "role": "trust"}[res["type"]]
        if res["type"] != "secret" or self.chance(0.7):
            case["resource_policy"] = self.policy(res, c, kind, self.r.choice([1, 2, 2, 3]))
        if action == "kms:Encrypt":
            ec = {}
            for k in self.r.sample(["app", "tier"], self.r.choice([0, 1, 2])):
                ec[k] = self.pick("web", "db") if k == "app" else self.pick("1", "2")
            case["encryption_context"] = ec
        case["context"] = context_of(case)
        return case


FULL_ACCESS = doc([{"Effect": "Allow", "Action": "*", "Resource": "*"}])
RCP_FULL_ACCESS = doc([{"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}])


def with_org_policies(seed, case):
    """The case with AWS Organizations policies over it, drawn from a
    random stream of its own (so the case itself is unchanged), for the
    engine-against-oracle test only (the live server has no
    Organizations): some cases get SCPs, some RCPs, one to three levels
    each, root first.  An SCP level holds FullAWSAccess, a generated
    identity-style policy, or both; an RCP level always holds
    RCPFullAWSAccess (AWS attaches it everywhere and the oracle adds it
    itself: run.py passes it to tresor only) and maybe a generated policy
    in RCP syntax: Deny statements with "*" as their principal and an
    Action that is not "*" (the Organizations guide, RCP syntax; the
    oracle refuses anything else).  docs/AUTHORIZATION.md 2.10."""
    g = Gen(seed, case["index"])
    g.r = random.Random(f"{seed}:{case['index']}:org")
    c, res = case["caller"], case["resource"]
    out = dict(case)
    if g.chance(0.35):
        levels = []
        for _ in range(g.r.choice([1, 2, 3])):
            k = g.r.choices(["full", "own", "both"], [30, 35, 35])[0]
            levels.append([FULL_ACCESS] * (k != "own") + [g.policy(res, c, "identity")] * (k != "full"))
        out["scp"] = levels
    if g.chance(0.35):
        levels = []
        for _ in range(g.r.choice([1, 2, 3])):
            lv = [RCP_FULL_ACCESS]
            if g.chance(0.6):
                p = g.policy(res, c, "identity")
                for st in p["Statement"]:
                    st["Principal"] = "*"
                    st["Effect"] = "Deny"
                    acts = st.pop("NotAction", None) or st.get("Action")
                    acts = [a for a in (acts if isinstance(acts, list) else [acts]) if a != "*"]
                    st["Action"] = acts or [res["type"] == "key" and "kms:*" or
                                            res["type"] == "secret" and "secretsmanager:*" or "sts:*"]
                lv.append(p)
            levels.append(lv)
        out["rcp"] = levels
    return out


def context_of(case, now_iso=NOW_ISO, user_id=None, role_id=None):
    """The condition keys tresor's live path sets for the case's request
    (docs/AUTHORIZATION.md 1.2, 4.2, 5.1, 6.1)."""
    c, res, action = case["caller"], case["resource"], case["action"]
    ctx = {
        "aws:PrincipalAccount": c["account"],
        "aws:SourceIp": SOURCE_IP,
        "aws:SecureTransport": "false",
        "aws:CurrentTime": now_iso,
        "aws:RequestedRegion": REGION,
        "aws:ViaAWSService": "false",
    }
    if c["kind"] == "root":
        ctx.update({"aws:PrincipalArn": c["arn"], "aws:PrincipalType": "Account", "aws:userid": c["account"]})
    elif c["kind"] == "user":
        ctx.update({"aws:PrincipalArn": c["arn"], "aws:PrincipalType": "User", "aws:username": c["name"],
                    "aws:userid": user_id or f"AIDA{case['index']:017d}"})
    else:
        ctx.update({"aws:PrincipalArn": c["role_arn"], "aws:PrincipalType": "AssumedRole",
                    "aws:userid": f"{role_id or 'AROA%017d' % case['index']}:{c['session']}",
                    "aws:TokenIssueTime": now_iso, "aws:MultiFactorAuthPresent": "false"})
    tags = dict(c.get("tags", {}))
    tags.update(c.get("session_tags", {}))
    for k, v in tags.items():
        ctx[f"aws:PrincipalTag/{k}"] = v
    if res["type"] == "key":
        ctx.update({"kms:CallerAccount": c["account"], "kms:KeySpec": "SYMMETRIC_DEFAULT",
                    "kms:KeyUsage": "ENCRYPT_DECRYPT", "kms:KeyOrigin": "AWS_KMS", "kms:MultiRegion": "false"})
        if action == "kms:Encrypt":
            ctx["kms:EncryptionAlgorithm"] = "SYMMETRIC_DEFAULT"
            ec = case.get("encryption_context") or {}
            for k, v in ec.items():
                ctx[f"kms:EncryptionContext:{k}"] = v
            if ec:
                ctx["kms:EncryptionContextKeys"] = sorted(ec)
    elif res["type"] == "secret":
        ctx["secretsmanager:SecretId"] = res["arn"]
        for k, v in res.get("tags", {}).items():
            ctx[f"aws:ResourceTag/{k}"] = v
            ctx[f"secretsmanager:ResourceTag/{k}"] = v
    else:
        ctx["sts:RoleSessionName"] = "s-live"
    return ctx


def generate(seed, n, start=0):
    return [Gen(seed, i).case() for i in range(start, start + n)]


if __name__ == "__main__":
    import sys
    for case in generate(int(sys.argv[1]) if len(sys.argv) > 1 else 1,
                         int(sys.argv[2]) if len(sys.argv) > 2 else 3):
        print(json.dumps(case))
