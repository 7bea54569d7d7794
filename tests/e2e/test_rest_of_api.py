"""Issue 3 end to end over HTTP: PATs, session cookies, users, settings, throttling."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import PASSWORD, Api

pytestmark = pytest.mark.e2e


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_personal_access_token_lifecycle(api: Api) -> None:
    username, access, _ = api.new_user()
    path = f"/users/{username}/personalAccessTokens"
    created = api.call("POST", path, headers=bearer(access), json={"description": "ci", "expiresInDays": 0})
    assert created.status_code == 200, created.text
    token = created.json()["token"]
    assert token.startswith("memos_pat_") and len(token) == len("memos_pat_") + 32
    me = api.call("GET", "/auth/me", headers=bearer(token))
    assert me.status_code == 200 and me.json()["user"]["username"] == username
    listed = api.call("GET", path, headers=bearer(access))
    assert listed.status_code == 200 and token not in listed.text
    (entry,) = listed.json()["personalAccessTokens"]
    token_id = entry["name"].rsplit("/", 1)[-1]
    assert api.call("DELETE", f"{path}/{token_id}", headers=bearer(access)).status_code == 200
    assert api.call("GET", "/auth/me", headers=bearer(token)).status_code == 401


def test_a_user_never_touches_another_users_tokens(api: Api) -> None:
    owner, owner_access, _ = api.new_user()
    _, intruder_access, _ = api.new_user()
    path = f"/users/{owner}/personalAccessTokens"
    created = api.call(
        "POST", path, headers=bearer(owner_access), json={"description": "x", "expiresInDays": 1}
    )
    token_id = created.json()["personalAccessToken"]["name"].rsplit("/", 1)[-1]
    assert api.call("GET", path, headers=bearer(intruder_access)).status_code == 403
    assert (
        api.call("POST", path, headers=bearer(intruder_access), json={"description": "x"}).status_code == 403
    )
    assert api.call("DELETE", f"{path}/{token_id}", headers=bearer(intruder_access)).status_code == 404
    assert len(api.call("GET", path, headers=bearer(owner_access)).json()["personalAccessTokens"]) == 1


def test_session_cookie_lifecycle(api: Api) -> None:
    username, access, _ = api.new_user()
    body = {"passwordCredentials": {"username": username, "password": PASSWORD}}
    created = api.call(
        "POST",
        "/auth/sessions",
        json=body,
        headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"},
    )
    assert created.status_code == 200 and "lastAccessedAt" in created.json()
    cookie = created.cookies["user_session"]
    jar = {"user_session": cookie}
    assert api.call("GET", "/auth/me", cookies=jar).json()["user"]["username"] == username
    current = api.call("GET", "/auth/sessions/current", cookies=jar)
    assert current.status_code == 200 and current.json()["user"]["username"] == username
    logins = api.call("GET", f"/users/{username}/sessions", headers=bearer(access)).json()
    kinds = sorted(login["kind"] for login in logins["sessions"])
    assert kinds == ["refresh_token", "session"]
    browsers = [login["clientInfo"]["browser"] for login in logins["sessions"] if login["kind"] == "session"]
    assert browsers and browsers[0].startswith("Firefox")
    ended = api.call("DELETE", "/auth/sessions/current", cookies=jar)
    assert ended.status_code == 200 and "user_session=;" in ended.headers["Set-Cookie"]
    assert api.call("GET", "/auth/me", cookies=jar).status_code == 401


def test_revoking_a_login_from_the_list(api: Api) -> None:
    username, access, refresh = api.new_user()
    logins = api.call("GET", f"/users/{username}/sessions", headers=bearer(access)).json()["sessions"]
    (login,) = logins
    assert (
        api.call("DELETE", f"/users/{username}/sessions/{login['id']}", headers=bearer(access)).status_code
        == 200
    )
    assert api.call("POST", "/auth/refresh", cookies={"memos_refresh": refresh}).status_code == 401


def test_users_read_change_and_admin_rules(api: Api, admin_token: str) -> None:
    username, access, _ = api.new_user()
    public = api.call("GET", f"/users/{username}")
    assert public.status_code == 200 and "email" not in public.json()
    changed = api.call("PATCH", f"/users/{username}", headers=bearer(access), json={"displayName": "Renamed"})
    assert changed.status_code == 200 and changed.json()["displayName"] == "Renamed"
    assert (
        api.call("PATCH", f"/users/{username}", headers=bearer(access), json={"role": "ADMIN"}).status_code
        == 403
    )
    assert api.call("GET", "/users", headers=bearer(access)).status_code == 403
    listed = api.call("GET", "/users", headers=bearer(admin_token))
    assert listed.status_code == 200 and username in [u["username"] for u in listed.json()["users"]]


def test_archiving_locks_out_every_credential(api: Api, admin_token: str) -> None:
    username, access, refresh = api.new_user()
    pat = api.call(
        "POST", f"/users/{username}/personalAccessTokens", headers=bearer(access), json={"description": "p"}
    ).json()["token"]
    archived = api.call(
        "PATCH", f"/users/{username}", headers=bearer(admin_token), json={"state": "ARCHIVED"}
    )
    assert archived.status_code == 200 and archived.json()["state"] == "ARCHIVED"
    # The stack runs with REVOCATION_LAG_SECONDS=0: no credential survives the next request.
    assert api.call("GET", "/auth/me", headers=bearer(access)).status_code == 401
    assert api.call("GET", "/auth/me", headers=bearer(pat)).status_code == 401
    assert api.call("POST", "/auth/refresh", cookies={"memos_refresh": refresh}).status_code == 401
    assert api.sign_in(username).status_code == 403


def test_password_change_revokes_other_sign_ins(api: Api) -> None:
    username, access, refresh = api.new_user()
    other = api.sign_in(username).cookies["memos_refresh"]
    changed = api.call(
        "PATCH",
        f"/users/{username}",
        headers=bearer(access),
        cookies={"memos_refresh": refresh},
        json={"password": "another good password", "currentPassword": PASSWORD},
    )
    assert changed.status_code == 200
    assert api.call("POST", "/auth/refresh", cookies={"memos_refresh": other}).status_code == 401
    assert api.call("POST", "/auth/refresh", cookies={"memos_refresh": refresh}).status_code == 200
    assert api.sign_in(username, "another good password").status_code == 200


TOO_COMMON = {"code": 3, "message": "password is too common", "details": []}


@pytest.mark.parametrize("password", ["password", "12345678"])
def test_a_common_password_is_refused_at_sign_up(api: Api, password: str) -> None:
    username = f"common-{password}"
    refused = api.sign_up(username, password)
    assert (refused.status_code, refused.json()) == (400, TOO_COMMON)
    # Nothing was created: the name is still free for a strong password.
    strong = secrets.token_urlsafe(18)
    assert api.sign_up(username, strong).status_code == 200
    assert api.sign_in(username, strong).status_code == 200


def test_a_common_password_is_refused_at_password_change(api: Api) -> None:
    username, access, _ = api.new_user()
    refused = api.call("PATCH", f"/users/{username}", headers=bearer(access), json={"password": "Password1"})
    assert (refused.status_code, refused.json()) == (400, TOO_COMMON)
    assert api.sign_in(username).status_code == 200


@pytest.fixture
def closed_registration(api: Api, admin_token: str) -> Iterator[None]:
    closed = api.call(
        "PATCH", "/instance/settings", headers=bearer(admin_token), json={"disallowUserRegistration": True}
    )
    assert closed.status_code == 200
    yield
    api.call(
        "PATCH", "/instance/settings", headers=bearer(admin_token), json={"disallowUserRegistration": False}
    )


def test_closed_registration(api: Api, admin_token: str, closed_registration: None) -> None:
    assert api.call("GET", "/instance/settings").json()["disallowUserRegistration"] is True
    assert api.sign_up("latecomer").status_code == 403
    assert api.sign_up("latecomer", headers=bearer(admin_token)).status_code == 200


def test_repeated_failed_sign_ins_are_throttled(api: Api) -> None:
    username, _, _ = api.new_user()
    answers = [api.sign_in(username, "wrong password").status_code for _ in range(6)]
    assert answers[:5] == [400] * 5 and answers[5] == 429
    throttled = api.sign_in(username)
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
    assert throttled.json()["code"] == 8


def test_the_json_media_type_is_read_in_any_case_and_another_is_a_400_even_without_a_body(api: Api) -> None:
    username = f"mediatype{secrets.token_hex(4)}"
    body = json.dumps({"user": {"username": username, "password": PASSWORD}})
    media_type = {"Content-Type": "Application/JSON; charset=UTF-8"}
    created = api.call("POST", "/users", data=body, headers=media_type)
    assert (created.status_code, created.json()["name"]) == (200, f"users/{username}")
    for data in (body, None):
        refused = api.call("POST", "/users", data=data, headers={"Content-Type": "text/plain"})
        assert (refused.status_code, refused.json()["code"]) == (400, 3), refused.text
    assert api.call("GET", f"/users/{username}").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/users/{u}/personalAccessTokens", {"description": "x" * 10_000}),
        ("POST", "/users/{u}/personalAccessTokens", {"description": "x", "expiresInDays": "ten"}),
        ("POST", "/users/{u}/personalAccessTokens", "x" * 1_000_000),
        ("DELETE", "/users/{u}/personalAccessTokens/not-a-uuid", None),
        ("PATCH", "/users/{u}", {"email": 42}),
        ("GET", "/users/bad_name!", None),
    ],
)
def test_bad_input_is_a_4xx_json_error(api: Api, method: str, path: str, body: object) -> None:
    username, access, _ = api.new_user()
    kwargs: dict[str, Any] = {"headers": {**bearer(access), "Content-Type": "application/json"}}
    if isinstance(body, str):
        kwargs["data"] = body
    elif body is not None:
        kwargs["json"] = body
    response = api.call(method, path.format(u=username), **kwargs)
    assert 400 <= response.status_code < 500 and isinstance(response.json()["code"], int)
    assert response.json()["details"] == []
    listed = api.call("GET", f"/users/{username}/personalAccessTokens", headers=bearer(access))
    assert listed.json()["personalAccessTokens"] == []
