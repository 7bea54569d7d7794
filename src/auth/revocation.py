"""Revoking a user's credentials at once: every login of theirs (on a password change, an
admin's removal of a factor), everything when the user is deleted. Sign-ins and personal
access tokens are revoked through their own services, which audit them; a deleted user's
second factors and linked identities are removed from their stores here, and audited here,
one event for each removed (the factor services build on this module, not it on them)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from auth.audit import AuditEvent, AuditSink, CredentialKind, audited_if_lost, audited_write
from auth.clock import Clock
from auth.models import User
from auth.pats import PersonalAccessTokens
from auth.refresh_tokens import RefreshTokens
from auth.sessions import Sessions
from auth.stores.user_store import CutOffPassed

if TYPE_CHECKING:
    from auth.stores.factor_store import FactorStore, TotpRecord
    from auth.stores.idp_store import IdpStore
    from auth.stores.passkey_store import PasskeyStore
    from auth.stores.user_store import UserStore


# A change whose cut-off another change passed meanwhile works it out again this often.
CUT_OFF_ATTEMPTS = 3


def totp_kinds(totp: TotpRecord) -> list[CredentialKind]:
    """What a TOTP enrolment's removal revokes: the factor, and the recovery codes an
    enabled one has (a pending one has none)."""
    return [CredentialKind.TOTP, CredentialKind.RECOVERY_CODES] if totp.enabled else [CredentialKind.TOTP]


class CredentialRevocation:
    def __init__(
        self,
        refresh_tokens: RefreshTokens,
        sessions: Sessions,
        pats: PersonalAccessTokens,
        clock: Clock,
        audit: AuditSink,
        factors: FactorStore,
        links: IdpStore,
        passkeys: PasskeyStore,
        users: UserStore,
    ) -> None:
        self._refresh_tokens = refresh_tokens
        self._sessions = sessions
        self._pats = pats
        self._clock = clock
        self._factors = factors
        self._links = links
        self._passkeys = passkeys
        self._users = users
        self._audit = audit

    def revoke_sign_ins(self, user_id: int, keep: str = "", reason: str = "credentials revoked") -> None:
        """Revoke every sign-in (refresh family, session) of `user_id` but the one named `keep`.

        Personal access tokens stay: a password change is not meant to break integrations.
        """
        self._refresh_tokens.revoke_all(user_id, keep=keep, reason=reason)
        self._sessions.revoke_all(user_id, keep=keep, reason=reason)

    def end_every_login(
        self,
        user: User,
        keep: str = "",
        *,
        reason: str,
        write: Callable[[int], User],
    ) -> User:
        """End every login of `user` but the sign-in named `keep`: their sign-ins, and every
        access token minted from a read of the user before this change (the cut-off
        `tokens_not_before`, which the authenticator reads within the revocation lag and
        compares with each token's `cutoff` claim). `write(cut_off)` stores the cut-off
        with the change that ends the logins (a new password, a factor's removal) and
        answers the user as stored.

        The sign-ins go first: should the write fail, the worst left is fewer sign-ins, never
        the change alongside the logins (perhaps an intruder's) it was made to end; and an
        access token that a refresh racing this mints, even after the write, carries the
        cut-off it read, which this one ends. And once more after the write: a sign-in stores
        its session or refresh family only while the cut-off is what it read
        (UserStore.unchanged_since), so one that committed
        between the first sweep and the write is ended by the second, and any later one is
        refused. Personal access tokens stay, as in `revoke_sign_ins`.
        """
        self.revoke_sign_ins(user.id, keep, reason)
        for attempt in range(CUT_OFF_ATTEMPTS):
            try:
                ended = write(self._next_cut_off(user))
                break
            except CutOffPassed:
                # Another change stored a cut-off meanwhile: pass that one instead.
                if attempt == CUT_OFF_ATTEMPTS - 1:
                    raise
        self.revoke_sign_ins(user.id, keep, reason)
        return ended

    def _next_cut_off(self, user: User) -> int:
        """Past every earlier cut-off, so that each change ends the tokens minted before it
        (their `cutoff` claim is older: auth.tokens.AccessClaims.ended_by), and past this
        second, so that a token without the claim (Memos') issued before the change is older
        too. Read consistently: `user` may be an eventually consistent read, older than a
        change just made; and stored only over a lower one (UserStore), so that of two
        changes overlapping between read and write, the later written passes the other."""
        stored = self._users.get(user.id, consistent=True)
        latest = max(user.tokens_not_before, stored.tokens_not_before if stored is not None else 0)
        return max(int(self._clock.now()), latest) + 1

    def remove_all(self, user_id: int) -> None:
        """Every credential of a user being deleted, personal access tokens, second factors
        and linked identities included, each audited as soon as it is removed (or its
        removal's answer is lost: auth.audit.audited_if_lost), so that a step that fails
        later leaves no removal out of the trail."""
        self.revoke_sign_ins(user_id, reason="user deleted")
        self._pats.delete_all(user_id)
        totp = self._factors.get_totp(user_id)
        if totp is not None:
            # Whatever it is by now: a user being deleted keeps no factor. What was read names
            # it should the answer be lost, what was removed otherwise.
            with audited_if_lost(
                functools.partial(self._revoked, totp_kinds(totp), user_id, totp.enrolment_id)
            ):
                removed = self._factors.delete_totp(user_id)
            if removed is not None:
                self._revoked(totp_kinds(removed), user_id, removed.enrolment_id, "")
        # Gone before the user: no identity can sign in as a user being deleted.
        for link in self._links.links_of_user(user_id):
            remove = functools.partial(self._links.delete_link, link)
            self._removed([CredentialKind.LINKED_IDENTITY], user_id, link.link_id, remove)
        for passkey in self._passkeys.for_user(user_id):
            remove = functools.partial(self._passkeys.remove, passkey)
            self._removed([CredentialKind.PASSKEY], user_id, passkey.passkey_id, remove)
        self._passkeys.delete_list(user_id)

    def _removed(
        self, kinds: list[CredentialKind], user_id: int, credential_id: str, remove: Callable[[], bool]
    ) -> None:
        """Run `remove` (whether it removed the credential), audited."""
        audited_write(remove, functools.partial(self._revoked, kinds, user_id, credential_id))

    def _revoked(self, kinds: list[CredentialKind], user_id: int, credential_id: str, note: str) -> None:
        for kind in kinds:
            self._audit.record(AuditEvent.REVOKED, kind, user_id, credential_id, reason="user deleted" + note)
