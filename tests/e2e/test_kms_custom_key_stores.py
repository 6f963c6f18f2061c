"""
KMS custom key stores end to end, with boto3 and the AWS CLI: tresor has no
CloudHSM cluster and no external key store proxy, so the six operations
answer as KMS does in an account and Region with no custom key store --
DescribeCustomKeyStores lists none, a store named by id or name is not
found, CreateCustomKeyStore checks its input and then finds no cluster, no
VPC endpoint service, no reachable proxy; CreateKey and GenerateRandom with
a CustomKeyStoreId find no store -- each after the operation's IAM action
is authorized (src/kms/custom_key_stores.c, docs/WIRE.md).
"""

import pytest

from tresor_e2e import allow, denied_msg, make_user, raises_aws

SECRET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"      # 43 characters
CRED = {"AccessKeyId": "ABCDEFGHIJKLMNOPQRST", "RawSecretAccessKey": SECRET}
CLUSTER = "cluster-234567abcde"
VPCE = "com.amazonaws.vpce.us-east-1.vpce-svc-0abc12"


def not_found(what):
    return f"KMS cannot find a custom key store with {what}."


@pytest.fixture(scope="module")
def ks(tresor):
    return tresor.kms()


def hsm(**kw):
    args = dict(CustomKeyStoreName="hsm-store", CloudHsmClusterId=CLUSTER,
                TrustAnchorCertificate="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
                KeyStorePassword="kmsuser-password")
    args.update(kw)
    return {k: v for k, v in args.items() if v is not None}


def xks(**kw):
    args = dict(CustomKeyStoreName="xks-store", CustomKeyStoreType="EXTERNAL_KEY_STORE",
                XksProxyUriEndpoint="https://xks.example.com", XksProxyUriPath="/kms/xks/v1",
                XksProxyAuthenticationCredential=CRED, XksProxyConnectivity="PUBLIC_ENDPOINT")
    args.update(kw)
    return {k: v for k, v in args.items() if v is not None}


def test_describe_lists_none(ks):
    r = ks.describe_custom_key_stores()
    assert r["CustomKeyStores"] == []
    assert r["Truncated"] is False
    assert "NextMarker" not in r
    r = ks.describe_custom_key_stores(Limit=1)
    assert (r["CustomKeyStores"], r["Truncated"]) == ([], False)


def test_describe_errors(ks):
    with raises_aws("CustomKeyStoreNotFoundException", not_found("ID cks-1234567890abcdef0")):
        ks.describe_custom_key_stores(CustomKeyStoreId="cks-1234567890abcdef0")
    with raises_aws("CustomKeyStoreNotFoundException", not_found("name my-store")):
        ks.describe_custom_key_stores(CustomKeyStoreName="my-store")
    with raises_aws("ValidationException",
                    "You cannot specify both CustomKeyStoreId and CustomKeyStoreName."):
        ks.describe_custom_key_stores(CustomKeyStoreId="cks-1", CustomKeyStoreName="s")
    with raises_aws("InvalidMarkerException", "Invalid marker"):
        ks.describe_custom_key_stores(Marker="bm90LWEtbWFya2Vy")
    with raises_aws("ValidationException",
                    "1 validation error detected: Value '0' at 'limit' failed to satisfy "
                    "constraint: Member must have value greater than or equal to 1"):
        ks.describe_custom_key_stores(Limit=0)
    with raises_aws("ValidationException",
                    "1 validation error detected: Value '1001' at 'limit' failed to satisfy "
                    "constraint: Member must have value less than or equal to 1000"):
        ks.describe_custom_key_stores(Limit=1001)


@pytest.mark.parametrize("op", ["update_custom_key_store", "delete_custom_key_store",
                                "connect_custom_key_store", "disconnect_custom_key_store"])
def test_by_id_not_found(ks, op):
    with raises_aws("CustomKeyStoreNotFoundException", not_found("ID cks-1234567890abcdef0")):
        getattr(ks, op)(CustomKeyStoreId="cks-1234567890abcdef0")
    with raises_aws("ValidationException",
                    "1 validation error detected: Value '' at 'customKeyStoreId' failed to "
                    "satisfy constraint: Member must have length greater than or equal to 1"):
        getattr(ks, op)(CustomKeyStoreId="")


def test_update_checks_members_first(ks):
    with raises_aws("ValidationException",
                    "1 validation error detected: Value at 'keyStorePassword' failed to satisfy "
                    "constraint: Member must have length greater than or equal to 7"):
        ks.update_custom_key_store(CustomKeyStoreId="cks-1", KeyStorePassword="short")
    with raises_aws("CustomKeyStoreNotFoundException", not_found("ID cks-1")):
        ks.update_custom_key_store(CustomKeyStoreId="cks-1", NewCustomKeyStoreName="renamed",
                                   XksProxyUriPath="/example/kms/xks/v2")


def test_create_cloudhsm(ks):
    with raises_aws("CloudHsmClusterNotFoundException",
                    f"KMS cannot find the CloudHSM cluster {CLUSTER}."):
        ks.create_custom_key_store(**hsm())
    with raises_aws("CloudHsmClusterNotFoundException",
                    f"KMS cannot find the CloudHSM cluster {CLUSTER}."):
        ks.create_custom_key_store(**hsm(CustomKeyStoreType="AWS_CLOUDHSM"))
    for member in ("CloudHsmClusterId", "TrustAnchorCertificate", "KeyStorePassword"):
        with raises_aws("ValidationException", f"{member} is required for custom key stores "
                        "with a CustomKeyStoreType of AWS_CLOUDHSM."):
            ks.create_custom_key_store(**hsm(**{member: None}))
    with raises_aws("ValidationException", "XksProxyUriPath is not valid for custom key stores "
                    "with a CustomKeyStoreType of AWS_CLOUDHSM."):
        ks.create_custom_key_store(**hsm(XksProxyUriPath="/kms/xks/v1"))
    with raises_aws("ValidationException",
                    "1 validation error detected: Value 'cluster-1234567890a' at "
                    "'cloudHsmClusterId' failed to satisfy constraint: Member must satisfy "
                    "regular expression pattern: cluster-[2-7a-zA-Z]{11,16}"):
        ks.create_custom_key_store(**hsm(CloudHsmClusterId="cluster-1234567890a"))
    # The password is a secret: a bad one is never quoted.
    with raises_aws("ValidationException",
                    "1 validation error detected: Value at 'keyStorePassword' failed to satisfy "
                    "constraint: Member must have length greater than or equal to 7"):
        ks.create_custom_key_store(**hsm(KeyStorePassword="pw"))
    with raises_aws("ValidationException",
                    "1 validation error detected: Value null at 'customKeyStoreName' failed to "
                    "satisfy constraint: Member must not be null"):
        ks.create_custom_key_store(**hsm(CustomKeyStoreName=None))


def test_create_external(ks):
    with raises_aws("XksProxyUriUnreachableException",
                    "KMS cannot reach the external key store proxy at "
                    "https://xks.example.com/kms/xks/v1."):
        ks.create_custom_key_store(**xks())
    with raises_aws("XksProxyVpcEndpointServiceNotFoundException",
                    f"KMS cannot find the VPC endpoint service {VPCE}."):
        ks.create_custom_key_store(**xks(XksProxyConnectivity="VPC_ENDPOINT_SERVICE",
                                         XksProxyVpcEndpointServiceName=VPCE,
                                         XksProxyVpcEndpointServiceOwner="111122223333",
                                         XksProxyUriPath="/tenant-1/kms/xks/v12"))
    with raises_aws("ValidationException", "XksProxyVpcEndpointServiceName is required when "
                    "XksProxyConnectivity is VPC_ENDPOINT_SERVICE."):
        ks.create_custom_key_store(**xks(XksProxyConnectivity="VPC_ENDPOINT_SERVICE"))
    with raises_aws("ValidationException", "XksProxyVpcEndpointServiceName is valid only when "
                    "XksProxyConnectivity is VPC_ENDPOINT_SERVICE."):
        ks.create_custom_key_store(**xks(XksProxyVpcEndpointServiceName=VPCE))
    for member in ("XksProxyUriEndpoint", "XksProxyUriPath", "XksProxyAuthenticationCredential",
                   "XksProxyConnectivity"):
        with raises_aws("ValidationException", f"{member} is required for custom key stores "
                        "with a CustomKeyStoreType of EXTERNAL_KEY_STORE."):
            ks.create_custom_key_store(**xks(**{member: None}))
    with raises_aws("ValidationException", "CloudHsmClusterId is not valid for custom key stores "
                    "with a CustomKeyStoreType of EXTERNAL_KEY_STORE."):
        ks.create_custom_key_store(**xks(CloudHsmClusterId=CLUSTER))
    with raises_aws("ValidationException",
                    "1 validation error detected: Value 'http://xks.example.com' at "
                    "'xksProxyUriEndpoint' failed to satisfy constraint: Member must satisfy "
                    "regular expression pattern: ^https://[a-zA-Z0-9.-]+$"):
        ks.create_custom_key_store(**xks(XksProxyUriEndpoint="http://xks.example.com"))
    with raises_aws("ValidationException", startswith="1 validation error detected: Value "
                    "'/kms/xks/v123' at 'xksProxyUriPath' failed to satisfy constraint: Member "
                    "must satisfy regular expression pattern: "):
        ks.create_custom_key_store(**xks(XksProxyUriPath="/kms/xks/v123"))
    with raises_aws("ValidationException",
                    "1 validation error detected: Value 'PRIVATE' at 'xksProxyConnectivity' "
                    "failed to satisfy constraint: Member must satisfy enum value set: "
                    "[PUBLIC_ENDPOINT, VPC_ENDPOINT_SERVICE]"):
        ks.create_custom_key_store(**xks(XksProxyConnectivity="PRIVATE"))


def test_create_external_never_quotes_the_credential(ks):
    bad = SECRET[:-1] + "!"
    with raises_aws("ValidationException",
                    "1 validation error detected: Value at 'rawSecretAccessKey' failed to "
                    "satisfy constraint: Member must satisfy regular expression pattern: "
                    "^[a-zA-Z0-9\\/+=]+$") as ei:
        ks.create_custom_key_store(**xks(XksProxyAuthenticationCredential={
            "AccessKeyId": CRED["AccessKeyId"], "RawSecretAccessKey": bad}))
    assert bad not in str(ei.value.response)
    with raises_aws("ValidationException",
                    "1 validation error detected: Value at 'accessKeyId' failed to satisfy "
                    "constraint: Member must satisfy regular expression pattern: ^[A-Z2-7]+$"):
        ks.create_custom_key_store(**xks(XksProxyAuthenticationCredential={
            "AccessKeyId": "abcdefghijklmnopqrst", "RawSecretAccessKey": SECRET}))
    with raises_aws("ValidationException",
                    "1 validation error detected: Value at 'rawSecretAccessKey' failed to "
                    "satisfy constraint: Member must have length greater than or equal to 43"):
        ks.create_custom_key_store(**xks(XksProxyAuthenticationCredential={
            "AccessKeyId": CRED["AccessKeyId"], "RawSecretAccessKey": "short"}))


def test_create_key_in_a_custom_key_store(ks):
    before = ks.list_keys(Limit=1000)["Keys"]
    with raises_aws("CustomKeyStoreNotFoundException", not_found("ID cks-1234567890abcdef0")):
        ks.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId="cks-1234567890abcdef0")
    with raises_aws("CustomKeyStoreNotFoundException", not_found("ID cks-1234567890abcdef0")):
        ks.create_key(Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId="cks-1234567890abcdef0",
                      XksKeyId="ext-key-1")
    with raises_aws("ValidationException", "CustomKeyStoreId is required when Origin is "
                    "AWS_CLOUDHSM."):
        ks.create_key(Origin="AWS_CLOUDHSM")
    with raises_aws("ValidationException", "CustomKeyStoreId is required when Origin is "
                    "EXTERNAL_KEY_STORE."):
        ks.create_key(Origin="EXTERNAL_KEY_STORE", XksKeyId="ext-key-1")
    with raises_aws("ValidationException", "XksKeyId is required when Origin is "
                    "EXTERNAL_KEY_STORE."):
        ks.create_key(Origin="EXTERNAL_KEY_STORE", CustomKeyStoreId="cks-1")
    with raises_aws("ValidationException", "CustomKeyStoreId is valid only when Origin is "
                    "AWS_CLOUDHSM or EXTERNAL_KEY_STORE."):
        ks.create_key(CustomKeyStoreId="cks-1")
    with raises_aws("ValidationException", "XksKeyId is valid only when Origin is "
                    "EXTERNAL_KEY_STORE."):
        ks.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId="cks-1", XksKeyId="ext-key-1")
    with raises_aws("UnsupportedOperationException", "KeySpec HMAC_256 cannot be created in a "
                    "custom key store: only SYMMETRIC_DEFAULT."):
        ks.create_key(Origin="AWS_CLOUDHSM", CustomKeyStoreId="cks-1", KeySpec="HMAC_256",
                      KeyUsage="GENERATE_VERIFY_MAC")
    # Nothing was created.
    assert ks.list_keys(Limit=1000)["Keys"] == before


def test_generate_random_from_a_custom_key_store(ks):
    with raises_aws("CustomKeyStoreNotFoundException", not_found("ID cks-1234567890abcdef0")):
        ks.generate_random(NumberOfBytes=16, CustomKeyStoreId="cks-1234567890abcdef0")
    assert len(ks.generate_random(NumberOfBytes=16)["Plaintext"]) == 16


def test_authorization(tresor):
    root = tresor.root_user
    nobody = make_user(root, policy=allow("kms:DescribeKey"))
    calls = [
        ("kms:DescribeCustomKeyStores", lambda k: k.describe_custom_key_stores()),
        ("kms:CreateCustomKeyStore", lambda k: k.create_custom_key_store(**hsm())),
        ("kms:UpdateCustomKeyStore", lambda k: k.update_custom_key_store(CustomKeyStoreId="cks-1")),
        ("kms:DeleteCustomKeyStore", lambda k: k.delete_custom_key_store(CustomKeyStoreId="cks-1")),
        ("kms:ConnectCustomKeyStore",
         lambda k: k.connect_custom_key_store(CustomKeyStoreId="cks-1")),
        ("kms:DisconnectCustomKeyStore",
         lambda k: k.disconnect_custom_key_store(CustomKeyStoreId="cks-1")),
        ("kms:GenerateRandom",
         lambda k: k.generate_random(NumberOfBytes=8, CustomKeyStoreId="cks-1")),
    ]
    for action, call in calls:
        with raises_aws("AccessDeniedException", denied_msg(nobody.arn, action, "*")):
            call(nobody.kms)
    reader = make_user(root, policy=allow("kms:DescribeCustomKeyStores"))
    assert reader.kms.describe_custom_key_stores()["CustomKeyStores"] == []
    with raises_aws("CustomKeyStoreNotFoundException", not_found("ID cks-1")):
        reader.kms.describe_custom_key_stores(CustomKeyStoreId="cks-1")
    with raises_aws("AccessDeniedException",
                    denied_msg(reader.arn, "kms:ConnectCustomKeyStore", "*")):
        reader.kms.connect_custom_key_store(CustomKeyStoreId="cks-1")


def test_aws_cli(tresor):
    # The CLI pages through the list (and drops the paging members) ...
    rc, r, err = tresor.aws("describe-custom-key-stores")
    assert rc == 0, err
    assert r == {"CustomKeyStores": []}
    # ... unless told not to.
    rc, r, err = tresor.aws("describe-custom-key-stores", "--no-paginate")
    assert rc == 0, err
    assert r == {"CustomKeyStores": [], "Truncated": False}
    rc, r, err = tresor.aws("describe-custom-key-stores", "--custom-key-store-name", "nope")
    assert rc != 0
    assert "CustomKeyStoreNotFoundException" in err and not_found("name nope") in err, err
    rc, r, err = tresor.aws("connect-custom-key-store", "--custom-key-store-id", "cks-1")
    assert rc != 0
    assert "CustomKeyStoreNotFoundException" in err and not_found("ID cks-1") in err, err
    rc, r, err = tresor.aws("create-custom-key-store", "--custom-key-store-name", "hsm",
                            "--cloud-hsm-cluster-id", CLUSTER, "--trust-anchor-certificate",
                            "pem", "--key-store-password", "kmsuser-password")
    assert rc != 0
    assert "CloudHsmClusterNotFoundException" in err, err
    assert "kmsuser-password" not in err
