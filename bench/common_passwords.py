"""The sign-up path's common-password check (SPEC §3): what loading the list costs a
container once, and what a check costs after that.

Each round is a fresh interpreter (the list is loaded once per process, like a Lambda
container's): it imports `auth.passwords`, times the first `validate_password` (which loads
zxcvbn's list of 30,000), then a warm check, and reads its RSS before and after the load.
Twice: with the list module's bytecode cached, and without (`-X pycache_prefix` pointing to
an empty directory), as in a package built without `.pyc` files, where the first load also
compiles the module. `python -m bench.common_passwords` runs this alone.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ROUNDS = 9
WARM_CHECKS = 10_000
# Not on the list, so every check goes all the way through it.
PASSWORD = "correct horse battery staple"

_PROBE = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, {src!r})

def rss_mb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0

from auth.passwords import validate_password
before = rss_mb()
started = time.perf_counter()
validate_password({password!r})
first_ms = (time.perf_counter() - started) * 1000
after = rss_mb()
started = time.perf_counter()
for _ in range({checks}):
    validate_password({password!r})
warm_us = (time.perf_counter() - started) / {checks} * 1e6
print(json.dumps({{"first_ms": first_ms, "warm_us": warm_us, "rss_added_mb": after - before}}))
"""


def _round(*flags: str) -> dict[str, float]:
    code = _PROBE.format(src=str(ROOT / "src"), password=PASSWORD, checks=WARM_CHECKS)
    done = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
        [sys.executable, *flags, "-c", code], capture_output=True, text=True, check=True
    )
    measured: dict[str, float] = json.loads(done.stdout)
    return measured


def _summary(runs: list[dict[str, float]]) -> dict[str, float]:
    return {
        "first_check_ms": round(statistics.median(run["first_ms"] for run in runs), 1),
        "warm_check_us": round(statistics.median(run["warm_us"] for run in runs), 2),
        "rss_added_mb": round(statistics.median(run["rss_added_mb"] for run in runs), 1),
    }


def measure() -> dict[str, Any]:
    _round()  # leaves the list module's bytecode cached for the first variant
    cached, uncached = [], []
    for _ in range(ROUNDS):
        cached.append(_round())
        with tempfile.TemporaryDirectory() as empty:
            uncached.append(_round("-X", f"pycache_prefix={empty}"))
    from auth.passwords import common_passwords

    return {
        # Also run on its own (`python -m bench.common_passwords`), so it says when.
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "entries": len(common_passwords()),
        "rounds": ROUNDS,
        "warm_checks": WARM_CHECKS,
        "with_pyc": _summary(cached),
        "without_pyc": _summary(uncached),
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=2))
