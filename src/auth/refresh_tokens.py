"""Refresh-token families: issue at sign-in, rotate on every use, revoke at sign-out.

Reuse detection follows RFC 9700 §4.14.2: presenting a token that was already rotated away
means it leaked (or the client raced itself), so the whole family is revoked and the newest
token stops working too.

One deliberate relaxation (SPEC §3, retry-safe refresh): a client whose answer was lost (a
dropped connection, a 503 after the write applied) presents the token it sent before. For
`reuse_grace` seconds after a rotation, the token it replaced is answered like the current
one: with a fresh token for the family's *current* id, so the family never forks and there
is still one token id to rotate from. Anything older, or later, is a reuse as above.
"""

from __future__ import annotations

import uuid

from auth.audit import AuditEvent, AuditSink, CredentialKind, NullAudit, audited_if_lost, audited_write
from auth.clock import Clock
from auth.errors import SignInOutdated, Unauthenticated
from auth.models import NO_SIGN_IN, ClientInfo, SignIn, User
from auth.stores.refresh_family_store import RefreshFamily, RefreshFamilyStore, RotationRefused
from auth.stores.user_store import UserStore
from auth.tokens import IssuedToken, RefreshClaims, SigningKeys, mint_refresh_token, parse_refresh_token


class RefreshReuseDetected(Unauthenticated):
    """A rotated-away refresh token came back; its family is now revoked."""

    default_message = "refresh token reuse detected"

    def __init__(self, family_id: str, user_id: int) -> None:
        super().__init__()
        self.family_id = family_id
        self.user_id = user_id


class RefreshTokens:
    def __init__(
        self,
        store: RefreshFamilyStore,
        users: UserStore,
        keys: SigningKeys,
        clock: Clock,
        ttl: int,
        audit: AuditSink | None = None,
        reuse_grace: int = 0,
    ) -> None:
        self._store = store
        self._users = users
        self._keys = keys
        self._clock = clock
        self._ttl = ttl
        self._audit = audit or NullAudit()
        # Off unless asked for: the strict RFC 9700 rule is the safe default of the domain.
        self._reuse_grace = reuse_grace

    def issue(self, user: User, client: ClientInfo, sign_in: SignIn = NO_SIGN_IN) -> IssuedToken:
        """A new sign-in's family and its first token. `user` is the record the sign-in
        verified: SignInOutdated (audited) when their credentials changed since, and no
        family is made."""
        now = int(self._clock.now())
        family_id, token_id = str(uuid.uuid4()), str(uuid.uuid4())
        issued = mint_refresh_token(user.id, token_id, family_id, self._keys.signing_key(), now, self._ttl)
        family = RefreshFamily.begun(family_id, user.id, token_id, now, issued.expires_at, client, sign_in)
        try:
            self._store.create(family, user)
        except SignInOutdated as refused:
            kind = CredentialKind.REFRESH_TOKEN
            self._audit.record(AuditEvent.REFUSED, kind, user.id, "", refused.audit_reason)
            raise
        self._audit.record(AuditEvent.CREATED, CredentialKind.REFRESH_TOKEN, user.id, family_id)
        return issued

    def rotate(self, token: str) -> tuple[User, IssuedToken, SignIn]:
        """Exchange a refresh token for its successor; the user is re-read, never trusted.

        Also the sign-in the family began with, for the access token that goes with it.
        """
        now = int(self._clock.now())
        claims = parse_refresh_token(token, self._keys.verification_key, now)
        user = self._users.get(claims.user_id, consistent=True)
        if user is None or not user.is_active:
            self._revoke(claims.family_id, claims.user_id, now, "user not found or archived")
            raise Unauthenticated("user not found or archived")
        next_token_id = str(uuid.uuid4())
        issued = mint_refresh_token(
            user.id, next_token_id, claims.family_id, self._keys.signing_key(), now, self._ttl
        )
        try:
            before = self._store.rotate(
                claims.family_id,
                claims.user_id,
                claims.token_id,
                next_token_id,
                now,
                issued.expires_at,
                imported_only=claims.from_memos,
            )
        except RotationRefused as refused:
            family = refused.family
            if family is not None and family.current_token_id == next_token_id:
                # This very rotation, applied, its answer lost, and refused when botocore sent
                # it again (the new id is this request's alone): it went through. Whether it
                # was the family's first use is lost with the answer, and not audited.
                return user, issued, family.sign_in
            if claims.from_memos and family is not None and not family.imported:
                # A token without a family id names only imported families: any other is unknown.
                family = None
            if family is not None and self._is_retry_within_grace(family, claims, now):
                # The answer to the rotation that moved the family away from this token was
                # lost. Answer again for the token that rotation made current, without a
                # write: the family keeps its one current id, and nothing is revoked.
                return user, self._reissue_current(user, family, now), family.sign_in
            if (
                family is not None
                and not family.revoked
                and family.user_id == claims.user_id
                and family.current_token_id != claims.token_id
            ):
                self._audit.record(
                    AuditEvent.REUSE_REFUSED, CredentialKind.REFRESH_TOKEN, claims.user_id, claims.family_id
                )
                self._revoke(claims.family_id, claims.user_id, now, "reuse detected")
                raise RefreshReuseDetected(claims.family_id, claims.user_id) from refused
            if family is not None and family.revoked and family.user_id == claims.user_id:
                # A genuine token of an ended sign-in (signed out, a password changed, a reuse
                # caught): whoever still holds it is worth a line in the trail.
                self._audit.record(
                    AuditEvent.REFUSED,
                    CredentialKind.REFRESH_TOKEN,
                    claims.user_id,
                    claims.family_id,
                    reason="its sign-in was revoked",
                )
            raise Unauthenticated("refresh token revoked or expired") from refused
        if not before.used:
            self._audit.record(AuditEvent.FIRST_USED, CredentialKind.REFRESH_TOKEN, user.id, claims.family_id)
        return user, issued, before.sign_in

    def _is_retry_within_grace(self, family: RefreshFamily, claims: RefreshClaims, now: int) -> bool:
        """The presented token is the one the family's last rotation replaced, less than the
        grace ago, and the family is otherwise as good as for the current token."""
        return (
            self._reuse_grace > 0
            and family.previous_token_id == claims.token_id
            and now - family.rotated_at < self._reuse_grace
            and not family.revoked
            and family.user_id == claims.user_id
            and now < family.expires_at
        )

    def _reissue_current(self, user: User, family: RefreshFamily, now: int) -> IssuedToken:
        """A new token (new iat) for the family's current token id. It expires with the family,
        not `ttl` from now: the store refuses the family after its `expiresAt` anyway, and the
        cookie should not outlive what the server honours."""
        return mint_refresh_token(
            user.id,
            family.current_token_id,
            family.family_id,
            self._keys.signing_key(),
            now,
            family.expires_at - now,
        )

    def family_of(self, token: str, user_id: int) -> str | None:
        """The family id of a valid refresh token owned by `user_id`, else None."""
        try:
            claims = parse_refresh_token(token, self._keys.verification_key, self._clock.now())
        except Unauthenticated:
            return None
        return claims.family_id if claims.user_id == user_id else None

    def revoke(self, token: str, user_id: int) -> bool:
        """Sign-out: revoke the family of a refresh token the caller owns; False when there is none."""
        family_id = self.family_of(token, user_id)
        if family_id is None:
            return False
        self._revoke(family_id, user_id, int(self._clock.now()), "signed out")
        return True

    def live_families(self, user_id: int) -> list[RefreshFamily]:
        """The user's sign-ins that can still refresh."""
        now = self._clock.now()
        return [f for f in self._store.for_user(user_id) if not f.revoked and now < f.expires_at]

    def revoke_family(self, family_id: str, user_id: int, reason: str) -> bool:
        """End one live sign-in of the user; False when they have none with that id."""
        return audited_write(
            lambda: self._store.revoke_for_user(family_id, user_id, int(self._clock.now())),
            lambda note: self._revoked(family_id, user_id, reason + note),
        )

    def revoke_all(self, user_id: int, keep: str = "", reason: str = "") -> None:
        """Every live sign-in of the user but `keep` (a password change keeps the caller's own)."""
        for family in self.live_families(user_id):
            if family.family_id != keep:
                self.revoke_family(family.family_id, user_id, reason)

    def _revoke(self, family_id: str, user_id: int, now: int, reason: str) -> None:
        """Revoke a family whatever its state: a reuse or a gone user must end it for good."""
        with audited_if_lost(lambda note: self._revoked(family_id, user_id, reason + note)):
            self._store.revoke(family_id, now)
        self._revoked(family_id, user_id, reason)

    def _revoked(self, family_id: str, user_id: int, reason: str) -> None:
        self._audit.record(AuditEvent.REVOKED, CredentialKind.REFRESH_TOKEN, user_id, family_id, reason)
