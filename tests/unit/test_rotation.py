"""SPEC §2: the rotation function bumps the kid and never logs anyone out."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.secretsmanager.models import secretsmanager_backends

from auth.audit import AuditEvent, CredentialKind
from auth.errors import Unauthenticated
from auth.key_rotation import PENDING_STAGE, KeyRotation, RotationError, Step
from auth.keys import (
    ACTIVATION_DELAY_SECONDS,
    CURRENT_STAGE,
    FINISH_WITHIN_SECONDS,
    PREVIOUS_STAGE,
    UNKNOWN_KID_RELOAD_SECONDS,
    KeyRing,
    SecretsManagerKeySource,
)
from auth.models import Role, State, User
from auth.tokens import IssuedToken, mint_access_token, parse_access_token, read_key_id
from handlers import rotation as rotation_handler
from handlers.observability import Metric
from tests.conftest import REGION
from tests.support.audit import RecordingAudit
from tests.support.clock import FakeClock
from tests.support.events import FakeLambdaContext
from tests.support.metrics import counted

SECRET = "SigningKeySecret"
STEPS = (Step.CREATE, Step.SET, Step.TEST, Step.FINISH)
ALICE = User(1, "alice", Role.USER, State.NORMAL, "", "", "", 0, 0)


def begin_rotation(secret_id: str = SECRET, token: str = "") -> str:
    """What Secrets Manager itself does before calling createSecret: label a new, empty
    version (`token`, a new one when not given) AWSPENDING. (moto can only run a rotation
    through a Lambda in Docker.)"""
    secret = secretsmanager_backends[DEFAULT_ACCOUNT_ID][REGION].secrets[secret_id]
    token = token or str(uuid.uuid4())
    secret.rotation_requested = secret.rotation_enabled = True
    secret.versions[token] = {"createdate": 0, "version_id": token, "version_stages": [PENDING_STAGE]}
    return token


def rotate(rotation: KeyRotation) -> str:
    """A whole rotation, begun and run step by step as Secrets Manager does; its token."""
    token = begin_rotation()
    for step in STEPS:
        rotation.run(step, SECRET, token)
    return token


def pending_by_hand(aws: dict[str, Any], kid: str) -> str:
    """A rotation whose pending key was put by hand, as {"kid","key"} alone; its token."""
    token = begin_rotation()
    aws["secretsmanager"].put_secret_value(
        SecretId=SECRET,
        ClientRequestToken=token,
        SecretString=json.dumps({"kid": kid, "key": "b" * 40}),
        VersionStages=[PENDING_STAGE],
    )
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
def keyed(aws: dict[str, Any], clock: FakeClock, audit: RecordingAudit) -> KeyRotation:
    ring(aws, clock).signing_key()  # first run stores v1, as a deployed stack starts
    return KeyRotation(aws["secretsmanager"], clock, audit)


def test_tokens_from_before_during_and_after_a_rotation_all_verify(
    aws: dict[str, Any], clock: FakeClock, keyed: KeyRotation
) -> None:
    before = mint(aws, clock)
    token = begin_rotation()
    keyed.run(Step.CREATE, SECRET, token)
    during = mint(aws, clock)
    for step in (Step.SET, Step.TEST, Step.FINISH):
        keyed.run(step, SECRET, token)
    finished = mint(aws, clock)
    clock.advance(ACTIVATION_DELAY_SECONDS)
    after = mint(aws, clock)

    assert [kid_of(issued) for issued in (before, during, finished, after)] == ["v1", "v1", "v1", "v2"]
    verifier = ring(aws, clock)
    for issued in (before, during, finished, after):
        assert parse_access_token(issued.token, verifier.verification_key, clock.now()).user_id == ALICE.id


@pytest.mark.parametrize("read_before", [0, 1, 5, 29, 30, 31, 60, 299])
@pytest.mark.parametrize("forged_kid_first", [False, True])
def test_a_container_that_read_the_keys_just_before_a_rotation_verifies_the_new_keys_first_token(
    aws: dict[str, Any], clock: FakeClock, keyed: KeyRotation, read_before: int, forged_kid_first: bool
) -> None:
    # A warm container re-reads for an unknown kid at most every UNKNOWN_KID_RELOAD_SECONDS;
    # the new key must not sign before that container may re-read, whenever it last read
    # (at its start, or for a forged kid that made it re-read just before the rotation).
    warm = ring(aws, clock)
    warm.signing_key()
    if forged_kid_first:
        clock.advance(UNKNOWN_KID_RELOAD_SECONDS)
        assert warm.verification_key("forged") is None  # which re-reads the keys now
    clock.advance(read_before)
    token = begin_rotation()
    for step in STEPS:
        keyed.run(step, SECRET, token)
        clock.advance(1)
    signer = ring(aws, clock)  # a container started after the rotation
    while kid_of(first := mint_access_token(ALICE, signer.signing_key(), clock.now(), 900)) == "v1":
        assert parse_access_token(first.token, warm.verification_key, clock.now()).user_id == ALICE.id
        clock.advance(1)
    assert parse_access_token(first.token, warm.verification_key, clock.now()).user_id == ALICE.id


def test_finishing_waits_for_no_one_and_refuses_a_pending_key_too_old_to_be_learnt_in_time(
    aws: dict[str, Any], clock: FakeClock, keyed: KeyRotation
) -> None:
    token = begin_rotation()
    for step in (Step.CREATE, Step.SET, Step.TEST):
        keyed.run(step, SECRET, token)
    versions = aws["secretsmanager"].describe_secret(SecretId=SECRET)["VersionIdsToStages"]
    clock.advance(FINISH_WITHIN_SECONDS + 1)
    with pytest.raises(RotationError, match="rotate again"):
        keyed.run(Step.FINISH, SECRET, token)
    # Only the stale key's AWSPENDING label is gone: Secrets Manager would start no other
    # rotation while it stayed, and its retries of this one are refused at once.
    left = aws["secretsmanager"].describe_secret(SecretId=SECRET)["VersionIdsToStages"]
    assert left.get(token, []) == []
    assert {version: left[version] for version in versions if version != token} == {
        version: stages for version, stages in versions.items() if version != token
    }
    for step in STEPS:
        with pytest.raises(RotationError):
            keyed.run(step, SECRET, token)
    assert stored(aws, VersionStage=CURRENT_STAGE)["kid"] == "v1"

    rotate(keyed)
    assert stored(aws, VersionStage=CURRENT_STAGE)["kid"] == "v2"


def test_a_pending_key_without_a_creation_time_finishes_and_signs_at_once(
    aws: dict[str, Any], clock: FakeClock, keyed: KeyRotation
) -> None:
    # A key put by hand, as {"kid","key"} alone: nothing says how old it is.
    token = pending_by_hand(aws, "v2")
    clock.advance(3600)
    for step in (Step.TEST, Step.FINISH):
        keyed.run(step, SECRET, token)
    assert kid_of(mint(aws, clock)) == "v2"


def test_rotation_moves_current_to_the_new_version_and_keeps_the_old_as_previous(
    aws: dict[str, Any], keyed: KeyRotation
) -> None:
    old = stored(aws, VersionStage=CURRENT_STAGE)
    token = rotate(keyed)
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


def test_a_rotation_is_audited_once_each_for_the_key_it_made_and_the_key_it_made_current(
    keyed: KeyRotation, audit: RecordingAudit, clock: FakeClock
) -> None:
    for _ in range(2):
        token = begin_rotation()
        for step in (*STEPS, *STEPS):  # every step retried: audited once all the same
            keyed.run(step, SECRET, token)
        clock.advance(ACTIVATION_DELAY_SECONDS)
    key = CredentialKind.SIGNING_KEY
    assert audit.events == [
        (AuditEvent.CREATED, key, 0, "v2", "pending"),
        (AuditEvent.CHANGED, key, 0, "v2", "made current, v1 kept as the previous"),
        (AuditEvent.CREATED, key, 0, "v3", "pending"),
        (AuditEvent.CHANGED, key, 0, "v3", "made current, v2 kept as the previous"),
    ]


def test_a_refused_step_audits_nothing_but_a_key_it_abandons(
    aws: dict[str, Any], clock: FakeClock, keyed: KeyRotation, audit: RecordingAudit
) -> None:
    token = begin_rotation()
    for step in (Step.CREATE, Step.SET, Step.TEST):
        keyed.run(step, SECRET, token)
    clock.advance(FINISH_WITHIN_SECONDS + 1)
    for _ in range(2):  # refused, then retried by Secrets Manager
        with pytest.raises(RotationError):
            keyed.run(Step.FINISH, SECRET, token)
    key = CredentialKind.SIGNING_KEY
    assert audit.events == [
        (AuditEvent.CREATED, key, 0, "v2", "pending"),
        (AuditEvent.REVOKED, key, 0, "v2", "pending key abandoned: too old to finish"),
    ]


def test_a_rotation_before_the_last_ones_key_signs_is_refused_and_blocks_no_later_one(
    aws: dict[str, Any], clock: FakeClock, keyed: KeyRotation
) -> None:
    # An operator's "rotate immediately" just after a scheduled rotation: v2 does not sign
    # yet (v1 does), and a v3 would retire v1 and leave v2, seconds old, to sign.
    rotate(keyed)
    warm = ring(aws, clock)
    warm.signing_key()
    clock.advance(10)
    second = begin_rotation()
    with pytest.raises(RotationError, match="rotate again later"):
        keyed.run(Step.CREATE, SECRET, second)
    stages = aws["secretsmanager"].describe_secret(SecretId=SECRET)["VersionIdsToStages"]
    assert stages.get(second, []) == [] and stored(aws, VersionStage=CURRENT_STAGE)["kid"] == "v2"
    token = mint(aws, clock)
    assert kid_of(token) == "v1"
    assert parse_access_token(token.token, warm.verification_key, clock.now()).user_id == ALICE.id
    clock.advance(ACTIVATION_DELAY_SECONDS)
    rotate(keyed)
    assert stored(aws, VersionStage=CURRENT_STAGE)["kid"] == "v3"


def test_a_second_rotation_retires_the_first_key(
    aws: dict[str, Any], clock: FakeClock, keyed: KeyRotation
) -> None:
    # Why the rotation interval must exceed the longest token lifetime (docs/operations.md).
    v1 = mint(aws, clock)
    for _ in range(2):
        rotate(keyed)
        clock.advance(ACTIVATION_DELAY_SECONDS)
    assert stored(aws, VersionStage=CURRENT_STAGE)["kid"] == "v3"
    with pytest.raises(Unauthenticated):
        parse_access_token(v1.token, ring(aws, clock).verification_key, clock.now())


def test_test_step_refuses_a_pending_key_that_repeats_the_current_kid(
    aws: dict[str, Any], keyed: KeyRotation
) -> None:
    token = pending_by_hand(aws, "v1")
    with pytest.raises(RotationError):
        keyed.run(Step.TEST, SECRET, token)


def current_by_hand(aws: dict[str, Any], kid: str) -> None:
    """An operator puts a key of their own as AWSCURRENT; the one it replaces is AWSPREVIOUS."""
    aws["secretsmanager"].put_secret_value(
        SecretId=SECRET, SecretString=json.dumps({"kid": kid, "key": "h" * 40}), VersionStages=[CURRENT_STAGE]
    )


# Each would be followed by v1, the kid of the key it replaced (AWSPREVIOUS).
@pytest.mark.parametrize("hand_set_kid", ["mine", "v0"])
def test_a_rotation_after_a_kid_set_by_hand_never_reuses_the_previous_keys_kid(
    aws: dict[str, Any], clock: FakeClock, keyed: KeyRotation, hand_set_kid: str
) -> None:
    current_by_hand(aws, hand_set_kid)
    assert stored(aws, VersionStage=PREVIOUS_STAGE)["kid"] == "v1"
    warm = ring(aws, clock)
    warm.signing_key()  # a container that holds the hand-set key and the old v1
    rotate(keyed)
    assert stored(aws, VersionStage=CURRENT_STAGE)["kid"] not in {hand_set_kid, "v1"}
    clock.advance(ACTIVATION_DELAY_SECONDS)
    first = mint(aws, clock)
    # With the old v1's kid, the warm container would check the new key's token against the
    # old key, and never re-read the secret for a kid it knows.
    assert parse_access_token(first.token, warm.verification_key, clock.now()).user_id == ALICE.id


def test_test_step_refuses_a_pending_key_that_repeats_the_previous_kid(
    aws: dict[str, Any], keyed: KeyRotation
) -> None:
    current_by_hand(aws, "mine")
    token = pending_by_hand(aws, "v1")
    with pytest.raises(RotationError, match="previous"):
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


def test_a_rotation_is_counted_once_though_finish_secret_is_retried(
    aws: dict[str, Any], keyed: KeyRotation, capsys: pytest.CaptureFixture[str]
) -> None:
    # Secrets Manager retries a step whose answer it did not get, finishSecret included,
    # after AWSCURRENT moved: KeyRotated must count rotations, not finishSecret calls.
    rotation_handler.rotation.replace(keyed)
    try:
        token = begin_rotation()
        capsys.readouterr()
        for step in (*STEPS, Step.FINISH, Step.FINISH):
            event = {"Step": step.value, "SecretId": SECRET, "ClientRequestToken": token}
            rotation_handler.handler(event, FakeLambdaContext())
    finally:
        rotation_handler.rotation.replace()
    assert counted(capsys, Metric.KEY_ROTATED) == 1
