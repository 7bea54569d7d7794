"""Peak RSS of one process running 10,000 authorizer invocations.

The parent seeds every available credential path (100 credentials each) and hands the
tables and events to a fresh interpreter, preferably the Lambda-like virtualenv's, so the
figure is the authorizer's own and not the bench's or moto's.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from auth.clock import SystemClock
from bench.cases import CASES
from bench.cold_start import LAMBDA_PYTHON, PROBE_ENV
from bench.world import fake_world

INVOCATIONS = 10_000
CREDENTIALS_PER_CASE = 100
PROBE = Path(__file__).resolve().parent / "memory_probe.py"


def _seed() -> dict[str, Any]:
    world = fake_world(SystemClock())
    users = world.add_users(CREDENTIALS_PER_CASE)
    events = [
        case.make(world, user, index).event()
        for case in CASES
        if case.available
        for index, user in enumerate(users)
    ]
    return {
        "key_names": world.dynamodb.key_names,
        "tables": world.dynamodb.tables,
        "secret": world.secretsmanager.secret_strings["AWSCURRENT"],
        "events": events,
    }


def measure() -> dict[str, Any]:
    python = LAMBDA_PYTHON if LAMBDA_PYTHON.exists() else Path(sys.executable)
    with tempfile.NamedTemporaryFile("w", suffix=".json") as seed_file:
        json.dump(_seed(), seed_file)
        seed_file.flush()
        completed = subprocess.run(  # noqa: S603 - our own interpreter and probe script
            [str(python), str(PROBE), seed_file.name, str(INVOCATIONS)],
            env=PROBE_ENV,
            capture_output=True,
            text=True,
            check=True,
        )
    return {"python": str(python), **json.loads(completed.stdout.splitlines()[-1])}
