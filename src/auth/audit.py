"""Audit events for credentials: created, first used, changed, revoked, refused for reuse,
a one-time code used or refused, and a whole account's credentials suspended (archive) or
restored.

The domain reports them through an AuditSink it is given; the handlers' sink writes them
as structured log lines. Each credential kind's events come from its one service
(auth.pats, auth.sessions, auth.refresh_tokens; passwords and accounts from
auth.user_admin, an account's sign-up and a refused password from auth.accounts; second
factors from auth.factors, auth.passkeys and auth.mfa_sign_in; identity providers and
links from auth.identity_providers, auth.federated_identity, auth.linked_identities and
auth.sso_sign_in; a deleted user's factors and links from auth.revocation; the signing
key's rotation from auth.key_rotation), never from a store. An event names the credential
by its id, never by its secret (nor, for a code, by its hash). `by_whom` words who made a
change, the same way for every kind. An event is recorded once its write is stored, and
also when the write's answer was lost (`audited_if_lost`), noted so: a change that stuck is
never missing from the trail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Protocol

from auth.errors import OutcomeUnknown
from auth.principal import Principal


class AuditEvent(StrEnum):
    CREATED = "credential.created"
    FIRST_USED = "credential.first_used"
    CHANGED = "credential.changed"
    REVOKED = "credential.revoked"
    REUSE_REFUSED = "credential.reuse_refused"
    SUSPENDED = "credential.suspended"
    RESTORED = "credential.restored"
    # A one-time credential spent (a TOTP code, a recovery code) or a passkey signed in with,
    # and a wrong one presented (a wrong password too, or a right one that may not sign in).
    # REUSE_REFUSED also names a passkey whose signature counter did not grow.
    USED = "credential.used"
    REFUSED = "credential.refused"


class CredentialKind(StrEnum):
    REFRESH_TOKEN = "refresh_token"
    PAT = "pat"
    SESSION = "session"
    PASSWORD = "password"
    TOTP = "totp"
    RECOVERY_CODES = "recovery_codes"
    PASSKEY = "passkey"
    # Every credential of the user at once (sign-up, archive, restore, deletion).
    ACCOUNT = "account"
    # SPEC §8: an identity provider (created, changed, deleted by an admin: the event's user
    # is the admin), and a user's link to an identity of one (linked, unlinked, and every
    # refused sign-in with one).
    IDENTITY_PROVIDER = "identity_provider"
    LINKED_IDENTITY = "linked_identity"
    # The key that signs every JWT (auth.key_rotation), the service's own: its events name
    # no user (0) and the key by its kid.
    SIGNING_KEY = "signing_key"


class AuditSink(Protocol):
    def record(
        self, event: AuditEvent, kind: CredentialKind, user_id: int, credential_id: str, reason: str = ""
    ) -> None: ...


def audit_fields(
    event: AuditEvent, kind: CredentialKind, user_id: int, credential_id: str, reason: str
) -> dict[str, str | int]:
    """An event as every sink writes it (a log line's fields): the credential by its id only
    (a family, session or token id), never by the secret itself or its hash."""
    return {
        "audit_event": event.value,
        "credential_kind": kind.value,
        "user_id": user_id,
        "credential_id": credential_id,
        "reason": reason,
    }


class NullAudit:
    def record(
        self, event: AuditEvent, kind: CredentialKind, user_id: int, credential_id: str, reason: str = ""
    ) -> None:
        return None


def by_whom(caller: Principal, owner_id: int | None = None) -> str:
    """Who made a change, as an event's reason says it: the owner of the credential, or an
    admin (always an admin for what no user owns, such as an identity provider)."""
    return "by the user" if caller.user_id == owner_id else f"by admin {caller.user_id}"


# What an event's reason adds when its write's answer was lost.
MAY_NOT_BE_STORED = "; its write's answer was lost: it may not be stored"


@contextmanager
def audited_if_lost(record: Callable[[str], object]) -> Iterator[None]:
    """Around a write whose event is recorded after it: should the write's answer be lost
    (OutcomeUnknown), `record(note)` is called with the note that says so before the failure
    goes on, since the change may well be stored and a retry would not find it to audit."""
    try:
        yield
    except OutcomeUnknown:
        record(MAY_NOT_BE_STORED)
        raise


def audited_write(write: Callable[[], bool], record: Callable[[str], object]) -> bool:
    """Run `write` (whether it changed anything: a removal that found its credential, say)
    and `record(note)` once it did, or once its answer was lost (`audited_if_lost`)."""
    with audited_if_lost(record):
        done = write()
    if done:
        record("")
    return done
