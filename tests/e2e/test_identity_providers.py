"""SPEC §8 through the local stack on DynamoDB Local, against a real OpenID provider
(oidc-provider on 127.0.0.1): an admin registers it over HTTP, a first sign-in creates the
user on both sign-in routes, two first sign-ins of one identity at once make one user,
a linked identity signs in as its user, a provider that is down is a 503, and the client
secret is never answered nor stored in plain text."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import jwt
import pytest

from devstack.ports import free_port
from tests.e2e.conftest import Api
from tests.support.oidc_provider import BASIC_CLIENT, POST_CLIENT, OidcProvider, Pkce, secret_of
from tests.support.sso import oauth2_body, oidc_body, sso

pytestmark = pytest.mark.e2e


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def register(api: Api, admin_token: str, body: dict[str, Any], provider_id: str) -> dict[str, Any]:
    made = api.call(
        "POST",
        "/identity-providers",
        params={"identityProviderId": provider_id},
        json=body,
        headers=bearer(admin_token),
    )
    assert made.status_code == 200, made.text
    return dict(made.json())


def test_register_then_sign_in_on_both_routes_with_pkce_and_nonce(
    api: Api, admin_token: str, oidc_provider: OidcProvider
) -> None:
    made = register(
        api, admin_token, oidc_body(oidc_provider.issuer, BASIC_CLIENT, "client_secret_basic"), "e2e-oidc"
    )
    assert "clientSecret" not in str(made) and secret_of(BASIC_CLIENT) not in str(made)
    public = api.call("GET", "/identity-providers/e2e-oidc")
    assert public.status_code == 200 and secret_of(BASIC_CLIENT) not in public.text
    assert secret_of(BASIC_CLIENT) not in str(api.scan("IdentityProvidersTable"))
    sub = oidc_provider.account(f"e2e{time.time_ns()}", email="e2e@example.com", name="E2E")
    pkce = Pkce.new()
    code = oidc_provider.code(sub, BASIC_CLIENT, pkce=pkce, nonce="e2e-nonce")
    signed_in = api.call(
        "POST", "/auth/signin", json={"ssoCredentials": sso("e2e-oidc", code, pkce.verifier, "e2e-nonce")}
    )
    assert signed_in.status_code == 200, signed_in.text
    claims = jwt.decode(signed_in.json()["accessToken"], options={"verify_signature": False})
    assert claims["username"] == sub and claims["amr"] == ["fed"]
    me = api.call("GET", "/auth/me", headers=bearer(signed_in.json()["accessToken"]))
    assert me.json()["user"]["email"] == "e2e@example.com"
    session = api.call(
        "POST",
        "/auth/sessions",
        json={"ssoCredentials": sso("e2e-oidc", oidc_provider.code(sub, BASIC_CLIENT))},
    )
    assert session.status_code == 200 and session.json()["user"]["username"] == sub
    assert "user_session" in session.cookies
    replayed = api.call(
        "POST", "/auth/signin", json={"ssoCredentials": sso("e2e-oidc", code, pkce.verifier, "e2e-nonce")}
    )
    assert replayed.status_code == 400


def test_two_first_sign_ins_of_one_identity_make_one_user(
    api: Api, admin_token: str, oidc_provider: OidcProvider
) -> None:
    register(api, admin_token, oauth2_body(oidc_provider.issuer, POST_CLIENT), "e2e-race")
    sub = oidc_provider.account(f"race{time.time_ns()}")
    codes = [oidc_provider.code(sub) for _ in range(4)]
    with ThreadPoolExecutor(max_workers=len(codes)) as pool:
        answers = list(
            pool.map(
                lambda code: api.call("POST", "/auth/signin", json={"ssoCredentials": sso("e2e-race", code)}),
                codes,
            )
        )
    assert [answer.status_code for answer in answers] == [200] * len(codes), [a.text for a in answers]
    assert {answer.json()["user"]["username"] for answer in answers} == {sub}
    links = [item for item in api.scan("LinkedIdentitiesTable") if item["externUid"]["S"] == sub]
    assert len(links) == 1


def test_link_an_identity_to_a_password_account_and_sign_in_with_it(
    api: Api, admin_token: str, oidc_provider: OidcProvider
) -> None:
    register(api, admin_token, oidc_body(oidc_provider.issuer, POST_CLIENT), "e2e-link")
    username, access, _ = api.new_user()
    sub = oidc_provider.account(f"link{time.time_ns()}")
    linked = api.call(
        "POST",
        f"/users/{username}/linkedIdentities",
        json=sso("e2e-link", oidc_provider.code(sub)),
        headers=bearer(access),
    )
    assert linked.status_code == 200, linked.text
    listed = api.call("GET", f"/users/{username}/linkedIdentities", headers=bearer(access)).json()
    assert [link["externUid"] for link in listed["linkedIdentities"]] == [sub]
    signed_in = api.call(
        "POST", "/auth/signin", json={"ssoCredentials": sso("e2e-link", oidc_provider.code(sub))}
    )
    assert signed_in.status_code == 200 and signed_in.json()["user"]["username"] == username


def test_a_provider_that_is_down_is_a_503(api: Api, admin_token: str) -> None:
    register(api, admin_token, oauth2_body(f"http://127.0.0.1:{free_port()}", "c", secret="s"), "e2e-down")
    started = time.monotonic()
    answer = api.call("POST", "/auth/signin", json={"ssoCredentials": sso("e2e-down", "code")})
    assert answer.status_code == 503 and answer.json()["code"] == 14
    assert time.monotonic() - started < 8
