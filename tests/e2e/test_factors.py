"""SPEC §7 through the local stack on DynamoDB Local: enrol TOTP with a code pyotp computes,
sign in in two steps on both routes, and the races that single use must win: two identical
codes, and one recovery code, presented at the same instant by separate workers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pyotp
import pytest
import requests

from tests.e2e.conftest import PASSWORD, Api
from tests.support.factors import unspent_code

pytestmark = pytest.mark.e2e

WORKERS = 8


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def fresh_code(secret: str) -> str:
    """The current step's code: the server accepts a step either side of its own
    (auth.totp.DRIFT_STEPS), so a step that ends before the request lands does not matter."""
    return pyotp.TOTP(secret).now()


def enrolled(api: Api) -> tuple[str, str, str, list[str]]:
    """A new user with TOTP enabled: (username, access token, secret, recovery codes)."""
    username, access, _ = api.new_user()
    started = api.call("POST", f"/users/{username}/totp", headers=bearer(access))
    assert started.status_code == 200, started.text
    secret = started.json()["secret"]
    assert started.json()["otpauthUri"] == f"otpauth://totp/memos:{username}?secret={secret}&issuer=memos"
    confirmed = api.call(
        "POST", f"/users/{username}/totp/confirm", headers=bearer(access), json={"code": fresh_code(secret)}
    )
    assert confirmed.status_code == 200, confirmed.text
    codes = confirmed.json()["recoveryCodes"]
    assert len(codes) == 10
    assert api.call("GET", f"/users/{username}/totp", headers=bearer(access)).json() == {
        "enabled": True,
        "recoveryCodesLeft": 10,
    }
    return username, access, secret, codes


def challenge(api: Api, username: str, path: str = "/auth/signin") -> str:
    body = {"passwordCredentials": {"username": username, "password": PASSWORD}}
    answer = api.call("POST", path, json=body)
    assert answer.status_code == 400, answer.text
    payload = answer.json()
    assert (payload["code"], payload["message"]) == (9, "second factor required")
    (info,) = payload["details"]
    assert (info["reason"], info["domain"]) == ("MFA_REQUIRED", "memos-auth")
    assert info["metadata"]["methods"] == "totp,recoveryCode"
    assert "memos_refresh" not in answer.cookies and "user_session" not in answer.cookies
    value = info["metadata"]["mfaChallenge"]
    assert isinstance(value, str)
    return value


def second_step(api: Api, value: str, path: str = "/auth/signin", **code: str) -> requests.Response:
    return api.call("POST", path, json={"mfaCredentials": {"challenge": value, **code}})


def test_enrol_and_sign_in_in_two_steps_for_a_token_with_otp(api: Api) -> None:
    username, _, secret, _ = enrolled(api)
    answer = second_step(api, challenge(api, username), totpCode=unspent_code(secret))
    assert answer.status_code == 200, answer.text
    claims = jwt.decode(answer.json()["accessToken"], options={"verify_signature": False})
    assert "otp" in claims["amr"] and claims["amr"] == ["pwd", "otp", "mfa"]
    assert answer.cookies.get("memos_refresh")
    me = api.call("GET", "/auth/me", headers=bearer(answer.json()["accessToken"]))
    assert me.json()["user"]["username"] == username


def test_a_session_sign_in_in_two_steps(api: Api) -> None:
    username, _, _, codes = enrolled(api)
    value = challenge(api, username, "/auth/sessions")
    # A challenge of the session route does not finish the token route.
    assert second_step(api, value, recoveryCode=codes[0]).status_code == 400
    answer = second_step(api, value, "/auth/sessions", recoveryCode=codes[0])
    assert answer.status_code == 200, answer.text
    session = answer.cookies["user_session"]
    current = api.call("GET", "/auth/sessions/current", cookies={"user_session": session})
    assert current.status_code == 200 and current.json()["user"]["username"] == username


def test_the_factor_table_holds_no_secret(api: Api) -> None:
    _, access, secret, codes = enrolled(api)
    user_id = api.user_id(access)
    (item,) = [i for i in api.scan("FactorsTable") if i["pk"]["S"] == f"totp#{user_id}"]
    text = repr(item)
    assert secret not in text and not any(code.replace("-", "") in text for code in codes)


def _race(calls: list[Any]) -> list[requests.Response]:
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def assert_exactly_one_wins(answers: list[requests.Response]) -> None:
    """One 200; every other a refusal. A loser's wrong code counts as a failed sign-in from
    this address, so past the throttle's 5 the refusal is a 429 rather than a 400."""
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses[:1] == [200] and set(statuses[1:]) <= {400, 429}, [a.text for a in answers]
    assert statuses.count(200) == 1 and len(statuses) == WORKERS


def test_two_identical_codes_at_once_exactly_one_wins(api: Api) -> None:
    username, _, secret, _ = enrolled(api)
    # Each worker holds a challenge of its own: only the step's single use separates them.
    values = [challenge(api, username) for _ in range(WORKERS)]
    code = unspent_code(secret)
    answers = _race([lambda v=v: second_step(api, v, totpCode=code) for v in values])
    assert_exactly_one_wins(answers)


def test_one_recovery_code_at_once_exactly_one_wins(api: Api) -> None:
    username, access, _, codes = enrolled(api)
    values = [challenge(api, username) for _ in range(WORKERS)]
    answers = _race([lambda v=v: second_step(api, v, recoveryCode=codes[0]) for v in values])
    assert_exactly_one_wins(answers)
    left = api.call("GET", f"/users/{username}/totp", headers=bearer(access)).json()["recoveryCodesLeft"]
    assert left == 9


def test_one_challenge_at_once_signs_in_once(api: Api) -> None:
    username, _, _, codes = enrolled(api)
    value = challenge(api, username)
    answers = _race([lambda c=c: second_step(api, value, recoveryCode=c) for c in codes[:WORKERS]])
    assert_exactly_one_wins(answers)
