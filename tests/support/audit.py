"""An audit sink that keeps events in memory, for assertions."""

from __future__ import annotations

from auth.audit import AuditEvent, CredentialKind


class RecordingAudit:
    def __init__(self) -> None:
        self.events: list[tuple[AuditEvent, CredentialKind, int, str, str]] = []

    def record(
        self, event: AuditEvent, kind: CredentialKind, user_id: int, credential_id: str, reason: str = ""
    ) -> None:
        self.events.append((event, kind, user_id, credential_id, reason))
