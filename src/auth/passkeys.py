"""A user's passkeys (SPEC §7 "Passkeys"): registering, listing and removing them, and the
ceremonies' challenges that signing in with one uses (auth.mfa_sign_in signs in).

Registration is the user's own and needs a recent sign-in (never a PAT); an admin may list
and remove, and an admin's removal ends every login of the user, as for TOTP (auth.factors).

A ceremony's challenge is 32 random bytes; only its SHA-256 is stored, with the ceremony it
is for (a registration, a passwordless sign-in, a second step), the user it is for (and a
second step's MFA challenge), and an expiry 5 minutes on, checked on read. It is used once:
in the transaction that stores the ceremony's result, under a condition; a response that
fails to verify uses it up too.

The WebAuthn checks themselves are py_webauthn's (auth.passkey_ceremonies), imported only
when a ceremony runs.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import secrets
from collections.abc import Mapping
from typing import Any

from auth import passkey_ceremonies as ceremonies
from auth.audit import AuditEvent, CredentialKind, audited_if_lost
from auth.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from auth.factor_changes import FactorChanges
from auth.models import User
from auth.passkey_ceremonies import Asserted, PasskeyRefused, Presented, RelyingParty
from auth.principal import Principal
from auth.shown_text import check_shown_text
from auth.stores.passkey_store import CeremonyKind, CeremonyRecord, PasskeyRecord, PasskeyStore, UseRefused

CEREMONY_TTL_SECONDS = 5 * 60
CHALLENGE_BYTES = 32
MAX_PASSKEYS = 20
MAX_DISPLAY_NAME_CHARS = 64
DEFAULT_DISPLAY_NAME = "Passkey"
# base64url of a SHA-256, unpadded.
_PASSKEY_ID = re.compile(r"[A-Za-z0-9_-]{43}")
INVALID_CEREMONY = "the passkey challenge is invalid or has expired; ask for new options"


def passkey_id_of(credential_id: bytes) -> str:
    """A passkey's public id: base64url of the SHA-256 of its credential id."""
    digest = hashlib.sha256(credential_id).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def user_handle_of(user_id: int) -> bytes:
    """The WebAuthn user handle: the user's id, which is never reused and says nothing else."""
    return str(user_id).encode("ascii")


def _hash(challenge: bytes) -> str:
    return hashlib.sha256(challenge).hexdigest()


class Passkeys:
    def __init__(
        self,
        store: PasskeyStore,
        rp: RelyingParty,
        changes: FactorChanges,
    ) -> None:
        self._store = store
        self._rp = rp
        self._changes = changes

    # -- reading ---------------------------------------------------------------------------

    def list(self, owner: User) -> list[PasskeyRecord]:
        return self._store.for_user(owner.id)

    def has_any(self, user_id: int) -> bool:
        return bool(self._store.ids_of(user_id))

    # -- registration (the user's own) -------------------------------------------------------

    def registration_options(self, caller: Principal, owner: User) -> dict[str, Any]:
        """PublicKeyCredentialCreationOptionsJSON for a new passkey of `owner`'s."""
        self._changes.require_recent_sign_in(caller)
        existing = self._store.for_user(owner.id)
        if len(existing) >= MAX_PASSKEYS:
            raise FailedPrecondition(f"at most {MAX_PASSKEYS} passkeys; remove one first")
        challenge = self._new_ceremony(CeremonyKind.REGISTRATION, owner.id)
        return ceremonies.registration_options(
            self._rp,
            user_handle_of(owner.id),
            owner.username,
            owner.display_name,
            challenge,
            [(record.credential_id, record.transports) for record in existing],
            CEREMONY_TTL_SECONDS * 1000,
        )

    def register(
        self, caller: Principal, owner: User, credential: Mapping[str, Any], display_name: str
    ) -> PasskeyRecord:
        """Store the passkey a RegistrationResponseJSON creates, once it verifies."""
        self._changes.require_recent_sign_in(caller)
        name = display_name.strip() or DEFAULT_DISPLAY_NAME
        if len(name) > MAX_DISPLAY_NAME_CHARS:
            raise InvalidArgument(f"displayName must be at most {MAX_DISPLAY_NAME_CHARS} characters")
        check_shown_text("displayName", name)
        presented = ceremonies.read_registration(credential)
        ceremony = self.ceremony_for(presented, CeremonyKind.REGISTRATION)
        if ceremony is None or ceremony.user_id != owner.id:
            raise InvalidArgument(INVALID_CEREMONY)
        try:
            registered = ceremonies.verify_registration(self._rp, credential, presented.challenge)
        except PasskeyRefused as refused:
            self._store.delete_ceremony(ceremony.challenge_hash)
            self._changes.audit.record(
                AuditEvent.REFUSED,
                CredentialKind.PASSKEY,
                owner.id,
                "",
                reason=f"registration: {refused.reason}",
            )
            raise InvalidArgument("the passkey was not accepted") from refused
        now = self._changes.now()
        record = PasskeyRecord(
            passkey_id=passkey_id_of(registered.credential_id),
            user_id=owner.id,
            credential_id=registered.credential_id,
            public_key=registered.public_key,
            sign_count=registered.sign_count,
            transports=registered.transports,
            backed_up=registered.backed_up,
            display_name=name,
            created_at=now,
        )

        def registered_now(note: str = "") -> None:
            reason = "registered" + note
            self._changes.audit.record(
                AuditEvent.CREATED, CredentialKind.PASSKEY, owner.id, record.passkey_id, reason=reason
            )

        with audited_if_lost(registered_now):
            refused_add = self._store.add(record, ceremony, now, MAX_PASSKEYS)
        if refused_add is not None:
            if refused_add.ceremony:
                raise InvalidArgument(INVALID_CEREMONY)
            if refused_add.duplicate:
                raise AlreadyExists("this passkey is already registered")
            if refused_add.full:
                raise FailedPrecondition(f"at most {MAX_PASSKEYS} passkeys; remove one first")
            # Else the user is gone: a transaction that failed no condition is the store's
            # Unavailable.
            raise NotFound("user not found")
        registered_now()
        return record

    # -- removal ---------------------------------------------------------------------------

    def remove(self, caller: Principal, owner: User, passkey_id: str) -> None:
        """The user's own removal (recent sign-in) or an admin's (the admin's recent sign-in;
        every login of the user ends, before the passkey goes: auth.factor_changes)."""
        if _PASSKEY_ID.fullmatch(passkey_id) is None:
            raise InvalidArgument("id must be a passkey id")
        self._changes.require_recent_sign_in(caller)
        record = self._store.get(passkey_id)
        if record is None or record.user_id != owner.id:
            raise NotFound("passkey not found")
        removal = functools.partial(self._store.remove, record)
        gone = [(CredentialKind.PASSKEY, record.passkey_id)]
        if not self._changes.remove(caller, owner, "passkey", removal, gone):
            raise NotFound("passkey not found")

    # -- sign-in ceremonies ------------------------------------------------------------------

    def sign_in_options(self) -> dict[str, Any]:
        """Options for a passwordless sign-in: no allowCredentials, so the authenticator
        offers the user's discoverable credentials and the assertion names its own."""
        challenge = self._new_ceremony(CeremonyKind.SIGN_IN, 0)
        return ceremonies.authentication_options(self._rp, challenge, [], CEREMONY_TTL_SECONDS * 1000)

    def second_step_options(
        self, user_id: int, mfa_challenge_hash: str, mfa_expires_at: int
    ) -> dict[str, Any]:
        """Options for the second step of the sign-in an MFA challenge stands for: the
        user's passkeys allowed, living no longer than that challenge."""
        records = self._store.for_user(user_id)
        if not records:
            raise FailedPrecondition("this account has no passkey")
        challenge = self._new_ceremony(
            CeremonyKind.SECOND_STEP, user_id, mfa_challenge_hash, expires_at=mfa_expires_at
        )
        return ceremonies.authentication_options(
            self._rp,
            challenge,
            [(record.credential_id, record.transports) for record in records],
            CEREMONY_TTL_SECONDS * 1000,
        )

    def ceremony_for(self, presented: Presented, kind: CeremonyKind) -> CeremonyRecord | None:
        """The live ceremony of `kind` whose challenge the response carries, or None."""
        ceremony = self._store.get_ceremony(_hash(presented.challenge))
        # Expiry is checked on read: TTL deletion may lag by days.
        if ceremony is None or ceremony.kind is not kind or ceremony.expires_at <= self._changes.clock.now():
            return None
        return ceremony

    def passkey_for(self, presented: Presented) -> PasskeyRecord | None:
        """The passkey the response names, if its user handle (when sent) agrees."""
        record = self._store.get(passkey_id_of(presented.credential_id))
        if record is None or record.credential_id != presented.credential_id:
            return None
        if presented.user_handle is not None and presented.user_handle != user_handle_of(record.user_id):
            return None
        return record

    def verify(
        self,
        record: PasskeyRecord,
        credential: Mapping[str, Any],
        presented: Presented,
        ceremony: CeremonyRecord,
    ) -> Asserted:
        """py_webauthn's verdict on an assertion. A refusal (PasskeyRefused, or its
        CounterDidNotGrow) uses the ceremony's challenge up: it is never tried twice."""
        try:
            return ceremonies.verify_assertion(
                self._rp, credential, presented.challenge, record.public_key, record.sign_count
            )
        except PasskeyRefused:
            self.spend_ceremony(ceremony)
            raise

    def spend_ceremony(self, ceremony: CeremonyRecord) -> None:
        self._store.delete_ceremony(ceremony.challenge_hash)

    def use(
        self,
        record: PasskeyRecord,
        asserted: Asserted,
        ceremony: CeremonyRecord,
        also: dict[str, Any] | None = None,
    ) -> UseRefused | None:
        """Store the new counter and use the ceremony up (with `also`) in one transaction."""
        now = self._changes.now()
        return self._store.use(record, asserted.new_sign_count, asserted.backed_up, ceremony, now, also)

    # -- helpers ---------------------------------------------------------------------------

    def _new_ceremony(
        self, kind: CeremonyKind, user_id: int, mfa_challenge_hash: str = "", expires_at: int | None = None
    ) -> bytes:
        challenge = secrets.token_bytes(CHALLENGE_BYTES)
        now = self._changes.now()
        expiry = now + CEREMONY_TTL_SECONDS
        self._store.create_ceremony(
            CeremonyRecord(
                challenge_hash=_hash(challenge),
                kind=kind,
                user_id=user_id,
                created_at=now,
                expires_at=expiry if expires_at is None else min(expiry, expires_at),
                mfa_challenge_hash=mfa_challenge_hash,
            )
        )
        return challenge
