"""auth.outbound_http: which addresses a provider call may reach, and a deadline that holds
however an answer trickles in."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from urllib3.util import parse_url
from urllib3.util.connection import create_connection

from auth import outbound_http
from auth.deadline import Deadline, request_deadline
from auth.outbound_http import (
    OutboundHttp,
    ProviderUnavailable,
    Timeouts,
    check_url,
    is_public,
    provider_deadline,
)
from tests.support.clock import FakeClock
from tests.support.http_servers import serving


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "169.254.169.254",  # the instance metadata
        "10.0.0.1",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        # 0.0.0.0, which Linux connects to as its own host (spelt so no linter takes it for
        # an address bound to).
        str(ipaddress.IPv4Address(0)),
        "fc00::1",
        "fe80::1%eth0",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "224.0.0.1",
        # The instance metadata through IPv6: 6to4, NAT64's well-known prefix, IPv4-compatible.
        "2002:a9fe:a9fe::1",
        "64:ff9b::a9fe:a9fe",
        "::a9fe:a9fe",
    ],
)
def test_an_address_that_is_not_on_the_public_internet_is_not_public(address: str) -> None:
    assert not is_public(address)


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "2606:4700::6810:84e5", "::ffff:93.184.215.14", "64:ff9b::808:808"]
)
def test_a_public_address_is_public(address: str) -> None:
    assert is_public(address)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/token",
        "https://[::1]/token",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::ffff:a9fe:a9fe]/",
        "https://10.0.0.1:8443/token",
    ],
)
def test_a_url_naming_an_address_that_is_not_public_is_refused_off_the_local_stage(url: str) -> None:
    assert check_url(url, allow_http=False) == "must name a public address"
    # The local stage's test providers listen on 127.0.0.1.
    assert check_url(url, allow_http=True) is None
    assert check_url("https://93.184.215.14/token", allow_http=False) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://a b",
        "http://a b/",
        "http://%zz",
        "http://\u0000/",
        "https://exa\tmple.com/",
        "https://example.com\u00a0/",
        "https://example.com/ ",
        "https://example.com/token\r\nX-Injected: 1",
        "https://example.com/\u0085",
        "https://ex%41mple.com/",
        "https://ex_ample.com/",
        "https://-example.com/",
        "https://example-.com/",
        "https://a..example/",
        "https://" + "a" * 64 + ".example/",
        "https://" + ".".join(["a" * 63] * 4) + "/",
        "https://[v1.x]/",
        "https://[fe80::1%25eth0]/",
        "https://example.com:0/",
        "https://example.com:65536/",
        "https://example.com:https/",
    ],
)
def test_a_url_urllib3_could_not_call_is_not_a_valid_url(url: str) -> None:
    # urllib3 would refuse most only when called, a 503 for what is the URL's fault.
    assert check_url(url, allow_http=True) == "is not a valid URL"
    assert check_url(url, allow_http=False) in ("is not a valid URL", "must be an https URL")


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com",
        "https://Login.Example.com./path?q=a%20b#top",
        "https://xn--bcher-kva.example:8443/token",
        "https://example.com:/token",
        "https://93.184.215.14/token",
        "https://[2606:4700::6810:84e5]:443/token",
        "https://" + ".".join(["a" * 63] * 3 + ["a" * 61]) + "/",
    ],
)
def test_a_url_that_passes_is_one_urllib3_parses_to_the_same_host(url: str) -> None:
    assert check_url(url, allow_http=False) is None
    assert (parse_url(url).host or "").strip("[]") == urlsplit(url).hostname


def test_an_internationalised_host_name_is_asked_for_in_its_xn_form() -> None:
    assert check_url("https://bücher.example/", allow_http=False) == (
        "must name its host in ASCII (an internationalised name in its xn-- form)"
    )
    assert check_url("https://xn--bcher-kva.example/", allow_http=False) is None


class _Counting(socketserver.TCPServer):
    """A server that counts the connections it is given and answers none."""

    def __init__(self) -> None:
        self.accepted = 0
        super().__init__(("127.0.0.1", 0), socketserver.BaseRequestHandler)

    def process_request(self, request: socket.socket | tuple[bytes, socket.socket], address: object) -> None:
        self.accepted += 1
        self.shutdown_request(request)


@pytest.mark.parametrize("host", ["localhost", "2130706433", "0x7f.1"])
def test_a_name_that_resolves_to_no_public_address_is_never_connected_to(host: str) -> None:
    # Names the URL check lets through (no address literal), resolved when called: the
    # last two are 127.0.0.1 spelt as the C resolver still reads it.
    with serving(_Counting()) as server:
        port = server.server_address[1]
        http = OutboundHttp(allow_http=False)
        with pytest.raises(ProviderUnavailable) as refused:
            http.get(f"https://{host}:{port}/token", http.deadline())
        assert refused.value.message == "identity provider address is not public"
        assert server.accepted == 0


class _Trickling(socketserver.BaseRequestHandler):
    """Answers a header line every 50 ms for 5 s, then a whole answer: no read waits a
    tenth of a second, yet the answer takes five."""

    def handle(self) -> None:
        self.request.recv(65536)
        self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        assert isinstance(self.server, _TricklingServer)
        stop = self.server.stop
        for line in range(100):
            if stop.wait(0.05):
                return
            try:
                self.request.sendall(b"X-Line-%d: x\r\n" % line)
            except OSError:
                return
        self.request.sendall(b"Content-Length: 2\r\n\r\n{}")


class _TricklingServer(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def __init__(self) -> None:
        # Set when the test ends: a handler still trickling stops.
        self.stop = threading.Event()
        super().__init__(("127.0.0.1", 0), _Trickling)


@pytest.fixture
def trickling() -> Iterator[str]:
    with serving(_TricklingServer()) as server:
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.stop.set()


def test_an_answer_trickling_in_is_cut_off_at_the_deadline(trickling: str) -> None:
    http = OutboundHttp(allow_http=True, timeouts=Timeouts(connect=0.5, read=0.5, deadline=0.3))
    with pytest.raises(ProviderUnavailable) as refused:
        http.get(f"{trickling}/token", http.deadline())
    assert refused.value.message == "identity provider too slow"


class _Answering(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        self.request.recv(65536)
        self.request.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"
        )


@pytest.fixture
def answering() -> Iterator[int]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Answering)
    server.daemon_threads = True
    with serving(server):
        yield server.server_address[1]


def _resolving_to(*addresses: str) -> Callable[..., list[Any]]:
    """A resolver answering `addresses` for provider.test; the address urllib3 then looks up
    again to connect to is resolved as ever, to itself."""
    resolver = socket.getaddrinfo

    def getaddrinfo(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        if host != "provider.test":
            return resolver(host, port, *args, **kwargs)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
            for a in addresses
        ]

    return getaddrinfo


def test_each_resolved_address_is_tried_in_turn(monkeypatch: pytest.MonkeyPatch, answering: int) -> None:
    # A network without an IPv6 route: the first address fails, the next answers.
    monkeypatch.setattr(socket, "getaddrinfo", _resolving_to("::1", "127.0.0.1"))
    http = OutboundHttp(allow_http=True)
    assert http.get(f"http://provider.test:{answering}/", http.deadline()).status == 200


def test_a_name_resolving_to_a_private_and_a_public_address_is_called_only_at_the_public_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from auth.outbound_http import resolved_addresses

    monkeypatch.setattr(socket, "getaddrinfo", _resolving_to("10.0.0.7", "93.184.215.14", "::1"))
    assert resolved_addresses("provider.test", 443, 1.0, public_only=True) == ["93.184.215.14"]
    assert resolved_addresses("provider.test", 443, 1.0, public_only=False) == [
        "10.0.0.7",
        "93.184.215.14",
        "::1",
    ]


def test_a_name_that_takes_too_long_to_resolve_is_a_503_in_time(
    monkeypatch: pytest.MonkeyPatch, answering: int
) -> None:
    # The C resolver has no timeout of its own; this one answers (127.0.0.1) after 5 s.
    released, resolved = threading.Event(), threading.Event()
    answer = _resolving_to("127.0.0.1")

    def slow(host: str, port: int, *args: Any, **kwargs: Any) -> list[Any]:
        released.wait(5)
        resolved.set()
        return answer(host, port)

    monkeypatch.setattr(socket, "getaddrinfo", slow)
    http = OutboundHttp(allow_http=True, timeouts=Timeouts(connect=0.3, read=0.3, deadline=0.3))
    try:
        with pytest.raises(ProviderUnavailable) as refused:
            http.get(f"http://provider.test:{answering}/", http.deadline())
        assert refused.value.message == "identity provider too slow"
        assert not resolved.is_set(), "answered while the name was still being looked up"
    finally:
        released.set()


def test_a_wait_is_cut_to_what_the_deadline_has_left_and_refused_once_it_has_passed() -> None:
    clock = FakeClock()
    deadline = provider_deadline(1.0, monotonic=clock.now)
    assert deadline.within(0.4) == 0.4
    clock.advance(0.8)
    assert deadline.within(0.4) == pytest.approx(0.2)
    assert deadline.within(None) == pytest.approx(0.2)
    assert not deadline.passed()
    clock.advance(0.2)
    assert deadline.passed()
    with pytest.raises(ProviderUnavailable) as refused:
        deadline.within(0.4)
    assert refused.value.message == "identity provider too slow"


def test_each_address_is_given_only_what_the_deadline_has_left_and_none_once_it_has_passed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Twelve addresses whose SYNs are dropped: each connect waits its whole timeout.
    clock = FakeClock()
    waits: list[float] = []

    def unanswered(address: tuple[str, int], timeout: float, *_: Any, **__: Any) -> socket.socket:
        waits.append(timeout)
        clock.advance(timeout)
        raise TimeoutError("timed out")

    monkeypatch.setattr(socket, "getaddrinfo", _resolving_to(*["127.0.0.1"] * 12))
    monkeypatch.setattr(outbound_http, "create_connection", unanswered)
    http = OutboundHttp(allow_http=True, timeouts=Timeouts(connect=0.2, read=0.2, deadline=0.5))
    with pytest.raises(ProviderUnavailable) as refused:
        http.get("http://provider.test/", provider_deadline(0.5, monotonic=clock.now))
    assert refused.value.message == "identity provider too slow"
    assert waits == pytest.approx([0.2, 0.2, 0.1])


@pytest.fixture
def dropping_syns() -> Iterator[int]:
    """A port on 127.0.0.1 whose listener never accepts and whose queue is full: the kernel
    drops the SYNs of any other connection to it, as a firewall does."""
    with contextlib.ExitStack() as held:
        listener = held.enter_context(socket.socket())
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port: int = listener.getsockname()[1]
        for _ in range(8):
            client = held.enter_context(socket.socket())
            client.settimeout(0.2)
            try:
                client.connect(("127.0.0.1", port))
            except TimeoutError:
                break
        else:
            pytest.fail("the listener's queue never filled")
        yield port


def test_a_name_whose_many_addresses_drop_syns_is_given_up_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch, dropping_syns: int
) -> None:
    attempts: list[float] = []

    def counted(address: tuple[str, int], timeout: float, *args: Any, **kwargs: Any) -> socket.socket:
        attempts.append(timeout)
        return create_connection(address, timeout, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", _resolving_to(*["127.0.0.1"] * 12))
    monkeypatch.setattr(outbound_http, "create_connection", counted)
    http = OutboundHttp(allow_http=True, timeouts=Timeouts(connect=0.2, read=0.2, deadline=0.5))
    with pytest.raises(ProviderUnavailable) as refused:
        http.get(f"http://provider.test:{dropping_syns}/", http.deadline())
    assert refused.value.message == "identity provider too slow"
    # Each wait is at most the connect timeout and all of them fit in the deadline: two
    # whole ones and what is left; all twelve before, 2.4 s for a 0.5 s deadline.
    assert 1 <= len(attempts) <= 3
    assert all(0 < wait <= 0.2 for wait in attempts)


def test_a_requests_deadline_cuts_the_provider_calls_deadline_to_what_it_has_left() -> None:
    clock = FakeClock()
    http = OutboundHttp(allow_http=True, timeouts=Timeouts(connect=0.2, read=0.5, deadline=3.0))
    assert http.deadline().remaining() == pytest.approx(3.0, abs=0.1)
    with request_deadline(Deadline(10.0, monotonic=clock.now)):
        assert http.deadline().remaining() == pytest.approx(3.0, abs=0.1)
        clock.advance(5.0)
        # Five seconds left: the calls end a read, and the sign-in's work after them, before
        # the request's deadline.
        after = 5.0 - 0.5 - outbound_http.AFTER_PROVIDER_SECONDS
        assert http.deadline().remaining() == pytest.approx(after, abs=0.1)
