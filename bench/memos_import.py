"""How long importing a large Memos database takes: 10,000 users with 2 PATs each, into
DynamoDB Local (a LocalStack of its own), measured once, wall clock.

Part of `python -m bench`; alone, `PYTHONPATH=src:. .venv/bin/python -m bench.memos_import`
(`make bench-import`) measures it and merges its section and target into results.json.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

USERS = 10_000
PATS_EACH = 2
TARGET_SECONDS = 60.0
TARGET_NAME = "Memos import: 10,000 users with 2 PATs each into DynamoDB Local (s)"
RESULTS = Path(__file__).resolve().parent / "results.json"


def measure(users: int = USERS) -> dict[str, Any]:
    from devstack.backends import SUSTAINED_LOAD
    from devstack.stack import LocalStack
    from tests.support.memos_db import go_bcrypt, many_users
    from tools.memos_import import mapping, memos_sqlite
    from tools.memos_import.target import from_stack_file, resolve
    from tools.memos_import.writer import DEFAULT_THREADS, Importer

    with tempfile.TemporaryDirectory() as folder, LocalStack(env_overrides=SUSTAINED_LOAD) as stack:
        if stack.dynamodb_backend != "dynamodb-local":
            return {"skipped": f"DynamoDB Local is not available here ({stack.dynamodb_backend})"}
        # One hash for all: hashing is Memos' cost, not the import's.
        db = many_users(Path(folder) / "memos.db", users, PATS_EACH, go_bcrypt("bench password 1"))
        db.close()
        load = os.getloadavg()[0]
        started = time.perf_counter()
        plan = mapping.plan(memos_sqlite.read(db.path), int(time.time()))
        report = Importer(resolve(from_stack_file(stack.ready_file))).run(plan)
        seconds = time.perf_counter() - started
        # The same import again: every user found by batch reads, nothing written.
        again_started = time.perf_counter()
        again = Importer(resolve(from_stack_file(stack.ready_file))).run(plan)
        again_seconds = time.perf_counter() - again_started
    return {
        "users": users,
        "pats_each": PATS_EACH,
        "threads": DEFAULT_THREADS,
        "seconds": round(seconds, 1),
        "users_imported": report.counts[("users", "imported")],
        "rejections": len(report.rejections),
        "second_run_seconds": round(again_seconds, 1),
        "second_run_users_unchanged": again.counts[("users", "unchanged")],
        # The machine is shared: how busy it was when the import began (1-minute average).
        "load_average_at_start": round(load, 2),
    }


def evaluate(imported: dict[str, Any] | None) -> list[dict[str, Any]]:
    target = f"< {TARGET_SECONDS:.0f}"
    if imported is None or "skipped" in imported:
        reason = imported["skipped"] if imported else "not measured"
        return [{"name": TARGET_NAME, "measured": None, "target": target, "met": None, "skipped": reason}]
    met = imported["seconds"] < TARGET_SECONDS and imported["users_imported"] == imported["users"]
    return [{"name": TARGET_NAME, "measured": imported["seconds"], "target": target, "met": met}]


def merge(imported: dict[str, Any], path: Path = RESULTS) -> None:
    """Put this module's section and target into results.json, replacing its own earlier ones."""
    results = json.loads(path.read_text()) if path.exists() else {}
    results["memos_import"] = imported
    kept = [target for target in results.get("targets", []) if target["name"] != TARGET_NAME]
    results["targets"] = kept + evaluate(imported)
    path.write_text(json.dumps(results, indent=2) + "\n")


def main() -> None:
    imported = measure()
    merge(imported)
    print(json.dumps(imported, indent=2))
    if not all(target["met"] for target in evaluate(imported)):
        print(f"missed: {TARGET_NAME}", file=sys.stderr)


if __name__ == "__main__":
    main()
