"""The import's audit trail: one JSON line per credential it writes, appended to a file.

The service's functions audit what they make in their logs (handlers.audit_log); an import
runs outside them, so its events go to a file the operator keeps with those logs, in the
same fields (auth.audit.audit_fields) and with the time each was written.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

from auth.audit import AuditEvent, CredentialKind, audit_fields
from auth.errors import Unavailable

SERVICE = "memos-import"


class AuditLogFailed(Unavailable):
    """The audit file cannot be written: the run stops as when storage fails, and what it
    wrote unaudited is audited by the next (tools.memos_import.writer: found unmarked)."""

    default_message = "the audit log cannot be written"


class AuditFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.recorded = 0
        # Why the file could not be written, once it could not.
        self.failure: str | None = None
        # The importer's threads record at once: one whole line each.
        self._lock = threading.Lock()
        self._file = path.open("a", encoding="utf-8")

    def record(
        self, event: AuditEvent, kind: CredentialKind, user_id: int, credential_id: str, reason: str = ""
    ) -> None:
        line = {
            "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "service": SERVICE,
            "message": "audit",
            **audit_fields(event, kind, user_id, credential_id, reason),
        }
        with self._lock:
            try:
                self._file.write(json.dumps(line) + "\n")
                self._file.flush()
            except OSError as error:
                self.failure = error.strerror or type(error).__name__
                raise AuditLogFailed() from error
            self.recorded += 1

    def close(self) -> None:
        try:
            self._file.close()
        except OSError as error:
            # What could not be flushed has been reported by `record` already.
            self.failure = self.failure or error.strerror or type(error).__name__

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
