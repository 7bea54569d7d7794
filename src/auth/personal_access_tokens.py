"""Personal access tokens (SPEC §1, §3, §4): create, list and delete them; verify one.

The authorizer half (`find`, `mark_used`) imports nothing heavier than the store, so it is
safe on the authorizer's cold path.
"""

from __future__ import annotations

import uuid

from auth.audit import AuditEvent, AuditSink, CredentialKind, NullAudit
from auth.clock import Clock
from auth.errors import InvalidArgument, NotFound, Unauthenticated, Unavailable
from auth.models import User
from auth.pats import generate_pat, hash_pat, is_well_formed
from auth.stores.personal_access_tokens import PatRecord, PatStore

SECONDS_PER_DAY = 24 * 3600
# Ten years: long enough for any automation, short enough that the epoch stays sane.
MAX_EXPIRES_IN_DAYS = 3650
MAX_DESCRIPTION_CHARS = 256
# SPEC §4: lastUsedAt is written at most once a minute per token.
LAST_USED_WRITE_INTERVAL = 60


class PersonalAccessTokens:
    def __init__(
        self,
        store: PatStore,
        clock: Clock,
        audit: AuditSink | None = None,
        consistent_reads: bool = False,
    ) -> None:
        self._store = store
        self._clock = clock
        self._audit = audit or NullAudit()
        # With a revocation lag of 0 a delete must be seen by the very next request.
        self._consistent_reads = consistent_reads

    # -- the authorizer's half ------------------------------------------------------------

    @staticmethod
    def token_hash(token: str) -> str:
        """The stored hash of a well-formed token; Unauthenticated, without I/O, otherwise."""
        if not is_well_formed(token):
            raise Unauthenticated("malformed personal access token")
        return hash_pat(token)

    def find(self, token: str) -> PatRecord:
        """The live token of an active user; Unauthenticated otherwise. One GetItem at most:
        the record carries its owner's username, role and state."""
        record = self._store.get(self.token_hash(token), consistent=self._consistent_reads)
        if record is None:
            raise Unauthenticated("unknown personal access token")
        if record.is_expired(self._clock.now()):
            raise Unauthenticated("personal access token expired")
        if not record.owner.is_active:
            raise Unauthenticated("user not found or archived")
        return record

    def mark_used(self, record: PatRecord) -> None:
        """Record the use, at most once a minute. Best effort: never fails the request."""
        now = int(self._clock.now())
        if record.last_used_at is not None and now - record.last_used_at < LAST_USED_WRITE_INTERVAL:
            return
        try:
            first_use = self._store.touch(record.token_hash, now, LAST_USED_WRITE_INTERVAL)
        except Unavailable:
            # A bookkeeping write must not refuse a valid token.
            return
        if first_use:
            self._audit.record(AuditEvent.FIRST_USED, CredentialKind.PAT, record.user_id, record.token_id)

    # -- the API's half -------------------------------------------------------------------

    def create(self, owner: User, description: str, expires_in_days: int) -> tuple[PatRecord, str]:
        """A new token and its record; the token itself is never retrievable again."""
        if len(description) > MAX_DESCRIPTION_CHARS:
            raise InvalidArgument(f"description must be at most {MAX_DESCRIPTION_CHARS} characters")
        if not 0 <= expires_in_days <= MAX_EXPIRES_IN_DAYS:
            raise InvalidArgument(f"expiresInDays must be between 0 (never) and {MAX_EXPIRES_IN_DAYS}")
        now = int(self._clock.now())
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
        """The user's live tokens, oldest first; expired ones wait for TTL but are not shown."""
        now = self._clock.now()
        live = [record for record in self._store.list_for_user(user_id) if not record.is_expired(now)]
        return sorted(live, key=lambda record: (record.created_at, record.token_id))

    def delete(self, user_id: int, token_id: str) -> None:
        """Delete one of the user's tokens; NotFound when they have no token with that id."""
        for record in self._store.list_for_user(user_id):
            if record.token_id == token_id:
                if self._store.delete(record.token_hash, token_id, user_id):
                    self._audit.record(AuditEvent.REVOKED, CredentialKind.PAT, user_id, token_id)
                    return
                break
        raise NotFound("personal access token not found")

    def delete_all(self, user_id: int) -> None:
        """Every token of the user (the user is being deleted)."""
        for record in self._store.list_for_user(user_id):
            if self._store.delete(record.token_hash, record.token_id, user_id):
                self._audit.record(
                    AuditEvent.REVOKED, CredentialKind.PAT, user_id, record.token_id, reason="user deleted"
                )
