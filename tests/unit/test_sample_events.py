"""events/: every sample event gives the answer it is named for, and the files are current."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from auth.clock import SystemClock
from auth.config import Config
from auth.key_rotation import KeyRotation, RotationError
from auth.keys import CURRENT_STAGE, KeyRing, SecretsManagerKeySource
from auth.wiring import build_api_services, build_authorizer_services
from devstack.sample_events import EVENTS_DIR, ROTATION_TOKEN, Sample, samples
from devstack.seed import load_seed
from handlers import account_pages, authorizer
from handlers import api as api_function
from handlers import rotation as rotation_handler
from handlers.api_context import services
from tests.support.audit import RecordingAudit
from tests.support.clock import FakeClock
from tests.support.events import FakeLambdaContext
from tests.unit.test_rotation import SECRET, begin_rotation

SAMPLES = samples()
DEMO = Config(demo=True, stage="local", bcrypt_cost=10)


@pytest.fixture
def seeded(aws: dict[str, Any]) -> Iterator[dict[str, Any]]:
    load_seed(aws["dynamodb"], aws["template"], EVENTS_DIR / "seed.json")
    # Real time: the sample tokens were issued in the past and expire in 2100.
    clock = SystemClock()
    authorizer.services.replace(
        build_authorizer_services(DEMO, clock, aws["dynamodb"], aws["secretsmanager"])
    )
    services.replace(build_api_services(DEMO, clock, aws["dynamodb"], aws["secretsmanager"]))
    yield aws
    authorizer.services.replace(None)
    services.replace(None)


ROTATION = [s for s in SAMPLES if s.function == "KeyRotationFunction"]
HTTP = [s for s in SAMPLES if s.function != "KeyRotationFunction"]
FINISH = next(s for s in ROTATION if s.event["Step"] == "finishSecret")


def _event(sample: Sample) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS_DIR / f"{sample.name}.json").read_text())
    return event


@pytest.fixture
def rotating(aws: dict[str, Any], clock: FakeClock) -> Iterator[None]:
    """A keyed secret (v1, as a deployed stack's first run stores it) whose rotation to the
    samples' version Secrets Manager has begun."""
    KeyRing(SecretsManagerKeySource(aws["secretsmanager"], SECRET), clock).signing_key()
    begin_rotation(SECRET, ROTATION_TOKEN)
    rotation_handler.rotation.replace(KeyRotation(aws["secretsmanager"], clock, RecordingAudit()))
    yield
    rotation_handler.rotation.replace()


@pytest.mark.parametrize("sample", ROTATION, ids=[s.name for s in ROTATION])
def test_rotation_sample_event_gets_its_answer(aws: dict[str, Any], rotating: None, sample: Sample) -> None:
    # Each step builds on the ones before it, as Secrets Manager sends them.
    for earlier in ROTATION[: ROTATION.index(sample)]:
        if earlier.expect_error is None:
            rotation_handler.handler(_event(earlier), FakeLambdaContext())
    if sample.expect_error is not None:
        with pytest.raises(RotationError, match=sample.expect_error):
            rotation_handler.handler(_event(sample), FakeLambdaContext())
    else:
        assert rotation_handler.handler(_event(sample), FakeLambdaContext()) is None
    stages = aws["secretsmanager"].describe_secret(SecretId=SECRET)["VersionIdsToStages"]
    finished = ROTATION.index(sample) >= ROTATION.index(FINISH)
    assert (CURRENT_STAGE in stages.get(ROTATION_TOKEN, [])) is finished


@pytest.mark.parametrize("sample", HTTP, ids=[s.name for s in HTTP])
def test_sample_event_gets_its_answer(seeded: dict[str, Any], sample: Sample) -> None:
    event = _event(sample)
    if sample.function == "PagesFunction":
        assert account_pages.handler(event, FakeLambdaContext())["statusCode"] == sample.expect_status
    elif sample.function == "AuthorizerFunction":
        if sample.expect_authorized is None:
            with pytest.raises(Exception, match=r"^Unauthorized$"):
                authorizer.handler(event, FakeLambdaContext())
        else:
            assert authorizer.handler(event, FakeLambdaContext())["isAuthorized"] is sample.expect_authorized
    else:
        assert api_function.handler(event, FakeLambdaContext())["statusCode"] == sample.expect_status


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.name for s in SAMPLES])
def test_event_files_are_current(sample: Sample) -> None:
    committed = json.loads((EVENTS_DIR / f"{sample.name}.json").read_text())
    assert committed == sample.event, "run: PYTHONPATH=src .venv/bin/python -m devstack.sample_events"
