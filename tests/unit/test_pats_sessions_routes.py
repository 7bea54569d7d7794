"""SPEC §3: the PAT, session and logins routes through the API handler, and ownership:
nobody reads or changes another user's tokens or sessions."""

from __future__ import annotations

import json
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from auth import routes
from auth.pats import hash_pat, is_well_formed
from auth.principal import AuthMethod
from auth.wiring import ApiServices, AuthorizerServices
from tests.support.clock import FakeClock
from tests.support.people import (
    PASSWORD,
    Answer,
    People,
    authorize,
    call_api,
    context_for,
    cookie_pair,
)
from tests.unit.test_sessions import CLIENT, FIREFOX

PATS = routes.LIST_PATS.path
PAT = routes.DELETE_PAT.path
LOGINS = routes.LIST_LOGINS.path
LOGIN = routes.REVOKE_LOGIN.path
SESSIONS = routes.CREATE_SESSION.path
CURRENT = routes.CURRENT_SESSION.path
MISSING_ID = "00000000-0000-4000-8000-000000000000"


def as_(user: Any) -> dict[str, str]:
    return context_for(user)


def create_pat(api: ApiServices, user: Any, caller: Any = None, **body: Any) -> Answer:
    path = PATS.format(username=user.username)
    return call_api(api, "POST", path, PATS, as_(caller or user), body={"description": "ci", **body})


def list_pats(api: ApiServices, user: Any, caller: Any = None) -> Answer:
    return call_api(api, "GET", PATS.format(username=user.username), PATS, as_(caller or user))


def delete_pat(api: ApiServices, username: str, token_id: str, caller: Any) -> Answer:
    return call_api(api, "DELETE", PAT.format(username=username, tokenId=token_id), PAT, as_(caller))


def token_id_of(answer: Answer) -> str:
    return answer.body["personalAccessToken"]["name"].rsplit("/", 1)[1]


# -- personal access tokens ------------------------------------------------------------------


def test_created_token_is_shown_once_and_works(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    created = create_pat(api, people.alice, expiresInDays=30)
    assert created.status == 200 and created.headers["Cache-Control"] == "no-store"
    token = created.body["token"]
    assert is_well_formed(token)
    view = created.body["personalAccessToken"]
    assert view["name"].startswith("users/alice/personalAccessTokens/")
    assert view["description"] == "ci" and view["createdAt"].endswith("Z") and "expiresAt" in view
    listed = list_pats(api, people.alice)
    assert listed.body == {"personalAccessTokens": [view]}
    assert token not in str(listed.body) and hash_pat(token) not in str(listed.body)
    answer = authorize(authorizer_services, "GET /api/v1/auth/me", authorization=f"Bearer {token}")
    me = call_api(api, "GET", "/api/v1/auth/me", "/api/v1/auth/me", answer["context"])
    assert me.body["user"]["username"] == "alice"


def test_never_expiring_token_has_no_expiry_and_shows_last_use(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    created = create_pat(api, people.alice, expiresInDays=0)
    assert "expiresAt" not in created.body["personalAccessToken"]
    authorize(authorizer_services, "GET /api/v1/auth/me", authorization=f"Bearer {created.body['token']}")
    (view,) = list_pats(api, people.alice).body["personalAccessTokens"]
    assert "lastUsedAt" in view and "expiresAt" not in view


@pytest.mark.parametrize(
    "body",
    [
        {"description": "x" * 10_240},
        {"description": 5},
        {"expiresInDays": "5"},
        {"expiresInDays": 1.5},
        {"expiresInDays": True},
        {"expiresInDays": -1},
        {"expiresInDays": 3651},
    ],
)
def test_invalid_create_body_is_a_400(
    api: ApiServices, aws: dict[str, Any], people: People, body: Any
) -> None:
    answer = call_api(api, "POST", PATS.format(username="alice"), PATS, as_(people.alice), body=body)
    assert answer.status == 400 and answer.body["code"] == 3
    assert aws["dynamodb"].scan(TableName="PersonalAccessTokensTable")["Count"] == 0


def test_delete_own_token(api: ApiServices, authorizer_services: AuthorizerServices, people: People) -> None:
    created = create_pat(api, people.alice)
    answer = delete_pat(api, "alice", token_id_of(created), people.alice)
    assert (answer.status, answer.body) == (200, {})
    assert list_pats(api, people.alice).body == {"personalAccessTokens": []}
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(authorizer_services, "GET /api/v1/auth/me", authorization=f"Bearer {created.body['token']}")


@pytest.mark.parametrize(
    ("path", "route"),
    [
        (PATS.format(username="-alice"), PATS),
        (PATS.format(username="a" * 37), PATS),
        (PAT.format(username="alice", tokenId="not-a-uuid"), PAT),
        (PAT.format(username="alice", tokenId="550E8400-E29B-41D4-A716-446655440000"), PAT),
        (LOGIN.format(username="alice", id="12345"), LOGIN),
        (LOGINS.format(username="al_ice"), LOGINS),
    ],
)
def test_malformed_path_parameters_are_a_400(api: ApiServices, people: People, path: str, route: str) -> None:
    method = "DELETE" if route in (PAT, LOGIN) else "GET"
    assert call_api(api, method, path, route, as_(people.alice)).status == 400


def test_unknown_user_is_a_404(api: ApiServices, people: People) -> None:
    answer = call_api(api, "GET", PATS.format(username="nobody"), PATS, as_(people.admin))
    assert answer.status == 404


# ownership: PATs


def test_user_cannot_list_another_users_tokens_but_an_admin_can(api: ApiServices, people: People) -> None:
    create_pat(api, people.alice)
    refused = list_pats(api, people.alice, caller=people.bob)
    assert refused.status == 403 and refused.body["code"] == 7
    assert len(list_pats(api, people.alice, caller=people.admin).body["personalAccessTokens"]) == 1


@pytest.mark.parametrize("caller", ["bob", "admin"])
def test_nobody_creates_tokens_for_someone_else(
    api: ApiServices, aws: dict[str, Any], people: People, caller: str
) -> None:
    answer = create_pat(api, people.alice, caller=getattr(people, caller))
    assert answer.status == 403
    assert aws["dynamodb"].scan(TableName="PersonalAccessTokensTable")["Count"] == 0


@pytest.mark.parametrize("caller", ["bob", "admin"])
def test_deleting_someone_elses_token_is_a_404_and_keeps_it(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People, caller: str
) -> None:
    created = create_pat(api, people.alice)
    token_id, intruder = token_id_of(created), getattr(people, caller)
    for username in ("alice", intruder.username):
        answer = delete_pat(api, username, token_id, intruder)
        assert answer.status == 404 and answer.body["code"] == 5
    # The same answer as for an id that exists nowhere: nothing leaks.
    assert delete_pat(api, "alice", MISSING_ID, intruder).body == answer.body
    token = created.body["token"]
    assert authorize(authorizer_services, "GET /api/v1/auth/me", authorization=f"Bearer {token}")


# -- session cookies -------------------------------------------------------------------------


def session_sign_in(
    api: ApiServices, username: str = "alice", password: str = PASSWORD, **headers: str
) -> Answer:
    return call_api(
        api,
        "POST",
        SESSIONS,
        SESSIONS,
        body={"passwordCredentials": {"username": username, "password": password}},
        headers={"user-agent": FIREFOX, **headers},
    )


def session_cookie(answer: Answer) -> str:
    (cookie,) = [c for c in answer.cookies if c.startswith("user_session=")]
    return cookie


def assert_refused(authorizer_services: AuthorizerServices, cookie: str) -> None:
    """The authorizer refuses the session cookie: API Gateway answers 401."""
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        via_cookie(authorizer_services, cookie)


def via_cookie(services: AuthorizerServices, cookie: str, route: str = f"GET {CURRENT}") -> dict[str, str]:
    return authorize(services, route, cookies=[cookie_pair(cookie)])["context"]


def test_session_sign_in_sets_the_cookie(api: ApiServices, people: People) -> None:
    answer = session_sign_in(api)
    assert answer.status == 200
    assert answer.body["user"]["username"] == "alice" and answer.body["lastAccessedAt"].endswith("Z")
    cookie = session_cookie(answer)
    value = cookie_pair(cookie).split("=", 1)[1]
    assert value.startswith(f"{people.alice.id}-")
    attributes = [part.strip() for part in cookie.split(";")]
    assert {"HttpOnly", "Path=/", "SameSite=Lax"} <= set(attributes)
    assert any(part.startswith("Expires=") for part in attributes)
    assert "Secure" not in attributes  # local stage over plain HTTP


def test_session_cookie_is_secure_over_https(api: ApiServices, people: People) -> None:
    cookie = session_cookie(session_sign_in(api, **{"x-forwarded-proto": "https"}))
    assert "Secure" in [part.strip() for part in cookie.split(";")]


def test_wrong_password_sets_no_session(api: ApiServices, aws: dict[str, Any], people: People) -> None:
    answer = session_sign_in(api, password="wrong password")
    assert answer.status == 400 and answer.cookies == []
    assert aws["dynamodb"].scan(TableName="SessionsTable")["Count"] == 0


def test_current_session_answers_user_and_last_access(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    cookie = session_cookie(session_sign_in(api))
    context = via_cookie(authorizer_services, cookie)
    assert context["authMethod"] == "session"
    answer = call_api(api, "GET", CURRENT, CURRENT, context, cookies=[cookie_pair(cookie)])
    assert answer.body["user"]["username"] == "alice" and "lastAccessedAt" in answer.body
    # How that session was signed in (beyond Memos): a password.
    assert answer.body["amr"] == ["pwd"]


def expires_of(cookie: str) -> int:
    """The Expires of a Set-Cookie line, in epoch seconds."""
    (expires,) = [part.strip()[8:] for part in cookie.split(";") if part.strip().startswith("Expires=")]
    return int(parsedate_to_datetime(expires).timestamp())


def attributes_but_expires(cookie: str) -> set[str]:
    return {part.strip() for part in cookie.split(";")[1:] if not part.strip().startswith("Expires=")}


def test_the_session_cookie_slides_with_the_session_each_time_current_is_asked(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People, clock: FakeClock
) -> None:
    ttl = api.config.session_ttl
    signed_in = session_cookie(session_sign_in(api))
    assert expires_of(signed_in) == int(clock.now()) + ttl
    cookie = signed_in
    # Someone who opens the account pages every day, past the first cookie's 14 days.
    for _ in range(15):
        clock.advance(24 * 3600)
        context = via_cookie(authorizer_services, cookie)
        answer = call_api(api, "GET", CURRENT, CURRENT, context, cookies=[cookie_pair(cookie)])
        assert answer.status == 200
        cookie = session_cookie(answer)
        # The same cookie, with the same attributes as at sign-in; only Expires moved.
        assert cookie_pair(cookie) == cookie_pair(signed_in)
        assert attributes_but_expires(cookie) == attributes_but_expires(signed_in)
        assert expires_of(cookie) == int(clock.now()) + ttl
    assert clock.now() > expires_of(signed_in)
    assert via_cookie(authorizer_services, cookie)["username"] == "alice"


def test_current_session_with_a_bearer_credential_has_only_the_user(api: ApiServices, people: People) -> None:
    answer = call_api(api, "GET", CURRENT, CURRENT, as_(people.alice))
    # No session: no lastAccessedAt (the bearer's sign-in methods, amr, are still said).
    assert answer.status == 200 and set(answer.body) == {"user", "amr"}
    # Nor a session cookie to slide.
    assert answer.cookies == []


def test_ending_the_current_session_revokes_it_and_clears_the_cookie(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    cookie = session_cookie(session_sign_in(api))
    context = via_cookie(authorizer_services, cookie)
    answer = call_api(api, "DELETE", CURRENT, CURRENT, context, cookies=[cookie_pair(cookie)])
    assert (answer.status, answer.body) == (200, {})
    cleared = session_cookie(answer)
    assert cleared.startswith("user_session=;") and "1970" in cleared
    assert_refused(authorizer_services, cookie)


def test_ending_the_current_session_with_an_access_token_revokes_the_session_cookie_it_clears(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    # A page holding both an access token and a session cookie: the cookie it is told to drop
    # must not stay valid on the server; another user's cookie is left alone, as by sign-out.
    own, others = session_cookie(session_sign_in(api, "alice")), session_cookie(session_sign_in(api, "bob"))
    for cookie in (own, others):
        answer = call_api(api, "DELETE", CURRENT, CURRENT, as_(people.alice), cookies=[cookie_pair(cookie)])
        assert (answer.status, answer.body) == (200, {}) and "1970" in session_cookie(answer)
    assert_refused(authorizer_services, own)
    assert via_cookie(authorizer_services, others)["username"] == "bob"


def test_sign_out_revokes_the_session_and_clears_both_cookies(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    cookie = session_cookie(session_sign_in(api))
    context = via_cookie(authorizer_services, cookie, "POST /api/v1/auth/signout")
    answer = call_api(
        api, "POST", "/api/v1/auth/signout", "/api/v1/auth/signout", context, cookies=[cookie_pair(cookie)]
    )
    assert answer.status == 200
    assert {c.split("=", 1)[0] for c in answer.cookies} == {"user_session", "memos_refresh"}
    assert_refused(authorizer_services, cookie)


def test_sign_out_with_a_bearer_leaves_another_users_session_cookie_alone(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    cookie = session_cookie(session_sign_in(api, "alice"))
    call_api(
        api,
        "POST",
        "/api/v1/auth/signout",
        "/api/v1/auth/signout",
        as_(people.bob),
        cookies=[cookie_pair(cookie)],
    )
    assert via_cookie(authorizer_services, cookie)["username"] == "alice"


# -- a user's logins ---------------------------------------------------------------------------


def logins_of(api: ApiServices, username: str, caller: Any) -> Answer:
    return call_api(api, "GET", LOGINS.format(username=username), LOGINS, as_(caller))


def test_logins_list_sessions_and_refresh_sign_ins_with_client_info(api: ApiServices, people: People) -> None:
    session_sign_in(api)
    api.refresh_tokens.issue(people.alice, CLIENT)
    answer = logins_of(api, "alice", people.alice)
    assert answer.status == 200
    kinds = sorted(login["kind"] for login in answer.body["sessions"])
    assert kinds == ["refresh_token", "session"]
    login = answer.body["sessions"][0]
    assert login["name"] == f"users/alice/sessions/{login['id']}"
    assert {"createdAt", "lastAccessedAt", "expiresAt"} <= set(login)
    assert login["clientInfo"] == {
        "userAgent": FIREFOX,
        "ipAddress": "203.0.113.7",
        "device": "desktop",
        "os": "Linux",
        "browser": "Firefox",
    }


def test_user_cannot_list_another_users_logins_but_an_admin_can(api: ApiServices, people: People) -> None:
    session_sign_in(api)
    assert logins_of(api, "alice", people.bob).status == 403
    assert len(logins_of(api, "alice", people.admin).body["sessions"]) == 1


def test_revoking_a_login_ends_it(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    cookie = session_cookie(session_sign_in(api))
    context = via_cookie(authorizer_services, cookie)
    (login,) = logins_of(api, "alice", people.alice).body["sessions"]
    path = LOGIN.format(username="alice", id=login["id"])
    answer = call_api(api, "DELETE", path, LOGIN, context)
    assert (answer.status, answer.body) == (200, {})
    # The caller ended the session they came with, so its cookie is cleared too.
    assert session_cookie(answer).startswith("user_session=;")
    assert_refused(authorizer_services, cookie)


def test_revoking_a_refresh_login_revokes_its_family(api: ApiServices, people: People) -> None:
    issued = api.refresh_tokens.issue(people.alice, CLIENT)
    (login,) = logins_of(api, "alice", people.alice).body["sessions"]
    path = LOGIN.format(username="alice", id=login["id"])
    assert call_api(api, "DELETE", path, LOGIN, as_(people.alice)).status == 200
    answer = call_api(
        api,
        "POST",
        "/api/v1/auth/refresh",
        "/api/v1/auth/refresh",
        cookies=[f"memos_refresh={issued.token}"],
    )
    assert answer.status == 401


def test_an_admin_can_revoke_a_users_login(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    cookie = session_cookie(session_sign_in(api))
    (login,) = logins_of(api, "alice", people.admin).body["sessions"]
    answer = call_api(api, "DELETE", LOGIN.format(username="alice", id=login["id"]), LOGIN, as_(people.admin))
    assert answer.status == 200 and answer.cookies == []
    assert_refused(authorizer_services, cookie)


def test_user_cannot_revoke_another_users_login(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    cookie = session_cookie(session_sign_in(api))
    api.refresh_tokens.issue(people.alice, CLIENT)
    for login in logins_of(api, "alice", people.alice).body["sessions"]:
        # Through alice's path: not bob's to act for.
        refused = call_api(
            api, "DELETE", LOGIN.format(username="alice", id=login["id"]), LOGIN, as_(people.bob)
        )
        assert refused.status == 403
        # Through his own path: no such login of his.
        hidden = call_api(api, "DELETE", LOGIN.format(username="bob", id=login["id"]), LOGIN, as_(people.bob))
        assert hidden.status == 404
    assert len(logins_of(api, "alice", people.alice).body["sessions"]) == 2
    assert via_cookie(authorizer_services, cookie)["username"] == "alice"


def test_a_pat_caller_cannot_end_a_session_through_current(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    cookie = session_cookie(session_sign_in(api))
    context = context_for(people.alice, AuthMethod.PAT, MISSING_ID)
    call_api(api, "DELETE", CURRENT, CURRENT, context, cookies=[cookie_pair(cookie)])
    assert via_cookie(authorizer_services, cookie)["username"] == "alice"


def test_every_template_route_is_served_documented_and_in_the_access_table(aws: dict[str, Any]) -> None:
    from auth.routes import ROUTE_ACCESS
    from handlers import api as api_function
    from handlers.openapi_document import document_json

    # The account pages (SPEC §10) are another function's, outside the API's document.
    routes = {route.route_key for route in aws["template"].routes if route.function == "ApiFunction"}
    assert routes <= set(ROUTE_ACCESS)
    # The document as served: its security schemes are configured when it is first built.
    document = json.loads(document_json(api_function.app))
    documented = {f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item}
    assert routes <= documented
