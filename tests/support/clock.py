"""A clock that only moves when told to: expiry is tested by moving it, never by sleeping."""

from __future__ import annotations

# Where every FakeClock starts unless told otherwise (2027-01-15T08:00:00Z).
START = 1_800_000_000.0


class FakeClock:
    def __init__(self, start: float = START) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        self._now += seconds
