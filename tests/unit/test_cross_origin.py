"""Cross-site protection (SPEC §10): the rule as a table, then where it is applied, the
authorizer for session cookies and the API for the refresh cookie and the public cookie
routes (end to end in a real browser: tests/browser/test_account_pages.py)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from auth.config import Config
from auth.cross_origin import cross_origin_allowed
from auth.wiring import ApiServices, AuthorizerServices
from tests.support.events import FakeLambdaContext, authorizer_event
from tests.support.people import PASSWORD, People, call_api, cookie_pair

HOST = "auth.example.com"
OWN = f"https://{HOST}"
APP = "https://app.example.org"
# A sibling subdomain of the API: same-site, and trusted only when named.
SIBLING = "https://app.example.com"

# (method, Sec-Fetch-Site, Origin, allowed?) with the API at OWN and APP in AllowedOrigins.
TABLE = [
    # Reads always pass, from anywhere.
    ("GET", "cross-site", "https://evil.example", True),
    ("HEAD", "cross-site", None, True),
    ("OPTIONS", "cross-site", "https://evil.example", True),
    # Sec-Fetch-Site decides when the browser sends it.
    ("POST", "same-origin", None, True),
    ("POST", "none", None, True),
    ("POST", "cross-site", None, False),
    ("POST", "cross-site", "https://evil.example", False),
    # Go refuses same-site too: a sibling subdomain is another origin.
    ("POST", "same-site", "https://other.example.com", False),
    ("DELETE", "cross-site", "https://evil.example", False),
    ("PATCH", "same-site", None, False),
    ("post", "CROSS-SITE", None, False),
    # ... unless it is a sibling the operator trusts (CORS with credentials); cross-site
    # stays refused even from a trusted origin (SPEC §10).
    ("POST", "same-site", SIBLING + "/", True),
    ("POST", "cross-site", SIBLING, False),
    # Without Sec-Fetch-Site (an older browser), Origin must be the API's own or trusted.
    ("POST", None, OWN, True),
    ("POST", None, "HTTPS://AUTH.EXAMPLE.COM", True),
    ("POST", None, APP, True),
    ("POST", None, "https://evil.example", False),
    ("POST", None, "https://auth.example.com.evil.example", False),
    ("POST", None, "https://auth.example.com:8443", False),
    ("POST", None, "null", False),
    ("DELETE", None, "https://evil.example", False),
    # Neither header: not a browser (curl, a Memos client): SameSite=Lax covers browsers.
    ("POST", None, None, True),
    ("DELETE", None, None, True),
    ("POST", "", None, True),
]


@pytest.mark.parametrize(("method", "fetch_site", "origin", "allowed"), TABLE)
def test_the_rule(method: str, fetch_site: str | None, origin: str | None, allowed: bool) -> None:
    headers = {"host": HOST}
    if fetch_site is not None:
        headers["sec-fetch-site"] = fetch_site
    if origin is not None:
        headers["origin"] = origin
    assert cross_origin_allowed(method, headers, (APP, SIBLING)) is allowed


def test_config_reads_the_allowed_origins_normalized() -> None:
    config = Config.from_env({"ALLOWED_ORIGINS": "https://App.Example.org/, ,http://localhost:5230"})
    assert config.allowed_origins == ("https://app.example.org", "http://localhost:5230")
    assert Config.from_env({}).allowed_origins == ()


# -- the authorizer: session cookies -------------------------------------------------------

SIGN_OUT = "POST /api/v1/auth/signout"
REVOKE = "DELETE /api/v1/users/{username}/sessions/{id}"


def session_cookie(api: ApiServices, username: str = "alice") -> str:
    body = {"passwordCredentials": {"username": username, "password": PASSWORD}}
    answer = call_api(api, "POST", "/api/v1/auth/sessions", "/api/v1/auth/sessions", body=body)
    assert answer.status == 200, answer.body
    (cookie,) = answer.cookies
    return cookie_pair(cookie)


def authorize_with(
    services: AuthorizerServices, route_key: str, headers: dict[str, str], **credential: Any
) -> dict[str, Any]:
    from handlers import authorizer

    authorizer.services.replace(services)
    event = authorizer_event(route_key, headers={"host": HOST, **headers}, **credential)
    return authorizer.handler(event, FakeLambdaContext())


def test_the_authorizer_refuses_a_session_cookie_from_another_site(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    cookie = session_cookie(api)
    refused = authorize_with(
        authorizer_services, SIGN_OUT, {"sec-fetch-site": "cross-site"}, cookies=[cookie]
    )
    assert refused == {"isAuthorized": False}
    older = authorize_with(authorizer_services, REVOKE, {"origin": "https://evil.example"}, cookies=[cookie])
    assert older == {"isAuthorized": False}
    # The same cookie from the pages themselves, or from curl, passes.
    for headers in ({"sec-fetch-site": "same-origin"}, {"origin": OWN}, {}):
        allowed = authorize_with(authorizer_services, SIGN_OUT, headers, cookies=[cookie])
        assert allowed["isAuthorized"] is True and allowed["context"]["username"] == "alice"
    # A read from another site is not a state change (CORS decides who may read it).
    read = authorize_with(
        authorizer_services, "GET /api/v1/auth/me", {"sec-fetch-site": "cross-site"}, cookies=[cookie]
    )
    assert read["isAuthorized"] is True


def test_the_authorizer_lets_a_bearer_token_through_whatever_the_headers(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    signed = call_api(
        api,
        "POST",
        "/api/v1/auth/signin",
        "/api/v1/auth/signin",
        body={"passwordCredentials": {"username": "alice", "password": PASSWORD}},
    )
    bearer = f"Bearer {signed.body['accessToken']}"
    # A page on another site cannot set Authorization without CORS allowing it: no cookie
    # rides along, so the rule has nothing to protect.
    answer = authorize_with(
        authorizer_services, SIGN_OUT, {"sec-fetch-site": "cross-site"}, authorization=bearer
    )
    assert answer["isAuthorized"] is True


@pytest.mark.parametrize("authorization", ["Basic Zm9vOmJhcg==", "Bearer\tabc", "Bearer"])
def test_a_header_that_is_no_bearer_token_never_lets_the_cookie_answer_for_it(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People, authorization: str
) -> None:
    cookie = session_cookie(api)
    for headers in ({"sec-fetch-site": "cross-site"}, {}):
        with pytest.raises(Exception, match=r"^Unauthorized$"):
            authorize_with(
                authorizer_services, SIGN_OUT, headers, cookies=[cookie], authorization=authorization
            )


def test_an_empty_header_is_no_header_the_cross_site_rule_still_applies(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    cookie = session_cookie(api)
    refused = authorize_with(
        authorizer_services, SIGN_OUT, {"sec-fetch-site": "cross-site"}, cookies=[cookie], authorization=""
    )
    assert refused == {"isAuthorized": False}
    allowed = authorize_with(authorizer_services, SIGN_OUT, {}, cookies=[cookie], authorization="")
    assert allowed["isAuthorized"] is True and allowed["context"]["username"] == "alice"


def test_the_authorizer_trusts_the_allowed_origins(
    api: ApiServices, authorizer_services: AuthorizerServices, people: People
) -> None:
    cookie = session_cookie(api)
    trusting = replace(
        authorizer_services, config=replace(authorizer_services.config, allowed_origins=(SIBLING,))
    )
    headers = {"sec-fetch-site": "same-site", "origin": SIBLING}
    assert authorize_with(trusting, SIGN_OUT, headers, cookies=[cookie])["isAuthorized"] is True
    assert authorize_with(authorizer_services, SIGN_OUT, headers, cookies=[cookie]) == {"isAuthorized": False}
    # Cross-site stays refused, trusted or not (SPEC §10).
    cross = {"sec-fetch-site": "cross-site", "origin": SIBLING}
    assert authorize_with(trusting, SIGN_OUT, cross, cookies=[cookie]) == {"isAuthorized": False}


# -- the API: the refresh cookie and the public cookie routes ------------------------------


def refresh_cookie(api: ApiServices) -> str:
    body = {"passwordCredentials": {"username": "alice", "password": PASSWORD}}
    answer = call_api(api, "POST", "/api/v1/auth/signin", "/api/v1/auth/signin", body=body)
    (cookie,) = answer.cookies
    return cookie_pair(cookie)


def refresh(api: ApiServices, cookie: str, headers: dict[str, str]) -> Any:
    route = "/api/v1/auth/refresh"
    return call_api(api, "POST", route, route, cookies=[cookie], headers={"host": HOST, **headers})


@pytest.mark.parametrize("headers", [{"sec-fetch-site": "cross-site"}, {"origin": "https://evil.example"}])
def test_a_refresh_from_another_site_is_refused_and_changes_nothing(
    api: ApiServices, people: People, headers: dict[str, str]
) -> None:
    cookie = refresh_cookie(api)
    refused = refresh(api, cookie, headers)
    assert refused.status == 403 and refused.body == {
        "code": 7,
        "message": "cross-site request refused",
        "details": [],
    }
    assert refused.cookies == []
    # The token was not rotated: it still refreshes, once, from the pages' own origin.
    assert refresh(api, cookie, {"sec-fetch-site": "same-origin"}).status == 200


def test_a_sign_in_carrying_a_cookie_from_another_site_is_refused(api: ApiServices, people: People) -> None:
    cookie = session_cookie(api)
    body = {"passwordCredentials": {"username": "bob", "password": PASSWORD}}
    route = "/api/v1/auth/sessions"
    headers = {"host": HOST, "sec-fetch-site": "same-site"}
    answer = call_api(api, "POST", route, route, body=body, cookies=[cookie], headers=headers)
    assert answer.status == 403 and answer.cookies == []
    # Without any cookie there is nothing to ride on: a sign-in is the API's ordinary business.
    assert call_api(api, "POST", route, route, body=body, headers=headers).status == 200


def test_the_api_trusts_the_allowed_origins(api: ApiServices, people: People) -> None:
    cookie = refresh_cookie(api)
    trusting = api.with_config(replace(api.config, allowed_origins=(SIBLING,)))
    assert refresh(trusting, cookie, {"sec-fetch-site": "cross-site", "origin": SIBLING}).status == 403
    assert refresh(trusting, cookie, {"sec-fetch-site": "same-site", "origin": SIBLING}).status == 200


@pytest.mark.parametrize("route", ["/api/v1/auth/sessions", "/api/v1/auth/signin"])
def test_a_cookie_less_sign_in_from_another_site_without_a_content_type_is_refused(
    api: ApiServices, people: People, route: str
) -> None:
    # A page of any site can send such a body with no CORS preflight (a typeless Blob): were it
    # taken, it would sign the visitor's browser in as the sender's account (login CSRF).
    body = {"passwordCredentials": {"username": "bob", "password": PASSWORD}}
    typeless = {"host": HOST, "content-type": ""}
    for sent_by in ({"sec-fetch-site": "cross-site"}, {"origin": "https://evil.example"}):
        answer = call_api(api, "POST", route, route, body=body, headers={**typeless, **sent_by})
        assert answer.status == 403 and answer.body["message"] == "cross-site request refused"
        assert answer.cookies == []
    # JSON said as such needs a preflight, which CORS answers: the rule of the route decides.
    json_from_afar = {"host": HOST, "sec-fetch-site": "cross-site"}
    assert call_api(api, "POST", route, route, body=body, headers=json_from_afar).status == 200
    # Not a browser (no Sec-Fetch-Site, no Origin): a typeless body is still read as JSON.
    assert call_api(api, "POST", route, route, body=body, headers=typeless).status == 200
