#!/usr/bin/python3
"""A rotation function for a PostgreSQL user's password, written the way
AWS's "PostgreSQL single user" rotation template is
(SecretsManagerRDSPostgreSQLRotationSingleUser/lambda_function.py), with
psql in place of a database driver so that it needs nothing beyond
Debian's python3, boto3 and postgresql-client.

The secret is JSON: {"engine": "postgres", "host": H, "port": P,
"username": U, "password": W, "dbname": D} (host may be a Unix socket
directory).  createSecret puts a new random password under AWSPENDING;
setSecret logs in with the pending password (done already) or else with
the current or previous one, and runs ALTER USER ... PASSWORD; testSecret
logs in with the pending password; finishSecret moves AWSCURRENT.  Run by
`tresor serve --rotation-hooks DIR` as DIR/NAME, the event on stdin."""
import json
import logging
import os
import subprocess
import sys

import boto3

logger = logging.getLogger()
logging.basicConfig(stream=sys.stderr, level=logging.INFO)


def lambda_handler(event, context):
    arn = event['SecretId']
    token = event['ClientRequestToken']
    step = event['Step']
    service_client = boto3.client('secretsmanager', endpoint_url=os.environ['SECRETS_MANAGER_ENDPOINT'])
    metadata = service_client.describe_secret(SecretId=arn)
    if "RotationEnabled" in metadata and not metadata['RotationEnabled']:
        raise ValueError("Secret %s is not enabled for rotation" % arn)
    versions = metadata['VersionIdsToStages']
    if token not in versions:
        raise ValueError("Secret version %s has no stage for rotation of secret %s." % (token, arn))
    if "AWSCURRENT" in versions[token]:
        return
    elif "AWSPENDING" not in versions[token]:
        raise ValueError("Secret version %s not set as AWSPENDING for rotation of secret %s." % (token, arn))
    if step == "createSecret":
        create_secret(service_client, arn, token)
    elif step == "setSecret":
        set_secret(service_client, arn, token)
    elif step == "testSecret":
        test_secret(service_client, arn, token)
    elif step == "finishSecret":
        finish_secret(service_client, arn, token)
    else:
        raise ValueError("Invalid step parameter %s for secret %s" % (step, arn))


def get_secret_dict(service_client, arn, stage, token=None):
    kw = {"SecretId": arn, "VersionStage": stage}
    if token:
        kw["VersionId"] = token
    secret = json.loads(service_client.get_secret_value(**kw)['SecretString'])
    for field in ('host', 'username', 'password'):
        if field not in secret:
            raise KeyError("%s key is missing from secret JSON" % field)
    return secret


def create_secret(service_client, arn, token):
    current = get_secret_dict(service_client, arn, "AWSCURRENT")
    try:
        get_secret_dict(service_client, arn, "AWSPENDING", token)
        logger.info("createSecret: Successfully retrieved secret for %s." % arn)
    except service_client.exceptions.ResourceNotFoundException:
        exclude = os.environ.get('EXCLUDE_CHARACTERS', ':/@"\'\\')
        current['password'] = service_client.get_random_password(ExcludeCharacters=exclude)['RandomPassword']
        service_client.put_secret_value(SecretId=arn, ClientRequestToken=token,
                                        SecretString=json.dumps(current), VersionStages=['AWSPENDING'])
        logger.info("createSecret: Successfully put secret for ARN %s and version %s." % (arn, token))


def psql(secret, script, variables=()):
    """Run script (on stdin, so psql interpolates :'vars') logged in as the
    secret's user with its password; True when it succeeded."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PGPASSWORD": secret['password'],
           "PGCONNECT_TIMEOUT": "5"}
    cmd = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", secret['host'], "-p", str(secret.get('port', 5432)),
           "-U", secret['username'], "-d", secret.get('dbname', 'postgres')]
    for k, v in variables:
        cmd += ["-v", "%s=%s" % (k, v)]
    p = subprocess.run(cmd, input=script, env=env, capture_output=True, text=True, timeout=20)
    return p.returncode == 0


def set_secret(service_client, arn, token):
    pending = get_secret_dict(service_client, arn, "AWSPENDING", token)
    if psql(pending, "SELECT 1;"):
        logger.info("setSecret: AWSPENDING secret is already set as password in PostgreSQL DB for secret arn %s." % arn)
        return
    current = get_secret_dict(service_client, arn, "AWSCURRENT")
    login = current if psql(current, "SELECT 1;") else None
    if login is None:
        try:
            previous = get_secret_dict(service_client, arn, "AWSPREVIOUS")
            login = previous if psql(previous, "SELECT 1;") else None
        except service_client.exceptions.ResourceNotFoundException:
            login = None
    if login is None:
        raise ValueError("Unable to log into database with previous, current, or pending secret of secret arn %s" % arn)
    if not psql(login, "ALTER USER :\"u\" WITH PASSWORD :'pw';", [("u", pending['username']),
                                                                 ("pw", pending['password'])]):
        raise ValueError("setSecret: ALTER USER failed for secret arn %s" % arn)
    logger.info("setSecret: Successfully set password for user %s in PostgreSQL DB for secret arn %s."
                % (pending['username'], arn))


def test_secret(service_client, arn, token):
    pending = get_secret_dict(service_client, arn, "AWSPENDING", token)
    if not psql(pending, "SELECT NOW();"):
        raise ValueError("Unable to log into database with pending secret of secret ARN %s" % arn)
    logger.info("testSecret: Successfully signed into PostgreSQL DB with AWSPENDING secret in %s." % arn)


def finish_secret(service_client, arn, token):
    metadata = service_client.describe_secret(SecretId=arn)
    current_version = None
    for version in metadata["VersionIdsToStages"]:
        if "AWSCURRENT" in metadata["VersionIdsToStages"][version]:
            if version == token:
                return
            current_version = version
            break
    service_client.update_secret_version_stage(SecretId=arn, VersionStage="AWSCURRENT", MoveToVersionId=token,
                                               RemoveFromVersionId=current_version)
    logger.info("finishSecret: Successfully set AWSCURRENT stage to version %s for secret %s." % (token, arn))


if __name__ == "__main__":
    try:
        lambda_handler(json.load(sys.stdin), None)
    except Exception as e:  # a Lambda's unhandled exception: the step fails
        logger.error("%s: %s", type(e).__name__, e)
        sys.exit(1)
