"""A real OpenID Connect provider for the tests: panva's `oidc-provider` (npm, pinned in
package.json) run by `server.mjs` on 127.0.0.1, and a user's way through its authorization
endpoint driven with plain HTTP (its development login and consent forms), so a test holds
a genuine authorization code, PKCE and nonce included, without a browser.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import selectors
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
import requests

from devstack.ports import free_port

ROOT = Path(__file__).resolve().parents[3]
SERVER = Path(__file__).with_name("server.mjs")
REDIRECT_URI = "https://client.example/callback"
POST_CLIENT = "memos-post"
BASIC_CLIENT = "memos-basic"
OTHER_CLIENT = "other-app"
READY_SECONDS = 30


def secret_of(client_id: str) -> str:
    return f"{client_id}-secret"


@dataclass(frozen=True)
class Pkce:
    """A PKCE pair (RFC 7636): the verifier the client keeps, and its S256 challenge."""

    verifier: str
    challenge: str

    @classmethod
    def new(cls) -> Pkce:
        verifier = secrets.token_urlsafe(48)
        digest = hashlib.sha256(verifier.encode("ascii")).digest()
        return cls(verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii"))


@dataclass(frozen=True)
class OidcProvider:
    issuer: str

    def account(self, account_id: str, **claims: object) -> str:
        """Sign-ins as `account_id` from now on carry these claims (and `sub` = the id)."""
        answer = requests.post(
            f"{self.issuer}/test/accounts", json={"id": account_id, "claims": claims}, timeout=5
        )
        answer.raise_for_status()
        return account_id

    def code(
        self,
        account_id: str,
        client_id: str = POST_CLIENT,
        scope: str = "openid profile email",
        pkce: Pkce | None = None,
        nonce: str | None = None,
    ) -> str:
        """An authorization code for `account_id`, as a browser would fetch it: the
        authorization request, the login form, the consent form, then the redirect."""
        session = requests.Session()
        params = {
            "client_id": client_id,
            "response_type": "code",
            "scope": scope,
            "redirect_uri": REDIRECT_URI,
            "state": secrets.token_urlsafe(8),
        }
        if pkce is not None:
            params |= {"code_challenge": pkce.challenge, "code_challenge_method": "S256"}
        if nonce is not None:
            params["nonce"] = nonce
        answer = session.get(f"{self.issuer}/auth", params=params, allow_redirects=False, timeout=5)
        for _ in range(10):
            location = answer.headers.get("Location", "")
            assert answer.status_code in (302, 303), (answer.status_code, answer.text[:500])
            if location.startswith(REDIRECT_URI):
                query = parse_qs(urlsplit(location).query)
                assert "code" in query, query
                return query["code"][0]
            page = session.get(urljoin(self.issuer, location), allow_redirects=False, timeout=5)
            if page.status_code in (302, 303):
                answer = page
                continue
            action = re.search(r'<form[^>]*action="([^"]+)"', page.text)
            prompt = re.search(r'name="prompt" value="(\w+)"', page.text)
            assert action and prompt, page.text[:500]
            form = {"prompt": prompt.group(1)}
            if prompt.group(1) == "login":
                form |= {"login": account_id, "password": "any"}
            answer = session.post(
                urljoin(self.issuer, action.group(1)), data=form, allow_redirects=False, timeout=5
            )
        raise AssertionError("the provider never redirected back with a code")


@contextmanager
def running_oidc_provider(redirect_uris: Sequence[str] = ()) -> Iterator[OidcProvider]:
    """oidc-provider on a free loopback port, its clients also accepting `redirect_uris`,
    stopped by its pid."""
    node = shutil.which("node")
    if node is None or not (ROOT / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("the tests' OpenID provider needs node and `npm ci` (package.json: oidc-provider)")
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own script, a port number, our URIs
        [node, str(SERVER), str(port), ",".join(redirect_uris)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(process.stdout, selectors.EVENT_READ)
            if not selector.select(timeout=READY_SECONDS):
                pytest.fail("the tests' OpenID provider did not start")
        line = process.stdout.readline().strip()
        assert line.startswith("ready "), line
        yield OidcProvider(line.removeprefix("ready "))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def oidc_provider() -> Iterator[OidcProvider]:
    with running_oidc_provider() as running:
        yield running
