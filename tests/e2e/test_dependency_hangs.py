"""A DynamoDB that hangs, not one that fails (issue #10), on the local stack.

DynamoDB Local is frozen with SIGSTOP: it still accepts connections (the kernel does) and
never answers, as a browned-out DynamoDB would. The API must answer 503 code 14 in the
SPEC shape, and the authorizer must fail closed, each long before the function timeout;
once DynamoDB Local resumes, the same requests succeed and nothing was half-written.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from auth.aws import API_CALL_BUDGET_SECONDS, AUTHORIZER_CALL_BUDGET_SECONDS
from devstack import backends
from devstack.stack import LocalStack
from devstack.template import load_template
from tests.e2e.conftest import Api

pytestmark = pytest.mark.e2e

_kind, _why = backends.choose_dynamodb(os.environ)
if _kind != backends.DYNAMODB_LOCAL:
    pytest.skip(f"needs DynamoDB Local to pause: {_why}", allow_module_level=True)

FUNCTION_TIMEOUT = {name: fn.timeout_seconds for name, fn in load_template().functions.items()}
# Generous bounds on purpose: they tell "answered from the budget" from "ran into the
# function timeout" on a busy two-core machine, they are not a benchmark.
API_BOUND_SECONDS = API_CALL_BUDGET_SECONDS + 2.0
AUTHORIZER_BOUND_SECONDS = AUTHORIZER_CALL_BUDGET_SECONDS + 2.5
# How long the stack may take to answer again once DynamoDB Local runs.
RECOVERY_SECONDS = 15.0
# A request that hangs past every timeout fails the test instead of hanging it.
CLIENT_TIMEOUT_SECONDS = max(FUNCTION_TIMEOUT.values()) + 10.0


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    # Lag 0: the authorizer reads the user on every request, so it must meet the hang.
    overrides = {"REVOCATION_LAG_SECONDS": "0", "BCRYPT_COST": "4"}
    with LocalStack(env_overrides=overrides) as running:
        assert running.dynamodb_backend == backends.DYNAMODB_LOCAL
        yield running


@pytest.fixture(scope="module")
def api(stack: LocalStack) -> Api:
    return Api(stack)


def timed(call: Callable[[], requests.Response]) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = call()
    return response, time.monotonic() - started


def until_ok(call: Callable[[], requests.Response]) -> requests.Response:
    """The first 200 of `call`, polled for a few seconds after DynamoDB Local resumes."""
    deadline = time.monotonic() + RECOVERY_SECONDS
    while True:
        response = call()
        if response.status_code == 200 or time.monotonic() > deadline:
            return response
        time.sleep(0.2)


def snapshot(stack: LocalStack) -> dict[str, list[str]]:
    """Every item of every table, canonically ordered, straight from DynamoDB Local."""
    dynamodb = stack.client("dynamodb")
    tables: dict[str, list[str]] = {}
    for logical_id, name in stack.tables.items():
        items: list[dict[str, Any]] = []
        for page in dynamodb.get_paginator("scan").paginate(TableName=name, ConsistentRead=True):
            items.extend(page["Items"])
        tables[logical_id] = sorted(json.dumps(item, sort_keys=True) for item in items)
    return tables


def assert_unavailable(response: requests.Response, elapsed: float, what: str) -> None:
    assert response.status_code == 503, f"{what}: {response.status_code} {response.text}"
    body = response.json()
    assert set(body) == {"code", "message"}, f"{what}: {body}"
    assert body["code"] == 14, f"{what}: {body}"
    assert isinstance(body["message"], str) and body["message"], f"{what}: {body}"
    assert elapsed < API_BOUND_SECONDS < FUNCTION_TIMEOUT["ApiFunction"], f"{what}: {elapsed:.2f}s"


def test_the_bounds_tell_a_budget_from_a_timeout() -> None:
    api_timeout, authorizer_timeout = FUNCTION_TIMEOUT["ApiFunction"], FUNCTION_TIMEOUT["AuthorizerFunction"]
    assert api_timeout > API_BOUND_SECONDS
    assert authorizer_timeout / 2 > AUTHORIZER_BOUND_SECONDS


def test_a_paused_dynamodb_is_resumed_even_when_the_block_fails(stack: LocalStack) -> None:
    with pytest.raises(RuntimeError, match="inside"), stack.dynamodb_paused():
        raise RuntimeError("inside")
    assert stack.client("dynamodb").list_tables()["TableNames"]


def test_a_hanging_dynamodb_is_a_fast_503_and_a_fast_refusal_then_a_full_recovery(
    stack: LocalStack, api: Api
) -> None:
    # Before: a user, signed in once (workers warm, their DynamoDB connections open, the
    # signing key fetched and cached), and a second refresh token kept for the hang.
    username, access, _ = api.new_user()
    refresh_cookie = api.sign_in(username).cookies["memos_refresh"]
    me_before = api.call("GET", "/auth/me", headers={"Authorization": f"Bearer {access}"})
    assert me_before.status_code == 200, me_before.text
    profile = api.call("GET", f"/users/{username}")
    assert profile.status_code == 200, profile.text
    before = snapshot(stack)

    requests_under_test: dict[str, Callable[[], requests.Response]] = {
        "sign-in": lambda: api.sign_in(username, timeout=CLIENT_TIMEOUT_SECONDS),
        "public read": lambda: api.call("GET", f"/users/{username}", timeout=CLIENT_TIMEOUT_SECONDS),
        "refresh": lambda: api.call(
            "POST",
            "/auth/refresh",
            cookies={"memos_refresh": refresh_cookie},
            timeout=CLIENT_TIMEOUT_SECONDS,
        ),
    }
    me = lambda: api.call(  # noqa: E731
        "GET", "/auth/me", headers={"Authorization": f"Bearer {access}"}, timeout=CLIENT_TIMEOUT_SECONDS
    )

    elapsed: dict[str, float] = {}
    with stack.dynamodb_paused():
        for what, call in requests_under_test.items():
            response, elapsed[what] = timed(call)
            assert_unavailable(response, elapsed[what], what)
        # The authorizer raised (not "Unauthorized"): API Gateway's 500, the credential
        # neither allowed nor declared bad, and long before the authorizer's timeout.
        refused, elapsed["authorizer"] = timed(me)
        assert refused.status_code == 500, refused.text
        assert refused.json() == {"message": "Internal Server Error"}
        assert elapsed["authorizer"] < AUTHORIZER_BOUND_SECONDS, f"authorizer: {elapsed['authorizer']:.2f}s"
    print("elapsed while DynamoDB Local was paused:", {k: round(v, 2) for k, v in elapsed.items()})

    # Nothing was written while it hung: every table is as it was.
    assert snapshot(stack) == before

    # After: the very same requests succeed again.
    read = until_ok(requests_under_test["public read"])
    assert read.status_code == 200, read.text
    assert read.json() == profile.json()
    signed_in = until_ok(requests_under_test["sign-in"])
    assert signed_in.status_code == 200, signed_in.text
    assert until_ok(me).status_code == 200
    # Refresh once only: a retry of a rotation that did happen would be a reuse.
    refreshed = requests_under_test["refresh"]()
    assert refreshed.status_code == 200, refreshed.text
    rotated = refreshed.cookies["memos_refresh"]
    assert rotated and rotated != refresh_cookie
    # The family was not half-rotated: its new token rotates again.
    again = api.call("POST", "/auth/refresh", cookies={"memos_refresh": rotated})
    assert again.status_code == 200, again.text
    assert api.call("GET", "/auth/me", headers={"Authorization": f"Bearer {access}"}).status_code == 200
