"""The audit sink of the deployed functions: one structured log line per event.

Filter them in CloudWatch Logs Insights with `filter ispresent(audit_event)`.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from auth.audit import AuditEvent, CredentialKind


class LoggerAudit:
    def __init__(self, logger: Logger) -> None:
        self._logger = logger

    def record(
        self, event: AuditEvent, kind: CredentialKind, user_id: int, credential_id: str, reason: str = ""
    ) -> None:
        # The credential is named by its id only (a family, session or token id): never
        # by the secret itself or its hash.
        self._logger.info(
            "audit",
            audit_event=event.value,
            credential_kind=kind.value,
            user_id=user_id,
            credential_id=credential_id,
            reason=reason,
        )
