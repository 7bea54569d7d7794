"""Each function's package as `sam build` makes it (src/Makefile's targets), and its size.

Built into a temporary directory with this interpreter's pip, from PyPI (arm64 wheels for
Python 3.12, as the template deploys); skipped, saying why, when the wheels cannot be had.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parent.parent / "src"
FUNCTIONS = ("AuthorizerFunction", "ApiFunction", "KeyRotationFunction", "PagesFunction")
# What only the API function may hold (issue 16): the lean packages are checked for it.
API_ONLY = ("pydantic", "pydantic_core", "bcrypt", "zxcvbn", "aws_lambda_powertools/event_handler")


def _size_mb(root: Path) -> float:
    return round(sum(path.stat().st_size for path in root.rglob("*") if path.is_file()) / 1e6, 1)


def _build(function: str, into: Path) -> None:
    subprocess.run(  # noqa: S603 - make with our own Makefile and interpreter
        [
            shutil.which("make") or "make",
            "-s",
            "-C",
            str(SRC),
            f"build-{function}",
            f"ARTIFACTS_DIR={into}",
            f"PYTHON={sys.executable}",
        ],
        capture_output=True,
        check=True,
        text=True,
    )


def measure() -> dict[str, Any]:
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for function in FUNCTIONS:
            into = Path(scratch) / function
            try:
                _build(function, into)
            except subprocess.CalledProcessError as failed:
                return {"skipped": f"make build-{function} failed: {failed.stderr.strip()[-300:]}"}
            result[function] = {
                "size_mb": _size_mb(into),
                "holds_api_only_code": sorted(name for name in API_ONLY if (into / name).exists()),
            }
    return result
