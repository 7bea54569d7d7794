"""Rotating the signing key (SPEC §2) in Secrets Manager's four steps.

Secrets Manager starts a rotation by labelling a new, empty version AWSPENDING under a
ClientRequestToken, then calls the rotation function once per step, retrying any step that
fails. Every step is therefore idempotent: a retry finds its work done and does nothing.

- createSecret: store the next key (`kid` v1 -> v2 ...) as the pending version.
- setSecret: nothing to do; the key lives only in the secret, no other system holds it.
- testSecret: sign and verify a token with the pending key before anyone signs with it.
- finishSecret: move AWSCURRENT to the pending version; Secrets Manager labels the old
  one AWSPREVIOUS, which the key ring keeps verifying, so no token stops working early.
  The new key signs only ACTIVATION_DELAY_SECONDS after createSecret made it (auth.keys),
  which keeps every container able to verify its tokens only if the rotation finishes
  soon after: a pending key older than FINISH_WITHIN_SECONDS is refused and loses its
  AWSPENDING label (Secrets Manager starts no rotation while one is pending), so that the
  next rotation makes a fresh one. Nor does a rotation start before the current key signs
  (ACTIVATION_DELAY_SECONDS after the last one): it would retire the key that signs
  meanwhile.

The key is the service's credential, no user's: its audit events (user 0, the key named
by its kid) are the pending key created, made current, or abandoned.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from botocore.exceptions import ClientError

from auth.audit import AuditEvent, AuditSink, CredentialKind
from auth.clock import Clock
from auth.errors import Internal
from auth.keys import (
    ACTIVATION_DELAY_SECONDS,
    CURRENT_STAGE,
    FINISH_WITHIN_SECONDS,
    FIRST_KID,
    PREVIOUS_STAGE,
    StoredKey,
    new_secret_string,
    next_kid,
    parse_stored_key,
)
from auth.tokens import SigningKey, mint_refresh_token, parse_refresh_token

PENDING_STAGE = "AWSPENDING"
# The user id of the audit events of a key that is no user's.
NO_USER = 0
# testSecret mints a throwaway token for this made-up subject; it is never stored or sent.
_PROBE_USER_ID = 1
_PROBE_TOKEN_ID = "key-rotation-probe"
_PROBE_TTL_SECONDS = 60


class Step(StrEnum):
    CREATE = "createSecret"
    SET = "setSecret"
    TEST = "testSecret"
    FINISH = "finishSecret"


class RotationError(Internal):
    """The rotation cannot go on; Secrets Manager retries the step, then marks it failed."""


def _stages(metadata: Mapping[str, Any], version_id: str) -> list[str]:
    return list((metadata.get("VersionIdsToStages") or {}).get(version_id, []))


class KeyRotation:
    def __init__(self, client: Any, clock: Clock, audit: AuditSink) -> None:
        self._client = client
        self._clock = clock
        self._audit = audit

    def run(self, step: str, secret_id: str, token: str) -> bool:
        """Run one step for the version `token`, after checking it is the pending one.

        True only when this call moved AWSCURRENT (finishSecret's work, done once): a retry
        of a step that found its work done answers False, so a rotation is counted once.
        """
        try:
            chosen = Step(step)
        except ValueError as exc:
            raise RotationError(f"unknown rotation step {step!r}") from exc
        metadata = self._client.describe_secret(SecretId=secret_id)
        if not metadata.get("RotationEnabled"):
            raise RotationError("rotation is not enabled on the secret")
        stages = _stages(metadata, token)
        if not stages:
            raise RotationError("the version to rotate to does not exist")
        if CURRENT_STAGE in stages:
            # A retry after finishSecret succeeded: the rotation is complete.
            return False
        if PENDING_STAGE not in stages:
            raise RotationError("the version to rotate to is not pending")
        if chosen is Step.FINISH:
            return self.finish_secret(secret_id, token)
        {Step.CREATE: self.create_secret, Step.SET: self.set_secret, Step.TEST: self.test_secret}[chosen](
            secret_id, token
        )
        return False

    def create_secret(self, secret_id: str, token: str) -> None:
        if self._pending(secret_id, token) is not None:
            return
        stored = self._key(SecretId=secret_id, VersionStage=CURRENT_STAGE)
        previous = self._previous(secret_id)
        if stored is not None and previous is not None and not stored.signs_at(self._clock.now()):
            # Too soon after the last rotation: its key does not sign yet (the previous one
            # signs meanwhile), and this one would retire the key that signs, leaving a key
            # only seconds old to sign, which containers that read the keys just before
            # would refuse.
            self._release(secret_id, token)
            raise RotationError(
                f"the current key was made less than {ACTIVATION_DELAY_SECONDS} s ago and does not "
                "sign yet; rotate again later"
            )
        current = stored.key if stored is not None else None
        kid = next_kid(current.kid) if current is not None else FIRST_KID
        # A kid set by hand (not vN, or lower than before) can make the next one AWSPREVIOUS's:
        # a container that cached that old key would take it for the new one and refuse the
        # new key's tokens, never re-reading for a kid it knows. Go on to one above both.
        taken = {key.kid for key in (current, previous) if key is not None}
        while kid in taken:
            kid = next_kid(kid)
        # The token doubles as idempotency key: a concurrent retry cannot store a second key.
        self._client.put_secret_value(
            SecretId=secret_id,
            ClientRequestToken=token,
            SecretString=new_secret_string(kid, self._clock.now()),
            VersionStages=[PENDING_STAGE],
        )
        self._audit.record(AuditEvent.CREATED, CredentialKind.SIGNING_KEY, NO_USER, kid, reason="pending")

    def set_secret(self, secret_id: str, token: str) -> None:
        return None

    def test_secret(self, secret_id: str, token: str) -> None:
        stored = self._pending(secret_id, token)
        if stored is None:
            raise RotationError("no pending key to test")
        pending = stored.key
        current = self._current(secret_id)
        if current is not None and (
            pending.kid == current.kid or hmac.compare_digest(pending.secret, current.secret)
        ):
            raise RotationError("the pending key must differ from the current key and kid")
        previous = self._previous(secret_id)
        if previous is not None and pending.kid == previous.kid:
            # Containers that cached the previous key would verify the new one's tokens with it.
            raise RotationError("the pending key's kid must differ from the previous key's")
        now = int(self._clock.now())
        probe = mint_refresh_token(
            _PROBE_USER_ID, _PROBE_TOKEN_ID, _PROBE_TOKEN_ID, pending, now, _PROBE_TTL_SECONDS
        )
        claims = parse_refresh_token(probe.token, lambda kid: pending if kid == pending.kid else None, now)
        if claims.token_id != _PROBE_TOKEN_ID:
            raise RotationError("the pending key does not round-trip a token")

    def finish_secret(self, secret_id: str, token: str) -> bool:
        """Move AWSCURRENT to the pending version; False when it was there already."""
        pending = self._pending(secret_id, token)
        if pending is None:
            raise RotationError("no pending key to finish")
        # A key made without a time (before keys carried one) signs at once: nothing to wait for.
        if pending.created_at and self._clock.now() - pending.created_at > FINISH_WITHIN_SECONDS:
            # Each retry of this one would find the same old key: the next makes a fresh one.
            self._release(secret_id, token)
            self._audit.record(
                AuditEvent.REVOKED,
                CredentialKind.SIGNING_KEY,
                NO_USER,
                pending.key.kid,
                reason="pending key abandoned: too old to finish",
            )
            raise RotationError(
                f"the pending key was made more than {FINISH_WITHIN_SECONDS} s ago, too long for "
                "every container to learn it before it signs; rotate again to make a fresh one"
            )
        metadata = self._client.describe_secret(SecretId=secret_id)
        current_version = next(
            (
                version
                for version, stages in (metadata.get("VersionIdsToStages") or {}).items()
                if CURRENT_STAGE in stages
            ),
            None,
        )
        if current_version == token:
            return False
        replaced = self._current(secret_id)
        arguments = {"SecretId": secret_id, "VersionStage": CURRENT_STAGE, "MoveToVersionId": token}
        if current_version is not None:
            arguments["RemoveFromVersionId"] = current_version
        self._client.update_secret_version_stage(**arguments)
        reason = "made current" + (f", {replaced.kid} kept as the previous" if replaced is not None else "")
        self._audit.record(
            AuditEvent.CHANGED, CredentialKind.SIGNING_KEY, NO_USER, pending.key.kid, reason=reason
        )
        return True

    def _release(self, secret_id: str, token: str) -> None:
        """Take AWSPENDING off a version this rotation will not finish: Secrets Manager
        starts no other rotation while a version that is not current holds it, and refuses
        its own retries of this one once it is gone."""
        self._client.update_secret_version_stage(
            SecretId=secret_id, VersionStage=PENDING_STAGE, RemoveFromVersionId=token
        )

    def _current(self, secret_id: str) -> SigningKey | None:
        current = self._key(SecretId=secret_id, VersionStage=CURRENT_STAGE)
        return current.key if current is not None else None

    def _previous(self, secret_id: str) -> SigningKey | None:
        previous = self._key(SecretId=secret_id, VersionStage=PREVIOUS_STAGE)
        return previous.key if previous is not None else None

    def _pending(self, secret_id: str, token: str) -> StoredKey | None:
        return self._key(SecretId=secret_id, VersionId=token, VersionStage=PENDING_STAGE)

    def _key(self, **version: str) -> StoredKey | None:
        """The key of one version, None when that version has no value yet."""
        try:
            response = self._client.get_secret_value(**version)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise
        return parse_stored_key(response["SecretString"])
