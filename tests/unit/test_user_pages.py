"""GET /api/v1/users in pages (pageSize, pageToken): every user exactly once, bounds, tokens."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from auth import page_tokens, routes
from auth.config import Config
from auth.models import Role, State, User
from auth.wiring import ApiServices, build_api_services
from devstack.template import Template
from handlers import api as api_function
from handlers.api_context import services
from tests.conftest import moto_aws
from tests.support.clock import FakeClock
from tests.support.events import FakeLambdaContext, http_event
from tests.support.people import context_for

# More than two default pages, and not a multiple of the sizes below, so a last page is short.
USERS = 123
ROUTE = routes.LIST_USERS.path


def _user(user_id: int) -> User:
    # Written straight to the store: a bcrypt hash per user would only slow the test.
    return User(
        id=user_id,
        username=f"user{user_id}",
        role=Role.ADMIN if user_id == 1 else Role.USER,
        state=State.NORMAL,
        password_hash="not-a-hash",
        display_name="",
        email="",
        create_time=0,
        update_time=0,
    )


@pytest.fixture(scope="module")
def directory(template: Template, boto_session: boto3.session.Session) -> Iterator[ApiServices]:
    """The USERS users, written once for the module (a test that deletes one puts it back)."""
    with pytest.MonkeyPatch.context() as monkeypatch, moto_aws(monkeypatch, template, boto_session) as aws:
        api = build_api_services(Config(), FakeClock(), aws["dynamodb"], aws["secretsmanager"])
        for user_id in range(1, USERS + 1):
            api.users.create(_user(user_id), claim_owner=user_id == 1)
        yield api


@pytest.fixture(autouse=True)
def served(directory: ApiServices) -> Iterator[None]:
    services.replace(directory)
    yield
    services.replace(None)


def list_page(caller: int = 1, /, **query: str) -> tuple[int, dict[str, Any]]:
    response = api_function.handler(
        http_event("GET", ROUTE, authorizer=context_for(_user(caller)), query=query), FakeLambdaContext()
    )
    return response["statusCode"], json.loads(response["body"])


def walk(page_size: int) -> list[list[str]]:
    pages, query = [], {"pageSize": str(page_size)}
    while True:
        status, body = list_page(**query)
        assert status == 200, body
        pages.append([user["username"] for user in body["users"]])
        if not body["nextPageToken"]:
            return pages
        query["pageToken"] = body["nextPageToken"]
        assert len(pages) <= USERS, "the walk never ends"


@pytest.mark.parametrize("page_size", [1, 7, 50, 123, 1000])
def test_a_walk_returns_every_user_exactly_once(page_size: int) -> None:
    pages = walk(page_size)
    names = [name for page in pages for name in page]
    assert sorted(names) == sorted(f"user{i}" for i in range(1, USERS + 1))
    # Every page but the last is full. The last may be empty: a page that filled up before
    # the Scan reached the table's end cannot know whether more users follow.
    assert all(len(page) == page_size for page in pages[:-1])


def test_the_default_page_holds_fifty() -> None:
    status, body = list_page()
    assert status == 200 and len(body["users"]) == 50 and body["nextPageToken"]


def test_walks_are_stable() -> None:
    # A Scan is not ordered by id, but two walks over an unchanged table are the same.
    assert walk(10) == walk(10)


def test_a_user_deleted_mid_walk_does_not_break_the_walk(directory: ApiServices) -> None:
    status, first = list_page(pageSize="10")
    assert status == 200
    last = directory.users.get_by_username(first["users"][-1]["username"])
    assert last is not None
    directory.users.delete(last)
    try:
        status, second = list_page(pageSize="10", pageToken=first["nextPageToken"])
    finally:
        # The other tests of this module read the same users.
        directory.users.create(_user(last.id), claim_owner=False)
    seen = {user["username"] for user in first["users"] + second["users"]}
    assert status == 200 and len(second["users"]) == 10 and len(seen) == 20


@pytest.mark.parametrize("page_size", ["0", "-1", "1001", "ten", "1.5", ""])
def test_page_size_out_of_bounds_is_400(page_size: str) -> None:
    status, body = list_page(pageSize=page_size)
    assert status == 400 and body["code"] == 3


def _tampered(token: str) -> list[str]:
    decoded = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()

    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    return [
        token[:-1] + ("A" if token[-1] != "A" else "B"),  # a changed character
        token + "=",  # padding this API never sends
        b64(decoded.replace("u", "x", 1)),  # another prefix
        b64(decoded.replace(".", "x.", 1)),  # not an id
        b64(decoded.replace("u", "u1", 1)),  # another user, the check left as it was
        b64(decoded.partition(".")[0]),  # no check
        b64("u0"),  # no user has id 0
        b64("u-5"),
        b64('{"pk": {"S": "username#alice"}}'),  # a raw DynamoDB key
        "not a token",
        "é",
        "A" * (page_tokens.MAX_TOKEN_CHARS + 1),
    ]


def test_a_tampered_page_token_is_400() -> None:
    status, body = list_page(pageSize="10")
    assert status == 200
    for bad in _tampered(body["nextPageToken"]):
        status, answer = list_page(pageSize="10", pageToken=bad)
        assert status == 400 and answer["code"] == 3, bad


def test_tokens_round_trip_and_are_canonical() -> None:
    for user_id in (1, 42, 10**17):
        assert page_tokens.decode(page_tokens.encode(user_id)) == user_id


def test_only_an_admin_may_list() -> None:
    status, body = list_page(2)
    assert status == 403 and body["code"] == 7
