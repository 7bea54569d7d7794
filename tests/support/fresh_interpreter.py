"""A fresh Python interpreter in src/, as a Lambda container starts one: what a cold start
imports and loads (tests/unit/test_cold_start.py, tests/unit/test_lazy_routes.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# Only what the imports need: a variable of the caller's (AWS_LAMBDA_INITIALIZATION_TYPE,
# an endpoint) would change what a cold start loads.
ENVIRONMENT = {"AWS_DEFAULT_REGION": "us-east-1", "PATH": "/usr/bin:/bin"}


def printed(code: str, env: Mapping[str, str] | None = None) -> Any:
    """What a fresh interpreter in src/ prints as JSON after running `code`, with `env`
    added to its environment."""
    answer = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, "-c", code],
        cwd=ROOT / "src",
        capture_output=True,
        check=True,
        text=True,
        env={**ENVIRONMENT, **(env or {})},
    )
    return json.loads(answer.stdout)


def modules_after(code: str, env: Mapping[str, str] | None = None) -> list[str]:
    """The modules a fresh interpreter in src/ holds after running `code`."""
    loaded = printed(f"import json, sys\n{code}\nprint(json.dumps(sorted(sys.modules)))", env)
    assert isinstance(loaded, list)
    return loaded
