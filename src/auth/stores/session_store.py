"""The Sessions table: one item per browser session, keyed by its UUIDv4 session id.

`expiresAt` (the TTL attribute) slides with `lastAccessedAt`; every write that extends a
session is conditional on the session still existing, so a racing sign-out is never undone.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from auth.models import ClientInfo, Device
from auth.stores.dynamo import (
    Item,
    TableKey,
    conditional_write,
    get_n,
    get_one,
    get_pair,
    get_s,
    items_of_user,
    n,
    s,
    translated_errors,
)


@dataclass(frozen=True)
class SessionRecord:
    session_id: str
    user_id: int
    created_at: int
    last_accessed_at: int
    expires_at: int
    client: ClientInfo
    device: Device
    # Whether a request has come with this session since sign-in (for the audit trail).
    used: bool = False


def _from_item(item: Item) -> SessionRecord:
    return SessionRecord(
        session_id=get_s(item, "sessionId"),
        user_id=get_n(item, "userId"),
        created_at=get_n(item, "createdAt"),
        last_accessed_at=get_n(item, "lastAccessedAt"),
        expires_at=get_n(item, "expiresAt"),
        client=ClientInfo(user_agent=get_s(item, "userAgent"), ip_address=get_s(item, "ipAddress")),
        device=Device(get_s(item, "device"), get_s(item, "os"), get_s(item, "browser")),
        used="firstUsedAt" in item,
    )


class SessionStore:
    def __init__(self, client: Any, table: str, bookkeeping: Any = None) -> None:
        self._client = client
        # `touch` is best effort: it may use a client that gives up sooner (auth.wiring).
        self._bookkeeping = bookkeeping or client
        self._table = table

    def create(self, record: SessionRecord) -> None:
        with translated_errors():
            self._client.put_item(
                TableName=self._table,
                Item={
                    "sessionId": s(record.session_id),
                    "userId": n(record.user_id),
                    "createdAt": n(record.created_at),
                    "lastAccessedAt": n(record.last_accessed_at),
                    "expiresAt": n(record.expires_at),
                    "userAgent": s(record.client.user_agent),
                    "ipAddress": s(record.client.ip_address),
                    "device": s(record.device.device),
                    "os": s(record.device.os),
                    "browser": s(record.device.browser),
                },
                ConditionExpression="attribute_not_exists(sessionId)",
            )

    def get_along(
        self, session_id: str, other: TableKey, consistent: bool
    ) -> tuple[SessionRecord | None, Item | None]:
        """This record and one item of another table, in one round trip."""
        item, other_item = get_pair(
            self._client, (self._table, {"sessionId": s(session_id)}), other, consistent
        )
        return (_from_item(item) if item else None), other_item

    def get(self, session_id: str, consistent: bool = False) -> SessionRecord | None:
        item = get_one(self._client, self._table, {"sessionId": s(session_id)}, consistent)
        return _from_item(item) if item else None

    def list_for_user(self, user_id: int) -> Iterator[SessionRecord]:
        return (_from_item(item) for item in items_of_user(self._client, self._table, user_id))

    def touch(self, session_id: str, now: int, expires_at: int, min_interval: int) -> bool | None:
        """Slide the session to `expires_at` unless that was done within `min_interval`.

        Never extends a session that is gone or already expired. None when nothing was
        written; otherwise whether this was the session's first use.
        """
        response = conditional_write(
            self._bookkeeping.update_item,
            TableName=self._table,
            Key={"sessionId": s(session_id)},
            UpdateExpression=(
                "SET lastAccessedAt = :now, expiresAt = :exp, firstUsedAt = if_not_exists(firstUsedAt, :now)"
            ),
            ConditionExpression=(
                "attribute_exists(sessionId) AND expiresAt > :now "
                "AND (lastAccessedAt <= :cutoff OR attribute_not_exists(firstUsedAt))"
            ),
            ExpressionAttributeValues={
                ":now": n(now),
                ":exp": n(expires_at),
                ":cutoff": n(now - min_interval),
            },
            ReturnValues="ALL_OLD",
        )
        if response is None:
            return None
        return "firstUsedAt" not in response.get("Attributes", {})

    def delete(self, session_id: str, user_id: int) -> bool:
        """Delete the session if `user_id` owns it; False when there is no such session."""
        deleted = conditional_write(
            self._client.delete_item,
            TableName=self._table,
            Key={"sessionId": s(session_id)},
            ConditionExpression="userId = :uid",
            ExpressionAttributeValues={":uid": n(user_id)},
        )
        return deleted is not None
