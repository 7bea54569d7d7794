"""The signing-key rotation function Secrets Manager calls, once per step (auth.key_rotation)."""

from __future__ import annotations

# First: it pauses the garbage collector until init_pause.end() below ends this init.
from handlers import init_pause

# isort: split
from typing import Any

from auth.clock import SystemClock
from auth.key_rotation import KeyRotation
from handlers.audit_log import LoggerAudit
from handlers.lazy import Lazy
from handlers.observability import Metric, count, logger, metrics


def _build() -> KeyRotation:
    from auth import aws

    return KeyRotation(aws.secretsmanager_client(), SystemClock(), LoggerAudit(logger))


rotation: Lazy[KeyRotation] = Lazy(_build)


@logger.inject_lambda_context(correlation_id_path="ClientRequestToken")
@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> None:
    step, secret_id, token = event["Step"], event["SecretId"], event["ClientRequestToken"]
    # Names the secret and the version, never a value.
    logger.info("rotation step", step=step, secret_id=secret_id, version_id=token)
    # Counted only when this call moved AWSCURRENT: Secrets Manager may retry finishSecret
    # after it succeeded, and that retry is no second rotation.
    if rotation().run(step, secret_id, token):
        count(Metric.KEY_ROTATED)


init_pause.end()
