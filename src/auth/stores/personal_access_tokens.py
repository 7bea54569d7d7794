"""The PersonalAccessTokens table: one item per token, keyed by the token's SHA-256.

The authorizer finds a token with one GetItem on that key; a user's tokens are listed
through the `byUser` index. Every write is conditional, so a write racing a delete never
resurrects a token as a half-empty item.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from auth.errors import NotFound, Unavailable
from auth.stores.dynamo import (
    ITEM_CONDITION_FAILED,
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
    write_transaction,
)


@dataclass(frozen=True)
class PatRecord:
    token_hash: str
    token_id: str
    user_id: int
    description: str
    created_at: int
    # None: the token never expires / has never been used.
    expires_at: int | None
    last_used_at: int | None

    def is_expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    def __repr__(self) -> str:
        # The hash is a lookup key for the token: keep it out of log lines.
        return f"PatRecord(token_id={self.token_id!r}, user_id={self.user_id})"


def _optional_n(item: Item, name: str) -> int | None:
    return get_n(item, name) if name in item else None


def _from_item(item: Item) -> PatRecord:
    return PatRecord(
        token_hash=get_s(item, "tokenHash"),
        token_id=get_s(item, "tokenId"),
        user_id=get_n(item, "userId"),
        description=get_s(item, "description"),
        created_at=get_n(item, "createdAt"),
        expires_at=_optional_n(item, "expiresAt"),
        last_used_at=_optional_n(item, "lastUsedAt"),
    )


def pat_to_item(record: PatRecord) -> dict[str, Any]:
    item: dict[str, Any] = {
        "tokenHash": s(record.token_hash),
        "tokenId": s(record.token_id),
        "userId": n(record.user_id),
        "description": s(record.description),
        "createdAt": n(record.created_at),
    }
    if record.expires_at is not None:
        item["expiresAt"] = n(record.expires_at)
    if record.last_used_at is not None:
        item["lastUsedAt"] = n(record.last_used_at)
    return item


class PatStore:
    def __init__(self, client: Any, table: str, owner_key: Callable[[int], TableKey]) -> None:
        self._client = client
        self._table = table
        # Where a user's item lives: a token is only stored while its owner exists.
        self._owner_key = owner_key

    def create(self, record: PatRecord) -> None:
        """Store a new token; NotFound when its user is gone.

        The user's existence is checked in the same transaction as the write: a token created
        while its user is being deleted is either refused or seen by the deletion's sweep,
        never left behind as an orphan.
        """
        # A SHA-256 collision of two random tokens does not happen; the condition makes
        # sure that if it ever did, the older token would not be overwritten.
        put = {
            "TableName": self._table,
            "Item": pat_to_item(record),
            "ConditionExpression": "attribute_not_exists(tokenHash)",
        }
        owner_table, owner_key = self._owner_key(record.user_id)
        owner_exists = {
            "TableName": owner_table,
            "Key": owner_key,
            # Every key attribute exists on a stored item; the first one will do.
            "ConditionExpression": f"attribute_exists({next(iter(owner_key))})",
        }
        codes = write_transaction(self._client, [{"ConditionCheck": owner_exists}, {"Put": put}])
        if codes is None:
            return
        if codes[:1] == [ITEM_CONDITION_FAILED]:
            raise NotFound("user not found")
        raise Unavailable("storage unavailable")

    def get_along(
        self, token_hash: str, other: TableKey, consistent: bool
    ) -> tuple[PatRecord | None, Item | None]:
        """This record and one item of another table, in one round trip."""
        item, other_item = get_pair(
            self._client, (self._table, {"tokenHash": s(token_hash)}), other, consistent
        )
        return (_from_item(item) if item else None), other_item

    def get(self, token_hash: str, consistent: bool = False) -> PatRecord | None:
        item = get_one(self._client, self._table, {"tokenHash": s(token_hash)}, consistent)
        return _from_item(item) if item else None

    def list_for_user(self, user_id: int) -> Iterator[PatRecord]:
        return (_from_item(item) for item in items_of_user(self._client, self._table, user_id))

    def touch(self, token_hash: str, now: int, min_interval: int) -> bool | None:
        """Set lastUsedAt unless it was set within `min_interval` seconds.

        None when nothing was written (another request did it, or the token is gone);
        otherwise whether this was the token's first use.
        """
        response = conditional_write(
            self._client.update_item,
            TableName=self._table,
            Key={"tokenHash": s(token_hash)},
            UpdateExpression="SET lastUsedAt = :now",
            ConditionExpression=(
                "attribute_exists(tokenHash) AND (attribute_not_exists(lastUsedAt) OR lastUsedAt <= :cutoff)"
            ),
            ExpressionAttributeValues={":now": n(now), ":cutoff": n(now - min_interval)},
            ReturnValues="ALL_OLD",
        )
        if response is None:
            return None
        return "lastUsedAt" not in response.get("Attributes", {})

    def delete(self, token_hash: str, token_id: str, user_id: int) -> bool:
        """Delete the token if it is still the one named, owned by `user_id`; False if not."""
        deleted = conditional_write(
            self._client.delete_item,
            TableName=self._table,
            Key={"tokenHash": s(token_hash)},
            ConditionExpression="tokenId = :tid AND userId = :uid",
            ExpressionAttributeValues={":tid": s(token_id), ":uid": n(user_id)},
        )
        return deleted is not None
