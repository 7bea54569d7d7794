"""Create the template's tables and secrets in the local backends."""

from __future__ import annotations

import os
from typing import Any, Literal

import boto3
import botocore.config
import botocore.exceptions
import botocore.session

from devstack.environment import FAKE_CREDENTIALS, LOCAL_ACCESS_KEY_ID, Endpoints
from devstack.intrinsics import REGION
from devstack.template import Secret, Table, Template

_CLIENT_CONFIG = botocore.config.Config(retries={"max_attempts": 3, "mode": "standard"})


# Read no AWS_PROFILE and no ~/.aws files: a developer's real profile must neither break
# nor be used by a client of the local backends.
_ISOLATED_SESSION_VARIABLES = {
    "profile": (None, None, None, None),
    "config_file": (None, None, os.devnull, None),
    "credentials_file": (None, None, os.devnull, None),
}


# The two services the stack serves locally.
Service = Literal["dynamodb", "secretsmanager"]


def client(
    service: Service,
    endpoint: str,
    config: botocore.config.Config = _CLIENT_CONFIG,
    access_key_id: str = LOCAL_ACCESS_KEY_ID,
) -> Any:
    """A boto3 client bound to a local backend, whatever the shell's AWS settings are; `config`
    for a caller with pool and retry needs of its own (the Memos importer), `access_key_id`
    for a stack's namespace in a shared DynamoDB Local (Endpoints.access_key_id)."""
    isolated = botocore.session.Session(session_vars=_ISOLATED_SESSION_VARIABLES)
    return boto3.session.Session(botocore_session=isolated).client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=config,
    )


def provision(template: Template, endpoints: Endpoints) -> list[str]:
    """Create every table and secret; returns notes about what the backend could not do."""
    return create_all(
        template,
        client("dynamodb", endpoints.dynamodb, access_key_id=endpoints.access_key_id),
        client("secretsmanager", endpoints.secretsmanager),
    )


def create_all(template: Template, dynamodb: Any, secretsmanager: Any) -> list[str]:
    """Every table and secret of the template, through the given clients (moto's in tests)."""
    notes: list[str] = []
    for table in template.tables.values():
        notes.extend(create_table(dynamodb, table))
    for secret in template.secrets.values():
        create_secret(secretsmanager, secret)
    return notes


def create_table(dynamodb: Any, table: Table) -> list[str]:
    try:
        dynamodb.create_table(**table.create_args)
    except dynamodb.exceptions.ResourceInUseException:
        # Kept from an earlier run (`make run` keeps its data) and used as it is.
        return _drift(dynamodb, table)
    dynamodb.get_waiter("table_exists").wait(
        TableName=table.name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
    )
    if table.ttl_attribute is None:
        return []
    try:
        dynamodb.update_time_to_live(
            TableName=table.name,
            TimeToLiveSpecification={"AttributeName": table.ttl_attribute, "Enabled": True},
        )
    except botocore.exceptions.ClientError as error:
        # Not every emulator knows TTL; the application checks expiry on read anyway (SPEC §5).
        return [f"{table.name}: TTL not enabled locally ({error.response['Error']['Code']})"]
    return []


def _drift(dynamodb: Any, table: Table) -> list[str]:
    """A note when a kept table's keys or indexes are no longer those of the template."""
    kept = dynamodb.describe_table(TableName=table.name)["Table"]

    def shape(description: Any) -> tuple[Any, ...]:
        keys = sorted((key["AttributeName"], key["KeyType"]) for key in description["KeySchema"])
        indexes = sorted(index["IndexName"] for index in description.get("GlobalSecondaryIndexes", []))
        return keys, indexes

    if shape(kept) == shape(table.create_args):
        return []
    return [f"{table.name} is kept from an earlier run, but template.yaml changed it since: make run FRESH=1"]


def create_secret(secretsmanager: Any, secret: Secret) -> None:
    # Created without a value on purpose: the application generates and stores the
    # signing key on first use, as Memos does (SPEC §2).
    arguments = {"Name": secret.name}
    if secret.description:
        arguments["Description"] = secret.description
    secretsmanager.create_secret(**arguments)
