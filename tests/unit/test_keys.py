"""SPEC §2: the signing keys in Secrets Manager."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.stub import Stubber

from auth.config import Config
from auth.errors import Internal, Unavailable
from auth.keys import (
    ACTIVATION_DELAY_SECONDS,
    CURRENT_STAGE,
    PREVIOUS_STAGE,
    UNKNOWN_KID_RELOAD_SECONDS,
    KeyRing,
    SecretsManagerKeySource,
    imported_secret_string,
    new_secret_string,
    next_kid,
    parse_secret,
)
from auth.wiring import build_key_ring
from tests.support.clock import FakeClock

SECRET = "SigningKeySecret"


class CountingSource(SecretsManagerKeySource):
    def __init__(self, client: Any) -> None:
        super().__init__(client, SECRET)
        self.fetches: list[str] = []

    def fetch(self, stage: str) -> str | None:
        self.fetches.append(stage)
        return super().fetch(stage)


def put_key(client: Any, kid: str, key: str) -> None:
    client.put_secret_value(SecretId=SECRET, SecretString=json.dumps({"kid": kid, "key": key}))


def test_first_run_generates_and_stores_a_key(aws: dict[str, Any], clock: FakeClock) -> None:
    ring = KeyRing(SecretsManagerKeySource(aws["secretsmanager"], SECRET), clock)
    key = ring.signing_key()
    stored = json.loads(
        aws["secretsmanager"].get_secret_value(SecretId=SECRET, VersionStage=CURRENT_STAGE)["SecretString"]
    )
    assert stored["kid"] == key.kid == "v1"
    assert stored["key"].encode() == key.secret and len(stored["key"]) >= 32


def test_a_second_container_reads_the_first_ones_key(aws: dict[str, Any], clock: FakeClock) -> None:
    first = KeyRing(SecretsManagerKeySource(aws["secretsmanager"], SECRET), clock).signing_key()
    second = KeyRing(SecretsManagerKeySource(aws["secretsmanager"], SECRET), clock).signing_key()
    assert first == second


def test_warm_container_makes_no_secrets_manager_call(aws: dict[str, Any], clock: FakeClock) -> None:
    put_key(aws["secretsmanager"], "v1", "a" * 40)
    source = CountingSource(aws["secretsmanager"])
    ring = KeyRing(source, clock, max_age=300)
    ring.signing_key()
    loads = len(source.fetches)
    for _ in range(50):
        ring.signing_key()
        ring.verification_key("v1")
        clock.advance(5)
    assert len(source.fetches) == loads


def test_cache_expires_after_max_age(aws: dict[str, Any], clock: FakeClock) -> None:
    put_key(aws["secretsmanager"], "v1", "a" * 40)
    ring = KeyRing(SecretsManagerKeySource(aws["secretsmanager"], SECRET), clock, max_age=300)
    assert ring.signing_key().kid == "v1"
    put_key(aws["secretsmanager"], "v2", "b" * 40)
    clock.advance(299)
    assert ring.signing_key().kid == "v1"
    clock.advance(1)
    assert ring.signing_key().kid == "v2"
    assert ring.verification_key("v1") is not None, "AWSPREVIOUS still verifies"


def test_unknown_kid_reloads_at_most_once_per_interval(aws: dict[str, Any], clock: FakeClock) -> None:
    put_key(aws["secretsmanager"], "v1", "a" * 40)
    source = CountingSource(aws["secretsmanager"])
    ring = KeyRing(source, clock, max_age=300)
    ring.signing_key()
    clock.advance(UNKNOWN_KID_RELOAD_SECONDS)
    put_key(aws["secretsmanager"], "v2", "b" * 40)
    assert ring.verification_key("v2") is not None, "a missed rotation is picked up"
    loads = len(source.fetches)
    for _ in range(100):
        assert ring.verification_key("forged") is None
    assert len(source.fetches) == loads


def test_malformed_secret_fails_closed(aws: dict[str, Any], clock: FakeClock) -> None:
    aws["secretsmanager"].put_secret_value(SecretId=SECRET, SecretString='{"kid":"v1","key":"short"}')
    ring = KeyRing(SecretsManagerKeySource(aws["secretsmanager"], SECRET), clock)
    with pytest.raises(Internal):
        ring.signing_key()


def test_secrets_manager_error_fails_closed(aws: dict[str, Any], clock: FakeClock) -> None:
    client = aws["secretsmanager"]
    with Stubber(client) as stub:
        stub.add_client_error("get_secret_value", "ThrottlingException", http_status_code=400)
        ring = KeyRing(SecretsManagerKeySource(client, SECRET), clock)
        with pytest.raises(Unavailable):
            ring.signing_key()


def test_demo_mode_uses_memos_demo_key(clock: FakeClock) -> None:
    ring = build_key_ring(Config(demo=True, stage="dev"), clock, secretsmanager=None)
    assert ring.signing_key().secret == b"usememos"
    assert ring.verification_key("v2") is None


def test_demo_mode_is_refused_on_prod(clock: FakeClock) -> None:
    with pytest.raises(Internal):
        build_key_ring(Config(demo=True, stage="prod"), clock, secretsmanager=None)


@pytest.mark.parametrize(("kid", "following"), [("v1", "v2"), ("v9", "v10"), ("weird", "v1")])
def test_next_kid(kid: str, following: str) -> None:
    assert next_kid(kid) == following


def test_previous_stage_is_named(aws: dict[str, Any], clock: FakeClock) -> None:
    put_key(aws["secretsmanager"], "v1", "a" * 40)
    source = CountingSource(aws["secretsmanager"])
    KeyRing(source, clock).signing_key()
    assert source.fetches == [CURRENT_STAGE, PREVIOUS_STAGE]


def test_a_memos_key_is_taken_as_it_is_when_imported_as_v1() -> None:
    # Memos' secret may be any string an admin set; the importer flags it (tools/memos_import).
    assert parse_secret(imported_secret_string("short")).secret == b"short"


@pytest.mark.parametrize(
    "value",
    [
        {"kid": "v1", "key": "short"},
        {"kid": "v2", "key": "short", "importedFromMemos": True},
        {"kid": "v1", "key": "", "importedFromMemos": True},
        {"kid": "v1", "key": "short", "importedFromMemos": "yes"},
    ],
)
def test_a_short_key_is_refused_unless_it_is_memos_v1(value: dict[str, Any]) -> None:
    with pytest.raises(Internal):
        parse_secret(json.dumps(value))


@pytest.mark.parametrize("created_at", ["1700000000", -1, 1.5, True, None])
def test_a_creation_time_that_is_not_epoch_seconds_fails_closed(
    aws: dict[str, Any], clock: FakeClock, created_at: object
) -> None:
    aws["secretsmanager"].put_secret_value(
        SecretId=SECRET, SecretString=json.dumps({"kid": "v1", "key": "a" * 40, "createdAt": created_at})
    )
    with pytest.raises(Internal):
        KeyRing(SecretsManagerKeySource(aws["secretsmanager"], SECRET), clock).signing_key()


def test_a_new_key_signs_at_once_when_no_key_came_before_it(aws: dict[str, Any], clock: FakeClock) -> None:
    aws["secretsmanager"].put_secret_value(SecretId=SECRET, SecretString=new_secret_string("v1", clock.now()))
    assert KeyRing(SecretsManagerKeySource(aws["secretsmanager"], SECRET), clock).signing_key().kid == "v1"


def test_a_new_key_signs_only_after_the_activation_delay(aws: dict[str, Any], clock: FakeClock) -> None:
    put_key(aws["secretsmanager"], "v1", "a" * 40)
    aws["secretsmanager"].put_secret_value(SecretId=SECRET, SecretString=new_secret_string("v2", clock.now()))
    ring = KeyRing(SecretsManagerKeySource(aws["secretsmanager"], SECRET), clock)
    assert ring.signing_key().kid == "v1"
    assert ring.verification_key("v2") is not None, "it verifies from the start"
    clock.advance(ACTIVATION_DELAY_SECONDS - 1)
    assert ring.signing_key().kid == "v1"
    clock.advance(1)
    assert ring.signing_key().kid == "v2"
