"""boto3 clients whose timeouts make a hanging dependency a fast failure, not a hung function.

A paused or browned-out DynamoDB accepts the connection and never answers, so the read
timeout is what ends a call. Each budget is (attempts x (connect + read)) plus the retry's
back-off, and must stay well inside the function's timeout (template.yaml, 10 s):

- the API answers 503 (code 14) within `API_CALL_BUDGET_SECONDS` of a call hanging, and a
  request meets at most one hanging call (the first failure ends it);
- the authorizer fails closed in about a second: one attempt, so that under a DynamoDB
  brownout it does not hold a Lambda instance (and the account's concurrency) for the full
  timeout on every request of the whole API.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

# botocore takes urllib3's pyOpenSSL SSLContext when pyOpenSSL can be imported (py_webauthn
# brings it along, for attestation certificates) and the standard library's otherwise: the
# same context, for ~130 ms of the API's cold start (make bench). Blocking that one optional
# import, before botocore is first imported, makes botocore take the standard library's.
sys.modules.setdefault("urllib3.contrib.pyopenssl", None)  # type: ignore[arg-type]  # None: "not importable"

import boto3  # noqa: E402  # after the line above, on purpose
from botocore.config import Config as BotoConfig  # noqa: E402

# Two attempts (one retry of a throttle or a dropped connection), 1.5 s each to answer.
# Legacy retry mode, because standard mode also waits as long as a throttled answer's
# x-amz-retry-after asks (up to 5 s more), which would carry a call past the timeout.
API_CALLS = BotoConfig(
    connect_timeout=1, read_timeout=1.5, retries={"total_max_attempts": 2, "mode": "legacy"}
)
# One attempt of at most a second: a client that got a 500 retries on its own.
AUTHORIZER_CALLS = BotoConfig(
    connect_timeout=0.5, read_timeout=0.75, retries={"total_max_attempts": 1, "mode": "standard"}
)


# Worst cases, for the docs and the tests that hold the budgets to the function timeout:
# legacy retry mode waits at most 1 s before its first retry (50 ms for DynamoDB).
API_CALL_BUDGET_SECONDS = 2 * (1 + 1.5) + 1
AUTHORIZER_CALL_BUDGET_SECONDS = 0.5 + 0.75


def dynamodb_client(config: BotoConfig = API_CALLS) -> Any:
    return boto3.client("dynamodb", config=config)


def secretsmanager_client(config: BotoConfig = API_CALLS) -> Any:
    return boto3.client("secretsmanager", config=config)


class LazyClient:
    """A client built on its first call, for one that only some requests use (the API
    function's bookkeeping writes): building a second DynamoDB client is ~30 ms of a cold
    start that most routes would pay for nothing."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._client: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._client is None:
            self._client = self._build()
        return getattr(self._client, name)
