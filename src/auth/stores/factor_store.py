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
from auth.stores.dynamo import (
    ITEM_CONDITION_FAILED,
    Item,
    boolean,
    conditional_write,
    get_bool,
    get_n,
    get_one,
    get_s,
    n,
    prefixed_key,
    put_new_random,
    s,
    translated_errors,
    write_transaction,
)

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


@dataclass(frozen=True)
class SpendRefused:
    """Which condition of a second step's transaction failed."""

    factor: bool
    challenge: bool


def _hashes(item: Item) -> frozenset[str]:
    value = item.get("recoveryCodes")
    return frozenset(value["SS"]) if value and "SS" in value else frozenset()


def _totp_from(item: Item) -> TotpRecord:
    return TotpRecord(
        user_id=get_n(item, "userId"),
        enrolment_id=get_s(item, "enrolmentId"),
        enabled=get_bool(item, "enabled"),
        sealed=Sealed(get_s(item, "secretKid"), bytes(item["secret"]["B"])),
        created_at=get_n(item, "createdAt"),
        enabled_at=get_n(item, "enabledAt") if "enabledAt" in item else None,
        last_step=get_n(item, "totpLastStep") if "totpLastStep" in item else None,
        recovery_hashes=_hashes(item),
    )


class FactorStore:
    def __init__(self, client: Any, table: str) -> None:
        self._client = client
        self._table = table

    # -- TOTP ------------------------------------------------------------------------------

    def get_totp(self, user_id: int) -> TotpRecord | None:
        item = get_one(self._client, self._table, prefixed_key(TOTP_PREFIX, user_id), consistent=True)
        return None if item is None else _totp_from(item)

    def put_pending(self, record: TotpRecord) -> bool:
        """Store a pending enrolment over any pending one; False when one is enabled."""
        item = {
            **prefixed_key(TOTP_PREFIX, record.user_id),
            "userId": n(record.user_id),
            "enrolmentId": s(record.enrolment_id),
            "enabled": boolean(False),
            "secretKid": s(record.sealed.kid),
            "secret": {"B": record.sealed.blob},
            "createdAt": n(record.created_at),
        }
        return (
            conditional_write(
                self._client.put_item,
                TableName=self._table,
                Item=item,
                ConditionExpression="attribute_not_exists(pk) OR enabled = :no",
                ExpressionAttributeValues={":no": boolean(False)},
            )
            is not None
        )

    def enable(self, record: TotpRecord, step: int, recovery_hashes: list[str], now: int) -> bool:
        """Enable the pending enrolment `record` names, its first code's step spent; False
        when it was replaced, enabled or removed meanwhile."""
        return (
            conditional_write(
                self._client.update_item,
                TableName=self._table,
                Key=prefixed_key(TOTP_PREFIX, record.user_id),
                UpdateExpression="SET enabled = :yes, enabledAt = :now, totpLastStep = :step, "
                "recoveryCodes = :codes",
                ConditionExpression="enrolmentId = :enrolment AND enabled = :no",
                ExpressionAttributeValues={
                    ":yes": boolean(True),
                    ":no": boolean(False),
                    ":now": n(now),
                    ":step": n(step),
                    ":codes": {"SS": recovery_hashes},
                    ":enrolment": s(record.enrolment_id),
                },
            )
            is not None
        )

    def replace_recovery_codes(self, user_id: int, recovery_hashes: list[str]) -> bool:
        """The old codes stop working as the new ones are stored; False when TOTP is not enabled."""
        return (
            conditional_write(
                self._client.update_item,
                TableName=self._table,
                Key=prefixed_key(TOTP_PREFIX, user_id),
                UpdateExpression="SET recoveryCodes = :codes",
                ConditionExpression="enabled = :yes",
                ExpressionAttributeValues={":codes": {"SS": recovery_hashes}, ":yes": boolean(True)},
            )
            is not None
        )

    def delete_totp(self, user_id: int) -> TotpRecord | None:
        """Remove the factor and its recovery codes; what was removed, if anything."""
        with translated_errors():
            response = self._client.delete_item(
                TableName=self._table, Key=prefixed_key(TOTP_PREFIX, user_id), ReturnValues="ALL_OLD"
            )
        old = response.get("Attributes")
        return None if not old else _totp_from(old)

    # -- challenges --------------------------------------------------------------------------

    def create_challenge(self, record: ChallengeRecord) -> None:
        item = {
            **prefixed_key(CHALLENGE_PREFIX, record.challenge_hash),
            "userId": n(record.user_id),
            "routeKey": s(record.route_key),
            "createdAt": n(record.created_at),
            "expiresAt": n(record.expires_at),
            "failures": n(0),
            "firstAmr": s(record.first_amr),
        }
        put_new_random(self._client, self._table, item)

    def get_challenge(self, challenge_hash: str) -> ChallengeRecord | None:
        item = get_one(
            self._client, self._table, prefixed_key(CHALLENGE_PREFIX, challenge_hash), consistent=True
        )
        if item is None:
            return None
        return ChallengeRecord(
            challenge_hash=challenge_hash,
            user_id=get_n(item, "userId"),
            route_key=get_s(item, "routeKey"),
            created_at=get_n(item, "createdAt"),
            expires_at=get_n(item, "expiresAt"),
            failures=get_n(item, "failures"),
            first_amr=get_s(item, "firstAmr") if "firstAmr" in item else "pwd",
        )

    def add_challenge_failure(self, challenge_hash: str) -> int | None:
        """Count a wrong code against the challenge: the new count, None when it is gone."""
        response = conditional_write(
            self._client.update_item,
            TableName=self._table,
            Key=prefixed_key(CHALLENGE_PREFIX, challenge_hash),
            UpdateExpression="ADD failures :one",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":one": n(1)},
            ReturnValues="UPDATED_NEW",
        )
        return None if response is None else get_n(response.get("Attributes", {}), "failures")

    def delete_challenge(self, challenge_hash: str) -> None:
        with translated_errors():
            self._client.delete_item(
                TableName=self._table, Key=prefixed_key(CHALLENGE_PREFIX, challenge_hash)
            )

    # -- the second step ---------------------------------------------------------------------

    def spend_step(
        self, user_id: int, step: int, challenge: ChallengeRecord, now: int, max_failures: int
    ) -> SpendRefused | None:
        """Accept TOTP step `step` (it must be later than any accepted before) and use the
        challenge up, together; None when done."""
        factor = {
            "Update": {
                "TableName": self._table,
                "Key": prefixed_key(TOTP_PREFIX, user_id),
                "UpdateExpression": "SET totpLastStep = :step",
                "ConditionExpression": "enabled = :yes AND "
                "(attribute_not_exists(totpLastStep) OR totpLastStep < :step)",
                "ExpressionAttributeValues": {":step": n(step), ":yes": boolean(True)},
            }
        }
        return self._spend(factor, challenge, now, max_failures)

    def spend_recovery_code(
        self, user_id: int, code_hash: str, challenge: ChallengeRecord, now: int, max_failures: int
    ) -> SpendRefused | None:
        """Remove recovery code `code_hash` (it must still be there) and use the challenge up,
        together; None when done."""
        factor = {
            "Update": {
                "TableName": self._table,
                "Key": prefixed_key(TOTP_PREFIX, user_id),
                "UpdateExpression": "DELETE recoveryCodes :code",
                "ConditionExpression": "enabled = :yes AND contains(recoveryCodes, :hash)",
                "ExpressionAttributeValues": {
                    ":code": {"SS": [code_hash]},
                    ":hash": s(code_hash),
                    ":yes": boolean(True),
                },
            }
        }
        return self._spend(factor, challenge, now, max_failures)

    def _spend(
        self, factor: dict[str, Any], challenge: ChallengeRecord, now: int, max_failures: int
    ) -> SpendRefused | None:
        use_up = self.challenge_used_up(challenge, now, max_failures)
        reasons = write_transaction(self._client, [factor, use_up])
        if reasons is None:
            return None
        factor_reason, challenge_reason = [*reasons, "", ""][:2]
        return SpendRefused(
            factor=factor_reason == ITEM_CONDITION_FAILED, challenge=challenge_reason == ITEM_CONDITION_FAILED
        )

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
                "ExpressionAttributeValues": {
                    ":user": n(challenge.user_id),
                    ":route": s(challenge.route_key),
                    ":now": n(now),
                    ":max": n(max_failures),
                },
            }
        }
