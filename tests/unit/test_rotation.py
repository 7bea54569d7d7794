"""SPEC §2: the rotation function bumps the kid and never logs anyone out."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.secretsmanager.models import secretsmanager_backends

from auth.errors import Unauthenticated
from auth.key_rotation import PENDING_STAGE, KeyRotation, RotationError, Step
from auth.keys import CURRENT_STAGE, PREVIOUS_STAGE, KeyRing, SecretsManagerKeySource
from auth.models import Role, State, User
from auth.tokens import IssuedToken, mint_access_token, parse_access_token, read_key_id
from handlers import rotation as rotation_handler
from tests.conftest import REGION
from tests.support.clock import FakeClock
from tests.support.events import FakeLambdaContext

SECRET = "SigningKeySecret"
STEPS = (Step.CREATE, Step.SET, Step.TEST, Step.FINISH)
ALICE = User(1, "alice", Role.USER, State.NORMAL, "", "", "", 0, 0)


def begin_rotation(secret_id: str = SECRET) -> str:
    """What Secrets Manager itself does before calling createSecret: label a new, empty
    version AWSPENDING. (moto can only run a rotation through a Lambda in Docker.)"""
    secret = secretsmanager_backends[DEFAULT_ACCOUNT_ID][REGION].secrets[secret_id]
    token = str(uuid.uuid4())
    secret.rotation_requested = secret.rotation_enabled = True
    secret.versions[token] = {"createdate": 0, "version_id": token, "version_stages": [PENDING_STAGE]}
    return token


def ring(aws: dict[str, Any], clock: FakeClock) -> KeyRing:
    """A container started now: nothing cached."""
    return KeyRing(SecretsManagerKeySource(aws["secretsmanager"], SECRET), clock)


def mint(aws: dict[str, Any], clock: FakeClock) -> IssuedToken:
    return mint_access_token(ALICE, ring(aws, clock).signing_key(), clock.now(), 900)


def kid_of(token: IssuedToken) -> str:
    return read_key_id(token.token)


def stored(aws: dict[str, Any], **version: str) -> dict[str, str]:
    return json.loads(aws["secretsmanager"].get_secret_value(SecretId=SECRET, **version)["SecretString"])


@pytest.fixture
def keyed(aws: dict[str, Any], clock: FakeClock) -> KeyRotation:
    ring(aws, clock).signing_key()  # first run stores v1, as a deployed stack starts
    return KeyRotation(aws["secretsmanager"], clock)


def test_tokens_from_before_during_and_after_a_rotation_all_verify(
    aws: dict[str, Any], clock: FakeClock, keyed: KeyRotation
) -> None:
    before = mint(aws, clock)
    token = begin_rotation()
    keyed.run(Step.CREATE, SECRET, token)
    during = mint(aws, clock)
    for step in (Step.SET, Step.TEST, Step.FINISH):
        keyed.run(step, SECRET, token)
    after = mint(aws, clock)

    assert (kid_of(before), kid_of(during), kid_of(after)) == ("v1", "v1", "v2")
    verifier = ring(aws, clock)
    for issued in (before, during, after):
        assert parse_access_token(issued.token, verifier.verification_key, clock.now()).user_id == ALICE.id


def test_rotation_moves_current_to_the_new_version_and_keeps_the_old_as_previous(
    aws: dict[str, Any], keyed: KeyRotation
) -> None:
    old = stored(aws, VersionStage=CURRENT_STAGE)
    token = begin_rotation()
    for step in STEPS:
        keyed.run(step, SECRET, token)
    current = stored(aws, VersionStage=CURRENT_STAGE)
    assert current["kid"] == "v2" and current["key"] != old["key"]
    assert stored(aws, VersionStage=PREVIOUS_STAGE) == old
    assert stored(aws, VersionId=token, VersionStage=CURRENT_STAGE) == current


def test_every_step_retried_is_a_no_op(aws: dict[str, Any], keyed: KeyRotation) -> None:
    token = begin_rotation()
    keyed.run(Step.CREATE, SECRET, token)
    pending = stored(aws, VersionId=token, VersionStage=PENDING_STAGE)
    keyed.run(Step.CREATE, SECRET, token)
    assert stored(aws, VersionId=token, VersionStage=PENDING_STAGE) == pending, "no second key"
    for step in (Step.SET, Step.SET, Step.TEST, Step.TEST, Step.FINISH):
        keyed.run(step, SECRET, token)
    versions = aws["secretsmanager"].describe_secret(SecretId=SECRET)["VersionIdsToStages"]
    for step in STEPS:  # Secrets Manager may retry any step after the rotation completed
        keyed.run(step, SECRET, token)
    assert aws["secretsmanager"].describe_secret(SecretId=SECRET)["VersionIdsToStages"] == versions
    assert stored(aws, VersionStage=CURRENT_STAGE) == pending


def test_a_second_rotation_retires_the_first_key(
    aws: dict[str, Any], clock: FakeClock, keyed: KeyRotation
) -> None:
    # Why the rotation interval must exceed the longest token lifetime (docs/operations.md).
    v1 = mint(aws, clock)
    for _ in range(2):
        token = begin_rotation()
        for step in STEPS:
            keyed.run(step, SECRET, token)
    assert stored(aws, VersionStage=CURRENT_STAGE)["kid"] == "v3"
    with pytest.raises(Unauthenticated):
        parse_access_token(v1.token, ring(aws, clock).verification_key, clock.now())


def test_test_step_refuses_a_pending_key_that_repeats_the_current_kid(
    aws: dict[str, Any], keyed: KeyRotation
) -> None:
    token = begin_rotation()
    aws["secretsmanager"].put_secret_value(
        SecretId=SECRET,
        ClientRequestToken=token,
        SecretString=json.dumps({"kid": "v1", "key": "b" * 40}),
        VersionStages=[PENDING_STAGE],
    )
    with pytest.raises(RotationError):
        keyed.run(Step.TEST, SECRET, token)


def test_test_step_refuses_a_missing_pending_key(keyed: KeyRotation) -> None:
    with pytest.raises(RotationError):
        keyed.run(Step.TEST, SECRET, begin_rotation())


@pytest.mark.parametrize("step", ["createSecret", "finishSecret"])
def test_a_version_that_is_not_pending_is_refused(aws: dict[str, Any], keyed: KeyRotation, step: str) -> None:
    begin_rotation()
    old = aws["secretsmanager"].describe_secret(SecretId=SECRET)["VersionIdsToStages"]
    with pytest.raises(RotationError):
        keyed.run(step, SECRET, str(uuid.uuid4()))
    assert aws["secretsmanager"].describe_secret(SecretId=SECRET)["VersionIdsToStages"] == old


def test_unknown_step_is_refused(keyed: KeyRotation) -> None:
    with pytest.raises(RotationError):
        keyed.run("dropSecret", SECRET, begin_rotation())


def test_secret_without_rotation_enabled_is_refused(keyed: KeyRotation) -> None:
    token = begin_rotation()
    secretsmanager_backends[DEFAULT_ACCOUNT_ID][REGION].secrets[SECRET].rotation_enabled = False
    with pytest.raises(RotationError):
        keyed.run(Step.CREATE, SECRET, token)


def test_handler_runs_the_steps_secrets_manager_sends(aws: dict[str, Any], keyed: KeyRotation) -> None:
    rotation_handler.rotation.replace(keyed)
    try:
        token = begin_rotation()
        for step in STEPS:
            event = {"Step": step.value, "SecretId": SECRET, "ClientRequestToken": token}
            rotation_handler.handler(event, FakeLambdaContext())
    finally:
        rotation_handler.rotation.replace()
    assert stored(aws, VersionStage=CURRENT_STAGE)["kid"] == "v2"
