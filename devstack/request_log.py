"""What the terminal of `make run` shows per request: one readable line, and the error of
a function that failed, instead of every handler's JSON log.

    POST /api/v1/auth/signin 200 182 ms ApiFunction
    GET /api/v1/auth/me 401 3 ms AuthorizerFunction

Only method, path, status and time: headers, cookies, bodies and query strings carry
credentials.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from devstack.runtime import Outcome

# readable: request lines on the terminal, the handlers' own logs in a file per function.
# json: the handlers' logs on the terminal as Lambda would write them to CloudWatch.
READABLE = "readable"
JSON = "json"
LOG_MODES = (READABLE, JSON)
LOGS_VARIABLE = "DEVSTACK_LOGS"


@dataclass(frozen=True)
class Invocation:
    function: str
    outcome: Outcome
    authorizer: bool = False

    @property
    def unexpected_error(self) -> Mapping[str, Any] | None:
        """The error document, unless it is an authorizer's ordinary refusal."""
        error = self.outcome.error
        # Raising "Unauthorized" is how a Lambda authorizer answers 401: nothing went wrong.
        if error is None or (self.authorizer and error.get("errorMessage") == "Unauthorized"):
            return None
        return error


def request_line(
    method: str, path: str, status: int, elapsed_ms: float, invocations: Sequence[Invocation]
) -> str:
    line = f"{method} {path} {status} {elapsed_ms:.0f} ms"
    if invocations:
        line += " " + ", ".join(invocation.function for invocation in invocations)
    return line


def failure_lines(invocations: Sequence[Invocation], with_traces: bool) -> list[str]:
    """An indented line per failed function, with its stack trace when asked."""
    lines = []
    for invocation in invocations:
        error = invocation.unexpected_error
        if error is None:
            continue
        lines.append(f"    {invocation.function}: {error.get('errorType')}: {error.get('errorMessage')}")
        if with_traces:
            trace = "".join(str(frame) for frame in error.get("stackTrace") or [])
            lines.extend(f"      {frame}" for frame in trace.splitlines())
    return lines


class RequestLog:
    def __init__(self, mode: str = READABLE, stream: TextIO | None = None) -> None:
        if mode not in LOG_MODES:
            raise ValueError(f"log mode {mode!r}: expected one of {', '.join(LOG_MODES)}")
        self.mode = mode
        self._stream = stream
        # Requests are served on many threads; a line and its trace must not interleave.
        self._lock = threading.Lock()

    def record(
        self, method: str, path: str, status: int, elapsed_ms: float, invocations: Sequence[Invocation]
    ) -> None:
        # In JSON mode the failed worker already printed its own trace next to its logs.
        lines = [
            request_line(method, path, status, elapsed_ms, invocations),
            *failure_lines(invocations, with_traces=self.mode == READABLE),
        ]
        stream = self._stream or sys.stderr
        with self._lock:
            stream.write("".join(f"{line}\n" for line in lines))
            stream.flush()
