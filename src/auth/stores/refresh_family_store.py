"""The RefreshTokens table: one item per token family (one per sign-in).

The item holds the id of the family's one valid token. Rotating is a single conditional
update from the presented id to the next, so of any number of concurrent refreshes with one
token exactly one wins, and a token that is no longer current is recognisably a reuse.
The same update records the id it replaced and when (`previousTokenId`, `rotatedAt`), so
that a refused rotation shows whether the presented token was the one just rotated away:
the domain's retry grace (RefreshTokens.rotate) is decided from that, with no second write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from botocore.exceptions import ClientError

from auth.errors import SignInOutdated
from auth.models import NO_SIGN_IN, ClientInfo, SignIn, User
from auth.stores import dynamo, schema
from auth.stores.dynamo import Item
from auth.stores.user_store import UserStore


@dataclass(frozen=True)
class RefreshFamily:
    family_id: str
    user_id: int
    current_token_id: str
    created_at: int
    last_used_at: int
    expires_at: int
    revoked: bool
    client: ClientInfo
    # The sign-in the family began with: every access token it issues carries it unchanged.
    sign_in: SignIn = NO_SIGN_IN
    # Whether the family was ever refreshed (for the audit trail's first use).
    used: bool = False
    # The token id the last rotation replaced and when ("" and 0 before the first rotation).
    previous_token_id: str = ""
    rotated_at: int = 0
    # Made by tools/memos_import from a Memos refresh token (whose JWT has no family id).
    imported: bool = False

    @classmethod
    def begun(
        cls,
        family_id: str,
        user_id: int,
        token_id: str,
        now: int,
        expires_at: int,
        client: ClientInfo,
        sign_in: SignIn,
    ) -> RefreshFamily:
        """A family as its sign-in makes it: its first token current, never refreshed."""
        return cls(family_id, user_id, token_id, now, now, expires_at, False, client, sign_in)


class RotationRefused(Exception):
    """The conditional rotation failed; `family` is the item as it stood (None if gone)."""

    def __init__(self, family: RefreshFamily | None) -> None:
        super().__init__("refresh token rotation refused")
        self.family = family


FAMILY = schema.ItemCodec(
    RefreshFamily,
    family_id=schema.string("familyId"),
    user_id=schema.number("userId"),
    current_token_id=schema.string("currentTokenId"),
    created_at=schema.number("createdAt"),
    last_used_at=schema.number("lastUsedAt"),
    expires_at=schema.number("expiresAt"),
    revoked=schema.boolean("revoked"),
    client=schema.nested(schema.CLIENT_INFO),
    sign_in=schema.nested(schema.SIGN_IN),
    imported=schema.flag("imported"),
    # Written by `rotate`, never by the Put of a new family.
    used=schema.present("firstUsedAt"),
    previous_token_id=schema.read_only(schema.string("previousTokenId")),
    rotated_at=schema.read_only(schema.number("rotatedAt")),
)


_REVOKE = "SET revoked = :true, revokedAt = :now"


def _key(family_id: str) -> dict[str, Any]:
    return {"familyId": dynamo.s(family_id)}


class RefreshFamilyStore:
    def __init__(self, client: Any, table: str, users: UserStore) -> None:
        self._client = client
        self._table = table
        # A sign-in's family is stored only while its user is as the sign-in verified them.
        self._users = users

    def create(self, family: RefreshFamily, signed_in: User) -> None:
        """Store the first item of a sign-in's family; `signed_in` is the user record the
        sign-in verified.

        SignInOutdated when that user is gone or their `tokensNotBefore` moved since (a
        password change ended their sign-ins meanwhile): nothing is stored.
        """
        item, check = FAMILY.to_item(family), self._users.unchanged_since(signed_in)
        if not dynamo.put_new_checked(self._client, self._table, item, "familyId", check):
            raise SignInOutdated

    def put_new(self, family: RefreshFamily) -> dict[str, Any]:
        """The conditional Put of a new family (also a transaction item's `Put`)."""
        return dynamo.new_item(self._table, FAMILY.to_item(family), key="familyId")["Put"]

    def get(self, family_id: str) -> RefreshFamily | None:
        return FAMILY.get(self._client, self._table, _key(family_id), consistent=True)

    def get_many(self, family_ids: list[str]) -> dict[str, RefreshFamily]:
        """The families of these ids that exist, by id, in consistent batch reads."""
        keys = [_key(family_id) for family_id in family_ids]
        return FAMILY.get_many(self._client, self._table, keys, by=lambda family: family.family_id)

    def for_user(self, user_id: int) -> list[RefreshFamily]:
        """Every family (sign-in) of a user."""
        return [FAMILY.from_item(item) for item in dynamo.items_of_user(self._client, self._table, user_id)]

    def rotate(
        self,
        family_id: str,
        user_id: int,
        presented_token_id: str,
        next_token_id: str,
        now: int,
        expires_at: int,
        imported_only: bool = False,
    ) -> RefreshFamily:
        """Move the family from the presented token to the next; RotationRefused otherwise.

        The presented id becomes `previousTokenId` and `now` the `rotatedAt`, in the same
        update, so the two can never disagree with `currentTokenId`.

        The family must belong to `user_id` (the token's subject): a token is bound to its
        family and to its user, not to either alone. Returns the family as it was before.
        `imported_only`: the family must also be one imported from Memos.
        """
        condition = "currentTokenId = :presented AND userId = :uid AND revoked = :false AND expiresAt > :now"
        values: dict[str, object] = {
            ":next": next_token_id,
            ":presented": presented_token_id,
            ":uid": user_id,
            ":now": now,
            ":exp": expires_at,
            ":false": False,
        }
        if imported_only:
            condition += " AND imported = :true"
            values[":true"] = True
        with dynamo.translated_errors():
            try:
                response = self._client.update_item(
                    TableName=self._table,
                    Key=_key(family_id),
                    UpdateExpression=(
                        "SET currentTokenId = :next, previousTokenId = :presented, rotatedAt = :now,"
                        " lastUsedAt = :now, expiresAt = :exp, firstUsedAt = if_not_exists(firstUsedAt, :now)"
                    ),
                    ConditionExpression=condition,
                    ExpressionAttributeValues=dynamo.expression_values(values),
                    ReturnValues="ALL_OLD",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                if dynamo.error_code(exc) != dynamo.CONDITION_FAILED:
                    raise
                # ReturnValuesOnConditionCheckFailure adds the item, which botocore-stubs do not know.
                item = cast("Item | None", exc.response.get("Item"))
                # Not a ClientError: passes through the translation untouched.
                raise RotationRefused(FAMILY.from_item(item) if item else None) from exc
        return FAMILY.from_item(response.get("Attributes") or {})

    def revoke(self, family_id: str, now: int) -> None:
        """Mark the family revoked; kept until its TTL so reuse is still recognised."""
        # A family that is already gone (its TTL passed) has nothing left to revoke.
        dynamo.update_if(
            self._client.update_item,
            self._table,
            _key(family_id),
            _REVOKE,
            "attribute_exists(familyId)",
            {":true": True, ":now": now},
        )

    def revoke_for_user(self, family_id: str, user_id: int, now: int) -> bool:
        """Revoke a live family only if `user_id` owns it; False when there is none."""
        revoked = dynamo.update_if(
            self._client.update_item,
            self._table,
            _key(family_id),
            _REVOKE,
            "userId = :uid AND revoked = :false AND expiresAt > :now",
            {":true": True, ":false": False, ":now": now, ":uid": user_id},
        )
        return revoked is not None
