"""Personal access tokens (SPEC §1, §3, §4): the token format, and creating, listing,
deleting and verifying tokens.

The format is `memos_pat_` + 32 characters of [0-9A-Za-z]; the last 6 are a base62 CRC32
of the 26 before them, so a mistyped or invented token is refused by arithmetic alone,
before any database read. Only the SHA-256 of a token is ever stored: a leaked table holds
nothing that authenticates.

Tokens Memos minted have the same shape but no checksum. When imported (tools/memos_import)
their items say `imported`, and a token of the right shape whose checksum fails is looked
up (one GetItem) and accepted only if its item is one of those, unless the deployment
turned that off (`ACCEPT_IMPORTED_PATS=false`: SECURITY.md says why both exist).

The authorizer's half (`find`, `mark_used`) imports nothing heavier than the store, so it
is safe on the authorizer's cold path.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
import zlib
from typing import TYPE_CHECKING

from auth.audit import AuditEvent, AuditSink, CredentialKind, NullAudit, audited_write
from auth.clock import Clock
from auth.errors import InvalidArgument, NotFound, Unauthenticated
from auth.models import User

if TYPE_CHECKING:
    from auth.principal import Principal
    from auth.recent_sign_in import RecentSignIn
from auth.shown_text import check_shown_text
from auth.stores.pat_store import PatRecord, PatStore
from auth.usage import WRITE_INTERVAL_SECONDS, note_use

PAT_PREFIX = "memos_pat_"
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
BODY_CHARS = 32
# 62**6 > 2**32, so six base62 digits hold any CRC32.
CHECKSUM_CHARS = 6
RANDOM_CHARS = BODY_CHARS - CHECKSUM_CHARS
TOKEN_CHARS = len(PAT_PREFIX) + BODY_CHARS
_BASE62_SET = frozenset(BASE62)


def _base62(value: int, width: int) -> str:
    digits = []
    while value:
        value, digit = divmod(value, 62)
        digits.append(BASE62[digit])
    return "".join(reversed(digits)).rjust(width, "0")


def checksum(random_part: str) -> str:
    return _base62(zlib.crc32(random_part.encode("ascii")), CHECKSUM_CHARS)


def generate_pat() -> str:
    # 26 base62 characters carry ~154 bits of entropy from the OS's CSPRNG.
    random_part = "".join(secrets.choice(BASE62) for _ in range(RANDOM_CHARS))
    return PAT_PREFIX + random_part + checksum(random_part)


def has_pat_shape(token: str) -> bool:
    """Prefix, length and alphabet: what Memos' tokens and ours share."""
    return (
        len(token) == TOKEN_CHARS
        and token.startswith(PAT_PREFIX)
        and _BASE62_SET.issuperset(token[len(PAT_PREFIX) :])
    )


def has_valid_checksum(token: str) -> bool:
    """The checksum of a token of the right shape (`has_pat_shape`)."""
    body = token[len(PAT_PREFIX) :]
    return hmac.compare_digest(checksum(body[:RANDOM_CHARS]), body[RANDOM_CHARS:])


def is_well_formed(token: str) -> bool:
    """Prefix, length, alphabet and checksum; no I/O, so it runs before any lookup."""
    return has_pat_shape(token) and has_valid_checksum(token)


def hash_pat(token: str) -> str:
    """The table key: SHA-256, lowercase hex. A fast hash is enough for 154 random bits."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


SECONDS_PER_DAY = 24 * 3600
# Ten years: long enough for any automation, short enough that the epoch stays sane.
MAX_EXPIRES_IN_DAYS = 3650
MAX_DESCRIPTION_CHARS = 256


class PersonalAccessTokens:
    def __init__(
        self,
        store: PatStore,
        clock: Clock,
        audit: AuditSink | None = None,
        consistent_reads: bool = False,
        accept_imported: bool = True,
    ) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit or NullAudit()
        # With a revocation lag of 0 a delete must be seen by the very next request.
        self._consistent_reads = consistent_reads
        # Whether a token without our checksum may be one imported from Memos (one read).
        self._accept_imported = accept_imported

    # -- the authorizer's half ------------------------------------------------------------

    def token_hash(self, token: str) -> str:
        """The stored hash of a token that may exist; Unauthenticated, without I/O, otherwise:
        a token not of the PAT shape, or without our checksum where imported tokens are off."""
        if not has_pat_shape(token):
            raise Unauthenticated("malformed personal access token")
        if not self._accept_imported and not has_valid_checksum(token):
            raise Unauthenticated("malformed personal access token")
        return hash_pat(token)

    def find(self, token: str) -> PatRecord:
        """The live token of an active user; Unauthenticated otherwise. One GetItem at most:
        the record carries its owner's username, role and state."""
        record = self._store.get(self.token_hash(token), consistent=self._consistent_reads)
        if record is None:
            raise Unauthenticated("unknown personal access token")
        # Only Memos' tokens lack the checksum: on any other item it means a mistake, refused.
        if not record.imported and not has_valid_checksum(token):
            raise Unauthenticated("malformed personal access token")
        if record.is_expired(self._clock.now()):
            raise Unauthenticated("personal access token expired")
        if not record.owner.is_active:
            raise Unauthenticated("user not found or archived")
        return record

    def mark_used(self, record: PatRecord) -> None:
        """Record the use, at most once a minute. Best effort: never fails the request."""
        now = int(self._clock.now())
        note_use(
            record.last_used_at,
            now,
            lambda: self._store.touch(record.token_hash, now, WRITE_INTERVAL_SECONDS),
            lambda: self._audit.record(
                AuditEvent.FIRST_USED, CredentialKind.PAT, record.user_id, record.token_id
            ),
        )

    # -- the API's half -------------------------------------------------------------------

    def create_for(
        self, caller: Principal, owner: User, description: str, expires_in_days: int, recent: RecentSignIn
    ) -> tuple[PatRecord, str]:
        """`create`, asked for by `caller`: a new credential needs a recent sign-in, never a PAT."""
        recent.require(caller)
        return self.create(owner, description, expires_in_days)

    def create(self, owner: User, description: str, expires_in_days: int) -> tuple[PatRecord, str]:
        """A new token and its record; the token itself is never retrievable again."""
        if len(description) > MAX_DESCRIPTION_CHARS:
            raise InvalidArgument(f"description must be at most {MAX_DESCRIPTION_CHARS} characters")
        check_shown_text("description", description)
        if not 0 <= expires_in_days <= MAX_EXPIRES_IN_DAYS:
            raise InvalidArgument(f"expiresInDays must be between 0 (never) and {MAX_EXPIRES_IN_DAYS}")
        now = int(self._clock.now())
        # The table has no TTL: an item DynamoDB deleted by itself would leave the user's
        # token count, which proves a listing whole, too high for good. Expired tokens go
        # here instead, through the same counted deletion, before they can fill the quota.
        for expired in self._store.list_for_user(owner.id):
            if expired.is_expired(now):
                self._deleted(expired, "expired")
        token = generate_pat()
        record = PatRecord(
            token_hash=hash_pat(token),
            token_id=str(uuid.uuid4()),
            user_id=owner.id,
            description=description,
            created_at=now,
            expires_at=now + expires_in_days * SECONDS_PER_DAY if expires_in_days else None,
            last_used_at=None,
            owner=owner.as_owner,
        )
        record = self._store.create(record)
        self._audit.record(AuditEvent.CREATED, CredentialKind.PAT, owner.id, record.token_id)
        return record, token

    def save_owner(self, before: User, after: User) -> None:
        """Store a change of the user's role or state, on the user and on each of their tokens;
        OwnerChanged when their role or state is no longer `before`'s."""
        self._store.update_owner(before, after)

    def list_for_user(self, user_id: int) -> list[PatRecord]:
        """The user's live tokens, oldest first; expired ones are not shown (and are deleted at
        the user's next new token)."""
        now = self._clock.now()
        live = [record for record in self._store.list_for_user(user_id) if not record.is_expired(now)]
        return sorted(live, key=lambda record: (record.created_at, record.token_id))

    def delete(self, user_id: int, token_id: str) -> None:
        """Delete one of the user's tokens; NotFound when they have no token with that id."""
        for record in self._store.list_for_user(user_id):
            if record.token_id == token_id:
                # Only its owner deletes a token (the routes refuse anyone else).
                if self._deleted(record, "revoked by the user"):
                    return
                break
        raise NotFound("personal access token not found")

    def delete_all(self, user_id: int) -> None:
        """Every token of the user (the user is being deleted)."""
        for record in self._store.list_for_user(user_id):
            self._deleted(record, "user deleted")

    def _deleted(self, record: PatRecord, reason: str) -> bool:
        """Delete the token, audited: whether it was there to delete."""

        def revoked(note: str) -> None:
            self._audit.record(
                AuditEvent.REVOKED, CredentialKind.PAT, record.user_id, record.token_id, reason=reason + note
            )

        return audited_write(
            lambda: self._store.delete(record.token_hash, record.token_id, record.user_id), revoked
        )
