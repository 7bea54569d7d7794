"""The HTTP API: routes a request, runs the authorizer, invokes the integration."""

from __future__ import annotations

import dataclasses
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devstack import events, responses
from devstack.request_log import Invocation, RequestLog
from devstack.responses import Response
from devstack.routes import Match, Router
from devstack.runtime import FunctionPool, PoolClosed

# API Gateway's payload limit for HTTP APIs.
MAX_BODY_BYTES = 10 * 1024 * 1024


@dataclass
class Handled:
    """A response and the function invocations that made it, in order."""

    response: Response
    invocations: list[Invocation] = field(default_factory=list)


class Gateway:
    """Request → Response, independent of the HTTP server around it."""

    def __init__(self, router: Router, pools: Mapping[str, FunctionPool]) -> None:
        self._router = router
        self._pools = pools

    def handle(self, request: events.Request) -> Handled:
        match = self._router.match(request.method, request.raw_path)
        if match is None:
            match, request = self._match_with_stage_prefix(request)
        if match is None:
            return Handled(responses.NOT_FOUND)
        route = match.route
        route_key = "$default" if route.path == "$default" else route.route_key
        invocations: list[Invocation] = []
        context = None
        if route.authorizer is not None:
            event = events.authorizer_event(request, route_key, route.stage, match.path_parameters)
            outcome = self._pools[route.authorizer.function].invoke(event)
            invocations.append(Invocation(route.authorizer.function, outcome, authorizer=True))
            decision = responses.authorizer_decision(outcome)
            if decision.denial is not None:
                return Handled(decision.denial, invocations)
            context = decision.context
        event = events.integration_event(request, route_key, route.stage, match.path_parameters, context)
        outcome = self._pools[route.function].invoke(event)
        invocations.append(Invocation(route.function, outcome))
        return Handled(responses.integration_response(outcome), invocations)

    def _match_with_stage_prefix(self, request: events.Request) -> tuple[Match | None, events.Request]:
        # A client configured with the deployed base URL (".../local") works locally too.
        for stage in self._router.stages:
            prefix = f"/{stage}/"
            if stage != "$default" and request.raw_path.startswith(prefix):
                unprefixed = dataclasses.replace(request, raw_path=request.raw_path[len(prefix) - 1 :])
                match = self._router.match(unprefixed.method, unprefixed.raw_path)
                if match is not None and match.route.stage == stage:
                    return match, unprefixed
        return None, request


class _BodyTooLarge(Exception):
    pass


class _RequestHandler(BaseHTTPRequestHandler):
    # HTTP/1.1 keep-alive; every response carries a Content-Length.
    protocol_version = "HTTP/1.1"
    server_version = "devstack"
    server: GatewayServer

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, CONNECT, …) is routed too, and so answered like API
        # Gateway's unmatched requests (a JSON 404), not with http.server's HTML 501.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)

    def _serve(self) -> None:
        started = time.perf_counter()
        raw_path, _, raw_query = self.path.partition("?")
        invocations: list[Invocation] = []
        try:
            body = self._read_body()
        except _BodyTooLarge:
            # The unread body would be taken for the next request: close the connection.
            self.close_connection = True
            response = responses.TOO_LARGE
        except ValueError:
            self.close_connection = True
            response = responses.BAD_REQUEST
        else:
            handled = self._handle(raw_path, raw_query, body)
            response, invocations = handled.response, handled.invocations
        elapsed_ms = (time.perf_counter() - started) * 1000
        # Logged before the answer leaves: once a client has it, its line is in the log.
        self.server.request_log.record(self.command, raw_path, response.status, elapsed_ms, invocations)
        self._send(response)

    def _handle(self, raw_path: str, raw_query: str, body: bytes) -> Handled:
        source_ip = self.client_address[0]
        request = events.Request(
            method=self.command,
            raw_path=raw_path,
            raw_query=raw_query,
            headers=self._forwarded_headers(source_ip),
            body=body,
            source_ip=source_ip,
            protocol=self.request_version,
            request_id=events.new_request_id(),
            epoch_ms=events.now_ms(),
        )
        try:
            handled = self.server.gateway.handle(request)
        except PoolClosed:
            handled = Handled(responses.gateway_error(503, "Service Unavailable"))
        except Exception:
            # A devstack bug must look like what it is, not like a dropped connection.
            traceback.print_exc()
            handled = Handled(responses.INTERNAL_ERROR)
        response = handled.response
        handled.response = Response(
            response.status, [*response.headers, ("apigw-requestid", request.request_id)], response.body
        )
        return handled

    def _forwarded_headers(self, source_ip: str) -> list[tuple[str, str]]:
        """The request headers plus what API Gateway adds about the client connection."""
        headers = [
            (name, value)
            for name, value in self.headers.items()
            if name.lower() not in ("x-forwarded-for", "transfer-encoding")
        ]
        # API Gateway appends the caller's address to any X-Forwarded-For it received.
        forwarded_for = [value for name, value in self.headers.items() if name.lower() == "x-forwarded-for"]
        headers.append(("X-Forwarded-For", ", ".join([*forwarded_for, source_ip])))
        # API Gateway states the scheme it was reached by. Locally that is http, unless a
        # TLS-terminating proxy in front of devstack already said https: keep its word.
        if self.headers.get("X-Forwarded-Proto") is None:
            headers.append(("X-Forwarded-Proto", "http"))
        if self.headers.get("X-Forwarded-Port") is None:
            headers.append(("X-Forwarded-Port", str(self.server.server_address[1])))
        return headers

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            raise _BodyTooLarge
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                # Trailers end with an empty line.
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_BODY_BYTES:
                raise _BodyTooLarge
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:
        # The stdlib logs the request line (with its query string); _serve logs instead.
        pass


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    # Tests fire bursts of concurrent requests (e.g. racing sign-ups); the default backlog
    # of 5 would refuse some of them before a thread ever sees them.
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], gateway: Gateway, request_log: RequestLog | None = None
    ) -> None:
        self.gateway = gateway
        self.request_log = request_log or RequestLog()
        super().__init__(address, _RequestHandler)
