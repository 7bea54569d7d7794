"""Issue 5: the attack matrix against the authorizer, called in-process as Lambda calls it.

Every row must end in exactly `Exception("Unauthorized")` (API Gateway's 401): not a
subclass, not another message, and never an answer. The same rows run over HTTP in
tests/e2e/test_attack_matrix.py.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from auth.config import Config
from handlers import authorizer
from tests.support.attacks import (
    ACCEPTED_VARIANTS,
    ALL_ATTACKS,
    ATTACK_IDS,
    GENUINE,
    REFRESH_ATTACKS,
    Attack,
    Material,
    Sent,
)
from tests.support.events import FakeLambdaContext, authorizer_event
from tests.support.world import World, build_world

ME = "GET /api/v1/auth/me"


@pytest.fixture(scope="module")
def world() -> World:
    return build_world()


def authorize(world: World, sent: Sent, route_key: str = ME) -> dict[str, Any]:
    authorizer.services.replace(world.services)
    try:
        event = authorizer_event(route_key, sent.joined_authorization(), list(sent.cookies))
        return authorizer.handler(event, FakeLambdaContext())
    finally:
        authorizer.services.replace(None)


def assert_unauthorized(call: Callable[[], object]) -> None:
    # Exception itself, checked exactly below: pytest.raises alone would accept any subclass.
    with pytest.raises(Exception) as raised:
        call()
    assert type(raised.value) is Exception and raised.value.args == ("Unauthorized",), repr(raised.value)


@pytest.mark.parametrize("name", GENUINE)
def test_the_genuine_credentials_pass(world: World, name: str) -> None:
    answer = authorize(world, GENUINE[name](world.alice))
    assert answer["isAuthorized"] is True and answer["context"]["userId"] == str(world.alice.user_id)


@pytest.mark.parametrize("name", ACCEPTED_VARIANTS)
def test_the_accepted_variants_pass_as_their_owner(world: World, name: str) -> None:
    answer = authorize(world, ACCEPTED_VARIANTS[name](world.alice))
    assert answer["isAuthorized"] is True and answer["context"]["userId"] == str(world.alice.user_id)


@pytest.mark.parametrize("attack", ALL_ATTACKS, ids=ATTACK_IDS)
def test_attack_is_unauthorized(world: World, attack: Attack) -> None:
    sent = attack.build(world.alice)
    assert_unauthorized(lambda: authorize(world, sent))


@pytest.mark.parametrize("name", GENUINE)
def test_genuine_credentials_of_an_archived_user_are_unauthorized(world: World, name: str) -> None:
    sent = GENUINE[name](world.archived)
    assert_unauthorized(lambda: authorize(world, sent))


def test_the_rows_were_refused_before_any_write(world: World) -> None:
    """Bookkeeping writes (lastUsedAt, lastAccessedAt) happen only for credentials that passed."""
    world.dynamodb.writes.clear()
    for attack in ALL_ATTACKS:
        sent = attack.build(world.alice)
        assert_unauthorized(lambda sent=sent: authorize(world, sent))  # type: ignore[misc]  # mypy cannot infer a lambda with a default
    assert world.dynamodb.writes == []


# -- the reverse: tokens that are not refresh tokens, at the refresh route -----------------------


@pytest.fixture
def signed_in(api: Any, config: Config) -> Material:
    """A real sign-in on moto: the refresh route needs the family in its table."""
    from auth.models import ClientInfo
    from tests.support.people import sign_up_people

    people = sign_up_people(api)
    key = api.keys.signing_key()
    _, pat = api.pats.create(people.alice, "ci", 0)
    session, cookie = api.sessions.create(people.alice, ClientInfo())
    return Material(
        kid=key.kid,
        key=key.secret,
        now=int(api.clock.now()),
        user_id=people.alice.id,
        other_user_id=people.admin.id,
        access_token=api.access_tokens.issue(people.alice).token,
        refresh_token=api.refresh_tokens.issue(people.alice, ClientInfo()).token,
        pat=pat,
        session=cookie,
        session_public_id=session.session_id,
    )


@pytest.mark.parametrize("name", REFRESH_ATTACKS)
def test_refresh_route_refuses_what_is_not_a_refresh_token(api: Any, signed_in: Material, name: str) -> None:
    from tests.support.people import call_api

    cookie = f"memos_refresh={REFRESH_ATTACKS[name](signed_in)}"
    answer = call_api(api, "POST", "/api/v1/auth/refresh", "/api/v1/auth/refresh", cookies=[cookie])
    assert answer.status == 401 and answer.body["code"] == 16
    # The genuine token still works afterwards: a forgery must not burn the user's sign-in.
    genuine = f"memos_refresh={signed_in.refresh_token}"
    assert (
        call_api(api, "POST", "/api/v1/auth/refresh", "/api/v1/auth/refresh", cookies=[genuine]).status == 200
    )
