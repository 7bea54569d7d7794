"""Cold start: import a function and build its clients in a fresh interpreter, against the
same for `import boto3` plus one client (boto3 is in the Lambda runtime: the floor).

Measured in two environments: the Lambda-like virtualenvs (created by `make bench`; each
holds what `sam build` packages for the function, and boto3: src/requirements.txt for the
API, src/requirements-authorizer.txt for the authorizer) and the dev virtualenv, which also
holds `cryptography`, which PyJWT imports eagerly when it is present.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
PROBE = BENCH_DIR / "cold_probe.py"
LAMBDA_PYTHON = BENCH_DIR / ".venv-lambda" / "bin" / "python"
# The authorizer's package holds less (src/requirements-authorizer.txt): no cryptography,
# which PyJWT imports when it is installed, so its cold start is measured in a venv of that.
LAMBDA_AUTHORIZER_PYTHON = BENCH_DIR / ".venv-lambda-authorizer" / "bin" / "python"
KINDS = ("boto3", "authorizer", "api", "api_first_request")
RUNS = 15
# What a Lambda container has: a region and credentials in the environment, no config
# files. The endpoint points nowhere, so a stray call would fail fast, never leave the host.
PROBE_ENV = {
    "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    "AWS_CONFIG_FILE": "/nonexistent",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
    "STAGE": "dev",
}


def _probe(python: Path | str, kind: str, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and probe script
        [str(python), *flags, str(PROBE), kind], env=PROBE_ENV, capture_output=True, text=True, check=True
    )


def _environment(python: Path | str, authorizer_python: Path | str | None = None) -> dict[str, Any]:
    """Each kind in `python`; the authorizer and the floor in `authorizer_python` when given.

    The floor is boto3 as the Lambda runtime has it, so it runs in the leaner venv: in the
    API's, boto3's own import is slower (webauthn brings pyOpenSSL, which botocore imports
    when present, with `cryptography`), and that belongs to the API's figure, not the floor's.
    """
    runs: dict[str, list[float]] = {kind: [] for kind in KINDS}
    lean = authorizer_python or python
    interpreter = {kind: python for kind in KINDS} | {"authorizer": lean, "boto3": lean}
    # Interleaved, so a noisy neighbour slows every kind alike; each ratio is taken within
    # one round and the median of those is reported, so a slow round skews neither side.
    for _ in range(RUNS):
        for kind in KINDS:
            # The last line: a handler may log to stdout before it.
            runs[kind].append(json.loads(_probe(interpreter[kind], kind).stdout.splitlines()[-1])["ms"])
    medians = {kind: statistics.median(values) for kind, values in runs.items()}

    def ratio(kind: str) -> float:
        return round(statistics.median(m / b for m, b in zip(runs[kind], runs["boto3"], strict=True)), 2)

    return {
        "python": str(python),
        "authorizer_python": str(interpreter["authorizer"]),
        "runs": RUNS,
        **{f"{kind}_ms": round(medians[kind], 1) for kind in KINDS},
        "authorizer_vs_boto3": ratio("authorizer"),
        "api_vs_boto3": ratio("api"),
        # No target: what an on-demand cold start pays by its first answer (bench README).
        "api_first_request_vs_boto3": ratio("api_first_request"),
    }


def _import_self_times(python: Path | str, kind: str) -> dict[str, int]:
    stderr = _probe(python, kind, "-X", "importtime").stderr
    times: dict[str, int] = {}
    for line in stderr.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[0].strip().isdigit():
            times[parts[2].strip()] = int(parts[0])
    return times


def marginal_imports(python: Path | str, top: int = 8) -> dict[str, float]:
    """Self import time (ms) of what the authorizer imports beyond boto3, by top-level package,
    in `python` (for both the floor and the authorizer)."""
    baseline = _import_self_times(python, "boto3")
    by_package: Counter[str] = Counter()
    for module, micros in _import_self_times(python, "authorizer").items():
        if module not in baseline:
            by_package[module.split(".")[0]] += micros
    return {package: round(micros / 1000, 1) for package, micros in by_package.most_common(top)}


def measure() -> dict[str, Any]:
    result: dict[str, Any] = {"dev_venv": _environment(sys.executable)}
    if LAMBDA_PYTHON.exists() and LAMBDA_AUTHORIZER_PYTHON.exists():
        result["lambda_venv"] = _environment(LAMBDA_PYTHON, LAMBDA_AUTHORIZER_PYTHON)
        result["lambda_venv"]["authorizer_marginal_imports_ms"] = marginal_imports(LAMBDA_AUTHORIZER_PYTHON)
    else:
        missing = f"{LAMBDA_PYTHON} or {LAMBDA_AUTHORIZER_PYTHON} missing: `make bench` creates them"
        result["lambda_venv"] = {"skipped": missing}
    return result
