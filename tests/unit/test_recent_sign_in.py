"""SPEC §3 "Recent sign-in" (RFC 9470): the changes that decide how an account is reached
need a sign-in at most REAUTH_MAX_AGE_SECONDS old, a PAT never makes them, and changing
one's own password needs the current one."""

from __future__ import annotations

import pytest

from auth import routes
from auth.models import NO_SIGN_IN, Amr, Role, SignIn, State, User
from auth.principal import AuthMethod
from auth.wiring import ApiServices, AuthorizerServices
from tests.support.clock import FakeClock
from tests.support.people import PASSWORD, Answer, People, authorize, call_api, context_for
from tests.unit.test_sessions import CLIENT

NEW_PASSWORD = "an entirely new passphrase"
MAX_AGE = 600
TOO_OLD = {
    "code": 16,
    "message": "recent sign-in required",
    "details": [],
}
CHALLENGE = 'Bearer error="insufficient_user_authentication", max_age="600"'


def test_the_default_max_age_is_ten_minutes(api: ApiServices) -> None:
    assert api.config.reauth_max_age == MAX_AGE == 600


def signed_in(clock: FakeClock, seconds_ago: float) -> SignIn:
    return SignIn.with_password(clock.now() - seconds_ago)


def change_password(
    api: ApiServices, caller: User, target: User, sign_in: SignIn, method: AuthMethod, **body: str
) -> Answer:
    path = routes.UPDATE_USER.path.format(username=target.username)
    context = context_for(caller, method, sign_in=sign_in)
    return call_api(
        api, "PATCH", path, routes.UPDATE_USER.path, context, body={"password": NEW_PASSWORD, **body}
    )


def alices_own_change(
    api: ApiServices, people: People, sign_in: SignIn, method: AuthMethod, current: str | None = PASSWORD
) -> Answer:
    """alice changing her own password, with `current` as currentPassword (None: left out)."""
    body = {} if current is None else {"currentPassword": current}
    return change_password(api, people.alice, people.alice, sign_in, method, **body)


def create_pat(api: ApiServices, user: User, sign_in: SignIn, method: AuthMethod) -> Answer:
    path = routes.CREATE_PAT.path.format(username=user.username)
    context = context_for(user, method, sign_in=sign_in)
    return call_api(api, "POST", path, routes.CREATE_PAT.path, context, body={"description": "ci"})


def delete_self(api: ApiServices, user: User, sign_in: SignIn, method: AuthMethod) -> Answer:
    path = routes.DELETE_USER.path.format(username=user.username)
    return call_api(api, "DELETE", path, routes.DELETE_USER.path, context_for(user, method, sign_in=sign_in))


def assert_too_old(answer: Answer) -> None:
    assert (answer.status, answer.body) == (401, TOO_OLD)
    assert answer.headers["WWW-Authenticate"] == CHALLENGE


# -- changing one's own password -----------------------------------------------------------


def test_own_password_change_with_a_recent_sign_in_and_the_current_password(
    api: ApiServices, clock: FakeClock, people: People
) -> None:
    answer = alices_own_change(api, people, signed_in(clock, MAX_AGE), AuthMethod.SESSION)
    assert answer.status == 200, answer.body
    assert api.accounts.sign_in("alice", NEW_PASSWORD, "203.0.113.7").id == people.alice.id


def test_own_password_change_with_an_old_sign_in_asks_for_a_new_one(
    api: ApiServices, clock: FakeClock, people: People
) -> None:
    answer = alices_own_change(api, people, signed_in(clock, MAX_AGE + 1), AuthMethod.SESSION)
    assert_too_old(answer)
    assert api.accounts.sign_in("alice", PASSWORD, "203.0.113.7").id == people.alice.id


def test_a_token_without_auth_time_counts_as_an_old_sign_in(
    api: ApiServices, clock: FakeClock, people: People
) -> None:
    answer = alices_own_change(api, people, NO_SIGN_IN, AuthMethod.ACCESS_TOKEN)
    assert_too_old(answer)


def test_own_password_change_needs_the_current_password(
    api: ApiServices, clock: FakeClock, people: People
) -> None:
    recent = signed_in(clock, 0)
    missing = alices_own_change(api, people, recent, AuthMethod.ACCESS_TOKEN, current=None)
    assert (missing.status, missing.body["message"]) == (
        400,
        "currentPassword is required to change your own password",
    )
    wrong = alices_own_change(api, people, recent, AuthMethod.ACCESS_TOKEN, current="not the password")
    assert (wrong.status, wrong.body) == (
        403,
        {"code": 7, "message": "current password is incorrect", "details": []},
    )
    assert api.accounts.sign_in("alice", PASSWORD, "203.0.113.7").id == people.alice.id


def test_a_user_without_a_password_sets_one_with_a_recent_sign_in_and_no_current_password(
    api: ApiServices, clock: FakeClock, people: People, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first sign-in with an identity provider makes a user with no password (auth.sso_sign_in):
    there is no current one to give, and the recent sign-in still guards the change."""
    now = int(clock.now())
    user = User(api.users.next_user_id(), "fed-only", Role.USER, State.NORMAL, "", "", "", now, now)
    api.users.create(user, claim_owner=False)
    federated = SignIn(now, (Amr.FEDERATED.value,))
    old = SignIn(now - MAX_AGE - 1, (Amr.FEDERATED.value,))
    assert_too_old(change_password(api, user, user, old, AuthMethod.SESSION))
    assert change_password(api, user, user, NO_SIGN_IN, AuthMethod.PAT).status == 403
    answer = change_password(api, user, user, federated, AuthMethod.SESSION)
    assert answer.status == 200, answer.body
    assert api.accounts.sign_in("fed-only", NEW_PASSWORD, "203.0.113.7").id == user.id
    # Once it has one, the user proves it like anyone else, even where a read is still stale.
    monkeypatch.setattr(api.users, "get_by_username", lambda *_, **__: user)
    again = change_password(api, user, user, federated, AuthMethod.SESSION)
    assert (again.status, again.body["message"]) == (
        400,
        "currentPassword is required to change your own password",
    )


def test_wrong_current_passwords_are_throttled_like_failed_sign_ins(
    api: ApiServices, clock: FakeClock, people: People
) -> None:
    recent = signed_in(clock, 0)
    for _ in range(5):
        wrong = alices_own_change(api, people, recent, AuthMethod.ACCESS_TOKEN, current="not the password")
        assert wrong.status == 403
    # The sixth try from that address waits, even with the right password, and so does a
    # password sign-in to the account from there: they share the sign-in throttle.
    throttled = alices_own_change(api, people, recent, AuthMethod.ACCESS_TOKEN)
    assert throttled.status == 429 and int(throttled.headers["Retry-After"]) > 0
    body = {"passwordCredentials": {"username": "alice", "password": PASSWORD}}
    sign_in = call_api(api, "POST", routes.SIGN_IN.path, routes.SIGN_IN.path, body=body)
    assert sign_in.status == 429


def test_a_pat_never_changes_the_password(api: ApiServices, clock: FakeClock, people: People) -> None:
    answer = alices_own_change(api, people, NO_SIGN_IN, AuthMethod.PAT)
    assert answer.status == 403 and answer.body["code"] == 7


# -- an admin changing someone else's password ----------------------------------------------


def test_an_admin_needs_a_recent_sign_in_of_their_own(
    api: ApiServices, clock: FakeClock, people: People
) -> None:
    answer = change_password(
        api, people.admin, people.bob, signed_in(clock, MAX_AGE + 1), AuthMethod.ACCESS_TOKEN
    )
    assert_too_old(answer)


def test_an_admins_password_change_ends_every_login_of_the_user(
    api: ApiServices, clock: FakeClock, people: People
) -> None:
    api.sessions.create(people.bob, CLIENT)
    api.refresh_tokens.issue(people.bob, CLIENT)
    answer = change_password(api, people.admin, people.bob, signed_in(clock, 5), AuthMethod.ACCESS_TOKEN)
    assert answer.status == 200, answer.body
    assert api.logins.list_for_user(people.bob.id) == []


# -- creating a PAT, deleting one's own account ----------------------------------------------


@pytest.mark.parametrize("method", [AuthMethod.ACCESS_TOKEN, AuthMethod.SESSION])
def test_a_new_pat_needs_a_recent_sign_in(
    api: ApiServices, clock: FakeClock, people: People, method: AuthMethod
) -> None:
    assert create_pat(api, people.alice, signed_in(clock, MAX_AGE), method).status == 200
    assert_too_old(create_pat(api, people.alice, signed_in(clock, MAX_AGE + 1), method))
    assert len(api.pats.list_for_user(people.alice.id)) == 1


def test_a_pat_never_mints_a_pat(api: ApiServices, people: People) -> None:
    answer = create_pat(api, people.alice, NO_SIGN_IN, AuthMethod.PAT)
    assert answer.status == 403 and answer.body["code"] == 7
    assert api.pats.list_for_user(people.alice.id) == []


def test_deleting_ones_own_account_needs_a_recent_sign_in(
    api: ApiServices, clock: FakeClock, people: People
) -> None:
    assert_too_old(delete_self(api, people.alice, signed_in(clock, MAX_AGE + 1), AuthMethod.SESSION))
    assert delete_self(api, people.alice, NO_SIGN_IN, AuthMethod.PAT).status == 403
    assert api.users.get(people.alice.id) is not None
    assert delete_self(api, people.alice, signed_in(clock, 1), AuthMethod.SESSION).status == 200
    assert api.users.get(people.alice.id) is None


def test_an_admins_other_changes_need_no_recent_sign_in(
    api: ApiServices, clock: FakeClock, people: People
) -> None:
    path = routes.UPDATE_USER.path.format(username="bob")
    context = context_for(people.admin, sign_in=signed_in(clock, 86_400))
    answer = call_api(api, "PATCH", path, routes.UPDATE_USER.path, context, body={"role": "ADMIN"})
    assert answer.status == 200


# -- through the real authorizer: the sign-in travels with each credential -------------------


def test_a_fresh_sign_in_is_recent_and_a_refresh_keeps_it_old(
    api: ApiServices, authorizer_services: AuthorizerServices, clock: FakeClock, people: People
) -> None:
    body = {"passwordCredentials": {"username": "alice", "password": PASSWORD}}
    answer = call_api(api, "POST", routes.SIGN_IN.path, routes.SIGN_IN.path, body=body)
    token, refresh = answer.body["accessToken"], answer.cookies[0].split(";", 1)[0]
    route = routes.CREATE_PAT
    path = route.path.format(username="alice")
    caller = authorize(authorizer_services, route.key, authorization=f"Bearer {token}")["context"]
    assert call_api(api, "POST", path, route.path, caller, body={"description": "ci"}).status == 200
    clock.advance(MAX_AGE + 1)
    refreshed = call_api(api, "POST", routes.REFRESH.path, routes.REFRESH.path, cookies=[refresh])
    assert refreshed.status == 200
    renewed = authorize(
        authorizer_services, route.key, authorization=f"Bearer {refreshed.body['accessToken']}"
    )
    # A refresh is not a sign-in: the new token carries the old auth_time.
    assert_too_old(call_api(api, "POST", path, route.path, renewed["context"], body={"description": "ci"}))
