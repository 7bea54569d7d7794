"""The sign-in path's price: bcrypt time per cost factor, and what it means per Lambda size.

Lambda gives a function CPU in proportion to its memory, one full vCPU at 1,769 MB. The
per-size figures assume a Lambda vCPU is as fast as one core of this machine and scale the
local time by 1769 / MB below that: an estimate from local timing, not a Lambda measurement.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import bcrypt

COSTS = range(8, 13)
ROUNDS = 3
FULL_VCPU_MB = 1769
MEMORY_SIZES_MB = (128, 256, 512, 1024, 1769)
# A sign-in that waits longer than this on its hash starts to feel slow.
SIGN_IN_BUDGET_MS = 250
PASSWORD = b"correct horse battery staple"


def lambda_ms(local_ms: float, memory_mb: int) -> float:
    return local_ms * max(1.0, FULL_VCPU_MB / memory_mb)


def _hash_ms(cost: int) -> float:
    salt = bcrypt.gensalt(rounds=cost)
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        bcrypt.hashpw(PASSWORD, salt)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure() -> dict[str, Any]:
    rows = []
    for cost in COSTS:
        local = _hash_ms(cost)
        estimates = {str(size): round(lambda_ms(local, size)) for size in MEMORY_SIZES_MB}
        fits = [size for size in MEMORY_SIZES_MB if lambda_ms(local, size) <= SIGN_IN_BUDGET_MS]
        rows.append(
            {
                "cost": cost,
                "local_ms": round(local, 1),
                "estimated_lambda_ms_by_memory_mb": estimates,
                "smallest_memory_mb_within_budget": fits[0] if fits else None,
            }
        )
    return {"budget_ms": SIGN_IN_BUDGET_MS, "rounds": ROUNDS, "rows": rows}
