"""The Factors table: a user's TOTP factor (with its recovery codes) and sign-in challenges.

- `totp#<userId>`: the sealed secret, whether it is enabled yet, the last time step
  accepted (`totpLastStep`) and the SHA-256 of each unused recovery code (a string set).
  Every use is one conditional write on this item, so two containers accepting the same
  step or the same recovery code at the same instant cannot both succeed.
- Passkeys and their ceremonies' challenges share the table (auth.stores.passkey_store).
- `mfa#<sha256 of the challenge>`: a second-step challenge, keyed by the hash of the
  opaque value the client holds; expires through `expiresAt` (and is checked on read).

A second step spends the code and the challenge in one transaction: neither is used up
without the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from auth.factor_cipher import Sealed
from auth.stores import dynamo, schema
from auth.stores.dynamo import prefixed_key

TOTP_PREFIX = "totp#"
CHALLENGE_PREFIX = "mfa#"


@dataclass(frozen=True)
class TotpRecord:
    user_id: int
    # Names one enrolment, so a confirm never enables a secret that replaced the one it read.
    enrolment_id: str
    enabled: bool
    sealed: Sealed = field(repr=False)
    created_at: int
    enabled_at: int | None = None
    last_step: int | None = None
    recovery_hashes: frozenset[str] = field(default=frozenset(), repr=False)


@dataclass(frozen=True)
class PendingPut:
    """What storing a pending enrolment did."""

    stored: bool
    # The pending enrolment it took the place of, whose secret is gone with it.
    replaced: str | None = None


@dataclass(frozen=True)
class ChallengeRecord:
    challenge_hash: str = field(repr=False)
    user_id: int
    # The route (API Gateway route key) whose first step issued it: only that one finishes it.
    route_key: str
    created_at: int
    expires_at: int
    failures: int = 0
    # How the first step was made (auth.models.Amr: a password, an identity provider): the
    # second step's `amr` begins with it.
    first_amr: str = "pwd"
    # The user's `tokens_not_before` when the first step verified them: a second step after
    # it moved (a password change) finishes a sign-in whose first step no longer holds.
    tokens_not_before: int = 0


@dataclass(frozen=True)
class SpendRefused:
    """Which condition of a second step's transaction failed."""

    factor: bool
    challenge: bool


# A secret sealed by auth.factor_cipher (also an identity provider's: auth.stores.idp_store).
SEALED_SECRET = schema.ItemCodec(Sealed, kid=schema.string("secretKid"), blob=schema.binary("secret"))
TOTP = schema.ItemCodec(
    TotpRecord,
    user_id=schema.number("userId"),
    enrolment_id=schema.string("enrolmentId"),
    enabled=schema.boolean("enabled"),
    sealed=schema.nested(SEALED_SECRET),
    created_at=schema.number("createdAt"),
    # Absent while the enrolment is pending: `enable` sets them.
    enabled_at=schema.optional_number("enabledAt"),
    last_step=schema.optional_number("totpLastStep"),
    recovery_hashes=schema.string_set("recoveryCodes"),
)
CHALLENGE = schema.ItemCodec(
    ChallengeRecord,
    challenge_hash=schema.prefixed(CHALLENGE_PREFIX),
    user_id=schema.number("userId"),
    route_key=schema.string("routeKey"),
    created_at=schema.number("createdAt"),
    expires_at=schema.number("expiresAt"),
    failures=schema.number("failures"),
    # A challenge stored before sign-in with an identity provider existed: a password's.
    first_amr=schema.string("firstAmr", default="pwd"),
    # A challenge stored without it (before it was kept) finishes only for a user whose
    # cut-off never moved.
    tokens_not_before=schema.number("tokensNotBefore"),
)


class FactorStore:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    # -- TOTP ------------------------------------------------------------------------------

    def get_totp(self, user_id: int) -> TotpRecord | None:
        return TOTP.get(self._client, self._table, prefixed_key(TOTP_PREFIX, user_id), consistent=True)

    def put_pending(self, record: TotpRecord) -> PendingPut:
        """Store a pending enrolment over any pending one; not stored when one is enabled."""
        written = dynamo.conditional_write(
            self._client.put_item,
            TableName=self._table,
            Item={**prefixed_key(TOTP_PREFIX, record.user_id), **TOTP.to_item(record)},
            ConditionExpression=(condition := "attribute_not_exists(pk) OR enabled = :no"),
            ExpressionAttributeValues=dynamo.expression_values({":no": False}, condition),
            # The same write says which pending secret it replaced: no read can race it.
            ReturnValues="ALL_OLD",
        )
        if written is None:
            return PendingPut(stored=False)
        old = written.get("Attributes")
        return PendingPut(stored=True, replaced=TOTP.from_item(old).enrolment_id if old else None)

    def enable(self, record: TotpRecord, step: int, recovery_hashes: list[str], now: int) -> bool:
        """Enable the pending enrolment `record` names, its first code's step spent; False
        when it was replaced, enabled or removed meanwhile."""
        values = {
            ":yes": True,
            ":no": False,
            ":now": now,
            ":step": step,
            ":codes": {"SS": recovery_hashes},
            ":enrolment": record.enrolment_id,
        }
        enabled = dynamo.update_if(
            self._client.update_item,
            self._table,
            prefixed_key(TOTP_PREFIX, record.user_id),
            "SET enabled = :yes, enabledAt = :now, totpLastStep = :step, recoveryCodes = :codes",
            "enrolmentId = :enrolment AND enabled = :no",
            values,
        )
        return enabled is not None

    def replace_recovery_codes(self, user_id: int, recovery_hashes: list[str]) -> str | None:
        """The old codes stop working as the new ones are stored: the enrolment's id, None when
        TOTP is not enabled."""
        written = dynamo.update_if(
            self._client.update_item,
            self._table,
            prefixed_key(TOTP_PREFIX, user_id),
            "SET recoveryCodes = :codes",
            "enabled = :yes",
            {":codes": {"SS": recovery_hashes}, ":yes": True},
            # The same write names the enrolment whose codes it replaced: no read can race it.
            returning="ALL_OLD",
        )
        return None if written is None else TOTP.from_item(written.get("Attributes", {})).enrolment_id

    def remove_totp(self, record: TotpRecord, also: dict[str, Any] | None = None) -> bool:
        """Remove the enrolment `record` names, as it was read (so the audit trail names what
        went), with its recovery codes, and write `also` (another transaction item) in the
        same transaction; False when it is gone or changed, or `also`'s condition failed."""
        delete: dict[str, Any] = {
            "TableName": self._table,
            "Key": prefixed_key(TOTP_PREFIX, record.user_id),
            "ConditionExpression": "enrolmentId = :enrolment AND enabled = :enabled",
            "ExpressionAttributeValues": dynamo.expression_values(
                {":enrolment": record.enrolment_id, ":enabled": record.enabled}
            ),
        }
        return dynamo.delete_with(self._client, delete, also)

    def delete_totp(self, user_id: int) -> TotpRecord | None:
        """Remove the factor and its recovery codes whatever they are (the user is being
        deleted); what was removed, if anything."""
        with dynamo.translated_errors():
            response = self._client.delete_item(
                TableName=self._table, Key=prefixed_key(TOTP_PREFIX, user_id), ReturnValues="ALL_OLD"
            )
        old = dynamo.removed_item(response)
        return None if not old else TOTP.from_item(old)

    # -- challenges --------------------------------------------------------------------------

    def create_challenge(self, record: ChallengeRecord) -> None:
        dynamo.put_new_random(self._client, self._table, CHALLENGE.to_item(record))

    def get_challenge(self, challenge_hash: str) -> ChallengeRecord | None:
        key = prefixed_key(CHALLENGE_PREFIX, challenge_hash)
        return CHALLENGE.get(self._client, self._table, key, consistent=True)

    def add_challenge_failure(self, challenge_hash: str) -> int | None:
        """Count a wrong code against the challenge: the new count, None when it is gone."""
        response = dynamo.update_if(
            self._client.update_item,
            self._table,
            prefixed_key(CHALLENGE_PREFIX, challenge_hash),
            "ADD failures :one",
            "attribute_exists(pk)",
            {":one": 1},
            returning="UPDATED_NEW",
        )
        return None if response is None else dynamo.get_n(response.get("Attributes", {}), "failures")

    def delete_challenge(self, challenge_hash: str) -> None:
        with dynamo.translated_errors():
            self._client.delete_item(
                TableName=self._table, Key=prefixed_key(CHALLENGE_PREFIX, challenge_hash)
            )

    # -- the second step ---------------------------------------------------------------------

    def spend_step(
        self, record: TotpRecord, step: int, challenge: ChallengeRecord, now: int, max_failures: int
    ) -> SpendRefused | None:
        """Accept TOTP step `step` of the enrolment `record` names (it must be later than any
        accepted before) and use the challenge up, together; None when done."""
        return self._spend(
            record,
            "SET totpLastStep = :step",
            "(attribute_not_exists(totpLastStep) OR totpLastStep < :step)",
            {":step": step},
            challenge,
            now,
            max_failures,
        )

    def spend_recovery_code(
        self, record: TotpRecord, code_hash: str, challenge: ChallengeRecord, now: int, max_failures: int
    ) -> SpendRefused | None:
        """Remove recovery code `code_hash` of the enrolment `record` names (it must still be
        there) and use the challenge up, together; None when done."""
        return self._spend(
            record,
            "DELETE recoveryCodes :code",
            "contains(recoveryCodes, :hash)",
            {":code": {"SS": [code_hash]}, ":hash": code_hash},
            challenge,
            now,
            max_failures,
        )

    def _spend(
        self,
        record: TotpRecord,
        update: str,
        condition: str,
        values: dict[str, object],
        challenge: ChallengeRecord,
        now: int,
        max_failures: int,
    ) -> SpendRefused | None:
        """`update` of the factor under `condition`, while it is still the enabled enrolment
        `record` names (the one the code was checked against, not one enrolled since a
        removal), with the challenge used up."""
        factor = {
            "Update": {
                "TableName": self._table,
                "Key": prefixed_key(TOTP_PREFIX, record.user_id),
                "UpdateExpression": update,
                "ConditionExpression": f"enabled = :yes AND enrolmentId = :enrolment AND {condition}",
                "ExpressionAttributeValues": dynamo.expression_values(
                    {**values, ":yes": True, ":enrolment": record.enrolment_id}
                ),
            }
        }
        use_up = self.challenge_used_up(challenge, now, max_failures)
        reasons = dynamo.write_transaction(self._client, [factor, use_up])
        if reasons is None:
            return None
        factor_failed, challenge_failed = dynamo.failed_conditions(reasons, 2)
        return SpendRefused(factor=factor_failed, challenge=challenge_failed)

    def challenge_used_up(self, challenge: ChallengeRecord, now: int, max_failures: int) -> dict[str, Any]:
        """A transaction item using the challenge up (also for a passkey's second step,
        auth.stores.passkey_store)."""
        return {
            "Delete": {
                "TableName": self._table,
                "Key": prefixed_key(CHALLENGE_PREFIX, challenge.challenge_hash),
                # Still there, for this user and route, unexpired, and not worn out by guesses.
                "ConditionExpression": "userId = :user AND routeKey = :route AND expiresAt > :now "
                "AND failures < :max",
                "ExpressionAttributeValues": dynamo.expression_values(
                    {
                        ":user": challenge.user_id,
                        ":route": challenge.route_key,
                        ":now": now,
                        ":max": max_failures,
                    }
                ),
            }
        }
