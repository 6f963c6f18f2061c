#!/usr/bin/python3
"""A rotation function written the way AWS's rotation templates are
(SecretsManagerRotationTemplate/lambda_function.py): lambda_handler(event,
context) with the four steps, boto3 against SECRETS_MANAGER_ENDPOINT.
Run by `tresor serve --rotation-hooks DIR` as DIR/NAME with the event as
JSON on standard input; it exits 0 when the step succeeded."""
import json
import logging
import os
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
    if not metadata['RotationEnabled']:
        raise ValueError("Secret %s is not enabled for rotation" % arn)
    versions = metadata['VersionIdsToStages']
    if token not in versions:
        raise ValueError("Secret version %s has no stage for rotation of secret %s." % (token, arn))
    if "AWSCURRENT" in versions[token]:
        logger.info("Secret version %s already set as AWSCURRENT for secret %s." % (token, arn))
        return
    elif "AWSPENDING" not in versions[token]:
        raise ValueError("Secret version %s not set as AWSPENDING for rotation of secret %s." % (token, arn))
    if step == "createSecret":
        create_secret(service_client, arn, token)
    elif step == "setSecret":
        logger.info("setSecret: nothing to set for %s" % arn)
    elif step == "testSecret":
        service_client.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
    elif step == "finishSecret":
        finish_secret(service_client, arn, token)
    else:
        raise ValueError("Invalid step parameter")


def create_secret(service_client, arn, token):
    service_client.get_secret_value(SecretId=arn, VersionStage="AWSCURRENT")
    try:
        service_client.get_secret_value(SecretId=arn, VersionId=token, VersionStage="AWSPENDING")
        logger.info("createSecret: Successfully retrieved secret for %s." % arn)
    except service_client.exceptions.ResourceNotFoundException:
        exclude = os.environ.get('EXCLUDE_CHARACTERS', '/@"\'\\')
        passwd = service_client.get_random_password(ExcludeCharacters=exclude)
        service_client.put_secret_value(SecretId=arn, ClientRequestToken=token,
                                        SecretString=passwd['RandomPassword'], VersionStages=['AWSPENDING'])
        logger.info("createSecret: Successfully put secret for ARN %s and version %s." % (arn, token))


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
