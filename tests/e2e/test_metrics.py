"""
test_metrics.py -- GET /metrics with `tresor serve --metrics`.

The exposition is read with a strict parser of the Prometheus text format
0.0.4 written here (parse): every line a # HELP, a # TYPE or a sample; one
HELP and one TYPE per family, before its samples, which are contiguous;
metric and label names, label values with their escapes and sample values
as the format spells them; no sample twice; histograms with increasing
`le` bounds ending at +Inf, cumulative bucket counts, and _count equal to
the +Inf bucket.  Counts are read before and after requests made with
boto3 and must move by exactly what was asked (requests by service,
operation and status; latency histograms; cache hits; store commits),
also when several clients run on several server threads at once (the
per-thread counters summed on scrape).  No secret, name, key id, account
or principal appears in the exposition.  Without --metrics, /metrics is
the unknown operation it always was; with it, it needs no credentials.
"""

import json
import math
import re
import threading

import pytest
from botocore.exceptions import ClientError

from tresor_e2e import ACCOUNT

CT = "text/plain; version=0.0.4; charset=utf-8"
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count")}


def parse_value(s):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    assert re.fullmatch(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?", s), f"bad value {s!r}"
    return float(s)


def parse_labels(text):
    """'a="x",b="y\\"z"' -> {'a': 'x', 'b': 'y"z'}; strict about escapes."""
    labels, i = {}, 0
    while i < len(text):
        m = re.compile(rf"({LABEL})=\"").match(text, i)
        assert m, f"bad label at {text[i:]!r}"
        name, i, value = m.group(1), m.end(), []
        while True:
            assert i < len(text), f"unterminated label value in {text!r}"
            c = text[i]
            if c == "\\":
                nxt = text[i + 1:i + 2]
                assert nxt in ("\\", '"', "n"), f"bad escape \\{nxt} in {text!r}"
                value.append("\n" if nxt == "n" else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                assert c != "\n"
                value.append(c)
                i += 1
        assert name not in labels, f"label {name} twice in {text!r}"
        labels[name] = "".join(value)
        if i < len(text):
            assert text[i] == ",", f"expected ',' in {text!r}"
            i += 1
            assert i < len(text), f"trailing ',' in {text!r}"
    return labels


def parse(text):
    """The exposition -> {family: {"type", "help", "samples": [(name, labels, value)]}}."""
    assert text.endswith("\n"), "the exposition ends with a newline"
    fams, order, seen, current = {}, [], set(), None
    for line in text[:-1].split("\n"):
        assert line.strip() == line and line, f"blank or padded line {line!r}"
        m = re.fullmatch(rf"# (HELP|TYPE) ({NAME}) (.*)", line)
        if m:
            kind, fam, rest = m.groups()
            f = fams.setdefault(fam, {"type": None, "help": None, "samples": []})
            assert not f["samples"], f"# {kind} {fam} after its samples"
            key = kind.lower()
            assert f[key] is None, f"# {kind} {fam} twice"
            if kind == "TYPE":
                assert rest in TYPES, f"bad type {rest}"
            f[key] = rest
            if fam not in order:
                order.append(fam)
            current = fam
            continue
        assert not line.startswith("#"), f"stray comment {line!r}"
        m = re.fullmatch(rf"({NAME})(?:\{{(.*)\}})? (\S+)(?: (-?\d+))?", line)
        assert m, f"bad sample line {line!r}"
        name, ltext, value = m.group(1), m.group(2) or "", parse_value(m.group(3))
        labels = parse_labels(ltext)
        assert current is not None, f"sample before any # TYPE: {line!r}"
        f = fams[current]
        suffixes = SUFFIXES.get(f["type"], ("",))
        assert any(name == current + s for s in suffixes), f"{name} is not of family {current}"
        key = (name, tuple(sorted(labels.items())))
        assert key not in seen, f"sample twice: {line!r}"
        seen.add(key)
        f["samples"].append((name, labels, value))
    for fam, f in fams.items():
        assert f["type"] and f["help"], f"{fam} lacks # TYPE or # HELP"
        if f["type"] == "counter":
            assert fam.endswith("_total") and all(v >= 0 for _, _, v in f["samples"])
        if f["type"] == "histogram":
            check_histogram(fam, f["samples"])
    return fams


def check_histogram(fam, samples):
    groups = {}
    for name, labels, value in samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if name == fam + "_bucket":
            g["buckets"].append((parse_value(labels["le"]), value))
        elif name == fam + "_sum":
            g["sum"] = value
        else:
            assert "le" not in labels
            g["count"] = value
    for rest, g in groups.items():
        les = [le for le, _ in g["buckets"]]
        assert les == sorted(les) and len(set(les)) == len(les), (fam, rest, les)
        assert les[-1] == math.inf, (fam, rest)
        counts = [c for _, c in g["buckets"]]
        assert counts == sorted(counts), f"{fam}{rest}: buckets not cumulative {counts}"
        assert g["count"] == counts[-1] and g["sum"] is not None and g["sum"] >= 0, (fam, rest)


def scrape(srv):
    r = srv.raw(method="GET", path="/metrics", target=None, sign=False)
    assert r.status == 200, r.body
    assert r.headers["content-type"] == CT
    text = r.body.decode("utf-8")
    return text, parse(text)


def value(fams, fam, sample=None, **labels):
    """The value of sample (default: fam) with exactly these labels (+ le), 0 when absent."""
    sample = sample or fam
    for name, lab, v in fams.get(fam, {"samples": []})["samples"]:
        if name == sample and lab == {k: str(v2) for k, v2 in labels.items()}:
            return v
    return 0


def req(fams, service, operation, code):
    return value(fams, "tresor_requests_total", service=service, operation=operation, code=code)


def lat_count(fams, service, operation):
    return value(fams, "tresor_request_duration_seconds", "tresor_request_duration_seconds_count",
                 service=service, operation=operation)


@pytest.fixture
def srv(tresor_factory):
    return tresor_factory("metrics", args=["--metrics", "--threads", "4"])


def test_parser_is_strict():
    good = ('# HELP a_total x\n# TYPE a_total counter\na_total{k="v\\"\\\\\\n"} 1\n'
            '# HELP h y\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\n'
            'h_sum 0.5\nh_count 2\n')
    fams = parse(good)
    assert fams["a_total"]["samples"] == [("a_total", {"k": 'v"\\\n'}, 1.0)]
    for bad in [good.replace('le="+Inf"} 2', 'le="+Inf"} 0'),      # not cumulative
                good.replace("h_count 2", "h_count 3"),             # count != +Inf
                good.replace('\\"', '"'),                           # unescaped quote
                good.replace("a_total{", "a_total {"),
                good.replace("# TYPE h histogram\n", ""),           # no TYPE
                good + "a_total{k=\"x\"} 2\n",                       # family not contiguous
                good.replace("a_total{", "a_total{k=\"1\",k="),      # label twice
                good.rstrip("\n")]:
        with pytest.raises(AssertionError):
            parse(bad)


def test_off_by_default(tresor_factory):
    plain = tresor_factory("no-metrics")
    r = plain.raw(method="GET", path="/metrics", target=None, sign=False)
    assert r.status == 400
    assert r.error_code == "UnknownOperationException"
    assert json.loads(r.body)["message"] == "The requested operation is not recognized by the service."


def test_counts_move_with_requests(srv):
    sm, kms = srv.sm(), srv.kms()
    sm.create_secret(Name="metrics/db", SecretString="hunter2-never-in-metrics")
    key = kms.create_key(Description="m")["KeyMetadata"]["KeyId"]
    _, before = scrape(srv)
    assert value(before, "tresor_sealed") == 0
    assert before["tresor_sealed"]["type"] == "gauge"
    commits0 = value(before, "tresor_store_commit_duration_seconds",
                     "tresor_store_commit_duration_seconds_count")
    assert commits0 >= 2                       # CreateSecret and CreateKey committed

    for _ in range(5):
        assert sm.get_secret_value(SecretId="metrics/db")["SecretString"] == "hunter2-never-in-metrics"
    with pytest.raises(ClientError) as e:
        sm.get_secret_value(SecretId="metrics/absent")
    assert e.value.response["Error"]["Code"] == "ResourceNotFoundException"
    blob = kms.encrypt(KeyId=key, Plaintext=b"p")["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=blob)
    srv.sts().get_caller_identity()
    srv.iam().list_users()
    sm.put_secret_value(SecretId="metrics/db", SecretString="hunter3-never-in-metrics")
    bad = srv.client("secretsmanager", access_key="AKIAIOSFODNN7EXAMPLE", secret_key="x" * 40)
    with pytest.raises(ClientError) as e:
        bad.get_secret_value(SecretId="metrics/db")
    assert e.value.response["Error"]["Code"] == "UnrecognizedClientException"
    r = srv.raw(target="TrentService.NoSuchThing")
    assert r.status == 400 and r.error_code == "UnknownOperationException"
    text, after = scrape(srv)

    def delta(service, op, code):
        return req(after, service, op, code) - req(before, service, op, code)

    assert delta("secretsmanager", "GetSecretValue", "200") == 5
    assert delta("secretsmanager", "GetSecretValue", "400") == 2      # not found, bad access key
    assert delta("kms", "Encrypt", "200") == 1 and delta("kms", "Decrypt", "200") == 1
    assert delta("sts", "GetCallerIdentity", "200") == 1
    assert delta("iam", "ListUsers", "200") == 1
    assert delta("secretsmanager", "PutSecretValue", "200") == 1
    assert delta("kms", "unknown", "400") == 1
    assert delta("none", "metrics", "200") == 1                      # the first scrape
    assert (lat_count(after, "secretsmanager", "GetSecretValue")
            - lat_count(before, "secretsmanager", "GetSecretValue")) == 7
    commits1 = value(after, "tresor_store_commit_duration_seconds", "tresor_store_commit_duration_seconds_count")
    assert commits1 > commits0                                        # PutSecretValue committed
    hits = lambda f, c: value(f, "tresor_cache_hits_total", cache=c)   # noqa: E731
    assert hits(after, "secrets") > hits(before, "secrets")          # GetSecretValue again and again
    assert hits(after, "signing-keys") > hits(before, "signing-keys")
    for fam in ("tresor_cache_misses_total", "tresor_cache_invalidations_total", "tresor_cache_evictions_total"):
        assert after[fam]["type"] == "counter" and after[fam]["samples"]

    # labels: only these names, and nothing a request carried
    names = {k for f in after.values() for _, lab, _ in f["samples"] for k in lab}
    assert names <= {"service", "operation", "code", "le", "cache"}, names
    for leak in ("hunter2", "hunter3", "metrics/db", key, ACCOUNT, srv.access_key, "arn:aws", "AKIA"):
        assert leak not in text, leak


def test_threads_summed_on_scrape(srv):
    sm = srv.sm()
    sm.create_secret(Name="t", SecretString="v")
    _, before = scrape(srv)
    errors = []

    def worker():
        c = srv.sm()
        try:
            for _ in range(25):
                c.describe_secret(SecretId="t")
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    _, after = scrape(srv)
    assert req(after, "secretsmanager", "DescribeSecret", "200") - req(before, "secretsmanager",
                                                                      "DescribeSecret", "200") == 150
    assert (lat_count(after, "secretsmanager", "DescribeSecret")
            - lat_count(before, "secretsmanager", "DescribeSecret")) == 150


def test_unauthenticated_and_get_only(srv):
    r = srv.raw(method="GET", path="/metrics", target=None, sign=False)
    assert r.status == 200 and r.headers["content-type"] == CT
    parse(r.body.decode())
    r = srv.raw(method="POST", path="/metrics", target=None, sign=False)
    assert r.status == 400 and r.error_code == "UnknownOperationException"


def test_audit_lines_counted(tresor_factory, tmp_path):
    """With --audit-log, tresor_audit_lines_written_total follows the log's own line count."""
    log = tmp_path / "audit.log"
    srv = tresor_factory("metrics-audit", args=["--metrics", "--audit-log", log])
    _, before = scrape(srv)
    assert before["tresor_audit_lines_written_total"]["type"] == "counter"
    for _ in range(3):
        srv.kms().list_keys()
    _, after = scrape(srv)
    written = value(after, "tresor_audit_lines_written_total")
    assert written - value(before, "tresor_audit_lines_written_total") == 3
    assert written == len(log.read_text().splitlines())      # the start checkpoint and three requests
    _, plain = scrape(tresor_factory("metrics-no-audit", args=["--metrics"]))
    assert "tresor_audit_lines_written_total" not in plain
