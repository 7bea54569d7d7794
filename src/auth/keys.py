"""The signing-key ring (SPEC §2), read from Secrets Manager.

AWSCURRENT signs; AWSCURRENT and AWSPREVIOUS verify, chosen by the token's `kid`, so a
rotation never logs anyone out. Keys are cached in the container for at most
`key_cache_seconds`, so a warm invocation makes no Secrets Manager call.

A container learns of a rotation when its cache expires, or at once when a token names a kid
it does not know, but such re-reads are throttled (UNKNOWN_KID_RELOAD_SECONDS). A new key
therefore signs only ACTIVATION_DELAY_SECONDS after the rotation made it: by then every
container that read the keys before the rotation may re-read them, and every container that
read them since knows the new key. Until then AWSPREVIOUS, the key it replaced, signs on.

Powertools' Parameters utility caches by secret name only, so it cannot hold the two
version stages apart nor remember that there is no previous version yet; this module keeps
its own small cache instead.
"""

from __future__ import annotations

import json
import secrets
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from auth.clock import Clock
from auth.errors import Internal, Unavailable
from auth.tokens import SigningKey

CURRENT_STAGE = "AWSCURRENT"
PREVIOUS_STAGE = "AWSPREVIOUS"
# The first key's id; a rotation moves on to v2, v3 ...
FIRST_KID = "v1"
# Memos' well-known demo secret: anyone can mint tokens with it, hence never on prod.
DEMO_KEY = SigningKey(kid=FIRST_KID, secret=b"usememos")
# HS256 needs at least 256 bits of key (RFC 7518 §3.2).
MIN_KEY_CHARS = 32
# A token naming an unknown kid may mean this container missed a rotation. Re-reading is
# allowed this often, so forged kids cannot become a flood of Secrets Manager calls.
UNKNOWN_KID_RELOAD_SECONDS = 30
# How long a rotated-in key waits before it signs. key_rotation finishes a rotation only while
# its key is younger than FINISH_WITHIN_SECONDS: a container that read the keys just before
# the finish may then re-read them by the time the first token of the new key reaches it,
# with as long again as a margin for the functions' clocks.
ACTIVATION_DELAY_SECONDS = 120
FINISH_WITHIN_SECONDS = ACTIVATION_DELAY_SECONDS - 2 * UNKNOWN_KID_RELOAD_SECONDS
# Marks a secret value whose key was brought over from Memos (parse_secret).
IMPORTED_FLAG = "importedFromMemos"
# When the rotation function made the key (StoredKey).
CREATED_AT_FIELD = "createdAt"
# Fixed idempotency token for the first-run key: when several containers start at once,
# exactly one value is stored and the others read it back.
FIRST_RUN_REQUEST_TOKEN = "memos-auth-first-run-key-00000001"


class StoredKey:
    """A key as its secret version holds it: the key, and when it was made (epoch seconds;
    0 for a key stored without the time: Memos' own, or one made before keys carried it)."""

    # A plain class: @dataclass would cost the authorizer's cold start for one small record.
    __slots__ = ("created_at", "key")

    def __init__(self, key: SigningKey, created_at: int = 0) -> None:
        self.key = key
        self.created_at = created_at

    def signs_at(self, now: float) -> bool:
        return now >= self.created_at + ACTIVATION_DELAY_SECONDS


def parse_secret(secret_string: str) -> SigningKey:
    return parse_stored_key(secret_string).key


def parse_stored_key(secret_string: str) -> StoredKey:
    try:
        value = json.loads(secret_string)
    except ValueError as exc:
        raise Internal("signing key secret is not JSON") from exc
    if not isinstance(value, dict):
        raise Internal("signing key secret is not an object")
    kid, key = value.get("kid"), value.get("key")
    if not isinstance(kid, str) or not kid or not isinstance(key, str) or not key:
        raise Internal("signing key secret needs a kid and a key of at least 32 characters")
    # A Memos secret is what Memos made it (a UUID, or whatever an admin set): the key that
    # signed its tokens is taken as it is, flagged by the importer, and only as the first kid;
    # every key memos-auth makes is long (SECURITY.md).
    memos_key = value.get(IMPORTED_FLAG) is True and kid == FIRST_KID
    if len(key) < MIN_KEY_CHARS and not memos_key:
        raise Internal("signing key secret needs a kid and a key of at least 32 characters")
    created_at = value.get(CREATED_AT_FIELD, 0)
    if not isinstance(created_at, int) or isinstance(created_at, bool) or created_at < 0:
        raise Internal("signing key secret's createdAt must be epoch seconds")
    return StoredKey(SigningKey(kid=kid, secret=key.encode("utf-8")), created_at)


def imported_secret_string(memos_secret_key: str) -> str:
    """The secret value holding Memos' own key (tools/memos_import), as kid v1."""
    return json.dumps({"kid": FIRST_KID, "key": memos_secret_key, IMPORTED_FLAG: True})


def new_secret_string(kid: str, now: float) -> str:
    return json.dumps({"kid": kid, "key": secrets.token_urlsafe(48), CREATED_AT_FIELD: int(now)})


def next_kid(kid: str) -> str:
    """v1 -> v2; anything unexpected restarts the sequence after it."""
    if kid.startswith("v") and kid[1:].isdigit():
        return f"v{int(kid[1:]) + 1}"
    return FIRST_KID


class KeySource(Protocol):
    def fetch(self, stage: str) -> str | None:
        """The secret string at a version stage, or None when that stage has no version."""
        ...

    def store_first(self, secret_string: str) -> None: ...


class SecretsManagerKeySource:
    def __init__(self, client: Any, secret_id: str) -> None:
        self._client = client
        self._secret_id = secret_id

    def fetch(self, stage: str) -> str | None:
        try:
            response = self._client.get_secret_value(SecretId=self._secret_id, VersionStage=stage)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise Unavailable("signing key unavailable") from exc
        except BotoCoreError as exc:
            raise Unavailable("signing key unavailable") from exc
        value = response.get("SecretString")
        return value if isinstance(value, str) else None

    def store_first(self, secret_string: str) -> None:
        try:
            self._client.put_secret_value(
                SecretId=self._secret_id,
                SecretString=secret_string,
                ClientRequestToken=FIRST_RUN_REQUEST_TOKEN,
                VersionStages=[CURRENT_STAGE],
            )
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code")
            # Another container stored the first key already: it wins, we read it back.
            if code not in ("ResourceExistsException", "InvalidRequestException"):
                raise Unavailable("signing key unavailable") from exc
        except BotoCoreError as exc:
            raise Unavailable("signing key unavailable") from exc


class KeyRing:
    def __init__(self, source: KeySource, clock: Clock, max_age: int = 300) -> None:
        self._source = source
        self._clock = clock
        self._max_age = max_age
        self._current: StoredKey | None = None
        # What signs while the current key is too new to (ACTIVATION_DELAY_SECONDS).
        self._previous: SigningKey | None = None
        self._by_kid: dict[str, SigningKey] = {}
        self._loaded_at = float("-inf")

    def signing_key(self) -> SigningKey:
        self._ensure_fresh()
        assert self._current is not None
        if self._previous is None or self._current.signs_at(self._clock.now()):
            return self._current.key
        return self._previous

    def verification_key(self, kid: str) -> SigningKey | None:
        self._ensure_fresh()
        key = self._by_kid.get(kid)
        if key is None and self._clock.now() - self._loaded_at >= UNKNOWN_KID_RELOAD_SECONDS:
            self._load()
            key = self._by_kid.get(kid)
        return key

    def _ensure_fresh(self) -> None:
        if self._current is None or self._clock.now() - self._loaded_at >= self._max_age:
            self._load()

    def _load(self) -> None:
        current_string = self._source.fetch(CURRENT_STAGE)
        if current_string is None:
            # First run: generate and store a key, as Memos does on first start.
            self._source.store_first(new_secret_string(FIRST_KID, self._clock.now()))
            current_string = self._source.fetch(CURRENT_STAGE)
            if current_string is None:
                raise Unavailable("signing key unavailable")
        current = parse_stored_key(current_string)
        by_kid = {current.key.kid: current.key}
        previous: SigningKey | None = None
        previous_string = self._source.fetch(PREVIOUS_STAGE)
        if previous_string is not None:
            previous = parse_secret(previous_string)
            by_kid.setdefault(previous.kid, previous)
        self._current, self._previous = current, previous
        self._by_kid, self._loaded_at = by_kid, self._clock.now()


class DemoKeyRing:
    """Demo mode (MEMOS_DEMO=true): Memos' fixed key, no Secrets Manager at all."""

    def signing_key(self) -> SigningKey:
        return DEMO_KEY

    def verification_key(self, kid: str) -> SigningKey | None:
        return DEMO_KEY if kid == DEMO_KEY.kid else None
