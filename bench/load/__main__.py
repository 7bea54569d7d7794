"""`python -m bench.load` (`make load`): sign up the clients, run the steady scenario and the
one with DynamoDB Local paused, print the figures, write bench/load.json, and exit 1 if any
check failed.

    LOAD_SECONDS=120 LOAD_USERS=50 LOAD_PAUSE_SECONDS=10 make load
    python -m bench.load --quick --out /tmp/load.json    # 5 users, a few seconds each
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gevent.pool
import requests

from bench.load.clients import PASSWORD
from bench.load.ledger import Client, Ledger
from bench.load.run import run_scenario
from devstack.runtime import DEFAULT_MAX_WORKERS
from devstack.stack import LocalStack

OUT = Path(__file__).resolve().parent.parent / "load.json"


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=int(os.environ.get("LOAD_USERS", "50")))
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("LOAD_SECONDS", "120")))
    parser.add_argument(
        "--pause-seconds", type=float, default=float(os.environ.get("LOAD_PAUSE_SECONDS", "10"))
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: 5 users, 8 s each, a 5 s pause")
    parser.add_argument("--out", type=Path, default=OUT)
    arguments = parser.parse_args()
    if arguments.quick:
        arguments.users, arguments.seconds, arguments.pause_seconds = 5, 8.0, 5.0
    return arguments


def sign_up(base: str, count: int) -> list[Client]:
    """`count` users, through the API as anyone would (bcrypt at the template's cost)."""
    names = [f"load{i}" for i in range(count)]

    def one(username: str) -> Client:
        body = {"user": {"username": username, "password": PASSWORD}}
        requests.post(f"{base}/api/v1/users", json=body, timeout=60).raise_for_status()
        return Client(username)

    return list(gevent.pool.Pool(4).imap(one, names))


def _print(name: str, scenario: dict[str, Any]) -> None:
    print(f"\n{name}: {scenario['users']} clients, {scenario['seconds']} s, ", end="")
    print(f"{scenario['requests']} requests, {scenario['rps']} req/s")
    if "pause" in scenario:
        pause = scenario["pause"]
        print(f"  DynamoDB Local paused from +{pause['from_s']} s to +{pause['to_s']} s")
    print(f"  {'route':48} {'requests':>9} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7}")
    for route, row in scenario["routes"].items():
        print(
            f"  {route:48} {row['requests']:>9} {row['rps']:>7} {row['p50_ms']:>8} {row['p99_ms']:>8} "
            f"{row['not_as_expected']:>7}"
        )
    print(
        "  sent at  "
        + "  ".join(f"+{row['from_s']:.0f}s:{row['sent']}/{row['5xx']}" for row in scenario["timeline"])
    )
    print("           (requests sent in each 5 s / of them answered 5xx)")
    for check in scenario["checks"]:
        print(f"  [{'ok' if check['ok'] else 'FAILED'}] {check['name']}: {json.dumps(check['detail'])}")


def main() -> int:
    arguments = _arguments()
    report: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
        "tool": "locust (as a library: locust.env.Environment, local runner, gevent)",
    }
    with LocalStack() as stack:
        report["stack"] = {
            "dynamodb": stack.dynamodb_backend,
            "environment": "template.yaml's defaults",
            "worker_processes_per_function": DEFAULT_MAX_WORKERS,
        }
        # The machine is shared: how busy it was says how far to trust the figures.
        report["load_average_before"] = [round(value, 2) for value in os.getloadavg()]
        started = time.perf_counter()
        ledger = Ledger(sign_up(stack.url, arguments.users))
        report["sign_up_seconds"] = round(time.perf_counter() - started, 1)
        report["steady"] = run_scenario(stack, ledger, arguments.users, arguments.seconds)
        _print("steady", report["steady"])
        report["paused"] = run_scenario(
            stack, ledger, arguments.users, arguments.seconds, arguments.pause_seconds
        )
        _print("DynamoDB Local paused", report["paused"])
        report["load_average_after"] = [round(value, 2) for value in os.getloadavg()]
    report["ok"] = report["steady"]["ok"] and report["paused"]["ok"]
    arguments.out.parent.mkdir(parents=True, exist_ok=True)
    arguments.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten: {arguments.out}; {'every check passed' if report['ok'] else 'A CHECK FAILED'}")
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
