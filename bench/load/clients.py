"""The Locust user: one signed-up Memos user signing in, refreshing, calling /auth/me with
each credential kind, creating and deleting personal access tokens, and probing with
credentials that must be refused."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import requests
from locust import HttpUser, constant, task
from locust.clients import ResponseContextManager

from bench.load.ledger import Answer, Ledger

PASSWORD = "correct horse battery"
REFRESH_COOKIE = "memos_refresh"
SESSION_COOKIE = "user_session"
# Live PATs a client keeps at most: then it deletes instead (the API allows 99).
MAX_LIVE_PATS = 5
# Longer than any answer (the function timeout is 10 s): a request that hangs past it is a
# failure of its own, not a stuck client.
CLIENT_TIMEOUT_SECONDS = 30.0


def _is_gateway_answer(response: requests.Response) -> bool:
    """API Gateway's own answers are {"message": ...}; the function's carry a code too."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and set(body) == {"message"}


class LoadClient(HttpUser):
    """Closed loop, no think time: the run measures what the stack can answer."""

    wait_time = constant(0)
    # Set by the runner before it starts Locust: the shared ledger and who is next.
    ledger: ClassVar[Ledger]
    assigned: ClassVar[Iterator[int]] = itertools.count()

    def on_start(self) -> None:
        self.me = self.ledger.clients[next(self.assigned) % len(self.ledger.clients)]
        # Credentials go explicitly with each request, never from the session's cookie jar,
        # so that each /auth/me call carries exactly the credential it is named after.
        self.client.cookies.clear()
        while not self.me.families:
            self.sign_in()
        while not self.me.session_cookie:
            self.start_session()

    # -- one request -------------------------------------------------------------------------

    def call(
        self,
        name: str,
        method: str,
        path: str,
        expected: frozenset[int] = frozenset({200}),
        must_fail: bool = False,
        **kwargs: Any,
    ) -> requests.Response:
        started = time.time()
        with self.client.request(
            method,
            path,
            name=name,
            catch_response=True,
            timeout=CLIENT_TIMEOUT_SECONDS,
            allow_redirects=False,
            **kwargs,
        ) as answered:
            # What Locust yields (a requests.Response that can be marked), typed as such.
            response: ResponseContextManager = answered
            if response.status_code in expected:
                response.success()
            else:
                response.failure(f"HTTP {response.status_code}")
        self.client.cookies.clear()
        self.ledger.answers.append(
            Answer(
                name=name,
                start=started,
                seconds=time.time() - started,
                status=response.status_code,
                expected=expected,
                must_fail=must_fail,
                from_gateway=_is_gateway_answer(response),
            )
        )
        return response

    def bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    # -- the client's steps ------------------------------------------------------------------

    def sign_in(self) -> None:
        body = {"passwordCredentials": {"username": self.me.username, "password": PASSWORD}}
        response = self.call("POST /auth/signin", "POST", "/api/v1/auth/signin", json=body)
        if response.status_code == 200:
            self.me.signed_in(response.json()["accessToken"], response.cookies[REFRESH_COOKIE])

    def start_session(self) -> None:
        body = {"passwordCredentials": {"username": self.me.username, "password": PASSWORD}}
        response = self.call("POST /auth/sessions", "POST", "/api/v1/auth/sessions", json=body)
        if response.status_code == 200:
            self.me.session_cookie = response.cookies[SESSION_COOKIE]

    def do_refresh(self) -> None:
        cookies = {REFRESH_COOKIE: self.me.refresh}
        response = self.call("POST /auth/refresh", "POST", "/api/v1/auth/refresh", cookies=cookies)
        self.me.pending_refresh = response.status_code >= 500
        if response.status_code == 200:
            self.me.refreshed(response.json()["accessToken"], response.cookies[REFRESH_COOKIE])

    def do_delete_pat(self, token_id: str) -> None:
        response = self.call(
            "DELETE /users/{u}/personalAccessTokens/{id}",
            "DELETE",
            f"/api/v1/users/{self.me.username}/personalAccessTokens/{token_id}",
            # 404: a retry of a deletion whose answer was lost.
            expected=frozenset({200, 404}) if self.me.pending_delete else frozenset({200}),
            headers=self.bearer(self.me.access),
        )
        if response.status_code >= 500:
            self.me.pending_delete = token_id
            return
        self.me.pending_delete = ""
        if response.status_code in (200, 404):
            self.me.deleted_pats[token_id] = self.me.live_pats.pop(token_id)

    def retry_pending(self) -> bool:
        """Finish a step whose answer was lost first; True when there was one."""
        if self.me.pending_refresh:
            self.do_refresh()
            return True
        if self.me.pending_delete:
            self.do_delete_pat(self.me.pending_delete)
            return True
        return False

    # -- tasks (weights: mostly authenticated reads, as a note app's traffic is) ---------------

    @task(4)
    def me_with_access_token(self) -> None:
        if not self.retry_pending():
            self.call(
                "GET /auth/me [access token]", "GET", "/api/v1/auth/me", headers=self.bearer(self.me.access)
            )

    @task(3)
    def me_with_pat(self) -> None:
        if self.retry_pending():
            return
        if not self.me.live_pats:
            self.create_pat()
            return
        token = random.choice(list(self.me.live_pats.values()))
        self.call("GET /auth/me [PAT]", "GET", "/api/v1/auth/me", headers=self.bearer(token))

    @task(3)
    def me_with_session(self) -> None:
        if not self.retry_pending():
            cookies = {SESSION_COOKIE: self.me.session_cookie}
            self.call("GET /auth/me [session cookie]", "GET", "/api/v1/auth/me", cookies=cookies)

    @task(3)
    def refresh(self) -> None:
        if not self.retry_pending():
            self.do_refresh()

    @task(1)
    def sign_in_again(self) -> None:
        if not self.retry_pending():
            self.sign_in()

    @task(1)
    def create_pat(self) -> None:
        if self.retry_pending():
            return
        if len(self.me.live_pats) >= MAX_LIVE_PATS:
            self.delete_pat()
            return
        response = self.call(
            "POST /users/{u}/personalAccessTokens",
            "POST",
            f"/api/v1/users/{self.me.username}/personalAccessTokens",
            headers=self.bearer(self.me.access),
            json={"description": "load", "expiresInDays": 0},
        )
        if response.status_code == 200:
            created = response.json()
            token_id = created["personalAccessToken"]["name"].rsplit("/", 1)[-1]
            self.me.live_pats[token_id] = created["token"]

    @task(1)
    def delete_pat(self) -> None:
        if self.retry_pending():
            return
        if self.me.live_pats:
            self.do_delete_pat(random.choice(list(self.me.live_pats)))

    @task(1)
    def refused_credentials(self) -> None:
        """Credentials that must never pass: a deleted PAT, and a token that is none."""
        if self.retry_pending():
            return
        if self.me.deleted_pats:
            token = random.choice(list(self.me.deleted_pats.values()))
            name = "GET /auth/me [deleted PAT]"
        else:
            token, name = "memos_pat_" + "x" * 32, "GET /auth/me [garbage token]"
        self.call(
            name,
            "GET",
            "/api/v1/auth/me",
            expected=frozenset({401}),
            must_fail=True,
            headers=self.bearer(token),
        )
