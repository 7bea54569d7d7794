"""`make load`'s harness, in a few seconds: 5 clients, both scenarios, every check passing.

It runs as a process of its own (`python -m bench.load --quick`), as `make load` does:
Locust patches the standard library for gevent, which must not happen inside pytest.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devstack import backends

pytestmark = pytest.mark.e2e

_kind, _why = backends.choose_dynamodb(os.environ)
if _kind != backends.DYNAMODB_LOCAL:
    pytest.skip(f"needs DynamoDB Local to pause: {_why}", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
# The run takes about 40 s (most of it starting the stack); far more means it hangs.
BOUND_SECONDS = 180


def test_the_quick_load_run_passes_every_check(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    finished = subprocess.run(  # noqa: S603  # our own interpreter and module, fixed arguments
        [sys.executable, "-m", "bench.load", "--quick", "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}"},
        capture_output=True,
        text=True,
        timeout=BOUND_SECONDS,
        check=False,
    )
    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-4000:]
    report = json.loads(out.read_text())
    for scenario in ("steady", "paused"):
        checks = {row["name"]: row["ok"] for row in report[scenario]["checks"]}
        assert all(checks.values()), checks
        # The checks had something to check: traffic on every credential path.
        routes = report[scenario]["routes"]
        for route in ("POST /auth/refresh", "GET /auth/me [access token]", "GET /auth/me [session cookie]"):
            assert routes[route]["requests"] > 0, routes
    assert report["paused"]["pause"]["seconds"] == 5.0
    assert any(row["name"].startswith("the API answered 503") for row in report["paused"]["checks"])
