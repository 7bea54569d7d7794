"""A user's second factors (SPEC §7): enrolling TOTP, its recovery codes, and removing them.

Who may call is the routes' business (auth.routes: enrolment is the user's own, reading
and removal also an admin's); this service adds what depends on the caller's sign-in:
every change made by the user needs a recent one (auth.recent_sign_in, never a PAT), and
an admin's removal needs the admin's own and ends every login of the user, since whoever
asked for it may be locked out because someone else holds the account.

Which methods a user has is `methods`; how they are used to sign in is auth.mfa_sign_in.
Passkeys are auth.passkeys.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from auth import recovery_codes, totp
from auth.audit import AuditEvent, AuditSink, CredentialKind, by_whom
from auth.clock import Clock
from auth.errors import FailedPrecondition, InvalidArgument, NotFound
from auth.factor_cipher import FactorCipher
from auth.models import User
from auth.principal import Principal
from auth.recent_sign_in import RecentSignIn
from auth.revocation import CredentialRevocation
from auth.stores.factor_store import FactorStore, TotpRecord


class Method(StrEnum):
    """The second-step methods, as `mfaCredentials` and the MFA_REQUIRED details name them."""

    TOTP = "totp"
    RECOVERY_CODE = "recoveryCode"
    PASSKEY = "passkey"


WRONG_CODE = "the code is not correct"


@dataclass(frozen=True)
class TotpEnrolment:
    """A pending secret, shown to the user once: as text and as the otpauth:// URI that its
    QR code holds."""

    secret: str = field(repr=False)
    otpauth_uri: str


@dataclass(frozen=True)
class TotpStatus:
    """What reading a user's TOTP says: a pending enrolment counts as not enabled."""

    enabled: bool
    recovery_codes_left: int


class Factors:
    def __init__(
        self,
        store: FactorStore,
        cipher: FactorCipher,
        recent_sign_in: RecentSignIn,
        revocation: CredentialRevocation,
        clock: Clock,
        audit: AuditSink,
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._recent_sign_in = recent_sign_in
        self._revocation = revocation
        self._clock = clock
        self._audit = audit

    # -- reading -------------------------------------------------------------------------------

    def status(self, owner: User) -> TotpStatus:
        record = self._store.get_totp(owner.id)
        if record is None or not record.enabled:
            return TotpStatus(enabled=False, recovery_codes_left=0)
        return TotpStatus(enabled=True, recovery_codes_left=len(record.recovery_hashes))

    def enabled_totp(self, user_id: int) -> TotpRecord | None:
        record = self._store.get_totp(user_id)
        return record if record is not None and record.enabled else None

    def methods(self, record: TotpRecord | None, has_passkeys: bool = False) -> tuple[Method, ...]:
        """The second-step methods a user has: only those (SPEC §7)."""
        methods: list[Method] = []
        if record is not None and record.enabled:
            methods.append(Method.TOTP)
            if record.recovery_hashes:
                methods.append(Method.RECOVERY_CODE)
        if has_passkeys:
            methods.append(Method.PASSKEY)
        return tuple(methods)

    def secret_of(self, record: TotpRecord) -> str:
        return self._cipher.open(record.sealed, record.user_id)

    # -- the user's own changes ----------------------------------------------------------------

    def enrol(self, caller: Principal, owner: User) -> TotpEnrolment:
        """A new pending TOTP secret, replacing any pending one; enabled only once confirmed."""
        self._recent_sign_in.require(caller)
        secret = totp.new_secret()
        record = TotpRecord(
            user_id=owner.id,
            enrolment_id=str(uuid.uuid4()),
            enabled=False,
            sealed=self._cipher.seal(secret, owner.id),
            created_at=int(self._clock.now()),
        )
        if not self._store.put_pending(record):
            raise FailedPrecondition("TOTP is already enabled; remove it first")
        return TotpEnrolment(secret=secret, otpauth_uri=totp.provisioning_uri(secret, owner.username))

    def confirm(self, caller: Principal, owner: User, code: str) -> list[str]:
        """Enable the pending secret with a code from the app; the recovery codes, shown once."""
        self._recent_sign_in.require(caller)
        record = self._store.get_totp(owner.id)
        if record is None:
            raise FailedPrecondition("no TOTP enrolment is pending")
        if record.enabled:
            raise FailedPrecondition("TOTP is already enabled")
        if not totp.is_well_formed(code):
            raise InvalidArgument(f"code must be {totp.DIGITS} digits")
        step = totp.matching_step(self.secret_of(record), code, self._clock.now())
        if step is None:
            self._audit.record(
                AuditEvent.REFUSED, CredentialKind.TOTP, owner.id, "", reason="wrong code at confirm"
            )
            raise InvalidArgument(WRONG_CODE)
        codes = recovery_codes.generate()
        if not self._store.enable(
            record, step, [recovery_codes.hash_code(c) for c in codes], int(self._clock.now())
        ):
            # Replaced, enabled or removed since it was read: this code confirms nothing.
            raise FailedPrecondition("the TOTP enrolment changed meanwhile; start again")
        self._audit.record(
            AuditEvent.CREATED, CredentialKind.TOTP, owner.id, record.enrolment_id, reason="enrolled"
        )
        self._audit.record(AuditEvent.CREATED, CredentialKind.RECOVERY_CODES, owner.id, record.enrolment_id)
        return codes

    def regenerate_recovery_codes(self, caller: Principal, owner: User) -> list[str]:
        self._recent_sign_in.require(caller)
        codes = recovery_codes.generate()
        if not self._store.replace_recovery_codes(owner.id, [recovery_codes.hash_code(c) for c in codes]):
            raise FailedPrecondition("TOTP is not enabled")
        self._audit.record(
            AuditEvent.CHANGED, CredentialKind.RECOVERY_CODES, owner.id, "", reason="regenerated"
        )
        return codes

    def remove(self, caller: Principal, owner: User) -> None:
        """Remove TOTP and its recovery codes: the user's own (recent sign-in) or an admin's
        (the admin's recent sign-in; every login of the user ends)."""
        self._recent_sign_in.require(caller)
        if caller.user_id != owner.id:
            # Logins end before the factor goes: should a step fail, the user is signed out
            # with the factor still there, and a retry finishes; never the factor gone with
            # the logins (perhaps an intruder's) it was removed to end still alive.
            self._revocation.revoke_sign_ins(owner.id, reason="second factor removed by an admin")
        removed = self._store.delete_totp(owner.id)
        if removed is None:
            raise NotFound("TOTP is not set up")
        if removed.enabled:
            by = by_whom(caller, owner.id)
            self._audit.record(
                AuditEvent.REVOKED,
                CredentialKind.TOTP,
                owner.id,
                removed.enrolment_id,
                reason=f"removed {by}",
            )
            self._audit.record(
                AuditEvent.REVOKED,
                CredentialKind.RECOVERY_CODES,
                owner.id,
                removed.enrolment_id,
                reason=f"removed {by}",
            )
