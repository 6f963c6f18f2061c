"""
snapshot_collect.py -- `tresor snapshot collect`: an account's IAM, KMS and
Secrets Manager authorization state, read with the caller's credentials and
written as one snapshot file (docs/SNAPSHOTS.md).

tresor runs this with python3 (TRESOR_PYTHON), the script compiled into the
binary (build/gen/cli/snapshot_collect_py.inc), so an installed tresor needs
no file beside it.  It uses boto3, the AWS SDK for Python (the library under
the AWS CLI): profiles, the shared config, credentials of any kind and the
endpoint URL work as they do for the CLI.

Only read-only calls: sts GetCallerIdentity, iam
GetAccountAuthorizationDetails, and per region kms ListKeys, DescribeKey,
GetKeyPolicy, ListGrants, ListResourceTags, ListAliases, secretsmanager
ListSecrets (planned deletions included) and GetResourcePolicy; and the
account's AWS Organizations policies when the caller may read them:
organizations DescribeOrganization, ListParents (from the account up to the
root), ListPoliciesForTarget (SCPs and RCPs, per level) and DescribePolicy.
An endpoint that does not serve Organizations (tresor itself: its
UnknownOperationException) means no organization.  Every page
is kept as the service returned it.  Throttling and transient errors are
retried with exponential backoff (botocore's "standard" retry mode, up to
COLLECT_MAX_ATTEMPTS attempts).  A call refused with AccessDenied is a gap:
recorded in the manifest with the call, region, resource and AWS's message,
and the collection goes on; any other error stops it (exit 1, nothing
written).  Progress goes to standard error when it is a terminal.

Nothing secret is read: no GetSecretValue, no key material; the
credentials stay with boto3.  The file is written to OUT.tmp then renamed,
mode 0600 (it describes who can read what).
"""
import argparse
import datetime
import json
import os
import sys

COLLECT_MAX_ATTEMPTS = 10
# Refusals that make a gap; anything else (bad credentials, a bad
# endpoint, a service error) stops the collection.
DENIED = {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}


def die(msg):
    sys.stderr.write("tresor snapshot collect: %s\n" % msg)
    sys.exit(1)


class Progress:
    def __init__(self):
        self.tty = sys.stderr.isatty()
        self.calls = 0

    def step(self, what):
        self.calls += 1
        if self.tty:
            sys.stderr.write("\r\033[K%5d calls  %s" % (self.calls, what[:70]))
            sys.stderr.flush()

    def done(self):
        if self.tty:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def strip(resp):
    """The response without botocore's ResponseMetadata, dates as AWS CLI
    prints them (ISO 8601), so a file made with the CLI reads the same."""
    resp = dict(resp)
    resp.pop("ResponseMetadata", None)
    return json.loads(json.dumps(resp, default=_iso))


def _iso(v):
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.isoformat()
    raise TypeError("not JSON: %r" % type(v))


class Collector:
    def __init__(self, session, endpoint, progress):
        import botocore.config
        self.session = session
        self.endpoint = endpoint
        self.progress = progress
        self.gaps = []
        self.config = botocore.config.Config(
            retries={"mode": "standard", "max_attempts": COLLECT_MAX_ATTEMPTS})
        self.clients = {}

    def client(self, service, region):
        k = (service, region)
        if k not in self.clients:
            self.clients[k] = self.session.client(
                service, region_name=region, endpoint_url=self.endpoint, config=self.config)
        return self.clients[k]

    def call(self, service, region, op, resource, tolerate=(), **params):
        """One call; None (and a gap) when access is denied; the error
        code itself when it is one of `tolerate`."""
        from botocore.exceptions import ClientError
        self.progress.step("%s %s %s %s" % (region or "", service, op, resource or ""))
        c = self.client(service, region)
        method = getattr(c, _snake(op))
        try:
            return strip(method(**params))
        except ClientError as e:
            err = e.response.get("Error", {})
            if err.get("Code") in tolerate:
                return err.get("Code")
            if err.get("Code") in DENIED:
                self.gaps.append({"Service": service, "Operation": op, "Region": region,
                                  "Resource": resource, "ErrorCode": err.get("Code"),
                                  "Message": err.get("Message", "")})
                return None
            die("%s %s (%s): %s: %s" % (service, op, resource or region,
                                        err.get("Code"), err.get("Message", "")))


# An endpoint that does not know the Organizations API (tresor does not
# serve it): no organization, and nothing is recorded.
NO_ORGANIZATIONS = {"UnknownOperationException", "UnknownOperation", "InvalidAction",
                    "UnsupportedOperation", "NotImplemented"}
ORG_TYPES = ("SERVICE_CONTROL_POLICY", "RESOURCE_CONTROL_POLICY")


def _snake(op):
    """The SDK's method name of an operation (botocore's own conversion:
    ListOpenIDConnectProviders -> list_open_id_connect_providers)."""
    from botocore import xform_name
    return xform_name(op)


def _pages(col, service, region, op, resource, params, marker, next_marker, truncated=None):
    """Every page of one paginated call: None when the first page failed,
    the pages read so far when a later one did.  `next_marker` is the
    response member that names the next page and `marker` the request
    parameter that takes it; `truncated`, where the service has one, is the
    response flag that says another page follows."""
    out = []
    while True:
        page = col.call(service, region, op, resource, **params)
        if page is None:
            return None if not out else out
        out.append(page)
        if (truncated and not page.get(truncated)) or not page.get(next_marker):
            return out
        params[marker] = page[next_marker]


def iam_pages(col):
    return _pages(col, "iam", "us-east-1", "GetAccountAuthorizationDetails", None, {},
                  "Marker", "Marker", "IsTruncated")


def kms_pages(col, region, op, resource, **params):
    return _pages(col, "kms", region, op, resource, params, "Marker", "NextMarker", "Truncated")


def sm_pages(col, region, op, resource, **params):
    return _pages(col, "secretsmanager", region, op, resource, params, "NextToken", "NextToken")


def collect_organization(col, account):
    """The Organizations member (docs/SNAPSHOTS.md, "Organizations"), or
    None when nothing can be said: Organizations unknown to the endpoint,
    or DescribeOrganization refused (a gap)."""
    r = "us-east-1"
    d = col.call("organizations", r, "DescribeOrganization", None,
                 tolerate=NO_ORGANIZATIONS | {"AWSOrganizationsNotInUseException"})
    if d == "AWSOrganizationsNotInUseException":
        return {}
    if d is None or isinstance(d, str):
        return None
    org = {"DescribeOrganization": d}
    # The path, from the account up to the root.
    path, child = [(account, "ACCOUNT")], account
    while True:
        p = col.call("organizations", r, "ListParents", child, ChildId=child)
        if p is None:
            return org          # refused: a gap, no levels
        parents = p.get("Parents", [])
        if not parents:
            break
        child, ctype = parents[0]["Id"], parents[0]["Type"]
        path.append((child, ctype))
        if ctype == "ROOT" or len(path) > 8:
            break
    path.reverse()
    targets, policies = [], {}
    for tid, ttype in path:
        t = {"TargetId": tid, "Type": ttype, "ListPoliciesForTarget": {}}
        targets.append(t)
    for ptype in ORG_TYPES:
        lists = []
        for t in targets:
            pages = _pages(col, "organizations", r, "ListPoliciesForTarget", t["TargetId"],
                           {"TargetId": t["TargetId"], "Filter": ptype}, "NextToken", "NextToken")
            if pages is None:
                lists = None
                break
            lists.append(pages)
        if lists is None:
            continue            # refused at some level (a gap): the type is left out
        for t, pages in zip(targets, lists):
            t["ListPoliciesForTarget"][ptype] = pages
            for page in pages:
                for s in page.get("Policies", []):
                    if s["Id"] not in policies:
                        dp = col.call("organizations", r, "DescribePolicy", s["Id"], PolicyId=s["Id"])
                        if dp is None:
                            return None     # a policy unread: the levels cannot be told
                        policies[s["Id"]] = dp
    org["Targets"] = targets
    org["Policies"] = policies
    return org


def collect_region(col, region):
    reg = {}
    keys = kms_pages(col, region, "ListKeys", None)
    if keys is not None:
        reg["ListKeys"] = keys
    aliases = kms_pages(col, region, "ListAliases", None)
    if aliases is not None:
        reg["ListAliases"] = aliases
    per_key = {}
    for page in keys or []:
        for k in page.get("Keys", []):
            kid, karn = k["KeyId"], k.get("KeyArn", k["KeyId"])
            one = {}
            d = col.call("kms", region, "DescribeKey", karn, KeyId=karn)
            if d is not None:
                one["DescribeKey"] = d
            p = col.call("kms", region, "GetKeyPolicy", karn, KeyId=karn, PolicyName="default")
            if p is not None:
                one["GetKeyPolicy"] = p
            g = kms_pages(col, region, "ListGrants", karn, KeyId=karn)
            if g is not None:
                one["ListGrants"] = g
            t = kms_pages(col, region, "ListResourceTags", karn, KeyId=karn)
            if t is not None:
                one["ListResourceTags"] = t
            per_key[kid] = one
    reg["Keys"] = per_key
    # Secrets pending deletion too, where the SDK knows the parameter
    # (botocore models from 2023 on); they read as no reader either way.
    extra = {}
    model = col.client("secretsmanager", region).meta.service_model
    if "IncludePlannedDeletion" in model.operation_model("ListSecrets").input_shape.members:
        extra["IncludePlannedDeletion"] = True
    secrets = sm_pages(col, region, "ListSecrets", None, **extra)
    if secrets is not None:
        reg["ListSecrets"] = secrets
    per_secret = {}
    for page in secrets or []:
        for s in page.get("SecretList", []):
            arn = s["ARN"]
            one = {}
            rp = col.call("secretsmanager", region, "GetResourcePolicy", arn, SecretId=arn)
            if rp is not None:
                one["GetResourcePolicy"] = rp
            per_secret[arn] = one
    reg["Secrets"] = per_secret
    return reg


def collect_oidc(col):
    """The account's IAM OpenID Connect providers: ListOpenIDConnectProviders
    and, for each, GetOpenIDConnectProvider keyed by its ARN (AWS's
    responses); None when the listing is refused (a gap)."""
    lst = col.call("iam", "us-east-1", "ListOpenIDConnectProviders", None)
    if lst is None:
        return None
    per = {}
    for p in lst.get("OpenIDConnectProviderList", []):
        arn = p["Arn"]
        one = col.call("iam", "us-east-1", "GetOpenIDConnectProvider", arn,
                       OpenIDConnectProviderArn=arn)
        if one is not None:
            per[arn] = one
    return {"ListOpenIDConnectProviders": lst, "Providers": per}


def main(argv):
    ap = argparse.ArgumentParser(prog="tresor snapshot collect")
    ap.add_argument("--out", required=True)
    ap.add_argument("--profile")
    ap.add_argument("--endpoint-url")
    ap.add_argument("--region", action="append", default=[])
    a = ap.parse_args(argv)
    try:
        import boto3
    except ImportError:
        die("needs boto3, the AWS SDK for Python (Debian: python3-boto3; or pip install boto3)")
    try:
        session = boto3.Session(profile_name=a.profile) if a.profile else boto3.Session()
    except Exception as e:  # botocore's ProfileNotFound and the like
        die(str(e))
    regions = a.region or ([session.region_name] if session.region_name else [])
    if not regions:
        die("no region: give --region R (repeatable) or set one in the profile")
    for r in regions:
        if not r or len(r) > 31:
            die("not a region: %r" % r)
    prog = Progress()
    col = Collector(session, a.endpoint_url, prog)
    ident = col.call("sts", regions[0], "GetCallerIdentity", None)
    if ident is None:
        die("sts GetCallerIdentity was refused: these credentials cannot be used")
    snap = {
        "TresorSnapshot": 1,
        "Manifest": {
            "Account": ident["Account"],
            "Regions": regions,
            "CollectedAt": datetime.datetime.now(datetime.timezone.utc)
                                   .strftime("%Y-%m-%dT%H:%M:%SZ"),
            "CollectedBy": ident["Arn"],
            "Gaps": col.gaps,
        },
        "GetCallerIdentity": ident,
    }
    iam = iam_pages(col)
    if iam is not None:
        snap["GetAccountAuthorizationDetails"] = iam
    oidc = collect_oidc(col)
    if oidc is not None:
        snap["OpenIDConnectProviders"] = oidc
    org = collect_organization(col, ident["Account"])
    if org is not None:
        snap["Organizations"] = org
    snap["Regions"] = {r: collect_region(col, r) for r in regions}
    prog.done()
    tmp = a.out + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(snap, f, indent=1, sort_keys=False)
        f.write("\n")
    os.rename(tmp, a.out)
    nkeys = sum(len(v["Keys"]) for v in snap["Regions"].values())
    nsec = sum(len(v["Secrets"]) for v in snap["Regions"].values())
    sys.stderr.write("tresor snapshot collect: account %s, %d region(s), %d key(s), %d secret(s), "
                     "%d gap(s), %d calls -> %s\n"
                     % (ident["Account"], len(regions), nkeys, nsec, len(col.gaps), prog.calls, a.out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
