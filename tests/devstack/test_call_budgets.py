"""The AWS call budgets of auth.aws, held to template.yaml's function timeouts (issue #10).

A hanging DynamoDB must end in a fast 503 (API) or a fast fail-closed (authorizer), never in
the function timeout. These checks read the numbers where they live (the template, the
botocore Config objects, botocore's own back-off), so none of them can drift unnoticed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.retries.standard import ExponentialBackoff

from auth import aws, wiring
from auth.config import Config
from devstack.template import load_template
from tests.support.http_servers import serving

# The API answers 503 with room to spare for its own work (bcrypt, serialising) and a cold start.
API_BUDGET_SHARE_OF_TIMEOUT = 0.6
# The authorizer gives up in about a second, so a brownout cannot hold its instances for long.
AUTHORIZER_BUDGET_CEILING_SECONDS = 2.0


# Legacy mode's first back-off is at most 1 s too (random x 1 s; 50 ms for DynamoDB), and it
# ignores x-amz-retry-after.
RETRY_MODES = ("standard", "legacy")


def option(holder: object, name: str) -> Any:
    """An attribute botocore sets at run time (Config options, back-off constants), which
    its type stubs do not declare."""
    return getattr(holder, name)


def timeout_of(function: str) -> int:
    return load_template().functions[function].timeout_seconds


def attempts_of(config: BotoConfig) -> int:
    retries = option(config, "retries") or {}
    assert retries.get("mode") in RETRY_MODES, "the budgets model botocore's standard and legacy modes"
    # total_max_attempts counts the first try; max_attempts (the other spelling) does not.
    if "total_max_attempts" in retries:
        return int(retries["total_max_attempts"])
    return int(retries.get("max_attempts", 2)) + 1


def _largest_base_scale() -> float:
    """The longest first back-off botocore's standard mode may pick: 1 s for a throttle.
    (Newer botocore scales non-throttling retries down, to 25 ms for DynamoDB.)"""
    tables = [
        getattr(ExponentialBackoff, "_DEFAULT_BACKOFF_CONFIG", {}),
        *getattr(ExponentialBackoff, "_SERVICE_BACKOFF_CONFIG", {}).values(),
    ]
    return max([1.0, *(float(scale) for table in tables for scale in table.values())])


# Newer botocore waits as long as a response's x-amz-retry-after asks, up to 5 s past the
# computed back-off (older botocore ignores the header).
RETRY_AFTER_EXTRA_SECONDS = float(getattr(ExponentialBackoff, "_RETRY_AFTER_MAX_ADDITIONAL", 0))


def worst_case_seconds(config: BotoConfig, retry_after: bool = False) -> float:
    """Every attempt connects and waits its full read timeout, plus the longest back-offs
    between them as botocore computes them (random x scale x 2^(n-1), capped), plus, in
    standard mode, what an x-amz-retry-after header may add."""
    attempts = attempts_of(config)
    per_attempt = float(option(config, "connect_timeout")) + float(option(config, "read_timeout"))
    backoff = 0.0
    for retry in range(1, attempts):
        scaled = _largest_base_scale() * option(ExponentialBackoff, "_BASE") ** (retry - 1)
        computed = min(scaled, float(option(ExponentialBackoff, "_MAX_BACKOFF")))
        honoured = retry_after and (option(config, "retries") or {}).get("mode") == "standard"
        backoff += computed + (RETRY_AFTER_EXTRA_SECONDS if honoured else 0.0)
    return attempts * per_attempt + backoff


def test_the_template_gives_both_functions_a_timeout() -> None:
    # The budgets below are only meaningful against a timeout the template actually sets.
    assert timeout_of("ApiFunction") >= 5
    assert timeout_of("AuthorizerFunction") >= 3


def test_the_api_budget_is_well_inside_the_api_timeout() -> None:
    budget, timeout = aws.API_CALL_BUDGET_SECONDS, timeout_of("ApiFunction")
    assert budget <= API_BUDGET_SHARE_OF_TIMEOUT * timeout


def test_the_authorizer_budget_is_about_a_second() -> None:
    budget, timeout = aws.AUTHORIZER_CALL_BUDGET_SECONDS, timeout_of("AuthorizerFunction")
    assert budget <= AUTHORIZER_BUDGET_CEILING_SECONDS
    assert budget <= 0.25 * timeout


@pytest.mark.parametrize(
    ("config", "budget"),
    [
        (aws.API_CALLS, aws.API_CALL_BUDGET_SECONDS),
        (aws.AUTHORIZER_CALLS, aws.AUTHORIZER_CALL_BUDGET_SECONDS),
    ],
    ids=["api", "authorizer"],
)
def test_each_budget_constant_is_what_its_botocore_config_allows(config: BotoConfig, budget: float) -> None:
    assert worst_case_seconds(config) == pytest.approx(budget)


def test_a_retry_after_header_cannot_stretch_the_api_budget() -> None:
    assert worst_case_seconds(aws.API_CALLS, retry_after=True) <= aws.API_CALL_BUDGET_SECONDS


def test_the_authorizer_makes_one_attempt_and_the_api_at_most_two() -> None:
    # One attempt: a client that got the authorizer's 500 retries on its own; a retry inside
    # would only double how long each request holds an instance during a brownout.
    assert attempts_of(aws.AUTHORIZER_CALLS) == 1
    assert attempts_of(aws.API_CALLS) == 2


def test_the_clients_carry_the_configs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for factory, config in ((aws.dynamodb_client, aws.API_CALLS), (aws.secretsmanager_client, aws.API_CALLS)):
        made = factory(config).meta.config
        assert (option(made, "connect_timeout"), option(made, "read_timeout")) == (
            option(config, "connect_timeout"),
            option(config, "read_timeout"),
        )
        assert option(made, "retries") == option(config, "retries")
    made = aws.dynamodb_client(aws.AUTHORIZER_CALLS).meta.config
    assert (option(made, "connect_timeout"), option(made, "read_timeout")) == (0.5, 0.75)
    assert option(made, "retries") == {"total_max_attempts": 1, "mode": "standard"}


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (wiring.build_authorizer_services, [("dynamodb", "authorizer"), ("secretsmanager", "authorizer")]),
        # The best-effort last-use write has a client of its own with the authorizer's budget,
        # and Secrets Manager one with the API's, each built on its first use (below).
        (wiring.build_api_services, [("dynamodb", "api")]),
    ],
    ids=["authorizer", "api"],
)
def test_each_function_builds_its_clients_with_its_own_budget(
    monkeypatch: pytest.MonkeyPatch, build: Any, expected: list[tuple[str, str]]
) -> None:
    used: list[tuple[str, BotoConfig]] = []

    def recording(service: str) -> Any:
        def factory(config: BotoConfig = aws.API_CALLS) -> object:
            used.append((service, config))
            return object()

        return factory

    monkeypatch.setattr(aws, "dynamodb_client", recording("dynamodb"))
    monkeypatch.setattr(aws, "secretsmanager_client", recording("secretsmanager"))
    build(Config(bcrypt_cost=4))
    budgets = {id(aws.API_CALLS): "api", id(aws.AUTHORIZER_CALLS): "authorizer"}
    assert sorted((service, budgets[id(config)]) for service, config in used) == expected


def test_the_api_builds_its_bookkeeping_client_on_first_use_with_the_authorizers_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    used: list[BotoConfig] = []

    class Client:
        def update_item(self, **kwargs: Any) -> None: ...

    def dynamodb(config: BotoConfig = aws.API_CALLS) -> object:
        used.append(config)
        return Client()

    monkeypatch.setattr(aws, "dynamodb_client", dynamodb)
    monkeypatch.setattr(aws, "secretsmanager_client", lambda config=aws.API_CALLS: object())
    services = wiring.build_api_services(Config(bcrypt_cost=4))
    assert used == [aws.API_CALLS]
    bookkeeping = services.sessions._store._bookkeeping
    for _ in range(2):
        bookkeeping.update_item(TableName="t")
    assert used == [aws.API_CALLS, aws.AUTHORIZER_CALLS]


def test_the_api_builds_its_secrets_manager_client_on_first_use_with_its_own_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    used: list[BotoConfig] = []

    class Client:
        def get_secret_value(self, **kwargs: Any) -> dict[str, Any]:
            return {}

    def secretsmanager(config: BotoConfig = aws.API_CALLS) -> object:
        used.append(config)
        return Client()

    monkeypatch.setattr(aws, "dynamodb_client", lambda config=aws.API_CALLS: object())
    monkeypatch.setattr(aws, "secretsmanager_client", secretsmanager)
    services = wiring.build_api_services(Config(bcrypt_cost=4))
    assert used == []
    source = services.keys._source  # type: ignore[attr-defined]  # the key ring's, as built
    for _ in range(2):
        source.fetch("AWSCURRENT")
    assert used == [aws.API_CALLS]


class _Throttling(BaseHTTPRequestHandler):
    """A DynamoDB that throttles every call and asks for a minute's wait (x-amz-retry-after)."""

    attempts: list[float]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.attempts.append(time.monotonic())
        body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#ThrottlingException"}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("x-amz-retry-after", "60000")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def throttling_dynamodb() -> Iterator[tuple[str, list[float]]]:
    attempts: list[float] = []
    handler = type("Handler", (_Throttling,), {"attempts": attempts})
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), handler)) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}", attempts


def test_a_throttled_api_call_waits_no_longer_than_its_budget_allows(
    throttling_dynamodb: tuple[str, list[float]],
) -> None:
    endpoint, attempts = throttling_dynamodb
    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=aws.API_CALLS,
    )
    with pytest.raises(client.exceptions.ClientError):
        client.get_item(TableName="UsersTable", Key={"pk": {"S": "user#1"}})
    assert len(attempts) == attempts_of(aws.API_CALLS)
    # What the budget allows between the attempts: its total less the attempts themselves.
    per_attempt = float(option(aws.API_CALLS, "connect_timeout")) + float(
        option(aws.API_CALLS, "read_timeout")
    )
    allowed = aws.API_CALL_BUDGET_SECONDS - len(attempts) * per_attempt
    assert attempts[-1] - attempts[0] <= allowed + 0.2


class _Recording:
    """A DynamoDB client stand-in that only records which operations reached it."""

    def __init__(self) -> None:
        self.operations: list[str] = []

    def update_item(self, **request: Any) -> dict[str, Any]:
        self.operations.append("UpdateItem")
        return {"Attributes": {}}


def test_only_the_last_use_writes_go_through_the_bookkeeping_client() -> None:
    from auth.stores.pat_store import PatStore
    from auth.stores.session_store import SessionStore
    from auth.stores.user_store import UserStore

    main, bookkeeping = _Recording(), _Recording()
    users = UserStore(main, "UsersTable", "SettingsTable")
    PatStore(main, "PersonalAccessTokensTable", users, bookkeeping=bookkeeping).touch("hash", 100, 60)
    SessionStore(main, "SessionsTable", users, bookkeeping).touch("session", 100, 200, 60)
    assert (main.operations, bookkeeping.operations) == ([], ["UpdateItem", "UpdateItem"])


def test_a_slow_identity_provider_is_a_503_well_inside_the_api_timeout() -> None:
    """SPEC §8: every provider call of a sign-in shares one deadline; even with one DynamoDB
    call hanging through its whole budget too, the function answers before its timeout."""
    from auth import outbound_http

    timeout = timeout_of("ApiFunction")
    budget = outbound_http.OUTBOUND_BUDGET_SECONDS
    assert budget <= 0.5 * timeout
    assert budget + aws.API_CALL_BUDGET_SECONDS <= timeout


def test_the_request_deadline_leaves_the_api_time_to_answer_and_room_for_a_sign_in() -> None:
    """No AWS attempt starts past API_REQUEST_BUDGET_SECONDS less a read (auth.deadline): one
    started just before, on a new connection, ends with time left in the timeout for a
    throttle's give-back and the answer; and a sign-in with an identity provider has time
    for the provider's whole budget and one AWS attempt after it."""
    from auth import outbound_http

    timeout = timeout_of("ApiFunction")
    read = option(aws.API_CALLS, "read_timeout")
    one_attempt = option(aws.API_CALLS, "connect_timeout") + read
    assert aws.API_REQUEST_BUDGET_SECONDS - read + one_attempt <= timeout - 2
    assert outbound_http.OUTBOUND_BUDGET_SECONDS + one_attempt <= aws.API_REQUEST_BUDGET_SECONDS
