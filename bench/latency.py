"""Warm authorizer latency per credential path, against the jwt.decode floor.

Every path runs in one warm container on the in-process fakes, so only the project's own
work is timed. The floor and the paths are timed in interleaved blocks, so a neighbour's
burst on this shared machine lands on all of them alike.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import jwt

from auth.clock import SystemClock
from auth.models import User
from auth.tokens import ACCESS_AUDIENCE, ALGORITHM, ISSUER
from bench.cases import CASES, Case
from bench.invoke import container, invoke
from bench.world import World, fake_world

SAMPLES = 3000
BLOCK = 100
WARM_UP = 300
# The claims tokens._verified_claims requires: the floor checks as much as the path does.
REQUIRED_CLAIMS = ["exp", "iat", "iss", "aud", "sub"]


def _floor(world: World, token: str) -> Callable[[], Any]:
    secret = world.signing_key.secret
    options: Any = {"require": REQUIRED_CLAIMS}

    def decode() -> Any:
        return jwt.decode(
            token, secret, algorithms=[ALGORITHM], audience=ACCESS_AUDIENCE, issuer=ISSUER, options=options
        )

    return decode


def _each_once(world: World, user: User, case: Case) -> Callable[[], Any]:
    """A call presenting a new credential each time: made up front, so minting is not timed."""
    # Index 0 is the one measure() checks first; the timed calls start after it.
    pending = iter([case.make(world, user, index).event() for index in range(1, WARM_UP + SAMPLES + 1)])
    return lambda: invoke(next(pending))


def _timed_block(call: Callable[[], Any], count: int, into: list[int]) -> None:
    clock = time.perf_counter_ns
    for _ in range(count):
        start = clock()
        call()
        into.append(clock() - start)


def _summary(samples_ns: list[int], floor_median_ns: float) -> dict[str, float]:
    ordered = sorted(samples_ns)
    median = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return {
        "median_us": round(median / 1000, 1),
        "p99_us": round(p99 / 1000, 1),
        "median_vs_floor": round(median / floor_median_ns, 2),
        "samples": len(ordered),
    }


def measure() -> dict[str, Any]:
    world = fake_world(SystemClock())
    user = world.add_users(1)[0]
    runnable: list[Case] = [case for case in CASES if case.available]
    events = {case.key: case.make(world, user, 0).event() for case in runnable}
    access_token = events["access_token"]["headers"]["authorization"].removeprefix("Bearer ")
    floor = _floor(world, access_token)
    calls: dict[str, Callable[[], Any]] = {"floor": floor}
    for case in runnable:
        if case.distinct:
            calls[case.key] = _each_once(world, user, case)
        else:
            calls[case.key] = lambda event=events[case.key]: invoke(event)  # type: ignore[misc]  # mypy cannot infer a lambda with a default

    samples: dict[str, list[int]] = {name: [] for name in calls}
    with container(world.authorizer_services()):
        for case in runnable:
            if invoke(events[case.key]) is not case.accepted:
                raise RuntimeError(
                    f"bench case {case.key} was not {'accepted' if case.accepted else 'refused'}"
                )
        for call in calls.values():
            _timed_block(call, WARM_UP, [])
        for _ in range(SAMPLES // BLOCK):
            for name, call in calls.items():
                _timed_block(call, BLOCK, samples[name])

    floor_median = statistics.median(samples["floor"])
    result: dict[str, Any] = {"floor": {**_summary(samples["floor"], floor_median), "what": "jwt.decode"}}
    for case in CASES:
        result[case.key] = (
            _summary(samples[case.key], floor_median) if case.available else {"skipped": case.skip_reason}
        )
    return result
