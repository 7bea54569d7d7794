"""The Sessions table: one item per browser session, keyed by the SHA-256 of the cookie's
secret, so a leaked table holds nothing that signs anyone in. Each session also has a public
`sessionId`, the only name listings and revocations use.

`expiresAt` (the TTL attribute) slides with `lastAccessedAt`; every write that extends a
session is conditional on the session still existing, so a racing sign-out is never undone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from auth.errors import SignInOutdated
from auth.models import ClientInfo, Device, SignIn, User
from auth.stores import dynamo, schema
from auth.stores.dynamo import Item, TableKey
from auth.stores.user_store import UserStore


@dataclass(frozen=True)
class SessionRecord:
    # The table key: SHA-256 (hex) of the cookie's secret.
    secret_hash: str = field(repr=False)
    # The public name of the session: in listings, revocations and audit lines.
    session_id: str
    user_id: int
    created_at: int
    last_accessed_at: int
    expires_at: int
    client: ClientInfo
    device: Device
    sign_in: SignIn
    # Whether a request has come with this session since sign-in (for the audit trail).
    used: bool = False


DEVICE = schema.ItemCodec(
    Device, device=schema.string("device"), os=schema.string("os"), browser=schema.string("browser")
)
SESSION = schema.ItemCodec(
    SessionRecord,
    secret_hash=schema.string("secretHash"),
    session_id=schema.string("sessionId"),
    user_id=schema.number("userId"),
    created_at=schema.number("createdAt"),
    last_accessed_at=schema.number("lastAccessedAt"),
    expires_at=schema.number("expiresAt"),
    client=schema.nested(schema.CLIENT_INFO),
    device=schema.nested(DEVICE),
    sign_in=schema.nested(schema.SIGN_IN),
    # `touch` sets firstUsedAt at the first request after sign-in.
    used=schema.present("firstUsedAt"),
)


class SessionStore:
    def __init__(self, client: Any, table: str, users: UserStore, bookkeeping: Any = None) -> None:
        self._client = client
        # `touch` is best effort: it may use a client that gives up sooner (auth.wiring).
        self._bookkeeping = bookkeeping or client
        self._table = table
        # A session is stored only while its user is as the sign-in verified them.
        self._users = users

    def _key(self, secret_hash: str) -> dict[str, Any]:
        return {"secretHash": dynamo.s(secret_hash)}

    def create(self, record: SessionRecord, signed_in: User) -> None:
        """Store a new session of `signed_in`, the user record its sign-in verified.

        SignInOutdated when that user is gone or their `tokensNotBefore` moved since (a
        password change ended their sign-ins meanwhile): nothing is stored.
        """
        item, check = SESSION.to_item(record), self._users.unchanged_since(signed_in)
        if not dynamo.put_new_checked(self._client, self._table, item, "secretHash", check):
            raise SignInOutdated

    def get_along(
        self, secret_hash: str, other: TableKey, consistent: bool
    ) -> tuple[SessionRecord | None, Item | None]:
        """This record and one item of another table, in one round trip."""
        item, other_item = dynamo.get_pair(
            self._client, (self._table, self._key(secret_hash)), other, consistent
        )
        return (SESSION.from_item(item) if item else None), other_item

    def get(self, secret_hash: str, consistent: bool = False) -> SessionRecord | None:
        return SESSION.get(self._client, self._table, self._key(secret_hash), consistent)

    def list_for_user(self, user_id: int) -> Iterator[SessionRecord]:
        return map(SESSION.from_item, dynamo.items_of_user(self._client, self._table, user_id))

    def touch(self, secret_hash: str, now: int, expires_at: int, min_interval: int) -> bool | None:
        """Slide the session to `expires_at` unless that was done within `min_interval`.

        Never extends a session that is gone or already expired. None when nothing was
        written; otherwise whether this was the session's first use.
        """
        response = dynamo.update_if(
            self._bookkeeping.update_item,
            self._table,
            self._key(secret_hash),
            "SET lastAccessedAt = :now, expiresAt = :exp, firstUsedAt = if_not_exists(firstUsedAt, :now)",
            "attribute_exists(secretHash) AND expiresAt > :now "
            "AND (lastAccessedAt <= :cutoff OR attribute_not_exists(firstUsedAt))",
            {":now": now, ":exp": expires_at, ":cutoff": now - min_interval},
            returning="ALL_OLD",
        )
        if response is None:
            return None
        return "firstUsedAt" not in response.get("Attributes", {})

    def delete(self, secret_hash: str, user_id: int, session_id: str = "") -> SessionRecord | None:
        """Delete the session if `user_id` owns it (and it is `session_id`, when given): the
        session as it was, None when there was no such session."""
        condition = "userId = :uid"
        values: dict[str, object] = {":uid": user_id}
        if session_id:
            condition, values = condition + " AND sessionId = :sid", {**values, ":sid": session_id}
        deleted = dynamo.conditional_write(
            self._client.delete_item,
            TableName=self._table,
            Key=self._key(secret_hash),
            ConditionExpression=condition,
            ExpressionAttributeValues=dynamo.expression_values(values, condition),
            ReturnValues="ALL_OLD",
        )
        if deleted is None or not deleted.get("Attributes"):
            return None
        return SESSION.from_item(deleted["Attributes"])
