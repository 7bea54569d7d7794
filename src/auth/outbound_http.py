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
  A read timeout bounds each wait for a piece only, so a provider trickling its answer a
  byte at a time would outlast any of them: when the deadline passes, a watchdog shuts
  the call's socket, whatever it is waiting for. A connection being made has no socket to
  shut yet, so each address a host resolves to gets only what is left of the deadline,
  and none is tried once it has passed;
- public addresses only, except on the local stage: every address a provider's host
  resolves to is checked when the connection is made, and the connection goes to the
  address checked (no second lookup a changed DNS answer could redirect), so no
  provider URL, nor any a discovery document names, reaches 127.0.0.1, the instance
  metadata's 169.254.169.254 or a private network.

A provider that cannot be reached, hangs or answers too much is ProviderUnavailable (503);
what its answers mean is the caller's business (auth.provider_protocol).
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util.connection import create_connection

from auth import deadline as deadlines
from auth.deadline import Deadline
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
# What a sign-in still does after its provider answered (a few storage calls), kept from the
# provider's share of a request running out of time (auth.deadline).
AFTER_PROVIDER_SECONDS = 2.5
_CHUNK = 64 * 1024
USER_AGENT = "memos-auth"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Anywhere in a URL: urllib3 refuses some of these only when called (a 503 for what is the
# URL's fault), and would send others to the provider as they are.
_NOT_IN_URL = re.compile(r"[\s\x00-\x1f\x7f-\x9f]")
# A host name's label (RFC 1123 §2.1), lowercase as urlsplit gives it.
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
_MAX_NAME_CHARS = 253


class ProviderUnavailable(Unavailable):
    default_message = "identity provider unavailable"


def provider_deadline(seconds: float, monotonic: Callable[[], float] = time.monotonic) -> Deadline:
    """A deadline for provider calls: once passed, the provider is too slow (a 503)."""
    return Deadline(seconds, monotonic, too_slow=lambda: ProviderUnavailable("identity provider too slow"))


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


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address `text` is written as (an IPv6 zone dropped); None for a name."""
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


# IPv6 prefixes that carry an IPv4 address in their last 32 bits and reach it: NAT64's
# well-known prefix (RFC 6052, through a NAT64 gateway) and the deprecated IPv4-compatible form.
_EMBEDDING_PREFIXES = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("::/96"))


def is_public(address: str) -> bool:
    """Whether an IP address is on the public Internet: not loopback, private, link-local
    (the instance metadata), shared, reserved or multicast, nor one of those reached through
    IPv6 (IPv4-mapped, 6to4, NAT64 or IPv4-compatible)."""
    ip = _ip(address)
    if ip is None:
        raise ValueError(f"not an IP address: {address!r}")
    reached: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = [ip.ipv4_mapped, ip.sixtofour]
        embedded += [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) for net in _EMBEDDING_PREFIXES if ip in net]
        reached += [v4 for v4 in embedded if v4 is not None]
    return all(each.is_global and not each.is_multicast for each in reached)


def resolved_addresses(host: str, port: int, within: float | None, public_only: bool) -> list[str]:
    """The addresses `host` resolves to (only the public ones where `public_only`), looked
    up within `within` seconds: the C resolver has no timeout of its own, so it runs in a
    thread left behind when it is late. ProviderUnavailable when there is none to call."""
    found: list[list[str]] = []
    failed: list[OSError] = []

    def look_up() -> None:
        try:
            found.append(
                [str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]
            )
        except OSError as exc:
            failed.append(exc)

    resolver = threading.Thread(target=look_up, daemon=True)
    resolver.start()
    resolver.join(within)
    if failed:
        raise failed[0]
    if not found:
        raise ProviderUnavailable("identity provider too slow")
    addresses = [address for address in found[0] if not public_only or is_public(address)]
    if not addresses:
        raise ProviderUnavailable("identity provider address is not public")
    return addresses


def _is_host(host: str, bracketed: bool) -> bool:
    """Whether a URL's host (lowercase, brackets off) is an IPv6 literal, where it was
    bracketed, else a host name: dot-separated labels of ASCII letters, digits and inner
    hyphens (an IPv4 literal is one too), a final dot allowed."""
    if bracketed:
        return "%" not in host and isinstance(_ip(host), ipaddress.IPv6Address)
    name = host.removesuffix(".")
    return len(name) <= _MAX_NAME_CHARS and all(_LABEL.fullmatch(label) for label in name.split("."))


def check_url(url: str, allow_http: bool) -> str | None:
    """Why `url` may not be called (None when it may): an absolute https URL, http too where
    `allow_http` (the local stage), with no whitespace or control character, a host that is
    a host name or an IP literal, a port that can be connected to, no credentials in it,
    and, off the local stage, no address literal that is not public (a name is checked when
    it is called). So whatever passes, urllib3 can parse, and a URL's fault is never a 503."""
    if _NOT_IN_URL.search(url):
        return "is not a valid URL"
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError on a port that is not a number below 65536
    except ValueError:
        return "is not a valid URL"
    allowed = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in allowed:
        return "must be an https URL" if not allow_http else "must be an http(s) URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username is not None or parts.password is not None:
        return "must not hold credentials"
    if not parts.hostname.isascii():
        # urllib3 encodes such a name only with the `idna` package, which the functions do
        # not carry; Python's own codec is IDNA 2003, which maps some names to another one.
        return "must name its host in ASCII (an internationalised name in its xn-- form)"
    if not _is_host(parts.hostname, parts.netloc.rpartition("@")[2].startswith("[")):
        return "is not a valid URL"
    if port == 0:
        # Nothing can be connected to there: every call would be a 503.
        return "is not a valid URL"
    if not allow_http and _ip(parts.hostname) is not None and not is_public(parts.hostname):
        return "must name a public address"
    return None


class _Watch:
    """One call's connection, for the watchdog that ends it at the deadline, and the
    deadline, for the connection's waits."""

    def __init__(self, deadline: Deadline) -> None:
        self.deadline = deadline
        self.connection: HTTPConnection | None = None
        self.expired = False

    def cut(self) -> None:
        self.expired = True
        sock = getattr(self.connection, "sock", None)
        if sock is not None:
            # The plain socket's shutdown, under TLS too: the blocked read sees the end of
            # the stream, and the TLS object is left to the reading thread.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


# The watch of the call this thread is making (the pool below hands it the connection).
_calls = threading.local()


class _WatchedPool(HTTPConnectionPool):
    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        watch = getattr(_calls, "watch", None)
        if watch is not None:
            watch.connection = conn
        return super()._make_request(conn, *args, **kwargs)


class _Resolved(HTTPConnection):
    """A connection to an address its host resolves to, each one checked and then connected
    to (no second lookup a changed DNS answer could redirect), tried in turn as the resolver
    ordered them (an IPv6 address first where the network has no IPv6 route)."""

    public_only = True

    def _connect_wait(self) -> float | None:
        """The connect timeout, cut to what the call's deadline has left (ProviderUnavailable
        once it has passed): the watchdog has no socket to shut while one is being made, and
        every address of a name whose SYNs are dropped would otherwise wait it in full."""
        timeout = self.timeout if isinstance(self.timeout, (int, float)) else None
        watch: _Watch | None = getattr(_calls, "watch", None)
        return timeout if watch is None else watch.deadline.within(timeout)

    def _new_conn(self) -> socket.socket:
        error: OSError | None = None
        for address in resolved_addresses(self._dns_host, self.port, self._connect_wait(), self.public_only):
            try:
                return create_connection(
                    (address, self.port),
                    self._connect_wait(),
                    source_address=self.source_address,
                    socket_options=self.socket_options,
                )
            except OSError as exc:
                error = exc
        assert error is not None
        raise error


class _ResolvedTls(_Resolved, HTTPSConnection):
    pass


class _AnyAddress(_Resolved):
    # The local stage's test providers listen on 127.0.0.1.
    public_only = False


class _AnyAddressTls(_AnyAddress, HTTPSConnection):
    pass


class _WatchedTlsPool(_WatchedPool, HTTPSConnectionPool):
    pass


def _pools(plain: type[HTTPConnection], tls: type[HTTPSConnection]) -> dict[str, type[HTTPConnectionPool]]:
    return {
        "http": type("PlainPool", (_WatchedPool,), {"ConnectionCls": plain}),
        "https": type("TlsPool", (_WatchedTlsPool,), {"ConnectionCls": tls}),
    }


# urllib3's pool classes by scheme: off the local stage (public addresses only), and on it.
_PUBLIC_POOLS = _pools(_Resolved, _ResolvedTls)
_LOCAL_POOLS = _pools(_AnyAddress, _AnyAddressTls)


class OutboundHttp:
    def __init__(self, allow_http: bool, timeouts: Timeouts | None = None) -> None:
        self.allow_http = allow_http
        self.timeouts = timeouts or Timeouts()
        # One pool per container: a warm container reuses its TLS connections.
        self._pool = urllib3.PoolManager(retries=False, headers={"User-Agent": USER_AGENT})
        self._pool.pool_classes_by_scheme = _LOCAL_POOLS if allow_http else _PUBLIC_POOLS

    def deadline(self) -> Deadline:
        """One sign-in's provider calls together: DEADLINE_SECONDS, or, if that is less, what
        the request has left less the read a call may start just before it and the time the
        sign-in needs after its provider's answers (a spent code cannot be tried again)."""
        seconds = self.timeouts.deadline
        request = deadlines.current()
        if request is not None:
            seconds = min(seconds, request.remaining() - self.timeouts.read - AFTER_PROVIDER_SECONDS)
        return provider_deadline(seconds)

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
        watch = _calls.watch = _Watch(deadline)
        watchdog = threading.Timer(left, watch.cut)
        watchdog.daemon = True
        watchdog.start()
        try:
            return self._answer(method, url, deadline, headers, body, timeout)
        except (Urllib3Error, OSError) as exc:
            # A wait cut to the deadline may end just before the watchdog fires.
            if watch.expired or deadline.passed():
                raise ProviderUnavailable("identity provider too slow") from exc
            raise ProviderUnavailable() from exc
        finally:
            watchdog.cancel()
            _calls.watch = None

    def _answer(
        self,
        method: str,
        url: str,
        deadline: Deadline,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: urllib3.Timeout,
    ) -> HttpAnswer:
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
        content_type = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        return HttpAnswer(response.status, content_type, b"".join(pieces))
