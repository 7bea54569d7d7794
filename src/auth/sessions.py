"""Browser sessions (SPEC §1, §3, §4): the `user_session` cookie and its lifecycle.

The cookie value is `{userID}-{secret}` as in Memos, the secret a random UUIDv4. Like a PAT,
the secret is a credential: it is sent once, in Set-Cookie, and only its SHA-256 is stored.
Listings and revocations name a session by a separate public id, so nothing any route
returns rebuilds a cookie. The value is parsed strictly, so anything we did not mint is
refused before a database read. The session slides: it expires `ttl` seconds after its last
access, and is checked against the clock on every read because TTL deletion can lag by days.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable

from auth.audit import AuditEvent, AuditSink, CredentialKind, NullAudit, audited_if_lost
from auth.clock import Clock
from auth.credential_ids import UUID4
from auth.errors import SignInOutdated, Unauthenticated
from auth.models import NO_SIGN_IN, ClientInfo, SignIn, User
from auth.stores.dynamo import Item, TableKey
from auth.stores.session_store import SessionRecord, SessionStore
from auth.usage import WRITE_INTERVAL_SECONDS, note_use

# Canonical decimal of a positive int32 (no sign, no leading zero), then a canonical
# lowercase UUIDv4. Anything else is not a value this service set.
_COOKIE_VALUE = re.compile(rf"([1-9][0-9]{{0,9}})-({UUID4})")
MAX_USER_ID = 2**31 - 1


def session_cookie_value(user_id: int, secret: str) -> str:
    return f"{user_id}-{secret}"


def parse_session_cookie(value: str) -> tuple[int, str]:
    """(user id, secret) of a cookie value, or Unauthenticated without any I/O."""
    match = _COOKIE_VALUE.fullmatch(value)
    if match is None:
        raise Unauthenticated("malformed session cookie")
    user_id = int(match.group(1))
    if user_id > MAX_USER_ID:
        raise Unauthenticated("malformed session cookie")
    return user_id, match.group(2)


def hash_secret(secret: str) -> str:
    """The table key: SHA-256, lowercase hex. A fast hash is enough for 122 random bits."""
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def _callers_secret_hash(cookie_value: str, user_id: int) -> str | None:
    """The stored key of the session a cookie names, when the cookie is well formed and names
    `user_id` (the caller); None otherwise, without any I/O."""
    try:
        cookie_user_id, secret = parse_session_cookie(cookie_value)
    except Unauthenticated:
        return None
    return hash_secret(secret) if cookie_user_id == user_id else None


class Sessions:
    def __init__(
        self,
        store: SessionStore,
        clock: Clock,
        ttl: int,
        audit: AuditSink | None = None,
        consistent_reads: bool = False,
    ) -> None:
        self._store = store
        self._clock = clock
        self._ttl = ttl
        self._audit = audit or NullAudit()
        # With a revocation lag of 0 a sign-out must be seen by the very next request.
        self._consistent_reads = consistent_reads

    def expires_at(self, record: SessionRecord) -> int:
        """When the session ends (epoch seconds): its stored expiry, slid at each access, or
        sooner when a shorter TTL was configured since it last slid."""
        return min(record.expires_at, record.last_accessed_at + self._ttl)

    def _is_expired(self, record: SessionRecord, now: float) -> bool:
        return now >= self.expires_at(record)

    # -- the authorizer's half ------------------------------------------------------------

    def find(self, cookie_value: str) -> SessionRecord:
        """The live session a cookie names; Unauthenticated otherwise. One GetItem at most."""
        user_id, secret = parse_session_cookie(cookie_value)
        return self._checked(self._store.get(hash_secret(secret), consistent=self._consistent_reads), user_id)

    def find_along(
        self, cookie_value: str, other: Callable[[int], TableKey]
    ) -> tuple[SessionRecord, Item | None]:
        """`find`, with one item keyed by the cookie's user id (the user) in the same round trip."""
        user_id, secret = parse_session_cookie(cookie_value)
        record, item = self._store.get_along(hash_secret(secret), other(user_id), self._consistent_reads)
        return self._checked(record, user_id), item

    def _checked(self, record: SessionRecord | None, user_id: int) -> SessionRecord:
        if record is None or record.user_id != user_id:
            raise Unauthenticated("unknown session")
        if self._is_expired(record, self._clock.now()):
            raise Unauthenticated("session expired")
        return record

    def mark_accessed(self, record: SessionRecord) -> None:
        """Slide the session, at most once a minute. Best effort: never fails the request."""
        now = int(self._clock.now())
        note_use(
            # A session's first use is written even within its first minute, for the audit trail.
            record.last_accessed_at if record.used else None,
            now,
            lambda: self._store.touch(record.secret_hash, now, now + self._ttl, WRITE_INTERVAL_SECONDS),
            lambda: self._audit.record(
                AuditEvent.FIRST_USED, CredentialKind.SESSION, record.user_id, record.session_id
            ),
        )

    # -- the API's half -------------------------------------------------------------------

    def create(
        self, user: User, client: ClientInfo, sign_in: SignIn = NO_SIGN_IN
    ) -> tuple[SessionRecord, str]:
        """A new session and its cookie value; the value is never retrievable again.

        `user` is the record the sign-in verified: SignInOutdated (audited) when their
        credentials changed since, and no session is made.
        """
        # Imported here: only the API creates sessions, and the authorizer's cold start
        # need not compile the pattern table.
        from auth.user_agents import parse_user_agent

        now = int(self._clock.now())
        secret = str(uuid.uuid4())
        record = SessionRecord(
            secret_hash=hash_secret(secret),
            session_id=str(uuid.uuid4()),
            user_id=user.id,
            created_at=now,
            last_accessed_at=now,
            expires_at=now + self._ttl,
            client=client,
            device=parse_user_agent(client.user_agent),
            sign_in=sign_in,
        )
        try:
            self._store.create(record, user)
        except SignInOutdated as refused:
            self._audit.record(AuditEvent.REFUSED, CredentialKind.SESSION, user.id, "", refused.audit_reason)
            raise
        self._audit.record(AuditEvent.CREATED, CredentialKind.SESSION, user.id, record.session_id)
        return record, session_cookie_value(user.id, secret)

    def current(self, cookie_value: str, user_id: int) -> SessionRecord | None:
        """The caller's live session that a cookie names, read consistently; None otherwise."""
        secret_hash = _callers_secret_hash(cookie_value, user_id)
        if secret_hash is None:
            return None
        record = self._store.get(secret_hash, consistent=True)
        if record is None or record.user_id != user_id or self._is_expired(record, self._clock.now()):
            return None
        return record

    def list_for_user(self, user_id: int) -> list[SessionRecord]:
        now = self._clock.now()
        return [record for record in self._store.list_for_user(user_id) if not self._is_expired(record, now)]

    def revoke(self, session_id: str, user_id: int, reason: str = "") -> bool:
        """Delete the user's session by its public id; False when they have none with that id."""
        for record in self._store.list_for_user(user_id):
            if record.session_id == session_id:
                return self._delete(record.secret_hash, user_id, reason, session_id)
        return False

    def revoke_cookie(self, cookie_value: str, user_id: int, reason: str = "signed out") -> bool:
        """Sign-out: revoke the session a cookie names, only if it is the caller's."""
        secret_hash = _callers_secret_hash(cookie_value, user_id)
        return secret_hash is not None and self._delete(secret_hash, user_id, reason)

    def revoke_all(self, user_id: int, keep: str = "", reason: str = "") -> None:
        """Every session of the user but `keep` (a password change keeps the caller's own)."""
        for record in self._store.list_for_user(user_id):
            if record.session_id != keep:
                self._delete(record.secret_hash, user_id, reason, record.session_id)

    def _delete(self, secret_hash: str, user_id: int, reason: str, session_id: str = "") -> bool:
        def revoked(session_id: str, note: str = "") -> None:
            self._audit.record(AuditEvent.REVOKED, CredentialKind.SESSION, user_id, session_id, reason + note)

        # A cookie's session is known by its id only once deleted: a lost answer names none.
        with audited_if_lost(lambda note: revoked(session_id, note)):
            deleted = self._store.delete(secret_hash, user_id, session_id)
        if deleted is None:
            return False
        revoked(deleted.session_id)
        return True
