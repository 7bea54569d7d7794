"""SPEC §7 passkeys through the local stack on DynamoDB Local: register a passkey, sign in
with it alone and as the second step over HTTP, on the stack's own origin
(http://localhost:<port>); and the races single use must win: one assertion, or one
second-step challenge, sent by many workers at once signs in exactly once."""

from __future__ import annotations

import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest
import requests

from tests.e2e.conftest import PASSWORD, Api
from tests.support.authenticator import SoftAuthenticator

pytestmark = pytest.mark.e2e

WORKERS = 8


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def authenticator_for(api: Api) -> SoftAuthenticator:
    """A browser on the stack's page: the origin the local stack accepts is localhost's."""
    port = urllib.parse.urlsplit(api.stack.url).port
    return SoftAuthenticator(origin=f"http://localhost:{port}")


def with_passkey(api: Api) -> tuple[str, str, SoftAuthenticator, dict[str, Any]]:
    """A new user with a registered passkey: (username, access token, authenticator, passkey)."""
    username, access, _ = api.new_user()
    options = api.call("POST", f"/users/{username}/passkeys/registration", headers=bearer(access))
    assert options.status_code == 200, options.text
    creation = options.json()["options"]
    assert creation["rp"]["id"] == "localhost"
    assert creation["authenticatorSelection"]["residentKey"] == "required"
    authenticator = authenticator_for(api)
    credential = authenticator.register(creation)
    created = api.call(
        "POST",
        f"/users/{username}/passkeys",
        headers=bearer(access),
        json={"credential": credential, "displayName": "Laptop"},
    )
    assert created.status_code == 200, created.text
    return username, access, authenticator, created.json()["passkey"]


def sign_in_options(api: Api, mfa_challenge: str | None = None) -> dict[str, Any]:
    body = {} if mfa_challenge is None else {"mfaChallenge": mfa_challenge}
    answer = api.call("POST", "/auth/passkeys/options", json=body)
    assert answer.status_code == 200, answer.text
    options = answer.json()["options"]
    assert isinstance(options, dict)
    return options


def passwordless(api: Api, assertion: dict[str, Any], path: str = "/auth/signin") -> requests.Response:
    return api.call("POST", path, json={"passkeyCredentials": {"credential": assertion}})


def mfa_challenge(api: Api, username: str, methods: str = "passkey") -> str:
    body = {"passwordCredentials": {"username": username, "password": PASSWORD}}
    answer = api.call("POST", "/auth/signin", json=body)
    assert answer.status_code == 400, answer.text
    (info,) = answer.json()["details"]
    assert info["metadata"]["methods"] == methods
    value = info["metadata"]["mfaChallenge"]
    assert isinstance(value, str)
    return value


def amr(answer: requests.Response) -> list[str]:
    value = jwt.decode(answer.json()["accessToken"], options={"verify_signature": False})["amr"]
    assert isinstance(value, list)
    return value


def test_register_list_and_sign_in_without_a_password(api: Api) -> None:
    username, access, authenticator, passkey = with_passkey(api)
    listed = api.call("GET", f"/users/{username}/passkeys", headers=bearer(access)).json()["passkeys"]
    assert [p["id"] for p in listed] == [passkey["id"]] and "lastUsedAt" not in listed[0]
    answer = passwordless(api, authenticator.assert_(sign_in_options(api)))
    assert answer.status_code == 200, answer.text
    assert amr(answer) == ["hwk", "mfa"] and answer.cookies.get("memos_refresh")
    me = api.call("GET", "/auth/me", headers=bearer(answer.json()["accessToken"]))
    assert me.json()["user"]["username"] == username
    session = passwordless(api, authenticator.assert_(sign_in_options(api)), "/auth/sessions")
    assert session.status_code == 200 and session.cookies.get("user_session")


def test_a_passkey_as_the_second_step_after_the_password(api: Api) -> None:
    username, _, authenticator, _ = with_passkey(api)
    value = mfa_challenge(api, username)
    options = sign_in_options(api, value)
    assert len(options["allowCredentials"]) == 1
    answer = api.call(
        "POST",
        "/auth/signin",
        json={"mfaCredentials": {"challenge": value, "passkey": authenticator.assert_(options)}},
    )
    assert answer.status_code == 200, answer.text
    assert amr(answer) == ["pwd", "hwk", "mfa"]


def test_the_wrong_origin_is_refused(api: Api) -> None:
    _, _, authenticator, _ = with_passkey(api)
    answer = passwordless(api, authenticator.assert_(sign_in_options(api), origin="http://127.0.0.1:1"))
    assert (answer.status_code, answer.json()["message"]) == (400, "the passkey was not accepted")


def test_removal_and_the_table_holds_no_challenge(api: Api) -> None:
    username, access, authenticator, passkey = with_passkey(api)
    options = sign_in_options(api)
    ceremonies = [i for i in api.scan("FactorsTable") if i["pk"]["S"].startswith("webauthn#")]
    assert ceremonies and not any(options["challenge"] in repr(item) for item in ceremonies)
    removed = api.call("DELETE", f"/users/{username}/passkeys/{passkey['id']}", headers=bearer(access))
    assert removed.status_code == 200, removed.text
    assert passwordless(api, authenticator.assert_(options)).status_code == 400


def _race(calls: list[Any]) -> list[requests.Response]:
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda call: call(), calls))


def assert_exactly_one_wins(answers: list[requests.Response]) -> None:
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses.count(200) == 1 and set(statuses[1:]) <= {400, 429}, [a.text for a in answers]


def test_one_assertion_sent_at_once_signs_in_once(api: Api) -> None:
    _, _, authenticator, _ = with_passkey(api)
    assertion = authenticator.assert_(sign_in_options(api))
    assert_exactly_one_wins(_race([lambda: passwordless(api, assertion) for _ in range(WORKERS)]))


def test_one_assertion_of_an_authenticator_without_a_counter_signs_in_once(api: Api) -> None:
    # A counter of 0 never changes: only the challenge's single use separates the workers.
    _, _, authenticator, _ = with_passkey(api)
    authenticator.counter_step = 0
    assertion = authenticator.assert_(sign_in_options(api))
    assert_exactly_one_wins(_race([lambda: passwordless(api, assertion) for _ in range(WORKERS)]))


def test_one_second_step_challenge_at_once_signs_in_once(api: Api) -> None:
    username, _, authenticator, _ = with_passkey(api)
    value = mfa_challenge(api, username)
    # Each worker has a ceremony of its own for the same MFA challenge, and a fresh counter:
    # only the MFA challenge's single use separates them.
    assertions = [authenticator.assert_(sign_in_options(api, value)) for _ in range(WORKERS)]
    body = [{"mfaCredentials": {"challenge": value, "passkey": a}} for a in assertions]
    answers = _race([lambda b=b: api.call("POST", "/auth/signin", json=b) for b in body])
    assert_exactly_one_wins(answers)
