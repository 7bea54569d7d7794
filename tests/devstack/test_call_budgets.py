"""The AWS call budgets of auth.aws, held to template.yaml's function timeouts (issue #10).

A hanging DynamoDB must end in a fast 503 (API) or a fast fail-closed (authorizer), never in
the function timeout. These checks read the numbers where they live (the template, the
botocore Config objects, botocore's own back-off), so none of them can drift unnoticed.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.config import Config as BotoConfig
from botocore.retries.standard import ExponentialBackoff

from auth import aws, wiring
from auth.config import Config
from devstack.template import load_template

# The API answers 503 with room to spare for its own work (bcrypt, serialising) and a cold start.
API_BUDGET_SHARE_OF_TIMEOUT = 0.6
# The authorizer gives up in about a second, so a brownout cannot hold its instances for long.
AUTHORIZER_BUDGET_CEILING_SECONDS = 2.0


def timeout_of(function: str) -> int:
    return load_template().functions[function].timeout_seconds


def attempts_of(config: BotoConfig) -> int:
    retries = config.retries or {}
    assert retries.get("mode") == "standard", "the budgets assume botocore's standard retry mode"
    # total_max_attempts counts the first try; max_attempts (the other spelling) does not.
    if "total_max_attempts" in retries:
        return int(retries["total_max_attempts"])
    return int(retries.get("max_attempts", 2)) + 1


def worst_case_seconds(config: BotoConfig) -> float:
    """Every attempt connects and waits its full read timeout, plus the longest back-offs
    between them as botocore's standard mode computes them (random x base^(n-1), capped)."""
    attempts = attempts_of(config)
    per_attempt = float(config.connect_timeout) + float(config.read_timeout)
    backoff = sum(
        min(ExponentialBackoff._MAX_BACKOFF, ExponentialBackoff._BASE ** (retry - 1))
        for retry in range(1, attempts)
    )
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


def test_the_authorizer_makes_one_attempt_and_the_api_at_most_two() -> None:
    # One attempt: a client that got the authorizer's 500 retries on its own; a retry inside
    # would only double how long each request holds an instance during a brownout.
    assert attempts_of(aws.AUTHORIZER_CALLS) == 1
    assert attempts_of(aws.API_CALLS) == 2


def test_the_clients_carry_the_configs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for factory, config in ((aws.dynamodb_client, aws.API_CALLS), (aws.secretsmanager_client, aws.API_CALLS)):
        made = factory(config).meta.config
        assert (made.connect_timeout, made.read_timeout) == (config.connect_timeout, config.read_timeout)
        assert made.retries == config.retries
    made = aws.dynamodb_client(aws.AUTHORIZER_CALLS).meta.config
    assert (made.connect_timeout, made.read_timeout) == (0.5, 0.75)
    assert made.retries == {"total_max_attempts": 1, "mode": "standard"}


@pytest.mark.parametrize(
    ("build", "expected"),
    [
        (wiring.build_authorizer_services, aws.AUTHORIZER_CALLS),
        (wiring.build_api_services, aws.API_CALLS),
    ],
    ids=["authorizer", "api"],
)
def test_each_function_builds_its_clients_with_its_own_budget(
    monkeypatch: pytest.MonkeyPatch, build: Any, expected: BotoConfig
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
    assert sorted(service for service, _ in used) == ["dynamodb", "secretsmanager"]
    assert all(config is expected for _, config in used)
