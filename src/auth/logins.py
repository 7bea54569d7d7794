"""A user's logins (SPEC §3 `/users/{username}/sessions`): browser sessions and refresh-token
families side by side, so a user can see every place they are signed in and end any of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from auth.audit import CredentialKind, by_whom
from auth.errors import NotFound
from auth.models import ClientInfo, Device
from auth.principal import Principal
from auth.refresh_tokens import RefreshTokens
from auth.sessions import Sessions
from auth.user_agents import parse_user_agent


@dataclass(frozen=True)
class Login:
    id: str
    # A session or a refresh-token family: the two kinds of credential a sign-in makes.
    kind: CredentialKind
    created_at: int
    last_accessed_at: int
    expires_at: int
    client: ClientInfo
    device: Device


class Logins:
    def __init__(self, sessions: Sessions, refresh_tokens: RefreshTokens) -> None:
        self._sessions = sessions
        self._refresh_tokens = refresh_tokens

    def list_for_user(self, user_id: int) -> list[Login]:
        """Live logins, most recently used first."""
        logins = [
            Login(
                record.session_id,
                CredentialKind.SESSION,
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
                CredentialKind.REFRESH_TOKEN,
                family.created_at,
                family.last_used_at,
                family.expires_at,
                family.client,
                parse_user_agent(family.client.user_agent),
            )
            for family in self._refresh_tokens.live_families(user_id)
        ]
        return sorted(logins, key=lambda login: (-login.last_accessed_at, login.id))

    def revoke(self, caller: Principal, user_id: int, login_id: str) -> None:
        """End one login of the user, whichever kind, at their own request or an admin's;
        NotFound when it is not theirs."""
        reason = f"revoked {by_whom(caller, user_id)}"
        if not (
            self._sessions.revoke(login_id, user_id, reason)
            or self._refresh_tokens.revoke_family(login_id, user_id, reason)
        ):
            raise NotFound("session not found")
