"""
`tresor who-can-decrypt --format html` and `what-can-decrypt --format html`
(docs/WHO_CAN_DECRYPT.md, "--format html"): one self-contained page, loaded
in a real browser -- headless Chromium from Debian (scripts/install-deps) --
and read back from the DOM its script rendered.

  - The page holds the --format json answer as it is (one data block per
    answer) and loads nothing: no http(s) URL, no src= or href=, and a
    Content-Security-Policy of default-src 'none' with only its own script
    and style allowed, by hash (a wrong hash would stop the script: the
    render checks below would fail, and Chromium logs the violation).
  - Chromium renders it with no console message at all (a JavaScript
    error, a CSP violation or an injected console.log fails the test): the
    readers of a scenario with a direct reader, a reader through an
    assumed role, a grant, a conditional reader ("allowed only if") and a
    "could gain access" entry, each with its path.
  - The filter: the page reads #filter=TEXT&show=conditional|certain from
    its URL (headless --dump-dom cannot type), and hides the readers that
    do not match.
  - Injection: policy text (a Sid of the key policy and of the secret's
    resource policy) and names in a hand-made snapshot holding
    </script><script>alert(1)</script>, <!--, U+2028 and an <img onerror>:
    the page shows them as text, no script or element is injected, and no
    alert blocks the page.
  - --all: one page, one collapsible section per secret; --snapshot answers
    alike; what-can-decrypt: the secrets one principal can read.

Chromium runs as root here, which it refuses without --no-sandbox (its
sandbox needs an unprivileged user): the tests pass --no-sandbox only then.
Acceptable for a test: the page is the one tresor just wrote, loaded from a
file, with a policy that forbids every network load, in a throwaway
profile directory.  Set TRESOR_HTML_SCREENSHOT=PATH to keep the screenshot
the last test takes (how docs/img/who-can-decrypt.png was made).
"""

import html.parser
import json
import os
import re
import shutil
import signal
import subprocess
import urllib.parse

import pytest
from botocore.exceptions import ClientError

from tresor_e2e import (ACCOUNT, allow, assume_role, make_role, make_user, policy_doc, run_tresor_cmd,
                        scaled, trust_policy, unique)

GSV = "secretsmanager:GetSecretValue"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "data", "snapshots")
PAYLOAD = "</script><script>alert(1)</script>"


# ---- the browser -------------------------------------------------------------

def need_chromium():
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/install-deps installs it)")


def chromium(page, tmp_path, fragment="", *, screenshot=None, window="1200,1000"):
    """Load the file `page` (#fragment) in headless Chromium; the DOM after
    its script ran (or the screenshot), and Chromium's console lines."""
    need_chromium()
    profile = tmp_path / f"chromium-profile-{os.urandom(4).hex()}"
    args = [CHROMIUM, "--headless=new", "--disable-gpu", "--no-first-run", "--disable-extensions",
            "--disable-background-networking", "--disable-sync", f"--user-data-dir={profile}",
            "--enable-logging=stderr", "--v=0"]
    if os.geteuid() == 0:
        args.append("--no-sandbox")     # root: see the module's docstring
    url = "file://" + urllib.parse.quote(str(page)) + (("#" + fragment) if fragment else "")
    if screenshot:
        args += ["--hide-scrollbars", f"--window-size={window}", f"--screenshot={screenshot}", url]
    else:
        args += ["--dump-dom", url]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=scaled(90))
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        pytest.fail("Chromium did not finish loading the page: a dialog (an injected alert()?) or a "
                    "script that never ends blocks it\n" + err[-3000:])
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert p.returncode == 0, f"chromium exited {p.returncode}:\n{err[-3000:]}"
    console = [ln for ln in err.splitlines() if ":CONSOLE" in ln]
    return out, console


class Dom(html.parser.HTMLParser):
    """What the rendered page shows: the reader and gain cards (principal,
    classes, hidden, text), the collapsible sections, every script
    element, the body's data-rendered mark.  noscript content (raw text
    when scripts run) is skipped."""

    VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
            "track", "wbr"}

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.cards, self.sections, self.scripts, self.imgs = [], [], [], []
        self.rendered = self.count = self.title = None
        self._stack, self._open, self._noscript, self._in = [], [], 0, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if self._noscript:
            if tag == "noscript":
                self._noscript += 1
            return
        if tag == "noscript":
            self._noscript = 1
            return
        cls = (a.get("class") or "").split()
        if tag == "body":
            self.rendered = a.get("data-rendered")
        if tag == "script":
            self.scripts.append(a)
        if tag == "img":
            self.imgs.append(a)
        if tag in ("details", "section") and "secret" in cls:
            self.sections.append({"tag": tag, "hidden": "hidden" in a, "open": "open" in a, "text": ""})
        if tag in self.VOID:
            return
        card = None
        if tag == "div" and ("reader" in cls or "gain" in cls):
            card = {"kind": "reader" if "reader" in cls else "gain", "principal": a.get("data-principal"),
                    "classes": cls, "hidden": "hidden" in a, "text": ""}
            self.cards.append(card)
            self._open.append(card)
        self._stack.append((tag, card, a.get("id")))

    def handle_endtag(self, tag):
        if self._noscript:
            if tag == "noscript":
                self._noscript -= 1
            return
        while self._stack:
            t, card, _ = self._stack.pop()
            if card is not None:
                self._open.remove(card)
            if t == tag:
                break

    def handle_data(self, data):
        if self._noscript:
            return
        for c in self._open:
            c["text"] += " " + data
        if self.sections and any(t in ("details", "section") for t, _, _ in self._stack):
            self.sections[-1]["text"] += " " + data
        top = self._stack[-1] if self._stack else None
        if top and top[2] == "count":
            self.count = data
        if top and top[0] == "title":
            self.title = data

    def readers(self, visible=None):
        return [c for c in self.cards if c["kind"] == "reader" and (visible is None or c["hidden"] != visible)]

    def shown(self):
        return {c["principal"] for c in self.readers(visible=True)}


def words(text):
    return " ".join(text.split())


def render(page, tmp_path, fragment=""):
    """The page rendered: a Dom, after asserting that the script ran to its
    end and that Chromium logged nothing (no error, no CSP violation)."""
    out, console = chromium(page, tmp_path, fragment)
    assert console == [], "the page logged to the console:\n" + "\n".join(console)
    dom = Dom(out)
    assert dom.rendered is not None, f"the page's script did not finish:\n{out[:3000]}"
    return dom


# ---- the page as written -----------------------------------------------------

def data_blocks(page):
    """The JSON of the page's data blocks: (page meta, [answers])."""
    meta = re.findall(r'<script type="application/json" id="tresor-page">(.*?)</script>', page, re.S)
    answers = re.findall(r'<script type="application/json" class="tresor-answer">(.*?)</script>', page, re.S)
    assert len(meta) == 1, page[:2000]
    return json.loads(meta[0]), [json.loads(a) for a in answers]


def assert_self_contained(page):
    """Nothing to load: no URL, no src= or href=, no CSS import or url(),
    and a policy that forbids loading anything but its own script and
    style."""
    assert not re.search(r"https?://", page, re.I), re.search(r".{80}https?://.{80}", page, re.I | re.S)
    # In markup: no tag with an attribute that loads (the data blocks' text
    # has no '<' at all, assert_blocks_inert).
    assert not re.search(r"<[a-z][^>]*\b(src|href|srcset|action|poster|data|background)\s*=", page, re.I)
    assert "@import" not in page and "url(" not in page
    csp = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page)
    assert len(csp) == 1
    assert csp[0].startswith("default-src 'none'; script-src 'sha256-"), csp
    assert "'unsafe-inline'" not in csp[0] and "'unsafe-eval'" not in csp[0]
    # Exactly the page's own script elements: the renderer and the data blocks.
    tags = re.findall(r"<script\b[^>]*>", page)
    assert tags.count("<script>") == 1, tags
    assert all(t == "<script>" or t.startswith('<script type="application/json"') for t in tags), tags


def assert_blocks_inert(page):
    """No data block holds a character that could end it, start markup or
    end a JavaScript line: only the \\u escapes of them."""
    blocks = re.findall(r'<script type="application/json"[^>]*>(.*?)</script>', page, re.S)
    assert blocks
    for b in blocks:
        assert not set(b) & set("<>&\u2028\u2029"), b[:2000]


def who_can(srv, secret, *extra, fmt="html", rc=0):
    p = srv.run_tresor("who-can-decrypt", secret, "--data-dir", srv.data_dir, "--format", fmt, *extra,
                       timeout=120)
    assert p.returncode == rc, f"who-can-decrypt exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr}"
    return json.loads(p.stdout) if fmt == "json" and rc == 0 else p


def reads(caller, secret_arn):
    try:
        caller.client("secretsmanager").get_secret_value(SecretId=secret_arn)
        return True
    except ClientError as e:
        assert e.response["Error"]["Code"] == "AccessDeniedException", e
        return False


# ---- the scenario ------------------------------------------------------------

@pytest.fixture(scope="module")
def srv(authz_server):
    return authz_server


@pytest.fixture(scope="module")
def scene(srv, root):
    """A secret under a customer key, and: alice reads directly; bob through
    the role html-reader; carol by a grant; dave only from 10.0.0.0/8
    (conditional); erin cannot read but may put a resource policy (could
    gain access); frank nothing."""
    sm = root.client("secretsmanager")
    key = root.kms.create_key(Policy=policy_doc(
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"}))
    k = key["KeyMetadata"]["Arn"]
    s = sm.create_secret(Name=unique("html/db"), SecretString="v", KmsKeyId=k)["ARN"]
    alice = make_user(root, unique("html-alice"), policy=[allow(GSV, s), allow("kms:Decrypt", k)])
    role = make_role(root, unique("html-reader"), trust=trust_policy(f"arn:aws:iam::{ACCOUNT}:root"),
                     policy=[allow(GSV, s), allow("kms:Decrypt", k)])
    bob = make_user(root, unique("html-bob"), policy=allow("sts:AssumeRole", role["Arn"]))
    carol = make_user(root, unique("html-carol"), policy=allow(GSV, s))
    grant = root.kms.create_grant(KeyId=k, GranteePrincipal=carol.arn, Operations=["Decrypt"],
                                  Constraints={"EncryptionContextSubset": {"SecretARN": s}})["GrantId"]
    dave = make_user(root, unique("html-dave"), policy=[
        allow(GSV, s, condition={"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}), allow("kms:Decrypt", k)])
    erin = make_user(root, unique("html-erin"), policy=allow("secretsmanager:PutResourcePolicy", s))
    frank = make_user(root, unique("html-frank"))
    # The answers below are the real ones.
    assert reads(alice, s) and reads(carol, s)
    assert reads(assume_role(bob, role["Arn"]), s)
    assert not reads(erin, s) and not reads(frank, s) and not reads(bob, s)
    return dict(secret=s, key=k, alice=alice, bob=bob, role=role["Arn"], carol=carol, grant=grant,
                dave=dave, erin=erin, frank=frank)


@pytest.fixture(scope="module")
def other_secret(srv, root):
    """A second secret of the account, under the default key, that none of
    the scenario's users reads: --all has two sections, one without alice,
    whichever tests ran before."""
    return root.client("secretsmanager").create_secret(Name=unique("html/other"), SecretString="v")["ARN"]


@pytest.fixture(scope="module")
def page_file(srv, scene, tmp_path_factory):
    """The page of the scenario's secret, written to a file."""
    p = who_can(srv, scene["secret"])
    f = tmp_path_factory.mktemp("html") / "who-can-decrypt.html"
    f.write_text(p.stdout)
    return f


def test_page_holds_the_json_answer(srv, scene, page_file):
    """The page's data block is the --format json answer, unchanged; the
    page loads nothing; without scripts, a noscript list names every
    reader."""
    page = page_file.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert_self_contained(page)
    meta, answers = data_blocks(page)
    assert meta == {"view": "who-can-decrypt"}
    assert answers == [who_can(srv, scene["secret"], fmt="json")]
    readers = {p["principal"] for p in answers[0]["principals"]}
    want = {scene["alice"].arn, scene["bob"].arn, scene["role"], scene["carol"].arn, scene["dave"].arn}
    assert want <= readers and not readers & {scene["erin"].arn, scene["frank"].arn}
    noscript = "".join(re.findall(r"<noscript>(.*?)</noscript>", page, re.S))
    for arn in readers:
        assert f"<code>{arn}</code>" in noscript
    assert f"<code>{scene['bob'].arn}</code> &mdash; via role {scene['role'].split('/')[-1]}" in noscript
    assert f"<code>{scene['dave'].arn}</code> &mdash; direct, key: key-policy, conditional" in noscript


def test_chromium_shows_readers_paths_conditions_and_gains(scene, page_file, tmp_path):
    """Chromium renders every reader with its path and evidence: the direct
    reader, the role hop, the grant (its id), the conditional reader
    marked with its "allowed only if" condition, and the "could gain
    access" entry; no console message."""
    dom = render(page_file, tmp_path)
    answer = data_blocks(page_file.read_text())[1][0]
    readers = {c["principal"]: c for c in dom.readers()}
    assert set(readers) == {p["principal"] for p in answer["principals"]}
    assert not any(c["hidden"] for c in readers.values())
    assert dom.rendered == str(len(readers))
    assert dom.count == f"showing {len(readers)} of {len(readers)} readers"
    assert dom.title.startswith("tresor: Who can decrypt html/db-")
    assert [s["tag"] for s in dom.sections] == ["section"]
    sec = words(dom.sections[0]["text"])
    assert scene["secret"] in sec and scene["key"] + " (Enabled)" in sec

    alice = words(readers[scene["alice"].arn]["text"])
    assert "direct" in alice and "unconditional" in alice and "key: key-policy" in alice
    assert "secretsmanager:GetSecretValue as " + scene["alice"].arn in alice
    assert "kms:Decrypt as " + scene["alice"].arn in alice and "allowed" in alice
    bob = words(readers[scene["bob"].arn]["text"])
    assert f"via role {scene['role'].split('/')[-1]}" in bob
    assert f"sts:AssumeRole {scene['bob'].arn} \u2192 {scene['role']}" in bob
    assert f"trust:{scene['role']}" in bob
    carol = words(readers[scene["carol"].arn]["text"])
    assert "key: grant" in carol and f"grant {scene['grant']}" in carol
    dave = readers[scene["dave"].arn]
    assert "conditional" in dave["classes"]
    assert "conditional: allowed only if conditions hold" in words(dave["text"])
    assert (f"allowed only if the conditions of: identity inline:{scene['dave'].arn}:inline #0 hold"
            in words(dave["text"]))
    assert all("conditional" not in readers[u.arn]["classes"] for u in (scene["alice"], scene["carol"]))

    gains = [c for c in dom.cards if c["kind"] == "gain"]
    erin = [c for c in gains if c["principal"] == scene["erin"].arn]
    assert len(erin) == 1
    assert f"secretsmanager:PutResourcePolicy on {scene['secret']}" in words(erin[0]["text"])
    assert scene["frank"].arn not in {c["principal"] for c in dom.cards}


def test_filter_from_the_url_fragment(scene, page_file, tmp_path):
    """#filter= hides the readers whose principal and path do not hold the
    text (every word, any case); #show=conditional|certain the toggle."""
    alice, dave = scene["alice"].arn, scene["dave"].arn
    all_readers = {c["principal"] for c in render(page_file, tmp_path).readers()}

    dom = render(page_file, tmp_path, "filter=" + urllib.parse.quote(scene["alice"].name.upper()))
    assert dom.shown() == {alice}
    assert {c["principal"] for c in dom.readers(visible=False)} == all_readers - {alice}
    assert dom.count == f"showing 1 of {len(all_readers)} readers"
    # The role's name: the role itself, and bob whose path goes through it.
    role_name = scene["role"].split("/")[-1]
    assert render(page_file, tmp_path, "filter=" + role_name).shown() == {scene["role"], scene["bob"].arn}
    # A statement's text: the grant's id names carol's path only.
    assert render(page_file, tmp_path, "filter=" + scene["grant"]).shown() == {scene["carol"].arn}
    # Every word must match.
    assert render(page_file, tmp_path, "filter=" + urllib.parse.quote(
        f"{scene['alice'].name} {scene['carol'].name}")).shown() == set()
    conditional = render(page_file, tmp_path, "show=conditional").shown()
    assert dave in conditional and alice not in conditional
    certain = render(page_file, tmp_path, "show=certain").shown()
    assert dave not in certain and alice in certain
    assert certain | conditional == all_readers and not certain & conditional
    # Both at once.
    dom = render(page_file, tmp_path, "filter=html-&show=conditional")
    assert dom.shown() == {dave}


def test_names_and_policy_text_cannot_inject(srv, root, tmp_path):
    """Sids of the key policy and the secret's resource policy (free text
    there) that try to end the data block, open a comment, end a
    JavaScript line or add an element: the page's data is still the JSON
    answer, the raw page holds none of them, and Chromium shows them as
    text -- no injected script or element, no alert, nothing logged."""
    sids = [PAYLOAD, "<!-- \u2028\u2029 -->", '<img src=x onerror="console.log(1)">&amp;']
    sm = root.client("secretsmanager")
    reader = make_user(root, unique("html-inj"), policy=allow(GSV))
    k = root.kms.create_key(Policy=policy_doc(
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "kms:*", "Resource": "*"},
        {"Sid": sids[0], "Effect": "Allow", "Principal": {"AWS": reader.arn}, "Action": "kms:Decrypt",
         "Resource": "*"}))["KeyMetadata"]["Arn"]
    s = sm.create_secret(Name=unique("html/inj"), SecretString="v", KmsKeyId=k)["ARN"]
    sm.put_resource_policy(SecretId=s, ResourcePolicy=policy_doc(
        {"Sid": sids[1], "Effect": "Allow", "Principal": {"AWS": reader.arn}, "Action": GSV, "Resource": "*"},
        {"Sid": sids[2], "Effect": "Deny", "Principal": {"AWS": reader.arn}, "Action": GSV, "Resource": "*",
         "Condition": {"StringEquals": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:user/nobody"}}}))
    assert reads(reader, s)
    want = who_can(srv, s, fmt="json")
    ev = json.dumps(want)
    assert all(json.dumps(x)[1:-1] in ev for x in sids), "the Sids are in the answer's evidence"

    page = who_can(srv, s).stdout
    assert_self_contained(page)
    assert data_blocks(page)[1] == [want]
    assert_blocks_inert(page)
    for bad in ("</script><script>", "<!--", "<img"):
        assert bad not in page.split("</head>", 1)[1], bad
    f = tmp_path / "inj.html"
    f.write_text(page)
    dom = render(f, tmp_path)
    assert dom.imgs == []
    assert [a.get("type") for a in dom.scripts] == ["application/json"] * 2 + [None]
    card = words(next(c for c in dom.readers() if c["principal"] == reader.arn)["text"])
    assert f"(Sid {PAYLOAD})" in card and '(Sid <img src=x onerror="console.log(1)">&amp;)' in card


def test_snapshot_names_cannot_inject(tmp_path):
    """A hand-made snapshot is anyone's file: a role named with the payload
    in its trust and its path, and a user too -- the page escapes them in
    its data and in the noscript list."""
    doc = json.load(open(os.path.join(FIXTURES, "aws-cli-111111111111.json")))
    text = json.dumps(doc).replace("ci-deploy", "ci" + PAYLOAD.replace("/", "\\/") + "\u2028")
    f = tmp_path / "snap.json"
    f.write_text(text)
    p = run_tresor_cmd(["who-can-decrypt", "app/db", "--account", "111111111111", "--region", "us-west-2",
                        "--snapshot", str(f), "--format", "json"], str(tmp_path), capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"the snapshot loader refuses such a name: {p.stderr.strip()}")
    want = json.loads(p.stdout)
    assert any(PAYLOAD in x["principal"] for x in want["principals"]), want
    p = run_tresor_cmd(["who-can-decrypt", "app/db", "--account", "111111111111", "--region", "us-west-2",
                        "--snapshot", str(f), "--format", "html"], str(tmp_path), capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    page = p.stdout
    assert_self_contained(page)
    assert data_blocks(page)[1] == [want]
    assert_blocks_inert(page)
    assert PAYLOAD not in page.split("</head>", 1)[1]
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page      # the noscript list
    out = tmp_path / "snap.html"
    out.write_text(page)
    dom = render(out, tmp_path)
    assert [a.get("type") for a in dom.scripts] == ["application/json"] * 2 + [None]
    assert any(PAYLOAD in c["principal"] for c in dom.readers())


def test_snapshot_answer_page(tmp_path):
    """From snapshots: the same page; an account no snapshot holds reads
    as "not collected", conditional, with its own IAM the condition."""
    a = os.path.join(FIXTURES, "aws-cli-111111111111.json")
    where = ["--account", "111111111111", "--region", "us-west-2", "--snapshot", a]
    p = run_tresor_cmd(["who-can-decrypt", "app/db", *where, "--format", "html"], str(tmp_path),
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    j = run_tresor_cmd(["who-can-decrypt", "app/db", *where, "--format", "json"], str(tmp_path),
                       capture_output=True, text=True)
    assert data_blocks(p.stdout)[1] == [json.loads(j.stdout)]
    assert_self_contained(p.stdout)
    f = tmp_path / "snap.html"
    f.write_text(p.stdout)
    dom = render(f, tmp_path)
    assert dom.shown() == {"arn:aws:iam::111111111111:root", "arn:aws:iam::111111111111:role/ci-deploy",
                           "arn:aws:iam::222222222222:root"}
    foreign = next(c for c in dom.readers() if c["principal"] == "arn:aws:iam::222222222222:root")
    assert "account 222222222222 (not collected): anyone that account allows" in words(foreign["text"])
    assert "allowed only if that account's own IAM allows too" in words(foreign["text"])
    assert "conditional" in foreign["classes"]


def test_all_secrets_one_page(srv, scene, other_secret, tmp_path):
    """--all: one page, a collapsed section per secret of the account and
    region (the data blocks are --all --format json's answers); the filter
    hides the sections with no matching reader (other_secret's)."""
    p = srv.run_tresor("who-can-decrypt", "--all", "--data-dir", srv.data_dir, "--format", "html",
                       timeout=120)
    assert p.returncode == 0, p.stderr
    j = srv.run_tresor("who-can-decrypt", "--all", "--data-dir", srv.data_dir, "--format", "json",
                       timeout=120)
    want = json.loads(j.stdout)
    meta, answers = data_blocks(p.stdout)
    assert meta == {"view": "who-can-decrypt", "account": want["account"], "region": want["region"]}
    assert answers == want["secrets"] and len(answers) >= 2
    assert_self_contained(p.stdout)
    f = tmp_path / "all.html"
    f.write_text(p.stdout)
    dom = render(f, tmp_path)
    assert [s["tag"] for s in dom.sections] == ["details"] * len(answers)
    assert not any(s["open"] or s["hidden"] for s in dom.sections)
    assert dom.readers() == []          # rendered when opened
    total = sum(len(a["principals"]) for a in answers)
    assert dom.count == f"showing {total} of {total} readers in {len(answers)} answers"
    assert dom.title == f"tresor: Who can decrypt: the secrets of account {want['account']} in {want['region']}"
    alice = scene["alice"].arn
    dom = render(f, tmp_path, "filter=" + scene["alice"].name)
    visible = [s for s in dom.sections if not s["hidden"]]
    has_alice = [a for a in answers if any(x["principal"] == alice for x in a["principals"])]
    assert len(visible) == len(has_alice) >= 1
    assert len(visible) < len(answers)
    assert other_secret not in [a["secret"]["arn"] for a in has_alice]
    assert all(a["secret"]["name"] in s["text"] for a, s in zip(has_alice, visible))
    assert all("1 of" in s["text"] for s in visible)


def test_all_with_no_secrets(srv, tmp_path):
    """--all of an account with no secret: a whole page saying so (and
    nothing after it)."""
    p = srv.run_tresor("who-can-decrypt", "--all", "--account", "999988887777", "--data-dir", srv.data_dir,
                       "--format", "html")
    assert p.returncode == 0, p.stderr
    assert p.stdout.endswith("</html>\n") and data_blocks(p.stdout)[1] == []
    f = tmp_path / "none.html"
    f.write_text(p.stdout)
    out, console = chromium(f, tmp_path)
    assert console == []
    assert '<p class="empty">No secrets in account 999988887777, region us-east-1.</p>' in out
    assert Dom(out).rendered == "0"


def test_what_can_decrypt_page(srv, scene, tmp_path):
    """what-can-decrypt --format html: the secrets one principal can read,
    each with its path (the blocks are --format json's "secrets")."""
    bob = scene["bob"].arn
    p = srv.run_tresor("what-can-decrypt", bob, "--data-dir", srv.data_dir, "--format", "html")
    assert p.returncode == 0, p.stderr
    j = json.loads(srv.run_tresor("what-can-decrypt", bob, "--data-dir", srv.data_dir, "--format", "json").stdout)
    meta, blocks = data_blocks(p.stdout)
    assert meta == {"view": "what-can-decrypt", "principal": bob, "type": "user"}
    assert blocks == j["secrets"] and len(blocks) >= 1
    assert_self_contained(p.stdout)
    f = tmp_path / "what.html"
    f.write_text(p.stdout)
    dom = render(f, tmp_path)
    assert dom.shown() == {x["secret"]["arn"] for x in j["secrets"]}
    card = words(next(c for c in dom.readers() if c["principal"] == scene["secret"])["text"])
    assert f"via role {scene['role'].split('/')[-1]}" in card
    assert dom.title == f"tresor: What can {bob.split('/')[-1]} decrypt"


def test_html_refused_with_explain_and_diff(srv, scene):
    p = who_can(srv, scene["secret"], "--explain", scene["alice"].arn, rc=2)
    assert "--format html shows the readers; not with --explain" in p.stderr


def test_screenshot(page_file, tmp_path):
    """Chromium draws the page (the README's picture: TRESOR_HTML_SCREENSHOT)."""
    out = os.environ.get("TRESOR_HTML_SCREENSHOT") or str(tmp_path / "who-can-decrypt.png")
    _, console = chromium(page_file, tmp_path, screenshot=out, window="1200,1560")
    assert console == []
    with open(out, "rb") as png:
        assert png.read(8) == b"\x89PNG\r\n\x1a\n"
