"""
who_can_load.py -- fill a fresh tresor through its real API (boto3) with the
account bench/who_can analyzes: 1,000 users, 1,000 roles, 100 keys and
10,000 secrets by default, in a mix shaped like a real account.

Usage: who_can_load.py DATA_DIR PORT [--users N] [--roles N] [--keys N]
                       [--secrets N] [--seed S] [--threads T] [--arns FILE]

As the account's root user (profile "tresor" in DATA_DIR/credentials), with
T client threads.  Everything is derived from the seed, so two loads make
the same account.  The mix (TEAMS teams; every entity belongs to one):

  managed policies  per team "tNN-read" (GetSecretValue/DescribeSecret on
                    secret:tNN/*, kms:Decrypt on the team's keys) and
                    "tNN-deploy" (sts:AssumeRole on role/tNN-*); "admin"
                    (*:*); two permissions boundaries ("bnd-no-secrets":
                    kms, sts, iam reads; "bnd-team": secretsmanager and kms)
  groups            "tNN-devs" (tNN-read attached), "tNN-ops" (inline:
                    sts:AssumeRole on role/tNN-*, GetSecretValue on tNN/*,
                    kms:Decrypt on the team's keys, and a Deny of
                    GetSecretValue on tNN/prod/*)
  keys              KEYS customer managed keys, KEYS/TEAMS per team: 70%
                    the default policy (delegates to IAM), 20% delegating
                    plus a key-users statement naming two of the team's
                    roles, 10% no delegation (admin statement with NotAction
                    kms:Decrypt, key users named); 2 grants per key (Decrypt
                    to a role of the team, half with EncryptionContextSubset
                    on one secret)
  users             each in the team's devs group (30% also in ops); 15%
                    an inline policy for a few named secrets; 30% may
                    assume the team's roles (tNN-deploy attached); 10% a
                    permissions boundary; 2% admins
  roles             per team: one hub role (trusts the team's deploy users
                    by ARN), app roles (trust the account, or a named user,
                    or the hub: chains of up to 3 hops), ci roles (trust
                    the hub role and another team's hub), each with an
                    inline policy on its app's secrets; 5% a boundary; 20%
                    tNN-read attached
  secrets           tNN/appJ/sK (and tNN/prod/... for every 10th), under a
                    key of the team; 5% under aws/secretsmanager; 5% a
                    resource policy (another team's role allowed, a user
                    denied, or the foreign account 999988887777 allowed)

Prints one JSON line: counts and the load time in seconds.  Traffic goes to
127.0.0.1 only.
"""

import argparse
import concurrent.futures
import configparser
import json
import os
import random
import sys
import time

import boto3
from botocore.config import Config

TEAMS = 20
FOREIGN = "999988887777"
GSV = "secretsmanager:GetSecretValue"


def doc(*stmts):
    return json.dumps({"Version": "2012-10-17", "Statement": list(stmts)})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("port", type=int)
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--roles", type=int, default=1000)
    ap.add_argument("--keys", type=int, default=100)
    ap.add_argument("--secrets", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--arns", help="write the secret ARNs here, one a line")
    a = ap.parse_args()
    rnd = random.Random(a.seed)

    cp = configparser.ConfigParser()
    cp.read(os.path.join(a.data_dir, "credentials"))
    root = cp["tresor"]
    url = f"http://127.0.0.1:{a.port}"
    cfg = Config(retries={"max_attempts": 1}, max_pool_connections=a.threads * 2)
    sess = boto3.Session(aws_access_key_id=root["aws_access_key_id"],
                         aws_secret_access_key=root["aws_secret_access_key"],
                         region_name="us-east-1")
    kms = sess.client("kms", endpoint_url=url, config=cfg)
    sm = sess.client("secretsmanager", endpoint_url=url, config=cfg)
    iam = sess.client("iam", endpoint_url=url, config=cfg)
    acct = sess.client("sts", endpoint_url=url, config=cfg).get_caller_identity()["Account"]
    A = f"arn:aws:iam::{acct}"
    root_arn = f"{A}:root"
    sec_prefix = f"arn:aws:secretsmanager:us-east-1:{acct}:secret:"
    pool = concurrent.futures.ThreadPoolExecutor(a.threads)
    counts = {"calls": 0}

    def run(fn, items):
        items = list(items)
        list(pool.map(fn, items))
        counts["calls"] += len(items)

    t0 = time.time()
    team = [f"t{t:02d}" for t in range(TEAMS)]
    kpt = max(1, a.keys // TEAMS)
    upt, rpt = max(1, a.users // TEAMS), max(3, a.roles // TEAMS)

    # Names first (policies refer to each other).
    users = [(t, f"{team[t]}-u{i:03d}") for t in range(TEAMS) for i in range(upt)][:a.users]
    roles = []
    for t in range(TEAMS):
        roles.append((t, f"{team[t]}-hub", "hub"))
        for i in range(rpt - 1):
            roles.append((t, f"{team[t]}-{'ci' if i % 5 == 4 else 'app'}{i:03d}",
                          "ci" if i % 5 == 4 else "app"))
    roles = roles[:a.roles]
    roles_of = {t: [r for r in roles if r[0] == t] for t in range(TEAMS)}
    users_of = {t: [u for u in users if u[0] == t] for t in range(TEAMS)}

    # ---- keys ------------------------------------------------------------
    def key_policy(t, kind):
        st = []
        rs = [f"{A}:role/{r[1]}" for r in roles_of[t] if r[2] == "app"][:2] or [root_arn]
        if kind == "no-delegation":
            st.append({"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": root_arn},
                       "NotAction": "kms:Decrypt", "Resource": "*"})
        else:
            st.append({"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                       "Principal": {"AWS": root_arn}, "Action": "kms:*", "Resource": "*"})
        if kind != "default":
            st.append({"Sid": "KeyUsers", "Effect": "Allow", "Principal": {"AWS": rs},
                       "Action": ["kms:Decrypt", "kms:DescribeKey"], "Resource": "*"})
        return st

    key_kinds = []
    for k in range(a.keys):
        x = rnd.random()
        key_kinds.append("default" if x < 0.7 else "key-users" if x < 0.9 else "no-delegation")
    keys = [None] * a.keys

    # Key policies naming roles need the roles: create keys with the default
    # policy now, put the real policy once the roles exist.
    def mk_key(k):
        keys[k] = kms.create_key(Description=f"{team[k % TEAMS]} key {k}")["KeyMetadata"]["Arn"]
    run(mk_key, range(a.keys))
    team_keys = {t: [keys[k] for k in range(a.keys) if k % TEAMS == t] for t in range(TEAMS)}

    # ---- managed policies and groups -------------------------------------
    iam.create_policy(PolicyName="admin", PolicyDocument=doc(
        {"Effect": "Allow", "Action": "*", "Resource": "*"}))
    iam.create_policy(PolicyName="bnd-no-secrets", PolicyDocument=doc(
        {"Effect": "Allow", "Action": ["kms:*", "sts:*", "iam:Get*", "iam:List*"],
         "Resource": "*"}))
    iam.create_policy(PolicyName="bnd-team", PolicyDocument=doc(
        {"Effect": "Allow", "Action": ["secretsmanager:*", "kms:*"], "Resource": "*"}))

    def mk_team(t):
        n = team[t]
        iam.create_policy(PolicyName=f"{n}-read", PolicyDocument=doc(
            {"Sid": "Read", "Effect": "Allow", "Action": [GSV, "secretsmanager:DescribeSecret"],
             "Resource": f"{sec_prefix}{n}/*"},
            {"Sid": "Keys", "Effect": "Allow", "Action": "kms:Decrypt",
             "Resource": team_keys[t] or "*"}))
        iam.create_policy(PolicyName=f"{n}-deploy", PolicyDocument=doc(
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"{A}:role/{n}-*"}))
        iam.create_group(GroupName=f"{n}-devs")
        iam.attach_group_policy(GroupName=f"{n}-devs", PolicyArn=f"{A}:policy/{n}-read")
        iam.create_group(GroupName=f"{n}-ops")
        iam.put_group_policy(GroupName=f"{n}-ops", PolicyName="ops", PolicyDocument=doc(
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"{A}:role/{n}-*"},
            {"Effect": "Allow", "Action": GSV, "Resource": f"{sec_prefix}{n}/*"},
            {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": team_keys[t] or "*"},
            {"Sid": "NoProd", "Effect": "Deny", "Action": GSV,
             "Resource": f"{sec_prefix}{n}/prod/*"}))
    run(mk_team, range(TEAMS))
    counts["calls"] += 3

    # ---- users ---------------------------------------------------------------
    plan_u = []
    for t, name in users:
        x = rnd.random()
        plan_u.append({
            "t": t, "name": name, "ops": x < 0.3, "deploy": rnd.random() < 0.3,
            "inline": rnd.random() < 0.15, "boundary": rnd.choice(["bnd-no-secrets", "bnd-team"])
            if rnd.random() < 0.1 else None, "admin": rnd.random() < 0.02,
            "apps": rnd.sample(range(rpt), 2)})

    def mk_user(p):
        n = team[p["t"]]
        kw = {"UserName": p["name"]}
        if p["boundary"]:
            kw["PermissionsBoundary"] = f"{A}:policy/{p['boundary']}"
        iam.create_user(**kw)
        iam.add_user_to_group(GroupName=f"{n}-devs", UserName=p["name"])
        if p["ops"]:
            iam.add_user_to_group(GroupName=f"{n}-ops", UserName=p["name"])
        if p["deploy"]:
            iam.attach_user_policy(UserName=p["name"], PolicyArn=f"{A}:policy/{n}-deploy")
        if p["admin"]:
            iam.attach_user_policy(UserName=p["name"], PolicyArn=f"{A}:policy/admin")
        if p["inline"]:
            iam.put_user_policy(UserName=p["name"], PolicyName="own", PolicyDocument=doc(
                {"Effect": "Allow", "Action": GSV,
                 "Resource": [f"{sec_prefix}{n}/app{j:03d}/*" for j in p["apps"]]},
                {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}))
    run(mk_user, plan_u)

    # ---- roles ---------------------------------------------------------------
    plan_r = []
    for t, name, kind in roles:
        n = team[t]
        deployers = [f"{A}:user/{p['name']}" for p in plan_u if p["t"] == t and p["deploy"]][:10]
        if kind == "hub":
            who = deployers or [root_arn]
        elif kind == "ci":
            other = team[(t + 1) % TEAMS]
            who = [f"{A}:role/{n}-hub", f"{A}:role/{other}-hub"]
        else:
            x = rnd.random()
            who = (root_arn if x < 0.4 else
                   f"{A}:user/{rnd.choice(users_of[t])[1]}" if x < 0.7 else f"{A}:role/{n}-hub")
        j = int(name[-3:]) if kind != "hub" else 0
        plan_r.append({"t": t, "name": name, "kind": kind, "who": who, "j": j,
                       "boundary": rnd.random() < 0.05, "read": rnd.random() < 0.2})

    def mk_role(p):
        n = team[p["t"]]
        kw = {"RoleName": p["name"], "AssumeRolePolicyDocument": doc(
            {"Effect": "Allow", "Principal": {"AWS": p["who"]}, "Action": "sts:AssumeRole"})}
        if p["boundary"]:
            kw["PermissionsBoundary"] = f"{A}:policy/bnd-no-secrets"
        iam.create_role(**kw)
        if p["kind"] == "hub":
            pol = doc({"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": f"{A}:role/{n}-*"})
        else:
            pol = doc({"Effect": "Allow", "Action": [GSV, "secretsmanager:DescribeSecret"],
                       "Resource": f"{sec_prefix}{n}/app{p['j']:03d}/*"},
                      {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": team_keys[p["t"]] or "*"})
        iam.put_role_policy(RoleName=p["name"], PolicyName="app", PolicyDocument=pol)
        if p["read"]:
            iam.attach_role_policy(RoleName=p["name"], PolicyArn=f"{A}:policy/{n}-read")
    # Trust policies may name a hub role: hubs first.
    run(mk_role, [p for p in plan_r if p["kind"] == "hub"])
    run(mk_role, [p for p in plan_r if p["kind"] != "hub"])

    def put_kp(k):
        if key_kinds[k] != "default":
            kms.put_key_policy(KeyId=keys[k], PolicyName="default",
                               Policy=doc(*key_policy(k % TEAMS, key_kinds[k])))
    run(put_kp, range(a.keys))

    # ---- secrets ----------------------------------------------------------
    plan_s = []
    for i in range(a.secrets):
        t = i % TEAMS
        j = (i // TEAMS) % (rpt - 1)
        env = "prod" if i % 10 == 0 else f"app{j:03d}"
        ks = team_keys[t]
        plan_s.append({"i": i, "t": t, "name": f"{team[t]}/{env}/s{i:05d}",
                       "key": None if rnd.random() < 0.05 or not ks else ks[(i // TEAMS) % len(ks)],
                       "rp": rnd.random() < 0.05, "rpkind": rnd.randrange(3)})
    arns = [None] * a.secrets

    def mk_secret(p):
        kw = {"Name": p["name"], "SecretString": json.dumps({"user": "app", "password": "x" * 24})}
        if p["key"]:
            kw["KmsKeyId"] = p["key"]
        arns[p["i"]] = sm.create_secret(**kw)["ARN"]
        if p["i"] and p["i"] % 2000 == 0:
            print(f"who_can_load: {p['i']} secrets, {time.time() - t0:.0f}s", file=sys.stderr)
    run(mk_secret, plan_s)

    def put_rp(p):
        other = roles_of[(p["t"] + 3) % TEAMS]
        if p["rpkind"] == 0 and other:
            st = {"Effect": "Allow", "Principal": {"AWS": f"{A}:role/{other[-1][1]}"},
                  "Action": GSV, "Resource": "*"}
        elif p["rpkind"] == 1:
            st = {"Effect": "Deny", "Principal": {"AWS": f"{A}:user/{users_of[p['t']][0][1]}"},
                  "Action": GSV, "Resource": "*"}
        else:
            st = {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{FOREIGN}:root"},
                  "Action": GSV, "Resource": "*"}
        sm.put_resource_policy(SecretId=arns[p["i"]], ResourcePolicy=doc(st))
    run(put_rp, [p for p in plan_s if p["rp"]])

    # ---- grants -------------------------------------------------------------
    grants = []
    for k in range(a.keys):
        t = k % TEAMS
        apps = [r for r in roles_of[t] if r[2] == "app"]
        mine = [p for p in plan_s if p["key"] == keys[k]]
        for g in range(2 if apps else 0):
            kw = {}
            if g == 1 and mine:
                kw["Constraints"] = {"EncryptionContextSubset":
                                     {"SecretARN": arns[rnd.choice(mine)["i"]]}}
            grants.append((keys[k], f"{A}:role/{rnd.choice(apps)[1]}", kw))

    def mk_grant(g):
        kms.create_grant(KeyId=g[0], GranteePrincipal=g[1], Operations=["Decrypt"], **g[2])
    run(mk_grant, grants)
    load_s = time.time() - t0
    pool.shutdown()
    if a.arns:
        with open(a.arns, "w") as f:
            f.write("".join(x + "\n" for x in arns))
    print(json.dumps({"account": acct, "users": len(users), "roles": len(roles), "keys": a.keys,
                      "secrets": a.secrets, "grants": len(grants),
                      "resource_policies": sum(1 for p in plan_s if p["rp"]),
                      "load_seconds": round(load_s, 1), "api_calls_approx": counts["calls"]}))


if __name__ == "__main__":
    main()
