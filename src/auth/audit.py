"""Audit events for credentials: created, first used, revoked, refused for reuse.

The domain reports them through an AuditSink it is given; the handlers' sink writes them
as structured log lines. An event names the credential by its id, never by its secret.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class AuditEvent(StrEnum):
    CREATED = "credential.created"
    FIRST_USED = "credential.first_used"
    REVOKED = "credential.revoked"
    REUSE_REFUSED = "credential.reuse_refused"


class CredentialKind(StrEnum):
    REFRESH_TOKEN = "refresh_token"
    PAT = "pat"
    SESSION = "session"


class AuditSink(Protocol):
    def record(
        self, event: AuditEvent, kind: CredentialKind, user_id: int, credential_id: str, reason: str = ""
    ) -> None: ...


class NullAudit:
    def record(
        self, event: AuditEvent, kind: CredentialKind, user_id: int, credential_id: str, reason: str = ""
    ) -> None:
        return None


class RecordingAudit:
    """Keeps events in memory; for tests."""

    def __init__(self) -> None:
        self.events: list[tuple[AuditEvent, CredentialKind, int, str, str]] = []

    def record(
        self, event: AuditEvent, kind: CredentialKind, user_id: int, credential_id: str, reason: str = ""
    ) -> None:
        self.events.append((event, kind, user_id, credential_id, reason))
