"""The rules every change of a second factor follows (SPEC §7), whichever factor it is.

TOTP with its recovery codes (auth.factors) and passkeys (auth.passkeys) are changed, and
linked identities (SPEC §8) unlinked (auth.linked_identities), under the same rules: every
change needs the caller's recent sign-in (auth.recent_sign_in, never a PAT); an admin's
removal of another user's factor ends every login of that user, since whoever asked for it
may be locked out because someone else holds the account; and each removal is audited
with who made it.

An admin's removal stores the factor's deletion and the user's new cut-off
(`tokens_not_before`) in one transaction. A sign-in with TOTP or a passkey reads its user
before it spends the factor (a conditional write), so one racing the removal either spent
the factor before the transaction, and then read the old cut-off, which its session or
refresh family must still match when stored (UserStore.unchanged_since), or finds the
factor gone. Were the cut-off stored first and the factor deleted after, a sign-in with the
factor in between would read the new cut-off and its login would outlive the removal.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from auth.audit import AuditEvent, AuditSink, CredentialKind, audited_write, by_whom
from auth.clock import Clock
from auth.models import User
from auth.principal import Principal
from auth.recent_sign_in import RecentSignIn
from auth.revocation import CredentialRevocation
from auth.stores.user_store import CutOffPassed, UserStore

# A store's removal of one factor: True when it was removed, in one transaction with the
# item given (None: nothing else to write); False when the factor (or that item's
# condition) was not there.
Removal = Callable[[dict[str, Any] | None], bool]


class FactorChanges:
    """What the factor services share: the clock and audit trail, and the rules above."""

    def __init__(
        self,
        recent_sign_in: RecentSignIn,
        revocation: CredentialRevocation,
        users: UserStore,
        clock: Clock,
        audit: AuditSink,
    ) -> None:
        self._recent_sign_in = recent_sign_in
        self._revocation = revocation
        self._users = users
        self.clock = clock
        self.audit = audit

    def now(self) -> int:
        return int(self.clock.now())

    def require_recent_sign_in(self, caller: Principal) -> None:
        self._recent_sign_in.require(caller)

    def remove(
        self,
        caller: Principal,
        owner: User,
        factor: str,
        removal: Removal,
        gone: Sequence[tuple[CredentialKind, str]],
        how: str = "removed",
    ) -> bool:
        """Run the store's `removal` of a factor of `owner`'s: whether it removed it. Each of
        `gone` (a credential's kind and id) is audited ("`how` by whom") as soon as the
        removal is stored, before anything after it can fail.

        The user's own keeps their logins. An admin's ends every login of the owner: their
        sign-ins are swept, then the factor goes in one transaction with the new cut-off (see
        above), then the sign-ins are swept again. Should a step fail, the user is signed out
        with the factor still there and a retry finishes; never the factor gone with the
        logins (perhaps an intruder's) it was removed to end still alive."""

        def revoked(note: str) -> None:
            for kind, credential_id in gone:
                reason = f"{how} {by_whom(caller, owner.id)}{note}"
                self.audit.record(AuditEvent.REVOKED, kind, owner.id, credential_id, reason=reason)

        def removed_with(also: dict[str, Any] | None) -> bool:
            return audited_write(functools.partial(removal, also), revoked)

        if caller.user_id == owner.id:
            return removed_with(None)
        removed = False

        def with_the_cut_off(cut_off: int) -> User:
            nonlocal removed
            # The cut-off alone: what the user resource shows (updateTime too) is unchanged.
            ended = replace(owner, tokens_not_before=cut_off)
            removed = removed_with(self._users.update_item(owner, ended))
            if not removed:
                # Not the factor but the cut-off may be what was refused.
                CutOffPassed.check(self._users.get(owner.id, consistent=True), cut_off)
            return ended if removed else owner

        self._revocation.end_every_login(
            owner, reason=f"{factor} removed by an admin", write=with_the_cut_off
        )
        return removed
