"""devstack.dynamodb_tap on its own: an HTTP server in a thread stands in for DynamoDB Local."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from devstack.dynamodb_tap import DynamoDBTap, TapError, Trigger, next_request
from tests.support.http_servers import serving

UPDATE = "DynamoDB_20120810.UpdateItem"
GET = "DynamoDB_20120810.GetItem"
# Long enough to tell "never answered" from a slow thread on a busy machine.
SILENCE_SECONDS = 1.0


class Upstream(ThreadingHTTPServer):
    """Answers every POST with what it received, and remembers it."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Echo)
        self.received: list[tuple[str, dict[str, str], bytes]] = []

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + 5
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(self.received) >= count, self.received


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as DynamoDB Local and boto3 do
    server: Upstream

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.requestline, dict(self.headers.items()), body))
        answer = json.dumps({"echo": body.decode(), "target": self.headers.get("X-Amz-Target")}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Paused:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    with serving(Upstream()) as server:
        yield server


@pytest.fixture
def paused() -> Paused:
    return Paused()


@pytest.fixture
def tap(upstream: Upstream, paused: Paused) -> Iterator[DynamoDBTap]:
    running = DynamoDBTap(("127.0.0.1", upstream.server_address[1]), on_pause=paused).start()
    try:
        yield running
    finally:
        running.stop()


def port(tap: DynamoDBTap) -> int:
    return int(tap.endpoint.rsplit(":", 1)[1])


def connect(tap: DynamoDBTap) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", port(tap), timeout=SILENCE_SECONDS)


def call(connection: http.client.HTTPConnection, target: str, table: str) -> dict[str, str]:
    body = json.dumps({"TableName": table, "Key": {"id": {"S": "1"}}})
    connection.request(
        "POST", "/", body, {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.0"}
    )
    response = connection.getresponse()
    assert response.status == 200
    return dict(json.loads(response.read()))


def tap_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("dynamodb-tap")]


def test_requests_and_answers_pass_unchanged_on_a_kept_alive_connection(
    tap: DynamoDBTap, upstream: Upstream
) -> None:
    connection = connect(tap)
    first = call(connection, GET, "Users")
    second = call(connection, UPDATE, "Users")  # the same connection: requests are delimited
    connection.close()
    assert first == {"echo": json.dumps({"TableName": "Users", "Key": {"id": {"S": "1"}}}), "target": GET}
    assert second["target"] == UPDATE
    (line, headers, body), _ = upstream.received
    assert line == "POST / HTTP/1.1"
    assert headers["X-Amz-Target"] == GET and headers["Host"] == f"127.0.0.1:{port(tap)}"
    assert json.loads(body)["TableName"] == "Users"


def test_the_trigger_catches_the_next_matching_call_once(
    tap: DynamoDBTap, upstream: Upstream, paused: Paused
) -> None:
    tap.arm(Trigger(UPDATE, "RefreshTokens", pause=True))
    connection = connect(tap)
    # Neither another operation nor another table fires it.
    assert call(connection, GET, "RefreshTokens")["target"] == GET
    assert call(connection, UPDATE, "Users")["target"] == UPDATE
    assert tap.state() == {"target": UPDATE, "table": "RefreshTokens", "pause": True, "fired": False}

    # The caught call reaches the backend, is never answered, and the pause runs once.
    with pytest.raises(TimeoutError):
        call(connection, UPDATE, "RefreshTokens")
    connection.close()
    upstream.wait_for(3)
    assert upstream.received[2][1]["X-Amz-Target"] == UPDATE
    assert paused.calls == 1
    assert tap.state() == {"target": UPDATE, "table": "RefreshTokens", "pause": True, "fired": True}

    # Once fired, the same call passes like any other: the retry of a caught call is answered.
    retry = connect(tap)
    assert call(retry, UPDATE, "RefreshTokens")["target"] == UPDATE
    retry.close()
    assert paused.calls == 1
    tap.disarm()
    assert tap.state() is None


def test_a_trigger_without_pause_only_withholds_the_answer(
    tap: DynamoDBTap, upstream: Upstream, paused: Paused
) -> None:
    tap.arm(Trigger(UPDATE))  # any table
    connection = connect(tap)
    with pytest.raises(TimeoutError):
        call(connection, UPDATE, "Anything")
    connection.close()
    upstream.wait_for(1)
    assert paused.calls == 0


def test_no_pause_without_a_backend_to_freeze(upstream: Upstream) -> None:
    tap = DynamoDBTap(("127.0.0.1", upstream.server_address[1]), on_pause=None).start()
    try:
        with pytest.raises(TapError, match="only DynamoDB Local"):
            tap.arm(Trigger(UPDATE, pause=True))
        assert tap.state() is None
    finally:
        tap.stop()


def test_the_control_endpoint_arms_reports_and_disarms(tap: DynamoDBTap, paused: Paused) -> None:
    url = tap.control_endpoint + "/trigger"

    def control(method: str, document: object = None) -> tuple[int, object]:
        answer = requests.request(method, url, json=document, timeout=5)
        return answer.status_code, answer.json() if answer.content else None

    assert control("GET") == (404, {"message": "not armed"})
    armed = {"target": UPDATE, "table": "T", "pause": True}
    assert control("PUT", armed) == (200, {**armed, "fired": False})
    assert control("GET") == (200, {**armed, "fired": False})
    assert control("PUT", {"table": "T"})[0] == 400
    assert control("DELETE") == (204, None)
    assert control("GET")[0] == 404


def test_stop_ends_every_connection_and_thread_even_a_held_one(tap: DynamoDBTap) -> None:
    idle = connect(tap)
    assert call(idle, GET, "T")["target"] == GET
    tap.arm(Trigger(UPDATE))
    held = connect(tap)
    with pytest.raises(TimeoutError):
        call(held, UPDATE, "T")
    assert tap_threads()

    started = time.monotonic()
    tap.stop()
    assert time.monotonic() - started < 2.0
    assert tap_threads() == []
    # The function side sees its connection closed, and nothing listens any more.
    assert idle.sock is not None and idle.sock.recv(1) == b""
    idle.close()
    held.close()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port(tap)), timeout=1).close()


def test_requests_are_delimited_by_content_length() -> None:
    head = b"POST / HTTP/1.1\r\nX-Amz-Target: T.Op\r\nContent-Length: 19\r\n\r\n"
    body = b'{"TableName": "X"} '
    assert next_request(head) is None  # the body is not there yet
    request = next_request(head + body + b"POST / HTTP/1.1\r\n")
    assert request is not None
    assert (request.length, request.target, request.table) == (len(head + body), "T.Op", "X")
    chunked = next_request(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n")
    assert chunked is not None and chunked.length < 0  # relayed as bytes from there on
