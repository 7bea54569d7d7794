"""A DynamoDB that hangs, not one that fails (issue #10), on the local stack.

DynamoDB Local is frozen with SIGSTOP: it still accepts connections (the kernel does) and
never answers, as a browned-out DynamoDB would. The API must answer 503 code 14 in the
SPEC shape, and the authorizer must fail closed, each long before the function timeout;
once DynamoDB Local resumes, the same requests succeed and nothing was half-written.

And a refresh whose answer was lost (issue #11): by a client that hung up, or by DynamoDB
Local freezing while the refresh's update was in flight (devstack's DynamoDB tap). The
update is applied all the same, and the client's retry with the same cookie is answered
for the family's current token, within the grace, without forking the family.
"""

from __future__ import annotations

import json
import os
import socket
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests

from auth.aws import API_CALL_BUDGET_SECONDS, AUTHORIZER_CALL_BUDGET_SECONDS
from devstack import backends
from devstack.stack import LocalStack
from devstack.template import load_template
from tests.e2e.conftest import Api
from tests.support.local_stacks import STACK_SETTINGS

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
    # Revocation lag 0: the authorizer reads the user on every request, so it must meet the hang.
    # Its functions reach DynamoDB Local through devstack.dynamodb_tap, which can freeze it
    # exactly while a given request is in flight (the lost refresh below); paused from
    # outside, DynamoDB Local hangs every call the tap forwards, as it would hang them direct.
    with LocalStack(env_overrides=STACK_SETTINGS, dynamodb_tap=True) as running:
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
    assert body == {"code": 14, "message": "storage unavailable", "details": []}, f"{what}: {body}"
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
    # The hung refresh never got past its read of the user (the snapshot above): the same
    # token simply rotates now, a normal rotation rather than the retry grace.
    refreshed = requests_under_test["refresh"]()
    assert refreshed.status_code == 200, refreshed.text
    rotated = refreshed.cookies["memos_refresh"]
    assert rotated and rotated != refresh_cookie
    # The family was not half-rotated: its new token rotates again.
    again = api.call("POST", "/auth/refresh", cookies={"memos_refresh": rotated})
    assert again.status_code == 200, again.text
    assert api.call("GET", "/auth/me", headers={"Authorization": f"Bearer {access}"}).status_code == 200


# -- a refresh whose answer was lost (SPEC §3, retry-safe refresh) ----------------------------


def refresh_and_drop_the_answer(stack: LocalStack, api: Api, cookie: str) -> None:
    """Send a refresh and hang up before reading a byte of the answer: a dropped connection.
    The gateway still runs the function to the end, as API Gateway would."""
    url = urllib.parse.urlsplit(api.base + "/auth/refresh")
    request = (
        f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
        f"Cookie: memos_refresh={cookie}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection((url.hostname or "127.0.0.1", url.port or 80), timeout=5) as connection:
        connection.sendall(request.encode())


def refresh_while_dynamodb_freezes_on_the_write(stack: LocalStack, api: Api, cookie: str) -> None:
    """The refresh's conditional update reaches DynamoDB Local, which freezes before the
    function hears back: the function answers 503, and the update is applied (or was, just
    before the freeze) all the same. A storage answer lost for real, not a client that hung up.
    Frozen by the tap on the write itself: frozen from outside, as the test above does, the
    refresh would meet it on its first call (its consistent read of the user), give up and
    never send the update, so nothing would rotate."""
    table = stack.tables["RefreshTokensTable"]
    with stack.dynamodb_paused_at("UpdateItem", table) as write:
        response, elapsed = timed(
            lambda: api.call(
                "POST", "/auth/refresh", cookies={"memos_refresh": cookie}, timeout=CLIENT_TIMEOUT_SECONDS
            )
        )
        assert write.fired, f"the refresh sent no update: {response.status_code} {response.text}"
        assert_unavailable(response, elapsed, "refresh whose update hangs")
        # Frozen by the tap (SIGSTOP), not merely unanswered: "pid (comm) state ...".
        stat = Path(f"/proc/{stack.dynamodb_pid}/stat")
        if stat.exists():
            assert stat.read_text().rpartition(")")[2].split()[0] == "T"
    print(f"the refresh whose update hung answered 503 in {elapsed:.2f}s")


def family_item(stack: LocalStack, family_id: str) -> dict[str, Any]:
    item = stack.client("dynamodb").get_item(
        TableName=stack.tables["RefreshTokensTable"], Key={"familyId": {"S": family_id}}, ConsistentRead=True
    )["Item"]
    assert isinstance(item, dict)
    return item


def families_of(stack: LocalStack, user_id: int) -> dict[str, bool]:
    """Every refresh family of the user (one per sign-in): revoked or not, by family id."""
    families: dict[str, bool] = {}
    pages = (
        stack.client("dynamodb")
        .get_paginator("scan")
        .paginate(
            TableName=stack.tables["RefreshTokensTable"],
            FilterExpression="userId = :uid",
            ExpressionAttributeValues={":uid": {"N": str(user_id)}},
            ConsistentRead=True,
        )
    )
    for page in pages:
        families.update({item["familyId"]["S"]: item["revoked"]["BOOL"] for item in page["Items"]})
    return families


def rotated_away_from(stack: LocalStack, family_id: str, token_id: str) -> dict[str, Any]:
    """The family item once its current token is no longer `token_id` (polled)."""
    deadline = time.monotonic() + RECOVERY_SECONDS
    while True:
        item = family_item(stack, family_id)
        if item["currentTokenId"]["S"] != token_id or time.monotonic() > deadline:
            return item
        time.sleep(0.05)


def claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


LoseTheAnswer = Callable[[LocalStack, Api, str], None]


@pytest.mark.parametrize(
    "lose_the_answer",
    [
        pytest.param(refresh_and_drop_the_answer, id="client-hung-up"),
        pytest.param(refresh_while_dynamodb_freezes_on_the_write, id="dynamodb-froze-on-the-write"),
    ],
)
def test_a_refresh_whose_answer_was_lost_is_answered_again_within_the_grace(
    stack: LocalStack, api: Api, lose_the_answer: LoseTheAnswer
) -> None:
    username, _, _ = api.new_user()
    cookie = api.sign_in(username).cookies["memos_refresh"]
    sent = claims(cookie)
    families = families_of(stack, int(sent["sub"]))
    assert families[sent["fid"]] is False and len(families) == 2  # new_user's sign-in and this one

    # The rotation is applied, and the client never hears of it.
    lose_the_answer(stack, api, cookie)
    lost = rotated_away_from(stack, sent["fid"], sent["tid"])
    assert lost["currentTokenId"]["S"] != sent["tid"], "the refresh whose answer was lost was never applied"
    assert lost["previousTokenId"]["S"] == sent["tid"] and lost["revoked"] == {"BOOL": False}

    # The client still holds the cookie it sent, and sends it again: within the grace it is
    # answered for the token the lost answer carried, and the family does not move.
    retried = api.call("POST", "/auth/refresh", cookies={"memos_refresh": cookie})
    assert retried.status_code == 200, retried.text
    again = retried.cookies["memos_refresh"]
    assert (claims(again)["fid"], claims(again)["tid"]) == (sent["fid"], lost["currentTokenId"]["S"])
    assert family_item(stack, sent["fid"]) == lost, "the retry wrote nothing"
    # The family did not fork: no new sign-in appeared, none was revoked.
    assert families_of(stack, int(sent["sub"])) == families
    me = api.call("GET", "/auth/me", headers={"Authorization": f"Bearer {retried.json()['accessToken']}"})
    assert me.status_code == 200, me.text

    # The token the retry got rotates normally: the family moves on by exactly one.
    onward = api.call("POST", "/auth/refresh", cookies={"memos_refresh": again})
    assert onward.status_code == 200, onward.text
    moved = family_item(stack, sent["fid"])
    assert moved["currentTokenId"]["S"] == claims(onward.cookies["memos_refresh"])["tid"]
    assert moved["previousTokenId"]["S"] == lost["currentTokenId"]["S"]
    assert moved["revoked"] == {"BOOL": False}
    # ... and the first cookie is now two rotations old: a reuse, which ends the sign-in.
    assert api.call("POST", "/auth/refresh", cookies={"memos_refresh": cookie}).status_code == 401
    assert (
        api.call(
            "POST", "/auth/refresh", cookies={"memos_refresh": onward.cookies["memos_refresh"]}
        ).status_code
        == 401
    )
    assert family_item(stack, sent["fid"])["revoked"] == {"BOOL": True}
