"""The signing-key rotation function Secrets Manager calls, once per step (auth.rotation)."""

from __future__ import annotations

from typing import Any

from auth.clock import SystemClock
from auth.rotation import KeyRotation, Step
from handlers.observability import Metric, count, logger, metrics
from handlers.tracing import tracer

_rotation: KeyRotation | None = None


def rotation() -> KeyRotation:
    global _rotation
    if _rotation is None:
        from auth import aws

        _rotation = KeyRotation(aws.secretsmanager_client(), SystemClock())
    return _rotation


def reset_rotation(replacement: KeyRotation | None = None) -> None:
    """For tests: swap the container's rotation (None rebuilds it from the environment)."""
    global _rotation
    _rotation = replacement


@logger.inject_lambda_context(correlation_id_path="ClientRequestToken")
@metrics.log_metrics
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: Any) -> None:
    step, secret_id, token = event["Step"], event["SecretId"], event["ClientRequestToken"]
    # Names the secret and the version, never a value.
    logger.info("rotation step", step=step, secret_id=secret_id, version_id=token)
    rotation().run(step, secret_id, token)
    if step == Step.FINISH:
        count(Metric.KEY_ROTATED)
