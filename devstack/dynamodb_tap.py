"""An optional proxy between the functions and DynamoDB, for tests that must lose one answer.

`python -m devstack --dynamodb-tap` (`LocalStack(dynamodb_tap=True)`) gives the functions
this proxy's endpoint as `AWS_ENDPOINT_URL_DYNAMODB`; tests and provisioning still talk to
DynamoDB directly. The tap forwards every byte unchanged, both ways, and reads just enough
of each request (its `X-Amz-Target` and `TableName`) to match one armed trigger:

    PUT    /trigger {"target": "DynamoDB_20120810.UpdateItem", "table": "RefreshTokensTable",
                     "pause": true}
    GET    /trigger  -> the trigger and "fired": false | true
    DELETE /trigger

on its control endpoint. The next matching request is forwarded to DynamoDB, the answer to
it is withheld from the function for good, and with `pause` DynamoDB Local is then frozen
(SIGSTOP). The write is in DynamoDB Local's socket while the function waits for an answer
that never comes: the lost answer of a call that went through, timed exactly to one call,
which freezing DynamoDB Local from outside cannot do (it catches whatever call comes first).
A trigger fires once.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

from devstack.ports import HOST

# How often the accept loop looks whether it should stop.
ACCEPT_POLL_SECONDS = 0.1
CONNECT_TIMEOUT_SECONDS = 5.0
# boto3 sends a DynamoDB request's headers in far less; beyond that, stop looking and relay.
MAX_HEADER_BYTES = 64 * 1024
RECV_BYTES = 64 * 1024


@dataclass(frozen=True)
class Trigger:
    """Which request to catch: its X-Amz-Target, and its TableName unless `table` is None."""

    target: str
    table: str | None = None
    pause: bool = False

    def matches(self, target: str | None, table: str | None) -> bool:
        return target == self.target and (self.table is None or table == self.table)


class TapError(RuntimeError):
    """A trigger the tap cannot carry out (a pause without DynamoDB Local to freeze)."""


@dataclass(frozen=True)
class Request:
    """Where a request ends in the stream, and what a trigger matches it on."""

    length: int
    target: str | None
    table: str | None


# A request the tap cannot delimit (no Content-Length, chunked, huge headers): from there on
# the connection is relayed as bytes, unmatched.
_UNDELIMITED = Request(length=-1, target=None, table=None)


def next_request(buffer: bytes) -> Request | None:
    """The first whole HTTP request in `buffer`, None while it is incomplete."""
    head_end = buffer.find(b"\r\n\r\n")
    if head_end < 0:
        return _UNDELIMITED if len(buffer) > MAX_HEADER_BYTES else None
    headers: dict[str, str] = {}
    for line in buffer[:head_end].split(b"\r\n")[1:]:
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    if "transfer-encoding" in headers:
        return _UNDELIMITED
    try:
        body_length = int(headers.get("content-length", "0"))
    except ValueError:
        return _UNDELIMITED
    end = head_end + 4 + body_length
    if len(buffer) < end:
        return None
    return Request(end, headers.get("x-amz-target"), _table_name(buffer[head_end + 4 : end]))


def _table_name(body: bytes) -> str | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    table = document.get("TableName") if isinstance(document, dict) else None
    return table if isinstance(table, str) else None


class _Relay:
    """One function connection and its own connection to DynamoDB."""

    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        # Set before the caught request is forwarded, so its answer can never slip through.
        self.held = threading.Event()
        self._lock = threading.Lock()
        self._pumps_left = 2

    def shut(self, *sockets: socket.socket) -> None:
        # shutdown, not close: it wakes a recv blocked in the other pump, and the file
        # descriptors stay ours until both pumps are done with them.
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def pump_done(self) -> bool:
        """True for the pump that ends last: it closes the sockets."""
        with self._lock:
            self._pumps_left -= 1
            last = self._pumps_left == 0
        if last:
            self.client.close()
            self.upstream.close()
        return last


class DynamoDBTap:
    """`start()`, then point the functions at `endpoint`; `stop()` joins every thread."""

    def __init__(self, upstream: tuple[str, int], on_pause: Callable[[], None] | None = None) -> None:
        """`on_pause` freezes the backend (None: nothing can be paused, e.g. moto)."""
        self._upstream = upstream
        self._on_pause = on_pause
        self._lock = threading.Lock()
        self._trigger: Trigger | None = None
        self._fired = False
        self._stopping = threading.Event()
        self._relays: set[_Relay] = set()
        self._threads: set[threading.Thread] = set()
        self._listener: socket.socket | None = None
        self._port: int | None = None
        self._control: HTTPServer | None = None

    @property
    def endpoint(self) -> str:
        assert self._port is not None, "not started"
        return f"http://{HOST}:{self._port}"

    @property
    def control_endpoint(self) -> str:
        assert self._control is not None, "not started"
        return f"http://{HOST}:{self._control.server_address[1]}"

    def start(self) -> DynamoDBTap:
        self._listener = socket.create_server((HOST, 0))
        self._port = int(self._listener.getsockname()[1])
        self._listener.settimeout(ACCEPT_POLL_SECONDS)
        self._control = _ControlServer((HOST, 0), self)
        self._spawn(self._accept_loop, "dynamodb-tap-accept")
        self._spawn(self._control.serve_forever, "dynamodb-tap-control", ACCEPT_POLL_SECONDS)
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._control is not None:
            self._control.shutdown()
        with self._lock:
            relays = list(self._relays)
        for relay in relays:
            relay.shut(relay.client, relay.upstream)
        # Relays accepted meanwhile see `_stopping` and end at once; join until none is left.
        joined: set[threading.Thread] = set()
        while True:
            with self._lock:
                threads = self._threads - joined
            if not threads:
                break
            for thread in threads:
                thread.join()
            joined |= threads
        if self._control is not None:
            self._control.server_close()
        if self._listener is not None:
            self._listener.close()

    # -- the trigger --------------------------------------------------------------------------

    def arm(self, trigger: Trigger) -> None:
        if trigger.pause and self._on_pause is None:
            raise TapError("only DynamoDB Local can be paused")
        with self._lock:
            self._trigger, self._fired = trigger, False

    def disarm(self) -> None:
        with self._lock:
            self._trigger, self._fired = None, False

    def state(self) -> dict[str, Any] | None:
        with self._lock:
            if self._trigger is None:
                return None
            return {**asdict(self._trigger), "fired": self._fired}

    def _catch(self, request: Request, relay: _Relay) -> Trigger | None:
        """The armed trigger if `request` fires it; it will not fire again."""
        with self._lock:
            trigger = self._trigger
            if trigger is None or self._fired or not trigger.matches(request.target, request.table):
                return None
            self._fired = True
            relay.held.set()
            return trigger

    # -- relaying ------------------------------------------------------------------------------

    def _spawn(self, target: Callable[..., None], name: str, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            # Finished threads are forgotten here, so a long run does not collect them.
            self._threads = {known for known in self._threads if known.is_alive()}
            self._threads.add(thread)
            # Under the lock: stop() must never find a thread it cannot join yet.
            thread.start()

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            self._spawn(self._serve, "dynamodb-tap-relay", client)

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(self._upstream, timeout=CONNECT_TIMEOUT_SECONDS)
        except OSError:
            client.close()  # the function sees a dropped connection, as without the tap
            return
        upstream.settimeout(None)
        relay = _Relay(client, upstream)
        with self._lock:
            if self._stopping.is_set():
                relay.shut(client, upstream)
            self._relays.add(relay)
        self._spawn(self._pump_answers, "dynamodb-tap-answers", relay)
        try:
            self._pump_requests(relay)
        finally:
            self._done(relay)

    def _pump_requests(self, relay: _Relay) -> None:
        buffer = b""
        delimited = True
        while True:
            try:
                chunk = relay.client.recv(RECV_BYTES)
            except OSError:
                chunk = b""
            if not chunk:
                break
            if not delimited:
                relay.upstream.sendall(chunk)
                continue
            buffer += chunk
            while (request := next_request(buffer)) is not None:
                if request is _UNDELIMITED:
                    relay.upstream.sendall(buffer)
                    buffer, delimited = b"", False
                    break
                caught = self._catch(request, relay)
                relay.upstream.sendall(buffer[: request.length])
                buffer = buffer[request.length :]
                if caught is not None and caught.pause:
                    assert self._on_pause is not None  # arm() refused it otherwise
                    # After the send: the request is in DynamoDB Local's socket when it freezes.
                    self._on_pause()
        if relay.held.is_set():
            # The function gave up waiting. DynamoDB keeps its connection, the caught write
            # on it, and answers it whenever it runs again; that answer goes nowhere.
            relay.shut(relay.client)
        else:
            relay.shut(relay.client, relay.upstream)

    def _pump_answers(self, relay: _Relay) -> None:
        try:
            while chunk := relay.upstream.recv(RECV_BYTES):
                if not relay.held.is_set():
                    relay.client.sendall(chunk)
        except OSError:
            pass
        finally:
            relay.shut(relay.client, relay.upstream)
            self._done(relay)

    def _done(self, relay: _Relay) -> None:
        if relay.pump_done():
            with self._lock:
                self._relays.discard(relay)


class _ControlServer(HTTPServer):
    def __init__(self, address: tuple[str, int], tap: DynamoDBTap) -> None:
        super().__init__(address, _ControlHandler)
        self.tap = tap


class _ControlHandler(BaseHTTPRequestHandler):
    server: _ControlServer

    def do_GET(self) -> None:
        if self._on_trigger_path():
            state = self.server.tap.state()
            if state is None:
                self._answer(404, {"message": "not armed"})
            else:
                self._answer(200, state)

    def do_PUT(self) -> None:
        if not self._on_trigger_path():
            return
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
            table = body.get("table")
            trigger = Trigger(
                str(body["target"]), None if table is None else str(table), bool(body.get("pause"))
            )
            self.server.tap.arm(trigger)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            self._answer(400, {"message": f"expected {{target, table, pause}}: {error}"})
        except TapError as error:
            self._answer(409, {"message": str(error)})
        else:
            self._answer(200, self.server.tap.state())

    def do_DELETE(self) -> None:
        if self._on_trigger_path():
            self.server.tap.disarm()
            self._answer(204, None)

    def _on_trigger_path(self) -> bool:
        if self.path == "/trigger":
            return True
        self._answer(404, {"message": "Not Found"})
        return False

    def _answer(self, status: int, document: object) -> None:
        body = b"" if document is None else json.dumps(document).encode()
        self.send_response(status)
        if body:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        # Tests arm the tap; their requests are not the API's and do not belong in its log.
        pass
