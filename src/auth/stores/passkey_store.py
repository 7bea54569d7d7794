"""Passkeys in the Factors table (SPEC §7): one item per credential, a list per user, and the
challenges of WebAuthn ceremonies.

- `passkey#<id>`: one credential. The id is the base64url SHA-256 of the credential id the
  authenticator chose (up to 1,023 bytes), so an assertion finds its passkey in one read and
  a path names it in 43 characters. Holds the owner, the COSE public key, the signature
  counter, transports, the backed-up flag, a name and when it was created and last used.
- `passkeys#<userId>`: the ids of the user's passkeys (a string set). It is written in the
  same transaction as each passkey, so a consistent read of it lists them whole (an index
  would lag), and it caps how many a user may have.
- `webauthn#<sha256 of the challenge>`: a ceremony's challenge, keyed by its hash, as a
  second-step challenge is (auth.stores.factor_store): which ceremony it belongs to, for
  whom, and for a second step, the MFA challenge it came from. Expires through `expiresAt`
  (checked on read too).

A ceremony's challenge is used up in the same transaction that stores its result (the new
passkey; the new counter, and in a second step the MFA challenge), each under a condition,
so two requests with one challenge or one assertion cannot both succeed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from auth.errors import Unavailable
from auth.stores import dynamo, schema
from auth.stores.dynamo import prefixed_key
from auth.stores.user_store import UserStore

PASSKEY_PREFIX = "passkey#"
LIST_PREFIX = "passkeys#"
CEREMONY_PREFIX = "webauthn#"


class CeremonyKind(StrEnum):
    """What a WebAuthn challenge may be used for: only that."""

    REGISTRATION = "registration"
    # A passwordless sign-in: no user is known until the assertion names its passkey.
    SIGN_IN = "sign_in"
    # The second step of a sign-in, for the user (and MFA challenge) of the first.
    SECOND_STEP = "second_step"


@dataclass(frozen=True)
class PasskeyRecord:
    passkey_id: str
    user_id: int
    credential_id: bytes
    # The credential's COSE_Key, as the authenticator sent it at registration.
    public_key: bytes
    sign_count: int
    transports: tuple[str, ...]
    backed_up: bool
    display_name: str
    created_at: int
    last_used_at: int | None = None


@dataclass(frozen=True)
class CeremonyRecord:
    challenge_hash: str = field(repr=False)
    kind: CeremonyKind
    # 0 for a passwordless sign-in.
    user_id: int
    created_at: int
    expires_at: int
    # A second step's: the hash of the MFA challenge whose user it is for.
    mfa_challenge_hash: str = field(default="", repr=False)


@dataclass(frozen=True)
class AddRefused:
    """Which condition of a registration's transaction failed."""

    user_gone: bool
    duplicate: bool
    full: bool
    ceremony: bool


@dataclass(frozen=True)
class UseRefused:
    """Which condition of an assertion's transaction failed: the passkey's counter (another
    use got in first, or the passkey is gone), the ceremony's challenge, or what the caller
    added (a second step's MFA challenge)."""

    passkey: bool
    ceremony: bool
    also: bool


PASSKEY = schema.ItemCodec(
    PasskeyRecord,
    passkey_id=schema.prefixed(PASSKEY_PREFIX),
    user_id=schema.number("userId"),
    credential_id=schema.binary("credentialId"),
    public_key=schema.binary("publicKey"),
    sign_count=schema.number("signCount"),
    transports=schema.string_list("transports"),
    backed_up=schema.boolean("backedUp"),
    display_name=schema.string("displayName"),
    created_at=schema.number("createdAt"),
    # Absent until the first assertion (`use` sets it).
    last_used_at=schema.optional_number("lastUsedAt"),
)
CEREMONY = schema.ItemCodec(
    CeremonyRecord,
    challenge_hash=schema.prefixed(CEREMONY_PREFIX),
    # No default: an item of no known kind is no ceremony (`get_ceremony`).
    kind=schema.enum("kind", CeremonyKind),
    user_id=schema.number("userId"),
    created_at=schema.number("createdAt"),
    expires_at=schema.number("expiresAt"),
    mfa_challenge_hash=schema.string("mfaChallenge"),
)


class PasskeyStore:
    def __init__(
        self, client: Any, table: str, users: UserStore, pause: Callable[[float], None] = time.sleep
    ) -> None:
        self._client = client
        self._table = table
        self._users = users
        # Between the attempts of a batch read DynamoDB left unfinished (injected by tests).
        self._pause = pause

    # -- passkeys ----------------------------------------------------------------------------

    def get(self, passkey_id: str) -> PasskeyRecord | None:
        key = prefixed_key(PASSKEY_PREFIX, passkey_id)
        return PASSKEY.get(self._client, self._table, key, consistent=True)

    def ids_of(self, user_id: int) -> frozenset[str]:
        item = dynamo.get_one(self._client, self._table, prefixed_key(LIST_PREFIX, user_id), consistent=True)
        ids = item.get("ids") if item else None
        return frozenset(ids["SS"]) if ids and "SS" in ids else frozenset()

    def for_user(self, user_id: int) -> list[PasskeyRecord]:
        """The user's passkeys, oldest first: their list, then every record in one read."""
        ids = self.ids_of(user_id)
        if not ids:
            return []
        keys = [prefixed_key(PASSKEY_PREFIX, i) for i in sorted(ids)]
        # Keys left unprocessed are asked again; still unread after every attempt, Unavailable:
        # a listing that leaves one out could hide a passkey from the user who must remove it.
        items = dynamo.get_many(self._client, self._table, keys, consistent=True, pause=self._pause)
        records = [PASSKEY.from_item(item) for item in items]
        return sorted(
            (r for r in records if r.user_id == user_id), key=lambda r: (r.created_at, r.passkey_id)
        )

    def add(
        self, record: PasskeyRecord, ceremony: CeremonyRecord, now: int, max_passkeys: int
    ) -> AddRefused | None:
        """Store a new passkey while its user exists, it is not registered yet and the user
        has room, using the registration's challenge up; None when done."""
        items = [
            dynamo.still_exists(self._users.key_of(record.user_id)),
            dynamo.new_item(self._table, PASSKEY.to_item(record)),
            {
                "Update": {
                    "TableName": self._table,
                    "Key": prefixed_key(LIST_PREFIX, record.user_id),
                    "UpdateExpression": "ADD ids :id SET userId = :user",
                    "ConditionExpression": "attribute_not_exists(ids) OR size(ids) < :max",
                    "ExpressionAttributeValues": dynamo.expression_values(
                        {":id": {"SS": [record.passkey_id]}, ":user": record.user_id, ":max": max_passkeys}
                    ),
                }
            },
            self.ceremony_used_up(ceremony, now),
        ]
        reasons = dynamo.write_transaction(self._client, items)
        if reasons is None:
            return None
        user_gone, duplicate, full, ceremony_failed = dynamo.failed_conditions(reasons, len(items))
        return AddRefused(user_gone=user_gone, duplicate=duplicate, full=full, ceremony=ceremony_failed)

    def remove(self, record: PasskeyRecord, also: dict[str, Any] | None = None) -> bool:
        """Remove the passkey from its user's list and the table together, with `also`
        (another transaction item) when given; False when it was gone already, or `also`'s
        condition failed."""
        items = [
            {
                "Delete": {
                    "TableName": self._table,
                    "Key": prefixed_key(PASSKEY_PREFIX, record.passkey_id),
                    "ConditionExpression": "userId = :user",
                    "ExpressionAttributeValues": dynamo.expression_values({":user": record.user_id}),
                }
            },
            {
                "Update": {
                    "TableName": self._table,
                    "Key": prefixed_key(LIST_PREFIX, record.user_id),
                    "UpdateExpression": "DELETE ids :id",
                    "ConditionExpression": "attribute_exists(pk)",
                    "ExpressionAttributeValues": dynamo.expression_values(
                        {":id": {"SS": [record.passkey_id]}}
                    ),
                }
            },
        ]
        failed = dynamo.write_with(self._client, items, also)
        if failed is None:
            return True
        passkey_gone, _, also_failed = failed
        if passkey_gone or also_failed:
            return False
        raise Unavailable("storage unavailable")

    def delete_list(self, user_id: int) -> None:
        """The list of a user being deleted, once each of their passkeys is removed (`remove`
        takes each from the table and the list together, so a failure part way leaves the
        rest listed for a retry, and the list never names a passkey that is gone)."""
        with dynamo.translated_errors():
            self._client.delete_item(TableName=self._table, Key=prefixed_key(LIST_PREFIX, user_id))

    def use(
        self,
        record: PasskeyRecord,
        new_count: int,
        backed_up: bool,
        ceremony: CeremonyRecord,
        now: int,
        also: dict[str, Any] | None = None,
    ) -> UseRefused | None:
        """Record an accepted assertion (its counter, the time, the backed-up flag) and use
        the ceremony's challenge up, with `also` (another transaction item) in the same
        transaction; None when done. The counter must still be the one the assertion was
        verified against: of two uses at once, one wins."""
        items = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": prefixed_key(PASSKEY_PREFIX, record.passkey_id),
                    "UpdateExpression": "SET signCount = :new, lastUsedAt = :now, backedUp = :backed",
                    "ConditionExpression": "userId = :user AND signCount = :old",
                    "ExpressionAttributeValues": dynamo.expression_values(
                        {
                            ":new": new_count,
                            ":now": now,
                            ":backed": backed_up,
                            ":user": record.user_id,
                            ":old": record.sign_count,
                        }
                    ),
                }
            },
            self.ceremony_used_up(ceremony, now),
        ]
        failed = dynamo.write_with(self._client, items, also)
        if failed is None:
            return None
        passkey, ceremony_failed, also_failed = failed
        return UseRefused(passkey=passkey, ceremony=ceremony_failed, also=also_failed)

    # -- ceremonies --------------------------------------------------------------------------

    def create_ceremony(self, record: CeremonyRecord) -> None:
        dynamo.put_new_random(self._client, self._table, CEREMONY.to_item(record))

    def get_ceremony(self, challenge_hash: str) -> CeremonyRecord | None:
        key = prefixed_key(CEREMONY_PREFIX, challenge_hash)
        item = dynamo.get_one(self._client, self._table, key, consistent=True)
        if item is None:
            return None
        try:
            return CEREMONY.from_item(item)
        except ValueError:
            return None

    def delete_ceremony(self, challenge_hash: str) -> None:
        with dynamo.translated_errors():
            self._client.delete_item(TableName=self._table, Key=prefixed_key(CEREMONY_PREFIX, challenge_hash))

    def ceremony_used_up(self, ceremony: CeremonyRecord, now: int) -> dict[str, Any]:
        """A transaction item using the ceremony's challenge up: it must still be there, of
        the same kind, user and MFA challenge, and unexpired."""
        return {
            "Delete": {
                "TableName": self._table,
                "Key": prefixed_key(CEREMONY_PREFIX, ceremony.challenge_hash),
                "ConditionExpression": "#kind = :kind AND userId = :user AND mfaChallenge = :mfa "
                "AND expiresAt > :now",
                "ExpressionAttributeNames": {"#kind": "kind"},
                "ExpressionAttributeValues": dynamo.expression_values(
                    {
                        ":kind": ceremony.kind.value,
                        ":user": ceremony.user_id,
                        ":mfa": ceremony.mfa_challenge_hash,
                        ":now": now,
                    }
                ),
            }
        }
