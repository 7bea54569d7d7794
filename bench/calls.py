"""AWS calls per request on each credential path, counted with botocore's event hooks.

Real boto3 clients against moto in-process: this run is about how many calls, not how
long they take. Requests arrive one every STEP_SECONDS on a simulated clock, so 1,000 of
them span 100 s: long enough to cross the 10 s revocation lag (the user cache) and the
once-a-minute lastUsedAt/lastAccessedAt write.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from bench.cases import CASES, Case
from bench.invoke import container, invoke
from bench.world import World, moto_world
from tests.support.clock import FakeClock

REQUESTS = 1000
SPREADS = (1, 100)
STEP_SECONDS = 0.1
# Long past every earlier scenario's cached entries and write intervals.
SCENARIO_GAP_SECONDS = 3600
WRITE_WINDOW_SECONDS = 60
DYNAMODB_READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
DYNAMODB_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
COLD = -1


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    item: str
    consistent: bool
    request: int
    at: float
    # Items the call reads (a BatchGetItem reads several; DynamoDB bills each).
    items: int = 1

    @property
    def is_read(self) -> bool:
        return self.service == "dynamodb" and self.operation in DYNAMODB_READS

    @property
    def is_write(self) -> bool:
        return self.service == "dynamodb" and self.operation in DYNAMODB_WRITES


class CallLog:
    """Every AWS call the clients make while recording, tagged with request and time."""

    def __init__(self, clock: FakeClock, *clients: Any) -> None:
        self._clock = clock
        self.calls: list[Call] = []
        self.request: int | None = None
        for client in clients:
            # Emitted once per API call with the call's own parameters (before-call sees the
            # serialized HTTP request instead), so the item each call touches is known.
            client.meta.events.register("before-parameter-build.*.*", self._on_call)

    def _on_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        if self.request is None:
            return
        where = params.get("TableName", params.get("SecretId", ""))
        item = f"{where} {json.dumps(params.get('Key'), sort_keys=True)}"
        batch = params.get("RequestItems") or {}
        consistent = bool(params.get("ConsistentRead")) or any(
            request.get("ConsistentRead") for request in batch.values()
        )
        self.calls.append(
            Call(
                service=model.service_model.service_name,
                operation=model.name,
                item=item,
                consistent=consistent,
                request=self.request,
                at=self._clock.now(),
                items=sum(len(request.get("Keys", ())) for request in batch.values()) or 1,
            )
        )


def _counts(calls: list[Call]) -> dict[str, int]:
    return {
        "secretsmanager": sum(call.service == "secretsmanager" for call in calls),
        "dynamodb_reads": sum(call.is_read for call in calls),
        "dynamodb_writes": sum(call.is_write for call in calls),
    }


def _rereads_within(calls: list[Call], lag: float) -> int:
    """Reads of an item already read less than `lag` seconds before: what a cache saves."""
    last_read: dict[str, float] = {}
    rereads = 0
    for call in calls:
        if not call.is_read:
            continue
        previous = last_read.get(call.item)
        if previous is not None and call.at - previous < lag and call.request != COLD:
            rereads += 1
        last_read[call.item] = call.at
    return rereads


def _max_writes_per_item_per_window(calls: list[Call], window: float) -> int:
    # In whole seconds, the resolution lastUsedAt/lastAccessedAt are stored and compared at.
    times: dict[str, list[int]] = defaultdict(list)
    for call in calls:
        if call.is_write:
            times[call.item].append(int(call.at))
    most = 0
    for stamps in times.values():
        start = 0
        for end, at in enumerate(stamps):
            while at - stamps[start] >= window:
                start += 1
            most = max(most, end - start + 1)
    return most


def _read_units(calls: list[Call]) -> float:
    # Items here are far below 4 KB: a consistent read is 1 unit, an eventual one half.
    return sum((1.0 if call.consistent else 0.5) * call.items for call in calls if call.is_read)


def _summary(calls: list[Call], lag: float) -> dict[str, Any]:
    cold = [call for call in calls if call.request == COLD]
    warm = [call for call in calls if call.request != COLD]
    reads_by_request: dict[int, int] = defaultdict(int)
    for call in warm:
        if call.is_read:
            reads_by_request[call.request] += 1
    counts = _counts(warm)
    return {
        "cold_first_request": _counts(cold),
        "requests": REQUESTS,
        **counts,
        "dynamodb_reads_per_request": round(counts["dynamodb_reads"] / REQUESTS, 3),
        "max_dynamodb_reads_in_one_request": max(reads_by_request.values(), default=0),
        "rereads_within_revocation_lag": _rereads_within(calls, lag),
        "max_writes_per_credential_per_minute": _max_writes_per_item_per_window(calls, WRITE_WINDOW_SECONDS),
        "read_units": _read_units(warm),
        "write_units": counts["dynamodb_writes"],
    }


def _scenario(world: World, log: CallLog, case: Case, spread: int) -> dict[str, Any]:
    clock = world.clock
    assert isinstance(clock, FakeClock)
    clock.advance(SCENARIO_GAP_SECONDS)
    users = world.add_users(spread)
    events = [case.make(world, user, index).event() for index, user in enumerate(users)]
    order = random.Random(spread)
    log.calls = []
    # A fresh container: its first request is counted apart, as the cold one.
    with container(world.authorizer_services()):
        log.request = COLD
        invoke(events[0])
        for request in range(REQUESTS):
            clock.advance(STEP_SECONDS)
            log.request = request
            if invoke(events[order.randrange(spread)]) is not case.accepted:
                raise RuntimeError(
                    f"bench case {case.key} was not {'accepted' if case.accepted else 'refused'}"
                )
        log.request = None
    return _summary(log.calls, world.config.revocation_lag)


def measure() -> dict[str, Any]:
    result: dict[str, Any] = {"step_seconds": STEP_SECONDS, "requests": REQUESTS}
    clock = FakeClock()
    with moto_world(clock) as world:
        log = CallLog(clock, world.dynamodb, world.secretsmanager)
        for case in CASES:
            if not case.available:
                result[case.key] = {"skipped": case.skip_reason}
                continue
            result[case.key] = {
                f"{spread}_credential{'s' if spread > 1 else ''}": _scenario(world, log, case, spread)
                for spread in SPREADS
            }
    return result
