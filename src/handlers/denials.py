"""The authorizer's refusals: every one counted, at most one a second logged.

A refusal is what an attacker can make as many of as they like, so it must cost little.
Through Powertools, its metric (add_metric, then a flush by `log_metrics`) and its JSON log
line were ~200 µs, most of a garbage token's time. The metric line here is the same
CloudWatch embedded-metric-format document Powertools writes (one per refused invocation,
so the alarm on AuthorizerDenied sees every one), built from a prefix and suffix fixed per
reason; the log line is kept for diagnosis but throttled, carrying how many refusals it
stands for, so a flood of junk neither slows the authorizer nor floods CloudWatch Logs.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

from handlers.observability import METRICS_NAMESPACE, REASON_DIMENSION, SERVICE, DenialReason, Metric, logger

# One line a second per container is plenty to see why requests are refused; the
# metric counts them all.
REFUSAL_LOG_INTERVAL_SECONDS = 1.0


def _emf_parts(reason: DenialReason) -> tuple[str, str]:
    """The EMF document for one denial, split around its timestamp."""
    document = {
        "_aws": {
            "Timestamp": 0,
            "CloudWatchMetrics": [
                {
                    "Namespace": METRICS_NAMESPACE,
                    "Dimensions": [[REASON_DIMENSION, "service"]],
                    "Metrics": [{"Name": Metric.AUTHORIZER_DENIED.value, "Unit": "Count"}],
                }
            ],
        },
        REASON_DIMENSION: reason.value,
        "service": SERVICE,
        Metric.AUTHORIZER_DENIED.value: [1.0],
    }
    prefix, suffix = json.dumps(document, separators=(",", ":")).split('"Timestamp":0', 1)
    return prefix + '"Timestamp":', suffix


_EMF = {reason: _emf_parts(reason) for reason in DenialReason}


def count_denial(reason: DenialReason) -> None:
    prefix, suffix = _EMF[reason]
    # stdout, as Powertools writes it: Lambda sends it to CloudWatch Logs, which extracts the metric.
    sys.stdout.write(f"{prefix}{time.time_ns() // 1_000_000}{suffix}\n")
    sys.stdout.flush()


class RefusalLog:
    """Logs a refusal only when `interval` seconds have passed since the last one logged."""

    def __init__(
        self, interval: float = REFUSAL_LOG_INTERVAL_SECONDS, now: Callable[[], float] = time.monotonic
    ) -> None:
        self._interval = interval
        self._now = now
        self._last = float("-inf")
        self._suppressed = 0

    def refused(self, reason: str, route: str) -> None:
        now = self._now()
        if now - self._last < self._interval:
            self._suppressed += 1
            return
        # `suppressed`: the refusals since the previous line that were counted, not logged.
        # stacklevel 3: the line's `location` names the handler that refused, not this method.
        logger.info(
            "credential refused", reason=reason, route=route, suppressed=self._suppressed, stacklevel=3
        )
        self._last, self._suppressed = now, 0
