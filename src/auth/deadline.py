"""Deadlines: the time left for a piece of work, and the one the current request runs under.

A timeout bounds one wait; a request makes many (DynamoDB and Secrets Manager calls, each
with its retry, and an identity provider's), so a dependency slow on every one of them, not
hung on any, would carry the request past its function's timeout, where API Gateway answers
its own 500 instead of ours. The API handler runs each request under a deadline
(`request_deadline`); the AWS clients of auth.aws start no attempt that could end after it,
and an identity provider's calls get no more than it has left (auth.outbound_http).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from auth.errors import Unavailable


class Deadline:
    """The time left until a moment on a monotonic clock (injectable, for tests)."""

    def __init__(
        self,
        seconds: float,
        monotonic: Callable[[], float] = time.monotonic,
        too_slow: Callable[[], Unavailable] = lambda: Unavailable("the request took too long"),
    ) -> None:
        self._monotonic = monotonic
        self._ends = monotonic() + seconds
        self._too_slow = too_slow

    def remaining(self) -> float:
        """What is left, however little (negative once passed)."""
        return self._ends - self._monotonic()

    def left(self) -> float:
        """What is left; `too_slow()` raised once it has passed."""
        left = self.remaining()
        if left <= 0:
            raise self._too_slow()
        return left

    def passed(self) -> bool:
        return self.remaining() <= 0

    def within(self, seconds: float | None) -> float:
        """A wait of `seconds` (None: unbounded) cut to the time left."""
        left = self.left()
        return left if seconds is None else min(seconds, left)


_current: ContextVar[Deadline | None] = ContextVar("request_deadline", default=None)
_compensating: ContextVar[bool] = ContextVar("compensating", default=False)


@contextmanager
def request_deadline(deadline: Deadline) -> Iterator[Deadline]:
    """Run the block as a request under `deadline`."""
    token = _current.set(deadline)
    try:
        yield deadline
    finally:
        _current.reset(token)


def current() -> Deadline | None:
    """The deadline of the request being served; None outside one (the importer, a test), and
    inside `compensating`."""
    return None if _compensating.get() else _current.get()


@contextmanager
def compensating() -> Iterator[None]:
    """Run the block unbounded by the request's deadline: a write that undoes what the request
    did (a sign-in attempt given back to the throttle) must not be refused because the request
    ran out of time, or the 503 would leave it done (a correct password counted as a failure).
    It runs as it did before deadlines existed; the budgets leave it the function's last
    seconds (auth.aws)."""
    token = _compensating.set(True)
    try:
        yield
    finally:
        _compensating.reset(token)
