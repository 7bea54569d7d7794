"""The Logger and Metrics every function shares, and the names of its metrics (the
authorizer's denial lines are in handlers.denials).

Alarms in template.yaml name these metrics; tests/unit/test_template.py keeps the two in step.
"""

from __future__ import annotations

from enum import StrEnum

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

SERVICE = "memos-auth"
METRICS_NAMESPACE = "memos-auth"
# The authorizer's denials carry this dimension, so a dashboard can split them by cause.
REASON_DIMENSION = "reason"


class Metric(StrEnum):
    SIGN_INS = "SignIns"
    SIGN_IN_FAILURES = "SignInFailures"
    THROTTLED = "Throttled"
    REFRESH_REUSE_DETECTED = "RefreshReuseDetected"
    AUTHORIZER_DENIED = "AuthorizerDenied"
    KEY_ROTATED = "KeyRotated"


class DenialReason(StrEnum):
    NO_CREDENTIAL = "no_credential"
    INVALID_CREDENTIAL = "invalid_credential"
    ROUTE_FORBIDDEN = "route_forbidden"
    # A dependency failed and the authorizer refused rather than guess (SPEC §4).
    FAILED_CLOSED = "failed_closed"
    # A session cookie on another site's state-changing request (SPEC §10).
    CROSS_SITE = "cross_site"


logger = Logger(service=SERVICE)
metrics = Metrics(namespace=METRICS_NAMESPACE, service=SERVICE)


def count(metric: Metric) -> None:
    metrics.add_metric(name=metric.value, unit=MetricUnit.Count, value=1)
