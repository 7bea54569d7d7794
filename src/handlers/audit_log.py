"""The audit sink of the deployed functions: one structured log line per event.

Filter them in CloudWatch Logs Insights with `filter ispresent(audit_event)`.
"""

from __future__ import annotations

from aws_lambda_powertools import Logger

from auth.audit import AuditEvent, CredentialKind, audit_fields


class LoggerAudit:
    def __init__(self, logger: Logger) -> None:
        self._logger = logger

    def record(
        self, event: AuditEvent, kind: CredentialKind, user_id: int, credential_id: str, reason: str = ""
    ) -> None:
        self._logger.info("audit", extra=audit_fields(event, kind, user_id, credential_id, reason))
