"""
preload.py -- set up a fresh tresor for bench/run through its real API (boto3).

Usage: preload.py DATA_DIR PORT OUT_DIR [--secrets N] [--keys N]

As the account's root user (profile "tresor" in DATA_DIR/credentials) it
creates:
  - a customer managed key whose (default) key policy delegates to IAM;
  - N secrets bench/sNNNNN under that key (100 by default; the first 10 are
    the BatchGetSecretValue batch) and one secret bench/write for the
    PutSecretValue load;
  - optionally extra keys (--keys, for the scale figures);
  - a role bench-role whose trust policy lets the user assume it;
  - an IAM user bench-user with an access key and an inline identity policy
    allowing exactly the benchmarked actions on those resources, so every
    benchmarked request goes through full authorization (never the root
    user's shortcut).
It writes OUT_DIR/creds.env (BENCH_ACCESS_KEY_ID, BENCH_SECRET_ACCESS_KEY)
and one request body per operation (OUT_DIR/<Op>.body), which the load
generator signs afresh for every request.  Traffic goes to 127.0.0.1 only.
"""

import argparse
import base64
import concurrent.futures
import configparser
import json
import os
import sys
import time
import urllib.parse

import boto3
from botocore.config import Config


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("data_dir")
    ap.add_argument("port", type=int)
    ap.add_argument("out_dir")
    ap.add_argument("--secrets", type=int, default=100)
    ap.add_argument("--keys", type=int, default=0)
    a = ap.parse_args()

    cp = configparser.ConfigParser()
    cp.read(os.path.join(a.data_dir, "credentials"))
    root = cp["tresor"]
    url = f"http://127.0.0.1:{a.port}"
    cfg = Config(retries={"max_attempts": 1}, max_pool_connections=16)
    sess = boto3.Session(aws_access_key_id=root["aws_access_key_id"],
                         aws_secret_access_key=root["aws_secret_access_key"],
                         region_name="us-east-1")
    kms = sess.client("kms", endpoint_url=url, config=cfg)
    sm = sess.client("secretsmanager", endpoint_url=url, config=cfg)
    iam = sess.client("iam", endpoint_url=url, config=cfg)
    sts = sess.client("sts", endpoint_url=url, config=cfg)
    account = sts.get_caller_identity()["Account"]

    t0 = time.time()
    key_arn = kms.create_key(Description="bench key")["KeyMetadata"]["Arn"]
    # Asymmetric and HMAC keys for the Sign, Verify and GenerateMac rows.
    ec_arn = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    rsa_arn = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    mac_arn = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]["Arn"]
    # Creation runs on 8 client threads (boto3 clients are thread-safe).
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: kms.create_key(Description=f"bench extra key {i}"), range(a.keys)))
    names = [f"bench/s{i:06d}" for i in range(a.secrets)]

    def create(i):
        sm.create_secret(Name=names[i], KmsKeyId=key_arn,
                         SecretString=json.dumps({"user": "app", "password": f"pw-{i:06d}-" + "x" * 24}))
        if (i + 1) % 10000 == 0:
            print(f"preload: {i + 1} secrets, {time.time() - t0:.0f}s", file=sys.stderr)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(a.secrets)))
    sm.create_secret(Name="bench/write", KmsKeyId=key_arn, SecretString="initial")
    load_s = time.time() - t0

    user = iam.create_user(UserName="bench-user")["User"]
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": user["Arn"]}, "Action": "sts:AssumeRole"}]}
    role_arn = iam.create_role(RoleName="bench-role",
                               AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    secrets_arn = f"arn:aws:secretsmanager:us-east-1:{account}:secret:bench/*"
    policy = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow",
         "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret",
                    "secretsmanager:PutSecretValue", "secretsmanager:ListSecrets",
                    "secretsmanager:CreateSecret"],
         "Resource": secrets_arn},
        {"Effect": "Allow", "Action": ["secretsmanager:BatchGetSecretValue",
                                       "secretsmanager:ListSecrets"], "Resource": "*"},
        {"Effect": "Allow",
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey",
                    "kms:GenerateDataKeyPair"],
         "Resource": key_arn},
        {"Effect": "Allow", "Action": ["kms:Sign", "kms:Verify", "kms:GenerateMac"],
         "Resource": [ec_arn, rsa_arn, mac_arn]},
        {"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": role_arn},
    ]}
    iam.put_user_policy(UserName="bench-user", PolicyName="bench", PolicyDocument=json.dumps(policy))
    ak = iam.create_access_key(UserName="bench-user")["AccessKey"]

    # Check the user's access end to end before any load runs.
    us = boto3.Session(aws_access_key_id=ak["AccessKeyId"], aws_secret_access_key=ak["SecretAccessKey"],
                       region_name="us-east-1")
    ukms = us.client("kms", endpoint_url=url, config=cfg)
    usm = us.client("secretsmanager", endpoint_url=url, config=cfg)
    blob = ukms.encrypt(KeyId=key_arn, Plaintext=b"k" * 32)["CiphertextBlob"]
    assert ukms.decrypt(CiphertextBlob=blob, KeyId=key_arn)["Plaintext"] == b"k" * 32
    usm.get_secret_value(SecretId=names[0])
    digest = b"d" * 32
    ec_sig = ukms.sign(KeyId=ec_arn, Message=digest, MessageType="DIGEST",
                       SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    assert ukms.verify(KeyId=ec_arn, Message=digest, MessageType="DIGEST", Signature=ec_sig,
                       SigningAlgorithm="ECDSA_SHA_256")["SignatureValid"]
    ukms.sign(KeyId=rsa_arn, Message=digest, MessageType="DIGEST", SigningAlgorithm="RSASSA_PSS_SHA_256")
    ukms.generate_mac(KeyId=mac_arn, Message=b"m" * 64, MacAlgorithm="HMAC_SHA_256")
    ukms.generate_data_key_pair(KeyId=key_arn, KeyPairSpec="ECC_NIST_P256")
    # (BatchGetSecretValue is newer than Debian 12's botocore: the load
    # generator's error count checks it.)
    us.client("sts", endpoint_url=url, config=cfg).assume_role(RoleArn=role_arn, RoleSessionName="check")

    os.makedirs(a.out_dir, exist_ok=True)

    def body(op, obj):
        with open(os.path.join(a.out_dir, op + ".body"), "w") as f:
            f.write(obj if isinstance(obj, str) else json.dumps(obj, separators=(",", ":")))

    b64 = lambda b: base64.b64encode(b).decode()
    body("GetSecretValue", {"SecretId": names[0]})
    body("GetSecretValueLast", {"SecretId": names[-1]})
    body("DescribeSecret", {"SecretId": names[0]})
    body("BatchGetSecretValue", {"SecretIdList": names[:10]})
    body("Encrypt", {"KeyId": key_arn, "Plaintext": b64(b"p" * 32)})
    body("Decrypt", {"KeyId": key_arn, "CiphertextBlob": b64(blob)})
    body("GenerateDataKey", {"KeyId": key_arn, "KeySpec": "AES_256"})
    body("DescribeKey", {"KeyId": key_arn})
    body("Sign", {"KeyId": ec_arn, "Message": b64(digest), "MessageType": "DIGEST",
                  "SigningAlgorithm": "ECDSA_SHA_256"})
    body("Sign-RSA2048", {"KeyId": rsa_arn, "Message": b64(digest), "MessageType": "DIGEST",
                          "SigningAlgorithm": "RSASSA_PSS_SHA_256"})
    body("Verify", {"KeyId": ec_arn, "Message": b64(digest), "MessageType": "DIGEST",
                    "Signature": b64(ec_sig), "SigningAlgorithm": "ECDSA_SHA_256"})
    body("GenerateMac", {"KeyId": mac_arn, "Message": b64(b"m" * 64), "MacAlgorithm": "HMAC_SHA_256"})
    body("GenerateDataKeyPair", {"KeyId": key_arn, "KeyPairSpec": "ECC_NIST_P256"})
    body("PutSecretValue", {"SecretId": "bench/write", "ClientRequestToken": "@TOKEN@",
                            "SecretString": json.dumps({"user": "app", "password": "y" * 32})})
    # CreateSecret: a new secret per request (bench/new/<fresh id>).
    body("CreateSecret", {"Name": "bench/new/@TOKEN@", "ClientRequestToken": "@TOKEN@",
                          "KmsKeyId": key_arn,
                          "SecretString": json.dumps({"user": "app", "password": "z" * 32})})
    body("ListSecrets", {"MaxResults": 100})
    body("AssumeRole", "Action=AssumeRole&Version=2011-06-15&RoleArn="
         + urllib.parse.quote(role_arn, safe="") + "&RoleSessionName=bench")
    with open(os.path.join(a.out_dir, "creds.env"), "w") as f:
        f.write(f"BENCH_ACCESS_KEY_ID={ak['AccessKeyId']}\nBENCH_SECRET_ACCESS_KEY={ak['SecretAccessKey']}\n")
    print(json.dumps({"secrets": a.secrets, "keys": a.keys + 1, "preload_seconds": round(load_s, 1)}))


if __name__ == "__main__":
    main()
