"""Calls to identity providers (SPEC §8 "Outbound calls"): the one place this service makes
an HTTP request of its own.

Through urllib3 (maintained, already in every package through botocore; pinned in
src/requirements.txt) with:
- `https` only, except on the local stage, where test providers listen on 127.0.0.1;
- no redirect followed and no retry (a token request must never be sent twice, nor to
  wherever a provider's answer points);
- a response-size cap (MAX_RESPONSE_BYTES), read in pieces so a huge answer is never held;
- timeouts: each call's connect and read waits, and one deadline shared by every call a
  sign-in makes (discovery, token, keys, userinfo), so a slow provider is a 503 (code 14)
  within `OUTBOUND_BUDGET_SECONDS`, well inside the API function's timeout together with
  the DynamoDB budget of auth.aws (tests/devstack/test_call_budgets.py holds them to it).

A provider that cannot be reached, hangs or answers too much is ProviderUnavailable (503);
what its answers mean is the caller's business (auth.provider_protocol).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error

from auth.errors import Unavailable

MAX_RESPONSE_BYTES = 1024 * 1024
CONNECT_SECONDS = 1.0
# A provider's answer may pause this long between two pieces; then it is slow.
READ_SECONDS = 1.0
# Every provider call of one sign-in together.
DEADLINE_SECONDS = 3.0
# Worst case of one sign-in's provider calls: a read that starts just before the deadline
# waits its full read timeout.
OUTBOUND_BUDGET_SECONDS = DEADLINE_SECONDS + READ_SECONDS
_CHUNK = 64 * 1024
USER_AGENT = "memos-auth"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class ProviderUnavailable(Unavailable):
    default_message = "identity provider unavailable"


@dataclass(frozen=True)
class HttpAnswer:
    """A provider's whole answer, whatever its status: the media type alone (lowercase, no
    parameters) and a body of at most MAX_RESPONSE_BYTES."""

    status: int
    content_type: str
    body: bytes


@dataclass(frozen=True)
class Timeouts:
    """Injectable so that tests see a stalled provider fail in a fraction of a second."""

    connect: float = CONNECT_SECONDS
    read: float = READ_SECONDS
    deadline: float = DEADLINE_SECONDS


class Deadline:
    """The time left for one sign-in's provider calls."""

    def __init__(self, seconds: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._monotonic = monotonic
        self._ends = monotonic() + seconds

    def left(self) -> float:
        left = self._ends - self._monotonic()
        if left <= 0:
            raise ProviderUnavailable("identity provider too slow")
        return left


def check_url(url: str, allow_http: bool) -> str | None:
    """Why `url` may not be called (None when it may): an absolute https URL with a host,
    http too where `allow_http` (the local stage), no credentials in it."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        return "is not a valid URL"
    allowed = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in allowed:
        return "must be an https URL" if not allow_http else "must be an http(s) URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not hold credentials"
    return None


class OutboundHttp:
    def __init__(self, allow_http: bool, timeouts: Timeouts | None = None) -> None:
        self.allow_http = allow_http
        self.timeouts = timeouts or Timeouts()
        # One pool per container: a warm container reuses its TLS connections.
        self._pool = urllib3.PoolManager(retries=False, headers={"User-Agent": USER_AGENT})

    def deadline(self) -> Deadline:
        return Deadline(self.timeouts.deadline)

    def get(self, url: str, deadline: Deadline, headers: Mapping[str, str] | None = None) -> HttpAnswer:
        return self._call("GET", url, deadline, headers or {}, None)

    def post_form(
        self,
        url: str,
        fields: Mapping[str, str],
        deadline: Deadline,
        headers: Mapping[str, str] | None = None,
    ) -> HttpAnswer:
        from urllib.parse import urlencode

        sent = {**(headers or {}), "Content-Type": "application/x-www-form-urlencoded"}
        return self._call("POST", url, deadline, sent, urlencode(fields).encode("ascii"))

    def _call(
        self, method: str, url: str, deadline: Deadline, headers: Mapping[str, str], body: bytes | None
    ) -> HttpAnswer:
        problem = check_url(url, self.allow_http)
        if problem is not None:
            # Never reached by the provider's URLs: checked when saved, and a discovery
            # document's when it is read (auth.provider_protocol). The last guard still.
            raise ProviderUnavailable(f"identity provider URL {problem}")
        if any(_CONTROL.search(value) for value in headers.values()):
            # Never reached either (auth.provider_protocol checks the access token it sends);
            # urllib3 would raise with the header, the token in it, in its message.
            raise ProviderUnavailable("a header for the identity provider is not valid")
        left = deadline.left()
        timeout = urllib3.Timeout(
            connect=min(self.timeouts.connect, left), read=min(self.timeouts.read, left)
        )
        try:
            response = self._pool.request(
                method,
                url,
                body=body,
                headers={"Accept": "application/json", **headers},
                timeout=timeout,
                redirect=False,
                preload_content=False,
            )
            finished = False
            try:
                declared = response.headers.get("Content-Length")
                if declared is not None and declared.isdigit() and int(declared) > MAX_RESPONSE_BYTES:
                    raise ProviderUnavailable("identity provider answered too much")
                pieces: list[bytes] = []
                size = 0
                while True:
                    deadline.left()
                    piece = response.read1(_CHUNK)
                    if not piece:
                        break
                    size += len(piece)
                    if size > MAX_RESPONSE_BYTES:
                        raise ProviderUnavailable("identity provider answered too much")
                    pieces.append(piece)
                finished = True
            finally:
                # A connection left in the middle of an answer cannot be reused.
                if finished:
                    response.release_conn()
                else:
                    response.close()
        except Urllib3Error as exc:
            raise ProviderUnavailable() from exc
        except OSError as exc:
            raise ProviderUnavailable() from exc
        content_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        return HttpAnswer(response.status, content_type, b"".join(pieces))
