"""Passkeys on the account pages (SPEC §7, §10) in headless Chromium, with Chrome's virtual
authenticator standing in for a laptop's: add one, be refused a second from the same
device, remove one, sign in with a passkey alone and as the second step, and a ceremony
that fails. The relying party is `localhost`, so the pages are opened at localhost.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.browser.conftest import (
    Site,
    VirtualAuthenticator,
    cookie_header,
    sign_in,
    signed_in_as,
    signed_in_user,
)
from tests.browser.test_account_pages import enrol_totp
from tests.support.factors import unspent_code

pytestmark = pytest.mark.e2e


def add_passkey(page: Page, name: str) -> None:
    page.get_by_label("Passkey name").fill(name)
    page.get_by_role("button", name="Add a passkey").click()


def passkeys_of(site: Site, username: str) -> list[dict[str, object]]:
    answer = site.call("GET", f"/users/{username}/passkeys", headers=site.bearer("admin"))
    assert answer.status_code == 200, answer.text
    listed: list[dict[str, object]] = answer.json()["passkeys"]
    return listed


def with_a_passkey(page: Page, site: Site, totp: bool = False, name: str = "Laptop") -> str:
    """A new user (with TOTP on too, when `totp`) who signed in here and added a passkey to
    this tab's authenticator, then signed out."""
    username = site.new_user("pk")
    # TOTP first: once a passkey is there, a password alone no longer signs in.
    secret = enrol_totp(site, username)[0] if totp else ""
    sign_in(page, site, username)
    if totp:
        page.get_by_label("Authentication code").fill(unspent_code(secret))
        page.get_by_role("button", name="Verify").click()
    signed_in_as(page, site, username)
    add_passkey(page, name)
    expect(page.locator("#passkeys li", has_text=name)).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/account/signin"))
    return username


def session_amr(site: Site, context: BrowserContext) -> list[str]:
    answer = site.call("GET", "/auth/sessions/current", cookies=cookie_header(context))
    assert answer.status_code == 200, answer.text
    amr: list[str] = answer.json()["amr"]
    return amr


def test_add_a_passkey_then_a_second_from_the_same_device_is_refused_then_remove_it(
    page: Page, site: Site, authenticator: VirtualAuthenticator
) -> None:
    username = signed_in_user(page, site, "pk")
    expect(page.get_by_text("No passkeys yet.")).to_be_visible()
    add_passkey(page, "Work laptop")
    row = page.locator("#passkeys li", has_text="Work laptop")
    expect(row).to_contain_text("last used never")
    (stored,) = passkeys_of(site, username)
    assert stored["displayName"] == "Work laptop"
    (held,) = authenticator.credentials()
    assert held["isResidentCredential"] is True and held["rpId"] == "localhost"

    # The same authenticator again: its passkey is in excludeCredentials, the browser refuses.
    add_passkey(page, "Again")
    refused = "This device already holds a passkey for your account."
    expect(page.locator("#passkeys-error")).to_have_text(refused)
    expect(page.locator("#passkeys li")).to_have_count(1)
    assert len(passkeys_of(site, username)) == 1 and len(authenticator.credentials()) == 1

    row.get_by_role("button", name="Remove").click()
    expect(page.get_by_text("No passkeys yet.")).to_be_visible()
    assert passkeys_of(site, username) == []


def test_sign_in_with_a_passkey_alone_is_two_factors_and_asks_no_second_step(
    page: Page, context: BrowserContext, site: Site, authenticator: VirtualAuthenticator
) -> None:
    # Even with TOTP on, a verified passkey is two factors already.
    username = with_a_passkey(page, site, totp=True)
    page.get_by_role("button", name="Sign in with a passkey").click()
    signed_in_as(page, site, username)
    assert session_amr(site, context) == ["hwk", "mfa"]
    expect(page.locator("#passkeys li", has_text="Laptop")).not_to_contain_text("last used never")


def test_a_passkey_as_the_second_step_after_the_password(
    page: Page, context: BrowserContext, site: Site, authenticator: VirtualAuthenticator
) -> None:
    username = with_a_passkey(page, site, totp=True)
    sign_in(page, site, username)
    expect(page.get_by_label("Authentication code")).to_be_visible()
    # The first step's passkey button is gone with the first step: only the second step's.
    passkey = page.get_by_role("button", name="Sign in with a passkey")
    expect(passkey).to_have_count(1)
    passkey.click()
    signed_in_as(page, site, username)
    assert session_amr(site, context) == ["pwd", "hwk", "mfa"]


def test_a_ceremony_without_user_verification_signs_no_one_in(
    page: Page, context: BrowserContext, site: Site, authenticator: VirtualAuthenticator
) -> None:
    with_a_passkey(page, site)
    authenticator.user_verifies(False)
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("alert")).to_have_text("The passkey request was cancelled or timed out.")
    assert page.url.startswith(site.page("signin"))
    assert site.call("GET", "/auth/sessions/current", cookies=cookie_header(context)).status_code == 401


def test_a_device_with_no_passkey_signs_no_one_in(
    page: Page, context: BrowserContext, site: Site, authenticator: VirtualAuthenticator
) -> None:
    with_a_passkey(page, site)
    authenticator.forget_all()
    page.get_by_role("button", name="Sign in with a passkey").click()
    expect(page.get_by_role("alert")).to_have_text("The passkey request was cancelled or timed out.")
    assert site.call("GET", "/auth/sessions/current", cookies=cookie_header(context)).status_code == 401
