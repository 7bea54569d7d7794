"""The rules every change of a second factor follows (SPEC §7), whichever factor it is.

TOTP with its recovery codes (auth.factors) and passkeys (auth.passkeys) are changed, and
linked identities (SPEC §8) unlinked (auth.linked_identities), under the same rules: every
change needs the caller's recent sign-in (auth.recent_sign_in, never a PAT); an admin's
removal of another user's factor ends every login of that user, since whoever asked for it
may be locked out because someone else holds the account; and each removal is audited
with who made it.
"""

from __future__ import annotations

from auth.audit import AuditEvent, AuditSink, CredentialKind, by_whom
from auth.clock import Clock
from auth.models import User
from auth.principal import Principal
from auth.recent_sign_in import RecentSignIn
from auth.revocation import CredentialRevocation


class FactorChanges:
    """What the factor services share: the clock and audit trail, and the rules above."""

    def __init__(
        self, recent_sign_in: RecentSignIn, revocation: CredentialRevocation, clock: Clock, audit: AuditSink
    ) -> None:
        self._recent_sign_in = recent_sign_in
        self._revocation = revocation
        self.clock = clock
        self.audit = audit

    def now(self) -> int:
        return int(self.clock.now())

    def require_recent_sign_in(self, caller: Principal) -> None:
        self._recent_sign_in.require(caller)

    def before_removal(self, caller: Principal, owner: User, factor: str) -> None:
        """An admin's removal ends the owner's logins first: should a later step fail, the
        user is signed out with the factor still there and a retry finishes; never the factor
        gone with the logins (perhaps an intruder's) it was removed to end still alive."""
        if caller.user_id != owner.id:
            self._revocation.end_every_login(owner, reason=f"{factor} removed by an admin")

    def removed(self, kind: CredentialKind, caller: Principal, owner: User, credential_id: str) -> None:
        self.audit.record(
            AuditEvent.REVOKED, kind, owner.id, credential_id, reason=f"removed {by_whom(caller, owner.id)}"
        )
