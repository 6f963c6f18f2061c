"""
authz_driver.py -- every operation tresor serves, with representative
requests, against a server that records its authorizations
(TRESOR_AUTHZ_TRACE, src/iam/authz_trace.c).

The coverage test (test_authz_table.py) runs drive() and compares what the
server recorded with src/iam/authz_table.def.  Each conditional condition
key is exercised both ways: every KMS key operation runs on a bare key and
on a key with tags and an alias; every Secrets Manager operation on a bare
secret and on one with tags and a Type; optional members are given and
left out; the callers are the root user, an IAM user with tags, a role
session with tags and a source identity, and GetSessionToken credentials;
a session of AssumeRoleWithWebIdentity (when the server was started with
web_identity_for's --oidc-jwks) makes one call, for aws:FederatedProvider;
the Secrets Manager -> KMS hop is made under the managed key and under a
customer key named by an alias.

Run alone, it measures another build (an older commit with the trace hook
applied):

    python3 tests/e2e/authz_driver.py --bin path/to/tresor --trace out.jsonl

Failures are collected, not raised: a build that lacks an operation still
gets the rest driven.  drive() returns the list of unexpected failures.
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parent))

from oidc_issuer import SigningKey  # noqa: E402
from tresor_e2e import (  # noqa: E402
    ACCOUNT, REGION, ROOT_ARN, Caller, TresorServer, allow, assume_role, make_managed_policy,
    make_role, make_user, policy_doc, trust_policy,
)

ADMIN_POLICY = [allow("*")]


class Driver:
    def __init__(self, srv):
        self.srv = srv
        self.root = srv.root_user
        self.failures = []          # (label, error code, message)
        self.n = 0

    # ---- calls ---------------------------------------------------------

    def do(self, label, fn, *args, expect=None, **kwargs):
        """fn(*args, **kwargs); a ClientError is recorded unless its code is
        `expect` (an operation refused after authorization, on purpose)."""
        self.n += 1
        try:
            out = fn(*args, **kwargs)
        except ClientError as e:
            code = e.response.get("Error", {}).get("Code")
            if expect is None or code != expect:
                self.failures.append((label, code, e.response.get("Error", {}).get("Message")))
            return None
        if expect is not None:
            self.failures.append((label, "no error", f"expected {expect}"))
        return out

    def kms_raw(self, who, op, expect=None, **params):
        """A KMS call boto3 1.26's model lacks, signed with who's credentials."""
        headers = {}
        if who.session_token:
            headers["X-Amz-Security-Token"] = who.session_token
        self.n += 1
        r = self.srv.raw(f"TrentService.{op}", params, access_key=who.access_key,
                         secret_key=who.secret_key, headers=headers)
        if r.status != 200 and r.error_code != expect:
            self.failures.append((op, r.error_code, r.error_message))
        return r.json if r.status == 200 else None

    # ---- identities ----------------------------------------------------

    def identities(self):
        r = self.root
        self.admin = make_user(r, "drv-admin", policy=ADMIN_POLICY, tags={"team": "blue"})
        self.plain = make_user(r, "drv-plain", policy=ADMIN_POLICY)
        trust = trust_policy(ROOT_ARN, ["sts:AssumeRole", "sts:TagSession",
                                        "sts:SetSourceIdentity"])
        self.role = make_role(r, "drv-role", trust=trust, policy=ADMIN_POLICY,
                              tags={"env": "prod"})
        self.bare_role = make_role(r, "drv-bare-role", trust=trust, policy=ADMIN_POLICY)
        # A session with tags, a transitive key and a source identity, and
        # one with nothing: the sts: keys both ways.
        self.session = self.do("AssumeRole (tags)", assume_role, self.admin, self.role["Arn"],
                               "drv-s1", Tags=[{"Key": "proj", "Value": "x"}],
                               TransitiveTagKeys=["proj"], SourceIdentity="drv-src",
                               ExternalId="drv-ext")
        self.bare_session = self.do("AssumeRole (bare)", assume_role, self.plain,
                                    self.bare_role["Arn"], "drv-s2")
        self.do("AssumeRole (tags only)", assume_role, self.admin, self.bare_role["Arn"],
                "drv-s4", Tags=[{"Key": "proj", "Value": "y"}])
        # Role chaining: carried tags need sts:TagSession without Tags.
        if self.session:
            self.do("AssumeRole (chained)", assume_role, self.session, self.bare_role["Arn"],
                    "drv-s3")
        gst = self.do("GetSessionToken", self.admin.sts.get_session_token)
        self.gst = None
        if gst:
            c = gst["Credentials"]
            self.gst = Caller(self.srv, c["AccessKeyId"], c["SecretAccessKey"],
                              c["SessionToken"], arn=self.admin.arn, name="drv-admin")
        self.do("GetCallerIdentity", self.admin.sts.get_caller_identity)
        self.callers = [x for x in (self.root, self.admin, self.session, self.gst) if x]
        self.web_identity()

    def web_identity(self):
        """One call of a web identity session: aws:FederatedProvider present."""
        key = getattr(self.srv, "web_identity_key", None)
        if key is None:
            return
        iam = self.root.iam
        prov = self.do("CreateOpenIDConnectProvider (web identity)", iam.create_open_id_connect_provider,
                       Url=WEB_ISSUER, ClientIDList=["drv"])
        if not prov:
            return
        trust = trust_policy({"Federated": prov["OpenIDConnectProviderArn"]},
                             "sts:AssumeRoleWithWebIdentity")
        role = make_role(self.root, "drv-web-role", trust=trust, policy=ADMIN_POLICY)
        now = int(time.time())
        token = key.sign({"iss": WEB_ISSUER, "sub": "drv", "aud": "drv", "iat": now, "exp": now + 600})
        r = self.do("AssumeRoleWithWebIdentity", self.root.sts.assume_role_with_web_identity,
                    RoleArn=role["Arn"], RoleSessionName="drv-web", WebIdentityToken=token)
        if r:
            c = r["Credentials"]
            web = Caller(self.srv, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"],
                         arn=r["AssumedRoleUser"]["Arn"], name="drv-web")
            self.do("ListKeys (web identity)", web.kms.list_keys)

    # ---- KMS -------------------------------------------------------------

    def kms_keys(self):
        a = self.admin.kms
        self.bare_key = a.create_key(Description="drv bare")["KeyMetadata"]["KeyId"]
        pol = policy_doc({"Sid": "Enable IAM User Permissions", "Effect": "Allow",
                          "Principal": {"AWS": ROOT_ARN}, "Action": "kms:*", "Resource": "*"})
        self.deco_key = self.do("CreateKey (tags, policy, bypass)", a.create_key,
                                Description="drv decorated", Policy=pol, MultiRegion=True,
                                BypassPolicyLockoutSafetyCheck=True,
                                Tags=[{"TagKey": "dept", "TagValue": "x"}])["KeyMetadata"]["KeyId"]
        self.do("CreateKey (bypass false, policy)", a.create_key, Policy=pol,
                BypassPolicyLockoutSafetyCheck=False)
        self.do("CreateAlias", a.create_alias, AliasName="alias/drv-deco",
                TargetKeyId=self.deco_key)
        replica = getattr(self.srv, "replica_region", None)
        if replica:
            # ReplicateKey (kms:CreateKey and, with Tags, kms:TagResource in
            # the replica region) with and without its optional members;
            # UpdatePrimaryRegion there and back (kms:PrimaryRegion).
            plain = self.do("CreateKey (multi-Region)", a.create_key, MultiRegion=True)
            if plain:
                pid = plain["KeyMetadata"]["KeyId"]
                self.do("ReplicateKey", a.replicate_key, KeyId=pid, ReplicaRegion=replica)
                self.do("UpdatePrimaryRegion", a.update_primary_region, KeyId=pid,
                        PrimaryRegion=replica)
                there = self.admin.server.client("kms", self.admin.access_key,
                                                 self.admin.secret_key, self.admin.session_token,
                                                 region=replica)
                self.do("UpdatePrimaryRegion (back)", there.update_primary_region, KeyId=pid,
                        PrimaryRegion=REGION)
            if self.deco_key:
                self.do("ReplicateKey (members)", a.replicate_key, KeyId=self.deco_key,
                        ReplicaRegion=replica, Policy=pol, BypassPolicyLockoutSafetyCheck=True,
                        Description="drv replica", Tags=[{"TagKey": "dept", "TagValue": "y"}])
                # On a key with tags and an alias (aws:ResourceTag, kms:ResourceAliases).
                self.do("UpdatePrimaryRegion (decorated)", a.update_primary_region,
                        KeyId=self.deco_key, PrimaryRegion=replica)
                there = self.admin.server.client("kms", self.admin.access_key,
                                                 self.admin.secret_key, self.admin.session_token,
                                                 region=replica)
                self.do("UpdatePrimaryRegion (decorated, back)", there.update_primary_region,
                        KeyId=self.deco_key, PrimaryRegion=REGION)
        self.do("ListKeys", a.list_keys)
        self.do("ListAliases", a.list_aliases)
        self.do("ListRetirableGrants", a.list_retirable_grants, RetiringPrincipal=self.admin.arn)
        self.do("GenerateRandom", a.generate_random, NumberOfBytes=16)
        # Custom key stores: tresor has none, so each ends in its not-found
        # error -- after the decision.
        cks = "cks-1234567890abcdef0"
        self.do("DescribeCustomKeyStores", a.describe_custom_key_stores)
        self.do("CreateCustomKeyStore", a.create_custom_key_store,
                CustomKeyStoreName="drv", CloudHsmClusterId="cluster-234567abcde",
                TrustAnchorCertificate="pem", KeyStorePassword="kmsuser-pw",
                expect="CloudHsmClusterNotFoundException")
        self.do("UpdateCustomKeyStore", a.update_custom_key_store, CustomKeyStoreId=cks,
                expect="CustomKeyStoreNotFoundException")
        self.do("DeleteCustomKeyStore", a.delete_custom_key_store, CustomKeyStoreId=cks,
                expect="CustomKeyStoreNotFoundException")
        self.do("ConnectCustomKeyStore", a.connect_custom_key_store, CustomKeyStoreId=cks,
                expect="CustomKeyStoreNotFoundException")
        self.do("DisconnectCustomKeyStore", a.disconnect_custom_key_store, CustomKeyStoreId=cks,
                expect="CustomKeyStoreNotFoundException")

    def kms_aliases(self):
        """CreateAlias, UpdateAlias, DeleteAlias: on the alias and on keys
        with and without aliases and tags."""
        a = self.admin.kms
        third = a.create_key(Description="drv third")["KeyMetadata"]["KeyId"]
        self.do("CreateAlias (first)", a.create_alias, AliasName="alias/drv-b1",
                TargetKeyId=self.bare_key)
        self.do("CreateAlias (second)", a.create_alias, AliasName="alias/drv-d2",
                TargetKeyId=self.deco_key)
        self.do("UpdateAlias (to a bare key)", a.update_alias, AliasName="alias/drv-b1",
                TargetKeyId=third)
        self.do("UpdateAlias (to a tagged key)", a.update_alias, AliasName="alias/drv-b1",
                TargetKeyId=self.deco_key)
        self.do("UpdateAlias", a.update_alias, AliasName="alias/drv-d2", TargetKeyId=third)
        self.do("DeleteAlias", a.delete_alias, AliasName="alias/drv-d2")
        self.do("DeleteAlias (tagged key)", a.delete_alias, AliasName="alias/drv-b1")

    def kms_crypto(self, who, key, alias=None):
        """The cryptographic operations on key as who: with and without an
        encryption context, and by alias name and alias ARN when key has one."""
        k = who.kms
        ctx = {"purpose": "drv"}
        ids = [key] + ([alias, f"arn:aws:kms:{REGION}:{ACCOUNT}:{alias}"] if alias else [])
        for kid in ids:
            self.do("Encrypt", k.encrypt, KeyId=kid, Plaintext=b"p")
            self.do("DescribeKey", k.describe_key, KeyId=kid)
            self.do("GenerateDataKey", k.generate_data_key, KeyId=kid, KeySpec="AES_256",
                    EncryptionContext=ctx)
            self.do("GenerateDataKeyWithoutPlaintext", k.generate_data_key_without_plaintext,
                    KeyId=kid, KeySpec="AES_256")
        self.do("GenerateDataKey", k.generate_data_key, KeyId=key, NumberOfBytes=32)
        self.do("GenerateDataKeyWithoutPlaintext", k.generate_data_key_without_plaintext,
                KeyId=key, KeySpec="AES_256", EncryptionContext=ctx)
        blob = self.do("Encrypt (context)", k.encrypt, KeyId=key, Plaintext=b"p",
                       EncryptionContext=ctx)
        plain = self.do("Encrypt", k.encrypt, KeyId=key, Plaintext=b"p")
        if blob:
            self.do("Decrypt (context)", k.decrypt, CiphertextBlob=blob["CiphertextBlob"],
                    EncryptionContext=ctx)
            self.do("ReEncrypt (same key)", k.re_encrypt, CiphertextBlob=blob["CiphertextBlob"],
                    SourceEncryptionContext=ctx, DestinationKeyId=alias or key)
        if plain:
            self.do("Decrypt", k.decrypt, CiphertextBlob=plain["CiphertextBlob"])
            self.do("Decrypt (KeyId)", k.decrypt, CiphertextBlob=plain["CiphertextBlob"],
                    KeyId=alias or key)
            if alias:
                self.do("ReEncrypt (SourceKeyId)", k.re_encrypt,
                        CiphertextBlob=plain["CiphertextBlob"], SourceKeyId=alias,
                        DestinationKeyId=key)
            other = self.deco_key if key == self.bare_key else self.bare_key
            self.do("ReEncrypt (other key)", k.re_encrypt, CiphertextBlob=plain["CiphertextBlob"],
                    DestinationKeyId=other, DestinationEncryptionContext=ctx)

    def kms_key_ops(self, key):
        """Every other operation on one key, as the admin user."""
        a = self.admin.kms
        self.do("GetKeyPolicy", a.get_key_policy, KeyId=key, PolicyName="default")
        self.do("ListKeyPolicies", a.list_key_policies, KeyId=key)
        pol = a.get_key_policy(KeyId=key, PolicyName="default")["Policy"]
        self.do("PutKeyPolicy", a.put_key_policy, KeyId=key, PolicyName="default", Policy=pol)
        self.do("PutKeyPolicy (bypass)", a.put_key_policy, KeyId=key, PolicyName="default",
                Policy=pol, BypassPolicyLockoutSafetyCheck=True)
        self.do("UpdateKeyDescription", a.update_key_description, KeyId=key, Description="d2")
        # Tags: a bare key has none while these run, a decorated key has one.
        self.do("UntagResource (no such tag)", a.untag_resource, KeyId=key, TagKeys=["none"])
        self.do("ListResourceTags", a.list_resource_tags, KeyId=key)
        self.do("TagResource", a.tag_resource, KeyId=key,
                Tags=[{"TagKey": "tmp", "TagValue": "1"}])
        self.do("UntagResource", a.untag_resource, KeyId=key, TagKeys=["tmp"])
        self.do("EnableKeyRotation", a.enable_key_rotation, KeyId=key)
        self.kms_raw(self.admin, "EnableKeyRotation", KeyId=key, RotationPeriodInDays=90)
        self.do("GetKeyRotationStatus", a.get_key_rotation_status, KeyId=key)
        self.kms_raw(self.admin, "GetKeyLastUsage", KeyId=key)
        self.kms_raw(self.admin, "RotateKeyOnDemand", KeyId=key)
        self.kms_raw(self.admin, "ListKeyRotations", KeyId=key)
        self.do("DisableKeyRotation", a.disable_key_rotation, KeyId=key)
        self.do("DisableKey", a.disable_key, KeyId=key)
        self.do("EnableKey", a.enable_key, KeyId=key)
        self.do("ScheduleKeyDeletion", a.schedule_key_deletion, KeyId=key)
        self.do("CancelKeyDeletion", a.cancel_key_deletion, KeyId=key)
        self.do("ScheduleKeyDeletion (window)", a.schedule_key_deletion, KeyId=key,
                PendingWindowInDays=7)
        self.do("CancelKeyDeletion", a.cancel_key_deletion, KeyId=key)
        self.do("EnableKey", a.enable_key, KeyId=key)
        # Grants: with a constraint and a retiring principal, and without.
        g1 = self.do("CreateGrant (constraint)", a.create_grant, KeyId=key,
                     GranteePrincipal=self.plain.arn, RetiringPrincipal=self.admin.arn,
                     Operations=["Decrypt", "RetireGrant"],
                     Constraints={"EncryptionContextSubset": {"purpose": "drv"}})
        g2 = self.do("CreateGrant", a.create_grant, KeyId=key, GranteePrincipal=self.plain.arn,
                     Operations=["Encrypt", "RetireGrant"])
        g3 = self.do("CreateGrant (to revoke)", a.create_grant, KeyId=key,
                     GranteePrincipal=self.plain.arn, Operations=["Encrypt"])
        self.do("ListGrants", a.list_grants, KeyId=key)
        if g1:
            self.do("RetireGrant (constraint)", a.retire_grant, GrantToken=g1["GrantToken"])
        if g2:
            self.do("RetireGrant", self.plain.kms.retire_grant, KeyId=key,
                    GrantId=g2["GrantId"])
        if g3:
            self.do("RevokeGrant", a.revoke_grant, KeyId=key, GrantId=g3["GrantId"])

    def kms_asym(self, who):
        """The asymmetric and HMAC operations as who: on a bare key by id, on
        a tagged, aliased key by id and by alias (kms:RequestAlias), with and
        without MessageType (RAW by default)."""
        a, k = self.admin.kms, who.kms
        if not hasattr(self, "sign_keys"):
            # The tagged keys are multi-Region (kms:MultiRegionKeyType).
            tag = [{"TagKey": "dept", "TagValue": "x"}]
            self.sign_keys = [a.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY", **t)
                              ["KeyMetadata"]["KeyId"] for t in ({}, {"Tags": tag, "MultiRegion": True})]
            self.mac_keys = [a.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC", **t)
                             ["KeyMetadata"]["KeyId"] for t in ({}, {"Tags": tag, "MultiRegion": True})]
            self.agree_keys = [a.create_key(KeySpec="ECC_NIST_P256", KeyUsage="KEY_AGREEMENT", **t)
                               ["KeyMetadata"]["KeyId"] for t in ({}, {"Tags": tag, "MultiRegion": True})]
            self.rsa_key = a.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
            a.create_alias(AliasName="alias/drv-sign", TargetKeyId=self.sign_keys[1])
            a.create_alias(AliasName="alias/drv-agree", TargetKeyId=self.agree_keys[1])
            a.create_alias(AliasName="alias/drv-mac", TargetKeyId=self.mac_keys[1])
        digest = bytes(32)
        for kid in self.sign_keys + ["alias/drv-sign"]:
            self.do("GetPublicKey", k.get_public_key, KeyId=kid)
            sig = self.do("Sign", k.sign, KeyId=kid, Message=b"m", SigningAlgorithm="ECDSA_SHA_256")
            if sig:
                self.do("Verify", k.verify, KeyId=kid, Message=b"m", Signature=sig["Signature"],
                        SigningAlgorithm="ECDSA_SHA_256")
            sig = self.do("Sign (DIGEST)", k.sign, KeyId=kid, Message=digest, MessageType="DIGEST",
                          SigningAlgorithm="ECDSA_SHA_256")
            if sig:
                self.do("Verify (DIGEST)", k.verify, KeyId=kid, Message=digest, MessageType="DIGEST",
                        Signature=sig["Signature"], SigningAlgorithm="ECDSA_SHA_256")
        for kid in self.mac_keys + ["alias/drv-mac"]:
            mac = self.do("GenerateMac", k.generate_mac, KeyId=kid, Message=b"m",
                          MacAlgorithm="HMAC_SHA_256")
            if mac:
                self.do("VerifyMac", k.verify_mac, KeyId=kid, Message=b"m", Mac=mac["Mac"],
                        MacAlgorithm="HMAC_SHA_256")
        # The peer's public key: another key agreement key's, from the admin.
        peer = a.get_public_key(KeyId=self.agree_keys[0])["PublicKey"]
        for kid in self.agree_keys + ["alias/drv-agree"]:
            self.do("DeriveSharedSecret", k.derive_shared_secret, KeyId=kid,
                    KeyAgreementAlgorithm="ECDH", PublicKey=peer)
        ct = self.do("Encrypt (RSA)", k.encrypt, KeyId=self.rsa_key, Plaintext=b"p",
                     EncryptionAlgorithm="RSAES_OAEP_SHA_256")
        if ct:
            self.do("Decrypt (RSA)", k.decrypt, KeyId=self.rsa_key, CiphertextBlob=ct["CiphertextBlob"],
                    EncryptionAlgorithm="RSAES_OAEP_SHA_256")
        self.do("GetPublicKey (RSA)", k.get_public_key, KeyId=self.rsa_key)
        ctx = {"purpose": "drv"}
        for kid in (self.bare_key, self.deco_key, "alias/drv-deco"):
            self.do("GenerateDataKeyPair", k.generate_data_key_pair, KeyId=kid,
                    KeyPairSpec="ECC_NIST_P256")
            self.do("GenerateDataKeyPairWithoutPlaintext", k.generate_data_key_pair_without_plaintext,
                    KeyId=kid, KeyPairSpec="ECC_NIST_P256", EncryptionContext=ctx)
        self.do("GenerateDataKeyPair (context)", k.generate_data_key_pair, KeyId=self.bare_key,
                KeyPairSpec="ECC_NIST_P384", EncryptionContext=ctx)
        self.do("GenerateDataKeyPairWithoutPlaintext", k.generate_data_key_pair_without_plaintext,
                KeyId=self.bare_key, KeyPairSpec="ECC_NIST_P256")

    def kms_import(self):
        """Imported key material on a bare EXTERNAL key and on a tagged,
        aliased one: GetParametersForImport, ImportKeyMaterial with and
        without ValidTo (kms:ValidTo), DeleteImportedKeyMaterial."""
        import datetime
        import os
        import time

        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import padding
        a = self.admin.kms
        tag = [{"TagKey": "dept", "TagValue": "x"}]
        keys = [a.create_key(Origin="EXTERNAL", **t)["KeyMetadata"]["KeyId"]
                for t in ({}, {"Tags": tag, "MultiRegion": True})]
        a.create_alias(AliasName="alias/drv-import", TargetKeyId=keys[1])
        h = hashes.SHA256()
        oaep = padding.OAEP(mgf=padding.MGF1(algorithm=h), algorithm=h, label=None)
        valid_to = datetime.datetime.fromtimestamp(int(time.time()) + 86400, datetime.timezone.utc)
        for kid in keys:
            material = os.urandom(32)
            for extra in ({"ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE"},
                          {"ValidTo": valid_to},
                          {"ExpirationModel": "KEY_MATERIAL_EXPIRES", "ValidTo": valid_to}):
                p = self.do("GetParametersForImport", a.get_parameters_for_import, KeyId=kid,
                            WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")
                if not p:
                    continue
                pub = serialization.load_der_public_key(p["PublicKey"])
                self.do("ImportKeyMaterial", a.import_key_material, KeyId=kid,
                        ImportToken=p["ImportToken"], EncryptedKeyMaterial=pub.encrypt(material, oaep),
                        **extra)
            self.do("DeleteImportedKeyMaterial", a.delete_imported_key_material, KeyId=kid)

    def kms(self):
        self.kms_keys()
        self.kms_import()
        for who in self.callers:
            self.kms_crypto(who, self.bare_key)
            self.kms_crypto(who, self.deco_key, "alias/drv-deco")
            self.kms_asym(who)
        self.kms_key_ops(self.bare_key)
        self.kms_key_ops(self.deco_key)
        self.kms_aliases()

    # ---- Secrets Manager -------------------------------------------------

    def secrets(self):
        sm = self.admin.client("secretsmanager")
        a = self.admin.kms
        self.sm_key = a.create_key(Tags=[{"TagKey": "use", "TagValue": "sm"}])["KeyMetadata"]
        self.do("CreateAlias (sm)", a.create_alias, AliasName="alias/drv-sm",
                TargetKeyId=self.sm_key["KeyId"])
        bare = self.do("CreateSecret", sm.create_secret, Name="drv/bare", SecretString="v1")
        deco = self.do("CreateSecret (members)", sm.create_secret, Name="drv/deco",
                       SecretString="v1", Description="d", KmsKeyId="alias/drv-sm",
                       Tags=[{"Key": "app", "Value": "web"}], Type="drv-type")
        self.do("CreateSecret (key ARN)", sm.create_secret, Name="drv/by-arn",
                SecretString="v", KmsKeyId=self.sm_key["Arn"])
        self.do("CreateSecret (replicas)", sm.create_secret, Name="drv/replica",
                SecretString="v", AddReplicaRegions=[{"Region": "eu-west-1"}],
                ForceOverwriteReplicaSecret=True, expect="InvalidParameterException")  # not served
        # With Tags, CreateSecret is also authorized for TagResource, with
        # every member's key.
        self.do("CreateSecret (replicas, tags)", sm.create_secret, Name="drv/replica",
                SecretString="v", Description="d", KmsKeyId="alias/drv-sm", Type="t",
                AddReplicaRegions=[{"Region": "eu-west-1"}], ForceOverwriteReplicaSecret=False,
                Tags=[{"Key": "app", "Value": "web"}], expect="InvalidParameterException")
        self.do("ListSecrets", sm.list_secrets)
        self.do("GetRandomPassword", sm.get_random_password)
        self.do("DescribeSecret (missing)", sm.describe_secret, SecretId="drv/missing",
                expect="ResourceNotFoundException")
        arns = [s["ARN"] for s in (bare, deco) if s]
        self.do("BatchGetSecretValue", sm.batch_get_secret_value, SecretIdList=arns)
        self.do("BatchGetSecretValue (filters)", sm.batch_get_secret_value,
                Filters=[{"Key": "name", "Values": ["drv/"]}])
        if bare:
            self.secret_ops(sm, bare["ARN"], decorated=False)
        if deco:
            self.secret_ops(sm, deco["ARN"], decorated=True)
        # The hop for every kind of caller, under the managed key and a
        # customer key named by an alias.
        for who in self.callers:
            c = who.client("secretsmanager")
            for s in (bare, deco):
                if s:
                    self.do("GetSecretValue", c.get_secret_value, SecretId=s["ARN"])
                    self.do("PutSecretValue", c.put_secret_value, SecretId=s["ARN"],
                            SecretString="v-" + who.arn[-6:])

    def secret_ops(self, sm, arn, decorated):
        """Every operation on one secret; a bare one has no tags, no Type and
        no rotation function while they run, a decorated one has all three
        (the function when the server has rotation hooks: rotation_hooks_for)."""
        # The decorated secret is a multi-Region one when the server serves
        # a second region (secretsmanager:SecretPrimaryRegion is set).
        replica = getattr(self.srv, "replica_region", None) if decorated else None
        if replica:
            self.do("ReplicateSecretToRegions (served)", sm.replicate_secret_to_regions,
                    SecretId=arn, AddReplicaRegions=[{"Region": replica}])
        if getattr(self.srv, "rotation_hooks", None) and decorated:
            # Records the function on the secret: every decision on it then
            # carries secretsmanager:resource/AllowRotationLambdaArn.
            self.do("RotateSecret (members)", sm.rotate_secret, SecretId=arn,
                    RotationLambdaARN=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:rot",
                    RotationRules={"AutomaticallyAfterDays": 30}, RotateImmediately=False)
        self.do("DescribeSecret", sm.describe_secret, SecretId=arn)
        self.do("GetSecretValue", sm.get_secret_value, SecretId=arn)
        v = self.do("PutSecretValue", sm.put_secret_value, SecretId=arn, SecretString="v2")
        self.do("GetSecretValue (stage)", sm.get_secret_value, SecretId=arn,
                VersionStage="AWSCURRENT")
        if v:
            self.do("GetSecretValue (version)", sm.get_secret_value, SecretId=arn,
                    VersionId=v["VersionId"])
        vs = self.do("ListSecretVersionIds", sm.list_secret_version_ids, SecretId=arn)
        if v and vs:
            self.do("UpdateSecretVersionStage", sm.update_secret_version_stage, SecretId=arn,
                    VersionStage="drv-label", MoveToVersionId=v["VersionId"])
        self.do("UpdateSecret", sm.update_secret, SecretId=arn, SecretString="v3")
        self.do("UpdateSecret (description)", sm.update_secret, SecretId=arn, Description="d2")
        extra = {"Type": "drv-type"} if decorated else {}
        self.do("UpdateSecret (key)", sm.update_secret, SecretId=arn,
                KmsKeyId=self.sm_key["Arn"], **extra)
        self.do("UntagResource (no such tag)", sm.untag_resource, SecretId=arn,
                TagKeys=["none"])
        self.do("TagResource", sm.tag_resource, SecretId=arn, Tags=[{"Key": "t", "Value": "1"}])
        self.do("UntagResource", sm.untag_resource, SecretId=arn, TagKeys=["t"])
        pol = policy_doc({"Effect": "Allow", "Principal": {"AWS": ROOT_ARN},
                          "Action": "secretsmanager:GetSecretValue", "Resource": "*"})
        self.do("ValidateResourcePolicy", sm.validate_resource_policy, SecretId=arn,
                ResourcePolicy=pol)
        self.do("ValidateResourcePolicy (no secret)", sm.validate_resource_policy,
                ResourcePolicy=pol)
        self.do("PutResourcePolicy", sm.put_resource_policy, SecretId=arn, ResourcePolicy=pol)
        self.do("PutResourcePolicy (block)", sm.put_resource_policy, SecretId=arn,
                ResourcePolicy=pol, BlockPublicPolicy=True)
        self.do("GetResourcePolicy", sm.get_resource_policy, SecretId=arn)
        self.do("DeleteResourcePolicy", sm.delete_resource_policy, SecretId=arn)
        refused = "InvalidRequestException"
        hooks = getattr(self.srv, "rotation_hooks", None)
        rotating = hooks and decorated        # RotateSecret (members) ran first (secret_ops)
        self.do("RotateSecret", sm.rotate_secret, SecretId=arn, expect=None if rotating else refused)
        if not hooks:
            self.do("RotateSecret (members)", sm.rotate_secret, SecretId=arn,
                    RotationLambdaARN=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:rot",
                    RotationRules={"AutomaticallyAfterDays": 30}, RotateImmediately=False,
                    expect="AccessDeniedException")      # no rotation hook of that name
        self.do("RotateSecret (external)", sm.rotate_secret, SecretId=arn,
                ExternalSecretRotationRoleArn=f"arn:aws:iam::{ACCOUNT}:role/rot",
                expect=refused)
        self.do("CancelRotateSecret", sm.cancel_rotate_secret, SecretId=arn)
        # Authorized, then refused: eu-west-1 is not served (and the
        # secret is no replica), so nothing is replicated.
        no_region = "InvalidParameterException"
        self.do("ReplicateSecretToRegions", sm.replicate_secret_to_regions, SecretId=arn,
                AddReplicaRegions=[{"Region": "eu-west-1"}], expect=no_region)
        self.do("ReplicateSecretToRegions (force)", sm.replicate_secret_to_regions, SecretId=arn,
                AddReplicaRegions=[{"Region": "eu-west-1"}], ForceOverwriteReplicaSecret=True,
                expect=no_region)
        self.do("RemoveRegionsFromReplication", sm.remove_regions_from_replication,
                SecretId=arn, RemoveReplicaRegions=["eu-west-1"], expect=no_region)
        self.do("StopReplicationToReplica", sm.stop_replication_to_replica, SecretId=arn,
                expect=no_region)
        # A primary that has replicas is not deleted (authorized first).
        has_replicas = "InvalidParameterException" if replica else None
        self.do("DeleteSecret", sm.delete_secret, SecretId=arn, expect=has_replicas)
        self.do("RestoreSecret", sm.restore_secret, SecretId=arn)
        self.do("DeleteSecret (window)", sm.delete_secret, SecretId=arn, RecoveryWindowInDays=7,
                expect=has_replicas)
        self.do("RestoreSecret", sm.restore_secret, SecretId=arn)
        self.do("DeleteSecret (force false)", sm.delete_secret, SecretId=arn,
                ForceDeleteWithoutRecovery=False, expect=has_replicas)
        self.do("RestoreSecret", sm.restore_secret, SecretId=arn)
        # Back under the alias for the callers' hop (kms:RequestAlias).
        self.do("UpdateSecret (alias)", sm.update_secret, SecretId=arn, KmsKeyId="alias/drv-sm")

    # ---- IAM ---------------------------------------------------------------

    def iam_user_ops(self, i, u, parn, doc):
        """The operations on one user; drv-u1 has no tags and no boundary
        while they run, drv-u2 has both."""
        self.do("GetUser", i.get_user, UserName=u)
        self.do("UpdateUser", i.update_user, UserName=u, NewPath="/p/")
        self.do("UntagUser (no such tag)", i.untag_user, UserName=u, TagKeys=["none"])
        self.do("ListUserTags", i.list_user_tags, UserName=u)
        self.do("CreateLoginProfile", i.create_login_profile, UserName=u, Password="Drv-pass-1")
        self.do("GetLoginProfile", i.get_login_profile, UserName=u)
        self.do("UpdateLoginProfile", i.update_login_profile, UserName=u, Password="Drv-pass-2")
        self.do("DeleteLoginProfile", i.delete_login_profile, UserName=u)
        self.do("ListMFADevices", i.list_mfa_devices, UserName=u)
        self.do("ListSSHPublicKeys", i.list_ssh_public_keys, UserName=u)
        self.do("ListServiceSpecificCredentials", i.list_service_specific_credentials, UserName=u)
        self.do("ListSigningCertificates", i.list_signing_certificates, UserName=u)
        self.do("TagUser", i.tag_user, UserName=u, Tags=[{"Key": "t", "Value": "1"}])
        self.do("UntagUser", i.untag_user, UserName=u, TagKeys=["t"])
        self.do("PutUserPolicy", i.put_user_policy, UserName=u, PolicyName="p",
                PolicyDocument=doc)
        self.do("GetUserPolicy", i.get_user_policy, UserName=u, PolicyName="p")
        self.do("ListUserPolicies", i.list_user_policies, UserName=u)
        self.do("DeleteUserPolicy", i.delete_user_policy, UserName=u, PolicyName="p")
        self.do("AttachUserPolicy", i.attach_user_policy, UserName=u, PolicyArn=parn)
        self.do("ListAttachedUserPolicies", i.list_attached_user_policies, UserName=u)
        self.do("DetachUserPolicy", i.detach_user_policy, UserName=u, PolicyArn=parn)
        self.do("AddUserToGroup", i.add_user_to_group, GroupName="drv-g", UserName=u)
        self.do("ListGroupsForUser", i.list_groups_for_user, UserName=u)
        self.do("RemoveUserFromGroup", i.remove_user_from_group, GroupName="drv-g", UserName=u)
        k = self.do("CreateAccessKey", i.create_access_key, UserName=u)
        self.do("ListAccessKeys", i.list_access_keys, UserName=u)
        if k:
            kid = k["AccessKey"]["AccessKeyId"]
            self.do("GetAccessKeyLastUsed", i.get_access_key_last_used, AccessKeyId=kid)
            self.do("UpdateAccessKey", i.update_access_key, UserName=u, AccessKeyId=kid,
                    Status="Inactive")
            self.do("DeleteAccessKey", i.delete_access_key, UserName=u, AccessKeyId=kid)

    def iam_role_ops(self, i, r, parn, doc, trust):
        self.do("GetRole", i.get_role, RoleName=r)
        self.do("UpdateRole", i.update_role, RoleName=r, Description="d")
        self.do("UpdateRoleDescription", i.update_role_description, RoleName=r, Description="e")
        self.do("UpdateAssumeRolePolicy", i.update_assume_role_policy, RoleName=r,
                PolicyDocument=trust)
        self.do("UntagRole (no such tag)", i.untag_role, RoleName=r, TagKeys=["none"])
        self.do("ListRoleTags", i.list_role_tags, RoleName=r)
        self.do("TagRole", i.tag_role, RoleName=r, Tags=[{"Key": "t", "Value": "1"}])
        self.do("UntagRole", i.untag_role, RoleName=r, TagKeys=["t"])
        self.do("PutRolePolicy", i.put_role_policy, RoleName=r, PolicyName="p",
                PolicyDocument=doc)
        self.do("GetRolePolicy", i.get_role_policy, RoleName=r, PolicyName="p")
        self.do("ListRolePolicies", i.list_role_policies, RoleName=r)
        self.do("DeleteRolePolicy", i.delete_role_policy, RoleName=r, PolicyName="p")
        self.do("AttachRolePolicy", i.attach_role_policy, RoleName=r, PolicyArn=parn)
        self.do("ListAttachedRolePolicies", i.list_attached_role_policies, RoleName=r)
        self.do("DetachRolePolicy", i.detach_role_policy, RoleName=r, PolicyArn=parn)

    def iam_profile_ops(self, i, p, r):
        """The operations on one instance profile (drv-ip1: no tags; drv-ip2:
        tags) and the role r it holds for a while."""
        self.do("GetInstanceProfile", i.get_instance_profile, InstanceProfileName=p)
        self.do("ListInstanceProfileTags", i.list_instance_profile_tags, InstanceProfileName=p)
        self.do("UntagInstanceProfile (no such tag)", i.untag_instance_profile,
                InstanceProfileName=p, TagKeys=["none"])
        self.do("TagInstanceProfile", i.tag_instance_profile, InstanceProfileName=p,
                Tags=[{"Key": "t", "Value": "1"}])
        self.do("UntagInstanceProfile", i.untag_instance_profile, InstanceProfileName=p,
                TagKeys=["t"])
        self.do("AddRoleToInstanceProfile", i.add_role_to_instance_profile,
                InstanceProfileName=p, RoleName=r)
        self.do("ListInstanceProfilesForRole", i.list_instance_profiles_for_role, RoleName=r)
        self.do("RemoveRoleFromInstanceProfile", i.remove_role_from_instance_profile,
                InstanceProfileName=p, RoleName=r)
        self.do("DeleteInstanceProfile", i.delete_instance_profile, InstanceProfileName=p)

    def iam_oidc_ops(self, i, arn):
        """The operations on one OpenID Connect provider (the first has no
        tags; the second has)."""
        a = {"OpenIDConnectProviderArn": arn}
        self.do("GetOpenIDConnectProvider", i.get_open_id_connect_provider, **a)
        self.do("ListOpenIDConnectProviderTags", i.list_open_id_connect_provider_tags, **a)
        self.do("UntagOpenIDConnectProvider (no such tag)", i.untag_open_id_connect_provider,
                TagKeys=["none"], **a)
        self.do("TagOpenIDConnectProvider", i.tag_open_id_connect_provider,
                Tags=[{"Key": "t", "Value": "1"}], **a)
        self.do("UntagOpenIDConnectProvider", i.untag_open_id_connect_provider, TagKeys=["t"], **a)
        self.do("AddClientIDToOpenIDConnectProvider", i.add_client_id_to_open_id_connect_provider,
                ClientID="c2", **a)
        self.do("RemoveClientIDFromOpenIDConnectProvider",
                i.remove_client_id_from_open_id_connect_provider, ClientID="c2", **a)
        self.do("UpdateOpenIDConnectProviderThumbprint",
                i.update_open_id_connect_provider_thumbprint, ThumbprintList=["a" * 40], **a)
        self.do("DeleteOpenIDConnectProvider", i.delete_open_id_connect_provider, **a)

    def iam_policy_ops(self, i, parn, doc):
        """The operations on one managed policy (drv-pol: no tags; drv-p2: tags)."""
        self.do("CreatePolicyVersion", i.create_policy_version, PolicyArn=parn,
                PolicyDocument=doc)
        self.do("ListPolicyVersions", i.list_policy_versions, PolicyArn=parn)
        self.do("GetPolicyVersion", i.get_policy_version, PolicyArn=parn, VersionId="v2")
        self.do("SetDefaultPolicyVersion", i.set_default_policy_version, PolicyArn=parn,
                VersionId="v2")
        self.do("DeletePolicyVersion", i.delete_policy_version, PolicyArn=parn, VersionId="v1")
        self.do("GetPolicy", i.get_policy, PolicyArn=parn)
        self.do("ListEntitiesForPolicy", i.list_entities_for_policy, PolicyArn=parn)
        self.do("ListPolicyTags", i.list_policy_tags, PolicyArn=parn)
        self.do("UntagPolicy (no such tag)", i.untag_policy, PolicyArn=parn, TagKeys=["none"])
        self.do("TagPolicy", i.tag_policy, PolicyArn=parn, Tags=[{"Key": "t", "Value": "1"}])
        self.do("UntagPolicy", i.untag_policy, PolicyArn=parn, TagKeys=["t"])

    def simulate_principal(self, i, kind, name):
        src = f"arn:aws:iam::{ACCOUNT}:{kind}/{name}"
        self.do(f"SimulatePrincipalPolicy ({name})", i.simulate_principal_policy,
                PolicySourceArn=src, ActionNames=["kms:ListKeys"])
        self.do(f"GetContextKeysForPrincipalPolicy ({name})",
                i.get_context_keys_for_principal_policy, PolicySourceArn=src)

    def iam(self):
        i = self.admin.iam
        parn = make_managed_policy(self.admin, allow("kms:DescribeKey"), name="drv-pol")["Arn"]
        boundary = make_managed_policy(self.root, allow("*"), name="drv-boundary")["Arn"]
        doc = policy_doc(allow("kms:ListKeys"))
        trust = json.dumps(trust_policy(ROOT_ARN))
        tags = [{"Key": "k", "Value": "v"}]
        p2 = self.do("CreatePolicy (tags)", i.create_policy, PolicyName="drv-p2",
                     PolicyDocument=doc, Tags=tags)
        # Users and roles: with tags and a boundary, and without.
        self.do("CreateUser", i.create_user, UserName="drv-u1")
        self.do("CreateUser (tags, boundary)", i.create_user, UserName="drv-u2", Tags=tags,
                PermissionsBoundary=boundary)
        self.do("CreateRole", i.create_role, RoleName="drv-r1", AssumeRolePolicyDocument=trust)
        self.do("CreateRole (tags, boundary)", i.create_role, RoleName="drv-r2",
                AssumeRolePolicyDocument=trust, Tags=tags, PermissionsBoundary=boundary)
        self.do("CreateServiceLinkedRole", i.create_service_linked_role,
                AWSServiceName="mrk.kms.amazonaws.com")
        # A service-linked role deleted with tags, then one without.
        cks = "AWSServiceRoleForKeyManagementServiceCustomKeyStores"
        for extra in (True, False):
            self.do("CreateServiceLinkedRole (cks)", i.create_service_linked_role,
                    AWSServiceName="cks.kms.amazonaws.com")
            if extra:
                self.do("TagRole (service-linked)", i.tag_role, RoleName=cks, Tags=tags)
            d = self.do("DeleteServiceLinkedRole", i.delete_service_linked_role, RoleName=cks)
            if d:
                self.do("GetServiceLinkedRoleDeletionStatus", i.get_service_linked_role_deletion_status,
                        DeletionTaskId=d["DeletionTaskId"])
        self.do("CreateGroup", i.create_group, GroupName="drv-g")
        self.iam_policy_ops(i, parn, doc)
        if p2:
            self.iam_policy_ops(i, p2["Policy"]["Arn"], doc)
        self.do("ListPolicies", i.list_policies)
        for u in ("drv-u1", "drv-u2"):
            self.simulate_principal(i, "user", u)
            self.iam_user_ops(i, u, parn, doc)
        self.do("PutUserPermissionsBoundary", i.put_user_permissions_boundary,
                UserName="drv-u1", PermissionsBoundary=boundary)
        self.do("DeleteUserPermissionsBoundary", i.delete_user_permissions_boundary,
                UserName="drv-u1")
        self.do("DeleteUserPermissionsBoundary (none)", i.delete_user_permissions_boundary,
                UserName="drv-u1")
        self.do("PutUserPermissionsBoundary (tags)", i.put_user_permissions_boundary,
                UserName="drv-u2", PermissionsBoundary=boundary)
        self.do("DeleteUserPermissionsBoundary (tags)", i.delete_user_permissions_boundary,
                UserName="drv-u2")
        for r in ("drv-r1", "drv-r2"):
            self.iam_role_ops(i, r, parn, doc, trust)
        self.do("PutRolePermissionsBoundary", i.put_role_permissions_boundary,
                RoleName="drv-r1", PermissionsBoundary=boundary)
        self.do("DeleteRolePermissionsBoundary", i.delete_role_permissions_boundary,
                RoleName="drv-r1")
        self.do("DeleteRolePermissionsBoundary (none)", i.delete_role_permissions_boundary,
                RoleName="drv-r1")
        self.do("PutRolePermissionsBoundary (tags)", i.put_role_permissions_boundary,
                RoleName="drv-r2", PermissionsBoundary=boundary)
        self.do("DeleteRolePermissionsBoundary (tags)", i.delete_role_permissions_boundary,
                RoleName="drv-r2")
        self.do("PutRolePermissionsBoundary (again)", i.put_role_permissions_boundary,
                RoleName="drv-r2", PermissionsBoundary=boundary)
        g = "drv-g"
        self.do("GetGroup", i.get_group, GroupName=g)
        self.do("PutGroupPolicy", i.put_group_policy, GroupName=g, PolicyName="p",
                PolicyDocument=doc)
        self.do("GetGroupPolicy", i.get_group_policy, GroupName=g, PolicyName="p")
        self.do("ListGroupPolicies", i.list_group_policies, GroupName=g)
        self.do("DeleteGroupPolicy", i.delete_group_policy, GroupName=g, PolicyName="p")
        self.do("AttachGroupPolicy", i.attach_group_policy, GroupName=g, PolicyArn=parn)
        self.do("ListAttachedGroupPolicies", i.list_attached_group_policies, GroupName=g)
        self.do("DetachGroupPolicy", i.detach_group_policy, GroupName=g, PolicyArn=parn)
        self.do("ListUsers", i.list_users)
        self.do("ListRoles", i.list_roles, PathPrefix="/")
        self.do("ListGroups", i.list_groups)
        self.do("GetAccountAuthorizationDetails", i.get_account_authorization_details)
        self.do("GetAccountSummary", i.get_account_summary)
        self.do("SimulateCustomPolicy", i.simulate_custom_policy, PolicyInputList=[doc],
                ActionNames=["kms:ListKeys"])
        self.do("GetContextKeysForCustomPolicy", i.get_context_keys_for_custom_policy,
                PolicyInputList=[doc])
        for kind, name in (("role", "drv-r1"), ("role", "drv-r2"), ("group", g)):
            self.simulate_principal(i, kind, name)
        self.do("CreateInstanceProfile", i.create_instance_profile, InstanceProfileName="drv-ip1")
        self.do("CreateInstanceProfile (tags)", i.create_instance_profile,
                InstanceProfileName="drv-ip2", Tags=tags)
        self.do("ListInstanceProfiles", i.list_instance_profiles)
        self.iam_profile_ops(i, "drv-ip1", "drv-r1")
        self.iam_profile_ops(i, "drv-ip2", "drv-r2")
        oidc = []
        for n, extra in (("drv-oidc1", {}), ("drv-oidc2", {"Tags": tags})):
            reply = self.do("CreateOpenIDConnectProvider" + (" (tags)" if extra else ""),
                            i.create_open_id_connect_provider, Url=f"https://{n}.example.com",
                            ClientIDList=["c1"], ThumbprintList=["a" * 40], **extra)
            if reply:
                oidc.append(reply["OpenIDConnectProviderArn"])
        self.do("ListOpenIDConnectProviders", i.list_open_id_connect_providers)
        for arn in oidc:
            self.iam_oidc_ops(i, arn)
        for u in ("drv-u1", "drv-u2"):
            self.do("DeleteUser", i.delete_user, UserName=u)
        self.do("DeleteUser (missing)", i.delete_user, UserName="drv-nobody",
                expect="NoSuchEntity")
        for r in ("drv-r1", "drv-r2"):
            self.do("DeleteRole", i.delete_role, RoleName=r)
        self.do("DeleteGroup", i.delete_group, GroupName=g)
        self.do("DeletePolicy", i.delete_policy, PolicyArn=parn)
        if p2:
            self.do("DeletePolicy (tags)", i.delete_policy, PolicyArn=p2["Policy"]["Arn"])
        # Without UserName: the caller itself -- a user, or the root user,
        # decided on the account's root ARN.
        self.do("GetUser (self)", i.get_user)
        self.do("ListAccessKeys (self)", i.list_access_keys)
        r = self.root.iam
        self.do("GetUser (root)", r.get_user)
        self.do("ListMFADevices (root)", r.list_mfa_devices)
        self.do("ListSSHPublicKeys (root)", r.list_ssh_public_keys)
        self.do("ListServiceSpecificCredentials (root)", r.list_service_specific_credentials)
        self.do("ListSigningCertificates (root)", r.list_signing_certificates)
        k = self.do("CreateAccessKey (root)", r.create_access_key)
        self.do("ListAccessKeys (root)", r.list_access_keys)
        if k:
            kid = k["AccessKey"]["AccessKeyId"]
            self.do("GetAccessKeyLastUsed (root)", r.get_access_key_last_used, AccessKeyId=kid)
            self.do("UpdateAccessKey (root)", r.update_access_key, AccessKeyId=kid,
                    Status="Inactive")
            self.do("DeleteAccessKey (root)", r.delete_access_key, AccessKeyId=kid)
        # The same calls as the root user and as a role session: their
        # contexts differ in the global keys only.
        for who in (self.root, self.session):
            if who:
                self.do("ListUsers", who.iam.list_users)
                self.do("GetRole", who.iam.get_role, RoleName="drv-role")

    # ---- a request with a Referer and none with a User-Agent ------------------

    def headers(self):
        ak, sk = self.admin.access_key, self.admin.secret_key
        r = self.srv.raw("TrentService.ListKeys", {}, access_key=ak, secret_key=sk,
                         headers={"Referer": "https://console.example/keys"})
        if r.status != 200:
            self.failures.append(("ListKeys (Referer)", r.error_code, r.error_message))
        r = self.srv.raw("TrentService.ListAliases", {}, access_key=ak, secret_key=sk,
                         drop_headers=("User-Agent",))
        if r.status != 200:
            self.failures.append(("ListAliases (no User-Agent)", r.error_code, r.error_message))

    def run(self):
        self.identities()
        self.kms()
        self.secrets()
        self.iam()
        self.headers()
        return self.failures


def rotation_hooks_for(root):
    """A rotation hook directory for the driven server: the function "rot",
    which RotateSecret with RotateImmediately=False only checks for (it
    never runs), and its role file.  Start the server with
    --rotation-hooks on it and set srv.rotation_hooks."""
    d = Path(root) / "hooks"
    d.mkdir(exist_ok=True)
    (d / "rot").write_text("#!/bin/sh\nexit 1\n")
    (d / "rot").chmod(0o755)
    (d / "rot.role").write_text(f"arn:aws:iam::{ACCOUNT}:role/none\n")
    return d


WEB_ISSUER = "https://drv-issuer.example.invalid"


def web_identity_for(root):
    """The --oidc-jwks arguments for the driven server: a JWKS of one key for
    WEB_ISSUER, written under root.  Set srv.web_identity_key to the key."""
    key = SigningKey("drv-1")
    path = Path(root) / "drv-jwks.json"
    path.write_text(json.dumps({"keys": [key.jwk()]}))
    return key, ["--oidc-jwks", f"{WEB_ISSUER}={path}"]


def drive(srv):
    """Drive every served operation against srv; the unexpected failures."""
    return Driver(srv).run()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", required=True, help="the tresor binary (with the trace hook)")
    ap.add_argument("--trace", required=True, help="where the server writes its record")
    args = ap.parse_args()
    import os
    os.environ["TRESOR_BIN"] = str(Path(args.bin).resolve())
    trace = Path(args.trace).resolve()
    trace.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory() as d:
        srv = TresorServer("drive", d)
        srv.rotation_hooks = rotation_hooks_for(d)
        srv.replica_region = "us-west-2"
        srv.web_identity_key, web_args = web_identity_for(d)
        srv.start(env_extra={"TRESOR_AUTHZ_TRACE": str(trace), "TRESOR_LOG": "quiet"},
                  args=["--rotation-hooks", str(srv.rotation_hooks), "--regions",
                        f"us-east-1,{srv.replica_region}", *web_args])
        try:
            failures = drive(srv)
        finally:
            srv.stop()
    for f in failures:
        print("failed:", *f, file=sys.stderr)
    print(f"{sum(1 for _ in open(trace))} authorizations recorded in {trace}")


if __name__ == "__main__":
    main()
