"""A value built on first use, once per container: the services each function runs on.

Built lazily so that importing a handler never touches AWS (a test, `make invoke` or the
cold-start bench imports it freely), and replaceable so tests and the local runner can put
in services of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from typing import Generic, TypeVar

from handlers import gc_pause

T = TypeVar("T")


class Lazy(Generic[T]):
    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._built = False

    def __call__(self) -> T:
        if self._value is None:
            # The first build is the rest of the container's start (boto3 and its clients);
            # a rebuild after `replace(None)` is not, and leaves the collector be. (A SnapStart
            # snapshot holds no services: a restored container's first build is its first.)
            with nullcontext() if self._built else gc_pause.paused():
                self._value = self._build()
            self._built = True
        return self._value

    def replace(self, value: T | None = None) -> None:
        """Use `value` from now on; None builds afresh on the next call."""
        self._value = value
