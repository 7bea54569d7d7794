"""Identity providers on the account pages (SPEC §8, §10) in headless Chromium, against a
real OpenID provider (oidc-provider on 127.0.0.1, its development login and consent forms
filled as a person would): sign in with OAuth 2.0 and with OpenID Connect (state, PKCE and
nonce), the callback's refusals, a second factor after the provider, linking and
unlinking from the account page, and closed registration.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, quote_plus, urlencode, urlsplit

import pytest
from playwright.sync_api import BrowserContext, Page, Request, expect

from devstack.ports import free_port
from tests.browser.conftest import PASSWORD, Site, cookie_header, sign_in, signed_in_as, signed_in_user
from tests.browser.test_account_pages import enrol_totp
from tests.support.factors import unspent_code
from tests.support.oidc_provider import (
    BASIC_CLIENT,
    POST_CLIENT,
    OidcProvider,
    running_oidc_provider,
    secret_of,
)
from tests.support.sso import oauth2_body, oidc_body, sso

pytestmark = pytest.mark.e2e

OAUTH2_ID, OIDC_ID = "browser-oauth2", "browser-oidc"
OAUTH2_TITLE, OIDC_TITLE = "Test OAuth 2.0", "Test OIDC"
_accounts = itertools.count()


@pytest.fixture(scope="module")
def provider(site: Site) -> Iterator[OidcProvider]:
    """The OpenID provider, registered twice (as OAUTH2 and as OIDC), for this module only."""
    with running_oidc_provider([site.page("callback")]) as running:
        admin = site.bearer("admin")
        for provider_id, body in (
            (OAUTH2_ID, oauth2_body(running.issuer, POST_CLIENT)),
            (OIDC_ID, oidc_body(running.issuer, POST_CLIENT)),
        ):
            made = site.call(
                "POST",
                "/identity-providers",
                params={"identityProviderId": provider_id},
                json=body,
                headers=admin,
            )
            assert made.status_code == 200, made.text
        try:
            yield running
        finally:
            for provider_id in (OAUTH2_ID, OIDC_ID):
                site.call("DELETE", f"/identity-providers/{provider_id}", headers=site.bearer("admin"))


def new_account(provider: OidcProvider) -> str:
    return provider.account(f"sso{next(_accounts)}x{id(provider) % 10**6}", email="sso@example.com")


def at_the_provider(page: Page, provider: OidcProvider, account: str) -> None:
    """The provider's own pages: its login form (any password), then its consent."""
    page.wait_for_url(re.compile("^" + re.escape(provider.issuer)))
    page.locator('input[name="login"]').fill(account)
    page.locator('input[name="password"]').fill("any password")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()


def start(page: Page, site: Site, title: str, where: str = "signin") -> list[Request]:
    """Clicks "Sign in with <title>" on page `where`; the requests to the provider's
    authorization endpoint."""
    sent: list[Request] = []
    page.on("request", lambda request: sent.append(request) if "/auth?" in request.url else None)
    page.goto(site.page(where))
    page.get_by_role("button", name=f"Sign in with {title}").click()
    return sent


def session(site: Site, context: BrowserContext) -> dict[str, object]:
    answer = site.call("GET", "/auth/sessions/current", cookies=cookie_header(context))
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


@pytest.mark.parametrize("title", [OAUTH2_TITLE, OIDC_TITLE], ids=["oauth2", "oidc"])
def test_sign_in_with_a_provider_lands_signed_in_without_the_code_in_the_address(
    page: Page, context: BrowserContext, site: Site, provider: OidcProvider, title: str
) -> None:
    account = new_account(provider)
    sent = start(page, site, title)
    at_the_provider(page, provider, account)
    signed_in_as(page, site, account)
    assert session(site, context)["amr"] == ["fed"]
    # The flow's request: the page's own callback, a state, PKCE by S256 and a nonce.
    query = parse_qs(urlsplit(sent[0].url).query)
    assert query["redirect_uri"] == [site.page("callback")] and query["client_id"] == [POST_CLIENT]
    assert query["code_challenge_method"] == ["S256"] and len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 43 and len(query["nonce"][0]) >= 43
    # The code is out of the history too: back from the account is the bare callback.
    page.go_back()
    page.wait_for_url(re.compile(r"/account/callback$"))
    assert "code=" not in page.url
    # Nothing of the flow is left in the tab's storage.
    assert page.evaluate("() => sessionStorage.length") == 0


# A provider's free text, or anyone's who links to the callback: never on the page.
SPOOF = "your account is locked; call +1 555 0100"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("code=a-code&state=not-the-state", "does not match this sign-in"),
        ("code=a-code", "does not match this sign-in"),
        (
            "error=access_denied&error_description={spoof}&state={state}",
            "the identity provider refused the sign-in (access_denied); start again",
        ),
        ("error=access_denied&error_description={spoof}", "does not match this sign-in"),
        ("error=access_denied&error_description={spoof}&state=not-the-state", "does not match this sign-in"),
        ("error=<b>{spoof}</b>&state={state}", "the identity provider refused the sign-in; start again"),
    ],
    ids=["wrong state", "no state", "provider error", "error, no state", "error, another state", "odd error"],
)
def test_a_callback_that_is_not_the_flows_shows_why_and_the_way_back(
    page: Page, context: BrowserContext, site: Site, provider: OidcProvider, query: str, message: str
) -> None:
    sent = start(page, site, OAUTH2_TITLE)
    page.wait_for_url(re.compile("^" + re.escape(provider.issuer)))
    (state,) = parse_qs(urlsplit(sent[0].url).query)["state"]
    # Back at the callback with what the provider did not send (the flow is in this tab).
    page.goto(site.page("callback?" + query.format(state=quote_plus(state), spoof=quote_plus(SPOOF))))
    expect(page.get_by_role("alert")).to_contain_text(message)
    expect(page.get_by_role("alert")).not_to_contain_text("call +1 555")
    expect(page).to_have_url(re.compile(r"/account/callback$"))
    back = page.get_by_role("link", name="Back to sign in")
    expect(back).to_be_visible()
    assert site.call("GET", "/auth/sessions/current", cookies=cookie_header(context)).status_code == 401
    back.click()
    page.wait_for_url(re.compile(r"/account/signin$"))


def test_a_callback_no_flow_started_and_a_cancel_at_the_provider(
    page: Page, site: Site, provider: OidcProvider
) -> None:
    page.goto(site.page("callback?code=a-code&state=a-state"))
    expect(page.get_by_role("alert")).to_contain_text("not started from this browser tab")
    # A code that answers no flow of this tab leaves the address bar too.
    expect(page).to_have_url(re.compile(r"/account/callback$"))
    expect(page.get_by_role("link", name="Back to sign in")).to_be_visible()
    # Anyone's link, in a tab that started no sign-in: their words are not shown.
    spoofed = {"error": "access_denied", "error_description": SPOOF, "state": "a-state"}
    page.goto(site.page("callback?" + urlencode(spoofed)))
    expect(page.get_by_role("alert")).to_have_text(
        "this sign-in was not started from this browser tab; start again"
    )
    # The provider's own refusal: the person cancels on its login page.
    start(page, site, OAUTH2_TITLE)
    page.wait_for_url(re.compile("^" + re.escape(provider.issuer)))
    page.get_by_role("link", name="[ Cancel ]").click()
    page.wait_for_url(re.compile(r"/account/callback"))
    expect(page.get_by_role("alert")).to_contain_text("the identity provider refused")
    expect(page.get_by_role("link", name="Back to sign in")).to_be_visible()


def linked_account(site: Site, provider: OidcProvider, username: str) -> str:
    """A new account at the provider, linked to `username` through the API."""
    account = new_account(provider)
    linked = site.call(
        "POST",
        f"/users/{username}/linkedIdentities",
        json=sso(OAUTH2_ID, provider.code(account)),
        headers=site.bearer(username),
    )
    assert linked.status_code == 200, linked.text
    return account


def test_a_provider_sign_in_asks_for_the_second_factor_on_the_callback_page(
    page: Page, context: BrowserContext, site: Site, provider: OidcProvider
) -> None:
    username = site.new_user("ssototp")
    account = linked_account(site, provider, username)
    secret, _ = enrol_totp(site, username)
    start(page, site, OAUTH2_TITLE)
    at_the_provider(page, provider, account)
    page.wait_for_url(re.compile(r"/account/callback$"))
    code = page.get_by_label("Authentication code")
    expect(code).to_be_visible()
    code.fill(unspent_code(secret))
    page.get_by_role("button", name="Verify").click()
    signed_in_as(page, site, username)
    assert session(site, context)["amr"] == ["fed", "otp", "mfa"]


@pytest.mark.parametrize("two_factor", [False, True], ids=["one factor", "two factors"])
def test_a_provider_sign_in_goes_where_the_sign_in_page_was_told_to(
    page: Page, site: Site, provider: OidcProvider, two_factor: bool
) -> None:
    username = site.new_user("ssoadmin")
    made = site.call("PATCH", f"/users/{username}", json={"role": "ADMIN"}, headers=site.bearer("admin"))
    assert made.status_code == 200, made.text
    account = linked_account(site, provider, username)
    secret = enrol_totp(site, username)[0] if two_factor else ""
    # As the admin page sends a signed-out admin: signin?next=admin.
    start(page, site, OAUTH2_TITLE, "signin?next=admin")
    at_the_provider(page, provider, account)
    if two_factor:
        code = page.get_by_label("Authentication code")
        expect(code).to_be_visible()
        code.fill(unspent_code(secret))
        page.get_by_role("button", name="Verify").click()
    page.wait_for_url(site.page("admin"))
    expect(page.get_by_role("heading", name="Administration")).to_be_visible()
    expect(page.get_by_text(f"Signed in as {username}")).to_be_visible()


def test_link_an_identity_from_the_account_page_then_remove_it(
    page: Page, site: Site, provider: OidcProvider
) -> None:
    username = site.new_user("linker")
    account = new_account(provider)
    sign_in(page, site, username)
    signed_in_as(page, site, username)
    expect(page.get_by_text("No linked identities.")).to_be_visible()
    page.get_by_role("button", name=f"Link {OIDC_TITLE}").click()
    at_the_provider(page, provider, account)
    signed_in_as(page, site, username)
    row = page.locator("#identities li", has_text=OIDC_TITLE)
    expect(row).to_contain_text(account)
    links = site.call("GET", f"/users/{username}/linkedIdentities", headers=site.bearer(username)).json()
    assert [(link["idpName"], link["externUid"]) for link in links["linkedIdentities"]] == [
        (f"identity-providers/{OIDC_ID}", account)
    ]
    row.get_by_role("button", name="Remove").click()
    expect(page.get_by_text("No linked identities.")).to_be_visible()
    links = site.call("GET", f"/users/{username}/linkedIdentities", headers=site.bearer(username)).json()
    assert links["linkedIdentities"] == []


# The API's answer to a change that needs a recent sign-in (SPEC §3, RFC 9470).
REAUTH_CHALLENGE = {
    "status": 401,
    "headers": {"WWW-Authenticate": 'Bearer error="insufficient_user_authentication", max_age="600"'},
    "content_type": "application/json",
    "body": '{"code":16,"message":"recent sign-in required","details":[]}',
}


def _query(url: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(url).query).items()}


def test_a_link_refused_for_an_old_sign_in_offers_to_sign_in_again(
    page: Page, site: Site, provider: OidcProvider
) -> None:
    """After the API's challenge, the callback offers a sign-in that signs in again and leads
    back to the account ("Back to sign in" passes a person still signed in straight on)."""
    username = signed_in_user(page, site, "stale")
    links = re.compile(r"/api/v1/users/[^/]+/linkedIdentities$")
    # The challenge of a sign-in older than REAUTH_MAX_AGE_SECONDS, without waiting that long.
    page.route(
        links,
        lambda route: (
            route.fulfill(**REAUTH_CHALLENGE) if route.request.method == "POST" else route.continue_()
        ),
    )
    # The provider answers at once, with a code for the flow's state (its login is not tested here).
    page.route(
        re.compile("^" + re.escape(provider.issuer) + r"/auth\?"),
        lambda route: route.fulfill(
            status=302,
            headers={
                "Location": site.page(
                    "callback?" + urlencode({"code": "a-code", "state": _query(route.request.url)["state"]})
                )
            },
        ),
    )
    page.get_by_role("button", name=f"Link {OIDC_TITLE}").click()
    page.wait_for_url(re.compile(r"/account/callback$"))
    expect(page.get_by_role("alert")).to_contain_text("sign in again before making this change")
    expect(page.get_by_role("link", name="Back to sign in")).to_be_hidden()
    page.get_by_role("link", name="Sign in again").click()
    page.wait_for_url(site.page("signin?next=account"))
    page.unroute(links)
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    signed_in_as(page, site, username)


def test_a_first_provider_sign_in_while_registration_is_off_says_so(
    page: Page, context: BrowserContext, site: Site, provider: OidcProvider
) -> None:
    admin = site.bearer("admin")
    switched = site.call(
        "PATCH", "/instance/settings", json={"disallowUserRegistration": True}, headers=admin
    )
    assert switched.status_code == 200, switched.text
    try:
        account = new_account(provider)
        start(page, site, OIDC_TITLE)
        at_the_provider(page, provider, account)
        expect(page.get_by_role("alert")).to_have_text("user registration is not allowed")
        expect(page.get_by_role("link", name="Back to sign in")).to_be_visible()
        assert site.call("GET", "/auth/sessions/current", cookies=cookie_header(context)).status_code == 401
        assert site.call("GET", f"/users/{account}", headers=admin).status_code == 404
    finally:
        site.call("PATCH", "/instance/settings", json={"disallowUserRegistration": False}, headers=admin)


def test_the_admin_adds_an_openid_provider_whose_discovery_is_read(
    page: Page, site: Site, provider: OidcProvider
) -> None:
    sign_in(page, site, "admin")
    signed_in_as(page, site, "admin")
    page.goto(site.page("admin"))
    page.get_by_label("Title").fill("Admin's OIDC")
    page.get_by_label("Type").select_option("OIDC")
    page.get_by_label("Client ID").fill(BASIC_CLIENT)
    page.get_by_label("Client secret").fill(secret_of(BASIC_CLIENT))
    page.get_by_label("Client authentication").select_option("client_secret_basic")
    page.get_by_label("Scopes").fill("openid profile")
    # An issuer that answers nothing: the server cannot read its discovery document.
    page.get_by_label("Issuer").fill(f"http://127.0.0.1:{free_port()}")
    page.get_by_role("button", name="Add identity provider").click()
    expect(page.locator("#idps-error")).to_have_text("identity provider unavailable")
    titles = [p["title"] for p in site.call("GET", "/identity-providers").json()["identityProviders"]]
    assert "Admin's OIDC" not in titles
    page.get_by_label("Issuer").fill(provider.issuer)
    page.get_by_role("button", name="Add identity provider").click()
    row = page.locator("#idps li", has_text="Admin's OIDC")
    expect(row).to_contain_text(provider.issuer)
    try:
        (made,) = [
            p
            for p in site.call("GET", "/identity-providers").json()["identityProviders"]
            if p["title"] == "Admin's OIDC"
        ]
        oidc = made["config"]["oidcConfig"]
        assert oidc["authStyle"] == "client_secret_basic" and oidc["authUrl"] == f"{provider.issuer}/auth"
    finally:
        row.get_by_role("button", name="Delete").click()
        expect(row).to_have_count(0)
