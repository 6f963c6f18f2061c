"""
test_replication.py -- Secrets Manager replication between the regions one
server serves (`tresor serve --regions us-east-1,us-west-2`), with boto3
and the AWS CLI.

Covered: ReplicateSecretToRegions (reply, the replica's ARN with the
primary's suffix, its value, VersionId and labels under the replica
region's own managed key or the KmsKeyId given); CreateSecret with
AddReplicaRegions; every later write to the primary propagated at once
(PutSecretValue, UpdateSecret, UpdateSecretVersionStage, TagResource, and
a rotation's steps run by a hook);
writes to a replica refused with AWS's InvalidParameterException;
DescribeSecret's PrimaryRegion and ReplicationStatus; the ListSecrets
primary-region filter; a region not served, the primary's own or given
twice refused ("Invalid replica region.") with nothing changed; a name
taken in the replica region (Failed, then ForceOverwriteReplicaSecret),
and ForceOverwriteReplicaSecret refused (Failed, nothing changed) when that
secret is a primary with replicas or another primary's replica; a
disabled replica key (Failed with the reason, the primary written, InSync
again after re-enabling and the next write); deleting a primary that has
replicas refused; RemoveRegionsFromReplication; StopReplicationToReplica;
who-can-decrypt on a replica ARN; authorization (secretsmanager:
ReplicateSecretToRegions with its AddReplicaRegions key, and kms:Encrypt
besides kms:GenerateDataKey on a replica's customer managed key, through
Secrets Manager of the replica's region).
"""

import json
import os
import shutil
import time
import uuid

import pytest

from tresor_e2e import ACCOUNT, allow, deny, make_role, make_user, raises_aws, scaled, unique

EAST = "us-east-1"
WEST = "us-west-2"
REPLICA_WRITE = ("Operation not permitted on a replica secret. Call must be made in primary "
                 "secret's region.")
BAD_REGION = "Invalid replica region."


@pytest.fixture
def two(tresor_factory):
    return tresor_factory("replication", args=["--regions", f"{EAST},{WEST}"])


def west_arn(arn):
    return arn.replace(f":{EAST}:", f":{WEST}:", 1)


def in_sync(region=WEST, key="alias/aws/secretsmanager"):
    return {"Region": region, "KmsKeyId": key, "Status": "InSync",
            "StatusMessage": "Replication succeeded"}


def statuses(sm, arn):
    """The primary's ReplicationStatus without LastAccessedDate (a read of
    the replica sets it; the day, not asserted on)."""
    return [{k: v for k, v in s.items() if k != "LastAccessedDate"}
            for s in sm.describe_secret(SecretId=arn)["ReplicationStatus"]]


def test_replicate_then_read_in_the_replica_region(two):
    east, west = two.client("secretsmanager"), two.client("secretsmanager", region=WEST)
    arn = east.create_secret(Name="app/db", SecretString="v1", Description="d",
                             Tags=[{"Key": "team", "Value": "a"}])["ARN"]
    got = east.replicate_secret_to_regions(SecretId="app/db", AddReplicaRegions=[{"Region": WEST}])
    assert got["ARN"] == arn
    assert got["ReplicationStatus"] == [in_sync()]

    # The replica: same name and suffix, its region's ARN, same version.
    cur = east.get_secret_value(SecretId=arn)
    rep = west.get_secret_value(SecretId="app/db")
    assert rep["ARN"] == west_arn(arn)
    assert rep["SecretString"] == "v1"
    assert rep["VersionId"] == cur["VersionId"]
    assert rep["VersionStages"] == ["AWSCURRENT"]
    d = west.describe_secret(SecretId=west_arn(arn))
    assert d["PrimaryRegion"] == EAST and "ReplicationStatus" not in d
    assert d["Name"] == "app/db" and d["Description"] == "d"
    assert d["Tags"] == [{"Key": "team", "Value": "a"}]
    assert "KmsKeyId" not in d
    p = east.describe_secret(SecretId=arn)
    assert p["PrimaryRegion"] == EAST
    # The replica was read: the primary's status tells when, as the
    # replica's own DescribeSecret does.
    assert p["ReplicationStatus"] == [dict(in_sync(), LastAccessedDate=d["LastAccessedDate"])]

    # Sealed under the replica region's own managed key.
    kw = two.client("kms", region=WEST).describe_key(KeyId="alias/aws/secretsmanager")["KeyMetadata"]
    assert kw["Arn"].startswith(f"arn:aws:kms:{WEST}:{ACCOUNT}:key/")
    vers = west.list_secret_version_ids(SecretId="app/db")["Versions"]
    assert [v["KmsKeyIds"] for v in vers] == [["DefaultEncryptionKey"]]


def test_writes_to_the_primary_reach_the_replica(two):
    east, west = two.client("secretsmanager"), two.client("secretsmanager", region=WEST)
    arn = east.create_secret(Name="w", SecretString="v1")["ARN"]
    first = east.get_secret_value(SecretId=arn)["VersionId"]
    east.replicate_secret_to_regions(SecretId=arn, AddReplicaRegions=[{"Region": WEST}])

    put = east.put_secret_value(SecretId=arn, SecretString="v2")
    rep = west.get_secret_value(SecretId="w")
    assert rep["SecretString"] == "v2" and rep["VersionId"] == put["VersionId"]
    prev = west.get_secret_value(SecretId="w", VersionStage="AWSPREVIOUS")
    assert prev["SecretString"] == "v1" and prev["VersionId"] == first
    assert west.describe_secret(SecretId="w")["VersionIdsToStages"] == \
        east.describe_secret(SecretId=arn)["VersionIdsToStages"]

    east.update_secret(SecretId=arn, Description="new", SecretString="v3")
    east.tag_resource(SecretId=arn, Tags=[{"Key": "k", "Value": "v"}])
    d = west.describe_secret(SecretId="w")
    assert d["Description"] == "new" and d["Tags"] == [{"Key": "k", "Value": "v"}]
    assert west.get_secret_value(SecretId="w")["SecretString"] == "v3"

    # A label moved on the primary moves on the replica.
    east.update_secret_version_stage(SecretId=arn, VersionStage="MINE", MoveToVersionId=first)
    assert west.get_secret_value(SecretId="w", VersionStage="MINE")["SecretString"] == "v1"
    assert statuses(east, arn) == [in_sync()]


def test_a_replica_is_read_only(two):
    east, west = two.client("secretsmanager"), two.client("secretsmanager", region=WEST)
    arn = east.create_secret(Name="ro", SecretString="v1")["ARN"]
    east.replicate_secret_to_regions(SecretId=arn, AddReplicaRegions=[{"Region": WEST}])
    rid = west_arn(arn)
    writes = [
        lambda: west.put_secret_value(SecretId=rid, SecretString="x"),
        lambda: west.update_secret(SecretId="ro", Description="x"),
        lambda: west.update_secret(SecretId="ro", SecretString="x"),
        lambda: west.delete_secret(SecretId="ro"),
        lambda: west.delete_secret(SecretId="ro", ForceDeleteWithoutRecovery=True),
        lambda: west.tag_resource(SecretId="ro", Tags=[{"Key": "a", "Value": "b"}]),
        lambda: west.untag_resource(SecretId="ro", TagKeys=["a"]),
        lambda: west.put_resource_policy(SecretId="ro", ResourcePolicy=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*",
                                                     "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}}]})),
        lambda: west.update_secret_version_stage(SecretId="ro", VersionStage="X",
                                                 MoveToVersionId=west.get_secret_value(SecretId="ro")["VersionId"]),
        lambda: west.rotate_secret(SecretId="ro"),
        lambda: west.replicate_secret_to_regions(SecretId="ro", AddReplicaRegions=[{"Region": EAST}]),
        lambda: west.remove_regions_from_replication(SecretId="ro", RemoveReplicaRegions=[EAST]),
    ]
    for w in writes:
        with raises_aws("InvalidParameterException", REPLICA_WRITE):
            w()
    assert west.get_secret_value(SecretId="ro")["SecretString"] == "v1"
    assert "Tags" not in west.describe_secret(SecretId="ro")


def test_create_secret_with_replicas_and_the_primary_region_filter(two):
    east, west = two.client("secretsmanager"), two.client("secretsmanager", region=WEST)
    got = east.create_secret(Name="c", SecretString="v", AddReplicaRegions=[{"Region": WEST}])
    assert got["ReplicationStatus"] == [in_sync()]
    assert west.get_secret_value(SecretId=west_arn(got["ARN"]))["VersionId"] == got["VersionId"]
    west.create_secret(Name="own", SecretString="w")
    flt = [{"Key": "primary-region", "Values": [EAST]}]
    assert [s["Name"] for s in west.list_secrets(Filters=flt)["SecretList"]] == ["c"]
    entry = west.list_secrets(Filters=flt)["SecretList"][0]
    assert entry["PrimaryRegion"] == EAST and "ReplicationStatus" not in entry
    assert [s["Name"] for s in west.list_secrets(
        Filters=[{"Key": "primary-region", "Values": [WEST]}])["SecretList"]] == ["own"]
    assert [s["Name"] for s in east.list_secrets(Filters=flt)["SecretList"]] == ["c"]


def test_bad_replica_regions_change_nothing(two):
    east, west = two.client("secretsmanager"), two.client("secretsmanager", region=WEST)
    arn = east.create_secret(Name="bad", SecretString="v")["ARN"]
    for regions in ([{"Region": "eu-west-1"}], [{"Region": EAST}],
                    [{"Region": WEST}, {"Region": WEST}], [{"Region": WEST}, {"Region": "eu-west-1"}]):
        with raises_aws("InvalidParameterException", BAD_REGION):
            east.replicate_secret_to_regions(SecretId=arn, AddReplicaRegions=regions)
    with raises_aws("InvalidParameterException", BAD_REGION):
        east.create_secret(Name="bad2", SecretString="v", AddReplicaRegions=[{"Region": "eu-west-1"}])
    assert "ReplicationStatus" not in east.describe_secret(SecretId=arn)
    assert west.list_secrets()["SecretList"] == []
    assert [s["Name"] for s in east.list_secrets()["SecretList"]] == ["bad"]
    # A region it already replicates to.
    east.replicate_secret_to_regions(SecretId=arn, AddReplicaRegions=[{"Region": WEST}])
    with raises_aws("InvalidParameterException", BAD_REGION):
        east.replicate_secret_to_regions(SecretId=arn, AddReplicaRegions=[{"Region": WEST}])
    with raises_aws("ResourceNotFoundException", "Secrets Manager can't find the specified secret."):
        east.replicate_secret_to_regions(SecretId="nope", AddReplicaRegions=[{"Region": WEST}])


def test_name_taken_in_the_region_then_force_overwrite(two):
    east, west = two.client("secretsmanager"), two.client("secretsmanager", region=WEST)
    arn = east.create_secret(Name="taken", SecretString="east")["ARN"]
    other = west.create_secret(Name="taken", SecretString="west")["ARN"]
    got = east.replicate_secret_to_regions(SecretId=arn, AddReplicaRegions=[{"Region": WEST}])
    assert got["ReplicationStatus"] == [{
        "Region": WEST, "KmsKeyId": "alias/aws/secretsmanager", "Status": "Failed",
        "StatusMessage": f"Replication failed: Secret name taken already exists in region {WEST}."}]
    assert west.get_secret_value(SecretId="taken")["ARN"] == other
    assert west.get_secret_value(SecretId="taken")["SecretString"] == "west"
    # A write to the primary does not touch the other secret either.
    east.put_secret_value(SecretId=arn, SecretString="east2")
    assert west.get_secret_value(SecretId="taken")["SecretString"] == "west"
    # Asked again with ForceOverwriteReplicaSecret: replaced.
    got = east.replicate_secret_to_regions(SecretId=arn, AddReplicaRegions=[{"Region": WEST}],
                                           ForceOverwriteReplicaSecret=True)
    assert got["ReplicationStatus"] == [in_sync()]
    rep = west.get_secret_value(SecretId="taken")
    assert rep["ARN"] == west_arn(arn) and rep["SecretString"] == "east2"
    assert [s["ARN"] for s in west.list_secrets()["SecretList"]] == [west_arn(arn)]


THIRD = "eu-west-1"


def described(sm, name):
    d = sm.describe_secret(SecretId=name)
    d.pop("ResponseMetadata", None)
    return d


def test_force_overwrite_refuses_a_primary_or_another_primarys_replica(tresor_factory):
    """ForceOverwriteReplicaSecret replaces a standalone secret only.  The
    secret of that name in the region being itself a primary with replicas,
    or a replica of a secret in a third region: the replica is Failed with
    a StatusMessage saying which, and nothing changes in that region (nor
    in the third): its metadata, value and replication as they were."""
    srv = tresor_factory("replication3", args=["--regions", f"{EAST},{WEST},{THIRD}"])
    east = srv.client("secretsmanager")
    west = srv.client("secretsmanager", region=WEST)
    third = srv.client("secretsmanager", region=THIRD)
    # In WEST, "hub" is a primary replicated to THIRD.
    hub_west = west.create_secret(Name="hub", SecretString="west-hub",
                                  AddReplicaRegions=[{"Region": THIRD}])["ARN"]
    # In THIRD, "spoke" is a primary replicated to WEST.
    spoke_third = third.create_secret(Name="spoke", SecretString="third-spoke",
                                      AddReplicaRegions=[{"Region": WEST}])["ARN"]
    spoke_west = spoke_third.replace(f":{THIRD}:", f":{WEST}:", 1)
    before = {n: (described(west, n), described(third, n)) for n in ("hub", "spoke")}
    assert before["spoke"][0]["PrimaryRegion"] == THIRD and before["spoke"][0]["ARN"] == spoke_west
    assert before["hub"][0]["ReplicationStatus"][0]["Status"] == "InSync"

    cases = {
        "hub": f"Replication failed: Secret name hub in region {WEST} is a primary secret with replicas "
               "and can't be overwritten.",
        "spoke": f"Replication failed: Secret name spoke in region {WEST} is a replica of a secret in region "
                 f"{THIRD} and can't be overwritten.",
    }
    for name, msg in cases.items():
        arn = east.create_secret(Name=name, SecretString=f"east-{name}")["ARN"]
        got = east.replicate_secret_to_regions(SecretId=arn, AddReplicaRegions=[{"Region": WEST}],
                                               ForceOverwriteReplicaSecret=True)
        failed = [{"Region": WEST, "KmsKeyId": "alias/aws/secretsmanager", "Status": "Failed",
                   "StatusMessage": msg}]
        assert got["ReplicationStatus"] == failed
        assert statuses(east, arn) == failed
        # A write to the primary does not reach it either.
        east.put_secret_value(SecretId=arn, SecretString=f"east-{name}-2")
        assert [s["Status"] for s in statuses(east, arn)] == ["Failed"]
        assert (described(west, name), described(third, name)) == before[name], name

    assert west.get_secret_value(SecretId="hub")["ARN"] == hub_west
    assert west.get_secret_value(SecretId="hub")["SecretString"] == "west-hub"
    assert third.get_secret_value(SecretId="hub")["SecretString"] == "west-hub"
    assert west.get_secret_value(SecretId="spoke")["ARN"] == spoke_west
    assert west.get_secret_value(SecretId="spoke")["SecretString"] == "third-spoke"
    # The two replication sets still work: their primaries' writes arrive.
    west.put_secret_value(SecretId="hub", SecretString="west-hub-2")
    assert third.get_secret_value(SecretId="hub")["SecretString"] == "west-hub-2"
    third.put_secret_value(SecretId="spoke", SecretString="third-spoke-2")
    assert west.get_secret_value(SecretId="spoke")["SecretString"] == "third-spoke-2"
    for sm, name in ((west, "hub"), (third, "spoke")):
        assert [s["Status"] for s in statuses(sm, name)] == ["InSync"], name
    # Made standalone first (its replica removed; the replica promoted),
    # each is overwritten when asked again.
    west.remove_regions_from_replication(SecretId="hub", RemoveReplicaRegions=[THIRD])
    west.stop_replication_to_replica(SecretId="spoke")
    for name in cases:
        got = east.replicate_secret_to_regions(SecretId=name, AddReplicaRegions=[{"Region": WEST}],
                                               ForceOverwriteReplicaSecret=True)
        assert got["ReplicationStatus"] == [in_sync()]
        rep = west.get_secret_value(SecretId=name)
        assert rep["ARN"] == west_arn(got["ARN"]) and rep["SecretString"] == f"east-{name}-2"


def test_replica_key_disabled_then_enabled(two):
    east, west = two.client("secretsmanager"), two.client("secretsmanager", region=WEST)
    kms_w = two.client("kms", region=WEST)
    key = kms_w.create_key(Description="replica key")["KeyMetadata"]
    kms_w.create_alias(AliasName="alias/rep", TargetKeyId=key["KeyId"])
    arn = east.create_secret(Name="k", SecretString="v1")["ARN"]
    got = east.replicate_secret_to_regions(SecretId=arn,
                                           AddReplicaRegions=[{"Region": WEST, "KmsKeyId": "alias/rep"}])
    assert got["ReplicationStatus"] == [in_sync(key="alias/rep")]
    d = west.describe_secret(SecretId="k")
    assert d["KmsKeyId"] == "alias/rep"
    assert west.list_secret_version_ids(SecretId="k")["Versions"][0]["KmsKeyIds"] == ["alias/rep"]

    kms_w.disable_key(KeyId=key["KeyId"])
    put = east.put_secret_value(SecretId=arn, SecretString="v2")   # the primary is written
    assert east.get_secret_value(SecretId=arn)["SecretString"] == "v2"
    st = statuses(east, arn)
    assert [(s["Region"], s["Status"]) for s in st] == [(WEST, "Failed")]
    assert st[0]["StatusMessage"].startswith("Replication failed: Secrets Manager can't encrypt")
    assert f"{key['Arn']} is disabled." in st[0]["StatusMessage"]
    # The replica keeps what it had (and cannot be read: its key is off).
    with raises_aws("DecryptionFailure"):
        west.get_secret_value(SecretId="k")
    kms_w.enable_key(KeyId=key["KeyId"])
    assert west.get_secret_value(SecretId="k")["SecretString"] == "v1"

    third = east.put_secret_value(SecretId=arn, SecretString="v3")
    assert statuses(east, arn) == [in_sync(key="alias/rep")]
    assert west.get_secret_value(SecretId="k")["VersionId"] == third["VersionId"]
    assert west.get_secret_value(SecretId="k", VersionId=put["VersionId"])["SecretString"] == "v2"


def test_failed_region_asked_again_with_another_key(two):
    east, west = two.client("secretsmanager"), two.client("secretsmanager", region=WEST)
    kms_w = two.client("kms", region=WEST)
    a = kms_w.create_key(Description="a")["KeyMetadata"]
    b = kms_w.create_key(Description="b")["KeyMetadata"]
    arn = east.create_secret(Name="rekey", SecretString="v1")["ARN"]
    east.replicate_secret_to_regions(SecretId=arn, AddReplicaRegions=[{"Region": WEST, "KmsKeyId": a["Arn"]}])
    kms_w.disable_key(KeyId=a["KeyId"])
    east.put_secret_value(SecretId=arn, SecretString="v2")
    assert statuses(east, arn)[0]["Status"] == "Failed"
    # Asked again under key b: every version is sealed again under b (what
    # was sealed under a is not kept), so all read while a is disabled.
    got = east.replicate_secret_to_regions(SecretId=arn,
                                           AddReplicaRegions=[{"Region": WEST, "KmsKeyId": b["Arn"]}])
    assert got["ReplicationStatus"] == [in_sync(key=b["Arn"])]
    assert west.get_secret_value(SecretId="rekey")["SecretString"] == "v2"
    assert west.get_secret_value(SecretId="rekey", VersionStage="AWSPREVIOUS")["SecretString"] == "v1"
    assert [v["KmsKeyIds"] for v in west.list_secret_version_ids(SecretId="rekey")["Versions"]] == \
        [[b["Arn"]], [b["Arn"]]]
    assert west.describe_secret(SecretId="rekey")["KmsKeyId"] == b["Arn"]


def test_delete_primary_with_replicas_then_remove_regions(two):
    east, west = two.client("secretsmanager"), two.client("secretsmanager", region=WEST)
    arn = east.create_secret(Name="del", SecretString="v")["ARN"]
    east.replicate_secret_to_regions(SecretId=arn, AddReplicaRegions=[{"Region": WEST}])
    msg = f"You can't delete secret {arn} that still has replica regions [{WEST}]."
    with raises_aws("InvalidParameterException", msg):
        east.delete_secret(SecretId="del")
    with raises_aws("InvalidParameterException", msg):
        east.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    assert "DeletedDate" not in east.describe_secret(SecretId=arn)

    with raises_aws("InvalidParameterException", BAD_REGION):
        east.remove_regions_from_replication(SecretId=arn, RemoveReplicaRegions=["eu-west-1"])
    got = east.remove_regions_from_replication(SecretId=arn, RemoveReplicaRegions=[WEST])
    assert got == {"ARN": arn, "ReplicationStatus": [], "ResponseMetadata": got["ResponseMetadata"]}
    with raises_aws("ResourceNotFoundException", "Secrets Manager can't find the specified secret."):
        west.describe_secret(SecretId="del")
    d = east.describe_secret(SecretId=arn)
    assert "ReplicationStatus" not in d and "PrimaryRegion" not in d
    east.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)


def test_stop_replication_promotes_the_replica(two):
    east, west = two.client("secretsmanager"), two.client("secretsmanager", region=WEST)
    arn = east.create_secret(Name="stop", SecretString="v1")["ARN"]
    east.replicate_secret_to_regions(SecretId=arn, AddReplicaRegions=[{"Region": WEST}])
    with raises_aws("InvalidParameterException", f"The secret {arn} is not a replica secret."):
        east.stop_replication_to_replica(SecretId=arn)
    got = west.stop_replication_to_replica(SecretId="stop")
    assert got["ARN"] == west_arn(arn) and "Name" not in got
    d = west.describe_secret(SecretId="stop")
    assert "PrimaryRegion" not in d and "ReplicationStatus" not in d
    assert "ReplicationStatus" not in east.describe_secret(SecretId=arn)
    # Two secrets now: each written apart.
    west.put_secret_value(SecretId="stop", SecretString="west")
    east.put_secret_value(SecretId=arn, SecretString="east")
    assert west.get_secret_value(SecretId="stop")["SecretString"] == "west"
    east.delete_secret(SecretId=arn, ForceDeleteWithoutRecovery=True)
    assert west.get_secret_value(SecretId="stop")["SecretString"] == "west"


def test_who_can_decrypt_a_replica(two):
    east = two.client("secretsmanager")
    arn = east.create_secret(Name="who", SecretString="v")["ARN"]
    east.replicate_secret_to_regions(SecretId=arn, AddReplicaRegions=[{"Region": WEST}])
    kw = two.client("kms", region=WEST).describe_key(KeyId="alias/aws/secretsmanager")["KeyMetadata"]
    p = two.run_tresor("who-can-decrypt", west_arn(arn), "--data-dir", two.data_dir, "--format", "json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    assert out["secret"]["keyArn"] == kw["Arn"]
    assert out["secret"]["arn"] == west_arn(arn)


def test_aws_cli_replicate_and_describe(two):
    two.client("secretsmanager").create_secret(Name="cli", SecretString="v")
    rc, out, err = two.cli("secretsmanager", "replicate-secret-to-regions", "--region", EAST,
                           "--secret-id", "cli", "--add-replica-regions", f"Region={WEST}")
    assert rc == 0, err
    assert out["ReplicationStatus"] == [in_sync()]
    rc, out, err = two.cli("secretsmanager", "describe-secret", "--region", WEST, "--secret-id", "cli")
    assert rc == 0, err
    assert out["PrimaryRegion"] == EAST
    rc, out, err = two.cli("secretsmanager", "put-secret-value", "--region", WEST, "--secret-id", "cli",
                           "--secret-string", "x")
    assert rc == 254
    assert "InvalidParameterException" in err and REPLICA_WRITE in err


def test_authorization(two):
    root = two.root_user
    kms_w = two.client("kms", region=WEST)
    u = make_user(root, policy=[
        allow("secretsmanager:*"),
        deny("secretsmanager:ReplicateSecretToRegions", condition={
            "ForAnyValue:StringEquals": {"secretsmanager:AddReplicaRegions": "eu-west-1"}}),
        allow("kms:GenerateDataKey", condition={
            "StringEquals": {"kms:ViaService": f"secretsmanager.{WEST}.amazonaws.com"}}),
        allow("kms:Decrypt")])
    sm = two.client("secretsmanager", u.access_key, u.secret_key)
    arn = sm.create_secret(Name="az", SecretString="v")["ARN"]
    deny_msg = (f"User: {u.arn} is not authorized to perform: secretsmanager:"
                f"ReplicateSecretToRegions on resource: az with an explicit deny in an "
                f"identity-based policy")
    with raises_aws("AccessDeniedException", deny_msg):
        sm.replicate_secret_to_regions(SecretId="az", AddReplicaRegions=[{"Region": "eu-west-1"}])

    # A customer managed key in the replica region: GenerateDataKey alone
    # is not enough, replication also needs kms:Encrypt on it.
    key = kms_w.create_key(Description="rep")["KeyMetadata"]
    got = sm.replicate_secret_to_regions(SecretId="az",
                                         AddReplicaRegions=[{"Region": WEST, "KmsKeyId": key["Arn"]}])
    assert got["ReplicationStatus"] == [{
        "Region": WEST, "KmsKeyId": key["Arn"], "Status": "Failed",
        "StatusMessage": "Replication failed: Access to KMS is not allowed"}]
    with raises_aws("ResourceNotFoundException"):
        two.client("secretsmanager", region=WEST).describe_secret(SecretId="az")
    root.iam.put_user_policy(UserName=u.name, PolicyName="enc", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Encrypt",
                                                 "Resource": key["Arn"]}]}))
    # Retried (a Failed region may be asked again): in sync.
    got = sm.replicate_secret_to_regions(SecretId="az",
                                         AddReplicaRegions=[{"Region": WEST, "KmsKeyId": key["Arn"]}])
    assert got["ReplicationStatus"] == [in_sync(key=key["Arn"])]
    west = two.client("secretsmanager", u.access_key, u.secret_key, region=WEST)
    assert west.get_secret_value(SecretId="az")["SecretString"] == "v"
    assert west.describe_secret(SecretId=west_arn(arn))["PrimaryRegion"] == EAST


def rotated(sm, arn, before):
    """Wait until arn's LastRotatedDate is set and differs from `before`."""
    deadline = time.monotonic() + scaled(30)
    while sm.describe_secret(SecretId=arn).get("LastRotatedDate", before) == before:
        assert time.monotonic() < deadline, "the rotation did not finish"
        time.sleep(0.1)


def test_rotation_of_a_primary_reaches_the_replica(tresor_factory, tmp_path):
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    args = ["--regions", f"{EAST},{WEST}", "--rotation-hooks", str(hooks)]
    srv = tresor_factory("replication-rot", args=args)
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    role = make_role(srv.root_user, unique("rotator"), trust=trust,
                     policy=allow(["secretsmanager:*", "kms:Decrypt", "kms:GenerateDataKey"]))
    shutil.copyfile(os.path.join(os.path.dirname(os.path.abspath(__file__)), "hooks",
                                 "template_rotation.py"), hooks / "tmpl")
    (hooks / "tmpl").chmod(0o755)
    (hooks / "tmpl.role").write_text(role["Arn"] + "\n")
    east, west = srv.client("secretsmanager"), srv.client("secretsmanager", region=WEST)
    s = east.create_secret(Name="rot", SecretString="first", AddReplicaRegions=[{"Region": WEST}])
    token = str(uuid.uuid4())
    east.rotate_secret(SecretId=s["ARN"], RotationLambdaARN=f"arn:aws:lambda:{EAST}:{ACCOUNT}:function:tmpl",
                       ClientRequestToken=token, RotationRules={"AutomaticallyAfterDays": 30})
    rotated(east, s["ARN"], None)
    new = east.get_secret_value(SecretId=s["ARN"])
    rep = west.get_secret_value(SecretId="rot")
    assert rep["VersionId"] == new["VersionId"] == token
    assert rep["SecretString"] == new["SecretString"] != "first"
    assert west.get_secret_value(SecretId="rot", VersionStage="AWSPREVIOUS")["SecretString"] == "first"
    assert west.describe_secret(SecretId="rot")["VersionIdsToStages"] == \
        east.describe_secret(SecretId=s["ARN"])["VersionIdsToStages"]
    assert statuses(east, s["ARN"]) == [in_sync()]
    # The dates the server records at the end of a rotation follow too.
    d, w = east.describe_secret(SecretId=s["ARN"]), west.describe_secret(SecretId="rot")
    assert (w["LastRotatedDate"], w["NextRotationDate"]) == (d["LastRotatedDate"], d["NextRotationDate"])

    # A rotation the server starts by itself, when due, reaches it as well.
    srv.stop()
    srv.start(args=args, env_extra={"TRESOR_CLOCK_OFFSET": str(31 * 86400)})
    east, west = srv.client("secretsmanager"), srv.client("secretsmanager", region=WEST)
    rotated(east, s["ARN"], d["LastRotatedDate"])
    new = east.get_secret_value(SecretId=s["ARN"])
    assert new["VersionId"] != token
    assert west.get_secret_value(SecretId="rot")["VersionId"] == new["VersionId"]
    assert west.describe_secret(SecretId="rot")["VersionIdsToStages"] == \
        east.describe_secret(SecretId=s["ARN"])["VersionIdsToStages"]
