"""
IAM OpenID Connect identity providers end to end (src/iam/oidc_providers.c):
Create/Get/List/Delete, UpdateOpenIDConnectProviderThumbprint,
Add/RemoveClientIDToOpenIDConnectProvider and the provider tag calls, with
boto3 and the AWS CLI, and AWS's validation (code, message, HTTP status).
"""

import json

import pytest

from tresor_e2e import ACCOUNT, assert_recent, raises_aws, unique

TP = "a" * 40
TP2 = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture(scope="module")
def iam(root):
    return root.iam


def provider_url(stem="issuer"):
    return f"https://{unique(stem)}.example.com/id/ABC"


def arn_of(url):
    return f"arn:aws:iam::{ACCOUNT}:oidc-provider/{url[len('https://'):]}"


def missing(arn):
    return f"OpenIDConnect Provider not found for arn {arn}"


def test_create_get_list_delete(iam):
    url = provider_url()
    r = iam.create_open_id_connect_provider(Url=url, ClientIDList=["sts.amazonaws.com", "app"],
                                            ThumbprintList=[TP])
    arn = r["OpenIDConnectProviderArn"]
    assert arn == arn_of(url)
    assert "Tags" not in r
    g = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert g["Url"] == url[len("https://"):]
    assert g["ClientIDList"] == ["sts.amazonaws.com", "app"]
    assert g["ThumbprintList"] == [TP]
    assert g["Tags"] == []
    assert_recent(g["CreateDate"])
    listed = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    assert arn in listed
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    with raises_aws("NoSuchEntity", missing(arn), status=404):
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    listed = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    assert arn not in listed
    # deleting again is harmless, as on AWS
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)


def test_thumbprints_optional_and_tags_on_create(iam):
    url = provider_url()
    r = iam.create_open_id_connect_provider(Url=url, ClientIDList=["sts.amazonaws.com"],
                                            Tags=[{"Key": "team", "Value": "ci"}])
    assert r["Tags"] == [{"Key": "team", "Value": "ci"}]
    g = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=r["OpenIDConnectProviderArn"])
    assert g["ThumbprintList"] == []
    assert g["Tags"] == [{"Key": "team", "Value": "ci"}]


def test_same_url_twice(iam):
    url = provider_url()
    iam.create_open_id_connect_provider(Url=url, ThumbprintList=[TP])
    with raises_aws("EntityAlreadyExists", f"Provider with url {url} already exists.", status=409):
        iam.create_open_id_connect_provider(Url=url, ThumbprintList=[TP])


@pytest.mark.parametrize("kwargs,code,message", [
    ({"Url": "http://insecure.example.com"}, "InvalidInput", "Invalid Open ID Connect Provider URL"),
    ({"Url": "https://"}, "InvalidInput", "Invalid Open ID Connect Provider URL"),
    ({"Url": "https://x.example.com/" + "a" * 240}, "ValidationError",
     "1 validation error detected: Value 'https://x.example.com/" + "a" * 42 + "' at 'url' "
     "failed to satisfy constraint: Member must have length less than or equal to 255"),
    ({"Url": "https://x.example.com", "ThumbprintList": ["abc"]}, "ValidationError",
     "1 validation error detected: Value 'abc' at 'thumbprintList.1.member' failed to satisfy "
     "constraint: Member must have length greater than or equal to 40"),
    ({"Url": "https://x.example.com", "ThumbprintList": [TP] * 6}, "InvalidInput",
     "Thumbprint list must contain fewer than 5 entries."),
    ({"Url": "https://x.example.com", "ThumbprintList": ["g" * 40]}, "InvalidInput",
     "Thumbprint must be 40 hexadecimal characters."),
    ({"Url": "https://x.example.com", "ClientIDList": [f"c{i}" for i in range(101)]},
     "LimitExceeded", "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: 100"),
    ({"Url": "https://x.example.com", "ClientIDList": ["a" * 256]}, "ValidationError", None),
])
def test_create_validation(iam, kwargs, code, message):
    with raises_aws(code, message, status=409 if code == "LimitExceeded" else 400):
        iam.create_open_id_connect_provider(**kwargs)
    listed = [p["Arn"] for p in iam.list_open_id_connect_providers()["OpenIDConnectProviderList"]]
    assert arn_of("https://x.example.com") not in listed


def test_client_ids_and_thumbprint(iam):
    url = provider_url()
    arn = iam.create_open_id_connect_provider(Url=url, ClientIDList=["a"],
                                              ThumbprintList=[TP])["OpenIDConnectProviderArn"]
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="b")
    iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="b")
    g = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert g["ClientIDList"] == ["a", "b"]
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="a")
    iam.remove_client_id_from_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="zz")
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ClientIDList"] == ["b"]
    iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn,
                                                   ThumbprintList=[TP2, TP])
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ThumbprintList"] == [TP2, TP]
    with raises_aws("InvalidInput", "Thumbprint list must contain fewer than 5 entries."):
        iam.update_open_id_connect_provider_thumbprint(OpenIDConnectProviderArn=arn,
                                                       ThumbprintList=[TP] * 6)
    assert iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["ThumbprintList"] == [TP2, TP]
    with raises_aws("ValidationError", contains="clientID"):
        iam.add_client_id_to_open_id_connect_provider(OpenIDConnectProviderArn=arn, ClientID="")


def test_calls_on_a_missing_provider(iam):
    arn = arn_of(provider_url("gone"))
    for call, kw in [
        (iam.get_open_id_connect_provider, {}),
        (iam.add_client_id_to_open_id_connect_provider, {"ClientID": "x"}),
        (iam.remove_client_id_from_open_id_connect_provider, {"ClientID": "x"}),
        (iam.update_open_id_connect_provider_thumbprint, {"ThumbprintList": [TP]}),
        (iam.tag_open_id_connect_provider, {"Tags": [{"Key": "k", "Value": "v"}]}),
        (iam.untag_open_id_connect_provider, {"TagKeys": ["k"]}),
        (iam.list_open_id_connect_provider_tags, {}),
    ]:
        with raises_aws("NoSuchEntity", missing(arn), status=404):
            call(OpenIDConnectProviderArn=arn, **kw)


def test_tags(iam):
    arn = iam.create_open_id_connect_provider(Url=provider_url(),
                                              ThumbprintList=[TP])["OpenIDConnectProviderArn"]
    iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=arn,
                                     Tags=[{"Key": "b", "Value": "2"}, {"Key": "a", "Value": "1"}])
    t = iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn)
    assert t["Tags"] == [{"Key": "a", "Value": "1"}, {"Key": "b", "Value": "2"}]
    assert t["IsTruncated"] is False
    page = iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn, MaxItems=1)
    assert page["Tags"] == [{"Key": "a", "Value": "1"}] and page["IsTruncated"] is True
    iam.untag_open_id_connect_provider(OpenIDConnectProviderArn=arn, TagKeys=["a"])
    t = iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn)
    assert t["Tags"] == [{"Key": "b", "Value": "2"}]
    with raises_aws("InvalidInput", contains="aws:"):
        iam.tag_open_id_connect_provider(OpenIDConnectProviderArn=arn,
                                         Tags=[{"Key": "aws:x", "Value": "1"}])
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    iam.create_open_id_connect_provider(Url="https://" + arn.split("oidc-provider/")[1],
                                        ThumbprintList=[TP])
    # a provider created again does not inherit the old one's tags
    assert iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn)["Tags"] == []


def test_aws_cli(authz_server):
    url = provider_url("cli")
    rc, out, err = authz_server.cli("iam", "create-open-id-connect-provider", "--url", url,
                                    "--client-id-list", "sts.amazonaws.com",
                                    "--thumbprint-list", TP)
    assert rc == 0, err
    arn = out["OpenIDConnectProviderArn"]
    assert arn == arn_of(url)
    rc, out, err = authz_server.cli("iam", "get-open-id-connect-provider",
                                    "--open-id-connect-provider-arn", arn)
    assert rc == 0, err
    assert out["Url"] == url[len("https://"):] and out["ClientIDList"] == ["sts.amazonaws.com"]
    rc, out, err = authz_server.cli("iam", "list-open-id-connect-providers")
    assert rc == 0 and {"Arn": arn} in out["OpenIDConnectProviderList"], err
    rc, out, err = authz_server.cli("iam", "delete-open-id-connect-provider",
                                    "--open-id-connect-provider-arn", arn)
    assert rc == 0, err
    rc, out, err = authz_server.cli("iam", "get-open-id-connect-provider",
                                    "--open-id-connect-provider-arn", arn)
    assert rc == 254
    assert f"(NoSuchEntity) when calling the GetOpenIDConnectProvider operation: {missing(arn)}" in err


def test_denied_without_permission(authz_server, root):
    arn = root.iam.create_open_id_connect_provider(Url=provider_url(),
                                                   ThumbprintList=[TP])["OpenIDConnectProviderArn"]
    user = unique("nobody")
    root.iam.create_user(UserName=user)
    key = root.iam.create_access_key(UserName=user)["AccessKey"]
    iam = authz_server.client("iam", key["AccessKeyId"], key["SecretAccessKey"])
    with raises_aws("AccessDenied", contains="iam:GetOpenIDConnectProvider", status=403):
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    with raises_aws("AccessDenied", contains="iam:DeleteOpenIDConnectProvider", status=403):
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=arn)
    assert root.iam.get_open_id_connect_provider(OpenIDConnectProviderArn=arn)["Url"]


def fed_trust(principal):
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"Federated": principal},
         "Action": "sts:AssumeRoleWithWebIdentity"}]})


def invalid_fed(arn):
    return f'Invalid principal in policy: "Federated":"{arn}"'


def test_trust_policy_naming_a_missing_provider(iam):
    gone = arn_of(provider_url("gone"))
    name = unique("fedrole")
    with raises_aws("MalformedPolicyDocument", invalid_fed(gone)):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=fed_trust(gone))
    with raises_aws("NoSuchEntity", status=404):
        iam.get_role(RoleName=name)
    # A provider that exists, another account's provider, and a domain
    # name are accepted; the provider deleted later leaves the role alone.
    url = provider_url("here")
    here = iam.create_open_id_connect_provider(Url=url, ThumbprintList=[TP])["OpenIDConnectProviderArn"]
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=fed_trust(here))
    other = f"arn:aws:iam::444455556666:oidc-provider/{unique('x')}.example.com"
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=fed_trust(other))
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=fed_trust("cognito-identity.amazonaws.com"))
    # UpdateAssumeRolePolicy: refused, and the trust policy is unchanged.
    with raises_aws("MalformedPolicyDocument", invalid_fed(gone)):
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=fed_trust([here, gone]))
    doc = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
    assert doc["Statement"][0]["Principal"] == {"Federated": "cognito-identity.amazonaws.com"}
    iam.update_assume_role_policy(RoleName=name, PolicyDocument=fed_trust(here))
    iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=here)
    assert iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]["Statement"][0][
        "Principal"] == {"Federated": here}
    iam.delete_role(RoleName=name)


def test_trust_policy_naming_a_missing_provider_cli(authz_server):
    gone = arn_of(provider_url("gone-cli"))
    rc, out, err = authz_server.cli("iam", "create-role", "--role-name", unique("fedcli"),
                                    "--assume-role-policy-document", fed_trust(gone))
    assert rc == 254
    assert ("(MalformedPolicyDocument) when calling the CreateRole operation: "
            + invalid_fed(gone)) in err
