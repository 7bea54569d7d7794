"""One scenario: Locust's local runner drives the clients against the stack for a while,
optionally with DynamoDB Local paused in the middle; then the figures and the checks."""

from __future__ import annotations

import itertools
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import gevent
import requests
from locust.env import Environment

from bench.load.checks import Pause, StateChecks, answers_checks
from bench.load.clients import CLIENT_TIMEOUT_SECONDS, LoadClient
from bench.load.ledger import Answer, Ledger
from devstack.stack import LocalStack


def _percentile_ms(seconds: list[float], fraction: float) -> float:
    ordered = sorted(seconds)
    return round(1000 * ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 1)


def per_route(answers: Sequence[Answer], elapsed: float) -> dict[str, dict[str, Any]]:
    by_name: dict[str, list[Answer]] = defaultdict(list)
    for answer in answers:
        by_name[answer.name].append(answer)
    table = {}
    for name in sorted(by_name):
        group = by_name[name]
        seconds = [a.seconds for a in group]
        table[name] = {
            "requests": len(group),
            "rps": round(len(group) / elapsed, 1),
            "p50_ms": round(1000 * statistics.median(seconds), 1),
            "p99_ms": _percentile_ms(seconds, 0.99),
            "not_as_expected": sum(1 for a in group if a.status not in a.expected),
        }
    return table


# The timeline's step: short enough to show a 10 s pause and the recovery after it.
TIMELINE_SECONDS = 5.0


def timeline(answers: Sequence[Answer], t0: float) -> list[dict[str, Any]]:
    """Requests by when they were sent: how many, how many answered 5xx, their p50."""
    buckets: dict[int, list[Answer]] = defaultdict(list)
    for answer in answers:
        buckets[int((answer.start - t0) // TIMELINE_SECONDS)].append(answer)
    return [
        {
            "from_s": index * TIMELINE_SECONDS,
            "sent": len(group),
            "5xx": sum(1 for a in group if a.status >= 500),
            "p50_ms": round(1000 * statistics.median(a.seconds for a in group), 1),
        }
        for index, group in sorted(buckets.items())
    ]


def _probe(stack: LocalStack, ledger: Ledger) -> None:
    """One request sure to meet the frozen DynamoDB, sent as the pause begins: a public read
    of a user, which only the API function answers, from the Users table. With few clients
    the traffic alone may send none in a short pause (every client is waiting on a request
    sent before it), and the check that the API answers 503 would have nothing to judge."""
    started = time.time()
    response = requests.get(
        f"{stack.url}/api/v1/users/{ledger.clients[0].username}", timeout=CLIENT_TIMEOUT_SECONDS
    )
    ledger.answers.append(
        Answer(
            name="GET /users/{u} [sent as the pause began]",
            start=started,
            seconds=time.time() - started,
            status=response.status_code,
            expected=frozenset({200}),
        )
    )


def run_scenario(
    stack: LocalStack, ledger: Ledger, users: int, seconds: float, pause_seconds: float = 0.0
) -> dict[str, Any]:
    # Users stop at the end of their current task, never in the middle of a request whose
    # outcome they would then not know.
    environment = Environment(
        user_classes=[LoadClient], host=stack.url, stop_timeout=CLIENT_TIMEOUT_SECONDS + 5
    )
    LoadClient.ledger = ledger
    LoadClient.assigned = itertools.count()
    runner = environment.create_local_runner()
    first_answer = len(ledger.answers)
    pause: list[Pause] = []

    def paused() -> None:
        with stack.dynamodb_paused():
            started = time.time()
            probe = gevent.spawn(_probe, stack, ledger)
            gevent.sleep(pause_seconds)
        pause.append(Pause(started, time.time()))
        probe.join()

    t0 = time.time()
    runner.start(users, spawn_rate=users)
    pauser = gevent.spawn_later((seconds - pause_seconds) / 2, paused) if pause_seconds else None
    gevent.sleep(seconds)
    runner.quit()
    runner.greenlet.join()
    if pauser is not None:
        pauser.join()
    elapsed = time.time() - t0
    answers = ledger.answers[first_answer:]
    window = pause[0] if pause else None
    checks = answers_checks(answers, window, t0)
    state = StateChecks(stack.url, stack.client("dynamodb"), stack.tables["RefreshTokensTable"])
    checks += state.run(ledger.clients)
    total = environment.stats.total
    result: dict[str, Any] = {
        "users": users,
        "seconds": round(elapsed, 1),
        "requests": len(answers),
        "rps": round(len(answers) / elapsed, 1),
        "locust_total": {
            "requests": total.num_requests,
            "failures": total.num_failures,
            "p50_ms": total.get_response_time_percentile(0.5),
            "p99_ms": total.get_response_time_percentile(0.99),
        },
        "routes": per_route(answers, elapsed),
        "timeline": timeline(answers, t0),
        "checks": checks,
        "ok": all(row["ok"] for row in checks),
    }
    if window is not None:
        result["pause"] = {
            "seconds": pause_seconds,
            "from_s": round(window.start - t0, 2),
            "to_s": round(window.resume - t0, 2),
        }
    return result
