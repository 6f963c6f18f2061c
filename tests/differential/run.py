"""
run.py -- the differential test (README.md): generated cases decided by
tresor's engine (diff_eval) and by an independent evaluator
(@cloud-copilot/iam-simulate, oracle.mjs), compared.

    python3 tests/differential/run.py [--cases N] [--seed S] [--show K]

Every disagreement must be explained by one of the KNOWN classes below,
each with the AWS documentation that shows who is right; anything else
is a failure (exit 1).  The oracle is installed with `npm ci` from the
pinned package-lock.json into $TRESOR_DIFF_NODE (default
build/differential, beside the build, never in the source tree).
"""

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE))

import cases as gen  # noqa: E402

# Keys tresor sets that the oracle's data does not know for these actions
# (it refuses the request): left out of its context, and never in the
# generated conditions.
ORACLE_UNKNOWN_KEYS = set()

ROOT_ALLOW_ALL = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


# ---- the oracle -------------------------------------------------------------

def node_dir():
    return Path(os.environ.get("TRESOR_DIFF_NODE") or (REPO / "build" / "differential"))


def install_oracle():
    """npm ci of the pinned oracle into node_dir(); returns its node_modules."""
    d = node_dir()
    mods = d / "node_modules"
    want = (HERE / "package-lock.json").read_text()
    stamp = d / "package-lock.json"
    if (mods / "@cloud-copilot" / "iam-simulate").is_dir() and stamp.exists() and stamp.read_text() == want:
        return mods
    d.mkdir(parents=True, exist_ok=True)
    shutil.copy(HERE / "package.json", d / "package.json")
    shutil.copy(HERE / "package-lock.json", d / "package-lock.json")
    npm = shutil.which("npm") or "/usr/bin/npm"
    p = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=d,
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError(f"npm ci of the differential oracle failed in {d}:\n{p.stdout}\n{p.stderr}")
    return mods


def run_lines(argv, lines, timeout):
    p = subprocess.run(argv, input="".join(json.dumps(x) + "\n" for x in lines), capture_output=True,
                       text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{argv[0]} failed ({p.returncode}):\n{p.stderr[-4000:]}")
    out = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    if len(out) != len(lines):
        raise RuntimeError(f"{argv[0]}: {len(out)} answers for {len(lines)} cases\n{p.stderr[-2000:]}")
    return out


# ---- the two inputs of one case -----------------------------------------------

def tresor_input(case):
    c, res = case["caller"], case["resource"]
    return {
        "principal": {"type": c["kind"], "arn": c["arn"], "account": c["account"],
                      "role_arn": c.get("role_arn")},
        "action": case["action"], "resource": res["arn"], "resource_account": res["account"],
        "mode": {"key": "required", "secret": "union", "role": "required"}[res["type"]],
        "resource_kind": {"key": "key", "secret": "resource", "role": "trust"}[res["type"]],
        "identity": case["identity"], "boundary": case["boundary"], "session": case["session"],
        "resource_policy": case["resource_policy"], "context": case["context"],
        **{k: case[k] for k in ("scp", "rcp") if k in case},
    }


def oracle_input(case):
    c, res = case["caller"], case["resource"]
    ident = case["identity"] if c["kind"] != "root" else [ROOT_ALLOW_ALL]
    sim = {
        "request": {"principal": c["arn"], "action": case["action"],
                    "resource": {"resource": res["arn"], "accountId": res["account"]},
                    "contextVariables": {k: v for k, v in case["context"].items()
                                         if k.lower() not in ORACLE_UNKNOWN_KEYS
                                         and not k.lower().startswith("secretsmanager:resourcetag/")}},
        "identityPolicies": [{"name": f"identity{i}", "policy": d} for i, d in enumerate(ident)],
        "serviceControlPolicies": [{"orgIdentifier": f"level{i}", "policies": [
            {"name": f"scp{i}-{j}", "policy": d} for j, d in enumerate(lv)]}
            for i, lv in enumerate(case.get("scp", []))],
        # The oracle adds RCPFullAWSAccess to every level itself.
        "resourceControlPolicies": [{"orgIdentifier": f"level{i}", "policies": [
            {"name": f"rcp{i}-{j}", "policy": d} for j, d in enumerate(lv) if d != gen.RCP_FULL_ACCESS]}
            for i, lv in enumerate(case.get("rcp", []))],
    }
    if case["boundary"]:
        sim["permissionBoundaryPolicies"] = [{"name": "boundary", "policy": case["boundary"]}]
    if case["session"]:
        sim["sessionPolicy"] = case["session"]
    if case["resource_policy"]:
        sim["resourcePolicy"] = case["resource_policy"]
    return sim


# ---- what is known ---------------------------------------------------------------

def statements(doc):
    if not doc:
        return []
    st = doc["Statement"]
    return st if isinstance(st, list) else [st]


def aws_list(p):
    if p == "*":
        return ["*"]
    v = p.get("AWS", [])
    return v if isinstance(v, list) else [v]


def all_docs(case):
    org = [d for lv in case.get("scp", []) + case.get("rcp", []) for d in lv]
    return case["identity"] + [d for d in (case["boundary"], case["session"], case["resource_policy"]) if d] + org


def var_before_fifth_colon(case):
    for d in all_docs(case):
        for st in statements(d):
            for k in ("Resource", "NotResource"):
                v = st.get(k, [])
                for r in (v if isinstance(v, list) else [v]):
                    if "${" in ":".join(r.split(":")[:5]):
                        return True
    return False


def not_principal_names_account(case):
    c = case["caller"]
    for st in statements(case["resource_policy"]):
        if "NotPrincipal" in st:
            names = aws_list(st["NotPrincipal"])
            if (c["account"] in names or f"arn:aws:iam::{c['account']}:root" in names) and c["kind"] != "root":
                return True
    return False


def resource_names_other_account_key(case):
    """Key policies with Resource/NotResource naming other keys: tresor and
    the oracle agree (both literal) -- no class needed.  Kept for the
    record: see README.md."""
    return False


# Each class: (name, predicate(case, tresor, oracle), who is right and why).
KNOWN = [
    ("tresor-refuses-variable-before-fifth-colon",
     lambda case, t, o: t == "refused" and var_before_fifth_colon(case),
     "tresor refuses the document, as IAM does (\"The policy failed legacy parsing\"); the IAM "
     "guide, policy variables: \"You can't use a variable to replace parts of the ARN before the "
     "fifth colon\". The oracle accepts it and matches the text literally."),
    ("kms-operation-not-across-accounts",
     lambda case, t, o: (case["action"].startswith("kms:") and t == "implicitDeny"
                         and case["caller"]["account"] != case["resource"]["account"]
                         and case["action"] not in ("kms:Encrypt", "kms:DescribeKey")),
     "KMS guide, \"Allowing users in other accounts to use a KMS key\": only the cryptographic "
     "operations, DescribeKey, GetKeyRotationStatus and the grant operations work across "
     "accounts; the oracle does not model the list (tresor answers NotFoundException)."),
    ("root-cannot-assume-roles",
     lambda case, t, o: case["action"] == "sts:AssumeRole" and case["caller"]["kind"] == "root"
     and t == "implicitDeny",
     "STS API reference, AssumeRole: \"You cannot use AWS account root user credentials to call "
     "AssumeRole\"; the oracle has no such rule."),
    ("not-principal-account-exempts-only-root",
     lambda case, t, o: t == "explicitDeny" and o != "ExplicitlyDenied" and not_principal_names_account(case),
     "IAM guide, NotPrincipal with Deny: listing an account's ARN with a user denies every other "
     "principal of that account (AWS's example: \"all principals except the user named Bob in AWS "
     "account 444455556666 are explicitly denied\"); the oracle lets an account entry exempt "
     "every principal of the account."),
    ("oracle-misses-encryption-context-keys",
     lambda case, t, o: case["resource"]["type"] == "key" and uses_key_prefix(case, "kms:encryptioncontext:"),
     "KMS guide, kms:EncryptionContext:context-key: the condition key is the prefix and the "
     "context key, e.g. kms:EncryptionContext:Department, set for every pair of the request's "
     "encryption context. The oracle does not see such keys in the request context (a positive "
     "condition on one is always false, a negated one always true; reproduce with README.md's "
     "example)."),
    ("session-arn-grant-not-limited-by-session-policy",
     lambda case, t, o: t == "allowed" and o == "ImplicitlyDenied" and case["session"] is not None
     and case["caller"]["kind"] == "session" and resource_grants_session(case),
     "IAM guide, session policies: \"A resource-based policy can specify the ARN of the session "
     "as a principal ... The resource-based policy permissions are not limited by the session "
     "policy\" (and \"*\" names the session itself, docs/AUTHORIZATION.md 2.3); the oracle applies "
     "a session policy to every grant."),
    ("org-level-without-allow-is-explicit",
     lambda case, t, o: t == "explicitDeny" and o == "ImplicitlyDenied" and "[no Allow at level " in
     case.get("_why", ""),
     "docs/AUTHORIZATION.md 2.10 (and the project's SEMANTICS): an SCP or RCP level with no "
     "applying Allow denies the request, and AWS words that denial as an explicit deny in a "
     "service control policy; the oracle calls it an implicit deny. Both deny."),
]


def uses_key_prefix(case, prefix):
    for d in all_docs(case):
        for st in statements(d):
            for op, kv in (st.get("Condition") or {}).items():
                if any(k.lower().startswith(prefix) and k.lower() != "kms:encryptioncontextkeys" for k in kv):
                    return True
    return False


def resource_grants_session(case):
    c = case["caller"]
    for st in statements(case["resource_policy"]):
        if st.get("Effect") == "Allow" and "Principal" in st:
            names = aws_list(st["Principal"])
            if c["arn"] in names or "*" in names:
                return True
    return False


def classify(case, t, o):
    for name, pred, _ in KNOWN:
        try:
            if pred(case, t, o):
                return name
        except (KeyError, TypeError, AttributeError):
            continue
    return None


def agree(t, o):
    return {"allowed": "Allowed", "implicitDeny": "ImplicitlyDenied",
            "explicitDeny": "ExplicitlyDenied"}.get(t) == o


# ---- the run --------------------------------------------------------------------

def run(n, seed, diff_eval=None):
    """Decide n cases both ways; returns a report dict."""
    diff_eval = diff_eval or os.environ.get("TRESOR_DIFF_EVAL") or str(REPO / "build" / "tests" / "diff_eval")
    mods = install_oracle()
    cs = [gen.with_org_policies(seed, c) for c in gen.generate(seed, n)]
    t0 = time.monotonic()
    ours = run_lines([diff_eval], [tresor_input(c) for c in cs], timeout=600)
    t1 = time.monotonic()
    theirs = run_lines(["node", str(HERE / "oracle.mjs"), str(mods)], [oracle_input(c) for c in cs],
                       timeout=3600)
    t2 = time.monotonic()
    counts = collections.Counter()
    unexplained = []
    known = collections.Counter()
    for case, t, o in zip(cs, ours, theirs):
        td, od = t["decision"], o["decision"]
        counts[td] += 1
        if od == "error" or td == "error":
            unexplained.append((case, t, o))
            continue
        if agree(td, od):
            counts["agree"] += 1
            continue
        name = classify(dict(case, _why=t.get("why", "")), td, od)
        if name:
            known[name] += 1
        else:
            unexplained.append((case, t, o))
    return {"cases": n, "seed": seed, "agree": counts["agree"], "known": dict(known),
            "unexplained": unexplained, "decisions": {k: counts[k] for k in
                                                      ("allowed", "implicitDeny", "explicitDeny", "refused")},
            "seconds": {"tresor": round(t1 - t0, 2), "oracle": round(t2 - t1, 2)}}


def summary(rep, show=3):
    lines = [f"differential: {rep['cases']} cases (seed {rep['seed']}): {rep['agree']} agree "
             f"({100.0 * rep['agree'] / max(1, rep['cases']):.2f}%), "
             f"{sum(rep['known'].values())} known disagreements, {len(rep['unexplained'])} unexplained",
             f"  tresor decisions: {rep['decisions']}",
             f"  seconds: {rep['seconds']}"]
    for name, k in sorted(rep["known"].items()):
        lines.append(f"  known {name}: {k}")
    for case, t, o in rep["unexplained"][:show]:
        lines.append(f"  UNEXPLAINED case {case['index']}: tresor {t} oracle {o}\n    "
                     + json.dumps(case))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=int(os.environ.get("TRESOR_DIFF_CASES", "3000")))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("TRESOR_DIFF_SEED", "13")))
    ap.add_argument("--show", type=int, default=5)
    a = ap.parse_args()
    rep = run(a.cases, a.seed)
    print(summary(rep, a.show))
    return 1 if rep["unexplained"] else 0


if __name__ == "__main__":
    sys.exit(main())
