"""Issue 2 end to end over HTTP: sign up, sign in, call a protected route, refresh, sign out."""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
import requests

from tests.e2e.conftest import PASSWORD, Api

pytestmark = pytest.mark.e2e


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_later_sign_ups_are_users(api: Api) -> None:
    response = api.sign_up("just-a-user")
    assert response.status_code == 200 and response.json()["role"] == "USER"


def test_sign_in_then_me(api: Api) -> None:
    username, access, _ = api.new_user()
    me = api.call("GET", "/auth/me", headers=bearer(access))
    assert me.status_code == 200 and me.json()["user"]["username"] == username
    assert me.headers["Cache-Control"] == "no-store"


def test_sign_in_sets_an_http_only_refresh_cookie(api: Api) -> None:
    username, _, _ = api.new_user()
    response = api.sign_in(username)
    set_cookie = response.headers["Set-Cookie"]
    assert (
        set_cookie.startswith("memos_refresh=") and "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie
    )


def forged_tokens(api: Api, access: str, refresh: str) -> dict[str, str]:
    kid, key = api.signing_key()
    claims = jwt.decode(access, options={"verify_signature": False})
    now = int(time.time())

    def sign(
        changes: dict[str, object], headers: dict[str, object] | None = None, secret: bytes = key
    ) -> str:
        return jwt.encode(
            {**claims, **changes}, secret, algorithm="HS256", headers={"kid": kid, **(headers or {})}
        )

    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "kid": kid}).encode()).rstrip(b"=").decode()
    return {
        "forged": sign({}, secret=b"not-the-key-but-long-enough-to-sign-with"),
        "expired": sign({"iat": now - 1000, "exp": now - 1}),
        "wrong audience": sign({"aud": ["user.refresh-token"]}),
        "wrong issuer": sign({"iss": "not-memos"}),
        "wrong type": refresh,
        "alg none": f"{header}.{access.split('.')[1]}.",
        "unknown kid": sign({}, headers={"kid": "v99"}),
    }


def test_protected_route_refuses_bad_credentials(api: Api) -> None:
    _, access, refresh = api.new_user()
    assert api.call("GET", "/auth/me").status_code == 401
    for name, token in forged_tokens(api, access, refresh).items():
        response = api.call("GET", "/auth/me", headers=bearer(token))
        assert response.status_code == 401, name


def test_refresh_rotates_and_reuse_revokes_the_family(api: Api) -> None:
    _, _, first = api.new_user()
    rotated = api.call("POST", "/auth/refresh", cookies={"memos_refresh": first})
    assert rotated.status_code == 200 and rotated.json()["accessToken"]
    second = rotated.cookies["memos_refresh"]
    assert second != first
    assert api.call("GET", "/auth/me", headers=bearer(rotated.json()["accessToken"])).status_code == 200
    third = api.call("POST", "/auth/refresh", cookies={"memos_refresh": second}).cookies["memos_refresh"]
    # Two rotations old: a reuse even within the retry grace (the previous token within it
    # is test_races.py's and test_dependency_hangs.py's).
    reused = api.call("POST", "/auth/refresh", cookies={"memos_refresh": first})
    assert reused.status_code == 401
    assert api.call("POST", "/auth/refresh", cookies={"memos_refresh": third}).status_code == 401


def test_sign_out_revokes_the_refresh_token_and_clears_the_cookie(api: Api) -> None:
    _, access, refresh = api.new_user()
    out = api.call("POST", "/auth/signout", headers=bearer(access), cookies={"memos_refresh": refresh})
    assert out.status_code == 200 and out.json() == {}
    assert "memos_refresh=;" in out.headers["Set-Cookie"] and "1970" in out.headers["Set-Cookie"]
    assert api.call("POST", "/auth/refresh", cookies={"memos_refresh": refresh}).status_code == 401


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("{not json", 400),
        ({}, 400),
        ({"user": {"username": "ok-name"}}, 400),
        ({"user": {"username": "bad_name!", "password": PASSWORD}}, 400),
        ({"user": {"username": "ok-name", "password": "short"}}, 400),
    ],
)
def test_bad_sign_ups_are_400_and_change_nothing(api: Api, body: object, status: int) -> None:
    before = len(api.scan("UsersTable"))
    data = body if isinstance(body, str) else json.dumps(body)
    response = api.call("POST", "/users", data=data, headers={"Content-Type": "application/json"})
    assert response.status_code == status and response.json()["code"] == 3
    assert len(api.scan("UsersTable")) == before


def test_duplicate_username_is_409(api: Api) -> None:
    username, _, _ = api.new_user()
    response = api.sign_up(username.upper())
    assert response.status_code == 409 and response.json()["code"] == 6


def test_concurrent_sign_ups_of_one_username_make_one_user(api: Api) -> None:
    def attempt(_: int) -> int:
        return api.sign_up("racing-name").status_code

    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(attempt, range(20)))
    assert statuses.count(200) == 1 and statuses.count(409) == 19
    records = [item for item in api.scan("UsersTable") if item["pk"]["S"] == "username#racing-name"]
    assert len(records) == 1


def test_openapi_document_is_served(api: Api) -> None:
    response = requests.get(api.base + "/openapi.json", timeout=30)
    assert response.status_code == 200 and "/api/v1/auth/signin" in response.json()["paths"]
