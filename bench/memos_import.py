"""How long importing a large Memos database takes: 10,000 users with 2 PATs each, into
DynamoDB Local (a LocalStack of its own), measured once, wall clock."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

USERS = 10_000
PATS_EACH = 2
TARGET_SECONDS = 60.0


def measure(users: int = USERS) -> dict[str, Any]:
    from devstack.stack import LocalStack
    from tests.support.memos_db import go_bcrypt, many_users
    from tools.memos_import import mapping, memos_sqlite
    from tools.memos_import.target import from_stack_file, resolve
    from tools.memos_import.writer import Importer

    with tempfile.TemporaryDirectory() as folder, LocalStack() as stack:
        if stack.dynamodb_backend != "dynamodb-local":
            return {"skipped": f"DynamoDB Local is not available here ({stack.dynamodb_backend})"}
        # One hash for all: hashing is Memos' cost, not the import's.
        db = many_users(Path(folder) / "memos.db", users, PATS_EACH, go_bcrypt("bench password 1"))
        db.close()
        started = time.perf_counter()
        plan = mapping.plan(memos_sqlite.read(db.path), int(time.time()))
        report = Importer(resolve(from_stack_file(stack.ready_file))).run(plan)
        seconds = time.perf_counter() - started
    return {
        "users": users,
        "pats_each": PATS_EACH,
        "seconds": round(seconds, 1),
        "users_imported": report.counts[("users", "imported")],
        "rejections": len(report.rejections),
    }
