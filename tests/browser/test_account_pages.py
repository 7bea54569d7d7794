"""The account pages (SPEC §10) in a real headless Chromium, against the local stack.

Every flow a person has that needs neither passkeys nor an identity provider: sign up, sign
in (wrong password, keyboard only, a second factor by code or recovery code), sessions,
tokens, password, TOTP from a QR code, sign out; the admin's users and switches; the
headers; a 375 px screen and dark mode; a cross-site POST refused. README's screenshots
(docs/screenshots) are made here: `make screenshots`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pyotp
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Request, Response, Route, expect

from tests.browser.conftest import PASSWORD, Site, cookie_header, sign_in, signed_in_as, signed_in_user
from tests.support.factors import unspent_code
from tests.support.http_servers import serving

pytestmark = pytest.mark.e2e

UA_FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def enrol_totp(site: Site, username: str) -> tuple[str, list[str]]:
    """TOTP for `username` through the API: (secret, recovery codes)."""
    auth = site.bearer(username)
    secret = site.call("POST", f"/users/{username}/totp", headers=auth).json()["secret"]
    code = pyotp.TOTP(secret).now()
    confirmed = site.call("POST", f"/users/{username}/totp/confirm", json={"code": code}, headers=auth)
    assert confirmed.status_code == 200, confirmed.text
    return secret, confirmed.json()["recoveryCodes"]


# -- signing up and in ------------------------------------------------------------------------


def test_sign_up_lands_on_the_account_and_sign_out_ends_the_session(
    page: Page, context: BrowserContext, site: Site
) -> None:
    username = f"newcomer{time.monotonic_ns() % 10**8}"
    page.goto(site.page("signup"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    signed_in_as(page, site, username)
    cookies = cookie_header(context)
    assert "user_session" in cookies
    # The pages keep nothing in the browser's storage: the session cookie is HttpOnly.
    assert page.evaluate("() => [localStorage.length, sessionStorage.length]") == [0, 0]
    assert page.evaluate("() => document.cookie") == ""

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/account/signin"))
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    assert site.call("GET", "/auth/sessions/current", cookies=cookies).status_code == 401


def test_a_wrong_password_shows_the_apis_message(page: Page, site: Site) -> None:
    username = site.new_user()
    sign_in(page, site, username, "not the password at all")
    expect(page.get_by_role("alert")).to_have_text("unmatched username and password")
    assert page.url.startswith(site.page("signin"))


def test_sign_in_with_the_keyboard_alone(page: Page, site: Site) -> None:
    username = site.new_user()
    page.goto(site.page("signin"))
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "username"
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    signed_in_as(page, site, username)


@pytest.mark.parametrize("name", ["signin", "signup"])
def test_a_password_typed_before_the_pages_script_runs_never_goes_in_a_url(
    page: Page, site: Site, name: str
) -> None:
    username = site.new_user() if name == "signin" else f"early{time.monotonic_ns() % 10**8}"
    # The page's module held back, as on a slow network: its form is there, its handler not.
    held: list[Route] = []
    page.route(
        re.compile(rf"/account/static/[^/]+/{name}\.js$"),
        lambda route: route.continue_() if held else held.append(route),
    )
    requests: list[Request] = []
    page.on("request", lambda request: requests.append(request))
    page.goto(site.page(name), wait_until="commit")
    password = page.get_by_label("Password", exact=True)
    page.get_by_label("Username").fill(username)
    password.fill(PASSWORD)
    # Enter, as a person or a password manager would: the form's submit button is disabled
    # until the module handles it, so there is no implicit submission, GET or other.
    password.press("Enter")
    submit = page.get_by_role("button", name="Sign in" if name == "signin" else "Sign up", exact=True)
    held[0].continue_()
    expect(submit).to_be_enabled()
    # Nothing typed was lost, and now Enter signs in, in a JSON body.
    expect(password).to_have_value(PASSWORD)
    password.press("Enter")
    page.wait_for_url(site.page(""))
    documents = [(request.method, request.url) for request in requests if request.resource_type == "document"]
    assert documents == [("GET", site.page(name)), ("GET", site.page(""))]
    expect(page.get_by_text(f"Signed in as {username}")).to_be_visible()
    for request in requests:
        assert "password=" not in request.url
        assert quote(PASSWORD) not in request.url and quote_plus(PASSWORD) not in request.url


def test_sign_in_asks_for_the_authentication_code_next(page: Page, site: Site) -> None:
    username = site.new_user()
    secret, _ = enrol_totp(site, username)
    sign_in(page, site, username)
    code_field = page.get_by_label("Authentication code")
    expect(code_field).to_be_visible()
    expect(page.get_by_label("Recovery code")).to_be_visible()
    # The first step is gone: its inputs are not there to be filled again, and the password
    # is not kept in the page while the code is asked.
    expect(page.get_by_label("Password", exact=True)).to_be_hidden()
    expect(page.locator("#password")).to_have_value("")
    code_field.fill("000000" if unspent_code(secret) != "000000" else "111111")
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("alert")).to_contain_text("code")
    code_field.fill(unspent_code(secret))
    page.get_by_role("button", name="Verify").click()
    signed_in_as(page, site, username)


def test_a_recovery_code_passes_the_second_step_once(page: Page, browser: Browser, site: Site) -> None:
    username = site.new_user()
    _, recovery_codes = enrol_totp(site, username)
    sign_in(page, site, username)
    page.get_by_label("Recovery code").fill(recovery_codes[0])
    page.get_by_role("button", name="Verify").click()
    signed_in_as(page, site, username)

    again = browser.new_context()
    try:
        other = again.new_page()
        sign_in(other, site, username)
        other.get_by_label("Recovery code").fill(recovery_codes[0])
        other.get_by_role("button", name="Verify").click()
        expect(other.get_by_role("alert")).to_be_visible()
        assert other.url.startswith(site.page("signin"))
    finally:
        again.close()


def test_the_account_page_sends_a_signed_out_visitor_to_sign_in(page: Page, site: Site) -> None:
    page.goto(site.page(""))
    page.wait_for_url(re.compile(r"/account/signin$"))
    page.goto(site.origin + "/account")
    page.wait_for_url(re.compile(r"/account/signin$"))


# -- the account page ---------------------------------------------------------------------------


def test_sessions_show_device_and_browser_and_one_is_revoked(page: Page, site: Site) -> None:
    username = site.new_user()
    elsewhere = site.session(username, headers={"User-Agent": UA_FIREFOX})
    assert elsewhere.status_code == 200
    sign_in(page, site, username)
    signed_in_as(page, site, username)
    rows = page.locator("#logins li")
    expect(rows).to_have_count(2)
    firefox = rows.filter(has_text="Firefox")
    expect(firefox).to_contain_text("Linux")
    expect(firefox).to_contain_text("Browser session")
    firefox.get_by_role("button", name="Revoke").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Chrom")
    assert site.call("GET", "/auth/sessions/current", cookies=elsewhere.cookies).status_code == 401
    # This browser's own session is the one left.
    page.reload()
    signed_in_as(page, site, username)


def test_a_token_is_shown_once_works_and_is_revoked(page: Page, site: Site) -> None:
    username = signed_in_user(page, site)
    page.get_by_label("Token description").fill("deploys")
    page.get_by_role("button", name="Create token").click()
    shown = page.get_by_test_id("new-token")
    expect(shown).to_have_text(re.compile(r"^memos_pat_[0-9A-Za-z]{32}$"))
    token = shown.inner_text()
    me = site.call("GET", "/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["user"]["username"] == username
    row = page.locator("#tokens li", has_text="deploys")
    expect(row).to_contain_text("expires")
    expect(page.get_by_role("button", name="Copy").first).to_be_visible()
    # Shown once: the page after a reload lists the token, not its value.
    page.reload()
    expect(row).to_be_visible()
    expect(page.get_by_test_id("new-token")).to_be_hidden()
    assert token not in page.content()
    row.get_by_role("button", name="Revoke").click()
    expect(row).to_have_count(0)
    assert site.call("GET", "/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_change_password(page: Page, site: Site) -> None:
    username = signed_in_user(page, site)
    page.get_by_label("Current password").fill("not my password")
    page.get_by_label("New password").fill("a far better passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-error")).to_have_text("current password is incorrect")
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password").fill("a far better passphrase")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#password-error")).to_contain_text("Password changed")
    assert site.session(username).status_code == 400
    assert site.session(username, "a far better passphrase").status_code == 200


def test_enable_two_factor_from_the_qr_code_then_disable_it(
    page: Page, site: Site, screenshots: Path
) -> None:
    username = signed_in_user(page, site, "alice")
    page.get_by_role("button", name="Enable two-factor authentication").click()
    expect(page.get_by_test_id("totp-secret")).to_have_text(re.compile(r"^[A-Z2-7]{32,}$"))
    secret = page.get_by_test_id("totp-secret").inner_text()
    qr = page.get_by_role("img", name="QR code of your two-factor secret")
    expect(qr).to_be_visible()
    assert qr.get_attribute("src", timeout=1000).startswith("data:image/svg+xml")
    # The image decoded under the page's CSP (img-src data:).
    assert page.evaluate("() => document.querySelector('#totp-qr').naturalWidth") > 0
    page.get_by_label("Authentication code").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Confirm").click()
    codes = page.get_by_test_id("recovery-codes")
    expect(codes).to_be_visible()
    recovery_codes = codes.inner_text().split()
    assert len(recovery_codes) == 10 and len(set(recovery_codes)) == 10
    expect(page.get_by_text("Two-factor authentication is on")).to_be_visible()
    page.screenshot(path=str(screenshots / "account.png"), full_page=True)
    status = site.call("GET", f"/users/{username}/totp", headers=site.bearer("admin"))
    assert status.json() == {"enabled": True, "recoveryCodesLeft": 10}
    # Shown once: not after a reload.
    page.reload()
    expect(page.get_by_text("Two-factor authentication is on")).to_be_visible()
    expect(page.get_by_test_id("recovery-codes")).to_be_hidden()
    for code in recovery_codes:
        assert code not in page.content()

    page.get_by_role("button", name="Disable two-factor authentication").click()
    expect(page.get_by_text("Two-factor authentication is off.", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Enable two-factor authentication")).to_be_visible()
    # No second step any more.
    assert site.session(username).status_code == 200


# -- the admin page -----------------------------------------------------------------------------


@pytest.fixture
def admin_page(page: Page, site: Site) -> Page:
    sign_in(page, site, "admin")
    signed_in_as(page, site, "admin")
    page.get_by_role("link", name="Administration").click()
    page.wait_for_url(site.page("admin"))
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    return page


def test_admin_lists_users_archives_and_restores_one(admin_page: Page, site: Site) -> None:
    username = site.new_user("carol")
    admin_page.reload()
    row = admin_page.locator(f'#users li[data-user="{username}"]')
    expect(row).to_contain_text("User, active")
    expect(admin_page.locator('#users li[data-user="admin"]')).to_contain_text("Admin")
    row.get_by_role("button", name="Archive").click()
    expect(row).to_contain_text("archived")
    assert site.session(username).status_code == 403
    row.get_by_role("button", name="Restore").click()
    expect(row).to_contain_text("active")
    assert site.session(username).status_code == 200


def test_admin_changes_a_role(admin_page: Page, site: Site) -> None:
    username = site.new_user("dave")
    admin_page.reload()
    row = admin_page.locator(f'#users li[data-user="{username}"]')
    row.get_by_role("button", name="Make admin").click()
    expect(row).to_contain_text("Admin, active")
    auth = site.bearer("admin")
    assert site.call("GET", f"/users/{username}", headers=auth).json()["role"] == "ADMIN"
    row.get_by_role("button", name="Make user").click()
    expect(row).to_contain_text("User, active")
    assert site.call("GET", f"/users/{username}", headers=auth).json()["role"] == "USER"
    # An admin cannot demote or archive themself from here.
    own = admin_page.locator('#users li[data-user="admin"]')
    expect(own.get_by_role("button", name="Make user")).to_be_disabled()


def test_admin_turns_registration_off_and_sign_up_says_so(
    admin_page: Page, browser: Browser, site: Site, screenshots: Path
) -> None:
    switch = admin_page.get_by_label("Disallow user registration")
    expect(switch).not_to_be_checked()
    # The whole page, once its last section (the identity providers) has loaded.
    expect(admin_page.locator("#idps li").first).to_be_visible()
    expect(admin_page.get_by_role("button", name="Add identity provider")).to_be_visible()
    admin_page.wait_for_load_state("networkidle")
    admin_page.screenshot(path=str(screenshots / "admin.png"), full_page=True)
    switch.check()
    admin_page.get_by_role("button", name="Save settings").click()
    expect(admin_page.get_by_text("Settings saved.")).to_be_visible()
    try:
        assert site.call("GET", "/instance/settings").json()["disallowUserRegistration"] is True
        visitor = browser.new_context()
        try:
            signup = visitor.new_page()
            signup.goto(site.page("signup"))
            signup.get_by_label("Username").fill("latecomer")
            signup.get_by_label("Password").fill(PASSWORD)
            signup.get_by_role("button", name="Sign up").click()
            expect(signup.get_by_role("alert")).to_have_text("user registration is not allowed")
        finally:
            visitor.close()
        admin_page.reload()
        expect(admin_page.get_by_label("Disallow user registration")).to_be_checked()
    finally:
        body = {"disallowUserRegistration": False}
        site.call("PATCH", "/instance/settings", json=body, headers=site.bearer("admin"))


def test_a_user_is_sent_from_the_admin_page_to_their_account(page: Page, site: Site) -> None:
    username = signed_in_user(page, site)
    expect(page.get_by_role("link", name="Administration")).to_be_hidden()
    page.goto(site.page("admin"))
    signed_in_as(page, site, username)


# -- headers, screens and colours ---------------------------------------------------------------


def test_headers_of_pages_and_static_files(page: Page, site: Site, screenshots: Path) -> None:
    static: list[Response] = []
    page.on("response", lambda response: static.append(response) if "/static/" in response.url else None)
    answer = page.goto(site.page("signin"))
    assert answer is not None and answer.status == 200
    headers = answer.headers
    policy = headers["content-security-policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert headers["cache-control"] == "no-store"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-type"] == "text/html; charset=utf-8"
    page.wait_for_load_state("networkidle")
    names = {response.url.rsplit("/", 1)[1] for response in static}
    assert {"style.css", "signin.js", "api.js", "sign-in-steps.js", "providers.js", "webauthn.js"} <= names
    for response in static:
        assert response.status == 200
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert re.search(r"/account/static/[0-9a-f]{16}/", response.url)
        expected = "text/css" if response.url.endswith(".css") else "text/javascript"
        assert response.headers["content-type"].startswith(expected)
    # The API keeps its own no-store answers.
    assert site.call("GET", "/instance/settings").headers["Cache-Control"] == "no-store"
    assert site.call("GET", "/../account/nothing").status_code == 404
    page.screenshot(path=str(screenshots / "signin.png"))


def test_no_path_escapes_the_pages(site: Site) -> None:
    import http.client

    host, port = site.origin.removeprefix("http://").split(":")
    for path in (
        "/account/static/../../handlers/account_pages.py",
        "/account/static/%2e%2e/%2e%2e/handlers/account_pages.py",
        "/account/..%2f..%2fsrc%2fhandlers%2faccount_pages.py",
        "/account/static/x/..%5c..%5cpages%5csignin.html",
    ):
        connection = http.client.HTTPConnection(host, int(port), timeout=10)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
        finally:
            connection.close()
        assert response.status == 404, path
        assert b"def handler" not in body and b"<!doctype" not in body


def test_the_account_page_fits_a_375_pixel_screen(browser: Browser, site: Site, screenshots: Path) -> None:
    narrow = browser.new_context(viewport={"width": 375, "height": 812}, color_scheme="dark")
    try:
        page = narrow.new_page()
        signed_in_user(page, site)
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 375
        revoke = page.locator("#logins li").first.get_by_role("button", name="Revoke")
        box = revoke.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 375
        # Dark colours from prefers-color-scheme.
        background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert background == "rgb(18, 21, 27)"
        page.screenshot(path=str(screenshots / "account-375-dark.png"))
    finally:
        narrow.close()


def test_light_colours_by_default(page: Page, site: Site) -> None:
    page.goto(site.page("signin"))
    assert page.evaluate("() => getComputedStyle(document.body).backgroundColor") == "rgb(246, 247, 249)"


# -- cross-site requests ---------------------------------------------------------------------------


class _Attacker(BaseHTTPRequestHandler):
    target = ""

    def do_GET(self) -> None:
        page = (
            "<!doctype html><title>Win a prize</title>"
            f'<form method="post" action="{self.target}/api/v1/auth/signout">'
            "<button>Claim your prize</button></form>"
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        self.wfile.write(page)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def attacker(site: Site) -> Iterator[str]:
    """A page on another port of localhost: another origin of the same site."""
    handler = type("Attacker", (_Attacker,), {"target": site.origin})
    with serving(ThreadingHTTPServer(("127.0.0.1", 0), handler)) as server:
        yield f"http://localhost:{server.server_address[1]}/"


def test_a_cross_site_post_with_the_session_cookie_is_refused(
    page: Page, context: BrowserContext, site: Site, attacker: str
) -> None:
    username = signed_in_user(page, site)
    cookies = cookie_header(context)
    evil = context.new_page()
    evil.goto(attacker)
    with evil.expect_navigation():
        evil.get_by_role("button", name="Claim your prize").click()
    # SameSite=Lax lets the cookie ride along (same site), Sec-Fetch-Site says same-site:
    # the authorizer refuses, and the session lives on.
    assert "Forbidden" in evil.content()
    evil.close()
    assert site.call("GET", "/auth/sessions/current", cookies=cookies).status_code == 200
    page.reload()
    signed_in_as(page, site, username)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-site"}, 403),
        ({"Origin": "https://evil.example"}, 403),
        ({"Sec-Fetch-Site": "same-origin"}, 200),
        ({}, 200),
    ],
)
def test_cookie_requests_from_elsewhere_are_refused_over_http(
    site: Site, headers: dict[str, str], status: int
) -> None:
    username = site.new_user()
    session = site.session(username).cookies
    ended = site.call("DELETE", "/auth/sessions/current", cookies=session, headers=headers)
    assert ended.status_code == status
    assert site.call("GET", "/auth/sessions/current", cookies=session).status_code == (
        401 if status == 200 else 200
    )
    body = {"passwordCredentials": {"username": username, "password": PASSWORD}}
    refresh = site.call("POST", "/auth/signin", json=body).cookies
    refreshed = site.call("POST", "/auth/refresh", cookies=refresh, headers=headers)
    assert refreshed.status_code == status, refreshed.text


def test_admin_adds_edits_and_deletes_an_identity_provider(
    admin_page: Page, browser: Browser, site: Site
) -> None:
    admin_page.get_by_label("Title").fill("Example SSO")
    admin_page.get_by_label("Client ID").fill("memos-auth")
    admin_page.get_by_label("Client secret").fill("a client secret of some length")
    admin_page.get_by_label("Authorization URL").fill("https://sso.example.com/authorize")
    admin_page.get_by_label("Token URL").fill("https://sso.example.com/token")
    admin_page.get_by_label("User info URL").fill("https://sso.example.com/userinfo")
    admin_page.get_by_label("Scopes").fill("profile email")
    admin_page.get_by_label("Identifier field").fill("login")
    admin_page.get_by_label("Client authentication").select_option("client_secret_basic")
    admin_page.get_by_role("button", name="Add identity provider").click()
    row = admin_page.locator("#idps li", has_text="Example SSO")
    expect(row).to_contain_text("https://sso.example.com/authorize")
    (provider,) = [p for p in site.call("GET", "/identity-providers").json()["identityProviders"]]
    assert provider["config"]["oauth2Config"]["fieldMapping"]["identifier"] == "login"
    assert provider["config"]["oauth2Config"]["authStyle"] == "client_secret_basic"
    assert "clientSecret" not in provider["config"]["oauth2Config"]
    try:
        # The sign-in page offers it.
        visitor = browser.new_context()
        try:
            signin = visitor.new_page()
            signin.goto(site.page("signin"))
            expect(signin.get_by_role("button", name="Sign in with Example SSO")).to_be_visible()
        finally:
            visitor.close()
        row.get_by_role("button", name="Edit").click()
        expect(admin_page.get_by_label("Client authentication")).to_have_value("client_secret_basic")
        admin_page.get_by_label("Title").fill("Example single sign-on")
        admin_page.get_by_role("button", name="Save identity provider").click()
        expect(admin_page.locator("#idps li", has_text="Example single sign-on")).to_be_visible()
        titles = [p["title"] for p in site.call("GET", "/identity-providers").json()["identityProviders"]]
        assert titles == ["Example single sign-on"]
    finally:
        admin_page.locator("#idps li", has_text="Example").get_by_role("button", name="Delete").click()
    expect(admin_page.get_by_text("No identity providers.")).to_be_visible()
    assert site.call("GET", "/identity-providers").json()["identityProviders"] == []
