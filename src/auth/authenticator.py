"""Credential resolution (SPEC §4), in the order the SPEC gives, top to bottom.

Used by the authorizer for every protected route, and by handlers of public routes that
behave differently for a signed-in caller (an admin creating a user when sign-up is closed).
"""

from __future__ import annotations

import re

from auth.clock import Clock
from auth.errors import Unauthenticated
from auth.models import User
from auth.pats import PAT_PREFIX, PersonalAccessTokens
from auth.principal import AuthMethod, Principal
from auth.sessions import Sessions, parse_session_cookie
from auth.stores.dynamo import Item, TableKey
from auth.stores.user_store import UserStore, user_from_item
from auth.verified_tokens import VerifiedAccessTokens

BEARER_PREFIX = "Bearer "
# The scheme is case-insensitive (RFC 9110 §11.1): the prefix is compared in lower case.
# No non-ASCII character lowers to any of these, so this is exactly an ASCII comparison.
_BEARER_PREFIX_LOWER = BEARER_PREFIX.lower()
_BEARER_PREFIX_CHARS = len(BEARER_PREFIX)
# Bounds the per-container user cache; a full cache is simply dropped and refilled.
USER_CACHE_MAX_ENTRIES = 10_000
# Whitespace (as str.isspace sees it) or a comma: a regex scans a 300-character token in
# one C loop, where a per-character generator was the authorizer's single largest cost.
_NOT_IN_TOKEN = re.compile(r"[\s,]")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header; None when there is none (or
    it is empty).

    The scheme in any case (`bearer`, `BEARER`), as RFC 9110 §11.1 and Memos have it; exactly
    one space and no whitespace in the token: anything looser is not a header we issued
    clients, and being strict leaves no room for header-smuggling variants. Any other header
    (another scheme, other spacing) is refused rather than passed over, so that it never
    lets a session cookie stand in for it. Only the first 7 characters are lowered, never the
    whole header (this runs on every request).
    """
    if not authorization:
        return None
    if authorization[:_BEARER_PREFIX_CHARS].lower() != _BEARER_PREFIX_LOWER:
        raise Unauthenticated("not a bearer token")
    token = authorization[_BEARER_PREFIX_CHARS:]
    if not token or _NOT_IN_TOKEN.search(token):
        raise Unauthenticated("malformed bearer token")
    return token


class CachedUsers:
    """User records cached for at most `max_age` seconds: the revocation lag of SPEC §4.

    An archived, deleted or password-changed user is seen by every container within that
    lag; a warm container otherwise answers from memory (0 = read every time).
    """

    def __init__(self, store: UserStore, clock: Clock, max_age: int, consistent_reads: bool = False) -> None:
        self._store = store
        self._clock = clock
        self._max_age = max_age
        # With a lag of 0 an archive or password change must be seen by the very next request.
        self._consistent_reads = consistent_reads
        self._entries: dict[int, tuple[User | None, float]] = {}

    def is_fresh(self, user_id: int) -> bool:
        entry = self._entries.get(user_id)
        return entry is not None and self._clock.now() - entry[1] < self._max_age

    def get(self, user_id: int) -> User | None:
        if self.is_fresh(user_id):
            return self._entries[user_id][0]
        return self._remember(user_id, self._store.get(user_id, consistent=self._consistent_reads))

    def key_of(self, user_id: int) -> TableKey:
        return self._store.key_of(user_id)

    def remember_item(self, user_id: int, item: Item | None) -> User | None:
        """Cache a user item read along with a credential; the user it holds."""
        return self._remember(user_id, user_from_item(item) if item else None)

    def _remember(self, user_id: int, user: User | None) -> User | None:
        if len(self._entries) >= USER_CACHE_MAX_ENTRIES:
            self._entries.clear()
        self._entries[user_id] = (user, self._clock.now())
        return user


class Authenticator:
    def __init__(
        self,
        tokens: VerifiedAccessTokens,
        users: CachedUsers,
        pats: PersonalAccessTokens,
        sessions: Sessions,
        clock: Clock,
    ) -> None:
        self._tokens = tokens
        self._users = users
        self._pats = pats
        self._sessions = sessions
        self._clock = clock

    def authenticate(self, authorization: str | None, session_cookie: str | None) -> Principal:
        token = bearer_token(authorization)
        if token is not None:
            if token.startswith(PAT_PREFIX):
                return self._from_pat(token)
            return self._from_access_token(token)
        if session_cookie is not None:
            return self._from_session(session_cookie)
        raise Unauthenticated("no credential")

    def _from_access_token(self, token: str) -> Principal:
        claims = self._tokens.claims(token)
        # Asked on every request, a remembered token too: the user may be archived, or
        # their password changed, since the token was verified.
        user = self._active_user(claims.user_id)
        if claims.ended_by(user.tokens_not_before):
            raise Unauthenticated("token revoked")
        return Principal(user.id, user.username, user.role, AuthMethod.ACCESS_TOKEN, sign_in=claims.sign_in)

    def _from_pat(self, token: str) -> Principal:
        record = self._pats.find(token)
        # Only a use that passed every check counts as one.
        self._pats.mark_used(record)
        owner = record.owner
        return Principal(record.user_id, owner.username, owner.role, AuthMethod.PAT, record.token_id)

    def _from_session(self, cookie_value: str) -> Principal:
        # The cookie names the user: when the user is due too, read both in one round trip.
        user_id = parse_session_cookie(cookie_value)[0]
        if self._users.is_fresh(user_id):
            session = self._sessions.find(cookie_value)
            user = self._users.get(user_id)
        else:
            session, item = self._sessions.find_along(cookie_value, self._users.key_of)
            # The item just read decides: with a lag of 0 no entry is fresh, and asking the
            # cache again would read the user a second time.
            user = self._users.remember_item(user_id, item)
        # find and find_along refuse a session that the cookie's user id does not own.
        user = _active(user)
        self._sessions.mark_accessed(session)
        return Principal(
            user.id, user.username, user.role, AuthMethod.SESSION, session.session_id, session.sign_in
        )

    def _active_user(self, user_id: int) -> User:
        return _active(self._users.get(user_id))


def _active(user: User | None) -> User:
    if user is None or not user.is_active:
        raise Unauthenticated("user not found or archived")
    return user
