"""boto3 clients whose timeouts make a hanging dependency a fast failure, not a hung function.

A paused or browned-out DynamoDB accepts the connection and never answers, so the read
timeout is what ends a call. Each budget is (attempts x (connect + read)) plus the retry's
back-off, and must stay well inside the function's timeout (template.yaml, 10 s):

- the API answers 503 (code 14) within `API_CALL_BUDGET_SECONDS` of a call hanging (the
  first failure ends the request); and a dependency slow on every call without hanging on
  any is bounded by the request's deadline (auth.deadline): no attempt starts that could
  end after `API_REQUEST_BUDGET_SECONDS` from the request's start, a 503 instead;
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
from botocore.exceptions import BotoCoreError  # noqa: E402

from auth import deadline  # noqa: E402

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
# From the API handler's start, the moment after which no AWS attempt of the request starts
# unless it may still end (on a pooled connection) before it, nor any identity-provider call
# (auth.outbound_http). An attempt started just before it ends by 7 - 1.5 + 2.5 = 8 s even
# with a new connection: the function's last 2 s are for a throttle's give-back
# (auth.deadline.compensating) and the answer.
API_REQUEST_BUDGET_SECONDS = 7.0


class RequestOutOfTime(BotoCoreError):
    """An attempt the request has no time left for, refused before it is sent: the stores
    translate it, as any botocore failure, into a 503."""

    fmt = "the request has no time left for another AWS call"


def _attempt_seconds(config: BotoConfig) -> float:
    """The longest one attempt takes on a pooled connection, as a request's calls after its
    first are made: its read timeout (a new connection adds the connect timeout)."""
    return float(getattr(config, "read_timeout", 60))


def _bounded(client: Any, config: BotoConfig) -> Any:
    """`client`, made to start no attempt (a retry is one) that could end after the current
    request's deadline, on a pooled connection; outside a request it is unchanged."""
    attempt = _attempt_seconds(config)

    def refuse_late_attempt(**_: Any) -> None:
        request = deadline.current()
        if request is not None and request.remaining() < attempt:
            raise RequestOutOfTime()

    # First: before anything (moto, in tests) answers the request instead of sending it.
    client.meta.events.register_first("before-send", refuse_late_attempt)
    return client


def dynamodb_client(config: BotoConfig = API_CALLS) -> Any:
    return _bounded(boto3.client("dynamodb", config=config), config)


def secretsmanager_client(config: BotoConfig = API_CALLS) -> Any:
    return _bounded(boto3.client("secretsmanager", config=config), config)


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
