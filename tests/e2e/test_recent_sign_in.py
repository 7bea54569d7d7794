"""SPEC §1/§3 through the local stack: a stolen credential is not an account. Old sign-ins
must sign in again for the changes that decide how an account is reached, a PAT never makes
them, and no session listing rebuilds a cookie."""

from __future__ import annotations

import time

import jwt
import pytest

from auth.models import SignIn
from auth.sessions import hash_secret, parse_session_cookie
from auth.tokens import SigningKey, mint_access_token
from tests.e2e.conftest import PASSWORD, Api

pytestmark = pytest.mark.e2e

MAX_AGE = 600
CHALLENGE = 'Bearer error="insufficient_user_authentication", max_age="600"'


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def old_access_token(api: Api, access_token: str, seconds_ago: int) -> str:
    """The user's access token as it would be from a sign-in `seconds_ago`, minted with the
    stack's own key (a stolen token, not a forged one)."""
    from auth.models import Role, State, User

    claims = jwt.decode(access_token, options={"verify_signature": False})
    user = User(int(claims["sub"]), claims["name"], Role(claims["role"]), State.NORMAL, "", "", "", 0, 0)
    kid, key = api.signing_key()
    now = time.time()
    return mint_access_token(
        user, SigningKey(kid, key), now, 900, SignIn.with_password(now - seconds_ago)
    ).token


def assert_asks_for_a_new_sign_in(response: object) -> None:
    import requests

    assert isinstance(response, requests.Response)
    assert response.status_code == 401, response.text
    assert response.json() == {"code": 16, "message": "recent sign-in required", "details": []}
    assert response.headers["WWW-Authenticate"] == CHALLENGE


def test_a_fresh_sign_in_carries_auth_time_and_amr_and_a_refresh_keeps_them(api: Api) -> None:
    _username, access, refresh = api.new_user()
    claims = jwt.decode(access, options={"verify_signature": False})
    assert claims["amr"] == ["pwd"] and abs(claims["auth_time"] - time.time()) < 60
    refreshed = api.call("POST", "/auth/refresh", cookies={"memos_refresh": refresh})
    assert refreshed.status_code == 200
    renewed = jwt.decode(refreshed.json()["accessToken"], options={"verify_signature": False})
    assert (renewed["auth_time"], renewed["amr"]) == (claims["auth_time"], ["pwd"])


def test_an_old_sign_in_cannot_change_the_password_mint_a_pat_or_delete_the_account(api: Api) -> None:
    username, access, _ = api.new_user()
    stolen = old_access_token(api, access, MAX_AGE + 60)
    # The stolen token still reads: it is a valid credential, only not a recent sign-in.
    assert api.call("GET", "/auth/me", headers=bearer(stolen)).status_code == 200
    change = {"password": "a new passphrase of mine", "currentPassword": PASSWORD}
    assert_asks_for_a_new_sign_in(
        api.call("PATCH", f"/users/{username}", headers=bearer(stolen), json=change)
    )
    assert_asks_for_a_new_sign_in(
        api.call("POST", f"/users/{username}/personalAccessTokens", headers=bearer(stolen), json={})
    )
    assert_asks_for_a_new_sign_in(api.call("DELETE", f"/users/{username}", headers=bearer(stolen)))
    # Nothing changed: the old password still signs in, the account is there, no PAT was made.
    assert api.sign_in(username).status_code == 200
    tokens = api.call("GET", f"/users/{username}/personalAccessTokens", headers=bearer(access)).json()
    assert tokens == {"personalAccessTokens": []}
    # Signing in again gives a recent sign-in, which may.
    fresh = api.sign_in(username).json()["accessToken"]
    changed = api.call("PATCH", f"/users/{username}", headers=bearer(fresh), json=change)
    assert changed.status_code == 200, changed.text


def test_the_current_password_is_required_and_checked(api: Api) -> None:
    username, access, _ = api.new_user()
    missing = api.call(
        "PATCH", f"/users/{username}", headers=bearer(access), json={"password": "a new passphrase"}
    )
    assert missing.status_code == 400
    wrong = api.call(
        "PATCH",
        f"/users/{username}",
        headers=bearer(access),
        json={"password": "a new passphrase", "currentPassword": "not my password"},
    )
    assert wrong.status_code == 403
    assert wrong.json() == {"code": 7, "message": "current password is incorrect", "details": []}


def test_a_pat_never_mints_a_pat_or_changes_the_password(api: Api) -> None:
    username, access, _ = api.new_user()
    created = api.call("POST", f"/users/{username}/personalAccessTokens", headers=bearer(access), json={})
    assert created.status_code == 200, created.text
    pat = created.json()["token"]
    minted = api.call("POST", f"/users/{username}/personalAccessTokens", headers=bearer(pat), json={})
    assert minted.status_code == 403 and minted.json()["code"] == 7
    change = {"password": "a new passphrase of mine", "currentPassword": PASSWORD}
    assert api.call("PATCH", f"/users/{username}", headers=bearer(pat), json=change).status_code == 403
    assert api.sign_in(username).status_code == 200


def test_no_session_listing_rebuilds_a_cookie_and_the_table_holds_no_secret(api: Api) -> None:
    username, access, _ = api.new_user()
    body = {"passwordCredentials": {"username": username, "password": PASSWORD}}
    signed_in = api.call("POST", "/auth/sessions", json=body)
    cookie = signed_in.cookies["user_session"]
    user_id, secret = parse_session_cookie(cookie)
    listed = api.call("GET", f"/users/{username}/sessions", headers=bearer(access)).json()["sessions"]
    (session,) = [login for login in listed if login["kind"] == "session"]
    assert secret not in str(listed)
    built = f"{user_id}-{session['id']}"
    assert api.call("GET", "/auth/me", cookies={"user_session": built}).status_code == 401
    assert api.call("GET", "/auth/me", cookies={"user_session": cookie}).status_code == 200
    items = [item for item in api.scan("SessionsTable") if item["userId"]["N"] == str(user_id)]
    (item,) = items
    assert item["secretHash"]["S"] == hash_secret(secret) and secret not in str(item)
    # Revoking by the listed id ends the real cookie.
    revoked = api.call("DELETE", f"/users/{username}/sessions/{session['id']}", headers=bearer(access))
    assert revoked.status_code == 200
    assert api.call("GET", "/auth/me", cookies={"user_session": cookie}).status_code == 401
