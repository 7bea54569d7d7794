"""SPEC §4: the authorizer accepts PATs and session cookies, and refuses everything else."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from auth.config import Config
from auth.models import Role, SignIn, State, User
from auth.pats import SECONDS_PER_DAY, generate_pat
from auth.principal import AuthMethod, Principal
from auth.sessions import parse_session_cookie, session_cookie_value
from auth.user_admin import UserChanges
from auth.wiring import ApiServices, AuthorizerServices, build_authorizer_services
from tests.support.clock import START, FakeClock
from tests.support.people import People, authorize
from tests.unit.test_pats import Failing, NoCalls
from tests.unit.test_sessions import CLIENT

ME = "GET /api/v1/auth/me"
ADMIN_ONLY = "GET /api/v1/users"


def as_admin(api: ApiServices, people: People, user: User, changes: UserChanges) -> None:
    """Change a user the way an admin's PATCH does (the copy on each token of theirs too)."""
    admin = Principal(people.admin.id, people.admin.username, people.admin.role, AuthMethod.ACCESS_TOKEN)
    api.user_admin.update(admin, user.username, changes)


def refused(services: AuthorizerServices, **credential: Any) -> None:
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(services, ME, **credential)


def no_reads(aws: dict[str, Any], clock: FakeClock, config: Config) -> AuthorizerServices:
    return build_authorizer_services(config, clock, NoCalls(), aws["secretsmanager"])


# -- personal access tokens ------------------------------------------------------------------


def test_pat_is_accepted_with_its_id(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    record, token = api.pats.create(people.alice, "ci", 0)
    answer = authorize(authorizer_services, ME, authorization=f"Bearer {token}")
    assert answer["isAuthorized"] is True
    assert answer["context"] == {
        "userId": str(people.alice.id),
        "username": "alice",
        "role": "USER",
        "authMethod": "pat",
        "credentialId": record.token_id,
        # A PAT is no sign-in: never a recent one.
        "authTime": "0",
        "amr": "",
    }


@pytest.mark.parametrize(
    "token",
    [
        "memos_pat_",
        # Fixed tokens (not generate_pat()), so every test worker collects the same cases.
        "memos_pat_" + "MiljBH4B2bWslOWdk4ilzsg7Ym" + "00000!",
        "memos_pat_" + "MiljBH4B2bWslOWdk4ilzsg7Ym" + "0000000",
    ],
)
def test_malformed_pat_is_refused_without_a_read(
    aws: dict[str, Any], clock: FakeClock, config: Config, token: str
) -> None:
    refused(no_reads(aws, clock, config), authorization=f"Bearer {token}")


def test_a_pat_without_our_checksum_is_refused_unread_where_imported_tokens_are_off(
    aws: dict[str, Any], clock: FakeClock, config: Config
) -> None:
    strict = replace(config, accept_imported_pats=False)
    refused(no_reads(aws, clock, strict), authorization=f"Bearer memos_pat_{'A' * 32}")


def test_unknown_pat_is_refused(authorizer_services: AuthorizerServices, people: People) -> None:
    refused(authorizer_services, authorization=f"Bearer {generate_pat()}")


def test_deleted_pat_is_refused_at_once(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    record, token = api.pats.create(people.alice, "ci", 0)
    authorize(authorizer_services, ME, authorization=f"Bearer {token}")
    api.pats.delete(people.alice.id, record.token_id)
    refused(authorizer_services, authorization=f"Bearer {token}")


def test_expired_pat_is_refused(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People, clock: FakeClock
) -> None:
    _, token = api.pats.create(people.alice, "ci", 1)
    clock.advance(SECONDS_PER_DAY)
    refused(authorizer_services, authorization=f"Bearer {token}")


def test_pat_of_an_archived_user_is_refused(
    api: ApiServices, aws: dict[str, Any], clock: FakeClock, config: Config, people: People
) -> None:
    _, token = api.pats.create(people.alice, "ci", 0)
    as_admin(api, people, people.alice, UserChanges(state=State.ARCHIVED))
    services = build_authorizer_services(config, clock, aws["dynamodb"], aws["secretsmanager"])
    refused(services, authorization=f"Bearer {token}")


def test_pat_of_a_non_admin_on_an_admin_route_is_forbidden(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    _, token = api.pats.create(people.alice, "ci", 0)
    assert authorize(authorizer_services, ADMIN_ONLY, authorization=f"Bearer {token}") == {
        "isAuthorized": False
    }
    _, admin_token = api.pats.create(people.admin, "ci", 0)
    assert authorize(authorizer_services, ADMIN_ONLY, authorization=f"Bearer {admin_token}")["isAuthorized"]


def failing_authorizer(aws: dict[str, Any], clock: FakeClock, config: Config, *operations: str) -> Any:
    """The authorizer's services over a DynamoDB whose `operations` fail."""
    return build_authorizer_services(
        config, clock, Failing(aws["dynamodb"], *operations), aws["secretsmanager"]
    )


def test_pat_lookup_failure_fails_closed(
    api: ApiServices, aws: dict[str, Any], clock: FakeClock, config: Config, people: People
) -> None:
    _, token = api.pats.create(people.alice, "ci", 0)
    services = failing_authorizer(aws, clock, config, "get_item")
    with pytest.raises(Exception) as raised:
        authorize(services, ME, authorization=f"Bearer {token}")
    # Not the 401 message: API Gateway answers 500, and the client keeps its token.
    assert str(raised.value) != "Unauthorized"


def test_failing_last_used_write_still_allows(
    api: ApiServices, aws: dict[str, Any], clock: FakeClock, config: Config, people: People
) -> None:
    _, token = api.pats.create(people.alice, "ci", 0)
    services = failing_authorizer(aws, clock, config, "update_item")
    assert authorize(services, ME, authorization=f"Bearer {token}")["isAuthorized"] is True


# -- session cookies ---------------------------------------------------------------------------


def _cookie(value: str, claimed_user_id: int | None = None) -> list[str]:
    """The `user_session` cookie with `value`, or with its secret claimed for another user."""
    if claimed_user_id is not None:
        value = session_cookie_value(claimed_user_id, parse_session_cookie(value)[1])
    return [f"user_session={value}"]


def test_session_cookie_is_accepted_with_its_id(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    signed_in = SignIn(int(START) - 42, ("pwd",))
    session, value = api.sessions.create(people.bob, CLIENT, signed_in)
    answer = authorize(authorizer_services, ME, cookies=_cookie(value))
    assert answer["context"]["authMethod"] == "session"
    assert answer["context"]["credentialId"] == session.session_id
    assert answer["context"]["username"] == "bob"
    # The session's own sign-in, not the time of this request (SPEC §4).
    assert (answer["context"]["authTime"], answer["context"]["amr"]) == (str(int(START) - 42), "pwd")


def test_an_access_token_passes_on_its_sign_in(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    token = api.access_tokens.issue(people.bob, SignIn(int(START) - 7, ("pwd", "otp", "mfa"))).token
    answer = authorize(authorizer_services, ME, authorization=f"Bearer {token}")
    assert (answer["context"]["authTime"], answer["context"]["amr"]) == (str(int(START) - 7), "pwd otp mfa")


@pytest.mark.parametrize(
    "value",
    ["", "0-x", "-5-550e8400-e29b-41d4-a716-446655440000", "2147483648-550e8400-e29b-41d4-a716-446655440000"],
)
def test_malformed_session_cookie_is_refused_without_a_read(
    aws: dict[str, Any], clock: FakeClock, config: Config, value: str
) -> None:
    refused(no_reads(aws, clock, config), cookies=[f"user_session={value}"])


def test_session_cookie_naming_another_user_is_refused(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    _session, value = api.sessions.create(people.bob, CLIENT)
    refused(authorizer_services, cookies=_cookie(value, people.alice.id))
    refused(authorizer_services, cookies=_cookie(value, people.admin.id))


def test_revoked_session_is_refused_at_once(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    session, value = api.sessions.create(people.bob, CLIENT)
    authorize(authorizer_services, ME, cookies=_cookie(value))
    api.sessions.revoke(session.session_id, people.bob.id)
    refused(authorizer_services, cookies=_cookie(value))


def test_idle_session_is_refused(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People, clock: FakeClock
) -> None:
    _session, value = api.sessions.create(people.bob, CLIENT)
    clock.advance(api.config.session_ttl)
    refused(authorizer_services, cookies=_cookie(value))


def test_session_of_an_archived_user_is_refused(
    api: ApiServices, aws: dict[str, Any], clock: FakeClock, config: Config, people: People
) -> None:
    _session, value = api.sessions.create(people.bob, CLIENT)
    as_admin(api, people, people.bob, UserChanges(state=State.ARCHIVED))
    services = build_authorizer_services(config, clock, aws["dynamodb"], aws["secretsmanager"])
    refused(services, cookies=_cookie(value))


def test_session_cookie_sent_twice_is_refused(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    _session, value = api.sessions.create(people.bob, CLIENT)
    refused(authorizer_services, cookies=_cookie(value) * 2)


def test_bearer_header_is_checked_before_the_cookie(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    _session, value = api.sessions.create(people.bob, CLIENT)
    cookies = _cookie(value)
    refused(authorizer_services, authorization=f"Bearer {generate_pat()}", cookies=cookies)
    _, token = api.pats.create(people.alice, "ci", 0)
    answer = authorize(authorizer_services, ME, authorization=f"Bearer {token}", cookies=cookies)
    assert answer["context"]["username"] == "alice"


def test_session_lookup_failure_fails_closed(
    api: ApiServices, aws: dict[str, Any], clock: FakeClock, config: Config, people: People
) -> None:
    _session, value = api.sessions.create(people.bob, CLIENT)
    services = failing_authorizer(aws, clock, config, "get_item", "batch_get_item")
    with pytest.raises(Exception) as raised:
        authorize(services, ME, cookies=_cookie(value))
    assert str(raised.value) != "Unauthorized"


class CountingCalls:
    """Counts the DynamoDB operations the authorizer makes, passing each one through."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[str] = []
        # Each call's keyword arguments, in the order of `calls`.
        self.requests: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if not callable(attribute) or name.startswith(("get_paginator", "meta")):
            return attribute

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            self.requests.append(kwargs)
            return attribute(*args, **kwargs)

        return counted


def test_pat_and_session_cost_one_read_per_request_even_when_the_user_is_due(
    api: ApiServices, aws: dict[str, Any], clock: FakeClock, config: Config, people: People
) -> None:
    _, token = api.pats.create(people.alice, "ci", 0)
    _session, value = api.sessions.create(people.bob, CLIENT)
    counting = CountingCalls(aws["dynamodb"])
    services = build_authorizer_services(config, clock, counting, aws["secretsmanager"])
    pat = {"authorization": f"Bearer {token}"}
    cookie = {"cookies": _cookie(value)}

    def reads(credential: dict[str, Any]) -> list[str]:
        before = len(counting.calls)
        authorize(services, ME, **credential)
        return [
            call
            for call in counting.calls[before:]
            if call in ("get_item", "batch_get_item", "query", "scan")
        ]

    # A PAT's item carries its owner: one read, its first sight in the container included.
    assert reads(pat) == ["get_item"]
    assert reads(cookie) == ["batch_get_item"]
    for _ in range(3):
        clock.advance(config.revocation_lag)  # every user cache entry is due again
        assert reads(pat) == ["get_item"]
        assert reads(cookie) == ["batch_get_item"]


def _is_consistent(call: str, request: dict[str, Any]) -> bool:
    if call == "batch_get_item":
        return all(table.get("ConsistentRead") is True for table in request["RequestItems"].values())
    return request.get("ConsistentRead") is True


def test_a_revocation_lag_of_zero_reads_every_credential_and_its_user_consistently(
    api: ApiServices, aws: dict[str, Any], clock: FakeClock, config: Config, people: People
) -> None:
    # SPEC §4: 0 means a revocation is seen by the very next request, which an eventually
    # consistent read does not promise, whichever credential the request brings.
    _, pat = api.pats.create(people.alice, "ci", 0)
    _session, value = api.sessions.create(people.bob, CLIENT)
    token = api.access_tokens.issue(people.admin).token
    counting = CountingCalls(aws["dynamodb"])
    at_once = replace(config, revocation_lag=0)
    services = build_authorizer_services(at_once, clock, counting, aws["secretsmanager"])
    assert authorize(services, ME, authorization=f"Bearer {token}")["isAuthorized"] is True
    assert authorize(services, ME, authorization=f"Bearer {pat}")["isAuthorized"] is True
    assert authorize(services, ME, cookies=_cookie(value))["isAuthorized"] is True
    reads = [
        (call, _is_consistent(call, request))
        for call, request in zip(counting.calls, counting.requests, strict=True)
        if call in ("get_item", "batch_get_item")
    ]
    assert reads == [("get_item", True), ("get_item", True), ("batch_get_item", True)]


def test_a_role_change_reaches_a_warm_containers_pat_at_once(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    _, token = api.pats.create(people.alice, "ci", 0)
    bearer = f"Bearer {token}"
    assert authorize(authorizer_services, ADMIN_ONLY, authorization=bearer) == {"isAuthorized": False}
    as_admin(api, people, people.alice, UserChanges(role=Role.ADMIN))
    answer = authorize(authorizer_services, ADMIN_ONLY, authorization=bearer)
    assert answer["isAuthorized"] is True and answer["context"]["role"] == "ADMIN"
    as_admin(api, people, people.alice, UserChanges(role=Role.USER))
    assert authorize(authorizer_services, ADMIN_ONLY, authorization=bearer) == {"isAuthorized": False}
    as_admin(api, people, people.alice, UserChanges(state=State.ARCHIVED))
    refused(authorizer_services, authorization=bearer)
