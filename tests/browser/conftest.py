"""Browser fixtures: a local stack, one headless Chromium for the session, a context per test.

Chromium is Debian's (`make chromium` installs it), launched by path: Playwright's own
browser download cannot work here. The pages are opened at http://localhost:<port>, so a
second port on localhost is a same-site, cross-origin attacker (test_cross_site_*).
"""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect, sync_playwright

from devstack.stack import LocalStack
from tests.support.local_stacks import local_stack

PASSWORD = "correct horse battery"
# README's screenshots: `make screenshots` writes them there; `make test` makes them too (a
# page that cannot be drawn fails), into a folder of the run, so a test run leaves the
# working tree as it found it.
README_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
_names = itertools.count()
# A cold worker of the local stack (a new process, on a busy two-core machine) can take
# seconds to answer its first request: waits are bounded, but not by Playwright's 5 s.
expect.set_options(timeout=15_000)


def chromium_path() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None and Path("/usr/bin/chromium").exists():
        found = "/usr/bin/chromium"
    if found is None:
        pytest.fail("chromium is not installed: `make chromium` installs Debian's package")
    return found


class Site:
    """The stack as the pages' tests use it: URLs, and the API over plain HTTP."""

    def __init__(self, stack: LocalStack) -> None:
        port = stack.url.rsplit(":", 1)[1]
        self.origin = f"http://localhost:{port}"
        self.api = f"{self.origin}/api/v1"

    def page(self, name: str = "") -> str:
        return f"{self.origin}/account/{name}"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return requests.request(method, self.api + path, timeout=30, **kwargs)

    def new_user(self, prefix: str = "person") -> str:
        username = f"{prefix}{next(_names)}"
        answer = self.call("POST", "/users", json={"user": {"username": username, "password": PASSWORD}})
        assert answer.status_code == 200, answer.text
        return username

    def session(self, username: str, password: str = PASSWORD, **kwargs: Any) -> requests.Response:
        body = {"passwordCredentials": {"username": username, "password": password}}
        return self.call("POST", "/auth/sessions", json=body, **kwargs)

    def bearer(self, username: str, password: str = PASSWORD) -> dict[str, str]:
        body = {"passwordCredentials": {"username": username, "password": password}}
        answer = self.call("POST", "/auth/signin", json=body)
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['accessToken']}"}


@pytest.fixture(scope="session")
def stack() -> Iterator[LocalStack]:
    # A revoked session must fail on the very next request; the many sign-ins stay cheap.
    with local_stack() as running:
        yield running


@pytest.fixture(scope="session")
def site(stack: LocalStack) -> Site:
    served = Site(stack)
    # The first user of the stack is its admin.
    answer = served.call("POST", "/users", json={"user": {"username": "admin", "password": PASSWORD}})
    assert answer.json()["role"] == "ADMIN", answer.text
    return served


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("UPDATE_SCREENSHOTS") == "1":
        README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return README_SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as running:
        yield running


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    launched = playwright.chromium.launch(executable_path=chromium_path(), headless=True)
    yield launched
    launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    opened = browser.new_context(viewport={"width": 1100, "height": 900}, color_scheme="light")
    opened.set_default_timeout(15_000)
    yield opened
    opened.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A tab that fails the test on any script error or CSP violation of the pages."""
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    opened.on(
        "console",
        lambda message: (
            problems.append(f"console: {message.text}")
            if message.type == "error" and "Content Security Policy" in message.text
            else None
        ),
    )
    yield opened
    assert problems == []


def sign_in(page: Page, site: Site, username: str, password: str = PASSWORD) -> None:
    page.goto(site.page("signin"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def signed_in_as(page: Page, site: Site, username: str) -> None:
    page.wait_for_url(site.page(""))
    expect(page.get_by_text(f"Signed in as {username}")).to_be_visible()


def signed_in_user(page: Page, site: Site, prefix: str = "person") -> str:
    """A new user, signed in on the sign-in page and landed on their account page."""
    username = site.new_user(prefix)
    sign_in(page, site, username)
    signed_in_as(page, site, username)
    return username


def cookie_header(context: BrowserContext) -> dict[str, str]:
    """The browser's cookies, to make the same calls outside it."""
    return {cookie["name"]: cookie["value"] for cookie in context.cookies()}


class VirtualAuthenticator:
    """Chrome's virtual authenticator (DevTools protocol, WebAuthn domain) on one tab: a
    platform passkey store with user verification, as a laptop's would be."""

    def __init__(self, page: Page) -> None:
        self._cdp = page.context.new_cdp_session(page)
        self._cdp.send("WebAuthn.enable", {"enableUI": False})
        options = {
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": True,
            "hasUserVerification": True,
            "isUserVerified": True,
            "automaticPresenceSimulation": True,
        }
        self.id = self._cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})["authenticatorId"]

    def credentials(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._cdp.send("WebAuthn.getCredentials", {"authenticatorId": self.id})[
            "credentials"
        ]
        return found

    def user_verifies(self, verified: bool) -> None:
        self._cdp.send("WebAuthn.setUserVerified", {"authenticatorId": self.id, "isUserVerified": verified})

    def forget_all(self) -> None:
        self._cdp.send("WebAuthn.clearCredentials", {"authenticatorId": self.id})


@pytest.fixture
def authenticator(page: Page) -> VirtualAuthenticator:
    return VirtualAuthenticator(page)
