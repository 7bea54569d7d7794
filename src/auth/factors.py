"""A user's second factors (SPEC §7): enrolling TOTP, its recovery codes, and removing them.

Who may call is the routes' business (auth.routes: enrolment is the user's own, reading
and removal also an admin's); what depends on the caller's sign-in (a recent one for every
change; an admin's removal ends the user's logins) is auth.factor_changes, shared with
passkeys.

Which methods a user has is `methods`; how they are used to sign in is auth.mfa_sign_in.
Passkeys are auth.passkeys.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from auth import recovery_codes, totp
from auth.audit import AuditEvent, CredentialKind, audited_if_lost, audited_write
from auth.errors import FailedPrecondition, InvalidArgument, NotFound
from auth.factor_changes import FactorChanges
from auth.factor_cipher import FactorCipher
from auth.models import User
from auth.principal import Principal
from auth.revocation import totp_kinds
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
    # Holds the secret too.
    otpauth_uri: str = field(repr=False)


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
        changes: FactorChanges,
    ) -> None:
        self._store = store
        self._cipher = cipher
        self._changes = changes

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
        self._changes.require_recent_sign_in(caller)
        secret = totp.new_secret()
        record = TotpRecord(
            user_id=owner.id,
            enrolment_id=str(uuid.uuid4()),
            enabled=False,
            sealed=self._cipher.seal(secret, owner.id),
            created_at=self._changes.now(),
        )
        put = self._store.put_pending(record)
        if not put.stored:
            raise FailedPrecondition("TOTP is already enabled; remove it first")
        if put.replaced is not None:
            self._audit_totp(AuditEvent.REVOKED, owner, put.replaced, "replaced by a new enrolment")
        # The secret exists from here on, confirmed or not: its trail starts here.
        self._audit_totp(AuditEvent.CREATED, owner, record.enrolment_id, "pending confirmation")
        return TotpEnrolment(secret=secret, otpauth_uri=totp.provisioning_uri(secret, owner.username))

    def confirm(self, caller: Principal, owner: User, code: str) -> list[str]:
        """Enable the pending secret with a code from the app; the recovery codes, shown once."""
        self._changes.require_recent_sign_in(caller)
        record = self._store.get_totp(owner.id)
        if record is None:
            raise FailedPrecondition("no TOTP enrolment is pending")
        if record.enabled:
            raise FailedPrecondition("TOTP is already enabled")
        if not totp.is_well_formed(code):
            raise InvalidArgument(f"code must be {totp.DIGITS} digits")
        step = totp.matching_step(self.secret_of(record), code, self._changes.clock.now())
        if step is None:
            self._audit_totp(AuditEvent.REFUSED, owner, "", "wrong code at confirm")
            raise InvalidArgument(WRONG_CODE)
        codes = recovery_codes.generate()

        def enrolled(note: str) -> None:
            self._audit_totp(AuditEvent.CREATED, owner, record.enrolment_id, "enrolled" + note)
            self._changes.audit.record(
                AuditEvent.CREATED, CredentialKind.RECOVERY_CODES, owner.id, record.enrolment_id, note
            )

        hashes = [recovery_codes.hash_code(c) for c in codes]
        if not audited_write(lambda: self._store.enable(record, step, hashes, self._changes.now()), enrolled):
            # Replaced, enabled or removed since it was read: this code confirms nothing.
            raise FailedPrecondition("the TOTP enrolment changed meanwhile; start again")
        return codes

    def regenerate_recovery_codes(self, caller: Principal, owner: User) -> list[str]:
        self._changes.require_recent_sign_in(caller)
        codes = recovery_codes.generate()

        def regenerated(enrolment_id: str, note: str = "") -> None:
            reason = "regenerated" + note
            self._changes.audit.record(
                AuditEvent.CHANGED, CredentialKind.RECOVERY_CODES, owner.id, enrolment_id, reason=reason
            )

        # The enrolment is named by the write's answer: a lost one names none.
        with audited_if_lost(lambda note: regenerated("", note)):
            enrolment_id = self._store.replace_recovery_codes(
                owner.id, [recovery_codes.hash_code(c) for c in codes]
            )
        if enrolment_id is None:
            raise FailedPrecondition("TOTP is not enabled")
        regenerated(enrolment_id)
        return codes

    def remove(self, caller: Principal, owner: User) -> None:
        """Remove TOTP and its recovery codes: the user's own (recent sign-in) or an admin's
        (the admin's recent sign-in; every login of the user ends)."""
        self._changes.require_recent_sign_in(caller)
        # Refused before anything ends: a removal of nothing changes nothing.
        record = self._store.get_totp(owner.id)
        if record is None:
            raise NotFound("TOTP is not set up")
        removal = functools.partial(self._store.remove_totp, record)
        # A pending enrolment is removed too (and an admin's removal of one ends the user's
        # logins).
        gone = [(kind, record.enrolment_id) for kind in totp_kinds(record)]
        if not self._changes.remove(caller, owner, "second factor", removal, gone):
            raise NotFound("TOTP is not set up")

    def _audit_totp(self, event: AuditEvent, owner: User, enrolment_id: str, reason: str) -> None:
        self._changes.audit.record(event, CredentialKind.TOTP, owner.id, enrolment_id, reason=reason)
