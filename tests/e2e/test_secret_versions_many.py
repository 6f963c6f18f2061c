"""
test_secret_versions_many.py -- staging labels and pruning on a secret with
more than 100 versions, through boto3, on the path that reads only the
versions a new one changes (src/secrets/secrets.c, "The version index").

AWS keeps at most 100 versions and removes deprecated (unlabeled) ones
beyond that, oldest first; labels move as tests/e2e/test_secrets.py
asserts.  Here a secret is written past 100 versions with a custom label
on an early version and AWSCURRENT moved back to an older version, and
every answer is compared with what the rules give; then the stopped
store's version index is taken away or made stale (as a secret stored
before the index, or saved by a build without it, has it), the server
restarted, and the same rules hold, `tresor check` staying clean; and
`tresor check` names a creation order that lost a row.  The stopped store
is changed with SQL, in the SQLite file or, under TRESOR_E2E_STORE=postgres,
in the server's database.
"""

import contextlib
import json
import sqlite3

from tresor_e2e import pg_sql, unique


def token(n):
    return f"00000000-0000-4000-8000-{n:012d}"


def store_sql(tresor, sql, *params):
    """Run sql (one ? per parameter) on the stopped server's store, its
    SQLite file or its PostgreSQL database; the first column of each row."""
    if tresor.store_url:
        parts = sql.split("?")
        assert len(parts) == len(params) + 1
        text = parts[0] + "".join("'" + p.replace("'", "''") + "'" + rest
                                  for p, rest in zip(params, parts[1:]))
        return pg_sql(text, tresor.store_url).splitlines()
    with contextlib.closing(sqlite3.connect(str(tresor.data_dir / "tresor.db"))) as c, c:
        return [row[0] for row in c.execute(sql, params).fetchall()]


def versions(sm, sid):
    """[(version id, [labels])] oldest first, deprecated ones included."""
    out, kw = [], {}
    while True:
        page = sm.list_secret_version_ids(SecretId=sid, IncludeDeprecated=True, MaxResults=100, **kw)
        out += [(v["VersionId"], v.get("VersionStages", [])) for v in page["Versions"]]
        if "NextToken" not in page:
            return out
        kw = {"NextToken": page["NextToken"]}


class Model:
    """The versions and labels the rules give, to compare with the server."""

    def __init__(self):
        self.v = []             # [(id, set(labels))], oldest first

    def holder(self, label):
        return next((vid for vid, ls in self.v if label in ls), None)

    def put(self, vid, labels):
        old_current = self.holder("AWSCURRENT") if "AWSCURRENT" in labels else None
        for _, ls in self.v:
            ls.difference_update(labels)
        if old_current and old_current != vid:
            for _, ls in self.v:
                ls.discard("AWSPREVIOUS")
            ls = dict(self.v)[old_current]
            ls.add("AWSPREVIOUS")
            if "AWSPENDING" not in labels:
                ls.discard("AWSPENDING")
        self.v.append((vid, set(labels)))
        while len(self.v) > 100:
            i = next((i for i, (_, ls) in enumerate(self.v) if not ls), None)
            if i is None:
                break
            del self.v[i]

    def move_current(self, to, frm):
        d = dict(self.v)
        d[frm].discard("AWSCURRENT")
        d[to].add("AWSCURRENT")
        for vid, ls in self.v:
            if vid != frm:
                ls.discard("AWSPREVIOUS")
        d[frm].add("AWSPREVIOUS")
        d[to].discard("AWSPREVIOUS")

    def listing(self):
        return [(vid, sorted(ls)) for vid, ls in self.v]


def drive(sm, sid, model, first, last):
    for n in range(first, last + 1):
        if n % 37 == 0:
            to = model.v[-3][0]
            sm.update_secret_version_stage(SecretId=sid, VersionStage="AWSCURRENT",
                                           MoveToVersionId=to,
                                           RemoveFromVersionId=model.holder("AWSCURRENT"))
            model.move_current(to, model.holder("AWSCURRENT"))
            continue
        labels = ["AWSPENDING"] if n % 9 == 0 else ["AWSCURRENT"]
        r = sm.put_secret_value(SecretId=sid, ClientRequestToken=token(n), SecretString=f"v{n}",
                                VersionStages=labels)
        assert r["VersionId"] == token(n)
        assert r["VersionStages"] == labels
        model.put(token(n), labels)


def test_more_than_100_versions(tresor):
    sm = tresor.sm()
    sid = unique("many")
    sm.create_secret(Name=sid, ClientRequestToken=token(1), SecretString="v1")
    model = Model()
    model.put(token(1), ["AWSCURRENT"])
    sm.put_secret_value(SecretId=sid, ClientRequestToken=token(2), SecretString="keep",
                        VersionStages=["KEEP"])
    model.put(token(2), ["KEEP"])
    drive(sm, sid, model, 3, 130)
    got = versions(sm, sid)
    assert len(got) == 100
    assert got == model.listing()
    assert sm.get_secret_value(SecretId=sid, VersionStage="KEEP")["SecretString"] == "keep"
    cur = model.holder("AWSCURRENT")
    assert sm.get_secret_value(SecretId=sid)["VersionId"] == cur
    # An idempotent retry of the current version: nothing changes.
    r = sm.put_secret_value(SecretId=sid, ClientRequestToken=cur,
                            SecretString=sm.get_secret_value(SecretId=sid)["SecretString"])
    assert r["VersionId"] == cur
    assert versions(sm, sid) == model.listing()


def test_index_missing_or_stale_after_restart(tresor_factory):
    tresor = tresor_factory("stale")
    sm = tresor.sm()
    sid = unique("stale")
    arn = sm.create_secret(Name=sid, ClientRequestToken=token(1), SecretString="v1")["ARN"]
    model = Model()
    model.put(token(1), ["AWSCURRENT"])
    drive(sm, sid, model, 2, 104)
    for how in ("missing", "stale", "missing-order"):
        tresor.stop_clean()
        if how == "missing-order":
            store_sql(tresor, "DELETE FROM relations WHERE kind = 'secret-seq' AND src = ?", arn)
        (doc,) = store_sql(tresor, "SELECT doc FROM entities WHERE kind = 'secret' AND arn = ?", arn)
        d = json.loads(doc)
        if how == "stale":
            d["version_index"]["at"] = 1
        else:
            d.pop("version_index")
        store_sql(tresor, "UPDATE entities SET doc = ? WHERE kind = 'secret' AND arn = ?",
                  json.dumps(d), arn)
        tresor.start()
        sm = tresor.sm()
        base = {"missing": 200, "stale": 300, "missing-order": 400}[how]
        drive(sm, sid, model, base, base + 8)
        assert versions(sm, sid) == model.listing()
        p = tresor.run_tresor("check", "--data-dir", tresor.data_dir)
        assert p.returncode == 0, p.stdout + p.stderr


def test_check_names_a_lost_order_row(tresor_factory):
    tresor = tresor_factory("order")
    sm = tresor.sm()
    sid = unique("order")
    arn = sm.create_secret(Name=sid, ClientRequestToken=token(1), SecretString="v1")["ARN"]
    for n in (2, 3):
        sm.put_secret_value(SecretId=sid, ClientRequestToken=token(n), SecretString=f"v{n}")
    tresor.stop_clean()
    store_sql(tresor, "DELETE FROM relations WHERE kind = 'secret-seq' AND src = ? AND dst LIKE ?",
              arn, f"%|{token(2)}")
    p = tresor.run_tresor("check", "--data-dir", tresor.data_dir)
    assert p.returncode == 1, p.stdout + p.stderr
    assert f"PROBLEM secret {arn}: the creation order has another number of versions" in p.stdout
