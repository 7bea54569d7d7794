"""`python -m bench`: run every measurement once, print the tables, write results.json."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import (
    bcrypt_cost,
    calls,
    cold_start,
    common_passwords,
    costs,
    latency,
    memory,
    memos_import,
    packages,
    report,
    targets,
    user_pages,
)
from bench.cases import CASES

RESULTS = Path(__file__).resolve().parent / "results.json"


def _step(name: str, measure: Any) -> Any:
    print(f"bench: {name} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    result = measure()
    print(f"bench: {name} done in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return result


def main() -> None:
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
        },
    }
    results["latency"] = _step("warm latency", latency.measure)
    results["calls"] = _step("AWS calls (moto)", calls.measure)
    results["cold_start"] = _step("cold start", cold_start.measure)
    results["packages"] = _step("packages", packages.measure)
    results["memory"] = _step("peak RSS", memory.measure)
    results["bcrypt"] = _step("bcrypt", bcrypt_cost.measure)
    results["common_passwords"] = _step("common-password list", common_passwords.measure)
    results["memos_import"] = _step("Memos import (DynamoDB Local)", memos_import.measure)
    results["costs"] = {
        case.key: costs.per_million(
            results["latency"][case.key]["median_us"], results["calls"][case.key]["100_credentials"]
        )
        for case in CASES
        if case.available
    }
    results["user_pages"] = _step("GET /api/v1/users, 10,000 users (DynamoDB Local)", user_pages.measure)
    results["targets"] = targets.evaluate(results) + user_pages.evaluate(results["user_pages"])
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(report.render(results))
    print("\n" + user_pages.render(results["user_pages"]))
    print(f"\nwritten: {RESULTS.relative_to(Path.cwd()) if RESULTS.is_relative_to(Path.cwd()) else RESULTS}")


if __name__ == "__main__":
    main()
