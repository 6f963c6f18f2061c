"""
GetAccessKeyLastUsed (issue 21), with boto3 and the AWS CLI: before any
use the reply says "N/A" for the service and Region and has no date; after
a call it has the minute of the call, the service and the Region of the
request's credential scope; session credentials record nothing on the key
that made them; another user's key needs iam:GetAccessKeyLastUsed on that
user; an unknown or temporary key is NoSuchEntity; the record survives a
clean restart (written by the maintenance flush or at the stop) --
src/auth/key_last_used.c.
"""

import datetime
import json
import sqlite3

import pytest

from tresor_e2e import (REGION, TresorServer, allow, denied_msg, eventually, make_user, pg_sql,
                        raises_aws, user_arn)


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = TresorServer("key-last-used", tmp_path_factory.mktemp("tresor-key-last-used"))
    s.start({"TRESOR_MAINTENANCE_INTERVAL": "1"})
    yield s
    s.close()


@pytest.fixture(scope="module")
def root(srv):
    return srv.root_user


def last_used(iam, akid):
    r = iam.get_access_key_last_used(AccessKeyId=akid)
    r.pop("ResponseMetadata")
    return r


def utc_minute_now():
    return datetime.datetime.now(datetime.timezone.utc).replace(second=0, microsecond=0)


def test_unused_key_is_na(root):
    u = make_user(root)
    r = last_used(root.iam, u.access_key)
    assert r == {"UserName": u.name, "AccessKeyLastUsed": {"ServiceName": "N/A", "Region": "N/A"}}


def test_use_records_minute_service_region(root):
    u = make_user(root, policy=allow("kms:ListKeys"))
    before = utc_minute_now()
    u.kms.list_keys()
    after = utc_minute_now()
    r = last_used(root.iam, u.access_key)
    assert r["UserName"] == u.name
    lu = r["AccessKeyLastUsed"]
    assert set(lu) == {"LastUsedDate", "ServiceName", "Region"}, r
    assert lu["ServiceName"] == "kms" and lu["Region"] == REGION, r
    assert before <= lu["LastUsedDate"] <= after, r
    assert lu["LastUsedDate"].second == 0


def test_denied_call_still_records(root):
    """An authenticated request records its key, allowed or not (the key was used)."""
    u = make_user(root)
    with raises_aws("AccessDeniedException"):
        u.client("secretsmanager").list_secrets()
    lu = last_used(root.iam, u.access_key)["AccessKeyLastUsed"]
    assert lu["ServiceName"] == "secretsmanager" and lu["Region"] == REGION, lu


def test_latest_service_wins(root):
    u = make_user(root, policy=allow(["kms:ListKeys", "iam:GetUser"]))
    u.kms.list_keys()
    u.iam.get_user()
    lu = last_used(root.iam, u.access_key)["AccessKeyLastUsed"]
    assert lu["ServiceName"] == "iam", lu


def test_session_records_nothing_on_its_key(root):
    """Calls made with GetSessionToken's credentials are not the key's; the
    GetSessionToken call itself is."""
    u = make_user(root, policy=allow("*"))
    creds = u.sts.get_session_token()["Credentials"]
    lu = last_used(root.iam, u.access_key)["AccessKeyLastUsed"]
    assert lu["ServiceName"] == "sts", lu
    s = u.server.client("kms", access_key=creds["AccessKeyId"], secret_key=creds["SecretAccessKey"],
                        session_token=creds["SessionToken"])
    s.list_keys()
    lu = last_used(root.iam, u.access_key)["AccessKeyLastUsed"]
    assert lu["ServiceName"] == "sts", lu
    # A temporary key has no record of its own.
    with raises_aws("NoSuchEntity", f"The Access Key with id {creds['AccessKeyId']} cannot be found.",
                    status=404):
        root.iam.get_access_key_last_used(AccessKeyId=creds["AccessKeyId"])


def test_own_key_and_other_users_key(root):
    me = make_user(root, policy=allow("iam:GetAccessKeyLastUsed", user_arn("${aws:username}")))
    other = make_user(root)
    r = last_used(me.iam, me.access_key)
    assert r["UserName"] == me.name and r["AccessKeyLastUsed"]["ServiceName"] == "iam", r
    with raises_aws("AccessDenied",
                    denied_msg(me.arn, "iam:GetAccessKeyLastUsed", user_arn(other.name)), status=403):
        me.iam.get_access_key_last_used(AccessKeyId=other.access_key)
    root.iam.put_user_policy(UserName=me.name, PolicyName="other",
                             PolicyDocument=__import__("json").dumps(
                                 {"Version": "2012-10-17",
                                  "Statement": [allow("iam:GetAccessKeyLastUsed",
                                                      user_arn(other.name))]}))
    assert last_used(me.iam, other.access_key)["UserName"] == other.name


def test_root_key_has_no_user_name(root):
    r = last_used(root.iam, root.access_key)
    assert "UserName" not in r
    assert r["AccessKeyLastUsed"]["ServiceName"] == "iam", r


def test_unknown_and_malformed(root):
    with raises_aws("NoSuchEntity", "The Access Key with id AKIAAAAAAAAAAAAAAAAA cannot be found.",
                    status=404):
        root.iam.get_access_key_last_used(AccessKeyId="AKIAAAAAAAAAAAAAAAAA")
    with raises_aws("ValidationError", contains="Member must satisfy regular expression pattern"):
        root.iam.get_access_key_last_used(AccessKeyId="AKIA-AAAAAAAAAAAAAAA")
    with raises_aws("ValidationError", contains="Member must have length greater than or equal to 16"):
        root.iam.get_access_key_last_used(AccessKeyId="AKIA")


def test_deleted_key_forgotten(root):
    u = make_user(root, policy=allow("kms:ListKeys"))
    u.kms.list_keys()
    root.iam.delete_access_key(UserName=u.name, AccessKeyId=u.access_key)
    with raises_aws("NoSuchEntity", status=404):
        root.iam.get_access_key_last_used(AccessKeyId=u.access_key)


def test_cli(srv, root):
    u = make_user(root, policy=allow("kms:ListKeys"))
    rc, out, err = srv.cli("iam", "get-access-key-last-used", "--access-key-id", u.access_key)
    assert rc == 0, err
    assert out == {"UserName": u.name, "AccessKeyLastUsed": {"ServiceName": "N/A", "Region": "N/A"}}
    u.kms.list_keys()
    rc, out, err = srv.cli("iam", "get-access-key-last-used", "--access-key-id", u.access_key)
    assert rc == 0, err
    assert out["AccessKeyLastUsed"]["ServiceName"] == "kms", out
    assert out["AccessKeyLastUsed"]["LastUsedDate"].endswith(":00+00:00"), out
    rc, out, err = srv.cli("iam", "get-access-key-last-used", "--access-key-id", "AKIAAAAAAAAAAAAAAAAA")
    assert rc != 0 and "NoSuchEntity" in err and "cannot be found" in err, err


def stored(srv, akid):
    """The store's record of akid (the maintenance pass wrote it), or None."""
    sql = f"SELECT doc FROM entities WHERE kind = 'iam-key-used' AND arn = '{akid}'"
    if srv.store_url:
        out = pg_sql(sql, srv.store_url).strip()
        return json.loads(out) if out else None
    con = sqlite3.connect(f"file:{srv.data_dir / 'tresor.db'}?mode=ro", uri=True)
    try:
        row = con.execute(sql).fetchone()
    finally:
        con.close()
    return json.loads(row[0]) if row else None


def test_maintenance_writes_the_record(srv, root):
    """No store write on the request; the next maintenance pass writes it."""
    u = make_user(root, policy=allow("kms:ListKeys"))
    u.kms.list_keys()
    lu = last_used(root.iam, u.access_key)["AccessKeyLastUsed"]

    def written():
        doc = stored(srv, u.access_key)
        assert doc is not None
        return doc
    doc = eventually(written)
    assert doc == {"ts": int(lu["LastUsedDate"].timestamp()), "service": "kms", "region": REGION}


def test_survives_restart(srv, root):
    """The clean stop writes the table; the restarted server reads the record."""
    u = make_user(root, policy=allow("kms:ListKeys"))
    u.kms.list_keys()
    want = last_used(root.iam, u.access_key)
    srv.restart()
    assert last_used(srv.root_user.iam, u.access_key) == want
