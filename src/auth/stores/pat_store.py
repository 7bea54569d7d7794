"""The PersonalAccessTokens table: one item per token, keyed by the token's SHA-256.

The authorizer finds a token with one GetItem on that key; a user's tokens are listed
through the `byUser` index. Each item carries a copy of its owner's username, role and
state, so that one read decides a request. The copies cannot drift from the user: every
write that could make them disagree is one transaction with the user's item, whose token
count proves that a role or state change rewrote every copy (see `update_owner`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from auth.errors import InvalidArgument, NotFound, Unavailable
from auth.models import Role, State, TokenOwner, User
from auth.stores import dynamo, schema
from auth.stores.user_store import CutOffPassed, OwnerChanged, UserStore

# A role or state change rewrites the user's item and every token's copy in one transaction,
# and DynamoDB takes at most 100 items in one.
MAX_TOKENS_PER_USER = 99
# Every write of a token is a transaction with its user's item, so two at once for the same
# user conflict, and a listing through the index may lag: such a write is tried again, after
# a jittered pause that doubles each time (at most 3.15 s in all).
ATTEMPTS = 6
FIRST_PAUSE_SECONDS = 0.05
TOO_MANY_TOKENS = f"a user has at most {MAX_TOKENS_PER_USER} personal access tokens"


@dataclass(frozen=True)
class PatRecord:
    token_hash: str = field(repr=False)
    token_id: str
    user_id: int
    description: str
    created_at: int
    # None: the token never expires / has never been used.
    expires_at: int | None
    last_used_at: int | None
    # The owner as the authorizer sees them: kept in step with the user's item.
    owner: TokenOwner
    # Brought over from Memos (tools/memos_import): the token has no checksum of ours.
    imported: bool = False

    def is_expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at


OWNER = schema.ItemCodec(
    TokenOwner,
    username=schema.string("ownerUsername"),
    role=schema.enum("ownerRole", Role, default=Role.USER),
    # Every item is written with its copy; one without would be refused, not trusted.
    state=schema.enum("ownerState", State, default=State.ARCHIVED),
)
PAT = schema.ItemCodec(
    PatRecord,
    token_hash=schema.string("tokenHash"),
    token_id=schema.string("tokenId"),
    user_id=schema.number("userId"),
    description=schema.string("description"),
    created_at=schema.number("createdAt"),
    owner=schema.nested(OWNER),
    expires_at=schema.optional_number("expiresAt"),
    last_used_at=schema.optional_number("lastUsedAt"),
    imported=schema.flag("imported"),
)
pat_to_item = PAT.to_item


def _key(token_hash: str) -> dict[str, Any]:
    return {"tokenHash": dynamo.s(token_hash)}


class PatStore:
    def __init__(
        self,
        client: Any,
        table: str,
        users: UserStore,
        pause: Callable[[float], None] = time.sleep,
        bookkeeping: Any = None,
    ) -> None:
        self._client = client
        # `touch` is best effort: it may use a client that gives up sooner (auth.wiring).
        self._bookkeeping = bookkeeping or client
        self._table = table
        # The owners' items: their token counts are written with the tokens.
        self._users = users
        self._pause = pause

    def create(self, record: PatRecord) -> PatRecord:
        """Store a new token with its user's count; the record as stored.

        NotFound when the user is gone, InvalidArgument when they have MAX_TOKENS_PER_USER
        already. When the user's role or state changed since `record.owner` was read, the
        token is stored with the new copy.
        """
        for attempt in range(ATTEMPTS):
            # A SHA-256 collision of two random tokens does not happen; put_new's condition
            # makes sure that if it ever did, the older token would not be overwritten.
            counted = self._users.token_added(record.user_id, record.owner, MAX_TOKENS_PER_USER)
            codes = dynamo.write_transaction(self._client, [counted, self.put_new(record)])
            if codes is None:
                return record
            if codes[0] == dynamo.ITEM_CONDITION_FAILED:
                record = replace(record, owner=self._owner_for_retry(record))
            elif dynamo.TRANSACTION_CONFLICT not in codes:
                break
            self._back_off(attempt)
        raise Unavailable("storage unavailable")

    def put_new(self, record: PatRecord) -> dict[str, Any]:
        """The Put of a token that does not exist yet, as a transaction item written with
        its user's count (by `create`, `add_imported` and the importer)."""
        return dynamo.new_item(self._table, PAT.to_item(record), key="tokenHash")

    def add_imported(self, record: PatRecord) -> bool:
        """Store an imported token of an existing user with its count; False when a token
        with this hash exists already (the caller tells whether it is this one).

        NotFound when the user is gone, InvalidArgument when their tokens are full.
        """
        for attempt in range(ATTEMPTS):
            if self.get(record.token_hash, consistent=True) is not None:
                return False
            counted = self._users.token_added(record.user_id, record.owner, MAX_TOKENS_PER_USER)
            codes = dynamo.write_transaction(self._client, [counted, self.put_new(record)])
            if codes is None:
                return True
            if codes[0] == dynamo.ITEM_CONDITION_FAILED:
                record = replace(record, owner=self._owner_for_retry(record))
            elif codes[1] == dynamo.ITEM_CONDITION_FAILED:
                return False
            elif dynamo.TRANSACTION_CONFLICT not in codes:
                break
            self._back_off(attempt)
        raise Unavailable("storage unavailable")

    def _owner_for_retry(self, record: PatRecord) -> TokenOwner:
        """Why the user's side of a creation failed: a gone user or a full quota end it; a
        changed role or state is copied afresh."""
        counted = self._users.get_counted(record.user_id)
        if counted is None:
            raise NotFound("user not found")
        user, tokens = counted
        if tokens >= MAX_TOKENS_PER_USER:
            raise InvalidArgument(TOO_MANY_TOKENS)
        return user.as_owner

    def update_owner(self, before: User, after: User) -> None:
        """Write the user's change from `before` to `after` (their role or state among it) and
        the copy on each of their tokens, at once.

        The tokens are listed through an index that may lag behind the table; the user's
        token count, checked in the same transaction, proves the listing whole, and every
        listed token must still exist. A listing that was not is tried again. OwnerChanged
        when the user's role or state is no longer `before`'s.
        """
        for attempt in range(ATTEMPTS):
            hashes = [record.token_hash for record in self.list_for_user(after.id)]
            copies = [self._copy_owner(token_hash, after) for token_hash in hashes]
            codes = dynamo.write_transaction(
                self._client, [self._users.update_with_tokens(before, after, len(hashes)), *copies]
            )
            if codes is None:
                return
            current = self._users.get(after.id, consistent=True)
            if current is None:
                raise NotFound("user not found")
            if current.as_owner != before.as_owner:
                raise OwnerChanged
            if after.tokens_not_before != before.tokens_not_before:
                # Not the listing but the cut-off may be what was refused.
                CutOffPassed.check(current, after.tokens_not_before)
            # A failed condition: a listing that was not whole (or a token deleted since).
            if not set(codes) <= {
                dynamo.ITEM_CONDITION_FAILED,
                dynamo.TRANSACTION_CONFLICT,
                dynamo.NO_FAILURE,
            }:
                break
            self._back_off(attempt)
        raise Unavailable("storage unavailable")

    def _back_off(self, attempt: int) -> None:
        dynamo.back_off(attempt, FIRST_PAUSE_SECONDS, self._pause)

    def _copy_owner(self, token_hash: str, user: User) -> dict[str, Any]:
        update = {
            "TableName": self._table,
            "Key": _key(token_hash),
            **dynamo.set_attributes(OWNER.to_item(user.as_owner)),
            # Also refuses to create an item for a token deleted since the listing.
            "ConditionExpression": "userId = :user",
        }
        update["ExpressionAttributeValues"][":user"] = dynamo.n(user.id)
        return {"Update": update}

    def get(self, token_hash: str, consistent: bool = False) -> PatRecord | None:
        return PAT.get(self._client, self._table, _key(token_hash), consistent)

    def get_many(self, token_hashes: list[str]) -> dict[str, PatRecord]:
        """The tokens of these hashes that exist, by hash, in consistent batch reads."""
        keys = [_key(token_hash) for token_hash in token_hashes]
        return PAT.get_many(self._client, self._table, keys, by=lambda record: record.token_hash)

    def list_for_user(self, user_id: int) -> Iterator[PatRecord]:
        return map(PAT.from_item, dynamo.items_of_user(self._client, self._table, user_id))

    def touch(self, token_hash: str, now: int, min_interval: int) -> bool | None:
        """Set lastUsedAt unless it was set within `min_interval` seconds.

        None when nothing was written (another request did it, or the token is gone);
        otherwise whether this was the token's first use.
        """
        response = dynamo.update_if(
            self._bookkeeping.update_item,
            self._table,
            _key(token_hash),
            "SET lastUsedAt = :now",
            "attribute_exists(tokenHash) AND (attribute_not_exists(lastUsedAt) OR lastUsedAt <= :cutoff)",
            {":now": now, ":cutoff": now - min_interval},
            returning="ALL_OLD",
        )
        if response is None:
            return None
        return "lastUsedAt" not in response.get("Attributes", {})

    def delete(self, token_hash: str, token_id: str, user_id: int) -> bool:
        """Delete the token if it is still the one named, owned by `user_id`; False if not.

        The user's token count goes down in the same transaction.
        """
        delete = {
            "TableName": self._table,
            "Key": _key(token_hash),
            "ConditionExpression": "tokenId = :tid AND userId = :uid",
            "ExpressionAttributeValues": dynamo.expression_values({":tid": token_id, ":uid": user_id}),
        }
        for attempt in range(ATTEMPTS):
            codes = dynamo.write_transaction(
                self._client, [{"Delete": delete}, self._users.token_removed(user_id)]
            )
            if codes is None:
                return True
            if dynamo.ITEM_CONDITION_FAILED in codes:
                return False
            if dynamo.TRANSACTION_CONFLICT not in codes:
                break
            self._back_off(attempt)
        raise Unavailable("storage unavailable")
