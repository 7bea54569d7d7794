"""boto3 clients with timeouts short enough that a slow dependency fails a request (closed)
well inside the Lambda timeout, instead of hanging it."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.config import Config as BotoConfig

_BOTO_CONFIG = BotoConfig(
    connect_timeout=2,
    read_timeout=3,
    retries={"max_attempts": 3, "mode": "standard"},
)


def dynamodb_client() -> Any:
    return boto3.client("dynamodb", config=_BOTO_CONFIG)


def secretsmanager_client() -> Any:
    return boto3.client("secretsmanager", config=_BOTO_CONFIG)
