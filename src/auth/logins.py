"""A user's logins (SPEC §3 `/users/{username}/sessions`): browser sessions and refresh-token
families side by side, so a user can see every place they are signed in and end any of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from auth.audit import AuditEvent, AuditSink, CredentialKind, NullAudit
from auth.clock import Clock
from auth.errors import NotFound
from auth.models import ClientInfo, Device
from auth.sessions import Sessions
from auth.stores.refresh_tokens import RefreshTokenStore
from auth.user_agents import parse_user_agent


class LoginKind(StrEnum):
    SESSION = "session"
    REFRESH_TOKEN = "refresh_token"


@dataclass(frozen=True)
class Login:
    id: str
    kind: LoginKind
    created_at: int
    last_accessed_at: int
    expires_at: int
    client: ClientInfo
    device: Device


class Logins:
    def __init__(
        self, sessions: Sessions, refresh: RefreshTokenStore, clock: Clock, audit: AuditSink | None = None
    ) -> None:
        self._sessions = sessions
        self._refresh = refresh
        self._clock = clock
        self._audit = audit or NullAudit()

    def list_for_user(self, user_id: int) -> list[Login]:
        """Live logins, most recently used first."""
        now = self._clock.now()
        logins = [
            Login(
                record.session_id,
                LoginKind.SESSION,
                record.created_at,
                record.last_accessed_at,
                record.expires_at,
                record.client,
                record.device,
            )
            for record in self._sessions.list_for_user(user_id)
        ]
        logins += [
            Login(
                family.family_id,
                LoginKind.REFRESH_TOKEN,
                family.created_at,
                family.last_used_at,
                family.expires_at,
                family.client,
                parse_user_agent(family.client.user_agent),
            )
            for family in self._refresh.for_user(user_id)
            if not family.revoked and now < family.expires_at
        ]
        return sorted(logins, key=lambda login: (-login.last_accessed_at, login.id))

    def revoke(self, user_id: int, login_id: str) -> None:
        """End one login of the user, whichever kind; NotFound when it is not theirs."""
        if self._sessions.revoke(login_id, user_id, reason="revoked by user"):
            return
        if self._refresh.revoke_for_user(login_id, user_id, int(self._clock.now())):
            self._audit.record(
                AuditEvent.REVOKED, CredentialKind.REFRESH_TOKEN, user_id, login_id, reason="revoked by user"
            )
            return
        raise NotFound("session not found")
